"""Experiment tracking: every cell of a run logged to MLflow or TensorBoard, with its model,
data and options as parameters, its metrics per target, its held-out learning curve and the
run's leaderboard. Each reporter imports its library on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from vadbench.sdk import ReporterSpec, hookimpl


def render_mlflow(table: pd.DataFrame, out_dir: Path) -> Path | None:
    from .mlflow_reporter import render

    return render(table, out_dir)


def render_tensorboard(table: pd.DataFrame, out_dir: Path) -> Path | None:
    from .tensorboard_reporter import render

    return render(table, out_dir)


@hookimpl
def vadbench_register_reporters(register: Any) -> None:
    register(
        ReporterSpec(
            name="mlflow",
            description="log every cell to MLflow (MLFLOW_TRACKING_URI, else mlflow.db in the "
            "run folder): parameters, metrics, curves, the leaderboard as artifacts",
            render=render_mlflow,
        )
    )
    register(
        ReporterSpec(
            name="tensorboard",
            description="TensorBoard event files in tensorboard/: per cell its metrics, "
            "curve and parameters, and the leaderboard as text",
            render=render_tensorboard,
        )
    )
