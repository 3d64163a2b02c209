"""The camera domains of the synthetic benchmark.

Each domain is one fixed camera: the scene (background, walkways, clutter), the camera (how tall a
person looks at each image row, how top-down the view is), the crowd (how many people, on which
routes, in which directions) and the sensor (light, colour, noise, blur). Domains differ along all
of these axes at once, the way real VAD cameras do, so a detector trained on one domain meets a
genuine domain shift on the others. Coordinates are fractions of the image: x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass

Point = tuple[float, float]
Colour = tuple[float, float, float]


@dataclass(frozen=True)
class Route:
    """A polyline people walk along. Its ends lie outside the image, or far away where people
    are tiny, so walkers enter and leave instead of popping up.

    ``half_width`` is in person heights at the local depth, so lanes narrow with distance;
    ``weight`` is the route's share of the crowd.
    """

    points: tuple[Point, ...]
    half_width: float
    one_way: bool = False
    weight: float = 1.0


@dataclass(frozen=True)
class Region:
    """A flat-coloured polygon of the static scene (road, wall, water, ...)."""

    polygon: tuple[Point, ...]
    colour: Colour


@dataclass(frozen=True)
class Sensor:
    """What the camera does to the light: applied to every frame after the scene is drawn."""

    gain: float = 1.0
    noise: float = 0.01
    blur: int = 0
    grayscale: bool = False
    saturation: float = 1.0
    tint: Colour = (1.0, 1.0, 1.0)
    flicker: float = 0.0
    haze: float = 0.0
    haze_colour: Colour = (0.8, 0.8, 0.8)
    vignette: float = 0.0
    light_pool: tuple[float, float, float] | None = None  # x, y, radius of a lamp's light


@dataclass(frozen=True)
class Domain:
    name: str
    summary: str
    ground: Colour
    mottle: float
    grain: float
    tile_spacing: float
    regions: tuple[Region, ...]
    walkway: Colour | None
    clutter: int
    clutter_colours: tuple[Colour, ...]
    clutter_zone: tuple[Point, ...] | None
    horizon: float
    near_height: float
    squash: float
    density: float
    routes: tuple[Route, ...]
    off_routes: tuple[Route, ...]  # where nobody walks: trespassers use these
    sensor: Sensor

    def scale_at(self, y: float) -> float:
        """Person height in image heights at image row ``y`` (ground-plane perspective)."""
        depth = (y - self.horizon) / (1.0 - self.horizon)
        return self.near_height * max(depth, 0.08)


CAMPUS = Domain(
    name="campus",
    summary="daylight lawn with a two-way walkway and a one-way downhill path, light traffic",
    ground=(0.30, 0.50, 0.22),
    mottle=0.10,
    grain=0.04,
    tile_spacing=0.0,
    regions=(),
    walkway=(0.72, 0.70, 0.66),
    clutter=5,
    clutter_colours=((0.12, 0.30, 0.10), (0.18, 0.36, 0.14), (0.35, 0.28, 0.20)),
    clutter_zone=None,
    horizon=-1.0,
    near_height=0.22,
    squash=0.9,
    density=4.0,
    routes=(
        Route(((-0.15, 0.95), (1.15, 0.35)), half_width=0.9, weight=3.0),
        Route(((0.30, -0.15), (0.62, 1.15)), half_width=0.45, one_way=True),
    ),
    off_routes=(
        Route(((0.82, 1.15), (1.15, 0.78)), half_width=0.3),
        Route(((-0.15, 0.5), (0.22, -0.15)), half_width=0.3),
    ),
    sensor=Sensor(noise=0.015, vignette=0.15),
)

STREET = Domain(
    name="street",
    summary="grayscale sidewalk seen along its length, strong perspective, two one-way lanes",
    ground=(0.35, 0.36, 0.35),
    mottle=0.05,
    grain=0.06,
    tile_spacing=0.0,
    regions=(
        Region(((0.0, 0.0), (0.36, 0.06), (0.02, 1.0), (0.0, 1.0)), (0.45, 0.42, 0.38)),
        Region(((0.36, 0.06), (0.52, 0.06), (0.78, 1.0), (0.02, 1.0)), (0.70, 0.70, 0.68)),
        Region(((0.52, 0.06), (0.54, 0.06), (0.82, 1.0), (0.78, 1.0)), (0.85, 0.85, 0.82)),
        Region(((0.0, 0.0), (1.0, 0.0), (1.0, 0.06), (0.0, 0.06)), (0.55, 0.56, 0.58)),
    ),
    walkway=None,
    clutter=3,
    clutter_colours=((0.2, 0.2, 0.2), (0.3, 0.28, 0.25)),
    clutter_zone=((0.0, 0.1), (0.3, 0.1), (0.05, 1.0), (0.0, 1.0)),
    horizon=0.04,
    near_height=0.34,
    squash=1.0,
    density=6.0,
    routes=(
        Route(((0.24, 1.25), (0.42, 0.07)), half_width=0.35, one_way=True),
        Route(((0.47, 0.07), (0.58, 1.25)), half_width=0.35, one_way=True),
    ),
    off_routes=(Route(((0.98, 1.2), (0.6, 0.07)), half_width=0.2),),
    sensor=Sensor(noise=0.03, blur=1, grayscale=True, gain=0.95),
)

PLAZA = Domain(
    name="plaza",
    summary="sunny tiled square from a high camera, small people, crossing crowd flows",
    ground=(0.82, 0.72, 0.56),
    mottle=0.05,
    grain=0.03,
    tile_spacing=0.125,
    regions=(
        Region(
            ((0.84, 0.62), (1.0, 0.60), (1.0, 0.92), (0.92, 0.94), (0.82, 0.82)),
            (0.32, 0.55, 0.75),
        ),
    ),
    walkway=None,
    clutter=6,
    clutter_colours=((0.20, 0.42, 0.18), (0.45, 0.30, 0.20)),
    clutter_zone=None,
    horizon=-4.0,
    near_height=0.2,
    squash=0.7,
    density=9.0,
    routes=(
        Route(((-0.1, 0.33), (1.1, 0.40)), half_width=1.5, one_way=True, weight=2.0),
        Route(((0.62, -0.1), (0.55, 1.1)), half_width=0.9, weight=2.0),
        Route(((-0.1, 0.92), (0.32, -0.1)), half_width=0.8),
    ),
    off_routes=(Route(((1.1, 0.55), (0.70, 1.12)), half_width=0.3),),
    sensor=Sensor(gain=1.08, noise=0.012, saturation=1.15),
)

CORRIDOR = Domain(
    name="corridor",
    summary="indoor hallway, vanishing-point perspective, large people, warm soft light",
    ground=(0.55, 0.50, 0.44),
    mottle=0.04,
    grain=0.03,
    tile_spacing=0.0,
    regions=(
        Region(((0.0, 0.0), (1.0, 0.0), (0.62, 0.12), (0.38, 0.12)), (0.86, 0.85, 0.80)),
        Region(((0.0, 0.0), (0.38, 0.12), (0.38, 0.42), (0.0, 1.0)), (0.74, 0.70, 0.58)),
        Region(((1.0, 0.0), (1.0, 1.0), (0.62, 0.42), (0.62, 0.12)), (0.70, 0.66, 0.55)),
        Region(((0.38, 0.12), (0.62, 0.12), (0.62, 0.42), (0.38, 0.42)), (0.62, 0.60, 0.55)),
        Region(((0.46, 0.22), (0.54, 0.22), (0.54, 0.42), (0.46, 0.42)), (0.22, 0.18, 0.15)),
        Region(((0.0, 0.62), (0.10, 0.56), (0.10, 0.82), (0.0, 0.92)), (0.30, 0.22, 0.16)),
        Region(((1.0, 0.60), (0.90, 0.55), (0.90, 0.80), (1.0, 0.90)), (0.30, 0.22, 0.16)),
    ),
    walkway=None,
    clutter=6,
    clutter_colours=((0.75, 0.25, 0.20), (0.20, 0.40, 0.70), (0.85, 0.75, 0.30)),
    clutter_zone=((0.0, 0.05), (0.36, 0.14), (0.36, 0.38), (0.0, 0.5)),
    horizon=0.30,
    near_height=0.48,
    squash=1.0,
    density=3.0,
    routes=(
        Route(((0.47, 0.40), (0.28, 1.35)), half_width=0.25, one_way=True),
        Route(((0.72, 1.35), (0.53, 0.40)), half_width=0.25, one_way=True),
    ),
    off_routes=(Route(((-0.1, 0.86), (1.1, 0.84)), half_width=0.05),),
    sensor=Sensor(gain=0.85, noise=0.02, blur=1, tint=(1.06, 0.97, 0.82), flicker=0.03),
)

NIGHT = Domain(
    name="night",
    summary="sidewalk and crosswalk at night under a sodium lamp: dark, orange, very noisy",
    ground=(0.30, 0.30, 0.32),
    mottle=0.06,
    grain=0.05,
    tile_spacing=0.0,
    regions=(
        Region(((0.0, 0.62), (1.0, 0.58), (1.0, 0.84), (0.0, 0.86)), (0.48, 0.47, 0.45)),
        Region(((0.0, 0.86), (1.0, 0.84), (1.0, 1.0), (0.0, 1.0)), (0.22, 0.22, 0.24)),
        Region(((0.60, 0.845), (0.72, 0.842), (0.71, 1.0), (0.58, 1.0)), (0.62, 0.62, 0.60)),
        Region(((0.10, 0.10), (0.12, 0.10), (0.13, 0.55), (0.11, 0.55)), (0.80, 0.80, 0.75)),
        Region(((0.30, 0.10), (0.32, 0.10), (0.33, 0.55), (0.31, 0.55)), (0.80, 0.80, 0.75)),
    ),
    walkway=None,
    clutter=4,
    clutter_colours=((0.15, 0.15, 0.18), (0.35, 0.10, 0.10), (0.12, 0.20, 0.35)),
    clutter_zone=((0.0, 0.05), (0.5, 0.05), (0.5, 0.5), (0.0, 0.5)),
    horizon=-0.8,
    near_height=0.26,
    squash=0.95,
    density=2.0,
    routes=(
        Route(((-0.15, 0.76), (1.15, 0.72)), half_width=0.5, weight=3.0),
        Route(((0.80, -0.15), (0.62, 1.15)), half_width=0.35, one_way=True),
    ),
    off_routes=(Route(((-0.15, 0.98), (1.15, 0.96)), half_width=0.1),),
    sensor=Sensor(
        gain=0.42,
        noise=0.05,
        tint=(1.15, 0.85, 0.50),
        saturation=0.8,
        light_pool=(0.68, 0.62, 0.45),
        vignette=0.3,
    ),
)

STATION = Domain(
    name="station",
    summary="busy concourse from a high camera: small people, dense counter-flows, dull colour",
    ground=(0.56, 0.59, 0.63),
    mottle=0.04,
    grain=0.03,
    tile_spacing=0.2,
    regions=(
        Region(((0.0, 0.0), (1.0, 0.0), (1.0, 0.17), (0.0, 0.17)), (0.30, 0.32, 0.36)),
        Region(((0.0, 0.17), (1.0, 0.17), (1.0, 0.19), (0.0, 0.19)), (0.90, 0.80, 0.20)),
    ),
    walkway=None,
    clutter=8,
    clutter_colours=((0.25, 0.27, 0.30), (0.70, 0.72, 0.75), (0.20, 0.35, 0.60)),
    clutter_zone=None,
    horizon=-2.0,
    near_height=0.17,
    squash=0.85,
    density=14.0,
    routes=(
        Route(((-0.1, 0.30), (1.1, 0.42)), half_width=2.0, one_way=True, weight=3.0),
        Route(((1.1, 0.72), (-0.1, 0.62)), half_width=1.6, one_way=True, weight=2.0),
        Route(((0.52, -0.1), (0.45, 1.1)), half_width=0.8),
    ),
    off_routes=(Route(((-0.1, 0.12), (1.1, 0.12)), half_width=0.05),),
    sensor=Sensor(noise=0.02, blur=1, saturation=0.55, tint=(0.95, 1.0, 1.08)),
)

BRIDGE = Domain(
    name="bridge",
    summary="one-way footbridge seen from the side in haze: no perspective, people in profile",
    ground=(0.58, 0.72, 0.86),
    mottle=0.03,
    grain=0.02,
    tile_spacing=0.0,
    regions=(
        Region(((0.0, 0.34), (1.0, 0.30), (1.0, 0.46), (0.0, 0.48)), (0.25, 0.38, 0.24)),
        Region(((0.0, 0.70), (1.0, 0.70), (1.0, 0.86), (0.0, 0.86)), (0.20, 0.35, 0.50)),
        Region(((0.0, 0.86), (1.0, 0.86), (1.0, 1.0), (0.0, 1.0)), (0.42, 0.34, 0.24)),
        Region(((0.0, 0.60), (1.0, 0.60), (1.0, 0.70), (0.0, 0.70)), (0.50, 0.36, 0.24)),
        Region(((0.0, 0.44), (1.0, 0.44), (1.0, 0.46), (0.0, 0.46)), (0.30, 0.24, 0.18)),
    ),
    walkway=None,
    clutter=2,
    clutter_colours=((0.30, 0.24, 0.18),),
    clutter_zone=((0.0, 0.44), (1.0, 0.44), (1.0, 0.6), (0.0, 0.6)),
    horizon=-100.0,
    near_height=0.30,
    squash=1.0,
    density=3.0,
    routes=(Route(((-0.15, 0.66), (1.15, 0.66)), half_width=0.1, one_way=True),),
    off_routes=(Route(((-0.15, 0.97), (1.15, 0.97)), half_width=0.05),),
    sensor=Sensor(gain=1.05, noise=0.015, haze=0.3, haze_colour=(0.85, 0.88, 0.92)),
)

DOMAINS: dict[str, Domain] = {
    d.name: d for d in (CAMPUS, STREET, PLAZA, CORRIDOR, NIGHT, STATION, BRIDGE)
}
DOMAIN_NAMES: tuple[str, ...] = tuple(DOMAINS)
