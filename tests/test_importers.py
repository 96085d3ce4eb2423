"""Tests for misattribution.data.importers: CLEAR bundles (read safely) and Prometheus rows -> AttriData rows.

The CLEAR bundles here are built in the test from invented rows. The real CLEAR GSM8K bundle is read
from ../shared/data/clear_gsm8k when it is there (third-party data: read, never copied into the repo).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from misattribution.data import (
    ImportResult,
    ZipLimits,
    import_clear,
    import_prometheus,
)
from misattribution.data.importers import PROMETHEUS_SCORE_MAP, clear_score_to_scale, parse_issue_list
from misattribution.data.schema import COLUMNS
from misattribution.data.validate import DataValidationError
from misattribution.io.tables import InputError
from misattribution.taxonomy import from_dict, load_taxonomy

TAX = load_taxonomy()
REAL_CLEAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "clear_gsm8k"
METADATA = {
    "run_name": "toy",
    "question_column": "question",
    "model_output_column": "response",
    "reference_column": "ground_truth",
    "model_input_column": "model_input",
    "qid_column": "id",
    "evaluation_criteria": None,
}


def clear_rows() -> pd.DataFrame:
    """Five invented rows in CLEAR's output columns (a null score, a null reference, a malicious literal)."""
    return pd.DataFrame(
        {
            "question_id": ["t0", "t1", "t2", "t3", "t4"],
            "model_input": [
                f"Answer the following math word problem:\nQuestion: {a} + {a}?\nAnswer:" for a in range(5)
            ],
            "response": ["0", "3", "4", "6", "9"],
            "score": pd.array([1.0, 0.4, 0.8, None, 0.0], dtype="Float64"),
            "evaluation_text": ["Correct.", "1 + 1 is 2, not 3.", "", "Right.", "Wrong sum."],
            "evaluation_summary": ["ok", "wrong sum", "Off by one in the last step.", "ok", "wrong"],
            "recurring_issues": ["[]", "[1, 2]", "[1]", "[]", "[]"],
            "recurring_issues_str": [
                "[]",
                "['Arithmetic slip', 'Unclear explanation']",
                "('Arithmetic slip',)",
                "[]",
                "__import__('os').system('true')",
            ],
            "ground_truth": ["0 + 0 = <<0+0=0>>0\n#### 0", "#### 2", "#### 4", None, "#### 8"],
        }
    )


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def write_bundle(tmp_path: Path, frame: pd.DataFrame | None = None, **extra: bytes) -> Path:
    members = {
        "results.parquet": parquet_bytes(clear_rows() if frame is None else frame),
        "metadata.json": json.dumps(METADATA).encode(),
        **extra,
    }
    path = tmp_path / "bundle.zip"
    path.write_bytes(zip_bytes(members))
    return path


def messages(result: ImportResult, kind: str = "errors") -> list[str]:
    return [str(p) for p in getattr(result.report, kind)]


# -- CLEAR: mapping --------------------------------------------------------------------------------
def test_clear_bundle_maps_every_field(tmp_path: Path) -> None:
    result = import_clear(write_bundle(tmp_path))
    rows = result.rows
    assert list(rows.columns[:15]) == list(COLUMNS)
    assert result.extra_columns == ["clear_score", "clear_issues", "clear_summary"]
    assert rows["id"].tolist() == ["t0", "t1", "t2", "t3", "t4"]
    assert rows["question"][1].startswith("Answer the following math word problem:\nQuestion: 1 + 1?")
    assert rows["reference"][0] == "0 + 0 = <<0+0=0>>0\n#### 0"  # GSM8K's final answer kept verbatim
    assert rows["reference"][3] is None
    assert rows["feedback"].tolist()[:2] == ["Correct.", "1 + 1 is 2, not 3."]
    assert rows["feedback"][2] == "Off by one in the last step."  # empty evaluation_text -> the summary
    assert rows["score"].tolist() == [3, 1, 2, None, 0]
    assert rows["clear_score"].tolist() == [1.0, 0.4, 0.8, None, 0.0]
    assert rows["clear_issues"].tolist() == [
        [],
        ["Arithmetic slip", "Unclear explanation"],
        ["Arithmetic slip"],
        [],
        None,
    ]
    assert rows["misattribution"].tolist() == [[]] * 5  # nothing mapped without an issue_map
    assert set(rows["language"]) == {"en"} and set(rows["source"]) == {"clear"}
    assert result.unmapped_issues == Counter({"Arithmetic slip": 2, "Unclear explanation": 1})
    assert result.metadata["run_name"] == "toy"
    warnings = "\n".join(messages(result, "warnings"))
    assert "no question column ['question']; the question is the prompt 'model_input'" in warnings
    assert "row 3 (id 't3'), field 'ground_truth': missing; the row has no reference" in warnings
    assert "row 2 (id 't2'), field 'evaluation_text': empty; used the evaluation summary" in warnings
    assert "2 CLEAR issue(s) have no category in issue_map" in warnings and "'Arithmetic slip' (2 rows)" in warnings


def test_clear_nulls_and_bad_literals_are_reported_not_raised(tmp_path: Path) -> None:
    path = write_bundle(tmp_path)
    result = import_clear(path)
    errors = messages(result)
    assert errors == [
        f"{path}:results.parquet: row 3 (id 't3'), field 'score': no score: the CLEAR score is missing",
        f"{path}:results.parquet: row 4 (id 't4'), field 'recurring_issues_str': not a list of strings: a function call",
    ]
    assert not result.report.ok


def test_clear_malicious_literal_is_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    frame = clear_rows()
    frame.loc[4, "recurring_issues_str"] = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    frame.loc[1, "recurring_issues_str"] = f"[__import__('pathlib').Path({str(marker)!r}).touch()]"
    result = import_clear(write_bundle(tmp_path, frame))
    assert not marker.exists()
    errors = "\n".join(messages(result))
    assert "row 4 (id 't4'), field 'recurring_issues_str': not a list of strings: a function call" in errors
    assert "row 1 (id 't1'), field 'recurring_issues_str': not a list of strings: holds a function call" in errors
    assert result.rows["clear_issues"][4] is None and result.rows["misattribution"][4] == []


@pytest.mark.parametrize(
    ("cell", "expected", "fragment"),
    [
        ("[]", [], None),
        ("['a', 'b']", ["a", "b"], None),
        ("('a',)", ["a"], None),
        ("[' a ', '']", ["a"], None),
        (["a", "b"], ["a", "b"], None),
        ("__import__('os').system('true')", None, "a function call"),
        ("[open('/etc/passwd')]", None, "holds a function call"),
        ("['a', 1]", None, "holds a int constant"),
        ("[['a']]", None, "holds a List expression"),
        ("{'a'}", None, "a Set expression"),
        ("{'a': 'b'}", None, "a Dict expression"),
        ("['a'] + ['b']", None, "a BinOp expression"),
        ("[x]", None, "holds a Name expression"),
        ("[f'{x}']", None, "holds a JoinedStr expression"),
        ("[lambda: 0]", None, "holds a Lambda expression"),
        ("'a; b'", None, "a str constant"),
        ("['a'", None, "not a Python list literal"),
        ("[" * 500 + "]" * 500, None, "not a Python list literal"),
        ("['" + "a" * 200_000 + "']", None, "more than the 100000"),
        (3, None, "not a list of strings: int"),
        ([1], None, "holds int"),
    ],
)
def test_parse_issue_list(cell, expected, fragment) -> None:
    issues, why = parse_issue_list(cell)
    assert issues == expected
    if fragment is None:
        assert why is None
    else:
        assert fragment in why


def test_clear_issue_map_puts_issues_in_misattribution(tmp_path: Path) -> None:
    issue_map = {"arithmetic  SLIP": "Result Error", "Unclear explanation": None}
    result = import_clear(write_bundle(tmp_path), issue_map=issue_map)
    assert result.rows["misattribution"].tolist() == [[], ["result_error"], ["result_error"], [], []]
    assert result.rows["primary"][1] == ["reasoning_capability"]
    assert result.unmapped_issues == Counter()
    assert not any("have no category" in m for m in messages(result, "warnings"))
    # t1 (0.4 -> 1) and t2 (0.8 -> 2) now follow the paper's rule; t4's unreadable issue list is already
    # an error on its misattribution, so the rule is not reported a second time for it
    assert not [p for p in result.report.warnings if "needs a misattribution" in p.message]
    assert [(p.id, p.field) for p in result.report.errors] == [("t3", "score"), ("t4", "recurring_issues_str")]


def test_clear_issue_map_with_lists_and_bad_entries(tmp_path: Path) -> None:
    result = import_clear(write_bundle(tmp_path), issue_map={"Arithmetic slip": ["process_error", "结果错误"]})
    assert result.rows["misattribution"][1] == ["process_error", "result_error"]
    assert result.unmapped_issues == Counter({"Unclear explanation": 1})
    with pytest.raises(ValueError, match=r"2 bad entries: 'a': unknown category 'Wrongness'; 'b': 'Reasoning"):
        import_clear(write_bundle(tmp_path), issue_map={"a": "Wrongness", "b": "Reasoning Capability"})


def test_clear_score_maps(tmp_path: Path) -> None:
    assert [clear_score_to_scale(s) for s in (0.0, 1 / 6, 0.49, 0.5, 0.83, 5 / 6, 1.0)] == [0, 1, 1, 2, 2, 3, 3]
    path = write_bundle(tmp_path)
    table = import_clear(path, score_map={1.0: 3, 0.8: 2, 0.4: 1})
    assert table.rows["score"].tolist() == [3, 1, 2, None, None]
    assert "row 4 (id 't4'), field 'score': no score: the CLEAR score is 0 is not a key of score_map" in "\n".join(
        messages(table)
    )
    strict = import_clear(path, score_map=lambda s: 3 if s == 1.0 else 7)
    assert strict.rows["score"].tolist() == [3, None, None, None, None]
    assert "score_map(0.4) gave 7: 7 is off the scale 0-3" in "\n".join(messages(strict))
    with pytest.raises(ValueError, match="score_map values must be on the scale 0-3"):
        import_clear(path, score_map={1.0: 5})
    with pytest.raises(TypeError, match="score_map must be None, a dict or a callable"):
        import_clear(path, score_map="linear")  # type: ignore[arg-type]


def test_clear_out_of_range_score_is_a_problem(tmp_path: Path) -> None:
    frame = clear_rows()
    frame["score"] = pd.array([1.0, 7.5, 0.8, None, 0.0], dtype="Float64")
    result = import_clear(write_bundle(tmp_path, frame))
    assert "CLEAR score 7.5 is outside [0, 1]" in "\n".join(messages(result))


def test_clear_columns_override_and_metadata_names(tmp_path: Path) -> None:
    frame = clear_rows().rename(columns={"response": "prediction", "question_id": "uid"})
    frame["question"] = [f"{a} + {a}?" for a in range(5)]
    path = write_bundle(tmp_path, frame)
    result = import_clear(path, columns={"answer": "prediction", "id": "uid"})
    assert result.rows["answer"].tolist() == ["0", "3", "4", "6", "9"]
    assert result.rows["id"][0] == "t0" and result.rows["question"][1] == "1 + 1?"  # the question column wins
    with pytest.raises(InputError, match=r"missing required column\(s\) answer \(looked for answer: response\)"):
        import_clear(path)
    with pytest.raises(InputError, match=r"the mapped columns are not in the file \(answer → 'nope'\)"):
        import_clear(path, columns={"answer": "nope"})
    with pytest.raises(ValueError, match="unknown column roles"):
        import_clear(path, columns={"response": "prediction"})


def test_clear_folder_and_csv_bundles(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    clear_rows().to_csv(folder / "results_toy.csv", index=False)
    (folder / "metadata.json").write_text(json.dumps(METADATA))
    result = import_clear(folder)
    assert result.rows["score"].tolist() == [3, 1, 2, None, 0]
    assert result.rows["reference"][3] is None
    assert result.report.source == f"{folder}/results_toy.csv"
    as_bytes = import_clear(write_bundle(tmp_path).read_bytes())
    assert as_bytes.rows["id"].tolist() == ["t0", "t1", "t2", "t3", "t4"]
    assert as_bytes.report.source == "<zip bytes>:results.parquet"


def test_clear_bundle_without_metadata_uses_default_names(tmp_path: Path) -> None:
    path = tmp_path / "bare.zip"
    path.write_bytes(zip_bytes({"out/results.parquet": parquet_bytes(clear_rows())}))
    result = import_clear(path)
    assert len(result.rows) == 5
    warning = f"{path}:out/results.parquet: no metadata*.json; using CLEAR's default column names"
    assert warning in messages(result, "warnings")


# -- CLEAR: hostile or broken bundles --------------------------------------------------------------
def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_bytes({"metadata.json": b"{}", "results.csv": b"0" * (20 << 20)}))
    with pytest.raises(InputError, match=r"bomb\.zip: refused, the entry 'results\.csv' expands [\d,]+×"):
        import_clear(bomb)


def test_zip_limits_on_size_and_members(tmp_path: Path) -> None:
    path = write_bundle(tmp_path)
    with pytest.raises(InputError, match=r"bundle\.zip: refused, the zip expands to .* more than the 0\.0 MB allowed"):
        import_clear(path, limits=ZipLimits(max_total_bytes=1000))
    many = tmp_path / "many.zip"
    many.write_bytes(zip_bytes({f"note{i}.txt": b"x" for i in range(70)}))
    with pytest.raises(InputError, match=r"many\.zip: the zip has 70 entries, more than the 64 allowed"):
        import_clear(many)


def test_member_larger_than_its_header_is_refused(tmp_path: Path) -> None:
    # A header may lie: declare 1,000 bytes for a 20 MiB member; reading stops there and fails the CRC.
    data = bytearray(zip_bytes({"metadata.json": b"{}", "results.csv": b"0" * (20 << 20)}))
    entry = data.rindex(b"PK\x01\x02")  # the central directory entry of the last member, results.csv
    assert data[entry + 46 : entry + 57] == b"results.csv"
    data[entry + 24 : entry + 28] = (1000).to_bytes(4, "little")
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"liar\.zip: the entry 'results\.csv' (cannot be read|: refused)"):
        import_clear(path)


@pytest.mark.parametrize("member", ["../evil.txt", "a/../../evil.txt", "/etc/evil.txt", "C:/evil.txt", "..\\evil.txt"])
def test_path_traversal_member_is_refused(tmp_path: Path, member: str) -> None:
    path = write_bundle(tmp_path, **{member: b"boom"})
    with pytest.raises(InputError, match="refused, the entry") as err:
        import_clear(path)
    assert str(path) in str(err.value) and repr(member) in str(err.value)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_missing_results_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    path.write_bytes(zip_bytes({"metadata.json": b"{}", "notes.txt": b"hi"}))
    with pytest.raises(InputError) as err:
        import_clear(path)
    assert str(err.value) == (
        f"{path}: no results file (results*.parquet, results*.csv or analysis_results*.csv) among "
        "['metadata.json', 'notes.txt']"
    )
    folder = tmp_path / "nothing"
    folder.mkdir()
    with pytest.raises(InputError, match=r"nothing: no results file .* among no files"):
        import_clear(folder)


def test_broken_bundles_name_the_member(tmp_path: Path) -> None:
    not_zip = tmp_path / "results.zip"
    not_zip.write_text("plain text")
    with pytest.raises(InputError, match=r"results\.zip: not a readable zip file"):
        import_clear(not_zip)
    bad_parquet = tmp_path / "bad.zip"
    bad_parquet.write_bytes(zip_bytes({"results.parquet": b"not parquet", "metadata.json": b"{}"}))
    with pytest.raises(InputError, match=r"bad\.zip:results\.parquet: cannot read the results table"):
        import_clear(bad_parquet)
    bad_meta = tmp_path / "meta.zip"
    bad_meta.write_bytes(zip_bytes({"results.parquet": parquet_bytes(clear_rows()), "metadata.json": b"[1]"}))
    with pytest.raises(InputError, match=r"meta\.zip:metadata\.json: expected a JSON object"):
        import_clear(bad_meta)
    two = tmp_path / "two.zip"
    two.write_bytes(zip_bytes({"results.parquet": b"", "results_b.parquet": b""}))
    with pytest.raises(InputError, match=r"several results files \['results.parquet', 'results_b.parquet'\]"):
        import_clear(two)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        import_clear(tmp_path / "absent.zip")


# -- ImportResult ----------------------------------------------------------------------------------
def test_to_dataset_refuses_errors_unless_asked(tmp_path: Path) -> None:
    result = import_clear(write_bundle(tmp_path), issue_map={"Arithmetic slip": "result_error"})
    with pytest.raises(DataValidationError, match=r"2 error\(s\) \(drop_invalid=True leaves out"):
        result.to_dataset()
    dataset = result.to_dataset(drop_invalid=True)
    assert dataset["id"] == ["t0", "t1", "t2"]
    assert "clear_score" not in dataset.column_names
    assert dataset.features["misattribution"].feature.int2str(dataset["misattribution"][1]) == ["result_error"]
    assert dataset["score"] == [3, 1, 2] and dataset["reference"][1] == "#### 2"


def test_to_dataset_under_another_taxonomy(tmp_path: Path) -> None:
    result = import_clear(write_bundle(tmp_path), issue_map={"Arithmetic slip": "result_error"})
    other = load_taxonomy("misattributionllm-2024")
    dataset = result.to_dataset(other, drop_invalid=True)
    assert dataset.features["primary"].feature.names == other.primary_ids
    unsafe = import_clear(write_bundle(tmp_path), issue_map={"Arithmetic slip": "safety_concerns"}, taxonomy=other)
    with pytest.raises(DataValidationError, match=r"2 row\(s\) do not fit the taxonomy 'attridata-v1'") as err:
        unsafe.to_dataset("attridata-v1", drop_invalid=True)
    assert "row 1 (id 't1'), field 'misattribution': unknown category 'safety_concerns'" in str(err.value)


def test_to_judged(tmp_path: Path) -> None:
    judged = import_clear(write_bundle(tmp_path)).to_judged()
    assert list(judged.columns) == [
        *("id", "question", "answer", "reference", "instruction", "language", "source"),
        *("feedback", "misattribution", "score", "status", "problems", "raw", "error"),
        *("clear_score", "clear_issues", "clear_summary"),
    ]
    assert set(judged["status"]) == {"imported"}
    assert judged["score"].tolist() == [3, 1, 2, None, 0]
    assert judged["problems"][3] == [
        "score: no score: the CLEAR score is missing",
        "ground_truth: missing; the row has no reference",
    ]
    assert judged["problems"][0] == []


def test_rule_error_makes_rule_breaks_errors(tmp_path: Path) -> None:
    result = import_clear(write_bundle(tmp_path), rule="error")
    assert any("needs a misattribution" in m for m in messages(result))
    with pytest.raises(ValueError, match="rule must be one of"):
        import_clear(write_bundle(tmp_path), rule="strict")  # type: ignore[arg-type]


# -- the real CLEAR GSM8K bundle -------------------------------------------------------------------
REAL_ISSUES = {
    "Calculation errors or inaccuracies in mathematical operations": 69,
    "Inaccurate or incomplete conclusions": 51,
    "Insufficient consideration of problem aspects or misleading assumptions": 34,
    "Failure to account for all relevant factors or details": 33,
    "Tendency towards unnecessary complexity or failure to provide direct answers": 32,
    "Issues with the presentation or consistency of final answers and mathematical operations": 28,
    "Failure to correctly interpret or follow instructions and problem statements": 18,
    "Lack of clarity or completeness in explanations": 14,
}
needs_real = pytest.mark.skipif(
    not (REAL_CLEAR / "results.parquet").is_file(), reason=f"the CLEAR GSM8K bundle is not at {REAL_CLEAR}"
)


@pytest.fixture(scope="module")
def real_clear() -> ImportResult:
    return import_clear(REAL_CLEAR)


@needs_real
def test_real_clear_bundle(real_clear: ImportResult) -> None:
    rows = real_clear.rows
    assert len(rows) == 1319 and rows["id"].is_unique
    assert real_clear.unmapped_issues == Counter(REAL_ISSUES)
    assert [str(p) for p in real_clear.report.errors] == [
        f"{REAL_CLEAR}/results.parquet: row 338 (id 'q338'), field 'score': no score: the CLEAR score is missing"
    ]
    assert any(p.id == "q0" and p.field == "ground_truth" for p in real_clear.report.warnings)
    assert rows["reference"].notna().sum() == 1318
    assert rows["reference"].dropna().str.contains("\n#### ").all()
    assert sum(bool(issues) for issues in rows["clear_issues"]) == 160
    assert set(rows["language"]) == {"en"}
    assert real_clear.metadata["eval_model_name"] == "meta-llama/llama-3-3-70b-instruct"


@needs_real
def test_real_clear_bundle_with_issue_map(tmp_path: Path) -> None:
    issue_map = {
        "Calculation errors or inaccuracies in mathematical operations": "process_error",
        "Inaccurate or incomplete conclusions": "result_error",
        "Lack of clarity or completeness in explanations": None,
    }
    # the same bundle zipped, as CLEAR ships it (in a temporary folder, outside the repository)
    bundle = tmp_path / "clear_gsm8k.zip"
    bundle.write_bytes(
        zip_bytes({name: (REAL_CLEAR / name).read_bytes() for name in ("results.parquet", "metadata.json")})
    )
    result = import_clear(bundle, issue_map=issue_map)
    labels = Counter(c for row in result.rows["misattribution"] for c in row)
    assert labels == Counter({"process_error": 69, "result_error": 51})
    assert result.unmapped_issues == Counter({k: v for k, v in REAL_ISSUES.items() if k not in issue_map})
    dataset = result.to_dataset(drop_invalid=True)
    assert dataset.num_rows == 1318


# -- Prometheus ------------------------------------------------------------------------------------
def prometheus_rows() -> list[dict]:
    return [
        {
            "instruction": f"Question {i}?",
            "response": f"Answer {i}.",
            "reference_answer": f"Reference {i}.",
            "criteria": "Is the answer correct?",
            "feedback": f"Feedback {i}.",
            "score": i,
        }
        for i in range(1, 6)
    ]


def test_prometheus_mapping() -> None:
    result = import_prometheus(prometheus_rows(), language="en")
    rows = result.rows
    assert rows["id"].tolist() == [f"prometheus-{i}" for i in range(5)]
    assert rows["question"][0] == "Question 1?" and rows["answer"][0] == "Answer 1."
    assert rows["reference"][0] == "Reference 1." and rows["instruction"][0] == "Is the answer correct?"
    assert rows["feedback"][4] == "Feedback 5." and set(rows["source"]) == {"prometheus"}
    assert rows["score"].tolist() == [0, 1, 1, 2, 3] == [PROMETHEUS_SCORE_MAP[i] for i in range(1, 6)]
    assert rows["prometheus_score"].tolist() == [1, 2, 3, 4, 5]
    assert result.report.ok and result.unmapped_issues == Counter()
    # Prometheus names no categories: every score below the top breaks the paper's rule (a warning)
    assert [p.row for p in result.report.warnings] == [0, 1, 2, 3]
    assert all("needs a misattribution" in p.message for p in result.report.warnings)
    assert import_prometheus(prometheus_rows(), rule="error").report.errors[0].field == "misattribution"


def test_prometheus_feedback_collection_columns() -> None:
    row = {
        "instruction": "###Task Description: ... the whole judge prompt ...",
        "output": "Feedback ... [RESULT] 4",
        "orig_instruction": "What is 2 + 2?",
        "orig_response": "4, since 2 + 2 = 4.",
        "orig_reference_answer": "4",
        "orig_criteria": "Is the arithmetic right?",
        "orig_feedback": "Right, a little wordy.",
        "orig_score": "4",
    }
    rows = import_prometheus([row], language="en").rows
    assert rows["question"][0] == "What is 2 + 2?" and rows["answer"][0] == "4, since 2 + 2 = 4."
    assert rows["reference"][0] == "4" and rows["instruction"][0] == "Is the arithmetic right?"
    assert rows["feedback"][0] == "Right, a little wordy." and rows["score"][0] == 2


def test_prometheus_score_maps_and_bad_scores() -> None:
    rows = prometheus_rows()
    assert import_prometheus(rows, score_map={1: 0, 2: 0, 3: 1, 4: 2, 5: 3}).rows["score"].tolist() == [0, 0, 1, 2, 3]
    assert import_prometheus(rows, score_map=lambda s: int(s >= 4) * 3).rows["score"].tolist() == [0, 0, 0, 3, 3]
    rows[0]["score"], rows[1]["score"], rows[2]["score"], rows[3]["score"] = 6, None, "four", 4.5
    result = import_prometheus(rows, language="en")
    assert [str(p).split(": ", 1)[1] for p in result.report.errors] == [
        "row 0 (id 'prometheus-0'), field 'score': no score: the Prometheus score is 6 is not a Prometheus score (an integer 1-5)",
        "row 1 (id 'prometheus-1'), field 'score': no score: the Prometheus score is missing",
        "row 2 (id 'prometheus-2'), field 'score': no score: the Prometheus score is not a number: 'four'",
        "row 3 (id 'prometheus-3'), field 'score': no score: the Prometheus score is 4.5 is not a Prometheus score (an integer 1-5)",
    ]
    assert result.rows["score"].tolist() == [None, None, None, None, 3]


def test_prometheus_default_map_needs_a_0_3_scale() -> None:
    data = TAX.to_dict()
    data["scale"] = {
        "min": 1,
        "max": 5,
        "error_below": 5,
        "levels": [{"value": v, "name_en": f"level {v}", "name_zh": f"等级{v}"} for v in range(1, 6)],
    }
    five = from_dict(data, source="five.yaml")
    with pytest.raises(ValueError, match="default Prometheus map is 1-5 -> 0-3"):
        import_prometheus(prometheus_rows(), taxonomy=five)
    assert import_prometheus(prometheus_rows(), taxonomy=five, score_map=int).rows["score"].tolist() == [1, 2, 3, 4, 5]


def test_prometheus_field_mapping_and_readers(tmp_path: Path) -> None:
    records = [
        {"uid": f"u{i}", "prompt": f"Q{i}", "output": f"A{i}", "rationale": "Fine.", "rating": 5} for i in range(3)
    ]
    columns = {"id": "uid", "question": "prompt", "answer": "output", "feedback": "rationale", "score": "rating"}
    path = tmp_path / "judged.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    from datasets import Dataset

    for source in (records, pd.DataFrame(records), path, Dataset.from_list(records)):
        result = import_prometheus(source, columns=columns, language="en")
        assert result.rows["id"].tolist() == ["u0", "u1", "u2"], source
        assert result.rows["score"].tolist() == [3, 3, 3] and result.report.ok and not result.report.warnings
    assert import_prometheus(path, columns=columns).report.source == str(path)
    with pytest.raises(
        InputError, match=r"missing required column\(s\) question, answer, feedback, score \(looked for question"
    ):
        import_prometheus(records)


def test_prometheus_validation_problems() -> None:
    rows = prometheus_rows()[3:]
    rows[0].update(id="dup", score=5, feedback="")
    rows[1].update(id="dup")
    result = import_prometheus(rows, language="english")
    errors = [str(p).split(": ", 1)[1] for p in result.report.errors]
    assert "row 0 (id 'dup'), field 'language': 'english' is not an ISO 639-1 code (e.g. 'en', 'zh')" in errors
    assert "row 0 (id 'dup'), field 'feedback': missing" in errors
    assert "row 1 (id 'dup'), field 'id': duplicate id (first at row 0)" in errors
    judged = result.to_judged()
    assert "id: duplicate id (first at row 0)" in judged["problems"][1]


def test_language_is_guessed_per_row_when_not_given() -> None:
    rows = prometheus_rows()[:2]
    rows[1].update(instruction="三加四等于多少？", response="等于七。")
    assert import_prometheus(rows).rows["language"].tolist() == ["en", "zh"]


def test_languages_are_guessed_in_one_batch_with_the_runners_rule():
    """detect_languages (Arrow's regex counts, once per distinct text) agrees with runner.detect_language
    on random mixes of letters, digits, CJK and other scripts, combining marks and emoji."""
    import random

    from misattribution.data.importers import detect_languages
    from misattribution.runner import detect_language

    rng = random.Random(0)
    alphabet = [
        *"abcXYZ 123,.!？。",
        "乘",
        "等",
        "於",
        "é",
        "ß",
        "Ω",
        "😀",
        "\u0301",
        "カ",
        "한",
        "𠀀",
        "\uf900",
        "ǅ",
        "ʰ",
    ]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    texts += ["What is 3 x 4?", "3 乘 4 等于多少？", "", "word " * 30 + "乘" * 2, "word " * 30 + "乘" * 30]
    guessed = detect_languages(texts)
    assert guessed == [detect_language(t) for t in texts]
    assert {"zh", "en"} <= set(guessed)
    assert detect_languages([]) == []
