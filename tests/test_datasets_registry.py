"""The real-dataset plugins through the real CLI: each is listed with its description and
layout, a matrix over video files runs end to end, and a missing root is one line."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from tests.builders import moving_square_video
from tests.dataset_fixtures import encode_video
from vadbench.sdk.contracts import DatasetSpec

PLUGINS = Path(__file__).resolve().parents[1] / "plugins" / "datasets"
MODULES = ["ucsd", "avenue", "shanghaitech", "ucfcrime", "actions", "videofolder"]
EXPECTED_NAMES = {
    "ucsd", "avenue", "shanghaitech", "ucfcrime", "hmdb51", "ucf101", "jester", "videofolder"
}  # fmt: skip


def plugin_files() -> list[Path]:
    """The plugin files not yet installed as entry points (loading one twice is an error)."""
    installed = {ep.value for ep in importlib.metadata.entry_points(group="vadbench")}
    return [
        PLUGINS / f"{module}.py"
        for module in MODULES
        if f"vadbench_plugins.datasets.{module}" not in installed
    ]


def registered_specs() -> list[DatasetSpec]:
    specs: list[DatasetSpec] = []
    for module in MODULES:
        importlib.import_module(f"vadbench_plugins.datasets.{module}").vadbench_register_datasets(
            specs.append
        )
    return specs


def vadbench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    plugin_args = [arg for path in plugin_files() for arg in ("--plugin", str(path))]
    return subprocess.run(
        [sys.executable, "-m", "vadbench", *args, *plugin_args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
        timeout=300,
    )


def test_every_dataset_is_listed_with_description_and_layout(tmp_path: Path) -> None:
    specs = registered_specs()
    assert {spec.name for spec in specs} == EXPECTED_NAMES
    result = vadbench("list", "datasets", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for spec in specs:
        assert "\n" not in spec.description and "\n" not in spec.layout
        row = next(line for line in result.stdout.splitlines() if f" {spec.name} " in line)
        assert spec.description in row and spec.layout in row, row


def test_matrix_over_a_video_folder_runs(tmp_path: Path) -> None:
    """Frame differencing finds the jump anomaly in .mp4/.avi videos read through PyAV."""
    rng = np.random.default_rng(0)
    data = tmp_path / "my cams"
    for index in range(2):
        frames = moving_square_video(40, 32, None, rng)
        encode_video(data / "train" / f"cam {index}.mp4", frames, (32, 32), codec="libx264")
    rows = ["video,start,end"]
    for index, (start, stop) in enumerate([(10, 20), (25, 33)]):
        abnormal = np.zeros(40, dtype=bool)
        abnormal[start:stop] = True
        frames = moving_square_video(40, 32, abnormal, rng)
        encode_video(data / "test" / f"door {index}.avi", frames, (32, 32), codec="mjpeg")
        rows.append(f"door {index},{start},{stop - 1}")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "matrix.yaml").write_text(
        textwrap.dedent(
            """
            name: cams
            datasets:
              cams: {plugin: videofolder, options: {root: my cams}}
            models:
              fd: {plugin: framediff, overrides: {image_size: 16}}
            reporters: [csv]
            metrics: [micro_auc]
            matrix:
              - train: cams
                test: [cams]
            """
        )
    )
    result = vadbench("run", "matrix.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    table = pd.read_csv(tmp_path / "results" / "cams" / "results.csv")
    assert table[table.metric == "micro_auc"].value.item() > 0.7


def test_missing_root_is_one_line_naming_the_expected_tree(tmp_path: Path) -> None:
    (tmp_path / "matrix.yaml").write_text(
        textwrap.dedent(
            """
            name: ped
            datasets:
              ped2: {plugin: ucsd, options: {root: UCSD_Anomaly_Dataset.v1p2, subset: ped2}}
            models:
              fd: {plugin: framediff}
            metrics: [micro_auc]
            matrix:
              - train: ped2
                test: [ped2]
            """
        )
    )
    result = vadbench("run", "matrix.yaml", cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "datasets.ped2" in lines[0] and "expected the UCSD release" in lines[0]
