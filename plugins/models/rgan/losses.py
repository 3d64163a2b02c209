"""rGAN's losses: (1 − MS-SSIM)/2 + L1 + adversarial BCE with smoothed labels 0.9 / 0.1.

MS-SSIM comes from kornia's ``MS_SSIMLoss`` with its L1 blend switched off (alpha 1) and no
compensation factor, so the module returns exactly ``1 − MS-SSIM``. kornia's scales are Gaussian
widths at full resolution rather than the official dyadic pyramid; the coarsest sigma sets a
``4σ+1``-tap window, so small frames use fewer, smaller sigmas (a preset option).
"""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F
from torch import nn

REAL_LABEL = 0.9
FAKE_LABEL = 0.1


class StructureLoss(nn.Module):
    """``(1 − MS-SSIM(prediction, target)) / 2`` for pixels in [0, 1]."""

    def __init__(self, sigmas: tuple[float, ...]) -> None:
        super().__init__()
        self.one_minus_msssim = kornia.losses.MS_SSIMLoss(
            sigmas=sigmas, data_range=1.0, alpha=1.0, compensation=1.0
        )

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.one_minus_msssim(prediction, target) / 2


def adversarial_bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    """Binary cross-entropy of sigmoid(logits), the discriminator's belief that a frame is
    real, against a constant label."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def generator_losses(
    prediction: torch.Tensor,
    target: torch.Tensor,
    fake_logits: torch.Tensor,
    structure: StructureLoss,
) -> dict[str, torch.Tensor]:
    """The generator's terms, summed with weight 1 each under ``"total"`` (official train.py)."""
    terms = {
        "msssim": structure(prediction, target),
        "l1": F.l1_loss(prediction, target),
        "adversarial": adversarial_bce(fake_logits, REAL_LABEL),
    }
    terms["total"] = terms["msssim"] + terms["l1"] + terms["adversarial"]
    return terms


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Mean of the real (label 0.9) and fake (label 0.1) cross-entropies."""
    real = adversarial_bce(real_logits, REAL_LABEL)
    fake = adversarial_bce(fake_logits, FAKE_LABEL)
    return (real + fake) / 2
