"""The synthetic benchmark: determinism, exact labels, the cache's atomicity and self-repair,
domain differences, the dataset plugin through the frames loader, and the two commands."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from vadbench.sdk.contracts import CommandSpec, ConfigError, DatasetSpec
from vadbench_plugins.datasets import synthetic
from vadbench_plugins.datasets.synthetic import cache
from vadbench_plugins.datasets.synthetic.anomalies import ANOMALY_TYPES, anomaly_code
from vadbench_plugins.datasets.synthetic.cache import (
    MANIFEST,
    cache_key,
    default_cache_dir,
    domain_folder,
    ensure_domain,
    verify_domain,
)
from vadbench_plugins.datasets.synthetic.dataset import SyntheticDataset, SyntheticOptions
from vadbench_plugins.datasets.synthetic.domains import DOMAIN_NAMES, builtin_domains
from vadbench_plugins.datasets.synthetic.render import GeneratorParams, render_ti_clip, render_video

SMALL = GeneratorParams(
    resolution=32, frames_per_video=32, train_videos=2, test_videos=2, ti_videos=2
)
SMALL_ARGS = ["--resolution", "32", "--frames-per-video", "32", "--train-videos", "2"]
SMALL_ARGS += ["--test-videos", "2", "--ti-videos", "2"]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def hidden_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def stretches(flags: np.ndarray) -> list[np.ndarray]:
    """Frame indices of each run of consecutive True flags."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(int), [0]])))
    return [np.arange(start, stop) for start, stop in zip(edges[::2], edges[1::2], strict=True)]


def registered_datasets() -> dict[str, DatasetSpec]:
    specs: list[DatasetSpec] = []
    synthetic.vadbench_register_datasets(specs.append)
    return {spec.name: spec for spec in specs}


def registered_commands() -> dict[str, CommandSpec]:
    specs: list[CommandSpec] = []
    synthetic.vadbench_register_commands(specs.append)
    return {spec.name: spec for spec in specs}


def run_command(name: str, argv: list[str]) -> int:
    spec = registered_commands()[name]
    parser = argparse.ArgumentParser()
    spec.configure(parser)
    return spec.run(parser.parse_args(argv), None)


# --- determinism and cache keys -------------------------------------------------------------


def test_same_parameters_give_byte_identical_folders(tmp_path: Path) -> None:
    first = ensure_domain(tmp_path / "a", SMALL, "corridor")
    second = ensure_domain(tmp_path / "b", SMALL, "corridor")
    first_bytes, second_bytes = tree_bytes(first), tree_bytes(second)
    assert first_bytes == second_bytes
    assert any(name.startswith("training/frames/01/") for name in first_bytes)
    assert "testing/test_frame_mask/01.npy" in first_bytes
    assert "testing/test_pixel_mask/02.npy" in first_bytes
    assert "testing/test_anomaly_type/02.npy" in first_bytes

    video = render_video("corridor", SMALL, "test", 1)
    assert video.pixel_mask is not None
    assert np.array_equal(np.load(second / "testing/test_pixel_mask/02.npy"), video.pixel_mask)
    frame = np.asarray(Image.open(second / "testing/frames/02/031.png"))
    assert np.array_equal(frame, video.frames[31])


def test_a_changed_parameter_gives_a_new_key_and_other_data(tmp_path: Path) -> None:
    changes = {
        "seed": 1,
        "resolution": 48,
        "frames_per_video": 40,
        "train_videos": 3,
        "test_videos": 3,
        "ti_videos": 3,
        "anomaly_types": ("running", "parked"),
    }
    keys = {cache_key(SMALL)}
    for field, value in changes.items():
        keys.add(cache_key(GeneratorParams(**{**SMALL.as_dict(), field: value})))
    assert len(keys) == len(changes) + 1

    other_seed = GeneratorParams(**{**SMALL.as_dict(), "seed": 1})
    first = ensure_domain(tmp_path, SMALL, "plaza")
    second = ensure_domain(tmp_path, other_seed, "plaza")
    assert first != second and first.parent.parent == second.parent.parent == tmp_path
    assert (first / "training/frames/01/000.png").read_bytes() != (
        second / "training/frames/01/000.png"
    ).read_bytes()


def test_generator_version_is_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    before = cache_key(SMALL)
    monkeypatch.setattr(cache, "GENERATOR_VERSION", "next")
    assert cache_key(SMALL) != before


def test_default_cache_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "synthetic"
    monkeypatch.delenv("VADBENCH_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "vadbench" / "synthetic"


# --- labels, masks and anomaly types ---------------------------------------------------------


@pytest.mark.parametrize("frames_per_video", [80, 32])
def test_test_videos_mix_classes_and_labels_match_masks(frames_per_video: int) -> None:
    params = GeneratorParams(frames_per_video=frames_per_video)
    for domain in DOMAIN_NAMES:
        all_labels = []
        for index in range(params.test_videos):
            video = render_video(domain, params, "test", index)
            assert video.pixel_mask is not None and video.anomaly_type is not None
            assert video.frames.shape == (frames_per_video, 64, 64, 3)
            assert video.frames.dtype == np.uint8
            assert video.pixel_mask.shape == video.frames.shape[:3]
            labels = video.pixel_mask.reshape(frames_per_video, -1).max(axis=1)
            assert np.array_equal(video.labels, labels)
            assert np.array_equal(video.anomaly_type > 0, labels == 1)
            assert 0.25 <= labels.mean() <= 0.80, (domain, index, labels.mean())
            all_labels.append(labels)
        assert set(np.concatenate(all_labels)) == {0, 1}


def test_training_videos_have_no_anomaly_data(tmp_path: Path) -> None:
    for domain in DOMAIN_NAMES:
        video = render_video(domain, SMALL, "train", 0)
        assert video.pixel_mask is None and video.anomaly_type is None and video.labels is None
    folder = ensure_domain(tmp_path, SMALL, "night")
    assert sorted(p.name for p in (folder / "training").iterdir()) == ["frames"]


def test_default_test_split_covers_anomaly_types_per_domain() -> None:
    params = GeneratorParams()
    for domain in DOMAIN_NAMES:
        seen = set()
        for index in range(params.test_videos):
            types = render_video(domain, params, "test", index).anomaly_type
            assert types is not None
            seen |= {ANOMALY_TYPES[code - 1] for code in np.unique(types) if code}
        assert len(seen) >= 7, (domain, sorted(seen))


def test_only_the_chosen_anomaly_types_appear_and_parked_objects_never_move() -> None:
    params = GeneratorParams(frames_per_video=48, test_videos=3, anomaly_types=("parked",))
    for domain in DOMAIN_NAMES:
        for index in range(params.test_videos):
            video = render_video(domain, params, "test", index)
            assert video.pixel_mask is not None and video.anomaly_type is not None
            assert set(np.unique(video.anomaly_type)) == {0, anomaly_code("parked")}
            for event in stretches(video.anomaly_type > 0):
                masks = video.pixel_mask[event]
                assert (masks == masks[0]).all(), "a parked object moved"


def test_moving_anomalies_do_move() -> None:
    params = GeneratorParams(frames_per_video=48, test_videos=2, anomaly_types=("bicycle",))
    video = render_video("bridge", params, "test", 0)
    assert video.pixel_mask is not None
    masked = video.pixel_mask[video.labels == 1]
    assert not (masked == masked[0]).all()


# --- the cache repairs itself ----------------------------------------------------------------

KILLED_GENERATOR = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from vadbench_plugins.datasets.synthetic.cache import ensure_domain
    from vadbench_plugins.datasets.synthetic.render import GeneratorParams
    params = GeneratorParams(resolution=32, frames_per_video=32, train_videos=40, test_videos=2)
    ensure_domain(Path(sys.argv[1]), params, "campus")
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_leftover_of_a_killed_generator_is_removed_and_the_domain_rendered(
    tmp_path: Path,
) -> None:
    params = GeneratorParams(resolution=32, frames_per_video=32, train_videos=40, test_videos=2)
    target = domain_folder(tmp_path, params, "campus")
    child = subprocess.Popen([sys.executable, "-c", KILLED_GENERATOR, str(tmp_path)])
    deadline = time.monotonic() + 60
    while not list(target.parent.glob(".tmp.campus.*/training/frames/01/*.png")):
        assert child.poll() is None and time.monotonic() < deadline, "generator never started"
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not target.exists()
    assert [name.startswith(".tmp.campus.") for name in hidden_entries(target.parent)] == [True]

    folder = ensure_domain(tmp_path, params, "campus")
    assert folder == target and verify_domain(folder, params, "campus") is None
    assert hidden_entries(target.parent) == []
    assert len(list((folder / "training" / "frames").iterdir())) == 40


@pytest.mark.parametrize(
    "damage",
    [
        "delete_frame",
        "truncate_npy",
        "flip_byte_in_npy",
        "delete_manifest",
        "corrupt_manifest",
        "frame_a_link_out",
        "manifest_a_link_out",
    ],
)
def test_damaged_folder_is_detected_and_rendered_again(tmp_path: Path, damage: str) -> None:
    folder = ensure_domain(tmp_path, SMALL, "station")
    original = tree_bytes(folder)
    masks = folder / "testing" / "test_pixel_mask" / "02.npy"
    labels = folder / "testing" / "test_frame_mask" / "01.npy"
    if damage == "delete_frame":
        (folder / "testing" / "frames" / "01" / "017.png").unlink()
    elif damage == "truncate_npy":
        masks.write_bytes(masks.read_bytes()[:-100])
    elif damage == "flip_byte_in_npy":
        data = bytearray(labels.read_bytes())
        data[-1] ^= 1
        labels.write_bytes(bytes(data))
    elif damage == "delete_manifest":
        (folder / MANIFEST).unlink()
    elif damage.endswith("_a_link_out"):  # an identical copy outside, so only the link is wrong
        frame = "testing/frames/01/017.png"
        linked = folder / (MANIFEST if damage.startswith("manifest") else frame)
        outside = tmp_path / "outside"
        linked.rename(outside)
        linked.symlink_to(outside)
    else:
        (folder / MANIFEST).write_text("{not json")
    assert verify_domain(folder, SMALL, "station") is not None

    assert ensure_domain(tmp_path, SMALL, "station") == folder
    assert tree_bytes(folder) == original
    assert hidden_entries(folder.parent) == []


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from vadbench_plugins.datasets.synthetic.cache import write_domain
    from vadbench_plugins.datasets.synthetic.render import GeneratorParams
    folder, ready, go = (Path(a) for a in sys.argv[1:4])
    ready.touch()
    while not go.exists():
        time.sleep(0.002)
    params = GeneratorParams(resolution=32, frames_per_video=32, train_videos=4, test_videos=2)
    print(write_domain(folder, params, "street"))
    """
)


def test_two_processes_generating_the_same_domain_do_not_collide(tmp_path: Path) -> None:
    params = GeneratorParams(resolution=32, frames_per_video=32, train_videos=4, test_videos=2)
    folder = domain_folder(tmp_path, params, "street")
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(folder), str(tmp_path / f"ready{i}"), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    go.touch()
    outputs = sorted(racer.communicate(timeout=60)[0].strip() for racer in racers)
    assert [racer.returncode for racer in racers] == [0, 0]
    assert outputs == ["False", "True"]  # one rename won, the other copy was discarded
    assert verify_domain(folder, params, "street") is None
    assert hidden_entries(folder.parent) == []
    expected = render_video("street", params, "test", 1).labels
    assert np.array_equal(np.load(folder / "testing/test_frame_mask/02.npy"), expected)


# --- domains ----------------------------------------------------------------------------------


def frame_statistics(frames: np.ndarray) -> np.ndarray:
    """Mean R, G, B; colourfulness (max - min channel); temporal noise (median |frame step|)."""
    pixels = frames.astype(np.float32)
    colourfulness = (pixels.max(axis=-1) - pixels.min(axis=-1)).mean()
    noise = np.median(np.abs(np.diff(pixels, axis=0)))
    return np.array([*pixels.mean(axis=(0, 1, 2)), colourfulness, noise])


def test_domains_really_differ() -> None:
    assert len(DOMAIN_NAMES) >= 6
    stats = {d: frame_statistics(render_video(d, SMALL, "train", 0).frames) for d in DOMAIN_NAMES}
    for a in DOMAIN_NAMES:
        for b in DOMAIN_NAMES:
            if a < b:
                assert np.abs(stats[a] - stats[b]).max() > 8, (a, b, stats[a], stats[b])
    assert stats["street"][3] == 0  # the grayscale camera
    assert min(stats, key=lambda d: stats[d][:3].mean()) == "night"
    assert max(stats, key=lambda d: stats[d][4]) == "night"


def test_domains_differ_in_camera_crowd_and_routes() -> None:
    domains = builtin_domains().values()
    near_heights = {d.near_height for d in domains}
    densities = {d.density for d in domains}
    assert len(near_heights) >= 5 and len(densities) >= 5
    for domain in domains:
        assert any(path.one_way for path in domain.routes), domain.name
        assert domain.off_routes, domain.name
        for path in (*domain.routes, *domain.off_routes):
            for x, y in (path.points[0], path.points[-1]):
                outside = not (0 <= x <= 1 and 0 <= y <= 1)
                far_away = domain.scale_at(y) <= 0.15 * domain.near_height
                assert outside or far_away, f"{domain.name}: walkers pop up or vanish at {x, y}"


def test_ti_clips_are_large_figures_without_labels() -> None:
    clip = render_ti_clip(SMALL, 0)
    assert clip.labels is None and clip.frames.shape == (32, 32, 32, 3)
    assert not np.array_equal(clip.frames[0], clip.frames[8])
    assert not np.array_equal(render_ti_clip(SMALL, 1).frames, clip.frames)


# --- the dataset plugin through the frames loader --------------------------------------------


def test_dataset_plugin_opens_cheaply_and_reads_through_the_frames_loader(tmp_path: Path) -> None:
    spec = registered_datasets()["synthetic"]
    assert spec.options is SyntheticOptions
    options = SyntheticOptions.model_validate(
        {"domain": "street", "cache_dir": tmp_path, **SMALL.as_dict()}
    )
    dataset = spec.open(options)
    assert isinstance(dataset, SyntheticDataset)
    assert list(tmp_path.iterdir()) == []  # opening renders nothing

    train = dataset.source("train").videos()
    assert [v.id for v in train] == ["01", "02"]
    assert all(v.labels is None and not v.has_masks for v in train)
    test = dataset.source("test").videos()
    assert [v.num_frames for v in test] == [32, 32]
    for index, video in enumerate(test):
        rendered = render_video("street", SMALL, "test", index)
        frames = video.frames()
        assert np.array_equal(frames, rendered.frames)
        assert (frames[..., 0] == frames[..., 2]).all()  # grayscale domain, stored as RGB
        assert video.labels is not None and rendered.labels is not None
        assert np.array_equal(video.labels, rendered.labels)
        for t in range(video.num_frames):
            assert video.mask(t).any() == bool(video.labels[t])
        types = dataset.anomaly_types(video.id)
        assert ((types != "normal") == (video.labels == 1)).all()
        assert set(types) - {"normal"} <= set(ANOMALY_TYPES)

    fingerprint = dataset.fingerprint()
    assert fingerprint["generator_version"] and fingerprint["domain"] == "street"
    assert fingerprint["seed"] == 0 and fingerprint["key"] == cache_key(SMALL)
    reseeded = spec.open(options.model_copy(update={"seed": 5}))
    assert reseeded.fingerprint() != fingerprint


def test_ti_set_has_a_training_split_only(tmp_path: Path) -> None:
    spec = registered_datasets()["synthetic"]
    dataset = spec.open(
        SyntheticOptions.model_validate({"domain": "ti", "cache_dir": tmp_path, **SMALL.as_dict()})
    )
    videos = dataset.source("train").videos()
    assert len(videos) == 2 and videos[0].frames(0, 4).shape == (4, 32, 32, 3)
    with pytest.raises(ConfigError, match="no test split"):
        dataset.source("test")
    assert not (domain_folder(tmp_path, SMALL, "ti") / "testing").exists()


def test_options_reject_unknown_names_and_normalise_type_order() -> None:
    with pytest.raises(ValidationError, match="unknown domain"):
        SyntheticOptions.model_validate({"domain": "mars"})
    with pytest.raises(ValidationError, match="unknown anomaly types"):
        SyntheticOptions.model_validate({"anomaly_types": ["running", "dancing"]})
    with pytest.raises(ValidationError, match="at least one"):
        SyntheticOptions.model_validate({"anomaly_types": []})
    with pytest.raises(ValidationError, match="Extra inputs"):
        SyntheticOptions.model_validate({"anomaly_type": ["running"]})
    a = SyntheticOptions.model_validate({"anomaly_types": ["parked", "running"]})
    b = SyntheticOptions.model_validate({"anomaly_types": ["running", "parked"]})
    assert a.anomaly_types == b.anomaly_types == ("running", "parked")
    assert cache_key(a.generator_params()) == cache_key(b.generator_params())


# --- commands ---------------------------------------------------------------------------------


def test_synth_exports_frames_packaging_and_refuses_to_overwrite_other_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    assert run_command("synth", ["--domain", "bridge", "--out", str(out), *SMALL_ARGS]) == 0
    assert run_command("synth", ["--domain", "ti", "--out", str(out), *SMALL_ARGS]) == 0
    assert (out / "bridge/training/frames/02/031.png").is_file()
    assert (out / "bridge/testing/test_pixel_mask/02.npy").is_file()
    assert (out / "ti/training/frames/01/000.png").is_file()
    assert not (out / "ti/testing").exists()

    assert run_command("synth", ["--domain", "bridge", "--out", str(out), *SMALL_ARGS]) == 0
    assert "already holds this export" in capsys.readouterr().out
    reseeded = ["--domain", "bridge", "--out", str(out), *SMALL_ARGS, "--seed", "3"]
    with pytest.raises(ConfigError, match="--force"):
        run_command("synth", reseeded)
    assert run_command("synth", [*reseeded, "--force"]) == 0
    params = GeneratorParams(**{**SMALL.as_dict(), "seed": 3})
    assert verify_domain(out / "bridge", params, "bridge") is None
    with pytest.raises(ConfigError, match="--resolution"):
        run_command("synth", ["--domain", "bridge", "--out", str(out), "--resolution", "8"])


def test_synth_preview_writes_small_contact_sheets(tmp_path: Path) -> None:
    argv = ["--domain", "all", "--out", str(tmp_path), *SMALL_ARGS, "--test-videos", "3"]
    assert run_command("synth-preview", argv) == 0
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted([*DOMAIN_NAMES, "ti"])
    for path in tmp_path.glob("*.png"):
        assert path.stat().st_size < 200_000
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        assert pixels.shape[1] == 5 * 128 and pixels.shape[0] >= 128
        outline = (pixels == (255, 0, 255)).all(axis=-1)
        assert outline.any() == (path.stem != "ti"), path.name


def test_a_cache_folder_that_cannot_be_written_is_one_configuration_error(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    matrix = tmp_path / "m.yaml"
    matrix.write_text(
        "datasets:\n  campus: {plugin: synthetic, options: {domain: campus}}\n"
        "models:\n  fd: {plugin: framediff}\nmatrix:\n  - train: campus\n    test: [campus]\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "vadbench", "run", str(matrix), "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "VADBENCH_CACHE": str(blocker / "cache"), "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "cache folder" in result.stdout and "set VADBENCH_CACHE to a writable folder" in (
        result.stdout
    )
    assert not (tmp_path / "m").exists()  # nothing planned, nothing written
