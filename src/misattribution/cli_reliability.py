"""``misattribution reliability BUNDLE [--labels FILE] [--seeds 0 1 2]``: how far each issue can be trusted.

    misattribution reliability bundle/ --labels labels.csv     # precision / recall against human labels
    misattribution reliability bundle/ --seeds 0 1 2           # stability over discovery seeds
    misattribution reliability bundle/                         # what the bundle already holds

Prints one line per issue (labelled rows, precision and recall with Wilson intervals, mean best-match
Jaccard over seeds, seeds that found the issue) and writes the results into the bundle
(``meta["reliability"]``; see :mod:`misattribution.discovery.reliability`). A bad labels file is refused
with one line naming the file, the row and the field (exit code 2), and nothing is written.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register the ``reliability`` command on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "reliability",
        help="per-issue precision / recall against human labels, and stability over seeds",
        description=(
            "How far each issue of a report can be trusted: precision and recall of its assignment against a "
            "human-labelled sample (--labels), and how stable it is when discovery runs with other seeds "
            "(--seeds). Results are printed and written into the bundle."
        ),
    )
    parser.add_argument("bundle", help="an issue-report bundle folder (from 'discover')")
    parser.add_argument(
        "--labels",
        metavar="FILE",
        default=None,
        help="labelled rows (CSV / JSONL / JSON / Parquet): a row_id column and one 0/1 column per issue "
        "(its id or name), or row_id, issue, label columns",
    )
    parser.add_argument(
        "--seeds",
        metavar="SEED",
        type=int,
        nargs="+",
        default=None,
        help="rerun discovery with these seeds, e.g. 0 1 2",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute what was asked, print the table, write it into the bundle; the exit code."""
    from misattribution.discovery.reliability import (
        assignment_quality,
        format_reliability,
        reliability_table,
        rerun_options,
        seed_stability,
        store_reliability,
    )
    from misattribution.discovery.report import IssueReport

    report = IssueReport.load(args.bundle)
    if args.labels is None and args.seeds is None:
        if not report.meta.get("reliability"):
            raise ValueError(
                f"{args.bundle}: the bundle holds no reliability yet (hint: give --labels FILE and/or --seeds 0 1 2)"
            )
        print(format_reliability(reliability_table(report)))
        return 0
    quality = assignment_quality(report, args.labels) if args.labels is not None else None  # checked first
    stability = None
    if args.seeds is not None:
        stability = seed_stability(
            report.rows, args.seeds, reference=report, **{**rerun_options(report), "progress": not args.quiet}
        )
    store_reliability(report, quality=quality, stability=stability, labels_source=args.labels)
    print(format_reliability(reliability_table(report)))
    if quality is not None:
        print(f"labels: {quality.attrs['labelled_rows']} labelled rows from {args.labels}")
    if stability is not None:
        print(f"seeds: {', '.join(map(str, stability.attrs['seeds']))} (the bundle's report is the reference)")
    print(f"bundle: {report.save(args.bundle)}")
    return 0
