"""rGAN's optimisation: one GAN step, plain training, MAML-style meta-training, k-shot adaptation.

Meta-training follows the official train.py: every meta-update draws ``tasks`` source videos;
on each, copies of the generator and discriminator take one inner Adam step per support clip
(lr 1e-4, batch 1), the validation loss of the adapted copies on other clips of the same video
gives first-order meta-gradients at the adapted weights, and their sum over tasks drives the outer
Adam step. k-shot adaptation is exactly that inner loop, run on the target's support clips.

``train`` and ``meta_train`` run the step indices they are given: a
``vadbench.sdk.training.TrainingClock`` (the matrix's budget, or the preset's ``train_steps`` /
``meta_steps``) or any iterable of ints. The inner loops inside a meta-update are part of that
meta-update's cost; k-shot adaptation is not part of a budget. ``train_step_gmacs`` and
``meta_step_gmacs`` state what one step of each loop costs (docs/budgets.md).
"""

from __future__ import annotations

import copy
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

from .losses import StructureLoss, discriminator_loss, generator_losses
from .model import RGANDiscriminator, RGANGenerator

Advance = Callable[[int], None]
Betas = tuple[float, float]


def clip_losses(
    generator: RGANGenerator,
    discriminator: RGANDiscriminator,
    clips: torch.Tensor,
    structure: StructureLoss,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Generator terms and discriminator loss on a batch of clips."""
    inputs, target = split_clips(clips, stack_inputs=False)
    prediction = generator(inputs)
    terms = generator_losses(prediction, target, discriminator(prediction), structure)
    d_loss = discriminator_loss(discriminator(target), discriminator(prediction.detach()))
    return terms, d_loss


def gan_step(
    generator: RGANGenerator,
    discriminator: RGANDiscriminator,
    g_optimizer: torch.optim.Optimizer,
    d_optimizer: torch.optim.Optimizer,
    clips: torch.Tensor,
    structure: StructureLoss,
    step: int,
    stage: str,
) -> None:
    """Generator update, then discriminator update on the same prediction (official order)."""
    terms, d_loss = clip_losses(generator, discriminator, clips, structure)
    optimiser_step(g_optimizer, terms["total"], step, stage, terms)
    optimiser_step(d_optimizer, d_loss, step, stage, {"discriminator": d_loss})


def train(
    generator: RGANGenerator,
    discriminator: RGANDiscriminator,
    sampler: ClipSampler,
    structure: StructureLoss,
    steps: Iterable[int],
    batch_size: int,
    learning_rates: tuple[float, float],
    betas: Betas,
    advance: Advance,
) -> None:
    """Plain (non-meta) GAN training on random source clips."""
    g_optimizer = adam(generator.parameters(), lr=learning_rates[0], betas=betas)
    d_optimizer = adam(discriminator.parameters(), lr=learning_rates[1], betas=betas)
    generator.train()
    for step in steps:
        clips = sampler.batch(batch_size)
        gan_step(generator, discriminator, g_optimizer, d_optimizer, clips, structure, step, "rgan")
        advance(1)


def adapt_in_place(
    generator: RGANGenerator,
    discriminator: RGANDiscriminator,
    support: torch.Tensor,
    structure: StructureLoss,
    learning_rate: float,
    passes: int,
    stage: str,
) -> None:
    """The inner loop: fresh Adam optimisers, one step per support clip, ``passes`` times."""
    g_optimizer = adam(generator.parameters(), lr=learning_rate)
    d_optimizer = adam(discriminator.parameters(), lr=learning_rate)
    generator.train()
    for step in range(passes * len(support)):
        clip = support[step % len(support)].unsqueeze(0)
        gan_step(generator, discriminator, g_optimizer, d_optimizer, clip, structure, step, stage)


def meta_train(
    generator: RGANGenerator,
    discriminator: RGANDiscriminator,
    sampler: ClipSampler,
    structure: StructureLoss,
    steps: Iterable[int],
    tasks: int,
    shots: int,
    inner: tuple[float, int],
    learning_rates: tuple[float, float],
    betas: Betas,
    advance: Advance,
) -> None:
    """First-order MAML over source videos; ``inner`` is the (lr, passes) of the inner loop."""
    g_optimizer = adam(generator.parameters(), lr=learning_rates[0], betas=betas)
    d_optimizer = adam(discriminator.parameters(), lr=learning_rates[1], betas=betas)
    inner_lr, inner_passes = inner
    # The adapted copies: made once, then reset to the current weights for every task (a
    # state-dict copy costs a small fraction of a deep copy of the modules).
    fast_g, fast_d = copy.deepcopy(generator), copy.deepcopy(discriminator)
    for step in steps:
        g_grads = [torch.zeros_like(p) for p in generator.parameters()]
        d_grads = [torch.zeros_like(p) for p in discriminator.parameters()]
        for _ in range(tasks):
            clips = sampler.task(2 * shots)
            fast_g.load_state_dict(generator.state_dict())
            fast_d.load_state_dict(discriminator.state_dict())
            stage = f"rgan meta-train step {step}, inner loop"
            adapt_in_place(fast_g, fast_d, clips[:shots], structure, inner_lr, inner_passes, stage)
            terms, d_loss = clip_losses(fast_g, fast_d, clips[shots:], structure)
            raise_if_not_finite({**terms, "discriminator": d_loss}, step, "rgan meta-train")
            task_g = torch.autograd.grad(terms["total"], list(fast_g.parameters()))
            task_d = torch.autograd.grad(d_loss, list(fast_d.parameters()))
            for total, grad in zip(g_grads + d_grads, task_g + task_d, strict=True):
                total.add_(grad)
        refresh_batch_statistics(generator, clips[shots:])
        for parameter, grad in zip(generator.parameters(), g_grads, strict=True):
            parameter.grad = grad
        for parameter, grad in zip(discriminator.parameters(), d_grads, strict=True):
            parameter.grad = grad
        g_optimizer.step()
        d_optimizer.step()
        advance(1)


def refresh_batch_statistics(generator: RGANGenerator, clips: torch.Tensor) -> None:
    """One training-mode forward so BatchNorm's running statistics follow the meta-updated
    weights; the official code gets the same from its "dummy forward pass" per meta-update."""
    generator.train()
    with torch.no_grad():
        generator(split_clips(clips, stack_inputs=False)[0])


def _pass_gmacs(
    generator: RGANGenerator, discriminator: RGANDiscriminator, context: int, size: int
) -> tuple[float, float]:
    """Forward GMACs of G and of D on one clip (both scale linearly with the batch)."""
    device = next(generator.parameters()).device
    g = forward_gmacs(generator, torch.zeros(1, context, 3, size, size, device=device))
    d = forward_gmacs(discriminator, torch.zeros(1, 3, size, size, device=device))
    return g, d


def train_step_gmacs(
    generator: RGANGenerator,
    discriminator: RGANDiscriminator,
    context: int,
    size: int,
    batch_size: int,
) -> float:
    """Training GMACs of one plain GAN step: 3 × (G + D three times: on the prediction for G's
    loss, on the true frames and on the detached prediction for D's), over the batch."""
    g, d = _pass_gmacs(generator, discriminator, context, size)
    return 3 * batch_size * (g + 3 * d)


def meta_step_gmacs(
    generator: RGANGenerator,
    discriminator: RGANDiscriminator,
    context: int,
    size: int,
    tasks: int,
    shots: int,
    passes: int,
) -> float:
    """Training GMACs of one meta-update: per task, ``passes × shots`` inner GAN steps at batch
    1 and the adapted copies' loss and gradients on ``shots`` query clips (each a GAN step's
    3 × (G + 3 D)), plus one forward of G on the query clips to refresh BatchNorm (1×)."""
    g, d = _pass_gmacs(generator, discriminator, context, size)
    gan_step = 3 * (g + 3 * d)
    return tasks * (passes * shots + shots) * gan_step + shots * g
