"""The ``ucsd`` dataset: UCSD Ped1 and Ped2 as released (``UCSD_Anomaly_Dataset.v1p2``).

::

    <root>/UCSDped2/Train/Train001/001.tif …          frames numbered from 001
    <root>/UCSDped2/Test/Test001/001.tif …
    <root>/UCSDped2/Test/Test001_gt/001.bmp …          pixel masks, where present
    <root>/UCSDped2/Test/UCSDped2.m                    TestVideoFile{end+1}.gt_frame = [61:180];

``root`` may also be the ``UCSDped1``/``UCSDped2`` folder itself. Frame labels come from the
``gt_frame`` assignments of the ``.m`` file, found by regex (the i-th belongs to clip
``Test%03d`` of number i, so a clip folder that is absent is reported as missing), each a
comma-separated list of 1-based inclusive ranges: range ``a:b`` marks ``a.tif`` to ``b.tif``.
Ped2 Test006 reads ``1:159`` in FFP/MNAD but ``1:162`` in one copy of the script, so per-clip
overrides exist, and the default sets Test006 to the FFP/MNAD value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from vadbench.sdk import (
    ConfigError,
    DataError,
    DatasetOptions,
    DatasetSpec,
    ListedDataset,
    MaskImageReader,
    MissingFiles,
    Split,
    Video,
    check_numbering,
    frame_folder_video,
    hookimpl,
    list_frames,
    missing_frames,
    natural_key,
    ranges_to_labels,
    require_root,
    subfolders,
    under_root,
)

SUBSET_FOLDERS = {"ped1": "UCSDped1", "ped2": "UCSDped2"}
SPLIT_FOLDERS: dict[Split, str] = {"train": "Train", "test": "Test"}
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
        pattern = re.compile(rf"{split_folder}\d+")
        return [p for p in subfolders(self.subset_dir / split_folder) if pattern.fullmatch(p.name)]

    def split_layout(self, split: Split) -> None:
        folder = self.subset_dir / SPLIT_FOLDERS[split]
        if not folder.is_dir():
            raise DataError(f"{self.subset_dir}: no {folder.name} folder; {EXPECTED_TREE}")
        if split == "test" and not self._gt_file().is_file():
            raise DataError(f"frame ground truth {self._gt_file()} does not exist; {EXPECTED_TREE}")

    def videos(self, split: Split) -> list[Video]:
        self.split_layout(split)
        size = self.options.frame_size
        missing = MissingFiles(self.format_name, "file", f"the {split} split needs")
        if split == "train":
            clips = self._clips("Train")
            frame_lists = [list_frames(clip) for clip in clips]
            complete = [
                (clip, frames)
                for clip, frames in zip(clips, frame_lists, strict=True)
                if not self._lacks(clip, frames, missing)
            ]
            missing.settle(self.options.missing)
            return [
                frame_folder_video(clip, clip.name, size, frames=frames)
                for clip, frames in complete
            ]
        test_clips = self._test_clips(missing)
        frame_lists = [list_frames(clip) for clip, _, _ in test_clips]
        complete_test = [
            (clip, ranges, where, frames)
            for (clip, ranges, where), frames in zip(test_clips, frame_lists, strict=True)
            if not self._lacks(clip, frames, missing)
        ]
        missing.settle(self.options.missing)
        videos = []
        for clip, clip_ranges, where, frames in complete_test:
            labels = ranges_to_labels(clip_ranges, len(frames), where, first=1)
            masks = self._masks(clip, len(frames))
            videos.append(
                frame_folder_video(
                    clip, clip.name, size, frames=frames, labels=labels, read_mask=masks
                )
            )
        return videos

    @staticmethod
    def _lacks(clip: Path, frames: Sequence[Path], missing: MissingFiles) -> bool:
        """Report a clip with no frames or a gap in their numbering (frame k is ``k.tif``)."""
        problems = missing_frames(clip, frames, 1)
        for problem in problems:
            missing.add(problem)
        return bool(problems)

    def _gt_file(self) -> Path:
        explicit = under_root(self.root, self.options.gt_file)
        return explicit or self.subset_dir / "Test" / f"{SUBSET_FOLDERS[self.options.subset]}.m"

    def _test_clips(self, missing: MissingFiles) -> list[tuple[Path, list[tuple[int, int]], str]]:
        """Each Test clip with its 1-based inclusive ranges and where they came from (for
        errors). Entry i of the .m file is clip ``Test%03d`` of number i; an entry whose clip
        folder is absent is reported to ``missing``."""
        path = self._gt_file()
        from_file = parse_gt_frames(path)
        clips = self._clips("Test")
        by_number = {int(clip.name.removeprefix("Test")): clip for clip in clips}
        if len(by_number) != len(clips):
            raise DataError(f"{self.subset_dir / 'Test'}: two clip folders with one number")
        if not by_number or max(by_number) > len(from_file):
            raise DataError(
                f"{path}: {len(from_file)} gt_frame entries for {len(clips)} Test clips "
                f"in {self.subset_dir / 'Test'}"
            )
        names = [f"Test{number:03d}" for number in range(1, len(from_file) + 1)]
        overrides = self._overrides()
        unknown = sorted(set(overrides) - set(names), key=natural_key)
        if unknown and self.options.gt_overrides is not None:
            raise DataError(f"gt_overrides names clips that do not exist: {', '.join(unknown)}")
        found = []
        for number, (name, ranges) in enumerate(zip(names, from_file, strict=True), start=1):
            if number not in by_number:
                missing.add(f"Test/{name}/ (gt_frame entry {number})")
                continue
            if name in overrides:
                found.append((by_number[number], overrides[name], f"gt_overrides.{name}"))
            else:
                found.append(
                    (by_number[number], ranges, f"{path}: gt_frame entry {number} ({name})")
                )
        return found

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
