"""MPN's three optimisation loops: plain training, meta-training, and k-shot adaptation.

Plain training updates every weight with Adam on the three losses (official Train.py).
Meta-training (official Train_meta.py, off by default) is Meta-SGD on the prototype unit and the
output head only: each task is clips of one source video, split into a support half and a query
half; one inner SGD step with learned per-parameter step sizes on the support half, and the
query-half loss after that step updates both the weights and the step sizes.
k-shot adaptation (official test_init) repeats that inner step on the target's support clips.

The two training loops run the step indices they are given: a ``TrainingClock``
(the matrix's budget, shared between the phases as ``MPN.fit`` says, or the preset's step counts)
or any iterable of ints. k-shot adaptation is not part of a budget. ``train_step_gmacs`` and
``meta_step_gmacs`` state what one step of each loop costs (docs/budgets.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from vadbench.sdk import (
    ClipSampler,
    adam,
    forward_gmacs,
    optimiser_step,
    raise_if_not_finite,
    split_clips,
)

from .losses import LossWeights, mpn_losses
from .model import MetaPrototypeNetwork

Advance = Callable[[int], None]


def clip_losses(
    network: MetaPrototypeNetwork,
    clips: torch.Tensor,
    weights: LossWeights,
    fast_weights: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    inputs, target = split_clips(clips)
    return mpn_losses(network.run(inputs, fast_weights), target, weights)


def train(
    network: MetaPrototypeNetwork,
    sampler: ClipSampler,
    weights: LossWeights,
    steps: Iterable[int],
    batch_size: int,
    learning_rate: float,
    advance: Advance,
) -> None:
    optimizer = adam(network.parameters(), lr=learning_rate)
    network.train()
    for step in steps:
        losses = clip_losses(network, sampler.batch(batch_size), weights)
        optimiser_step(optimizer, losses["total"], step, "mpn train", losses)
        advance(1)


def initial_step_sizes(network: MetaPrototypeNetwork, value: float) -> dict[str, torch.Tensor]:
    """One step size per adaptable weight element, all starting at ``value``."""
    parameters = dict(network.named_parameters())
    return {
        name: torch.full_like(parameters[name], value)
        for name in network.adaptable_parameter_names()
    }


def inner_step(
    network: MetaPrototypeNetwork,
    clips: torch.Tensor,
    weights: LossWeights,
    step_sizes: dict[str, torch.Tensor],
    step: int,
    stage: str,
    create_graph: bool,
) -> dict[str, torch.Tensor]:
    """Fast weights after one SGD step with per-element step sizes on ``clips``."""
    current = dict(network.named_parameters())
    names = list(step_sizes)
    losses = clip_losses(network, clips, weights)
    raise_if_not_finite(losses, step, stage)
    grads = torch.autograd.grad(
        losses["total"], [current[n] for n in names], create_graph=create_graph
    )
    return {n: current[n] - step_sizes[n] * g for n, g in zip(names, grads, strict=True)}


def meta_train(
    network: MetaPrototypeNetwork,
    sampler: ClipSampler,
    weights: LossWeights,
    steps: Iterable[int],
    task_clips: int,
    initial_step_size: float,
    meta_learning_rate: float,
    advance: Advance,
) -> dict[str, torch.Tensor]:
    """Returns the learned step sizes; the prototype unit and head are updated in place."""
    step_sizes = {
        name: value.requires_grad_()
        for name, value in initial_step_sizes(network, initial_step_size).items()
    }
    parameters = dict(network.named_parameters())
    meta_parameters = [parameters[n] for n in step_sizes] + list(step_sizes.values())
    optimizer = adam(meta_parameters, lr=meta_learning_rate)
    frozen = [p for n, p in parameters.items() if n not in step_sizes]
    for parameter in frozen:
        parameter.requires_grad_(False)
    network.train()
    half = task_clips // 2
    try:
        for step in steps:
            clips = sampler.task(task_clips)
            fast = inner_step(
                network, clips[:half], weights, step_sizes, step, "mpn meta", create_graph=True
            )
            query_losses = clip_losses(network, clips[half:], weights, fast)
            optimiser_step(optimizer, query_losses["total"], step, "mpn meta query", query_losses)
            advance(1)
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)
    return {name: value.detach() for name, value in step_sizes.items()}


def network_gmacs(network: MetaPrototypeNetwork, clips: int, image_size: int) -> float:
    """Forward GMACs of the whole network on ``clips`` inputs of T frames stacked on channels."""
    first = network.encoder.block1[0]
    assert isinstance(first, torch.nn.Conv2d)
    device = first.weight.device
    example = torch.zeros(clips, first.in_channels, image_size, image_size, device=device)
    return forward_gmacs(network, example)


def train_step_gmacs(network: MetaPrototypeNetwork, batch_size: int, image_size: int) -> float:
    """Training GMACs of one plain step: 3 × one forward pass on the batch."""
    return 3 * network_gmacs(network, batch_size, image_size)


def meta_step_gmacs(network: MetaPrototypeNetwork, task_clips: int, image_size: int) -> float:
    """Training GMACs of one meta-update: 3 × (the support half's forward for the inner step +
    the query half's forward at the fast weights). The second-order terms of the backward pass
    through the inner step are not counted, as the convention counts forward passes only."""
    half = task_clips // 2
    return 3 * (
        network_gmacs(network, half, image_size)
        + network_gmacs(network, task_clips - half, image_size)
    )


def adapt(
    network: MetaPrototypeNetwork,
    support: torch.Tensor,
    weights: LossWeights,
    step_sizes: dict[str, torch.Tensor],
    steps: int,
    advance: Advance,
) -> None:
    """In place: ``steps`` SGD steps on the support clips (the caller passes a copy)."""
    network.train()
    parameters = dict(network.named_parameters())
    for step in range(steps):
        fast = inner_step(
            network, support, weights, step_sizes, step, "mpn adapt", create_graph=False
        )
        with torch.no_grad():
            for name, value in fast.items():
                parameters[name].copy_(value)
        advance(1)
    network.eval()
