"""Built-in reporters: terminal (rich), Markdown, CSV (long form), LaTeX and JSON.

All of them render the same tables (the leaderboards of ``vadbench.sdk``): the leaderboard
(means with their bootstrap intervals and paired differences from the best, under the run's
headline metric), the rank test across targets, per model a source → target table of each
detection metric (mean ± interval half-width), and one efficiency table. CSV and JSON also carry
every interval's bounds and resample count.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.markup import escape
from rich.table import Table

from vadbench.sdk import (
    FINDINGS_TITLE,
    ReporterSpec,
    atomic_write_bytes,
    evaluation_of,
    hookimpl,
    make_console,
    report_sections,
    run_findings,
    summary_records,
)


def render_terminal(table: pd.DataFrame, out_dir: Path) -> None:
    console = make_console(soft_wrap=False)
    for paragraph in run_findings(table):
        console.print(escape(paragraph.replace("**", "")), soft_wrap=True)
    for title, frame in report_sections(table):
        rich_table = Table(title=escape(title), title_justify="left")
        rich_table.add_column(escape(str(frame.index.name or "")), style="bold")
        for column in frame.columns:
            rich_table.add_column(escape(str(column)), justify="right")
        for index, row in frame.iterrows():
            cells = ("" if pd.isna(v) else str(v) for v in row)
            rich_table.add_row(escape(str(index)), *map(escape, cells))
        console.print(rich_table)
        for note in frame.attrs.get("notes", []):
            console.print(f"  {escape(note)}")


def _markdown_table(frame: pd.DataFrame) -> str:
    header = [str(frame.index.name or ""), *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        cells = [str(index), *("" if pd.isna(v) else str(v) for v in row)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def render_markdown(table: pd.DataFrame, out_dir: Path) -> Path:
    parts = [f"# Leaderboard: {out_dir.name}"]
    findings = run_findings(table)
    if findings:
        parts.append(f"## {FINDINGS_TITLE}\n\n" + "\n\n".join(findings))
    for title, frame in report_sections(table):
        notes = "".join(f"\n\n{note}" for note in frame.attrs.get("notes", []))
        parts.append(f"## {title}\n\n{_markdown_table(frame)}{notes}")
    path = out_dir / "leaderboard.md"
    atomic_write_bytes(path, ("\n\n".join(parts) + "\n").encode())
    return path


def render_csv(table: pd.DataFrame, out_dir: Path) -> Path:
    """results.csv (long form) and summary.csv (every interval: value, lower, upper, seeds,
    resamples, and the paired difference of each mean from the best)."""
    path = out_dir / "results.csv"
    atomic_write_bytes(path, table.to_csv(index=False).encode())
    summary = pd.DataFrame(summary_records(table))
    atomic_write_bytes(out_dir / "summary.csv", summary.to_csv(index=False).encode())
    return path


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(text: Any) -> str:
    escaped = "".join(LATEX_SPECIALS.get(char, char) for char in str(text))
    return escaped.replace("±", r"$\pm$").replace("→", r"$\rightarrow$")


def _latex_table(title: str, frame: pd.DataFrame) -> str:
    columns = "l" + "r" * len(frame.columns)
    header = " & ".join(
        _latex_escape(c) for c in [frame.index.name or "", *map(str, frame.columns)]
    )
    body = [
        " & ".join(_latex_escape("" if pd.isna(v) else v) for v in [index, *row]) + r" \\"
        for index, row in frame.iterrows()
    ]
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{_latex_escape(title)}}}",
            rf"\begin{{tabular}}{{{columns}}}",
            r"\toprule",
            header + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            *(rf"\par\footnotesize {_latex_escape(note)}" for note in frame.attrs.get("notes", [])),
            r"\end{table}",
        ]
    )


def render_latex(table: pd.DataFrame, out_dir: Path) -> Path:
    path = out_dir / "leaderboard.tex"
    findings = [_latex_escape(paragraph.replace("**", "")) for paragraph in run_findings(table)]
    text = "% needs \\usepackage{booktabs}\n" + "\n\n".join(
        [*findings, *(_latex_table(title, frame) for title, frame in report_sections(table))]
    )
    atomic_write_bytes(path, (text + "\n").encode())
    return path


def render_json(table: pd.DataFrame, out_dir: Path) -> Path:
    path = out_dir / "results.json"
    records = json.loads(table.to_json(orient="records"))
    stats = table.attrs.get("statistics")
    evaluation = evaluation_of(table)
    payload = {
        "headline": table.attrs.get("headline"),
        "evaluation": {"name": evaluation.name, **evaluation.settings()},
        "rows": records,
        "summary": summary_records(table),
        "intervals": {"confidence": stats.confidence, "resamples": stats.resamples}
        if stats
        else None,
        "rank_tests": [
            {
                "metric": metric,
                "protocol": protocol_label,
                "blocks": test.blocks,
                "mean_ranks": test.mean_ranks,
                "friedman_chi2": test.statistic,
                "p_value": test.p_value,
                "critical_difference": test.critical_difference,
                "pairs_p_holm": [{"a": a, "b": b, "p": p} for (a, b), p in test.pairwise_p.items()],
            }
            for (metric, protocol_label), test in (stats.ranks.items() if stats else [])
        ],
    }
    atomic_write_bytes(path, (json.dumps(_finite(payload), indent=2) + "\n").encode())
    return path


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


@hookimpl
def vadbench_register_reporters(register: Any) -> None:
    for name, description, render in (
        ("terminal", "rich tables on the terminal", render_terminal),
        ("markdown", "leaderboard.md in the run folder", render_markdown),
        ("csv", "results.csv: one row per cell, target and metric", render_csv),
        ("latex", "leaderboard.tex (booktabs tables)", render_latex),
        ("json", "results.json: the long-form rows", render_json),
    ):
        register(ReporterSpec(name=name, description=description, render=render))
