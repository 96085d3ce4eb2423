"""Tests for misattribution.data.build and the sample: reading, aggregation, split, build, write, load."""

from __future__ import annotations

import importlib.util
import json
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from misattribution.data.build import (
    PAPER_TEST_SIZE,
    aggregate,
    build_attridata,
    normalize_question,
    read_annotations,
    split_train_test,
)
from misattribution.data.schema import COLUMNS, attridata_features
from misattribution.data.validate import DataValidationError
from misattribution.taxonomy import load_taxonomy

TAX = load_taxonomy()
REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "src" / "misattribution" / "data" / "sample_data"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def item(i: str, **changes) -> dict:
    row = {
        "id": i,
        "question": f"Question {i}?",
        "answer": f"Answer {i}.",
        "reference": None,
        "instruction": None,
        "language": "en",
        "source": "test",
        "feedback": f"Feedback on {i}.",
    }
    return {**row, **changes}


def write_jsonl(path: Path, records: list, raw_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    for index, text in (raw_lines or {}).items():
        lines.insert(index, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# A hand-worked example: three annotators x, y, z (x in a CSV without annotator column, y in JSONL,
# z in Parquet) and an adjudication.
#   q1: 3 [] | 3 [] | 2 [typos]                 -> 3, [] (typos 1/3)
#   q2: 1 [result, process] | 1 [result] | 2 [result, typos] -> 1, [result_error]
#   q3: 1 [halluc] | 2 [halluc] | 3 []           -> three-way tie: the lowest, 1; [hallucination] (2/3)
#   q4: 2 [typos] | 1 [incorrect] | 3 []         -> no majority category: adjudicated to 2, [typos]
#   q5: 2 [typos, noisy] | 2 [typos]  (no z)      -> 2, [typos]; noisy chosen by exactly half: a tie
VOTES = {
    "q1": [(3, ""), (3, []), (2, ["typos"])],
    "q2": [(1, "Result Error;Process Error"), (1, ["result_error"]), (2, ["result_error", "typos"])],
    "q3": [(1, "Hallucination"), (2, ["hallucination"]), (3, [])],
    "q4": [(2, "Typos"), (1, ["incorrect_answers"]), (3, [])],
    "q5": [(2, "错别字；冗余噪声"), (2, ["typos"]), None],
}


@pytest.fixture()
def exports(tmp_path: Path) -> dict:
    folder = tmp_path / "exports"
    folder.mkdir()
    items = write_jsonl(folder / "items.jsonl", [item(i) for i in VOTES])
    x = pd.DataFrame([{"id": i, "score": v[0][0], "misattribution": v[0][1]} for i, v in VOTES.items()])
    x.to_csv(folder / "x.csv", index=False)
    write_jsonl(
        folder / "y.jsonl",
        [{"id": i, "annotator": "y", "score": v[1][0], "misattribution": v[1][1]} for i, v in VOTES.items()],
    )
    z = pd.DataFrame(
        [{"id": i, "annotator": "z", "score": v[2][0], "misattribution": v[2][1]} for i, v in VOTES.items() if v[2]]
    )
    z.to_parquet(folder / "z.parquet")
    adjudication = folder / "adjudication.csv"
    adjudication.write_text("id,score,misattribution\nq4,2,Typos\n", encoding="utf-8")
    return {
        "items": items,
        "annotation_paths": [folder / "x.csv", folder / "y.jsonl", folder / "z.parquet"],
        "adjudication": adjudication,
    }


# -- reading ---------------------------------------------------------------------------------------
def test_read_annotations_from_three_formats(exports: dict) -> None:
    frame = read_annotations(exports["annotation_paths"])
    assert list(frame.columns) == ["id", "annotator", "score", "misattribution", "file", "row"]
    assert sorted(frame["annotator"].unique()) == ["x", "y", "z"]  # x: the file stem
    by_key = {(r["id"], r["annotator"]): r for r in frame.to_dict("records")}
    assert by_key["q2", "x"]["misattribution"] == ["process_error", "result_error"]  # taxonomy order
    assert by_key["q5", "x"]["misattribution"] == ["typos", "noisy"]  # Chinese names, full-width ';'
    assert by_key["q1", "x"]["misattribution"] == [] and by_key["q1", "x"]["score"] == 3
    assert by_key["q4", "z"]["row"] == 3 and by_key["q4", "z"]["file"].endswith("z.parquet")


def test_read_annotations_lists_every_problem(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "ann.jsonl",
        [
            {"id": "a", "annotator": "p", "score": 5, "misattribution": []},
            {"id": "b", "annotator": "p", "score": 1, "misattribution": "Nonsense;Typos"},
            {"id": "b", "annotator": "p", "score": 1, "misattribution": ["typos"]},
            {"id": None, "annotator": "p", "score": 3, "misattribution": "无"},
        ],
        raw_lines={1: '{"id": "c", "score": '},
    )
    with pytest.raises(DataValidationError) as caught:
        read_annotations(path)
    # Row 3 is b's second rating, but the first (row 2) was invalid: no "rated twice" problem.
    found = sorted((p.row, p.field or "") for p in caught.value.problems)
    assert found == [(0, "score"), (1, ""), (2, "misattribution"), (4, "id")]
    text = str(caught.value)
    assert "ann.jsonl: row 1: line 2 is not valid JSON" in text
    assert "row 2 (id 'b'), field 'misattribution': unknown category 'Nonsense'" in text


# -- aggregation -----------------------------------------------------------------------------------
def test_aggregate_majority_ties_and_adjudication(exports: dict) -> None:
    annotations = read_annotations(exports["annotation_paths"])
    with pytest.warns(UserWarning) as caught:
        frame = aggregate(exports["items"], annotations, exports["adjudication"])
    assert list(frame.columns) == list(COLUMNS)
    rows = {r["id"]: r for r in frame.to_dict("records")}
    expected = {  # score, misattribution, primary, n, score agreement, set agreement, adjudicated
        "q1": (3, [], [], 3, 2 / 3, 2 / 3, False),
        "q2": (1, ["result_error"], ["reasoning_capability"], 3, 2 / 3, 1 / 3, False),
        "q3": (1, ["hallucination"], ["knowledge_ability"], 3, 1 / 3, 2 / 3, False),
        "q4": (2, ["typos"], ["response_quality"], 3, 1 / 3, 1 / 3, True),
        "q5": (2, ["typos"], ["response_quality"], 2, 1.0, 0.5, False),
    }
    for key, values in expected.items():
        row = rows[key]
        got = (row["score"], row["misattribution"], row["primary"], row["num_annotators"])
        assert got == values[:4], key
        assert row["score_agreement"] == pytest.approx(values[4]) and row["misattribution_agreement"] == pytest.approx(
            values[5]
        )
        assert row["adjudicated"] is values[6]
    message = str(caught[0].message)
    assert "id 'q3', field 'score': scores [1, 2, 3] tie (1 vote(s) each); took the lowest, 1" in message
    assert "id 'q5', field 'misattribution': category ['noisy'] chosen by exactly half (1 of 2)" in message
    assert "q4" not in message  # adjudicated: nothing to flag


def test_without_adjudication_the_majority_breaks_the_rule(exports: dict) -> None:
    with pytest.raises(DataValidationError) as caught:
        build_attridata(exports["items"], exports["annotation_paths"])
    assert len(caught.value.problems) == 1
    problem = caught.value.problems[0]
    assert (problem.source, problem.id, problem.field) == ("aggregated annotations", "q4", "misattribution")
    assert "score 1 is below 3 and needs a misattribution, got none" in problem.message
    assert "majority of 3 annotator(s) (x: 2 ['typos'], y: 1 ['incorrect_answers'], z: 3 [])" in problem.message
    result = build_attridata(exports["items"], exports["annotation_paths"], rule="warning")
    assert any(p.id == "q4" for p in result.validation.warnings)


# -- the broken export set -------------------------------------------------------------------------
def test_broken_exports_yield_every_problem_in_one_error_and_write_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    items = write_jsonl(
        folder / "items.jsonl",
        [
            item("i1"),
            item("i2", question=""),  # empty question
            item("i3", language="english"),  # bad language code
            item("i1", question="Another question?"),  # duplicate id
            {k: v for k, v in item("i5").items() if k != "feedback"},  # missing field
        ],
    )
    (folder / "ann_a.csv").write_text(
        "id,score,misattribution\n"
        "i1,7,\n"  # off-scale score
        "i2,1,Wrongness\n"  # unknown category
        "i3,3,\n"
        "i5,1,Typos\n",
        encoding="utf-8",
    )
    write_jsonl(
        folder / "ann_b.jsonl",
        [
            {"id": "i1", "annotator": "b", "score": 3, "misattribution": []},
            {"id": "i2", "annotator": "b", "score": 1, "misattribution": ["typos"]},
            {"id": "i3", "annotator": "b", "score": 3, "misattribution": ["typos"]},  # rule violation
            {"id": "i5", "annotator": "b", "score": 1, "misattribution": ["typos"]},
        ],
        raw_lines={2: '{"id": "i9", "annotator": "b", "score": 2,'},  # unparseable line
    )
    out_dir = tmp_path / "out"
    with pytest.raises(DataValidationError) as caught:
        build_attridata(items, [folder / "ann_a.csv", folder / "ann_b.jsonl"], out_dir=out_dir)
    error = caught.value
    expected = {
        ("items.jsonl", 1, "i2", "question", "empty"),
        ("items.jsonl", 2, "i3", "language", "'english' is not an ISO 639-1 code"),
        ("items.jsonl", 3, "i1", "id", "duplicate id (first at row 0)"),
        ("items.jsonl", 4, "i5", "feedback", "missing"),
        ("ann_a.csv", 0, "i1", "score", "7 is off the scale 0-3"),
        ("ann_a.csv", 1, "i2", "misattribution", "unknown category 'Wrongness'"),
        ("ann_b.jsonl", 3, "i3", "misattribution", "annotator 'b': the top score 3 must come with no misattribution"),
        ("ann_b.jsonl", 2, None, None, "line 3 is not valid JSON"),
    }
    found = {(Path(p.source).name, p.row, p.id, p.field) for p in error.problems}
    assert found == {key[:4] for key in expected}, str(error)
    text = str(error)
    for name, row, row_id, field, message in expected:
        problem = next(p for p in error.problems if (Path(p.source).name, p.row, p.field) == (name, row, field))
        assert message in problem.message
        assert str(problem) in text
        where = f"row {row}" + (f" (id {row_id!r})" if row_id else "") + (f", field {field!r}" if field else "")
        assert f"{name}: {where}: " in text
    assert not out_dir.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["broken"]  # no staging directory left behind


# -- split -----------------------------------------------------------------------------------------
def synthetic_frame(n: int, seed: int = 0, *, mixed_strata: bool = True) -> pd.DataFrame:
    """Rows in (primary, language) strata, with near-duplicate questions in groups of two to four.

    With ``mixed_strata`` the members of a group fall in random strata; otherwise in their first's.
    """
    rng = np.random.default_rng(seed)
    primaries = [*TAX.primary_ids, None]
    rows = []
    base = 0
    while len(rows) < n:
        size = int(rng.choice([1, 1, 1, 2, 4]))
        question = f"What is the value of item {base}?"
        variants = [
            question,
            question.upper(),
            f"  what is the value of  item {base}!!",
            unicodedata.normalize("NFKC", question) + "?",
        ]
        for k in range(size):
            if mixed_strata or k == 0:
                primary = primaries[int(rng.integers(len(primaries)))]
                language = "en" if rng.random() < 0.5 else "zh"
            rows.append({"question": variants[k % 4], "language": language, "primary": [primary] if primary else []})
        base += 1
    return pd.DataFrame(rows[:n])


def test_split_has_no_leakage_and_is_deterministic() -> None:
    frame = synthetic_frame(3000)
    train, test = split_train_test(frame, seed=1)
    assert sorted(train + test) == list(range(len(frame))) and not set(train) & set(test)
    keys = [normalize_question(q) for q in frame["question"]]
    test_keys = {keys[i] for i in test}
    assert not any(keys[i] in test_keys for i in train)
    assert (train, test) == split_train_test(frame, seed=1)
    assert test != split_train_test(frame, seed=2)[1]
    assert abs(len(test) - PAPER_TEST_SIZE * len(frame)) <= 15


def test_split_strata_get_their_share() -> None:
    frame = synthetic_frame(6000, seed=3, mixed_strata=False)
    _, test = split_train_test(frame, test_size=0.2, seed=0)
    chosen = pd.Series(False, index=frame.index)
    chosen.iloc[test] = True
    stratum = [((p[0] if p else "none"), lang) for p, lang in zip(frame["primary"], frame["language"])]
    shares = chosen.groupby(pd.Series(stratum, index=frame.index).astype(str)).mean()
    assert len(shares) == 14
    assert ((shares - 0.2).abs() < 0.01).all(), shares


def test_split_gives_rare_categories_test_rows() -> None:
    """A secondary category on 1% of the rows gets its test rows, whatever stratum its rows are in."""
    rng = np.random.default_rng(7)
    frame = synthetic_frame(2000, seed=5, mixed_strata=False)
    secondaries = list(TAX.secondary_ids)
    common, rare = secondaries[:-1], secondaries[-1]
    labels = [[common[int(rng.integers(len(common)))]] for _ in range(len(frame))]
    for position in rng.choice(len(frame), size=20, replace=False):
        labels[position] = [labels[position][0], rare]
    frame["misattribution"] = labels
    for seed in range(5):
        train, test = split_train_test(frame, test_size=0.1, seed=seed)
        in_test = sum(rare in frame["misattribution"].iat[i] for i in test)
        assert in_test >= 2, (seed, in_test)  # demand 0.1 x 20 = 2; a random split misses it often
        assert len(test) == 200 and sorted(train + test) == list(range(len(frame)))


def test_split_rejects_bad_sizes_and_keeps_cross_language_duplicates_together() -> None:
    frame = pd.DataFrame(
        {
            "question": ["Same?", "same", "other", "x", "y", "z"],
            "language": ["en", "zh", "en", "en", "en", "en"],
            "primary": [[]] * 6,
        }
    )
    for seed in range(10):
        train, test = split_train_test(frame, test_size=0.5, seed=seed)
        assert {0, 1} <= set(train) or {0, 1} <= set(test)
    with pytest.raises(ValueError, match="test_size"):
        split_train_test(frame, test_size=1.0)


# -- build and write -------------------------------------------------------------------------------
def test_build_writes_features_that_survive_parquet(exports: dict, tmp_path: Path) -> None:
    from datasets import load_dataset

    out_dir = tmp_path / "attridata"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the builder reports ties in the result, it does not warn
        result = build_attridata(**exports, test_size=0.4, out_dir=out_dir)
    features = attridata_features()
    assert result.dataset["train"].features == features and result.dataset["test"].features == features
    assert result.stats["n_items"] == 5 and result.stats["n_train"] + result.stats["n_test"] == 5
    assert result.stats["n_test"] == 2 and result.stats["n_adjudicated"] == 1 and result.stats["n_ties"] == 2
    assert {p.id for p in result.validation.warnings} == {"q3", "q5"}
    json.dumps(result.stats, allow_nan=False)
    assert sorted(p.relative_to(out_dir).as_posix() for p in result.written) == [
        "agreement.json",
        "data/test.parquet",
        "data/train.parquet",
    ]
    assert json.loads((out_dir / "agreement.json").read_text(encoding="utf-8")) == result.agreement
    files = {split: str(out_dir / "data" / f"{split}.parquet") for split in ("train", "test")}
    loaded = load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    for split in ("train", "test"):
        assert loaded[split].features == features
        assert loaded[split].to_list() == result.dataset[split].to_list()
    q4 = next(r for r in loaded["train"].to_list() + loaded["test"].to_list() if r["id"] == "q4")
    assert q4["adjudicated"] and features["misattribution"].feature.int2str(q4["misattribution"]) == ["typos"]


def test_build_into_an_existing_folder_keeps_other_files(exports: dict, tmp_path: Path) -> None:
    out_dir = tmp_path / "repo"
    (out_dir / "data").mkdir(parents=True)
    (out_dir / "README.md").write_text("card", encoding="utf-8")
    (out_dir / "data" / "train.parquet").write_text("stale", encoding="utf-8")
    build_attridata(**exports, out_dir=out_dir)
    assert (out_dir / "README.md").read_text(encoding="utf-8") == "card"
    assert (out_dir / "data" / "train.parquet").read_bytes()[:4] == b"PAR1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "repo"]


def test_build_script(exports: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_script("build_attridata")
    argv = ["--items", str(exports["items"]), "--annotations", *map(str, exports["annotation_paths"])]
    assert script.main([*argv, "--adjudication", str(exports["adjudication"]), "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr()
    assert "5 items:" in out.out and "Fleiss' kappa: score" in out.out and "wrote" in out.out
    assert "warning: aggregated annotations: id 'q3'" in out.err
    assert script.main(argv) == 2  # q4 is not adjudicated: refused input
    assert "id 'q4', field 'misattribution'" in capsys.readouterr().err


# -- the sample ------------------------------------------------------------------------------------
def test_sample_covers_every_category_five_times_in_each_language() -> None:
    from collections import Counter

    from misattribution.data.sample import load_sample

    sample = load_sample()
    names = sample["train"].features["misattribution"].feature.names
    counts: Counter[tuple[str, str]] = Counter()
    scores: Counter[tuple[str, int]] = Counter()
    for split in sample.values():
        for language, labels, score in zip(split["language"], split["misattribution"], split["score"]):
            counts.update((language, names[i]) for i in set(labels))
            scores[(language, score)] += 1
    assert len(list(SAMPLE_DIR.glob("rows_*.jsonl"))) == 4
    for language in ("en", "zh"):
        for category in TAX.secondary_ids:
            assert counts[(language, category)] >= 5, (language, category, counts[(language, category)])
        for level in TAX.scale.values:
            assert scores[(language, level)] >= 5, (language, level)
    assert sum(split.num_rows for split in sample.values()) >= 150


def test_load_sample_covers_every_category() -> None:
    from misattribution.data.sample import build_sample, load_sample, sample_paths

    sample = load_sample()
    assert sample["train"].features == attridata_features() and sample["test"].num_rows > 0
    names = sample["train"].features["misattribution"].feature.names
    seen = {names[i] for split in sample.values() for labels in split["misattribution"] for i in labels}
    assert seen == set(TAX.secondary_ids)
    # The test split alone holds every category too (the split balances secondary categories).
    in_test = {names[i] for labels in sample["test"]["misattribution"] for i in labels}
    assert in_test == set(TAX.secondary_ids)
    assert set(sample["train"]["language"]) == {"en", "zh"}
    result = build_sample()
    assert result.agreement["raters_per_item"] == 3 and result.stats["n_adjudicated"] > 0
    assert [p.suffix for p in sample_paths()["annotation_paths"]] == [".csv", ".jsonl", ".parquet"]


def test_sample_exports_are_derived_from_the_rows(tmp_path: Path) -> None:
    script = load_script("make_sample_exports")
    assert script.main(["--check"]) == 0, "stale exports: run scripts/make_sample_exports.py"
    assert script.main(["--out-dir", str(tmp_path / "again")]) == 0
    assert script.main(["--check", "--out-dir", str(tmp_path / "again")]) == 0  # deterministic
    header = (tmp_path / "again" / "ann_a.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,score,misattribution"  # no annotator column: the file stem is the annotator
