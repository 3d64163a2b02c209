"""The calibrate stage: the cell's detection threshold for ``vadbench detect``
(``vadbench.harness.calibration``), from normal frames of its source: the stored scores of its
zero-shot in-domain target where it has them, else a few source videos scored now. Optional:
a failure warns and never fails the cell."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from vadbench.harness.calibration import Calibration, calibrate, from_scores
from vadbench.harness.planning import Cell
from vadbench.harness.stages.context import LazySource, StageContext
from vadbench.sdk.contracts import Dataset, Method, VadbenchError, VideoSource
from vadbench.sdk.protocol import unlabelled_count
from vadbench.sdk.runfolder import StoredScores
from vadbench.sdk.validation import one_line


def calibrate_stage(
    cell: Cell,
    scores: dict[str, StoredScores],
    method: Callable[[], Method],
    ctx: StageContext,
) -> None:
    """``scores``: the target scores at hand (stored or made by this walk), by target key;
    ``method``: the cell's model, loaded only if the source must be scored."""
    try:
        calibration = _from_target_scores(cell, scores)
        if calibration is None:
            dataset = ctx.datasets[cell.train].dataset
            model = method()
            with torch.inference_mode(), ctx.scoring_precision():
                calibration = calibrate(
                    model, cell.train, _labelled_test_split(dataset), LazySource(dataset, "train")
                )
    except Exception as error:
        warnings.warn(
            f"{cell.id}: no detection threshold calibrated ({one_line(error)}); "
            "vadbench detect then needs --threshold",
            stacklevel=1,
        )
        return
    ctx.store.write(calibration.to_record(cell.hash, ctx.score_precision), cell.id)


def _from_target_scores(cell: Cell, scores: dict[str, StoredScores]) -> Calibration | None:
    target = cell.calibration_target
    stored = scores.get(target.key) if target is not None else None
    if stored is None or unlabelled_count(stored.labels):
        return None
    return from_scores(
        cell.train,
        "test",
        stored.scores,
        stored.labels,
        stored.context_frames,
        stored.score_kind,
        "normal frames of the source's test videos (never trained on)",
    )


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
