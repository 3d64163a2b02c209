"""The ``slurm`` executor: runs cells as SLURM jobs through submitit, one job array per run.

Each array task runs one cell's planned job (``python -m vadbench.harness.worker JOB.json``) in a
subprocess (``remote.run_cell``), from the driver's working folder, which every node must see
(as the results folder and the submitit folder). ``cluster: local`` runs the same jobs as
processes of this machine, ``cluster: debug`` one after another in this process. A job that
fails or times out loses that cell only: the driver names it and goes on, and a re-run
finishes it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from vadbench.sdk import ConfigError, ExecutorSpec, Options, Task, hookimpl

from .remote import report_finished, request_for, run_cell


class SlurmOptions(Options):
    cluster: Literal["slurm", "local", "debug"] = Field(
        "slurm",
        description="where jobs run: slurm; local (processes of this machine, all at once); "
        "debug (in this process, one after another)",
    )
    folder: str = Field(
        ".submitit",
        min_length=1,
        description="submitit's folder for job scripts and logs, relative to the current "
        "folder; every node must see it (%j: the job id)",
    )
    partition: str | None = Field(None, min_length=1, description="SLURM partition")
    gpus_per_node: int | None = Field(None, ge=0, description="GPUs per job")
    cpus_per_task: int | None = Field(None, ge=1, description="CPU cores per job")
    mem_gb: float | None = Field(None, gt=0, description="memory per job, in GB")
    timeout_min: int = Field(
        24 * 60, ge=1, description="time limit of each job, in minutes (one cell per job)"
    )
    array_parallelism: int | None = Field(
        None, ge=1, description="array tasks that run at once (default: submitit's, 256)"
    )
    setup: list[str] = Field(
        default_factory=list,
        description="shell lines each job runs first (module load ..., source venv/bin/activate)",
    )
    additional_parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="further sbatch settings, e.g. {account: proj, qos: high, constraint: a100}",
    )


# How often the driver looks for ended jobs; submitit rate-limits its sacct calls on its own.
POLL_SECONDS = 1.0


def execute_on_slurm(tasks: Sequence[Task], options: Mapping[str, Any]) -> None:
    settings = SlurmOptions.model_validate(dict(options))
    if not tasks:
        return
    if settings.cluster == "slurm" and shutil.which("srun") is None:
        # Checked here, not with the options: those are checked where the run is planned, which
        # may be a machine without SLURM's commands (a container).
        raise ConfigError(
            "executor_options.cluster: slurm needs SLURM's sbatch and srun, and this machine has "
            "none; run vadbench on a login node of the cluster, or use cluster: local"
        )
    # Imported here: every vadbench process (each cell's too) loads this plugin.
    import submitit
    from submitit.helpers import as_completed, clean_env

    executor = submitit.AutoExecutor(folder=settings.folder, cluster=settings.cluster)
    executor.update_parameters(
        name="vadbench",
        timeout_min=settings.timeout_min,
        gpus_per_node=settings.gpus_per_node,
        cpus_per_task=settings.cpus_per_task,
        mem_gb=settings.mem_gb,
        slurm_partition=settings.partition,
        slurm_array_parallelism=settings.array_parallelism,
        slurm_additional_parameters=settings.additional_parameters or None,
        slurm_setup=settings.setup or None,
        local_setup=settings.setup or None,
    )
    requests = [request_for(task) for task in tasks]
    # A driver that runs inside a SLURM job of its own (to measure efficiency on a GPU node)
    # must not hand its allocation's variables down to the array.
    with clean_env():
        jobs = executor.map_array(run_cell, requests)
    tasks_by_job = dict(zip(jobs, tasks, strict=True))
    finished = as_completed(jobs, poll_frequency=POLL_SECONDS)
    report_finished((tasks_by_job[job], job) for job in finished)


@hookimpl
def vadbench_register_executors(register: Any) -> None:
    register(
        ExecutorSpec(
            name="slurm",
            description="run cells as a SLURM job array through submitit (executor_options: "
            "partition, gpus_per_node, timeout_min, array_parallelism, cluster, ...)",
            execute=execute_on_slurm,
            options=SlurmOptions,
        )
    )
