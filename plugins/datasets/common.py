"""What the real-dataset plugins share: the options every one of them has, the layout check,
videos over frame folders and video files, label and mask helpers, and class-spread sampling.

Frame folders and video files are both decoded by ``vadbench.video`` (FFmpeg through PyAV, the
same scaler for both), so every dataset decodes the same way.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import av
import numpy as np
from PIL import Image
from pydantic import Field

from vadbench.api import ConfigError, DataError, ListSource, MaskReader, Options, Split, Video
from vadbench.framecache import cached
from vadbench.video import (
    FrameCounting,
    decode_images,
    is_image_file,
    is_video_file,
    video_from_file,
)


class DatasetOptions(Options):
    root: Path = Field(description="the dataset's top folder as distributed")
    frame_size: tuple[int, int] | None = Field(
        None, description="(height, width) every frame is resized to; native size if unset"
    )


Item = TypeVar("Item")
OptionsT = TypeVar("OptionsT", bound=DatasetOptions)


class VideoDatasetOptions(DatasetOptions):
    frame_count: FrameCounting = Field(
        "metadata",
        description="'metadata': the count the container states (a file shorter than that is "
        "an error when read); 'decode': decode every file once to count its frames",
    )


def visible(path: Path) -> bool:
    """False for AppleDouble ``._*`` files, ``.DS_Store`` and other dot-strays."""
    return not path.name.startswith(".")


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that puts ``9`` before ``10`` and compares the rest as text."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text)
    )


def list_frames(folder: Path) -> list[Path]:
    """Image files of one video folder in frame order (``9.jpg`` before ``10.jpg``)."""
    files = [p for p in folder.iterdir() if is_image_file(p) and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.stem))


def require_root(options: DatasetOptions, expected_tree: str) -> Path:
    """The options' root, which must be a folder; the error prints the expected tree."""
    root = options.root.expanduser()
    if not root.is_dir():
        raise ConfigError(f"dataset root {root} does not exist; {expected_tree}")
    return root


def under_root(root: Path, path: Path | None) -> Path | None:
    """An optional path option: relative paths are taken relative to the dataset root."""
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() else root / path


def read_lines(path: Path) -> list[str]:
    """A text file's lines; a BOM is dropped and bytes that are not UTF-8 become U+FFFD."""
    try:
        return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from error


def first_existing(candidates: Iterable[Path]) -> Path | None:
    return next((path for path in candidates if path.exists()), None)


def subfolders(folder: Path) -> list[Path]:
    """Visible sub-folders in natural order."""
    return sorted(
        (p for p in folder.iterdir() if visible(p) and p.is_dir()),
        key=lambda p: natural_key(p.name),
    )


def video_files(folder: Path) -> list[Path]:
    """Visible video files directly in ``folder``, in natural order."""
    return sorted(
        (p for p in folder.iterdir() if is_video_file(p) and p.is_file()),
        key=lambda p: natural_key(p.name),
    )


def options_fingerprint(dataset: str, options: Options, root: Path) -> dict[str, Any]:
    return {"format": dataset, **options.model_dump(mode="json"), "root": str(root.resolve())}


def frame_number(path: Path) -> int | None:
    """The number a frame file is named by (``001.tif`` -> 1, ``frame12.jpg`` -> 12)."""
    match = re.search(r"(\d+)$", path.stem)
    return int(match.group(1)) if match else None


def check_numbering(folder: Path, frames: Sequence[Path], first: int) -> None:
    """Frames must be numbered ``first``, ``first + 1``, ... without gaps: labels index them."""
    for expected, path in enumerate(frames, start=first):
        if frame_number(path) != expected:
            raise DataError(
                f"{folder}: frame number {expected} expected, found {path.name} (frames must be "
                f"numbered from {first} without gaps, since labels index them)"
            )


class FrameFolderReader:
    """Reads a range of a frame folder's images on demand (picklable: names and a size).

    Keeps the folder once and the file names as strings: a large set (Jester lists millions
    of frames) then costs far less memory than one Path per frame.
    """

    def __init__(self, files: Sequence[Path], size: tuple[int, int] | None) -> None:
        self.folder = files[0].parent if files else Path()
        self.names = tuple(path.name for path in files)
        self.size = size

    def __call__(self, start: int, stop: int) -> np.ndarray:
        return decode_images([self.folder / name for name in self.names[start:stop]], self.size)

    def source_files(self) -> Iterator[Path]:
        folder = self.folder.absolute()
        return (folder / name for name in self.names)

    def decode_settings(self) -> dict[str, Any]:
        return {"reader": "pyav-image", "size": self.size, "pyav": av.__version__}


def frame_folder_video(
    folder: Path,
    video_id: str,
    size: tuple[int, int] | None,
    *,
    labels: np.ndarray | None = None,
    read_mask: MaskReader | None = None,
    first_number: int | None = None,
    frames: Sequence[Path] | None = None,
) -> Video:
    """A Video over one folder of images; ``first_number`` also checks their numbering."""
    files = list_frames(folder) if frames is None else frames
    if not files:
        raise DataError(f"{folder}: video folder holds no frames")
    if first_number is not None:
        check_numbering(folder, files, first_number)
    if labels is not None and len(labels) != len(files):
        raise DataError(f"{folder}: {len(labels)} frame labels for {len(files)} frames")
    return Video(
        id=video_id,
        num_frames=len(files),
        read_frames=cached(FrameFolderReader(files, size), len(files)),
        labels=labels,
        read_mask=read_mask,
    )


def video_file_video(
    path: Path,
    video_id: str,
    options: VideoDatasetOptions,
    *,
    labels: np.ndarray | None = None,
    read_mask: MaskReader | None = None,
    num_frames: int | None = None,
) -> Video:
    """A Video over one file, decoded and sized as the dataset's options say."""
    return video_from_file(
        path,
        video_id,
        size=options.frame_size,
        labels=labels,
        read_mask=read_mask,
        frame_count=options.frame_count,
        num_frames=num_frames,
    )


def resize_mask(mask: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """A bool mask, resized with nearest neighbour so it stays binary and aligned with frames."""
    binary = np.asarray(mask) > 0
    if size is None or binary.shape == size:
        return binary
    image = Image.fromarray(binary.astype(np.uint8) * 255)
    return np.asarray(image.resize((size[1], size[0]), Image.Resampling.NEAREST)) > 0


class MaskImageReader:
    """Pixel masks stored one image per frame (UCSD ``_gt`` BMPs); nonzero is anomalous."""

    def __init__(self, files: Sequence[Path], size: tuple[int, int] | None) -> None:
        self.files = tuple(files)
        self.size = size

    def __call__(self, index: int) -> np.ndarray:
        path = self.files[index]
        try:
            with Image.open(path) as image:
                mask = np.asarray(image.convert("L"))
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: cannot read mask ({error})") from error
        return resize_mask(mask, self.size)


class NpyMaskReader:
    """One frame's mask from a (T, H, W) ``.npy`` without loading the whole array."""

    def __init__(self, path: Path, num_frames: int, size: tuple[int, int] | None) -> None:
        self.path = path
        self.num_frames = num_frames
        self.size = size

    def __call__(self, index: int) -> np.ndarray:
        masks = np.load(self.path, mmap_mode="r", allow_pickle=False)
        if masks.ndim != 3 or masks.shape[0] != self.num_frames:
            raise DataError(
                f"{self.path}: expected ({self.num_frames}, H, W) masks, got {masks.shape}"
            )
        return resize_mask(masks[index], self.size)


def ranges_to_labels(
    ranges: Iterable[tuple[int, int]], num_frames: int, where: str, *, first: int
) -> np.ndarray:
    """Inclusive frame ranges counted from ``first`` (0 or 1) to 0/1 labels; out of range is
    an error, never a silent clip."""
    labels = np.zeros(num_frames, dtype=np.int8)
    last = num_frames - 1 + first
    for start, end in ranges:
        if not first <= start <= end <= last:
            raise DataError(
                f"{where}: range {start}:{end} is outside {first}..{last} "
                f"(inclusive, frames counted from {first})"
            )
        labels[start - first : end - first + 1] = 1
    return labels


def check_same_keys(
    where: str, expected: Iterable[str], found: Iterable[str], what: str = "label entries"
) -> None:
    """Labels and videos must pair up exactly: a missing or extra entry is an error."""
    expected_set, found_set = set(expected), set(found)
    missing = sorted(expected_set - found_set, key=natural_key)
    extra = sorted(found_set - expected_set, key=natural_key)
    if missing or extra:
        raise DataError(
            f"{where}: {what} do not match the videos "
            f"(no entry for: {', '.join(missing) or 'none'}; "
            f"entries without a video: {', '.join(extra) or 'none'})"
        )


def spread_over_classes(
    items: Sequence[Item],
    class_of: Callable[[Item], Hashable],
    max_items: int | None,
    seed: int,
) -> list[Item]:
    """At most ``max_items`` items, spread evenly over classes.

    Each class's items are shuffled with ``seed``; then one item per class is taken in sorted
    class order, round after round, so every class is represented before any gets a second.
    """
    if max_items is None or max_items >= len(items):
        return list(items)
    by_class: dict[Hashable, list[Item]] = defaultdict(list)
    for item in items:
        by_class[class_of(item)].append(item)
    rng = np.random.default_rng(seed)
    queues = []
    for name in sorted(by_class, key=lambda c: natural_key(str(c))):
        members = by_class[name]
        queues.append([members[i] for i in rng.permutation(len(members))])
    chosen: list[Item] = []
    depth = 0
    while len(chosen) < max_items:
        for queue in queues:
            if depth < len(queue) and len(chosen) < max_items:
                chosen.append(queue[depth])
        depth += 1
    return chosen


class ListedDataset(ABC, Generic[OptionsT]):
    """Base of the dataset plugins here: a split is listed (and its frames counted) once, on
    first use, so opening stays cheap and repeated ``source`` calls cost nothing."""

    format_name = ""

    def __init__(self, options: OptionsT, root: Path) -> None:
        self.options = options
        self.root = root
        self._sources: dict[Split, ListSource] = {}

    @property
    def source_name(self) -> str:
        return self.format_name

    def source(self, split: Split) -> ListSource:
        if split not in self._sources:
            self._sources[split] = ListSource(self.source_name, split, tuple(self.videos(split)))
        return self._sources[split]

    def fingerprint(self) -> Mapping[str, Any]:
        return options_fingerprint(self.format_name, self.options, self.root)

    @abstractmethod
    def videos(self, split: Split) -> list[Video]:
        """The split's videos in their fixed order; raises DataError where the data disagrees."""
