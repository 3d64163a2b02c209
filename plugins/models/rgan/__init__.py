"""``rgan``: few-shot scene-adaptive rGAN (Lu et al., ECCV 2020), a cross-domain baseline.

The method is in ``method.py``; this module registers it."""

from __future__ import annotations

from typing import Any

from vadbench.sdk import ModelSpec, hookimpl

from .method import PRESETS, RGANOptions, create


@hookimpl
def vadbench_register_models(register: Any) -> None:
    register(
        ModelSpec(
            name="rgan",
            description="rGAN (Lu et al. 2020): U-Net + ConvLSTM GAN predictor, MAML meta-trained",
            options=RGANOptions,
            create=create,
            presets=PRESETS,
            supports_adaptation=True,
            version="2",  # 2: fused Adam (toolkit.adam)
        )
    )
