"""The ``ucfcrime`` dataset: UCF-Crime as downloaded, with the official split files.

::

    <root>/…/Abuse/Abuse001_x264.mp4 …                        13 anomaly classes
    <root>/…/Training_Normal_Videos_Anomaly/Normal_Videos003_x264.mp4 …
    <root>/…/Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4 …
    <root>/…/Anomaly_Train.txt                                  training list (relative paths)
    <root>/…/Temporal_Anomaly_Annotation*.txt                   the 290 test videos, 1-based

Download folders vary (``Anomaly-Videos-Part-1`` … or one folder per class), so videos are found
by file name anywhere under ``root``; when a name occurs twice, the copy in the folder the split
file names wins. ``Normal_Videos_for_Event_Recognition`` is never searched: it holds the
release's event-recognition set, whose file names repeat those of the anomaly-detection normal
videos without being the same clips, so a listed video found only there is missing. Training
uses the normal videos of ``Anomaly_Train.txt`` (unsupervised VAD trains on normal data);
``train_videos: all`` adds its anomalous ones.

The annotation line ``Arson011_x264.mp4  Arson  150  420  680  1267`` marks frames 150..420 and
680..1267, counted from 1 and inclusive as in the official ``Evaluate_Anomaly_Detector.m``
(``GT(s:e) = 1``); -1 means no event. Labels are per decoded frame. An end past the last frame
is clipped, as the official script clips it (decoders disagree on counts by a frame); a start
past the last frame is an error.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from vadbench.sdk import (
    ConfigError,
    DataError,
    DatasetSpec,
    ListedDataset,
    MissingFiles,
    Split,
    Video,
    VideoDatasetOptions,
    count_frames,
    hookimpl,
    is_video_file,
    one_file,
    read_lines,
    require_root,
    under_root,
    video_file_video,
    visible,
)

ANNOTATION = re.compile(r"Temporal_Anomaly_Annotation.*\.txt", re.IGNORECASE)
TRAIN_LIST = "Anomaly_Train.txt"
TRAIN_NORMAL_FOLDER = "Training_Normal_Videos_Anomaly"
TEST_NORMAL_FOLDER = "Testing_Normal_Videos_Anomaly"
# Part of the download, but another task's data: its names repeat the normal videos' names.
EVENT_RECOGNITION_FOLDER = "Normal_Videos_for_Event_Recognition"
LAYOUT = (
    "<root>/…/<Class>/<Class>NNN_x264.mp4, …/Training_Normal_Videos_Anomaly/, "
    "…/Testing_Normal_Videos_Anomaly/, …/Anomaly_Train.txt, …/Temporal_Anomaly_Annotation*.txt"
)
EXPECTED_TREE = (
    "expected UCF-Crime: videos such as <root>/Abuse/Abuse001_x264.mp4, "
    "<root>/Training_Normal_Videos_Anomaly/Normal_Videos003_x264.mp4 and "
    "<root>/Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4 anywhere under the root, "
    "with Anomaly_Train.txt and Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
)


class UcfCrimeOptions(VideoDatasetOptions):
    annotation_file: Path | None = Field(
        None, description="the 290-line temporal annotation; found under root if unset"
    )
    train_list: Path | None = Field(
        None, description="Anomaly_Train.txt; found under root if unset"
    )
    train_videos: Literal["normal", "all"] = Field(
        "normal", description="'normal': the list's normal videos; 'all': its anomalous ones too"
    )
    annotation_indexing: Literal["matlab", "python_slice"] = Field(
        "matlab",
        description="'matlab': s..e counted from 1, inclusive (official); 'python_slice': "
        "frames [s, e) counted from 0, as some Python ports read it",
    )


@dataclass(frozen=True)
class TestEntry:
    """One line of the temporal annotation."""

    name: str
    category: str
    events: tuple[tuple[int, int], ...]


def read_annotation(path: Path) -> list[TestEntry]:
    """The temporal annotation: ``video class s1 e1 s2 e2`` per line, -1 for no event."""
    entries: list[TestEntry] = []
    seen: set[str] = set()
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise DataError(f"{path}:{number}: expected 6 fields, found {len(fields)}: {line!r}")
        name, category, *bounds = fields
        try:
            s1, e1, s2, e2 = (int(value) for value in bounds)
        except ValueError as error:
            raise DataError(f"{path}:{number}: frame numbers must be integers: {line!r}") from error
        events = []
        for start, end in ((s1, e1), (s2, e2)):
            if (start == -1) != (end == -1):
                raise DataError(f"{path}:{number}: an event with only one end: {line!r}")
            if start != -1:
                if not 0 <= start <= end:
                    raise DataError(f"{path}:{number}: event {start}..{end} is not a range")
                events.append((start, end))
        if name in seen:
            raise DataError(f"{path}:{number}: {name} is listed twice")
        seen.add(name)
        entries.append(TestEntry(name, category, tuple(events)))
    if not entries:
        raise DataError(f"{path}: no annotation lines")
    return entries


def read_train_list(path: Path) -> list[str]:
    """Relative paths of ``Anomaly_Train.txt`` (``Abuse/Abuse001_x264.mp4``), ``/`` separated."""
    return [line.strip().replace("\\", "/") for line in read_lines(path) if line.strip()]


def event_labels(
    events: tuple[tuple[int, int], ...], num_frames: int, indexing: str, where: str
) -> np.ndarray:
    """0/1 per decoded frame; see the module docstring for the two readings of s and e."""
    labels = np.zeros(num_frames, dtype=np.int8)
    for start, end in events:
        first = max(start, 1) - 1 if indexing == "matlab" else start
        stop = min(end, num_frames)
        if first >= num_frames:
            raise DataError(
                f"{where}: event {start}..{end} starts after the last of {num_frames} frames"
            )
        labels[first:stop] = 1
    return labels


class UcfCrimeDataset(ListedDataset[UcfCrimeOptions]):
    format_name = "ucfcrime"

    def __init__(self, options: UcfCrimeOptions) -> None:
        root = require_root(options, EXPECTED_TREE)
        super().__init__(options, root)
        videos: dict[str, list[Path]] = defaultdict(list)
        other_task: dict[str, list[Path]] = defaultdict(list)
        texts: dict[str, list[Path]] = defaultdict(list)
        for path in _walk(root):
            if is_video_file(path):
                in_other_task = EVENT_RECOGNITION_FOLDER in path.relative_to(root).parts[:-1]
                (other_task if in_other_task else videos)[path.name].append(path)
            elif path.suffix.lower() == ".txt":
                texts[path.name].append(path)
        self.video_paths = dict(videos)
        self.other_task_videos = dict(other_task)
        self.text_files = dict(texts)
        if not self.video_paths:
            raise ConfigError(f"{root} holds no video files; {EXPECTED_TREE}")

    def _annotation_file(self) -> Path:
        explicit = under_root(self.root, self.options.annotation_file)
        candidates = [
            path
            for name, paths in self.text_files.items()
            if ANNOTATION.fullmatch(name)
            for path in paths
        ]
        return self._one_file(explicit, candidates, "Temporal_Anomaly_Annotation*.txt")

    def _train_list_file(self) -> Path:
        explicit = under_root(self.root, self.options.train_list)
        return self._one_file(explicit, self.text_files.get(TRAIN_LIST, []), TRAIN_LIST)

    def _one_file(self, explicit: Path | None, candidates: list[Path], pattern: str) -> Path:
        if explicit is not None:
            if not explicit.is_file():
                raise DataError(f"{explicit} does not exist")
            return explicit
        found = one_file(candidates, pattern, self.root)
        if found is None:
            raise DataError(f"no {pattern} under {self.root}; {EXPECTED_TREE}")
        return found

    def _locate(self, name: str, folder: str, listed_in: Path) -> Path | None:
        """The file called ``name``, None when there is none; if several, the one inside a
        folder called ``folder``."""
        candidates = self.video_paths.get(name, [])
        if len(candidates) > 1:
            candidates = [p for p in candidates if p.parent.name == folder] or candidates
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            return None
        listed = ", ".join(str(p) for p in sorted(candidates))
        raise DataError(f"{name}, listed in {listed_in}, is ambiguous: {listed}")

    def _missing_name(self, name: str) -> str:
        """A missing video's name, saying where a copy was seen but not taken."""
        if name in self.other_task_videos:
            return f"{name} (only in {EVENT_RECOGNITION_FOLDER}, not taken)"
        return name

    def split_layout(self, split: Split) -> None:
        if split == "train":
            self._train_list_file()
        else:
            self._annotation_file()

    def videos(self, split: Split) -> list[Video]:
        self.split_layout(split)
        return self._train_videos() if split == "train" else self._test_videos()

    def _train_videos(self) -> list[Video]:
        path = self._train_list_file()
        missing = MissingFiles(self.format_name, "video", f"listed in {path}")
        found = []
        listed = 0
        for entry in read_train_list(path):
            folder, _, name = entry.rpartition("/")
            folder_name = folder.rsplit("/", 1)[-1]
            normal = folder_name == TRAIN_NORMAL_FOLDER or name.startswith("Normal_Videos")
            if self.options.train_videos == "normal" and not normal:
                continue
            listed += 1
            located = self._locate(name, folder_name, path)
            if located is None:
                missing.add(self._missing_name(name))
            else:
                found.append(located)
        if not listed:
            raise DataError(f"{path}: no {self.options.train_videos} training videos listed")
        missing.settle(self.options.missing)
        return [video_file_video(located, located.stem, self.options) for located in found]

    def _test_videos(self) -> list[Video]:
        path = self._annotation_file()
        entries = read_annotation(path)
        missing = MissingFiles(self.format_name, "test video", f"listed in {path}")
        located_entries = []
        for entry in entries:
            folder = TEST_NORMAL_FOLDER if entry.category == "Normal" else entry.category
            located = self._locate(entry.name, folder, path)
            if located is None:
                missing.add(self._missing_name(entry.name))
            else:
                located_entries.append((entry, located))
        missing.settle(self.options.missing)
        videos = []
        for entry, located in located_entries:
            num_frames = count_frames(located, self.options.frame_count)
            labels = event_labels(
                entry.events,
                num_frames,
                self.options.annotation_indexing,
                f"{path}: {entry.name}",
            )
            videos.append(
                video_file_video(
                    located,
                    Path(entry.name).stem,
                    self.options,
                    labels=labels,
                    num_frames=num_frames,
                )
            )
        return videos


def _walk(root: Path) -> Iterator[Path]:
    """Every visible file under ``root``, skipping hidden folders. Symlinked folders (datasets
    are often linked together) are followed, each real folder once, so a loop cannot recurse."""
    seen: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if visible(path):
                yield path


def open_ucfcrime(options: UcfCrimeOptions) -> UcfCrimeDataset:
    return UcfCrimeDataset(options)


@hookimpl
def vadbench_register_datasets(register: Any) -> None:
    register(
        DatasetSpec(
            name="ucfcrime",
            description="UCF-Crime: class folders of .mp4, Anomaly_Train.txt, 290-line temporal "
            "annotation",
            layout=LAYOUT,
            options=UcfCrimeOptions,
            open=open_ucfcrime,
        )
    )
