"""``vadbench check``: every split a matrix reads is listed and counted, every problem of every
dataset is named at once, and nothing is trained or written."""

from __future__ import annotations

from pathlib import Path

from tests.corpus_support import build_workspace, run_cli


def test_a_complete_matrix_is_counted(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    matrix = workspace / "matrix.yaml"
    matrix.write_text(
        matrix.read_text().replace(
            "  fd2: {plugin",
            "  zx: {plugin: zxvad, preset: cpu}\n  fd2: {plugin",
        )
    )
    result = run_cli("check", "matrix.yaml", cwd=workspace)
    assert result.returncode == 0, result.output
    rows = {tuple(line.split("│")[1:3]): line for line in result.stdout.splitlines() if "│" in line}
    assert " 2 " in rows[(" a       ", " test  ")] and " 54 " in rows[(" a       ", " test  ")]
    assert "33.3%" in rows[(" a       ", " test  ")]
    assert " 30 " in rows[(" b       ", " test  ")]
    assert "work: 3 cell(s), 6 target evaluation(s), 252 test frames to score" in result.stdout
    assert "zx: train_steps 800" in result.stdout and "fd: no steps option" in result.stdout
    assert not (workspace / "results").exists()


def test_a_budget_is_the_training_length(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    matrix = workspace / "matrix.yaml"
    matrix.write_text(
        matrix.read_text().replace("name: tiny\n", "name: tiny\nbudget: {steps: 7}\n")
    )
    result = run_cli("check", "matrix.yaml", cwd=workspace)
    assert result.returncode == 0 and "fd: steps 7" in result.stdout


def test_every_missing_piece_is_named_and_exit_is_2(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    matrix = workspace / "matrix.yaml"
    matrix.write_text(matrix.read_text().replace("{root: data/b}", "{root: data/nowhere}"))
    (workspace / "data" / "a" / "testing" / "test_frame_mask" / "02.npy").unlink()
    result = run_cli("check", "matrix.yaml", cwd=workspace)
    assert result.returncode == 2 and "Traceback" not in result.output
    errors = [line for line in result.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, result.output
    assert "datasets.a (test split" in errors[0]
    assert "testing/test_frame_mask/02.npy" in errors[0] and "missing" in errors[0]
    assert "datasets.b (test split" in errors[1]
    assert "data/nowhere does not exist" in errors[1]
    assert not (workspace / "results").exists()


def test_a_training_only_set_asked_for_its_test_split(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    matrix = workspace / "matrix.yaml"
    matrix.write_text(
        matrix.read_text().replace(
            "  b: {plugin: frames, options: {root: data/b}}",
            "  b: {plugin: synthetic, options: {domain: ti}}",
        )
    )
    result = run_cli("check", "matrix.yaml", cwd=workspace)
    assert result.returncode == 2
    assert "datasets.b (test split" in result.stdout and "training data only" in result.stdout


def test_a_typo_in_executor_or_metric_options_is_named_on_its_own_line(tmp_path: Path) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    matrix = workspace / "matrix.yaml"
    text = matrix.read_text()
    for typo, named in (
        ("executor: processes\nexecutor_options: {wokers: 2}", "executor_options.wokers"),
        ("metric_options: {fps: {repeat: 3}}", "metric_options.fps.repeat"),
    ):
        matrix.write_text(text.replace("name: tiny", f"name: tiny\n{typo}"))
        result = run_cli("check", "matrix.yaml", cwd=workspace)
        assert result.returncode == 2
        assert f"error: matrix.yaml: {named}: unknown field; did you mean" in result.stdout
        assert "(plan)" not in result.stdout and not (workspace / "results").exists()


COUNTING_DATASET = """
from pathlib import Path

from vadbench.sdk import DatasetSpec, hookimpl
from vadbench_plugins.datasets.frames import FramesOptions, open_frames

OPENED = Path(__file__).parent / "opened.txt"


def open_counted(options):
    with OPENED.open("a") as log:
        log.write("opened\\n")
    return open_frames(options)


@hookimpl
def vadbench_register_datasets(register):
    register(DatasetSpec("counted", "frames, counting opens", "", FramesOptions, open_counted))
"""


def test_check_opens_each_dataset_once_and_says_how_many_threads_a_cell_takes(
    tmp_path: Path,
) -> None:
    workspace = build_workspace(tmp_path / "workspace")
    (workspace / "counted.py").write_text(COUNTING_DATASET)
    matrix = workspace / "matrix.yaml"
    text = matrix.read_text().replace("{plugin: frames, options: {root: data/a}}",
                                      "{plugin: counted, options: {root: data/a}}")  # fmt: skip
    matrix.write_text(text.replace("name: tiny\n", "name: tiny\nplugins: [counted.py]\n"))
    result = run_cli("check", "matrix.yaml", cwd=workspace)
    assert result.returncode == 0, result.output
    assert (workspace / "opened.txt").read_text() == "opened\n"
    assert "torch thread(s), torch's default; one cell at a time" in result.stdout
