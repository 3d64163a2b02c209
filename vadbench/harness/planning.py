"""The plan a validated matrix expands to: every name resolved against the plugins, and cells.

A cell is one trained model: (model, train source, auxiliary source, seed). Every matrix row that
names the same cell adds its test targets to it, so a checkpoint is trained once and serves every
target. Each cell and each (cell, target) pair carries a content hash of everything that
determines its result, which is how a re-run knows what it can skip.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vadbench.harness.checks import (
    check_metric_options,
    check_reference,
    check_reference_metric,
    check_reference_values,
    check_splits,
    headline_of,
)
from vadbench.harness.config import (
    DatasetEntry,
    MatrixFile,
    ModelEntry,
    check_safe_name,
    validate_options,
)
from vadbench.harness.devices import check_device, resolve_device
from vadbench.harness.hashing import as_json, cell_hash, content_hash
from vadbench.harness.plugins import Registry
from vadbench.sdk.contracts import (
    ConfigError,
    Dataset,
    MetricSpec,
    ModelSpec,
    Options,
)
from vadbench.sdk.precision import Precision, resolve_precision
from vadbench.sdk.protocol import DEFAULT_PROTOCOL, EvaluationProtocol, evaluation_protocol
from vadbench.sdk.zoo import ZooEntry, ZooSeed, read_entry, zoo_name


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
    checkpoint: ZooEntry | None = None

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
    zoo: ZooSeed | None = None

    @property
    def calibration_target(self) -> Target | None:
        """The target whose stored scores calibrate the cell's threshold: its source's own
        test split, zero-shot, where the matrix scores it."""
        return next((t for t in self.targets if t.dataset == self.train and t.shots is None), None)


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
    evaluation: EvaluationProtocol = DEFAULT_PROTOCOL


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
    zoo = None
    if entry.checkpoint is not None:
        zoo = zoo_entry(entry.checkpoint, spec, options, registry, f"{file.name}: models.{name}")
    return ResolvedModel(name, spec, entry.preset, options, zoo)


def zoo_entry(
    reference: str, spec: ModelSpec, options: Options, registry: Registry, where: str
) -> ZooEntry:
    """The zoo entry a model's ``checkpoint: zoo:NAME`` names, checked to hold that model."""
    found = registry.checkpoints.get(zoo_name(reference), where=f"{where}.checkpoint")
    entry = read_entry(found)
    entry.check_model(
        spec.name, spec.version, options.model_dump(mode="json"), f"{where}.checkpoint"
    )
    return entry


def open_dataset(name: str, entry: DatasetEntry, registry: Registry, file: Path) -> OpenedDataset:
    dataset = registry.open_dataset(name, entry, file)
    fingerprint = {"plugin": entry.plugin, **dict(dataset.fingerprint())}
    return OpenedDataset(name, entry.plugin, dataset, fingerprint)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def model_cell_hash(
    model: ResolvedModel,
    train: Mapping[str, Any],
    aux: Mapping[str, Any] | None,
    seed: int,
    device: str,
    budget: Mapping[str, Any] | None,
    adaptation: bool,
    precision: str,
    held_out: Mapping[str, Any],
    where: str,
) -> tuple[str, ZooSeed | None]:
    """The cell's hash and, for a model from the zoo, the seed's checkpoint it loads: that
    checkpoint's identity and held-out share replace the run's budget and share."""
    zoo = None
    if model.checkpoint is not None:
        zoo = model.checkpoint.seed_checkpoint(seed, train, aux, adaptation, where)
        budget, held_out = None, model.checkpoint.held_out
    hashed = cell_hash(
        model.fingerprint(),
        train,
        aux,
        seed,
        device,
        budget,
        adaptation,
        precision,
        held_out,
        zoo.identity() if zoo is not None else None,
    )
    return hashed, zoo


def planned_target(
    cell: str,
    dataset: str,
    fingerprint: Mapping[str, Any],
    protocol: str,
    shots: int | None,
    score_precision: str | None,
    metrics: list[str],
    evaluation: EvaluationProtocol = DEFAULT_PROTOCOL,
    maps: bool = False,
) -> Target:
    """A target of a cell with its hashes: of its raw scores (the cell, the data, the protocol
    and a scoring precision of its own, if any) and of its metrics (and the evaluation
    protocol they are computed under, where it is not FFP's)."""
    scores_payload: dict[str, Any] = {
        "cell": cell,
        "target": fingerprint,
        "protocol": protocol,
        "shots": shots,
    }
    if score_precision is not None:  # else the cell's precision says it
        scores_payload["score_precision"] = score_precision
    if maps:  # stored with anomaly maps, for the localisation metrics
        scores_payload["maps"] = True
    scores_hash = content_hash(scores_payload)
    metrics_payload: dict[str, Any] = {"scores": scores_hash, "metrics": metrics}
    if not evaluation.same_as(DEFAULT_PROTOCOL):
        metrics_payload["evaluation"] = evaluation.settings()
    target_hash = content_hash(metrics_payload)
    return Target(dataset, protocol, shots, scores_hash, target_hash)


def build_plan(
    path: Path,
    raw: dict[str, Any],
    matrix: MatrixFile,
    registry: Registry,
    opened: Mapping[str, OpenedDataset] | None = None,
) -> Plan:
    """Resolve every name in the matrix against the registry and expand it into cells;
    ``opened``: datasets a caller has opened and checked already, not opened again."""
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
    check_device(matrix.device, file)
    device = resolve_device(matrix.device)
    precision = resolve_precision(matrix.precision, device)
    score_precision = resolve_precision(matrix.score_precision or matrix.precision, device)
    if matrix.metrics is None:
        # every metric but those that read anomaly maps: storing and sweeping maps costs far
        # more than frame scores, so a matrix names them to get them
        found = [spec for spec in registry.metrics if not spec.needs_maps]
        metrics = sorted(found, key=lambda spec: spec.order)
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
            check_reference(model_name, models, f"{where}.models", "model")
        for model_name in row.models or list(models):
            spec = models[model_name].spec
            if row.protocol == "k-shot" and not spec.supports_adaptation:
                raise ConfigError(
                    f"{where}.protocol: model {model_name!r} ({spec.name}) does not support "
                    "k-shot adaptation; list the models that do under this row's 'models'"
                )
        for field_name, names in (("train", [row.train]), ("aux", [row.aux] if row.aux else [])):
            for dataset_name in names:
                check_reference(dataset_name, matrix.datasets, f"{where}.{field_name}", "dataset")
                used_datasets.add(dataset_name)
        for target in row.test:
            check_reference(target, matrix.datasets, f"{where}.test", "dataset")
            used_datasets.add(target)
    check_reference_values(matrix, file)
    opened = opened or {}
    datasets = {
        name: opened[name]
        if name in opened
        else open_dataset(name, matrix.datasets[name], registry, file)
        for name in sorted(used_datasets)
    }
    if not opened:
        check_splits(matrix, {name: d.dataset for name, d in datasets.items()}, file)
    detection = [m for m in metrics if m.kind == "detection"]
    headline = headline_of(detection)
    evaluation = evaluation_protocol(matrix.evaluation, f"{file.name}: evaluation")
    if matrix.reference is not None:
        evaluation_protocol(matrix.reference.evaluation, f"{file.name}: reference.evaluation")
    check_reference_metric(matrix, detection, headline, file)
    cells: dict[str, Cell] = {}
    adapted = {
        (model_name, row.train, row.aux)
        for row in matrix.matrix
        if row.protocol == "k-shot"
        for model_name in row.models or list(models)
    }
    for row_index, row in enumerate(matrix.matrix):
        for model_name in row.models or list(models):
            model = models[model_name]
            adaptation = (model_name, row.train, row.aux) in adapted
            for seed in matrix.seeds:
                hashed, zoo = model_cell_hash(
                    model,
                    as_json(datasets[row.train].fingerprint),
                    as_json(datasets[row.aux].fingerprint) if row.aux else None,
                    seed,
                    matrix.device,
                    matrix.budget.model_dump(exclude_none=True) if matrix.budget else None,
                    adaptation,
                    precision,
                    matrix.held_out.model_dump(),
                    f"{file.name}: matrix.{row_index}, model {model_name!r}",
                )
                aux_part = f"+{row.aux}" if row.aux else ""
                cell_id = _safe(f"{model_name}__{row.train}{aux_part}__s{seed}__{hashed[:8]}")
                cell = cells.setdefault(
                    cell_id,
                    Cell(cell_id, hashed, model, row.train, row.aux, seed, [], adaptation, zoo),
                )
                for target in row.test:
                    entry = planned_target(
                        hashed,
                        target,
                        datasets[target].fingerprint,
                        row.protocol,
                        row.shots,
                        score_precision if score_precision != precision else None,
                        [m.name for m in detection],
                        evaluation,
                        any(m.needs_maps for m in detection),
                    )
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
        evaluation=evaluation,
    )
