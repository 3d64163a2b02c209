"""Localisation criteria: where in the frame the anomaly is, from per-pixel anomaly maps and
pixel ground truth (Ramachandra, Jones and Vatsavai, "A Survey of Single-Scene Video Anomaly
Detection", TPAMI 2020; Ramachandra and Jones, "Street Scene", WACV 2020).

Every criterion sweeps one grid of thresholds over maps scaled to [0, 1] (``THRESHOLDS``, 103
points from 1.01 down to -0.01: the grid the published evaluation code uses) and integrates a
detection rate against a false-positive rate:

- **pixel-level AUC** (the traditional criterion of Mahadevan et al., CVPR 2010): a frame with
  anomalous pixels is a true positive at a threshold when at least 40% of them are above it; a
  frame without any is a false positive when any pixel is. ROC AUC over all thresholds.
- **RBDC** (region-based detection criterion): the connected regions (8-connected) of each
  thresholded map and of each ground-truth mask are matched by intersection over union; a
  ground-truth region is detected when a predicted region overlaps it with IoU ≥ 0.1, a
  predicted region is a false positive when it overlaps none that much. The region detection
  rate against false-positive regions per frame, integrated over 0 to 1 false positives per
  frame.
- **TBDC** (track-based): an anomaly track (its frames' ground-truth regions) is detected when
  at least 10% of its regions are; the track detection rate against the same false positives.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.sdk.files import atomic_write_bytes, open_stored

THRESHOLDS = np.linspace(1.01, -0.01, 103)
REGION_IOU = 0.1  # beta: the overlap that makes a region a detection
TRACK_SHARE = 0.1  # alpha: the share of a track's regions that makes the track detected
PIXEL_SHARE = 0.4  # the traditional pixel-level criterion's share of anomalous pixels
NO_TRACK = -1  # the track id of a frame without an anomaly


@dataclass(frozen=True, eq=False)
class LocalisationInput:
    """Per video: anomaly maps (n, h, w) in [0, 1], ground-truth masks (n, h, w) bool at the
    same size, and each frame's anomaly track id (``NO_TRACK`` for a normal frame). Compared
    by identity, so that the criteria of one target are computed once for all three metrics."""

    maps: tuple[np.ndarray, ...]
    masks: tuple[np.ndarray, ...]
    tracks: tuple[np.ndarray, ...]


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    from scipy.ndimage import label

    labels, count = label(mask, structure=np.ones((3, 3), dtype=bool))
    return labels, int(count)


@dataclass
class ThresholdCounts:
    """What one threshold finds over every frame of every video: regions (ground truth, and
    detected), false regions and frames; tracks; and the pixel criterion's frames."""

    detected_regions: int = 0
    regions: int = 0
    false_regions: int = 0
    frames: int = 0
    detected_tracks: int = 0
    tracks: int = 0
    pixel_hits: int = 0
    anomalous_frames: int = 0
    false_frames: int = 0
    normal_frames: int = 0


def _frame_regions(truth: np.ndarray, count: int, prediction: np.ndarray) -> tuple[np.ndarray, int]:
    """Per ground-truth region (1..count) whether a predicted region overlaps it with
    IoU ≥ ``REGION_IOU``, and how many predicted regions overlap none that much."""
    predicted, found = _components(prediction)
    if found == 0:
        return np.zeros(count, dtype=bool), 0
    pairs = np.bincount(
        (truth * (found + 1) + predicted).ravel(), minlength=(count + 1) * (found + 1)
    ).reshape(count + 1, found + 1)
    truth_area = pairs.sum(axis=1)[1:, None]
    predicted_area = pairs.sum(axis=0)[None, 1:]
    overlap = pairs[1:, 1:]
    union = truth_area + predicted_area - overlap
    iou = np.divide(overlap, union, out=np.zeros(overlap.shape), where=union > 0)
    matched = iou >= REGION_IOU
    return matched.any(axis=1), int((~matched.any(axis=0)).sum())


def threshold_counts(
    data: LocalisationInput, thresholds: np.ndarray = THRESHOLDS
) -> list[ThresholdCounts]:
    counts = [ThresholdCounts() for _ in thresholds]
    for maps, masks, tracks in zip(data.maps, data.masks, data.tracks, strict=True):
        truths = [_components(mask) for mask in masks]
        anomalous = [bool(mask.any()) for mask in masks]
        for counted, threshold in zip(counts, thresholds, strict=True):
            track_hits: dict[int, list[int]] = {}
            for frame, (truth, regions) in enumerate(truths):
                above = maps[frame] >= threshold
                detected, false = _frame_regions(truth, regions, above)
                counted.frames += 1
                counted.regions += regions
                counted.detected_regions += int(detected.sum())
                counted.false_regions += false
                track = int(tracks[frame])
                if track != NO_TRACK:
                    hits = track_hits.setdefault(track, [0, 0])
                    hits[0] += int(detected.sum())
                    hits[1] += regions
                if anomalous[frame]:
                    counted.anomalous_frames += 1
                    share = above[masks[frame]].sum() / masks[frame].sum()
                    counted.pixel_hits += int(share >= PIXEL_SHARE)
                else:
                    counted.normal_frames += 1
                    counted.false_frames += int(above.any())
            counted.tracks += len(track_hits)
            counted.detected_tracks += sum(
                hit >= TRACK_SHARE * size for hit, size in track_hits.values()
            )
    return counts


def _area(rates: Sequence[float], false_rates: Sequence[float], cap: float | None) -> float:
    """The area under (false rate, rate) points, those beyond ``cap`` left out, ordered by
    false rate and, where false rates tie, by threshold. A region count's false positives do
    not fall monotonically with the threshold (regions merge as it falls), so the order of
    ties changes the area; py-ssvad-metrics leaves it to numpy's unstable sort."""
    from sklearn.metrics import auc

    kept = [(f, r) for f, r in zip(false_rates, rates, strict=True) if cap is None or f <= cap]
    points = sorted(kept, key=lambda point: point[0])  # stable: ties stay in threshold order
    if len(points) < 2:
        return 0.0
    return float(auc([f for f, _ in points], [r for _, r in points]))


@functools.lru_cache(maxsize=4)
def localisation_scores(data: LocalisationInput) -> dict[str, float | None]:
    """``pixel_auc``, ``rbdc`` and ``tbdc`` of the maps against the masks (None where the data
    have no anomalous frame, region or track to detect)."""
    counts = threshold_counts(data)
    first = counts[0]
    found: dict[str, float | None] = {"pixel_auc": None, "rbdc": None, "tbdc": None}
    if first.anomalous_frames and first.normal_frames:
        found["pixel_auc"] = _area(
            [c.pixel_hits / c.anomalous_frames for c in counts],
            [c.false_frames / c.normal_frames for c in counts],
            None,
        )
    per_frame = [c.false_regions / c.frames for c in counts]
    if first.regions:
        found["rbdc"] = _area([c.detected_regions / c.regions for c in counts], per_frame, 1.0)
    if first.tracks:
        found["tbdc"] = _area([c.detected_tracks / c.tracks for c in counts], per_frame, 1.0)
    return found


# Stored maps: at most MAP_SIDE pixels a side (area-averaged down), min-max normalised per video
# (as frame scores are under FFP's protocol), one byte a pixel: at most 4 KiB a frame before
# compression, with the masks (a bit a pixel) and track ids beside them.
MAP_SIDE = 64


def _pooled(frames: np.ndarray, side: int) -> np.ndarray:
    """(n, h, w) averaged over blocks down to at most ``side`` a side (torch's adaptive pool)."""
    import torch

    height, width = frames.shape[1:]
    if max(height, width) <= side:
        return frames.astype(np.float32)
    size = (min(height, side), min(width, side))
    tensor = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))[:, None]
    return torch.nn.functional.adaptive_avg_pool2d(tensor, size)[:, 0].numpy()


def compact_maps(maps: np.ndarray) -> np.ndarray:
    """One video's maps as stored: at most ``MAP_SIDE`` a side, in [0, 1] per video, uint8."""
    pooled = _pooled(np.asarray(maps, dtype=np.float32), MAP_SIDE)
    low, high = float(pooled.min(initial=0.0)), float(pooled.max(initial=0.0))
    scaled = (pooled - low) / (high - low) if high > low else np.zeros_like(pooled)
    return np.round(scaled * 255).astype(np.uint8)


def masks_at(masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixel masks (n, H, W) at a map's size: a pixel is anomalous where at least half of the
    pixels it covers are."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.float32))[:, None]
    return torch.nn.functional.adaptive_avg_pool2d(tensor, shape)[:, 0].numpy() >= 0.5


def anomaly_tracks(labels: np.ndarray) -> np.ndarray:
    """Each frame's track id from frame labels: every run of consecutive anomalous frames is one
    track (one anomalous event), normal frames ``NO_TRACK``. For data that annotate no tracks."""
    labels = np.asarray(labels).reshape(-1) > 0
    starts = labels & ~np.concatenate([[False], labels[:-1]])
    ids = np.cumsum(starts) - 1
    return np.where(labels, ids, NO_TRACK).astype(np.int16)


def write_localisation(
    path: Path,
    video_ids: Sequence[str],
    maps: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    tracks: Sequence[np.ndarray],
) -> None:
    """A target's stored maps (uint8, ``compact_maps``), masks at their size and tracks, per
    video, all for frames T..N-1."""
    arrays: dict[str, Any] = {"video_ids": np.array(list(video_ids), dtype=str)}
    for index, (video_maps, video_masks, video_tracks) in enumerate(
        zip(maps, masks, tracks, strict=True)
    ):
        arrays[f"maps_{index}"] = video_maps
        arrays[f"masks_{index}"] = np.packbits(video_masks, axis=-1)
        arrays[f"width_{index}"] = np.array(video_masks.shape[-1])
        arrays[f"tracks_{index}"] = np.asarray(video_tracks, dtype=np.int16)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def read_localisation(path: Path, video_ids: Sequence[str]) -> LocalisationInput | None:
    """The stored maps of a target in the order of ``video_ids``; None where none were stored,
    the file is damaged or it holds other videos."""
    if not path.is_file():
        return None
    try:
        with open_stored(path) as stream, np.load(stream, allow_pickle=False) as stored:
            index = {str(v): i for i, v in enumerate(stored["video_ids"])}
            if set(index) != set(video_ids):
                return None
            maps, masks, tracks = [], [], []
            for video in video_ids:
                i = index[video]
                maps.append(stored[f"maps_{i}"].astype(np.float32) / 255)
                width = int(stored[f"width_{i}"])
                masks.append(np.unpackbits(stored[f"masks_{i}"], axis=-1, count=width).astype(bool))
                tracks.append(stored[f"tracks_{i}"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return LocalisationInput(tuple(maps), tuple(masks), tuple(tracks))
