"""Running one cell's command line in another process, here or on another machine, shared by
the ``processes``, ``dask`` and ``slurm`` executors.

The driver turns each task into a picklable ``CellRequest``; a worker runs it with ``run_cell`` as
``python *task.command`` (the cell's planned job) in a fresh subprocess, so plugins load anew, a
crash costs that one cell only, and the worker's own state never leaks into a cell. The output
travels back with the exit code and the driver prints it when the cell ends, so lines never
interleave."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vadbench.sdk import (
    BLOCK_ENV,
    DISABLE_AUTOLOAD_ENV,
    LOCK_TOKEN_ENVIRONMENT,
    THREADS_ENVIRONMENT,
    Task,
    mark_launched,
)

# Set in the driver, needed alike on every worker: the run lock's token lets a cell write into
# the folder the driver holds, and the plugin switches make the worker load the same plugins.
# Node-local settings (caches, decode threads) stay the worker's own.
FORWARDED_ENVIRONMENT = (LOCK_TOKEN_ENVIRONMENT, BLOCK_ENV, DISABLE_AUTOLOAD_ENV)
# Process settings a worker daemon may impose on itself (dask's nanny sets all four for its
# workers): a cell runs with the driver's values, or without them when the driver has none.
# dask's MALLOC_TRIM_THRESHOLD_=65536 alone halves zxVAD's scoring speed (172 → 85 frames/s);
# a LocalCluster also writes them into the driver's own environment (see dask.py).
DRIVER_PROCESS_SETTINGS = (
    "MALLOC_TRIM_THRESHOLD_",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)


@dataclass(frozen=True)
class CellRequest:
    """What a worker needs to run one cell: its Python arguments (``-m MODULE JOB.json``), the
    driver's working folder and the forwarded environment."""

    command: tuple[str, ...]
    cwd: str
    environment: dict[str, str]
    progress_file: str | None = None


@dataclass(frozen=True)
class CellRun:
    """How one cell's process ended, on which host, and everything it printed."""

    returncode: int
    output: str
    host: str


def request_for(task: Task, threads: int | None = None) -> CellRequest:
    """The cell's request; ``threads``, the torch threads it takes unless its matrix says."""
    names = (*FORWARDED_ENVIRONMENT, *DRIVER_PROCESS_SETTINGS)
    forwarded = {name: os.environ[name] for name in names if name in os.environ}
    if threads is not None:
        forwarded[THREADS_ENVIRONMENT] = str(threads)
    progress = None if task.progress_file is None else str(task.progress_file)
    return CellRequest(task.command, os.getcwd(), forwarded, progress)


class Finished(Protocol):
    """A finished cell's handle (a dask future, a submitit job): ``result()`` is its CellRun,
    or raises when its worker or job was lost."""

    def result(self) -> CellRun: ...


def report_finished(finished: Iterable[tuple[Task, Finished]]) -> None:
    """Each cell as it finishes: its output, or, when its worker or job was lost, that cell
    alone named as lost while the others go on."""
    for task, handle in finished:
        try:
            run = handle.result()
        except Exception as error:  # a lost worker, a failed or cancelled job: this cell only
            report_lost(task, error)
            continue
        report_run(task, run)


def run_cell(request: CellRequest) -> CellRun:
    """Runs on the worker: one cell in a subprocess of the worker's Python, shown by the driver
    as starting on this host from the moment it is launched."""
    host = socket.gethostname()
    if request.progress_file is not None:
        mark_launched(Path(request.progress_file), host)
    done = subprocess.run(
        [sys.executable, *request.command],
        cwd=request.cwd,
        env={
            **{k: v for k, v in os.environ.items() if k not in DRIVER_PROCESS_SETTINGS},
            **request.environment,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    return CellRun(done.returncode, done.stdout, host)


def report_run(task: Task, run: CellRun) -> None:
    sys.stdout.write(run.output)
    if run.returncode not in (0, 1):  # 1: the cell failed and recorded why
        sys.stdout.write(
            f"  {task.label}: cell process on {run.host} exited with code {run.returncode}\n"
        )
    sys.stdout.flush()


def report_lost(task: Task, error: BaseException) -> None:
    """One line for a cell whose worker or job was lost: the others go on, and a re-run of the
    matrix finishes this one (every result is written atomically)."""
    lines = str(error).strip().splitlines()
    reason = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    sys.stdout.write(f"  {task.label}: lost ({reason}); re-run the matrix to finish it\n")
    sys.stdout.flush()
