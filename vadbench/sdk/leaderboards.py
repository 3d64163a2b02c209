"""Leaderboards: the views every reporter renders, computed from the long-form results table
(one row per cell, target and metric, with the run's intervals in its ``attrs``) that
``vadbench report`` and a run hand to reporters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vadbench.sdk import statistics
from vadbench.sdk.learning import LearningCurve, under_trained
from vadbench.sdk.protocol import DEFAULT_PROTOCOL, EvaluationProtocol, evaluation_protocol

SKILL = "skill"
UNDER_TRAINED = "under-trained"


def skill_note(curve: LearningCurve) -> str:
    """What a cell's skill is measured against, and why it has none or marks the cell."""
    if curve.skill is None:
        return f"no skill: {curve.stopped}"
    text = (
        f"{curve.objective} on {curve.held_out_frames} held-out source frames: "
        f"{curve.final_loss:.3g} after {curve.steps} steps ({curve.stopped}) against "
        f"{curve.trivial_loss:.3g} for '{curve.trivial_predictor}'"
    )
    return f"{UNDER_TRAINED}: {text}" if under_trained(curve.skill) else text


def headline_metric(table: pd.DataFrame) -> str | None:
    """The detection metric the run's leaderboard ranks by (declared by its plugin)."""
    headline = table.attrs.get("headline")
    return None if headline is None else str(headline)


def detection_metrics(table: pd.DataFrame) -> list[str]:
    """The run's detection metrics in the order its plan gave them."""
    return list(table.attrs.get("detection_metrics", []))


def format_number(value: float) -> str:
    """Compact, readable: 4 significant digits at most, never scientific for ordinary sizes."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 10:
        return f"{value:.2f}"
    if magnitude == 0 or magnitude >= 0.001:
        return f"{value:.3f}"
    return f"{value:.2e}"


def _format_value(values: pd.Series) -> str:
    finite = values.dropna()
    if finite.empty:
        return "n/a"
    if len(finite) == 1 or np.allclose(finite, finite.iloc[0], rtol=1e-9, atol=0.0):
        # one value, or one per seed that the seed does not change (parameters, storage)
        return format_number(float(finite.iloc[0]))
    return f"{format_number(float(finite.mean()))} ± {format_number(float(finite.std(ddof=1)))}"


def _source_label(row: pd.Series) -> str:
    return f"{row['train']} + {row['aux']}" if row["aux"] else str(row["train"])


def detection_tables(table: pd.DataFrame, metric: str) -> dict[str, pd.DataFrame]:
    """Per model (and preset) and protocol: rows are sources, columns are targets, cells are
    the mean over seeds ± the half-width of its bootstrap interval (mean ± std over seeds where
    no stored scores allow an interval). Failed or pending targets show their status instead of
    a number. Keys are titles like ``"zxvad (cpu): micro_auc (zero-shot)"``.
    """
    stats: statistics.RunStatistics | None = table.attrs.get("statistics")
    tables: dict[str, pd.DataFrame] = {}
    detections = table[table["target"] != ""]
    groups = detections.groupby(["model", "preset", "protocol"], sort=True)
    for (model, preset, protocol_label), group in groups:
        name = f"{model} ({preset})" if preset else str(model)
        title = f"{name}: {metric} ({protocol_label})"
        group = group.assign(source=group.apply(_source_label, axis=1))
        cells: dict[tuple[str, str], str] = {}
        notes: list[str] = []
        for (source, target), entries in group.groupby(["source", "target"], sort=False):
            ok = entries[(entries["status"] == "ok") & (entries["metric"] == metric)]
            problems = entries[entries["status"] != "ok"]
            if not ok.empty:
                found = (
                    stats.targets.get((metric, name, source, protocol_label, target))
                    if stats
                    else None
                )
                text = format_estimate(found) if found else _format_value(ok["value"])
                published = reference_value(table, metric, str(model), str(source), str(target))
                if published is not None:
                    measured = float(ok["value"].mean())
                    mixed = "†" if reference_protocol_differs(table) else ""
                    text += f" (ref {published:.3f}, {measured - published:+.3f}{mixed})"
                note = "; ".join(sorted({n for n in ok["note"] if n}))
                if note:
                    text += "*"
                    notes.append(f"* {source} → {target}: {note}")
                if not problems.empty:
                    text += f" ({len(problems)} {problems['status'].iloc[0]})"
            elif not problems.empty:
                text = str(problems["status"].iloc[0])
            else:
                continue
            cells[(str(source), str(target))] = text
        if not cells:
            continue
        sources = list(dict.fromkeys(s for s, _ in cells))
        targets = list(dict.fromkeys(t for _, t in cells))
        frame = pd.DataFrame(
            [[cells.get((s, t), "") for t in targets] for s in sources],
            index=pd.Index(sources, name="source → target"),
            columns=targets,
        )
        reference = table.attrs.get("reference")
        if reference and _reference_metric(table) == metric:
            notes = [
                *notes,
                f"ref: {reference['source']}; the signed number is measured − ref",
                reference_protocol_note(table),
            ]
        frame.attrs["notes"] = notes
        tables[title] = frame
    return tables


def _reference_metric(table: pd.DataFrame) -> str | None:
    """The metric a matrix's published values are of: its own ``metric``, or the headline."""
    reference = table.attrs.get("reference") or {}
    return reference.get("metric") or headline_metric(table)


def evaluation_of(table: pd.DataFrame) -> EvaluationProtocol:
    """The evaluation protocol the run's detection metrics were computed under."""
    found = table.attrs.get("evaluation")
    return found if isinstance(found, EvaluationProtocol) else DEFAULT_PROTOCOL


def evaluation_note(table: pd.DataFrame) -> str:
    return f"evaluation protocol {evaluation_of(table).describe()}"


def _reference_protocol(table: pd.DataFrame) -> EvaluationProtocol | None:
    reference = table.attrs.get("reference") or {}
    stated = reference.get("evaluation")
    return None if stated is None else evaluation_protocol(stated, "reference.evaluation")


def reference_protocol_differs(table: pd.DataFrame) -> bool:
    """True where the published numbers were measured under another protocol than the run's,
    or under one their source does not state: their difference then mixes protocols."""
    stated = _reference_protocol(table)
    return stated is None or not stated.same_as(evaluation_of(table))


def reference_protocol_note(table: pd.DataFrame) -> str:
    stated = _reference_protocol(table)
    measured = evaluation_of(table)
    if stated is None:
        return (
            "†: the reference does not state its evaluation protocol; measured under "
            f"{measured.name}, so the difference may mix protocols"
        )
    if stated.same_as(measured):
        return f"ref and measured both under evaluation protocol {measured.name}"
    return (
        f"†: protocol mismatch: the reference was measured under {stated.describe()}; this run "
        f"under {measured.describe()}; the difference mixes the two"
    )


def reference_value(
    table: pd.DataFrame, metric: str, model: str, source: str, target: str
) -> float | None:
    """The published value the matrix's ``reference`` block gives for this cell, if any."""
    reference = table.attrs.get("reference")
    if not reference or _reference_metric(table) != metric:
        return None
    value = reference.get("values", {}).get(model, {}).get(source, {}).get(target)
    return None if value is None else float(value)


def format_estimate(found: statistics.Estimate) -> str:
    """``0.697 ± 0.012``: the value and the half-width of its interval; ``n/a`` when undefined."""
    if found.value is None:
        return "n/a"
    if found.half_width is None:
        return format_number(found.value)
    return f"{format_number(found.value)} ± {format_number(found.half_width)}"


def format_difference(comparison: statistics.Comparison) -> str:
    """``-0.007 [-0.055, +0.029]``: a paired difference from the best with its interval."""
    if comparison.model == comparison.best:
        return "best"
    if comparison.lower is None or comparison.upper is None:
        return f"{comparison.difference:+.3f}"
    return f"{comparison.difference:+.3f} [{comparison.lower:+.3f}, {comparison.upper:+.3f}]"


def interval_note(stats: statistics.RunStatistics | None) -> list[str]:
    if stats is None or not stats.targets:
        return []
    return [
        f"± : half-width of the {stats.confidence:.0%} bootstrap interval ({stats.resamples} "
        "resamples of test videos, and of seeds where there are several)"
    ]


def model_title(model: str, preset: str) -> str:
    return f"{model} ({preset})" if preset else model


def _efficiency_cells(table: pd.DataFrame) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Formatted efficiency values per model title and column, and the footnotes they need.

    Columns follow the order in which the cells stored their metrics (the plan's metric
    order). A value with a note that qualifies it (n/a and why, an incomplete count the metric
    marked as a footnote) gets a ``*`` and a footnote line.
    """
    efficiency = table[
        (table["target"] == "") & (table["status"] == "ok") & (table["metric"] != SKILL)
    ]
    position = efficiency.groupby("cell").cumcount()
    first = position.groupby(efficiency["metric"]).transform("min")
    efficiency = efficiency.assign(order=first).sort_values("order", kind="stable")
    rows: dict[str, dict[str, str]] = {}
    notes: dict[str, dict[str, list[str]]] = {}
    for (model, preset, metric, unit), group in efficiency.groupby(
        ["model", "preset", "metric", "unit"], sort=False
    ):
        title = model_title(str(model), str(preset))
        column = f"{metric} [{unit}]" if unit else str(metric)
        value = _format_value(group["value"])
        group_notes = "; ".join(sorted({n for n in group["note"] if n}))
        if group_notes and (value == "n/a" or group["footnote"].any()):
            value += "*"
            by_metric = notes.setdefault(group_notes, {})
            by_metric.setdefault(str(metric), []).append(title)
        rows.setdefault(title, {})[column] = value
    lines = []
    for note, by_metric in notes.items():
        models = sorted({t for titles in by_metric.values() for t in titles})
        lines.append(f"* {', '.join(by_metric)} ({', '.join(models)}): {note}")
    return rows, lines


def efficiency_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model (and preset), one column per efficiency metric with its unit.
    Footnotes (why a value is n/a, what a count skipped) are in ``frame.attrs["notes"]``."""
    rows, notes = _efficiency_cells(table)
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    frame.attrs["notes"] = notes
    return frame


def leaderboard_table(table: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The ranking view: one row per model, source and protocol with the detection metric (the
    headline unless given)
    averaged over the targets its group (same source and protocol) has in common, and over
    the cross-domain ones among them, each with its bootstrap interval; the paired difference
    of the cross-domain mean from the group's best model, and whether it is a tie; then the
    efficiency columns."""
    metric = metric or headline_metric(table)
    if metric is None:
        return pd.DataFrame()
    detections = table[(table["target"] != "") & (table["metric"] == metric)]
    detections = detections[detections["status"] == "ok"]
    if detections.empty:
        return pd.DataFrame()
    stats: statistics.RunStatistics | None = table.attrs.get("statistics")
    efficiency, notes = _efficiency_cells(table)
    rows = []
    keys = ["model", "preset", "train", "aux", "protocol"]
    for (model, preset, train, aux, protocol_label), group in detections.groupby(keys, sort=True):
        title = model_title(str(model), str(preset))
        source = f"{train} + {aux}" if aux else str(train)
        left_out = sorted(set(group.loc[group["value"].isna(), "target"]))
        if left_out:
            notes = [*notes, f"{title}, {protocol_label}: no {metric} for {', '.join(left_out)}"]
        row: dict[str, Any] = {"model": title, "source": source, "protocol": protocol_label}
        for scope in statistics.SCOPES:
            column = f"{metric} ({scope})"
            found = (
                stats.means.get((metric, title, source, protocol_label, scope)) if stats else None
            )
            if found is not None:
                row[column] = format_estimate(found)
                continue
            if scope == "mean":
                row[column] = _mean_over_targets(group)
            else:
                cross = group[group["target"] != train]
                row[column] = _mean_over_targets(cross) if not cross.empty else ""
            if stats is not None and stats.means and row[column]:
                row[column] += "†"
                fallback_note = (
                    "†: no readable stored scores, so no interval: the plain mean over this "
                    "row's own targets, which may differ from its group's"
                )
                if fallback_note not in notes:
                    notes = [*notes, fallback_note]
        comparisons = (
            stats.comparisons.get((metric, source, protocol_label, "cross-domain"), [])
            if stats
            else []
        )
        mine = [c for c in comparisons if c.model == title]
        if mine:
            row["Δ cross-domain vs best"] = format_difference(mine[0])
            row["tied with best"] = (
                ("yes" if mine[0].tied else "no") if mine[0].decided else "undecided"
            )
        skill = _skill_text(_skill_rows(table, model, preset, train, aux))
        if skill:
            row[SKILL] = skill
        rows.append({**row, **efficiency.get(title, {})})
    frame = pd.DataFrame(rows).set_index("model")
    if SKILL in frame.columns:
        notes = [*notes, SKILL_NOTE]
    frame.attrs["notes"] = [
        *notes,
        evaluation_note(table),
        *origin_notes(table),
        *_leaderboard_notes(stats, metric),
    ]
    return frame


TRAINED_HERE = "trained in this run"


def _origins(table: pd.DataFrame) -> dict[str, str]:
    """Model title → where its checkpoints come from: ``zoo:NAME`` (every entry its cells
    loaded) or ``TRAINED_HERE``, for the models that train."""
    if "origin" not in table.columns:
        return {}
    trained = table[(table["metric"] == SKILL) & (table["status"] == "ok")]
    found: dict[str, str] = {}
    for (model, preset), group in trained.groupby(["model", "preset"], sort=True):
        names = sorted({str(origin) or TRAINED_HERE for origin in group["origin"]})
        found[model_title(str(model), str(preset))] = ", ".join(names)
    return found


def origin_notes(table: pd.DataFrame) -> list[str]:
    """Which models were loaded from the zoo and which were trained live, when any came from
    the zoo: a converged zoo model and a live one trained on the run's budget are not the same
    kind of entry."""
    origins = _origins(table)
    zoo = {title: origin for title, origin in origins.items() if origin != TRAINED_HERE}
    if not zoo:
        return []
    live = [title for title, origin in origins.items() if origin == TRAINED_HERE]
    return [
        "from the zoo (checkpoints shipped with vadbench, trained to convergence on the same "
        "source; not trained in this run): "
        + "; ".join(f"{title} ← {origin}" for title, origin in zoo.items())
        + f"; {TRAINED_HERE}: {', '.join(live) or 'none'}"
    ]


SKILL_NOTE = (
    f"{SKILL}: 1 − the model's loss / a trivial predictor's on held-out normal source videos at "
    f"the end of training (mean ± sd over seeds); '{UNDER_TRAINED}': a seed at or below 0, a "
    "model that learned nothing that beats the trivial predictor"
)


def _skill_rows(
    table: pd.DataFrame, model: object, preset: object, train: object, aux: object
) -> pd.DataFrame:
    return table[
        (table["metric"] == SKILL)
        & (table["target"] == "")
        & (table["model"] == model)
        & (table["preset"] == preset)
        & (table["train"] == train)
        & (table["aux"] == aux)
    ].drop_duplicates("cell")


def _skill_text(rows: pd.DataFrame) -> str:
    """``0.214 ± 0.010``, ``-0.031 under-trained``, ``n/a`` (nothing trained), or empty (no
    curve was stored)."""
    if rows.empty:
        return ""
    text = _format_value(rows["value"])
    if any(under_trained(float(value)) for value in rows["value"].dropna()):
        text += f" {UNDER_TRAINED}"
    return text


def learning_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per model and source: what training did to the held-out source loss, seed by seed
    (steps, why it stopped, final and trivial loss, skill), and the under-trained verdict."""
    rows = table[(table["metric"] == SKILL) & (table["target"] == "") & (table["status"] == "ok")]
    rows = rows.drop_duplicates("cell").sort_values(["model", "preset", "train", "aux", "seed"])
    if rows.empty:
        return pd.DataFrame()
    entries = []
    for (model, preset, train, aux), group in rows.groupby(
        ["model", "preset", "train", "aux"], sort=False
    ):
        entries.append(
            {
                "model": model_title(str(model), str(preset)),
                "source": f"{train} + {aux}" if aux else str(train),
                "seeds": len(group),
                SKILL: _skill_text(group),
                "by seed": ", ".join(
                    "n/a" if pd.isna(value) else format_number(float(value))
                    for value in group["value"]
                ),
                "how it was measured": "; ".join(dict.fromkeys(group["note"])),
                "checkpoint": ", ".join(
                    sorted({str(origin) or TRAINED_HERE for origin in group.get("origin", [""])})
                ),
            }
        )
    frame = pd.DataFrame(entries).set_index("model")
    frame.attrs["notes"] = [SKILL_NOTE]
    return frame


def _leaderboard_notes(stats: statistics.RunStatistics | None, metric: str) -> list[str]:
    if stats is None:
        return []
    notes = interval_note(stats)
    for (target_metric, source, protocol_label, scope), targets in sorted(
        stats.common_targets.items()
    ):
        if target_metric == metric and scope == "mean":
            notes.append(
                f"{source}, {protocol_label}: means over the targets every model of the row "
                f"group has: {', '.join(targets) or 'none'}"
            )
    if any(key[0] == metric for key in stats.comparisons):
        notes.append(
            "Δ: paired bootstrap difference from the best model of the same source and protocol "
            "(same resampled videos and seeds); a tie when its interval holds 0"
        )
    return notes


def rank_tables(table: pd.DataFrame, metric: str | None = None) -> dict[str, pd.DataFrame]:
    """Per protocol: the models' mean ranks over cross-domain targets under the detection
    metric (the headline unless given), Friedman's test, the
    Holm-corrected Conover post-hoc pairs and Nemenyi's critical difference, as a table with
    the test in its notes (the critical-difference summary)."""
    stats: statistics.RunStatistics | None = table.attrs.get("statistics")
    metric = metric or headline_metric(table)
    if stats is None or metric is None:
        return {}
    tables = {}
    for (test_metric, protocol_label), test in sorted(stats.ranks.items()):
        if test_metric != metric:
            continue
        order = sorted(test.models, key=lambda model: test.mean_ranks[model])
        best_rank = test.mean_ranks[order[0]]
        rows = []
        for model in order:
            same = [
                other
                for other in order
                if other != model
                and test.pairwise_p.get((model, other), test.pairwise_p.get((other, model), 1.0))
                >= test.alpha
            ]
            untested = "not tested (Friedman did not reject)"
            rows.append(
                {
                    "model": model,
                    "mean rank": f"{test.mean_ranks[model]:.2f}",
                    "within CD of the best": "yes"
                    if test.mean_ranks[model] - best_rank <= test.critical_difference
                    else "no",
                    "not different from (Holm)": (", ".join(same) or "-")
                    if test.pairs_tested
                    else untested,
                }
            )
        frame = pd.DataFrame(rows).set_index("model")
        frame.attrs["notes"] = [
            f"Friedman over {test.blocks} (source, target) blocks: chi2 = {test.statistic:.2f}, "
            f"p = {test.p_value:.3g}; Nemenyi critical difference of mean ranks = "
            f"{test.critical_difference:.2f} (alpha = {test.alpha}); pairs: Conover post-hoc, "
            "Holm-corrected",
        ]
        tables[f"ranks: {metric} ({protocol_label})"] = frame
    return tables


TYPE_PATTERN = r"^type_auc\[(.+)\]$"


def type_table(table: pd.DataFrame) -> pd.DataFrame:
    """Detection per anomaly type: one row per model, source and protocol, one column per type
    (the ``type_auc`` metric's results): the AUC of the normal frames of all the row's targets,
    pooled, against that type's frames, ± the half-width of its bootstrap interval; where no
    stored scores allow one, the mean over seeds and targets of the per-target values (†)."""
    rows = table[table["metric"].str.match(TYPE_PATTERN) & (table["status"] == "ok")]
    if rows.empty:
        return pd.DataFrame()
    stats: statistics.RunStatistics | None = table.attrs.get("statistics")
    rows = rows.assign(type=rows["metric"].str.extract(TYPE_PATTERN)[0])
    types = sorted(set(rows["type"]))
    entries = []
    for (model, preset, train, aux, protocol_label), group in rows.groupby(
        ["model", "preset", "train", "aux", "protocol"], sort=True
    ):
        title = model_title(str(model), str(preset))
        source = f"{train} + {aux}" if aux else str(train)
        entry: dict[str, Any] = {"model": title, "source": source, "protocol": protocol_label}
        for name in types:
            metric = statistics.type_metric(name)
            key = (metric, title, source, protocol_label, statistics.POOLED)
            found = stats.targets.get(key) if stats else None
            if found is not None:
                entry[name] = format_estimate(found)
            else:
                entry[name] = _mean_over_targets(group[group["type"] == name]) + "†"
        entries.append(entry)
    frame = pd.DataFrame(entries).set_index("model")
    frame.attrs["notes"] = [
        "each type: ROC AUC of the normal frames of the row's targets, pooled, against the "
        "frames of that type only (other anomalies left out); ± : half-width of the 95% "
        "bootstrap interval over test videos and seeds; †: no stored scores, the mean of the "
        "per-target values without an interval",
    ]
    return frame


FINDINGS_TITLE = "what the run says"


def run_findings(table: pd.DataFrame) -> list[str]:
    """A paragraph in words per row group (source and zero-/k-shot protocol), for the top of a
    report: which model has the highest cross-domain mean of the headline metric, which are tied
    with it and which are significantly below (paired intervals), which are under-trained and
    which came from the zoo. Empty without intervals."""
    stats: statistics.RunStatistics | None = table.attrs.get("statistics")
    metric = headline_metric(table)
    if stats is None or metric is None:
        return []
    skills = table[(table["metric"] == SKILL) & (table["status"] == "ok")]
    weak = {
        model_title(str(m), str(p))
        for m, p, value in skills[["model", "preset", "value"]].itertuples(index=False)
        if not pd.isna(value) and under_trained(float(value))
    }
    origins = _origins(table)
    groups: dict[tuple[str, str], dict[str, list[statistics.Comparison]]] = {}
    for (found_metric, source, label, scope), comparisons in stats.comparisons.items():
        if found_metric == metric and comparisons:
            groups.setdefault((source, label), {})[scope] = comparisons
    found = []
    for (source, label), by_scope in sorted(groups.items()):
        # the cross-domain comparison where the group has cross-domain targets, else the mean
        scope = "cross-domain" if "cross-domain" in by_scope else "mean"
        comparisons = by_scope[scope]
        best = comparisons[0].best
        estimate = stats.means.get((metric, best, source, label, scope))
        value = "" if estimate is None else f", {format_estimate_interval(estimate)}"
        text = f"**{source}, {label}**: {best} has the highest {scope} mean {metric}{value}."
        others = [c for c in comparisons if c.model != best]
        tied = [c.model for c in others if c.decided and c.tied]
        below = [c for c in others if c.decided and not c.tied]
        undecided = [c.model for c in others if not c.decided]
        if tied:
            text += f" Tied with it (the paired interval holds 0): {', '.join(tied)}."
        if below:
            text += (
                " Significantly below it: "
                + ", ".join(
                    f"{c.model} by {-100 * c.difference:.1f} points "
                    f"[{-100 * (c.upper or 0):.1f}, {-100 * (c.lower or 0):.1f}]"
                    for c in below
                )
                + "."
            )
        if undecided:
            text += f" Too few videos to compare: {', '.join(undecided)}."
        members = {best, *(c.model for c in others)}
        flagged = sorted(members & weak)
        if flagged:
            text += (
                f" Under-trained (skill ≤ 0 on held-out source videos): {', '.join(flagged)}; "
                "their numbers say little about their methods."
            )
        zoo = sorted(m for m in members if origins.get(m, TRAINED_HERE) != TRAINED_HERE)
        if zoo:
            text += f" From the zoo, converged: {', '.join(zoo)}."
        found.append(text)
    return found


def format_estimate_interval(found: statistics.Estimate) -> str:
    """``0.698 [0.628, 0.767]``."""
    if found.value is None:
        return "n/a"
    if found.lower is None or found.upper is None:
        return format_number(found.value)
    return f"{found.value:.3f} [{found.lower:.3f}, {found.upper:.3f}]"


def report_sections(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(title, frame) pairs in reading order, shared by every reporter: the leaderboard and
    rank tests of the run's headline metric, a table per model and detection metric, the
    efficiency table and the failures. Each frame's footnotes are in ``attrs["notes"]``."""
    sections: list[tuple[str, pd.DataFrame]] = []
    ranking = leaderboard_table(table)
    if not ranking.empty:
        sections.append(("leaderboard", ranking))
    sections.extend(rank_tables(table).items())
    learning = learning_table(table)
    if not learning.empty:
        sections.append(("learning on held-out source videos", learning))
    for metric in detection_metrics(table):
        sections.extend(detection_tables(table, metric).items())
    by_type = type_table(table)
    if not by_type.empty:
        sections.append(("detection per anomaly type", by_type))
    efficiency = efficiency_table(table)
    if not efficiency.empty:
        sections.append(("efficiency", efficiency))
    failed = failures(table)
    if not failed.empty:
        sections.append(("failures", failed.set_index("model")))
    return sections


def summary_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Every interval as a flat record (for CSV and JSON): metric, model, source, protocol,
    target (or the scope of a mean), value, lower, upper, seeds, resamples, and, for
    cross-domain means, the paired difference from the best."""
    stats: statistics.RunStatistics | None = table.attrs.get("statistics")
    if stats is None:
        return []
    records = []
    names = {model_title(str(m), str(p)): str(m) for m, p in table[["model", "preset"]].values}
    for (metric, model, source, protocol_label, target), found in stats.targets.items():
        record = _record(metric, model, source, protocol_label, target, found)
        published = reference_value(table, metric, names.get(model, model), source, target)
        if published is not None:
            record.update(reference=published, reference_source=table.attrs["reference"]["source"])
        records.append(record)
    for (metric, model, source, protocol_label, scope), found in stats.means.items():
        record = _record(metric, model, source, protocol_label, f"({scope})", found)
        for comparison in stats.comparisons.get((metric, source, protocol_label, scope), []):
            if comparison.model == model:
                record.update(
                    best=comparison.best,
                    difference=comparison.difference,
                    difference_lower=comparison.lower,
                    difference_upper=comparison.upper,
                    tied=comparison.tied,
                )
        records.append(record)
    return records


def _record(
    metric: str,
    model: str,
    source: str,
    protocol_label: str,
    target: str,
    found: statistics.Estimate,
) -> dict[str, Any]:
    return {
        "metric": metric,
        "model": model,
        "source": source,
        "protocol": protocol_label,
        "target": target,
        "value": found.value,
        "lower": found.lower,
        "upper": found.upper,
        "seeds": found.seeds,
        "resamples": found.resamples,
    }


def _mean_over_targets(group: pd.DataFrame) -> str:
    """Mean over targets of each target's mean over seeds; n/a when no target has a value."""
    per_target = group.groupby("target")["value"].mean().dropna()
    return "n/a" if per_target.empty else format_number(float(per_target.mean()))


def failures(table: pd.DataFrame) -> pd.DataFrame:
    """One row per failed cell or target, with its error."""
    failed = table[table["status"] == "failed"]
    columns = ["model", "train", "aux", "seed", "target", "protocol", "error"]
    return failed[columns].drop_duplicates()


def summary_counts(table: pd.DataFrame) -> dict[str, int]:
    pairs = table[table["target"] != ""].drop_duplicates(["cell", "target", "protocol"])
    return {
        status: int(np.sum(pairs["status"] == status)) for status in ("ok", "failed", "pending")
    }
