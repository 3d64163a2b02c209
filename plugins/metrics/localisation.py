"""Localisation metrics: pixel-level AUC, RBDC and TBDC (``vadbench.sdk.localisation``) of a
model's anomaly maps against a target's pixel masks. They need a model that localises (the
toolkit's frame predictors give squared prediction errors per pixel) and a target with pixel
masks (the synthetic benchmark, UCSD Ped2, Avenue, ShanghaiTech); elsewhere they are n/a with
the reason. One count over the threshold grid serves all three."""

from __future__ import annotations

from typing import Any

from vadbench.sdk import (
    DetectionInput,
    MetricResult,
    MetricSpec,
    hookimpl,
    localisation_scores,
    unlabelled_note,
    unlabelled_videos,
)

NO_MAPS = (
    "no anomaly maps: the model does not localise, or the target has no pixel masks, or its "
    "scores were stored before the run measured localisation"
)

DESCRIPTIONS = {
    "pixel_auc": "pixel-level ROC AUC: a frame with anomalous pixels counts as detected when "
    "40% of them are found (Mahadevan et al.)",
    "rbdc": "region-based detection criterion: region detection rate against false regions "
    "per frame, 0 to 1 (Ramachandra and Jones)",
    "tbdc": "track-based detection criterion: track detection rate against false regions per "
    "frame, 0 to 1 (Ramachandra and Jones)",
}


def _metric(name: str) -> Any:
    def compute(data: DetectionInput) -> list[MetricResult]:
        if unlabelled_videos(data):
            return [MetricResult(name, None, "AUC", True, note=unlabelled_note(data))]
        if data.localisation is None:
            return [MetricResult(name, None, "AUC", True, note=NO_MAPS)]
        value = localisation_scores(data.localisation)[name]
        note = "" if value is not None else "the target has nothing anomalous to localise"
        return [MetricResult(name, value, "AUC", True, note=note)]

    return compute


@hookimpl
def vadbench_register_metrics(register: Any) -> None:
    for order, name in enumerate(DESCRIPTIONS):
        register(
            MetricSpec(
                name,
                DESCRIPTIONS[name],
                "detection",
                _metric(name),
                order=40 + order,
                needs_maps=True,
            )
        )
