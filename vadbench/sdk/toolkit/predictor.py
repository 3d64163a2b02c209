"""The base of frame-prediction models: everything but the network and its training."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from vadbench.sdk.checkpoints import load_checkpoint, save_checkpoint
from vadbench.sdk.clips import SIGNED, predicted_frames, prediction_windows, scoring_chunks
from vadbench.sdk.contracts import Options, ScoreKind, Video
from vadbench.sdk.toolkit.quality import psnr

OptionsT = TypeVar("OptionsT", bound=Options)
WindowScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


class FramePredictor(ABC, Generic[OptionsT]):
    """A Method that predicts frame T+1 from the T frames before it and scores each frame
    T..N-1 of a video by the PSNR of its prediction (high = normal, the FFP protocol).

    A subclass (``FramePredictor[ItsOptions]``) sets ``options`` (with ``image_size``),
    ``context_frames`` and ``device`` in its ``__init__``, writes ``fit``, and names its
    networks:

    - ``predictor()``: the network that maps the T frames to frame T+1 (what ``score``,
      ``predictions`` and the efficiency metrics run);
    - ``checkpoint_modules()``: the networks ``save`` writes and ``load`` restores, by name.

    Class attributes say how frames reach the network: ``value_range`` (pixels in [-1, 1] for
    generators with a tanh output, or [0, 1]), ``stack_inputs`` (the T frames stacked on
    channels, (n, 3T, H, W), or as (n, T, 3, H, W)) and ``checkpoint_file``. A model whose score
    is not one PSNR per frame overrides ``chunk_scores``; one with state besides its networks
    overrides ``extra_state`` and ``load_extra_state``.
    """

    score_kind: ScoreKind = "normality"
    objective: ClassVar[str] = "prediction MSE (pixels in [0, 1])"
    trivial_predictor: ClassVar[str] = "copy the last input frame"
    value_range: ClassVar[tuple[float, float]] = SIGNED
    stack_inputs: ClassVar[bool] = True
    checkpoint_file: ClassVar[str]

    options: OptionsT
    context_frames: int
    device: str

    @abstractmethod
    def predictor(self) -> nn.Module:
        """The network mapping the T input frames to frame T+1."""

    @abstractmethod
    def checkpoint_modules(self) -> Mapping[str, nn.Module]:
        """The networks ``save`` writes and ``load`` restores, by name."""

    @property
    def image_size(self) -> int:
        return int(self.options.image_size)  # type: ignore[attr-defined]

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Frame T+1 of each input window; inputs as ``stack_inputs`` says."""
        return self.predictor()(inputs)

    def windows(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input window of each frame T..n-1 of a chunk (n, 3, H, W), and those frames."""
        return prediction_windows(frames, self.context_frames, self.stack_inputs)

    def window_scores(self, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The raw score of each input window against the frame that follows it, (n,) or
        (n, k): the PSNR of its prediction. What ``scoring_module`` exports, so a subclass
        that overrides it keeps torch and exported scoring the same."""
        return psnr(self.predict(inputs), target, self.value_range)

    def final_scores(self, raw: np.ndarray) -> np.ndarray:
        """A video's scores from the raw window scores of all its frames T..N-1, in order."""
        return raw

    def chunk_scores(self, frames: torch.Tensor) -> torch.Tensor:
        """The raw score of each frame T..n-1 of a chunk (``window_scores``)."""
        inputs, target = self.windows(frames)
        return self.window_scores(inputs, target)

    @torch.no_grad()
    def window_raw_scores(self, video: Video) -> np.ndarray:
        """The raw score of every frame T..N-1, reading the video in overlapping chunks so that
        memory stays flat however long it is."""
        self.predictor().eval()
        chunks = scoring_chunks(
            video, self.context_frames, self.image_size, self.device, self.value_range
        )
        raw = [self.chunk_scores(frames) for frames in chunks]
        return torch.cat(raw).cpu().double().numpy() if raw else np.zeros(0)

    def score(self, video: Video) -> np.ndarray:
        """One score per frame T..N-1."""
        raw = self.window_raw_scores(video)
        return self.final_scores(raw) if len(raw) else np.zeros(0)

    @torch.no_grad()
    def score_with(self, video: Video, window_scores: WindowScorer) -> np.ndarray:
        """``score``, with the raw window scores computed by ``window_scores`` (inputs and
        targets as float32 arrays, as ``scoring_module`` takes them): an exported copy of the
        scoring module run by another runtime."""
        raw = []
        for frames in scoring_chunks(
            video, self.context_frames, self.image_size, "cpu", self.value_range
        ):
            inputs, target = self.windows(frames)
            raw.append(np.asarray(window_scores(inputs.float().numpy(), target.float().numpy())))
        return self.final_scores(np.concatenate(raw).astype(np.float64)) if raw else np.zeros(0)

    def scoring_module(self) -> nn.Module:
        """``window_scores`` as one module of (inputs, target): what ``vadbench export``
        writes."""
        return _WindowScores(self)

    @torch.no_grad()
    def anomaly_maps(self, video: Video) -> np.ndarray:
        """Per frame T..N-1, the squared prediction error of each pixel averaged over colour,
        pixels in [0, 1]: where the frame was hard to predict (``Localising``)."""
        self.predictor().eval()
        low, high = self.value_range
        maps = []
        for frames in scoring_chunks(
            video, self.context_frames, self.image_size, self.device, self.value_range
        ):
            inputs, target = self.windows(frames)
            error = (self.predict(inputs).float() - target.float()) ** 2 / (high - low) ** 2
            maps.append(error.mean(dim=1))
        if not maps:
            return np.zeros((0, self.image_size, self.image_size), np.float32)
        return torch.cat(maps).cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def held_out_errors(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        """Per frame T..N-1: the MSE of the prediction and of the last input frame taken as the
        prediction, pixels in [0, 1] at the model's frame size (``vadbench.sdk.learning``)."""
        self.predictor().eval()
        low, high = self.value_range
        model: list[torch.Tensor] = []
        trivial: list[torch.Tensor] = []
        for frames in scoring_chunks(
            video, self.context_frames, self.image_size, self.device, self.value_range
        ):
            inputs, target = self.windows(frames)
            last = frames[self.context_frames - 1 : -1]
            scale = (high - low) ** 2
            model.append(((self.predict(inputs).float() - target) ** 2).mean((1, 2, 3)) / scale)
            trivial.append(((last - target) ** 2).mean((1, 2, 3)) / scale)
        if not model:
            return np.zeros(0), np.zeros(0)
        return (
            torch.cat(model).cpu().double().numpy(),
            torch.cat(trivial).cpu().double().numpy(),
        )

    @torch.no_grad()
    def predictions(self, video: Video, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The frames ``indices`` and their predictions, (k, H, W, 3) in [0, 1]."""
        self.predictor().eval()
        return predicted_frames(
            video, indices, self.context_frames, self.image_size, self.device, self.predict,
            self.value_range, self.stack_inputs,
        )  # fmt: skip

    def extra_state(self) -> dict[str, Any]:
        """State besides the networks' weights that a checkpoint must keep."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore what ``extra_state`` saved."""

    def save(self, folder: Path) -> None:
        state = {name: module.state_dict() for name, module in self.checkpoint_modules().items()}
        state.update(self.extra_state())
        save_checkpoint(folder, self.options, state, self.checkpoint_file)

    def load(self, folder: Path) -> None:
        state = load_checkpoint(folder, self.options, self.checkpoint_file, self.device)
        for name, module in self.checkpoint_modules().items():
            module.load_state_dict(state[name])
        self.load_extra_state(state)
        self.predictor().eval()

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """Input windows of zeros as ``predictor()`` takes them."""
        t, size = self.context_frames, self.image_size
        shape = (batch, 3 * t, size, size) if self.stack_inputs else (batch, t, 3, size, size)
        return torch.zeros(*shape, device=self.device)

    def inference_module(self) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        """The predictor and an example input, for the efficiency metrics."""
        self.predictor().eval()
        return self.predictor(), (self.example_input(),)


class _WindowScores(nn.Module):
    """A frame predictor's ``window_scores`` as a module; its networks are submodules."""

    def __init__(self, method: FramePredictor[Any]) -> None:
        super().__init__()
        self.method = method
        self.networks = nn.ModuleList(method.checkpoint_modules().values())

    def forward(self, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.method.window_scores(inputs, target)
