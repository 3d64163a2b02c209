"""The benchmark files vadbench ships, run by name after ``pip install`` (no clone needed).

Every ``*.yaml`` in this folder is one: a link to the file of the same name in the repository's
``benchmarks/`` folder (the wheel holds a copy). Its name is the file's stem with ``-`` for
``_`` (``paper_table4.yaml`` → ``paper-table4``), its description the first sentence of the
file's opening comment, and its kind ``profile`` when it has no top-level ``matrix:`` key
(``vadbench profile --config NAME``) and ``matrix`` otherwise (``vadbench run NAME``). The key is
found without parsing the YAML: every vadbench process registers these, its workers included.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vadbench.sdk import BenchmarkSpec, hookimpl

FOLDER = Path(__file__).parent
TOP_LEVEL_MATRIX = re.compile(r"^matrix\s*:", re.MULTILINE)


def benchmark_spec(path: Path) -> BenchmarkSpec:
    text = path.read_text(encoding="utf-8")
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    description = " ".join(header).split(". ")[0].rstrip(".")
    name = path.stem.replace("_", "-")
    if TOP_LEVEL_MATRIX.search(text):
        return BenchmarkSpec(name, description, path, "matrix")
    return BenchmarkSpec(name, description, path, "profile")


@hookimpl
def vadbench_register_benchmarks(register: Any) -> None:
    for path in sorted(FOLDER.glob("*.yaml")):
        register(benchmark_spec(path))
