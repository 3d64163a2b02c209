"""The tracking reporters against real parts: a finished run logged to an MLflow tracking server
that the test starts on localhost, and TensorBoard event files read back with TensorBoard's own
reader. Each cell's parameters, metrics and held-out curve arrive as the run folder holds them,
rendering twice updates instead of duplicating, and a failed cell says so."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.corpus_support import TINY_ZXVAD, build_workspace, run_cli, snapshot

MATRIX = """
name: tracked
plugins: [faulty.py]
datasets:
  a: {plugin: frames, options: {root: data/a}}
  b: {plugin: frames, options: {root: data/b}}
models:
  fd: {plugin: framediff, overrides: {image_size: 16}}
{TINY_ZXVAD}
  broken: {plugin: faulty, overrides: {mode: fit_raises}}
threads: 1
reporters: [markdown, json]
metrics: [micro_auc, macro_auc, params]
matrix:
  - train: a
    test: [a, b]
""".replace("{TINY_ZXVAD}", TINY_ZXVAD)


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run: framediff, a tiny zxVAD with a held-out curve, and a failed cell."""
    workspace = build_workspace(tmp_path_factory.mktemp("tracking") / "workspace")
    (workspace / "matrix.yaml").write_text(MATRIX)
    result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 1, result.output  # the broken model's cell failed
    return workspace / "results" / "tracked"


def stored_metrics(run: Path) -> dict[tuple[str, str], float]:
    """(cell, target/metric or metric) → value, as results.json holds them."""
    rows = json.loads((run / "results.json").read_text())["rows"]
    found = {}
    for row in rows:
        if row["status"] == "ok" and row["value"] is not None:
            name = f"{row['target_key']}/{row['metric']}" if row["target_key"] else row["metric"]
            found[row["cell"], name] = row["value"]
    return found


def curve_points(run: Path, cell: str) -> list[tuple[int, float]]:
    learning = json.loads((run / "cells" / cell / "checkpoint" / "learning.json").read_text())
    return [(point["step"], point["loss"]) for point in learning["points"]]


def cell_of(run: Path, model: str) -> str:
    (folder,) = (run / "cells").glob(f"{model}__*")
    return folder.name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server on localhost, with its own database and artifact store."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=(root / "server.log").open("w"), start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((root / "server.log").read_text()[-2000:])
                time.sleep(0.5)
        yield uri
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_mlflow_server_receives_every_cell_once_with_its_curve_and_the_leaderboard(
    tracked_run: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    for _ in range(2):  # a second render updates the same MLflow runs
        result = run_cli("report", str(tracked_run), "--reporter", "mlflow", cwd=tracked_run)
        assert result.returncode == 0, result.output
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("vadbench/tracked")
    assert experiment is not None
    found = client.search_runs([experiment.experiment_id], max_results=100)
    runs = {run.data.tags["vadbench.cell"]: run for run in found}
    assert len(found) == len(runs)  # one MLflow run per cell, however often rendered
    zx, fd, broken = (cell_of(tracked_run, model) for model in ("zx", "fd", "broken"))
    assert set(runs) == {zx, fd, broken, "leaderboard"}
    for (cell, name), value in stored_metrics(tracked_run).items():
        assert runs[cell].data.metrics[name] == pytest.approx(value), (cell, name)
    assert runs[zx].data.params["option.image_size"] == "32"
    assert runs[zx].data.params["plugin"] == "zxvad" and runs[zx].data.params["train"] == "a"
    history = client.get_metric_history(runs[zx].info.run_id, "heldout_loss/zxvad_train")
    points = curve_points(tracked_run, zx)
    assert points and sorted({(m.step, m.value) for m in history}) == sorted(set(points))
    assert runs[broken].info.status == "FAILED" and runs[fd].info.status == "FINISHED"
    assert runs[broken].data.tags["vadbench.status"] == "failed"
    artifacts = {a.path for a in client.list_artifacts(runs["leaderboard"].info.run_id)}
    assert {"leaderboard.md", "results.json"} <= artifacts


def test_mlflow_without_a_server_keeps_everything_in_the_run_folder(
    tracked_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "Bob's runs"  # a quote in the path, which a search filter cannot hold
    run = base / "results" / "tracked"
    shutil.copytree(tracked_run, run)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for _ in range(2):
        result = run_cli("report", str(run), "--reporter", "mlflow", cwd=base)
        assert result.returncode == 0, result.output
        assert "warning" not in result.output.lower(), result.output  # MLflow's own, kept quiet
    assert snapshot(base, skip="results") == {}
    client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("vadbench/tracked")
    assert experiment is not None and len(client.search_runs([experiment.experiment_id])) == 4
    assert (run / "mlflow-artifacts").is_dir()


def test_tensorboard_event_files_read_back_as_the_run_folder_holds_them(
    tracked_run: Path,
) -> None:
    for _ in range(2):  # a second render replaces the files instead of adding to them
        result = run_cli("report", str(tracked_run), "--reporter", "tensorboard", cwd=tracked_run)
        assert result.returncode == 0, result.output
    folder = tracked_run / "tensorboard"
    zx = cell_of(tracked_run, "zx")
    assert len(list((folder / zx).glob("events.out.tfevents.*"))) == 1
    for (cell, name), value in stored_metrics(tracked_run).items():
        events = EventAccumulator(str(folder / cell)).Reload()
        (scalar,) = events.Scalars(name)
        assert scalar.value == pytest.approx(value, rel=1e-6) and scalar.step == 0
    events = EventAccumulator(str(folder / zx)).Reload()
    curve = [(scalar.step, scalar.value) for scalar in events.Scalars("heldout_loss/zxvad_train")]
    points = curve_points(tracked_run, zx)
    assert [step for step, _ in curve] == [step for step, _ in points]
    assert [loss for _, loss in curve] == pytest.approx([loss for _, loss in points], rel=1e-6)
    params = events.Tensors("params/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| option.image_size | 32 |" in params
    board = EventAccumulator(str(folder / "run")).Reload()
    assert (
        "Leaderboard: tracked"
        in board.Tensors("leaderboard/text_summary")[0].tensor_proto.string_val[0].decode()
    )


def test_a_tracker_that_fails_is_one_error_line_and_the_other_reports_are_written(
    tracked_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "results" / "tracked"
    shutil.copytree(tracked_run, run)
    (run / "leaderboard.md").unlink()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://tracker")
    result = run_cli(
        "report", str(run), "--reporter", "mlflow", "--reporter", "markdown", cwd=tmp_path
    )
    assert result.returncode == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "reporter mlflow failed" in errors[0], result.output
    assert (run / "leaderboard.md").is_file()
