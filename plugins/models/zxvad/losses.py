"""The losses of zxVAD: the backbone loss L_BB (eq. 1), the least-squares GAN terms (eq. 6) and
the four normalcy-classifier losses L_N, L_RN, L_AA, L_RAA (eqs. 2-5).

Expectations over normal frames v̂ and pseudo-abnormal frames ṽ are means over the batch and, for
patch outputs, over patches. Frames are in G's range [-1, 1] unless a function says otherwise.
"""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F
from torch import nn

NORMAL_LABEL = 1
ABNORMAL_LABEL = 0


def to_unit_range(frames: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], the range SSIM, PSNR and the colour jitter expect."""
    return (frames + 1.0) / 2.0


def intensity_loss(prediction: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """L_MSE: mean squared pixel error."""
    return F.mse_loss(prediction, truth)


def structure_loss(prediction: torch.Tensor, truth: torch.Tensor, window: int) -> torch.Tensor:
    """L_SSM = 1 − SSIM, with SSIM (Kornia, Gaussian window) averaged over pixels and channels."""
    similarity = kornia.metrics.ssim(to_unit_range(prediction), to_unit_range(truth), window)
    return 1.0 - similarity.mean()


def gradient_loss(prediction: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """L_GD (Mathieu et al., FFP): mean |(|∇p| − |∇t|)| along x plus the same along y."""
    loss = prediction.new_zeros(())
    for dim in (-1, -2):
        predicted_edges = prediction.diff(dim=dim).abs()
        true_edges = truth.diff(dim=dim).abs()
        loss = loss + (predicted_edges - true_edges).abs().mean()
    return loss


def memory_entropy(weights: torch.Tensor) -> torch.Tensor:
    """L_MEM: Σ −ŵ log ŵ per query (0 log 0 = 0), averaged over queries; low = sparse reads."""
    return -(weights * torch.log(weights.clamp_min(1e-12))).sum(dim=1).mean()


def least_squares(scores: torch.Tensor, target: float) -> torch.Tensor:
    """½ E[(score − target)²] over batch and patches."""
    return 0.5 * ((scores - target) ** 2).mean()


def normalcy_loss(normal: torch.Tensor, abnormal: torch.Tensor) -> torch.Tensor:
    """L_N (eq. 2): N(v̂) towards 1 (normal), N(ṽ) towards 0 (abnormal)."""
    return least_squares(normal, 1.0) + least_squares(abnormal, 0.0)


def relative_normalcy_loss(normal: torch.Tensor, abnormal: torch.Tensor) -> torch.Tensor:
    """L_RN (eq. 3): v̂ must score 1 above the average ṽ, ṽ 1 below the average v̂.

    The inner expectations are batch means taken per patch position, so each patch of a normal
    frame is compared with the same patch of the pseudo-abnormal frames.
    """
    normal_mean = normal.mean(dim=0, keepdim=True)
    abnormal_mean = abnormal.mean(dim=0, keepdim=True)
    return (
        0.5 * ((normal - abnormal_mean - 1.0) ** 2).mean()
        + 0.5 * ((abnormal - normal_mean + 1.0) ** 2).mean()
    )


def scda_attention(features: torch.Tensor) -> torch.Tensor:
    """SCDA attention (B, h, w): the channel sum of a feature map's activations, divided by its
    spatial maximum so that it lies in [0, 1] (an all-zero map stays zero).

    SCDA sums post-ReLU activations; a map that can be negative (N's LeakyReLU output, a linear
    projection closing a MnasNet stage) has its negative responses cut per channel first, which
    leaves a post-ReLU map unchanged.
    """
    summed = F.relu(features).sum(dim=1)
    peak = summed.flatten(1).amax(dim=1).clamp_min(1e-12)
    return summed / peak[:, None, None]


def attention_affirmation_loss(
    normal_attention: torch.Tensor, abnormal_attention: torch.Tensor, abnormal_mask: torch.Tensor
) -> torch.Tensor:
    """L_AA (eq. 4): N attends to the whole normal frame and to the pasted object of ṽ.

    ``abnormal_mask`` is M̃ at frame resolution (B, 1, H, W); it is area-averaged down to the
    attention map's size, so a cell half covered by the object has target 0.5.
    """
    height, width = abnormal_attention.shape[-2:]
    target = F.adaptive_avg_pool2d(abnormal_mask, (height, width))[:, 0]
    return (
        0.5 * ((1.0 - normal_attention) ** 2).mean()
        + 0.5 * ((target - abnormal_attention) ** 2).mean()
    )


class RelativeAttentionLoss(nn.Module):
    """L_RAA (eq. 5): ArcFace over vec(A(x)) for x in {v̂ (1), g(v̂) (1), ṽ (0)}.

    The class centres W are ArcFace's own parameter and train together with N.
    """

    def __init__(self, attention_cells: int, margin_degrees: float, scale: float) -> None:
        # Imported here: it imports scipy.stats, 0.7 s at the start of every vadbench process.
        from pytorch_metric_learning.losses import ArcFaceLoss

        super().__init__()
        self.arcface = ArcFaceLoss(
            num_classes=2, embedding_size=attention_cells, margin=margin_degrees, scale=scale
        )

    @property
    def class_centres(self) -> torch.Tensor:
        """W of shape (embedding size, 2): column c is the centre of class c."""
        return self.arcface.W

    def forward(
        self, normal: torch.Tensor, augmented: torch.Tensor, abnormal: torch.Tensor
    ) -> torch.Tensor:
        embeddings = torch.cat([normal.flatten(1), augmented.flatten(1), abnormal.flatten(1)])
        labels = torch.cat(
            [
                torch.full((len(normal) + len(augmented),), NORMAL_LABEL),
                torch.full((len(abnormal),), ABNORMAL_LABEL),
            ]
        ).to(embeddings.device)
        return self.arcface(embeddings, labels)
