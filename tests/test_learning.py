"""Evidence that a cell learned: the held-out source curve, skill in every leaderboard, and the
converged budget that stops on source data only (vadbench.sdk.learning)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.builders import logged_video, write_square_dataset
from tests.conftest import CliRunner, labels, write_plugin
from vadbench.harness.config import read_matrix
from vadbench.harness.planning import build_plan
from vadbench.harness.plugins import load_plugins
from vadbench.sdk import ConfigError, RunFolder
from vadbench.sdk.learning import ConvergenceRule, hold_out, read_curve
from vadbench.sdk.training import TrainingClock, watch_training

# A frame predictor small enough to train in a second: one 3×3 convolution over the last two
# frames, starting at zero (it predicts black). The squares of the test data drift one pixel
# a frame, which such a convolution can learn to do; with a learning rate of 1e-9 it learns
# nothing. Its fit, and every split its datasets are asked for, are logged in order.
PLUGIN = """
from pathlib import Path

import numpy as np
import torch
from pydantic import Field
from torch import nn

from vadbench.sdk import (
    UNIT, ClipSampler, DatasetOptions, DatasetSpec, FramePredictor, ListSource, ModelSpec,
    Options, TrainingClock, frame_folder_video, hookimpl, split_clips,
)

LOG = Path(__file__).with_name("events.log")


def log(event):
    with LOG.open("a") as file:
        file.write(event + "\\n")


class ShiftOptions(Options):
    lr: float = Field(0.02, gt=0)
    train_steps: int = 120
    image_size: int = 16


class Shift(FramePredictor[ShiftOptions]):
    value_range = UNIT
    checkpoint_file = "shift.pt"

    def __init__(self, options, device):
        self.options = options
        self.device = device
        self.context_frames = 2
        self.net = nn.Conv2d(6, 3, 3, padding=1)
        nn.init.zeros_(self.net.weight)
        nn.init.zeros_(self.net.bias)

    def predictor(self):
        return self.net

    def checkpoint_modules(self):
        return {"net": self.net}

    def fit(self, source, aux, ctx):
        log("fit start")
        clock = TrainingClock(ctx.budget, self.options.train_steps, name="shift train")
        sampler = ClipSampler(source, 3, 16, ctx.device, ctx.seed, UNIT)
        optimiser = torch.optim.Adam(self.net.parameters(), lr=self.options.lr)
        for _ in clock:
            inputs, target = split_clips(sampler.batch(8))
            loss = ((self.net(inputs) - target) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        log(f"fit end {clock.steps_taken}")


class LoggedFolders:
    def __init__(self, options):
        self.root = Path(options.root)

    def source(self, split):
        log(f"source {self.root.name} {split}")
        folder = self.root / ("training" if split == "train" else "testing")
        videos = []
        for path in sorted((folder / "frames").iterdir()):
            labels = None
            if split == "test":
                labels = np.load(folder / "test_frame_mask" / f"{path.name}.npy")
            videos.append(frame_folder_video(path, path.name, None, labels=labels))
        return ListSource(self.root.name, split, tuple(videos))

    def fingerprint(self):
        return {"root": str(self.root)}


@hookimpl
def vadbench_register_models(register):
    register(ModelSpec("shift", "a 3x3 convolution that learns the drift", ShiftOptions,
                       Shift, version="1"))


@hookimpl
def vadbench_register_datasets(register):
    register(DatasetSpec("logged", "frame folders that log every split read", "", DatasetOptions,
                         LoggedFolders))
"""

MATRIX = """
name: learning
plugins: [shift.py]
held_out: {share: 0.25, every: 20}
snapshots: [40, 100]
datasets:
  a: {plugin: logged, options: {root: data/a}}
  b: {plugin: logged, options: {root: data/b}}
models:
  learner: {plugin: shift}
  frozen: {plugin: shift, overrides: {lr: 1.0e-9}}
  fd: {plugin: framediff, overrides: {image_size: 16}}
metrics: [micro_auc]
reporters: [markdown, csv, json, html]
matrix:
  - train: a
    test: [a, b]
"""


@pytest.fixture
def learning_workspace(workspace: Path) -> Path:
    write_square_dataset(workspace / "data" / "a", [30] * 8, [labels(30, 8, 20), labels(24, 4, 10)])
    write_plugin(workspace / "shift.py", PLUGIN)
    (workspace / "learning.yaml").write_text(MATRIX)
    return workspace


def _skill_rows(run: Path) -> dict[str, dict]:
    rows = json.loads((run / "results.json").read_text())["rows"]
    return {row["model"]: row for row in rows if row["metric"] == "skill"}


def test_a_model_that_learns_has_skill_and_one_that_does_not_is_marked_under_trained(
    learning_workspace: Path, vadbench_cli: CliRunner
) -> None:
    result = vadbench_cli("run", "learning.yaml", "--results-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    run = learning_workspace / "out" / "learning"
    skill = _skill_rows(run)
    assert skill["learner"]["value"] > 0.2 and not skill["learner"]["footnote"]
    assert skill["frozen"]["value"] <= 0 and skill["frozen"]["footnote"]
    assert skill["frozen"]["note"].startswith("under-trained")
    assert "fd" not in skill  # framediff does not train: it has no skill to show
    board = (run / "leaderboard.md").read_text()
    learner_line = next(line for line in board.splitlines() if line.startswith("| learner"))
    frozen_line = next(line for line in board.splitlines() if line.startswith("| frozen"))
    assert "under-trained" in frozen_line and "under-trained" not in learner_line
    csv_rows = (run / "results.csv").read_text().splitlines()
    assert sum(",skill," in row for row in csv_rows) == 2
    cells = sorted((run / "cells").glob("learner__*"))
    curve = read_curve(cells[0] / "checkpoint" / "learning.json")
    assert curve is not None and curve.stopped == "budget" and curve.steps == 120
    assert [point.step for point in curve.points] == [20, 40, 60, 80, 100, 120]
    assert curve.points[-1].loss < curve.points[0].loss < curve.trivial_loss * 50
    assert len(curve.held_out_videos) == 2  # a quarter of 8
    snapshots = RunFolder(run).snapshot_dirs(cells[0].name)
    assert sorted(snapshots) == [40, 100]
    early = torch.load(snapshots[40] / "shift.pt")["net"]["weight"]
    final = torch.load(cells[0] / "checkpoint" / "shift.pt")["net"]["weight"]
    assert early.abs().sum() > 0 and not torch.equal(early, final)
    html = (run / "report.html").read_text()
    assert "Learning on held-out source videos" in html and "learning-curves" in html


def test_until_converged_stops_on_source_data_before_any_target_is_read(
    learning_workspace: Path, vadbench_cli: CliRunner
) -> None:
    matrix = learning_workspace / "learning.yaml"
    matrix.write_text(
        MATRIX.replace(
            "held_out:",
            "budget: {until: converged, patience: 2, min_delta: 0.05, max_steps: 2000}\nheld_out:",
        ).replace("  frozen: {plugin: shift, overrides: {lr: 1.0e-9}}\n", "")
    )
    result = vadbench_cli("run", "learning.yaml", "--results-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    run = learning_workspace / "out" / "learning"
    (cell,) = (run / "cells").glob("learner__*")
    curve = read_curve(cell / "checkpoint" / "learning.json")
    assert curve is not None and curve.stopped == "converged"
    assert 40 <= curve.steps < 2000 and curve.steps % 20 == 0
    events = (learning_workspace / "events.log").read_text().splitlines()
    end = events.index(f"fit end {curve.steps}")
    before = events[events.index("fit start") : end]
    assert all(event == "source a train" for event in before if event.startswith("source"))
    assert not any(event.endswith(" test") for event in events[:end])
    recorded = json.loads((run / "run.json").read_text())["budget"]
    assert recorded == {"until": "converged", "patience": 2, "min_delta": 0.05, "max_steps": 2000}


def _cell_hashes(folder: Path, budget: str) -> set[str]:
    path = folder / "m.yaml"
    path.write_text(
        f"datasets:\n  a: {{plugin: frames, options: {{root: {folder / 'data' / 'a'}}}}}\n"
        "models:\n  fd: {plugin: framediff}\n"
        f"{budget}matrix:\n  - train: a\n    test: [a]\n"
    )
    raw, matrix = read_matrix(path)
    return {cell.hash for cell in build_plan(path, raw, matrix, load_plugins()).cells}


def test_a_converged_budget_and_its_rule_are_part_of_the_cell_hash(workspace: Path) -> None:
    plain = _cell_hashes(workspace, "")
    steps = _cell_hashes(workspace, "budget: {steps: 100}\n")
    converged = _cell_hashes(workspace, "budget: {until: converged}\n")
    patient = _cell_hashes(workspace, "budget: {until: converged, patience: 5}\n")
    share = _cell_hashes(workspace, "budget: {until: converged}\nheld_out: {share: 0.2}\n")
    assert len(plain | steps | converged | patient | share) == 5


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ("{until: converged}\nheld_out: {share: 0}", "held_out.share must be above 0"),
        ("{steps: 10, until: converged}", "exactly one of steps, seconds, gmacs or until"),
        ("{steps: 10, patience: 3}", "patience applies only to 'until: converged'"),
        ("{until: done}", "budget.until"),
        ("{steps: 10}\nsnapshots: [30]", "snapshot step 30 is not a positive multiple"),
    ],
)
def test_a_wrong_converged_budget_is_a_clear_error(
    workspace: Path, budget: str, expected: str
) -> None:
    path = workspace / "m.yaml"
    path.write_text(
        "datasets:\n  a: {plugin: frames, options: {root: data/a}}\n"
        f"models:\n  fd: {{plugin: framediff}}\nbudget: {budget}\n"
        "matrix:\n  - train: a\n    test: [a]\n"
    )
    with pytest.raises(ConfigError, match=r"m\.yaml") as raised:
        read_matrix(path)
    assert expected in str(raised.value)


def test_hold_out_is_a_seeded_share_of_the_videos_never_all_of_them() -> None:
    videos = [logged_video(f"v{i}", 5, i)[0] for i in range(10)]
    kept, held = hold_out(videos, 0.2, seed=0)
    assert len(held) == 2 and len(kept) == 8
    assert {v.id for v in kept} | {v.id for v in held} == {v.id for v in videos}
    assert hold_out(list(reversed(videos)), 0.2, seed=0)[1] == held  # order does not matter
    assert any(hold_out(videos, 0.2, seed=s)[1] != held for s in range(1, 5))
    assert len(hold_out(videos[:2], 0.9, seed=0)[1]) == 1
    assert hold_out(videos[:1], 0.5, seed=0) == (videos[:1], [])
    assert hold_out(videos, 0.0, seed=0) == (videos, [])


def test_the_convergence_rule_waits_for_patience_evaluations_without_gain() -> None:
    rule = ConvergenceRule(patience=2, min_delta=0.01)
    assert not rule.converged([1.0, 0.5])
    assert not rule.converged([1.0, 0.5, 0.4])
    assert not rule.converged([1.0, 0.5, 0.499, 0.3])
    assert rule.converged([1.0, 0.5, 0.499, 0.498])
    assert rule.converged([1.0, 0.5, 0.6, 0.7])


def test_a_watch_learns_the_final_step_of_every_loop_however_short() -> None:
    seen: list[tuple[str, int]] = []
    with watch_training(
        10, lambda clock, steps: False, lambda c: seen.append((c.name, c.steps_taken))
    ):
        for name, steps in (("first", 25), ("second", 3)):
            list(TrainingClock(None, steps, name=name))  # run the loop to its end
    assert seen == [("first", 25), ("second", 3)]
