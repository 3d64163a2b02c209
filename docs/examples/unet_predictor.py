"""``unet``: a two-level U-Net frame predictor, the model toolkit's worked example.

A whole model plugin in a page: the network from the toolkit's U-Net blocks, a training loop
(intensity loss, Adam, one ``optimiser_step`` per batch, the matrix's budget through
``TrainingClock``), and ``FramePredictor`` for the rest: scoring by the PSNR of each predicted
frame, predictions for the HTML report's difference maps, checkpoints and the efficiency
metrics' module. Load it with ``plugins: [unet_predictor.py]`` in a matrix, or
``--plugin docs/examples/unet_predictor.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from vadbench.sdk import (
    ClipSampler,
    Down,
    FitContext,
    FramePredictor,
    ModelSpec,
    Options,
    TrainingClock,
    Up,
    VideoSource,
    adam,
    double_conv,
    hookimpl,
    optimiser_step,
    split_clips,
)


class UNetOptions(Options):
    context_frames: int = Field(2, ge=1, le=16, description="input frames; T+1 is predicted")
    image_size: int = Field(32, ge=8, multiple_of=2, description="square frame size")
    width: int = Field(8, ge=2, description="channels of the first level; the second doubles")
    batch_size: int = Field(4, ge=1)
    train_steps: int = Field(100, ge=1)
    learning_rate: float = Field(1e-3, gt=0)


class UNet(nn.Module):
    """T frames stacked on channels (n, 3T, H, W) in [-1, 1] → frame T+1, (n, 3, H, W)."""

    def __init__(self, context_frames: int, width: int) -> None:
        super().__init__()
        self.inc = double_conv(3 * context_frames, width)
        self.down = Down(width, 2 * width)
        self.up = Up(2 * width, width)
        self.out = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        skip = self.inc(frames)
        return torch.tanh(self.out(self.up(self.down(skip), skip)))


class UNetPredictor(FramePredictor[UNetOptions]):
    checkpoint_file = "unet.pt"

    def __init__(self, options: UNetOptions, device: str) -> None:
        self.options = options
        self.device = device
        self.context_frames = options.context_frames
        self.network = UNet(options.context_frames, options.width).to(device)

    def predictor(self) -> nn.Module:
        return self.network

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"network": self.network}

    def fit(self, source: VideoSource, aux: VideoSource | None, ctx: FitContext) -> None:
        torch.manual_seed(ctx.seed)
        options = self.options
        clock = TrainingClock(ctx.budget, options.train_steps, name="unet train")
        sampler = ClipSampler(
            source, self.context_frames + 1, options.image_size, ctx.device, ctx.seed
        )
        optimiser = adam(self.network.parameters(), lr=options.learning_rate)
        advance = ctx.progress.task("unet train", clock.total_steps)
        self.network.train()
        for step in clock:
            inputs, target = split_clips(sampler.batch(options.batch_size))
            loss = (self.network(inputs) - target).abs().mean()
            optimiser_step(optimiser, loss, step, "unet train")
            advance(1)


@hookimpl
def vadbench_register_models(register: Any) -> None:
    register(
        ModelSpec(
            name="unet",
            description="a two-level U-Net frame predictor (the model toolkit's example)",
            options=UNetOptions,
            create=UNetPredictor,
            presets={"cpu": {}},
        )
    )
