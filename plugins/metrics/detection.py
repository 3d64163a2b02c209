"""Frame-level detection metrics of the FFP protocol: micro and macro ROC AUC."""

from __future__ import annotations

from typing import Any

from vadbench import protocol
from vadbench.api import DetectionInput, MetricResult, MetricSpec, NoOptions
from vadbench.hookspecs import hookimpl


def _micro(data: DetectionInput) -> list[MetricResult]:
    return [protocol.micro_auc(data)]


def _macro(data: DetectionInput) -> list[MetricResult]:
    return [protocol.macro_auc(data)]


@hookimpl
def vadbench_register_metrics(register: Any) -> None:
    register(
        MetricSpec(
            name="micro_auc",
            description="frame ROC AUC over all target frames concatenated (the headline)",
            kind="detection",
            compute=_micro,
            options=NoOptions,
        )
    )
    register(
        MetricSpec(
            name="macro_auc",
            description="mean per-video frame ROC AUC; single-class videos left out",
            kind="detection",
            compute=_macro,
            options=NoOptions,
        )
    )
