"""Frame-level detection metrics of the FFP protocol: micro AUC (the field's headline number)
and macro AUC, each with the bootstrap statistic that gives it intervals in reports."""

from __future__ import annotations

from typing import Any

import numpy as np

from vadbench.sdk import (
    DetectionInput,
    MetricResult,
    MetricSpec,
    NoOptions,
    WeightedAUC,
    anomaly_scores,
    hookimpl,
    mean_video_auc,
    per_video_auc,
    roc_auc,
    unlabelled_note,
    unlabelled_videos,
)


def micro_auc(data: DetectionInput) -> list[MetricResult]:
    """One ROC AUC over all frames of all videos concatenated in sorted order."""
    if unlabelled_videos(data):
        return [MetricResult("micro_auc", None, "AUC", True, note=unlabelled_note(data))]
    labels = np.concatenate(data.labels) if data.labels else np.zeros(0)
    if len(np.unique(labels)) < 2:
        note = "target has frames of only one class"
        return [MetricResult("micro_auc", None, "AUC", True, note=note)]
    scores = np.concatenate([anomaly_scores(s, data.score_kind) for s in data.scores])
    return [MetricResult("micro_auc", roc_auc(labels, scores), "AUC", True)]


def macro_auc(data: DetectionInput) -> list[MetricResult]:
    """Mean of per-video AUCs; all-normal and all-abnormal videos have no AUC, so they are left
    out and counted in the note."""
    if unlabelled_videos(data):
        return [MetricResult("macro_auc", None, "AUC", True, note=unlabelled_note(data))]
    aucs = per_video_auc(data)
    if not aucs:
        return [MetricResult("macro_auc", None, "AUC", True, note="no video has both classes")]
    skipped = len(data.video_ids) - len(aucs)
    note = f"{skipped} single-class video(s) left out" if skipped else ""
    return [MetricResult("macro_auc", float(np.mean(list(aucs.values()))), "AUC", True, note=note)]


@hookimpl
def vadbench_register_metrics(register: Any) -> None:
    register(
        MetricSpec(
            name="micro_auc",
            description="frame ROC AUC over all target frames concatenated (the headline)",
            kind="detection",
            compute=micro_auc,
            options=NoOptions,
            headline=True,
            order=0,
            statistic=WeightedAUC,
        )
    )
    register(
        MetricSpec(
            name="macro_auc",
            description="mean per-video frame ROC AUC; single-class videos left out",
            kind="detection",
            compute=macro_auc,
            options=NoOptions,
            order=10,
            statistic=mean_video_auc,
        )
    )
