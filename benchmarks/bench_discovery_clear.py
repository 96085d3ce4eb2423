"""LLM-free issue discovery on CLEAR's GSM8K sample, against CLEAR's own (LLM-made) issues.

    python benchmarks/bench_discovery_clear.py [--data ../shared/data/clear_gsm8k] [--fast/--no-fast]

Prints: the time of ``discover`` (offline, 0 LLM calls) next to the bare embedding time of the same
sentences (goal: at most 1.5x), then for each of CLEAR's issues our best-overlapping issue and the
Jaccard index of their row sets (goal: at least 0.3 for each). Exits with a message when the data
is absent.

Then, unless ``--no-ceilings``, what the data allows, per CLEAR issue, so that our figure can be read:

* ``score<=t``: the rows whose judge score is at most t, for the best t (no text at all);
* ``static``: our static mode given CLEAR's 8 issue names as text (calibrated thresholds, no answers);
* ``names*``: rows with a critical feedback sentence at cosine >= tau to CLEAR's issue name, with the
  tau that maximises the Jaccard, i.e. chosen *with* the answers (an optimistic bound for any
  mapping of sentences to that name);
* ``supervised*``: a TF-IDF + score logistic regression trained on CLEAR's own row labels, 5-fold
  cross-validated predictions on the failing rows, with the probability cut that maximises the Jaccard
  (again chosen with the answers): how far the critique text determines CLEAR's mapping at all.
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
    parser.add_argument(
        "--ceilings", action=argparse.BooleanOptionalAction, default=True, help="print what the data allows"
    )
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
    # Every node of the issue tree is a candidate too (a category node holds the rows of its issues),
    # and the trivial baseline is one issue holding every failing row.
    nodes = {n.id: set(report.node_rows(n.id)) for n in report.nodes}
    node_names = {n.id: n.name for n in report.nodes}
    failing_rows = set(rows.loc[rows["failing"], "row_id"])
    print(
        f"{'CLEAR issue':<70} {'rows':>4}  {'leaf':>5}  {'node':>5}  {'all failing':>11}  our best-overlapping leaf (rows)"
    )
    scores, node_scores, beats = [], [], 0
    for name, members in sorted(theirs.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        best_id, best = max(((i, _jaccard(members, found)) for i, found in ours.items()), key=lambda x: x[1])
        best_node = max([best, *(_jaccard(members, found) for found in nodes.values())])
        trivial = _jaccard(members, failing_rows)
        scores.append(best)
        node_scores.append(best_node)
        beats += best > trivial
        label = f"{names[best_id]} ({len(ours[best_id])})" if best > 0 else "-"
        print(f"{name[:70]:<70} {len(members):4d}  {best:5.2f}  {best_node:5.2f}  {trivial:11.2f}  {label}")
    print(
        f"leaves: Jaccard min {min(scores):.2f}, mean {sum(scores) / len(scores):.2f}; >= 0.3 for "
        f"{sum(s >= 0.3 for s in scores)} of {len(scores)}; above the all-failing-rows baseline for {beats} of "
        f"{len(scores)}"
    )
    print(
        f"any node of the tree (leaves and categories: {', '.join(node_names.values()) or 'none'}): "
        f"mean {sum(node_scores) / len(node_scores):.2f} (goal for the leaves: mean >= 0.43, every one above the baseline)"
    )
    if args.ceilings:
        print()
        print_ceilings(rows, theirs, dict(zip(sorted(theirs, key=lambda k: (-len(theirs[k]), k)), scores)), encoder)
    return 0


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _best_cut(values, row_ids, members: set, cuts) -> float:
    """The best Jaccard of {rows with value >= cut} against ``members`` over ``cuts``."""
    import numpy as np

    return max((_jaccard(set(row_ids[np.asarray(values) >= cut]), members) for cut in cuts), default=0.0)


def print_ceilings(rows, theirs: dict[str, set[str]], ours: dict[str, float], encoder) -> None:
    """Per CLEAR issue: ours next to a score baseline, our static mode and two answer-tuned bounds."""
    import numpy as np
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from misattribution.discovery.embed import embed
    from misattribution.discovery.modes.static import static_issues
    from misattribution.discovery.pipeline import criticality, split_failing
    from misattribution.discovery.sentences import CriticalityScorer

    names = sorted(theirs, key=lambda k: (-len(theirs[k]), k))
    row_ids = rows["row_id"].astype(str).to_numpy()
    score = rows["score_norm"].astype(float).to_numpy()
    failing = rows["failing"].to_numpy(dtype=bool)

    issues, assignments, _ = static_issues(rows, names, encoder=encoder)
    static_rows = assignments.groupby("issue_id")["row_id"].agg(set).to_dict()
    static_of = {issue.name: static_rows.get(issue.id, set()) for issue in issues}

    sentences = split_failing(rows)
    vectors = embed(sentences.unique, encoder, progress=False)
    scorer = CriticalityScorer(encoder)
    critical = criticality(sentences, scorer.semantic(vectors, sentences.unique), scorer) > scorer.threshold
    similarity = vectors[sentences.inverse[critical]] @ embed(names, encoder, progress=False).T
    sentence_rows = row_ids[sentences.row[critical]]

    text = rows.loc[failing, "feedback"].fillna("").to_numpy()
    features = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(text)
    features = hstack([features, csr_matrix(score[failing, None])]).tocsr()
    failing_ids = row_ids[failing]
    cuts = np.arange(0.05, 0.95, 0.05)

    print(
        f"{'CLEAR issue':<60} {'rows':>4}  {'ours':>5}  {'score<=t':>8}  {'static':>6}  {'names*':>6}  {'supervised*':>11}"
    )
    counts = {"ours": 0, "score": 0, "static": 0, "names": 0, "supervised": 0}
    for j, name in enumerate(names):
        members = theirs[name]
        by_score = max(_jaccard(set(row_ids[score <= t]), members) for t in np.unique(score[~np.isnan(score)]))
        static = _jaccard(static_of.get(name, set()), members)
        by_name = _best_cut(similarity[:, j], sentence_rows, members, np.arange(0.2, 0.8, 0.025))
        labels = np.isin(failing_ids, list(members))
        model = LogisticRegression(C=10, max_iter=2000, class_weight="balanced")
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        probability = cross_val_predict(model, features, labels, cv=folds, method="predict_proba")[:, 1]
        supervised = _best_cut(probability, failing_ids, members, cuts)
        line = {"ours": ours[name], "score": by_score, "static": static, "names": by_name, "supervised": supervised}
        counts = {k: counts[k] + (line[k] >= 0.3) for k in counts}
        print(
            f"{name[:60]:<60} {len(members):4d}  {ours[name]:5.2f}  {by_score:8.2f}  {static:6.2f}  {by_name:6.2f}  "
            f"{supervised:11.2f}"
        )
    print(
        "issues with Jaccard >= 0.3: "
        + ", ".join(f"{k} {v} of {len(names)}" for k, v in counts.items())
        + "\n(* = threshold chosen with CLEAR's answers: an optimistic bound, not a method)"
    )


if __name__ == "__main__":
    sys.exit(main())
