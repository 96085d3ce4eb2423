"""The judge-output parser: one table of (output, expected), a round-trip property and a fuzz test.

``expected`` is ``(feedback, misattribution, score, status)``: ``feedback`` is a substring the parsed
feedback must contain, or ``None`` when no feedback may be read; the other three must match exactly.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from misattribution import build_messages, load_taxonomy, parse_judgment, render_target

ABLATION = ("feedback", "score")
TAX_2024 = "misattributionllm-2024"
STATUSES = {"ok", "partial", "failed"}

FEEDBACK = "The answer forgets to carry the one."
GOOD = f"Feedback: {FEEDBACK}\nMisattribution: Process Error; Result Error\nScore: 1"
GOOD_ZH = "反馈：回答漏了进位。\n错误归因：过程错误；结果错误\n分数：1"


def echo(language: str, **kwargs: Any) -> str:
    """The system prompt a model might repeat before (or instead of) answering."""
    return build_messages("What is 27 + 15?", "32", language=language, **kwargs)[0]["content"]


def echo_with_user(language: str) -> str:
    system, user = build_messages("What is 27 + 15?", "32", reference="42", language=language)
    return f"{system['content']}\n\n{user['content']}"


def en(misattribution: str, score: str = "2", feedback: str = "A flaw.") -> str:
    return f"Feedback: {feedback}\nMisattribution: {misattribution}\nScore: {score}"


def case(
    output: object,
    expected: tuple[str | None, list[str] | None, int | None, str],
    id: str,
    *,
    fields: tuple[str, ...] = ("feedback", "misattribution", "score"),
    taxonomy: str | None = None,
    problem: str | None = None,
) -> Any:
    return pytest.param(output, expected, fields, taxonomy, problem, id=id)


PE_RE = ["process_error", "result_error"]

CASES = [
    # -- clean outputs ------------------------------------------------------------------------------
    case(GOOD, ("carry the one", PE_RE, 1, "ok"), "en-clean"),
    case(en("None", "3", "Correct."), ("Correct", [], 3, "ok"), "en-clean-no-error"),
    case(GOOD_ZH, ("漏了进位", PE_RE, 1, "ok"), "zh-clean"),
    case("反馈：回答正确。\n错误归因：无\n分数：3", ("回答正确", [], 3, "ok"), "zh-clean-no-error"),
    case("反馈: 有错字。\n错误归因: 错别字\n分数: 2", ("有错字", ["typos"], 2, "ok"), "zh-ascii-colons"),
    case(
        "Feedback: Made up.\n错误归因：幻觉\nScore: 1",
        ("Made up", ["hallucination"], 1, "ok"),
        "mixed-languages",
    ),
    case("feedback: x y\nmisattribution: typos\nscore: 2", ("x y", ["typos"], 2, "ok"), "lowercase-labels"),
    case("FEEDBACK: X Y\nMISATTRIBUTION: TYPOS\nSCORE: 2", ("X Y", ["typos"], 2, "ok"), "uppercase-labels"),
    case(
        "Explanation: Made up a source.\nError types: Hallucination\nRating: 1",
        ("Made up a source", ["hallucination"], 1, "ok"),
        "alias-labels",
    ),
    case(
        "Rationale: Wrong year.\nError category: Incorrect Answers\nFinal score: 1",
        ("Wrong year", ["incorrect_answers"], 1, "ok"),
        "alias-labels-2",
    ),
    case(
        "分析：编造了出处。\n错误类型：幻觉\n得分：1",
        ("编造了出处", ["hallucination"], 1, "ok"),
        "zh-alias-labels",
    ),
    case(
        "Feedback: Line one.\nLine two.\n\nMisattribution: Typos\nScore: 2",
        ("Line one.\nLine two.", ["typos"], 2, "ok"),
        "multi-line-feedback",
    ),
    case(
        "The sum is off by ten.\nMisattribution: Result Error\nScore: 1",
        ("off by ten", ["result_error"], 1, "ok"),
        "unlabelled-feedback-preamble",
        problem="taken from the unlabelled text",
    ),
    case(
        "Score: 1\nMisattribution: Result Error\nFeedback: Off.",
        ("Off", ["result_error"], 1, "ok"),
        "reversed",
    ),
    case("Feedback: Fine. Misattribution: None. Score: 3", ("Fine.", [], 3, "ok"), "one-line"),
    case("反馈：很好。错误归因：无。分数：3", ("很好", [], 3, "ok"), "zh-one-line"),
    case(
        "Feedback: Off.\nMisattribution: Result Error; Score: 1",
        ("Off", ["result_error"], 1, "ok"),
        "score-after-semicolon",
    ),
    case(
        "Feedback: Off.\nMisattribution: Result Error\nScore: 1 (the result: 12 is wrong)",
        ("Off", ["result_error"], 1, "ok"),
        "alias-inside-sentence-ignored",
    ),
    case(
        "<think>Maybe Score: 1? No.</think>\nFeedback: Fine.\nMisattribution: None\nScore: 3",
        ("Fine", [], 3, "ok"),
        "think-block-skipped",
    ),
    case(
        "<think>Feedback: draft\nMisattribution: Typos\nScore: 2",
        (None, None, None, "failed"),
        "think-block-unfinished",
        problem="<think>",
    ),
    # -- markdown -----------------------------------------------------------------------------------
    case(
        "**Feedback:** Off.\n**Misattribution:** Result Error\n**Score:** 1",
        ("Off", ["result_error"], 1, "ok"),
        "bold-label-colon-inside",
    ),
    case(
        "**Feedback**: Off.\n**Misattribution**: Result Error\n**Score**: 2",
        ("Off", ["result_error"], 2, "ok"),
        "bold-label-colon-outside",
    ),
    case(
        "## Feedback\nOff.\n\n## Misattribution\nResult Error\n\n## Score\n1",
        ("Off", ["result_error"], 1, "ok"),
        "headings",
    ),
    case(
        "### 反馈\n算错了。\n### 错误归因\n结果错误\n### 分数\n1",
        ("算错了", ["result_error"], 1, "ok"),
        "zh-headings",
    ),
    case("**Feedback**\nOff.\n**Misattribution**\nNone\n**Score**\n3", ("Off", [], 3, "ok"), "bold-line-labels"),
    case("- Feedback: Off.\n- Misattribution: Typos\n- Score: 2", ("Off", ["typos"], 2, "ok"), "bullets"),
    case(
        "* **Feedback:** Off.\n* **Misattribution:** Typos\n* **Score:** 2",
        ("Off", ["typos"], 2, "ok"),
        "bullets-bold",
    ),
    case("1. Feedback: Off.\n2. Misattribution: Typos\n3. Score: 2", ("Off", ["typos"], 2, "ok"), "numbered"),
    case("1、反馈：有错字\n2、错误归因：错别字\n3、分数：2", ("有错字", ["typos"], 2, "ok"), "zh-numbered"),
    case(
        "> Feedback: Off.\n> Second line.\n> Misattribution: Typos\n> Score: 2",
        ("Off.\nSecond line.", ["typos"], 2, "ok"),
        "blockquote",
    ),
    case("_Feedback_: Off.\n_Misattribution_: Typos\n_Score_: 2", ("Off", ["typos"], 2, "ok"), "italic-labels"),
    case("`Feedback`: Off.\n`Misattribution`: `typos`\n`Score`: 2", ("Off", ["typos"], 2, "ok"), "code-labels"),
    case("Feedback：Off.\nMisattribution：Typos\nScore：2", ("Off", ["typos"], 2, "ok"), "full-width-colons"),
    case("反馈：有错字\n错误归因：错别字\n分数：２", ("有错字", ["typos"], 2, "ok"), "full-width-digit"),
    case("Feedback: Off.\r\nMisattribution: Typos\r\n## Score\r\n2\r\n", ("Off", ["typos"], 2, "ok"), "crlf"),
    case(
        "## Misattribution\n- Process Error\n- Result Error\n## Score\n1\n## Feedback\nOff.",
        ("Off", PE_RE, 1, "ok"),
        "heading-with-bullet-list",
    ),
    case(
        "Feedback: Off.\nMisattribution: Typos\nScore (0-3): 2",
        ("Off", ["typos"], 2, "ok"),
        "label-parenthetical",
    ),
    # -- score spellings ----------------------------------------------------------------------------
    case(en("Typos", "2.0"), ("A flaw", ["typos"], 2, "ok"), "score-2.0"),
    case(en("Typos", "2/3"), ("A flaw", ["typos"], 2, "ok"), "score-2/3"),
    case(en("Typos", "2 / 3"), ("A flaw", ["typos"], 2, "ok"), "score-2-slash-3-spaced"),
    case(en("Typos", "2 out of 3"), ("A flaw", ["typos"], 2, "ok"), "score-out-of"),
    case(en("Typos", "2 out of 3 points."), ("A flaw", ["typos"], 2, "ok"), "score-out-of-points"),
    case(en("Typos", "2 (partially correct)"), ("A flaw", ["typos"], 2, "ok"), "score-trailing-paren"),
    case(en("Typos", "2 - partially correct"), ("A flaw", ["typos"], 2, "ok"), "score-trailing-dash"),
    case(en("Typos", "**2**"), ("A flaw", ["typos"], 2, "ok"), "score-bold-value"),
    case(en("Typos", "**2/3**"), ("A flaw", ["typos"], 2, "ok"), "score-bold-fraction"),
    case(en("Typos", "[2]"), ("A flaw", ["typos"], 2, "ok"), "score-bracketed"),
    case(en("Typos", "2\n\nThe answer is nearly right."), ("A flaw", ["typos"], 2, "ok"), "score-then-prose"),
    case(en("Typos", "2\n\nOf 5 steps, one is off."), ("A flaw", ["typos"], 2, "ok"), "score-then-of-number"),
    case(en("None", "3/3"), ("A flaw", [], 3, "ok"), "score-3/3"),
    case(en("Irrelevance", "0"), ("A flaw", ["irrelevance"], 0, "ok"), "score-0"),
    case("反馈：有错字\n错误归因：错别字\n分数：2分", ("有错字", ["typos"], 2, "ok"), "score-2fen"),
    case(
        "反馈：有错字\n错误归因：错别字\n得分：2 分（满分3分）",
        ("有错字", ["typos"], 2, "ok"),
        "score-zh-with-total",
    ),
    case("反馈：有错字\n错误归因：错别字\n分数：2/3", ("有错字", ["typos"], 2, "ok"), "score-zh-fraction"),
    case(
        "Feedback: Off.\nMisattribution: Typos\n[RESULT] 2",
        ("Off", ["typos"], 2, "ok"),
        "score-prometheus-own-line",
    ),
    case(
        "Feedback: The response is mostly right. [RESULT] 2",
        ("mostly right", None, 2, "ok"),
        "score-prometheus-mid-line",
        fields=ABLATION,
    ),
    case("反馈：有错字\n错误归因：错别字\n【分数】2", ("有错字", ["typos"], 2, "ok"), "score-zh-bracket-tag"),
    case(en("Typos", "5"), ("A flaw", ["typos"], None, "partial"), "score-above-scale", problem="outside"),
    case(en("Typos", "-1"), ("A flaw", ["typos"], None, "partial"), "score-below-scale", problem="outside"),
    case(en("Typos", "2.5"), ("A flaw", ["typos"], None, "partial"), "score-not-whole", problem="whole"),
    case(en("Typos", "8/10"), ("A flaw", ["typos"], None, "partial"), "score-other-total", problem="out of 3"),
    case(en("Typos", "1-2"), ("A flaw", ["typos"], None, "partial"), "score-range", problem="range"),
    case(en("Typos", "two"), ("A flaw", ["typos"], None, "partial"), "score-word", problem="no number"),
    case(en("Typos", "N/A"), ("A flaw", ["typos"], None, "partial"), "score-na", problem="no number"),
    # -- categories ---------------------------------------------------------------------------------
    case(en("result_error", "1"), ("A flaw", ["result_error"], 1, "ok"), "cat-id"),
    case(en("RESULT_ERROR", "1"), ("A flaw", ["result_error"], 1, "ok"), "cat-id-upper"),
    case(en("rEsUlT eRrOr", "1"), ("A flaw", ["result_error"], 1, "ok"), "cat-wrong-case"),
    case(en("幻觉", "1"), ("A flaw", ["hallucination"], 1, "ok"), "cat-zh-name"),
    case(en("Factual Error", "1"), ("A flaw", ["incorrect_answers"], 1, "ok"), "cat-alias-en"),
    case(en("推理错误", "1"), ("A flaw", ["process_error"], 1, "ok"), "cat-alias-zh"),
    case(en("Ｈａｌｌｕｃｉｎａｔｉｏｎ", "1"), ("A flaw", ["hallucination"], 1, "ok"), "cat-full-width"),
    case(
        en("  Long-term    Memory   Loss  ", "1"),
        ("A flaw", ["long_term_memory_loss"], 1, "ok"),
        "cat-spaces",
    ),
    case(
        en("long term memory loss", "1"),
        ("A flaw", ["long_term_memory_loss"], 1, "ok"),
        "cat-hyphen-as-space",
    ),
    case(en("结果 错误", "1"), ("A flaw", ["result_error"], 1, "ok"), "cat-zh-inner-space"),
    case(en("Hallucinations", "1"), ("A flaw", ["hallucination"], 1, "ok"), "cat-plural"),
    case(en("Typo", "2"), ("A flaw", ["typos"], 2, "ok"), "cat-singular"),
    case(en("'Typos'", "2"), ("A flaw", ["typos"], 2, "ok"), "cat-quoted"),
    case(
        en("Reasoning Capability - Result Error", "1"),
        ("A flaw", ["result_error"], 1, "ok"),
        "cat-primary-dash",
    ),
    case(
        en("Reasoning Capability > Process Error", "1"),
        ("A flaw", ["process_error"], 1, "ok"),
        "cat-primary-gt",
    ),
    case(
        en("Reasoning Capability: Result Error", "1"),
        ("A flaw", ["result_error"], 1, "ok"),
        "cat-primary-colon",
    ),
    case(en("推理能力 - 过程错误", "1"), ("A flaw", ["process_error"], 1, "ok"), "cat-zh-primary-dash"),
    case(
        en("Multi-Turn Dialogue - Long-term Memory Loss", "1"),
        ("A flaw", ["long_term_memory_loss"], 1, "ok"),
        "cat-primary-dash-hyphenated-names",
    ),
    case(
        en("Knowledge Ability - Result Error", "1"),
        ("A flaw", ["result_error"], 1, "ok"),
        "cat-wrong-primary-keeps-secondary",
        problem="is not the primary",
    ),
    case(en("Comprehension Ability", "0"), ("A flaw", ["irrelevance"], 0, "ok"), "cat-primary-single-child"),
    case(en("理解能力", "0"), ("A flaw", ["irrelevance"], 0, "ok"), "cat-zh-primary-single-child"),
    case(
        en("Knowledge Ability", "1"),
        ("A flaw", ["knowledge_ability"], 1, "partial"),
        "cat-primary-many-children",
        problem="only the primary",
    ),
    case(
        en("Reasoning Capability; Result Error", "1"),
        ("A flaw", ["result_error"], 1, "ok"),
        "cat-primary-and-child",
    ),
    case(en("Process Error; Result Error", "1"), ("A flaw", PE_RE, 1, "ok"), "cats-semicolon"),
    case(en("Process Error, Result Error", "1"), ("A flaw", PE_RE, 1, "ok"), "cats-comma"),
    case(en("过程错误、结果错误", "1"), ("A flaw", PE_RE, 1, "ok"), "cats-dunhao"),
    case(en("过程错误和结果错误", "1"), ("A flaw", PE_RE, 1, "ok"), "cats-zh-and"),
    case(en("Process Error and Result Error", "1"), ("A flaw", PE_RE, 1, "ok"), "cats-and"),
    case(en("\n- Process Error\n- Result Error", "1"), ("A flaw", PE_RE, 1, "ok"), "cats-bullets"),
    case(en("\n1. Process Error\n2. Result Error", "1"), ("A flaw", PE_RE, 1, "ok"), "cats-numbered"),
    case(en('["Process Error", "Result Error"]', "1"), ("A flaw", PE_RE, 1, "ok"), "cats-json-list"),
    case(en('["result_error", "process_error"]', "1"), ("A flaw", PE_RE, 1, "ok"), "cats-json-ids-reordered"),
    case(en("Result Error; Typos", "1"), ("A flaw", ["typos", "result_error"], 1, "ok"), "cats-taxonomy-order"),
    case(en("Typos; typos; 错别字", "2"), ("A flaw", ["typos"], 2, "ok"), "cats-deduplicated"),
    case(
        en("Result Error (the total is 16, not 18)", "1"),
        ("A flaw", ["result_error"], 1, "ok"),
        "cat-with-explanation",
    ),
    case(en("Duplicate", "2"), ("A flaw", ["noisy"], 2, "ok"), "cat-merged-alias-v1"),
    # -- no error -----------------------------------------------------------------------------------
    case(en("none.", "3"), ("A flaw", [], 3, "ok"), "none-lower-dot"),
    case(en("N/A", "3"), ("A flaw", [], 3, "ok"), "none-na"),
    case(en("No error", "3"), ("A flaw", [], 3, "ok"), "none-no-error"),
    case(en("No errors found.", "3"), ("A flaw", [], 3, "ok"), "none-no-errors-found"),
    case(en("**None**", "3"), ("A flaw", [], 3, "ok"), "none-bold"),
    case(en("None (the answer is correct)", "3"), ("A flaw", [], 3, "ok"), "none-with-explanation"),
    case(en("[]", "3"), ("A flaw", [], 3, "ok"), "none-empty-json-list"),
    case(en("No error - except a Result Error", "1"), ("A flaw", ["result_error"], 1, "ok"), "none-word-then-category"),
    case("反馈：正确\n错误归因：无（回答正确）\n分数：3", ("正确", [], 3, "ok"), "none-zh-with-explanation"),
    case("反馈：正确\n错误归因：没有错误。\n分数：3", ("正确", [], 3, "ok"), "none-zh-sentence"),
    # -- unknown categories -------------------------------------------------------------------------
    case(en("Grammar Mistake", "2"), ("A flaw", None, 2, "partial"), "unknown-only", problem="unknown category"),
    case(en("Typos; Grammar", "2"), ("A flaw", ["typos"], 2, "partial"), "unknown-and-known", problem="unknown"),
    case(en("", "3"), ("A flaw", None, 3, "partial"), "misattribution-empty", problem="misattribution: empty"),
    # -- truncated outputs --------------------------------------------------------------------------
    case("Feedback: The answer forg", ("answer forg", None, None, "partial"), "trunc-mid-feedback"),
    case(f"Feedback: {FEEDBACK}\n", ("carry the one", None, None, "partial"), "trunc-after-feedback"),
    case(f"Feedback: {FEEDBACK}\nMisattri", ("carry the one", None, None, "partial"), "trunc-mid-label"),
    case(
        f"Feedback: {FEEDBACK}\nMisattribution: Process Er",
        ("carry the one", None, None, "partial"),
        "trunc-mid-category",
    ),
    case(
        f"Feedback: {FEEDBACK}\nMisattribution: Process Error; Res",
        ("carry the one", ["process_error"], None, "partial"),
        "trunc-mid-second-category",
    ),
    case(
        f"Feedback: {FEEDBACK}\nMisattribution: Process Error; Result Error\n",
        ("carry the one", PE_RE, None, "partial"),
        "trunc-after-misattribution",
        problem="score: missing",
    ),
    case(
        f"Feedback: {FEEDBACK}\nMisattribution: Process Error; Result Error\nScore:",
        ("carry the one", PE_RE, None, "partial"),
        "trunc-empty-score",
        problem="no number",
    ),
    case(
        "反馈：回答漏了进位。\n错误归因：过程错误；结果错误\n分数：",
        ("漏了进位", PE_RE, None, "partial"),
        "trunc-zh-empty-score",
    ),
    # -- garbage ------------------------------------------------------------------------------------
    case("", (None, None, None, "failed"), "empty-string"),
    case(None, (None, None, None, "failed"), "none-output"),
    case(" \n\t \u3000 ", (None, None, None, "failed"), "only-whitespace"),
    case(b"Score: 2", (None, None, None, "failed"), "bytes-not-text"),
    case("\x00\xff\xfe\x1b[31m\ufffd\ufffd garbage \x07", (None, None, None, "failed"), "control-characters"),
    case(bytes(range(256)).decode("latin-1"), (None, None, None, "failed"), "bytes-ish-text"),
    case("🙂🙃🤖 ✨✨ 🚀", (None, None, None, "failed"), "emoji"),
    case("lorem ipsum dolor " * 5000, (None, None, None, "failed"), "very-long-prose"),
    case(
        "Feedback: " + "blah " * 20000 + "\nMisattribution: Typos\nScore: 2",
        ("blah", ["typos"], 2, "ok"),
        "very-long-feedback",
    ),
    case(
        "Feedback: a" + " " * 30000 + "b\n" + " " * 30000 + "\nMisattribution: Typos" + " " * 30000 + "x\nScore: 2",
        ("a", ["typos"], 2, "ok"),
        "long-blank-runs",
    ),
    case("<html><body><p>Score: 2</p></body></html>", (None, None, None, "failed"), "html"),
    case('{"answer": 42, "confidence": 0.9}', (None, None, None, "failed"), "json-object-unrelated"),
    case(
        '{"feedback": "Off by ten.", "misattribution": ["Result Error"], "score": 1}',
        ("Off by ten", ["result_error"], 1, "ok"),
        "json-object-judgment",
    ),
    case(
        '```json\n{"feedback": "Fine.", "misattribution": [], "score": 3}\n```',
        ("Fine", [], 3, "ok"),
        "json-object-fenced",
    ),
    case("Score Score Score", (None, None, None, "failed"), "label-words-without-colon"),
    case("2", (None, None, None, "failed"), "bare-number"),
    # -- echoed prompts -----------------------------------------------------------------------------
    case(echo("en"), (None, None, None, "failed"), "echo-en-alone", problem="echoes the prompt"),
    case(echo("zh"), (None, None, None, "failed"), "echo-zh-alone", problem="echoes the prompt"),
    case(echo("en", order=ABLATION), (None, None, None, "failed"), "echo-en-ablation-alone"),
    case(echo_with_user("en"), (None, None, None, "failed"), "echo-en-system-and-user"),
    case(echo_with_user("zh"), (None, None, None, "failed"), "echo-zh-system-and-user"),
    case(
        echo("en") + "\n\n" + GOOD,
        ("carry the one", PE_RE, 1, "ok"),
        "echo-en-then-answer",
        problem="echoes the prompt",
    ),
    case(echo("zh") + "\n" + GOOD_ZH, ("漏了进位", PE_RE, 1, "ok"), "echo-zh-then-answer"),
    case(echo("en") + "\n" + GOOD_ZH, ("漏了进位", PE_RE, 1, "ok"), "echo-en-then-zh-answer"),
    case(echo_with_user("en") + "\n\n" + GOOD, ("carry the one", PE_RE, 1, "ok"), "echo-all-then-answer"),
    case(
        echo("en") + "\nFeedback: Off.\nMisattribution: Typos\nScore:",
        ("Off", ["typos"], None, "partial"),
        "echo-then-truncated-answer",
    ),
    # -- inconsistent outputs -----------------------------------------------------------------------
    case(
        en("Typos", "3"),
        ("A flaw", ["typos"], 3, "ok"),
        "inconsistent-3-with-category",
        problem="inconsistent",
    ),
    case(en("None", "1"), ("A flaw", [], 1, "ok"), "inconsistent-1-with-none", problem="inconsistent"),
    # -- the ablation without misattribution ---------------------------------------------------------
    case("Feedback: Off.\nScore: 1", ("Off", None, 1, "ok"), "ablation-en", fields=ABLATION),
    case("反馈：算错了。\n分数：1", ("算错了", None, 1, "ok"), "ablation-zh", fields=ABLATION),
    case(en("Typos", "2", "Off."), ("Off", ["typos"], 2, "ok"), "ablation-extra-field-read", fields=ABLATION),
    case("Feedback: Off.", ("Off", None, None, "partial"), "ablation-no-score", fields=ABLATION),
    case(
        "Feedback: Off.\nMisattribution: Typos",
        ("Off", ["typos"], None, "partial"),
        "ablation-wrong-fields",
        fields=ABLATION,
    ),
    # -- the 2024 taxonomy --------------------------------------------------------------------------
    case(en("Duplicate", "2"), ("A flaw", ["duplicate"], 2, "ok"), "2024-duplicate", taxonomy=TAX_2024),
    case(en("Safety Concerns", "0"), ("A flaw", ["safety_concerns"], 0, "ok"), "2024-safety", taxonomy=TAX_2024),
    case(
        en("安全", "0"),
        ("A flaw", ["safety_concerns"], 0, "ok"),
        "2024-zh-primary-single-child",
        taxonomy=TAX_2024,
    ),
    case(en("Other Errors", "1"), ("A flaw", ["others"], 1, "ok"), "2024-other-errors", taxonomy=TAX_2024),
    case(
        en("重复；安全问题", "0"),
        ("A flaw", ["duplicate", "safety_concerns"], 0, "ok"),
        "2024-zh-two",
        taxonomy=TAX_2024,
    ),
    case(
        en("Creative Ability > Inappropriate Content", "1"),
        ("A flaw", ["inappropriate_content"], 1, "ok"),
        "2024-primary-gt",
        taxonomy=TAX_2024,
    ),
]


@pytest.mark.parametrize(("output", "expected", "fields", "taxonomy", "problem"), CASES)
def test_parse_judgment(output, expected, fields, taxonomy, problem):
    feedback, misattribution, score, status = expected
    judgment = parse_judgment(output, taxonomy, fields=fields)
    got = (judgment.misattribution, judgment.score, judgment.status)
    assert got == (misattribution, score, status), judgment.problems
    if feedback is None:
        assert judgment.feedback is None
    else:
        assert judgment.feedback is not None and feedback in judgment.feedback
    if problem is not None:
        assert any(problem in p for p in judgment.problems), judgment.problems
    assert judgment.raw is output


def test_table_is_large_enough():
    assert len(CASES) >= 80


# -- round trip: what render_target writes, parse_judgment reads -------------------------------------
@pytest.mark.parametrize("taxonomy", ["attridata-v1", TAX_2024])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_render_then_parse_round_trips(taxonomy, language):
    tax = load_taxonomy(taxonomy)
    labels = [[], *([cid] for cid in tax.secondary_ids), tax.secondary_ids[::3], tax.secondary_ids]
    for ids, score in itertools.product(labels, tax.scale.values):
        text = render_target("The answer is wrong: 3 x 4 = 12.", ids, score, taxonomy=tax, language=language)
        judgment = parse_judgment(text, tax)
        assert judgment.status == "ok", (text, judgment.problems)
        assert (judgment.misattribution, judgment.score) == (tax.normalize_labels(ids), score), text
        assert judgment.feedback == "The answer is wrong: 3 x 4 = 12."


@pytest.mark.parametrize("order", list(itertools.permutations(("feedback", "misattribution", "score"))))
def test_round_trip_in_any_order(order):
    text = render_target("Off by ten.", ["process_error", "result_error"], 1, order=order)
    judgment = parse_judgment(text, fields=order)
    assert (judgment.feedback, judgment.misattribution, judgment.score, judgment.status) == (
        "Off by ten.",
        PE_RE,
        1,
        "ok",
    )


@pytest.mark.parametrize("language", ["en", "zh"])
def test_round_trip_ablation(language):
    text = render_target("Off.", ["typos"], 2, language=language, order=ABLATION)
    assert "typo" not in text.lower() and "错别字" not in text
    judgment = parse_judgment(text, fields=ABLATION)
    assert (judgment.feedback, judgment.misattribution, judgment.score, judgment.status) == (
        "Off.",
        None,
        2,
        "ok",
    )


# -- fuzz: random text never raises ----------------------------------------------------------------
FRAGMENTS = [
    "Feedback", "Misattribution", "Score", "反馈", "错误归因", "分数", "Result", "Rating", "[RESULT]", "【分数】",
    ":", "：", " ", "  ", "\n", "\r\n", "\t", "**", "*", "_", "`", "#", "## ", "> ", "- ", "1. ", "2、",
    "(", ")", "（", "）", "[", "]", "{", "}", '"', "'", "/", "/3", "out of", "分", "满分", ";", "；", ",", "、",
    "and", "和", "-", " - ", ">", "None", "无", "N/A", "no error", "Result Error", "结果错误", "Typos",
    "Knowledge Ability", "推理能力", "Long-term", "result_error", "<one integer from 0 to 3>", "<", ">",
    "0", "1", "2", "3", "4", "-1", "2.5", "２", "１０", "3.0", "1e9", "9" * 30, "é", "🙂", "\u200b", "\x00",
    "\ufeff", "\u3000", "Ｓｃｏｒｅ", "```", "```json", '{"score": 2}', "<b>", "</b>",
]  # fmt: skip


LINE_STARTS = ["", "", "**", "## ", "- ", "> ", "1. ", "* **"]
LABELS = ["Feedback", "Misattribution", "Score", "反馈", "错误归因", "分数", "Errors", "Final score"]


def random_text(rng: random.Random) -> str:
    """Fragment soup, or lines shaped like labelled fields with soup for content."""
    if rng.random() < 0.5:
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 40)))
    lines = []
    for _ in range(rng.randint(1, 5)):
        label = rng.choice(LINE_STARTS) + rng.choice(LABELS) + rng.choice([":", "：", "**:", ":**", "", "\n"])
        lines.append(label + " " + "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 8))))
    return "\n".join(lines)


def test_fuzz_never_raises():
    rng = random.Random(20240611)
    tax = load_taxonomy()
    known = set(tax.secondary_ids) | set(tax.primary_ids)
    statuses = set()
    for _ in range(2000):
        text = random_text(rng)
        fields = rng.choice([("feedback", "misattribution", "score"), ABLATION])
        judgment = parse_judgment(text, tax, fields=fields)
        assert judgment.status in STATUSES, text
        assert judgment.score is None or judgment.score in tax.scale.values, text
        assert judgment.misattribution is None or set(judgment.misattribution) <= known, text
        assert judgment.feedback is None or isinstance(judgment.feedback, str)
        assert all(isinstance(p, str) for p in judgment.problems)
        assert judgment.raw is text
        if judgment.status == "failed":
            assert (judgment.feedback, judgment.misattribution, judgment.score) == (None, None, None), text
        statuses.add(judgment.status)
    assert statuses == STATUSES  # the generator reaches every outcome
