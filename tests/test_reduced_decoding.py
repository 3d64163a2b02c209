"""Frames asked for at a fraction of their native size are decoded no finer than needed
(FFmpeg's reduced-size decoding for JPEG and MPEG-4, no deblocking for a large H.264 shrink),
and come out as the full decode resized would, within a few grey levels; the frame cache never
serves frames decoded under other rules."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter
from PIL import Image

import vadbench.sdk.video as video
from tests.dataset_fixtures import encode_video, street_frames, write_video
from vadbench.sdk.video import (
    REDUCED_DECODING,
    VideoFileReader,
    decode_images,
    jpeg_size,
    lowres_factor,
    release_decoders,
)

NATIVE = (360, 640)


@pytest.fixture(autouse=True)
def fresh_decoders() -> None:
    release_decoders()


def full_decode_resized(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Every frame decoded at its full size by a default decoder, then resized bilinearly."""
    scaler = VideoReformatter()
    with av.open(str(path)) as container:
        return np.stack(
            [
                scaler.reformat(
                    frame, format="rgb24", width=size[1], height=size[0], interpolation="BILINEAR"
                ).to_ndarray()
                for frame in container.decode(video=0)
            ]
        )


def test_halvings_keep_both_sides_at_least_the_size_asked_for() -> None:
    assert lowres_factor("mjpeg", NATIVE, (64, 64)) == 2  # 90x160 still covers 64x64
    assert lowres_factor("mpeg4", NATIVE, (90, 160)) == 2
    assert lowres_factor("mpeg4", NATIVE, (91, 160)) == 1
    assert lowres_factor("mjpeg", (2048, 2048), (64, 64)) == 3  # the codec's limit
    assert lowres_factor("mjpeg", NATIVE, (256, 256)) == 0
    assert lowres_factor("mjpeg", NATIVE, None) == 0
    assert lowres_factor("h264", NATIVE, (64, 64)) == 0  # no reduced-size mode


@pytest.mark.parametrize(
    ("shape", "progressive"), [((360, 640, 3), False), ((17, 33), True), ((1080, 1920, 3), False)]
)
def test_a_jpeg_header_states_the_size(shape: tuple[int, ...], progressive: bool) -> None:
    encoded = io.BytesIO()
    Image.fromarray(np.zeros(shape, np.uint8)).save(encoded, "JPEG", progressive=progressive)
    assert jpeg_size(encoded.getvalue()) == shape[:2]
    assert jpeg_size(b"\xff\xd8 not a jpeg") is None and jpeg_size(b"") is None


@pytest.mark.parametrize(("codec", "suffix"), [("mpeg4", ".avi"), ("libx264", ".mp4")])
def test_a_video_read_small_matches_its_full_decode_resized(
    tmp_path: Path, codec: str, suffix: str
) -> None:
    path = encode_video(
        tmp_path / f"street{suffix}", street_frames(12, NATIVE), NATIVE, codec=codec
    )
    for size in [(64, 64), (256, 256)]:
        frames = VideoFileReader(path, 12, size)(0, 12)
        reference = full_decode_resized(path, size)
        difference = np.abs(frames.astype(int) - reference)
        assert frames.shape == (12, *size, 3)
        assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 6, (size, codec)
        assert abs(int(frames[5, 31, 16, 0]) - int(reference[5, 31, 16, 0])) <= 12


def test_jpeg_frames_read_small_match_their_full_decode_resized(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, pixels in enumerate(street_frames(6, NATIVE)):
        Image.fromarray(pixels).save(folder / f"{index:03d}.jpg", quality=95)
    paths = sorted(folder.glob("*.jpg"))
    small = decode_images(paths, (64, 64))
    full = decode_images(paths, None)
    scaler = VideoReformatter()
    reference = np.stack(
        [
            scaler.reformat(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"),
                format="rgb24",
                width=64,
                height=64,
                interpolation="BILINEAR",
            ).to_ndarray()
            for image in full
        ]
    )
    difference = np.abs(small.astype(int) - reference)
    assert small.shape == (6, 64, 64, 3)
    assert difference.mean() < 2.0 and np.percentile(difference, 99) <= 8


def test_the_decoding_rules_are_part_of_the_cache_key(tmp_path: Path) -> None:
    path = encode_video(tmp_path / "clip.avi", street_frames(2, NATIVE), NATIVE, codec="mpeg4")
    assert VideoFileReader(path, 2, (64, 64)).decode_settings()["reduced"] == REDUCED_DECODING


def test_timestamp_tables_are_bounded_by_frames_not_by_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget in frames keeps every table of many short videos (SHT's 330 training videos
    overflowed a 256-table bound) and drops the least recently used once the frames run out."""
    paths = [write_video(tmp_path / f"{index}.avi", 10) for index in range(3)]
    tables = video._TimestampTables()
    monkeypatch.setattr(video, "TIMESTAMP_FRAMES", 25)
    for path in paths:
        assert tables.get(path, 10) is not None
    assert list(tables._tables) == paths[1:]  # 30 frames > 25: the first is dropped
    monkeypatch.setattr(video, "TIMESTAMP_FRAMES", 1000)
    tables.get(paths[0], 10)
    assert set(tables._tables) == set(paths)
