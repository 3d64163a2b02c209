"""``vadbench detect``: what a trained model says about your own videos.

MODEL is a trained cell: its folder (``results/RUN/cells/CELL``), or ``RUN_DIR:MODEL`` for the
cell of that model in a run folder (``--source`` and ``--seed`` choose among several). Each
video (any file PyAV reads, a folder of frames, or a folder of such videos) is decoded once, at
the model's input size, in a thread beside the model, and scored in the model's own batches,
so memory stays flat however long the video is. Per video, ``--out DIR/<video>/`` gets:

- ``scores.csv``: frame, time, raw anomaly score (high = anomalous), the score min-max
  normalised over the video (the evaluation protocol's), and the flag;
- ``scores.png``: the score over time, the threshold, flagged stretches shaded;
- ``segments.json``: the flagged stretches (first and last frame and time, peak score);
- ``annotated.mp4`` with ``--video``: the frames with a score bar, and for models that predict
  frames, their prediction error as a heat map.

The threshold needs no labels: the ``--quantile`` (default 0.99) of the raw anomaly scores the
model gave to normal frames of its source domain (``vadbench.harness.calibration``), or
``--threshold``.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from vadbench.commands.base import Command
from vadbench.harness.calibration import DEFAULT_QUANTILE, Calibration, raw_anomaly
from vadbench.harness.config import validate_options
from vadbench.harness.plugins import Registry
from vadbench.harness.progress import progress_bars
from vadbench.harness.records import CalibrationRecord, CellRecord
from vadbench.harness.store import RunStore
from vadbench.sdk.contracts import ConfigError, DataError, Method, VadbenchError, Video
from vadbench.sdk.export import EXPORT_FOLDER, WindowScorer, load_export
from vadbench.sdk.files import atomic_write_bytes, atomic_write_json
from vadbench.sdk.protocol import normalise
from vadbench.sdk.toolkit.predictor import FramePredictor
from vadbench.sdk.validation import did_you_mean, one_line
from vadbench.sdk.video import (
    VideoFileReader,
    count_frames,
    decode_images,
    is_image_file,
    is_video_file,
    video_frame_rate,
)

DEFAULT_FRAME_RATE = 25.0
HEAT_COLOUR = (255, 60, 0)


@dataclass(frozen=True)
class TrainedCell:
    """A cell's trained model, ready to score, with its threshold calibration (if stored)."""

    folder: Path
    record: CellRecord
    method: Method
    calibration: Calibration | None

    @property
    def title(self) -> str:
        preset = self.record.preset
        return f"{self.record.model} ({preset})" if preset else self.record.model


def find_cell(model: str, source: str | None = None, seed: int | None = None) -> Path:
    """The folder of the cell MODEL names: a cell folder, or ``RUN_DIR:MODEL``."""
    path = Path(model)
    if (path / "cell.json").is_file():
        return path
    run_dir, colon, name = model.rpartition(":")
    if not colon or not (Path(run_dir) / "run.json").is_file():
        raise ConfigError(
            f"model {model!r}: expected a cell folder (results/RUN/cells/CELL, with a cell.json) "
            "or RUN_DIR:MODEL (a run folder and a model name of its matrix)"
        )
    store = RunStore(Path(run_dir), confined=False)
    records = {
        cell_dir: store.read(CellRecord, cell_dir.name)
        for cell_dir in sorted(store.root.glob("cells/*/"))
    }
    cells = []
    for cell_dir, record in records.items():
        if record is None or record.model != name:
            continue
        label = f"{record.train} + {record.aux}" if record.aux else record.train
        if source is not None and label != source and record.train != source:
            continue
        if seed is not None and record.seed != seed:
            continue
        cells.append((cell_dir, label, record.seed))
    if not cells:
        models = sorted({record.model for record in records.values() if record is not None})
        raise ConfigError(
            f"{run_dir}: no cell of model {name!r}"
            + (f" (source {source})" if source else "")
            + (f" (seed {seed})" if seed is not None else "")
            + f"{did_you_mean(name, models)}; its models: {', '.join(models) or 'none'}"
        )
    if len(cells) > 1:
        listed = ", ".join(f"{label} seed {s}" for _, label, s in cells)
        raise ConfigError(
            f"{run_dir}: model {name!r} has {len(cells)} cells ({listed}); choose one with "
            "--source and --seed, or give its cell folder"
        )
    return cells[0][0]


def load_cell(folder: Path, registry: Registry, device: str) -> TrainedCell:
    """The cell's model, loaded from its finished checkpoint."""
    store = RunStore(folder.parent.parent, confined=False)
    cell_id = folder.name
    record = store.read(CellRecord, cell_id)
    if record is None:
        raise ConfigError(f"{folder}: no readable cell.json; is this a vadbench cell folder?")
    if not store.finished_checkpoint(cell_id, record.hash):
        raise ConfigError(
            f"{folder}: the cell was never trained (no finished checkpoint); run its matrix first"
        )
    plugin = record.plugin
    if plugin not in registry.models.items:
        raise ConfigError(
            f"{folder}: its model plugin {plugin!r} is not installed here"
            f"{did_you_mean(plugin, registry.models.items)}; load a local one with --plugin FILE"
        )
    spec = registry.models.get(plugin)
    options = validate_options(spec.options, record.options, folder / "cell.json", ("options",))
    method = spec.create(options, device)
    try:
        method.load(store.checkpoint_dir(cell_id))
    except Exception as error:
        raise ConfigError(
            f"{store.checkpoint_dir(cell_id)}: the checkpoint could not be loaded "
            f"({one_line(error)}); run its matrix again with --force to train it anew"
        ) from None
    stored = store.read(CalibrationRecord, cell_id)
    calibration = (
        Calibration.from_record(stored)
        if stored is not None and stored.hash == record.hash and usable_scores(stored.scores)
        else None
    )
    return TrainedCell(folder, record, method, calibration)


def usable_scores(scores: Sequence[float]) -> bool:
    """Whether a stored calibration's scores can give a quantile: some, all finite."""
    values = np.asarray(scores, dtype=np.float64)
    return bool(values.size) and bool(np.all(np.isfinite(values)))


def input_size(method: Method) -> tuple[int, int] | None:
    """The (height, width) the model's inference module takes, so frames are decoded straight
    to it; None (decode at full size) for a model without one."""
    handed_out = method.inference_module()
    if handed_out is None:
        return None
    height, width = handed_out[1][0].shape[-2:]
    return int(height), int(width)


@dataclass(frozen=True)
class Footage:
    """One input video: where it is, its id, its frame count and rate, and how to read it."""

    id: str
    path: Path
    num_frames: int
    frame_rate: float
    reader: Callable[[int, int], np.ndarray]


class FrameFolderReader:
    """Frames ``start``..``stop`` of a folder of images (natural order), resized on decode."""

    def __init__(self, paths: Sequence[Path], size: tuple[int, int] | None) -> None:
        self.paths = list(paths)
        self.size = size

    def __call__(self, start: int, stop: int) -> np.ndarray:
        return decode_images(self.paths[start:stop], self.size)


def _natural(path: Path) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name))


def collect_inputs(paths: Sequence[Path]) -> list[Path]:
    """Each argument as videos: a video file, a folder of frames, or a folder holding videos
    or frame folders."""
    found: list[Path] = []
    for path in paths:
        if path.is_file() or (path.is_dir() and any(is_image_file(p) for p in path.iterdir())):
            found.append(path)
        elif path.is_dir():
            inner = sorted(
                p
                for p in path.iterdir()
                if is_video_file(p) or (p.is_dir() and any(map(is_image_file, p.iterdir())))
            )
            found.extend(inner or [path])
        else:
            found.append(path)
    return found


def open_footage(path: Path, size: tuple[int, int] | None, frame_rate: float) -> Footage:
    """A video file or frame folder, checked to exist and to hold frames."""
    if path.is_dir():
        frames = sorted((p for p in path.iterdir() if is_image_file(p)), key=_natural)
        if not frames:
            raise DataError(f"{path}: no video file and no frame images (.jpg, .png, ...) in it")
        return Footage(path.name, path, len(frames), frame_rate, FrameFolderReader(frames, size))
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    num_frames = count_frames(path)
    rate = video_frame_rate(path) or frame_rate
    return Footage(path.stem, path, num_frames, rate, VideoFileReader(path, num_frames, size))


def anomalous_segments(
    flags: np.ndarray, scores: np.ndarray, frame_rate: float
) -> list[dict[str, Any]]:
    """Runs of flagged frames: first and last frame and time, and the peak score and frame."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    segments = []
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        peak = int(start + np.nanargmax(scores[start:stop]))
        segments.append(
            {
                "start_frame": int(start),
                "end_frame": int(stop - 1),
                "start_time": round(start / frame_rate, 3),
                "end_time": round((stop - 1) / frame_rate, 3),
                "peak_frame": peak,
                "peak_score": float(scores[peak]),
            }
        )
    return segments


@dataclass(frozen=True)
class Detection:
    """One video's per-frame anomaly scores (NaN for the first T frames, which no predictor
    scores), their per-video normalisation, the threshold and the flags."""

    footage: Footage
    scores: np.ndarray
    normalised: np.ndarray
    threshold: float
    flags: np.ndarray
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.footage.num_frames / max(self.seconds, 1e-9)


def score_footage(
    trained: TrainedCell,
    footage: Footage,
    threshold: float,
    advance: Callable[[int], None],
    backend: WindowScorer | None = None,
) -> Detection:
    """Scores every frame through the model's own ``score`` (or, given an exported scoring
    module's ``backend``, through ``score_with`` it), reporting decoded frames."""
    lock = threading.Lock()

    def counted(start: int, stop: int) -> np.ndarray:
        frames = footage.reader(start, stop)
        with lock:
            advance(len(frames))
        return frames

    video = Video(footage.id, footage.num_frames, counted)
    started = time.perf_counter()
    with torch.inference_mode():
        if backend is None:
            raw = np.asarray(trained.method.score(video), dtype=np.float64)
        else:
            assert isinstance(trained.method, FramePredictor)
            raw = np.asarray(trained.method.score_with(video, backend), dtype=np.float64)
    seconds = time.perf_counter() - started
    context = trained.method.context_frames
    if raw.shape != (max(footage.num_frames - context, 0),):
        raise DataError(
            f"{footage.path}: the model returned {raw.shape} scores for {footage.num_frames} "
            f"frames (expected one per frame after the first {context})"
        )
    scores = np.full(footage.num_frames, np.nan)
    normalised = np.full(footage.num_frames, np.nan)
    scores[context:] = raw_anomaly(raw, trained.method.score_kind)
    if len(raw):
        normalised[context:] = normalise(scores[context:])
    flags = np.nan_to_num(scores, nan=-np.inf) > threshold
    return Detection(footage, scores, normalised, threshold, flags, seconds)


def write_outputs(detection: Detection, folder: Path, summary: dict[str, Any]) -> list[Path]:
    """scores.csv, scores.png and segments.json of one video."""
    folder.mkdir(parents=True, exist_ok=True)
    footage = detection.footage
    lines = ["frame,time_s,anomaly_score,normalised_score,flag"]
    for index in range(footage.num_frames):
        score, norm = detection.scores[index], detection.normalised[index]
        lines.append(
            f"{index},{index / footage.frame_rate:.3f},"
            f"{'' if np.isnan(score) else f'{score:.6g}'},"
            f"{'' if np.isnan(norm) else f'{norm:.4f}'},{int(detection.flags[index])}"
        )
    csv_path = folder / "scores.csv"
    atomic_write_bytes(csv_path, ("\n".join(lines) + "\n").encode())
    segments = anomalous_segments(detection.flags, detection.scores, footage.frame_rate)
    json_path = folder / "segments.json"
    atomic_write_json(
        json_path,
        {
            **summary,
            "video": str(footage.path),
            "frames": footage.num_frames,
            "frame_rate": footage.frame_rate,
            "threshold": detection.threshold,
            "segments": segments,
        },
    )
    plot_path = folder / "scores.png"
    atomic_write_bytes(plot_path, score_plot(detection, segments))
    return [csv_path, plot_path, json_path]


def score_plot(detection: Detection, segments: Sequence[dict[str, Any]]) -> bytes:
    """The anomaly score over time, the threshold, and the flagged stretches shaded."""
    import io

    from matplotlib.figure import Figure

    footage = detection.footage
    times = np.arange(footage.num_frames) / footage.frame_rate
    figure = Figure(figsize=(9, 3), layout="constrained")
    axes = figure.add_subplot()
    for segment in segments:
        axes.axvspan(
            segment["start_time"] - 0.5 / footage.frame_rate,
            segment["end_time"] + 0.5 / footage.frame_rate,
            color="#f4a3a3",
            alpha=0.6,
            lw=0,
        )
    axes.plot(times, detection.scores, color="#1f4e9c", lw=1)
    axes.axhline(detection.threshold, color="#b22222", ls="--", lw=1, label="threshold")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("anomaly score (raw)")
    axes.set_title(f"{footage.id}: {len(segments)} flagged stretch(es)", fontsize=10)
    axes.legend(loc="upper right", fontsize=8)
    axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def write_annotated_video(
    trained: TrainedCell, detection: Detection, path: Path, chunk: int = 32
) -> Path:
    """The footage at its own size with a score bar along the bottom (red once flagged), and,
    for models with ``predictions``, their prediction error blended in as a heat map."""
    import av

    footage = detection.footage
    native = open_footage(footage.path, None, footage.frame_rate)
    predictions = getattr(trained.method, "predictions", None)
    context = trained.method.context_frames
    model_video = Video(footage.id, footage.num_frames, footage.reader)
    partial = path.with_name(path.name + ".partial")
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = None
        for start in range(0, footage.num_frames, chunk):
            frames = native.reader(start, min(start + chunk, footage.num_frames))
            errors = None
            if predictions is not None:
                indices = [i for i in range(start, start + len(frames)) if i >= context]
                if indices:
                    with torch.inference_mode():
                        truth, guess = predictions(model_video, indices)
                    errors = dict(zip(indices, np.abs(truth - guess).mean(axis=-1), strict=True))
            if stream is None:
                height, width = frames.shape[1:3]
                stream = container.add_stream("libx264", rate=round(footage.frame_rate))
                stream.width, stream.height = width - width % 2, height - height % 2
                stream.pix_fmt = "yuv420p"
            for offset, frame in enumerate(frames):
                index = start + offset
                error = None if errors is None else errors.get(index)
                image = annotate(frame, detection, index, error)
                image = image[: stream.height, : stream.width]
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    partial.replace(path)
    return path


def annotate(
    frame: np.ndarray, detection: Detection, index: int, error: np.ndarray | None
) -> np.ndarray:
    """One output frame: the error heat map blended in, and the score bar."""
    image: np.ndarray = frame.astype(np.float32)
    height, width = image.shape[:2]
    if error is not None:
        scaled = torch.nn.functional.interpolate(
            torch.from_numpy(error.astype(np.float32))[None, None],
            size=(height, width),
            mode="bilinear",
            align_corners=False,
        )[0, 0].numpy()
        alpha = 0.6 * np.clip(scaled / max(float(error.max()), 1e-6), 0.0, 1.0)[..., None]
        image = image * (1.0 - alpha) + np.array(HEAT_COLOUR, np.float32) * alpha
    bar = max(height // 24, 4)
    normalised = detection.normalised[index]
    filled = 0 if np.isnan(normalised) else round(float(normalised) * width)
    colour = (220, 30, 30) if detection.flags[index] else (40, 200, 80)
    image[height - bar :, :] = (20, 20, 20)
    image[height - bar :, :filled] = colour
    return np.clip(image, 0, 255).astype(np.uint8)


def detect(
    trained: TrainedCell,
    inputs: Sequence[Path],
    out: Path,
    threshold: float,
    summary: dict[str, Any],
    console: Console,
    frame_rate: float = DEFAULT_FRAME_RATE,
    video: bool = False,
    backend: WindowScorer | None = None,
) -> list[tuple[Path, str]]:
    """Scores each input into ``out/<video id>/``; returns (input, error) for those that could
    not be read, after scoring all the others."""
    failures: list[tuple[Path, str]] = []
    size = input_size(trained.method)
    bars = progress_bars(console)
    with bars:
        for path in collect_inputs(inputs):
            try:
                footage = open_footage(path, size, frame_rate)
                task = bars.add_task(f"{footage.id}", total=footage.num_frames)
                detection = score_footage(
                    trained, footage, threshold, functools.partial(bars.advance, task), backend
                )
                bars.remove_task(task)
                written = write_outputs(detection, out / footage.id, summary)
                if video:
                    written.append(
                        write_annotated_video(
                            trained, detection, out / footage.id / "annotated.mp4"
                        )
                    )
            except VadbenchError as error:
                failures.append((path, str(error)))
                console.print(f"[bold red]error:[/] {path}: {error}", highlight=False)
                continue
            flagged = int(detection.flags.sum())
            console.print(
                f"{footage.id}: {footage.num_frames} frames at {detection.frames_per_second:.0f} "
                f"frames/s, {flagged} flagged → {out / footage.id}",
                highlight=False,
            )
    return failures


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a cell folder, or RUN_DIR:MODEL")
    parser.add_argument("videos", nargs="+", type=Path, metavar="VIDEO_OR_FOLDER")
    parser.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    parser.add_argument("--source", help="with RUN_DIR:MODEL: the cell's training source")
    parser.add_argument("--seed", type=int, help="with RUN_DIR:MODEL: the cell's seed")
    parser.add_argument("--quantile", type=float, default=None, help="default 0.99")
    parser.add_argument("--threshold", type=float, help="raw anomaly score above which to flag")
    parser.add_argument("--video", action="store_true", help="also write annotated.mp4")
    parser.add_argument("--fps", type=float, default=DEFAULT_FRAME_RATE, help="of frame folders")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto")
    parser.add_argument(
        "--backend",
        choices=["torch", "onnxruntime"],
        default="torch",
        help="score with the model in torch, or its ONNX export (vadbench export) in onnxruntime",
    )
    parser.add_argument("--onnx", type=Path, help="with --backend onnxruntime: the export folder")


def run_detect(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    from vadbench.harness.devices import resolve_device

    if args.threshold is not None and args.quantile is not None:
        raise ConfigError("give --threshold or --quantile, not both")
    if args.quantile is not None and not 0 < args.quantile < 1:
        raise ConfigError(f"--quantile {args.quantile}: expected a number between 0 and 1")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise ConfigError(f"--threshold {args.threshold}: expected a finite number")
    if not (math.isfinite(args.fps) and args.fps > 0):
        raise ConfigError(f"--fps {args.fps}: expected a positive frame rate")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out}: is a file; expected a folder to write into")
    folder = find_cell(args.model, args.source, args.seed)
    backend = None
    if args.backend == "onnxruntime":
        trained = load_cell(folder, registry, "cpu")
        if not isinstance(trained.method, FramePredictor):
            raise ConfigError(f"{folder}: only a frame predictor scores with an ONNX export")
        backend = load_export(args.onnx or folder / EXPORT_FOLDER, trained.record.hash)
    else:
        trained = load_cell(folder, registry, resolve_device(args.device))
    summary: dict[str, Any] = {
        "cell": str(folder),
        "model": trained.title,
        "backend": args.backend,
    }
    if args.threshold is not None:
        threshold = float(args.threshold)
        summary["threshold_from"] = "--threshold"
    elif trained.calibration is None:
        raise ConfigError(
            f"{folder}: no stored calibration to set a threshold from (a run of its matrix with "
            "this vadbench stores one, without training again); or give --threshold"
        )
    else:
        quantile = DEFAULT_QUANTILE if args.quantile is None else args.quantile
        threshold = trained.calibration.threshold(quantile)
        calibration = trained.calibration
        summary["threshold_from"] = (
            f"quantile {quantile} of {calibration.frames} normal frames of {calibration.source}"
        )
        summary["calibration"] = {
            "source": calibration.source,
            "split": calibration.split,
            "frames": calibration.frames,
            "note": calibration.note,
        }
    failures = detect(
        trained, args.videos, args.out, threshold, summary, console, args.fps, args.video, backend
    )
    if failures:
        console.print(f"{len(failures)} input(s) could not be scored (above); the others were")
        return 2
    return 0


class DetectCommand(Command):
    name = "detect"
    help = "score your own videos with a trained model: CSV, plot, segments, video"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        configure(parser)

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        return run_detect(args, registry, console)
