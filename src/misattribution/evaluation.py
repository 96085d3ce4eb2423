"""What the ``evaluate`` metric computes, as plain functions (the metric script is a thin shell).

Two modes, absolute and pairwise:

* :func:`judge_rows`: a judge writes feedback, misattribution and score for each (question, answer,
  optional reference); the result also summarises the category distribution.
* :func:`agreement`: judge outputs (raw texts, or scores and category lists) against human scores
  and labels; correlations with bootstrap intervals, error detection and category P / R / F1.
* :func:`judge_pair_rows`: a judge says which of two responses is better (A / B / tie) and why the worse
  one fails, optionally in both orders (:mod:`misattribution.pairwise`).
* :func:`pairwise_agreement`: verdicts (or raw pairwise outputs) against human preferences: accuracy
  under three tie conventions, Cohen's kappa over {A, B, tie}, position consistency.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from misattribution.data.agreement import cohen_kappa
from misattribution.format import DEFAULT_ORDER, VERDICTS, parse_judgment, parse_order, parse_pairwise, parse_verdict
from misattribution.io.tables import check_scale, parse_scores
from misattribution.judges import Judge
from misattribution.runner import judge_dataset
from misattribution.stats import DegenerateInputWarning, agreement_report
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


# -- pairwise ---------------------------------------------------------------------------------------
def judge_pair_rows(
    questions: Sequence[str],
    answers_a: Sequence[str],
    answers_b: Sequence[str],
    references: Sequence[str | None] | None = None,
    *,
    judge: Judge,
    criteria: Sequence[str | None] | None = None,
    rubrics: Sequence[Any] | None = None,
    both_orders: bool = False,
    taxonomy: Taxonomy | str | None = None,
    language: str = "en",
    batch_size: int = 16,
    output: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Judge each pair (:func:`misattribution.pairwise.judge_pairs`); per-row lists and the verdict counts."""
    from misattribution.pairwise import judge_pairs, verdict_counts

    n = len(questions)
    table: dict[str, list[Any]] = {
        "question": list(questions),
        "answer_a": list(answers_a),
        "answer_b": list(answers_b),
    }
    for name, values in (("reference", references), ("criteria", criteria), ("rubric", rubrics)):
        if values is not None:
            table[name] = [v if v else None for v in values]
    for name, values in table.items():
        if len(values) != n:
            raise ValueError(f"got {len(values)} {name} values for {n} questions")
    judged = judge_pairs(
        pd.DataFrame(table),
        judge,
        output,
        taxonomy=taxonomy,
        language=language,
        both_orders=both_orders,
        batch_size=batch_size,
        progress=progress,
    )
    per_row = {
        name: [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in judged[name]]
        for name in ("verdict", "verdict_ab", "verdict_ba", "consistent", "feedback", "status")
    }
    per_row["misattribution"] = [list(m) if m is not None else None for m in judged["misattribution"]]
    per_row["problems"] = [list(p) for p in judged["problems"]]
    return {**per_row, "n": n, "verdict_counts": verdict_counts(judged)}


def pairwise_agreement(
    predictions: Sequence[Any],
    references: Sequence[Any],
    *,
    swapped_predictions: Sequence[Any] | None = None,
    taxonomy: Taxonomy | str | None = None,
    source: str = "agreement",
) -> dict[str, Any]:
    """Agreement of pairwise verdicts with human preferences, as one flat dict.

    Args:
        predictions: the judge's verdicts (``"A"`` / ``"B"`` / ``"tie"`` / ``None``) or its raw outputs
            (read by :func:`~misattribution.format.parse_pairwise`), the pair shown as (A, B).
        references: human preferences: ``A`` / ``B`` / ``tie`` (also ``model_a``, ``1`` / ``2`` / ``0``; see
            :func:`~misattribution.pairwise.parse_preference`); an empty cell is an unlabelled pair.
        swapped_predictions: the same judge's verdicts or outputs with the pair shown as (B, A), as written
            (their "A" is the original B). Given, each pair's verdict is reconciled as in
            :mod:`misattribution.pairwise` (agreeing orders: that verdict; disagreeing: a tie; one unread: none)
            and ``position_consistency`` is reported.
        source: how the data is called in error messages.

    See :func:`pairwise_report` for the figures and the tie conventions.

    Raises:
        InputError: a human preference that is not A, B or tie, naming ``source``, the row and the field.
    """
    from misattribution.pairwise import parse_preferences

    tax = load_taxonomy(taxonomy)
    if swapped_predictions is not None and len(swapped_predictions) != len(predictions):
        raise ValueError(f"got {len(swapped_predictions)} swapped predictions for {len(predictions)} predictions")
    if len(references) != len(predictions):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    human = parse_preferences(list(references), source, "references")
    verdicts_ab, failures = _verdicts(predictions, tax)
    verdicts_ba = None
    if swapped_predictions is not None:
        swapped, failures_ba = _verdicts(swapped_predictions, tax)
        failures += failures_ba
        verdicts_ba = [{"A": "B", "B": "A", "tie": "tie"}[v] if v else None for v in swapped]
        final = [None if a is None or b is None else (a if a == b else "tie") for a, b in zip(verdicts_ab, verdicts_ba)]
    else:
        final = list(verdicts_ab)
    report = pairwise_report(final, human, verdicts_ab=verdicts_ab, verdicts_ba=verdicts_ba)
    report["parse_failures"] = failures
    return report


def _verdicts(values: Sequence[Any], tax: Taxonomy) -> tuple[list[str | None], int]:
    """Verdicts from verdict cells or raw judge outputs; the count of outputs not read completely."""
    out: list[str | None] = []
    failures = 0
    for value in values:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out.append(None)
            continue
        text = str(value)
        verdict, _ = parse_verdict(text) if "\n" not in text and len(text) <= 40 else (None, None)
        if verdict is None:  # a judge's whole output
            judgment = parse_pairwise(text, tax)
            verdict = judgment.verdict
            failures += judgment.status != "ok"
        out.append(verdict)
    return out, failures


def pairwise_report(
    verdicts: Sequence[str | None],
    human: Sequence[str | None],
    *,
    verdicts_ab: Sequence[str | None] | None = None,
    verdicts_ba: Sequence[str | None] | None = None,
) -> dict[str, Any]:
    """The agreement figures of checked verdicts (``A`` / ``B`` / ``tie`` / ``None``) with human preferences.

    A pair counts when both a human preference and a judge verdict exist (``n``); a labelled pair
    without a verdict is left out and counted in ``n_unread``, never guessed. Ties, three conventions:

    * ``accuracy``: a tie is a third class; only exact matches count (A = A, tie = tie).
    * ``accuracy_ties_half``: a tie against A or B counts half (either side's tie); A against B counts 0.
    * ``accuracy_without_ties``: only pairs where neither the human nor the judge says tie
      (``n_without_ties`` of them), as MT-Bench reports agreement "without tie".

    ``cohen_kappa`` is Cohen's kappa over the three classes {A, B, tie} of the ``n`` pairs (``None`` when
    undefined). ``position_consistency`` (with ``verdicts_ab`` and ``verdicts_ba``, the latter mapped back to
    the original sides) is the share of pairs read in both orders whose two verdicts agree, over
    ``n_position_checked`` pairs, human label or not. ``confusion`` counts human (outer key) x judge (inner).

    >>> r = pairwise_report(["A", "tie", "B", None], ["A", "A", "A", "B"])
    >>> r["n"], r["n_unread"], r["accuracy"], r["accuracy_ties_half"], r["accuracy_without_ties"]
    (3, 1, 0.3333333333333333, 0.5, 0.5)
    """
    if len(verdicts) != len(human):
        raise ValueError(f"got {len(verdicts)} verdicts but {len(human)} human preferences")
    for name, values in (
        ("verdicts", verdicts),
        ("human", human),
        ("verdicts_ab", verdicts_ab),
        ("verdicts_ba", verdicts_ba),
    ):
        bad = sorted({str(v) for v in values or [] if v is not None and v not in VERDICTS})
        if bad:
            raise ValueError(f"{name}: {bad} are not among {VERDICTS} (or None)")
    pairs = [(h, v) for h, v in zip(human, verdicts) if h is not None and v is not None]
    labelled = sum(h is not None for h in human)
    report: dict[str, Any] = {
        "n_pairs": len(verdicts),
        "n_labelled": labelled,
        "n": len(pairs),
        "n_unread": labelled - len(pairs),
    }

    def share(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None

    report["accuracy"] = share([float(h == v) for h, v in pairs])
    report["accuracy_ties_half"] = share([1.0 if h == v else 0.5 if "tie" in (h, v) else 0.0 for h, v in pairs])
    no_ties = [(h, v) for h, v in pairs if "tie" not in (h, v)]
    report["accuracy_without_ties"] = share([float(h == v) for h, v in no_ties])
    report["n_without_ties"] = len(no_ties)
    kappa = None
    if pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateInputWarning)
            value = cohen_kappa([h for h, _ in pairs], [v for _, v in pairs], labels=VERDICTS)
        kappa = None if np.isnan(value) else value
    report["cohen_kappa"] = kappa
    report["human_ties"] = sum(h == "tie" for h, _ in pairs)
    report["judge_ties"] = sum(v == "tie" for _, v in pairs)
    report["confusion"] = {h: {v: sum(1 for x, y in pairs if (x, y) == (h, v)) for v in VERDICTS} for h in VERDICTS}
    checked = []
    if verdicts_ab is not None and verdicts_ba is not None:
        checked = [a == b for a, b in zip(verdicts_ab, verdicts_ba) if a is not None and b is not None]
    report["position_consistency"] = share([float(c) for c in checked])
    report["n_position_checked"] = len(checked)
    return report


def format_pairwise_report(report: dict[str, Any]) -> str:
    """The pairwise agreement figures as a short table for a terminal."""

    def figure(value: Any) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    rows = [
        ("accuracy (tie = a third class)", report["accuracy"]),
        ("accuracy (a tie vs A/B counts 0.5)", report["accuracy_ties_half"]),
        (f"accuracy (no tie on either side, n={report['n_without_ties']})", report["accuracy_without_ties"]),
        ("Cohen's kappa over A / B / tie", report["cohen_kappa"]),
        (f"position consistency (n={report['n_position_checked']})", report["position_consistency"]),
    ]
    width = max(36, *(len(label) + 1 for label, _ in rows))
    lines = [
        f"pairs {report['n_pairs']}, with a human preference {report['n_labelled']}, compared {report['n']} "
        f"(no judge verdict: {report['n_unread']})"
    ]
    lines += [f"{label:<{width}}{figure(value)}" for label, value in rows]
    lines.append("confusion (rows: human, columns: judge)".ljust(width) + "  ".join(f"{v:>4}" for v in VERDICTS))
    lines += [f"  {h:<{width - 2}}" + "  ".join(f"{report['confusion'][h][v]:>4}" for v in VERDICTS) for h in VERDICTS]
    return "\n".join(lines)
