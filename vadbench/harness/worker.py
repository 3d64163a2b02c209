"""Running one cell job: ``python -m vadbench.harness.worker JOB.json`` in a worker process
(what the ``processes``, ``dask`` and ``slurm`` executors start), or ``execute_job`` in this
process. Either way the job's plugins load, only its datasets open, its hashes are checked
against the plan, and the cell's stages run; the matrix file is never read.

Exit codes: 0 the cell is done, 1 it recorded a failure, 2 the job cannot run (a changed plugin
or dataset, a damaged job file), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from vadbench.harness.jobs import CellJob, execute_job
from vadbench.harness.store import RunStore
from vadbench.sdk.console import make_console, show_warnings_as_lines
from vadbench.sdk.contracts import ConfigError, VadbenchError
from vadbench.sdk.files import read_stored


def read_job(path: Path) -> CellJob:
    try:
        text = read_stored(path).decode()
    except OSError as error:
        raise ConfigError(
            f"{path}: cannot read the cell job ({error.strerror or error})"
        ) from error
    return CellJob.from_json(text, str(path))


def run_job(job: CellJob, where: Path | None = None, console: Console | None = None) -> int:
    """Run a job in this process, from the working folder it was planned in, holding its run
    folder as a worker of the run that planned it (or alone, when none holds it); the exit
    code of a worker."""
    console = console or make_console()
    with contextlib.chdir(job.cwd), RunStore(Path(job.run_dir)).locked():
        store = RunStore(Path(job.run_dir))
        outcome = execute_job(job, where or store.job_file(job.cell_id), console)
    return 1 if outcome.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    console = make_console()
    if len(arguments) != 1:
        console.print("usage: python -m vadbench.harness.worker JOB.json")
        return 2
    with warnings.catch_warnings():
        show_warnings_as_lines(console)
        try:
            path = Path(arguments[0]).absolute()
            return run_job(read_job(path), path, console)
        except VadbenchError as error:
            console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
            return error.exit_code
        except KeyboardInterrupt:
            console.print("interrupted: finished results are stored; run again to resume")
            return 130


if __name__ == "__main__":
    raise SystemExit(main())
