"""The checkpoint zoo (vadbench.sdk.zoo): a finished cell exported with ``vadbench zoo export``,
loaded by a matrix with ``checkpoint: zoo:NAME`` instead of being trained, refused where its
model, data or seed differ or a file was changed, and the zoo vadbench ships intact and fit for
the quickstart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.builders import write_square_dataset
from tests.conftest import CliRunner, labels, write_plugin
from tests.test_learning import PLUGIN
from vadbench.harness.config import read_matrix
from vadbench.harness.planning import build_plan
from vadbench.harness.plugins import load_plugins
from vadbench.sdk import ConfigError
from vadbench.sdk.runfolder import read_checked_scores

# The learning tests' frame predictor, with the zoo folders beside the plugin file registered.
ZOO_PLUGIN = (
    PLUGIN
    + """

import json as _json
from vadbench.sdk import CheckpointSpec


@hookimpl
def vadbench_register_checkpoints(register):
    for record in sorted(Path(__file__).with_name("zoo").glob("*/zoo.json")):
        description = _json.loads(record.read_text())["description"]
        register(CheckpointSpec(record.parent.name, description, record.parent))
"""
)

TRAIN = """
name: trained
plugins: [shift.py]
held_out: {share: 0.25, every: 20}
datasets:
  a: {plugin: logged, options: {root: data/a}}
  b: {plugin: logged, options: {root: data/b}}
models:
  learner: {plugin: shift}
metrics: [micro_auc]
reporters: [markdown, json]
matrix:
  - train: a
    test: [a, b]
"""

FROM_ZOO = """
name: from-zoo
plugins: [shift.py]
datasets:
  a: {plugin: logged, options: {root: data/a}}
  b: {plugin: logged, options: {root: data/b}}
models:
  learner: {plugin: shift, checkpoint: zoo:shift-a}
  live: {plugin: shift, overrides: {train_steps: 40}}
metrics: [micro_auc]
reporters: [terminal, markdown, csv, json]
matrix:
  - train: a
    test: [a, b]
"""


@pytest.fixture
def zoo_workspace(workspace: Path, vadbench_cli: CliRunner) -> Path:
    """A workspace whose ``zoo`` folder holds entry ``shift-a``: the shift model trained on
    ``a`` by the TRAIN matrix and exported from that run."""
    write_square_dataset(workspace / "data" / "a", [30] * 8, [labels(30, 8, 20), labels(24, 4, 10)])
    write_plugin(workspace / "shift.py", ZOO_PLUGIN)
    (workspace / "train.yaml").write_text(TRAIN)
    (workspace / "zoo.yaml").write_text(FROM_ZOO)
    trained = vadbench_cli("run", "train.yaml", "--results-dir", "out")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    (cell,) = (workspace / "out" / "trained" / "cells").glob("learner__*")
    exported = vadbench_cli(
        "--plugin", "shift.py", "zoo", "export", str(cell), "--name", "shift-a",
        "--into", "zoo", "--description", "shift on a",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stdout + exported.stderr
    return workspace


def _plan(folder: Path, text: str):  # type: ignore[no-untyped-def]
    path = folder / "zoo.yaml"
    path.write_text(text)
    raw, matrix = read_matrix(path)
    return build_plan(path, raw, matrix, load_plugins([folder / "shift.py"]))


def test_an_exported_cell_is_loaded_from_the_zoo_instead_of_trained(
    zoo_workspace: Path, vadbench_cli: CliRunner
) -> None:
    record = json.loads((zoo_workspace / "zoo" / "shift-a" / "zoo.json").read_text())
    (trained_cell,) = (zoo_workspace / "out" / "trained" / "cells").glob("learner__*")
    assert record["seeds"]["0"]["cell_hash"].startswith(trained_cell.name.rsplit("__", 1)[1])
    assert record["command"] == f"vadbench run train.yaml --only {trained_cell.name}"
    assert set(record["seeds"]["0"]["files"]) == {"shift.pt", "options.json", "learning.json"}
    events = zoo_workspace / "events.log"
    events.unlink()

    result = vadbench_cli("run", "zoo.yaml", "--results-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checkpoint from zoo:shift-a (not trained in this run)" in result.stdout
    assert events.read_text().count("fit start") == 1  # the live model only
    run = zoo_workspace / "out" / "from-zoo"
    (zoo_cell,) = (run / "cells").glob("learner__*")
    for target in ("a", "b"):
        before = read_checked_scores(trained_cell / "targets" / target / "scores.npz")
        after = read_checked_scores(zoo_cell / "targets" / target / "scores.npz")
        assert before is not None and after is not None
        for trained_scores, zoo_scores in zip(before.scores, after.scores, strict=True):
            np.testing.assert_array_equal(trained_scores, zoo_scores)
    fit = json.loads((zoo_cell / "checkpoint" / "fit.json").read_text())
    assert fit["origin"] == "zoo:shift-a" and fit["hash"] != record["seeds"]["0"]["cell_hash"]
    rows = json.loads((run / "results.json").read_text())["rows"]
    skill = {row["model"]: row for row in rows if row["metric"] == "skill"}
    assert skill["learner"]["origin"] == "zoo:shift-a" and skill["live"]["origin"] == ""
    board = (run / "leaderboard.md").read_text()
    assert "learner ← zoo:shift-a; trained in this run: live" in board

    again = vadbench_cli("run", "zoo.yaml", "--results-dir", "out")
    assert again.returncode == 0 and "2 target(s) already done" in again.stdout
    assert "zoo:shift-a (not trained" not in again.stdout  # installed once, then kept


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("checkpoint: zoo:shift-a}", "checkpoint: zoo:shift-a, overrides: {lr: 0.1}}"),
         "zoo:shift-a was trained with other options (lr)"),
        (("  - train: a\n", "  - train: b\n"), "was trained on other data than this row's train"),
        (("name: from-zoo\n", "name: from-zoo\nseeds: [0, 1]\n"),
         "has checkpoints for seeds [0], not for seed 1"),
        (("zoo:shift-a", "zoo:shift-b"), "unknown checkpoint 'shift-b'"),
        (("zoo:shift-a", "shift-a"), "models.learner.checkpoint: expected zoo:NAME"),
    ],
)  # fmt: skip
def test_a_zoo_checkpoint_that_does_not_fit_the_cell_is_a_clear_error(
    zoo_workspace: Path, change: tuple[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError, match=r"zoo\.yaml") as raised:
        _plan(zoo_workspace, FROM_ZOO.replace(*change))
    assert expected in str(raised.value)


def test_a_changed_zoo_file_fails_its_cell_and_no_other(
    zoo_workspace: Path, vadbench_cli: CliRunner
) -> None:
    weights = zoo_workspace / "zoo" / "shift-a" / "seed-0" / "shift.pt"
    damaged = bytearray(weights.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    weights.write_bytes(bytes(damaged))
    result = vadbench_cli("run", "zoo.yaml", "--results-dir", "out")
    assert result.returncode == 1
    assert "shift.pt: its SHA-256 differs from the zoo record's" in result.stdout
    rows = json.loads((zoo_workspace / "out" / "from-zoo" / "results.json").read_text())["rows"]
    assert {row["status"] for row in rows if row["model"] == "live"} == {"ok"}
    listed = vadbench_cli("--plugin", "shift.py", "zoo")
    assert listed.returncode == 2 and "DAMAGED" in listed.stdout


def test_a_zoo_cell_hashes_its_checkpoint_not_the_run_budget(zoo_workspace: Path) -> None:
    plain = {c.model.name: c.hash for c in _plan(zoo_workspace, FROM_ZOO).cells}
    budgeted = {
        c.model.name: c.hash for c in _plan(zoo_workspace, "budget: {steps: 7}\n" + FROM_ZOO).cells
    }
    assert plain["learner"] == budgeted["learner"] and plain["live"] != budgeted["live"]
    record = zoo_workspace / "zoo" / "shift-a" / "zoo.json"
    changed = json.loads(record.read_text())
    changed["seeds"]["0"]["cell_hash"] = "0" * 64
    record.write_text(json.dumps(changed))
    assert {c.model.name: c.hash for c in _plan(zoo_workspace, FROM_ZOO).cells}["learner"] != (
        plain["learner"]
    )


def test_the_shipped_zoo_is_intact_and_serves_the_quickstart(vadbench_cli: CliRunner) -> None:
    listed = vadbench_cli("zoo")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    registry = load_plugins()
    shipped = {spec.name for spec in registry.checkpoints}
    assert shipped >= {"zxvad-cpu-campus-ti", "zxvad-no-n-cpu-campus-ti", "ffp-cpu-campus-ti"}
    assert listed.stdout.count("converged") >= len(shipped)
    quickstart = registry.benchmarks.get("quickstart").path
    raw, matrix = read_matrix(quickstart)
    plan = build_plan(quickstart, raw, matrix, registry)
    from_zoo = {cell.model.name for cell in plan.cells if cell.zoo is not None}
    assert from_zoo == {"zxvad", "zxvad-no-n", "ffp"}
