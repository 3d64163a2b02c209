"""``vadbench cache``: the decoded-frame cache's size and budget, or ``--clear`` to empty it."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from vadbench.commands.base import Command
from vadbench.harness.plugins import Registry
from vadbench.sdk.framecache import BUDGET_ENVIRONMENT, cache_dir, clear_cache, summarise_cache


class CacheCommand(Command):
    name = "cache"
    help = "the decoded-frame cache: size, budget, clear"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--clear", action="store_true", help="delete every cached frame")

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        if args.clear:
            console.print(
                f"deleted {clear_cache()} cached video(s) from {escape(str(cache_dir()))}"
            )
            return 0
        summary = summarise_cache()
        budget = _gib(summary.budget) + " GiB" if summary.budget else f"off ({BUDGET_ENVIRONMENT})"
        console.print(
            f"frame cache {escape(str(summary.folder))}: {summary.entries} video(s), "
            f"{_gib(summary.bytes_on_disk)} GiB on disk, {_gib(summary.bytes_when_full)} GiB "
            f"when full, budget {budget}; set {BUDGET_ENVIRONMENT}=20G or off, or run "
            "vadbench cache --clear"
        )
        return 0


def _gib(size: int) -> str:
    return f"{size / 2**30:.2f}"
