"""The ffp plugin: official sizes, losses by hand, and a short fit → save → load → score round
trip at the cpu preset."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.builders import (
    fit_context,
    logged_video,
    square_source,
)
from vadbench.sdk.contracts import ModelSpec, VadbenchError
from vadbench_plugins.models.ffp import vadbench_register_models
from vadbench_plugins.models.ffp.losses import (
    LossWeights,
    discriminator_loss,
    generator_adversarial_loss,
    generator_losses,
    gradient_loss,
    intensity_loss,
)
from vadbench_plugins.models.ffp.method import FFP, PRESETS, FFPOptions
from vadbench_plugins.models.ffp.model import FFPGenerator

TINY = {
    "image_size": 16,
    "widths": (2, 4, 8, 16),
    "discriminator_widths": (4, 4),
    "train_steps": 2,
    "batch_size": 2,
}


def test_paper_preset_has_the_official_parameter_counts() -> None:
    method = FFP(FFPOptions(**PRESETS["paper"]), "cpu")
    module, (example,) = method.inference_module()
    assert module is method.generator
    assert sum(p.numel() for p in module.parameters()) == 7_707_011
    assert sum(p.numel() for p in method.discriminator.parameters()) == 6_831_489
    assert example.shape == (1, 12, 256, 256)


def test_registers_a_model_without_adaptation_and_with_both_presets() -> None:
    specs: list[ModelSpec] = []
    vadbench_register_models(register=specs.append)
    assert [s.name for s in specs] == ["ffp"]
    assert not specs[0].supports_adaptation
    assert not hasattr(FFP, "adapt")
    assert set(specs[0].presets) == {"paper", "cpu"}
    for preset in specs[0].presets.values():
        specs[0].options(**preset)


def test_unet_widths_must_double_per_level() -> None:
    with pytest.raises(ValueError, match="doubles"):
        FFPGenerator(4, (8, 16, 16, 64))


def test_gradient_loss_by_hand() -> None:
    # Target [[1, 2], [3, 5]] against a flat prediction, a zero beyond the right and bottom:
    # |dx| = [[1, 2], [2, 5]], |dy| = [[2, 3], [3, 5]]; the loss is the mean of their sum.
    target = torch.tensor([[[[1.0, 2.0], [3.0, 5.0]]]])
    prediction = torch.zeros_like(target)
    assert gradient_loss(prediction, target).item() == pytest.approx((3 + 5 + 5 + 10) / 4)
    assert gradient_loss(target, target).item() == 0.0
    # A constant offset only shows where the zero padding meets the frame's last column/row.
    assert gradient_loss(target + 7.0, target).item() == pytest.approx((0 + 7 + 7 + 14) / 4)


def test_least_squares_gan_terms_by_hand() -> None:
    fake = torch.tensor([0.5, 1.0])
    real = torch.tensor([1.0, 0.5])
    assert generator_adversarial_loss(fake).item() == pytest.approx((0.25 / 2 + 0) / 2)
    fake_for_d = torch.tensor([0.0, 0.5])
    expected = (0 + 0.25 / 2) / 2 + (0 + 0.25 / 2) / 2
    assert discriminator_loss(real, fake_for_d).item() == pytest.approx(expected)


def test_generator_loss_weights_intensity_gradient_and_adversarial_terms() -> None:
    prediction = torch.tensor([[[[0.0, 0.5]]]])
    target = torch.tensor([[[[1.0, 0.5]]]])
    assert intensity_loss(prediction, target).item() == pytest.approx(0.5)
    terms = generator_losses(prediction, target, torch.tensor([0.6]), LossWeights(1, 1, 0.05))
    adversarial = 0.4**2 / 2
    assert terms["adversarial"].item() == pytest.approx(adversarial)
    expected = terms["intensity"] + terms["gradient"] + 0.05 * adversarial
    assert terms["total"].item() == pytest.approx(expected.item())


def test_cpu_preset_fits_saves_loads_and_scores_every_predicted_frame(tmp_path: Path) -> None:
    options = FFPOptions(**{**PRESETS["cpu"], "train_steps": 2})
    method = FFP(options, "cpu")
    method.fit(square_source(12, 9), None, fit_context(tmp_path))
    target = logged_video("target", 70, seed=9, size=48)[0]
    scores = method.score(target)
    assert scores.shape == (70 - 4,)
    assert np.isfinite(scores).all()
    with torch.no_grad():
        frames = torch.from_numpy(target.frames(61, 66)).permute(0, 3, 1, 2).float() / 127.5 - 1
        frames = F.interpolate(frames, size=(64, 64), mode="bilinear", align_corners=False)
        prediction = method.generator(frames[:4].reshape(1, 12, 64, 64))
        mse = ((prediction - frames[4]) / 2).pow(2).mean()
    assert scores[61] == pytest.approx(10 * math.log10(1 / mse.item()), rel=1e-4)

    method.save(tmp_path)
    state = torch.load(tmp_path / "ffp.pt", weights_only=True)
    assert set(state) == {"generator", "discriminator"}
    restored = FFP(options, "cpu")
    restored.load(tmp_path)
    np.testing.assert_array_equal(restored.score(target), scores)


def test_training_updates_both_networks(tmp_path: Path) -> None:
    torch.manual_seed(1)
    method = FFP(FFPOptions(**TINY), "cpu")
    before = [p.detach().clone() for p in method.generator.parameters()]
    before_d = [p.detach().clone() for p in method.discriminator.parameters()]
    method.fit(square_source(10, 10), None, fit_context(tmp_path))
    generator = zip(method.generator.parameters(), before, strict=True)
    discriminator = zip(method.discriminator.parameters(), before_d, strict=True)
    assert all(not torch.equal(p, b) for p, b in generator)
    assert all(not torch.equal(p, b) for p, b in discriminator)


def test_a_non_finite_loss_stops_training_naming_the_loss_and_step(tmp_path: Path) -> None:
    options = FFPOptions(**{**TINY, "generator_lr": 1e30, "train_steps": 3})
    with pytest.raises(VadbenchError, match=r"ffp train: loss '\w+' is not finite at step \d"):
        FFP(options, "cpu").fit(square_source(10), None, fit_context(tmp_path))
