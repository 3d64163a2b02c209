"""What the real-dataset plugins share: the options every one of them has, the layout check and
the configuration-time split check, the report of missing files, videos over frame folders and
video files, label and mask helpers, and class-spread sampling.

Frame folders and video files are both decoded by ``vadbench.sdk.video`` (FFmpeg through PyAV, the
same scaler for both), so every dataset decodes the same way.
"""

from __future__ import annotations

import filecmp
import re
import warnings
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import av
import numpy as np
from PIL import Image
from pydantic import AfterValidator, Field

from vadbench.sdk.contracts import (
    ConfigError,
    DataError,
    ListSource,
    MaskReader,
    Options,
    Split,
    Video,
)
from vadbench.sdk.framecache import cached
from vadbench.sdk.video import (
    REDUCED_DECODING,
    FrameCounting,
    decode_images,
    is_image_file,
    is_video_file,
    video_from_file,
)

MissingPolicy = Literal["error", "skip"]
# How many missing names an error or warning spells out before it only counts them.
FIRST_MISSING = 5


def _positive_frame_size(value: tuple[int, int] | None) -> tuple[int, int] | None:
    """A size below one pixel would fail only when the first frame is scaled, after training
    started elsewhere: reject it with the options instead."""
    if value is not None and min(value) < 1:
        raise ValueError(
            f"frame_size must be [height, width] with both at least 1, got {list(value)}"
        )
    return value


FrameSize = Annotated[tuple[int, int] | None, AfterValidator(_positive_frame_size)]


class DatasetOptions(Options):
    root: Path = Field(description="the dataset's top folder as distributed")
    frame_size: FrameSize = Field(
        None, description="(height, width) every frame is resized to; native size if unset"
    )
    missing: MissingPolicy = Field(
        "error",
        description="files a split needs but the disk lacks (listed videos, frames, label "
        "files): 'error': one error naming them all; 'skip': leave those videos out, with a "
        "warning that counts them",
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
    if root.exists() and not root.is_dir():
        raise ConfigError(f"dataset root {root} is a file, not a folder; {expected_tree}")
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
    """The options and the resolved root. ``missing: error`` (the default) reads exactly what
    earlier versions read, so it is left out and their stored results stay valid."""
    values = options.model_dump(mode="json")
    if values.get("missing") == "error":
        del values["missing"]
    return {"format": dataset, **values, "root": str(root.resolve())}


class MissingFilesWarning(UserWarning):
    """Files a split needs were missing and ``missing: skip`` left their videos out."""


class MissingFiles:
    """What one split needs but the disk lacks, gathered while the split is listed, so that a
    single error names all of it instead of the first, or ``missing: skip`` counts it once.

    ``noun`` is what is missing, singular (``video``), and ``context`` what needs it
    (``listed in Anomaly_Train.txt``): the report reads "3 videos listed in Anomaly_Train.txt
    are missing (first: ...)".
    """

    def __init__(self, dataset: str, noun: str, context: str) -> None:
        self.dataset = dataset
        self.noun = noun
        self.context = context
        self.names: list[str] = []

    def add(self, name: str) -> None:
        self.names.append(name)

    def settle(self, policy: MissingPolicy) -> None:
        """Raise DataError naming what is missing (``error``), or warn and go on (``skip``)."""
        if not self.names:
            return
        count = len(self.names)
        shown = ", ".join(self.names[:FIRST_MISSING]) + (", …" if count > FIRST_MISSING else "")
        subject = f"{count} {self.noun}{'' if count == 1 else 's'} {self.context}"
        summary = f"{self.dataset}: {subject} {'is' if count == 1 else 'are'} missing"
        if policy == "error":
            raise DataError(f"{summary} (first: {shown}); set missing: skip to leave them out")
        warnings.warn(
            f"{summary} (first: {shown}); left out, as missing: skip asks",
            MissingFilesWarning,
            stacklevel=2,
        )


def identical_files(paths: Sequence[Path]) -> bool:
    """True when every file has the same bytes as the first: one file found twice (a copy in
    two download folders) is no ambiguity."""
    return all(filecmp.cmp(paths[0], other, shallow=False) for other in paths[1:])


def one_file(candidates: Sequence[Path], what: str, where: Path) -> Path | None:
    """The one file among ``candidates``; byte-identical copies count as one. None when there is
    none; a DataError naming every path when copies differ."""
    if not candidates:
        return None
    ordered = sorted(candidates)
    if len(ordered) == 1 or identical_files(ordered):
        return ordered[0]
    listed = ", ".join(str(path) for path in ordered)
    raise DataError(
        f"several {what} under {where} with different contents ({listed}); name one in the options"
    )


def split_config_error(check: Callable[[], object]) -> None:
    """Run a split's layout check at configuration time: the DataError it would raise when the
    split is read becomes the ConfigError the matrix reports before anything trains."""
    try:
        check()
    except DataError as error:
        raise ConfigError(str(error)) from error


def training_only(dataset: str) -> str:
    """Why a set without anomaly labels has no test split."""
    return (
        f"{dataset} has no anomaly labels: it is a task-irrelevant (auxiliary) set with a "
        "training split only; use it as train or aux, never as a test target"
    )


def frame_number(path: Path) -> int | None:
    """The number a frame file is named by (``001.tif`` -> 1, ``frame12.jpg`` -> 12)."""
    match = re.search(r"(\d+)$", path.stem)
    return int(match.group(1)) if match else None


def numbering_gaps(folder: Path, frames: Sequence[Path], first: int) -> list[str]:
    """Names of the frame files missing from a numbering ``first``, ``first + 1``, ... (labels
    index frames by number, so a gap would shift every label after it). A name without a number,
    or a number used twice, is a DataError: that is no missing file."""
    numbers = [frame_number(path) for path in frames]
    for path, number in zip(frames, numbers, strict=True):
        if number is None or number < first:
            raise DataError(
                f"{folder}: {path.name} breaks the frame numbering (frames must be numbered "
                f"from {first} without gaps, since labels index them)"
            )
    counted = [number for number in numbers if number is not None]
    present = set(counted)
    if len(present) != len(counted):
        twice = sorted({n for n in counted if counted.count(n) > 1})
        raise DataError(f"{folder}: frame number {twice[0]} is used by two files")
    if not counted:
        return []
    sample = frames[0]
    digits = re.search(r"\d+$", sample.stem)
    assert digits is not None
    prefix = sample.stem[: digits.start()]
    width = len(digits.group()) if digits.group().startswith("0") else 0
    return [
        f"{prefix}{number:0{width}d}{sample.suffix}"
        for number in range(first, max(counted) + 1)
        if number not in present
    ]


def check_numbering(folder: Path, frames: Sequence[Path], first: int) -> None:
    """Frames must be numbered ``first``, ``first + 1``, ... without gaps: labels index them."""
    gaps = numbering_gaps(folder, frames, first)
    if gaps:
        shown = ", ".join(gaps[:FIRST_MISSING]) + (", …" if len(gaps) > FIRST_MISSING else "")
        raise DataError(
            f"{folder}: {len(gaps)} frame file{'s' if len(gaps) > 1 else ''} missing ({shown}; "
            f"frames must be numbered from {first} without gaps, since labels index them)"
        )


def missing_frames(folder: Path, frames: Sequence[Path], first: int | None) -> list[str]:
    """What a video folder lacks, one entry per missing file for a MissingFiles report
    (``Test002/003.tif``, or ``the frames of 01/`` when it has none); [] when nothing is missing.
    Gaps in the numbering count only when ``first`` is given."""
    if not frames:
        return [f"the frames of {folder.name}/"]
    if first is None:
        return []
    return [f"{folder.name}/{gap}" for gap in numbering_gaps(folder, frames, first)]


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """A ``.npy`` label or mask file; an empty, truncated or foreign file is a DataError that
    names it, not numpy's bare EOFError."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DataError(
            f"{path}: cannot read .npy file ({str(error) or type(error).__name__})"
        ) from error


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
        return {
            "reader": "pyav-image",
            "size": self.size,
            "pyav": av.__version__,
            "reduced": REDUCED_DECODING,
        }


def frame_folder_video(
    folder: Path,
    video_id: str,
    size: tuple[int, int] | None,
    *,
    labels: np.ndarray | None = None,
    read_mask: MaskReader | None = None,
    frames: Sequence[Path] | None = None,
) -> Video:
    """A Video over one folder of images (``frames``, when the caller listed them already)."""
    files = list_frames(folder) if frames is None else frames
    if not files:
        raise DataError(f"{folder}: video folder holds no frames")
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
        masks = load_npy(self.path, mmap=True)
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
            videos = tuple(self.videos(split))
            if not videos:
                raise DataError(f"{self.format_name}: no {split} videos under {self.root}")
            self._sources[split] = ListSource(self.source_name, split, videos)
        return self._sources[split]

    def fingerprint(self) -> Mapping[str, Any]:
        return options_fingerprint(self.format_name, self.options, self.root)

    def check_split(self, split: Split) -> None:
        """Called at configuration time for every split a matrix reads, so that a split that
        cannot exist fails before anything trains: the checks of ``split_layout`` (folders and
        files, nothing listed or decoded) as a ConfigError."""
        split_config_error(lambda: self.split_layout(split))

    @abstractmethod
    def split_layout(self, split: Split) -> None:
        """Raise DataError when a folder or file ``split`` needs is absent. Cheap: reading the
        split (``videos``) runs it first, and so does ``check_split``."""

    @abstractmethod
    def videos(self, split: Split) -> list[Video]:
        """The split's videos in their fixed order; raises DataError where the data disagrees."""
