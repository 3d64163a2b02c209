"""The ``videofolder`` dataset: any folder of your own videos, to benchmark your cameras.

::

    <root>/train/<video>.mp4 …             normal footage: video files and/or frame folders
    <root>/train/<video>/000.jpg …          (a folder of images is one video, natural order)
    <root>/test/<video>.avi …
    <root>/labels.csv                       video,start,end: anomalous frames of test videos
                                        (optional: without it test videos are unlabelled)

``labels.csv`` has a header row naming the columns ``video``, ``start`` and ``end`` (others are
ignored). ``video`` is a test video's id (its file name without the extension, or its folder
name) or its file name; ``start``..``end`` are frame indices counted from 0, both inclusive;
a video may have several rows. A test video without rows is all normal; a row naming no test
video is a missing video (``missing: skip`` ignores its rows), and a range past the video's end
is an error. Without ``labels.csv`` at all, the test videos have no labels: a matrix scores them
(``vadbench detect`` is the direct route), stores their scores, and reports their AUCs as n/a.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

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
    frame_folder_video,
    hookimpl,
    list_frames,
    missing_frames,
    ranges_to_labels,
    require_root,
    subfolders,
    under_root,
    video_file_video,
    video_files,
)

SPLIT_FOLDERS: dict[Split, str] = {"train": "train", "test": "test"}
LABEL_COLUMNS = ("video", "start", "end")
# Folders that archive tools add next to the real content.
IGNORED_FOLDERS = {"__MACOSX"}
LAYOUT = (
    "<root>/{train,test}/<video>.{mp4,avi,…} or <video>/<frame>.{jpg,png}; "
    "<root>/labels.csv: video,start,end (0-based, inclusive)"
)
EXPECTED_TREE = (
    "expected <root>/train/<video>.mp4 ... and <root>/test/<video>.mp4 ... (or frame folders "
    "<root>/test/<video>/000.jpg ...) with <root>/labels.csv: video,start,end"
)


class VideoFolderOptions(VideoDatasetOptions):
    labels_file: Path | None = Field(
        None, description="CSV of anomalous ranges; default <root>/labels.csv"
    )


def read_label_ranges(path: Path) -> dict[str, list[tuple[int, int, int]]]:
    """Rows of ``labels.csv`` per video: (start, end, line number)."""
    ranges: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in LABEL_COLUMNS if name not in columns]
            if missing:
                raise DataError(
                    f"{path}: the header must name the columns video,start,end "
                    f"(missing: {', '.join(missing)})"
                )
            for row in reader:
                values = {key.strip(): (value or "").strip() for key, value in row.items() if key}
                line = reader.line_num
                try:
                    start, end = int(values["start"]), int(values["end"])
                except ValueError as error:
                    raise DataError(
                        f"{path}:{line}: start and end must be integers ({error})"
                    ) from error
                if not values["video"]:
                    raise DataError(f"{path}:{line}: empty video name")
                ranges[values["video"]].append((start, end, line))
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from error
    return dict(ranges)


class VideoFolderDataset(ListedDataset[VideoFolderOptions]):
    format_name = "videofolder"

    def __init__(self, options: VideoFolderOptions) -> None:
        root = require_root(options, EXPECTED_TREE)
        super().__init__(options, root)
        if not any((root / folder).is_dir() for folder in SPLIT_FOLDERS.values()):
            raise ConfigError(f"{root} has neither train/ nor test/; {EXPECTED_TREE}")

    @property
    def source_name(self) -> str:
        return self.root.name

    def _labels_file(self) -> Path:
        return under_root(self.root, self.options.labels_file) or self.root / "labels.csv"

    def split_layout(self, split: Split) -> None:
        folder = self.root / SPLIT_FOLDERS[split]
        if not folder.is_dir():
            raise DataError(
                f"{self.root}: no {SPLIT_FOLDERS[split]}/ folder for the {split} split; "
                f"{EXPECTED_TREE}"
            )

    def _entries(self, split: Split) -> list[tuple[str, Path]]:
        """(id, file or frame folder) of every video of a split, sorted by id."""
        folder = self.root / SPLIT_FOLDERS[split]
        entries = [(path.stem, path) for path in video_files(folder)]
        entries += [
            (path.name, path) for path in subfolders(folder) if path.name not in IGNORED_FOLDERS
        ]
        by_id: dict[str, Path] = {}
        for video_id, path in entries:
            if video_id in by_id:
                raise DataError(
                    f"{folder}: {by_id[video_id].name} and {path.name} are both video {video_id!r}"
                )
            by_id[video_id] = path
        if not by_id:
            raise DataError(f"{folder}: no video files or frame folders; {EXPECTED_TREE}")
        return sorted(by_id.items())

    def videos(self, split: Split) -> list[Video]:
        self.split_layout(split)
        entries = self._entries(split)
        missing = MissingFiles(self.format_name, "file", f"the {split} split needs")
        frame_lists: dict[str, list[Path]] = {}
        for video_id, path in entries:
            if path.is_dir():
                frame_lists[video_id] = list_frames(path)
                for problem in missing_frames(path, frame_lists[video_id], None):
                    missing.add(problem)
        complete = [
            (video_id, path)
            for video_id, path in entries
            if not path.is_dir() or frame_lists[video_id]
        ]
        if split == "train" or not self._labels_file().is_file():
            # Without labels.csv the test videos are unlabelled: scored, with AUCs n/a.
            missing.settle(self.options.missing)
            return [
                self._video(video_id, path, frame_lists.get(video_id))
                for video_id, path in complete
            ]
        labels_file = self._labels_file()
        rows = read_label_ranges(labels_file)
        names = {path.name: video_id for video_id, path in entries if path.is_file()}
        by_id: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for name, name_rows in rows.items():
            by_id[names.get(name, name)].extend(name_rows)
        known = {video_id for video_id, _ in entries}
        for video_id in sorted(set(by_id) - known):
            missing.add(f"{SPLIT_FOLDERS[split]}/{video_id} (rows of {labels_file.name})")
        missing.settle(self.options.missing)
        videos = []
        for video_id, path in complete:
            frames = frame_lists.get(video_id)
            count = (
                len(frames) if frames is not None else count_frames(path, self.options.frame_count)
            )
            labels = np.zeros(count, dtype=np.int8)
            for start, end, line in by_id.get(video_id, []):
                where = f"{labels_file}:{line} ({video_id})"
                labels |= ranges_to_labels([(start, end)], count, where, first=0)
            if frames is not None:
                videos.append(
                    frame_folder_video(
                        path, video_id, self.options.frame_size, labels=labels, frames=frames
                    )
                )
            else:
                videos.append(
                    video_file_video(path, video_id, self.options, labels=labels, num_frames=count)
                )
        return videos

    def _video(self, video_id: str, path: Path, frames: list[Path] | None) -> Video:
        if frames is not None:
            return frame_folder_video(path, video_id, self.options.frame_size, frames=frames)
        return video_file_video(path, video_id, self.options)


def open_videofolder(options: VideoFolderOptions) -> VideoFolderDataset:
    return VideoFolderDataset(options)


@hookimpl
def vadbench_register_datasets(register: Any) -> None:
    register(
        DatasetSpec(
            name="videofolder",
            description="your own videos: train/ and test/ folders of video files or frame "
            "folders, labels.csv of anomalous ranges",
            layout=LAYOUT,
            options=VideoFolderOptions,
            open=open_videofolder,
        )
    )
