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
measured one after another in one run.

    python benchmarks/bench_training.py [--models zxvad,ffp,...] [--precision fp32,bf16]
        [--device cpu] [--preset cpu] [--threads 1] [--short 5] [--long 25] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from publish import publish
from torch.utils.flop_counter import FlopCounterMode

from vadbench.api import FitContext, TrainingBudget, VideoSource
from vadbench.environment import describe_environment
from vadbench.planning import open_matrix_dataset
from vadbench.plugins import load_plugins
from vadbench.precision import autocast_for

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


def conv_peak(threads: int, device: str = "cpu") -> float:
    """GFLOP/s of a 3×3 convolution (64 → 64 channels, 64×64, batch 8, fp32), the kind of
    layer these networks spend their time in, at this thread count."""
    torch.set_num_threads(threads)
    layer = torch.nn.Conv2d(64, 64, 3, padding=1).to(device)
    frames = torch.randn(8, 64, 64, 64, device=device)
    flop = 2 * 8 * 64 * 64 * 64 * 64 * 9
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--precision", default="fp32", help="one or several: fp32,bf16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--short", type=int, default=5)
    parser.add_argument("--long", type=int, default=25)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_plugins()
    source = open_matrix_dataset(QUICKSTART, "campus", registry).source("train")
    aux = open_matrix_dataset(QUICKSTART, "ti", registry).source("train")
    precisions = args.precision.split(",")
    peak = conv_peak(args.threads, args.device)
    rows = []
    for name in args.models.split(","):
        for precision in precisions:
            setting = Setting(args.device, args.preset, precision)
            rate = fit(name, args.long, source, aux, setting, count=False)
            flop_short = fit(name, args.short, source, aux, setting, count=True)
            flop_long = fit(name, args.long, source, aux, setting, count=True)
            per_step = (flop_long - flop_short) / (args.long - args.short)
            achieved = per_step * rate / 1e9
            rows.append((name, precision, rate, per_step / 1e9, achieved, achieved / peak))
            print(
                f"{name:6} {precision:5} {rate:6.2f} steps/s  {per_step / 1e9:6.2f} GFLOP/step  "
                f"{achieved:6.1f} GFLOP/s  {achieved / peak:5.1%} of the conv peak",
                flush=True,
            )
    lines = [
        f"# Training throughput at the {args.preset} presets",
        "",
        f"Hardware: {hardware(args.device)}; torch {torch.__version__}, {args.threads} CPU "
        f"thread(s); {args.preset} presets on {args.device}. Command: `python "
        f"benchmarks/bench_training.py --models {args.models} --precision {args.precision} "
        f"--device {args.device} --preset {args.preset} --threads {args.threads} "
        f"--short {args.short} --long {args.long}`",
        "",
        f"Convolution peak (3×3, 64→64 channels, 64×64, batch 8, fp32, {args.device}): "
        f"{peak:.1f} GFLOP/s.",
        "",
        "| model | precision | steps/s | GFLOP/step | GFLOP/s | of the conv peak |",
        "|---|---|---|---|---|---|",
        *(
            f"| {n} | {p} | {r:.2f} | {f:.2f} | {a:.1f} | {share:.0%} |"
            for n, p, r, f, a, share in rows
        ),
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
