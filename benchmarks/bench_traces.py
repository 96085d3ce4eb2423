"""Reading agent traces (issue 14, Build 2): OpenTelemetry, MLflow and Langfuse exports -> rows.

Builds ``--runs`` multi-agent runs (the fixtures' four-agent scenario of ``tests/fixtures/traces/make_fixtures.py``,
repeated under new trace ids: 11 steps + 3 trajectories per 3 runs, ~17 spans a run) in each format, then
times :func:`misattribution.io.traces.read_traces` on each file. The anchor, measured in the same run, is
:func:`misattribution.io.tables.read_table` on the same rows written as a plain JSONL table: the ratio says
what reading the trace structure costs over reading its rows. Median of ``--repeats``; the load is printed.

Run: ``python benchmarks/bench_traces.py [--runs 3000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from misattribution.io.tables import read_table
from misattribution.io.traces import read_traces

ROOT = Path(__file__).resolve().parents[1]


def _fixtures_module():
    spec = importlib.util.spec_from_file_location("make_fixtures", ROOT / "tests/fixtures/traces/make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3000, help="multi-agent runs (traces) per file")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    fixtures = _fixtures_module()
    runs = [
        dict(run, key=f"{run['key']}-{i}") for i in range(-(-args.runs // len(fixtures.RUNS))) for run in fixtures.RUNS
    ]
    runs = runs[: args.runs]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        files = {}
        for name in ("otel", "mlflow", "langfuse"):
            files[name] = folder / f"{name}.json"
            files[name].write_text(json.dumps(getattr(fixtures, name)(runs)), encoding="utf-8")
        rows = read_traces(files["otel"])
        plain = folder / "rows.jsonl"
        rows.to_json(plain, orient="records", lines=True, force_ascii=False)
        anchor = _median_seconds(lambda: read_table(plain), args.repeats)
        print(f"load average {os.getloadavg()[0]:.1f} (2 cores); {len(runs):,} runs -> {len(rows):,} rows per format")
        print(f"{'input':<34}{'MB':>8}{'seconds':>10}{'rows/s':>12}{'x anchor':>10}")
        print(f"{'plain JSONL of the rows (anchor)':<34}{plain.stat().st_size / 1e6:>8.1f}{anchor:>10.2f}"
              f"{len(rows) / anchor:>12,.0f}{1:>10.1f}")  # fmt: skip
        for name, path in files.items():
            seconds = _median_seconds(lambda path=path: read_traces(path), args.repeats)
            print(f"{name + ' export -> rows':<34}{path.stat().st_size / 1e6:>8.1f}{seconds:>10.2f}"
                  f"{len(rows) / seconds:>12,.0f}{seconds / anchor:>10.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
