"""The bad-input corpus: each case is a mistake a user makes, and each asserts the exit code, one
clear line naming the culprit, no traceback, nothing written outside the results folder, and the
results stored before it still there byte for byte.

Configuration mistakes exit 2 before anything is written; faults inside a cell exit 1 with the
cell's failure recorded while the rest of the matrix goes on; damaged stored files are recomputed
with a warning.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.builders import png_bytes
from tests.corpus_support import (
    build_workspace,
    copy_workspace,
    error_line,
    run_cli,
    snapshot,
)

Edit = Callable[[Path], None]
RUN_DIR = Path("results") / "tiny"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A workspace whose tiny matrix has run once, successfully, and a copy of it as it was.

    Stored results are only reused by a run in the folder that made them (dataset paths are
    part of every hash), so each case gets the copy back at the original path.
    """
    base = tmp_path_factory.mktemp("corpus")
    workspace = build_workspace(base / "workspace")
    result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 0, result.output
    copy = copy_workspace(workspace, base / "pristine")
    return workspace, copy


@pytest.fixture
def stored(pristine: tuple[Path, Path]) -> Path:
    workspace, copy = pristine
    shutil.rmtree(workspace)
    return copy_workspace(copy, workspace)


def replace(old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / "matrix.yaml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))

    return edit


def write_matrix(text: str) -> Edit:
    def edit(root: Path) -> None:
        (root / "matrix.yaml").write_text(text)

    return edit


def chain(*edits: Edit) -> Edit:
    def edit(root: Path) -> None:
        for each in edits:
            each(root)

    return edit


def write_file(relative: str, content: str | bytes) -> Edit:
    def edit(root: Path) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return edit


def copy_matrix(name: str) -> Edit:
    def edit(root: Path) -> None:
        shutil.copy(root / "matrix.yaml", root / name)

    return edit


def no_edit(root: Path) -> None:
    """The stored workspace as it is."""


def damage(pattern: str, how: Callable[[Path], None]) -> Edit:
    """Damage every stored file matching ``pattern`` under the run folder with ``how``."""

    def edit(root: Path) -> None:
        paths = sorted((root / RUN_DIR).glob(pattern))
        assert paths, pattern
        for path in paths:
            how(path)

    return edit


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def write_text(text: str) -> Callable[[Path], None]:
    def how(path: Path) -> None:
        path.write_text(text)

    return how


def remove(path: Path) -> None:
    path.unlink()


@dataclass
class Case:
    id: str
    edit: Edit
    argv: tuple[str, ...]
    fragments: tuple[str, ...]
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)


RUN = ("run", "matrix.yaml")
FAULTY_MODEL = "models:\n  bad: {plugin: faulty, overrides: {mode: MODE}}\n"
FAULTY_ROW = "matrix:\n  - models: [bad]\n    train: a\n    test: [a, b]\n  - models: [fd]\n"


def faulty(mode: str) -> Edit:
    """A matrix with the faulty model in mode ``mode`` beside the working framediff."""
    return chain(
        replace("models:\n", FAULTY_MODEL.replace("MODE", mode)),
        replace("matrix:\n  - train: a\n", FAULTY_ROW + "    train: a\n"),
        replace("reporters:", "plugins: [faulty.py]\nreporters:"),
    )


CONFIGURATION = [
    Case(
        "malformed-yaml",
        replace("  - train: a\n", "  - train: a\n  - [unclosed\n"),
        RUN,
        ("matrix.yaml", "malformed YAML"),
    ),
    Case(
        "tab-indentation",
        replace("  - train: a\n", "\t- train: a\n"),
        RUN,
        ("matrix.yaml", "malformed YAML"),
    ),
    Case("empty-file", write_matrix(""), RUN, ("matrix.yaml", "expected a mapping")),
    Case("top-level-list", write_matrix("- a\n- b\n"), RUN, ("matrix.yaml", "expected a mapping")),
    Case("binary-file", write_file("matrix.yaml", b"\xff\xfe\x00bad"), RUN, ("matrix.yaml",)),
    Case("missing-file", no_edit, ("run", "nope.yaml"), ("nope.yaml: no such matrix file",)),
    Case(
        "matrix-is-a-folder",
        write_file("folder.yaml/x", "x"),
        ("run", "folder.yaml"),
        ("folder.yaml: no such matrix file",),
    ),
    Case(
        "unknown-top-field",
        replace("name: tiny\n", "name: tiny\nseedz: [1]\n"),
        RUN,
        ("matrix.yaml: seedz: unknown field", "did you mean 'seeds'"),
    ),
    Case(
        "unknown-row-field",
        replace("    test: [a, b]", "    tset: [a, b]"),
        RUN,
        ("matrix.0", "did you mean 'test'"),
    ),
    Case(
        "unknown-dataset-field",
        replace(
            "{plugin: frames, options: {root: data/a}}", "{plugn: frames, options: {root: data/a}}"
        ),
        RUN,
        ("datasets.a.plugn: unknown field", "did you mean 'plugin'"),
    ),
    Case(
        "unknown-model-field",
        replace("fd: {plugin: framediff, overrides:", "fd: {plugin: framediff, overides:"),
        RUN,
        ("models.fd.overides: unknown field", "did you mean 'overrides'"),
    ),
    Case(
        "unknown-override",
        replace("overrides: {image_size: 16}", "overrides: {image_sise: 16}"),
        RUN,
        ("models.fd.overrides.image_sise: unknown field", "did you mean 'image_size'"),
    ),
    Case(
        "unknown-dataset-option",
        replace("{root: data/b}", "{rot: data/b}"),
        RUN,
        ("datasets.b.options", "rot: unknown field", "did you mean 'root'"),
    ),
    Case(
        "duplicate-top-key",
        replace("name: tiny\n", "name: tiny\nname: other\n"),
        RUN,
        ("matrix.yaml", "line 3", "key 'name' appears more than once"),
    ),
    Case(
        "duplicate-dataset-key",
        replace("  b: {plugin", "  a: {plugin"),
        RUN,
        ("key 'a' appears more than once",),
    ),
    Case(
        "duplicate-model-key",
        replace("  fd2: {plugin", "  fd: {plugin"),
        RUN,
        ("key 'fd' appears more than once",),
    ),
    Case(
        "no-seeds",
        replace("name: tiny\n", "name: tiny\nseeds: []\n"),
        RUN,
        ("matrix.yaml: seeds", "at least 1 item"),
    ),
    Case(
        "repeated-seed",
        replace("name: tiny\n", "name: tiny\nseeds: [0, 0]\n"),
        RUN,
        ("matrix.yaml: seeds", "seed 0 is listed more than once"),
    ),
    Case(
        "negative-seed",
        replace("name: tiny\n", "name: tiny\nseeds: [-1]\n"),
        RUN,
        ("matrix.yaml: seeds", "seed -1 is out of range"),
    ),
    Case(
        "huge-seed",
        replace("name: tiny\n", "name: tiny\nseeds: [99999999999]\n"),
        RUN,
        ("matrix.yaml: seeds", "out of range"),
    ),
    Case(
        "seed-not-a-number",
        replace("name: tiny\n", "name: tiny\nseeds: [zero]\n"),
        RUN,
        ("matrix.yaml: seeds.0", "integer"),
    ),
    Case(
        "seeds-not-a-list",
        replace("name: tiny\n", "name: tiny\nseeds: 3\n"),
        RUN,
        ("matrix.yaml: seeds", "list"),
    ),
    Case(
        "empty-matrix",
        replace("matrix:\n  - train: a\n    test: [a, b]\n", "matrix: []\n"),
        RUN,
        ("matrix.yaml: matrix", "at least 1 item"),
    ),
    Case(
        "no-matrix",
        replace("matrix:\n  - train: a\n    test: [a, b]\n", ""),
        RUN,
        ("matrix.yaml: matrix", "Field required"),
    ),
    Case(
        "no-datasets-entries",
        replace("datasets:\n", "datasets: {}\nunused:\n"),
        RUN,
        ("matrix.yaml",),
    ),
    Case(
        "empty-models",
        write_matrix(
            "name: tiny\ndatasets:\n  a: {plugin: frames, options: {root: data/a}}\nmodels: {}\n"
            "matrix:\n  - train: a\n    test: [a]\n"
        ),
        RUN,
        ("matrix.yaml: models", "at least one entry"),
    ),
    Case(
        "empty-row-models",
        replace("  - train: a\n", "  - models: []\n    train: a\n"),
        RUN,
        ("matrix.yaml: matrix.0.models", "at least 1 item"),
    ),
    Case(
        "empty-test",
        replace("test: [a, b]", "test: []"),
        RUN,
        ("matrix.0.test", "at least one target"),
    ),
    Case(
        "empty-metrics",
        replace("metrics: [micro_auc, macro_auc, params, storage]", "metrics: []"),
        RUN,
        ("matrix.yaml: metrics", "at least 1"),
    ),
    Case(
        "name-climbs-out",
        replace("name: tiny", "name: ../../x"),
        RUN,
        ("matrix.yaml: name", "'../../x' is not a safe name"),
    ),
    Case(
        "absolute-name",
        replace("name: tiny", "name: /tmp/vadbench-x"),
        RUN,
        ("matrix.yaml: name", "not a safe name"),
    ),
    Case(
        "hidden-name",
        replace("name: tiny", "name: .hidden"),
        RUN,
        ("matrix.yaml: name", "not a safe name"),
    ),
    Case(
        "name-with-space",
        replace("name: tiny", "name: my run"),
        RUN,
        ("matrix.yaml: name", "'my run' is not a safe name"),
    ),
    Case(
        "empty-name",
        replace("name: tiny", "name: ''"),
        RUN,
        ("matrix.yaml: name", "not a safe name"),
    ),
    Case(
        "dataset-key-climbs-out",
        chain(
            replace("  b: {plugin", "  st/../../x: {plugin"),
            replace("test: [a, b]", "test: [a, st/../../x]"),
        ),
        RUN,
        ("matrix.yaml: datasets.st/../../x", "not a safe name"),
    ),
    Case(
        "model-key-with-slash",
        replace("  fd2: {plugin", "  x/fd2: {plugin"),
        RUN,
        ("matrix.yaml: models.x/fd2", "not a safe name"),
    ),
    Case(
        "file-named-unsafely",
        chain(replace("name: tiny\n", ""), copy_matrix("my run.yaml")),
        ("run", "my run.yaml"),
        ("my run.yaml", "'my run' is not a safe name", "set 'name'"),
    ),
    Case(
        "unknown-model-plugin",
        replace("fd: {plugin: framediff,", "fd: {plugin: framedif,"),
        RUN,
        ("models.fd.plugin", "unknown model 'framedif'", "did you mean 'framediff'"),
    ),
    Case(
        "unknown-dataset-plugin",
        replace(
            "{plugin: frames, options: {root: data/b}}", "{plugin: frame, options: {root: data/b}}"
        ),
        RUN,
        ("datasets.b.plugin", "unknown dataset 'frame'", "did you mean 'frames'"),
    ),
    Case(
        "dataset-root-missing",
        replace("{root: data/b}", "{root: data/nowhere}"),
        RUN,
        ("datasets.b", "data/nowhere does not exist", "expected the FFP/MNAD layout"),
    ),
    Case(
        "unknown-target",
        replace("test: [a, b]", "test: [a, c]"),
        RUN,
        ("matrix.0.test", "unknown dataset 'c'"),
    ),
    Case(
        "unknown-train",
        replace("  - train: a\n", "  - train: z\n"),
        RUN,
        ("matrix.0.train", "unknown dataset 'z'"),
    ),
    Case(
        "unknown-aux",
        replace("  - train: a\n", "  - train: a\n    aux: bb\n"),
        RUN,
        ("matrix.0.aux", "unknown dataset 'bb'", "did you mean 'b'"),
    ),
    Case(
        "unknown-row-model",
        replace("  - train: a\n", "  - models: [fd3]\n    train: a\n"),
        RUN,
        ("matrix.0.models", "unknown model 'fd3'", "did you mean"),
    ),
    Case(
        "unknown-reporter",
        replace("[terminal, markdown", "[terminal, markdwn"),
        RUN,
        ("reporters.1", "did you mean 'markdown'"),
    ),
    Case(
        "reporters-not-a-list",
        replace("reporters: [terminal, markdown, csv, json]", "reporters: terminal"),
        RUN,
        ("matrix.yaml: reporters", "list"),
    ),
    Case(
        "unknown-metric",
        replace("metrics: [micro_auc,", "metrics: [micro_acu,"),
        RUN,
        ("metrics.0", "unknown metric 'micro_acu'", "did you mean 'micro_auc'"),
    ),
    Case(
        "unknown-executor",
        replace("name: tiny\n", "name: tiny\nexecutor: proceses\n"),
        RUN,
        ("executor", "did you mean 'processes'"),
    ),
    Case(
        "zero-threads",
        replace("name: tiny\n", "name: tiny\nthreads: 0\n"),
        RUN,
        ("matrix.yaml: threads", "greater than or equal to 1"),
    ),
    Case(
        "unknown-device",
        replace("name: tiny\n", "name: tiny\ndevice: tpu\n"),
        RUN,
        ("matrix.yaml: device", "pattern"),
    ),
    Case(
        "absent-cuda",
        replace("name: tiny\n", "name: tiny\ndevice: cuda:7\n"),
        RUN,
        ("matrix.yaml: device", "'cuda:7' was asked for"),
    ),
    Case(
        "unknown-preset",
        replace("fd: {plugin: framediff,", "fd: {plugin: framediff, preset: gpu,"),
        RUN,
        ("models.fd.preset", "has no preset 'gpu'"),
    ),
    Case(
        "override-too-small",
        replace("overrides: {image_size: 16}", "overrides: {image_size: 2}"),
        RUN,
        ("models.fd.overrides.image_size", "greater than or equal to 8"),
    ),
    Case(
        "override-wrong-type",
        replace("overrides: {image_size: 16}", "overrides: {image_size: big}"),
        RUN,
        ("models.fd.overrides.image_size", "integer"),
    ),
    Case(
        "overrides-not-a-mapping",
        replace("overrides: {image_size: 16}", "overrides: [16]"),
        RUN,
        ("models.fd.overrides", "dictionary"),
    ),
    Case(
        "k-shot-without-shots",
        replace("    test: [a, b]", "    test: [b]\n    protocol: k-shot"),
        RUN,
        ("matrix.yaml: matrix.0", "needs 'shots'"),
    ),
    Case(
        "shots-under-zero-shot",
        replace("    test: [a, b]", "    test: [b]\n    shots: 3"),
        RUN,
        ("matrix.yaml: matrix.0", "only applies to protocol k-shot"),
    ),
    Case(
        "zero-shots",
        replace("    test: [a, b]", "    test: [b]\n    protocol: k-shot\n    shots: 0"),
        RUN,
        ("matrix.0.shots", "greater than or equal to 1"),
    ),
    Case(
        "unknown-protocol",
        replace("    test: [a, b]", "    test: [b]\n    protocol: few-shot"),
        RUN,
        ("matrix.0.protocol", "'zero-shot' or 'k-shot'"),
    ),
    Case(
        "k-shot-unsupported",
        replace("    test: [a, b]", "    test: [b]\n    protocol: k-shot\n    shots: 2"),
        RUN,
        ("matrix.0.protocol", "does not support k-shot"),
    ),
    Case(
        "frame-size-not-positive",
        replace("{root: data/b}", "{root: data/b, frame_size: [0, -5]}"),
        RUN,
        ("datasets.b.options.frame_size",),
    ),
    Case(
        "frame-size-wrong-length",
        replace("{root: data/b}", "{root: data/b, frame_size: [8]}"),
        RUN,
        ("datasets.b.options.frame_size",),
    ),
    Case(
        "block-unknown-plugin",
        no_edit,
        (*RUN, "--block", "framedif"),
        ("no plugin named 'framedif' to block", "did you mean 'framediff'"),
    ),
    Case(
        "block-plugins-in-matrix",
        replace("name: tiny\n", "name: tiny\nblock_plugins: [zxvd]\n"),
        RUN,
        ("no plugin named 'zxvd' to block", "did you mean 'zxvad'"),
    ),
    Case(
        "block-env-unknown",
        no_edit,
        RUN,
        ("VADBENCH_BLOCK_PLUGINS", "'nosuch'"),
        env={"VADBENCH_BLOCK_PLUGINS": "nosuch"},
    ),
    Case(
        "blocked-model-used",
        no_edit,
        (*RUN, "--block", "framediff"),
        ("models.fd.plugin", "unknown model 'framediff'"),
    ),
    Case(
        "plugin-file-missing",
        no_edit,
        (*RUN, "--plugin", "nope.py"),
        ("plugin file nope.py does not exist",),
    ),
    Case(
        "matrix-plugin-missing",
        replace("name: tiny\n", "name: tiny\nplugins: [gone.py]\n"),
        RUN,
        ("plugin file", "gone.py does not exist"),
    ),
    Case(
        "plugin-raises-on-import",
        write_file("boom.py", "raise ImportError('needs the moon')\n"),
        (*RUN, "--plugin", "boom.py"),
        ("plugin file boom.py raised on import", "needs the moon"),
    ),
    Case(
        "plugin-syntax-error",
        write_file("broken.py", "def (:\n"),
        (*RUN, "--plugin", "broken.py"),
        ("plugin file broken.py raised on import", "SyntaxError"),
    ),
    Case(
        "plugin-raises-in-hook",
        write_file(
            "hook.py",
            (
                "from vadbench.sdk import hookimpl\n\n@hookimpl\n"
                "def vadbench_register_models(register):\n    raise KeyError('oops')\n"
            ),
        ),
        ("list", "models", "--plugin", "hook.py"),
        ("plugin 'file:hook.py' raised in vadbench_register_models",),
    ),
    Case(
        "plugin-misspelt-hook",
        write_file(
            "typo.py",
            (
                "from vadbench.sdk import hookimpl\n\n@hookimpl\n"
                "def vadbench_register_model(register):\n    return None\n"
            ),
        ),
        ("plugins", "--plugin", "typo.py"),
        ("file:typo.py", "does not match the hook contract"),
    ),
    Case(
        "plugin-registers-twice",
        write_file(
            "twice.py",
            (
                "from vadbench.sdk import ModelSpec, Options, hookimpl\n\n"
                "@hookimpl\ndef vadbench_register_models(register):\n"
                "    register(ModelSpec('framediff', 'again', Options, object))\n"
            ),
        ),
        ("list", "models", "--plugin", "twice.py"),
        ("'framediff'", "already registered"),
    ),
    Case(
        "only-unknown-cell",
        no_edit,
        (*RUN, "--only", "fd__a__s0__nothere"),
        ("--only", "plans no cell 'fd__a__s0__nothere'"),
    ),
    Case(
        "results-dir-is-a-file",
        write_file("taken", "a file"),
        (*RUN, "--results-dir", "taken"),
        ("taken is a file", "needs a folder"),
    ),
    Case(
        "results-dir-under-a-file",
        write_file("taken", "a file"),
        (*RUN, "--results-dir", "taken/deeper"),
        ("taken is a file",),
    ),
    Case(
        "results-dir-not-writable",
        no_edit,
        (*RUN, "--results-dir", "/sys/vadbench-results"),
        ("/sys/vadbench-results/tiny: cannot write the run folder",),
    ),
    Case("report-not-a-run", no_edit, ("report", "data"), ("data: not a vadbench run folder",)),
    Case(
        "report-missing-folder",
        no_edit,
        ("report", "results/none"),
        ("results/none: not a vadbench run folder",),
    ),
    Case(
        "report-unknown-reporter",
        no_edit,
        ("report", str(RUN_DIR), "--reporter", "htm"),
        ("reporter", "unknown reporter 'htm'"),
    ),
    Case(
        "report-damaged-run-file",
        write_file(str(RUN_DIR / "run.json"), '{"cells": '),
        ("report", str(RUN_DIR)),
        ("run.json is damaged",),
    ),
    Case(
        "report-run-file-not-object",
        write_file(str(RUN_DIR / "run.json"), "[1, 2]"),
        ("report", str(RUN_DIR)),
        ("run.json is damaged",),
    ),
    Case("profile-unknown-model", no_edit, ("profile", "zxvd"), ("unknown model 'zxvd'",)),
    Case("profile-nothing", no_edit, ("profile",), ("profile needs PLUGIN[:PRESET]",)),
    Case("profile-unknown-preset", no_edit, ("profile", "zxvad:gpu"), ("no preset 'gpu'",)),
    Case("profile-config-missing", no_edit, ("profile", "--config", "none.yaml"), ("none.yaml",)),
]

CONFIGURATION += [
    Case(
        "executor-option-misspelt",
        replace("name: tiny\n", "name: tiny\nexecutor: processes\nexecutor_options: {wrkers: 2}\n"),
        RUN,
        ("executor_options.wrkers: unknown field", "did you mean 'workers'"),
    ),
    Case(
        "no-workers",
        replace(
            "name: tiny\n", "name: tiny\nexecutor: processes\nexecutor_options: {workers: 0}\n"
        ),
        RUN,
        ("executor_options.workers", "greater than or equal to 1"),
    ),
    Case(
        "local-executor-takes-no-options",
        replace("name: tiny\n", "name: tiny\nexecutor_options: {workers: 2}\n"),
        RUN,
        ("executor_options.workers: unknown field",),
    ),
    Case(
        "metric-options-unknown-metric",
        replace("name: tiny\n", "name: tiny\nmetric_options: {fsp: {repeats: 2}}\n"),
        RUN,
        ("metric_options.fsp", "unknown metric 'fsp'", "did you mean 'fps'"),
    ),
    Case(
        "metric-option-misspelt",
        replace("name: tiny\n", "name: tiny\nmetric_options: {fps: {repeat: 2}}\n"),
        RUN,
        ("metric_options.fps.repeat: unknown field", "did you mean 'repeats'"),
    ),
    Case(
        "metric-option-out-of-range",
        replace("name: tiny\n", "name: tiny\nmetric_options: {energy: {window_seconds: 0}}\n"),
        RUN,
        ("metric_options.energy.window_seconds", "greater than 0"),
    ),
    Case(
        "metric-without-options",
        replace("name: tiny\n", "name: tiny\nmetric_options: {micro_auc: {bins: 10}}\n"),
        RUN,
        ("metric_options.micro_auc.bins: unknown field",),
    ),
]

CONFIGURATION += [
    Case(
        "videofolder-without-test",
        chain(
            write_file("data/clips/train/walk.avi", b""),
            replace(
                "  b: {plugin: frames, options: {root: data/b}}",
                "  b: {plugin: videofolder, options: {root: data/clips}}",
            ),
        ),
        RUN,
        ("matrix.0.test", "dataset 'b', test split", "test"),
    ),
    Case(
        "task-irrelevant-set-as-target",
        replace(
            "  b: {plugin: frames, options: {root: data/b}}",
            "  b: {plugin: synthetic, options: {domain: ti}}",
        ),
        RUN,
        ("matrix.0.test", "dataset 'b', test split", "training data only"),
    ),
    Case(
        "synthetic-unknown-domain",
        replace(
            "  b: {plugin: frames, options: {root: data/b}}",
            "  b: {plugin: synthetic, options: {domain: campsu}}",
        ),
        RUN,
        ("datasets.b", "campsu"),
    ),
    Case(
        "missing-option-misspelt",
        replace("{root: data/b}", "{root: data/b, missing: skipp}"),
        RUN,
        ("datasets.b.options.missing", "'error' or 'skip'"),
    ),
]

CONFIGURATION += [
    Case(
        "budget-two-kinds",
        replace("name: tiny\n", "name: tiny\nbudget: {steps: 5, seconds: 3}\n"),
        RUN,
        ("matrix.yaml: budget", "exactly one of steps, seconds, gmacs or until: converged"),
    ),
    Case(
        "budget-zero-steps",
        replace("name: tiny\n", "name: tiny\nbudget: {steps: 0}\n"),
        RUN,
        ("matrix.yaml: budget.steps", "greater than or equal to 1"),
    ),
    Case(
        "budget-misspelt",
        replace("name: tiny\n", "name: tiny\nbudget: {step: 5}\n"),
        RUN,
        ("matrix.yaml: budget.step: unknown field", "did you mean 'steps'"),
    ),
    Case(
        "statistics-too-few-resamples",
        replace("name: tiny\n", "name: tiny\nstatistics: {resamples: 10}\n"),
        RUN,
        ("matrix.yaml: statistics.resamples", "greater than or equal to 100"),
    ),
    Case(
        "statistics-confidence-as-percent",
        replace("name: tiny\n", "name: tiny\nstatistics: {confidence: 95}\n"),
        RUN,
        ("matrix.yaml: statistics.confidence", "less than 1"),
    ),
]

REFERENCE_BLOCK = "reference:\n  source: paper\n  values: VALUES\n"
CONFIGURATION += [
    Case(
        "unhashable-yaml-key",
        replace("name: tiny\n", "name: tiny\n{a: 1}: 2\n"),
        RUN,
        ("matrix.yaml", "malformed YAML", "unhashable"),
    ),
    Case(
        "reference-unknown-model",
        replace(
            "reporters:", REFERENCE_BLOCK.replace("VALUES", "{fdd: {a: {b: 0.5}}}") + "reporters:"
        ),
        RUN,
        ("reference.values.fdd", "unknown model 'fdd'", "did you mean 'fd'"),
    ),
    Case(
        "reference-unknown-target",
        replace(
            "reporters:", REFERENCE_BLOCK.replace("VALUES", "{fd: {a: {c: 0.5}}}") + "reporters:"
        ),
        RUN,
        ("reference.values.fd.a.c", "unknown target 'c'"),
    ),
    Case(
        "reference-unknown-source",
        replace(
            "reporters:", REFERENCE_BLOCK.replace("VALUES", "{fd: {b: {b: 0.5}}}") + "reporters:"
        ),
        RUN,
        ("reference.values.fd.b", "unknown source for this model 'b'"),
    ),
    Case(
        "reference-percent-not-auc",
        replace(
            "reporters:", REFERENCE_BLOCK.replace("VALUES", "{fd: {a: {b: 85.1}}}") + "reporters:"
        ),
        RUN,
        ("reference.values", "fd.a.b: 85.1 is not an AUC in [0, 1]"),
    ),
    Case(
        "reference-without-source",
        replace("reporters:", "reference: {values: {fd: {a: {b: 0.5}}}}\nreporters:"),
        RUN,
        ("reference.source", "Field required"),
    ),
]

CONFIGURATION += [
    Case(
        "environment-variable-unset",
        replace("{root: data/b}", "{root: '${VADBENCH_TEST_UNSET}/b'}"),
        RUN,
        (
            "matrix.yaml.datasets.b.options.root",
            "environment variable VADBENCH_TEST_UNSET is not set",
        ),
    ),
    Case(
        "set-without-value",
        no_edit,
        (*RUN, "--set", "datasets.b.options.root"),
        ("--set 'datasets.b.options.root': expected FIELD.PATH=VALUE",),
    ),
    Case(
        "set-list-item-missing",
        no_edit,
        (*RUN, "--set", "matrix.3.train=a"),
        ("--set matrix.3.train", "has no list item matrix.3"),
    ),
    Case(
        "set-into-a-scalar",
        no_edit,
        (*RUN, "--set", "name.sub=x"),
        ("--set name.sub", "name is not a mapping"),
    ),
    Case(
        "set-unknown-field",
        no_edit,
        (*RUN, "--set", "datasets.b.options.rot=data/b"),
        ("datasets.b.options", "rot: unknown field", "did you mean 'root'"),
    ),
]

CELL_FAULTS = [
    Case(
        "model-returns-none",
        faulty("none"),
        RUN,
        ("FAILED", "model 'bad' returned None instead of scores for video '01'"),
        code=1,
    ),
    Case(
        "model-returns-2d",
        faulty("matrix"),
        RUN,
        ("FAILED", "model 'bad' returned scores of shape (29, 2) for video '01'"),
        code=1,
    ),
    Case(
        "model-returns-text",
        faulty("text"),
        RUN,
        ("FAILED", "model 'bad' returned scores for video '01' that are not numbers"),
        code=1,
    ),
    Case(
        "model-returns-nan",
        faulty("nan"),
        RUN,
        ("FAILED", "video '01': score of frame 1 is nan"),
        code=1,
    ),
    Case(
        "model-returns-too-few",
        faulty("short"),
        RUN,
        ("FAILED", "video '01': 26 scores for 30 frames"),
        code=1,
    ),
    Case(
        "model-fit-raises",
        faulty("fit_raises"),
        RUN,
        ("FAILED fit: RuntimeError: loss exploded at step 3",),
        code=1,
    ),
    Case(
        "model-score-raises",
        faulty("score_raises"),
        RUN,
        ("FAILED score a: ValueError: cannot score this video",),
        code=1,
    ),
    Case(
        "label-length-wrong",
        chain(
            write_file("data/b/testing/test_frame_mask/01.npy", b""),
            damage("cells/*/targets/b/*", remove),
        ),
        RUN,
        ("FAILED", "01.npy"),
        code=1,
    ),
    Case(
        "corrupt-frame",
        chain(
            write_file("data/b/testing/frames/01/005.png", b"not a png"),
            damage("cells/*/targets/b/*", remove),
        ),
        RUN,
        ("FAILED", "005.png"),
        code=1,
    ),
]


CELL_FAULTS += [
    Case(
        "frames-missing-in-a-video",
        chain(
            damage("cells/*/targets/b/*", remove),
            lambda root: (root / "data/b/testing/frames/01/004.png").unlink(),
            lambda root: (root / "data/b/testing/frames/01/011.png").unlink(),
        ),
        RUN,
        ("FAILED", "2 files the test split needs are missing", "01/004.png, 01/011.png"),
        code=1,
    ),
    Case(
        "label-file-missing",
        chain(
            damage("cells/*/targets/b/*", remove),
            lambda root: (root / "data/b/testing/test_frame_mask/01.npy").unlink(),
        ),
        RUN,
        ("FAILED", "missing", "01"),
        code=1,
    ),
    Case(
        "frames-of-mixed-sizes",
        chain(
            damage("cells/*/targets/b/*", remove),
            write_file("data/b/testing/frames/01/007.png", png_bytes(np.zeros((9, 9, 3), "uint8"))),
        ),
        RUN,
        ("FAILED", "frames differ in size", "007.png"),
        code=1,
    ),
]


def _check_stored_unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    """Every stored cell file is as it was; the run file and leaderboards are rewritten."""
    changed = sorted(
        name
        for name, digest in before.items()
        if Path(name).parts[1] == "cells" and after.get(name) != digest
    )
    assert not changed, changed


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """About 500 bytes of YAML that expand to ``width ** levels`` values."""
    lines = ["a0: &a0 [x]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def lock_link(name: str, target: str) -> Edit:
    """The run folder's lock file ``name`` made a symbolic link to ``target`` (relative to the
    workspace), as a hostile or careless hand could leave it."""

    def edit(root: Path) -> None:
        link = root / RUN_DIR / name
        link.unlink(missing_ok=True)
        link.symlink_to(root / target)

    return edit


# Issue 28: YAML that would recurse, expand without bound or fail inside PyYAML, and lock files
# that are links out of the results folder.
CONFIGURATION += [
    Case(
        "recursive-anchor",
        replace("name: tiny\n", "name: tiny\nx: &a [*a]\n"),
        RUN,
        ("matrix.yaml", "a YAML alias refers to a value that contains it"),
    ),
    Case(
        "recursive-anchor-in-set",
        no_edit,
        (*RUN, "--set", "x=&a [*a]"),
        ("--set x", "a YAML alias refers to a value that contains it"),
    ),
    Case(
        "alias-bomb",
        replace("name: tiny\n", "name: tiny\n" + alias_bomb()),
        RUN,
        ("matrix.yaml", "more than 100,000 values once its aliases are expanded"),
    ),
    Case(
        "deep-nesting",
        replace("name: tiny\n", "name: tiny\nx: " + "[" * 5000 + "]" * 5000 + "\n"),
        RUN,
        ("matrix.yaml", "nested"),
    ),
    Case(
        "huge-file",
        replace("name: tiny\n", "name: tiny\n# " + "x" * 1_100_000 + "\n"),
        RUN,
        ("matrix.yaml", "bytes of YAML; at most 1,000,000 are read"),
    ),
    *(
        Case(f"bad-tag-{tag}", replace("name: tiny\n", f"name: !!{tag} x\n"), RUN,
             ("matrix.yaml", "malformed YAML"))
        for tag in ("int", "float", "timestamp", "set")
    ),
    Case(
        "lock-is-a-link-out",
        chain(write_file("outside.txt", "keep me"), lock_link(".lock", "outside.txt")),
        RUN,
        (".lock is a symbolic link", "never writes through a link"),
    ),
    Case(
        "worker-lock-is-a-dangling-link",
        lock_link(".lock.workers", "created-outside.txt"),
        RUN,
        (".lock.workers is a symbolic link",),
    ),
]  # fmt: skip


# Issue 28: a root that is a file, and a plugin that registers the wrong thing.
CONFIGURATION += [
    Case(
        "dataset-root-is-a-file",
        chain(
            write_file("rootfile", "x"),
            replace("{root: data/a}}", "{root: rootfile}}"),
        ),
        RUN,
        ("datasets.a", "rootfile is a file, not a folder"),
    ),
    Case(
        "plugin-registers-a-wrong-spec",
        write_file(
            "wrong.py",
            (
                "from vadbench.sdk import DatasetSpec, NoOptions, hookimpl\n\n@hookimpl\n"
                "def vadbench_register_models(register):\n"
                "    register(DatasetSpec('x', 'a dataset', '', NoOptions, object))\n"
            ),
        ),
        ("list", "models", "--plugin", "wrong.py"),
        ("'file:wrong.py' registered a DatasetSpec in vadbench_register_models",
         "that hook takes ModelSpec(...)"),
    ),
]  # fmt: skip


def retype_json(relative: str, field_path: tuple[str, ...], value: object) -> Edit:
    """A stored JSON file with one field set to a value of the wrong type (still valid JSON)."""

    def edit(root: Path) -> None:
        for path in sorted((root / RUN_DIR).glob(relative)):
            data = json.loads(path.read_text())
            node = data
            for key in field_path[:-1]:
                node = node[key]
            node[field_path[-1]] = value
            path.write_text(json.dumps(data))

    return edit


# Issue 28: valid JSON of the wrong shape in a run folder is named, never a traceback; a name
# with a newline or an escape sequence is printed escaped, on the one error line.
CONFIGURATION += [
    Case("name-with-a-newline", replace("  - train: a\n", '  - train: "a\\nerror: forged"\n'),
         RUN, ("a\\nerror: forged",)),
    Case("name-with-an-escape-sequence",
         replace("{plugin: frames,", '{plugin: "fra\\x1b[31mmes",'), RUN, ("\\x1b[31m",)),
    Case("report-run-metrics-a-list", retype_json("run.json", ("metrics",), [1]),
         ("report", str(RUN_DIR)), ("run.json is damaged (metrics", "run the matrix again")),
    Case("report-run-targets-a-list", retype_json("run.json", ("targets",), [1]),
         ("report", str(RUN_DIR)), ("run.json is damaged (targets",)),
    Case("report-run-statistics-a-list", retype_json("run.json", ("config", "statistics"), [1]),
         ("report", str(RUN_DIR)), ("run.json is damaged (config.statistics",)),
]  # fmt: skip


# Issue 28: every numeric option has a finite, documented range.
CONFIGURATION += [
    Case("budget-seconds-inf", replace("name: tiny\n", "name: tiny\nbudget: {seconds: .inf}\n"),
         RUN, ("budget.seconds", "less than or equal to 2592000")),
    Case("budget-gmacs-huge", replace("name: tiny\n", "name: tiny\nbudget: {gmacs: 1.0e+308}\n"),
         RUN, ("budget.gmacs", "less than or equal to")),
    Case("threads-a-million", replace("name: tiny\n", "name: tiny\nthreads: 1000000\n"),
         RUN, ("threads", "less than or equal to 1024")),
    Case("framediff-image-huge", replace("image_size: 16}", "image_size: 1000000}"),
         RUN, ("models.fd.overrides.image_size", "less than or equal to 4096")),
    Case("energy-window-inf",
         replace("name: tiny\n", "name: tiny\nmetric_options: {energy: {window_seconds: .inf}}\n"),
         RUN, ("window_seconds", "less than or equal to 600")),
]  # fmt: skip


def unloadable_weights(root: Path) -> None:
    """framediff's weights replaced by bytes torch cannot load, with fit.json's checksum
    updated so that the checkpoint counts as intact."""
    (checkpoint,) = (root / RUN_DIR).glob("cells/fd__*/checkpoint")
    weights = checkpoint / "framediff.pt"
    weights.write_bytes(b"not a torch file")
    fit = json.loads((checkpoint / "fit.json").read_text())
    fit["files"][weights.name] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (checkpoint / "fit.json").write_text(json.dumps(fit))


DETECT = ("detect", "results/tiny:fd", "data/b/testing/frames/01", "--out", "detected")
SYNTHETIC_TARGET = chain(
    replace("datasets:\n", "datasets:\n  s: {plugin: synthetic, options: {domain: campus}}\n"),
    replace("test: [a, b]", "test: [a, b, s]"),
)

# Issue 28: detect's settings, its --out, and the stored files it reads; the caches that the
# environment names.
CONFIGURATION += [
    Case("detect-quantile-five", no_edit, (*DETECT, "--quantile", "5"),
         ("--quantile 5.0: expected a number between 0 and 1",)),
    Case("detect-threshold-nan", no_edit, (*DETECT, "--threshold", "nan"),
         ("--threshold nan: expected a finite number",)),
    Case("detect-negative-fps", no_edit, (*DETECT, "--fps", "-1"),
         ("--fps -1.0: expected a positive frame rate",)),
    Case("detect-out-is-a-file", write_file("detected", "a file"), DETECT,
         ("--out detected: is a file; expected a folder",)),
    Case("detect-checkpoint-does-not-load", unloadable_weights, DETECT,
         ("the checkpoint could not be loaded",)),
    Case("detect-garbage-calibration",
         retype_json("cells/fd__*/calibration.json", ("scores",), []), DETECT,
         ("no stored calibration to set a threshold from",)),
    Case("detect-cell-options-retyped",
         retype_json("cells/fd__*/cell.json", ("options", "image_size"), "large"), DETECT,
         ("cell.json", "image_size")),
    Case("frame-cache-budget-misspelt", no_edit, RUN,
         ("VADBENCH_FRAME_CACHE='lots'", "expected a size such as 20G"),
         env={"VADBENCH_FRAME_CACHE": "lots"}),
    Case("synthetic-cache-under-a-file", chain(write_file("blocker", "x"), SYNTHETIC_TARGET), RUN,
         ("cache folder", "set VADBENCH_CACHE to a writable folder"),
         env={"VADBENCH_CACHE": "blocker/cache"}),
]  # fmt: skip


@pytest.mark.parametrize("case", CONFIGURATION, ids=[case.id for case in CONFIGURATION])
def test_configuration_mistake(stored: Path, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    case.edit(stored)
    outside = snapshot(stored, skip="results")
    neighbours = sorted(p.name for p in stored.parent.iterdir())
    results = snapshot(stored / "results")
    result = run_cli(*case.argv, cwd=stored)
    assert result.returncode == case.code, result.output
    line = error_line(result)
    for fragment in case.fragments:
        assert fragment in line, line
    assert snapshot(stored, skip="results") == outside
    assert sorted(p.name for p in stored.parent.iterdir()) == neighbours
    assert snapshot(stored / "results") == results


def labels_file(values: list[float]) -> Edit:
    """Target b's frame labels replaced, its stored results removed so that it is scored."""

    def edit(root: Path) -> None:
        for path in (root / RUN_DIR).glob("cells/*/targets/b/*"):
            path.unlink()
        labels = np.zeros(30, dtype=np.float64)
        labels[15 : 15 + len(values)] = values
        np.save(root / "data/b/testing/test_frame_mask/01.npy", labels)

    return edit


# Issue 28: labels that are neither 0 nor 1 are refused, naming the file and the frame.
CELL_FAULTS += [
    Case("label-of-two", labels_file([1, 2]), RUN,
         ("FAILED", "test_frame_mask/01.npy: frame 16 is labelled", "2.0"), code=1),
    Case("label-of-minus-one", labels_file([-1]), RUN,
         ("FAILED", "test_frame_mask/01.npy: frame 15 is labelled", "-1.0"), code=1),
    Case("label-nan", labels_file([1, 1, float("nan")]), RUN,
         ("FAILED", "test_frame_mask/01.npy: frame 17 is labelled", "nan"), code=1),
]  # fmt: skip


def result_is_a_folder(root: Path) -> None:
    """Target b's result.json replaced by a folder, so that it cannot be written."""
    for path in sorted((root / RUN_DIR).glob("cells/fd__*/targets/b/result.json")):
        path.unlink()
        path.mkdir()


# Issue 28: a result that cannot be written fails its target, naming the file; the rest goes on.
CELL_FAULTS += [
    Case("result-cannot-be-written", result_is_a_folder, RUN,
         ("FAILED", "result.json"), code=1),
]  # fmt: skip


@pytest.mark.parametrize("case", CELL_FAULTS, ids=[case.id for case in CELL_FAULTS])
def test_fault_inside_a_cell(stored: Path, case: Case) -> None:
    case.edit(stored)
    outside = snapshot(stored, skip="results")
    results = snapshot(stored / "results")
    result = run_cli(*case.argv, cwd=stored)
    assert result.returncode == case.code, result.output
    assert "Traceback" not in result.output
    failed = [line for line in result.output.splitlines() if "FAILED" in line]
    assert failed, result.output
    for line in failed:
        for fragment in case.fragments:
            assert fragment in line, line
    assert "cell(s) had failures" in result.output
    assert snapshot(stored, skip="results") == outside
    _check_stored_unchanged(results, snapshot(stored / "results"))
    board = (stored / RUN_DIR / "leaderboard.md").read_text()
    assert "## failures" in board


SCORES = "cells/fd__*/targets/b/scores.npz"
RESULT = "cells/fd__*/targets/b/result.json"
TARGET_B = "cells/fd__*/targets/b/*"  # every stored file of target b: it must be scored again
DROP_MACRO = replace("metrics: [micro_auc, macro_auc,", "metrics: [micro_auc,")

# (case, the damaged file's name in the warning); each run recomputes and exits 0.
DAMAGE = [
    Case(
        "truncated-scores",
        chain(damage(SCORES, truncate), DROP_MACRO),
        RUN,
        ("scores.npz is damaged", "checksum"),
        code=0,
    ),
    Case(
        "flipped-scores",
        chain(damage(SCORES, flip_a_byte), DROP_MACRO),
        RUN,
        ("scores.npz is damaged", "checksum"),
        code=0,
    ),
    Case(
        "truncated-scores-without-checksum",
        chain(damage(SCORES, truncate), damage(SCORES + ".sha256", remove), DROP_MACRO),
        RUN,
        ("scores.npz is damaged",),
        code=0,
    ),
    Case(
        "truncated-result",
        damage(RESULT, truncate),
        RUN,
        ("result.json is damaged", "JSONDecodeError"),
        code=0,
    ),
    Case(
        "result-not-an-object",
        damage(RESULT, write_text("[1, 2]")),
        RUN,
        ("result.json is damaged", "expected a JSON object"),
        code=0,
    ),
    Case(
        "result-without-metrics",
        damage(RESULT, write_text('{"hash": "x"}')),
        ("report", str(RUN_DIR)),
        ("result.json is damaged", "no target, protocol, videos, frames, metrics, time"),
        code=0,
    ),
    Case(
        "result-damaged-on-report",
        damage(RESULT, truncate),
        ("report", str(RUN_DIR)),
        ("result.json is damaged",),
        code=0,
    ),
    Case(
        "cell-file-damaged-on-report",
        damage("cells/fd__*/cell.json", truncate),
        ("report", str(RUN_DIR)),
        ("cell.json is damaged",),
        code=0,
    ),
    Case(
        "cell-file-missing-keys",
        damage("cells/fd__*/cell.json", write_text("{}")),
        ("report", str(RUN_DIR)),
        ("cell.json is damaged", "no hash, id, model"),
        code=0,
    ),
    Case(
        "efficiency-damaged",
        damage("cells/fd__*/efficiency.json", truncate),
        RUN,
        ("efficiency.json is damaged",),
        code=0,
    ),
    Case(
        "checkpoint-weights-changed",
        chain(damage("cells/fd__*/checkpoint/framediff.pt", flip_a_byte), damage(TARGET_B, remove)),
        RUN,
        ("checkpoint is damaged", "checksums"),
        code=0,
    ),
    Case(
        "fit-marker-damaged",
        chain(damage("cells/fd__*/checkpoint/fit.json", truncate), damage(TARGET_B, remove)),
        RUN,
        ("fit.json is damaged",),
        code=0,
    ),
    Case("run-file-damaged", damage("run.json", truncate), RUN, ("run.json is damaged",), code=0),
    Case(
        "failure-record-damaged",
        damage(
            "cells/fd__*/targets/b", lambda folder: (folder / "failure.json").write_text("{broken")
        ),
        ("report", str(RUN_DIR)),
        ("failure.json is damaged",),
        code=0,
    ),
]


def remove_cell(pattern: str) -> Edit:
    def edit(root: Path) -> None:
        (folder,) = (root / RUN_DIR).glob(pattern)
        shutil.rmtree(folder)

    return edit


# Issue 28: a stored record of the wrong shape counts as damaged (its cell or target pending).
DAMAGE += [
    Case("cell-targets-a-list", retype_json("cells/fd__*/cell.json", ("targets",), [1]),
         ("report", str(RUN_DIR)), ("cell.json is damaged",), code=0),
    Case("cell-seed-retyped", retype_json("cells/fd__*/cell.json", ("seed",), "zero"),
         ("report", str(RUN_DIR)), ("cell.json is damaged",), code=0),
    Case("result-metrics-a-list", retype_json(RESULT, ("metrics",), [1]),
         ("report", str(RUN_DIR)), ("result.json is damaged",), code=0),
]  # fmt: skip


# Issue 28: damaged scores under an intact result are scored again, with nothing else changed;
# a planned cell whose folder is gone is reported pending, with a warning.
DAMAGE += [
    Case("cell-folder-missing", remove_cell("cells/fd2__*"), ("report", str(RUN_DIR)),
         ("records are missing", "reported as pending"), code=0),
    Case("truncated-scores-result-intact", damage(SCORES, truncate), RUN,
         ("scores.npz is damaged", "checksum"), code=0),
    Case("truncated-scores-without-checksum-result-intact",
         chain(damage(SCORES, truncate), damage(SCORES + ".sha256", remove)), RUN,
         ("scores.npz is damaged",), code=0),
]  # fmt: skip


def link_out(path: Path) -> None:
    """Move a stored file or folder out of the results folder, a symbolic link to it left."""
    root = next(parent for parent in path.parents if parent.name == "results").parent
    away = root / "elsewhere" / "__".join(path.relative_to(root).parts)
    away.parent.mkdir(exist_ok=True)
    shutil.move(path, away)
    path.symlink_to(away, target_is_directory=away.is_dir())


CHECKPOINT = "cells/fd__*/checkpoint"

# Issue 28: a stored file that is a link out of the run folder is never read through (it counts
# as damaged, and the write that repairs it replaces the link); a damaged checkpoint is trained
# again even when every target is done.
DAMAGE += [
    Case("result-a-link-out", damage(RESULT, link_out), RUN,
         ("result.json is damaged", "symbolic link"), code=0),
    Case("scores-a-link-out", damage(SCORES, link_out), RUN,
         ("scores.npz is damaged", "symbolic link"), code=0),
    Case("calibration-a-link-out", damage("cells/fd__*/calibration.json", link_out), RUN,
         ("calibration.json is damaged", "symbolic link"), code=0),
    Case("run-file-a-link-out", damage("run.json", link_out), RUN,
         ("run.json is damaged", "symbolic link"), code=0),
    Case("checkpoint-weights-a-link-out", damage(CHECKPOINT + "/framediff.pt", link_out), RUN,
         ("checkpoint is damaged", "checksums"), code=0),
    Case("checkpoint-weights-changed-targets-done",
         damage(CHECKPOINT + "/framediff.pt", flip_a_byte), RUN,
         ("checkpoint is damaged", "checksums"), code=0),
]  # fmt: skip

# Issue 28: a folder of the run that is a link out of it is refused, one line naming it.
CONFIGURATION_LINKS = [
    Case("checkpoint-folder-a-link-out", damage(CHECKPOINT, link_out), RUN,
         ("checkpoint: refusing to write outside the run folder",)),
    Case("target-folder-a-link-out", damage("cells/fd__*/targets/b", link_out), RUN,
         ("targets/b: refusing to write outside the run folder",)),
]  # fmt: skip


@pytest.mark.parametrize("case", CONFIGURATION_LINKS, ids=[c.id for c in CONFIGURATION_LINKS])
def test_a_folder_linked_out_of_the_run_is_refused(stored: Path, case: Case) -> None:
    """Refused when the walk reaches it: the run file is rewritten, no cell file changes."""
    case.edit(stored)
    outside = snapshot(stored, skip="results")
    results = snapshot(stored / "results")
    result = run_cli(*case.argv, cwd=stored)
    assert result.returncode == case.code, result.output
    line = error_line(result)
    assert all(fragment in line for fragment in case.fragments), line
    assert snapshot(stored, skip="results") == outside
    _check_stored_unchanged(results, snapshot(stored / "results"))


@pytest.mark.parametrize("case", DAMAGE, ids=[case.id for case in DAMAGE])
def test_damaged_stored_file(stored: Path, case: Case) -> None:
    case.edit(stored)
    outside = snapshot(stored, skip="results")
    result = run_cli(*case.argv, cwd=stored)
    assert result.returncode == case.code, result.output
    assert "Traceback" not in result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert len(warned) >= 1, result.output
    assert all(fragment in warned[0] for fragment in case.fragments), warned
    assert snapshot(stored, skip="results") == outside
    if case.argv[0] == "run":  # recomputed: the leaderboard is whole again
        again = run_cli(*case.argv, cwd=stored)
        assert again.returncode == 0 and "warning" not in again.output, again.output
        assert "pending" not in (stored / RUN_DIR / "leaderboard.md").read_text()


@pytest.mark.parametrize("how", [truncate, flip_a_byte, remove, link_out])
def test_a_run_after_damaged_scores_reports_what_an_undamaged_run_does(
    stored: Path, pristine: tuple[Path, Path], how: Callable[[Path], None]
) -> None:
    damage(SCORES, how)(stored)
    result = run_cli(*RUN, cwd=stored)
    assert result.returncode == 0, result.output
    _, copy = pristine
    for name in ("results.json", "leaderboard.md"):
        assert (stored / RUN_DIR / name).read_text() == (copy / RUN_DIR / name).read_text(), name


def test_a_file_size_limit_stops_the_run_with_one_line_and_keeps_the_results(
    stored: Path,
) -> None:
    before = snapshot(stored / "results")

    def limited() -> None:  # run.json of the tiny run is some kilobytes: it cannot be written
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    result = subprocess.run(
        [sys.executable, "-m", "vadbench", "run", "matrix.yaml", "--force"],
        cwd=stored, capture_output=True, text=True, timeout=300, preexec_fn=limited,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "File too large" in errors[0], output
    assert "results finished before are kept" in errors[0]
    _check_stored_unchanged(before, snapshot(stored / "results"))


def test_a_one_frame_test_video_is_scored_and_named_as_left_out_of_macro(stored: Path) -> None:
    """A test video of one frame has no frame a predictor scores: the run says so and goes on."""
    video = stored / "data/b/testing/frames/02"
    video.mkdir()
    shutil.copy(stored / "data/b/testing/frames/01/000.png", video / "000.png")
    np.save(stored / "data/b/testing/test_frame_mask/02.npy", np.array([1]))
    result = run_cli(*RUN, "--force", cwd=stored)  # a dataset's fingerprint is not its content
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output and "error" not in result.output.lower()
    rows = json.loads((stored / RUN_DIR / "results.json").read_text())["rows"]
    scored = [row for row in rows if row["target"] == "b" and row["metric"] == "micro_auc"]
    assert len(scored) == 2 and all(np.isfinite(row["value"]) for row in scored), scored
    assert (
        "a → b: 1 single-class video(s) left out"
        in (stored / RUN_DIR / "leaderboard.md").read_text()
    )
