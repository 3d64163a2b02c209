"""The dask executor's overhead against ``processes`` on the quickstart: the same matrix, the
same 2 workers of one torch thread, run alternately into fresh results folders from a warm data
cache; prints each wall time, the medians and their ratio (target: dask within 10%).

    python benchmarks/bench_executors.py [--repeats 2] [--steps 300] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXECUTORS = ("processes", "dask")


def run_once(executor: str, results: Path, steps: int) -> float:
    """Wall seconds of one quickstart run with this executor, from its command line."""
    argv = [
        sys.executable, "-m", "vadbench", "run", "quickstart",
        "--results-dir", str(results),
        "--set", f"executor={executor}",
        "--set", "executor_options.workers=2",
        "--set", f"budget.steps={steps}",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{executor} run failed ({done.returncode}):\n{done.stdout[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300, help="the quickstart's budget")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    subprocess.run(
        [sys.executable, "-m", "vadbench", "check", "quickstart"],
        capture_output=True,
        check=True,
    )  # renders the synthetic data once, so that no run pays for it
    times: dict[str, list[float]] = {name: [] for name in EXECUTORS}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for name in EXECUTORS if repeat % 2 == 0 else EXECUTORS[::-1]:
                seconds = run_once(name, Path(scratch) / f"{name}-{repeat}", args.steps)
                times[name].append(seconds)
                print(f"{name:<10} run {repeat + 1}: {seconds:6.1f} s", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["dask"] / medians["processes"]
    lines = [
        "# dask against processes on the quickstart",
        "",
        f"Hardware: {platform.processor() or platform.machine()}, 2 workers × 1 torch thread; "
        f"quickstart at a budget of {args.steps} steps, warm data cache, "
        f"{args.repeats} alternating runs each.",
        "Command: `python benchmarks/bench_executors.py "
        f"--repeats {args.repeats} --steps {args.steps}`",
        "",
        "| executor | runs (s) | median (s) |",
        "|---|---|---|",
        *(
            f"| {name} | {', '.join(f'{t:.1f}' for t in times[name])} | {medians[name]:.1f} |"
            for name in EXECUTORS
        ),
        "",
        f"dask / processes: **{ratio:.3f}** (target: at most 1.10).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
