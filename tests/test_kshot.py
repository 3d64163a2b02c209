"""The k-shot protocol: support clips come from the target's training split only, the base
model is never mutated, and the leaderboard names the protocol next to every number."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import CliRunner, write_plugin
from vadbench.sdk.contracts import DataError
from vadbench.sdk.protocol import draw_support
from vadbench_plugins.datasets.frames import FramesOptions, open_frames

ADAPTABLE_MODEL = """
import json
from pathlib import Path

import numpy as np
from vadbench.sdk import ModelSpec, Options, hookimpl


class Shift:
    \"\"\"Anomaly score = distance of a frame's mean brightness to a learned reference.\"\"\"

    context_frames = 1
    score_kind = "anomaly"

    def __init__(self, options, device, reference=None):
        self.reference = reference

    def fit(self, source, aux, ctx):
        self.reference = float(np.mean([v.frames().mean() for v in source.videos()]))
        (Path(ctx.checkpoint_dir) / "adaptation.json").write_text(json.dumps(ctx.adaptation))

    def adapt(self, support, ctx):
        clips = support.videos()
        record = {
            "ids": [c.id for c in clips],
            "lengths": [c.num_frames for c in clips],
            "first_pixels": [c.frames()[0].tolist() for c in clips],
            "base_reference": self.reference,
        }
        (Path(ctx.checkpoint_dir) / "support.json").write_text(json.dumps(record))
        return Shift(None, None, float(np.mean([c.frames().mean() for c in clips])))

    def score(self, video):
        means = video.frames().astype(float).mean(axis=(1, 2, 3))[1:]
        return np.abs(means - self.reference)

    def save(self, folder):
        (Path(folder) / "ref.json").write_text(json.dumps(self.reference))

    def load(self, folder):
        self.reference = json.loads((Path(folder) / "ref.json").read_text())

    def inference_module(self):
        return None


@hookimpl
def vadbench_register_models(register):
    register(ModelSpec("shift", "brightness reference", Options, Shift, supports_adaptation=True))
"""


def kshot_matrix(workspace: Path) -> None:
    write_plugin(workspace / "shift_plugin.py", ADAPTABLE_MODEL)
    text = (workspace / "matrix.yaml").read_text()
    text = text.replace("name: tiny", "name: tiny\nplugins: [shift_plugin.py]")
    text = text.replace("models:\n", "models:\n  sh: {plugin: shift}\n")
    text += "  - models: [sh]\n    train: a\n    test: [b]\n    protocol: k-shot\n    shots: 3\n"
    (workspace / "matrix.yaml").write_text(text)


def test_kshot_row_adapts_on_target_training_clips_only(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    kshot_matrix(workspace)
    result = vadbench_cli("run", "matrix.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sh: micro_auc (3-shot)" in result.stdout
    assert "sh: micro_auc (zero-shot)" in result.stdout

    cell = next((workspace / "results" / "tiny" / "cells").glob("sh__*"))
    record = json.loads((cell / "targets" / "b@3shot" / "support.json").read_text())
    train_videos = {
        v.id: v
        for v in open_frames(FramesOptions(root=workspace / "data" / "b")).source("train").videos()
    }
    assert len(record["ids"]) == 3 and record["lengths"] == [2, 2, 2]
    for clip_id, pixels in zip(record["ids"], record["first_pixels"], strict=True):
        video_id, start = clip_id.split("@")
        assert video_id in train_videos  # b's training split, never its test split
        np.testing.assert_array_equal(
            np.array(pixels), train_videos[video_id].frames(int(start), int(start) + 1)[0]
        )

    # the base model (trained on a) was not mutated: the zero-shot target b scored with it
    base_reference = json.loads((cell / "checkpoint" / "ref.json").read_text())
    assert record["base_reference"] == base_reference
    table = pd.read_csv(workspace / "results" / "tiny" / "results.csv")
    sh = table[(table.model == "sh") & (table.metric == "micro_auc")]
    assert set(zip(sh.target, sh.protocol, strict=True)) == {
        ("a", "zero-shot"),
        ("b", "zero-shot"),
        ("b", "3-shot"),
    }
    assert "(3-shot)" in (workspace / "results" / "tiny" / "leaderboard.md").read_text()


def test_only_cells_a_kshot_row_adapts_are_told_so_and_they_hash_apart(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    kshot_matrix(workspace)
    text = (workspace / "matrix.yaml").read_text()
    # a second source that only zero-shot rows use
    (workspace / "matrix.yaml").write_text(text + "  - models: [sh]\n    train: b\n    test: [a]\n")
    result = vadbench_cli("run", "matrix.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    cells = workspace / "results" / "tiny" / "cells"
    told = {
        cell.name.split("__")[1]: json.loads((cell / "checkpoint" / "adaptation.json").read_text())
        for cell in cells.glob("sh__*")
    }
    assert told == {"a": True, "b": False}

    (workspace / "matrix.yaml").write_text(text.split("  - models: [sh]")[0])
    result = vadbench_cli("run", "matrix.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    flags = sorted(
        json.loads((cell / "checkpoint" / "adaptation.json").read_text())
        for cell in cells.glob("sh__a__*")
    )
    assert flags == [False, True], "without k-shot rows the model is trained anew, untold"


def test_kshot_with_a_model_that_cannot_adapt_is_a_config_error(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    text = (workspace / "matrix.yaml").read_text()
    text += "  - models: [fd]\n    train: a\n    test: [b]\n    protocol: k-shot\n    shots: 2\n"
    (workspace / "matrix.yaml").write_text(text)
    result = vadbench_cli("run", "matrix.yaml")
    assert result.returncode == 2
    assert "matrix.1.protocol: model 'fd' (framediff) does not support k-shot" in result.stdout


def test_kshot_needs_shots(workspace: Path, vadbench_cli: CliRunner) -> None:
    text = (workspace / "matrix.yaml").read_text() + "    protocol: k-shot\n"
    (workspace / "matrix.yaml").write_text(text)
    result = vadbench_cli("run", "matrix.yaml")
    assert result.returncode == 2 and "needs 'shots'" in result.stdout


def test_support_is_deterministic_and_refuses_the_test_split(workspace: Path) -> None:
    dataset = open_frames(FramesOptions(root=workspace / "data" / "a"))
    first = [c.id for c in draw_support(dataset.source("train"), 5, 4, seed=3).videos()]
    again = [c.id for c in draw_support(dataset.source("train"), 5, 4, seed=3).videos()]
    other = [c.id for c in draw_support(dataset.source("train"), 5, 4, seed=4).videos()]
    assert first == again and first != other and len(set(first)) == 5
    with pytest.raises(DataError, match="training split"):
        draw_support(dataset.source("test"), 2, 4, seed=0)
    with pytest.raises(DataError, match="needs 999 clips"):
        draw_support(dataset.source("train"), 999, 20, seed=0)
