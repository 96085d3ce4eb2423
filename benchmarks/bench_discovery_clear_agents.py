"""Discovery on CLEAR's agentic result against CLEAR's own issues, agent by agent.

CLEAR's agentic pipeline evaluates every step an agent takes and writes one bundle per agent
(``agent_results/<agent>.zip`` inside ``unified_ui_results.zip``); its issues are found per agent, with
about three LLM calls per row. We read the whole result once (each agent is a system), discover issues
with no LLM call, and compare, for every CLEAR issue of every agent, its rows with our best-overlapping
leaf restricted to that agent (Jaccard), against the trivial "all the agent's failing rows" baseline:

* ``pooled``: one report over every agent, sliced to the agent (what the Space shows);
* ``per agent``: a report of the agent's rows alone.

Their agreement (the mean Jaccard between a per-agent leaf and its best pooled-and-sliced leaf) is
printed too. The data is third-party and not in the repository: CLEAR's research-agent sample
(``src/clear_eval/sample_data/agentic/research_agent_results/.../unified_ui_results.zip`` in IBM/CLEAR) or
any result of that shape. ``--split dev`` / ``test`` keeps half the traces (a trace's id is its row id
without the trailing ``_<step>`` and an agent prefix; the sorted trace ids are permuted with ``numpy.random.default_rng(0)``, the
first half is ``dev``): naming rules were only ever read on ``dev`` traces.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/bench_discovery_clear_agents.py --data PATH [--split test]``
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clear_agents" / "unified_ui_results.zip"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CLEAR's unified_ui_results.zip or a folder")
    parser.add_argument("--split", choices=("all", "dev", "test"), default="all")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"no CLEAR agentic result at {args.data}: nothing to benchmark (pass --data)")
        return 0

    from misattribution.discovery import discover, load_judged

    rows = load_judged(args.data)
    traces = rows["row_id"].astype(str).str.replace(r"_\d+$", "", regex=True).str.split("/").str[-1]
    if args.split != "all":
        ordered = sorted(traces.unique())
        permuted = np.random.default_rng(0).permutation(len(ordered))
        dev = {ordered[i] for i in permuted[: (len(ordered) + 1) // 2]}
        keep = traces.isin(dev) if args.split == "dev" else ~traces.isin(dev)
        attrs = dict(rows.attrs)
        rows = rows[keep.to_numpy()].reset_index(drop=True)
        rows.attrs.update(attrs)
    agents = sorted(rows["system"].unique())
    print(
        f"{args.data.name}, split {args.split}: {len(rows)} rows, {int(rows['failing'].sum())} failing, "
        f"{len(agents)} agents ({', '.join(agents)}); threshold {rows.attrs['fail_below']:g} "
        f"({rows.attrs['fail_below_source']})"
    )
    clock = time.perf_counter()
    pooled = discover(rows, seed=args.seed, progress=False)
    pooled_time = time.perf_counter() - clock
    print(f"pooled: {len(pooled.issues)} leaves, {pooled.meta['llm_calls']} LLM calls, {pooled_time:.1f} s")
    for issue in pooled.issues:
        print(f"  {issue.count:4d}  {issue.name}")
    print()
    pooled_leaves = pooled.assignments.groupby("issue_id")["row_id"].agg(set).to_dict()
    pooled_names = {i.id: i.name for i in pooled.issues}

    header = f"{'agent':<11} {'CLEAR issue':<58} {'rows':>4}  {'pooled':>6}  {'own':>5}  {'baseline':>8}  pooled leaf"
    print(header)
    pooled_scores, own_scores, beats, agreements = [], [], 0, []
    for agent in agents:
        part = rows[rows["system"] == agent].reset_index(drop=True)
        part.attrs.update(rows.attrs)
        agent_rows = set(part["row_id"])
        failing = set(part.loc[part["failing"], "row_id"])
        theirs: dict[str, set[str]] = {}
        for row_id, issues, fails in zip(part["row_id"], part["clear_issues"], part["failing"]):
            for issue in issues if fails else []:
                theirs.setdefault(issue, set()).add(row_id)
        sliced = {i: found & agent_rows for i, found in pooled_leaves.items() if found & agent_rows}
        own_leaves: dict[str, set[str]] = {}
        if part["failing"].sum() >= 2:
            own = discover(part, seed=args.seed, progress=False)
            own_leaves = own.assignments.groupby("issue_id")["row_id"].agg(set).to_dict()
        for leaf in own_leaves.values():
            agreements.append(max((_jaccard(leaf, s) for s in sliced.values()), default=0.0))
        for name, members in sorted(theirs.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            best_id, best = max(
                ((i, _jaccard(members, s)) for i, s in sliced.items()), key=lambda x: x[1], default=(None, 0.0)
            )
            own_best = max((_jaccard(members, s) for s in own_leaves.values()), default=0.0)
            trivial = _jaccard(members, failing)
            pooled_scores.append(best)
            own_scores.append(own_best)
            beats += best > trivial
            label = pooled_names[best_id] if best_id is not None and best > 0 else "-"
            print(
                f"{agent:<11} {name[:58]:<58} {len(members):4d}  {best:6.2f}  {own_best:5.2f}  {trivial:8.2f}  {label[:60]}"
            )
    print()
    n = len(pooled_scores)
    if not n:
        print("CLEAR names no issue on these rows")
        return 0
    print(
        f"{n} CLEAR issues: pooled-and-sliced Jaccard mean {np.mean(pooled_scores):.2f} (>= 0.3 for "
        f"{sum(s >= 0.3 for s in pooled_scores)}), above the agent's all-failing baseline for {beats} of {n}; "
        f"per-agent reports mean {np.mean(own_scores):.2f}"
    )
    if agreements:
        print(f"per-agent leaves vs their best pooled-and-sliced leaf: mean Jaccard {np.mean(agreements):.2f}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


if __name__ == "__main__":
    raise SystemExit(main())
