"""``vadbench detect`` on generated H.264 street footage: a model trained on a videofolder of
normal footage (no labels.csv: its test video is scored, AUC n/a) flags the frames where a
foreign object darts about, writes the CSV, plot, segments and annotated MP4, and names the
input it cannot read while scoring the others."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest

from tests.builders import street_frames
from tests.corpus_support import error_line, run_cli
from tests.dataset_fixtures import encode_video, truncate

SIZE = (48, 96)  # height, width
INTRUDER = (30, 45)

MATRIX = """
name: street
datasets:
  street: {plugin: videofolder, options: {root: data/street}}
models:
  fd: {plugin: framediff, overrides: {image_size: 32}}
metrics: [micro_auc, macro_auc]
reporters: [markdown]
matrix:
  - train: street
    test: [street]
"""


@pytest.fixture(scope="module")
def street_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run trained on normal street footage, and footage to detect on."""
    root = tmp_path_factory.mktemp("detect")
    rng = np.random.default_rng(0)
    for name in ("morning", "noon", "evening"):
        frames = street_frames(40, SIZE, rng)
        encode_video(root / "data" / "street" / "train" / f"{name}.mp4", frames, SIZE, "libx264")
    test = street_frames(40, SIZE, rng, intruder=(10, 20))
    encode_video(root / "data" / "street" / "test" / "walk.mp4", test, SIZE, "libx264")
    footage = street_frames(75, SIZE, rng, intruder=INTRUDER)
    encode_video(root / "footage" / "intruder.mp4", footage, SIZE, "libx264")
    truncate(encode_video(root / "footage" / "broken.mp4", footage, SIZE, "libx264"), 0.3)
    (root / "matrix.yaml").write_text(MATRIX)
    result = run_cli("run", "matrix.yaml", cwd=root)
    assert result.returncode == 0, result.output
    return root


def test_an_unlabelled_test_video_is_scored_and_its_auc_is_na(street_run: Path) -> None:
    board = (street_run / "results" / "street" / "leaderboard.md").read_text()
    assert "nan" not in board
    assert "| street | n/a* |" in board
    assert "1 of 1 test video(s) have no frame labels: scored, not evaluated" in board
    (cell,) = (street_run / "results" / "street" / "cells").glob("fd__*")
    calibration = json.loads((cell / "calibration.json").read_text())
    assert calibration["split"] == "train"  # the test video has no labels to pick normal frames
    assert calibration["frames"] == 3 * (40 - 1)  # framediff predicts from one frame


def test_detect_flags_the_foreign_object_and_writes_every_output(street_run: Path) -> None:
    result = run_cli(
        "detect",
        "results/street:fd",
        "footage/intruder.mp4",
        "footage/broken.mp4",
        "--out",
        "out",
        "--video",
        cwd=street_run,
    )
    assert result.returncode == 2, result.output  # broken.mp4 could not be read ...
    assert "footage/broken.mp4" in result.output and "Traceback" not in result.output
    out = street_run / "out" / "intruder"  # ... and intruder.mp4 was scored all the same
    with (out / "scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 75 and rows[0]["anomaly_score"] == ""  # frame 0 has no past to predict from
    scores = np.array([float(r["anomaly_score"]) for r in rows[1:]])
    inside = np.zeros(75, bool)
    inside[INTRUDER[0] : INTRUDER[1]] = True
    inside = inside[1:]
    assert scores[inside].mean() > scores[~inside].mean()
    assert np.median(scores[inside]) > np.percentile(scores[~inside], 90)
    assert float(rows[40]["time_s"]) == pytest.approx(40 / 25)

    segments = json.loads((out / "segments.json").read_text())
    assert segments["threshold_from"].startswith("quantile 0.99 of 117 normal frames of street")
    flagged = [s for s in segments["segments"] if s["start_frame"] < INTRUDER[1]]
    assert flagged and any(INTRUDER[0] <= s["peak_frame"] < INTRUDER[1] for s in flagged)
    assert (out / "scores.png").read_bytes().startswith(b"\x89PNG")
    with av.open(str(out / "annotated.mp4")) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 75 and decoded[0].shape == (SIZE[0], SIZE[1], 3)


def test_a_threshold_can_be_given_and_flags_follow_it(street_run: Path) -> None:
    result = run_cli(
        "detect", "results/street:fd", "footage/intruder.mp4", "--out", "low",
        "--threshold", "-1000", cwd=street_run,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    with (street_run / "low" / "intruder" / "scores.csv").open() as handle:
        flags = [row["flag"] for row in csv.DictReader(handle)]
    assert flags == ["0"] + ["1"] * 74  # every scored frame is above -1000


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("results/street:nosuch", "no cell of model 'nosuch'"),
        ("results/nowhere:fd", "expected a cell folder"),
    ],
)
def test_an_unknown_model_is_one_line_and_exit_2(
    street_run: Path, model: str, expected: str
) -> None:
    result = run_cli("detect", model, "footage/intruder.mp4", "--out", "x", cwd=street_run)
    assert result.returncode == 2
    assert expected in error_line(result)


def test_a_cell_that_was_never_trained_is_one_line_and_exit_2(street_run: Path) -> None:
    (cell,) = (street_run / "results" / "street" / "cells").glob("fd__*")
    untrained = street_run / "copied" / "cells" / cell.name  # its record, without the checkpoint
    untrained.mkdir(parents=True)
    (untrained / "cell.json").write_text((cell / "cell.json").read_text())
    result = run_cli("detect", str(untrained), "footage/intruder.mp4", "--out", "x", cwd=street_run)
    assert result.returncode == 2
    assert "the cell was never trained" in error_line(result)
