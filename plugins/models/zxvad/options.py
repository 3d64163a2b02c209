"""zxVAD's options. Defaults are the paper's (Sec. 3-4) or, where it is silent, the
best-supported reading documented in docs/zxvad.md; every such choice is a field here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from vadbench.sdk import Options

from .backbones import STAGE_COUNT, ObjectNetwork
from .synthesis import Centering, Mixing

Widths = tuple[int, int, int, int]
PAPER_WIDTHS: Widths = (64, 128, 256, 512)


class ZxVADOptions(Options):
    # Frames and the generator G.
    context_frames: int = Field(4, ge=1, le=16, description="T input frames (stacked on channels)")
    image_size: int = Field(256, ge=32, description="square frame size; a multiple of 8")
    unet_widths: Widths = Field(PAPER_WIDTHS, description="U-Net channels per level")
    use_memory: bool = Field(True, description="MemAE memory at the bottleneck (AE-M / GAN-M)")
    memory_items: int = Field(2000, ge=1, description="K memory items (Q = last U-Net width)")
    memory_shrink_threshold: float = Field(0.0005, ge=0, description="hard-shrinkage λ")
    memory_entropy_weight: float = Field(0.0025, ge=0, description="α_MEM")
    ssim_window: int = Field(11, ge=3, description="Gaussian SSIM window (odd)")

    # The discriminator D (least-squares GAN).
    use_gan: bool = Field(True, description="train against D (GAN, GAN-M) or not (AE, AE-M)")
    discriminator_widths: Widths = Field(PAPER_WIDTHS, description="PatchGAN D channels")
    adversarial_weight: float = Field(0.05, ge=0, description="α_D")

    # The normalcy classifier N and its four losses.
    classifier_widths: Widths = Field(PAPER_WIDTHS, description="PatchGAN N channels")
    classifier_weight: float = Field(
        0.5, ge=0, description="α_N: weight of N's term in G's loss (dropped when N is off)"
    )
    use_ln: bool = Field(True, description="normalcy loss L_N")
    use_lrn: bool = Field(True, description="relative normalcy loss L_RN")
    use_laa: bool = Field(True, description="attention affirmation loss L_AA")
    use_lraa: bool = Field(True, description="relative attention affirmation loss L_RAA")
    weight_ln: float = Field(1.0, ge=0, description="α_n")
    weight_lrn: float = Field(0.01, ge=0, description="α_rn")
    weight_laa: float = Field(1.0, ge=0, description="α_aa")
    weight_lraa: float = Field(1.0, ge=0, description="α_raa")
    attention_map: Literal["hidden", "score"] = Field(
        "hidden", description="N's map that A(·) is computed from: last hidden conv or scores"
    )
    arcface_margin_degrees: float = Field(28.6, ge=0, description="ArcFace margin m")
    arcface_scale: float = Field(64.0, gt=0, description="ArcFace scale s")
    augment_color_jitter: tuple[float, float, float, float] = Field(
        (0.1, 0.1, 0.1, 0.1), description="g(·): brightness, contrast, saturation, hue"
    )
    augment_degrees: float = Field(360.0, ge=0, description="g(·): random affine rotation range")
    augment_perspective: float = Field(0.2, ge=0, le=1, description="g(·): perspective distortion")
    augment_probability: float = Field(1.0, ge=0, le=1, description="g(·): chance of each step")

    # The pseudo-anomaly module O.
    mixing: Mixing = Field("scda", description="scda (paper), mixup, cutmix or patch")
    object_network: ObjectNetwork = Field("resnet50", description="the untrained CNN R")
    object_input_size: int = Field(
        256, ge=64, description="frames are resized to this for R (AlexNet needs 64 or more)"
    )
    object_stage: int = Field(
        STAGE_COUNT, ge=1, le=STAGE_COUNT, description="R's stage feeding SCDA (stride 2^(s+1))"
    )
    object_threshold: float = Field(0.1, ge=0, lt=1, description="SCDA mask threshold ς")
    object_centering: Centering = Field("median", description="how R's input is centred")
    object_pool_size: int = Field(
        0, ge=0, description="0: R runs on each step's frames; n: on n frames drawn once"
    )

    # Optimisation, memory.
    batch_size: int = Field(4, ge=1)
    train_steps: int = Field(80000, ge=1, description="generator updates")
    lr_generator: float = Field(2e-4, gt=0)
    lr_discriminator: float = Field(2e-5, gt=0)
    lr_classifier: float = Field(2e-5, gt=0)
    adam_betas: tuple[float, float] = Field((0.5, 0.999))
    frame_cache_mb: int = Field(
        1024, ge=0, description="training frames are held in memory when they fit in this"
    )

    @field_validator("image_size")
    @classmethod
    def _divisible_by_eight(cls, value: int) -> int:
        if value % 8:
            raise ValueError(f"must be a multiple of 8 (three 2x poolings), got {value}")
        return value

    @field_validator("ssim_window")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"must be odd, got {value}")
        return value

    @property
    def trains_classifier(self) -> bool:
        return self.use_ln or self.use_lrn or self.use_laa or self.use_lraa


PAPER_PRESET: dict[str, object] = {
    "context_frames": 4,
    "image_size": 256,
    "unet_widths": list(PAPER_WIDTHS),
    "memory_items": 2000,
    "discriminator_widths": list(PAPER_WIDTHS),
    "classifier_widths": list(PAPER_WIDTHS),
    "object_network": "resnet50",
    "object_input_size": 256,
    "object_stage": 4,
    "batch_size": 4,
    "train_steps": 80000,
}

CPU_WIDTHS = [16, 32, 64, 128]
CPU_PRESET: dict[str, object] = {
    "context_frames": 4,
    "image_size": 64,
    "unet_widths": CPU_WIDTHS,
    "memory_items": 128,
    "discriminator_widths": CPU_WIDTHS,
    "classifier_widths": CPU_WIDTHS,
    "object_network": "resnet50",
    "object_input_size": 256,
    "object_stage": 1,
    "object_pool_size": 64,
    "batch_size": 8,
    # Chosen on source data only by benchmarks/choose_presets.py (held-out source prediction
    # error plateau): benchmarks/results/presets_cpu.md, docs/budgets.md.
    "train_steps": 800,
}
