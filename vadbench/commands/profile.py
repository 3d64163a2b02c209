"""``vadbench profile``: efficiency metrics of models at their presets, without training.

Models come from ``plugin[:preset]`` arguments or from a profile file, which can also carry
reference numbers (e.g. a paper's table) to show beside the measured ones::

    name: paper-table3
    device: cpu
    metrics: [params, storage, gmacs, fps, energy]
    metric_options: {fps: {repeats: 3}}
    models:
      zxVAD: {plugin: zxvad, preset: paper}
    reference:
      zxVAD: {params: 8.73, storage: 34.92, gmacs_paper: 43.10}
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vadbench.commands.base import Command
from vadbench.harness.checks import check_metric_options
from vadbench.harness.config import ModelEntry
from vadbench.harness.devices import resolve_device, seed_everything
from vadbench.harness.environment import describe_environment
from vadbench.harness.planning import resolve_model
from vadbench.harness.plugins import Registry
from vadbench.harness.stages.efficiency import measure_efficiency
from vadbench.sdk.contracts import ConfigError, MetricResult
from vadbench.sdk.files import atomic_write_bytes
from vadbench.sdk.leaderboards import format_number
from vadbench.sdk.validation import load_yaml, validation_message


class ProfileFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    device: str = "cpu"
    metrics: list[str] | None = None
    metric_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    models: dict[str, ModelEntry]
    reference: dict[str, dict[str, float]] = Field(default_factory=dict)
    reference_source: str = ""


def read_profile_file(path: Path) -> ProfileFile:
    if not path.is_file():
        raise ConfigError(f"{path}: no such profile file")
    raw = load_yaml(path, "profile file")
    try:
        return ProfileFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(validation_message(path, error)) from error


def profile_from_arguments(specs: Sequence[str], device: str) -> ProfileFile:
    models = {}
    for spec in specs:
        plugin, _, preset = spec.partition(":")
        models[spec] = ModelEntry(plugin=plugin, preset=preset or None)
    return ProfileFile(device=device, models=models)


def run_profile(profile: ProfileFile, registry: Registry, source: Path) -> list[dict[str, Any]]:
    """Build each model at its preset (untrained) and measure the requested efficiency metrics."""
    metrics = [
        registry.metrics.get(name, where=f"{source.name}: metrics")
        for name in profile.metrics or [m.name for m in registry.metrics]
    ]
    efficiency = [m for m in metrics if m.kind == "efficiency"]
    metric_options = check_metric_options(profile.metric_options, registry, source)
    device = resolve_device(profile.device)
    rows = []
    for name, entry in profile.models.items():
        model = resolve_model(name, entry, registry, source)
        seed_everything(0)
        method = model.spec.create(model.options, device)
        results = measure_efficiency(method, efficiency, metric_options)
        rows.append(
            {
                "model": name,
                "plugin": model.spec.name,
                "preset": model.preset,
                "device": device,
                "metrics": [_result_row(r, profile.reference.get(name, {})) for r in results],
            }
        )
    return rows


def _result_row(result: MetricResult, reference: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": result.name,
        "value": result.value,
        "unit": result.unit,
        "higher_is_better": result.higher_is_better,
        "note": result.note,
    }
    if result.name in reference:
        row["reference"] = reference[result.name]
    return row


def profile_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per model; each cell is ``measured`` or ``measured (reference)``."""
    table: dict[str, dict[str, str]] = {}
    for row in rows:
        title = f"{row['model']} ({row['preset']})" if row["preset"] else row["model"]
        cells = table.setdefault(title, {})
        for metric in row["metrics"]:
            column = f"{metric['name']} [{metric['unit']}]" if metric["unit"] else metric["name"]
            value = "n/a" if metric["value"] is None else format_number(metric["value"])
            if "reference" in metric:
                value += f" ({format_number(metric['reference'])})"
            cells[column] = value
    return pd.DataFrame.from_dict(table, orient="index").rename_axis("model")


def profile_notes(rows: list[dict[str, Any]]) -> list[str]:
    notes = []
    for row in rows:
        for metric in row["metrics"]:
            if metric["note"]:
                notes.append(f"{row['model']} {metric['name']}: {metric['note']}")
    return notes


def profile_markdown(rows: list[dict[str, Any]], profile: ProfileFile) -> str:
    """A results file: the table, what the numbers in brackets are, notes and the hardware."""
    table = profile_table(rows)
    header = ["model", *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, values in table.iterrows():
        lines.append("| " + " | ".join([str(index), *map(str, values.fillna(""))]) + " |")
    environment = describe_environment()
    hardware = ", ".join(environment["gpus"]) if environment["gpus"] else environment["cpu"]
    parts = [
        f"# {profile.name or 'profile'}",
        f"Hardware: {hardware} (torch {environment['torch']}, {environment['cpu_threads']} "
        f"CPU threads, device {rows[0]['device'] if rows else profile.device}).",
        "\n".join(lines),
    ]
    if profile.reference:
        parts.append(f"Numbers in brackets: {profile.reference_source or 'reference values'}")
    notes = profile_notes(rows)
    if notes:
        parts.append("Notes:\n" + "\n".join(f"- {note}" for note in notes))
    return "\n\n".join(parts) + "\n"


def profile_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps({"environment": describe_environment(), "rows": rows}, indent=2)


def with_run_settings(
    metric_options: dict[str, dict[str, Any]], settings: dict[str, Any], registry: Registry
) -> dict[str, dict[str, Any]]:
    """``--batch`` and ``--precision`` for every metric whose options take them (those that run
    the model: fps and energy among the built-ins), on top of the profile file's settings."""
    updated = {name: dict(values) for name, values in metric_options.items()}
    for spec in registry.metrics:
        fields = spec.options.model_fields if spec.options is not None else {}
        taken = {name: value for name, value in settings.items() if name in fields}
        if taken:
            updated[spec.name] = {**updated.get(spec.name, {}), **taken}
    return updated


class ProfileCommand(Command):
    name = "profile"
    help = "efficiency metrics of models at their presets, without training"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("models", nargs="*", metavar="PLUGIN[:PRESET]")
        parser.add_argument(
            "--config",
            type=Path,
            help="a profile file (models, references), or a shipped one's name",
        )
        parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, auto")
        parser.add_argument("--metrics", default=None, help="comma-separated metric names")
        parser.add_argument(
            "--batch",
            type=int,
            default=None,
            help="frames per pass, for metrics that run the model",
        )
        parser.add_argument(
            "--precision", choices=("fp32", "bf16"), default=None, help="for metrics that run it"
        )
        parser.add_argument("--format", choices=("table", "json", "markdown"), default="table")
        parser.add_argument("--out", type=Path, help="also write the output to this file")

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        if args.config is not None:
            profile = read_profile_file(args.config)
            source = args.config
            if args.models:
                raise ConfigError("give models either on the command line or in --config, not both")
        elif args.models:
            profile = profile_from_arguments(args.models, "cpu")
            source = Path("command line")
        else:
            raise ConfigError("profile needs PLUGIN[:PRESET] arguments or --config FILE")
        updates: dict[str, Any] = {}
        if args.device:
            updates["device"] = args.device
        if args.metrics:
            updates["metrics"] = [m.strip() for m in args.metrics.split(",") if m.strip()]
        if args.batch is not None and args.batch < 1:
            raise ConfigError(f"--batch must be at least 1, got {args.batch}")
        running = {"batch": args.batch, "precision": args.precision}
        running = {name: value for name, value in running.items() if value is not None}
        if running:
            updates["metric_options"] = with_run_settings(profile.metric_options, running, registry)
        profile = profile.model_copy(update=updates)
        rows = run_profile(profile, registry, source)
        if args.format == "json":
            text = profile_json(rows)
            print(text)
        elif args.format == "markdown":
            text = profile_markdown(rows, profile)
            print(text)
        else:
            text = profile_markdown(rows, profile)
            frame = profile_table(rows)
            table = Table(title=escape(profile.name or "efficiency"), title_justify="left")
            table.add_column("model", style="bold")
            for column in frame.columns:
                table.add_column(escape(str(column)), justify="right")
            for index, values in frame.iterrows():
                table.add_row(escape(str(index)), *(escape(str(v)) for v in values.fillna("")))
            console.print(table)
            for note in profile_notes(rows):
                console.print(f"  {escape(note)}")
        if args.out is not None:
            atomic_write_bytes(args.out, text.encode())
            console.print(f"wrote {args.out}")
        return 0
