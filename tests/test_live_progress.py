"""Cells that run in worker processes report their progress through the results folder, and
the driver shows it while they run, not only when they end."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import model_plugin, start_cli, write_plugin
from vadbench.harness.progress import FileProgress, describe_progress

SLOW_MODEL = model_plugin(
    "slow",
    "trains for eight seconds",
    """
def fit(self, source, aux, ctx):
    advance = ctx.progress.task("slow train", 40)
    for _ in range(40):
        time.sleep(0.2)
        advance(1)
""",
)


def test_file_progress_records_stage_steps_and_total(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    advance = FileProgress(path, interval=0.0).task("zxvad train", 300)
    advance(120)
    record = json.loads(path.read_text())
    assert (record["stage"], record["done"], record["total"]) == ("zxvad train", 120, 300)
    text = describe_progress(record, now=record["started"] + 30.0)
    assert text.startswith("zxvad train 120/300 (4.0/s, 45 s left")


def test_the_driver_shows_a_worker_cells_progress_while_it_trains(workspace: Path) -> None:
    write_plugin(workspace / "slow_plugin.py", SLOW_MODEL)
    text = (workspace / "matrix.yaml").read_text()
    header = "plugins: [slow_plugin.py]\nexecutor: processes\nexecutor_options: {workers: 1}"
    text = text.replace("name: tiny", f"name: tiny\n{header}")
    text = text.replace("models:\n", "models:\n  sl: {plugin: slow}\n")
    text = text.replace(
        "  fd2: {plugin: framediff, overrides: {context_frames: 2, image_size: 16}}\n", ""
    )
    (workspace / "matrix.yaml").write_text(text)

    started = time.monotonic()
    driver = start_cli(workspace, "run", "matrix.yaml")
    assert driver.stdout is not None
    lines: list[tuple[float, str]] = [
        (time.monotonic() - started, line.rstrip()) for line in driver.stdout
    ]
    assert driver.wait(timeout=300) == 0, "\n".join(line for _, line in lines)

    progress = [(t, line) for t, line in lines if "progress:" in line and "slow train" in line]
    finished = [t for t, line in lines if line.lstrip().startswith("sl__") and "trained" in line]
    assert progress, "\n".join(line for _, line in lines)
    assert finished and progress[0][0] < finished[0]
    assert any("/40 (" in line and "s left" in line for _, line in progress)
    # every cell is shown from its launch, while its process still imports and plans
    planned = next(t for t, line in lines if line.startswith("run tiny"))
    shown = next(t for t, line in lines if "progress:" in line and "starting on" in line)
    assert shown - planned < 5.0, "\n".join(line for _, line in lines)


def test_cells_run_in_the_drivers_process_show_their_progress_too(workspace: Path) -> None:
    write_plugin(workspace / "slow_plugin.py", SLOW_MODEL)
    text = (workspace / "matrix.yaml").read_text()
    text = text.replace("name: tiny", "name: tiny\nplugins: [slow_plugin.py]\nexecutor: local")
    text = text.replace("models:\n", "models:\n  sl: {plugin: slow}\n")
    text = text.replace(
        "  fd2: {plugin: framediff, overrides: {context_frames: 2, image_size: 16}}\n", ""
    )
    (workspace / "matrix.yaml").write_text(text)

    driver = start_cli(workspace, "run", "matrix.yaml")
    assert driver.stdout is not None
    lines = [line.rstrip() for line in driver.stdout]
    assert driver.wait(timeout=300) == 0, "\n".join(lines)
    finished = next(i for i, line in enumerate(lines) if line.lstrip().startswith("sl__"))
    shown = [i for i, line in enumerate(lines) if "progress:" in line and "slow train" in line]
    assert shown and shown[0] < finished, "\n".join(lines)
    assert not list((workspace / "results" / "tiny" / "cells").glob("*/progress.json"))
