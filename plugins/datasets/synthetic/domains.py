"""The camera domains of the synthetic benchmark: the YAML format they are written in, and the
frozen dataclasses the renderer reads.

Each domain is one fixed camera: the scene (background, walkways, clutter), the camera (how tall a
person looks at each image row, how top-down the view is), the crowd (how many people, on which
routes, in which directions), the sensor (light, colour, noise, blur) and the anomaly mix (which
anomaly types its test videos show). Domains differ along all of these axes at once, the way real
VAD cameras do, so a detector trained on one domain meets a genuine domain shift on the others.
Coordinates are fractions of the image: x to the right, y down.

The seven built-in domains are data files in the same format as users' own cameras
(``domains/<name>.yaml``, docs/synthetic.md); every number in a domain is checked against bounds
when the domain is read, so a bad camera fails at configuration time, never half-way through a run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vadbench.sdk import ConfigError, did_you_mean, load_yaml, validation_message

Point = tuple[float, float]
Colour = tuple[float, float, float]

ANOMALY_TYPES: tuple[str, ...] = (
    "vehicle",
    "bicycle",
    "skateboard",
    "running",
    "wrong_way",
    "trespass",
    "thrown",
    "fall",
    "parked",
)
DOMAIN_NAMES: tuple[str, ...] = (
    "campus",
    "street",
    "plaza",
    "corridor",
    "night",
    "station",
    "bridge",
)
TI = "ti"  # the task-irrelevant set: not a camera domain, but named like one
BUILTIN_FOLDER = Path(__file__).with_name("domains")
DOMAIN_FILE_SUFFIXES = (".yaml", ".yml")
INLINE = "inline domain"  # how errors name a domain written inside a matrix


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
    anomalies: tuple[tuple[str, float], ...]  # (type, weight), in ANOMALY_TYPES order

    def scale_at(self, y: float) -> float:
        """Person height in image heights at image row ``y`` (ground-plane perspective)."""
        depth = (y - self.horizon) / (1.0 - self.horizon)
        return self.near_height * max(depth, 0.08)


# --- the YAML format -------------------------------------------------------------------------
# Bounds keep every domain renderable: colours are fractions of full brightness, coordinates
# stay within half an image of the frame (route ends lie outside it), sizes are positive.

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Coordinate = Annotated[float, Field(ge=-0.5, le=1.5)]
ChannelGain = Annotated[float, Field(ge=0.0, le=2.0)]
ColourSpec = tuple[Unit, Unit, Unit]
PointSpec = tuple[Coordinate, Coordinate]
Polygon = Annotated[list[PointSpec], Field(min_length=3, max_length=64)]
Weight = Annotated[float, Field(gt=0.0, le=100.0)]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"  # it names a cache and an export folder
MIN_TILE = 0.03  # smaller tiles are nothing but joints at 32 pixels
_SENSOR = Sensor()  # the sensor's defaults are the dataclass's


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionSpec(_Spec):
    """A flat-coloured polygon of the static scene; later regions are painted over earlier."""

    polygon: Polygon
    colour: ColourSpec


class ClutterSpec(_Spec):
    """Static boxes (benches, bins, posters) placed at random where no route passes."""

    count: int = Field(0, ge=0, le=64)
    colours: list[ColourSpec] = Field(default_factory=list, max_length=16)
    zone: Polygon | None = None

    @model_validator(mode="after")
    def _colours_for_clutter(self) -> ClutterSpec:
        if self.count and not self.colours:
            raise ValueError("clutter with count > 0 needs at least one colour in 'colours'")
        return self


class SceneSpec(_Spec):
    ground: ColourSpec
    mottle: float = Field(0.05, ge=0.0, le=0.5)
    grain: float = Field(0.03, ge=0.0, le=0.5)
    tile_spacing: float = Field(0.0, ge=0.0, le=0.5)
    regions: list[RegionSpec] = Field(default_factory=list, max_length=64)
    walkway: ColourSpec | None = None
    clutter: ClutterSpec = ClutterSpec()

    @field_validator("tile_spacing")
    @classmethod
    def _visible_tiles(cls, value: float) -> float:
        if 0.0 < value < MIN_TILE:
            raise ValueError(
                f"use 0 (no tiles) or at least {MIN_TILE}: smaller tiles are all joints"
            )
        return value


class CameraSpec(_Spec):
    horizon: float = Field(ge=-1000.0, le=0.9)
    near_height: float = Field(ge=0.05, le=0.8)
    squash: float = Field(1.0, ge=0.3, le=1.0)


class RouteSpec(_Spec):
    points: list[PointSpec] = Field(min_length=2, max_length=32)
    half_width: float = Field(gt=0.0, le=5.0)
    one_way: bool = False
    weight: float = Field(1.0, gt=0.0, le=100.0)

    @field_validator("points")
    @classmethod
    def _distinct_steps(cls, value: list[Point]) -> list[Point]:
        for index, (a, b) in enumerate(pairwise(value)):
            if a == b:
                raise ValueError(f"points {index} and {index + 1} are the same place")
        return value


class CrowdSpec(_Spec):
    density: float = Field(ge=0.0, le=40.0)
    routes: list[RouteSpec] = Field(min_length=1, max_length=16)
    off_routes: list[RouteSpec] = Field(default_factory=list, max_length=16)


class LightPoolSpec(_Spec):
    x: Coordinate
    y: Coordinate
    radius: float = Field(gt=0.0, le=2.0)


class SensorSpec(_Spec):
    gain: float = Field(_SENSOR.gain, ge=0.1, le=3.0)
    noise: float = Field(_SENSOR.noise, ge=0.0, le=0.5)
    blur: int = Field(_SENSOR.blur, ge=0, le=4)
    grayscale: bool = _SENSOR.grayscale
    saturation: float = Field(_SENSOR.saturation, ge=0.0, le=3.0)
    tint: tuple[ChannelGain, ChannelGain, ChannelGain] = _SENSOR.tint
    flicker: float = Field(_SENSOR.flicker, ge=0.0, le=0.5)
    haze: float = Field(_SENSOR.haze, ge=0.0, le=1.0)
    haze_colour: ColourSpec = _SENSOR.haze_colour
    vignette: float = Field(_SENSOR.vignette, ge=0.0, le=1.0)
    light_pool: LightPoolSpec | None = None


def _mix_needs(crowd: CrowdSpec) -> dict[str, str]:
    """The anomaly types this crowd cannot show, with what they would need."""
    missing = {}
    if not any(route.one_way for route in crowd.routes):
        missing["wrong_way"] = "a one-way route (one_way: true under crowd.routes)"
    if not crowd.off_routes:
        missing["trespass"] = "an off-route (crowd.off_routes)"
    return missing


class DomainSpec(_Spec):
    """One camera as written in YAML (docs/synthetic.md lists every field and its range)."""

    name: str = Field(pattern=NAME_PATTERN)
    summary: str = Field("", max_length=200)
    scene: SceneSpec
    camera: CameraSpec
    crowd: CrowdSpec
    sensor: SensorSpec = SensorSpec()
    anomalies: dict[str, Weight] | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in (TI, "all"):
            raise ValueError(f"{value!r} is reserved (the 'ti' set and 'all' of vadbench synth)")
        return value

    @field_validator("anomalies", mode="before")
    @classmethod
    def _list_means_equal_weights(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        repeated = sorted({kind for kind in value if value.count(kind) > 1}, key=str)
        if repeated:
            raise ValueError(f"{repeated[0]!r} is listed more than once")
        return {kind: 1.0 for kind in value}

    @field_validator("anomalies")
    @classmethod
    def _known_and_possible(
        cls, value: dict[str, float] | None, info: ValidationInfo
    ) -> dict[str, float] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("name at least one anomaly type")
        for kind in value:
            if kind not in ANOMALY_TYPES:
                raise ValueError(
                    f"unknown anomaly type {kind!r}{did_you_mean(kind, ANOMALY_TYPES)} "
                    f"(types: {', '.join(ANOMALY_TYPES)})"
                )
        crowd = info.data.get("crowd")
        needs = _mix_needs(crowd) if isinstance(crowd, CrowdSpec) else {}
        for kind in value:
            if kind in needs:
                raise ValueError(f"{kind} needs {needs[kind]}; add one or leave {kind} out")
        return value

    def domain(self) -> Domain:
        """The renderer's frozen dataclass; the anomaly mix defaults to every type the routes
        allow, in ANOMALY_TYPES order so that the order written never matters."""
        mix = self.anomalies
        if mix is None:
            impossible = _mix_needs(self.crowd)
            mix = {kind: 1.0 for kind in ANOMALY_TYPES if kind not in impossible}
        scene, camera, crowd, sensor = self.scene, self.camera, self.crowd, self.sensor
        pool = sensor.light_pool
        return Domain(
            name=self.name,
            summary=self.summary,
            ground=scene.ground,
            mottle=scene.mottle,
            grain=scene.grain,
            tile_spacing=scene.tile_spacing,
            regions=tuple(Region(tuple(r.polygon), r.colour) for r in scene.regions),
            walkway=scene.walkway,
            clutter=scene.clutter.count,
            clutter_colours=tuple(scene.clutter.colours),
            clutter_zone=None if scene.clutter.zone is None else tuple(scene.clutter.zone),
            horizon=camera.horizon,
            near_height=camera.near_height,
            squash=camera.squash,
            density=crowd.density,
            routes=tuple(_route(r) for r in crowd.routes),
            off_routes=tuple(_route(r) for r in crowd.off_routes),
            sensor=Sensor(
                gain=sensor.gain,
                noise=sensor.noise,
                blur=sensor.blur,
                grayscale=sensor.grayscale,
                saturation=sensor.saturation,
                tint=sensor.tint,
                flicker=sensor.flicker,
                haze=sensor.haze,
                haze_colour=sensor.haze_colour,
                vignette=sensor.vignette,
                light_pool=None if pool is None else (pool.x, pool.y, pool.radius),
            ),
            anomalies=tuple((kind, mix[kind]) for kind in ANOMALY_TYPES if kind in mix),
        )


def _route(spec: RouteSpec) -> Route:
    return Route(tuple(spec.points), spec.half_width, spec.one_way, spec.weight)


# --- reading domains -------------------------------------------------------------------------


def parse_domain(raw: object, source: Path) -> Domain:
    """A domain from its parsed YAML; errors name ``source`` (a file, or INLINE) and the field."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{source.name}: expected a mapping of domain fields "
            f"({', '.join(DomainSpec.model_fields)}), not {type(raw).__name__}"
        )
    try:
        return DomainSpec.model_validate(dict(raw)).domain()
    except ValidationError as error:
        raise ConfigError(validation_message(source, error, model=DomainSpec)) from error


def read_domain_file(path: Path) -> Domain:
    """A domain from a YAML file; a missing file, malformed YAML or a bad field is a ConfigError
    naming the file."""
    if not path.is_file():
        where = "" if path.is_absolute() else f" (a relative path is read from {Path.cwd()})"
        raise ConfigError(f"{path}: no such domain file{where}")
    raw = load_yaml(path, "domain file")
    return parse_domain(raw, path)


@cache
def builtin_domains() -> dict[str, Domain]:
    """The seven built-in cameras, read from their package data files once per process."""
    return {name: read_domain_file(BUILTIN_FOLDER / f"{name}.yaml") for name in DOMAIN_NAMES}


def load_domain(value: str | Mapping[str, Any]) -> Domain:
    """The domain a dataset option names: a built-in's name, a path to a .yaml/.yml file
    (relative paths start in the current folder), or the domain's fields inline."""
    if isinstance(value, Mapping):
        return parse_domain(value, Path(INLINE))
    if value in DOMAIN_NAMES:
        return builtin_domains()[value]
    if value.endswith(DOMAIN_FILE_SUFFIXES):
        return read_domain_file(Path(value).expanduser())
    raise ConfigError(
        f"unknown domain {value!r}{did_you_mean(value, (*DOMAIN_NAMES, TI))} (built-in: "
        f"{', '.join(DOMAIN_NAMES)}, {TI}; or a path to a .yaml domain file, or a mapping)"
    )


def as_domain(domain: Domain | str) -> Domain:
    """The renderer's entry points take a Domain or a built-in's name."""
    return domain if isinstance(domain, Domain) else builtin_domains()[domain]


def is_builtin(domain: Domain) -> bool:
    return builtin_domains().get(domain.name) == domain


def domain_content(domain: Domain) -> dict[str, Any]:
    """Every value of the domain, JSON-ready: what a custom domain's hashes are made of."""
    content: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(domain)))
    return content


def domain_identity(domain: Domain | str) -> dict[str, Any]:
    """What names a domain in fingerprints and manifests: a built-in's (or TI's) name alone, so
    that stored hashes stay valid; a custom domain's name and full content, so that an edit
    makes a new hash."""
    if isinstance(domain, str) or is_builtin(domain):
        return {"domain": domain if isinstance(domain, str) else domain.name}
    return {"domain": domain.name, "domain_spec": domain_content(domain)}


def domain_digest(domain: Domain) -> str:
    """A short hash of a domain's content, for folder names."""
    text = json.dumps(domain_content(domain), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
