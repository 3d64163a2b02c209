"""``vadbench run MATRIX``: run (or resume) a matrix, skipping finished work."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from vadbench.commands.base import Command
from vadbench.harness.plugins import Registry
from vadbench.harness.run import RunOptions, run_matrix


def add_matrix_arguments(parser: argparse.ArgumentParser) -> None:
    """A matrix file (or a shipped benchmark's name) and ``--set`` overrides of its fields."""
    parser.add_argument(
        "matrix", type=Path, help="a matrix file, or a shipped benchmark's name (list benchmarks)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="FIELD.PATH=VALUE",
        help="override a matrix field, e.g. datasets.ped2.options.root=/data/ped2 (repeatable)",
    )


class RunCommand(Command):
    name = "run"
    help = "run a matrix.yaml, skipping finished work"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_matrix_arguments(parser)
        parser.add_argument("--force", action="store_true", help="recompute finished cells")
        parser.add_argument(
            "--only", action="append", default=[], metavar="CELL", help="run only this cell"
        )
        parser.add_argument(
            "--no-efficiency", action="store_true", help="leave efficiency metrics for later"
        )
        parser.add_argument(
            "--results-dir",
            type=Path,
            default=Path("results"),
            help="folder holding run folders (default: results)",
        )

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
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
