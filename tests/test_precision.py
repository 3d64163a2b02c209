"""``precision:`` is one setting for every model: the harness runs fit and score under bf16
autocast when asked, the model needs no code for it, and the setting is part of the cell.
``score_precision:`` sets scoring apart (bf16 training, fp32 scoring): it is part of the
scores, not of the cell, so the trained models are shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import CliRunner, model_plugin, write_plugin
from vadbench.harness.config import read_matrix
from vadbench.harness.planning import build_plan
from vadbench.harness.plugins import load_plugins
from vadbench.sdk.precision import autocast_for, cpu_runs_bf16, resolve_precision
from vadbench.sdk.runfolder import FIT_MARKER

RECORDING_MODEL = model_plugin(
    "recorder",
    "writes the autocast state its fit and score run under",
    """
def fit(self, source, aux, ctx):
    self.seen = {"fit": _state(), "context": ctx.precision}


def score(self, video):
    with open(HERE / "score-state.json", "w") as handle:
        json.dump({**self.seen, "score": _state()}, handle)
    return np.zeros(video.num_frames - 1)


def save(self, folder):
    (Path(folder) / "seen.json").write_text(json.dumps(self.seen))


def load(self, folder):
    self.seen = json.loads((Path(folder) / "seen.json").read_text())


def _state():
    import torch

    enabled = torch.is_autocast_enabled("cpu")
    return str(torch.get_autocast_dtype("cpu")) if enabled else "off"
""",
)


def test_auto_is_bf16_only_where_the_hardware_runs_it() -> None:
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_runs_bf16() else "fp32")
    assert resolve_precision("auto", "mps") == "fp32"


def test_bf16_autocast_runs_convolutions_in_bf16_and_fp32_leaves_them() -> None:
    layer = torch.nn.Conv2d(3, 4, 3)
    frames = torch.rand(1, 3, 8, 8)
    with autocast_for("cpu", "bf16"):
        assert layer(frames).dtype == torch.bfloat16
    with autocast_for("cpu", "fp32"):
        assert layer(frames).dtype == torch.float32


BF16 = "torch.bfloat16"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("precision: fp32", {"fit": "off", "context": "fp32", "score": "off"}),
        ("precision: bf16", {"fit": BF16, "context": "bf16", "score": BF16}),
        (
            "precision: bf16\nscore_precision: fp32",
            {"fit": BF16, "context": "bf16", "score": "off"},
        ),
        ("score_precision: bf16", {"fit": "off", "context": "fp32", "score": BF16}),
    ],
)
def test_the_harness_runs_fit_and_score_at_the_matrix_precision(
    workspace: Path, vadbench_cli: CliRunner, settings: str, expected: dict[str, str]
) -> None:
    write_plugin(workspace / "recorder.py", RECORDING_MODEL)
    text = (workspace / "matrix.yaml").read_text()
    text = text.replace("name: tiny", f"name: tiny\nplugins: [recorder.py]\n{settings}")
    text = text.replace("models:\n", "models:\n  rec: {plugin: recorder}\n")
    (workspace / "matrix.yaml").write_text(text)
    result = vadbench_cli("run", "matrix.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((workspace / "score-state.json").read_text()) == expected


def test_precision_is_part_of_the_cell(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workspace)  # the matrix's dataset roots are relative
    matrix_file = workspace / "matrix.yaml"

    def cells() -> list[str]:
        raw, matrix = read_matrix(matrix_file)
        return [cell.id for cell in build_plan(matrix_file, raw, matrix, load_plugins()).cells]

    fp32 = cells()
    matrix_file.write_text(
        matrix_file.read_text().replace("name: tiny", "name: tiny\nprecision: bf16")
    )
    bf16 = cells()
    assert len(bf16) == len(fp32) and not set(bf16) & set(fp32)


def test_score_precision_is_part_of_the_scores_not_of_the_cell(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)  # the matrix's dataset roots are relative
    matrix_file = workspace / "matrix.yaml"
    original = matrix_file.read_text()

    def hashes(settings: str) -> tuple[list[str], list[str]]:
        matrix_file.write_text(original.replace("name: tiny", f"name: tiny\n{settings}"))
        raw, matrix = read_matrix(matrix_file)
        cells = build_plan(matrix_file, raw, matrix, load_plugins()).cells
        return [c.id for c in cells], [t.scores_hash for c in cells for t in c.targets]

    bf16_cells, bf16_scores = hashes("precision: bf16")
    mixed_cells, mixed_scores = hashes("precision: bf16\nscore_precision: fp32")
    assert mixed_cells == bf16_cells and not set(mixed_scores) & set(bf16_scores)
    assert hashes("precision: bf16\nscore_precision: bf16") == (bf16_cells, bf16_scores)


def test_a_run_that_changes_only_score_precision_rescores_without_training(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    matrix_file = workspace / "matrix.yaml"
    original = matrix_file.read_text()
    cells = workspace / "results" / "tiny" / "cells"

    def run(settings: str) -> dict[str, str]:
        matrix_file.write_text(original.replace("name: tiny", f"name: tiny\n{settings}"))
        result = vadbench_cli("run", "matrix.yaml")
        assert result.returncode == 0, result.stdout + result.stderr
        return {
            cell.name: (cell / "checkpoint" / FIT_MARKER).read_text() for cell in cells.iterdir()
        }

    def calibrated_at() -> set[str]:
        return {
            json.loads((cell / "calibration.json").read_text())["score_precision"]
            for cell in cells.iterdir()
        }

    trained = run("precision: bf16")
    assert calibrated_at() == {"bf16"}
    assert run("precision: bf16\nscore_precision: fp32") == trained  # no cell trained again
    assert calibrated_at() == {"fp32"}
