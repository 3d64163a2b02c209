"""The processes executor's local GPU pool: one cell per listed device at a time, each cell's
process seeing only its own device (CUDA_VISIBLE_DEVICES). The devices are only named here, so
this runs without a GPU: the matrix trains on the CPU and the model records what it saw."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import pytest

from tests.conftest import CliRunner, model_plugin, write_plugin

RECORDING_MODEL = model_plugin(
    "recorder",
    "records its device",
    """
def fit(self, source, aux, ctx):
    started = time.time()
    time.sleep(1.0)
    record = {"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": started,
              "end": time.time(), "seed": ctx.seed}
    with (HERE / "devices.jsonl").open("a") as log:
        log.write(json.dumps(record) + "\\n")
""",
)

MATRIX = """
name: pool
plugins: [recorder_plugin.py]
seeds: [0, 1, 2, 3]
executor: processes
executor_options: {OPTIONS}
datasets:
  a: {plugin: frames, options: {root: data/a}}
models:
  rec: {plugin: recorder}
metrics: [micro_auc]
reporters: [csv]
matrix:
  - train: a
    test: [a]
"""


def test_each_cell_gets_a_device_of_its_own(workspace: Path, vadbench_cli: CliRunner) -> None:
    write_plugin(workspace / "recorder_plugin.py", RECORDING_MODEL)
    options = "{devices: [cuda:0, cuda:1]}"
    (workspace / "matrix.yaml").write_text(MATRIX.replace("{OPTIONS}", options))

    result = vadbench_cli("run", "matrix.yaml")

    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(line) for line in (workspace / "devices.jsonl").read_text().splitlines()]
    assert sorted(r["seed"] for r in records) == [0, 1, 2, 3]
    assert {r["gpu"] for r in records} == {"0", "1"}
    for first, second in combinations(records, 2):
        overlap = first["start"] < second["end"] and second["start"] < first["end"]
        assert not (overlap and first["gpu"] == second["gpu"]), (first, second)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("{devices: [cpu]}", "executor_options.devices"),
        ("{devices: [cuda:0, cuda:0]}", "a device is listed twice"),
        ("{devices: [cuda:0], workers: 4}", "leave out workers"),
    ],
)
def test_a_bad_pool_is_named_before_anything_runs(
    workspace: Path, vadbench_cli: CliRunner, options: str, message: str
) -> None:
    write_plugin(workspace / "recorder_plugin.py", RECORDING_MODEL)
    (workspace / "matrix.yaml").write_text(MATRIX.replace("{OPTIONS}", options))
    result = vadbench_cli("check", "matrix.yaml")
    assert result.returncode == 2
    assert message in result.stdout
    assert not (workspace / "devices.jsonl").exists()
