"""The generator G: the FFP U-Net with a MemAE memory at its bottleneck (paper Sec. 3).

The U-Net follows the BatchNorm port of FFP (Liu et al. 2018): T frames stacked on channels, four
levels, two conv(no bias)-BN-ReLU per level, 2x2 max-pool down, 2x2 stride-2 transposed conv up,
skip concatenation, a 3x3 output conv to 3 channels and tanh. At the paper's sizes it has
7,707,011 parameters; the 2000 x 512 memory brings G to 8,731,011 (the paper's 8.73 M / 34.92 MB).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.sdk import double_conv


@dataclass(frozen=True)
class MemoryReadout:
    """What one memory read returns: the rebuilt features and the addressing weights ŵ."""

    features: torch.Tensor
    weights: torch.Tensor


class Memory(nn.Module):
    """MemAE memory: K items of Q dims addressed by every spatial feature vector of the input.

    w = softmax(cosine(z, m_i)); hard shrinkage ŵ = ReLU(w−λ)·w / (|w−λ| + ε) keeps only the
    items that matter (λ = 0.0005); ŵ is L1-renormalised and ẑ = ŵM goes on to the decoder.
    """

    def __init__(self, items: int, dims: int, shrink_threshold: float, epsilon: float = 1e-12):
        super().__init__()
        self.items = nn.Parameter(torch.empty(items, dims))
        bound = 1.0 / dims**0.5
        nn.init.uniform_(self.items, -bound, bound)
        self.shrink_threshold = shrink_threshold
        self.epsilon = epsilon

    def address(self, queries: torch.Tensor) -> torch.Tensor:
        """Sparse addressing weights ŵ (rows sum to 1) for queries of shape (n, Q)."""
        similarity = F.normalize(queries, dim=1) @ F.normalize(self.items, dim=1).t()
        weights = torch.softmax(similarity, dim=1)
        shifted = weights - self.shrink_threshold
        shrunk = F.relu(shifted) * weights / (shifted.abs() + self.epsilon)
        return shrunk / shrunk.sum(dim=1, keepdim=True).clamp_min(self.epsilon)

    def forward(self, features: torch.Tensor) -> MemoryReadout:
        batch, channels, height, width = features.shape
        queries = features.permute(0, 2, 3, 1).reshape(-1, channels)
        weights = self.address(queries)
        rebuilt = (weights @ self.items).view(batch, height, width, channels).permute(0, 3, 1, 2)
        return MemoryReadout(rebuilt.contiguous(), weights)


@dataclass(frozen=True)
class Prediction:
    """G's output frame in [-1, 1] and the memory weights (None when memory is off)."""

    frame: torch.Tensor
    memory_weights: torch.Tensor | None


class Generator(nn.Module):
    """Predicts frame T+1 from frames 1..T; ``forward`` returns the frame only (for inference)."""

    def __init__(
        self,
        context_frames: int,
        widths: Sequence[int],
        memory_items: int | None,
        shrink_threshold: float,
    ) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"the U-Net has four levels, got widths {tuple(widths)}")
        w1, w2, w3, w4 = widths
        self.encoder = nn.ModuleList(
            [
                double_conv(3 * context_frames, w1),
                double_conv(w1, w2),
                double_conv(w2, w3),
                double_conv(w3, w4),
            ]
        )
        self.memory = Memory(memory_items, w4, shrink_threshold) if memory_items else None
        self.upsample = nn.ModuleList(
            [
                nn.ConvTranspose2d(w4, w3, 2, stride=2),
                nn.ConvTranspose2d(w3, w2, 2, stride=2),
                nn.ConvTranspose2d(w2, w1, 2, stride=2),
            ]
        )
        self.decoder = nn.ModuleList(
            [double_conv(2 * w3, w3), double_conv(2 * w2, w2), double_conv(2 * w1, w1)]
        )
        self.output = nn.Conv2d(w1, 3, 3, padding=1)

    def predict(self, frames: torch.Tensor) -> Prediction:
        """Frames (B, 3T, H, W) in [-1, 1] -> predicted frame (B, 3, H, W) and memory weights."""
        skips = []
        features = frames
        for level, block in enumerate(self.encoder):
            if level:
                features = F.max_pool2d(features, 2)
            features = block(features)
            skips.append(features)
        weights = None
        if self.memory is not None:
            readout = self.memory(features)
            features, weights = readout.features, readout.weights
        for up, block, skip in zip(self.upsample, self.decoder, reversed(skips[:-1]), strict=True):
            features = block(torch.cat([skip, up(features)], dim=1))
        return Prediction(torch.tanh(self.output(features)), weights)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.predict(frames).frame
