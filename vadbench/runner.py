"""Running one cell: fit (or load) the model once, then score and evaluate every target.

Each step stores its output before the next starts and is skipped on a re-run when its stored
hash matches, so a killed run resumes where it stopped. Any exception inside a cell is recorded
in the cell's folder with its stage and traceback, and the rest of the matrix goes on.
"""

from __future__ import annotations

import random
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vadbench import protocol
from vadbench.api import (
    DataError,
    Dataset,
    EfficiencyInput,
    FitContext,
    Method,
    MetricResult,
    MetricSpec,
    Progress,
    VadbenchError,
    Video,
    VideoSource,
)
from vadbench.calibration import Calibration, calibrate
from vadbench.calibration import from_scores as calibration_from_scores
from vadbench.planning import Cell, Plan, Target
from vadbench.precision import autocast_for
from vadbench.store import (
    RUN_FORMAT,
    DamagedResultWarning,
    PredictionExamples,
    RunStore,
    atomic_write_json,
    folder_checksums,
    metrics_to_json,
    read_checked_scores,
    read_record,
    remove_tree,
    write_examples,
    write_scores,
)


@dataclass
class CellOutcome:
    cell_id: str
    fitted: bool = False
    loaded: bool = False
    targets_done: int = 0
    targets_skipped: int = 0
    targets_from_stored_scores: int = 0
    measured_efficiency: bool = False
    failed: bool = False
    message: str = ""


class StageError(Exception):
    """Wraps an exception with the stage (fit, score:<target>, ...) it happened in."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VadbenchError(f"device {device!r} was asked for but CUDA is not available")
    return device


class CellRunner:
    """Runs cells of one plan against one run folder."""

    def __init__(
        self, plan: Plan, store: RunStore, progress: Progress, force: bool, efficiency: bool = True
    ) -> None:
        self.plan = plan
        self.store = store
        self.progress = progress
        self.force = force
        self.efficiency = efficiency

    def run(self, cell: Cell) -> CellOutcome:
        outcome = CellOutcome(cell.id)
        atomic_write_json(self.store.cell_file(cell.id), self._describe(cell))
        pending = [t for t in cell.targets if not self._finished(cell, t)]
        to_score = [t for t in pending if self._stored_scores(cell, t) is None]
        outcome.targets_skipped = len(cell.targets) - len(pending)
        method: Method | None = None
        try:
            if to_score or self._needs_efficiency(cell):
                method = self._fitted_method(cell, outcome)
                self._efficiency(cell, method, outcome)
        except StageError as wrapped:
            self._record_failure(self.store.failure_file(cell.id), cell.hash, wrapped, outcome)
            return outcome
        self.store.failure_file(cell.id).unlink(missing_ok=True)
        for target in pending:
            failure_file = self.store.failure_file(cell.id, target.key)
            try:
                self._evaluate(cell, target, method, outcome)
            except StageError as wrapped:
                self._record_failure(failure_file, target.hash, wrapped, outcome)
                continue
            failure_file.unlink(missing_ok=True)
        self._calibrate(cell, method)
        return outcome

    def has_work(self, cell: Cell) -> bool:
        """Whether ``run`` would do more than bookkeeping: a target to evaluate, efficiency to
        measure or a calibration to make. A driver keeps cells without work out of worker
        processes, each of which costs seconds to start."""
        return (
            any(not self._finished(cell, t) for t in cell.targets)
            or self._needs_efficiency(cell)
            or not self._calibrated(cell)
        )

    def _calibrated(self, cell: Cell) -> bool:
        """The cell's calibration is stored, belongs to this cell's hash and was scored at the
        matrix's ``score_precision`` (a record without one was scored at the cell's own)."""
        record = read_record(self.store.calibration_file(cell.id))
        return (
            not self.force
            and record is not None
            and record.get("hash") == cell.hash
            and record.get("score_precision", self.plan.precision) == self.plan.score_precision
        )

    def measure_efficiency(self, cell: Cell) -> CellOutcome:
        """The efficiency stage alone, for cells another process trained: it loads the finished
        checkpoint and measures, and never fits or scores. A cell without a finished checkpoint
        (its fit failed and was recorded, or its worker died) is left for a re-run."""
        outcome = CellOutcome(cell.id)
        if not self._needs_efficiency(cell) or not self.store.finished_checkpoint(
            cell.id, cell.hash
        ):
            return outcome
        try:
            method = self._create(cell)
            method.load(self.store.checkpoint_dir(cell.id))
        except Exception as error:
            self._record_failure(
                self.store.failure_file(cell.id),
                cell.hash,
                StageError("efficiency metrics", error),
                outcome,
            )
            return outcome
        outcome.loaded = True
        try:
            self._efficiency(cell, method, outcome)
        except StageError as wrapped:
            self._record_failure(self.store.failure_file(cell.id), cell.hash, wrapped, outcome)
        return outcome

    def _calibrate(self, cell: Cell, method: Method | None) -> None:
        """The cell's detection threshold for ``vadbench detect`` (``vadbench.calibration``),
        from normal frames of its source: the stored scores of its zero-shot in-domain target
        where it has one, else a few source videos scored now. Optional: a failure warns."""
        if self._calibrated(cell):
            return
        path = self.store.calibration_file(cell.id)
        try:
            calibration = self._calibration_from_stored_scores(cell)
            if calibration is None:
                if method is None:
                    method = self._create(cell)
                    method.load(self.store.checkpoint_dir(cell.id))
                dataset = self.plan.datasets[cell.train].dataset
                with torch.inference_mode(), self._scoring_precision():
                    calibration = calibrate(
                        method, cell.train, _labelled_test_split(dataset), dataset.source("train")
                    )
        except Exception as error:
            warnings.warn(
                f"{cell.id}: no detection threshold calibrated ({_one_line(error)}); "
                "vadbench detect then needs --threshold",
                stacklevel=1,
            )
            return
        record = {**calibration.to_json(cell.hash), "score_precision": self.plan.score_precision}
        atomic_write_json(path, record)

    def _calibration_from_stored_scores(self, cell: Cell) -> Calibration | None:
        for target in cell.targets:
            if target.dataset != cell.train or target.shots is not None:
                continue
            stored = self._stored_scores(cell, target)
            if stored is not None and not protocol.unlabelled_count(stored["labels"]):
                return calibration_from_scores(
                    cell.train,
                    "test",
                    stored["scores"],
                    stored["labels"],
                    stored["context_frames"],
                    stored["score_kind"],
                    "normal frames of the source's test videos (never trained on)",
                )
        return None

    def _training_precision(self) -> AbstractContextManager[None]:
        """The matrix's ``precision`` around a model's training (fit, adapt)."""
        return autocast_for(resolve_device(self.plan.matrix.device), self.plan.precision)

    def _scoring_precision(self) -> AbstractContextManager[None]:
        """The matrix's ``score_precision`` around a model's scoring and predictions."""
        return autocast_for(resolve_device(self.plan.matrix.device), self.plan.score_precision)

    def _finished(self, cell: Cell, target: Target) -> bool:
        return not self.force and self.store.finished_target(cell.id, target.key, target.hash)

    def _stored_scores(self, cell: Cell, target: Target) -> dict[str, Any] | None:
        """Raw scores stored by an earlier run for exactly this model and target, if any."""
        if self.force:
            return None
        stored = read_checked_scores(self.store.scores_file(cell.id, target.key))
        return stored if stored is not None and stored["hash"] == target.scores_hash else None

    def _needs_efficiency(self, cell: Cell) -> bool:
        names = [m.name for m in self.plan.efficiency_metrics]
        return (
            self.efficiency
            and bool(names)
            and (self.force or not self.store.finished_efficiency(cell.id, cell.hash, names))
        )

    @staticmethod
    def _record_failure(
        path: Path, content_hash: str, wrapped: StageError, outcome: CellOutcome
    ) -> None:
        outcome.failed = True
        message = f"{wrapped.stage}: {_one_line(wrapped.error)}"
        outcome.message = "; ".join(filter(None, [outcome.message, message]))
        atomic_write_json(
            path,
            {
                "hash": content_hash,
                "stage": wrapped.stage,
                "error": _one_line(wrapped.error),
                "type": type(wrapped.error).__name__,
                "traceback": "".join(traceback.format_exception(wrapped.error)),
                "time": time.time(),
            },
        )

    def _describe(self, cell: Cell) -> dict[str, Any]:
        return {
            "id": cell.id,
            "hash": cell.hash,
            "model": cell.model.name,
            "plugin": cell.model.spec.name,
            "preset": cell.model.preset,
            "options": cell.model.options.model_dump(mode="json"),
            "train": cell.train,
            "aux": cell.aux,
            "seed": cell.seed,
            "targets": {
                t.key: {
                    "dataset": t.dataset,
                    "protocol": t.protocol_label,
                    "hash": t.hash,
                }
                for t in cell.targets
            },
        }

    def _create(self, cell: Cell) -> Method:
        seed_everything(cell.seed)
        return cell.model.spec.create(cell.model.options, resolve_device(self.plan.matrix.device))

    def _fitted_method(self, cell: Cell, outcome: CellOutcome) -> Method:
        """The cell's model: loaded from a finished checkpoint, else trained and saved."""
        try:
            method = self._create(cell)
        except Exception as error:
            raise StageError("create", error) from error
        if not self.force and self.store.finished_checkpoint(cell.id, cell.hash):
            try:
                method.load(self.store.checkpoint_dir(cell.id))
                outcome.loaded = True
                return method
            except Exception as error:
                warnings.warn(
                    f"{self.store.checkpoint_dir(cell.id)} could not be loaded "
                    f"({_one_line(error)}); training the cell again",
                    DamagedResultWarning,
                    stacklevel=1,
                )
            try:
                method = self._create(cell)
            except Exception as error:
                raise StageError("create", error) from error
        try:
            method = self._fit(cell, method)
        except Exception as error:
            raise StageError("fit", error) from error
        outcome.fitted = True
        return method

    def _fit(self, cell: Cell, method: Method) -> Method:
        datasets = self.plan.datasets
        source = datasets[cell.train].dataset.source("train")
        aux = datasets[cell.aux].dataset.source("train") if cell.aux else None
        checkpoint = self.store.checkpoint_dir(cell.id)
        partial = checkpoint.with_name("checkpoint.partial")
        remove_tree(partial)
        partial.mkdir(parents=True)
        budget = self.plan.matrix.budget
        context = FitContext(
            device=resolve_device(self.plan.matrix.device),
            seed=cell.seed,
            progress=self.progress,
            checkpoint_dir=partial,
            budget=budget.budget() if budget is not None else None,
            adaptation=cell.adaptation,
            precision=self.plan.precision,
        )
        seed_everything(cell.seed)
        started = time.perf_counter()
        with self._training_precision():
            method.fit(source, aux, context)
        method.save(partial)
        atomic_write_json(
            self.store.fit_marker(partial),
            {
                "hash": cell.hash,
                "seconds": time.perf_counter() - started,
                "time": time.time(),
                "files": folder_checksums(partial),
            },
        )
        remove_tree(checkpoint)
        partial.rename(checkpoint)
        return method

    def _efficiency(self, cell: Cell, method: Method, outcome: CellOutcome) -> None:
        if not self._needs_efficiency(cell):
            return
        try:
            results = measure_efficiency(
                method, self.plan.efficiency_metrics, self.plan.metric_options
            )
        except Exception as error:
            raise StageError("efficiency metrics", error) from error
        outcome.measured_efficiency = True
        atomic_write_json(
            self.store.efficiency_file(cell.id),
            {
                "hash": cell.hash,
                "requested": [m.name for m in self.plan.efficiency_metrics],
                "metrics": metrics_to_json(results),
            },
        )

    def _evaluate(
        self, cell: Cell, target: Target, method: Method | None, outcome: CellOutcome
    ) -> None:
        stage = f"score {target.key}"
        try:
            stored = self._stored_scores(cell, target)
            if stored is None:
                if method is None:
                    raise VadbenchError("no model to score with")
                stored = self._score(cell, target, method)
            else:
                outcome.targets_from_stored_scores += 1
            stage = f"evaluate {target.key}"
            data = protocol.stored_detection_input(stored)
            results = [r for m in self.plan.detection_metrics for r in m.compute(data)]
        except Exception as error:
            raise StageError(stage, error) from error
        atomic_write_json(
            self.store.result_file(cell.id, target.key),
            {
                "hash": target.hash,
                "target": target.dataset,
                "protocol": target.protocol_label,
                "videos": len(data.video_ids),
                "frames": int(sum(len(s) for s in data.scores)),
                "metrics": metrics_to_json(results),
                "time": time.time(),
            },
        )
        outcome.targets_done += 1

    def _adapted(self, cell: Cell, target: Target, method: Method) -> Method:
        """The k-shot protocol: adapt a copy of the model on clips of the target's training
        split (never its test split)."""
        assert target.shots is not None
        train_split = self.plan.datasets[target.dataset].dataset.source("train")
        support = protocol.draw_support(
            train_split, target.shots, method.context_frames + 1, seed=cell.seed
        )
        work_dir = self.store.target_dir(cell.id, target.key)
        work_dir.mkdir(parents=True, exist_ok=True)
        context = FitContext(
            device=resolve_device(self.plan.matrix.device),
            seed=cell.seed,
            progress=self.progress,
            checkpoint_dir=work_dir,
            precision=self.plan.precision,
        )
        seed_everything(cell.seed)
        with self._training_precision():
            adapted: Method = getattr(method, "adapt")(support, context)  # noqa: B009
        return adapted

    def _store_examples(
        self,
        cell: Cell,
        target: Target,
        method: Method,
        videos: Sequence[Video],
        raw_scores: Sequence[np.ndarray],
    ) -> None:
        """The target's most anomalous frames with the model's predictions of them, for the
        difference maps of reports; only for models with ``predictions``. Pictures are
        optional: one that cannot be made warns and never fails the target."""
        predictions = getattr(method, "predictions", None)
        if predictions is None:
            return
        picks = most_anomalous_frames(
            raw_scores, method.context_frames, method.score_kind, EXAMPLES_PER_TARGET
        )
        try:
            frames, predicted, video_ids, indices, labels, scores = [], [], [], [], [], []
            for video_index, frame_index, score in picks:
                video = videos[video_index]
                with torch.inference_mode(), self._scoring_precision():
                    truth, guess = predictions(video, [frame_index])
                frames.append(truth[0])
                predicted.append(guess[0])
                video_ids.append(video.id)
                indices.append(frame_index)
                labels.append(int(video.labels[frame_index]) if video.labels is not None else 0)
                scores.append(score)
            if not frames:
                return
            truth_frames, predicted_frames = np.stack(frames), np.stack(predicted)
            write_examples(
                self.store.examples_file(cell.id, target.key),
                PredictionExamples(
                    tuple(video_ids),
                    tuple(indices),
                    tuple(labels),
                    tuple(scores),
                    to_pixels(truth_frames),
                    to_pixels(predicted_frames),
                    np.abs(truth_frames - predicted_frames).mean(axis=-1),
                ),
            )
        except Exception as error:
            warnings.warn(
                f"{cell.model.name} → {target.key}: no difference maps ({_one_line(error)})",
                stacklevel=1,
            )

    def _score(self, cell: Cell, target: Target, method: Method) -> dict[str, Any]:
        if target.shots is not None:
            method = self._adapted(cell, target, method)
        videos = self.plan.datasets[target.dataset].dataset.source("test").videos()
        ids, raw_scores, labels = [], [], []
        advance = self.progress.task(f"{cell.model.name} → {target.key}", len(videos))
        for video in videos:
            with torch.inference_mode(), self._scoring_precision():
                raw_scores.append(checked_scores(method.score(video), video, cell.model.name))
            ids.append(video.id)
            labels.append(
                video.labels
                if video.labels is not None
                else np.full(video.num_frames, protocol.UNLABELLED, np.int8)
            )
            advance(1)
        self._store_examples(cell, target, method, videos, raw_scores)
        write_scores(
            self.store.scores_file(cell.id, target.key),
            ids,
            raw_scores,
            labels,
            method.context_frames,
            method.score_kind,
            target.scores_hash,
        )
        return {
            "video_ids": ids,
            "scores": raw_scores,
            "labels": labels,
            "context_frames": method.context_frames,
            "score_kind": method.score_kind,
        }


def checked_scores(scores: Any, video: Video, model: str) -> np.ndarray:
    """A model's scores for one video as a 1-D float array, or a DataError naming the model
    and the video and saying what came back instead."""
    if scores is None:
        raise DataError(f"model {model!r} returned None instead of scores for video {video.id!r}")
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(
            f"model {model!r} returned scores for video {video.id!r} that are not numbers "
            f"({type(scores).__name__}: {error})"
        ) from error
    if array.ndim != 1:
        raise DataError(
            f"model {model!r} returned scores of shape {tuple(array.shape)} for video "
            f"{video.id!r}; expected a 1-D array with one score per frame"
        )
    return array


def _labelled_test_split(dataset: Dataset) -> VideoSource | None:
    """The dataset's test split when it has one whose videos all have labels, else None."""
    try:
        check = getattr(dataset, "check_split", None)
        if check is not None:
            check("test")
        test = dataset.source("test")
        if any(video.labels is None for video in test.videos()):
            return None
    except VadbenchError:
        return None
    return test


EXAMPLES_PER_TARGET = 3


def most_anomalous_frames(
    raw_scores: Sequence[np.ndarray], context_frames: int, score_kind: str, count: int
) -> list[tuple[int, int, float]]:
    """(video, frame, raw score) of the ``count`` frames with the most anomalous raw scores of a
    target, one per video so the examples show different scenes. Raw scores, not the protocol's
    per-video normalised ones: those make every video's top frame equally anomalous."""
    best = []
    for video_index, scores in enumerate(raw_scores):
        if len(scores) == 0:
            continue
        anomaly = -scores if score_kind == "normality" else scores
        position = int(np.argmax(anomaly))
        best.append((float(anomaly[position]), video_index, position + context_frames))
    best.sort(key=lambda item: -item[0])
    return [
        (video_index, frame, float(raw_scores[video_index][frame - context_frames]))
        for _, video_index, frame in best[:count]
    ]


def to_pixels(frames: np.ndarray) -> np.ndarray:
    """Frames in [0, 1] as uint8."""
    return np.round(np.clip(frames, 0.0, 1.0) * 255).astype(np.uint8)


def measure_efficiency(
    method: Method,
    metrics: Sequence[MetricSpec],
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[MetricResult]:
    """Every efficiency metric on the module the method runs per test frame.

    A metric that raises is reported as n/a with its error, so one broken counter never hides
    the others; a model that cannot hand out its module raises.
    """
    handed_out = method.inference_module()
    results: list[MetricResult] = []
    for metric in metrics:
        if handed_out is None:
            results.append(MetricResult(metric.name, None, "", False, note="model is not neural"))
            continue
        module, example = handed_out
        device = str(example[0].device)
        try:
            settings = (options or {}).get(metric.name, {})
            data = EfficiencyInput(module, example, device, method, settings)
            results.extend(metric.compute(data))
        except Exception as error:
            note = f"failed: {_one_line(error)}"
            results.append(MetricResult(metric.name, None, "", False, note=note))
    return results


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first}" if not isinstance(error, VadbenchError) else first


def write_run_file(plan: Plan, store: RunStore, environment: dict[str, Any]) -> None:
    """Record what this invocation planned; earlier invocations are kept in its history."""
    previous = read_record(store.run_file) or {}
    store.check_format(previous)
    invocation = {"time": time.time(), "matrix": str(plan.source_file), "seeds": plan.matrix.seeds}
    atomic_write_json(
        store.run_file,
        {
            "format": RUN_FORMAT,
            "name": plan.name,
            "matrix_file": str(plan.source_file),
            "config": plan.raw,
            "datasets": {name: d.fingerprint for name, d in plan.datasets.items()},
            "cells": {cell.id: cell.hash for cell in plan.cells},
            "targets": {cell.id: {t.key: t.hash for t in cell.targets} for cell in plan.cells},
            "seeds": plan.matrix.seeds,
            "budget": plan.matrix.budget.model_dump(exclude_none=True)
            if plan.matrix.budget
            else None,
            "metrics": {
                "detection": [m.name for m in plan.detection_metrics],
                "efficiency": [m.name for m in plan.efficiency_metrics],
                "headline": plan.headline,
            },
            "reporters": plan.matrix.reporters,
            "environment": environment,
            "invocations": [*previous.get("invocations", []), invocation],
        },
    )
