"""Tests for misattribution.data.agreement: Fleiss' kappa against statsmodels, annotations, the report."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_kappa

from misattribution.data.agreement import (
    agreement_report,
    category_kappas,
    fleiss_kappa,
    misattribution_kappa,
    score_kappa,
)
from misattribution.stats import DegenerateInputWarning
from misattribution.taxonomy import load_taxonomy

TOL = 1e-12
TAX = load_taxonomy()

# Fleiss (1971), as in Wikipedia's "Fleiss' kappa": 10 subjects, 5 categories, 14 raters; kappa = 0.210.
FLEISS_1971 = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def random_table(seed: int) -> np.ndarray:
    """Items x categories counts with a common number of raters and a skewed category distribution."""
    rng = np.random.default_rng(seed)
    items, categories, raters = int(rng.integers(1, 300)), int(rng.integers(2, 8)), int(rng.integers(2, 12))
    preference = rng.dirichlet(np.ones(categories))
    return np.array([rng.multinomial(raters, rng.dirichlet(preference * 5 + 0.1)) for _ in range(items)])


FIXTURES = {
    "fleiss_1971": FLEISS_1971,
    "two_raters_binary": np.array([[2, 0], [0, 2], [1, 1], [2, 0], [1, 1], [0, 2]]),
    "below_chance": np.array([[1, 1], [1, 1], [1, 1], [2, 0], [0, 2]]),
    "perfect": np.array([[3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 0]]),
    **{f"random_{seed}": random_table(seed) for seed in range(8)},
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fleiss_kappa_equals_statsmodels(name: str) -> None:
    table = FIXTURES[name]
    assert abs(fleiss_kappa(table) - statsmodels_kappa(table, method="fleiss")) < TOL


def test_fleiss_1971_worked_example() -> None:
    assert round(fleiss_kappa(FLEISS_1971), 3) == 0.210
    assert fleiss_kappa(FLEISS_1971.tolist()) == fleiss_kappa(FLEISS_1971.astype(float))


def test_undefined_kappa_is_nan_with_a_warning() -> None:
    with pytest.warns(DegenerateInputWarning, match="same single category"):
        assert math.isnan(fleiss_kappa([[0, 3], [0, 3]]))


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([[2, 1], [1, 1]], "same number of raters: item 0 has 3 ratings, item 1 has 2"),
        ([[1, 0], [0, 1]], "at least 2 raters"),
        ([[2, -1], [1, 0]], "non-negative integers"),
        ([[1.5, 0.5], [1, 1]], "non-negative integers"),
        ([3, 0], "2-D"),
        (np.zeros((0, 3)), "at least one item"),
    ],
)
def test_fleiss_kappa_rejects_bad_tables(counts, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fleiss_kappa(counts)


# -- annotations -----------------------------------------------------------------------------------
def random_annotations(seed: int, items: int = 120, raters: int = 3) -> pd.DataFrame:
    """Long-format annotations that follow the paper's rule, with a noisy shared truth."""
    rng = np.random.default_rng(seed)
    categories = TAX.secondary_ids
    rows = []
    for item in range(items):
        truth = int(rng.integers(0, 4))
        true_labels = set(rng.choice(categories, size=int(rng.integers(1, 3)), replace=False)) if truth < 3 else set()
        for rater in range(raters):
            score = truth if rng.random() < 0.8 else int(rng.integers(0, 4))
            if score == 3:
                labels = []
            else:
                labels = {c for c in true_labels if rng.random() < 0.85} or {str(rng.choice(categories))}
                if rng.random() < 0.15:
                    labels.add(str(rng.choice(categories)))
                labels = sorted(labels)
            rows.append({"id": f"q{item}", "annotator": f"r{rater}", "score": score, "misattribution": labels})
    return pd.DataFrame(rows)


def statsmodels_from_long(frame: pd.DataFrame, column: str) -> float:
    wide = frame.pivot(index="id", columns="annotator", values=column)
    table, _ = aggregate_raters(wide.to_numpy())
    return statsmodels_kappa(table)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_kappa_equals_statsmodels_on_raw_ratings(seed: int) -> None:
    annotations = random_annotations(seed)
    assert abs(score_kappa(annotations) - statsmodels_from_long(annotations, "score")) < TOL


@pytest.mark.parametrize("seed", [0, 1])
def test_category_and_pooled_kappas_equal_statsmodels(seed: int) -> None:
    annotations = random_annotations(seed, raters=4)
    kappas = category_kappas(annotations)
    stacked = []
    for category in TAX.secondary_ids:
        chosen = annotations.assign(chosen=[int(category in labels) for labels in annotations["misattribution"]])
        table, _ = aggregate_raters(chosen.pivot(index="id", columns="annotator", values="chosen").to_numpy(), n_cat=2)
        stacked.append(table)
        assert abs(kappas[category] - statsmodels_kappa(table)) < TOL
    assert abs(misattribution_kappa(annotations) - statsmodels_kappa(np.vstack(stacked))) < TOL


def test_annotations_accept_names_and_reject_double_ratings() -> None:
    rows = [
        {"id": "a", "annotator": "x", "score": 1, "misattribution": ["结果错误"]},
        {"id": "a", "annotator": "y", "score": 1, "misattribution": "Result Error"},
        {"id": "b", "annotator": "x", "score": 3, "misattribution": []},
        {"id": "b", "annotator": "y", "score": 3, "misattribution": "None"},
    ]
    assert score_kappa(rows) == 1.0
    assert misattribution_kappa(rows) == 1.0
    with pytest.raises(ValueError, match="annotator 'x' rated the item 'a' twice"):
        score_kappa([*rows, rows[0]])


def test_category_kappas_warn_once_for_unused_categories() -> None:
    annotations = random_annotations(0, items=20)
    annotations["misattribution"] = [["typos"] if s < 3 else [] for s in annotations["score"]]
    with pytest.warns(DegenerateInputWarning) as caught:
        kappas = category_kappas(annotations)
    assert len(caught) == 1 and "14 categories" in str(caught[0].message)
    assert not math.isnan(kappas["typos"]) and math.isnan(kappas["noisy"])


def test_report_on_a_hand_worked_example() -> None:
    rows = []
    votes = {  # item -> (score, labels) per annotator
        "q1": [(3, []), (3, []), (3, [])],
        "q2": [(1, ["result_error"]), (1, ["result_error"]), (2, ["typos"])],
        "q3": [(0, ["irrelevance"]), (0, ["irrelevance"]), (0, ["irrelevance", "noisy"])],
    }
    for item, ratings in votes.items():
        rows += [{"id": item, "annotator": a, "score": s, "misattribution": m} for a, (s, m) in zip("abc", ratings)]
    report = agreement_report(pd.DataFrame(rows), TAX)
    json.dumps(report, allow_nan=False)  # strict JSON
    assert report["n_items"] == 3 and report["n_annotators"] == 3 and report["raters_per_item"] == 3
    assert report["score_full_agreement"] == pytest.approx(2 / 3)
    assert report["misattribution_full_agreement"] == pytest.approx(1 / 3)
    assert report["full_agreement"] == pytest.approx(1 / 3)
    assert report["score_kappa"] == pytest.approx(score_kappa(rows), abs=TOL)
    assert report["misattribution_kappa"] == pytest.approx(misattribution_kappa(rows), abs=TOL)
    assert report["category_kappa"]["typos"] is not None
    assert report["category_kappa"]["hallucination"] is None  # never chosen: undefined, None in JSON
    assert report["category_support"]["irrelevance"] == 3


def test_report_uses_the_common_annotator_count_and_says_so() -> None:
    annotations = random_annotations(3, items=30)
    uneven = annotations[~((annotations["id"] == "q0") & (annotations["annotator"] == "r2"))]
    with pytest.warns(UserWarning, match="leave out 1"):
        report = agreement_report(uneven, TAX)
    assert report["n_items"] == 30 and report["n_items_kappa"] == 29
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = score_kappa(uneven[uneven["id"] != "q0"])
    assert report["score_kappa"] == pytest.approx(expected, abs=TOL)
