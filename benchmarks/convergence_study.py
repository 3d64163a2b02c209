"""The convergence study's analysis (benchmarks/convergence_study.yaml, issue 26).

    vadbench run benchmarks/convergence_study.yaml --results-dir DIR
    python benchmarks/convergence_study.py DIR/convergence-study \
        --out benchmarks/results/convergence_study.md \
        --figures benchmarks/results/convergence_study

It answers three questions from the run, with paired 95% bootstrap intervals (the same
resampled test videos and seeds for both sides of a difference):

1. At convergence, does zxVAD beat FFP and MPN (cross-domain mean micro AUC)?
2. At convergence, does each normalcy-classifier loss help (zxVAD against zxVAD without it, and
   against zxVAD without all four)?
3. Does every learned model reach skill > 0 on held-out source frames?

It also scores the snapshots each cell saved along the way on every target (once: the scores
are kept under ``DIR/snapshot-scores``) and draws AUC against training steps with intervals,
and the held-out source curves. A seed whose training stopped before a snapshot step counts
with its final model there: it had stopped learning. Nothing is chosen here: the models,
budget and rule were fixed in the matrix before it ran, and this only reports.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import torch

from vadbench.harness.jobs import CellJob, resolve_job
from vadbench.harness.plugins import Registry, load_plugins
from vadbench.harness.results import load_results, load_target_runs, statistics_settings
from vadbench.harness.store import RunStore
from vadbench.sdk import statistics
from vadbench.sdk.contracts import ResampledStatistic
from vadbench.sdk.files import read_record
from vadbench.sdk.leaderboards import SKILL, model_title
from vadbench.sdk.learning import LearningCurve, read_curve, under_trained
from vadbench.sdk.protocol import UNLABELLED, anomaly_scores, stored_detection_input
from vadbench.sdk.runfolder import StoredScores, read_checked_scores, write_scores

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ZXVAD = "zxvad (cpu)"
RIVALS = ("ffp (cpu)", "mpn (cpu)", "framediff (cpu)")
ABLATIONS = {
    "zxvad-no-n (cpu)": "all four N losses",
    "zxvad-no-ln (cpu)": "L_N",
    "zxvad-no-lrn (cpu)": "L_RN",
    "zxvad-no-laa (cpu)": "L_AA",
    "zxvad-no-lraa (cpu)": "L_RAA",
}
SNAPSHOT_SCORES = "snapshot-scores"
CONVERGED = sys.maxsize  # the step of each seed's final model, whenever it stopped


def _standard_verdict() -> ModuleType:
    spec = importlib.util.spec_from_file_location("standard_verdict", HERE / "standard_verdict.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("standard_verdict", module)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class FinishedCell:
    cell_id: str
    title: str
    source: str
    train: str
    seed: int
    curve: LearningCurve | None


def finished_cells(store: RunStore, table: pd.DataFrame) -> list[FinishedCell]:
    """Cells whose targets all finished, with their held-out curves."""
    cells = []
    for cell_id, group in table[table["target"] != ""].groupby("cell", sort=True):
        if not (group["status"] == "ok").all():
            continue
        first = group.iloc[0]
        source = f"{first['train']} + {first['aux']}" if first["aux"] else str(first["train"])
        cells.append(
            FinishedCell(
                str(cell_id),
                model_title(str(first["model"]), str(first["preset"])),
                source,
                str(first["train"]),
                int(first["seed"]),
                read_curve(store.learning_file(str(cell_id))),
            )
        )
    return cells


def snapshot_scores_file(run_dir: Path, cell_id: str, step: int, target: str) -> Path:
    return run_dir / SNAPSHOT_SCORES / cell_id / f"step-{step:06d}" / f"{target}.npz"


def score_snapshots(
    run_dir: Path,
    registry: Registry,
    cells: list[FinishedCell],
    models: set[str] | None = None,
) -> int:
    """Score every snapshot of every finished cell on its zero-shot targets, where not scored
    yet; returns how many (snapshot, target) pairs were scored now. ``models`` (titles such as
    ``zxvad (cpu)``) limits it to those models. A cell whose run loaded plugin files gets a
    registry with them."""
    store = RunStore(run_dir)
    done = 0
    for finished in cells:
        if models is not None and finished.title not in models:
            continue
        snapshots = store.snapshot_dirs(finished.cell_id)
        if not snapshots:
            continue
        job_file = store.job_file(finished.cell_id)
        job = CellJob.from_json(job_file.read_text(), str(job_file))
        if job.plugin_files:
            registry = load_plugins([Path(file) for file in job.plugin_files], job.blocked)
        with contextlib.chdir(job.cwd):  # where the run resolved relative dataset roots
            done += _score_cell_snapshots(run_dir, job, job_file, registry, snapshots)
    return done


def _score_cell_snapshots(
    run_dir: Path, job: CellJob, job_file: Path, registry: Registry, snapshots: dict[int, Path]
) -> int:
    done = 0
    cell, datasets = resolve_job(job, registry, job_file)
    targets = [t for t in cell.targets if t.shots is None]
    for step, folder in snapshots.items():
        wanted = [
            t for t in targets if not snapshot_scores_file(run_dir, cell.id, step, t.key).is_file()
        ]
        if not wanted:
            continue
        method = cell.model.spec.create(cell.model.options, "cpu")
        method.load(folder)
        for target in wanted:
            videos = datasets[target.dataset].dataset.source("test").videos()
            with torch.inference_mode():
                scores = tuple(np.asarray(method.score(v), np.float64) for v in videos)
            labels = tuple(
                v.labels if v.labels is not None else np.full(v.num_frames, UNLABELLED, np.int8)
                for v in videos
            )
            path = snapshot_scores_file(run_dir, cell.id, step, target.key)
            path.parent.mkdir(parents=True, exist_ok=True)
            ids = tuple(v.id for v in videos)
            kind = method.score_kind
            write_scores(
                path,
                StoredScores(f"snapshot-{step}", ids, scores, labels, method.context_frames, kind),
            )
            done += 1
        print(f"scored {cell.id} at step {step}", flush=True)
    return done


def _runs_from(stored: StoredScores) -> tuple[tuple[str, ...], tuple[np.ndarray, ...], tuple]:
    data = stored_detection_input(stored)
    return (
        data.video_ids,
        tuple(anomaly_scores(s, data.score_kind) for s in data.scores),
        data.labels,
    )


def scores_at(
    run_dir: Path, store: RunStore, cell: FinishedCell, step: int, target: str
) -> StoredScores | None:
    """The cell's scores on ``target`` with its model at ``step``: its snapshot there, or its
    final model where training had stopped before ``step``."""
    final_steps = cell.curve.steps if cell.curve is not None else 0
    if step >= final_steps:
        return read_checked_scores(store.scores_file(cell.cell_id, target))
    return read_checked_scores(snapshot_scores_file(run_dir, cell.cell_id, step, target))


def auc_by_step(
    run_dir: Path,
    cells: list[FinishedCell],
    table: pd.DataFrame,
    statistic: ResampledStatistic,
    resamples: int,
    confidence: float,
    seed: int,
) -> dict[tuple[str, str], list[tuple[int, statistics.Estimate]]]:
    """(model, source) → cross-domain mean micro AUC with its interval at each snapshot step
    every seed of the model has scores for (seeds resampled with the videos), and at
    ``CONVERGED``: each seed's final model."""
    store = RunStore(run_dir)
    steps = [
        *sorted({step for cell in cells for step in store.snapshot_dirs(cell.cell_id)}),
        CONVERGED,
    ]
    targets = sorted(set(table.loc[table["target"] != "", "target"]))
    found: dict[tuple[str, str], list[tuple[int, statistics.Estimate]]] = {}
    groups: dict[tuple[str, str], list[FinishedCell]] = {}
    for cell in cells:
        groups.setdefault((cell.title, cell.source), []).append(cell)
    for (title, source), members in sorted(groups.items()):
        if all(cell.curve is None or not cell.curve.points for cell in members):
            continue  # a model that does not train has no curve
        train = members[0].train
        for step in steps:
            per_target = []
            for target in targets:
                if target == train:
                    continue
                runs: statistics.TargetRuns | None = None
                for cell in members:
                    stored = scores_at(run_dir, store, cell, step, target)
                    if stored is None:
                        break
                    ids, anomaly, labels = _runs_from(stored)
                    runs = runs or statistics.TargetRuns(ids)
                    runs.per_seed[cell.seed] = (anomaly, labels)
                else:
                    if runs is not None:
                        per_target.append(
                            statistics.target_rounds(runs, statistic, target, resamples, seed)
                        )
                        continue
                break
            else:
                if per_target:
                    mean = statistics.mean_rounds(per_target)
                    found.setdefault((title, source), []).append(
                        (step, statistics.estimate(mean, confidence))
                    )
    return found


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def verdict_lines(
    means: Mapping[tuple[str, str, str], statistics.Rounds], confidence: float
) -> Iterator[str]:
    row = _standard_verdict().row
    sources = sorted({source for _, source, protocol in means if protocol == "zero-shot"})
    for source in sources:
        zxvad = means.get((ZXVAD, source, "zero-shot"))
        if zxvad is None:
            continue
        yield ""
        yield f"### Trained on {source}"
        yield ""
        yield "| zxVAD − model | difference | interval | zxVAD is |"
        yield "|---|---|---|---|"
        for model in (*RIVALS, *ABLATIONS):
            other = means.get((model, source, "zero-shot"))
            if other is not None:
                label = f"{model} (without {ABLATIONS[model]})" if model in ABLATIONS else model
                yield row(label, zxvad, other, confidence)


def per_target_lines(
    runs: Mapping[tuple[str, str, str, str, str], statistics.TargetRuns],
    statistic: ResampledStatistic,
    resamples: int,
    confidence: float,
    seed: int,
) -> Iterator[str]:
    """zxVAD against FFP and against zxVAD without N on each target (paired intervals): where
    the domains differ (corridor's flicker, night's sensor noise) is where a difference would
    show."""
    rivals = ("ffp (cpu)", "zxvad-no-n (cpu)")
    yield "| source | target | zxVAD | " + " | ".join(f"zxVAD − {r}" for r in rivals) + " |"
    yield "|---|---|---|" + "---|" * len(rivals)
    keys = sorted({(k[1], k[2], k[4]) for k in runs if k[0] == ZXVAD and k[3] == "zero-shot"})
    for source, train, target in keys:
        mine = statistics.target_rounds(
            runs[(ZXVAD, source, train, "zero-shot", target)], statistic, target, resamples, seed
        )
        cells = [_estimate(statistics.estimate(mine, confidence)) if mine.value else "n/a"]
        for rival in rivals:
            other_runs = runs.get((rival, source, train, "zero-shot", target))
            if other_runs is None:
                cells.append("")
                continue
            other = statistics.target_rounds(other_runs, statistic, target, resamples, seed)
            difference, low, high = statistics.paired_difference(mine, other, confidence)
            cells.append(
                "n/a"
                if difference is None or low is None or high is None
                else f"{_points(difference)} [{_points(low)}, {_points(high)}]"
            )
        yield f"| {source} | {target} | " + " | ".join(cells) + " |"


def skill_lines(cells: list[FinishedCell]) -> Iterator[str]:
    yield "| model | source | seed | steps | stopped | held-out MSE | copy-last MSE | skill |"
    yield "|---|---|---|---|---|---|---|---|"
    for cell in sorted(cells, key=lambda c: (c.source, c.title, c.seed)):
        curve = cell.curve
        if curve is None or not curve.points:
            continue
        skill = curve.skill
        mark = " under-trained" if under_trained(skill) else ""
        yield (
            f"| {cell.title} | {cell.source} | {cell.seed} | {curve.steps} | {curve.stopped} | "
            f"{curve.final_loss:.3g} | {curve.trivial_loss:.3g} | "
            f"{'n/a' if skill is None else f'{skill:.3f}'}{mark} |"
        )


def _stem(source: str) -> str:
    return source.replace(" + ", "_")


def _save(figure: Any, axes: Any, title: str, ylabel: str, stem: Path) -> Path:
    """Label a figure of something against training steps and write it as ``stem``.png."""
    axes.set_xlabel("training steps")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    path = stem.with_suffix(".png")
    figure.savefig(path, dpi=110)
    return path


def draw(
    auc: Mapping[tuple[str, str], list[tuple[int, statistics.Estimate]]],
    cells: list[FinishedCell],
    folder: Path,
) -> list[Path]:
    """AUC against steps and the held-out curves, one figure each per source."""
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted({s for _, s in auc}):
        figure = Figure(figsize=(6.4, 4.4), layout="constrained")
        axes = figure.add_subplot()
        for title, entries in sorted((t, e) for (t, s), e in auc.items() if s == source):
            finals = [c.curve.steps for c in cells if c.title == title and c.source == source
                      and c.curve is not None]  # fmt: skip
            at_end = float(np.median(finals)) if finals else 1.0
            steps = [at_end if step == CONVERGED else step for step, _ in entries]
            values = [e.value for _, e in entries]
            lows = [e.lower if e.lower is not None else e.value for _, e in entries]
            highs = [e.upper if e.upper is not None else e.value for _, e in entries]
            line = axes.plot(steps, values, marker="o", label=title)[0]
            axes.fill_between(steps, lows, highs, color=line.get_color(), alpha=0.15)
        axes.set_xscale("log")
        title = f"trained on {source}: AUC along training (95% intervals)"
        label = "cross-domain mean micro AUC"
        written.append(_save(figure, axes, title, label, folder / f"auc_by_step_{_stem(source)}"))
    for source in sorted({c.source for c in cells}):
        figure = Figure(figsize=(6.4, 4.4), layout="constrained")
        axes = figure.add_subplot()
        titles = sorted({c.title for c in cells if c.source == source})
        for index, title in enumerate(titles):
            colour = f"C{index}"
            for cell in (c for c in cells if c.source == source and c.title == title):
                curve = cell.curve
                if curve is None or not curve.points:
                    continue
                axes.plot(
                    [p.step for p in curve.points],
                    [p.loss for p in curve.points],
                    color=colour,
                    alpha=0.7,
                    label=title if cell.seed == min(c.seed for c in cells) else None,
                )
                axes.axhline(curve.trivial_loss or np.nan, color="0.4", ls="--", lw=0.8)
        axes.set_yscale("log")
        title = f"{source}: held-out curves (dashed: copy the last frame)"
        label = "held-out source prediction MSE"
        written.append(_save(figure, axes, title, label, folder / f"held_out_{_stem(source)}"))
    return written


def report(
    run_dir: Path, figures: Path | None, score: bool = True, models: set[str] | None = None
) -> str:
    registry = load_plugins()
    store = RunStore(run_dir)
    run = read_record(store.run_file) or {}
    settings = statistics_settings((run.get("config") or {}).get("statistics") or {})
    resamples, confidence, seed = settings["resamples"], settings["confidence"], settings["seed"]
    table = load_results(run_dir, registry)
    headline = registry.metrics.get(str(table.attrs["headline"]), where="the run's headline")
    assert headline.statistic is not None
    cells = finished_cells(store, table)
    if score:
        score_snapshots(run_dir, registry, cells, models)
    runs = load_target_runs(store, table)
    means = _standard_verdict().cross_domain_rounds(runs, headline.statistic, resamples, seed)
    auc = auc_by_step(run_dir, cells, table, headline.statistic, resamples, confidence, seed)
    planned = len(run.get("cells", {}))
    lines = [
        f"# Convergence study: `{run_dir.name}`",
        "",
        f"{len(cells)} of {planned} planned cells finished. Budget: {run.get('budget')}; held "
        f"out: {run.get('held_out')}. Intervals: {resamples} paired bootstrap resamples of "
        f"test videos and seeds, {confidence:.0%}; AUC points.",
        "",
        "## 1-2. At convergence: zxVAD against FFP, MPN, frame differencing and its ablations",
        "",
        "Cross-domain mean micro AUC (targets other than the source); 'better' or 'worse' when "
        "the paired interval excludes 0. A positive difference against an ablation means the "
        "left-out loss helps.",
        *verdict_lines(means, confidence),
        "",
        "### Per target (AUC points for the differences)",
        "",
        *per_target_lines(runs, headline.statistic, resamples, confidence, seed),
        "",
        "## 3. Skill on held-out source frames",
        "",
        *skill_lines(cells),
        "",
        "## AUC along training",
        "",
        "Cross-domain mean micro AUC [95% interval] of the model saved at each step; a seed "
        "that had stopped before a step counts with its final model there.",
        "",
        "| model | source | " + " | ".join(_step_label(step) for step in _all_steps(auc)) + " |",
    ]
    all_steps = _all_steps(auc)
    lines.append("|---|---|" + "---|" * len(all_steps))
    for (title, source), entries in sorted(auc.items()):
        by_step = dict(entries)
        cells_text = [
            "" if s not in by_step or by_step[s].value is None else _estimate(by_step[s])
            for s in all_steps
        ]
        lines.append(f"| {title} | {source} | " + " | ".join(cells_text) + " |")
    skilled = table[(table["metric"] == SKILL) & (table["target"] == "")]
    if not skilled.empty:
        verdict = "every" if (skilled["value"] > 0).all() else "not every"
        lines += ["", f"Skill > 0: {verdict} trained cell of the run."]
    if figures is not None:
        for path in draw(auc, cells, figures):
            lines += ["", f"![{path.stem}]({_relative(path)})"]
    return "\n".join(lines) + "\n"


def _all_steps(auc: Mapping[tuple[str, str], list[tuple[int, statistics.Estimate]]]) -> list[int]:
    return sorted({step for entries in auc.values() for step, _ in entries})


def _step_label(step: int) -> str:
    return "converged" if step == CONVERGED else f"step {step}"


def _estimate(found: statistics.Estimate) -> str:
    assert found.value is not None
    if found.lower is None or found.upper is None:
        return f"{found.value:.3f}"
    return f"{found.value:.3f} [{found.lower:.3f}, {found.upper:.3f}]"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to((ROOT / "benchmarks" / "results").resolve()))
    except ValueError:
        return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--figures", type=Path)
    parser.add_argument("--no-scoring", action="store_true", help="use snapshot scores as found")
    parser.add_argument(
        "--snapshot-models", nargs="+", help="score the snapshots of these models only (titles)"
    )
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    models = set(args.snapshot_models) if args.snapshot_models else None
    text = report(args.run_dir, args.figures, score=not args.no_scoring, models=models)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
