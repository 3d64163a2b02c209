"""Where runs write, and how: every file lands atomically, so a run killed at any point (SIGKILL
included) leaves either the old file or the new one, never half of one.

Layout of ``results/<run>/``::

    run.json                         config, plan hashes, versions, environment, invocations
    cells/<cell>/cell.json           what the cell is (model, preset, data, seed, hash)
    cells/<cell>/checkpoint/         the trained model; ``fit.json`` inside marks it complete
    cells/<cell>/efficiency.json     efficiency metrics of the inference module
    cells/<cell>/failure.json        present while the cell's last attempt failed
    cells/<cell>/calibration.json    raw anomaly scores of normal source frames (detect's
                                     threshold)
    cells/<cell>/targets/<t>/scores.npz   raw per-frame scores and labels, per video
    cells/<cell>/targets/<t>/scores.npz.sha256  its checksum, written after it
    cells/<cell>/targets/<t>/result.json  detection metrics; written last, marks the target done
    cells/<cell>/targets/<t>/examples.npz a few of the most anomalous frames, with the model's
                                     predictions of them (models that predict frames)
    cells/<cell>/checkpoint/figures/ pictures a model drew while training (PNG)
    .lock                            held (flock) by the run writing the folder
    .lock.workers                    held shared by that run and each worker process it starts

Only the store spells these paths, and every path it hands out is checked to lie inside the run
folder. A stored file that cannot be read back (a damaged JSON file, a checkpoint or scores whose
checksum no longer matches) is reported with a ``DamagedResultWarning`` and treated as missing,
so the work that made it is done again instead of the run stopping.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.api import ConfigError, MetricResult, VadbenchError

try:
    import fcntl
except ImportError:  # pragma: no cover - platforms without flock run unlocked
    fcntl = None  # type: ignore[assignment]

# Exported by a run that holds its folder's lock, so that the worker processes it starts
# (``run --only``) recognise the lock as their parent's.
LOCK_TOKEN_ENVIRONMENT = "VADBENCH_RUN_LOCK_TOKEN"
CHECKSUM_SUFFIX = ".sha256"
FIT_MARKER = "fit.json"
FIGURES_FOLDER = "figures"
# The run folder's layout version, in run.json: a reader refuses a folder of a newer one.
RUN_FORMAT = 1


class DamagedResultWarning(UserWarning):
    """A stored result could not be read back; it is recomputed."""


class RunFolderBusy(VadbenchError):
    """Another vadbench run is writing the run folder."""

    exit_code = 3


def _damaged(path: Path, why: str) -> None:
    warnings.warn(
        f"{path} is damaged ({why}); it counts as missing, and a run computes it again",
        DamagedResultWarning,
        2,
    )


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: setting the umask to read it is not safe while other threads create files.
FILE_MODE = 0o666 & ~_process_umask()


# The suffix of the hidden temporary files writes go through (``atomic_write_bytes``).
TEMPORARY_SUFFIX = ".tmp"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename over ``path``.
    The file gets the permissions a plain ``open`` would give (a temporary file is private), so
    others can read results, reports and figures where the umask lets them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, default=str) + "\n").encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_record(path: Path, required: Sequence[str] = ()) -> dict[str, Any] | None:
    """A JSON object the store wrote, or None when it is absent or damaged (with a warning):
    unreadable, not an object, or lacking one of the ``required`` keys."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        _damaged(path, f"{type(error).__name__}: {error}")
        return None
    if not isinstance(record, dict):
        _damaged(path, f"expected a JSON object, found {type(record).__name__}")
        return None
    missing = [key for key in required if key not in record]
    if missing:
        _damaged(path, f"no {', '.join(missing)}")
        return None
    return record


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by relative path: what a checkpoint is."""
    return {
        str(path.relative_to(folder)): file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write_scores(
    path: Path,
    video_ids: Sequence[str],
    scores: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    context_frames: int,
    score_kind: str,
    content_hash: str,
) -> None:
    """Store raw scores with full-length labels so any AUC can be recomputed later."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {
        "hash": np.array(content_hash),
        "video_ids": np.array(video_ids, dtype=str),
        "context_frames": np.array(context_frames),
        "score_kind": np.array(score_kind),
    }
    for index, (video_scores, video_labels) in enumerate(zip(scores, labels, strict=True)):
        arrays[f"scores_{index}"] = np.asarray(video_scores, dtype=np.float64)
        arrays[f"labels_{index}"] = np.asarray(video_labels, dtype=np.int8)
    np.savez_compressed(buffer, **arrays)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    atomic_write_bytes(checksum, (hashlib.sha256(data).hexdigest() + "\n").encode())


@dataclass(frozen=True)
class PredictionExamples:
    """A few frames of one target with a model's predictions of them and the absolute error
    between the two (the paper's difference maps): frames and predictions (k, H, W, 3) uint8,
    errors (k, H, W) in [0, 1], and where each frame comes from."""

    video_ids: tuple[str, ...]
    frame_indices: tuple[int, ...]
    labels: tuple[int, ...]
    scores: tuple[float, ...]
    frames: np.ndarray
    predictions: np.ndarray
    errors: np.ndarray


def write_examples(path: Path, examples: PredictionExamples) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        video_ids=np.array(examples.video_ids, dtype=str),
        frame_indices=np.array(examples.frame_indices, dtype=np.int64),
        labels=np.array(examples.labels, dtype=np.int8),
        scores=np.array(examples.scores, dtype=np.float64),
        frames=examples.frames,
        predictions=examples.predictions,
        errors=examples.errors.astype(np.float16),
    )
    atomic_write_bytes(path, buffer.getvalue())


def read_examples(path: Path) -> PredictionExamples | None:
    """Stored examples, or None when there are none or they cannot be read."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return PredictionExamples(
                tuple(str(v) for v in data["video_ids"]),
                tuple(int(i) for i in data["frame_indices"]),
                tuple(int(label) for label in data["labels"]),
                tuple(float(s) for s in data["scores"]),
                data["frames"],
                data["predictions"],
                data["errors"].astype(np.float32),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        _damaged(path, f"{type(error).__name__}: {error}")
        return None


def read_scores(path: Path) -> dict[str, Any]:
    """Inverse of write_scores: hash, video_ids, scores, labels, context_frames, score_kind."""
    with np.load(path, allow_pickle=False) as data:
        video_ids = [str(v) for v in data["video_ids"]]
        return {
            "hash": str(data["hash"]),
            "video_ids": video_ids,
            "scores": [data[f"scores_{i}"] for i in range(len(video_ids))],
            "labels": [data[f"labels_{i}"] for i in range(len(video_ids))],
            "context_frames": int(data["context_frames"]),
            "score_kind": str(data["score_kind"]),
        }


def read_checked_scores(path: Path) -> dict[str, Any] | None:
    """Stored scores, or None when absent or damaged (checksum, truncation), with a warning.

    Scores stored before checksums existed are read when they load cleanly.
    """
    if not path.is_file():
        return None
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    try:
        if checksum.is_file():
            expected = checksum.read_text().strip()
            if file_sha256(path) != expected:
                _damaged(path, "its checksum does not match")
                return None
        return read_scores(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        _damaged(path, f"{type(error).__name__}: {error}")
        return None


def metrics_to_json(results: Sequence[MetricResult]) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "value": r.value,
            "unit": r.unit,
            "higher_is_better": r.higher_is_better,
            "note": r.note,
            "footnote": r.footnote,
        }
        for r in results
    ]


def metrics_from_json(items: Sequence[Mapping[str, Any]]) -> list[MetricResult]:
    return [MetricResult(**item) for item in items]


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class RunStore:
    """The run folder: every path in it, its completion markers, and its lock."""

    def __init__(self, root: Path, confined: bool = True) -> None:
        self.root = root
        self.confined = confined
        self._resolved_root = root.resolve()

    def _inside(self, path: Path) -> Path:
        """``path`` itself, after checking that it cannot lead out of the run folder (a store
        opened only to read, ``confined=False``, follows links wherever they go)."""
        if not self.confined:
            return path
        resolved = path.resolve()
        if resolved != self._resolved_root and self._resolved_root not in resolved.parents:
            raise ConfigError(f"{path}: refusing to write outside the run folder {self.root}")
        return path

    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def workers_lock_file(self) -> Path:
        return self.root / ".lock.workers"

    def cell_dir(self, cell_id: str) -> Path:
        return self._inside(self.root / "cells" / cell_id)

    def checkpoint_dir(self, cell_id: str) -> Path:
        return self.cell_dir(cell_id) / "checkpoint"

    def check_format(self, run_record: Mapping[str, Any]) -> None:
        """Refuse a run folder that a newer vadbench laid out differently (run.json's format;
        folders from before formats were numbered are format 1)."""
        found = run_record.get("format", 1)
        if not isinstance(found, int) or found > RUN_FORMAT:
            raise ConfigError(
                f"{self.run_file} was written by a newer vadbench (run folder format {found!r}; "
                f"this one reads format {RUN_FORMAT} and older): upgrade vadbench, or give this "
                "run another --results-dir"
            )

    def cell_file(self, cell_id: str) -> Path:
        """What the cell is: model, options, sources, seed and its targets with their hashes."""
        return self.cell_dir(cell_id) / "cell.json"

    def failure_file(self, cell_id: str, target: str | None = None) -> Path:
        """Why the cell (``target`` None) or one of its targets failed, with the hash it had."""
        folder = self.cell_dir(cell_id) if target is None else self.target_dir(cell_id, target)
        return folder / "failure.json"

    def efficiency_file(self, cell_id: str) -> Path:
        return self.cell_dir(cell_id) / "efficiency.json"

    def calibration_file(self, cell_id: str) -> Path:
        """The cell's detection threshold, calibrated on normal source frames."""
        return self.cell_dir(cell_id) / "calibration.json"

    def examples_file(self, cell_id: str, target: str) -> Path:
        return self.target_dir(cell_id, target) / "examples.npz"

    def figures_dir(self, cell_id: str) -> Path:
        """Pictures the cell's model drew while training (``FitContext.checkpoint_dir/figures``)."""
        return self.checkpoint_dir(cell_id) / FIGURES_FOLDER

    def result_file(self, cell_id: str, target: str) -> Path:
        """A finished target's detection metrics; its hash marks it complete."""
        return self.target_dir(cell_id, target) / "result.json"

    def scores_file(self, cell_id: str, target: str) -> Path:
        return self.target_dir(cell_id, target) / "scores.npz"

    def fit_marker(self, folder: Path) -> Path:
        """Inside a (partial) checkpoint folder: the record that marks it complete."""
        return folder / FIT_MARKER

    def progress_file(self, cell_id: str) -> Path:
        """Where a worker process reports its cell's stage and steps for the driver to show."""
        return self.cell_dir(cell_id) / "progress.json"

    def target_dir(self, cell_id: str, target: str) -> Path:
        return self._inside(self.cell_dir(cell_id) / "targets" / target)

    def finished_checkpoint(self, cell_id: str, cell_hash: str) -> bool:
        """True for a complete checkpoint of this cell whose files match their checksums."""
        folder = self.checkpoint_dir(cell_id)
        marker = read_record(self.fit_marker(folder))
        if marker is None or marker.get("hash") != cell_hash:
            return False
        expected = marker.get("files")
        if expected is None:  # written before checkpoints carried checksums
            return True
        found = {name: sha for name, sha in folder_checksums(folder).items() if name != FIT_MARKER}
        if found != expected:
            _damaged(folder, "its files do not match the checksums in fit.json")
            return False
        return True

    def finished_target(self, cell_id: str, target: str, target_hash: str) -> bool:
        marker = read_record(self.result_file(cell_id, target))
        return marker is not None and marker.get("hash") == target_hash

    def finished_efficiency(self, cell_id: str, cell_hash: str, metric_names: list[str]) -> bool:
        stored = read_record(self.efficiency_file(cell_id))
        return (
            stored is not None
            and stored.get("hash") == cell_hash
            and stored.get("requested") == metric_names
        )

    def prepare(self) -> None:
        """Create the run folder, or say in one line why it cannot be written."""
        for parent in [self.root, *self.root.parents]:
            if parent.exists() and not parent.is_dir():
                raise ConfigError(f"{parent} is a file; the run folder {self.root} needs a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle, probe = tempfile.mkstemp(dir=self.root, prefix=".probe.")
            os.close(handle)
            os.unlink(probe)
        except OSError as error:
            why = error.strerror or str(error)
            raise ConfigError(f"{self.root}: cannot write the run folder ({why})") from error

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run folder for this process (and the workers it starts) while it writes.

        A second run on the same folder fails at once with RunFolderBusy. A worker started by
        the holder passes through, recognised by the token the holder exports, and holds the
        folder's worker lock (shared) while it runs, as the holder does: a run whose holder died
        (killed, its workers orphaned) cannot start while those workers still write.
        """
        self.prepare()
        if fcntl is None:
            yield
            return
        with self.lock_file.open("a+") as handle, self.workers_lock_file.open("a+") as workers:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._lock_holder()
                token = os.environ.get(LOCK_TOKEN_ENVIRONMENT)
                if not (token and holder.get("token") == token):
                    raise RunFolderBusy(
                        f"{self.root} is being written by another vadbench run "
                        f"({_describe(holder)}); wait for it to finish, or use another "
                        "--results-dir or name"
                    ) from None
                fcntl.flock(workers, fcntl.LOCK_SH)
                yield
                return
            try:
                fcntl.flock(workers, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunFolderBusy(
                    f"{self.root}: worker processes of an earlier run that was stopped are "
                    "still writing it; wait for them to end"
                ) from None
            self._remove_temporaries()
            fcntl.flock(workers, fcntl.LOCK_SH)
            token = uuid.uuid4().hex
            handle.seek(0)
            handle.truncate()
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
            handle.write(json.dumps({**holder, "token": token}))
            handle.flush()
            previous = os.environ.get(LOCK_TOKEN_ENVIRONMENT)
            os.environ[LOCK_TOKEN_ENVIRONMENT] = token
            try:
                yield
            finally:
                if previous is None:
                    os.environ.pop(LOCK_TOKEN_ENVIRONMENT, None)
                else:
                    os.environ[LOCK_TOKEN_ENVIRONMENT] = previous

    def _remove_temporaries(self) -> None:
        """Delete what writers killed mid-write left (their temporary files). Only a run that
        holds the folder with no earlier worker alive calls this: none of them is in use."""
        for temporary in self.root.rglob(f".*{TEMPORARY_SUFFIX}"):
            temporary.unlink(missing_ok=True)

    def _lock_holder(self) -> dict[str, Any]:
        try:
            holder = json.loads(self.lock_file.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) else {}


def _describe(holder: Mapping[str, Any]) -> str:
    if not holder:
        return "unknown process"
    started = time.strftime("%H:%M:%S", time.localtime(float(holder.get("started", 0))))
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {started}"
