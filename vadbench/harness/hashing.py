"""Content hashes: what makes a stored checkpoint, score or result the one a plan asks for.

A hash covers everything that determines the thing it names, as canonical JSON, so a re-run
skips exactly what has not changed and never trusts what has.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Bump when the evaluation protocol or the fit/score flow changes what a stored result means.
PROTOCOL_VERSION = "1"


def content_hash(payload: Any) -> str:
    """SHA-256 of canonical JSON: key order and whitespace never change a hash."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def as_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """A fingerprint as JSON holds it (paths as text): how the job carries it, how the content
    hashes read it and how a zoo record compares it."""
    return dict(json.loads(json.dumps(dict(value), default=str)))


def cell_hash(
    model: Mapping[str, Any],
    train: Mapping[str, Any],
    aux: Mapping[str, Any] | None,
    seed: int,
    device: str,
    budget: Mapping[str, Any] | None,
    adaptation: bool,
    precision: str,
    held_out: Mapping[str, Any],
    checkpoint: Mapping[str, Any] | None = None,
) -> str:
    """The content hash of a cell: everything that determines its trained model, the share of
    the source held out of its training included, or, for a model loaded from the zoo, the
    checkpoint it loads instead of a budget. Keys that are unset stay out of the payload."""
    payload: dict[str, Any] = {
        "protocol": PROTOCOL_VERSION,
        "model": model,
        "train": train,
        "aux": aux,
        "seed": seed,
        "device": device,
    }
    if budget is not None:
        payload["budget"] = budget
    if adaptation:
        payload["adaptation"] = True
    if precision != "fp32":
        payload["precision"] = precision
    payload["held_out"] = held_out
    if checkpoint is not None:
        payload["checkpoint"] = checkpoint
    return content_hash(payload)
