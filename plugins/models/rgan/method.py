"""``rgan``: few-shot scene-adaptive rGAN (Lu et al., ECCV 2020), a cross-domain baseline.

A GAN whose generator runs a U-Net on each of T=3 input frames and feeds the results, in order,
to an 8-layer ConvLSTM at full resolution that predicts frame T+1. Its defining training mode is
MAML-style meta-learning over source videos (each video a task), so that a few gradient steps on
k clips of a new scene adapt it; vadbench scores targets either zero-shot (trained on the source,
never adapted) or after that k-shot adaptation. Frames score by PSNR (high = normal).
docs/baselines.md lists every deviation from the official code.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from pydantic import Field, field_validator

from vadbench.sdk import (
    UNIT,
    ClipSampler,
    FitContext,
    FramePredictor,
    Options,
    TrainingClock,
    VideoSource,
    psnr,
    support_clips,
)

from .losses import StructureLoss
from .model import RGANDiscriminator, RGANGenerator
from .training import adapt_in_place, meta_step_gmacs, meta_train, train, train_step_gmacs

CHECKPOINT = "rgan.pt"


class RGANOptions(Options):
    """Defaults are the official code's (rGAN.py, train.py) at 256×256."""

    context_frames: int = Field(3, ge=1, le=16, description="input frames; frame T+1 is predicted")
    image_size: int = Field(256, ge=16, multiple_of=16, description="square training/test size")
    unet_widths: tuple[int, int, int, int] = Field(
        (64, 128, 256, 512), description="per-frame U-Net channels; the bottleneck repeats the last"
    )
    lstm_hidden: tuple[int, ...] = Field(
        (16, 128, 256, 128, 64, 32, 16, 3), description="ConvLSTM layers; the last must be 3 (RGB)"
    )
    discriminator_widths: tuple[int, int, int, int] = Field((16, 32, 64, 128))
    msssim_sigmas: tuple[float, ...] = Field(
        (0.5, 1.0, 2.0, 4.0, 8.0), description="kornia MS-SSIM scales; the last sets the window"
    )
    training: Literal["meta", "standard"] = Field(
        "meta", description="'meta': first-order MAML over videos (official); 'standard': plain GAN"
    )
    meta_steps: int = Field(2000, ge=1, description="meta-updates (official total_epochs)")
    meta_tasks: int = Field(6, ge=1, description="videos per meta-update (official num_tasks)")
    meta_shots: int = Field(1, ge=1, description="support clips per task; as many validate it")
    train_steps: int = Field(80_000, ge=1, description="steps of 'standard' training")
    batch_size: int = Field(4, ge=1, description="clips per step of 'standard' training")
    generator_lr: float = Field(2e-4, gt=0)
    discriminator_lr: float = Field(1e-5, gt=0)
    adam_betas: tuple[float, float] = (0.5, 0.999)
    adapt_lr: float = Field(1e-4, gt=0, description="Adam lr of the inner loop and k-shot steps")
    adapt_steps: int = Field(1, ge=1, description="passes over the support clips (inner loop too)")

    @field_validator("lstm_hidden")
    @classmethod
    def _rgb_output(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or value[-1] != 3:
            raise ValueError("the last ConvLSTM layer is the RGB prediction: its width must be 3")
        return value


class RGAN(FramePredictor[RGANOptions]):
    """The Method: generator (used per test frame) and discriminator (training only); scoring,
    checkpoints and the efficiency metrics' module come from the toolkit's FramePredictor."""

    value_range = UNIT
    stack_inputs = False
    checkpoint_file = CHECKPOINT

    def __init__(self, options: RGANOptions, device: str) -> None:
        self.options = options
        self.device = device
        self.context_frames = options.context_frames
        self.generator = RGANGenerator(options.unet_widths, options.lstm_hidden).to(device)
        self.discriminator = RGANDiscriminator(options.discriminator_widths, options.image_size).to(
            device
        )
        self.structure = StructureLoss(options.msssim_sigmas).to(device)

    def predictor(self) -> torch.nn.Module:
        """The generator; input: the T frames as one (n, T, 3, H, W) tensor in [0, 1]."""
        return self.generator

    def checkpoint_modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def _to(self, device: str) -> None:
        self.device = device
        for module in (self.generator, self.discriminator, self.structure):
            module.to(device)

    def fit(self, source: VideoSource, aux: VideoSource | None, ctx: FitContext) -> None:
        """Trains on ``source`` only; rGAN has no use for auxiliary data, so ``aux`` is ignored.

        ``ctx.budget``, when set, replaces the step count of the mode that runs: ``meta_steps``
        (meta-updates, each with its inner loops) under ``training: meta``, ``train_steps``
        under ``standard``."""
        torch.manual_seed(ctx.seed)
        self._to(ctx.device)
        options = self.options
        t, size = self.context_frames, options.image_size
        if options.training == "meta":
            clock = TrainingClock(
                ctx.budget,
                options.meta_steps,
                lambda: meta_step_gmacs(
                    self.generator,
                    self.discriminator,
                    t,
                    size,
                    options.meta_tasks,
                    options.meta_shots,
                    options.adapt_steps,
                ),
                name="rgan meta-train",
            )
        else:
            clock = TrainingClock(
                ctx.budget,
                options.train_steps,
                lambda: train_step_gmacs(
                    self.generator, self.discriminator, t, size, options.batch_size
                ),
                name="rgan train",
            )
        sampler = ClipSampler(source, t + 1, size, ctx.device, ctx.seed, UNIT)
        rates = (options.generator_lr, options.discriminator_lr)
        advance = ctx.progress.task(clock.name, clock.total_steps)
        if options.training == "meta":
            meta_train(
                self.generator,
                self.discriminator,
                sampler,
                self.structure,
                clock,
                options.meta_tasks,
                options.meta_shots,
                (options.adapt_lr, options.adapt_steps),
                rates,
                options.adam_betas,
                advance,
            )
        else:
            train(
                self.generator,
                self.discriminator,
                sampler,
                self.structure,
                clock,
                options.batch_size,
                rates,
                options.adam_betas,
                advance,
            )
        self.generator.eval()

    def adapt(self, support: VideoSource, ctx: FitContext) -> RGAN:
        """A copy after the inner loop on the support clips; ``self`` is left untouched."""
        adapted = copy.deepcopy(self)
        clips = support_clips(
            support, self.context_frames + 1, self.options.image_size, self.device, UNIT
        )
        advance = ctx.progress.task("rgan adapt", 1)
        adapt_in_place(
            adapted.generator,
            adapted.discriminator,
            clips,
            adapted.structure,
            self.options.adapt_lr,
            self.options.adapt_steps,
            "rgan adapt",
        )
        advance(1)
        adapted.generator.eval()
        return adapted

    def chunk_scores(self, frames: torch.Tensor) -> torch.Tensor:
        """PSNR of each predicted frame T..n-1 of a chunk. Same result as running the generator
        on every window, but the per-frame U-Net runs once per frame rather than once per
        window that contains it (T times fewer passes)."""
        t = self.context_frames
        encoded = self.generator.encode(frames)
        windows = torch.stack([encoded[i : i + t] for i in range(len(frames) - t)])
        return psnr(self.generator.recur(windows), frames[t:], UNIT)


def create(options: RGANOptions, device: str) -> RGAN:
    return RGAN(options, device)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu": {
        "image_size": 32,
        "unet_widths": (8, 16, 32, 32),
        "lstm_hidden": (4, 4, 4, 4, 4, 4, 4, 3),
        "discriminator_widths": (8, 16, 32, 32),
        "msssim_sigmas": (0.5, 1.0, 2.0),
        # Chosen on source data only by benchmarks/choose_presets.py:
        # benchmarks/results/presets_cpu.md, docs/budgets.md. train_steps (the 'standard' mode,
        # which this preset does not run) was not re-chosen.
        "meta_steps": 800,
        "meta_tasks": 2,
        "train_steps": 300,
        "batch_size": 8,
        "generator_lr": 1e-3,
        "discriminator_lr": 1e-4,
        "adapt_lr": 1e-3,
    },
}
