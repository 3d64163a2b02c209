"""The Python run API: ``vadbench.run_matrix`` does what ``vadbench run`` does, and a cell is a
picklable job that another process runs on its own."""

from __future__ import annotations

import multiprocessing
import pickle
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import vadbench
from tests.conftest import CliRunner


def run_job(job: vadbench.CellJob) -> int:
    return vadbench.run_job(job)


def auc_columns(run_dir: Path) -> pd.DataFrame:
    table = pd.read_csv(run_dir / "results.csv")
    table = table[table["metric"] == "micro_auc"]
    return table.sort_values(["cell", "target"])[["cell", "target", "value"]].reset_index(drop=True)


def test_run_matrix_equals_the_command_line(
    workspace: Path, vadbench_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    summary = vadbench.run_matrix(
        "matrix.yaml", vadbench.RunOptions(results_dir=Path("api-results"))
    )
    assert summary.exit_code == 0 and summary.failed == []
    assert summary.run_dir == Path("api-results") / "tiny"
    assert summary.planned == summary.ran == 2
    assert vadbench_cli("run", "matrix.yaml").returncode == 0
    pd.testing.assert_frame_equal(
        auc_columns(workspace / "api-results" / "tiny"), auc_columns(workspace / "results" / "tiny")
    )


def test_a_cell_job_is_plain_data_that_a_fresh_process_runs(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    options = vadbench.RunOptions(results_dir=workspace / "results")
    summary = vadbench.run_matrix("matrix.yaml", options)
    job = vadbench.cell_jobs("matrix.yaml", replace(options, force=True))[0]
    assert pickle.loads(pickle.dumps(job)) == job
    assert vadbench.CellJob.from_json(job.to_json(), "job") == job
    assert job.command(Path("job.json"))[:2] == ("-m", "vadbench.harness.worker")
    result = summary.run_dir / "cells" / job.cell_id / "targets" / "a" / "result.json"
    before = result.stat().st_mtime_ns

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(run_job, (job,)) == 0

    assert result.stat().st_mtime_ns > before  # recomputed by the other process (force)
