"""Abnormal events of test videos and the planner that places them in time.

Every event is an Actor whose ``abnormal`` flags say when it is the anomaly; a person who falls,
lies and gets up again is normal before and after. What the renderer finally paints decides the
labels, so the plan only needs to be roughly right: the planner keeps events apart in time (one
anomaly type per frame) and aims at 30-50% abnormal frames per video.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from .domains import ANOMALY_TYPES
from .figures import (
    Actor,
    bicycle,
    bicycle_colours,
    crate,
    crate_colours,
    skater,
    skater_colours,
    thrown_object,
    vehicle,
    vehicle_colours,
)
from .scene import (
    WALK_SPEED,
    BodyBuilder,
    PixelRoute,
    Scene,
    crossing_frames,
    pick_direction,
    traveller,
    walker,
)

ANOMALY_DESCRIPTIONS: dict[str, str] = {
    "vehicle": "a car, van or hand cart driving along a walkway",
    "bicycle": "a cyclist riding fast along a walkway",
    "skateboard": "a skater gliding fast, legs still",
    "running": "a person running along a walkway",
    "wrong_way": "a person walking against a one-way flow",
    "trespass": "a person walking where nobody walks (lawn, road, platform edge, riverbank)",
    "thrown": "an object thrown across the scene on a ballistic arc",
    "fall": "a walker falls, lies still, gets up and walks on",
    "parked": "a vehicle or crates standing still on a walkway (motion-blind)",
}
PLACEMENT_TRIES = 6
LONGEST_EVENT = 0.45  # of a video's frames
EventMaker = Callable[[Scene, np.random.Generator, int], Actor | None]


def anomaly_code(name: str) -> int:
    """The per-frame code of an anomaly type in ``test_anomaly_type/*.npy`` (0 = normal)."""
    return ANOMALY_TYPES.index(name) + 1


def _flagged(actor: Actor | None) -> Actor | None:
    if actor is not None:
        actor.abnormal = np.ones(len(actor.x), dtype=bool)
    return actor


def _any_route(scene: Scene, rng: np.random.Generator) -> PixelRoute:
    return pick_direction(scene.routes[rng.integers(len(scene.routes))], rng)


def _start(rng: np.random.Generator, crossing: float, num_frames: int) -> float:
    """When an event starts moving: any time if its crossing is short; if it is long, mostly
    already under way at the first frame or arriving late, so that it stays under the
    longest-event limit."""
    longest = LONGEST_EVENT * num_frames
    if crossing <= longest or rng.random() < 0.2:
        return float(rng.uniform(-0.8 * crossing, num_frames - 4))
    if rng.random() < 0.5:
        return float(rng.uniform(-crossing + 4, -crossing + longest))
    return float(rng.uniform(num_frames - longest, num_frames - 4))


def _rider(
    scene: Scene,
    rng: np.random.Generator,
    num_frames: int,
    relative_speed: tuple[float, float],
    body: BodyBuilder,
    colours: np.ndarray,
) -> Actor | None:
    lane = _any_route(scene, rng).lane(rng.uniform(-0.5, 0.5))
    speed = WALK_SPEED * rng.uniform(*relative_speed)
    start = _start(rng, crossing_frames(scene, lane, speed), num_frames)
    return _flagged(traveller(scene, lane, speed, start, num_frames, body, colours))


def vehicle_event(scene: Scene, rng: np.random.Generator, num_frames: int) -> Actor | None:
    kind = ("car", "van", "cart")[rng.integers(3)]
    speed = (1.2, 2.0) if kind == "cart" else (1.8, 3.2)
    return _rider(
        scene,
        rng,
        num_frames,
        speed,
        lambda distance, _: vehicle(kind, len(distance)),
        vehicle_colours(kind, rng),
    )


def bicycle_event(scene: Scene, rng: np.random.Generator, num_frames: int) -> Actor | None:
    return _rider(
        scene,
        rng,
        num_frames,
        (2.8, 4.2),
        lambda distance, _: bicycle(distance),
        bicycle_colours(rng),
    )


def skateboard_event(scene: Scene, rng: np.random.Generator, num_frames: int) -> Actor | None:
    return _rider(
        scene,
        rng,
        num_frames,
        (2.2, 3.2),
        lambda distance, _: skater(len(distance), np.sin(distance * 0.7)),
        skater_colours(rng),
    )


def running_event(scene: Scene, rng: np.random.Generator, num_frames: int) -> Actor | None:
    lane = _any_route(scene, rng).lane(rng.uniform(-0.8, 0.8))
    speed = WALK_SPEED * rng.uniform(2.4, 3.4)
    start = _start(rng, crossing_frames(scene, lane, speed), num_frames)
    return _flagged(walker(scene, rng, lane, start, num_frames, speed=speed, running=True))


def wrong_way_event(scene: Scene, rng: np.random.Generator, num_frames: int) -> Actor | None:
    one_way = [r for r in scene.routes if r.one_way]
    if not one_way:
        return None
    lane = one_way[rng.integers(len(one_way))].reversed().lane(rng.uniform(-0.8, 0.8))
    start = _start(rng, crossing_frames(scene, lane, WALK_SPEED), num_frames)
    return _flagged(walker(scene, rng, lane, start, num_frames))


def trespass_event(scene: Scene, rng: np.random.Generator, num_frames: int) -> Actor | None:
    route = scene.off_routes[rng.integers(len(scene.off_routes))]
    route = route if rng.random() < 0.5 else route.reversed()
    lane = route.lane(rng.uniform(-1, 1))
    start = _start(rng, crossing_frames(scene, lane, WALK_SPEED), num_frames)
    return _flagged(walker(scene, rng, lane, start, num_frames))


def thrown_event(scene: Scene, rng: np.random.Generator, num_frames: int) -> Actor | None:
    """Something hurled in from one side: fast, small, on a parabola, spinning."""
    size = scene.size
    side = 1.0 if rng.random() < 0.5 else -1.0
    t = np.arange(int(1.5 * size), dtype=np.float32)
    x0 = size * (0.5 - 0.55 * side)
    y0 = size * rng.uniform(0.35, 0.7)
    x = x0 + side * size * rng.uniform(0.035, 0.06) * t
    y = y0 - size * rng.uniform(0.015, 0.035) * t + 0.5 * size * rng.uniform(0.001, 0.002) * t**2
    spin = rng.uniform(0.4, 0.9) * t
    colours = np.array([(0.95, 0.95, 0.95), (0.95, 0.35, 0.10), (0.20, 0.80, 0.30)], np.float32)
    return Actor(
        start=int(rng.integers(-4, num_frames - 4)),
        x=x,
        y=y,
        scale=np.full(len(t), float(scene.scale_px(float(y0))), np.float32),
        capsules=thrown_object(spin),
        colours=colours[rng.integers(3)][None],
        facing=np.ones(len(t), np.float32),
        abnormal=np.ones(len(t), dtype=bool),
    )


def fall_event(scene: Scene, rng: np.random.Generator, num_frames: int) -> Actor | None:
    """A walker who falls at a spot inside the image, lies still, gets up and walks on."""
    route = _any_route(scene, rng)
    spots = scene.interior(route)
    if len(spots) == 0:
        return None
    lane = route.lane(rng.uniform(-0.8, 0.8))
    spot = int(spots[rng.integers(len(spots))])
    falling, getting_up = 4, 5
    lying = int(rng.integers(10, 30))
    down = falling + lying + getting_up
    fall_at = int(rng.integers(-down // 2, num_frames - 6))
    first = fall_at - crossing_frames(scene, lane[: spot + 1], WALK_SPEED)
    actor = walker(scene, rng, lane, first, num_frames, pause=(fall_at, down))
    if actor is None:
        return None
    since = actor.start + np.arange(len(actor.x)) - fall_at
    ramp = np.minimum(np.clip(since / falling, 0, 1), np.clip((down - since) / getting_up, 0, 1))
    actor.tilt = (0.47 * np.pi * ramp).astype(np.float32)
    actor.abnormal = (since >= 0) & (since < down)
    return actor


def parked_event(scene: Scene, rng: np.random.Generator, num_frames: int) -> Actor | None:
    """A foreign object standing on a walkway from the first frame, or until the last: only
    its appearance is abnormal, it never moves, so frame differencing cannot see it."""
    route = scene.routes[rng.integers(len(scene.routes))]
    spots = scene.interior(route)
    if len(spots) == 0:
        return None
    x, y = route.lane(rng.uniform(-0.6, 0.6))[spots[rng.integers(len(spots))]]
    length = int(num_frames * rng.uniform(0.2, 0.42))
    start = 0 if rng.random() < 0.5 else num_frames - length
    kind = ("car", "van", "cart", "crate")[rng.integers(4)]
    if kind == "crate":
        capsules, colours = crate(length), crate_colours(rng)
    else:
        capsules, colours = vehicle(kind, length), vehicle_colours(kind, rng)
    return Actor(
        start=start,
        x=np.full(length, x, np.float32),
        y=np.full(length, y, np.float32),
        scale=np.full(length, float(scene.scale_px(float(y))), np.float32),
        capsules=capsules,
        colours=colours,
        facing=np.full(length, 1.0 if rng.random() < 0.5 else -1.0, np.float32),
        squash=scene.domain.squash,
        abnormal=np.ones(length, dtype=bool),
    )


EVENT_MAKERS: dict[str, EventMaker] = {
    "vehicle": vehicle_event,
    "bicycle": bicycle_event,
    "skateboard": skateboard_event,
    "running": running_event,
    "wrong_way": wrong_way_event,
    "trespass": trespass_event,
    "thrown": thrown_event,
    "fall": fall_event,
    "parked": parked_event,
}


def _widen(frames: np.ndarray, gap: int) -> np.ndarray:
    wide = frames.copy()
    for shift in range(1, gap + 1):
        wide[shift:] |= frames[:-shift]
        wide[:-shift] |= frames[shift:]
    return wide


def plan_anomalies(
    scene: Scene, rng: np.random.Generator, num_frames: int, kinds: Sequence[str]
) -> list[tuple[str, Actor]]:
    """Events of the given kinds, in turn, until 30-50% of the frames are planned abnormal.

    Events stay apart in time with a few normal frames between them (one anomaly type per
    frame); none covers more than LONGEST_EVENT of the video, so a video holds at least two and the
    test split of a domain sees many types. Each kind gets a few random placements to fit.
    """
    target = rng.uniform(0.3, 0.5) * num_frames
    longest = LONGEST_EVENT * num_frames
    covered = np.zeros(num_frames, dtype=bool)
    events: list[tuple[str, Actor]] = []
    for kind in itertools.islice(itertools.cycle(kinds), 2 * len(kinds)):
        if covered.sum() >= target:
            break
        for _ in range(PLACEMENT_TRIES):
            actor = EVENT_MAKERS[kind](scene, rng, num_frames)
            if actor is None:
                break
            shown = actor.planned_abnormal_frames(num_frames, scene.size, scene.size)
            if (
                4 <= shown.sum() <= longest
                and not (shown & _widen(covered, 3)).any()
                and (covered | shown).sum() <= 0.75 * num_frames
            ):
                covered |= shown
                events.append((kind, actor))
                break
    return events
