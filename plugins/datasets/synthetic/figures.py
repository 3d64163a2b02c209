"""Sprites built from capsules, and the rasteriser that draws all frames of one sprite at once.

A sprite is a few capsules (a segment with a radius; a ring when it has an inner radius) given in
body units: 1.0 is a standing person's height, the origin is between the feet, ``v`` points up
and ``u`` points the way the sprite faces. Per-frame capsule arrays of shape (n, parts, 6) hold
``u0, v0, u1, v1, radius, inner_radius``, so a gait or a fall is just a different array, and the
rasteriser handles every frame of a sprite in one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

MIN_RADIUS_PX = 0.55  # limbs never vanish at low resolution

SHIRTS = np.array(
    [
        (0.80, 0.15, 0.15), (0.15, 0.35, 0.75), (0.90, 0.85, 0.80), (0.20, 0.55, 0.30),
        (0.90, 0.70, 0.10), (0.45, 0.20, 0.55), (0.10, 0.10, 0.12), (0.95, 0.45, 0.20),
        (0.40, 0.65, 0.85), (0.60, 0.60, 0.60),
    ],
    dtype=np.float32,
)  # fmt: skip
TROUSERS = np.array(
    [(0.12, 0.14, 0.25), (0.20, 0.20, 0.22), (0.35, 0.28, 0.20), (0.50, 0.50, 0.55)],
    dtype=np.float32,
)
SKIN = np.array(
    [(0.95, 0.80, 0.68), (0.80, 0.60, 0.45), (0.55, 0.38, 0.26), (0.35, 0.24, 0.17)],
    dtype=np.float32,
)
VEHICLE_PAINT = np.array(
    [(0.85, 0.10, 0.10), (0.95, 0.95, 0.92), (0.10, 0.30, 0.80), (0.95, 0.80, 0.10)],
    dtype=np.float32,
)
DARK = np.array((0.08, 0.08, 0.09), dtype=np.float32)


@dataclass
class Actor:
    """One sprite over the frames ``start .. start + n - 1`` of a video, in pixels."""

    start: int
    x: np.ndarray  # (n,) feet anchor, pixel columns
    y: np.ndarray  # (n,) feet anchor, pixel rows
    scale: np.ndarray  # (n,) pixels per body unit
    capsules: np.ndarray  # (n, parts, 6) body units
    colours: np.ndarray  # (parts, 3)
    facing: np.ndarray  # (n,) +1 faces right, -1 faces left
    squash: float = 1.0
    tilt: np.ndarray | None = None  # (n,) radians, rotation about the feet towards the facing
    abnormal: np.ndarray | None = None  # (n,) bool: frames on which this actor is the anomaly

    def pixel_capsules(self) -> tuple[np.ndarray, ...]:
        """Capsule endpoints and radii in pixel coordinates, each (n, parts)."""
        u = self.capsules[..., (0, 2)]
        v = self.capsules[..., (1, 3)]
        if self.tilt is not None:
            cos = np.cos(self.tilt)[:, None, None]
            sin = np.sin(self.tilt)[:, None, None]
            u, v = u * cos + v * sin, v * cos - u * sin
        scale = self.scale[:, None, None]
        px = self.x[:, None, None] + (u * self.facing[:, None, None]) * scale
        py = self.y[:, None, None] - (v * self.squash) * scale
        radius = np.maximum(self.capsules[..., 4] * self.scale[:, None], MIN_RADIUS_PX)
        inner = self.capsules[..., 5] * self.scale[:, None]
        return px[..., 0], py[..., 0], px[..., 1], py[..., 1], radius, inner

    def planned_abnormal_frames(self, num_frames: int, height: int, width: int) -> np.ndarray:
        """Frames on which the actor is abnormal and its bounding box is in view: a cheap
        superset of the frames it will really paint, used to plan events before drawing."""
        ax, ay, bx, by, radius, _ = self.pixel_capsules()
        frames = self.start + np.arange(len(self.x))
        inside = (frames >= 0) & (frames < num_frames)
        inside &= (np.maximum(ax, bx) + radius).max(1) >= 0
        inside &= (np.minimum(ax, bx) - radius).min(1) < width
        inside &= (np.maximum(ay, by) + radius).max(1) >= 0
        inside &= (np.minimum(ay, by) - radius).min(1) < height
        if self.abnormal is not None:
            inside &= self.abnormal
        shown = np.zeros(num_frames, dtype=bool)
        shown[frames[inside]] = True
        return shown


def draw(canvas: np.ndarray, actor: Actor, mask: np.ndarray | None = None) -> np.ndarray:
    """Paint ``actor`` into ``canvas`` (T, H, W, 3) and mark its abnormal pixels in ``mask``.

    Returns the video frames on which the actor painted an abnormal pixel, so an anomaly's
    extent in time is read off what was drawn rather than planned.
    """
    num_frames, height, width = canvas.shape[:3]
    ax, ay, bx, by, radius, inner = actor.pixel_capsules()
    frames = actor.start + np.arange(len(actor.x))
    left = np.floor((np.minimum(ax, bx) - radius).min(1)).astype(np.int64)
    right = np.ceil((np.maximum(ax, bx) + radius).max(1)).astype(np.int64)
    top = np.floor((np.minimum(ay, by) - radius).min(1)).astype(np.int64)
    bottom = np.ceil((np.maximum(ay, by) + radius).max(1)).astype(np.int64)
    keep = (frames >= 0) & (frames < num_frames)
    keep &= (right >= 0) & (left < width) & (bottom >= 0) & (top < height)
    if not keep.any():
        return np.zeros(0, dtype=np.int64)
    ax, ay, bx, by, radius, inner = (a[keep] for a in (ax, ay, bx, by, radius, inner))
    frames, left, top = frames[keep], left[keep], top[keep]
    patch_w = int((right[keep] - left).max()) + 1
    patch_h = int((bottom[keep] - top).max()) + 1
    cols = left[:, None] + np.arange(patch_w)  # (m, pw)
    rows = top[:, None] + np.arange(patch_h)  # (m, ph)
    px = (cols + 0.5).astype(np.float32)[:, None, :]
    py = (rows + 0.5).astype(np.float32)[:, :, None]
    part = np.zeros((len(frames), patch_h, patch_w), dtype=np.int8)
    for k in range(ax.shape[1]):
        dx = (bx[:, k] - ax[:, k]).astype(np.float32)[:, None, None]
        dy = (by[:, k] - ay[:, k]).astype(np.float32)[:, None, None]
        rx = px - ax[:, k].astype(np.float32)[:, None, None]
        ry = py - ay[:, k].astype(np.float32)[:, None, None]
        if np.any(dx) or np.any(dy):
            along = (rx * dx + ry * dy) / (dx * dx + dy * dy + np.float32(1e-9))
            np.clip(along, 0.0, 1.0, out=along)
            rx = rx - along * dx
            ry = ry - along * dy
        dist2 = rx * rx + ry * ry
        inside = dist2 <= (radius[:, k] ** 2).astype(np.float32)[:, None, None]
        if inner[:, k].any():
            inside &= dist2 >= (inner[:, k] ** 2).astype(np.float32)[:, None, None]
        part[inside] = k + 1
    part[(rows < 0) | (rows >= height)] = 0
    part.transpose(0, 2, 1)[(cols < 0) | (cols >= width)] = 0
    t, i, j = np.nonzero(part)
    flat = (frames[t] * height + rows[t, i]) * width + cols[t, j]
    canvas.reshape(-1, 3)[flat] = actor.colours[part[t, i, j] - 1]
    if mask is None or actor.abnormal is None:
        return np.zeros(0, dtype=np.int64)
    abnormal = actor.abnormal[keep][t]
    mask.reshape(-1)[flat[abnormal]] = True
    return np.unique(frames[t[abnormal]])


def _capsule(
    u0: ArrayLike,
    v0: ArrayLike,
    u1: ArrayLike,
    v1: ArrayLike,
    radius: float,
    inner: float = 0.0,
) -> np.ndarray:
    """Stack per-frame (or scalar) endpoint coordinates into an (n, 6) capsule array."""
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float32) for a in (u0, v0, u1, v1, radius, inner))
    )
    return np.stack(arrays, axis=-1)


def person(
    leg_angles: np.ndarray,
    arm_angles: np.ndarray,
    *,
    leg_lengths: np.ndarray | float = 1.0,
    lean: np.ndarray | float = 0.0,
    crouch: np.ndarray | float = 0.0,
    lift: np.ndarray | float = 0.0,
) -> np.ndarray:
    """A person as (n, 6, 6) capsules: back leg, back arm, torso, front leg, front arm, head.

    Angles are per frame, in radians from straight down, positive towards the facing side.
    ``lean`` tilts the upper body about the hips, ``crouch`` folds the legs, ``lift`` raises the
    whole body (a skateboard deck).
    """
    n = len(leg_angles)
    leg_len = 0.47 * (1.0 - np.asarray(crouch, dtype=np.float32)) * np.ones(n, np.float32)
    hip_v = leg_len + lift
    lean = np.asarray(lean, dtype=np.float32) * np.ones(n, np.float32)
    sin_l, cos_l = np.sin(lean), np.cos(lean)
    lengths = np.broadcast_to(np.asarray(leg_lengths, dtype=np.float32), (n, 2))

    def up(distance: float) -> tuple[np.ndarray, np.ndarray]:
        return distance * sin_l, hip_v + distance * cos_l

    neck_u, neck_v = up(0.30)
    shoulder_u, shoulder_v = up(0.27)
    head_u, head_v = up(0.40)
    legs = [
        _capsule(
            side * 0.03,
            hip_v,
            side * 0.03 + leg_len * lengths[:, k] * np.sin(leg_angles[:, k]),
            hip_v - leg_len * lengths[:, k] * np.cos(leg_angles[:, k]),
            0.048,
        )
        for k, side in enumerate((-1.0, 1.0))
    ]
    arms = [
        _capsule(
            shoulder_u,
            shoulder_v,
            shoulder_u + 0.33 * np.sin(arm_angles[:, k]),
            shoulder_v - 0.33 * np.cos(arm_angles[:, k]),
            0.035,
        )
        for k in range(2)
    ]
    torso = _capsule(0.0, hip_v, neck_u, neck_v, 0.085)
    head = _capsule(head_u, head_v, head_u, head_v, 0.085)
    return np.stack([legs[0], arms[0], torso, legs[1], arms[1], head], axis=1)


def person_colours(rng: np.random.Generator) -> np.ndarray:
    shirt = SHIRTS[rng.integers(len(SHIRTS))] * rng.uniform(0.85, 1.1)
    trousers = TROUSERS[rng.integers(len(TROUSERS))]
    skin = SKIN[rng.integers(len(SKIN))]
    return np.clip(np.stack([trousers, shirt, shirt, trousers, shirt, skin]), 0, 1)


def gait(
    distance: np.ndarray, direction: np.ndarray, phase0: float, *, running: bool = False
) -> np.ndarray:
    """Walking or running person capsules from the distance covered (body units) per frame.

    ``direction`` is the (n, 2) unit image direction of travel: moving sideways shows the legs
    scissoring, moving towards or away from the camera shows them alternately shortening.
    """
    stride = 1.5 if running else 0.9
    phase = phase0 + 2.0 * np.pi * distance / stride
    sideways = np.abs(direction[:, 0])
    swing = np.sin(phase) * (0.35 + 0.65 * sideways) * (0.75 if running else 0.42)
    depthwise = 0.18 * (1.0 - sideways)
    leg_lengths = np.stack(
        [
            1.0 - depthwise * np.maximum(np.sin(phase), 0),
            1.0 - depthwise * np.maximum(-np.sin(phase), 0),
        ],
        axis=1,
    )
    arm_swing = -swing * (1.6 if running else 0.8)
    arms = np.stack([arm_swing, -arm_swing], axis=1) + (0.5 if running else 0.0)
    return person(
        np.stack([swing, -swing], axis=1),
        arms,
        leg_lengths=leg_lengths,
        lean=0.25 if running else 0.03,
    )


def vehicle(kind: str, n: int) -> np.ndarray:
    """A car, a hand cart or a delivery van: rounded boxes on wheels, (n, parts, 6)."""
    if kind == "car":
        parts = [
            _capsule(-0.75, 0.30, 0.75, 0.30, 0.19),
            _capsule(-0.30, 0.55, 0.25, 0.55, 0.15),
            _capsule(-0.50, 0.11, -0.50, 0.11, 0.11),
            _capsule(0.50, 0.11, 0.50, 0.11, 0.11),
        ]
    elif kind == "van":
        parts = [
            _capsule(-0.70, 0.50, 0.55, 0.50, 0.38),
            _capsule(0.55, 0.32, 0.80, 0.32, 0.20),
            _capsule(-0.45, 0.11, -0.45, 0.11, 0.11),
            _capsule(0.55, 0.11, 0.55, 0.11, 0.11),
        ]
    else:
        parts = [
            _capsule(-0.30, 0.40, 0.30, 0.40, 0.20),
            _capsule(0.40, 0.55, 0.58, 0.85, 0.03),
            _capsule(-0.22, 0.10, -0.22, 0.10, 0.10),
            _capsule(0.22, 0.10, 0.22, 0.10, 0.10),
        ]
    return np.broadcast_to(np.stack(parts), (n, len(parts), 6)).copy()


def vehicle_colours(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Body, then cabin windows (car) or a darker shade (van cab, cart handle), then wheels."""
    paint = VEHICLE_PAINT[rng.integers(len(VEHICLE_PAINT))]
    cabin = np.array((0.55, 0.70, 0.85), np.float32) if kind == "car" else paint * 0.8
    return np.stack([paint, cabin, DARK, DARK])


def crate(n: int) -> np.ndarray:
    """A stack of boxes left on the walkway."""
    parts = [
        _capsule(-0.25, 0.18, 0.25, 0.18, 0.17),
        _capsule(-0.12, 0.45, 0.15, 0.45, 0.12),
    ]
    return np.broadcast_to(np.stack(parts), (n, 2, 6)).copy()


def crate_colours(rng: np.random.Generator) -> np.ndarray:
    base = np.array((0.65, 0.45, 0.22), np.float32) * rng.uniform(0.8, 1.2)
    return np.clip(np.stack([base, base * 0.8]), 0, 1)


def bicycle(distance: np.ndarray) -> np.ndarray:
    """A rider on a bicycle; the pedals turn with the distance covered."""
    n = len(distance)
    crank = 2.0 * np.pi * distance / 1.2
    pedal_u = 0.09 * np.cos(crank)
    pedal_v = 0.18 + 0.09 * np.sin(crank)
    hip_u, hip_v = -0.06, 0.55
    parts = [
        _capsule(-0.32, 0.15, -0.32, 0.15, 0.15, 0.10),
        _capsule(0.32, 0.15, 0.32, 0.15, 0.15, 0.10),
        _capsule(-0.32, 0.15, 0.0, 0.18, 0.03),
        _capsule(0.0, 0.18, 0.28, 0.42, 0.03),
        _capsule(hip_u, hip_v, pedal_u, pedal_v, 0.048),
        _capsule(hip_u, hip_v, 0.08, 0.86, 0.085),
        _capsule(0.08, 0.82, 0.28, 0.45, 0.035),
        _capsule(0.13, 0.97, 0.13, 0.97, 0.085),
    ]
    return np.stack([np.broadcast_to(p, (n, 6)) for p in parts], axis=1)


def bicycle_colours(rng: np.random.Generator) -> np.ndarray:
    rider = person_colours(rng)
    frame = VEHICLE_PAINT[rng.integers(len(VEHICLE_PAINT))]
    return np.stack([DARK, DARK, frame, frame, rider[0], rider[2], rider[4], rider[5]])


def skater(n: int, sway: np.ndarray) -> np.ndarray:
    """A person gliding on a board: legs still, arms out for balance."""
    legs = np.stack([np.full(n, -0.22), np.full(n, 0.22)], axis=1)
    arms = np.stack([-1.2 + 0.2 * sway, 1.2 - 0.2 * sway], axis=1)
    body = person(legs, arms, crouch=0.08, lean=0.1 * sway, lift=0.06)
    board = np.broadcast_to(_capsule(-0.3, 0.03, 0.3, 0.03, 0.028), (n, 6))
    return np.concatenate([board[:, None], body], axis=1)


def skater_colours(rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([DARK[None] + 0.25, person_colours(rng)])


def thrown_object(spin: np.ndarray) -> np.ndarray:
    """A spinning bottle-sized stick."""
    half = 0.13
    return _capsule(
        -half * np.cos(spin), -half * np.sin(spin), half * np.cos(spin), half * np.sin(spin), 0.07
    )[:, None]


def hand(spread: np.ndarray) -> np.ndarray:
    """An open hand for gesture clips: palm, four fingers fanning with ``spread``, thumb, sleeve.

    One unit is the hand's length; the origin is the wrist.
    """
    n = len(spread)
    parts = [_capsule(0.0, 0.12, 0.0, 0.42, 0.16)]
    for k, offset in enumerate((-0.12, -0.04, 0.04, 0.12)):
        angle = (k - 1.5) * 0.12 * spread
        parts.append(
            _capsule(offset, 0.5, offset + 0.4 * np.sin(angle), 0.5 + 0.4 * np.cos(angle), 0.045)
        )
    thumb = 0.9 + 0.5 * spread
    parts.append(_capsule(0.14, 0.25, 0.14 + 0.3 * np.sin(thumb), 0.25 + 0.3 * np.cos(thumb), 0.05))
    parts.append(_capsule(0.0, -0.3, 0.0, 0.1, 0.12))
    return np.stack([np.broadcast_to(p, (n, 6)) for p in parts], axis=1)
