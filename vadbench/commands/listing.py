"""``vadbench list KIND`` and ``vadbench plugins``: what the plugins registered, and which
plugins are loaded."""

from __future__ import annotations

import argparse
import os

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vadbench.commands.base import Command
from vadbench.harness.plugins import HOOK_TO_KIND, Registry
from vadbench.sdk.workers import DISABLE_AUTOLOAD_ENV

LIST_KINDS = (
    "models",
    "datasets",
    "metrics",
    "reporters",
    "executors",
    "commands",
    "benchmarks",
    "checkpoints",
)


class ListCommand(Command):
    name = "list"
    help = "list what plugins registered"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("kind", choices=LIST_KINDS)

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        kind = args.kind
        table = Table(title=f"registered {kind}")
        table.add_column("name")
        table.add_column("plugin")
        table.add_column("description")
        extra = kind in ("datasets", "models", "benchmarks", "checkpoints")
        if extra:
            headers = {"datasets": "layout", "models": "presets", "checkpoints": "folder"}
            table.add_column(headers.get(kind, "kind, file"))
        for spec in registry.catalog(kind):
            row = [spec.name, spec.origin, getattr(spec, "description", getattr(spec, "help", ""))]
            row = [escape(str(cell)) for cell in row]
            if kind == "datasets":
                row.append(escape(spec.layout))
            elif kind == "models":
                row.append(", ".join(sorted(spec.presets)) or "-")
            elif kind == "benchmarks":
                row.append(escape(f"{spec.kind}, {spec.path}"))
            elif kind == "checkpoints":
                row.append(escape(str(spec.folder)))
            table.add_row(*row)
        console.print(table)
        return 0


class PluginsCommand(Command):
    name = "plugins"
    help = "list loaded plugins"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        return None

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        table = Table(title="loaded plugins")
        for column in ("name", "version", "source", "hooks"):
            table.add_column(column)
        for plugin in registry.plugins:
            hooks = ", ".join(HOOK_TO_KIND.get(h, h) for h in plugin.hooks)
            table.add_row(escape(plugin.name), plugin.version or "-", escape(plugin.source), hooks)
        console.print(table)
        if os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("", "0"):
            console.print(f"third-party autoloading is disabled ({DISABLE_AUTOLOAD_ENV})")
        return 0
