"""One cell's walk over its stages: read what its folder holds (one pass), fit or load the model
where a target still needs scores, then adapt, score and evaluate each unfinished target, then
calibrate. Efficiency is a stage of its own (``measure_efficiency_only``) that the driver runs
one cell at a time after every walk.

Each stage stores its output before the next starts and is skipped on a re-run when its stored
hash matches, so a killed run resumes where it stopped. An exception inside a stage is recorded
in the cell's (or target's) folder with its stage and traceback, and the rest of the matrix goes
on.
"""

from __future__ import annotations

import time
import traceback

from vadbench.harness.planning import Cell, Target
from vadbench.harness.records import (
    CellRecord,
    CellState,
    EfficiencyRecord,
    FailureRecord,
    TargetEntry,
)
from vadbench.harness.stages.calibrate import calibrate_stage
from vadbench.harness.stages.context import CellOutcome, StageContext, StageError
from vadbench.harness.stages.efficiency import efficiency_stage, needs_efficiency
from vadbench.harness.stages.evaluate import evaluate
from vadbench.harness.stages.fit import fitted_method, loaded_method
from vadbench.harness.stages.score import score_target
from vadbench.sdk.contracts import Method, VadbenchError
from vadbench.sdk.validation import one_line


def read_state(cell: Cell, ctx: StageContext) -> CellState:
    """What the cell's folder holds for its present hashes; nothing under ``--force``."""
    if ctx.force:
        return CellState()
    return ctx.store.cell_state(cell, ctx.score_precision, ctx.precision)


def has_work(cell: Cell, state: CellState) -> bool:
    """Whether a walk would do more than bookkeeping: a target to evaluate or a calibration to
    make, or a damaged checkpoint to train again (efficiency is the driver's own stage). A
    driver keeps cells without work out of worker processes, each of which costs time to
    start."""
    return (
        len(state.results) < len(cell.targets)
        or state.calibration is None
        or state.repair_checkpoint
    )


def run_cell(cell: Cell, ctx: StageContext) -> CellOutcome:
    outcome = CellOutcome(cell.id)
    ctx.store.write(describe(cell), cell.id)
    state = read_state(cell, ctx)
    pending = [t for t in cell.targets if t.key not in state.results]
    to_score = [t for t in pending if t.key not in state.scores]
    outcome.targets_skipped = len(cell.targets) - len(pending)
    method: Method | None = None
    try:
        if to_score or state.repair_checkpoint:
            method = fitted_method(cell, ctx, state.checkpoint, outcome)
    except StageError as wrapped:
        record_failure(cell, None, wrapped, outcome, ctx)
        return outcome
    ctx.store.remove(FailureRecord, cell.id)
    scores = dict(state.scores)
    for target in pending:
        stage = f"score {target.key}"
        try:
            if target.key in scores:
                outcome.targets_from_stored_scores += 1
            elif method is None:
                raise VadbenchError("no model to score with")
            else:
                scores[target.key] = score_target(cell, target, method, ctx)
            stage = f"evaluate {target.key}"
            evaluate(cell, target, scores[target.key], ctx)
        except Exception as error:
            record_failure(cell, target, StageError(stage, error), outcome, ctx)
            continue
        outcome.targets_done += 1
        ctx.store.remove(FailureRecord, cell.id, target.key)
    if state.calibration is None:
        calibrate_stage(cell, scores, lambda: method or loaded_method(cell, ctx), ctx)
    return outcome


def measure_efficiency_only(cell: Cell, ctx: StageContext) -> CellOutcome:
    """The efficiency stage, run by the driver after the executor: it loads the finished
    checkpoint and measures, and never fits or scores. A cell without a finished checkpoint
    (its fit failed and was recorded, or its worker died) is left for a re-run."""
    outcome = CellOutcome(cell.id)
    stored = None if ctx.force else ctx.store.read(EfficiencyRecord, cell.id)
    stored = stored if stored is not None and stored.hash == cell.hash else None
    if not needs_efficiency(ctx, stored) or not ctx.store.finished_checkpoint(cell.id, cell.hash):
        return outcome
    try:
        method = loaded_method(cell, ctx)
    except Exception as error:
        record_failure(cell, None, StageError("efficiency metrics", error), outcome, ctx)
        return outcome
    outcome.loaded = True
    try:
        efficiency_stage(cell, method, ctx, outcome)
    except StageError as wrapped:
        record_failure(cell, None, wrapped, outcome, ctx)
    return outcome


def record_failure(
    cell: Cell, target: Target | None, wrapped: StageError, outcome: CellOutcome, ctx: StageContext
) -> None:
    outcome.failed = True
    message = f"{wrapped.stage}: {one_line(wrapped.error)}"
    outcome.message = "; ".join(filter(None, [outcome.message, message]))
    record = FailureRecord(
        hash=cell.hash if target is None else target.hash,
        stage=wrapped.stage,
        error=one_line(wrapped.error),
        type=type(wrapped.error).__name__,
        traceback="".join(traceback.format_exception(wrapped.error)),
        time=time.time(),
    )
    ctx.store.write(record, cell.id, None if target is None else target.key)


def describe(cell: Cell) -> CellRecord:
    return CellRecord(
        id=cell.id,
        hash=cell.hash,
        model=cell.model.name,
        plugin=cell.model.spec.name,
        preset=cell.model.preset,
        options=cell.model.options.model_dump(mode="json"),
        train=cell.train,
        aux=cell.aux,
        seed=cell.seed,
        targets={
            t.key: TargetEntry(dataset=t.dataset, protocol=t.protocol_label, hash=t.hash)
            for t in cell.targets
        },
    )


def describe_outcome(outcome: CellOutcome, seconds: float) -> str:
    parts = []
    if outcome.fitted:
        parts.append("trained")
    elif outcome.from_zoo:
        parts.append(f"checkpoint from {outcome.from_zoo} (not trained in this run)")
    elif outcome.loaded:
        parts.append("loaded checkpoint")
    if outcome.targets_done:
        parts.append(f"{outcome.targets_done} target(s) evaluated")
    if outcome.targets_from_stored_scores:
        parts.append(f"{outcome.targets_from_stored_scores} from stored scores")
    if outcome.targets_skipped:
        parts.append(f"{outcome.targets_skipped} target(s) already done, skipped")
    if outcome.measured_efficiency:
        parts.append("efficiency measured")
    if outcome.failed:
        parts.append(f"[red]FAILED[/] {outcome.message}")
    return f"  {outcome.cell_id}: {', '.join(parts) or 'nothing to do'} ({seconds:.1f}s)"
