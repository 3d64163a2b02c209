"""Everything worth measuring when a GPU is at hand, in one run that writes one results file
named after the hardware:

1. the paper's Table 3 (``benchmarks/paper_table3.yaml``): parameters, storage, GMACs, FPS and
   energy of zxVAD, MPN and rGAN at the paper presets, beside the paper's numbers (zxVAD: 208.5
   FPS, 6.81 J per frame); FPS timed with CUDA events, energy from NVML through nvidia-ml-py (or
   pyJoules), the counter named in the notes;
2. a throughput sweep of the zxVAD paper preset over batch sizes and precisions (fp32, bf16);
3. training throughput of zxVAD at the paper preset (``bench_training.py``).

``--dry-run`` does the same on the CPU at the cpu preset, batch 1-2, fp32, with short timings,
so the tests run the whole script without a GPU; its file says so.

    bash benchmarks/gpu_check.sh [--dry-run] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from vadbench.commands.profile import (
    ProfileFile,
    profile_from_arguments,
    profile_markdown,
    read_profile_file,
    run_profile,
)
from vadbench.harness.environment import describe_environment
from vadbench.harness.plugins import load_plugins

HERE = Path(__file__).parent
TABLE3 = HERE / "paper_table3.yaml"


def hardware() -> str:
    environment = describe_environment()
    return ", ".join(environment["gpus"]) if environment["gpus"] else environment["cpu"]


def table3(device: str, dry: bool) -> tuple[str, ProfileFile]:
    """The paper's Table 3 as a profile run, with its reference numbers."""
    if dry:
        profile = profile_from_arguments(["zxvad:cpu"], device).model_copy(
            update={
                "name": "paper-table3 (dry run: zxvad cpu preset)",
                "metrics": ["params", "storage", "gmacs", "fps", "energy"],
                "metric_options": {
                    "fps": {"warmup": 1, "repeats": 2, "min_seconds": 0.05},
                    "energy": {"window_seconds": 0.2},
                },
            }
        )
    else:
        profile = read_profile_file(TABLE3).model_copy(
            update={
                "device": device,
                "metric_options": {
                    "fps": {"warmup": 10, "repeats": 5, "min_seconds": 1.0},
                    "energy": {"window_seconds": 10},
                },
            }
        )
    rows = run_profile(profile, load_plugins(), TABLE3)
    return profile_markdown(rows, profile), profile


def sweep(device: str, dry: bool) -> list[dict[str, Any]]:
    """zxVAD frames per second for each batch size and precision."""
    preset = "cpu" if dry else "paper"
    batches = (1, 2) if dry else (1, 8, 32, 64)
    precisions = ("fp32",) if dry else ("fp32", "bf16")
    timing = {"warmup": 1, "repeats": 2, "min_seconds": 0.05} if dry else {"min_seconds": 1.0}
    registry = load_plugins()
    found = []
    for precision in precisions:
        for batch in batches:
            profile = profile_from_arguments([f"zxvad:{preset}"], device).model_copy(
                update={
                    "metrics": ["fps"],
                    "metric_options": {"fps": {**timing, "batch": batch, "precision": precision}},
                }
            )
            (row,) = run_profile(profile, registry, Path("gpu_check"))
            (fps,) = row["metrics"]
            found.append(
                {"preset": preset, "batch": batch, "precision": precision, "fps": fps["value"]}
            )
            print(f"zxvad {preset} batch {batch} {precision}: {fps['value']:.1f} frames/s")
    return found


def training(device: str, dry: bool) -> str:
    """``bench_training.py`` for zxVAD, its table as printed."""
    argv = [
        sys.executable, str(HERE / "bench_training.py"), "--models", "zxvad",
        "--device", device, "--preset", "cpu" if dry else "paper",
        "--short", "2" if dry else "10", "--long", "6" if dry else "60",
        "--precision", "fp32" if dry else "fp32,bf16",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"bench_training.py failed ({done.returncode}):\n\n```\n{done.stderr[-2000:]}\n```"
    return done.stdout[done.stdout.index("# Training throughput") :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="on the CPU, tiny and quick")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA GPU here; --dry-run runs the script on the CPU")
    device = "cpu" if args.dry_run else "cuda"
    table, _ = table3(device, args.dry_run)
    speeds = sweep(device, args.dry_run)
    trained = training(device, args.dry_run)
    name = hardware()
    lines = [
        f"# GPU check on {name}" + (" (dry run on the CPU)" if args.dry_run else ""),
        "",
        f"Command: `bash benchmarks/gpu_check.sh{' --dry-run' if args.dry_run else ''}`; "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}.",
        "",
        table.replace("# ", "## Table 3: ", 1),
        "## Throughput sweep (zxVAD, model only)",
        "",
        "| preset | batch | precision | frames/s |",
        "|---|---|---|---|",
        *(f"| {s['preset']} | {s['batch']} | {s['precision']} | {s['fps']:.1f} |" for s in speeds),
        "",
        trained.replace("# ", "## ", 1),
    ]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"gpu_check_{'dry_' if args.dry_run else ''}{slug}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
