"""The ``processes`` executor: runs cells in parallel worker processes on this machine.

Each cell runs its planned job (``python -m vadbench.harness.worker JOB.json``) in its own process,
so cells share nothing but the results folder (every write there is atomic) and the data cache
(written atomically too), and a crash costs that one cell only. A worker's output is printed when
its cell ends, so lines never interleave. A matrix without ``threads`` gives each cell the cores
divided by the cells that run side by side (``THREADS_ENVIRONMENT``), so that workers × threads
does not exceed the cores; a matrix's ``threads`` is taken as it is.

On Linux a cell's process is forked from a server that has already imported torch, vadbench and the
plugins (``forkserver.py``), which saves each cell the 3-5 s a fresh interpreter spends on imports.
A local GPU pool (``devices``) starts each cell as a fresh interpreter, whose environment shows it
only its device."""

from __future__ import annotations

import importlib.metadata as md
import os
import queue
import re
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from vadbench.sdk import (
    ENTRY_POINT_GROUP,
    ExecutorSpec,
    Options,
    Task,
    hookimpl,
    mark_launched,
    threads_per_cell,
)

from .forkserver import ForkServer, ServerStopped
from .remote import CellRun, report_lost, report_run, request_for, run_cell

_print_lock = threading.Lock()
# What every cell imports: the first optimiser step imports torch._dynamo; scoring a target
# imports scikit-learn's metrics.
_ALWAYS_PRELOADED = ("torch", "torch._dynamo", "sklearn.metrics", "vadbench.harness.jobs")


def _run_in_subprocess(task: Task, gpu: str | None = None, threads: int | None = None) -> None:
    request = request_for(task, threads)
    if gpu is not None:
        environment = {**request.environment, "CUDA_VISIBLE_DEVICES": gpu}
        request = replace(request, environment=environment)
    run = run_cell(request)
    with _print_lock:
        report_run(task, run)


def _preloads() -> list[str]:
    """What the fork server imports: torch, the CLI and the entry-point plugins this driver has
    imported (they import without error; a plugin loaded from a file is not importable by name
    and loads in each cell)."""
    plugins = {entry.module for entry in md.entry_points(group=ENTRY_POINT_GROUP)}
    return [*_ALWAYS_PRELOADED, *sorted(name for name in plugins if name in sys.modules)]


def _run_forked(server: ForkServer, task: Task, threads: int) -> None:
    request = request_for(task, threads)
    host = socket.gethostname()
    if request.progress_file is not None:
        mark_launched(Path(request.progress_file), host)
    with tempfile.NamedTemporaryFile(prefix="vadbench-cell-", suffix=".log") as output:
        try:
            code = server.run(request, output.name)
        except ServerStopped as stopped:
            if stopped.started:  # its orphan may still finish; a re-run settles it
                with _print_lock:
                    report_lost(task, stopped)
            else:
                _run_in_subprocess(task)
            return
        text = Path(output.name).read_text(encoding="utf-8", errors="replace")
    with _print_lock:
        report_run(task, CellRun(code, text, host))


class ProcessesOptions(Options):
    workers: int | None = Field(
        None,
        ge=1,
        description="cells run at once, each in its own process (default: the CPU count)",
    )
    devices: list[str] | None = Field(
        None,
        min_length=1,
        description="a local GPU pool, e.g. [cuda:0, cuda:1]: one cell per device at a time, "
        "each process seeing only its device (CUDA_VISIBLE_DEVICES) as cuda",
    )

    @model_validator(mode="after")
    def _one_cell_per_device(self) -> ProcessesOptions:
        if self.devices is not None and self.workers is not None:
            raise ValueError("with devices, one cell runs per device: leave out workers")
        return self

    @field_validator("devices")
    @classmethod
    def _cuda_devices(cls, devices: list[str] | None) -> list[str] | None:
        for device in devices or []:
            if not re.fullmatch(r"cuda:\d+", device):
                raise ValueError(f"{device!r} is not a GPU; write cuda:0, cuda:1, ...")
        if devices is not None and len(set(devices)) != len(devices):
            raise ValueError("a device is listed twice")
        return devices


def _each_in_a_pool(run: Callable[[Task], None], tasks: Sequence[Task], workers: int) -> None:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(run, task) for task in tasks]:
            future.result()


def execute_in_processes(tasks: Sequence[Task], options: Mapping[str, Any]) -> None:
    settings = ProcessesOptions.model_validate(dict(options))
    if settings.devices is not None:
        free: queue.Queue[str] = queue.Queue()
        for device in settings.devices:
            free.put(device.removeprefix("cuda:"))

        def on_a_free_device(task: Task) -> None:
            gpu = free.get()
            try:
                _run_in_subprocess(task, gpu)
            finally:
                free.put(gpu)

        _each_in_a_pool(on_a_free_device, tasks, len(settings.devices))
        return
    workers = settings.workers or os.cpu_count() or 1
    threads = threads_per_cell(min(workers, len(tasks)))  # unless the matrix sets threads
    if not sys.platform.startswith("linux"):  # forking after importing torch is safe on Linux
        _each_in_a_pool(lambda task: _run_in_subprocess(task, threads=threads), tasks, workers)
        return
    server = ForkServer(_preloads())
    try:
        _each_in_a_pool(lambda task: _run_forked(server, task, threads), tasks, workers)
    finally:
        server.close()


@hookimpl
def vadbench_register_executors(register: Any) -> None:
    register(
        ExecutorSpec(
            name="processes",
            description="run cells in parallel worker processes, or one per GPU of a local pool",
            execute=execute_in_processes,
            options=ProcessesOptions,
        )
    )
