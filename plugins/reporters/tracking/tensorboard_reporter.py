"""TensorBoard event files: ``tensorboard/<cell>/`` per cell (its final metrics at step 0, its
held-out curve by training step, its parameters as a text table) and ``tensorboard/run/`` with
the leaderboard as text. Written whole on every render, then put in place of the old folder,
so a re-run's numbers replace the last ones instead of piling up beside them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from .cells import cell_logs, leaderboard_files

FOLDER = "tensorboard"


def render(table: pd.DataFrame, out_dir: Path) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    partial = out_dir / f".{FOLDER}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for log in cell_logs(table, out_dir):
        with SummaryWriter(str(partial / log.cell)) as writer:
            for name, value in sorted(log.metrics.items()):
                writer.add_scalar(name, value, 0)
            for step, name, value in log.curve:
                writer.add_scalar(name, value, step)
            rows = "\n".join(f"| {key} | {value} |" for key, value in log.params.items())
            writer.add_text("params", f"| parameter | value |\n|---|---|\n{rows}", 0)
            writer.add_text("status", log.status, 0)
    with SummaryWriter(str(partial / "run")) as writer:
        for path in leaderboard_files(out_dir):
            if path.suffix == ".md":
                writer.add_text(path.stem, path.read_text(), 0)
    final = out_dir / FOLDER
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final
