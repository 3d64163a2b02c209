"""Property-based fuzzing (hypothesis) of what a user can hand vadbench or damage: YAML text,
matrix files, ``--set`` values and the JSON files of a run folder. The property: every input is
either accepted or refused with a ConfigError (one line naming the culprit); no other exception,
no hang (each example has a deadline).

    python benchmarks/fuzz_inputs.py --examples 10000 --out benchmarks/results/fuzz_inputs.md

tests/test_fuzz.py runs the same properties on a few hundred examples in CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vadbench.harness.config import read_matrix
from vadbench.harness.results import load_results
from vadbench.sdk.contracts import ConfigError
from vadbench.sdk.validation import parse_yaml

DEADLINE = timedelta(seconds=5)

# A valid matrix that mutations start from (it is read, never run).
BASE_MATRIX: dict[str, Any] = {
    "name": "fuzz",
    "seeds": [0],
    "budget": {"steps": 10},
    "datasets": {"a": {"plugin": "frames", "options": {"root": "data/a"}}},
    "models": {"fd": {"plugin": "framediff", "overrides": {"image_size": 16}}},
    "metrics": ["micro_auc"],
    "matrix": [{"train": "a", "test": ["a"]}],
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# Pieces of YAML syntax that PyYAML treats specially, mixed into random text.
YAML_PIECES = [
    "&a ", "*a", "!!int ", "!!float ", "!!set ", "!!timestamp ", "!!binary ", "!!python/name:os",
    "<<: *a", "[", "]", "{", "}", "- ", ": ", "? ", "|\n", ">\n", "\t", "\n", "#", "'", '"',
    "---\n", "...\n", "%YAML 1.1\n", "\\x1b", "\u2028", "\x00",
]  # fmt: skip

yaml_texts = st.lists(st.sampled_from(YAML_PIECES) | st.text(max_size=8), max_size=40).map("".join)


def _mutated(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """``base`` with the field at ``path`` (created where missing) set to ``value``."""
    copy = json.loads(json.dumps(base))
    node = copy
    for key in path[:-1]:
        child = node.get(key) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value
    return copy


FIELDS = [
    ["name"], ["seeds"], ["budget"], ["budget", "steps"], ["budget", "seconds"], ["threads"],
    ["held_out"], ["evaluation"], ["datasets"], ["datasets", "a"], ["datasets", "a", "plugin"],
    ["models", "fd"], ["models", "fd", "overrides"], ["models", "fd", "checkpoint"],
    ["metrics"], ["matrix"], ["reference"], ["metric_options"], ["statistics"], ["snapshots"],
]  # fmt: skip

matrices = st.builds(
    _mutated,
    st.just(BASE_MATRIX),
    st.sampled_from(FIELDS),
    json_values,
)
overrides = st.lists(
    st.tuples(st.sampled_from([".".join(f) for f in FIELDS]), yaml_texts).map("=".join),
    max_size=3,
)


def refused_or_accepted(action: Callable[[], Any]) -> None:
    """The property: ``action`` returns, or raises a ConfigError that is one line."""
    try:
        action()
    except ConfigError:
        return


def check_yaml_text(text: str) -> None:
    refused_or_accepted(lambda: parse_yaml(text, "fuzz.yaml"))


def check_matrix(folder: Path, matrix: dict[str, Any], sets: list[str]) -> None:
    path = folder / "m.yaml"
    path.write_text(yaml.safe_dump(matrix, allow_unicode=True))
    refused_or_accepted(lambda: read_matrix(path, sets))


def check_run_folder(folder: Path, run_file: Any, cell_file: Any, result_file: Any) -> None:
    """A run folder whose run.json, cell.json and result.json are random JSON (beside a
    well-formed run.json's keys, so that deeper files are reached too)."""
    run = folder / "run"
    cell = run / "cells" / "fd__a__s0__00000000"
    (cell / "targets" / "a").mkdir(parents=True, exist_ok=True)
    planned = {
        "format": 1,
        "cells": {cell.name: "0" * 64},
        "targets": {cell.name: {"a": "1" * 64}},
        "metrics": {"detection": ["micro_auc"], "efficiency": [], "headline": "micro_auc"},
    }
    if isinstance(run_file, dict):
        planned.update(run_file)
        run_file = planned
    (run / "run.json").write_text(json.dumps(run_file))
    (cell / "cell.json").write_text(json.dumps(cell_file))
    (cell / "targets" / "a" / "result.json").write_text(json.dumps(result_file))
    refused_or_accepted(lambda: load_results(run))


def fuzz(examples: int) -> dict[str, int]:
    """Run every property on ``examples`` examples; return how many each ran."""
    counts = {"yaml text": 0, "matrix and --set": 0, "run folder JSON": 0}
    common = settings(
        max_examples=examples,
        deadline=DEADLINE,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)

        @common
        @given(yaml_texts)
        def yaml_property(text: str) -> None:
            counts["yaml text"] += 1
            check_yaml_text(text)

        @common
        @given(matrices, overrides)
        def matrix_property(matrix: dict[str, Any], sets: list[str]) -> None:
            counts["matrix and --set"] += 1
            check_matrix(folder, matrix, sets)

        @common
        @given(json_values, json_values, json_values)
        def run_property(run_file: Any, cell_file: Any, result_file: Any) -> None:
            counts["run folder JSON"] += 1
            check_run_folder(folder, run_file, cell_file, result_file)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # damaged records warn by design
            yaml_property()
            matrix_property()
            run_property()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="per property")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        counts = fuzz(args.examples)
        verdict = "no crash and no hang"
    except Exception:
        counts = {}
        verdict = "FOUND A FAILURE:\n\n```\n" + traceback.format_exc() + "```"
    seconds = time.perf_counter() - started
    lines = [
        "# Fuzzing vadbench's inputs",
        "",
        f"Command: `python benchmarks/fuzz_inputs.py --examples {args.examples}` "
        f"({seconds:.0f} s on the 2-core development VM, deterministic examples).",
        "",
        "| property | examples |",
        "|---|---|",
        *(f"| {name} | {count:,} |" for name, count in counts.items()),
        "",
        f"Verdict: {verdict}. Each example either passed or was refused with a ConfigError; "
        f"any other exception, or an example over {DEADLINE.total_seconds():.0f} s, fails.",
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)
    sys.exit(0 if counts else 1)


if __name__ == "__main__":
    main()
