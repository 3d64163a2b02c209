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


# Bounds every YAML text vadbench reads is checked against before a value is built from it:
# a matrix is a few kilobytes, so these leave room for any real one and none for a bomb.
MAX_YAML_BYTES = 1_000_000
MAX_YAML_VALUES = 100_000  # every value, an alias counted each time it is used
MAX_YAML_DEPTH = 64


def load_yaml(path: Path, what: str) -> Any:
    """A YAML file's content; unreadable text, malformed YAML, a key given twice or YAML past
    the bounds is a ConfigError naming the file (and the line, where YAML knows it)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the {what} ({error})") from error
    return parse_yaml(text, path.name)


def parse_yaml(text: str, where: str) -> Any:
    """YAML text as values, with the bounds checked on the parsed nodes before any value is
    built (so recursive or exponentially aliased YAML is refused without expanding it), and
    every failure a ConfigError that starts with ``where``."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{where}: {size:,} bytes of YAML; at most {MAX_YAML_BYTES:,} are read")
    try:
        loader = UniqueKeyLoader(text)  # reads the whole text: a control character fails here
    except yaml.YAMLError as error:
        raise ConfigError(f"{where}: malformed YAML: {one_line(error)}") from error
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(
                f"{where}: YAML nested too deeply (at most {MAX_YAML_DEPTH} levels)"
            ) from None
        if node is None:
            return None
        _check_bounds(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{where}:{line}: malformed YAML: {problem}") from error
    except ConfigError:
        raise
    except Exception as error:
        # PyYAML failing to build a value its tag names (``!!int abc``, an empty ``!!int``,
        # ``!!set`` where a key is expected): ValueError, IndexError, TypeError and the like
        raise ConfigError(f"{where}: malformed YAML: {one_line(error)}") from error
    finally:
        loader.dispose()


def _check_bounds(root: yaml.Node, where: str) -> None:
    """Refuse a node graph that is recursive (an alias inside its own anchor), deeper than
    ``MAX_YAML_DEPTH`` or larger than ``MAX_YAML_VALUES`` once every alias is expanded; walked
    without recursion and without building anything."""
    values = 0
    path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, leaving = stack.pop()
        if leaving:
            path.discard(id(node))
            continue
        if id(node) in path:
            raise ConfigError(f"{where}: a YAML alias refers to a value that contains it")
        values += 1
        if values > MAX_YAML_VALUES:
            raise ConfigError(
                f"{where}: YAML with more than {MAX_YAML_VALUES:,} values once its aliases are "
                "expanded; refused before expanding them"
            )
        if depth > MAX_YAML_DEPTH:
            raise ConfigError(f"{where}: YAML nested more than {MAX_YAML_DEPTH} levels deep")
        if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
            path.add(id(node))
            stack.append((node, depth, True))
            children = (
                node.value
                if isinstance(node, yaml.SequenceNode)
                else [part for pair in node.value for part in pair]
            )
            stack.extend((child, depth + 1, False) for child in children)


def one_line(error: BaseException) -> str:
    """An exception as the one line a user reads: a VadbenchError's message as it is, any other
    error's first line after its type."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first}" if not isinstance(error, VadbenchError) else first
