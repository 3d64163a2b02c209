"""The score stage: raw per-frame scores of every test video of a target (after adapting the
model under k-shot), stored with full-length labels so any metric can be recomputed, and a few
of the target's most anomalous frames with the model's predictions of them (difference maps)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vadbench.harness.planning import Cell, Target
from vadbench.harness.stages.adapt import adapted
from vadbench.harness.stages.context import StageContext
from vadbench.sdk.contracts import DataError, Localising, Method, Predicting, Video
from vadbench.sdk.localisation import (
    anomaly_tracks,
    compact_maps,
    masks_at,
    write_localisation,
)
from vadbench.sdk.protocol import UNLABELLED
from vadbench.sdk.runfolder import PredictionExamples, StoredScores, write_examples, write_scores
from vadbench.sdk.validation import one_line

EXAMPLES_PER_TARGET = 3


def score_target(cell: Cell, target: Target, method: Method, ctx: StageContext) -> StoredScores:
    """The target's raw scores, stored."""
    if target.shots is not None:
        method = adapted(cell, target, method, ctx)
    dataset = ctx.datasets[target.dataset].dataset
    videos = dataset.source("test").videos()
    types_of = getattr(dataset, "anomaly_types", None)
    ids, raw_scores, labels, types = [], [], [], []
    advance = ctx.progress.task(f"{cell.model.name} → {target.key}", len(videos))
    for video in videos:
        with torch.inference_mode(), ctx.scoring_precision():
            raw_scores.append(checked_scores(method.score(video), video, cell.model.name))
        ids.append(video.id)
        labels.append(
            checked_labels(video, target.dataset)
            if video.labels is not None
            else np.full(video.num_frames, UNLABELLED, np.int8)
        )
        if callable(types_of):
            types.append(np.asarray(types_of(video.id)).astype(str))
        advance(1)
    store_examples(cell, target, method, videos, raw_scores, ctx)
    store_localisation(cell, target, method, videos, ctx)
    stored = StoredScores(
        target.scores_hash,
        tuple(ids),
        tuple(raw_scores),
        tuple(labels),
        method.context_frames,
        method.score_kind,
        tuple(types) if callable(types_of) else None,
    )
    write_scores(ctx.store.scores_file(cell.id, target.key), stored)
    return stored


def checked_labels(video: Video, dataset: str) -> np.ndarray:
    """A test video's frame labels as 0/1, or a DataError naming the dataset, the video and
    the first value that is neither (a 2, a -1 or a NaN is a broken label file, never a label)."""
    raw = np.asarray(video.labels).reshape(-1)
    numeric = raw.astype(np.float64, copy=False) if raw.dtype.kind in "biuf" else None
    bad = (
        np.flatnonzero(~np.isin(numeric, (0.0, 1.0)))
        if numeric is not None
        else np.arange(min(len(raw), 1))
    )
    if len(bad):
        raise DataError(
            f"dataset {dataset!r}, video {video.id!r}: frame {int(bad[0])} is labelled "
            f"{raw[bad[0]]!r}; frame labels are 0 (normal) or 1 (anomalous)"
        )
    return raw.astype(np.int8)


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


def store_localisation(
    cell: Cell, target: Target, method: Method, videos: Sequence[Video], ctx: StageContext
) -> None:
    """The model's anomaly maps of every test video, with the pixel masks at their size and
    the anomaly tracks, where a metric of the run reads them, the model localises and every
    video has pixel masks (``vadbench.sdk.localisation``)."""
    if not ctx.wants_maps or not isinstance(method, Localising):
        return
    if not videos or not all(video.has_masks for video in videos):
        return
    context = method.context_frames
    maps, masks, tracks = [], [], []
    for video in videos:
        with torch.inference_mode(), ctx.scoring_precision():
            video_maps = compact_maps(method.anomaly_maps(video))
        scored = video.num_frames - context
        if len(video_maps) != scored:
            raise DataError(
                f"model {cell.model.name!r} returned {len(video_maps)} anomaly maps for video "
                f"{video.id!r}; expected {scored}, one per frame after the first {context}"
            )
        truth = np.stack([video.mask(index) for index in range(video.num_frames)])
        masks.append(masks_at(truth[context:], video_maps.shape[1:]))
        tracks.append(anomaly_tracks(np.asarray(truth.any(axis=(1, 2))))[context:])
        maps.append(video_maps)
    write_localisation(
        ctx.store.localisation_file(cell.id, target.key),
        [video.id for video in videos],
        maps,
        masks,
        tracks,
    )


def store_examples(
    cell: Cell,
    target: Target,
    method: Method,
    videos: Sequence[Video],
    raw_scores: Sequence[np.ndarray],
    ctx: StageContext,
) -> None:
    """The target's most anomalous frames with the model's predictions of them, for the
    difference maps of reports; only for models that predict frames. Pictures are optional: one
    that cannot be made warns and never fails the target."""
    if not isinstance(method, Predicting):
        return
    picks = most_anomalous_frames(
        raw_scores, method.context_frames, method.score_kind, EXAMPLES_PER_TARGET
    )
    try:
        frames, predicted, video_ids, indices, labels, scores = [], [], [], [], [], []
        for video_index, frame_index, score in picks:
            video = videos[video_index]
            with torch.inference_mode(), ctx.scoring_precision():
                truth, guess = method.predictions(video, [frame_index])
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
            ctx.store.examples_file(cell.id, target.key),
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
            f"{cell.model.name} → {target.key}: no difference maps ({one_line(error)})",
            stacklevel=1,
        )


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
