"""MPN's frame score: per video, fuse the normalised PSNR with the normalised feature distance.

As the official Test.py and utils.py: each series is min-max normalised over the video, smoothed
by a sampled Gaussian (15 taps, σ = 2, not renormalised to sum 1), and the two are fused as
``α·psnr + (1−α)·(1−distance)``. The result is a normality score (high = normal) in [0, 1]; the
harness min-max normalises it again, which is monotone and leaves every AUC unchanged.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

FeatureScore = Literal["distance", "psnr"]
CONSTANT_SERIES_VALUE = 0.5


def gaussian_template(taps: int, sigma: float) -> np.ndarray:
    """The Gaussian density sampled at integer offsets ``-taps//2 .. taps//2`` (official calc)."""
    offsets = np.arange(taps) - taps // 2
    return np.exp(-(offsets**2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)


def min_max(values: np.ndarray) -> np.ndarray:
    """Scales to [0, 1] over the video; a constant series maps to 0.5 instead of NaN."""
    low, high = float(np.min(values)), float(np.max(values))
    if high - low <= 0:
        return np.full(len(values), CONSTANT_SERIES_VALUE)
    return (values - low) / (high - low)


def smooth(values: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Gaussian smoothing along time as the official ``filter``: the template is applied where
    it fits whole and the first and last smoothed values are repeated over the borders.

    A video shorter than the template (where the official code fails) is edge-padded instead.
    """
    radius = len(template) // 2
    if len(values) == 0:
        return np.asarray(values, dtype=np.float64)
    if len(values) < len(template):
        return np.correlate(np.pad(values, radius, mode="edge"), template, mode="valid")
    inner = np.correlate(values, template, mode="valid")
    return np.concatenate([np.full(radius, inner[0]), inner, np.full(radius, inner[-1])])


def psnr_from_mse(mse: np.ndarray) -> np.ndarray:
    """PSNR for a peak of 1; a zero error caps at 100 dB rather than infinity."""
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-10))


def fuse_scores(
    psnr: np.ndarray,
    feature_distance: np.ndarray,
    alpha: float,
    template: np.ndarray,
    feature_score: FeatureScore = "distance",
) -> np.ndarray:
    """Fused per-frame normality of one video.

    ``feature_score="distance"`` normalises the raw distance (the paper's and models.md's
    reading); ``"psnr"`` normalises PSNR(distance) instead, as the official Test.py does.
    """
    image_normality = smooth(min_max(psnr), template)
    if feature_score == "distance":
        feature_normality = 1.0 - smooth(min_max(feature_distance), template)
    else:
        feature_normality = smooth(min_max(psnr_from_mse(feature_distance)), template)
    return alpha * image_normality + (1.0 - alpha) * feature_normality
