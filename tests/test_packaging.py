"""The README's set-up lines and CI agree, and the packaging exposes the built-ins."""

from __future__ import annotations

import importlib.metadata as md
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_command_lines() -> list[str]:
    return [
        line.strip()
        for line in (ROOT / "README.md").read_text().splitlines()[:12]
        if line.startswith("    ") and line.strip()
    ]


def test_readme_opens_with_the_main_job_and_the_test_line() -> None:
    main_job, test_line = readme_command_lines()[:2]
    assert main_job.endswith("vadbench run benchmarks/quickstart.yaml")
    assert (ROOT / "benchmarks" / "quickstart.yaml").is_file()
    assert "pytest" in test_line and test_line.startswith("pip install torch==2.13.0")


def test_ci_runs_the_readme_test_line_verbatim() -> None:
    test_line = readme_command_lines()[1]
    assert test_line in (ROOT / ".ci" / "run").read_text().splitlines()


def test_torch_has_a_lower_bound_and_no_upper_bound() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    (torch,) = re.findall(r'"(torch[^"]*)"', text)
    assert torch == "torch>=2.4"


def test_builtins_register_through_the_entry_point_group() -> None:
    points = {ep.name: ep for ep in md.entry_points(group="vadbench")}
    own = {name for name, ep in points.items() if ep.dist and ep.dist.name == "vadbench"}
    assert {"frames", "framediff", "detection_metrics", "reporters", "local_executor"} <= own
    assert all(points[name].value.startswith("vadbench_plugins.") for name in own)


def test_every_package_folder_is_in_the_distribution() -> None:
    """setuptools lists packages by hand here: a new folder missing from the list would work in
    a checkout and be absent from an installed wheel."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for top, name in (("vadbench", "vadbench"), ("plugins", "vadbench_plugins")):
        for init in (ROOT / top).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *parts)))
    assert found == listed
