"""rGAN's generator (a per-frame U-Net feeding a full-resolution ConvLSTM) and discriminator.

Shapes follow the official rGAN.py / unet_parts.py (yiweilu3/Few-shot-Scene-adaptive-Anomaly-
Detection). One deliberate difference: the ConvLSTM state is carried from one input frame to the
next, so every input frame reaches the prediction; the public code re-initialises the state
inside its loop over frames, so only the last frame mattered there.
"""

from __future__ import annotations

import torch
from torch import nn

from vadbench.sdk import Down, Up, double_conv


class FrameUNet(nn.Module):
    """Five levels: widths[0..3] then a bottleneck as wide as widths[3], 1×1 output to RGB."""

    def __init__(self, widths: tuple[int, int, int, int]) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        # The convolutions keep their bias, as in the official unet_parts.py.
        self.inc = double_conv(3, w1, bias=True)
        self.down1 = Down(w1, w2, bias=True)
        self.down2 = Down(w2, w3, bias=True)
        self.down3 = Down(w3, w4, bias=True)
        self.down4 = Down(w4, w4, bias=True)
        self.up1 = Up(2 * w4, w3, "bilinear", bias=True)
        self.up2 = Up(2 * w3, w2, "bilinear", bias=True)
        self.up3 = Up(2 * w2, w1, "bilinear", bias=True)
        self.up4 = Up(2 * w1, w1, "bilinear", bias=True)
        self.outc = nn.Conv2d(w1, 3, 1)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(frame)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x = self.up1(self.down4(x4), x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        return self.outc(self.up4(x, x1))


LSTMState = list[tuple[torch.Tensor, torch.Tensor]]


class ConvLSTMCell(nn.Module):
    """One 3×3 convolution computes the input, forget, output and candidate gates."""

    def __init__(self, in_channels: int, hidden_channels: int) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, 3, padding=1)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, cell = state
        gates = self.gates(torch.cat((x, hidden), dim=1))
        input_gate, forget_gate, output_gate, candidate = gates.chunk(4, dim=1)
        cell = torch.sigmoid(forget_gate) * cell + torch.sigmoid(input_gate) * torch.tanh(candidate)
        hidden = torch.sigmoid(output_gate) * torch.tanh(cell)
        return hidden, cell


class ConvLSTM(nn.Module):
    """Stacked cells at full resolution; ``step`` advances every layer by one frame."""

    def __init__(self, in_channels: int, hidden_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        inputs = (in_channels, *hidden_channels[:-1])
        self.cells = nn.ModuleList(
            ConvLSTMCell(i, h) for i, h in zip(inputs, hidden_channels, strict=True)
        )

    def zero_state(self, like: torch.Tensor) -> LSTMState:
        batch, _, height, width = like.shape
        return [(like.new_zeros(batch, h, height, width),) * 2 for h in self.hidden_channels]

    def step(self, x: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        new_state = []
        for cell, layer_state in zip(self.cells, state, strict=True):
            hidden, memory = cell(x, layer_state)
            new_state.append((hidden, memory))
            x = hidden
        return x, new_state


class RGANGenerator(nn.Module):
    """Predicts the next frame (pixels in [0, 1]) from T frames given as (B, T, 3, H, W).

    The U-Net runs on each frame independently; the ConvLSTM then reads the T outputs in order
    from a zero state, and the last layer's hidden state after the last frame is the prediction.
    """

    def __init__(
        self, unet_widths: tuple[int, int, int, int], lstm_hidden: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.unet = FrameUNet(unet_widths)
        self.lstm = ConvLSTM(3, lstm_hidden)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """The U-Net on every frame of (..., 3, H, W); frames do not interact here."""
        return self.unet(frames.flatten(0, -4)).unflatten(0, frames.shape[:-3])

    def recur(self, encoded: torch.Tensor) -> torch.Tensor:
        """The ConvLSTM over (B, T, 3, H, W) encoded frames, from a zero state."""
        state = self.lstm.zero_state(encoded[:, 0])
        for t in range(encoded.shape[1]):
            prediction, state = self.lstm.step(encoded[:, t], state)
        return prediction

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.recur(self.encode(frames))


class RGANDiscriminator(nn.Module):
    """Four 4×4 stride-2 convolutions (no bias) with ReLU, then one linear unit: the logit that
    a frame is real. The official sigmoid is folded into the loss (same function, but stable)."""

    def __init__(self, widths: tuple[int, int, int, int], image_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 3
        for width in widths:
            layers += [nn.Conv2d(previous, width, 4, 2, 1, bias=False), nn.ReLU()]
            previous = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(widths[-1] * (image_size // 16) ** 2, 1)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(frame).flatten(1))
