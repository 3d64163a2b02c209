"""A long read of a video file is split at keyframes into parts that decoders on separate cores
decode at once: the frames are exactly those one decoder gives, whatever the read pattern, and a
sequential reader in chunks decodes every frame once, without a frame decoded twice or wasted.
The images of a frame folder are decoded in contiguous shares, one per thread, and come back in
order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.dataset_fixtures import encode_video, street_frames
from vadbench.sdk.video import (
    PARALLEL_PART_FRAMES,
    THREADS_ENVIRONMENT,
    VideoFileReader,
    decode_image,
    decode_images,
    decode_stats,
    release_decoders,
)

FRAMES = 150
SIZE = (48, 64)


@pytest.fixture(params=["libx264", "mpeg4"])
def video(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"camera-{request.param}.mp4"
    return encode_video(path, street_frames(FRAMES, SIZE), SIZE, codec=request.param, gop=12)


def one_decoder(path: Path, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    monkeypatch.setenv(THREADS_ENVIRONMENT, "1")
    release_decoders()
    frames = VideoFileReader(path, FRAMES)(0, FRAMES)
    release_decoders()
    monkeypatch.setenv(THREADS_ENVIRONMENT, "2")
    return frames


def test_parts_give_the_frames_one_decoder_gives(
    video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = one_decoder(video, monkeypatch)
    reader = VideoFileReader(video, FRAMES)
    parts = reader._parts(0, FRAMES)
    assert len(parts) == 2 and parts[1][0] % 12 == 0  # split at a keyframe
    np.testing.assert_array_equal(reader(0, FRAMES), reference)
    rng = np.random.default_rng(0)
    reads = [(4, 100), (90, 150), (37, 83), (0, 2 * PARALLEL_PART_FRAMES), (120, 150)]
    reads += [tuple(sorted(rng.choice(FRAMES + 1, 2, replace=False))) for _ in range(20)]
    for start, stop in reads:
        np.testing.assert_array_equal(reader(start, stop), reference[start:stop], f"{start}:{stop}")


def test_a_sequential_reader_decodes_each_frame_once(
    video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = one_decoder(video, monkeypatch)
    reader = VideoFileReader(video, FRAMES)
    before = decode_stats().frames_decoded
    chunks = [reader(start, min(start + 64, FRAMES)) for start in range(0, FRAMES, 64)]
    np.testing.assert_array_equal(np.concatenate(chunks), reference)
    assert decode_stats().frames_decoded - before == FRAMES
    # overlapping chunks, as scoring reads them (each starts 4 frames before the last ended)
    release_decoders()
    before = decode_stats().frames_decoded
    starts = range(0, FRAMES - 4, 60)
    for start in starts:
        stop = min(start + 64, FRAMES)
        np.testing.assert_array_equal(reader(start, stop), reference[start:stop])
    assert decode_stats().frames_decoded - before == FRAMES


def test_one_decode_thread_reads_in_one_part(video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_ENVIRONMENT, "1")
    assert VideoFileReader(video, FRAMES)._parts(0, FRAMES) == [(0, FRAMES)]
    monkeypatch.setenv(THREADS_ENVIRONMENT, "2")
    short = 2 * PARALLEL_PART_FRAMES - 1
    assert VideoFileReader(video, FRAMES)._parts(10, 10 + short) == [(10, 10 + short)]


def test_an_avi_file_is_read_in_one_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AVI's index flags anchor frames of MPEG-4 with B-frames as keyframes: a part started at
    one would decode from an earlier keyframe, so AVI files are never split."""
    monkeypatch.setenv(THREADS_ENVIRONMENT, "2")
    path = encode_video(
        tmp_path / "camera.avi", street_frames(FRAMES, SIZE), SIZE, codec="mpeg4", gop=12
    )
    assert VideoFileReader(path, FRAMES)._parts(0, FRAMES) == [(0, FRAMES)]


@pytest.mark.parametrize("count", [2, 7, 20])
@pytest.mark.parametrize("threads", ["2", "3"])
def test_images_decoded_in_shares_come_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, threads: str
) -> None:
    paths = []
    for index, pixels in enumerate(street_frames(count, SIZE)):
        paths.append(tmp_path / f"{index:03d}.jpg")
        Image.fromarray(pixels).save(paths[-1], quality=95)
    one_by_one = np.stack([decode_image(path, (24, 32)) for path in paths])
    monkeypatch.setenv(THREADS_ENVIRONMENT, threads)
    np.testing.assert_array_equal(decode_images(paths, (24, 32)), one_by_one)
