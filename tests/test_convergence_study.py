"""benchmarks/convergence_study.py on a tiny run: snapshots scored on every target, AUC along
training, the skill table and the figures."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.builders import load_script
from tests.conftest import CliRunner
from tests.test_learning import learning_workspace  # noqa: F401 (a fixture)


def _study() -> ModuleType:
    return load_script("convergence_study")


def test_the_study_scores_snapshots_and_reports_auc_along_training(
    learning_workspace: Path,  # noqa: F811
    vadbench_cli: CliRunner,
) -> None:
    result = vadbench_cli("run", "learning.yaml", "--results-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    run = learning_workspace / "out" / "learning"
    study = _study()
    text = study.report(run, learning_workspace / "figures")
    (cell,) = (run / "cells").glob("learner__*")
    for step in (40, 100):
        for target in ("a", "b"):
            assert study.snapshot_scores_file(run, cell.name, step, target).is_file()
    assert "| learner | a | 0 | 120 | budget |" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| model | source | step"))
    assert header.startswith("| model | source | step 40 | step 100 | converged |")
    learner = next(line for line in lines if line.startswith("| learner | a | 0.")).split(" | ")
    assert len(learner) == 5 and all(0 <= float(value.strip(" |")) <= 1 for value in learner[2:])
    assert not any(line.startswith("| fd | a | 0.") for line in lines)  # framediff has no curve
    assert sorted(p.name for p in (learning_workspace / "figures").iterdir()) == [
        "auc_by_step_a.png",
        "held_out_a.png",
    ]
    cells = study.finished_cells(study.RunStore(run), study.load_results(run))
    assert study.score_snapshots(run, study.load_plugins(), cells) == 0  # scored once, kept
