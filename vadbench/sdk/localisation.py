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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

THRESHOLDS = np.linspace(1.01, -0.01, 103)
REGION_IOU = 0.1  # beta: the overlap that makes a region a detection
TRACK_SHARE = 0.1  # alpha: the share of a track's regions that makes the track detected
PIXEL_SHARE = 0.4  # the traditional pixel-level criterion's share of anomalous pixels
NO_TRACK = -1  # the track id of a frame without an anomaly


@dataclass(frozen=True)
class LocalisationInput:
    """Per video: anomaly maps (n, h, w) in [0, 1], ground-truth masks (n, h, w) bool at the
    same size, and each frame's anomaly track id (``NO_TRACK`` for a normal frame)."""

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


def localisation_scores(
    data: LocalisationInput, thresholds: np.ndarray = THRESHOLDS
) -> dict[str, float | None]:
    """``pixel_auc``, ``rbdc`` and ``tbdc`` of the maps against the masks (None where the data
    have no anomalous frame, region or track to detect)."""
    counts = threshold_counts(data, thresholds)
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
