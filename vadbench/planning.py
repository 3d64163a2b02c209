"""The plan a validated matrix expands to: every name resolved against the plugins, and cells.

A cell is one trained model: (model, train source, auxiliary source, seed). Every matrix row that
names the same cell adds its test targets to it, so a checkpoint is trained once and serves every
target. Each cell and each (cell, target) pair carries a content hash of everything that
determines its result, which is how a re-run knows what it can skip.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vadbench.api import (
    ConfigError,
    Dataset,
    MetricSpec,
    ModelSpec,
    Options,
    Split,
    VadbenchError,
)
from vadbench.config import (
    DatasetEntry,
    MatrixFile,
    ModelEntry,
    check_safe_name,
    read_matrix,
    validate_options,
)
from vadbench.plugins import Registry, did_you_mean
from vadbench.precision import Precision, resolve_precision

# Bump when the evaluation protocol or the fit/score flow changes what a stored result means.
PROTOCOL_VERSION = "1"


@dataclass(frozen=True)
class OpenedDataset:
    name: str
    plugin: str
    dataset: Dataset
    fingerprint: Mapping[str, Any]


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    spec: ModelSpec
    preset: str | None
    options: Options

    def fingerprint(self) -> dict[str, Any]:
        return {
            "plugin": self.spec.name,
            "version": self.spec.version,
            "options": self.options.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class Target:
    """A test target of a cell under one protocol. ``scores_hash`` identifies its raw scores,
    ``hash`` its metrics, so changing the metric list re-evaluates stored scores without scoring
    again. ``key`` names its folder: the dataset, plus ``@<k>shot`` under the k-shot protocol."""

    dataset: str
    protocol: str
    shots: int | None
    scores_hash: str
    hash: str

    @property
    def key(self) -> str:
        return self.dataset if self.shots is None else f"{self.dataset}@{self.shots}shot"

    @property
    def protocol_label(self) -> str:
        return "zero-shot" if self.shots is None else f"{self.shots}-shot"


@dataclass
class Cell:
    """One trained model and the targets it is evaluated on."""

    id: str
    hash: str
    model: ResolvedModel
    train: str
    aux: str | None
    seed: int
    targets: list[Target] = field(default_factory=list)
    adaptation: bool = False


@dataclass
class Plan:
    name: str
    source_file: Path
    raw: dict[str, Any]
    matrix: MatrixFile
    datasets: dict[str, OpenedDataset]
    cells: list[Cell]
    detection_metrics: list[MetricSpec]
    efficiency_metrics: list[MetricSpec]
    headline: str | None = None
    precision: Precision = "fp32"
    score_precision: Precision = "fp32"
    executor_options: dict[str, Any] = field(default_factory=dict)
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def content_hash(payload: Any) -> str:
    """SHA-256 of canonical JSON: key order and whitespace never change a hash."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def resolve_model(name: str, entry: ModelEntry, registry: Registry, file: Path) -> ResolvedModel:
    spec = registry.models.get(entry.plugin, where=f"{file.name}: models.{name}.plugin")
    preset_values: Mapping[str, Any] = {}
    if entry.preset is not None:
        if entry.preset not in spec.presets:
            known = ", ".join(sorted(spec.presets)) or "none"
            raise ConfigError(
                f"{file.name}: models.{name}.preset: model {spec.name!r} has no preset "
                f"{entry.preset!r} (presets: {known})"
            )
        preset_values = spec.presets[entry.preset]
    options = validate_options(
        spec.options, {**preset_values, **entry.overrides}, file, ("models", name, "overrides")
    )
    return ResolvedModel(name, spec, entry.preset, options)


def open_dataset(name: str, entry: DatasetEntry, registry: Registry, file: Path) -> OpenedDataset:
    spec = registry.datasets.get(entry.plugin, where=f"{file.name}: datasets.{name}.plugin")
    options = validate_options(spec.options, entry.options, file, ("datasets", name, "options"))
    try:
        dataset = spec.open(options)
    except ConfigError as error:
        raise ConfigError(f"{file.name}: datasets.{name}: {error}") from error
    fingerprint = {"plugin": spec.name, **dict(dataset.fingerprint())}
    return OpenedDataset(name, spec.name, dataset, fingerprint)


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


def _planned_device(device: str) -> str:
    """The device ``auto`` stands for on this machine."""
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def _check_device(device: str, file: Path) -> None:
    """A device that this machine lacks is a configuration error, not a failure of every cell."""
    import torch

    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            found = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise ConfigError(
                f"{file.name}: device: {device!r} was asked for; this machine has {found}"
            )
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{file.name}: device: 'mps' was asked for; it is not available here")


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


def _check_splits(matrix: MatrixFile, datasets: Mapping[str, OpenedDataset], file: Path) -> None:
    """Ask each dataset, where it can tell cheaply, whether the splits the matrix reads exist,
    so that a missing test folder is a configuration error and not a failure after training."""
    for (name, split), where in needed_splits(matrix, file).items():
        check = getattr(datasets[name].dataset, "check_split", None)
        if check is None:
            continue
        try:
            check(split)
        except VadbenchError as error:
            raise ConfigError(f"{where}: dataset {name!r}, {split} split: {error}") from error


def source_label(train: str, aux: str | None) -> str:
    """How leaderboards name a row's training data."""
    return f"{train} + {aux}" if aux else train


def _check_reference_values(matrix: MatrixFile, file: Path) -> None:
    """Every model, source and target a reference names is one the matrix evaluates."""
    if matrix.reference is None:
        return
    evaluated: dict[tuple[str, str], set[str]] = {}
    for row in matrix.matrix:
        for model in row.models or list(matrix.models):
            evaluated.setdefault((model, source_label(row.train, row.aux)), set()).update(row.test)
    for model, sources in matrix.reference.values.items():
        where = f"{file.name}: reference.values.{model}"
        _check_reference(model, matrix.models, where, "model")
        for source, targets in sources.items():
            known = {s for m, s in evaluated if m == model}
            _check_reference(source, known, f"{where}.{source}", "source for this model")
            for target in targets:
                _check_reference(
                    target, evaluated[(model, source)], f"{where}.{source}.{target}", "target"
                )


def _headline(detection: list[MetricSpec]) -> str | None:
    """The metric leaderboards rank by: the first one whose plugin declares it the headline,
    else the first detection metric the run measures."""
    ranked = [spec.name for spec in detection if spec.headline] or [s.name for s in detection]
    return ranked[0] if ranked else None


def _check_reference_metric(
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


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _check_reference(name: str, known: Collection[str], where: str, kind: str) -> None:
    if name not in known:
        raise ConfigError(f"{where}: unknown {kind} {name!r}{did_you_mean(name, known)}")


def build_plan(path: Path, raw: dict[str, Any], matrix: MatrixFile, registry: Registry) -> Plan:
    """Resolve every name in the matrix against the registry and expand it into cells."""
    file = path
    for index, reporter in enumerate(matrix.reporters):
        registry.reporters.get(reporter, where=f"{file.name}: reporters.{index}")
    executor = registry.executors.get(matrix.executor, where=f"{file.name}: executor")
    executor_options = dict(matrix.executor_options)
    if executor.options is not None:
        executor_options = validate_options(
            executor.options, executor_options, file, ("executor_options",)
        ).model_dump()
    metric_options = check_metric_options(matrix.metric_options, registry, file)
    _check_device(matrix.device, file)
    device = _planned_device(matrix.device)
    precision = resolve_precision(matrix.precision, device)
    score_precision = resolve_precision(matrix.score_precision or matrix.precision, device)
    if matrix.metrics is None:
        metrics = sorted(registry.metrics, key=lambda spec: spec.order)
    else:
        metrics = [
            registry.metrics.get(name, where=f"{file.name}: metrics.{index}")
            for index, name in enumerate(matrix.metrics)
        ]
    models = {
        name: resolve_model(name, entry, registry, file) for name, entry in matrix.models.items()
    }
    used_datasets: set[str] = set()
    for row_index, row in enumerate(matrix.matrix):
        where = f"{file.name}: matrix.{row_index}"
        for model_name in row.models or []:
            _check_reference(model_name, models, f"{where}.models", "model")
        for model_name in row.models or list(models):
            spec = models[model_name].spec
            if row.protocol == "k-shot" and not spec.supports_adaptation:
                raise ConfigError(
                    f"{where}.protocol: model {model_name!r} ({spec.name}) does not support "
                    "k-shot adaptation; list the models that do under this row's 'models'"
                )
        for field_name, names in (("train", [row.train]), ("aux", [row.aux] if row.aux else [])):
            for dataset_name in names:
                _check_reference(dataset_name, matrix.datasets, f"{where}.{field_name}", "dataset")
                used_datasets.add(dataset_name)
        for target in row.test:
            _check_reference(target, matrix.datasets, f"{where}.test", "dataset")
            used_datasets.add(target)
    _check_reference_values(matrix, file)
    datasets = {
        name: open_dataset(name, matrix.datasets[name], registry, file)
        for name in sorted(used_datasets)
    }
    _check_splits(matrix, datasets, file)
    detection = [m for m in metrics if m.kind == "detection"]
    headline = _headline(detection)
    _check_reference_metric(matrix, detection, headline, file)
    cells: dict[str, Cell] = {}
    adapted = {
        (model_name, row.train, row.aux)
        for row in matrix.matrix
        if row.protocol == "k-shot"
        for model_name in row.models or list(models)
    }
    for row in matrix.matrix:
        for model_name in row.models or list(models):
            model = models[model_name]
            adaptation = (model_name, row.train, row.aux) in adapted
            for seed in matrix.seeds:
                fit_payload = {
                    "protocol": PROTOCOL_VERSION,
                    "model": model.fingerprint(),
                    "train": datasets[row.train].fingerprint,
                    "aux": datasets[row.aux].fingerprint if row.aux else None,
                    "seed": seed,
                    "device": matrix.device,
                }
                # These keys are absent when unset, so the hashes of older runs still hold.
                if matrix.budget is not None:
                    fit_payload["budget"] = matrix.budget.model_dump(exclude_none=True)
                if adaptation:
                    fit_payload["adaptation"] = True
                if precision != "fp32":
                    fit_payload["precision"] = precision
                cell_hash = content_hash(fit_payload)
                aux_part = f"+{row.aux}" if row.aux else ""
                cell_id = _safe(f"{model_name}__{row.train}{aux_part}__s{seed}__{cell_hash[:8]}")
                cell = cells.setdefault(
                    cell_id,
                    Cell(cell_id, cell_hash, model, row.train, row.aux, seed, [], adaptation),
                )
                for target in row.test:
                    scores_payload = {
                        "cell": cell_hash,
                        "target": datasets[target].fingerprint,
                        "protocol": row.protocol,
                        "shots": row.shots,
                    }
                    if score_precision != precision:  # else the cell's precision says it
                        scores_payload["score_precision"] = score_precision
                    scores_hash = content_hash(scores_payload)
                    target_hash = content_hash(
                        {"scores": scores_hash, "metrics": [m.name for m in detection]}
                    )
                    entry = Target(target, row.protocol, row.shots, scores_hash, target_hash)
                    if all(t.key != entry.key for t in cell.targets):
                        cell.targets.append(entry)
    if matrix.name is None:
        check_safe_name(path.stem, f"{file.name}: the run is named after the file; set 'name'")
    return Plan(
        name=matrix.name or path.stem,
        source_file=path,
        raw=raw,
        matrix=matrix,
        datasets=datasets,
        cells=list(cells.values()),
        detection_metrics=detection,
        headline=headline,
        precision=precision,
        score_precision=score_precision,
        efficiency_metrics=[m for m in metrics if m.kind == "efficiency"],
        executor_options=executor_options,
        metric_options=metric_options,
    )


def open_matrix_dataset(path: Path, name: str, registry: Registry) -> Dataset:
    """Open one dataset a matrix file defines, for commands that work on data outside a run."""
    _, matrix = read_matrix(path)
    _check_reference(name, matrix.datasets, f"{path.name}: datasets", "dataset")
    return open_dataset(name, matrix.datasets[name], registry, path).dataset
