"""Devices and seeds: the one place a matrix's device is checked and resolved."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from vadbench.sdk.contracts import ConfigError, VadbenchError


def resolve_device(device: str) -> str:
    """The device ``auto`` stands for on this machine; a CUDA device without CUDA is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VadbenchError(f"device {device!r} was asked for but CUDA is not available")
    return device


def check_device(device: str, file: Path) -> None:
    """A device that this machine lacks is a configuration error, not a failure of every cell."""
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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
