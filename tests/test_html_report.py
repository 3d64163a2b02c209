"""The HTML report of a small run with a failed cell and an n/a metric: one self-contained page
and its figures as PNG and SVG, opened in headless Chromium (Debian's ``chromium`` driven by
Playwright): no console error, no network request, sortable tables, every image drawn."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.builders import write_square_dataset
from tests.conftest import labels
from tests.corpus_support import TINY_ZXVAD, build_workspace, run_cli

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("VADBENCH_TEST_ARTIFACTS", ROOT / "test-artifacts"))
INSTALL = "apt-get install chromium && pip install playwright"

MATRIX = """
name: report
plugins: [faulty.py]
datasets:
  a: {plugin: frames, options: {root: data/a}}
  b: {plugin: frames, options: {root: data/b}}
  quiet: {plugin: frames, options: {root: data/quiet}}
models:
  fd: {plugin: framediff, overrides: {image_size: 16}}
{TINY_ZXVAD}
  broken: {plugin: faulty, overrides: {mode: fit_raises}}
threads: 1
reporters: [html, markdown]
metrics: [micro_auc, macro_auc, params, gmacs, fps]
metric_options: {fps: {warmup: 0, repeats: 1, min_seconds: 0.01}}
matrix:
  - train: a
    test: [a, b, quiet]
""".replace("{TINY_ZXVAD}", TINY_ZXVAD)


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder: framediff and a tiny zxVAD on two targets and an all-normal one,
    and a model whose fit raises."""
    workspace = build_workspace(tmp_path_factory.mktemp("html") / "workspace")
    write_square_dataset(workspace / "data" / "quiet", [20], [labels(20, 0, 0)], seed=3)
    (workspace / "matrix.yaml").write_text(MATRIX)
    result = run_cli("run", "matrix.yaml", cwd=workspace)
    assert result.returncode == 1, result.output  # the broken model's cell failed
    return workspace / "results" / "report"


def test_the_report_is_one_page_with_every_figure_inline_and_in_files(report_run: Path) -> None:
    text = (report_run / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing from a network
    inline = re.findall(r'<img src="data:image/png;base64,', text)
    figures = report_run / "figures"
    drawn = sorted(p.stem for p in figures.glob("*.svg"))
    assert {"accuracy_vs_gmacs", "accuracy_vs_fps", "roc_a_zero-shot", "curves_b_zero-shot"} <= set(
        drawn
    )
    assert any(name.startswith("heatmap_zx") for name in drawn)
    assert {"difference_a_zero-shot", "difference_b_zero-shot"} <= set(drawn)
    for stem in drawn:
        assert (figures / f"{stem}.png").stat().st_size > 1000
        assert f'href="figures/{stem}.svg"' in text
    gallery = list(figures.glob("zx*pseudo_anomalies.png"))
    assert len(gallery) == 1  # zxVAD's Fig. 3 picture, drawn while training
    assert len(inline) == len(drawn) + len(gallery)


def test_a_failed_cell_and_na_values_say_why(report_run: Path) -> None:
    text = (report_run / "report.html").read_text()
    assert "loss exploded at step 3" in text  # the failed cell, with its error
    assert "a → quiet: target has frames of only one class" in text  # the n/a AUC, and why
    assert "ROC on quiet (zero-shot): frames of one class only" in text
    assert "difference maps of broken" not in text  # it never scored, so nothing is missing
    assert "commit" in text and "Configuration (as run)" in text


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(f"no chromium on this machine; install it with: {INSTALL}")
    return found


def test_the_report_opens_offline_in_chromium_and_sorts(report_run: Path) -> None:
    executable = _chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason=f"Playwright is not installed; install it with: {INSTALL}"
    )
    page_url = (report_run / "report.html").as_uri()
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_url, wait_until="load")

        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.complete, e.naturalWidth])"
        )
        assert images and all(done and width > 0 for done, width in images)

        board = page.locator("#leaderboard table.sortable").first
        header = board.locator("thead th", has_text="micro_auc (mean)")
        column = board.locator("thead th").all_inner_texts().index(header.inner_text())

        def values() -> list[str]:
            return [
                row.locator("td").nth(column).inner_text()
                for row in board.locator("tbody tr").all()
            ]

        before = values()
        header.click()
        ascending = values()
        header.click()
        descending = values()
        numbers = [float(v.split()[0]) for v in ascending]
        assert numbers == sorted(numbers) and descending == ascending[::-1]
        assert len(set(before)) > 1 and ascending != descending
        assert header.get_attribute("aria-sort") == "descending"

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "html-report.png"), full_page=True)
        browser.close()
    assert not errors, errors
    fetched = [url for url in requests if not url.startswith("data:")]  # inline, not fetched
    assert fetched == [page_url], fetched  # the page itself, nothing else
