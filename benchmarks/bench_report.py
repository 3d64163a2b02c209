"""How long ``vadbench report RUN --reporter html`` takes on a finished run (target: under 30 s
on the quickstart): the whole command, as a user runs it, a few times; prints each wall time,
the median and the spread, and the size of what it wrote.

    python benchmarks/bench_report.py results/quickstart [--repeats 3] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from publish import publish

from vadbench.harness.environment import describe_environment

TARGET_SECONDS = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    argv = [sys.executable, "-m", "vadbench", "report", str(args.run_dir), "--reporter", "html"]
    seconds = []
    for repeat in range(args.repeats):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"report failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        print(f"run {repeat + 1}: {seconds[-1]:.1f} s", flush=True)
    report = args.run_dir / "report.html"
    figures = sorted((args.run_dir / "figures").glob("*"))
    median = statistics.median(seconds)
    lines = [
        f"# HTML report of `{args.run_dir}`",
        "",
        f"Hardware: {describe_environment()['cpu']} ({platform.machine()}); command: "
        f"`vadbench report {args.run_dir} --reporter html`, {args.repeats} runs.",
        "",
        f"Wall time: median **{median:.1f} s** (runs: "
        f"{', '.join(f'{s:.1f}' for s in seconds)}); target: under {TARGET_SECONDS:.0f} s.",
        f"report.html: {report.stat().st_size / 1e6:.2f} MB; figures/: {len(figures)} files, "
        f"{sum(f.stat().st_size for f in figures) / 1e6:.2f} MB.",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
