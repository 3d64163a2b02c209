"""Efficiency metrics on modules whose numbers are known by hand, energy with and without a
counter, and the profile command."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from vadbench.sdk.contracts import EfficiencyInput
from vadbench_plugins.metrics import efficiency


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.head = nn.Linear(10, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(torch.relu(self.norm(self.conv(x))))
        return self.head(y[:, :, 0, :10])


def test_parameters_and_storage() -> None:
    module = Small()
    module.head.requires_grad_(False)
    total, trainable = efficiency.count_parameters(module)
    assert total == (3 * 8 * 9 + 8) + 16 + (8 * 4 * 4 + 4) + (10 * 5 + 5)
    assert trainable == total - 55
    megabytes = efficiency.storage_megabytes(module)
    assert total * 4 / 1e6 < megabytes < total * 4 / 1e6 + 0.01


def test_paper_convention_counts_by_hand() -> None:
    example = (torch.zeros(1, 3, 16, 16),)
    gmacs, uncounted = efficiency.paper_convention_gmacs(Small(), example)
    conv = 8 * 16 * 16 * (3 * 9 + 1)  # per output element, bias counted
    norm = 2 * 8 * 16 * 16  # affine BatchNorm: 2 ops per element
    transposed = 4 * 32 * 32 * (8 * 4 + 1)  # per *output* element
    linear = 4 * 5 * 10  # rows × out × in, no bias
    assert gmacs * 1e9 == pytest.approx(conv + norm + transposed + linear)
    assert uncounted == []


def test_fvcore_count_and_skipped_ops_are_reported() -> None:
    module = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False))
    gmacs, skipped = efficiency.fvcore_gmacs(module, (torch.zeros(1, 3, 16, 16),))
    assert gmacs * 1e9 == pytest.approx(8 * 16 * 16 * 3 * 9)
    assert skipped == {}

    class WithCumsum(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(self.inner(x), dim=1)

    data = EfficiencyInput(WithCumsum(), (torch.zeros(1, 3, 16, 16),), "cpu", None)  # type: ignore[arg-type]
    fvcore_result, paper_result, dispatch_result = efficiency.gmacs_metric(data)
    assert fvcore_result.note.startswith("incomplete: skipped aten::cumsum")
    assert "no rule for WithCumsum" not in paper_result.note  # containers are not leaves
    assert dispatch_result.note == "FlopCounterMode; no formula for aten::cumsum×1"
    assert dispatch_result.value == pytest.approx(fvcore_result.value)


def test_dispatch_count_by_hand_with_the_operations_it_skips() -> None:
    example = (torch.zeros(1, 3, 16, 16),)
    gmacs, no_formula = efficiency.dispatch_gmacs(Small(), example)
    conv = 8 * 16 * 16 * 3 * 9  # multiply-adds, bias not counted
    transposed = 8 * 16 * 16 * 4 * 4  # per *input* element: each spreads over a 2×2 kernel
    linear = 4 * 5 * 10
    assert gmacs * 1e9 == pytest.approx(conv + transposed + linear)
    batch_norm = {name for name in no_formula if "batch_norm" in name}
    assert set(no_formula) == {"aten::relu", "aten::add", *batch_norm} and len(batch_norm) == 1
    assert "aten::convolution" not in no_formula and "aten::view" not in no_formula


def test_fps_reading_is_ordered_and_counts_repeats() -> None:
    reading = efficiency.measure_fps(Small(), (torch.zeros(1, 3, 16, 16),), 1, 3, 0.05)
    assert reading.repeats == 3
    assert 0 < reading.low <= reading.median <= reading.high


class ConstantPowerCounter:
    """Test double of the counter interface: a device drawing a constant power."""

    description = "constant 50 W"

    def __init__(self, watts: float) -> None:
        self.watts = watts
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop(self) -> float:
        return self.watts * (time.perf_counter() - self.started)


def test_energy_measurement_path_with_a_counting_device() -> None:
    reading = efficiency.measure_energy(
        Small(), (torch.zeros(1, 3, 16, 16),), ConstantPowerCounter(50.0), window_seconds=0.2
    )
    assert reading.seconds >= 0.2 and reading.frames > 0
    assert reading.joules_per_frame == pytest.approx(
        50.0 * reading.seconds / reading.frames, rel=0.05
    )
    assert reading.idle_watts == pytest.approx(50.0, rel=0.05)


@pytest.mark.parametrize("choice", ["auto", "nvml", "zeus", "pyjoules"])
def test_each_energy_counter_reads_or_is_na_naming_it_and_leaves_logging_alone(
    choice: str,
) -> None:
    handlers = list(logging.getLogger().handlers)
    counter, reason = efficiency.find_energy_counter(torch.device("cpu"), choice)  # type: ignore[arg-type]
    assert logging.getLogger().handlers == handlers
    data = EfficiencyInput(
        Small(),
        (torch.zeros(1, 3, 16, 16),),
        "cpu",
        None,
        {"window_seconds": 0.2, "counter": choice},
    )  # type: ignore[arg-type]
    energy, idle = efficiency.energy_metric(data)
    if counter is None:  # this project's machines have neither RAPL nor a GPU
        tried = ["zeus", "pyjoules"] if choice == "auto" else [choice]
        assert all(f"{name}: " in reason for name in tried), reason
        assert energy.value is None and energy.note == reason and idle.value is None
    else:
        assert energy.value is not None and energy.value > 0
        assert energy.note.startswith(counter.description)
    if choice == "nvml":  # NVML reads a GPU: never a CPU module's energy
        assert counter is None and "runs on cpu" in reason


def test_zeus_is_installed_and_answers_for_itself() -> None:
    """Zeus is a dev dependency: its n/a here comes from Zeus finding no counter, not from a
    missing package."""
    _, reason = efficiency.find_energy_counter(torch.device("cpu"), "zeus")
    assert "not installed" not in reason


def test_profile_command_json_rows() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vadbench", "profile", "framediff:cpu", "--metrics",
         "params,storage,energy", "--format", "json"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    rows = json.loads(done.stdout)["rows"]
    assert [r["model"] for r in rows] == ["framediff:cpu"]
    names = {m["name"]: m for m in rows[0]["metrics"]}
    assert names["params"]["value"] == 0 and names["params"]["unit"] == "M"
    assert names["storage"]["unit"] == "MB" and names["energy"]["unit"] == "J/frame"
