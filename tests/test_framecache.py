"""The decoded-frame cache (vadbench/sdk/framecache.py) on real files: the frames it serves are the
decoder's, it decodes only what it lacks, it never serves a stale frame, it keeps its budget,
and it falls back to decoding when it cannot write."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.dataset_fixtures import frame_index, indexed_frame, truncate, write_frames, write_video
from vadbench.sdk import framecache
from vadbench.sdk.contracts import ConfigError, DataError, Video
from vadbench.sdk.datasets import frame_folder_video
from vadbench.sdk.framecache import (
    READ_AHEAD_FRAMES,
    READ_AHEAD_FROM,
    SUFFIX,
    CachedFrames,
    cache_dir,
    cache_stats,
    parse_budget,
    release_cache_files,
)
from vadbench.sdk.video import decode_stats, release_decoders, video_from_file


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VADBENCH_FRAME_CACHE", raising=False)
    release_decoders()
    release_cache_files()
    return tmp_path / "cache" / "frames"


def uncached(video: Video, monkeypatch: pytest.MonkeyPatch, path: Path) -> np.ndarray:
    monkeypatch.setenv("VADBENCH_FRAME_CACHE", "off")
    fresh = video_from_file(path, "fresh", size=(12, 20))
    assert not isinstance(fresh.read_frames, CachedFrames)
    monkeypatch.delenv("VADBENCH_FRAME_CACHE")
    return fresh.frames()


def decoded_during(action) -> int:
    before = decode_stats().frames_decoded
    action()
    return decode_stats().frames_decoded - before


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}"))


def test_second_read_comes_from_the_cache_with_the_decoders_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_cache: Path
) -> None:
    path = write_video(tmp_path / "clip.avi", 40, codec="mpeg4", size=(24, 40))
    video = video_from_file(path, "clip", size=(12, 20))
    assert isinstance(video.read_frames, CachedFrames)
    first = video.frames()
    hits = cache_stats().hits
    release_decoders()
    assert decoded_during(lambda: video.frames(5, 30)) == 0
    assert cache_stats().hits == hits + 25
    np.testing.assert_array_equal(video.frames(5, 30), first[5:30])
    np.testing.assert_array_equal(first, uncached(video, monkeypatch, path))
    assert [entry.stat().st_size > 0 for entry in entries(own_cache)] == [True]


def test_only_the_missing_frames_are_decoded(tmp_path: Path) -> None:
    path = write_video(tmp_path / "gaps.avi", 60, codec="mjpeg")
    video = video_from_file(path, "gaps")
    video.frames(20, 30)
    video.frames(40, 45)
    stored = cache_stats().stored
    frames = video.frames(10, 50)  # decodes 10-20, 30-40 and 45-50, serves the rest
    assert cache_stats().stored - stored == 25
    assert [frame_index(frame) for frame in frames] == list(range(10, 50))
    release_decoders()
    assert decoded_during(lambda: video.frames(20, 45)) == 0


def test_a_long_read_that_misses_decodes_ahead_and_a_short_one_does_not(tmp_path: Path) -> None:
    path = write_video(tmp_path / "long.avi", 400, codec="mjpeg")
    video = video_from_file(path, "long")
    stored = cache_stats().stored
    chunk = video.frames(0, 64)
    assert cache_stats().stored - stored == READ_AHEAD_FRAMES
    assert [frame_index(frame) for frame in chunk] == list(range(64))
    assert chunk.base is None or chunk.base.shape[0] == 64  # holds no frames decoded ahead
    assert decoded_during(lambda: video.frames(64, READ_AHEAD_FRAMES)) == 0
    # ahead of a read only over frames not stored yet: 256-300 here, then 320 is stored
    video.frames(320, 330)
    assert decoded_during(lambda: video.frames(READ_AHEAD_FRAMES, 300)) == 64
    assert decoded_during(lambda: video.frames(300, 330)) == 0
    clip = READ_AHEAD_FROM - 1
    release_decoders()  # every MJPEG frame is a keyframe: a fresh decoder seeks right to it
    assert decoded_during(lambda: video.frames(340, 340 + clip)) == clip


def test_a_read_ahead_takes_a_short_tail_of_the_video_with_it(tmp_path: Path) -> None:
    tail = READ_AHEAD_FRAMES // 2 - 1
    path = write_video(tmp_path / "tail.avi", READ_AHEAD_FRAMES + tail, codec="mjpeg")
    video = video_from_file(path, "tail")
    stored = cache_stats().stored
    video.frames(0, READ_AHEAD_FROM)
    assert cache_stats().stored - stored == READ_AHEAD_FRAMES + tail
    assert decoded_during(lambda: video.frames(READ_AHEAD_FRAMES, video.num_frames)) == 0


def test_a_changed_file_is_never_served_from_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    write_frames(folder, 6, name="{:03d}.bmp")  # uncompressed: every file has the same size
    first = frame_folder_video(folder, "cam", None).frames()
    assert [frame_index(f) for f in first] == list(range(6))
    edited = folder / "002.bmp"
    edited.write_bytes((folder / "005.bmp").read_bytes())
    later = time.time() + 5
    os.utime(edited, (later, later))
    video = frame_folder_video(folder, "cam", None)
    assert [frame_index(f) for f in video.frames()] == [0, 1, 5, 3, 4, 5]


def test_frame_folders_cache_at_the_asked_size(tmp_path: Path, own_cache: Path) -> None:
    folder = tmp_path / "big frames"
    write_frames(folder, 5, size=(32, 48))
    small = frame_folder_video(folder, "cam", (8, 12)).frames()
    again = frame_folder_video(folder, "cam", (8, 12)).frames()
    native = frame_folder_video(folder, "cam", None).frames()
    assert small.shape == (5, 8, 12, 3) and native.shape == (5, 32, 48, 3)
    np.testing.assert_array_equal(small, again)
    assert len(entries(own_cache)) == 2


def test_damaged_frames_still_fail_and_name_the_frame(tmp_path: Path) -> None:
    path = truncate(write_video(tmp_path / "cut clip.avi", 60))
    video = video_from_file(path, "cut")
    assert [frame_index(f) for f in video.frames(0, 10)] == list(range(10))
    for _ in range(2):  # the damage is never cached over
        with pytest.raises(DataError, match=r"cut clip\.avi: frame \d+ cannot be decoded"):
            video.frames(0, 60)


def entry_path(video: Video) -> Path:
    reader = video.read_frames
    assert isinstance(reader, CachedFrames)
    return cache_dir() / f"{reader.key()}{SUFFIX}"


def test_the_budget_evicts_the_least_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = (
        video_from_file(write_video(tmp_path / f"{i}.avi", 30), str(i)) for i in range(3)
    )
    for age, video in enumerate((first, second), start=1):
        video.frames()
        os.utime(entry_path(video), (age, age))
    entry_bytes = entry_path(first).stat().st_size
    monkeypatch.setenv("VADBENCH_FRAME_CACHE", str(int(entry_bytes * 2.5)))
    release_cache_files()
    first.frames(0, 2)  # opening an entry makes it the most recently used
    third.frames()
    assert sorted(entries(cache_dir())) == sorted([entry_path(first), entry_path(third)])
    release_decoders()
    assert decoded_during(lambda: first.frames()) == 0
    assert [frame_index(f) for f in second.frames(3, 6)] == [3, 4, 5]


def test_a_video_larger_than_the_budget_is_decoded_uncached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_cache: Path
) -> None:
    monkeypatch.setenv("VADBENCH_FRAME_CACHE", "10K")
    video = video_from_file(write_video(tmp_path / "long.avi", 50), "long")
    assert [frame_index(f) for f in video.frames(40, 43)] == [40, 41, 42]
    assert entries(own_cache) == []


def test_an_unwritable_cache_falls_back_to_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not a folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("VADBENCH_CACHE", str(blocker))
    video = video_from_file(write_video(tmp_path / "v.avi", 12), "v")
    with caplog.at_level(logging.WARNING, logger="vadbench.sdk.framecache"):
        assert [frame_index(f) for f in video.frames(2, 4)] == [2, 3]
        assert [frame_index(f) for f in video.frames(6, 8)] == [6, 7]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and str(cache_dir()) in warnings[0]


def test_a_foreign_file_under_an_entry_name_is_replaced(tmp_path: Path, own_cache: Path) -> None:
    path = write_video(tmp_path / "v.avi", 10)
    video = video_from_file(path, "v")
    video.frames(0, 2)
    (entry,) = entries(own_cache)
    release_cache_files()
    entry.write_bytes(b"not a cache entry")
    assert [frame_index(f) for f in video_from_file(path, "v").frames(0, 10)] == list(range(10))
    assert [frame_index(f) for f in video_from_file(path, "v").frames(0, 10)] == list(range(10))


def test_an_entry_that_is_a_link_out_of_the_cache_is_never_written_through(
    tmp_path: Path, own_cache: Path
) -> None:
    path = write_video(tmp_path / "v.avi", 10)
    video_from_file(path, "v").frames(0, 2)
    (entry,) = entries(own_cache)
    release_cache_files()
    outside = tmp_path / "outside"
    outside.write_bytes(entry.read_bytes())  # a valid entry, that a write through would change
    before = outside.read_bytes()
    entry.unlink()
    entry.symlink_to(outside)
    assert [frame_index(f) for f in video_from_file(path, "v").frames(0, 10)] == list(range(10))
    assert outside.read_bytes() == before
    (entry,) = entries(own_cache)
    assert not entry.is_symlink()


def read_all(video: Video) -> list[int]:
    return [frame_index(frame) for frame in video.frames()]


def test_processes_fill_one_entry_together(tmp_path: Path, own_cache: Path) -> None:
    """Data-loader workers and matrix cells read the same videos: their writes must agree."""
    video = video_from_file(write_video(tmp_path / "shared.avi", 80, codec="mpeg4"), "shared")
    video.frames(30, 35)  # the parent opens the entry before forking
    with multiprocessing.get_context("fork").Pool(3) as pool:
        results = pool.map(read_all, [pickle.loads(pickle.dumps(video)) for _ in range(3)])
    assert results == [list(range(80))] * 3
    release_decoders()
    assert decoded_during(lambda: read_all(video)) == 0
    assert read_all(video) == list(range(80))
    assert len(entries(own_cache)) == 1


def test_frames_are_fresh_arrays(tmp_path: Path) -> None:
    write_frames(tmp_path / "frames", 4, name="{:03d}.png")
    video = frame_folder_video(tmp_path / "frames", "cam", None)
    video.frames()
    served = video.frames(0, 3)
    served[:] = 0
    np.testing.assert_array_equal(video.frames(0, 1)[0], indexed_frame(0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20G", 20 * 2**30), ("500m", 500 * 2**20), ("1.5GiB", int(1.5 * 2**30)), ("off", 0)],
)
def test_budget_sizes(text: str, expected: int) -> None:
    assert parse_budget(text) == expected


def test_a_bad_budget_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"VADBENCH_FRAME_CACHE='lots': expected a size"):
        parse_budget("lots")


def vadbench(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "vadbench", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cache_command_reports_and_clears(tmp_path: Path, own_cache: Path) -> None:
    video_from_file(write_video(tmp_path / "v.avi", 20, size=(32, 32)), "v").frames(0, 10)
    report = vadbench("cache")
    assert f"frame cache {own_cache}: 1 video(s)" in report
    assert "budget 20.00 GiB" in report
    assert "deleted 1 cached video(s)" in vadbench("cache", "--clear")
    assert entries(own_cache) == []
    assert ": 0 video(s)" in vadbench("cache")


def fill_videos(paths: list[Path]) -> int:
    """A worker's share of a run: read every frame of its videos."""
    for path in paths:
        video_from_file(path, path.stem).frames()
    return len(paths)


def test_processes_creating_entries_together_keep_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_cache: Path
) -> None:
    paths = [write_video(tmp_path / f"{i}.avi", 30) for i in range(12)]
    video_from_file(paths[0], "probe").frames(0, 1)
    entry_bytes = entries(own_cache)[0].stat().st_size
    budget = int(entry_bytes * 4.5)
    monkeypatch.setenv("VADBENCH_FRAME_CACHE", str(budget))
    with multiprocessing.get_context("fork").Pool(4) as pool:
        assert sum(pool.map(fill_videos, [paths[i::4] for i in range(4)])) == 12
    assert sum(entry.stat().st_size for entry in entries(own_cache)) <= budget


def test_an_entry_deleted_under_a_reader_is_created_again(tmp_path: Path) -> None:
    """Another process evicted it: this one must not keep filling a deleted file."""
    video = video_from_file(write_video(tmp_path / "v.avi", 20), "v")
    video.frames(0, 5)
    entry_path(video).unlink()
    assert [frame_index(f) for f in video.frames(5, 10)] == list(range(5, 10))
    assert entry_path(video).exists()
    release_decoders()
    assert decoded_during(lambda: video.frames(5, 10)) == 0


def test_frames_lost_in_a_crash_are_decoded_again(tmp_path: Path) -> None:
    """Flags that reached the disk while pixels did not: the checksum catches the zeros."""
    video = video_from_file(write_video(tmp_path / "v.avi", 10, size=(16, 16)), "v")
    video.frames()
    path = entry_path(video)
    frame_bytes = 16 * 16 * 3
    with path.open("r+b") as entry:
        entry.seek(path.stat().st_size - (10 - 4) * frame_bytes)
        entry.write(bytes(2 * frame_bytes))  # frames 4 and 5 never written
    release_cache_files()
    assert [frame_index(f) for f in video.frames()] == list(range(10))
    release_decoders()
    assert decoded_during(lambda: video.frames()) == 0  # and stored again


def test_a_folder_of_mixed_sizes_is_left_uncached_alone(tmp_path: Path) -> None:
    """Native sizes that change within a video do not fit one entry: that video is decoded,
    and the cache goes on serving the others."""
    write_frames(tmp_path / "mixed", 4, size=(16, 16))
    write_frames(tmp_path / "mixed", 2, size=(24, 24), first=4)
    mixed = frame_folder_video(tmp_path / "mixed", "mixed", None)
    assert mixed.frames(0, 4).shape == (4, 16, 16, 3)
    for _ in range(2):
        assert mixed.frames(4, 6).shape == (2, 24, 24, 3)
    write_frames(tmp_path / "other", 3)
    other = frame_folder_video(tmp_path / "other", "other", None)
    assert [frame_index(f) for f in other.frames()] == [0, 1, 2]
    assert entry_path(other).exists()


def test_no_entry_when_the_disk_would_run_low(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_cache: Path
) -> None:
    monkeypatch.setattr(framecache, "KEEP_FREE", shutil.disk_usage(tmp_path).total)
    video = video_from_file(write_video(tmp_path / "v.avi", 10), "v")
    assert [frame_index(f) for f in video.frames(2, 6)] == [2, 3, 4, 5]
    assert entries(own_cache) == []
