"""The ``processes`` executor: runs cells in parallel worker processes on this machine.

Each cell runs as ``python -m vadbench.cli run MATRIX --only CELL`` in its own process, so cells
share nothing but the results folder (every write there is atomic) and the data cache (written
atomically too). A worker's output is printed when its cell ends, so lines never interleave.
Set ``threads`` in the matrix so that workers × threads does not exceed the cores.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from pydantic import Field, field_validator, model_validator

from vadbench.api import ExecutorSpec, Options, Task
from vadbench.hookspecs import hookimpl

from .remote import report_run, request_for, run_cell

_print_lock = threading.Lock()


def _run_in_subprocess(task: Task, gpu: str | None = None) -> None:
    request = request_for(task)
    if gpu is not None:
        environment = {**request.environment, "CUDA_VISIBLE_DEVICES": gpu}
        request = replace(request, environment=environment)
    run = run_cell(request)
    with _print_lock:
        report_run(task, run)


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


def execute_in_processes(tasks: Sequence[Task], options: Mapping[str, Any]) -> None:
    settings = ProcessesOptions.model_validate(dict(options))
    if settings.devices is None:
        with ThreadPoolExecutor(max_workers=settings.workers or os.cpu_count() or 1) as pool:
            for future in [pool.submit(_run_in_subprocess, task) for task in tasks]:
                future.result()
        return
    free: queue.Queue[str] = queue.Queue()
    for device in settings.devices:
        free.put(device.removeprefix("cuda:"))

    def on_a_free_device(task: Task) -> None:
        gpu = free.get()
        try:
            _run_in_subprocess(task, gpu)
        finally:
            free.put(gpu)

    with ThreadPoolExecutor(max_workers=free.qsize()) as pool:
        for future in [pool.submit(on_a_free_device, task) for task in tasks]:
            future.result()


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
