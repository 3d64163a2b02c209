"""The small base every subcommand stands on: a name, a help line, its arguments and what it
does. Built-in subcommands are one file each; a plugin's ``CommandSpec`` is wrapped in the same
shape, so the parser treats them alike."""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from pathlib import Path

from rich.console import Console

from vadbench.harness.plugins import Registry
from vadbench.sdk.contracts import CommandSpec


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command takes (before or after its name)."""
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


class Command(ABC):
    """One ``vadbench <name>`` subcommand."""

    name: str
    help: str

    @abstractmethod
    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's own arguments."""

    @abstractmethod
    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        """Do the work; the exit code."""


class PluginCommand(Command):
    """A subcommand a plugin registered."""

    def __init__(self, spec: CommandSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.help = spec.help

    def configure(self, parser: argparse.ArgumentParser) -> None:
        self.spec.configure(parser)

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        return self.spec.run(args, registry)
