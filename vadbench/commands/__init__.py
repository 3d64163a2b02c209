"""The command line: ``vadbench run | report | detect | profile | describe | check | list |
plugins | cache | zoo``, one file each on the base in ``base.py``, and the commands plugins add.

Errors meant for the user print as one line (a traceback only with ``--debug``). Exit codes:
0 all good, 1 some cells failed, 2 a configuration or plugin error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

from vadbench.commands.base import Command, PluginCommand, add_common_arguments
from vadbench.commands.cache import CacheCommand
from vadbench.commands.check import CheckCommand
from vadbench.commands.describe import DescribeCommand
from vadbench.commands.detect import DetectCommand
from vadbench.commands.export import ExportCommand
from vadbench.commands.listing import ListCommand, PluginsCommand
from vadbench.commands.profile import ProfileCommand
from vadbench.commands.report import ReportCommand
from vadbench.commands.run import RunCommand
from vadbench.commands.zoo import ZooCommand
from vadbench.harness.config import read_matrix
from vadbench.harness.plugins import Registry, load_plugins
from vadbench.sdk.console import (
    TolerantStream,
    make_console,
    printable,
    show_warnings_as_lines,
)
from vadbench.sdk.contracts import ConfigError, VadbenchError
from vadbench.sdk.validation import did_you_mean

BUILT_IN: tuple[Command, ...] = (
    RunCommand(),
    ReportCommand(),
    DetectCommand(),
    ExportCommand(),
    ProfileCommand(),
    DescribeCommand(),
    CheckCommand(),
    ListCommand(),
    PluginsCommand(),
    CacheCommand(),
    ZooCommand(),
)


def commands_of(registry: Registry) -> dict[str, Command]:
    """The built-in commands and those the plugins registered, by name."""
    plugged = [PluginCommand(spec) for spec in registry.commands]
    return {command.name: command for command in (*BUILT_IN, *plugged)}


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vadbench", description="Cross-domain video anomaly detection benchmarks."
    )
    add_common_arguments(parser)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands_of(registry).values():
        sub = subparsers.add_parser(command.name, help=command.help)
        add_common_arguments(sub)
        command.configure(sub)
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
            return commands_of(registry)[args.command].run(args, registry, console)
        except VadbenchError as error:
            if debug:
                traceback.print_exc()
            message = escape(printable(str(error)))
            console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
            return error.exit_code
        except OSError as error:
            # the file system refused a write or a read the command needed (a full disk, a file
            # size limit, a folder where a file must go): finished results stay stored
            if debug:
                traceback.print_exc()
            where = f"{error.filename}: " if error.filename else ""
            reason = error.strerror or str(error)
            message = escape(printable(f"{where}{reason}; results finished before are kept"))
            console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
            return 1
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
