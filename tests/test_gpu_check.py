"""The prepared GPU script runs end to end on the CPU in its dry mode and writes its results file
with the hardware named: the Table 3 profile, the throughput sweep and the training throughput."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_writes_every_section(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (written,) = tmp_path.glob("gpu_check_dry_*.md")
    text = written.read_text()
    assert "(dry run on the CPU)" in text.splitlines()[0]
    assert "## Table 3: paper-table3 (dry run: zxvad cpu preset)" in text
    assert "| zxvad:cpu (cpu) |" in text and "fps [frames/s]" in text
    sweep = [line for line in text.splitlines() if line.startswith("| cpu | ")]
    assert [line.split(" | ")[1:3] for line in sweep] == [["1", "fp32"], ["2", "fp32"]]
    assert all(float(line.split(" | ")[3].rstrip(" |")) > 0 for line in sweep)
    assert "## Training throughput at the cpu presets" in text
    assert "| zxvad | fp32 |" in text
