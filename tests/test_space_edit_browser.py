"""The Space's Edit issues tab in a real browser (headless Debian Chromium through Playwright): merge and
park issues of a real discovery run, save the issue list (the downloaded file is read back), re-map the
rows to it, and find the edited tree again in the Issues tab."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from browser import SCREENSHOTS, chromium, launched, playwright_or_skip  # noqa: E402

TIMEOUT_MS = 30_000
REMAP_TIMEOUT_MS = 300_000  # the static mode embeds every feedback sentence: minutes on a loaded 2-core machine

sync_api = playwright_or_skip()
pytest.importorskip("sentence_transformers")

from misattribution.discovery import discover, edits  # noqa: E402
from misattribution.discovery.modes.static import parse_issues  # noqa: E402
from misattribution.discovery.report import IssueReport  # noqa: E402
from misattribution.space_app import build_app  # noqa: E402
from misattribution.testing.planted import generate  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report() -> IssueReport:
    data = generate("agents", 300, seed=0)
    return discover(data.frame, fast=True, score_range=data.score_range, progress=False)


@pytest.fixture(scope="module")
def served(report: IssueReport) -> Iterator[str]:
    with launched(build_app(report)) as url:
        yield url


@pytest.fixture(scope="module")
def page(served: str) -> Iterator[object]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright, chromium(playwright) as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(TIMEOUT_MS)
        yield page


def _choose(page, elem_id: str, label: str) -> None:
    """Pick an option of a multiselect dropdown by its label."""
    field = page.locator(f"#{elem_id} input")
    field.click()
    listbox = field.get_attribute("aria-controls")
    page.locator(f"#{listbox} [role=option][aria-label='{label}']").click()
    page.locator("#title").click()  # close the list


def _action(page, label: str) -> None:
    page.locator("#edit-action label").filter(has_text=label).first.click()


def _issue_rows(page) -> list[str]:
    return page.eval_on_selector_all("#issues-table .mt-leaf", "rows => rows.map(r => r.dataset.id)")


def _shot(page, name: str) -> None:
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_edit_save_and_remap_in_the_browser(page, served: str, report: IssueReport, tmp_path: Path) -> None:
    plain = [i for i in report.issues if "'" not in i.name]  # option labels are matched in a CSS selector
    first, second, third = plain[1], plain[2], plain[3]
    # What the page should end with, computed in-process with the same edits.
    expected = edits.park(edits.merge(report, [first.id, second.id], name="Figures without a cited source"), third.id)

    page.goto(served)
    page.wait_for_selector("#issues-table .mt-leaf")
    page.get_by_role("tab", name="Edit", exact=True).click()
    page.wait_for_selector("#edit-history:has-text('No edits yet')")

    _action(page, "Merge")
    _choose(page, "edit-issues", f"{first.name} ({first.count} rows)")
    _choose(page, "edit-issues", f"{second.name} ({second.count} rows)")
    page.locator("#edit-name input, #edit-name textarea").first.fill("Figures without a cited source")
    page.locator("#edit-apply").click()
    page.wait_for_selector("#edit-message:has-text('Merged')")
    kept = max((first, second), key=lambda i: (i.count, -report.issues.index(i)))
    assert f"id {kept.id} kept" in page.inner_text("#edit-message")

    _action(page, "Park")
    _choose(page, "edit-issues", f"{third.name} ({third.count} rows)")
    page.locator("#edit-apply").click()
    page.wait_for_selector("#edit-message:has-text('Parked')")
    history = page.inner_text("#edit-history")
    assert f"merge {first.name}, {second.name} → Figures without a cited source" in history
    assert f"park {third.name}" in history
    page.wait_for_selector(f"#status:has-text('{len(expected.issues)} issues')")  # the page head follows
    assert page.input_value("#edit-name input, #edit-name textarea") == ""  # cleared for the next edit
    _shot(page, "edit-1-merged-and-parked")

    # Every view follows the edited report: the Issues tab lists the edited issues.
    page.get_by_role("tab", name="Issues", exact=True).click()
    page.wait_for_function(
        "a => { const shown = [...document.querySelectorAll('#issues-table .mt-leaf')].map(r => r.dataset.id);"
        " return a.ids.every(id => shown.includes(id)) && !shown.includes(a.parked); }",
        arg={"ids": [i.id for i in expected.issues], "parked": third.id},
    )
    shown = [i for i in _issue_rows(page) if i != "no-issue"]
    assert shown == [i.id for i in expected.issues]

    # Save: the downloaded issue list names the edited issues (the parked one marked as such).
    page.get_by_role("tab", name="Edit", exact=True).click()
    page.locator("#edit-save").click()
    link = page.locator("#edit-file a").first
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "issues.txt"
    download.value.save_as(saved)
    given = parse_issues(saved)
    assert [g.name for g in given if not g.parked] == [i.name for i in expected.issues]
    assert [g.id for g in given if g.parked] == [third.id]

    # Re-map the rows to the saved list: the same issues (names and ids) come back.
    page.locator("#edit-remap").click()
    page.wait_for_selector("#edit-message:has-text('Re-mapped')", timeout=REMAP_TIMEOUT_MS)
    assert f"to the {len(expected.issues)} saved issues ({len(expected.issues)} with the same id)" in page.inner_text(
        "#edit-message"
    )
    _shot(page, "edit-2-remapped")
    page.get_by_role("tab", name="Issues", exact=True).click()
    page.wait_for_function(
        "n => document.querySelectorAll('#issues-table .mt-leaf').length === n", arg=len(expected.issues) + 1
    )
    assert sorted(i for i in _issue_rows(page) if i != "no-issue") == sorted(i.id for i in expected.issues)
