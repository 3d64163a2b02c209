"""The dask and slurm executors on real engines (a dask LocalCluster, submitit's local
cluster): the same results as the local executor, options checked when the matrix is read, a
cluster out of reach named in one line, and a worker killed mid-cell costs that cell only until
a re-run finishes it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import CliRunner, model_plugin, start_cli, write_plugin
from vadbench.commands import main
from vadbench_plugins.executors.dask import DaskOptions
from vadbench_plugins.executors.processes import ProcessesOptions
from vadbench_plugins.executors.slurm import SlurmOptions

EXECUTORS = {
    "processes": "executor: processes\nexecutor_options: {workers: 2}",
    "dask": "executor: dask\nexecutor_options: {workers: 2}",
    "slurm": "executor: slurm\nexecutor_options: {cluster: local}",
}


def use_executor(workspace: Path, settings: str) -> None:
    matrix = workspace / "matrix.yaml"
    text = matrix.read_text().split("\nthreads: 1\n")[-1]  # drop an earlier choice
    matrix.write_text(f"{settings}\nthreads: 1\n{text}")


def values(results: Path) -> pd.Series:
    """Every value of a run's results.csv, keyed by cell, target and metric."""
    table = pd.read_csv(results / "tiny" / "results.csv")
    return table.set_index(["cell", "target", "metric"]).value.sort_index()


def test_every_executor_gives_the_local_results(workspace: Path, vadbench_cli: CliRunner) -> None:
    use_executor(workspace, "executor: local")
    local = vadbench_cli("run", "matrix.yaml", "--results-dir", "local")
    assert local.returncode == 0, local.stdout + local.stderr
    reference = values(workspace / "local")
    assert {"micro_auc", "macro_auc"} <= set(reference.index.get_level_values("metric"))
    for name, settings in EXECUTORS.items():
        use_executor(workspace, settings)
        result = vadbench_cli("run", "matrix.yaml", "--results-dir", name)
        assert result.returncode == 0, name + result.stdout + result.stderr
        assert result.stdout.count("trained, 2 target(s) evaluated") == 2, name + result.stdout
        pd.testing.assert_series_equal(values(workspace / name), reference, obj=name)
    assert list((workspace / ".submitit").glob("*_log.out"))  # submitit's own logs


def test_the_docs_matrix_snippets_hold_valid_executor_options() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "executors.md").read_text()
    snippets = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    options = {"dask": DaskOptions, "slurm": SlurmOptions, "processes": ProcessesOptions}
    assert sorted(snippet["executor"] for snippet in snippets) == ["dask", "processes", "slurm"]
    for snippet in snippets:
        options[snippet["executor"]].model_validate(snippet["executor_options"])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            "executor: dask\nexecutor_options: {wokers: 2}",
            "executor_options.wokers: unknown field; did you mean 'workers'?",
        ),
        (
            "executor: dask\nexecutor_options: {address: 'tcp://10.0.0.1:8786', workers: 2}",
            "workers and threads_per_worker size the local cluster",
        ),
        (
            "executor: slurm\nexecutor_options: {partion: gpu}",
            "executor_options.partion: unknown field; did you mean 'partition'?",
        ),
        (
            "executor: slurm\nexecutor_options: {cluster: lokal}",
            "executor_options.cluster: Input should be 'slurm', 'local' or 'debug'",
        ),
    ],
    ids=["dask-typo", "dask-address-and-workers", "slurm-typo", "slurm-cluster"],
)
@pytest.mark.usefixtures("one_torch_thread")  # the matrix's threads: 1, in this process
def test_bad_executor_options_stop_the_run_naming_the_field(
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    settings: str,
    message: str,
) -> None:
    monkeypatch.chdir(workspace)  # the matrix's dataset roots are relative
    use_executor(workspace, settings)
    code = main(["run", "matrix.yaml"])
    output = capsys.readouterr().out
    assert code == 2 and message in output, output
    assert not (workspace / "results").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            "executor: dask\nexecutor_options: {address: 'tcp://127.0.0.1:1'}",
            "executor_options.address: no dask scheduler answers at tcp://127.0.0.1:1",
        ),
        (
            "executor: slurm\nexecutor_options: {partition: gpu}",
            "executor_options.cluster: slurm needs SLURM's sbatch and srun",
        ),
    ],
    ids=["dask-no-scheduler", "slurm-no-slurm"],
)
@pytest.mark.usefixtures("one_torch_thread")
def test_a_cluster_out_of_reach_stops_the_run_in_one_line(
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    settings: str,
    message: str,
) -> None:
    import dask
    import distributed  # noqa: F401  # its defaults go into dask's config before the override

    if "slurm" in settings and shutil.which("srun"):
        pytest.skip("this machine has SLURM")
    monkeypatch.chdir(workspace)
    use_executor(workspace, settings)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # 30 s by default
        code = main(["run", "matrix.yaml"])
    output = capsys.readouterr()
    assert code == 2 and f"error: {message}" in output.out, output
    assert "Traceback" not in output.err


# Its first fit says where it runs and waits to be killed; every later fit trains at once. It
# scores like framediff, so the results depend on nothing but the data.
FRAGILE_MODEL = model_plugin(
    "fragile",
    "waits to be killed in its first fit",
    """
def fit(self, source, aux, ctx):
    marker = HERE / "fit-started.json"
    if not marker.exists():
        marker.write_text(json.dumps({"cell": os.getpid(), "worker": os.getppid()}))
        time.sleep(120)

def score(self, video):
    frames = video.frames().astype(float)
    return np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
""",
)


@pytest.fixture
def strict_dask_cluster() -> Iterator[str]:
    """A two-worker cluster of real processes whose scheduler gives up on a task at the first
    worker that dies under it (dask's default retries it on other workers up to 3 times)."""
    import dask
    from distributed import LocalCluster

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        yield cluster.scheduler_address


def test_a_dask_worker_killed_mid_cell_loses_that_cell_until_a_rerun(
    workspace: Path, vadbench_cli: CliRunner, strict_dask_cluster: str
) -> None:
    write_plugin(workspace / "fragile.py", FRAGILE_MODEL)
    matrix = workspace / "matrix.yaml"
    matrix.write_text(
        matrix.read_text()
        .replace("name: tiny", "name: tiny\nplugins: [fragile.py]")
        .replace("  fd2: {plugin: framediff, overrides: {context_frames: 2, image_size: 16}}", "")
        .replace("models:\n", "models:\n  fragile: {plugin: fragile}\n")
    )
    # The cluster runs in this process, with this folder and environment: the driver's working
    # folder and run lock token reach its workers only through the executor.
    use_executor(workspace, f"executor: dask\nexecutor_options: {{address: {strict_dask_cluster}}}")
    run = start_cli(workspace, "run", "matrix.yaml")
    marker = workspace / "fit-started.json"
    deadline = time.monotonic() + 120
    while not (marker.exists() and marker.read_text()):
        assert run.poll() is None and time.monotonic() < deadline, "the fit never started"
        time.sleep(0.05)
    started = json.loads(marker.read_text())
    os.kill(started["worker"], signal.SIGKILL)  # the dask worker process, then its orphan
    os.kill(started["cell"], signal.SIGKILL)
    output, _ = run.communicate(timeout=120)

    assert run.returncode == 1, output  # an unfinished cell is not a successful run
    lost = [line for line in output.splitlines() if "lost (" in line]
    assert len(lost) == 1 and lost[0].strip().startswith("fragile__a__s0__"), output
    assert "KilledWorker" in lost[0], lost[0]
    assert "fd__a__s0__" in output and "trained, 2 target(s) evaluated" in output
    assert "2 ok, 0 failed, 2 pending" in output  # the lost cell is left for the re-run
    assert "1 cell(s) did not finish (fragile__a__s0__" in output

    again = vadbench_cli("run", "matrix.yaml")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "lost (" not in again.stdout
    use_executor(workspace, "executor: local")
    reference = vadbench_cli("run", "matrix.yaml", "--results-dir", "reference")
    assert reference.returncode == 0, reference.stdout + reference.stderr
    pd.testing.assert_series_equal(values(workspace / "results"), values(workspace / "reference"))


ENVIRONMENT_MODEL = model_plugin(
    "environment",
    "records its process settings",
    """
NAMES = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

def fit(self, source, aux, ctx):
    seen = {name: os.environ.get(name) for name in NAMES}
    (HERE / f"environment-{ctx.seed}.json").write_text(json.dumps(seen))
""",
)


def test_dask_cells_run_with_the_drivers_process_settings(workspace: Path) -> None:
    """A LocalCluster's nanny writes MALLOC_TRIM_THRESHOLD_=65536 and one-thread settings into
    its workers' and the driver's environment; inherited by a cell, the first halved zxVAD's
    scoring speed."""
    write_plugin(workspace / "environment_plugin.py", ENVIRONMENT_MODEL)
    text = (workspace / "matrix.yaml").read_text()
    text = text.replace("name: tiny", "name: tiny\nplugins: [environment_plugin.py]\nseeds: [0, 1]")
    text = text.replace("models:\n", "models:\n  env: {plugin: environment}\n")
    (workspace / "matrix.yaml").write_text(text)
    use_executor(workspace, EXECUTORS["dask"])
    names = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    environment = {k: v for k, v in os.environ.items() if k not in names}
    environment["OMP_NUM_THREADS"] = "2"  # a driver setting the cells keep
    result = subprocess.run(
        [sys.executable, "-m", "vadbench", "run", "matrix.yaml"],
        cwd=workspace, capture_output=True, text=True, env=environment, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for seed in (0, 1):
        seen = json.loads((workspace / f"environment-{seed}.json").read_text())
        assert seen == {**dict.fromkeys(names), "OMP_NUM_THREADS": "2"}


THREADS_MODEL = model_plugin(
    "threads",
    "records the torch threads it trains with",
    """
def fit(self, source, aux, ctx):
    import torch

    (HERE / f"threads-{ctx.seed}.txt").write_text(str(torch.get_num_threads()))
""",
)


@pytest.mark.parametrize(("threads", "expected"), [(None, "share"), (3, "3")])
def test_processes_share_the_cores_between_cells_unless_the_matrix_sets_threads(
    workspace: Path, threads: int | None, expected: str
) -> None:
    """Each worker with torch's default thread count oversubscribes the cores: 20 cells took
    4.9 times as long as with one thread each (issue 30)."""
    write_plugin(workspace / "threads_plugin.py", THREADS_MODEL)
    text = (workspace / "matrix.yaml").read_text()
    text = text.replace("name: tiny", "name: tiny\nplugins: [threads_plugin.py]\nseeds: [0, 1]")
    text = text.replace("models:\n", "models:\n  counted: {plugin: threads}\n")
    text = text.replace("\nthreads: 1\n", "\n")
    settings = EXECUTORS["processes"] + (f"\nthreads: {threads}" if threads else "")
    (workspace / "matrix.yaml").write_text(f"{settings}\n{text}")
    result = subprocess.run(
        [sys.executable, "-m", "vadbench", "run", "matrix.yaml"],
        cwd=workspace, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))  # two workers side by side
    for seed in (0, 1):
        seen = (workspace / f"threads-{seed}.txt").read_text()
        assert seen == (share if expected == "share" else expected)
