"""Rule-based detectors: one table of hand-written positives and negatives per detector, the mode, and
the reference-detector figure on clear_gsm8k (skipped when the data is absent)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from misattribution.discovery import compute_statistics
from misattribution.discovery.modes.rules import (
    DETECTORS,
    check_json_format,
    check_length,
    check_reference_mismatch,
    check_refusal,
    check_repetition,
    check_truncation,
    extract_choice,
    extract_final_answer,
    find_length_constraints,
    find_numbers,
    reference_choice,
    run_rules,
    same_number,
)

ROOT = Path(__file__).resolve().parents[1]
CLEAR_GSM8K = ROOT.parent / "shared" / "data" / "clear_gsm8k"


# -- numbers and final answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, values",
    [
        ("$1,250.50", [1250.5]),
        ("3/4 and 1 1/2", [0.75, 1.5]),
        ("16 - 3 = 13", [16, 3, 13]),
        ("x = -5", [-5]),
        ("50% of 8", [50, 8]),
        ("156kg, 6th place", [156, 6]),
        ("It costs .5 dollars", [0.5]),
        ("no digits here", []),
    ],
)
def test_find_numbers(text, values):
    assert [n.value for n in find_numbers(text)] == pytest.approx(values)


@pytest.mark.parametrize(
    "a, b, equal",
    [
        ("18", "18.00", True),
        ("18", "18.4", False),
        ("1/3", "0.33", True),
        ("33.333", "33.33", True),
        ("50%", "0.5", True),
    ],
)
def test_same_number(a, b, equal):
    assert same_number(find_numbers(a)[0], find_numbers(b)[0]) is equal


@pytest.mark.parametrize(
    "response, question, value, source",
    [
        ("So she makes 9 * $2 = $18 every day.", "", 18, "conclusion"),
        ("The answer is 1,250.", "", 1250, "marker"),
        ("We get \\boxed{\\frac{3}{4}}.", "", 0.75, "boxed"),
        ("Work... #### 72", "", 72, "####"),
        ("The answer is:\n\n$18", "", 18, "marker"),
        ("Final answer: Angela is 38 years old.", "", 38, "marker"),
        ("答案是 18 元。", "", 18, "marker"),
        # The conclusion states the result first, then restates the question's numbers.
        (
            "Therefore, 3 trucks will be needed to transport 80 flagstones.",
            "How many trucks for 80 flagstones?",
            3,
            None,
        ),
        ("So, 720 grams will last for 6 days.", "She has 720 grams of food.", 6, None),
        ("So, Tim has 10 shoeboxes left (6 red and 4 blue).", "", 10, None),
        ("So the total is 42. Note: this assumes 4 weeks per month.", "", 42, None),
        ("He is twenty years old.", "", 20, None),
    ],
)
def test_extract_final_answer(response, question, value, source):
    final = extract_final_answer(response, question)
    assert final is not None and final.value == pytest.approx(value)
    if source:
        assert final.source == source


def test_extract_final_answer_without_a_number():
    assert extract_final_answer("I am not sure.") is None


@pytest.mark.parametrize(
    "reference, letter",
    [
        ("B", "B"),
        ("(c) 42", "C"),
        ("B. Paris", "B"),
        ("Answer: D", "D"),
        ("#### A", "A"),
        ("42", None),
        ("A pair", None),
    ],
)
def test_reference_choice(reference, letter):
    assert reference_choice(reference) == letter


@pytest.mark.parametrize(
    "response, letter",
    [
        ("The answer is (B).", "B"),
        ("C) Paris", "C"),
        ("答案：D", "D"),
        ("\\boxed{A}", "A"),
        ("Option A is wrong; the correct answer is C.", "C"),
        ("The answer is a bit longer than that.", None),
    ],
)
def test_extract_choice(response, letter):
    assert extract_choice(response) == letter


# -- reference_mismatch -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, reference, question, flagged",
    [
        ("So, Janet makes $18 every day.", "16 - 3 - 4 = 9; 9 * 2 = 18\n#### 18", "", False),
        ("So, Janet makes $20 every day.", "#### 18", "", True),
        ("The answer is 1,250 dollars.", "#### 1,250", "", False),
        ("It is 3/4 of the cake.", "#### 0.75", "", False),
        ("He earns 18.4 dollars.", "#### 18", "", True),
        ("I do not know.", "#### 18", "", True),
        ("所以答案为20。", "#### 18", "", True),
        ("So he gets $1.80 back.", "Total 18.20; change 20 - 18.20 = $1.80.", "How much change does she get?", False),
        ("So he gets $2.80 back.", "Total 18.20; change 20 - 18.20 = $1.80.", "How much change does she get?", True),
        ("The answer is (B).", "B", "", False),
        ("The answer is (C).", "(B)", "", True),
        ("I think it is Paris.", "B. Paris", "", True),
        # Free-text references whose numbers are not answers are not checkable.
        ("Mars has two moons.", "Two: Phobos and Deimos, discovered in 1877.", "How many moons has Mars?", False),
        ("Use s[::-1].", "s[::-1] (or ''.join(reversed(s))).", "How can I reverse a string?", False),
        ("Paris", "Paris", "", False),
        ("anything", None, "", False),
        # A multi-part reference is matched by a conclusion that gives every part.
        ("答案依次是：3050、2.25、45。", "(1) 3050；(2) 2.25；(3) 45。", "正确答案分别是多少？", False),
    ],
)
def test_reference_mismatch(answer, reference, question, flagged):
    evidence = check_reference_mismatch(answer, reference, question)
    assert (evidence is not None) is flagged, evidence


def test_reference_mismatch_evidence_names_both_answers():
    evidence = check_reference_mismatch("Therefore, he pays $64.", "#### 60")
    assert "$64" in evidence and "60" in evidence and "conclusion" in evidence


# -- truncation, repetition, refusal ------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, flagged",
    [
        ("First add 3 and 4. Then we multiply the result by", True),
        ("```python\nprint(1)\n", True),
        ("Steps:\n1. Mix.\n2.", True),
        ("The total is 3 +", True),
        ("Here is the list:", True),
        ("Presidents:\n1. Washington (1789–1797)\n2. Adams (1797–18", True),
        ("Tips:\n- Sleep well.\n- Drink water.\n- Keep the room cool and an eye mask can", True),
        ("Tips:\n- Sleep well.\n- Drink water.\n- A free homework club", True),
        ("我们先计算总数。然后把结果乘以", True),
        ("He went to the store. Then he bought some milk and then he went home to rest", True),
        ("Total: 3 + 4 = 7", False),
        ("Final answer: Angela is 38 years old", False),
        ("Done. All good.\n\n---", False),
        ("```python\nprint(1)\n```", False),
        ("# Title\nSome text.\n| a | b |", False),
        ("Thank you", False),
        ("首先计算总数。所以答案是18", False),
        ("", False),
    ],
)
def test_truncation(answer, flagged):
    assert (check_truncation(answer) is not None) is flagged, check_truncation(answer)


@pytest.mark.parametrize(
    "answer, flagged",
    [
        ("The sky is blue. The sky is blue. The sky is blue. Grass is green.", True),
        ("Elements are pure. I hope this helps! I hope this helps! Bye now.", True),
        ("the cat sat on the mat and " * 10, True),
        ("这是一个测试句子，" * 10, True),
        (
            "Water boils at one hundred degrees Celsius at sea level because the vapour pressure of the liquid "
            "then equals the pressure of the air above it, so bubbles can form inside.\n\nIn other words, water "
            "boils at one hundred degrees Celsius at sea level because the vapour pressure of the liquid then "
            "equals the pressure of the air above it.",
            True,
        ),
        ("Step 1: add. Step 2: add. Step 3: add. Result is 5.", False),
        ("I like it. Other stuff here. I like it. And more.", False),
        ("```\nx = 1\nx = 1\nx = 1\nx = 1\n```\nThe code sets x three times over.", False),
        ("A short, clean answer with no repetition at all.", False),
    ],
)
def test_repetition(answer, flagged):
    assert (check_repetition(answer) is not None) is flagged, check_repetition(answer)


@pytest.mark.parametrize(
    "answer, flagged",
    [
        ("I'm sorry, but I can't help with that request.", True),
        ("I cannot provide instructions for making weapons.", True),
        ("I'm sorry, but I can't solve homework problems for you.", True),
        ("As an AI language model, I don't have personal opinions.", True),
        ("I must decline this request.", True),
        ("抱歉，我无法提供这方面的帮助。", True),
        ("对不起，我不能回答这个问题。", True),
        ("很抱歉，这个问题比较敏感，我不方便展开讨论。", True),
        ("作为一个AI，我没有个人观点。", True),
        # Hedges followed by an answer are not refusals.
        ("I can't be sure, but the capital is most likely Canberra.", False),
        ("I'm sorry, but I can't be certain of this; it is about 5 million.", False),
        ("I can't help but notice the pattern: 2, 4, 8, so the next is 16.", False),
        ("我不能确定，但答案大概是5。", False),
        (
            "I can't provide medical advice, but here are some general tips that many people find helpful: drink "
            "water, sleep well, exercise regularly, eat vegetables, avoid stress, and see a doctor when symptoms "
            "persist for more than a week.",
            False,
        ),
        ("Sure! Here's the poem you asked for.", False),
        ("", False),
    ],
)
def test_refusal(answer, flagged):
    assert (check_refusal(answer) is not None) is flagged, check_refusal(answer)


# -- length and JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "instruction, answer, flagged",
    [
        ("Summarise in 50 words.", "word " * 50, False),
        ("Summarise in 50 words.", "word " * 80, True),
        ("Answer in under 100 words.", "w " * 100, True),
        ("Answer in under 100 words.", "w " * 99, False),
        ("Answer in 3 sentences.", "One. Two. Three.", False),
        ("Answer in 3 sentences.", "One. Two.", True),
        ("Explain in one sentence.", "It is. It was.", True),
        ("Write at least 200 words.", "w " * 50, True),
        ("Write between 10 and 20 words.", "w " * 15, False),
        ("Write a 100-word summary.", "w " * 30, True),
        ("Write 3 paragraphs, each under 5 words.", "a b c.\n\nd e.\n\nf g h i j k.", True),
        ("Write 3 paragraphs, each under 5 words.", "a b c.\n\nd e.\n\nf g.", False),
        ("请用不超过20字回答。", "这是一个很长的回答，超过了二十个字的限制，真的非常非常长。", True),
        ("请在100字以内回答", "好的。", False),
        ("用三句话介绍北京。", "北京是首都。北京很大。北京有故宫。", False),
        ("每条广告语不超过12个字（含标点）。", "1. 零糖也浓醇，一口就爱上\n2. 少一份甜，多一份健康好生活", True),
        ("每条广告语不超过12个字（含标点）。", "1. 零糖也浓醇，一口就爱上\n2. 每天一杯，轻盈无负担", False),
        ("The user asked for an introduction of about 300 words.", "w " * 120, True),
        ("How fast is 300 words per minute?", "w", False),
    ],
)
def test_length(instruction, answer, flagged):
    assert (check_length(answer, instruction) is not None) is flagged, check_length(answer, instruction)


@pytest.mark.parametrize(
    "question",
    [
        "Toby can read at a rate of 300 words per minute. How long does the book take?",
        "Mark edits a total number of 1000 sentences each week. How much does he make?",
        "Jared types 47 words per minute. What is his average?",
    ],
)
def test_length_ignores_stories_in_questions(question):
    assert check_length("Short answer.", "", question) is None


def test_length_constraints_are_parsed():
    (constraint,) = find_length_constraints("Summarise it in under 100 words.")
    assert (constraint.unit, constraint.kind, constraint.count) == ("word", "max_strict", 100)
    zh = find_length_constraints("请用三句话回答，不超过一百字")
    assert [(c.unit, c.kind, c.count) for c in zh] == [("sentence", "loose", 3), ("character", "max", 100)]


@pytest.mark.parametrize(
    "instruction, answer, flagged",
    [
        ("Return JSON.", '{"a": 1}', False),
        ("Return the result as a JSON object.", '```json\n{"a": 1}\n```', False),
        ("Return JSON.", '```json\n{"a": 1,}\n```', True),
        ("Output the result as a JSON object.", "Here it is: {'a': 1}", True),
        ("Output in JSON format", 'Sure: {"a": 1} done', True),
        ("以JSON格式输出", "不是json", True),
        ("What is JSON?", "not json", False),
        ("Explain the difference between JSON and XML.", "JSON is lighter.", False),
    ],
)
def test_json_format(instruction, answer, flagged):
    assert (check_json_format(answer, instruction) is not None) is flagged


# -- the mode -----------------------------------------------------------------------------------------


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": ["ok", "wrong", "cut", "loop", "no", "long", "json"],
            "score": [3, 1, 1, 1, 0, 2, 1],
            "score_norm": [1.0, 0.33, 0.33, 0.33, 0.0, 0.67, 0.33],
            "failing": [False, True, True, True, True, True, True],
            "system": "default",
            "question": ["2+2?", "2+3?", "Explain.", "Describe.", "Help me.", "Describe Paris.", "Give data."],
            "instruction": [None, None, None, None, None, "Answer in at most 5 words.", "Return JSON."],
            "answer": [
                "So the answer is 4.",
                "So the answer is 6.",
                "First we add the numbers. Then we divide the result by",
                "I like it. I like it. I like it. I like it.",
                "I'm sorry, but I can't help with that.",
                "Paris is a large and beautiful city in France.",
                "{'a': 1}",
            ],
            "reference": ["#### 4", "#### 5", None, None, None, None, None],
            "feedback": ["Fine.", "Wrong sum.", "Cut off.", "Loops.", "Refuses.", "Too long.", "Bad JSON."],
        }
    )


def test_run_rules_assigns_each_row_to_its_detector():
    rows = _rows()
    issues, assignments = run_rules(rows)
    by_provenance = {i.provenance: i for i in issues}
    expected = {
        "rule:reference_mismatch": ["wrong"],
        "rule:truncation": ["cut"],
        "rule:repetition": ["loop"],
        "rule:refusal": ["no"],
        "rule:length_inconsistency": ["long"],
        "rule:format_json": ["json"],
    }
    assert set(by_provenance) == set(expected)
    for provenance, row_ids in expected.items():
        issue = by_provenance[provenance]
        got = assignments.loc[assignments["issue_id"] == issue.id, "row_id"].tolist()
        assert got == row_ids, provenance
        assert issue.examples == row_ids
    assert list(assignments.columns) == ["row_id", "issue_id", "evidence"]
    assert assignments["evidence"].str.len().min() > 5
    ranked = compute_statistics(rows, assignments, issues, n_resamples=50)
    assert all(i.count == 1 for i in ranked)


def test_run_rules_subset_keep_empty_and_stable_ids():
    rows = _rows()
    issues, assignments = run_rules(rows.iloc[:1], ["truncation", DETECTORS["refusal"]], keep_empty=True)
    assert [i.provenance for i in issues] == ["rule:truncation", "rule:refusal"]
    assert assignments.empty and list(assignments.columns) == ["row_id", "issue_id", "evidence"]
    again, _ = run_rules(rows, ["truncation"])
    assert again[0].id == issues[0].id  # the same detector keeps its id across runs


def test_rules_mode_plugs_into_discover():
    from misattribution.discovery import discover

    report = discover(_rows(), mode="rules", progress=False)
    assert {i.provenance for i in report.issues} == {d.provenance for d in DETECTORS.values()}
    assert all(i.count == 1 for i in report.issues)


def test_run_rules_without_text_columns():
    rows = pd.DataFrame({"row_id": [1, 2], "answer": ["I can't help with that, sorry.", float("nan")]})
    issues, assignments = run_rules(rows)
    assert assignments.empty or set(assignments["row_id"]) <= {"1", "2"}


# -- the figure on clear_gsm8k ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bench():
    """benchmarks/bench_reference_detector.py, imported as a module (its figures are the ones tested)."""
    spec = importlib.util.spec_from_file_location(
        "bench_reference_detector", ROOT / "benchmarks" / "bench_reference_detector.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (CLEAR_GSM8K / "results.parquet").is_file(), reason="clear_gsm8k is not on this machine")
def test_reference_detector_on_clear_gsm8k(bench):
    figures = bench.evaluate(CLEAR_GSM8K)
    assert figures["rows"] == 1317 and figures["d1"] == 299
    # CLEAR's own figure, recomputed from recurring_issues_str.
    assert figures["clear_recall_d1"] == pytest.approx(0.318, abs=0.001)
    assert figures["clear_precision_d1"] == pytest.approx(0.594, abs=0.001)
    assert figures["recall_d2"] >= 0.90 and figures["precision_d2"] >= 0.80
    assert figures["precision_d1"] >= 0.80
    # The goal, against D1 adjudicated by hand on every row where D1 and the detector disagree.
    assert figures["unadjudicated_disagreements"] == []
    assert figures["adjudicated"] == 121 and figures["d3"] == 183
    assert figures["recall_d3"] >= 0.90 and figures["precision_d3"] >= 0.80
    # Every response the README's definition calls wrong and the detector does not is a correct answer
    # whose conclusion goes on to another number.
    assert "other" not in figures["missed_by_kind"]


@pytest.mark.skipif(not (CLEAR_GSM8K / "results.parquet").is_file(), reason="clear_gsm8k is not on this machine")
def test_adjudication_file_matches_the_data(bench):
    """Each hand verdict is about the row it names: D1's last number and the reference are the data's."""
    rows = bench.load_rows(CLEAR_GSM8K).set_index("row_id")
    table = bench.load_adjudication()
    assert len(table) == 121 and set(table.index) <= set(rows.index)
    for question_id, entry in table.iterrows():
        row = rows.loc[question_id]
        assert bench.readme_last_number(row["answer"]) == float(entry["last_number"]), question_id
        assert row["reference"].split("####")[-1].strip().replace(",", "") == entry["reference"], question_id
        if entry["verdict"] == "correct" and entry["stated_answer"] == entry["reference"]:
            # A "right after all" verdict: the stated answer is in the response's conclusion.
            assert any(n.value == float(entry["reference"]) for n in bench.conclusion_numbers(row["answer"])), (
                question_id
            )
