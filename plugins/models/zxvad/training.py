"""One zxVAD training step (paper eq. 6) and the loop around it.

Per step: G predicts v̂ from T frames; O builds ṽ by pasting an object into one of those input
frames; G is updated on L_BB + α_D·½(D(v̂)−1)² + α_N·½(N(v̂)−1)²; then D on the LS-GAN loss, then
N (and ArcFace's W) on α_n L_N + α_rn L_RN + α_aa L_AA + α_raa L_RAA with v̂ detached. R never
trains. A non-finite loss stops training with a VadbenchError naming the loss and the step.

The loop runs the step indices it is given: a ``vadbench.sdk.training.TrainingClock`` (the matrix's
budget, or ``train_steps``) or any iterable of ints. ``step_gmacs`` states what one step and the
object pool cost under the budget convention (docs/budgets.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import kornia.augmentation as K
import numpy as np
import torch
from torch import nn

from vadbench.sdk import VadbenchError, adam, channels_last, forward_gmacs

from . import losses
from .discriminators import PatchDiscriminator
from .frames import FrameSampler
from .generator import Generator
from .options import ZxVADOptions
from .synthesis import ObjectLocator, PseudoAnomalies, synthesize

POOL_CHUNK = 32  # object frames per R forward pass when the pool is built


def build_generator(options: ZxVADOptions) -> Generator:
    generator = Generator(
        options.context_frames,
        options.unet_widths,
        options.memory_items if options.use_memory else None,
        options.memory_shrink_threshold,
    )
    channels_last(generator)
    return generator


def build_object_locator(options: ZxVADOptions) -> ObjectLocator:
    return ObjectLocator(
        options.object_network,
        options.object_input_size,
        options.object_stage,
        options.object_threshold,
        options.object_centering,
    )


def build_augmentation(options: ZxVADOptions) -> nn.Module:
    """g(·) of L_RAA: colour jitter, random affine, random perspective (Kornia), on [0, 1]."""
    chance = options.augment_probability
    return K.AugmentationSequential(
        K.ColorJitter(*options.augment_color_jitter, p=chance),
        K.RandomAffine(degrees=options.augment_degrees, p=chance),
        K.RandomPerspective(options.augment_perspective, p=chance),
    )


def check_finite(named_losses: Mapping[str, torch.Tensor], step: int) -> None:
    """Raise on the first NaN or infinite loss: diverged weights would poison every later step."""
    values = torch.stack([value.detach() for value in named_losses.values()])
    if bool(torch.isfinite(values).all()):
        return
    for name, value in zip(named_losses, values.tolist(), strict=True):
        if not np.isfinite(value):
            raise VadbenchError(f"zxvad: loss {name} is {value} at training step {step}")


@dataclass
class Networks:
    """Everything that trains: G, D, N and ArcFace's class centres."""

    generator: Generator
    discriminator: PatchDiscriminator
    classifier: PatchDiscriminator
    relative_attention: losses.RelativeAttentionLoss


def build_networks(options: ZxVADOptions) -> Networks:
    classifier = PatchDiscriminator(options.classifier_widths)
    with torch.no_grad():
        probe = classifier.eval().features(
            torch.zeros(1, 3, options.image_size, options.image_size)
        )
    classifier.train()
    attention_map = probe.hidden if options.attention_map == "hidden" else probe.scores
    cells = attention_map.shape[-2] * attention_map.shape[-1]
    return Networks(
        generator=build_generator(options),
        discriminator=PatchDiscriminator(options.discriminator_widths),
        classifier=classifier,
        relative_attention=losses.RelativeAttentionLoss(
            cells, options.arcface_margin_degrees, options.arcface_scale
        ),
    )


class Trainer:
    """Holds the networks, their optimisers, R and g, and performs one step at a time."""

    def __init__(self, options: ZxVADOptions, device: str) -> None:
        self.options = options
        self.device = device
        self.networks = build_networks(options)
        for module in self.modules():
            module.to(device).train()
        self.locator = (
            build_object_locator(options).to(device) if options.mixing == "scda" else None
        )
        channels_last(*self.modules(), *([self.locator] if self.locator is not None else []))
        self.augment = build_augmentation(options).to(device)
        betas = options.adam_betas
        self.generator_optimiser = adam(
            self.networks.generator.parameters(), lr=options.lr_generator, betas=betas
        )
        self.discriminator_optimiser = adam(
            self.networks.discriminator.parameters(), lr=options.lr_discriminator, betas=betas
        )
        classifier_parameters = [
            *self.networks.classifier.parameters(),
            *self.networks.relative_attention.parameters(),
        ]
        self.classifier_optimiser = adam(
            classifier_parameters, lr=options.lr_classifier, betas=betas
        )

    def modules(self) -> list[nn.Module]:
        n = self.networks
        return [n.generator, n.discriminator, n.classifier, n.relative_attention]

    def object_masks(self, sources: torch.Tensor) -> torch.Tensor | None:
        """R's foreground masks for the object frames, or None when mixing needs none."""
        return None if self.locator is None else self.locator(sources)

    def classifier_attention(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N's patch scores and the SCDA attention A(·) of the chosen map."""
        output = self.networks.classifier.features(frames)
        chosen = output.hidden if self.options.attention_map == "hidden" else output.scores
        return output.scores, losses.scda_attention(chosen)

    def generator_losses(self, clips: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """G's named loss terms (unweighted) and the predicted frames v̂."""
        o = self.options
        inputs, truth = clips[:, :-1].flatten(1, 2), clips[:, -1]
        prediction = self.networks.generator.predict(inputs)
        predicted = prediction.frame
        terms = {
            "mse": losses.intensity_loss(predicted, truth),
            "ssim": losses.structure_loss(predicted, truth, o.ssim_window),
            "gradient": losses.gradient_loss(predicted, truth),
        }
        if prediction.memory_weights is not None:
            terms["memory_entropy"] = losses.memory_entropy(prediction.memory_weights)
        if o.use_gan:
            terms["adversarial"] = losses.least_squares(self.networks.discriminator(predicted), 1)
        if o.trains_classifier and o.classifier_weight:
            terms["classifier"] = losses.least_squares(self.networks.classifier(predicted), 1)
        return terms, predicted

    def classifier_losses(
        self, predicted: torch.Tensor, anomalies: PseudoAnomalies
    ) -> dict[str, torch.Tensor]:
        """N's four losses on v̂ (detached), g(v̂) and ṽ."""
        o = self.options
        normal = predicted.detach()
        normal_scores, normal_attention = self.classifier_attention(normal)
        abnormal_scores, abnormal_attention = self.classifier_attention(anomalies.frames)
        terms: dict[str, torch.Tensor] = {}
        if o.use_ln:
            terms["L_N"] = losses.normalcy_loss(normal_scores, abnormal_scores)
        if o.use_lrn:
            terms["L_RN"] = losses.relative_normalcy_loss(normal_scores, abnormal_scores)
        if o.use_laa:
            terms["L_AA"] = losses.attention_affirmation_loss(
                normal_attention, abnormal_attention, anomalies.masks
            )
        if o.use_lraa:
            augmented = self.augment(losses.to_unit_range(normal)) * 2.0 - 1.0
            _, augmented_attention = self.classifier_attention(augmented)
            terms["L_RAA"] = self.networks.relative_attention(
                normal_attention, augmented_attention, abnormal_attention
            )
        return terms

    def step(
        self,
        step: int,
        clips: torch.Tensor,
        sources: torch.Tensor | None,
        source_masks: torch.Tensor | None,
        rng: np.random.Generator,
    ) -> dict[str, float]:
        """One update of G, D and N on a batch of clips (B, T+1, 3, H, W); ``sources`` are the
        frames objects come from (None only when N does not train). Returns the loss values."""
        o = self.options
        generator_terms, predicted = self.generator_losses(clips)
        check_finite(generator_terms, step)
        generator_weights = {
            "memory_entropy": o.memory_entropy_weight,
            "adversarial": o.adversarial_weight,
            "classifier": o.classifier_weight,
        }
        generator_loss = sum(
            (generator_weights.get(name, 1.0) * value for name, value in generator_terms.items()),
            start=torch.zeros((), device=self.device),
        )
        self.generator_optimiser.zero_grad(set_to_none=True)
        generator_loss.backward()
        self.generator_optimiser.step()
        logged = {name: value.item() for name, value in generator_terms.items()}

        if o.use_gan:
            d = self.networks.discriminator
            terms = {
                "discriminator": losses.least_squares(d(predicted.detach()), 0)
                + losses.least_squares(d(clips[:, -1]), 1)
            }
            check_finite(terms, step)
            self.discriminator_optimiser.zero_grad(set_to_none=True)
            terms["discriminator"].backward()
            self.discriminator_optimiser.step()
            logged["discriminator"] = terms["discriminator"].item()

        if o.trains_classifier:
            if sources is None:
                raise ValueError("the normalcy classifier needs object frames")
            paste_onto = torch.from_numpy(rng.integers(o.context_frames, size=len(clips)))
            targets = clips[
                torch.arange(len(clips), device=clips.device), paste_onto.to(clips.device)
            ]
            anomalies = synthesize(o.mixing, targets, sources, source_masks, rng)
            terms = self.classifier_losses(predicted, anomalies)
            check_finite(terms, step)
            weights = {
                "L_N": o.weight_ln,
                "L_RN": o.weight_lrn,
                "L_AA": o.weight_laa,
                "L_RAA": o.weight_lraa,
            }
            classifier_loss = sum(
                (weights[name] * value for name, value in terms.items()),
                start=torch.zeros((), device=self.device),
            )
            self.classifier_optimiser.zero_grad(set_to_none=True)
            classifier_loss.backward()
            self.classifier_optimiser.step()
            logged.update({name: value.item() for name, value in terms.items()})
        return logged


class ObjectSource:
    """Frames that objects are taken from, with R's masks: drawn per step, or from a pool of
    ``object_pool_size`` frames whose masks are computed once (R is fixed, so they never change).
    """

    def __init__(
        self, sampler: FrameSampler, trainer: Trainer, pool_size: int, rng: np.random.Generator
    ):
        self.sampler = sampler
        self.trainer = trainer
        self.pool: tuple[torch.Tensor, torch.Tensor | None] | None = None
        if pool_size:
            frames = sampler.frames(pool_size, rng)
            masks = [trainer.object_masks(chunk) for chunk in frames.split(POOL_CHUNK)]
            present = [mask for mask in masks if mask is not None]  # all chunks or none
            self.pool = (frames, torch.cat(present) if present else None)

    def draw(
        self, count: int, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.pool is None:
            frames = self.sampler.frames(count, rng)
            return frames, self.trainer.object_masks(frames)
        frames, masks = self.pool
        chosen = torch.from_numpy(rng.integers(len(frames), size=count)).to(frames.device)
        return frames[chosen], None if masks is None else masks[chosen]


def train(
    trainer: Trainer,
    clips: FrameSampler,
    objects: FrameSampler,
    rng: np.random.Generator,
    advance: Callable[[int], None],
    steps: Iterable[int] | None = None,
) -> None:
    """The training loop: steps of ``batch_size`` clips, ``train_steps`` of them unless
    ``steps`` (a ``TrainingClock``) says otherwise."""
    o = trainer.options
    object_source = (
        ObjectSource(objects, trainer, o.object_pool_size, rng) if o.trains_classifier else None
    )
    for step in range(o.train_steps) if steps is None else steps:
        batch = clips.clips(o.batch_size, rng)
        sources, masks = object_source.draw(o.batch_size, rng) if object_source else (None, None)
        trainer.step(step, batch, sources, masks, rng)
        advance(1)


@dataclass(frozen=True)
class StepCost:
    """Training GMACs of one step and of the object pool built once before the first step."""

    per_step: float
    setup: float


def step_gmacs(trainer: Trainer) -> StepCost:
    """What training costs by the budget convention (3 × forward GMACs of each pass through a
    network that trains, 1 × for the frozen R), with the passes ``Trainer.step`` runs:

    - G on the batch of T-frame inputs;
    - D (GAN on): on v̂ for G's adversarial term, on the detached v̂ and on the true frames;
    - N (when it trains): on v̂ for G's term (when α_N > 0), on v̂ and ṽ for its own losses,
      and on g(v̂) when L_RAA is on;
    - R (when N trains and mixing is scda): on the batch's object frames every step, or on the
      ``object_pool_size`` pool frames once (the setup cost).
    """
    o, n = trainer.options, trainer.networks
    device = next(n.generator.parameters()).device
    b, size = o.batch_size, o.image_size
    frames = torch.zeros(b, 3, size, size, device=device)
    inputs = torch.zeros(b, 3 * o.context_frames, size, size, device=device)
    passes = forward_gmacs(n.generator, inputs)
    if o.use_gan:
        passes += 3 * forward_gmacs(n.discriminator, frames)
    if o.trains_classifier:
        classifier_passes = 2 + (1 if o.classifier_weight else 0) + (1 if o.use_lraa else 0)
        passes += classifier_passes * forward_gmacs(n.classifier, frames)
    per_step, setup = 3 * passes, 0.0
    if o.trains_classifier and trainer.locator is not None:
        per_frame = forward_gmacs(trainer.locator, frames[:1])
        if o.object_pool_size:
            setup = per_frame * o.object_pool_size
        else:
            per_step += per_frame * b
    return StepCost(per_step, setup)
