"""A split is listed when a model reads it: framediff, which learns nothing, never lists its
training or auxiliary data, however large; a model that reads its data gets the same videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import model_plugin, write_plugin
from vadbench.harness.run import RunOptions, run_matrix

# A frames-format dataset that counts, in a file beside it, every time a split is listed.
COUNTED_DATASET = """
from pathlib import Path

from vadbench.sdk import DatasetSpec, hookimpl
from vadbench_plugins.datasets.frames import FramesOptions, open_frames

HERE = Path(__file__).parent


class Counted:
    def __init__(self, options):
        self.inner = open_frames(options)

    def source(self, split):
        with (HERE / "listings.log").open("a") as log:
            log.write(f"{split}\\n")
        return self.inner.source(split)

    def fingerprint(self):
        return self.inner.fingerprint()


@hookimpl
def vadbench_register_datasets(register):
    register(DatasetSpec("counted", "frames, counting listings", "frames", FramesOptions, Counted))
"""


# Reads its auxiliary split twice while it trains; scores every frame 0.
READER_MODEL = model_plugin(
    "reader",
    "reads its auxiliary data",
    """
def fit(self, source, aux, ctx):
    assert len(aux.videos()) == len(aux.videos()) == 1 and aux.split == "train"
""",
)


def matrix(model: str) -> str:
    return f"""
name: lazy
plugins: [counted.py, reader.py]
datasets:
  a: {{plugin: frames, options: {{root: data/a}}}}
  big: {{plugin: counted, options: {{root: data/b}}}}
models:
  m: {model}
metrics: [micro_auc]
reporters: [json]
matrix:
  - train: a
    aux: big
    test: [a]
"""


def run_lazy(workspace: Path, model: str) -> list[str]:
    """Run the matrix with ``model`` and the counted aux set; the splits it listed."""
    write_plugin(workspace / "counted.py", COUNTED_DATASET)
    write_plugin(workspace / "reader.py", READER_MODEL)
    (workspace / "lazy.yaml").write_text(matrix(model))
    summary = run_matrix("lazy.yaml", RunOptions(results_dir=workspace / "results"))
    assert summary.exit_code == 0
    log = workspace / "listings.log"
    return log.read_text().split() if log.exists() else []


@pytest.mark.usefixtures("one_torch_thread")
def test_a_model_that_reads_no_data_lists_no_split(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    assert run_lazy(workspace, "{plugin: framediff, overrides: {image_size: 16}}") == []


@pytest.mark.usefixtures("one_torch_thread")
def test_a_model_that_reads_its_auxiliary_data_lists_it_once(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    assert run_lazy(workspace, "{plugin: reader}") == ["train"]
