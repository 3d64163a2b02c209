"""matrix.yaml: the schema, its validation, and the plan of cells it expands to.

A cell is one trained model: (model, train source, auxiliary source, seed). Every matrix row that
names the same cell adds its test targets to it, so a checkpoint is trained once and serves every
target. Each cell and each (cell, target) pair carries a content hash of everything that
determines its result, which is how a re-run knows what it can skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from vadbench.api import (
    ConfigError,
    Dataset,
    MetricSpec,
    ModelSpec,
    Options,
    Split,
    TrainingBudget,
    VadbenchError,
)
from vadbench.plugins import Registry, did_you_mean

# Bump when the evaluation protocol or the fit/score flow changes what a stored result means.
PROTOCOL_VERSION = "1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetEntry(_Strict):
    plugin: str
    options: dict[str, Any] = Field(default_factory=dict)


class ModelEntry(_Strict):
    plugin: str
    preset: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)


# Names that become folder names: no separators, no leading dot, so none can lead outside the
# results folder or hide there.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")
SAFE_NAME_RULE = (
    "letters, digits, '_', '-', '+' and '.', starting with a letter or digit, at most 100 "
    "characters (it names a folder)"
)
MAX_SEED = 2**32 - 1  # numpy's limit


def check_safe_name(name: str, where: str) -> None:
    if not SAFE_NAME.fullmatch(name):
        raise ConfigError(f"{where}: {name!r} is not a safe name; use {SAFE_NAME_RULE}")


class MatrixRow(_Strict):
    models: list[str] | None = Field(None, min_length=1)
    train: str
    aux: str | None = None
    test: list[str]
    protocol: Literal["zero-shot", "k-shot"] = "zero-shot"
    shots: int | None = Field(None, ge=1)

    @field_validator("test")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one target dataset")
        return value

    @model_validator(mode="after")
    def _shots_match_protocol(self) -> MatrixRow:
        if self.protocol == "k-shot" and self.shots is None:
            raise ValueError("protocol k-shot needs 'shots' (how many target clips to adapt on)")
        if self.protocol == "zero-shot" and self.shots is not None:
            raise ValueError("'shots' only applies to protocol k-shot")
        return self


class BudgetEntry(_Strict):
    """Exactly one of steps, seconds or gmacs: the training budget every model gets."""

    steps: int | None = Field(None, ge=1, description="optimiser steps per model")
    seconds: float | None = Field(None, gt=0, description="wall-clock training seconds")
    gmacs: float | None = Field(None, gt=0, description="training compute in GMACs")

    @model_validator(mode="after")
    def _exactly_one(self) -> BudgetEntry:
        given = [name for name in ("steps", "seconds", "gmacs") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of steps, seconds or gmacs")
        return self

    def budget(self) -> TrainingBudget:
        kind = next(name for name in ("steps", "seconds", "gmacs") if getattr(self, name))
        return TrainingBudget(kind, float(getattr(self, kind)))  # type: ignore[arg-type]


class StatisticsEntry(_Strict):
    """How leaderboard intervals are computed: bootstrap rounds, confidence level, and the seed
    of the resampling (fixed, so a report is reproducible)."""

    resamples: int = Field(1000, ge=100, le=100_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    seed: int = Field(0, ge=0)


class ReferenceEntry(_Strict):
    """Published numbers to print beside the measured ones: ``values[model][source][target]``,
    where a source is a row's training set, or ``train + aux`` for a row with auxiliary data."""

    source: str = Field(min_length=1, description="where the numbers come from (paper, table)")
    metric: str = "micro_auc"
    values: dict[str, dict[str, dict[str, float]]]

    @field_validator("values")
    @classmethod
    def _in_unit_range(
        cls, value: dict[str, dict[str, dict[str, float]]]
    ) -> dict[str, dict[str, dict[str, float]]]:
        for model, sources in value.items():
            for source, targets in sources.items():
                for target, number in targets.items():
                    if not 0.0 <= number <= 1.0:
                        raise ValueError(
                            f"{model}.{source}.{target}: {number} is not an AUC in [0, 1]"
                        )
        return value


class MatrixFile(_Strict):
    name: str | None = None
    plugins: list[str] = Field(default_factory=list)
    block_plugins: list[str] = Field(default_factory=list)
    device: str = Field("cpu", pattern=r"^(cpu|auto|mps|cuda(:\d+)?)$")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    executor: str = "local"
    executor_options: dict[str, Any] = Field(default_factory=dict)
    threads: int | None = Field(None, ge=1, description="torch CPU threads per process")
    budget: BudgetEntry | None = None
    statistics: StatisticsEntry = Field(default_factory=StatisticsEntry)
    datasets: dict[str, DatasetEntry]
    models: dict[str, ModelEntry]
    matrix: list[MatrixRow] = Field(min_length=1)
    metrics: list[str] | None = Field(None, min_length=1)
    metric_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    reporters: list[str] = Field(default_factory=lambda: ["terminal", "markdown", "csv", "json"])
    reference: ReferenceEntry | None = None

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds_in_range(cls, value: list[int]) -> list[int]:
        for seed in value:
            if not 0 <= seed <= MAX_SEED:
                raise ValueError(f"seed {seed} is out of range; seeds are 0 to {MAX_SEED}")
        repeated = sorted({seed for seed in value if value.count(seed) > 1})
        if repeated:
            raise ValueError(f"seed {repeated[0]} is listed more than once")
        return value

    @field_validator("datasets", "models")
    @classmethod
    def _non_empty_mapping(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("needs at least one entry")
        return value


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
    executor_options: dict[str, Any] = field(default_factory=dict)
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def content_hash(payload: Any) -> str:
    """SHA-256 of canonical JSON: key order and whitespace never change a hash."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _format_location(file: Path, loc: Sequence[Any]) -> str:
    return f"{file.name}: {'.'.join(str(part) for part in loc) or '(top level)'}"


def _fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The field names valid at ``loc`` inside ``model`` (for suggestions), or []."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field_info = current.model_fields.get(str(part))
            if field_info is None:
                return []
            current = field_info.annotation
            continue
        candidates = [a for a in get_args(current) if a is not type(None)]
        if not candidates:
            return []
        current = candidates[-1]  # list[X] -> X, dict[str, X] -> X, X | None -> X
    while not (isinstance(current, type) and issubclass(current, BaseModel)):
        candidates = [a for a in get_args(current) if a is not type(None)]
        if not candidates:
            return []
        current = candidates[-1]
    return list(current.model_fields)


def _validation_message(
    file: Path, error: ValidationError, prefix: Sequence[Any] = (), model: Any = None
) -> str:
    # An unknown field usually explains the missing one beside it (a misspelt key), so it goes
    # first.
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    location = _format_location(file, [*prefix, *first["loc"]])
    message = first["msg"]
    if first["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        known = _fields_at(model, first["loc"][:-1]) if model is not None else []
        message = "unknown field" + did_you_mean(str(first["loc"][-1]), known)
        if known and not did_you_mean(str(first["loc"][-1]), known):
            message += f" (fields: {', '.join(known)})"
    more = len(error.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{location}: {message}{tail}"


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (plain
    YAML keeps the last one silently, so a duplicated block would hide the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *anchor' merges are expanded by the base loader
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base loader refuses it with its own message
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears more than once in one mapping", mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path, what: str) -> Any:
    """A YAML file's content; unreadable text, malformed YAML or a key given twice is a
    ConfigError naming the file (and the line, where YAML knows it)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the {what} ({error})") from error
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path.name}:{where}: malformed YAML: {problem}") from error


ENVIRONMENT_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_environment(value: Any, where: str) -> Any:
    """``${NAME}`` and ``${NAME:-default}`` in every string of a loaded YAML document, replaced
    by the environment's values, so that a shipped matrix names data folders without knowing
    where they are on anyone's machine. An unset variable without a default is an error."""
    if isinstance(value, dict):
        return {k: expand_environment(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [expand_environment(v, f"{where}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name, default)
        if found is None:
            raise ConfigError(
                f"{where}: environment variable {name} is not set (set it, write "
                f"${{{name}:-default}}, or override the field with --set)"
            )
        return found

    return ENVIRONMENT_REFERENCE.sub(substitute, value)


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str], file: Path) -> dict[str, Any]:
    """``--set a.b.c=VALUE`` on the loaded matrix: VALUE is read as YAML (numbers, lists,
    booleans); list items are addressed by index, missing mapping keys are created."""
    for override in overrides:
        dotted, equals, text = override.partition("=")
        parts = [part for part in dotted.split(".") if part]
        if not equals or not parts:
            raise ConfigError(f"--set {override!r}: expected FIELD.PATH=VALUE")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {dotted}: the value is not valid YAML ({error})") from error
        node: Any = raw
        for depth, part in enumerate(parts[:-1]):
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {dotted}: {file.name} has no list item {here}")
                node = node[int(part)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ConfigError(f"--set {dotted}: {here} in {file.name} is not a mapping")
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(f"--set {dotted}: {file.name} has no list item {dotted}")
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"--set {dotted}: {'.'.join(parts[:-1])} is not a mapping")
    return raw


def read_matrix(path: Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], MatrixFile]:
    """Parse and validate a matrix file, raising ConfigError that names the file and field.

    ``overrides`` (``--set FIELD.PATH=VALUE``) apply first, then ``${NAME}`` references to the
    environment are expanded; the raw document returned (and recorded in run.json) holds the
    values the run used."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such matrix file")
    raw = load_yaml(path, "matrix file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: expected a mapping at the top level")
    raw = expand_environment(apply_overrides(raw, overrides, path), path.name)
    try:
        matrix = MatrixFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_validation_message(path, error, model=MatrixFile)) from error
    if matrix.name is not None:
        check_safe_name(matrix.name, f"{path.name}: name")
    for kind in ("datasets", "models"):
        for key in getattr(matrix, kind):
            check_safe_name(key, f"{path.name}: {kind}.{key}")
    return raw, matrix


def validate_options(
    options_class: type[Options], values: Mapping[str, Any], file: Path, where: Sequence[Any]
) -> Options:
    try:
        return options_class.model_validate(dict(values))
    except ValidationError as error:
        raise ConfigError(_validation_message(file, error, where, options_class)) from error


def _resolve_model(name: str, entry: ModelEntry, registry: Registry, file: Path) -> ResolvedModel:
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


def _open_dataset(name: str, entry: DatasetEntry, registry: Registry, file: Path) -> OpenedDataset:
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
    if matrix.reference.metric not in ("micro_auc", "macro_auc"):
        raise ConfigError(
            f"{file.name}: reference.metric: {matrix.reference.metric!r} is not a detection "
            "metric with leaderboard tables (micro_auc, macro_auc)"
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
    if matrix.metrics is None:
        metrics = list(registry.metrics)
    else:
        metrics = [
            registry.metrics.get(name, where=f"{file.name}: metrics.{index}")
            for index, name in enumerate(matrix.metrics)
        ]
    models = {
        name: _resolve_model(name, entry, registry, file) for name, entry in matrix.models.items()
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
        name: _open_dataset(name, matrix.datasets[name], registry, file)
        for name in sorted(used_datasets)
    }
    _check_splits(matrix, datasets, file)
    detection = [m for m in metrics if m.kind == "detection"]
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
                # Both keys are absent when unset, so the hashes of older runs still hold.
                if matrix.budget is not None:
                    fit_payload["budget"] = matrix.budget.model_dump(exclude_none=True)
                if adaptation:
                    fit_payload["adaptation"] = True
                cell_hash = content_hash(fit_payload)
                aux_part = f"+{row.aux}" if row.aux else ""
                cell_id = _safe(f"{model_name}__{row.train}{aux_part}__s{seed}__{cell_hash[:8]}")
                cell = cells.setdefault(
                    cell_id,
                    Cell(cell_id, cell_hash, model, row.train, row.aux, seed, [], adaptation),
                )
                for target in row.test:
                    scores_hash = content_hash(
                        {
                            "cell": cell_hash,
                            "target": datasets[target].fingerprint,
                            "protocol": row.protocol,
                            "shots": row.shots,
                        }
                    )
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
        efficiency_metrics=[m for m in metrics if m.kind == "efficiency"],
        executor_options=executor_options,
        metric_options=metric_options,
    )


def open_matrix_dataset(path: Path, name: str, registry: Registry) -> Dataset:
    """Open one dataset a matrix file defines, for commands that work on data outside a run."""
    _, matrix = read_matrix(path)
    _check_reference(name, matrix.datasets, f"{path.name}: datasets", "dataset")
    return _open_dataset(name, matrix.datasets[name], registry, path).dataset
