"""The mpn plugin: official size, the prototype unit, losses and score fusion by hand, k-shot
adaptation, and a short fit → save → load → score round trip."""

from __future__ import annotations

import dataclasses
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
from vadbench.sdk.clips import prediction_windows, scoring_chunks
from vadbench.sdk.contracts import ListSource, ModelSpec, VadbenchError
from vadbench_plugins.models.mpn import vadbench_register_models
from vadbench_plugins.models.mpn.losses import (
    LossWeights,
    compactness_loss,
    feature_distance,
    mpn_losses,
    prediction_loss,
    separation_loss,
)
from vadbench_plugins.models.mpn.method import MPN, PRESETS, MPNOptions
from vadbench_plugins.models.mpn.model import MetaPrototypeUnit
from vadbench_plugins.models.mpn.scoring import fuse_scores, gaussian_template, min_max, smooth

TINY = {
    "image_size": 16,
    "widths": (4, 4, 8, 8),
    "prototypes": 3,
    "batch_size": 2,
    "train_steps": 2,
    "meta_steps": 2,
}


def test_paper_preset_has_the_official_parameter_count() -> None:
    method = MPN(MPNOptions(**PRESETS["paper"]), "cpu")
    module, (example,) = method.inference_module()
    assert sum(p.numel() for p in module.parameters()) == 13_285_251
    assert example.shape == (1, 12, 256, 256)


def test_registers_an_adaptable_model_with_both_presets() -> None:
    specs: list[ModelSpec] = []
    vadbench_register_models(register=specs.append)
    assert [s.name for s in specs] == ["mpn"]
    assert specs[0].supports_adaptation
    assert set(specs[0].presets) == {"paper", "cpu"}
    for preset in specs[0].presets.values():
        specs[0].options(**preset)


def test_prototypes_are_convex_combinations_of_the_features() -> None:
    torch.manual_seed(0)
    unit = MetaPrototypeUnit(feature_dim=6, num_prototypes=4)
    features = F.normalize(torch.randn(2, 6, 3, 5), dim=1)
    readout = unit(features)

    assert readout.attention.shape == (2, 15, 4)
    assert readout.prototypes.shape == (2, 4, 6)
    assert readout.nearest.shape == (2, 15, 6)
    assert readout.updated.shape == features.shape
    assert (readout.attention >= 0).all()
    torch.testing.assert_close(readout.attention.sum(dim=1), torch.ones(2, 4))
    pixels = features.flatten(2)
    for b in range(2):
        for m in range(4):
            by_hand = sum(readout.attention[b, n, m] * pixels[b, :, n] for n in range(15))
            torch.testing.assert_close(readout.prototypes[b, m], by_hand)


def test_each_query_is_rebuilt_from_the_prototypes_and_added_back() -> None:
    torch.manual_seed(1)
    unit = MetaPrototypeUnit(feature_dim=4, num_prototypes=3)
    features = F.normalize(torch.randn(1, 4, 2, 2), dim=1)
    readout = unit(features)
    unit_prototypes = F.normalize(readout.prototypes[0], dim=-1)
    for n, query in enumerate(features.flatten(2)[0].T):
        similarity = unit_prototypes @ query
        rebuilt = F.normalize(torch.softmax(similarity, 0) @ unit_prototypes, dim=0)
        torch.testing.assert_close(readout.updated.flatten(2)[0, :, n], rebuilt + query)
        torch.testing.assert_close(readout.nearest[0, n], unit_prototypes[similarity.argmax()])


def test_prediction_and_compactness_losses_by_hand() -> None:
    prediction = torch.tensor([[[[0.0, 1.0]]]])
    target = torch.tensor([[[[1.0, -1.0]]]])
    assert prediction_loss(prediction, target).item() == pytest.approx((1 + 4) / 2)
    queries = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    nearest = torch.tensor([[[0.0, 0.0], [0.0, 0.5]]])
    assert compactness_loss(queries, nearest).item() == pytest.approx((1 + 0.25) / 4)
    assert feature_distance(queries, nearest).tolist() == pytest.approx([(1 + 0.25) / 4])


def test_separation_loss_by_hand() -> None:
    # Sample 1: (1,0) and (2,0) coincide once normalised (hinge 1); the other pairs are
    # sqrt(2) apart (hinge 0). Sample 2: |(1,0)-(0.6,0.8)|² = 0.8 gives hinge 0.2.
    prototypes = torch.tensor(
        [
            [[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]],
            [[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]],
        ]
    )
    expected = ((1 / 3) + (0.2 / 3)) / 2
    assert separation_loss(prototypes).item() == pytest.approx(expected)


def test_total_loss_weights_each_term() -> None:
    torch.manual_seed(2)
    method = MPN(MPNOptions(**TINY), "cpu")
    frames = torch.rand(2, 12, 16, 16) * 2 - 1
    target = torch.rand(2, 3, 16, 16) * 2 - 1
    output = method.network.run(frames)
    terms = mpn_losses(output, target, LossWeights(2.0, 3.0, 5.0))
    expected = 2 * terms["prediction"] + 3 * terms["compactness"] + 5 * terms["separation"]
    torch.testing.assert_close(terms["total"], expected)
    torch.testing.assert_close(
        terms["separation"], separation_loss(output.readout.prototypes), rtol=0, atol=0
    )


def official_filter(values: np.ndarray, taps: int, sigma: float) -> np.ndarray:
    """The official utils.filter, written out: weights sampled from the Gaussian density, the
    full window applied where it fits, the nearest such value repeated at the borders."""
    radius = taps // 2
    weights = [
        math.exp(-((i - radius) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
        for i in range(taps)
    ]
    out = np.zeros(len(values))
    for j in range(radius, len(values) - radius):
        out[j] = sum(w * values[j - radius + i] for i, w in enumerate(weights))
    out[:radius] = out[radius]
    out[len(values) - radius :] = out[len(values) - radius - 1]
    return out


def test_alpha_one_gives_the_smoothed_normalised_psnr_exactly() -> None:
    rng = np.random.default_rng(3)
    psnr, distance = rng.uniform(20, 40, 40), rng.uniform(0, 1, 40)
    template = gaussian_template(15, 2.0)
    normalised = (psnr - psnr.min()) / (psnr.max() - psnr.min())
    np.testing.assert_allclose(
        fuse_scores(psnr, distance, 1.0, template), official_filter(normalised, 15, 2.0)
    )


def test_fusion_weights_psnr_against_the_smoothed_feature_distance() -> None:
    rng = np.random.default_rng(4)
    psnr, distance = rng.uniform(20, 40, 30), rng.uniform(0, 1, 30)
    template = gaussian_template(15, 2.0)
    image = official_filter(min_max(psnr), 15, 2.0)
    feature = 1 - official_filter(min_max(distance), 15, 2.0)
    np.testing.assert_allclose(
        fuse_scores(psnr, distance, 0.3, template), 0.3 * image + 0.7 * feature
    )
    psnr_of_distance = official_filter(min_max(-10 * np.log10(distance)), 15, 2.0)
    np.testing.assert_allclose(
        fuse_scores(psnr, distance, 0.3, template, "psnr"), 0.3 * image + 0.7 * psnr_of_distance
    )


def test_smoothing_survives_videos_shorter_than_the_window() -> None:
    template = gaussian_template(15, 2.0)
    short = smooth(np.array([0.0, 1.0, 0.5]), template)
    assert short.shape == (3,)
    assert np.isfinite(short).all()
    assert smooth(np.array([]), template).shape == (0,)


def test_score_fuses_each_videos_own_psnr_and_distance() -> None:
    torch.manual_seed(5)
    options = MPNOptions(**TINY, fusion_alpha=0.7)
    method = MPN(options, "cpu")
    clip, _ = logged_video("target", 30, seed=6)
    scores = method.score(clip)

    psnr, distance = [], []
    with torch.no_grad():
        for frames in scoring_chunks(clip, 4, 16, "cpu"):
            inputs, target = prediction_windows(frames, 4)
            output = method.network.run(inputs)
            mse = (((output.prediction + 1) / 2 - (target + 1) / 2) ** 2).flatten(1).mean(1)
            psnr += (10 * torch.log10(1 / mse)).tolist()
            distance += feature_distance(output.readout.queries, output.readout.nearest).tolist()
    expected = 0.7 * official_filter(min_max(np.array(psnr)), 15, 2.0) + 0.3 * (
        1 - official_filter(min_max(np.array(distance)), 15, 2.0)
    )
    assert scores.shape == (26,)
    np.testing.assert_allclose(scores, expected, atol=1e-4)


def test_adapt_returns_a_changed_copy_and_reads_only_the_support(tmp_path: Path) -> None:
    torch.manual_seed(7)
    method = MPN(MPNOptions(**TINY, adapt_lr=0.05, adapt_steps=2), "cpu")
    before = {k: v.clone() for k, v in method.network.state_dict().items()}
    clips = [logged_video(f"clip{i}", 5, seed=i) for i in range(3)]
    support = ListSource("target", "train", tuple(v for v, _ in clips))

    adapted = method.adapt(support, fit_context(tmp_path))

    assert adapted is not method and adapted.network is not method.network
    for name, value in method.network.state_dict().items():
        assert torch.equal(value, before[name]), f"adapt changed the original's {name}"
    after = adapted.network.state_dict()
    changed = {name for name in before if not torch.equal(after[name], before[name])}
    assert changed, "adaptation changed no weight"
    assert all(name.startswith(("prototype.", "head.")) for name in changed)
    for _, log in clips:
        assert log.reads and all(0 <= a < b <= 5 for a, b in log.reads)


def test_meta_training_learns_step_sizes_that_survive_save_and_load(tmp_path: Path) -> None:
    options = MPNOptions(**TINY, meta_training=True, adapt_lr=1e-3, meta_learning_rate=1e-2)
    method = MPN(options, "cpu")
    method.fit(square_source(12, 12), None, fit_context(tmp_path))
    learned = torch.cat([s.flatten() for s in method.step_sizes.values()])
    assert not torch.all(learned == 1e-3)

    method.save(tmp_path)
    restored = MPN(options, "cpu")
    restored.load(tmp_path)
    for name, value in method.step_sizes.items():
        assert torch.equal(restored.step_sizes[name], value)


@pytest.mark.parametrize("adaptation", [False, True])
def test_meta_training_runs_by_default_exactly_when_a_kshot_row_will_adapt(
    tmp_path: Path, adaptation: bool
) -> None:
    method = MPN(MPNOptions(**TINY, adapt_lr=1e-3, meta_learning_rate=1e-2), "cpu")
    context = dataclasses.replace(fit_context(tmp_path), adaptation=adaptation)
    method.fit(square_source(12, 12), None, context)
    learned = torch.cat([s.flatten() for s in method.step_sizes.values()])
    assert bool(torch.any(learned != 1e-3)) is adaptation


def test_kshot_adaptation_at_the_cpu_preset_changes_the_target_scores(tmp_path: Path) -> None:
    """The preset's own adaptation settings (meta-training length and rate, steps, step sizes),
    on a network shrunk in width and plain-training length so that the test is quick. Without
    meta-training, the fixed step size moves the scores by under 0.001 dB here."""
    torch.manual_seed(0)
    small = {"widths": (4, 4, 8, 8), "train_steps": 20}
    method = MPN(MPNOptions(**{**PRESETS["cpu"], **small}), "cpu")
    context = dataclasses.replace(fit_context(tmp_path), adaptation=True)
    method.fit(square_source(12, 12, 12), None, context)
    support = ListSource(
        "target", "train", tuple(logged_video(f"c{i}", 5, 20 + i)[0] for i in range(4))
    )
    target, _ = logged_video("target", 30, seed=9, size=32)

    zero_shot = method.raw_scores(target)[0]
    adapted = method.adapt(support, fit_context(tmp_path)).raw_scores(target)[0]

    assert np.abs(adapted - zero_shot).max() > 0.02  # dB of PSNR


def test_cpu_preset_fits_saves_loads_and_scores_every_predicted_frame(tmp_path: Path) -> None:
    options = MPNOptions(**{**PRESETS["cpu"], "train_steps": 2})
    method = MPN(options, "cpu")
    method.fit(square_source(12, 9), None, fit_context(tmp_path))
    target, _ = logged_video("target", 23, seed=9, size=32)
    scores = method.score(target)
    assert scores.shape == (23 - 4,)
    assert np.isfinite(scores).all()

    method.save(tmp_path)
    state = torch.load(tmp_path / "mpn.pt", weights_only=True)
    assert set(state) == {"network", "step_sizes"}
    restored = MPN(options, "cpu")
    restored.load(tmp_path)
    np.testing.assert_array_equal(restored.score(target), scores)


def test_load_refuses_a_checkpoint_of_other_options(tmp_path: Path) -> None:
    MPN(MPNOptions(**TINY), "cpu").save(tmp_path)
    with pytest.raises(ValueError, match="differ"):
        MPN(MPNOptions(**{**TINY, "fusion_alpha": 0.9}), "cpu").load(tmp_path)


def test_a_non_finite_loss_stops_training_naming_the_loss_and_step(tmp_path: Path) -> None:
    method = MPN(MPNOptions(**{**TINY, "learning_rate": 1e30, "train_steps": 3}), "cpu")
    with pytest.raises(VadbenchError, match=r"mpn train: loss '\w+' is not finite at step \d"):
        method.fit(square_source(12), None, fit_context(tmp_path))


def test_training_needs_a_video_long_enough_for_one_clip(tmp_path: Path) -> None:
    with pytest.raises(VadbenchError, match="no training video"):
        MPN(MPNOptions(**TINY), "cpu").fit(square_source(4), None, fit_context(tmp_path))
