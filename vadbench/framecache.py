"""Decoded frames kept on disk, so each frame of a dataset is decoded once per machine.

Decoding a 640x360 JPEG and resizing it costs about a millisecond of one core, more than the
CPU preset of a small model spends on the frame. Training reads every frame many times (random
clips, epoch after epoch) and a matrix scores every target once per cell, so readers keep each
frame they decode, at the size the dataset asked for, in one raw file per video: reading it back
is a copy from the page cache.

Entries are filled lazily: a header, one "filled" byte per frame, then the frames as
(n, H, W, 3) uint8. A frame's bytes are written before its flag, with plain ``pwrite`` calls, so
a reader in any process sees a frame either as missing (and decodes it) or whole. An entry's name
is a hash of the source files' paths, sizes and modification times, the frame size and the
decoder's version: editing a file makes a new entry, never a stale read. The whole cache stays
under a budget (least recently used entries are deleted first) and under the free disk space.

``VADBENCH_FRAME_CACHE`` sets the budget (``20G``, ``500M``) or turns the cache off (``off``,
``0``); it lives in ``$VADBENCH_CACHE/frames`` (default ``~/.cache/vadbench/frames``). Any
failure of the cache (a full disk, a read-only home) falls back to decoding, with one warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vadbench.api import ConfigError, FrameReader

BUDGET_ENVIRONMENT = "VADBENCH_FRAME_CACHE"
CACHE_ENVIRONMENT = "VADBENCH_CACHE"
DEFAULT_BUDGET = 20 * 2**30
# Disk space every new entry leaves free, whatever the budget allows.
KEEP_FREE = 2 * 2**30
# Entry files kept open per process; each is one file descriptor.
OPEN_ENTRIES = 32
# How long a process trusts its own tally of the cache's size before listing the folder again
# (other processes add entries too).
RESCAN_AFTER_S = 60.0
FORMAT = b"VADBENCH-FRAMES-1\n"
HEADER_BYTES = 4096
SUFFIX = ".frames"

log = logging.getLogger(__name__)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


@runtime_checkable
class CacheableReader(Protocol):
    """A FrameReader that can say what decides its frames, so they can be cached."""

    def __call__(self, start: int, stop: int) -> np.ndarray: ...

    def source_files(self) -> Iterable[Path]:
        """The files the frames are decoded from, as absolute paths."""
        ...

    def decode_settings(self) -> Mapping[str, Any]:
        """Everything besides the files that changes the frames (size, decoder version)."""
        ...


def parse_budget(text: str) -> int:
    """``20G``, ``512M``, ``1.5g``, a number of bytes, or ``off``/``0`` (no cache) as bytes."""
    cleaned = text.strip().lower()
    if cleaned in {"off", "no", "false", "none", "0"}:
        return 0
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", cleaned)
    if match is None:
        raise ConfigError(
            f"{BUDGET_ENVIRONMENT}={text!r}: expected a size such as 20G or 500M, or off"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def cache_budget() -> int:
    """The budget in bytes that ``VADBENCH_FRAME_CACHE`` sets; 0 when the cache is off."""
    value = os.environ.get(BUDGET_ENVIRONMENT)
    return DEFAULT_BUDGET if value is None else parse_budget(value)


def cache_dir() -> Path:
    """``$VADBENCH_CACHE/frames`` when that variable is set, else ~/.cache/vadbench/frames."""
    root = os.environ.get(CACHE_ENVIRONMENT)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "vadbench"
    return base / "frames"


def cached(reader: FrameReader, num_frames: int) -> FrameReader:
    """``reader`` behind the frame cache, or unchanged when the cache is off or the platform
    has no positional file IO (``os.preadv``, Linux and macOS)."""
    if not isinstance(reader, CacheableReader) or not hasattr(os, "preadv"):
        return reader
    if num_frames == 0 or cache_budget() == 0:
        return reader
    return CachedFrames(reader, num_frames)


class CachedFrames:
    """A FrameReader that serves frames from the cache and decodes only the missing ones.

    Holds the wrapped reader and, once computed, the entry's key: it pickles into workers like
    the reader it wraps. Frames come back as fresh arrays, never views of the cache.
    """

    def __init__(self, reader: CacheableReader, num_frames: int) -> None:
        self.reader = reader
        self.num_frames = num_frames
        self._key: str | None = None

    def __call__(self, start: int, stop: int) -> np.ndarray:
        if not (0 <= start < stop <= self.num_frames and _entries.usable()):
            return self.reader(start, stop)
        try:
            key = self.key()
        except OSError:  # a source file is gone: the reader says which, as a DataError
            return self.reader(start, stop)
        for _ in range(2):
            try:
                return self._read_through(_entries.get(key, self.num_frames), start, stop)
            except _Closed:  # another thread closed the entry under us: open it again
                continue
            except OSError as error:
                _entries.disable(str(error))
                break
        return self.reader(start, stop)

    def key(self) -> str:
        """A hash of the source files (path, size, mtime), the frame count and the settings."""
        if self._key is None:
            files = []
            for path in self.reader.source_files():
                stat = path.stat()
                files.append([str(path), stat.st_size, stat.st_mtime_ns])
            payload = json.dumps(
                {
                    "frames": self.num_frames,
                    "settings": dict(self.reader.decode_settings()),
                    "files": files,
                },
                sort_keys=True,
                default=str,
            )
            self._key = hashlib.sha256(payload.encode()).hexdigest()[:32]
        return self._key

    def _read_through(self, entry: _Entry | None, start: int, stop: int) -> np.ndarray:
        if entry is None:  # first read: the frames decide the entry's shape
            frames = self.reader(start, stop)
            entry = _entries.create(self.key(), self.num_frames, frames.shape[1:])
            if entry is not None:
                entry.store(start, frames)
            return frames
        missing = entry.filled(start, stop) == 0
        if missing.all():
            frames = self.reader(start, stop)
            entry.store(start, frames)
            return frames
        for first, last in _runs(missing):
            entry.store(start + first, self.reader(start + first, start + last))
        _stats.add(hits=int(stop - start - missing.sum()))
        return entry.load(start, stop)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, stop) of each run of True in a bool vector."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


class _Closed(Exception):
    """The entry was closed by another thread (evicted from the open set) while in use."""


class _Entry:
    """One open cache file: positional reads and writes, safe across threads and processes."""

    def __init__(self, path: Path, descriptor: int, num_frames: int, shape: tuple[int, ...]):
        self.path = path
        self.num_frames = num_frames
        self.shape = shape
        self.frame_bytes = int(np.prod(shape))
        self.frames_offset = HEADER_BYTES + _round_up(num_frames, HEADER_BYTES)
        self._descriptor = descriptor
        self._lock = threading.Lock()

    def filled(self, start: int, stop: int) -> np.ndarray:
        with self._lock:
            data = os.pread(self._open(), stop - start, HEADER_BYTES + start)
        if len(data) != stop - start:
            raise OSError(f"{self.path}: ends inside its frame flags")
        return np.frombuffer(data, dtype=np.uint8)

    def load(self, start: int, stop: int) -> np.ndarray:
        frames = np.empty((stop - start, *self.shape), dtype=np.uint8)
        buffer, offset = memoryview(frames).cast("B"), self._frame_offset(start)
        with self._lock:
            descriptor, done = self._open(), 0
            while done < len(buffer):
                count = os.preadv(descriptor, [buffer[done:]], offset + done)
                if count == 0:
                    raise OSError(f"{self.path}: ends before frame {stop - 1}")
                done += count
        return frames

    def store(self, start: int, frames: np.ndarray) -> None:
        if frames.shape[1:] != self.shape or frames.dtype != np.uint8:
            raise OSError(f"{self.path}: frames of shape {frames.shape[1:]}, not {self.shape}")
        with self._lock:
            descriptor = self._open()
            _write_all(descriptor, np.ascontiguousarray(frames).data, self._frame_offset(start))
            _write_all(descriptor, b"\x01" * len(frames), HEADER_BYTES + start)
        _stats.add(stored=len(frames))

    def close(self) -> None:
        with self._lock:
            if self._descriptor >= 0:
                os.close(self._descriptor)
            self._descriptor = -1

    def _open(self) -> int:
        if self._descriptor < 0:
            raise _Closed
        return self._descriptor

    def _frame_offset(self, index: int) -> int:
        return self.frames_offset + index * self.frame_bytes


def _write_all(descriptor: int, data: Any, offset: int) -> None:
    view = memoryview(data).cast("B")
    while len(view):
        written = os.pwrite(descriptor, view, offset)
        view, offset = view[written:], offset + written


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _header(num_frames: int, shape: tuple[int, ...]) -> bytes:
    fields = json.dumps({"frames": num_frames, "shape": list(shape)}).encode()
    return (FORMAT + fields + b"\n").ljust(HEADER_BYTES, b"\0")


def _parse_header(data: bytes) -> tuple[int, tuple[int, ...]] | None:
    if not data.startswith(FORMAT):
        return None
    try:
        fields = json.loads(data[len(FORMAT) :].split(b"\n", 1)[0])
        return int(fields["frames"]), tuple(int(n) for n in fields["shape"])
    except (ValueError, KeyError, TypeError):
        return None


class _Entries:
    """The entries this process has open (bounded, least recently used closed first), and the
    budget bookkeeping for creating new ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[str, _Entry] = OrderedDict()
        self._tallies: dict[Path, tuple[int, float]] = {}  # folder: bytes, when listed
        self._broken: set[Path] = set()

    def get(self, key: str, num_frames: int) -> _Entry | None:
        """The entry ``key``, opened if needed; None when there is none yet."""
        with self._lock:
            if key in self._open:
                self._open.move_to_end(key)
                return self._open[key]
        path = cache_dir() / f"{key}{SUFFIX}"
        try:
            descriptor = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return None
        os.utime(descriptor)  # recency, for eviction
        entry = self._adopt(path, descriptor, num_frames)
        if entry is None:  # not an entry of this format: replaced on the next create
            path.unlink(missing_ok=True)
        return entry

    def create(self, key: str, num_frames: int, shape: tuple[int, ...]) -> _Entry | None:
        """A new, empty entry, or None when the budget or the disk has no room for it."""
        folder = cache_dir()
        size = HEADER_BYTES + _round_up(num_frames, HEADER_BYTES) + num_frames * int(np.prod(shape))
        folder.mkdir(parents=True, exist_ok=True)
        if not self._make_room(folder, size):
            return None
        path = folder / f"{key}{SUFFIX}"
        temporary = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}"
        descriptor = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(descriptor, _header(num_frames, shape), 0)
            os.ftruncate(descriptor, size)  # sparse: disk is used as frames arrive
            os.link(temporary, path)  # atomic, and never replaces another process's entry
        except FileExistsError:
            os.close(descriptor)
            return self.get(key, num_frames)
        except OSError:
            os.close(descriptor)
            raise
        finally:
            temporary.unlink(missing_ok=True)
        with self._lock:
            used, listed_at = self._tallies.get(folder, (0, 0.0))
            self._tallies[folder] = (used + size, listed_at)
        return self._adopt(path, descriptor, num_frames)

    def _adopt(self, path: Path, descriptor: int, num_frames: int) -> _Entry | None:
        parsed = _parse_header(os.pread(descriptor, HEADER_BYTES, 0))
        if parsed is None or parsed[0] != num_frames:
            os.close(descriptor)
            return None
        entry = _Entry(path, descriptor, num_frames, parsed[1])
        closed: list[_Entry] = []
        with self._lock:
            previous = self._open.pop(path.stem, None)
            if previous is not None:
                closed.append(previous)
            self._open[path.stem] = entry
            while len(self._open) > OPEN_ENTRIES:
                closed.append(self._open.popitem(last=False)[1])
        for old in closed:
            old.close()
        return entry

    def _make_room(self, folder: Path, size: int) -> bool:
        budget = cache_budget()
        if size > budget or shutil.disk_usage(folder).free - size < KEEP_FREE:
            return False
        with self._lock:
            used, listed_at = self._tallies.get(folder, (0, -RESCAN_AFTER_S))
        if time.monotonic() - listed_at < RESCAN_AFTER_S and used + size <= budget:
            return True
        entries = sorted(_listing(folder), key=lambda item: item[1])  # oldest first
        total = sum(item[2] for item in entries)
        for path, _, bytes_used in entries:
            if total + size <= budget:
                break
            path.unlink(missing_ok=True)  # open readers elsewhere keep their data
            total -= bytes_used
        with self._lock:
            self._tallies[folder] = (total, time.monotonic())
        return total + size <= budget

    def usable(self) -> bool:
        return cache_dir() not in self._broken

    def disable(self, reason: str) -> None:
        """Stop using the current cache folder in this process, with one warning."""
        folder = cache_dir()
        if folder not in self._broken:
            log.warning("frame cache %s not used: %s; decoding every read", folder, reason)
            self._broken.add(folder)

    def close_all(self) -> None:
        with self._lock:
            entries = list(self._open.values())
            self._open.clear()
        for entry in entries:
            entry.close()

    def forget(self) -> None:
        """After a fork: the child opens its own descriptors (the parent's stay the parent's)."""
        self._lock = threading.Lock()
        self._open = OrderedDict()


def _listing(folder: Path) -> list[tuple[Path, float, int]]:
    """(path, mtime, nominal size) of every entry in the cache folder."""
    found = []
    for path in folder.glob(f"*{SUFFIX}"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found.append((path, stat.st_mtime, stat.st_size))
    return found


@dataclass(frozen=True)
class CacheStats:
    """Frames this process served from the cache and stored into it."""

    hits: int
    stored: int


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits = 0
        self.stored = 0

    def add(self, hits: int = 0, stored: int = 0) -> None:
        with self._lock:
            self.hits += hits
            self.stored += stored

    def forget(self) -> None:
        self._lock = threading.Lock()


_entries = _Entries()
_stats = _Counter()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_entries.forget)
    os.register_at_fork(after_in_child=_stats.forget)


def cache_stats() -> CacheStats:
    return CacheStats(_stats.hits, _stats.stored)


@dataclass(frozen=True)
class CacheSummary:
    """What the cache folder holds: entries, the bytes they occupy on disk (frames stored so
    far) and the bytes they would occupy full, which is what the budget counts."""

    folder: Path
    budget: int
    entries: int
    bytes_on_disk: int
    bytes_when_full: int


def summarise_cache() -> CacheSummary:
    folder = cache_dir()
    entries = _listing(folder) if folder.is_dir() else []
    on_disk = 0
    for path, _, _ in entries:
        try:
            on_disk += path.stat().st_blocks * 512
        except (FileNotFoundError, AttributeError):
            continue
    full = sum(size for _, _, size in entries)
    return CacheSummary(folder, cache_budget(), len(entries), on_disk, full)


def clear_cache() -> int:
    """Delete every entry (processes reading one keep their open copy); the count deleted."""
    release_cache_files()
    folder = cache_dir()
    entries = _listing(folder) if folder.is_dir() else []
    for path, _, _ in entries:
        path.unlink(missing_ok=True)
    return len(entries)


def release_cache_files() -> None:
    """Close the entry files this process holds open (they reopen on the next read)."""
    _entries.close_all()
