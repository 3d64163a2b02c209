"""``framediff``: a non-learned baseline that predicts each frame as the mean of the previous T.

It is the simplest future-frame predictor, so it goes through exactly the path a learned one
does (PSNR of prediction vs. truth, the FFP protocol) and runs a whole matrix in seconds. It is
blind to anything that does not move, which is what a useful benchmark must expose.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from vadbench.api import FitContext, ModelSpec, Options, ScoreKind, Video, VideoSource
from vadbench.checkpoints import load_checkpoint, save_checkpoint
from vadbench.clips import (
    UNIT,
    predicted_frames,
    scoring_chunks,
    stacked_windows,
)
from vadbench.hookspecs import hookimpl

WEIGHTS_FILE = "framediff.pt"


class FrameDiffOptions(Options):
    context_frames: int = Field(1, ge=1, le=16, description="past frames averaged as prediction")
    image_size: int = Field(64, ge=8, description="frames are resized to this square size")


class MeanOfPastFrames(nn.Module):
    """Prediction = mean of the T input frames (stacked on channels, 3 each)."""

    def __init__(self, context_frames: int) -> None:
        super().__init__()
        self.context_frames = context_frames

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = frames.shape
        return frames.view(batch, self.context_frames, 3, height, width).mean(dim=1)


def psnr(prediction: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR for pixels in [0, 1]; identical frames cap at 100 dB instead of inf."""
    mse = ((prediction - truth) ** 2).flatten(1).mean(dim=1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)


class FrameDiff:
    score_kind: ScoreKind = "normality"

    def __init__(self, options: FrameDiffOptions, device: str) -> None:
        self.options = options
        self.device = device
        self.context_frames = options.context_frames
        self.module = MeanOfPastFrames(options.context_frames).to(device)

    def fit(self, source: VideoSource, aux: VideoSource | None, ctx: FitContext) -> None:
        """Nothing to learn: the prediction rule is fixed, so a training budget (``ctx.budget``)
        has nothing to limit and is ignored; framediff spends no training compute at all."""

    def score(self, video: Video) -> np.ndarray:
        """PSNR per predicted frame, reading the video in chunks so memory stays flat."""
        t, size = self.context_frames, self.options.image_size
        scores = []
        for frames in scoring_chunks(video, t, size, self.device, UNIT):
            inputs, targets = stacked_windows(frames, t)
            scores.append(psnr(self.module(inputs), targets))
        return torch.cat(scores).cpu().numpy() if scores else np.zeros(0)

    @torch.no_grad()
    def predictions(self, video: Video, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The frames ``indices`` and the mean of the frames before each, (k, H, W, 3) in [0, 1]."""
        return predicted_frames(
            video, indices, self.context_frames, self.options.image_size, self.device,
            self.module, UNIT,
        )  # fmt: skip

    def save(self, folder: Path) -> None:
        save_checkpoint(folder, self.options, {}, WEIGHTS_FILE)

    def load(self, folder: Path) -> None:
        """Checks the checkpoint was written with these options: there are no weights."""
        load_checkpoint(folder, self.options, WEIGHTS_FILE, self.device)

    def inference_module(self) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        size = self.options.image_size
        example = torch.zeros(1, 3 * self.context_frames, size, size, device=self.device)
        return self.module, (example,)


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
