"""A separate plugin distribution, built and installed like any package, is discovered through
its own entry point and runs in a matrix; autoload switch and block list turn it off."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import CliRunner

PLUGIN_MODULE = '''
"""A third-party method: scores each frame by its mean brightness change."""
from pathlib import Path

import numpy as np
from vadbench.sdk import ModelSpec, Options, hookimpl


class BrightnessOptions(Options):
    gain: float = 1.0


class BrightnessJump:
    context_frames = 1
    score_kind = "anomaly"

    def __init__(self, options, device):
        self.gain = options.gain

    def fit(self, source, aux, ctx):
        self.videos_seen = len(source.videos())

    def score(self, video):
        means = video.frames().astype(float).mean(axis=(1, 2, 3))
        return self.gain * np.abs(np.diff(means))

    def save(self, folder):
        (Path(folder) / "seen.txt").write_text(str(self.videos_seen))

    def load(self, folder):
        self.videos_seen = int((Path(folder) / "seen.txt").read_text())

    def inference_module(self):
        return None


@hookimpl
def vadbench_register_models(register):
    register(ModelSpec("brightness", "third-party brightness-jump scorer", BrightnessOptions,
                       BrightnessJump, presets={"default": {}}))
'''


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("acme-src")
    (source / "acme_vad").mkdir()
    (source / "acme_vad" / "__init__.py").write_text(PLUGIN_MODULE)
    (source / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "acme-vad"
            version = "2.3.0"

            [project.entry-points.vadbench]
            acme = "acme_vad"
            """
        )
    )
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert (target / "acme_vad-2.3.0.dist-info" / "entry_points.txt").is_file()
    return target


def test_installed_distribution_is_discovered_and_runs(
    installed_plugin: Path, workspace: Path, vadbench_cli: CliRunner
) -> None:
    env = {"PYTHONPATH": str(installed_plugin)}
    plugins = vadbench_cli("plugins", env=env)
    assert plugins.returncode == 0
    line = next(line for line in plugins.stdout.splitlines() if " acme " in line)
    assert "2.3.0" in line and "acme-vad" in line and "models" in line

    matrix = (workspace / "matrix.yaml").read_text()
    matrix = matrix.replace(
        "models:\n", "models:\n  third: {plugin: brightness, preset: default}\n"
    )
    (workspace / "matrix.yaml").write_text(matrix)
    result = vadbench_cli("run", "matrix.yaml", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    table = pd.read_csv(workspace / "results" / "tiny" / "results.csv")
    third = table[(table.model == "third") & (table.metric == "micro_auc")]
    assert set(third.target) == {"a", "b"} and third.value.notna().all()
    seen = next((workspace / "results" / "tiny" / "cells").glob("third__*")) / "checkpoint"
    # two training videos in data/a, one of them held out to measure skill (held_out.share)
    assert (seen / "seen.txt").read_text() == "1"


def test_autoload_switch_and_block_list(installed_plugin: Path, vadbench_cli: CliRunner) -> None:
    env = {"PYTHONPATH": str(installed_plugin)}
    assert "brightness" in vadbench_cli("list", "models", env=env).stdout
    disabled = vadbench_cli("list", "models", env={**env, "VADBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert "brightness" not in disabled.stdout and "framediff" in disabled.stdout
    blocked = vadbench_cli("list", "models", "--block", "acme", env=env)
    assert "brightness" not in blocked.stdout and "framediff" in blocked.stdout
    by_env = vadbench_cli("list", "models", env={**env, "VADBENCH_BLOCK_PLUGINS": "framediff"})
    assert "framediff" not in by_env.stdout and "brightness" in by_env.stdout
