"""The types plugins see.

Everything a dataset, model, metric, reporter or executor plugin needs from vadbench is defined
here, so a plugin author reads one file. The core never imports a particular plugin.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vadbench.sdk.localisation import LocalisationInput

if TYPE_CHECKING:
    import torch

Split = Literal["train", "test"]
ScoreKind = Literal["normality", "anomaly"]
MetricKind = Literal["detection", "efficiency"]


class VadbenchError(Exception):
    """An error with a message meant for the user: printed as one line, no traceback."""

    exit_code = 1


class ConfigError(VadbenchError):
    """The matrix, a plugin option or a dataset layout is not what was expected."""

    exit_code = 2


class PluginError(VadbenchError):
    """A plugin failed to import or raised in a hook."""

    exit_code = 2


class DataError(VadbenchError):
    """Data on disk contradicts itself (label length vs. frames, a corrupt file, ...)."""


class Options(BaseModel):
    """Base class for plugin options: unknown fields are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(Options):
    """The options of a plugin that takes none: any setting given to it is an error."""


class _ReadAheadThread(threading.local):
    """The thread that reads the next chunks of the videos a thread iterates, one per iterating
    thread and kept for its life. A thread per iteration would do the same work, but each new
    thread may take another malloc arena: iterating 256 short videos, a process peaked at 270
    MiB that way and at 213 MiB with the thread kept. Iterations in one thread share it: their
    reads queue, and none waits for another."""

    pool: ThreadPoolExecutor | None = None

    def submit(self, read: Callable[[], np.ndarray | None]) -> Future[np.ndarray | None]:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="vadbench-read-ahead")
        return self.pool.submit(read)

    def forget(self) -> None:
        """After a fork: the parent's thread does not exist in the child."""
        self.pool = None


_read_ahead = _ReadAheadThread()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_read_ahead.forget)


# Reads frames start..stop of one video. ``Video.iter_chunks`` calls it from a read-ahead
# thread (one call at a time per video), so it must not rely on thread-local state.
FrameReader = Callable[[int, int], np.ndarray]
MaskReader = Callable[[int], np.ndarray]


@dataclass(frozen=True)
class Video:
    """One video of a split: frames are decoded on demand, never held whole in memory.

    Frames come back as uint8 arrays of shape (n, H, W, 3), RGB, whatever the file format.
    ``labels`` holds one 0/1 entry per frame (1 = anomalous) for test videos, ``None`` otherwise.
    """

    id: str
    num_frames: int
    read_frames: FrameReader = field(repr=False)
    labels: np.ndarray | None = field(default=None, repr=False)
    read_mask: MaskReader | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != self.num_frames:
            raise DataError(
                f"video {self.id!r}: {len(self.labels)} frame labels for {self.num_frames} frames"
            )

    def frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start`` to ``stop`` (exclusive) as a (n, H, W, 3) uint8 array."""
        stop = self.num_frames if stop is None else stop
        if not 0 <= start <= stop <= self.num_frames:
            raise IndexError(f"video {self.id!r}: frames {start}:{stop} of {self.num_frames}")
        return self.read_frames(start, stop)

    def iter_clips(self, length: int, chunk: int = 64) -> Iterator[np.ndarray]:
        """Every window of ``length`` consecutive frames, reading each frame from disk once."""
        window: deque[np.ndarray] = deque(maxlen=length)
        for frames in self.iter_chunks(chunk):
            for frame in frames:
                window.append(frame)
                if len(window) == length:
                    yield np.stack(window)

    def iter_chunks(self, step: int = 64, overlap: int = 0) -> Iterator[np.ndarray]:
        """The frames in chunks of ``step + overlap`` that start ``step`` apart, until the last
        frame. The next chunk is read in a background thread while the caller works on this
        one, so decoding overlaps the model (decoders release the GIL)."""
        starts = iter(range(0, max(self.num_frames - overlap, 0), step))

        def read_next() -> np.ndarray | None:
            start = next(starts, None)
            if start is None:
                return None
            return self.frames(start, min(start + step + overlap, self.num_frames))

        pending = _read_ahead.submit(read_next)
        try:
            while (frames := pending.result()) is not None:
                pending = _read_ahead.submit(read_next)
                yield frames
        finally:  # left early: the read under way ends before another may start
            if not pending.cancel():
                wait([pending])

    @property
    def has_masks(self) -> bool:
        return self.read_mask is not None

    def mask(self, index: int) -> np.ndarray:
        """Pixel mask of frame ``index`` as a bool (H, W) array."""
        if self.read_mask is None:
            raise DataError(f"video {self.id!r} has no pixel masks")
        return self.read_mask(index)


class VideoSource(Protocol):
    """The videos of one split of one dataset, in a fixed (sorted) order."""

    @property
    def name(self) -> str: ...

    @property
    def split(self) -> Split: ...

    def videos(self) -> Sequence[Video]: ...


@dataclass(frozen=True)
class ListSource:
    """A VideoSource over a list of videos; what most dataset plugins return."""

    name: str
    split: Split
    items: tuple[Video, ...]

    def videos(self) -> Sequence[Video]:
        return self.items


class Dataset(Protocol):
    """An opened dataset. Opening must be cheap and check the layout; reading happens later.

    A dataset may also define ``check_split(split) -> None``: a cheap check, called at
    configuration time for every split a matrix will read, that raises ConfigError when the
    split cannot exist (no test folder, a training-only set asked for its test split). Datasets
    without it are checked only when the split is read.

    A dataset that labels what kind of anomaly each test frame shows may define
    ``anomaly_types(video_id) -> np.ndarray``: one type name per frame, ``"normal"`` on normal
    frames. Runs then store the types with the scores, and the ``type_auc`` metric reports
    detection per anomaly type.
    """

    def source(self, split: Split) -> VideoSource: ...

    def fingerprint(self) -> Mapping[str, Any]:
        """What identifies this data for result hashing (options, generator version, ...)."""
        ...


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset plugin: ``open(options)`` returns a Dataset or raises ConfigError."""

    name: str
    description: str
    layout: str
    options: type[Options]
    open: Callable[[Any], Dataset]
    origin: str = ""


class Progress(Protocol):
    """What a model reports its progress through (a rich bar on a terminal, silent otherwise)."""

    def task(self, description: str, total: int | None) -> Callable[[int], None]: ...


@dataclass(frozen=True)
class TrainingBudget:
    """One training budget for every model of a matrix, fixed before any target is seen:
    ``steps`` optimiser steps, ``seconds`` of wall-clock training, ``gmacs`` of training
    compute (forward and backward multiply-accumulates, in GMACs), or ``converged``: at most
    ``amount`` steps, ended by the harness once the held-out source loss has improved by less
    than ``min_delta`` (relative to its best so far) over ``patience`` evaluations
    (``vadbench.sdk.learning``)."""

    kind: Literal["steps", "seconds", "gmacs", "converged"]
    amount: float
    patience: int = 0
    min_delta: float = 0.0


@dataclass(frozen=True)
class FitContext:
    """What the harness hands a model for training. ``budget``, when set, replaces the model's
    own training length (its steps option); a model follows it with ``vadbench.sdk.training``.
    ``adaptation`` is true when a k-shot row will adapt this trained model to its targets, so
    that a few-shot method can train for it (e.g. meta-train) as its official protocol does.
    ``precision`` is the matrix's (``fp32`` or ``bf16``); the harness already runs ``fit``
    and ``adapt`` under the matching autocast, and ``score`` under its ``score_precision``'s
    (``vadbench.sdk.precision``).
    Pictures a model draws while training (PNG files in ``checkpoint_dir / "figures"``) are
    kept with the checkpoint and shown by the HTML report."""

    device: str
    seed: int
    progress: Progress
    checkpoint_dir: Path
    budget: TrainingBudget | None = None
    adaptation: bool = False
    precision: str = "fp32"


@runtime_checkable
class Method(Protocol):
    """A trained-or-trainable anomaly detector.

    ``score`` returns one raw score per frame for frames ``context_frames`` .. N-1 (a predictor
    that needs T past frames scores none of the first T); ``score_kind`` says whether a high score
    means normal (PSNR) or abnormal. The harness applies the evaluation protocol.

    A model registered with ``supports_adaptation=True`` also has
    ``adapt(support: VideoSource, ctx: FitContext) -> Method``: for the k-shot protocol it returns
    a new, adapted model (never mutating itself) from k clips of ``context_frames + 1`` normal
    frames that the harness draws from the target's training split.

    A model that predicts frames may also have
    ``predictions(video: Video, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]``: the
    true frames ``indices`` (each at least ``context_frames``) and its predictions of them, both
    (k, H, W, 3) float in [0, 1] at its input size. The harness then keeps a few of each
    target's most anomalous frames with their difference maps for reports (the paper's Fig. 8).
    """

    context_frames: int
    score_kind: ScoreKind

    def fit(self, source: VideoSource, aux: VideoSource | None, ctx: FitContext) -> None: ...

    def score(self, video: Video) -> np.ndarray: ...

    def save(self, folder: Path) -> None: ...

    def load(self, folder: Path) -> None: ...

    def inference_module(self) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]] | None:
        """The exact module run per test frame and an example input, or None if not neural."""
        ...


@runtime_checkable
class Adaptable(Protocol):
    """The optional ability behind the k-shot protocol (``ModelSpec.supports_adaptation``): a
    new model adapted on k support clips, leaving the trained one untouched."""

    def adapt(self, support: VideoSource, ctx: FitContext) -> Method: ...


@runtime_checkable
class Predicting(Protocol):
    """The optional ability of a model that predicts frames: the true frames ``indices`` and its
    predictions of them, both (k, H, W, 3) float in [0, 1] (the reports' difference maps)."""

    def predictions(
        self, video: Video, indices: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class Localising(Protocol):
    """The optional ability of a model that says where in a frame the anomaly is: per frame
    T..N-1 of ``video``, a (n, h, w) map, higher meaning more anomalous (the localisation
    criteria: pixel-level AUC, RBDC, TBDC)."""

    def anomaly_maps(self, video: Video) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelSpec:
    """A model plugin: options class, named presets (partial option dicts) and a factory."""

    name: str
    description: str
    options: type[Options]
    create: Callable[[Any, str], Method]
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    version: str = "1"
    supports_adaptation: bool = False
    origin: str = ""


@dataclass(frozen=True)
class MetricResult:
    """A named number with its unit and direction; ``value`` None means n/a, ``note`` says why.

    A note beside a number says how it was measured, and reports keep it in their CSV and
    JSON; ``footnote`` marks a note that qualifies the number itself (a count that skipped
    operations), which reports then print beside it. Notes of n/a values are always printed.
    """

    name: str
    value: float | None
    unit: str
    higher_is_better: bool
    note: str = ""
    footnote: bool = False


CUSTOM_PROTOCOL = "custom"


class EvaluationProtocol(BaseModel):
    """How stored per-frame scores become the anomaly scores detection metrics read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(CUSTOM_PROTOCOL, description="a named protocol's name, or custom")
    normalisation: Literal["per-video", "global", "none"] = Field(
        "per-video", description="min-max per video, over the whole target, or none"
    )
    smoothing: Literal["none", "gaussian", "moving-average"] = Field(
        "none", description="temporal smoothing of each video's raw scores, before normalising"
    )
    sigma: float = Field(3.0, gt=0, description="gaussian: the kernel's sigma in frames")
    radius: int | None = Field(
        None, ge=1, description="gaussian: the kernel's half-width in frames; unset: 4 sigma"
    )
    window: int = Field(5, ge=2, description="moving-average: the window in frames")
    context: Literal["drop", "fill"] = Field(
        "drop",
        description="drop the first context frames' labels, or fill those frames with the "
        "first scored frame's score",
    )

    def settings(self) -> dict[str, Any]:
        """The settings that change a number (what a hash and a comparison read): the name and
        the parameters of a smoothing that is off are left out."""
        found: dict[str, Any] = {
            "normalisation": self.normalisation,
            "smoothing": self.smoothing,
            "context": self.context,
        }
        if self.smoothing == "gaussian":
            found["sigma"] = self.sigma
            if self.radius is not None:
                found["radius"] = self.radius
        if self.smoothing == "moving-average":
            found["window"] = self.window
        return found

    def same_as(self, other: EvaluationProtocol) -> bool:
        return self.settings() == other.settings()

    def describe(self) -> str:
        """One line for a leaderboard's notes."""
        normalised = {
            "per-video": "per-video min-max normalisation",
            "global": "min-max normalisation over the whole target",
            "none": "raw scores (no normalisation)",
        }[self.normalisation]
        smoothed = {
            "none": "no smoothing",
            "gaussian": f"Gaussian smoothing (sigma {self.sigma:g} frames"
            + (f", {2 * self.radius + 1} taps)" if self.radius else ")"),
            "moving-average": f"moving-average smoothing ({self.window} frames)",
        }[self.smoothing]
        context = (
            "the first context frames dropped"
            if self.context == "drop"
            else "the first context frames filled with the first score"
        )
        return f"{self.name}: {normalised}, {smoothed}, {context}"


@dataclass(frozen=True)
class DetectionInput:
    """Per-video raw scores and labels of one target, after alignment, in sorted video order;
    ``types``, where the dataset names anomaly types, the aligned per-frame type names;
    ``protocol``, how metrics turn the scores into anomaly scores
    (``vadbench.sdk.protocol.protocol_scores``); ``localisation``, where the model gave anomaly
    maps and the target has pixel masks, both for frames T..N-1 in the same video order."""

    video_ids: tuple[str, ...]
    scores: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]
    score_kind: ScoreKind
    types: tuple[np.ndarray, ...] | None = None
    protocol: EvaluationProtocol = field(default_factory=lambda: EvaluationProtocol(name="ffp"))
    localisation: LocalisationInput | None = None


@dataclass(frozen=True)
class EfficiencyInput:
    """The inference module a model hands out, with an example input and the device to use.

    ``options`` are this metric's settings from the matrix or profile file
    (``metric_options: {fps: {repeats: 3}}``).
    """

    module: torch.nn.Module
    example: tuple[torch.Tensor, ...]
    device: str
    method: Method
    options: Mapping[str, Any] = field(default_factory=dict)


# Builds, from one seed's per-video anomaly scores and labels, a function that takes video
# weights of shape (rounds, videos) and returns the metric under each round's weights: how the
# bootstrap resamples test videos (``vadbench.sdk.statistics.WeightedAUC`` is one).
ResampledStatistic = Callable[
    [Sequence[np.ndarray], Sequence[np.ndarray]], Callable[[np.ndarray], np.ndarray]
]


@dataclass(frozen=True)
class MetricSpec:
    """A metric plugin. Detection metrics read DetectionInput, efficiency ones EfficiencyInput.

    ``headline`` marks the detection metric that leaderboards rank by and rank tests compare
    (the first one a run measures; without one, its first detection metric). ``order`` places
    the metric among those of its kind when a matrix lists none (lower first), and so its
    columns and tables in reports. ``statistic`` lets reports give a detection metric bootstrap
    intervals and paired differences; without it they show the mean over seeds.
    """

    name: str
    description: str
    kind: MetricKind
    compute: Callable[[Any], list[MetricResult]]
    origin: str = ""
    # The settings ``metric_options.<name>`` may hold, checked at configuration time; None
    # leaves them unchecked (a plugin that reads free-form settings).
    options: type[Options] | None = None
    headline: bool = False
    order: int = 100
    statistic: ResampledStatistic | None = None
    # The metric reads anomaly maps and pixel masks (``DetectionInput.localisation``): the score
    # stage then also stores each localising model's maps where the target has pixel masks.
    needs_maps: bool = False


@dataclass(frozen=True)
class ReporterSpec:
    """A reporter renders a results table (a pandas DataFrame, long form) to a file or terminal.

    ``render(table, out_dir)`` returns the path it wrote, or None when it printed.
    """

    name: str
    description: str
    render: Callable[[Any, Path], Path | None]
    origin: str = ""


@dataclass(frozen=True)
class Task:
    """One unit of work an executor runs: a callable that stores its own results.

    ``command`` are the Python arguments that run the same task alone in a fresh process
    (``python *command``, always ``-m MODULE ARGS``: a planned cell job, whose file lies in the
    shared results folder), for executors that place work elsewhere; no process re-reads the
    matrix. ``progress_file`` is where the task reports its progress for the driver to show; an
    executor that starts the task in another process marks it there first
    (``vadbench.sdk.mark_launched``), so the driver shows the cell while its process starts.
    """

    key: str
    label: str
    run: Callable[[], None]
    command: tuple[str, ...] = ()
    progress_file: Path | None = None


@dataclass(frozen=True)
class ExecutorSpec:
    """An executor decides where tasks run. ``execute(tasks, options)`` runs each, in this
    process (``task.run()``) or elsewhere (``task.command``); results and failures are stored by the
    task itself. ``options`` come from the matrix's ``executor_options``."""

    name: str
    description: str
    execute: Callable[[Sequence[Task], Mapping[str, Any]], None]
    origin: str = ""
    # The settings ``executor_options`` may hold, checked at configuration time and handed to
    # ``execute`` with their defaults filled in; None leaves them unchecked.
    options: type[Options] | None = None


@dataclass(frozen=True)
class CommandSpec:
    """A CLI subcommand a plugin adds (``vadbench <name> ...``).

    ``configure(parser)`` adds arguments to an argparse parser; ``run(args, registry)`` gets the
    parsed arguments and the plugin registry (to open datasets or models by name) and returns the
    exit code.
    """

    name: str
    help: str
    configure: Callable[[Any], None]
    run: Callable[[Any, Any], int]
    origin: str = ""


@dataclass(frozen=True)
class CheckpointSpec:
    """A trained model a package ships (``vadbench.sdk.zoo``): a folder holding ``zoo.json``
    and one checkpoint folder per seed, loaded from a matrix with ``checkpoint: zoo:NAME``."""

    name: str
    description: str
    folder: Path
    origin: str = ""


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark file shipped inside a plugin package, so that ``vadbench run NAME`` (or
    ``vadbench profile --config NAME``) works after ``pip install`` without a clone.
    ``kind`` says which command reads it: a run ``matrix`` or an efficiency ``profile``."""

    name: str
    description: str
    path: Path
    kind: Literal["matrix", "profile"] = "matrix"
    origin: str = ""
