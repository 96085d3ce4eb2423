"""LLM-free issue discovery on CLEAR's GSM8K sample, against CLEAR's own (LLM-made) issues.

    python benchmarks/bench_discovery_clear.py [--data ../shared/data/clear_gsm8k] [--fast/--no-fast]

Prints: the time of ``discover`` (offline, 0 LLM calls) next to the bare embedding time of the same
sentences (goal: at most 1.5x), then for each of CLEAR's issues our best-overlapping issue and the
Jaccard index of their row sets (goal: at least 0.3 for each). Exits with a message when the data
is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clear_gsm8k"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the clear_gsm8k folder")
    parser.add_argument("--fast", action=argparse.BooleanOptionalAction, default=None, help="force a clusterer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-issues", type=int, default=15)
    args = parser.parse_args()
    if not (args.data / "results.parquet").is_file():
        print(f"clear_gsm8k not found at {args.data}: nothing to benchmark (pass --data)")
        return 0

    from misattribution.discovery import discover, load_judged
    from misattribution.discovery.embed import embed, load_encoder
    from misattribution.discovery.pipeline import ClusterSettings, split_failing

    clock = time.perf_counter()
    encoder = load_encoder()
    embed(["warm-up sentence"], encoder)
    load_time = time.perf_counter() - clock

    rows = load_judged(args.data)
    sentences = split_failing(rows)
    batch_size = ClusterSettings().batch_size

    def bare_embedding() -> float:
        clock = time.perf_counter()
        embed(sentences.unique, encoder, batch_size=batch_size)
        return time.perf_counter() - clock

    # Bare embedding before and after the run, so that a change in the machine's load shows.
    embed_before = bare_embedding()
    report = discover(args.data, seed=args.seed, fast=args.fast, max_issues=args.max_issues, progress=False)
    embed_after = bare_embedding()
    embed_time = (embed_before + embed_after) / 2
    meta = report.meta
    total = meta["timings"]["total"]
    print(f"rows {meta['n_rows']}, failing {meta['n_failing']}, null scores {meta['n_null_scores']}")
    print(
        f"sentences {meta['n_sentences']} ({meta['n_unique_sentences']} distinct, all embedded), "
        f"critical {meta['n_critical']}, clustered {meta['n_clustered']} with {meta['method']}"
    )
    print(f"LLM calls: {meta['llm_calls']}")
    print(f"encoder load + warm-up (not counted): {load_time:.1f} s")
    stages = ", ".join(f"{k} {v:.2f}" for k, v in meta["timings"].items())
    print(f"discover total {total:.1f} s ({stages})")
    print(
        f"bare embedding of the same {len(sentences.unique)} sentences (batch {batch_size}): {embed_time:.1f} s "
        f"(before {embed_before:.1f} s, after {embed_after:.1f} s; load average {os.getloadavg()[0]:.1f})"
    )
    print(f"ratio total / embedding: {total / embed_time:.2f}x (goal <= 1.5x)")
    print()

    ours = report.assignments.groupby("issue_id")["row_id"].agg(set).to_dict()
    names = {i.id: i.name for i in report.issues}
    theirs: dict[str, set[str]] = {}
    for row_id, issues in zip(rows["row_id"], rows["clear_issues"]):
        for issue in issues:
            theirs.setdefault(issue, set()).add(row_id)
    print(f"{len(report.issues)} issues found:")
    for issue in report.issues:
        print(
            f"  {issue.count:4d}  {issue.share:6.1%}  impact {issue.impact:.4f}  {issue.name}  [{', '.join(issue.keywords[:5])}]"
        )
    print()
    print(f"{'CLEAR issue':<92} {'rows':>4}  {'Jaccard':>7}  our best-overlapping issue (rows)")
    scores = []
    for name, members in sorted(theirs.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        best_id, best = None, 0.0
        for issue_id, found in ours.items():
            jaccard = len(members & found) / len(members | found)
            if jaccard > best:
                best_id, best = issue_id, jaccard
        scores.append(best)
        ours_label = f"{names[best_id]} ({len(ours[best_id])})" if best_id else "-"
        print(f"{name:<92} {len(members):4d}  {best:7.2f}  {ours_label}")
    print(
        f"Jaccard: min {min(scores):.2f}, mean {sum(scores) / len(scores):.2f}; >= 0.3 for {sum(s >= 0.3 for s in scores)} of {len(scores)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
