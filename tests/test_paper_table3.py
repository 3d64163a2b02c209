"""benchmarks/paper_table3.yaml against the paper's Table 3: parameters and storage within 1%,
the paper-convention GMACs within 3%, for zxVAD, MPN and rGAN at their paper presets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vadbench.commands.profile import read_profile_file
from vadbench.harness.plugins import load_plugins
from vadbench_plugins.metrics.efficiency import (
    count_parameters,
    paper_convention_gmacs,
    storage_megabytes,
)

TABLE3 = Path(__file__).resolve().parents[1] / "benchmarks" / "paper_table3.yaml"


@pytest.mark.parametrize("model", ["zxVAD", "MPN", "rGAN"])
def test_paper_presets_reproduce_table3(model: str) -> None:
    profile = read_profile_file(TABLE3)
    entry, reference = profile.models[model], profile.reference[model]
    spec = load_plugins().models.get(entry.plugin)
    assert entry.preset is not None
    options = spec.options.model_validate(dict(spec.presets[entry.preset]))
    torch.manual_seed(0)
    module, example = spec.create(options, "cpu").inference_module()
    total, _ = count_parameters(module)
    assert total / 1e6 == pytest.approx(reference["params"], rel=0.01)
    assert storage_megabytes(module) == pytest.approx(reference["storage"], rel=0.01)
    gmacs, _ = paper_convention_gmacs(module, example)
    assert gmacs == pytest.approx(reference["gmacs_paper"], rel=0.03)
