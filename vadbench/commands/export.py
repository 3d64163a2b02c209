"""``vadbench export RUN:MODEL --format onnx``: a trained cell's scoring module as an ONNX file,
checked against torch at once (``vadbench.sdk.export``); ``vadbench detect --backend
onnxruntime`` scores with it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from vadbench.commands.base import Command
from vadbench.commands.detect import find_cell, load_cell
from vadbench.harness.plugins import Registry
from vadbench.sdk.contracts import ConfigError
from vadbench.sdk.export import DEFAULT_OPSET, EXPORT_FOLDER, export_onnx
from vadbench.sdk.toolkit.predictor import FramePredictor


class ExportCommand(Command):
    name = "export"
    help = "export a trained model's scoring module (ONNX), checked against torch"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", help="a cell folder, or RUN_DIR:MODEL")
        parser.add_argument("--format", choices=["onnx"], default="onnx", help="only onnx")
        parser.add_argument("--source", help="with RUN_DIR:MODEL: the cell's training source")
        parser.add_argument("--seed", type=int, help="with RUN_DIR:MODEL: the cell's seed")
        parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset")
        parser.add_argument(
            "--out", type=Path, help=f"folder to write into (default: the cell's {EXPORT_FOLDER}/)"
        )

    def run(self, args: argparse.Namespace, registry: Registry, console: Console) -> int:
        if not 7 <= args.opset <= 30:
            raise ConfigError(f"--opset {args.opset}: expected an ONNX opset from 7 to 30")
        folder = find_cell(args.model, args.source, args.seed)
        trained = load_cell(folder, registry, "cpu")
        if not isinstance(trained.method, FramePredictor):
            raise ConfigError(
                f"{folder}: model plugin {trained.record.plugin!r} is not a frame predictor "
                "(vadbench.sdk.toolkit.FramePredictor); only those export their scoring module"
            )
        out = args.out or folder / EXPORT_FOLDER
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: is a file; expected a folder to write into")
        description = {
            "cell": folder.name,
            "cell_hash": trained.record.hash,
            "model": trained.record.model,
            "plugin": trained.record.plugin,
        }
        record, check = export_onnx(trained.method, out, description, args.opset)
        console.print(
            f"wrote {out / record['file']} (opset {record['opset']}); onnxruntime against torch "
            f"on {check.windows} windows: largest difference {check.max_abs_difference:.2g} "
            f"(tolerance {check.tolerance:g})",
            highlight=False,
        )
        if not check.passed:
            console.print(
                f"[bold red]error:[/] {out / record['file']}: scores differ from torch's by more "
                "than the tolerance; the export is kept for inspection, detect refuses it",
                highlight=False,
            )
            return 1
        return 0
