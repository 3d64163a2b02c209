"""End-to-end ``vadbench detect`` speed on a 640×360 H.264 file against the model-only speed of
the zxVAD cpu preset, both measured in this run with the same torch threads (target: detect at
least 90% of the model-only frames per second).

Model-only is the ``fps`` metric's measurement: the inference module alone on one example frame
stack (batch 1), median of its repeats. End to end is everything ``vadbench detect`` does for one
video after the model is loaded: counting and decoding the file (H.264, resized by FFmpeg to the
model's input), scoring in the model's batches, and writing the CSV, plot and segments. Weights
are untrained (speed does not depend on them).

    python benchmarks/bench_detect.py [--frames 750] [--repeats 3] [--threads 1] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from publish import publish
from rich.console import Console

from vadbench.commands.detect import TrainedCell, detect
from vadbench.harness.environment import describe_environment
from vadbench.harness.plugins import load_plugins
from vadbench_plugins.metrics.efficiency import measure_fps

WIDTH, HEIGHT = 640, 360
TARGET = 0.90


def write_footage(path: Path, frames: int, seed: int = 0) -> Path:
    """Street-like H.264 footage: a textured background and a few moving rectangles."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(40, 160, (HEIGHT // 20 + 1, WIDTH // 20 + 1, 3), dtype=np.uint8)
    background = np.repeat(np.repeat(blocks, 20, axis=0), 20, axis=1)[:HEIGHT, :WIDTH]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(frames):
            image = background.copy()
            for lane in range(3):
                left = (lane * 200 + (lane + 1) * 3 * index) % (WIDTH - 40)
                top = 60 + lane * 100
                image[top : top + 80, left : left + 40] = (30 + 60 * lane, 40, 180)
            image += rng.integers(0, 6, image.shape, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=750)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_plugins()
    spec = registry.models.get("zxvad")
    torch.manual_seed(0)
    method = spec.create(spec.options.model_validate(spec.presets["cpu"]), "cpu")
    trained = TrainedCell(Path("untrained"), {"model": "zxvad", "preset": "cpu"}, method, None)
    module, example = method.inference_module()  # type: ignore[misc]
    quiet = Console(quiet=True)
    model_only, end_to_end = [], []
    with tempfile.TemporaryDirectory() as scratch:
        video = write_footage(Path(scratch) / "street.mp4", args.frames)
        for repeat in range(args.repeats):
            model_only.append(measure_fps(module, example, warmup=3, repeats=3).median)
            started = time.perf_counter()
            failures = detect(trained, [video], Path(scratch) / f"out{repeat}", 0.0, {}, quiet)
            seconds = time.perf_counter() - started
            if failures:
                raise SystemExit(f"detect failed: {failures}")
            end_to_end.append(args.frames / seconds)
            print(
                f"run {repeat + 1}: model only {model_only[-1]:.1f} frames/s, "
                f"detect end to end {end_to_end[-1]:.1f} frames/s",
                flush=True,
            )
    ratios = [e / m for e, m in zip(end_to_end, model_only, strict=True)]
    ratio = statistics.median(ratios)
    lines = [
        "# `vadbench detect` end to end against the model alone (zxVAD cpu preset)",
        "",
        f"Hardware: {describe_environment()['cpu']} ({platform.machine()}); torch threads: "
        f"{args.threads}; footage: {WIDTH}×{HEIGHT} H.264, {args.frames} frames; "
        f"{args.repeats} alternating runs.",
        f"Command: `python benchmarks/bench_detect.py --frames {args.frames} --repeats "
        f"{args.repeats} --threads {args.threads}`",
        "",
        "| run | model only (frames/s, batch 1) | detect end to end (frames/s) | ratio |",
        "|---|---|---|---|",
        *(
            f"| {i + 1} | {m:.1f} | {e:.1f} | {e / m:.2f} |"
            for i, (m, e) in enumerate(zip(model_only, end_to_end, strict=True))
        ),
        "",
        f"Median ratio: **{ratio:.2f}** (target: at least {TARGET:.2f}; range "
        f"{min(ratios):.2f}-{max(ratios):.2f}).",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
