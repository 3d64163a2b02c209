"""The paper's experiment matrices (benchmarks/paper_table3_auc.yaml, paper_table4.yaml,
paper_table5.yaml, paper_fig5.yaml) run unchanged on anyone's data: each passes ``vadbench
check`` and runs end to end on tiny copies of the real releases, in their real on-disk layouts,
under the folder ``$VADBENCH_DATA`` names; the leaderboard prints the paper's numbers beside the
measured ones; and a missing dataset is named before anything trains.

The runs are shrunk only through ``--set`` (tiny architectures, a 2-step budget, 16x16 frames),
so what is checked is the shipped files' own datasets, models, rows and reference blocks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.builders import TINY_MODELS
from tests.corpus_support import run_cli
from tests.dataset_fixtures import (
    annotation_line,
    build_avenue,
    build_hmdb51,
    build_jester,
    build_shanghaitech,
    build_ucf101,
    build_ucfcrime,
    build_ucsd,
)

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# The paper's numbers in percent, transcribed from the paper's text independently of the YAML
# files: (model, source as the leaderboard names it, target) -> AUC %.
PAPER_NUMBERS: dict[str, dict[tuple[str, str, str], float]] = {
    "paper_table3_auc.yaml": {  # Table 3, "Same Dataset Testing"
        ("rGAN", "sht_dc", "sht_dc"): 70.11,
        ("rGAN", "ped2", "ped2"): 96.90,
        ("rGAN", "sht", "sht"): 77.90,
        ("MPN", "sht_dc", "sht_dc"): 67.47,
        ("MPN", "ped2", "ped2"): 96.20,
        ("MPN", "sht", "sht"): 73.80,
        ("zxVAD", "sht_dc", "sht_dc"): 70.85,
        ("zxVAD", "ped2", "ped2"): 96.95,
        ("zxVAD", "sht", "sht"): 71.60,
    },
    "paper_table4.yaml": {
        **{
            (model, source, target): value
            for model, source, values in [
                ("rGAN", "sht", (73.10, 81.95, 71.43)),
                ("MPN", "sht", (74.45, 90.17, 74.06)),
                ("zxVAD", "sht", (76.14, 95.78, 82.28)),
                ("zxVAD", "sht + hmdb", (75.62, 95.74, 83.19)),
                ("zxVAD", "sht + ucf101", (75.41, 95.80, 82.25)),
                ("zxVAD", "sht + jester", (75.93, 95.62, 82.49)),
                ("rGAN", "ucfc", (66.87, 62.53, 64.32)),
                ("MPN", "ucfc", (75.52, 86.04, 82.26)),
                ("zxVAD", "ucfc", (78.61, 91.65, 81.11)),
                ("zxVAD", "ucfc + hmdb", (78.02, 87.66, 81.50)),
                ("zxVAD", "ucfc + ucf101", (76.27, 86.80, 81.45)),
                ("zxVAD", "ucfc + jester", (78.39, 88.71, 81.55)),
            ]
            for target, value in zip(("ped1", "ped2", "avenue"), values, strict=True)
        }
    },
    "paper_table5.yaml": {
        (model, source, target): value
        for model, source, values in [
            ("zxVAD", "hmdb", (76.66, 91.53, 81.92)),
            ("zxVAD", "ucf101", (75.67, 85.84, 81.78)),
            ("zxVAD", "jester", (78.12, 91.23, 78.06)),
        ]
        for target, value in zip(("ped1", "ped2", "avenue"), values, strict=True)
    },
    "paper_fig5.yaml": {  # the caption's dotted SOTA lines: MPN from SHT
        ("MPN", "sht", "ped1"): 74.45,
        ("MPN", "sht", "ped2"): 90.17,
        ("MPN", "sht", "avenue"): 74.06,
    },
}

TEST_LENGTH = 10
# Both classes remain after the protocol drops the first T frames (T is at most 4 here).
TEST_LABELS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 0], dtype=np.uint8)


def avenue_masks(labels: np.ndarray) -> np.ndarray:
    """volLabel masks that mark a box on the anomalous frames."""
    volume = np.zeros((len(labels), 16, 16), dtype=np.uint8)
    volume[labels > 0, 4:10, 4:10] = 1
    return volume


def build_paper_data(root: Path) -> Path:
    """Every dataset the paper configs read, each a tiny copy of its release in the layout and
    under the folder name the configs expect below ``$VADBENCH_DATA``."""
    ucsd = root / "UCSD_Anomaly_Dataset.v1p2"
    for subset in ("UCSDped1", "UCSDped2"):
        build_ucsd(ucsd, subset, [8, 8], [[(6, 9)], [(2, 5)]], [TEST_LENGTH, TEST_LENGTH])
    avenue = build_avenue(
        root / "Avenue Dataset", [8, 8], [avenue_masks(TEST_LABELS), avenue_masks(TEST_LABELS)]
    )
    # MNAD's concatenated frame labels, the standard Avenue labels the configs read
    np.save(avenue / "frame_labels_avenue.npy", np.concatenate([TEST_LABELS, TEST_LABELS])[None])
    train_scenes = ["01", "02", "03", "04", "05", "06", "07", "13"]  # SHT_dc's default train
    build_shanghaitech(
        root / "shanghaitech",
        train_ids=[f"{scene}_001" for scene in train_scenes],
        test_labels={f"{scene}_0001": TEST_LABELS for scene in ("08", "09", "10", "11", "12")},
        train_length=8,
        pixel_masks=False,
    )
    build_ucfcrime(
        root / "UCF_Crimes",
        {
            "Anomaly-Videos-Part-1/Abuse/Abuse001_x264.mp4": ("libx264", 8),
            "Anomaly-Videos-Part-1/Abuse/Abuse028_x264.mp4": ("libx264", TEST_LENGTH),
            "Training_Normal_Videos_Anomaly/Normal_Videos003_x264.mp4": ("libx264", 8),
            "Training_Normal_Videos_Anomaly/Normal_Videos006_x264.mp4": ("libx264", 8),
            "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4": ("libx264", TEST_LENGTH),
        },
        [
            "Abuse/Abuse001_x264.mp4",
            "Training_Normal_Videos_Anomaly/Normal_Videos003_x264.mp4",
            "Training_Normal_Videos_Anomaly/Normal_Videos006_x264.mp4",
        ],
        [
            annotation_line("Abuse028_x264.mp4", "Abuse", [(6, 9)]),
            annotation_line("Normal_Videos_003_x264.mp4", "Normal", []),
        ],
    )
    build_hmdb51(
        root,
        {
            "brush_hair": [("brush_hair_a_0.avi", "1"), ("brush_hair_b_0.avi", "2")],
            "cartwheel": [("cartwheel_a_0.avi", "1"), ("cartwheel_b_0.avi", "0")],
        },
        num_frames=8,
    )
    build_ucf101(
        root,
        ["ApplyEyeMakeup", "HandstandPushups"],
        [
            "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
            "HandstandPushups/v_HandStandPushups_g08_c01.avi",
        ],
        ["HandstandPushups/v_HandStandPushups_g01_c02.avi"],
        test_labels=False,
        num_frames=8,
    )
    build_jester(root / "jester", {"1": ("Swiping Left", 8), "2": ("Doing other things", 8)})
    return root


@pytest.fixture(scope="module")
def paper_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_paper_data(tmp_path_factory.mktemp("paper-data"))


def config(name: str) -> dict[str, Any]:
    return yaml.safe_load((BENCHMARKS / name).read_text())


def tiny_overrides(document: dict[str, Any]) -> list[str]:
    """``--set`` arguments that shrink a paper config to seconds on a CPU: tiny architectures
    (each model keeps the options its own entry sets, so every ablation still differs), two
    training steps, 16x16 frames, one thread, fewer bootstrap rounds."""
    sets = ["device=cpu", "threads=1", "budget.steps=2", "statistics.resamples=100"]
    # The leaderboard files the test reads; the terminal and LaTeX tables render the same data.
    sets.append("reporters=[markdown, json]")
    for name, entry in document["models"].items():
        own = entry.get("overrides", {})
        # R stays the network the config names (Fig. 5(d) compares them); only its input shrinks.
        tiny = {k: v for k, v in TINY_MODELS[entry["plugin"]].items() if k != "object_network"}
        for option, value in tiny.items():
            if option not in own:
                sets.append(f"models.{name}.overrides.{option}={json.dumps(value)}")
    for name in document["datasets"]:
        sets.append(f"datasets.{name}.options.frame_size=[16, 16]")
    return [argument for value in sets for argument in ("--set", value)]


@pytest.mark.parametrize("name", sorted(PAPER_NUMBERS))
def test_reference_block_holds_the_papers_numbers(name: str) -> None:
    """Every number of the paper's table is in the config, as a fraction, under the model,
    source label and target the leaderboard uses; nothing else is."""
    reference = config(name)["reference"]
    assert reference["metric"] == "micro_auc" and "zxVAD paper" in reference["source"]
    found = {
        (model, source, target): value
        for model, sources in reference["values"].items()
        for source, targets in sources.items()
        for target, value in targets.items()
    }
    assert found.keys() == PAPER_NUMBERS[name].keys()
    for key, percent in PAPER_NUMBERS[name].items():
        assert found[key] == pytest.approx(percent / 100, abs=1e-9), key


def test_dataset_roots_come_from_the_environment() -> None:
    """No shipped paper config names a folder of one machine."""
    for name in PAPER_NUMBERS:
        for key, entry in config(name)["datasets"].items():
            assert entry["options"]["root"].startswith("${VADBENCH_DATA}/"), (name, key)


def source_label(train: str, aux: str | None) -> str:
    return f"{train} + {aux}" if aux else train


@pytest.mark.parametrize("name", sorted(PAPER_NUMBERS))
def test_check_passes_and_the_config_runs_end_to_end(
    name: str,
    paper_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    one_torch_thread: None,
) -> None:
    """``check`` accepts the shipped file as it is on data in the release layouts; ``run``
    trains every cell with its own options, scores every target, and prints the paper's
    number beside each measured one."""
    monkeypatch.setenv("VADBENCH_DATA", str(paper_data))
    monkeypatch.delenv("VADBENCH_AVENUE_LABELS", raising=False)
    document = config(name)
    matrix = str(BENCHMARKS / name)
    cells = {
        (model, row["train"], row.get("aux"))
        for row in document["matrix"]
        for model in row.get("models") or list(document["models"])
    }
    checked = run_cli("check", matrix, cwd=tmp_path)
    assert checked.returncode == 0, checked.output
    assert f"work: {len(cells)} cell(s)" in checked.stdout
    assert not (tmp_path / "results").exists()

    results = tmp_path / "out"
    tiny = tiny_overrides(document)
    ran = run_cli("run", matrix, "--results-dir", str(results), *tiny, cwd=tmp_path)
    assert ran.returncode == 0, ran.output
    run_dir = results / document["name"]

    trained = {}
    for cell_file in (run_dir / "cells").glob("*/cell.json"):
        cell = json.loads(cell_file.read_text())
        trained[(cell["model"], cell["train"], cell["aux"])] = cell
    assert trained.keys() == cells
    for (model, _, _), cell in trained.items():
        entry = document["models"][model]
        assert cell["preset"] == entry["preset"] == "paper"
        assert entry.get("overrides", {}).items() <= cell["options"].items(), model

    payload = json.loads((run_dir / "results.json").read_text())
    expected = {
        (model, source_label(row["train"], row.get("aux")), target)
        for row in document["matrix"]
        for model in row.get("models") or list(document["models"])
        for target in row["test"]
    }
    measured = {
        (row["model"], source_label(row["train"], row["aux"]), row["target"])
        for row in payload["rows"]
        if row["metric"] == "micro_auc" and row["status"] == "ok"
    }
    assert measured == expected

    shown = {
        (record["model"].removesuffix(" (paper)"), record["source"], record["target"]): record
        for record in payload["summary"]
        if "reference" in record
    }
    assert shown.keys() == PAPER_NUMBERS[name].keys()
    leaderboard = (run_dir / "leaderboard.md").read_text()
    for key, percent in PAPER_NUMBERS[name].items():
        assert shown[key]["reference"] == pytest.approx(percent / 100)
        assert 0.0 <= shown[key]["value"] <= 1.0
        assert f"(ref {round(percent / 100, 4):.3f}, " in leaderboard


@pytest.mark.parametrize(
    ("absent", "message"),
    [
        ("Avenue Dataset", "dataset root {path} does not exist"),
        ("Avenue Dataset/frame_labels_avenue.npy", "label file {path} does not exist"),
    ],
)
def test_check_names_a_missing_dataset_and_trains_nothing(
    absent: str,
    message: str,
    paper_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A data folder without Avenue, or without the standard Avenue labels the configs read:
    check names the dataset, the path and what is missing, exits 2, and writes no results;
    every other dataset is listed as readable."""
    data = tmp_path / "data"
    link_all_but(paper_data, data, Path(absent))
    monkeypatch.setenv("VADBENCH_DATA", str(data))
    monkeypatch.delenv("VADBENCH_AVENUE_LABELS", raising=False)
    result = run_cli("check", str(BENCHMARKS / "paper_table4.yaml"), cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert errors[0].startswith("error: datasets.avenue (test split")
    assert message.format(path=data / absent) in errors[0]
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    status = {(row[0], row[1]): row[-1] for row in rows}
    assert status.pop(("avenue", "test")) == "problem"
    assert len(status) == 7 and set(status.values()) == {"ok"}, result.output
    assert not (tmp_path / "results").exists()


def link_all_but(source: Path, destination: Path, absent: Path) -> None:
    """``destination`` mirrors ``source`` through symbolic links, except the path ``absent``
    (relative): the folders on its way are real folders whose other entries are links."""
    destination.mkdir()
    for entry in source.iterdir():
        if entry.name != absent.parts[0]:
            (destination / entry.name).symlink_to(entry)
        elif len(absent.parts) > 1:
            link_all_but(entry, destination / entry.name, Path(*absent.parts[1:]))
