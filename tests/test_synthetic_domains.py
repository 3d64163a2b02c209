"""User-defined synthetic domains: the built-in domains as data files (pinned to the values they
had as Python), the docs' example run through the CLI, strict errors that name the file and the
field, content-addressed fingerprints and cache folders, the anomaly mix, and the commands."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from tests.corpus_support import error_line, run_cli
from vadbench.harness.hashing import content_hash
from vadbench.sdk.contracts import ConfigError
from vadbench_plugins.datasets.synthetic.anomalies import anomaly_code
from vadbench_plugins.datasets.synthetic.dataset import SyntheticDataset, SyntheticOptions
from vadbench_plugins.datasets.synthetic.domains import (
    ANOMALY_TYPES,
    BUILTIN_FOLDER,
    DOMAIN_NAMES,
    builtin_domains,
    load_domain,
    parse_domain,
)
from vadbench_plugins.datasets.synthetic.render import GeneratorParams, anomaly_order, render_video

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "synthetic.md"
TINY = {"resolution": 32, "frames_per_video": 32, "train_videos": 2, "test_videos": 2}
TINY_ARGS = ["--resolution", "32", "--frames-per-video", "32", "--train-videos", "2"]
TINY_ARGS += ["--test-videos", "2"]

# SHA-256 of each built-in domain's values (json.dumps(dataclasses.asdict(domain),
# sort_keys=True)), computed from the Python definitions the domains had before they became
# YAML files, with the anomaly mix those domains always had: all nine types, equal weights. The
# files render byte-identical videos as long as they load into exactly these values.
BUILTIN_CONTENT = {
    "campus": "031f735a5f97e3f2f46076d4ceabd4ebbb7509b012317f453d2ab2f5ce57cb7e",
    "street": "275ac31f5d33ab6488a9255b5e6bc0b979ac0d38e3d28051cd847a65502a64c3",
    "plaza": "5855aaa806744d6d13eda1f94d3d38896b90df46b56859b600440d63e3bf7e1a",
    "corridor": "3feeabd765248dab53ee220e602d31223af48736bdd40d5a0c125d8caf3a1caf",
    "night": "4406afa89567653e4421f357e1b1758d2ebe5412bd77658996459328fcd9c4a9",
    "station": "c6e83fe30a18e55e1268c01ff22d5e82ab0b7b83e7ac5b1dbab601916f2aef77",
    "bridge": "e5ab1d918175d9087cbff6337b1c2cd42b1c8fe0d0bd195eddd11b8cd4453182",
}
# content_hash of the dataset fingerprint at TINY (ti_videos 8) before the conversion: stored
# cell hashes of runs on built-in domains depend on exactly these.
BUILTIN_FINGERPRINTS = {
    "campus": "7b42c3ab905fa9ec",
    "street": "c3c2e4fefe25e1af",
    "plaza": "ccbdad60522106f5",
    "corridor": "7349d866785d7acd",
    "night": "015abc04597a991c",
    "station": "c08e8a9174bc50fa",
    "bridge": "149d3760e7b91b9a",
    "ti": "52e341c8896dbf44",
}


def docs_yaml_block(first_line: str) -> str:
    """The ```yaml block of docs/synthetic.md that starts with ``first_line``."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    found = [block for block in blocks if block.startswith(first_line)]
    assert len(found) == 1, f"docs/synthetic.md has no single yaml block starting {first_line!r}"
    return found[0]


def docs_dock() -> str:
    return docs_yaml_block("# cameras/dock.yaml")


def docs_yard() -> dict[str, Any]:
    """The inline example's dataset entry."""
    entry: dict[str, Any] = yaml.safe_load(docs_yaml_block("# an inline domain"))["datasets"][
        "yard"
    ]
    return entry


def docs_errors() -> list[str]:
    """The error lines docs/synthetic.md shows for mistakes in a domain."""
    return [line for line in DOCS.read_text().splitlines() if line.startswith("error: ")]


def write_workspace(root: Path, dock: str, yard: dict[str, Any]) -> Path:
    """cameras/dock.yaml and a tiny matrix: framediff trained on the dock, tested on the dock
    and on the inline yard."""
    (root / "cameras").mkdir(parents=True, exist_ok=True)
    (root / "cameras" / "dock.yaml").write_text(dock)
    yard_options = {**yard["options"], **TINY}
    matrix = {
        "name": "custom",
        "datasets": {
            "dock": {"plugin": "synthetic", "options": {"domain": "cameras/dock.yaml", **TINY}},
            "yard": {"plugin": "synthetic", "options": yard_options},
        },
        "models": {"fd": {"plugin": "framediff", "overrides": {"image_size": 16}}},
        "metrics": ["micro_auc"],
        "reporters": ["json"],
        "matrix": [{"train": "dock", "test": ["dock", "yard"]}],
    }
    (root / "matrix.yaml").write_text(yaml.safe_dump(matrix, sort_keys=False))
    return root


def fingerprint(domain: str | dict[str, Any], **options: Any) -> dict[str, Any]:
    opened = SyntheticDataset(SyntheticOptions.model_validate({"domain": domain, **options}))
    return dict(opened.fingerprint())


def routes_only(**extra: Any) -> dict[str, Any]:
    """A small valid inline domain."""
    return {
        "name": "lane",
        "scene": {"ground": [0.4, 0.4, 0.4]},
        "camera": {"horizon": -1.0, "near_height": 0.25},
        "crowd": {
            "density": 3,
            "routes": [{"points": [[-0.15, 0.7], [1.15, 0.6]], "half_width": 0.6}],
        },
        **extra,
    }


# --- the built-in domains are data files, unchanged ---------------------------------------------


def test_builtin_files_load_into_exactly_the_old_values() -> None:
    assert sorted(p.stem for p in BUILTIN_FOLDER.glob("*.yaml")) == sorted(DOMAIN_NAMES)
    for name, domain in builtin_domains().items():
        text = json.dumps(dataclasses.asdict(domain), sort_keys=True)
        assert hashlib.sha256(text.encode()).hexdigest() == BUILTIN_CONTENT[name], (
            f"plugins/datasets/synthetic/domains/{name}.yaml no longer loads into the values its "
            "videos were rendered from; a changed built-in domain needs a GENERATOR_VERSION bump"
        )
        assert load_domain(name) is domain


def test_builtin_fingerprints_are_unchanged(tmp_path: Path) -> None:
    for name, expected in BUILTIN_FINGERPRINTS.items():
        assert content_hash(fingerprint(name, **TINY, cache_dir=tmp_path))[:16] == expected, name


def test_a_copy_of_a_builtin_file_is_that_builtin(tmp_path: Path) -> None:
    copy = tmp_path / "my-campus.yaml"
    copy.write_text("# only a comment differs\n" + (BUILTIN_FOLDER / "campus.yaml").read_text())
    assert fingerprint(str(copy), **TINY) == fingerprint("campus", **TINY)


# --- the docs' example, through the CLI -------------------------------------------------------


def test_docs_example_runs_in_a_matrix_as_a_file_and_inline(tmp_path: Path) -> None:
    root = write_workspace(tmp_path, docs_dock(), docs_yard())
    first = run_cli("run", "matrix.yaml", cwd=root)
    assert first.returncode == 0, first.output
    rows = json.loads((root / "results" / "custom" / "results.json").read_text())["rows"]
    assert [(row["target"], row["status"]) for row in rows] == [("dock", "ok"), ("yard", "ok")]
    assert all(0.0 <= row["value"] <= 1.0 for row in rows)
    cell = re.search(r"fd__dock__s0__\w+", first.output)
    assert cell is not None and "trained" in first.output

    assert "already done" in run_cli("run", "matrix.yaml", cwd=root).output
    dock = root / "cameras" / "dock.yaml"
    dock.write_text(dock.read_text().replace("noise: 0.03", "noise: 0.04"))
    edited = run_cli("run", "matrix.yaml", cwd=root)
    assert edited.returncode == 0, edited.output
    assert "trained" in edited.output and cell.group() not in edited.output


def test_documented_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    """Each mistake gives the error line docs/synthetic.md shows for it, at configuration time."""
    dock, yard = docs_dock(), docs_yard()
    no_one_way = json.loads(json.dumps(yard))
    no_one_way["options"]["domain"]["crowd"]["routes"][0]["one_way"] = False
    no_one_way["options"]["domain"]["anomalies"] = ["running", "wrong_way"]
    mistakes = [
        (dock.replace("noise: 0.03", "noise: 0.9"), yard),
        (dock.replace("half_width: 0.5", "half_widht: 0.5"), yard),
        (dock, no_one_way),
    ]
    documented = docs_errors()
    assert len(documented) == len(mistakes)
    for index, ((dock_text, yard_entry), expected) in enumerate(
        zip(mistakes, documented, strict=True)
    ):
        root = write_workspace(tmp_path / str(index), dock_text, yard_entry)
        result = run_cli("run", "matrix.yaml", cwd=root)
        assert result.returncode == 2
        assert error_line(result) == expected
        assert not (root / "results").exists()


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        (
            routes_only(sensr={"noise": 0.1}),
            "inline domain: sensr: unknown field; did you mean 'sensor'",
        ),
        (
            routes_only(sensor={"nois": 0.1}),
            "inline domain: sensor.nois: unknown field; did you mean 'noise'?",
        ),
        (
            routes_only(scene={"ground": [0.4, 0.4, 1.5]}),
            "inline domain: scene.ground.2: Input should be less than or equal to 1",
        ),
        (
            routes_only(camera={"horizon": -1.0, "near_height": 0}),
            "inline domain: camera.near_height: Input should be greater than or equal to 0.05",
        ),
        (
            routes_only(anomalies={"vehicle": 1, "parkd": 2}),
            "inline domain: anomalies: unknown anomaly type 'parkd'; did you mean 'parked'?",
        ),
        (
            routes_only(anomalies=["vehicle", "trespass"]),
            "inline domain: anomalies: trespass needs an off-route (crowd.off_routes)",
        ),
        (
            routes_only(scene={"ground": [0.4, 0.4, 0.4], "clutter": {"count": 2}}),
            "inline domain: scene.clutter: clutter with count > 0 needs at least one colour",
        ),
        (routes_only(name="ti"), "inline domain: name: 'ti' is reserved"),
    ],
)
def test_bad_inline_domains_fail_when_the_options_are_read(
    domain: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        SyntheticOptions.model_validate({"domain": domain})
    assert message in caught.value.errors()[0]["msg"]


def test_domain_files_that_cannot_be_read_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.yaml"
    with pytest.raises(ConfigError, match=r"gone\.yaml: no such domain file"):
        load_domain(str(missing))
    twice = tmp_path / "twice.yaml"
    twice.write_text("name: a\nname: b\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml: line 2, column 1: .*'name' appears"):
        load_domain(str(twice))
    listed = tmp_path / "listed.yml"
    listed.write_text("- name: a\n")
    with pytest.raises(ConfigError, match=r"listed\.yml: expected a mapping of domain fields"):
        load_domain(str(listed))
    with pytest.raises(ConfigError, match="unknown domain 'campsu'; did you mean 'campus'"):
        load_domain("campsu")


# --- fingerprints and cache folders follow a custom domain's content ---------------------------


def test_editing_a_domain_file_changes_its_fingerprint_and_cache_folder(tmp_path: Path) -> None:
    path = tmp_path / "lane.yaml"
    path.write_text(yaml.safe_dump(routes_only()))
    before = fingerprint(str(path), **TINY, cache_dir=tmp_path / "cache")
    folder = SyntheticDataset(
        SyntheticOptions.model_validate({"domain": str(path), **TINY, "cache_dir": tmp_path})
    ).root
    assert before["domain"] == "lane" and before["domain_spec"]["near_height"] == 0.25
    assert folder.name.startswith("lane-")

    path.write_text("# a comment changes nothing\n" + path.read_text())
    assert fingerprint(str(path), **TINY, cache_dir=tmp_path / "cache") == before
    assert fingerprint(routes_only(), **TINY, cache_dir=tmp_path / "cache") == before  # inline

    path.write_text(yaml.safe_dump(routes_only(sensor={"noise": 0.02})))
    after = fingerprint(str(path), **TINY, cache_dir=tmp_path / "cache")
    assert after != before and content_hash(after) != content_hash(before)
    edited = SyntheticDataset(
        SyntheticOptions.model_validate({"domain": str(path), **TINY, "cache_dir": tmp_path})
    ).root
    assert edited.parent == folder.parent and edited.name != folder.name


def test_relative_domain_paths_are_read_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cameras").mkdir()
    (tmp_path / "cameras" / "lane.yaml").write_text(yaml.safe_dump(routes_only()))
    monkeypatch.chdir(tmp_path)
    assert load_domain("cameras/lane.yaml").name == "lane"
    monkeypatch.chdir(tmp_path / "cameras")
    where = re.escape(f"a relative path is read from {tmp_path / 'cameras'}")
    with pytest.raises(ConfigError, match=where):
        load_domain("cameras/lane.yaml")


# --- the anomaly mix ---------------------------------------------------------------------------


def test_default_mix_leaves_out_what_the_routes_cannot_show() -> None:
    plain = parse_domain(routes_only(), Path("lane.yaml"))
    assert [kind for kind, _ in plain.anomalies] == [
        kind for kind in ANOMALY_TYPES if kind not in ("wrong_way", "trespass")
    ]
    assert dict(builtin_domains()["campus"].anomalies) == dict.fromkeys(ANOMALY_TYPES, 1.0)


def test_anomaly_types_narrow_the_mix_and_must_leave_one_type() -> None:
    domain = routes_only(anomalies=["running", "parked"])
    options = SyntheticOptions.model_validate(
        {"domain": domain, **TINY, "anomaly_types": ["parked", "vehicle"]}
    )
    camera = options.camera()
    assert camera is not None
    for index in range(2):
        video = render_video(camera, options.generator_params(), "test", index)
        assert video.anomaly_type is not None
        assert set(np.unique(video.anomaly_type)) == {0, anomaly_code("parked")}
    with pytest.raises(ValidationError, match="none of vehicle is in the anomaly mix of domain"):
        SyntheticOptions.model_validate({"domain": domain, "anomaly_types": ["vehicle"]})


def test_unequal_weights_make_heavier_types_more_frequent() -> None:
    domain = parse_domain(routes_only(anomalies={"vehicle": 9, "fall": 1}), Path("lane.yaml"))
    params = GeneratorParams(test_videos=200)
    tried = Counter(kind for i in range(200) for kind in anomaly_order(params, domain, i))
    assert set(tried) == {"vehicle", "fall"}
    assert 0.8 < tried["vehicle"] / sum(tried.values()) < 0.97
    equal = parse_domain(routes_only(anomalies=["vehicle", "fall"]), Path("lane.yaml"))
    firsts = [anomaly_order(GeneratorParams(test_videos=2), equal, i)[0] for i in range(2)]
    assert sorted(firsts) == ["fall", "vehicle"]  # equal weights: every video starts elsewhere


# --- the commands ------------------------------------------------------------------------------


def test_synth_and_synth_preview_take_a_domain_file(tmp_path: Path) -> None:
    (tmp_path / "cameras").mkdir()
    dock = tmp_path / "cameras" / "dock.yaml"
    dock.write_text(docs_dock())
    argv = ["--domain", "cameras/dock.yaml", "--out", "export", *TINY_ARGS]
    first = run_cli("synth", *argv, cwd=tmp_path)
    assert first.returncode == 0, first.output
    manifest = json.loads((tmp_path / "export" / "dock" / "manifest.json").read_text())
    assert manifest["domain"] == "dock" and manifest["domain_spec"]["name"] == "dock"
    assert (tmp_path / "export" / "dock" / "testing" / "test_pixel_mask" / "02.npy").is_file()
    assert "already holds this export" in run_cli("synth", *argv, cwd=tmp_path).output

    dock.write_text(dock.read_text().replace("density: 3.0", "density: 4.0"))
    refused = run_cli("synth", *argv, cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in error_line(refused)
    assert run_cli("synth", *argv, "--force", cwd=tmp_path).returncode == 0

    preview = ["--domain", "cameras/dock.yaml", "--out", "sheets", *TINY_ARGS]
    assert run_cli("synth-preview", *preview, cwd=tmp_path).returncode == 0
    assert (tmp_path / "sheets" / "dock.png").is_file()

    dock.write_text(dock.read_text().replace("noise: 0.03", "noise: 0.9"))
    bad = run_cli("synth", *argv, cwd=tmp_path)
    assert bad.returncode == 2
    assert error_line(bad) == (
        "error: --domain: dock.yaml: sensor.noise: Input should be less than or equal to 0.5"
    )
