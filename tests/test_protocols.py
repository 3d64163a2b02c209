"""Named evaluation protocols (vadbench.sdk.protocol): smoothing, global normalisation and the
handling of context frames change AUCs exactly as computed by hand; a matrix chooses one, every
leaderboard names it, changing it re-evaluates stored scores without scoring again, and a
reference measured under another protocol is flagged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CliRunner
from vadbench.sdk import (
    PROTOCOLS,
    ConfigError,
    DetectionInput,
    EvaluationProtocol,
    detection_input,
    evaluation_protocol,
    per_video_auc,
    protocol_scores,
    roc_auc,
)

# Two videos of raw anomaly scores (high = abnormal), one abnormal frame each; multiples of 3,
# so that every mean of three below is exact and ties are real ties.
SCORES = (np.array([0.0, 6.0, 3.0]), np.array([3.0, 6.0, 9.0]))
LABELS = (np.array([0, 1, 0], np.int8), np.array([0, 0, 1], np.int8))


def _micro(protocol: EvaluationProtocol) -> float:
    data = DetectionInput(("v1", "v2"), SCORES, LABELS, "anomaly", protocol=protocol)
    return roc_auc(np.concatenate(data.labels), np.concatenate(protocol_scores(data)))


def _macro(protocol: EvaluationProtocol) -> float:
    data = DetectionInput(("v1", "v2"), SCORES, LABELS, "anomaly", protocol=protocol)
    return float(np.mean(list(per_video_auc(data).values())))


def test_global_normalisation_changes_the_micro_auc_as_computed_by_hand() -> None:
    # per video: v1 → [0, 1, .5], v2 → [0, .5, 1]; both abnormal frames (1, 1) outrank every
    # normal frame: AUC 1.
    assert _micro(PROTOCOLS["ffp"]) == 1.0
    # over the target: [0, 2/3, 1/3, 1/3, 2/3, 1]; the abnormal 2/3 beats 3 of the 4 normal
    # frames and ties the fourth, the abnormal 1 beats all 4: 7.5 of 8 pairs.
    assert _micro(PROTOCOLS["global"]) == pytest.approx(7.5 / 8)
    assert _micro(PROTOCOLS["raw"]) == pytest.approx(7.5 / 8)  # a monotone map of the same


def test_smoothing_changes_micro_and_macro_auc_as_computed_by_hand() -> None:
    moving = EvaluationProtocol(smoothing="moving-average", window=3)
    # reflecting ends: v1 → [2, 3, 4] → [0, .5, 1]; v2 → [4, 6, 8] → [0, .5, 1].
    # abnormal .5 (v1): beats 0, 0, ties .5, loses to 1: 2.5 pairs; abnormal 1 (v2): beats
    # 0, 0, .5, ties 1: 3.5 pairs; 6 of 8.
    assert _micro(moving) == pytest.approx(6 / 8)
    # per video: v1 falls from 1 to .5 (its abnormal frame now sits between its normal ones).
    assert _macro(PROTOCOLS["ffp"]) == 1.0
    assert _macro(moving) == pytest.approx(0.75)


def test_gaussian_smoothing_is_the_hand_written_kernel_with_reflected_ends() -> None:
    rng = np.random.default_rng(0)
    scores = (rng.random(40), rng.random(25))
    labels = tuple((rng.random(len(s)) > 0.7).astype(np.int8) for s in scores)
    for protocol in (PROTOCOLS["ffp-gauss3"], PROTOCOLS["mpn"]):
        radius = protocol.radius or int(4 * protocol.sigma + 0.5)
        offsets = np.arange(-radius, radius + 1)
        kernel = np.exp(-(offsets**2) / (2 * protocol.sigma**2))
        kernel /= kernel.sum()
        by_hand = []
        for video in scores:
            padded = np.pad(video, radius, mode="symmetric")
            smoothed = np.array(
                [padded[i : i + 2 * radius + 1] @ kernel for i in range(len(video))]
            )
            by_hand.append((smoothed - smoothed.min()) / (smoothed.max() - smoothed.min()))
        data = DetectionInput(("a", "b"), scores, labels, "anomaly", protocol=protocol)
        for ours, expected in zip(protocol_scores(data), by_hand, strict=True):
            np.testing.assert_allclose(ours, expected, atol=1e-12)
    assert PROTOCOLS["mpn"].describe().startswith("mpn: per-video min-max normalisation, Gaussian")
    assert "15 taps" in PROTOCOLS["mpn"].describe()


def test_context_frames_are_dropped_or_filled_with_the_first_score() -> None:
    scores, labels = [np.array([0.5, 0.9, 0.1])], [np.array([1, 0, 1, 0], np.int8)]
    dropped = detection_input(["v"], scores, labels, 1, "anomaly", protocol=PROTOCOLS["ffp"])
    filled = detection_input(["v"], scores, labels, 1, "anomaly", protocol=PROTOCOLS["ffp-fill"])
    np.testing.assert_array_equal(dropped.labels[0], [0, 1, 0])
    np.testing.assert_array_equal(filled.labels[0], [1, 0, 1, 0])
    np.testing.assert_array_equal(filled.scores[0], [0.5, 0.5, 0.9, 0.1])


def test_a_normality_score_ranks_as_its_negation_under_every_protocol() -> None:
    rng = np.random.default_rng(1)
    psnr = (30 + rng.random(50), 28 + rng.random(30))
    labels = tuple((rng.random(len(s)) > 0.6).astype(np.int8) for s in psnr)
    for protocol in PROTOCOLS.values():
        normality = DetectionInput(("a", "b"), psnr, labels, "normality", protocol=protocol)
        negated = DetectionInput(
            ("a", "b"), tuple(-s for s in psnr), labels, "anomaly", protocol=protocol
        )
        found = roc_auc(np.concatenate(labels), np.concatenate(protocol_scores(normality)))
        expected = roc_auc(np.concatenate(labels), np.concatenate(protocol_scores(negated)))
        assert found == pytest.approx(expected, abs=1e-12), protocol.name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ffp-gaus3", "unknown evaluation protocol 'ffp-gaus3'; did you mean 'ffp-gauss3'"),
        ({"smoothing": "median"}, "smoothing: Input should be"),
        ({"name": "ffp", "smoothing": "gaussian"}, "'ffp' is a named protocol with other"),
        ({"sigma": 0}, "sigma: Input should be greater than 0"),
    ],
)
def test_a_wrong_protocol_is_a_clear_error(value: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"m\.yaml: evaluation") as raised:
        evaluation_protocol(value, "m.yaml: evaluation")  # type: ignore[arg-type]
    assert expected in str(raised.value)


def test_a_named_protocol_given_by_settings_is_that_protocol() -> None:
    assert evaluation_protocol({"name": "ffp-gauss7"}, "x") == PROTOCOLS["ffp-gauss7"]
    custom = evaluation_protocol({"normalisation": "global", "smoothing": "gaussian"}, "x")
    assert custom.name == "custom" and custom.same_as(PROTOCOLS["global-gauss3"])


def _run(workspace: Path, vadbench_cli: CliRunner, evaluation: str) -> dict:
    matrix = workspace / "matrix.yaml"
    text = matrix.read_text().replace("name: tiny\n", f"name: tiny\n{evaluation}")
    matrix.write_text(text)
    result = vadbench_cli("run", "matrix.yaml", "--results-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    matrix.write_text(text.replace(evaluation, ""))
    rows = json.loads((workspace / "out" / "tiny" / "results.json").read_text())["rows"]
    return {(r["model"], r["target"]): r["value"] for r in rows if r["metric"] == "micro_auc"}


def test_a_matrix_chooses_its_protocol_and_changing_it_re_evaluates_stored_scores(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    plain = _run(workspace, vadbench_cli, "")
    run = workspace / "out" / "tiny"
    assert "evaluation protocol ffp: per-video min-max" in (run / "leaderboard.md").read_text()
    scores = sorted(run.glob("cells/*/targets/*/scores.npz"))
    written = {path: path.stat().st_mtime_ns for path in scores}
    smoothed = _run(workspace, vadbench_cli, "evaluation: {smoothing: gaussian, sigma: 2}\n")
    assert {path: path.stat().st_mtime_ns for path in scores} == written  # not scored again
    assert smoothed != plain
    board = (run / "leaderboard.md").read_text()
    assert "evaluation protocol custom: per-video min-max normalisation, Gaussian" in board
    recorded = json.loads((run / "run.json").read_text())["evaluation"]
    assert recorded["smoothing"] == "gaussian" and recorded["sigma"] == 2
    results = json.loads((run / "results.json").read_text())
    assert results["evaluation"] == {
        "name": "custom", "normalisation": "per-video", "smoothing": "gaussian", "sigma": 2.0,
        "context": "drop",
    }  # fmt: skip
    targets = [row for row in results["rows"] if row["target"]]
    assert targets and {row["evaluation"] for row in targets} == {"custom"}
    assert _run(workspace, vadbench_cli, "") == plain


def test_a_reference_under_another_protocol_is_flagged(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    block = (
        "reference:\n  source: a paper\n  evaluation: ffp-gauss3\n  values: {fd: {a: {b: 0.7}}}\n"
    )
    matrix = workspace / "matrix.yaml"
    matrix.write_text(matrix.read_text() + block)
    result = vadbench_cli("run", "matrix.yaml", "--results-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    board = (workspace / "out" / "tiny" / "leaderboard.md").read_text()
    assert "(ref 0.700, " in board and "†)" in board
    assert "protocol mismatch: the reference was measured under ffp-gauss3" in board
    matrix.write_text(
        matrix.read_text().replace("name: tiny\n", "name: tiny\nevaluation: ffp-gauss3\n")
    )
    again = vadbench_cli("run", "matrix.yaml", "--results-dir", "out")
    assert again.returncode == 0, again.stdout + again.stderr
    board = (workspace / "out" / "tiny" / "leaderboard.md").read_text()
    assert "ref and measured both under evaluation protocol ffp-gauss3" in board
    assert "†)" not in board


def _cross_domain(board: str, model: str) -> str:
    """The cross-domain mean of ``model``'s first leaderboard row, without its interval."""
    row = next(line for line in board.splitlines() if line.startswith(f"| {model} |"))
    return row.split("|")[5].split()[0]


def test_the_sensitivity_card_re_evaluates_stored_scores_as_a_run_under_each_protocol_would(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    _run(workspace, vadbench_cli, "")
    run = workspace / "out" / "tiny"
    card = vadbench_cli("report", "out/tiny", "--protocols", "global", "ffp-gauss3")
    assert card.returncode == 0, card.stdout + card.stderr
    text = (run / "sensitivity.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| model |"))
    assert header.split("|")[2:5] == [" ffp ", " global ", " ffp-gauss3 "]
    rows = {
        line.split("|")[1].strip(): [cell.split()[0] for cell in line.split("|")[2:5]]
        for line in text.splitlines()
        if line.startswith("| fd")
    }
    board = (run / "leaderboard.md").read_text()
    assert rows["fd"][0] == _cross_domain(board, "fd")
    for column, name in ((1, "global"), (2, "ffp-gauss3")):
        _run(workspace, vadbench_cli, f"evaluation: {name}\n")
        board = (run / "leaderboard.md").read_text()
        for model in ("fd", "fd2"):
            assert rows[model][column] == _cross_domain(board, model), (model, name)
    assert "Kendall's tau with ffp's order" in text and "Largest move" in text
    wrong = vadbench_cli("report", "out/tiny", "--protocols", "gaussian")
    assert wrong.returncode == 2 and "--protocols: unknown evaluation protocol" in wrong.stdout


def test_a_video_too_short_to_score_changes_nothing_under_any_protocol() -> None:
    one_frame = detection_input(
        ["a", "b"], [np.zeros(0), SCORES[1]], [np.array([1], np.int8), np.array([0, 0, 0, 1])],
        1, "anomaly",
    )  # fmt: skip
    for protocol in PROTOCOLS.values():
        data = DetectionInput(
            one_frame.video_ids, one_frame.scores, one_frame.labels, "anomaly", protocol=protocol
        )
        scored = protocol_scores(data)
        assert [len(s) for s in scored] == [0, 3], protocol.name
