"""Frame-level detection metrics: micro AUC (the field's headline number), macro AUC and AUC per
anomaly type, on anomaly scores under the run's evaluation protocol (FFP's by default), each with
the bootstrap statistic that gives it intervals in reports."""

from __future__ import annotations

from typing import Any

import numpy as np

from vadbench.sdk import (
    NORMAL_TYPE,
    DetectionInput,
    MetricResult,
    MetricSpec,
    NoOptions,
    WeightedAUC,
    hookimpl,
    mean_video_auc,
    per_video_auc,
    protocol_scores,
    roc_auc,
    type_metric,
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
    scores = np.concatenate(protocol_scores(data))
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


def type_auc(data: DetectionInput) -> list[MetricResult]:
    """Per anomaly type: the ROC AUC of the target's normal frames against the frames of that
    type, pooled over videos (frames of other types left out). Named ``type_auc[<type>]``;
    reports give each its bootstrap interval (``vadbench.sdk.statistics.by_anomaly_type``).
    Targets whose dataset names no types (or whose scores were stored before types were) give
    no values."""
    if data.types is None:
        return []  # the dataset names no types: nothing to report, and no n/a table of it
    types = np.concatenate(data.types) if data.types else np.zeros(0, str)
    scores = np.concatenate(protocol_scores(data))
    normal = types == NORMAL_TYPE
    results = []
    for name in sorted(set(types.tolist()) - {NORMAL_TYPE}):
        kept = normal | (types == name)
        value = (
            roc_auc((types[kept] == name).astype(np.int8), scores[kept]) if normal.any() else None
        )
        note = "" if value is not None else "the target has no normal frames"
        results.append(MetricResult(type_metric(name), value, "AUC", True, note=note))
    if not results:
        return [MetricResult("type_auc", None, "AUC", True, note="the target has no anomalies")]
    return results


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
    register(
        MetricSpec(
            name="type_auc",
            description="frame ROC AUC of normal frames against each anomaly type, for datasets "
            "that name types (the synthetic benchmark); one value per type",
            kind="detection",
            compute=type_auc,
            options=NoOptions,
            order=20,
        )
    )
