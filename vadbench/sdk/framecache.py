"""Decoded frames kept on disk, so each frame of a dataset is decoded once per machine.

Decoding a 640x360 JPEG and resizing it to 256x256 costs about 0.9 ms of one core, a quarter of
what the zxVAD CPU preset spends on a frame. Training reads every frame many times (random
clips, epoch after epoch) and a matrix scores every target once per cell, so readers keep each
frame they decode, at the size the dataset asked for, in one raw file per video: reading it back
is a copy from the page cache.

An entry is a header, one "stored" byte and one checksum per frame, then the frames as
(n, H, W, 3) uint8, filled as frames are read (a long read that misses decodes ahead). A frame's
pixels and checksum are written before its flag, with plain ``pwrite`` calls, so a reader in any
process sees a frame either as missing (and decodes it) or whole; the checksum catches pixels
that never reached the disk before a machine crash. An entry's name is a hash of the source
files' paths, inodes, sizes and modification times, the frame size and the decoder's version:
editing a file makes a new entry, never a stale read. Entries are allocated whole when created,
and the folder's total is kept in a shared file under a lock, so that processes filling the
cache together stay within the budget (least recently used entries are deleted first) and leave
free disk space.

``VADBENCH_FRAME_CACHE`` sets the budget (``20G``, ``500M``) or turns the cache off (``off``,
``0``); it lives in ``$VADBENCH_CACHE/frames`` (default ``~/.cache/vadbench/frames``). Any
failure of the cache (a full disk, a read-only home) falls back to decoding, with one warning.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from vadbench.sdk.contracts import ConfigError, FrameReader
from vadbench.sdk.files import NO_FOLLOW, atomic_write_bytes, read_stored

try:
    import fcntl
except ImportError:  # Windows: no advisory locks nor positional reads; frames are decoded
    fcntl = None  # type: ignore[assignment]

BUDGET_ENVIRONMENT = "VADBENCH_FRAME_CACHE"
CACHE_ENVIRONMENT = "VADBENCH_CACHE"
DEFAULT_BUDGET = 20 * 2**30
# Disk space every new entry leaves free, whatever the budget allows.
KEEP_FREE = 2 * 2**30
# Entry files kept open per process; each is one file descriptor.
OPEN_ENTRIES = 32
# How long the shared total is trusted before the folder is listed again (entries deleted by
# hand are noticed then); also how often a read refreshes its entry's recency.
RESCAN_AFTER_S = 60.0
# Eviction makes room down to this share of the budget, so that it runs rarely.
EVICT_TO = 0.9
# A read of at least READ_AHEAD_FROM frames that misses the cache decodes on, over frames not
# stored yet, up to READ_AHEAD_FRAMES in all: a sequential reader's next reads then hit, and the
# decoders split one long read across cores instead of several short ones (640x360 H.264 to
# 64x64 on two cores: 3,100 frames/s in reads of 64, 4,000 in reads of 300). Random clips are
# shorter and never decode ahead. A read-ahead also takes the end of the video when fewer than
# half of READ_AHEAD_FRAMES would be left after it: read alone later, that tail would be too
# short to split across cores (a 44-frame tail of a 300-frame video took a fifth of its time).
READ_AHEAD_FROM = 32
READ_AHEAD_FRAMES = 256
FORMAT = b"VADBENCH-FRAMES-2\n"
HEADER_BYTES = 4096
SUFFIX = ".frames"
USAGE_FILE = ".usage"
LOCK_FILE = ".lock"

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
    lacks positional file IO or file locks (the cache runs on Linux and macOS)."""
    if not isinstance(reader, CacheableReader) or fcntl is None or not hasattr(os, "preadv"):
        return reader
    if num_frames == 0 or cache_budget() == 0:
        return reader
    return CachedFrames(reader, num_frames)


class CachedFrames:
    """A FrameReader that serves frames from the cache and decodes only the missing ones.

    Holds the wrapped reader and, once computed, the entry's key: it pickles into workers like
    the reader it wraps. Frames come back as fresh arrays, never views of the cache. Whatever
    goes wrong with the cache, the frames are decoded instead; the reader's own errors (a
    damaged file) pass through unchanged.
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
        if _entries.is_unfit(key):
            return self.reader(start, stop)
        entry = _attempt(_entries.get, key, self.num_frames)
        if isinstance(entry, _Failed):
            return self.reader(start, stop)
        if entry is None:  # the first read: its frames decide the entry's shape
            frames = self.reader(start, self._ahead(start, stop))
            created = _attempt(_entries.create, key, self.num_frames, frames.shape[1:])
            if isinstance(created, _Entry):
                _attempt(created.store, start, frames)
            return _first(frames, stop - start)
        return self._read_through(entry, start, stop)

    def _ahead(self, start: int, stop: int, entry: _Entry | None = None) -> int:
        """Where a read of ``start``..``stop`` that missed stops decoding: further on, over
        frames ``entry`` has not stored, for a read long enough to be sequential."""
        if stop - start < READ_AHEAD_FROM:
            return stop
        limit = min(self.num_frames, start + READ_AHEAD_FRAMES)
        if self.num_frames - limit < READ_AHEAD_FRAMES // 2:
            limit = self.num_frames
        if limit <= stop or entry is None:
            return max(stop, limit)
        missing = _attempt(entry.missing, stop, limit)
        if isinstance(missing, _Failed):
            return stop
        stored = np.flatnonzero(~missing)
        return stop + int(stored[0]) if len(stored) else limit

    def key(self) -> str:
        """A hash of the source files (path, inode, size, mtime), the frame count and the
        decode settings."""
        if self._key is None:
            files = []
            for path in self.reader.source_files():
                stat = path.stat()
                files.append([str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns])
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

    def _read_through(self, entry: _Entry, start: int, stop: int) -> np.ndarray:
        missing = _attempt(entry.missing, start, stop)
        if isinstance(missing, _Failed):
            return self.reader(start, stop)
        if missing.all():
            frames = self.reader(start, self._ahead(start, stop, entry))
            _attempt(entry.store, start, frames)
            return _first(frames, stop - start)
        for first, last in _runs(missing):
            decoded = self.reader(start + first, start + last)
            if isinstance(_attempt(entry.store, start + first, decoded), _Failed):
                return self.reader(start, stop)
        loaded = _attempt(entry.load, start, stop)
        if isinstance(loaded, _Failed):
            return self.reader(start, stop)
        frames, damaged = loaded
        for first, last in _runs(damaged):  # pixels lost in a crash: decode them again
            frames[first:last] = self.reader(start + first, start + last)
            _attempt(entry.store, start + first, frames[first:last])
        _stats.add(hits=int(stop - start - missing.sum() - damaged.sum()))
        return frames


def _first(frames: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` frames a read asked for, of those it decoded ahead: a copy, so that the
    caller does not keep the frames decoded ahead alive."""
    return frames if len(frames) == count else frames[:count].copy()


class _Failed:
    """What a cache operation returns when the cache had to step aside."""


FAILED = _Failed()
Result = TypeVar("Result")


def _attempt(operation: Callable[..., Result], *args: Any) -> Result | _Failed:
    """Run one cache operation. An entry closed meanwhile by another thread only skips the
    cache for this read; a video whose frames do not fit its entry is left uncached; any other
    failure of the cache folder (a full disk, no permission) turns it off for this process."""
    try:
        return operation(*args)
    except _Closed:
        return FAILED
    except _Unfit as unfit:
        _entries.mark_unfit(unfit.key)
        return FAILED
    except OSError as error:
        _entries.disable(str(error))
        return FAILED


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, stop) of each run of True in a bool vector."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _checksums(frames: np.ndarray) -> np.ndarray:
    """A 64-bit sum per frame: cheap, and different from the zeros of pixels never written
    (unless the frame is black, and then the zeros are right)."""
    flat = frames.reshape(len(frames), -1)
    whole = flat.shape[1] // 8 * 8
    sums = flat[:, :whole].view(np.uint64).sum(axis=1, dtype=np.uint64)
    return sums + flat[:, whole:].sum(axis=1, dtype=np.uint64)


class _Closed(Exception):
    """The entry was closed by another thread (evicted from the open set) while in use."""


class _Unfit(Exception):
    """Frames of another shape than the entry's (a frame folder of mixed native sizes)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _Entry:
    """One open cache file: positional reads and writes, safe across threads and processes.

    Every use of the descriptor holds the entry's lock, and closing takes it too, so a
    descriptor is never used after another thread closed it (nor, reused, for another file).
    """

    def __init__(self, path: Path, descriptor: int, num_frames: int, shape: tuple[int, ...]):
        self.path = path
        self.num_frames = num_frames
        self.shape = shape
        self.frame_bytes = int(np.prod(shape))
        self.sums_offset = HEADER_BYTES + _round_up(num_frames, HEADER_BYTES)
        self.frames_offset = self.sums_offset + _round_up(8 * num_frames, HEADER_BYTES)
        self._descriptor = descriptor
        self._lock = threading.Lock()
        self._touched = time.monotonic()

    def missing(self, start: int, stop: int) -> np.ndarray:
        """Which of frames ``start``..``stop`` are not stored yet."""
        flags = np.empty(stop - start, dtype=np.uint8)
        with self._lock:
            self._read_into(flags, HEADER_BYTES + start)
            self._touch()
        return flags == 0

    def load(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Stored frames, and which of them fail their checksum."""
        frames = np.empty((stop - start, *self.shape), dtype=np.uint8)
        sums = np.empty(stop - start, dtype=np.uint64)
        with self._lock:
            self._read_into(sums, self.sums_offset + 8 * start)
            self._read_into(frames, self._frame_offset(start))
        return frames, _checksums(frames) != sums

    def store(self, start: int, frames: np.ndarray) -> None:
        if frames.shape[1:] != self.shape or frames.dtype != np.uint8:
            raise _Unfit(self.path.stem)
        frames = np.ascontiguousarray(frames)
        with self._lock:
            descriptor = self._open()
            _write_all(descriptor, frames, self._frame_offset(start))
            _write_all(descriptor, _checksums(frames), self.sums_offset + 8 * start)
            _write_all(descriptor, np.ones(len(frames), np.uint8), HEADER_BYTES + start)
        _stats.add(stored=len(frames))

    def unlinked(self) -> bool:
        """True once the file was deleted (evicted by any process): stop filling it."""
        with self._lock:
            return os.fstat(self._open()).st_nlink == 0

    def close(self) -> None:
        with self._lock:
            if self._descriptor >= 0:
                os.close(self._descriptor)
            self._descriptor = -1

    def abandon(self) -> None:
        """In a forked child: close the inherited descriptor; no other thread exists there."""
        if self._descriptor >= 0:
            os.close(self._descriptor)
        self._descriptor = -1

    def _open(self) -> int:
        if self._descriptor < 0:
            raise _Closed
        return self._descriptor

    def _touch(self) -> None:
        """Mark the entry recently used (for eviction), at most once a minute."""
        now = time.monotonic()
        if now - self._touched > RESCAN_AFTER_S:
            os.utime(self._open())
            self._touched = now

    def _read_into(self, array: np.ndarray, offset: int) -> None:
        buffer, done, descriptor = array.data.cast("B"), 0, self._open()
        while done < len(buffer):
            count = os.preadv(descriptor, [buffer[done:]], offset + done)
            if count == 0:
                raise OSError(f"{self.path}: ends before byte {offset + len(buffer)}")
            done += count

    def _frame_offset(self, index: int) -> int:
        return self.frames_offset + index * self.frame_bytes


def _write_all(descriptor: int, array: np.ndarray, offset: int) -> None:
    view = array.data.cast("B")
    while len(view):
        written = os.pwrite(descriptor, view, offset)
        view, offset = view[written:], offset + written


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _entry_bytes(num_frames: int, shape: tuple[int, ...]) -> int:
    flags_and_sums = _round_up(num_frames, HEADER_BYTES) + _round_up(8 * num_frames, HEADER_BYTES)
    return HEADER_BYTES + flags_and_sums + num_frames * int(np.prod(shape))


def _header(num_frames: int, shape: tuple[int, ...]) -> np.ndarray:
    fields = json.dumps({"frames": num_frames, "shape": list(shape)}).encode()
    return np.frombuffer((FORMAT + fields + b"\n").ljust(HEADER_BYTES, b"\0"), dtype=np.uint8)


def _parse_header(data: bytes) -> tuple[int, tuple[int, ...]] | None:
    if not data.startswith(FORMAT):
        return None
    try:
        fields = json.loads(data[len(FORMAT) :].split(b"\n", 1)[0])
        return int(fields["frames"]), tuple(int(n) for n in fields["shape"])
    except (ValueError, KeyError, TypeError):
        return None


def _allocate(descriptor: int, size: int) -> None:
    """Reserve the entry's disk space now, so that filling it can never fill the disk; where
    the file system cannot reserve, the file is sparse and grows as frames arrive."""
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(descriptor, 0, size)
            return
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    os.ftruncate(descriptor, size)


class _NoRoom(Exception):
    """The budget or the disk has no room for a new entry."""


class _Entries:
    """The entries this process has open (bounded, least recently used closed first), and the
    shared bookkeeping that keeps every process's entries within the budget."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[str, _Entry] = OrderedDict()
        self._broken: set[Path] = set()
        self._unfit: set[str] = set()

    def get(self, key: str, num_frames: int) -> _Entry | None:
        """The entry ``key``, opened if needed; None when there is none (or it was deleted)."""
        with self._lock:
            entry = self._open.get(key)
            if entry is not None:
                self._open.move_to_end(key)
        if entry is not None:
            if not entry.unlinked():
                return entry
            self._drop(key)
        path = cache_dir() / f"{key}{SUFFIX}"
        try:
            descriptor = os.open(path, os.O_RDWR | NO_FOLLOW)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            path.unlink()  # a link under an entry's name is never followed: replaced on create
            return None
        try:
            os.utime(descriptor)  # recency, for eviction
            opened = self._adopt(path, descriptor, num_frames)
        except BaseException:
            os.close(descriptor)
            raise
        if opened is None:  # not an entry of this format: replaced on the next create
            path.unlink(missing_ok=True)
        return opened

    def create(self, key: str, num_frames: int, shape: tuple[int, ...]) -> _Entry | None:
        """A new, empty entry, or None when the budget or the disk has no room for it."""
        folder = cache_dir()
        size = _entry_bytes(num_frames, shape)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{key}{SUFFIX}"
        with _folder_lock(folder):
            try:
                self._make_room(folder, size)
            except _NoRoom:
                return None
            temporary = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}"
            temporary.unlink(missing_ok=True)  # a killed process's leftover, or a planted link
            descriptor = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                _write_all(descriptor, _header(num_frames, shape), 0)
                _allocate(descriptor, size)
                os.link(temporary, path)  # atomic, and never replaces another process's entry
            except FileExistsError:
                os.close(descriptor)
                return self.get(key, num_frames)
            except OSError as error:
                os.close(descriptor)
                if error.errno == errno.ENOSPC:
                    return None
                raise
            finally:
                temporary.unlink(missing_ok=True)
            _write_usage(folder, _read_usage(folder)[0] + size)
        try:
            return self._adopt(path, descriptor, num_frames)
        except BaseException:
            os.close(descriptor)
            raise

    def _make_room(self, folder: Path, size: int) -> None:
        """Within the folder lock: delete least recently used entries until ``size`` more
        bytes fit the budget, or raise _NoRoom."""
        budget = cache_budget()
        if size > budget:
            raise _NoRoom
        used, listed_at = _read_usage(folder)
        if used + size > budget or time.time() - listed_at > RESCAN_AFTER_S:
            listing = sorted(_listing(folder), key=lambda item: item.mtime)  # oldest first
            used = sum(item.size for item in listing)
            if used + size > budget:
                for item in listing:
                    if used + size <= EVICT_TO * budget:
                        break
                    item.path.unlink(missing_ok=True)  # readers elsewhere keep their copy
                    self._drop(item.path.stem)
                    used -= item.size
            _write_usage(folder, used, listed=True)
        if used + size > budget or shutil.disk_usage(folder).free - size < KEEP_FREE:
            raise _NoRoom

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

    def _drop(self, key: str) -> None:
        with self._lock:
            entry = self._open.pop(key, None)
        if entry is not None:
            entry.close()

    def usable(self) -> bool:
        return cache_dir() not in self._broken

    def disable(self, reason: str) -> None:
        """Stop using the current cache folder in this process, with one warning."""
        folder = cache_dir()
        if folder not in self._broken:
            log.warning("frame cache %s not used: %s; decoding every read", folder, reason)
            self._broken.add(folder)

    def is_unfit(self, key: str) -> bool:
        return key in self._unfit

    def mark_unfit(self, key: str) -> None:
        self._unfit.add(key)

    def close_all(self) -> None:
        with self._lock:
            entries = list(self._open.values())
            self._open.clear()
        for entry in entries:
            entry.close()

    def forget(self) -> None:
        """After a fork: close the parent's descriptors here (the parent keeps its own); the
        child opens entries anew."""
        for entry in self._open.values():
            entry.abandon()
        self._lock = threading.Lock()
        self._open = OrderedDict()


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Serialises creating and evicting entries across processes (an advisory file lock)."""
    if fcntl is None:  # no cache writes on such platforms; clearing needs no lock
        yield
        return
    try:  # never through a link: it could point anywhere
        descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise ConfigError(
            f"{folder / LOCK_FILE}: cannot open the frame cache's lock file ({error}); "
            "vadbench never opens it through a symbolic link"
        ) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _read_usage(folder: Path) -> tuple[int, float]:
    """The folder's total entry bytes as last written, and when it was last listed."""
    try:
        fields = json.loads(read_stored(folder / USAGE_FILE))
        return int(fields["bytes"]), float(fields["listed"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, 0.0


def _write_usage(folder: Path, used: int, listed: bool = False) -> None:
    listed_at = time.time() if listed else _read_usage(folder)[1]
    usage = {"bytes": used, "listed": listed_at}
    atomic_write_bytes(folder / USAGE_FILE, json.dumps(usage).encode())


@dataclass(frozen=True)
class _Listed:
    path: Path
    mtime: float
    size: int
    on_disk: int


def _listing(folder: Path) -> list[_Listed]:
    """Every entry in the cache folder, with its recency and sizes."""
    found = []
    with os.scandir(folder) as scan:
        for item in scan:
            if not item.name.endswith(SUFFIX) or item.name.startswith("."):
                continue
            try:
                stat = item.stat()
            except FileNotFoundError:
                continue
            on_disk = getattr(stat, "st_blocks", stat.st_size // 512) * 512
            found.append(_Listed(Path(item.path), stat.st_mtime, stat.st_size, on_disk))
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
    on_disk = sum(entry.on_disk for entry in entries)
    full = sum(entry.size for entry in entries)
    return CacheSummary(folder, cache_budget(), len(entries), on_disk, full)


def clear_cache() -> int:
    """Delete every entry (processes reading one keep their open copy); the count deleted."""
    release_cache_files()
    folder = cache_dir()
    if not folder.is_dir():
        return 0
    with _folder_lock(folder):
        entries = _listing(folder)
        for entry in entries:
            entry.path.unlink(missing_ok=True)
        _write_usage(folder, 0, listed=True)
    return len(entries)


def release_cache_files() -> None:
    """Close the entry files this process holds open (they reopen on the next read)."""
    _entries.close_all()
