"""``vadbench describe``: options, bounds, defaults and presets read from the plugins themselves,
ambiguous and unknown names answered with exit code 2 and a suggestion."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.conftest import write_plugin
from vadbench.commands import main
from vadbench.commands.describe import type_name

# A metric that shares the model framediff's name, and text that rich would read as markup.
CLASHING_PLUGIN = """
from vadbench.sdk.contracts import DatasetSpec, MetricSpec, Options
from vadbench.sdk.hooks import hookimpl
from pydantic import Field


class TagOptions(Options):
    tag: str = Field("[red]x[/red]", min_length=1, description="shown [bold]as is[/bold]")


@hookimpl
def vadbench_register_metrics(register):
    register(MetricSpec("framediff", "a metric named like a model", "detection", lambda d: []))


@hookimpl
def vadbench_register_datasets(register):
    register(DatasetSpec("tagged", "description with [bold]brackets[/bold]", "<root>/[x]",
                         TagOptions, lambda options: None))
"""


class Color(Enum):
    RED = "red"
    GREEN = "green"


def describe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["describe", *args])
    return code, capsys.readouterr().out


def describe_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out = describe(capsys, *args, "--format", "json")
    assert code == 0, out
    return json.loads(out)


def row(out: str, option: str) -> list[str]:
    """The cells of the options-table row whose first cell is ``option``."""
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.replace("┃", "│").strip("│ ").split("│")]
        if cells[0] == option:
            return cells
    raise AssertionError(f"no row {option!r} in:\n{out}")


def test_framediff_table_shows_type_default_bounds_description_and_presets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = describe(capsys, "framediff")
    assert code == 0
    assert out.startswith("model framediff: non-learned baseline")
    assert "plugin: framediff (entry point of vadbench" in out
    assert row(out, "context_frames") == [
        "context_frames",
        "int",
        "1",
        ">= 1, <= 16",
        "past frames averaged as prediction",
    ]
    assert row(out, "image_size")[:4] == ["image_size", "int", "64", ">= 8, <= 4096"]
    presets = out[out.index("presets") :]
    assert row(presets, "option") == ["option", "cpu", "paper"]
    assert row(presets, "image_size") == ["image_size", "64", "256"]


def test_zxvad_json_has_presets_and_bounded_options(capsys: pytest.CaptureFixture[str]) -> None:
    data = describe_json(capsys, "models", "zxvad")
    assert (data["kind"], data["name"], data["plugin"]) == ("model", "zxvad", "zxvad")
    options = {option["name"]: option for option in data["options"]}
    assert options["context_frames"]["bounds"] == {"ge": 1, "le": 16}
    assert options["object_threshold"]["bounds"] == {"ge": 0, "lt": 1}
    assert options["arcface_scale"]["bounds"] == {"gt": 0}
    assert options["mixing"]["type"] == "scda | mixup | cutmix | patch"
    assert options["unet_widths"]["default"] == [64, 128, 256, 512]
    assert set(data["presets"]) == {"paper", "cpu"}
    assert data["presets"]["cpu"]["image_size"] == 64
    assert data["presets"]["paper"]["image_size"] == 256
    assert all(name in options for preset in data["presets"].values() for name in preset)


def test_dataset_shows_layout_and_required_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = describe(capsys, "dataset", "frames")
    assert code == 0
    assert "layout: <root>/{training,testing}/frames/" in out
    assert row(out, "root")[:3] == ["root", "Path", "(required)"]
    assert row(out, "frame_size")[:3] == ["frame_size", "tuple[int, int] | None", "null"]
    data = describe_json(capsys, "frames")
    assert data["layout"].startswith("<root>/{training,testing}/frames/")
    assert data["presets"] == {}


def test_executors_and_metrics_show_their_declared_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = describe(capsys, "processes")
    assert code == 0 and row(out, "workers")[0] == "workers" and ">= 1" in row(out, "workers")
    code, out = describe(capsys, "fps")
    assert code == 0 and row(out, "repeats")[:3] == ["repeats", "int", "5"]
    code, out = describe(capsys, "micro_auc")
    assert code == 0 and "metric kind: detection" in out and "options: none" in out
    assert describe_json(capsys, "reporter", "csv")["options"] is None


def test_plugins_without_declared_options_say_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plugin = tmp_path / "free.py"
    plugin.write_text(
        "from vadbench.sdk import ExecutorSpec, hookimpl\n\n"
        "@hookimpl\ndef vadbench_register_executors(register):\n"
        "    register(ExecutorSpec('free', 'takes anything', lambda tasks, options: None))\n"
    )
    code, out = describe(capsys, "free", "--plugin", str(plugin))
    assert code == 0 and "executor_options reach it unchecked" in out


def test_unknown_names_exit_2_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = describe(capsys, "zxvd")
    assert code == 2
    assert "is named 'zxvd'; did you mean 'zxvad'?" in out
    code, out = describe(capsys, "model", "framedif")
    assert code == 2 and "unknown model 'framedif'; did you mean 'framediff'?" in out
    code, out = describe(capsys, "modles", "zxvad")
    assert code == 2 and "unknown kind 'modles'; did you mean 'models'?" in out


def test_a_name_in_two_kinds_asks_for_the_kind_and_markup_is_shown_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = str(write_plugin(tmp_path / "clash.py", CLASHING_PLUGIN))
    code, out = describe(capsys, "framediff", "--plugin", plugin)
    assert code == 2
    assert "'framediff' names more than one kind (model, metric)" in out
    assert "'vadbench describe metrics framediff'" in out
    code, out = describe(capsys, "metric", "framediff", "--plugin", plugin)
    assert code == 0 and out.startswith("metric framediff: a metric named like a model")

    code, out = describe(capsys, "tagged", "--plugin", plugin)
    assert code == 0
    assert "description with [bold]brackets[/bold]" in out and "layout: <root>/[x]" in out
    assert row(out, "tag") == [
        "tag",
        "str",
        "[red]x[/red]",
        "min length 1",
        "shown [bold]as is[/bold]",
    ]


@pytest.mark.parametrize(
    ("annotation", "shown"),
    [
        (int, "int"),
        (tuple[int, int] | None, "tuple[int, int] | None"),
        (Literal["error", "skip"], "error | skip"),
        (Literal[1, 2, 3] | None, "1 | 2 | 3 | None"),
        (tuple[str, ...], "tuple[str, ...]"),
        (dict[str, list[float]], "dict[str, list[float]]"),
        (Path, "Path"),
        (Color, "red | green"),
    ],
)
def test_type_names_are_readable(annotation: Any, shown: str) -> None:
    assert type_name(annotation) == shown
