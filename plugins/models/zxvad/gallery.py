"""``vadbench zxvad-gallery``: a PNG grid of pseudo-anomalies, like the paper's Fig. 3.

Columns are examples; rows are the object frame with R's mask (outside the mask dimmed), the
normal frame the object goes into, the pseudo-abnormal frame ṽ, and its ground-truth mask M̃.
It shows what O makes from any configured dataset before a single training step is spent.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from vadbench.sdk import CommandSpec, ConfigError, VideoSource

from .frames import FrameSampler
from .options import ZxVADOptions
from .synthesis import synthesize
from .training import build_object_locator

ROW_LABELS = ("object (R's mask)", "normal frame", "pseudo-abnormal", "mask M~")
MIN_TILE = 128
LABEL_WIDTH = 120
GAP = 4
OUTSIDE_MASK_BRIGHTNESS = 0.25


def _to_pixels(frames: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] (or a 1-channel mask in [0, 1]) -> (B, H, W, 3) uint8."""
    if frames.shape[1] == 1:
        frames = frames.expand(-1, 3, -1, -1) * 2.0 - 1.0
    pixels = ((frames.clamp(-1, 1) + 1.0) * 127.5).round().byte()
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def render_gallery(
    normal_source: VideoSource,
    object_source: VideoSource,
    options: ZxVADOptions,
    count: int,
    seed: int,
) -> Image.Image:
    """The grid image for ``count`` random (normal frame, object frame) pairs."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    size = options.image_size
    normal = FrameSampler(normal_source, 1, size, "cpu", cache_bytes=0).frames(count, rng)
    objects = FrameSampler(object_source, 1, size, "cpu", cache_bytes=0).frames(count, rng)
    masks = build_object_locator(options)(objects) if options.mixing == "scda" else None
    anomalies = synthesize(options.mixing, normal, objects, masks, rng)
    shown_objects = objects
    if masks is not None:
        dimmed = OUTSIDE_MASK_BRIGHTNESS * (objects + 1.0) - 1.0
        shown_objects = masks * objects + (1.0 - masks) * dimmed
    rows = [
        _to_pixels(shown_objects),
        _to_pixels(normal),
        _to_pixels(anomalies.frames),
        _to_pixels(anomalies.masks),
    ]
    tile = max(size, MIN_TILE)
    width = LABEL_WIDTH + count * (tile + GAP)
    height = len(rows) * (tile + GAP)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for row_index, (label, row) in enumerate(zip(ROW_LABELS, rows, strict=True)):
        top = row_index * (tile + GAP)
        draw.text((4, top + tile // 2), label, fill="black")
        for column, pixels in enumerate(row):
            image = Image.fromarray(pixels).resize((tile, tile), Image.Resampling.NEAREST)
            canvas.paste(image, (LABEL_WIDTH + column * (tile + GAP), top))
    return canvas


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("matrix", type=Path, help="matrix file that defines the datasets")
    parser.add_argument("--dataset", required=True, help="dataset of the normal frames")
    parser.add_argument("--objects", default=None, help="dataset objects come from (default: same)")
    parser.add_argument("--preset", default="cpu", help="zxvad preset for R and mixing")
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--count", type=int, default=8, help="examples (columns)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")


def run(args: argparse.Namespace, registry: Any) -> int:
    spec = registry.models.get("zxvad")
    if args.preset not in spec.presets:
        known = ", ".join(sorted(spec.presets))
        raise ConfigError(f"zxvad has no preset {args.preset!r} (presets: {known})")
    if args.count < 1:
        raise ConfigError(f"--count must be at least 1, got {args.count}")
    options = ZxVADOptions.model_validate(spec.presets[args.preset])
    dataset = registry.open_matrix_dataset(args.matrix, args.dataset)
    objects = registry.open_matrix_dataset(args.matrix, args.objects) if args.objects else dataset
    image = render_gallery(
        dataset.source(args.split), objects.source(args.split), options, args.count, args.seed
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    print(f"wrote {args.out} ({args.count} pseudo-anomalies, {options.mixing} mixing)")
    return 0


def gallery_command() -> CommandSpec:
    return CommandSpec(
        name="zxvad-gallery",
        help="write a PNG grid of zxVAD pseudo-anomalies (frames, pasted objects, masks)",
        configure=configure,
        run=run,
    )
