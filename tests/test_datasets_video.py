"""The PyAV decoding path (vadbench/sdk/video.py) on real files: exact frames by random and
sequential access, decoding cost, resizing, frame counts and damaged files, for video files and
for the images of frame folders."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.dataset_fixtures import (
    frame_index,
    grey_index,
    indexed_frame,
    truncate,
    write_frames,
    write_video,
)
from vadbench.sdk import video as video_module
from vadbench.sdk.contracts import ConfigError, DataError, Video
from vadbench.sdk.video import (
    OPEN_DECODERS,
    VideoFileReader,
    count_frames,
    decode_image,
    decode_images,
    decode_stats,
    release_decoders,
    video_from_file,
)

CODECS = [("mjpeg", ".avi"), ("mpeg4", ".avi"), ("libx264", ".mp4")]


@pytest.fixture(autouse=True)
def fresh_decoders() -> None:
    release_decoders()


def decoded_during(action) -> int:
    before = decode_stats().frames_decoded
    action()
    return decode_stats().frames_decoded - before


@pytest.mark.parametrize(("codec", "suffix"), CODECS)
def test_random_access_returns_exactly_the_frames_asked_for(
    tmp_path: Path, codec: str, suffix: str
) -> None:
    path = write_video(tmp_path / f"clip{suffix}", 90, codec=codec, gop=10)
    assert count_frames(path) == 90
    reader = VideoFileReader(path, 90)
    rng = np.random.default_rng(0)
    for _ in range(25):
        start = int(rng.integers(0, 89))
        stop = int(rng.integers(start + 1, min(start + 12, 90) + 1))
        frames = reader(start, stop)
        assert frames.dtype == np.uint8 and frames.shape == (stop - start, 16, 16, 3)
        assert [frame_index(f) for f in frames] == list(range(start, stop)), (start, stop)


@pytest.mark.parametrize(("codec", "suffix"), CODECS)
def test_a_jump_seeks_to_a_keyframe_instead_of_decoding_from_the_start(
    tmp_path: Path, codec: str, suffix: str
) -> None:
    path = write_video(tmp_path / f"long{suffix}", 300, codec=codec, gop=10)
    reader = VideoFileReader(path, 300)
    cost = decoded_during(lambda: reader(250, 252))
    assert [frame_index(f) for f in reader(250, 252)] == [250, 251]
    assert cost <= 60, f"decoded {cost} frames to read 2 near the end"


def test_sequential_chunks_decode_each_frame_once(tmp_path: Path) -> None:
    path = write_video(tmp_path / "seq.avi", 200, codec="mpeg4")
    video = video_from_file(path, "seq")
    clips = []
    cost = decoded_during(lambda: clips.extend(video.iter_clips(5, chunk=32)))
    assert cost == 200
    assert len(clips) == 196
    assert [frame_index(f) for f in clips[-1]] == [195, 196, 197, 198, 199]


def test_overlapping_scoring_chunks_reuse_the_recent_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "score.avi", 150, codec="mpeg4")
    reader = VideoFileReader(path, 150)

    def score_pattern() -> None:  # the models' SCORE_CHUNK loop: chunks overlap by length - 1
        for start in range(0, 150 - 5 + 1, 64):
            frames = reader(start, min(start + 64 + 4, 150))
            assert frame_index(frames[0]) == start

    assert decoded_during(score_pattern) == 150


def test_resize_and_rgb(tmp_path: Path) -> None:
    path = write_video(tmp_path / "big.avi", 4, size=(32, 48))
    frames = video_from_file(path, "big", size=(8, 12)).frames()
    assert frames.shape == (4, 8, 12, 3) and frames.dtype == np.uint8
    assert [frame_index(f) for f in frames] == [0, 1, 2, 3]
    assert abs(float(frames[..., 2].mean()) - 128) < 4  # blue stays blue: RGB, not BGR


def test_names_with_spaces_and_punctuation(tmp_path: Path) -> None:
    name = "(Rad)Schlag_die_Bank! cam 1 & 'b' $HOME;.avi"
    path = write_video(tmp_path / "a folder, with spaces" / name, 5)
    video = video_from_file(path, "odd")
    assert video.num_frames == 5
    assert [frame_index(f) for f in video.frames(2, 5)] == [2, 3, 4]


def test_truncated_video_names_the_file_and_frame(tmp_path: Path) -> None:
    path = truncate(write_video(tmp_path / "cut clip.avi", 60))
    assert count_frames(path) == 60  # the AVI header still claims every frame
    video = video_from_file(path, "cut")
    head = video.frames(0, 10)
    assert [frame_index(f) for f in head] == list(range(10))
    with pytest.raises(DataError, match=r"cut clip\.avi: frame \d+ cannot be decoded") as error:
        video.frames(0, 60)
    failed_at = int(str(error.value).split(": frame ")[1].split()[0])
    assert 10 <= failed_at < 60
    with pytest.raises(DataError, match=rf"cut clip\.avi: frame {failed_at} cannot be decoded"):
        count_frames(path, "decode")


def test_video_ending_early_names_the_first_missing_frame(tmp_path: Path) -> None:
    path = write_video(tmp_path / "damaged.avi", 60)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + len(data) // 5] = b"U" * (len(data) // 5)
    path.write_bytes(bytes(data))
    video = video_from_file(path, "damaged")
    assert video.num_frames == 60
    with pytest.raises(DataError, match=r"damaged\.avi: frame \d+ cannot be decoded"):
        video.frames(0, 60)


def test_corrupt_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"noise\.mp4: cannot open video"):
        video_from_file(path, "noise")


def test_reader_pickles_for_data_loader_workers(tmp_path: Path) -> None:
    path = write_video(tmp_path / "p.avi", 10)
    reader = VideoFileReader(path, 10, (8, 8))
    reader(0, 3)
    copy = pickle.loads(pickle.dumps(reader))
    assert [frame_index(f) for f in copy(4, 7)] == [4, 5, 6]


def first_indices(reader: VideoFileReader, start: int) -> list[int]:
    return [frame_index(f) for f in reader(start, start + 3)]


def test_forked_worker_gets_its_own_decoder(tmp_path: Path) -> None:
    """A data-loader worker forked mid-read must not share the parent's file position."""
    reader = VideoFileReader(write_video(tmp_path / "fork.avi", 40), 40)
    reader(0, 10)  # the parent's decoder now sits at frame 10
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(first_indices, (reader, 30)) == [30, 31, 32]
    assert first_indices(reader, 10) == [10, 11, 12]


def test_open_decoders_stay_bounded(tmp_path: Path) -> None:
    readers = [VideoFileReader(write_video(tmp_path / f"{i}.avi", 3), 3) for i in range(10)]
    for reader in readers:
        assert frame_index(reader(1, 2)[0]) == 1
    assert decode_stats().open_decoders == OPEN_DECODERS
    release_decoders()
    assert decode_stats().open_decoders == 0


def test_labels_must_match_the_frame_count(tmp_path: Path) -> None:
    path = write_video(tmp_path / "l.avi", 8)
    with pytest.raises(DataError, match=r"l\.avi: 7 frame labels for 8 frames"):
        video_from_file(path, "l", labels=np.zeros(7, np.int8))


IMAGE_CASES = [
    ("{:03d}.jpg", False),
    ("{:03d}.png", False),
    ("{:03d}.png", True),
    ("{:03d}.bmp", False),
    ("{:03d}.tif", True),
    ("{:03d}.tif", False),
]


@pytest.mark.parametrize(("name", "grey"), IMAGE_CASES)
def test_images_decode_through_ffmpeg_in_any_order(tmp_path: Path, name: str, grey: bool) -> None:
    """Decoders are reused between images where that is safe; no image may leak into the next."""
    write_frames(tmp_path / "a", 12, name=name, grey=grey)
    write_frames(tmp_path / "b", 12, name=name, grey=grey, size=(24, 40))
    order = np.random.default_rng(1).permutation(24)
    read = grey_index if grey else frame_index
    before = decode_stats().frames_decoded
    for item in order.tolist():
        folder, index, shape = (
            ("a", item, (16, 16, 3)) if item < 12 else ("b", item - 12, (24, 40, 3))
        )
        frame = decode_image(tmp_path / folder / name.format(index), None)
        assert frame.dtype == np.uint8 and frame.shape == shape
        assert read(frame) == index, (folder, index)
    assert decode_stats().frames_decoded - before == 24


def test_an_image_ffmpeg_refuses_goes_to_pillow(tmp_path: Path) -> None:
    path = tmp_path / "rgba.tif"
    Image.fromarray(indexed_frame(7)).convert("RGBA").save(path)
    frame = decode_image(path, (8, 6))
    assert frame.shape == (8, 6, 3) and frame_index(frame) == 7


def test_a_damaged_jpeg_is_an_error_not_a_grey_frame(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "cut frame.jpg"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    truncate(path)
    with pytest.raises(DataError, match=r"cut frame\.jpg: cannot decode frame"):
        decode_image(path, None)


def test_parallel_decoding_returns_the_frames_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VADBENCH_DECODE_THREADS", "4")  # threads even on a one-core runner
    write_frames(tmp_path / "frames", 40, size=(48, 64))
    paths = [tmp_path / "frames" / f"{index:03d}.jpg" for index in range(40)]
    together = decode_images(paths, (24, 32))
    one_by_one = np.stack([decode_image(path, (24, 32)) for path in paths])
    np.testing.assert_array_equal(together, one_by_one)
    assert [frame_index(frame) for frame in together] == list(range(40))


def decode_in_child(paths: list[Path]) -> list[int]:
    return [frame_index(frame) for frame in decode_images(paths, None)]


def test_forked_worker_decodes_images_with_its_own_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VADBENCH_DECODE_THREADS", "4")
    write_frames(tmp_path / "frames", 6)
    paths = [tmp_path / "frames" / f"{index:03d}.jpg" for index in range(6)]
    decode_images(paths, None)  # the parent's decoding threads exist before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(decode_in_child, (paths,))
        assert child.get(timeout=60) == list(range(6))  # a child waiting on no thread hangs


def test_a_bad_thread_count_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(video_module, "_images", video_module._ImageDecoders())
    monkeypatch.setenv("VADBENCH_DECODE_THREADS", "many")
    write_frames(tmp_path / "frames", 2)
    paths = [tmp_path / "frames" / f"{index:03d}.jpg" for index in range(2)]
    with pytest.raises(ConfigError, match=r"VADBENCH_DECODE_THREADS='many': expected a whole"):
        decode_images(paths, None)


@pytest.mark.parametrize(("step", "overlap"), [(64, 0), (7, 4), (10, 0), (3, 2)])
def test_chunks_read_ahead_cover_the_video_like_direct_reads(
    tmp_path: Path, step: int, overlap: int
) -> None:
    video = video_from_file(write_video(tmp_path / "v.avi", 23), "v")
    chunks = [[frame_index(f) for f in chunk] for chunk in video.iter_chunks(step, overlap)]
    starts = range(0, 23 - overlap, step)
    assert chunks == [list(range(s, min(s + step + overlap, 23))) for s in starts]


def test_a_damaged_frame_read_ahead_fails_where_the_caller_reads_it(tmp_path: Path) -> None:
    video = video_from_file(truncate(write_video(tmp_path / "cut.avi", 60)), "cut")
    chunks = video.iter_chunks(8)
    assert [frame_index(f) for f in next(chunks)] == list(range(8))
    with pytest.raises(DataError, match=r"cut\.avi: frame \d+ cannot be decoded"):
        list(chunks)


class WatchedReads:
    """A video reader that notes which thread reads and how many reads are under way."""

    def __init__(self, pause_s: float = 0.0) -> None:
        self.threads: set[int] = set()
        self.running = 0
        self.pause_s = pause_s

    def __call__(self, start: int, stop: int) -> np.ndarray:
        self.running += 1
        self.threads.add(threading.get_ident())
        time.sleep(self.pause_s)
        self.running -= 1
        return np.stack([indexed_frame(index, 8, 8) for index in range(start, stop)])


def test_stopping_early_leaves_no_read_running(tmp_path: Path) -> None:
    reads = WatchedReads(pause_s=0.05)
    for clip in Video("v", 40, reads).iter_clips(5, chunk=8):
        assert frame_index(clip[0]) == 0
        break
    assert reads.running == 0


def test_one_read_ahead_thread_serves_every_video_a_thread_iterates() -> None:
    reads = WatchedReads()
    for name in "abcd":
        assert sum(len(chunk) for chunk in Video(name, 30, reads).iter_chunks(8)) == 30
    assert len(reads.threads) == 1 and threading.get_ident() not in reads.threads


def chunk_count_in_child(length: int) -> int:
    return sum(1 for _ in Video("child", length, WatchedReads()).iter_chunks(8))


def test_a_forked_child_iterates_with_a_read_ahead_thread_of_its_own() -> None:
    assert chunk_count_in_child(20) == 3  # the parent's read-ahead thread exists before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(chunk_count_in_child, (20,))
        assert child.get(timeout=60) == 3  # a child waiting on the parent's thread hangs
