"""The efficiency stage: every efficiency metric on the module the model runs per test frame.

A run measures it one cell at a time, in the driver, after parallel executors have trained:
timings taken while other cells train would not be honest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vadbench.harness.planning import Cell
from vadbench.harness.records import EfficiencyRecord, metric_records
from vadbench.harness.stages.context import CellOutcome, StageContext, StageError
from vadbench.sdk.contracts import EfficiencyInput, Method, MetricResult, MetricSpec
from vadbench.sdk.validation import one_line


def measure_efficiency(
    method: Method,
    metrics: Sequence[MetricSpec],
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[MetricResult]:
    """Every efficiency metric on the module the method runs per test frame.

    A metric that raises is reported as n/a with its error, so one broken counter never hides
    the others; a model that cannot hand out its module raises.
    """
    handed_out = method.inference_module()
    results: list[MetricResult] = []
    for metric in metrics:
        if handed_out is None:
            results.append(MetricResult(metric.name, None, "", False, note="model is not neural"))
            continue
        module, example = handed_out
        device = str(example[0].device)
        try:
            settings = (options or {}).get(metric.name, {})
            data = EfficiencyInput(module, example, device, method, settings)
            results.extend(metric.compute(data))
        except Exception as error:
            results.append(
                MetricResult(metric.name, None, "", False, note=f"failed: {one_line(error)}")
            )
    return results


def requested(ctx: StageContext) -> list[str]:
    return [metric.name for metric in ctx.efficiency_metrics]


def needs_efficiency(ctx: StageContext, stored: EfficiencyRecord | None) -> bool:
    """Whether the cell's efficiency is still to measure: asked for, and not stored for this
    list of metrics (or ``--force``)."""
    names = requested(ctx)
    return (
        ctx.efficiency
        and bool(names)
        and (ctx.force or stored is None or stored.requested != names)
    )


def efficiency_stage(cell: Cell, method: Method, ctx: StageContext, outcome: CellOutcome) -> None:
    try:
        results = measure_efficiency(method, ctx.efficiency_metrics, ctx.metric_options)
    except Exception as error:
        raise StageError("efficiency metrics", error) from error
    outcome.measured_efficiency = True
    record = EfficiencyRecord(
        hash=cell.hash, requested=requested(ctx), metrics=metric_records(results)
    )
    ctx.store.write(record, cell.id)
