"""Only shortcomings become issues: the labelled criticality sentences and the classifier on them.

The labelled files (benchmarks/data/criticality/) are validated; the classifier is measured on the
held-out test split of each source and language with ``benchmarks/bench_criticality.py`` itself (its
figures are the ones tested). ``clear_gsm8k`` (third-party) is checked only when it is on this machine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from misattribution.discovery.sentences import (  # noqa: E402
    CRITICALITY_EXAMPLES_FILE,
    CRITICALITY_LABELS,
    rule_verdict,
    split_sentences,
)

ROOT = Path(__file__).resolve().parents[1]
CLEAR_GSM8K = ROOT.parent / "shared" / "data" / "clear_gsm8k"
SAMPLE_DATA = ROOT / "src" / "misattribution" / "data" / "sample_data"
# Regression floors on the held-out test splits (measured: see the benchmark); the goal is GOAL_*.
FLOOR_PRECISION, FLOOR_RECALL = 0.70, 0.75
STYLES_FLOOR_PRECISION, STYLES_FLOOR_RECALL = 0.58, 0.68


@pytest.fixture(scope="module")
def bench():
    """benchmarks/bench_criticality.py, imported as a module."""
    spec = importlib.util.spec_from_file_location("bench_criticality", ROOT / "benchmarks" / "bench_criticality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def labelled(bench) -> pd.DataFrame:
    return pd.concat([bench.load_labelled(s) for s in bench.SOURCES], ignore_index=True)


# -- the labelled files -----------------------------------------------------------------------------------
def test_labelled_files_are_valid(labelled):
    assert len(labelled) >= 800
    assert set(labelled["label"]) == set(CRITICALITY_LABELS)
    assert set(labelled["split"]) == {"train", "test"}
    assert set(labelled["language"]) == {"en", "zh"}
    assert (labelled["language"] == "zh").sum() >= 120
    assert not labelled.duplicated(["source", "critique", "index"]).any()
    # A critique never straddles the splits, and its indices are 0..n-1.
    per_critique = labelled.groupby(["source", "critique"])
    assert (per_critique["split"].nunique() == 1).all()
    assert per_critique["index"].apply(lambda i: sorted(i) == list(range(len(i)))).all()
    for source, group in labelled.groupby("source"):
        assert {"train", "test"} <= set(group["split"]), source
    clear = labelled[labelled["source"] == "clear_gsm8k"]
    assert len(clear) >= 250 and clear["text"].isna().all()  # references only: CLEAR's text is not ours
    assert clear["sha1"].str.fullmatch(r"[0-9a-f]{10}").all()


def test_stored_sentences_are_split_sentences_units(bench):
    """The sample and authored sentences are exactly what split_sentences makes of their critiques."""
    feedback = {}
    for path in sorted(SAMPLE_DATA.glob("rows_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            feedback[row["id"]] = row["feedback"]
    critiques = bench.DATA / "authored_critiques.jsonl"
    for line in critiques.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        feedback[record["critique"]] = record["text"]
    for source in ("sample", "authored"):
        frame = bench.load_labelled(source)
        for critique, group in frame.groupby("critique"):
            assert split_sentences(feedback[critique]) == group.sort_values("index")["text"].tolist(), critique


def test_shipped_training_data_is_exactly_the_train_splits(bench):
    shipped = [json.loads(line) for line in CRITICALITY_EXAMPLES_FILE.read_text(encoding="utf-8").splitlines()]
    train = pd.concat([bench.load_labelled("sample"), bench.load_labelled("authored")])
    train = train[train["split"] == "train"]
    assert sorted((r["text"], r["label"]) for r in shipped) == sorted(zip(train["text"], train["label"]))
    assert {r["source"] for r in shipped} == {"sample", "authored"}  # never CLEAR, never a test sentence


def test_clear_reference_mismatch_fails_loudly(bench, tmp_path):
    results = pd.DataFrame({"question_id": ["q1"], "evaluation_text": ["The total is wrong. The units are fine."]})
    results.to_parquet(tmp_path / "results.parquet")
    text = split_sentences(results["evaluation_text"][0])[0]
    good = pd.DataFrame([{"critique": "q1", "index": 0, "sha1": hashlib.sha1(text.encode()).hexdigest()[:10]}])
    assert bench.resolve_clear(good, tmp_path)["text"].tolist() == [text]
    with pytest.raises(bench.ReferenceMismatch, match="critique q1 sentence 0"):
        bench.resolve_clear(good.assign(sha1="0000000000"), tmp_path)


@pytest.mark.parametrize(
    ("sentence", "verdict"),
    [
        ("No unsupported unit conversions are attempted.", "clears"),
        ("Uses the provided values and does not introduce external facts.", "clears"),
        ("The score should reflect the model's ability to follow instructions partially.", "clears"),
        ("The potential improvement could be in providing a more concise conclusion.", "clears"),
        ("This is a minor point and does not change the outcome.", "clears"),
        ("综合考虑，给2分比较合适。", "clears"),
        ("没有引入检索内容以外的事实。", "clears"),
        ("That is only a small detail.", "clears"),
        ("However, these remain very minor issues.", "clears"),
        ("Despite these slips, the answer explains each step clearly.", "clears"),
        ("Apart from the typo, the summary covers everything the user asked for.", "clears"),
        ("However, it excels at keeping the user's constraints.", "clears"),
        ("Despite the clear layout, the total is wrong.", "none"),
        ("Despite this error, the final total is also incorrect.", "none"),
        ("The only minor issue is that the units are missing.", "none"),
        # over-broad cues that once cleared real faults
        ("The cited statistics may be out of date, since the newest is from 2009.", "none"),
        ("The reply is dismissive when it answers the user's follow-up question.", "none"),
        ("Nothing explains why the reviewer considers the report finished.", "none"),
        ("No reason is given for passing the pull request.", "none"),
        ("The user asked for three bullet points, and the answer has nine.", "none"),
        ("This would not be a passing answer.", "clears"),
        ("But the user wanted only a CSV file with two columns.", "clears"),
        ("The summary covers only half of the requested topics.", "none"),
        ("Consider adding an example for beginners.", "clears"),
        ("The final answer is wrong.", "none"),
        ("It could be shorter, since it repeats the same paragraph twice.", "none"),
        ("It should have told the user that the document has no answer.", "raises"),
        ("应当告诉用户文档中没有这一信息。", "raises"),
        # the answer finding a problem is praise; failing to find it, or finding the wrong one, is not
        ("The response correctly identifies the error in the original code.", "clears"),
        ("It also flags that the table does not cover the northern region.", "clears"),
        ("The assistant catches the off-by-one error in the loop.", "clears"),
        ("The response fails to identify the error in the code.", "none"),
        ("It identifies the wrong variable as the cause.", "none"),
        ("The model spots the bug but then introduces a new one.", "none"),
        ("回答正确，并且记住了用户的要求。", "clears"),
        ("不过回答已经覆盖了两种情况。", "clears"),
        ("回答简洁，但遗漏了单位。", "none"),
    ],
)
def test_rule_verdicts(sentence, verdict):
    value = rule_verdict(sentence)
    assert {"clears": value < 0, "none": value == 0, "raises": value > 0}[verdict], value


# -- the classifier on the held-out test splits -------------------------------------------------------------
@pytest.fixture(scope="module")
def test_figures(bench):
    sentences, skipped = bench.load_all(CLEAR_GSM8K)
    sentences = sentences[sentences["split"] == "test"].reset_index(drop=True)
    table = bench.evaluate(sentences, bench.predict(sentences))
    print("\n" + table.to_string(index=False, float_format="{:.3f}".format) + (f"\n{skipped}" if skipped else ""))
    return table.set_index(["source", "language"])


@pytest.mark.parametrize(
    ("source", "language"), [("sample", "en"), ("sample", "zh"), ("authored", "en"), ("authored", "zh")]
)
def test_no_regression_on_held_out_test_split(test_figures, source, language):
    row = test_figures.loc[(source, language)]
    assert row["precision"] >= FLOOR_PRECISION and row["recall"] >= FLOOR_RECALL, row.to_dict()
    # Praise, rationale and fault-free suggestions are the confounders this classifier exists to drop.
    assert row["rationale→S"] + row["suggestion→S"] <= 1, row.to_dict()


def test_no_regression_on_clear_test_split(test_figures):
    if ("clear_gsm8k", "en") not in test_figures.index:
        pytest.skip(f"clear_gsm8k is not on this machine ({CLEAR_GSM8K})")
    row = test_figures.loc[("clear_gsm8k", "en")]
    assert row["precision"] >= FLOOR_PRECISION and row["recall"] >= FLOOR_RECALL, row.to_dict()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_no_regression_on_the_unseen_styles(test_figures, language):
    """``styles``: judge styles and domains the classifier is not trained on (held out whole). Measured
    precision 0.62 / 0.70 and recall 0.73 / 0.81 (en / zh); floors below them."""
    row = test_figures.loc[("styles", language)]
    assert row["precision"] >= STYLES_FLOOR_PRECISION and row["recall"] >= STYLES_FLOOR_RECALL, row.to_dict()


@pytest.mark.xfail(strict=True, reason="goal not met yet: test precision is 0.62-0.98 (see bench_criticality.py)")
def test_goal_on_every_held_out_test_split(bench, test_figures):
    """The goal: precision of "shortcoming" ≥ 0.95 and recall ≥ 0.80 on every source's test split, in
    each language. Strict xfail: when the classifier reaches it, this test fails until the mark goes."""
    assert (test_figures["precision"] >= bench.MIN_PRECISION).all()
    assert (test_figures["recall"] >= bench.MIN_RECALL).all()


def test_scorer_scores_each_occurrence_like_its_distinct_text(bench):
    """lexical() scores repeated sentences once; the result is the same as scoring them one by one."""
    from misattribution.discovery.embed import embed, load_encoder
    from misattribution.discovery.sentences import CriticalityScorer, abstract_sentence

    encoder = load_encoder()
    scorer = CriticalityScorer(encoder)
    texts = ["The units are missing.", "回答遗漏了单位。", "The units are missing.", "There are no errors."]
    lexical = scorer.lexical(texts)
    assert np.allclose(lexical, [scorer.lexical([t])[0] for t in texts])
    vectors = embed([abstract_sentence(t) for t in texts], encoder, progress=False)
    assert scorer.is_critical(texts, vectors).tolist() == [True, True, True, False]


def test_breaking_a_problem_down_is_praise_not_a_break():
    """Seen on clear_gsm8k: "breaks down the problem into manageable steps" fired the fault cue "breaks" and
    formed a leaf of praise."""
    from misattribution.discovery.embed import embed, load_encoder
    from misattribution.discovery.sentences import CriticalityScorer, abstract_sentence

    encoder = load_encoder()
    texts = ["The model breaks down the problem into manageable steps.", "The code breaks on an empty list."]
    critical = CriticalityScorer(encoder).is_critical(texts, embed([abstract_sentence(t) for t in texts], encoder))
    assert critical.tolist() == [False, True]


def test_the_examples_embedding_is_cached_on_disk_and_checked(tmp_path, monkeypatch):
    """The classifier's examples are embedded once per machine: a second process reads the .npy; a
    corrupt or mismatched file is recomputed, never trusted."""
    import numpy as np

    from misattribution.discovery import embed as embedding

    monkeypatch.setenv("MISATTRIBUTION_CACHE", str(tmp_path))
    encoder = embedding.load_encoder()
    texts = ["The units are missing.", "Every step is right.", "The total is off by one."]
    first = embedding.embed_fixed(texts, encoder)
    (stored,) = list((tmp_path / "embeddings").glob("*.npy"))
    calls = []
    real = embedding.embed
    monkeypatch.setattr(embedding, "embed", lambda s, e, **k: calls.append(len(s)) or real(s, e, **k))
    np.testing.assert_array_equal(embedding.embed_fixed(texts, encoder), first)
    assert calls == [1]  # only the probe sentence
    stored.write_bytes(b"not an array")
    np.testing.assert_allclose(embedding.embed_fixed(texts, encoder), first, atol=1e-6)
    assert calls[-1] == len(texts)
    assert embedding.embed_fixed(texts[:2], encoder).shape == (2, first.shape[1])  # other texts, other key
