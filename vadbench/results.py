"""Stored results as tables: the long form every reporter starts from, and the leaderboards.

The long form has one row per (cell, target, metric); efficiency metrics have target "".
Failed cells and targets appear as rows with status "failed" and the error, so a leaderboard
shows what is missing and why instead of silently dropping it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vadbench.api import ConfigError
from vadbench.store import RunStore, read_record

CELL_KEYS = ("model", "plugin", "preset", "train", "aux", "seed", "targets")
COLUMNS = [
    "cell",
    "model",
    "plugin",
    "preset",
    "train",
    "aux",
    "seed",
    "protocol",
    "target",
    "metric",
    "value",
    "unit",
    "higher_is_better",
    "note",
    "status",
    "error",
]


def _cell_rows(
    store: RunStore, cell_id: str, expected_hash: str, efficiency_names: list[str]
) -> list[dict[str, Any]]:
    cell_dir = store.cell_dir(cell_id)
    cell = read_record(cell_dir / "cell.json", CELL_KEYS)
    if cell is None:
        return []
    base = {
        "cell": cell_id,
        "model": cell["model"],
        "plugin": cell["plugin"],
        "preset": cell["preset"] or "",
        "train": cell["train"],
        "aux": cell["aux"] or "",
        "seed": cell["seed"],
    }
    rows: list[dict[str, Any]] = []
    failure = read_record(cell_dir / "failure.json", ("hash", "error"))
    if failure is not None and failure.get("hash") == expected_hash:
        for target in cell["targets"]:
            rows.append({**base, "target": target, "status": "failed", "error": failure["error"]})
        return rows
    efficiency = read_record(cell_dir / "efficiency.json", ("hash", "requested", "metrics")) or {}
    if efficiency.get("hash") == expected_hash and efficiency.get("requested") == efficiency_names:
        for metric in efficiency["metrics"]:
            rows.append({**base, "target": "", **_metric_columns(metric), "status": "ok"})
    for key, entry in cell["targets"].items():
        target_dir = store.target_dir(cell_id, key)
        target_hash = entry["hash"]
        target = {**base, "target": entry["dataset"], "protocol": entry["protocol"]}
        result = read_record(target_dir / "result.json", ("hash", "metrics"))
        failure = read_record(target_dir / "failure.json", ("hash", "error"))
        if result is not None and result.get("hash") == target_hash:
            for metric in result["metrics"]:
                rows.append({**target, **_metric_columns(metric), "status": "ok"})
        elif failure is not None and failure.get("hash") == target_hash:
            rows.append({**target, "status": "failed", "error": failure["error"]})
        else:
            rows.append({**target, "status": "pending"})
    return rows


def _metric_columns(metric: dict[str, Any]) -> dict[str, Any]:
    return {
        "metric": metric["name"],
        "value": metric["value"],
        "unit": metric["unit"],
        "higher_is_better": metric["higher_is_better"],
        "note": metric.get("note", ""),
    }


def load_results(run_dir: Path) -> pd.DataFrame:
    """Read every cell a run planned into the long-form table."""
    store = RunStore(run_dir)
    if not store.run_file.is_file():
        raise ConfigError(f"{run_dir}: not a vadbench run folder (no run.json)")
    try:
        run = json.loads(store.run_file.read_bytes())
    except (OSError, ValueError):
        run = None
    if not isinstance(run, dict) or not isinstance(run.get("cells"), dict):
        raise ConfigError(
            f"{store.run_file} is damaged; run the matrix again to rewrite it (cells and "
            "their results are kept)"
        )
    efficiency_names = run.get("metrics", {}).get("efficiency", [])
    rows = [
        row
        for cell_id, cell_hash in run["cells"].items()
        for row in _cell_rows(store, cell_id, cell_hash, efficiency_names)
    ]
    table = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("metric", "unit", "note", "error", "target", "protocol"):
        table[column] = table[column].astype(object).fillna("")
    table["value"] = pd.to_numeric(table["value"], errors="coerce")
    return table


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
    if len(finite) == 1:
        return format_number(float(finite.iloc[0]))
    return f"{format_number(float(finite.mean()))} ± {format_number(float(finite.std(ddof=1)))}"


def _source_label(row: pd.Series) -> str:
    return f"{row['train']} + {row['aux']}" if row["aux"] else str(row["train"])


def detection_tables(table: pd.DataFrame, metric: str = "micro_auc") -> dict[str, pd.DataFrame]:
    """Per model (and preset) and protocol: rows are sources, columns are targets, cells are
    mean ± std over seeds. Failed or pending targets show their status instead of a number.
    Keys are titles like ``"zxvad (cpu): micro_auc (zero-shot)"``.
    """
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
                text = _format_value(ok["value"])
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
        frame.attrs["notes"] = notes
        tables[title] = frame
    return tables


EFFICIENCY_ORDER = {
    name: index
    for index, name in enumerate(
        ["params", "params_trainable", "storage", "gmacs", "gmacs_paper", "fps", "energy"]
    )
}


def _model_title(model: str, preset: str) -> str:
    return f"{model} ({preset})" if preset else model


def _efficiency_cells(table: pd.DataFrame) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Formatted efficiency values per model title and column, and the footnotes they need.

    A value with a note (n/a and why, an incomplete count) gets a ``*`` and a footnote line.
    """
    efficiency = table[(table["target"] == "") & (table["status"] == "ok")]
    efficiency = efficiency.assign(
        order=efficiency["metric"].map(lambda m: EFFICIENCY_ORDER.get(m, len(EFFICIENCY_ORDER)))
    ).sort_values("order", kind="stable")
    rows: dict[str, dict[str, str]] = {}
    notes: dict[str, dict[str, list[str]]] = {}
    for (model, preset, metric, unit), group in efficiency.groupby(
        ["model", "preset", "metric", "unit"], sort=False
    ):
        title = _model_title(str(model), str(preset))
        column = f"{metric} [{unit}]" if unit else str(metric)
        value = _format_value(group["value"])
        group_notes = "; ".join(sorted({n for n in group["note"] if n}))
        if group_notes and (value == "n/a" or metric.startswith("gmacs")):
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


def leaderboard_table(table: pd.DataFrame, metric: str = "micro_auc") -> pd.DataFrame:
    """The ranking view: one row per model, source and protocol with the mean detection metric
    over its targets (and over cross-domain targets only) next to the efficiency columns."""
    detections = table[(table["target"] != "") & (table["metric"] == metric)]
    detections = detections[detections["status"] == "ok"]
    if detections.empty:
        return pd.DataFrame()
    efficiency, notes = _efficiency_cells(table)
    rows = []
    keys = ["model", "preset", "train", "aux", "protocol"]
    for (model, preset, train, aux, protocol_label), group in detections.groupby(keys, sort=True):
        title = _model_title(str(model), str(preset))
        cross = group[group["target"] != train]
        left_out = sorted(set(group.loc[group["value"].isna(), "target"]))
        if left_out:
            notes = [*notes, f"{title}, {protocol_label}: no {metric} for {', '.join(left_out)}"]
        rows.append(
            {
                "model": title,
                "source": f"{train} + {aux}" if aux else str(train),
                "protocol": protocol_label,
                f"{metric} (mean)": _mean_over_targets(group),
                f"{metric} (cross-domain)": _mean_over_targets(cross) if not cross.empty else "",
                **efficiency.get(title, {}),
            }
        )
    frame = pd.DataFrame(rows).set_index("model")
    frame.attrs["notes"] = notes
    return frame


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
