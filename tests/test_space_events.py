"""What each event of the Space costs the page: the events it wires and what the browser keeps of them.

* Opening a tab updates that tab's components only (and the one-line summary and the remembered tab):
  Gradio marks every output of an event pending and then settles each one in the page.
* A filter change refreshes the open tab with an event of that tab (a hidden ``refresh-<tab id>`` button the
  page clicks), which names that tab's components only: Gradio rebuilt a component on the server for every
  output of the one event for all tabs that it did not return.
* The text search starts as the visitor types (the search box's change event, the latest text only).
* A filter and a tab are plain requests, off Gradio's queue; the loads keep it.
* Gradio 6's "run history" is off, in ``build_app`` (through ``GRADIO_RUN_HISTORY``) and in ``serve``: it
  copied every event's inputs and outputs (report rows, feedback texts) into the visitor's localStorage
  and re-serialised the whole history on each event, 60-70% of a filter's time in the browser at 100,000
  rows (``benchmarks/bench_space.py`` gives the figures).

The browser test serves the bundled sample with ``misattribution serve`` (a new process, as a user runs
it) and drives it in headless Debian Chromium.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
pytest.importorskip("gradio", reason="gradio is not installed: pip install 'misattribution[space]'")

from browser import CHROMIUM, MISSING, chromium, free_port, launched  # noqa: E402

from misattribution.space.views import ViewContext, registered_views  # noqa: E402
from misattribution.space_app import build_app  # noqa: E402
from misattribution.uploads import load_sample_report  # noqa: E402


def _descendants(block) -> set[int]:
    found = set()
    for child in getattr(block, "children", []):
        found.add(child._id)
        found |= _descendants(child)
    return found


def test_opening_a_tab_updates_only_that_tab() -> None:
    report = load_sample_report().report
    app = build_app(report)
    blocks = app.blocks
    by_elem = {block.elem_id: block for block in blocks.values() if getattr(block, "elem_id", None)}
    summary = by_elem["filter-summary"]._id
    tab_selects = [
        dep
        for dep in app.config["dependencies"]
        if any(
            event == "select" and (blocks[target].elem_id or "").startswith("tab-") for target, event in dep["targets"]
        )
    ]
    tab_ids = {v.tab_id for v in registered_views()} | {"load"}
    assert len(tab_selects) == len(tab_ids)
    for dep in tab_selects:
        tab = blocks[dep["targets"][0][0]]
        inside = _descendants(tab)
        outputs = set(dep["outputs"]) - {summary}
        states = {i for i in outputs if type(blocks[i]).__name__ == "State"}
        assert summary in dep["outputs"]
        assert outputs - states <= inside, f"{tab.elem_id} updates components of other tabs"
        # ... and every component its views update, and the remembered tab (a State).
        tab_id = tab.elem_id.removeprefix("tab-")
        names = [n for v in registered_views() if v.tab_id == tab_id for n in v.update(ViewContext(None))]
        assert len(outputs) == len(names) + 1, tab.elem_id


def _dependencies(app) -> dict[tuple[str, str], dict]:
    """Each event by (elem_id of its target, event name)."""
    found = {}
    for dep in app.config["dependencies"]:
        for target, event in dep["targets"]:
            elem_id = getattr(app.blocks.get(target), "elem_id", None)
            if elem_id:
                found[(elem_id, event)] = dep
    return found


def test_a_filter_change_refreshes_the_open_tab_with_that_tabs_outputs_only() -> None:
    from misattribution.space.app import REFRESH_JS

    app = build_app(load_sample_report().report)
    blocks = app.blocks
    deps = _dependencies(app)
    by_elem = {block.elem_id: block for block in blocks.values() if getattr(block, "elem_id", None)}
    summary = by_elem["filter-summary"]._id
    tab_ids = {v.tab_id for v in registered_views()} | {"load"}
    for tab_id in tab_ids:
        dep = deps[(f"refresh-{tab_id}", "click")]
        names = [n for v in registered_views() if v.tab_id == tab_id for n in v.update(ViewContext(None))]
        inside = _descendants(by_elem[f"tab-{tab_id}"])
        assert summary in dep["outputs"] and len(dep["outputs"]) == len(names) + 1, tab_id
        assert set(dep["outputs"]) - {summary} <= inside, f"refresh-{tab_id} updates components of other tabs"
        assert dep["queue"] is False and dep["trigger_mode"] == "always_last"
        assert by_elem[f"refresh-{tab_id}"].visible == "hidden"  # in the page, not shown
    # The fallback (the open tab remembered on the server) names every view's components.
    every = {n for v in registered_views() for n in v.update(ViewContext(None))}
    assert len(deps[("refresh-open-tab", "click")]["outputs"]) == len(every) + 1
    # Apply, Enter in the search box, and the events after which the open tab is refreshed, run in the page
    # only: they click the open tab's button.
    for trigger in (("apply-filters", "click"), ("filter-text", "submit")):
        dep = deps[trigger]
        assert dep["backend_fn"] is False and dep["js"] == REFRESH_JS and not dep["outputs"], trigger
    thens = [d for d in app.config["dependencies"] if d["js"] == REFRESH_JS and d["trigger_after"] is not None]
    assert len(thens) >= 8  # clear, issue and node clicks, the five loads, the edits
    # The search box starts its search as the visitor types: not on the queue, no progress shown.
    change = deps[("filter-text", "change")]
    assert change["queue"] is False and change["show_progress"] == "hidden" and not change["outputs"]


def test_filters_and_tabs_skip_the_queue_and_loads_keep_it() -> None:
    """A filter or a tab only reads the stored report: a plain request, not the queue's join and stream. The
    loads, which write and take seconds, stay under the queue's concurrency limit."""
    app = build_app(load_sample_report().report)
    blocks = app.blocks
    queued = {}
    for dep in app.config["dependencies"]:
        for target, event in dep["targets"]:
            elem_id = getattr(blocks.get(target), "elem_id", None)
            if elem_id:
                queued[(elem_id, event)] = dep["queue"]
    assert queued[("apply-filters", "click")] is False
    assert queued[("filter-text", "submit")] is False
    assert all(not q for (elem_id, event), q in queued.items() if elem_id.startswith("tab-") and event == "select")
    for load in (("upload", "upload"), ("load-hub", "click"), ("load-sample", "click"), ("run-discovery", "click")):
        assert queued[load] is True, load


# -- in the browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``misattribution serve --bundle`` on the bundled sample, in a new process."""
    bundle = load_sample_report().report.save(tmp_path_factory.mktemp("sample") / "bundle")
    port = free_port()
    command = [sys.executable, "-m", "misattribution", "serve", "--bundle", str(bundle), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_RUN_HISTORY"}  # serve itself must turn it off
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"serve exited: {process.stdout.read()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("serve did not start in 120 s")
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_the_browser_keeps_no_run_history(served: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    with urllib.request.urlopen(served + "config", timeout=30) as response:  # loopback only
        assert json.load(response)["run_history"] is False
    rows = len(load_sample_report().report.rows)
    with sync_api.sync_playwright() as playwright, chromium(playwright) as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(served)
        page.wait_for_selector("#issues-table .mt-leaf")
        for tab, ready in (("Overview", "#overview-stats td"), ("Instances", "#instances-caption"), ("Issues", "#issues-table .mt-leaf")):  # fmt: skip
            page.get_by_role("tab", name=tab).click()
            page.wait_for_selector(ready)
        page.locator("#filter-failing input").check()
        page.locator("#apply-filters").click()
        # Until the filter's result is shown (the line said "197 of 197" before it: waiting for "of 197 rows
        # match" alone raced with the click at load 6).
        page.wait_for_function(
            "(all) => { const s = document.querySelector('#filter-summary'); "
            "return s && s.innerText.includes(' rows match') && !s.innerText.startsWith(all); }",
            arg=f"{rows:,} of",
        )
        page.wait_for_function("() => !document.querySelector('.progress-text')")
        failing = page.inner_text("#filter-summary")
        assert not failing.startswith(f"{rows:,} of"), failing  # the filter ran: fewer rows match
        keys = page.evaluate("() => Object.keys(localStorage)")
        assert not [k for k in keys if "run-history" in k], keys


@pytest.mark.slow
def test_a_served_reports_search_is_prepared_once_a_page_has_loaded() -> None:
    """Not while the first screen is built and served (at 1M rows its case folding took the first screen's
    CPU), but as soon as a page has loaded, so the first search does not pay for it."""
    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    from misattribution.explore import Explorer

    explorer = Explorer(load_sample_report().report)
    with launched(build_app(explorer)) as url:
        time.sleep(0.5)
        assert explorer._search is None  # nothing prepared before a visitor comes
        with sync_api.sync_playwright() as playwright, chromium(playwright) as browser:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#issues-table .mt-leaf", timeout=60_000)
            deadline = time.monotonic() + 60
            while explorer._search is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert explorer._search is not None


@pytest.mark.slow
def test_a_filter_refreshes_the_open_tab_and_a_typed_text_is_searched_ahead() -> None:
    """In Chromium, on the Overview tab: the text typed is searched as it is typed (one search of the whole
    table), Apply refreshes the Overview with the filter's rows; then the Issues tab shows the filter's issue
    counts, and Clear refreshes it back to every row."""
    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    from misattribution.explore import Explorer, Filters

    explorer = Explorer(load_sample_report().report)
    text = "the"
    expected = int(explorer.mask(Filters(text=text)).sum())
    assert 0 < expected < explorer.n_rows
    table = explorer.issue_table(Filters(text=text), n_resamples=0)
    with launched(build_app(explorer)) as url:
        with sync_api.sync_playwright() as playwright, chromium(playwright) as browser:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(url)
            page.wait_for_selector("#issues-table .mt-leaf")
            page.get_by_role("tab", name="Overview").click()
            page.wait_for_selector(f"#overview-stats td >> nth=0 >> text='{explorer.n_rows:,}'")
            page.locator("#filter-text input, #filter-text textarea").first.fill(text)
            deadline = time.monotonic() + 30
            while (explorer._search is None or text not in explorer._search._found) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert text in explorer._search._found  # searched as it was typed, before Apply
            page.locator("#apply-filters").click()
            page.wait_for_selector(f"#overview-stats td >> nth=0 >> text='{expected:,}'")
            page.wait_for_selector(f"#filter-summary:has-text('{expected:,} of {explorer.n_rows:,} rows match')")
            page.get_by_role("tab", name="Issues").click()
            top = table.iloc[0]
            cell = page.locator(f"#issues-table [data-id='{top['issue_id']}'] .mt-num").first
            cell.filter(has_text=f"{int(top['count']):,}").wait_for()
            page.locator("#clear-filters").click()
            page.wait_for_selector(f"#filter-summary:has-text('{explorer.n_rows:,} of {explorer.n_rows:,} rows match')")
            everything = explorer.issue_table(n_resamples=0).iloc[0]
            cell = page.locator(f"#issues-table [data-id='{everything['issue_id']}'] .mt-num").first
            cell.filter(has_text=f"{int(everything['count']):,}").wait_for()
