"""``vadbench relevancy``: how related TI class names are to VAD anomaly names (paper, Fig. 4).

Prints the S̄ matrix, the paper's calibration pairs beside the paper's values, the chance level
of these vectors, and every label word the vocabulary lacks; writes the heatmap, CSV and JSON on
request. It reads only shipped files: the label lists here and the installed word vectors.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from vadbench.sdk import (
    CommandSpec,
    ConfigError,
    atomic_write_bytes,
    atomic_write_json,
    make_console,
)

from . import embedding
from .labels import TI_BUILTINS, VAD_BUILTINS, LabelSet, resolve
from .measure import PAPER_MAXIMUM, EmbeddedSet, Relevancy, measure


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ti",
        nargs="+",
        default=list(TI_BUILTINS),
        metavar="NAME|FILE",
        help=f"task-irrelevant label lists: built-in {', '.join(TI_BUILTINS)} (default: all) "
        "or files with one class name per line",
    )
    parser.add_argument(
        "--vad",
        nargs="+",
        default=list(VAD_BUILTINS),
        metavar="NAME|FILE",
        help=f"VAD anomaly lists: built-in {', '.join(VAD_BUILTINS)} (default: all) "
        "or files with one anomaly name per line",
    )
    parser.add_argument("--out", type=Path, metavar="FILE.png", help="write the heatmap here")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write the matrix as CSV")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write everything as JSON")


def read_sets(arguments: list[str], builtins: dict[str, Any], side: str) -> list[LabelSet]:
    """The label sets of one side; two sets with one title would be ambiguous in every output."""
    sets = [resolve(argument, builtins, side) for argument in arguments]
    titles = [s.title for s in sets]
    for title in titles:
        if titles.count(title) > 1:
            raise ConfigError(f"--{side}: two label lists are both called {title!r}")
    return sets


def matrix_csv(result: Relevancy) -> bytes:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["ti", *[v.title for v in result.vad]])
    for row, ti in enumerate(result.ti):
        writer.writerow([ti.title, *[f"{value:.6f}" for value in result.matrix[row]]])
    return stream.getvalue().encode()


def matrix_table(result: Relevancy) -> Table:
    table = Table(
        title=f"TI-VAD relevancy S̄ = mean |cos-sim| over all label pairs ({result.embedding})"
    )
    table.add_column("TI \\ VAD")
    for vad in result.vad:
        table.add_column(escape(f"{vad.title} ({len(vad.embedded)})"), justify="right")
    largest = result.matrix.max()
    for row, ti in enumerate(result.ti):
        cells = [
            f"[bold]{value:.3f}[/]" if value == largest else f"{value:.3f}"
            for value in result.matrix[row]
        ]
        table.add_row(escape(f"{ti.title} ({len(ti.embedded)})"), *cells)
    return table


def calibration_table(result: Relevancy) -> Table:
    table = Table(title="Calibration: the paper's reference pairs")
    table.add_column("pair")
    table.add_column(f"S̄ {result.embedding}", justify="right")
    table.add_column("S̄ paper (word2vec Google News)", justify="right")
    for first, second, measured, paper in result.reference:
        shown = "n/a (word missing)" if measured is None else f"{measured:.3f}"
        table.add_row(f'"{first}", "{second}"', shown, f"{paper:.3f}")
    table.add_row("random frequent word pairs (chance level)", f"{result.chance:.3f}", "-")
    return table


def missing_word_lines(sets: list[EmbeddedSet], vocabulary: str) -> list[str]:
    """One line per set with unknown words, and one per label left without a vector."""
    lines = []
    for s in sets:
        if s.missing:
            listed = "; ".join(f"{label}: {', '.join(w)}" for label, w in s.missing.items())
            lines.append(
                f"{s.title} ({s.source}): words not in the {vocabulary} vocabulary, left "
                f"out of their label's mean: {listed}"
            )
        for label in s.unembedded:
            lines.append(
                f"{s.title}: label {label!r} has no known word and takes no part in S̄ "
                f"({len(s.embedded)} of {len(s.labels)} labels used)"
            )
    return lines


def run(args: argparse.Namespace, registry: object) -> int:
    """Check every input and output before the vectors load, then measure and report."""
    if args.out is not None and args.out.suffix.lower() != ".png":
        raise ConfigError(f"--out {args.out}: the heatmap is a PNG; name a .png file")
    ti = read_sets(args.ti, TI_BUILTINS, "ti")
    vad = read_sets(args.vad, VAD_BUILTINS, "vad")
    result = measure(ti, vad, embedding.load())

    console = make_console()
    console.print(
        f"embedding: {result.embedding} ({result.embedding_source}); the paper used "
        "word2vec Google News (300d), so the scales differ: compare with the chance "
        "level and the reference pairs below",
        highlight=False,
    )
    console.print(matrix_table(result))
    ti_title, vad_title, value = result.maximum()
    paper_ti, paper_vad, paper_value = PAPER_MAXIMUM
    console.print(
        escape(f"largest S̄: {ti_title} x {vad_title} = {value:.3f} ")
        + f"(paper: {paper_ti} x {paper_vad} = {paper_value:.3f})"
    )
    console.print(calibration_table(result))
    for line in missing_word_lines([*result.ti, *result.vad], result.embedding):
        console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)

    if args.out is not None:
        from .heatmap import write  # matplotlib loads only when a picture is asked for

        write(result, args.out)
        console.print(escape(f"wrote {args.out}"))
    if args.csv is not None:
        atomic_write_bytes(args.csv, matrix_csv(result))
        console.print(escape(f"wrote {args.csv}"))
    if args.json is not None:
        atomic_write_json(args.json, result.to_json())
        console.print(escape(f"wrote {args.json}"))
    return 0


def relevancy_command() -> CommandSpec:
    return CommandSpec(
        name="relevancy",
        help="score how related TI class names are to VAD anomaly names (word vectors, Fig. 4)",
        configure=configure,
        run=run,
    )
