"""The ``videofolder`` loader: a user's own video files and frame folders with a labels.csv of
0-based inclusive anomalous ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.dataset_fixtures import frame_index, write_appledouble, write_frames, write_video
from vadbench.sdk.contracts import ConfigError, DataError
from vadbench.sdk.datasets import MissingFilesWarning
from vadbench_plugins.datasets.videofolder import VideoFolderOptions, open_videofolder

LABELS = """video,start,end
"cam 1 (night).avi",2,4
cam 1 (night),7,7
door,0,0
"gate, north",1,2
"""


@pytest.fixture
def cameras(tmp_path: Path) -> Path:
    root = tmp_path / "my cameras"
    write_video(root / "train" / "cam 1.mp4", 8, codec="libx264")
    write_frames(root / "train" / "lobby", 5, name="{}.png")
    write_appledouble(root / "train", "cam 1.mp4")
    (root / "train" / "__MACOSX").mkdir()
    write_video(root / "test" / "cam 1 (night).avi", 10)
    write_video(root / "test" / "gate, north.avi", 4)
    write_video(root / "test" / "quiet.avi", 3)
    write_frames(root / "test" / "door", 6, name="frame_{:04d}.jpg")
    (root / "labels.csv").write_text(LABELS)
    return root


def test_train_and_test_videos_with_labels(cameras: Path) -> None:
    dataset = open_videofolder(VideoFolderOptions(root=cameras))
    train = dataset.source("train").videos()
    assert [(v.id, v.num_frames) for v in train] == [("cam 1", 8), ("lobby", 5)]
    assert [frame_index(f) for f in train[1].frames(2, 5)] == [2, 3, 4]
    test = {v.id: v for v in dataset.source("test").videos()}
    assert sorted(test) == ["cam 1 (night)", "door", "gate, north", "quiet"]
    assert list(np.flatnonzero(test["cam 1 (night)"].labels)) == [2, 3, 4, 7]
    assert list(test["door"].labels) == [1, 0, 0, 0, 0, 0]
    assert list(test["gate, north"].labels) == [0, 1, 1, 0]
    assert not test["quiet"].labels.any()  # no rows: all normal
    assert [frame_index(f) for f in test["door"].frames()] == [0, 1, 2, 3, 4, 5]
    assert dataset.source("test").name == "my cameras"


def test_frame_size(cameras: Path) -> None:
    train = open_videofolder(VideoFolderOptions(root=cameras, frame_size=(4, 6)))
    assert [v.frames(0, 2).shape for v in train.source("train").videos()] == [(2, 4, 6, 3)] * 2


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("video,start,end\nghost,0,1\n", r"is missing \(first: test/ghost \(rows of labels\.csv"),
        ("video,start,end\nquiet,1,3\n", r"labels\.csv:2 \(quiet\): range 1:3 is outside 0\.\.2"),
        ("video,first,last\nquiet,0,1\n", r"header must name the columns .*missing: start, end"),
        ("video,start,end\nquiet,0,x\n", r"labels\.csv:2: start and end must be integers"),
    ],
)
def test_bad_label_rows(cameras: Path, csv_text: str, message: str) -> None:
    (cameras / "labels.csv").write_text(csv_text)
    with pytest.raises(DataError, match=message):
        open_videofolder(VideoFolderOptions(root=cameras)).source("test")


def test_without_labels_the_test_videos_are_unlabelled(cameras: Path) -> None:
    (cameras / "labels.csv").unlink()
    dataset = open_videofolder(VideoFolderOptions(root=cameras))
    assert len(dataset.source("train").videos()) == 2
    videos = dataset.source("test").videos()
    assert videos and all(video.labels is None for video in videos)
    assert all(video.frames(0, 1).shape[0] == 1 for video in videos)


def test_videos_named_in_the_labels_and_empty_folders_are_missing(cameras: Path) -> None:
    (cameras / "labels.csv").write_text(LABELS + "ghost,0,1\nghost 2.avi,0,0\n")
    (cameras / "test" / "empty").mkdir()
    with pytest.raises(DataError) as error:
        open_videofolder(VideoFolderOptions(root=cameras)).source("test")
    assert str(error.value) == (
        "videofolder: 3 files the test split needs are missing (first: the frames of empty/, "
        "test/ghost (rows of labels.csv), test/ghost 2.avi (rows of labels.csv)); "
        "set missing: skip to leave them out"
    )
    options = VideoFolderOptions(root=cameras, missing="skip")
    with pytest.warns(MissingFilesWarning, match="videofolder: 3 files"):
        test = open_videofolder(options).source("test").videos()
    assert sorted(v.id for v in test) == ["cam 1 (night)", "door", "gate, north", "quiet"]


def test_two_videos_with_one_id(cameras: Path) -> None:
    write_frames(cameras / "train" / "cam 1", 2)
    with pytest.raises(DataError, match=r"cam 1\.mp4 and cam 1 are both video 'cam 1'"):
        open_videofolder(VideoFolderOptions(root=cameras)).source("train")


def test_missing_layout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist; expected <root>/train/<video>\.mp4"):
        open_videofolder(VideoFolderOptions(root=tmp_path / "nothing"))
    (tmp_path / "flat").mkdir()
    with pytest.raises(ConfigError, match="has neither train/ nor test/"):
        open_videofolder(VideoFolderOptions(root=tmp_path / "flat"))
