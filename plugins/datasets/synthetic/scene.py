"""One camera's static scene, its routes, its normal crowd and its sensor.

The background, lighting and routes of a domain are computed once per (domain, seed, resolution)
and shared by all its videos, as a fixed camera would; only the people and the sensor noise change
from video to video.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import zoom

from .domains import Domain, Route, Sensor
from .figures import Actor, draw, gait, person_colours

WALK_SPEED = 0.07  # body heights per frame: an ordinary pace crosses the image in 60-90 frames
ROUTE_SAMPLES = 48
LUMA = np.array((0.299, 0.587, 0.114), dtype=np.float32)

BodyBuilder = Callable[[np.ndarray, np.ndarray], np.ndarray]


def rng_for(seed: int, *words: str | int) -> np.random.Generator:
    """A generator that depends only on the seed and the words, never on call order."""
    codes = [w if isinstance(w, int) else zlib.crc32(w.encode()) for w in words]
    return np.random.default_rng(np.random.SeedSequence([seed, *codes]))


def polygon_mask(vertices: np.ndarray, height: int, width: int) -> np.ndarray:
    """Even-odd fill of a polygon given in pixel coordinates, sampled at pixel centres."""
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
    inside = np.zeros((height, width), dtype=bool)
    x1, y1 = vertices[:, 0], vertices[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    for ax, ay, bx, by in zip(x1, y1, x2, y2, strict=True):
        if ay == by:
            continue
        crosses = (ay > ys) != (by > ys)
        x_cross = ax + (ys - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (xs < x_cross)
    return inside


@dataclass(frozen=True)
class PixelRoute:
    """A route sampled in pixels: its centre line, unit normals and lane half-widths."""

    centre: np.ndarray  # (K, 2) x, y
    normal: np.ndarray  # (K, 2)
    half_width: np.ndarray  # (K,) pixels
    one_way: bool
    weight: float

    def lane(self, offset: float) -> np.ndarray:
        """The points of a walker keeping ``offset`` (-1..1) of the half-width from the centre."""
        return self.centre + offset * self.half_width[:, None] * self.normal

    def reversed(self) -> PixelRoute:
        return PixelRoute(
            self.centre[::-1].copy(),
            -self.normal[::-1],
            self.half_width[::-1].copy(),
            self.one_way,
            self.weight,
        )

    def outline(self, widen: float) -> np.ndarray:
        """The lane's polygon, widened by ``widen``."""
        side = widen * self.half_width[:, None] * self.normal
        return np.concatenate([self.centre + side, (self.centre - side)[::-1]])


class Scene:
    """What stays fixed for one camera: background, lighting and routes, at one resolution."""

    def __init__(self, domain: Domain, seed: int, size: int) -> None:
        self.domain = domain
        self.size = size
        self.routes = [self._route(p) for p in domain.routes]
        self.off_routes = [self._route(p) for p in domain.off_routes]
        rng = rng_for(seed, domain.name, "scene")
        self.background = self._background(rng)
        self.light = self._light(domain.sensor)

    def scale_px(self, y: np.ndarray | float) -> np.ndarray:
        """Person height in pixels at pixel row ``y``."""
        d = self.domain
        depth = (np.asarray(y, dtype=np.float32) / self.size - d.horizon) / (1.0 - d.horizon)
        return self.size * d.near_height * np.maximum(depth, 0.08)

    def _route(self, path: Route) -> PixelRoute:
        points = np.array(path.points, dtype=np.float32) * self.size
        lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
        along = np.concatenate([[0.0], np.cumsum(lengths)])
        s = np.linspace(0.0, along[-1], ROUTE_SAMPLES)
        centre = np.stack([np.interp(s, along, points[:, 0]), np.interp(s, along, points[:, 1])], 1)
        tangent = np.gradient(centre, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
        half_width = path.half_width * self.scale_px(centre[:, 1])
        return PixelRoute(centre, normal, half_width, path.one_way, path.weight)

    def interior(self, route: PixelRoute, margin: float = 0.12) -> np.ndarray:
        """Indices of route samples well inside the image, where an event is fully visible."""
        x, y = route.centre[:, 0] / self.size, route.centre[:, 1] / self.size
        inside = (x > margin) & (x < 1 - margin) & (y > margin + 0.1) & (y < 1 - margin / 2)
        return np.flatnonzero(inside)

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        d, n = self.domain, self.size
        image = np.empty((n, n, 3), dtype=np.float32)
        image[:] = d.ground
        coords = (np.arange(n, dtype=np.float32) + 0.5) / n
        if d.tile_spacing:
            phase_y = (coords[:, None] % d.tile_spacing) / d.tile_spacing
            phase_x = (coords[None, :] % d.tile_spacing) / d.tile_spacing
            line = 1.0 / (d.tile_spacing * n)
            joints = (phase_x < line) | (phase_y < line)
            checker = (coords[:, None] // d.tile_spacing + coords[None, :] // d.tile_spacing) % 2
            image *= (1.0 - 0.05 * checker - 0.18 * joints)[..., None]
        for region in d.regions:
            image[polygon_mask(np.array(region.polygon) * n, n, n)] = region.colour
        walked = np.zeros((n, n), dtype=bool)
        for route in self.routes + self.off_routes:
            walked |= polygon_mask(route.outline(1.5), n, n)
        if d.walkway is not None:
            for route in self.routes:
                image[polygon_mask(route.outline(1.25), n, n)] = d.walkway
        self._place_clutter(image, walked, rng)
        low = rng.standard_normal((n // 8 + 2, n // 8 + 2)).astype(np.float32)
        mottle = zoom(low, n / (n // 8 + 2), order=1)[:n, :n]
        grain = rng.standard_normal((n, n)).astype(np.float32)
        image *= (1.0 + d.mottle * mottle + d.grain * grain)[..., None]
        return np.clip(image, 0.0, 1.0)

    def _place_clutter(
        self, image: np.ndarray, walked: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Benches, bins, posters, planters: static boxes that never block a route."""
        d, n = self.domain, self.size
        allowed = ~walked
        if d.clutter_zone is not None:
            allowed &= polygon_mask(np.array(d.clutter_zone) * n, n, n)
        candidates = np.argwhere(allowed)
        if len(candidates) == 0:
            return
        rows = np.arange(n)[:, None]
        cols = np.arange(n)[None, :]
        for _ in range(d.clutter):
            y, x = candidates[rng.integers(len(candidates))]
            scale = float(self.scale_px(float(y)))
            half_w = max(1.0, scale * rng.uniform(0.2, 0.6))
            tall = max(2.0, scale * rng.uniform(0.3, 1.2))
            box = (np.abs(cols - x) <= half_w) & (rows <= y) & (rows >= y - tall) & allowed
            colour = np.array(d.clutter_colours[rng.integers(len(d.clutter_colours))])
            colour = colour * rng.uniform(0.85, 1.15)
            lit_top = np.broadcast_to(np.where(rows < y - 0.7 * tall, 1.25, 1.0), (n, n))
            image[box] = np.clip(colour, 0, 1) * lit_top[box][:, None]

    def _light(self, sensor: Sensor) -> np.ndarray:
        """Per-pixel illumination times the colour tint, (H, W, 3)."""
        coords = (np.arange(self.size, dtype=np.float32) + 0.5) / self.size
        radius2 = (coords[:, None] - 0.5) ** 2 + (coords[None, :] - 0.5) ** 2
        light = 1.0 - sensor.vignette * radius2 / 0.5
        if sensor.light_pool is not None:
            x, y, radius = sensor.light_pool
            distance2 = (coords[None, :] - x) ** 2 + (coords[:, None] - y) ** 2
            light = light * (0.45 + 1.1 * np.exp(-distance2 / (2 * radius**2)))
        return (light[..., None] * np.array(sensor.tint, dtype=np.float32)).astype(np.float32)


@lru_cache(maxsize=32)
def scene_for(domain: Domain, seed: int, size: int) -> Scene:
    """The shared scene of all videos of a domain at one seed and size (domains are frozen and
    hashable, so equal domains share one)."""
    return Scene(domain, seed, size)


def travel(
    scene: Scene,
    lane: np.ndarray,
    speed: float,
    progress: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions after ``progress`` frames of travel along ``lane`` at ``speed`` body heights
    per frame, slowing down in pixels with distance from the camera.

    Returns x, y, pixel scale and the (n, 2) unit direction of travel.
    """
    step = np.diff(lane, axis=0)
    length = np.linalg.norm(step, axis=1)
    mid_y = 0.5 * (lane[1:, 1] + lane[:-1, 1])
    frames_per_step = length / (speed * scene.scale_px(mid_y))
    arrival = np.concatenate([[0.0], np.cumsum(frames_per_step)])
    x = np.interp(progress, arrival, lane[:, 0])
    y = np.interp(progress, arrival, lane[:, 1])
    segment = np.clip(np.searchsorted(arrival, progress) - 1, 0, len(step) - 1)
    direction = step[segment] / np.maximum(length[segment], 1e-6)[:, None]
    return x, y, scene.scale_px(y), direction


def crossing_frames(scene: Scene, lane: np.ndarray, speed: float) -> float:
    """Frames needed to walk the whole lane."""
    step = np.diff(lane, axis=0)
    mid_y = 0.5 * (lane[1:, 1] + lane[:-1, 1])
    return float((np.linalg.norm(step, axis=1) / (speed * scene.scale_px(mid_y))).sum())


def traveller(
    scene: Scene,
    lane: np.ndarray,
    speed: float,
    first_frame: float,
    num_frames: int,
    body: BodyBuilder,
    colours: np.ndarray,
    *,
    height_factor: float = 1.0,
    pause: tuple[int, int] | None = None,
) -> Actor | None:
    """A sprite moving along ``lane`` from ``first_frame`` on (negative: already under way).

    ``body(distance, direction)`` builds the per-frame capsules; ``pause`` = (frame, length)
    stops the sprite on the spot for that long. Returns None if it is never on the lane during
    the video.
    """
    total = crossing_frames(scene, lane, speed)
    held = pause[1] if pause else 0
    start = max(0, int(np.ceil(first_frame)))
    stop = min(num_frames, int(np.floor(first_frame + total + held)) + 1)
    if stop <= start:
        return None
    frames = np.arange(start, stop)
    progress = frames - first_frame
    if pause:
        progress = progress - np.clip(frames - pause[0], 0, pause[1])
    x, y, scale, direction = travel(scene, lane, speed, progress)
    capsules = body(speed * progress, direction)
    facing = np.where(direction[:, 0] >= 0, 1.0, -1.0)
    return Actor(
        start,
        x,
        y,
        scale * height_factor,
        capsules,
        colours,
        facing,
        scene.domain.squash,
    )


def pick_direction(route: PixelRoute, rng: np.random.Generator) -> PixelRoute:
    return route if route.one_way or rng.random() < 0.5 else route.reversed()


def walker_body(rng: np.random.Generator, *, running: bool = False) -> BodyBuilder:
    phase = float(rng.uniform(0, 2 * np.pi))
    return lambda distance, direction: gait(distance, direction, phase, running=running)


def walker(
    scene: Scene,
    rng: np.random.Generator,
    lane: np.ndarray,
    first_frame: float,
    num_frames: int,
    *,
    speed: float = WALK_SPEED,
    running: bool = False,
    pause: tuple[int, int] | None = None,
) -> Actor | None:
    """One person on ``lane``: the building block of normal and behavioural events."""
    return traveller(
        scene,
        lane,
        speed,
        first_frame,
        num_frames,
        walker_body(rng, running=running),
        person_colours(rng),
        height_factor=float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15)),
        pause=pause,
    )


def pedestrians(scene: Scene, rng: np.random.Generator, num_frames: int) -> list[Actor]:
    """The normal crowd: walkers arriving on every route as a Poisson stream, at the domain's
    density, some already under way when the video starts. Farther walkers come first, so
    nearer ones are drawn over them."""
    routes = scene.routes
    total_weight = sum(r.weight for r in routes)
    actors = []
    for route in routes:
        crossing = crossing_frames(scene, route.centre, WALK_SPEED)
        share = scene.domain.density * route.weight / total_weight
        count = rng.poisson(share * (num_frames + crossing) / crossing)
        for _ in range(count):
            lane = pick_direction(route, rng).lane(rng.uniform(-1, 1))
            speed = WALK_SPEED * float(np.clip(rng.normal(1.0, 0.12), 0.75, 1.3))
            first_frame = rng.uniform(-crossing, num_frames)
            actor = walker(scene, rng, lane, first_frame, num_frames, speed=speed)
            if actor is not None:
                actors.append(actor)
    actors.sort(key=lambda a: float(a.y.mean()))
    return actors


def compose(scene: Scene, num_frames: int, actors: list[Actor]) -> np.ndarray:
    """The scene with its actors painted over it, (T, H, W, 3) float32 before the sensor."""
    canvas = np.empty((num_frames, scene.size, scene.size, 3), dtype=np.float32)
    canvas[:] = scene.background
    for actor in actors:
        draw(canvas, actor)
    return canvas


def _smooth_rows(image: np.ndarray) -> np.ndarray:
    """[1, 2, 1] / 4 along axis 1, edges replicated."""
    out = image * np.float32(0.5)
    quarter = image * np.float32(0.25)
    out[:, 1:] += quarter[:, :-1]
    out[:, :-1] += quarter[:, 1:]
    out[:, 0] += quarter[:, 0]
    out[:, -1] += quarter[:, -1]
    return out


def _blur(image: np.ndarray, passes: int) -> np.ndarray:
    """Separable [1, 2, 1] / 4 smoothing of every frame, ``passes`` times: an out-of-focus lens."""
    for _ in range(passes):
        image = _smooth_rows(image)
        image = _smooth_rows(image.swapaxes(1, 2)).swapaxes(1, 2)
    return image


def apply_sensor(
    canvas: np.ndarray, light: np.ndarray, sensor: Sensor, rng: np.random.Generator
) -> np.ndarray:
    """Light, colour, blur and noise of the camera; returns uint8 RGB frames (T, H, W, 3)."""
    num_frames = canvas.shape[0]
    base_gain = sensor.gain * rng.normal(1.0, 0.04)
    gain = np.full(num_frames, base_gain, dtype=np.float32)
    if sensor.flicker:
        t = np.arange(num_frames, dtype=np.float32)
        wave = np.sin(2 * np.pi * t * rng.uniform(0.05, 0.2) + rng.uniform(0, 2 * np.pi))
        gain = (base_gain * (1.0 + sensor.flicker * wave)).astype(np.float32)
    canvas *= light
    canvas *= gain[:, None, None, None]
    if sensor.haze:
        canvas *= np.float32(1.0 - sensor.haze)
        canvas += np.float32(sensor.haze) * np.array(sensor.haze_colour, np.float32)
    image = canvas
    if sensor.grayscale:
        image = canvas @ LUMA
    elif sensor.saturation != 1.0:
        luma = (canvas @ LUMA)[..., None]
        image = luma + np.float32(sensor.saturation) * (canvas - luma)
    image = _blur(image, sensor.blur)
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sensor.noise)
    image *= np.float32(255.0)
    image += np.float32(0.5)
    np.clip(image, 0.0, 255.0, out=image)
    frames = image.astype(np.uint8)
    if sensor.grayscale:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    return frames
