"""The fast CLEAR upload path gives what the row-by-row one gave: same rows, same cell types, same problems.

The CLEAR importer builds columns instead of a dict per row, ``validate_rows`` reads one list per column and
checks each distinct cell once, and the zip guard inflates a CSV member once. ``upload_speed_golden.json``
holds what the row-by-row code (commit a84bf60) returned for the fixtures below -- a CLEAR bundle with good
and bad rows (as CSV and as Parquet), the same bundle uploaded to the Space, and AttriData rows with a bad
cell of every kind -- each cell as ``type:repr``, each problem as its message. Regenerate it only for an
intended change of output: ``python tests/test_upload_speed.py --write`` (and say why in the commit).

The speed itself is a figure, not a test: ``benchmarks/bench_space.py`` (the upload in Chromium).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from misattribution.data.importers import ImportResult, import_clear
from misattribution.data.validate import ValidationReport, validate_rows
from misattribution.io.archives import ZipLimits, _CsvRows, open_zip
from misattribution.uploads import LoadResult, load_upload

GOLDEN = Path(__file__).parent / "fixtures" / "upload_speed_golden.json"
METADATA = {
    "qid_column": "question_id",
    "question_column": "question",
    "evaluation_criteria": {"Correctness": "The final number is right."},
}
ISSUE_MAP = {"Calculation errors": "result_error", "lack of  CLARITY": ["irrelevance", "noisy"], "Fine": None}


# -- fixtures ---------------------------------------------------------------------------------------------
def clear_rows(*, usable_scores: bool) -> pd.DataFrame:
    """CLEAR results with good rows and one bad cell of each kind the importer and the validator report."""
    rows = []
    for i in range(24):  # good rows, scores and issue lists repeating as CLEAR's do
        top = i % 3 == 0
        rows.append(
            {
                "question_id": f"q{i}",
                "question": f"What is {i} + {i}?" if i % 5 else f"{i} 加 {i} 等于多少？",
                "model_input": f"Solve: what is {i} + {i}?",
                "response": str(2 * i + (0 if top else 1)),
                "ground_truth": f"#### {2 * i}",
                "score": "1.0" if top else ("0.4" if i % 3 == 1 else "0.9"),
                "evaluation_text": "Correct." if top else f"The sum is off by one ({2 * i + 1} vs {2 * i}).",
                "evaluation_summary": "Right." if top else "Off by one.",
                "recurring_issues_str": "[]" if top else "['Calculation errors', 'Lack of clarity']",
            }
        )
    bad = [
        {"evaluation_text": "", "evaluation_summary": "Only a summary."},  # feedback from the summary
        {"evaluation_text": " ", "evaluation_summary": ""},  # no feedback at all
        {"ground_truth": ""},  # no reference
        {"score": ""},  # missing score
        {"score": "-0.0"},
        {"score": "0.5", "recurring_issues_str": ""},  # missing issue list
        {"score": "0.2", "recurring_issues_str": "__import__('os').system('true')"},
        {"score": "0.2", "recurring_issues_str": "['Calculation errors', 3]"},
        {"score": "0.2", "recurring_issues_str": "not a list"},
        {"score": "0.7", "recurring_issues_str": "('Fine', 'Unseen issue', 'Unseen issue')"},
        {"question_id": ""},  # no id
        {"question_id": "7.0"},
        {"question": ""},  # no question
        {"response": ""},  # empty answer
        {"score": "1", "recurring_issues_str": "['Calculation errors']"},  # top score with an issue
    ]
    if not usable_scores:  # the Space refuses these (as discover does); the importer reports them
        bad += [{"score": "3 points"}, {"score": "inf"}, {"score": "1.5"}, {"score": "nan"}, {"question_id": "q3"}]
        # Issue texts differing only in case: the Space's CLEAR mode fails on them (InvalidIndexError in
        # compute_statistics, seen at a84bf60), the importer maps them through issue_map ignoring case.
        bad += [{"score": "0.6", "recurring_issues_str": "['Fine', 'fine ', 'LACK OF CLARITY']"}]
    for k, change in enumerate(bad):
        row = dict(rows[k % 24], question_id=f"b{k}")
        rows.append({**row, **change})
    return pd.DataFrame(rows)


def clear_zip(path: Path, frame: pd.DataFrame, *, parquet: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if parquet:
            buffer = io.BytesIO()
            frame.to_parquet(buffer)
            archive.writestr("results.parquet", buffer.getvalue())
        else:
            archive.writestr("results.csv", frame.to_csv(index=False))
        archive.writestr("metadata.json", json.dumps(METADATA))
    return path


def typed_clear_rows() -> pd.DataFrame:
    """The same rows as Parquet stores them: numeric ids and scores (with gaps), issue lists as arrays."""
    frame = clear_rows(usable_scores=True)
    frame["question_id"] = [float(i) if i % 7 else np.nan for i in range(len(frame))]
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    frame["recurring_issues_str"] = [
        None if i % 11 == 4 else (["Calculation errors", "Fine"] if i % 2 else []) for i in range(len(frame))
    ]
    frame.loc[3, "response"] = None
    return frame


def attridata_rows() -> pd.DataFrame:
    """AttriData rows (object columns, as an importer or a user builds them) with a bad cell of every kind."""
    good = {
        "id": "r0",
        "question": "2 + 2?",
        "answer": "4",
        "reference": "4",
        "instruction": None,
        "language": "en",
        "source": "demo",
        "score": 3,
        "misattribution": [],
        "feedback": "Right.",
        "primary": [],
        "num_annotators": 3,
        "score_agreement": 1.0,
        "misattribution_agreement": 1.0,
        "adjudicated": False,
    }
    changes: list[dict[str, Any]] = [
        {},
        {"score": 1, "misattribution": ["result_error"], "primary": ["reasoning_capability"]},
        {"score": np.int64(1), "misattribution": ("Result Error", "typos"), "primary": ("response_quality",)},
        {"score": 1.0, "misattribution": "结果错误; Typos", "primary": "reasoning_capability"},
        {"score": "2", "misattribution": '["typos"]', "primary": ["response_quality", "reasoning_capability"]},
        {"score": 2.5, "misattribution": ["typos"]},
        {"score": True},
        {"score": 7},
        {"score": float("nan"), "misattribution": None},
        {"score": pd.NA},
        {"score": "three"},
        {"score": -0.0},
        {"misattribution": ["Wrongness", 99, True, 1.0, -0.0]},
        {"misattribution": [1], "score": 1, "primary": [0]},
        {"misattribution": [True], "score": 1},
        {"misattribution": ["response_quality"], "score": 1},
        {"misattribution": np.array(["typos"], dtype=object), "score": 1, "primary": np.array([0])},
        {"misattribution": "无", "score": 2},
        {"score": 3, "misattribution": ["typos"], "primary": ["response_quality"]},
        {"id": "r0"},
        {"id": 5},
        {"id": np.int64(6)},
        {"id": 7.5},
        {"id": None},
        {"id": "  "},
        {"question": ""},
        {"question": None},
        {"answer": 4},
        {"answer": np.float64(4.5)},
        {"feedback": "   "},
        {"reference": 3},
        {"language": "english"},
        {"language": "zh-CN"},
        {"language": 3},
        {"language": pd.NA},
        {"source": ["a"]},
        {"instruction": {"a": 1}},
        {"primary": ["nonsense", 99], "score": 1, "misattribution": ["typos"]},
        {"num_annotators": -1},
        {"num_annotators": 2.5},
        {"num_annotators": True},
        {"num_annotators": "3"},
        {"num_annotators": np.int64(2)},
        {"score_agreement": 1.5},
        {"score_agreement": "high"},
        {"misattribution_agreement": np.float64(-0.1)},
        {"adjudicated": "yes"},
        {"adjudicated": np.bool_(True)},
        {"adjudicated": 1},
    ]
    records = []
    for k, change in enumerate(changes):
        record = {**good, "id": f"r{k}", **change}
        records.append(record)
    frame = pd.DataFrame({column: pd.Series([r[column] for r in records], dtype=object) for column in good})
    frame["extra"] = "unknown column"
    return frame


# -- what is compared -------------------------------------------------------------------------------------
def cells(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame as its columns, dtypes and every cell as ``type:repr``."""
    return {
        "columns": [str(c) for c in frame.columns],
        "dtypes": [str(d) for d in frame.dtypes],
        "index": repr(frame.index),
        "cells": {str(c): [f"{type(v).__name__}:{v!r}" for v in frame[c].tolist()] for c in frame.columns},
    }


def problems(report: ValidationReport) -> dict[str, list[str]]:
    return {"errors": [str(p) for p in report.errors], "warnings": [str(p) for p in report.warnings]}


def imported(result: ImportResult) -> dict[str, Any]:
    return {
        "rows": cells(result.rows),
        **problems(result.report),
        "unmapped": [[issue, count] for issue, count in result.unmapped_issues.most_common()],
        "judged": cells(result.to_judged()),
    }


def uploaded(result: LoadResult) -> dict[str, Any]:
    report = result.report
    return {
        "rows": cells(report.rows),
        "issues": [repr(issue) for issue in report.issues],
        "assignments": cells(report.assignments),
        "meta": repr(report.meta),
        "problems": result.problems,
        "notes": result.notes,
        "message": result.message,
    }


def snapshot(folder: Path) -> dict[str, Any]:
    """Every output the golden file holds, computed by the code under test."""
    folder.mkdir(parents=True, exist_ok=True)
    bad_csv = clear_zip(folder / "clear_bad.zip", clear_rows(usable_scores=False))
    usable_csv = clear_zip(folder / "clear_usable.zip", clear_rows(usable_scores=True))
    typed = clear_zip(folder / "clear_typed.zip", typed_clear_rows(), parquet=True)
    frame = attridata_rows()
    found = {
        "import_clear csv": imported(import_clear(bad_csv)),
        "import_clear csv, issue_map, rule error, language": imported(
            import_clear(bad_csv, issue_map=ISSUE_MAP, rule="error", language="en", source="gsm8k")
        ),
        "import_clear csv, score_map": imported(import_clear(bad_csv, score_map={1.0: 3, 0.9: 2, 0.4: 1})),
        "import_clear parquet": imported(import_clear(typed, issue_map=ISSUE_MAP)),
        "load_upload csv": uploaded(load_upload(usable_csv, name="clear_usable.zip")),
        "load_upload parquet": uploaded(load_upload(typed, name="clear_typed.zip")),
        "validate_rows": problems(validate_rows(frame, source="rows.jsonl")),
        "validate_rows rule warning": problems(validate_rows(frame, source="rows.jsonl", rule="warning")),
    }
    return json.loads(json.dumps(found).replace(json.dumps(str(folder))[1:-1], "<folder>"))


# -- tests ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return snapshot(tmp_path_factory.mktemp("upload_speed"))


# A missing golden file fails the collection (only --write, below, runs without it).
CASES = [] if __name__ == "__main__" else list(json.loads(GOLDEN.read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", CASES)
def test_the_fast_path_gives_what_the_row_by_row_path_gave(outputs: dict[str, Any], case: str) -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[case]
    got = outputs[case]
    assert got.keys() == expected.keys()
    for part in expected:
        assert got[part] == expected[part], f"{case}: {part} differs"


def test_the_fixtures_hold_problems_of_every_kind(outputs: dict[str, Any]) -> None:
    """The golden comparison means something only if the fixtures exercise the problem paths."""
    messages = " | ".join(outputs["import_clear csv"]["errors"] + outputs["import_clear csv"]["warnings"])
    for expected in (
        "empty; used the evaluation summary",
        "missing; the row has no reference",
        "no score: the CLEAR score is missing",
        "not a number: '3 points'",
        "not a finite number",
        "outside [0, 1]",
        "missing; read as no issue",
        "not a list of strings: a function call",
        "not a list of strings: holds a int constant",
        "not a Python list literal",
        "duplicate id (first at row 3)",
        "field 'id': missing",
        "field 'question': missing",
        "field 'answer': empty",
        "needs a misattribution",
        "CLEAR issue(s) have no category",
    ):
        assert expected in messages, expected
    checked = " | ".join(outputs["validate_rows"]["errors"] + outputs["validate_rows"]["warnings"])
    for expected in (
        "field 'answer': expected text, got int",  # np.int64 in an object column, boxed as to_dict boxes it
        "field 'answer': expected text, got float",
        "is not an ISO 639-1 code (use 'zh')",
        "not an integer: True",
        "not an integer: 2.5",
        "7 is off the scale",
        "unknown categories 'Wrongness', 99, True, 1.0, -0.0",
        "is a primary category",
        "is not the primaries of the misattribution",
        "expected a count, got 2.5",
        "expected a share in [0, 1], got -0.1",
        "expected true or false, got 'yes'",
        "unknown column(s) ['extra'] are ignored",
        "duplicate id",
    ):
        assert expected in checked, expected


def test_cells_are_what_to_dict_records_gives() -> None:
    """validate_rows reads one list per column; each cell must be the one a dict per row held."""
    from misattribution.data.validate import _cells

    frame = attridata_rows()
    frame["ints"] = np.arange(len(frame))
    frame["floats"] = np.linspace(0, 1, len(frame))
    frame["flags"] = np.arange(len(frame)) % 2 == 0
    frame["text"] = pd.Series([None if i % 4 == 0 else f"t{i}" for i in range(len(frame))], dtype="str")
    frame["nullable"] = pd.array([None if i % 3 == 0 else i for i in range(len(frame))], dtype="Int64")
    frame["when"] = pd.date_range("2026-01-01", periods=len(frame))
    records = frame.to_dict("records")
    columns = _cells(frame)
    assert list(columns) == list(frame.columns)
    for column, values in columns.items():
        for position, value in enumerate(values):
            expected = records[position][column]
            assert type(value) is type(expected) and repr(value) == repr(expected), (column, position)


def _line_ends_outside_quotes(data: bytes) -> tuple[int, int]:
    """The reference: walk the bytes one by one."""
    inside, ends = 0, 0
    for byte in data:
        if byte == 34:
            inside ^= 1
        elif byte == 10 and not inside:
            ends += 1
    return ends, inside


def test_rows_are_counted_as_a_byte_by_byte_walk_counts_them() -> None:
    rng = np.random.default_rng(7)
    alphabet = np.frombuffer(b'ab"\n,', dtype=np.uint8)
    for _ in range(500):
        data = rng.choice(alphabet, size=int(rng.integers(1, 300)), p=[0.4, 0.2, 0.15, 0.15, 0.1]).tobytes()
        cuts = sorted(set(rng.integers(0, len(data), size=int(rng.integers(0, 6))).tolist()))
        counter = _CsvRows(10**9, "x")
        for start, end in zip([0, *cuts], [*cuts, len(data)]):
            if end > start:
                counter(data[start:end])
        assert (counter.line_ends, counter.in_quotes) == _line_ends_outside_quotes(data)


def test_a_csv_member_is_inflated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = clear_zip(tmp_path / "once.zip", clear_rows(usable_scores=True))
    opened = []
    with open_zip(path, "once.zip", ZipLimits(max_rows=100)) as archive:
        original = archive.archive.open
        monkeypatch.setattr(archive.archive, "open", lambda *a, **k: opened.append(a[0]) or original(*a, **k))
        data = archive.read("results.csv", rows="csv")
    assert len(opened) == 1 and data == zipfile.ZipFile(path).read("results.csv")


if __name__ == "__main__":  # python tests/test_upload_speed.py --write
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_upload_speed.py --write  (rewrites the golden file)")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = snapshot(Path(tmp))
    GOLDEN.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size:,} bytes)")
