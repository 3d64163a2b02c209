"""Metrics say how reports present them (headline, order, resampled statistic, footnotes): a
plugin metric declared the headline ranks the leaderboard with intervals, and the core names
no metric."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import model_plugin, write_plugin
from tests.corpus_support import build_workspace, error_line, run_cli
from vadbench.harness.config import read_matrix
from vadbench.harness.planning import build_plan
from vadbench.harness.plugins import load_plugins

METRICS_PLUGIN = """
import numpy as np
from vadbench.sdk.contracts import MetricResult, MetricSpec, NoOptions
from vadbench.sdk.hooks import hookimpl
from vadbench.sdk.protocol import anomaly_scores, roc_auc
from vadbench.sdk.statistics import WeightedAUC


def flipped_auc(data):
    labels = np.concatenate(data.labels)
    scores = np.concatenate([anomaly_scores(s, data.score_kind) for s in data.scores])
    return [MetricResult("flipped_auc", 1.0 - roc_auc(labels, scores), "AUC", True)]


def flipped_statistic(scores, labels):
    pooled = WeightedAUC(scores, labels)
    return lambda weights: 1.0 - pooled(weights)


def tile_count(data):
    return [MetricResult("tile_count", 7.0, "tiles", False, "skipped 2 tiles", footnote=True)]


def plain_count(data):
    return [MetricResult("plain_count", 3.0, "", False, "counted on the example input")]


@hookimpl
def vadbench_register_metrics(register):
    register(MetricSpec("flipped_auc", "1 - micro AUC", "detection", flipped_auc,
                        options=NoOptions, headline=True, order=5, statistic=flipped_statistic))
    register(MetricSpec("tile_count", "tiles", "efficiency", tile_count, order=50))
    register(MetricSpec("plain_count", "a count", "efficiency", plain_count, order=300))
"""

TINY_CONV = """
def fit(self, source, aux, ctx):
    self.videos_seen = len(source.videos())


def inference_module(self):
    import torch

    return torch.nn.Conv2d(3, 1, 1), (torch.zeros(1, 3, 8, 8),)
"""

MATRIX = """
name: declared
plugins: [metrics_plugin.py, conv_plugin.py]
datasets:
  a: {plugin: frames, options: {root: data/a}}
  b: {plugin: frames, options: {root: data/b}}
models:
  conv: {plugin: tinyconv}
  fd: {plugin: framediff, overrides: {image_size: 16}}
reporters: [markdown, csv]
metrics: [flipped_auc, micro_auc, tile_count, plain_count]
statistics: {resamples: 200}
matrix:
  - train: a
    test: [a, b]
"""


@pytest.fixture
def declared(tmp_path: Path) -> Path:
    workspace = build_workspace(tmp_path / "workspace")
    write_plugin(workspace / "metrics_plugin.py", METRICS_PLUGIN)
    write_plugin(workspace / "conv_plugin.py", model_plugin("tinyconv", "a 1x1 conv", TINY_CONV))
    (workspace / "matrix.yaml").write_text(MATRIX)
    return workspace


def section(board: str, title: str) -> str:
    return board.split(f"## {title}\n")[1].split("\n## ")[0]


def test_the_declared_headline_ranks_the_leaderboard_with_intervals(declared: Path) -> None:
    result = run_cli("run", "matrix.yaml", cwd=declared)
    assert result.returncode == 0, result.output
    run_dir = declared / "results" / "declared"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["metrics"]["headline"] == "flipped_auc"

    board = (run_dir / "leaderboard.md").read_text()
    leaderboard = section(board, "leaderboard")
    assert "flipped_auc (mean)" in leaderboard and "micro_auc (mean)" not in leaderboard
    titles = [line[3:] for line in board.splitlines() if line.startswith("## fd:")]
    assert titles == ["fd: flipped_auc (zero-shot)", "fd: micro_auc (zero-shot)"]
    assert " ± " in section(board, "fd: flipped_auc (zero-shot)")  # its statistic's interval

    summary = pd.read_csv(run_dir / "summary.csv")
    fd = summary[(summary["model"] == "fd") & (summary["target"] == "a")]
    flipped = fd[fd["metric"] == "flipped_auc"].iloc[0]
    micro = fd[fd["metric"] == "micro_auc"].iloc[0]
    assert flipped["value"] == pytest.approx(1 - micro["value"])
    assert flipped["lower"] == pytest.approx(1 - micro["upper"])


def test_a_footnote_note_is_printed_beside_the_value_and_a_plain_one_is_not(
    declared: Path,
) -> None:
    assert run_cli("run", "matrix.yaml", cwd=declared).returncode == 0
    run_dir = declared / "results" / "declared"
    efficiency = section((run_dir / "leaderboard.md").read_text(), "efficiency")
    header = next(line for line in efficiency.splitlines() if line.startswith("| model"))
    assert header.index("tile_count [tiles]") < header.index("plain_count")  # as listed
    assert "7.000*" in efficiency and "tile_count (conv, fd): skipped 2 tiles" in efficiency
    assert "counted on the example input" not in efficiency and "3.000*" not in efficiency
    rows = pd.read_csv(run_dir / "results.csv")
    plain = rows[(rows["metric"] == "plain_count") & (rows["model"] == "conv")]
    assert plain["note"].tolist() == ["counted on the example input"]
    assert plain["footnote"].tolist() == [False]


def test_without_a_metrics_list_the_plan_follows_the_declared_order(
    declared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(declared)  # the matrix's dataset roots are relative
    matrix_file = declared / "matrix.yaml"
    listed = "metrics: [flipped_auc, micro_auc, tile_count, plain_count]\n"
    matrix_file.write_text(MATRIX.replace(listed, ""))
    registry = load_plugins([declared / "metrics_plugin.py", declared / "conv_plugin.py"])
    raw, matrix = read_matrix(matrix_file)
    plan = build_plan(matrix_file, raw, matrix, registry)
    detection = [m.name for m in plan.detection_metrics]
    assert detection == ["micro_auc", "flipped_auc", "macro_auc", "type_auc"]
    assert plan.headline == "micro_auc"  # the first headline metric in that order
    efficiency = [m.name for m in plan.efficiency_metrics]
    assert efficiency[0] == "tile_count" and efficiency[-1] == "plain_count"
    assert efficiency.index("params") < efficiency.index("gmacs") < efficiency.index("fps")


def test_a_reference_of_a_metric_the_run_does_not_measure_names_the_field(
    declared: Path,
) -> None:
    reference = (
        "reference:\n  source: Table 9\n  metric: macro_aucc\n  values: {fd: {a: {b: 0.8}}}\n"
    )
    (declared / "matrix.yaml").write_text(MATRIX + reference)
    result = run_cli("check", "matrix.yaml", cwd=declared)
    assert result.returncode == 2
    line = error_line(result)
    assert "reference.metric" in line and "'macro_aucc'" in line
    assert "flipped_auc, micro_auc" in line
