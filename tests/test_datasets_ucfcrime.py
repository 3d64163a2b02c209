"""The ``ucfcrime`` loader: videos found by name across download folders, the official training
list (normal videos by default) and the 290-line temporal annotation read 1-based inclusive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.dataset_fixtures import annotation_line, build_ucfcrime, frame_index, write_appledouble
from vadbench.sdk.contracts import ConfigError, DataError
from vadbench.sdk.datasets import MissingFilesWarning
from vadbench_plugins.datasets.ucfcrime import UcfCrimeOptions, open_ucfcrime

TRAIN_LIST = [
    "Abuse/Abuse001_x264.mp4",
    "Training_Normal_Videos_Anomaly/Normal_Videos003_x264.mp4",
]
ANNOTATION = [
    annotation_line("Abuse028_x264.mp4", "Abuse", [(5, 10)]),
    annotation_line("Arson011_x264.mp4", "Arson", [(3, 6), (30, 45)]),  # ends past frame 40
    annotation_line("Normal_Videos_003_x264.mp4", "Normal", []),
]


@pytest.fixture
def ucf(tmp_path: Path) -> Path:
    root = build_ucfcrime(
        tmp_path / "UCF Crime",
        {
            "Anomaly-Videos-Part-1/Abuse/Abuse001_x264.mp4": ("libx264", 20),
            "Anomaly-Videos-Part-1/Abuse/Abuse028_x264.mp4": ("libx264", 30),
            "Anomaly-Videos-Part-2/Arson/Arson011_x264.mp4": ("libx264", 40),
            "Training_Normal_Videos_Anomaly/Normal_Videos003_x264.mp4": ("libx264", 10),
            "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4": ("libx264", 12),
            # the same name in another download folder: the annotation's class folder wins
            "Normal_Videos_for_Event_Recognition/Normal_Videos_003_x264.mp4": ("mjpeg", 7),
        },
        TRAIN_LIST,
        ANNOTATION,
    )
    write_appledouble(root / "Anomaly-Videos-Part-1" / "Abuse", "Abuse028_x264.mp4")
    write_appledouble(root, "Temporal_Anomaly_Annotation_for_Testing_Videos.txt")
    return root


def test_training_uses_the_normal_videos(ucf: Path) -> None:
    train = open_ucfcrime(UcfCrimeOptions(root=ucf)).source("train").videos()
    assert [(v.id, v.num_frames) for v in train] == [("Normal_Videos003_x264", 10)]
    assert [frame_index(f) for f in train[0].frames(7, 10)] == [7, 8, 9]
    options = UcfCrimeOptions(root=ucf, train_videos="all")
    everything = open_ucfcrime(options).source("train").videos()
    assert [v.id for v in everything] == ["Abuse001_x264", "Normal_Videos003_x264"]


def test_annotation_is_one_based_inclusive_per_decoded_frame(ucf: Path) -> None:
    test = open_ucfcrime(UcfCrimeOptions(root=ucf)).source("test").videos()
    assert [(v.id, v.num_frames) for v in test] == [
        ("Abuse028_x264", 30), ("Arson011_x264", 40), ("Normal_Videos_003_x264", 12)
    ]  # fmt: skip
    assert list(np.flatnonzero(test[0].labels)) == list(range(4, 10))  # frames 5..10
    arson = np.flatnonzero(test[1].labels)
    assert list(arson) == [2, 3, 4, 5, *range(29, 40)]  # 30..45 clipped to the 40 frames
    assert not test[2].labels.any()
    normal = test[2].frames(0, 12)  # the Testing_Normal copy, not the 7-frame one
    assert [frame_index(f) for f in normal] == list(range(12))


def test_python_slice_reading(ucf: Path) -> None:
    options = UcfCrimeOptions(root=ucf, annotation_indexing="python_slice")
    test = open_ucfcrime(options).source("test").videos()
    assert list(np.flatnonzero(test[0].labels)) == list(range(5, 10))


def test_every_missing_listed_video_is_named_in_one_error(ucf: Path) -> None:
    (ucf / "Anomaly-Videos-Part-2" / "Arson" / "Arson011_x264.mp4").unlink()
    (ucf / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse028_x264.mp4").unlink()
    with pytest.raises(DataError) as error:
        open_ucfcrime(UcfCrimeOptions(root=ucf)).source("test")
    annotation = ucf / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    assert str(error.value) == (
        f"ucfcrime: 2 test videos listed in {annotation} are missing (first: "
        "Abuse028_x264.mp4, Arson011_x264.mp4); set missing: skip to leave them out"
    )
    options = UcfCrimeOptions(root=ucf, missing="skip")
    with pytest.warns(MissingFilesWarning, match=r"ucfcrime: 2 test videos .* left out"):
        test = open_ucfcrime(options).source("test").videos()
    assert [v.id for v in test] == ["Normal_Videos_003_x264"]


def test_missing_training_video(ucf: Path) -> None:
    (ucf / "Training_Normal_Videos_Anomaly" / "Normal_Videos003_x264.mp4").unlink()
    with pytest.raises(DataError, match=r"1 video listed in .*Anomaly_Train\.txt is missing"):
        open_ucfcrime(UcfCrimeOptions(root=ucf)).source("train")
    options = UcfCrimeOptions(root=ucf, missing="skip", train_videos="all")
    with pytest.warns(MissingFilesWarning, match="Normal_Videos003_x264.mp4"):
        train = open_ucfcrime(options).source("train").videos()
    assert [v.id for v in train] == ["Abuse001_x264"]


def test_a_test_normal_video_is_never_taken_from_the_event_recognition_set(ucf: Path) -> None:
    """The only copy left is the 7-frame clip of Normal_Videos_for_Event_Recognition: another
    set's file, so the test video is missing rather than silently replaced by it."""
    (ucf / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4").unlink()
    with pytest.raises(DataError) as error:
        open_ucfcrime(UcfCrimeOptions(root=ucf)).source("test")
    assert "1 test video listed in" in str(error.value)
    assert (
        "(first: Normal_Videos_003_x264.mp4 (only in Normal_Videos_for_Event_Recognition, "
        "not taken))" in str(error.value)
    )


def test_a_copy_outside_the_named_folder_is_found(ucf: Path) -> None:
    """Download folders vary: a listed video is found by name anywhere else under the root."""
    moved = ucf / "my copy" / "Normal_Videos_003_x264.mp4"
    moved.parent.mkdir()
    (ucf / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4").rename(moved)
    test = open_ucfcrime(UcfCrimeOptions(root=ucf)).source("test").videos()
    assert [frame_index(f) for f in test[2].frames(0, 12)] == list(range(12))


def test_ambiguous_name_is_an_error(ucf: Path) -> None:
    (ucf / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4").rename(
        ucf / "Testing_Normal_Videos_Anomaly" / "elsewhere.mp4"
    )
    for folder, source in [("Extra", "elsewhere.mp4"), ("Other", "Normal_Videos003_x264.mp4")]:
        (ucf / folder).mkdir()
        original = next(ucf.rglob(source))
        (ucf / folder / "Normal_Videos_003_x264.mp4").write_bytes(original.read_bytes())
    with pytest.raises(DataError, match=r"Normal_Videos_003_x264\.mp4, listed in .* is ambiguous"):
        open_ucfcrime(UcfCrimeOptions(root=ucf)).source("test")


def test_one_annotation_file_found_twice_is_one_file(ucf: Path) -> None:
    annotation = ucf / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    copy = ucf / "UCF_Crimes-Train-Test-Split" / "Temporal_Anomaly_Annotation.txt"
    copy.write_bytes(annotation.read_bytes())
    assert len(open_ucfcrime(UcfCrimeOptions(root=ucf)).source("test").videos()) == 3
    copy.write_text(ANNOTATION[0] + "\n")
    with pytest.raises(DataError) as error:
        open_ucfcrime(UcfCrimeOptions(root=ucf)).source("test")
    message = str(error.value)
    assert "several Temporal_Anomaly_Annotation*.txt" in message and "different contents" in message
    assert str(annotation) in message and str(copy) in message


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Abuse028_x264.mp4  Abuse  5  10  -1", r":1: expected 6 fields, found 5"),
        ("Abuse028_x264.mp4  Abuse  5  -1  -1  -1", r":1: an event with only one end"),
        ("Abuse028_x264.mp4  Abuse  5  x  -1  -1", r":1: frame numbers must be integers"),
        ("Abuse028_x264.mp4  Abuse  31  40  -1  -1", r"event 31\.\.40 starts after the last of 30"),
    ],
)
def test_bad_annotation_lines(ucf: Path, line: str, message: str) -> None:
    annotation = ucf / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    annotation.write_text(line + "\n")
    with pytest.raises(DataError, match=message):
        open_ucfcrime(UcfCrimeOptions(root=ucf)).source("test")


def test_duplicate_annotation_line(ucf: Path) -> None:
    annotation = ucf / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    annotation.write_text(annotation.read_text() + ANNOTATION[0] + "\n")
    with pytest.raises(DataError, match=r":4: Abuse028_x264\.mp4 is listed twice"):
        open_ucfcrime(UcfCrimeOptions(root=ucf)).source("test")


def test_explicit_annotation_file(ucf: Path, tmp_path: Path) -> None:
    other = tmp_path / "Temporal_Anomaly_Annotation.txt"
    other.write_text(ANNOTATION[0] + "\n")
    options = UcfCrimeOptions(root=ucf, annotation_file=other)
    assert [v.id for v in open_ucfcrime(options).source("test").videos()] == ["Abuse028_x264"]


def test_root_without_videos(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; expected UCF-Crime"):
        open_ucfcrime(UcfCrimeOptions(root=tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no video files; expected UCF-Crime"):
        open_ucfcrime(UcfCrimeOptions(root=tmp_path / "empty"))
