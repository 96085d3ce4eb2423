"""Time of :func:`misattribution.stats.agreement_report` on a judge-sized evaluation.

Builds ``--n`` rows of correlated 0-3 judge / human scores and multi-label misattributions over 15
categories, runs the full report with ``--resamples`` bootstrap resamples, and prints the wall time, the
time of each part, and whether it met the goal (< 10 s for 100,000 rows and 1,000 resamples on 2 cores).
It then times the continuous-score fallback (many distinct pairs, Kendall on expanded rows) on
``--continuous-n`` rows, which has no goal: it is printed for reference.

    python benchmarks/bench_stats.py                         # n=100,000, 1,000 resamples
    python benchmarks/bench_stats.py --n 20000 --resamples 200 --continuous-n 2000

Exits with status 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from misattribution import stats

GOAL_SECONDS = 10.0
CATEGORIES = [f"category_{i:02d}" for i in range(15)]


def judge_like_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Human scores skewed towards good answers; the judge agrees exactly 60 % of the time."""
    rng = np.random.default_rng(seed)
    ref = rng.choice(4, size=n, p=[0.1, 0.2, 0.3, 0.4])
    step = rng.choice([-1, 0, 1], size=n, p=[0.2, 0.6, 0.2])
    pred = np.clip(ref + step, 0, 3)
    wild = rng.random(n) < 0.05  # the judge sometimes misreads the answer entirely
    pred[wild] = rng.integers(0, 4, wild.sum())
    return pred.astype(float), ref.astype(float)


def judge_like_labels(ref_scores: np.ndarray, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """Imperfect answers carry 1-3 categories; the judge drops some and adds a few of its own."""
    rng = np.random.default_rng(seed)
    weights = np.linspace(2.0, 0.5, len(CATEGORIES))  # a few categories are much more common
    weights /= weights.sum()
    pred, ref = [], []
    for score in ref_scores:
        size = 0 if score == 3 else int(rng.integers(1, 4))
        row = list(rng.choice(CATEGORIES, size=size, replace=False, p=weights))
        kept = [category for category in row if rng.random() < 0.75]
        if rng.random() < 0.15:
            kept.append(str(rng.choice(CATEGORIES, p=weights)))
        ref.append(row)
        pred.append(sorted(set(kept)))
    return pred, ref


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="rows of 0-3 scores (default 100,000)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1,000)")
    parser.add_argument("--continuous-n", type=int, default=10_000, help="rows for the continuous fallback")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    bootstrap = {"n_resamples": args.resamples, "seed": args.seed}

    pred, ref = judge_like_scores(args.n, args.seed)
    pred_labels, ref_labels = judge_like_labels(ref, args.seed)
    pairs = stats._distinct_pairs(pred, ref)
    print(f"{args.n:,} rows of 0-3 scores, {pairs.k} distinct pairs, {args.resamples:,} resamples")

    report, total = timed(stats.agreement_report, pred, ref, pred_labels, ref_labels, **bootstrap)
    parts = {
        "correlations + bootstrap": timed(stats.correlations, pred, ref, **bootstrap)[1],
        "detection_scores": timed(stats.detection_scores, pred_labels, ref_labels)[1],
        "category_scores": timed(stats.category_scores, pred_labels, ref_labels)[1],
        "score_confusion (not in report)": timed(stats.score_confusion, pred, ref)[1],
        "category_confusion (not in report)": timed(stats.category_confusion, pred_labels, ref_labels)[1],
        "format_report": timed(stats.format_report, report)[1],
    }
    for name, seconds in parts.items():
        print(f"  {name:<36} {seconds:8.3f} s")
    met = total < GOAL_SECONDS
    print(f"agreement_report wall time: {total:.3f} s (goal < {GOAL_SECONDS:g} s: {'met' if met else 'MISSED'})")
    print(f"  pearson {report['pearson']:.4f} [{report['pearson_ci_low']:.4f}, {report['pearson_ci_high']:.4f}]")
    print(f"  kendall {report['kendall']:.4f} [{report['kendall_ci_low']:.4f}, {report['kendall_ci_high']:.4f}]")

    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=args.continuous_n)
    y = 0.6 * x + 0.8 * rng.normal(size=args.continuous_n)
    path = stats._choose_kendall_path(stats._distinct_pairs(x, y))
    _, seconds = timed(stats.correlations, x, y, **bootstrap)
    print(
        f"continuous fallback: {args.continuous_n:,} rows, {args.resamples:,} resamples, "
        f"Kendall on the {path} path: {seconds:.3f} s (no goal)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    with warnings.catch_warnings():
        # Undefined per-category scores are expected on synthetic data; the timing is what matters.
        warnings.simplefilter("ignore", stats.DegenerateInputWarning)
        raise SystemExit(main())
