"""The ``avenue`` dataset: CUHK Avenue as released (``Avenue_Dataset.zip`` and
``ground_truth_demo.zip``).

::

    <root>/training_videos/01.avi … 16.avi
    <root>/testing_videos/01.avi … 21.avi
    <gt>/testing_label_mask/1_label.mat … 21_label.mat    not zero-padded; volLabel: (1, N) masks

``<gt>`` is ``<root>/ground_truth_demo``, ``<root>`` or the ``ground_truth_demo`` folder next to
``<root>`` (the two zips unpack side by side), unless ``label_mask_dir`` names the folder. Frame
labels are by default derived from the masks (a frame with any nonzero pixel is anomalous).
Those differ from the de-facto standard labels (FFP ``avenue.mat``, equal to MNAD's
``frame_labels_avenue.npy``, 3,867 anomalous frames), which ``frame_labels: file`` reads instead.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy.io import loadmat, whosmat

from vadbench.sdk import (
    ConfigError,
    DataError,
    DatasetSpec,
    ListedDataset,
    MissingFiles,
    Split,
    Video,
    VideoDatasetOptions,
    check_same_keys,
    count_frames,
    first_existing,
    hookimpl,
    identical_files,
    require_root,
    resize_mask,
    under_root,
    video_file_video,
    video_files,
)

from .frames import read_mat_labels, split_concatenated_labels

SPLIT_FOLDERS: dict[Split, str] = {"train": "training_videos", "test": "testing_videos"}
LABEL_MASK_FOLDER = "testing_label_mask"
LABEL_MAT = re.compile(r"(\d+)_label\.mat")
LAYOUT = (
    "<root>/{training,testing}_videos/01.avi…; masks in "
    "[<root>/][ground_truth_demo/]testing_label_mask/1_label.mat… (volLabel)"
)
EXPECTED_TREE = (
    "expected the Avenue release: <root>/training_videos/01.avi ..., "
    "<root>/testing_videos/01.avi ..., and <root>/ground_truth_demo/testing_label_mask/"
    "1_label.mat ... (also found in <root>/testing_label_mask or ../ground_truth_demo)"
)


class AvenueOptions(VideoDatasetOptions):
    label_mask_dir: Path | None = Field(
        None, description="the folder holding 1_label.mat …; searched for if unset"
    )
    frame_labels: Literal["masks", "file"] = Field(
        "masks",
        description="'masks': any nonzero volLabel pixel; 'file': label_file (FFP avenue.mat, "
        "its per-video variant with variables '01'…, or MNAD frame_labels_avenue.npy)",
    )
    label_file: Path | None = Field(None, description="frame-label file for frame_labels: file")

    @model_validator(mode="after")
    def _file_needs_a_path(self) -> AvenueOptions:
        if self.frame_labels == "file" and self.label_file is None:
            raise ValueError("frame_labels: file needs label_file (avenue.mat or .npy)")
        return self


def load_volume_labels(path: Path) -> np.ndarray:
    """The ``volLabel`` masks of one ``N_label.mat`` as a (T, H, W) bool array."""
    try:
        content = loadmat(path)
    except (OSError, ValueError, NotImplementedError) as error:
        raise DataError(f"{path}: cannot read MATLAB file ({error})") from error
    if "volLabel" not in content:
        found = ", ".join(k for k in content if not k.startswith("__"))
        raise DataError(f"{path}: no variable 'volLabel' (found: {found or 'none'})")
    cells = np.asarray(content["volLabel"]).reshape(-1)
    masks = [np.asarray(cell) for cell in cells] if cells.dtype == object else None
    if not masks or any(mask.ndim != 2 or mask.shape != masks[0].shape for mask in masks):
        raise DataError(f"{path}: volLabel must be a cell array of equally sized 2-D masks")
    return np.stack([mask > 0 for mask in masks])


class _VolumeCache:
    """The last mask volume read: a mask reader asks for frames of one video in a row, and a
    volume is large (T×H×W), so exactly one is kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._volume: np.ndarray | None = None

    def get(self, path: Path) -> np.ndarray:
        with self._lock:
            if self._path != path or self._volume is None:
                self._volume = None
                self._volume = load_volume_labels(path)
                self._path = path
            return self._volume


_volumes = _VolumeCache()


class VolumeMaskReader:
    """Pixel masks of one test video from its ``N_label.mat`` (picklable: a path and a size)."""

    def __init__(self, path: Path, num_frames: int, size: tuple[int, int] | None) -> None:
        self.path = path
        self.num_frames = num_frames
        self.size = size

    def __call__(self, index: int) -> np.ndarray:
        volume = _volumes.get(self.path)
        if len(volume) != self.num_frames:
            raise DataError(f"{self.path}: {len(volume)} masks for {self.num_frames} frames")
        return resize_mask(volume[index], self.size)


class AvenueDataset(ListedDataset[AvenueOptions]):
    format_name = "avenue"

    def __init__(self, options: AvenueOptions) -> None:
        root = require_root(options, EXPECTED_TREE)
        super().__init__(options, root)
        if not any((root / folder).is_dir() for folder in SPLIT_FOLDERS.values()):
            raise ConfigError(
                f"{root} has neither training_videos nor testing_videos; {EXPECTED_TREE}"
            )

    def _mask_dir(self) -> Path | None:
        explicit = under_root(self.root, self.options.label_mask_dir)
        if explicit is not None:
            if not explicit.is_dir():
                raise DataError(f"label_mask_dir {explicit} does not exist; {EXPECTED_TREE}")
            return explicit
        return first_existing(
            [
                self.root / "ground_truth_demo" / LABEL_MASK_FOLDER,
                self.root / LABEL_MASK_FOLDER,
                self.root.parent / "ground_truth_demo" / LABEL_MASK_FOLDER,
            ]
        )

    def split_layout(self, split: Split) -> None:
        folder = self.root / SPLIT_FOLDERS[split]
        if not folder.is_dir():
            raise DataError(f"{self.root}: no {SPLIT_FOLDERS[split]} folder; {EXPECTED_TREE}")
        if split == "test":
            if self.options.frame_labels == "file":
                self._label_file()
            elif self._mask_dir() is None:
                raise DataError(
                    f"no {LABEL_MASK_FOLDER} folder for the test labels (set label_mask_dir, or "
                    f"frame_labels: file); {EXPECTED_TREE}"
                )

    def videos(self, split: Split) -> list[Video]:
        self.split_layout(split)
        folder = self.root / SPLIT_FOLDERS[split]
        files = video_files(folder)
        if not files:
            raise DataError(f"{folder}: no video files")
        if split == "train":
            return [video_file_video(path, path.stem, self.options) for path in files]
        mask_files = self._mask_files(files)
        if mask_files is not None:
            files = [path for path in files if path.stem in mask_files]
        ids = [path.stem for path in files]
        counts = [count_frames(path, self.options.frame_count) for path in files]
        if self.options.frame_labels == "file":
            labels = self._file_labels(ids, counts)
        else:
            assert mask_files is not None  # split_layout found the folder
            labels = [
                self._mask_labels(mask_files[video_id], count)
                for video_id, count in zip(ids, counts, strict=True)
            ]
        size = self.options.frame_size
        return [
            video_file_video(
                path,
                video_id,
                self.options,
                labels=video_labels,
                read_mask=VolumeMaskReader(mask_files[video_id], count, size)
                if mask_files is not None
                else None,
                num_frames=count,
            )
            for path, video_id, count, video_labels in zip(files, ids, counts, labels, strict=True)
        ]

    def _mask_files(self, files: Sequence[Path]) -> dict[str, Path] | None:
        """``N_label.mat`` per test video, matched by number (``1_label.mat`` is video ``01``).
        A video without its file, or a file without its video, is missing; ``missing: skip``
        leaves such videos out (the result holds only the videos that have their file)."""
        folder = self._mask_dir()
        if folder is None:
            return None
        by_number: dict[int, Path] = {}
        for path in sorted(folder.iterdir()):
            match = LABEL_MAT.fullmatch(path.name)
            if match is None:
                continue
            number = int(match.group(1))
            if number in by_number and not identical_files([by_number[number], path]):
                raise DataError(
                    f"{folder}: both {by_number[number].name} and {path.name} label video "
                    f"{number}, with different contents"
                )
            by_number.setdefault(number, path)
        ids = [path.stem for path in files]
        not_numbered = [video_id for video_id in ids if not video_id.isdigit()]
        if not_numbered:
            raise DataError(
                f"{self.root / 'testing_videos'}: video names must be numbers to pair with "
                f"N_label.mat files: {', '.join(not_numbered)}"
            )
        missing = MissingFiles(self.format_name, "file", "the test split needs")
        videos = {int(video_id) for video_id in ids}
        for video_id in ids:
            if int(video_id) not in by_number:
                missing.add(f"{folder.name}/{int(video_id)}_label.mat")
        for number in sorted(set(by_number) - videos):
            missing.add(f"the testing_videos/ video of {by_number[number].name}")
        missing.settle(self.options.missing)
        return {
            video_id: by_number[int(video_id)] for video_id in ids if int(video_id) in by_number
        }

    @staticmethod
    def _mask_labels(path: Path, num_frames: int) -> np.ndarray:
        volume = load_volume_labels(path)
        if len(volume) != num_frames:
            raise DataError(f"{path}: {len(volume)} masks for {num_frames} frames")
        return np.asarray(volume.any(axis=(1, 2)), dtype=np.int8)

    def _label_file(self) -> Path:
        path = under_root(self.root, self.options.label_file)
        assert path is not None  # the options require it with frame_labels: file
        if not path.is_file():
            raise DataError(f"label file {path} does not exist")
        return path

    def _file_labels(self, ids: Sequence[str], counts: Sequence[int]) -> list[np.ndarray]:
        path = self._label_file()
        if path.suffix == ".npy":
            return split_concatenated_labels(path, counts)
        try:
            names = {name for name, _, _ in whosmat(path)}
        except (OSError, ValueError, NotImplementedError) as error:
            raise DataError(f"{path}: cannot read MATLAB file ({error})") from error
        if "gt" in names:
            return read_mat_labels(path, counts)
        return per_video_mat_labels(path, ids, counts)


def per_video_mat_labels(path: Path, ids: Sequence[str], counts: Sequence[int]) -> list[np.ndarray]:
    """Labels from a ``.mat`` with one 0/1 vector per video, named by video id (``'01'``)."""
    content = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    check_same_keys(str(path), ids, content, "variables")
    labels = []
    for video_id, count in zip(ids, counts, strict=True):
        values = np.asarray(content[video_id]).reshape(-1)
        if len(values) != count:
            raise DataError(f"{path}: variable {video_id!r} has {len(values)} labels for {count}")
        if not np.isin(values, (0, 1)).all():
            raise DataError(f"{path}: variable {video_id!r}: labels must be 0 or 1")
        labels.append(values.astype(np.int8))
    return labels


def open_avenue(options: AvenueOptions) -> AvenueDataset:
    return AvenueDataset(options)


@hookimpl
def vadbench_register_datasets(register: Any) -> None:
    register(
        DatasetSpec(
            name="avenue",
            description="CUHK Avenue original release: .avi videos, volLabel masks or FFP labels",
            layout=LAYOUT,
            options=AvenueOptions,
            open=open_avenue,
        )
    )
