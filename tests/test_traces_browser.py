"""The Space on an agent-trace run, in Debian's Chromium: the OpenTelemetry fixture judged by the loopback server
(``misattribution analyze``), its bundle served by the real app; the Systems filter lists one system per agent
(and the workflow's trajectories), and filtering on the researcher keeps its three steps."""

from __future__ import annotations

import os
import re

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from browser import SCREENSHOTS, chromium, launched, playwright_or_skip  # noqa: E402

TIMEOUT_MS = 60_000  # generous: the machine runs at load ~10

sync_api = playwright_or_skip()

from test_traces import AGENTS, WORKFLOW, fixture, responder  # noqa: E402

from misattribution.cli import main  # noqa: E402
from misattribution.space.app import build_app, load_bundle  # noqa: E402
from misattribution.testing.fake_openai import FakeOpenAIServer  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_space_shows_one_system_per_agent_of_a_trace_run(tmp_path, capsys):
    with FakeOpenAIServer(responder=responder) as judge:
        argv = ["analyze", str(fixture("otel")), "--endpoint", judge.url, "-o", str(tmp_path / "run"), "--quiet"]
        assert main(argv) == 0, capsys.readouterr().err
    report = load_bundle(tmp_path / "run" / "bundle")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with launched(build_app(report)) as url, sync_api.sync_playwright() as playwright, chromium(playwright) as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.wait_for_selector("#filter-summary:has-text('14 of 14 rows match')")
        field = page.locator("#filter-systems input")
        field.click()
        listbox = field.get_attribute("aria-controls")
        options = page.locator(f"#{listbox} [role=option]")
        options.first.wait_for()
        shown = {options.nth(i).get_attribute("aria-label") for i in range(options.count())}
        assert shown == AGENTS | {WORKFLOW}, shown
        page.locator(f"#{listbox} [role=option][aria-label='researcher']").click()
        page.locator("#title").click()  # close the list
        page.locator("#apply-filters").click()
        page.wait_for_selector("#filter-summary:has-text('3 of 14 rows match')")
        text = page.inner_text("#filter-summary")
        assert re.search(r"\b3 of 14 rows match", text), text
        page.wait_for_timeout(400)
        page.screenshot(path=str(SCREENSHOTS / "traces-researcher.png"), full_page=True)
