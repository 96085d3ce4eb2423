"""LLM-free discovery at 1,000,000 planted rows, and static vs MiniLM recovery at 100,000 (same run).

    HF_HUB_OFFLINE=1 python benchmarks/bench_discovery_1m.py [--rows 1000000] [--compare-rows 100000]
        [--seed 0] [--split test] [--data-dir /tmp/misattribution-bench] [--skip-compare] [--progress]

The rows come from :func:`misattribution.testing.planted.generate` (``domain="general"``, the test half
of every phrasing pool), made in chunks of 100,000 rows (chunk k seeded ``seed * 1000 + k``, ids
prefixed ``c<k>-``) and written as one Parquet file with its ground truth; the files are kept in
``--data-dir`` and reused by the next run with the same arguments. The first ``--compare-rows`` rows are
the comparison input.

Each discovery runs in a fresh child process, so its peak memory is its own (not the generator's). It
prints, per run: the time and the process's peak resident memory (``getrusage``; monotone, so "after
each stage") of each stage -- read (the Parquet in record batches), encoder load, split, lexical
(the criticality cues of each distinct text), embed (with the criticality), cluster, assign, name
(discovery.stream) or the in-memory path's stages, then the rest of ``discover`` (statistics, taxonomy
tree, summary) -- the total, the load average before and after, the planted-issue recovery F1 (best leaf
per planted issue, mean and min), and the issues found (name: rows), so two runs' reports can be compared.

The anchor, measured in each child before discovery: the plain ``sentences.lexical_features`` (cue
counting with pure-Python regular expressions, not the fast path) over the shipped criticality examples,
three times. Each stage is also shown as a multiple of it, so runs at different machine loads compare.

Goals (issue 15, Build 3): 1M rows in under 10 minutes and 4 GB on 2 cores with the static embedder.
Requires the static embedder to be built (``python -m misattribution.discovery.embed build``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CHUNK = 100_000


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- data -----------------------------------------------------------------------------------------------
def make_data(rows: int, seed: int, split: str, failing: float, folder: Path) -> tuple[Path, Path]:
    """The Parquet file of ``rows`` planted rows and its truth (JSON: planted key → row ids), made once."""
    stem = f"planted-general-{rows}-s{seed}-{split}-f{failing}"
    data, truth_path = folder / f"{stem}.parquet", folder / f"{stem}.truth.json"
    if data.is_file() and truth_path.is_file():
        print(f"data: reusing {data}")
        return data, truth_path
    import pyarrow as pa
    import pyarrow.parquet as pq

    from misattribution.testing.planted import generate

    folder.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    truth: dict[str, list[str]] = {}
    scratch = data.with_suffix(".tmp.parquet")
    writer = None
    for k, start in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - start)
        made = generate("general", n, seed=seed * 1000 + k, split=split, failing_share=failing)
        frame = made.frame.assign(id=[f"c{k}-{i}" for i in made.frame["id"]])
        for key, ids in made.truth().items():
            truth.setdefault(key, []).extend(f"c{k}-{i}" for i in sorted(ids))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(scratch, table.schema)
        writer.write_table(table, row_group_size=50_000)
        print(f"  generated rows {start:,}-{start + n:,} ({time.perf_counter() - clock:.0f} s)", flush=True)
        del made, frame, table
    writer.close()
    os.replace(scratch, data)
    truth_path.write_text(json.dumps(truth))
    print(
        f"data: {rows:,} rows in {time.perf_counter() - clock:.0f} s -> {data} ({data.stat().st_size / 2**20:.0f} MB)"
    )
    return data, truth_path


# -- one discovery, in a child process -------------------------------------------------------------------
ANCHOR_REPEATS = 3


def anchor_seconds() -> float:
    """Seconds of the plain cue counting (``lexical_features``, not the fast path) over the shipped
    criticality examples, ``ANCHOR_REPEATS`` times: the same-run yardstick of the stage times."""
    from misattribution.discovery.sentences import criticality_examples, lexical_features

    texts = [text for text, _ in criticality_examples()]
    clock = time.perf_counter()
    for _ in range(ANCHOR_REPEATS):
        lexical_features(texts)
    return time.perf_counter() - clock


def child(path: Path, truth_path: Path, embedder: str, rows: int | None, seed: int, progress: bool) -> dict:
    """Runs in the child: read, discover, recovery; returns the figures."""
    import pyarrow.parquet as pq

    figures: dict = {"load_before": load_average(), "embedder": embedder}  # as asked ("static+stream": forced)
    stages: list[tuple[str, float, float]] = []
    started = clock = time.perf_counter()
    from misattribution.discovery import discover, stream
    from misattribution.discovery.embed import embed, load_encoder
    from misattribution.testing.planted import recovery

    stages.append(("import", time.perf_counter() - clock, peak_rss_mb()))
    figures["anchor_seconds"] = anchor_seconds()
    if embedder.endswith("+stream"):  # the streamed path whatever the size (to compare it with the in-memory one)
        embedder = embedder.removesuffix("+stream")
        stream.STREAM_ABOVE = 0
    clock = time.perf_counter()
    if rows is None:
        frame = stream.load_judged_streamed(path, score_range=(1, 5))
    else:  # the first `rows` rows, read in record batches and kept whole
        parquet = pq.ParquetFile(path)
        parts, taken = [], 0
        for batch in parquet.iter_batches(batch_size=min(rows, CHUNK)):
            parts.append(batch.to_pandas())
            taken += len(parts[-1])
            if taken >= rows:
                break
        import pandas as pd

        frame = stream.load_judged_streamed(pd.concat(parts, ignore_index=True).iloc[:rows], score_range=(1, 5))
        del parts
    stages.append(("read", time.perf_counter() - clock, peak_rss_mb()))
    clock = time.perf_counter()
    embed(["warm-up"], load_encoder(embedder))
    stages.append(("encoder load", time.perf_counter() - clock, peak_rss_mb()))
    clock = time.perf_counter()
    report = discover(frame, embedding_model=embedder, seed=seed, progress=progress)
    wall = time.perf_counter() - clock
    meta = report.meta
    timings = dict(meta["timings"])
    peaks = meta.get("peak_rss_mb", {})
    total = timings.pop("total")
    for name, seconds in timings.items():
        stages.append((name, seconds, peaks.get(name, float("nan"))))
    stages.append(("statistics, tree, summary", total - sum(timings.values()), peak_rss_mb()))
    figures.update(
        stages=stages,
        discover_seconds=wall,
        total_seconds=time.perf_counter() - started,
        peak_rss_mb=peak_rss_mb(),
        load_after=load_average(),
        n_rows=meta["n_rows"],
        n_failing=meta["n_failing"],
        n_sentences=meta.get("n_sentences"),
        n_unique=meta.get("n_unique_sentences"),
        n_distinct_texts=meta.get("n_distinct_texts"),
        n_critical=meta.get("n_critical"),
        n_clustered=meta.get("n_clustered"),
        streamed=bool(meta.get("streamed")),
        method=meta.get("method"),
        linkage_distance=meta.get("linkage_distance"),
    )
    truth = {k: set(v) for k, v in json.loads(truth_path.read_text()).items()}
    if rows is not None:
        kept = set(frame["row_id"])
        truth = {k: v & kept for k, v in truth.items()}
    found = recovery(report, truth)
    figures["recovery"] = found.table[["planted", "rows", "issue_rows", "precision", "recall", "f1", "issue"]].to_dict(
        "records"
    )
    figures["mean_f1"] = found.mean_f1
    figures["min_f1"] = float(found.table["f1"].min())
    figures["issues"] = [(i.name, i.count) for i in report.issues]
    return figures


def run_child(path: Path, truth: Path, embedder: str, rows: int | None, seed: int, progress: bool) -> dict:
    command = [sys.executable, __file__, "--child", str(path), str(truth), embedder, str(rows or 0), str(seed)]
    if progress:
        command.append("--progress")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {embedder} run failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def show(title: str, figures: dict) -> None:
    print(f"\n== {title}: {figures['n_rows']:,} rows, embedder {figures['embedder']} ==")
    print(f"load average before: {figures['load_before']}; after: {figures['load_after']}")
    print(
        f"{figures['n_failing']:,} failing rows, {figures['n_sentences']:,} sentences, {figures['n_unique']:,} distinct, "
        f"{figures['n_critical']:,} critical, {figures['n_clustered']:,} clustered with {figures['method']} "
        f"(cut {figures['linkage_distance']}); streamed path: {figures['streamed']}"
    )
    if figures.get("n_distinct_texts"):
        print(f"{figures['n_distinct_texts']:,} distinct sentence texts scored for lexical criticality")
    anchor = figures["anchor_seconds"]
    print(f"anchor (plain lexical_features, {ANCHOR_REPEATS} x the criticality examples): {anchor:.2f} s")
    print(f"{'stage':<28} {'seconds':>8} {'x anchor':>9} {'peak RSS so far (MB)':>21}")
    for name, seconds, peak in figures["stages"]:
        shown = "-" if peak != peak else f"{peak:,.0f}"  # nan: a stage without a peak of its own
        print(f"{name:<28} {seconds:>8.1f} {seconds / anchor:>9.1f} {shown:>21}")
    print(
        f"discover {figures['discover_seconds']:.1f} s; whole child (imports, read, load, discover) "
        f"{figures['total_seconds']:.1f} s ({figures['total_seconds'] / 60:.1f} min); peak RSS "
        f"{figures['peak_rss_mb']:,.0f} MB"
    )
    print(f"recovery F1: mean {figures['mean_f1']:.3f}, min {figures['min_f1']:.2f}")
    print("issues (name: rows): " + "; ".join(f"{name}: {count:,}" for name, count in figures["issues"]))
    for line in figures["recovery"]:
        print(
            f"  {line['planted']:<22} rows {line['rows']:>7,}  issue rows {line['issue_rows']:>7,}  "
            f"P {line['precision']:.2f} R {line['recall']:.2f} F1 {line['f1']:.2f}  {str(line['issue'])[:60]}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--compare-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--failing", type=float, default=0.45)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/misattribution-bench"))
    parser.add_argument("--skip-compare", action="store_true", help="no static vs MiniLM run at --compare-rows")
    parser.add_argument("--skip-large", action="store_true", help="only the comparison")
    parser.add_argument("--progress", action="store_true", help="the per-stage progress bars on stderr")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, truth, embedder, rows, seed = args.child
        figures = child(Path(path), Path(truth), embedder, int(rows) or None, int(seed), args.progress)
        print(json.dumps(figures))
        return 0

    from misattribution.discovery.embed import static_model_path

    if not (static_model_path() / "config.json").is_file():
        print(
            f"the static embedder is not built ({static_model_path()}): python -m misattribution.discovery.embed build"
        )
        return 2
    print(f"load average at start: {load_average()}")
    data, truth = make_data(max(args.rows, args.compare_rows), args.seed, args.split, args.failing, args.data_dir)
    if not args.skip_large:
        show(
            "1M",
            run_child(
                data,
                truth,
                "static",
                args.rows if args.rows < max(args.rows, args.compare_rows) else None,
                args.seed,
                args.progress,
            ),
        )
    if not args.skip_compare:
        for embedder in ("static", "static+stream", "all-MiniLM-L6-v2"):
            show(
                f"compare at {args.compare_rows:,}",
                run_child(data, truth, embedder, args.compare_rows, args.seed, args.progress),
            )
    print(f"\nload average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
