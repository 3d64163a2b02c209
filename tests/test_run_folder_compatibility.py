"""A run folder written before the harness moved (vadbench at 6c8595b) still reads: its
records parse, its results render to the same results.json, and a detector loads its cells."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import CliRunner
from vadbench.harness.records import (
    CalibrationRecord,
    CellRecord,
    EfficiencyRecord,
    FitRecord,
    ResultRecord,
)
from vadbench.harness.store import RunStore

BEFORE = Path(__file__).resolve().parent / "data" / "runs" / "before-the-move"
# What results.json gained since that folder's was written, with the value an older folder
# gets: no model from the zoo, and FFP's evaluation protocol on every target's row.
ADDED_COLUMNS = {"origin": lambda row: "", "evaluation": lambda row: "ffp" if row["target"] else ""}


def test_every_record_of_an_older_run_folder_parses() -> None:
    store = RunStore(BEFORE, confined=False)
    cells = json.loads(store.run_file.read_text())["cells"]
    assert len(cells) == 2
    for cell_id, cell_hash in cells.items():
        cell = store.read(CellRecord, cell_id)
        assert cell is not None and cell.hash == cell_hash and cell.format == 1
        assert store.finished_checkpoint(cell_id, cell_hash)
        for kind in (FitRecord, EfficiencyRecord, CalibrationRecord):
            record = store.read(kind, cell_id)
            assert record is not None and record.hash == cell_hash
        for key, target in cell.targets.items():
            result = store.read(ResultRecord, cell_id, key)
            assert result is not None and result.hash == target.hash
            assert {metric.name for metric in result.metrics} == {"micro_auc", "macro_auc"}


def test_an_older_run_folder_renders_the_same_results(
    tmp_path: Path, vadbench_cli: CliRunner
) -> None:
    run = shutil.copytree(BEFORE, tmp_path / "before-the-move")
    (run / "results.json").unlink()
    result = vadbench_cli("report", str(run), "--reporter", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = json.loads((run / "results.json").read_text())
    assert rendered.pop("evaluation") == {
        "name": "ffp", "normalisation": "per-video", "smoothing": "none", "context": "drop"
    }  # fmt: skip
    for row in rendered["rows"]:
        for column, expected in ADDED_COLUMNS.items():
            assert row.pop(column) == expected(row)
    assert rendered == json.loads((BEFORE / "results.json").read_text())
