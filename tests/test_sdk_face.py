"""The one face for plugins: built-in plugins import from vadbench only through vadbench.sdk,
every name of the face is there, and docs/plugins.md documents each one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import vadbench.sdk

ROOT = Path(__file__).resolve().parents[1]


def vadbench_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of a vadbench module in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module, names = node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            module, names = "", [alias.name for alias in node.names]
        else:
            continue
        modules = [module] if module else names
        if any(m == "vadbench" or m.startswith("vadbench.") for m in modules):
            found.append((node.lineno, module or ", ".join(names), names))
    return found


def test_built_in_plugins_import_vadbench_only_through_the_face() -> None:
    face = set(vadbench.sdk.__all__)
    wrong = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for line, module, names in vadbench_imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if module != "vadbench.sdk":
                wrong.append(f"{where} imports {module}")
            else:
                wrong += [
                    f"{where} imports {name}, not in __all__" for name in names if name not in face
                ]
    assert wrong == []


def test_the_check_finds_an_import_past_the_face(tmp_path: Path) -> None:
    plugin = tmp_path / "sneaky.py"
    plugin.write_text(
        "from vadbench.sdk import Video\n"
        "from vadbench.harness.store import RunStore\n"
        "def later():\n    import vadbench.harness.run\n"
    )
    modules = [module for _, module, _ in vadbench_imports(plugin)]
    assert modules == ["vadbench.sdk", "vadbench.harness.store", "vadbench.harness.run"]


def test_every_name_of_the_face_exists_once() -> None:
    names = vadbench.sdk.__all__
    assert len(names) == len(set(names))
    assert [name for name in names if not hasattr(vadbench.sdk, name)] == []


def test_docs_document_every_name_of_the_face() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text()
    documented = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", text))
    assert sorted(set(vadbench.sdk.__all__) - documented) == []
