"""Checkpoints as every built-in model writes them: tensors in a ``torch.save`` file that loads
with ``weights_only=True``, and the model's options as JSON beside it, so a checkpoint is never
loaded into a model built with other options."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vadbench.sdk.contracts import ConfigError, Options
from vadbench.sdk.files import open_stored, read_stored

OPTIONS_FILE = "options.json"


class CheckpointMismatch(ConfigError, ValueError):
    """A checkpoint written with other options than the ones requested."""


def save_checkpoint(
    folder: Path, options: Options, tensors: Mapping[str, Any], weights_file: str
) -> None:
    torch.save(dict(tensors), folder / weights_file)
    (folder / OPTIONS_FILE).write_text(options.model_dump_json(indent=2))


def load_checkpoint(
    folder: Path, options: Options, weights_file: str, device: str | torch.device
) -> dict[str, Any]:
    """The stored tensors, after checking the stored options equal ``options``."""
    stored = type(options).model_validate(json.loads(read_stored(folder / OPTIONS_FILE)))
    if stored != options:
        changed = sorted(
            name
            for name in type(options).model_fields
            if getattr(stored, name) != getattr(options, name)
        )
        raise CheckpointMismatch(
            f"{folder}: checkpoint options differ from the requested ones ({', '.join(changed)})"
        )
    with open_stored(folder / weights_file) as stream:
        state: dict[str, Any] = torch.load(stream, map_location=device, weights_only=True)
    return state
