"""Judged rows with planted shortcomings, and the scores that say how well discovery finds them.

Discovery is measured on data where the truth is known. :func:`generate` writes judged rows whose
feedback reads like an LLM judge's critique and records what was planted:

* ``domain="agents"``: a six-agent research system (``planner``, ``researcher``, ``tool_caller``,
  ``analyst``, ``writer``, ``reviewer``), one ``system`` per agent, 600 rows by default, 12 planted
  shortcomings (:data:`AGENT_SHORTCOMINGS`): some belong to one agent ("plan skips a required step"),
  some are shared ("claims not supported by the retrieved sources"), two pairs are near neighbours that
  must stay distinct (``wrong_tool`` / ``tool_wrong_units``, ``unsupported_claim`` /
  ``missing_citation``), and ``leaks_secret`` is rare: it is planted in exactly ``rare_rows`` (3) rows;
* ``domain="general"``: a general assistant, 100,000 rows by default, 12 planted shortcomings that
  differ in meaning (:data:`GENERAL_SHORTCOMINGS`), three systems; the input of
  ``benchmarks/bench_discovery_100k.py``.

Every shortcoming has 12 phrasings that differ in syntax and vocabulary, some hedged, many with
instance details that vary per row (a tool name, a unit, a year, a number). Its sentences are mixed
with confounders: praise (some in the shortcomings' own vocabulary, "Uses the provided values and does
not introduce external facts"), neutral description, scoring rationale ("This would not be the lowest
possible score ...") and suggestions that name no fault. Passing rows get praise and neutral sentences
only; about ``double_share`` (20%) of failing rows carry two shortcomings.

**Score scale**: integers 1..5, 5 = pass (a passing row has score 5, a failing row 1..4). Pass
``score_range=(1, 5)`` to :func:`~misattribution.discovery.discover`, since a sample whose scores all
fall in 0..3 would otherwise be read on the 0..3 scale.

**Hold-out**: every phrasing pool (each shortcoming's, and the praise, neutral, rationale and
suggestion pools) is split in two by position: even positions are ``dev``, odd positions ``test``
(:func:`split_pool`). ``generate(..., split="test")`` writes only test phrasings. Benchmarks report on
``split="test"``; a developer tuning discovery may read and run ``split="dev"`` but should not look at
the test phrasings, so that the benchmark figure is not fitted to them. With the same seed, both splits
plant the same shortcomings in the same rows; only the wording differs.

In the general domain, half of the comma-free critique sentences also carry a detail that belongs to
their shortcoming only ("when {func} receives an empty list"), from large vocabularies, so that at
100,000 rows the failing rows hold ~30,000 distinct sentences (~17,000 after masking numbers). A detail
is never shared by two shortcomings: shared wording would make different issues look alike.

The ground truth (:class:`PlantedData`): ``planted`` (row id → planted keys, in order) and
``sentences`` (one line per feedback sentence: ``row_id``, ``position``, ``kind``, ``text``), where
``kind`` is ``shortcoming:<key>``, ``praise``, ``neutral``, ``rationale`` or ``suggestion``.

The scores: :func:`recovery` (planted-issue recovery F1), :func:`praise_leaves` (issues made of
sentences that criticise nothing) and :func:`pooled_vs_per_system` (does one pooled run agree with a
run per system?).

>>> data = generate("agents", n_rows=12, seed=1)
>>> list(data.frame.columns)
['id', 'system', 'question', 'answer', 'feedback', 'score']
>>> bool(data.frame["score"].between(1, 5).all()), data.planted == generate("agents", n_rows=12, seed=1).planted
(True, True)
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

SPLITS = ("dev", "test")
SCORE_RANGE = (1, 5)
KINDS = ("praise", "neutral", "rationale", "suggestion")  # besides "shortcoming:<key>"


@dataclass(frozen=True)
class Shortcoming:
    """A planted shortcoming: its key, what it means, who can show it, and how judges phrase it.

    ``systems`` empty means every system; ``rare`` shortcomings are planted in a fixed, small number of
    rows instead of being drawn like the others. ``details`` are clauses about the instance that belong to
    this shortcoming only ("when {func} receives an empty list"); half of the phrasings without a comma
    get one before their full stop.
    """

    key: str
    summary: str
    phrasings: tuple[str, ...]
    systems: tuple[str, ...] = ()
    rare: bool = False
    details: tuple[str, ...] = ()


def split_pool(pool: tuple[str, ...], split: str) -> tuple[str, ...]:
    """The ``dev`` (even positions) or ``test`` (odd positions) half of a phrasing pool.

    >>> split_pool(("a", "b", "c", "d"), "test")
    ('b', 'd')
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return pool[SPLITS.index(split) :: 2]


# -- the agents domain ----------------------------------------------------------------------------------
AGENTS = ("planner", "researcher", "tool_caller", "analyst", "writer", "reviewer")

AGENT_SHORTCOMINGS = {
    s.key: s
    for s in (
        Shortcoming(
            "plan_skips_step",
            "the plan skips a step the task requires",
            (
                "The plan skips {step}, which the task clearly requires.",
                "There is no step for {step} anywhere in the plan.",
                "A required step is missing: the planner never schedules {step}.",
                "The planner jumps straight from retrieval to writing without {step}.",
                "It seems the plan leaves out {step}, so later agents have nothing to build on.",
                "Nothing in the {k} listed steps covers {step}.",
                "The plan is incomplete because {step} is never planned.",
                "I could not find {step} among the planned actions.",
                "The planner omits an essential stage of the workflow, namely {step}.",
                "Without a step for {step}, the plan cannot produce a reliable answer.",
                "The decomposition misses {step} entirely.",
                "Possibly the planner assumed {step} was unnecessary, although the task depends on it.",
            ),
            ("planner",),
        ),
        Shortcoming(
            "outdated_sources",
            "the retrieved sources are out of date",
            (
                "The researcher relies on {source} from {old_year}, which is badly out of date.",
                "Most retrieved documents predate {year0}, so the figures are stale.",
                "The sources are old: the newest one is from {old_year}.",
                "It cites {source}, published in {old_year}, even though more recent data exists.",
                "Retrieval favours outdated material over current statistics.",
                "Several references are more than a decade old.",
                "The {metric} figures come from a {old_year} publication rather than recent data.",
                "The researcher did not look for anything newer than {old_year}.",
                "The retrieved evidence may be out of date, as the latest source is {age} years old.",
                "Out-of-date sources are used for a question about {year}.",
                "Nothing retrieved reflects the situation after {old_year}.",
                "The search results it keeps are stale, dating from around {old_year}.",
            ),
            ("researcher",),
        ),
        Shortcoming(
            "wrong_tool",
            "the wrong tool is chosen for the step",
            (
                "The agent calls {tool} when the task needs {right_tool}.",
                "{tool} is the wrong tool here, and {right_tool} was the obvious choice.",
                "Choosing {tool} for this request makes little sense, since it cannot compute the {metric}.",
                "The wrong tool was selected: a {right_tool} call was needed, not {tool}.",
                "Instead of using {right_tool}, the agent reaches for {tool}.",
                "It picks an unsuitable tool ({tool}) for the job.",
                "The tool choice is off, because {tool} does not do what this step requires.",
                "Using {tool} rather than {right_tool} shows the agent misjudged which tool fits.",
                "I would have expected a call to {right_tool}, not to {tool}.",
                "The selected tool is inappropriate for looking up the {metric}.",
                "The agent seems to confuse {tool} with {right_tool}.",
                "A different tool should have been chosen, as {tool} is not designed for this.",
            ),
            ("tool_caller",),
        ),
        Shortcoming(
            "tool_wrong_units",
            "the right tool is called with arguments in the wrong units",
            (
                "The {tool} call passes the value in {wrong_unit} although the tool expects {unit}.",
                "The arguments are in the wrong units: {value} {wrong_unit} instead of {unit}.",
                "Although {tool} is the right tool, its input is given in {wrong_unit} rather than {unit}.",
                "It sends {value} as if it were in {unit}, while the number is actually in {wrong_unit}.",
                "The unit of the argument does not match the tool's specification ({unit}).",
                "There is a unit mix-up in the call's parameters, with {wrong_unit} supplied.",
                "The agent forgets to convert {wrong_unit} to {unit} before calling {tool}.",
                "Parameters are passed in {wrong_unit}, so the tool's result is off by a large factor.",
                "Even with the correct tool, the arguments to {tool} use the wrong unit.",
                "The call's arguments appear to be in {wrong_unit}, which the tool does not accept.",
                "The value handed to {tool} should have been expressed in {unit}.",
                "Unit handling in the tool arguments is wrong ({wrong_unit} given, {unit} expected).",
            ),
            ("tool_caller",),
        ),
        Shortcoming(
            "calculation_error",
            "a calculation in the analysis is wrong",
            (
                "The analyst computes the change in {metric} as {pct}% when the data gives {pct2}%.",
                "There is an arithmetic mistake in the growth rate.",
                "The average of the {k} values is miscalculated.",
                "Dividing {value} by {k} does not give the figure the analyst reports.",
                "The percentage difference between {place_a} and {place_b} is computed incorrectly.",
                "A calculation error makes the reported total too high.",
                "The analyst seems to have added up the yearly figures wrongly.",
                "The sum of the two regions is off by {delta}.",
                "Its ratio is inverted, so the comparison comes out backwards.",
                "The computed {metric} does not follow from the numbers in the table.",
                "The arithmetic behind the final estimate is wrong.",
                "The per-capita figure is off because the analyst divided by the wrong population.",
            ),
            ("analyst",),
        ),
        Shortcoming(
            "unsupported_claim",
            "claims are not supported by the retrieved sources",
            (
                "The claim that {place_a} leads on {metric} is not supported by any of the retrieved sources.",
                "Several statements go beyond what the sources say.",
                "None of the retrieved documents backs the figure of {value} {unit}.",
                "The agent asserts things the evidence does not contain.",
                "It states that the trend will continue, yet no source supports this.",
                "The conclusion about {place_b} is not grounded in the retrieved material.",
                "Some facts appear to come from outside the provided sources.",
                "The {metric} value it reports cannot be found in {source}.",
                "I could not match the key claim to anything in the retrieved evidence.",
                "The output introduces information that the sources do not support.",
                "Parts of the answer seem invented rather than drawn from the documents.",
                "Unsupported assertions about {place_a} appear in {section}.",
            ),
            ("researcher", "analyst", "writer"),
        ),
        Shortcoming(
            "missing_citation",
            "statements carry no citation of their source",
            (
                "None of the figures is attributed to a source.",
                "The report gives numbers without citing where they come from.",
                "Citations are missing for the {metric} values.",
                "The draft does not reference {source} even though its numbers come from there.",
                "No source is named for the claim about {place_a}.",
                "Statements in {section} lack citations.",
                "It never says which document the {value} {unit} figure is taken from.",
                "Although the sources were retrieved, the text cites none of them.",
                "References are absent, so a reader cannot check the figures.",
                "The writer leaves out all in-text citations.",
                "Key numbers appear with no attribution.",
                "There is no footnote or reference list for any of the {k} figures.",
            ),
            ("researcher", "writer"),
        ),
        Shortcoming(
            "ignores_instruction",
            "an explicit instruction of the user is ignored",
            (
                "The output disregards {instruction}.",
                "The agent does not respect {instruction}, which the user stated explicitly.",
                "An explicit user instruction is ignored, namely {instruction}.",
                "It overlooks {instruction}, which the user spelled out.",
                "The result goes against {instruction}.",
                "The user's constraint ({instruction}) is not honoured.",
                "Despite {instruction}, the agent proceeds as if no such request had been made.",
                "It is as though the agent never read {instruction}.",
                "Following the user's instructions was part of the task, and {instruction} is violated.",
                "The output fails to comply with {instruction}.",
                "The agent acts as though the user never mentioned {instruction}.",
                "What the user explicitly asked for ({instruction}) is not done.",
            ),
            ("planner", "analyst", "writer", "reviewer"),
        ),
        Shortcoming(
            "reviewer_no_justification",
            "the reviewer passes a draft without justifying the verdict",
            (
                "The reviewer approves the draft without explaining why.",
                "The verdict 'approved' comes with no justification.",
                "No reasons are given for passing the draft.",
                "The review consists of a bare 'looks good' with nothing to support it.",
                "It accepts the report without saying what was checked.",
                "The reviewer signs off on the draft and offers no rationale.",
                "There is no argument behind the reviewer's decision to pass the draft.",
                "Passing the draft without a single comment is not a real review.",
                "The approval is unjustified, since the reviewer cites no check or criterion.",
                "The reviewer's verdict is asserted rather than argued.",
                "I see no explanation for why the reviewer considers the draft ready.",
                "The reviewer gives the draft a pass in one line, with no supporting reasoning.",
            ),
            ("reviewer",),
        ),
        Shortcoming(
            "verbose_report",
            "the report is padded and far longer than needed",
            (
                "The report runs to about {words} words when a page would do.",
                "The writing is padded with repetition.",
                "Much of the draft restates the same point in different words.",
                "It is far longer than the task needs.",
                "The summary is buried under {k} paragraphs of background.",
                "Whole paragraphs in {section} add nothing new.",
                "The draft could be cut by half without losing content.",
                "Verbose phrasing makes the main finding hard to locate.",
                "The text is wordy and over-explains simple points.",
                "There is a lot of filler before the answer appears.",
                "The output is bloated, and the key numbers are lost in long prose.",
                "It repeats the methodology {k} times.",
            ),
            ("writer",),
        ),
        Shortcoming(
            "ignores_previous_output",
            "the agent ignores the output of the previous agent",
            (
                "The {role} ignores the results handed over by {prev}.",
                "It starts from scratch instead of using the output of {prev}.",
                "The findings of {prev} are not used at all.",
                "None of the {k} items passed on by {prev} appear in this step's work.",
                "The agent redoes work that {prev} had already completed.",
                "Context from the previous step is lost.",
                "It disregards the upstream output and relies on its own assumptions.",
                "The hand-off from {prev} is ignored, so the pipeline's earlier work is wasted.",
                "This step does not build on what {prev} produced.",
                "The agent seems unaware of what {prev} found.",
                "Information already gathered upstream is dropped.",
                "Rather than working from the results of {prev}, the agent improvises.",
            ),
            ("tool_caller", "analyst", "writer", "reviewer"),
        ),
        Shortcoming(
            "leaks_secret",
            "a credential is exposed in a tool call",
            (
                "The tool call exposes the user's {secret} in plain text.",
                "A {secret} is pasted into the query string of {tool}.",
                "Sensitive credentials appear in the logged arguments.",
                "The agent leaks the {secret} to an external service.",
                "It includes a private {secret} in the request, which is a security risk.",
                "The arguments contain what looks like a live {secret}.",
                "Credentials are leaked through the tool parameters.",
                "A confidential {secret} is echoed in the output.",
                "The call reveals the {secret} that the user supplied for another purpose.",
                "Private authentication data ends up in the {tool} request.",
                "The agent passes the raw {secret} to a third-party tool.",
                "Secrets should never be sent to {tool}, and this call contains one.",
            ),
            ("tool_caller",),
            rare=True,
        ),
    )
}

AGENT_PRAISE = (
    "Uses the provided values and does not introduce external facts.",
    "Every figure in the summary is traced back to a cited source.",
    "The {tool} call passes its arguments in the units the tool expects.",
    "The plan covers every step the task requires, in a sensible order.",
    "The reviewer explains clearly why the draft is accepted.",
    "Choosing {tool} for this step is exactly right.",
    "The output respects {instruction}.",
    "The {metric} calculations check out.",
    "The sources are recent and relevant.",
    "The answer is concise and well structured.",
    "It builds directly on the findings handed over by {prev}.",
    "No credentials or personal data appear in the tool calls.",
    "The writing is clear and easy to follow.",
    "The agent stays within its role and hands over a clean result.",
    "Claims are grounded in the retrieved documents.",
    "Nothing in the draft is padded or repeated.",
    "The comparison between {place_a} and {place_b} is fair and balanced.",
    "Units are stated consistently throughout.",
    "The agent follows the user's instructions to the letter.",
    "Each step of the reasoning is easy to verify.",
)
AGENT_NEUTRAL = (
    "The task asks for the {metric} of {place_a} and {place_b}.",
    "The {role} received {k} documents from the previous step.",
    "The evaluation focuses on grounding, correctness and instruction following.",
    "The output reports a value of {value} {unit}.",
    "The agent made {k} tool calls in total.",
    "The user asked for figures for {year}.",
    "This is the {ordinal} agent in the pipeline.",
    "The draft is roughly {short_words} words long.",
    "The request concerns {place_a}.",
    "The retrieved set includes {source}.",
    "The output is written in English.",
    "The step's input was the plan produced earlier.",
    "The answer is given in {unit}.",
    "Each agent's contribution is graded on a five-point scale.",
)
RATIONALE = (
    "The score should reflect how much these problems weaken the result.",
    "This would not be the lowest possible score, since most of the work is usable.",
    "Given the severity of the issue, a score of {score} seems appropriate.",
    "The rating weighs correctness more heavily than style.",
    "Because the rest of the output is sound, the score is not lower.",
    "The grade accounts for both the strengths and the problems noted above.",
    "A mid-range score reflects a mix of strengths and weaknesses.",
    "Points are deducted for this, though not the maximum.",
    "On balance, this earns a below-average rating.",
    "The score reflects that the output is partly usable.",
    "I would place this in the lower half of the scale.",
    "This is serious enough to lose points but not to fail outright.",
)
AGENT_SUGGESTIONS = (
    "A short summary table at the end could help the reader.",
    "It might be worth adding a sentence on the methodology.",
    "Future versions could mention the uncertainty around the {metric}.",
    "A glossary for technical terms would be a nice touch.",
    "The agent could also note when the data was last updated.",
    "Headings for each section would make the output easier to scan.",
    "It would help to state the assumptions at the top.",
    "A link to the raw data would be useful for readers who want to check.",
    "Rounding to one decimal place would make the figures easier to read.",
    "Consider adding a one-line takeaway for busy readers.",
    "A chart comparing {place_a} and {place_b} could make the contrast clearer.",
    "Next time, the agent might flag which figures are estimates.",
)

_TASKS = (  # (request, metric, unit, a unit the tool does not expect)
    ("Compare the electricity used by data centres in {place_a} and {place_b} in {year}.", "electricity use", "TWh",
     "GWh"),
    ("Estimate the average commute distance in {place_a} versus {place_b}.", "commute distance", "kilometres",
     "miles"),
    ("Summarise how the price of lithium changed between {year0} and {year}.", "lithium price", "dollars per tonne",
     "euros per kilogram"),
    ("Report the mean summer temperature in {place_a} and {place_b} over the last decade.", "mean temperature",
     "degrees Celsius", "degrees Fahrenheit"),
    ("How much rain fell in {place_a} and {place_b} in {year}?", "annual rainfall", "millimetres", "inches"),
    ("Compare the population density of {place_a} and {place_b}.", "population density",
     "people per square kilometre", "people per square mile"),
    ("Estimate the emissions of a flight from {place_a} to {place_b}.", "flight emissions", "kilograms of CO2",
     "pounds of CO2"),
    ("What share of the electricity of {place_a} and {place_b} came from wind in {year}?", "wind share",
     "percent", "a fraction of one"),
)  # fmt: skip
_PLACES = ("Ireland", "Denmark", "Portugal", "Chile", "Kenya", "Norway", "Japan", "Canada", "Poland", "Vietnam",
           "Morocco", "Peru", "Finland", "Ghana", "Austria", "Colombia")  # fmt: skip
_TOOLS = ("web_search", "fetch_page", "calculator", "unit_converter", "sql_query", "pdf_reader", "python_exec",
          "currency_converter", "weather_api", "geo_lookup")  # fmt: skip
_SOURCES = ("the IEA annual review", "a Eurostat table", "the national statistics office bulletin", "a trade press article",
            "a university working paper", "the World Bank data portal", "an industry white paper", "a news feature")  # fmt: skip
_STEPS = ("converting every figure to {unit}", "checking the publication dates of the sources",
          "cross-checking the figures against a second source", "collecting the data for {place_b}",
          "fixing the time period to compare", "retrieving the {year} figures", "defining how the {metric} is measured")  # fmt: skip
_INSTRUCTIONS = (  # (as the user wrote it, as a critique names it)
    ("Keep the answer under {limit} words.", "the {limit}-word limit"),
    ("Present the figures in a table.", "the request for a table"),
    ("Use only sources published after {year0}.", "the restriction to sources published after {year0}"),
    ("Give every amount in euros.", "the request to give amounts in euros"),
    ("Do not include any forecasts.", "the instruction not to include forecasts"),
    ("Write for a non-specialist audience.", "the request to write for non-specialists"),
    ("Answer in three bullet points.", "the request for three bullet points"),
)
_SECTIONS = ("the introduction", "the second paragraph", "the summary", "the conclusion", "the results table",
             "the opening paragraph")  # fmt: skip
_SECRETS = ("API key", "access token", "password", "session cookie")
_PREVIOUS = {"planner": "the orchestrator", "researcher": "the planner", "tool_caller": "the planner",
             "analyst": "the researcher", "writer": "the analyst", "reviewer": "the writer"}  # fmt: skip
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
_ROLES = {"planner": "planner", "researcher": "researcher", "tool_caller": "tool caller", "analyst": "analyst",
          "writer": "writer", "reviewer": "reviewer"}  # fmt: skip


def _agent_slots(rng: random.Random, system: str) -> dict[str, Any]:
    request, metric, unit, wrong_unit = rng.choice(_TASKS)
    place_a, place_b = rng.sample(_PLACES, 2)
    tool, right_tool = rng.sample(_TOOLS, 2)
    year = rng.randint(2021, 2024)
    slots: dict[str, Any] = {
        "place_a": place_a, "place_b": place_b, "metric": metric, "unit": unit, "wrong_unit": wrong_unit,
        "tool": tool, "right_tool": right_tool, "year": year, "year0": year - rng.randint(3, 8),
        "old_year": rng.randint(2005, 2015), "age": rng.randint(8, 15), "k": rng.randint(3, 9),
        "value": f"{rng.randint(12, 980)}", "pct": rng.randint(3, 40), "pct2": rng.randint(41, 90),
        "delta": rng.randint(5, 300), "words": rng.randrange(1500, 4000, 100), "short_words": rng.randrange(200, 900, 50),
        "limit": rng.choice((150, 200, 250, 300, 400)), "source": rng.choice(_SOURCES), "section": rng.choice(_SECTIONS),
        "secret": rng.choice(_SECRETS), "prev": _PREVIOUS[system], "role": _ROLES[system],
        "ordinal": _ORDINALS[AGENTS.index(system)],
    }  # fmt: skip
    slots["step"] = rng.choice(_STEPS).format(**slots)
    asked, named = rng.choice(_INSTRUCTIONS)
    slots["instruction"] = named.format(**slots)
    slots["question"] = f"{request.format(**slots)} Give the results in {unit}. {asked.format(**slots)}"
    slots["answer"] = _agent_answer(system, slots)
    return slots


def _agent_answer(system: str, s: Mapping[str, Any]) -> str:
    answers = {
        "planner": f"Plan: 1) search for the {s['metric']} of {s['place_a']}; 2) the same for {s['place_b']}; "
        "3) compare; 4) draft the report.",
        "researcher": f"Retrieved {s['k']} documents, among them {s['source']}.",
        "tool_caller": f"{s['tool']}(query='{s['metric']} {s['place_a']}', value={s['value']})",
        "analyst": f"The {s['metric']} of {s['place_a']} is {s['value']} {s['unit']}, {s['pct']}% above {s['place_b']}.",
        "writer": f"Draft: {s['place_a']} and {s['place_b']} differ in {s['metric']} ...",
        "reviewer": "Verdict: approved.",
    }
    return answers[system]


# -- the general domain (100k benchmark) ------------------------------------------------------------------
GENERAL_SYSTEMS = ("assistant-a", "assistant-b", "assistant-c")

GENERAL_SHORTCOMINGS = {
    s.key: s
    for s in (
        Shortcoming(
            "factual_error",
            "states a false fact",
            (
                "It states that {entity} happened in {wrong_year}, which is wrong.",
                "The claim about {entity} is factually incorrect.",
                "The answer gets a basic fact about {topic} wrong.",
                "{entity_cap} is wrongly dated to {wrong_year} instead of {event_year}.",
                "There is a factual mistake, as {entity} did not take place in {wrong_year}.",
                "Several statements about {topic} are simply untrue.",
                "The response wrongly credits {entity} to {person}.",
                "A false claim about {topic} undermines the explanation.",
                "It confidently asserts something about {entity} that is not true.",
                "The description of {topic} contains an error of fact.",
                "The date given for {entity} is off by {n} years.",
                "It may have confused {entity} with {other_entity}.",
            ),
        ),
        Shortcoming(
            "arithmetic_error",
            "makes a calculation mistake",
            (
                "The sum of {n} and {m} is given as {bad_sum}, which is wrong.",
                "There is an arithmetic slip in the {quantity}.",
                "The percentage change in the {quantity} is computed incorrectly.",
                "It multiplies {n} by {m} and gets the wrong product.",
                "The calculation of the {quantity} is off.",
                "A simple division error gives {value} where {value2} is correct.",
                "The numbers do not add up.",
                "The final figure is the result of a miscalculation.",
                "It seems the response subtracted where the figures needed adding.",
                "The interest is computed with a mistake in the arithmetic.",
                "Its maths is wrong, because {n} times {m} is not {value}.",
                "The average {quantity} it reports is miscalculated.",
            ),
        ),
        Shortcoming(
            "exceeds_length_limit",
            "exceeds the length the user asked for",
            (
                "The user asked for at most {limit} words, and the answer has about {words}.",
                "It ignores the {limit}-word limit.",
                "The response is far beyond the requested length.",
                "At roughly {words} words, it exceeds the limit the user set.",
                "The length constraint in the prompt is not respected.",
                "The requested maximum of {limit} words is overshot considerably.",
                "The answer runs well past the word count that was asked for.",
                "It does not stay within the length the user specified.",
                "The reply is {k} paragraphs long although a brief answer of {limit} words was requested.",
                "The word limit is exceeded by a wide margin.",
                "Brevity was an explicit requirement, and the response is not brief.",
                "Instead of the short answer the user wanted, it delivers several times the length.",
            ),
        ),
        Shortcoming(
            "wrong_language",
            "answers in a language other than the one requested",
            (
                "Although the user asked for {language}, the reply is written in {other_language}.",
                "The response is in {other_language} instead of {language}.",
                "It answers in the wrong language.",
                "The requested language ({language}) is not used.",
                "Switching to {other_language} ignores the user's language request.",
                "The whole reply should have been in {language}.",
                "The language of the answer does not match the one the user asked for.",
                "Only the first sentence is in {language}, and the rest is in {other_language}.",
                "The assistant replies in {other_language} although the question was posed in {language}.",
                "A reader who only knows {language} could not use this answer.",
                "The instruction to write in {language} is not followed.",
                "It drifts into {other_language} midway through.",
            ),
        ),
        Shortcoming(
            "code_bug",
            "the code it gives is buggy",
            (
                "The {code_lang} function {func} fails on empty input.",
                "The code would not run, since it references a variable that is never defined.",
                "There is an off-by-one error in the loop of {func}.",
                "The snippet has a syntax error in line {n}.",
                "{func} returns the wrong value when the list has one element.",
                "The provided {code_lang} code crashes with a type error.",
                "The example {code_lang} code contains a bug that breaks {func}.",
                "It calls {method}, a method that does not exist in {code_lang}.",
                "The code seems to mutate the input list by accident.",
                "The recursion in {func} never reaches its base case.",
                "Running the snippet as written raises an exception.",
                "The logic of {func} is faulty for negative numbers.",
            ),
        ),
        Shortcoming(
            "unsafe_advice",
            "gives risky advice without safety caveats",
            (
                "It recommends {risky} without any warning about the risks.",
                "The advice to {risky_verb} could hurt the user.",
                "Suggesting {risky} with no safety caveat is irresponsible.",
                "The answer encourages a dangerous course of action.",
                "There is no advice to consult a professional before {risky}.",
                "The guidance is potentially harmful to the user's health or money.",
                "Telling the user to {risky_verb} is unsafe.",
                "It downplays the danger of {risky}.",
                "The response presents a hazardous choice as if it were safe.",
                "Safety precautions for {risky} are missing.",
                "Following this advice could cause real harm.",
                "It presents {risky} as harmless, which it is not.",
            ),
        ),
        Shortcoming(
            "fabricated_reference",
            "cites sources that do not exist",
            (
                "The paper by {author} ({ref_year}) that it cites does not exist.",
                "It invents a reference to support its claim.",
                "The study by {author} in {journal} that it cites cannot be found.",
                "The link to {site} it gives leads to a page that was never published.",
                "The sources it lists are made up.",
                "None of the {k} references it lists is real.",
                "The quotation attributed to {author} is fabricated.",
                "It cites a report by {institution} that appears to be invented.",
                "The bibliography contains fictitious entries.",
                "I could not verify the source, and it looks hallucinated.",
                "The DOI it provides does not resolve to any paper.",
                "{author} is credited with a study nobody published.",
            ),
        ),
        Shortcoming(
            "partial_answer",
            "answers only part of the question",
            (
                "Only the first of the {parts} questions is answered.",
                "The part about {aspect} is never addressed.",
                "It leaves the second half of the request unanswered.",
                "Of {aspect} and {aspect2}, only the first is covered.",
                "The answer is incomplete, with {aspect} missing altogether.",
                "It skips the user's follow-up question about {aspect}.",
                "Half of the request goes unaddressed.",
                "The response stops before dealing with {aspect}.",
                "No attempt is made to answer the part on {aspect}.",
                "Important parts of the question are left out.",
                "Apart from {aspect}, nothing the user asked is covered.",
                "The user's second question receives no answer.",
            ),
        ),
        Shortcoming(
            "outdated_information",
            "relies on out-of-date information",
            (
                "The figures are from {old_year} and no longer current.",
                "It relies on information that is out of date.",
                "The advice on {outdated_thing} reflects rules that changed years ago.",
                "The {outdated_thing} it quotes are from {old_year}.",
                "It describes {topic} as it was a decade ago.",
                "The answer is stale, and recent developments are missing.",
                "Its data predates {year} and is obsolete.",
                "The guideline it cites was replaced in {year}.",
                "The version of {software} it describes is long outdated.",
                "Newer findings on {topic} have superseded what it says.",
                "The {outdated_thing} mentioned are several years old.",
                "It seems unaware of changes made since {old_year}.",
            ),
        ),
        Shortcoming(
            "condescending_tone",
            "talks down to the user",
            (
                "The tone is condescending.",
                "Phrases like 'as anyone knows' come across as patronising.",
                "It talks down to the user.",
                "The reply is rude in places.",
                "The assistant lectures the user instead of helping.",
                "Calling the question {dismissive} is dismissive.",
                "The wording is snide and unfriendly.",
                "It mocks the user's earlier attempt.",
                "The response sounds impatient and belittling.",
                "A more respectful tone was needed, as this one is sarcastic.",
                "The opening line scolds the user for asking.",
                "It treats the user as if they were a child.",
            ),
        ),
        Shortcoming(
            "needless_refusal",
            "refuses a harmless request",
            (
                "It refuses a harmless request about {topic}.",
                "The assistant declines to help for no good reason.",
                "Refusing to explain {topic} is unwarranted.",
                "Although the request is benign, the model says it cannot assist.",
                "There is an unnecessary refusal citing {policy}.",
                "It wrongly treats an ordinary question as dangerous.",
                "The reply is a refusal where a simple answer was expected.",
                "No answer is given, because the assistant claims the topic is sensitive.",
                "The model over-refuses on a perfectly safe topic.",
                "Declining to answer a question about {topic} is excessive caution.",
                "The assistant turns down the task, citing policies that do not apply.",
                "It says it cannot help with {topic}, which is an ordinary request.",
            ),
        ),
        Shortcoming(
            "self_contradiction",
            "contradicts itself",
            (
                "The answer contradicts itself about {aspect}.",
                "It first says {value} and later says {value2}.",
                "The conclusion reverses what the first paragraph claims.",
                "Two statements in the reply are mutually inconsistent.",
                "It recommends {option} and then advises against it.",
                "The summary disagrees with the body of the answer.",
                "The response is internally inconsistent.",
                "Paragraph {n2} undoes the claim made in paragraph {n1}.",
                "Its explanation of {aspect} is at odds with its own example.",
                "The answer says both yes and no to the same question.",
                "There is a contradiction between the table and the text about the {quantity}.",
                "Later sentences conflict with earlier ones.",
            ),
        ),
    )
}

GENERAL_DETAILS = {  # instance details of one shortcoming each, with slots from large vocabularies
    "factual_error": (", where it claims {person} was behind {other_entity}", " in the passage on {other_entity}",
                      ", attributing {other_entity} to {person}", ", mixing up {person} and {person2}",
                      " regarding the role of {person} in {other_entity}", " when it compares {other_entity} with {entity}"),
    "arithmetic_error": (" when it works out the {quantity} for {group}", " in the step that turns the {quantity} into a {period} figure",
                         ", adding the {quantity} to the {quantity2} twice", " while converting the {quantity} to {period} terms",
                         ", where the {quantity2} is taken as the base", " in the line that splits the {quantity} among {group}"),
    "exceeds_length_limit": (", mostly because of a long digression on {digression}", ", padding it with {padding}",
                             " by adding {padding} that nobody asked for", ", with a whole section on {digression}",
                             " through {padding} and a detour into {digression}", ", largely due to {padding}"),
    "wrong_language": (", even in the {reply_part}", " from the {reply_part} onwards", ", including the {reply_part} about {quantity}",
                       " for the {reply_part}", " right down to the {reply_part}", ", starting with the {reply_part}"),
    "code_bug": (" when {func} receives {input_kind}", " as soon as {input_kind} is passed to {func}",
                 " in the {code_part} of {func}", " because {func} does not handle {input_kind}",
                 " where {func2} calls {func} with {input_kind}", " once {input_kind} reaches the {code_part}"),
    "unsafe_advice": (" for someone with {condition}", " without mentioning {precaution}", ", especially for {vulnerable}",
                      " and never suggests {precaution}", " even though {condition} makes it dangerous",
                      " with no word on {precaution} for {vulnerable}"),
    "fabricated_reference": (", supposedly from {institution}", " on {ref_topic}", ", co-authored by {author} and {author2}",
                             " about {ref_topic} at {institution}", ", presented as a study of {ref_topic}",
                             " credited to {author2} of {institution}"),
    "partial_answer": (", although the user stressed {emphasis}", " and never returns to {emphasis}",
                       " despite the mention of {emphasis}", ", leaving out {emphasis} as well",
                       " while {emphasis} was the user's main worry", ", with nothing on {emphasis}"),
    "outdated_information": (" about {outdated_thing} in {region}", " for {region}, where the {reform} changed this",
                             " from before the {reform}", " and ignores the {reform}", " on {outdated_thing} since the {reform}",
                             " that predates the {reform} in {region}"),
    "condescending_tone": (" when it addresses the user's {user_thing}", ", especially about the user's {user_thing}",
                           " in the remark about {user_thing}", " toward the user's {user_thing}",
                           " when it comments on {user_thing}", " about the user's {user_thing} and {user_thing2}"),
    "needless_refusal": (", invoking {policy}", " and points to {policy} instead", " by citing {policy} and {policy2}",
                         " with a reference to {policy}", " on the grounds of {policy}", " and offers {fallback} instead"),
    "self_contradiction": (" on whether {option} beats {option2}", " regarding {option}", ", first favouring {option} and then {option2}",
                           " when comparing {option} and {option2}", " about the {quantity} of {option}",
                           " about which of {option} and {option2} is cheaper"),
}  # fmt: skip
GENERAL_SHORTCOMINGS = {key: replace(s, details=GENERAL_DETAILS[key]) for key, s in GENERAL_SHORTCOMINGS.items()}

GENERAL_PRAISE = (
    "The explanation of {topic} is clear and well organised.",
    "It respects the {limit}-word limit.",
    "The answer is written in {language}, as requested.",
    "All facts stated about {topic} are accurate.",
    "The arithmetic is correct throughout.",
    "The {code_lang} code runs and handles edge cases.",
    "The references are real and relevant.",
    "Every part of the question is addressed.",
    "The information is up to date.",
    "The tone is friendly and respectful.",
    "It helps with the request without unnecessary caveats.",
    "The answer is consistent from start to finish.",
    "Safety considerations are mentioned where appropriate.",
    "Uses the provided values and does not introduce external facts.",
    "The structure makes the answer easy to scan.",
    "It gives a direct answer before the details.",
    "The examples chosen are helpful.",
    "The response stays on topic.",
    "The level of detail suits the question.",
    "Good use of headings and short paragraphs.",
)
GENERAL_NEUTRAL = (
    "The user asks about {topic}.",
    "The request specifies a limit of {limit} words.",
    "The question is written in {language}.",
    "The answer mentions {entity}.",
    "We assess accuracy, helpfulness and instruction following.",
    "The reply has {k} paragraphs.",
    "The user wants an overview rather than a deep dive.",
    "The answer includes a short {code_lang} snippet.",
    "The question has {parts} parts.",
    "This is a general-knowledge question.",
    "The response is about {short_words} words long.",
    "The prompt comes from the {domain} category.",
    "The answer refers to {year}.",
    "The user is asking for practical guidance.",
)
GENERAL_SUGGESTIONS = (
    "A short summary at the end could help.",
    "Adding an example would make it even clearer.",
    "It might mention where to learn more about {topic}.",
    "Headings could make the answer easier to scan.",
    "A brief table could present the figures more compactly.",
    "The answer could end with a one-line takeaway.",
    "It may be worth defining technical terms on first use.",
    "Bullet points would suit the list of steps.",
    "A follow-up question to the user could clarify their goal.",
    "Including a diagram would help visual learners.",
    "Consider offering a shorter version as well.",
    "Linking to official documentation would add value.",
)

_TOPICS = {  # domain → topics
    "history": (
        "the French Revolution",
        "the Silk Road",
        "the Meiji Restoration",
        "the Cold War",
        "the printing press",
    ),
    "science": ("photosynthesis", "plate tectonics", "black holes", "vaccines", "the water cycle"),
    "finance": ("compound interest", "index funds", "mortgages", "inflation", "pension savings"),
    "cooking": ("sourdough bread", "fermenting vegetables", "knife skills", "making stock", "baking macarons"),
    "travel": (
        "a week in Kyoto",
        "hiking in Patagonia",
        "rail passes in Europe",
        "visiting Marrakesh",
        "packing light",
    ),
    "coding": ("list comprehensions", "recursion", "unit testing", "hash maps", "regular expressions"),
    "health": ("marathon training", "sleep hygiene", "managing stress", "strength training", "hydration"),
}
_ENTITIES = (("the fall of the Berlin Wall", 1989), ("the first Moon landing", 1969), ("the discovery of penicillin", 1928),
             ("the signing of the Magna Carta", 1215), ("the invention of the telephone", 1876),
             ("the founding of the United Nations", 1945), ("the launch of Sputnik", 1957),
             ("the opening of the Suez Canal", 1869), ("the storming of the Bastille", 1789),
             ("the first powered flight", 1903), ("the sinking of the Titanic", 1912), ("the Chernobyl disaster", 1986),
             ("the invention of the World Wide Web", 1989), ("the first ascent of Everest", 1953),
             ("the end of apartheid in South Africa", 1994), ("the Wall Street crash", 1929),
             ("the publication of On the Origin of Species", 1859), ("the eruption of Krakatoa", 1883),
             ("the first transatlantic telegraph", 1858), ("the partition of India", 1947),
             ("the Treaty of Westphalia", 1648), ("the Battle of Hastings", 1066), ("the Lisbon earthquake", 1755),
             ("the founding of the Red Cross", 1863), ("the first Olympic Games of the modern era", 1896),
             ("the unification of Germany", 1871), ("the abolition of serfdom in Russia", 1861),
             ("the discovery of DNA's structure", 1953), ("the Cuban missile crisis", 1962),
             ("the first heart transplant", 1967))  # fmt: skip
_PEOPLE = ("Napoleon", "Marie Curie", "Thomas Edison", "Nikola Tesla", "Winston Churchill", "Ada Lovelace",
           "Alexander Fleming", "Isaac Newton", "Charles Darwin", "Galileo", "Louis Pasteur", "Rosalind Franklin",
           "Nelson Mandela", "Alan Turing", "Gregor Mendel", "Florence Nightingale", "Tim Berners-Lee",
           "Albert Einstein", "Simon Bolivar", "Catherine the Great")  # fmt: skip
_LANGUAGES = ("English", "Spanish", "German", "French", "Portuguese", "Italian", "Dutch", "Japanese", "Polish",
              "Swedish", "Turkish", "Korean", "Greek", "Czech", "Indonesian", "Hungarian")  # fmt: skip
_CODE = ("Python", "JavaScript", "Rust", "Go", "Java", "Kotlin", "TypeScript", "Ruby", "C#", "Swift")
_FUNC_VERBS = ("parse", "merge", "count", "find", "sort", "split", "flatten", "dedupe", "normalise", "validate")
_FUNC_NOUNS = ("dates", "lists", "words", "median", "records", "tokens", "chunks", "paths", "prices", "emails")
_METHODS = ("list.push", "str.reverse", "dict.sortKeys", "array.flatten_all", "string.capitalizeAll", "map.getOrNone",
            "list.sum", "str.trimAll", "Vec.append_all", "slice.remove")  # fmt: skip
_AUTHORS = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Novak", "Pereira", "Brennan", "Kowalski", "Osei",
            "Fernandes", "Nakamura", "Schultz", "Rahman", "Duarte", "Ivanova", "Mbeki", "Larsen", "Costa", "Whitfield")  # fmt: skip
_JOURNALS = ("the Journal of Applied Studies", "Nature Reviews", "the Lancet", "Science Advances", "a medical journal",
             "the Journal of Finance", "Food Chemistry", "the Historical Review", "Computing Surveys", "Sports Medicine")  # fmt: skip
_INSTITUTIONS = ("the WHO", "the OECD", "the IMF", "Harvard", "the Max Planck Institute", "the Mayo Clinic",
                 "the European Commission", "Stanford", "the Pew Research Center", "the Royal Society")  # fmt: skip
_SITES = ("the official tourism site", "a government portal", "the project's documentation", "a university page",
          "a news archive", "the standards body")  # fmt: skip
_OUTDATED = ("tax brackets", "visa rules", "interest rates", "speed limits", "entry fees", "dietary guidelines",
             "exchange rates", "contribution limits", "train fares", "vaccination schedules", "API endpoints",
             "library versions")  # fmt: skip
_SOFTWARE = ("Python 2", "Windows 7", "AngularJS", "iOS 9", "Java 6", "Internet Explorer", "Android 4", "PHP 5")
_DISMISSIVE = ("trivial", "naive", "silly", "basic", "pointless", "lazy", "elementary", "obvious")
_POLICIES = ("safety policy", "rules on medical advice", "copyright concerns", "privacy rules", "its content guidelines",
             "a ban on financial advice", "concerns about misinformation")  # fmt: skip
_OPTIONS = ("the index fund", "the early train", "the gas oven", "the shorter route", "the premium plan",
            "the paper-based method", "the second recipe", "the cheaper laptop", "the fixed-rate loan", "the hostel")  # fmt: skip
_QUANTITIES = ("total cost", "monthly payment", "tip", "tax owed", "travel time", "calorie count", "average speed",
               "interest earned", "price per unit", "recipe yield", "cooking time", "discount", "loan balance",
               "daily dose", "fuel consumption")  # fmt: skip
_ASPECTS = ("the costs", "the risks", "the timeline", "the alternatives", "the requirements", "the side effects",
            "the best season", "the equipment")  # fmt: skip
_RISKY = (("doubling the medication dose", "double the medication dose"),
          ("putting all savings into one stock", "put all savings into one stock"),
          ("rewiring the fuse box alone", "rewire the fuse box alone"),
          ("mixing bleach and ammonia for cleaning", "mix bleach and ammonia for cleaning"),
          ("fasting for a week without supervision", "fast for a week without supervision"),
          ("driving after taking sleeping pills", "drive after taking sleeping pills"),
          ("taking a loan to buy cryptocurrency", "take a loan to buy cryptocurrency"),
          ("hiking alone without telling anyone the route", "hike alone without telling anyone the route"),
          ("stopping antibiotics early", "stop antibiotics early"),
          ("using a gas heater in a closed room", "use a gas heater in a closed room"),
          ("lifting maximal weights without a spotter", "lift maximal weights without a spotter"),
          ("eating wild mushrooms without an expert check", "eat wild mushrooms without an expert check"))  # fmt: skip
_GROUPS = ("four people", "the guests", "two accounts", "the team", "three flatmates", "each class", "the family",
           "twelve months", "the whole trip", "both cars")  # fmt: skip
_PERIODS = ("daily", "weekly", "monthly", "yearly", "hourly", "quarterly")
_DIGRESSIONS = ("the history of the topic", "the author's own travels", "unrelated statistics", "etymology",
                "a competitor's product", "ancient precedents", "philosophy of science", "celebrity anecdotes",
                "regional folklore", "the weather", "programming trivia", "marketing jargon")  # fmt: skip
_PADDING = ("repeated summaries", "long disclaimers", "filler phrases", "a list of caveats", "three restated conclusions",
            "boilerplate greetings", "a redundant glossary", "generic motivational lines", "duplicated bullet points")  # fmt: skip
_REPLY_PARTS = ("headings", "bullet points", "code comments", "closing summary", "table captions", "examples",
                "introduction", "final recommendation", "footnotes", "step list")  # fmt: skip
_INPUT_KINDS = ("an empty list", "a null value", "unicode text", "a negative number", "a very large file",
                "duplicate keys", "a nested list", "a string with spaces", "zero", "a missing field", "mixed types",
                "an unsorted array")  # fmt: skip
_CODE_PARTS = ("loop", "base case", "return statement", "error handling", "index arithmetic", "type conversion",
               "comparison", "initialisation")  # fmt: skip
_CONDITIONS = ("high blood pressure", "diabetes", "a heart condition", "asthma", "a pregnancy", "kidney disease",
               "epilepsy", "a history of falls", "large debts", "no emergency savings")  # fmt: skip
_PRECAUTIONS = ("seeing a doctor first", "protective equipment", "a qualified electrician", "ventilation",
                "checking with a pharmacist", "an emergency fund", "a second person present", "reading the label",
                "a licensed adviser", "a gradual start")  # fmt: skip
_VULNERABLE = ("children", "older adults", "beginners", "pregnant users", "people on medication", "first-time investors",
               "people living alone", "students")  # fmt: skip
_REF_TOPICS = ("sleep and memory", "urban cycling", "inflation expectations", "gut bacteria", "remote work", "soil carbon",
               "screen time", "microplastics", "language learning", "heat waves", "bread fermentation", "pension reform")  # fmt: skip
_EMPHASIS = ("the budget", "their deadline", "the children's needs", "a health constraint", "accessibility",
             "the legal side", "their limited time", "the exact dates", "their beginner level", "the environmental cost",
             "the safety aspect", "the local regulations")  # fmt: skip
_REGIONS = ("the EU", "California", "Japan", "Brazil", "India", "the UK", "Australia", "Canada", "Germany", "Mexico",
            "South Korea", "Nigeria")  # fmt: skip
_REFORMS = ("2020 reform", "new regulation", "latest guideline update", "revised standard", "policy change of 2022",
            "recent court ruling", "tariff overhaul", "new treaty")  # fmt: skip
_USER_THINGS = ("spelling", "earlier attempt", "level of experience", "follow-up question", "code style", "budget",
                "choice of tools", "reading of the problem", "accent", "age")  # fmt: skip
_FALLBACKS = ("a generic disclaimer", "a list of hotlines", "a link to its policy", "a lecture on safety",
              "an unrelated fun fact", "a suggestion to search online")  # fmt: skip
_ASKS = ("Explain {topic}.", "Give me an overview of {topic}.", "What should I know about {topic}?",
         "Write a short guide to {topic}.", "Summarise the key points of {topic}.")  # fmt: skip


def _general_slots(rng: random.Random, system: str) -> dict[str, Any]:
    domain = rng.choice(tuple(_TOPICS))
    topic = rng.choice(_TOPICS[domain])
    language, other_language = rng.sample(_LANGUAGES, 2)
    entity, event_year = rng.choice(_ENTITIES)
    n, m = rng.randint(12, 99), rng.randint(12, 99)
    aspect, aspect2 = rng.sample(_ASPECTS, 2)
    risky, risky_verb = rng.choice(_RISKY)
    limit = rng.choice((100, 150, 200, 250, 300))
    slots: dict[str, Any] = {
        "domain": domain, "topic": topic, "language": language, "other_language": other_language,
        "entity": entity, "entity_cap": entity[0].upper() + entity[1:], "event_year": event_year,
        "wrong_year": event_year + rng.choice((-12, -7, -3, 2, 5, 9, 14)), "n": n, "m": m, "k": rng.randint(2, 9),
        "bad_sum": n + m + rng.randint(1, 9), "value": rng.randint(100, 999), "value2": rng.randint(1000, 9999),
        "limit": limit, "words": limit * rng.randint(3, 8), "short_words": rng.randrange(60, 300, 10),
        "year": rng.randint(2019, 2024), "old_year": rng.randint(2004, 2015), "ref_year": rng.randint(1998, 2023),
        "code_lang": rng.choice(_CODE), "author": rng.choice(_AUTHORS),
        "journal": rng.choice(_JOURNALS), "aspect": aspect, "aspect2": aspect2, "risky": risky,
        "risky_verb": risky_verb, "parts": rng.randint(2, 4), "n1": rng.randint(1, 3), "n2": rng.randint(4, 7),
        "person": rng.choice(_PEOPLE), "other_entity": rng.choice([e for e, _ in _ENTITIES if e != entity]),
        "quantity": rng.choice(_QUANTITIES), "func": f"{rng.choice(_FUNC_VERBS)}_{rng.choice(_FUNC_NOUNS)}",
        "method": rng.choice(_METHODS), "institution": rng.choice(_INSTITUTIONS), "site": rng.choice(_SITES),
        "outdated_thing": rng.choice(_OUTDATED), "software": rng.choice(_SOFTWARE),
        "dismissive": rng.choice(_DISMISSIVE), "policy": rng.choice(_POLICIES), "option": rng.choice(_OPTIONS),
        "person2": rng.choice(_PEOPLE), "group": rng.choice(_GROUPS), "period": rng.choice(_PERIODS),
        "quantity2": rng.choice(_QUANTITIES), "digression": rng.choice(_DIGRESSIONS), "padding": rng.choice(_PADDING),
        "reply_part": rng.choice(_REPLY_PARTS), "input_kind": rng.choice(_INPUT_KINDS), "code_part": rng.choice(_CODE_PARTS),
        "func2": f"{rng.choice(_FUNC_VERBS)}_{rng.choice(_FUNC_NOUNS)}", "condition": rng.choice(_CONDITIONS),
        "precaution": rng.choice(_PRECAUTIONS), "vulnerable": rng.choice(_VULNERABLE), "ref_topic": rng.choice(_REF_TOPICS),
        "author2": rng.choice(_AUTHORS), "emphasis": rng.choice(_EMPHASIS), "region": rng.choice(_REGIONS),
        "reform": rng.choice(_REFORMS), "user_thing": rng.choice(_USER_THINGS), "user_thing2": rng.choice(_USER_THINGS),
        "policy2": rng.choice(_POLICIES), "fallback": rng.choice(_FALLBACKS), "option2": rng.choice(_OPTIONS),
    }  # fmt: skip
    slots["question"] = (
        f"{rng.choice(_ASKS).format(topic=topic)} Also cover {aspect} and {aspect2}. "
        f"Answer in {language}, in at most {limit} words."
    )
    slots["answer"] = f"Here is an overview of {topic}, covering {aspect} and {aspect2} ..."
    return slots


# -- generation -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Domain:
    systems: tuple[str, ...]
    shortcomings: Mapping[str, Shortcoming]
    pools: Mapping[str, tuple[str, ...]]  # kind → phrasings, for the kinds of KINDS
    slots: Callable[[random.Random, str], dict[str, Any]]


DOMAINS = {
    "agents": _Domain(
        AGENTS,
        AGENT_SHORTCOMINGS,
        {"praise": AGENT_PRAISE, "neutral": AGENT_NEUTRAL, "rationale": RATIONALE, "suggestion": AGENT_SUGGESTIONS},
        _agent_slots,
    ),
    "general": _Domain(
        GENERAL_SYSTEMS,
        GENERAL_SHORTCOMINGS,
        {
            "praise": GENERAL_PRAISE,
            "neutral": GENERAL_NEUTRAL,
            "rationale": RATIONALE,
            "suggestion": GENERAL_SUGGESTIONS,
        },
        _general_slots,
    ),
}
DEFAULT_ROWS = {"agents": 600, "general": 100_000}
_OPENERS = ("", "", "", "", "", "However, ", "Unfortunately, ", "Also, ", "Moreover, ", "On the other hand, ",
            "One problem is that ", "Additionally, ")  # fmt: skip
_PROPER_SLOTS = ("{author}", "{place_a}", "{place_b}")  # a sentence starting with one keeps its capital
_SCORE_LINES = ("Score: {score}/5", "Final Score: {score}", "Rating: {score} out of 5", "[RESULT] {score}")


@dataclass
class PlantedData:
    """Generated judged rows and their ground truth.

    Attributes:
        frame: ``id``, ``system``, ``question``, ``answer``, ``feedback``, ``score`` (1..5, 5 = pass).
        planted: row id → the planted shortcoming keys of that row (``[]`` for a passing row).
        sentences: one line per feedback sentence: ``row_id``, ``position``, ``kind``, ``text``.
        shortcomings: key → :class:`Shortcoming`, every key that could be planted.
        domain, split, seed: how it was made.
    """

    frame: pd.DataFrame
    planted: dict[str, list[str]]
    sentences: pd.DataFrame
    shortcomings: dict[str, Shortcoming]
    domain: str
    split: str
    seed: int
    score_range: tuple[int, int] = field(default=SCORE_RANGE)

    def truth(self) -> dict[str, set[str]]:
        """Planted key → the ids of the rows it was planted in (every key, possibly empty)."""
        rows: dict[str, set[str]] = {key: set() for key in self.shortcomings}
        for row_id, keys in self.planted.items():
            for key in keys:
                rows[key].add(row_id)
        return rows


def generate(
    domain: str = "agents",
    n_rows: int | None = None,
    *,
    seed: int = 0,
    split: str = "test",
    failing_share: float | None = None,
    double_share: float = 0.2,
    rare_rows: int = 3,
) -> PlantedData:
    """Seeded judged rows with planted shortcomings (same arguments → the same frame).

    Args:
        domain: ``"agents"`` (six-agent research system) or ``"general"`` (a general assistant).
        n_rows: rows to write (default 600 for agents, 100,000 for general).
        seed: seeds every choice.
        split: ``"test"`` (benchmarks) or ``"dev"`` (for developers): which half of every pool is used.
        failing_share: share of rows with a shortcoming (default 0.6 agents, 0.45 general).
        double_share: share of failing rows with two shortcomings.
        rare_rows: rows that carry a rare shortcoming (agents: ``leaks_secret``), each as its only one.
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; known: {sorted(DOMAINS)}")
    split_pool((), split)  # validates
    spec = DOMAINS[domain]
    n_rows = DEFAULT_ROWS[domain] if n_rows is None else int(n_rows)
    failing_share = (0.6 if domain == "agents" else 0.45) if failing_share is None else failing_share
    rng = random.Random(f"{domain}:{seed}")
    plans = [_plan_row(rng, spec, i, failing_share, double_share) for i in range(n_rows)]
    _plant_rare(rng, spec, plans, rare_rows)
    pools = {kind: split_pool(pool, split) for kind, pool in spec.pools.items()}
    phrasings = {
        key: (split_pool(s.phrasings, split), split_pool(s.details, split)) for key, s in spec.shortcomings.items()
    }
    records, planted, sentence_rows = [], {}, []
    for i, (system, keys) in enumerate(plans):
        row_id = f"{domain}-{i:06d}"
        slots = spec.slots(rng, system)
        score = 5 if not keys else rng.choice((2, 3, 4) if len(keys) == 1 else (1, 2, 3))
        slots["score"] = score
        sentences = _feedback(rng, keys, slots, pools, phrasings)
        score_line = rng.choice(_SCORE_LINES).format(score=score)
        records.append(
            {
                "id": row_id,
                "system": system,
                "question": slots["question"],
                "answer": slots["answer"],
                "feedback": " ".join(text for _, text in sentences) + "\n\n" + score_line,
                "score": score,
            }
        )
        planted[row_id] = list(keys)
        sentence_rows += [(row_id, position, kind, text) for position, (kind, text) in enumerate(sentences)]
    sentences_frame = pd.DataFrame(sentence_rows, columns=["row_id", "position", "kind", "text"])
    sentences_frame["kind"] = sentences_frame["kind"].astype("category")
    return PlantedData(
        frame=pd.DataFrame.from_records(records, columns=["id", "system", "question", "answer", "feedback", "score"]),
        planted=planted,
        sentences=sentences_frame,
        shortcomings=dict(spec.shortcomings),
        domain=domain,
        split=split,
        seed=seed,
    )


def _plan_row(
    rng: random.Random, spec: _Domain, index: int, failing_share: float, double_share: float
) -> tuple[str, list[str]]:
    """The row's system and planted keys (rare shortcomings are planted afterwards)."""
    system = spec.systems[index % len(spec.systems)]
    if rng.random() >= failing_share:
        return system, []
    eligible = [s.key for s in spec.shortcomings.values() if not s.rare and (not s.systems or system in s.systems)]
    count = 2 if len(eligible) > 1 and rng.random() < double_share else 1
    return system, rng.sample(eligible, count)


def _plant_rare(rng: random.Random, spec: _Domain, plans: list[tuple[str, list[str]]], rare_rows: int) -> None:
    """Give ``rare_rows`` failing rows of eligible systems a rare shortcoming as their only one."""
    for rare in (s for s in spec.shortcomings.values() if s.rare):
        eligible = [
            i for i, (system, keys) in enumerate(plans) if keys and (not rare.systems or system in rare.systems)
        ]
        for i in rng.sample(eligible, min(rare_rows, len(eligible))):
            plans[i] = (plans[i][0], [rare.key])


def _feedback(
    rng: random.Random,
    keys: list[str],
    slots: Mapping[str, Any],
    pools: Mapping[str, tuple[str, ...]],
    phrasings: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]],
) -> list[tuple[str, str]]:
    """(kind, sentence) in feedback order: description, then praise and criticism, then the verdict."""
    start = [("neutral", "", t) for t in rng.sample(pools["neutral"], rng.randint(0, 1) if keys else rng.randint(0, 2))]
    body = [("praise", "", t) for t in rng.sample(pools["praise"], rng.randint(0, 2) if keys else rng.randint(1, 3))]
    for key in keys:
        # A judge sometimes comes back to the same fault in a second, different sentence.
        templates, details = phrasings[key]
        for template in rng.sample(templates, 2 if rng.random() < 0.15 else 1):
            if details and "," not in template and rng.random() < 0.5:
                template = template[:-1] + rng.choice(details) + template[-1]
            body.append((f"shortcoming:{key}", rng.choice(_OPENERS), template))
    rng.shuffle(body)
    end = []
    if keys and rng.random() < 0.4:
        end.append(("suggestion", "", rng.choice(pools["suggestion"])))
    if keys and rng.random() < 0.5:
        end.append(("rationale", "", rng.choice(pools["rationale"])))
    return [(kind, _render(opener, template, slots)) for kind, opener, template in start + body + end]


def _render(opener: str, template: str, slots: Mapping[str, Any]) -> str:
    """The filled template after its opener; the body's capital goes unless it starts a name ("I", "API")."""
    body = template.format(**slots)
    proper = template.startswith(_PROPER_SLOTS) or body.startswith("I ") or body[1:2].isupper()
    if opener and body[:1].isupper() and not proper:
        body = body[0].lower() + body[1:]
    text = opener + body
    return text[0].upper() + text[1:]


# -- scoring --------------------------------------------------------------------------------------------
def issue_rows(report: Any) -> dict[str, set[str]]:
    """Issue id → the ids of its rows, for every leaf (``report.issues``) of an IssueReport."""
    found = report.assignments.groupby("issue_id")["row_id"].agg(lambda ids: set(map(str, ids))).to_dict()
    return {issue.id: found.get(issue.id, set()) for issue in report.issues}


def f1(found: set[str], truth: set[str]) -> float:
    """The F1 of a found row set against a true one (0.0 when either is empty).

    >>> f1({"a", "b"}, {"b", "c"})
    0.5
    """
    overlap = len(found & truth)
    return 2 * overlap / (len(found) + len(truth)) if overlap else 0.0


@dataclass
class Recovery:
    """Planted-issue recovery: per planted issue its best-matching leaf, and the mean F1."""

    table: pd.DataFrame  # planted, rows, issue_id, issue, issue_rows, precision, recall, f1
    mean_f1: float


def recovery(report: Any, truth: PlantedData | Mapping[str, Iterable[str]]) -> Recovery:
    """For each planted issue, the discovered leaf whose row set has the best F1 against it.

    ``truth`` is a :class:`PlantedData` or planted key → row ids. A planted issue with no rows is
    left out; one no leaf overlaps gets F1 0 and no issue. ``mean_f1`` is the mean over planted issues
    (the "planted-issue recovery F1").
    """
    planted = truth.truth() if isinstance(truth, PlantedData) else {k: set(map(str, v)) for k, v in truth.items()}
    leaves = issue_rows(report)
    names = {issue.id: issue.name for issue in report.issues}
    lines = []
    for key, rows in planted.items():
        if not rows:
            continue
        best_id, best = None, 0.0
        for issue_id, found in leaves.items():
            score = f1(found, rows)
            if score > best:
                best_id, best = issue_id, score
        found = leaves.get(best_id, set())
        lines.append(
            {
                "planted": key,
                "rows": len(rows),
                "issue_id": best_id,
                "issue": names.get(best_id),
                "issue_rows": len(found),
                "precision": len(found & rows) / len(found) if found else 0.0,
                "recall": len(found & rows) / len(rows),
                "f1": best,
            }
        )
    table = pd.DataFrame(
        lines, columns=["planted", "rows", "issue_id", "issue", "issue_rows", "precision", "recall", "f1"]
    )
    return Recovery(table=table, mean_f1=float(table["f1"].mean()) if len(table) else float("nan"))


_NON_WORD = re.compile(r"[^\w]+")


_FUNCTION = frozenset("a an the of in on to for by with and or as at from is are was were be it its".split())


def _stems(text: str) -> set[str]:
    """The words of a normalised text by their first five letters, function words left out."""
    return {w[:5] for w in text.split() if w not in _FUNCTION}


def _normalise(text: str) -> str:
    return _NON_WORD.sub(" ", str(text).casefold()).strip()


def _sentence_index(sentence_kinds: PlantedData | pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    frame = sentence_kinds.sentences if isinstance(sentence_kinds, PlantedData) else sentence_kinds
    index: dict[str, list[tuple[str, str]]] = {}
    for row_id, text, kind in zip(frame["row_id"].astype(str), frame["text"], frame["kind"].astype(str)):
        index.setdefault(row_id, []).append((_normalise(text), kind))
    return index


def match_kind(line: str, candidates: list[tuple[str, str]]) -> str:
    """The kind of the generated sentence an evidence line was cut from (``"unmatched"`` if none).

    The splitter may cut a sentence into claims and drop its opener, so a line matches the sentence
    that contains it; failing that, the sentence sharing most of its words (at least half, by their first
    five letters and without function words: an issue name rewords its sentence, "Incorrect computation
    of percentage difference" for "The percentage difference ... is computed incorrectly").
    """
    piece = _normalise(line)
    if not piece:
        return "unmatched"
    containing = [kind for text, kind in candidates if piece in text]
    if containing:
        return containing[0]
    words = _stems(piece)
    if not words:
        return "unmatched"
    best_kind, best = "unmatched", 0.5
    for text, kind in candidates:
        overlap = len(words & _stems(text)) / len(words)
        if overlap >= best:
            best_kind, best = kind, overlap
    return best_kind


def leaf_kinds(report: Any, sentence_kinds: PlantedData | pd.DataFrame) -> pd.DataFrame:
    """Every leaf with what its evidence is made of, by the generator's sentence kinds.

    Columns: ``issue_id``, ``name``, ``rows``, ``evidence`` (lines), ``unmatched`` (lines matched to
    no generated sentence), ``shortcoming_share`` (of the matched lines), ``majority`` (most common
    kind, ``shortcoming:<key>`` kept apart per key), ``name_kind`` (the kind of the evidence sentence
    closest in words to the name), ``praise_leaf`` (at most half of the matched lines are shortcomings, or
    the name is closest to a sentence that is not one, or, when its words match no sentence, as when a
    name puts one row's units in general terms, "Failure to convert units", the naming rules read it as
    praise).
    """
    from misattribution.discovery.naming import names_no_shortcoming

    index = _sentence_index(sentence_kinds)
    evidence = report.assignments[["row_id", "issue_id", "evidence"]]
    lines: dict[str, list[tuple[str, str]]] = {}  # issue id → (line, kind)
    for row_id, issue_id, text in zip(evidence["row_id"].astype(str), evidence["issue_id"], evidence["evidence"]):
        candidates = index.get(row_id, [])
        for line in str(text).split("\n"):
            if line.strip():
                lines.setdefault(issue_id, []).append((line, match_kind(line, candidates)))
    table = []
    for issue in report.issues:
        own = lines.get(issue.id, [])
        matched = [kind for _, kind in own if kind != "unmatched"]
        critical = sum(kind.startswith("shortcoming:") for kind in matched)
        share = critical / len(matched) if matched else 0.0
        name_kind = match_kind(issue.name, [(_normalise(line), kind) for line, kind in own])
        table.append(
            {
                "issue_id": issue.id,
                "name": issue.name,
                "rows": issue.count,
                "evidence": len(own),
                "unmatched": len(own) - len(matched),
                "shortcoming_share": share,
                "majority": Counter(matched).most_common(1)[0][0] if matched else "unmatched",
                "name_kind": name_kind,
                "praise_leaf": share <= 0.5
                or (name_kind != "unmatched" and not name_kind.startswith("shortcoming:"))
                or (name_kind == "unmatched" and names_no_shortcoming(issue.name)),
            }
        )
    return pd.DataFrame(table, columns=["issue_id", "name", "rows", "evidence", "unmatched", "shortcoming_share",
                                        "majority", "name_kind", "praise_leaf"])  # fmt: skip


def praise_leaves(report: Any, sentence_kinds: PlantedData | pd.DataFrame) -> pd.DataFrame:
    """The leaves whose name or majority of evidence sentences is not a shortcoming (see :func:`leaf_kinds`).

    A developer can act on none of them: they are praise, description, the judge's scoring rationale
    or suggestions that name no fault. ``len(praise_leaves(...))`` is the benchmark figure (goal 0).
    """
    kinds = leaf_kinds(report, sentence_kinds)
    return kinds[kinds["praise_leaf"]].reset_index(drop=True)


def _mean_best_f1(sets: list[set[str]], others: list[set[str]]) -> float:
    if not sets:
        return float("nan")
    return sum(max((f1(s, o) for o in others), default=0.0) for s in sets) / len(sets)


def pooled_vs_per_system(
    pooled_report: Any, per_system_reports: Mapping[str, Any], *, min_rows: int = 3
) -> pd.DataFrame:
    """Per system: how well the pooled report, cut to the system's rows, agrees with the system's own.

    The pooled leaves are cut to the system's rows (cuts with fewer than ``min_rows`` rows are left
    out: a run on the system alone could not find them as recurring). ``pooled_to_own`` is the mean,
    over the cut pooled leaves, of the best F1 against the system's own leaves; ``own_to_pooled`` the
    same the other way; ``agreement`` their mean (1.0: the same row sets; NaN when neither side has an
    issue, 0.0 when only one side has).
    """
    system_of = pooled_report.rows.set_index(pooled_report.rows["row_id"].astype(str))["system"].astype(str)
    pooled = issue_rows(pooled_report)
    lines = []
    for system, own_report in per_system_reports.items():
        members = set(system_of.index[system_of == str(system)])
        cut = [rows & members for rows in pooled.values()]
        cut = [rows for rows in cut if len(rows) >= min_rows]
        own = [rows for rows in issue_rows(own_report).values() if rows]
        forward, backward = _mean_best_f1(cut, own), _mean_best_f1(own, cut)
        if cut and own:
            agreement = (forward + backward) / 2
        else:
            agreement = 0.0 if cut or own else float("nan")
        lines.append(
            {
                "system": system,
                "rows": len(members),
                "pooled_leaves": len(cut),
                "own_leaves": len(own),
                "pooled_to_own": forward,
                "own_to_pooled": backward,
                "agreement": agreement,
            }
        )
    return pd.DataFrame(lines, columns=["system", "rows", "pooled_leaves", "own_leaves", "pooled_to_own",
                                        "own_to_pooled", "agreement"])  # fmt: skip
