"""Numeric precision, one setting for every model (``precision:`` in a matrix).

``fp32`` runs everything in single precision. ``bf16`` runs training and scoring under torch's
autocast in bfloat16: convolutions and matrix products in bf16 (fast where the CPU has AVX-512
BF16 or AMX, and on Ampere or newer GPUs), with the reductions autocast keeps in fp32; weights,
optimiser state and losses stay fp32, and bf16 needs no loss scaling. ``auto`` is bf16 where the
hardware runs it natively, else fp32. The harness applies it around ``fit``, ``adapt`` and
``score``, so a model plugin needs no code for it; it is part of the cell hash.
``score_precision:`` gives scoring (and calibration and difference maps) a precision of its
own, e.g. bf16 training with fp32 scoring: it is then part of the scores' hash, not the cell's,
so a run that changes only it reuses the trained models.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["fp32", "bf16"]
PrecisionSetting = Literal["fp32", "bf16", "auto"]
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_runs_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (AVX-512 BF16 or AMX)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return False
    flags = next(
        (line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), ""
    )
    return any(flag in flags.split() for flag in CPU_BF16_FLAGS)


def resolve_precision(setting: str, device: str) -> Precision:
    """``auto`` becomes bf16 where ``device`` runs it natively, fp32 elsewhere."""
    if setting != "auto":
        return "bf16" if setting == "bf16" else "fp32"
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device == "cpu" and cpu_runs_bf16() else "fp32"


@contextmanager
def autocast_for(device: str, precision: str) -> Iterator[None]:
    """torch's autocast for ``device`` at ``precision``; nothing for fp32."""
    if precision == "fp32":
        yield
        return
    device_type = "cuda" if device.startswith("cuda") else device.partition(":")[0]
    with torch.autocast(device_type, dtype=torch.bfloat16):
        yield
