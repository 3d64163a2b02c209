"""The ``processes`` executor: runs cells in parallel worker processes on this machine.

Each cell runs as ``python -m vadbench.cli run MATRIX --only CELL`` in its own process, so cells
share nothing but the results folder (every write there is atomic) and the data cache (written
atomically too). A worker's output is printed when its cell ends, so lines never interleave.
Set ``threads`` in the matrix so that workers × threads does not exceed the cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import Field

from vadbench.api import ExecutorSpec, Options, Task
from vadbench.hookspecs import hookimpl

from .remote import report_run, request_for, run_cell

_print_lock = threading.Lock()


def _run_in_subprocess(task: Task) -> None:
    run = run_cell(request_for(task))
    with _print_lock:
        report_run(task, run)


class ProcessesOptions(Options):
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="cells run at once, each in its own process (default: the CPU count)",
    )


def execute_in_processes(tasks: Sequence[Task], options: Mapping[str, Any]) -> None:
    workers = ProcessesOptions.model_validate(dict(options)).workers
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(_run_in_subprocess, task) for task in tasks]:
            future.result()


@hookimpl
def vadbench_register_executors(register: Any) -> None:
    register(
        ExecutorSpec(
            name="processes",
            description="run cells in parallel worker processes (executor_options: workers)",
            execute=execute_in_processes,
            options=ProcessesOptions,
        )
    )
