"""The report's figures, drawn with matplotlib (no pyplot state: each is its own ``Figure``).

Each builder returns ``Drawn`` figures and, for what it could not draw, a line saying why, so
the page shows what is missing instead of leaving a gap.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from vadbench.sdk import LearningCurve, PredictionExamples, atomic_write_bytes, roc_auc

from .data import RunKey, TargetScores

MAX_ROWS = 8  # models per figure of curves or maps; more would be unreadable
COLOURS = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
]


@dataclass
class Drawn:
    """A figure with the file stem it is saved under, its section and caption."""

    name: str
    section: str
    title: str
    caption: str
    figure: Figure


@dataclass
class Figures:
    drawn: list[Drawn] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def extend(self, other: Figures) -> None:
        self.drawn.extend(other.drawn)
        self.missing.extend(other.missing)


def file_stem(*parts: str) -> str:
    text = "_".join(parts)
    return "".join(c if c.isalnum() or c in "-." else "_" for c in text).strip("_")


def pareto_front(points: Sequence[tuple[float, float]], lower_cost_is_better: bool) -> list[int]:
    """Indices of the points no other point beats on both cost and accuracy, by cost."""
    order = sorted(
        range(len(points)),
        key=lambda i: (points[i][0] if lower_cost_is_better else -points[i][0], -points[i][1]),
    )
    front, best = [], -np.inf
    for index in order:
        if points[index][1] > best:
            front.append(index)
            best = points[index][1]
    return front


def accuracy_against_cost(
    accuracy: dict[RunKey, tuple[float, float | None, float | None]],
    cost: dict[str, float],
    metric: str,
    cost_label: str,
    lower_cost_is_better: bool,
    headline: str,
) -> Figures:
    """One point per model and source (zero-shot), with its interval, and the Pareto front."""
    result = Figures()
    keys = [k for k in accuracy if k.protocol == "zero-shot" and k.model in cost]
    if len(keys) < 2:
        result.missing.append(
            f"{headline} against {metric}: needs two or more models with both values "
            f"({len(keys)} have them; {metric} is n/a where efficiency was not measured)"
        )
        return result
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    axes = figure.add_subplot()
    sources = sorted({k.source for k in keys})
    points = [(cost[k.model], accuracy[k][0]) for k in keys]
    for key, (x, y) in zip(keys, points, strict=True):
        low, high = accuracy[key][1], accuracy[key][2]
        colour = COLOURS[sources.index(key.source) % len(COLOURS)]
        error = None if low is None or high is None else [[y - low], [high - y]]
        axes.errorbar(x, y, yerr=error, fmt="o", color=colour, capsize=3)
        axes.annotate(key.model, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    front = pareto_front(points, lower_cost_is_better)
    axes.plot(
        [points[i][0] for i in front],
        [points[i][1] for i in front],
        "--",
        color="0.4",
        label="Pareto front",
    )
    for source in sources:
        axes.plot([], [], "o", color=COLOURS[sources.index(source) % len(COLOURS)], label=source)
    values = [p[0] for p in points]
    if min(values) > 0 and max(values) / min(values) > 20:
        axes.set_xscale("log")
    axes.set_xlabel(cost_label)
    axes.set_ylabel(f"{headline}, cross-domain mean")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    direction = "left" if lower_cost_is_better else "right"
    result.drawn.append(
        Drawn(
            file_stem("accuracy_vs", metric),
            "Accuracy against cost",
            f"{headline} against {metric}",
            f"Zero-shot {headline} (cross-domain mean over targets, with its bootstrap "
            f"interval) against {cost_label}; better is up and to the {direction}. The dashed "
            "line joins the models no other beats on both.",
            figure,
        )
    )
    return result


def heatmaps(cells: dict[tuple[str, str], dict[tuple[str, str], float]], headline: str) -> Figures:
    """Per model and protocol: sources × targets, the headline metric's mean over seeds."""
    result = Figures()
    for (model, protocol_label), values in sorted(cells.items()):
        sources = sorted({s for s, _ in values})
        targets = list(dict.fromkeys(t for _, t in values))
        grid = np.full((len(sources), len(targets)), np.nan)
        for (source, target), value in values.items():
            grid[sources.index(source), targets.index(target)] = value
        width = 1.6 + 0.9 * len(targets)
        figure = Figure(figsize=(max(width, 4.0), 1.2 + 0.6 * len(sources)), layout="constrained")
        axes = figure.add_subplot()
        low = min(0.5, float(np.nanmin(grid))) if np.isfinite(grid).any() else 0.5
        image = axes.imshow(grid, cmap="viridis", vmin=low, vmax=1.0, aspect="auto")
        for (row, column), value in np.ndenumerate(grid):
            text = "n/a" if np.isnan(value) else f"{value:.3f}"
            shade = "white" if np.isnan(value) or value < (low + 1.0) / 2 else "black"
            axes.text(column, row, text, ha="center", va="center", fontsize=8, color=shade)
        axes.set_xticks(range(len(targets)), targets, rotation=30, ha="right")
        axes.set_yticks(range(len(sources)), sources)
        axes.set_xlabel("target")
        axes.set_ylabel("source")
        figure.colorbar(image, ax=axes, label=headline)
        result.drawn.append(
            Drawn(
                file_stem("heatmap", model, protocol_label),
                "Source → target",
                f"{model}, {protocol_label}",
                f"{headline} of {model} ({protocol_label}) per source and target, mean over "
                "seeds; the diagonal is in-domain.",
                figure,
            )
        )
    return result


def _by_target(scores: Iterable[TargetScores]) -> dict[tuple[str, str], list[TargetScores]]:
    grouped: dict[tuple[str, str], list[TargetScores]] = defaultdict(list)
    for entry in scores:
        grouped[(entry.target, entry.key.protocol)].append(entry)
    return grouped


def roc_curves(scores: Sequence[TargetScores]) -> Figures:
    """Per target and protocol, one ROC curve per model and source over all frames."""
    from sklearn.metrics import roc_curve

    result = Figures()
    for (target, protocol_label), entries in sorted(_by_target(scores).items()):
        figure = Figure(figsize=(5.2, 4.6), layout="constrained")
        axes = figure.add_subplot()
        drawn = 0
        for index, entry in enumerate(entries[: len(COLOURS)]):
            labels = np.concatenate(entry.labels) if entry.labels else np.zeros(0)
            if len(np.unique(labels)) < 2:
                continue
            anomaly = np.concatenate(entry.anomaly)
            false_positive, true_positive, _ = roc_curve(labels, anomaly)
            area = roc_auc(labels, anomaly)
            axes.plot(
                false_positive,
                true_positive,
                color=COLOURS[index],
                label=f"{entry.key.label} ({area:.3f})",
            )
            drawn += 1
        if not drawn:
            result.missing.append(f"ROC on {target} ({protocol_label}): frames of one class only")
            continue
        axes.plot([0, 1], [0, 1], ":", color="0.5")
        axes.set_xlabel("false positive rate")
        axes.set_ylabel("true positive rate")
        axes.legend(fontsize=7, loc="lower right")
        axes.grid(alpha=0.3)
        result.drawn.append(
            Drawn(
                file_stem("roc", target, protocol_label),
                "ROC curves",
                f"{target}, {protocol_label}",
                f"Frame-level ROC on {target} ({protocol_label}), all videos' normalised anomaly "
                "scores pooled, first seed of each model; micro AUC in brackets.",
                figure,
            )
        )
    return result


def learning_curves(curves: dict[tuple[str, str], list[tuple[int, LearningCurve]]]) -> Figures:
    """Per source, the held-out loss of every model against its training steps (one line per
    seed), each with its trivial predictor's loss dashed: a line that ends above its dashed one
    is an under-trained model."""
    result = Figures()
    sources = sorted({source for _, source in curves})
    for source in sources:
        entries = sorted((model, runs) for (model, s), runs in curves.items() if s == source)
        figure = Figure(figsize=(6.4, 4.4), layout="constrained")
        axes = figure.add_subplot()
        for index, (model, runs) in enumerate(entries[: len(COLOURS)]):
            colour = COLOURS[index]
            for number, (_, curve) in enumerate(runs):
                steps = [point.step for point in curve.points]
                axes.plot(
                    steps,
                    [point.loss for point in curve.points],
                    color=colour,
                    marker=".",
                    label=model if number == 0 else None,
                    alpha=0.9 if number == 0 else 0.5,
                )
                if curve.trivial_loss is not None:
                    axes.hlines(curve.trivial_loss, 0, steps[-1], colors=colour, linestyles="--")
        axes.set_yscale("log")
        axes.set_xlabel("training steps")
        axes.set_ylabel("held-out source loss")
        axes.legend(fontsize=7)
        axes.grid(alpha=0.3)
        result.drawn.append(
            Drawn(
                file_stem("learning-curves", source),
                "Learning on held-out source videos",
                f"trained on {source}",
                f"Each model's own objective on held-out normal videos of {source} while it "
                "trains (one line per seed); dashed: the trivial predictor's (copy the last "
                "input frame for frame predictors). A model whose line ends above its dashed "
                "line is under-trained: skill ≤ 0.",
                figure,
            )
        )
    return result


def _video_aucs(entry: TargetScores) -> list[tuple[float, int]]:
    return sorted(
        (roc_auc(labels, anomaly), index)
        for index, (anomaly, labels) in enumerate(zip(entry.anomaly, entry.labels, strict=True))
        if len(np.unique(labels)) == 2
    )


def _shade_anomalies(axes: Axes, labels: np.ndarray, offset: int) -> None:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], labels.astype(int), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        axes.axvspan(start + offset - 0.5, stop + offset - 0.5, color="#f4a3a3", alpha=0.5, lw=0)


def score_curves(scores: Sequence[TargetScores]) -> Figures:
    """Per target and protocol (the paper's Fig. 7): for each model, its best and worst video
    by per-video AUC, the anomaly score over the frames against the shaded ground truth."""
    result = Figures()
    for (target, protocol_label), entries in sorted(_by_target(scores).items()):
        ranked = [(entry, _video_aucs(entry)) for entry in entries[:MAX_ROWS]]
        ranked = [(entry, aucs) for entry, aucs in ranked if aucs]
        if not ranked:
            result.missing.append(
                f"score curves on {target} ({protocol_label}): no video holds both classes"
            )
            continue
        height = 1.9 * len(ranked) + 0.4
        figure = Figure(figsize=(9.0, height))
        # Fixed margins: a constrained layout of this many axes costs a second per figure.
        figure.subplots_adjust(
            left=0.06, right=0.99, top=1 - 0.3 / height, bottom=0.45 / height, hspace=0.55
        )
        grid = figure.subplots(len(ranked), 2, squeeze=False, sharey=True)
        for row, (entry, aucs) in enumerate(ranked):
            for column, (label, (auc, video)) in enumerate(
                (("best", aucs[-1]), ("worst", aucs[0]))
            ):
                axes = grid[row][column]
                offset = entry.context_frames
                frames = np.arange(len(entry.anomaly[video])) + offset
                _shade_anomalies(axes, entry.labels[video], offset)
                axes.plot(frames, entry.anomaly[video], color=COLOURS[row % len(COLOURS)], lw=1.2)
                axes.set_ylim(-0.05, 1.05)
                axes.set_title(
                    f"{entry.key.label}: {label} video {entry.video_ids[video]} (AUC {auc:.3f})",
                    fontsize=8,
                )
                axes.tick_params(labelsize=7)
        for axes in grid[-1]:
            axes.set_xlabel("frame", fontsize=8)
        result.drawn.append(
            Drawn(
                file_stem("curves", target, protocol_label),
                "Anomaly scores over time",
                f"{target}, {protocol_label}",
                f"Normalised anomaly score (1 = most anomalous frame of the video) on {target} "
                f"({protocol_label}); shaded: ground-truth anomalous frames. Per model, the test "
                "videos with the highest and the lowest per-video AUC (first seed).",
                figure,
            )
        )
    return result


TILE = 128  # pixels per frame or map in the difference-map mosaic
GAP = 6
CAPTION = 22


def _tile(pixels: np.ndarray) -> np.ndarray:
    """An (H, W, 3) image in [0, 1] resized to TILE × TILE."""
    image = Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    return np.asarray(image.resize((TILE, TILE), Image.Resampling.BILINEAR)) / 255.0


def _error_tile(error: np.ndarray) -> np.ndarray:
    """An error map in the inferno colour map, scaled to its own maximum (brighter = larger)."""
    scaled = error / max(float(error.max()), 1e-6)
    return _tile(colormaps["inferno"](scaled)[..., :3])


def difference_maps(examples: Sequence[tuple[RunKey, str, PredictionExamples]]) -> Figures:
    """Per target and protocol (the paper's Fig. 8): for each model that predicts frames, its
    most anomalous frames beside the absolute error of its prediction, as one mosaic image (one
    axes: a grid of small axes takes matplotlib seconds to lay out)."""
    result = Figures()
    grouped: dict[tuple[str, str], list[tuple[RunKey, PredictionExamples]]] = defaultdict(list)
    for key, target, stored in examples:
        grouped[(target, key.protocol)].append((key, stored))
    for (target, protocol_label), entries in sorted(grouped.items()):
        entries = entries[:MAX_ROWS]
        columns = max(len(stored.video_ids) for _, stored in entries)
        pair = 2 * TILE + GAP
        width = columns * pair + (columns - 1) * 3 * GAP
        height = len(entries) * (TILE + CAPTION + GAP)
        mosaic = np.ones((height, width, 3))
        captions = []
        for row, (_, stored) in enumerate(entries):
            top = row * (TILE + CAPTION + GAP) + CAPTION
            for column in range(len(stored.video_ids)):
                left = column * (pair + 3 * GAP)
                mosaic[top : top + TILE, left : left + TILE] = _tile(stored.frames[column] / 255)
                error = _error_tile(stored.errors[column])
                mosaic[top : top + TILE, left + TILE + GAP : left + pair] = error
                state = {0: "normal", 1: "abnormal"}.get(stored.labels[column], "unlabelled")
                name = f"{stored.video_ids[column]} #{stored.frame_indices[column]} ({state})"
                captions.append((left, top - 4, name))
        inches = width / 110
        figure = Figure(figsize=(inches + 2.0, inches * height / width), layout="constrained")
        axes = figure.add_subplot()
        axes.imshow(mosaic, interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks(
            [row * (TILE + CAPTION + GAP) + CAPTION + TILE / 2 for row in range(len(entries))],
            [f"{key.model}\n{key.source}" for key, _ in entries],
            fontsize=8,
        )
        for spine in axes.spines.values():
            spine.set_visible(False)
        for left, bottom, text in captions:
            axes.text(left, bottom, text, fontsize=7, va="bottom")
        result.drawn.append(
            Drawn(
                file_stem("difference", target, protocol_label),
                "Difference maps",
                f"{target}, {protocol_label}",
                f"The frames of {target} ({protocol_label}) each model found most anomalous (one "
                "per video), each beside the absolute error between the frame and the model's "
                "prediction of it (inferno colour map, brighter = larger, scaled per frame; "
                "first seed).",
                figure,
            )
        )
    return result


def save(drawn: Drawn, folder: Path) -> bytes:
    """The figure as PNG (for the page and slides) and SVG (for papers), each written
    atomically; returns the PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    png, svg = io.BytesIO(), io.BytesIO()
    drawn.figure.savefig(png, format="png", dpi=100, metadata={"Software": None})
    drawn.figure.set_layout_engine("none")  # laid out once, by the first save: keep it
    drawn.figure.savefig(svg, format="svg", metadata={"Date": None})
    atomic_write_bytes(folder / f"{drawn.name}.png", png.getvalue())
    atomic_write_bytes(folder / f"{drawn.name}.svg", svg.getvalue())
    return png.getvalue()
