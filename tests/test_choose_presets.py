"""benchmarks/choose_presets.py: presets are chosen on source training data only. The procedure
runs on real, tiny FFP-packaged datasets behind a guard that records every split asked for and
refuses test splits; the rule is checked on hand-made curves, and a watched run is checked to
train exactly like an unwatched run of the same length."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from tests.builders import TINY_MODELS, SilentProgress, write_square_dataset
from vadbench.harness.devices import seed_everything
from vadbench.harness.plugins import Registry, load_plugins
from vadbench.sdk.contracts import (
    Dataset,
    FitContext,
    ListSource,
    Split,
    TrainingBudget,
    VideoSource,
)

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "choose_presets.py"

TINY = TINY_MODELS


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("choose_presets", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["choose_presets"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


choose = load_script()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TrainSplitOnly:
    """A real dataset behind a guard: records every split asked for; a test split raises."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.splits: list[str] = []

    def source(self, split: Split) -> VideoSource:
        self.splits.append(split)
        if split != "train":
            raise AssertionError(f"the preset selection asked for the {split!r} split")
        return self.dataset.source(split)

    def fingerprint(self) -> Mapping[str, Any]:
        return self.dataset.fingerprint()


@pytest.fixture
def registry() -> Registry:
    return load_plugins()


def frames_dataset(root: Path, registry: Registry, seed: int) -> Dataset:
    """Four training videos and two labelled test videos, 16×16, on disk as PNG frames."""
    labels = [np.r_[np.zeros(6), np.ones(4)].astype(np.uint8)] * 2
    write_square_dataset(root, [12, 12, 12, 12], labels, size=16, seed=seed)
    spec = registry.datasets.get("frames")
    return spec.open(spec.options(root=root))


@pytest.fixture
def datasets(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> tuple[TrainSplitOnly, TrainSplitOnly]:
    monkeypatch.setenv("VADBENCH_FRAME_CACHE", "off")
    source = TrainSplitOnly(frames_dataset(tmp_path / "source", registry, 0))
    aux = TrainSplitOnly(frames_dataset(tmp_path / "aux", registry, 1))
    return source, aux


def choice(plugin: str, registry: Registry, **overrides: Any) -> Any:
    spec = registry.models.get(plugin)
    options = spec.options(**{**TINY[plugin], **overrides})
    return choose.ModelChoice(plugin, plugin, options, choose.step_option(plugin, options))


@pytest.mark.parametrize("plugin", ["zxvad", "ffp", "mpn", "rgan"])
def test_selection_reads_only_the_training_splits(
    plugin: str, datasets: tuple[TrainSplitOnly, TrainSplitOnly], registry: Registry
) -> None:
    source, aux = datasets
    rule = choose.Rule(every=1, cap=3, patience=2)
    selection = choose.select_one(choice(plugin, registry), source, aux, registry, rule)
    assert source.splits == ["train"]
    assert aux.splits == ["train"]
    assert selection.steps == [1, 2, 3]
    assert len(selection.losses) == 3 and all(np.isfinite(selection.losses))
    assert selection.chosen in (1, 3)  # decided at step 3: a plateau at 1, or the cap
    assert selection.old_steps == getattr(
        selection_options(plugin, registry), selection.step_option
    )


def selection_options(plugin: str, registry: Registry) -> Any:
    return registry.models.get(plugin).options(**TINY[plugin])


def test_the_script_asks_datasets_for_training_splits_and_nothing_else() -> None:
    calls = re.findall(r"\.source\(([^)]*)\)", SCRIPT.read_text())
    assert calls and set(calls) == {'"train"'}


def test_a_guarded_test_split_really_raises(
    datasets: tuple[TrainSplitOnly, TrainSplitOnly],
) -> None:
    source, _ = datasets
    with pytest.raises(AssertionError, match="'test' split"):
        source.source("test")


@pytest.mark.parametrize("plugin", ["zxvad", "ffp", "mpn", "rgan"])
def test_a_watched_run_trains_exactly_like_an_unwatched_run_of_that_length(
    plugin: str, datasets: tuple[TrainSplitOnly, TrainSplitOnly], registry: Registry, tmp_path: Path
) -> None:
    source, aux = datasets
    rule = choose.Rule(every=2, cap=4, patience=5)  # never decides early: runs to the cap
    selection = choose.select_one(choice(plugin, registry), source, aux, registry, rule)
    assert selection.steps == [2, 4]
    assert selection.chosen == 4
    assert selection.losses[0] != selection.losses[1]
    kept, held = choose.split_holdout(source.source("train").videos())
    seed_everything(0)  # what vadbench run does before create and before fit
    method = registry.models.get(plugin).create(choice(plugin, registry).options, "cpu")
    context = FitContext("cpu", 0, SilentProgress(), tmp_path, TrainingBudget("steps", 2))
    seed_everything(0)
    method.fit(ListSource("source", "train", kept), aux.source("train"), context)
    assert choose.held_out_loss(method, held) == selection.losses[0]


def test_a_selection_is_reproducible(
    datasets: tuple[TrainSplitOnly, TrainSplitOnly], registry: Registry
) -> None:
    source, aux = datasets
    rule = choose.Rule(every=1, cap=2, patience=5)
    torch.manual_seed(123)  # whatever ran before must not matter: the procedure seeds itself
    first = choose.select_one(choice("rgan", registry), source, aux, registry, rule)
    second = choose.select_one(choice("rgan", registry), source, aux, registry, rule)
    assert first.losses == second.losses


def test_the_rule_picks_the_first_evaluation_before_a_plateau() -> None:
    rule = choose.Rule(every=100, cap=800, patience=2, tolerance=0.01)
    steps = [100, 200, 300, 400, 500]
    losses = [10.0, 8.0, 7.96, 7.95, 7.0]
    # 100 → 200 improves 20 %; after 200 the next two improve 0.6 %: 200 is chosen, although
    # a later evaluation falls again (the rule looks two evaluations ahead, no further).
    assert choose.chosen_steps(steps, losses, rule) == 200
    assert choose.chosen_steps(steps[:2], losses[:2], rule) is None  # too early to tell
    falling = [10.0 * 0.9**i for i in range(8)]
    assert choose.chosen_steps([100 * (i + 1) for i in range(8)], falling, rule) == 800
    rising = [5.0, 5.5, 6.0]  # getting worse counts as not improving
    assert choose.chosen_steps([100, 200, 300], rising, rule) == 100


def test_the_cap_must_be_a_multiple_of_the_interval() -> None:
    with pytest.raises(ValueError, match="multiple"):
        choose.Rule(every=100, cap=150)


def test_the_last_quarter_of_the_training_videos_is_held_out(
    datasets: tuple[TrainSplitOnly, TrainSplitOnly],
) -> None:
    videos = list(datasets[0].source("train").videos())
    kept, held = choose.split_holdout(videos)
    assert [v.id for v in held] == [videos[-1].id] and len(kept) == 3
    eight = videos * 2
    assert [len(part) for part in choose.split_holdout(eight)] == [6, 2]
    assert [len(part) for part in choose.split_holdout(videos[:2])] == [1, 1]
    with pytest.raises(ValueError, match="two training videos"):
        choose.split_holdout(videos[:1])
