"""The command line: ``vadbench run | report | list | plugins`` and the commands plugins add.

Errors meant for the user print as one line (a traceback only with ``--debug``). Exit codes:
0 all good, 1 some cells failed, 2 a configuration or plugin error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vadbench.api import ConfigError, VadbenchError
from vadbench.check import check_matrix
from vadbench.config import read_matrix
from vadbench.console import TolerantStream, make_console, show_warnings_as_lines
from vadbench.describe import describe_command
from vadbench.detect import configure as configure_detect
from vadbench.detect import run_detect
from vadbench.framecache import BUDGET_ENVIRONMENT, cache_dir, clear_cache, summarise_cache
from vadbench.plugins import HOOK_TO_KIND, Registry, did_you_mean, load_plugins
from vadbench.profile import (
    profile_from_arguments,
    profile_json,
    profile_markdown,
    profile_notes,
    profile_table,
    read_profile_file,
    run_profile,
)
from vadbench.run import RunOptions, render_reports, run_matrix
from vadbench.store import atomic_write_bytes

LIST_KINDS = ("models", "datasets", "metrics", "reporters", "executors", "commands", "benchmarks")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="load a local plugin file (repeatable)",
    )
    parser.add_argument(
        "--block", action="append", default=[], metavar="NAME", help="turn a plugin off"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vadbench", description="Cross-domain video anomaly detection benchmarks."
    )
    _common(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a matrix.yaml, skipping finished work")
    _common(run)
    run.add_argument(
        "matrix", type=Path, help="a matrix file, or a shipped benchmark's name (list benchmarks)"
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="FIELD.PATH=VALUE",
        help="override a matrix field, e.g. datasets.ped2.options.root=/data/ped2 (repeatable)",
    )
    run.add_argument("--force", action="store_true", help="recompute finished cells")
    run.add_argument(
        "--only", action="append", default=[], metavar="CELL", help="run only this cell"
    )
    run.add_argument(
        "--no-efficiency", action="store_true", help="leave efficiency metrics for later"
    )
    run.add_argument(
        "--results-dir",
        type=Path,
        default=Path("results"),
        help="folder holding run folders (default: results)",
    )

    report = commands.add_parser("report", help="re-render leaderboards from a run folder")
    _common(report)
    report.add_argument("run_dir", type=Path)
    report.add_argument(
        "--reporter", action="append", default=None, help="reporters (default: the run's own)"
    )

    detect = commands.add_parser(
        "detect", help="score your own videos with a trained model: CSV, plot, segments, video"
    )
    _common(detect)
    configure_detect(detect)

    profile = commands.add_parser(
        "profile", help="efficiency metrics of models at their presets, without training"
    )
    _common(profile)
    profile.add_argument("models", nargs="*", metavar="PLUGIN[:PRESET]")
    profile.add_argument(
        "--config", type=Path, help="a profile file (models, references), or a shipped one's name"
    )
    profile.add_argument("--device", default=None, help="cpu, cuda, cuda:1, auto")
    profile.add_argument("--metrics", default=None, help="comma-separated metric names")
    profile.add_argument(
        "--batch", type=int, default=None, help="frames per pass, for metrics that run the model"
    )
    profile.add_argument(
        "--precision", choices=("fp32", "bf16"), default=None, help="for metrics that run it"
    )
    profile.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    profile.add_argument("--out", type=Path, help="also write the output to this file")

    describe = commands.add_parser("describe", help="a plugin's options, defaults and presets")
    _common(describe)
    describe.add_argument(
        "kind_or_name", metavar="[KIND] NAME", help="e.g. zxvad, or models zxvad if ambiguous"
    )
    describe.add_argument("name", nargs="?", help=argparse.SUPPRESS)
    describe.add_argument("--format", choices=("table", "json"), default="table")

    check = commands.add_parser(
        "check",
        help="check a matrix's data (every split it reads) and count the work, training nothing",
    )
    _common(check)
    check.add_argument(
        "matrix", type=Path, help="a matrix file, or a shipped benchmark's name (list benchmarks)"
    )
    check.add_argument(
        "--set", action="append", default=[], dest="overrides", metavar="FIELD.PATH=VALUE"
    )

    listing = commands.add_parser("list", help="list what plugins registered")
    _common(listing)
    listing.add_argument("kind", choices=LIST_KINDS)

    plugins = commands.add_parser("plugins", help="list loaded plugins")
    _common(plugins)

    cache = commands.add_parser("cache", help="the decoded-frame cache: size, budget, clear")
    _common(cache)
    cache.add_argument("--clear", action="store_true", help="delete every cached frame")

    for spec in registry.commands:
        sub = commands.add_parser(spec.name, help=spec.help)
        _common(sub)
        spec.configure(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    standard_output = sys.stdout
    sys.stdout = TolerantStream(standard_output)
    try:
        return _main(argv, debug)
    finally:
        sys.stdout = standard_output


def _main(argv: list[str], debug: bool) -> int:
    console = make_console()
    with warnings.catch_warnings():
        show_warnings_as_lines(console)
        try:
            argv = resolve_benchmark_names(argv)
            local_files, blocked, matrix_file, overrides = _prescan(argv)
            if matrix_file is not None:
                _, matrix = read_matrix(matrix_file, overrides)
                local_files += [matrix_file.parent / p for p in matrix.plugins]
                blocked += matrix.block_plugins
            registry = load_plugins(local_files, blocked)
            args = build_parser(registry).parse_args(argv)
            return _dispatch(args, registry, console)
        except VadbenchError as error:
            if debug:
                traceback.print_exc()
            console.print(f"[bold red]error:[/] {escape(str(error))}", markup=True, highlight=False)
            return error.exit_code
        except KeyboardInterrupt:
            console.print("interrupted: finished results are stored; run again to resume")
            return 130


def resolve_benchmark_names(argv: list[str]) -> list[str]:
    """``run NAME``, ``check NAME`` and ``profile --config NAME`` with the name of a shipped
    benchmark instead of a file: the argument becomes that benchmark's file. An existing path
    always wins, so files keep working as before; a missing file that looks like a name (no
    folder, no suffix) is an error listing the benchmarks."""
    positional = _positional_indices(argv)
    command = argv[positional[0]] if positional else None
    if command in ("run", "check") and len(positional) > 1:
        index, kind = positional[1], "matrix"
    elif command == "profile" and "--config" in argv[:-1]:
        index, kind = argv.index("--config") + 1, "profile"
    else:
        return argv
    word = argv[index]
    if Path(word).exists() or "/" in word or Path(word).suffix:
        return argv
    benchmarks = load_plugins().benchmarks
    if word not in benchmarks.items:
        known = ", ".join(sorted(benchmarks.items)) or "none"
        hint = did_you_mean(word, benchmarks.items)
        raise ConfigError(f"no file {word!r} and no shipped benchmark of that name{hint} ({known})")
    spec = benchmarks.items[word]
    if spec.kind != kind:
        command = "vadbench run" if spec.kind == "matrix" else "vadbench profile --config"
        raise ConfigError(f"benchmark {word!r} is a {spec.kind} file: use {command} {word}")
    return [*argv[:index], str(spec.path), *argv[index + 1 :]]


VALUE_FLAGS = ("--plugin", "--block", "--results-dir", "--set", "--only", "--config")


def _positional_indices(argv: list[str]) -> list[int]:
    """Where the command and its positional arguments are, skipping the values of the flags
    that take one (``--set X=Y`` as well as ``--set=X=Y``)."""
    indices = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in VALUE_FLAGS:
            index += 1
        elif not word.startswith("-"):
            indices.append(index)
        index += 1
    return indices


def _prescan(argv: list[str]) -> tuple[list[Path], list[str], Path | None, list[str]]:
    """Plugin files, blocked names, the matrix of a ``run`` or ``check`` and its ``--set``
    overrides: needed before full parsing, because plugins add commands and options to the
    parser."""
    plugins: list[Path] = []
    blocked: list[str] = []
    overrides: list[str] = []
    positional: list[str] = []
    words = iter(argv)
    for word in words:
        flag, has_value, value = word.partition("=")
        if flag in VALUE_FLAGS:
            value = value if has_value else next(words, "")
            if flag == "--plugin":
                plugins.append(Path(value))
            elif flag == "--block":
                blocked.append(value)
            elif flag == "--set":
                overrides.append(value)
        elif not word.startswith("-"):
            positional.append(word)
    reads_matrix = len(positional) > 1 and positional[0] in ("run", "check")
    matrix = Path(positional[1]) if reads_matrix else None
    return plugins, blocked, matrix, overrides


def _dispatch(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    if args.command == "run":
        return _run(args, registry, console)
    if args.command == "report":
        return render_reports(args.run_dir, args.reporter, registry, console)
    if args.command == "detect":
        return run_detect(args, registry, console)
    if args.command == "profile":
        return _profile(args, registry, console)
    if args.command == "describe":
        return describe_command(registry, args.kind_or_name, args.name, args.format, console)
    if args.command == "check":
        return _check(args.matrix, args.overrides, registry, console)
    if args.command == "list":
        return _list(args.kind, registry, console)
    if args.command == "plugins":
        return _plugins(registry, console)
    if args.command == "cache":
        return _cache(args.clear, console)
    return registry.commands.get(args.command).run(args, registry)


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


def _run(args: argparse.Namespace, registry: Registry, console: Console) -> int:
    summary = run_matrix(
        args.matrix,
        RunOptions(
            results_dir=args.results_dir,
            overrides=tuple(args.overrides),
            plugin_files=tuple(args.plugin),
            blocked=tuple(args.block),
            force=args.force,
            efficiency=not args.no_efficiency,
        ),
        only=args.only,
        registry=registry,
        console=console,
    )
    return summary.exit_code


def _profile(args: argparse.Namespace, registry: Registry, console: Console) -> int:
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


def _check(matrix: Path, overrides: list[str], registry: Registry, console: Console) -> int:
    report = check_matrix(matrix, registry, overrides)
    table = Table(title=f"data of {escape(matrix.name)}", title_justify="left")
    for column in ("dataset", "split", "videos", "frames", "abnormal", "status"):
        table.add_column(column, justify="right" if column in ("videos", "frames") else "left")
    for split in report.splits:
        abnormal = ""
        if split.split == "test" and split.frames:
            abnormal = f"{split.abnormal_frames / split.frames:.1%}"
        status = "ok" if split.ok else "[red]problem[/]"
        if split.ok and split.warnings:
            status = "[yellow]ok, with warnings[/]"
        table.add_row(
            escape(split.dataset),
            split.split,
            str(split.videos) if split.ok else "",
            f"{split.frames:,}" if split.ok else "",
            abnormal if split.ok else "",
            status,
        )
    console.print(table)
    for split in report.splits:
        for warning in split.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}")
    work = report.work()
    if work:
        console.print(
            f"work: {work['cells']} cell(s), {work['target_evaluations']} target evaluation(s), "
            f"{work['test_frames_scored']:,} test frames to score"
        )
        for model, length in sorted(work["training"].items()):
            steps = ", ".join(f"{name} {value}" for name, value in length.items())
            console.print(f"  {escape(model)}: {escape(steps or 'no steps option')}")
    problems = [s for s in report.splits if not s.ok]
    for split in problems:
        where = f"datasets.{split.dataset} ({split.split} split, read by {split.needed_by})"
        console.print(f"[bold red]error:[/] {escape(where)}: {escape(split.problem)}")
    if report.plan_problem:
        console.print(f"[bold red]error:[/] {escape(report.plan_problem)}")
    return 0 if report.ok else 2


def _list(kind: str, registry: Registry, console: Console) -> int:
    table = Table(title=f"registered {kind}")
    table.add_column("name")
    table.add_column("plugin")
    table.add_column("description")
    extra = kind in ("datasets", "models", "benchmarks")
    if extra:
        table.add_column({"datasets": "layout", "models": "presets"}.get(kind, "kind, file"))
    for spec in registry.catalog(kind):
        row = [spec.name, spec.origin, getattr(spec, "description", getattr(spec, "help", ""))]
        row = [escape(str(cell)) for cell in row]
        if kind == "datasets":
            row.append(escape(spec.layout))
        elif kind == "models":
            row.append(", ".join(sorted(spec.presets)) or "-")
        elif kind == "benchmarks":
            row.append(escape(f"{spec.kind}, {spec.path}"))
        table.add_row(*row)
    console.print(table)
    return 0


def _plugins(registry: Registry, console: Console) -> int:
    table = Table(title="loaded plugins")
    for column in ("name", "version", "source", "hooks"):
        table.add_column(column)
    short = {hook: kind for hook, kind in HOOK_TO_KIND.items()}
    for plugin in registry.plugins:
        hooks = ", ".join(short.get(h, h) for h in plugin.hooks)
        table.add_row(escape(plugin.name), plugin.version or "-", escape(plugin.source), hooks)
    console.print(table)
    if os.environ.get("VADBENCH_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0"):
        console.print("third-party autoloading is disabled (VADBENCH_DISABLE_PLUGIN_AUTOLOAD)")
    return 0


def _cache(clear: bool, console: Console) -> int:
    if clear:
        console.print(f"deleted {clear_cache()} cached video(s) from {escape(str(cache_dir()))}")
        return 0
    summary = summarise_cache()
    budget = _gib(summary.budget) + " GiB" if summary.budget else f"off ({BUDGET_ENVIRONMENT})"
    console.print(
        f"frame cache {escape(str(summary.folder))}: {summary.entries} video(s), "
        f"{_gib(summary.bytes_on_disk)} GiB on disk, {_gib(summary.bytes_when_full)} GiB when "
        f"full, budget {budget}; set {BUDGET_ENVIRONMENT}=20G or off, or run "
        "vadbench cache --clear"
    )
    return 0


def _gib(size: int) -> str:
    return f"{size / 2**30:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
