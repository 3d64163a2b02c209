"""Outcomes that the corpus' one-command cases cannot show: concurrent runs on one folder, a
closed output pipe, a failure fixed between runs, and what leaderboards say about missing
numbers."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import labels
from tests.corpus_support import build_workspace, copy_workspace, error_line, run_cli
from vadbench.harness.store import RunStore
from vadbench.sdk.files import DamagedResultWarning, atomic_write_bytes
from vadbench.sdk.runfolder import StoredScores, read_checked_scores, write_scores

SLOW_MATRIX = """
name: tiny
plugins: [faulty.py]
datasets:
  a: {plugin: frames, options: {root: data/a}}
  b: {plugin: frames, options: {root: data/b}}
models:
  slow: {plugin: faulty, overrides: {mode: slow}}
  fd: {plugin: framediff, overrides: {image_size: 16}}
reporters: [markdown]
metrics: [micro_auc, macro_auc]
matrix:
  - train: a
    test: [a, b]
"""


def _vadbench(*args: str, cwd: Path, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vadbench", *args],
        cwd=cwd,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        **kwargs,
    )


def test_a_second_run_on_a_busy_folder_says_so_and_the_first_completes(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    (workspace / "matrix.yaml").write_text(SLOW_MATRIX)
    single = copy_workspace(workspace, tmp_path / "single")

    first = _vadbench("run", "matrix.yaml", cwd=workspace, stdout=subprocess.PIPE)
    lock = workspace / "results" / "tiny" / ".lock"
    deadline = time.monotonic() + 60
    while not (lock.is_file() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = _vadbench(
        "run", "matrix.yaml", cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    second_out, second_err = second.communicate(timeout=120)
    first_out, _ = first.communicate(timeout=300)

    assert first.returncode == 0, first_out
    assert second.returncode == 3, second_out + second_err
    lines = [line for line in (second_out + second_err).splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in second_err
    assert lines[0].startswith("error: ")
    assert "results/tiny is being written by another vadbench run (pid" in lines[0]
    assert f"pid {first.pid}" in lines[0]

    alone = run_cli("run", "matrix.yaml", cwd=single)
    assert alone.returncode == 0, alone.output
    board = (workspace / "results" / "tiny" / "leaderboard.md").read_text()
    assert board == (single / "results" / "tiny" / "leaderboard.md").read_text()
    assert "pending" not in board and "failed" not in board


def test_a_lock_held_by_another_process_is_named(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    run_dir = workspace / "results" / "tiny"
    run_dir.mkdir(parents=True)
    with (run_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write(json.dumps({"pid": 4242, "host": "elsewhere", "started": time.time()}))
        handle.flush()
        result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 3
    assert "pid 4242 on elsewhere" in error_line(result)
    assert {p.name for p in run_dir.iterdir()} <= {".lock", ".lock.workers"}
    assert run_cli("run", "matrix.yaml", cwd=workspace).returncode == 0


def test_a_run_holding_its_folder_deletes_what_killed_writers_left(tmp_path: Path) -> None:
    """A writer killed between creating its temporary file and renaming it leaves the file; the
    next run that holds the folder, with no earlier worker alive, deletes it."""
    store = RunStore(tmp_path / "run")
    kept = store.cell_dir("cell") / "result.json"
    atomic_write_bytes(kept, b"{}")
    left = store.cell_dir("cell") / ".progress.json.k1ll3d.tmp"
    left.write_text("{")
    with store.locked():
        assert not left.exists()
    assert kept.read_bytes() == b"{}"
    assert not list(store.root.rglob("*.tmp"))


@pytest.mark.parametrize("executor", ["local", "processes"])
def test_a_closed_output_pipe_does_not_stop_the_run(tmp_path: Path, executor: str) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    (workspace / "matrix.yaml").write_text(
        SLOW_MATRIX.replace("name: tiny\n", f"name: tiny\nexecutor: {executor}\n")
    )
    process = _vadbench(
        "run", "matrix.yaml", cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()  # like `| head -1`
    process.stdout.close()
    code = process.wait(timeout=300)
    error = process.stderr.read()
    assert code == 0, error
    assert "Traceback" not in error and "BrokenPipe" not in error
    board = (workspace / "results" / "tiny" / "leaderboard.md").read_text()
    assert "## slow: micro_auc" in board and "pending" not in board


def test_a_failure_fixed_later_leaves_no_stale_record(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    frame = workspace / "data" / "b" / "testing" / "frames" / "01" / "005.png"
    good = frame.read_bytes()
    frame.write_bytes(b"not a png")
    broken = run_cli("run", "matrix.yaml", cwd=workspace)
    assert broken.returncode == 1 and "cell(s) had failures" in broken.output

    frame.write_bytes(good)
    fixed = run_cli("run", "matrix.yaml", cwd=workspace)
    assert fixed.returncode == 0, fixed.output
    assert "had failures" not in fixed.output and "failed" not in fixed.output
    assert "## failures" not in (workspace / "results" / "tiny" / "leaderboard.md").read_text()


def test_debug_keeps_the_exit_code_and_adds_the_traceback(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    matrix = workspace / "matrix.yaml"
    matrix.write_text(matrix.read_text().replace("name: tiny\n", "name: tiny\nseedz: [1]\n"))
    result = run_cli("run", "matrix.yaml", "--debug", cwd=workspace)
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "seedz: unknown field" in result.stdout


def test_a_symlink_out_of_the_run_folder_is_refused(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (workspace / "results" / "tiny").mkdir(parents=True)
    (workspace / "results" / "tiny" / "cells").symlink_to(outside, target_is_directory=True)
    result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 2
    assert "refusing to write outside the run folder" in error_line(result)
    assert list(outside.iterdir()) == []


def test_targets_without_an_auc_show_n_a_and_why(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    normal_only = workspace / "data" / "b" / "testing" / "test_frame_mask" / "01.npy"
    np.save(normal_only, np.zeros(30, dtype=np.uint8))
    single_class = workspace / "data" / "a" / "testing" / "test_frame_mask" / "02.npy"
    np.save(single_class, labels(24, 0, 0))
    matrix = workspace / "matrix.yaml"
    matrix.write_text(matrix.read_text().replace("test: [a, b]", "test: [b]"))
    result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 0, result.output
    board = (workspace / "results" / "tiny" / "leaderboard.md").read_text()
    assert "nan" not in board
    assert "| fd | a | zero-shot | n/a |" in board
    assert "target has frames of only one class" in board

    matrix.write_text(matrix.read_text().replace("test: [b]", "test: [a]"))
    assert run_cli("run", "matrix.yaml", cwd=workspace).returncode == 0
    board = (workspace / "results" / "tiny" / "leaderboard.md").read_text()
    assert "1 single-class video(s) left out" in board


def test_missing_skip_leaves_videos_out_with_one_counted_warning(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    (workspace / "data" / "a" / "testing" / "frames" / "02" / "007.png").unlink()
    matrix = workspace / "matrix.yaml"
    matrix.write_text(matrix.read_text().replace("{root: data/a}", "{root: data/a, missing: skip}"))
    result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert warned and all("1 file the test split needs is missing" in w for w in warned)
    assert "02/007.png" in warned[0] and "left out, as missing: skip asks" in warned[0]
    stored = np.load(
        next((workspace / "results" / "tiny" / "cells").glob("fd__*/targets/a")) / "scores.npz"
    )
    assert [str(v) for v in stored["video_ids"]] == ["01"]


def test_orphaned_workers_of_a_stopped_run_keep_the_folder_busy(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    run_dir = workspace / "results" / "tiny"
    run_dir.mkdir(parents=True)
    with (run_dir / ".lock.workers").open("a+") as worker:  # as a worker whose parent died
        fcntl.flock(worker, fcntl.LOCK_SH | fcntl.LOCK_NB)
        result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 3
    assert "worker processes of an earlier run that was stopped" in error_line(result)
    assert run_cli("run", "matrix.yaml", cwd=workspace).returncode == 0


def test_yaml_anchors_and_merge_keys_load(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    matrix = workspace / "matrix.yaml"
    matrix.write_text(
        matrix.read_text().replace(
            "  fd: {plugin: framediff, overrides: {image_size: 16}}\n"
            "  fd2: {plugin: framediff, overrides: {context_frames: 2, image_size: 16}}\n",
            "  fd: &small {plugin: framediff, overrides: {image_size: 16}}\n"
            "  fd2: {<<: *small, preset: cpu}\n",
        )
    )
    result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 0, result.output
    cells = sorted(p.name.split("__")[0] for p in (workspace / "results/tiny/cells").iterdir())
    assert cells == ["fd", "fd2"]


def test_legacy_scores_with_damaged_compressed_data_count_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "scores.npz"
    scores = (np.linspace(0, 1, 399),)
    write_scores(path, StoredScores("h", ("01",), scores, (np.zeros(400, np.int8),), 1, "anomaly"))
    (tmp_path / "scores.npz.sha256").unlink()  # as written before checksums existed
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("scores_0.npy")
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack(
        "<HH", data[member.header_offset + 26 : member.header_offset + 30]
    )
    start = member.header_offset + 30 + name_length + extra_length
    data[start + member.compress_size // 2] ^= 0xFF  # inside the deflated bytes
    path.write_bytes(bytes(data))
    with pytest.warns(DamagedResultWarning, match="scores.npz is damaged"):
        assert read_checked_scores(path) is None


def test_data_roots_from_the_environment_and_from_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    matrix = workspace / "matrix.yaml"
    matrix.write_text(
        matrix.read_text()
        .replace("{root: data/a}", "{root: '${TINY_DATA}/a'}")
        .replace("{root: data/b}", "{root: '${TINY_ELSEWHERE:-data}/nowhere'}")
        .replace(
            "name: tiny\n", "name: tiny\nexecutor: processes\nexecutor_options: {workers: 1}\n"
        )
    )
    monkeypatch.setenv("TINY_DATA", str(workspace / "data"))
    monkeypatch.delenv("TINY_ELSEWHERE", raising=False)
    assert "data/nowhere does not exist" in error_line(
        run_cli("check", "matrix.yaml", cwd=workspace)
    )
    result = run_cli("run", "matrix.yaml", "--set", "datasets.b.options.root=data/b", cwd=workspace)
    assert result.returncode == 0, result.output
    run = json.loads((workspace / "results" / "tiny" / "run.json").read_text())
    assert run["config"]["datasets"]["a"]["options"]["root"] == f"{workspace}/data/a"
    assert run["config"]["datasets"]["b"]["options"]["root"] == "data/b"
    assert "pending" not in (workspace / "results" / "tiny" / "leaderboard.md").read_text()


def test_a_run_folder_of_a_newer_format_is_refused_by_run_and_report(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    assert run_cli("run", "matrix.yaml", cwd=workspace).returncode == 0
    run_file = workspace / "results" / "tiny" / "run.json"
    record = json.loads(run_file.read_text())
    assert record["format"] == 1
    run_file.write_text(json.dumps({**record, "format": 2}))
    for args in (("run", "matrix.yaml"), ("report", "results/tiny")):
        result = run_cli(*args, cwd=workspace)
        assert result.returncode == 2
        assert "written by a newer vadbench (run folder format 2" in result.stdout
    assert json.loads(run_file.read_text())["format"] == 2  # nothing rewritten


def test_results_get_the_permissions_a_plain_write_gives(tmp_path: Path) -> None:
    """Atomic writes go through a private temporary file; what lands must still be readable by
    whoever the umask allows (a lab-mate, a web server serving report.html)."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = tmp_path / "results" / "leaderboard.md"
    atomic_write_bytes(written, b"x")
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
