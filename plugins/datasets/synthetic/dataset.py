"""The ``synthetic`` dataset: options, and a Dataset that renders on first read, then reads the
cached FFP/MNAD folder through the generic ``frames`` loader."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from vadbench.sdk import ConfigError, DatasetSpec, ListSource, Options, Split

from ..frames import FramesDataset, FramesOptions, open_frames
from .cache import cache_key, default_cache_dir, ensure_domain, writable_cache
from .domains import ANOMALY_TYPES, DOMAIN_NAMES, TI, Domain, domain_identity, load_domain
from .render import GENERATOR_VERSION, GeneratorParams

LAYOUT = (
    "rendered on first use into <cache_dir>/<key>/<domain>/ in the FFP/MNAD packaging: "
    "{training,testing}/frames/NN/000.png, testing/test_frame_mask/NN.npy, "
    "testing/test_pixel_mask/NN.npy, testing/test_anomaly_type/NN.npy"
)


class SyntheticOptions(Options):
    domain: str | dict[str, Any] = Field(
        "campus",
        description=f"one of {', '.join(DOMAIN_NAMES)}, 'ti' (task-irrelevant set), a path to a "
        "domain .yaml file (relative to the current folder), or a domain's fields inline (see "
        "docs/synthetic.md, Custom domains)",
    )
    seed: int = Field(0, ge=0)
    resolution: int = Field(64, ge=32, le=512, description="frame height and width in pixels")
    frames_per_video: int = Field(80, ge=32, le=5000)
    train_videos: int = Field(8, ge=1, le=999)
    test_videos: int = Field(6, ge=1, le=999)
    ti_videos: int = Field(8, ge=1, le=999, description="clips of the task-irrelevant set")
    anomaly_types: tuple[str, ...] = Field(
        ANOMALY_TYPES,
        description=f"a subset of {', '.join(ANOMALY_TYPES)}: narrows the domain's anomaly mix",
    )
    cache_dir: Path | None = Field(
        None, description="default: $VADBENCH_CACHE/synthetic or ~/.cache/vadbench/synthetic"
    )

    @field_validator("domain", mode="before")
    @classmethod
    def _readable_domain(cls, value: object) -> object:
        """Read and check a custom domain now, so that a bad one fails at configuration time
        (its error names the file or 'inline domain', and the field)."""
        if value == TI:
            return value
        if not isinstance(value, str | Mapping):
            raise ValueError("expected a domain name, a path to a .yaml domain file, or a mapping")
        try:
            load_domain(value)
        except ConfigError as error:
            raise ValueError(str(error)) from error
        return value

    @field_validator("anomaly_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        """Names anomaly types; they narrow the domain's anomaly mix and must leave one."""
        unknown = [v for v in value if v not in ANOMALY_TYPES]
        if unknown:
            raise ValueError(f"unknown anomaly types {unknown}; known: {', '.join(ANOMALY_TYPES)}")
        if not value:
            raise ValueError("name at least one anomaly type")
        domain = info.data.get("domain", TI)  # absent when the domain was refused
        if domain != TI:
            camera = load_domain(domain)
            mix = [kind for kind, _ in camera.anomalies]
            if not set(mix) & set(value):
                raise ValueError(
                    f"none of {', '.join(value)} is in the anomaly mix of domain "
                    f"{camera.name!r} ({', '.join(mix)})"
                )
        return tuple(t for t in ANOMALY_TYPES if t in value)  # one order: one cache entry

    def camera(self) -> Domain | None:
        """The camera domain these options name (None for the TI set)."""
        return None if self.domain == TI else load_domain(self.domain)

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
        writable_cache(self.cache_dir, options.cache_dir is None)
        self.domain = options.camera()

    @cached_property
    def root(self) -> Path:
        """The verified domain folder, rendered now if missing or damaged."""
        return ensure_domain(self.cache_dir, self.params, self.domain or TI)

    @cached_property
    def _frames(self) -> FramesDataset:
        name = f"synthetic-{self.domain.name if self.domain else TI}"
        return open_frames(FramesOptions(root=self.root, name=name, labels="frame_mask"))

    def check_split(self, split: Split) -> None:
        """At configuration time, before anything renders: the 'ti' set has no test split (its
        clips carry no anomalies), so a matrix that tests on it fails at once."""
        if self.domain is None and split == "test":
            raise ConfigError(
                "the synthetic 'ti' set is training data only (task-irrelevant clips without "
                "anomalies); it has no test split: use it as train or aux, never as a test target"
            )

    def source(self, split: Split) -> ListSource:
        self.check_split(split)
        return self._frames.source(split)

    def fingerprint(self) -> Mapping[str, Any]:
        """A built-in domain by its name (stored hashes stay valid); a custom one by its full
        content, so that editing its file gives new hashes."""
        return {
            "generator": "vadbench synthetic",
            "generator_version": GENERATOR_VERSION,
            "key": cache_key(self.params),
            **domain_identity(self.domain or TI),
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
