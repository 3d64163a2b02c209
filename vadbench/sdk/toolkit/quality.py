"""PSNR, the frame-prediction score of FFP and every model built on it."""

from __future__ import annotations

import torch

from vadbench.sdk.clips import UNIT

# The smallest mean squared error: identical frames score 100 dB instead of infinity.
MSE_FLOOR = 1e-10


def psnr(
    prediction: torch.Tensor, target: torch.Tensor, value_range: tuple[float, float] = UNIT
) -> torch.Tensor:
    """Per-sample PSNR of (n, ...) predictions against their targets, with pixels in
    ``value_range`` mapped to [0, 1], so the peak is 1 whatever range a model works in."""
    low, high = value_range
    difference = prediction - target
    if high - low != 1.0:
        difference = difference / (high - low)
    mse = difference.pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(1.0 / mse.clamp_min(MSE_FLOOR))
