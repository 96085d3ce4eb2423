"""An issue at least as common among passing rows as among failing rows is not a reason answers fail.

`misattribution.discovery.contrast` sends the passing rows' critical-looking sentences to the nearest
cluster (within its radius) and drops clusters with a lift >= 1. The planted agents data (dev phrasings)
is judged with the criticality threshold lowered to -1.5, so that praise becomes "critical" and forms
clusters, as an unseen judge's praise does; the contrast must drop such clusters and keep every cluster
made of planted shortcomings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from misattribution.discovery import discover
from misattribution.discovery.contrast import Contrast, cluster_geometry, nearest_within, passing_rows
from misattribution.testing.planted import generate, leaf_kinds


def test_lift_compares_shares_of_passing_and_failing_rows():
    found = Contrast(n_failing=100, n_passing=50, failing_rows={0: 20, 1: 10, 2: 4}, passing_rows={0: 1, 1: 6, 2: 2})
    assert found.lift(0) == pytest.approx((1 / 50) / (20 / 100))  # 0.1: a reason to fail
    assert found.lift(1) == pytest.approx((6 / 50) / (10 / 100))  # 1.2: as common among passing rows
    assert found.lift(2) == pytest.approx(1.0)  # 2 passing rows only: too few to judge
    assert found.dropped() == [1]
    meta = found.as_meta([1])
    assert meta["dropped"] == [{"cluster": 1, "name": None, "failing_rows": 10, "passing_rows": 6, "lift": 1.2}]


def test_radius_and_nearest_centroid():
    vectors = np.array([[1.0, 0.0], [0.995, 0.0998], [0.0, 1.0], [0.0998, 0.995]])
    cents, radii = cluster_geometry(vectors, np.array([0, 0, 1, 1]))
    assert cents.shape == (2, 2) and np.all(radii > 0) and np.all(radii < 0.01)
    far = np.array([[0.7071, 0.7071]])
    assert nearest_within(far, cents, radii).tolist() == [-1]
    assert nearest_within(vectors, cents, radii).tolist()[0] == 0


def test_only_scored_passing_rows_with_feedback_are_sampled():
    rows = pd.DataFrame(
        {
            "failing": [True, False, False, False, False],
            "score": [1.0, 3.0, None, 3.0, 3.0],
            "feedback": ["bad", "good", "no score", "", None],
        }
    )
    assert passing_rows(rows).tolist() == [1]
    many = pd.DataFrame({"failing": [False] * 50, "score": [3.0] * 50, "feedback": ["fine"] * 50})
    sample = passing_rows(many, max_rows=10, seed=1)
    assert len(sample) == 10 and sample.tolist() == sorted(sample.tolist())
    assert sample.tolist() == passing_rows(many, max_rows=10, seed=1).tolist()


@pytest.mark.slow
@pytest.mark.bad_issue_names  # the lowered threshold makes praise and suggestion clusters on purpose
def test_praise_clusters_are_dropped_and_shortcoming_clusters_kept():
    data = generate("agents", 360, seed=0, split="dev")
    options = {"score_range": data.score_range, "seed": 0, "progress": False, "criticality_threshold": -1.5}
    with_contrast = discover(data.frame, **options)
    without = discover(data.frame, contrast=False, **options)
    dropped = with_contrast.meta["contrast"]["dropped"]
    assert dropped, "praise made critical by the lowered threshold should form a cluster common in passing rows"
    assert all(d["lift"] >= 1.0 and d["passing_rows"] >= 3 for d in dropped)
    kinds = leaf_kinds(without, data).set_index("name")
    shortcoming_leaves = set(kinds.index[kinds["shortcoming_share"] >= 0.9])
    kept = {issue.name for issue in with_contrast.issues}
    assert shortcoming_leaves <= kept, shortcoming_leaves - kept
    praise_before = int(leaf_kinds(without, data)["praise_leaf"].sum())
    praise_after = int(leaf_kinds(with_contrast, data)["praise_leaf"].sum())
    assert praise_after < praise_before
    assert with_contrast.meta["contrast"]["lift"]  # every reported issue's lift, by id
    assert set(with_contrast.meta["contrast"]["lift"]) <= {issue.id for issue in with_contrast.issues}


def test_all_failing_input_is_left_as_it_is(tmp_path):
    data = generate("agents", 60, seed=2, split="dev")
    frame = data.frame.assign(score=1)  # every row fails: nothing to contrast with
    report = discover(frame, score_range=data.score_range, seed=0, progress=False)
    assert report.meta.get("contrast") is None
