"""Build docs/detect.md's real-footage example: one street camera as a ``videofolder`` dataset.

The footage is Intel's ``car-detection.mp4`` (a fixed camera over a road, 768×432 H.264,
12.5 fps, 377 frames; CC BY 4.0, https://github.com/intel-iot-devkit/sample-videos), and the
foreign object is a person cut from the first frames of ``one-by-one-person-detection.mp4`` from
the same collection (cut out by the difference from that clip's empty first frame).

- ``ROOT/train/road.mp4``: frames 0 to ``--split``-1, the camera's normal footage;
- ``ROOT/test/road-person.mp4``: the rest, with the person pasted in as a foreign object that
  crosses the road over ``--object-frames`` frames, and ``ROOT/labels.csv`` marking them.

Both are written as H.264 at the footage's own size and rate. Then::

    vadbench run benchmarks/street_example.yaml          # trains zxVAD on ROOT's train/
    vadbench detect results/street-example:zxvad ROOT/test/road-person.mp4 --out detections --video

    python benchmarks/street_example.py car-detection.mp4 one-by-one-person-detection.mp4 \
        --out street-camera
"""

from __future__ import annotations

import argparse
import csv
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

PERSON_FRAME = 150
PERSON_SHARE = 150 / 432  # of the footage's height: 150 pixels in car-detection.mp4


def read_frames(path: Path) -> tuple[list[np.ndarray], Fraction]:
    """Every frame of a video as RGB arrays, and its frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate or 25)
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)], rate


def cut_out_person(path: Path, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The person of one frame, ``height`` pixels tall, and their mask: the pixels that differ
    from the clip's empty first frame."""
    with av.open(str(path)) as container:
        decoded = container.decode(video=0)
        frames = [next(decoded).to_ndarray(format="rgb24") for _ in range(PERSON_FRAME + 1)]
    empty, person = frames[0].astype(np.int16), frames[-1].astype(np.int16)
    mask = np.abs(person - empty).max(axis=2) > 40
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise SystemExit(f"{path}: frame {PERSON_FRAME} does not differ from frame 0")
    box = np.s_[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    scale = height / (rows[-1] + 1 - rows[0])
    width = max(1, round((columns[-1] + 1 - columns[0]) * scale))
    sample_rows = np.minimum((np.arange(height) / scale).astype(int), rows[-1] - rows[0])
    sample_columns = np.minimum((np.arange(width) / scale).astype(int), columns[-1] - columns[0])
    picked = np.ix_(sample_rows, sample_columns)
    return frames[-1][box][picked], mask[box][picked]


def paste(frame: np.ndarray, person: np.ndarray, mask: np.ndarray, left: int, top: int) -> None:
    """Paste the cut-out person into the frame, clipped at the frame's border."""
    height, width = mask.shape
    bottom, right = min(top + height, frame.shape[0]), min(left + width, frame.shape[1])
    region = frame[top:bottom, left:right]
    shown = mask[: bottom - top, : right - left]
    region[shown] = person[: bottom - top, : right - left][shown]


def write_video(path: Path, frames: list[np.ndarray], rate: Fraction) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("footage", type=Path, help="car-detection.mp4")
    parser.add_argument("person", type=Path, help="one-by-one-person-detection.mp4")
    parser.add_argument("--out", type=Path, required=True, help="the videofolder root to write")
    parser.add_argument("--split", type=int, default=230, help="first frame of the test video")
    parser.add_argument("--object-start", type=int, default=50, help="test frame it enters at")
    parser.add_argument("--object-frames", type=int, default=60)
    args = parser.parse_args()

    frames, rate = read_frames(args.footage)
    if not 0 < args.split < len(frames) - args.object_start - args.object_frames:
        raise SystemExit(f"--split {args.split}: {args.footage} has {len(frames)} frames")
    test = [frame.copy() for frame in frames[args.split :]]
    height, width = test[0].shape[:2]
    person, mask = cut_out_person(args.person, max(1, round(PERSON_SHARE * height)))
    top = (height - mask.shape[0]) // 2
    last = args.object_start + args.object_frames - 1
    for step, index in enumerate(range(args.object_start, last + 1)):
        left = round(step * (width - mask.shape[1]) / max(1, args.object_frames - 1))
        paste(test[index], person, mask, left, top)

    write_video(args.out / "train" / "road.mp4", frames[: args.split], rate)
    write_video(args.out / "test" / "road-person.mp4", test, rate)
    with (args.out / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "start", "end"])
        writer.writerow(["road-person", args.object_start, last])
    print(
        f"{args.out}: train/road.mp4 ({args.split} frames), test/road-person.mp4 "
        f"({len(test)} frames, the person in frames {args.object_start}-{last}), labels.csv"
    )


if __name__ == "__main__":
    main()
