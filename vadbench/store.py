"""Where runs write, and how: every file lands atomically, so a run killed at any point (SIGKILL
included) leaves either the old file or the new one, never half of one.

Layout of ``results/<run>/``::

    run.json                         config, plan hashes, versions, environment, invocations
    cells/<cell>/cell.json           what the cell is (model, preset, data, seed, hash)
    cells/<cell>/checkpoint/         the trained model; ``fit.json`` inside marks it complete
    cells/<cell>/efficiency.json     efficiency metrics of the inference module
    cells/<cell>/failure.json        present while the cell's last attempt failed
    cells/<cell>/targets/<t>/scores.npz   raw per-frame scores and labels, per video
    cells/<cell>/targets/<t>/result.json  detection metrics; written last, marks the target done
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.api import MetricResult


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, default=str) + "\n").encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_scores(
    path: Path,
    video_ids: Sequence[str],
    scores: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    context_frames: int,
    score_kind: str,
    content_hash: str,
) -> None:
    """Store raw scores with full-length labels so any AUC can be recomputed later."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {
        "hash": np.array(content_hash),
        "video_ids": np.array(video_ids, dtype=str),
        "context_frames": np.array(context_frames),
        "score_kind": np.array(score_kind),
    }
    for index, (video_scores, video_labels) in enumerate(zip(scores, labels, strict=True)):
        arrays[f"scores_{index}"] = np.asarray(video_scores, dtype=np.float64)
        arrays[f"labels_{index}"] = np.asarray(video_labels, dtype=np.int8)
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def read_scores(path: Path) -> dict[str, Any]:
    """Inverse of write_scores: hash, video_ids, scores, labels, context_frames, score_kind."""
    with np.load(path, allow_pickle=False) as data:
        video_ids = [str(v) for v in data["video_ids"]]
        return {
            "hash": str(data["hash"]),
            "video_ids": video_ids,
            "scores": [data[f"scores_{i}"] for i in range(len(video_ids))],
            "labels": [data[f"labels_{i}"] for i in range(len(video_ids))],
            "context_frames": int(data["context_frames"]),
            "score_kind": str(data["score_kind"]),
        }


def metrics_to_json(results: Sequence[MetricResult]) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "value": r.value,
            "unit": r.unit,
            "higher_is_better": r.higher_is_better,
            "note": r.note,
        }
        for r in results
    ]


def metrics_from_json(items: Sequence[Mapping[str, Any]]) -> list[MetricResult]:
    return [MetricResult(**item) for item in items]


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class RunStore:
    """Paths and completion markers of one run folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    def cell_dir(self, cell_id: str) -> Path:
        return self.root / "cells" / cell_id

    def checkpoint_dir(self, cell_id: str) -> Path:
        return self.cell_dir(cell_id) / "checkpoint"

    def target_dir(self, cell_id: str, target: str) -> Path:
        return self.cell_dir(cell_id) / "targets" / target

    def finished_checkpoint(self, cell_id: str, cell_hash: str) -> bool:
        marker = self.checkpoint_dir(cell_id) / "fit.json"
        return marker.is_file() and read_json(marker).get("hash") == cell_hash

    def finished_target(self, cell_id: str, target: str, target_hash: str) -> bool:
        marker = self.target_dir(cell_id, target) / "result.json"
        return marker.is_file() and read_json(marker).get("hash") == target_hash

    def finished_efficiency(self, cell_id: str, cell_hash: str, metric_names: list[str]) -> bool:
        path = self.cell_dir(cell_id) / "efficiency.json"
        if not path.is_file():
            return False
        stored = read_json(path)
        return stored.get("hash") == cell_hash and stored.get("requested") == metric_names
