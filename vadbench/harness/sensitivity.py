"""The protocol-sensitivity card: a run's stored scores evaluated again under other evaluation
protocols, without training or scoring again, to show how far each model's AUC and the ranking
move when only the protocol changes (``vadbench report RUN --protocols ...``).

Per row group (source and zero-/k-shot protocol), each model's cross-domain mean of the headline
metric under every protocol, with its bootstrap interval, and the largest move from the run's own
protocol; then, per protocol, the best model, the models the paired test cannot tell from it,
and Kendall's tau between the protocol's order and the run's. Same seeds, same resampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vadbench.harness.plugins import Registry
from vadbench.harness.results import load_results
from vadbench.sdk import statistics
from vadbench.sdk.contracts import ConfigError, EvaluationProtocol
from vadbench.sdk.leaderboards import evaluation_of, headline_metric
from vadbench.sdk.protocol import evaluation_protocol

CARD_FILE = "sensitivity.md"
# The protocols a card compares when none are named: FFP's, the smoothing top methods use,
# MPN's code's, target-wide normalisation and raw scores.
CARD_PROTOCOLS = ("ffp", "ffp-gauss3", "ffp-gauss7", "mpn", "global", "raw")
SCOPE = "cross-domain"


@dataclass(frozen=True)
class ProtocolResults:
    protocol: EvaluationProtocol
    stats: statistics.RunStatistics


def sensitivity_card(
    run_dir: Path, protocol_names: Sequence[str], registry: Registry
) -> tuple[str, list[ProtocolResults]]:
    """The card as Markdown, and the intervals under each protocol (the run's own first)."""
    base = load_results(run_dir, registry)
    metric = headline_metric(base)
    if metric is None:
        raise ConfigError(f"{run_dir}: the run has no detection metric to compare protocols on")
    own = evaluation_of(base)
    chosen = [evaluation_protocol(name, "--protocols") for name in protocol_names]
    protocols = [own, *(p for p in chosen if not p.same_as(own))]
    results = []
    for protocol in protocols:
        table = base if protocol is own else load_results(run_dir, registry, protocol)
        found = table.attrs.get("statistics")
        if found is None:
            raise ConfigError(f"{run_dir}: no stored scores to evaluate again")
        results.append(ProtocolResults(protocol, found))
    return _markdown(run_dir, metric, results), results


def _groups(metric: str, results: list[ProtocolResults]) -> dict[tuple[str, str], list[str]]:
    """(source, zero-/k-shot label) → its models, from the run's own protocol's intervals."""
    groups: dict[tuple[str, str], list[str]] = {}
    for found_metric, model, source, label, scope in sorted(results[0].stats.means):
        if found_metric == metric and scope == SCOPE:
            groups.setdefault((source, label), []).append(model)
    return groups


# (metric, source, zero-/k-shot label): one row group's key in the run's intervals.
Group = tuple[str, str, str]


def _estimate(result: ProtocolResults, group: Group, model: str) -> statistics.Estimate | None:
    metric, source, label = group
    return result.stats.means.get((metric, model, source, label, SCOPE))


def _value(result: ProtocolResults, group: Group, model: str) -> float | None:
    found = _estimate(result, group, model)
    return None if found is None else found.value


def _cell(result: ProtocolResults, group: Group, model: str) -> str:
    found = _estimate(result, group, model)
    if found is None or found.value is None:
        return "n/a"
    if found.lower is None or found.upper is None:
        return f"{found.value:.3f}"
    return f"{found.value:.3f} [{found.lower:.3f}, {found.upper:.3f}]"


def _order(result: ProtocolResults, group: Group, models: list[str]) -> list[str]:
    """The models from best to worst (undefined values last)."""
    scored = {model: _value(result, group, model) for model in models}
    return sorted(models, key=lambda model: -_or_lowest(scored[model]))


def _or_lowest(value: float | None) -> float:
    return -1.0 if value is None else value


def _kendall(first: list[str], second: list[str]) -> float | None:
    from scipy.stats import kendalltau

    if len(first) < 2:
        return None
    tau = kendalltau([first.index(m) for m in first], [second.index(m) for m in first]).statistic
    return float(tau)


def _tied(result: ProtocolResults, group: Group) -> tuple[str, list[str]]:
    metric, source, label = group
    comparisons = result.stats.comparisons.get((metric, source, label, SCOPE), [])
    if not comparisons:
        return "n/a", []
    best = comparisons[0].best
    return best, [c.model for c in comparisons if c.model != best and c.decided and c.tied]


def _markdown(run_dir: Path, metric: str, results: list[ProtocolResults]) -> str:
    own = results[0]
    header = [
        f"# Protocol sensitivity: {run_dir.name}",
        "",
        f"The run's stored scores evaluated under {len(results)} evaluation protocols, without "
        f"training or scoring again: {metric}, the mean over cross-domain targets, with its 95% "
        "bootstrap interval (the same seeds and resampling under every protocol). The run's own "
        f"protocol comes first.",
        "",
        *(f"- {r.protocol.describe()}" for r in results),
        "",
    ]
    lines: list[str] = []
    largest: tuple[float, str, str, str] = (0.0, "", "", "")
    changed_best = []
    for (source, label), models in _groups(metric, results).items():
        group = (metric, source, label)
        names = [r.protocol.name for r in results]
        lines += [
            f"## {source}, {label}",
            "",
            "| model | " + " | ".join(names) + " | largest move |",
            "|---|" + "---|" * (len(names) + 1),
        ]
        for model in models:
            base = _value(own, group, model)
            moves = [
                (abs(value - base), value - base, r.protocol.name)
                for r in results[1:]
                if base is not None and (value := _value(r, group, model)) is not None
            ]
            move = max(moves, default=None)
            if move is not None and move[0] > largest[0]:
                largest = (move[0], model, move[2], f"{source}, {label}")
            cells = [_cell(r, group, model) for r in results]
            moved = "-" if move is None else f"{100 * move[1]:+.1f} points ({move[2]})"
            lines.append(f"| {model} | " + " | ".join(cells) + f" | {moved} |")
        lines += [
            "",
            "| protocol | best | tied with the best (paired interval holds 0) | Kendall's tau "
            f"with {own.protocol.name}'s order |",
            "|---|---|---|---|",
        ]
        own_order = _order(own, group, models)
        own_best, _ = _tied(own, group)
        for result in results:
            best, tied = _tied(result, group)
            tau = _kendall(own_order, _order(result, group, models))
            shown = "-" if tau is None else f"{tau:+.2f}"
            lines.append(
                f"| {result.protocol.name} | {best} | {', '.join(tied) or 'none'} | {shown} |"
            )
            if best != own_best:
                changed_best.append(f"{result.protocol.name} ({source}, {label}: {best})")
        lines.append("")
    summary = (
        f"Largest move of a model's {metric}: {100 * largest[0]:.1f} points ({largest[1]}, "
        f"{largest[3]}, under {largest[2]}). "
        if largest[1]
        else ""
    )
    summary += (
        "The best model changes under " + "; ".join(changed_best) + "."
        if changed_best
        else "The best model of every row group is the same under every protocol."
    )
    return "\n".join([*header, summary, "", *lines]).rstrip() + "\n"
