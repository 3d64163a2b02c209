"""The ``synthetic`` dataset: options, and a Dataset that renders on first read, then reads the
cached FFP/MNAD folder through the generic ``frames`` loader."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from vadbench.api import ConfigError, DatasetSpec, ListSource, Options, Split

from ..datasets.frames import FramesDataset, FramesOptions, open_frames
from .anomalies import ANOMALY_TYPES
from .cache import TI, cache_key, default_cache_dir, ensure_domain
from .domains import DOMAIN_NAMES
from .render import GENERATOR_VERSION, GeneratorParams

LAYOUT = (
    "rendered on first use into <cache_dir>/<key>/<domain>/ in the FFP/MNAD packaging: "
    "{training,testing}/frames/NN/000.png, testing/test_frame_mask/NN.npy, "
    "testing/test_pixel_mask/NN.npy, testing/test_anomaly_type/NN.npy"
)


class SyntheticOptions(Options):
    domain: str = Field(
        "campus", description=f"one of {', '.join(DOMAIN_NAMES)}, or 'ti' (task-irrelevant set)"
    )
    seed: int = Field(0, ge=0)
    resolution: int = Field(64, ge=32, le=512, description="frame height and width in pixels")
    frames_per_video: int = Field(80, ge=32, le=5000)
    train_videos: int = Field(8, ge=1, le=999)
    test_videos: int = Field(6, ge=1, le=999)
    ti_videos: int = Field(8, ge=1, le=999, description="clips of the task-irrelevant set")
    anomaly_types: tuple[str, ...] = Field(
        ANOMALY_TYPES, description=f"a subset of {', '.join(ANOMALY_TYPES)}"
    )
    cache_dir: Path | None = Field(
        None, description="default: $VADBENCH_CACHE/synthetic or ~/.cache/vadbench/synthetic"
    )

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, value: str) -> str:
        if value not in (*DOMAIN_NAMES, TI):
            raise ValueError(f"unknown domain {value!r}; known: {', '.join(DOMAIN_NAMES)}, {TI}")
        return value

    @field_validator("anomaly_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in ANOMALY_TYPES]
        if unknown:
            raise ValueError(f"unknown anomaly types {unknown}; known: {', '.join(ANOMALY_TYPES)}")
        if not value:
            raise ValueError("name at least one anomaly type")
        return tuple(t for t in ANOMALY_TYPES if t in value)  # one order: one cache entry

    def generator_params(self) -> GeneratorParams:
        return GeneratorParams(
            seed=self.seed,
            resolution=self.resolution,
            frames_per_video=self.frames_per_video,
            train_videos=self.train_videos,
            test_videos=self.test_videos,
            ti_videos=self.ti_videos,
            anomaly_types=self.anomaly_types,
        )


class SyntheticDataset:
    """One synthetic domain (or the TI set). Opening is free; the first ``source`` call renders
    the domain into the cache unless a verified copy is already there."""

    def __init__(self, options: SyntheticOptions) -> None:
        self.options = options
        self.params = options.generator_params()
        self.cache_dir = (options.cache_dir or default_cache_dir()).expanduser()

    @cached_property
    def root(self) -> Path:
        """The verified domain folder, rendered now if missing or damaged."""
        return ensure_domain(self.cache_dir, self.params, self.options.domain)

    @cached_property
    def _frames(self) -> FramesDataset:
        name = f"synthetic-{self.options.domain}"
        return open_frames(FramesOptions(root=self.root, name=name, labels="frame_mask"))

    def check_split(self, split: Split) -> None:
        """At configuration time, before anything renders: the 'ti' set has no test split (its
        clips carry no anomalies), so a matrix that tests on it fails at once."""
        if self.options.domain == TI and split == "test":
            raise ConfigError(
                "the synthetic 'ti' set is training data only (task-irrelevant clips without "
                "anomalies); it has no test split: use it as train or aux, never as a test target"
            )

    def source(self, split: Split) -> ListSource:
        self.check_split(split)
        return self._frames.source(split)

    def fingerprint(self) -> Mapping[str, Any]:
        return {
            "generator": "vadbench synthetic",
            "generator_version": GENERATOR_VERSION,
            "key": cache_key(self.params),
            "domain": self.options.domain,
            **self.params.as_dict(),
        }

    def anomaly_types(self, video_id: str) -> np.ndarray:
        """Per-frame anomaly type names of a test video ("normal" on normal frames), for
        reporting detection difficulty per type."""
        codes = np.load(self.root / "testing" / "test_anomaly_type" / f"{video_id}.npy")
        return np.array(("normal", *ANOMALY_TYPES))[codes]


def open_synthetic(options: SyntheticOptions) -> SyntheticDataset:
    return SyntheticDataset(options)


def dataset_spec() -> DatasetSpec:
    return DatasetSpec(
        name="synthetic",
        description="procedural surveillance scenes: 7 camera domains, 9 anomaly types, a TI set",
        layout=LAYOUT,
        options=SyntheticOptions,
        open=open_synthetic,
    )
