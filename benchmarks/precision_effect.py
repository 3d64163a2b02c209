"""What a precision setting does to accuracy: per model, source and protocol, the paired
difference of the cross-domain mean of the headline metric between two runs of one matrix that
differ only in ``precision`` (second run minus first), on the same resampled test videos and
seeds, with its interval. Differences are in AUC points.

    python benchmarks/precision_effect.py results/quickstart results/quickstart-bf16 [--out FILE.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from publish import publish
from standard_verdict import cross_domain_rounds, row

from vadbench.harness.plugins import load_plugins
from vadbench.harness.results import load_results, load_target_runs, statistics_settings
from vadbench.harness.store import RunStore
from vadbench.sdk.files import read_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="run folder, e.g. at fp32")
    parser.add_argument("second", type=Path, help="run folder of the same matrix, e.g. at bf16")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    registry = load_plugins()
    run = read_record(RunStore(args.first).run_file) or {}
    settings = statistics_settings((run.get("config") or {}).get("statistics") or {})
    means = []
    for run_dir in (args.first, args.second):
        table = load_results(run_dir, registry)
        headline = registry.metrics.get(str(table.attrs["headline"]), where="the headline")
        if headline.statistic is None:
            raise SystemExit(f"{headline.name} declares no resampled statistic")
        runs = load_target_runs(RunStore(run_dir), table)
        means.append(
            cross_domain_rounds(runs, headline.statistic, settings["resamples"], settings["seed"])
        )
    first, second = means
    lines = [
        f"# `{args.second.name}` against `{args.first.name}`: cross-domain {headline.name}",
        "",
        f"Second run minus first, paired on the same resampled test videos and seeds "
        f"({settings['resamples']} resamples, {settings['confidence']:.0%} intervals), in AUC "
        "points; 'better' or 'worse' when the interval excludes 0.",
        "",
        "| model, source, protocol | difference | interval | verdict |",
        "|---|---|---|---|",
    ]
    for key in sorted(set(first) & set(second)):
        model, source, protocol = key
        label = f"{model}, {source}, {protocol}"
        lines.append(row(label, second[key], first[key], settings["confidence"]))
    publish(lines, args.out)


if __name__ == "__main__":
    main()
