"""The real-footage example of docs/detect.md is reproducible: its script turns a street clip and
a clip of a person into a ``videofolder`` dataset that vadbench reads, with the person pasted
into exactly the labelled frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.dataset_fixtures import encode_video
from vadbench.harness.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[1]


def test_street_example_builds_a_labelled_videofolder(tmp_path: Path) -> None:
    road = np.full((72, 128, 3), 70, np.uint8)
    encode_video(tmp_path / "road.mp4", [road] * 40, (72, 128), "libx264", fps=12)
    person = [np.full((72, 128, 3), 230, np.uint8) for _ in range(151)]
    person[150][10:60, 50:70] = (200, 40, 40)
    encode_video(tmp_path / "person.mp4", person, (72, 128), "libx264", fps=12)

    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "street_example.py"),
         str(tmp_path / "road.mp4"), str(tmp_path / "person.mp4"), "--out", str(tmp_path / "cam"),
         "--split", "16", "--object-start", "6", "--object-frames", "10"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "cam" / "labels.csv").read_text().splitlines() == [
        "video,start,end",
        "road-person,6,15",
    ]

    registry = load_plugins()
    spec = registry.datasets.get("videofolder")
    dataset = spec.open(spec.options.model_validate({"root": str(tmp_path / "cam")}))
    (train,) = dataset.source("train").videos()
    (test,) = dataset.source("test").videos()
    assert train.num_frames == 16 and test.num_frames == 24
    assert list(np.flatnonzero(test.labels)) == list(range(6, 16))
    frames = test.frames().astype(int)
    reddest = (frames[..., 0] - frames[..., 2]).reshape(len(frames), -1).max(axis=1)
    assert (reddest[6:16] > 80).all() and (reddest[:6] < 30).all() and (reddest[16:] < 30).all()
