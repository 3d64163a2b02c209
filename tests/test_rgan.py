"""The rgan plugin: official sizes, the ConvLSTM state carried over the input frames, losses by
hand, MS-SSIM at the cpu preset's size, k-shot adaptation, and a short fit → save → load → score
round trip in both training modes."""

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
from vadbench.sdk.contracts import ListSource, ModelSpec, VadbenchError
from vadbench_plugins.models.rgan import vadbench_register_models
from vadbench_plugins.models.rgan.losses import (
    StructureLoss,
    adversarial_bce,
    discriminator_loss,
    generator_losses,
)
from vadbench_plugins.models.rgan.method import PRESETS, RGAN, RGANOptions
from vadbench_plugins.models.rgan.model import RGANGenerator

TINY = {
    "image_size": 16,
    "unet_widths": (2, 4, 4, 4),
    "lstm_hidden": (2, 2, 3),
    "discriminator_widths": (2, 4, 4, 4),
    "msssim_sigmas": (0.5, 1.0),
    "meta_steps": 2,
    "meta_tasks": 2,
    "train_steps": 2,
    "batch_size": 2,
}


def test_paper_preset_has_the_official_parameter_counts() -> None:
    method = RGAN(RGANOptions(**PRESETS["paper"]), "cpu")
    module, (example,) = method.inference_module()
    assert module is method.generator
    assert sum(p.numel() for p in module.parameters()) == 19_963_603
    assert sum(p.numel() for p in method.discriminator.parameters()) == 205_569
    assert example.shape == (1, 3, 3, 256, 256)


def test_registers_an_adaptable_model_with_both_presets() -> None:
    specs: list[ModelSpec] = []
    vadbench_register_models(register=specs.append)
    assert [s.name for s in specs] == ["rgan"]
    assert specs[0].supports_adaptation
    assert set(specs[0].presets) == {"paper", "cpu"}
    for preset in specs[0].presets.values():
        specs[0].options(**preset)


def test_the_last_lstm_layer_must_be_rgb() -> None:
    with pytest.raises(ValueError, match="must be 3"):
        RGANOptions(lstm_hidden=(8, 4))


def test_the_lstm_state_carries_the_first_frame_to_the_prediction() -> None:
    torch.manual_seed(0)
    options = RGANOptions(**PRESETS["cpu"])
    generator = RGANGenerator(options.unet_widths, options.lstm_hidden).eval()
    # PyTorch's default initialisation (the official code's too) shrinks the signal about
    # sevenfold per ConvLSTM layer; wider gates make any frame's effect visible above rounding.
    for cell in generator.lstm.cells:
        torch.nn.init.normal_(cell.gates.weight, std=0.5)
    frames = torch.rand(1, 3, 3, 32, 32)
    changed_first = frames.clone()
    changed_first[:, 0] = torch.rand(3, 32, 32)
    with torch.no_grad():
        prediction = generator(frames)
        assert prediction.shape == (1, 3, 32, 32)
        assert (generator(changed_first) - prediction).abs().max() > 1e-3
        # A state reset before every frame would leave only the last frame's recurrence.
        last_only = generator.recur(generator.encode(frames[:, 2:]))
        assert (last_only - prediction).abs().max() > 1e-3


def test_forward_equals_per_frame_unet_then_recurrence_at_the_cpu_preset_size() -> None:
    torch.manual_seed(1)
    method = RGAN(RGANOptions(**PRESETS["cpu"]), "cpu")
    module, (example,) = method.inference_module()
    frames = torch.rand_like(example)
    with torch.no_grad():
        module.eval()
        encoded = torch.stack([module.unet(frames[:, t]) for t in range(3)], dim=1)
        torch.testing.assert_close(module(frames), module.recur(encoded))


def test_l1_and_adversarial_terms_by_hand() -> None:
    prediction = torch.tensor([[[[0.2, 0.6]]]]).expand(1, 3, 16, 2).contiguous()
    target = torch.tensor([[[[0.0, 1.0]]]]).expand(1, 3, 16, 2).contiguous()
    fake_logit = torch.tensor([[math.log(0.7 / 0.3)]])  # D(fake) = 0.7
    structure = StructureLoss((0.5, 1.0))
    terms = generator_losses(prediction, target, fake_logit, structure)
    assert terms["l1"].item() == pytest.approx((0.2 + 0.4) / 2)
    bce_real_label = -(0.9 * math.log(0.7) + 0.1 * math.log(0.3))
    assert terms["adversarial"].item() == pytest.approx(bce_real_label, rel=1e-6)
    expected_total = terms["msssim"] + terms["l1"] + terms["adversarial"]
    torch.testing.assert_close(terms["total"], expected_total)


def test_discriminator_loss_uses_labels_point_nine_and_point_one() -> None:
    real_logit = torch.tensor([[math.log(0.8 / 0.2)]])  # D(real) = 0.8
    fake_logit = torch.tensor([[math.log(0.4 / 0.6)]])  # D(fake) = 0.4
    real = -(0.9 * math.log(0.8) + 0.1 * math.log(0.2))
    fake = -(0.1 * math.log(0.4) + 0.9 * math.log(0.6))
    assert discriminator_loss(real_logit, fake_logit).item() == pytest.approx((real + fake) / 2)
    assert adversarial_bce(fake_logit, 0.1).item() == pytest.approx(fake)


def ms_ssim_by_hand(x: torch.Tensor, y: torch.Tensor, sigmas: tuple[float, ...]) -> torch.Tensor:
    """Per pixel and channel: luminance at the coarsest Gaussian times contrast-structure at
    every Gaussian, zero padding, window 2·int(2σ_max)+1, C1=0.01², C2=0.03²; then the mean."""
    radius = int(2 * sigmas[-1])
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    channels = x.shape[1]
    product = torch.ones_like(x)
    for index, sigma in enumerate(sigmas):
        g = torch.exp(-(offsets**2) / (2 * sigma**2))
        g = g / g.sum()
        window = torch.outer(g, g).expand(channels, 1, -1, -1)

        def blur(image: torch.Tensor, w: torch.Tensor = window) -> torch.Tensor:
            return F.conv2d(image, w, padding=radius, groups=channels)

        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        product = product * (2 * cxy + 0.03**2) / (vx + vy + 0.03**2)
        if index == len(sigmas) - 1:
            product = product * (2 * mx * my + 0.01**2) / (mx**2 + my**2 + 0.01**2)
    return product.mean()


def test_structure_term_is_half_of_one_minus_ms_ssim() -> None:
    torch.manual_seed(2)
    target = torch.rand(2, 3, 12, 12)
    prediction = (target + 0.2 * torch.randn_like(target)).clamp(0, 1)
    sigmas = (0.5, 1.0, 2.0)
    expected = (1 - ms_ssim_by_hand(prediction, target, sigmas)) / 2
    torch.testing.assert_close(StructureLoss(sigmas)(prediction, target), expected)


def test_ms_ssim_works_at_the_cpu_preset_size() -> None:
    options = RGANOptions(**PRESETS["cpu"])
    structure = StructureLoss(options.msssim_sigmas)
    frame = torch.rand(4, 3, options.image_size, options.image_size)
    assert structure(frame, frame).item() == pytest.approx(0.0, abs=1e-6)
    noisy = structure((frame + 0.3 * torch.randn_like(frame)).clamp(0, 1), frame).item()
    assert 0.05 < noisy < 1.0


def test_adapt_returns_a_changed_copy_and_reads_only_the_support(tmp_path: Path) -> None:
    torch.manual_seed(3)
    method = RGAN(RGANOptions(**TINY, adapt_lr=0.05), "cpu")
    before = {
        name: value.clone()
        for module in (method.generator, method.discriminator)
        for name, value in module.state_dict(prefix=f"{id(module)}.").items()
    }
    clips = [logged_video(f"clip{i}", 4, seed=i) for i in range(2)]
    support = ListSource("target", "train", tuple(v for v, _ in clips))

    adapted = method.adapt(support, fit_context(tmp_path))

    assert adapted is not method and adapted.generator is not method.generator
    for module in (method.generator, method.discriminator):
        for name, value in module.state_dict(prefix=f"{id(module)}.").items():
            assert torch.equal(value, before[name]), f"adapt changed the original's {name}"
    original = method.generator.state_dict()
    assert any(
        not torch.equal(value, original[name])
        for name, value in adapted.generator.state_dict().items()
    )
    for _, log in clips:
        assert log.reads and all(0 <= a < b <= 4 for a, b in log.reads)


@pytest.mark.parametrize("training", ["meta", "standard"])
def test_cpu_preset_fits_saves_loads_and_scores_every_predicted_frame(
    tmp_path: Path, training: str
) -> None:
    options = RGANOptions(
        **{**PRESETS["cpu"], "training": training, "meta_steps": 2, "train_steps": 2}
    )
    method = RGAN(options, "cpu")
    method.fit(square_source(10, 8), None, fit_context(tmp_path))
    target, _ = logged_video("target", 70, seed=9, size=24)
    scores = method.score(target)
    assert scores.shape == (70 - 3,)
    assert np.isfinite(scores).all()
    with torch.no_grad():
        frames = torch.from_numpy(target.frames(60, 64)).permute(0, 3, 1, 2).float() / 255
        frames = F.interpolate(frames, size=(32, 32), mode="bilinear", align_corners=False)
        mse = (method.generator(frames[None, :3]) - frames[3]).pow(2).mean()
    assert scores[60] == pytest.approx(10 * math.log10(1 / mse.item()), rel=1e-4)

    method.save(tmp_path)
    state = torch.load(tmp_path / "rgan.pt", weights_only=True)
    assert set(state) == {"generator", "discriminator"}
    restored = RGAN(options, "cpu")
    restored.load(tmp_path)
    np.testing.assert_array_equal(restored.score(target), scores)


def test_kshot_adaptation_at_the_cpu_preset_changes_the_target_scores(tmp_path: Path) -> None:
    """The preset's own adaptation settings (Adam lr, passes over the support), on a network
    trained only briefly so that the test is quick."""
    torch.manual_seed(0)
    method = RGAN(RGANOptions(**{**PRESETS["cpu"], "meta_steps": 5}), "cpu")
    method.fit(square_source(10, 10), None, fit_context(tmp_path))
    support = ListSource(
        "target", "train", tuple(logged_video(f"c{i}", 4, 20 + i)[0] for i in range(4))
    )
    target, _ = logged_video("target", 30, seed=9, size=32)

    zero_shot = method.score(target)
    adapted = method.adapt(support, fit_context(tmp_path)).score(target)

    assert np.abs(adapted - zero_shot).max() > 0.01  # dB of PSNR


def test_meta_training_changes_the_shared_initialisation(tmp_path: Path) -> None:
    torch.manual_seed(4)
    method = RGAN(RGANOptions(**TINY), "cpu")
    before = [p.detach().clone() for p in method.generator.parameters()]
    method.fit(square_source(10, 10), None, fit_context(tmp_path))
    after = list(method.generator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))


def test_a_non_finite_loss_stops_training_naming_the_loss_and_step(tmp_path: Path) -> None:
    options = RGANOptions(**{**TINY, "generator_lr": 1e30, "discriminator_lr": 1e30})
    with pytest.raises(VadbenchError, match=r"rgan meta-train.*loss '\w+' is not finite at step"):
        RGAN(options, "cpu").fit(square_source(10, 10), None, fit_context(tmp_path))
