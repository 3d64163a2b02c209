"""Stored results as a table: the long form every reporter starts from (its views, the
leaderboards, are ``vadbench.sdk.leaderboards``).

The long form has one row per (cell, target, metric); efficiency metrics have target "".
Failed cells and targets appear as rows with status "failed" and the error, so a leaderboard
shows what is missing and why instead of silently dropping it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from vadbench.harness.plugins import Registry, load_plugins
from vadbench.harness.records import (
    CellRecord,
    EfficiencyRecord,
    FailureRecord,
    FitRecord,
    MetricRecord,
    ResultRecord,
    RunFileShape,
)
from vadbench.harness.store import RunStore
from vadbench.sdk import protocol, statistics
from vadbench.sdk.contracts import ConfigError, MetricSpec
from vadbench.sdk.files import DamagedResultWarning, read_stored
from vadbench.sdk.leaderboards import SKILL, model_title, skill_note
from vadbench.sdk.learning import read_curve, under_trained
from vadbench.sdk.protocol import DEFAULT_PROTOCOL, EvaluationProtocol
from vadbench.sdk.runfolder import read_checked_scores
from vadbench.sdk.statistics import WeightedAUC

# The detection metric whose results come one per anomaly type (``type_auc[<type>]``); each
# gets its intervals from the frames of its type, pooled over a row's targets
# (``statistics.pooled_targets``, ``statistics.by_anomaly_type``).
TYPE_METRIC = "type_auc"

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
    "footnote",
    "status",
    "error",
    "target_key",
    "origin",
    "evaluation",
]


def _cell_rows(
    store: RunStore,
    cell_id: str,
    expected_hash: str,
    efficiency_names: list[str],
    evaluation: str,
) -> list[dict[str, Any]]:
    cell = store.read(CellRecord, cell_id)
    if cell is None:
        return []
    fitted = store.read(FitRecord, cell_id)
    base = {
        "cell": cell_id,
        "model": cell.model,
        "plugin": cell.plugin,
        "preset": cell.preset or "",
        "train": cell.train,
        "aux": cell.aux or "",
        "seed": cell.seed,
        "origin": fitted.origin or ""
        if fitted is not None and fitted.hash == expected_hash
        else "",
    }
    rows: list[dict[str, Any]] = []
    failure = store.read(FailureRecord, cell_id)
    if failure is not None and failure.hash == expected_hash:
        for key in cell.targets:
            rows.append({**base, "target": key, "status": "failed", "error": failure.error})
        return rows
    efficiency = store.read(EfficiencyRecord, cell_id)
    if (
        efficiency is not None
        and efficiency.hash == expected_hash
        and efficiency.requested == efficiency_names
    ):
        for metric in efficiency.metrics:
            rows.append({**base, "target": "", **_metric_columns(metric), "status": "ok"})
    rows.extend(_skill_rows(store, cell_id, expected_hash, base))
    for key, entry in cell.targets.items():
        target = {
            **base,
            "target": entry.dataset,
            "protocol": entry.protocol,
            "target_key": key,
            "evaluation": evaluation,
        }
        result = store.read(ResultRecord, cell_id, key)
        failure = store.read(FailureRecord, cell_id, key)
        if result is not None and result.hash == entry.hash:
            for metric in result.metrics:
                rows.append({**target, **_metric_columns(metric), "status": "ok"})
        elif failure is not None and failure.hash == entry.hash:
            rows.append({**target, "status": "failed", "error": failure.error})
        else:
            rows.append({**target, "status": "pending"})
    return rows


def _missing_cell_rows(
    store: RunStore, cell_id: str, run: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """A planned cell whose records are gone (deleted, never written): one pending row per
    planned target, and a warning, so that a leaderboard never drops it silently."""
    planned = run.get("targets", {}).get(cell_id)
    targets = list(planned) if isinstance(planned, dict) else [""]
    warnings.warn(
        f"{store.cell_dir(cell_id)}: the run planned this cell but its records are missing; "
        "it is reported as pending (run the matrix again to compute it)",
        DamagedResultWarning,
        stacklevel=2,
    )
    model = cell_id.split("__", 1)[0]
    return [
        {"cell": cell_id, "model": model, "preset": "", "train": "", "aux": "",
         "target": key.split("@", 1)[0], "target_key": key, "status": "pending",
         "error": "the cell's records are missing"}
        for key in targets
    ]  # fmt: skip


def _skill_rows(
    store: RunStore, cell_id: str, expected_hash: str, base: dict[str, Any]
) -> list[dict[str, Any]]:
    """The cell's skill on held-out source frames (``vadbench.sdk.learning``), from the curve
    kept with its finished checkpoint; none for a cell that did not train (framediff) or has no
    curve (runs from before curves)."""
    fitted = store.read(FitRecord, cell_id)
    if fitted is None or fitted.hash != expected_hash:
        return []
    curve = read_curve(store.learning_file(cell_id))
    if curve is None or curve.stopped == "not trained":
        return []
    return [
        {
            **base,
            "target": "",
            "metric": SKILL,
            "value": curve.skill,
            "unit": "",
            "higher_is_better": True,
            "note": skill_note(curve),
            "footnote": under_trained(curve.skill),
            "status": "ok",
        }
    ]


def _metric_columns(metric: MetricRecord) -> dict[str, Any]:
    return {
        "metric": metric.name,
        "value": metric.value,
        "unit": metric.unit,
        "higher_is_better": metric.higher_is_better,
        "note": metric.note,
        "footnote": metric.footnote,
    }


def load_results(
    run_dir: Path,
    registry: Registry | None = None,
    evaluation: EvaluationProtocol | None = None,
) -> pd.DataFrame:
    """Read every cell a run planned into the long-form table.

    ``evaluation`` computes the intervals from the stored scores under another protocol than
    the run's (the sensitivity card); the rows keep the values the run stored.

    ``attrs`` carry what reports need beside the rows: the run's detection metrics in order, its
    headline metric, the matrix's reference block and the intervals (``statistics``), computed
    with the statistic each metric's plugin in ``registry`` (the installed plugins by default)
    declares.
    """
    store = RunStore(run_dir, confined=False)
    if not store.run_file.is_file():
        raise ConfigError(f"{run_dir}: not a vadbench run folder (no run.json)")
    try:
        run = json.loads(read_stored(store.run_file))
    except (OSError, ValueError):
        run = None
    if not isinstance(run, dict) or not isinstance(run.get("cells"), dict):
        raise ConfigError(
            f"{store.run_file} is damaged; run the matrix again to rewrite it (cells and "
            "their results are kept)"
        )
    try:
        RunFileShape.model_validate(run)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"{store.run_file} is damaged ({field}: {first['msg']}); run the matrix again to "
            "rewrite it (cells and their results are kept)"
        ) from None
    store.check_format(run)
    efficiency_names = run.get("metrics", {}).get("efficiency", [])
    stored = run_evaluation(run)
    evaluation = evaluation or stored
    rows = [
        row
        for cell_id, cell_hash in run["cells"].items()
        for row in _cell_rows(store, cell_id, cell_hash, efficiency_names, stored.name)
        or _missing_cell_rows(store, cell_id, run)
    ]
    table = pd.DataFrame(rows, columns=COLUMNS)
    text_columns = ("metric", "unit", "note", "error", "target", "protocol", "target_key")
    for column in (*text_columns, "origin", "evaluation"):
        table[column] = table[column].astype(object).fillna("")
    table["value"] = pd.to_numeric(table["value"], errors="coerce")
    table["footnote"] = table["footnote"].astype(object).fillna(False).astype(bool)
    measured = run.get("metrics", {})
    detection = [str(name) for name in measured.get("detection", [])]
    table.attrs["detection_metrics"] = detection
    table.attrs["headline"] = measured.get("headline") or (detection[0] if detection else None)
    table.attrs["reference"] = (run.get("config") or {}).get("reference")
    table.attrs["evaluation"] = evaluation
    settings = statistics_settings(run.get("config", {}).get("statistics") or {})
    present = set(table["metric"])
    runs = load_target_runs(store, table, evaluation)
    summary = statistics.summarise(
        runs,
        {
            spec.name: spec.statistic
            for spec in _registered(detection, registry or load_plugins())
            if spec.statistic is not None and spec.name in present
        },
        **settings,
    )
    if TYPE_METRIC in detection:
        pooled = statistics.pooled_targets(runs)
        for name, type_runs in statistics.by_anomaly_type(pooled).items():
            metric = statistics.type_metric(name)
            if metric in present:
                per_type = statistics.summarise(type_runs, {metric: WeightedAUC}, **settings)
                statistics.merge(summary, per_type)
    table.attrs["statistics"] = summary
    return table


def _registered(names: list[str], registry: Registry) -> list[MetricSpec]:
    """The specs of the metrics a run measured that are still installed; one whose plugin is
    gone keeps its stored values, without intervals."""
    known = {spec.name: spec for spec in registry.metrics}
    return [known[name] for name in names if name in known]


def statistics_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Resamples, confidence and seed of the intervals, from a matrix's ``statistics`` block
    (already validated when the run was planned)."""
    return {
        "resamples": int(raw.get("resamples", statistics.RESAMPLES)),
        "confidence": float(raw.get("confidence", statistics.CONFIDENCE)),
        "seed": int(raw.get("seed", 0)),
    }


def run_evaluation(run: Mapping[str, Any]) -> EvaluationProtocol:
    """The evaluation protocol a run's run.json records (FFP's for runs from before runs
    recorded one)."""
    settings = run.get("evaluation")
    return EvaluationProtocol.model_validate(settings) if settings else DEFAULT_PROTOCOL


def load_target_runs(
    store: RunStore, table: pd.DataFrame, evaluation: EvaluationProtocol = DEFAULT_PROTOCOL
) -> dict[tuple[str, str, str, str, str], statistics.TargetRuns]:
    """Every finished target's stored scores, normalised as the protocol does, keyed by
    (model, source, train, protocol, target); targets without readable scores are left out
    (their leaderboard cells then show no interval)."""
    finished = table[(table["status"] == "ok") & (table["target"] != "")]
    finished = finished.drop_duplicates(["cell", "target_key"])
    runs: dict[tuple[str, str, str, str, str], statistics.TargetRuns] = {}
    for row in finished.itertuples(index=False):
        stored = read_checked_scores(store.scores_file(row.cell, row.target_key))
        if stored is None:
            continue
        data = protocol.stored_detection_input(stored, evaluation)
        if protocol.unlabelled_videos(data):
            continue  # scored, but without labels there is nothing to resample
        title = model_title(str(row.model), str(row.preset))
        source = f"{row.train} + {row.aux}" if row.aux else str(row.train)
        key = (title, source, str(row.train), str(row.protocol), str(row.target))
        entry = runs.setdefault(key, statistics.TargetRuns(data.video_ids))
        if entry.video_ids != data.video_ids:
            continue  # a seed scored other videos: not comparable round by round
        entry.per_seed[int(row.seed)] = (
            protocol.protocol_scores(data),
            data.labels,
        )
        if data.types is not None:
            entry.types = data.types
    return runs
