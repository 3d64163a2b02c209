"""The fit stage: a cell's model, loaded from its finished checkpoint or trained and saved.

Training writes into ``checkpoint.partial`` and renames it over ``checkpoint`` once ``fit.json``
(the cell's hash and every file's checksum) is inside, so a killed fit leaves no checkpoint that
a re-run would trust.
"""

from __future__ import annotations

import time
import warnings

from vadbench.harness.devices import seed_everything
from vadbench.harness.planning import Cell
from vadbench.harness.records import FitRecord
from vadbench.harness.stages.context import CellOutcome, LazySource, StageContext, StageError
from vadbench.sdk.contracts import FitContext, Method
from vadbench.sdk.files import (
    DamagedResultWarning,
    atomic_write_json,
    folder_checksums,
    remove_tree,
)
from vadbench.sdk.validation import one_line


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


def fit(cell: Cell, method: Method, ctx: StageContext) -> None:
    source = LazySource(ctx.datasets[cell.train].dataset, "train")
    aux = LazySource(ctx.datasets[cell.aux].dataset, "train") if cell.aux else None
    checkpoint = ctx.store.checkpoint_dir(cell.id)
    partial = checkpoint.with_name("checkpoint.partial")
    remove_tree(partial)
    partial.mkdir(parents=True)
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
    with ctx.training_precision():
        method.fit(source, aux, context)
    method.save(partial)
    record = FitRecord(
        hash=cell.hash,
        seconds=time.perf_counter() - started,
        time=time.time(),
        files=folder_checksums(partial),
    )
    atomic_write_json(ctx.store.fit_marker(partial), record.to_json())
    remove_tree(checkpoint)
    partial.rename(checkpoint)
