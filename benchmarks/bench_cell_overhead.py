"""What a cell costs to send to a worker process: the per-cell overhead of the ``processes``
executor over ``local``, at thousands of cells over a dataset of UCF-Crime's size.

A run plans once and hands each cell to a worker as a job (``vadbench.harness.jobs``): the
worker loads the plugins, opens only the cell's datasets and walks its stages. This benchmark
runs the same matrix twice, in one process (``local``) and with one worker process per cell
(``processes``, ``workers: 1``, so both run one cell at a time), and divides the difference in
wall-clock time by the number of cells.

The matrix: framediff (non-learned, so a cell's own work is small and the overhead shows) over
``--cells`` seeds, each trained on a UCF-Crime-layout tree of ``--videos`` videos (1,610 normal
training videos and the rest test videos, as the release) and tested on a small frame-folder
dataset. Video files are byte copies of one short clip: the layout is real, the decoding cheap.

    python benchmarks/bench_cell_overhead.py --cells 2000 --videos 1900 \\
        --out benchmarks/results/cell_overhead_cpu.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.builders import write_square_dataset  # noqa: E402
from tests.dataset_fixtures import annotation_line, write_video  # noqa: E402

TRAIN_VIDEOS = 1610  # UCF-Crime's Anomaly_Train.txt lists 1,610 videos


def build_ucfcrime_tree(root: Path, videos: int) -> None:
    """UCF-Crime's layout with ``videos`` clips: the training list and the test annotation."""
    clip = write_video(root / "clip.mp4", 12)
    train = min(TRAIN_VIDEOS, videos - 1)
    train_list, annotation = [], []
    for index in range(videos):
        if index < train:
            name = f"Normal_Videos{index:04d}_x264.mp4"
            relative = f"Training_Normal_Videos_Anomaly/{name}"
            train_list.append(relative)
        else:
            name = f"Normal_Videos_{index:04d}_x264.mp4"
            relative = f"Testing_Normal_Videos_Anomaly/{name}"
            annotation.append(annotation_line(name, "Normal", []))
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        os.link(clip, root / relative)
    clip.unlink()
    splits = root / "UCF_Crimes-Train-Test-Split" / "Anomaly_Detection_splits"
    splits.mkdir(parents=True)
    (splits / "Anomaly_Train.txt").write_text("\n".join(train_list) + "\n")
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "\n".join(annotation) + "\n"
    )


def matrix_text(executor: str, cells: int) -> str:
    return f"""
name: overhead-{executor}
executor: {executor}
executor_options: {{{"workers: 1" if executor == "processes" else ""}}}
threads: 1
seeds: [{", ".join(str(seed) for seed in range(cells))}]
datasets:
  ucf: {{plugin: ucfcrime, options: {{root: ucf}}}}
  small: {{plugin: frames, options: {{root: small}}}}
models:
  fd: {{plugin: framediff, overrides: {{image_size: 16}}}}
metrics: [micro_auc]
statistics: {{resamples: 100}}
reporters: [json]
matrix:
  - train: ucf
    test: [small]
"""


def timed_run(folder: Path, executor: str, cells: int) -> float:
    matrix = folder / f"{executor}.yaml"
    matrix.write_text(matrix_text(executor, cells))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vadbench", "run", matrix.name],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{executor} run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--videos", type=int, default=1900)
    parser.add_argument("--out", type=Path, help="write the result as Markdown here")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="vadbench-overhead-"))
    try:
        build_ucfcrime_tree(folder / "ucf", args.videos)
        labels = [np.array([0] * 10 + [1] * 6 + [0] * 8, dtype=np.uint8)] * 2
        write_square_dataset(folder / "small", [20, 20], labels)
        local = timed_run(folder, "local", args.cells)
        processes = timed_run(folder, "processes", args.cells)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    overhead = (processes - local) / args.cells
    command = " ".join(["python", "benchmarks/bench_cell_overhead.py", *(argv or sys.argv[1:])])
    text = f"""# Per-cell overhead of the processes executor

Command: `{command}`, on {platform.processor() or platform.machine()} ({os.cpu_count()} cores),
Python {platform.python_version()}, {time.strftime("%Y-%m-%d")}.

{args.cells} framediff cells (one per seed), trained on {args.videos} videos in UCF-Crime's layout
and tested on a 2-video frame-folder set; both runs one cell at a time, from an empty results
folder, the same matrix but for the executor.

| executor | wall-clock | per cell |
|---|---|---|
| local | {local:.1f} s | {local / args.cells * 1000:.0f} ms |
| processes (workers: 1) | {processes:.1f} s | {processes / args.cells * 1000:.0f} ms |
| **overhead of processes** | {processes - local:.1f} s | **{overhead * 1000:.0f} ms** |
"""
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
