"""``vadbench report RUN``: render a run folder's leaderboards again."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from vadbench.commands.base import Command
from vadbench.harness.plugins import Registry
from vadbench.harness.run import render_reports


class ReportCommand(Command):
    name = "report"
    help = "re-render leaderboards from a run folder"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_dir", type=Path)
        parser.add_argument(
            "--reporter", action="append", default=None, help="reporters (default: the run's own)"
        )

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        return render_reports(args.run_dir, args.reporter, registry, console)
