"""Running a matrix from Python: ``vadbench.run_matrix(path)`` does what ``vadbench run`` does
(the command line is a thin layer over it), and returns what happened.

A run reads its matrix and plans once. Each cell with work left becomes a ``CellJob``
(``vadbench.harness.jobs``): self-contained data, stored in the cell's folder, that the
executor runs in this process or hands to a worker (``python -m vadbench.harness.worker
JOB.json``); no worker reads the matrix or plans. The driver then measures efficiency one cell
at a time, in a stage that only loads finished checkpoints and never fits or scores.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape

from vadbench.harness.config import read_matrix
from vadbench.harness.environment import describe_environment
from vadbench.harness.jobs import CellJob, execute_job
from vadbench.harness.planning import Cell, Plan, build_plan
from vadbench.harness.plugins import Registry, load_plugins
from vadbench.harness.progress import ProgressWatcher, RichProgress, progress_for
from vadbench.harness.results import load_results
from vadbench.harness.stages.cell import (
    describe_outcome,
    has_work,
    measure_efficiency_only,
    read_state,
    run_cell,
)
from vadbench.harness.stages.context import StageContext
from vadbench.harness.store import RunStore
from vadbench.sdk.console import make_console, printable
from vadbench.sdk.contracts import ConfigError, Task
from vadbench.sdk.files import atomic_write_bytes, atomic_write_json, read_record
from vadbench.sdk.framecache import cache_budget
from vadbench.sdk.leaderboards import summary_counts
from vadbench.sdk.runfolder import RUN_FORMAT
from vadbench.sdk.validation import did_you_mean, one_line


@dataclass(frozen=True)
class RunOptions:
    """What a run takes besides its matrix file (the ``vadbench run`` flags)."""

    results_dir: Path = Path("results")
    overrides: tuple[str, ...] = ()
    plugin_files: tuple[Path, ...] = ()
    blocked: tuple[str, ...] = ()
    force: bool = False
    efficiency: bool = True


@dataclass
class RunSummary:
    """Where a run wrote, how many cells it planned and ran, which recorded failures and which
    did not finish (a worker or job was lost: a re-run finishes them)."""

    run_dir: Path
    planned: int
    ran: int
    failed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The command line's: 0 all good, 1 some cells failed or did not finish."""
        return 1 if self.failed or self.unfinished else 0


@dataclass
class PlannedRun:
    """A matrix read and planned once, with the plugins it was planned against."""

    plan: Plan
    registry: Registry
    plugin_files: list[Path]
    blocked: list[str]
    options: RunOptions

    @functools.cached_property
    def store(self) -> RunStore:
        return RunStore(self.options.results_dir / self.plan.name)

    def job(self, cell: Cell) -> CellJob:
        return CellJob.of(
            self.plan,
            cell,
            self.store.root,
            self.plugin_files,
            self.blocked,
            self.options.force,
        )


def plan_run(
    matrix: Path | str, options: RunOptions = RunOptions(), registry: Registry | None = None
) -> PlannedRun:
    """Read the matrix, load its plugins and plan it: the one time a run does each."""
    path = Path(matrix)
    raw, parsed = read_matrix(path, list(options.overrides))
    cache_budget()  # a misspelt VADBENCH_FRAME_CACHE is one configuration error, not one per cell
    plugin_files = [*options.plugin_files, *(path.parent / p for p in parsed.plugins)]
    blocked = [*options.blocked, *parsed.block_plugins]
    if registry is None:
        registry = load_plugins(plugin_files, blocked)
    plan = build_plan(path, raw, parsed, registry)
    return PlannedRun(plan, registry, plugin_files, blocked, options)


def cell_jobs(matrix: Path | str, options: RunOptions = RunOptions()) -> list[CellJob]:
    """Every cell of a matrix as a job another process can run (``vadbench.harness.worker``)."""
    planned = plan_run(matrix, options)
    return [planned.job(cell) for cell in planned.plan.cells]


def run_matrix(
    matrix: Path | str,
    options: RunOptions = RunOptions(),
    *,
    only: Sequence[str] = (),
    registry: Registry | None = None,
    console: Console | None = None,
) -> RunSummary:
    """Runs (or resumes) a matrix into ``options.results_dir / <name>``: every cell, or the
    cells named in ``only``. Raises ``vadbench.sdk.VadbenchError`` for a bad matrix, a plugin
    error or a busy run folder."""
    planned = plan_run(matrix, options, registry)
    if planned.plan.matrix.threads is not None:  # for cells run here and the efficiency stage
        torch.set_num_threads(planned.plan.matrix.threads)
    console = console or make_console()
    cells = _selected_cells(planned.plan.cells, only, Path(matrix))
    with planned.store.locked():
        return _drive(planned, cells, console)


def _drive(planned: PlannedRun, cells: list[Cell], console: Console) -> RunSummary:
    plan, store, options = planned.plan, planned.store, planned.options
    write_run_file(plan, store, describe_environment())
    console.print(
        f"run [bold]{escape(plan.name)}[/]: {len(plan.cells)} cell(s), "
        f"{sum(len(c.targets) for c in plan.cells)} target evaluation(s) → {store.root}"
    )
    with progress_for(console) as progress:
        context = StageContext.for_plan(plan, store, progress, options.force, options.efficiency)
        working = []
        for cell in cells:
            if has_work(cell, read_state(cell, context)):
                working.append(cell)
            else:  # a re-run: nothing but bookkeeping, settled here and not in a worker
                console.print(describe_outcome(run_cell(cell, context), 0.0))
        tasks = [_task(planned, cell, progress, console) for cell in working]
        files = {cell.id: store.progress_file(cell.id) for cell in working}
        executor = planned.registry.executors.get(plan.matrix.executor)
        with ProgressWatcher(console, files):
            executor.execute(tasks, plan.executor_options)
        # Efficiency is measured here, one cell at a time, for every cell trained in this run or
        # before: timings taken while other cells train would not be honest. This stage only
        # loads checkpoints; a cell that failed or did not finish is not redone here.
        for cell in cells:
            started = time.perf_counter()
            outcome = measure_efficiency_only(cell, context)
            if outcome.measured_efficiency or outcome.failed:
                console.print(describe_outcome(outcome, time.perf_counter() - started))
    render_reports(store.root, plan.matrix.reporters, planned.registry, console)
    failed = [cell.id for cell in cells if store.failed(cell)]
    if failed:
        console.print(f"[red]{len(failed)} cell(s) had failures[/] (see the table above)")
    unfinished = [cell.id for cell in cells if cell.id not in failed and not store.finished(cell)]
    if unfinished:
        console.print(
            f"[red]{len(unfinished)} cell(s) did not finish[/] ({', '.join(unfinished)}): "
            "their worker or job was lost; run the matrix again to finish them"
        )
    return RunSummary(store.root, len(plan.cells), len(cells), failed, unfinished)


def _task(planned: PlannedRun, cell: Cell, progress: RichProgress, console: Console) -> Task:
    """The cell's job, stored in its folder for workers, and a way to run it here."""
    store = planned.store
    job = planned.job(cell)
    job_file = store.job_file(cell.id)
    atomic_write_bytes(job_file, job.to_json().encode())

    def in_this_process() -> None:
        # Off a terminal, a cell reports through its progress file as a worker does, so the
        # watcher's progress lines name it too.
        bars = progress if console.is_terminal else None
        execute_job(job, job_file, console, planned.registry, planned.plan.datasets, bars)

    return Task(
        cell.id, cell.id, in_this_process, job.command(job_file), store.progress_file(cell.id)
    )


def _selected_cells(cells: list[Cell], only: Sequence[str], matrix: Path) -> list[Cell]:
    if not only:
        return cells
    known = {cell.id: cell for cell in cells}
    for cell_id in only:
        if cell_id not in known:
            hint = did_you_mean(cell_id, known)
            raise ConfigError(f"--only: {matrix.name} plans no cell {cell_id!r}{hint}")
    return [known[cell_id] for cell_id in only]


def render_reports(
    run_dir: Path, reporters: list[str] | None, registry: Registry, console: Console
) -> int:
    """Renders a run folder's leaderboards with the given reporters (default: the run's own)."""
    table = load_results(run_dir, registry)
    if reporters is None:
        reporters = (read_record(RunStore(run_dir).run_file) or {}).get("reporters", ["terminal"])
    failed = 0
    for name in reporters:
        spec = registry.reporters.get(name, where="reporter")
        try:
            written = spec.render(table, run_dir)
        except Exception as error:  # one reporter (a tracking server down) never stops the rest
            failed += 1
            console.print(
                f"[bold red]error:[/] reporter {escape(name)} failed: "
                f"{escape(printable(one_line(error)))}; the results and other reports are kept",
                highlight=False,
            )
            continue
        if written is not None:
            console.print(f"wrote {written}")
    counts = summary_counts(table)
    if counts["failed"] or counts["pending"]:
        console.print(f"{counts['ok']} ok, {counts['failed']} failed, {counts['pending']} pending")
    return 1 if failed else 0


def write_run_file(plan: Plan, store: RunStore, environment: dict[str, Any]) -> None:
    """Record what this invocation planned; earlier invocations are kept in its history."""
    previous = read_record(store.run_file) or {}
    store.check_format(previous)
    invocation = {"time": time.time(), "matrix": str(plan.source_file), "seeds": plan.matrix.seeds}
    atomic_write_json(
        store.run_file,
        {
            "format": RUN_FORMAT,
            "name": plan.name,
            "matrix_file": str(plan.source_file),
            "config": plan.raw,
            "datasets": {name: d.fingerprint for name, d in plan.datasets.items()},
            "cells": {cell.id: cell.hash for cell in plan.cells},
            "targets": {cell.id: {t.key: t.hash for t in cell.targets} for cell in plan.cells},
            "seeds": plan.matrix.seeds,
            "budget": plan.matrix.budget.model_dump(exclude_none=True)
            if plan.matrix.budget
            else None,
            "held_out": plan.matrix.held_out.model_dump(),
            "evaluation": plan.evaluation.model_dump(),
            "metrics": {
                "detection": [m.name for m in plan.detection_metrics],
                "efficiency": [m.name for m in plan.efficiency_metrics],
                "headline": plan.headline,
            },
            "reporters": plan.matrix.reporters,
            "environment": environment,
            "invocations": [*previous.get("invocations", []), invocation],
        },
    )
