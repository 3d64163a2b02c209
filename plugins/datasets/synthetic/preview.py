"""Contact sheets: what a domain's normal and abnormal frames look like, at a glance.

Rendered in memory from the generator (nothing is cached), so a preview costs a second or two.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .anomalies import anomaly_code
from .domains import TI, Domain, as_domain
from .render import GeneratorParams, render_ti_clip, render_video
from .ti import TI_ACTIONS

OUTLINE = (255, 0, 255)
COLUMNS = 5
TILE_PX = 128
CAPTION_PX = 12
HEADER_PX = 28
BACKGROUND = (24, 24, 28)
TEXT = (235, 235, 235)


def _upscale(image: np.ndarray, factor: int) -> np.ndarray:
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def outlined(frame: np.ndarray, mask: np.ndarray, factor: int) -> np.ndarray:
    """The frame enlarged ``factor`` times with a one-pixel ring around the mask, one pixel
    away from it so that small objects stay visible inside the ring."""
    image = _upscale(frame, factor)
    near = _grow(_upscale(mask.astype(bool), factor))
    image[_grow(near) & ~near] = OUTLINE
    return image


def _grow(region: np.ndarray) -> np.ndarray:
    grown = region.copy()
    grown[1:] |= region[:-1]
    grown[:-1] |= region[1:]
    grown[:, 1:] |= region[:, :-1]
    grown[:, :-1] |= region[:, 1:]
    return grown


def _sheet(title: str, rows: Sequence[Sequence[tuple[np.ndarray, str]]]) -> Image.Image:
    """Tiles (already enlarged, same size) in rows, each with a caption, under a title."""
    tile = rows[0][0][0].shape[0]
    row_px = tile + CAPTION_PX
    sheet = Image.new("RGB", (COLUMNS * tile, HEADER_PX + len(rows) * row_px), BACKGROUND)
    pen = ImageDraw.Draw(sheet)
    pen.text((4, 2), title, fill=TEXT)
    for r, row in enumerate(rows):
        for c, (image, caption) in enumerate(row):
            top = HEADER_PX + r * row_px
            sheet.paste(Image.fromarray(image), (c * tile, top))
            pen.text((c * tile + 3, top + tile), caption, fill=TEXT)
    return sheet


def _chunks(items: list[tuple[np.ndarray, str]]) -> list[list[tuple[np.ndarray, str]]]:
    return [items[i : i + COLUMNS] for i in range(0, len(items), COLUMNS)]


def _visibility(masks: np.ndarray) -> np.ndarray:
    """Mask area per frame, counted in full only where the object is wholly inside the image."""
    area = masks.sum(axis=(1, 2)).astype(np.float64)
    border = masks[:, [0, -1], :].any(axis=(1, 2)) | masks[:, :, [0, -1]].any(axis=(1, 2))
    return np.where(border, area / masks[0].size, area)


def domain_sheet(domain: Domain | str, params: GeneratorParams) -> Image.Image:
    """Row 1: normal training frames. Then one abnormal test frame per anomaly type the domain
    shows (where it is largest and wholly in view), its mask outlined in magenta."""
    domain = as_domain(domain)
    mix = dict(domain.anomalies)
    kinds = [kind for kind in params.anomaly_types if kind in mix]
    factor = max(1, TILE_PX // params.resolution)
    train = render_video(domain, params, "train", 0).frames
    picks = np.linspace(0, len(train) - 1, COLUMNS).astype(int)
    normal = [(_upscale(train[i], factor), f"normal #{i}") for i in picks]
    best: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
    for index in range(params.test_videos):
        video = render_video(domain, params, "test", index)
        assert video.pixel_mask is not None and video.anomaly_type is not None
        for kind in kinds:
            frames = np.flatnonzero(video.anomaly_type == anomaly_code(kind))
            if len(frames) == 0:
                continue
            score = _visibility(video.pixel_mask[frames])
            i = frames[np.argmax(score)]
            if kind not in best or score.max() > best[kind][0]:
                best[kind] = (float(score.max()), video.frames[i], video.pixel_mask[i])
        if len(best) == len(kinds):
            break
    abnormal = [
        (outlined(best[kind][1], best[kind][2], factor), kind) for kind in kinds if kind in best
    ]
    title = f"{domain.name}: {domain.summary}"
    return _sheet(title, [normal, *_chunks(abnormal)])


def ti_sheet(params: GeneratorParams) -> Image.Image:
    """The middle frame of the first clip of each TI action."""
    factor = max(1, TILE_PX // params.resolution)
    tiles = []
    for index in range(min(len(TI_ACTIONS), max(params.ti_videos, 1))):
        frames = render_ti_clip(params, index).frames
        middle = len(frames) // 2
        tiles.append((_upscale(frames[middle], factor), TI_ACTIONS[index]))
    return _sheet("ti: task-irrelevant action and gesture clips (training only)", _chunks(tiles))


def write_previews(
    out: Path, domains: Sequence[Domain | str], params: GeneratorParams
) -> list[Path]:
    """``<out>/<name>.png`` for each domain (a Domain, a built-in's name, or "ti" for the TI
    set); returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for domain in domains:
        if domain == TI:
            name, sheet = TI, ti_sheet(params)
        else:
            domain = as_domain(domain)
            name, sheet = domain.name, domain_sheet(domain, params)
        path = out / f"{name}.png"
        sheet.save(path, optimize=True)
        written.append(path)
    return written
