"""docs/plugins.md's example plugin package, exactly as printed there, installs with pip, is
found through its entry point, describes itself, and runs in a matrix.

The files come from the doc's code blocks that start with a ``# file: PATH`` line; the package is
installed into a private target folder (never the shared environment) that the vadbench
subprocesses get on PYTHONPATH, so its .dist-info and entry points are discovered like any
installed distribution's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import CliRunner

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
FENCED_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
FILE_MARKER = re.compile(r"# file: (\S+)\n")


def example_files() -> dict[str, str]:
    """Path in the package → text, for every code block that starts with ``# file: PATH``."""
    files = {}
    for _, body in FENCED_BLOCK.findall(DOCS.read_text()):
        marker = FILE_MARKER.match(body)
        if marker:
            files[marker.group(1)] = body
    return files


def example_matrix_models() -> dict[str, dict[str, object]]:
    """The ``models:`` entries of the doc's last yaml block (how the example is used)."""
    blocks = [
        body for language, body in FENCED_BLOCK.findall(DOCS.read_text()) if language == "yaml"
    ]
    return yaml.safe_load(blocks[-1])["models"]


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = example_files()
    assert {"pyproject.toml", "acme_vad/__init__.py"} <= set(files)
    package = tmp_path_factory.mktemp("acme-vad")
    for relative, text in files.items():
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text(text)
    site = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(package)],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(site.glob("acme_vad-*.dist-info/entry_points.txt"))
    return site


def test_doc_example_package_is_listed_and_described(
    installed_example: Path, vadbench_cli: CliRunner
) -> None:
    env = {"PYTHONPATH": str(installed_example)}
    plugins = vadbench_cli("plugins", env=env)
    assert plugins.returncode == 0, plugins.stdout + plugins.stderr
    assert any(" acme " in line and "acme-vad" in line for line in plugins.stdout.splitlines())
    described = vadbench_cli("describe", "brightness", "--format", "json", env=env)
    assert described.returncode == 0, described.stdout + described.stderr
    data = json.loads(described.stdout)
    assert data["plugin"] == "acme" and data["presets"] == {"default": {}}
    assert data["options"] == [
        {
            "name": "gain",
            "type": "float",
            "required": False,
            "default": 1.0,
            "bounds": {"gt": 0},
            "description": "multiplies every score",
        }
    ]


def test_doc_example_package_runs_in_a_matrix(
    installed_example: Path, workspace: Path, vadbench_cli: CliRunner
) -> None:
    matrix = yaml.safe_load((workspace / "matrix.yaml").read_text())
    matrix["models"] = example_matrix_models()
    matrix["metrics"] = ["micro_auc"]
    (workspace / "matrix.yaml").write_text(yaml.safe_dump(matrix))
    result = vadbench_cli("run", "matrix.yaml", env={"PYTHONPATH": str(installed_example)})
    assert result.returncode == 0, result.stdout + result.stderr
    table = pd.read_csv(workspace / "results" / "tiny" / "results.csv")
    mine = table[(table.model == "mine") & (table.metric == "micro_auc")]
    assert set(mine.target) == {"a", "b"} and mine.value.notna().all()
    checkpoint = next((workspace / "results" / "tiny" / "cells").glob("mine__*")) / "checkpoint"
    # two training videos in data/a, one of them held out to measure skill (held_out.share)
    assert (checkpoint / "seen.txt").read_text() == "1"
