"""The ``avenue`` loader on fixtures of the original release: .avi videos in a folder whose name
has a space, unpadded ``N_label.mat`` volLabel masks, and the FFP/MNAD frame-label variants."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.io import savemat

from tests.dataset_fixtures import (
    AVENUE_LABELS,
    build_avenue,
    frame_index,
    truncate,
    write_appledouble,
    write_vol_label,
)
from vadbench.sdk.contracts import ConfigError, DataError
from vadbench.sdk.datasets import MissingFilesWarning
from vadbench_plugins.datasets.avenue import AvenueOptions, open_avenue

AVENUE_TEST_LENGTHS = [
    1439, 1211, 923, 947, 1007, 1283, 605, 36, 1175, 841, 472,
    1271, 549, 507, 1001, 740, 426, 294, 248, 273, 76,
]  # fmt: skip


def masks(length: int, anomalous: dict[int, int]) -> np.ndarray:
    """(T, 16, 16) masks; ``anomalous[frame]`` is the value written in a 3x5 box."""
    volume = np.zeros((length, 16, 16), dtype=np.uint8)
    for frame, value in anomalous.items():
        volume[frame, 4:7, 2:7] = value
    return volume


@pytest.fixture
def avenue(tmp_path: Path) -> Path:
    root = tmp_path / "Avenue Dataset"
    build_avenue(root, [6, 5], [masks(6, {2: 1, 3: 255}), masks(5, {4: 1})])
    write_appledouble(root / "testing_videos", "01.avi")
    write_appledouble(root / "training_videos", "02.avi")
    write_appledouble(root / "ground_truth_demo" / "testing_label_mask", "1_label.mat")
    return root


def test_videos_labels_and_masks_from_vol_label(avenue: Path) -> None:
    dataset = open_avenue(AvenueOptions(root=avenue))
    train = dataset.source("train").videos()
    assert [(v.id, v.num_frames, v.labels) for v in train] == [("01", 6, None), ("02", 5, None)]
    test = dataset.source("test").videos()
    assert [(v.id, v.num_frames) for v in test] == [("01", 6), ("02", 5)]
    assert list(test[0].labels) == [0, 0, 1, 1, 0, 0]
    assert list(test[1].labels) == [0, 0, 0, 0, 1]
    assert [frame_index(f) for f in test[0].frames(1, 4)] == [1, 2, 3]
    assert test[0].frames().shape == (6, 16, 16, 3)
    mask = test[0].mask(3)
    assert mask.dtype == bool and mask.sum() == 15 and mask[4:7, 2:7].all()
    assert test[1].mask(4).sum() == 15  # value 1, not 255: binarised with > 0
    assert not test[1].mask(0).any()


def test_frame_size_resizes_frames_and_masks(avenue: Path) -> None:
    test = open_avenue(AvenueOptions(root=avenue, frame_size=(8, 8))).source("test").videos()
    assert test[0].frames(0, 3).shape == (3, 8, 8, 3)
    assert test[0].mask(2).shape == (8, 8) and test[0].mask(2).any()


def test_ground_truth_demo_next_to_the_dataset_folder(avenue: Path) -> None:
    shutil.move(avenue / "ground_truth_demo", avenue.parent / "ground_truth_demo")
    test = open_avenue(AvenueOptions(root=avenue)).source("test").videos()
    assert list(test[1].labels) == [0, 0, 0, 0, 1]


def test_explicit_label_mask_dir(avenue: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "masks"
    shutil.move(avenue / "ground_truth_demo" / "testing_label_mask", moved)
    with pytest.raises(DataError, match="no testing_label_mask folder for the test labels"):
        open_avenue(AvenueOptions(root=avenue)).source("test")
    test = open_avenue(AvenueOptions(root=avenue, label_mask_dir=moved)).source("test").videos()
    assert list(test[0].labels) == [0, 0, 1, 1, 0, 0]


def test_ffp_mat_labels_replace_the_mask_labels(avenue: Path) -> None:
    cells = np.empty(2, dtype=object)
    cells[0] = np.array([[1], [2]], dtype=np.uint8)  # 2×K [starts; ends], 1-based inclusive
    cells[1] = np.array([[2, 5], [3, 5]], dtype=np.uint8)
    savemat(avenue / "avenue.mat", {"gt": cells})
    options = AvenueOptions(root=avenue, frame_labels="file", label_file=Path("avenue.mat"))
    test = open_avenue(options).source("test").videos()
    assert list(test[0].labels) == [1, 1, 0, 0, 0, 0]
    assert list(test[1].labels) == [0, 1, 1, 0, 1]
    assert test[0].has_masks  # pixel masks still come from volLabel


def test_per_video_mat_variant(avenue: Path) -> None:
    savemat(
        avenue / "tr_avenue.mat",
        {"01": np.array([[0, 0, 0, 0, 1, 1]], np.int32), "02": np.array([[1, 0, 0, 0, 0]])},
    )
    options = AvenueOptions(root=avenue, frame_labels="file", label_file=Path("tr_avenue.mat"))
    test = open_avenue(options).source("test").videos()
    assert [list(v.labels) for v in test] == [[0, 0, 0, 0, 1, 1], [1, 0, 0, 0, 0]]


def test_file_labels_need_a_file() -> None:
    with pytest.raises(ValidationError, match="frame_labels: file needs label_file"):
        AvenueOptions(root=Path("."), frame_labels="file")


def test_mnad_labels_through_the_ffp_option(tmp_path: Path) -> None:
    """MNAD's frame_labels_avenue.npy on 21 test videos of the real lengths (no masks)."""
    root = build_avenue(tmp_path / "Avenue Dataset", [], AVENUE_TEST_LENGTHS)
    label_file = AVENUE_LABELS
    options = AvenueOptions(root=root, frame_labels="file", label_file=label_file)
    test = open_avenue(options).source("test").videos()
    assert [v.num_frames for v in test] == AVENUE_TEST_LENGTHS
    labels = np.concatenate([v.labels for v in test])
    assert int(labels.sum()) == 3867
    np.testing.assert_array_equal(labels, np.load(label_file).reshape(-1))
    assert not any(v.has_masks for v in test)


def test_missing_videos_and_label_files_are_named_in_one_error(avenue: Path) -> None:
    label_dir = avenue / "ground_truth_demo" / "testing_label_mask"
    write_vol_label(label_dir / "3_label.mat", masks(4, {}))
    (label_dir / "2_label.mat").unlink()
    with pytest.raises(DataError) as error:
        open_avenue(AvenueOptions(root=avenue)).source("test")
    assert str(error.value) == (
        "avenue: 2 files the test split needs are missing (first: testing_label_mask/2_label.mat, "
        "the testing_videos/ video of 3_label.mat); set missing: skip to leave them out"
    )
    with pytest.warns(MissingFilesWarning, match=r"avenue: 2 files .* left out"):
        test = open_avenue(AvenueOptions(root=avenue, missing="skip")).source("test").videos()
    assert [(v.id, list(v.labels)) for v in test] == [("01", [0, 0, 1, 1, 0, 0])]


def test_the_same_label_file_twice_is_one_file(avenue: Path) -> None:
    label_dir = avenue / "ground_truth_demo" / "testing_label_mask"
    shutil.copy(label_dir / "1_label.mat", label_dir / "01_label.mat")
    test = open_avenue(AvenueOptions(root=avenue)).source("test").videos()
    assert list(test[0].labels) == [0, 0, 1, 1, 0, 0]
    write_vol_label(label_dir / "01_label.mat", masks(6, {0: 1}))
    with pytest.raises(DataError, match=r"both 01_label\.mat and 1_label\.mat label video 1, "):
        open_avenue(AvenueOptions(root=avenue)).source("test")


def test_mask_count_must_match_the_video(avenue: Path) -> None:
    label_dir = avenue / "ground_truth_demo" / "testing_label_mask"
    write_vol_label(label_dir / "2_label.mat", masks(4, {1: 1}))
    with pytest.raises(DataError, match=r"2_label\.mat: 4 masks for 5 frames"):
        open_avenue(AvenueOptions(root=avenue)).source("test")


def test_wrong_variable_name_is_an_error(avenue: Path) -> None:
    label_file = avenue / "ground_truth_demo" / "testing_label_mask" / "1_label.mat"
    savemat(label_file, {"data": np.zeros((6, 16, 16))})
    with pytest.raises(DataError, match=r"1_label\.mat: no variable 'volLabel' \(found: data\)"):
        open_avenue(AvenueOptions(root=avenue)).source("test")


def test_truncated_video_names_the_file_and_frame(tmp_path: Path) -> None:
    root = build_avenue(tmp_path / "Avenue Dataset", [60], [])
    truncate(root / "training_videos" / "01.avi")
    video = open_avenue(AvenueOptions(root=root)).source("train").videos()[0]
    with pytest.raises(DataError, match=r"training_videos/01\.avi: frame \d+ cannot be decoded"):
        for _ in video.iter_clips(4):
            pass


def test_missing_root_prints_the_expected_tree(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist; expected the Avenue release: .*_label"):
        open_avenue(AvenueOptions(root=tmp_path / "Avenue Dataset"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has neither training_videos nor testing_videos"):
        open_avenue(AvenueOptions(root=tmp_path / "empty"))
