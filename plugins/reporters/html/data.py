"""What the report's figures read from a run folder: stored scores per target, difference-map
examples, model pictures and efficiency values, each keyed by model, source and protocol, from
the first seed of each (a figure shows one run of a model, not an average of curves)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vadbench.sdk import (
    LearningCurve,
    PredictionExamples,
    RunFolder,
    evaluation_of,
    protocol_scores,
    read_checked_scores,
    read_curve,
    read_examples,
    stored_detection_input,
)


@dataclass(frozen=True)
class RunKey:
    """One row of a leaderboard: a model (and preset) trained on a source, under a protocol."""

    model: str
    source: str
    protocol: str

    @property
    def label(self) -> str:
        return f"{self.model} · {self.source}"


@dataclass(frozen=True)
class TargetScores:
    """One seed's scores on one target: per video, the protocol's normalised anomaly scores
    and the labels of the same frames (the first T frames of each video are not scored)."""

    key: RunKey
    target: str
    seed: int
    video_ids: tuple[str, ...]
    anomaly: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]
    context_frames: int


def model_title(model: object, preset: object) -> str:
    return f"{model} ({preset})" if preset else str(model)


def source_label(train: object, aux: object) -> str:
    return f"{train} + {aux}" if aux else str(train)


def _labelled(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with the leaderboard's model title and source label, sorted by seed within each."""
    rows = rows.assign(
        title=[model_title(m, p) for m, p in zip(rows["model"], rows["preset"], strict=True)],
        source=[source_label(t, a) for t, a in zip(rows["train"], rows["aux"], strict=True)],
    )
    return rows.sort_values(["title", "source", "seed"], kind="stable")


def _first_seed_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Finished targets, one row per (model, source, protocol, target): its lowest seed."""
    done = table[(table["status"] == "ok") & (table["target"] != "")]
    done = _labelled(done.drop_duplicates(["cell", "target_key"]))
    return done.drop_duplicates(["title", "source", "protocol", "target"])


def target_scores(store: RunFolder, table: pd.DataFrame) -> Iterator[TargetScores]:
    """Every finished target's stored scores (first seed), under the run's evaluation protocol;
    unreadable ones are left out."""
    evaluation = evaluation_of(table)
    for row in _first_seed_rows(table).itertuples(index=False):
        stored = read_checked_scores(store.scores_file(str(row.cell), str(row.target_key)))
        if stored is None:
            continue
        data = stored_detection_input(stored, evaluation)
        yield TargetScores(
            RunKey(str(row.title), str(row.source), str(row.protocol)),
            str(row.target),
            int(row.seed),
            data.video_ids,
            protocol_scores(data),
            data.labels,
            stored.context_frames,
        )


def prediction_examples(
    store: RunFolder, table: pd.DataFrame
) -> Iterator[tuple[RunKey, str, PredictionExamples]]:
    """(run, target, examples) for every finished target whose model stored examples."""
    for row in _first_seed_rows(table).itertuples(index=False):
        examples = read_examples(store.examples_file(str(row.cell), str(row.target_key)))
        if examples is not None:
            key = RunKey(str(row.title), str(row.source), str(row.protocol))
            yield key, str(row.target), examples


def model_pictures(store: RunFolder, table: pd.DataFrame) -> Iterator[tuple[str, str, Path]]:
    """(model, source, PNG file) for the pictures each model drew while training (first
    seed of each model and source); a symbolic link is never followed into the report."""
    cells = _labelled(table.drop_duplicates("cell"))
    for row in cells.drop_duplicates(["title", "source"]).itertuples(index=False):
        folder = store.figures_dir(str(row.cell))
        if folder.is_dir():
            for picture in sorted(folder.glob("*.png")):
                if not picture.is_symlink():
                    yield str(row.title), str(row.source), picture


def learning_curves(
    store: RunFolder, table: pd.DataFrame
) -> dict[tuple[str, str], list[tuple[int, LearningCurve]]]:
    """(model, source) → (seed, held-out curve) of every cell whose stored curve has points."""
    cells = _labelled(table[table["metric"] == "skill"].drop_duplicates("cell"))
    found: dict[tuple[str, str], list[tuple[int, LearningCurve]]] = {}
    for row in cells.itertuples(index=False):
        curve = read_curve(store.learning_file(str(row.cell)))
        if curve is not None and curve.points:
            found.setdefault((str(row.title), str(row.source)), []).append((int(row.seed), curve))
    return found


def efficiency_values(table: pd.DataFrame, metric: str) -> dict[str, float]:
    """Per model (and preset): the metric's mean over seeds, where it has a value."""
    rows = table[(table["target"] == "") & (table["metric"] == metric) & (table["status"] == "ok")]
    values: dict[str, float] = {}
    for (model, preset), group in rows.groupby(["model", "preset"], sort=True):
        finite = group["value"].dropna()
        if not finite.empty:
            values[model_title(model, preset)] = float(finite.mean())
    return values


def headline_means(table: pd.DataFrame) -> dict[RunKey, tuple[float, float | None, float | None]]:
    """Per model, source and protocol: the headline metric's cross-domain mean (the mean over
    all targets where a source has no other) with its interval, or the plain mean over seeds
    and targets where no stored scores allow one."""
    headline = table.attrs.get("headline")
    stats = table.attrs.get("statistics")
    rows = table[
        (table["target"] != "") & (table["metric"] == headline) & (table["status"] == "ok")
    ]
    found: dict[RunKey, tuple[float, float | None, float | None]] = {}
    for (model, preset, train, aux, protocol_label), group in rows.groupby(
        ["model", "preset", "train", "aux", "protocol"], sort=True
    ):
        key = RunKey(model_title(model, preset), source_label(train, aux), str(protocol_label))
        for scope in ("cross-domain", "mean"):
            estimate = (
                stats.means.get((headline, key.model, key.source, key.protocol, scope))
                if stats is not None
                else None
            )
            if estimate is not None and estimate.value is not None:
                found[key] = (estimate.value, estimate.lower, estimate.upper)
                break
        else:
            per_target = group.groupby("target")["value"].mean().dropna()
            if not per_target.empty:
                found[key] = (float(per_target.mean()), None, None)
    return found
