"""``zxvad``: Zero-shot Cross-domain Video Anomaly Detection (Aich, Peng, Roy-Chowdhury).

The method is in ``method.py``; this module registers it."""

from __future__ import annotations

from typing import Any

from vadbench.sdk import ModelSpec, hookimpl

from .gallery import gallery_command
from .method import create
from .options import CPU_PRESET, PAPER_PRESET, ZxVADOptions


@hookimpl
def vadbench_register_models(register: Any) -> None:
    register(
        ModelSpec(
            name="zxvad",
            description="zxVAD: memory U-Net predictor + normalcy classifier trained on "
            "pseudo-anomalies from an untrained CNN (PSNR score)",
            options=ZxVADOptions,
            create=create,
            presets={"paper": PAPER_PRESET, "cpu": CPU_PRESET},
            version="4",  # 4: scored by toolkit.FramePredictor; 3: fused Adam; 2: channels-last
        )
    )


@hookimpl
def vadbench_register_commands(register: Any) -> None:
    register(gallery_command())
