"""A cell as a self-contained job: the plan's resolved cell, the entries of its datasets with
their fingerprints, the run's settings and the plugins to load, as plain data (JSON or pickle).

The driver plans a run once and hands each cell to its executor as a job; wherever the job
runs (this process, a worker process, a Dask worker, a SLURM node), ``run_job`` loads the
plugins, opens only that cell's datasets, checks that the data and the model still hash to what
was planned, and walks the cell's stages. The matrix file is never read again, so editing it
while a run goes on changes nothing for that run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from vadbench.harness.config import BudgetEntry, DatasetEntry, HeldOutEntry, validate_options
from vadbench.harness.devices import resolve_device
from vadbench.harness.hashing import as_json
from vadbench.harness.planning import (
    Cell,
    OpenedDataset,
    Plan,
    ResolvedModel,
    model_cell_hash,
    open_dataset,
    planned_target,
    zoo_entry,
)
from vadbench.harness.plugins import Registry, load_plugins
from vadbench.harness.progress import FileProgress
from vadbench.harness.stages.cell import describe_outcome, run_cell
from vadbench.harness.stages.context import CellOutcome, StageContext
from vadbench.harness.store import RunStore
from vadbench.sdk.contracts import ConfigError, Progress
from vadbench.sdk.protocol import DEFAULT_PROTOCOL, EvaluationProtocol
from vadbench.sdk.workers import THREADS_ENVIRONMENT

JOB_FORMAT = 1
WORKER_MODULE = "vadbench.harness.worker"


@dataclass(frozen=True)
class CellJob:
    """One planned cell of a run, as plain data that any process with vadbench, the data and
    the shared results folder can run (``run_job``)."""

    run_dir: str
    cell_id: str
    cell_hash: str
    model: dict[str, Any]
    train: str
    aux: str | None
    seed: int
    adaptation: bool
    targets: list[dict[str, Any]]
    datasets: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    plugin_files: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    force: bool = False
    cwd: str = "."
    format: int = JOB_FORMAT

    @classmethod
    def of(
        cls,
        plan: Plan,
        cell: Cell,
        run_dir: Path,
        plugin_files: list[Path],
        blocked: list[str],
        force: bool = False,
    ) -> CellJob:
        names = {cell.train, *([cell.aux] if cell.aux else []), *(t.dataset for t in cell.targets)}
        budget = plan.matrix.budget
        return cls(
            run_dir=str(run_dir.absolute()),
            cell_id=cell.id,
            cell_hash=cell.hash,
            model={
                "name": cell.model.name,
                "plugin": cell.model.spec.name,
                "preset": cell.model.preset,
                "options": cell.model.options.model_dump(mode="json"),
                "checkpoint": cell.model.checkpoint.reference if cell.model.checkpoint else None,
            },
            train=cell.train,
            aux=cell.aux,
            seed=cell.seed,
            adaptation=cell.adaptation,
            targets=[
                {"dataset": t.dataset, "protocol": t.protocol, "shots": t.shots, "hash": t.hash}
                for t in cell.targets
            ],
            datasets={
                name: {
                    "plugin": plan.datasets[name].plugin,
                    "options": plan.matrix.datasets[name].options,
                    "fingerprint": as_json(plan.datasets[name].fingerprint),
                }
                for name in sorted(names)
            },
            settings={
                "device": plan.matrix.device,
                "precision": plan.precision,
                "score_precision": plan.score_precision,
                "budget": budget.model_dump(exclude_none=True) if budget else None,
                "held_out": plan.matrix.held_out.model_dump(),
                "snapshots": plan.matrix.snapshots,
                "detection_metrics": [m.name for m in plan.detection_metrics],
                "evaluation": plan.evaluation.model_dump(),
                "threads": plan.matrix.threads,
            },
            plugin_files=[str(path.absolute()) for path in plugin_files],
            blocked=list(blocked),
            force=force,
            cwd=str(Path.cwd()),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=str)

    @classmethod
    def from_json(cls, text: str, where: str) -> CellJob:
        """A job read back; one that is not a job of this vadbench is a ConfigError."""
        try:
            fields = json.loads(text)
            if fields.get("format") != JOB_FORMAT:
                raise ValueError(f"job format {fields.get('format')!r}, expected {JOB_FORMAT}")
            return cls(**fields)
        except (ValueError, TypeError, AttributeError) as error:
            raise ConfigError(f"{where}: not a vadbench cell job ({error})") from error

    def command(self, job_file: Path) -> tuple[str, ...]:
        """The Python arguments that run this job, stored in ``job_file``, in a fresh process."""
        return ("-m", WORKER_MODULE, str(job_file.absolute()))


def resolve_job(
    job: CellJob,
    registry: Registry,
    where: Path,
    opened: Mapping[str, OpenedDataset] | None = None,
) -> tuple[Cell, dict[str, OpenedDataset]]:
    """The job's cell, its model resolved against ``registry`` and its datasets opened (or
    taken from ``opened``), after checking that every hash is the planned one: a plugin or data
    that changed since the run was planned is a ConfigError, never a result under a stale hash."""
    datasets = {
        name: opened[name]
        if opened is not None
        else open_dataset(
            name, DatasetEntry(plugin=entry["plugin"], options=entry["options"]), registry, where
        )
        for name, entry in job.datasets.items()
    }
    for name, entry in job.datasets.items():
        if as_json(datasets[name].fingerprint) != entry["fingerprint"]:
            raise ConfigError(
                f"{where}: dataset {name!r} is not the data the run planned with (its "
                "fingerprint changed); run the matrix again to plan it anew"
            )
    spec = registry.models.get(job.model["plugin"], where=f"{where}: model")
    options = validate_options(spec.options, job.model["options"], where, ("model", "options"))
    reference = job.model.get("checkpoint")
    zoo = zoo_entry(reference, spec, options, registry, f"{where}: model") if reference else None
    model = ResolvedModel(job.model["name"], spec, job.model["preset"], options, zoo)
    settings = job.settings
    hashed, checkpoint = model_cell_hash(
        model,
        job.datasets[job.train]["fingerprint"],
        job.datasets[job.aux]["fingerprint"] if job.aux else None,
        job.seed,
        settings["device"],
        settings["budget"],
        job.adaptation,
        settings["precision"],
        settings["held_out"],
        f"{where}: model",
    )
    cell = Cell(
        job.cell_id, hashed, model, job.train, job.aux, job.seed, [], job.adaptation, checkpoint
    )
    own_scoring = settings["score_precision"] != settings["precision"]
    maps = any(registry.metrics.get(name).needs_maps for name in settings["detection_metrics"])
    for planned in job.targets:
        cell.targets.append(
            planned_target(
                hashed,
                planned["dataset"],
                job.datasets[planned["dataset"]]["fingerprint"],
                planned["protocol"],
                planned["shots"],
                settings["score_precision"] if own_scoring else None,
                settings["detection_metrics"],
                job_evaluation(job),
                maps,
            )
        )
    found = [hashed, *(t.hash for t in cell.targets)]
    expected = [job.cell_hash, *(t["hash"] for t in job.targets)]
    if found != expected:
        raise ConfigError(
            f"{where}: cell {job.cell_id} no longer hashes as planned (a plugin's version or "
            "options changed since); run the matrix again to plan it anew"
        )
    return cell, datasets


def stage_context(
    job: CellJob,
    registry: Registry,
    datasets: Mapping[str, OpenedDataset],
    progress: Progress,
) -> StageContext:
    """What the job's stages share. A job measures no efficiency: the driver does, one cell at
    a time, after parallel work."""
    settings = job.settings
    threads = settings["threads"] or os.environ.get(THREADS_ENVIRONMENT)
    if threads:  # the matrix's threads, else the executor's share of the cores
        torch.set_num_threads(int(threads))
    budget = settings["budget"]
    return StageContext(
        store=RunStore(Path(job.run_dir)),
        progress=progress,
        device=resolve_device(settings["device"]),
        datasets=datasets,
        detection_metrics=[registry.metrics.get(name) for name in settings["detection_metrics"]],
        efficiency_metrics=[],
        precision=settings["precision"],
        score_precision=settings["score_precision"],
        budget=BudgetEntry.model_validate(budget).budget() if budget else None,
        held_out=HeldOutEntry.model_validate(settings["held_out"]),
        snapshots=frozenset(settings["snapshots"]),
        force=job.force,
        efficiency=False,
        evaluation=job_evaluation(job),
    )


def job_evaluation(job: CellJob) -> EvaluationProtocol:
    """The evaluation protocol the job's run planned with (FFP's for jobs from before runs
    chose one)."""
    settings = job.settings.get("evaluation")
    return EvaluationProtocol.model_validate(settings) if settings else DEFAULT_PROTOCOL


def execute_job(
    job: CellJob,
    where: Path,
    console: Console,
    registry: Registry | None = None,
    opened: Mapping[str, OpenedDataset] | None = None,
    progress: Progress | None = None,
) -> CellOutcome:
    """Walk the job's cell. A driver running it in its own process passes the plugins and the
    datasets it opened while planning, and its progress bars; a worker loads and opens its own
    and reports to the cell's progress file."""
    registry = registry or load_plugins([Path(p) for p in job.plugin_files], job.blocked)
    cell, datasets = resolve_job(job, registry, where, opened)
    store = RunStore(Path(job.run_dir))
    progress_file = store.progress_file(cell.id)
    reporter = progress or FileProgress(progress_file)
    if progress is None:  # the driver shows a worker's cell from its first record
        reporter.task("starting (data, model)", None)
    started = time.perf_counter()
    try:
        outcome = run_cell(cell, stage_context(job, registry, datasets, reporter))
    finally:
        if progress is None:
            progress_file.unlink(missing_ok=True)
    console.print(describe_outcome(outcome, time.perf_counter() - started))
    return outcome
