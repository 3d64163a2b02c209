"""The terminal the CLI writes to, made so that losing it never costs a run its results.

``vadbench run ... | head`` closes the pipe after ten lines; a run must go on training and storing
cells all the same. The stream below swallows the first write error, remembers it, and drops
everything after, instead of raising into the middle of a cell.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape


class TolerantStream:
    """A text stream that turns write failures (a closed pipe, a full disk) into silence."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.failed: OSError | None = None

    def write(self, text: str) -> int:
        if self.failed is None:
            try:
                return self._stream.write(text)
            except OSError as error:
                self._lost(error)
        return len(text)

    def flush(self) -> None:
        if self.failed is None:
            try:
                self._stream.flush()
            except OSError as error:
                self._lost(error)

    def _lost(self, error: OSError) -> None:
        self.failed = error
        # The interpreter flushes stdout once more at exit; give it somewhere to go.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())

    def isatty(self) -> bool:
        return self.failed is None and self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def make_console(soft_wrap: bool = True) -> Console:
    """A rich console on a tolerant stdout; wide enough for tables when not a terminal."""
    stream: Any = (
        sys.stdout if isinstance(sys.stdout, TolerantStream) else TolerantStream(sys.stdout)
    )
    console = Console(file=stream, highlight=False, soft_wrap=soft_wrap)
    if not console.is_terminal:  # a log file or pipe: wide enough that tables never fold
        width = max(console.width, 200)
        console = Console(file=stream, highlight=False, soft_wrap=soft_wrap, width=width)
    return console


def printable(text: str) -> str:
    """A message as one printable line: newlines, escape sequences and every other control
    character written as Python escapes, so that a name from a user's file can neither forge a
    second ``error:`` line nor drive the terminal."""
    return "".join(
        char if char.isprintable() or char == " " else char.encode("unicode_escape").decode()
        for char in text
    )


def show_warnings_as_lines(console: Console) -> None:
    """Print each warning as one ``warning:`` line on the console instead of Python's format."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = escape(printable(str(message)))
        console.print(f"[yellow]warning:[/] {text}", markup=True, highlight=False)

    warnings.showwarning = show
