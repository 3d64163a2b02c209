"""Frames as G sees them, and random access to the clips and frames of a training source.

A source that fits in ``frame_cache_mb`` once resized is decoded once and held in memory (the
quickstart case); a larger one is read clip by clip from its videos on every draw.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vadbench.sdk import DataError, Video, VideoSource

BYTES_PER_FLOAT = 4


def to_model_frames(frames: np.ndarray, size: int, device: str | torch.device) -> torch.Tensor:
    """(..., H, W, 3) uint8 RGB -> (..., 3, size, size) float in [-1, 1], resized bilinearly."""
    tensor = torch.as_tensor(frames, dtype=torch.float32, device=device)
    leading = tensor.shape[:-3]
    images = tensor.reshape(-1, *tensor.shape[-3:]).permute(0, 3, 1, 2) / 127.5 - 1.0
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images.reshape(*leading, 3, size, size)


class FrameSampler:
    """Draws random clips of ``clip_length`` consecutive frames and random single frames."""

    def __init__(
        self,
        source: VideoSource,
        clip_length: int,
        size: int,
        device: str,
        cache_bytes: int,
    ) -> None:
        self.videos: list[Video] = [v for v in source.videos() if v.num_frames >= clip_length]
        if not self.videos:
            raise DataError(
                f"{source.name}/{source.split}: no video has the {clip_length} frames a "
                "training clip needs"
            )
        self.clip_length = clip_length
        self.size = size
        self.device = device
        total_frames = sum(v.num_frames for v in self.videos)
        self.cached: list[torch.Tensor] | None = None
        if total_frames * 3 * size * size * BYTES_PER_FLOAT <= cache_bytes:
            self.cached = [to_model_frames(v.frames(), size, device) for v in self.videos]

    def _read(self, video_index: int, start: int, stop: int) -> torch.Tensor:
        if self.cached is not None:
            return self.cached[video_index][start:stop]
        return to_model_frames(self.videos[video_index].frames(start, stop), self.size, self.device)

    def clips(self, count: int, rng: np.random.Generator) -> torch.Tensor:
        """(count, clip_length, 3, H, W): the video is drawn uniformly, then the start."""
        clips = []
        for _ in range(count):
            index = int(rng.integers(len(self.videos)))
            start = int(rng.integers(self.videos[index].num_frames - self.clip_length + 1))
            clips.append(self._read(index, start, start + self.clip_length))
        return torch.stack(clips)

    def frames(self, count: int, rng: np.random.Generator) -> torch.Tensor:
        """(count, 3, H, W): single frames, video drawn uniformly, then the frame."""
        frames = []
        for _ in range(count):
            index = int(rng.integers(len(self.videos)))
            position = int(rng.integers(self.videos[index].num_frames))
            frames.append(self._read(index, position, position + 1)[0])
        return torch.stack(frames)
