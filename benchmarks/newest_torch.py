"""vadbench on the newest torch: a fresh virtual environment, the newest torch release from the
package index, the project installed into it from a clean clone of HEAD, then the quickstart and
the whole test suite, each timed; the result goes to benchmarks/results/newest_torch.md.

    python benchmarks/newest_torch.py [--torch 2.15.0] [--workdir /tmp/newest-torch]

The newest wheels on the index are CUDA builds of about 3 GB (they run on a CPU too), so this
runs in its own environment and never touches the one CI uses. Where pip's own configuration
caps torch (a constraints file naming the releases on a machine's disk, as on this project's
machines), the installs run with ``PIP_CONFIG_FILE=/dev/null``, which lifts the cap for those
commands only; ``pip config list`` shows whether a cap is there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "newest_torch.md"


def newest_torch() -> str:
    """The newest torch release the index offers, as ``pip index versions`` lists it."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "torch"],
        capture_output=True, text=True, check=True, env=uncapped(),
    )  # fmt: skip
    found = re.search(r"torch \(([^)]+)\)", listing.stdout)
    if found is None:
        raise SystemExit(f"pip index versions torch printed no version:\n{listing.stdout}")
    return found.group(1)


def uncapped() -> dict[str, str]:
    """The environment with pip's configuration files left out (and so any torch cap): pip
    reads no configuration file when ``PIP_CONFIG_FILE`` names the null device."""
    return {**os.environ, "PIP_CONFIG_FILE": os.devnull}


def timed(step: str, command: list[str], log: Path, **kwargs: object) -> tuple[int, float, str]:
    """Run ``command``, its output appended to ``log``; (exit code, seconds, output)."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    with log.open("a") as stream:
        stream.write(
            f"\n===== {step}: {' '.join(command)} (exit {done.returncode}, {seconds:.0f} s)\n"
        )
        stream.write(output)
    print(f"{step}: exit {done.returncode} in {seconds:.0f} s", flush=True)
    return done.returncode, seconds, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch", help="the torch release (default: the newest on the index)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vadbench-newest-torch"))
    args = parser.parse_args()
    release = args.torch or newest_torch()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    log = args.workdir / "log.txt"
    source = args.workdir / "src"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(["git", "clone", "-q", str(ROOT), str(source)], check=True)
    venv = args.workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    steps: list[tuple[str, int, float, str]] = []

    def step(name: str, command: list[str], **kwargs: object) -> str:
        code, seconds, output = timed(name, command, log, **kwargs)
        steps.append((name, code, seconds, output))
        return output

    step("install torch", [python, "-m", "pip", "install", "-q", f"torch=={release}"],
         env=uncapped())  # fmt: skip
    step("install vadbench[dev]", [python, "-m", "pip", "install", "-q", "-e", ".[dev]"],
         cwd=source, env=uncapped())  # fmt: skip
    if any(code for _, code, _, _ in steps):  # nothing to run without the installs
        write_result(
            release,
            commit,
            steps,
            [
                "The install failed; its output:",
                "",
                "```",
                *steps[-1][3].splitlines()[-20:],
                "```",
                "",
            ],
        )
        sys.exit(1)
    versions = subprocess.run(
        [python, "-c", "import torch, json; print(json.dumps([torch.__version__, "
         "torch.version.cuda, torch.cuda.is_available()]))"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    torch_version, cuda, gpu = json.loads(versions)
    fresh = {**os.environ, "VADBENCH_CACHE": str(args.workdir / "cache"), "COLUMNS": "160"}
    quickstart = step(
        "quickstart",
        [str(venv / "bin" / "vadbench"), "run", "benchmarks/quickstart.yaml", "--results-dir",
         str(args.workdir / "results")],
        cwd=source, env=fresh,
    )  # fmt: skip
    tests = step("test suite", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                 cwd=source, env=fresh)  # fmt: skip
    summary = [line for line in tests.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    headline = [line for line in quickstart.splitlines() if "has the highest" in line]
    failed = [line for line in tests.splitlines() if line.startswith("FAILED")]
    write_result(
        release,
        commit,
        steps,
        [
            f"torch {torch_version} (CUDA build {cuda}; a GPU available: {gpu}).",
            "",
            "Test suite: "
            + (summary[-1].strip("= ") if summary else "no summary line (see the log)")
            + ".",
            "",
            "Quickstart's finding: "
            + (headline[0].strip().rstrip(".") if headline else "none printed")
            + ".",
            "",
            *(["Failed tests:", "", *(f"- `{line}`" for line in failed), ""] if failed else []),
        ],
    )
    sys.exit(max(code for _, code, _, _ in steps))


def write_result(
    release: str, commit: str, steps: list[tuple[str, int, float, str]], body: list[str]
) -> None:
    lines = [
        "# vadbench on the newest torch",
        "",
        f"Command: `python benchmarks/newest_torch.py --torch {release}` at {commit}, "
        f"{time.strftime('%Y-%m-%d')}: Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; a fresh virtual environment and "
        "synthetic-data cache, the project from a clean clone of that commit.",
        "",
        "| step | exit code | seconds |",
        "|---|---|---|",
        *(f"| {name} | {code} | {seconds:.0f} |" for name, code, seconds, _ in steps),
        "",
        *body,
    ]
    RESULT.write_text("\n".join(lines))
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
