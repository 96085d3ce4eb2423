"""The input layer's tables: every bad table is one InputError naming the file, the line or row and the field,
whichever surface reads it (``discover``'s load_judged, the Space's load_upload, agreement), and nothing is written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from misattribution.discovery.inputs import load_judged
from misattribution.evaluation import agreement
from misattribution.io.tables import (
    ALIASES,
    InputError,
    infer_scale,
    parse_label_cell,
    parse_scores,
    read_table,
    resolve_columns,
)
from misattribution.uploads import UploadError, load_upload

NESTED = "[" * 1000 + "]" * 1000


def _csv(rows: list[list[object]], header: str = "id,feedback,score") -> bytes:
    return (header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)).encode()


def _scores_csv(scores: list[object]) -> bytes:
    return _csv([[f"r{i}", f"Feedback {i}.", s] for i, s in enumerate(scores)])


FORTY = [i % 4 for i in range(40)]
OFF_SCALE = [*FORTY[:4], 17, *FORTY[5:11], -4, *FORTY[12:]]
ONE_INF = [*FORTY[:7], "inf", *FORTY[8:]]

# (file name, bytes, regex for the place: file, line/row and field) -- each read by discover and the Space.
BAD_TABLES = {
    "invalid_utf8": (
        "latin.csv",
        "id,feedback,score\nr0,fine,3\nr1,caf\xe9 au lait,1\n".encode("latin-1"),
        r"latin\.csv: line 3, field 'feedback': not UTF-8 text \(byte 0xe9\)",
    ),
    "mixed_encoding": (
        "mixed.csv",
        "id,feedback,score\nr0,naïve,3\n".encode() + "r1,2,déjà vu\n".encode("cp1252"),
        r"mixed\.csv: line 3, field 'score': not UTF-8 text",
    ),
    "empty_csv": ("empty.csv", b"", r"empty\.csv: line 1: the file is empty"),
    "blank_csv": ("blank.csv", b"\n\n  \n", r"blank\.csv: line 1: the file is empty"),
    "header_only_csv": ("header.csv", b"id,feedback,score\n", r"header\.csv: row 1: a header but no rows"),
    "header_only_tsv": ("header.tsv", b"id\tfeedback\tscore\n", r"header\.tsv: row 1: a header but no rows"),
    "malformed_csv": (
        "ragged.csv",
        b'id,feedback,score\nr0,"unclosed,1\nr1,x,2\n',
        r"ragged\.csv: line \d+: not a well-formed CSV",
    ),
    "empty_jsonl": ("empty.jsonl", b"\n\n", r"empty\.jsonl: line 1: the file holds no rows"),
    "broken_jsonl": ("broken.jsonl", b'{"feedback": "x", "score": 1}\n{not json\n', r"broken\.jsonl: line 2 is not"),
    "list_jsonl": ("list.jsonl", b"[1, 2]\n", r"list\.jsonl: line 1 is a JSON list, not an object"),
    "latin_jsonl": (
        "latin.jsonl",
        b'{"feedback": "x", "score": 1}\n' + '{"feedback": "caf\xe9", "score": 1}\n'.encode("latin-1"),
        r"latin\.jsonl: line 2: not UTF-8 text",
    ),
    "nested_jsonl": ("deep.jsonl", (NESTED + "\n").encode(), r"deep\.jsonl: line 1 is not valid JSON"),
    "nested_json": ("deep.json", NESTED.encode(), r"deep\.json: line 1: JSON nested too deeply"),
    "empty_json_list": ("none.json", b"[]", r"none\.json: (row|line) 1: .*no rows"),
    "fake_parquet": ("fake.parquet", b"not parquet at all", r"fake\.parquet: cannot be read as Parquet"),
    "score_text": ("points.csv", _scores_csv([3, "3 points", 1]), r"points\.csv: column 'score': .*row 2"),
    "score_inf": ("inf.csv", _scores_csv(ONE_INF), r"inf\.csv: column 'score': .*row 8 \(not a finite number"),
    "score_minus_inf": ("ninf.csv", _scores_csv([1, "-inf"]), r"ninf\.csv: column 'score': .*row 2"),
    "score_all_empty": ("nan.csv", _scores_csv(["", "", ""]), r"nan\.csv: column 'score': no row has a score"),
    "score_off_scale": (
        "shifted.csv",
        _scores_csv(OFF_SCALE),
        r"shifted\.csv: column 'score': 2 score\(s\) outside the inferred scale 0-3 \(row 5: 17, row 12: -4\)",
    ),
    "score_no_scale": ("wild.csv", _scores_csv([-50, 20, 500]), r"wild\.csv: column 'score': .*fit no known scale"),
    "score_boolean": (
        "bools.jsonl",
        b'{"feedback": "x", "score": true}\n{"feedback": "y", "score": 1}\n',
        r"bools\.jsonl: column 'score': .*row 1 \(not a number: True\)",
    ),
    "duplicate_ids": (
        "dups.csv",
        _csv([["a", "x", 1], ["b", "y", 2], ["a", "z", 3]]),
        r"dups\.csv: column 'id': duplicate row ids .* 'a' in rows 1, 3",
    ),
    "no_feedback": (
        "nofeedback.csv",
        b"id,text,score\nr0,x,1\n",
        r"nofeedback\.csv: missing required column\(s\) feedback .*columns found: id, text, score",
    ),
    "no_score": (
        "noscore.csv",
        b"id,feedback,points\nr0,x,1\n",
        r"noscore\.csv: missing required column\(s\) score .*columns found: id, feedback, points",
    ),
    "feedback_list": (
        "lists.jsonl",
        b'{"feedback": "Wrong sum.", "score": 1}\n{"feedback": ["Wrong sum.", "No units."], "score": 1}\n',
        r"lists\.jsonl: column 'feedback': 1 feedback cell\(s\) are not text: row 2 \(list\)",
    ),
    "feedback_numbers": (
        "numbers.jsonl",
        b'{"feedback": 3, "score": 1}\n{"feedback": 4.5, "score": 2}\n',
        r"numbers\.jsonl: column 'feedback': the feedback is numbers, not text \(rows 1-2\)",
    ),
    "feedback_all_empty": (
        "blankfeedback.csv",
        _csv([["a", "", 1], ["b", " ", 2]]),
        r"blankfeedback\.csv: column 'feedback': the feedback is empty in every row \(rows 1-2\)",
    ),
    "nested_label_cell": (
        "labels.csv",
        b"id,feedback,score,misattribution\nr0,x,1,result_error\nr1,y,2," + NESTED.encode() + b"\n",
        r"labels\.csv: row 2, field 'misattribution': brackets nested 1000 deep",
    ),
    # a spreadsheet export with a copied column: pandas would rename the copy and read the first silently
    "repeated_column": (
        "copied.csv",
        b"id,feedback,feedback,score\nr0,x,y,1\n",
        r"copied\.csv: line 1: column 'feedback' is named twice \(fields 2, 3\)",
    ),
    "huge_label_cell": (
        "long.csv",
        b"id,feedback,score,misattribution\nr0,x,1," + b"a;" * 6000 + b"\n",
        r"long\.csv: row 1, field 'misattribution': 12,000 characters",
    ),
}


def _write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def _only(folder: Path, *names: str) -> None:
    """Nothing was written next to the input."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_discover_refuses_a_bad_table_naming_its_place(tmp_path: Path, case: str) -> None:
    name, data, place = BAD_TABLES[case]
    path = _write(tmp_path / "in", name, data)
    with pytest.raises(InputError, match=place) as err:
        load_judged(path)
    assert "hint:" in str(err.value) or case in ("duplicate_ids",)
    assert not isinstance(err.value, (UnicodeDecodeError, RecursionError))
    _only(tmp_path / "in", name)


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_the_space_refuses_the_same_table_the_same_way(tmp_path: Path, case: str) -> None:
    name, data, place = BAD_TABLES[case]
    path = _write(tmp_path / "in", name, data)
    place = place.replace("line 1: the file is empty", "the file is empty") if not data else place
    with pytest.raises(UploadError, match=place.split(":", 1)[0]) as err:
        load_upload(path, discard=True)
    assert isinstance(err.value, InputError) and str(err.value).startswith(name)
    assert not path.exists()  # a refused upload is deleted from disk
    _only(tmp_path / "in")


def test_a_score_outside_a_given_range_and_a_wider_range_accepts_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "shifted.csv", _scores_csv(OFF_SCALE))
    with pytest.raises(
        InputError, match=r"shifted\.csv: column 'score': .*1 score\(s\) outside the given scale -2-20 \(row 12: -4\)"
    ):
        load_judged(path, score_range=(-2, 20))
    rows = load_judged(path, score_range=(-5, 20))  # an explicit range is the way to accept them
    assert rows.attrs["score_range"] == [-5.0, 20.0] and len(rows) == 40


def test_clear_results_off_their_0_1_scale(tmp_path: Path) -> None:
    frame = pd.DataFrame({"evaluation_text": ["a", "b", "c"], "score": [0.2, 1.7, 0.9], "response": ["x"] * 3})
    frame.to_parquet(tmp_path / "results.parquet")
    with pytest.raises(
        InputError, match=r"results\.parquet: column 'score': 1 score\(s\) outside the CLEAR scale 0-1 \(row 2: 1\.7\)"
    ):
        load_judged(tmp_path / "results.parquet")


def test_a_blank_system_cell_is_a_missing_system_not_a_system_named_blank(tmp_path: Path) -> None:
    """A report listed a system with no name ("… in  (55.0% of its rows …)") for rows whose system cell was
    blank; they are the fallback system, as a missing cell is."""
    path = _write(tmp_path, "sys.csv", b"id,feedback,score,system\nr0,Wrong sum.,1,a\nr1,No units.,2, \nr2,Fine.,3,\n")
    rows = load_judged(path)
    assert rows["system"].tolist() == ["a", "default", "default"]


def test_feedback_stored_as_bytes_in_parquet_is_read_as_text(tmp_path: Path) -> None:
    """Parquet may store text as binary: it was called "numbers, not text"; UTF-8 bytes are text, other
    bytes are refused naming the row."""
    frame = pd.DataFrame({"feedback": [b"Wrong sum.", b"No units."], "score": [1, 2]})
    frame.to_parquet(tmp_path / "binary.parquet")
    assert load_judged(tmp_path / "binary.parquet")["feedback"].tolist() == ["Wrong sum.", "No units."]
    frame.loc[1, "feedback"] = b"caf\xe9"
    frame.to_parquet(tmp_path / "latin.parquet")
    with pytest.raises(InputError, match=r"latin\.parquet: row 2, column 'feedback': bytes that are not UTF-8"):
        load_judged(tmp_path / "latin.parquet")


def test_judgment_and_grade_load_the_same_in_discover_and_the_space(tmp_path: Path) -> None:
    path = _write(tmp_path, "judged.csv", _csv([["q0", "Wrong sum.", 1], ["q1", "Fine.", 3]], "uid,judgment,grade"))
    rows = load_judged(path)
    space = load_upload(path).report.rows
    assert rows["feedback"].tolist() == space["feedback"].tolist() == ["Wrong sum.", "Fine."]
    assert rows["score"].tolist() == space["score"].tolist() == [1.0, 3.0]
    assert rows["row_id"].tolist() == space["row_id"].tolist() == ["q0", "q1"]
    assert rows["failing"].tolist() == space["failing"].tolist() == [True, False]


def test_our_judged_jsonl_with_failed_rows_still_loads(tmp_path: Path) -> None:
    records = [
        {"key": "k0", "row": 0, "id": "a", "feedback": "Wrong.", "score": 1, "status": "ok", "misattribution": ["typos"]},
        {"key": "k1", "row": 1, "id": "b", "feedback": None, "score": None, "status": "failed", "misattribution": None},
        {"key": "k2", "row": 2, "id": "c", "feedback": "Half.", "score": None, "status": "partial", "misattribution": []},
    ]  # fmt: skip
    path = _write(tmp_path, "judged.jsonl", "".join(json.dumps(r) + "\n" for r in records).encode())
    rows = load_judged(path)
    assert rows.attrs["n_null_scores"] == 2 and rows["failing"].tolist() == [True, False, False]
    every_row_failed = [dict(r, score=None, status="failed") for r in records]
    _write(tmp_path, "failed.jsonl", "".join(json.dumps(r) + "\n" for r in every_row_failed).encode())
    assert load_judged(tmp_path / "failed.jsonl")["score"].isna().all()  # a failed judgment is no input error


def test_label_cells_are_parsed_with_a_bound() -> None:
    assert parse_label_cell('["result_error", "typos"]') == ["result_error", "typos"]
    assert parse_label_cell("('a', 'b')") == ["a", "b"] and parse_label_cell("a; b, c") == ["a", "b", "c"]
    assert parse_label_cell('["a]b"]') == ["a]b"]  # brackets inside quotes do not count
    with pytest.raises(InputError, match=r"x\.csv: row 3, field 'm': brackets nested 1000 deep"):
        parse_label_cell(NESTED, "x.csv: row 3, field 'm'")
    with pytest.raises(InputError, match="a nested list"):
        parse_label_cell([["a"]], "x.jsonl: row 1, field 'm'")


def test_scales_are_inferred_from_known_scales_not_the_data() -> None:
    def infer(values: list[float]) -> tuple[float, float]:
        return infer_scale(pd.Series(values, dtype=float), "t", "score")

    assert infer([0, 1, 2, 3]) == (0.0, 3.0) and infer([0.1, 0.7]) == (0.0, 1.0)
    assert infer([1, 2, 4, 5]) == (1.0, 5.0) and infer([1.5, 7.0, 10.0]) == (1.0, 10.0)
    assert infer([0, 55, 100]) == (0.0, 100.0)
    scores = parse_scores(pd.Series(["1", " ", None, 2.5]), "t", "score")
    assert scores.tolist()[::3] == [1.0, 2.5] and scores.isna().sum() == 2


def test_one_alias_list_and_one_resolver() -> None:
    chosen = resolve_columns(["uid", "judgment", "grade", "model"], "t.csv", required=("feedback", "score"))
    assert (chosen["id"], chosen["feedback"], chosen["score"], chosen["system"]) == (
        "uid",
        "judgment",
        "grade",
        "model",
    )
    assert all(aliases[0] in (role, "row_id") for role, aliases in ALIASES.items())
    with pytest.raises(InputError, match=r"t\.csv: unknown column roles \['colour'\]"):
        resolve_columns(["a"], "t.csv", given={"colour": "a"})
    with pytest.raises(InputError, match=r"t\.csv: the mapped columns are not in the file \(score → 'pts'\)"):
        resolve_columns(["a"], "t.csv", given={"score": "pts"})


def test_read_table_row_limit_names_the_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "many.csv", _scores_csv([1] * 20))
    with pytest.raises(InputError, match=r"many\.csv: row 11: more than the 10 rows allowed"):
        read_table(path, max_rows=10)
    with pytest.raises(InputError, match=r"notes\.xlsx: cannot read \.xlsx"):
        read_table(_write(tmp_path, "notes.xlsx", b"PK"))


# -- agreement: scores off the 0-3 scale ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("judge", "human", "place"),
    [
        (
            [1, 2, 17],
            [1, 2, 3],
            r"column 'judge score': 1 score\(s\) outside the 'attridata-v1' taxonomy's scale 0-3 \(row 3: 17\)",
        ),
        ([1, 2, 3], [1, -1, 3], r"column 'human score': .*\(row 2: -1\)"),
        ([1, math.inf, 3], [1, 2, 3], r"column 'judge score': .*row 2 \(not a finite number"),
        ([1, 2, 3], [1, "3 points", 3], r"column 'human score': .*row 2 \(not a number: '3 points'\)"),
    ],
)
def test_agreement_refuses_scores_off_the_scale(judge: list, human: list, place: str) -> None:
    with pytest.raises(InputError, match=r"judged\.csv: " + place):
        agreement(judge, human, n_resamples=0, source="judged.csv")


def test_agreement_accepts_another_scale_only_when_given() -> None:
    report = agreement([1, 5, 3, 4], [2, 5, 3, 4], n_resamples=0, score_range=(1, 5))
    assert report["n"] == 4


def test_a_csv_separated_by_semicolons_reads_as_its_comma_twin(tmp_path: Path) -> None:
    """Spreadsheets write ';' where the decimal mark is the comma; its header has no comma."""
    rows = [["r0", "The sum is wrong.", 1], ["r1", "Correct.", 3]]
    comma = load_judged(_write(tmp_path, "comma.csv", _csv(rows)))
    semicolon = load_judged(_write(tmp_path, "semi.csv", _csv(rows).replace(b",", b";")))
    pd.testing.assert_frame_equal(comma, semicolon)
    assert semicolon["feedback"].tolist() == ["The sum is wrong.", "Correct."]


def test_every_row_failing_under_the_default_threshold_is_warned(tmp_path: Path, caplog) -> None:
    """Scores of 3 and 4 on 1-5 all fall below the top of the scale: a report of 100% failing rows is
    seldom meant, so the user is told how to set the threshold; a given threshold is not second-guessed."""
    rows = [[f"r{i}", "Fine." if i % 2 else "The sum is wrong.", 4 if i % 2 else 3] for i in range(12)]
    path = _write(tmp_path, "high.csv", _csv(rows + [["r12", "Great.", 5], ["r13", "Bad.", 1]]))
    path_all = _write(tmp_path, "all.csv", _csv(rows))
    with caplog.at_level("WARNING", logger="misattribution.discovery.inputs"):
        assert load_judged(path)["failing"].sum() == 13
        assert "every scored row fails" not in caplog.text  # one row passes
        assert load_judged(path_all)["failing"].all()
        assert "all.csv: every scored row fails" in caplog.text and "--fail-below" in caplog.text
        caplog.clear()
        assert load_judged(path_all, fail_below=0.7)["failing"].sum() == 6
        assert "every scored row fails" not in caplog.text


# -- the CLI: a non-zero exit, the place on stderr, nothing written ------------------------------------------
@pytest.mark.parametrize(
    "case",
    ["header_only_csv", "score_text", "score_off_scale", "score_all_empty", "invalid_utf8", "feedback_list",
     "feedback_all_empty"],
)  # fmt: skip
def test_cli_discover_exits_non_zero_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    from misattribution.cli import main

    name, data, place = BAD_TABLES[case]
    path = _write(tmp_path / "in", name, data)
    code = main(["discover", str(path), "-o", str(tmp_path / "bundle"), "--mode", "rules"])
    err = capsys.readouterr().err
    assert code != 0
    assert name in err and "Traceback" not in err
    assert not (tmp_path / "bundle").exists()
    _only(tmp_path / "in", name)


def test_cli_agreement_refuses_scores_off_the_scale(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from misattribution.cli import main

    path = _write(tmp_path, "judged.csv", b"id,score,human_score\na,1,1\nb,17,2\nc,3,3\n")
    out = tmp_path / "agreement.json"
    code = main(["agreement", str(path), "--human", "human_score", "-o", str(out), "--n-resamples", "0"])
    err = capsys.readouterr().err
    assert code != 0 and "judge score" in err and "row 2: 17" in err
    assert not out.exists()
