"""Files that survive a kill: every write lands atomically (a temporary file beside the target,
flushed, then renamed over it), so a process killed at any point (SIGKILL included) leaves either
the old file or the new one, never half of one. Reads of what such writes stored say, with a
``DamagedResultWarning``, when a file cannot be read back, and count it as missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class DamagedResultWarning(UserWarning):
    """A stored result could not be read back; it is recomputed."""


def report_damaged(path: Path, why: str) -> None:
    """Warn that a stored file cannot be used, and that it counts as missing."""
    warnings.warn(
        f"{path} is damaged ({why}); it counts as missing, and a run computes it again",
        DamagedResultWarning,
        2,
    )


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: setting the umask to read it is not safe while other threads create files.
FILE_MODE = 0o666 & ~_process_umask()


# The suffix of the hidden temporary files writes go through (``atomic_write_bytes``).
TEMPORARY_SUFFIX = ".tmp"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename over ``path``.
    The file gets the permissions a plain ``open`` would give (a temporary file is private), so
    others can read results, reports and figures where the umask lets them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, default=str) + "\n").encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_record(path: Path, required: Sequence[str] = ()) -> dict[str, Any] | None:
    """A JSON object the store wrote, or None when it is absent or damaged (with a warning):
    unreadable, not an object, or lacking one of the ``required`` keys."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        report_damaged(path, f"{type(error).__name__}: {error}")
        return None
    if not isinstance(record, dict):
        report_damaged(path, f"expected a JSON object, found {type(record).__name__}")
        return None
    missing = [key for key in required if key not in record]
    if missing:
        report_damaged(path, f"no {', '.join(missing)}")
        return None
    return record


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by relative path: what a checkpoint is."""
    return {
        str(path.relative_to(folder)): file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
