"""Evidence that a model learned: its training objective on held-out source videos, beside
the same objective of a trivial predictor, measured while it trains.

A target AUC cannot tell an unfaithful model from an untrained one. The held-out source curve
can, and it reads nothing but the source: the harness holds out a fixed share of the source's
normal training videos (chosen from the cell's seed), trains the model on the rest, and every
``every`` steps asks the model for its objective on the held-out frames. The **skill** of the
trained model is ``1 − model loss / trivial loss`` at the end of training: above 0 the model
beats the trivial predictor on normal frames it never saw; at or below 0 it has learned nothing
that generalises, and leaderboards mark the cell as under-trained.

A model opts in by having ``held_out_errors(video)`` (:class:`HeldOutObjective`); the frame
predictors of the toolkit have it: the MSE of the predicted frame (pixels in [0, 1]) against
the MSE of copying the last input frame. A model without it gets no curve and no skill.

The same curve decides a ``{until: converged}`` budget (:class:`ConvergenceRule`): training ends
once the held-out loss has improved by less than ``min_delta``, relative to its best so far,
over ``patience`` evaluations, or at the budget's most steps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from vadbench.sdk.contracts import TrainingBudget, Video
from vadbench.sdk.files import atomic_write_json, read_stored
from vadbench.sdk.training import TrainingClock, watch_training

LEARNING_FILE = "learning.json"
SNAPSHOTS_FOLDER = "snapshots"  # in a checkpoint: the model saved at earlier steps, step-NNNNNN
LEARNING_VERSION = 1
HOLD_OUT_SHARE = 0.1
EVALUATE_EVERY = 50


@runtime_checkable
class HeldOutObjective(Protocol):
    """A model that can say how well it does its own task on frames it was not trained on."""

    objective: str  # what the loss is, e.g. "prediction MSE (pixels in [0, 1])"
    trivial_predictor: str  # the baseline it is compared with, e.g. "copy the last input frame"

    def held_out_errors(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        """Per evaluated frame of ``video``: the model's loss and the trivial predictor's."""
        ...


def hold_out(videos: Sequence[Video], share: float, seed: int) -> tuple[list[Video], list[Video]]:
    """(kept, held out): ``round(share × n)`` videos, at least one, drawn with ``seed`` from the
    videos in id order, and never all of them; nothing is held out of fewer than two videos or
    with a share of 0."""
    if share <= 0 or len(videos) < 2:
        return list(videos), []
    ordered = sorted(videos, key=lambda video: video.id)
    count = min(max(1, round(share * len(ordered))), len(ordered) - 1)
    chosen = set(np.random.default_rng(seed).choice(len(ordered), count, replace=False).tolist())
    kept = [video for i, video in enumerate(ordered) if i not in chosen]
    held = [video for i, video in enumerate(ordered) if i in chosen]
    return kept, held


@dataclass(frozen=True)
class ConvergenceRule:
    """Stop once the last ``patience`` evaluations of a training loop all fail to beat the
    best evaluation before them by a relative ``min_delta``."""

    patience: int
    min_delta: float

    @classmethod
    def of(cls, budget: TrainingBudget | None) -> ConvergenceRule | None:
        if budget is None or budget.kind != "converged":
            return None
        return cls(budget.patience, budget.min_delta)

    def converged(self, losses: Sequence[float]) -> bool:
        if len(losses) <= self.patience:
            return False
        best_before = min(losses[: -self.patience])
        return min(losses[-self.patience :]) > (1.0 - self.min_delta) * best_before


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation: steps taken over all of the model's training loops so far, the loop's
    name and the model's mean held-out loss."""

    step: int
    loop: str
    loss: float


@dataclass
class LearningCurve:
    """What a cell's training did to its held-out source loss. ``stopped`` says why training
    ended: ``budget`` (spent), ``converged`` (the rule ended the last loop), ``not trained``
    (the model ran no training loop), or why there is no curve (``no objective``, ``no held-out
    videos``)."""

    objective: str = ""
    trivial_predictor: str = ""
    held_out_videos: list[str] = field(default_factory=list)
    held_out_frames: int = 0
    trivial_loss: float | None = None
    points: list[CurvePoint] = field(default_factory=list)
    steps: int = 0
    stopped: str = "not trained"
    version: int = LEARNING_VERSION

    @property
    def final_loss(self) -> float | None:
        return self.points[-1].loss if self.points else None

    @property
    def skill(self) -> float | None:
        """1 − final loss / trivial loss; None without a curve."""
        if self.final_loss is None or not self.trivial_loss:
            return None
        return 1.0 - self.final_loss / self.trivial_loss

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LearningCurve:
        points = [
            CurvePoint(int(p["step"]), str(p["loop"]), float(p["loss"])) for p in raw["points"]
        ]
        return cls(**{**raw, "points": points})


def under_trained(skill: float | None) -> bool:
    """A trained model that does no better than the trivial predictor on held-out frames."""
    return skill is not None and not skill > 0


def write_curve(path: Path, curve: LearningCurve) -> None:
    atomic_write_json(path, curve.to_json())


def read_curve(path: Path) -> LearningCurve | None:
    """The stored curve, or None when absent or not a curve this version reads."""
    try:
        raw = json.loads(read_stored(path))
        if not isinstance(raw, dict) or raw.get("version") != LEARNING_VERSION:
            return None
        return LearningCurve.from_json(raw)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def networks_of(root: object, depth: int = 2) -> list[nn.Module]:
    """Every network a model holds, as an attribute or up to ``depth`` objects down (zxVAD
    keeps its discriminators in ``trainer.networks``)."""
    found: list[nn.Module] = []
    for value in vars(root).values():
        if isinstance(value, nn.Module):
            found.extend(value.modules())
        elif depth > 0 and hasattr(value, "__dict__") and not isinstance(value, type):
            found.extend(networks_of(value, depth - 1))
    return found


@contextmanager
def left_as_found(model: object) -> Iterator[None]:
    """Run an evaluation in the middle of training: the networks' train/eval modes and the
    random state are restored afterwards, so that the watched run trains exactly as an unwatched
    one."""
    modes = [(module, module.training) for module in networks_of(model)]
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        for module, training in modes:
            module.training = training


class HeldOutMonitor:
    """Records a model's held-out curve while it trains and ends a converged budget's loops.

    ``held_out`` gives the held-out videos when first needed, so that a model that never trains
    (framediff) lists nothing; ``evaluated(step)`` is called after each evaluation (the harness
    saves snapshots there). Use it around ``fit``::

        monitor = HeldOutMonitor(method, lambda: held, every=50, rule=ConvergenceRule.of(budget))
        with monitor.watching():
            method.fit(kept_source, aux, ctx)
        curve = monitor.curve()
    """

    def __init__(
        self,
        model: object,
        held_out: Callable[[], Sequence[Video]],
        every: int = EVALUATE_EVERY,
        rule: ConvergenceRule | None = None,
        evaluated: Callable[[int], None] | None = None,
    ) -> None:
        self.model = model
        self.evaluated = evaluated
        self.every = every
        self.rule = rule
        self._held_out = held_out
        self._videos: list[Video] | None = None
        self._curve = LearningCurve()
        self._loop_losses: list[float] = []
        self._clock: TrainingClock | None = None
        self._offset = 0
        self._converged = False
        if isinstance(model, HeldOutObjective):
            self._curve.objective = model.objective
            self._curve.trivial_predictor = model.trivial_predictor
        else:
            self._curve.stopped = "no objective"

    @contextmanager
    def watching(self) -> Iterator[None]:
        if not isinstance(self.model, HeldOutObjective):
            yield
            return
        with watch_training(self.every, self._observe, self._finished):
            yield

    def _videos_held_out(self) -> list[Video]:
        if self._videos is None:
            self._videos = list(self._held_out())
            self._curve.held_out_videos = [video.id for video in self._videos]
        return self._videos

    def _enter(self, clock: TrainingClock) -> None:
        if clock is not self._clock:
            self._clock = clock
            self._loop_losses = []

    def _evaluate(self, clock: TrainingClock, steps: int) -> None:
        assert isinstance(self.model, HeldOutObjective)
        videos = self._videos_held_out()
        if not videos:
            return
        with left_as_found(self.model), torch.no_grad():
            pairs = [self.model.held_out_errors(video) for video in videos]
        model_errors = np.concatenate([np.asarray(m, dtype=np.float64) for m, _ in pairs])
        trivial_errors = np.concatenate([np.asarray(t, dtype=np.float64) for _, t in pairs])
        loss = float(model_errors.mean()) if model_errors.size else math.nan
        if self._curve.trivial_loss is None and trivial_errors.size:
            self._curve.trivial_loss = float(trivial_errors.mean())
            self._curve.held_out_frames = int(trivial_errors.size)
        self._curve.points.append(CurvePoint(self._offset + steps, clock.name, loss))
        self._loop_losses.append(loss)
        if self.evaluated is not None:
            self.evaluated(self._offset + steps)

    def _observe(self, clock: TrainingClock, steps: int) -> bool:
        self._enter(clock)
        self._evaluate(clock, steps)
        self._converged = self.rule is not None and self.rule.converged(self._loop_losses)
        return self._converged

    def _finished(self, clock: TrainingClock) -> None:
        self._enter(clock)
        last = self._curve.points[-1].step if self._curve.points else None
        if clock.steps_taken > 0 and last != self._offset + clock.steps_taken:
            self._evaluate(clock, clock.steps_taken)
        self._offset += clock.steps_taken
        self._curve.steps = self._offset
        self._curve.stopped = "converged" if self._converged else "budget"
        self._clock = None
        self._converged = False

    def curve(self) -> LearningCurve:
        """The curve so far; once training has ended, the cell's."""
        if self._videos is not None and not self._videos:
            self._curve.stopped = "no held-out videos"
        return self._curve
