"""The ``synthetic`` benchmark: procedural surveillance videos from seven camera domains.

The real VAD datasets cannot be fetched everywhere, so vadbench renders its own: domains that
differ the way real cameras do (scene, perspective, crowd, sensor), normal pedestrians with a
gait, nine anomaly types with exact frame labels and pixel masks, and a task-irrelevant action
set. Rendering is vectorised numpy; data is cached once in the FFP/MNAD packaging and read by
the ``frames`` loader. See docs/synthetic.md.
"""

from __future__ import annotations

from collections.abc import Callable

from vadbench.sdk import CommandSpec, DatasetSpec, hookimpl

from .commands import command_specs
from .dataset import dataset_spec


@hookimpl
def vadbench_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(dataset_spec())


@hookimpl
def vadbench_register_commands(register: Callable[[CommandSpec], None]) -> None:
    for spec in command_specs():
        register(spec)
