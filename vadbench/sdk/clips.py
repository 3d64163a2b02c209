"""Frames as tensors for frame-prediction models: training clips, k-shot support clips, scoring
chunks, and the non-finite-loss guard. Shared by model plugins so that every model reads data the
same way: decoded on demand (a clip per draw), never a whole split in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vadbench.sdk.contracts import VadbenchError, Video, VideoSource

SCORE_CHUNK = 64
SIGNED = (-1.0, 1.0)  # FFP-style generators with a tanh output
UNIT = (0.0, 1.0)  # ToTensor-style inputs


def frames_to_tensor(
    frames: np.ndarray, size: int, device: str, value_range: tuple[float, float] = SIGNED
) -> torch.Tensor:
    """uint8 (n, H, W, 3) → float (n, 3, size, size) with pixels in ``value_range``.

    Frames larger than ``size`` are converted and resized one at a time, so that memory grows
    with the output, not with the source resolution (a chunk of 64 full-HD frames would
    otherwise take 1.6 GB of float); each frame's arithmetic is the batched one's, so the values
    are the same."""
    low, high = value_range
    scale = (high - low) / 255.0
    source = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2)
    if source.shape[-2:] == (size, size):
        return source.float() * scale + low
    tensor = torch.empty((len(frames), 3, size, size), device=device)
    for index in range(len(frames)):
        frame = source[index : index + 1].float() * scale + low
        tensor[index] = F.interpolate(
            frame, size=(size, size), mode="bilinear", align_corners=False
        )[0]
    return tensor


class ClipSampler:
    """Draws clips of ``length`` consecutive frames (``(b, length, 3, size, size)``) from the
    training videos of a source."""

    def __init__(
        self,
        source: VideoSource,
        length: int,
        size: int,
        device: str,
        seed: int,
        value_range: tuple[float, float] = SIGNED,
    ) -> None:
        self.videos = [v for v in source.videos() if v.num_frames >= length]
        if not self.videos:
            raise VadbenchError(
                f"{source.name}: no training video has the {length} frames one clip needs"
            )
        self.length = length
        self.size = size
        self.device = device
        self.value_range = value_range
        self.rng = np.random.default_rng(seed)
        self.starts_per_video = np.array([v.num_frames - length + 1 for v in self.videos])

    def _clip(self, video: Video, start: int) -> torch.Tensor:
        frames = video.frames(start, start + self.length)
        return frames_to_tensor(frames, self.size, self.device, self.value_range)

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
        """``count`` clips of one random video: a meta-learning task (videos stand for scenes)."""
        video_index = int(self.rng.integers(len(self.videos)))
        starts = self.rng.choice(
            self.starts_per_video[video_index],
            size=count,
            replace=count > self.starts_per_video[video_index],
        )
        return torch.stack([self._clip(self.videos[video_index], int(s)) for s in starts])


def split_clips(
    clips: torch.Tensor, stack_inputs: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, T+1, 3, H, W) → the T input frames and the target (b, 3, H, W). Inputs are stacked on
    channels (b, 3T, H, W) unless ``stack_inputs`` is False (then (b, T, 3, H, W))."""
    inputs = clips[:, :-1]
    return (inputs.flatten(1, 2) if stack_inputs else inputs), clips[:, -1]


def support_clips(
    support: VideoSource,
    length: int,
    size: int,
    device: str,
    value_range: tuple[float, float] = SIGNED,
) -> torch.Tensor:
    """Every window of ``length`` frames of the k-shot support videos, (n, length, 3, H, W)."""
    clips = [
        frames_to_tensor(window, size, device, value_range)
        for video in support.videos()
        for window in video.iter_clips(length)
    ]
    if not clips:
        raise VadbenchError(f"{support.name}: the support set has no clip of {length} frames")
    return torch.stack(clips)


def scoring_chunks(
    video: Video,
    context: int,
    size: int,
    device: str,
    value_range: tuple[float, float] = SIGNED,
) -> Iterator[torch.Tensor]:
    """The video's frames in overlapping chunks (n, 3, H, W): each chunk's frames from index
    ``context`` on are predicted exactly once over all chunks, and memory stays flat however
    long the video is."""
    for frames in video.iter_chunks(SCORE_CHUNK, overlap=context):
        yield frames_to_tensor(frames, size, device, value_range)


def prediction_windows(
    frames: torch.Tensor, context: int, stack_inputs: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The input window predicting each of frames T..n-1 of a chunk (n, 3, H, W), and those
    frames: inputs stacked on channels (n-T, 3T, H, W), or (n-T, T, 3, H, W) when
    ``stack_inputs`` is False."""
    windows = [frames[i : i + context] for i in range(len(frames) - context)]
    if stack_inputs:
        windows = [window.flatten(0, 1) for window in windows]
    return torch.stack(windows), frames[context:]


def prediction_clips(
    video: Video,
    indices: Sequence[int],
    context: int,
    size: int,
    device: str,
    value_range: tuple[float, float] = SIGNED,
) -> torch.Tensor:
    """Each frame of ``indices`` with the ``context`` frames before it, (k, T+1, 3, H, W): what a
    frame predictor's ``predictions`` runs on."""
    for index in indices:
        if not context <= index < video.num_frames:
            raise IndexError(
                f"video {video.id!r}: frame {index} has no {context} frames before it to "
                f"predict from (frames {context}..{video.num_frames - 1} are predicted)"
            )
    return torch.stack(
        [
            frames_to_tensor(video.frames(index - context, index + 1), size, device, value_range)
            for index in indices
        ]
    )


def predicted_frames(
    video: Video,
    indices: Sequence[int],
    context: int,
    size: int,
    device: str,
    predict: Callable[[torch.Tensor], torch.Tensor],
    value_range: tuple[float, float] = SIGNED,
    stack_inputs: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """What ``Method.predictions`` returns for a frame predictor: the frames ``indices`` and
    ``predict``'s predictions of them from the frames before each (stacked on channels, or as
    (k, T, 3, H, W) when ``stack_inputs`` is False), both (k, H, W, 3) in [0, 1]."""
    clips = prediction_clips(video, indices, context, size, device, value_range)
    inputs, target = split_clips(clips, stack_inputs)
    return unit_pixels(target, value_range), unit_pixels(predict(inputs), value_range)


def unit_pixels(frames: torch.Tensor, value_range: tuple[float, float] = SIGNED) -> np.ndarray:
    """Model frames (k, 3, H, W) with pixels in ``value_range`` → (k, H, W, 3) float32 in [0, 1],
    the form ``Method.predictions`` returns."""
    low, high = value_range
    unit = ((frames.detach().float() - low) / (high - low)).clamp(0.0, 1.0)
    return unit.permute(0, 2, 3, 1).cpu().numpy()


def raise_if_not_finite(losses: Mapping[str, torch.Tensor], step: int, stage: str) -> None:
    """Stop training with a message naming the loss and the step, instead of NaN weights."""
    for name, value in losses.items():
        if not torch.isfinite(value).all():
            raise VadbenchError(f"{stage}: loss {name!r} is not finite at step {step}")
