"""Chinese feedback is clustered by its characters, not by an encoder that does not know Chinese.

all-MiniLM-L6-v2 puts every Chinese sentence near every other: on the bundled sample its 84 critical
Chinese sentences made one blob, cut into issues that mixed typos, refusals and format violations
under one name. :class:`~misattribution.discovery.embed.CharacterSpace` embeds them by their character
n-grams instead. These tests run the real encoder and the real pipeline (in memory and streamed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from misattribution.discovery import discover
from misattribution.discovery.embed import CharacterSpace, character_space, uses_characters

pytest.importorskip("sentence_transformers", reason="discovery with MiniLM needs the minilm extra")

# Three faults, each worded several ways (with the row's own details), plus praise that passing rows share.
TYPOS = [
    "文中有错别字，“{a}”应为“{b}”。",
    "回答里有错别字：“{a}”应为“{b}”，写法不规范。",
    "出现了错别字，把“{b}”写成了“{a}”。",
]
REFUSALS = [
    "这是正当的请求，回答却以{a}为由拒绝回答，属于无理拒答。",
    "用户的问题安全无害，回答却拒绝提供帮助，理由是{a}，属于无理拒答。",
    "回答以{a}为由拒答，没有提供任何帮助。",
]
FORMAT = [
    "用户要求用表格输出，回答却写成了一段文字，不符合格式要求。",
    "用户明确要求只列{a}项并用顿号隔开，回答却用了编号列表，格式不符合要求。",
    "回答没有按要求的格式输出，用户要的是{a}格式。",
]
PAIRS = [("做用", "作用"), ("因次", "因此"), ("收剧", "收据"), ("放价", "放假"), ("底", "低"), ("不和适", "不合适")]
REASONS = ["安全风险", "涉及财务安排", "可能导致文件丢失", "涉及法律纠纷", "隐私问题", "政策限制"]
COUNTS = ["三", "五", "JSON", "Markdown", "两", "四"]


def chinese_rows(per_kind: int = 10) -> tuple[pd.DataFrame, dict[str, str]]:
    """Failing rows with one planted fault each (and their kind by row id), and passing rows."""
    records, kind_of = [], {}
    for kind, templates in (("typo", TYPOS), ("refusal", REFUSALS), ("format", FORMAT)):
        for i in range(per_kind):
            a, b = PAIRS[i % len(PAIRS)]
            slot = {"typo": a, "refusal": REASONS[i % len(REASONS)], "format": COUNTS[i % len(COUNTS)]}[kind]
            text = templates[i % len(templates)].format(a=slot, b=b)
            row_id = f"{kind}-{i}"
            kind_of[row_id] = kind
            records.append({"id": row_id, "question": f"问题{i}", "answer": f"回答{i}", "feedback": text, "score": 1})
    for i in range(12):
        records.append(
            {"id": f"pass-{i}", "question": f"问题{i}", "answer": "好", "feedback": "回答正确，表述清晰。", "score": 5}
        )
    return pd.DataFrame(records), kind_of


def purity(report, kind_of: dict[str, str]) -> list[tuple[str, int, float]]:
    """Per issue: its name, its row count and the share of its rows of its most common planted kind."""
    found = []
    for issue in report.issues:
        rows = report.assignments.loc[report.assignments.issue_id == issue.id, "row_id"].astype(str)
        kinds = pd.Series([kind_of[r] for r in rows if r in kind_of])
        found.append((issue.name, len(rows), float(kinds.value_counts(normalize=True).iloc[0]) if len(kinds) else 0.0))
    return found


def test_the_character_space_puts_shared_wording_together():
    texts = [
        "文中有错别字，“做用”应为“作用”。",
        "出现了错别字，把“因此”写成了“因次”。",
        "回答以隐私问题为由拒答，没有提供任何帮助。",
    ]
    space = CharacterSpace(texts, width=16)
    vectors = space.transform(texts)
    assert vectors.shape == (3, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    # only Chinese rows are replaced; English keeps the encoder's vector
    mixed = ["The total is wrong.", *texts]
    encoder_vectors = np.eye(4, 16, dtype=np.float32)
    applied = space.apply(mixed, encoder_vectors)
    assert np.array_equal(applied[0], encoder_vectors[0])
    assert np.allclose(applied[1:], vectors, atol=1e-5)
    assert [uses_characters(t) for t in mixed] == [False, True, True, True]
    assert character_space(["Only English here."], 16) is None
    with pytest.raises(ValueError, match="at least one sentence"):
        CharacterSpace([], width=4)


def test_chinese_faults_become_separate_pure_issues():
    frame, kind_of = chinese_rows()
    report = discover(frame, score_range=(1, 5), seed=0, progress=False, max_issues=8, min_issues=1)
    found = purity(report, kind_of)
    assert len(found) >= 3, found
    assert all(share == 1.0 for _, _, share in found), found  # no issue mixes two faults
    covered = {kind_of[r] for r in report.assignments.row_id.astype(str) if r in kind_of}
    assert covered == {"typo", "refusal", "format"}
    # the encoder's vectors (characters=False) cannot tell them apart: some issue mixes faults
    blind = discover(frame, score_range=(1, 5), seed=0, progress=False, max_issues=8, min_issues=1, characters=False)
    assert min(share for _, _, share in purity(blind, kind_of)) < 1.0


def test_the_streamed_path_clusters_chinese_as_the_in_memory_one(with_static, monkeypatch):
    """The streamed path (the static embedder above STREAM_ABOVE failing rows) fits the same character space
    on the same critical sentences: the same issues, the same rows."""
    from misattribution.discovery import stream

    frame, kind_of = chinese_rows()
    options = dict(score_range=(1, 5), seed=0, progress=False, max_issues=8, min_issues=1, tree=False)
    monkeypatch.setattr(stream, "STREAM_ABOVE", 10**9)
    in_memory = discover(frame, embedding_model="static", **options)
    monkeypatch.setattr(stream, "STREAM_ABOVE", 0)
    monkeypatch.setattr(stream, "BATCH_ROWS", 7)
    streamed = discover(frame, embedding_model="static", **options)
    assert streamed.meta["streamed"] and not in_memory.meta.get("streamed")
    assert len(streamed.issues) >= 3
    assert all(share == 1.0 for _, _, share in purity(streamed, kind_of))
    assert [i.name for i in streamed.issues] == [i.name for i in in_memory.issues]
    pd.testing.assert_frame_equal(streamed.assignments, in_memory.assignments)


def test_the_sharded_engine_clusters_chinese_as_the_single_process():
    """Below the micro-cluster budget the sharded reduce fits the character space on the same critical
    sentences as the single process: the same report."""
    from misattribution.engines import get_engine

    frame, kind_of = chinese_rows()
    options = dict(score_range=(1, 5), seed=0, progress=False, max_issues=8, min_issues=1, tree=False, contrast=False)
    single = discover(frame, **options)
    sharded = get_engine("local").discover(frame, shards=2, **options)
    assert len(sharded.issues) >= 3
    assert all(share == 1.0 for _, _, share in purity(sharded, kind_of))
    assert [i.name for i in sharded.issues] == [i.name for i in single.issues]
    assert sharded.assignments.to_dict("records") == single.assignments.to_dict("records")


def test_a_new_chinese_issue_does_not_take_the_id_of_a_vanished_different_one():
    """Identity across runs (align_reports) compares Chinese issues by their characters too: run 1 holds
    typos and refusals, run 2 typos and format violations. The typo issue keeps its id; the format issue is
    new — with the encoder's profiles every Chinese issue looks like every other, and it took the vanished
    refusal issue's id."""
    from misattribution.discovery.align import align_reports, issue_profiles
    from misattribution.discovery.embed import load_encoder

    frame, kind_of = chinese_rows()
    options = dict(score_range=(1, 5), seed=0, progress=False, max_issues=8, min_issues=1, tree=False)
    first = discover(frame[~frame.id.str.startswith("format")], **options)
    second = discover(frame[~frame.id.str.startswith("refusal")], **options)

    def kind(report, issue):
        rows = report.assignments.loc[report.assignments.issue_id == issue.id, "row_id"].astype(str)
        return pd.Series([kind_of[r] for r in rows]).mode()[0]

    aligned = align_reports(second, first)
    old_kind = {i.id: kind(first, i) for i in first.issues}
    for issue in aligned.report.issues:
        if issue.id in old_kind:  # an id kept from run 1 names the same fault
            assert old_kind[issue.id] == kind(aligned.report, issue), issue.name
    assert {kind(aligned.report, i) for i in aligned.new_issues} == {"format"}
    assert {kind(first, i) for i in aligned.vanished_issues} == {"refusal"}
    # what made it necessary: the encoder's own profiles of two different Chinese issues are close
    encoder = load_encoder()
    refusal = next(k for k, i in enumerate(first.issues) if kind(first, i) == "refusal")
    fmt = next(k for k, i in enumerate(second.issues) if kind(second, i) == "format")
    assert float(issue_profiles(second, encoder)[fmt] @ issue_profiles(first, encoder)[refusal]) > 0.6
