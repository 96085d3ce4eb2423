"""Agreement statistics between an LLM judge and human labels.

Two kinds of judgment are compared, row by row:

* a *score* -- a number, typically an integer on a 0-3 scale (any float works);
* a *misattribution* -- a list of category ids (multi-label); an empty list (or ``None``) means
  "no error".

:func:`correlations` gives Pearson, Spearman and Kendall tau-b with seeded percentile-bootstrap
intervals; :func:`detection_scores` scores error detection (error = non-empty misattribution);
:func:`category_scores` scores the categories (micro and macro P/R/F1); :func:`score_confusion` and
:func:`category_confusion` tabulate disagreements; :func:`agreement_report` puts all of it into one
flat, JSON-serialisable dict and :func:`format_report` renders that dict for a terminal.

Two groups of rows (two runs, two systems) are compared issue by issue with
:func:`compare_proportions`: Newcombe's hybrid score interval of the difference of shares
(:func:`newcombe_interval`, from :func:`wilson_interval`), Fisher's exact p-value
(:func:`fisher_exact_p`) and Holm's correction for the number of issues compared (:func:`holm_adjust`),
honest at small counts where a bootstrap of a share is not.

Undefined statistics (constant scores, fewer than two rows, a division by zero) come back as NaN with a
:class:`DegenerateInputWarning`, never an exception. Inputs are matched by position, not by index.

How the bootstrap stays fast
----------------------------
Resampling n rows with replacement is the same, in distribution, as drawing multinomial counts over the
k *distinct* (x, y) pairs. Every statistic is therefore computed from weighted distinct pairs:

* Pearson from weighted moments, O(k) per resample;
* Spearman as the weighted Pearson of mid-ranks, which follow from the per-level weights, O(k);
* Kendall tau-b from concordant and discordant pair counts. When the a x b contingency table of
  distinct x and y levels is small (judge scores on a small scale) they come from 2-D cumulative sums
  over the table, O(a*b) per resample (the *table* path). Otherwise (continuous scores, k close to n)
  each resample is expanded back to rows and handed to :func:`scipy.stats.kendalltau`, O(n log n) per
  resample (the *general* path, roughly 2 ms per resample at n = 10,000 and 20 ms at n = 100,000).
  The table is chosen when a*b <= max(65,536, n log2 n) (and a*b <= 4M cells, for memory).

All resamples of a chunk are processed together with numpy. For 0-3 scores k <= 16, so 1,000
resamples of 100,000 rows take milliseconds.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

# scipy.stats is imported where it is used (0.5 s otherwise added to every import of this module, and so to
# every Space cold start): Kendall's general path, the normal quantile, Fisher's exact test.

__all__ = [
    "CorrelationResult",
    "DegenerateInputWarning",
    "agreement_report",
    "category_confusion",
    "compare_proportions",
    "category_scores",
    "correlations",
    "detection_scores",
    "fisher_exact_p",
    "format_report",
    "holm_adjust",
    "newcombe_interval",
    "score_confusion",
    "wilson_interval",
]

CORRELATIONS = ("pearson", "spearman", "kendall")
NO_CATEGORY = "none"
_CATEGORY_PREFIX = "category."

# Upper bound on resamples x pairs held in one numpy array (2**21 float64 = 16 MB).
_CHUNK_ELEMENTS = 2**21
# The table path streams several passes over its chunk: 2 MB chunks stay in cache and run 2x faster.
_TABLE_CHUNK_CELLS = 2**18
# Up to this many cells the table path costs about 1 ms per resample: used whatever n is.
_MIN_TABLE_CELLS = 65_536
# Above this the table no longer fits comfortably in memory for even one resample.
_MAX_TABLE_CELLS = 2**22


class DegenerateInputWarning(UserWarning):
    """A statistic is undefined for the given input (constant scores, too few rows, 0/0)."""


@dataclass(frozen=True)
class CorrelationResult:
    """One correlation coefficient with its bootstrap interval.

    Attributes:
        value: the coefficient on all paired rows (NaN when undefined).
        ci_low, ci_high: percentile-bootstrap interval bounds (NaN when not computed or undefined).
        n: number of paired rows used (rows with a NaN/None on either side are dropped).
    """

    value: float
    ci_low: float
    ci_high: float
    n: int


def _warn(message: str, category: type[Warning] = DegenerateInputWarning) -> None:
    """Warn, pointing at the caller's line rather than at the helper inside this module."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _divide(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is zero (the caller warns)."""
    return float(numerator) / float(denominator) if denominator else math.nan


# ---------------------------------------------------------------------------------------------
# Input normalisation
# ---------------------------------------------------------------------------------------------


def _as_scores(values: Any, name: str) -> np.ndarray:
    """A 1-D float64 array; None / pd.NA become NaN. Lists, arrays and Series are accepted."""
    if np.ndim(values) != 1:
        raise ValueError(f"{name} must be one-dimensional, got {np.ndim(values)} dimensions")
    try:
        # Through pandas so that None and pd.NA both become NaN, whatever the container.
        array = pd.Series(values, dtype=object).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must contain numbers (or None/NaN): {error}") from None
    if np.isinf(array).any():
        raise ValueError(f"{name} contains infinite values; use NaN for missing scores")
    return array


def _check_lengths(pred: Sized, ref: Sized, pred_name: str, ref_name: str) -> None:
    if len(pred) != len(ref):
        raise ValueError(f"length mismatch: {pred_name} has {len(pred)} rows, {ref_name} has {len(ref)}")


def _paired_scores(pred: Any, ref: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Both score vectors with rows missing on either side dropped, and how many were dropped."""
    x, y = _as_scores(pred, "pred"), _as_scores(ref, "ref")
    _check_lengths(x, y, "pred", "ref")
    keep = ~(np.isnan(x) | np.isnan(y))
    dropped = int(len(x) - keep.sum())
    if dropped:
        # One warning per call, not per row: a judge that failed on many rows is one fact.
        _warn(f"dropped {dropped} of {len(x)} rows with a missing (NaN/None) score")
    return x[keep], y[keep], dropped


def _is_missing(row: Any) -> bool:
    return row is None or row is pd.NA or (isinstance(row, float) and math.isnan(row))


def _as_label_sets(labels: Iterable[Any], name: str) -> list[frozenset[str]]:
    """One frozenset of category ids per row; None / NaN rows mean "no error"."""
    if isinstance(labels, str):
        raise TypeError(f"{name} must be a sequence of rows, got a single string")
    sets = []
    for i, row in enumerate(labels):
        if _is_missing(row):
            sets.append(frozenset())
            continue
        if isinstance(row, (str, bytes)):
            # A bare string would otherwise be read as a set of characters.
            raise TypeError(f"{name}[{i}] is the string {row!r}; expected a list of category ids")
        items = list(row)
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"{name}[{i}] contains {item!r}; category ids must be strings")
        sets.append(frozenset(str(item) for item in items))
    return sets


def _paired_label_sets(pred_labels: Any, ref_labels: Any) -> tuple[list[frozenset[str]], list[frozenset[str]]]:
    pred = _as_label_sets(pred_labels, "pred_labels")
    ref = _as_label_sets(ref_labels, "ref_labels")
    _check_lengths(pred, ref, "pred_labels", "ref_labels")
    return pred, ref


def _category_list(
    pred: list[frozenset[str]], ref: list[frozenset[str]], labels: Sequence[str] | None
) -> tuple[list[str], list[frozenset[str]], list[frozenset[str]]]:
    """The categories to score, and both sides restricted to them (with a warning if that drops any)."""
    seen = frozenset().union(*pred, *ref)
    if labels is None:
        return sorted(seen), pred, ref
    categories = [str(label) for label in labels]
    if len(set(categories)) != len(categories):
        raise ValueError(f"labels contains duplicates: {categories}")
    known = frozenset(categories)
    unknown = seen - known
    if unknown:
        _warn(f"ignoring categories not in labels: {sorted(unknown)}", UserWarning)
        pred = [row & known for row in pred]
        ref = [row & known for row in ref]
    return categories, pred, ref


# ---------------------------------------------------------------------------------------------
# Correlations: weighted distinct pairs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pairs:
    """The distinct (x, y) pairs of the data, sorted by (x, y), with their row counts."""

    x_levels: np.ndarray  # (a,) sorted distinct x values
    y_levels: np.ndarray  # (b,) sorted distinct y values
    ix: np.ndarray  # (k,) x-level index of each pair
    iy: np.ndarray  # (k,) y-level index of each pair
    counts: np.ndarray  # (k,) rows per pair
    x_starts: np.ndarray  # first pair of each x level (pairs are grouped by x)
    y_order: np.ndarray  # permutation that groups the pairs by y level
    y_starts: np.ndarray  # first pair of each y level within y_order

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def k(self) -> int:
        return len(self.counts)

    @property
    def cells(self) -> int:
        return len(self.x_levels) * len(self.y_levels)


def _distinct_pairs(x: np.ndarray, y: np.ndarray) -> _Pairs:
    x_levels, ix = np.unique(x, return_inverse=True)
    y_levels, iy = np.unique(y, return_inverse=True)
    codes, counts = np.unique(ix.astype(np.int64) * len(y_levels) + iy, return_counts=True)
    pair_ix, pair_iy = np.divmod(codes, len(y_levels))
    y_order = np.argsort(pair_iy, kind="stable")
    return _Pairs(
        x_levels=x_levels,
        y_levels=y_levels,
        ix=pair_ix,
        iy=pair_iy,
        counts=counts.astype(np.int64),
        x_starts=np.flatnonzero(np.diff(pair_ix, prepend=-1)),
        y_order=y_order,
        y_starts=np.flatnonzero(np.diff(pair_iy[y_order], prepend=-1)),
    )


def _choose_kendall_path(pairs: _Pairs) -> Literal["table", "general"]:
    """Table when its O(a*b) per resample beats the O(n log n) of scipy on the expanded rows."""
    if pairs.cells > _MAX_TABLE_CELLS:
        return "general"
    general_cost = pairs.n * math.log2(max(pairs.n, 2))
    return "table" if pairs.cells <= max(_MIN_TABLE_CELLS, general_cost) else "general"


def _resample_weights(pairs: _Pairs, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples as multinomial counts over the distinct pairs, in chunks of rows.

    The chunk size depends only on the data, so the stream, and the result, depends only on the seed
    and not on which Kendall path consumes it.
    """
    rng = np.random.default_rng(seed)
    probabilities = pairs.counts / pairs.n
    per_chunk = max(1, _CHUNK_ELEMENTS // pairs.k)
    for start in range(0, n_resamples, per_chunk):
        size = min(per_chunk, n_resamples - start)
        yield rng.multinomial(pairs.n, probabilities, size=size).astype(np.int64)


def _level_weights(pairs: _Pairs, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-resample weight of every x level and every y level: shapes (c, a) and (c, b)."""
    x_weights = np.add.reduceat(weights, pairs.x_starts, axis=1)
    y_weights = np.add.reduceat(weights[:, pairs.y_order], pairs.y_starts, axis=1)
    return x_weights, y_weights


def _mid_ranks(level_weights: np.ndarray) -> np.ndarray:
    """Average (mid-) rank of each level given its weight: the ranks scipy.stats.rankdata gives."""
    return np.cumsum(level_weights, axis=1) - (level_weights - 1) / 2.0


def _weighted_pearson(
    pairs: _Pairs,
    weights: np.ndarray,
    x_weights: np.ndarray,
    y_weights: np.ndarray,
    x_values: np.ndarray,
    y_values: np.ndarray,
) -> np.ndarray:
    """Pearson r of each resample, from per-level values (shape (a,) or (c, a)) and weights."""
    total = x_weights.sum(axis=1).astype(np.float64)
    x_values = np.broadcast_to(x_values, x_weights.shape)
    y_values = np.broadcast_to(y_values, y_weights.shape)
    dx = x_values - ((x_weights * x_values).sum(axis=1) / total)[:, None]
    dy = y_values - ((y_weights * y_values).sum(axis=1) / total)[:, None]
    sxx = (x_weights * dx**2).sum(axis=1)
    syy = (y_weights * dy**2).sum(axis=1)
    sxy = (weights * dx[:, pairs.ix] * dy[:, pairs.iy]).sum(axis=1)
    # Constant input is detected from the weights, not from sxx == 0: a rounded mean can leave sxx
    # a tiny positive number.
    constant = (x_weights.max(axis=1) == total) | (y_weights.max(axis=1) == total)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.clip(sxy / (np.sqrt(sxx) * np.sqrt(syy)), -1.0, 1.0)
    r[constant] = np.nan
    return r


def _tau_b(
    discordant: np.ndarray,
    weights: np.ndarray,
    x_weights: np.ndarray,
    y_weights: np.ndarray,
) -> np.ndarray:
    """Kendall tau-b from the discordant-pair count and the ties, as scipy.stats.kendalltau does.

    Every pair of rows is concordant, discordant, or tied in x or y (or both), so
    C - D = all - x_ties - y_ties + both_ties - 2 D; all counts are exact int64.
    """
    total = x_weights.sum(axis=1)
    all_pairs = total * (total - 1) // 2
    x_ties = (x_weights * (x_weights - 1) // 2).sum(axis=1)
    y_ties = (y_weights * (y_weights - 1) // 2).sum(axis=1)
    both_ties = (weights * (weights - 1) // 2).sum(axis=1)
    concordant_minus_discordant = all_pairs - x_ties - y_ties + both_ties - 2 * discordant
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = concordant_minus_discordant / np.sqrt(all_pairs - x_ties) / np.sqrt(all_pairs - y_ties)
    tau = np.clip(tau, -1.0, 1.0)
    tau[(all_pairs == x_ties) | (all_pairs == y_ties)] = np.nan
    return tau


def _kendall_table(pairs: _Pairs, weights: np.ndarray, x_weights: np.ndarray, y_weights: np.ndarray) -> np.ndarray:
    """Kendall tau-b per resample from the weighted a x b contingency table: O(a*b) per resample."""
    a, b = len(pairs.x_levels), len(pairs.y_levels)
    step = max(1, _TABLE_CHUNK_CELLS // pairs.cells)
    discordant = np.empty(len(weights), dtype=np.int64)
    for start in range(0, len(weights), step):
        chunk = weights[start : start + step]
        table = np.zeros((len(chunk), a * b), dtype=np.int64)
        table[:, pairs.ix * b + pairs.iy] = chunk
        table = table.reshape(len(chunk), a, b)
        # For each cell, the weight of cells with a larger x level and a smaller y level: the rows
        # that form a discordant pair with it.
        up_to_x = np.cumsum(table, axis=1)
        larger_x = up_to_x[:, -1:, :] - up_to_x
        larger_x_smaller_y = np.cumsum(larger_x, axis=2)
        larger_x_smaller_y -= larger_x
        discordant[start : start + step] = np.einsum("rij,rij->r", table, larger_x_smaller_y)
    return _tau_b(discordant, weights, x_weights, y_weights)


def _kendall_general(pairs: _Pairs, weights: np.ndarray) -> np.ndarray:
    """Kendall tau-b per resample by expanding it back to rows: O(n log n) per resample."""
    from scipy import stats as scipy_stats

    result = np.empty(len(weights))
    with warnings.catch_warnings():
        # Degenerate resamples come back as NaN and are counted (and reported) by the caller.
        warnings.simplefilter("ignore")
        for row, resample in enumerate(weights):
            # Level indices carry the same order as the values and sort faster than floats.
            x = np.repeat(pairs.ix, resample)
            y = np.repeat(pairs.iy, resample)
            result[row] = scipy_stats.kendalltau(x, y, method="asymptotic").statistic
    return result


def _statistics(pairs: _Pairs, weights: np.ndarray, kendall_path: Literal["table", "general"]) -> np.ndarray:
    """Pearson, Spearman and Kendall for each resample (a row of `weights`): shape (3, c)."""
    x_weights, y_weights = _level_weights(pairs, weights)
    pearson = _weighted_pearson(pairs, weights, x_weights, y_weights, pairs.x_levels, pairs.y_levels)
    spearman = _weighted_pearson(
        pairs,
        weights,
        x_weights,
        y_weights,
        _mid_ranks(x_weights),
        _mid_ranks(y_weights),
    )
    if kendall_path == "table":
        kendall = _kendall_table(pairs, weights, x_weights, y_weights)
    else:
        kendall = _kendall_general(pairs, weights)
    return np.stack([pearson, spearman, kendall])


def _percentile_interval(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per statistic (rows of `boot`), leaving degenerate (NaN) resamples out."""
    degenerate = np.isnan(boot).any(axis=0).sum()
    if degenerate:
        _warn(
            f"{degenerate} of {boot.shape[1]} bootstrap resamples had constant scores; "
            "they are left out of the intervals"
        )
    alpha = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: the interval is NaN
        low, high = np.nanpercentile(boot, [alpha, 100 - alpha], axis=1)
    return low, high


def _correlation_engine(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
    kendall_path: Literal["auto", "table", "general"] = "auto",
) -> dict[str, CorrelationResult]:
    """Point estimates and intervals on clean (no NaN, >= 2 rows, non-constant) paired scores."""
    pairs = _distinct_pairs(x, y)
    path = _choose_kendall_path(pairs) if kendall_path == "auto" else kendall_path
    values = _statistics(pairs, pairs.counts[None, :], path)[:, 0]
    low = high = np.full(len(CORRELATIONS), np.nan)
    if n_resamples:
        chunks = [_statistics(pairs, w, path) for w in _resample_weights(pairs, n_resamples, seed)]
        low, high = _percentile_interval(np.concatenate(chunks, axis=1), confidence)
    return {
        name: CorrelationResult(float(values[i]), float(low[i]), float(high[i]), len(x))
        for i, name in enumerate(CORRELATIONS)
    }


def correlations(
    pred: Sequence[float] | np.ndarray | pd.Series,
    ref: Sequence[float] | np.ndarray | pd.Series,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, CorrelationResult]:
    """Pearson, Spearman and Kendall tau-b between judge and reference scores, with bootstrap CIs.

    Values equal ``scipy.stats.pearsonr``, ``spearmanr`` and ``kendalltau`` (tau-b). Intervals are
    percentile-bootstrap intervals over rows: every resample is shared by the three statistics, and the
    same seed gives the same intervals. Resamples with constant scores are left out of the intervals
    (with a warning). Rows with a NaN/None on either side are dropped (one warning, with the count).

    Args:
        pred: judge scores, one per row.
        ref: reference (human) scores, same length.
        n_resamples: bootstrap resamples; 0 skips the intervals (they are NaN).
        confidence: interval coverage, between 0 and 1.
        seed: seed of the bootstrap resampling.

    Returns:
        ``{"pearson": CorrelationResult, "spearman": ..., "kendall": ...}``. With fewer than two rows
        or constant scores every value is NaN and a :class:`DegenerateInputWarning` is emitted.

    Raises:
        ValueError: if the lengths differ, or on non-numeric or infinite scores.

    Example:
        >>> result = correlations([0, 1, 2, 3, 3], [0, 1, 1, 3, 2], n_resamples=0)
        >>> round(result["pearson"].value, 4), round(result["kendall"].value, 4), result["kendall"].n
        (0.9081, 0.8889, 5)
    """
    if n_resamples < 0:
        raise ValueError(f"n_resamples must be >= 0, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    x, y = _paired_scores(pred, ref)[:2]
    reason = None
    if len(x) < 2:
        reason = f"{len(x)} paired row(s); correlations need at least 2"
    elif np.all(x == x[0]) or np.all(y == y[0]):
        reason = "constant scores on one side"
    if reason:
        _warn(f"correlations are undefined: {reason}")
        return {name: CorrelationResult(math.nan, math.nan, math.nan, len(x)) for name in CORRELATIONS}
    return _correlation_engine(x, y, n_resamples=n_resamples, confidence=confidence, seed=seed)


# ---------------------------------------------------------------------------------------------
# Error detection and categories
# ---------------------------------------------------------------------------------------------


def _precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """P, R, F1 with NaN for 0/0, F1 as 2tp / (2tp + fp + fn) exactly as scikit-learn computes it."""
    return _divide(tp, tp + fp), _divide(tp, tp + fn), _divide(2 * tp, 2 * tp + fp + fn)


def _detection_from_sets(pred: list[frozenset[str]], ref: list[frozenset[str]]) -> dict[str, float | int]:
    pred_error = np.fromiter((bool(row) for row in pred), dtype=bool, count=len(pred))
    ref_error = np.fromiter((bool(row) for row in ref), dtype=bool, count=len(ref))
    tp = int((pred_error & ref_error).sum())
    fp = int((pred_error & ~ref_error).sum())
    fn = int((~pred_error & ref_error).sum())
    tn = len(pred) - tp - fp - fn
    precision, recall, f1 = _precision_recall_f1(tp, fp, fn)
    accuracy = _divide(tp + tn, len(pred))
    undefined = [
        name
        for name, value in [
            ("precision", precision),
            ("recall", recall),
            ("f1", f1),
            ("accuracy", accuracy),
        ]
        if math.isnan(value)
    ]
    if undefined:
        _warn(f"error detection {', '.join(undefined)} undefined (0/0) on {len(pred)} rows; set to NaN")
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": accuracy,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "n": len(pred),
    }


def detection_scores(pred_labels: Iterable[Any], ref_labels: Iterable[Any]) -> dict[str, float | int]:
    """Error detection scores: a row is an error when its misattribution is non-empty.

    Equal to scikit-learn's ``precision_score``, ``recall_score``, ``f1_score`` and ``accuracy_score``
    on the binary error indicators, except that 0/0 gives NaN with a
    :class:`DegenerateInputWarning` (``zero_division=np.nan`` plus a warning).

    Args:
        pred_labels: judge misattributions, one list of category ids per row (None means []).
        ref_labels: reference misattributions, same length.

    Returns:
        ``{"precision", "recall", "f1", "accuracy", "tp", "fp", "fn", "tn", "n"}``.

    Example:
        >>> scores = detection_scores([["a"], [], ["b"], []], [["a"], ["c"], [], []])
        >>> scores["precision"], scores["recall"], scores["tp"], scores["tn"]
        (0.5, 0.5, 1, 1)
    """
    return _detection_from_sets(*_paired_label_sets(pred_labels, ref_labels))


def _indicator(rows: list[frozenset[str]], categories: list[str]) -> np.ndarray:
    """The (rows x categories) 0/1 matrix scikit-learn's MultiLabelBinarizer would build."""
    column = {category: j for j, category in enumerate(categories)}
    matrix = np.zeros((len(rows), len(categories)), dtype=bool)
    row_index = [i for i, row in enumerate(rows) for _ in row]
    col_index = [column[category] for row in rows for category in row]
    matrix[row_index, col_index] = True
    return matrix


def _categories_from_sets(
    pred: list[frozenset[str]], ref: list[frozenset[str]], labels: Sequence[str] | None
) -> dict[str, Any]:
    categories, pred, ref = _category_list(pred, ref, labels)
    predicted, actual = _indicator(pred, categories), _indicator(ref, categories)
    tp = (predicted & actual).sum(axis=0)
    fp = (predicted & ~actual).sum(axis=0)
    fn = (~predicted & actual).sum(axis=0)
    micro = _precision_recall_f1(int(tp.sum()), int(fp.sum()), int(fn.sum()))
    per_category = {}
    for j, category in enumerate(categories):
        precision, recall, f1 = _precision_recall_f1(int(tp[j]), int(fp[j]), int(fn[j]))
        support = int(tp[j] + fn[j])
        per_category[category] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        }
    # As scikit-learn with zero_division=np.nan: undefined per-category values are left out of the mean.
    macro = [_nanmean([scores[key] for scores in per_category.values()]) for key in ("precision", "recall", "f1")]
    _warn_undefined_categories(per_category, micro, macro)
    return {
        "micro_precision": micro[0],
        "micro_recall": micro[1],
        "micro_f1": micro[2],
        "macro_precision": macro[0],
        "macro_recall": macro[1],
        "macro_f1": macro[2],
        "per_category": per_category,
        "labels": categories,
        "n": len(pred),
    }


def _nanmean(values: list[float]) -> float:
    finite = [value for value in values if not math.isnan(value)]
    return sum(finite) / len(finite) if finite else math.nan


def _warn_undefined_categories(
    per_category: dict[str, dict[str, float]],
    micro: Sequence[float],
    macro: Sequence[float],
) -> None:
    never_predicted = [c for c, scores in per_category.items() if math.isnan(scores["precision"])]
    never_in_ref = [c for c, scores in per_category.items() if math.isnan(scores["recall"])]
    if never_predicted or never_in_ref:
        _warn(
            f"per-category scores undefined (0/0, set to NaN, left out of macro averages): precision for "
            f"never-predicted {never_predicted}, recall for never-referenced {never_in_ref}"
        )
    if any(math.isnan(value) for value in (*micro, *macro)):
        _warn("micro/macro category scores undefined: no category occurs in either pred or ref")


def category_scores(
    pred_labels: Iterable[Any],
    ref_labels: Iterable[Any],
    *,
    labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Multi-label category scores: micro and macro P/R/F1, and per-category P/R/F1/support.

    Equal to scikit-learn's ``precision_recall_fscore_support`` with ``average="micro"``, ``"macro"``
    and ``None`` on ``MultiLabelBinarizer(classes=labels)`` indicator matrices, with
    ``zero_division=np.nan``: a per-category 0/0 is NaN (with a :class:`DegenerateInputWarning`) and is
    left out of the macro mean.

    Rows where both sides are empty are kept: they are all-zero rows of the indicator matrices, so they
    add no true/false positives or negatives to any category and change no score (they count in ``n``).

    Args:
        pred_labels: judge misattributions, one list of category ids per row (None means []).
        ref_labels: reference misattributions, same length.
        labels: categories to score, in order. Default: every category seen on either side, sorted.
            Categories outside ``labels`` are ignored, with a UserWarning.

    Returns:
        ``{"micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall",
        "macro_f1", "per_category": {category: {"precision", "recall", "f1", "support"}},
        "labels": [...], "n": rows}``; ``support`` is the number of reference rows with the category.

    Example:
        >>> scores = category_scores([["a", "b"], ["a"]], [["a"], ["b"]])
        >>> round(scores["micro_f1"], 4), scores["per_category"]["a"]["precision"]
        (0.4, 0.5)
    """
    return _categories_from_sets(*_paired_label_sets(pred_labels, ref_labels), labels)


def category_confusion(
    pred_labels: Iterable[Any],
    ref_labels: Iterable[Any],
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Which categories the judge gives in place of the reference ones.

    Rows are reference categories plus ``"none"``, columns predicted categories plus ``"none"``. Each
    data row adds counts as follows:

    * every category on both sides adds 1 to its diagonal cell (ref c, pred c);
    * the remaining ("unmatched") reference and predicted categories are paired exhaustively: each
      unmatched ref category with each unmatched pred category; an unmatched ref category with no
      unmatched pred category to pair with goes to (c, "none") (a miss), and an unmatched pred
      category with no unmatched ref category goes to ("none", c) (a false alarm);
    * a row empty on both sides adds 1 to ("none", "none").

    A row can therefore add several counts (ref {a, b} vs pred {c, d} adds four), so the total is not
    the number of rows. Categories outside ``labels`` are removed first (with a UserWarning).

    Args:
        pred_labels: judge misattributions, one list of category ids per row (None means []).
        ref_labels: reference misattributions, same length.
        labels: categories, in order. Default: every category seen on either side, sorted. None may
            be called "none".

    Example:
        >>> category_confusion([["a"], ["b"], []], [["a"], ["a"], []])  # doctest: +NORMALIZE_WHITESPACE
        predicted  a  b  none
        reference
        a          1  1     0
        b          0  0     0
        none       0  0     1
    """
    categories, pred, ref = _category_list(*_paired_label_sets(pred_labels, ref_labels), labels)
    if NO_CATEGORY in categories:
        raise ValueError(f"a category may not be called {NO_CATEGORY!r}: it names the empty side")
    names = [*categories, NO_CATEGORY]
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    for ref_row, pred_row in zip(ref, pred):
        for category in ref_row & pred_row:
            counts[index[category], index[category]] += 1
        missed = sorted(ref_row - pred_row) or ([NO_CATEGORY] if pred_row - ref_row else [])
        extra = sorted(pred_row - ref_row) or ([NO_CATEGORY] if missed else [])
        for ref_category in missed:
            for pred_category in extra:
                counts[index[ref_category], index[pred_category]] += 1
        if not ref_row and not pred_row:
            counts[index[NO_CATEGORY], index[NO_CATEGORY]] += 1
    return pd.DataFrame(
        counts,
        index=pd.Index(names, name="reference"),
        columns=pd.Index(names, name="predicted"),
    )


# ---------------------------------------------------------------------------------------------
# Score confusion
# ---------------------------------------------------------------------------------------------


def _level_names(levels: np.ndarray) -> list[float | int]:
    """Integral levels display as ints (0, 1, 2) rather than floats (0.0, 1.0, 2.0)."""
    if np.all(levels == np.round(levels)):
        return [int(level) for level in levels]
    return [float(level) for level in levels]


def score_confusion(
    pred_scores: Sequence[float] | np.ndarray | pd.Series,
    ref_scores: Sequence[float] | np.ndarray | pd.Series,
    levels: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Confusion matrix of scores: rows are reference levels, columns judge levels.

    Equal to ``sklearn.metrics.confusion_matrix(ref, pred, labels=levels)``. Rows with a NaN/None on
    either side are dropped (with a warning), and so are rows whose score is not among ``levels``
    (with a UserWarning; scikit-learn drops them silently).

    Args:
        pred_scores: judge scores.
        ref_scores: reference scores, same length.
        levels: the score levels, in order. Default: every value seen on either side, sorted.

    Example:
        >>> score_confusion([0, 1, 1, 3], [0, 1, 2, 3])  # doctest: +NORMALIZE_WHITESPACE
        predicted  0  1  2  3
        reference
        0          1  0  0  0
        1          0  1  0  0
        2          0  1  0  0
        3          0  0  0  1
    """
    x, y = _paired_scores(pred_scores, ref_scores)[:2]
    if levels is None:
        level_values = np.union1d(x, y)
    else:
        level_values = _as_scores(levels, "levels")
        if np.isnan(level_values).any() or len(np.unique(level_values)) != len(level_values):
            raise ValueError(f"levels must be distinct numbers, got {list(levels)}")
    order = np.argsort(level_values, kind="stable")
    sorted_levels = level_values[order]
    counts = np.zeros((len(level_values), len(level_values)), dtype=np.int64)
    if len(level_values):
        pred_pos = np.searchsorted(sorted_levels, x).clip(max=len(level_values) - 1)
        ref_pos = np.searchsorted(sorted_levels, y).clip(max=len(level_values) - 1)
        known = (sorted_levels[pred_pos] == x) & (sorted_levels[ref_pos] == y)
        if not known.all():
            _warn(f"ignoring {int((~known).sum())} rows with a score outside levels", UserWarning)
        # Positions in the sorted levels, mapped back to the caller's level order.
        np.add.at(counts, (order[ref_pos[known]], order[pred_pos[known]]), 1)
    names = _level_names(level_values)
    return pd.DataFrame(
        counts,
        index=pd.Index(names, name="reference"),
        columns=pd.Index(names, name="predicted"),
    )


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def _json_value(value: Any) -> float | int | None:
    """Plain Python numbers; NaN becomes None so that the report is strict JSON."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else value


def agreement_report(
    pred_scores: Sequence[float] | np.ndarray | pd.Series,
    ref_scores: Sequence[float] | np.ndarray | pd.Series,
    pred_labels: Iterable[Any] | None = None,
    ref_labels: Iterable[Any] | None = None,
    *,
    categories: Sequence[str] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    missing_labels: str = "no_error",
) -> dict[str, float | int | None]:
    """Every agreement statistic in one flat, strict-JSON dict (undefined values are None).

    Keys: ``n_rows``, ``n`` (paired score rows used), ``n_dropped``, ``confidence``, ``n_resamples``,
    ``seed``; ``pearson``, ``pearson_ci_low``, ``pearson_ci_high`` and the same for ``spearman`` and
    ``kendall``. With labels also: ``detection_precision``, ``detection_recall``, ``detection_f1``,
    ``detection_accuracy``, ``detection_tp`` / ``_fp`` / ``_fn`` / ``_tn``; ``micro_precision``,
    ``micro_recall``, ``micro_f1``, the same for ``macro_``; and per category ``category.<id>.precision``,
    ``.recall``, ``.f1``, ``.support``. Each part uses every row where its own inputs are present: a
    row with a missing score still counts for the labels. Confusion tables are not included; see
    :func:`score_confusion` and :func:`category_confusion`. ``n_labelled`` is the number of rows the
    label part used.

    Args:
        pred_scores, ref_scores: judge and reference scores (see :func:`correlations`).
        pred_labels, ref_labels: judge and reference misattributions (both or neither), one per row.
        categories: categories to score (see ``labels`` in :func:`category_scores`).
        n_resamples, confidence, seed: bootstrap settings (see :func:`correlations`).
        missing_labels: what a ``None`` label row means: ``"no_error"`` (an empty list, the default),
            or ``"drop"`` (unknown, e.g. a judge output that did not parse: the row is left out of
            the label part, as a missing score is left out of the correlations).

    Example:
        >>> report = agreement_report([0, 1, 2, 3], [0, 1, 3, 3], [[], ["a"], [], ["b"]],
        ...                           [[], ["a"], ["b"], ["b"]], n_resamples=0)
        >>> round(report["spearman"], 4), report["detection_recall"], report["micro_f1"]
        (0.9487, 0.6666666666666666, 0.8)
    """
    if (pred_labels is None) != (ref_labels is None):
        raise ValueError("give both pred_labels and ref_labels, or neither")
    pred_values = _as_scores(pred_scores, "pred_scores")
    ref_values = _as_scores(ref_scores, "ref_scores")
    _check_lengths(pred_values, ref_values, "pred_scores", "ref_scores")
    if missing_labels not in ("no_error", "drop"):
        raise ValueError(f"missing_labels must be 'no_error' or 'drop', got {missing_labels!r}")
    label_sets = None
    if pred_labels is not None:
        # Checked before the bootstrap so that malformed labels fail fast.
        pred_labels, ref_labels = list(pred_labels), list(ref_labels)
        label_sets = _paired_label_sets(pred_labels, ref_labels)
        _check_lengths(label_sets[0], pred_values, "pred_labels", "pred_scores")
        if missing_labels == "drop":
            keep = [not (_is_missing(p) or _is_missing(r)) for p, r in zip(pred_labels, ref_labels)]
            label_sets = tuple([s for s, k in zip(sets, keep) if k] for sets in label_sets)
    report: dict[str, Any] = {
        "n_rows": len(pred_values),
        "confidence": confidence,
        "n_resamples": n_resamples,
        "seed": seed,
    }
    results = correlations(pred_values, ref_values, n_resamples=n_resamples, confidence=confidence, seed=seed)
    report["n"] = results["pearson"].n
    report["n_dropped"] = len(pred_values) - report["n"]
    for name, result in results.items():
        report[name] = result.value
        report[f"{name}_ci_low"] = result.ci_low
        report[f"{name}_ci_high"] = result.ci_high
    if label_sets is not None:
        report["n_labelled"] = len(label_sets[0])
        report.update(_label_report(*label_sets, categories))
    return {key: _json_value(value) for key, value in report.items()}


def _label_report(
    pred: list[frozenset[str]], ref: list[frozenset[str]], categories: Sequence[str] | None
) -> dict[str, Any]:
    """The detection and category part of the flat report."""
    detection = _detection_from_sets(pred, ref)
    report = {f"detection_{key}": value for key, value in detection.items() if key != "n"}
    scores = _categories_from_sets(pred, ref, categories)
    report.update({key: value for key, value in scores.items() if key.startswith(("micro_", "macro_"))})
    for category, values in scores["per_category"].items():
        report.update({f"{_CATEGORY_PREFIX}{category}.{key}": value for key, value in values.items()})
    return report


def _number(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned first column, right-aligned numbers, widths fitted to the content."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return lines


def _correlation_lines(report: dict[str, float | int | None]) -> list[str]:
    level = f"{100 * (report.get('confidence') or 0.95):g}%"
    rows = [
        [name, *(_number(report[key]) for key in (name, f"{name}_ci_low", f"{name}_ci_high"))] for name in CORRELATIONS
    ]
    return _table(["correlation", "value", f"{level} low", f"{level} high"], rows)


def _detection_lines(report: dict[str, float | int | None]) -> list[str]:
    names = ("precision", "recall", "f1", "accuracy", "tp", "fp", "fn", "tn")
    return _table(["error detection", "value"], [[name, _number(report[f"detection_{name}"])] for name in names])


def _category_lines(report: dict[str, float | int | None]) -> list[str]:
    metrics = ("precision", "recall", "f1")
    # Category ids may themselves contain dots: strip the known prefix and suffix only.
    categories = sorted(
        {key[len(_CATEGORY_PREFIX) : key.rindex(".")] for key in report if key.startswith(_CATEGORY_PREFIX)}
    )
    rows = [[average, *(_number(report[f"{average}_{m}"]) for m in metrics), ""] for average in ("micro", "macro")]
    for category in categories:
        prefix = f"{_CATEGORY_PREFIX}{category}."
        rows.append([category, *(_number(report[prefix + m]) for m in metrics), _number(report[prefix + "support"])])
    return _table(["category", *metrics, "support"], rows)


def format_report(report: dict[str, float | int | None]) -> str:
    """Render an :func:`agreement_report` dict as aligned text tables for a terminal.

    Example:
        >>> report = agreement_report([0, 1, 2, 3], [0, 1, 3, 3], n_resamples=0)
        >>> print(format_report(report))
        Agreement on 4 paired rows (0 dropped)
        <BLANKLINE>
        correlation   value  95% low  95% high
        pearson      0.9467      n/a       n/a
        spearman     0.9487      n/a       n/a
        kendall      0.9129      n/a       n/a
    """
    lines = [f"Agreement on {report['n']} paired rows ({report['n_dropped']} dropped)", ""]
    lines += _correlation_lines(report)
    if "detection_f1" in report:
        lines += ["", *_detection_lines(report)]
    if "micro_f1" in report:
        lines += ["", *_category_lines(report)]
    return "\n".join(lines)


# -- two proportions: run vs run, system vs system --------------------------------------------------------
#: Default level of the multiplicity-corrected test of :func:`compare_proportions`.
DEFAULT_ALPHA = 0.05


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    from scipy import stats as scipy_stats

    return float(scipy_stats.norm.ppf(1 - (1 - confidence) / 2))


def _counts(count: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
    count, n = np.broadcast_arrays(np.asarray(count, dtype=float), np.asarray(n, dtype=float))
    if np.any(count < 0) or np.any(count > n) or np.any(count != np.round(count)) or np.any(n != np.round(n)):
        raise ValueError(f"need 0 <= successes <= n, whole numbers; got {count.tolist()} of {n.tolist()}")
    return count, n


def wilson_interval(count: Any, n: Any, confidence: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval of a proportion ``count / n``; NaN where ``n`` is 0.

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps its coverage at small ``n`` and at
    proportions near 0 or 1 (a labelled sample of a few dozen rows; 0 of 20 gives (0, 0.161), not (0, 0)).
    Scalars give a pair of floats, arrays a pair of arrays (vectorised).

    Example:
        >>> [round(v, 4) for v in wilson_interval(8, 10)]
        [0.4902, 0.9433]
        >>> wilson_interval(0, 0)
        (nan, nan)
        >>> low, high = wilson_interval([0, 20], 20)
        >>> low.round(3).tolist(), high.round(3).tolist()
        ([0.0, 0.839], [0.161, 1.0])
    """
    scalar = np.ndim(count) == 0 and np.ndim(n) == 0
    count, n = _counts(count, n)
    z = _z(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = count / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    return (float(low), float(high)) if scalar else (low, high)


def newcombe_interval(
    count_a: Any, n_a: Any, count_b: Any, n_b: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``count_a / n_a - count_b / n_b`` (his method 10, 1998).

    Each proportion gets its Wilson interval ``(l, u)``; the difference ``d = p_a - p_b`` then has
    ``d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)`` to ``d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)``. Its
    coverage stays close to nominal at small counts and at shares near 0, where the Wald interval and
    the percentile bootstrap (which collapses to a point at 0 of n) fail. Vectorised; NaN where a
    group has no rows. The samples are taken as independent.

    Example (Newcombe 1998, table II, 56/70 vs 48/80):
        >>> low, high = newcombe_interval(56, 70, 48, 80)
        >>> round(float(low), 4), round(float(high), 4)
        (0.0524, 0.3339)
    """
    count_a, n_a = _counts(count_a, n_a)
    count_b, n_b = _counts(count_b, n_b)
    low_a, high_a = wilson_interval(count_a, n_a, confidence)
    low_b, high_b = wilson_interval(count_b, n_b, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_a, p_b = count_a / n_a, count_b / n_b
    difference = p_a - p_b
    low = difference - np.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + np.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return low, high


def fisher_exact_p(count_a: Any, n_a: Any, count_b: Any, n_b: Any) -> np.ndarray:
    """Two-sided p-value of Fisher's exact test of ``count_a / n_a`` against ``count_b / n_b``.

    The exact conditional test (hypergeometric, margins fixed), so its level holds at any count, small
    ones included; it is :func:`scipy.stats.fisher_exact` on the table
    ``[[count_a, n_a - count_a], [count_b, n_b - count_b]]`` (two-sided: the tables no more likely than
    the one observed). Vectorised; NaN where a group has no rows.

    Example (a difference the old bootstrap flag called significant: 7 of 87 vs 0 of 20):
        >>> round(float(fisher_exact_p(7, 87, 0, 20)), 3)
        0.343
    """
    from scipy import stats as scipy_stats

    count_a, n_a = _counts(count_a, n_a)
    count_b, n_b = _counts(count_b, n_b)
    count_a, n_a, count_b, n_b = np.broadcast_arrays(count_a, n_a, count_b, n_b)
    out = np.full(count_a.shape, np.nan)
    seen: dict[tuple[int, int, int, int], float] = {}
    for index in np.ndindex(out.shape):
        key = (int(count_a[index]), int(n_a[index]), int(count_b[index]), int(n_b[index]))
        if not key[1] or not key[3]:
            continue
        if key not in seen:
            a, rows_a, b, rows_b = key
            seen[key] = float(scipy_stats.fisher_exact([[a, rows_a - a], [b, rows_b - b]]).pvalue)
        out[index] = seen[key]
    return out


def holm_adjust(p_values: Any) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries are left out of the family and stay NaN).

    With ``m`` p-values in increasing order, the ``i``-th (from 1) becomes
    ``max over j <= i of min(1, (m - j + 1) * p_(j))``; rejecting where the adjusted value is below
    ``alpha`` keeps the chance of *any* false rejection at most ``alpha``, whatever the dependence
    between the tests.

    Example:
        >>> holm_adjust([0.01, 0.04, 0.03, float("nan")]).round(2).tolist()
        [0.03, 0.06, 0.06, nan]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if not len(valid):
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def compare_proportions(
    count_a: Any,
    n_a: Any,
    count_b: Any,
    n_b: Any,
    *,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Compare a family of proportions (one line per issue) between two groups of rows.

    For every line: the shares, their difference ``share_a - share_b``, the Newcombe hybrid score
    interval of the difference (:func:`newcombe_interval`), Fisher's exact two-sided p-value
    (:func:`fisher_exact_p`), the p-value adjusted for the number of lines compared
    (:func:`holm_adjust`) and ``significant`` = adjusted p < ``alpha``.

    Why these:

    * **Exact test, score interval.** Issues are often rare (a few rows in one group, none in the
      other). A bootstrap interval of a share of 0 of n is the single point 0, and a percentile
      bootstrap of the difference then flags differences that chance explains (7 of 87 vs 0 of 20 was
      flagged; Fisher's p is 0.34). Fisher's test holds its level at any count (it is conservative),
      and Newcombe's interval keeps near-nominal coverage where the Wald and bootstrap ones do not.
    * **Holm, not Benjamini–Hochberg.** A comparison tests every issue of a report at once, and each
      flagged line is read as a claim ("this issue grew") that a developer or a CI gate acts on.
      Holm controls the family-wise error (the chance that *any* line is a false alarm is at most
      ``alpha``), so a gate does not flake on a report with many issues; BH only bounds the expected
      share of false alarms among the flagged lines. Holm also needs no assumption about how the
      tests depend on each other, and issues of one report do depend (a row can carry several issues;
      two runs often judge the same questions), whereas BH's guarantee needs positive dependence.
      With the 5 to 30 issues of a report, Holm's loss of power against BH is small, and it is
      uniformly more powerful than Bonferroni.
    * The interval is per line at ``confidence`` and is not adjusted; a line whose interval excludes 0
      may still not be significant once the number of lines is accounted for.

    Rows of the two groups are taken as independent samples. When the two groups are the same
    questions (two runs of one test set), the paired design would allow a sharper test; treating them
    as independent is the safe side for a positive correlation between the runs.

    Args:
        count_a, n_a, count_b, n_b: rows with the issue and rows in all, per group (scalars or arrays).
        alpha: level of the corrected test, in (0, 1).
        confidence: level of the intervals, in (0, 1).

    Returns:
        ``count_a, rows_a, share_a, count_b, rows_b, share_b, difference, ci_low, ci_high, p_value,
        p_adjusted, significant``. A group without rows gives NaN shares and is never significant.

    Example (two issues; the second has p < 0.05 alone, but not once two issues are compared):
        >>> table = compare_proportions([7, 30], 87, [0, 2], 20)
        >>> table[["difference", "p_value", "p_adjusted", "significant"]].round(3).to_dict("list")
        {'difference': [0.08, 0.245], 'p_value': [0.343, 0.033], 'p_adjusted': [0.343, 0.065], 'significant': [False, False]}
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    count_a, n_a = _counts(count_a, n_a)
    count_b, n_b = _counts(count_b, n_b)
    count_a, n_a, count_b, n_b = (np.atleast_1d(v) for v in np.broadcast_arrays(count_a, n_a, count_b, n_b))
    with np.errstate(invalid="ignore", divide="ignore"):
        share_a, share_b = count_a / n_a, count_b / n_b
    low, high = newcombe_interval(count_a, n_a, count_b, n_b, confidence)
    p_value = fisher_exact_p(count_a, n_a, count_b, n_b)
    adjusted = holm_adjust(p_value)
    return pd.DataFrame(
        {
            "count_a": count_a.astype(int),
            "rows_a": n_a.astype(int),
            "share_a": share_a,
            "count_b": count_b.astype(int),
            "rows_b": n_b.astype(int),
            "share_b": share_b,
            "difference": share_a - share_b,
            "ci_low": low,
            "ci_high": high,
            "p_value": p_value,
            "p_adjusted": adjusted,
            "significant": np.nan_to_num(adjusted, nan=1.0) < alpha,
        }
    )
