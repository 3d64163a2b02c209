"""Shipped benchmarks run by name: every matrix in ``benchmarks/`` is package data of the
built-in ``benchmarks`` plugin, ``vadbench list benchmarks`` shows them, and a wheel installed
into a fresh virtual environment (no clone beside it) runs the quickstart by name."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from vadbench.harness.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "plugins" / "benchmarks"


def test_every_benchmark_file_ships_as_a_link_to_the_repository_file() -> None:
    files = {path.name for path in (ROOT / "benchmarks").glob("*.yaml")}
    shipped = {path.name for path in SHIPPED.glob("*.yaml")}
    assert files == shipped
    for name in shipped:
        assert (SHIPPED / name).resolve() == (ROOT / "benchmarks" / name).resolve()


def test_the_registry_names_each_file_and_tells_matrices_from_profiles() -> None:
    benchmarks = load_plugins().benchmarks.items
    assert {"quickstart", "synthetic-standard", "paper-table3"} <= set(benchmarks)
    assert benchmarks["quickstart"].kind == "matrix"
    assert benchmarks["paper-table3"].kind == "profile"
    assert benchmarks["quickstart"].description.startswith("The quickstart")


def test_names_resolve_from_any_folder_and_mistakes_are_named(
    workspace: Path, vadbench_cli: CliRunner, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listing = vadbench_cli("list", "benchmarks", cwd=elsewhere)
    assert listing.returncode == 0
    assert "quickstart" in listing.stdout and "paper-table3" in listing.stdout

    typo = vadbench_cli("run", "quickstrat", cwd=elsewhere)
    assert typo.returncode == 2
    assert "no file 'quickstrat'" in typo.stdout and "did you mean 'quickstart'" in typo.stdout

    wrong_command = vadbench_cli("run", "paper-table3", cwd=elsewhere)
    assert wrong_command.returncode == 2
    assert "vadbench profile --config paper-table3" in wrong_command.stdout
    assert not (elsewhere / "results").exists()

    # an existing file of that name is read as the file, as before
    (workspace / "quickstart").write_text((workspace / "matrix.yaml").read_text())
    local = vadbench_cli("check", "quickstart")
    assert local.returncode == 0, local.stdout + local.stderr
    assert "data of quickstart" in local.stdout and "campus" not in local.stdout


def fresh_environment(folder: Path) -> Path:
    """A virtual environment without this checkout: its own site-packages first, then the
    running interpreter's third-party packages (torch and the rest, which a fresh install would
    download) through a plain path entry, which runs none of their .pth files, so the editable
    install of this checkout stays invisible."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    packages = Path(
        sysconfig.get_path("purelib", vars={"base": str(folder), "platbase": str(folder)})
    )
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (packages / "shared_packages.pth").write_text("\n".join(shared) + "\n")
    return folder / "bin"


@pytest.mark.usefixtures("one_torch_thread")
def test_a_wheel_in_a_fresh_environment_runs_the_quickstart_by_name(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("vadbench-*.whl")
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    binaries = fresh_environment(tmp_path / "venv")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(binaries / "python"), "install",
         "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr

    user = tmp_path / "user"
    user.mkdir()
    environment = {**os.environ, "COLUMNS": "200", "PYTHONPATH": ""}

    def vadbench(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binaries / "vadbench"), *args],
            cwd=user, capture_output=True, text=True, env=environment, timeout=900,
        )  # fmt: skip

    where = subprocess.run(
        [str(binaries / "python"), "-c", "import vadbench, vadbench_plugins; "
         "print(vadbench.__file__); print(vadbench_plugins.__file__)"],
        cwd=user, capture_output=True, text=True, env=environment,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(tmp_path / "venv")) for line in where.stdout.split())

    listing = vadbench("list", "benchmarks")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "quickstart" in listing.stdout and str(ROOT) not in listing.stdout

    # one optimiser step per model: this checks that the shipped file runs, not its AUCs
    run = vadbench("run", "quickstart", "--set", "budget.steps=1")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    leaderboard = (user / "results" / "quickstart" / "leaderboard.md").read_text()
    assert "zxvad (cpu)" in leaderboard and "4-shot" in leaderboard
    assert "zxvad (cpu) ← zoo:zxvad-cpu-campus-ti" in leaderboard  # the wheel ships the zoo
    assert "evaluation protocol ffp: per-video min-max normalisation" in leaderboard
