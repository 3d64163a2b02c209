"""``vadbench zoo``: the shipped checkpoints (what each holds, how it was trained, whether its
files are intact), and ``vadbench zoo export`` to add a finished cell of a run to a zoo folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vadbench.commands.base import Command
from vadbench.harness.jobs import CellJob, resolve_job
from vadbench.harness.plugins import Registry
from vadbench.harness.store import RunStore
from vadbench.sdk.contracts import ConfigError
from vadbench.sdk.files import read_record, read_stored
from vadbench.sdk.leaderboards import format_number
from vadbench.sdk.learning import LEARNING_FILE, read_curve
from vadbench.sdk.zoo import ZooEntry, ZooSeed, export_checkpoint, read_entry, verified_files


class ZooCommand(Command):
    name = "zoo"
    help = "the checkpoint zoo: list and verify shipped checkpoints, export a run's cell"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION")
        actions.add_parser("list", help="every shipped checkpoint, its files verified")
        export = actions.add_parser("export", help="add a finished cell to a zoo folder")
        export.add_argument("cell", type=Path, help="the cell's folder in a run (cells/<id>)")
        export.add_argument("--name", required=True, help="the entry's name (zoo:NAME)")
        export.add_argument("--into", type=Path, required=True, help="the zoo folder")
        export.add_argument("--description", default="", help="one line on what it is")

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        if args.action == "export":
            return export_cell(args.cell, args.name, args.into, args.description, registry, console)
        return list_zoo(registry, console)


def list_zoo(registry: Registry, console: Console) -> int:
    """A table of every registered checkpoint; exit code 2 when any has a damaged file."""
    table = Table(title="checkpoint zoo")
    for column in ("name", "model", "trained on", "seeds", "steps, skill", "files", "reproduce"):
        table.add_column(column)
    damaged = 0
    for spec in registry.checkpoints:
        entry = read_entry(spec)
        state = "ok"
        for seed in entry.seeds():
            try:
                verified_files(_seed(entry, seed))
            except ConfigError as error:
                state, damaged = f"DAMAGED: {error}", damaged + 1
        model = entry.model
        table.add_row(
            escape(entry.reference),
            escape(f"{model['plugin']} ({model.get('preset') or 'options'}) v{model['version']}"),
            escape(_source(entry)),
            ", ".join(str(seed) for seed in entry.seeds()),
            escape(_curves(entry)),
            escape(state),
            escape(entry.command),
        )
    console.print(table)
    return 2 if damaged else 0


def _seed(entry: ZooEntry, seed: int) -> ZooSeed:
    record = entry.record
    return entry.seed_checkpoint(seed, record["train"], record.get("aux"), False, entry.reference)


def _source(entry: ZooEntry) -> str:
    train = entry.record["train"]
    aux = entry.record.get("aux")
    text = f"{train.get('plugin')} {train.get('domain', train.get('root', ''))}".strip()
    if aux:
        text += f" + {aux.get('plugin')} {aux.get('domain', aux.get('root', ''))}".rstrip()
    return text


def _curves(entry: ZooEntry) -> str:
    """Each seed's training length, why it stopped and its skill, from its learning curve."""
    parts = []
    for seed in entry.seeds():
        curve = read_curve(_seed(entry, seed).folder / LEARNING_FILE)
        if curve is None:
            parts.append(f"seed {seed}: no curve")
            continue
        skill = "n/a" if curve.skill is None else format_number(curve.skill)
        parts.append(f"seed {seed}: {curve.steps} ({curve.stopped}), {skill}")
    return "; ".join(parts)


def export_cell(
    cell_dir: Path, name: str, into: Path, description: str, registry: Registry, console: Console
) -> int:
    """Add a finished cell's checkpoint to the zoo folder ``into`` as ``name``, after checking
    the installed plugins still hash it as the run planned."""
    run_dir = cell_dir.absolute().parent.parent
    store = RunStore(run_dir, confined=False)
    cell_id = cell_dir.name
    job_file = store.job_file(cell_id)
    if not job_file.is_file():
        raise ConfigError(f"{cell_dir}: not a cell of a vadbench run (no job.json)")
    job = CellJob.from_json(read_stored(job_file).decode(), str(job_file))
    if not store.finished_checkpoint(cell_id, job.cell_hash):
        raise ConfigError(f"{cell_dir}: the cell has no finished checkpoint to export")
    if job.model.get("checkpoint"):
        loaded = job.model["checkpoint"]
        raise ConfigError(f"{cell_dir}: the cell loaded {loaded}; export the cell that trained it")
    cell, _ = resolve_job(job, registry, job_file)
    run = read_record(store.run_file) or {}
    command = f"vadbench run {run.get('matrix_file', '<matrix>')} --only {cell_id}"
    described = json.loads(job.to_json())
    described["model"]["version"] = cell.model.spec.version
    entry = export_checkpoint(
        store.checkpoint_dir(cell_id), described, into, name, description, command
    )
    console.print(f"exported {escape(cell_id)} as zoo:{escape(name)} → {escape(str(entry))}")
    return 0
