"""Rows whose judgment failed form their own issue: never counted as passing, never lost from the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from misattribution.cli import main
from misattribution.discovery import IssueReport, discover
from misattribution.discovery.pipeline import JUDGE_FAILED, judge_failures
from misattribution.testing.planted import generate


@pytest.fixture(scope="module")
def judged() -> pd.DataFrame:
    """120 planted rows as a judge run exported them: 6 failed to judge (no score), 2 parsed partly."""
    frame = generate("agents", 120, seed=3).frame.copy()
    frame["status"] = "ok"
    frame["error"] = None
    frame["problems"] = [[] for _ in range(len(frame))]
    errored = frame.index[[3, 10, 17, 40, 41, 90]]
    frame.loc[errored, ["score", "feedback"]] = None
    frame.loc[errored, "status"] = "error"
    frame.loc[errored, "error"] = "HTTP 503 from http://127.0.0.1:9/v1 after 3 attempts"
    partial = frame.index[[5, 60]]
    frame.loc[partial, "status"] = "partial"
    frame["problems"] = frame["problems"].astype(object)
    for k in partial:
        frame.at[k, "problems"] = ["no misattribution list found"]
    frame["score"] = frame["score"].astype(float)
    return frame


def test_judge_failures_are_one_issue_with_their_errors(judged):
    report = discover(judged, score_range=(1, 5), fast=True, progress=False, seed=0)
    failed = next(i for i in report.issues if i.id == JUDGE_FAILED)
    assert failed.count == 8 and failed.provenance == "judge" and failed.parent is None
    assert report.meta["n_judge_failed"] == 8
    rows = report.assignments[report.assignments["issue_id"] == JUDGE_FAILED]
    assert set(rows["row_id"]) == {str(judged["id"].iat[k]) for k in (3, 10, 17, 40, 41, 90, 5, 60)}
    evidence = dict(zip(rows["row_id"], rows["evidence"]))
    assert evidence[str(judged["id"].iat[3])] == "error: HTTP 503 from http://127.0.0.1:9/v1 after 3 attempts"
    assert evidence[str(judged["id"].iat[5])] == "partial: no misattribution list found"
    # Never inside the taxonomy: its own top-level node of the tree, and the other issues keep theirs.
    order = report.tree_order()
    assert (JUDGE_FAILED, failed.name, None, "issue", 0) in order
    assert any(i.parent for i in report.issues if i.id != JUDGE_FAILED)
    # The failed rows are in the rows, with no score, and count in every node statistic.
    assert report.rows.set_index("row_id").loc[rows["row_id"], "score"].isna().sum() == 6


def test_the_issue_round_trips_and_keeps_its_id_across_runs(judged, tmp_path):
    report = discover(judged, score_range=(1, 5), fast=True, progress=False, seed=0)
    report.save(tmp_path / "bundle")
    loaded = IssueReport.load(tmp_path / "bundle")
    assert next(i for i in loaded.issues if i.id == JUDGE_FAILED).count == 8
    again = discover(judged.iloc[:60], score_range=(1, 5), fast=True, progress=False, seed=1, previous=loaded)
    assert next(i for i in again.issues if i.id == JUDGE_FAILED).count == 6  # rows 3, 5, 10, 17, 40, 41


def test_no_status_column_means_no_judge_issue():
    rows = pd.DataFrame({"row_id": ["a"], "score": [np.nan]})
    assert judge_failures(rows)[0] == []
    clean = pd.DataFrame({"row_id": ["a", "b"], "score": [1.0, 2.0], "status": ["ok", "ok"]})
    assert judge_failures(clean)[0] == []


def test_the_cli_prints_the_count_and_the_node(judged, tmp_path, capsys):
    path = tmp_path / "judged.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for record in judged.to_dict("records"):
            record = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}
            out.write(json.dumps(record) + "\n")
    assert main(["discover", str(path), "-o", str(tmp_path / "b"), "--quiet", "--fast", "--score-range", "1", "5"]) == 0
    out = capsys.readouterr().out
    assert "8 without a usable judgment" in out
    assert "Judge failed to return a usable judgment" in out
