"""The ``ucsd`` dataset: UCSD Ped1 and Ped2 as released (``UCSD_Anomaly_Dataset.v1p2``).

::

    <root>/UCSDped2/Train/Train001/001.tif …          frames numbered from 001
    <root>/UCSDped2/Test/Test001/001.tif …
    <root>/UCSDped2/Test/Test001_gt/001.bmp …          pixel masks, where present
    <root>/UCSDped2/Test/UCSDped2.m                    TestVideoFile{end+1}.gt_frame = [61:180];

``root`` may also be the ``UCSDped1``/``UCSDped2`` folder itself. Frame labels come from the
``gt_frame`` assignments of the ``.m`` file, found by regex (the i-th belongs to the i-th Test
clip), each a comma-separated list of 1-based inclusive ranges: range ``a:b`` marks ``a.tif`` to
``b.tif``. Ped2 Test006 reads ``1:159`` in FFP/MNAD but ``1:162`` in one copy of the script, so
per-clip overrides exist, and the default sets Test006 to the FFP/MNAD value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from vadbench.api import ConfigError, DataError, DatasetSpec, Split, Video
from vadbench.hookspecs import hookimpl

from .common import (
    DatasetOptions,
    ListedDataset,
    MaskImageReader,
    check_numbering,
    frame_folder_video,
    list_frames,
    natural_key,
    ranges_to_labels,
    require_root,
    subfolders,
    under_root,
)

SUBSET_FOLDERS = {"ped1": "UCSDped1", "ped2": "UCSDped2"}
# The FFP/MNAD value of Ped2 Test006 (docs/datasets.md, UCSD); Ped1 has no known disagreement.
STANDARD_OVERRIDES: dict[str, dict[str, list[tuple[int, int]]]] = {
    "ped1": {},
    "ped2": {"Test006": [(1, 159)]},
}
LAYOUT = (
    "<root>/UCSDped{1,2}/Train/Train001/001.tif…, Test/Test001/001.tif…, "
    "Test/Test001_gt/001.bmp… (optional), Test/UCSDped{1,2}.m"
)
EXPECTED_TREE = (
    "expected the UCSD release: <root>/UCSDped2/Train/Train001/001.tif ..., "
    "<root>/UCSDped2/Test/Test001/001.tif ..., <root>/UCSDped2/Test/Test001_gt/001.bmp ..., "
    "<root>/UCSDped2/Test/UCSDped2.m (root may also be the UCSDped2 folder)"
)
GT_FRAME = re.compile(r"gt_frame\s*=\s*\[([^\]]*)\]")
RANGE_TOKEN = re.compile(r"(\d+)(?::(\d+))?")


class UcsdOptions(DatasetOptions):
    subset: Literal["ped1", "ped2"] = "ped2"
    gt_file: Path | None = Field(
        None, description="the .m frame ground truth; default <subset>/Test/UCSDped{1,2}.m"
    )
    gt_overrides: dict[str, list[tuple[int, int]]] | None = Field(
        None,
        description="1-based inclusive ranges replacing the .m entry of a clip, e.g. "
        "{Test006: [[1, 162]]}; unset: Ped2 Test006 is 1:159 as in FFP/MNAD; {}: the .m as is",
    )


def parse_gt_frames(path: Path) -> list[list[tuple[int, int]]]:
    """The ``gt_frame`` ranges of a UCSD ``.m`` file, one list per assignment, in file order."""
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from error
    code = "\n".join(line.split("%", 1)[0] for line in text.splitlines())  # drop comments
    clips = []
    for number, match in enumerate(GT_FRAME.finditer(code), start=1):
        content = re.sub(r"\s*:\s*", ":", match.group(1)).strip()
        ranges = []
        for token in filter(None, re.split(r"[\s,;]+", content)):
            parsed = RANGE_TOKEN.fullmatch(token)
            if parsed is None:
                raise DataError(
                    f"{path}: gt_frame entry {number}: cannot read {token!r} "
                    "(expected ranges like 61:180, separated by commas)"
                )
            start = int(parsed.group(1))
            ranges.append((start, int(parsed.group(2) or start)))
        clips.append(ranges)
    return clips


class UcsdDataset(ListedDataset[UcsdOptions]):
    format_name = "ucsd"

    def __init__(self, options: UcsdOptions) -> None:
        root = require_root(options, EXPECTED_TREE)
        super().__init__(options, root)
        folder_name = SUBSET_FOLDERS[options.subset]
        if (root / folder_name).is_dir():
            self.subset_dir = root / folder_name
        elif root.name == folder_name:
            self.subset_dir = root
        else:
            raise ConfigError(f"{root} has no {folder_name} folder; {EXPECTED_TREE}")
        if not any((self.subset_dir / split).is_dir() for split in ("Train", "Test")):
            raise ConfigError(f"{self.subset_dir} has neither Train nor Test; {EXPECTED_TREE}")

    @property
    def source_name(self) -> str:
        return SUBSET_FOLDERS[self.options.subset]

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "gt_overrides_applied": self._overrides()}

    def _overrides(self) -> dict[str, list[tuple[int, int]]]:
        if self.options.gt_overrides is None:
            return STANDARD_OVERRIDES[self.options.subset]
        return self.options.gt_overrides

    def _clips(self, split_folder: str) -> list[Path]:
        folder = self.subset_dir / split_folder
        if not folder.is_dir():
            raise DataError(f"{self.subset_dir}: no {split_folder} folder; {EXPECTED_TREE}")
        pattern = re.compile(rf"{split_folder}\d+")
        return [p for p in subfolders(folder) if pattern.fullmatch(p.name)]

    def videos(self, split: Split) -> list[Video]:
        size = self.options.frame_size
        if split == "train":
            return [
                frame_folder_video(clip, clip.name, size, first_number=1)
                for clip in self._clips("Train")
            ]
        clips = self._clips("Test")
        videos = []
        for clip, (clip_ranges, where) in zip(clips, self._test_ranges(clips), strict=True):
            frames = list_frames(clip)
            if not frames:
                raise DataError(f"{clip}: video folder holds no frames")
            check_numbering(clip, frames, first=1)
            labels = ranges_to_labels(clip_ranges, len(frames), where, first=1)
            masks = self._masks(clip, len(frames))
            videos.append(
                frame_folder_video(
                    clip, clip.name, size, frames=frames, labels=labels, read_mask=masks
                )
            )
        return videos

    def _gt_file(self) -> Path:
        explicit = under_root(self.root, self.options.gt_file)
        return explicit or self.subset_dir / "Test" / f"{SUBSET_FOLDERS[self.options.subset]}.m"

    def _test_ranges(self, clips: list[Path]) -> list[tuple[list[tuple[int, int]], str]]:
        """Each Test clip's 1-based inclusive ranges, with where they came from (for errors)."""
        path = self._gt_file()
        if not path.is_file():
            raise DataError(f"frame ground truth {path} does not exist; {EXPECTED_TREE}")
        from_file = parse_gt_frames(path)
        if len(from_file) != len(clips):
            raise DataError(
                f"{path}: {len(from_file)} gt_frame entries for {len(clips)} Test clips "
                f"in {self.subset_dir / 'Test'}"
            )
        names = [clip.name for clip in clips]
        overrides = self._overrides()
        unknown = sorted(set(overrides) - set(names), key=natural_key)
        if unknown and self.options.gt_overrides is not None:
            raise DataError(f"gt_overrides names clips that do not exist: {', '.join(unknown)}")
        return [
            (overrides[name], f"gt_overrides.{name}")
            if name in overrides
            else (ranges, f"{path}: gt_frame entry {index} ({name})")
            for index, (name, ranges) in enumerate(zip(names, from_file, strict=True), start=1)
        ]

    def _masks(self, clip: Path, num_frames: int) -> MaskImageReader | None:
        """The clip's ``_gt`` masks; Ped1 has them for only some clips, the others get none."""
        folder = clip.with_name(f"{clip.name}_gt")
        if not folder.is_dir():
            return None
        files = list_frames(folder)
        if len(files) != num_frames:
            raise DataError(f"{folder}: {len(files)} masks for {num_frames} frames of {clip.name}")
        check_numbering(folder, files, first=1)
        return MaskImageReader(files, self.options.frame_size)


def open_ucsd(options: UcsdOptions) -> UcsdDataset:
    return UcsdDataset(options)


@hookimpl
def vadbench_register_datasets(register: Any) -> None:
    register(
        DatasetSpec(
            name="ucsd",
            description="UCSD Ped1/Ped2 original release: TIFF frames, .m frame GT, BMP masks",
            layout=LAYOUT,
            options=UcsdOptions,
            open=open_ucsd,
        )
    )
