"""ONNX export of a trained frame predictor's scoring module, and scoring with the export.

What is exported is ``FramePredictor.scoring_module()``: input windows and the frames that
follow them in, the raw score of each window out (the PSNR of its prediction, and what else a
model scores by, such as MPN's feature distance), with the number of windows free. Reading
frames, cutting windows and turning raw scores into a video's scores (MPN's fusion, say) stay in
Python, shared by both backends, so the exported file holds exactly the part that runs the
networks. Every export is checked at once: onnxruntime and torch score the same random windows,
and the largest difference is recorded beside the opset in ``export.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vadbench.sdk.contracts import ConfigError
from vadbench.sdk.files import atomic_write_bytes, atomic_write_json, read_stored
from vadbench.sdk.toolkit.predictor import FramePredictor, WindowScorer

EXPORT_FORMAT = 1
EXPORT_FOLDER = "onnx"  # in the cell's folder, unless told otherwise
MODEL_FILE = "model.onnx"
RECORD_FILE = "export.json"
DEFAULT_OPSET = 18
# Raw scores are PSNRs in dB (and feature distances): float32 arithmetic in another order
# differs from torch's by far less than this.
TOLERANCE = 1e-3
CHECK_WINDOWS = 3


@dataclass(frozen=True)
class ExportCheck:
    windows: int
    max_abs_difference: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_abs_difference <= self.tolerance


def random_windows(method: FramePredictor[Any], count: int, seed: int) -> tuple[torch.Tensor, ...]:
    """``count`` input windows and following frames of uniform noise in the model's pixel range."""
    generator = torch.Generator().manual_seed(seed)
    low, high = method.value_range
    shape = method.example_input(count).shape
    size = method.image_size
    inputs = low + (high - low) * torch.rand(shape, generator=generator)
    target = low + (high - low) * torch.rand((count, 3, size, size), generator=generator)
    return inputs, target


def export_onnx(
    method: FramePredictor[Any], folder: Path, description: dict[str, Any], opset: int
) -> tuple[dict[str, Any], ExportCheck]:
    """Write ``folder/model.onnx`` and ``folder/export.json``; the record and its check."""
    module = method.scoring_module().eval().cpu()
    windows = torch.export.Dim("windows", min=1, max=4096)
    with torch.no_grad(), quiet_exporter():
        program = torch.onnx.export(
            module,
            random_windows(method, 2, seed=0),
            dynamo=True,
            opset_version=opset,
            input_names=["inputs", "target"],
            output_names=["scores"],
            dynamic_shapes=({0: windows}, {0: windows}),
            verbose=False,
        )
    if program is None:
        raise ConfigError("torch.onnx.export returned no program")
    data = program.model_proto.SerializeToString()
    atomic_write_bytes(folder / MODEL_FILE, data)
    check = check_export(method, onnx_window_scores(data))
    record = {
        "format": EXPORT_FORMAT,
        "file": MODEL_FILE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "opset": opset,
        "exporter": f"torch.onnx (dynamo) in torch {torch.__version__}",
        "onnxruntime": version("onnxruntime"),
        **description,
        "inputs": {
            "inputs": ["windows", *method.example_input().shape[1:]],
            "target": ["windows", 3, method.image_size, method.image_size],
        },
        "value_range": list(method.value_range),
        "check": {
            "windows": check.windows,
            "max_abs_difference": check.max_abs_difference,
            "tolerance": check.tolerance,
            "passed": check.passed,
        },
    }
    atomic_write_json(folder / RECORD_FILE, record)
    return record, check


@contextmanager
def quiet_exporter() -> Iterator[None]:
    """The exporter prints its stages and warns of operator sets it does not need."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def onnx_window_scores(model: bytes) -> WindowScorer:
    """An exported scoring module, run by onnxruntime on the CPU."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    names = [given.name for given in session.get_inputs()]

    def run(inputs: np.ndarray, target: np.ndarray) -> np.ndarray:
        feeds = dict(
            zip(names, (inputs.astype(np.float32), target.astype(np.float32)), strict=True)
        )
        return np.asarray(session.run(None, feeds)[0])

    return run


def check_export(method: FramePredictor[Any], scorer: WindowScorer) -> ExportCheck:
    """torch against the export on windows it was not traced with (another count, other
    pixels): the largest difference of raw scores."""
    inputs, target = random_windows(method, CHECK_WINDOWS, seed=1)
    with torch.no_grad():
        expected = method.scoring_module().eval().cpu()(inputs, target).double().numpy()
    found = scorer(inputs.numpy(), target.numpy()).astype(np.float64)
    if found.shape != expected.shape:
        raise ConfigError(
            f"the export returns scores of shape {found.shape}, torch {expected.shape}"
        )
    return ExportCheck(CHECK_WINDOWS, float(np.max(np.abs(found - expected))), TOLERANCE)


def load_export(folder: Path, cell_hash: str) -> WindowScorer:
    """The export in ``folder`` of the cell with ``cell_hash``, checked: its record, its file's
    checksum, and that it was made from this cell."""
    try:
        record = json.loads(read_stored(folder / RECORD_FILE))
        data = read_stored(folder / MODEL_FILE)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{folder}: no readable ONNX export ({error}); make one with vadbench export"
        ) from None
    if not isinstance(record, dict) or record.get("sha256") != hashlib.sha256(data).hexdigest():
        raise ConfigError(f"{folder / MODEL_FILE}: does not match its export.json; export again")
    if record.get("cell_hash") != cell_hash:
        raise ConfigError(f"{folder}: exported from another training of this cell; export again")
    if not record.get("check", {}).get("passed"):
        raise ConfigError(f"{folder}: this export failed its check against torch; export again")
    return onnx_window_scores(data)
