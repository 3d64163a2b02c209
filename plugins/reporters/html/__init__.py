"""The ``html`` reporter: one self-contained ``report.html`` per run, with the paper's kinds of
figures, and the same figures as PNG and SVG in ``RUN/figures/``.

The page holds the leaderboard (sortable, with intervals, ties and efficiency beside accuracy),
the rank tests, accuracy against cost with the Pareto front, source → target heatmaps, ROC
curves, anomaly-score curves against the ground truth (Fig. 7), difference maps (Fig. 8, for
models with ``predictions``), the pictures models drew while training (zxVAD's pseudo-anomaly
gallery, Fig. 3), every footnote, what is missing and why, and the run's configuration and
environment. Figures are drawn by matplotlib; nothing on the page loads from a network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from vadbench.sdk import ReporterSpec, hookimpl


def render_html(table: pd.DataFrame, out_dir: Path) -> Path:
    """``report.render_html``, imported on first use: matplotlib costs every vadbench process
    0.6 s at start otherwise, whether it writes a report or not."""
    from .report import render_html as render

    return render(table, out_dir)


@hookimpl
def vadbench_register_reporters(register: Any) -> None:
    register(
        ReporterSpec(
            name="html",
            description="report.html: one self-contained page with tables and figures "
            "(also as PNG and SVG in figures/)",
            render=render_html,
        )
    )
