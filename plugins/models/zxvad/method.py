"""``zxvad``: Zero-shot Cross-domain Video Anomaly Detection (Aich, Peng, Roy-Chowdhury).

A future-frame predictor (U-Net + memory, G) trained against a PatchGAN D and regularised by a
normalcy classifier N that learns how normal frames differ from pseudo-abnormal ones, which an
untrained CNN R makes by pasting found objects into normal frames. Frames are scored by PSNR of
G's prediction, as in FFP. Read top to bottom: options, generator, discriminators, backbones,
synthesis, losses, frames, training, gallery; the Method and its registration are below.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from torch import nn

from vadbench.sdk import FitContext, FramePredictor, TrainingClock, VideoSource

from .frames import FrameSampler
from .gallery import render_gallery
from .options import ZxVADOptions
from .training import StepCost, Trainer, build_generator, step_gmacs, train

WEIGHTS_FILE = "zxvad.pt"
MEGABYTE = 1024 * 1024


class ZxVAD(FramePredictor[ZxVADOptions]):
    """The Method: fit trains G, D, N; scoring, predictions, checkpoints and the efficiency
    metrics' module come from the toolkit's FramePredictor and run G alone (one PSNR per
    frame T..N-1, pixels in [-1, 1], the T input frames stacked on channels)."""

    checkpoint_file = WEIGHTS_FILE

    def __init__(self, options: ZxVADOptions, device: str) -> None:
        self.options = options
        self.device = device
        self.context_frames = options.context_frames
        self.generator = build_generator(options).to(device).eval()
        self.trainer: Trainer | None = None

    def predictor(self) -> nn.Module:
        """G; input: the T frames stacked on channels, (n, 3T, H, W) in [-1, 1]."""
        return self.generator

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """G, and after training D, N and ArcFace's W too (a loaded model needs G only)."""
        if self.trainer is None:
            return {"generator": self.generator}
        n = self.trainer.networks
        return {
            "generator": n.generator,
            "discriminator": n.discriminator,
            "classifier": n.classifier,
            "relative_attention": n.relative_attention,
        }

    def fit(self, source: VideoSource, aux: VideoSource | None, ctx: FitContext) -> None:
        """Train on ``source``; objects come from ``aux`` when the matrix gives one.

        ``ctx.budget``, when set, replaces ``train_steps`` (``vadbench.sdk.training``). Its clock
        starts before the frames are decoded and the object pool is built, so a seconds budget
        pays for them, and a GMACs budget pays for the pool's R passes first."""
        o = self.options
        started = time.perf_counter()
        torch.manual_seed(ctx.seed)
        rng = np.random.default_rng(ctx.seed)
        self.device = ctx.device
        cache = o.frame_cache_mb * MEGABYTE
        clips = FrameSampler(source, o.context_frames + 1, o.image_size, ctx.device, cache)
        objects = clips
        if aux is not None:
            objects = FrameSampler(aux, 1, o.image_size, ctx.device, cache)
        self.trainer = Trainer(o, ctx.device)
        self.generator = self.trainer.networks.generator
        cost: StepCost | None = None
        if ctx.budget is not None and ctx.budget.kind == "gmacs":
            cost = step_gmacs(self.trainer)
        clock = TrainingClock(
            ctx.budget,
            o.train_steps,
            None if cost is None else cost.per_step,
            setup_gmacs=0.0 if cost is None else cost.setup,
            name="zxvad train",
            started=started,
        )
        advance = ctx.progress.task("zxvad train", clock.total_steps)
        train(self.trainer, clips, objects, rng, advance, clock)
        self.generator.eval()
        draw_gallery(source, aux or source, o, ctx)


GALLERY_EXAMPLES = 6


def draw_gallery(
    normal: VideoSource, objects: VideoSource, options: ZxVADOptions, ctx: FitContext
) -> None:
    """The cell's pseudo-anomalies (the paper's Fig. 3) for reports, made as training makes them
    by an untrained R from the cell's seed; a picture that cannot be drawn only warns."""
    figures = ctx.checkpoint_dir / "figures"
    try:
        image = render_gallery(normal, objects, options, GALLERY_EXAMPLES, ctx.seed)
        figures.mkdir(parents=True, exist_ok=True)
        image.save(figures / "pseudo_anomalies.png")
    except Exception as error:
        warnings.warn(f"zxvad: no pseudo-anomaly gallery ({error})", stacklevel=1)


def create(options: ZxVADOptions, device: str) -> ZxVAD:
    return ZxVAD(options, device)
