"""Video files read through PyAV: the one decoding path every dataset plugin uses.

Datasets hold thousands of long videos, so nothing is decoded until a reader asks for frames,
and only the frames asked for (plus those between the nearest keyframe and them) are decoded.
Readers are small picklable objects (a path and a size); the decoders behind them live in a
bounded per-process pool, so iterating a dataset of any length keeps a constant number of files
open, and a reader that continues where its last call stopped (``Video.iter_clips``, overlapping
scoring chunks) resumes the open decoder instead of decoding from the start again.

Frame ``i`` is always the ``i``-th frame the decoder outputs from the start of the first video
stream. A jump elsewhere seeks to the keyframe before it, and it is only used when the file's
timestamps map one-to-one onto those frames (every video packet has a distinct timestamp and
there are exactly as many as frames); otherwise the reader decodes from the start, which is
slower but never off by a frame.

Frame counts come from the container (AVI header, MP4 sample table) when it states one, and from
decoding every frame when it does not or when asked to. A file that ends before its stated count
(truncated or corrupt) is a DataError naming the file and the frame index, never a short read.
"""

from __future__ import annotations

import io
import itertools
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from vadbench.sdk.contracts import ConfigError, DataError, MaskReader, Video
from vadbench.sdk.framecache import cached

VIDEO_SUFFIXES = frozenset(
    {".avi", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
)
IMAGE_CODECS = {
    ".jpg": "mjpeg",
    ".jpeg": "mjpeg",
    ".png": "png",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
}
REUSABLE_IMAGE_DECODERS = frozenset({"mjpeg"})
# Decoders that can output frames at 1/2, 1/4 or 1/8 of their size (FFmpeg's ``lowres``: the
# inverse DCT of JPEG and MPEG-1/2/4 done at the reduced size), with the largest factor each
# accepts. H.264 and newer codecs have no such mode.
LOWRES_CODECS = {
    "mjpeg": 3,
    "mpeg4": 3,
    "mpeg1video": 3,
    "mpeg2video": 3,
    "h263": 3,
    "msmpeg4v1": 3,
    "msmpeg4v2": 3,
    "msmpeg4v3": 3,
    "wmv1": 3,
    "wmv2": 3,
}
# A resize to a quarter of the width and height or less averages away what deblocking smooths.
LOOP_FILTER_SHRINK = 4
# The version of the rules above, which decide how finely frames are decoded: part of the frame
# cache's key, so frames decoded under other rules are never read back as these.
REDUCED_DECODING = 1
FrameCounting = Literal["metadata", "decode"]
# Threads that decode one read: the images of a frame folder, or the parts of a video.
MAX_IMAGE_THREADS = 8
THREADS_ENVIRONMENT = "VADBENCH_DECODE_THREADS"

# Decoders kept open per process. Eight covers one sequential reader per worker thread, each
# reading in parts on two cores, plus a random-access trainer revisiting a few videos; each
# holds at most RECENT_FRAMES frames.
OPEN_DECODERS = 8
# Containers whose index marks exactly the frames decoding can start at (MP4's sync samples,
# Matroska's key blocks). AVI's index flags are not to be trusted: MPEG-4 files with B-frames
# mark every anchor frame there, and a part started at one decodes from an earlier keyframe.
KEYFRAME_INDEXED_FORMATS = frozenset({"mov", "mp4", "m4a", "3gp", "matroska", "webm"})
# A read of at least twice this many frames is split at keyframes into parts decoded at once,
# one per core: on a second core H.264's frame threads decoded 12% more, two halves of a video
# decoded apart 75% more.
PARALLEL_PART_FRAMES = 16
# Frames kept after each read so the next, overlapping read (scoring chunks overlap by the
# model's context) needs no seek; larger than any model's context in vadbench.
RECENT_FRAMES = 16
# A read starting at most this many frames after the decoder's position decodes forward
# instead of seeking: cheaper than a seek followed by decoding a whole GOP.
FORWARD_WITHOUT_SEEK = 48
# Frame timestamps kept for seeking, over all files: 8 bytes each, so 32 MB at most, which
# holds every table of ShanghaiTech's 330 training videos (274,515 frames) at once.
TIMESTAMP_FRAMES = 4_000_000

_DECODE_ERRORS = (av.error.FFmpegError, OSError, ValueError)


def is_video_file(path: Path) -> bool:
    """A visible file with a known video suffix (``._clip.avi`` AppleDouble files are not)."""
    return not path.name.startswith(".") and path.suffix.lower() in VIDEO_SUFFIXES


def _open_container(path: Path) -> Any:
    try:
        container = av.open(str(path), mode="r")
    except _DECODE_ERRORS as error:
        raise DataError(f"{path}: cannot open video ({error})") from error
    if not container.streams.video:
        container.close()
        raise DataError(f"{path}: the file holds no video stream")
    return container


def count_frames(path: Path, method: FrameCounting = "metadata") -> int:
    """Number of frames of the first video stream.

    ``metadata`` trusts the count the container states and decodes only when it states none
    (MKV, WebM); a file shorter than its stated count is caught when read. ``decode`` decodes
    every frame: exact, and the remedy for files whose header is wrong.
    """
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        if method == "metadata" and stream.frames > 0:
            return int(stream.frames)
        decoded = 0
        try:
            for _ in container.decode(stream):
                decoded += 1
        except _DECODE_ERRORS as error:
            raise DataError(f"{path}: frame {decoded} cannot be decoded ({error})") from error
    finally:
        container.close()
    if decoded == 0:
        raise DataError(f"{path}: no frame could be decoded")
    return decoded


def video_frame_rate(path: Path) -> float | None:
    """The frames per second the file states for its first video stream, if any."""
    container = _open_container(path)
    try:
        rate = container.streams.video[0].average_rate
        return float(rate) if rate else None
    finally:
        container.close()


class _FrameTimestamps:
    """Presentation timestamps of every frame, in frame order, and the indices of the keyframes
    (where decoding can start without any earlier frame); built by demuxing (no decoding)."""

    def __init__(self, pts: np.ndarray, keyframes: np.ndarray) -> None:
        self.pts = pts
        self.keyframes = keyframes

    def index_of(self, pts: int | None) -> int | None:
        if pts is None:
            return None
        position = int(np.searchsorted(self.pts, pts))
        if position < len(self.pts) and self.pts[position] == pts:
            return position
        return None


def _read_timestamps(path: Path, num_frames: int) -> _FrameTimestamps | None:
    """The file's frame timestamps, or None when they cannot identify frames one-to-one."""
    try:
        container = av.open(str(path), mode="r")
    except _DECODE_ERRORS:
        return None
    try:
        trusted = bool(KEYFRAME_INDEXED_FORMATS & set(container.format.name.split(",")))
        stream = container.streams.video[0]
        packets = [
            (packet.pts, packet.is_keyframe)
            for packet in container.demux(stream)
            if packet.size > 0 and packet.pts is not None and not packet.is_discard
        ]
    except _DECODE_ERRORS:
        return None
    finally:
        container.close()
    stamps = np.asarray([pts for pts, _ in packets], dtype=np.int64)
    pts = np.unique(stamps)
    if len(pts) != len(stamps) or len(pts) != num_frames:
        return None
    flags = np.asarray([keyframe and trusted for _, keyframe in packets], dtype=bool)
    return _FrameTimestamps(pts, np.searchsorted(pts, stamps[flags]))


class _Decoder:
    """An open file positioned somewhere in its stream, with the last frames it converted."""

    def __init__(self, path: Path, size: tuple[int, int] | None, num_frames: int) -> None:
        self.path = path
        self.size = size
        self.num_frames = num_frames
        self.lock = threading.Lock()
        self._container: Any = None
        self._stream: Any = None
        self._frames: Iterator[Any] | None = None
        self._peeked: Any = None
        self._next = 0
        self._recent: deque[np.ndarray] = deque(maxlen=RECENT_FRAMES)
        self._timestamps: _FrameTimestamps | None = None
        self._seekable = True
        self._positioned_by_seek = False
        self._reformatter = VideoReformatter()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._stream = self._frames = self._peeked = None
        self._recent.clear()

    def forward_cost(self, start: int) -> int | None:
        """Frames this decoder would decode before ``start`` without seeking; None: it seeks."""
        if self._frames is None:
            return None
        if self._next - len(self._recent) <= start <= self._next:
            return 0
        ahead = start - self._next
        return ahead if 0 < ahead <= FORWARD_WITHOUT_SEEK else None

    def read(self, start: int, stop: int, at_keyframe: bool = False) -> np.ndarray:
        """Frames ``start``..``stop``; ``at_keyframe``: ``start`` is a keyframe, so a seek to it
        wastes nothing and beats decoding forward to it."""
        cost = self.forward_cost(start)
        if cost is None or (at_keyframe and cost > 0):
            self._position_at_or_before(start)
        first_recent = self._next - len(self._recent)
        frames = [
            self._recent[index - first_recent] for index in range(start, min(stop, self._next))
        ]
        while self._next < stop:
            frame = self._pull()
            index = self._next
            self._next += 1
            if index < start:  # decoded only to reach ``start``: never converted
                self._recent.clear()
                continue
            converted = self._convert(frame, index)
            self._recent.append(converted)
            frames.append(converted)
        return np.stack(frames)

    def _position_at_or_before(self, start: int) -> None:
        """Leave the decoder at a frame index <= start: by a keyframe seek, else from frame 0."""
        self._recent.clear()
        if start == 0 or not self._seekable:
            self._restart()
            return
        if self._timestamps is None:
            self._timestamps = _timestamp_tables.get(self.path, self.num_frames)
        if self._timestamps is None:
            self._seekable = False
            self._restart()
            return
        for target in (start, start - RECENT_FRAMES, start - 4 * RECENT_FRAMES):
            if target <= 0:  # nothing earlier to seek to: decoding from the start is as cheap
                self._restart()
                return
            landed = self._seek(target)
            if landed is not None and landed[1] <= start:
                self._peeked, self._next = landed
                self._positioned_by_seek = True
                return
        self._seekable = False  # the keyframe index misleads: read this file sequentially
        self._restart()

    def _seek(self, target: int) -> tuple[Any, int] | None:
        """Seek to the keyframe before frame ``target``; the first frame decoded there, indexed."""
        assert self._timestamps is not None
        self._ensure_open()
        try:
            self._container.seek(
                int(self._timestamps.pts[target]), stream=self._stream, backward=True
            )
            self._frames = self._container.decode(self._stream)
            landed = next(self._frames, None)
        except _DECODE_ERRORS:
            return None
        if landed is not None:
            _counter.add(1)
        index = self._timestamps.index_of(landed.pts) if landed is not None else None
        return None if index is None else (landed, index)

    def _restart(self) -> None:
        self.close()
        self._ensure_open()
        self._frames = self._container.decode(self._stream)
        self._next = 0
        self._positioned_by_seek = False

    def _ensure_open(self) -> None:
        if self._container is None:
            self._container = _open_container(self.path)
            self._stream = self._container.streams.video[0]
            _configure_video_decoder(self._stream.codec_context, self.size)

    def _pull(self) -> Any:
        """The next decoded frame; checks that a frame reached by seeking is the expected one."""
        index = self._next
        if self._peeked is not None:
            frame, self._peeked = self._peeked, None
            return frame
        assert self._frames is not None
        try:
            frame = next(self._frames, None)
        except _DECODE_ERRORS as error:
            self.close()
            raise DataError(f"{self.path}: frame {index} cannot be decoded ({error})") from error
        if frame is None:
            self.close()
            raise DataError(
                f"{self.path}: frame {index} cannot be decoded: the stream ends there, although "
                f"{self.num_frames} frames were counted (a truncated or corrupt file; "
                "frame_count: decode counts the decodable frames instead)"
            )
        _counter.add(1)
        if self._positioned_by_seek:
            assert self._timestamps is not None
            if self._timestamps.index_of(frame.pts) != index:
                self._seekable = False
                raise _LostTrack
        return frame

    def _convert(self, frame: Any, index: int) -> np.ndarray:
        try:
            return _to_rgb(frame, self.size, self._reformatter)
        except _DECODE_ERRORS as error:
            raise DataError(f"{self.path}: frame {index} cannot be converted ({error})") from error


def _to_rgb(frame: Any, size: tuple[int, int] | None, reformatter: VideoReformatter) -> np.ndarray:
    """A decoded frame as (H, W, 3) uint8 RGB, resized bilinearly by FFmpeg's scaler in the
    same pass as the colour conversion. The reformatter keeps the scaler between frames of one
    size and format: set up anew for every frame, it costs as much as decoding one. One thread
    per scaler: frames are converted in parallel already, and a scaler's own thread pool would
    hang a forked data-loader worker that converts with a scaler of its own."""
    if size is None:
        return np.asarray(reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray())
    height, width = size
    converted = reformatter.reformat(
        frame, format="rgb24", width=width, height=height, interpolation="BILINEAR", threads=1
    )
    return np.asarray(converted.to_ndarray())


def lowres_factor(codec: str, native: tuple[int, int], size: tuple[int, int] | None) -> int:
    """How many halvings the decoder may apply before the resize to ``size``: the most that
    keeps both sides at least as large as ``size`` asks (the scaler then only shrinks), within
    what the codec supports; 0 at the native size or for codecs without reduced-size decoding."""
    if size is None:
        return 0
    halvings = 0
    while (
        halvings < LOWRES_CODECS.get(codec, 0)
        and native[0] >> (halvings + 1) >= size[0]
        and native[1] >> (halvings + 1) >= size[1]
    ):
        halvings += 1
    return halvings


def _configure_video_decoder(context: Any, size: tuple[int, int] | None) -> None:
    """Decode no finer than ``size`` needs, on one thread.

    Codecs with reduced-size decoding output the frame halved as often as ``size`` allows.
    Codecs without it (H.264, HEVC) skip their deblocking filter when ``size`` shrinks the frame
    at least LOOP_FILTER_SHRINK times both ways: the filter smooths block edges that such a
    shrink averages away (on 640x360 H.264 resized to 64x64 the frames differ by 0.16 grey
    levels on average, 2 at the 99th percentile), and it is a fifth of the decoding time.
    Cores are used by decoding the parts of a long read at once, each with its own decoder
    (``VideoFileReader``): on two cores that decoded 640x360 H.264 to 64x64 at 1.1-1.3x the
    rate of one decoder with two frame threads, MPEG-4 at 1.0-1.2x.
    """
    native = (context.height, context.width)
    halvings = lowres_factor(context.name, native, size)
    if halvings:
        context.options = {**context.options, "lowres": str(halvings)}
    elif size is not None and all(
        n >= LOOP_FILTER_SHRINK * s for n, s in zip(native, size, strict=True)
    ):
        context.options = {**context.options, "skip_loop_filter": "all"}
    context.thread_count = 1


class _LostTrack(Exception):
    """A frame reached after a seek is not the one expected: re-read from the start."""


class _TimestampTables:
    """Per-file frame timestamps, bounded by their total frames, least recently used out: a
    seek needs them, a sequential read never does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: OrderedDict[Path, _FrameTimestamps | None] = OrderedDict()
        self._frames = 0

    def get(self, path: Path, num_frames: int) -> _FrameTimestamps | None:
        with self._lock:
            if path in self._tables:
                self._tables.move_to_end(path)
                return self._tables[path]
        table = _read_timestamps(path, num_frames)
        with self._lock:
            if path not in self._tables:
                self._tables[path] = table
                self._frames += _size(table)
            while self._frames > TIMESTAMP_FRAMES and len(self._tables) > 1:
                self._frames -= _size(self._tables.popitem(last=False)[1])
        return table

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()
            self._frames = 0

    def forget(self) -> None:
        self._lock = threading.Lock()
        self._tables = OrderedDict()
        self._frames = 0


def _size(table: _FrameTimestamps | None) -> int:
    return 0 if table is None else len(table.pts)


class _DecodeCounter:
    """Frames decoded by readers in this process: what a read really cost, for benchmarks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames = 0

    def add(self, frames: int) -> None:
        with self._lock:
            self.frames += frames

    def forget(self) -> None:
        self._lock = threading.Lock()


class _DecoderPool:
    """The decoders open in this process, least recently used closed first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decoders: OrderedDict[tuple[Path, tuple[int, int] | None, int, int], _Decoder] = (
            OrderedDict()
        )
        self._inherited: list[_Decoder] = []

    def get(
        self, path: Path, size: tuple[int, int] | None, num_frames: int, slot: int = 0
    ) -> _Decoder:
        """The decoder ``slot`` of a file: a read split into parts decodes each with its own."""
        key = (path, size, num_frames, slot)
        evicted: list[_Decoder] = []
        with self._lock:
            decoder = self._decoders.get(key)
            if decoder is None:
                decoder = self._decoders[key] = _Decoder(path, size, num_frames)
            self._decoders.move_to_end(key)
            while len(self._decoders) > OPEN_DECODERS:
                evicted.append(self._decoders.popitem(last=False)[1])
        for old in evicted:
            with old.lock:
                old.close()
        return decoder

    def open_slots(
        self, path: Path, size: tuple[int, int] | None, num_frames: int
    ) -> dict[int, _Decoder]:
        """The decoders this process holds for a file, by slot; none is created."""
        with self._lock:
            return {
                slot: decoder
                for (p, s, n, slot), decoder in self._decoders.items()
                if (p, s, n) == (path, size, num_frames)
            }

    def __len__(self) -> int:
        return len(self._decoders)

    def close_all(self) -> None:
        with self._lock:
            decoders = list(self._decoders.values())
            self._decoders.clear()
        for decoder in decoders:
            with decoder.lock:
                decoder.close()

    def forget(self) -> None:
        """After a fork: the child must not share the parent's file positions, nor free the
        parent's decoders, whose codec threads do not exist in the child (freeing one would
        wait for them forever). They are kept, unused, for the life of the child."""
        self._inherited.extend(self._decoders.values())
        self._lock = threading.Lock()
        self._decoders = OrderedDict()


class _ImageDecoders:
    """FFmpeg image decoders, one per codec and thread (a decoder is not thread-safe), and the
    threads that decode the images of one read in parallel."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._threads: ThreadPoolExecutor | None = None

    def decoder(self, codec: str, halvings: int) -> Any:
        """A decoder for one image, at 1/2**halvings of its size. Only MJPEG's is reused: it
        resets on every JPEG, whereas the PNG decoder, built for animated PNG, carries state
        from one image to the next."""
        decoders = self._local.__dict__.setdefault("decoders", {})
        if (codec, halvings) in decoders:
            return decoders[codec, halvings]
        context = av.CodecContext.create(codec, "r")
        context.thread_count = 1  # parallel across images instead, by ``threads``
        options = {"err_detect": "explode"}  # a truncated image fails, never greys
        if halvings:
            options["lowres"] = str(halvings)
        context.options = options
        if codec in REUSABLE_IMAGE_DECODERS:
            decoders[codec, halvings] = context
        return context

    def reformatter(self) -> VideoReformatter:
        """This thread's scaler (a scaler is not thread-safe)."""
        local = self._local.__dict__
        if "reformatter" not in local:
            local["reformatter"] = VideoReformatter()
        return local["reformatter"]

    def discard(self, codec: str, halvings: int) -> None:
        """Drop this thread's decoder of ``codec`` after an error, whatever state it is in."""
        self._local.__dict__.get("decoders", {}).pop((codec, halvings), None)

    def threads(self) -> ThreadPoolExecutor | None:
        """The decoding threads: ``VADBENCH_DECODE_THREADS``, else one per core this process
        may use (at most MAX_IMAGE_THREADS); none where that is one."""
        with self._lock:
            if self._threads is None:
                count = _decode_threads()
                if count < 2:
                    return None
                self._threads = ThreadPoolExecutor(count, thread_name_prefix="vadbench-decode")
            return self._threads

    def forget(self) -> None:
        """After a fork: the parent's threads do not exist in the child, nor do its decoders'."""
        self._local = threading.local()
        self._lock = threading.Lock()
        self._threads = None


def _decode_threads() -> int:
    value = os.environ.get(THREADS_ENVIRONMENT)
    if value is not None:
        if not value.strip().isdigit() or int(value) < 1:
            raise ConfigError(f"{THREADS_ENVIRONMENT}={value!r}: expected a whole number >= 1")
        return int(value)
    if hasattr(os, "sched_getaffinity"):
        return min(MAX_IMAGE_THREADS, len(os.sched_getaffinity(0)))
    return min(MAX_IMAGE_THREADS, os.cpu_count() or 1)


_pool = _DecoderPool()
_timestamp_tables = _TimestampTables()
_counter = _DecodeCounter()
_images = _ImageDecoders()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.forget)
    os.register_at_fork(after_in_child=_timestamp_tables.forget)
    os.register_at_fork(after_in_child=_counter.forget)
    os.register_at_fork(after_in_child=_images.forget)


@dataclass(frozen=True)
class DecodeStats:
    """How much decoding readers did in this process, and how many files they hold open."""

    frames_decoded: int
    open_decoders: int


def decode_stats() -> DecodeStats:
    return DecodeStats(_counter.frames, len(_pool))


def release_decoders() -> None:
    """Close every decoder this process holds open and forget the frame timestamps read from
    files: the next read opens its file as a reader new to it does."""
    _pool.close_all()
    _timestamp_tables.clear()


class VideoFileReader:
    """Reads frames ``start``..``stop`` of one video file as (n, H, W, 3) uint8 RGB.

    Holds only the path, size and frame count, so it pickles into data-loader workers; the open
    decoder lives in the process-wide pool. ``size`` is (height, width) for a bilinear resize
    done by the decoder's scaler in the same pass as the colour conversion.
    """

    def __init__(self, path: Path, num_frames: int, size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        self.num_frames = num_frames
        self.size = size

    def __call__(self, start: int, stop: int) -> np.ndarray:
        if not 0 <= start < stop <= self.num_frames:
            if start == stop and 0 <= start <= self.num_frames:
                height, width = self.size or self._native_size()
                return np.empty((0, height, width, 3), dtype=np.uint8)
            raise IndexError(f"{self.path}: frames {start}:{stop} of {self.num_frames}")
        parts = self._parts(start, stop)
        # The first part may start mid-GOP: it goes to the decoder that reaches it cheapest
        # (where the last read of a sequential reader left one); the others start at keyframes.
        open_decoders = _pool.open_slots(self.path, self.size, self.num_frames)
        candidates = sorted({*open_decoders, *range(len(parts))})
        costs = {slot: decoder.forward_cost(start) for slot, decoder in open_decoders.items()}
        first = min(candidates, key=lambda s: (costs.get(s) is None, costs.get(s) or 0, s))
        slots = [first, *(s for s in candidates if s != first)]
        jobs = [
            (slot, begin, end, index > 0)
            for index, (slot, (begin, end)) in enumerate(zip(slots, parts, strict=False))
        ]
        threads = _images.threads()
        if len(jobs) == 1 or threads is None:
            return self._read_part(*jobs[0])
        return np.concatenate(list(threads.map(lambda job: self._read_part(*job), jobs)))

    def _parts(self, start: int, stop: int) -> list[tuple[int, int]]:
        """``start``..``stop`` split at keyframes near equal shares, one per decode thread; one
        part when the read is short, the file has one thread or no usable keyframe index."""
        count = _decode_threads()
        if count < 2 or stop - start < 2 * PARALLEL_PART_FRAMES:
            return [(start, stop)]
        table = _timestamp_tables.get(self.path, self.num_frames)
        if table is None:
            return [(start, stop)]
        bounds = [start]
        for share in range(1, count):
            ideal = start + (stop - start) * share // count
            near = np.searchsorted(table.keyframes, ideal)
            candidates = table.keyframes[max(near - 1, 0) : near + 1]
            if not len(candidates):
                continue
            split = int(candidates[np.argmin(np.abs(candidates - ideal))])
            if bounds[-1] + PARALLEL_PART_FRAMES <= split <= stop - PARALLEL_PART_FRAMES:
                bounds.append(split)
        bounds.append(stop)
        return list(itertools.pairwise(bounds))

    def _read_part(self, slot: int, start: int, stop: int, at_keyframe: bool) -> np.ndarray:
        decoder = _pool.get(self.path, self.size, self.num_frames, slot)
        with decoder.lock:
            try:
                return decoder.read(start, stop, at_keyframe)
            except _LostTrack:
                decoder.close()
                return decoder.read(start, stop, at_keyframe)

    def source_files(self) -> list[Path]:
        return [self.path.absolute()]

    def decode_settings(self) -> dict[str, Any]:
        return {
            "reader": "pyav",
            "size": self.size,
            "pyav": av.__version__,
            "reduced": REDUCED_DECODING,
        }

    def _native_size(self) -> tuple[int, int]:
        container = _open_container(self.path)
        try:
            context = container.streams.video[0].codec_context
            return int(context.height), int(context.width)
        finally:
            container.close()


def video_from_file(
    path: Path,
    video_id: str,
    *,
    size: tuple[int, int] | None = None,
    labels: np.ndarray | None = None,
    read_mask: MaskReader | None = None,
    frame_count: FrameCounting = "metadata",
    num_frames: int | None = None,
) -> Video:
    """A Video over one file: counts its frames now unless ``num_frames`` already did (cheap
    with metadata), and decodes on demand."""
    if num_frames is None:
        num_frames = count_frames(path, frame_count)
    if labels is not None and len(labels) != num_frames:
        raise DataError(f"{path}: {len(labels)} frame labels for {num_frames} frames")
    reader = cached(VideoFileReader(path, num_frames, size), num_frames)
    return Video(
        id=video_id, num_frames=num_frames, read_frames=reader, labels=labels, read_mask=read_mask
    )


def is_image_file(path: Path) -> bool:
    """A visible file with a frame-image suffix (``._001.jpg`` AppleDouble files are not)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_CODECS


def decode_image(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image file as (H, W, 3) uint8 RGB, resized by the scaler video frames go through.

    FFmpeg decodes it (Pillow's libjpeg-turbo decode and resize take 1.6x as long on JPEG
    frames). An image FFmpeg refuses (damaged, or a variant it lacks) goes to Pillow, which
    decodes what it can, scaled the same way, and names the file when it cannot either.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read frame ({error})") from error
    codec = IMAGE_CODECS.get(path.suffix.lower())
    frame = None
    if codec is not None:
        halvings = _image_lowres(codec, data, size)
        try:
            decoded = _images.decoder(codec, halvings).decode(av.Packet(data))
            frame = decoded[-1] if decoded else None
        except _DECODE_ERRORS:
            _images.discard(codec, halvings)
    if frame is None:
        frame = _decode_with_pillow(path, data)
    _counter.add(1)
    try:
        return _to_rgb(frame, size, _images.reformatter())
    except _DECODE_ERRORS as error:
        raise DataError(f"{path}: cannot convert frame ({error})") from error


def _image_lowres(codec: str, data: bytes, size: tuple[int, int] | None) -> int:
    """The halvings the decoder may apply to one image, from the size its JPEG header states;
    0 where the header cannot be read (the decoder then says why)."""
    if size is None or codec not in LOWRES_CODECS:
        return 0
    native = jpeg_size(data)
    return 0 if native is None else lowres_factor(codec, native, size)


# JPEG markers of the frame headers that state the image size (SOF0-SOF15, less DHT, JPG, DAC).
_SIZE_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a JPEG's frame header, reading only the segments before it."""
    index = 2
    while index + 9 <= len(data) and data[index] == 0xFF:
        marker = data[index + 1]
        if marker == 0xFF:  # a fill byte before the marker
            index += 1
            continue
        if marker in _SIZE_MARKERS:
            return int.from_bytes(data[index + 5 : index + 7]), int.from_bytes(
                data[index + 7 : index + 9]
            )
        index += 2 + int.from_bytes(data[index + 2 : index + 4])
    return None


def _decode_with_pillow(path: Path, data: bytes) -> Any:
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot decode frame ({error})") from error
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")


def decode_images(paths: Sequence[Path], size: tuple[int, int] | None) -> np.ndarray:
    """Several image files as (n, H, W, 3) uint8 RGB, decoded in parallel on every core this
    process may use (FFmpeg releases the GIL while decoding and scaling). Each thread decodes
    one contiguous share: handed out one image at a time, they ran 12% slower on two cores."""
    threads = _images.threads() if len(paths) > 1 else None
    if threads is None:
        frames = [decode_image(path, size) for path in paths]
    else:
        count = min(_decode_threads(), len(paths))
        bounds = [len(paths) * share // count for share in range(count + 1)]
        shares = [paths[begin:end] for begin, end in itertools.pairwise(bounds)]
        decoded = threads.map(lambda share: [decode_image(path, size) for path in share], shares)
        frames = list(itertools.chain.from_iterable(decoded))
    _check_one_size(paths, frames)
    return np.stack(frames)


def _check_one_size(paths: Sequence[Path], frames: Sequence[np.ndarray]) -> None:
    """Frames read together must share one size. At the native size a folder whose images
    differ would otherwise fail inside numpy with no file named; say which, and the cure."""
    if not frames:
        return
    first = frames[0].shape[:2]
    for path, frame in zip(paths, frames, strict=True):
        if frame.shape[:2] != first:
            raise DataError(
                f"{path.parent}: frames differ in size: {path.name} is "
                f"{frame.shape[0]}x{frame.shape[1]}, {paths[0].name} is {first[0]}x{first[1]} "
                "(height x width); set frame_size to resize every frame to one size"
            )
