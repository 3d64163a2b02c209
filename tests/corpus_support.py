"""What the bad-input corpus shares: an in-process CLI, a stored run to copy, and snapshots.

The corpus calls ``vadbench.commands.main`` in this process (no interpreter start per case), on a
copy of a workspace whose tiny matrix was run once per test session, so that each case can check
that what was stored before is still there, byte for byte, afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.builders import write_square_dataset
from tests.conftest import TINY_MATRIX, labels
from vadbench.commands import main

# A model plugin that misbehaves on request, for faults inside a cell.
# A zxVAD small enough to train three steps in seconds, as a matrix's models entry ``zx``.
TINY_ZXVAD = """
  zx:
    plugin: zxvad
    overrides:
      context_frames: 2
      image_size: 32
      unet_widths: [4, 8, 16, 32]
      memory_items: 16
      discriminator_widths: [4, 8, 8, 8]
      classifier_widths: [4, 8, 8, 8]
      object_input_size: 64
      batch_size: 2
      train_steps: 3
""".strip("\n")

FAULTY_PLUGIN = """
import time
from pathlib import Path

import numpy as np
from typing import Literal

from vadbench.sdk import ModelSpec, Options, hookimpl

Mode = Literal[
    "ok", "slow", "none", "matrix", "nan", "short", "text", "fit_raises", "score_raises"
]


class FaultyOptions(Options):
    mode: Mode = "ok"


class Faulty:
    context_frames = 1
    score_kind = "anomaly"

    def __init__(self, options, device):
        self.mode = options.mode

    def fit(self, source, aux, ctx):
        if self.mode == "slow":
            time.sleep(4)
        if self.mode == "fit_raises":
            raise RuntimeError("loss exploded at step 3")

    def score(self, video):
        if self.mode == "score_raises":
            raise ValueError("cannot score this video")
        count = video.num_frames - 1
        return {
            "none": None,
            "matrix": np.zeros((count, 2)),
            "nan": np.full(count, np.nan),
            "short": np.arange(count - 3, dtype=float),
            "text": "high",
        }.get(self.mode, np.linspace(0.0, 1.0, count))

    def save(self, folder):
        (Path(folder) / "mode.txt").write_text(self.mode)

    def load(self, folder):
        self.mode = (Path(folder) / "mode.txt").read_text()

    def inference_module(self):
        return None


@hookimpl
def vadbench_register_models(register):
    register(ModelSpec("faulty", "misbehaves on request", FaultyOptions, Faulty))
"""


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).strip()


def run_cli(*argv: str, cwd: Path) -> CliResult:
    """``vadbench ARGV`` in this process, in ``cwd``; an exception escaping main propagates."""
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        os.chdir(previous)
    return CliResult(code, out.getvalue(), err.getvalue())


def build_workspace(root: Path) -> Path:
    """The conftest workspace (two tiny datasets, the tiny matrix) plus the faulty plugin."""
    write_square_dataset(root / "data" / "a", [20, 20], [labels(30, 8, 20), labels(24, 4, 10)])
    write_square_dataset(root / "data" / "b", [20], [labels(30, 15, 26)], seed=1)
    (root / "matrix.yaml").write_text(TINY_MATRIX)
    (root / "faulty.py").write_text(textwrap.dedent(FAULTY_PLUGIN))
    return root


def copy_workspace(template: Path, destination: Path) -> Path:
    shutil.copytree(template, destination, symlinks=True)
    return destination


def snapshot(root: Path, skip: str | None = None) -> dict[str, str]:
    """SHA-256 of every file under ``root`` by relative path, leaving out the top folder
    ``skip``."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if skip is not None and relative.parts[0] == skip:
            continue
        if path.is_file():
            found[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def error_line(result: CliResult) -> str:
    """The one line a user-facing error prints; fails when there is a traceback or more."""
    output = result.output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, output
    return errors[0]
