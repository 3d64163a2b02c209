"""The ``dask`` executor: runs cells on a dask.distributed cluster.

Each cell is one task, ``python -m vadbench.cli run MATRIX --only CELL`` run in a subprocess of
a worker (``remote.run_cell``). With ``address`` the cells go to a running scheduler; without it
a ``LocalCluster`` of ``workers`` processes is started for the run and closed after it. A worker
that dies mid-cell loses that cell only: dask reschedules it up to the scheduler's
``allowed-failures``, then the driver names it and goes on, and a re-run finishes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Any

from pydantic import Field, model_validator

from vadbench.api import ConfigError, ExecutorSpec, Options, Task
from vadbench.hookspecs import hookimpl

from .remote import report_lost, report_run, request_for, run_cell


class DaskOptions(Options):
    address: str | None = Field(
        None,
        min_length=1,
        description="scheduler to send cells to (tcp://host:8786); without it a local cluster "
        "is started for the run",
    )
    workers: int | None = Field(
        None, ge=1, description="worker processes of the local cluster (default: the CPU count)"
    )
    threads_per_worker: int | None = Field(
        None, ge=1, description="cells each local worker runs at once (default: 1)"
    )

    @model_validator(mode="after")
    def _local_sizes_need_a_local_cluster(self) -> DaskOptions:
        # A cluster at an address is sized where it is started; silently ignoring the sizes
        # would run a different layout than the matrix says.
        if self.address is not None and (
            self.workers is not None or self.threads_per_worker is not None
        ):
            raise ValueError(
                "workers and threads_per_worker size the local cluster; with address, size the "
                "cluster where its workers are started"
            )
        return self


def execute_on_dask(tasks: Sequence[Task], options: Mapping[str, Any]) -> None:
    settings = DaskOptions.model_validate(dict(options))
    if not tasks:
        return
    # Imported here: every vadbench process (each cell's too) loads this plugin, and
    # distributed takes a while to import.
    import dask
    from distributed import Client, LocalCluster, as_completed

    # Before any cluster starts: a LocalCluster's nanny writes its workers' settings
    # (MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS, ...) into this process's environment, and the
    # cells must run with the driver's own (remote.DRIVER_PROCESS_SETTINGS).
    requests = {task.key: request_for(task) for task in tasks}
    saved_environment = dict(os.environ)
    with ExitStack() as stack:
        stack.callback(_restore_environment, saved_environment)
        if settings.address is not None:
            try:
                client = stack.enter_context(Client(settings.address))
            except OSError as error:  # refused, or no answer within dask's connect timeout
                raise ConfigError(
                    f"executor_options.address: no dask scheduler answers at "
                    f"{settings.address} ({error})"
                ) from error
        else:
            # One cell per worker thread, none queued on a worker: a cell queued behind a long
            # one waits there while another worker idles (dask's default saturation of 1.1
            # gives each one-thread worker two cells).
            stack.enter_context(dask.config.set({"distributed.scheduler.worker-saturation": 1.0}))
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=settings.workers,
                    threads_per_worker=settings.threads_per_worker or 1,
                    processes=True,
                )
            )
            client = stack.enter_context(Client(cluster))
        futures = {client.submit(run_cell, requests[task.key], pure=False): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                run = future.result()
            except Exception as error:  # a lost worker, a cancelled task: this cell only
                report_lost(task, error)
                continue
            report_run(task, run)


def _restore_environment(saved: dict[str, str]) -> None:
    """Undo what starting a local cluster wrote into this process's environment."""
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    os.environ.update(saved)


@hookimpl
def vadbench_register_executors(register: Any) -> None:
    register(
        ExecutorSpec(
            name="dask",
            description="run cells on a dask.distributed cluster, or a local one "
            "(executor_options: address, workers, threads_per_worker)",
            execute=execute_on_dask,
            options=DaskOptions,
        )
    )
