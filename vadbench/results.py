"""Stored results as tables: the long form every reporter starts from, and the leaderboards.

The long form has one row per (cell, target, metric); efficiency metrics have target "".
Failed cells and targets appear as rows with status "failed" and the error, so a leaderboard
shows what is missing and why instead of silently dropping it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vadbench.api import ConfigError
from vadbench.store import RunStore, read_json

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


def _cell_rows(store: RunStore, cell_id: str, expected_hash: str) -> list[dict[str, Any]]:
    cell_dir = store.cell_dir(cell_id)
    if not (cell_dir / "cell.json").is_file():
        return []
    cell = read_json(cell_dir / "cell.json")
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
    failure_file = cell_dir / "failure.json"
    if failure_file.is_file() and read_json(failure_file).get("hash") == expected_hash:
        failure = read_json(failure_file)
        for target in cell["targets"]:
            rows.append({**base, "target": target, "status": "failed", "error": failure["error"]})
        return rows
    efficiency_file = cell_dir / "efficiency.json"
    if efficiency_file.is_file() and read_json(efficiency_file).get("hash") == expected_hash:
        for metric in read_json(efficiency_file)["metrics"]:
            rows.append({**base, "target": "", **_metric_columns(metric), "status": "ok"})
    for key, entry in cell["targets"].items():
        target_dir = store.target_dir(cell_id, key)
        target_hash = entry["hash"]
        target = {**base, "target": entry["dataset"], "protocol": entry["protocol"]}
        result_file, failure_file = target_dir / "result.json", target_dir / "failure.json"
        if result_file.is_file() and read_json(result_file).get("hash") == target_hash:
            for metric in read_json(result_file)["metrics"]:
                rows.append({**target, **_metric_columns(metric), "status": "ok"})
        elif failure_file.is_file() and read_json(failure_file).get("hash") == target_hash:
            error = read_json(failure_file)["error"]
            rows.append({**target, "status": "failed", "error": error})
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
    run = read_json(store.run_file)
    rows = [row for cell_id, h in run["cells"].items() for row in _cell_rows(store, cell_id, h)]
    table = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("metric", "unit", "note", "error", "target", "protocol"):
        table[column] = table[column].fillna("")
    table["value"] = pd.to_numeric(table["value"], errors="coerce")
    return table


def _format_value(values: pd.Series) -> str:
    finite = values.dropna()
    if finite.empty:
        return "n/a"
    if len(finite) == 1:
        return f"{finite.iloc[0]:.4g}" if abs(finite.iloc[0]) >= 10 else f"{finite.iloc[0]:.3f}"
    return f"{finite.mean():.3f} ± {finite.std(ddof=1):.3f}"


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
        for (source, target), entries in group.groupby(["source", "target"], sort=False):
            ok = entries[(entries["status"] == "ok") & (entries["metric"] == metric)]
            problems = entries[entries["status"] != "ok"]
            if not ok.empty:
                text = _format_value(ok["value"])
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
        tables[title] = frame
    return tables


def efficiency_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model (and preset), one column per efficiency metric with its unit."""
    efficiency = table[(table["target"] == "") & (table["status"] == "ok")]
    if efficiency.empty:
        return pd.DataFrame()
    rows: dict[str, dict[str, str]] = {}
    for (model, preset, metric, unit), group in efficiency.groupby(
        ["model", "preset", "metric", "unit"], sort=False
    ):
        title = f"{model} ({preset})" if preset else str(model)
        column = f"{metric} [{unit}]" if unit else str(metric)
        value = _format_value(group["value"])
        notes = {n for n in group["note"] if n}
        if value == "n/a" and notes:
            value = f"n/a ({'; '.join(sorted(notes))})"
        rows.setdefault(title, {})[column] = value
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


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
