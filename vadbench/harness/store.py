"""The run folder as the harness writes it: the layout of ``vadbench.sdk.runfolder``, with every
path checked to lie inside the folder, the completion markers a re-run trusts, and the lock that
keeps two runs from writing one folder. A stored file that cannot be read back (a damaged JSON
file, a checkpoint or scores whose checksum no longer matches) is reported with a
``DamagedResultWarning`` and treated as missing, so the work that made it is done again instead
of the run stopping.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from vadbench.harness.records import (
    CalibrationRecord,
    CellState,
    EfficiencyRecord,
    FailureRecord,
    FitRecord,
    Record,
    ResultRecord,
)
from vadbench.sdk.contracts import ConfigError, VadbenchError
from vadbench.sdk.files import (
    TEMPORARY_SUFFIX,
    atomic_write_json,
    folder_checksums,
    read_record,
    report_damaged,
)
from vadbench.sdk.runfolder import FIT_MARKER, RunFolder, read_checked_scores, scores_intact
from vadbench.sdk.workers import LOCK_TOKEN_ENVIRONMENT

if TYPE_CHECKING:
    from vadbench.harness.planning import Cell

R = TypeVar("R", bound=Record)

try:
    import fcntl
except ImportError:  # pragma: no cover - platforms without flock run unlocked
    fcntl = None  # type: ignore[assignment]


def read_typed(path: Path, kind: type[R]) -> R | None:
    """A record read and validated, or None when absent or damaged (with a warning)."""
    raw = read_record(path)
    if raw is None:
        return None
    try:
        return kind.model_validate(raw)
    except ValidationError as error:
        problems = error.errors()
        missing = [str(p["loc"][0]) for p in problems if p["type"] == "missing" and p["loc"]]
        if missing:
            report_damaged(path, f"no {', '.join(missing)}")
        else:
            where = ".".join(str(part) for part in problems[0]["loc"]) or "(top level)"
            report_damaged(path, f"{where}: {problems[0]['msg']}")
        return None


class RunFolderBusy(VadbenchError):
    """Another vadbench run is writing the run folder."""

    exit_code = 3


class RunStore(RunFolder):
    """The run folder: every path in it, its completion markers, and its lock."""

    def __init__(self, root: Path, confined: bool = True) -> None:
        super().__init__(root)
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

    def record_file(self, kind: type[Record], cell_id: str, target: str | None = None) -> Path:
        """Where a record of ``kind`` lives: in the cell's folder, or its target's."""
        if kind is FitRecord:
            return self.fit_marker(self.checkpoint_dir(cell_id))
        folder = self.cell_dir(cell_id) if target is None else self.target_dir(cell_id, target)
        return folder / kind.FILE

    def read(self, kind: type[R], cell_id: str, target: str | None = None) -> R | None:
        """A stored record, or None when absent or damaged (with a warning)."""
        return read_typed(self.record_file(kind, cell_id, target), kind)

    def write(self, record: Record, cell_id: str, target: str | None = None) -> None:
        atomic_write_json(self.record_file(type(record), cell_id, target), record.to_json())

    def remove(self, kind: type[Record], cell_id: str, target: str | None = None) -> None:
        self.record_file(kind, cell_id, target).unlink(missing_ok=True)

    def finished_checkpoint(self, cell_id: str, cell_hash: str) -> bool:
        """True for a complete checkpoint of this cell whose files match their checksums."""
        folder = self.checkpoint_dir(cell_id)
        marker = self.read(FitRecord, cell_id)
        if marker is None or marker.hash != cell_hash:
            return False
        if marker.files is None:  # written before checkpoints carried checksums
            return True
        found = {name: sha for name, sha in folder_checksums(folder).items() if name != FIT_MARKER}
        if found != marker.files:
            report_damaged(folder, "its files do not match the checksums in fit.json")
            return False
        return True

    def cell_state(self, cell: Cell, score_precision: str, precision: str) -> CellState:
        """Everything one walk of ``cell`` needs to know of its folder, in one pass: records of
        other hashes count as absent. Stored scores are read for the targets that still need
        evaluating, and for the calibration's target while the cell has no calibration scored
        at ``score_precision`` (a record without one was scored at ``precision``)."""
        state = CellState(checkpoint=self.finished_checkpoint(cell.id, cell.hash))
        checkpoint = self.checkpoint_dir(cell.id)
        state.repair_checkpoint = not state.checkpoint and os.path.lexists(checkpoint)
        efficiency = self.read(EfficiencyRecord, cell.id)
        state.efficiency = efficiency if efficiency and efficiency.hash == cell.hash else None
        calibration = self.read(CalibrationRecord, cell.id)
        if (
            calibration is not None
            and calibration.hash == cell.hash
            and (calibration.score_precision or precision) == score_precision
        ):
            state.calibration = calibration
        for target in cell.targets:
            result = self.read(ResultRecord, cell.id, target.key)
            if (
                result is not None
                and result.hash == target.hash
                and scores_intact(self.scores_file(cell.id, target.key))
            ):
                state.results[target.key] = result
            calibrates = state.calibration is None and target == cell.calibration_target
            if target.key in state.results and not calibrates:
                continue
            scores = read_checked_scores(self.scores_file(cell.id, target.key))
            if scores is not None and scores.hash == target.scores_hash:
                state.scores[target.key] = scores
        return state

    def finished(self, cell: Cell) -> bool:
        """Whether every target of the cell has its result for its present hash."""
        results = [(self.read(ResultRecord, cell.id, t.key), t) for t in cell.targets]
        return all(
            record is not None
            and record.hash == target.hash
            and scores_intact(self.scores_file(cell.id, target.key))
            for record, target in results
        )

    def failed(self, cell: Cell) -> bool:
        """Whether the latest attempt at the cell's present content recorded a failure, in the
        cell or one of its targets (records of other versions are stale)."""
        records = [(None, cell.hash)] + [(target.key, target.hash) for target in cell.targets]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = [
                (self.read(FailureRecord, cell.id, key), expected) for key, expected in records
            ]
        return any(record is not None and record.hash == expected for record, expected in found)

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
        with (
            _lock_handle(self.lock_file) as handle,
            _lock_handle(self.workers_lock_file) as workers,
        ):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(handle)
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


def _lock_handle(path: Path) -> IO[str]:
    """A lock file opened for reading and writing, created if missing, never through a
    symbolic link: a link there could point anywhere, and writing the lock would write there."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ConfigError(
                f"{path} is a symbolic link; vadbench keeps its lock files as plain files in "
                "the run folder and never writes through a link (remove it)"
            ) from None
        raise
    return os.fdopen(descriptor, "r+")


def _lock_holder(handle: IO[str]) -> dict[str, Any]:
    """Who holds the folder, as the holder wrote it into the lock file."""
    try:
        handle.seek(0)
        holder = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: Mapping[str, Any]) -> str:
    if not holder:
        return "unknown process"
    started = time.strftime("%H:%M:%S", time.localtime(float(holder.get("started", 0))))
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {started}"
