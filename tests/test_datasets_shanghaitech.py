"""The ``shanghaitech`` loader: training videos, test frame folders from 000.jpg, npy frame and
pixel masks, and the SHT_dc scene partition (default and user-set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from tests.dataset_fixtures import (
    build_shanghaitech,
    frame_index,
    write_appledouble,
    write_frames,
)
from vadbench.sdk.contracts import ConfigError, DataError
from vadbench.sdk.datasets import MissingFilesWarning
from vadbench_plugins.datasets.shanghaitech import (
    SHT_DC_DEFAULT,
    ScenePartition,
    ShanghaiTechOptions,
    open_shanghaitech,
)


@pytest.fixture
def sht(tmp_path: Path) -> Path:
    root = build_shanghaitech(
        tmp_path / "shanghaitech",
        train_ids=["01_001", "01_002", "02_001", "13_001"],
        test_labels={
            "01_0014": np.array([0, 1, 1, 0, 0]),
            "01_0015": np.array([0, 0, 0, 0]),
            "02_0128": np.array([1, 1, 0, 0, 0, 0]),
        },
    )
    write_appledouble(root / "training" / "videos", "01_001.avi")
    write_appledouble(root / "testing" / "frames" / "01_0014", "000.jpg")
    write_appledouble(root / "testing" / "test_frame_mask", "01_0014.npy")
    return root


def test_standard_split(sht: Path) -> None:
    dataset = open_shanghaitech(ShanghaiTechOptions(root=sht))
    train = dataset.source("train").videos()
    assert [(v.id, v.num_frames) for v in train] == [
        ("01_001", 6), ("01_002", 6), ("02_001", 6), ("13_001", 6)
    ]  # fmt: skip
    assert [frame_index(f) for f in train[2].frames(3, 6)] == [3, 4, 5]
    test = dataset.source("test").videos()
    assert [v.id for v in test] == ["01_0014", "01_0015", "02_0128"]
    assert [list(v.labels) for v in test] == [[0, 1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0, 0, 0]]
    assert [frame_index(f) for f in test[0].frames()] == [0, 1, 2, 3, 4]  # entry i is i.jpg
    assert test[0].has_masks and test[0].mask(1)[:8, :8].all() and not test[0].mask(0).any()
    assert dataset.source("test").name == "shanghaitech"


def test_user_scene_partition(sht: Path) -> None:
    scenes = ScenePartition(train=("02", "13"), test=("01",))
    dataset = open_shanghaitech(ShanghaiTechOptions(root=sht, scenes=scenes))
    assert [v.id for v in dataset.source("train").videos()] == ["02_001", "13_001"]
    assert [v.id for v in dataset.source("test").videos()] == ["01_0014", "01_0015"]
    assert dataset.fingerprint()["scenes_applied"] == {"train": ["02", "13"], "test": ["01"]}
    assert dataset.source("test").name == "shanghaitech_dc"


def test_default_sht_dc_partition(tmp_path: Path) -> None:
    train_ids = [f"{scene}_001" for scene in SHT_DC_DEFAULT.train + SHT_DC_DEFAULT.test]
    test_ids = [f"{scene}_0001" for scene in ("01", *SHT_DC_DEFAULT.test)]
    root = build_shanghaitech(
        tmp_path / "sht", train_ids, {i: np.zeros(3) for i in test_ids}, train_length=2
    )
    dataset = open_shanghaitech(ShanghaiTechOptions(root=root, partition="sht_dc"))
    train_scenes = {v.id[:2] for v in dataset.source("train").videos()}
    test_scenes = {v.id[:2] for v in dataset.source("test").videos()}
    assert train_scenes == set(SHT_DC_DEFAULT.train) and test_scenes == set(SHT_DC_DEFAULT.test)
    assert not train_scenes & test_scenes


def test_scene_lists_accept_yaml_integers_and_must_be_disjoint() -> None:
    assert ScenePartition.model_validate({"train": [1, "02"], "test": [12]}).train == ("01", "02")
    with pytest.raises(ValidationError, match="scenes 03 are both train and test scenes"):
        ScenePartition(train=("01", "03"), test=("03",))
    with pytest.raises(ValidationError, match="is not a scene number"):
        ScenePartition.model_validate({"train": ["01a"], "test": ["02"]})


def test_a_scene_without_videos_is_an_error(sht: Path) -> None:
    scenes = ScenePartition(train=("01",), test=("07",))
    dataset = open_shanghaitech(ShanghaiTechOptions(root=sht, scenes=scenes))
    with pytest.raises(DataError, match=r"no test videos of scene\(s\) 07"):
        dataset.source("test")


def test_training_from_extracted_frames(sht: Path) -> None:
    write_frames(sht / "training" / "frames" / "01_001", 12, name="{}.jpg")  # unpadded, 0-based
    options = ShanghaiTechOptions(root=sht, train_from="frames")
    train = open_shanghaitech(options).source("train").videos()
    assert [(v.id, v.num_frames) for v in train] == [("01_001", 12)]
    assert [frame_index(f) for f in train[0].frames(8, 12)] == [8, 9, 10, 11]


def test_missing_label_files_frames_and_videos_in_one_error(sht: Path) -> None:
    masks = sht / "testing" / "test_frame_mask"
    np.save(masks / "03_0031.npy", np.zeros(3, np.uint8))  # a labelled video without frames
    (masks / "01_0015.npy").unlink()
    (sht / "testing" / "frames" / "02_0128" / "002.jpg").unlink()
    (sht / "testing" / "frames" / "02_0128" / "004.jpg").unlink()
    with pytest.raises(DataError) as error:
        open_shanghaitech(ShanghaiTechOptions(root=sht)).source("test")
    assert str(error.value) == (
        "shanghaitech: 4 files the test split needs are missing (first: "
        "testing/test_frame_mask/01_0015.npy, "
        "the frames of 03_0031/ (labelled by test_frame_mask/03_0031.npy), "
        "02_0128/002.jpg, 02_0128/004.jpg); set missing: skip to leave them out"
    )
    options = ShanghaiTechOptions(root=sht, missing="skip")
    with pytest.warns(MissingFilesWarning, match="shanghaitech: 4 files"):
        test = open_shanghaitech(options).source("test").videos()
    assert [(v.id, list(v.labels)) for v in test] == [("01_0014", [0, 1, 1, 0, 0])]


def test_partition_needs_only_the_files_of_its_scenes(sht: Path) -> None:
    (sht / "testing" / "test_frame_mask" / "01_0015.npy").unlink()
    scenes = ScenePartition(train=("01",), test=("02",))
    test = open_shanghaitech(ShanghaiTechOptions(root=sht, scenes=scenes)).source("test").videos()
    assert [v.id for v in test] == ["02_0128"]


def test_label_length_must_match_the_frames(sht: Path) -> None:
    np.save(sht / "testing" / "test_frame_mask" / "01_0015.npy", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match=r"01_0015\.npy: 5 labels for 4 frames"):
        open_shanghaitech(ShanghaiTechOptions(root=sht)).source("test")


def test_test_frames_must_start_at_000(sht: Path) -> None:
    (sht / "testing" / "frames" / "01_0015" / "000.jpg").unlink()
    np.save(sht / "testing" / "test_frame_mask" / "01_0015.npy", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match=r"test split needs is missing \(first: 01_0015/000\.jpg\)"):
        open_shanghaitech(ShanghaiTechOptions(root=sht)).source("test")


def test_pixel_mask_shape_is_checked(sht: Path) -> None:
    np.save(sht / "testing" / "test_pixel_mask" / "01_0014.npy", np.zeros((4, 16, 16), np.uint8))
    video = open_shanghaitech(ShanghaiTechOptions(root=sht)).source("test").videos()[0]
    with pytest.raises(DataError, match=r"expected \(5, H, W\) masks, got \(4, 16, 16\)"):
        video.mask(0)


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"expected ShanghaiTech Campus: .*test_frame_mask"):
        open_shanghaitech(ShanghaiTechOptions(root=tmp_path / "none"))
