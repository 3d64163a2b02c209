"""The ``local`` executor: runs every task in this process, one after another."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vadbench.sdk import ExecutorSpec, NoOptions, Task, hookimpl


def execute_in_order(tasks: Sequence[Task], options: Mapping[str, Any]) -> None:
    for task in tasks:
        task.run()


@hookimpl
def vadbench_register_executors(register: Any) -> None:
    register(
        ExecutorSpec(
            name="local",
            description="run cells one after another in this process",
            execute=execute_in_order,
            options=NoOptions,
        )
    )
