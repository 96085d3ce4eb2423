"""What the ``evaluate`` metric computes, as plain functions (the metric script is a thin shell).

Two modes:

* :func:`judge_rows`: a judge writes feedback, misattribution and score for each (question, answer,
  optional reference); the result also summarises the category distribution.
* :func:`agreement`: judge outputs (raw texts, or scores and category lists) against human scores
  and labels; correlations with bootstrap intervals, error detection and category P / R / F1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from misattribution.format import DEFAULT_ORDER, parse_judgment, parse_order
from misattribution.io.tables import check_scale, parse_scores
from misattribution.judges import Judge
from misattribution.runner import judge_dataset
from misattribution.stats import agreement_report
from misattribution.taxonomy import Taxonomy, load_taxonomy


def category_distribution(
    misattributions: Sequence[Sequence[str] | None], taxonomy: Taxonomy | str | None = None
) -> dict[str, int]:
    """How many rows name each secondary category (every category listed, zeros included).

    >>> category_distribution([["result_error"], [], ["result_error", "typos"]])["result_error"]
    2
    """
    tax = load_taxonomy(taxonomy)
    counts = Counter(cid for labels in misattributions if labels for cid in set(labels))
    distribution = {cid: counts.pop(cid, 0) for cid in tax.secondary_ids}
    distribution.update(sorted(counts.items()))  # ids outside the taxonomy (e.g. primaries) stay visible
    return distribution


def summarize(judged: pd.DataFrame, taxonomy: Taxonomy | str | None = None) -> dict[str, Any]:
    """Aggregate figures of judged rows: parse rate, mean score, error rate, category counts."""
    n = len(judged)
    scores = pd.to_numeric(judged["score"], errors="coerce")
    parsed = judged["misattribution"].dropna()
    return {
        "n": n,
        "parse_rate": float((judged["status"] == "ok").mean()) if n else float("nan"),
        "generation_error_rate": float((judged["status"] == "error").mean()) if n else float("nan"),
        "mean_score": float(scores.mean()) if scores.notna().any() else float("nan"),
        "error_rate": float(np.mean([len(m) > 0 for m in parsed])) if len(parsed) else float("nan"),
        "category_distribution": category_distribution(list(parsed), taxonomy),
    }


def judge_rows(
    questions: Sequence[str],
    answers: Sequence[str],
    references: Sequence[str | None] | None = None,
    *,
    judge: Judge,
    criteria: Sequence[str | None] | None = None,
    taxonomy: Taxonomy | str | None = None,
    language: str = "en",
    order: str | Sequence[str] = DEFAULT_ORDER,
    batch_size: int = 16,
    output: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Judge each row and return per-row lists plus the summary of :func:`summarize`."""
    if len(questions) != len(answers):
        raise ValueError(f"got {len(questions)} questions but {len(answers)} answers")
    table: dict[str, list[Any]] = {"question": list(questions), "answer": list(answers)}
    for name, values in (("reference", references), ("criteria", criteria)):
        if values is not None:
            if len(values) != len(answers):
                raise ValueError(f"got {len(values)} {name} values for {len(answers)} answers")
            table[name] = [v if v else None for v in values]
    judged = judge_dataset(
        pd.DataFrame(table),
        judge,
        output,
        taxonomy=taxonomy,
        language=language,
        order=parse_order(order),
        batch_size=batch_size,
        progress=progress,
    )
    per_row = {
        "feedback": judged["feedback"].tolist(),
        "misattribution": [list(m) if m is not None else None for m in judged["misattribution"]],
        "score": [None if pd.isna(s) else int(s) for s in judged["score"]],
        "status": judged["status"].tolist(),
        "problems": [list(p) for p in judged["problems"]],
    }
    return {**per_row, **summarize(judged, taxonomy)}


def agreement(
    predictions: Sequence[Any],
    human_scores: Sequence[float | None],
    *,
    predicted_misattribution: Sequence[Sequence[str] | None] | None = None,
    human_misattribution: Sequence[Sequence[str] | None] | None = None,
    taxonomy: Taxonomy | str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    order: str | Sequence[str] = DEFAULT_ORDER,
    score_range: tuple[float, float] | None = None,
    source: str = "agreement",
) -> dict[str, Any]:
    """Agreement of judge outputs with human labels, as one flat dict.

    Args:
        predictions: raw judge texts (parsed here) or judge scores.
        human_scores: the human scores of the same rows.
        predicted_misattribution: the judge's category lists, when ``predictions`` are scores.
        human_misattribution: the human category lists (ids or names); enables detection and
            category scores.
        n_resamples: bootstrap resamples for the correlation intervals (0 = none).
        order: the fields raw judge texts hold, in order (see :func:`~misattribution.format.parse_order`).
        score_range: ``(worst, best)`` of both score columns (default: the taxonomy's scale, 0-3).
        source: how the data is called in error messages (a file name).

    Raises:
        InputError: a score that is not a finite number or lies off the scale, naming the rows
            (1-based) and whether it is a judge or a human score; pass ``score_range`` for another scale.
    """
    tax = load_taxonomy(taxonomy)
    fields = parse_order(order)
    parse_failures = 0
    if len(predictions) and all(isinstance(p, str) or p is None for p in predictions):
        judgments = [parse_judgment(p, tax, fields=fields) for p in predictions]
        scores = [j.score for j in judgments]
        parse_failures = sum(j.status != "ok" for j in judgments)
        if predicted_misattribution is None and "misattribution" in fields:
            predicted_misattribution = [j.misattribution for j in judgments]
    else:
        scores = list(predictions)
    pred = _scores_on_scale(scores, tax, score_range, source, "judge score")
    ref = _scores_on_scale(human_scores, tax, score_range, source, "human score")
    pred_labels = ref_labels = None
    if human_misattribution is not None:
        if predicted_misattribution is None:
            raise ValueError(
                "human_misattribution needs the judge's categories: pass raw judge texts or predicted_misattribution"
            )
        ref_labels = [_normalize(labels, tax) for labels in human_misattribution]
        pred_labels = [_normalize(labels, tax) for labels in predicted_misattribution]
    # A judge text whose categories did not parse, or a row with no human categories, is unknown, not
    # "no error": it drops out of the detection and category scores (``n_labelled`` says how many stay).
    report = agreement_report(
        pred, ref, pred_labels, ref_labels, n_resamples=n_resamples, seed=seed, missing_labels="drop"
    )
    report["parse_failures"] = parse_failures
    return report


def _normalize(labels: Sequence[str] | None, tax: Taxonomy) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, str):
        labels = [labels] if labels.strip() else []
    return [tax.resolve(label).id if tax.resolve(label) else label for label in labels]


def _scores_on_scale(
    values: Sequence[Any], tax: Taxonomy, score_range: tuple[float, float] | None, source: str, column: str
) -> list[float]:
    """Scores as floats (NaN for none), refused when not finite numbers or off the scale."""
    scores = parse_scores(pd.Series(list(values), dtype=object), source, column, failed=[True] * len(values))
    scale = (float(tax.scale.min), float(tax.scale.max)) if score_range is None else tuple(map(float, score_range))
    check_scale(scores, scale, source, column, how="given" if score_range else f"{tax.name!r} taxonomy's")  # type: ignore[arg-type]
    return scores.tolist()
