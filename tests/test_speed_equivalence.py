"""Issue 15: the fast sentence splitting, masking and lexical criticality give what the plain code gives.

``split_sentences`` caches per distinct line and sentence, ``strip_opener`` / ``strip_subject`` match their
anchored patterns instead of searching, ``abstract_sentence`` skips substitutions that cannot apply, and the
streamed path scores the lexical criticality of each distinct text once over all batches. The plain implementations are kept
here as the reference: the loops as they were, over the module's own patterns and helpers, so that a change
to a cue list or a rule changes both alike. They run on planted rows (English; a few thousand), the
shipped criticality examples (English and Chinese), the same texts with letters upper-cased at random, and
hand-made edge cases; the streamed discovery of planted rows is run with both and must give the same report.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from misattribution.discovery import pipeline
from misattribution.discovery import sentences as S
from misattribution.testing.planted import generate


# -- the reference: the plain implementations, as they were before issue 15 --------------------------------
def reference_split_sentences(text, *, min_words: int = 3, max_formula_share: float = 0.35) -> list[str]:
    if not text or not str(text).strip():
        return []
    pieces: list[str] = []
    for line in str(text).splitlines():
        line = S._MARKUP.sub("", line).strip()
        if not line or S._BOILERPLATE.match(line):
            continue
        for abbreviation in S._ABBREVIATIONS:
            line = line.replace(abbreviation, abbreviation.replace(".", S._ABBREV_GUARD))
        for sentence in S._SENTENCE_END.split(line):
            for claim in S._split_claims(sentence.replace(S._ABBREV_GUARD, ".")):
                claim = S._clean_piece(claim)
                if claim and S._is_claim(claim, min_words, max_formula_share):
                    pieces.append(claim)
    return pieces


def reference_strip_opener(sentence: str) -> str:
    stripped = S._OPENER.sub("", sentence, count=1).lstrip(" ,:;")
    return stripped if S._WORD.search(stripped) or S._CJK.search(stripped) else sentence


def reference_strip_subject(sentence: str) -> str:
    stripped = S._SUBJECT.sub("", sentence, count=1)
    return stripped if S._WORD.search(stripped) else sentence


def reference_abstract_sentence(sentence: str, specific=()) -> str:
    import re

    specific = set(specific)
    text = S._HEDGE_WORDS.sub("", reference_strip_subject(reference_strip_opener(sentence)))
    text = S._EQUATION.sub(" = ", text[:1].upper() + text[1:])
    text = S._QUOTED.sub("“…”", text)
    text = S._NUMBER.sub("#", text)
    if specific:
        text = S._WORD.sub(lambda m: "…" if m.group(0).casefold().strip("'’") in specific else m.group(0), text)
    text = re.sub(r"(?:…\s*){2,}", "… ", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def reference_lexical(scorer: S.CriticalityScorer, sentences: list[str]) -> np.ndarray:
    codes, distinct = pd.factorize(pd.Series(list(sentences), dtype=object), sort=False)
    distinct = [str(s) for s in distinct]
    if not distinct:
        return np.zeros(0)
    cues = S.lexical_features(distinct)[:, 1:] @ scorer.lexical_weights
    ngrams = scorer._ngrams.transform([s if S._CJK.search(s) else "" for s in distinct]) @ scorer.ngram_weights
    rules = np.fromiter((S.rule_verdict(s) for s in distinct), dtype=np.float64, count=len(distinct))
    return (cues + np.asarray(ngrams).ravel() + rules)[codes]


# -- the corpus -------------------------------------------------------------------------------------------
EDGE_CASES = [
    "",
    "   ",
    "**Accuracy & Completeness**: The final answer is wrong, e.g. the total. Final Score: 2",
    "Dr. Smith's figure (approx. 40 vs. 45) is not the No. 1 result, i.e. it is off.\n\n[RESULT] 3",
    "Books sold in year two = 65\nThe model says x = 3, but x = 4 is right and the units are missing.",
    'The model quoted "twice as many" as “half as many”, which is a misreading; however, it covers both.',
    "İstanbul is wrong. The ſcore is 3 out of 5. The KELVIN sign K misleads. ÀÉÎ are missing accents.",
    "However, it seems that the model's response also clearly ignores the 300-word limit.",
    "One problem is that the agent never uses the tool. It should have checked the weather first.",
    "计算过程清晰，但最终答案错误。缺少单位。总体来说，回答没有遗漏关键信息，得分：3分",
    "The answer is correct…  …  but the explanation is vague.\x00 Fig. 2 is missing.",
    "- first point: no errors\n* second point: the response could be more concise\n1) the tone is rude",
    "Despite these minor slips, the response effectively addresses the request.",
    "But this is a minor quibble.",
    "THE FINAL ANSWER IS INCORRECT. THE SCORE SHOULD REFLECT THIS. I WOULD RATE IT 2.",
]


@pytest.fixture(scope="module")
def corpus() -> dict:
    """Feedback texts and their rows' questions, and the claims, sentences and lexical texts to compare."""
    made = generate("general", 3000, seed=11, split="test")
    frame = made.frame
    rnd = random.Random(0)
    feedback = [str(f) for f in frame["feedback"]] + EDGE_CASES
    questions = [str(q) for q in frame["question"]] + [""] * len(EDGE_CASES)
    examples = [text for text, _ in S.criticality_examples()]
    claims = list(dict.fromkeys(c for f in feedback for c in reference_split_sentences(f)))
    mangled = ["".join(ch.upper() if rnd.random() < 0.3 else ch for ch in t) for t in claims[:1500] + examples]
    texts = list(dict.fromkeys(claims + examples + mangled + EDGE_CASES))
    return {"feedback": feedback, "questions": questions, "texts": texts, "claims": claims, "frame": made}


def test_split_sentences_equals_reference(corpus) -> None:
    S._line_claims.cache_clear()
    S._sentence_claims.cache_clear()
    for _ in range(2):  # cold, then from the caches
        for text in corpus["feedback"] + [None, 3]:
            assert S.split_sentences(text) == reference_split_sentences(text), text
    for text in corpus["feedback"][:200]:  # other options are other cache entries
        assert S.split_sentences(text, min_words=6, max_formula_share=0.1) == reference_split_sentences(
            text, min_words=6, max_formula_share=0.1
        )
    assert len(corpus["claims"]) > 1000


def test_masking_equals_reference(corpus) -> None:
    checked = 0
    for text, question in zip(corpus["feedback"], corpus["questions"]):
        specific = S.content_words(question)
        for sentence in reference_split_sentences(text):
            assert S.strip_opener(sentence) == reference_strip_opener(sentence)
            assert S.strip_subject(sentence) == reference_strip_subject(sentence)
            assert S.abstract_sentence(sentence, specific) == reference_abstract_sentence(sentence, specific)
            assert S.abstract_sentence(sentence) == reference_abstract_sentence(sentence)
            checked += 1
    for sentence in corpus["texts"]:
        assert S.abstract_sentence(sentence) == reference_abstract_sentence(sentence), sentence
    assert checked > 5000


# -- with a scorer and the streamed discovery (the static embedder built from MiniLM's token vectors) ------
def test_scorer_lexical_equals_reference(with_static, corpus) -> None:
    from misattribution.discovery.embed import load_encoder

    scorer = S.criticality_scorer(load_encoder("static"))
    texts = corpus["texts"] + corpus["texts"][:500]  # repeated texts are scored once
    np.testing.assert_allclose(scorer.lexical(texts), reference_lexical(scorer, texts), rtol=0, atol=1e-12)
    assert scorer.lexical([]).shape == (0,)


def _report_key(report) -> tuple:
    issues = [(i.id, i.name, i.count, i.parent) for i in report.issues]
    meta = {k: report.meta.get(k) for k in ("n_sentences", "n_unique_sentences", "n_critical", "n_clustered")}
    return issues, meta


@pytest.mark.bad_issue_names  # the crude token-embedding model: the names are not what is tested here
def test_streamed_report_equals_reference(with_static, corpus, monkeypatch) -> None:
    """The same report from the streamed path (5 batches on 2 spawned workers, the fast functions) as from
    the reference functions in this process: issues, ids, names, row counts, assignments and evidence."""
    from misattribution.discovery import discover, stream

    made = corpus["frame"]
    options = dict(embedding_model="static", progress=False, score_range=made.score_range, max_embedded=400)
    monkeypatch.setattr(stream, "STREAM_ABOVE", 0)
    monkeypatch.setattr(stream, "BATCH_ROWS", 280)
    monkeypatch.setattr(stream, "MAX_WORKERS", 2)
    monkeypatch.setattr(stream, "LEXICAL_CHUNK", 700)
    fast = discover(made.frame, **options)
    assert fast.meta["streamed"] and fast.meta["split_workers"] == 2
    assert fast.meta["n_distinct_texts"] < fast.meta["n_sentences"]

    monkeypatch.setattr(stream, "MAX_WORKERS", 1)  # the reference functions are patched in this process only
    monkeypatch.setattr(pipeline, "split_sentences", reference_split_sentences)
    monkeypatch.setattr(pipeline, "abstract_sentence", reference_abstract_sentence)
    monkeypatch.setattr(S.CriticalityScorer, "lexical", reference_lexical)
    plain = discover(made.frame, **options)
    assert plain.meta["split_workers"] == 1
    assert _report_key(fast) == _report_key(plain)
    assert len(fast.issues) >= 3 and fast.meta["n_critical"] > 1000
    pd.testing.assert_frame_equal(fast.assignments, plain.assignments)
