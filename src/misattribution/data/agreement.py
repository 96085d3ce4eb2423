"""Inter-annotator agreement of AttriData annotations: Fleiss' kappa for scores and misattributions.

Annotations come as a long table, one row per (item, annotator): columns ``id``, ``annotator``,
``score`` and ``misattribution`` (a list of category ids or names), as
:func:`misattribution.data.build.read_annotations` returns them.

What each kappa measures
------------------------
* :func:`fleiss_kappa` -- Fleiss (1971) over an items x categories count matrix in which every item is
  rated by the same number ``n >= 2`` of raters.
* :func:`score_kappa` -- the categories are the score levels of the taxonomy's scale (nominal: a 2
  against a 3 counts as much as a 0 against a 3).
* :func:`category_kappas` -- for each secondary category ``c``, Fleiss' kappa of the binary decision
  "``c`` applies to this item" (two categories: chosen / not chosen).
* :func:`misattribution_kappa` -- the *pooled* misattribution kappa: Fleiss' kappa over every
  (item, category) binary decision, i.e. the per-category tables stacked into one of
  ``n_items x n_categories`` rows. This is how a single kappa is usually reported for a multi-label
  annotation (one decision per item and label); it weighs each category by how often it is at stake
  and, unlike the exact-set kappa, gives partial credit when annotators share some categories.
  The paper reports 0.875 (scores) and 0.832 (misattribution) for AttriData.
* :func:`cohen_kappa` -- Cohen (1960) for two raters over nominal labels, e.g. a judge's pairwise
  verdicts against human preferences over {A, B, tie} (:func:`misattribution.evaluation.pairwise_agreement`).
* the report also gives ``error_kappa`` (the binary "has an error" decision) and
  ``misattribution_set_kappa`` (each distinct category set is one nominal category: exact match only).

A kappa is undefined (NaN, with a :class:`~misattribution.stats.DegenerateInputWarning`) when chance
agreement is 1, that is when every rating falls in the same single category.

Example (Fleiss 1971, as on Wikipedia's "Fleiss' kappa" page):
    >>> table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    ...          [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    >>> round(fleiss_kappa(table), 3)
    0.21
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from misattribution.data.validate import parse_labels, parse_score
from misattribution.io.tables import read_table
from misattribution.stats import DegenerateInputWarning
from misattribution.taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "agreement_report",
    "category_kappas",
    "cohen_kappa",
    "fleiss_kappa",
    "misattribution_kappa",
    "score_kappa",
]


# -- the statistic ---------------------------------------------------------------------------------
def _check_counts(counts: Any) -> np.ndarray:
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2:
        raise ValueError(f"counts must be a 2-D items x categories matrix, got {table.ndim} dimension(s)")
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise ValueError(f"counts must have at least one item and one category, got shape {table.shape}")
    if not np.isfinite(table).all() or (table < 0).any() or (table != np.round(table)).any():
        raise ValueError("counts must be non-negative integers (how many raters put an item in a category)")
    raters = table.sum(axis=1)
    n = raters[0]
    uneven = np.flatnonzero(raters != n)
    if uneven.size:
        first = int(uneven[0])
        raise ValueError(
            f"every item must be rated by the same number of raters: item 0 has {n:g} ratings, item {first} has "
            f"{raters[first]:g} ({uneven.size} item(s) differ from item 0)"
        )
    if n < 2:
        raise ValueError(f"Fleiss' kappa needs at least 2 raters per item, got {n:g}")
    return table


def _kappa(table: np.ndarray) -> float:
    """Fleiss' kappa of a checked table; NaN (no warning) when chance agreement is 1."""
    n_items = table.shape[0]
    n = table[0].sum()
    # Same operations, in the same order, as statsmodels.stats.inter_rater.fleiss_kappa.
    p_category = table.sum(axis=0) / (n_items * n)
    p_item = ((table * table).sum(axis=1) - n) / (n * (n - 1.0))
    p_observed = p_item.mean()
    p_chance = (p_category * p_category).sum()
    if math.isclose(p_chance, 1.0, rel_tol=0.0, abs_tol=1e-15):
        return math.nan
    return float((p_observed - p_chance) / (1 - p_chance))


def fleiss_kappa(counts: Any) -> float:
    """Fleiss' kappa of an items x categories count matrix.

    ``counts[i][j]`` is how many raters put item ``i`` in category ``j``; every item must have the same
    number ``n >= 2`` of ratings (a ``ValueError`` names the first item that does not). Returns NaN, with
    a :class:`~misattribution.stats.DegenerateInputWarning`, when the statistic is undefined: every
    rating in one single category.

    >>> fleiss_kappa([[3, 0], [0, 3], [2, 1]])
    0.55
    """
    kappa = _kappa(_check_counts(counts))
    if math.isnan(kappa):
        warnings.warn(
            "Fleiss' kappa is undefined (NaN): every rating falls in the same single category",
            DegenerateInputWarning,
            stacklevel=2,
        )
    return kappa


def cohen_kappa(first: Sequence[Any], second: Sequence[Any], labels: Sequence[Any] | None = None) -> float:
    """Cohen's kappa of two raters' nominal labels of the same items: ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the share of items both raters label alike, ``p_e`` the chance agreement from each rater's
    own label shares. ``labels`` fixes the categories (default: those seen); a label outside them is a
    ``ValueError``. NaN, with a :class:`~misattribution.stats.DegenerateInputWarning`, when ``p_e`` is 1
    (both raters always use one and the same label). Equal to ``sklearn.metrics.cohen_kappa_score``.

    >>> round(cohen_kappa(["A", "A", "B", "tie"], ["A", "B", "B", "tie"]), 4)
    0.6364
    """
    if len(first) != len(second):
        raise ValueError(f"got {len(first)} and {len(second)} labels: the two raters must label the same items")
    if not len(first):
        raise ValueError("Cohen's kappa needs at least one item")
    categories = list(labels) if labels is not None else sorted({*first, *second}, key=str)
    index = {label: i for i, label in enumerate(categories)}
    unknown = sorted({str(v) for v in (*first, *second) if v not in index})
    if unknown:
        raise ValueError(f"labels {unknown} are not among the categories {categories}")
    table = np.zeros((len(categories), len(categories)))
    for a, b in zip(first, second):
        table[index[a], index[b]] += 1
    n = table.sum()
    p_observed = np.trace(table) / n
    p_chance = float((table.sum(axis=1) / n) @ (table.sum(axis=0) / n))
    if math.isclose(p_chance, 1.0, rel_tol=0.0, abs_tol=1e-15):
        warnings.warn(
            "Cohen's kappa is undefined (NaN): both raters give one and the same label",
            DegenerateInputWarning,
            stacklevel=2,
        )
        return math.nan
    return float((p_observed - p_chance) / (1 - p_chance))


# -- annotations -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ratings:
    """The annotations of the items, grouped: one tuple of (annotator, score, ids) per item."""

    ids: list[str]
    ratings: list[list[tuple[str, int, frozenset[str]]]]

    def with_raters(self, n: int) -> _Ratings:
        keep = [i for i, rated in enumerate(self.ratings) if len(rated) == n]
        return _Ratings([self.ids[i] for i in keep], [self.ratings[i] for i in keep])


def _ratings(annotations: Any, taxonomy: Taxonomy) -> _Ratings:
    frame, label = read_table(annotations, name="<annotations>")
    missing = [c for c in ("id", "annotator", "score", "misattribution") if c not in frame.columns]
    if missing:
        raise ValueError(f"{label}: the annotations need the column(s) {missing} (columns: {list(frame.columns)})")
    grouped: dict[str, list[tuple[str, int, frozenset[str]]]] = {}
    for position, record in enumerate(frame[["id", "annotator", "score", "misattribution"]].to_dict("records")):
        score, why_score = parse_score(record["score"], taxonomy)
        labels, why_labels = parse_labels(record["misattribution"], taxonomy)
        if why_score or why_labels:
            field, why = ("score", why_score) if why_score else ("misattribution", why_labels)
            raise ValueError(f"{label}: row {position} (id {record['id']!r}), field {field!r}: {why}")
        rated = grouped.setdefault(str(record["id"]), [])
        annotator = str(record["annotator"])
        if any(other == annotator for other, _, _ in rated):
            raise ValueError(f"{label}: annotator {annotator!r} rated the item {record['id']!r} twice")
        rated.append((annotator, score, frozenset(labels)))  # type: ignore[arg-type]
    return _Ratings(list(grouped), list(grouped.values()))


def _score_table(ratings: _Ratings, taxonomy: Taxonomy) -> np.ndarray:
    levels = taxonomy.scale.values
    table = np.zeros((len(ratings.ids), len(levels)))
    for i, rated in enumerate(ratings.ratings):
        for _, score, _ in rated:
            table[i, levels.index(score)] += 1
    return table


def _category_tables(ratings: _Ratings, taxonomy: Taxonomy) -> dict[str, np.ndarray]:
    """Per category, the items x (not chosen, chosen) table."""
    tables = {}
    for category in taxonomy.secondary_ids:
        chosen = np.array([sum(category in labels for _, _, labels in rated) for rated in ratings.ratings], float)
        raters = np.array([len(rated) for rated in ratings.ratings], float)
        tables[category] = np.column_stack([raters - chosen, chosen])
    return tables


def _set_table(ratings: _Ratings) -> np.ndarray:
    sets = sorted({labels for rated in ratings.ratings for _, _, labels in rated}, key=sorted)
    table = np.zeros((len(ratings.ids), max(len(sets), 1)))
    for i, rated in enumerate(ratings.ratings):
        for _, _, labels in rated:
            table[i, sets.index(labels)] += 1
    return table


def _error_table(ratings: _Ratings) -> np.ndarray:
    errors = np.array([sum(bool(labels) for _, _, labels in rated) for rated in ratings.ratings], float)
    raters = np.array([len(rated) for rated in ratings.ratings], float)
    return np.column_stack([raters - errors, errors])


def _warn_undefined(what: str) -> None:
    warnings.warn(
        f"{what} is undefined (NaN): every rating falls in one category", DegenerateInputWarning, stacklevel=3
    )


def score_kappa(annotations: Any, *, taxonomy: Taxonomy | str | None = None) -> float:
    """Fleiss' kappa of the scores; the categories are the levels of the taxonomy's scale.

    >>> rows = [{"id": i, "annotator": a, "score": s, "misattribution": [] if s == 3 else ["typos"]}
    ...         for i, scores in enumerate([(3, 3, 3), (1, 1, 2), (0, 0, 0)]) for a, s in zip("abc", scores)]
    >>> round(score_kappa(rows), 4)
    0.6897
    """
    tax = load_taxonomy(taxonomy)
    kappa = _kappa(_check_counts(_score_table(_ratings(annotations, tax), tax)))
    if math.isnan(kappa):
        _warn_undefined("the score kappa")
    return kappa


def category_kappas(annotations: Any, *, taxonomy: Taxonomy | str | None = None) -> dict[str, float]:
    """Per secondary category, Fleiss' kappa of the binary decision "this category applies".

    A category nobody chose (or everybody chose for every item) has an undefined kappa: NaN, with one
    warning naming all such categories.
    """
    tax = load_taxonomy(taxonomy)
    ratings = _ratings(annotations, tax)
    kappas = {category: _kappa(_check_counts(table)) for category, table in _category_tables(ratings, tax).items()}
    undefined = [category for category, kappa in kappas.items() if math.isnan(kappa)]
    if undefined:
        _warn_undefined(f"the kappa of {len(undefined)} categor{'y' if len(undefined) == 1 else 'ies'} ({undefined})")
    return kappas


def misattribution_kappa(annotations: Any, *, taxonomy: Taxonomy | str | None = None) -> float:
    """The pooled misattribution kappa: Fleiss' kappa over all (item, category) binary decisions.

    The per-category tables of :func:`category_kappas` stacked into one (see the module docstring).
    """
    tax = load_taxonomy(taxonomy)
    pooled = np.vstack(list(_category_tables(_ratings(annotations, tax), tax).values()))
    kappa = _kappa(_check_counts(pooled))
    if math.isnan(kappa):
        _warn_undefined("the misattribution kappa")
    return kappa


# -- the report ------------------------------------------------------------------------------------
def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _share(flags: Sequence[bool]) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def agreement_report(annotations: Any, taxonomy: Taxonomy | str | None = None) -> dict[str, Any]:
    """Every agreement figure of a set of annotations, as a strict-JSON dict (undefined values are None).

    Keys: ``n_items``, ``n_annotators``, ``n_annotations``, ``annotators``, ``raters_per_item`` (the
    ``n`` of the kappas), ``n_items_kappa`` (items with exactly that many annotators: Fleiss' kappa
    needs the same number for every item, so items with another count are left out of the kappas, with
    a warning), ``score_kappa``, ``misattribution_kappa`` (pooled, see the module docstring),
    ``misattribution_set_kappa``, ``error_kappa``, ``category_kappa`` (id -> kappa), ``category_support``
    (id -> how many annotations chose it), and the shares of items (with at least two annotators) on
    which all annotators agree: ``score_full_agreement``, ``misattribution_full_agreement`` (same
    category set) and ``full_agreement`` (both).

    This report does not warn about undefined kappas: they come back as ``None``.
    """
    tax = load_taxonomy(taxonomy)
    ratings = _ratings(annotations, tax)
    counts = Counter(len(rated) for rated in ratings.ratings)
    multi = [rated for rated in ratings.ratings if len(rated) >= 2]
    report: dict[str, Any] = {
        "taxonomy": tax.name,
        "n_items": len(ratings.ids),
        "n_annotators": len({a for rated in ratings.ratings for a, _, _ in rated}),
        "n_annotations": sum(len(rated) for rated in ratings.ratings),
        "annotators": sorted({a for rated in ratings.ratings for a, _, _ in rated}),
    }
    eligible = {n: c for n, c in counts.items() if n >= 2}
    n = max(eligible, key=lambda k: (eligible[k], k)) if eligible else None
    used = ratings.with_raters(n) if n else _Ratings([], [])
    if n and len(used.ids) < len(ratings.ids):
        warnings.warn(
            f"Fleiss' kappa needs the same number of annotators per item: the kappas use the {len(used.ids)} "
            f"item(s) with {n} annotators and leave out {len(ratings.ids) - len(used.ids)} "
            f"(annotators per item: {dict(sorted(counts.items()))})",
            UserWarning,
            stacklevel=2,
        )
    report["raters_per_item"] = n
    report["n_items_kappa"] = len(used.ids)
    kappas: dict[str, Any] = dict.fromkeys(
        ("score_kappa", "misattribution_kappa", "misattribution_set_kappa", "error_kappa")
    )
    category_kappa: dict[str, float | None] = dict.fromkeys(tax.secondary_ids)
    if used.ids:
        tables = _category_tables(used, tax)
        kappas["score_kappa"] = _kappa(_score_table(used, tax))
        kappas["misattribution_kappa"] = _kappa(np.vstack(list(tables.values())))
        kappas["misattribution_set_kappa"] = _kappa(_set_table(used))
        kappas["error_kappa"] = _kappa(_error_table(used))
        category_kappa = {category: _json_float(_kappa(table)) for category, table in tables.items()}
    report.update({key: None if value is None else _json_float(value) for key, value in kappas.items()})
    report["category_kappa"] = category_kappa
    report["category_support"] = {
        category: sum(category in labels for rated in ratings.ratings for _, _, labels in rated)
        for category in tax.secondary_ids
    }
    same_score = [len({s for _, s, _ in rated}) == 1 for rated in multi]
    same_set = [len({labels for _, _, labels in rated}) == 1 for rated in multi]
    report["score_full_agreement"] = _share(same_score)
    report["misattribution_full_agreement"] = _share(same_set)
    report["full_agreement"] = _share([a and b for a, b in zip(same_score, same_set)])
    return report
