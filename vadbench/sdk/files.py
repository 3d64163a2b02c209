"""Files that survive a kill: every write lands atomically (a temporary file beside the target,
flushed, then renamed over it), so a process killed at any point (SIGKILL included) leaves either
the old file or the new one, never half of one. Reads of what such writes stored say, with a
``DamagedResultWarning``, when a file cannot be read back, and count it as missing. Stored
files are read where they lie: a symbolic link planted in a run folder or a cache never leads a
read elsewhere (it reads as damaged, and the write that follows replaces the link).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO


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


# Where the platform has no O_NOFOLLOW, links are followed as before.
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


def open_stored(path: Path) -> BinaryIO:
    """``path`` opened to read, refusing a symbolic link with OSError (ELOOP)."""
    return os.fdopen(os.open(path, os.O_RDONLY | NO_FOLLOW), "rb")


def read_stored(path: Path) -> bytes:
    """A stored file's bytes, never read through a symbolic link (``open_stored``)."""
    with open_stored(path) as stream:
        return stream.read()


def why_unreadable(error: BaseException) -> str:
    """How a damage warning names what went wrong reading a stored file."""
    if isinstance(error, OSError) and error.errno == errno.ELOOP:
        return "a symbolic link; vadbench never reads a stored file through one"
    return f"{type(error).__name__}: {error}"


def read_record(path: Path, required: Sequence[str] = ()) -> dict[str, Any] | None:
    """A JSON object the store wrote, or None when it is absent or damaged (with a warning):
    unreadable, not an object, or lacking one of the ``required`` keys."""
    if not path.is_file():
        return None
    try:
        record = json.loads(read_stored(path))
    except (OSError, ValueError) as error:
        report_damaged(path, why_unreadable(error))
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
    """Never through a symbolic link (``open_stored``)."""
    digest = hashlib.sha256()
    with open_stored(path) as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# What ``folder_checksums`` lists for a symbolic link: never a file's digest, so a checkpoint
# file replaced by a link no longer matches its record.
LINK_CHECKSUM = "symbolic link"


def folder_checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by relative path: what a checkpoint is."""
    return {
        str(path.relative_to(folder)): LINK_CHECKSUM if path.is_symlink() else file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def remove_tree(path: Path) -> None:
    """Delete a folder; a symbolic link in its place is removed, never followed."""
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)
