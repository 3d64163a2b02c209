"""Every hook of the plugin contract is documented, in its docstring and in docs/plugins.md, with
the spec fields and call signatures the code has; every path the docs name exists."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import get_args, get_origin, get_type_hints

import pytest

from vadbench.harness.plugins import HOOK_TO_KIND
from vadbench.sdk import hooks as hookspecs
from vadbench.sdk.contracts import Method

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "plugins.md"
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REPO_PATH = re.compile(r"`((?:plugins|vadbench|tests|benchmarks|results|docs)/[\w./-]*)`")
LINK = re.compile(r"\]\(([^)#\s]+)\)")
FOLDER_HEADING = re.compile(r"^#+ .*\(`((?:plugins|vadbench)/[\w/]+/)`\)")
FILE_ROW = re.compile(r"^\| `([\w.]+\.py)` \|")


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
    assert len(names) == 8
    for name in names:
        assert name in sections, f"docs/plugins.md has no '### {name}' section"
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"{name} has no docstring"


def test_every_hook_is_collected_by_the_plugin_manager() -> None:
    assert set(hook_names()) == set(HOOK_TO_KIND)


def section(hook: str) -> str:
    """The text of docs/plugins.md's '### hook' section."""
    text = DOCS.read_text()
    start = text.index(f"### {hook}\n")
    end = min(
        (i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1)) if i != -1),
        default=len(text),
    )
    return text[start:end]


def documented_call(text: str, name: str) -> list[str] | None:
    """The argument names of the first ``name(a, b)`` written in ``text``, or None."""
    call = re.search(rf"`{name}\(([^)]*)\)", text)
    if call is None:
        return None
    return [word.strip() for word in call.group(1).split(",") if word.strip()]


@pytest.mark.parametrize("hook", sorted(HOOK_TO_KIND))
def test_each_hook_section_matches_its_spec(hook: str) -> None:
    """``register(XSpec(a, b, ...))`` lists the spec's fields in order (all required ones), and
    every callable field is written as a call with as many arguments as the spec declares."""
    (spec,), _ = get_args(get_type_hints(getattr(hookspecs, hook))["register"])
    text = section(hook)
    documented = documented_call(text, f"register\\({spec.__name__}")
    assert documented, f"'### {hook}' does not show register({spec.__name__}(...))"
    fields = [f for f in dataclasses.fields(spec) if f.name != "origin"]
    assert documented == [f.name for f in fields[: len(documented)]]
    required = {f.name for f in fields if f.default is f.default_factory is dataclasses.MISSING}
    assert required <= set(documented)
    hints = get_type_hints(spec)
    for f in fields:
        if get_origin(hints[f.name]) is not Callable:
            continue
        arguments = documented_call(text, f.name)
        assert arguments is not None, f"'### {hook}' does not write {f.name}(...) as a call"
        declared = get_args(hints[f.name])[0]
        assert len(arguments) == len(declared), f"{f.name}({', '.join(arguments)}) in the docs"


def test_model_section_documents_every_method_member_with_its_arguments() -> None:
    text = section("vadbench_register_models")
    for name in ("context_frames", "score_kind"):
        assert f"`{name}`" in text
    for name in ("fit", "score", "save", "load", "inference_module"):
        parameters = list(inspect.signature(getattr(Method, name)).parameters)[1:]
        assert documented_call(text, name) == parameters, f"{name}{parameters} in the docs"


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda page: page.name)
def test_every_path_the_docs_name_exists(page: Path) -> None:
    """Backticked repository paths, relative links, and the file rows of a code-map table under a
    heading naming its folder ('## MPN (`plugins/models/mpn/`)') all point at files that exist."""
    missing = []
    folder = None
    for line in page.read_text().splitlines():
        missing += [p for p in REPO_PATH.findall(line) if not (ROOT / p).exists()]
        links = [link for link in LINK.findall(line) if "://" not in link]
        missing += [link for link in links if not (page.parent / link).exists()]
        if heading := FOLDER_HEADING.match(line):
            folder = heading.group(1)
        elif line.startswith("#"):
            folder = None
        if folder and (row := FILE_ROW.match(line)) and not (ROOT / folder / row.group(1)).exists():
            missing.append(folder + row.group(1))
    assert not missing, f"{page.name} names paths that do not exist: {missing}"
