"""How hard is the synthetic benchmark? Micro AUC per target domain and per anomaly type, from a
finished run's stored raw scores (no re-scoring).

    vadbench run benchmarks/quickstart.yaml
    python benchmarks/synthetic_difficulty.py results/quickstart --model framediff

Per anomaly type, the AUC ranks the frames of that type against the normal frames of the same
videos, after the protocol's per-video normalisation.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from vadbench.harness.config import read_matrix
from vadbench.harness.planning import build_plan
from vadbench.harness.plugins import load_plugins
from vadbench.sdk.files import read_json
from vadbench.sdk.protocol import anomaly_scores, roc_auc
from vadbench.sdk.runfolder import read_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--model", default="framediff")
    args = parser.parse_args()

    run = read_json(args.run_dir / "run.json")
    matrix_file = Path(run["matrix_file"])
    raw, matrix = read_matrix(matrix_file)
    plan = build_plan(matrix_file, raw, matrix, load_plugins())
    by_type: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = defaultdict(lambda: ([], []))
    print(f"model {args.model}, run {args.run_dir}")
    print(f"{'target':<12} {'micro AUC':>9}")
    for cell in plan.cells:
        if cell.model.name != args.model:
            continue
        for target in cell.targets:
            path = args.run_dir / "cells" / cell.id / "targets" / target.key / "scores.npz"
            stored = read_scores(path)
            dataset = plan.datasets[target.dataset].dataset
            context = stored.context_frames
            all_scores, all_labels = [], []
            for video_id, scores, labels in zip(
                stored.video_ids, stored.scores, stored.labels, strict=True
            ):
                anomaly = anomaly_scores(scores, stored.score_kind)
                kept = labels[context:]
                names = np.asarray(dataset.anomaly_types(video_id))[context:]  # type: ignore[attr-defined]
                all_scores.append(anomaly)
                all_labels.append(kept)
                for name in set(names[kept == 1]):
                    members = (kept == 0) | (names == name)
                    by_type[str(name)][0].append(anomaly[members])
                    by_type[str(name)][1].append((names[members] == name).astype(int))
            auc = roc_auc(np.concatenate(all_labels), np.concatenate(all_scores))
            print(f"{target.key:<12} {auc:9.3f}")
    print(f"\n{'anomaly type':<12} {'micro AUC':>9} {'frames':>7}")
    for name in sorted(by_type):
        scores, labels = (np.concatenate(parts) for parts in by_type[name])
        print(f"{name:<12} {roc_auc(labels, scores):9.3f} {int(labels.sum()):7d}")


if __name__ == "__main__":
    main()
