"""How a model's training loop follows the matrix's training budget.

A matrix may fix one budget for every model (``budget: {steps: N}``, ``{seconds: S}``,
``{gmacs: G}`` or ``{until: converged, max_steps: N}``); the harness hands it to ``fit`` as
``ctx.budget``. The budget exists so that models are compared at equal, declared training
cost, chosen before any target is seen, instead of at step counts tuned per model. Each model's
loop asks a :class:`TrainingClock` for its step indices instead of ``range(steps)``::

    clock = TrainingClock(ctx.budget, options.train_steps, gmacs_per_step=lambda: ...)
    advance = ctx.progress.task("mymodel train", clock.total_steps)
    for step in clock:
        ...  # one optimiser step
        advance(1)

The clock stops after N steps, once S seconds of wall time have passed since it was created, or
once the steps taken times the model's GMACs per step would exceed G. A converged budget runs
like a budget of N steps, which the harness's watch on the held-out source loss ends early
(``vadbench.sdk.learning``). Without a budget it runs
the model's own step count, so a model behaves exactly as it did before budgets existed.

The core knows no model: a model states what one of its training steps costs. The convention
(docs/budgets.md) is **3 × the forward GMACs of every network pass one step runs, over the whole
batch** (forward 1×, backward about 2×: gradients with respect to activations and to weights),
counted with fvcore like the ``gmacs`` metric; a pass through a frozen network that never
back-propagates counts 1×, and loss functions outside the networks are not counted.
:func:`forward_gmacs` counts one pass. A model may also declare ``setup_gmacs``, compute it
spends once before its first step (zxVAD's object pool), which a GMACs budget pays first.

A budget covers a model's main training only: k-shot adaptation on a target is not part of it.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

import torch
from torch import nn

from vadbench.sdk.contracts import TrainingBudget, VadbenchError

# GMACs per step may be given as a number or as a function the clock calls only when the budget
# is a GMACs budget: counting traces the networks, which costs time nobody else needs.
GmacsPerStep = float | Callable[[], float] | None

# An observer sees every clock created while it is installed (``watch_training``): it is called
# with the clock and the number of steps taken, every ``every`` steps, and returns True to end
# training early. The preset-selection procedure evaluates held-out source data this way.
Observer = Callable[["TrainingClock", int], bool]


# Called once when a training loop ends (its budget spent, or an observer ended it), with the
# clock: a watch learns every loop's final step count, however short the loop was.
Finished = Callable[["TrainingClock"], None]


@dataclass(frozen=True)
class _Watch:
    every: int
    observer: Observer
    finished: Finished | None = None


_WATCHES: ContextVar[tuple[_Watch, ...]] = ContextVar("vadbench_training_watches", default=())


@contextmanager
def watch_training(
    every: int, observer: Observer, finished: Finished | None = None
) -> Iterator[None]:
    """Call ``observer(clock, steps_taken)`` after every ``every`` steps of any training loop
    that runs inside this block; training ends early when it returns True. ``finished(clock)``
    is called when a loop ends by its budget or by an observer (not when the model leaves it).

    The observer runs between two steps, so whatever it does must leave the model as it found it
    (modes, random state): then a run watched up to step s trains exactly like a run of s steps.
    Its own time counts against a seconds budget, so watch steps budgets only.
    """
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    token = _WATCHES.set((*_WATCHES.get(), _Watch(every, observer, finished)))
    try:
        yield
    finally:
        _WATCHES.reset(token)


class TrainingClock:
    """The step indices one training loop runs under a budget (or the model's own step count).

    ``default_steps`` is the model's own training length (its steps option), used when there is
    no budget. ``gmacs_per_step`` is the training compute of one step by the convention above; it
    is needed only for a GMACs budget (a function is called once, then). Every budget allows at
    least one step, so a fitted model has always trained. The wall clock starts when the clock
    is created, or at ``started`` (a ``clock()`` reading): at the start of ``fit``, so that a
    seconds budget pays for the model's own setup (decoding frames, building an object pool) too.
    ``clock`` is the time source (``time.perf_counter``).
    """

    def __init__(
        self,
        budget: TrainingBudget | None,
        default_steps: int,
        gmacs_per_step: GmacsPerStep = None,
        *,
        setup_gmacs: float = 0.0,
        name: str = "train",
        started: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if default_steps < 0:
            raise ValueError(f"default_steps must not be negative, got {default_steps}")
        if budget is not None and not budget.amount > 0:
            raise VadbenchError(f"{name}: a {budget.kind} budget must be positive")
        self.budget = budget
        self.name = name
        self._now = clock
        self.started = clock() if started is None else started
        self.steps_taken = 0
        self.stopped_early = False
        self.gmacs_per_step: float | None = None
        self.setup_gmacs = setup_gmacs
        self._step_limit: int | None = default_steps
        if budget is None:
            return
        if budget.kind in ("steps", "converged"):
            self._step_limit = max(1, int(budget.amount))
        elif budget.kind == "seconds":
            self._step_limit = None
        else:
            if gmacs_per_step is None:
                raise VadbenchError(
                    f"{name}: this model does not state its GMACs per training step, so it "
                    "cannot follow a gmacs budget; use steps or seconds"
                )
            per_step = gmacs_per_step() if callable(gmacs_per_step) else gmacs_per_step
            if not per_step > 0:
                raise VadbenchError(f"{name}: GMACs per training step must be positive")
            self.gmacs_per_step = float(per_step)
            self._step_limit = steps_for_gmacs(budget.amount, per_step, setup_gmacs)

    @property
    def total_steps(self) -> int | None:
        """Steps this loop will run: known in advance except under a seconds budget (None)."""
        return self._step_limit

    @property
    def elapsed(self) -> float:
        """Wall seconds since the clock was created."""
        return self._now() - self.started

    @property
    def gmacs_spent(self) -> float | None:
        """Training GMACs so far (setup included), when the GMACs per step are known."""
        if self.gmacs_per_step is None:
            return None
        return self.setup_gmacs + self.steps_taken * self.gmacs_per_step

    def _may_start(self, step: int) -> bool:
        if self.budget is not None and self.budget.kind == "seconds":
            return step == 0 or self.elapsed < self.budget.amount
        return self._step_limit is None or step < self._step_limit

    def __iter__(self) -> Iterator[int]:
        """Step indices 0, 1, 2, ... until the budget (or the default step count) is spent.

        A step that has started always finishes: a seconds budget is overrun by at most the
        length of one step. Installed observers are called after each ``every`` steps.
        """
        watches = _WATCHES.get()
        step = 0
        while self._may_start(step):
            yield step
            step += 1
            self.steps_taken = step
            stop = [w.observer(self, step) for w in watches if step % w.every == 0]
            if any(stop):
                self.stopped_early = self._may_start(step)
                break
        for watch in watches:
            if watch.finished is not None:
                watch.finished(self)

    def summary(self) -> dict[str, float | int | str | None]:
        """What this loop did, for logs and tests."""
        return {
            "name": self.name,
            "budget": None if self.budget is None else self.budget.kind,
            "amount": None if self.budget is None else self.budget.amount,
            "steps": self.steps_taken,
            "seconds": round(self.elapsed, 3),
            "gmacs": self.gmacs_spent,
        }


def steps_for_gmacs(gmacs: float, gmacs_per_step: float, setup_gmacs: float = 0.0) -> int:
    """Steps a GMACs budget buys: ⌊(G − setup) / per step⌋, and at least one."""
    return max(1, math.floor((gmacs - setup_gmacs) / gmacs_per_step))


def split_budget(
    budget: TrainingBudget | None, shares: Sequence[float]
) -> list[TrainingBudget | None]:
    """One budget split over consecutive training phases, in proportion to ``shares``.

    For MPN's plain and meta phases (docs/budgets.md): the shares are the preset's own step
    counts of the phases, and each phase gets that share of the budget in the budget's own unit
    (steps, seconds or GMACs; a converged budget's most steps). Steps are rounded so that they
    add up to the budget exactly, and the first phase gets at least one; a later phase may get
    zero steps, and the caller then skips it. Without a budget every phase gets None (its own
    step count).
    """
    if budget is None:
        return [None for _ in shares]
    total = float(sum(shares))
    if total <= 0 or any(share < 0 for share in shares):
        raise ValueError(f"shares must be non-negative with a positive sum, got {list(shares)}")
    if budget.kind not in ("steps", "converged"):
        return [replace(budget, amount=budget.amount * share / total) for share in shares]
    steps = int(budget.amount)
    bounds = [round(steps * sum(shares[: i + 1]) / total) for i in range(len(shares))]
    counts = [high - low for low, high in zip([0, *bounds[:-1]], bounds, strict=True)]
    if counts[0] == 0 and steps > 0:  # the first phase trains at least once
        counts[0] = 1
        counts[counts.index(max(counts[1:]), 1)] -= 1
    return [replace(budget, amount=float(count)) for count in counts]


def forward_gmacs(module: nn.Module, *example: torch.Tensor) -> float:
    """fvcore's GMACs of one forward pass of ``module`` on ``example`` (the ``gmacs`` metric's
    convention: one fused multiply-add is one MAC; ops fvcore cannot count are skipped).

    The module is traced in eval mode with gradients and the random state untouched, and its
    train/eval modes are restored: counting in the middle of ``fit`` changes nothing.
    """
    modes = [(m, m.training) for m in module.modules()]
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.random.fork_rng(devices=[]), torch.no_grad():
            warnings.simplefilter("ignore")  # fvcore's import and tracing warn about torch.jit
            from fvcore.nn import FlopCountAnalysis

            analysis = FlopCountAnalysis(module.eval(), example)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            total = analysis.total()
    finally:
        logger.setLevel(level)
        for submodule, training in modes:
            submodule.training = training
    return total / 1e9
