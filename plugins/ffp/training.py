"""FFP's training loop: least-squares GAN, discriminator step then generator step per batch,
as the PyTorch port's train.py (without the optical-flow term). The generator's adversarial term
is computed after the discriminator step, against the updated discriminator: the port computes
it before and back-propagates through weights the step already changed, which current PyTorch
rejects."""

from __future__ import annotations

from collections.abc import Callable

import torch

from vadbench.clips import ClipSampler, raise_if_not_finite, split_clips

from .losses import LossWeights, discriminator_loss, generator_losses
from .model import FFPGenerator, PatchDiscriminator


def train(
    generator: FFPGenerator,
    discriminator: PatchDiscriminator,
    sampler: ClipSampler,
    weights: LossWeights,
    steps: int,
    batch_size: int,
    learning_rates: tuple[float, float],
    advance: Callable[[int], None],
) -> None:
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=learning_rates[0])
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=learning_rates[1])
    generator.train()
    discriminator.train()
    for step in range(steps):
        inputs, target = split_clips(sampler.batch(batch_size))
        prediction = generator(inputs)
        d_loss = discriminator_loss(discriminator(target), discriminator(prediction.detach()))
        raise_if_not_finite({"discriminator": d_loss}, step, "ffp train")
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()
        g_terms = generator_losses(prediction, target, discriminator(prediction), weights)
        raise_if_not_finite(g_terms, step, "ffp train")
        g_optimizer.zero_grad()
        g_terms["total"].backward()
        g_optimizer.step()
        advance(1)
