"""What an executor plugin needs to start vadbench processes elsewhere: the names the harness
reads from the environment (plugin switches, the run lock's token) and the first progress record
of a cell whose process is starting."""

from __future__ import annotations

import os
import time
from pathlib import Path

from vadbench.sdk.files import atomic_write_json

ENTRY_POINT_GROUP = "vadbench"
DISABLE_AUTOLOAD_ENV = "VADBENCH_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "VADBENCH_BLOCK_PLUGINS"
# Exported by a run that holds its folder's lock, so that the worker processes it starts
# recognise the lock as their parent's.
LOCK_TOKEN_ENVIRONMENT = "VADBENCH_RUN_LOCK_TOKEN"
# Set by an executor that runs cells side by side on one machine: the torch threads each cell
# takes when the matrix sets no ``threads`` (the cores shared out, so that they are not
# oversubscribed).
THREADS_ENVIRONMENT = "VADBENCH_THREADS_PER_CELL"


def threads_per_cell(side_by_side: int) -> int:
    """The cores this process may use shared out between ``side_by_side`` cells, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, side_by_side))


def mark_launched(path: Path, host: str) -> None:
    """The first record of a cell whose process an executor is starting on ``host``: the driver
    shows the cell from now on, not only once the process has imported torch."""
    now = time.time()
    record = {"stage": f"starting on {host}", "done": 0, "total": None}
    atomic_write_json(path, {**record, "started": now, "updated": now})
