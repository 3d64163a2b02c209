"""``framediff``: a non-learned baseline that predicts each frame as the mean of the previous T.

It is the simplest future-frame predictor, so it goes through exactly the path a learned one
does (PSNR of prediction vs. truth, the FFP protocol) and runs a whole matrix in seconds. It is
blind to anything that does not move, which is what a useful benchmark must expose.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from vadbench.sdk import UNIT, FitContext, FramePredictor, ModelSpec, Options, VideoSource, hookimpl

WEIGHTS_FILE = "framediff.pt"


class FrameDiffOptions(Options):
    context_frames: int = Field(1, ge=1, le=16, description="past frames averaged as prediction")
    image_size: int = Field(
        64, ge=8, le=4096, description="frames are resized to this square size (8 to 4096)"
    )


class MeanOfPastFrames(nn.Module):
    """Prediction = mean of the T input frames (stacked on channels, 3 each)."""

    def __init__(self, context_frames: int) -> None:
        super().__init__()
        self.context_frames = context_frames

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = frames.shape
        return frames.view(batch, self.context_frames, 3, height, width).mean(dim=1)


class FrameDiff(FramePredictor[FrameDiffOptions]):
    """Scoring, checkpoints and the efficiency metrics' module come from the toolkit."""

    value_range = UNIT
    checkpoint_file = WEIGHTS_FILE

    def __init__(self, options: FrameDiffOptions, device: str) -> None:
        self.options = options
        self.device = device
        self.context_frames = options.context_frames
        self.module = MeanOfPastFrames(options.context_frames).to(device)

    def predictor(self) -> nn.Module:
        return self.module

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """None: the checkpoint only records the options it was written with."""
        return {}

    def fit(self, source: VideoSource, aux: VideoSource | None, ctx: FitContext) -> None:
        """Nothing to learn: the prediction rule is fixed, so a training budget (``ctx.budget``)
        has nothing to limit and is ignored; framediff spends no training compute at all."""


def create(options: FrameDiffOptions, device: str) -> FrameDiff:
    return FrameDiff(options, device)


@hookimpl
def vadbench_register_models(register: Any) -> None:
    register(
        ModelSpec(
            name="framediff",
            description="non-learned baseline: PSNR of each frame vs. the mean of the previous T",
            options=FrameDiffOptions,
            create=create,
            presets={
                "cpu": {"context_frames": 1, "image_size": 64},
                "paper": {"context_frames": 4, "image_size": 256},
            },
        )
    )
