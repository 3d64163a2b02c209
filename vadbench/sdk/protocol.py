"""The frame-level evaluation protocol, with FFP's as the default and the field's common
variants as named settings (``EvaluationProtocol``, ``PROTOCOLS``).

FFP's protocol (``ffp``), which most prediction- and reconstruction-based VAD code follows:

1. A model that needs T context frames scores frames T..N-1; the first T labels of each video are
   dropped (they are not counted as normal).
2. Per video, raw scores are min-max normalised. A constant-score video (max == min) carries no
   ranking information; all its frames get 0.5 rather than the NaN a plain division gives.
3. Normality scores (PSNR: high = normal) become anomaly scores as 1 - s.
4. Detection metrics (plugins) read these anomaly scores (``protocol_scores``): the built-in
   micro AUC concatenates all videos in sorted order for one ROC AUC, the macro AUC averages
   ``per_video_auc`` over the videos that hold both classes.

The variants change step 1 (``context: fill`` keeps every label and gives the first T frames the
first scored frame's score), step 2 (``normalisation: global`` min-max over the whole target,
``none`` keeps raw scores) and add temporal smoothing of each video's raw scores before step 2
(``gaussian`` with ``sigma`` and ``radius`` as scipy's ``gaussian_filter1d``, or a
``moving-average`` over ``window`` frames, both reflecting at the video's ends), as top methods
smooth with σ = 3 on Ped2 and Avenue and σ = 7 on ShanghaiTech, and MPN's code with a 15-tap
Gaussian of σ = 2 (``mpn``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from vadbench.sdk.contracts import (
    ConfigError,
    DataError,
    DetectionInput,
    EvaluationProtocol,
    ListSource,
    ScoreKind,
    Video,
    VideoSource,
)
from vadbench.sdk.runfolder import StoredScores

CONSTANT_VIDEO_SCORE = 0.5


PROTOCOLS: dict[str, EvaluationProtocol] = {
    protocol.name: protocol
    for protocol in (
        EvaluationProtocol(name="ffp"),
        EvaluationProtocol(name="ffp-gauss3", smoothing="gaussian", sigma=3.0),
        EvaluationProtocol(name="ffp-gauss7", smoothing="gaussian", sigma=7.0),
        EvaluationProtocol(name="global", normalisation="global"),
        EvaluationProtocol(name="global-gauss3", normalisation="global", smoothing="gaussian"),
        EvaluationProtocol(name="raw", normalisation="none"),
        EvaluationProtocol(name="ffp-fill", context="fill"),
        EvaluationProtocol(name="mpn", smoothing="gaussian", sigma=2.0, radius=7),
    )
}
DEFAULT_PROTOCOL = PROTOCOLS["ffp"]


def evaluation_protocol(value: str | Mapping[str, Any] | None, where: str) -> EvaluationProtocol:
    """A protocol by name (``PROTOCOLS``) or by settings; None is FFP's. A named protocol
    whose settings are given too must agree with them."""
    from vadbench.sdk.validation import did_you_mean

    if value is None:
        return DEFAULT_PROTOCOL
    if isinstance(value, str):
        if value not in PROTOCOLS:
            raise ConfigError(
                f"{where}: unknown evaluation protocol {value!r}{did_you_mean(value, PROTOCOLS)} "
                f"(named: {', '.join(PROTOCOLS)}; or give its settings)"
            )
        return PROTOCOLS[value]
    try:
        protocol = EvaluationProtocol.model_validate(dict(value))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{where}: {problems}") from error
    named = PROTOCOLS.get(protocol.name)
    if named is None:
        return protocol
    merged = EvaluationProtocol.model_validate({**named.model_dump(), **dict(value)})
    if not named.same_as(merged):
        raise ConfigError(
            f"{where}: {protocol.name!r} is a named protocol with other settings; rename it "
            "or leave its settings out"
        )
    return named


# The stored label of every frame of a test video that has no labels (your own footage): it is
# scored, and no metric that needs labels is computed on its target.
UNLABELLED = -1


def unlabelled_videos(data: DetectionInput) -> int:
    """How many of a target's videos have no frame labels."""
    return unlabelled_count(data.labels)


def unlabelled_count(labels: Sequence[np.ndarray]) -> int:
    """How many of these per-video label arrays are a video's without labels."""
    return sum(1 for video_labels in labels if len(video_labels) and video_labels.min() < 0)


def unlabelled_note(data: DetectionInput) -> str:
    """Why a metric that needs labels is n/a on this target."""
    count = unlabelled_videos(data)
    return (
        f"{count} of {len(data.video_ids)} test video(s) have no frame labels: scored, "
        "not evaluated"
    )


NORMAL_TYPE = "normal"  # the anomaly type name of a normal frame (``Dataset.anomaly_types``)


def align(
    video_id: str,
    scores: np.ndarray,
    labels: np.ndarray,
    context_frames: int,
    context: str = "drop",
) -> tuple[np.ndarray, np.ndarray]:
    """Drop the first ``context_frames`` labels (``context: fill``: keep them and give those
    frames the first scored frame's score) and check scores and labels line up."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise DataError(
            f"video {video_id!r}: scores have shape {tuple(scores.shape)}; expected one score "
            "per frame (a 1-D array)"
        )
    kept_labels = np.asarray(labels).reshape(-1)[context_frames:].astype(np.int8)
    if len(scores) != len(kept_labels):
        raise DataError(
            f"video {video_id!r}: {len(scores)} scores for {len(labels)} frames "
            f"(expected {len(kept_labels)}: one per frame after the first {context_frames})"
        )
    if not np.all(np.isfinite(scores)):
        bad = int(np.flatnonzero(~np.isfinite(scores))[0]) + context_frames
        raise DataError(
            f"video {video_id!r}: score of frame {bad} is {scores[bad - context_frames]}"
        )
    if context == "fill" and context_frames and len(scores):
        filled = np.concatenate([np.full(context_frames, scores[0]), scores])
        return filled, np.asarray(labels).reshape(-1).astype(np.int8)
    return scores, kept_labels


def normalise(scores: np.ndarray) -> np.ndarray:
    """Min-max normalise one video's scores to [0, 1], guarding constant videos (and videos
    too short to have any scored frame)."""
    if len(scores) == 0:
        return np.zeros(0)
    low, high = float(np.min(scores)), float(np.max(scores))
    if high - low <= np.finfo(np.float64).eps * max(1.0, abs(high)):
        return np.full(len(scores), CONSTANT_VIDEO_SCORE)
    return (scores - low) / (high - low)


def anomaly_scores(scores: np.ndarray, score_kind: ScoreKind) -> np.ndarray:
    """Normalised anomaly score of one video under FFP's protocol: high means abnormal."""
    normalised = normalise(scores)
    return 1.0 - normalised if score_kind == "normality" else normalised


def smooth(scores: np.ndarray, protocol: EvaluationProtocol) -> np.ndarray:
    """One video's raw scores smoothed in time as the protocol says (reflecting at its ends)."""
    from scipy.ndimage import gaussian_filter1d, uniform_filter1d

    if len(scores) == 0:
        return scores
    if protocol.smoothing == "gaussian":
        return gaussian_filter1d(scores, protocol.sigma, mode="reflect", radius=protocol.radius)
    if protocol.smoothing == "moving-average":
        return uniform_filter1d(scores, protocol.window, mode="reflect")
    return scores


def protocol_scores(data: DetectionInput) -> tuple[np.ndarray, ...]:
    """Every video's anomaly scores (high means abnormal) under the target's protocol:
    smoothed, then normalised per video, over the whole target or not at all."""
    protocol = data.protocol
    smoothed = [smooth(np.asarray(s, np.float64), protocol) for s in data.scores]
    if protocol.normalisation == "per-video":
        normalised = [normalise(s) for s in smoothed]
    elif protocol.normalisation == "global" and smoothed:
        whole = normalise(np.concatenate(smoothed))
        bounds = np.cumsum([len(s) for s in smoothed])[:-1]
        normalised = list(np.split(whole, bounds))
    else:
        normalised = smoothed
    if data.score_kind == "normality":
        return tuple(1.0 - s for s in normalised)
    return tuple(normalised)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's ROC AUC, imported on first use: it costs a second at CLI start-up."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def per_video_auc(data: DetectionInput) -> dict[str, float]:
    """AUC of each video that holds both classes."""
    result = {}
    scored = protocol_scores(data)
    for video_id, scores, labels in zip(data.video_ids, scored, data.labels, strict=True):
        if len(np.unique(labels)) == 2:
            result[video_id] = roc_auc(labels, scores)
    return result


def stored_detection_input(
    stored: StoredScores, protocol: EvaluationProtocol = DEFAULT_PROTOCOL
) -> DetectionInput:
    """The DetectionInput of scores as a run stored them, under ``protocol``."""
    return detection_input(
        stored.video_ids,
        stored.scores,
        stored.labels,
        stored.context_frames,
        stored.score_kind,
        stored.types,
        protocol,
    )


def detection_input(
    video_ids: Sequence[str],
    raw_scores: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    context_frames: int,
    score_kind: ScoreKind,
    types: Sequence[np.ndarray] | None = None,
    protocol: EvaluationProtocol = DEFAULT_PROTOCOL,
) -> DetectionInput:
    """Align every video and bundle them, sorted by video id, for the detection metrics
    (anomaly types, where given, are aligned like the labels)."""
    order = sorted(range(len(video_ids)), key=lambda i: video_ids[i])
    aligned = [
        align(video_ids[i], raw_scores[i], labels[i], context_frames, protocol.context)
        for i in order
    ]
    kept = 0 if protocol.context == "fill" else context_frames
    return DetectionInput(
        video_ids=tuple(video_ids[i] for i in order),
        scores=tuple(a[0] for a in aligned),
        labels=tuple(a[1] for a in aligned),
        score_kind=score_kind,
        types=None
        if types is None
        else tuple(np.asarray(types[i]).reshape(-1)[kept:] for i in order),
        protocol=protocol,
    )


def _clip(video: Video, start: int, length: int) -> Video:
    def read(first: int, stop: int) -> np.ndarray:
        return video.frames(start + first, start + stop)

    return Video(id=f"{video.id}@{start}", num_frames=length, read_frames=read)


def draw_support(train_split: VideoSource, shots: int, clip_length: int, seed: int) -> ListSource:
    """The k-shot support set: ``shots`` clips of ``clip_length`` consecutive frames drawn
    uniformly over every possible clip start in the target's *training* videos."""
    if train_split.split != "train":
        raise DataError(f"{train_split.name}: k-shot support must come from the training split")
    videos = [v for v in train_split.videos() if v.num_frames >= clip_length]
    starts = [
        (index, start)
        for index, v in enumerate(videos)
        for start in range(v.num_frames - clip_length + 1)
    ]
    if len(starts) < shots:
        raise DataError(
            f"{train_split.name}: {shots}-shot needs {shots} clips of {clip_length} frames; "
            f"its training split has {len(starts)}"
        )
    chosen = np.random.default_rng(seed).choice(len(starts), size=shots, replace=False)
    clips = tuple(_clip(videos[starts[i][0]], starts[i][1], clip_length) for i in sorted(chosen))
    return ListSource(train_split.name, "train", clips)
