"""Builders of tiny datasets in the exact on-disk formats the loaders read."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from vadbench.sdk.contracts import FitContext, ListSource, Video


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_frame_folder(
    folder: Path, frames: Sequence[np.ndarray] | int, digits: int = 3, suffix: str = ".png"
) -> None:
    """Frames named 0-based with zero padding, like the FFP packaging.

    An int writes that many copies of one tiny image (label tests need counts, not content).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(frames, int):
        data = png_bytes(np.zeros((4, 4, 3), dtype=np.uint8))
        for index in range(frames):
            (folder / f"{index:0{digits}d}{suffix}").write_bytes(data)
        return
    for index, pixels in enumerate(frames):
        (folder / f"{index:0{digits}d}{suffix}").write_bytes(png_bytes(pixels))


def moving_square_video(
    num_frames: int, size: int, abnormal: np.ndarray | None, rng: np.random.Generator
) -> list[np.ndarray]:
    """A grey square drifting slowly; on abnormal frames it jumps far (a motion anomaly)."""
    frames = []
    position = size // 4
    for index in range(num_frames):
        image = np.full((size, size, 3), 40, dtype=np.uint8)
        step = 6 if abnormal is not None and abnormal[index] else 1
        position = (position + step) % (size - 8)
        image[size // 3 : size // 3 + 8, position : position + 8] = 200
        image += rng.integers(0, 3, image.shape, dtype=np.uint8)
        frames.append(image)
    return frames


def write_square_dataset(
    root: Path,
    train_lengths: Sequence[int],
    test_labels: Sequence[np.ndarray],
    size: int = 16,
    seed: int = 0,
) -> None:
    """A tiny FFP-packaged dataset with per-video test_frame_mask labels."""
    rng = np.random.default_rng(seed)
    for index, length in enumerate(train_lengths, start=1):
        frames = moving_square_video(length, size, None, rng)
        write_frame_folder(root / "training" / "frames" / f"{index:02d}", frames)
    for index, labels in enumerate(test_labels, start=1):
        frames = moving_square_video(len(labels), size, labels, rng)
        write_frame_folder(root / "testing" / "frames" / f"{index:02d}", frames)
        mask_dir = root / "testing" / "test_frame_mask"
        mask_dir.mkdir(parents=True, exist_ok=True)
        np.save(mask_dir / f"{index:02d}.npy", np.asarray(labels, dtype=np.uint8))


class SilentProgress:
    """The Progress protocol with nothing shown, for fitting models inside tests."""

    def task(self, description: str, total: int | None):
        return lambda steps: None


class ReadLog:
    """Frames of one in-memory video; records every (start, stop) read."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.reads: list[tuple[int, int]] = []

    def __call__(self, start: int, stop: int) -> np.ndarray:
        self.reads.append((start, stop))
        return self.frames[start:stop]


def logged_video(name: str, length: int, seed: int, size: int = 16) -> tuple[Video, ReadLog]:
    """An in-memory moving-square video and the log of the frame reads made on it."""
    frames = np.stack(moving_square_video(length, size, None, np.random.default_rng(seed)))
    log = ReadLog(frames)
    return Video(name, length, log), log


def fit_context(folder: Path) -> FitContext:
    return FitContext(device="cpu", seed=0, progress=SilentProgress(), checkpoint_dir=folder)


def square_source(*lengths: int) -> ListSource:
    """A training source of in-memory moving-square videos of the given lengths."""
    videos = tuple(logged_video(f"v{i}", n, i)[0] for i, n in enumerate(lengths))
    return ListSource("src", "train", videos)


# The smallest architectures of the model plugins that still train: what tests fit quickly.
TINY_MODELS: dict[str, dict[str, Any]] = {
    "ffp": {"image_size": 16, "widths": (2, 4, 8, 16), "discriminator_widths": (4, 4)},
    "mpn": {"image_size": 16, "widths": (4, 4, 8, 8), "prototypes": 3},
    "rgan": {
        "image_size": 16,
        "unet_widths": (2, 4, 4, 4),
        "lstm_hidden": (2, 2, 3),
        "discriminator_widths": (2, 4, 4, 4),
        "msssim_sigmas": (0.5, 1.0),
        "meta_tasks": 1,
    },
    "zxvad": {
        "context_frames": 2,
        "image_size": 32,
        "unet_widths": [4, 8, 16, 32],
        "memory_items": 16,
        "discriminator_widths": [4, 8, 8, 8],
        "classifier_widths": [4, 8, 8, 8],
        "object_network": "alexnet",
        "object_input_size": 64,
        "object_stage": 1,
        "object_pool_size": 4,
    },
}


def street_frames(
    num_frames: int,
    size: tuple[int, int],
    rng: np.random.Generator,
    intruder: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """Street-like footage: a fixed textured background with two walkers crossing slowly; from
    ``intruder[0]`` to ``intruder[1]`` (exclusive) a bright foreign object darts about."""
    height, width = size
    blocks = rng.integers(60, 120, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    background = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[:height, :width]
    walker_h, walker_w = height // 4, max(width // 16, 4)
    frames = []
    for index in range(num_frames):
        image = background.copy()
        for lane, speed in ((height // 2, 1), (3 * height // 4 - walker_h // 2, -1)):
            left = (width // 3 + speed * index) % (width - walker_w)
            image[lane : lane + walker_h, left : left + walker_w] = (30, 30, 160)
        if intruder is not None and intruder[0] <= index < intruder[1]:
            side = max(height // 6, 4)
            top = int(rng.integers(0, height - side))
            left = int(rng.integers(0, width - side))
            image[top : top + side, left : left + side] = (250, 240, 20)
        frames.append(image)
    return frames


def load_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as the module ``name`` (scripts are no package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
