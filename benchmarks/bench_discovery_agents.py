"""Planted-issue benchmark outside maths: a six-agent research system's judged steps → discovery.

    HF_HUB_OFFLINE=1 python benchmarks/bench_discovery_agents.py [--rows 600] [--seed 0] [--split test]

The rows come from :func:`misattribution.testing.planted.generate` (``domain="agents"``): one system
per agent (planner, researcher, tool caller, analyst, writer, reviewer), 12 planted shortcomings, some
specific to one agent, some shared, two pairs of near neighbours, one rare (3 rows), mixed with
praise, neutral description, scoring rationale and suggestions. Only the **test** phrasings are used
(see the module's hold-out note); ``--split dev`` is for developers.

``discover`` runs once on all rows (pooled, the agents as systems) and once per agent, with its
defaults (only ``score_range=(1, 5)`` and the seed are given). Printed: every leaf with its name, row
count, what its evidence is (the generator's sentence kinds) and two evidence sentences; the
planted-issue recovery F1 per planted issue and its mean; the praise leaves; the agreement of the
pooled report with the per-agent reports; time and load average.

Goal: recovery F1 >= 0.8 and 0 praise leaves.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def print_leaves(report, kinds, recovered) -> None:
    """Every leaf: rank, rows, the planted issue it recovers (if any), its evidence kind, two sentences."""
    best_for: dict[str, list[str]] = {}
    for row in recovered.table.itertuples():
        if row.f1 > 0:
            best_for.setdefault(row.issue_id, []).append(f"{row.planted} F1 {row.f1:.2f}")
    evidence = report.assignments.groupby("issue_id")["evidence"].agg(list).to_dict()
    by_id = kinds.set_index("issue_id")
    for rank, issue in enumerate(report.issues, start=1):
        line = by_id.loc[issue.id]
        flag = "PRAISE LEAF" if line["praise_leaf"] else f"{line['shortcoming_share']:.0%} shortcoming sentences"
        planted = ", ".join(best_for.get(issue.id, ["-"]))
        print(
            f"{rank:>3}. {issue.name}  [{issue.count} rows; {flag}; majority {line['majority']}; best match of {planted}]"
        )
        seen: list[str] = []
        for text in evidence.get(issue.id, []):
            for sentence in text.split("\n"):
                if sentence not in seen:
                    seen.append(sentence)
            if len(seen) >= 2:
                break
        for sentence in seen[:2]:
            print(f"       “{sentence}”")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    args = parser.parse_args()

    import pandas as pd

    from misattribution.discovery import discover
    from misattribution.testing.planted import generate, leaf_kinds, pooled_vs_per_system, recovery

    pd.set_option("display.width", 160)
    pd.set_option("display.max_colwidth", 60)
    load_before = os.getloadavg()
    data = generate("agents", args.rows, seed=args.seed, split=args.split)
    frame = data.frame
    failing = int((frame["score"] < 5).sum())
    print(
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{len(frame)} rows ({failing} failing), {frame['system'].nunique()} systems, split {args.split!r}, seed {args.seed}"
    )

    options = {"score_range": data.score_range, "seed": args.seed, "progress": False}
    clock = time.perf_counter()
    pooled = discover(frame, **options)
    pooled_time = time.perf_counter() - clock
    clock = time.perf_counter()
    per_system = {
        system: discover(frame[frame["system"] == system], **options) for system in sorted(frame["system"].unique())
    }
    per_system_time = time.perf_counter() - clock

    recovered = recovery(pooled, data)
    kinds = leaf_kinds(pooled, data)
    print(f"\npooled report: {len(pooled.issues)} leaves, method {pooled.meta.get('method')}")
    print_leaves(pooled, kinds, recovered)

    print("\nplanted-issue recovery (pooled report; best leaf by F1 of row sets):")
    print(
        recovered.table[["planted", "rows", "issue_rows", "precision", "recall", "f1", "issue"]].to_string(
            index=False, float_format="%.2f"
        )
    )
    print(f"recovery F1: mean {recovered.mean_f1:.3f} (goal >= 0.8), min {recovered.table['f1'].min():.2f}")

    praise = kinds[kinds["praise_leaf"]]
    print(f"\npraise leaves: {len(praise)} (goal 0)")
    for line in praise.itertuples():
        print(
            f"  - {line.name} [{line.rows} rows; name reads as {line.name_kind}; {line.shortcoming_share:.0%} shortcoming sentences]"
        )

    agreement = pooled_vs_per_system(pooled, per_system)
    print("\npooled vs per-system reports (mean best-match F1 of issue row sets, both ways):")
    print(agreement.to_string(index=False, float_format="%.2f"))
    print(f"mean agreement: {agreement['agreement'].mean():.3f}")
    truth = data.truth()
    per_system_recovery = {}
    for system, report in per_system.items():
        members = set(frame.loc[frame["system"] == system, "id"])
        per_system_recovery[system] = recovery(report, {k: rows & members for k, rows in truth.items()}).mean_f1
    print("per-system recovery F1 (planted issues of that agent only): "
          + ", ".join(f"{s} {v:.2f}" for s, v in per_system_recovery.items()))  # fmt: skip

    load_after = os.getloadavg()
    print(f"\ntime: pooled discover {pooled_time:.1f} s, {len(per_system)} per-system runs {per_system_time:.1f} s")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
