"""U-Net blocks: FFP's generator and the models built on it are made of these."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


def double_conv(in_channels: int, out_channels: int, bias: bool = False) -> nn.Sequential:
    """(3x3 convolution, BatchNorm, ReLU) twice. FFP's port leaves the convolutions without bias
    (BatchNorm follows); rGAN's keeps it."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Down(nn.Module):
    """2x2 max-pool, then a double convolution."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__()
        self.conv = double_conv(in_channels, out_channels, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.max_pool2d(x, 2))


class Up(nn.Module):
    """x2 upsampling, concatenation after the skip connection, a double convolution.

    ``in_channels`` is the width of the concatenation. ``transpose`` (FFP) upsamples with a 2x2
    stride-2 transposed convolution that halves x's ``in_channels``; ``bilinear`` (rGAN)
    interpolates x to the skip's size (align_corners=True) and x brings half the channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mode: Literal["transpose", "bilinear"] = "transpose",
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.mode = mode
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
        self.conv = double_conv(in_channels, out_channels, bias)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.mode == "transpose":
            x = self.up(x)
        else:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return self.conv(torch.cat((skip, x), dim=1))
