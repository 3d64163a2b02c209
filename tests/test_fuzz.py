"""The fuzzer of benchmarks/fuzz_inputs.py on a few hundred examples per property: YAML text,
matrix files with --set values, and the JSON files of a run folder are accepted or refused with
a ConfigError, never another exception or a hang."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_input_crashes_or_hangs_the_readers() -> None:
    spec = importlib.util.spec_from_file_location(
        "fuzz_inputs", ROOT / "benchmarks" / "fuzz_inputs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_inputs"] = module
    spec.loader.exec_module(module)
    counts = module.fuzz(150)
    assert counts == {"yaml text": 150, "matrix and --set": 150, "run folder JSON": 150}
