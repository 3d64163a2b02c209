"""The generator's entry points: parameters in, frames, exact labels and masks out.

Everything is a pure function of ``GeneratorParams`` and the video's place (domain, split,
index), so any video can be re-rendered alone and a parameter change is a different dataset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from vadbench.sdk import ConfigError

from .anomalies import anomaly_code, plan_anomalies
from .domains import ANOMALY_TYPES, Domain, as_domain
from .figures import draw
from .scene import (
    apply_sensor,
    compose,
    pedestrians,
    rng_for,
    scene_for,
)
from .ti import render_ti_frames

GENERATOR_VERSION = "1"
MIN_ABNORMAL, MAX_ABNORMAL = 0.25, 0.80
PLAN_ATTEMPTS = 30


@dataclass(frozen=True)
class GeneratorParams:
    """Everything that decides the generated pixels (the cache key is a hash of it)."""

    seed: int = 0
    resolution: int = 64
    frames_per_video: int = 80
    train_videos: int = 8
    test_videos: int = 6
    ti_videos: int = 8
    anomaly_types: tuple[str, ...] = ANOMALY_TYPES

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["anomaly_types"] = list(self.anomaly_types)
        return values


@dataclass(frozen=True)
class RenderedVideo:
    """One video in memory. Test videos carry (T, H, W) 0/1 pixel masks and per-frame anomaly
    type codes (0 normal, ``anomaly_code(name)`` otherwise); labels derive from the masks."""

    frames: np.ndarray
    pixel_mask: np.ndarray | None = None
    anomaly_type: np.ndarray | None = None

    @property
    def labels(self) -> np.ndarray | None:
        if self.pixel_mask is None:
            return None
        return np.asarray(self.pixel_mask.any(axis=(1, 2)), dtype=np.uint8)


def anomaly_order(params: GeneratorParams, domain: Domain, index: int) -> list[str]:
    """The anomaly types test video ``index`` tries, in turn: those of ``params`` that the
    domain's anomaly mix holds. With equal weights, a per-domain shuffle rotated per video, so
    that the test split of a domain covers every type when it has room; with unequal weights,
    each turn drawn by weight, so heavier types make more of the domain's events."""
    weights = dict(domain.anomalies)
    kinds = [kind for kind in params.anomaly_types if kind in weights]
    if len({weights[kind] for kind in kinds}) > 1:
        share = np.array([weights[kind] for kind in kinds])
        rng = rng_for(params.seed, domain.name, "anomaly-order", index)
        return [kinds[i] for i in rng.choice(len(kinds), size=len(kinds), p=share / share.sum())]
    shuffled = [
        kinds[i] for i in rng_for(params.seed, domain.name, "anomaly-order").permutation(len(kinds))
    ]
    offset = index * len(kinds) // max(params.test_videos, 1)
    return [shuffled[(offset + j) % len(kinds)] for j in range(len(kinds))]


def render_video(
    domain: Domain | str, params: GeneratorParams, split: Literal["train", "test"], index: int
) -> RenderedVideo:
    """Video ``index`` (0-based) of a domain's split (a Domain, or a built-in's name). Training
    videos hold only normal events; test videos mix normal and abnormal stretches, 25-80%
    abnormal frames."""
    domain = as_domain(domain)
    scene = scene_for(domain, params.seed, params.resolution)
    num_frames = params.frames_per_video
    if split == "train":
        rng = rng_for(params.seed, domain.name, "train", index)
        canvas = compose(scene, num_frames, pedestrians(scene, rng, num_frames))
        return RenderedVideo(apply_sensor(canvas, scene.light, domain.sensor, rng))
    order = anomaly_order(params, domain, index)
    if not order:
        raise ConfigError(
            f"synthetic domain {domain.name!r}: none of the anomaly types "
            f"{', '.join(params.anomaly_types)} is in its anomaly mix "
            f"({', '.join(kind for kind, _ in domain.anomalies)})"
        )
    for attempt in range(PLAN_ATTEMPTS):
        rng = rng_for(params.seed, domain.name, "test", index, attempt)
        canvas = compose(scene, num_frames, pedestrians(scene, rng, num_frames))
        mask = np.zeros(canvas.shape[:3], dtype=bool)
        types = np.zeros(num_frames, dtype=np.uint8)
        for kind, actor in plan_anomalies(scene, rng, num_frames, order):
            types[draw(canvas, actor, mask)] = anomaly_code(kind)
        fraction = mask.any(axis=(1, 2)).mean()
        if MIN_ABNORMAL <= fraction <= MAX_ABNORMAL:
            frames = apply_sensor(canvas, scene.light, domain.sensor, rng)
            return RenderedVideo(frames, mask.astype(np.uint8), types)
    raise ConfigError(
        f"synthetic domain {domain.name!r}: could not place anomalies on {MIN_ABNORMAL:.0%}-"
        f"{MAX_ABNORMAL:.0%} of a {num_frames}-frame test video with types "
        f"{', '.join(dict.fromkeys(order))}; use more frames per video or more anomaly types"
    )


def render_ti_clip(params: GeneratorParams, index: int) -> RenderedVideo:
    """Clip ``index`` of the task-irrelevant set (training only, no labels)."""
    return RenderedVideo(
        render_ti_frames(params.seed, index, params.frames_per_video, params.resolution)
    )
