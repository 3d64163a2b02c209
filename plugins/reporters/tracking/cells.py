"""What a tracker logs of each cell, read once from the results table and the run folder."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vadbench.sdk import RunFolder, read_curve, read_record

# Files of the run folder a tracker keeps beside the cells (those the run's reporters wrote).
LEADERBOARD_FILES = ("leaderboard.md", "results.csv", "summary.csv", "results.json")


@dataclass
class CellLog:
    """One cell: ``params`` (text values), final ``metrics`` by name, the held-out ``curve``
    as (step, name, value), and ``status`` (ok, failed or pending)."""

    cell: str
    model: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    curve: list[tuple[int, str, float]] = field(default_factory=list)
    status: str = "ok"


def metric_name(*parts: str) -> str:
    """A name every tracker accepts: letters, digits and ``_ - . /``, parts joined by ``/``."""
    return "/".join(re.sub(r"[^A-Za-z0-9_.\-]", "_", part) for part in parts if part)


def cell_logs(table: pd.DataFrame, out_dir: Path) -> list[CellLog]:
    """Every cell of the table, in the table's order, with what its folder adds: the model's
    options (cell.json) and the held-out learning curve."""
    folder = RunFolder(out_dir)
    logs = []
    for cell, rows in table.groupby("cell", sort=False):
        first = rows.iloc[0]
        log = CellLog(str(cell), str(first["model"]))
        for column in ("model", "plugin", "preset", "train", "aux", "seed", "origin"):
            value = first.get(column)
            if value is not None and str(value) not in ("", "nan", "None"):
                log.params[column] = str(value)
        record = read_record(folder.cell_file(str(cell))) or {}
        options = record.get("options")
        if isinstance(options, dict):
            for name, value in sorted(options.items()):
                log.params[f"option.{name}"] = str(value)
        for row in rows.itertuples(index=False):
            value = row.value
            if isinstance(value, (int, float)) and math.isfinite(value):  # a k-shot key: b@4shot
                log.metrics[metric_name(str(row.target_key), str(row.metric))] = float(value)
        statuses = set(rows["status"])
        log.status = next((s for s in ("failed", "pending") if s in statuses), "ok")
        curve = read_curve(folder.learning_file(str(cell)))
        if curve is not None:
            log.curve = [
                (point.step, metric_name("heldout_loss", point.loop), point.loss)
                for point in curve.points
            ]
        logs.append(log)
    return logs


def leaderboard_files(out_dir: Path) -> list[Path]:
    return [out_dir / name for name in LEADERBOARD_FILES if (out_dir / name).is_file()]
