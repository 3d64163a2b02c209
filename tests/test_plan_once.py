"""A run plans once and sends cells: workers get self-contained jobs and never read the matrix,
so a matrix edited during a run changes nothing for it; one plan is built per run; one cell's
walk reads its folder through the store in at most three round trips; the harness stays in
modules a reader can hold (400 lines at most)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import vadbench.harness.run
from tests.conftest import CliRunner, model_plugin, start_cli, write_plugin
from vadbench.harness.planning import Cell
from vadbench.harness.run import RunOptions, plan_run, run_matrix
from vadbench.harness.stages.cell import run_cell
from vadbench.harness.stages.context import StageContext
from vadbench.harness.store import RunStore

ROOT = Path(__file__).resolve().parents[1]

# Its first fit says it started and waits for a go file; every later fit trains at once. It
# scores like framediff, so the results depend on nothing but the data.
GATED_MODEL = model_plugin(
    "gated",
    "waits for a go file in its first fit",
    """
def fit(self, source, aux, ctx):
    marker = HERE / "fit-started"
    if not marker.exists():
        marker.write_text("started")
        deadline = time.monotonic() + 120
        while not (HERE / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

def score(self, video):
    frames = video.frames().astype(float)
    return np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
""",
)


PROCESSES = "executor: processes\nexecutor_options: {workers: 1}\n"


def values(results: Path) -> pd.Series:
    table = pd.read_csv(results / "tiny" / "results.csv")
    return table.set_index(["cell", "target", "metric"]).value.sort_index()


def gated_matrix(workspace: Path) -> str:
    write_plugin(workspace / "gated.py", GATED_MODEL)
    text = (workspace / "matrix.yaml").read_text()
    text = text.replace("name: tiny", "name: tiny\nplugins: [gated.py]\nthreads: 1")
    text = text.replace("models:\n", "models:\n  gated: {plugin: gated}\n")
    return PROCESSES + text


def test_editing_the_matrix_during_a_run_changes_nothing_for_it(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    matrix = workspace / "matrix.yaml"
    original = gated_matrix(workspace)
    matrix.write_text(original)
    run = start_cli(workspace, "run", "matrix.yaml")
    deadline = time.monotonic() + 120
    while not (workspace / "fit-started").exists():
        assert run.poll() is None and time.monotonic() < deadline, "the first fit never started"
        time.sleep(0.05)
    # The two framediff cells wait in the queue while the matrix loses one of them, changes
    # the other and points the data elsewhere: re-planned, the queued cells would fail.
    edited = original.replace("  fd: {plugin: framediff, overrides: {image_size: 16}}\n", "")
    edited = edited.replace("context_frames: 2", "context_frames: 3").replace("data/", "gone/")
    matrix.write_text(edited)
    (workspace / "go").write_text("go")
    output, _ = run.communicate(timeout=300)

    assert run.returncode == 0, output
    assert output.count("trained, 2 target(s) evaluated") == 3, output
    assert "plans no cell" not in output and "lost (" not in output
    matrix.write_text(original.replace(PROCESSES, ""))
    reference = vadbench_cli("run", "matrix.yaml", "--results-dir", "reference")
    assert reference.returncode == 0, reference.stdout + reference.stderr
    pd.testing.assert_series_equal(values(workspace / "results"), values(workspace / "reference"))


@pytest.mark.parametrize("executor", ["local", "processes"])
@pytest.mark.usefixtures("one_torch_thread")
def test_a_run_builds_one_plan(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    monkeypatch.chdir(workspace)
    matrix = workspace / "matrix.yaml"
    matrix.write_text(f"executor: {executor}\n" + matrix.read_text())
    plans: list[str] = []
    build = vadbench.harness.run.build_plan

    @functools.wraps(build)
    def counted(*args: Any, **kwargs: Any) -> Any:
        plans.append(str(args[0]))
        return build(*args, **kwargs)

    monkeypatch.setattr(vadbench.harness.run, "build_plan", counted)
    summary = run_matrix("matrix.yaml", RunOptions(results_dir=workspace / "results"))
    assert summary.exit_code == 0 and summary.ran == 2
    assert plans == ["matrix.yaml"]
    for cell in (summary.run_dir / "cells").iterdir():
        job = json.loads((cell / "job.json").read_text())
        assert job["cell_id"] == cell.name and "matrix" not in json.dumps(job)


class CountingStore(RunStore):
    """A run store that counts the round trips a walk makes to read the folder: each call
    into a reading method from outside the store (the store's own calls inside are the same
    trip)."""

    READERS = ("cell_state", "read", "finished_checkpoint", "failed")

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.trips: list[str] = []
        self._depth = 0
        for name in self.READERS:
            setattr(self, name, self._counted(name, getattr(self, name)))

    def _counted(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def reading(*args: Any, **kwargs: Any) -> Any:
            if self._depth == 0:
                self.trips.append(name)
            self._depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self._depth -= 1

        return reading


@pytest.mark.usefixtures("one_torch_thread")
def test_one_walk_of_a_cell_reads_its_folder_in_at_most_three_round_trips(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    planned = plan_run("matrix.yaml", RunOptions(results_dir=workspace / "results"))
    cell: Cell = planned.plan.cells[0]
    store = CountingStore(planned.store.root)

    def walk() -> list[str]:
        store.trips.clear()
        context = StageContext.for_plan(planned.plan, store, _Silent(), False, True)
        outcome = run_cell(cell, context)
        assert not outcome.failed, outcome.message
        return list(store.trips)

    with store.locked():
        fresh = walk()  # trains, scores and evaluates every target, calibrates
        for target in cell.targets:  # a resumed walk: scores stored, results to recompute
            store.result_file(cell.id, target.key).unlink()
        resumed = walk()
        done = walk()  # nothing left to do
    assert 1 <= len(fresh) <= 3 and 1 <= len(resumed) <= 3 and 1 <= len(done) <= 3
    assert (fresh, resumed, done) == (["cell_state"], ["cell_state"], ["cell_state"])


class _Silent:
    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        return lambda steps: None


def test_no_harness_module_is_over_400_lines() -> None:
    modules = sorted((ROOT / "vadbench" / "harness").rglob("*.py"))
    lengths = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in modules}
    assert {name: lines for name, lines in lengths.items() if lines > 400} == {}
    stages = {p.stem for p in (ROOT / "vadbench" / "harness" / "stages").glob("*.py")}
    assert {"fit", "adapt", "score", "evaluate", "efficiency", "calibrate"} <= stages


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda job: job["model"]["options"].update(image_size=32),
            "no longer hashes as planned (a plugin's version or options changed since)",
        ),
        (
            lambda job: job["datasets"]["a"]["options"].update(root="data/b"),
            "dataset 'a' is not the data the run planned with",
        ),
    ],
    ids=["model-options", "dataset"],
)
def test_a_worker_refuses_a_job_that_no_longer_hashes_as_planned(
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    monkeypatch.chdir(workspace)
    summary = run_matrix("matrix.yaml", RunOptions(results_dir=workspace / "results"))
    job_file = next((summary.run_dir / "cells").glob("fd__*/job.json"))
    job = json.loads(job_file.read_text())
    change(job)
    job_file.write_text(json.dumps(job))
    done = subprocess.run(
        [sys.executable, "-m", "vadbench.harness.worker", str(job_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error:" in done.stdout and message in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
