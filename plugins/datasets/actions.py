"""Task-irrelevant (TI) action datasets: ``hmdb51``, ``ucf101`` and ``jester``, in their
distributed layouts with their official split files.

They carry no anomaly labels, so they only have a training split (``check_split("test")`` is a
ConfigError, ``source("test")`` a DataError); the official train/test lists choose which clips
form it. Every listed clip must be on disk (``missing: skip`` leaves the absent ones out before
the subset is drawn). ``max_videos`` takes a class-spread subset: each class's clips are
shuffled with ``seed``, then one clip per class is taken in sorted class order, round after
round, until ``max_videos`` are chosen. Only chosen clips are opened, so a small subset of a
large set is cheap.

::

    hmdb51:  <root>/<class>/<video>.avi; testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt
             lines "<video>.avi <tag>", tag 1 = train, 2 = test, 0 = unused
    ucf101:  <root>/<Class>/v_<Class>_gGG_cCC.avi; ucfTrainTestlist/{train,test}list0{1,2,3}.txt
             lines "<Class>/<file>.avi [label]", classInd.txt "1 ApplyEyeMakeup"
    jester:  <root>/20bn-jester-v1/<id>/00001.jpg; jester-v1-{train,validation}.csv "id;label"
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field

from vadbench.sdk import (
    ConfigError,
    DataError,
    DatasetOptions,
    DatasetSpec,
    ListedDataset,
    MissingFiles,
    Split,
    Video,
    VideoDatasetOptions,
    first_existing,
    frame_folder_video,
    hookimpl,
    natural_key,
    read_lines,
    require_root,
    spread_over_classes,
    training_only,
    under_root,
    video_file_video,
    visible,
)

HMDB_SPLITS = "testTrainMulti_7030_splits"
UCF_SPLITS = "ucfTrainTestlist"
JESTER_FRAMES = "20bn-jester-v1"
HMDB_TAGS = {"train": "1", "test": "2"}

HMDB_LAYOUT = (
    "<root>/<class>/<video>.avi; [<root>/ or ../]testTrainMulti_7030_splits/"
    "<class>_test_split{1,2,3}.txt"
)
HMDB_TREE = (
    "expected HMDB51: <root>/brush_hair/<video>.avi ... (the 51 class folders) and "
    "testTrainMulti_7030_splits/brush_hair_test_split1.txt ... in <root> or next to it"
)
UCF_LAYOUT = (
    "<root>/<Class>/v_<Class>_gGG_cCC.avi; [<root>/ or ../]ucfTrainTestlist/"
    "{train,test}list0{1,2,3}.txt, classInd.txt"
)
UCF_TREE = (
    "expected UCF101: <root>/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi ... (the UCF-101 "
    "folder) and ucfTrainTestlist/trainlist01.txt ... in <root> or next to it"
)
JESTER_LAYOUT = (
    "<root>/20bn-jester-v1/<id>/00001.jpg…; <root>/jester-v1-{train,validation}.csv (id;label)"
)
JESTER_TREE = (
    "expected 20BN-Jester v1: <root>/20bn-jester-v1/1/00001.jpg ... and "
    "<root>/jester-v1-train.csv (root may also be the 20bn-jester-v1 folder, csv files next to it)"
)


class ClassSpreadOptions(DatasetOptions):
    max_videos: int | None = Field(
        None, ge=1, description="at most this many clips, spread round-robin over classes"
    )
    seed: int = Field(0, ge=0, description="which clips max_videos picks within each class")


class OfficialSplitOptions(VideoDatasetOptions, ClassSpreadOptions):
    fold: Literal[1, 2, 3] = Field(1, description="which of the three official splits")
    official_split: Literal["train", "test"] = Field(
        "train", description="which half of the official split supplies the clips"
    )
    splits_dir: Path | None = Field(
        None, description="the folder of split files; found in or next to root if unset"
    )


class Hmdb51Options(OfficialSplitOptions):
    """HMDB51: testTrainMulti_7030_splits/<class>_test_split{fold}.txt, tag 1 = train."""


class Ucf101Options(OfficialSplitOptions):
    """UCF101: ucfTrainTestlist/{train,test}list0{fold}.txt, class from the folder name."""


class JesterOptions(ClassSpreadOptions):
    official_split: Literal["train", "validation"] = Field(
        "train", description="jester-v1-train.csv or jester-v1-validation.csv"
    )
    split_file: Path | None = Field(None, description="the id;label csv; found if unset")


@dataclass(frozen=True)
class ActionClip:
    """One listed clip: where it is and its class (used only to spread a subset over classes)."""

    video_id: str
    label: str
    path: Path
    listed_in: Path


ActionOptionsT = TypeVar("ActionOptionsT", bound=ClassSpreadOptions)


class ActionDataset(ListedDataset[ActionOptionsT]):
    """A TI set: the listed clips, optionally a class-spread subset, as the training split."""

    clip_noun = "video"  # what a clip is on disk, for the report of missing ones

    def split_layout(self, split: Split) -> None:
        if split == "test":
            raise DataError(training_only(self.format_name))
        self.split_files()

    def videos(self, split: Split) -> list[Video]:
        self.split_layout(split)
        clips = self.clips()
        if not clips:
            raise DataError(f"{self.root}: the split files list no clips for these options")
        listed_in = {clip.listed_in for clip in clips}
        where = next(iter(listed_in)) if len(listed_in) == 1 else "the split files"
        missing = MissingFiles(self.format_name, self.clip_noun, f"listed in {where}")
        present = []
        for clip in clips:
            if self.on_disk(clip):
                present.append(clip)
            else:
                missing.add(str(clip.path.relative_to(self.root)))
        missing.settle(self.options.missing)
        chosen = spread_over_classes(
            present, lambda clip: clip.label, self.options.max_videos, self.options.seed
        )
        chosen.sort(key=lambda clip: (natural_key(clip.label), natural_key(clip.video_id)))
        return [self.video(clip) for clip in chosen]

    @abstractmethod
    def split_files(self) -> list[Path]:
        """The split files the options choose; DataError when they are not there."""

    @abstractmethod
    def clips(self) -> list[ActionClip]:
        """Every clip the chosen split file lists, with its class."""

    @abstractmethod
    def on_disk(self, clip: ActionClip) -> bool:
        """Whether the clip's file or folder is there (one stat, so every listed clip is
        checked, not only those a subset picks)."""

    @abstractmethod
    def video(self, clip: ActionClip) -> Video:
        """The clip as a lazily decoded Video."""

    def splits_dir(self, option: Path | None, folder: str, expected_tree: str) -> Path:
        explicit = under_root(self.root, option)
        found = explicit or first_existing([self.root / folder, self.root.parent / folder])
        if found is None or not found.is_dir():
            where = explicit or f"{self.root / folder} or {self.root.parent / folder}"
            raise DataError(f"no split folder {where}; {expected_tree}")
        return found


class VideoFileActionDataset(ActionDataset[OfficialSplitOptions]):
    def on_disk(self, clip: ActionClip) -> bool:
        return clip.path.is_file()

    def video(self, clip: ActionClip) -> Video:
        return video_file_video(clip.path, clip.video_id, self.options)


class Hmdb51Dataset(VideoFileActionDataset):
    format_name = "hmdb51"

    def __init__(self, options: Hmdb51Options) -> None:
        root = require_root(options, HMDB_TREE)
        super().__init__(options, root)

    def split_files(self) -> list[Path]:
        folder = self.splits_dir(self.options.splits_dir, HMDB_SPLITS, HMDB_TREE)
        suffix = f"_test_split{self.options.fold}.txt"
        files = sorted(p for p in folder.iterdir() if visible(p) and p.name.endswith(suffix))
        if not files:
            raise DataError(f"{folder}: no *{suffix} files; {HMDB_TREE}")
        return files

    def clips(self) -> list[ActionClip]:
        suffix = f"_test_split{self.options.fold}.txt"
        wanted = HMDB_TAGS[self.options.official_split]
        clips = []
        for split_file in self.split_files():
            label = split_file.name.removesuffix(suffix)
            for number, line in enumerate(read_lines(split_file), start=1):
                if not line.strip():
                    continue
                fields = line.rsplit(None, 1)
                if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                    raise DataError(
                        f"{split_file}:{number}: expected '<video>.avi <0|1|2>', got {line!r}"
                    )
                name, tag = fields[0].strip(), fields[1]
                if tag == wanted:
                    path = self.root / label / name
                    clips.append(ActionClip(Path(name).stem, label, path, split_file))
        return clips


class Ucf101Dataset(VideoFileActionDataset):
    format_name = "ucf101"

    def __init__(self, options: Ucf101Options) -> None:
        root = require_root(options, UCF_TREE)
        super().__init__(options, root)

    def split_files(self) -> list[Path]:
        folder = self.splits_dir(self.options.splits_dir, UCF_SPLITS, UCF_TREE)
        split_file = folder / f"{self.options.official_split}list{self.options.fold:02d}.txt"
        if not split_file.is_file():
            raise DataError(f"{split_file} does not exist; {UCF_TREE}")
        return [split_file]

    def clips(self) -> list[ActionClip]:
        [split_file] = self.split_files()
        class_index = read_class_index(split_file.parent / "classInd.txt")
        clips = []
        for number, line in enumerate(read_lines(split_file), start=1):
            fields = line.split()
            if not fields:
                continue
            entry = fields[0].replace("\\", "/")
            label, _, name = entry.rpartition("/")
            if len(fields) > 2 or not label or (len(fields) == 2 and not fields[1].isdigit()):
                raise DataError(
                    f"{split_file}:{number}: expected '<Class>/<video>.avi [label]', got {line!r}"
                )
            # the class is the folder: HandstandPushups holds v_HandStandPushups_* files
            if class_index is not None:
                if label not in class_index:
                    raise DataError(f"{split_file}:{number}: class {label!r} is not in classInd")
                if len(fields) == 2 and int(fields[1]) != class_index[label]:
                    raise DataError(
                        f"{split_file}:{number}: label {fields[1]} but classInd numbers "
                        f"{label} {class_index[label]}"
                    )
            clips.append(ActionClip(Path(name).stem, label, self.root / entry, split_file))
        return clips


def read_class_index(path: Path) -> dict[str, int] | None:
    """``classInd.txt`` (``1 ApplyEyeMakeup``) as class -> number, or None when absent."""
    if not path.is_file():
        return None
    index = {}
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[0].isdigit():
            raise DataError(f"{path}:{number}: expected '<number> <Class>', got {line!r}")
        index[fields[1]] = int(fields[0])
    return index


class JesterDataset(ActionDataset[JesterOptions]):
    format_name = "jester"

    def __init__(self, options: JesterOptions) -> None:
        root = require_root(options, JESTER_TREE)
        super().__init__(options, root)
        if (root / JESTER_FRAMES).is_dir():
            self.frames_dir, csv_dirs = root / JESTER_FRAMES, [root]
        elif root.name == JESTER_FRAMES:
            self.frames_dir, csv_dirs = root, [root, root.parent]
        else:
            raise ConfigError(f"{root} has no {JESTER_FRAMES} folder; {JESTER_TREE}")
        self.csv_dirs = csv_dirs

    clip_noun = "frame folder"

    def split_files(self) -> list[Path]:
        name = f"jester-v1-{self.options.official_split}.csv"
        explicit = under_root(self.root, self.options.split_file)
        split_file = explicit or first_existing(folder / name for folder in self.csv_dirs)
        if split_file is None or not split_file.is_file():
            raise DataError(f"no {explicit or name} found; {JESTER_TREE}")
        return [split_file]

    def clips(self) -> list[ActionClip]:
        [split_file] = self.split_files()
        clips = []
        for number, line in enumerate(read_lines(split_file), start=1):
            if not line.strip():
                continue
            video_id, separator, label = line.partition(";")  # labels contain spaces
            if not separator or not video_id.strip() or not label.strip():
                raise DataError(f"{split_file}:{number}: expected 'id;label', got {line!r}")
            video_id, label = video_id.strip(), label.strip()
            clips.append(ActionClip(video_id, label, self.frames_dir / video_id, split_file))
        return clips

    def on_disk(self, clip: ActionClip) -> bool:
        return clip.path.is_dir()

    def video(self, clip: ActionClip) -> Video:
        return frame_folder_video(clip.path, clip.video_id, self.options.frame_size)


def open_hmdb51(options: Hmdb51Options) -> Hmdb51Dataset:
    return Hmdb51Dataset(options)


def open_ucf101(options: Ucf101Options) -> Ucf101Dataset:
    return Ucf101Dataset(options)


def open_jester(options: JesterOptions) -> JesterDataset:
    return JesterDataset(options)


@hookimpl
def vadbench_register_datasets(register: Any) -> None:
    register(
        DatasetSpec(
            name="hmdb51",
            description="HMDB51 action clips (TI set, train split only) with the 70/30 splits",
            layout=HMDB_LAYOUT,
            options=Hmdb51Options,
            open=open_hmdb51,
        )
    )
    register(
        DatasetSpec(
            name="ucf101",
            description="UCF101 action clips (TI set, train split only) with ucfTrainTestlist",
            layout=UCF_LAYOUT,
            options=Ucf101Options,
            open=open_ucf101,
        )
    )
    register(
        DatasetSpec(
            name="jester",
            description="20BN-Jester v1 gesture frame folders (TI set, train split only)",
            layout=JESTER_LAYOUT,
            options=JesterOptions,
            open=open_jester,
        )
    )
