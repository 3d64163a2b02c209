"""What every dataset plugin checks before it reads: option bounds, the configuration-time
``check_split`` of each built-in dataset, the ``missing`` option's fingerprint, and a frame
folder of mixed sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from tests.dataset_fixtures import (
    build_avenue,
    build_hmdb51,
    build_shanghaitech,
    build_ucfcrime,
    build_ucsd,
    write_frames,
)
from vadbench.sdk.contracts import ConfigError, DataError, Options
from vadbench_plugins.datasets.actions import (
    Hmdb51Options,
    JesterOptions,
    Ucf101Options,
    open_hmdb51,
    open_jester,
    open_ucf101,
)
from vadbench_plugins.datasets.avenue import AvenueOptions, open_avenue
from vadbench_plugins.datasets.frames import FramesOptions, open_frames
from vadbench_plugins.datasets.shanghaitech import ShanghaiTechOptions, open_shanghaitech
from vadbench_plugins.datasets.synthetic.dataset import SyntheticOptions, open_synthetic
from vadbench_plugins.datasets.ucfcrime import UcfCrimeOptions, open_ucfcrime
from vadbench_plugins.datasets.ucsd import UcsdOptions, open_ucsd
from vadbench_plugins.datasets.videofolder import VideoFolderOptions, open_videofolder

OPTION_CLASSES = [
    UcsdOptions,
    AvenueOptions,
    ShanghaiTechOptions,
    UcfCrimeOptions,
    Hmdb51Options,
    Ucf101Options,
    JesterOptions,
    VideoFolderOptions,
    FramesOptions,
]


@pytest.mark.parametrize("options_class", OPTION_CLASSES, ids=lambda c: c.__name__)
def test_frame_size_below_one_pixel_is_rejected_with_the_options(
    options_class: type[Options],
) -> None:
    with pytest.raises(ValidationError) as error:
        options_class.model_validate({"root": ".", "frame_size": [0, -5]})
    [problem] = error.value.errors()
    assert problem["loc"] == ("frame_size",)
    assert "frame_size must be [height, width] with both at least 1, got [0, -5]" in problem["msg"]
    with pytest.raises(ValidationError, match="frame_size must be"):
        options_class.model_validate({"root": ".", "frame_size": [64, 0]})
    accepted = options_class.model_validate({"root": ".", "frame_size": [1, 1]})
    assert accepted.frame_size == (1, 1)


@pytest.mark.parametrize("options_class", OPTION_CLASSES, ids=lambda c: c.__name__)
def test_every_dataset_has_the_missing_option(options_class: type[Options]) -> None:
    field = options_class.model_fields["missing"]
    assert field.default == "error" and "skip" in (field.description or "")
    assert options_class.model_validate({"root": ".", "missing": "skip"}).missing
    with pytest.raises(ValidationError, match="missing"):
        options_class.model_validate({"root": ".", "missing": "ignore"})


def test_missing_error_leaves_the_fingerprint_as_it_was(tmp_path: Path) -> None:
    """The default reads what earlier versions read, so stored results keep their hashes."""
    (tmp_path / "train").mkdir()
    default = open_videofolder(VideoFolderOptions(root=tmp_path)).fingerprint()
    assert "missing" not in default and default["frame_size"] is None
    skipping = open_videofolder(VideoFolderOptions(root=tmp_path, missing="skip")).fingerprint()
    assert skipping == {**default, "missing": "skip"}
    (tmp_path / "training" / "frames").mkdir(parents=True)
    assert "missing" not in open_frames(FramesOptions(root=tmp_path)).fingerprint()


def junk_video(path: Path) -> None:
    """A file with a video suffix that no decoder opens: a split check must never open it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a video")


def test_videofolder_without_test_folder_fails_at_configuration_time(tmp_path: Path) -> None:
    junk_video(tmp_path / "cams" / "train" / "cam.mp4")
    dataset = open_videofolder(VideoFolderOptions(root=tmp_path / "cams"))
    dataset.check_split("train")
    with pytest.raises(ConfigError) as error:
        dataset.check_split("test")
    message = str(error.value)
    assert "no test/ folder for the test split" in message
    assert "expected <root>/train/<video>.mp4 ... and <root>/test/<video>.mp4" in message
    junk_video(tmp_path / "cams" / "test" / "door.mp4")
    dataset.check_split("test")  # no labels.csv: unlabelled, and the junk video is never opened
    with pytest.raises(DataError, match=r"door\.mp4: cannot open video"):
        dataset.source("test")


@pytest.mark.parametrize("name", ["hmdb51", "ucf101", "jester"])
def test_action_sets_are_training_only_at_configuration_time(tmp_path: Path, name: str) -> None:
    (tmp_path / "20bn-jester-v1").mkdir()
    opened = {
        "hmdb51": lambda: open_hmdb51(Hmdb51Options(root=tmp_path)),
        "ucf101": lambda: open_ucf101(Ucf101Options(root=tmp_path)),
        "jester": lambda: open_jester(JesterOptions(root=tmp_path)),
    }[name]()
    with pytest.raises(ConfigError) as error:
        opened.check_split("test")
    assert str(error.value) == (
        f"{name} has no anomaly labels: it is a task-irrelevant (auxiliary) set with a training "
        "split only; use it as train or aux, never as a test target"
    )
    with pytest.raises(ConfigError, match=r"no (split folder|jester-v1-train\.csv)"):
        opened.check_split("train")


def test_hmdb51_train_check_reads_only_the_split_files(tmp_path: Path) -> None:
    root = build_hmdb51(tmp_path, {"wave": [("w_1.avi", "1")]})
    junk_video(root / "wave" / "w_1.avi")
    dataset = open_hmdb51(Hmdb51Options(root=root))
    dataset.check_split("train")
    with pytest.raises(ConfigError, match=r"no \*_test_split2\.txt files"):
        open_hmdb51(Hmdb51Options(root=root, fold=2)).check_split("train")


def test_synthetic_ti_is_training_only_and_nothing_renders(tmp_path: Path) -> None:
    dataset = open_synthetic(SyntheticOptions(domain="ti", cache_dir=tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"'ti' set is training data only.*no test split"):
        dataset.check_split("test")
    dataset.check_split("train")
    open_synthetic(SyntheticOptions(domain="campus", cache_dir=tmp_path / "cache")).check_split(
        "test"
    )
    assert not (tmp_path / "cache").exists()


def test_ucsd_split_checks(tmp_path: Path) -> None:
    root = tmp_path / "UCSD"
    build_ucsd(root, "UCSDped2", train_lengths=[2], test_ranges=[[(1, 1)]], test_lengths=[2])
    dataset = open_ucsd(UcsdOptions(root=root))
    dataset.check_split("train")
    dataset.check_split("test")
    (root / "UCSDped2" / "Test" / "UCSDped2.m").unlink()
    with pytest.raises(ConfigError, match=r"frame ground truth .*UCSDped2\.m does not exist"):
        dataset.check_split("test")
    (root / "UCSDped2" / "Train" / "Train001" / "001.tif").rename(root / "001.tif")
    dataset.check_split("train")  # frames are not listed at configuration time
    (root / "UCSDped2" / "Train" / "Train001" / "002.tif").unlink()
    (root / "UCSDped2" / "Train" / "Train001").rmdir()
    (root / "UCSDped2" / "Train").rmdir()
    with pytest.raises(ConfigError, match=r"UCSDped2: no Train folder; expected the UCSD"):
        dataset.check_split("train")


def test_avenue_split_checks_never_decode(tmp_path: Path) -> None:
    root = build_avenue(tmp_path / "Avenue Dataset", [], [np.zeros((3, 16, 16), np.uint8)])
    junk_video(root / "testing_videos" / "01.avi")
    dataset = open_avenue(AvenueOptions(root=root))
    dataset.check_split("test")
    with pytest.raises(ConfigError, match=r"no training_videos folder; expected the Avenue"):
        dataset.check_split("train")
    (root / "ground_truth_demo" / "testing_label_mask" / "1_label.mat").unlink()
    (root / "ground_truth_demo" / "testing_label_mask").rmdir()
    with pytest.raises(ConfigError, match="no testing_label_mask folder for the test labels"):
        dataset.check_split("test")
    options = AvenueOptions(root=root, frame_labels="file", label_file=Path("avenue.mat"))
    with pytest.raises(ConfigError, match=r"label file .*avenue\.mat does not exist"):
        open_avenue(options).check_split("test")


def test_shanghaitech_split_checks(tmp_path: Path) -> None:
    root = build_shanghaitech(tmp_path / "sht", ["01_001"], {"01_0014": np.zeros(2)})
    dataset = open_shanghaitech(ShanghaiTechOptions(root=root))
    dataset.check_split("train")
    dataset.check_split("test")
    with pytest.raises(ConfigError, match=r"no training/frames folder"):
        open_shanghaitech(ShanghaiTechOptions(root=root, train_from="frames")).check_split("train")
    (root / "testing" / "test_frame_mask" / "01_0014.npy").unlink()
    (root / "testing" / "test_frame_mask").rmdir()
    with pytest.raises(ConfigError, match=r"no testing/test_frame_mask folder"):
        dataset.check_split("test")


def test_ucfcrime_split_checks_never_decode(tmp_path: Path) -> None:
    root = build_ucfcrime(
        tmp_path / "ucf",
        {},
        ["Training_Normal_Videos_Anomaly/Normal_Videos003_x264.mp4"],
        ["Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1"],
    )
    junk_video(root / "Training_Normal_Videos_Anomaly" / "Normal_Videos003_x264.mp4")
    junk_video(root / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4")
    dataset = open_ucfcrime(UcfCrimeOptions(root=root))
    dataset.check_split("train")
    dataset.check_split("test")
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").unlink()
    with pytest.raises(ConfigError, match=r"no Temporal_Anomaly_Annotation\*\.txt under"):
        open_ucfcrime(UcfCrimeOptions(root=root)).check_split("test")
    with pytest.raises(ConfigError, match=r"elsewhere\.txt does not exist"):
        open_ucfcrime(UcfCrimeOptions(root=root, train_list=Path("elsewhere.txt"))).check_split(
            "train"
        )


def test_frames_split_checks(tmp_path: Path) -> None:
    root = tmp_path / "campus"
    write_frames(root / "training" / "frames" / "01", 2)
    dataset = open_frames(FramesOptions(root=root))
    dataset.check_split("train")
    with pytest.raises(ConfigError, match=r"no testing/frames folder; expected the FFP/MNAD"):
        dataset.check_split("test")
    write_frames(root / "testing" / "frames" / "01", 2)
    with pytest.raises(ConfigError, match=r"no test labels for .*campus: looked for"):
        dataset.check_split("test")
    np.save(root / "frame_labels_campus.npy", np.zeros(2, np.uint8))
    dataset.check_split("test")


def test_frames_of_mixed_sizes_name_the_video_and_the_file(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    folder = root / "training" / "frames" / "cam 1"
    write_frames(folder, 3, size=(16, 16))
    write_frames(folder, 2, size=(24, 32), first=3)
    [video] = open_frames(FramesOptions(root=root)).source("train").videos()
    with pytest.raises(DataError) as error:
        video.frames()
    assert str(error.value) == (
        f"{folder}: frames differ in size: 003.jpg is 24x32, 000.jpg is 16x16 (height x width); "
        "set frame_size to resize every frame to one size"
    )
    [resized] = open_frames(FramesOptions(root=root, frame_size=(8, 8))).source("train").videos()
    assert resized.frames().shape == (5, 8, 8, 3)
