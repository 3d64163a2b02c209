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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vadbench.api import (
    FitContext,
    ModelSpec,
    ScoreKind,
    Video,
    VideoSource,
)
from vadbench.checkpoints import load_checkpoint, save_checkpoint
from vadbench.clips import predicted_frames
from vadbench.hookspecs import hookimpl
from vadbench.toolkit import psnr
from vadbench.training import TrainingClock

from .frames import FrameSampler, to_model_frames
from .gallery import gallery_command, render_gallery
from .losses import to_unit_range
from .options import CPU_PRESET, PAPER_PRESET, ZxVADOptions
from .training import StepCost, Trainer, build_generator, step_gmacs, train

WEIGHTS_FILE = "zxvad.pt"
MEGABYTE = 1024 * 1024


class ZxVAD:
    """The Method: fit trains G, D, N; score runs G alone, one PSNR per frame T..N-1."""

    score_kind: ScoreKind = "normality"

    def __init__(self, options: ZxVADOptions, device: str) -> None:
        self.options = options
        self.device = device
        self.context_frames = options.context_frames
        self.generator = build_generator(options).to(device).eval()
        self.trainer: Trainer | None = None

    def fit(self, source: VideoSource, aux: VideoSource | None, ctx: FitContext) -> None:
        """Train on ``source``; objects come from ``aux`` when the matrix gives one.

        ``ctx.budget``, when set, replaces ``train_steps`` (``vadbench.training``). Its clock
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

    @torch.no_grad()
    def score(self, video: Video) -> np.ndarray:
        """PSNR of G's prediction against the true frame, for frames T..N-1."""
        t, size = self.context_frames, self.options.image_size
        self.generator.eval()
        scores: list[torch.Tensor] = []
        batch: list[np.ndarray] = []

        def flush() -> None:
            clips = to_model_frames(np.stack(batch), size, self.device)
            predicted = self.generator(clips[:, :t].flatten(1, 2))
            scores.append(psnr(to_unit_range(predicted), to_unit_range(clips[:, t])))
            batch.clear()

        for clip in video.iter_clips(t + 1):
            batch.append(clip)
            if len(batch) == self.options.score_batch_size:
                flush()
        if batch:
            flush()
        return torch.cat(scores).cpu().numpy() if scores else np.zeros(0)

    @torch.no_grad()
    def predictions(self, video: Video, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The frames ``indices`` and G's predictions of them, (k, H, W, 3) in [0, 1]."""
        self.generator.eval()
        return predicted_frames(
            video, indices, self.context_frames, self.options.image_size, self.device,
            self.generator,
        )  # fmt: skip

    def save(self, folder: Path) -> None:
        """Weights of every trained network (tensors only) and the options as JSON."""
        if self.trainer is None:
            state = {"generator": self.generator.state_dict()}
        else:
            n = self.trainer.networks
            state = {
                "generator": n.generator.state_dict(),
                "discriminator": n.discriminator.state_dict(),
                "classifier": n.classifier.state_dict(),
                "relative_attention": n.relative_attention.state_dict(),
            }
        save_checkpoint(folder, self.options, state, WEIGHTS_FILE)

    def load(self, folder: Path) -> None:
        state = load_checkpoint(folder, self.options, WEIGHTS_FILE, self.device)
        self.generator.load_state_dict(state["generator"])
        self.generator.eval()

    def inference_module(self) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        size = self.options.image_size
        example = torch.zeros(1, 3 * self.context_frames, size, size, device=self.device)
        return self.generator.eval(), (example,)


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


@hookimpl
def vadbench_register_models(register: Any) -> None:
    register(
        ModelSpec(
            name="zxvad",
            description="zxVAD: memory U-Net predictor + normalcy classifier trained on "
            "pseudo-anomalies from an untrained CNN (PSNR score)",
            options=ZxVADOptions,
            create=create,
            presets={"paper": PAPER_PRESET, "cpu": CPU_PRESET},
            version="3",  # 3: fused Adam (toolkit.adam); 2: channels-last weights
        )
    )


@hookimpl
def vadbench_register_commands(register: Any) -> None:
    register(gallery_command())
