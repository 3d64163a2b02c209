"""The real MNAD/MPN label files read through the frames loader, on fixtures of the real sets'
video lengths (docs/datasets.md: UCSD, FFP/MNAD packaging, Avenue)."""

from __future__ import annotations

import importlib.resources
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from tests.builders import png_bytes, write_frame_folder
from tests.dataset_fixtures import AVENUE_LABELS, PED2_LABELS
from vadbench.sdk.contracts import ConfigError, DataError
from vadbench.sdk.datasets import MissingFilesWarning
from vadbench_plugins.datasets.frames import (
    SHIPPED_LABELS,
    FramesOptions,
    open_frames,
    shipped_label_file,
)

PED2_TEST_LENGTHS = [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]
# UCSDped2.m gt_frame ranges, 1-based inclusive (Test006 is 1:159 as in FFP/MNAD).
PED2_RANGES = [
    [(61, 180)],
    [(95, 180)],
    [(1, 146)],
    [(31, 180)],
    [(1, 129)],
    [(1, 159)],
    [(46, 180)],
    [(1, 180)],
    [(1, 120)],
    [(1, 150)],
    [(1, 180)],
    [(88, 180)],
]
AVENUE_TEST_LENGTHS = [
    1439, 1211, 923, 947, 1007, 1283, 605, 36, 1175, 841, 472,
    1271, 549, 507, 1001, 740, 426, 294, 248, 273, 76,
]  # fmt: skip


def anomalous_ranges(labels: np.ndarray) -> list[tuple[int, int]]:
    """1-based inclusive runs of 1s, the way the .m/.mat files write them."""
    padded = np.concatenate([[0], labels.astype(int), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return [(int(start) + 1, int(end)) for start, end in zip(edges[::2], edges[1::2], strict=True)]


def build_packaging(root: Path, test_lengths: list[int], digits: int) -> None:
    for index, length in enumerate(test_lengths, start=1):
        write_frame_folder(root / "testing" / "frames" / f"{index:02d}", length, digits=digits)


@pytest.fixture(scope="module")
def ped2_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "ped2"
    build_packaging(root, PED2_TEST_LENGTHS, digits=3)
    return root


@pytest.mark.parametrize("shape", ["as shipped (1, N)", "1-D"])
def test_ped2_label_file_gives_the_published_ranges(ped2_root: Path, shape: str) -> None:
    labels = np.load(PED2_LABELS)
    assert labels.shape == (1, 2010)
    label_file = ped2_root / "labels.npy"
    np.save(label_file, labels if shape.startswith("as") else labels.reshape(-1))
    dataset = open_frames(FramesOptions(root=ped2_root, labels="npy", label_file=label_file))
    videos = dataset.source("test").videos()
    assert [v.id for v in videos] == [f"{i:02d}" for i in range(1, 13)]
    assert [v.num_frames for v in videos] == PED2_TEST_LENGTHS
    assert [anomalous_ranges(v.labels) for v in videos] == PED2_RANGES
    assert sum(int(v.labels.sum()) for v in videos) == 1648


def test_ped2_mat_intervals_match_the_npy(ped2_root: Path) -> None:
    cells = np.empty(12, dtype=object)
    for index, ranges in enumerate(PED2_RANGES):
        cells[index] = np.array(ranges, dtype=np.uint8).T  # 2×K, uint8 as in the P1 mirror
    savemat(ped2_root / "ped2.mat", {"gt": cells})
    from_mat = open_frames(FramesOptions(root=ped2_root, labels="mat")).source("test").videos()
    concatenated = np.concatenate([v.labels for v in from_mat])
    np.testing.assert_array_equal(concatenated, np.load(PED2_LABELS)[0])


def test_avenue_label_file_splits_into_21_videos(tmp_path: Path) -> None:
    root = tmp_path / "avenue"
    build_packaging(root, AVENUE_TEST_LENGTHS, digits=4)
    np.save(tmp_path / "frame_labels_avenue.npy", np.load(AVENUE_LABELS))
    videos = open_frames(FramesOptions(root=root)).source("test").videos()
    assert [v.num_frames for v in videos] == AVENUE_TEST_LENGTHS
    assert sum(int(v.labels.sum()) for v in videos) == 3867
    per_video = [int(v.labels.sum()) for v in videos]
    assert len(per_video) == 21 and all(
        count <= n for count, n in zip(per_video, AVENUE_TEST_LENGTHS, strict=True)
    )
    np.testing.assert_array_equal(
        np.concatenate([v.labels for v in videos]),
        np.load(AVENUE_LABELS)[0],
    )


def test_label_length_mismatch_names_the_file(ped2_root: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.npy"
    np.save(short, np.zeros(2009, dtype=np.int64))
    dataset = open_frames(FramesOptions(root=ped2_root, label_file=short))
    with pytest.raises(DataError, match=r"short\.npy: 2009 labels for 2010 test frames"):
        dataset.source("test")


def test_mat_with_too_few_entries_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "ped2"
    build_packaging(root, PED2_TEST_LENGTHS[:3], digits=3)
    cells = np.empty(2, dtype=object)
    cells[0], cells[1] = np.array([[1], [5]]), np.array([[2], [9]])
    savemat(root / "ped2.mat", {"gt": cells})
    with pytest.raises(DataError, match="'gt' has 2 entries for 3 test videos"):
        open_frames(FramesOptions(root=root)).source("test")


def test_interval_past_the_last_frame_is_an_error_not_a_clip(tmp_path: Path) -> None:
    root = tmp_path / "ped2"
    build_packaging(root, [10], digits=3)
    cells = np.empty(1, dtype=object)
    cells[0] = np.array([[3], [11]])
    savemat(root / "ped2.mat", {"gt": cells})
    with pytest.raises(DataError, match=r"interval 3:11 is outside 1\.\.10"):
        open_frames(FramesOptions(root=root)).source("test")


def test_unpadded_names_sort_numerically_and_strays_are_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "d" / "testing" / "frames" / "01"
    folder.mkdir(parents=True)
    for index in range(12):
        value = np.full((4, 4, 3), index * 10, dtype=np.uint8)
        (folder / f"{index}.png").write_bytes(png_bytes(value))
    (folder / "._3.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (tmp_path / "d" / "testing" / "frames" / "._01").mkdir()
    np.save(tmp_path / "d" / "frame_labels_d.npy", np.zeros(12, dtype=np.uint8))
    video = open_frames(FramesOptions(root=tmp_path / "d")).source("test").videos()
    assert len(video) == 1 and video[0].num_frames == 12
    assert [int(f[0, 0, 0]) for f in video[0].frames()] == [i * 10 for i in range(12)]


def test_missing_root_names_the_expected_layout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist; expected the FFP/MNAD layout"):
        open_frames(FramesOptions(root=tmp_path / "nowhere"))


def test_pixel_masks_and_resize(tmp_path: Path) -> None:
    root = tmp_path / "sht"
    frames = [np.full((8, 12, 3), 100, dtype=np.uint8) for _ in range(3)]
    write_frame_folder(root / "testing" / "frames" / "01_0014", frames)
    masks = np.zeros((3, 8, 12), dtype=np.uint8)
    masks[1, 2:4, 3:9] = 1
    (root / "testing" / "test_pixel_mask").mkdir(parents=True)
    np.save(root / "testing" / "test_pixel_mask" / "01_0014.npy", masks)
    (root / "testing" / "test_frame_mask").mkdir(parents=True)
    np.save(root / "testing" / "test_frame_mask" / "01_0014.npy", np.array([0, 1, 0], np.uint8))
    video = open_frames(FramesOptions(root=root, frame_size=(4, 6))).source("test").videos()[0]
    assert video.frames().shape == (3, 4, 6, 3)
    assert video.has_masks and not video.mask(0).any()
    assert video.mask(1).shape == (4, 6) and video.mask(1).sum() > 0
    assert list(video.labels) == [0, 1, 0]


def test_label_files_ship_as_package_data() -> None:
    """The label files are package data of the frames plugin, so an installed copy has them."""
    resources = importlib.resources.files("vadbench_plugins.datasets") / "labels"
    for name, shape, positives in [("ped2", (1, 2010), 1648), ("avenue", (1, 15324), 3867)]:
        with (resources / f"frame_labels_{name}.npy").open("rb") as handle:
            labels = np.load(handle, allow_pickle=False)
        assert labels.shape == shape and int(labels.sum()) == positives
        assert shipped_label_file(name) == SHIPPED_LABELS / f"frame_labels_{name}.npy"
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]["vadbench_plugins.datasets"]
    assert "labels/*.npy" in package_data
    assert shipped_label_file("ped1") is None


def test_ped2_and_avenue_fall_back_on_the_shipped_labels(tmp_path: Path) -> None:
    ped2 = tmp_path / "ped2"
    build_packaging(ped2, PED2_TEST_LENGTHS, digits=3)
    videos = open_frames(FramesOptions(root=ped2)).source("test").videos()
    assert [anomalous_ranges(v.labels) for v in videos] == PED2_RANGES
    np.save(ped2 / "frame_labels_ped2.npy", np.zeros(2010, np.uint8))  # a file of its own wins
    videos = open_frames(FramesOptions(root=ped2)).source("test").videos()
    assert not any(v.labels.any() for v in videos)
    other = tmp_path / "ped1"
    build_packaging(other, [5], digits=3)
    with pytest.raises(DataError, match=r"no test labels for .*ped1: looked for"):
        open_frames(FramesOptions(root=other)).source("test")


def test_an_empty_label_file_is_named(tmp_path: Path) -> None:
    root = tmp_path / "sht"
    write_frame_folder(root / "testing" / "frames" / "01", 3)
    (root / "testing" / "test_frame_mask").mkdir(parents=True)
    (root / "testing" / "test_frame_mask" / "01.npy").write_bytes(b"")
    with pytest.raises(DataError, match=r"test_frame_mask/01\.npy: cannot read \.npy file"):
        open_frames(FramesOptions(root=root)).source("test")


def test_frames_names_every_missing_file_and_skip_leaves_the_videos_out(tmp_path: Path) -> None:
    root = tmp_path / "sht"
    masks = root / "testing" / "test_frame_mask"
    for video_id in ("01", "02", "03"):
        write_frame_folder(root / "testing" / "frames" / video_id, 3)
    (root / "testing" / "frames" / "04").mkdir()
    masks.mkdir(parents=True)
    for video_id in ("01", "04", "05"):
        np.save(masks / f"{video_id}.npy", np.array([0, 1, 0], np.uint8))
    with pytest.raises(DataError) as error:
        open_frames(FramesOptions(root=root)).source("test")
    assert str(error.value) == (
        "sht: 4 files the test split needs are missing (first: the frames of 04/, "
        "testing/test_frame_mask/02.npy, testing/test_frame_mask/03.npy, "
        "the frames of 05/ (labelled by test_frame_mask/05.npy)); "
        "set missing: skip to leave them out"
    )
    with pytest.warns(MissingFilesWarning, match=r"sht: 4 files .* left out, as missing: skip"):
        videos = open_frames(FramesOptions(root=root, missing="skip")).source("test").videos()
    assert [(v.id, list(v.labels)) for v in videos] == [("01", [0, 1, 0])]
