"""``vadbench report RUN``: render a run folder's leaderboards again, or, with ``--protocols``,
its protocol-sensitivity card (``vadbench.harness.sensitivity``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from vadbench.commands.base import Command
from vadbench.harness.plugins import Registry
from vadbench.harness.run import render_reports
from vadbench.harness.sensitivity import CARD_FILE, CARD_PROTOCOLS, sensitivity_card
from vadbench.sdk.files import atomic_write_bytes


class ReportCommand(Command):
    name = "report"
    help = "re-render leaderboards from a run folder"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_dir", type=Path)
        parser.add_argument(
            "--reporter", action="append", default=None, help="reporters (default: the run's own)"
        )
        parser.add_argument(
            "--protocols",
            nargs="*",
            metavar="NAME",
            help="write the protocol-sensitivity card (RUN/sensitivity.md): the stored scores "
            f"evaluated again under these protocols (none named: {', '.join(CARD_PROTOCOLS)})",
        )

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        if args.protocols is None:
            return render_reports(args.run_dir, args.reporter, registry, console)
        text, _ = sensitivity_card(args.run_dir, args.protocols or CARD_PROTOCOLS, registry)
        path = args.run_dir / CARD_FILE
        atomic_write_bytes(path, text.encode())
        console.print(escape(text), markup=False)
        console.print(f"wrote {escape(str(path))}")
        return 0
