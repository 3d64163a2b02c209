"""Intervals that cover what they claim, paired differences that find a real shift and no
phantom one, rank tests that order models, and every reporter showing them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tests.builders import write_square_dataset
from tests.conftest import labels
from tests.corpus_support import build_workspace, run_cli
from vadbench.sdk import protocol
from vadbench.sdk.statistics import (
    Rounds,
    TargetRuns,
    WeightedAUC,
    compare_with_best,
    interval,
    paired_difference,
    rank_test,
    target_rounds,
    video_draws,
)


def simulate(
    rng: np.random.Generator, videos: int, shift: float = 1.0, frames: int = 60
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Normalised anomaly scores of videos whose frames share an offset and a drift (frames of
    one video are not independent), with abnormal segments in most videos."""
    scores, labels = [], []
    for _ in range(videos):
        label = np.zeros(frames, np.int8)
        if rng.random() < 0.6:
            start = int(rng.integers(5, frames - 20))
            label[start : start + int(rng.integers(8, 20))] = 1
        raw = rng.normal(size=frames) + shift * label + rng.normal(0, 0.7)
        raw += 0.5 * np.cumsum(rng.normal(0, 0.3, size=frames))
        scores.append(protocol.anomaly_scores(raw, "anomaly"))
        labels.append(label)
    return scores, labels


def runs_of(scores: list[np.ndarray], labels: list[np.ndarray]) -> TargetRuns:
    ids = tuple(f"{index:02d}" for index in range(len(scores)))
    return TargetRuns(ids, {0: (tuple(scores), tuple(labels))})


def test_weighted_auc_is_scikit_learns_auc_of_the_resampled_frames() -> None:
    rng = np.random.default_rng(0)
    scores, labels = simulate(rng, 12)
    scores = [np.round(s, 1) for s in scores]  # many ties
    statistic = WeightedAUC(scores, labels)
    pooled = roc_auc_score(np.concatenate(labels), np.concatenate(scores))
    assert statistic(np.ones((1, 12)))[0] == pytest.approx(pooled, abs=1e-12)
    for draw in video_draws("t", 12, 5, seed=3).astype(int):
        chosen = [v for v in range(12) for _ in range(draw[v])]
        expected = roc_auc_score(
            np.concatenate([labels[v] for v in chosen]),
            np.concatenate([scores[v] for v in chosen]),
        )
        assert statistic(draw[None, :])[0] == pytest.approx(expected, abs=1e-12)


def test_one_class_rounds_are_nan_not_errors() -> None:
    statistic = WeightedAUC([np.array([0.1, 0.2]), np.array([0.5, 0.9])], [np.zeros(2), np.ones(2)])
    assert np.isnan(statistic(np.array([[2.0, 0.0]]))[0])
    assert statistic(np.array([[1.0, 1.0]]))[0] == 1.0


def test_the_interval_covers_a_known_auc_at_close_to_the_nominal_rate() -> None:
    rng = np.random.default_rng(123)
    population_scores, population_labels = simulate(rng, 4000)
    truth = WeightedAUC(population_scores, population_labels)(np.ones((1, 4000)))[0]
    covered = 0
    for benchmark in range(200):
        rounds = target_rounds(runs_of(*simulate(rng, 30)), WeightedAUC, "sim", 500, benchmark)
        low, high = interval(rounds.rounds, 0.95)
        assert low is not None and high is not None
        covered += low <= truth <= high
    assert 0.90 <= covered / 200 <= 0.98, covered


def test_a_paired_comparison_finds_a_real_shift_and_no_phantom_one() -> None:
    rng = np.random.default_rng(7)
    scores, labels = simulate(rng, 30)
    worse = [
        protocol.anomaly_scores(s + rng.normal(0, 0.35, size=len(s)), "anomaly") for s in scores
    ]
    rounds = {
        "good": target_rounds(runs_of(scores, labels), WeightedAUC, "t", 1000, 0),
        "twin": target_rounds(runs_of(scores, labels), WeightedAUC, "t", 1000, 0),
        "worse": target_rounds(runs_of(worse, labels), WeightedAUC, "t", 1000, 0),
    }
    by_model = {c.model: c for c in compare_with_best(rounds, 0.95)}
    assert by_model["worse"].best in ("good", "twin")
    assert by_model["worse"].difference < 0 and not by_model["worse"].tied
    assert by_model["worse"].upper is not None and by_model["worse"].upper < 0
    twin = by_model["twin"]
    assert twin.tied and twin.difference == 0 and (twin.lower, twin.upper) == (0.0, 0.0)


def test_rank_test_orders_models_and_flags_only_real_differences() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0.6, 0.8, size=12)
    values = {
        "strong": list(base + 0.10 + rng.normal(0, 0.005, 12)),
        "middle": list(base + 0.05 + rng.normal(0, 0.005, 12)),
        "weak": list(base + rng.normal(0, 0.005, 12)),
        "weak-twin": list(base + rng.normal(0, 0.005, 12)),
    }
    test = rank_test(values)
    assert test is not None and test.p_value < 0.001
    assert test.mean_ranks["strong"] == 1.0 and test.mean_ranks["middle"] == 2.0
    different = set(test.different_pairs())
    assert ("strong", "weak") in different and ("weak", "weak-twin") not in different
    assert rank_test({"a": [0.5, 0.6], "b": [0.4, 0.5]}) is None  # two models: no Friedman


def test_pairs_are_not_tested_unless_friedman_rejects() -> None:
    same_order = {"A": [0.91, 0.83], "B": [0.90, 0.82], "C": [0.89, 0.81]}
    test = rank_test(same_order)
    assert test is not None and test.p_value > 0.05
    assert not test.pairs_tested and test.different_pairs() == []
    ties = rank_test({"A": [0.5, 0.5, 0.5], "B": [0.5, 0.5, 0.5], "C": [0.5, 0.5, 0.5]})
    assert ties is not None and not ties.pairs_tested


def test_a_single_test_video_gives_no_interval_and_no_decision() -> None:
    rng = np.random.default_rng(3)
    one, label = simulate(rng, 1)
    while len(np.unique(label[0])) < 2:
        one, label = simulate(rng, 1)
    rounds = target_rounds(runs_of(one, label), WeightedAUC, "t", 200, 0)
    assert rounds.value is not None and interval(rounds.rounds, 0.95) == (None, None)
    worse = target_rounds(runs_of([one[0][::-1]], label), WeightedAUC, "t", 200, 0)
    comparison = [
        c for c in compare_with_best({"a": rounds, "b": worse}, 0.95) if c.model != c.best
    ]
    assert comparison and not comparison[0].decided
    assert target_rounds(TargetRuns((), {0: ((), ())}), WeightedAUC, "t", 50, 0).value is None


def test_paired_difference_of_a_model_with_itself_is_exactly_zero() -> None:
    rounds = Rounds(0.7, np.random.default_rng(0).uniform(0.6, 0.8, 200), 1)
    assert paired_difference(rounds, rounds, 0.95) == (0.0, 0.0, 0.0)
    nothing = Rounds(None, np.full(200, np.nan), 1)
    assert paired_difference(rounds, nothing, 0.95) == (None, None, None)


def test_mean_over_targets_needs_every_target() -> None:
    nothing = Rounds(None, np.full(3, np.nan), 1)
    assert compare_with_best({"a": nothing}, 0.95) == []


MATRIX_WITH_SEEDS = """
name: tiny
seeds: [0, 1]
statistics: {resamples: 300}
datasets:
  a: {plugin: frames, options: {root: data/a}}
  c: {plugin: frames, options: {root: data/c}}
models:
  fd: {plugin: framediff, overrides: {image_size: 16}}
  fd2: {plugin: framediff, overrides: {context_frames: 2, image_size: 16}}
  fd3: {plugin: framediff, overrides: {context_frames: 3, image_size: 16}}
reporters: [terminal, markdown, csv, latex, json]
metrics: [micro_auc, macro_auc, params]
matrix:
  - train: a
    test: [a, c]
"""


def test_every_reporter_shows_intervals_and_ties(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    write_square_dataset(
        workspace / "data" / "c",
        [20],
        [labels(30, 15, 26), labels(24, 4, 10), labels(28, 10, 20)],
        seed=2,
    )
    (workspace / "matrix.yaml").write_text(MATRIX_WITH_SEEDS)
    result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 0, result.output
    assert " ± " in result.stdout and "tied with best" in result.stdout
    run_dir = workspace / "results" / "tiny"

    board = (run_dir / "leaderboard.md").read_text()
    leaderboard = board.split("## leaderboard")[1].split("##")[0]
    assert "Δ cross-domain vs best" in leaderboard and "| best |" in leaderboard
    assert leaderboard.count(" ± ") >= 6
    assert "(300 resamples of test videos, and of seeds" in leaderboard
    # a metric the seed does not change (parameters) is one number, not "x ± 0.000"
    assert "0.000 ± 0.000" not in leaderboard

    summary = pd.read_csv(run_dir / "summary.csv")
    assert {"value", "lower", "upper", "seeds", "resamples"} <= set(summary.columns)
    per_target = summary[(summary["target"] == "c") & (summary["metric"] == "micro_auc")]
    assert len(per_target) == 3 and set(per_target["resamples"]) == {300}
    assert set(per_target["seeds"]) == {2}
    assert (per_target["lower"] <= per_target["value"]).all()
    assert (per_target["value"] <= per_target["upper"]).all()

    payload = json.loads((run_dir / "results.json").read_text())
    assert payload["intervals"] == {"confidence": 0.95, "resamples": 300}
    means = [r for r in payload["summary"] if r["target"] == "(cross-domain)"]
    assert len(means) == 6 and all("tied" in r for r in means)
    assert r"$\pm$" in (run_dir / "leaderboard.tex").read_text()


def test_a_run_folder_without_scores_still_renders_without_intervals(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    assert run_cli("run", "matrix.yaml", cwd=workspace).returncode == 0
    run_dir = workspace / "results" / "tiny"
    for stored in run_dir.glob("cells/*/targets/*/scores.npz*"):
        stored.unlink()
    result = run_cli("report", str(run_dir), "--reporter", "markdown", cwd=workspace)
    assert result.returncode == 0, result.output
    board = (run_dir / "leaderboard.md").read_text()
    assert "| fd | a | zero-shot | 0.843 | 0.833 |" in board and " ± " not in board


REFERENCE = """reference:
  source: "Some et al., Table 9"
  values:
    fd: {a: {a: 0.900, b: 0.800}}
"""


def test_reference_values_stand_beside_the_measured_ones(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    matrix = workspace / "matrix.yaml"
    matrix.write_text(matrix.read_text() + REFERENCE)
    result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 0, result.output
    run_dir = workspace / "results" / "tiny"
    board = (run_dir / "leaderboard.md").read_text()
    table = board.split("## fd: micro_auc (zero-shot)")[1].split("##")[0]
    assert "(ref 0.900, -0.047†)" in table and "(ref 0.800, +0.033†)" in table
    assert "†: the reference does not state its evaluation protocol" in table
    assert "ref: Some et al., Table 9; the signed number is measured − ref" in table
    assert "(ref " not in board.split("## fd2: micro_auc")[1].split("##")[0]
    summary = pd.read_csv(run_dir / "summary.csv")
    row = summary[(summary["model"] == "fd") & (summary["target"] == "b")]
    row = row[row["metric"] == "micro_auc"]
    assert float(row["reference"].iloc[0]) == 0.8
    assert row["reference_source"].iloc[0] == "Some et al., Table 9"
