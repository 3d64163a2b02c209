"""Training budgets (vadbench.sdk.training): the clock's arithmetic, and every model following a
steps, seconds or GMACs budget in its real training loop at tiny sizes. Steps are observed
through the progress a model reports, one ``advance(1)`` per optimiser step (meta-update)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.builders import TINY_MODELS, square_source
from vadbench.sdk.contracts import FitContext, TrainingBudget, VadbenchError
from vadbench.sdk.training import (
    TrainingClock,
    forward_gmacs,
    split_budget,
    steps_for_gmacs,
    watch_training,
)
from vadbench_plugins.models.ffp.method import FFP, FFPOptions
from vadbench_plugins.models.ffp.training import step_gmacs as ffp_step_gmacs
from vadbench_plugins.models.framediff import FrameDiff, FrameDiffOptions
from vadbench_plugins.models.mpn.method import MPN, MPNOptions
from vadbench_plugins.models.mpn.training import meta_step_gmacs as mpn_meta_gmacs
from vadbench_plugins.models.mpn.training import train_step_gmacs as mpn_train_gmacs
from vadbench_plugins.models.rgan.method import RGAN, RGANOptions
from vadbench_plugins.models.rgan.training import meta_step_gmacs as rgan_meta_gmacs
from vadbench_plugins.models.rgan.training import train_step_gmacs as rgan_train_gmacs
from vadbench_plugins.models.zxvad.method import ZxVAD
from vadbench_plugins.models.zxvad.options import ZxVADOptions
from vadbench_plugins.models.zxvad.training import Trainer
from vadbench_plugins.models.zxvad.training import step_gmacs as zxvad_step_gmacs

TRAINING = {"train_steps": 3, "batch_size": 2}
FFP_TINY = {**TINY_MODELS["ffp"], **TRAINING}
MPN_TINY = {**TINY_MODELS["mpn"], **TRAINING, "meta_steps": 2}
RGAN_TINY = {**TINY_MODELS["rgan"], **TRAINING, "meta_steps": 3}
ZXVAD_TINY = {**TINY_MODELS["zxvad"], **TRAINING}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class CountingProgress:
    """The Progress protocol, keeping each task's announced total and the steps reported."""

    def __init__(self) -> None:
        self.totals: dict[str, int | None] = {}
        self.counts: dict[str, int] = {}

    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        self.totals[description] = total
        self.counts[description] = 0

        def advance(steps: int) -> None:
            self.counts[description] += steps

        return advance


def fit(method: Any, tmp_path: Path, budget: TrainingBudget | None) -> CountingProgress:
    progress = CountingProgress()
    method.fit(square_source(12, 10, 11), None, FitContext("cpu", 0, progress, tmp_path, budget))
    return progress


def ffp() -> FFP:
    return FFP(FFPOptions(**FFP_TINY), "cpu")


def mpn(**overrides: Any) -> MPN:
    return MPN(MPNOptions(**{**MPN_TINY, **overrides}), "cpu")


def rgan(**overrides: Any) -> RGAN:
    return RGAN(RGANOptions(**{**RGAN_TINY, **overrides}), "cpu")


def zxvad() -> ZxVAD:
    return ZxVAD(ZxVADOptions.model_validate(ZXVAD_TINY), "cpu")


MODELS: dict[str, tuple[Callable[[], Any], str, int]] = {
    # name: (factory, progress task, the preset's own step count)
    "ffp": (ffp, "ffp train", 3),
    "mpn": (mpn, "mpn train", 3),
    "rgan meta": (rgan, "rgan meta-train", 3),
    "rgan standard": (lambda: rgan(training="standard"), "rgan train", 3),
    "zxvad": (zxvad, "zxvad train", 3),
}


# --- the clock ---------------------------------------------------------------------------------


def test_without_a_budget_the_clock_runs_the_models_own_steps() -> None:
    clock = TrainingClock(None, 7, gmacs_per_step=lambda: pytest.fail("counted for nothing"))
    assert clock.total_steps == 7
    assert list(clock) == list(range(7))
    assert clock.steps_taken == 7


def test_a_steps_budget_replaces_the_default_and_allows_at_least_one_step() -> None:
    assert list(TrainingClock(TrainingBudget("steps", 4), 1000)) == [0, 1, 2, 3]
    clock = TrainingClock(TrainingBudget("steps", 4), 1000)
    assert clock.total_steps == 4


def test_a_gmacs_budget_buys_floor_of_budget_over_cost_after_the_setup() -> None:
    clock = TrainingClock(TrainingBudget("gmacs", 100.0), 5, gmacs_per_step=lambda: 3.0)
    assert clock.total_steps == 33
    assert len(list(clock)) == 33
    assert clock.gmacs_spent == pytest.approx(99.0)
    with_setup = TrainingClock(TrainingBudget("gmacs", 100.0), 5, 3.0, setup_gmacs=10.0)
    assert with_setup.total_steps == 30
    assert steps_for_gmacs(1.0, 3.0) == 1  # too small a budget still trains once


def test_a_gmacs_budget_needs_the_models_cost_per_step() -> None:
    with pytest.raises(VadbenchError, match="GMACs per training step"):
        TrainingClock(TrainingBudget("gmacs", 10.0), 5)


def test_a_seconds_budget_stops_the_first_step_that_would_start_after_it() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    ticks = TrainingClock(TrainingBudget("seconds", 1.0), 5, clock=clock)
    assert ticks.total_steps is None
    taken = []
    for step in ticks:
        taken.append(step)
        now[0] += 0.3  # each step takes 0.3 s
    assert taken == [0, 1, 2, 3]  # step 3 starts at 0.9 s, step 4 would start at 1.2 s
    assert ticks.elapsed == pytest.approx(1.2)


def test_split_budget_keeps_the_preset_ratio_and_adds_up() -> None:
    budgets = split_budget(TrainingBudget("steps", 1000), [300, 50])
    assert [b.amount for b in budgets if b] == [857, 143]
    for total in range(1, 40):
        parts = split_budget(TrainingBudget("steps", total), [300, 50, 7])
        assert sum(b.amount for b in parts if b) == total
        assert parts[0] is not None and parts[0].amount >= 1
    seconds = split_budget(TrainingBudget("seconds", 7.0), [6, 1])
    assert [b.amount for b in seconds if b] == pytest.approx([6.0, 1.0])
    assert split_budget(None, [3, 4]) == [None, None]


def test_an_observer_sees_every_kth_step_and_can_end_training() -> None:
    seen: list[tuple[str, int]] = []

    def observe(clock: TrainingClock, steps: int) -> bool:
        seen.append((clock.name, steps))
        return steps >= 6

    with watch_training(2, observe):
        clock = TrainingClock(None, 100, name="loop")
        assert list(clock) == list(range(6))
    assert seen == [("loop", 2), ("loop", 4), ("loop", 6)]
    assert clock.stopped_early
    assert len(list(TrainingClock(None, 3))) == 3  # no observer outside the block


def test_forward_gmacs_leaves_modes_and_random_state_alone() -> None:
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).train()
    before = torch.random.get_rng_state()
    statistics = module[1].running_mean.clone()
    gmacs = forward_gmacs(module, torch.zeros(2, 3, 10, 10))
    assert gmacs == pytest.approx(2 * 4 * 8 * 8 * 27 / 1e9, rel=0.1)
    assert module.training and module[1].training
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(module[1].running_mean, statistics)


# --- the models --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_a_steps_budget_makes_each_model_train_exactly_that_many_steps(
    name: str, tmp_path: Path
) -> None:
    factory, task, _ = MODELS[name]
    progress = fit(factory(), tmp_path, TrainingBudget("steps", 5))
    assert progress.totals == {task: 5}
    assert progress.counts == {task: 5}


@pytest.mark.parametrize("name", list(MODELS))
def test_without_a_budget_each_model_trains_its_presets_steps(name: str, tmp_path: Path) -> None:
    factory, task, preset_steps = MODELS[name]
    progress = fit(factory(), tmp_path, None)
    assert progress.totals == {task: preset_steps}
    assert progress.counts == {task: preset_steps}


def test_a_steps_budget_covers_both_of_mpns_phases_in_the_presets_ratio(tmp_path: Path) -> None:
    method = mpn(meta_training=True, train_steps=6, meta_steps=2)
    progress = fit(method, tmp_path, TrainingBudget("steps", 12))
    assert progress.counts == {"mpn train": 9, "mpn meta-train": 3}
    assert fit(mpn(meta_training=True), tmp_path, None).counts == {
        "mpn train": 3,
        "mpn meta-train": 2,
    }


def gmacs_per_step(name: str, method: Any) -> tuple[float, float]:
    """(GMACs per step, setup GMACs) as each model states them."""
    if name == "ffp":
        return ffp_step_gmacs(method.generator, method.discriminator, 4, 16, 2), 0.0
    if name == "mpn":
        return mpn_train_gmacs(method.network, 2, 16), 0.0
    if name == "rgan meta":
        return rgan_meta_gmacs(method.generator, method.discriminator, 3, 16, 1, 1, 1), 0.0
    if name == "rgan standard":
        return rgan_train_gmacs(method.generator, method.discriminator, 3, 16, 2), 0.0
    cost = zxvad_step_gmacs(Trainer(method.options, "cpu"))
    return cost.per_step, cost.setup


@pytest.mark.parametrize("name", list(MODELS))
def test_a_gmacs_budget_buys_budget_over_gmacs_per_step(name: str, tmp_path: Path) -> None:
    factory, task, _ = MODELS[name]
    method = factory()
    per_step, setup = gmacs_per_step(name, method)
    assert per_step > 0
    budget = setup + 4.5 * per_step
    progress = fit(method, tmp_path, TrainingBudget("gmacs", budget))
    assert progress.counts == {task: 4} == {task: math.floor((budget - setup) / per_step)}


def test_the_gmacs_convention_is_three_times_the_forward_passes(tmp_path: Path) -> None:
    method = ffp()
    g = forward_gmacs(method.generator, torch.zeros(2, 12, 16, 16))
    d = forward_gmacs(method.discriminator, torch.zeros(2, 3, 16, 16))
    assert ffp_step_gmacs(method.generator, method.discriminator, 4, 16, 2) == pytest.approx(
        3 * (g + 3 * d)
    )
    network = mpn().network
    plain = mpn_train_gmacs(network, 4, 16)
    assert mpn_meta_gmacs(network, 4, 16) == pytest.approx(plain)  # 2 + 2 clips = one batch of 4


@pytest.mark.parametrize("name", ["ffp", "rgan standard"])
def test_a_seconds_budget_stops_within_one_step_of_it(name: str, tmp_path: Path) -> None:
    factory, task, _ = MODELS[name]
    started = time.perf_counter()
    progress = fit(factory(), tmp_path, TrainingBudget("seconds", 1.0))
    elapsed = time.perf_counter() - started
    assert progress.totals == {task: None}
    assert progress.counts[task] > 3  # more than the preset's own steps: the budget ruled
    assert 1.0 <= elapsed < 1.0 + 2.0  # one tiny step late at most, on a busy machine


def test_framediff_ignores_a_budget(tmp_path: Path) -> None:
    method = FrameDiff(FrameDiffOptions(), "cpu")
    progress = fit(method, tmp_path, TrainingBudget("steps", 10))
    assert progress.counts == {}
