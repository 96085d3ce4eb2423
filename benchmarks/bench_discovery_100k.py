"""LLM-free issue discovery at scale: 100,000 generated judged rows → an issue report.

    HF_HUB_OFFLINE=1 python benchmarks/bench_discovery_100k.py [--rows 100000] [--seed 0] [--split test]

The rows come from :func:`misattribution.testing.planted.generate` (``domain="general"``): a general
assistant judged on a 1..5 scale, 12 planted shortcomings that differ in meaning (a false fact, an
arithmetic slip, a length limit ignored, the wrong language, buggy code, unsafe advice, invented
references, half the question unanswered, outdated information, a condescending tone, a needless
refusal, a self-contradiction), each with 12 phrasings that vary in syntax and vocabulary and carry
per-row details (topic, language, numbers, names), mixed with praise, neutral description, scoring
rationale and suggestions. Only the **test** half of every phrasing pool is used (``--split dev`` is
for developers; see the hold-out note in ``planted.py``).

Goal: under 10 minutes and under 4 GB peak RSS on 2 cores. Prints the time of each stage, the peak
memory (``resource.getrusage``; ``tracemalloc`` for Python allocations while the report is built,
with ``--tracemalloc``), the load average, the planted-issue recovery F1 per planted issue and its mean
(best leaf by F1 of row sets), and the number of praise leaves. The generator's sentence table is
dropped before ``discover`` runs and made again afterwards, so the memory figure is the discovery's.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--failing", type=float, default=0.45, help="share of rows with planted issues")
    parser.add_argument("--max-issues", type=int, default=15)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slows the run several times)"
    )
    args = parser.parse_args()

    from misattribution.discovery import discover
    from misattribution.discovery.pipeline import format_issue_table
    from misattribution.testing.planted import generate, praise_leaves, recovery

    print(f"load average before: {load_average()}")
    clock = time.perf_counter()
    data = generate("general", args.rows, seed=args.seed, split=args.split, failing_share=args.failing)
    frame, truth, score_range = data.frame, data.truth(), data.score_range
    n_sentences, distinct = len(data.sentences), data.sentences["text"].nunique()
    del data  # the sentence table is ground truth, not part of what discovery needs
    generate_time = time.perf_counter() - clock
    print(
        f"generated {len(frame):,} rows ({int((frame['score'] < 5).sum()):,} failing; {n_sentences:,} sentences, "
        f"{distinct:,} distinct) in {generate_time:.1f} s; split {args.split!r}"
    )

    if args.tracemalloc:
        tracemalloc.start()
    clock = time.perf_counter()
    report = discover(frame, score_range=score_range, seed=args.seed, max_issues=args.max_issues, progress=False)
    wall = time.perf_counter() - clock
    traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    tracemalloc.stop()
    rss = peak_rss_mb()
    load_after = load_average()

    meta = report.meta
    print(
        f"{meta['n_sentences']:,} sentences of failing rows, {meta['n_unique_sentences']:,} distinct after masking, "
        f"{meta['n_embedded']:,} embedded, {meta['n_critical']:,} critical among them, clustered with {meta['method']}"
    )
    print("stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in meta["timings"].items()))
    print(f"discover wall time: {wall:.1f} s ({wall / 60:.1f} min; goal < 10 min)")
    traced = f"; Python allocations peak (tracemalloc) {traced_peak / 2**20:,.0f} MB" if traced_peak else ""
    print(f"peak RSS (getrusage, whole process): {rss:,.0f} MB (goal < 4096 MB){traced}")
    print(f"load average after: {load_after}")
    print(f"LLM calls: {meta['llm_calls']}")
    print()
    print(format_issue_table(report))
    print()

    recovered = recovery(report, truth)
    columns = ["planted", "rows", "issue_rows", "precision", "recall", "f1", "issue"]
    print("planted-issue recovery (best leaf by F1 of row sets):")
    print(recovered.table[columns].to_string(index=False, float_format="%.2f", max_colwidth=60))
    print(f"recovery F1: mean {recovered.mean_f1:.3f}, min {recovered.table['f1'].min():.2f}")

    again = generate("general", args.rows, seed=args.seed, split=args.split, failing_share=args.failing)
    praise = praise_leaves(report, again)
    print(f"praise leaves: {len(praise)} (goal 0)" + "".join(f"\n  - {name}" for name in praise["name"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
