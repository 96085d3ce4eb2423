"""The planted-issue generator (misattribution.testing.planted) and its scores."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from misattribution.discovery.report import Issue, IssueReport
from misattribution.discovery.sentences import split_sentences
from misattribution.testing.planted import (
    AGENTS,
    DOMAINS,
    KINDS,
    generate,
    leaf_kinds,
    match_kind,
    pooled_vs_per_system,
    praise_leaves,
    recovery,
    split_pool,
)


@pytest.fixture(scope="module")
def agents() -> object:
    return generate("agents", seed=0)


@pytest.fixture(scope="module")
def general() -> object:
    return generate("general", 3000, seed=0)


# -- the generator ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_same_seed_same_data_other_seed_other_data(domain):
    first, again = generate(domain, 150, seed=4), generate(domain, 150, seed=4)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    pd.testing.assert_frame_equal(first.sentences, again.sentences)
    assert first.planted == again.planted
    assert not generate(domain, 150, seed=5).frame["feedback"].equals(first.frame["feedback"])


def test_the_agents_data_has_the_promised_shape(agents):
    frame = agents.frame
    assert list(frame.columns) == ["id", "system", "question", "answer", "feedback", "score"]
    assert len(frame) >= 300 and set(frame["system"]) == set(AGENTS) and frame["id"].is_unique
    assert set(frame["score"]) <= {1, 2, 3, 4, 5} and agents.score_range == (1, 5)
    truth = agents.truth()
    assert 10 <= len(truth) <= 12 and len(truth["leaks_secret"]) == 3
    failing = [keys for keys in agents.planted.values() if keys]
    assert 0.1 <= sum(len(keys) == 2 for keys in failing) / len(failing) <= 0.3
    # Shared shortcomings really are spread over several agents.
    system = frame.set_index("id")["system"]
    assert len({system[r] for r in truth["unsupported_claim"]}) == 3
    assert len({system[r] for r in truth["ignores_instruction"]}) == 4


@pytest.mark.parametrize("name", ["agents", "general"])
def test_ground_truth_matches_the_feedback(name, request):
    data = request.getfixturevalue(name)
    feedback = data.frame.set_index("id")["feedback"]
    score = data.frame.set_index("id")["score"]
    kinds_of = data.sentences.groupby("row_id")["kind"].agg(lambda k: [str(v) for v in k]).to_dict()
    for row_id, text in zip(data.sentences["row_id"], data.sentences["text"]):
        assert text in feedback[row_id]
    for row_id, keys in data.planted.items():
        kinds = kinds_of[row_id]
        planted_kinds = {k.split(":", 1)[1] for k in kinds if k.startswith("shortcoming:")}
        assert planted_kinds == set(keys), row_id
        if keys:
            assert score[row_id] < 5
        else:  # a passing row: top score, praise and description only
            assert score[row_id] == 5 and set(kinds) <= {"praise", "neutral"}
    assert set(data.sentences["kind"].astype(str).str.split(":").str[0]) == {*KINDS, "shortcoming"}


@pytest.mark.parametrize("name", ["agents", "general"])
def test_every_split_claim_maps_back_to_its_sentence(name, request):
    """The scores read the evidence through match_kind: each claim discovery cuts must find its sentence."""
    data = request.getfixturevalue(name)
    rows = data.sentences.groupby("row_id")
    candidates = {
        row_id: [(re.sub(r"[^\w]+", " ", t.casefold()).strip(), str(k)) for t, k in zip(g["text"], g["kind"])]
        for row_id, g in rows
    }
    for row_id, text, kind in list(zip(data.sentences["row_id"], data.sentences["text"], data.sentences["kind"]))[
        :4000
    ]:
        for claim in split_sentences(text):
            assert match_kind(claim, candidates[row_id]) == str(kind), (claim, text)


def _pools(domain: str) -> list[tuple[str, tuple[str, ...]]]:
    spec = DOMAINS[domain]
    pools = [(kind, pool) for kind, pool in spec.pools.items()]
    for key, shortcoming in spec.shortcomings.items():
        pools.append((key, shortcoming.phrasings))
        if shortcoming.details:
            pools.append((f"{key} details", shortcoming.details))
    return pools


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_dev_and_test_phrasings_are_disjoint_halves(domain):
    for name, pool in _pools(domain):
        dev, test = split_pool(pool, "dev"), split_pool(pool, "test")
        assert not set(dev) & set(test) and sorted(dev + test) == sorted(pool), name
        assert len(set(pool)) == len(pool), f"{name}: a phrasing is repeated"
    for key, shortcoming in DOMAINS[domain].shortcomings.items():
        assert len(shortcoming.phrasings) >= 10, key


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{[a-z_0-9]+\}", template.rstrip("."))
    return re.compile(r"(?i)(?:^|\s|,\s)" + ".+?".join(re.escape(p) for p in parts))


def test_the_test_split_writes_only_test_phrasings():
    data = generate("agents", 300, seed=2, split="test")
    for key, shortcoming in DOMAINS["agents"].shortcomings.items():
        dev = [_pattern(t) for t in split_pool(shortcoming.phrasings, "dev")]
        test = [_pattern(t) for t in split_pool(shortcoming.phrasings, "test")]
        written = data.sentences.loc[data.sentences["kind"] == f"shortcoming:{key}", "text"]
        assert len(written), key
        for sentence in written:
            assert any(p.search(sentence) for p in test), sentence
            assert not any(p.search(sentence) for p in dev), sentence
    praise = data.sentences.loc[data.sentences["kind"] == "praise", "text"]
    dev_praise = [_pattern(t) for t in split_pool(DOMAINS["agents"].pools["praise"], "dev")]
    assert not any(p.search(s) for s in praise for p in dev_praise)


def test_unknown_domain_or_split_is_refused():
    with pytest.raises(ValueError, match="unknown domain"):
        generate("maths", 10)
    with pytest.raises(ValueError, match="split must be one of"):
        generate("agents", 10, split="train")


# -- the scores on hand-built reports -------------------------------------------------------------------------
SENTENCES = pd.DataFrame(
    [
        ("r0", 0, "shortcoming:a", "The tool is wrong."),
        ("r0", 1, "praise", "The tone is polite and clear."),
        ("r1", 0, "shortcoming:a", "It picks the wrong tool for the job."),
        ("r2", 0, "shortcoming:a", "However, the tool choice is off."),
        ("r3", 0, "shortcoming:b", "The units are mixed up badly."),
        ("r3", 1, "rationale", "Points are deducted for this, though not the maximum."),
        ("r4", 0, "shortcoming:b", "The arguments use the wrong unit."),
        ("r5", 0, "praise", "The tone is polite and clear."),
    ],
    columns=["row_id", "position", "kind", "text"],
)
TRUTH = {"a": {"r0", "r1", "r2"}, "b": {"r3", "r4"}}


def _report(groups: dict[str, list[tuple[str, str]]], systems: dict[str, str] | None = None) -> IssueReport:
    """A report with one issue per name: name → [(row id, evidence line), ...]."""
    ids = [f"r{i}" for i in range(6)]
    systems = systems or {}
    rows = pd.DataFrame(
        {
            "row_id": ids,
            "score": [2.0] * 5 + [5.0],
            "score_norm": [0.25] * 5 + [1.0],
            "failing": [True] * 5 + [False],
            "system": [systems.get(r, "s1") for r in ids],
        }
    )
    issues = [Issue(id=f"issue-{n}", name=name) for n, name in enumerate(groups)]
    lines = [(r, issue.id, text) for issue, members in zip(issues, groups.values()) for r, text in members]
    report = IssueReport(
        rows=rows, issues=issues, assignments=pd.DataFrame(lines, columns=["row_id", "issue_id", "evidence"])
    )
    return report.recompute(n_resamples=0)


PERFECT = {
    "Wrong tool": [
        ("r0", "The tool is wrong."),
        ("r1", "It picks the wrong tool for the job."),
        ("r2", "The tool choice is off."),
    ],
    "Wrong units": [("r3", "The units are mixed up badly."), ("r4", "The arguments use the wrong unit.")],
}


def test_a_perfect_report_recovers_every_planted_issue_with_f1_one():
    result = recovery(_report(PERFECT), TRUTH)
    assert result.mean_f1 == 1.0
    assert list(result.table["issue"]) == ["Wrong tool", "Wrong units"]
    assert praise_leaves(_report(PERFECT), SENTENCES).empty


def test_a_merged_issue_and_an_empty_report_score_what_f1_says():
    merged = {"Tool problems": PERFECT["Wrong tool"] + PERFECT["Wrong units"]}
    result = recovery(_report(merged), TRUTH).table.set_index("planted")
    assert result.loc["a", "f1"] == pytest.approx(2 * 3 / (5 + 3))
    assert result.loc["b", "f1"] == pytest.approx(2 * 2 / (5 + 2))
    empty = recovery(_report({}), TRUTH)
    assert empty.mean_f1 == 0.0 and empty.table["issue"].isna().all()


def test_praise_and_rationale_leaves_are_counted():
    groups = {
        **PERFECT,
        "The tone is polite and clear": [
            ("r0", "The tone is polite and clear."),
            ("r5", "The tone is polite and clear."),
        ],
        "Points are deducted": [("r3", "Points are deducted for this")],
        # A critical name over mostly praise evidence is still a praise leaf.
        "Wrong tool again": [
            ("r1", "It picks the wrong tool for the job."),
            ("r0", "The tone is polite and clear."),
            ("r5", "The tone is polite and clear."),
        ],  # fmt: skip
        # Two of three lines are shortcomings and the name reads as one: not a praise leaf.
        "The tool choice is off": [
            ("r2", "The tool choice is off."),
            ("r1", "It picks the wrong tool for the job."),
            ("r0", "The tone is polite and clear."),
        ],  # fmt: skip
        # A name in general terms that no line words the same way ("units" for one row's miles): judged by
        # its evidence and by the naming rules, not taken for praise because its words match no sentence.
        "Mismatched tool selection": [
            ("r1", "It picks the wrong tool for the job."),
            ("r2", "The tool choice is off."),
        ],  # fmt: skip
        "Nicely structured essay": [
            ("r1", "It picks the wrong tool for the job."),
            ("r2", "The tool choice is off."),
        ],  # fmt: skip
    }
    report = _report(groups)
    found = praise_leaves(report, SENTENCES)
    assert sorted(found["name"]) == [
        "Nicely structured essay", "Points are deducted", "The tone is polite and clear", "Wrong tool again"
    ]  # fmt: skip
    kinds = leaf_kinds(report, SENTENCES).set_index("name")
    assert kinds.loc["Points are deducted", "majority"] == "rationale"
    assert kinds.loc["The tool choice is off", "shortcoming_share"] == pytest.approx(2 / 3)


def test_pooled_versus_per_system_agreement():
    systems = {"r0": "s1", "r1": "s1", "r2": "s1", "r3": "s2", "r4": "s2", "r5": "s2"}
    pooled = _report(PERFECT, systems)
    own = {"s1": _report({"Wrong tool": PERFECT["Wrong tool"]}, systems)}
    table = pooled_vs_per_system(pooled, own, min_rows=2).set_index("system")
    assert table.loc["s1", "agreement"] == 1.0
    split = {"s1": _report({"A": PERFECT["Wrong tool"][:1], "B": PERFECT["Wrong tool"][1:]}, systems)}
    line = pooled_vs_per_system(pooled, split, min_rows=1).set_index("system").loc["s1"]
    # pooled {r0,r1,r2} vs own {r0} (F1 .5) and {r1,r2} (F1 .8): forward .8; backward (.5 + .8) / 2.
    assert line["pooled_to_own"] == pytest.approx(0.8) and line["own_to_pooled"] == pytest.approx(0.65)
    nothing = pooled_vs_per_system(pooled, {"s2": _report({}, systems)}, min_rows=2).set_index("system")
    assert nothing.loc["s2", "agreement"] == 0.0 and nothing.loc["s2", "pooled_leaves"] == 1


# -- one real run -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_discovery_on_300_agent_rows_stays_above_its_measured_floor():
    """A regression guard, not the goal (recovery F1 >= 0.8, no praise leaf: see bench_discovery_agents.py).

    ``fast=True`` (PCA + KMeans) keeps the test short. Measured 2026-12-06 on this tree, load average ~10
    on 2 cores, 92 s: mean recovery F1 0.459, 5 praise leaves.
    """
    from misattribution.discovery import discover

    data = generate("agents", 300, seed=0, split="test")
    report = discover(data.frame, score_range=data.score_range, seed=0, progress=False, fast=True)
    assert recovery(report, data).mean_f1 >= 0.35
    assert len(praise_leaves(report, data)) <= 8
