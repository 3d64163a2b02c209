"""``ffp``: Future Frame Prediction (Liu et al., CVPR 2018), the classic prediction baseline.

The method is in ``method.py``; this module registers it."""

from __future__ import annotations

from typing import Any

from vadbench.sdk import ModelSpec, hookimpl

from .method import PRESETS, FFPOptions, create


@hookimpl
def vadbench_register_models(register: Any) -> None:
    register(
        ModelSpec(
            name="ffp",
            description="Future Frame Prediction (Liu et al. 2018): U-Net + LS-GAN, no flow loss",
            options=FFPOptions,
            create=create,
            presets=PRESETS,
            version="3",  # 3: fused Adam (toolkit.adam); 2: channels-last weights
        )
    )
