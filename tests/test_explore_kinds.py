"""A slice's statistics from the (set x row kind) table equal those from per-pair bincounts, the path kept for
continuous scores: counts exactly, every other statistic to 1e-12, the intervals drawn from the same counts
(so the same numbers), the same ranking; for the issue table, the no-issue row and the issue tree."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_explore import make_tree_report  # noqa: E402

from misattribution import explore  # noqa: E402
from misattribution.explore import Explorer, Filters  # noqa: E402

FILTERS = [
    Filters(),
    Filters(systems=("beta",)),
    Filters(score_min=1, score_max=2, text="sum"),
    Filters(nodes=("category:reasoning",), failing_only=True),
    Filters(any_issues=("issue-3",), none_issues=("issue-0",)),
    Filters(text="no row has this text"),
]


def _both(report, monkeypatch) -> tuple[Explorer, Explorer]:
    by_kind = Explorer(report)
    with monkeypatch.context() as patch:
        patch.setattr(explore, "_MAX_KINDS", 0)
        by_pair = Explorer(report)
        by_pair.issue_table(n_resamples=0), by_pair.uncovered(n_resamples=0), by_pair.tree_table(n_resamples=0)
    by_kind.issue_table(n_resamples=0)
    assert "kinds" in by_kind._pair_cache["issues"] and "kinds" not in by_pair._pair_cache["issues"]
    return by_kind, by_pair


def _same(a: pd.DataFrame, b: pd.DataFrame, key: str) -> None:
    assert a[key].tolist() == b[key].tolist()  # the same ranking
    assert a["count"].tolist() == b["count"].tolist()
    for column in a.columns:
        if column != "count" and pd.api.types.is_float_dtype(a[column]):
            np.testing.assert_allclose(a[column], b[column], rtol=1e-12, atol=1e-12, err_msg=column)


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_kind_table_equals_pair_bincounts(filters: Filters, monkeypatch) -> None:
    by_kind, by_pair = _both(make_tree_report(), monkeypatch)
    _same(by_kind.issue_table(filters, n_resamples=300), by_pair.issue_table(filters, n_resamples=300), "issue_id")
    _same(by_kind.tree_table(filters, n_resamples=300), by_pair.tree_table(filters, n_resamples=300), "id")
    kind, pair = by_kind.uncovered(filters, n_resamples=300), by_pair.uncovered(filters, n_resamples=300)
    assert kind.keys() == pair.keys() and kind["count"] == pair["count"]
    for name in kind:
        assert kind[name] == pytest.approx(pair[name], rel=1e-12, abs=1e-12, nan_ok=True), name


def test_continuous_scores_use_the_pair_bincounts() -> None:
    report = make_tree_report()
    rows = report.rows.copy()
    rows["score_norm"] = np.random.default_rng(3).random(len(rows))  # 600 distinct values: too many kinds
    continuous = Explorer(type(report)(rows, report.issues, report.assignments, meta=report.meta))
    table = continuous.issue_table(Filters(systems=("alpha",)), n_resamples=0)
    assert "kinds" not in continuous._pair_cache["issues"]
    keep = continuous.mask(Filters(systems=("alpha",)))
    first = table.iloc[0]
    members = continuous.matrix[:, continuous.issue_ids.index(first["issue_id"])] & keep
    assert first["count"] == members.sum()
    assert first["mean_score"] == pytest.approx(rows["score_norm"].to_numpy()[members].mean())
