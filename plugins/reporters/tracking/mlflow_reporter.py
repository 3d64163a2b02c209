"""MLflow: one experiment per vadbench run (``vadbench/<run name>``), one MLflow run per cell
(parameters, final metrics, the held-out curve by training step, tags for the cell and its
status) and one ``leaderboard`` run holding the run's tables as artifacts.

The tracking server is MLflow's own setting, ``MLFLOW_TRACKING_URI``; without it the runs go to
``mlflow.db`` (SQLite) and ``mlflow-artifacts/`` in the run folder. Rendering again updates the
same MLflow runs, found by their tags, instead of adding new ones: parameters are set once,
metrics logged again (MLflow keeps each metric's history)."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from .cells import CellLog, cell_logs, leaderboard_files

RUN_FOLDER_TAG = "vadbench.run_folder"
# The run folder's path hashed: a path may hold quotes, which a search filter cannot.
RUN_KEY_TAG = "vadbench.run_key"
CELL_TAG = "vadbench.cell"
LEADERBOARD = "leaderboard"
BATCH = 1000  # MLflow takes at most 1000 metrics per log_batch


def render(table: pd.DataFrame, out_dir: Path) -> Path | None:
    """Quiet: MLflow logs its database set-up and its libraries warn of their own deprecations,
    none of which is the user's to act on."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return _render(table, out_dir)
    finally:
        logger.setLevel(level)


def _render(table: pd.DataFrame, out_dir: Path) -> Path | None:
    from mlflow.tracking import MlflowClient

    server = os.environ.get("MLFLOW_TRACKING_URI")
    # Without a server, the database and the artifacts both stay in the run folder.
    uri = server or f"sqlite:///{(out_dir / 'mlflow.db').resolve()}"
    artifacts = None if server else (out_dir / "mlflow-artifacts").resolve().as_uri()
    client = MlflowClient(tracking_uri=uri)
    name = f"vadbench/{out_dir.resolve().name}"
    experiment = client.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(name, artifact_location=artifacts)
    )
    folder = str(out_dir.resolve())
    for log in cell_logs(table, out_dir):
        _log_cell(client, experiment_id, folder, log)
    run_id = _run_for(client, experiment_id, folder, LEADERBOARD, LEADERBOARD, {})
    for path in leaderboard_files(out_dir):
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    print(f"logged {len(set(table['cell']))} cell(s) to MLflow at {uri}, experiment {name}")
    return None


def _log_cell(client: Any, experiment_id: str, folder: str, log: CellLog) -> None:
    from mlflow.entities import Metric

    run_id = _run_for(client, experiment_id, folder, log.cell, log.model, log.params)
    now = int(time.time() * 1000)
    metrics = [Metric(key, value, now, 0) for key, value in sorted(log.metrics.items())]
    metrics += [Metric(key, value, now, step) for step, key, value in log.curve]
    for start in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH])
    client.set_tag(run_id, "vadbench.status", log.status)
    client.set_terminated(run_id, "FAILED" if log.status == "failed" else "FINISHED")


def _run_for(
    client: Any, experiment_id: str, folder: str, cell: str, title: str, params: dict[str, str]
) -> str:
    """The MLflow run of this run folder's ``cell``, created (with its parameters) when new."""
    key = hashlib.sha256(folder.encode()).hexdigest()[:16]
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{CELL_TAG}` = '{cell}' and tags.`{RUN_KEY_TAG}` = '{key}'",
        max_results=1,
    )
    if found:
        return str(found[0].info.run_id)
    from mlflow.entities import Param

    tags = {CELL_TAG: cell, RUN_FOLDER_TAG: folder, RUN_KEY_TAG: key}
    run = client.create_run(experiment_id, tags=tags, run_name=f"{title} {cell}")
    if params:
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    return str(run.info.run_id)
