"""Issue names: the LLM-free noun-phrase table, the naming rules, the choice among central sentences, and
LLM naming against a real (fake) OpenAI-compatible server: call count, cache, fallback."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from misattribution.discovery.naming import (
    _repair,
    choose_name,
    critical_clause,
    drop_rare_phrases,
    generalise_systems,
    issue_name,
    name_issues_with_llm,
    name_problems,
    names_no_shortcoming,
    near_duplicate,
    parse_names,
    says_what_is_wrong,
    shares_no_problem,
    summary_candidates,
    unshared_words,
)
from misattribution.judges.base import SamplingParams
from misattribution.judges.openai_http import OpenAIHTTPJudge
from misattribution.testing.fake_openai import FakeOpenAIServer

# (feedback sentence, expected name): math, agents / tool use, RAG, code, writing; English and Chinese.
TABLE = [
    # the brief's own examples
    ("Fails to convert the units.", "Failure to convert units"),
    ("The response does not state the assumptions.", "Missing statement of the assumptions"),
    ("The calculation of the discount is incorrect.", "Incorrect calculation of the discount"),
    ("There is a mistake in adding the totals.", "Mistake in adding the totals"),
    ("The model contains a calculation error in the tax.", "Calculation error in the tax"),
    ("The units are missing.", "Missing units"),
    ("The model ignores the user's instruction to answer in one word.", "Ignored user instruction to answer in one word"),
    # math
    ("However, the model's response seems to contain a calculation error, which leads to a wrong total.",
     "Calculation error"),
    ("The mistake in the calculation significantly affects the accuracy of the response.",
     "Mistake in the calculation"),
    ("No units are given for the total cost.", "Missing units for the total cost"),
    ("But lacks accuracy and completeness due to the incorrect final calculation.", "Incorrect final calculation"),
    ("Every step of the explanation is right, but the final sum is wrong.", "Wrong final sum"),
    ("The model double-counts the shared items.", "Double counting of the shared items"),
    ("Unfortunately, the model makes an arithmetic slip when subtracting.", "Arithmetic slip when subtracting"),
    ("The response misinterprets the question.", "Misinterpretation of the question"),
    ("Although the steps are clear, the units are missing.", "Missing units"),
    ("But is marred by the incorrect calculation and explanation.", "Incorrect calculation and explanation"),
    ("The assumptions are not stated.", "Unstated assumptions"),
    ("The model answers a different question from the one asked.", "Answer to a different question from the one asked"),
    # agents / tool use
    ("The tool selection is incorrect, and the step does not fulfill the request.", "Incorrect tool selection"),
    ("The agent calls the weather tool with the wrong date format.",
     "Call to the weather tool with the wrong date format"),
    ("The agent never checks the API response for errors.", "Missing check of the API response for errors"),
    ("The model refuses to answer a harmless question.", "Refusal to answer a harmless question"),
    # RAG
    ("The retrieved passage is not relevant to the question.", "Retrieved passage irrelevant to the question"),
    ("The model cites a source that does not exist.", "Citation of a source that does not exist"),
    ("The model invents a fact that is not in the reference.", "Invented fact that is not in the reference"),
    ("The answer relies on a made-up fact.", "Reliance on a made-up fact"),
    ("The model makes up a fact to support the answer.", "Made-up fact to support the answer"),
    ("The model includes a fabricated fact about the topic.", "Fabricated fact about the topic"),
    ("The summary does not mention the main finding.", "Missing mention of main finding in the summary"),
    # code
    ("The code has an off-by-one error in the loop bound.", "Off-by-one error in the loop bound in the code"),
    ("The response hallucinates a function that does not exist in the library.",
     "Hallucinated function that does not exist in the library"),
    ("The model relies on outdated information.", "Reliance on outdated information"),
    ("The response does not follow the requested JSON format.", "Failure to follow the requested JSON format"),
    # writing
    ("The explanation is confusing and hard to follow.", "Confusing and hard-to-follow explanation"),
    ("The answer is unnecessarily long.", "Unnecessarily long answer"),
    ("It could have been much shorter, as the question is simple.", "Excessive length"),
    ("The model's response is overly long and wordy.", "Overly long and wordy response"),
    ("The essay's thesis is unclear.", "Unclear thesis of the essay"),
    ("The tone is too informal for a cover letter.", "Overly informal tone for a cover letter"),
    ("The explanation contains a logical gap.", "Logical gap in the explanation"),
    ("The explanation lacks detail.", "Lack of detail in the explanation"),
    ("The response repeats itself.", "Repetition"),
    ("The response omits the units of the result.", "Missing units of the result"),
    ("But could benefit from a slightly more nuanced conclusion.", "Insufficiently nuanced conclusion"),
    ("The only potential improvement could be in providing a more concise conclusion",
     "Insufficiently concise conclusion"),
    ("The notation is unusual and could confuse readers.", "Unusual notation"),
    # a reported fault: the name is the fault, not the report
    ("Indicating a slight gap in the explanation of the units.", "Slight gap in the explanation of the units"),
    ("This suggests that the agent skipped the validation step.", "Missing validation step"),
    # "none of X <verb>", "no X is <participle>", an "it seems" opener, a particle verb, an adverb after "not"
    ("None of the retrieved documents backs the figure.", "Retrieved documents not backing the figure"),
    ("None of the figures is attributed to a source.", "Figures not attributed to a source"),
    ("However, no source is named for the claim.", "Missing source for the claim"),
    ("No check is run on the totals.", "No check run on the totals"),
    ("It seems the plan leaves out the budget, so later steps have nothing to build on.",
     "Plan leaving out the budget"),
    ("Key numbers appear with no attribution.", "Key numbers with no attribution"),
    ("The model rounds up the number of guests.", "Rounding up the number of guests"),
    ("The approach does not accurately reflect the compounding of interest.",
     "Approach not accurately reflecting the compounding of interest"),
    ("It asserts things the evidence does not contain.", "Asserting things that the evidence does not contain"),
    ("The source it cites does not exist.", "Source that it cites not existing"),
    # Chinese
    ("但是最终答案错误，因为单位换算出错。", "最终答案错误"),
    ("回答缺少单位。", "缺少单位"),
    ("但用户明确要求用表格对比，回答却写成了一整段文字，没有按要求的格式输出。", "未按要求的格式输出"),
    ("但开头和结尾各有一大段与问题无关的套话（成语的意义、学习建议），冗余内容几乎和正文一样长。",
     "开头和结尾各有一大段与问题无关的套话"),
    # the main clause, not the "although" clause or an "even with …," concession
    ("The call passes the value in kilometres although the tool expects metres.", "Call passing the value in kilometres"),
    ("However, even with the correct tool, the arguments to the converter use the wrong unit.",
     "Arguments to the converter use the wrong unit"),
    ("Although the converter is the right tool, its input is given in a fraction of one rather than percent.",
     "Input given in a fraction of one rather than percent"),
    # a relative clause set off by commas, an unmet "should have" with a verb the tables lack, a passive score
    ("The closing sentence, where the reviewer says they would not return, is missing.", "Missing closing sentence"),
    ("The assistant should also have flagged that the translation is not certified.",
     "Failure to flag that the translation is not certified"),
    ("This value should have been rounded down.", "Value not rounded down"),
    ("但第二段几乎逐句重复了第一段的内容，属于冗余重复。", "冗余重复"),
    # of two faults, the one the cues do not know but the fault lexicon does (truncation) is not lost to "never"
    ("But the reply stops mid-word on the last step and never confirms that the method stays the same.",
     "Stopping mid-word on the last step"),
    # the judge speaking for itself: what it did not find is missing
    ("I could not find any citation for the growth figure.", "Missing citation for the growth figure"),
    ("I see no justification for the verdict.", "Missing justification for the verdict"),
    ("I would have expected a call to the converter, not to the search tool.", "Missing call to the converter"),
    # a verb with "no" before its object: what is absent, not "Citation of no source"
    ("It cites no source for the claim.", "No source cited for the claim"),
    ("The agent calls no tool before answering.", "No tool called before answering"),
    ("It offers no justification for the verdict.", "Missing justification for the verdict"),
    # seen on CLEAR's agentic sample (research agents, dev traces): a frame before the comma is not the fault,
    # "fails X" is a failure to meet X, and a second verb takes the first one's form
    ("Per the step’s instructions, it should have used the calculator.", "Failure to use the calculator"),
    ("It fails several critical process requirements.", "Failure to meet several process requirements"),
    ("The step does not perform any calculations or provide an answer.",
     "Failure to perform any calculations or provide an answer"),
    # "as" that says in what form is not a reason clause: cutting there would cut the fault away
    ("The tool call arguments are provided as a JSON string rather than a structured object, which may not "
     "match the tool schema expectations.", "Tool call arguments provided as a JSON string"),
    ("While this yields the correct result, it technically violates the instruction to answer in one line.",
     "Violation of the instruction to answer in one line"),
    # an unstressed last syllable takes no "e" ("Failure to limite itself" on CLEAR's agentic sample, test traces)
    ("It should have limited itself to looking up facts.", "Failure to limit itself to looking up facts"),
    # a noun that looks like a verb ("result") before the clause's own verb is the subject's noun
    ("The final result is given without its units.", "Final result given without its units"),
    # "a" before a vowel letter that sounds like a consonant stays "a"
    ("The draft relies on a university working paper instead of the official statistics.",
     "Draft relying on a university working paper instead of the official statistics"),
    # per-step judges call the judged unit "the step" and point at it ("for this role", "at this stage"):
    # it is the subject a name drops, and the pointer names no context (CLEAR's agentic sample, session 12)
    ("The step breaks the system instruction for this role.", "Breaking the system instruction"),
    ("The step contradicts the plan agreed at this stage.", "Contradiction of the plan agreed"),
    ("The constants were not fetched with tools in this step.", "Constants not fetched with tools"),
    # a consequence after a comma ("…, violating the role") is not the fault, unless the fault is only there
    ("It calls no tool at this stage, violating the planner's role.", "No tool called"),
    ("The model replies in the wrong language, contradicting the system prompt.", "Replying in the wrong language"),
    ("The response uses the calculator, violating the instruction.", "Use of the calculator, violating the instruction"),
    # whose the faulty part is goes without saying: "the model's explanation" is "the explanation" (clear_gsm8k
    # named "Model's simplistic approach to …" and "Miscalculation in the model's explanation")
    ("However, the model's rounding of the tax does not follow the usual convention.",
     "Rounding of the tax not following the usual convention"),
    ("There is a unit slip in the response's second paragraph.", "Unit slip"),
    # another choice that should have been made: the one made was wrong ("Different tool not chosen" before)
    ("Another tool should have been called for this step.", "Wrong tool called"),
    ("The agent should have used a different search engine.", "Wrong search engine used"),
    # "acts as though X never mentioned Y" is Y ignored, not a contrast at "though" ("Missing mention of request
    # for a table in the user" on the agents' dev pool); "is off" is wrong ("Off tool choice")
    ("The agent acts as though the planner never provided the list of sources.", "Ignored list of sources"),
    ("It proceeds as if the user had not asked for a summary in bullet points.", "Ignored summary in bullet points"),
    ("The tool choice is off.", "Wrong tool choice"),
    # "and <verb>s no X" is the critical half ("Answer to and calls no tool" before)
    ("It answers directly and calls no tool.", "No tool called"),
]  # fmt: skip


def test_a_reporting_verb_with_its_object_is_the_clause_verb_not_the_reported_is():
    """ "The final sentence claims the answer is exact": the subject is "the final sentence", whose verb is
    "claims" (it was read as "the final sentence claims the answer" + "is exact": "Exact final sentence
    claims the answer"). The reported clause keeps its "is", which the rules then flag."""
    assert issue_name("The final sentence claims the answer is exact.") == "Final sentence claiming the answer is exact"
    assert issue_name("The summary says the meeting was cancelled.") == "Summary saying the meeting was cancelled"
    assert issue_name("The calculation of the discount is incorrect.") == "Incorrect calculation of the discount"


def test_a_pair_of_units_of_one_row_is_generalised_when_a_name_is_repaired():
    """ "The tool's documented supported pairs do not include km to m" was the issue's own example of a name
    tied to one instance; a repair puts the pair in general terms."""
    from misattribution.discovery.naming import _repair

    assert _repair("Unsupported km -> meters", [], [], []) == "Unsupported unit conversion"
    assert _repair("Tool set not supporting kg↔grams", [], [], []) == "Tool set not supporting unit conversion"
    assert _repair("Conversion of troy_oz to kg by hand", [], [], []) == "Conversion of units by hand"
    assert _repair("Distance in km to the town", [], [], []) == "Distance in km to the town"  # one unit: no pair
    # one row's pair of languages, one row's length
    assert (
        _repair("Answer written in Dutch rather than in Italian", [], [], []) == "Answer written in the wrong language"
    )
    assert _repair("Reply 8 paragraphs long", [], [], []) == "Reply too long"
    # two code identifiers of one row, when the evidence calls them tools
    tools = ["The agent picks the wrong tool.", "Another tool was needed.", "It calls geo_lookup."]
    assert _repair("Confusion of geo_lookup with sql_query", [], tools, []) == "Confusion of one tool with another"
    assert name_problems("Unsupported unit conversion") == []


@pytest.mark.parametrize(("sentence", "expected"), TABLE, ids=[s[:40] for s, _ in TABLE])
def test_feedback_sentences_become_noun_phrase_names(sentence, expected):
    name = issue_name(sentence)
    assert name == expected
    assert name_problems(name) == [], name


def test_the_table_is_large_and_varied():
    assert len(TABLE) >= 40
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", s)) for s, _ in TABLE) >= 3


# -- the rules --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("Missing caveat that the analysis uses only the given data about the stores in all the regions", "length"),
        ("The response contains errors", "subject"),
        ("The model ignores the word limit", "subject"),
        ("It omits the units", "subject"),
        ("The answer is wrong", "subject"),
        ("There is a mistake in the sum", "subject"),
        ("Fails to convert the units", "clause"),
        ("Calculation of the discount is incorrect", "clause"),
        ("Given the mistake in the calculation", "clause"),
        ("Incorrect tool selection and failure to fulfill", "cut"),
        ("Moment of confusion in the explanation regarding the", "cut"),
        ("Wrong total (computed as", "cut"),
        ("Contains errors", "vague"),
        ("Has several issues", "vague"),
        ("Several issues relative to the instructions", "vague"),
        ("Lack of accuracy and completeness", "vague"),
        ("Wrong capital: Melbourne instead of Canberra", "instance"),
        ("Total of 45 apples instead of 40", "instance"),
        ('Use of the word "chlorophyll"', "instance"),
        ("Tool's supported pairs not including km to m", "instance"),
        ("Every step of the explanation is right", "praise"),
        ("Clear and accurate explanation", "praise"),
        ("Omission of this detail", "context"),
        ("Fabricated quotation attributed", "cut"),
        ("Could imply a lack of attention to detail", "clause"),
        ("Without a step for checking the dates", "clause"),
        ("What the user asked for is not done", "clause"),
        ("Text citing none of them", "context"),
        ("Several errors and inconsistencies", "vague"),
        ("Failure to look", "cut"),  # "look" needs what it looks at or for
        ("Task depends on it", "context"),
        ("User asked", "cut"),  # "But the user asked for one sentence and got three paragraphs.", cut (sample)
        ("Insufficiently if response", "cut"),  # a CLEAR summary's fragment
        ("Citation of a trade press article, published", "cut"),  # ", published in 2019" lost its instance
        ("Per the step’s instructions", "clause"),  # the frame of a fault, not the fault (CLEAR agentic)
        ("According to the available tool's supported pairs", "clause"),
        ("To improve, maintain role discipline, avoid redundant lookups", "clause"),
        ("Not perform any calculations or provide an answer", "clause"),
        ("Notable issues", "vague"),
        ("Tool's description specifies available topics", "clause"),
        ("Step falls short on process transparency per the instructions", "clause"),
        ("No unit conversions needed", "praise"),  # nothing was wrong (CLEAR agentic, test traces: disclosed)
        ("Ordering and values match the provided data", "praise"),
        ("Response instructed to act as a research planner", "restated"),  # the task, not a fault
        ("System instructed the assistant", "restated"),
        ("Wrong usage", "vague"),  # of what? (CLEAR agentic sample, a 62-row leaf)
        ("Explicit use", "vague"),
        ("Suggested improvement to state an assumption", "suggestion"),
        ("回答没有使用表格的", "subject"),
        ("未使用表格的", "cut"),
        ("存在错误", "vague"),
        ("用户要求只列三种、只写名称并用顿号隔开、回答却列了五种", "length"),
    ],
)
def test_each_rule_catches_its_violation(name, rule):
    problems = name_problems(name)
    assert any(p.startswith(rule + ":") for p in problems), problems


@pytest.mark.parametrize(
    "name",
    [
        "Missing caveat that the analysis uses only the given data",
        "Arithmetic errors in multi-step percentage calculations",
        "Failure to convert units",
        "Ignored user instruction to answer in one word",
        "Unstated assumptions",
        "Unclear explanation of the unit conversion",
        "Answer unsupported by the retrieved context",
        "Units omitted",
        "Failure to say what the user asked",
        "Missing check if empty",
        "Refusal even when the request is safe",
        "Incorrect use of units",
        "Misuse of tools",
        "Step violated the role instructions",
        "未按要求使用表格格式",
    ],
)
def test_good_names_pass_every_rule(name):
    assert name_problems(name) == []


@pytest.mark.parametrize("name", ["Lack of clarity", "Unnecessary confusion", "Lack of coherence"])
def test_names_of_a_quality_without_its_object_are_vague(name):
    """Seen on clear_gsm8k: clusters of miscalculations named after a quality; a developer cannot act on it."""
    assert any(p.startswith("vague:") for p in name_problems(name))


def test_when_no_candidate_passes_the_longest_passing_head_is_kept():
    # The only candidate is cut mid-phrase; its head up to the relative clause passes every rule.
    name = choose_name(["The link to a news archive it gives."], np.array([0.9]), [0.0])
    assert name == "Link to a news archive" and name_problems(name) == []


def test_instances_are_allowed_when_every_member_shares_them():
    name = 'Nonstandard division symbol "√∑"'
    assert any(p.startswith("instance") for p in name_problems(name, members=['Uses "√∑".', "Writes 6 / 2."]))
    assert name_problems(name, members=['Uses "√∑" for division.', 'The symbol "√∑" is odd.']) == []


def test_near_duplicates_of_siblings_are_caught():
    assert near_duplicate("Calculation errors", "Errors in the calculation")
    assert near_duplicate("Missing units!", "missing UNITS")
    assert not near_duplicate("Missing units", "Wrong units")
    assert not near_duplicate("Calculation errors", "Calculation errors in percentages and unit conversions")
    assert name_problems("Calculation errors", siblings=["Wrong units", "errors in calculations"]) == [
        'duplicate: near-duplicate of the sibling name "errors in calculations"'
    ]
    assert name_problems("计算错误", siblings=["计算错误。"])[0].startswith("duplicate")


def test_the_critical_clause_is_named_never_the_praise():
    assert (
        critical_clause("The steps are clear, but the final answer omits the units.")
        == "the final answer omits the units."
    )
    assert critical_clause("The units are missing; however, the reasoning is sound.") == "The units are missing"
    assert issue_name("The reasoning is excellent, but it ignores the word limit.") == "Ignored word limit"


# -- choosing among central sentences ---------------------------------------------------------------------
def test_choose_name_prefers_a_name_that_passes_the_rules():
    sentences = [
        "Every step of the explanation is right.",  # the most central, but praise
        "The capital is Canberra, not Melbourne.",  # one instance
        "The response states the wrong capital city.",
    ]
    name = choose_name(sentences, np.array([0.9, 0.85, 0.83]), [0.0, 0.0, 0.0], [], members=sentences)
    assert name == "Statement of the wrong capital city" and name_problems(name, members=sentences) == []
    # a sentence from the cluster's edge names it only when nothing near the centre can
    centrality = np.array([0.9, 0.85, 0.6])
    assert choose_name(sentences, centrality, [0.0] * 3, [], members=sentences) == "Statement of the wrong capital city"
    edge = [*sentences, "The model omits the units of the answer."]
    centrality = np.array([0.9, 0.85, 0.6, 0.83])
    assert choose_name(edge, centrality, [0.0] * 4, [], members=edge) == "Missing units of the answer"


def test_choose_name_renames_a_near_duplicate_of_a_sibling():
    sentences = ["The model makes a calculation error.", "There is a calculation error."]
    name = choose_name(
        sentences, np.array([0.9, 0.8]), [0.0, 0.0], ["Calculation error"], keywords=["error", "percentages"]
    )
    assert name == "Calculation error involving percentages"
    assert name_problems(name, siblings=["Calculation error"]) == []


def test_choose_name_rejects_words_of_the_rows_question():
    sentences = ["But the ground coffee is listed twice.", "The model lists an item twice."]
    masked = ["But the … … is listed twice.", "The model lists an item twice."]
    name = choose_name(sentences, np.array([0.9, 0.6]), [0.3, 0.0], [], masked=masked)
    assert "coffee" not in name.casefold()


def test_summaries_are_extra_candidates():
    sentences = ["This is a minor point.", "But this is a minor quibble."]
    name = choose_name(sentences, np.array([0.9, 0.8]), [0.0, 0.0], [], extra=["The answer omits the units."])
    assert name == "Missing units"


# -- names from an LLM ------------------------------------------------------------------------------------
EVIDENCE = {
    "units": ["The answer omits the units.", "No units are given for the total.", "Units are missing."],
    "sums": ["The model adds 12 and 15 wrongly.", "There is an addition error.", "The sum is wrong."],
    "long": ["The answer is far too long.", "The response is verbose.", "It repeats itself."],
}
GOOD = "[1] Missing units in final answers\n[2] Addition errors in multi-step sums\n[3] Overly long, repetitive answers"


BY_TOPIC = {
    "units": "Missing units in final answers",
    "addition": "Addition errors in multi-step sums",
    "long": "Overly long, repetitive answers",
}


def _responder(messages):
    text = messages[-1]["content"]
    if "GARBAGE" in text:
        return "I cannot help with that."
    if "break naming rules" in text:
        return "[1] Arithmetic slips when adding totals"
    if "BAD-SECOND" in text:
        return "[1] Missing units in final answers\n[2] The response has errors\n[3] Overly long, repetitive answers"
    if "adds 12 and 15" in text:
        return GOOD
    # Name each numbered block after the topic its evidence is about, whatever the order of the issues.
    blocks = re.split(r"^\[(\d+)\]$", text.split("ISSUES", 1)[-1], flags=re.MULTILINE)[1:]
    lines = [
        f"[{number}] " + next((name for key, name in BY_TOPIC.items() if key in body.lower()), "Unknown topic")
        for number, body in zip(blocks[::2], blocks[1::2])
    ]
    return "\n".join(lines)


@pytest.fixture()
def server():
    with FakeOpenAIServer(responder=_responder) as running:
        yield running


def _judge(server):
    return OpenAIHTTPJudge(
        server.url, model="fake", sampling=SamplingParams(greedy=True), max_retries=1, backoff_base=0.01
    )


def test_llm_names_in_at_most_k_plus_one_calls_and_cached(server, tmp_path):
    cache = tmp_path / "names.jsonl"
    names, meta = name_issues_with_llm(EVIDENCE, _judge(server), cache=cache)
    assert names == {
        "units": "Missing units in final answers",
        "sums": "Addition errors in multi-step sums",
        "long": "Overly long, repetitive answers",
    }
    assert meta["llm_calls"] == len(server.chat_requests) == 1 <= len(EVIDENCE) + 1
    assert meta["fallbacks"] == {} and meta["from_llm"] == list(EVIDENCE)
    prompt = server.chat_requests[0].body["messages"][-1]["content"]
    assert "The answer omits the units." in prompt and "[3]" in prompt

    server.reset()
    again, again_meta = name_issues_with_llm(EVIDENCE, _judge(server), cache=cache)
    assert again == names and again_meta["llm_calls"] == 0 == len(server.chat_requests)
    assert again_meta["cache_hits"] == 1


def test_llm_names_that_break_the_rules_are_asked_again_once(server, tmp_path):
    evidence = {**EVIDENCE, "sums": [*EVIDENCE["sums"], "BAD-SECOND"]}
    names, meta = name_issues_with_llm(evidence, _judge(server), cache=None)
    assert names["sums"] == "Arithmetic slips when adding totals"
    assert meta["llm_calls"] == 2 <= len(evidence) + 1 and meta["fallbacks"] == {}


def test_garbage_output_falls_back_to_the_llm_free_names(server):
    evidence = {k: [*v, "GARBAGE"] if k == "units" else v for k, v in EVIDENCE.items()}
    fallback = {"units": "Missing units", "sums": "Addition errors", "long": "Excessive length"}
    names, meta = name_issues_with_llm(evidence, _judge(server), cache=None, fallback=fallback)
    assert names == fallback
    assert meta["llm_calls"] == 2 <= len(evidence) + 1  # the batch, then one rename that is garbage too
    assert set(meta["fallbacks"]) == set(evidence)


def test_no_issue_no_call(server):
    assert name_issues_with_llm({}, _judge(server), cache=None) == ({}, {
        "llm_calls": 0, "cache_hits": 0, "from_llm": [], "fallbacks": {}
    })  # fmt: skip
    assert server.chat_requests == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1] Missing units\n[2] Addition errors", {1: "Missing units", 2: "Addition errors"}),
        ("1. **Missing units**\n2) Addition errors.", {1: "Missing units", 2: "Addition errors"}),
        ('Issue 1: "Missing units in answers": the answers omit units', {1: "Missing units in answers"}),
        ("Here you go:\n- [2] Addition errors\n[7] out of range", {2: "Addition errors"}),
        ("Sorry, I cannot do that.", {}),
        ("", {}),
    ],
)
def test_names_are_parsed_leniently(text, expected):
    assert parse_names(text, 3) == expected


def test_discover_names_with_a_judge_and_records_the_calls(server, tmp_path, monkeypatch):
    from misattribution.discovery import discover

    monkeypatch.setenv("MISATTRIBUTION_CACHE", str(tmp_path))
    feedback = {
        "units": "The answer omits the units of the result.",
        "sums": "There is an addition error in the total.",
        "long": "The response is far too long and repeats itself.",
    }
    records = [
        {"feedback": f"The approach is fine. {feedback[kind]}", "score": 1, "id": f"{kind}{i}"}
        for kind in feedback
        for i in range(6)
    ] + [{"feedback": "Correct and clear.", "score": 3, "id": f"ok{i}"} for i in range(4)]
    report = discover(pd.DataFrame(records), fast=True, progress=False, tree=False, name_with=_judge(server))
    clustered = [i for i in report.issues if i.provenance == "cluster"]
    assert {i.name for i in clustered} == set(BY_TOPIC.values())
    assert report.meta["naming"]["llm_calls"] == 1 == len(server.chat_requests) <= len(clustered) + 1
    assert report.meta["llm_calls"] == 1 and report.meta["naming"]["fallbacks"] == {}
    assert len(report.meta["naming"]["renamed"]) == len(clustered) == 3
    # the ids stay those of the LLM-free names: the same rows, another name
    plain = discover(pd.DataFrame(records), fast=True, progress=False, tree=False)
    assert {i.id for i in plain.issues} == {i.id for i in report.issues}


def test_the_cli_names_with_a_judge_endpoint(server, tmp_path, monkeypatch, capsys):
    import json

    from misattribution.cli import main

    monkeypatch.setenv("MISATTRIBUTION_CACHE", str(tmp_path / "cache"))
    records = [
        {"feedback": f"The approach is fine. {text}", "score": 1, "id": f"{key}{i}"}
        for key, text in (
            ("u", "The answer omits the units of the result."),
            ("a", "There is an addition error in the total."),
            ("l", "The response is far too long and repeats itself."),
        )
        for i in range(6)
    ] + [{"feedback": "Correct and clear.", "score": 3, "id": f"ok{i}"} for i in range(4)]
    pd.DataFrame(records).to_csv(tmp_path / "judged.csv", index=False)
    argv = ["discover", str(tmp_path / "judged.csv"), "-o", str(tmp_path / "bundle"), "--fast", "--quiet"]
    assert main([*argv, "--no-tree", "--name-with", server.url]) == 0
    meta = json.loads((tmp_path / "bundle" / "meta.json").read_text())
    assert meta["naming"]["llm_calls"] == 1 and meta["naming"]["model"] == "fake-judge"
    assert set(BY_TOPIC.values()) <= {issue["name"] for issue in meta["issues"]}
    assert "Missing units in final answers" in capsys.readouterr().out


def test_a_summary_names_a_cluster_only_with_words_its_evidence_shares():
    """Seen on clear_gsm8k: a CLEAR summary of one row named a whole cluster after that row's question."""
    members = [
        "The addition of the amounts is wrong: it should be subtracting them.",
        "An addition of both amounts where subtracting was needed.",
        "It adds the pears to the bananas.",
    ]
    central = (["This represents the additional number of pears, not the total."], np.array([0.9]), [0.0], [])
    extra = ["Misinterpretation of the second floor's height in relation to the first."]
    assert "floor" not in choose_name(*central, members=members, extra=extra).casefold()
    extra = ["The answer adds the amounts instead of subtracting them."]
    assert choose_name(*central, members=members, extra=extra) == "Addition of the amounts instead of subtracting them"


def test_a_leading_proper_name_and_a_bare_response_subject_break_the_rules():
    members = ["But Austria was explicitly excluded by the user.", "But the user required only a JSON object."]
    assert name_problems("Austria excluded by the user", members=members) == [
        'instance: "Austria" belong to one instance (not in every evidence sentence)'
    ]
    assert name_problems("Response packed")[0].startswith("subject:")
    assert name_problems("Answer unsupported by the retrieved context") == []
    assert name_problems("Confusion of web_search with python_exec")[0].startswith("instance:")
    assert name_problems("Results of the planner ignored", instances=["planner"])[-1].startswith("instance:")
    assert name_problems("Failure to say")[0].startswith("cut:")
    assert name_problems("Proceeds")[-1] == 'vague: the single word "Proceeds" names no problem'


def test_a_number_of_one_instance_is_dropped_from_a_name_when_cutting_would_leave_one_word():
    members = ["The model misreads the 40% discount.", "It misreads the wording of the rebate."]
    name = choose_name(
        ["Firstly, the model misreads the 40% discount on the second item."], np.array([0.9]), [0.0], members=members
    )
    assert name == "Misreading of the discount on the second item"
    assert name_problems(name, members=members) == []


def test_system_names_not_shared_by_every_member_are_put_in_general_terms():
    systems = ["analyst", "planner", "tool caller", "tool_caller", "writer"]
    members = [
        "The writer ignores the results handed over by the analyst.",
        "Unfortunately, the tool caller ignores the results handed over by the planner.",
    ]
    name = choose_name(members, np.array([0.9, 0.89]), [0.0, 0.0], members=members, instances=systems)
    assert name == "Ignored results handed over by another system"
    # a system every member names stays: the issue is that system's
    own = ["The reviewer passes the draft without a reason.", "The reviewer approves it without saying why."]
    assert "reviewer" in generalise_systems(own[0], ["reviewer", "writer"], own)


def test_a_name_ending_on_versus_is_cut_mid_phrase():
    assert name_problems("Rounding of the cost per bag versus") != []


def test_a_leading_measure_goes_and_a_count_that_sizes_a_noun_is_repaired_away():
    name = issue_name("At about 90 words, the reply is more than twice the 40-word limit.")
    assert name == "Reply more than twice the 40-word limit"
    members = ["The reply runs past the 40-word limit.", "The reply is twice the 60-word limit."]
    assert name_problems(name, members=members) != []  # "40" is one instance's
    sentence = "At about 90 words, the reply runs past the 40-word limit."
    assert choose_name([sentence], np.array([0.9]), [0.0], members=members) == "Running past the word limit"


def test_cutting_one_instance_keeps_the_complement_that_states_the_problem():
    # Cutting at the instance used to drop the verdict too: "Getting a basic fact" (wrong), "Claim" (not supported).
    assert _repair("Getting a basic fact about Mars wrong", [], [], []) == "Getting a basic fact wrong"
    assert _repair("Instruction to write in French not followed", [], [], []) == "Instruction to write not followed"
    assert _repair("Claim that Peru leads on electricity use is not supported", [], [], []) == "Claim not supported"
    # a longer tail after the instance is not a complement: the cut stays as it was
    assert _repair("Wrong total for the Smith family of four people", [], [], []) == "Wrong total"


def test_a_particle_verb_is_not_a_missing_item_and_one_sided_between_is_cut():
    assert issue_name("The numbers do not add up.") == "Numbers not adding up"
    assert issue_name("The response does not add a summary.") == "Missing summary"
    assert name_problems("Contradiction between the table")[0].startswith("cut:")
    assert not name_problems("Contradiction between the table and the text")
    assert name_problems("Fictitious entries, supposedly")[0].startswith("cut:")
    assert name_problems("Instruction to write")[0].startswith("cut:")


def test_phrases_only_a_few_evidence_sentences_carry_are_dropped_from_a_name():
    members = [f"There is a contradiction between the table and the text about the {q}." for q in
               ("total cost", "tip", "tax owed", "rent", "loan balance", "fare")]  # fmt: skip
    name = "Contradiction between the table and the text about the total cost"
    assert drop_rare_phrases(name, members) == "Contradiction between the table and the text"
    # a phrase every member carries stays, and so does one that carries the verdict
    assert drop_rare_phrases("Contradiction between the table and the text", members) == (
        "Contradiction between the table and the text"
    )
    assert drop_rare_phrases("Date of the moon landing that is not true", ["The date is wrong."] * 6) == (
        "Date that is not true"
    )
    # "in Czech instead of German" is the problem (the wrong language), not a detail: it stays, whole
    languages = [("Czech", "German"), ("Polish", "French"), ("Dutch", "Greek"), ("Thai", "Hindi"), ("Malay", "Urdu")]
    replies = [f"The reply is in {a} instead of {b} from the introduction onwards." for a, b in languages]
    name = "Response in Czech instead of German from the introduction onwards"
    assert drop_rare_phrases(name, replies) == name
    # choose_name applies it: the central sentence names the cluster without its one-row detail
    sentences = members[:3]
    name = choose_name(sentences, np.array([0.9, 0.85, 0.84]), [0.0] * 3, members=members)
    assert name == "Contradiction between the table and the text"


# -- words one row carries ---------------------------------------------------------------------------------
def test_words_only_one_row_carries_are_unshared():
    rows = [
        "It omits the income limits for direct contributions.",
        "It does not mention fees or diversification.",
        "Clarity cannot offset a potentially harmful recommendation.",
    ]
    assert unshared_words("Missing income limit", rows) == ["income", "limit"]
    assert shares_no_problem("Missing income limit", rows)
    # stems, by their first five letters: "calculating" is carried by "calculated", not "elevation" by "relevant"
    rows = ["The total is calculated wrongly.", "It calculated the tip twice.", "The relevant figure is missing."]
    assert unshared_words("Mistake in calculating the elevation", rows) == ["elevation"]
    # the head is the naming's own noun ("Statement" of "states"), left out unless asked for
    assert (
        unshared_words("Statement of the wrong capital", ["It states the wrong capital.", "Wrong capital given."]) == []
    )
    assert unshared_words(
        "Statement of the wrong capital", ["It states the wrong capital.", "Wrong capital."], head=True
    ) == ["statement"]
    # one word of one row among shared ones: still a problem the rows share
    rows = ["At 120 words it is twice the word limit.", "It runs past the word limit.", "The word limit is ignored."]
    assert unshared_words("Response more than twice the word limit", rows) == ["twice"]
    assert not shares_no_problem("Response more than twice the word limit", rows)
    # one member, or a Chinese name: nothing to compare
    assert unshared_words("Missing income limit", rows[:1]) == []
    assert unshared_words("朝代错误", ["朝代错误。", "列式出现错误。"]) == []


def test_a_summary_name_with_words_of_one_row_loses():
    """CLEAR's per-row summaries compete as names; a summary's topic words must recur in another evidence
    sentence (here "elevation", "comb" belong to one row's problem)."""
    sentences = ["The model should have subtracted the distance the comb fell.", "It fails to subtract the books sold."]
    summary = ["But it contains a critical error in calculating the final elevation."]
    name = choose_name(sentences, np.array([0.9, 0.88]), [0.0, 0.0], members=sentences, extra=summary)
    assert "elevation" not in name


def test_an_improvement_idea_names_no_shortcoming():
    """CLEAR's summary "The only suggested improvement is to explicitly state an assumption" became the name
    "Suggested improvement to state an assumption" of a 14-row leaf."""
    assert names_no_shortcoming("Suggested improvement to state an assumption")
    assert names_no_shortcoming("Potential improvement in the conclusion")
    assert any(p.startswith("suggestion") for p in name_problems("Room for improvement in clarity"))
    assert not names_no_shortcoming("Missing statement of the assumptions")
    assert not names_no_shortcoming("Improvised tool arguments")
    rows = pd.DataFrame({"summary": ["The only suggested improvement is to explicitly state an assumption."]})
    assert issue_name(summary_candidates(rows, [0])[0]) == "Suggested improvement to state an assumption"


def test_that_before_a_number_opens_a_clause_not_a_reference():
    """'It then concludes that 221 is prime.' (the sample, a rare issue of one row) was named "Conclusion that
    is prime": "that 221" read as pointing to a missing context, and the repair cut the number."""
    assert name_problems("Conclusion that 221 is prime", members=["But it then concludes that 221 is prime."]) == []
    assert name_problems("Claim that figure is wrong")[0].startswith("context:")


def test_a_participle_left_alone_when_an_instance_is_cut_goes_too():
    """Seen on the agents fixture: ", published in 2019" lost its year (one instance) and left ", published"."""
    members = ["It cites a trade press article, published in 2019.", "It cites a vendor blog, published in 2015."]
    assert _repair("Citation of a trade press article, published in 2019", [], members, []) == (
        "Citation of a trade press article"
    )


@pytest.mark.parametrize(
    "name",
    ["Chosen tool and topic inappropriate given the tool constraints", "Queried not all required topics",
     "Misattributed quote", "Stale search results"],
)  # fmt: skip
def test_names_that_say_what_is_wrong(name):
    assert says_what_is_wrong(name)


@pytest.mark.parametrize(
    "name",
    ["Necessary constant already provided in the research facts", "Tool's description specifying available topics",
     "Mission statement"],
)  # fmt: skip
def test_names_that_only_describe(name):
    """A small cluster named so is dropped (pipeline._name_issues): nothing in its name is wrong."""
    assert not says_what_is_wrong(name)
