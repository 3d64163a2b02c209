"""matrix.yaml: its schema, the YAML it is read from (duplicate keys refused, ``${ENV}``
references, ``--set`` overrides) and validation errors that name the file and field.

Turning a validated matrix into cells is ``vadbench.harness.planning``'s work.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from vadbench.sdk.contracts import (
    ConfigError,
    Options,
    TrainingBudget,
)
from vadbench.sdk.learning import EVALUATE_EVERY, HOLD_OUT_SHARE
from vadbench.sdk.validation import load_yaml, parse_yaml, validation_message

# A converged budget's defaults: three evaluations (150 steps at the default interval) without a
# 1 % gain end a loop, and no loop runs past 5,000 steps.
CONVERGENCE_PATIENCE = 3
CONVERGENCE_MIN_DELTA = 0.01
CONVERGENCE_MAX_STEPS = 5000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetEntry(_Strict):
    plugin: str
    options: dict[str, Any] = Field(default_factory=dict)


class ModelEntry(_Strict):
    plugin: str
    preset: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    checkpoint: str | None = Field(
        None,
        description="zoo:NAME: load this shipped checkpoint (vadbench list checkpoints) instead "
        "of training the model in the run",
    )

    @field_validator("checkpoint")
    @classmethod
    def _zoo_reference(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"zoo:\S+", value):
            raise ValueError(
                f"expected zoo:NAME, a checkpoint vadbench ships or a plugin registers (vadbench "
                f"zoo lists them), not {value!r}"
            )
        return value


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
    """Exactly one of steps, seconds, gmacs or ``until: converged``: the training budget every
    model gets. A converged budget ends each training loop on the held-out source curve
    (``held_out``): once the loss has improved by less than ``min_delta`` (relative to its best)
    over ``patience`` evaluations, or at ``max_steps``. It never reads a target."""

    steps: int | None = Field(None, ge=1, le=10**9, description="optimiser steps per model")
    seconds: float | None = Field(
        None, gt=0, le=30 * 24 * 3600, description="wall-clock training seconds (at most 30 days)"
    )
    gmacs: float | None = Field(
        None, gt=0, le=1e15, description="training compute in GMACs (at most 1e15)"
    )
    until: Literal["converged"] | None = Field(
        None, description="converged: stop on the held-out source curve"
    )
    patience: int | None = Field(None, ge=1, description="converged: evaluations without gain")
    min_delta: float | None = Field(
        None, ge=0, lt=1, description="converged: the relative gain that counts"
    )
    max_steps: int | None = Field(None, ge=1, le=10**9, description="converged: the most steps")

    @model_validator(mode="after")
    def _exactly_one(self) -> BudgetEntry:
        given = [
            name
            for name in ("steps", "seconds", "gmacs", "until")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of steps, seconds, gmacs or until: converged")
        rule = [n for n in ("patience", "min_delta", "max_steps") if getattr(self, n) is not None]
        if self.until is None and rule:
            raise ValueError(f"{rule[0]} applies only to 'until: converged'")
        if self.until is not None:
            self.patience = CONVERGENCE_PATIENCE if self.patience is None else self.patience
            self.min_delta = CONVERGENCE_MIN_DELTA if self.min_delta is None else self.min_delta
            self.max_steps = CONVERGENCE_MAX_STEPS if self.max_steps is None else self.max_steps
        return self

    def budget(self) -> TrainingBudget:
        if self.until is not None:
            return TrainingBudget(
                "converged", float(self.max_steps or 0), self.patience or 0, self.min_delta or 0.0
            )
        kind = next(name for name in ("steps", "seconds", "gmacs") if getattr(self, name))
        return TrainingBudget(kind, float(getattr(self, kind)))  # type: ignore[arg-type]


class HeldOutEntry(_Strict):
    """The share of the source's normal training videos every trained cell holds out (chosen
    from the cell's seed) and how often, in training steps, its held-out loss is measured: the
    curve that shows the model learned (skill) and that a converged budget stops on."""

    share: float = Field(HOLD_OUT_SHARE, ge=0, lt=1, description="0: hold nothing out")
    every: int = Field(EVALUATE_EVERY, ge=1, description="training steps between evaluations")


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
    metric: str | None = Field(
        None, description="the detection metric the values are of; the run's headline if unset"
    )
    evaluation: str | dict[str, Any] | None = Field(
        None,
        description="the evaluation protocol the published numbers were measured under (a "
        "named protocol or its settings); unset: not stated by the source",
    )
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
    precision: Literal["fp32", "bf16", "auto"] = Field(
        "fp32",
        description="fp32, bf16 (autocast around training and scoring), or auto: bf16 where "
        "the device runs it natively (vadbench.sdk.precision)",
    )
    score_precision: Literal["fp32", "bf16", "auto"] | None = Field(
        None,
        description="the precision of scoring (and of calibration and difference maps) where it "
        "differs from precision, e.g. bf16 training with fp32 scoring; unset: precision's",
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    executor: str = "local"
    executor_options: dict[str, Any] = Field(default_factory=dict)
    threads: int | None = Field(
        None, ge=1, le=1024, description="torch CPU threads per process (at most 1024)"
    )
    budget: BudgetEntry | None = None
    held_out: HeldOutEntry = Field(default_factory=HeldOutEntry)
    snapshots: list[int] = Field(
        default_factory=list,
        description="training steps (multiples of held_out.every) at which the model is also "
        "saved, for scoring along the way (checkpoint/snapshots/step-N)",
    )
    statistics: StatisticsEntry = Field(default_factory=StatisticsEntry)
    evaluation: str | dict[str, Any] | None = Field(
        None,
        description="the evaluation protocol: a named one (ffp, ffp-gauss3, global, ...) or "
        "its settings (normalisation, smoothing, sigma, window, context); unset: ffp",
    )
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

    @model_validator(mode="after")
    def _snapshots_at_evaluations(self) -> MatrixFile:
        for step in self.snapshots:
            if step < 1 or step % self.held_out.every:
                raise ValueError(
                    f"snapshot step {step} is not a positive multiple of held_out.every "
                    f"({self.held_out.every}): snapshots are taken when the curve is measured"
                )
        return self

    @model_validator(mode="after")
    def _converging_needs_held_out_videos(self) -> MatrixFile:
        if self.budget is not None and self.budget.until and self.held_out.share == 0:
            raise ValueError(
                "budget 'until: converged' stops on held-out source videos: held_out.share "
                "must be above 0"
            )
        return self

    @field_validator("datasets", "models")
    @classmethod
    def _non_empty_mapping(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("needs at least one entry")
        return value


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
        value = parse_yaml(text, f"--set {dotted}") if text else ""
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
        raise ConfigError(validation_message(path, error, model=MatrixFile)) from error
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
        raise ConfigError(validation_message(file, error, where, options_class)) from error
