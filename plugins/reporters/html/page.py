"""The page: one HTML file with its styles, its script (sortable tables) and every figure inline,
so that it opens offline, from an e-mail or an archive, with no request to any server."""

from __future__ import annotations

import base64
import datetime
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import yaml

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 0 1.5rem 4rem; color: #1d2330; line-height: 1.45; }
header { border-bottom: 1px solid #d8dce3; margin-bottom: 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #e4e7ec; }
h3 { margin-bottom: 0.3rem; }
nav a { margin-right: 0.9rem; white-space: nowrap; }
.meta { color: #5b6475; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.86rem; }
th, td { border: 1px solid #d8dce3; padding: 0.25rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f1f3f7; }
table.sortable thead th { cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " ▲"; }
th[aria-sort="descending"]::after { content: " ▼"; }
p.note { color: #5b6475; font-size: 0.82rem; margin: 0.15rem 0; }
.missing li { color: #8a4b00; }
figure { margin: 1rem 0 2rem; } figure img { max-width: 100%; border: 1px solid #e4e7ec; }
figcaption { color: #5b6475; font-size: 0.85rem; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
.scroll { overflow-x: auto; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (header, column) {
    header.addEventListener("click", function () {
      var body = table.tBodies[0];
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (other) {
        other.removeAttribute("aria-sort");
      });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var text = row.cells[column] ? row.cells[column].textContent.trim() : "";
        var number = parseFloat(text.replace(/,/g, ""));
        return isNaN(number) ? { text: text } : { number: number };
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), order;
        if (x.number !== undefined && y.number !== undefined) { order = x.number - y.number; }
        else if (x.number !== undefined) { return -1; }
        else if (y.number !== undefined) { return 1; }
        else { order = x.text.localeCompare(y.text); }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


@dataclass(frozen=True)
class Picture:
    """An image on the page: PNG bytes, its title, caption and the files it was saved to."""

    section: str
    title: str
    caption: str
    png: bytes
    files: tuple[str, ...]


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def table_html(frame: pd.DataFrame) -> str:
    """A results frame as a sortable table, its footnotes below it."""
    flat = frame.reset_index()
    flat.columns = [str(c) for c in flat.columns]
    body = flat.to_html(index=False, border=0, classes="sortable", na_rep="", escape=True)
    notes = "".join(
        f'<p class="note">{html.escape(str(note))}</p>' for note in frame.attrs.get("notes", [])
    )
    return f'<div class="scroll">{body}</div>{notes}'


def picture_html(picture: Picture) -> str:
    data = base64.b64encode(picture.png).decode("ascii")
    links = " · ".join(
        f'<a href="{html.escape(path)}">{html.escape(path.rsplit(".", 1)[-1].upper())}</a>'
        for path in picture.files
    )
    return (
        f"<figure><h3>{html.escape(picture.title)}</h3>"
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(picture.title)}">'
        f"<figcaption>{html.escape(picture.caption)} {links}</figcaption></figure>"
    )


def metadata_html(run: dict[str, Any]) -> str:
    environment = run.get("environment") or {}
    git = environment.get("vadbench_git") or {}
    commit = git.get("commit") or "unknown"
    if git.get("dirty"):
        commit += " (with uncommitted changes)"
    invocations = [
        datetime.datetime.fromtimestamp(entry["time"], datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        for entry in run.get("invocations", [])
        if isinstance(entry.get("time"), (int, float))
    ]
    facts = [
        ("vadbench", f"{environment.get('vadbench', 'unknown')}, commit {commit}"),
        ("matrix file", str(run.get("matrix_file", ""))),
        ("runs of this folder", ", ".join(invocations) or "none recorded"),
        ("seeds", ", ".join(str(s) for s in run.get("seeds", []))),
        ("training budget", json.dumps(run.get("budget")) if run.get("budget") else "none"),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    config = yaml.safe_dump(run.get("config") or {}, sort_keys=False, allow_unicode=True)
    return (
        f"<table>{rows}</table>"
        f"<h3>Environment</h3><pre>{html.escape(json.dumps(environment, indent=2))}</pre>"
        f"<h3>Configuration (as run)</h3><pre>{html.escape(config)}</pre>"
    )


@dataclass(frozen=True)
class Section:
    """A part of the page, listed in its navigation: tables and figures under one heading."""

    title: str
    content: str


def tables_html(tables: Sequence[tuple[str, pd.DataFrame]]) -> str:
    return "".join(f"<h3>{html.escape(title)}</h3>{table_html(frame)}" for title, frame in tables)


def pictures_html(pictures: Sequence[Picture]) -> list[Section]:
    """One section per figure kind, in the order the figures come."""
    grouped: dict[str, list[Picture]] = {}
    for picture in pictures:
        grouped.setdefault(picture.section, []).append(picture)
    return [
        Section(title, "".join(map(picture_html, members))) for title, members in grouped.items()
    ]


def missing_html(missing: Sequence[str]) -> Section | None:
    if not missing:
        return None
    items = "".join(f"<li>{html.escape(line)}</li>" for line in missing)
    return Section("What is missing, and why", f'<ul class="missing">{items}</ul>')


def findings_html(paragraphs: Sequence[str]) -> str:
    """The run's findings in words (``run_findings``), their **bold** leads as <strong>."""
    rendered = []
    for paragraph in paragraphs:
        escaped = html.escape(paragraph)
        parts = escaped.split("**")
        text = "".join(
            f"<strong>{part}</strong>" if i % 2 else part for i, part in enumerate(parts)
        )
        rendered.append(f"<p>{text}</p>")
    return "".join(rendered)


def page(run_name: str, summary: str, sections: Sequence[Section]) -> str:
    """The whole document: a heading with the run's summary and a navigation bar, then the
    sections, then the script that makes tables sortable."""
    navigation = "".join(
        f'<a href="#{_anchor(section.title)}">{html.escape(section.title)}</a>'
        for section in sections
    )
    body = "".join(
        f'<section id="{_anchor(s.title)}"><h2>{html.escape(s.title)}</h2>{s.content}</section>'
        for s in sections
    )
    generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>vadbench: {html.escape(run_name)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>vadbench run: {html.escape(run_name)}</h1>"
        f'<p class="meta">{html.escape(summary)} Report written {generated}.</p>'
        f"<nav>{navigation}</nav></header>{body}<script>{SCRIPT}</script></body></html>\n"
    )
