"""Clip-loading throughput of the real-dataset readers against the model they feed, and their
memory as datasets grow.

    python benchmarks/bench_data_loading.py [--repeats 5] [--frames 300] [--size 360x640] \
        [--models zxvad:cpu,ffp:cpu,mpn:cpu,rgan:cpu,zxvad:paper]

Throughput: one synthetic camera video (moving object over a textured background, ``--size``
H x W) is written as an MPEG-4 .avi (Avenue/ShanghaiTech style), an H.264 .mp4 (UCF-Crime
style) and a folder of JPEGs (FFP/ShanghaiTech test style), then read through the dataset
plugins (``videofolder`` over each) at the input size of each ``--models`` preset (64x64 for
the cpu presets, 256x256 for zxVAD's paper preset), on every core the process may use.

The judged row is the **first decode**: reading the video from start to end in 64-frame chunks
(how models score and ``iter_clips`` reads) while the frame cache fills, as the first epoch of
a cell reads it. For information, the same without the cache, random 5-frame clips without it
(how trainers sample before the cache holds a video), and reads served by the cache (every
later epoch, seed and cell). Printed as frames/s, the median over ``--repeats`` and the spread
(min-max), and as a multiple of the preset's inference (``vadbench profile PLUGIN:PRESET
--metrics fps``: batch 1), measured in the same run pinned to one core. The target is a first
decode at least 10x faster than that, so loading is never what a model waits for.

Memory: datasets of growing size (the same short video linked N times) are iterated end to
end, each in a fresh process (frame cache on, as by default); the peak RSS and the peak of
Python-level allocations (tracemalloc, in a separate run) must stay flat as N grows, since
readers hold no frames, a bounded pool of open decoders and of open cache files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image

from vadbench.harness.plugins import load_plugins
from vadbench.sdk.contracts import Video
from vadbench.sdk.framecache import (
    BUDGET_ENVIRONMENT,
    CACHE_ENVIRONMENT,
    cache_dir,
    release_cache_files,
)
from vadbench.sdk.video import release_decoders
from vadbench_plugins.datasets.videofolder import VideoFolderOptions, open_videofolder

MEMORY_FRAME_SIZE = (256, 256)
DEFAULT_MODELS = "zxvad:cpu,ffp:cpu,mpn:cpu,rgan:cpu,zxvad:paper"
TARGET_RATIO = 10
CACHE_STATES = {
    "off": "decoded (cache off)",
    "filling": "first decode",
    "warm": "from the cache",
}
CHUNK = 64
CLIP = 5
MEMORY_SIZES = (8, 32, 128)


def camera_frames(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """A textured static background, a moving bright box and sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    background = (90 + 40 * np.sin(x / 23.0) * np.cos(y / 17.0)).astype(np.float32)
    frames = []
    for index in range(count):
        image = background + rng.normal(0, 3, background.shape).astype(np.float32)
        top = (index * 3) % (height - 40)
        left = (index * 5) % (width - 30)
        image[top : top + 40, left : left + 30] = 220
        grey = np.clip(image, 0, 255).astype(np.uint8)
        frames.append(np.stack([grey, grey, (grey * 0.8).astype(np.uint8)], axis=-1))
    return frames


def write_video(path: Path, frames: list[np.ndarray], codec: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 25
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_jpegs(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, pixels in enumerate(frames):
        Image.fromarray(pixels).save(folder / f"{index:03d}.jpg", quality=90)


def one_video(root: Path, size: tuple[int, int]) -> Video:
    options = VideoFolderOptions(root=root, frame_size=size)
    return open_videofolder(options).source("train").videos()[0]


def sequential(video: Video) -> int:
    for start in range(0, video.num_frames, CHUNK):
        video.frames(start, min(start + CHUNK, video.num_frames))
    return video.num_frames


def random_clips(video: Video, clips: int = 40) -> int:
    rng = np.random.default_rng(0)
    for start in rng.integers(0, video.num_frames - CLIP + 1, clips):
        video.frames(int(start), int(start) + CLIP)
    return clips * CLIP


def rate(
    read: Callable[[Video], int], video: Video, repeats: int, empty_cache: Path | None = None
) -> list[float]:
    """Frames/s of ``read`` per repeat; each opens its files anew (as a new video does) and,
    with ``empty_cache``, starts from an empty frame cache."""
    rates = []
    for _ in range(repeats):
        release_decoders()
        release_cache_files()
        if empty_cache is not None:
            shutil.rmtree(empty_cache, ignore_errors=True)
        started = time.perf_counter()
        frames = read(video)
        rates.append(frames / (time.perf_counter() - started))
    return rates


REPORT: list[str] = []


def emit(line: str) -> None:
    """Print a line of the report and keep it for ``--out``."""
    print(line, flush=True)
    REPORT.append(line)


def write_report(path: Path, argv: list[str]) -> None:
    # Imported here: it imports torch, which would weigh on the memory children's RSS.
    from vadbench.harness.environment import describe_environment

    environment = describe_environment()
    git = environment["vadbench_git"]
    revision = f"commit {git['commit'][:7]}{', with uncommitted changes' if git['dirty'] else ''}"
    command = " ".join(["python", "benchmarks/bench_data_loading.py", *argv])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# Clip loading throughput and memory\n\nHardware: {environment['cpu']}, "
        f"{os.cpu_count()} CPU threads, no GPU used; torch {environment['torch']}, "
        f"PyAV {av.__version__}, vadbench {environment['vadbench']} ({revision}).\n\n"
        f"Command: `{command}`\n\n```\n" + "\n".join(REPORT) + "\n```\n"
    )


def summary(rates: list[float]) -> str:
    spread = f"(spread {min(rates):.0f}-{max(rates):.0f})"
    return f"{statistics.median(rates):8.0f} frames/s  {spread:24s}"


def model_fps(model: str) -> float:
    """A preset's inference frames/s (``vadbench profile PLUGIN:PRESET --metrics fps``: batch 1,
    as the efficiency leaderboard reports it), in a child pinned to one core: one thread."""
    command = [sys.executable, "-m", "vadbench", "profile", model]
    every_core = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if every_core is not None:
        os.sched_setaffinity(0, {min(every_core)})
    try:
        result = subprocess.run(
            [*command, "--metrics", "fps", "--format", "json"], capture_output=True, text=True
        )
    finally:
        if every_core is not None:
            os.sched_setaffinity(0, every_core)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    (metric,) = json.loads(result.stdout)["rows"][0]["metrics"]
    return float(metric["value"])


def input_size(model: str) -> int:
    """The square input size of a ``PLUGIN:PRESET``, from the preset's ``image_size``."""
    plugin, preset = model.split(":")
    spec = load_plugins().models.get(plugin)
    return int(spec.options.model_validate(spec.presets[preset]).image_size)  # type: ignore[attr-defined]


def throughput(
    work: Path, frames: int, size: tuple[int, int], repeats: int, models: Sequence[str]
) -> None:
    content = camera_frames(frames, *size)
    write_video(work / "avi" / "train" / "camera.avi", content, "mpeg4")
    write_video(work / "mp4" / "train" / "camera.mp4", content, "libx264")
    write_jpegs(work / "jpg" / "train" / "camera", content)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    emit(
        f"first decode of {size[0]}x{size[1]} sources ({frames} frames) at each preset's input "
        f"size, on every core ({cores}), against the preset's inference on one thread (batch 1); "
        f"median of {repeats}; target: first decode >= {TARGET_RATIO}x"
    )
    sources = (("MPEG-4 .avi", "avi"), ("H.264 .mp4", "mp4"), ("JPEG folder", "jpg"))
    for model in models:
        side = input_size(model)
        reference = model_fps(model)
        emit(f"{model} at {side}x{side}: inference {reference:.3g} frames/s on one thread")
        compare(work, sources, (side, side), reference, repeats)


def compare(
    work: Path,
    sources: Sequence[tuple[str, str]],
    size: tuple[int, int],
    reference: float,
    repeats: int,
) -> None:
    """Each source read at ``size``: first decode (sequential, filling the frame cache, as the
    first epoch of a cell reads), then for information without the cache, random clips, and
    reads served by the cache."""
    rows = (
        ("filling", "sequential", sequential, True),
        ("off", "sequential", sequential, False),
        ("off", f"random {CLIP}-frame", random_clips, False),
        ("warm", "sequential", sequential, False),
    )
    for label, folder in sources:
        for cache, pattern, read, judged in rows:
            os.environ[BUDGET_ENVIRONMENT] = "off" if cache == "off" else "4G"
            video = one_video(work / folder, size)
            if cache == "warm":
                sequential(video)
            empty = cache_dir() if cache == "filling" else None
            rates = rate(read, video, repeats, empty_cache=empty)
            ratio = statistics.median(rates) / reference
            verdict = ("meets" if ratio >= TARGET_RATIO else "BELOW") if judged else ""
            path = f"{label} {CACHE_STATES[cache]}"
            emit(f"  {path:31s} {pattern:15s} {summary(rates)} {ratio:8.1f}x  {verdict}".rstrip())
    os.environ.pop(BUDGET_ENVIRONMENT)


def memory_child(root: Path, traced: bool) -> None:
    """Iterate a whole dataset as a model would, then print the peak memory as JSON: RSS
    (without tracemalloc, whose bookkeeping would inflate it) or traced Python allocations."""
    if traced:
        tracemalloc.start()
    dataset = open_videofolder(VideoFolderOptions(root=root, frame_size=MEMORY_FRAME_SIZE))
    clips = sum(1 for video in dataset.source("train").videos() for _ in video.iter_clips(CLIP))
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else peak_rss_mib()
    print(json.dumps({"clips": clips, "peak_mib": peak}))


def peak_rss_mib() -> float:
    """This process's peak RSS. Linux's ru_maxrss would include the parent's at fork time
    (kept across exec), so the high-water mark of /proc/self/status is used where it exists."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_peak(root: Path, traced: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--memory-child", str(root)]
    result = subprocess.run(
        command + (["--traced"] if traced else []), capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def memory(work: Path) -> None:
    source = work / "memory-source.avi"
    write_video(source, camera_frames(100, 240, 320, seed=1), "mpeg4")
    emit("peak memory while iterating every 5-frame clip of a dataset (fresh process each):")
    for count in MEMORY_SIZES:
        root = work / f"memory-{count}"
        for index in range(count):
            link = root / "train" / f"video {index:04d}.avi"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source)
        rss, traced = child_peak(root, traced=False), child_peak(root, traced=True)
        emit(
            f"  {count:4d} videos x 100 frames: {int(rss['clips']):6d} clips, "
            f"peak RSS {rss['peak_mib']:6.1f} MiB, "
            f"peak Python allocations {traced['peak_mib']:5.1f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="360x640", help="source H x W")
    parser.add_argument("--models", default=DEFAULT_MODELS, help="PLUGIN:PRESET,... to compare")
    parser.add_argument("--out", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        memory_child(args.memory_child, args.traced)
        return
    height, width = (int(part) for part in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="vadbench-bench-") as temporary:
        work = Path(temporary)
        os.environ[CACHE_ENVIRONMENT] = str(work / "cache")  # never the user's cache
        models = [model.strip() for model in args.models.split(",") if model.strip()]
        throughput(work, args.frames, (height, width), args.repeats, models)
        memory(work)
    if args.out is not None:
        sizes = ["--repeats", str(args.repeats), "--frames", str(args.frames), "--size", args.size]
        write_report(args.out, [*sizes, "--models", args.models, "--out", str(args.out)])


if __name__ == "__main__":
    main()
