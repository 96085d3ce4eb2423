"""The static embedder against MiniLM: speed, start-up, neighbourhoods, criticality and issue quality.

    HF_HUB_OFFLINE=1 python benchmarks/bench_embedders.py [--planted-rows 10000] [--clear PATH] [--skip ...]

Needs the static embedder built (``python -m misattribution.discovery.embed build``). Prints, with the
load average before and after each section:

* ``speed``: sentences per second of each embedder on the same planted feedback sentences, and the ratio
  (MiniLM is the anchor, measured in the same run);
* ``startup``: a fresh ``misattribution discover`` process on an 11-sentence input with each embedder:
  its wall time and discover's own total (goal: a fixed cost under 5 s for small inputs);
* ``neighbours``: how far the static embedder's neighbourhoods agree with MiniLM's on the same sentences
  (top-10 overlap, adjusted Rand index of seeded KMeans with 20 clusters);
* ``criticality``: the criticality classifier (:class:`~misattribution.discovery.sentences.CriticalityScorer`,
  fitted on each embedder's vectors) on ``benchmarks/data/criticality`` (see ``bench_criticality.py``):
  precision / recall / F1 of "shortcoming" per source and split;
* ``planted``: planted-issue recovery F1 at ``--planted-rows`` rows (test phrasings) with each embedder;
* ``clear``: on CLEAR's GSM8K sample (when present), per CLEAR issue the Jaccard of our best leaf's rows,
  mean and min, with each embedder (as ``bench_discovery_clear.py`` computes it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

EMBEDDERS = ("all-MiniLM-L6-v2", "static")
SECTIONS = ("speed", "startup", "neighbours", "criticality", "planted", "clear")
CLEAR_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "clear_gsm8k"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def planted_sentences(n: int) -> list[str]:
    from misattribution.discovery.inputs import load_judged
    from misattribution.discovery.pipeline import split_failing
    from misattribution.testing.planted import generate

    data = generate("general", max(n // 2, 200), seed=11, split="test")
    unique = split_failing(load_judged(data.frame, score_range=data.score_range)).unique
    return unique[:n]


def speed(texts: list[str]) -> None:
    from misattribution.discovery.embed import embed, load_encoder

    rates = {}
    for name in EMBEDDERS:
        encoder = load_encoder(name)
        embed(texts[:32], encoder)  # warm-up
        clock = time.perf_counter()
        embed(texts, encoder, batch_size=64 if name != "static" else 1024)
        seconds = time.perf_counter() - clock
        rates[name] = len(texts) / seconds
        print(f"  {name:<18} {len(texts):,} sentences in {seconds:.2f} s: {rates[name]:,.0f} sentences/s")
    print(f"  static / MiniLM speed ratio: {rates['static'] / rates['all-MiniLM-L6-v2']:.1f}x")


def startup(folder: Path) -> None:
    import pandas as pd

    sentences = [
        "The answer omits the units.",
        "The final total is miscalculated.",
        "It ignores the word limit.",
        "The reply is in the wrong language.",
        "The code snippet has a syntax error.",
        "It cites a report that does not exist.",
        "The answer leaves half the question unanswered.",
        "It relies on outdated figures.",
        "The tone is condescending.",
        "It refuses a harmless request.",
        "Two statements contradict each other.",
    ]
    path = folder / "eleven.jsonl"
    pd.DataFrame({"id": range(11), "feedback": sentences, "score": [2] * 11}).to_json(
        path, orient="records", lines=True
    )
    for name in EMBEDDERS:
        out = folder / f"out-{name}"
        clock = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "misattribution.cli", "discover", str(path), "-o", str(out), "--quiet"]
            + ["--score-range", "1", "5", "--embedder", name],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - clock
        if done.returncode != 0:
            print(f"  {name}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            continue
        meta = json.loads((out / "meta.json").read_text())
        print(
            f"  {name:<18} process wall {wall:.1f} s (imports, encoder load, discover, bundle); "
            f"discover total {meta['timings']['total']:.1f} s; {len(meta.get('sources', {}))} source(s)"
        )


def neighbours(texts: list[str]) -> None:
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from misattribution.discovery.embed import embed, load_encoder

    vectors = {name: embed(texts, load_encoder(name)) for name in EMBEDDERS}
    tops = {}
    for name, v in vectors.items():
        similarity = v @ v.T
        np.fill_diagonal(similarity, -np.inf)
        tops[name] = np.argsort(-similarity, axis=1)[:, :10]
    a, b = tops.values()
    overlap = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b)])
    labels = [KMeans(20, random_state=0, n_init=4).fit_predict(v) for v in vectors.values()]
    print(
        f"  {len(texts):,} sentences: top-10 neighbour overlap {overlap:.2f}; KMeans(20) ARI {adjusted_rand_score(*labels):.2f}"
    )


def criticality(clear: Path) -> None:
    import bench_criticality as bc

    from misattribution.discovery.embed import load_encoder

    sentences, skipped = bc.load_all(clear)
    if skipped:
        print(f"  {skipped}")
    for name in EMBEDDERS:
        table = bc.evaluate(sentences, bc.predict(sentences, load_encoder(name)))
        test = table[table["split"] == "test"]
        cells = ", ".join(
            f"{r.source}/{r.language} P {r.precision:.2f} R {r.recall:.2f} F1 {r.f1:.2f}" for r in test.itertuples()
        )
        print(f"  {name:<18} test: {cells}")


def planted(rows: int) -> None:
    from misattribution.discovery import discover
    from misattribution.testing.planted import generate, recovery

    data = generate("general", rows, seed=0, split="test")
    for name in EMBEDDERS:
        clock = time.perf_counter()
        report = discover(data.frame, score_range=data.score_range, embedding_model=name, progress=False)
        seconds = time.perf_counter() - clock
        found = recovery(report, data.truth())
        print(
            f"  {name:<18} {rows:,} rows: recovery F1 mean {found.mean_f1:.3f}, min {found.table['f1'].min():.2f}; "
            f"{len(report.issues)} issues; discover {seconds:.1f} s (embed {report.meta['timings'].get('embed', 0):.1f} s)"
        )


def clear_jaccard(clear: Path) -> None:
    from bench_discovery_clear import _jaccard

    from misattribution.discovery import discover, load_judged

    if not (clear / "results.parquet").is_file():
        print(f"  clear_gsm8k not found at {clear}: skipped")
        return
    rows = load_judged(clear)
    theirs: dict[str, set[str]] = {}
    for row_id, issues in zip(rows["row_id"], rows["clear_issues"]):
        for issue in issues:
            theirs.setdefault(issue, set()).add(row_id)
    failing = set(rows.loc[rows["failing"], "row_id"])
    for name in EMBEDDERS:
        clock = time.perf_counter()
        report = discover(clear, embedding_model=name, progress=False)
        seconds = time.perf_counter() - clock
        ours = report.assignments.groupby("issue_id")["row_id"].agg(set).to_dict()
        scores = [
            max((_jaccard(members, found) for found in ours.values()), default=0.0) for members in theirs.values()
        ]
        beats = sum(s > _jaccard(m, failing) for s, m in zip(scores, theirs.values()))
        print(
            f"  {name:<18} {len(report.issues)} issues; Jaccard of the best leaf per CLEAR issue: mean "
            f"{sum(scores) / len(scores):.2f}, min {min(scores):.2f}, >= 0.3 for {sum(s >= 0.3 for s in scores)} of "
            f"{len(scores)}, above the all-failing baseline for {beats}; discover {seconds:.1f} s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=2000, help="sentences for speed and neighbours")
    parser.add_argument("--planted-rows", type=int, default=10_000)
    parser.add_argument("--clear", type=Path, default=CLEAR_DEFAULT)
    parser.add_argument("--skip", nargs="*", choices=SECTIONS, default=[])
    args = parser.parse_args()

    from misattribution.discovery.embed import build_command, static_model_path

    if not (static_model_path() / "config.json").is_file():
        print(f"the static embedder is not built ({static_model_path()}): {build_command()}")
        return 2
    texts = planted_sentences(args.sentences) if {"speed", "neighbours"} - set(args.skip) else []
    with tempfile.TemporaryDirectory() as folder:
        for section in SECTIONS:
            if section in args.skip:
                continue
            print(f"{section} (load average {load_average()} on {os.cpu_count()} CPUs)", flush=True)
            if section == "speed":
                speed(texts)
            elif section == "startup":
                startup(Path(folder))
            elif section == "neighbours":
                neighbours(texts)
            elif section == "criticality":
                criticality(args.clear)
            elif section == "planted":
                planted(args.planted_rows)
            else:
                clear_jaccard(args.clear)
            print(f"  (load average after: {load_average()})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
