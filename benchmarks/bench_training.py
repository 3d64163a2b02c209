"""Training throughput of every model at its cpu preset: optimiser steps per second, the
floating-point work of one step (torch's own FLOP counter, forward and backward of every
network the step runs), and the achieved GFLOP/s as a fraction of a 3×3 convolution's peak
measured in the same run at the same thread count.

Steps per second come from a fit of ``--long`` steps on the quickstart's campus data (with its
task-irrelevant set as auxiliary data), timed between the ends of its steps as the model reports
them, so set-up (decoding, object pools) is left out. FLOP per step is the difference between a
``--short`` and a ``--long`` fit under ``FlopCounterMode``, divided by the steps between them.
On a GPU, steps are timed as the model reports them, without a synchronisation per step.
``--precision`` runs the fits under the harness's precision setting; several values are
measured one after another in one run. Each measurement runs in a fresh process; with
``--before REVISION``, the same measurement also runs on a git worktree of that revision,
model by model just before this checkout's, so that both come from one run on one machine.

    python benchmarks/bench_training.py [--models zxvad,ffp,...] [--precision fp32,bf16]
        [--device cpu] [--preset cpu] [--threads 1] [--short 5] [--long 25]
        [--before REVISION] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from publish import publish
from torch.utils.flop_counter import FlopCounterMode

from vadbench.harness.environment import describe_environment
from vadbench.harness.plugins import load_plugins
from vadbench.sdk.contracts import FitContext, TrainingBudget, VideoSource
from vadbench.sdk.precision import autocast_for

QUICKSTART = Path(__file__).with_name("quickstart.yaml")
MODELS = ("zxvad", "ffp", "mpn", "rgan")


class StepClock:
    """The Progress protocol, noting when each training step ends: steps per second over the
    steps alone, whatever the set-up before them costs."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        return lambda steps: self.ends.append(time.perf_counter())

    def rate(self, warmup: int = 2) -> float:
        """Steps per second after the first ``warmup`` steps (allocator and kernel warm-up)."""
        ends = self.ends[warmup:]
        if len(ends) < 2:
            raise SystemExit(f"too few steps timed ({len(self.ends)}); raise --long")
        return (len(ends) - 1) / (ends[-1] - ends[0])


@dataclass(frozen=True)
class Setting:
    """Where and how the fits run."""

    device: str
    preset: str
    precision: str


def fit(
    name: str, steps: int, source: VideoSource, aux: VideoSource, setting: Setting, count: bool
) -> float:
    """Steps per second of one fit of ``steps`` steps from scratch, or, with ``count``, the
    FLOP the whole fit did."""
    registry = load_plugins()
    spec = registry.models.get(name)
    torch.manual_seed(0)
    options = spec.options.model_validate(spec.presets[setting.preset])
    method = spec.create(options, setting.device)
    clock = StepClock()
    with tempfile.TemporaryDirectory() as scratch:
        context = FitContext(
            device=setting.device,
            seed=0,
            progress=clock,
            checkpoint_dir=Path(scratch),
            budget=TrainingBudget("steps", steps),
            precision=setting.precision,
        )
        with autocast_for(setting.device, setting.precision):
            if count:
                with FlopCounterMode(display=False) as counter:
                    method.fit(source, aux, context)
                return float(counter.get_total_flops())
            method.fit(source, aux, context)
            if setting.device.startswith("cuda"):
                torch.cuda.synchronize()
            return clock.rate()


PEAK_SHAPES = ((64, 64), (128, 32), (256, 16))  # (channels, side): batch 8, 3x3, in = out


def conv_peak(threads: int, device: str = "cpu") -> float:
    """The highest GFLOP/s of a 3×3 convolution (batch 8, fp32) over a few widths and both
    memory layouts, the kind of layer these networks spend their time in, at this thread
    count. One shape in one layout can understate it: 64 channels at 64×64 in the default
    layout reaches 60% of what the same layer does channels-last on this project's CPU."""
    torch.set_num_threads(threads)
    best = 0.0
    for channels, side in PEAK_SHAPES:
        for layout in (torch.contiguous_format, torch.channels_last):
            layer = torch.nn.Conv2d(channels, channels, 3, padding=1).to(device)
            layer = layer.to(memory_format=layout)  # type: ignore[call-overload]
            frames = torch.randn(8, channels, side, side, device=device)
            frames = frames.contiguous(memory_format=layout)
            flop = 2 * 8 * channels * channels * side * side * 9
            best = max(best, _conv_rate(layer, frames, flop, device))
    return best


def _conv_rate(layer: torch.nn.Module, frames: torch.Tensor, flop: int, device: str) -> float:
    with torch.inference_mode():
        for _ in range(3):
            layer(frames)
        rates = []
        for _ in range(5):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(5):
                layer(frames)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            rates.append(5 * flop / (time.perf_counter() - started) / 1e9)
    return statistics.median(rates)


def hardware(device: str) -> str:
    environment = describe_environment()
    if device.startswith("cuda") and environment["gpus"]:
        return ", ".join(environment["gpus"])
    return f"{environment['cpu']} ({platform.machine()})"


@dataclass(frozen=True)
class Row:
    """One model's throughput at one precision, with one version of the code."""

    model: str
    precision: str
    code: str
    rate: float
    gflop_per_step: float


def measure(name: str, precision: str, args: argparse.Namespace) -> tuple[float, float]:
    """Steps per second and GFLOP per step of one model at one precision, in this process."""
    registry = load_plugins()
    source = registry.open_matrix_dataset(QUICKSTART, "campus").source("train")
    aux = registry.open_matrix_dataset(QUICKSTART, "ti").source("train")
    setting = Setting(args.device, args.preset, precision)
    rate = fit(name, args.long, source, aux, setting, count=False)
    flop_short = fit(name, args.short, source, aux, setting, count=True)
    flop_long = fit(name, args.long, source, aux, setting, count=True)
    return rate, (flop_long - flop_short) / (args.long - args.short) / 1e9


def in_child(name: str, precision: str, args: argparse.Namespace, code: Path | None) -> str:
    """``measure`` in a fresh process, importing vadbench from ``code`` (a folder holding
    ``vadbench`` and ``vadbench_plugins``) or, without it, from this checkout."""
    command = [sys.executable, __file__, "--child", "--models", name, "--precision", precision]
    for flag in ("device", "preset", "threads", "short", "long"):
        command += [f"--{flag}", str(getattr(args, flag))]
    environment = {**os.environ}
    if code is not None:
        environment["PYTHONPATH"] = str(code)
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def checkout_of(revision: str) -> Iterator[Path]:
    """A worktree of ``revision``, as a folder to put first on PYTHONPATH."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="vadbench-before-") as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "--detach", str(tree), revision],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            (Path(scratch) / "path").mkdir()
            (Path(scratch) / "path" / "vadbench").symlink_to(tree / "vadbench")
            (Path(scratch) / "path" / "vadbench_plugins").symlink_to(tree / "plugins")
            yield Path(scratch) / "path"
        finally:
            subprocess.run(
                ["git", "-C", str(root), "worktree", "remove", "--force", str(tree)],
                check=False, capture_output=True,
            )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--precision", default="fp32", help="one or several: fp32,bf16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--short", type=int, default=5)
    parser.add_argument("--long", type=int, default=25)
    parser.add_argument("--before", metavar="REVISION", help="also measure this git revision")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models, precisions = args.models.split(","), args.precision.split(",")
    if args.child:
        rate, gflop = measure(models[0], precisions[0], args)
        print(json.dumps({"rate": rate, "gflop": gflop}))
        return
    peak = conv_peak(args.threads, args.device)
    rows = []
    with ExitStack() as stack:
        before = None if args.before is None else stack.enter_context(checkout_of(args.before))
        codes: list[tuple[str, Path | None]] = [("this checkout", None)]
        if before is not None:
            codes.insert(0, (f"before ({args.before})", before))
        for name in models:
            for precision in precisions:
                for label, code in codes:
                    result = json.loads(in_child(name, precision, args, code))
                    row = Row(name, precision, label, result["rate"], result["gflop"])
                    rows.append(row)
                    achieved = row.rate * row.gflop_per_step
                    print(
                        f"{name:6} {precision:5} {label:24} {row.rate:6.2f} steps/s  "
                        f"{row.gflop_per_step:6.2f} GFLOP/step  {achieved:6.1f} GFLOP/s  "
                        f"{achieved / peak:5.1%} of the conv peak",
                        flush=True,
                    )
    command = (
        f"python benchmarks/bench_training.py --models {args.models} --precision "
        f"{args.precision} --device {args.device} --preset {args.preset} --threads "
        f"{args.threads} --short {args.short} --long {args.long}"
        + (f" --before {args.before}" if args.before else "")
    )
    lines = [
        f"# Training throughput at the {args.preset} presets",
        "",
        f"Hardware: {hardware(args.device)}; torch {torch.__version__}, {args.threads} CPU "
        f"thread(s); {args.preset} presets on {args.device}. Command: `{command}`",
        "",
        f"Convolution peak (3×3, batch 8, fp32, {args.device}; the best of 64 channels at 64×64, "
        f"128 at 32×32 and 256 at 16×16, each in the default and the channels-last layout): "
        f"{peak:.1f} GFLOP/s.",
        "",
        *table(rows, peak),
    ]
    publish(lines, args.out)


def table(rows: list[Row], peak: float) -> list[str]:
    """The Markdown table; with a revision measured before, a column of speed-ups."""
    first: dict[tuple[str, str], float] = {}
    lines = [
        "| model | precision | code | steps/s | × | GFLOP/step | GFLOP/s | of the conv peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = first.setdefault((row.model, row.precision), row.rate)
        achieved = row.rate * row.gflop_per_step
        lines.append(
            f"| {row.model} | {row.precision} | {row.code} | {row.rate:.2f} | "
            f"{row.rate / baseline:.2f} | {row.gflop_per_step:.2f} | {achieved:.1f} | "
            f"{achieved / peak:.0%} |"
        )
    return lines


if __name__ == "__main__":
    main()
