"""zxVAD: sizes that reproduce the paper, every loss against a hand computation, the untrained
CNN's premise, the paste, and a short fit -> save -> load -> score round trip on tiny videos."""

from __future__ import annotations

import json
import math
import re
from argparse import Namespace
from pathlib import Path

import numpy as np
import pluggy
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.builders import write_square_dataset
from vadbench.harness.plugins import load_plugins
from vadbench.sdk import hooks as hookspecs
from vadbench.sdk.checkpoints import OPTIONS_FILE
from vadbench.sdk.contracts import FitContext, ListSource, Method, VadbenchError, Video
from vadbench_plugins.models import zxvad
from vadbench_plugins.models.zxvad import gallery, losses
from vadbench_plugins.models.zxvad.backbones import build_object_network
from vadbench_plugins.models.zxvad.frames import FrameSampler, to_model_frames
from vadbench_plugins.models.zxvad.generator import Memory
from vadbench_plugins.models.zxvad.method import WEIGHTS_FILE
from vadbench_plugins.models.zxvad.options import CPU_PRESET, PAPER_PRESET, ZxVADOptions
from vadbench_plugins.models.zxvad.synthesis import Box, paste_object, synthesize
from vadbench_plugins.models.zxvad.training import (
    ObjectSource,
    Trainer,
    build_generator,
    build_networks,
    build_object_locator,
    train,
)

TINY = {
    "context_frames": 2,
    "image_size": 32,
    "unet_widths": [4, 8, 16, 32],
    "memory_items": 16,
    "discriminator_widths": [4, 8, 8, 8],
    "classifier_widths": [4, 8, 8, 8],
    "object_network": "resnet50",
    "object_input_size": 64,
    "object_stage": 1,
    "batch_size": 2,
    "train_steps": 3,
}


@pytest.fixture(autouse=True)
def one_thread():
    """These networks are tiny: a second intra-op thread only adds waiting, and on a busy
    machine each parallel region can stall for a whole scheduler slice."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def options(**overrides: object) -> ZxVADOptions:
    return ZxVADOptions.model_validate({**TINY, **overrides})


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class SilentProgress:
    def task(self, description: str, total: int | None):
        assert description == "zxvad train"
        return lambda steps: None


def square_video(video_id: str, num_frames: int, size: int, seed: int) -> Video:
    """A textured square drifting over a flat background, held in memory."""
    rng = np.random.default_rng(seed)
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    frames[:] = rng.integers(30, 200, 3, dtype=np.uint8)
    texture = rng.integers(0, 256, (size // 3, size // 3, 3), dtype=np.uint8)
    row = int(rng.integers(0, size - size // 3))
    for index in range(num_frames):
        column = index % (size - size // 3)
        frames[index, row : row + size // 3, column : column + size // 3] = texture
    return Video(video_id, num_frames, lambda start, stop: frames[start:stop])


def square_source(name: str, count: int, num_frames: int, size: int = 32) -> ListSource:
    return ListSource(
        name, "train", tuple(square_video(f"{i:02d}", num_frames, size, i) for i in range(count))
    )


def fit_context(tmp_path: Path, seed: int = 0) -> FitContext:
    return FitContext("cpu", seed, SilentProgress(), tmp_path)


# --- sizes -------------------------------------------------------------------------------------


def test_paper_generator_has_the_papers_parameter_count_and_storage() -> None:
    paper = ZxVADOptions.model_validate(PAPER_PRESET)
    generator = build_generator(paper)
    unet_alone = build_generator(paper.model_copy(update={"use_memory": False}))
    assert parameter_count(unet_alone) == 7_707_011
    assert parameter_count(generator) == 8_731_011
    storage_mb = parameter_count(generator) * 4 / 1e6
    assert storage_mb == pytest.approx(34.92, rel=0.01)


@pytest.mark.parametrize("preset", [PAPER_PRESET, CPU_PRESET], ids=["paper", "cpu"])
def test_output_shapes_of_every_network(preset: dict[str, object]) -> None:
    o = ZxVADOptions.model_validate(preset)
    size, t = o.image_size, o.context_frames
    networks = build_networks(o)
    with torch.no_grad():
        prediction = networks.generator.eval().predict(torch.zeros(1, 3 * t, size, size))
        frame = prediction.frame
        patches = networks.classifier.eval().features(frame)
        judged = networks.discriminator.eval()(frame)
    assert frame.shape == (1, 3, size, size)
    assert float(frame.abs().max()) <= 1.0
    bottleneck_cells = (size // 8) ** 2
    assert prediction.memory_weights is not None
    assert prediction.memory_weights.shape == (bottleneck_cells, o.memory_items)
    hidden_side, score_side = size // 8 - 1, size // 8 - 2  # 31 and 30 at 256, as in pix2pix
    assert patches.hidden.shape == (1, o.classifier_widths[-1], hidden_side, hidden_side)
    assert patches.scores.shape == judged.shape == (1, 1, score_side, score_side)
    assert networks.relative_attention.class_centres.shape == (hidden_side**2, 2)


# --- memory ------------------------------------------------------------------------------------


def test_memory_addressing_is_sparse_after_shrinkage_and_sums_to_one() -> None:
    torch.manual_seed(0)
    memory = Memory(items=2000, dims=32, shrink_threshold=0.0005)
    queries = torch.randn(6, 32)
    weights = memory.address(queries)
    assert torch.allclose(weights.sum(dim=1), torch.ones(6), atol=1e-5)
    zero_share = (weights == 0).float().mean(dim=1)
    assert bool((zero_share > 0.25).all()), zero_share
    # By hand: softmax of cosine similarity, entries below λ dropped, the rest renormalised.
    cosine = (queries / queries.norm(dim=1, keepdim=True)) @ (
        memory.items / memory.items.norm(dim=1, keepdim=True)
    ).t()
    soft = cosine.exp() / cosine.exp().sum(dim=1, keepdim=True)
    kept = torch.where(soft > 0.0005, soft, torch.zeros_like(soft))
    assert torch.allclose(weights, kept / kept.sum(dim=1, keepdim=True), atol=1e-6)


# --- losses by hand ----------------------------------------------------------------------------


def test_backbone_losses_match_hand_computations() -> None:
    prediction = torch.tensor([[[[0.0, 0.5, -0.5], [1.0, 0.0, 0.25]]]])
    truth = torch.tensor([[[[0.5, 0.5, 0.0], [0.0, 0.0, 0.25]]]])
    # MSE: squared errors 0.25, 0, 0.25, 1, 0, 0 over 6 pixels.
    assert float(losses.intensity_loss(prediction, truth)) == pytest.approx(1.5 / 6)
    # Gradient loss: |dx| of prediction 0.5, 1.0 | 1.0, 0.25; of truth 0, 0.5 | 0, 0.25;
    # |dy| of prediction 1.0, 0.5, 0.75; of truth 0.5, 0.5, 0.25.
    x_term = (0.5 + 0.5 + 1.0 + 0.0) / 4
    y_term = (0.5 + 0.0 + 0.5) / 3
    assert float(losses.gradient_loss(prediction, truth)) == pytest.approx(x_term + y_term)
    # 1 − SSIM of two flat images: only the luminance term survives,
    # SSIM = (2ab + C1)·C2 / ((a² + b² + C1)·C2) with a, b in [0, 1], C1 = 0.01², C2 = 0.03².
    flat_prediction = torch.full((1, 3, 16, 16), 0.2)
    flat_truth = torch.full((1, 3, 16, 16), -0.4)
    a, b, c1 = 0.6, 0.3, 0.01**2
    expected_ssim = (2 * a * b + c1) / (a * a + b * b + c1)
    assert float(losses.structure_loss(flat_prediction, flat_truth, 11)) == pytest.approx(
        1 - expected_ssim, abs=1e-5
    )
    # Memory entropy: rows (½, ½, 0) and (1, 0, 0) have entropies ln 2 and 0.
    weights = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    assert float(losses.memory_entropy(weights)) == pytest.approx(math.log(2) / 2)


def test_gan_and_normalcy_losses_match_hand_computations() -> None:
    # Two frames x two patches each.
    normal = torch.tensor([[0.2, 0.9], [0.6, 0.1]]).view(2, 1, 1, 2)
    abnormal = torch.tensor([[0.1, 0.3], [0.5, 0.7]]).view(2, 1, 1, 2)
    # L_N = ½·mean((N(v̂) − 1)²) + ½·mean(N(ṽ)²)
    expected_ln = 0.5 * (0.64 + 0.01 + 0.16 + 0.81) / 4 + 0.5 * (0.01 + 0.09 + 0.25 + 0.49) / 4
    assert float(losses.normalcy_loss(normal, abnormal)) == pytest.approx(expected_ln)
    # L_RN: per patch, E[N(ṽ)] = (0.3, 0.5) and E[N(v̂)] = (0.4, 0.5).
    normal_part = ((0.2 - 0.3 - 1) ** 2 + (0.9 - 0.5 - 1) ** 2) + (
        (0.6 - 0.3 - 1) ** 2 + (0.1 - 0.5 - 1) ** 2
    )
    abnormal_part = ((0.1 - 0.4 + 1) ** 2 + (0.3 - 0.5 + 1) ** 2) + (
        (0.5 - 0.4 + 1) ** 2 + (0.7 - 0.5 + 1) ** 2
    )
    expected_lrn = 0.5 * normal_part / 4 + 0.5 * abnormal_part / 4
    assert float(losses.relative_normalcy_loss(normal, abnormal)) == pytest.approx(expected_lrn)
    # D's least-squares terms: ½E[D(v̂)²] + ½E[(D(v) − 1)²].
    fake, real = torch.tensor([0.4, -0.2]), torch.tensor([0.9, 1.3])
    expected_d = 0.5 * (0.16 + 0.04) / 2 + 0.5 * (0.01 + 0.09) / 2
    d_loss = losses.least_squares(fake, 0.0) + losses.least_squares(real, 1.0)
    assert float(d_loss) == pytest.approx(expected_d)


def test_attention_and_attention_affirmation_loss_match_hand_computations() -> None:
    features = torch.tensor([[[[1.0, -3.0], [2.0, 0.0]], [[1.0, 1.0], [2.0, 0.5]]]])
    # Negative responses cut, then channel sums 2, 1, 4, 0.5, divided by the max 4.
    attention = losses.scda_attention(features)
    assert torch.allclose(attention, torch.tensor([[[0.5, 0.25], [1.0, 0.125]]]))
    normal_attention = torch.tensor([[[1.0, 0.5], [0.0, 1.0]]])
    abnormal_attention = torch.tensor([[[0.0, 1.0], [0.5, 0.0]]])
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, :2, 2:] = 1.0  # top-right cell fully covered
    mask[0, 0, 2, :2] = 1.0  # bottom-left cell half covered
    # Targets per 2x2 cell: 0, 1, 0.5, 0.
    normal_term = 0.5 * (0 + 0.25 + 1 + 0) / 4
    abnormal_term = 0.5 * (0 + 0 + 0 + 0) / 4
    loss = losses.attention_affirmation_loss(normal_attention, abnormal_attention, mask)
    assert float(loss) == pytest.approx(normal_term + abnormal_term)
    wrong = losses.attention_affirmation_loss(normal_attention, 1 - abnormal_attention, mask)
    assert float(wrong) == pytest.approx(normal_term + 0.5 * (1 + 1 + 0 + 1) / 4)


def test_relative_attention_loss_is_arcface_eq5_by_hand() -> None:
    torch.manual_seed(3)
    cells = 6
    loss_module = losses.RelativeAttentionLoss(cells, margin_degrees=28.6, scale=64.0)
    with torch.no_grad():  # class centres well apart, so every angle stays in ArcFace's main branch
        loss_module.class_centres.copy_(
            torch.tensor([[1, 0], [0, 1], [1, 0], [0, 1], [1, 1], [1, 1]])
        )
    normal = torch.rand(2, 2, 3)
    augmented = torch.rand(2, 2, 3)
    abnormal = torch.rand(2, 2, 3)
    embeddings = torch.cat([normal.flatten(1), augmented.flatten(1), abnormal.flatten(1)])
    labels = [1, 1, 1, 1, 0, 0]
    centres = F.normalize(loss_module.class_centres.detach(), dim=0)
    cosines = F.normalize(embeddings, dim=1) @ centres
    margin = math.radians(28.6)
    per_sample = []
    for row, label in enumerate(labels):
        angle = math.acos(float(cosines[row, label]))
        assert angle + margin <= math.pi
        target = math.exp(64 * math.cos(angle + margin))
        other = math.exp(64 * float(cosines[row, 1 - label]))
        per_sample.append(-math.log(target / (target + other)))
    expected = sum(per_sample) / len(per_sample)
    assert loss_module(normal, augmented, abnormal).item() == pytest.approx(expected, rel=1e-4)
    assert loss_module.class_centres.requires_grad


# --- training wiring ---------------------------------------------------------------------------


def test_generator_gets_gradients_from_the_normalcy_classifier_term_alone() -> None:
    torch.manual_seed(0)
    o = options(use_gan=False, mixing="cutmix")
    trainer = Trainer(o, "cpu")
    clips = square_source("a", 1, 8).videos()[0].frames(0, 6)
    batch = torch.stack([to_model_frames(clips[i : i + 3], o.image_size, "cpu") for i in range(3)])
    terms, _ = trainer.generator_losses(batch)
    (o.classifier_weight * terms["classifier"]).backward()
    generator = trainer.networks.generator
    grads = {name: p.grad for name, p in generator.named_parameters()}
    assert all(g is not None and float(g.abs().sum()) > 0 for g in grads.values()), [
        name for name, g in grads.items() if g is None or float(g.abs().sum()) == 0
    ]


def test_object_network_r_never_changes_during_training() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    o = options(object_pool_size=0, train_steps=3)
    trainer = Trainer(o, "cpu")
    assert trainer.locator is not None
    network = trainer.locator.network
    before = {name: t.clone() for name, t in network.state_dict().items()}
    assert not any(p.requires_grad for p in network.parameters())
    clips = FrameSampler(square_source("a", 2, 12), 3, o.image_size, "cpu", 1 << 24)
    train(trainer, clips, clips, rng, lambda steps: None)
    assert not network.training
    after = network.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    generator_weight = trainer.networks.generator.output.weight
    assert not torch.equal(generator_weight, build_generator(o).output.weight)


ABLATIONS = {
    "paper": ({}, {"L_N", "L_RN", "L_AA", "L_RAA", "adversarial", "memory_entropy"}),
    "AE": ({"use_gan": False, "use_memory": False}, {"L_N", "L_RN", "L_AA", "L_RAA"}),
    "GAN-M, L_N only": (
        {"use_lrn": False, "use_laa": False, "use_lraa": False},
        {"L_N", "adversarial", "memory_entropy"},
    ),
    "no classifier": (
        {"use_ln": False, "use_lrn": False, "use_laa": False, "use_lraa": False},
        {"adversarial", "memory_entropy"},
    ),
    "score-map attention, patch": (
        {"attention_map": "score", "mixing": "patch"},
        {"L_N", "L_RN", "L_AA", "L_RAA", "adversarial", "memory_entropy"},
    ),
    "AE-M, mixup": (
        {"mixing": "mixup", "use_gan": False},
        {"L_N", "L_RN", "L_AA", "L_RAA", "memory_entropy"},
    ),
    "alexnet R": (
        {"object_network": "alexnet", "object_stage": 2},
        {"L_N", "L_RN", "L_AA", "L_RAA", "adversarial", "memory_entropy"},
    ),
    "mnasnet R, no memory": (
        {"object_network": "mnasnet", "use_memory": False},
        {"L_N", "L_RN", "L_AA", "L_RAA", "adversarial"},
    ),
}


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_ablation_switches_train_exactly_the_enabled_losses(name: str) -> None:
    overrides, expected = ABLATIONS[name]
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    o = options(**overrides)
    trainer = Trainer(o, "cpu")
    clips = FrameSampler(square_source("a", 2, 12), 3, o.image_size, "cpu", 1 << 24)
    objects = ObjectSource(clips, trainer, 0, rng)
    sources, masks = objects.draw(o.batch_size, rng)
    logged = trainer.step(0, clips.clips(o.batch_size, rng), sources, masks, rng)
    base = {"mse", "ssim", "gradient"}
    base |= {"classifier"} if o.trains_classifier else set()  # α_N·½(N(v̂)−1)² in G's loss
    base |= {"discriminator"} if o.use_gan else set()
    assert set(logged) == expected | base
    assert all(np.isfinite(value) for value in logged.values())


# --- pseudo-anomalies --------------------------------------------------------------------------


def textured_object_frames(count: int, seed: int, size: int = 64):
    """Flat random-colour backgrounds with one uniform-noise rectangle (25-60 % of the side)."""
    rng = np.random.default_rng(seed)
    frames = np.empty((count, 3, size, size), dtype=np.float32)
    truth = np.zeros((count, size, size), dtype=bool)
    for index in range(count):
        frames[index] = rng.uniform(-0.8, 0.8, (3, 1, 1))
        height, width = rng.integers(size // 4, int(size * 0.6), 2)
        top, left = rng.integers(0, size - height), rng.integers(0, size - width)
        frames[index, :, top : top + height, left : left + width] = rng.uniform(
            -1, 1, (3, height, width)
        )
        truth[index, top : top + height, left : left + width] = True
    return torch.from_numpy(frames), torch.from_numpy(truth)


def test_untrained_cnn_finds_a_textured_object_on_a_flat_background() -> None:
    cpu = ZxVADOptions.model_validate(CPU_PRESET)
    ious = []
    for seed in range(3):
        torch.manual_seed(seed)
        locator = build_object_locator(cpu)
        frames, truth = textured_object_frames(8, seed)
        found = locator(frames)[:, 0] > 0.5
        ious += ((found & truth).sum((1, 2)) / (found | truth).sum((1, 2))).tolist()
    assert np.mean(ious) >= 0.5, ious
    # Without centring, the flat background lights up as much as the object: the premise fails.
    flat = build_object_locator(cpu.model_copy(update={"object_centering": "none"}))
    frames, truth = textured_object_frames(8, 0)
    everywhere = flat(frames)[:, 0] > 0.5
    assert float(everywhere.float().mean()) > 0.9


@pytest.mark.parametrize("name", ["resnet50", "resnet152", "densenet161", "alexnet", "mnasnet"])
def test_every_object_network_has_four_stages_down_to_stride_32(name: str) -> None:
    network = build_object_network(name)
    network.train()
    assert not network.training
    assert not any(p.requires_grad for p in network.parameters())
    with torch.no_grad():
        sides = [network(torch.randn(1, 3, 64, 64), stage).shape[-1] for stage in (1, 2, 3, 4)]
    expected = {"alexnet": [15, 7, 3, 1]}.get(name, [16, 8, 4, 2])
    assert sides == expected


def coded_source(size: int) -> torch.Tensor:
    """A frame whose every pixel is unique: channel 0 encodes the row, channel 1 the column."""
    rows = torch.arange(size).view(size, 1).expand(size, size)
    columns = torch.arange(size).view(1, size).expand(size, size)
    return torch.stack([rows / size, columns / size, torch.full((size, size), 0.9)])


def decode(pixels: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return (pixels[0] * size).round().long(), (pixels[1] * size).round().long()


def test_scda_paste_changes_exactly_the_masked_pixels_and_only_with_object_pixels() -> None:
    size = 32
    rng = np.random.default_rng(0)
    source = coded_source(size)
    object_mask = torch.zeros(size, size)
    object_mask[5:20, 8:14] = 1.0
    object_mask[12:16, 14:25] = 1.0  # an L-shaped object: its box holds non-object pixels too
    targets = torch.full((12, 3, size, size), -0.5)
    anomalies = synthesize(
        "scda",
        targets,
        source.expand(12, -1, -1, -1),
        object_mask.expand(12, 1, -1, -1),
        rng,
    )
    for frame, mask in zip(anomalies.frames, anomalies.masks, strict=True):
        pasted = mask[0] > 0.5
        assert pasted.any()
        assert torch.equal((frame != -0.5).any(dim=0), pasted)
        rows, columns = decode(frame[:, pasted], size)
        assert bool((object_mask[rows, columns] == 1).all())


def test_paste_object_follows_the_box_with_nearest_neighbour_resizing() -> None:
    size = 16
    source = coded_source(size)
    object_mask = torch.zeros(size, size)
    object_mask[2:6, 4:8] = 1.0
    object_mask[2, 4] = 0.0
    target = torch.zeros(3, size, size)
    frame, mask = paste_object(target, source, object_mask, Box(top=8, left=1, height=8, width=2))
    expected_mask = torch.zeros(size, size)
    # Box rows 8..15 read object rows 2 + (0..7)·4 // 8, columns 4 + (0, 1)·4 // 2.
    for r in range(8):
        for c in range(2):
            source_row, source_column = 2 + r * 4 // 8, 4 + c * 4 // 2
            if object_mask[source_row, source_column]:
                expected_mask[8 + r, 1 + c] = 1
                assert torch.equal(frame[:, 8 + r, 1 + c], source[:, source_row, source_column])
    assert torch.equal(mask[0], expected_mask)
    assert torch.equal(frame[:, expected_mask == 0], target[:, expected_mask == 0])


@pytest.mark.parametrize("mixing", ["cutmix", "patch"])
def test_box_mixing_copies_a_source_box_exactly_where_the_mask_is(mixing: str) -> None:
    size = 24
    rng = np.random.default_rng(1)
    targets = torch.full((6, 3, size, size), -0.5)
    sources = coded_source(size).expand(6, -1, -1, -1)
    anomalies = synthesize(mixing, targets, sources, None, rng)
    assert set(anomalies.masks.unique().tolist()) == {0.0, 1.0}
    offsets = set()
    for frame, mask in zip(anomalies.frames, anomalies.masks, strict=True):
        pasted = mask[0] > 0.5
        assert torch.equal(frame[:, ~pasted], torch.full_like(frame[:, ~pasted], -0.5))
        rows, columns = decode(frame[:, pasted], size)
        where = torch.nonzero(pasted)
        shift = torch.stack([rows, columns], dim=1) - where
        assert len(shift.unique(dim=0)) == 1  # one rigid box, copied pixel for pixel
        offsets.add(tuple(shift[0].tolist()))
    # CutMix copies the same place of the source; the patch strategy another place.
    assert (offsets == {(0, 0)}) == (mixing == "cutmix")


def test_mixup_blends_whole_frames_with_the_mask_as_the_source_share() -> None:
    rng = np.random.default_rng(2)
    targets = torch.full((4, 3, 8, 8), -0.5)
    sources = coded_source(8).expand(4, -1, -1, -1)
    anomalies = synthesize("mixup", targets, sources, None, rng)
    share = anomalies.masks
    assert torch.allclose(share, share[:, :, :1, :1].expand_as(share))
    assert torch.allclose(anomalies.frames, (1 - share) * targets + share * sources, atol=1e-6)
    assert len(share[:, 0, 0, 0].unique()) == 4


# --- the method --------------------------------------------------------------------------------


@pytest.mark.parametrize("with_aux", [True, False], ids=["vad+ti", "one-source"])
def test_fit_save_load_score_round_trip(tmp_path: Path, with_aux: bool) -> None:
    o = options(object_pool_size=4)
    method = zxvad.create(o, "cpu")
    assert isinstance(method, Method)
    source = square_source("vad", 3, 10)
    aux = square_source("ti", 2, 4) if with_aux else None
    method.fit(source, aux, fit_context(tmp_path))
    method.save(tmp_path)
    stored = torch.load(tmp_path / WEIGHTS_FILE, weights_only=True)
    assert set(stored) == {"generator", "discriminator", "classifier", "relative_attention"}
    assert json.loads((tmp_path / OPTIONS_FILE).read_text())["image_size"] == 32

    video = square_video("test", 13, 40, seed=9)
    scores = method.score(video)
    assert scores.shape == (13 - o.context_frames,)
    assert np.isfinite(scores).all()

    reloaded = zxvad.create(o, "cpu")
    reloaded.load(tmp_path)
    assert np.allclose(reloaded.score(video), scores, atol=1e-5)

    again = zxvad.create(o, "cpu")
    again.fit(source, aux, fit_context(tmp_path / "again"))
    assert np.array_equal(again.score(video), scores)  # the seed fixes the whole run

    module, (example,) = reloaded.inference_module()
    assert example.shape == (1, 3 * o.context_frames, 32, 32)
    assert module is reloaded.generator
    with torch.no_grad():
        assert module(example).shape == (1, 3, 32, 32)


def test_loading_a_checkpoint_with_other_options_is_refused(tmp_path: Path) -> None:
    method = zxvad.create(options(), "cpu")
    method.save(tmp_path)
    with pytest.raises(VadbenchError, match="options differ"):
        zxvad.create(options(memory_items=8), "cpu").load(tmp_path)


def nan_video() -> Video:
    frames = np.full((8, 32, 32, 3), np.nan, dtype=np.float32)
    return Video("nan", 8, lambda start, stop: frames[start:stop])


@pytest.mark.parametrize(
    ("overrides", "source", "step"),
    [
        ({}, ListSource("broken", "train", (nan_video(),)), 0),
        ({"lr_generator": 1e30}, square_source("vad", 2, 10), 1),
    ],
    ids=["nan-frames", "diverging-learning-rate"],
)
def test_non_finite_loss_stops_training_naming_loss_and_step(
    tmp_path: Path, overrides: dict[str, object], source: ListSource, step: int
) -> None:
    method = zxvad.create(options(mixing="cutmix", train_steps=4, **overrides), "cpu")
    with pytest.raises(VadbenchError) as caught:
        method.fit(source, None, fit_context(tmp_path))
    message = str(caught.value)
    assert re.fullmatch(rf"zxvad: loss \w+ is (nan|inf|-inf) at training step {step}", message)


def test_plugin_registers_the_model_with_valid_presets_and_the_gallery_command() -> None:
    manager = pluggy.PluginManager("vadbench")
    manager.add_hookspecs(hookspecs)
    manager.register(zxvad)
    models, commands = [], []
    manager.hook.vadbench_register_models(register=models.append)
    manager.hook.vadbench_register_commands(register=commands.append)
    (spec,) = models
    assert spec.name == "zxvad" and spec.options is ZxVADOptions
    assert set(spec.presets) == {"paper", "cpu"}
    for preset in spec.presets.values():
        ZxVADOptions.model_validate(preset)
    assert [c.name for c in commands] == ["zxvad-gallery"]


def test_gallery_command_writes_a_grid_from_a_matrix_dataset(tmp_path: Path) -> None:
    write_square_dataset(tmp_path / "data", [12, 12], [np.zeros(12, dtype=np.uint8)], size=32)
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        f"datasets:\n  squares: {{plugin: frames, options: {{root: {tmp_path / 'data'}}}}}\n"
        "models:\n  fd: {plugin: framediff}\n"
        "matrix:\n  - {train: squares, test: [squares]}\n"
    )
    registry = load_plugins([], [])
    own: list = []
    zxvad.vadbench_register_models(own.append)
    registry.models.items.setdefault("zxvad", own[0])
    out = tmp_path / "gallery.png"
    args = Namespace(
        matrix=matrix,
        dataset="squares",
        objects=None,
        preset="cpu",
        split="train",
        count=3,
        seed=0,
        out=out,
    )
    assert gallery.run(args, registry) == 0
    image = Image.open(out)
    tile = max(64, gallery.MIN_TILE)
    assert image.size == (gallery.LABEL_WIDTH + 3 * (tile + gallery.GAP), 4 * (tile + gallery.GAP))
