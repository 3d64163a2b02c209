"""The checks a matrix passes against the plugins while it is planned, before anything runs:
metric settings, the splits every row reads, the published values of a ``reference`` block and
the metric they are of. Each error names the file and the field."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from vadbench.harness.config import MatrixFile, validate_options
from vadbench.harness.plugins import Registry
from vadbench.sdk.contracts import ConfigError, Dataset, MetricSpec, Split, VadbenchError
from vadbench.sdk.validation import did_you_mean


def check_metric_options(
    settings: Mapping[str, Mapping[str, Any]], registry: Registry, file: Path
) -> dict[str, dict[str, Any]]:
    """``metric_options`` checked against the metrics' declared options, defaults filled in."""
    checked: dict[str, dict[str, Any]] = {}
    for name, values in settings.items():
        spec = registry.metrics.get(name, where=f"{file.name}: metric_options.{name}")
        if spec.options is None:
            checked[name] = dict(values)
            continue
        where = ("metric_options", name)
        checked[name] = validate_options(spec.options, values, file, where).model_dump()
    return checked


def needed_splits(matrix: MatrixFile, file: Path) -> dict[tuple[str, Split], str]:
    """Every (dataset, split) the matrix reads, with the first field that asks for it."""
    needed: dict[tuple[str, Split], str] = {}
    for row_index, row in enumerate(matrix.matrix):
        where = f"{file.name}: matrix.{row_index}"
        needed.setdefault((row.train, "train"), f"{where}.train")
        if row.aux:
            needed.setdefault((row.aux, "train"), f"{where}.aux")
        for target in row.test:
            needed.setdefault((target, "test"), f"{where}.test")
            if row.protocol == "k-shot":
                needed.setdefault((target, "train"), f"{where}.test (k-shot support)")
    return needed


def check_splits(matrix: MatrixFile, datasets: Mapping[str, Dataset], file: Path) -> None:
    """Ask each dataset, where it can tell cheaply, whether the splits the matrix reads exist,
    so that a missing test folder is a configuration error and not a failure after training."""
    for (name, split), where in needed_splits(matrix, file).items():
        check = getattr(datasets[name], "check_split", None)
        if check is None:
            continue
        try:
            check(split)
        except VadbenchError as error:
            raise ConfigError(f"{where}: dataset {name!r}, {split} split: {error}") from error


def source_label(train: str, aux: str | None) -> str:
    """How leaderboards name a row's training data."""
    return f"{train} + {aux}" if aux else train


def check_reference_values(matrix: MatrixFile, file: Path) -> None:
    """Every model, source and target a reference names is one the matrix evaluates."""
    if matrix.reference is None:
        return
    evaluated: dict[tuple[str, str], set[str]] = {}
    for row in matrix.matrix:
        for model in row.models or list(matrix.models):
            evaluated.setdefault((model, source_label(row.train, row.aux)), set()).update(row.test)
    for model, sources in matrix.reference.values.items():
        where = f"{file.name}: reference.values.{model}"
        check_reference(model, matrix.models, where, "model")
        for source, targets in sources.items():
            known = {s for m, s in evaluated if m == model}
            check_reference(source, known, f"{where}.{source}", "source for this model")
            for target in targets:
                check_reference(
                    target, evaluated[(model, source)], f"{where}.{source}.{target}", "target"
                )


def headline_of(detection: list[MetricSpec]) -> str | None:
    """The metric leaderboards rank by: the first one whose plugin declares it the headline,
    else the first detection metric the run measures."""
    ranked = [spec.name for spec in detection if spec.headline] or [s.name for s in detection]
    return ranked[0] if ranked else None


def check_reference_metric(
    matrix: MatrixFile, detection: list[MetricSpec], headline: str | None, file: Path
) -> None:
    """Published values are printed beside a detection metric this run measures."""
    if matrix.reference is None:
        return
    metric = matrix.reference.metric or headline
    measured = [spec.name for spec in detection]
    if metric not in measured:
        where = f"{file.name}: reference.metric"
        raise ConfigError(
            f"{where}: {metric!r} is not a detection metric this run measures "
            f"({', '.join(measured) or 'none'}){did_you_mean(str(metric), measured)}"
        )


def check_reference(name: str, known: Collection[str], where: str, kind: str) -> None:
    if name not in known:
        raise ConfigError(f"{where}: unknown {kind} {name!r}{did_you_mean(name, known)}")
