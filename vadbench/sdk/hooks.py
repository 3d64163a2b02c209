"""The plugin contract: one hook per plugin kind.

Every hook receives a ``register`` callable and calls it once per thing the plugin provides, so a
plugin file can offer several models, datasets or metrics. Built-in plugins use exactly these hooks
and are found through the same ``vadbench`` entry-point group as anyone's.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from vadbench.sdk.contracts import (
    BenchmarkSpec,
    CheckpointSpec,
    CommandSpec,
    DatasetSpec,
    ExecutorSpec,
    MetricSpec,
    ModelSpec,
    ReporterSpec,
)

hookspec = pluggy.HookspecMarker("vadbench")
hookimpl = pluggy.HookimplMarker("vadbench")


@hookspec
def vadbench_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register dataset plugins: each turns validated options into videos of a split."""


@hookspec
def vadbench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register model plugins: each owns its training loop and scores videos frame by frame."""


@hookspec
def vadbench_register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """Register metric plugins: detection metrics from scores, efficiency metrics from modules."""


@hookspec
def vadbench_register_reporters(register: Callable[[ReporterSpec], None]) -> None:
    """Register reporters: each renders the long-form results table as a leaderboard."""


@hookspec
def vadbench_register_executors(register: Callable[[ExecutorSpec], None]) -> None:
    """Register executors: each decides where the tasks of a run execute."""


@hookspec
def vadbench_register_commands(register: Callable[[CommandSpec], None]) -> None:
    """Register CLI subcommands (``vadbench <name>``), e.g. a data exporter or a preview writer."""


@hookspec
def vadbench_register_benchmarks(register: Callable[[BenchmarkSpec], None]) -> None:
    """Register benchmark files a package ships (matrices, profiles), run by name."""


@hookspec
def vadbench_register_checkpoints(register: Callable[[CheckpointSpec], None]) -> None:
    """Register trained checkpoints a package ships (the zoo), loaded with ``zoo:NAME``."""
