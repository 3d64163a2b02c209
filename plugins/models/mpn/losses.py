"""MPN's three training losses, written on the unit's readout so each is checkable by hand."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .model import MPNOutput


def prediction_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every pixel and channel."""
    return F.mse_loss(prediction, target)


def compactness_loss(queries: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
    """Pulls each pixel's feature towards its closest normalised prototype (mean squared error
    over batch, pixels and feature dimensions, as the official ``fea_loss``)."""
    return F.mse_loss(queries, nearest)


def separation_loss(prototypes: torch.Tensor) -> torch.Tensor:
    """Pushes the normalised prototypes of one input apart: the mean over prototype pairs of
    ``max(0, 1 - ||p_i - p_j||²)``, averaged over the batch."""
    count = prototypes.shape[1]
    unit = F.normalize(prototypes, dim=-1)
    squared_distance = (unit.unsqueeze(1) - unit.unsqueeze(2)).pow(2).sum(dim=-1)
    hinge = F.relu(1.0 - squared_distance)
    pairs = torch.triu(torch.ones(count, count, dtype=torch.bool, device=hinge.device), 1)
    return hinge[:, pairs].mean(dim=1).mean()


def feature_distance(queries: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
    """Per-sample compactness: the test-time feature distance of each frame."""
    return (queries - nearest).pow(2).flatten(1).mean(dim=1)


@dataclass(frozen=True)
class LossWeights:
    prediction: float
    compactness: float
    separation: float


def mpn_losses(
    output: MPNOutput, target: torch.Tensor, weights: LossWeights
) -> dict[str, torch.Tensor]:
    """The named terms and their weighted sum under ``"total"``."""
    readout = output.readout
    terms = {
        "prediction": prediction_loss(output.prediction, target),
        "compactness": compactness_loss(readout.queries, readout.nearest),
        "separation": separation_loss(readout.prototypes),
    }
    terms["total"] = (
        weights.prediction * terms["prediction"]
        + weights.compactness * terms["compactness"]
        + weights.separation * terms["separation"]
    )
    return terms
