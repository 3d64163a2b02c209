"""The MPN network: a U-Net-like encoder/decoder with the meta prototype unit at full resolution.

Layer for layer as the official convAE (ktr-hubrt/MPN, model/base_model.py): no normalisation
layers, 3×3 convolutions, transposed-convolution upsampling, and a decoder whose last stage
concatenates the first skip so the feature map the prototypes see has ``2 × widths[0]`` channels
(128 at the official widths).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


def conv_block(in_channels: int, out_channels: int, final_relu: bool = True) -> nn.Sequential:
    """Two 3×3 convolutions; the deepest encoder block leaves out the last ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
    ]
    if final_relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def upsample(in_channels: int, out_channels: int) -> nn.Sequential:
    """3×3 stride-2 transposed convolution that exactly doubles height and width."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
    )


class Encoder(nn.Module):
    def __init__(self, in_channels: int, widths: tuple[int, int, int, int]) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.block1 = conv_block(in_channels, w1)
        self.block2 = conv_block(w1, w2)
        self.block3 = conv_block(w2, w3)
        self.block4 = conv_block(w3, w4, final_relu=False)
        self.pool = nn.MaxPool2d(2)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        skip1 = self.block1(frames)
        skip2 = self.block2(self.pool(skip1))
        skip3 = self.block3(self.pool(skip2))
        bottleneck = self.block4(self.pool(skip3))
        return bottleneck, skip1, skip2, skip3


class Decoder(nn.Module):
    def __init__(self, widths: tuple[int, int, int, int]) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.bottleneck = conv_block(w4, w4)
        self.up3 = upsample(w4, w3)
        self.block3 = conv_block(2 * w3, w3)
        self.up2 = upsample(w3, w2)
        self.block2 = conv_block(2 * w2, w2)
        self.up1 = upsample(w2, w1)

    def forward(
        self,
        bottleneck: torch.Tensor,
        skip1: torch.Tensor,
        skip2: torch.Tensor,
        skip3: torch.Tensor,
    ) -> torch.Tensor:
        x = self.up3(self.bottleneck(bottleneck))
        x = self.up2(self.block3(torch.cat((skip3, x), dim=1)))
        x = self.up1(self.block2(torch.cat((skip2, x), dim=1)))
        return torch.cat((skip1, x), dim=1)


@dataclass(frozen=True)
class PrototypeReadout:
    """Everything the unit computes for one batch; pixels are flattened to ``n = H·W``.

    ``attention`` (b, n, m) holds the per-pixel weights that build each of the m prototypes;
    ``prototypes`` (b, m, d) are those weighted sums, before L2 normalisation; ``nearest``
    (b, n, d) is, for each query, the normalised prototype it matches best.
    """

    updated: torch.Tensor
    queries: torch.Tensor
    attention: torch.Tensor
    prototypes: torch.Tensor
    nearest: torch.Tensor


class MetaPrototypeUnit(nn.Module):
    """Builds ``num_prototypes`` prototypes per input by attention over the pixels' features,
    rebuilds every query from them and adds the rebuilt query back (the "DPU" of the paper).

    The prototypes are recomputed for every input, so the only weights are the attention head.
    """

    def __init__(self, feature_dim: int, num_prototypes: int) -> None:
        super().__init__()
        self.attention = nn.Linear(feature_dim, num_prototypes, bias=False)

    def forward(self, features: torch.Tensor) -> PrototypeReadout:
        # Each (b, n, m) tensor is built as (b, m, n), so that the softmaxes and the argmax over
        # the m ≈ 10 prototypes reduce across long rows of pixels: along a last dimension of m
        # the CPU kernels take 4-13× as long at 64×64. Queries stay (b, n, d), which is
        # contiguous for channels-last features.
        batch, dims, height, width = features.shape
        queries = features.flatten(2).transpose(1, 2)
        # one weight matrix per batch entry, so that FLOP counters (fvcore) count the batch
        weights = self.attention.weight.expand(batch, -1, -1)
        attention = F.softmax(torch.bmm(weights, queries.transpose(1, 2)), dim=-1)
        prototypes = attention @ queries
        unit_prototypes = F.normalize(prototypes, dim=-1)
        affinity = F.softmax(unit_prototypes @ queries.transpose(1, 2), dim=1)
        rebuilt = F.normalize(affinity.transpose(1, 2) @ unit_prototypes, dim=-1)
        best = affinity.max(dim=1).indices
        nearest = unit_prototypes[torch.arange(batch, device=best.device)[:, None], best]
        updated = (rebuilt + queries).transpose(1, 2).reshape(batch, dims, height, width)
        return PrototypeReadout(updated, queries, attention.transpose(1, 2), prototypes, nearest)


def output_head(in_channels: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(hidden, hidden, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(hidden, 3, 3, padding=1),
        nn.Tanh(),
    )


def _strip(weights: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}


@dataclass(frozen=True)
class MPNOutput:
    prediction: torch.Tensor
    readout: PrototypeReadout


class MetaPrototypeNetwork(nn.Module):
    """Predicts frame t+1 (pixels in [-1, 1]) from T frames stacked on channels.

    ``forward`` returns only the prediction, so this module is what the efficiency metrics run
    per test frame; ``run`` also returns what the losses and the feature-distance score need.
    """

    def __init__(
        self, context_frames: int, widths: tuple[int, int, int, int], num_prototypes: int
    ) -> None:
        super().__init__()
        self.encoder = Encoder(3 * context_frames, widths)
        self.decoder = Decoder(widths)
        self.prototype = MetaPrototypeUnit(2 * widths[0], num_prototypes)
        self.head = output_head(2 * widths[0], widths[0])

    def run(
        self, frames: torch.Tensor, fast_weights: Mapping[str, torch.Tensor] | None = None
    ) -> MPNOutput:
        """``fast_weights`` (full parameter names) stand in for the prototype unit's and the
        head's own weights: meta-learning differentiates through them."""
        features = F.normalize(self.decoder(*self.encoder(frames)), dim=1)
        if fast_weights is None:
            readout = self.prototype(features)
            return MPNOutput(self.head(readout.updated), readout)
        readout = functional_call(self.prototype, _strip(fast_weights, "prototype."), (features,))
        prediction = functional_call(self.head, _strip(fast_weights, "head."), (readout.updated,))
        return MPNOutput(prediction, readout)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.run(frames).prediction

    def adaptable_parameter_names(self) -> list[str]:
        """What k-shot adaptation and meta-training update: the prototype unit and the output
        head, as the official meta-learning phase (set_learnable_params(['memory', 'ohead']))."""
        return [
            name for name, _ in self.named_parameters() if name.startswith(("prototype.", "head."))
        ]
