"""``ffp``: Future Frame Prediction (Liu et al., CVPR 2018), the classic prediction baseline.

A U-Net predicts frame T+1 from T=4 frames and is trained against a patch discriminator with a
least-squares GAN loss plus intensity and gradient losses. It is the backbone zxVAD builds on,
without the memory module and normalcy classifier, so it isolates what those add. The
optical-flow loss of the paper is left out (it needs a pretrained FlowNet). Frames score by PSNR
(high = normal).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from vadbench.sdk import (
    ClipSampler,
    FitContext,
    FramePredictor,
    Options,
    TrainingClock,
    VideoSource,
    channels_last,
)

from .losses import LossWeights
from .model import FFPGenerator, PatchDiscriminator, init_normal
from .training import step_gmacs, train

CHECKPOINT = "ffp.pt"


class FFPOptions(Options):
    """Defaults are the PyTorch port's (feiyuhuahuo/Anomaly_Prediction) at 256×256."""

    context_frames: int = Field(4, ge=1, le=16, description="input frames; frame T+1 is predicted")
    image_size: int = Field(256, ge=16, multiple_of=8, description="square training/test size")
    widths: tuple[int, int, int, int] = Field(
        (64, 128, 256, 512), description="U-Net channels per level, doubling"
    )
    discriminator_widths: tuple[int, ...] = Field(
        (128, 256, 512, 512), min_length=2, description="strides 2, …, 2, 1"
    )
    batch_size: int = Field(4, ge=1)
    train_steps: int = Field(80_000, ge=1, description="the port's default iterations")
    generator_lr: float = Field(2e-4, gt=0, description="the port's 1e-4 for UCSD")
    discriminator_lr: float = Field(2e-5, gt=0, description="the port's 1e-5 for UCSD")
    intensity_weight: float = Field(1.0, ge=0)
    gradient_weight: float = Field(1.0, ge=0)
    adversarial_weight: float = Field(0.05, ge=0)

    def loss_weights(self) -> LossWeights:
        return LossWeights(self.intensity_weight, self.gradient_weight, self.adversarial_weight)


class FFP(FramePredictor[FFPOptions]):
    """The Method: generator (used per test frame) and discriminator (training only); scoring,
    checkpoints and the efficiency metrics' module come from the toolkit's FramePredictor."""

    checkpoint_file = CHECKPOINT

    def __init__(self, options: FFPOptions, device: str) -> None:
        self.options = options
        self.device = device
        self.context_frames = options.context_frames
        self.generator = FFPGenerator(options.context_frames, options.widths).to(device)
        self.discriminator = PatchDiscriminator(options.discriminator_widths).to(device)
        self.generator.apply(init_normal)
        self.discriminator.apply(init_normal)
        channels_last(self.generator, self.discriminator)

    def predictor(self) -> torch.nn.Module:
        """The generator; input: T frames stacked on channels, (n, 3T, H, W) in [-1, 1]."""
        return self.generator

    def checkpoint_modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def fit(self, source: VideoSource, aux: VideoSource | None, ctx: FitContext) -> None:
        """Trains on ``source`` only; FFP has no use for auxiliary data, so ``aux`` is ignored.

        ``ctx.budget``, when set, replaces ``train_steps`` (``vadbench.sdk.training``)."""
        torch.manual_seed(ctx.seed)
        self.device = ctx.device
        self.generator.to(ctx.device)
        self.discriminator.to(ctx.device)
        options = self.options
        clock = TrainingClock(
            ctx.budget,
            options.train_steps,
            lambda: step_gmacs(
                self.generator,
                self.discriminator,
                self.context_frames,
                options.image_size,
                options.batch_size,
            ),
            name="ffp train",
        )
        sampler = ClipSampler(
            source, self.context_frames + 1, options.image_size, ctx.device, ctx.seed
        )
        train(
            self.generator,
            self.discriminator,
            sampler,
            options.loss_weights(),
            clock,
            options.batch_size,
            (options.generator_lr, options.discriminator_lr),
            ctx.progress.task("ffp train", clock.total_steps),
        )
        self.generator.eval()


def create(options: FFPOptions, device: str) -> FFP:
    return FFP(options, device)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu": {
        "image_size": 64,
        "widths": (8, 16, 32, 64),
        "discriminator_widths": (16, 32, 64, 64),
        "batch_size": 8,
        # Chosen on source data only by benchmarks/choose_presets.py:
        # benchmarks/results/presets_cpu.md, docs/budgets.md.
        "train_steps": 200,
        "generator_lr": 1e-3,
        "discriminator_lr": 1e-4,
    },
}
