"""Builders of tiny copies of the real datasets in their distributed layouts
(docs/datasets.md), traps included.

Every frame is a flat colour that encodes its index (``frame_index`` reads it back through any
lossy codec), so a test can check that a loader returns exactly the frames it claims.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image
from scipy.io import savemat

from vadbench_plugins.datasets.frames import SHIPPED_LABELS

# The MNAD label files that ship with the frames plugin (plugins/datasets/labels/README.md).
PED2_LABELS = SHIPPED_LABELS / "frame_labels_ped2.npy"
AVENUE_LABELS = SHIPPED_LABELS / "frame_labels_avenue.npy"

STEP = 9  # levels between consecutive indices: three times the codec error (at most 3)
LEVELS = 200 // STEP  # indices per channel


def frame_colour(index: int) -> tuple[int, int, int]:
    """RGB of frame ``index``: red counts frames, green counts rounds of red."""
    return (20 + STEP * (index % LEVELS), 20 + STEP * (index // LEVELS % LEVELS), 128)


def frame_index(frame: np.ndarray) -> int:
    """The index ``frame_colour`` encoded, read from a decoded (H, W, 3) frame."""
    red, green = (float(frame[..., channel].mean()) for channel in (0, 1))
    return round((red - 20) / STEP) + LEVELS * round((green - 20) / STEP)


def grey_index(frame: np.ndarray) -> int:
    """The index of a grey frame written with ``grey=True`` (indices below LEVELS)."""
    return round((float(frame.mean()) - 20) / STEP)


def indexed_frame(index: int, height: int = 16, width: int = 16) -> np.ndarray:
    return np.broadcast_to(np.array(frame_colour(index), np.uint8), (height, width, 3)).copy()


def street_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Smooth street-like RGB frames: a shaded background and a bright box moving a 32nd of the
    width per frame (wrapping round) and darkening, so that no two of 30 frames are alike."""
    height, width = size
    y, x = np.mgrid[0:height, 0:width]
    background = 90 + 40 * np.sin(x / 23.0) * np.cos(y / 17.0)
    top, bottom, box = height * 5 // 18, height // 2, width * 3 // 32
    frames = []
    for index in range(count):
        image = background.copy()
        left = (width // 16 + width // 32 * index) % (width - box)
        image[top:bottom, left : left + box] = 220 - 3 * (index % 30)
        grey = image.astype(np.uint8)
        frames.append(np.stack([grey, grey, (grey * 0.8).astype(np.uint8)], axis=-1))
    return frames


def write_video(
    path: Path,
    num_frames: int,
    codec: str = "mjpeg",
    size: tuple[int, int] = (16, 16),
    fps: int = 25,
    gop: int = 12,
) -> Path:
    """A video whose frame i shows ``frame_colour(i)``; mjpeg/mpeg4 in .avi, libx264 in .mp4."""
    frames = (indexed_frame(index, *size) for index in range(num_frames))
    return encode_video(path, frames, size, codec, fps, gop)


def encode_video(
    path: Path,
    frames: Iterable[np.ndarray],
    size: tuple[int, int],
    codec: str = "mjpeg",
    fps: int = 25,
    gop: int = 12,
) -> Path:
    """Encode (H, W, 3) uint8 frames with PyAV at near-lossless quality."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = size
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"bframes": "2", "crf": "4", "scenecut": "0"}
        elif codec == "mpeg4":
            stream.bit_rate = 4_000_000  # near-lossless at this size: colours decode back exactly
            stream.codec_context.max_b_frames = 2
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def truncate(path: Path, keep: float = 0.6) -> Path:
    """Cut a file to ``keep`` of its bytes, like an interrupted download."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def image_bytes(pixels: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def write_frames(
    folder: Path,
    num_frames: int,
    name: str = "{:03d}.jpg",
    first: int = 0,
    grey: bool = False,
    size: tuple[int, int] = (16, 16),
) -> None:
    """Frames named ``name.format(first + i)``, frame i showing ``frame_colour(i)``."""
    folder.mkdir(parents=True, exist_ok=True)
    image_format = {".jpg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".bmp": "BMP"}
    suffix = Path(name.format(0)).suffix
    for index in range(num_frames):
        pixels = indexed_frame(index, *size)
        if grey:
            pixels = pixels[..., 0]  # the red level, kept by an L -> RGB conversion
        (folder / name.format(first + index)).write_bytes(image_bytes(pixels, image_format[suffix]))


def write_appledouble(folder: Path, name: str) -> None:
    """A macOS ``._name`` resource-fork stray, as copied from a Mac volume."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"._{name}").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")


# --- UCSD ------------------------------------------------------------------------------------


def ucsd_m_text(ranges: Sequence[Sequence[tuple[int, int]]]) -> str:
    """A UCSDpedN.m as the release writes it, with a comment line that must not count."""
    lines = ["TestVideoFile = {};", "% TestVideoFile{end+1}.gt_frame = [1:999];"]
    for clip_ranges in ranges:
        body = ", ".join(f"{start}:{end}" for start, end in clip_ranges)
        lines.append(f"TestVideoFile{{end+1}}.gt_frame = [{body}];")
    return "\n".join(lines) + "\n"


def build_ucsd(
    root: Path,
    subset_folder: str,
    train_lengths: Sequence[int],
    test_ranges: Sequence[Sequence[tuple[int, int]]],
    test_lengths: Sequence[int],
    masked_clips: Iterable[int] = (),
    mask_boxes: dict[tuple[int, int], tuple[int, int, int, int]] | None = None,
) -> Path:
    """``<root>/<subset_folder>/{Train,Test}`` with 1-based grey TIFFs, the .m file and BMP
    masks (0/255) for ``masked_clips`` (1-based); ``mask_boxes[(clip, frame)]`` is a
    (top, left, bottom, right) box, frame 1-based."""
    subset = root / subset_folder
    for number, length in enumerate(train_lengths, start=1):
        write_frames(subset / "Train" / f"Train{number:03d}", length, "{:03d}.tif", 1, grey=True)
    test = subset / "Test"
    for number, length in enumerate(test_lengths, start=1):
        write_frames(test / f"Test{number:03d}", length, "{:03d}.tif", 1, grey=True)
    for number in masked_clips:
        folder = test / f"Test{number:03d}_gt"
        folder.mkdir(parents=True)
        for frame in range(1, test_lengths[number - 1] + 1):
            mask = np.zeros((16, 16), np.uint8)
            box = (mask_boxes or {}).get((number, frame))
            if box is not None:
                top, left, bottom, right = box
                mask[top:bottom, left:right] = 255
            (folder / f"{frame:03d}.bmp").write_bytes(image_bytes(mask, "BMP"))
    (test / f"{subset_folder}.m").write_text(ucsd_m_text(test_ranges))
    return subset


def write_tiny_tiffs(folder: Path, count: int) -> None:
    """``001.tif`` .. with one shared tiny image: label tests need counts, not content."""
    folder.mkdir(parents=True, exist_ok=True)
    data = image_bytes(np.zeros((4, 4), np.uint8), "TIFF")
    for number in range(1, count + 1):
        (folder / f"{number:03d}.tif").write_bytes(data)


# --- Avenue ----------------------------------------------------------------------------------


def write_vol_label(path: Path, masks: np.ndarray) -> None:
    """``N_label.mat`` with ``volLabel``: a (1, T) cell array of H×W masks, as released."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = np.empty((1, len(masks)), dtype=object)
    for index, mask in enumerate(masks):
        cells[0, index] = mask.astype(np.uint8)
    savemat(path, {"volLabel": cells})


def build_avenue(
    root: Path, train_lengths: Sequence[int], test_masks: Sequence[np.ndarray] | Sequence[int]
) -> Path:
    """``<root>/{training,testing}_videos/NN.avi``; for mask arrays, also
    ``<root>/ground_truth_demo/testing_label_mask/N_label.mat`` (not zero-padded)."""
    for number, length in enumerate(train_lengths, start=1):
        write_video(root / "training_videos" / f"{number:02d}.avi", length)
    for number, masks in enumerate(test_masks, start=1):
        length = masks if isinstance(masks, int) else len(masks)
        write_video(root / "testing_videos" / f"{number:02d}.avi", length)
        if not isinstance(masks, int):
            label_dir = root / "ground_truth_demo" / "testing_label_mask"
            write_vol_label(label_dir / f"{number}_label.mat", masks)
    return root


# --- ShanghaiTech ----------------------------------------------------------------------------


def build_shanghaitech(
    root: Path,
    train_ids: Sequence[str],
    test_labels: dict[str, np.ndarray],
    train_length: int = 6,
    pixel_masks: bool = True,
) -> Path:
    """Training .avi videos, test frame folders from 000.jpg, test_frame_mask and
    test_pixel_mask npy files (the mask marks the top-left quarter of anomalous frames)."""
    for video_id in train_ids:
        write_video(root / "training" / "videos" / f"{video_id}.avi", train_length)
    for video_id, labels in test_labels.items():
        write_frames(root / "testing" / "frames" / video_id, len(labels), "{:03d}.jpg")
        frame_mask = root / "testing" / "test_frame_mask" / f"{video_id}.npy"
        frame_mask.parent.mkdir(parents=True, exist_ok=True)
        np.save(frame_mask, np.asarray(labels, dtype=np.uint8))
        if pixel_masks:
            masks = np.zeros((len(labels), 16, 16), dtype=np.uint8)
            masks[np.asarray(labels) > 0, :8, :8] = 1
            pixel_mask = root / "testing" / "test_pixel_mask" / f"{video_id}.npy"
            pixel_mask.parent.mkdir(parents=True, exist_ok=True)
            np.save(pixel_mask, masks)
    return root


# --- UCF-Crime -------------------------------------------------------------------------------


def annotation_line(name: str, category: str, events: Sequence[tuple[int, int]]) -> str:
    """A temporal-annotation line with the release's double spaces and trailing spaces."""
    bounds = [value for event in events for value in event]
    bounds += [-1] * (4 - len(bounds))
    return "  ".join([name, category, *map(str, bounds)]) + "  "


def build_ucfcrime(
    root: Path,
    videos: dict[str, tuple[str, int]],
    train_list: Sequence[str],
    annotation: Sequence[str],
) -> Path:
    """Videos at ``root/<relative path>`` (path -> (codec, frames)), the split files in
    ``UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits`` and the annotation at the root."""
    for relative, (codec, num_frames) in videos.items():
        write_video(root / relative, num_frames, codec=codec)
    splits = root / "UCF_Crimes-Train-Test-Split" / "Anomaly_Detection_splits"
    splits.mkdir(parents=True, exist_ok=True)
    (splits / "Anomaly_Train.txt").write_text("\n".join(train_list) + "\n")
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "\n".join(annotation) + "\n"
    )
    return root


# --- TI action sets --------------------------------------------------------------------------


def build_hmdb51(
    root: Path, clips: dict[str, list[tuple[str, str]]], fold: int = 1, num_frames: int = 3
) -> Path:
    """``root/hmdb51_org/<class>/<video>.avi`` and ``root/testTrainMulti_7030_splits`` next
    to it; ``clips[class]`` lists (video file name, tag), tag "1" train, "2" test, "0" unused."""
    videos = root / "hmdb51_org"
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True, exist_ok=True)
    for label, entries in clips.items():
        for name, _ in entries:
            write_video(videos / label / name, num_frames)
        lines = [f"{name} {tag} " for name, tag in entries]
        (splits / f"{label}_test_split{fold}.txt").write_text("\n".join(lines) + "\n")
    return videos


def build_ucf101(
    root: Path,
    classes: Sequence[str],
    train_entries: Sequence[str],
    test_entries: Sequence[str],
    test_labels: bool,
    num_frames: int = 3,
) -> Path:
    """``root/UCF-101/<Class>/<file>.avi`` for every entry and ``root/ucfTrainTestlist`` with
    classInd.txt, trainlist01.txt (labelled) and testlist01.txt (labelled if asked)."""
    videos = root / "UCF-101"
    for entry in [*train_entries, *test_entries]:
        write_video(videos / entry, num_frames)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    number = {name: index for index, name in enumerate(classes, start=1)}
    (lists / "classInd.txt").write_text("".join(f"{number[c]} {c}\r\n" for c in classes))

    def line(entry: str, labelled: bool) -> str:
        return f"{entry} {number[entry.split('/')[0]]}" if labelled else entry

    (lists / "trainlist01.txt").write_text("\r\n".join(line(e, True) for e in train_entries))
    (lists / "testlist01.txt").write_text("\n".join(line(e, test_labels) for e in test_entries))
    return videos


def build_jester(root: Path, rows: dict[str, tuple[str, int]], split: str = "train") -> Path:
    """``root/20bn-jester-v1/<id>/00001.jpg`` .. and ``root/jester-v1-<split>.csv``
    (``id;label``, no header); ``rows[id]`` is (label, frames)."""
    for video_id, (_, num_frames) in rows.items():
        write_frames(root / "20bn-jester-v1" / video_id, num_frames, "{:05d}.jpg", first=1)
    lines = [f"{video_id};{label}" for video_id, (label, _) in rows.items()]
    (root / f"jester-v1-{split}.csv").write_text("\n".join(lines) + "\n")
    return root
