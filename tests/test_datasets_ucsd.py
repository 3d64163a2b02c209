"""The ``ucsd`` loader on fixtures of the original release: 1-based TIFFs, the .m frame
ground truth, partial BMP masks, AppleDouble strays, and the real Ped1/Ped2 ranges."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.dataset_fixtures import (
    PED2_LABELS,
    build_ucsd,
    grey_index,
    ucsd_m_text,
    write_appledouble,
    write_tiny_tiffs,
)
from vadbench.sdk.contracts import ConfigError, DataError
from vadbench.sdk.datasets import MissingFilesWarning
from vadbench_plugins.datasets.ucsd import UcsdOptions, open_ucsd, parse_gt_frames

# UCSDped2.m, 1-based inclusive; Test006 as the script copy writes it (1:162).
PED2_RANGES_IN_SCRIPT = [
    [(61, 180)], [(95, 180)], [(1, 146)], [(31, 180)], [(1, 129)], [(1, 162)],
    [(46, 180)], [(1, 180)], [(1, 120)], [(1, 150)], [(1, 180)], [(88, 180)],
]  # fmt: skip
PED2_TEST_LENGTHS = [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]
PED1_RANGES = [
    [(60, 152)], [(50, 175)], [(91, 200)], [(31, 168)], [(5, 90), (140, 200)],
    [(1, 100), (110, 200)], [(1, 175)], [(1, 94)], [(1, 48)], [(1, 140)], [(70, 165)],
    [(130, 200)], [(1, 156)], [(1, 200)], [(138, 200)], [(123, 200)], [(1, 47)], [(54, 120)],
    [(64, 138)], [(45, 175)], [(31, 200)], [(16, 107)], [(8, 165)], [(50, 171)], [(40, 135)],
    [(77, 144)], [(10, 122)], [(105, 200)], [(1, 15), (45, 113)], [(175, 200)], [(1, 180)],
    [(1, 52), (65, 115)], [(5, 165)], [(1, 121)], [(86, 200)], [(15, 108)],
]  # fmt: skip


@pytest.fixture
def ped2(tmp_path: Path) -> Path:
    """Two training and three test clips; masks for Test001 and Test003 only (as Ped1)."""
    root = tmp_path / "UCSD_Anomaly_Dataset.v1p2"
    subset = build_ucsd(
        root,
        "UCSDped2",
        train_lengths=[5, 4],
        test_ranges=[[(2, 4)], [(1, 2), (4, 5)], [(7, 7)]],
        test_lengths=[6, 5, 7],
        masked_clips=[1, 3],
        mask_boxes={(1, 3): (2, 4, 6, 10), (3, 7): (0, 0, 16, 16)},
    )
    write_appledouble(subset / "Test" / "Test001", "001.tif")
    write_appledouble(subset / "Test", "UCSDped2.m")
    write_appledouble(subset / "Train", "Train001")
    (subset / "Test" / "._Test004").mkdir()
    write_appledouble(root, "README.txt")
    return root


def test_clips_frames_labels_and_masks(ped2: Path) -> None:
    dataset = open_ucsd(UcsdOptions(root=ped2, subset="ped2"))
    train = dataset.source("train").videos()
    assert [(v.id, v.num_frames) for v in train] == [("Train001", 5), ("Train002", 4)]
    assert train[0].labels is None
    test = dataset.source("test").videos()
    assert [(v.id, v.num_frames) for v in test] == [("Test001", 6), ("Test002", 5), ("Test003", 7)]
    assert [list(v.labels) for v in test] == [
        [0, 1, 1, 1, 0, 0],  # 2:4 marks 002.tif..004.tif
        [1, 1, 0, 1, 1],
        [0, 0, 0, 0, 0, 0, 1],
    ]
    frames = test[0].frames()
    assert frames.shape == (6, 16, 16, 3) and frames.dtype == np.uint8
    assert [grey_index(f) for f in frames] == [0, 1, 2, 3, 4, 5]  # 001.tif is frame 0

    assert test[0].has_masks and not test[1].has_masks and test[2].has_masks
    mask = test[0].mask(2)
    assert mask.dtype == bool and mask.shape == (16, 16)
    assert mask.sum() == 4 * 6 and mask[2:6, 4:10].all()
    assert not test[0].mask(0).any()
    assert test[2].mask(6).all()
    with pytest.raises(DataError, match="has no pixel masks"):
        test[1].mask(0)


def test_frame_size_resizes_frames_and_masks(ped2: Path) -> None:
    test = open_ucsd(UcsdOptions(root=ped2, frame_size=(8, 12))).source("test").videos()
    assert test[0].frames(0, 2).shape == (2, 8, 12, 3)
    assert test[0].mask(2).shape == (8, 12) and test[0].mask(2).any()


def test_root_may_be_the_subset_folder(ped2: Path) -> None:
    dataset = open_ucsd(UcsdOptions(root=ped2 / "UCSDped2", subset="ped2"))
    assert len(dataset.source("test").videos()) == 3


def test_parser_reads_several_ranges_and_skips_comments(tmp_path: Path) -> None:
    path = tmp_path / "UCSDped1.m"
    path.write_text(
        "TestVideoFile = {};\n"
        "% TestVideoFile{end+1}.gt_frame = [1:999];\n"
        "TestVideoFile{end+1}.gt_frame = [5:90, 140:200];\n"
        "TestVideoFile{end+1}.gt_frame = [1 : 15,45:113];  % two events\n"
        "TestVideoFile{end+1}.gt_frame = [7];\n"
    )
    assert parse_gt_frames(path) == [[(5, 90), (140, 200)], [(1, 15), (45, 113)], [(7, 7)]]


def test_ped2_script_ranges_give_the_mnad_labels(tmp_path: Path) -> None:
    """The real ranges through the loader reproduce MNAD's frame_labels_ped2.npy exactly, with
    Test006 set to FFP's 1:159 by default; taking the .m as written differs on 3 frames."""
    root = tmp_path / "UCSDped2"
    for number, length in enumerate(PED2_TEST_LENGTHS, start=1):
        write_tiny_tiffs(root / "Test" / f"Test{number:03d}", length)
    (root / "Test" / "UCSDped2.m").write_text(ucsd_m_text(PED2_RANGES_IN_SCRIPT))
    expected = np.load(PED2_LABELS).reshape(-1)

    standard = open_ucsd(UcsdOptions(root=root, subset="ped2")).source("test").videos()
    assert [v.num_frames for v in standard] == PED2_TEST_LENGTHS
    np.testing.assert_array_equal(np.concatenate([v.labels for v in standard]), expected)
    assert int(expected.sum()) == 1648

    verbatim = open_ucsd(UcsdOptions(root=root, gt_overrides={})).source("test").videos()
    difference = np.flatnonzero(np.concatenate([v.labels for v in verbatim]) != expected)
    test006_start = sum(PED2_TEST_LENGTHS[:5])
    assert list(difference) == [test006_start + 159, test006_start + 160, test006_start + 161]


def test_ped1_ranges_with_two_events_per_clip(tmp_path: Path) -> None:
    root = tmp_path / "UCSDped1"
    for number in range(1, 37):
        write_tiny_tiffs(root / "Test" / f"Test{number:03d}", 200)
    (root / "Test" / "UCSDped1.m").write_text(ucsd_m_text(PED1_RANGES))
    videos = open_ucsd(UcsdOptions(root=root, subset="ped1")).source("test").videos()
    labels = np.concatenate([v.labels for v in videos])
    assert labels.shape == (7200,) and int(labels.sum()) == 4045
    test005 = videos[4].labels
    assert list(np.flatnonzero(np.diff(test005))) == [3, 89, 138]  # 5:90 and 140:200


def test_override_replaces_one_clip(ped2: Path) -> None:
    options = UcsdOptions(root=ped2, gt_overrides={"Test002": [(5, 5)]})
    test = open_ucsd(options).source("test").videos()
    assert list(test[1].labels) == [0, 0, 0, 0, 1]
    assert list(test[0].labels) == [0, 1, 1, 1, 0, 0]


def test_override_of_an_unknown_clip_is_an_error(ped2: Path) -> None:
    dataset = open_ucsd(UcsdOptions(root=ped2, gt_overrides={"Test009": [(1, 2)]}))
    with pytest.raises(DataError, match="gt_overrides names clips that do not exist: Test009"):
        dataset.source("test")


def test_missing_root_prints_the_expected_tree_on_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        open_ucsd(UcsdOptions(root=tmp_path / "nowhere"))
    message = str(error.value)
    assert "nowhere does not exist; expected the UCSD release" in message
    assert "UCSDped2/Test/UCSDped2.m" in message and "\n" not in message


def test_wrong_subset_is_a_config_error(ped2: Path) -> None:
    with pytest.raises(ConfigError, match="has no UCSDped1 folder"):
        open_ucsd(UcsdOptions(root=ped2, subset="ped1"))


def test_too_few_gt_entries(ped2: Path) -> None:
    m_file = ped2 / "UCSDped2" / "Test" / "UCSDped2.m"
    m_file.write_text(ucsd_m_text([[(2, 4)], [(1, 2)]]))
    with pytest.raises(DataError, match=r"UCSDped2\.m: 2 gt_frame entries for 3 Test clips"):
        open_ucsd(UcsdOptions(root=ped2)).source("test")


def test_range_past_the_clip_is_an_error(ped2: Path) -> None:
    m_file = ped2 / "UCSDped2" / "Test" / "UCSDped2.m"
    m_file.write_text(ucsd_m_text([[(2, 4)], [(1, 6)], [(7, 7)]]))
    with pytest.raises(DataError, match=r"entry 2 \(Test002\): range 1:6 is outside 1\.\.5"):
        open_ucsd(UcsdOptions(root=ped2)).source("test")


def test_missing_frame_files_are_an_error_not_a_shift(ped2: Path) -> None:
    (ped2 / "UCSDped2" / "Test" / "Test002" / "003.tif").unlink()
    (ped2 / "UCSDped2" / "Test" / "Test003" / "001.tif").unlink()
    with pytest.raises(DataError) as error:
        open_ucsd(UcsdOptions(root=ped2)).source("test")
    assert str(error.value) == (
        "ucsd: 2 files the test split needs are missing (first: Test002/003.tif, "
        "Test003/001.tif); set missing: skip to leave them out"
    )


def test_a_missing_clip_folder_shifts_no_labels(ped2: Path) -> None:
    """gt_frame entry i belongs to Test%03d(i): without Test002, Test003 keeps entry 3."""
    shutil.rmtree(ped2 / "UCSDped2" / "Test" / "Test002")
    (ped2 / "UCSDped2" / "Train" / "Train001" / "002.tif").unlink()
    with pytest.raises(
        DataError, match=r"ucsd: 1 file .* \(first: Test/Test002/ \(gt_frame entry 2\)"
    ):
        open_ucsd(UcsdOptions(root=ped2)).source("test")
    with pytest.raises(DataError, match=r"ucsd: 1 file the train split .* Train001/002\.tif\)"):
        open_ucsd(UcsdOptions(root=ped2)).source("train")
    dataset = open_ucsd(UcsdOptions(root=ped2, missing="skip"))
    with pytest.warns(MissingFilesWarning, match="ucsd: 1 file the test split needs is missing"):
        test = dataset.source("test").videos()
    assert [(v.id, list(v.labels)) for v in test] == [
        ("Test001", [0, 1, 1, 1, 0, 0]),
        ("Test003", [0, 0, 0, 0, 0, 0, 1]),
    ]
    with pytest.warns(MissingFilesWarning, match="ucsd: 1 file the train split"):
        assert [v.id for v in dataset.source("train").videos()] == ["Train002"]


def test_mask_count_must_match_frames(ped2: Path) -> None:
    (ped2 / "UCSDped2" / "Test" / "Test003_gt" / "007.bmp").unlink()
    with pytest.raises(DataError, match=r"Test003_gt: 6 masks for 7 frames of Test003"):
        open_ucsd(UcsdOptions(root=ped2)).source("test")


def test_corrupt_tiff_names_the_file(ped2: Path) -> None:
    (ped2 / "UCSDped2" / "Test" / "Test001" / "004.tif").write_bytes(b"not a TIFF at all")
    video = open_ucsd(UcsdOptions(root=ped2)).source("test").videos()[0]
    with pytest.raises(DataError, match=r"Test001/004\.tif: cannot decode frame"):
        video.frames(2, 5)
