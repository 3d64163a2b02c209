"""The ``dask`` executor: runs cells on a dask.distributed cluster.

Each cell is one task, its planned job (``python -m vadbench.harness.worker JOB.json``) run in a
subprocess of
a worker (``remote.run_cell``). With ``address`` the cells go to a running scheduler; without it
a ``LocalCluster`` of ``workers`` threads in this process is started for the run and closed after
it: every cell is its own subprocess anyway, so worker processes would only add processes to
start and a nanny whose settings leak into cells. A worker that dies mid-cell loses that cell
only: dask reschedules it up to the scheduler's ``allowed-failures``, then the driver names it and
goes on, and a re-run finishes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Any

from pydantic import Field, model_validator

from vadbench.sdk import ConfigError, ExecutorSpec, Options, Task, hookimpl

from .remote import report_finished, request_for, run_cell


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
    from distributed import Client, LocalCluster, as_completed

    requests = {task.key: request_for(task) for task in tasks}
    with ExitStack() as stack:
        if settings.address is not None:
            try:
                client = stack.enter_context(Client(settings.address))
            except OSError as error:  # refused, or no answer within dask's connect timeout
                raise ConfigError(
                    f"executor_options.address: no dask scheduler answers at "
                    f"{settings.address} ({error})"
                ) from error
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=settings.workers or os.cpu_count() or 1,
                    threads_per_worker=settings.threads_per_worker or 1,
                    processes=False,
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        futures = {client.submit(run_cell, requests[task.key], pure=False): task for task in tasks}
        report_finished((futures[future], future) for future in as_completed(futures))


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
