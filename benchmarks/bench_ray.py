"""The Ray engine against the single-process path, on this machine: throughput and agreement.

    HF_HUB_OFFLINE=1 python benchmarks/bench_ray.py [--rows 2000] [--num-cpus 2] [--judge-rows 2000]

Needs the extras ``ray`` and ``minilm``. Everything runs on a local Ray instance (127.0.0.1, dashboard off)
and is compared with an anchor measured in the same run:

* **embedding** (the figure docs/scale.md's estimate uses): MiniLM sentences per second in this process
  (anchor, all cores) and in Ray actors of 1 CPU each (1 actor, then one per CPU), on the same sentences;
* **judging**: rows per second through a loopback OpenAI-compatible server with a fixed latency per request,
  the local runner (anchor) against the Ray engine (``--actors`` judge clients), and whether the results
  files are equal record for record;
* **discovery**: the single-process report (anchor, every sentence embedded: ``max_embedded=None``) against
  the Ray engine's sharded clustering with 1, 2 and 4 shards at the default budget (exact by design while the
  critical sentences fit: checked) and with small budgets, where micro-clusters are summaries: the agreement
  is the mean over the anchor's issues of the best Jaccard of their row sets (weighted by rows), and the
  planted-issue recovery F1 of each (:func:`misattribution.testing.planted.recovery`);
* **the reduce's input**: micro-clusters and their bytes (centroid float32 + weight + exemplar).

Prints one line per figure, the wall times, and the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def row_sets(report) -> dict[str, frozenset]:
    a = report.assignments
    return {i.id: frozenset(a.loc[a.issue_id == i.id, "row_id"]) for i in report.issues}


def agreement(anchor, other) -> float:
    """Mean over the anchor's issues (weighted by rows) of the best Jaccard against the other's issues."""
    mine, theirs = row_sets(anchor), row_sets(other)
    total = sum(len(r) for r in mine.values())
    if not total:
        return float("nan")
    score = 0.0
    for rows in mine.values():
        best = max((len(rows & r) / len(rows | r) for r in theirs.values()), default=0.0)
        score += best * len(rows)
    return score / total


def bench_embedding(engine, n_sentences: int) -> None:
    import io
    import json

    import numpy as np

    from misattribution.discovery.embed import embed, load_encoder
    from misattribution.engines.sharded import ShardWorker
    from misattribution.testing.planted import generate

    data = generate("general", n_rows=max(2000, n_sentences // 2), seed=1)
    sentences = list(dict.fromkeys(data.sentences["text"]))[:n_sentences]
    encoder = load_encoder()
    embed(sentences[:64], encoder)  # warm
    clock = time.perf_counter()
    embed(sentences, encoder, batch_size=64)
    local = len(sentences) / (time.perf_counter() - clock)
    print(f"embedding, this process (anchor): {local:,.0f} sentences/s ({len(sentences)} sentences)")

    def payload(part: list[str]) -> bytes:
        task = {
            "unique": part,
            "occurrence_text": part,
            "occurrence_unique": list(range(len(part))),
            "threshold": 0.0,
            "budget": 1000,
            "seed": 0,
            "by_language": True,
        }
        return json.dumps(task).encode()

    options = {"embedding_model": "all-MiniLM-L6-v2", "batch_size": 64}
    engine.map_shards(ShardWorker, options, [payload(sentences[:64])] * engine.actors)  # actors start, warm
    for shards in (1, engine.actors):
        parts = [sentences[i::shards] for i in range(shards)]
        clock = time.perf_counter()
        results = engine.map_shards(ShardWorker, options, [payload(p) for p in parts])
        seconds = time.perf_counter() - clock
        rate = len(sentences) / seconds
        in_worker = [np.load(io.BytesIO(r))["seconds"][0] for r in results]  # each worker's embedding time
        per_actor = np.mean([len(p) / s for p, s in zip(parts, in_worker)])
        print(
            f"embedding, {shards} Ray actor(s) of {engine.cpus_per_actor:g} CPU: {per_actor:,.0f} sentences/s per "
            f"actor inside the worker (ratio to anchor {per_actor / local:.2f}); wall, with each actor's start, "
            f"encoder load and criticality fit: {rate:,.0f} sentences/s in all"
        )


def bench_judge(engine, n_rows: int, latency: float) -> None:
    from misattribution.engines import get_engine
    from misattribution.judges import load_judge
    from misattribution.testing.fake_openai import FakeOpenAIServer

    rows = [
        {"id": f"r{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i + (i % 7 == 0))} for i in range(n_rows)
    ]
    with FakeOpenAIServer(latency=latency) as server, tempfile.TemporaryDirectory() as folder:
        factory = functools.partial(load_judge, server.url, model="fake-judge", concurrency=16)
        clock = time.perf_counter()
        get_engine("local").judge_dataset(rows, factory, Path(folder, "local.jsonl"), progress=False, batch_size=64)
        local = n_rows / (time.perf_counter() - clock)
        clock = time.perf_counter()
        engine.judge_dataset(rows, factory, Path(folder, "ray.jsonl"), progress=False, batch_size=64)
        ray = n_rows / (time.perf_counter() - clock)
        same = sorted(Path(folder, "local.jsonl").read_text().splitlines()) == sorted(
            Path(folder, "ray.jsonl").read_text().splitlines()
        )
    print(
        f"judging {n_rows} rows, {latency * 1000:.0f} ms per request, 16 in flight per client: local runner "
        f"(anchor) {local:,.0f} rows/s; Ray, {engine.actors} clients: {ray:,.0f} rows/s (ratio {ray / local:.2f}); "
        f"results files equal: {same}"
    )


def bench_discovery(engine, n_rows: int, budgets: list[int]) -> None:
    from misattribution.discovery.pipeline import discover
    from misattribution.testing.planted import generate, recovery

    data = generate("general", n_rows=n_rows, seed=0)
    frame = data.frame
    options = {"progress": False, "seed": 0, "max_embedded": None, "score_range": (1, 5), "tree": False}
    clock = time.perf_counter()
    anchor = discover(frame, **options)
    anchor_seconds = seconds = time.perf_counter() - clock
    print(
        f"discovery, {n_rows} rows, {anchor.meta['n_unique_sentences']} distinct sentences, "
        f"{anchor.meta['n_clustered']} critical: single process (anchor) {seconds:.1f} s, {len(anchor.issues)} issues, "
        f"planted recovery F1 {recovery(anchor, data).mean_f1:.3f}"
    )
    configs = [(1, None), (2, None), (4, None)] + [(4, b) for b in budgets]
    for shards, budget in configs:
        clock = time.perf_counter()
        report = engine.discover(frame, shards=shards, micro_clusters=budget, **options)
        seconds = time.perf_counter() - clock
        exact = row_sets(report) == row_sets(anchor) and [i.id for i in report.issues] == [i.id for i in anchor.issues]
        micro = report.meta["n_micro_clusters"]
        print(
            f"  ray, {shards} shard(s), budget {budget or 'default'} per shard and language: {seconds:.1f} s "
            f"(ratio to anchor {seconds / anchor_seconds:.2f}), "
            f"{micro} micro-clusters ({micro * (384 * 4 + 16) / 1e6:.2f} MB reduce input), {len(report.issues)} issues, "
            f"identical to the anchor: {exact}, row-set agreement (Jaccard) {agreement(anchor, report):.3f}, "
            f"planted recovery F1 {recovery(report, data).mean_f1:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2000, help="planted judged rows for discovery")
    parser.add_argument("--judge-rows", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per judge request")
    parser.add_argument("--sentences", type=int, default=3000, help="sentences for the embedding figure")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--budgets", type=int, nargs="*", default=[10, 30], help="small per-shard budgets")
    parser.add_argument("--skip", nargs="*", default=[], choices=["embedding", "judge", "discovery"])
    args = parser.parse_args()

    from misattribution.engines import get_engine

    print(f"load average at start: {load_average()}")
    started = time.perf_counter()
    clock = time.perf_counter()
    with get_engine("ray", num_cpus=args.num_cpus) as engine:
        print(f"ray.init, {args.num_cpus} CPUs, {engine.actors} actors per pool: {time.perf_counter() - clock:.1f} s")
        if "embedding" not in args.skip:
            bench_embedding(engine, args.sentences)
        if "judge" not in args.skip:
            bench_judge(engine, args.judge_rows, args.latency)
        if "discovery" not in args.skip:
            bench_discovery(engine, args.rows, args.budgets)
    print(f"total {time.perf_counter() - started:.1f} s; load average at end: {load_average()}")


if __name__ == "__main__":
    main()
