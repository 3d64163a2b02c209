"""Efficiency metrics of the module a model runs per test frame: parameters, storage, GMACs,
FPS and energy, measured the same way for every model plugin.

- GMACs come in three counts. ``gmacs`` is fvcore's count (one fused multiply-add = 1; it
  skips ops it cannot trace, which are recorded in the note). ``gmacs_dispatch`` is torch's
  ``FlopCounterMode`` at dispatch level, halved to MACs, with the arithmetic operations it has
  no formula for in the note. ``gmacs_paper`` follows the
  thop-style convention the zxVAD paper's Table 3 used: leaf modules counted by forward hooks,
  transposed convolutions per *output* element, bias and BatchNorm ops included, functional ops
  (matmul, einsum, elementwise) not counted. See docs/efficiency.md.
- FPS is model-only at batch 1 after warm-up, device synchronised, median over repeats with the
  spread (min-max) in the note.
- Energy reads a hardware counter over a window long enough for it, with idle power measured
  apart: NVML through nvidia-ml-py, Zeus (NVML or RAPL) or pyJoules (RAPL and NVML); the note
  names the counter. With no counter it is n/a with the reason; it is never estimated from TDP.
"""

from __future__ import annotations

import copy
import io
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Literal, Protocol

import torch
from pydantic import Field
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from vadbench.sdk import (
    EfficiencyInput,
    MetricResult,
    MetricSpec,
    NoOptions,
    Options,
    autocast_for,
    hookimpl,
)

FPS_WARMUP_RUNS = 2
FPS_REPEATS = 5
FPS_MIN_SECONDS_PER_REPEAT = 0.5
ENERGY_WINDOW_SECONDS = 2.0


def count_parameters(module: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable


def storage_megabytes(module: nn.Module) -> float:
    """Bytes of the saved inference weights (state dict as torch.save writes it), in MB."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return len(buffer.getvalue()) / 1e6


@contextmanager
def _quiet_fvcore() -> Iterator[None]:
    """fvcore warns on import and logs every op it skips; we record those ourselves."""
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def fvcore_gmacs(
    module: nn.Module, example: tuple[torch.Tensor, ...]
) -> tuple[float, dict[str, int]]:
    """fvcore's count in G(MACs) and the ops it skipped, by name and count."""
    with _quiet_fvcore():
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(module.eval(), example)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        with torch.no_grad():
            total = analysis.total()
        skipped = dict(analysis.unsupported_ops())
    return total / 1e9, skipped


def _conv_macs(layer: nn.modules.conv._ConvNd, output: torch.Tensor) -> int:
    per_output = layer.in_channels // layer.groups * int(torch.tensor(layer.kernel_size).prod())
    return output.numel() * (per_output + (1 if layer.bias is not None else 0))


PAPER_COUNTERS: dict[type[nn.Module], Callable[[Any, torch.Tensor, torch.Tensor], int]] = {
    nn.Conv1d: lambda m, x, y: _conv_macs(m, y),
    nn.Conv2d: lambda m, x, y: _conv_macs(m, y),
    nn.Conv3d: lambda m, x, y: _conv_macs(m, y),
    nn.ConvTranspose1d: lambda m, x, y: _conv_macs(m, y),
    nn.ConvTranspose2d: lambda m, x, y: _conv_macs(m, y),
    nn.ConvTranspose3d: lambda m, x, y: _conv_macs(m, y),
    nn.Linear: lambda m, x, y: y.numel() * m.in_features,
    nn.BatchNorm1d: lambda m, x, y: x.numel() * (2 if m.affine else 1),
    nn.BatchNorm2d: lambda m, x, y: x.numel() * (2 if m.affine else 1),
    nn.BatchNorm3d: lambda m, x, y: x.numel() * (2 if m.affine else 1),
}
ZERO_COST = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.Dropout,
    nn.Identity,
)


def paper_convention_gmacs(
    module: nn.Module, example: tuple[torch.Tensor, ...]
) -> tuple[float, list[str]]:
    """thop-style count in GMACs, and the leaf module types it had no rule for (counted as 0)."""
    total = 0
    uncounted: set[str] = set()
    handles = []

    def hook(layer: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        nonlocal total
        counter = PAPER_COUNTERS.get(type(layer))
        if counter is not None:
            total += counter(layer, inputs[0], output)

    for layer in module.modules():
        if next(layer.children(), None) is not None:
            continue
        if type(layer) in PAPER_COUNTERS:
            handles.append(layer.register_forward_hook(hook))
        elif not isinstance(layer, ZERO_COST):
            uncounted.add(type(layer).__name__)
    try:
        with torch.no_grad():
            module.eval()(*example)
    finally:
        for handle in handles:
            handle.remove()
    return total / 1e9, sorted(uncounted)


# Operations that allocate, copy or describe tensors: no arithmetic, so never listed as skipped.
NO_ARITHMETIC = frozenset(
    {
        "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like",
        "full", "full_like", "new_empty", "new_zeros", "new_ones", "new_full", "arange",
        "clone", "copy_", "_to_copy", "detach", "lift_fresh", "contiguous", "cat", "stack",
        "index", "index_select", "gather", "scatter", "slice_scatter", "select_scatter",
        "constant_pad_nd", "sym_size", "sym_stride", "sym_numel", "sym_storage_offset",
        "_unsafe_view",
    }
)  # fmt: skip


class _SeenOperations(TorchDispatchMode):
    """Records every ATen operation a forward pass dispatches."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}

    def __torch_dispatch__(
        self,
        func: torch._ops.OpOverload,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if func.overloadpacket not in flop_registry and not func.is_view:
            name = func.overloadpacket.__name__
            if name not in NO_ARITHMETIC:
                self.counts[f"aten::{name}"] = self.counts.get(f"aten::{name}", 0) + 1
        return func(*args, **(kwargs or {}))


def dispatch_gmacs(
    module: nn.Module, example: tuple[torch.Tensor, ...]
) -> tuple[float, dict[str, int]]:
    """torch's own dispatch-level count (``FlopCounterMode``, two FLOPs per multiply-add) in
    GMACs, and the arithmetic operations it has no formula for (counted as 0), by name and
    count. It sees every operation the module runs, traced or not."""
    counter = FlopCounterMode(display=False)
    seen = _SeenOperations()
    with torch.no_grad(), counter, seen:
        module.eval()(*example)
    return counter.get_total_flops() / 2 / 1e9, seen.counts


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class FpsReading:
    median: float
    low: float
    high: float
    repeats: int


def measure_fps(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    warmup: int = FPS_WARMUP_RUNS,
    repeats: int = FPS_REPEATS,
    min_seconds: float = FPS_MIN_SECONDS_PER_REPEAT,
) -> FpsReading:
    """Frames per second at the example's batch size; each repeat runs until ``min_seconds``.
    On a GPU, CUDA events time the work on the device, so host-side timer noise and the launch
    queue do not count."""
    device = example[0].device
    batch = example[0].shape[0]
    rates = []
    module.eval()
    with torch.inference_mode():
        for _ in range(warmup):
            module(*example)
        _synchronise(device)
        for _ in range(repeats):
            runs = 0
            timer = _DeviceTimer(device)
            while True:
                module(*example)
                runs += 1
                elapsed = timer.elapsed()
                if elapsed >= min_seconds:
                    break
            rates.append(runs * batch / elapsed)
    return FpsReading(statistics.median(rates), min(rates), max(rates), repeats)


class _DeviceTimer:
    """Seconds since it was made: CUDA events on a GPU (synchronised at each reading), the
    wall clock elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            self.begin = torch.cuda.Event(enable_timing=True)
            self.begin.record()
        else:
            self.started = time.perf_counter()

    def elapsed(self) -> float:
        if self.device.type != "cuda":
            return time.perf_counter() - self.started
        end = torch.cuda.Event(enable_timing=True)
        end.record()
        end.synchronize()
        return self.begin.elapsed_time(end) / 1000.0


def prepared(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    batch: int,
    channels_last: bool,
    compiled: bool,
) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The module and example as the fps and energy options ask: ``batch`` copies of the
    example frame stack, channels-last memory layout, ``torch.compile``."""
    if batch != example[0].shape[0]:
        example = tuple(t[:1].expand(batch, *t.shape[1:]).contiguous() for t in example)
    if channels_last:
        module = copy.deepcopy(module).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        example = tuple(
            t.to(memory_format=torch.channels_last) if t.dim() == 4 else t for t in example
        )
    if compiled:
        module = torch.compile(module)  # type: ignore[assignment]
    return module, example


class EnergyCounter(Protocol):
    """Cumulative energy over a window: ``start()``, then ``stop()`` returns joules spent."""

    description: str

    def start(self) -> None: ...

    def stop(self) -> float: ...


class PyJoulesCounter:
    """pyJoules' EnergyMeter over the RAPL/NVML devices found on this machine."""

    def __init__(self, devices: list[Any]) -> None:
        from pyJoules.energy_meter import EnergyMeter

        self.meter = EnergyMeter(devices)
        self.description = ", ".join(type(d).__name__ for d in devices)

    def start(self) -> None:
        self.meter.start()

    def stop(self) -> float:
        self.meter.stop()
        joules = 0.0
        for sample in self.meter.get_trace():
            for domain, value in sample.energy.items():
                # RAPL reports micro-joules, NVML milli-joules
                joules += value / (1e3 if "nvidia" in str(domain).lower() else 1e6)
        return joules


class NvmlCounter:
    """A GPU's total energy since its driver loaded (NVML, Volta or newer), read through
    nvidia-ml-py: the GPU's own counter, without pyJoules."""

    def __init__(self, index: int) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.description = f"NVML total energy via nvidia-ml-py (GPU {index})"
        self._begin = 0

    def start(self) -> None:
        self._begin = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)

    def stop(self) -> float:
        millijoules = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) - self._begin
        return millijoules / 1e3


class ZeusCounter:
    """Zeus's measurement window (ml-energy): the GPU's NVML counter for a module on a GPU, the
    CPU packages' RAPL counters otherwise."""

    def __init__(self, device: torch.device) -> None:
        from zeus.monitor import ZeusMonitor

        if device.type == "cuda":
            index = device.index or 0
            self.monitor = ZeusMonitor(gpu_indices=[index], cpu_indices=[])
            self.description = f"Zeus {version('zeus')}, GPU {index} (NVML)"
        else:
            self.monitor = ZeusMonitor(gpu_indices=[])
            packages = ", ".join(str(i) for i in self.monitor.cpu_indices)
            self.description = f"Zeus {version('zeus')}, CPU packages {packages} (RAPL)"
        if not self.monitor.gpu_indices and not self.monitor.cpu_indices:
            raise LookupError(f"Zeus found no {'GPU' if device.type == 'cuda' else 'RAPL'} counter")

    def start(self) -> None:
        self.monitor.begin_window(ZEUS_WINDOW)

    def stop(self) -> float:
        reading = self.monitor.end_window(ZEUS_WINDOW)
        return sum(reading.gpu_energy.values()) + sum((reading.cpu_energy or {}).values())


ZEUS_WINDOW = "vadbench-energy"
CounterChoice = Literal["auto", "nvml", "zeus", "pyjoules"]


def find_energy_counter(
    device: torch.device | None = None, choice: CounterChoice = "auto"
) -> tuple[EnergyCounter | None, str]:
    """The counter ``choice`` names, or for ``auto`` the first that reads on this machine: for a
    module on a GPU, that GPU's NVML counter through nvidia-ml-py, then Zeus, then pyJoules; on
    the CPU, Zeus (RAPL), then pyJoules. None, and why each failed, when none reads."""
    device = device or torch.device("cpu")
    if choice == "auto":
        order = ["nvml", "zeus", "pyjoules"] if device.type == "cuda" else ["zeus", "pyjoules"]
    else:
        order = [choice]
    reasons = []
    for name in order:
        counter, reason = COUNTERS[name](device)
        if counter is not None:
            return counter, ""
        reasons.append(f"{name}: {reason}")
    return None, "no energy counter (" + "; ".join(reasons) + ")"


def _nvml_counter(device: torch.device) -> tuple[EnergyCounter | None, str]:
    """The GPU's counter, or None without nvidia-ml-py or on a GPU that has no counter."""
    if device.type != "cuda":
        return None, f"NVML reads a GPU's energy and the module runs on {device.type}"
    try:
        counter = NvmlCounter(device.index or 0)
        counter.start()
    except Exception as error:
        return None, f"{type(error).__name__}: {error}"
    return counter, ""


def _zeus_counter(device: torch.device) -> tuple[EnergyCounter | None, str]:
    try:
        counter = ZeusCounter(device)
        counter.start()
        counter.stop()
    except ImportError:
        return None, "Zeus is not installed (pip install 'vadbench[energy]')"
    except LookupError as error:
        return None, str(error)
    except Exception as error:
        return None, f"{type(error).__name__}: {error}"
    return counter, ""


def _pyjoules_counter(device: torch.device) -> tuple[EnergyCounter | None, str]:
    """pyJoules over every RAPL/NVML device present (it cannot pick one GPU)."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    logging.disable(logging.WARNING)  # pyJoules logs its missing backends at import
    try:
        from pyJoules.device import DeviceFactory

        devices = DeviceFactory.create_devices()
    except Exception as error:
        return None, f"pyJoules could not list energy devices ({type(error).__name__}: {error})"
    finally:
        logging.disable(logging.NOTSET)
        root.handlers[:] = handlers  # pyJoules adds a root handler on import
    if not devices:
        return None, "no RAPL or NVML energy counter on this machine"
    return PyJoulesCounter(devices), ""


COUNTERS: dict[str, Callable[[torch.device], tuple[EnergyCounter | None, str]]] = {
    "nvml": _nvml_counter,
    "zeus": _zeus_counter,
    "pyjoules": _pyjoules_counter,
}


@dataclass(frozen=True)
class EnergyReading:
    joules_per_frame: float
    idle_watts: float
    frames: int
    seconds: float


def measure_energy(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    counter: EnergyCounter,
    window_seconds: float = ENERGY_WINDOW_SECONDS,
) -> EnergyReading:
    """Energy per frame over a window of at least ``window_seconds``, and idle power measured
    over an equally long window with nothing running."""
    device = example[0].device
    batch = example[0].shape[0]
    module.eval()
    with torch.inference_mode():
        module(*example)
        _synchronise(device)
        frames = 0
        counter.start()
        started = time.perf_counter()
        while time.perf_counter() - started < window_seconds:
            module(*example)
            frames += batch
            _synchronise(device)
        busy_seconds = time.perf_counter() - started
        busy_joules = counter.stop()
    counter.start()
    idle_started = time.perf_counter()
    time.sleep(busy_seconds)
    idle_joules = counter.stop()
    idle_watts = idle_joules / (time.perf_counter() - idle_started)
    return EnergyReading(busy_joules / frames, idle_watts, frames, busy_seconds)


def _device_label(data: EfficiencyInput) -> str:
    device = data.example[0].device
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def params_metric(data: EfficiencyInput) -> list[MetricResult]:
    total, trainable = count_parameters(data.module)
    return [
        MetricResult("params", total / 1e6, "M", False),
        MetricResult("params_trainable", trainable / 1e6, "M", False),
    ]


def storage_metric(data: EfficiencyInput) -> list[MetricResult]:
    return [MetricResult("storage", storage_megabytes(data.module), "MB", False)]


def gmacs_metric(data: EfficiencyInput) -> list[MetricResult]:
    fvcore_count, skipped = fvcore_gmacs(data.module, data.example)
    paper_count, uncounted = paper_convention_gmacs(data.module, data.example)
    skipped_note = (
        "incomplete: skipped " + ", ".join(f"{op}×{n}" for op, n in sorted(skipped.items()))
        if skipped
        else ""
    )
    uncounted_note = "no rule for " + ", ".join(uncounted) if uncounted else ""
    dispatch_count, no_formula = dispatch_gmacs(data.module, data.example)
    no_formula_note = (
        "FlopCounterMode; no formula for "
        + ", ".join(f"{op}×{n}" for op, n in sorted(no_formula.items()))
        if no_formula
        else "FlopCounterMode"
    )
    return [
        MetricResult("gmacs", fvcore_count, "GMACs", False, skipped_note, footnote=True),
        MetricResult("gmacs_paper", paper_count, "GMACs", False, uncounted_note, footnote=True),
        MetricResult(
            "gmacs_dispatch", dispatch_count, "GMACs", False, no_formula_note, footnote=True
        ),
    ]


def fps_metric(data: EfficiencyInput) -> list[MetricResult]:
    module, example, settings = _run_settings(data, FpsOptions)
    assert isinstance(settings, FpsOptions)
    with autocast_for(data.device, settings.precision):
        reading = measure_fps(
            module, example, settings.warmup, settings.repeats, settings.min_seconds
        )
    timer = "CUDA events" if example[0].device.type == "cuda" else "wall clock"
    note = (
        f"median of {reading.repeats}, range {reading.low:.1f}-{reading.high:.1f}; "
        f"{_run_label(data, settings, example)}; {timer}"
    )
    return [MetricResult("fps", reading.median, "frames/s", True, note=note)]


def energy_metric(data: EfficiencyInput) -> list[MetricResult]:
    choice = EnergyOptions.model_validate(dict(data.options)).counter
    counter, reason = find_energy_counter(data.example[0].device, choice)
    if counter is None:
        return [
            MetricResult("energy", None, "J/frame", False, note=reason),
            MetricResult("idle_power", None, "W", False, note=reason),
        ]
    module, example, settings = _run_settings(data, EnergyOptions)
    assert isinstance(settings, EnergyOptions)
    with autocast_for(data.device, settings.precision):
        reading = measure_energy(module, example, counter, settings.window_seconds)
    note = (
        f"{counter.description}; {reading.frames} frames over {reading.seconds:.1f}s; "
        f"{_run_label(data, settings, example)}"
    )
    return [
        MetricResult("energy", reading.joules_per_frame, "J/frame", False, note=note),
        MetricResult("idle_power", reading.idle_watts, "W", False, note=counter.description),
    ]


class RunOptions(Options):
    """How the module runs while it is timed or metered (fps and energy alike)."""

    batch: int = Field(1, ge=1, le=4096, description="frames per forward pass (the paper's FPS: 1)")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="autocast dtype")
    channels_last: bool = Field(False, description="channels-last memory layout")
    compile: bool = Field(False, description="torch.compile the module first")


class FpsOptions(RunOptions):
    warmup: int = Field(FPS_WARMUP_RUNS, ge=0, le=1000, description="untimed runs before timing")
    repeats: int = Field(
        FPS_REPEATS, ge=1, le=1000, description="timed repeats; the median is reported"
    )
    min_seconds: float = Field(
        FPS_MIN_SECONDS_PER_REPEAT, ge=0, le=600, description="each repeat runs at least this long"
    )


class EnergyOptions(RunOptions):
    counter: CounterChoice = Field(
        "auto",
        description="energy counter: nvml (nvidia-ml-py), zeus, pyjoules, or auto (the first "
        "that reads: nvml, zeus, pyjoules on a GPU; zeus, pyjoules on the CPU)",
    )
    window_seconds: float = Field(
        ENERGY_WINDOW_SECONDS,
        gt=0,
        le=600,
        description="seconds of inference (and of idle) measured, at most 10 minutes",
    )


def _run_settings(
    data: EfficiencyInput, defaults: type[RunOptions]
) -> tuple[nn.Module, tuple[torch.Tensor, ...], RunOptions]:
    settings = defaults.model_validate(dict(data.options))
    module, example = prepared(
        data.module, data.example, settings.batch, settings.channels_last, settings.compile
    )
    return module, example, settings


def _run_label(
    data: EfficiencyInput, settings: RunOptions, example: tuple[torch.Tensor, ...]
) -> str:
    parts = [_device_label(data), settings.precision, f"batch {example[0].shape[0]}"]
    if settings.channels_last:
        parts.append("channels-last")
    if settings.compile:
        parts.append("compiled")
    return ", ".join(parts)


EfficiencyMetric = tuple[str, str, Callable[[EfficiencyInput], list[MetricResult]], type[Options]]
METRICS: tuple[EfficiencyMetric, ...] = (
    (
        "params",
        "parameters of the inference module (total and trainable)",
        params_metric,
        NoOptions,
    ),
    ("storage", "saved inference weights in MB", storage_metric, NoOptions),
    (
        "gmacs",
        "GMACs per frame: fvcore, torch's FlopCounterMode and the paper's thop-style convention",
        gmacs_metric,
        NoOptions,
    ),
    ("fps", "model-only frames/s at batch 1, median over repeats", fps_metric, FpsOptions),
    (
        "energy",
        "joules per frame from NVML, Zeus or pyJoules (named in the note), idle power apart",
        energy_metric,
        EnergyOptions,
    ),
)


@hookimpl
def vadbench_register_metrics(register: Any) -> None:
    for position, (name, description, compute, options) in enumerate(METRICS):
        register(
            MetricSpec(
                name=name,
                description=description,
                kind="efficiency",
                compute=compute,
                options=options,
                order=100 + 10 * position,
            )
        )
