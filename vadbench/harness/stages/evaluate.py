"""The evaluate stage: a target's detection metrics from its raw scores, under the protocol,
stored as its ``result.json`` (written last: it marks the target done)."""

from __future__ import annotations

import dataclasses
import time

from vadbench.harness.planning import Cell, Target
from vadbench.harness.records import ResultRecord, metric_records
from vadbench.harness.stages.context import StageContext
from vadbench.sdk.localisation import read_localisation
from vadbench.sdk.protocol import stored_detection_input
from vadbench.sdk.runfolder import StoredScores


def evaluate(cell: Cell, target: Target, scores: StoredScores, ctx: StageContext) -> None:
    data = stored_detection_input(scores, ctx.evaluation)
    if ctx.wants_maps:
        found = read_localisation(ctx.store.localisation_file(cell.id, target.key), data.video_ids)
        data = dataclasses.replace(data, localisation=found)
    results = [result for metric in ctx.detection_metrics for result in metric.compute(data)]
    record = ResultRecord(
        hash=target.hash,
        target=target.dataset,
        protocol=target.protocol_label,
        videos=len(data.video_ids),
        frames=int(sum(len(s) for s in data.scores)),
        metrics=metric_records(results),
        time=time.time(),
    )
    ctx.store.write(record, cell.id, target.key)
