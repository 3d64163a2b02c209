"""How benchmark scripts hand over their results: printed, and written to ``--out`` when given."""

from __future__ import annotations

from pathlib import Path


def publish(lines: list[str], out: Path | None) -> None:
    """The result as Markdown on standard output and, with ``out``, in that file."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out is not None:
        out.write_text(text)
