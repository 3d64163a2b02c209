"""A run folder as its readers see it: where everything lies, and the formats of the files that
hold arrays (scores, examples). Reporters and commands read runs through this; only the harness's
store writes them.

Layout of ``results/<run>/``::

    run.json                         config, plan hashes, versions, environment, invocations
    cells/<cell>/cell.json           what the cell is (model, preset, data, seed, hash)
    cells/<cell>/job.json            the cell as the run planned it, for a worker to run
    cells/<cell>/checkpoint/         the trained model; ``fit.json`` inside marks it complete
    cells/<cell>/efficiency.json     efficiency metrics of the inference module
    cells/<cell>/failure.json        present while the cell's last attempt failed
    cells/<cell>/calibration.json    raw anomaly scores of normal source frames (detect's
                                     threshold)
    cells/<cell>/targets/<t>/scores.npz   raw per-frame scores and labels, per video
    cells/<cell>/targets/<t>/scores.npz.sha256  its checksum, written after it
    cells/<cell>/targets/<t>/result.json  detection metrics; written last, marks the target done
    cells/<cell>/targets/<t>/examples.npz a few of the most anomalous frames, with the model's
                                     predictions of them (models that predict frames)
    cells/<cell>/checkpoint/figures/ pictures a model drew while training (PNG)
    .lock                            held (flock) by the run writing the folder
    .lock.workers                    held shared by that run and each worker process it starts

Only this module spells these paths.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from vadbench.sdk.contracts import ConfigError, ScoreKind
from vadbench.sdk.files import (
    atomic_write_bytes,
    file_sha256,
    open_stored,
    read_stored,
    report_damaged,
    why_unreadable,
)
from vadbench.sdk.learning import LEARNING_FILE, SNAPSHOTS_FOLDER

CHECKSUM_SUFFIX = ".sha256"
FIT_MARKER = "fit.json"
FIGURES_FOLDER = "figures"
# The run folder's layout version, in run.json: a reader refuses a folder of a newer one.
RUN_FORMAT = 1


@dataclass(frozen=True)
class StoredScores:
    """A target's raw scores as a run stores them: per video (in order), the model's scores of
    frames ``context_frames`` .. N-1 and the full-length labels (``UNLABELLED`` where a video
    has none), with the content hash they were scored under. ``types``, where the target's
    dataset names anomaly types, holds each video's full-length per-frame type names
    ("normal" on normal frames)."""

    hash: str
    video_ids: tuple[str, ...]
    scores: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]
    context_frames: int
    score_kind: ScoreKind
    types: tuple[np.ndarray, ...] | None = None


def write_scores(path: Path, stored: StoredScores) -> None:
    """Store raw scores with full-length labels so any AUC can be recomputed later."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {
        "hash": np.array(stored.hash),
        "video_ids": np.array(stored.video_ids, dtype=str),
        "context_frames": np.array(stored.context_frames),
        "score_kind": np.array(stored.score_kind),
    }
    pairs = zip(stored.scores, stored.labels, strict=True)
    for index, (video_scores, video_labels) in enumerate(pairs):
        arrays[f"scores_{index}"] = np.asarray(video_scores, dtype=np.float64)
        arrays[f"labels_{index}"] = np.asarray(video_labels, dtype=np.int8)
    for index, video_types in enumerate(stored.types or ()):
        arrays[f"types_{index}"] = np.asarray(video_types, dtype=str)
    np.savez_compressed(buffer, **arrays)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    atomic_write_bytes(checksum, (hashlib.sha256(data).hexdigest() + "\n").encode())


@dataclass(frozen=True)
class PredictionExamples:
    """A few frames of one target with a model's predictions of them and the absolute error
    between the two (the paper's difference maps): frames and predictions (k, H, W, 3) uint8,
    errors (k, H, W) in [0, 1], and where each frame comes from."""

    video_ids: tuple[str, ...]
    frame_indices: tuple[int, ...]
    labels: tuple[int, ...]
    scores: tuple[float, ...]
    frames: np.ndarray
    predictions: np.ndarray
    errors: np.ndarray


def write_examples(path: Path, examples: PredictionExamples) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        video_ids=np.array(examples.video_ids, dtype=str),
        frame_indices=np.array(examples.frame_indices, dtype=np.int64),
        labels=np.array(examples.labels, dtype=np.int8),
        scores=np.array(examples.scores, dtype=np.float64),
        frames=examples.frames,
        predictions=examples.predictions,
        errors=examples.errors.astype(np.float16),
    )
    atomic_write_bytes(path, buffer.getvalue())


def read_examples(path: Path) -> PredictionExamples | None:
    """Stored examples, or None when there are none or they cannot be read."""
    if not path.is_file():
        return None
    try:
        with open_stored(path) as stream, np.load(stream, allow_pickle=False) as data:
            return PredictionExamples(
                tuple(str(v) for v in data["video_ids"]),
                tuple(int(i) for i in data["frame_indices"]),
                tuple(int(label) for label in data["labels"]),
                tuple(float(s) for s in data["scores"]),
                data["frames"],
                data["predictions"],
                data["errors"].astype(np.float32),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        report_damaged(path, why_unreadable(error))
        return None


def read_scores(path: Path) -> StoredScores:
    """Inverse of write_scores."""
    with open_stored(path) as stream, np.load(stream, allow_pickle=False) as data:
        video_ids = tuple(str(v) for v in data["video_ids"])
        score_kind = str(data["score_kind"])
        if score_kind not in ("normality", "anomaly"):
            raise ValueError(f"score_kind {score_kind!r} is neither 'normality' nor 'anomaly'")
        return StoredScores(
            hash=str(data["hash"]),
            video_ids=video_ids,
            scores=tuple(data[f"scores_{i}"] for i in range(len(video_ids))),
            labels=tuple(data[f"labels_{i}"] for i in range(len(video_ids))),
            context_frames=int(data["context_frames"]),
            score_kind=cast(ScoreKind, score_kind),
            types=tuple(data[f"types_{i}"] for i in range(len(video_ids)))
            if video_ids and "types_0" in data
            else None,
        )


def read_checked_scores(path: Path) -> StoredScores | None:
    """Stored scores, or None when absent or damaged (checksum, truncation), with a warning.

    Scores stored before checksums existed are read when they load cleanly.
    """
    if not path.is_file():
        return None
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    try:
        if checksum.is_file():
            expected = read_stored(checksum).decode().strip()
            if file_sha256(path) != expected:
                report_damaged(path, "its checksum does not match")
                return None
        return read_scores(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        report_damaged(path, why_unreadable(error))
        return None


def scores_intact(path: Path) -> bool:
    """Whether stored scores are there and match their checksum (scores from before checksums
    count as intact): what lets a finished target stay finished. Damaged ones are reported,
    and the next run scores the target again."""
    if not path.is_file():
        return False
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    if not checksum.is_file():  # stored before checksums: intact when it reads cleanly
        return read_checked_scores(path) is not None
    try:
        if file_sha256(path) != read_stored(checksum).decode().strip():
            report_damaged(path, "its checksum does not match")
            return False
    except (OSError, ValueError) as error:
        report_damaged(path, why_unreadable(error))
        return False
    return True


class RunFolder:
    """The paths of a run folder, for reading. The store (``vadbench.harness.store``) builds on
    it to write, checking that every path it hands out stays inside the folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _inside(self, path: Path) -> Path:
        """Where a subclass checks that a path cannot lead out of the folder; a reader follows
        links wherever they go."""
        return path

    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def workers_lock_file(self) -> Path:
        return self.root / ".lock.workers"

    def cell_dir(self, cell_id: str) -> Path:
        return self._inside(self.root / "cells" / cell_id)

    def checkpoint_dir(self, cell_id: str) -> Path:
        return self._inside(self.cell_dir(cell_id) / "checkpoint")

    def check_format(self, run_record: Mapping[str, Any]) -> None:
        """Refuse a run folder that a newer vadbench laid out differently (run.json's format;
        folders from before formats were numbered are format 1)."""
        found = run_record.get("format", 1)
        if not isinstance(found, int) or found > RUN_FORMAT:
            raise ConfigError(
                f"{self.run_file} was written by a newer vadbench (run folder format {found!r}; "
                f"this one reads format {RUN_FORMAT} and older): upgrade vadbench, or give this "
                "run another --results-dir"
            )

    def cell_file(self, cell_id: str) -> Path:
        """What the cell is: model, options, sources, seed and its targets with their hashes."""
        return self.cell_dir(cell_id) / "cell.json"

    def job_file(self, cell_id: str) -> Path:
        """The cell as the run planned it, for the process that runs it (``CellJob``)."""
        return self.cell_dir(cell_id) / "job.json"

    def failure_file(self, cell_id: str, target: str | None = None) -> Path:
        """Why the cell (``target`` None) or one of its targets failed, with the hash it had."""
        folder = self.cell_dir(cell_id) if target is None else self.target_dir(cell_id, target)
        return folder / "failure.json"

    def efficiency_file(self, cell_id: str) -> Path:
        return self.cell_dir(cell_id) / "efficiency.json"

    def calibration_file(self, cell_id: str) -> Path:
        """The cell's detection threshold, calibrated on normal source frames."""
        return self.cell_dir(cell_id) / "calibration.json"

    def examples_file(self, cell_id: str, target: str) -> Path:
        return self.target_dir(cell_id, target) / "examples.npz"

    def localisation_file(self, cell_id: str, target: str) -> Path:
        """The target's anomaly maps, pixel masks and tracks (``vadbench.sdk.localisation``)."""
        return self.target_dir(cell_id, target) / "localisation.npz"

    def figures_dir(self, cell_id: str) -> Path:
        """Pictures the cell's model drew while training (``FitContext.checkpoint_dir/figures``)."""
        return self.checkpoint_dir(cell_id) / FIGURES_FOLDER

    def learning_file(self, cell_id: str) -> Path:
        """The cell's held-out source curve, kept with its checkpoint (``LearningCurve``)."""
        return self.checkpoint_dir(cell_id) / LEARNING_FILE

    def snapshot_dirs(self, cell_id: str) -> dict[int, Path]:
        """The model saved at earlier training steps (a matrix's ``snapshots``), by step."""
        folder = self.checkpoint_dir(cell_id) / SNAPSHOTS_FOLDER
        found = sorted(folder.glob("step-*")) if folder.is_dir() else []
        return {int(path.name.removeprefix("step-")): path for path in found}

    def result_file(self, cell_id: str, target: str) -> Path:
        """A finished target's detection metrics; its hash marks it complete."""
        return self.target_dir(cell_id, target) / "result.json"

    def scores_file(self, cell_id: str, target: str) -> Path:
        return self.target_dir(cell_id, target) / "scores.npz"

    def fit_marker(self, folder: Path) -> Path:
        """Inside a (partial) checkpoint folder: the record that marks it complete."""
        return folder / FIT_MARKER

    def progress_file(self, cell_id: str) -> Path:
        """Where a worker process reports its cell's stage and steps for the driver to show."""
        return self.cell_dir(cell_id) / "progress.json"

    def target_dir(self, cell_id: str, target: str) -> Path:
        return self._inside(self.cell_dir(cell_id) / "targets" / target)
