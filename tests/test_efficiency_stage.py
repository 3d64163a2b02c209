"""The efficiency stage after a parallel executor only measures: a cell whose fit failed in a
worker is recorded once and never trained again by the driver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner, model_plugin, write_plugin

FAILING_MODEL = model_plugin(
    "broken",
    "fails in fit",
    """
def fit(self, source, aux, ctx):
    with (HERE / "fits.log").open("a") as log:
        log.write("fit\\n")
    raise RuntimeError("this model cannot train")

def score(self, video):
    raise AssertionError("never scored")
""",
)


@pytest.mark.parametrize("executor", ["local", "processes"])
def test_a_failed_fit_is_recorded_once_and_never_retrained(
    workspace: Path, vadbench_cli: CliRunner, executor: str
) -> None:
    write_plugin(workspace / "broken_plugin.py", FAILING_MODEL)
    text = (workspace / "matrix.yaml").read_text()
    text = text.replace(
        "name: tiny", f"name: tiny\nplugins: [broken_plugin.py]\nexecutor: {executor}"
    )
    text = text.replace("models:\n", "models:\n  bad: {plugin: broken}\n")
    (workspace / "matrix.yaml").write_text(text)

    result = vadbench_cli("run", "matrix.yaml")

    assert result.returncode == 1, result.stdout + result.stderr
    assert (workspace / "fits.log").read_text().splitlines() == ["fit"]
    (cell,) = (workspace / "results" / "tiny" / "cells").glob("bad__*")
    failure = json.loads((cell / "failure.json").read_text())
    assert failure["stage"] == "fit" and "cannot train" in failure["error"]
    assert "params" in (workspace / "results" / "tiny" / "leaderboard.md").read_text()


@pytest.mark.parametrize("executor", ["local", "processes"])
def test_force_measures_efficiency_again_once(
    workspace: Path, vadbench_cli: CliRunner, executor: str
) -> None:
    matrix = workspace / "matrix.yaml"
    matrix.write_text(matrix.read_text().replace("name: tiny", f"name: tiny\nexecutor: {executor}"))
    assert vadbench_cli("run", "matrix.yaml").returncode == 0
    files = sorted((workspace / "results" / "tiny" / "cells").glob("*/efficiency.json"))
    before = [path.stat().st_mtime_ns for path in files]

    again = vadbench_cli("run", "matrix.yaml", "--force")

    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("efficiency measured") == len(files) == 2, again.stdout
    assert all(path.stat().st_mtime_ns > old for path, old in zip(files, before, strict=True))
    assert all(json.loads(path.read_text())["requested"] for path in files)
