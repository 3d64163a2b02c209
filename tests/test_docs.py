"""Every hook of the plugin contract is documented, in its docstring and in docs/plugins.md."""

from __future__ import annotations

import inspect
from pathlib import Path

from vadbench import hookspecs
from vadbench.plugins import HOOK_TO_KIND

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def hook_names() -> list[str]:
    return [
        name
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("vadbench_") and hasattr(function, "vadbench_spec")
    ]


def test_every_hook_has_a_docs_section_and_a_docstring() -> None:
    sections = {
        line.removeprefix("### ").strip()
        for line in DOCS.read_text().splitlines()
        if line.startswith("### ")
    }
    names = hook_names()
    assert len(names) == 6
    for name in names:
        assert name in sections, f"docs/plugins.md has no '### {name}' section"
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"{name} has no docstring"


def test_every_hook_is_collected_by_the_plugin_manager() -> None:
    assert set(hook_names()) == set(HOOK_TO_KIND)
