"""The ``shanghaitech`` dataset: ShanghaiTech Campus as distributed, and SHT_dc, a partition of
its cameras (scenes) into disjoint training and test scenes.

::

    <root>/training/videos/01_001.avi …                training: videos (or training/frames/)
    <root>/testing/frames/01_0014/000.jpg …            test frames numbered from 000
    <root>/testing/test_frame_mask/01_0014.npy         0/1 per frame; entry i labels i.jpg
    <root>/testing/test_pixel_mask/01_0014.npy         (T, H, W) masks, optional

The scene of a video is the 2-digit prefix of its name. The scene lists of rGAN's SHT_dc split
(Lu et al., ECCV 2020) were never published, so ``partition: sht_dc`` uses vadbench's own
default below, and ``scenes`` sets the lists used in a paper's run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vadbench.sdk import (
    ConfigError,
    DataError,
    DatasetSpec,
    ListedDataset,
    MissingFiles,
    NpyMaskReader,
    Options,
    Split,
    Video,
    VideoDatasetOptions,
    frame_folder_video,
    hookimpl,
    list_frames,
    missing_frames,
    require_root,
    subfolders,
    video_file_video,
    video_files,
)

from .frames import frame_mask_files, missing_frame_masks, read_frame_mask

LAYOUT = (
    "<root>/training/videos/01_001.avi…, testing/frames/01_0014/000.jpg…, "
    "testing/test_frame_mask/01_0014.npy, testing/test_pixel_mask/01_0014.npy (optional)"
)
EXPECTED_TREE = (
    "expected ShanghaiTech Campus: <root>/training/videos/01_001.avi ..., "
    "<root>/testing/frames/01_0014/000.jpg ..., <root>/testing/test_frame_mask/01_0014.npy, "
    "<root>/testing/test_pixel_mask/01_0014.npy (optional)"
)


class ScenePartition(Options):
    train: tuple[str, ...] = Field(description="2-digit scene prefixes whose training videos train")
    test: tuple[str, ...] = Field(description="2-digit scene prefixes whose test videos test")

    @field_validator("train", "test", mode="before")
    @classmethod
    def _two_digits(cls, value: Any) -> Any:
        """YAML reads ``01`` as the integer 1: accept both and store the 2-digit prefix."""
        if not isinstance(value, list | tuple):
            return value
        scenes = []
        for scene in value:
            if isinstance(scene, bool) or not str(scene).isdigit():
                raise ValueError(f"scene {scene!r} is not a scene number like '01'")
            scenes.append(f"{int(scene):02d}")
        return tuple(scenes)

    @model_validator(mode="after")
    def _disjoint(self) -> ScenePartition:
        shared = sorted(set(self.train) & set(self.test))
        if shared:
            raise ValueError(f"scenes {', '.join(shared)} are both train and test scenes")
        if not self.train or not self.test:
            raise ValueError("name at least one train and one test scene")
        return self


# vadbench's default SHT_dc partition, NOT the paper's (whose lists are unpublished): scenes
# 08-12 (29 test videos) are held out; scenes 01-07 and 13 (which has no test videos) train.
SHT_DC_DEFAULT = ScenePartition(
    train=("01", "02", "03", "04", "05", "06", "07", "13"),
    test=("08", "09", "10", "11", "12"),
)


class ShanghaiTechOptions(VideoDatasetOptions):
    partition: Literal["standard", "sht_dc"] = Field(
        "standard",
        description="'standard': every scene in both splits; 'sht_dc': disjoint train and test "
        "scenes (vadbench's default lists unless scenes is set)",
    )
    scenes: ScenePartition | None = Field(
        None, description="{train: [..], test: [..]} scene prefixes; overrides the partition"
    )
    train_from: Literal["videos", "frames"] = Field(
        "videos",
        description="'videos': training/videos/*.avi; 'frames': self-extracted training/frames/",
    )


def scene_of(video_id: str) -> str:
    return video_id.split("_", 1)[0]


class ShanghaiTechDataset(ListedDataset[ShanghaiTechOptions]):
    format_name = "shanghaitech"

    def __init__(self, options: ShanghaiTechOptions) -> None:
        root = require_root(options, EXPECTED_TREE)
        super().__init__(options, root)
        if not ((root / "training").is_dir() or (root / "testing" / "frames").is_dir()):
            raise ConfigError(f"{root} has neither training nor testing/frames; {EXPECTED_TREE}")

    @property
    def source_name(self) -> str:
        return "shanghaitech" if self.scene_partition() is None else "shanghaitech_dc"

    def scene_partition(self) -> ScenePartition | None:
        if self.options.scenes is not None:
            return self.options.scenes
        return SHT_DC_DEFAULT if self.options.partition == "sht_dc" else None

    def fingerprint(self) -> dict[str, Any]:
        partition = self.scene_partition()
        applied = None if partition is None else partition.model_dump(mode="json")
        return {**super().fingerprint(), "scenes_applied": applied}

    def _in_scenes(self, split: Split, ids: list[str], where: Path) -> list[bool]:
        partition = self.scene_partition()
        if partition is None:
            return [True] * len(ids)
        wanted = partition.train if split == "train" else partition.test
        present = {scene_of(video_id) for video_id in ids}
        empty = [scene for scene in wanted if scene not in present]
        if empty:
            raise DataError(f"{where}: no {split} videos of scene(s) {', '.join(empty)}")
        return [scene_of(video_id) in wanted for video_id in ids]

    def split_layout(self, split: Split) -> None:
        if split == "train":
            self._require(self.root / "training" / self.options.train_from)
        else:
            self._require(self.root / "testing" / "frames")
            self._require(self.root / "testing" / "test_frame_mask")

    def videos(self, split: Split) -> list[Video]:
        self.split_layout(split)
        return self._train_videos() if split == "train" else self._test_videos()

    def _train_videos(self) -> list[Video]:
        size = self.options.frame_size
        if self.options.train_from == "videos":
            folder = self.root / "training" / "videos"
            files = video_files(folder)
            keep = self._in_scenes("train", [p.stem for p in files], folder)
            return [
                video_file_video(path, path.stem, self.options)
                for path, wanted in zip(files, keep, strict=True)
                if wanted
            ]
        folder = self.root / "training" / "frames"
        folders = subfolders(folder)
        keep = self._in_scenes("train", [p.name for p in folders], folder)
        chosen = [path for path, wanted in zip(folders, keep, strict=True) if wanted]
        frame_lists = [list_frames(path) for path in chosen]
        missing = MissingFiles(self.format_name, "file", "the train split needs")
        empty = set()
        for path, frames in zip(chosen, frame_lists, strict=True):
            problems = missing_frames(path, frames, None)
            for problem in problems:
                missing.add(problem)
            if problems:
                empty.add(path)
        missing.settle(self.options.missing)
        return [
            frame_folder_video(path, path.name, size, frames=frames)
            for path, frames in zip(chosen, frame_lists, strict=True)
            if path not in empty
        ]

    def _test_videos(self) -> list[Video]:
        frames_root = self.root / "testing" / "frames"
        label_dir = self.root / "testing" / "test_frame_mask"
        folders = subfolders(frames_root)
        label_files = frame_mask_files(label_dir)
        keep = self._in_scenes("test", [folder.name for folder in folders], frames_root)
        folders = [folder for folder, wanted in zip(folders, keep, strict=True) if wanted]
        partition = self.scene_partition()
        if partition is not None:  # label files of scenes outside the split are not needed
            label_files = {
                stem: path for stem, path in label_files.items() if scene_of(stem) in partition.test
            }
        ids = [folder.name for folder in folders]
        frame_lists = [list_frames(folder) for folder in folders]
        missing = MissingFiles(self.format_name, "file", "the test split needs")
        lacking = missing_frame_masks(label_dir, label_files, ids, missing)
        for folder, frames in zip(folders, frame_lists, strict=True):
            problems = missing_frames(folder, frames, 0)
            for problem in problems:
                missing.add(problem)
            if problems:
                lacking.add(folder.name)
        missing.settle(self.options.missing)
        pixel_dir = self.root / "testing" / "test_pixel_mask"
        size = self.options.frame_size
        videos = []
        for folder, frames in zip(folders, frame_lists, strict=True):
            if folder.name in lacking:
                continue
            mask_file = pixel_dir / f"{folder.name}.npy"
            masks = NpyMaskReader(mask_file, len(frames), size) if mask_file.is_file() else None
            videos.append(
                frame_folder_video(
                    folder,
                    folder.name,
                    size,
                    frames=frames,
                    labels=read_frame_mask(label_files[folder.name], len(frames)),
                    read_mask=masks,
                )
            )
        return videos

    def _require(self, folder: Path) -> None:
        if not folder.is_dir():
            relative = folder.relative_to(self.root)
            raise DataError(f"{self.root}: no {relative} folder; {EXPECTED_TREE}")


def open_shanghaitech(options: ShanghaiTechOptions) -> ShanghaiTechDataset:
    return ShanghaiTechDataset(options)


@hookimpl
def vadbench_register_datasets(register: Any) -> None:
    register(
        DatasetSpec(
            name="shanghaitech",
            description="ShanghaiTech Campus (training .avi, test frames + npy masks); "
            "partition: sht_dc for disjoint-camera scenes",
            layout=LAYOUT,
            options=ShanghaiTechOptions,
            open=open_shanghaitech,
        )
    )
