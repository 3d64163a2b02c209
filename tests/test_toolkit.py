"""The model toolkit: one PSNR for every value range, U-Net blocks, the guarded optimiser step,
and FramePredictor, with which the page-long example plugin of docs/examples runs a matrix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import CliRunner
from vadbench.harness.plugins import load_plugins
from vadbench.harness.progress import RichProgress
from vadbench.sdk.clips import SIGNED, UNIT
from vadbench.sdk.contracts import FitContext, VadbenchError
from vadbench.sdk.toolkit import Down, Up, adam, double_conv, optimiser_step, psnr
from vadbench_plugins.datasets.frames import FramesOptions, open_frames

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "unet_predictor.py"


def test_psnr_maps_every_value_range_to_a_peak_of_one() -> None:
    generator = torch.Generator().manual_seed(0)
    unit_prediction = torch.rand(5, 3, 8, 8, generator=generator)
    unit_target = torch.rand(5, 3, 8, 8, generator=generator)
    expected = 10 * torch.log10(1 / (unit_prediction - unit_target).pow(2).mean(dim=(1, 2, 3)))
    signed = psnr(unit_prediction * 2 - 1, unit_target * 2 - 1, SIGNED)
    torch.testing.assert_close(psnr(unit_prediction, unit_target, UNIT), expected)
    torch.testing.assert_close(signed, expected)
    target = torch.full((1, 3, 4, 4), 0.5)
    assert psnr(target + 0.1, target).item() == pytest.approx(20.0, abs=1e-4)
    assert psnr(target, target).item() == pytest.approx(100.0)  # capped, never inf


def test_unet_blocks_halve_and_restore_the_resolution() -> None:
    frames = torch.zeros(2, 6, 16, 16)
    skip = double_conv(6, 8)(frames)
    down = Down(8, 16)(skip)
    assert skip.shape == (2, 8, 16, 16) and down.shape == (2, 16, 8, 8)
    assert Up(16, 8)(down, skip).shape == (2, 8, 16, 16)
    bilinear = Up(16, 8, "bilinear", bias=True)
    assert bilinear(torch.zeros(2, 8, 8, 8), skip).shape == (2, 8, 16, 16)
    assert not hasattr(bilinear, "up") and bilinear.conv[0].bias is not None
    assert double_conv(6, 8).state_dict().keys() == {
        f"{layer}.{name}" for layer, names in [(0, ["weight"]), (3, ["weight"])] for name in names
    } | {f"{bn}.{name}" for bn in (1, 4) for name in BATCHNORM_STATE}


BATCHNORM_STATE = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def test_a_diverged_loss_stops_training_before_the_step() -> None:
    layer = torch.nn.Linear(2, 1)
    optimiser = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = [p.detach().clone() for p in layer.parameters()]
    loss = layer(torch.ones(1, 2)).sum() * float("nan")
    with pytest.raises(VadbenchError, match=r"my train: loss 'total' is not finite at step 7"):
        optimiser_step(optimiser, loss, 7, "my train", {"total": loss})
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))
    good = layer(torch.ones(1, 2)).pow(2).sum()
    optimiser_step(optimiser, good, 8, "my train")
    assert not all(torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))


def test_adam_is_fused_on_the_cpu_and_steps_as_the_default_adam_does() -> None:
    torch.manual_seed(0)
    fused_network, plain_network = torch.nn.Linear(6, 4), torch.nn.Linear(6, 4)
    plain_network.load_state_dict(fused_network.state_dict())
    fused = adam(fused_network.parameters(), lr=0.01, betas=(0.5, 0.9))
    plain = torch.optim.Adam(plain_network.parameters(), lr=0.01, betas=(0.5, 0.9))
    assert fused.defaults["fused"] is True and not plain.defaults["fused"]
    initial = [parameter.detach().clone() for parameter in fused_network.parameters()]
    inputs = torch.randn(16, 6)
    for _ in range(5):
        for network, optimiser in ((fused_network, fused), (plain_network, plain)):
            optimiser_step(optimiser, network(inputs).pow(2).mean(), 0, "test")
    trained = zip(fused_network.parameters(), plain_network.parameters(), initial, strict=True)
    for parameter, reference, before in trained:
        assert not torch.equal(parameter, before)
        torch.testing.assert_close(parameter, reference, rtol=1e-5, atol=1e-6)
    integer = torch.zeros(3, dtype=torch.int64)
    assert not adam([torch.zeros(3, requires_grad=True), integer], lr=0.1).defaults["fused"]


def test_the_example_plugin_trains_scores_saves_and_loads(workspace: Path) -> None:
    registry = load_plugins([EXAMPLE])
    spec = registry.models.get("unet")
    options = spec.options.model_validate({"image_size": 16, "train_steps": 5})
    dataset = open_frames(FramesOptions(root=workspace / "data" / "a"))
    torch.manual_seed(0)
    model = spec.create(options, "cpu")
    context = FitContext("cpu", 0, RichProgress(None), workspace / "checkpoint")
    model.fit(dataset.source("train"), None, context)
    video = dataset.source("test").videos()[0]
    scores = model.score(video)
    assert scores.shape == (video.num_frames - 2,) and np.isfinite(scores).all()
    (workspace / "checkpoint").mkdir()
    model.save(workspace / "checkpoint")
    reloaded = spec.create(options, "cpu")
    reloaded.load(workspace / "checkpoint")
    np.testing.assert_array_equal(reloaded.score(video), scores)
    truth, predicted = reloaded.predictions(video, [2, 5])
    assert truth.shape == predicted.shape == (2, 16, 16, 3)
    module, (example,) = reloaded.inference_module()
    assert example.shape == (1, 6, 16, 16) and module(example).shape == (1, 3, 16, 16)


def test_the_example_plugin_runs_a_matrix(workspace: Path, vadbench_cli: CliRunner) -> None:
    shutil.copy(EXAMPLE, workspace / "unet_predictor.py")
    text = (workspace / "matrix.yaml").read_text()
    text = text.replace("name: tiny", "name: tiny\nplugins: [unet_predictor.py]")
    text = text.replace(
        "models:\n",
        "models:\n  unet: {plugin: unet, overrides: {image_size: 16, train_steps: 10}}\n",
    )
    (workspace / "matrix.yaml").write_text(text)
    done = vadbench_cli("run", "matrix.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_csv(workspace / "results" / "tiny" / "results.csv")
    aucs = table[(table["model"] == "unet") & (table["metric"] == "micro_auc")]
    assert sorted(aucs["target"]) == ["a", "b"] and aucs["value"].between(0, 1).all()
