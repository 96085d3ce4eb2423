"""What the browser tests share: Debian's Chromium driven by Playwright, and the real Gradio app served on a
free loopback port. Imported by the test modules (as ``planted_small`` is), never collected itself.

A browser test module starts with ``sync_api = playwright_or_skip()``: it skips, with the reason, without
Debian's Chromium, Playwright or gradio."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
MISSING = f"{CHROMIUM} is missing: apt-get install -y chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def playwright_or_skip() -> Any:
    """``playwright.sync_api``; skips the calling test module when Chromium, Playwright or gradio is missing."""
    if not CHROMIUM.exists():
        pytest.skip(MISSING, allow_module_level=True)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    pytest.importorskip("gradio", reason="gradio is not installed: pip install 'misattribution[space]'")
    return sync_api


def free_port() -> int:
    """A loopback port nothing listens on (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def launched(app: Any) -> Iterator[str]:
    """The Gradio ``app`` served in this process on 127.0.0.1, its URL; closed on exit."""
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@contextmanager
def chromium(playwright: Any) -> Iterator[Any]:
    """Headless Debian Chromium (never a browser Playwright downloads); closed on exit."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()
