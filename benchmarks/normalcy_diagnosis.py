"""Diagnose zxVAD's normalcy classifier N and its pseudo-anomalies (issue 26, docs/zxvad.md).

    python benchmarks/normalcy_diagnosis.py [--steps 900] [--every 150] [--seed 0] \
        [--variants default no-centring imagenet-centring cutmix patch no-g] \
        [--out benchmarks/results/normalcy_diagnosis.md]

Each variant is zxVAD's cpu preset with one reading of the paper changed (docs/zxvad.md,
"Readings of what the paper leaves open"). It trains on the quickstart's campus source (a
quarter of its training videos held out, drawn from the seed) with TI objects, and every
``--every`` steps it measures, between two steps and leaving training as it was:

- on source data only, what may guide a choice: the held-out prediction MSE against copying
  the last frame (the cell's skill), and a **pseudo-anomaly validation AUC**: the model's own
  anomaly score (negative PSNR of the predicted frame) of held-out windows whose frame T+1 is
  left as it is against the same windows with an object pasted into frame T+1 by the
  variant's own synthesis (a fixed object pool and random state);
- for diagnosis only, never for a choice: N's mean score and accuracy (score > 0.5 counts as
  normal) on held-out real frames, on G's predictions of them (what N is trained to call
  normal), on pseudo-abnormal frames, and on campus's *test* frames, normal and abnormal, with
  the AUC of N's score between the last two.

It also measures R's SCDA masks against the synthetic benchmark's pixel masks on campus's
abnormal test frames: IoU, the share of the anomaly the mask covers, and the mask's area.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vadbench.harness.devices import seed_everything
from vadbench.harness.plugins import load_plugins
from vadbench.sdk import FitContext, ListSource, TrainingBudget, Video, frames_to_tensor
from vadbench.sdk.learning import hold_out, left_as_found
from vadbench.sdk.protocol import roc_auc
from vadbench.sdk.toolkit.quality import psnr
from vadbench.sdk.training import TrainingClock, watch_training

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "benchmarks" / "quickstart.yaml"
HOLD_OUT = 0.25
EVALUATION_FRAMES = 96  # per kind of frame: enough for a mean and an AUC, cheap between steps
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "no-centring": {"object_centering": "none"},
    "imagenet-centring": {"object_centering": "imagenet"},
    "stage-2": {"object_stage": 2},
    "cutmix": {"mixing": "cutmix"},
    "patch": {"mixing": "patch"},
    "no-g": {"use_lraa": False},
    "no-n": {"use_ln": False, "use_lrn": False, "use_laa": False, "use_lraa": False},
}


class _Silent:
    def task(self, description: str, total: int | None) -> Any:
        return lambda steps: None


@dataclass
class Reading:
    step: int
    held_out_mse: float
    pseudo_auc: float
    n_scores: dict[str, float] = field(default_factory=dict)
    n_accuracy: dict[str, float] = field(default_factory=dict)
    n_test_auc: float | None = None


@dataclass
class Probe:
    """The fixed frames every evaluation reads, made once from the seed."""

    windows: torch.Tensor  # (k, 3T, H, W) held-out input windows
    truth: torch.Tensor  # (k, 3, H, W) their frame T+1
    pasted: torch.Tensor  # the same frames with an object pasted in
    test_normal: torch.Tensor
    test_abnormal: torch.Tensor


def _frames(video: Video, size: int) -> torch.Tensor:
    return frames_to_tensor(video.frames(), size, "cpu")


def build_probe(method: Any, held: Sequence[Video], test: Sequence[Video], seed: int) -> Probe:
    """Held-out windows, their pseudo-abnormal versions (the variant's own synthesis), and
    campus test frames of each label."""
    from vadbench_plugins.models.zxvad.synthesis import synthesize

    options = method.options
    size, context = options.image_size, options.context_frames
    rng = np.random.default_rng(seed)
    windows, truth = [], []
    for video in held:
        frames = _frames(video, size)
        for end in range(context, len(frames)):
            windows.append(frames[end - context : end].flatten(0, 1))
            truth.append(frames[end])
    chosen = rng.choice(len(truth), min(EVALUATION_FRAMES, len(truth)), replace=False)
    window_batch = torch.stack([windows[i] for i in chosen])
    truth_batch = torch.stack([truth[i] for i in chosen])
    trainer = method.trainer
    sources = method.objects.frames(len(chosen), rng)
    masks = trainer.object_masks(sources)
    pasted = synthesize(options.mixing, truth_batch, sources, masks, rng).frames
    normal, abnormal = [], []
    for video in test:
        frames = _frames(video, size)
        labels = np.asarray(video.labels)
        normal.extend(frames[labels == 0])
        abnormal.extend(frames[labels == 1])
    pick = lambda items: torch.stack(  # noqa: E731
        [items[i] for i in rng.choice(len(items), min(EVALUATION_FRAMES, len(items)), False)]
    )
    return Probe(window_batch, truth_batch, pasted, pick(normal), pick(abnormal))


def classifier_scores(method: Any, frames: torch.Tensor) -> np.ndarray:
    """N's mean patch score per frame (trained towards 1 on normal, 0 on pseudo-abnormal)."""
    scores = method.trainer.networks.classifier(frames)
    return scores.flatten(1).mean(dim=1).double().numpy()


def read(method: Any, probe: Probe, step: int, held: Sequence[Video]) -> Reading:
    """One evaluation, every network in eval mode (``left_as_found`` restores the modes)."""
    for module in method.trainer.modules():
        module.eval()
    generator = method.trainer.networks.generator
    prediction = generator.predict(probe.windows).frame
    normal_psnr = psnr(prediction, probe.truth, (-1.0, 1.0)).double().numpy()
    pasted_psnr = psnr(prediction, probe.pasted, (-1.0, 1.0)).double().numpy()
    labels = np.r_[np.zeros(len(normal_psnr)), np.ones(len(pasted_psnr))]
    pseudo_auc = roc_auc(labels, -np.r_[normal_psnr, pasted_psnr])
    errors = [method.held_out_errors(video)[0] for video in held]
    reading = Reading(step, float(np.concatenate(errors).mean()), pseudo_auc)
    if method.options.trains_classifier:
        kinds = {
            "held-out real": (probe.truth, True),
            "G's predictions": (prediction, True),
            "pseudo-abnormal": (probe.pasted, False),
            "test normal": (probe.test_normal, True),
            "test abnormal": (probe.test_abnormal, False),
        }
        for name, (frames, normal) in kinds.items():
            scores = classifier_scores(method, frames)
            reading.n_scores[name] = float(scores.mean())
            reading.n_accuracy[name] = float(np.mean((scores > 0.5) == normal))
        test = np.r_[
            classifier_scores(method, probe.test_normal),
            classifier_scores(method, probe.test_abnormal),
        ]
        truth = np.r_[np.zeros(len(probe.test_normal)), np.ones(len(probe.test_abnormal))]
        reading.n_test_auc = roc_auc(truth, -test)
    return reading


def mask_quality(method: Any, test: Sequence[Video]) -> dict[str, float]:
    """R's SCDA masks against the pixel masks of campus's abnormal test frames."""
    locator = method.trainer.locator
    if locator is None:
        return {}
    size = method.options.image_size
    ious, covered, areas, anomaly_areas = [], [], [], []
    for video in test:
        labels = np.asarray(video.labels)
        frames = _frames(video, size)
        for index in np.flatnonzero(labels == 1):
            truth = torch.from_numpy(np.asarray(video.mask(int(index)), dtype=np.float32))
            truth = F.interpolate(truth[None, None], size=(size, size), mode="nearest")[0, 0] > 0
            if not truth.any():
                continue
            found = locator(frames[index : index + 1])[0, 0] > 0
            union = (found | truth).sum().item()
            ious.append((found & truth).sum().item() / union)
            covered.append((found & truth).sum().item() / truth.sum().item())
            areas.append(found.float().mean().item())
            anomaly_areas.append(truth.float().mean().item())
    return {
        "frames": float(len(ious)),
        "IoU": float(np.mean(ious)),
        "anomaly covered": float(np.mean(covered)),
        "mask area": float(np.mean(areas)),
        "IoU of a whole-frame mask": float(np.mean(anomaly_areas)),
    }


def run_variant(
    name: str, overrides: Mapping[str, Any], steps: int, every: int, seed: int
) -> tuple[list[Reading], dict[str, float], float]:
    registry = load_plugins()
    campus = registry.open_matrix_dataset(MATRIX, "campus")
    ti = registry.open_matrix_dataset(MATRIX, "ti")
    kept, held = hold_out(campus.source("train").videos(), HOLD_OUT, seed)
    test = campus.source("test").videos()
    spec = registry.models.get("zxvad")
    options = spec.options.model_validate({**spec.presets["cpu"], **overrides})
    seed_everything(seed)
    method: Any = spec.create(options, "cpu")
    readings: list[Reading] = []
    probe: list[Probe] = []

    def observe(clock: TrainingClock, taken: int) -> bool:
        with left_as_found(method), torch.no_grad():
            if not probe:
                method.objects = _object_sampler(ti, options)
                probe.append(build_probe(method, held, test, seed))
            readings.append(read(method, probe[0], taken, held))
        latest = readings[-1]
        print(
            f"{name}: step {taken}: held-out MSE {latest.held_out_mse:.5f}, pseudo AUC "
            f"{latest.pseudo_auc:.3f}, N accuracy {latest.n_accuracy}",
            flush=True,
        )
        return False

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, watch_training(every, observe):
        budget = TrainingBudget("steps", float(steps))
        context = FitContext("cpu", seed, _Silent(), Path(folder), budget)
        seed_everything(seed)
        method.fit(ListSource("campus", "train", tuple(kept)), ti.source("train"), context)
    with torch.no_grad():
        masks = mask_quality(method, test)
    return readings, masks, time.perf_counter() - started


def _object_sampler(ti: Any, options: Any) -> Any:
    """Single frames of a dataset's training split, as zxVAD draws object frames."""
    from vadbench_plugins.models.zxvad.frames import FrameSampler

    return FrameSampler(ti.source("train"), 1, options.image_size, "cpu", 1 << 30)


def mask_areas(seed: int, frames: int = 64) -> str:
    """A Markdown table: the share of the frame R's SCDA mask takes on the frames objects are
    taken from (TI) and on campus's, per centring of R's input, at the cpu preset."""
    from vadbench_plugins.models.zxvad.training import build_object_locator

    registry = load_plugins()
    spec = registry.models.get("zxvad")
    lines = [
        "| R's input centring | frames from | mean mask area | frames with a mask over 90 % |",
        "|---|---|---|---|",
    ]
    for centring in ("median", "imagenet", "none"):
        options = spec.options.model_validate({**spec.presets["cpu"], "object_centering": centring})
        seed_everything(seed)
        locator = build_object_locator(options).eval()
        for name in ("ti", "campus"):
            dataset = registry.open_matrix_dataset(MATRIX, name)
            sampler = _object_sampler(dataset, options)
            with torch.no_grad():
                area = locator(sampler.frames(frames, np.random.default_rng(seed))).flatten(1)
            share = area.mean(dim=1)
            lines.append(
                f"| {centring} | {name} | {share.mean().item():.3f} | "
                f"{(share > 0.9).float().mean().item():.2f} |"
            )
    return "\n".join(lines) + "\n"


def _trivial_mse(seed: int) -> float:
    registry = load_plugins()
    campus = registry.open_matrix_dataset(MATRIX, "campus")
    _, held = hold_out(campus.source("train").videos(), HOLD_OUT, seed)
    spec = registry.models.get("zxvad")
    method = spec.create(spec.options.model_validate(spec.presets["cpu"]), "cpu")
    return float(np.concatenate([method.held_out_errors(v)[1] for v in held]).mean())


def markdown(
    results: Mapping[str, tuple[list[Reading], dict[str, float], float]],
    trivial: float,
    command: str,
) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    lines = [
        "# zxVAD's normalcy classifier and pseudo-anomalies, diagnosed",
        "",
        f"Command: `{command}` at {commit}; {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, one thread. Campus source (a quarter of its training "
        f"videos held out), TI objects, cpu preset. Copying the last frame has held-out MSE "
        f"{trivial:.5f}.",
        "",
        "## Source-only readings along training (what a choice may use)",
        "",
        "| variant | step | held-out MSE | skill | pseudo-anomaly validation AUC |",
        "|---|---|---|---|---|",
    ]
    for name, (readings, _, _) in results.items():
        for r in readings:
            lines.append(
                f"| {name} | {r.step} | {r.held_out_mse:.5f} | {1 - r.held_out_mse / trivial:.3f}"
                f" | {r.pseudo_auc:.3f} |"
            )
    lines += [
        "",
        "## N along training (diagnosis only: the test frames are campus's)",
        "",
        "Mean score of N (1 = normal) and, in brackets, its accuracy (score > 0.5 is normal).",
        "",
    ]
    kinds = ["held-out real", "G's predictions", "pseudo-abnormal", "test normal", "test abnormal"]
    lines += [
        "| variant | step | " + " | ".join(kinds) + " | N's AUC on test frames |",
        "|---|---|" + "---|" * (len(kinds) + 1),
    ]
    for name, (readings, _, _) in results.items():
        for r in readings:
            if not r.n_scores:
                continue
            cells = [f"{r.n_scores[k]:.2f} ({r.n_accuracy[k]:.2f})" for k in kinds]
            auc = "n/a" if r.n_test_auc is None else f"{r.n_test_auc:.3f}"
            lines.append(f"| {name} | {r.step} | " + " | ".join(cells) + f" | {auc} |")
    lines += [
        "",
        "## R's SCDA masks against the synthetic pixel masks (campus abnormal test frames)",
        "",
        "| variant | frames | IoU | anomaly covered | mask area | IoU of a whole-frame mask |",
        "|---|---|---|---|---|---|",
    ]
    for name, (_, masks, _) in results.items():
        if masks:
            lines.append(
                f"| {name} | {masks['frames']:.0f} | {masks['IoU']:.3f} | "
                f"{masks['anomaly covered']:.3f} | {masks['mask area']:.3f} | "
                f"{masks['IoU of a whole-frame mask']:.3f} |"
            )
    lines += [
        "",
        "Seconds per variant: " + ", ".join(f"{n} {s:.0f}" for n, (_, _, s) in results.items()),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--every", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--mask-areas", action="store_true", help="only the table of R's mask areas"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.mask_areas:
        print(mask_areas(args.seed))
        return
    results = {
        name: run_variant(name, VARIANTS[name], args.steps, args.every, args.seed)
        for name in args.variants
    }
    command = "python benchmarks/normalcy_diagnosis.py " + " ".join(
        [f"--steps {args.steps}", f"--every {args.every}", f"--seed {args.seed}",
         "--variants", *args.variants]
    )  # fmt: skip
    text = markdown(results, _trivial_mse(args.seed), command)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
