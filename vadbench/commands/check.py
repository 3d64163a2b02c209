"""``vadbench check MATRIX``: is everything a run needs there, and how much work is it?

A run discovers a missing label file or a folder of absent videos when it reaches that dataset,
possibly after hours of training. ``check`` reads the matrix, opens every dataset it names and
lists every split the matrix will read (videos, frames, labels: the same listing a run does,
without decoding a frame), reports every problem of every dataset at once, and then counts the
work: cells, target evaluations, test frames, and each model's training length. Nothing trains
and nothing is written.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vadbench.commands.base import Command
from vadbench.commands.run import add_matrix_arguments
from vadbench.harness.checks import needed_splits
from vadbench.harness.config import read_matrix
from vadbench.harness.planning import Plan, build_plan, open_dataset
from vadbench.harness.plugins import Registry
from vadbench.sdk.contracts import ConfigError, Split, VadbenchError
from vadbench.sdk.workers import threads_per_cell


@dataclass
class SplitReport:
    """What one split of one dataset holds, or why it cannot be read."""

    dataset: str
    split: Split
    needed_by: str
    videos: int = 0
    frames: int = 0
    abnormal_frames: int = 0
    problem: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass
class CheckReport:
    """Every split's report and, when the data is all there, the planned work."""

    matrix: Path
    splits: list[SplitReport]
    plan: Plan | None = None
    plan_problem: str = ""

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.splits) and self.plan is not None

    def work(self) -> dict[str, Any]:
        """Cells, target evaluations, test frames to score and each model's training length."""
        if self.plan is None:
            return {}
        frames = {(r.dataset, r.split): r.frames for r in self.splits}
        budget = self.plan.matrix.budget
        return {
            "cells": len(self.plan.cells),
            "target_evaluations": sum(len(cell.targets) for cell in self.plan.cells),
            "test_frames_scored": sum(
                frames.get((target.dataset, "test"), 0)
                for cell in self.plan.cells
                for target in cell.targets
            ),
            "threads": threads_line(self.plan),
            "training": {
                cell.model.name: (
                    budget.model_dump(exclude_none=True)
                    if budget is not None
                    else training_length(cell.model.options.model_dump())
                )
                for cell in self.plan.cells
            },
        }


def threads_line(plan: Plan) -> str:
    """How many torch threads each cell will take, and why."""
    if plan.matrix.threads is not None:
        return f"{plan.matrix.threads} torch thread(s) per cell (the matrix's threads)"
    if plan.matrix.executor == "local":
        return f"{torch.get_num_threads()} torch thread(s), torch's default; one cell at a time"
    workers = getattr(plan.executor_options, "workers", None) or os.cpu_count() or 1
    side_by_side = min(workers, len(plan.cells))
    return (
        f"{threads_per_cell(side_by_side)} torch thread(s) per cell: the cores shared by up to "
        f"{side_by_side} cell(s) side by side (set threads to choose)"
    )


def training_length(options: dict[str, Any]) -> dict[str, Any]:
    """A model's options that set how long it trains (``*_steps``), for the work estimate."""
    return {name: value for name, value in options.items() if name.endswith("steps")}


def check_matrix(path: Path, registry: Registry, overrides: Sequence[str] = ()) -> CheckReport:
    """Open every dataset the matrix names and list every split it reads; then plan the run if
    every split is complete. Problems are collected, not raised, so all of them are reported."""
    _, matrix = read_matrix(path, overrides)
    reports = []
    opened = {}
    for (name, split), where in sorted(needed_splits(matrix, path).items()):
        report = SplitReport(name, split, where)
        reports.append(report)
        if name not in matrix.datasets:
            report.problem = "not defined under datasets"
            continue
        try:
            if name not in opened:
                opened[name] = open_dataset(name, matrix.datasets[name], registry, path)
            dataset = opened[name].dataset
            check = getattr(dataset, "check_split", None)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if check is not None:
                    check(split)
                videos = dataset.source(split).videos()
            report.warnings = [str(w.message) for w in caught]
        except VadbenchError as error:
            report.problem = str(error)
            continue
        report.videos = len(videos)
        report.frames = sum(video.num_frames for video in videos)
        report.abnormal_frames = sum(
            int(video.labels.sum()) for video in videos if video.labels is not None
        )
        if split == "test" and any(video.labels is None for video in videos):
            unlabelled = sum(1 for video in videos if video.labels is None)
            report.warnings.append(
                f"{unlabelled} test video(s) have no frame labels: they are scored, and their "
                "target's AUCs are n/a"
            )
    result = CheckReport(path, reports)
    if all(report.ok for report in reports):
        try:
            result.plan = build_plan(path, {}, matrix, registry, opened)
        except ConfigError as error:
            result.plan_problem = str(error)
    return result


class CheckCommand(Command):
    name = "check"
    help = "check a matrix's data (every split it reads) and count the work, training nothing"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_matrix_arguments(parser)

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        matrix, overrides = args.matrix, args.overrides
        report = check_matrix(matrix, registry, overrides)
        table = Table(title=f"data of {escape(matrix.name)}", title_justify="left")
        for column in ("dataset", "split", "videos", "frames", "abnormal", "status"):
            table.add_column(column, justify="right" if column in ("videos", "frames") else "left")
        for split in report.splits:
            abnormal = ""
            if split.split == "test" and split.frames:
                abnormal = f"{split.abnormal_frames / split.frames:.1%}"
            status = "ok" if split.ok else "[red]problem[/]"
            if split.ok and split.warnings:
                status = "[yellow]ok, with warnings[/]"
            table.add_row(
                escape(split.dataset),
                split.split,
                str(split.videos) if split.ok else "",
                f"{split.frames:,}" if split.ok else "",
                abnormal if split.ok else "",
                status,
            )
        console.print(table)
        for split in report.splits:
            for warning in split.warnings:
                console.print(f"[yellow]warning:[/] {escape(warning)}")
        work = report.work()
        if work:
            console.print(
                f"work: {work['cells']} cell(s), {work['target_evaluations']} target "
                f"evaluation(s), {work['test_frames_scored']:,} test frames to score; "
                f"{work['threads']}"
            )
            for model, length in sorted(work["training"].items()):
                steps = ", ".join(f"{name} {value}" for name, value in length.items())
                console.print(f"  {escape(model)}: {escape(steps or 'no steps option')}")
        problems = [s for s in report.splits if not s.ok]
        for split in problems:
            where = f"datasets.{split.dataset} ({split.split} split, read by {split.needed_by})"
            console.print(f"[bold red]error:[/] {escape(where)}: {escape(split.problem)}")
        if report.plan_problem:
            console.print(f"[bold red]error:[/] {escape(report.plan_problem)}")
        return 0 if report.ok else 2
