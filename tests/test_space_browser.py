"""The Space in a real browser: the app from ``build_app`` served on 127.0.0.1, driven by headless Debian
Chromium through Playwright.

Covered: loading the bundled sample, an AND + NOT + score-range filter whose count must equal
:meth:`Explorer.mask`'s, opening an instance, the comparison views, exporting the filtered rows (the
downloaded file is read back), bad uploads (a zip bomb, a path-traversal zip, a CSV without the
required columns) each reported in the page while the app keeps working, and a valid upload after them.
Screenshots of every view go to ``artifacts/screenshots/`` (gitignored).

The sample's issues come from the deterministic rule detectors (what the app's "Load the bundled
sample" button uses). The two-system report of the upload test is derived from the sample here: its
systems, one extra issue and its human scores are synthetic and deterministic, made up for the test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from browser import SCREENSHOTS, chromium, launched, playwright_or_skip  # noqa: E402

TIMEOUT_MS = 30_000

sync_api = playwright_or_skip()

from misattribution.discovery.modes.rules import run_rules  # noqa: E402
from misattribution.discovery.report import Issue, IssueReport  # noqa: E402
from misattribution.explore import Explorer, Filters, export_bundle_zip  # noqa: E402
from misattribution.space_app import build_app  # noqa: E402
from misattribution.testing.fake_openai import FakeOpenAIServer  # noqa: E402
from misattribution.uploads import load_sample_report  # noqa: E402

pytestmark = pytest.mark.slow


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Explorer:
    """What the app's sample button loads, explored in-process to compute the expected numbers."""
    return Explorer(load_sample_report().report)


@pytest.fixture(scope="module")
def two_systems_report(sample: Explorer) -> IssueReport:
    """The sample split into two systems, with one extra issue on half of system-b's rows and synthetic
    human scores (the judge's score, lowered by one on every fifth row)."""
    report = sample.report
    rows = report.rows.copy()
    rows["system"] = np.where(np.arange(len(rows)) % 2 == 0, "system-a", "system-b")
    rows["human_score"] = [max(0.0, s - 1) if i % 5 == 0 else s for i, s in enumerate(rows["score"])]
    extra = Issue(id="test-long-answers", name="Test issue: long answer", provenance="test")
    lengths = rows["answer"].str.len()
    chosen = rows[(rows["system"] == "system-b") & (lengths > lengths.median())]["row_id"]
    assignments = pd.concat(
        [report.assignments, pd.DataFrame({"row_id": chosen, "issue_id": extra.id, "evidence": ""})],
        ignore_index=True,
    )
    issues = [Issue(**{k: v for k, v in i.to_dict().items()}) for i in report.issues] + [extra]
    return IssueReport(rows=rows, issues=issues, assignments=assignments, meta={"mode": "test"}).recompute()


@pytest.fixture(scope="module")
def tree_report(sample: Explorer) -> IssueReport:
    """The sample in two systems, its issues under the taxonomy's categories. Every issue of the sample
    finds its category from the judge's misattribution labels, so no encoder is loaded."""
    from misattribution.discovery.tree import attach_to_taxonomy

    report = sample.report
    rows = report.rows.copy()
    rows["system"] = np.where(np.arange(len(rows)) % 2 == 0, "system-a", "system-b")
    nodes, parents, tree_meta = attach_to_taxonomy(rows, report.issues, report.assignments, "attridata-v1")
    assert {leaf["method"] for leaf in tree_meta["leaves"].values()} == {"judge labels"}
    issues = [replace(i, parent=parents[i.id]) for i in report.issues]
    return IssueReport(rows, issues, report.assignments, meta=dict(report.meta), nodes=nodes).recompute()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, two_systems_report: IssueReport) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads")
    bomb = folder / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("results.csv", b"0" * (20 * 1024 * 1024))  # 20 MB of zeros in ~20 kB
    traversal = folder / "traversal.zip"
    with zipfile.ZipFile(traversal, "w") as archive:
        archive.writestr("../../outside/rows.parquet", b"not really parquet")
        archive.writestr("meta.json", b"{}")
    missing = folder / "missing_columns.csv"
    missing.write_text("question,answer,points\nWhat is 2+2?,4,3\n", encoding="utf-8")
    bundle = export_bundle_zip(two_systems_report, folder / "two_systems_bundle.zip")
    return {"bomb": bomb, "traversal": traversal, "missing": missing, "bundle": bundle}


@pytest.fixture(scope="module")
def tree_bundle(tmp_path_factory: pytest.TempPathFactory, tree_report: IssueReport) -> Path:
    return export_bundle_zip(tree_report, tmp_path_factory.mktemp("tree") / "tree_bundle.zip")


@pytest.fixture(scope="module")
def judge_server() -> Iterator[FakeOpenAIServer]:
    """A loopback OpenAI-compatible judge that answers every request with one well-formed judgment."""
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(judge_server: FakeOpenAIServer) -> Iterator[str]:
    with launched(build_app(None, max_upload_mb=50, judge_url=judge_server.url)) as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(server: str) -> Iterator[object]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright, chromium(playwright) as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(TIMEOUT_MS)
        yield page


# -- helpers ------------------------------------------------------------------------------------------


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#status:has-text('Load a report first')")


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _load_sample(page, url: str, rows: int) -> None:
    _open(page, url)
    _tab(page, "Load")
    page.locator("#load-sample").click()
    page.wait_for_selector(f"#filter-summary:has-text('{rows:,} of {rows:,} rows match')")


def _choose(page, elem_id: str, label: str) -> None:
    """Pick an option of a multiselect dropdown by its label."""
    field = page.locator(f"#{elem_id} input")
    field.click()
    listbox = field.get_attribute("aria-controls")
    page.locator(f"#{listbox} [role=option][aria-label='{label}']").click()
    page.locator("#title").click()  # close the list


def _matched_rows(page) -> int:
    text = page.inner_text("#filter-summary")
    match = re.search(r"([\d,]+) of ([\d,]+) rows match", text)
    assert match, text
    return int(match[1].replace(",", ""))


def _apply_and_count(page, expected: int) -> int:
    """Apply the filters; the count the page shows once it equals ``expected`` (or after the timeout)."""
    page.locator("#apply-filters").click()
    try:
        shown = re.compile(rf"(?<![\d,]){expected:,} of [\d,]+ rows match")
        page.locator("#filter-summary").filter(has_text=shown).wait_for(timeout=15_000)
    except sync_api.TimeoutError:
        _shot(page, "failed-filter")  # the assertion below shows what the page says
    return _matched_rows(page)


def _shot(page, name: str) -> None:
    page.wait_for_timeout(400)  # let plots finish their transition
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _field(page, elem_id: str):
    """A text box's input element (Gradio renders one line as <input>, more as <textarea>)."""
    return page.locator(f"#{elem_id} input, #{elem_id} textarea").first


def _issue_rows(page) -> list[str]:
    """The issue ids of the issues table, top to bottom (the no-issue row is ``no-issue``)."""
    return page.eval_on_selector_all("#issues-table .mt-leaf", "rows => rows.map(r => r.dataset.id)")


def _upload(page, path: Path) -> None:
    page.locator("#upload input[type=file]").set_input_files(str(path))


def _label(explorer: Explorer, issue_id: str) -> str:
    count = int(explorer.matrix[:, explorer.issue_ids.index(issue_id)].sum())
    return f"{explorer.issue_name(issue_id)} ({count:,})"


def _and_not_filters(explorer: Explorer) -> Filters:
    """ALL one issue, NONE an issue that co-occurs with it, and a score range, each of which removes rows."""
    ids = explorer.issue_ids
    for first in ids:
        with_first = int(explorer.mask(Filters(all_issues=(first,))).sum())
        for second in ids:
            if second == first:
                continue
            without = int(explorer.mask(Filters(all_issues=(first,), none_issues=(second,))).sum())
            if not 0 < without < with_first:
                continue
            for low, high in ((0, 2), (2, 3), (1, 3), (0, 1), (1, 2)):
                filters = Filters(all_issues=(first,), none_issues=(second,), score_min=low, score_max=high)
                if 0 < int(explorer.mask(filters).sum()) < without:
                    return filters
    raise AssertionError("no two co-occurring issues in the sample to test AND + NOT + score range with")


# -- tests --------------------------------------------------------------------------------------------


def test_load_sample_and_overview(browser_page, server: str, sample: Explorer) -> None:
    page = browser_page
    _load_sample(page, server, sample.n_rows)
    assert "Loaded" in page.inner_text("#load-message")
    _shot(page, "01-load")
    _tab(page, "Overview")
    page.wait_for_selector("#overview-histogram .ma-bar")
    overview = sample.overview()
    bars = page.locator("#overview-histogram .ma-bar")  # one bar per score, its count in its title
    histogram = overview.score_histogram
    titles = [bars.nth(i).get_attribute("title") for i in range(bars.count())]
    assert titles == [f"score {s} · rows: {n}" for s, n in zip(histogram["score"], histogram["rows"])]
    stats = page.inner_text("#overview-stats")
    assert f"{overview.rows:,}" in stats and f"{overview.failing:,}" in stats
    page.wait_for_selector("#overview-categories .ma-bar")  # the sample has misattributions
    _shot(page, "02-overview")


def test_and_not_score_filter_counts_match_explore(browser_page, server: str, sample: Explorer) -> None:
    page = browser_page
    _load_sample(page, server, sample.n_rows)
    filters = _and_not_filters(sample)
    expected = int(sample.mask(filters).sum())

    _choose(page, "filter-all", _label(sample, filters.all_issues[0]))
    _choose(page, "filter-none", _label(sample, filters.none_issues[0]))
    _field(page, "filter-score-min").fill(f"{filters.score_min:g}")
    _field(page, "filter-score-max").fill(f"{filters.score_max:g}")
    assert _apply_and_count(page, expected) == expected

    _tab(page, "Issues")
    table = sample.issue_table(filters)
    first = page.locator(f"#issues-table [data-id='{table['issue_id'][0]}']")
    first.locator(".mt-num").first.filter(has_text=re.compile(rf"^{table['count'][0]}$")).wait_for()
    assert _issue_rows(page)[0] == table["issue_id"][0]
    assert first.locator(".mt-name").inner_text().startswith(table["name"][0])
    _shot(page, "03-issues-filtered")

    _tab(page, "Instances")
    first = sample.instances(filters, page_size=20)
    page.wait_for_selector(f"#instances-caption:has-text('of {expected:,}')")
    row_id = first.rows["row_id"][0]
    assert page.inner_text("#instances-table tbody tr >> nth=0 >> td >> nth=0").strip() == row_id
    page.locator("#instances-table tbody tr >> nth=0 >> td >> nth=1").click()  # a click anywhere in the row
    page.wait_for_selector(f"#detail-header:has-text('Row {row_id}')")
    detail = sample.detail(row_id)
    header = page.inner_text("#detail-header")
    for issue in detail.issues:
        assert issue["name"] in header
    marked = [text for text, label in detail.feedback_segments + detail.answer_segments if label]
    if marked:  # the evidence is highlighted where it was found
        page.wait_for_selector("#detail-feedback mark, #detail-answer mark")
    _shot(page, "04-instance")

    _tab(page, "Comparison")
    page.wait_for_selector("#compare-filtered tbody td")
    compared = sample.compare_filtered(filters)
    assert page.inner_text("#compare-filtered tbody tr >> nth=0 >> td >> nth=0").strip() == compared["name"][0]
    assert "Only one system" in page.inner_text("#compare-systems-note")
    _shot(page, "05-comparison")


def test_export_filtered_rows(browser_page, server: str, sample: Explorer) -> None:
    page = browser_page
    _load_sample(page, server, sample.n_rows)
    expected = sample.filtered_rows(Filters(score_max=1))
    _field(page, "filter-score-max").fill("1")
    assert _apply_and_count(page, len(expected)) == len(expected)

    _tab(page, "Export")
    for button, suffix in (("#export-csv", ".csv"), ("#export-jsonl", ".jsonl")):
        page.locator(button).click()
        link = page.locator(f"#export-file a[href*='{suffix}']")
        link.wait_for()
        with page.expect_download() as info:
            link.click()
        data = Path(info.value.path()).read_text(encoding="utf-8")
        if suffix == ".csv":
            exported = list(csv.DictReader(io.StringIO(data)))
        else:
            exported = [json.loads(line) for line in data.splitlines() if line.strip()]
        assert [r["row_id"] for r in exported] == expected["row_id"].tolist()
        assert {float(r["score"]) for r in exported} <= {0.0, 1.0}
        names = {sample.issue_name(i) for r in exported for i in r["issues"].split(";") if i}
        assert names == {n for r in exported for n in r["issue_names"].split("; ") if n}, "names, not slugs"
    assert f"{len(expected):,} filtered rows" in page.inner_text("#export-note")
    _shot(page, "06-export")


def test_bad_uploads_are_reported_and_the_app_keeps_working(
    browser_page, server: str, sample: Explorer, files: dict[str, Path], two_systems_report: IssueReport
) -> None:
    page = browser_page
    _load_sample(page, server, sample.n_rows)
    _tab(page, "Load")
    expectations = {
        "bomb": ("bomb.zip", "zip bomb"),
        "traversal": ("traversal.zip", "path traversal"),
        "missing": ("missing_columns.csv", "missing required column(s) feedback, score"),
    }
    for kind, (name, problem) in expectations.items():
        _upload(page, files[kind])
        message = page.locator("#load-message")
        message.filter(has_text=name).wait_for()
        text = message.inner_text()
        assert "Could not load" in text and problem in text, text
        if kind == "missing":
            assert "columns found: question, answer, points" in text
            _shot(page, "07-upload-error")
        # The report loaded before is still there.
        assert _matched_rows(page) == sample.n_rows

    page.locator("#hub-id input, #hub-id textarea").first.fill("../not a dataset")
    page.locator("#load-hub").click()
    page.locator("#load-message").filter(has_text="not a Hub dataset id").wait_for()
    assert _matched_rows(page) == sample.n_rows

    _upload(page, files["bundle"])
    rows = len(two_systems_report.rows)
    page.locator("#load-message").filter(has_text="two_systems_bundle.zip (bundle)").wait_for()
    page.wait_for_selector(f"#filter-summary:has-text('{rows:,} of {rows:,} rows match')")

    _tab(page, "Comparison")
    page.locator("#compare-systems-note").filter(has_text="system-a").wait_for()
    expected = Explorer(two_systems_report).compare_systems("system-a", "system-b")
    assert expected["significant"].any()
    note = page.inner_text("#compare-systems-note")
    assert f"highlighted ({int(expected['significant'].sum())})" in note, note
    shown = page.locator("#compare-systems tbody tr")
    assert shown.count() == len(expected)
    for i, significant in enumerate(expected["significant"]):
        assert shown.nth(i).locator("td").nth(1).inner_text().strip() == ("yes" if significant else ""), i
        assert (shown.nth(i).get_attribute("class") == "marked") == bool(significant), i  # highlighted
    bars = page.locator("#compare-systems-chart .ma-bar")  # one bar per issue, the significant ones orange
    assert bars.count() == len(expected)
    orange = [
        i
        for i in range(len(expected))
        if "217, 119, 6" in (bars.nth(i).evaluate("b => getComputedStyle(b).backgroundColor"))
    ]
    assert orange == [i for i, v in enumerate(expected["significant"]) if v]
    assert page.locator("#compare-filtered-chart .ma-bar").count() == 2 * len(expected)  # full and filtered
    _shot(page, "08-comparison-systems")

    _tab(page, "Agreement")
    page.locator("#agreement-note").filter(has_text="paired rows").wait_for()
    page.wait_for_selector("#agreement-table [data-testid='cell-0-0']")
    assert page.inner_text("#agreement-table [data-testid='cell-0-0']").strip() == "pearson"
    _shot(page, "09-agreement")


def test_judge_then_discover_from_the_app(browser_page, server: str, tmp_path: Path, judge_server) -> None:
    """Rows without judgments: the upload says what is missing, "Judge it" judges them through the
    configured endpoint, and discovery (rules mode, fast and offline) runs on the judged rows."""
    page = browser_page
    _open(page, server)
    _tab(page, "Load")
    table = tmp_path / "questions.csv"
    rows = pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(5)],
            "question": [f"What is {i} + {i}?" for i in range(5)],
            "answer": [f"The answer is {2 * i + 1}." for i in range(5)],
            "reference": [f"{2 * i}" for i in range(5)],
        }
    )
    rows.to_csv(table, index=False)
    _upload(page, table)
    page.locator("#load-message").filter(has_text="missing required column(s) feedback, score").wait_for()

    requests_before = len(judge_server.chat_requests)
    page.locator("#judge").get_by_text("Judge the uploaded table").click()
    page.locator("#run-judge").click()
    page.locator("#load-message").filter(has_text="questions.csv (judged)").wait_for()
    page.wait_for_selector("#filter-summary:has-text('5 of 5 rows match')")
    assert len(judge_server.chat_requests) - requests_before == 5

    page.locator("#discovery").get_by_text("Run discovery on the loaded rows").click()
    field = page.locator("#discovery-mode input")
    field.click()
    page.locator(f"#{field.get_attribute('aria-controls')} [role=option][aria-label='rules']").click()
    page.locator("#run-discovery").click()
    # Discovery builds the issue tree, which loads the sentence encoder for rows without judge labels:
    # seconds alone, much longer on a loaded machine.
    page.locator("#load-message").filter(has_text="discovery (rules)").wait_for(timeout=240_000)
    issues, _ = run_rules(rows.rename(columns={"id": "row_id"}))
    assert issues, "the answers contradict their references: the rules should fire"
    page.wait_for_selector(f"#status:has-text('{len(issues)} issues · mode rules')")
    _shot(page, "10-judged-and-discovered")


def test_issue_tree_unfolds_and_filters_every_view(
    browser_page, server: str, sample: Explorer, tree_report: IssueReport, tree_bundle: Path
) -> None:
    """A report without a tree shows no tree; one with a tree shows it folded below the top level, a
    category unfolds in the page, its filter button keeps exactly ``node_rows`` and every view follows."""
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 900})  # a laptop
    try:
        _load_sample(page, server, sample.n_rows)
        _tab(page, "Issues")
        page.wait_for_selector("#issues-table .mt-leaf")
        assert not page.locator("#issue-tree").is_visible()
        _tab(page, "Charts")
        page.wait_for_selector("#issues-chart .js-plotly-plot")
        assert not page.locator("#issue-tree-chart").is_visible()
        assert not page.locator("#filter-nodes").is_visible()

        _tab(page, "Load")
        _upload(page, tree_bundle)
        rows = len(tree_report.rows)
        page.locator("#load-message").filter(has_text="tree_bundle.zip (bundle)").wait_for()
        page.wait_for_selector(f"#filter-summary:has-text('{rows:,} of {rows:,} rows match')")
        _tab(page, "Issues")
        tree = page.locator("#issue-tree")
        primary, secondary = "category:response_quality", "category:truncation"
        leaf = next(i for i in tree_report.issues if i.parent == secondary)
        leaf_row = tree.locator(f"[data-id='{leaf.id}']")
        tree.locator(f"details[data-id='{primary}'] > summary").wait_for()

        # Unfold the secondary category: its issue's name appears.
        assert tree.locator(f"details[data-id='{secondary}'] > summary").is_visible()
        assert not leaf_row.is_visible()
        tree.locator(f"details[data-id='{secondary}'] > summary .mt-name").click()
        leaf_row.wait_for(state="visible")
        assert leaf.name in leaf_row.inner_text()

        # Filter by the primary category: the count is node_rows', and the other views follow.
        expected = len(tree_report.node_rows(primary))
        assert 0 < expected < rows
        explorer = Explorer(tree_report)
        outside = next(i for i in tree_report.issues if not explorer.mask(Filters(nodes=(primary, i.id))).any())
        tree.locator(f"details[data-id='{primary}'] > summary button[data-node='{primary}']").click()
        page.locator("#filter-summary").filter(
            has_text=re.compile(rf"(?<![\d,]){expected:,} of {rows:,} rows match")
        ).wait_for()
        assert _matched_rows(page) == expected
        tree.locator(f"details[data-id='{primary}'] > summary").filter(has_text="✕ filtered").wait_for()
        assert leaf_row.is_visible()  # the redrawn tree keeps the node the visitor unfolded
        label = dict((n, lbl) for lbl, n in _node_choices(explorer))[primary]
        assert label in page.inner_text("#filter-nodes")
        first_issue = explorer.issue_table(Filters(nodes=(primary,)))
        first_row = page.locator(f"#issues-table [data-id='{first_issue['issue_id'][0]}']")
        first_row.locator(".mt-num").first.filter(has_text=re.compile(rf"^{first_issue['count'][0]}$")).wait_for()
        assert _issue_rows(page)[0] == first_issue["issue_id"][0]
        outside_row = tree.locator(f"[data-id='{outside.id}']")
        assert "mt-empty" in (outside_row.get_attribute("class") or "")
        _shot(page, "11-issue-tree-filtered")
        _tab(page, "Charts")
        page.wait_for_selector("#issue-tree-chart .js-plotly-plot")
        page.wait_for_timeout(600)  # the sunburst's transition
        _shot(page, "12-issue-tree-chart")

        _tab(page, "Overview")
        page.locator("#overview-stats td").first.filter(has_text=f"{expected:,}").wait_for()
        assert page.locator("#overview-stats td").first.inner_text().strip() == f"{expected:,}"
        _tab(page, "Instances")
        page.wait_for_selector(f"#instances-caption:has-text('of {expected:,}')")

        # The same node chosen again removes the filter.
        _tab(page, "Issues")
        tree.locator(f"details[data-id='{primary}'] > summary button[data-node='{primary}']").click()
        page.wait_for_selector(f"#filter-summary:has-text('{rows:,} of {rows:,} rows match')")

        # The filter column's node list is the other way in: another category, applied with the filters.
        other = "category:reasoning_capability"
        _choose(page, "filter-nodes", dict((n, lbl) for lbl, n in _node_choices(explorer))[other])
        expected = len(tree_report.node_rows(other))
        assert _apply_and_count(page, expected) == expected
        tree.locator(f"details[data-id='{other}'] > summary").filter(has_text="✕ filtered").wait_for()
    finally:
        page.set_viewport_size({"width": 1440, "height": 1000})


def _node_choices(explorer: Explorer) -> list[tuple[str, str]]:
    from misattribution.space_views import node_choices

    return node_choices(explorer.tree_table(n_resamples=0))


# -- the first screen, empty states and text that reads well --------------------------------------------

SUMMARY = "**Main problem**: the response refuses the request, in 6.1% of the rows."

# Words split across two lines inside the given elements: a word whose characters lie on two lines.
_BROKEN_WORDS = """
(selector) => {
  const broken = [];
  for (const element of document.querySelectorAll(selector)) {
    if (!element.offsetParent) continue;  // hidden
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.textContent.matchAll(/[^\\s\\-/]+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}
"""
# Visible tables whose header is only column numbers ("1 2 3": a table without data).
_NUMBERED_TABLES = """
() => [...document.querySelectorAll("table")].filter(t => t.offsetParent).map(
  t => [...t.querySelectorAll("th")].map(th => th.innerText.trim())
).filter(heads => heads.length && heads.every(h => /^\\d*$/.test(h)))
"""
_HEADERS = "th, .mt-head span"
# Per tree or issue table: the right edges of the header cells and of the first body row's cells, which must
# line up (the header's smaller font once made its em-sized columns narrower: 5 columns off with 6 systems).
_COLUMN_EDGES = """
() => [...document.querySelectorAll(".mtree")].filter(t => t.offsetParent).map(t => {
  const rows = [...t.querySelectorAll(".mt-row")].slice(0, 2);
  return rows.map(r => [...r.children].map(c => Math.round(c.getBoundingClientRect().right)));
})
"""

# Per tree that overflows sideways: how far it scrolled, and how far its first node name then sits from
# the tree's left edge (0: the name column stays in view).
_NAMES_AFTER_SCROLL = """
() => [...document.querySelectorAll(".mtree")].filter(t => t.offsetParent && t.scrollWidth > t.clientWidth + 20)
  .map(t => {
    t.scrollLeft = 200;
    const moved = t.scrollLeft;
    const name = t.querySelector(".mt-row:not(.mt-head) .mt-name");
    const offset = Math.round(name.getBoundingClientRect().left - t.getBoundingClientRect().left);
    t.scrollLeft = 0;
    return [moved, offset];
  })
"""


@pytest.fixture(scope="module")
def served(sample: Explorer) -> Iterator[str]:
    """What ``misattribution serve --bundle`` serves: a report with a summary, loaded before the page opens."""
    report = sample.report
    meta = {**report.meta, "summary": {"text": SUMMARY, "source": "template"}}
    app = build_app(IssueReport(report.rows, report.issues, report.assignments, meta=meta, nodes=report.nodes))
    with launched(app) as url:
        yield url


def test_a_served_report_opens_on_its_summary_and_issues(browser_page, served: str, sample: Explorer) -> None:
    page = browser_page
    scripts: list[str] = []

    def seen(request) -> None:
        scripts.append(request.url)

    page.on("request", seen)
    try:
        page.goto(served)
        page.wait_for_selector("#issues-table .mt-leaf")
        assert page.get_by_role("tab", name="Issues").get_attribute("aria-selected") == "true"
        summary = page.locator("#summary")
        assert summary.is_visible() and "Main problem: the response refuses the request" in summary.inner_text()
        assert _issue_rows(page) == [*sample.issue_table()["issue_id"], "no-issue"]
        uncovered = sample.uncovered()
        no_issue = page.locator("#issues-table [data-id='no-issue']")
        assert "No issue" in no_issue.inner_text()
        assert no_issue.locator(".mt-num").first.inner_text().strip() == f"{uncovered['count']:,}"
        assert page.evaluate(_BROKEN_WORDS, _HEADERS) == []
        tables = page.evaluate(_COLUMN_EDGES)
        assert tables and all(len(rows) == 2 and rows[0] == rows[1] for rows in tables), tables
        # On a narrow window the tree scrolls sideways; its names stay in view (six systems' columns once
        # scrolled them away, leaving numbers without the node they describe).
        page.set_viewport_size({"width": 760, "height": 1000})
        try:
            scrolled = page.evaluate(_NAMES_AFTER_SCROLL)
        finally:
            page.set_viewport_size({"width": 1440, "height": 1000})
        assert scrolled and all(moved > 0 and abs(offset) <= 2 for moved, offset in scrolled), scrolled
        # Nothing on the first screen needs the chart library: its 4.6 MB bundle waits for the Charts tab.
        assert not [url for url in scripts if "Plotly" in url]
        _shot(page, "13-served-first-screen")
        _tab(page, "Charts")
        page.wait_for_selector("#issues-chart .js-plotly-plot")
        assert [url for url in scripts if "Plotly" in url]

        # A click on an issue's filter button filters every view; a second click removes it.
        first = sample.issue_table()["issue_id"][0]
        _tab(page, "Issues")
        page.locator(f"#issues-table button[data-issue='{first}']").click()
        expected = int(sample.mask(Filters(all_issues=(first,))).sum())
        page.locator("#filter-summary").filter(has_text=re.compile(rf"(?<![\d,]){expected:,} of ")).wait_for()
        page.locator(f"#issues-table button[data-issue='{first}']").filter(has_text="✕ filtered").click()
        page.wait_for_selector(f"#filter-summary:has-text('{sample.n_rows:,} of {sample.n_rows:,} rows match')")

        # The no-issue row's button keeps the failing rows that no issue explains, to read them.
        page.locator("#issues-table button[data-issue='no-issue']").click()
        shown = re.compile(rf"(?<![\d,]){uncovered['count']:,} of {sample.n_rows:,} rows match")
        page.locator("#filter-summary").filter(has_text=shown).wait_for()
        assert page.locator("#filter-failing input").is_checked()
        _tab(page, "Instances")
        page.wait_for_selector(f"#instances-caption:has-text('of {uncovered['count']:,}')")
        page.locator("#clear-filters").click()
        page.wait_for_selector(f"#filter-summary:has-text('{sample.n_rows:,} of {sample.n_rows:,} rows match')")
    finally:
        page.remove_listener("request", seen)


def test_empty_states_say_one_line_and_show_no_empty_tables_or_frames(
    browser_page, server: str, sample: Explorer
) -> None:
    page = browser_page
    _open(page, server)
    assert page.get_by_role("tab", name="Load").get_attribute("aria-selected") == "true"
    assert _field(page, "filter-score-min").input_value() == "" and _field(page, "filter-score-max").input_value() == ""
    for tab, note in (("Overview", "#overview-stats"), ("Comparison", "#compare-filtered-note"),
                      ("Instances", "#instances-caption"), ("Agreement", "#agreement-note"), ("Charts", "#charts-note")):  # fmt: skip
        _tab(page, tab)
        page.locator(note).filter(has_text="Load a report first").wait_for()
    assert page.evaluate(_NUMBERED_TABLES) == []
    assert not page.locator(".js-plotly-plot:visible, table:visible").count()
    _shot(page, "14-empty-server")

    _load_sample(page, server, sample.n_rows)
    assert not page.locator("#summary").is_visible()  # the sample carries no summary
    _field(page, "filter-text").fill("no row says this")
    assert _apply_and_count(page, 0) == 0
    for tab, note, message in (
        ("Issues", "#issues-note", "No rows match"),
        ("Overview", "#overview-stats", "No rows match"),
        ("Comparison", "#compare-filtered-note", "No rows match"),
        ("Instances", "#instances-caption", "No rows match"),
        ("Charts", "#charts-note", "nothing to draw"),
    ):
        _tab(page, tab)
        page.locator(note).filter(has_text=message).wait_for()
        assert page.evaluate(_NUMBERED_TABLES) == [], tab
        assert not page.locator(".js-plotly-plot:visible").count(), tab
    _shot(page, "15-no-row-matches")


def test_no_header_or_marked_word_breaks_inside_a_word(
    browser_page, server: str, files: dict[str, Path], two_systems_report: IssueReport
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    try:
        _open(page, server)
        _upload(page, files["bundle"])
        rows = len(two_systems_report.rows)
        page.wait_for_selector(f"#filter-summary:has-text('{rows:,} of {rows:,} rows match')")
        for tab, ready in (
            ("Issues", "#issues-table .mt-leaf"),
            ("Comparison", "#compare-systems table"),
            ("Instances", "#instances-table table"),
            ("Agreement", "#agreement-confusion table"),
        ):
            _tab(page, tab)
            page.wait_for_selector(ready)
            page.wait_for_timeout(300)
            assert page.evaluate(_BROKEN_WORDS, _HEADERS) == [], tab
            _shot(page, f"16-words-{tab.lower()}")
        explorer = Explorer(two_systems_report)
        marked = next(
            r for r in explorer.rows["row_id"] if any(label for _, label in explorer.detail(r).feedback_segments)
        )
        _tab(page, "Instances")
        _field(page, "instance-id").fill(marked)
        page.locator("#open-instance").click()
        page.wait_for_selector("#detail-feedback mark")
        assert page.evaluate(_BROKEN_WORDS, "#detail-feedback, #detail-answer") == []
        _shot(page, "17-instance-marked")
    finally:
        page.set_viewport_size({"width": 1440, "height": 1000})
