"""Render speed of the synthetic benchmark on one CPU core (the target is 2,000 frames/s at 64x64).

    python benchmarks/bench_synthetic_render.py [--resolution 64] [--frames 80] [--repeats 5]

Renders train and test videos of every domain (test videos include planning and drawing the
anomalies and their masks; PNG encoding is not included) and prints frames/s per domain and
overall: the median over repeats and the spread (min-max). Each camera's static background is
built once before timing, as the generator does once per domain. Thread pools are pinned to
one thread and the process to one core before numpy is imported.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from vadbench_plugins.datasets.synthetic.domains import DOMAIN_NAMES  # noqa: E402
from vadbench_plugins.datasets.synthetic.render import GeneratorParams, render_video  # noqa: E402


def frames_per_second(domain: str, params: GeneratorParams, videos: int) -> float:
    """Frames/s of rendering ``videos`` training and ``videos`` test videos of one domain."""
    started = time.perf_counter()
    frames = 0
    for split in ("train", "test"):
        for index in range(videos):
            frames += len(render_video(domain, params, split, index).frames)
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--frames", type=int, default=80, help="frames per video")
    parser.add_argument("--videos", type=int, default=4, help="train and test videos per domain")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    params = GeneratorParams(resolution=args.resolution, frames_per_video=args.frames)
    for domain in DOMAIN_NAMES:
        render_video(domain, params, "train", 0)

    per_domain: dict[str, list[float]] = {d: [] for d in DOMAIN_NAMES}
    overall: list[float] = []
    for _ in range(args.repeats):
        repeat = {d: frames_per_second(d, params, args.videos) for d in DOMAIN_NAMES}
        for domain, rate in repeat.items():
            per_domain[domain].append(rate)
        # every domain renders the same number of frames: total frames / total time
        overall.append(len(repeat) / sum(1 / rate for rate in repeat.values()))

    print(
        f"synthetic render, {args.resolution}x{args.resolution}, {args.frames} frames/video, "
        f"{args.videos} train + {args.videos} test videos/domain, 1 core, {args.repeats} repeats"
    )
    for domain, rates in per_domain.items():
        print(
            f"  {domain:9s} {statistics.median(rates):8.0f} frames/s  "
            f"(spread {min(rates):.0f}-{max(rates):.0f})"
        )
    print(
        f"  {'all':9s} {statistics.median(overall):8.0f} frames/s  "
        f"(spread {min(overall):.0f}-{max(overall):.0f})"
    )


if __name__ == "__main__":
    main()
