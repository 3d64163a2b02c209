"""Memory layout of a model's tensors."""

from __future__ import annotations

import torch
from torch import nn


def channels_last(*modules: nn.Module) -> None:
    """Store the 4-D weights of ``modules`` channels-last (NHWC). oneDNN's convolutions on CPUs
    and cuDNN's on tensor cores run faster on that layout, and activations follow the weights
    from the first convolution on, so inputs need no conversion. Measured on the cpu presets
    (benchmarks/results/training_cpu.md), one thread: training steps 1.2-1.3x as fast for FFP,
    MPN and zxVAD; rGAN's ConvLSTM, whose layers have 3 or 4 channels, ran slower, so rGAN
    keeps the default layout. Results change in the last bits (other summation orders), so a
    model that adopts it bumps its version."""
    for module in modules:
        module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in the stubs
