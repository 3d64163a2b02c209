"""Detection per anomaly type: the type_auc metric, its intervals and its table in reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.conftest import CliRunner
from vadbench.harness.plugins import load_plugins
from vadbench.sdk import DetectionInput, stored_detection_input
from vadbench.sdk.runfolder import StoredScores, read_scores, write_scores
from vadbench.sdk.statistics import TargetRuns, by_anomaly_type


def _types(*names: str) -> np.ndarray:
    return np.array(names)


def test_type_auc_compares_normal_frames_with_one_type_and_leaves_the_others_out() -> None:
    types = _types("normal", "normal", "parked", "parked", "fall", "fall", "normal")
    labels = (types != "normal").astype(np.int8)
    # anomaly scores: parked frames above every normal frame, fall frames below every one
    scores = np.array([0.4, 0.5, 0.9, 0.8, 0.1, 0.0, 0.45])
    data = DetectionInput(("v",), (scores,), (labels,), "anomaly", (types,))
    metric = load_plugins().metrics.get("type_auc")
    results = {result.name: result.value for result in metric.compute(data)}
    assert results == {"type_auc[fall]": 0.0, "type_auc[parked]": 1.0}
    untyped = DetectionInput(("v",), (scores,), (labels,), "anomaly")
    assert metric.compute(untyped) == []


def test_types_are_stored_with_scores_and_aligned_like_labels(tmp_path: Path) -> None:
    types = (_types("normal", "normal", "fall", "fall", "normal"),)
    stored = StoredScores(
        "h", ("v",), (np.array([0.1, 0.9, 0.8]),), ((types[0] != "normal").astype(np.int8),), 2,
        "anomaly", types,
    )  # fmt: skip
    path = tmp_path / "scores.npz"
    write_scores(path, stored)
    data = stored_detection_input(read_scores(path))
    assert data.types is not None and data.types[0].tolist() == ["fall", "fall", "normal"]
    assert data.labels[0].tolist() == [1, 1, 0]


def test_by_anomaly_type_cuts_every_seed_to_normal_frames_and_one_type() -> None:
    types = (_types("normal", "fall", "parked"), _types("parked", "parked", "parked"))
    runs = TargetRuns(("a", "b"), types=types)
    runs.per_seed[0] = (
        (np.array([0.1, 0.2, 0.3]), np.array([0.4, 0.5, 0.6])),
        (np.array([0, 1, 1]), np.array([1, 1, 1])),
    )
    key = ("m", "s", "s", "zero-shot", "t")
    cut = by_anomaly_type({key: runs})
    fall = cut["fall"][key]
    assert fall.video_ids == ("a",)
    assert [s.tolist() for s in fall.per_seed[0][0]] == [[0.1, 0.2]]
    assert [s.tolist() for s in fall.per_seed[0][1]] == [[0, 1]]
    parked = cut["parked"][key]
    assert parked.video_ids == ("a", "b")
    assert [s.tolist() for s in parked.per_seed[0][1]] == [[0, 1], [1, 1, 1]]


MATRIX = """
name: types
seeds: [0, 1]
datasets:
  campus: {plugin: synthetic, options: {domain: campus, test_videos: 4, train_videos: 2,
                                       frames_per_video: 40, resolution: 32}}
models:
  fd: {plugin: framediff, overrides: {image_size: 32}}
metrics: [micro_auc, type_auc]
reporters: [markdown, json, html]
matrix:
  - train: campus
    test: [campus]
"""


def test_a_run_on_typed_data_reports_every_type_with_an_interval(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    (workspace / "types.yaml").write_text(MATRIX)
    result = vadbench_cli("run", "types.yaml", "--results-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    run = workspace / "out" / "types"
    rows = json.loads((run / "results.json").read_text())["rows"]
    typed = {row["metric"] for row in rows if row["metric"].startswith("type_auc[")}
    assert typed, "the synthetic benchmark names its anomaly types"
    board = (run / "leaderboard.md").read_text()
    section = board.split("## detection per anomaly type")[1].split("##")[0]
    header = next(line for line in section.splitlines() if line.startswith("| model"))
    assert {f" {name.removeprefix('type_auc[').rstrip(']')} " for name in typed} <= {
        f" {cell.strip()} " for cell in header.split("|")
    }
    fd_row = next(line for line in section.splitlines() if line.startswith("| fd |"))
    assert " ± " in fd_row
    assert "Anomaly types" in (run / "report.html").read_text()
