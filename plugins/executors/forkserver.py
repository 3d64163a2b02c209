"""Warm cell processes for the ``processes`` executor: one server process imports what every cell
needs (torch, vadbench, the plugins) once, then forks a process per cell.

A fresh interpreter spends 3-5 s importing before a cell's first step, a tenth of a small cell;
a fork of the server starts in milliseconds. Each cell still runs alone in its own process, so a
crash costs that cell only, and nothing a cell does reaches the next one. The server is a plain
subprocess (``python -m vadbench_plugins.executors.forkserver MODULE...``) talking over its
standard streams, not multiprocessing's forkserver, which re-imports the driver's ``__main__``
in every child and so breaks scripts without a main guard.

Protocol: the driver writes one JSON request per line on the server's stdin (``key``, ``command``:
``-m MODULE ARGS`` as ``python`` would take them, ``cwd``, ``environment``, ``output``); the fork
runs the module as ``__main__`` and the server answers ``KEY EXITCODE`` on its stdout when that
cell's process ends (a negative code is the signal that ended it, as ``subprocess`` reports). The
server never touches a GPU, so its forks may. End of stdin ends the server once its cells end."""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import os
import runpy
import select
import signal
import subprocess
import sys
import threading
import traceback
from concurrent.futures import Future
from typing import IO, Any

from .remote import DRIVER_PROCESS_SETTINGS, CellRequest

POLL_SECONDS = 0.05


class ServerStopped(RuntimeError):
    """The server ended before it reported a cell's end; ``started``: whether it had the cell
    (which, orphaned, may still be running) or was gone before."""

    def __init__(self, message: str, started: bool) -> None:
        super().__init__(message)
        self.started = started


class ForkServer:
    """The driver's handle on a running server: ``run`` blocks until its cell's process ends.
    Safe to call from several threads at once."""

    def __init__(self, preload: list[str]) -> None:
        self._server = subprocess.Popen(
            [sys.executable, "-m", __name__, *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._keys = itertools.count()
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[int]] = {}
        self._stopped = False  # set, under the lock, once the server's replies have ended
        self._reader = threading.Thread(target=self._read_exit_codes, daemon=True)
        self._reader.start()

    def run(self, request: CellRequest, output: str) -> int:
        """Run one cell in a fork with its output written to the file ``output``; its exit code."""
        finished: Future[int] = Future()
        message = {
            "command": list(request.command),
            "cwd": request.cwd,
            "environment": request.environment,
            "output": output,
        }
        assert self._server.stdin is not None
        with self._lock:
            if self._stopped:
                raise ServerStopped("the cell fork server has stopped", started=False)
            key = next(self._keys)
            self._waiting[key] = finished
            try:
                self._server.stdin.write(json.dumps({"key": key, **message}) + "\n")
                self._server.stdin.flush()
            except OSError as error:  # the server is gone; its reader has not noticed yet
                del self._waiting[key]
                raise ServerStopped(f"the cell fork server has stopped ({error})", False) from error
        return finished.result()

    def close(self) -> None:
        """End the server; cells still running finish first."""
        assert self._server.stdin is not None
        with self._lock, contextlib.suppress(OSError):  # a lost server's pipe is broken
            self._server.stdin.close()
        self._server.wait()
        self._reader.join()

    def _read_exit_codes(self) -> None:
        assert self._server.stdout is not None
        for line in self._server.stdout:
            key, code = (int(field) for field in line.split())
            with self._lock:
                self._waiting.pop(key).set_result(code)
        with self._lock:
            self._stopped = True
            for finished in self._waiting.values():
                finished.set_exception(
                    ServerStopped(
                        f"the cell fork server ended (exit code {self._server.wait()})",
                        started=True,
                    )
                )
            self._waiting.clear()


def _preload(modules: list[str]) -> None:
    """Import what cells will import. A module that fails here is left for the cell, which
    imports it again and reports the error where it belongs."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # the cell's own import reports it
            continue


def _become_cell(request: dict[str, Any], replies: IO[str]) -> None:
    """In the fork: the cell's output file, folder and environment, then the CLI; never returns."""
    code = 1
    try:
        os.close(replies.fileno())
        signal.signal(signal.SIGINT, signal.default_int_handler)
        descriptor = os.open(request["output"], os.O_WRONLY | os.O_APPEND)
        nothing = os.open(os.devnull, os.O_RDONLY)
        os.dup2(nothing, 0)
        os.dup2(descriptor, 1)
        os.dup2(descriptor, 2)
        os.close(nothing)
        os.close(descriptor)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        os.chdir(request["cwd"])
        for name in DRIVER_PROCESS_SETTINGS:
            os.environ.pop(name, None)
        os.environ.update(request["environment"])
        flag, module, *arguments = request["command"]
        if flag != "-m":
            raise ValueError(f"a cell command runs a module (-m MODULE ...), not {flag!r}")
        sys.argv = [module, *arguments]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # nothing is left to report it to
                stream.flush()
        os._exit(code)


def _serve(replies: IO[str]) -> None:
    """Fork a cell per request line on stdin; reply each one's exit code as it ends."""
    children: dict[int, int] = {}
    pending = b""
    reading = True
    while reading or children:
        if reading and select.select([0], [], [], POLL_SECONDS)[0]:
            data = os.read(0, 1 << 16)
            reading = bool(data)
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _become_cell(request, replies)
                children[pid] = request["key"]
        elif not reading:
            select.select([], [], [], POLL_SECONDS)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            replies.write(f"{children.pop(pid)} {os.waitstatus_to_exitcode(status)}\n")
            replies.flush()


def main() -> None:
    # Replies get their own copy of stdout; anything a preloaded module prints goes to stderr.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the cells and the driver
    _preload(sys.argv[1:])
    _serve(replies)
    replies.close()
    os._exit(0)  # tearing down the preloaded modules would only keep the driver waiting


if __name__ == "__main__":
    main()
