"""Running a matrix from Python: ``vadbench.run_matrix(path)`` does what ``vadbench run`` does
(the command line is a thin layer over it), and returns what happened.

A cell is also a :class:`CellJob`: a picklable description (matrix file, cell id, results
folder, plugin files, overrides) that any process on any machine with vadbench, the data and the
shared results folder can run, in process (``job.run()``) or as a command line
(``job.argv()``). Executors ship jobs; the driver then measures efficiency one cell at a time,
in a stage that only loads finished checkpoints and never fits or scores.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape

from vadbench.api import ConfigError, Task
from vadbench.config import read_matrix
from vadbench.console import make_console
from vadbench.environment import describe_environment
from vadbench.planning import Cell, Plan, build_plan
from vadbench.plugins import Registry, did_you_mean, load_plugins
from vadbench.progress import FileProgress, ProgressWatcher, progress_for
from vadbench.results import load_results, summary_counts
from vadbench.runner import CellOutcome, CellRunner, write_run_file
from vadbench.store import RunStore, read_record


@dataclass(frozen=True)
class RunOptions:
    """What a run takes besides its matrix file (the ``vadbench run`` flags)."""

    results_dir: Path = Path("results")
    overrides: tuple[str, ...] = ()
    plugin_files: tuple[Path, ...] = ()
    blocked: tuple[str, ...] = ()
    force: bool = False
    efficiency: bool = True


@dataclass(frozen=True)
class CellJob:
    """One cell of a run, as plain picklable data."""

    matrix: Path
    cell_id: str
    options: RunOptions = RunOptions()

    def argv(self) -> tuple[str, ...]:
        """The ``vadbench`` command line that runs this cell alone (without efficiency)."""
        argv = ["run", str(self.matrix), "--only", self.cell_id, "--no-efficiency"]
        argv += ["--results-dir", str(self.options.results_dir)]
        argv += [f"--plugin={path}" for path in self.options.plugin_files]
        argv += [f"--block={name}" for name in self.options.blocked]
        argv += [f"--set={override}" for override in self.options.overrides]
        if self.options.force:
            argv.append("--force")
        return tuple(argv)

    def run(self) -> RunSummary:
        """Runs the cell in this process, as a worker does."""
        return run_matrix(self.matrix, replace(self.options, efficiency=False), only=[self.cell_id])


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


def run_matrix(
    matrix: Path | str,
    options: RunOptions = RunOptions(),
    *,
    only: Sequence[str] = (),
    registry: Registry | None = None,
    console: Console | None = None,
) -> RunSummary:
    """Runs (or resumes) a matrix into ``options.results_dir / <name>``: every cell, or the
    cells named in ``only`` as a worker does (no run file, no efficiency, no reports). Raises
    ``vadbench.api.VadbenchError`` for a bad matrix, a plugin error or a busy run folder."""
    path = Path(matrix)
    raw, parsed = read_matrix(path, list(options.overrides))
    if registry is None:
        local_files = [*options.plugin_files, *(path.parent / p for p in parsed.plugins)]
        registry = load_plugins(local_files, [*options.blocked, *parsed.block_plugins])
    console = console or make_console()
    if parsed.threads is not None:
        torch.set_num_threads(parsed.threads)
    plan = build_plan(path, raw, parsed, registry)
    store = RunStore(options.results_dir / plan.name)
    cells = _selected_cells(plan.cells, only, path)
    with store.locked():
        if only:
            return _run_as_worker(plan, store, cells, options, console)
        return _run_as_driver(path, plan, store, cells, options, registry, console)


def _run_as_worker(
    plan: Plan, store: RunStore, cells: list[Cell], options: RunOptions, console: Console
) -> RunSummary:
    """Cells another process asked for: progress goes to the results folder for the driver."""
    for cell in cells:
        progress = FileProgress(store.progress_file(cell.id))
        progress.task("starting (data, model)", None)
        runner = CellRunner(plan, store, progress, options.force, options.efficiency)
        started = time.perf_counter()
        outcome = runner.run(cell)
        console.print(describe_outcome(outcome, time.perf_counter() - started))
        store.progress_file(cell.id).unlink(missing_ok=True)
    return RunSummary(store.root, len(plan.cells), len(cells), failed_cells(store, cells))


def _run_as_driver(
    path: Path,
    plan: Plan,
    store: RunStore,
    cells: list[Cell],
    options: RunOptions,
    registry: Registry,
    console: Console,
) -> RunSummary:
    write_run_file(plan, store, describe_environment())
    console.print(
        f"run [bold]{escape(plan.name)}[/]: {len(plan.cells)} cell(s), "
        f"{sum(len(c.targets) for c in plan.cells)} target evaluation(s) → {store.root}"
    )
    with progress_for(console) as progress:
        runner = CellRunner(plan, store, progress, options.force, options.efficiency)

        def task_for(cell: Cell) -> Task:
            def run_cell() -> None:
                # In this process, off a terminal, a cell reports through its progress file like
                # a worker does, so the watcher's progress lines name it too.
                in_process = runner
                if not console.is_terminal:
                    progress = FileProgress(store.progress_file(cell.id))
                    in_process = CellRunner(plan, store, progress, runner.force, runner.efficiency)
                started = time.perf_counter()
                try:
                    outcome = in_process.run(cell)
                finally:
                    if in_process is not runner:
                        store.progress_file(cell.id).unlink(missing_ok=True)
                console.print(describe_outcome(outcome, time.perf_counter() - started))

            argv = CellJob(path, cell.id, options).argv()
            return Task(cell.id, cell.id, run_cell, argv, store.progress_file(cell.id).absolute())

        # Cells with nothing left to do (a re-run) are settled here, not in a worker process.
        working = []
        for cell in cells:
            if runner.has_work(cell):
                working.append(cell)
            else:
                console.print(describe_outcome(runner.run(cell), 0.0))
        files = {cell.id: store.progress_file(cell.id) for cell in working}
        executor = registry.executors.get(plan.matrix.executor)
        with ProgressWatcher(console, files):
            executor.execute([task_for(cell) for cell in working], plan.executor_options)
        # Efficiency is measured here, one cell at a time, for cells that a parallel executor
        # trained elsewhere: timings taken while other cells train would not be honest. This
        # stage only loads checkpoints; a cell that failed or did not finish is not redone here.
        runner.force = False
        for cell in cells:
            started = time.perf_counter()
            outcome = runner.measure_efficiency(cell)
            if outcome.measured_efficiency or outcome.failed:
                console.print(describe_outcome(outcome, time.perf_counter() - started))
    render_reports(store.root, plan.matrix.reporters, registry, console)
    failed = failed_cells(store, cells)
    if failed:
        console.print(f"[red]{len(failed)} cell(s) had failures[/] (see the table above)")
    unfinished = [
        cell.id
        for cell in cells
        if cell.id not in failed
        and not all(store.finished_target(cell.id, t.key, t.hash) for t in cell.targets)
    ]
    if unfinished:
        console.print(
            f"[red]{len(unfinished)} cell(s) did not finish[/] ({', '.join(unfinished)}): "
            "their worker or job was lost; run the matrix again to finish them"
        )
    return RunSummary(store.root, len(plan.cells), len(cells), failed, unfinished)


def _selected_cells(cells: list[Cell], only: Sequence[str], matrix: Path) -> list[Cell]:
    if not only:
        return cells
    known = {cell.id: cell for cell in cells}
    for cell_id in only:
        if cell_id not in known:
            hint = did_you_mean(cell_id, known)
            raise ConfigError(f"--only: {matrix.name} plans no cell {cell_id!r}{hint}")
    return [known[cell_id] for cell_id in only]


def failed_cells(store: RunStore, cells: list[Cell]) -> list[str]:
    """Cells whose latest attempt at their present content recorded a failure, in the cell or
    in one of its targets; records left by other versions of a cell or target are stale."""
    failed = []
    for cell in cells:
        records = [(store.failure_file(cell.id), cell.hash)] + [
            (store.failure_file(cell.id, target.key), target.hash) for target in cell.targets
        ]
        for path, expected in records:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                record = read_record(path)
            if record is not None and record.get("hash") == expected:
                failed.append(cell.id)
                break
    return failed


def describe_outcome(outcome: CellOutcome, seconds: float) -> str:
    parts = []
    if outcome.fitted:
        parts.append("trained")
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


def render_reports(
    run_dir: Path, reporters: list[str] | None, registry: Registry, console: Console
) -> int:
    """Renders a run folder's leaderboards with the given reporters (default: the run's own)."""
    table = load_results(run_dir, registry)
    if reporters is None:
        reporters = (read_record(RunStore(run_dir).run_file) or {}).get("reporters", ["terminal"])
    for name in reporters:
        spec = registry.reporters.get(name, where="reporter")
        written = spec.render(table, run_dir)
        if written is not None:
            console.print(f"wrote {written}")
    counts = summary_counts(table)
    if counts["failed"] or counts["pending"]:
        console.print(f"{counts['ok']} ok, {counts['failed']} failed, {counts['pending']} pending")
    return 0
