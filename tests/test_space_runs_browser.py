"""The Space's Runs tab in a real browser (headless Debian Chromium through Playwright): the report on
screen against an earlier run's bundle, uploaded as a zip — the table of ``misattribution diff``."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from browser import SCREENSHOTS, chromium, launched, playwright_or_skip  # noqa: E402

TIMEOUT_MS = 60_000

sync_api = playwright_or_skip()
pytest.importorskip("sentence_transformers")

from misattribution.discovery import discover  # noqa: E402
from misattribution.discovery.diff import diff_reports  # noqa: E402
from misattribution.discovery.report import IssueReport  # noqa: E402
from misattribution.explore import export_bundle_zip  # noqa: E402
from misattribution.space_app import build_app  # noqa: E402
from misattribution.testing.planted import generate  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs() -> tuple[IssueReport, IssueReport]:
    """An earlier run, and a later one over a changed copy of its rows (a third dropped), mapped onto it."""
    data = generate("agents", 300, seed=0)
    options = dict(fast=True, score_range=data.score_range, progress=False, tree=False, seed=0)
    old = discover(data.frame, **options)
    keep = np.random.default_rng(3).random(len(data.frame)) > 0.33
    new = discover(data.frame[keep].reset_index(drop=True), previous=old, **options)
    return old, new


@pytest.fixture(scope="module")
def page(runs: tuple[IssueReport, IssueReport]) -> Iterator[object]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with launched(build_app(runs[1])) as url, sync_api.sync_playwright() as playwright, chromium(playwright) as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.wait_for_selector("#issues-table")
        yield page


def _upload(page, path: Path) -> None:
    page.get_by_role("tab", name="Runs").click()
    clear = page.locator("#runs-baseline button[aria-label='Clear']")
    if clear.count():  # a file is already there: clear it first (its input comes back)
        clear.first.click()
        page.wait_for_selector("#runs-note :text('Upload the bundle of an earlier run')")
    page.locator("#runs-baseline input[type=file]").set_input_files(str(path))


def test_the_runs_tab_shows_the_diff_against_an_uploaded_earlier_bundle(page, runs, tmp_path: Path) -> None:
    old, new = runs
    expected = diff_reports(old, new)
    _upload(page, export_bundle_zip(old, tmp_path / "earlier.zip"))
    page.wait_for_selector("#runs-table table")
    rows = page.eval_on_selector_all(
        "#runs-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    assert [r[0] for r in rows] == expected["status"].tolist()
    assert all(r[1].startswith(name) for r, name in zip(rows, expected["name"])), rows
    changed = page.eval_on_selector_all("#runs-table tbody tr", "rows => rows.map(r => r.classList.contains('marked'))")
    assert changed == expected["status"].isin(["grown", "shrunk", "new", "vanished"]).tolist()
    note = page.locator("#runs-note").inner_text()
    assert f"earlier run ({len(old.rows)} rows) -> this report ({len(new.rows)} rows)" in note
    assert "Holm" in note
    page.screenshot(path=str(SCREENSHOTS / "13-runs-tab.png"), full_page=True)


def test_a_zip_that_is_not_a_bundle_is_refused_in_one_line(page, tmp_path: Path) -> None:
    bad = tmp_path / "notes.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("notes.txt", "not a bundle")
    _upload(page, bad)
    page.wait_for_function(
        "() => document.querySelector('#runs-note').innerText.includes('Not compared')", timeout=TIMEOUT_MS
    )
    note = page.locator("#runs-note").inner_text()
    assert "notes.zip" in note and "not a results bundle" in note
    assert not page.locator("#runs-table table").is_visible()
