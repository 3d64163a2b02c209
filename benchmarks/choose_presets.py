"""Choose each model's cpu-preset training length from SOURCE data only.

    python benchmarks/choose_presets.py [--matrix benchmarks/quickstart.yaml] \
        [--models zxvad rgan mpn ffp] [--jobs 2] [--out benchmarks/results/presets_cpu.md]

No hyperparameter, preset or budget of this project is ever chosen by looking at a target's
test labels or AUC (docs/budgets.md). This procedure reads one split of one dataset: the
training split of the matrix's source domain (the quickstart's ``campus``), plus the training
split of its auxiliary set for models that use one (``ti``). It never asks any dataset for a
test split, and never opens a target: ``select_presets`` receives the two datasets and calls
``source("train")`` on them, nothing else (tests/test_choose_presets.py holds it to that).

The rule, fixed before the procedure was first run:

1. Hold out the last quarter (rounded up, at least one) of the source's training videos in
   their sorted order; train on the rest, with the model's cpu preset and the matrix's seed
   (seeded before the model is created and again before ``fit``, as ``vadbench run`` does).
2. Every ``EVERY`` = 100 training steps (the model's own steps: optimiser steps, or rGAN's
   meta-updates), measure the held-out loss: the mean over every predicted frame of the held-out
   videos of the prediction's MSE, pixels in [0, 1], at the model's frame size. All four
   models are future-frame predictors and this error is the main term each one optimises; it
   is read from the PSNR the model scores with (zxVAD, FFP, rGAN: ``score``; MPN: the PSNR
   half of its fused score, ``MPN.raw_scores``), MSE = 10^(−PSNR/10).
3. The chosen step count is the first evaluation s_i after which the held-out loss improves
   by less than ``TOLERANCE`` = 1 % over the next ``PATIENCE`` = 2 evaluations:
   min(L_{i+1}, L_{i+2}) > (1 − 0.01) · L_i. Training stops there (at s_{i+2}).
4. If no evaluation qualifies before the cap of ``CAP`` = 1500 steps, the cap is chosen.

Training is watched through ``vadbench.sdk.training.watch_training``: an evaluation runs between
two steps and restores the networks' train/eval modes and the random state, so the model
evaluated at step s is exactly the model a run of s steps trains (the test checks that too).
The output is a Markdown table (``--out``): every evaluated step count with its held-out loss,
the chosen count, the model's old preset value, hardware, commit and command. Presets are then
set to the chosen counts by hand, and the docs name this table.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vadbench.harness.config import read_matrix
from vadbench.harness.devices import seed_everything
from vadbench.harness.plugins import Registry, load_plugins
from vadbench.sdk.contracts import Dataset, FitContext, ListSource, Method, TrainingBudget, Video
from vadbench.sdk.learning import left_as_found
from vadbench.sdk.training import TrainingClock, watch_training

EVERY = 100
CAP = 1500
PATIENCE = 2
TOLERANCE = 0.01
HOLDOUT_FRACTION = 0.25
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MATRIX = ROOT / "benchmarks" / "quickstart.yaml"
DEFAULT_MODELS = ("zxvad", "rgan", "mpn", "ffp")  # longest first, for --jobs


@dataclass(frozen=True)
class Rule:
    """The selection rule's numbers (the defaults above are the ones the presets came from;
    tests use tiny ones)."""

    every: int = EVERY
    cap: int = CAP
    patience: int = PATIENCE
    tolerance: float = TOLERANCE

    def __post_init__(self) -> None:
        if self.every < 1 or self.cap % self.every or self.patience < 1:
            raise ValueError("the cap must be a positive multiple of the evaluation interval")

    def describe(self) -> str:
        return (
            f"evaluate every {self.every} steps up to {self.cap}; choose the first evaluation "
            f"after which the held-out loss improves by less than {self.tolerance:.0%} over the "
            f"next {self.patience} evaluations, else the cap"
        )


@dataclass(frozen=True)
class ModelChoice:
    """One model to choose for: its matrix key, plugin, resolved options and the name of the
    option its preset's step count lives in (shown next to the chosen value)."""

    key: str
    plugin: str
    options: Any
    step_option: str


@dataclass
class Selection:
    key: str
    plugin: str
    step_option: str
    old_steps: int
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    chosen: int | None = None
    seconds: float = 0.0


def chosen_steps(steps: Sequence[int], losses: Sequence[float], rule: Rule) -> int | None:
    """The rule's step count, or None while the evaluations so far cannot decide it (the cap,
    once reached, always decides)."""
    for i in range(len(losses) - rule.patience):
        following = min(losses[i + 1 : i + 1 + rule.patience])
        if following > (1.0 - rule.tolerance) * losses[i]:
            return steps[i]
    if steps and steps[-1] >= rule.cap:
        return rule.cap
    return None


def split_holdout(videos: Sequence[Video]) -> tuple[tuple[Video, ...], tuple[Video, ...]]:
    """(training videos, held-out videos): the last quarter, rounded up, is held out."""
    if len(videos) < 2:
        raise ValueError("holding out source videos needs at least two training videos")
    held = min(max(1, math.ceil(HOLDOUT_FRACTION * len(videos))), len(videos) - 1)
    return tuple(videos[:-held]), tuple(videos[-held:])


def prediction_psnr(method: Method, video: Video) -> np.ndarray:
    """Per-frame PSNR (pixels in [0, 1]) of the model's prediction of frames T..N-1."""
    raw_scores = getattr(method, "raw_scores", None)
    if raw_scores is not None:  # MPN: the PSNR half of its fused score
        return np.asarray(raw_scores(video)[0], dtype=np.float64)
    return np.asarray(method.score(video), dtype=np.float64)


def held_out_loss(method: Method, videos: Sequence[Video]) -> float:
    """Mean prediction MSE (pixels in [0, 1]) over every predicted frame of ``videos``."""
    errors = [10.0 ** (-prediction_psnr(method, video) / 10.0) for video in videos]
    return float(np.concatenate(errors).mean())


def evaluate_between_steps(method: Method, videos: Sequence[Video]) -> float:
    """``held_out_loss`` in the middle of training, leaving modes and random state as found."""
    with left_as_found(method):
        return held_out_loss(method, videos)


class _Progress:
    def task(self, description: str, total: int | None) -> Any:
        return lambda steps: None


def select_one(
    choice: ModelChoice,
    source_dataset: Dataset,
    aux_dataset: Dataset | None,
    registry: Registry,
    rule: Rule,
    seed: int = 0,
) -> Selection:
    """Train one model on the source's kept videos and apply the rule on the held-out ones.

    Reads ``source_dataset.source("train")`` and ``aux_dataset.source("train")`` only."""
    spec = registry.models.get(choice.plugin)
    videos = source_dataset.source("train")
    kept, held = split_holdout(videos.videos())
    train_part = ListSource(videos.name, "train", kept)
    aux = aux_dataset.source("train") if aux_dataset is not None else None
    seed_everything(seed)  # as the runner seeds, before create (initial weights) and fit
    method = spec.create(choice.options, "cpu")
    old_steps = int(getattr(choice.options, choice.step_option))
    selection = Selection(choice.key, choice.plugin, choice.step_option, old_steps)

    def observe(clock: TrainingClock, steps: int) -> bool:
        selection.steps.append(steps)
        selection.losses.append(evaluate_between_steps(method, held))
        print(
            f"{choice.key}: step {steps}: held-out loss {selection.losses[-1]:.6f} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        selection.chosen = chosen_steps(selection.steps, selection.losses, rule)
        return selection.chosen is not None

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, watch_training(rule.every, observe):
        context = FitContext(
            "cpu", seed, _Progress(), Path(folder), TrainingBudget("steps", float(rule.cap))
        )
        seed_everything(seed)
        method.fit(train_part, aux, context)
    selection.seconds = time.perf_counter() - started
    if selection.chosen is None:  # unreachable: the cap's evaluation always decides
        selection.chosen = rule.cap
    return selection


def step_option(plugin: str, options: Any) -> str:
    """Which option holds a model's preset step count (what a budget replaces)."""
    if plugin == "rgan" and getattr(options, "training", "meta") == "meta":
        return "meta_steps"
    return "train_steps"


def model_choices(matrix: Path, keys: Sequence[str], registry: Registry) -> list[ModelChoice]:
    _, parsed = read_matrix(matrix)
    choices = []
    for key in keys:
        entry = parsed.models[key]
        spec = registry.models.get(entry.plugin)
        values: Mapping[str, Any] = spec.presets[entry.preset] if entry.preset else {}
        options = spec.options.model_validate({**values, **entry.overrides})
        choices.append(ModelChoice(key, entry.plugin, options, step_option(entry.plugin, options)))
    return choices


def _worker(arguments: tuple[Path, str, str | None, ModelChoice, Rule, int, int]) -> Selection:
    matrix, source, aux, choice, rule, seed, threads = arguments
    torch.set_num_threads(threads)
    registry = load_plugins()
    source_dataset = registry.open_matrix_dataset(matrix, source)
    aux_dataset = registry.open_matrix_dataset(matrix, aux) if aux else None
    return select_one(choice, source_dataset, aux_dataset, registry, rule, seed)


def reference_loss(matrix: Path, source: str, key: str) -> float:
    """The held-out loss of an untrained model of the matrix (framediff: the mean of the past
    frames as the prediction), for scale; it plays no part in the rule."""
    registry = load_plugins()
    (choice,) = model_choices(matrix, [key], registry)
    _, held = split_holdout(registry.open_matrix_dataset(matrix, source).source("train").videos())
    method = registry.models.get(choice.plugin).create(choice.options, "cpu")
    return held_out_loss(method, held)


def render(
    selections: Sequence[Selection],
    rule: Rule,
    header: Mapping[str, str],
    references: Mapping[str, float] | None = None,
) -> str:
    lines = [
        "# cpu presets chosen on source data only",
        "",
        *(f"{name}: {value}  " for name, value in header.items()),
        "",
        f"Rule (fixed before the first run): {rule.describe()}. Held-out loss: mean prediction "
        "MSE (pixels in [0, 1]) over every predicted frame of the held-out source training "
        "videos. No test split of any dataset was read.",
        "",
        "| model | preset option | old value | evaluated steps | held-out loss (×1e-3) | "
        "chosen | train + eval time |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in selections:
        losses = ", ".join(f"{1e3 * loss:.3f}" for loss in s.losses)
        steps = ", ".join(str(step) for step in s.steps)
        lines.append(
            f"| {s.key} | `{s.step_option}` | {s.old_steps} | {steps} | {losses} | "
            f"**{s.chosen}** | {s.seconds:.0f} s |"
        )
    for key, loss in (references or {}).items():
        lines += [
            "",
            f"For scale, not part of the rule: `{key}` (no training) has a held-out loss of "
            f"{1e3 * loss:.3f} ×1e-3 on the same frames.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=Path, default=DEFAULT_MATRIX)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--source", default=None, help="default: the matrix's first row's train")
    parser.add_argument("--aux", default=None, help="default: the matrix's first row's aux")
    parser.add_argument("--seed", type=int, default=None, help="default: the matrix's first")
    parser.add_argument("--jobs", type=int, default=2, help="models trained at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per model")
    parser.add_argument("--every", type=int, default=EVERY)
    parser.add_argument("--cap", type=int, default=CAP)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from vadbench.harness.environment import describe_environment

    environment = describe_environment()  # before anything runs: the commit that ran
    started = time.perf_counter()
    _, matrix = read_matrix(args.matrix)
    row = matrix.matrix[0]
    source = args.source or row.train
    aux = args.aux if args.aux is not None else row.aux
    seed = matrix.seeds[0] if args.seed is None else args.seed
    rule = Rule(every=args.every, cap=args.cap)
    choices = model_choices(args.matrix, args.models, load_plugins())
    work = [(args.matrix, source, aux, c, rule, seed, args.threads) for c in choices]
    # Fresh interpreters: each sets its own torch threads before torch does any work.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, args.jobs), mp_context=context) as pool:
        selections = list(pool.map(_worker, work))

    git = environment["vadbench_git"]
    dirty = ", with uncommitted changes" if git["dirty"] else ""
    command = " ".join(["python", "benchmarks/choose_presets.py", *(argv or sys.argv[1:])])
    header = {
        "Hardware": f"{environment['cpu']}, {os.cpu_count()} CPU threads (shared), "
        f"{args.jobs} model(s) at a time, {args.threads} torch thread(s) each; "
        f"torch {environment['torch']}",
        "Commit": f"{git['commit'][:7]}{dirty}",
        "Command": f"`{command}`",
        "Data": f"source `{source}` training split of {args.matrix.name}"
        + (f", aux `{aux}` training split" if aux else "")
        + f", seed {seed}",
        "Total wall time": f"{time.perf_counter() - started:.0f} s",
    }
    references = {
        key: reference_loss(args.matrix, source, key)
        for key, entry in matrix.models.items()
        if entry.plugin == "framediff"
    }
    text = render(selections, rule, header, references)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
