"""The whole pipeline through the real CLI: run, resume, kill and resume, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import CliRunner, write_plugin


def leaderboard(workspace: Path, run: str = "tiny") -> str:
    return (workspace / "results" / run / "leaderboard.md").read_text()


def test_tiny_matrix_runs_and_rerun_recomputes_nothing(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    first = vadbench_cli("run", "matrix.yaml")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 cell(s), 4 target evaluation(s)" in first.stdout
    assert first.stdout.count("trained, 2 target(s) evaluated") == 2
    assert "fd: micro_auc (zero-shot)" in first.stdout and "source → target" in first.stdout
    board = leaderboard(workspace)
    assert "## fd: micro_auc (zero-shot)" in board and "| a |" in board

    table = pd.read_csv(workspace / "results" / "tiny" / "results.csv")
    micro = table[table.metric == "micro_auc"]
    assert len(micro) == 4 and micro.value.between(0, 1).all()
    # the moving-square anomaly is a motion anomaly: frame differencing must find it
    assert micro.value.min() > 0.7

    results = sorted((workspace / "results" / "tiny").rglob("result.json"))
    stamps = {p: p.stat().st_mtime_ns for p in results}
    second = vadbench_cli("run", "matrix.yaml")
    assert second.returncode == 0
    assert second.stdout.count("2 target(s) already done, skipped") == 2
    assert "trained" not in second.stdout and "evaluated" not in second.stdout
    assert {p: p.stat().st_mtime_ns for p in results} == stamps
    assert leaderboard(workspace) == board

    forced = vadbench_cli("run", "matrix.yaml", "--force")
    assert forced.stdout.count("trained, 2 target(s) evaluated") == 2
    assert leaderboard(workspace) == board


def test_report_rerenders_from_stored_results(workspace: Path, vadbench_cli: CliRunner) -> None:
    assert vadbench_cli("run", "matrix.yaml").returncode == 0
    board = leaderboard(workspace)
    (workspace / "results" / "tiny" / "leaderboard.md").unlink()
    report = vadbench_cli("report", "results/tiny", "--reporter", "markdown", "--reporter", "latex")
    assert report.returncode == 0, report.stderr
    assert leaderboard(workspace) == board
    latex = (workspace / "results" / "tiny" / "leaderboard.tex").read_text()
    assert r"\begin{tabular}" in latex and r"micro\_auc" in latex


SLOW_MODEL = """
import time
from pathlib import Path
import numpy as np
from vadbench.sdk import ModelSpec, Options, hookimpl

class SlowOptions(Options):
    delay: float = 0.4

class Slow:
    context_frames = 1
    score_kind = "anomaly"
    def __init__(self, options, device):
        self.delay = options.delay
    def fit(self, source, aux, ctx):
        pass
    def score(self, video):
        time.sleep(self.delay)
        frames = video.frames().astype(float)
        return np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    def save(self, folder):
        (Path(folder) / "w.txt").write_text("slow")
    def load(self, folder):
        assert (Path(folder) / "w.txt").read_text() == "slow"
    def inference_module(self):
        return None

@hookimpl
def vadbench_register_models(register):
    register(ModelSpec("slow", "sleeps while scoring", SlowOptions, Slow))
"""


def test_run_killed_midway_resumes_to_the_same_leaderboard(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    write_plugin(workspace / "slow_plugin.py", SLOW_MODEL)
    matrix = (workspace / "matrix.yaml").read_text()
    matrix = matrix.replace("name: tiny", "name: slow\nplugins: [slow_plugin.py]")
    matrix = matrix.replace(
        "  fd: {plugin: framediff, overrides: {image_size: 16}}",
        "  s1: {plugin: slow}\n  s2: {plugin: slow, overrides: {delay: 0.3}}",
    ).replace("  fd2: {plugin: framediff, overrides: {context_frames: 2, image_size: 16}}\n", "")
    (workspace / "matrix.yaml").write_text(matrix)

    reference = vadbench_cli("run", "matrix.yaml", "--results-dir", "reference")
    assert reference.returncode == 0, reference.stdout + reference.stderr

    process = subprocess.Popen(
        [sys.executable, "-m", "vadbench", "run", "matrix.yaml"],
        cwd=workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list((workspace / "results").rglob("result.json")):
        assert process.poll() is None, "run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(list((workspace / "results").rglob("result.json")))
    assert 1 <= done_before < 4

    resumed = vadbench_cli("run", "matrix.yaml")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "already done, skipped" in resumed.stdout
    assert (
        leaderboard(workspace, "slow")
        == (workspace / "reference" / "slow" / "leaderboard.md").read_text()
    )
    assert not list((workspace / "results").rglob("*.tmp"))


FAILING_MODEL = """
from vadbench.sdk import ModelSpec, Options, hookimpl

class Broken:
    context_frames = 1
    score_kind = "anomaly"
    def __init__(self, options, device):
        pass
    def fit(self, source, aux, ctx):
        raise RuntimeError("loss exploded at step 3")

@hookimpl
def vadbench_register_models(register):
    register(ModelSpec("broken", "always fails to train", Options, Broken))
"""


def test_failing_cell_is_recorded_and_the_rest_goes_on(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    write_plugin(workspace / "broken_plugin.py", FAILING_MODEL)
    matrix = (
        (workspace / "matrix.yaml")
        .read_text()
        .replace("models:\n", "models:\n  bad: {plugin: broken}\n")
    )
    (workspace / "matrix.yaml").write_text(matrix)
    result = vadbench_cli("run", "matrix.yaml", "--plugin", "broken_plugin.py")
    assert result.returncode == 1
    assert "FAILED fit: RuntimeError: loss exploded at step 3" in result.stdout
    assert result.stdout.count("trained, 2 target(s) evaluated") == 2
    board = leaderboard(workspace)
    assert "## failures" in board and "loss exploded at step 3" in board
    failure = next((workspace / "results" / "tiny").rglob("failure.json"))
    assert "Traceback" in failure.read_text()


def test_label_length_mismatch_fails_only_that_target(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    np.save(workspace / "data" / "b" / "testing" / "test_frame_mask" / "01.npy", np.zeros(29))
    result = vadbench_cli("run", "matrix.yaml")
    assert result.returncode == 1
    assert "test_frame_mask/01.npy: 29 labels for 30 frames" in result.stdout
    table = pd.read_csv(workspace / "results" / "tiny" / "results.csv")
    assert set(table[(table.status == "ok") & table.target.notna()].target) == {"a"}
    assert set(table[table.status == "failed"].target) == {"b"}


def test_changed_metric_list_reevaluates_stored_scores_without_the_model(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    assert vadbench_cli("run", "matrix.yaml").returncode == 0
    matrix = workspace / "matrix.yaml"
    matrix.write_text(
        matrix.read_text().replace(
            "metrics: [micro_auc, macro_auc, params, storage]", "metrics: [micro_auc]"
        )
    )
    again = vadbench_cli("run", "matrix.yaml")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("2 target(s) evaluated, 2 from stored scores") == 2
    assert "trained" not in again.stdout and "loaded checkpoint" not in again.stdout
    table = pd.read_csv(workspace / "results" / "tiny" / "results.csv")
    assert set(table.metric) == {"micro_auc"}


def test_processes_executor_gives_the_local_leaderboard(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    assert vadbench_cli("run", "matrix.yaml", "--results-dir", "local").returncode == 0
    matrix = workspace / "matrix.yaml"
    matrix.write_text(
        matrix.read_text().replace(
            "name: tiny",
            "name: tiny\nexecutor: processes\nexecutor_options: {workers: 2}\nthreads: 1",
        )
    )
    parallel = vadbench_cli("run", "matrix.yaml")
    assert parallel.returncode == 0, parallel.stdout + parallel.stderr
    assert parallel.stdout.count("trained, 2 target(s) evaluated (") == 2  # workers: no efficiency
    assert parallel.stdout.count("efficiency measured") == 2  # measured after, one at a time
    assert leaderboard(workspace) == (workspace / "local" / "tiny" / "leaderboard.md").read_text()


def test_only_names_an_unknown_cell(workspace: Path, vadbench_cli: CliRunner) -> None:
    result = vadbench_cli("run", "matrix.yaml", "--only", "nope")
    assert result.returncode == 2 and "--only: matrix.yaml plans no cell 'nope'" in result.stdout
