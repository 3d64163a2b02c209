"""Progress reporting: rich bars on a terminal, silence when output is a file or a pipe, and,
for cells that run in other processes or on other machines, a progress file per cell that the
driver watches and shows (bars on a terminal, a status line every few seconds otherwise)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vadbench.sdk.files import atomic_write_json, read_stored


class RichProgress:
    """The Progress a model sees: ``task(description, total)`` returns an ``advance(n)``."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        if self._progress is None:
            return lambda steps: None
        task_id = self._progress.add_task(description, total=total)
        progress = self._progress

        def advance(steps: int) -> None:
            progress.advance(task_id, steps)
            if any(task.id == task_id and task.finished for task in progress.tasks):
                progress.remove_task(task_id)

        return advance


def progress_bars(console: Console) -> Progress:
    """One bar per task: description, bar, steps, time spent and left; gone when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


@contextmanager
def progress_for(console: Console) -> Iterator[RichProgress]:
    """Bars when ``console`` is a terminal, a silent reporter otherwise."""
    if not console.is_terminal:
        yield RichProgress(None)
        return
    bars = progress_bars(console)
    with bars:
        yield RichProgress(bars)


class FileProgress:
    """The Progress of a cell that runs in a worker: each task's description, steps done and
    total go to one JSON file (written atomically, at most every ``interval`` seconds and when a
    task starts or ends) in the results folder, which every node of a run shares."""

    def __init__(self, path: Path, interval: float = 0.5) -> None:
        self.path = path
        self.interval = interval

    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        started = time.time()
        state = {"done": 0, "written": 0.0}

        def write() -> None:
            now = time.time()
            state["written"] = now
            atomic_write_json(
                self.path,
                {
                    "stage": description,
                    "done": state["done"],
                    "total": total,
                    "started": started,
                    "updated": now,
                },
            )

        def advance(steps: int) -> None:
            state["done"] += steps
            finished = total is not None and state["done"] >= total
            if finished or time.time() - state["written"] >= self.interval:
                write()

        write()
        return advance


def describe_progress(record: Mapping[str, object], now: float) -> str:
    """``fit 120/300 (4.1/s, 44 s left)`` from a progress file's record; the bare stage while
    it has no steps to count."""
    stage, done, total = record.get("stage"), record.get("done"), record.get("total")
    started = record.get("started")
    if total is None and not done:
        return str(stage)
    text = f"{stage} {done}" + (f"/{total}" if total is not None else "")
    if isinstance(done, int) and isinstance(started, (int, float)) and done > 0:
        rate = done / max(now - started, 1e-6)
        text += f" ({rate:.1f}/s"
        if isinstance(total, int) and total > done:
            text += f", {(total - done) / rate:.0f} s left"
        text += ")"
    return text


# The first look at the progress files comes this soon: executors mark a cell the moment they
# launch it, so the driver can name every running cell well within the first seconds.
FIRST_LOOK_SECONDS = 0.3


class ProgressWatcher:
    """Shows the progress files of cells running elsewhere while an executor works: one bar per
    running cell on a terminal, else one ``progress:`` line every ``line_interval`` seconds
    naming each running cell's stage, steps, rate and time left."""

    def __init__(
        self,
        console: Console,
        files: Mapping[str, Path],
        poll: float = 1.0,
        line_interval: float = 5.0,
    ) -> None:
        self.console = console
        self.files = dict(files)
        self.poll = poll
        self.line_interval = line_interval
        self._stop = threading.Event()

    def running(self) -> dict[str, dict[str, object]]:
        """Cells whose progress file changed since the watcher started, with their records."""
        records = {}
        for cell_id, path in self.files.items():
            try:
                record = json.loads(read_stored(path))
            except (OSError, ValueError):
                continue
            updated = record.get("updated")
            if isinstance(updated, (int, float)) and updated >= self._started:
                records[cell_id] = record
        return records

    def __enter__(self) -> ProgressWatcher:
        self._started = time.time()
        self._thread = threading.Thread(target=self._watch, name="vadbench-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        if self.console.is_terminal:
            self._watch_with_bars()
            return
        last_line = 0.0
        said_waiting = False
        delay = FIRST_LOOK_SECONDS
        while not self._stop.wait(delay):
            delay = self.poll
            now = time.time()
            active = {
                cell: record
                for cell, record in self.running().items()
                if now - float(record.get("updated", 0.0)) < 3 * self.line_interval  # type: ignore[arg-type]
            }
            if not active and not said_waiting:
                self.console.print(
                    f"  progress: waiting for the first of {len(self.files)} cell(s) to start",
                    highlight=False,
                )
                said_waiting = True
            if active and now - last_line >= self.line_interval:
                parts = [f"{cell} {describe_progress(r, now)}" for cell, r in active.items()]
                self.console.print("  progress: " + "; ".join(parts), highlight=False)
                last_line = now

    def _watch_with_bars(self) -> None:
        bars = progress_bars(self.console)
        tasks: dict[tuple[str, object], TaskID] = {}
        delay = FIRST_LOOK_SECONDS
        with bars:
            while not self._stop.wait(delay):
                delay = self.poll
                for cell_id, record in self.running().items():
                    key = (cell_id, record.get("stage"))
                    total = record.get("total")
                    done = record.get("done")
                    if key not in tasks:
                        for old in [k for k in tasks if k[0] == cell_id]:
                            bars.remove_task(tasks.pop(old))
                        tasks[key] = bars.add_task(
                            f"{cell_id}: {record.get('stage')}",
                            total=total if isinstance(total, int) else None,
                        )
                    if isinstance(done, int):
                        bars.update(tasks[key], completed=done)
