"""The labelled criticality files we wrote ourselves (``authored``, ``styles``) follow their README.

``benchmarks/data/criticality/README.md`` fixes the format (one line per ``split_sentences`` unit of a
stored critique), the split protocol (by critique, within language: sorted ids permuted with
``numpy.random.default_rng(0)``, first half rounded up is ``train``) and, for ``styles``, what the source
covers (judge styles and domains in both languages). These tests read only the files: no model.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from misattribution.discovery.sentences import CRITICALITY_LABELS, split_sentences

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "criticality"
# Sources that store their full critiques next to the labelled sentences.
WITH_CRITIQUES = ("authored", "styles")
SENTENCE_FIELDS = ["source", "critique", "index", "language", "split", "label", "text"]
STYLES = {"prometheus", "mtbench", "rubric", "analytical", "bullets", "pairwise", "scoreline"}
DOMAINS = {
    "summarisation",
    "translation",
    "customer-support",
    "sql",
    "advice",
    "creative-writing",
    "extraction",
    "math",
    "moderation",
    "multi-turn",
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def protocol_split(ids) -> dict[str, str]:
    """The README's split of one source × language: sorted ids, permuted with default_rng(0), first
    half (rounded up) train."""
    order = np.random.default_rng(0).permutation(sorted(ids))
    cut = math.ceil(len(order) / 2)
    return {str(cid): ("train" if i < cut else "test") for i, cid in enumerate(order)}


@pytest.fixture(scope="module", params=WITH_CRITIQUES)
def source(request):
    name = request.param
    sentences = read_jsonl(DATA / f"{name}.jsonl")
    critiques = read_jsonl(DATA / f"{name}_critiques.jsonl")
    return name, pd.DataFrame(sentences), pd.DataFrame(critiques), sentences


def test_sentence_records_have_exactly_the_documented_fields(source):
    name, frame, _, records = source
    assert all(list(r) == SENTENCE_FIELDS for r in records), name
    assert (frame["source"] == name).all()
    assert set(frame["label"]) <= set(CRITICALITY_LABELS)
    assert set(frame["language"]) == {"en", "zh"}
    assert set(frame["split"]) == {"train", "test"}
    assert frame["text"].str.strip().ne("").all()
    assert not frame.duplicated(["critique", "index"]).any()


def test_sentences_are_every_split_sentences_unit_of_their_critique(source):
    """Every unit is labelled, in order, with index = its position; no sentence without a critique."""
    name, frame, critiques, _ = source
    assert not critiques["critique"].duplicated().any()
    assert set(frame["critique"]) == set(critiques["critique"]), name
    by_critique = dict(list(frame.sort_values("index").groupby("critique")))
    for row in critiques.itertuples(index=False):
        group = by_critique[row.critique]
        assert group["index"].tolist() == list(range(len(group))), row.critique
        assert group["text"].tolist() == split_sentences(row.text), row.critique
        # The critique's language and split are those of each of its sentences.
        assert set(group["language"]) == {row.language} and set(group["split"]) == {row.split}, row.critique


def test_split_follows_the_protocol(source):
    name, _, critiques, _ = source
    for language, group in critiques.groupby("language"):
        expected = protocol_split(group["critique"])
        assert dict(zip(group["critique"], group["split"])) == expected, (name, language)


def test_styles_covers_judge_styles_and_domains_in_both_languages():
    critiques = pd.DataFrame(read_jsonl(DATA / "styles_critiques.jsonl"))
    sentences = pd.DataFrame(read_jsonl(DATA / "styles.jsonl"))
    assert list(critiques.columns) == ["critique", "domain", "style", "language", "split", "text"]
    assert len(sentences) >= 700
    per_language = critiques["language"].value_counts()
    assert per_language["en"] >= 45 and per_language["zh"] >= 45
    # Each critique is 4-12 units, as real judges write them.
    units = sentences.groupby("critique").size()
    assert units.between(4, 12).all(), units[~units.between(4, 12)].to_dict()
    assert set(critiques["style"]) == STYLES and set(critiques["domain"]) == DOMAINS
    for column in ("style", "domain"):
        counts = pd.crosstab(critiques[column], critiques["language"])
        assert (counts > 0).all().all(), counts  # every style and every domain in both languages
    # The id names the domain's short form and the language: "<domain>-<language>-<nn>".
    assert (critiques["critique"].str.split("-").str[-2] == critiques["language"]).all()
    # Every label is present in each language, shortcomings make about a third.
    for language, group in sentences.groupby("language"):
        assert set(group["label"]) == set(CRITICALITY_LABELS), language
    assert 0.30 <= (sentences["label"] == "shortcoming").mean() <= 0.45


def test_a_sentence_shared_with_another_source_has_the_same_label():
    """The same text means the same thing: styles never contradicts sample or authored."""
    styles = pd.DataFrame(read_jsonl(DATA / "styles.jsonl"))
    others = pd.concat([pd.DataFrame(read_jsonl(DATA / f"{s}.jsonl")) for s in ("sample", "authored")])
    shared = styles.merge(others, on="text", suffixes=("", "_other"))
    assert (shared["label"] == shared["label_other"]).all(), shared[["text", "label", "label_other"]]
    within = styles.groupby("text")["label"].nunique()
    assert (within == 1).all(), within[within > 1]


def test_benchmark_breaks_styles_down_by_judge_style_and_domain():
    """bench_criticality --by style/domain: the facets come from styles_critiques.jsonl, and the figures
    are the same precision / recall as the per-source table (checked with known predictions, no model)."""
    spec = importlib.util.spec_from_file_location("bench_criticality", DATA.parents[1] / "bench_criticality.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sentences = pd.concat([bench.load_labelled(s) for s in ("authored", "styles")], ignore_index=True)
    faceted = bench.with_styles_facets(sentences)
    assert len(faceted) == (sentences["source"] == "styles").sum() and faceted[["style", "domain"]].notna().all().all()
    truth = faceted["label"].eq("shortcoming").to_numpy()
    perfect = bench.evaluate(faceted, truth, by=("style",))
    assert set(perfect["style"]) == STYLES and (perfect["precision"] == 1).all() and (perfect["recall"] == 1).all()
    everything = bench.evaluate(faceted, np.ones(len(faceted), bool), by=("domain",)).set_index("domain")
    share = faceted.groupby("domain")["label"].apply(lambda labels: labels.eq("shortcoming").mean())
    assert np.allclose(everything["precision"], share[everything.index]) and (everything["recall"] == 1).all()
    # The default grouping is unchanged: source × language × split first, then the figures.
    table = bench.evaluate(sentences, sentences["label"].eq("shortcoming"))
    assert list(table.columns[:4]) == ["source", "language", "split", "n"] and len(table) == 8
