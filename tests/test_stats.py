"""Tests for misattribution.stats: equality with scipy / scikit-learn, the bootstrap, degenerate input."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)
from sklearn.preprocessing import MultiLabelBinarizer

from misattribution import stats
from misattribution.stats import (
    DegenerateInputWarning,
    agreement_report,
    category_confusion,
    category_scores,
    correlations,
    detection_scores,
    format_report,
    score_confusion,
)

TOL = 1e-9
CATEGORIES = [f"cat{i:02d}" for i in range(15)]


def scipy_correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "pearson": scipy_stats.pearsonr(x, y).statistic,
        "spearman": scipy_stats.spearmanr(x, y).statistic,
        "kendall": scipy_stats.kendalltau(x, y).statistic,
    }


def discrete_scores(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """0-3 judge and human scores that agree often: many ties, as real judge data."""
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, n)
    noise = rng.integers(-1, 2, n) * (rng.random(n) < 0.4)
    return np.clip(ref + noise, 0, 3).astype(float), ref.astype(float)


def continuous_scores(seed: int, n: int, rho: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=n)
    return x, y


def random_label_sets(seed: int, n: int) -> tuple[list[list[str]], list[list[str]]]:
    """Multi-label rows over 15 categories, about a third empty; pred copies ref with noise."""
    rng = np.random.default_rng(seed)
    ref, pred = [], []
    for _ in range(n):
        size = rng.choice([0, 0, 1, 1, 2, 3])
        row = list(rng.choice(CATEGORIES, size=size, replace=False))
        ref.append(row)
        noisy = [c for c in row if rng.random() < 0.7]
        if rng.random() < 0.3:
            noisy.append(str(rng.choice(CATEGORIES)))
        pred.append(sorted(set(noisy)))
    return pred, ref


def sklearn_category_scores(pred, ref, labels):
    binarizer = MultiLabelBinarizer(classes=labels)
    y_ref = binarizer.fit_transform(ref)
    y_pred = binarizer.transform(pred)
    return {
        average: precision_recall_fscore_support(y_ref, y_pred, average=average, zero_division=np.nan)
        for average in ("micro", "macro", None)
    }


def assert_close(actual: float, expected: float) -> None:
    if math.isnan(expected):
        assert math.isnan(actual)
    else:
        assert actual == pytest.approx(expected, abs=TOL, rel=0)


# -------------------------------------------------------------------------------------------
# Correlations: point estimates
# -------------------------------------------------------------------------------------------

DATASETS = {
    "discrete-0-3-seed0": lambda: discrete_scores(0, 500),
    "discrete-0-3-seed1": lambda: discrete_scores(1, 37),
    "discrete-0-3-seed2": lambda: discrete_scores(2, 5000),
    "continuous-seed3": lambda: continuous_scores(3, 400),
    "continuous-negative-seed4": lambda: continuous_scores(4, 300, rho=-0.7),
    "half-points-offset": lambda: tuple(v / 2 + 1e3 for v in discrete_scores(5, 800)),
    "mixed-0-100": lambda: (
        np.random.default_rng(6).integers(0, 101, 700).astype(float),
        np.random.default_rng(7).integers(0, 101, 700).astype(float),
    ),
}


@pytest.mark.parametrize("name", DATASETS)
def test_correlations_equal_scipy(name):
    x, y = DATASETS[name]()
    result = correlations(x, y, n_resamples=0)
    for statistic, expected in scipy_correlations(x, y).items():
        assert_close(result[statistic].value, expected)
        assert result[statistic].n == len(x)
        assert math.isnan(result[statistic].ci_low) and math.isnan(result[statistic].ci_high)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("continuous", [False, True])
def test_weighted_formulas_equal_scipy_on_expanded_data(seed, continuous):
    """Each bootstrap resample, expanded back to rows, gives scipy's values, on both Kendall paths."""
    x, y = continuous_scores(seed, 60) if continuous else discrete_scores(seed, 200)
    pairs = stats._distinct_pairs(x, y)
    weights = next(stats._resample_weights(pairs, 20, seed))
    table = stats._statistics(pairs, weights, "table")
    general = stats._statistics(pairs, weights, "general")
    for r, w in enumerate(weights):
        xs = np.repeat(pairs.x_levels[pairs.ix], w)
        ys = np.repeat(pairs.y_levels[pairs.iy], w)
        expected = scipy_correlations(xs, ys)
        for i, statistic in enumerate(stats.CORRELATIONS):
            assert_close(table[i, r], expected[statistic])
            assert_close(general[i, r], expected[statistic])


def test_resample_weights_are_row_resamples():
    """Multinomial weights sum to n and average to the observed counts (bootstrap = multinomial)."""
    x, y = discrete_scores(0, 1000)
    pairs = stats._distinct_pairs(x, y)
    weights = np.concatenate(list(stats._resample_weights(pairs, 4000, 0)))
    assert weights.shape == (4000, pairs.k)
    assert (weights.sum(axis=1) == 1000).all()
    np.testing.assert_allclose(weights.mean(axis=0), pairs.counts, rtol=0.05)


@pytest.mark.parametrize("make", [lambda: discrete_scores(8, 3000), lambda: continuous_scores(9, 300)])
def test_table_and_general_paths_agree(make):
    x, y = make()
    kw = {"n_resamples": 200, "confidence": 0.9, "seed": 11}
    table = stats._correlation_engine(x, y, kendall_path="table", **kw)
    general = stats._correlation_engine(x, y, kendall_path="general", **kw)
    for statistic in stats.CORRELATIONS:
        for field in ("value", "ci_low", "ci_high"):
            assert_close(getattr(table[statistic], field), getattr(general[statistic], field))


def test_path_choice_follows_the_data():
    assert stats._choose_kendall_path(stats._distinct_pairs(*discrete_scores(0, 100_000))) == "table"
    assert stats._choose_kendall_path(stats._distinct_pairs(*continuous_scores(0, 5000))) == "general"


# -------------------------------------------------------------------------------------------
# Correlations: bootstrap
# -------------------------------------------------------------------------------------------


def test_bootstrap_is_seeded():
    x, y = discrete_scores(1, 400)
    first = correlations(x, y, n_resamples=300, seed=5)
    again = correlations(list(x), pd.Series(y), n_resamples=300, seed=5)
    other = correlations(x, y, n_resamples=300, seed=6)
    assert first == again
    for statistic in stats.CORRELATIONS:
        assert first[statistic].ci_low != other[statistic].ci_low
        assert first[statistic].value == other[statistic].value


def test_interval_contains_estimate_on_a_large_sample():
    x, y = discrete_scores(2, 20_000)
    for result in correlations(x, y).values():
        assert result.ci_low < result.value < result.ci_high
        assert result.ci_high - result.ci_low < 0.05


def test_wider_confidence_gives_wider_interval():
    x, y = discrete_scores(3, 1000)
    narrow = correlations(x, y, confidence=0.5)["spearman"]
    wide = correlations(x, y, confidence=0.99)["spearman"]
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


def test_interval_width_matches_normal_theory():
    """Loose check: 95% widths within 15% of 2 * 1.96 * the asymptotic standard error."""
    n, z = 2000, scipy_stats.norm.ppf(0.975)
    x, y = continuous_scores(10, n, rho=0.5)
    pearson = correlations(x, y)["pearson"]
    assert pearson.ci_high - pearson.ci_low == pytest.approx(2 * z * (1 - 0.25) / math.sqrt(n), rel=0.15)
    # Under independence the standard errors are known for all three statistics.
    x, y = continuous_scores(11, n, rho=0.0)
    expected_se = {
        "pearson": 1 / math.sqrt(n),
        "spearman": 1 / math.sqrt(n - 1),
        "kendall": math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1))),
    }
    for statistic, result in correlations(x, y, seed=1).items():
        width = result.ci_high - result.ci_low
        assert width == pytest.approx(2 * z * expected_se[statistic], rel=0.15), statistic


def test_degenerate_resamples_are_left_out_with_a_warning():
    with pytest.warns(DegenerateInputWarning, match="bootstrap resamples had constant scores"):
        result = correlations([0, 1, 1, 2], [0, 1, 2, 2], n_resamples=200)
    assert -1 <= result["pearson"].ci_low <= result["pearson"].ci_high <= 1


# -------------------------------------------------------------------------------------------
# Correlations: degenerate and malformed input
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "ref", "n"),
    [
        ([2, 2, 2, 2], [0, 1, 2, 3], 4),
        ([0, 1, 2, 3], [1.5, 1.5, 1.5, 1.5], 4),
        ([1], [2], 1),
        ([], [], 0),
        ([np.nan, None, 1.0], [1.0, 2.0, None], 0),
    ],
    ids=["constant-pred", "constant-ref", "one-row", "empty", "all-missing"],
)
def test_degenerate_correlations_are_nan_with_a_warning(pred, ref, n):
    with pytest.warns(DegenerateInputWarning) as record:
        result = correlations(pred, ref)
    assert any("correlations are undefined" in str(warning.message) for warning in record)
    for statistic in stats.CORRELATIONS:
        assert math.isnan(result[statistic].value)
        assert math.isnan(result[statistic].ci_low)
        assert result[statistic].n == n


def test_missing_rows_are_dropped_and_counted():
    x, y = discrete_scores(4, 300)
    pred = pd.Series(x, dtype="Float64")
    pred[[3, 10]] = pd.NA
    ref = list(y)
    ref[7] = None
    ref[10] = math.nan
    with pytest.warns(DegenerateInputWarning, match="dropped 3 of 300 rows"):
        result = correlations(pred, ref, n_resamples=0)
    keep = np.ones(300, dtype=bool)
    keep[[3, 7, 10]] = False
    for statistic, expected in scipy_correlations(x[keep], y[keep]).items():
        assert_close(result[statistic].value, expected)
        assert result[statistic].n == 297


def test_clean_input_does_not_warn():
    x, y = discrete_scores(5, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        correlations(x, y, n_resamples=100)


def test_mismatched_lengths_raise_naming_both():
    with pytest.raises(ValueError, match=r"pred has 3 rows, ref has 2"):
        correlations([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"pred_labels has 1 rows, ref_labels has 2"):
        detection_scores([[]], [[], ["a"]])


@pytest.mark.parametrize(
    ("pred", "ref", "message"),
    [
        ([1, np.inf], [1, 2], "infinite"),
        (["a", "b"], [1, 2], "must contain numbers"),
        (np.zeros((2, 2)), [1, 2], "one-dimensional"),
    ],
)
def test_malformed_scores_raise(pred, ref, message):
    with pytest.raises(ValueError, match=message):
        correlations(pred, ref)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"n_resamples": -1}, "n_resamples"), ({"confidence": 1.0}, "confidence")]
)
def test_bad_bootstrap_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        correlations([0, 1, 2], [0, 1, 1], **kwargs)


# -------------------------------------------------------------------------------------------
# Error detection
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_detection_equals_sklearn(seed):
    pred, ref = random_label_sets(seed, 400)
    y_pred = [bool(row) for row in pred]
    y_ref = [bool(row) for row in ref]
    scores = detection_scores(pred, ref)
    assert_close(scores["precision"], precision_score(y_ref, y_pred, zero_division=np.nan))
    assert_close(scores["recall"], recall_score(y_ref, y_pred, zero_division=np.nan))
    assert_close(scores["f1"], f1_score(y_ref, y_pred, zero_division=np.nan))
    assert_close(scores["accuracy"], accuracy_score(y_ref, y_pred))
    tn, fp, fn, tp = confusion_matrix(y_ref, y_pred, labels=[False, True]).ravel()
    assert (scores["tp"], scores["fp"], scores["fn"], scores["tn"]) == (tp, fp, fn, tn)
    assert scores["n"] == 400


def test_detection_accepts_none_tuples_and_arrays():
    pred = [None, ("a",), np.array(["b", "c"]), [], float("nan")]
    ref = [[], ["a"], None, np.array([], dtype=str), ("d",)]
    scores = detection_scores(pred, ref)
    assert (scores["tp"], scores["fp"], scores["fn"], scores["tn"]) == (1, 1, 1, 2)
    assert scores["precision"] == 0.5 and scores["accuracy"] == 0.6


def test_detection_zero_division_is_nan_with_a_warning():
    pred, ref = [[], [], []], [["a"], [], ["b"]]
    with pytest.warns(DegenerateInputWarning, match="precision undefined"):
        scores = detection_scores(pred, ref)
    y_pred, y_ref = [False] * 3, [True, False, True]
    assert math.isnan(scores["precision"])
    assert math.isnan(precision_score(y_ref, y_pred, zero_division=np.nan))
    assert scores["recall"] == 0.0 and scores["f1"] == 0.0
    assert_close(scores["f1"], f1_score(y_ref, y_pred, zero_division=np.nan))


def test_detection_on_no_rows_is_nan():
    with pytest.warns(DegenerateInputWarning):
        scores = detection_scores([], [])
    assert all(math.isnan(scores[key]) for key in ("precision", "recall", "f1", "accuracy"))
    assert scores["n"] == 0


def test_bare_string_row_is_rejected():
    with pytest.raises(TypeError, match="expected a list of category ids"):
        detection_scores(["hallucination"], [[]])
    with pytest.raises(TypeError, match="must be strings"):
        detection_scores([[1]], [[]])


# -------------------------------------------------------------------------------------------
# Categories
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_category_scores_equal_sklearn(seed):
    pred, ref = random_label_sets(seed, 300)
    labels = sorted(set().union(*pred, *ref))
    expected = sklearn_category_scores(pred, ref, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)
        scores = category_scores(pred, ref)
    assert scores["labels"] == labels
    for average in ("micro", "macro"):
        for i, metric in enumerate(("precision", "recall", "f1")):
            assert_close(scores[f"{average}_{metric}"], expected[average][i])
    precision, recall, f1, support = expected[None]
    for j, label in enumerate(labels):
        per = scores["per_category"][label]
        assert_close(per["precision"], precision[j])
        assert_close(per["recall"], recall[j])
        assert_close(per["f1"], f1[j])
        assert per["support"] == support[j]


def test_category_scores_with_undefined_categories_match_sklearn_nan_handling():
    """A category never predicted (or never in ref) is NaN and left out of the macro mean."""
    pred = [["a"], ["a", "c"], [], ["c"]]
    ref = [["a"], ["b"], ["b"], []]
    labels = ["a", "b", "c", "d"]
    expected = sklearn_category_scores(pred, ref, labels)
    with pytest.warns(DegenerateInputWarning, match="never-predicted"):
        scores = category_scores(pred, ref, labels=labels)
    for average in ("micro", "macro"):
        for i, metric in enumerate(("precision", "recall", "f1")):
            assert_close(scores[f"{average}_{metric}"], expected[average][i])
    assert math.isnan(scores["per_category"]["b"]["precision"])
    assert math.isnan(scores["per_category"]["d"]["f1"])
    assert scores["macro_precision"] == pytest.approx((0.5 + 0.0) / 2)


def test_category_scores_with_a_label_subset_ignore_other_categories():
    pred, ref = random_label_sets(5, 200)
    labels = CATEGORIES[:5]
    with pytest.warns(UserWarning, match="ignoring categories not in labels"):
        scores = category_scores(pred, ref, labels=labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the binarizer warns about the unknown classes too
        expected = sklearn_category_scores(pred, ref, labels)
    assert scores["labels"] == labels
    assert_close(scores["micro_f1"], expected["micro"][2])
    assert_close(scores["macro_f1"], expected["macro"][2])


def test_rows_empty_on_both_sides_are_kept_and_change_no_score():
    pred, ref = random_label_sets(6, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)
        base = category_scores(pred, ref)
        padded = category_scores(pred + [[]] * 50, ref + [None] * 50)
    assert padded["n"] == base["n"] + 50
    assert {k: v for k, v in padded.items() if k != "n"} == {k: v for k, v in base.items() if k != "n"}


def test_category_confusion_hand_worked_example():
    pred = [["a"], ["a", "c"], ["b"], [], [], ["c", "d"], ["a"]]
    ref = [["a"], ["a", "b"], [], ["c"], [], ["a", "b"], ["a", "b"]]
    # Row by row: (a,a) | (a,a) (b,c) | (none,b) | (c,none) | (none,none)
    #           | (a,c) (a,d) (b,c) (b,d) | (a,a) (b,none)
    expected = pd.DataFrame(
        [
            [3, 0, 1, 1, 0],  # ref a
            [0, 0, 2, 1, 1],  # ref b
            [0, 0, 0, 0, 1],  # ref c
            [0, 0, 0, 0, 0],  # ref d
            [0, 1, 0, 0, 1],  # ref none
        ],
        index=pd.Index(["a", "b", "c", "d", "none"], name="reference"),
        columns=pd.Index(["a", "b", "c", "d", "none"], name="predicted"),
    )
    pd.testing.assert_frame_equal(category_confusion(pred, ref), expected)


def test_category_confusion_with_labels_and_reserved_name():
    with pytest.warns(UserWarning, match="ignoring categories"):
        table = category_confusion([["b"], ["x"]], [["b"], ["b"]], labels=["b", "a"])
    assert list(table.index) == ["b", "a", "none"]
    assert table.loc["b", "b"] == 1 and table.loc["b", "none"] == 1 and table.to_numpy().sum() == 2
    with pytest.raises(ValueError, match="may not be called 'none'"):
        category_confusion([["none"]], [[]])


# -------------------------------------------------------------------------------------------
# Score confusion
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_score_confusion_equals_sklearn(seed):
    x, y = discrete_scores(seed, 500)
    table = score_confusion(x, y)
    np.testing.assert_array_equal(table.to_numpy(), confusion_matrix(y, x, labels=[0, 1, 2, 3]))
    assert list(table.index) == [0, 1, 2, 3] and list(table.columns) == [0, 1, 2, 3]


def test_score_confusion_with_levels_in_a_given_order():
    x, y = discrete_scores(3, 500)
    levels = [3, 1, 0]
    with pytest.warns(UserWarning, match="outside levels"):
        table = score_confusion(x, y, levels=levels)
    np.testing.assert_array_equal(table.to_numpy(), confusion_matrix(y, x, labels=levels))
    assert list(table.index) == levels


def test_score_confusion_keeps_fractional_levels():
    table = score_confusion([0.5, 1.0, 1.5], [0.5, 1.5, 1.5])
    assert list(table.columns) == [0.5, 1.0, 1.5]
    assert table.loc[1.5, 1.0] == 1 and table.to_numpy().sum() == 3


# -------------------------------------------------------------------------------------------
# Report
# -------------------------------------------------------------------------------------------


def test_agreement_report_combines_everything_as_strict_json():
    x, y = discrete_scores(7, 500)
    pred, ref = random_label_sets(7, 500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)
        report = agreement_report(x, y, pred, ref, n_resamples=100, seed=3)
        expected_corr = correlations(x, y, n_resamples=100, seed=3)
        expected_cat = category_scores(pred, ref)
    json.loads(json.dumps(report, allow_nan=False))
    assert report["n"] == report["n_rows"] == 500 and report["n_dropped"] == 0
    for statistic, result in expected_corr.items():
        assert report[statistic] == result.value
        assert report[f"{statistic}_ci_low"] == result.ci_low
        assert report[f"{statistic}_ci_high"] == result.ci_high
    detection = detection_scores(pred, ref)
    for key in ("precision", "recall", "f1", "accuracy", "tp", "fp", "fn", "tn"):
        assert report[f"detection_{key}"] == detection[key]
    for key in ("micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1"):
        assert report[key] == expected_cat[key]
    assert report["category.cat03.support"] == expected_cat["per_category"]["cat03"]["support"]


def test_agreement_report_turns_undefined_values_into_none():
    with pytest.warns(DegenerateInputWarning):
        report = agreement_report([1, 1, 1], [0, 1, 2], [[], [], []], [[], [], []])
    assert report["pearson"] is None and report["kendall_ci_high"] is None
    assert report["detection_precision"] is None and report["detection_accuracy"] == 1.0
    assert report["micro_f1"] is None
    json.dumps(report, allow_nan=False)


def test_agreement_report_checks_its_inputs():
    with pytest.raises(ValueError, match="both pred_labels and ref_labels"):
        agreement_report([0, 1], [0, 1], pred_labels=[[], []])
    with pytest.raises(ValueError, match="pred_labels has 1 rows, pred_scores has 2"):
        agreement_report([0, 1], [0, 1], [[]], [[]])


def test_format_report_shows_the_numbers():
    pred = [["a.b"], [], ["c"], ["a.b"], []]
    ref = [["a.b"], ["c"], ["c"], [], []]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)
        report = agreement_report([0, 1, 2, 3, 3], [0, 1, 1, 3, 2], pred, ref, n_resamples=50)
    text = format_report(report)
    assert "Agreement on 5 paired rows (0 dropped)" in text
    assert "95% low" in text
    for key in ("pearson", "kendall_ci_low", "detection_f1", "micro_f1", "category.a.b.recall"):
        assert f"{report[key]:.4f}" in text, key
    category_line = next(line for line in text.splitlines() if line.startswith("a.b "))
    assert category_line.split() == ["a.b", "0.5000", "1.0000", "0.6667", "1"]
    # Columns line up: every row of the correlation table is as wide as its header.
    lines = text.splitlines()
    assert len({len(line) for line in lines[2:6]}) == 1


def test_format_report_shows_missing_values_as_na():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)
        text = format_report(agreement_report([1, 1], [0, 1], n_resamples=0))
    assert "pearson" in text and "n/a" in text


def test_missing_labels_drop_leaves_unknown_rows_out_of_the_label_part():
    pred = [["a"], None, [], ["b"]]
    ref = [["a"], ["a"], [], ["b"]]
    scores = [1, 2, 3, 1]
    as_no_error = agreement_report(scores, scores, pred, ref, n_resamples=0)
    dropped = agreement_report(scores, scores, pred, ref, n_resamples=0, missing_labels="drop")
    # Read as "no error", the unparsed row is a missed detection; dropped, it is not counted at all.
    assert as_no_error["n_labelled"] == 4 and as_no_error["detection_fn"] == 1
    assert as_no_error["detection_recall"] == pytest.approx(2 / 3)
    assert dropped["n_labelled"] == 3 and dropped["detection_fn"] == 0 and dropped["detection_recall"] == 1.0
    assert dropped["micro_f1"] == 1.0 and dropped["n"] == 4  # the scores are untouched
    with pytest.raises(ValueError, match="missing_labels"):
        agreement_report(scores, scores, pred, ref, missing_labels="zero")


def test_metric_agreement_does_not_read_an_unparsed_output_as_no_error():
    from misattribution.evaluation import agreement

    good = "Feedback: The sum is wrong.\nMisattribution: result_error\nScore: 1"
    report = agreement(
        [good, "<garbage, no fields at all>", good], [1, 1, 1], human_misattribution=[["result_error"]] * 3
    )
    assert report["parse_failures"] == 1
    assert report["n_labelled"] == 2 and report["detection_recall"] == 1.0 and report["micro_f1"] == 1.0


# -- two proportions: Newcombe interval, Fisher's exact test, Holm ------------------------------------------
def _fisher_by_hand(a: int, n_a: int, b: int, n_b: int) -> float:
    """Two-sided Fisher p from the hypergeometric probabilities, with exact integers (no scipy)."""
    total, column = n_a + n_b, a + b
    low, high = max(0, column - n_b), min(column, n_a)
    weights = {x: math.comb(column, x) * math.comb(total - column, n_a - x) for x in range(low, high + 1)}
    observed = weights[a]
    # Tables as likely as the observed one count too (relative tolerance as in scipy).
    return sum(w for w in weights.values() if w <= observed * (1 + 1e-7)) / math.comb(total, n_a)


def test_fisher_exact_p_equals_scipy_on_small_and_large_tables():
    rng = np.random.default_rng(0)
    sizes = [(1, 1), (3, 5), (20, 87), (87, 20), (50, 50), (300, 276), (1000, 1300)]
    checked = 0
    for n_a, n_b in sizes:
        for _ in range(40):
            a, b = int(rng.integers(0, n_a + 1)), int(rng.integers(0, n_b + 1))
            if rng.random() < 0.5:  # rare issues: counts near 0 are the case that matters
                a, b = min(a, int(rng.integers(0, 4))), min(b, int(rng.integers(0, 4)))
            expected = scipy_stats.fisher_exact([[a, n_a - a], [b, n_b - b]]).pvalue
            assert abs(float(stats.fisher_exact_p(a, n_a, b, n_b)) - expected) <= TOL, (a, n_a, b, n_b)
            checked += 1
    assert checked == 280
    # Vectorised calls give the same numbers as one at a time.
    counts_a, counts_b = np.array([0, 7, 30, 87]), np.array([0, 0, 2, 20])
    vector = stats.fisher_exact_p(counts_a, 87, counts_b, 20)
    single = [scipy_stats.fisher_exact([[a, 87 - a], [b, 20 - b]]).pvalue for a, b in zip(counts_a, counts_b)]
    np.testing.assert_allclose(vector, single, rtol=0, atol=TOL)


@pytest.mark.parametrize("table", [(7, 87, 0, 20), (3, 4, 1, 4), (0, 10, 5, 10), (2, 300, 9, 276), (1, 1, 0, 1)])
def test_fisher_exact_p_equals_the_hypergeometric_sum(table):
    assert float(stats.fisher_exact_p(*table)) == pytest.approx(_fisher_by_hand(*table), abs=TOL)


def test_fisher_exact_p_of_the_issue_13_example_is_not_significant():
    # Analyst 7 of 87 vs writer 0 of 20: the old bootstrap flag called it significant.
    assert float(stats.fisher_exact_p(7, 87, 0, 20)) == pytest.approx(0.34345, abs=1e-5)
    assert not stats.compare_proportions(7, 87, 0, 20)["significant"].item()


def test_fisher_exact_p_is_nan_for_an_empty_group():
    assert np.isnan(stats.fisher_exact_p(0, 0, 3, 10)).all()
    with pytest.raises(ValueError, match="whole numbers"):
        stats.fisher_exact_p(5, 4, 0, 10)


# Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize("counts, expected", NEWCOMBE_TABLE_II)
def test_newcombe_interval_reproduces_the_published_examples(counts, expected):
    low, high = stats.newcombe_interval(*counts)
    assert (round(float(low), 4), round(float(high), 4)) == expected


def test_newcombe_interval_equals_statsmodels():
    from statsmodels.stats.proportion import confint_proportions_2indep

    rng = np.random.default_rng(1)
    for _ in range(200):
        n_a, n_b = int(rng.integers(1, 400)), int(rng.integers(1, 400))
        a, b = int(rng.integers(0, n_a + 1)), int(rng.integers(0, n_b + 1))
        for confidence in (0.9, 0.95):
            low, high = stats.newcombe_interval(a, n_a, b, n_b, confidence)
            expected = confint_proportions_2indep(
                a, n_a, b, n_b, method="newcomb", compare="diff", alpha=1 - confidence
            )
            np.testing.assert_allclose([float(low), float(high)], expected, atol=1e-9)


def test_wilson_interval_equals_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    counts, n = np.array([0, 1, 7, 50, 99, 100]), 100
    low, high = stats.wilson_interval(counts, n)
    expected_low, expected_high = proportion_confint(counts, n, alpha=0.05, method="wilson")
    np.testing.assert_allclose(low, expected_low, atol=1e-12)
    np.testing.assert_allclose(high, expected_high, atol=1e-12)
    assert np.isnan(stats.wilson_interval(0, 0)[0]).all()


def test_holm_adjust_equals_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(2)
    for m in (1, 2, 5, 17, 55):
        p = rng.random(m) ** 3
        np.testing.assert_allclose(stats.holm_adjust(p), multipletests(p, method="holm")[1], atol=1e-12)
    with_nan = stats.holm_adjust([0.01, np.nan, 0.02])
    assert np.isnan(with_nan[1]) and with_nan[[0, 2]].tolist() == pytest.approx([0.02, 0.02])
    assert stats.holm_adjust([]).shape == (0,)


def test_compare_proportions_columns_and_empty_groups():
    table = stats.compare_proportions([3, 0], [10, 0], [1, 4], 20)
    assert list(table.columns) == [
        "count_a", "rows_a", "share_a", "count_b", "rows_b", "share_b",
        "difference", "ci_low", "ci_high", "p_value", "p_adjusted", "significant",
    ]  # fmt: skip
    assert table.loc[0, "difference"] == pytest.approx(0.3 - 0.05)
    assert np.isnan(table.loc[1, "share_a"]) and not table.loc[1, "significant"]
    assert table["p_adjusted"].iloc[0] == table["p_value"].iloc[0]  # only one test in the family
    assert stats.compare_proportions([], 10, [], 10).empty
    for bad in ({"alpha": 0}, {"alpha": 1.5}, {"confidence": 1}):
        with pytest.raises(ValueError):
            stats.compare_proportions(1, 10, 2, 10, **bad)


# Base rate and group sizes of the simulated pairs: rare and common issues, tiny and large groups.
NULL_SETTINGS = [
    (0.01, 20, 87), (0.05, 20, 87), (0.08, 87, 20), (0.02, 50, 50), (0.1, 30, 30),
    (0.3, 10, 15), (0.5, 8, 8), (0.05, 300, 276), (0.15, 200, 150), (0.01, 1000, 1000),
]  # fmt: skip


def _null_pairs(n_pairs: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    settings = [NULL_SETTINGS[k % len(NULL_SETTINGS)] for k in range(n_pairs)]
    rate, n_a, n_b = (np.array(v, dtype=float) for v in zip(*settings))
    return rng.binomial(n_a.astype(int), rate), n_a, rng.binomial(n_b.astype(int), rate), n_b


def test_false_positive_rate_of_one_comparison_is_at_most_alpha():
    """1,000 simulated pairs with no true difference: the exact test flags at most 5% of them."""
    a, n_a, b, n_b = _null_pairs(1000, seed=13)
    flagged = np.array(
        [stats.compare_proportions(*line)["significant"].item() for line in zip(a, n_a, b, n_b)], dtype=bool
    )
    assert flagged.mean() <= 0.05, flagged.mean()


@pytest.mark.parametrize("rate, n_a, n_b", [s for s in NULL_SETTINGS if s[1] * s[2] <= 2000])
def test_exact_size_at_small_counts_is_at_most_alpha(rate, n_a, n_b):
    """Small counts are where an approximate test goes wrong: summed over every possible outcome (not
    simulated), the chance of a false flag under no difference is at most alpha."""
    a, b = np.meshgrid(np.arange(n_a + 1), np.arange(n_b + 1), indexing="ij")
    probability = scipy_stats.binom.pmf(a, n_a, rate) * scipy_stats.binom.pmf(b, n_b, rate)
    significant = stats.compare_proportions(a.ravel(), n_a, b.ravel(), n_b)["p_value"].to_numpy() < 0.05
    assert probability.ravel()[significant].sum() <= 0.05


def test_family_wise_false_positive_rate_is_at_most_alpha():
    """400 simulated pairs of reports with 10 issues each and no true difference: the share of report
    pairs with any issue flagged stays at most 5% (Holm controls the family-wise error)."""
    rng = np.random.default_rng(14)
    any_flagged = []
    for k in range(400):
        rates = np.array([s[0] for s in NULL_SETTINGS])
        n_a, n_b = [(20, 87), (50, 50), (300, 276), (30, 10)][k % 4]
        table = stats.compare_proportions(rng.binomial(n_a, rates), n_a, rng.binomial(n_b, rates), n_b)
        any_flagged.append(bool(table["significant"].any()))
    assert np.mean(any_flagged) <= 0.05, np.mean(any_flagged)


def test_compare_proportions_finds_real_differences():
    table = stats.compare_proportions([80, 20], 200, [20, 22], 200)
    assert table["significant"].tolist() == [True, False]
    assert table.loc[0, "ci_low"] > 0.2 and table.loc[1, "ci_low"] < 0 < table.loc[1, "ci_high"]
