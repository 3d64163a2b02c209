"""The ``frames`` dataset: the FFP/MNAD packaging most VAD code reads.

::

    <root>/training/frames/<video>/<frame>.jpg|png|tif …
    <root>/testing/frames/<video>/<frame>.jpg|png|tif …
    <root>/<name>.mat                          FFP intervals: gt{i} = 2×K [starts; ends], 1-based
    <root>/frame_labels_<name>.npy             MNAD/MPN: all test videos concatenated, 1-D or (1, N)
    <root>/testing/test_frame_mask/<video>.npy per-video 0/1 frame labels (ShanghaiTech)
    <root>/testing/test_pixel_mask/<video>.npy per-video (T, H, W) pixel masks, optional

When a dataset called ``ped2`` or ``avenue`` has no label file of its own, the MNAD labels that
ship with vadbench (``labels/frame_labels_<name>.npy`` next to this module) are used: the
de-facto standard ground truth, so results compare with published numbers.

Videos are the sorted sub-folders; frames are sorted by the number in their name, so unpadded
names (``10.jpg`` after ``9.jpg``) keep their order. Names starting with a dot (AppleDouble
``._*`` files and other strays) are ignored. Labels never get silently clipped or padded: a
label source whose length or video count disagrees with the frames is an error naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field
from scipy.io import loadmat

from vadbench.sdk import (
    ConfigError,
    DataError,
    DatasetOptions,
    DatasetSpec,
    ListSource,
    MissingFiles,
    NpyMaskReader,
    Split,
    Video,
    frame_folder_video,
    frame_number,
    hookimpl,
    list_frames,
    load_npy,
    missing_frames,
    natural_key,
    options_fingerprint,
    require_root,
    split_config_error,
    visible,
)

SPLIT_FOLDERS: dict[Split, str] = {"train": "training", "test": "testing"}
# The MNAD/MPN concatenated frame labels shipped as package data (labels/README.md).
SHIPPED_LABELS = Path(__file__).resolve().parent / "labels"
SHIPPED_NAMES = ("ped2", "avenue")
LAYOUT = (
    "<root>/{training,testing}/frames/<video>/<frame>.{jpg,png,tif}; test labels from "
    "<root>/<name>.mat, frame_labels_<name>.npy or testing/test_frame_mask/<video>.npy"
)
EXPECTED_TREE = (
    "expected the FFP/MNAD layout: <root>/training/frames/01/000.jpg ..., "
    "<root>/testing/frames/01/000.jpg ..., and test labels in <root>/<name>.mat, "
    "<root>/frame_labels_<name>.npy or <root>/testing/test_frame_mask/01.npy"
)


class FramesOptions(DatasetOptions):
    name: str | None = Field(None, description="label file stem; the root folder's name if unset")
    labels: Literal["auto", "mat", "npy", "frame_mask"] = Field(
        "auto",
        description="where test labels come from; 'auto' tries frame_mask, then mat, then npy "
        "(the shipped MNAD file last, for ped2 and avenue)",
    )
    label_file: Path | None = Field(None, description="explicit .mat or .npy label file")


def shipped_label_file(name: str) -> Path | None:
    """The shipped ``frame_labels_<name>.npy`` (``ped2``, ``avenue``), or None for other names:
    the standard labels travel with vadbench, so no download is needed to reproduce them."""
    if name not in SHIPPED_NAMES:
        return None
    return SHIPPED_LABELS / f"frame_labels_{name}.npy"


def list_videos(frames_root: Path) -> list[Path]:
    folders = (p for p in frames_root.iterdir() if visible(p) and p.is_dir())
    return sorted(folders, key=lambda p: natural_key(p.name))


def intervals_to_labels(intervals: np.ndarray, num_frames: int, where: str) -> np.ndarray:
    """FFP ``gt`` cell: a 2×K [starts; ends] array, 1-based inclusive, to 0/1 frame labels."""
    ranges = np.asarray(intervals).astype(np.int64).reshape(2, -1)
    labels = np.zeros(num_frames, dtype=np.int8)
    for start, end in ranges.T:
        if not 1 <= start <= end <= num_frames:
            raise DataError(
                f"{where}: interval {start}:{end} is outside 1..{num_frames} (1-based, inclusive)"
            )
        labels[start - 1 : end] = 1
    return labels


def read_mat_labels(path: Path, frame_counts: Sequence[int]) -> list[np.ndarray]:
    """Per-video labels from an FFP ``<name>.mat`` (variable ``gt``, one cell per test video)."""
    try:
        content = loadmat(path, squeeze_me=True)
    except (OSError, ValueError, NotImplementedError) as error:
        raise DataError(f"{path}: cannot read MATLAB file ({error})") from error
    if "gt" not in content:
        found = ", ".join(k for k in content if not k.startswith("__"))
        raise DataError(f"{path}: no variable 'gt' (found: {found or 'none'})")
    cells = content["gt"]
    if cells.dtype != object:  # squeeze_me turns a one-video cell array into the bare matrix
        single = np.empty(1, dtype=object)
        single[0] = cells
        cells = single
    cells = cells.reshape(-1)
    if len(cells) != len(frame_counts):
        raise DataError(
            f"{path}: 'gt' has {len(cells)} entries for {len(frame_counts)} test videos"
        )
    return [
        intervals_to_labels(cell, count, f"{path} entry {index + 1}")
        for index, (cell, count) in enumerate(zip(cells, frame_counts, strict=True))
    ]


def split_concatenated_labels(path: Path, frame_counts: Sequence[int]) -> list[np.ndarray]:
    """Per-video labels from an MNAD/MPN concatenated ``frame_labels_<name>.npy`` (1-D or 1×N)."""
    labels = load_npy(path)
    if labels.ndim == 2 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.ndim != 1:
        raise DataError(f"{path}: expected a 1-D or (1, N) array, got shape {labels.shape}")
    if len(labels) != sum(frame_counts):
        raise DataError(
            f"{path}: {len(labels)} labels for {sum(frame_counts)} test frames "
            f"in {len(frame_counts)} videos"
        )
    if not np.isin(labels, (0, 1)).all():
        raise DataError(f"{path}: labels must be 0 or 1")
    boundaries = np.cumsum(frame_counts)[:-1]
    return [part.astype(np.int8) for part in np.split(labels, boundaries)]


def frame_mask_files(folder: Path) -> dict[str, Path]:
    """``test_frame_mask/<video>.npy`` by video id."""
    return {p.stem: p for p in folder.glob("*.npy") if visible(p) and p.is_file()}


def read_frame_mask(path: Path, num_frames: int) -> np.ndarray:
    """One video's 0/1 labels from its ``test_frame_mask/<video>.npy``."""
    values = load_npy(path).reshape(-1)
    if len(values) != num_frames:
        raise DataError(f"{path}: {len(values)} labels for {num_frames} frames")
    numeric = values.dtype.kind in "biuf"
    bad = np.flatnonzero(~np.isin(values, (0, 1))) if numeric else np.arange(min(1, len(values)))
    if len(bad):
        raise DataError(
            f"{path}: frame {int(bad[0])} is labelled {values[bad[0]]!r}; frame labels are 0 "
            "(normal) or 1 (anomalous)"
        )
    return values.astype(np.int8)


def missing_frame_masks(
    folder: Path, files: Mapping[str, Path], video_ids: Sequence[str], missing: MissingFiles
) -> set[str]:
    """Report test videos without a label file and label files without a video folder; the ids
    of the videos that lack their label file."""
    unlabelled = {video_id for video_id in video_ids if video_id not in files}
    for video_id in video_ids:
        if video_id in unlabelled:
            missing.add(f"{folder.parent.name}/{folder.name}/{video_id}.npy")
    for stem in sorted(set(files) - set(video_ids), key=natural_key):
        missing.add(f"the frames of {stem}/ (labelled by {folder.name}/{stem}.npy)")
    return unlabelled


class FramesDataset:
    """One dataset root in the FFP/MNAD packaging."""

    def __init__(self, options: FramesOptions) -> None:
        self.options = options
        self.root = require_root(options, EXPECTED_TREE)
        self.name = options.name or self.root.name
        present = [s for s, f in SPLIT_FOLDERS.items() if (self.root / f / "frames").is_dir()]
        if not present:
            raise ConfigError(
                f"{self.root} has neither training/frames nor testing/frames; {EXPECTED_TREE}"
            )

    def fingerprint(self) -> Mapping[str, Any]:
        return options_fingerprint("frames", self.options, self.root)

    def check_split(self, split: Split) -> None:
        """At configuration time: the split's frames folder, and for the test split a label
        source, must be there (ConfigError), so a matrix fails before anything trains."""
        split_config_error(lambda: self._split_layout(split))

    def _split_layout(self, split: Split) -> None:
        self._frames_root(split)
        if split == "test":
            self._label_source()

    def _frames_root(self, split: Split) -> Path:
        folder = self.root / SPLIT_FOLDERS[split] / "frames"
        if not folder.is_dir():
            raise DataError(
                f"{self.root}: no {SPLIT_FOLDERS[split]}/frames folder; {EXPECTED_TREE}"
            )
        return folder

    def _label_source(self) -> tuple[str, Path]:
        if self.options.label_file is not None:
            path = self.options.label_file
            path = path if path.is_absolute() else self.root / path
            if not path.is_file():
                raise DataError(f"label file {path} does not exist")
            kind = "mat" if path.suffix == ".mat" else "npy"
            return kind, path
        shipped = shipped_label_file(self.name)
        candidates = {
            "frame_mask": [self.root / "testing" / "test_frame_mask"],
            "mat": [self.root / f"{self.name}.mat"],
            "npy": [
                self.root / f"frame_labels_{self.name}.npy",
                self.root.parent / f"frame_labels_{self.name}.npy",
                *([shipped] if shipped is not None else []),
            ],
        }
        kinds = list(candidates) if self.options.labels == "auto" else [self.options.labels]
        for kind in kinds:
            for path in candidates[kind]:
                if path.exists():
                    return kind, path
        looked = ", ".join(str(p) for k in kinds for p in candidates[k])
        raise DataError(f"no test labels for {self.root}: looked for {looked}")

    @cached_property
    def _test_videos(self) -> tuple[Video, ...]:
        return self._videos("test")

    @cached_property
    def _train_videos(self) -> tuple[Video, ...]:
        return self._videos("train")

    def source(self, split: Split) -> ListSource:
        videos = self._test_videos if split == "test" else self._train_videos
        return ListSource(f"{self.name}", split, videos)

    def _videos(self, split: Split) -> tuple[Video, ...]:
        self._split_layout(split)
        folders = list_videos(self._frames_root(split))
        frame_lists = [list_frames(folder) for folder in folders]
        ids = [folder.name for folder in folders]
        missing = MissingFiles(self.name, "file", f"the {split} split needs")
        lacking = set()
        for folder, frames in zip(folders, frame_lists, strict=True):
            # Packagings number from 0 or from 1: a gap after the first frame is what can be seen.
            first = frame_number(frames[0]) if frames else None
            problems = missing_frames(folder, frames, first)
            for problem in problems:
                missing.add(problem)
            if problems:
                lacking.add(folder.name)
        kind, label_path = self._label_source() if split == "test" else ("", Path())
        mask_files: dict[str, Path] = {}
        if kind == "frame_mask":
            mask_files = frame_mask_files(label_path)
            lacking |= missing_frame_masks(label_path, mask_files, ids, missing)
        missing.settle(self.options.missing)
        kept = [
            (folder, video_id, frames)
            for folder, video_id, frames in zip(folders, ids, frame_lists, strict=True)
            if video_id not in lacking
        ]
        if not kept:
            raise DataError(f"{self.name}: no {split} videos under {self.root}")
        counts = [len(frames) for _, _, frames in kept]
        labels: list[np.ndarray | None] = [None] * len(kept)
        if kind == "mat":
            labels = list(read_mat_labels(label_path, counts))
        elif kind == "npy":
            labels = list(split_concatenated_labels(label_path, counts))
        elif kind == "frame_mask":
            labels = [
                read_frame_mask(mask_files[video_id], count)
                for (_, video_id, _), count in zip(kept, counts, strict=True)
            ]
        pixel_masks = self.root / "testing" / "test_pixel_mask"
        videos = []
        for (folder, video_id, frames), video_labels in zip(kept, labels, strict=True):
            mask_file = pixel_masks / f"{video_id}.npy"
            mask_reader = (
                NpyMaskReader(mask_file, len(frames), self.options.frame_size)
                if split == "test" and mask_file.is_file()
                else None
            )
            videos.append(
                frame_folder_video(
                    folder,
                    video_id,
                    self.options.frame_size,
                    labels=video_labels,
                    read_mask=mask_reader,
                    frames=frames,
                )
            )
        return tuple(videos)


def open_frames(options: FramesOptions) -> FramesDataset:
    return FramesDataset(options)


@hookimpl
def vadbench_register_datasets(register: Any) -> None:
    register(
        DatasetSpec(
            name="frames",
            description="FFP/MNAD frame-folder packaging (ped1, ped2, avenue, shanghaitech, ...)",
            layout=LAYOUT,
            options=FramesOptions,
            open=open_frames,
        )
    )
