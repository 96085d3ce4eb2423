"""Tests for misattribution.data.validate: every problem found in one pass, named by source, row and field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from misattribution.data.validate import (
    DataValidationError,
    Problem,
    ValidationReport,
    check_rule,
    parse_labels,
    parse_score,
    validate_rows,
)
from misattribution.io.tables import InputError
from misattribution.taxonomy import load_taxonomy

TAX = load_taxonomy()


def good_row(i: int = 0, **changes) -> dict:
    row = {
        "id": f"r{i}",
        "question": "What is 2 + 2?",
        "answer": "5",
        "reference": "4",
        "instruction": None,
        "language": "en",
        "source": "math",
        "score": 1,
        "misattribution": ["result_error"],
        "feedback": "The sum is wrong.",
    }
    return {**row, **changes}


def test_clean_rows_pass() -> None:
    rows = [
        good_row(0),
        good_row(1, score=3, misattribution=[]),
        good_row(2, language="zh", misattribution=["结果错误"]),
    ]
    report = validate_rows(rows)
    assert report.ok and not report.warnings
    report.raise_for_errors()  # no exception
    assert report.format() == "<rows>: no problems"


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"score": 4}, "score", "4 is off the scale 0-3"),
        ({"score": -1}, "score", "off the scale"),
        ({"score": 1.5}, "score", "not an integer"),
        ({"score": "high"}, "score", "not an integer"),
        ({"score": True}, "score", "not an integer"),
        ({"score": None}, "score", "missing"),
        ({"misattribution": ["Wrongness"]}, "misattribution", "unknown category 'Wrongness'"),
        ({"misattribution": ["reasoning_capability"]}, "misattribution", "is a primary category"),
        ({"misattribution": None}, "misattribution", "missing"),
        ({"score": 3}, "misattribution", "the top score 3 must come with no misattribution"),
        ({"misattribution": []}, "misattribution", "score 1 is below 3 and needs a misattribution"),
        ({"question": ""}, "question", "empty"),
        ({"question": "   "}, "question", "empty"),
        ({"answer": ""}, "answer", "empty"),
        ({"answer": None}, "answer", "missing"),
        ({"feedback": None}, "feedback", "missing"),
        ({"question": 42}, "question", "expected text, got int"),
        ({"language": "english"}, "language", "'english' is not an ISO 639-1 code"),
        ({"language": "zh-CN"}, "language", "(use 'zh')"),
        ({"language": None}, "language", "missing"),
        ({"primary": ["knowledge_ability"]}, "primary", "is not the primaries of the misattribution"),
        ({"score_agreement": 1.5}, "score_agreement", "expected a share in [0, 1]"),
        ({"num_annotators": -2}, "num_annotators", "expected a count"),
        ({"adjudicated": "yes"}, "adjudicated", "expected true or false"),
    ],
)
def test_each_problem_names_source_row_and_field(changes: dict, field: str, fragment: str) -> None:
    rows = [good_row(0), good_row(1, **changes)]
    report = validate_rows(rows, source="rows.jsonl")
    assert len(report.errors) == 1, report.format()
    problem = report.errors[0]
    assert (problem.source, problem.row, problem.id, problem.field) == ("rows.jsonl", 1, "r1", field)
    assert fragment in problem.message
    assert str(problem).startswith(f"rows.jsonl: row 1 (id 'r1'), field '{field}': ")


def test_every_problem_in_one_pass_and_one_error() -> None:
    rows = [
        good_row(0),
        good_row(0, question=""),  # duplicate id + empty question
        good_row(2, score=9, misattribution=["nope"], language="xx"),
        {k: v for k, v in good_row(3).items() if k != "feedback"},
    ]
    report = validate_rows(rows, source="broken.jsonl")
    found = {(p.row, p.field) for p in report.errors}
    assert found == {(1, "id"), (1, "question"), (2, "score"), (2, "misattribution"), (2, "language"), (3, "feedback")}
    with pytest.raises(DataValidationError) as caught:
        report.raise_for_errors()
    assert isinstance(caught.value, (ValueError, InputError))
    assert caught.value.problems == report.errors
    for problem in report.errors:
        assert str(problem) in str(caught.value)
    assert "duplicate id (first at row 0)" in str(caught.value)


def test_missing_column_is_reported_once() -> None:
    frame = pd.DataFrame([good_row(i) for i in range(5)]).drop(columns=["feedback"])
    report = validate_rows(frame)
    assert [(p.row, p.field) for p in report.errors] == [(None, "feedback")]
    assert "no such column" in report.errors[0].message


def test_rule_as_warning() -> None:
    rows = [good_row(0, score=3), good_row(1, extra="x")]
    report = validate_rows(rows, rule="warning")
    assert report.ok
    assert [(p.row, p.field) for p in report.warnings] == [(None, None), (0, "misattribution")]
    assert "unknown column(s) ['extra']" in report.warnings[0].message
    with pytest.raises(ValueError, match="rule must be one of"):
        validate_rows(rows, rule="ignore")


def test_dataframe_with_numpy_cells_and_class_label_indices() -> None:
    frame = pd.DataFrame([good_row(0), good_row(1)])
    frame["misattribution"] = [np.array(["result_error"]), np.array([TAX.secondary_ids.index("result_error")])]
    frame["primary"] = [np.array(["reasoning_capability"]), np.array([TAX.primary_ids.index("reasoning_capability")])]
    frame["score"] = np.array([1, 1], dtype="int8")
    assert validate_rows(frame).ok


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ([], []),
        ("", []),
        ("None", []),
        ("无", []),
        ("[]", []),
        (np.array([], dtype=object), []),
        ('["typos", "Result Error"]', ["typos", "result_error"]),
        ("Result Error; Typos", ["typos", "result_error"]),
        ("结果错误；错别字", ["typos", "result_error"]),
        (("noisy", "Duplicate"), ["noisy"]),  # an alias of the same category
        ([0, 1], ["typos", "noisy"]),  # ClassLabel indices
    ],
)
def test_parse_labels(cell, expected) -> None:
    assert parse_labels(cell, TAX) == (expected, None)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(3, 3), (np.int8(2), 2), (2.0, 2), ("1", 1), (" 0 ", 0), ("3.0", 3)],
)
def test_parse_score(cell, expected) -> None:
    assert parse_score(cell, TAX) == (expected, None)


def test_check_rule_and_problem_formatting() -> None:
    assert check_rule(3, [], TAX) is None and check_rule(0, ["typos"], TAX) is None
    assert str(Problem("f.csv", None, "x", "score", "bad")) == "f.csv: id 'x', field 'score': bad"
    assert str(Problem("f.csv", None, None, None, "unreadable")) == "f.csv: unreadable"
    report = ValidationReport(source="s")
    report.add(Problem("s", 0, None, "id", "missing"))
    report.add(Problem("s", 1, None, "id", "missing"))
    assert report.format(max_listed=1).splitlines()[-1] == "  ... and 1 more"


def test_validate_rows_accepts_a_built_dataset() -> None:
    from misattribution.data.sample import load_sample

    try:
        sample = load_sample()
    except FileNotFoundError as err:  # pragma: no cover - only before the sample rows exist
        pytest.skip(f"no sample exports yet: {err}")
    assert validate_rows(sample["train"], source="sample/train").ok
