"""Pairwise grading end to end: the parser's verdict table, the prompt, reading pairs, the CLI judge (both
orders, garbage and stalls from a loopback server, resume) and agreement against a hand computation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from misattribution.cli import main
from misattribution.data.agreement import cohen_kappa
from misattribution.evaluation import pairwise_agreement, pairwise_report
from misattribution.format import FORMAT_HEADINGS, parse_pairwise, parse_verdict, render_pairwise_target
from misattribution.io.tables import InputError
from misattribution.judges.openai_http import OpenAIHTTPJudge
from misattribution.pairwise import judge_pairs, parse_preference, read_pair_results, read_pairs, reconcile
from misattribution.prompts import build_pairwise_messages
from misattribution.testing.fake_openai import FakeOpenAIServer

FIXTURE = Path(__file__).parent / "fixtures" / "pairwise" / "pairs.jsonl"
GARBAGE = "I could go either way here; both have merits and flaws."

# The scripted judge: for each pair, its verdict when shown (A, B) and its verdict *as written* when shown
# (B, A) -- there its "A" is the fixture's response B. p10's swapped output is unreadable.
SCRIPT = {
    "p01": ("A", "B"), "p02": ("B", "A"), "p03": ("tie", "tie"), "p04": ("A", "A"), "p05": ("B", "A"),
    "p06": ("A", "B"), "p07": ("B", "A"), "p08": ("B", "A"), "p09": ("A", "B"), "p10": ("B", None),
    "p11": ("A", "B"), "p12": ("A", "B"), "p13": ("B", "B"), "p14": ("A", "B"), "p15": ("B", "A"),
    "p16": ("tie", "tie"), "p17": ("A", "A"), "p18": ("A", "B"), "p19": ("A", "B"), "p20": ("B", "A"),
    "p21": ("A", "B"),
}  # fmt: skip
# How the judge writes its verdict, cycled over the pairs: every form the parser must read.
FORMS = [
    "Feedback: {fb}\nBetter response: {v}\nMisattribution: {m}",
    "**Feedback**: {fb}\n**Winner**: Response {v}\n**Misattribution**: {m}",
    "Feedback: {fb}\nMisattribution: {m}\n[RESULT] {v}",
    '{{"feedback": "{fb}", "verdict": "{v}", "misattribution": "{m}"}}',
    "反馈：{fb}\n更好的回答：{v}\n错误归因：{m}",
    "## Feedback\n{fb}\n## Verdict\n({v})\n## Misattribution\n- {m}",
]


def load_fixture() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def scripted_judge(messages: list[dict]) -> str:
    """The output SCRIPT gives for the pair and order in ``messages``."""
    user = messages[-1]["content"]
    question = user.split("### Question\n", 1)[1].split("\n\n", 1)[0]
    first = user.split("### Response A\n", 1)[1].split("\n\n### Response B", 1)[0]
    pairs = {row["question"]: row for row in load_fixture()}
    row = pairs[question]
    order = "AB" if first == row["response_a"] else "BA"
    verdict = SCRIPT[row["id"]][0 if order == "AB" else 1]
    if verdict is None:
        return GARBAGE
    form = FORMS[int(row["id"][1:]) % len(FORMS)]
    if verdict == "tie":
        form = form.replace("Response {v}", "{v}")
    misattribution = "None" if verdict == "tie" else "Result Error"
    return form.format(fb="One response gets the fact wrong.", v=verdict, m=misattribution)


# -- the parser ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "verdict", "status"),
    [
        ("Feedback: B is wrong.\nBetter response: A\nMisattribution: Result Error", "A", "ok"),
        ("Feedback: x\nWinner: Response B\nMisattribution: Typos", "B", "ok"),
        ("Feedback: x\nMisattribution: Result Error\n[RESULT] A", "A", "ok"),
        ("Feedback: x. [RESULT] B\nMisattribution: Result Error", "B", "ok"),
        ("Feedback: x\nVerdict: tie\nMisattribution: None", "tie", "ok"),
        ("Feedback: x\nVerdict: Tie (both are equally good)\nMisattribution: None", "tie", "ok"),
        ("Feedback: x\nVerdict: **Assistant A** is better\nMisattribution: Result Error", "A", "ok"),
        ("Feedback: x\nPreferred: (b)\nMisattribution: Result Error", "B", "ok"),
        ("反馈：B 算错了。\n更好的回答：回答A\n错误归因：结果错误", "A", "ok"),
        ("反馈：一样好。\n更好的回答：平局\n错误归因：无", "tie", "ok"),
        ('{"feedback": "x", "winner": "A", "misattribution": ["result_error"]}', "A", "ok"),
        ("<think>A? B?</think>Feedback: x\nBetter response: B\nMisattribution: Process Error", "B", "ok"),
        # clear failures: never a guessed verdict
        ("Feedback: x\nBetter response: A or B\nMisattribution: Result Error", None, "partial"),
        ("Feedback: x\nBetter response: C\nMisattribution: Result Error", None, "partial"),
        ("Feedback: x\nBetter response: a close call\nMisattribution: None", None, "partial"),
        (
            "Feedback: x\nBetter response: Both are wrong, but A is closer\nMisattribution: Result Error",
            None,
            "partial",
        ),
        ("Feedback: x\nBetter response: Tie (A and B are equally good)\nMisattribution: None", "tie", "ok"),
        ("Feedback: x\nMisattribution: Result Error", None, "partial"),
        (GARBAGE, None, "failed"),
        ("", None, "failed"),
        ("Better response: <A, B or tie>", None, "failed"),  # the prompt's own placeholder
    ],
)
def test_verdict_table(text, verdict, status):
    judgment = parse_pairwise(text)
    assert (judgment.verdict, judgment.status) == (verdict, status), judgment.problems
    if verdict is None and status == "partial" and "Better response:" in text:
        assert any(p.startswith("verdict: ") for p in judgment.problems)


def test_misattribution_is_read_as_in_absolute_mode():
    judgment = parse_pairwise("Feedback: x\nBetter response: A\nMisattribution: Reasoning Capability - 结果错误; typos")
    assert judgment.misattribution == ["typos", "result_error"] and judgment.status == "ok"
    unknown = parse_pairwise("Feedback: x\nBetter response: A\nMisattribution: Vibes")
    assert unknown.misattribution is None and unknown.status == "partial"


def test_render_round_trips_and_an_echoed_prompt_reads_as_nothing():
    for language in ("en", "zh"):
        for verdict in ("A", "B", "tie"):
            text = render_pairwise_target("B adds wrongly.", verdict, ["result_error"], language=language)
            judgment = parse_pairwise(text)
            assert (judgment.verdict, judgment.misattribution, judgment.status) == (verdict, ["result_error"], "ok")
        system = build_pairwise_messages("q", "a", "b", language=language)[0]["content"]
        assert FORMAT_HEADINGS[language] in system
        echoed = parse_pairwise(system)
        assert echoed.verdict is None and echoed.status == "failed"


def test_parse_verdict_names_why():
    assert parse_verdict("Response A is better than response B") == ("A", None)
    assert parse_verdict("A/B")[0] is None and "both" in parse_verdict("A/B")[1]


# -- the prompt ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["en", "zh"])
def test_pairwise_prompt_sections(language):
    messages = build_pairwise_messages(
        "What is 3 x 4?",
        "12",
        "14",
        reference="12",
        criteria="Exact arithmetic.",
        rubric="3: a\n2: b\n1: c\n0: d",
        language=language,
    )
    system, user = messages[0]["content"], messages[1]["content"]
    assert ("Result Error" if language == "en" else "结果错误") in system  # the taxonomy
    assert ("Partially correct" if language == "en" else "部分正确") in system  # the scale
    heading_a, heading_b = ("### Response A", "### Response B") if language == "en" else ("### 回答 A", "### 回答 B")
    assert (
        user.index("Exact arithmetic.") < user.index("- 3") < user.index("12\n\n" + heading_a) < user.index(heading_b)
    )
    assert user.endswith(f"{heading_b}\n14")
    no_reference = build_pairwise_messages("q", "a", "b", language=language)[1]["content"]
    assert "###" in no_reference and ("Reference" not in no_reference and "参考" not in no_reference)


# -- reading pairs ------------------------------------------------------------------------------------------
def test_pairs_are_found_by_their_aliases(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps({"prompt": "2 + 2?", "chosen": "4", "rejected": "5", "label": "A"}) + "\n")
    _, _, roles = read_pairs(path)
    assert (roles["question"], roles["answer_a"], roles["answer_b"], roles["preference"]) == (
        "prompt", "chosen", "rejected", "label",
    )  # fmt: skip


def test_bad_pairs_name_file_row_and_field(tmp_path):
    rows = [
        {"question": "q1", "response_a": "a", "response_b": None, "rubric": "3: a 2: b 1: c 0: d", "winner": "A"},
        {"question": "q2", "response_a": "a", "response_b": "b", "rubric": "1: a 2: b 3: c 4: d 5: e", "winner": "B"},
        {"question": "q3", "response_a": "a", "response_b": "b", "rubric": None, "winner": "C"},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"pairs\.jsonl: 1 problem\(s\):\n  row 1, field 'response_b': missing"):
        read_pairs(path)
    rows[0]["response_b"] = "b"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"row 2, field 'rubric': levels 1, 2, 3, 4, 5 do not match the scale 0-3"):
        read_pairs(path)
    rows[1]["rubric"] = {"3": "a", "2": "b", "1": "c", "0": "d"}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"column 'winner': 1 value\(s\) are not A, B or tie: row 3: 'C'"):
        read_pairs(path)
    with pytest.raises(InputError, match=r"missing required column\(s\) answer_b"):
        read_pairs([{"question": "q", "response_a": "a"}])


def test_human_preferences_are_strict():
    assert [parse_preference(v) for v in ("a", "B", "tie", "model_a", "tie (bothbad)", "", 0)] == [
        "A", "B", "tie", "A", "tie", None, "tie",
    ]  # fmt: skip
    with pytest.raises(InputError, match="'better' is not a preference"):
        parse_preference("better")


# -- position bias ------------------------------------------------------------------------------------------
def test_reconcile_rules():
    ok = {"verdict": "A", "feedback": "f", "misattribution": ["typos"], "status": "ok", "problems": []}
    agree = reconcile(ok, {**ok, "verdict": "B"})  # as (B, A) it prefers its B: our A
    assert (agree["verdict"], agree["consistent"], agree["misattribution"]) == ("A", True, ["typos"])
    flip = reconcile(ok, {**ok, "verdict": "A"})  # prefers whatever comes first
    assert (flip["verdict"], flip["consistent"], flip["misattribution"]) == ("tie", False, None)
    assert any("position-inconsistent" in p for p in flip["problems"])
    unread = reconcile(ok, {"verdict": None, "status": "failed", "problems": ["no field label found"]})
    assert (unread["verdict"], unread["status"], unread["consistent"]) == (None, "partial", None)
    error = reconcile(ok, {"verdict": None, "status": "error", "error": "timeout"})
    assert (error["verdict"], error["status"]) == (None, "error")
    assert reconcile(ok)["verdict"] == "A" and reconcile(ok)["consistent"] is None


# -- the CLI, end to end, against the hand computation --------------------------------------------------------
HAND = {
    # 21 pairs, 20 with a human preference (p21 has none). Final verdicts (both orders reconciled):
    # p04, p13, p17 flip with the order -> tie; p10's (B, A) output is unreadable -> no verdict.
    # human \ judge      A  B  tie
    #   A (9)            7  1  1      p01 p06 p11 p12 p14 p18 p19 | p07 | p04
    #   B (7, p10 out)   0  5  2      p02 p05 p08 p15 p20 | p13 p17
    #   tie (3)          1  0  2      p09 | p03 p16
    "n_pairs": 21,
    "n_labelled": 20,
    "n": 19,
    "n_unread": 1,  # p10
    "accuracy": 14 / 19,  # the diagonal: 7 + 5 + 2
    "accuracy_ties_half": (14 + 0.5 * 4) / 19,  # p04, p13, p17 (judge tie) and p09 (human tie) count half
    "n_without_ties": 13,  # 19 minus the six pairs with a tie on either side
    "accuracy_without_ties": 12 / 13,  # only p07 is wrong
    # p_o = 14/19; marginals human (9, 7, 3), judge (8, 6, 5): p_e = (72 + 42 + 15) / 361 = 129/361
    # kappa = (266/361 - 129/361) / (232/361) = 137/232
    "cohen_kappa": 137 / 232,
    "position_consistency": 17 / 20,  # 20 pairs read in both orders (not p10); p04, p13, p17 flip
    "n_position_checked": 20,
    "human_ties": 3,
    "judge_ties": 5,
    "confusion": {"A": {"A": 7, "B": 1, "tie": 1}, "B": {"A": 0, "B": 5, "tie": 2}, "tie": {"A": 1, "B": 0, "tie": 2}},
}


def _judge_args(url: str, out: Path, *extra: str) -> list[str]:
    return [
        "judge", str(FIXTURE), "--mode", "pairwise", "--endpoint", url, "--served-model", "fake-judge",
        "-o", str(out), "--quiet", "--timeout", "60", "--max-retries", "4", *extra,
    ]  # fmt: skip


def test_cli_both_orders_with_garbage_and_stalls_matches_the_hand_computation(tmp_path, capsys):
    out = tmp_path / "judged.jsonl"
    with FakeOpenAIServer(responder=scripted_judge) as server:
        server.inject("garbage", times=2)  # HTTP 200 that is not JSON: retried
        server.inject("stall", times=1, match=lambda body: "What is 9 + 10?" in json.dumps(body))  # timed out, retried
        server.inject("drop", times=1)
        # a 3 s timeout ends the stall; at machine load 10 an ordinary request may time out too and is retried
        code = main(
            _judge_args(server.url, out, "--both-orders", "--export", str(tmp_path / "judged.csv"), "--timeout", "3")
        )
        captured = capsys.readouterr()
        faults = [r.fault for r in server.chat_requests]
    assert code == 1, captured.err  # p10 has no verdict
    assert "1 of 21 pairs have no verdict" in captured.err and "could not be read" in captured.err
    assert "verdicts          A 9, B 6, tie 5, none 1" in captured.out  # HAND's judge column, plus p21 (an A)
    assert "position-consistent 17 of 20" in captured.out
    assert faults.count("garbage") == 2 and faults.count("stall") == 1 and faults.count("drop") == 1
    assert faults.count(None) >= 42  # every pair in both orders (more only if a slow answer timed out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 42 and {r["order"] for r in records} == {"AB", "BA"}
    assert all(r["input"]["winner"] is not None for r in records)  # the human preference travels along
    meta = json.loads(out.with_name(out.name + ".meta.json").read_text())
    assert meta["config"]["mode"] == "pairwise" and meta["order"] == ["feedback", "verdict", "misattribution"]

    for results in (out, tmp_path / "judged.csv"):  # the results file and the export agree
        code = main(["agreement", str(results), "--mode", "pairwise", "--human", "winner"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        report = json.loads(Path(f"{results}.agreement.json").read_text())
        for key, value in HAND.items():
            assert report[key] == (pytest.approx(value, abs=1e-12) if isinstance(value, float) else value), key
        assert re.search(r"Cohen's kappa over A / B / tie +0\.5905\n", captured.out)


def test_agreement_with_a_separate_human_file(tmp_path, capsys):
    out = tmp_path / "judged.jsonl"
    with FakeOpenAIServer(responder=scripted_judge) as server:
        assert main(_judge_args(server.url, out)) == 0  # one order: every (A, B) output is readable
    human = tmp_path / "human.csv"
    pd.DataFrame([{"id": r["id"], "label": r["winner"]} for r in load_fixture()][::-1]).to_csv(human, index=False)
    assert main(["agreement", str(out), "--mode", "pairwise", "--human", str(human), "--on", "id"]) == 0
    report = json.loads(Path(f"{out}.agreement.json").read_text())
    # one order: the (A, B) verdicts as scripted; human A: 8 right (p07 B); B: p17 A, the other 7 B;
    # tie: p03, p16 right, p09 A. Exact: 8 + 7 + 2 = 17 of 20.
    assert (report["n"], report["accuracy"], report["n_position_checked"]) == (20, 17 / 20, 0)
    assert report["position_consistency"] is None
    capsys.readouterr()


def test_resume_retries_only_failed_generations_and_adds_the_second_order(tmp_path, capsys):
    out = tmp_path / "judged.jsonl"
    with FakeOpenAIServer(responder=scripted_judge) as server:
        server.inject("error_400", times=None, match=lambda body: "hexagon" in json.dumps(body))  # not retried
        assert main(_judge_args(server.url, out)) == 1
        assert "1 had a generation fail; rerun the same command to retry them" in capsys.readouterr().err
        server.clear_faults()
        server.reset()
        assert main(_judge_args(server.url, out)) == 0
        assert len(server.chat_requests) == 1  # only the failed pair
        server.reset()
        assert main(_judge_args(server.url, out, "--both-orders")) == 1  # p10's swapped output is garbage
        assert len(server.chat_requests) == 21  # only the (B, A) prompts: the (A, B) ones are reused
        server.reset()
        assert main(_judge_args(server.url, out, "--both-orders")) == 1
        assert len(server.chat_requests) == 0  # an unreadable output is kept, not asked again
    capsys.readouterr()
    judged = read_pair_results(out)
    assert len(judged) == 21 and judged["verdict"].isna().sum() == 1


def test_resume_refuses_an_absolute_results_file(tmp_path, capsys):
    out = tmp_path / "judged.jsonl"
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"question": "2 + 2?", "answer": "4"}) + "\n")
    with FakeOpenAIServer() as server:
        assert (
            main(["judge", str(rows), "--endpoint", server.url, "--served-model", "m", "-o", str(out), "--quiet"]) == 0
        )
        code = main(_judge_args(server.url, out))
    err = capsys.readouterr().err
    assert code == 2 and "written by another judge config" in err and "mode" in err and "Traceback" not in err


def test_cli_bad_input_is_one_line_naming_the_row(tmp_path, capsys):
    path = tmp_path / "pairs.csv"
    path.write_text("question,response_a,response_b,winner\nq1,a,b,A\nq2,a,b,maybe\n")
    with FakeOpenAIServer() as server:
        code = main(
            _judge_args(server.url, tmp_path / "o.jsonl")[:1]
            + [str(path)]
            + _judge_args(server.url, tmp_path / "o.jsonl")[2:]
        )
        requests = len(server.chat_requests)
    err = capsys.readouterr().err
    assert code == 2 and requests == 0 and "Traceback" not in err
    assert re.search(r"pairs\.csv: column 'winner': 1 value\(s\) are not A, B or tie: row 2: 'maybe'", err)
    assert not (tmp_path / "o.jsonl").exists()


# -- the statistics -----------------------------------------------------------------------------------------
def test_cohen_kappa_equals_sklearn():
    import numpy as np

    rng = np.random.default_rng(3)
    first = rng.choice(["A", "B", "tie"], size=300, p=[0.45, 0.4, 0.15])
    second = np.where(rng.random(300) < 0.7, first, rng.choice(["A", "B", "tie"], size=300))
    assert cohen_kappa(first, second) == pytest.approx(cohen_kappa_score(first, second), abs=1e-12)
    with pytest.warns(Warning, match="undefined"):
        assert np.isnan(cohen_kappa(["A", "A"], ["A", "A"]))


def test_pairwise_agreement_reads_raw_outputs_and_swapped_orders():
    outputs_ab = ["Better response: A\nFeedback: x\nMisattribution: Typos", "Verdict: B", "[RESULT] tie", GARBAGE]
    outputs_ba = ["[RESULT] B", "[RESULT] A", "Winner: A", "[RESULT] A"]  # as written: A is the original B
    report = pairwise_agreement(outputs_ab, ["A", "B", "tie", "A"], swapped_predictions=outputs_ba)
    # final: A (consistent), B (consistent), tie vs mapped B -> tie (inconsistent), none (AB unread)
    assert (report["n"], report["n_unread"], report["accuracy"]) == (3, 1, 1.0)
    assert (report["position_consistency"], report["n_position_checked"]) == (2 / 3, 3)
    assert report["parse_failures"] >= 1
    with pytest.raises(InputError, match=r"agreement: column 'references': 1 value\(s\).*row 2: 'D'"):
        pairwise_agreement(["A", "B"], ["A", "D"])
    with pytest.raises(ValueError, match="not among"):
        pairwise_report(["C"], ["A"])


# -- the runner from Python, with a rubric --------------------------------------------------------------------
def test_judge_pairs_shows_each_rows_rubric():
    seen = []

    def judge(messages):
        seen.append(messages[-1]["content"])
        return "Feedback: x\nBetter response: A\nMisattribution: Result Error"

    pairs = [
        {
            "question": "q",
            "answer_a": "a",
            "answer_b": "b",
            "rubric": '{"3": "exact", "2": "close", "1": "off", "0": "none"}',
        }
    ]
    with FakeOpenAIServer(responder=judge) as server:
        judged = judge_pairs(pairs, OpenAIHTTPJudge(server.url, model="m"), progress=False)
    assert judged.loc[0, "verdict"] == "A" and judged.loc[0, "misattribution"] == ["result_error"]
    assert "- 3: exact\n- 2: close\n- 1: off\n- 0: none" in seen[0]


# -- the metric, loaded for real --------------------------------------------------------------------------------
METRIC_DIR = Path(__file__).resolve().parents[1] / "metric" / "misattribution"


@pytest.fixture(scope="module")
def pairwise_metric():
    import evaluate

    return evaluate.load(str(METRIC_DIR), mode="pairwise")


def test_metric_given_verdicts_matches_the_hand_computation(pairwise_metric):
    rows = load_fixture()
    written_ab = [SCRIPT[r["id"]][0] for r in rows]
    written_ba = [SCRIPT[r["id"]][1] or GARBAGE for r in rows]
    result = pairwise_metric.compute(
        predictions=written_ab, swapped_predictions=written_ba, references=[r["winner"] for r in rows]
    )
    for key, value in HAND.items():
        assert result[key] == (pytest.approx(value, abs=1e-12) if isinstance(value, float) else value), key
    assert result["parse_failures"] == 1  # p10's garbage


def test_metric_judges_pairs_in_both_orders(pairwise_metric):
    rows = load_fixture()
    with FakeOpenAIServer(responder=scripted_judge) as server:
        result = pairwise_metric.compute(
            questions=[r["question"] for r in rows],
            answers_a=[r["response_a"] for r in rows],
            answers_b=[r["response_b"] for r in rows],
            references=[r["winner"] for r in rows],
            both_orders=True,
            judge=server.url,
            greedy=True,
        )
        assert len(server.chat_requests) == 42
    assert result["verdict"][3] == "tie" and result["consistent"][3] is False  # p04 flips with the order
    assert result["verdict"][9] is None and result["status"][9] == "partial"  # p10: one order unreadable
    assert result["misattribution"][0] == ["result_error"]
    for key, value in HAND.items():
        got = result[f"agreement_{key}"]
        assert got == (pytest.approx(value, abs=1e-12) if isinstance(value, float) else value), key


def test_metric_mode_is_checked():
    import evaluate

    with pytest.raises(ValueError, match="mode must be 'absolute' or 'pairwise'"):
        evaluate.load(str(METRIC_DIR), mode="relative")


def test_a_run_cut_mid_write_resumes_with_exactly_the_missing_judgments(tmp_path, capsys):
    out = tmp_path / "judged.jsonl"
    with FakeOpenAIServer(responder=scripted_judge) as server:
        assert main(_judge_args(server.url, out, "--both-orders")) == 1  # p10: one order unreadable
        lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
        # as a kill -9 leaves it: five whole records lost and the sixth cut in the middle of its line
        out.write_text("".join(lines[:-6]) + lines[-6][: len(lines[-6]) // 2], encoding="utf-8")
        server.reset()
        with pytest.warns(UserWarning, match="dropping an incomplete last line"):
            assert main(_judge_args(server.url, out, "--both-orders")) == 1
        assert len(server.chat_requests) == 6
    capsys.readouterr()
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 42 and len({r["key"] for r in records}) == 42


def test_a_real_tiny_model_invents_no_verdict(tiny_model_dir, tmp_path):
    """A random model writes noise: every pair is judged, in both orders, and none gets a made-up verdict."""
    pytest.importorskip("transformers", reason="the transformers backend needs transformers")
    from misattribution.judges import SamplingParams
    from misattribution.judges.transformers import TransformersJudge

    judge = TransformersJudge(
        str(tiny_model_dir), sampling=SamplingParams(greedy=True, max_new_tokens=16), device="cpu"
    )
    pairs = load_fixture()[:3]
    judged = judge_pairs(pairs, judge, tmp_path / "tiny.jsonl", both_orders=True, batch_size=6, progress=False)
    assert len(judged) == 3 and len((tmp_path / "tiny.jsonl").read_text().splitlines()) == 6
    for _, row in judged.iterrows():
        assert row["status"] in {"failed", "partial", "ok"}
        for raw, verdict in ((row["raw"], row["verdict_ab"]), (row["raw_ba"], row["verdict_ba"])):
            if verdict is not None:  # only what the text really says
                assert parse_pairwise(raw).verdict in {verdict, {"A": "B", "B": "A", "tie": "tie"}[verdict]}
        assert row["verdict"] is None or row["consistent"] is not None


def test_cli_refusals_in_pairwise_mode(tmp_path, capsys):
    with FakeOpenAIServer() as server:
        code = main(_judge_args(server.url, tmp_path / "o.jsonl", "--order", "score,feedback"))
        assert code == 2 and "--order score,feedback: applies to absolute mode" in capsys.readouterr().err
        rows = tmp_path / "rows.jsonl"
        rows.write_text(json.dumps({"question": "2 + 2?", "answer": "4", "winner": "A"}) + "\n")
        absolute = tmp_path / "absolute.jsonl"
        assert (
            main(["judge", str(rows), "--endpoint", server.url, "--served-model", "m", "-o", str(absolute), "--quiet"])
            == 0
        )
        capsys.readouterr()
        assert len(server.chat_requests) == 1
    code = main(["agreement", str(absolute), "--mode", "pairwise", "--human", "winner"])
    err = capsys.readouterr().err
    assert code == 2 and "no 'verdict' column and not a pairwise results file" in err and "Traceback" not in err
    code = main(
        [
            "judge",
            str(rows),
            "--mode",
            "pairwise",
            "--endpoint",
            "http://127.0.0.1:9/v1",
            "-o",
            str(tmp_path / "p.jsonl"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "missing required column(s) answer_a, answer_b" in err and "response_a" in err
