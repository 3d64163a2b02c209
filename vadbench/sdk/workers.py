"""What an executor plugin needs to start vadbench processes elsewhere: the names the harness
reads from the environment (plugin switches, the run lock's token) and the first progress record
of a cell whose process is starting."""

from __future__ import annotations

import time
from pathlib import Path

from vadbench.sdk.files import atomic_write_json

ENTRY_POINT_GROUP = "vadbench"
DISABLE_AUTOLOAD_ENV = "VADBENCH_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "VADBENCH_BLOCK_PLUGINS"
# Exported by a run that holds its folder's lock, so that the worker processes it starts
# recognise the lock as their parent's.
LOCK_TOKEN_ENVIRONMENT = "VADBENCH_RUN_LOCK_TOKEN"


def mark_launched(path: Path, host: str) -> None:
    """The first record of a cell whose process an executor is starting on ``host``: the driver
    shows the cell from now on, not only once the process has imported torch."""
    now = time.time()
    record = {"stage": f"starting on {host}", "done": 0, "total": None}
    atomic_write_json(path, {**record, "started": now, "updated": now})
