"""Bad input gives one clear line naming the file, field or plugin, exit code 2, no traceback,
and never touches results already stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CliRunner, write_plugin


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def edit_matrix(workspace: Path, old: str, new: str) -> None:
    path = workspace / "matrix.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ("  - train: a\n", "  - train: a\n  - [unclosed\n", ["matrix.yaml", "malformed YAML"]),
        ("name: tiny\n", "name: tiny\nseedz: [1]\n", ["matrix.yaml: seedz: unknown field"]),
        (
            "{plugin: framediff, overrides: {image_size: 16}}",
            "{plugin: framediff, overrides: {image_sise: 16}}",
            ["matrix.yaml: models.fd.overrides.image_sise: unknown field"],
        ),
        (
            "fd: {plugin: framediff,",
            "fd: {plugin: framedif,",
            ["models.fd.plugin", "unknown model 'framedif'", "did you mean 'framediff'"],
        ),
        (
            "{root: data/b}",
            "{root: data/nowhere}",
            ["datasets.b", "data/nowhere does not exist", "expected the FFP/MNAD layout"],
        ),
        ("test: [a, b]", "test: [a, c]", ["matrix.0.test", "unknown dataset 'c'"]),
        ("[terminal, markdown", "[terminal, markdwn", ["reporters.1", "did you mean 'markdown'"]),
        (
            "{plugin: framediff, overrides: {image_size: 16}}",
            "{plugin: framediff, overrides: {image_size: 2}}",
            ["models.fd.overrides.image_size", "greater than or equal to 8"],
        ),
    ],
)
def test_configuration_errors(
    workspace: Path, vadbench_cli: CliRunner, old: str, new: str, fragments: list[str]
) -> None:
    assert vadbench_cli("run", "matrix.yaml").returncode == 0
    stored = sorted(p.relative_to(workspace) for p in (workspace / "results").rglob("*.json"))
    contents = {p: (workspace / p).read_bytes() for p in stored if "run.json" not in str(p)}
    edit_matrix(workspace, old, new)
    assert_one_line_error(vadbench_cli("run", "matrix.yaml"), *fragments)
    for path, content in contents.items():
        assert (workspace / path).read_bytes() == content


def test_plugin_raising_on_import_is_named(workspace: Path, vadbench_cli: CliRunner) -> None:
    write_plugin(workspace / "bad_import.py", "raise ImportError('needs the moon')\n")
    result = vadbench_cli("run", "matrix.yaml", "--plugin", "bad_import.py")
    assert_one_line_error(result, "plugin file bad_import.py raised on import", "needs the moon")


def test_plugin_raising_in_a_hook_is_named(workspace: Path, vadbench_cli: CliRunner) -> None:
    write_plugin(
        workspace / "bad_hook.py",
        """
        from vadbench.hookspecs import hookimpl

        @hookimpl
        def vadbench_register_models(register):
            raise KeyError("oops")
        """,
    )
    result = vadbench_cli("list", "models", "--plugin", "bad_hook.py")
    assert_one_line_error(result, "plugin 'file:bad_hook.py' raised in vadbench_register_models")


def test_plugin_with_a_misspelt_hook_is_rejected(workspace: Path, vadbench_cli: CliRunner) -> None:
    write_plugin(
        workspace / "typo.py",
        """
        from vadbench.hookspecs import hookimpl

        @hookimpl
        def vadbench_register_model(register):
            pass
        """,
    )
    result = vadbench_cli("plugins", "--plugin", "typo.py")
    assert_one_line_error(result, "file:typo.py", "does not match the hook contract")


def test_debug_shows_the_traceback(workspace: Path, vadbench_cli: CliRunner) -> None:
    edit_matrix(workspace, "name: tiny\n", "name: tiny\nseedz: [1]\n")
    result = vadbench_cli("run", "matrix.yaml", "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_missing_matrix_file(workspace: Path, vadbench_cli: CliRunner) -> None:
    assert_one_line_error(vadbench_cli("run", "nope.yaml"), "nope.yaml: no such matrix file")
