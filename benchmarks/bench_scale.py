"""Scoring a ShanghaiTech-size test split at its native resolution, with and without
``frame_size``, against the fastest decode of the same frames on the same machine.

    python benchmarks/bench_scale.py [--fraction 1.0] [--workdir /tmp/vadbench-scale]

Builds ShanghaiTech's test layout at its real size (107 videos, 40,791 JPEG frames at 856×480;
``--fraction`` builds that share of the videos) with a small training split, then runs a
framediff matrix over it twice in fresh processes with the frame cache off, so that every frame
is decoded: once with ``frame_size: [64, 64]`` on the dataset and once without it (frames then
arrive at 856×480 and are resized for the model). Each pass reports frames per second and the
process's peak RSS. The reference is the fastest decode of the same JPEGs to 64×64 (PIL with
JPEG draft mode, one process per core), measured in the same run. The result goes to
benchmarks/results/scale_cpu.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "scale_cpu.md"
SHT_TEST_VIDEOS = 107
SHT_TEST_FRAMES = 40_791
WIDTH, HEIGHT = 856, 480
MATRIX = """
name: scale
datasets:
  sht: {{plugin: shanghaitech, options: {{root: {root}{frame_size}}}}}
models:
  fd: {{plugin: framediff, overrides: {{image_size: 64}}}}
threads: {threads}
reporters: [json]
metrics: [micro_auc]
matrix:
  - train: sht
    test: [sht]
"""


def write_video_frames(folder: Path, count: int, seed: int) -> None:
    """``count`` JPEG frames: a textured scene with a square crossing it."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    scene = np.kron(background, np.ones((8, 8, 1), dtype=np.uint8))
    folder.mkdir(parents=True)
    for index in range(count):
        frame = scene.copy()
        x = (index * 7) % (WIDTH - 60)
        frame[200:260, x : x + 60] = 255
        Image.fromarray(frame).save(folder / f"{index:03d}.jpg", quality=90)


def write_training_video(path: Path, count: int, seed: int) -> None:
    """An MPEG-4 .avi like ShanghaiTech's training videos, of the same scene."""
    import av

    rng = np.random.default_rng(seed)
    background = rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    scene = np.kron(background, np.ones((8, 8, 1), dtype=np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(count):
            frame = scene.copy()
            frame[200:260, index * 7 : index * 7 + 60] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def build(root: Path, fraction: float) -> int:
    """The test split (and a two-video training split); the number of test frames."""
    videos = max(1, round(SHT_TEST_VIDEOS * fraction))
    per_video = SHT_TEST_FRAMES // SHT_TEST_VIDEOS
    jobs = []
    with ProcessPoolExecutor() as pool:
        for index in range(videos):
            name = f"{1 + index % 12:02d}_{index + 1:04d}"
            folder = root / "testing" / "frames" / name
            jobs.append(pool.submit(write_video_frames, folder, per_video, index))
            labels = np.zeros(per_video, dtype=np.int8)
            labels[per_video // 2 : per_video // 2 + 40] = 1
            (root / "testing" / "test_frame_mask").mkdir(parents=True, exist_ok=True)
            np.save(root / "testing" / "test_frame_mask" / f"{name}.npy", labels)
        for index in range(2):
            path = root / "training" / "videos" / f"01_{index + 1:03d}.avi"
            jobs.append(pool.submit(write_training_video, path, 30, 1000 + index))
        for job in jobs:
            job.result()
    return videos * per_video


def decode_reduced(paths: list[Path]) -> int:
    for path in paths:
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))
            image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    return len(paths)


def fastest_decode(root: Path) -> float:
    """Frames per second of decoding every test JPEG to 64×64, one process per core."""
    paths = sorted((root / "testing" / "frames").glob("*/*.jpg"))
    cores = len(os.sched_getaffinity(0))
    parts = [paths[i::cores] for i in range(cores)]
    started = time.perf_counter()
    with ProcessPoolExecutor(cores) as pool:
        done = sum(pool.map(decode_reduced, parts))
    return done / (time.perf_counter() - started)


def scoring_pass(workdir: Path, root: Path, frame_size: bool, frames: int) -> dict[str, float]:
    """A fresh ``vadbench run`` of framediff over the split, the frame cache off."""
    name = "with-frame-size" if frame_size else "native"
    folder = workdir / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    size = ", frame_size: [64, 64]" if frame_size else ""
    threads = len(os.sched_getaffinity(0))
    (folder / "matrix.yaml").write_text(MATRIX.format(root=root, frame_size=size, threads=threads))
    environment = {**os.environ, "VADBENCH_FRAME_CACHE": "off"}
    started = time.perf_counter()
    code = (
        "import resource, sys\n"
        "from vadbench.commands import main\n"
        "status = main(['run', 'matrix.yaml'])\n"
        "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=environment, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name}: vadbench run failed\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    rss = next(
        int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("MAXRSS")
    )
    auc = json.loads((folder / "results" / "scale" / "results.json").read_text())["rows"]
    return {"seconds": seconds, "fps": frames / seconds, "peak_rss_gb": rss / 1024**2,
            "rows": len(auc)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fraction", type=float, default=1.0, help="share of SHT's test videos")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vadbench-scale"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    root = args.workdir / "shanghaitech"
    started = time.perf_counter()
    frames = build(root, args.fraction)
    built = time.perf_counter() - started
    decoder = fastest_decode(root)
    sized = scoring_pass(args.workdir, root, True, frames)
    native = scoring_pass(args.workdir, root, False, frames)
    lines = [
        "# Scoring a ShanghaiTech-size test split at native resolution",
        "",
        f"Command: `python benchmarks/bench_scale.py --fraction {args.fraction}`, "
        f"{time.strftime('%Y-%m-%d')}; {platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}.",
        "",
        f"{frames:,} test frames at {WIDTH}×{HEIGHT} (JPEG) in ShanghaiTech's layout, built in "
        f"{built:.0f} s; framediff at 64×64, frame cache off, one `vadbench run` process each "
        "(its time includes start-up, planning and the two training videos).",
        "",
        "| pass | seconds | frames/s | of the fastest decode | peak RSS [GB] |",
        "|---|---|---|---|---|",
        f"| fastest decode (PIL draft to 64×64, a process per core) | {frames / decoder:.1f} | "
        f"{decoder:.0f} | 1.00 | |",
        f"| vadbench, `frame_size: [64, 64]` | {sized['seconds']:.1f} | {sized['fps']:.0f} | "
        f"{sized['fps'] / decoder:.2f} | {sized['peak_rss_gb']:.2f} |",
        f"| vadbench, no `frame_size` (856×480 to the model) | {native['seconds']:.1f} | "
        f"{native['fps']:.0f} | {native['fps'] / decoder:.2f} | {native['peak_rss_gb']:.2f} |",
        "",
        "No `frame_size` against `frame_size: [64, 64]`: "
        f"{native['seconds'] / sized['seconds']:.2f}× the time.",
        "",
    ]
    RESULT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
