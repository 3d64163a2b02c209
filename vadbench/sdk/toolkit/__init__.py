"""The model toolkit: what frame-prediction models share, so a model plugin is a page of code and
a speed-up here lands in every model at once.

- :func:`psnr`: the one PSNR, per frame, for pixels in any value range (peak = that range).
- :class:`FramePredictor`: a base class for models that predict frame T+1 from T frames and
  score a frame by the PSNR of its prediction (high = normal). It implements ``score``,
  ``predictions``, ``save``, ``load`` and ``inference_module`` from two methods a model
  writes: ``predictor()`` (the network) and ``checkpoint_modules()`` (what to save).
- :func:`double_conv`, :class:`Down`, :class:`Up`: U-Net blocks (two 3x3 conv-BN-ReLU, max-pool
  down, transposed-conv or bilinear up with a skip concatenation).
- :func:`adam`: Adam, fused where torch has the kernel; :func:`optimiser_step`: one optimiser
  step with the finite-loss guard.
- :func:`channels_last`: the faster memory layout for convolutions, where it pays.

Data helpers (training clips, scoring chunks, windows) are in :mod:`vadbench.sdk.clips`, and the
training budget's clock in :mod:`vadbench.sdk.training`.
"""

from vadbench.sdk.toolkit.blocks import Down, Up, double_conv
from vadbench.sdk.toolkit.layout import channels_last
from vadbench.sdk.toolkit.predictor import FramePredictor
from vadbench.sdk.toolkit.quality import psnr
from vadbench.sdk.toolkit.steps import adam, optimiser_step

__all__ = [
    "Down",
    "FramePredictor",
    "Up",
    "adam",
    "channels_last",
    "double_conv",
    "optimiser_step",
    "psnr",
]
