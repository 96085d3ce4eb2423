"""Server-side filtering at 100,000 rows: what one filter change costs the Space.

A synthetic report (100,000 rows, 30 issues with shares from 0.5% to 20%, three systems, scores on
0-3, misattribution categories, ~400 characters of text per row) is explored with varied filters: issue
ANY / ALL / NONE, score ranges, systems, categories, text searches and combinations of them. For each
filter it times

* ``mask``: the filter alone (the goal: p95 < 300 ms), and
* ``update``: what the Space recomputes on a filter change: the mask, the issue table with bootstrap
  intervals, the overview, the full-vs-filtered comparison and the first page of instances.

Run: ``python benchmarks/bench_filter.py [--rows 100000] [--issues 30] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from misattribution.discovery.report import Issue, IssueReport
from misattribution.explore import Explorer, Filters

WORDS = (
    "the answer misses units arithmetic carry step wrong reference final total rounding format json list "
    "summary length refusal tone citation date capital river population formula derivative integral loop "
    "index query join table syntax python error"
).split()
CATEGORIES = ["result_error", "process_error", "hallucination", "typos", "truncation", "incorrect_answers"]


def synthetic_report(n_rows: int = 100_000, n_issues: int = 30, seed: int = 0) -> IssueReport:
    """A report shaped like a real one: skewed issue shares, issues tied to low scores, texts to search."""
    rng = np.random.default_rng(seed)
    score = rng.choice([0, 1, 2, 3], size=n_rows, p=[0.15, 0.25, 0.3, 0.3])
    shares = np.geomspace(0.2, 0.005, n_issues)
    # Issues are likelier on low scores, as in real reports.
    weight = (4 - score)[:, None] / 2.5
    matrix = rng.random((n_rows, n_issues)) < shares[None, :] * weight
    row_ids = np.array([f"row-{i:06d}" for i in range(n_rows)])
    vocabulary = np.array(WORDS)
    texts = [" ".join(words) for words in vocabulary[rng.integers(0, len(WORDS), size=(n_rows, 24))]]
    rows = pd.DataFrame(
        {
            "row_id": row_ids,
            "score": score,
            "score_norm": score / 3,
            "failing": score < 3,
            "system": rng.choice(["system-a", "system-b", "system-c"], size=n_rows),
            "question": [t[:120] for t in texts],
            "answer": texts,
            "feedback": [t[::-1][:150] for t in texts],
            "misattribution": [
                [] if s == 3 else list(rng.choice(CATEGORIES, size=1 + (s == 0), replace=False)) for s in score
            ],
        }
    )
    issues = [
        Issue(id=f"issue-{j:02d}", name=f"Synthetic issue {j:02d}", keywords=[WORDS[j % len(WORDS)]])
        for j in range(n_issues)
    ]
    r, c = np.nonzero(matrix)
    assignments = pd.DataFrame(
        {"row_id": row_ids[r], "issue_id": [issues[j].id for j in c], "evidence": "synthetic evidence sentence"}
    )
    return IssueReport(rows=rows, issues=issues, assignments=assignments, meta={"mode": "synthetic"})


def varied_filters(explorer: Explorer, count: int = 40, seed: int = 1) -> list[Filters]:
    """Single conditions and random combinations of them, plus the empty filter."""
    rng = np.random.default_rng(seed)
    ids = explorer.issue_ids
    filters = [
        Filters(),
        Filters(any_issues=(ids[0],)),
        Filters(all_issues=(ids[0], ids[1])),
        Filters(none_issues=tuple(ids[:5])),
        Filters(score_min=0, score_max=1),
        Filters(norm_min=0.5),
        Filters(systems=("system-b",)),
        Filters(categories=("result_error",)),
        Filters(text="rounding"),
        Filters(text="the"),
        Filters(text="no such words anywhere"),
        Filters(all_issues=(ids[2],), none_issues=(ids[3],), score_max=2, text="json"),
    ]
    while len(filters) < count:
        chosen = rng.choice(ids, size=6, replace=False)
        filters.append(
            Filters(
                any_issues=tuple(chosen[:2]) if rng.random() < 0.5 else (),
                all_issues=(chosen[2],) if rng.random() < 0.4 else (),
                none_issues=tuple(chosen[3:5]) if rng.random() < 0.5 else (),
                score_min=float(rng.integers(0, 2)) if rng.random() < 0.5 else None,
                score_max=float(rng.integers(1, 4)) if rng.random() < 0.5 else None,
                systems=("system-a", "system-c") if rng.random() < 0.3 else (),
                categories=("hallucination", "typos") if rng.random() < 0.3 else (),
                text=str(rng.choice(WORDS)) if rng.random() < 0.4 else "",
            )
        )
    return filters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--issues", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    report = synthetic_report(args.rows, args.issues)
    built = time.perf_counter() - start
    start = time.perf_counter()
    explorer = Explorer(report)
    indexed = time.perf_counter() - start
    filters = varied_filters(explorer)
    mask_times, update_times, kept = [], [], []
    for _ in range(args.repeats):
        for f in filters:
            t0 = time.perf_counter()
            mask = explorer.mask(f)
            t1 = time.perf_counter()
            explorer.issue_table(mask)
            explorer.overview(mask)
            explorer.compare_filtered(mask)
            explorer.instances(mask, page=0, page_size=20)
            t2 = time.perf_counter()
            mask_times.append(t1 - t0)
            update_times.append(t2 - t0)
            kept.append(int(mask.sum()))

    def ms(values: list[float], q: float) -> float:
        return 1000 * float(np.quantile(values, q))

    print(f"synthetic report: {args.rows:,} rows, {args.issues} issues, {len(report.assignments):,} assignments")
    print(f"built in {built:.1f} s; Explorer index (matrix, search text, score order) in {indexed:.2f} s")
    print(
        f"{len(filters)} filters x {args.repeats} repeats; rows kept: median {int(np.median(kept)):,}, min {min(kept):,}, max {max(kept):,}"
    )
    print(
        f"mask (filter only)      p50 {ms(mask_times, 0.5):7.1f} ms   p95 {ms(mask_times, 0.95):7.1f} ms   max {ms(mask_times, 1.0):7.1f} ms"
    )
    print(
        f"update (all the views)  p50 {ms(update_times, 0.5):7.1f} ms   p95 {ms(update_times, 0.95):7.1f} ms   max {ms(update_times, 1.0):7.1f} ms"
    )
    goal = "met" if ms(mask_times, 0.95) < 300 else "MISSED"
    print(f"goal p95 < 300 ms for filtering: {goal}")


if __name__ == "__main__":
    main()
