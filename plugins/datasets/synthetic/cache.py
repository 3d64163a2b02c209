"""Writing generated domains to disk in the FFP/MNAD packaging, atomically, and checking them.

::

    <cache>/<key>/<domain>/manifest.json                      written last: parameters, files
    <cache>/<key>/<domain>/training/frames/01/000.png ...
    <cache>/<key>/<domain>/testing/frames/01/000.png ...
    <cache>/<key>/<domain>/testing/test_frame_mask/01.npy     (T,) uint8 0/1
    <cache>/<key>/<domain>/testing/test_pixel_mask/01.npy     (T, H, W) uint8 0/1
    <cache>/<key>/<domain>/testing/test_anomaly_type/01.npy   (T,) uint8 code, 0 = normal
    <cache>/<key>/<domain>/testing/anomaly_types.json         code -> anomaly type name
    <cache>/<key>/ti/training/frames/01/000.png ...

``<key>`` hashes the generator parameters and GENERATOR_VERSION, so changed parameters never
meet stale data; a custom domain's folder is ``<name>-<digest>`` (a hash of its content), so an
edited domain never does either. A domain is rendered into a hidden temporary folder beside its
final place and renamed into place whole; the manifest lists every file with its size (and
SHA-256 for labels and masks). A folder whose files disagree with its manifest is moved aside,
deleted and rendered again, never read. Two processes rendering the same domain race
harmlessly: the first rename wins, the loser deletes its own copy.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vadbench.sdk import ConfigError, DataError, Split, read_stored

from .domains import (
    ANOMALY_TYPES,
    TI,
    Domain,
    as_domain,
    domain_digest,
    domain_identity,
    is_builtin,
)
from .render import (
    GENERATOR_VERSION,
    GeneratorParams,
    RenderedVideo,
    render_ti_clip,
    render_video,
)

MANIFEST = "manifest.json"
CACHE_ENVIRONMENT = "VADBENCH_CACHE"
STALE_AFTER_S = 24 * 3600  # a temporary folder of another host this old belongs to nobody
REGENERATE_ATTEMPTS = 3
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$VADBENCH_CACHE/synthetic`` when that variable is set, else ~/.cache/vadbench/synthetic."""
    root = os.environ.get(CACHE_ENVIRONMENT)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "vadbench"
    return base / "synthetic"


def writable_cache(folder: Path, from_environment: bool) -> None:
    """Refuse, when the dataset is opened (a configuration error, before any cell runs), a
    cache folder that could not be created or written: every cell of a run would fail on it.
    Nothing is created here: the nearest existing folder on its path must be writable."""
    environment = os.environ.get(CACHE_ENVIRONMENT)
    named = CACHE_ENVIRONMENT if from_environment and environment else "the option cache_dir"
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        problem = f"{existing} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    else:
        return
    raise ConfigError(
        f"the synthetic data's cache folder {folder} cannot be written ({problem}); set {named} "
        "to a writable folder"
    )


def cache_key(params: GeneratorParams) -> str:
    """A short hash of everything that decides the generated data."""
    payload = json.dumps(
        {"generator_version": GENERATOR_VERSION, **params.as_dict()}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


Subject = Domain | str  # a camera domain, a built-in's name, or TI


def folder_name(domain: Subject) -> str:
    """A built-in's name (or TI), or ``<name>-<digest>`` for a custom domain."""
    if domain == TI:
        return TI
    domain = as_domain(domain)
    return domain.name if is_builtin(domain) else f"{domain.name}-{domain_digest(domain)}"


def domain_folder(cache_dir: Path, params: GeneratorParams, domain: Subject) -> Path:
    return cache_dir / cache_key(params) / folder_name(domain)


def _sha256(path: Path) -> str:
    return hashlib.sha256(read_stored(path)).hexdigest()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _write_video(root: Path, split_folder: str, video_id: str, video: RenderedVideo) -> list[Path]:
    """Frames as PNG, and for test videos the label, mask and anomaly-type arrays."""
    frames_dir = root / split_folder / "frames" / video_id
    frames_dir.mkdir(parents=True)
    digits = max(3, len(str(len(video.frames) - 1)))
    written = []
    for index, frame in enumerate(video.frames):
        path = frames_dir / f"{index:0{digits}d}.png"
        Image.fromarray(frame).save(path, format="PNG", compress_level=1)
        written.append(path)
    if video.pixel_mask is None or video.anomaly_type is None or video.labels is None:
        return written
    arrays = {
        "test_frame_mask": video.labels,
        "test_pixel_mask": video.pixel_mask,
        "test_anomaly_type": video.anomaly_type,
    }
    for folder, array in arrays.items():
        path = root / split_folder / folder / f"{video_id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, array)
        written.append(path)
    return written


def _render_into(root: Path, params: GeneratorParams, domain: Subject) -> dict[str, dict[str, Any]]:
    """Render every video of ``domain`` under ``root``; returns the manifest's file table."""
    counts = (
        {"training": params.ti_videos}
        if domain == TI
        else {"training": params.train_videos, "testing": params.test_videos}
    )
    written: list[Path] = []
    for split_folder, count in counts.items():
        digits = max(2, len(str(count)))
        for index in range(count):
            if domain == TI:
                video = render_ti_clip(params, index)
            else:
                split: Split = "train" if split_folder == "training" else "test"
                video = render_video(domain, params, split, index)
            written += _write_video(root, split_folder, f"{index + 1:0{digits}d}", video)
    if domain != TI:
        legend = root / "testing" / "anomaly_types.json"
        names = {"0": "normal"} | {str(i + 1): name for i, name in enumerate(ANOMALY_TYPES)}
        legend.write_text(json.dumps(names, indent=1))
        written.append(legend)
    files = {}
    for path in written:
        entry: dict[str, Any] = {"size": path.stat().st_size}
        if path.suffix in (".npy", ".json"):
            entry["sha256"] = _sha256(path)
        files[path.relative_to(root).as_posix()] = entry
    return files


def _manifest_header(params: GeneratorParams, domain: Subject) -> dict[str, Any]:
    return {
        "generator": "vadbench synthetic",
        "generator_version": GENERATOR_VERSION,
        "key": cache_key(params),
        **domain_identity(domain),
        "params": params.as_dict(),
    }


def write_domain(folder: Path, params: GeneratorParams, domain: Subject) -> bool:
    """Render ``domain`` (a Domain, a built-in's name or "ti") to ``folder``, which must not
    hold a valid copy.

    Returns False when another process put its copy in place first (ours is then discarded).
    """
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    reap_leftovers(parent)
    temp = Path(tempfile.mkdtemp(prefix=f".tmp.{folder.name}.{_host()}.{os.getpid()}.", dir=parent))
    try:
        files = _render_into(temp, params, domain)
        manifest = {**_manifest_header(params, domain), "files": files}
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    try:
        os.rename(temp, folder)
    except OSError as error:
        shutil.rmtree(temp, ignore_errors=True)
        if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    return True


def verify_domain(folder: Path, params: GeneratorParams, domain: Subject) -> str | None:
    """None when ``folder`` is a complete copy made with ``params``; otherwise what is wrong."""
    try:
        manifest = json.loads(read_stored(folder / MANIFEST))
    except FileNotFoundError:
        return "it has no manifest (an interrupted or foreign write)"
    except (OSError, ValueError) as error:
        return f"its manifest is unreadable ({error})"
    try:
        header = {key: manifest[key] for key in _manifest_header(params, domain)}
        if header != _manifest_header(params, domain):
            return "its manifest names other generator parameters"
        files = manifest["files"]
        for relative, entry in files.items():
            path = folder / relative
            try:
                found = path.lstat()
            except FileNotFoundError:
                return f"{relative} is missing"
            if stat.S_ISLNK(found.st_mode):
                return f"{relative} is a symbolic link; the cache is never read through one"
            size = found.st_size
            if size != entry["size"]:
                return f"{relative} has {size} bytes, the manifest says {entry['size']}"
            if "sha256" in entry and _sha256(path) != entry["sha256"]:
                return f"{relative} does not match its SHA-256 in the manifest"
    except (KeyError, TypeError, AttributeError):
        return "its manifest is malformed"
    return None


def discard(folder: Path) -> None:
    """Move ``folder`` out of the way in one step, then delete it (safe if others race)."""
    trash = folder.with_name(f".trash.{folder.name}.{uuid.uuid4().hex[:8]}")
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_leftovers(parent: Path) -> None:
    """Delete what killed generators left in ``parent``: temporary folders of dead processes on
    this host (or of any host after a day) and half-deleted trash."""
    host = _host()
    for entry in parent.iterdir():
        if entry.name.startswith(".trash."):
            shutil.rmtree(entry, ignore_errors=True)
            continue
        if not entry.name.startswith(".tmp."):
            continue
        parts = entry.name.split(".")
        owner_dead = (
            len(parts) >= 6
            and parts[3] == host
            and parts[4].isdigit()
            and not _pid_alive(int(parts[4]))
        )
        try:
            old = time.time() - entry.stat().st_mtime > STALE_AFTER_S
        except FileNotFoundError:
            continue
        if owner_dead or old:
            shutil.rmtree(entry, ignore_errors=True)


def ensure_domain(cache_dir: Path, params: GeneratorParams, domain: Subject) -> Path:
    """The folder of a complete, verified copy of ``domain``, rendering it if needed."""
    folder = domain_folder(cache_dir, params, domain)
    problem = None
    for _ in range(REGENERATE_ATTEMPTS):
        if folder.exists():
            problem = verify_domain(folder, params, domain)
            if problem is None:
                return folder
            log.warning("synthetic data %s is damaged (%s); rendering it again", folder, problem)
            discard(folder)
        write_domain(folder, params, domain)
        problem = verify_domain(folder, params, domain)
        if problem is None:
            return folder
    raise DataError(f"{folder}: still invalid after rendering it again: {problem}")
