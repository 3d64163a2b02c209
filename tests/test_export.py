"""ONNX export: every built-in model's scoring module exported, run by onnxruntime, and scoring
a video as torch does within the stated tolerance; the export records its opset and its check;
``vadbench export`` and ``vadbench detect --backend onnxruntime`` end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.corpus_support import build_workspace, error_line, run_cli
from vadbench.harness.plugins import load_plugins
from vadbench.sdk.contracts import Video
from vadbench.sdk.export import DEFAULT_OPSET, TOLERANCE, export_onnx, onnx_window_scores

# Small widths so that five exports stay quick; the graph is what matters, not the size.
MODELS = {
    "framediff": {"image_size": 32},
    "ffp": {"image_size": 32, "widths": [4, 8, 16, 32]},
    "zxvad": {
        "image_size": 32, "unet_widths": [4, 8, 16, 32], "memory_items": 16,
        "discriminator_widths": [4, 8, 8, 8], "classifier_widths": [4, 8, 8, 8],
        "object_input_size": 64,
    },
    "mpn": {"preset": "cpu"},
    "rgan": {"preset": "cpu"},
}  # fmt: skip


def moving_square_video(frames: int = 14, size: int = 40) -> Video:
    """A textured background with a square that moves: scores vary from frame to frame."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    video = np.repeat(background[None], frames, axis=0)
    for index in range(frames):
        video[index, 5:15, 2 + 2 * index : 12 + 2 * index] = 255
    return Video("square", frames, lambda start, stop: video[start:stop].copy())


def create(name: str) -> object:
    registry = load_plugins([], [])
    spec = registry.models.get(name)
    settings = dict(MODELS[name])
    preset = settings.pop("preset", None)
    values = {**(spec.presets[preset] if preset else {}), **settings}
    return spec.create(spec.options.model_validate(values), "cpu")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_built_in_model_scores_the_same_in_onnxruntime(name: str, tmp_path: Path) -> None:
    method = create(name)
    record, check = export_onnx(method, tmp_path, {"cell_hash": "test"}, DEFAULT_OPSET)  # type: ignore[arg-type]
    assert check.passed and record["opset"] == DEFAULT_OPSET
    stored = json.loads((tmp_path / "export.json").read_text())
    assert stored["check"]["passed"] and stored["check"]["tolerance"] == TOLERANCE
    video = moving_square_video()
    expected = method.score(video)  # type: ignore[attr-defined]
    scorer = onnx_window_scores((tmp_path / "model.onnx").read_bytes())
    found = method.score_with(video, scorer)  # type: ignore[attr-defined]
    assert found.shape == expected.shape == (video.num_frames - method.context_frames,)  # type: ignore[attr-defined]
    assert np.ptp(expected) > 0  # a video whose scores vary, so the comparison means something
    assert np.max(np.abs(found - expected)) <= TOLERANCE


def scores_of(folder: Path) -> np.ndarray:
    with (folder / "scores.csv").open() as stream:
        return np.array([float(row["anomaly_score"] or "nan") for row in csv.DictReader(stream)])


def test_export_then_detect_with_onnxruntime_gives_torchs_scores(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    assert run_cli("run", "matrix.yaml", cwd=workspace).returncode == 0
    footage = "data/b/testing/frames/01"
    refused = run_cli("detect", "results/tiny:fd", footage, "--out", "x", "--backend",
                      "onnxruntime", cwd=workspace)  # fmt: skip
    assert refused.returncode == 2 and "make one with vadbench export" in error_line(refused)
    exported = run_cli("export", "results/tiny:fd", "--format", "onnx", cwd=workspace)
    assert exported.returncode == 0, exported.output
    (cell,) = (workspace / "results/tiny/cells").glob("fd__*")
    record = json.loads((cell / "onnx" / "export.json").read_text())
    assert record["opset"] == DEFAULT_OPSET and record["check"]["passed"]
    assert record["cell_hash"] == json.loads((cell / "cell.json").read_text())["hash"]
    for backend in ("torch", "onnxruntime"):
        done = run_cli("detect", "results/tiny:fd", footage, "--out", backend, "--backend",
                       backend, cwd=workspace)  # fmt: skip
        assert done.returncode == 0, done.output
    torch_scores, onnx_scores = (scores_of(workspace / b / "01") for b in ("torch", "onnxruntime"))
    assert np.isnan(torch_scores[0]) and np.isnan(onnx_scores[0])  # the context frame
    assert np.nanmax(np.abs(torch_scores - onnx_scores)) <= TOLERANCE
