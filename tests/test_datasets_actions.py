"""The task-irrelevant sets (``hmdb51``, ``ucf101``, ``jester``) in their distributed layouts:
official split files, class from the folder, train split only, class-spread subsets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.dataset_fixtures import (
    build_hmdb51,
    build_jester,
    build_ucf101,
    frame_index,
    write_appledouble,
)
from vadbench.sdk.contracts import ConfigError, DataError
from vadbench.sdk.datasets import MissingFilesWarning, spread_over_classes
from vadbench_plugins.datasets.actions import (
    Hmdb51Options,
    JesterOptions,
    Ucf101Options,
    open_hmdb51,
    open_jester,
    open_ucf101,
)

ODD_NAME = "(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0.avi"


@pytest.fixture
def hmdb(tmp_path: Path) -> Path:
    root = build_hmdb51(
        tmp_path,
        {
            "brush_hair": [
                ("April_09_brush_hair_u_nm_np1_ba_goo_0.avi", "1"),
                ("brush_b_2.avi", "2"),
                ("brush_c_3.avi", "1"),
                ("brush_d_4.avi", "0"),
            ],
            "cartwheel": [(ODD_NAME, "1"), ("cart wheel e 5.avi", "2")],
        },
    )
    write_appledouble(tmp_path / "testTrainMulti_7030_splits", "brush_hair_test_split1.txt")
    return root


def test_spread_over_classes_is_round_robin_and_seeded() -> None:
    items = [("a", i) for i in range(5)] + [("b", 0)] + [("c", i) for i in range(3)]
    chosen = spread_over_classes(items, lambda item: item[0], 6, seed=3)
    assert Counter(label for label, _ in chosen) == {"a": 3, "b": 1, "c": 2}
    assert chosen == spread_over_classes(items, lambda item: item[0], 6, seed=3)
    picks = {tuple(spread_over_classes(items, lambda item: item[0], 3, s)) for s in range(8)}
    assert len(picks) > 1  # the seed chooses within classes
    assert all(Counter(label for label, _ in pick) == {"a": 1, "b": 1, "c": 1} for pick in picks)
    assert spread_over_classes(items, lambda item: item[0], None, 0) == items


def test_hmdb51_train_split_tags(hmdb: Path) -> None:
    dataset = open_hmdb51(Hmdb51Options(root=hmdb))
    train = dataset.source("train").videos()
    assert [v.id for v in train] == [
        "April_09_brush_hair_u_nm_np1_ba_goo_0", "brush_c_3", ODD_NAME.removesuffix(".avi")
    ]  # fmt: skip
    assert all(v.labels is None and v.num_frames == 3 for v in train)
    assert [frame_index(f) for f in train[2].frames()] == [0, 1, 2]
    other_half = open_hmdb51(Hmdb51Options(root=hmdb, official_split="test"))
    assert [v.id for v in other_half.source("train").videos()] == ["brush_b_2", "cart wheel e 5"]


def test_ti_sets_have_no_test_split(hmdb: Path) -> None:
    with pytest.raises(DataError, match=r"hmdb51 has no anomaly labels: .* training split only"):
        open_hmdb51(Hmdb51Options(root=hmdb)).source("test")


def test_hmdb51_max_videos_spreads_over_classes(hmdb: Path) -> None:
    videos = open_hmdb51(Hmdb51Options(root=hmdb, max_videos=2)).source("train").videos()
    assert len(videos) == 2 and videos[1].id == ODD_NAME.removesuffix(".avi")


def test_hmdb51_names_every_missing_video_in_one_error(hmdb: Path) -> None:
    (hmdb / "brush_hair" / "brush_c_3.avi").unlink()
    (hmdb / "cartwheel" / ODD_NAME).unlink()
    with pytest.raises(DataError) as error:
        open_hmdb51(Hmdb51Options(root=hmdb)).source("train")
    assert str(error.value) == (
        "hmdb51: 2 videos listed in the split files are missing (first: "
        f"brush_hair/brush_c_3.avi, cartwheel/{ODD_NAME}); set missing: skip to leave them out"
    )


def test_hmdb51_skip_leaves_missing_videos_out_before_the_subset(hmdb: Path) -> None:
    (hmdb / "brush_hair" / "brush_c_3.avi").unlink()
    (hmdb / "cartwheel" / ODD_NAME).unlink()
    options = Hmdb51Options(root=hmdb, missing="skip", max_videos=2)
    with pytest.warns(MissingFilesWarning, match=r"hmdb51: 2 videos .* left out"):
        videos = open_hmdb51(options).source("train").videos()
    assert [v.id for v in videos] == ["April_09_brush_hair_u_nm_np1_ba_goo_0"]


def test_hmdb51_bad_split_line_and_missing_fold(hmdb: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no \*_test_split2\.txt files"):
        open_hmdb51(Hmdb51Options(root=hmdb, fold=2)).source("train")
    split_file = tmp_path / "testTrainMulti_7030_splits" / "cartwheel_test_split1.txt"
    split_file.write_text(f"{ODD_NAME} 3\n")
    with pytest.raises(DataError, match=r"cartwheel_test_split1\.txt:1: expected '<video>\.avi"):
        open_hmdb51(Hmdb51Options(root=hmdb)).source("train")


def test_hmdb51_missing_root_and_split_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"expected HMDB51: .*brush_hair_test_split1"):
        open_hmdb51(Hmdb51Options(root=tmp_path / "hmdb51_org"))
    (tmp_path / "videos").mkdir()
    with pytest.raises(DataError, match="no split folder"):
        open_hmdb51(Hmdb51Options(root=tmp_path / "videos")).source("train")


UCF_CLASSES = ["ApplyEyeMakeup", "HandstandPushups"]
UCF_TRAIN = [
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g09_c02.avi",
    "HandstandPushups/v_HandStandPushups_g08_c01.avi",
]
UCF_TEST = ["HandstandPushups/v_HandStandPushups_g01_c02.avi"]


@pytest.mark.parametrize("test_labels", [True, False])
def test_ucf101_class_comes_from_the_folder(tmp_path: Path, test_labels: bool) -> None:
    root = build_ucf101(tmp_path, UCF_CLASSES, UCF_TRAIN, UCF_TEST, test_labels)
    train = open_ucf101(Ucf101Options(root=root, max_videos=2)).source("train").videos()
    assert [v.id for v in train] == [
        "v_ApplyEyeMakeup_g08_c01",
        "v_HandStandPushups_g08_c01",
    ] or [v.id for v in train] == ["v_ApplyEyeMakeup_g09_c02", "v_HandStandPushups_g08_c01"]
    test_half = open_ucf101(Ucf101Options(root=root, official_split="test"))
    assert [v.id for v in test_half.source("train").videos()] == ["v_HandStandPushups_g01_c02"]


def test_ucf101_label_must_agree_with_class_index(tmp_path: Path) -> None:
    root = build_ucf101(tmp_path, UCF_CLASSES, UCF_TRAIN, UCF_TEST, True)
    (tmp_path / "ucfTrainTestlist" / "trainlist01.txt").write_text(f"{UCF_TRAIN[2]} 1\n")
    with pytest.raises(DataError, match=r"trainlist01\.txt:1: label 1 but classInd numbers"):
        open_ucf101(Ucf101Options(root=root)).source("train")
    (tmp_path / "ucfTrainTestlist" / "trainlist01.txt").write_text("Juggling/v_J_g01_c01.avi\n")
    with pytest.raises(DataError, match=r"class 'Juggling' is not in classInd"):
        open_ucf101(Ucf101Options(root=root)).source("train")


@pytest.fixture
def jester(tmp_path: Path) -> Path:
    return build_jester(
        tmp_path / "jester",
        {
            "10": ("Swiping Left", 5),
            "2": ("Doing other things", 3),
            "1": ("Swiping Left", 4),
        },
    )


def test_jester_frame_folders_and_labels_with_spaces(jester: Path) -> None:
    videos = open_jester(JesterOptions(root=jester)).source("train").videos()
    assert [(v.id, v.num_frames) for v in videos] == [("2", 3), ("1", 4), ("10", 5)]
    assert [frame_index(f) for f in videos[2].frames()] == [0, 1, 2, 3, 4]  # 00001.jpg first
    subset = open_jester(JesterOptions(root=jester, max_videos=2)).source("train").videos()
    assert subset[0].id == "2" and subset[1].id in ("1", "10")


def test_jester_root_may_be_the_frames_folder(jester: Path) -> None:
    dataset = open_jester(JesterOptions(root=jester / "20bn-jester-v1"))
    assert len(dataset.source("train").videos()) == 3
    with pytest.raises(DataError, match=r"no jester-v1-validation\.csv found"):
        open_jester(JesterOptions(root=jester, official_split="validation")).source("train")


def test_jester_bad_rows(jester: Path) -> None:
    (jester / "jester-v1-train.csv").write_text("1;Swiping Left\n2 Doing other things\n")
    with pytest.raises(DataError, match=r"jester-v1-train\.csv:2: expected 'id;label'"):
        open_jester(JesterOptions(root=jester)).source("train")
    (jester / "jester-v1-train.csv").write_text(
        "1;Swiping Left\n77;Swiping Left\n78;Swiping Left\n"
    )
    with pytest.raises(
        DataError,
        match=r"jester: 2 frame folders listed in .*jester-v1-train\.csv "
        r"are missing \(first: 20bn-jester-v1/77, 20bn-jester-v1/78\)",
    ):
        open_jester(JesterOptions(root=jester)).source("train")


def test_jester_missing_layout(tmp_path: Path) -> None:
    (tmp_path / "j").mkdir()
    with pytest.raises(ConfigError, match="has no 20bn-jester-v1 folder; expected 20BN-Jester"):
        open_jester(JesterOptions(root=tmp_path / "j"))
