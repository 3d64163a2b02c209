"""The optimiser, and one optimiser step, the way every model's training loop takes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from vadbench.sdk.clips import raise_if_not_finite


def optimiser_step(
    optimiser: torch.optim.Optimizer,
    loss: torch.Tensor,
    step: int,
    stage: str,
    terms: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Back-propagate ``loss`` and step ``optimiser``, after checking that ``terms`` (the loss's
    named parts; ``loss`` alone when not given) are finite: a diverged loss stops training with
    a message naming it and the step, instead of leaving NaN weights behind."""
    raise_if_not_finite({"loss": loss} if terms is None else terms, step, stage)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()


# Devices with torch's fused Adam kernel, which updates every tensor in one call: on a CPU it
# steps rGAN's 96 small tensors 5× as fast as the default loop over tensors (0.46 ms, not 2.5).
FUSED_ADAM_DEVICES = ("cpu", "cuda")


def adam(
    parameters: Iterable[torch.Tensor],
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Adam:
    """Adam over ``parameters``, fused where torch has the kernel for their device and dtype."""
    tensors = list(parameters)
    fused = bool(tensors) and all(
        t.device.type in FUSED_ADAM_DEVICES and t.dtype.is_floating_point for t in tensors
    )
    return torch.optim.Adam(tensors, lr=lr, betas=betas, fused=fused or None)
