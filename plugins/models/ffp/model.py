"""FFP's generator (a 4-level U-Net) and its pix2pix-style patch discriminator.

The generator is the PyTorch port of FFP (feiyuhuahuo/Anomaly_Prediction, models/unet.py): the
official TensorFlow U-Net with BatchNorm after every bias-free 3×3 convolution. The
discriminator is that port's PixelDiscriminator without normalisation: 4×4 convolutions with
strides 2, 2, 2, 1, leaky ReLU 0.2, a one-channel patch map and a sigmoid.
"""

from __future__ import annotations

import torch
from torch import nn

from vadbench.sdk import Down, Up, double_conv


class FFPGenerator(nn.Module):
    """Predicts frame t+1 (pixels in [-1, 1]) from T frames stacked on channels (B, 3T, H, W)."""

    def __init__(self, context_frames: int, widths: tuple[int, int, int, int]) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        if (w2, w3, w4) != (2 * w1, 4 * w1, 8 * w1):
            raise ValueError(f"FFP's U-Net doubles its width per level; got {widths}")
        self.inc = double_conv(3 * context_frames, w1)
        self.down1 = Down(w1, w2)
        self.down2 = Down(w2, w3)
        self.down3 = Down(w3, w4)
        self.up1 = Up(w4, w3)
        self.up2 = Up(w3, w2)
        self.up3 = Up(w2, w1)
        self.outc = nn.Conv2d(w1, 3, 3, padding=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(frames)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = self.up1(self.down3(x3), x3)
        x = self.up2(x, x2)
        x = self.up3(x, x1)
        return torch.tanh(self.outc(x))


class PatchDiscriminator(nn.Module):
    """Per-patch probability that a frame is real, (B, 1, h, w)."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        strides = [2] * (len(widths) - 1) + [1]
        layers: list[nn.Module] = []
        previous = 3
        for width, stride in zip(widths, strides, strict=True):
            layers += [nn.Conv2d(previous, width, 4, stride, 2), nn.LeakyReLU(0.2)]
            previous = width
        layers.append(nn.Conv2d(previous, 1, 4, 1, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(frame))


def init_normal(module: nn.Module) -> None:
    """The port's ``weights_init_normal``: convolutions N(0, 0.02), BatchNorm scale N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
