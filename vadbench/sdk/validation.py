"""Reading the files users write (YAML) and saying what is wrong with them: a key given twice
is an error, malformed YAML names the file and line, a validation error names the file and the
field with close matches suggested."""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from vadbench.sdk.contracts import ConfigError, VadbenchError


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A '; did you mean ...?' suffix naming the closest known names, or ''."""
    close = difflib.get_close_matches(name, list(known), n=3)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _format_location(file: Path, loc: Sequence[Any]) -> str:
    return f"{file.name}: {'.'.join(str(part) for part in loc) or '(top level)'}"


def _fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The field names valid at ``loc`` inside ``model`` (for suggestions), or []."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field_info = current.model_fields.get(str(part))
            if field_info is None:
                return []
            current = field_info.annotation
            continue
        candidates = [a for a in get_args(current) if a is not type(None)]
        if not candidates:
            return []
        current = candidates[-1]  # list[X] -> X, dict[str, X] -> X, X | None -> X
    while not (isinstance(current, type) and issubclass(current, BaseModel)):
        candidates = [a for a in get_args(current) if a is not type(None)]
        if not candidates:
            return []
        current = candidates[-1]
    return list(current.model_fields)


def validation_message(
    file: Path, error: ValidationError, prefix: Sequence[Any] = (), model: Any = None
) -> str:
    # An unknown field usually explains the missing one beside it (a misspelt key), so it goes
    # first.
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    location = _format_location(file, [*prefix, *first["loc"]])
    message = first["msg"]
    if first["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        known = _fields_at(model, first["loc"][:-1]) if model is not None else []
        message = "unknown field" + did_you_mean(str(first["loc"][-1]), known)
        if known and not did_you_mean(str(first["loc"][-1]), known):
            message += f" (fields: {', '.join(known)})"
    more = len(error.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{location}: {message}{tail}"


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (plain
    YAML keeps the last one silently, so a duplicated block would hide the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *anchor' merges are expanded by the base loader
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base loader refuses it with its own message
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears more than once in one mapping", mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path, what: str) -> Any:
    """A YAML file's content; unreadable text, malformed YAML or a key given twice is a
    ConfigError naming the file (and the line, where YAML knows it)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the {what} ({error})") from error
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path.name}:{where}: malformed YAML: {problem}") from error


def one_line(error: BaseException) -> str:
    """An exception as the one line a user reads: a VadbenchError's message as it is, any other
    error's first line after its type."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first}" if not isinstance(error, VadbenchError) else first
