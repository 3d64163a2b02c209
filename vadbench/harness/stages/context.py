"""What every stage of a cell shares: the store, the progress reporter, the device (resolved
once, here), the precisions, the budget, the opened datasets and the metrics to compute."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from vadbench.harness.config import HeldOutEntry
from vadbench.harness.devices import resolve_device
from vadbench.harness.planning import OpenedDataset, Plan
from vadbench.harness.store import RunStore
from vadbench.sdk.contracts import (
    Dataset,
    MetricSpec,
    Progress,
    Split,
    TrainingBudget,
    Video,
    VideoSource,
)
from vadbench.sdk.precision import Precision, autocast_for
from vadbench.sdk.protocol import DEFAULT_PROTOCOL, EvaluationProtocol


@dataclass
class StageContext:
    store: RunStore
    progress: Progress
    device: str
    datasets: Mapping[str, OpenedDataset]
    detection_metrics: Sequence[MetricSpec]
    efficiency_metrics: Sequence[MetricSpec]
    metric_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    precision: Precision = "fp32"
    score_precision: Precision = "fp32"
    budget: TrainingBudget | None = None
    held_out: HeldOutEntry = field(default_factory=HeldOutEntry)
    snapshots: frozenset[int] = frozenset()
    force: bool = False
    efficiency: bool = True
    evaluation: EvaluationProtocol = DEFAULT_PROTOCOL

    @classmethod
    def for_plan(
        cls, plan: Plan, store: RunStore, progress: Progress, force: bool, efficiency: bool
    ) -> StageContext:
        """The driver's context: every metric the run measures, efficiency included."""
        budget = plan.matrix.budget
        return cls(
            store=store,
            progress=progress,
            device=resolve_device(plan.matrix.device),
            datasets=plan.datasets,
            detection_metrics=plan.detection_metrics,
            efficiency_metrics=plan.efficiency_metrics,
            metric_options=plan.metric_options,
            precision=plan.precision,
            score_precision=plan.score_precision,
            budget=budget.budget() if budget is not None else None,
            held_out=plan.matrix.held_out,
            snapshots=frozenset(plan.matrix.snapshots),
            force=force,
            efficiency=efficiency,
            evaluation=plan.evaluation,
        )

    @property
    def wants_maps(self) -> bool:
        """Whether a detection metric of the run reads anomaly maps (``MetricSpec.needs_maps``)."""
        return any(metric.needs_maps for metric in self.detection_metrics)

    def training_precision(self) -> AbstractContextManager[None]:
        """The matrix's ``precision`` around a model's training (fit, adapt)."""
        return autocast_for(self.device, self.precision)

    def scoring_precision(self) -> AbstractContextManager[None]:
        """The matrix's ``score_precision`` around a model's scoring and predictions."""
        return autocast_for(self.device, self.score_precision)


class LazySource:
    """A split that is listed when a model first reads it: a model that never reads its
    training data (framediff) or its auxiliary data costs no listing, which on a large set is
    thousands of files opened."""

    def __init__(self, dataset: Dataset, split: Split) -> None:
        self._dataset = dataset
        self._split: Split = split

    @functools.cached_property
    def _listed(self) -> VideoSource:
        return self._dataset.source(self._split)

    @property
    def name(self) -> str:
        return self._listed.name

    @property
    def split(self) -> Split:
        return self._split

    def videos(self) -> Sequence[Video]:
        return self._listed.videos()


class StageError(Exception):
    """Wraps an exception with the stage (fit, score <target>, ...) it happened in."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error


@dataclass
class CellOutcome:
    """What one walk of a cell did, for the run's progress lines."""

    cell_id: str
    fitted: bool = False
    loaded: bool = False
    from_zoo: str = ""
    targets_done: int = 0
    targets_skipped: int = 0
    targets_from_stored_scores: int = 0
    measured_efficiency: bool = False
    failed: bool = False
    message: str = ""
