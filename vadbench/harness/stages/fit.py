"""The fit stage: a cell's model, loaded from its finished checkpoint, or trained and saved, or,
for a model with ``checkpoint: zoo:NAME``, copied from the zoo.

Training (and copying) writes into ``checkpoint.partial`` and renames it over ``checkpoint``
once ``fit.json`` (the cell's hash and every file's checksum) is inside, so a killed fit leaves
no checkpoint that a re-run would trust.
"""

from __future__ import annotations

import functools
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from vadbench.harness.devices import seed_everything
from vadbench.harness.planning import Cell
from vadbench.harness.records import FitRecord
from vadbench.harness.stages.context import CellOutcome, LazySource, StageContext, StageError
from vadbench.sdk.contracts import FitContext, Method, Split, VadbenchError, Video
from vadbench.sdk.files import (
    DamagedResultWarning,
    atomic_write_json,
    folder_checksums,
    remove_tree,
)
from vadbench.sdk.learning import (
    LEARNING_FILE,
    SNAPSHOTS_FOLDER,
    ConvergenceRule,
    HeldOutMonitor,
    HeldOutObjective,
    hold_out,
    write_curve,
)
from vadbench.sdk.validation import one_line
from vadbench.sdk.zoo import ZooSeed, verified_files


def create_method(cell: Cell, ctx: StageContext) -> Method:
    """A fresh model of the cell, seeded."""
    seed_everything(cell.seed)
    return cell.model.spec.create(cell.model.options, ctx.device)


def loaded_method(cell: Cell, ctx: StageContext) -> Method:
    """The cell's model from its finished checkpoint."""
    method = create_method(cell, ctx)
    method.load(ctx.store.checkpoint_dir(cell.id))
    return method


def fitted_method(cell: Cell, ctx: StageContext, finished: bool, outcome: CellOutcome) -> Method:
    """The cell's model: loaded where ``finished`` says its checkpoint is, else trained and
    saved. A checkpoint that fails to load is trained again, with a warning."""
    if finished:
        try:
            method = loaded_method(cell, ctx)
            outcome.loaded = True
            return method
        except Exception as error:
            warnings.warn(
                f"{ctx.store.checkpoint_dir(cell.id)} could not be loaded "
                f"({one_line(error)}); training the cell again",
                DamagedResultWarning,
                stacklevel=1,
            )
    if cell.zoo is not None:
        try:
            install_from_zoo(cell, cell.zoo, ctx)
            method = loaded_method(cell, ctx)
        except Exception as error:
            raise StageError("zoo", error) from error
        outcome.from_zoo = cell.zoo.reference
        return method
    try:
        method = create_method(cell, ctx)
    except Exception as error:
        raise StageError("create", error) from error
    try:
        fit(cell, method, ctx)
    except Exception as error:
        raise StageError("fit", error) from error
    outcome.fitted = True
    return method


class KeptSource:
    """The source's training split without its held-out videos (``vadbench.sdk.learning``),
    listed, like ``LazySource``, when the model first reads it."""

    def __init__(self, listed: LazySource, share: float, seed: int) -> None:
        self._listed = listed
        self._share = share
        self._seed = seed

    @functools.cached_property
    def _parts(self) -> tuple[list[Video], list[Video]]:
        return hold_out(self._listed.videos(), self._share, self._seed)

    @property
    def name(self) -> str:
        return self._listed.name

    @property
    def split(self) -> Split:
        return "train"

    def videos(self) -> Sequence[Video]:
        return self._parts[0]

    def held_out(self) -> Sequence[Video]:
        return self._parts[1]


def fit(cell: Cell, method: Method, ctx: StageContext) -> None:
    """Train on the kept part of the source, watching the held-out part, and save the model with
    its learning curve."""
    source = KeptSource(
        LazySource(ctx.datasets[cell.train].dataset, "train"), ctx.held_out.share, cell.seed
    )
    aux = LazySource(ctx.datasets[cell.aux].dataset, "train") if cell.aux else None
    rule = ConvergenceRule.of(ctx.budget)
    if rule is not None and not isinstance(method, HeldOutObjective):
        raise VadbenchError(
            f"model {cell.model.name!r} ({cell.model.spec.name}) states no held-out objective "
            "(held_out_errors), so it cannot train 'until: converged'; give it a steps budget"
        )
    partial = ctx.store.checkpoint_dir(cell.id).with_name("checkpoint.partial")
    remove_tree(partial)
    partial.mkdir(parents=True)

    def snapshot(step: int) -> None:
        if step in ctx.snapshots:
            folder = partial / SNAPSHOTS_FOLDER / f"step-{step:06d}"
            folder.mkdir(parents=True)
            method.save(folder)

    monitor = HeldOutMonitor(method, source.held_out, ctx.held_out.every, rule, snapshot)
    context = FitContext(
        device=ctx.device,
        seed=cell.seed,
        progress=ctx.progress,
        checkpoint_dir=partial,
        budget=ctx.budget,
        adaptation=cell.adaptation,
        precision=ctx.precision,
    )
    seed_everything(cell.seed)
    started = time.perf_counter()
    with ctx.training_precision(), monitor.watching():
        method.fit(source, aux, context)
    method.save(partial)
    write_curve(partial / LEARNING_FILE, monitor.curve())
    _complete(cell, ctx, partial, time.perf_counter() - started)


def install_from_zoo(cell: Cell, zoo: ZooSeed, ctx: StageContext) -> None:
    """The cell's checkpoint, copied from its zoo entry after checking every file's checksum;
    its fit record names the entry."""
    verified_files(zoo)
    partial = ctx.store.checkpoint_dir(cell.id).with_name("checkpoint.partial")
    remove_tree(partial)
    shutil.copytree(zoo.folder, partial)
    _complete(cell, ctx, partial, 0.0, zoo.reference)


def _complete(
    cell: Cell, ctx: StageContext, partial: Path, seconds: float, origin: str | None = None
) -> None:
    """Mark ``partial`` complete (its files' checksums and the cell's hash) and put it in the
    checkpoint's place."""
    record = FitRecord(
        hash=cell.hash,
        seconds=seconds,
        time=time.time(),
        files=folder_checksums(partial),
        origin=origin,
    )
    atomic_write_json(ctx.store.fit_marker(partial), record.to_json())
    checkpoint = ctx.store.checkpoint_dir(cell.id)
    remove_tree(checkpoint)
    partial.rename(checkpoint)
