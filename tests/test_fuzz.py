"""The fuzzer of benchmarks/fuzz_inputs.py on a few hundred examples per property: YAML text,
matrix files with --set values, and the JSON files of a run folder are accepted or refused with
a ConfigError, never another exception or a hang."""

from __future__ import annotations

from tests.builders import load_script


def test_no_input_crashes_or_hangs_the_readers() -> None:
    counts = load_script("fuzz_inputs").fuzz(150)
    assert counts == {"yaml text": 150, "matrix and --set": 150, "run folder JSON": 150}
