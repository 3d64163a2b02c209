"""FFP's training loop: least-squares GAN, discriminator step then generator step per batch,
as the PyTorch port's train.py (without the optical-flow term). The generator's adversarial term
is computed after the discriminator step, against the updated discriminator: the port computes
it before and back-propagates through weights the step already changed, which current PyTorch
rejects.

The loop runs the step indices it is given: a ``vadbench.sdk.training.TrainingClock`` (the matrix's
budget, or ``train_steps``) or any iterable of ints. ``step_gmacs`` states what one step costs
under the budget convention (docs/budgets.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from vadbench.sdk import ClipSampler, adam, forward_gmacs, optimiser_step, split_clips

from .losses import LossWeights, discriminator_loss, generator_losses
from .model import FFPGenerator, PatchDiscriminator


def train(
    generator: FFPGenerator,
    discriminator: PatchDiscriminator,
    sampler: ClipSampler,
    weights: LossWeights,
    steps: Iterable[int],
    batch_size: int,
    learning_rates: tuple[float, float],
    advance: Callable[[int], None],
) -> None:
    g_optimizer = adam(generator.parameters(), lr=learning_rates[0])
    d_optimizer = adam(discriminator.parameters(), lr=learning_rates[1])
    generator.train()
    discriminator.train()
    for step in steps:
        inputs, target = split_clips(sampler.batch(batch_size))
        prediction = generator(inputs)
        d_loss = discriminator_loss(discriminator(target), discriminator(prediction.detach()))
        optimiser_step(d_optimizer, d_loss, step, "ffp train", {"discriminator": d_loss})
        g_terms = generator_losses(prediction, target, discriminator(prediction), weights)
        optimiser_step(g_optimizer, g_terms["total"], step, "ffp train", g_terms)
        advance(1)


def step_gmacs(
    generator: FFPGenerator,
    discriminator: PatchDiscriminator,
    context_frames: int,
    image_size: int,
    batch_size: int,
) -> float:
    """Training GMACs of one step: 3 × (G on the batch + D three times: on the true frames, on
    the detached prediction for D's step, on the prediction for G's adversarial term)."""
    device = next(generator.parameters()).device
    size = (batch_size, 3, image_size, image_size)
    inputs = torch.zeros(batch_size, 3 * context_frames, image_size, image_size, device=device)
    g = forward_gmacs(generator, inputs)
    d = forward_gmacs(discriminator, torch.zeros(size, device=device))
    return 3 * (g + 3 * d)
