"""The untrained CNNs R of the pseudo-anomaly module O (paper Sec. 3.1 and Fig. 5(d)).

R is random by design: no weights are ever loaded. Each network is cut into four stages whose
outputs have strides 4, 8, 16 and 32, so the feature map that feeds SCDA can be chosen by stage
(stage 4 is the paper's "last feature map before the classifier"; earlier stages keep a usable
resolution when frames are small).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

ObjectNetwork = Literal["resnet50", "resnet152", "densenet161", "alexnet", "mnasnet"]
STAGE_COUNT = 4


def conv_bn_relu(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    return [
        nn.Conv2d(
            in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class StagedNetwork(nn.Module):
    """A CNN as four stages; ``forward(x, stage)`` returns the output of stage ``stage`` (1-4)."""

    def __init__(self, stages: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(stages) != STAGE_COUNT:
            raise ValueError(f"expected {STAGE_COUNT} stages, got {len(stages)}")
        self.stages = nn.ModuleList(stages)
        self._initialise()

    def _initialise(self) -> None:
        """He-normal convolutions and unit batch norms: the usual random start of these nets."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def train(self, mode: bool = True) -> StagedNetwork:
        """Always eval: R's batch-norm statistics must never move, even under a training parent."""
        return super().train(False)

    def forward(self, images: torch.Tensor, stage: int = STAGE_COUNT) -> torch.Tensor:
        if not 1 <= stage <= STAGE_COUNT:
            raise ValueError(f"stage must be 1..{STAGE_COUNT}, got {stage}")
        features = images
        for block in self.stages[:stage]:
            features = block(features)
        return features


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, residual."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.branch = nn.Sequential(
            *conv_bn_relu(in_channels, width, 1),
            *conv_bn_relu(width, width, 3, stride),
            nn.Conv2d(width, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.branch(x) + self.shortcut(x))


def resnet(blocks_per_stage: Sequence[int]) -> StagedNetwork:
    """ResNet-50 is (3, 4, 6, 3) bottlenecks, ResNet-152 (3, 8, 36, 3)."""
    stem = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    stages: list[nn.Module] = []
    in_channels = 64
    for index, (count, width) in enumerate(zip(blocks_per_stage, (64, 128, 256, 512), strict=True)):
        layers: list[nn.Module] = list(stem) if index == 0 else []
        for block in range(count):
            stride = 2 if block == 0 and index > 0 else 1
            layers.append(Bottleneck(in_channels, width, stride))
            in_channels = width * Bottleneck.expansion
        stages.append(nn.Sequential(*layers))
    return StagedNetwork(stages)


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 bottleneck then BN-ReLU-3x3 producing ``growth`` new channels, concatenated."""

    def __init__(self, in_channels: int, growth: int, bottleneck_factor: int) -> None:
        super().__init__()
        inner = bottleneck_factor * growth
        self.new_features = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, inner, 1, bias=False),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
            nn.Conv2d(inner, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.new_features(x)], dim=1)


def densenet161() -> StagedNetwork:
    """DenseNet-161: 96 stem channels, growth 48, blocks of (6, 12, 36, 24) layers."""
    growth, bottleneck_factor = 48, 4
    channels = 96
    stages: list[nn.Module] = []
    for index, count in enumerate((6, 12, 36, 24)):
        layers: list[nn.Module] = []
        if index == 0:
            layers += [
                nn.Conv2d(3, channels, 7, 2, 3, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            ]
        else:
            layers += [
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels, channels // 2, 1, bias=False),
                nn.AvgPool2d(2, 2),
            ]
            channels //= 2
        for _ in range(count):
            layers.append(DenseLayer(channels, growth, bottleneck_factor))
            channels += growth
        if index == STAGE_COUNT - 1:
            layers += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        stages.append(nn.Sequential(*layers))
    return StagedNetwork(stages)


def alexnet() -> StagedNetwork:
    """AlexNet's convolutional part (64, 192, 384, 256, 256 channels), up to its last pool."""
    return StagedNetwork(
        [
            nn.Sequential(nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True)),
            nn.Sequential(
                nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True)
            ),
            nn.Sequential(
                nn.MaxPool2d(3, 2),
                nn.Conv2d(192, 384, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(384, 256, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(256, 256, 3, padding=1),
                nn.ReLU(inplace=True),
            ),
            nn.MaxPool2d(3, 2),
        ]
    )


class InvertedResidual(nn.Module):
    """MnasNet block: 1x1 expand, depthwise k x k (carrying the stride), 1x1 linear project."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int, expansion: int
    ) -> None:
        super().__init__()
        inner = in_channels * expansion
        self.residual = stride == 1 and in_channels == out_channels
        self.body = nn.Sequential(
            *conv_bn_relu(in_channels, inner, 1),
            *conv_bn_relu(inner, inner, kernel, stride, groups=inner),
            nn.Conv2d(inner, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


def mnasnet() -> StagedNetwork:
    """MnasNet-A1 at depth multiplier 1.0 (the 1280-channel head is part of the last stage)."""
    # (out channels, kernel, stride, expansion, repeats) for the six stacks.
    stacks = [(24, 3, 2, 3, 3), (40, 5, 2, 3, 3), (80, 5, 2, 6, 3)]
    stacks += [(96, 3, 1, 6, 2), (192, 5, 2, 6, 4), (320, 3, 1, 6, 1)]
    stem = [
        *conv_bn_relu(3, 32, 3, 2),
        *conv_bn_relu(32, 32, 3, groups=32),
        nn.Conv2d(32, 16, 1, bias=False),
        nn.BatchNorm2d(16),
    ]
    built: list[nn.Module] = []
    in_channels = 16
    for out_channels, kernel, stride, expansion, repeats in stacks:
        blocks = []
        for repeat in range(repeats):
            step = stride if repeat == 0 else 1
            blocks.append(InvertedResidual(in_channels, out_channels, kernel, step, expansion))
            in_channels = out_channels
        built.append(nn.Sequential(*blocks))
    head = conv_bn_relu(320, 1280, 1)
    return StagedNetwork(
        [
            nn.Sequential(*stem, built[0]),
            built[1],
            nn.Sequential(built[2], built[3]),
            nn.Sequential(built[4], built[5], *head),
        ]
    )


def build_object_network(name: ObjectNetwork) -> StagedNetwork:
    """A freshly randomised, frozen R in eval mode: it never trains and never loads weights."""
    builders = {
        "resnet50": lambda: resnet((3, 4, 6, 3)),
        "resnet152": lambda: resnet((3, 8, 36, 3)),
        "densenet161": densenet161,
        "alexnet": alexnet,
        "mnasnet": mnasnet,
    }
    network = builders[name]()
    network.requires_grad_(False)
    return network.eval()
