"""The checkpoint zoo vadbench ships: converged models of the synthetic benchmark's cpu presets,
loaded from a matrix with ``models.<name>.checkpoint: zoo:NAME`` (docs/zoo.md).

Every folder here that holds a ``zoo.json`` is one entry, named after the folder; its
description is the record's. The entries were trained by ``benchmarks/zoo.yaml`` and added with
``vadbench zoo export`` (each record names the exact command and the cell's hash).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vadbench.sdk import ZOO_RECORD, CheckpointSpec, hookimpl

FOLDER = Path(__file__).parent


@hookimpl
def vadbench_register_checkpoints(register: Any) -> None:
    for record in sorted(FOLDER.glob(f"*/{ZOO_RECORD}")):
        description = str(json.loads(record.read_text()).get("description", ""))
        register(CheckpointSpec(record.parent.name, description, record.parent))
