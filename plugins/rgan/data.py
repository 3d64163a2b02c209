"""How rGAN reads frames: random training clips, a video's test windows, k-shot support clips.

Frames are decoded on demand (a clip per draw), never a whole split in memory. rGAN works on
pixels in [0, 1] (the official ``ToTensor``) with clips kept as (B, T, 3, H, W).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from vadbench.api import VadbenchError, Video, VideoSource

SCORE_CHUNK = 64


def frames_to_tensor(frames: np.ndarray, size: int, device: str) -> torch.Tensor:
    """uint8 (n, H, W, 3) → float (n, 3, size, size) in [0, 1]."""
    tensor = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float() / 255.0
    if tensor.shape[-2:] != (size, size):
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False)
    return tensor


def split_clips(clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, T+1, 3, H, W) → the T input frames (b, T, 3, H, W) and the target (b, 3, H, W)."""
    return clips[:, :-1], clips[:, -1]


class ClipSampler:
    """Draws clips of ``length`` consecutive frames from the training videos."""

    def __init__(self, source: VideoSource, length: int, size: int, device: str, seed: int):
        self.videos = [v for v in source.videos() if v.num_frames >= length]
        if not self.videos:
            raise VadbenchError(
                f"{source.name}: no training video has the {length} frames one clip needs"
            )
        self.length = length
        self.size = size
        self.device = device
        self.rng = np.random.default_rng(seed)
        self.starts_per_video = np.array([v.num_frames - length + 1 for v in self.videos])

    def _clip(self, video: Video, start: int) -> torch.Tensor:
        return frames_to_tensor(video.frames(start, start + self.length), self.size, self.device)

    def batch(self, count: int) -> torch.Tensor:
        """``count`` clips drawn uniformly over every clip of every video, as a shuffled loader
        over all clips would."""
        flat = self.rng.integers(0, self.starts_per_video.sum(), size=count)
        bounds = np.cumsum(self.starts_per_video)
        picks = []
        for index in flat:
            video_index = int(np.searchsorted(bounds, index, side="right"))
            start = int(index - (bounds[video_index - 1] if video_index else 0))
            picks.append(self._clip(self.videos[video_index], start))
        return torch.stack(picks)

    def task(self, count: int) -> torch.Tensor:
        """``count`` distinct clips of one random video: a meta-learning task."""
        video_index = int(self.rng.integers(len(self.videos)))
        starts = self.rng.choice(
            self.starts_per_video[video_index],
            size=count,
            replace=count > self.starts_per_video[video_index],
        )
        return torch.stack([self._clip(self.videos[video_index], int(s)) for s in starts])


def support_clips(support: VideoSource, length: int, size: int, device: str) -> torch.Tensor:
    """Every window of ``length`` frames of the k-shot support videos (one per clip the harness
    draws, since each holds exactly ``length`` frames)."""
    clips = [
        frames_to_tensor(window, size, device)
        for video in support.videos()
        for window in video.iter_clips(length)
    ]
    if not clips:
        raise VadbenchError(f"{support.name}: the support set has no clip of {length} frames")
    return torch.stack(clips)


def scoring_chunks(video: Video, context: int, size: int, device: str) -> Iterator[torch.Tensor]:
    """The video's frames in overlapping chunks (n, 3, H, W): each chunk's frames from index
    ``context`` on are predicted exactly once over all chunks, and memory stays flat however long
    the video is."""
    for start in range(0, video.num_frames - context, SCORE_CHUNK):
        stop = min(start + SCORE_CHUNK + context, video.num_frames)
        yield frames_to_tensor(video.frames(start, stop), size, device)


def raise_if_not_finite(losses: Mapping[str, torch.Tensor], step: int, stage: str) -> None:
    """Stops training with a message naming the loss and the step, instead of NaN weights."""
    for name, value in losses.items():
        if not torch.isfinite(value).all():
            raise VadbenchError(f"{stage}: loss {name!r} is not finite at step {step}")
