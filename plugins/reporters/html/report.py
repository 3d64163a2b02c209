"""The html reporter's rendering: figures, pictures and the page, put together."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from vadbench.sdk import (
    RunFolder,
    atomic_write_bytes,
    detection_metrics,
    detection_tables,
    efficiency_table,
    failures,
    headline_metric,
    leaderboard_table,
    learning_table,
    rank_tables,
    read_record,
    read_stored,
    run_findings,
    summary_counts,
    type_table,
    unlabelled_count,
)

from . import figures
from .data import (
    efficiency_values,
    headline_means,
    learning_curves,
    model_pictures,
    model_title,
    prediction_examples,
    source_label,
    target_scores,
)
from .page import (
    Picture,
    Section,
    findings_html,
    metadata_html,
    missing_html,
    page,
    pictures_html,
    tables_html,
)

FIGURES_FOLDER = "figures"
REPORT_FILE = "report.html"
# Cost axes of the accuracy-against-cost figures: the built-in efficiency metrics, with
# whether less is better.
COST_AXES = (("gmacs", "GMACs per frame", True), ("fps", "frames per second", False))


def draw_figures(table: pd.DataFrame, store: RunFolder) -> figures.Figures:
    """Every figure the run's stored results allow, and why the others are missing."""
    headline = headline_metric(table)
    drawn = figures.Figures()
    if headline is None:
        drawn.missing.append("no figures of accuracy: the run measured no detection metric")
        return drawn
    accuracy = headline_means(table)
    for metric, label, lower_is_better in COST_AXES:
        cost = efficiency_values(table, metric)
        drawn.extend(
            figures.accuracy_against_cost(accuracy, cost, metric, label, lower_is_better, headline)
        )
    drawn.extend(figures.heatmaps(_heatmap_cells(table, headline), headline))
    drawn.extend(figures.learning_curves(learning_curves(store, table)))
    scores = []
    for entry in target_scores(store, table):
        if unlabelled_count(entry.labels):
            drawn.missing.append(
                f"ROC and score curves on {entry.target} ({entry.key.protocol}): its test videos "
                "have no frame labels"
            )
        else:
            scores.append(entry)
    if not scores:
        drawn.missing.append("ROC and score curves: no finished target has readable scores")
    drawn.extend(figures.roc_curves(scores))
    drawn.extend(figures.score_curves(scores))
    examples = list(prediction_examples(store, table))
    drawn.extend(figures.difference_maps(examples))
    with_examples = {key.model for key, _, _ in examples}
    for model in sorted({s.key.model for s in scores} - with_examples):
        drawn.missing.append(
            f"difference maps of {model}: none stored (the model has no frame predictions, "
            "or its targets were scored before vadbench kept examples)"
        )
    return drawn


def _heatmap_cells(
    table: pd.DataFrame, headline: str
) -> dict[tuple[str, str], dict[tuple[str, str], float]]:
    """(model, protocol) → (source, target) → the headline's mean over seeds."""
    rows = table[(table["metric"] == headline) & (table["status"] == "ok")]
    cells: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
    for (model, preset, train, aux, protocol, target), group in rows.groupby(
        ["model", "preset", "train", "aux", "protocol", "target"], sort=False
    ):
        title, source = model_title(model, preset), source_label(train, aux)
        value = group["value"].mean()
        if pd.notna(value):
            cells.setdefault((title, str(protocol)), {})[(source, str(target))] = float(value)
    return cells


def _pictures(table: pd.DataFrame, store: RunFolder, folder: Path) -> list[Picture]:
    """Pictures models drew while training, copied beside the figures."""
    found = []
    for model, source, path in model_pictures(store, table):
        name = figures.file_stem(model, source, path.name)
        data = read_stored(path)
        atomic_write_bytes(folder / name, data)
        title = f"{model} trained on {source}: {path.stem.replace('_', ' ')}"
        caption = "Drawn by the model while training (first seed)."
        found.append(Picture("Pictures from training", title, caption, data, (f"figures/{name}",)))
    return found


def render_html(table: pd.DataFrame, out_dir: Path) -> Path:
    store = RunFolder(out_dir)
    run: dict[str, Any] = read_record(store.run_file) or {}
    folder = out_dir / FIGURES_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # matplotlib's layout hints on tiny axes
        drawn = draw_figures(table, store)
        pictures = []
        for item in drawn.drawn:
            png = figures.save(item, folder)
            files = (f"figures/{item.name}.png", f"figures/{item.name}.svg")
            pictures.append(Picture(item.section, item.title, item.caption, png, files))
    pictures.extend(_pictures(table, store, folder))
    missing = list(dict.fromkeys(drawn.missing))
    if not any(p.section == "Pictures from training" for p in pictures):
        missing.append("pictures from training: no model of this run drew any")
    sections = _sections(table, pictures, missing, run)
    counts = summary_counts(table)
    summary = (
        f"{counts['ok']} target evaluation(s) finished, {counts['failed']} failed, "
        f"{counts['pending']} pending."
    )
    path = out_dir / REPORT_FILE
    text = page(str(run.get("name") or out_dir.name), summary, sections)
    atomic_write_bytes(path, text.encode())
    return path


def _sections(
    table: pd.DataFrame, pictures: list[Picture], missing: list[str], run: dict[str, Any]
) -> list[Section]:
    sections = []
    findings = run_findings(table)
    if findings:
        sections.append(Section("What the run says", findings_html(findings)))
    gaps = missing_html(missing)
    if gaps is not None:
        sections.append(gaps)
    ranking = leaderboard_table(table)
    ranks = list(rank_tables(table).items())
    if not ranking.empty or ranks:
        board = [("leaderboard", ranking)] if not ranking.empty else []
        sections.append(Section("Leaderboard", tables_html([*board, *ranks])))
    learning = learning_table(table)
    if not learning.empty:
        sections.append(
            Section("Skill", tables_html([("learning on held-out source videos", learning)]))
        )
    per_model = [
        item for m in detection_metrics(table) for item in detection_tables(table, m).items()
    ]
    if per_model:
        sections.append(Section("Per model: source → target", tables_html(per_model)))
    by_type = type_table(table)
    if not by_type.empty:
        sections.append(
            Section("Anomaly types", tables_html([("detection per anomaly type", by_type)]))
        )
    efficiency = efficiency_table(table)
    if not efficiency.empty:
        sections.append(Section("Efficiency", tables_html([("efficiency", efficiency)])))
    failed = failures(table)
    if not failed.empty:
        sections.append(
            Section(
                "Failures", tables_html([("failed cells and targets", failed.set_index("model"))])
            )
        )
    sections.extend(pictures_html(pictures))
    sections.append(Section("Run", metadata_html(run)))
    return sections
