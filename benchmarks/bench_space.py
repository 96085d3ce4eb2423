"""The Space in a real browser (Debian Chromium, headless): cold start, uploads, filter → views, at 100k or 1M rows.

Prints, with the machine's load average before and after:

* **cold start**: from launching ``misattribution serve --bundle B`` (a new Python process) to the first
  screen painted in an already running browser (the issues table of the Issues tab), for the bundled
  sample's report and for a ``--rows`` report (goal: < 5 s at 100k; at 1M the goal is loading the bundle
  in < 10 s);
* **100k upload**: from handing the file to the page's upload field to "100,000 of 100,000 rows match",
  for a 100,000-row CLEAR results zip (CLEAR's GSM8K bundle from ``../shared/data/clear_gsm8k`` repeated,
  when present) and a 100,000-row judged Parquet table (goal: < 10 s), how many problems the page
  lists for the upload, and where the time went: the file's transfer, the server (until the load's result
  reaches the page) and the page painting it;
* **filter → views** at 100,000 rows: a filter applied on the Issues tab until its table shows the
  expected count, then each other tab opened until it shows the new slice; p50 / p95 of each step and of
  their sum, "every view" (goal: update p95 < 300 ms). The filter's text is typed into the search box before
  "Apply filters" is clicked, as a visitor does: the page starts its search as the text changes (the step
  times from the click; the time from typing to the click here is ~50-100 ms, a visitor's is longer);
* the server's peak memory (``VmHWM``) after the filters (goal at 1M: < 4 GB);
* with ``--compare-run-history``, filter → views again against the same app with Gradio 6's run history on
  (Gradio's default, which ``serve`` turns off: it copied every event's inputs and outputs into the
  browser's localStorage and re-serialised the whole history on each event).

Run: ``python benchmarks/bench_space.py [--rows 100000] [--filters 20] [--skip-upload] [--bundle DIR]
[--compare-run-history] [--clear-venv VENV]``.
The report is ``bench_filter.synthetic_report`` (30 issues, three systems, scores 0-3, every text
distinct); ``--bundle DIR`` keeps it there and reuses it (1M rows take ~1.5 min to generate).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_filter import WORDS, synthetic_report  # noqa: E402

from misattribution.discovery.report import IssueReport  # noqa: E402
from misattribution.explore import Explorer, Filters  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
CLEAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "clear_gsm8k"
TIMEOUT_MS = 180_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _serve(bundle: Path | None, port: int, *, run_history: bool = False) -> subprocess.Popen:
    """``misattribution serve`` in a new process; with ``run_history=True`` the same app launched as serve does
    but with Gradio's run history on (Gradio 6's default, which serve turns off): the comparison's baseline."""
    command = [sys.executable, "-m", "misattribution", "serve", "--port", str(port)]
    command += ["--bundle", str(bundle)] if bundle else []
    if run_history:
        code = (
            "import sys; from misattribution.space.app import build_app, load_bundle; "
            "app = build_app(load_bundle(sys.argv[1]) if sys.argv[1] else None); "
            "app.queue(default_concurrency_limit=4); "
            "app.launch(server_name='127.0.0.1', server_port=int(sys.argv[2]), quiet=True, footer_links=[], "
            "run_history=True)"
        )
        command = [sys.executable, "-c", code, str(bundle or ""), str(port)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_until_up(port: int, process: subprocess.Popen, limit: float = 600) -> None:
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {process.stdout.read()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("the server did not start")


def cold_start(browser, bundle: Path) -> float:
    """Seconds from process launch to the first screen painted (the issues table's first row)."""
    port = _free_port()
    start = time.perf_counter()
    process = _serve(bundle, port)
    try:
        _wait_until_up(port, process)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#issues-table .mt-leaf", timeout=TIMEOUT_MS)
        elapsed = time.perf_counter() - start
        page.close()
        return elapsed
    finally:
        process.terminate()
        process.wait(timeout=30)


def clear_zip(path: Path, rows: int) -> Path | None:
    """CLEAR's GSM8K results repeated to ``rows`` rows (fresh ids), zipped as CLEAR writes them."""
    if not (CLEAR / "results.parquet").is_file():
        return None
    frame = pd.read_parquet(CLEAR / "results.parquet")
    big = pd.concat([frame] * -(-rows // len(frame)), ignore_index=True).iloc[:rows].copy()
    big["question_id"] = [f"q{i}" for i in range(rows)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("results.csv", big.to_csv(index=False))
        archive.write(CLEAR / "metadata.json", "metadata.json")
    return path


def judged_table(path: Path, rows: int) -> Path:
    """A judged table: the synthetic report's rows with their feedback and 0-3 scores."""
    report = synthetic_report(rows, 30)
    report.rows[["row_id", "question", "answer", "feedback", "score", "system"]].to_parquet(path)
    return path


def upload(browser, path: Path, rows: int) -> tuple[float, int, dict[str, float]]:
    """Seconds from handing ``path`` to the upload field to the report being on screen; the problems the page
    reports (it lists the first 20 and offers all of them as a CSV); where the time went: the file's transfer
    (until Gradio's upload request is answered), the server (until the load's result reaches the page: the
    last data the page receives before the summary shows) and the page (painting it)."""
    port = _free_port()
    process = _serve(None, port)
    try:
        _wait_until_up(port, process)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#status:has-text('Load a report first')", timeout=TIMEOUT_MS)
        marks: dict[str, float] = {}
        received: list[float] = []

        def finished(request) -> None:
            if "/gradio_api/upload?" in request.url:
                marks["transferred"] = time.perf_counter()

        page.on("requestfinished", finished)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        # Event results arrive on a long-lived stream: its data chunks (heartbeats are a few bytes).
        cdp.on("Network.dataReceived", lambda event: event["dataLength"] > 150 and received.append(time.perf_counter()))
        start = time.perf_counter()
        page.locator("#upload input[type=file]").set_input_files(str(path))
        page.wait_for_selector(f"#filter-summary:has-text('{rows:,} of {rows:,} rows match')", timeout=TIMEOUT_MS)
        end = time.perf_counter()
        elapsed = end - start
        transferred = marks.get("transferred", start)
        result = max((t for t in received if transferred < t <= end), default=end)
        split = {"transfer": transferred - start, "server": result - transferred, "page": end - result}
        problems = 0
        try:  # shown with the summary, but painted a moment later; a clean upload has none
            page.locator("#load-problems").wait_for(state="visible", timeout=3000)
        except Exception:  # noqa: BLE001  (playwright's TimeoutError: no problems table)
            pass
        if page.locator("#load-problems").is_visible():  # its label: "... the first 20 of 5,688"
            found = re.search(r"the first \d+ of ([\d,]+)", page.locator("#load-problems").inner_text())
            problems = int(found.group(1).replace(",", "")) if found else -1
        page.close()
        return elapsed, problems, split
    finally:
        process.terminate()
        process.wait(timeout=30)


def browser_filters(explorer: Explorer, count: int, seed: int = 3) -> list[tuple[str, str, str]]:
    """(text, min, max) filters typed into the page: words, score ranges and both."""
    rng = np.random.default_rng(seed)
    chosen = []
    while len(chosen) < count:
        text = str(rng.choice(WORDS)) if rng.random() < 0.6 else ""
        low = str(int(rng.integers(0, 2))) if rng.random() < 0.5 else ""
        high = str(int(rng.integers(1, 4))) if rng.random() < 0.5 else ""
        if (text, low, high) not in chosen and (text or low or high):
            chosen.append((text, low, high))
    return chosen


def _idle(page) -> None:
    """Until no Gradio event is running (its progress indicators are gone)."""
    page.wait_for_function("() => !document.querySelector('.progress-text')")


def _peak_memory_gb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in GB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def filter_to_views(
    browser, bundle: Path, explorer: Explorer, count: int, *, run_history: bool = False
) -> dict[str, list[float]]:
    port = _free_port()
    process = _serve(bundle, port, run_history=run_history)
    times: dict[str, list[float]] = {"issues (filter applied)": [], "overview": [], "instances": [], "comparison": []}
    times["every view"] = []
    # The anchor: opening the Load tab, an event that computes no view (the one-line summary only, from the
    # filter's cached mask): what any round trip costs in this page, browser and server, at this load.
    times["anchor: a round trip (Load tab)"] = []
    try:
        _wait_until_up(port, process)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#issues-table .mt-leaf")
        for text, low, high in browser_filters(explorer, count):
            filters = Filters(text=text, score_min=float(low) if low else None, score_max=float(high) if high else None)
            mask = explorer.mask(filters)
            n = int(mask.sum())
            top = explorer.issue_table(mask, n_resamples=0).iloc[0]
            page.get_by_role("tab", name="Issues").click()
            page.wait_for_selector("#issues-table .mt-leaf")
            page.locator("#filter-text input, #filter-text textarea").first.fill(text)
            page.locator("#filter-score-min input, #filter-score-min textarea").first.fill(low)
            page.locator("#filter-score-max input, #filter-score-max textarea").first.fill(high)
            _idle(page)  # the Issues tab's own refresh is over: time the filter alone
            steps = []
            start = time.perf_counter()
            page.locator("#apply-filters").click()
            page.wait_for_selector(f"#filter-summary:has-text('{n:,} of ')")
            cell = f"#issues-table [data-id='{top['issue_id']}'] .mt-num >> nth=0"
            page.locator(cell).filter(has_text=f"{int(top['count']):,}").wait_for()
            _idle(page)
            steps.append(time.perf_counter() - start)
            for tab, ready in (
                ("Overview", f"#overview-stats td >> nth=0 >> text='{n:,}'"),
                ("Instances", f"#instances-caption >> text=/of {n:,} /"),
                ("Comparison", "#compare-filtered table"),
            ):
                start = time.perf_counter()
                page.get_by_role("tab", name=tab).click()
                page.wait_for_selector(ready)
                _idle(page)  # e.g. the comparison table is there from the last visit: wait for the event to end
                steps.append(time.perf_counter() - start)
            for name, value in zip(times, steps):
                times[name].append(value)
            times["every view"].append(sum(steps))
            start = time.perf_counter()
            page.get_by_role("tab", name="Load").click()
            page.wait_for_selector("#upload")
            _idle(page)
            times["anchor: a round trip (Load tab)"].append(time.perf_counter() - start)
        page.close()
        times["server peak memory (GB)"] = [_peak_memory_gb(process.pid)]
        return times
    finally:
        process.terminate()
        process.wait(timeout=30)


def clear_dashboard(browser, venv: Path, path: Path, rows: int, repeats: int = 2) -> dict[str, list[float]]:
    """IBM CLEAR's own dashboard (``clear-eval``'s Streamlit app, installed in ``venv``, never in this
    repository's environment), timed as ours: cold start to its upload field, the results zip to "Successfully
    loaded N records", and an issue filter (one issue in "Include ANY of", then Apply) to "Found N entries".

    clear-eval 2.0.5's dashboard calls ``matplotlib.cm.get_cmap``, gone in matplotlib 3.9: on a fresh install
    it stops at its issue table with an AttributeError; ``pip install "matplotlib<3.9"`` in that venv first."""
    app = next((venv / "lib").glob("python3*/site-packages/clear_eval/load_ui.py"))
    port = _free_port()
    command = [str(venv / "bin" / "streamlit"), "run", str(app), "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    times: dict[str, list[float]] = {"cold start": [], "upload": [], "issue filter": []}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_until_up(port, process)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS * 3)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("input[type=file]", state="attached")
        times["cold start"].append(time.perf_counter() - start)
        start = time.perf_counter()
        try:
            _clear_upload_and_filter(page, path, times, repeats)
        except Exception as err:  # noqa: BLE001  (how long it ran before failing is the figure)
            times[f"{type(err).__name__} {str(err).splitlines()[0][:60]!r} after"] = [time.perf_counter() - start]
        page.close()
        return times
    finally:
        process.terminate()
        process.wait(timeout=30)


def _clear_upload_and_filter(page, path: Path, times: dict[str, list[float]], repeats: int) -> None:
    start = time.perf_counter()
    page.locator("input[type=file]").set_input_files(str(path))
    # CLEAR's loader drops some rows (1,998 of 2,000 here): any count will do.
    page.get_by_text(re.compile(r"Successfully loaded \d+ records")).wait_for()
    times["upload"].append(time.perf_counter() - start)
    # Its issue filter has hung on the 100k page (a click on the multiselect that never completes): two
    # minutes, then the failure is the figure.
    page.set_default_timeout(120_000)
    for k in range(repeats):
        if k:
            page.get_by_role("button", name="🧹 Clear Filters").click()
            page.get_by_text("(no filters applied)").wait_for()
        page.locator("[data-testid=stMultiSelect]").first.click()
        page.locator("[role=option]").nth(k).click()
        page.keyboard.press("Escape")
        start = time.perf_counter()
        page.get_by_role("button", name="✅ Apply Filter").click()
        page.get_by_text("entries matching entries").wait_for()
        times["issue filter"].append(time.perf_counter() - start)


def _ms(values: list[float]) -> str:
    return f"p50 {1000 * np.percentile(values, 50):6.0f} ms · p95 {1000 * np.percentile(values, 95):6.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--filters", type=int, default=20)
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-cold-start", action="store_true")
    parser.add_argument("--cold-starts", type=int, default=3, help="runs of each cold start")
    parser.add_argument(
        "--clear-venv", type=Path, default=None, help="a venv with clear-eval: time CLEAR's dashboard in the same run"
    )
    parser.add_argument("--bundle", type=Path, default=None, help="where to keep (and reuse) the generated bundle")
    parser.add_argument(
        "--compare-run-history",
        action="store_true",
        help="time the filters again with Gradio's run history on (its default, which serve turns off)",
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from misattribution.uploads import load_sample_report

    print(f"{os.cpu_count()} cores · {_load()} (before)", flush=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        sample_bundle = load_sample_report().report.save(folder / "sample")
        big_bundle = args.bundle or folder / "big"
        if not (big_bundle / "rows.parquet").is_file():
            synthetic_report(args.rows, 30).recompute(n_resamples=0).save(big_bundle)
        explorer = Explorer(IssueReport.load(big_bundle))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        cold_start(browser, sample_bundle)  # warms the disk cache: a cold *process*, not a cold disk
        starts = (
            () if args.skip_cold_start else (("sample (197 rows)", sample_bundle), (f"{args.rows:,} rows", big_bundle))
        )
        for name, bundle in starts:
            seconds = [cold_start(browser, bundle) for _ in range(args.cold_starts)]
            print(f"cold start, {name}: median {np.median(seconds):.2f} s (runs: {', '.join(f'{s:.2f}' for s in seconds)}) · {_load()}", flush=True)  # fmt: skip
        if not args.skip_upload:
            uploads = [("judged Parquet table", judged_table(folder / "judged.parquet", args.rows))]
            zipped = clear_zip(folder / "clear_results.zip", args.rows)
            if zipped is not None:
                uploads.append(("CLEAR results zip", zipped))
            for name, path in uploads:
                seconds, problems, split = upload(browser, path, args.rows)
                size = path.stat().st_size / 1e6
                parts = " + ".join(f"{part} {value:.2f}" for part, value in split.items())
                print(f"upload, {name} ({args.rows:,} rows, {size:.1f} MB): {seconds:.2f} s ({parts}), {problems:,} problems reported · {_load()}", flush=True)  # fmt: skip
            if args.clear_venv and zipped is not None:
                try:
                    measured = clear_dashboard(browser, args.clear_venv, zipped, args.rows)
                except Exception as err:  # noqa: BLE001  (CLEAR's failure is a figure too; ours still run)
                    measured = {}
                    print(f"CLEAR's dashboard failed: {type(err).__name__}: {str(err).splitlines()[0]} · {_load()}")
                for name, values in measured.items():
                    if not values:  # a step never reached (an earlier one failed: its time is the figure)
                        continue
                    runs = ", ".join(f"{v:.2f}" for v in values)
                    print(
                        f"CLEAR's dashboard, {name}: median {np.median(values):.2f} s (runs: {runs}) · {_load()}",
                        flush=True,
                    )
        runs = [("", False)] + ([("with Gradio's run history on: ", True)] if args.compare_run_history else [])
        for label, run_history in runs:
            times = filter_to_views(browser, big_bundle, explorer, args.filters, run_history=run_history)
            memory = times.pop("server peak memory (GB)")[0]
            anchor = float(np.median(times["anchor: a round trip (Load tab)"]))
            for name, values in times.items():
                ratio = np.median(values) / anchor if anchor else float("nan")
                print(
                    f"{label}filter → {name:<32} {_ms(values)} · median {ratio:4.1f}x the anchor  ({len(values)} filters, {args.rows:,} rows) · {_load()}",
                    flush=True,
                )
            issues = np.array(times["issues (filter applied)"])
            slowest = ", ".join(f"#{k + 1} {1000 * issues[k]:.0f} ms" for k in np.argsort(-issues)[:3])
            print(
                f"{label}filter → issues, the slowest filters (in the order applied, #1 first): {slowest}", flush=True
            )
            print(f"{label}server peak memory (VmHWM): {memory:.2f} GB · {_load()}", flush=True)
        browser.close()
    print(f"{_load()} (after)")


if __name__ == "__main__":
    main()
