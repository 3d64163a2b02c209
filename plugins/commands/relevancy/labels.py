"""Label lists: the built-in TI class names and VAD anomaly names, or a user's file.

A label file holds one label per line; blank lines and lines starting with ``#`` are skipped, so
a file can say where its labels come from. Words inside a label are split at spaces, underscores,
hyphens and lower-to-upper case changes (``brush_hair``, ``RoadAccidents``, ``Thumb Up``) and
lower-cased, because the vectors are lower-case. The built-in files and their sources are in
``labels/README.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vadbench.sdk import ConfigError

LABEL_FOLDER = Path(__file__).parent / "labels"


@dataclass(frozen=True)
class Builtin:
    """A shipped label list: its file and the short name the paper's Fig. 4 gives it."""

    file: str
    title: str


TI_BUILTINS = {
    "hmdb51": Builtin("hmdb51.txt", "HMDB"),
    "ucf101": Builtin("ucf101.txt", "UCF101"),
    "jester": Builtin("jester.txt", "Jester"),
}
VAD_BUILTINS = {
    "sht": Builtin("sht.txt", "SHT"),
    "ped": Builtin("ped.txt", "Ped1/Ped2"),
    "ucfcrime": Builtin("ucfcrime.txt", "UCFC"),
    "avenue": Builtin("avenue.txt", "Ave"),
}

_SEPARATORS = re.compile(r"[^0-9A-Za-z']+")
_CASE_CHANGE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True)
class LabelSet:
    """The labels of one dataset, with where they were read from."""

    title: str
    source: Path
    labels: tuple[str, ...]


def words(label: str) -> list[str]:
    """The lower-case words of a label: ``"RoadAccidents"`` -> ``["road", "accidents"]``."""
    parts = [p for chunk in _SEPARATORS.split(label) for p in _CASE_CHANGE.split(chunk)]
    return [p.strip("'").lower() for p in parts if p.strip("'")]


def read_label_file(path: Path, title: str) -> LabelSet:
    """A label file, or a ConfigError naming it: missing, unreadable, not UTF-8, or no label
    (every error is exit 2 with the file's path, never a traceback)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: no such label file") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a UTF-8 text file of labels") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the label file ({error.strerror})") from error
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        label = line.strip()
        if not label or label.startswith("#"):
            continue
        if not words(label):
            raise ConfigError(f"{path}:{number}: label {label!r} has no letters or digits")
        labels.append(label)
    if not labels:
        raise ConfigError(f"{path}: no labels (one label per line; '#' lines are comments)")
    return LabelSet(title, path, tuple(labels))


def resolve(argument: str, builtins: dict[str, Builtin], side: str) -> LabelSet:
    """A ``--ti``/``--vad`` argument: an existing file wins, then a built-in name; anything else
    is an error listing the built-ins. A file's title is its name without the suffix."""
    path = Path(argument)
    if path.exists() or argument not in builtins:
        if not path.exists() and path.suffix == "" and path.parent == Path("."):
            known = ", ".join(builtins)
            raise ConfigError(
                f"--{side} {argument}: no such label file and no built-in {side.upper()} list "
                f"of that name (built-in: {known})"
            )
        return read_label_file(path, path.stem)
    builtin = builtins[argument]
    return read_label_file(LABEL_FOLDER / builtin.file, builtin.title)
