"""Every record a run writes, typed and versioned: the store writes them, everything else reads
them back through the same classes, so a record's shape is spelt in one place.

Each record is a pydantic model read with validation: a file of the wrong shape (a list where an
object belongs, a retyped field) is damaged, reported and counted as missing, never a traceback
further on. Fields a newer vadbench adds are ignored by an older one; files written before
records carried a ``format`` read as format 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from vadbench.sdk.contracts import MetricResult
from vadbench.sdk.runfolder import StoredScores


class Record(BaseModel):
    """A JSON record of a run folder, named by the file it lives in."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    FILE: ClassVar[str]
    FORMAT: ClassVar[int] = 1

    format: int = 1
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "format": self.FORMAT}


class MetricRecord(BaseModel):
    """A stored MetricResult."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    value: float | None
    unit: str
    higher_is_better: bool
    note: str = ""
    footnote: bool = False

    @classmethod
    def of(cls, result: MetricResult) -> MetricRecord:
        return cls(
            name=result.name,
            value=None if result.value is None else float(result.value),
            unit=result.unit,
            higher_is_better=bool(result.higher_is_better),
            note=result.note,
            footnote=bool(result.footnote),
        )


def metric_records(results: list[MetricResult]) -> list[MetricRecord]:
    return [MetricRecord.of(result) for result in results]


class TargetEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    dataset: str
    protocol: str
    hash: str


class CellRecord(Record):
    """``cell.json``: what the cell is, with its targets and their hashes."""

    FILE = "cell.json"

    id: str
    model: str
    plugin: str
    preset: str | None
    options: dict[str, Any] = Field(default_factory=dict)
    train: str
    aux: str | None
    seed: int
    targets: dict[str, TargetEntry]


class FitRecord(Record):
    """``checkpoint/fit.json``: marks a checkpoint complete, with its files' checksums (absent
    in checkpoints written before they carried them) and, for a checkpoint taken from the zoo
    rather than trained in the run, its ``zoo:NAME``."""

    FILE = "fit.json"

    seconds: float
    time: float
    files: dict[str, str] | None = None
    origin: str | None = None


class ResultRecord(Record):
    """``targets/<t>/result.json``: a target's detection metrics; written last, marks it done."""

    FILE = "result.json"

    target: str
    protocol: str
    videos: int
    frames: int
    metrics: list[MetricRecord]
    time: float


class EfficiencyRecord(Record):
    """``efficiency.json``: the efficiency metrics of the cell's inference module."""

    FILE = "efficiency.json"

    requested: list[str]
    metrics: list[MetricRecord]


class FailureRecord(Record):
    """``failure.json``, in a cell or a target folder: why the last attempt failed."""

    FILE = "failure.json"

    stage: str
    error: str
    type: str = ""
    traceback: str = ""
    time: float = 0.0


class CalibrationRecord(Record):
    """``calibration.json``: raw anomaly scores of normal source frames (detect's threshold),
    and the precision they were scored at (a record without one: the cell's own)."""

    FILE = "calibration.json"

    version: int = 1
    source: str
    split: str
    frames: int
    note: str = ""
    scores: list[float]
    score_precision: str | None = None


@dataclass
class CellState:
    """A cell's folder as one walk of it finds it, read in one pass by
    ``RunStore.cell_state``: which stages are done for the cell's present hashes, and the stored
    scores of its targets that still need evaluating (or that calibration reads)."""

    checkpoint: bool = False
    # A checkpoint folder is there but not intact: the next walk trains the cell again, even
    # when every target is done, so that the damage does not outlive the run.
    repair_checkpoint: bool = False
    efficiency: EfficiencyRecord | None = None
    calibration: CalibrationRecord | None = None
    results: dict[str, ResultRecord] = field(default_factory=dict)
    scores: dict[str, StoredScores] = field(default_factory=dict)


class _RunMetrics(BaseModel):
    model_config = ConfigDict(extra="allow")

    detection: list[str] = []
    efficiency: list[str] = []
    headline: str | None = None


class _RunConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    statistics: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None


class RunFileShape(BaseModel):
    """The parts of ``run.json`` that reports read, as the types they must have: a run.json of
    valid JSON but of another shape is refused here with the field named, never a traceback."""

    model_config = ConfigDict(extra="allow")

    cells: dict[str, str]
    targets: dict[str, dict[str, str]] = {}
    metrics: _RunMetrics = _RunMetrics()
    config: _RunConfig = _RunConfig()
    evaluation: dict[str, Any] | None = None
