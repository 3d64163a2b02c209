"""FFP's losses: intensity (L2), gradient, and least-squares GAN terms (no optical-flow loss).

Written as the PyTorch port (feiyuhuahuo/Anomaly_Prediction, losses.py) defines them, which
follows the TensorFlow original: the least-squares terms carry a factor 1/2, and the gradient
loss compares absolute neighbour differences with a zero column/row padded on the right/bottom.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def intensity_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction - target).pow(2).mean()


def _abs_differences(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """|x[i, j+1] − x[i, j]| and |x[i+1, j] − x[i, j]|, a zero standing beyond the last
    column / row."""
    right = F.pad(frames, (0, 1, 0, 0))
    below = F.pad(frames, (0, 0, 0, 1))
    dx = (right[..., :, 1:] - right[..., :, :-1]).abs()
    dy = (below[..., 1:, :] - below[..., :-1, :]).abs()
    return dx, dy


def gradient_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of the mismatch in horizontal plus vertical gradient magnitude."""
    pred_dx, pred_dy = _abs_differences(prediction)
    true_dx, true_dy = _abs_differences(target)
    return ((true_dx - pred_dx).abs() + (true_dy - pred_dy).abs()).mean()


def generator_adversarial_loss(fake_patches: torch.Tensor) -> torch.Tensor:
    """Least squares: the generator wants every patch of its frame judged real (1)."""
    return ((fake_patches - 1).pow(2) / 2).mean()


def discriminator_loss(real_patches: torch.Tensor, fake_patches: torch.Tensor) -> torch.Tensor:
    """Least squares: real patches towards 1, predicted ones towards 0."""
    return ((real_patches - 1).pow(2) / 2).mean() + (fake_patches.pow(2) / 2).mean()


@dataclass(frozen=True)
class LossWeights:
    intensity: float
    gradient: float
    adversarial: float


def generator_losses(
    prediction: torch.Tensor,
    target: torch.Tensor,
    fake_patches: torch.Tensor,
    weights: LossWeights,
) -> dict[str, torch.Tensor]:
    """The named terms and their weighted sum under ``"total"``."""
    terms = {
        "intensity": intensity_loss(prediction, target),
        "gradient": gradient_loss(prediction, target),
        "adversarial": generator_adversarial_loss(fake_patches),
    }
    terms["total"] = (
        weights.intensity * terms["intensity"]
        + weights.gradient * terms["gradient"]
        + weights.adversarial * terms["adversarial"]
    )
    return terms
