"""The report opens with what the run says: per row group, in words, the best model, the models
tied with it and those significantly below, consistent with the leaderboard's own columns."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CliRunner


def _board_rows(board: str) -> tuple[list[str], list[list[str]]]:
    """The leaderboard table's header and rows, as cells."""
    table = board.split("## leaderboard\n\n")[1].split("\n\n")[0]
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    cells = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines]
    return cells[0], cells[1:]


def test_the_report_opens_with_findings_that_match_the_leaderboard(
    workspace: Path, vadbench_cli: CliRunner
) -> None:
    matrix = workspace / "matrix.yaml"
    row = "  - train: a\n    test: [a, b]\n"
    text = matrix.read_text().replace(row, row + row.replace("train: a", "train: b"))
    matrix.write_text(
        text.replace("[terminal, markdown, csv, json]", "[terminal, markdown, latex, html]")
    )
    result = vadbench_cli("run", "matrix.yaml", "--results-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    run = workspace / "out" / "tiny"
    board = (run / "leaderboard.md").read_text()
    assert board.index("## what the run says") < board.index("## leaderboard")
    paragraphs = board.split("## what the run says\n\n")[1].split("\n\n## ")[0].split("\n\n")
    findings = {p.split("**")[1].split(",")[0]: p for p in paragraphs}
    assert sorted(findings) == ["a", "b"]
    header, rows = _board_rows(board)
    verdicts = {"yes": "Tied with it", "no": "Significantly below it", "undecided": "Too few"}
    checked = set()
    for cells in rows:
        model, source = cells[0], cells[1]
        said = findings[source]
        verdict = cells[header.index("tied with best")]
        if cells[header.index("Δ cross-domain vs best")] == "best":
            assert f"**{source}, zero-shot**: {model} has the highest cross-domain mean" in said
            continue
        assert model in said.split(verdicts[verdict])[1].split(".")[0], (model, source)
        checked.add(verdict)
    assert checked == {"no", "undecided"}  # the tiny data give one of each
    assert "What the run says" in (run / "report.html").read_text()
    assert "has the highest cross-domain mean micro\\_auc" in (run / "leaderboard.tex").read_text()
    assert "has the highest cross-domain mean micro_auc" in result.stdout
