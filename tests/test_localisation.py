"""Localisation criteria (vadbench.sdk.localisation) against an independent implementation,
py-ssvad-metrics (the survey authors' criteria as published on PyPI), on the same maps and
masks, and on cases whose answer is known by hand."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import auc

from tests.conftest import CliRunner
from vadbench.harness.config import read_matrix
from vadbench.harness.planning import build_plan
from vadbench.harness.plugins import load_plugins
from vadbench.sdk.localisation import (
    NO_TRACK,
    LocalisationInput,
    localisation_scores,
    read_localisation,
    threshold_counts,
)

# py-ssvad-metrics 1.0.0 is written for pydantic 1 and numpy < 1.24 (np.bool); it runs in its
# own interpreter with pydantic's bundled v1 API in pydantic's place, so that nothing of this
# process sees either stand-in.
ORACLE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import pydantic.v1
    import scipy.interpolate, scipy.optimize, sklearn.metrics  # before np.bool exists again
    sys.modules["pydantic"] = pydantic.v1
    np.bool = bool
    from ssvad_metrics.criteria import CurrentCriteriaAccumulator, TraditionalCriteriaAccumulator
    from ssvad_metrics.data_schema import data_parser

    videos = json.loads(sys.argv[1])
    current, traditional = CurrentCriteriaAccumulator(), TraditionalCriteriaAccumulator()
    for truth, prediction in videos:
        gts, preds = data_parser(truth, None), data_parser(prediction, None)
        current.update(preds=preds, gts=gts)
        traditional.update(preds=preds, gts=gts)
    found = {**current.summarize(), **traditional.summarize()}
    counts = [
        dict(current._CurrentCriteriaAccumulator__per_thr_calcs_accum[t])
        for t in current.anomaly_score_thresholds
    ]
    names = ("region_roc_auc", "track_roc_auc", "pixel_roc_auc")
    print(json.dumps({"areas": {k: found[k] for k in names}, "counts": counts}))
    """
)


def _square(size: int, top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def _videos(seed: int) -> LocalisationInput:
    """Two videos of 24 frames 32x32: objects that move (one track each, a second object in the
    second video), maps that see them with noise, drift and blobs of their own."""
    rng = np.random.default_rng(seed)
    maps, masks, tracks = [], [], []
    for video in range(2):
        frames = 24
        mask = np.zeros((frames, 32, 32), dtype=bool)
        track = np.full(frames, NO_TRACK)
        for frame in range(6, 18):
            mask[frame] |= _square(32, 4 + frame // 2, 2 + frame, 6)
            if video == 1 and frame < 14:
                mask[frame] |= _square(32, 22, 20, 5)
            track[frame] = video
        noise = rng.random((frames, 32, 32)) * 0.5
        shifted = np.roll(mask, shift=(rng.integers(-2, 3), rng.integers(-2, 3)), axis=(1, 2))
        seen = shifted * rng.uniform(0.3, 1.0, size=(frames, 1, 1))
        blobs = np.zeros_like(noise)
        for frame in rng.choice(frames, 6, replace=False):
            blobs[frame] += _square(32, *rng.integers(0, 26, 2), 4) * rng.uniform(0.4, 0.9)
        heat = np.clip(0.6 * noise + seen + blobs, 0, None)
        maps.append((heat / heat.max()).astype(np.float32))
        masks.append(mask)
        tracks.append(track)
    return LocalisationInput(tuple(maps), tuple(masks), tuple(tracks))


def _annotation(folder: Path, name: str, arrays: np.ndarray, tracks: np.ndarray | None) -> dict:
    frames = []
    for index, array in enumerate(arrays):
        path = folder / f"{name}-{index:03d}.npy"
        np.save(path, array.astype(np.float32))
        frame = {"frame_id": index + 1, "pixel_level_scores_map": str(path)}
        if tracks is not None:
            frame["anomaly_track_id"] = int(tracks[index])
        frames.append(frame)
    return {
        "is_gt": tracks is not None,
        "frames_count": len(arrays),
        "is_anomalous_regions_available": True,
        "is_anomaly_track_id_available": tracks is not None,
        "frame_width": arrays.shape[2],
        "frame_height": arrays.shape[1],
        "frames": frames,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pixel_auc_rbdc_and_tbdc_agree_with_py_ssvad_metrics(tmp_path: Path, seed: int) -> None:
    data = _videos(seed)
    videos = [
        (
            _annotation(tmp_path, f"truth{v}", data.masks[v], data.tracks[v]),
            _annotation(tmp_path, f"map{v}", data.maps[v], None),
        )
        for v in range(len(data.maps))
    ]
    oracle = subprocess.run(
        [sys.executable, "-c", ORACLE, json.dumps(videos)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert oracle.returncode == 0, oracle.stderr
    expected = json.loads(oracle.stdout)
    # every threshold's counts are the oracle's, exactly
    theirs = [
        (c["ntp"], c["tar"], c["nfp"], c["n_fs"], c["nat"], c["ntpt"]) for c in expected["counts"]
    ]
    counts = threshold_counts(data)
    assert [
        (c.detected_regions, c.regions, c.false_regions, c.frames, c.tracks, c.detected_tracks)
        for c in counts
    ] == theirs
    ours = localisation_scores(data)
    areas = expected["areas"]
    assert ours["pixel_auc"] == pytest.approx(areas["pixel_roc_auc"], abs=1e-12)
    # the region curves are integrated in threshold order where false rates tie; the oracle
    # in numpy's unstable argsort order. Integrated in that order, ours are its areas exactly.
    per_frame = [c.false_regions / c.frames for c in counts]
    for name, rates in (
        ("region_roc_auc", [c.detected_regions / c.regions for c in counts]),
        ("track_roc_auc", [c.detected_tracks / c.tracks for c in counts]),
    ):
        kept = [(f, r) for f, r in zip(per_frame, rates, strict=True) if f <= 1]
        order = np.argsort([f for f, _ in kept])
        assert auc([kept[i][0] for i in order], [kept[i][1] for i in order]) == pytest.approx(
            areas[name], abs=1e-12
        )
    assert ours["rbdc"] == pytest.approx(areas["region_roc_auc"], abs=0.05)
    assert ours["tbdc"] == pytest.approx(areas["track_roc_auc"], abs=0.05)
    assert 0.05 < ours["rbdc"] < 1 and 0.05 < ours["tbdc"] <= 1  # neither trivial nor empty


def test_a_perfect_map_detects_every_region_and_track_without_false_positives() -> None:
    mask = np.zeros((4, 16, 16), dtype=bool)
    mask[1, 2:6, 2:6] = mask[1, 10:14, 10:14] = mask[2, 3:7, 3:7] = True
    tracks = np.array([NO_TRACK, 0, 0, NO_TRACK])
    found = localisation_scores(LocalisationInput((mask.astype(np.float32),), (mask,), (tracks,)))
    # at every threshold in (0, 1] each region is found exactly and nothing else is: rate 1 at
    # 0 false positives per frame. The grid's last threshold, -0.01, puts every pixel above it:
    # each frame is one region that matches no ground truth (IoU at most 32/256), so rate 0 at
    # 1 false positive per frame. The area from (0, 1) to (1, 0) is 1/2, as the published
    # grid gives it; the pixel criterion's frames reach the ROC corner and give 1.
    assert found == {"pixel_auc": 1.0, "rbdc": 0.5, "tbdc": 0.5}


def test_a_map_that_points_elsewhere_detects_nothing() -> None:
    mask = np.zeros((3, 16, 16), dtype=bool)
    mask[1, 2:6, 2:6] = True
    elsewhere = np.zeros((3, 16, 16), dtype=np.float32)
    elsewhere[1, 10:14, 10:14] = 1.0
    found = localisation_scores(
        LocalisationInput((elsewhere,), (mask,), (np.array([NO_TRACK, 0, NO_TRACK]),))
    )
    assert found["rbdc"] == 0.0 and found["tbdc"] == 0.0
    assert localisation_scores(
        LocalisationInput((elsewhere,), (np.zeros_like(mask),), (np.full(3, NO_TRACK),))
    ) == {"pixel_auc": None, "rbdc": None, "tbdc": None}


LOCALISING = """
name: loc
datasets:
  a: {plugin: frames, options: {root: data/a}}
  b: {plugin: frames, options: {root: data/b}}
models:
  fd: {plugin: framediff, overrides: {image_size: 16}}
metrics: [micro_auc, pixel_auc, rbdc, tbdc]
reporters: [markdown, json]
matrix:
  - train: a
    test: [a, b]
"""


def test_a_run_stores_bounded_maps_and_reports_localisation_where_masks_exist(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    masks = workspace / "data" / "a" / "testing" / "test_pixel_mask"
    masks.mkdir(parents=True)
    for video in sorted((workspace / "data" / "a" / "testing" / "frames").iterdir()):
        labels = np.load(
            workspace / "data" / "a" / "testing" / "test_frame_mask" / f"{video.name}.npy"
        )
        pixels = np.zeros((len(labels), 16, 16), dtype=np.uint8)
        pixels[labels > 0, 4:10, 4:10] = 1
        np.save(masks / f"{video.name}.npy", pixels)
    (workspace / "loc.yaml").write_text(LOCALISING)
    result = vadbench_cli("run", "loc.yaml", "--results-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    run = workspace / "out" / "loc"
    rows = json.loads((run / "results.json").read_text())["rows"]
    names = ("pixel_auc", "rbdc", "tbdc")
    found = {(r["target"], r["metric"]): r for r in rows if r["metric"] in names}
    (cell,) = (run / "cells").glob("fd__*")
    stored = read_localisation(cell / "targets" / "a" / "localisation.npz", ["01", "02"])
    assert stored is not None
    recomputed = localisation_scores(stored)
    for name in names:
        assert found[("a", name)]["value"] == pytest.approx(recomputed[name])
        assert found[("b", name)]["value"] is None
        assert found[("b", name)]["note"].startswith("no anomaly maps")
    frames = sum(len(m) for m in stored.maps)
    assert all(m.shape[1:] == (16, 16) for m in stored.maps)
    assert (cell / "targets" / "a" / "localisation.npz").stat().st_size < frames * 16 * 16 + 4096
    assert not (cell / "targets" / "b" / "localisation.npz").exists()


def test_localisation_metrics_run_only_where_a_matrix_names_them(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    raw, matrix = read_matrix(workspace / "matrix.yaml", ["metrics=null"])
    plan = build_plan(workspace / "matrix.yaml", raw, matrix, load_plugins())
    names = {metric.name for metric in plan.detection_metrics}
    assert "micro_auc" in names and not names & {"pixel_auc", "rbdc", "tbdc"}
