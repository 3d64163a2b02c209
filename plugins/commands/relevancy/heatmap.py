"""The relevancy heatmap (the paper's Fig. 4): TI datasets as rows, VAD datasets as columns.

The colour scale is fixed to [0, 1], the range of S̄, so that pictures made with other label
lists or vectors compare at a glance; every cell also prints its value, and a dashed line on the
colour bar marks the chance level of the vectors (random word pairs). The figure has a fixed size
in pixels for a given matrix shape (``figure_pixels``) and never crops itself.
"""

from __future__ import annotations

import io
from pathlib import Path

# A bare Figure, not pyplot: no global backend or figure registry is touched, no display needed.
from matplotlib.figure import Figure

from vadbench.sdk import atomic_write_bytes

from .measure import Relevancy

DPI = 100
CELL = (120, 70)  # pixels per column, per row
MARGIN = (280, 170)  # pixels for the row names and colour bar, for the title and column names
DARK_CELL = 0.6  # values above this are drawn dark enough to need white text


def figure_pixels(rows: int, columns: int) -> tuple[int, int]:
    """(width, height) of the PNG for a rows x columns matrix."""
    return MARGIN[0] + CELL[0] * columns, MARGIN[1] + CELL[1] * rows


def render(result: Relevancy) -> bytes:
    """The heatmap as PNG bytes."""
    rows, columns = result.matrix.shape
    width, height = figure_pixels(rows, columns)
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(result.matrix, cmap="YlOrRd", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(columns), [s.title for s in result.vad])
    axes.set_yticks(range(rows), [s.title for s in result.ti])
    axes.set_xlabel("VAD dataset (anomaly names)")
    axes.set_ylabel("TI dataset (class names)")
    axes.tick_params(length=0)
    for row in range(rows):
        for column in range(columns):
            value = float(result.matrix[row, column])
            colour = "white" if value > DARK_CELL else "black"
            axes.text(column, row, f"{value:.3f}", ha="center", va="center", color=colour)
    bar = figure.colorbar(image, ax=axes, label=r"$\bar{S}$ (mean |cos-sim|); dashed: chance")
    bar.ax.axhline(result.chance, color="black", linestyle="--", linewidth=1.2)
    axes.set_title(f"TI-VAD relevancy\n{result.embedding} word vectors")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def write(result: Relevancy, path: Path) -> None:
    """Render and write the PNG atomically (folders are created)."""
    atomic_write_bytes(path, render(result))
