"""A detection threshold that needs no target labels, calibrated when a cell is trained.

``vadbench detect`` flags frames whose raw anomaly score (high = anomalous: minus the PSNR of a
frame predictor) is above a quantile of the scores the model gives to *normal frames of its own
source domain that it never trained on*: the frames labelled normal in the source dataset's test
videos. Where the source has no test split (task-irrelevant action videos, a folder of normal
footage), the source's training videos stand in, and the record says so: the model has seen
those frames, so the threshold is lower than a held-out one would be and flags more.

No target is looked at. A threshold is a choice of operating point, not part of any AUC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vadbench.harness.records import CalibrationRecord
from vadbench.sdk.contracts import Method, VadbenchError, Video, VideoSource

DEFAULT_QUANTILE = 0.99
# Enough normal frames for a 0.99 quantile to move by little between draws; taken from the
# first videos of the split, in its sorted order.
MAX_CALIBRATION_VIDEOS = 8
MAX_STORED_SCORES = 4096
CALIBRATION_VERSION = 1


def raw_anomaly(scores: np.ndarray, score_kind: str) -> np.ndarray:
    """A model's raw scores as anomaly scores: high means abnormal, same scale across videos
    (unlike the protocol's per-video normalisation, which makes every video's maximum 1)."""
    values = np.asarray(scores, dtype=np.float64)
    return -values if score_kind == "normality" else values


@dataclass(frozen=True)
class Calibration:
    """Raw anomaly scores of normal source frames (a sorted sample) and where they come from."""

    source: str
    split: str
    frames: int
    scores: np.ndarray
    note: str

    def threshold(self, quantile: float = DEFAULT_QUANTILE) -> float:
        if not 0.0 < quantile < 1.0:
            raise VadbenchError(f"a quantile is between 0 and 1, got {quantile}")
        return float(np.quantile(self.scores, quantile))

    def to_record(self, cell_hash: str, score_precision: str) -> CalibrationRecord:
        return CalibrationRecord(
            hash=cell_hash,
            version=CALIBRATION_VERSION,
            source=self.source,
            split=self.split,
            frames=self.frames,
            note=self.note,
            scores=[float(s) for s in self.scores],
            score_precision=score_precision,
        )

    @classmethod
    def from_record(cls, record: CalibrationRecord) -> Calibration:
        scores = np.asarray(record.scores, dtype=np.float64)
        return cls(record.source, record.split, record.frames, scores, record.note)


def _sample(scores: np.ndarray) -> np.ndarray:
    """At most MAX_STORED_SCORES evenly spaced order statistics: the same quantiles, small."""
    ordered = np.sort(scores)
    if len(ordered) <= MAX_STORED_SCORES:
        return ordered
    positions = np.linspace(0, len(ordered) - 1, MAX_STORED_SCORES).round().astype(int)
    return ordered[positions]


def from_scores(
    source: str,
    split: str,
    raw_scores: Sequence[np.ndarray],
    labels: Sequence[np.ndarray | None],
    context_frames: int,
    score_kind: str,
    note: str,
) -> Calibration:
    """The calibration from a model's raw scores of source videos (scores of frames T..N-1),
    keeping only frames labelled normal where labels exist."""
    kept = []
    for scores, video_labels in zip(raw_scores, labels, strict=True):
        anomaly = raw_anomaly(scores, score_kind)
        if video_labels is not None:
            anomaly = anomaly[np.asarray(video_labels)[context_frames:] == 0]
        kept.append(anomaly[np.isfinite(anomaly)])
    pooled = np.concatenate(kept) if kept else np.zeros(0)
    if len(pooled) == 0:
        raise VadbenchError(f"{source} ({split} split): no normal frame was scored to calibrate on")
    return Calibration(source, split, len(pooled), _sample(pooled), note)


def calibrate(
    method: Method, source: str, test: VideoSource | None, train: VideoSource
) -> Calibration:
    """Score the first MAX_CALIBRATION_VIDEOS videos of the source's test split (normal frames)
    or, where it has none, of its training split."""
    videos: Sequence[Video]
    if test is not None:
        split, videos = "test", test.videos()
        note = "normal frames of the source's test videos (never trained on)"
    else:
        split, videos = "train", train.videos()
        note = (
            "the source has no labelled test split, so its training videos, which the model "
            "trained on: the threshold flags more than a held-out one would"
        )
    chosen = [v for v in videos if v.num_frames > method.context_frames][:MAX_CALIBRATION_VIDEOS]
    raw = [method.score(video) for video in chosen]
    labels = [video.labels for video in chosen]
    return from_scores(source, split, raw, labels, method.context_frames, method.score_kind, note)
