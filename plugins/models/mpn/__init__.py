"""``mpn``: the Meta Prototype Network (Lv et al., CVPR 2021), a few-shot cross-domain baseline.

The method is in ``method.py``; this module registers it."""

from __future__ import annotations

from typing import Any

from vadbench.sdk import ModelSpec, hookimpl

from .method import PRESETS, MPNOptions, create


@hookimpl
def vadbench_register_models(register: Any) -> None:
    register(
        ModelSpec(
            name="mpn",
            description="Meta Prototype Network (Lv et al. 2021): prototype-unit frame predictor",
            options=MPNOptions,
            create=create,
            presets=PRESETS,
            supports_adaptation=True,
            version="3",  # 3: prototype unit layout, fused Adam; 2: channels-last weights
        )
    )
