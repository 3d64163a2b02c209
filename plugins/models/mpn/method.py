"""``mpn``: the Meta Prototype Network (Lv et al., CVPR 2021), a few-shot cross-domain baseline.

A future-frame predictor whose decoder features pass through a meta prototype unit: prototypes
are built per input by attention over the features, and every feature is rebuilt from them and
added back. Frames score by fusing the prediction's PSNR with the features' distance to their
nearest prototype (see ``scoring``). vadbench trains it on the source videos and scores targets
zero-shot, or adapts a copy on k target clips first (k-shot protocol); the official
meta-training is available and off by default. docs/baselines.md lists every deviation from the
official code.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from vadbench.sdk import (
    ClipSampler,
    FitContext,
    FramePredictor,
    Options,
    TrainingClock,
    Video,
    VideoSource,
    channels_last,
    psnr,
    split_budget,
    support_clips,
)

from .losses import LossWeights, feature_distance
from .model import MetaPrototypeNetwork
from .scoring import FeatureScore, fuse_scores, gaussian_template
from .training import (
    adapt,
    initial_step_sizes,
    meta_step_gmacs,
    meta_train,
    train,
    train_step_gmacs,
)

CHECKPOINT = "mpn.pt"


class MPNOptions(Options):
    """Defaults are the official code's (Train.py, Train_meta.py, Test.py) at 256×256."""

    context_frames: int = Field(4, ge=1, le=16, description="input frames (official t_length-1)")
    image_size: int = Field(256, ge=16, multiple_of=8, description="square training/test size")
    widths: tuple[int, int, int, int] = Field(
        (64, 128, 256, 512), description="encoder channels per level; features are 2×widths[0]"
    )
    prototypes: int = Field(10, ge=2, description="prototypes built per input (official psize)")
    batch_size: int = Field(4, ge=1)
    train_steps: int = Field(80_000, ge=1, description="Adam steps of plain training")
    learning_rate: float = Field(1e-4, gt=0)
    prediction_weight: float = Field(1.0, ge=0)
    compactness_weight: float = Field(1.0, ge=0, description="official loss_fea_reconstruct")
    separation_weight: float = Field(1e-4, ge=0, description="official loss_distinguish")
    fusion_alpha: float = Field(
        0.5, ge=0, le=1, description="weight of the PSNR term in the fused score (Test.py: 0.5)"
    )
    smoothing_taps: int = Field(15, ge=1, description="Gaussian smoothing window, odd")
    smoothing_sigma: float = Field(2.0, gt=0)
    feature_score: FeatureScore = Field(
        "distance", description="'distance' (paper) or 'psnr' (official Test.py) normalised"
    )
    meta_training: bool | Literal["auto"] = Field(
        "auto",
        description="run the official Meta-SGD phase after training; 'auto': when a k-shot row "
        "will adapt the model (the official few-shot protocol), never for zero-shot only",
    )
    meta_steps: int = Field(1000, ge=1, description="meta-updates, one task (video) each")
    meta_task_clips: int = Field(4, ge=2, description="clips per task: half support, half query")
    meta_learning_rate: float = Field(1e-6, gt=0, description="Adam lr of weights and step sizes")
    adapt_steps: int = Field(1, ge=1, description="k-shot SGD steps (official test_iter)")
    adapt_lr: float = Field(
        1e-4, gt=0, description="k-shot step size; meta-training learns it per weight from here"
    )

    @model_validator(mode="after")
    def _odd_smoothing(self) -> MPNOptions:
        if self.smoothing_taps % 2 == 0:
            raise ValueError("smoothing_taps must be odd so the window is centred on its frame")
        return self

    def loss_weights(self) -> LossWeights:
        return LossWeights(self.prediction_weight, self.compactness_weight, self.separation_weight)


class MPN(FramePredictor[MPNOptions]):
    """The Method: owns the network and, after meta-training, the learned step sizes. Its score
    fuses the prediction's PSNR with the features' distance to their prototypes; predictions,
    checkpoints and the efficiency metrics' module come from the toolkit's FramePredictor."""

    checkpoint_file = CHECKPOINT

    def __init__(self, options: MPNOptions, device: str) -> None:
        self.options = options
        self.device = device
        self.context_frames = options.context_frames
        self.network = MetaPrototypeNetwork(
            options.context_frames, options.widths, options.prototypes
        ).to(device)
        channels_last(self.network)
        self.step_sizes = initial_step_sizes(self.network, options.adapt_lr)

    def predictor(self) -> torch.nn.Module:
        """The whole network; input: T frames stacked on channels, (n, 3T, H, W) in [-1, 1]."""
        return self.network

    def checkpoint_modules(self) -> dict[str, torch.nn.Module]:
        return {"network": self.network}

    def extra_state(self) -> dict[str, Any]:
        return {"step_sizes": self.step_sizes}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.step_sizes = dict(state["step_sizes"])

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.network.run(inputs).prediction

    def fit(self, source: VideoSource, aux: VideoSource | None, ctx: FitContext) -> None:
        """Trains on ``source`` only; MPN has no use for auxiliary data, so ``aux`` is ignored.

        Meta-training runs when ``meta_training`` is true, or when it is "auto" and
        ``ctx.adaptation`` says a k-shot row will adapt this model.
        ``ctx.budget``, when set, covers both phases: without meta-training it replaces
        ``train_steps``; with it, the budget is split between plain training and meta-training
        in the ratio ``train_steps : meta_steps``, in the budget's own unit (steps, seconds or
        GMACs), so the phases keep the preset's proportions and together spend the budget.
        """
        torch.manual_seed(ctx.seed)
        self.device = ctx.device
        self.network.to(ctx.device)
        options = self.options
        meta_training = ctx.adaptation if options.meta_training == "auto" else options.meta_training
        shares = [options.train_steps]
        if meta_training:
            shares.append(options.meta_steps)
        budgets = split_budget(ctx.budget, shares)
        clock = TrainingClock(
            budgets[0],
            options.train_steps,
            lambda: train_step_gmacs(self.network, options.batch_size, options.image_size),
            name="mpn train",
        )
        sampler = ClipSampler(
            source, self.context_frames + 1, options.image_size, ctx.device, ctx.seed
        )
        train(
            self.network,
            sampler,
            options.loss_weights(),
            clock,
            options.batch_size,
            options.learning_rate,
            ctx.progress.task("mpn train", clock.total_steps),
        )
        meta_budget = budgets[-1] if meta_training else None
        if meta_training and (meta_budget is None or meta_budget.amount > 0):
            meta_clock = TrainingClock(
                meta_budget,
                options.meta_steps,
                lambda: meta_step_gmacs(self.network, options.meta_task_clips, options.image_size),
                name="mpn meta-train",
            )
            self.step_sizes = meta_train(
                self.network,
                sampler,
                options.loss_weights(),
                meta_clock,
                options.meta_task_clips,
                options.adapt_lr,
                options.meta_learning_rate,
                ctx.progress.task("mpn meta-train", meta_clock.total_steps),
            )
        self.network.eval()

    def adapt(self, support: VideoSource, ctx: FitContext) -> MPN:
        """A copy adapted on the support clips with the (learned or fixed) step sizes."""
        adapted = copy.deepcopy(self)
        clips = support_clips(
            support, self.context_frames + 1, self.options.image_size, self.device
        )
        adapt(
            adapted.network,
            clips,
            self.options.loss_weights(),
            adapted.step_sizes,
            self.options.adapt_steps,
            ctx.progress.task("mpn adapt", self.options.adapt_steps),
        )
        return adapted

    def window_scores(self, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per window: the PSNR of its prediction (pixels mapped to [0, 1]) and the mean
        distance of its features to their nearest prototypes, fused by ``final_scores``."""
        output = self.network.run(inputs)
        distance = feature_distance(output.readout.queries, output.readout.nearest)
        return torch.stack([psnr(output.prediction, target, self.value_range), distance], dim=1)

    def final_scores(self, raw: np.ndarray) -> np.ndarray:
        """Fused normality of frames T..N-1 (see ``scoring``)."""
        return fuse_scores(
            raw[:, 0],
            raw[:, 1],
            self.options.fusion_alpha,
            gaussian_template(self.options.smoothing_taps, self.options.smoothing_sigma),
            self.options.feature_score,
        )

    def raw_scores(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        """Before fusion, for frames T..N-1: the PSNR of each prediction and the feature
        distance (``window_scores``)."""
        raw = self.window_raw_scores(video)
        return (raw[:, 0], raw[:, 1]) if len(raw) else (np.zeros(0), np.zeros(0))


def create(options: MPNOptions, device: str) -> MPN:
    return MPN(options, device)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu": {
        "image_size": 64,
        "widths": (8, 16, 32, 64),
        "batch_size": 8,
        # Chosen on source data only by benchmarks/choose_presets.py (it reached the procedure's
        # cap): benchmarks/results/presets_cpu.md, docs/budgets.md. meta_steps was not chosen
        # by that procedure: meta-training runs only for models a k-shot row adapts.
        "train_steps": 1500,
        "learning_rate": 1e-3,
        "meta_steps": 50,
        "meta_learning_rate": 1e-4,
        "adapt_steps": 3,
    },
}
