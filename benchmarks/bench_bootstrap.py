"""How long the leaderboard's bootstrap takes: 1,000 rounds of one target's micro AUC.

The issue's target: 1,000 resamples of a 40k-frame target in seconds, not minutes. Prints the
median and range of five timings, and the same rounds through scikit-learn's roc_auc_score for
comparison (one call per round, on the resampled frames), as a ratio measured in this run.

    python benchmarks/bench_bootstrap.py [--frames 40000] [--videos 30] [--rounds 1000]
"""

from __future__ import annotations

import argparse
import platform
import statistics as stats
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from vadbench.sdk.statistics import WeightedAUC, video_draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40_000)
    parser.add_argument("--videos", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    per_video = args.frames // args.videos
    labels = [(rng.random(per_video) < 0.3).astype(np.int8) for _ in range(args.videos)]
    scores = [rng.normal(size=per_video) + 0.8 * label for label in labels]
    draws = video_draws("bench", args.videos, args.rounds, seed=0)

    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        WeightedAUC(scores, labels)(draws)
        timings.append(time.perf_counter() - started)

    sample = draws[: max(1, args.rounds // 50)].astype(int)
    started = time.perf_counter()
    for draw in sample:
        chosen = [v for v in range(args.videos) for _ in range(draw[v])]
        roc_auc_score(
            np.concatenate([labels[v] for v in chosen]),
            np.concatenate([scores[v] for v in chosen]),
        )
    per_round = (time.perf_counter() - started) / len(sample)
    median = stats.median(timings)
    print(f"{platform.processor() or platform.machine()}, numpy {np.__version__}")
    print(
        f"{args.rounds} rounds of a {args.videos}-video, {args.frames}-frame target: "
        f"median {median:.2f} s (range {min(timings):.2f}-{max(timings):.2f}, {args.repeats} runs)"
    )
    print(
        f"roc_auc_score per round: {per_round * 1000:.1f} ms, so {per_round * args.rounds:.1f} s "
        f"for {args.rounds} rounds ({per_round * args.rounds / median:.1f}x slower)"
    )


if __name__ == "__main__":
    main()
