"""The pseudo-anomaly module O (paper Sec. 3.1): objects found by an untrained CNN R, pasted into
normal frames, plus the mixing strategies of the paper's Fig. 5(c) ablation.

Every strategy returns the pseudo-abnormal frames ṽ and their ground-truth masks M̃ (1 where the
frame was altered), which L_AA uses. Frames are (B, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import ObjectNetwork, build_object_network
from .losses import scda_attention

Mixing = Literal["scda", "mixup", "cutmix", "patch"]
Centering = Literal["median", "imagenet", "none"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ObjectLocator(nn.Module):
    """R plus SCDA: the binary foreground mask of a frame from a random, frozen CNN.

    A = SCDA attention of R's feature map at ``stage`` (channel sum of the activations, divided
    by its spatial max); M = [A > ς], resized (nearest) to the frame. The input is centred
    first (per-channel median by default) so that a flat background is zero and, as the paper
    argues, gets switched off by the ReLUs; uncentred, a flat background drives the channel sum
    as much as the object does.
    """

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(
        self,
        network: ObjectNetwork,
        input_size: int,
        stage: int,
        threshold: float,
        centering: Centering,
    ) -> None:
        super().__init__()
        self.network = build_object_network(network)
        self.input_size = input_size
        self.stage = stage
        self.threshold = threshold
        self.centering = centering
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def _network_input(self, frames: torch.Tensor) -> torch.Tensor:
        images = F.interpolate(
            (frames + 1.0) / 2.0,
            size=(self.input_size, self.input_size),
            mode="bilinear",
            align_corners=False,
        )
        if self.centering == "median":
            return images - images.flatten(2).median(dim=2).values[:, :, None, None]
        if self.centering == "imagenet":
            return (images - self.mean) / self.std
        return images

    @torch.no_grad()
    def attention(self, frames: torch.Tensor) -> torch.Tensor:
        """SCDA attention (B, h, w) in [0, 1] of R's feature map."""
        return scda_attention(self.network(self._network_input(frames), self.stage))

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Foreground masks (B, 1, H, W) of 0/1 floats at the frames' resolution.

        A map with no cell above the threshold (R silent everywhere) selects the whole frame.
        """
        masks = (self.attention(frames) > self.threshold).float()[:, None]
        masks[masks.flatten(1).amax(dim=1) == 0] = 1.0
        return F.interpolate(masks, size=frames.shape[-2:], mode="nearest")


@dataclass(frozen=True)
class Box:
    """A pixel rectangle: rows top..top+height, columns left..left+width."""

    top: int
    left: int
    height: int
    width: int

    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def sample_box(height: int, width: int, rng: np.random.Generator) -> Box:
    """CutMix box: β ~ U(0, 1), sides H·√(1−β) and W·√(1−β), centre uniform, clipped to the
    frame; at least one pixel so that every pseudo-anomaly alters something."""
    ratio = np.sqrt(1.0 - rng.uniform())
    centre_y, centre_x = int(rng.integers(height)), int(rng.integers(width))
    half_h, half_w = int(height * ratio) // 2, int(width * ratio) // 2
    top, bottom = max(centre_y - half_h, 0), min(centre_y + half_h, height)
    left, right = max(centre_x - half_w, 0), min(centre_x + half_w, width)
    return Box(top, left, max(bottom - top, 1), max(right - left, 1))


def nearest_indices(source_length: int, target_length: int, device: torch.device) -> torch.Tensor:
    """Source index of each target position under nearest-neighbour resizing."""
    return torch.arange(target_length, device=device) * source_length // target_length


def bounding_box(mask: torch.Tensor) -> Box:
    """The tightest box around the ones of a non-empty (H, W) mask."""
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    columns = torch.nonzero(mask.any(dim=0)).flatten()
    top, left = int(rows[0]), int(columns[0])
    return Box(top, left, int(rows[-1]) - top + 1, int(columns[-1]) - left + 1)


def paste_object(
    target: torch.Tensor, source: torch.Tensor, source_mask: torch.Tensor, box: Box
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste the object (source ⊙ mask) of ``source`` into ``box`` of ``target``.

    The object's bounding-box crop and its mask are resized to the box with the same
    nearest-neighbour map, and only pixels where the resized mask is 1 are replaced, so every
    pasted pixel is an object pixel. Returns ṽ (3, H, W) and M̃ (1, H, W).
    """
    crop = bounding_box(source_mask > 0.5)
    rows = crop.top + nearest_indices(crop.height, box.height, target.device)
    columns = crop.left + nearest_indices(crop.width, box.width, target.device)
    resized_object = source[:, rows][:, :, columns]
    resized_mask = source_mask[rows][:, columns] > 0.5
    rows_slice, columns_slice = box.slices()
    frame = target.clone()
    region = frame[:, rows_slice, columns_slice]
    frame[:, rows_slice, columns_slice] = torch.where(resized_mask, resized_object, region)
    mask = torch.zeros_like(target[:1])
    mask[0, rows_slice, columns_slice] = resized_mask.float()
    return frame, mask


def paste_box(
    target: torch.Tensor, source: torch.Tensor, source_box: Box, box: Box
) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy ``source_box`` of ``source`` into the same-sized ``box`` of ``target``."""
    frame = target.clone()
    frame[:, box.slices()[0], box.slices()[1]] = source[
        :, source_box.slices()[0], source_box.slices()[1]
    ]
    mask = torch.zeros_like(target[:1])
    mask[0, box.slices()[0], box.slices()[1]] = 1.0
    return frame, mask


@dataclass(frozen=True)
class PseudoAnomalies:
    """Pseudo-abnormal frames ṽ (B, 3, H, W) and their ground-truth masks M̃ (B, 1, H, W)."""

    frames: torch.Tensor
    masks: torch.Tensor


def synthesize(
    mixing: Mixing,
    targets: torch.Tensor,
    sources: torch.Tensor,
    source_masks: torch.Tensor | None,
    rng: np.random.Generator,
) -> PseudoAnomalies:
    """One pseudo-abnormal frame per target, with material from the matching source frame.

    - ``scda``: the R-found object of the source pasted at a CutMix box (the paper's O);
    - ``cutmix``: the source's pixels in the box replace the target's (plain CutMix);
    - ``patch``: a same-sized patch from a random place of the source (Astrid et al.);
    - ``mixup``: ṽ = λ·target + (1−λ)·source with λ ~ U(0, 1); M̃ = 1−λ everywhere.
    """
    height, width = targets.shape[-2:]
    frames, masks = [], []
    for index, (target, source) in enumerate(zip(targets, sources, strict=True)):
        if mixing == "mixup":
            keep = float(rng.uniform())
            frame = keep * target + (1.0 - keep) * source
            mask = torch.full_like(target[:1], 1.0 - keep)
        else:
            box = sample_box(height, width, rng)
            if mixing == "scda":
                if source_masks is None:
                    raise ValueError("scda mixing needs the sources' object masks")
                frame, mask = paste_object(target, source, source_masks[index, 0], box)
            elif mixing == "cutmix":
                frame, mask = paste_box(target, source, box, box)
            else:
                top = int(rng.integers(height - box.height + 1))
                left = int(rng.integers(width - box.width + 1))
                frame, mask = paste_box(target, source, Box(top, left, box.height, box.width), box)
        frames.append(frame)
        masks.append(mask)
    return PseudoAnomalies(torch.stack(frames), torch.stack(masks))
