"""PatchGAN networks (pix2pix): the discriminator D and the normalcy classifier N.

Both are 4x4 convs 64 s2 -> 128 s2 BN -> 256 s2 BN -> 512 s1 BN -> 1 s1 with LeakyReLU 0.2 and no
final sigmoid: the least-squares losses read the raw patch logits. N also hands out its last
hidden feature map, from which the attention A(·) of L_AA and L_RAA is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PatchOutput:
    """Patch logits (B, 1, h, w) and the last hidden map (B, C, h+1, w+1) they come from."""

    scores: torch.Tensor
    hidden: torch.Tensor


class PatchDiscriminator(nn.Module):
    """A 70x70 PatchGAN at the default widths; ``forward`` returns the patch logits only."""

    def __init__(self, widths: Sequence[int] = (64, 128, 256, 512), in_channels: int = 3):
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"the PatchGAN has four hidden convs, got widths {tuple(widths)}")
        layers: list[nn.Module] = []
        previous = in_channels
        for index, width in enumerate(widths):
            stride = 1 if index == len(widths) - 1 else 2
            layers.append(nn.Conv2d(previous, width, 4, stride, 1, bias=index == 0))
            if index:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            previous = width
        self.hidden = nn.Sequential(*layers)
        self.score = nn.Conv2d(previous, 1, 4, 1, 1)
        self._initialise()

    def _initialise(self) -> None:
        """pix2pix start: conv weights N(0, 0.02), batch-norm scales N(1, 0.02), zero biases."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def features(self, frames: torch.Tensor) -> PatchOutput:
        hidden = self.hidden(frames)
        return PatchOutput(self.score(hidden), hidden)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.features(frames).scores
