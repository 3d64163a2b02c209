"""The processes executor's warm starts: every cell is a fork of one server that imported torch
and the plugins once, yet still its own process: a cell killed by a signal costs that cell only,
each cell's output reaches the driver whole, and a script without a main guard can drive it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import CliRunner, model_plugin, start_cli, write_plugin
from vadbench_plugins.executors.forkserver import ForkServer, ServerStopped
from vadbench_plugins.executors.remote import CellRequest

RECORDER = model_plugin(
    "recorder",
    "records the process it fits in",
    """
def fit(self, source, aux, ctx):
    import sys
    record = {"pid": os.getpid(), "parent": os.getppid()}
    (HERE / f"recorder-{ctx.seed}.json").write_text(json.dumps(record))
    print(f"recorder {ctx.seed} says hello", flush=True)
    print(f"recorder {ctx.seed} warns", file=sys.stderr, flush=True)
""",
)


def killer(name: str, description: str, whom: str) -> str:
    """A test model whose fit sends SIGKILL to ``whom`` (its own process, or the parent)."""
    fit = f"""
def fit(self, source, aux, ctx):
    os.kill({whom}, signal.SIGKILL)
"""
    return model_plugin(name, description, fit).replace("import os\n", "import os\nimport signal\n")


def run_processes(workspace: Path, models: dict[str, str], settings: str) -> None:
    """Write each model's plugin file (``models``: name → source) into the workspace and add
    the models to its matrix, which then runs on the processes executor with ``settings``."""
    for name, source in models.items():
        write_plugin(workspace / f"{name}.py", source)
    matrix = workspace / "matrix.yaml"
    files = ", ".join(f"{name}.py" for name in models)
    entries = "".join(f"  {name}: {{plugin: {name}}}\n" for name in models)
    matrix.write_text(
        matrix.read_text()
        .replace("name: tiny", f"name: tiny\nplugins: [{files}]\nexecutor: processes\n{settings}")
        .replace("models:\n", f"models:\n{entries}")
    )


def test_cells_are_forks_of_one_server_and_a_killed_cell_costs_that_cell_only(
    workspace: Path,
) -> None:
    crasher = killer("crasher", "is killed by a signal in its fit", "os.getpid()")
    settings = "executor_options: {workers: 2}\nthreads: 1\nseeds: [0, 1]"
    run_processes(workspace, {"recorder": RECORDER, "crasher": crasher}, settings)
    driver = start_cli(workspace, "run", "matrix.yaml")
    output, _ = driver.communicate(timeout=300)

    assert driver.returncode == 1, output  # the killed cells are not finished
    records = [json.loads((workspace / f"recorder-{seed}.json").read_text()) for seed in (0, 1)]
    servers = {record["parent"] for record in records}
    assert len(servers) == 1 and driver.pid not in servers, records  # forks of one server
    assert records[0]["pid"] != records[1]["pid"]  # each cell its own process
    for seed in (0, 1):
        assert f"recorder {seed} says hello" in output and f"recorder {seed} warns" in output
    killed = [line for line in output.splitlines() if "exited with code" in line]
    assert len(killed) == 2 and all("crasher__a__s" in line for line in killed), output
    assert all(line.endswith(f"exited with code {-signal.SIGKILL}") for line in killed)
    assert output.count("trained, 2 target(s) evaluated") == 6, output  # fd, fd2, recorder; 2 seeds


def test_a_script_without_a_main_guard_runs_the_processes_executor(workspace: Path) -> None:
    """multiprocessing's own forkserver would re-run such a script in every cell."""
    matrix = workspace / "matrix.yaml"
    matrix.write_text(
        matrix.read_text().replace(
            "name: tiny", "name: tiny\nexecutor: processes\nexecutor_options: {workers: 2}"
        )
    )
    script = workspace / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            """
            import vadbench

            summary = vadbench.run_matrix("matrix.yaml")
            print("exit code", summary.exit_code, "ran", summary.ran)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("exit code 0 ran 2") == 1, done.stdout
    assert done.stdout.count("trained, 2 target(s) evaluated") == 2, done.stdout


def test_the_server_reports_each_cells_exit_code_and_output(
    workspace: Path, tmp_path: Path, vadbench_cli: CliRunner
) -> None:
    server = ForkServer(["vadbench.commands"])
    try:
        listing, failing = tmp_path / "listing.log", tmp_path / "failing.log"
        listing.touch()
        failing.touch()
        environment = {"COLUMNS": "200"}
        listing_models = CellRequest(
            ("-m", "vadbench", "list", "models"), str(workspace), environment
        )
        assert server.run(listing_models, str(listing)) == 0
        missing = CellRequest(
            ("-m", "vadbench", "run", "missing.yaml"), str(workspace), environment
        )
        assert server.run(missing, str(failing)) == 2
    finally:
        server.close()
    assert listing.read_text() == vadbench_cli("list", "models").stdout
    assert "missing.yaml" in failing.read_text()
    with pytest.raises(ServerStopped):
        server.run(CellRequest(("-m", "vadbench", "list"), str(workspace), {}), str(listing))


def test_cells_after_a_lost_server_start_as_fresh_interpreters(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    server_killer = killer("killer", "kills the fork server it was forked from", "os.getppid()")
    run_processes(
        workspace, {"killer": server_killer}, "executor_options: {workers: 1}\nthreads: 1"
    )
    result = vadbench_cli("run", "matrix.yaml")
    lost = [line for line in result.stdout.splitlines() if "lost (" in line]
    assert len(lost) == 1 and "killer__a__s0__" in lost[0], result.stdout + result.stderr
    assert "ServerStopped: the cell fork server ended" in lost[0]
    assert result.stdout.count("trained, 2 target(s) evaluated") == 2  # fd, fd2: fresh processes
    assert "fd__a__s0__" in result.stdout
