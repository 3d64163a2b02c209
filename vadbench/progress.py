"""Progress reporting: rich bars on a terminal, silence when output is a file or a pipe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


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


@contextmanager
def progress_for(console: Console) -> Iterator[RichProgress]:
    """Bars when ``console`` is a terminal, a silent reporter otherwise."""
    if not console.is_terminal:
        yield RichProgress(None)
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bars:
        yield RichProgress(bars)
