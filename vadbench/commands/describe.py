"""``vadbench describe [KIND] NAME``: what one plugin is and which options it takes.

The options table is read from the plugin's pydantic options class (types, defaults, the
``Field`` bounds and descriptions), so it can never drift from what the matrix validation
accepts. ``describe_plugin`` returns plain data; ``render_description`` and ``description_json``
turn it into a terminal table or JSON.
"""

from __future__ import annotations

import argparse
import json
import types
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vadbench.commands.base import Command
from vadbench.harness.plugins import Registry
from vadbench.sdk.contracts import ConfigError, Options
from vadbench.sdk.validation import did_you_mean

KINDS = ("models", "datasets", "metrics", "reporters", "executors")

# What a plugin without a declared options class does with settings, by kind.
UNDECLARED_OPTIONS = {
    "metrics": "none declared; settings under metric_options.<name> reach it unchecked",
    "executors": "none declared; settings under executor_options reach it unchecked",
    "reporters": "no options",
}

# Constraint attributes of pydantic's field metadata (annotated_types objects and pydantic's
# own general metadata), with how the table shows them.
BOUND_LABELS = {
    "gt": ">",
    "ge": ">=",
    "lt": "<",
    "le": "<=",
    "multiple_of": "multiple of",
    "min_length": "min length",
    "max_length": "max length",
    "pattern": "matches",
}


@dataclass(frozen=True)
class OptionInfo:
    """One field of an options class, ready to show."""

    name: str
    type: str
    required: bool
    default: Any
    bounds: dict[str, Any]
    description: str

    def bounds_text(self) -> str:
        """The bounds as the table shows them: ``>= 1, <= 16``."""
        return ", ".join(f"{BOUND_LABELS[key]} {value}" for key, value in self.bounds.items())


@dataclass(frozen=True)
class Description:
    """What ``vadbench describe`` shows about one registered plugin.

    ``options`` is None for kinds that declare no options class; ``details`` holds the
    kind-specific facts (a dataset's layout, a model's version, a metric's kind).
    """

    kind: str
    name: str
    description: str
    origin: str
    source: str
    details: dict[str, Any] = field(default_factory=dict)
    options: tuple[OptionInfo, ...] | None = None
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)


def type_name(annotation: Any) -> str:
    """A readable type: ``tuple[int, int] | None``, and a Literal as its values ``a | b``."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return " | ".join(str(value) for value in args)
    if origin is Union or origin is types.UnionType:
        return " | ".join(type_name(arg) for arg in args)
    if origin is Annotated:
        return type_name(args[0])
    if origin is not None:
        inner = ", ".join("..." if arg is Ellipsis else type_name(arg) for arg in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " | ".join(str(member.value) for member in annotation)
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).removeprefix("typing.")


def field_bounds(info: FieldInfo) -> dict[str, Any]:
    """The Field constraints by their pydantic names: ``{"ge": 1, "le": 16}``."""
    bounds = {}
    for item in info.metadata:
        for attribute in BOUND_LABELS:
            value = getattr(item, attribute, None)
            if value is not None:
                bounds[attribute] = value
    return bounds


def describe_options(options: type[Options]) -> tuple[OptionInfo, ...]:
    """Every field of an options class, in declaration order."""
    described = []
    for name, info in options.model_fields.items():
        required = info.is_required()
        described.append(
            OptionInfo(
                name=name,
                type=type_name(info.annotation),
                required=required,
                default=None if required else info.get_default(call_default_factory=True),
                bounds=field_bounds(info),
                description=info.description or "",
            )
        )
    return tuple(described)


def find_plugin(registry: Registry, name: str, kind: str | None = None) -> tuple[str, Any]:
    """The (kind, spec) registered as ``name``; without a kind, every kind is searched."""
    if kind is not None:
        kind = _plural(kind)
        return kind, registry.catalog(kind).get(name)
    found = [kind for kind in KINDS if name in registry.catalog(kind).items]
    if len(found) > 1:
        kinds = ", ".join(kind.removesuffix("s") for kind in found)
        choices = " or ".join(f"'vadbench describe {kind} {name}'" for kind in found)
        raise ConfigError(f"{name!r} names more than one kind ({kinds}); say which: {choices}")
    if not found:
        known = [n for kind in KINDS for n in registry.catalog(kind).items]
        kinds = ", ".join(kind.removesuffix("s") for kind in KINDS[:-1])
        raise ConfigError(
            f"no {kinds} or {KINDS[-1].removesuffix('s')} is named {name!r}"
            + did_you_mean(name, known)
        )
    return found[0], registry.catalog(found[0]).items[name]


def _plural(kind: str) -> str:
    plural = kind if kind.endswith("s") else f"{kind}s"
    if plural not in KINDS:
        hint = did_you_mean(plural, KINDS)
        raise ConfigError(f"unknown kind {kind!r}{hint} (kinds: {', '.join(KINDS)})")
    return plural


def describe_plugin(registry: Registry, name: str, kind: str | None = None) -> Description:
    """Everything ``describe`` shows about the plugin registered as ``name``."""
    kind, spec = find_plugin(registry, name, kind)
    loaded = {plugin.name: plugin for plugin in registry.plugins}.get(spec.origin)
    source = ""
    if loaded is not None:
        source = f"{loaded.source} {loaded.version}".strip()
    details: dict[str, Any] = {}
    options = None
    presets: dict[str, dict[str, Any]] = {}
    if kind == "datasets":
        details["layout"] = spec.layout
        options = describe_options(spec.options)
    elif kind == "models":
        details["version"] = spec.version
        details["supports_adaptation"] = spec.supports_adaptation
        options = describe_options(spec.options)
        presets = {preset: dict(values) for preset, values in spec.presets.items()}
    elif kind == "metrics":
        details["metric_kind"] = spec.kind
    if kind in ("metrics", "executors") and spec.options is not None:
        options = describe_options(spec.options)
    return Description(
        kind=kind.removesuffix("s"),
        name=spec.name,
        description=spec.description,
        origin=spec.origin,
        source=source,
        details=details,
        options=options,
        presets=presets,
    )


def description_json(description: Description) -> str:
    """The description as JSON: defaults and preset values as the matrix would spell them."""
    data: dict[str, Any] = {
        "kind": description.kind,
        "name": description.name,
        "description": description.description,
        "plugin": description.origin,
        "source": description.source,
        **description.details,
        "options": None,
        "presets": to_jsonable_python(description.presets),
    }
    if description.options is not None:
        data["options"] = [
            {
                "name": option.name,
                "type": option.type,
                "required": option.required,
                "default": to_jsonable_python(option.default),
                "bounds": to_jsonable_python(option.bounds),
                "description": option.description,
            }
            for option in description.options
        ]
    return json.dumps(data, indent=2)


def show_value(value: Any) -> str:
    """A value as a matrix author writes it: strings and paths bare, the rest in JSON (which
    YAML reads too), so ``true``, ``null`` and ``[16, 16]`` rather than Python's spelling."""
    if isinstance(value, str | Path):
        return str(value)
    return json.dumps(to_jsonable_python(value), ensure_ascii=False)


def render_description(description: Description, console: Console) -> None:
    """The description on a terminal: a header, the options table and the presets table."""
    console.print(
        f"[bold]{description.kind} {escape(description.name)}[/]: {escape(description.description)}"
    )
    origin = escape(description.origin)
    if description.source:
        origin += f" ({escape(description.source)})"
    console.print(f"plugin: {origin}")
    labels = {
        "layout": "layout",
        "version": "version (part of the cell hash)",
        "supports_adaptation": "k-shot adaptation",
        "metric_kind": "metric kind",
    }
    for key, value in description.details.items():
        shown = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        console.print(f"{labels.get(key, key)}: {escape(shown)}")

    if description.options is None:
        note = UNDECLARED_OPTIONS.get(f"{description.kind}s", "no options")
        console.print(f"options: {escape(note)}")
    elif not description.options:
        console.print("options: none")
    else:
        table = Table(title="options", title_justify="left")
        for column in ("option", "type", "default", "bounds", "description"):
            table.add_column(column)
        for option in description.options:
            default = "(required)" if option.required else show_value(option.default)
            table.add_row(
                escape(option.name),
                escape(option.type),
                escape(default),
                escape(option.bounds_text()),
                escape(option.description),
            )
        console.print(table)
    if description.presets:
        console.print(_presets_table(description))


def _presets_table(description: Description) -> Table:
    """One row per option some preset sets, one column per preset; blank keeps the default."""
    order = [option.name for option in description.options or ()]
    named = {name for values in description.presets.values() for name in values}
    rows = [name for name in order if name in named] + sorted(named - set(order))
    table = Table(
        title="presets", title_justify="left", caption="blank: the option's default",
        caption_justify="left",
    )  # fmt: skip
    table.add_column("option")
    for preset in description.presets:
        table.add_column(escape(preset))
    for name in rows:
        cells = [
            escape(show_value(values[name])) if name in values else ""
            for values in description.presets.values()
        ]
        table.add_row(escape(name), *cells)
    if not rows:
        table.add_row("(no option set)", *("" for _ in description.presets))
    return table


def describe_command(
    registry: Registry, first: str, second: str | None, output_format: str, console: Console
) -> int:
    """``vadbench describe NAME`` or ``describe KIND NAME``: print the description as a table or
    JSON; exit code 0."""
    name, kind = (first, None) if second is None else (second, first)
    description = describe_plugin(registry, name, kind)
    if output_format == "json":
        print(description_json(description))
    else:
        render_description(description, console)
    return 0


class DescribeCommand(Command):
    name = "describe"
    help = "a plugin's options, defaults and presets"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "kind_or_name", metavar="[KIND] NAME", help="e.g. zxvad, or models zxvad if ambiguous"
        )
        parser.add_argument("name", nargs="?", help=argparse.SUPPRESS)
        parser.add_argument("--format", choices=("table", "json"), default="table")

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        return describe_command(registry, args.kind_or_name, args.name, args.format, console)
