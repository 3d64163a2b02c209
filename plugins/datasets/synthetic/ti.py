"""The task-irrelevant (TI) set: one large figure doing one continuous action per clip.

It stands in for HMDB51, UCF101 and Jester: action and gesture clips with no anomalies, on plain
or cluttered backgrounds, framed nothing like a surveillance camera.
"""

from __future__ import annotations

import numpy as np

from .domains import Sensor
from .figures import SKIN, Actor, draw, hand, person, person_colours
from .scene import apply_sensor, rng_for

TI_ACTIONS: tuple[str, ...] = (
    "wave",
    "jumping_jack",
    "squat",
    "boxing",
    "walk_in_place",
    "bend",
    "clap",
    "swipe",
)


def _pose(action: str, cycle: np.ndarray) -> np.ndarray:
    """Person capsules for one action; ``cycle`` is the action's phase per frame."""
    n = len(cycle)
    wave = np.sin(cycle)
    half = 0.5 - 0.5 * np.cos(cycle)
    still_legs = np.tile(np.array([-0.08, 0.08], np.float32), (n, 1))
    if action == "wave":
        arms = np.stack([np.full(n, -0.15), 2.6 + 0.35 * wave], axis=1)
        return person(still_legs, arms)
    if action == "jumping_jack":
        spread = 0.06 + 0.32 * half
        raise_arms = 0.2 + 2.5 * half
        return person(
            np.stack([-spread, spread], 1),
            np.stack([-raise_arms, raise_arms], 1),
            lift=0.05 * np.abs(wave),
        )
    if action == "squat":
        arms = np.stack([1.4 * half, 1.3 * half], axis=1)
        return person(still_legs * 1.5, arms, crouch=0.4 * half, lean=0.35 * half)
    if action == "boxing":
        arms = np.stack([1.3 + 0.4 * wave, 1.3 - 0.4 * wave], axis=1)
        return person(still_legs * 2, arms, lean=0.1)
    if action == "walk_in_place":
        legs = np.stack([0.4 * wave, -0.4 * wave], axis=1)
        return person(legs, -legs * 1.2)
    if action == "bend":
        arms = np.stack([0.15 * wave, -0.15 * wave], axis=1)
        return person(still_legs, arms, lean=1.2 * half)
    if action == "clap":
        arms = np.stack([-1.4 + 2.3 * half, 1.4 - 0.5 * half], axis=1)
        return person(still_legs, arms)
    raise ValueError(f"unknown action {action!r}")


def _backdrop(rng: np.random.Generator, size: int) -> np.ndarray:
    """A plain wall, or a cluttered room of random boxes."""
    image = np.empty((size, size, 3), dtype=np.float32)
    image[:] = rng.uniform(0.25, 0.85, 3)
    if rng.random() < 0.5:
        rows, cols = np.arange(size)[:, None], np.arange(size)[None, :]
        for _ in range(int(rng.integers(6, 16))):
            x, y = rng.uniform(0, size, 2)
            w, h = rng.uniform(0.05, 0.3, 2) * size
            box = (np.abs(cols - x) < w / 2) & (np.abs(rows - y) < h / 2)
            image[box] = rng.uniform(0.05, 0.95, 3)
    gradient = np.linspace(1.08, 0.92, size, dtype=np.float32)[:, None, None]
    return np.clip(image * gradient, 0, 1)


def render_ti_frames(seed: int, index: int, num_frames: int, size: int) -> np.ndarray:
    """Clip ``index`` of the TI set as uint8 RGB frames (T, H, W, 3); actions cycle by index."""
    rng = rng_for(seed, "ti", index)
    action = TI_ACTIONS[index % len(TI_ACTIONS)]
    t = np.arange(num_frames, dtype=np.float32)
    cycle = 2 * np.pi * rng.uniform(0.05, 0.11) * t + rng.uniform(0, 2 * np.pi)
    drift = size * rng.uniform(-0.04, 0.04) * np.sin(2 * np.pi * t / num_frames)
    if action == "swipe":
        sweep = np.sin(cycle)
        actor = Actor(
            start=0,
            x=(0.5 + 0.28 * sweep) * size + drift,
            y=np.full(num_frames, 0.95 * size, np.float32),
            scale=np.full(num_frames, size * rng.uniform(0.55, 0.7), np.float32),
            capsules=hand(0.6 + 0.4 * np.cos(cycle)),
            colours=np.vstack([np.tile(SKIN[rng.integers(len(SKIN))], (6, 1)), [(0.2, 0.25, 0.5)]]),
            facing=np.ones(num_frames, np.float32),
            tilt=(0.35 * sweep).astype(np.float32),
        )
    else:
        actor = Actor(
            start=0,
            x=size / 2 + drift,
            y=np.full(num_frames, size * rng.uniform(0.9, 0.98), np.float32),
            scale=np.full(num_frames, size * rng.uniform(0.65, 0.85), np.float32),
            capsules=_pose(action, cycle),
            colours=person_colours(rng),
            facing=np.full(num_frames, 1.0 if rng.random() < 0.5 else -1.0, np.float32),
        )
    canvas = np.empty((num_frames, size, size, 3), dtype=np.float32)
    canvas[:] = _backdrop(rng, size)
    draw(canvas, actor)
    sensor = Sensor(noise=0.012, blur=int(rng.integers(0, 2)))
    return apply_sensor(canvas, np.ones(3, np.float32), sensor, rng)
