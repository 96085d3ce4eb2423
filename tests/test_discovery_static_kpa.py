"""Static and task-specific modes (real MiniLM encoder), the LLM key-point analysis against the loopback
OpenAI server with a responder that answers like an LLM would, and alignment across runs and systems."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from misattribution.discovery import Issue, IssueReport, compute_statistics, issue_id
from misattribution.discovery.align import align_reports, compare_systems
from misattribution.discovery.embed import load_encoder
from misattribution.discovery.modes.kpa import RETRY_PROMPT, kpa_issues, parse_issue_list, parse_mapping, parse_sections
from misattribution.discovery.modes.static import parse_issues, static_issues, task_specific_issues
from misattribution.judges.base import SamplingParams
from misattribution.judges.openai_http import OpenAIHTTPJudge
from misattribution.taxonomy import load_taxonomy
from misattribution.testing.fake_openai import FakeOpenAIServer

ARITHMETIC = "The model made an arithmetic error when multiplying the two prices, so the total is wrong."
UNITS = "The final answer omits the units, so it is unclear whether it is in meters or feet."
MISREAD = "The response misread the question and computed the weekly amount instead of the daily one."
PRAISE = "The response is clear and easy to follow."
CORRECT = "The final answer is correct and every step is accurate."


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


def _rows(n_passing: int = 24) -> pd.DataFrame:
    """Failing rows with known problems (and praise mixed in), and passing rows that only praise."""
    failing = (
        [("arith", f"{PRAISE} {ARITHMETIC}")] * 4
        + [("units", f"{UNITS} {PRAISE}")] * 3
        + [("misread", MISREAD)] * 3
        + [("language", "The response was written in English although the user asked for French.")] * 3
    )
    records = [
        {"row_id": f"{kind}-{i}", "failing": True, "feedback": text, "score_norm": 0.3}
        for i, (kind, text) in enumerate(failing)
    ]
    records += [
        {"row_id": f"pass-{i}", "failing": False, "feedback": f"{PRAISE} {CORRECT}", "score_norm": 1.0}
        for i in range(n_passing)
    ]
    frame = pd.DataFrame(records)
    return frame.assign(score=frame["score_norm"], system="default")


def _rows_of(issues, assignments, name):
    (issue,) = [i for i in issues if i.name == name]
    return sorted(assignments.loc[assignments["issue_id"] == issue.id, "row_id"])


# -- static -------------------------------------------------------------------------------------------


def test_parse_issues_from_text_lists_and_taxonomy():
    assert [i.text for i in parse_issues(["A: x", ("B", "y"), "C"])] == ["A: x", "B: y", "C"]
    taxonomy = load_taxonomy()
    parsed = parse_issues(taxonomy)
    assert len(parsed) == len(taxonomy.secondaries) and parsed[0].definition
    assert parse_issues(taxonomy, language="zh")[0].name == taxonomy.secondaries[0].name_zh
    with pytest.raises(ValueError):
        parse_issues("# only a comment\n")


def test_static_issues_maps_rows_with_a_calibrated_threshold(encoder):
    rows = _rows()
    given = [
        "Arithmetic error: a calculation step gives a wrong number",
        "Missing units: the final answer has no units",
        "Misread question: the response misunderstands what the problem asks",
    ]
    issues, assignments, calibration = static_issues(rows, given, encoder=encoder)
    assert [i.provenance for i in issues] == ["static"] * 3
    assert _rows_of(issues, assignments, "Arithmetic error") == [f"arith-{i}" for i in range(4)]
    assert _rows_of(issues, assignments, "Missing units") == [f"units-{i}" for i in range(4, 7)]
    assert _rows_of(issues, assignments, "Misread question") == [f"misread-{i}" for i in range(7, 10)]
    # Evidence is the critical sentence, not the praise next to it.
    evidence = assignments.loc[assignments["row_id"] == "arith-0", "evidence"].item()
    assert evidence == ARITHMETIC
    assert calibration["null_rows"] == 24 and calibration["fpr"] == 0.05
    assert set(calibration["thresholds"]) == {i.id for i in issues}
    assert all(t >= calibration["min_similarity"] for t in calibration["thresholds"].values())
    assert calibration["any_issue_rate_on_null"] <= 0.05 * len(issues)
    assert "quantile" in calibration["method"]
    stats = compute_statistics(rows, assignments, issues, n_resamples=20)
    assert {i.name: i.count for i in stats}["Arithmetic error"] == 4


def test_static_issues_threshold_rises_with_praise_in_the_null(encoder):
    """When passing rows praise exactly what an issue names, that issue's threshold goes up."""
    rows = _rows()
    plain = static_issues(rows, ["Calculation accuracy problems"], encoder=encoder, critical_only=False)[2]
    praising = rows.copy()
    praising.loc[~praising["failing"], "feedback"] = "The calculations are accurate and free of mistakes."
    raised = static_issues(praising, ["Calculation accuracy problems"], encoder=encoder, critical_only=False)[2]
    (before,) = plain["thresholds"].values()
    (after,) = raised["thresholds"].values()
    assert after > before


def test_static_issues_falls_back_without_a_null(encoder):
    rows = _rows(n_passing=2)
    _, _, calibration = static_issues(rows, ["Arithmetic error"], encoder=encoder, fallback_threshold=0.55)
    assert calibration["method"].startswith("fixed 0.55")
    assert calibration["thresholds"] == {issue_id("Arithmetic error", "static"): 0.55}


def test_task_specific_discovers_issues_among_leftover_sentences(encoder):
    rows = _rows()
    seen = {}

    def discover(leftover: pd.DataFrame):
        seen["rows"] = leftover
        issue = Issue(id=issue_id("Leftover", "cluster"), name="Leftover", provenance="cluster")
        found = pd.DataFrame({"row_id": leftover["row_id"], "issue_id": issue.id, "evidence": leftover["feedback"]})
        return [issue], found

    given = ["Arithmetic error: a calculation step gives a wrong number", "Missing units: the answer has no units"]
    issues, assignments, meta = task_specific_issues(rows, given, discover, encoder=encoder)
    assert [i.provenance for i in issues] == ["static", "static", "cluster"]
    leftover = seen["rows"]
    assert set(leftover["row_id"]) == {f"misread-{i}" for i in range(7, 10)} | {f"language-{i}" for i in range(10, 13)}
    assert leftover["feedback"].str.contains("arithmetic").sum() == 0  # matched sentences are not handed on
    assert not leftover["failing"].eq(False).any()
    assert meta["leftover_rows"] == 6 and meta["discovered_issues"] == 1 and "calibration" in meta
    assert set(assignments.loc[assignments["issue_id"] == issues[2].id, "row_id"]) == set(leftover["row_id"])


# -- KPA: parsers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected, result",
    [
        ("[1]\n1. A.\n2. B.\n[2]\nNone", 2, {1: ["A.", "B."], 2: []}),
        ("**Critique 1:**\n- A\n* B\n\n**Critique 2:** No shortcomings.", 2, {1: ["A", "B"], 2: []}),
        ("Critique 1: A single one\nCritique 2\n1) B", 2, {1: ["A single one"], 2: ["B"]}),
        ("1. A\n2. B", 1, {1: ["A", "B"]}),
        ("None.", 1, {1: []}),
        ("[1]\n1. A\n[7]\n1. out of range", 2, {1: ["A", "out of range"]}),
        ("lorem ipsum dolor", 2, None),
        ("", 3, None),
        ("1. A\n2. B", 2, None),  # several critiques and no headers: cannot tell whose items they are
    ],
)
def test_parse_sections(text, expected, result):
    assert parse_sections(text, expected) == result


@pytest.mark.parametrize(
    "text, result",
    [
        (
            "1. Calculation errors: wrong arithmetic.\n2. **Missing units** - no units.",
            [("Calculation errors", "wrong arithmetic."), ("Missing units", "no units.")],
        ),
        ("Issues:\n- Vague answers", [("Vague answers", "")]),
        ("I cannot do that.", None),
    ],
)
def test_parse_issue_list(text, result):
    assert parse_issue_list(text) == result


@pytest.mark.parametrize(
    "text, result",
    [
        ("[1] 2, 5\n[2] none", {1: [2, 5], 2: []}),
        ("Answer 1: 1\nAnswer 2: issues 3 and 9", {1: [1], 2: [3]}),
        ("no idea", None),
    ],
)
def test_parse_mapping(text, result):
    assert parse_mapping(text, 2, 5) == result


# -- KPA against the loopback server ------------------------------------------------------------------

ISSUE_NAMES = {
    "arithmetic": "Arithmetic errors: calculations contain mistakes",
    "units": "Missing units: final answers omit their units",
    "misread": "Misread questions: the response answers a different question",
}


KEYS = ("arithmetic", "units", "misread")


def _shortcoming_of(critique: str) -> str | None:
    if "arithmetic" in critique:
        return "Makes arithmetic errors in calculations."
    if "units" in critique:
        return "Omits the units of the final answer."
    if "misread" in critique:
        return "Misreads what the question asks."
    return None


def responder(messages):
    """Answers like an instruction-following LLM; "GARBAGE" critiques get nonsense (once, or always)."""
    prompt = messages[1]["content"]
    retry = messages[-1]["content"] == RETRY_PROMPT
    if "\nCRITIQUES\n" in prompt:
        body = prompt.split("\nCRITIQUES\n", 1)[1]
        if "GARBAGE-ALWAYS" in body or ("GARBAGE-ONCE" in body and not retry):
            return "Sorry, as a language model I like turtles."
        parts = re.split(r"^\[(\d+)\]$", body, flags=re.MULTILINE)[1:]
        blocks = []
        for number, critique in zip(parts[::2], parts[1::2]):
            shortcoming = _shortcoming_of(critique)
            blocks.append(f"**Critique {number}:**\n" + (f"1. {shortcoming}" if shortcoming else "None"))
        return "Here is the analysis.\n\n" + "\n\n".join(blocks)
    if "\nSHORTCOMINGS\n" in prompt:
        items = prompt.split("\nSHORTCOMINGS\n", 1)[1].lower()
        names = [ISSUE_NAMES[k] for k in KEYS if k[:4] in items]
        if "arith" in items:  # a near-duplicate name, for the deduplication to merge
            names.insert(1, "Arithmetic mistakes: the arithmetic is wrong")
        return "\n".join(f"{n}. {name}" for n, name in enumerate(names, 1))
    if "\nANSWERS\n" in prompt:
        issues_part, answers = prompt.split("\nISSUES\n", 1)[1].split("\nANSWERS\n", 1)
        numbers = {line.split(".")[0]: line for line in issues_part.strip().splitlines()}
        lines = []
        for number, text in zip(*[iter(re.split(r"^\[(\d+)\]$", answers, flags=re.MULTILINE)[1:])] * 2):
            hit = [n for n, line in numbers.items() if any(k in line.lower() and k in text.lower() for k in KEYS)]
            lines.append(f"[{number}] " + (", ".join(hit) or "none"))
        return "\n".join(lines)
    return "unexpected prompt"


def _kpa_rows() -> pd.DataFrame:
    failing = (
        [f"{PRAISE} {ARITHMETIC}"] * 4
        + [f"{UNITS} Otherwise fine."] * 3
        + [MISREAD] * 3
        + ["The tone is a bit dry."] * 2
    )
    frame = pd.DataFrame(
        {
            "row_id": [f"f{i:02d}" for i in range(len(failing))] + ["p0", "p1"],
            "failing": [True] * len(failing) + [False, False],
            "feedback": failing + [CORRECT, CORRECT],
        }
    )
    return frame.assign(score_norm=np.where(frame["failing"], 0.3, 1.0), score=0, system="default")


@pytest.fixture()
def server():
    with FakeOpenAIServer(responder=responder) as running:
        yield running


def _judge(server):
    return OpenAIHTTPJudge(
        server.url, model="fake", sampling=SamplingParams(greedy=True), max_retries=1, backoff_base=0.01
    )


def test_kpa_batches_counts_caches_and_maps(server, encoder, tmp_path):
    rows = _kpa_rows()
    cache = tmp_path / "kpa.jsonl"
    issues, assignments, meta = kpa_issues(rows, _judge(server), batch_size=5, cache_path=cache, encoder=encoder)
    # 12 failing critiques in batches of 5 → 3 calls, then one synthesis call; mapping by embedding.
    assert meta["calls_by_stage"] == {"summarise": 3, "synthesise": 1}
    assert meta["llm_calls"] == len(server.chat_requests) == 4
    assert meta["calls_per_row"] == pytest.approx(4 / 14) and meta["calls_per_failing_row"] == pytest.approx(4 / 12)
    assert meta["issues_synthesised"] == 4 and meta["issues_after_dedupe"] == 3  # "Arithmetic mistakes" merged
    assert not meta["skipped"]
    assert {i.provenance for i in issues} == {"llm"}
    assert _rows_of(issues, assignments, "Arithmetic errors") == ["f00", "f01", "f02", "f03"]
    assert _rows_of(issues, assignments, "Missing units") == ["f04", "f05", "f06"]
    assert _rows_of(issues, assignments, "Misread questions") == ["f07", "f08", "f09"]
    # The evidence is the critique's own sentence behind the shortcoming, not the praise before it.
    assert assignments.loc[assignments["row_id"] == "f00", "evidence"].item() == ARITHMETIC

    server.reset()
    again, again_assignments, again_meta = kpa_issues(
        rows, _judge(server), batch_size=5, cache_path=cache, encoder=encoder
    )
    assert len(server.chat_requests) == 0 and again_meta["llm_calls"] == 0 and again_meta["cache_hits"] == 4
    assert [i.id for i in again] == [i.id for i in issues]
    pd.testing.assert_frame_equal(again_assignments, assignments)


def test_kpa_retries_garbage_once_then_skips_and_records(server, encoder):
    rows = _kpa_rows()
    rows.loc[0, "feedback"] += " GARBAGE-ONCE"
    issues, assignments, meta = kpa_issues(rows, _judge(server), batch_size=5, encoder=encoder)
    assert meta["calls_by_stage"] == {"summarise": 4, "synthesise": 1}  # one retry
    assert not meta["skipped"] and "f00" in set(assignments["row_id"])

    rows.loc[0, "feedback"] = rows.loc[0, "feedback"].replace("GARBAGE-ONCE", "GARBAGE-ALWAYS")
    server.reset()
    issues, assignments, meta = kpa_issues(rows, _judge(server), batch_size=5, encoder=encoder)
    assert meta["calls_by_stage"]["summarise"] == 4
    (skip,) = meta["skipped"]
    assert skip["stage"] == "summarise" and skip["reason"] == "unparseable answer" and "turtles" in skip["answer"]
    # The skipped batch (rows f00-f04) is missing from the assignments, not silently "no issue".
    assert not {"f00", "f01", "f02", "f03", "f04"} & set(assignments["row_id"])
    assert _rows_of(issues, assignments, "Misread questions") == ["f07", "f08", "f09"]


def test_kpa_maps_by_llm_in_batches(server, encoder):
    rows = _kpa_rows()
    issues, assignments, meta = kpa_issues(
        rows, _judge(server), batch_size=5, mapping="llm", map_batch_size=4, encoder=encoder
    )
    # 10 rows have shortcomings → 3 mapping calls of up to 4 rows.
    assert meta["calls_by_stage"] == {"summarise": 3, "synthesise": 1, "map": 3}
    assert _rows_of(issues, assignments, "Missing units") == ["f04", "f05", "f06"]
    assert _rows_of(issues, assignments, "Arithmetic errors") == ["f00", "f01", "f02", "f03"]


def test_kpa_keeps_the_issues_most_shortcomings_fall_in(server, encoder):
    issues, assignments, meta = kpa_issues(
        _kpa_rows(), _judge(server), batch_size=5, max_issues=2, synthesis_items=1, encoder=encoder
    )
    # One synthesis call per distinct shortcoming, each naming at most 2 issues: 4 names, 3 distinct.
    assert meta["calls_by_stage"]["synthesise"] == 3
    assert meta["issues_synthesised"] == 4 and meta["issues_after_dedupe"] == 3 and meta["issues_after_cap"] == 2
    assert [i.name for i in issues] == ["Arithmetic errors", "Missing units"]  # 4 and 3 rows; the tie keeps the first


def test_modes_plug_into_discover(encoder):
    from misattribution.discovery import discover

    given = {"issues_text": ["Arithmetic error: a calculation step gives a wrong number"]}
    report = discover(_rows(), mode="static", mode_options={"static": given}, progress=False)
    assert [(i.name, i.provenance, i.count) for i in report.issues] == [("Arithmetic error", "static", 4)]


# -- align across runs and systems --------------------------------------------------------------------


def _report(names: list[str], members: dict[str, list[str]], systems: dict[str, str]) -> IssueReport:
    row_ids = sorted(systems)
    rows = pd.DataFrame(
        {"row_id": row_ids, "score": 1, "score_norm": 0.5, "failing": True, "system": [systems[r] for r in row_ids]}
    )
    issues = [Issue(id=issue_id(n), name=n, keywords=n.lower().split()[:2]) for n in names]
    lines = [(r, issue_id(n), f"{n} here.") for n in names for r in members.get(n, [])]
    assignments = pd.DataFrame(lines, columns=["row_id", "issue_id", "evidence"])
    return IssueReport(rows, compute_statistics(rows, assignments, issues, n_resamples=10), assignments)


def test_align_reports_keeps_ids_and_lists_new_and_vanished(encoder):
    systems = {f"r{i}": "a" for i in range(6)}
    old = _report(
        ["Calculation errors in arithmetic", "Missing units in the final answer", "Answer is too verbose"],
        {"Calculation errors in arithmetic": ["r0", "r1"], "Missing units in the final answer": ["r2"]},
        systems,
    )
    new = _report(
        ["Arithmetic calculation mistakes", "Final answer lacks units", "Refuses to answer the question"],
        {
            "Arithmetic calculation mistakes": ["r0", "r3"],
            "Final answer lacks units": ["r2", "r4"],
            "Refuses to answer the question": ["r5"],
        },
        systems,
    )
    aligned = align_reports(new, old, encoder=encoder, threshold=0.5)
    ids = {i.name: i.id for i in aligned.report.issues}
    assert ids["Arithmetic calculation mistakes"] == issue_id("Calculation errors in arithmetic")
    assert ids["Final answer lacks units"] == issue_id("Missing units in the final answer")
    assert [i.name for i in aligned.new_issues] == ["Refuses to answer the question"]
    assert [i.name for i in aligned.vanished_issues] == ["Answer is too verbose"]
    assert set(aligned.report.assignments["issue_id"]) <= {i.id for i in aligned.report.issues}
    matched = aligned.mapping.set_index("name")
    assert matched.loc["Arithmetic calculation mistakes", "status"] == "matched"
    assert matched.loc["Refuses to answer the question", "status"] == "new"
    assert (aligned.report.table()["count"].to_numpy() == new.table()["count"].to_numpy()).all()


def test_align_reports_matches_identical_ids_first(encoder):
    systems = {"r0": "a", "r1": "a"}
    old = _report(["Response is cut off"], {"Response is cut off": ["r0"]}, systems)
    new = _report(["Response is cut off"], {"Response is cut off": ["r1"]}, systems)
    aligned = align_reports(new, old, encoder=encoder, threshold=0.99)
    assert aligned.mapping["similarity"].tolist() == [1.0] and not aligned.new_issues and not aligned.vanished_issues


def test_compare_systems_flags_real_differences():
    systems = {f"a{i}": "A" for i in range(200)} | {f"b{i}": "B" for i in range(200)}
    members = {
        "Calculation errors": [f"a{i}" for i in range(80)] + [f"b{i}" for i in range(20)],  # 40 % vs 10 %
        "Missing units": [f"a{i}" for i in range(20)] + [f"b{i}" for i in range(22)],  # 10 % vs 11 %
    }
    report = _report(list(members), members, systems)
    table = compare_systems(report, "A", "B", n_resamples=1000, seed=0).set_index("name")
    calc = table.loc["Calculation errors"]
    assert calc["share_a"] == pytest.approx(0.4) and calc["share_b"] == pytest.approx(0.1)
    assert calc["difference"] == pytest.approx(0.3) and calc["ci_low"] > 0.2 and calc["flagged"]
    units = table.loc["Missing units"]
    assert units["ci_low"] < 0 < units["ci_high"] and not units["flagged"]
    repeat = compare_systems(report, "A", "B", n_resamples=1000, seed=0)
    assert repeat.equals(compare_systems(report, "A", "B", n_resamples=1000, seed=0))
    with pytest.raises(ValueError, match="no rows of system"):
        compare_systems(report, "A", "C")
