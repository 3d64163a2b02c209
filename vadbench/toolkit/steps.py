"""One optimiser step, the way every model's training loop takes it."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from vadbench.clips import raise_if_not_finite


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
