"""The verdict of a standard synthetic benchmark run: the paired comparisons docs/zxvad.md and
docs/baselines.md quote, and whether the run reached the benchmark's precision targets.

For every source, zxVAD against each other model (paired: the same resampled test videos and
seeds), zxVAD against each of its loss ablations (the paper's Fig. 5a), and MPN's and rGAN's
k-shot against their zero-shot scores; all on cross-domain means (targets other than the
source), with 95% bootstrap intervals from the run's own statistics settings. Then the widest
own and paired half-widths against the targets (±2.0 and ±1.0 AUC points), and the number of
test videos per domain that would reach them, from the 1/sqrt(videos) scaling of a bootstrap
over videos. Nothing here is chosen from the numbers it reports.

    python benchmarks/standard_verdict.py results/synthetic-standard-16 [--out FILE.md]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from pathlib import Path

from vadbench.harness.plugins import load_plugins
from vadbench.harness.results import load_results, load_target_runs, statistics_settings
from vadbench.harness.store import RunStore
from vadbench.sdk import statistics
from vadbench.sdk.contracts import ResampledStatistic
from vadbench.sdk.files import read_record

OWN_TARGET = 0.020
PAIRED_TARGET = 0.010
ZXVAD = "zxvad (cpu)"


def cross_domain_rounds(
    runs: dict[tuple[str, str, str, str, str], statistics.TargetRuns],
    statistic: ResampledStatistic,
    resamples: int,
    seed: int,
) -> dict[tuple[str, str, str], statistics.Rounds]:
    """(model, source, protocol) → bootstrap rounds of the mean over the targets that are not
    the source and that every model of that source and protocol has."""
    per_target = {
        key: statistics.target_rounds(target_runs, statistic, key[4], resamples, seed)
        for key, target_runs in runs.items()
    }
    groups: dict[tuple[str, str], dict[str, dict[str, statistics.Rounds]]] = {}
    for (model, source, train, protocol, target), rounds in per_target.items():
        if target != train and rounds.value is not None:
            groups.setdefault((source, protocol), {}).setdefault(model, {})[target] = rounds
    means = {}
    for (source, protocol), models in groups.items():
        common = sorted(set.intersection(*(set(t) for t in models.values())))
        for model, targets in models.items():
            means[(model, source, protocol)] = statistics.mean_rounds([targets[t] for t in common])
    return means


def points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def row(label: str, model: statistics.Rounds, other: statistics.Rounds, confidence: float) -> str:
    difference, low, high = statistics.paired_difference(model, other, confidence)
    if difference is None or low is None or high is None:
        return f"| {label} | n/a | n/a | undecided |"
    verdict = "better" if low > 0 else "worse" if high < 0 else "tied"
    return f"| {label} | {points(difference)} | [{points(low)}, {points(high)}] | {verdict} |"


def verdict(run_dir: Path) -> str:
    store = RunStore(run_dir)
    run = read_record(store.run_file) or {}
    settings = statistics_settings((run.get("config") or {}).get("statistics") or {})
    resamples, confidence, seed = settings["resamples"], settings["confidence"], settings["seed"]
    registry = load_plugins()
    table = load_results(run_dir, registry)
    headline = registry.metrics.get(str(table.attrs["headline"]), where="the run's headline")
    if headline.statistic is None:
        raise SystemExit(f"{headline.name} declares no resampled statistic: no verdict")
    runs = load_target_runs(store, table)
    means = cross_domain_rounds(runs, headline.statistic, resamples, seed)
    videos = max((len(r.video_ids) for r in runs.values()), default=0)
    lines = [
        f"# Verdict of `{run_dir.name}` (cross-domain micro AUC, AUC points)",
        "",
        f"Paired differences on the same resampled test videos and seeds: {resamples} resamples, "
        f"{confidence:.0%} intervals; 'better' or 'worse' when the interval excludes 0. "
        f"Test videos per domain: {videos}.",
    ]
    own = [
        (statistics.estimate(r, confidence), key) for key, r in means.items() if r.value is not None
    ]
    paired: list[float] = []
    sources = sorted({(source, protocol) for _, source, protocol in means})
    for source, protocol in sources:
        models = sorted(m for m, s, p in means if (s, p) == (source, protocol))
        if protocol != "zero-shot" or ZXVAD not in models:
            continue
        zxvad = means[(ZXVAD, source, protocol)]
        lines += ["", f"## {source}: zxVAD against each model", ""]
        lines += ["| zxVAD − model | difference | interval | zxVAD is |", "|---|---|---|---|"]
        for model in models:
            if model == ZXVAD:
                continue
            lines.append(row(model, zxvad, means[(model, source, protocol)], confidence))
    kshot = [(m, s, p) for m, s, p in means if p != "zero-shot"]
    if kshot:
        lines += ["", "## k-shot against zero-shot (same trained model, same videos)", ""]
        lines += ["| model, source | difference | interval | k-shot is |", "|---|---|---|---|"]
        for model, source, protocol in sorted(kshot):
            zero = means.get((model, source, "zero-shot"))
            if zero is None:
                continue
            label = f"{model}, {source}, {protocol}"
            lines.append(row(label, means[(model, source, protocol)], zero, confidence))
    for source, protocol in sources:
        models = sorted(m for m, s, p in means if (s, p) == (source, protocol))
        for index, model in enumerate(models):
            for other in models[index + 1 :]:
                _, low, high = statistics.paired_difference(
                    means[(model, source, protocol)], means[(other, source, protocol)], confidence
                )
                if low is not None and high is not None:
                    paired.append((high - low) / 2)
    lines += ["", "## Precision", ""]
    widest_own = max(
        (e.upper - e.lower) / 2 for e, _ in own if e.lower is not None and e.upper is not None
    )
    widest_paired = max(paired, default=math.nan)
    for name, widest, target in (
        ("own half-width of a cross-domain mean", widest_own, OWN_TARGET),
        ("paired half-width of two models of one source", widest_paired, PAIRED_TARGET),
    ):
        lines.append(
            f"- widest {name}: ±{100 * widest:.1f} points (target ±{100 * target:.1f}); "
            f"about {_videos_for(widest, target, videos)} test videos per domain would reach it"
        )
    return "\n".join(lines) + "\n"


def _videos_for(half_width: float, target: float, videos: int) -> int:
    """Half-widths of a bootstrap over videos shrink as 1/sqrt(videos)."""
    if not videos or math.isnan(half_width):
        return 0
    return math.ceil(videos * (half_width / target) ** 2)


def main(arguments: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(list(arguments) if arguments is not None else None)
    text = verdict(args.run_dir)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
