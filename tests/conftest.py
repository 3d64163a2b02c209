from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.builders import write_square_dataset


def labels(length: int, start: int, stop: int) -> np.ndarray:
    return np.array([1 if start <= i < stop else 0 for i in range(length)], dtype=np.uint8)


TINY_MATRIX = """
name: tiny
datasets:
  a: {plugin: frames, options: {root: data/a}}
  b: {plugin: frames, options: {root: data/b}}
models:
  fd: {plugin: framediff, overrides: {image_size: 16}}
  fd2: {plugin: framediff, overrides: {context_frames: 2, image_size: 16}}
reporters: [terminal, markdown, csv, json]
metrics: [micro_auc, macro_auc, params, storage]
matrix:
  - train: a
    test: [a, b]
"""


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Caches (synthetic renders, decoded frames) go to a folder of this test session, never
    the user's ~/.cache; subprocesses inherit it through the environment."""
    folder = tmp_path_factory.mktemp("vadbench-cache")
    saved = {name: os.environ.get(name) for name in ("VADBENCH_CACHE", "VADBENCH_FRAME_CACHE")}
    os.environ["VADBENCH_CACHE"] = str(folder)
    os.environ.pop("VADBENCH_FRAME_CACHE", None)
    yield folder
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with two tiny frames-format datasets and a matrix over them."""
    write_square_dataset(tmp_path / "data" / "a", [20, 20], [labels(30, 8, 20), labels(24, 4, 10)])
    write_square_dataset(tmp_path / "data" / "b", [20], [labels(30, 15, 26)], seed=1)
    (tmp_path / "matrix.yaml").write_text(TINY_MATRIX)
    return tmp_path


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def start_cli(folder: Path, *args: str) -> subprocess.Popen[str]:
    """The console entry point started in ``folder`` without waiting, its output (stdout and
    stderr together) readable line by line while it runs."""
    return subprocess.Popen(
        [sys.executable, "-m", "vadbench", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def vadbench_cli(workspace: Path) -> CliRunner:
    """Runs the real console entry point in a subprocess, inside the workspace."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
        return subprocess.run(
            [sys.executable, "-m", "vadbench", *args],
            cwd=cwd or workspace,
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
            timeout=300,
        )

    return run


def write_plugin(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


MODEL_PLUGIN = """
import json
import os
import time
from pathlib import Path

import numpy as np
from vadbench.sdk import ModelSpec, Options, hookimpl

HERE = Path(__file__).parent


class Model:
    context_frames = 1
    score_kind = "anomaly"

    def __init__(self, options, device):
        self.device = device

    def score(self, video):
        return np.zeros(video.num_frames - 1)

    def save(self, folder):
        (Path(folder) / "model.txt").write_text(type(self).__name__)

    def load(self, folder):
        self.loaded_from = (Path(folder) / "model.txt").read_text()

    def inference_module(self):
        return None

{methods}

@hookimpl
def vadbench_register_models(register):
    register(ModelSpec({name!r}, {description!r}, Options, Model))
"""


def model_plugin(name: str, description: str, methods: str) -> str:
    """The source of a plugin file registering one test model: the Method members every test
    model shares (T = 1, zero anomaly scores, nothing to save) and ``methods``, the members
    that make this one what the test needs (at least ``fit``), written as top-level functions
    and attached to the class. ``HERE`` is the plugin file's folder."""
    attached = "\n".join(
        f"Model.{match} = {match}" for match in re.findall(r"^def (\w+)", methods, re.MULTILINE)
    )
    code = textwrap.dedent(methods).strip() + "\n\n\n" + attached
    return MODEL_PLUGIN.format(name=name, description=description, methods=code)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny networks: a second intra-op thread only adds waiting on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
