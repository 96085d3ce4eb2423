"""The issue tree's feedback route: category examples in the taxonomy YAML, and how well remarks map.

Real all-MiniLM-L6-v2 (from its PyPI package, offline). The held-out figures come from
``benchmarks/bench_tree_mapping.py`` (imported as a module, so the split is the benchmark's).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from misattribution.discovery.tree import (  # noqa: E402
    UNATTRIBUTED,
    _map_sentences,
    attach_to_taxonomy,
    category_node_id,
)
from misattribution.taxonomy import TaxonomyError, available_taxonomies, load_taxonomy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

OWN_TAXONOMY = """
name: agent-taxonomy
version: "1"
scale: {min: 0, max: 1, error_below: 1, levels: [{value: 1, name_en: Good, name_zh: 好}, {value: 0, name_en: Bad, name_zh: 差}]}
categories:
  - id: tools
    name_en: Tool use
    name_zh: 工具使用
    definition: How the agent uses its tools.
    children:
      - id: wrong_arguments
        name_en: Wrong arguments
        name_zh: 参数错误
        definition: A tool is called with wrong or malformed arguments.
        examples:
          - The agent passes the date as 'next Friday' where the API expects YYYY-MM-DD.
          - The search tool is called with the user id in the query field.
          - The agent sends an empty filter, so the database call returns every record.
          - The currency parameter is 'dollars' instead of the ISO code 'USD'.
          - The agent calls the weather API with the city name misspelled.
      - id: skipped_confirmation
        name_en: Skipped confirmation
        name_zh: 未确认
        definition: An irreversible action is taken without asking the user first.
        examples:
          - The agent deletes the files without asking the user to confirm.
          - The payment is sent before the user approved the amount.
          - The agent cancels the subscription without checking with the user.
          - The email goes out to all customers without the user reviewing it.
          - The agent overwrites the production config without a confirmation step.
        examples_zh:
          - 智能体没有征得用户同意就删除了文件。
          - 付款在用户确认金额之前就已经发出。
"""

HEADER = """
name: mine
version: "1"
scale: {min: 0, max: 1, error_below: 1, levels: [{value: 1, name_en: Good, name_zh: 好}, {value: 0, name_en: Bad, name_zh: 差}]}
categories:
  - id: maths
    name_en: Maths
    name_zh: 数学
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _leaves(sentences: dict[str, str]):
    """One issue per sentence, each with one row."""
    issues = [SimpleNamespace(id=key) for key in sentences]
    assignments = pd.DataFrame(
        {
            "row_id": [f"r{k}" for k in range(len(sentences))],
            "issue_id": list(sentences),
            "evidence": list(sentences.values()),
        }
    )
    rows = pd.DataFrame(
        {"row_id": assignments["row_id"], "failing": True, "feedback": assignments["evidence"], "score": 0}
    )
    return rows, issues, assignments


# -- the examples field --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", available_taxonomies())
def test_shipped_taxonomies_give_examples_in_both_languages(name, tmp_path):
    taxonomy = load_taxonomy(name)
    for category in taxonomy.secondaries:
        if category.id == "others":  # a catch-all: a few examples of what fits nowhere else
            assert len(category.examples) >= 5
            continue
        assert 8 <= len(category.examples) <= 12, category.id
        assert 8 <= len(category.examples_zh) <= 12, category.id
        assert category.examples_in("zh") == category.examples_zh
    for category in taxonomy.primaries:
        assert not category.examples and not category.examples_zh
    taxonomy.save(tmp_path / "copy.yaml")
    copy = load_taxonomy(tmp_path / "copy.yaml")
    assert [(c.examples, c.examples_zh) for c in copy.secondaries] == [
        (c.examples, c.examples_zh) for c in taxonomy.secondaries
    ]


@pytest.mark.parametrize(
    ("child", "message"),
    [
        (
            "examples: [A fine sentence., 3]",
            r"mine\.yaml: categories\[0\]\.children\[0\]\.examples\[1\] must be a non-empty string",
        ),
        ("examples: ['  ']", r"mine\.yaml: categories\[0\]\.children\[0\]\.examples\[0\] must be a non-empty string"),
        ("examples: one sentence", r"mine\.yaml: categories\[0\]\.children\[0\]\.examples must be a list of sentences"),
        ("examples_zh: {a: b}", r"mine\.yaml: categories\[0\]\.children\[0\]\.examples_zh must be a list of sentences"),
    ],
)
def test_a_malformed_examples_entry_names_the_file_and_field(tmp_path, child, message):
    text = HEADER + f"    children:\n      - id: sums\n        name_en: Sums\n        name_zh: 算错\n        {child}\n"
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(_write(tmp_path, text))


def test_examples_on_a_primary_category_are_refused(tmp_path):
    text = HEADER + "    examples: [A sentence.]\n    children:\n      - {id: sums, name_en: Sums, name_zh: 算错}\n"
    with pytest.raises(TaxonomyError, match=r"mine\.yaml: categories\[0\]\.examples: examples belong to the secondary"):
        load_taxonomy(_write(tmp_path, text))


# -- routing -------------------------------------------------------------------------------------------------
def test_a_users_taxonomy_routes_remarks_to_its_own_categories(tmp_path):
    taxonomy = load_taxonomy(_write(tmp_path, OWN_TAXONOMY))
    rows, issues, assignments = _leaves(
        {
            "date": "The booking tool received the date in the wrong format, '3rd of May' instead of 2024-05-03.",
            "refund": "The agent issued the refund without asking the user to confirm it first.",
            "zh": "智能体没有经过用户确认就发出了付款。",
            "poem": "The poem's rhymes are weak and the imagery is clichéd.",
        }
    )
    # No passing rows here, so no null to calibrate on: the floor decides. The default floor (0.2, set on
    # the 15 categories of attridata-v1) lets the poem remark through to the nearer of only two
    # categories (score 0.23 against 0.19); a user with a small taxonomy raises it.
    _, parents, meta = attach_to_taxonomy(rows, issues, assignments, taxonomy, min_similarity=0.3)
    assert parents["date"] == category_node_id("wrong_arguments")
    assert parents["refund"] == category_node_id("skipped_confirmation")
    assert parents["zh"] == category_node_id("skipped_confirmation")
    assert parents["poem"] == UNATTRIBUTED  # no category of this taxonomy is about poetry
    assert meta["leaves"]["date"]["method"] == "feedback" and set(meta["thresholds"]) == {"en", "zh"}


def test_the_definition_is_no_longer_an_attractor():
    """'minutes to hours' once went to Length Inconsistency, whose definition talks about length."""
    taxonomy = load_taxonomy("attridata-v1")
    sentence = "The response forgets to convert minutes to hours, so the total time is wrong."
    rows, _, _ = _leaves({"a": sentence})
    mapped, _ = _map_sentences(rows, {"a": [sentence]}, taxonomy, None, "en", 0.05, None, 0)
    (category,) = mapped["a"][0]
    assert category != "length_inconsistency"
    scores = mapped["a"][1]
    assert max(scores, key=scores.get) in {"process_error", "result_error"}


# -- accuracy on held-out data -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_tree_mapping", ROOT / "benchmarks" / "bench_tree_mapping.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _held_out(bench, language: str) -> dict[str, float]:
    from misattribution.discovery.embed import load_encoder

    encoder, taxonomy = load_encoder(), load_taxonomy("attridata-v1")
    frame = bench.frame_of(bench.split_rows(language)["test"])
    sentences = bench.critical_sentences(frame, encoder)
    leaves = {f"s{k}": [s] for k, (s, _) in enumerate(sentences)}
    votes = bench.new_route(frame, leaves, taxonomy, encoder)
    return bench.sentence_figures([votes[k][0] for k in leaves], [g for _, g in sentences])


# Measured on 2026-12-06 with benchmarks/bench_tree_mapping.py (held-out test split, critical sentences
# of labelled rows; settings chosen on dev): English 66.7 % mapped at 66.7 % accuracy (old route: 20.0 %
# at 44.4 %); Chinese 66.0 % at 97.1 % (old: 1.9 % mapped); other-domain set 88.7 % of the 62 sentences
# with a category mapped at 87.3 % (old: 50.0 % at 41.9 %), 6 of the 12 that fit none left unmapped.
# Floors sit a little below, since the criticality classifier that picks the sentences may change.
EN_MAPPED, EN_ACCURACY = 0.6, 0.6
ZH_MAPPED, ZH_ACCURACY = 0.58, 0.88
OTHER_MAPPED, OTHER_ACCURACY, OTHER_NONE = 0.8, 0.8, 0.4


def test_english_held_out_floor(bench):
    figures = _held_out(bench, "en")
    assert figures["mapped"] >= EN_MAPPED and figures["accuracy"] >= EN_ACCURACY, figures


def test_chinese_held_out_floor(bench):
    figures = _held_out(bench, "zh")
    assert figures["mapped"] >= ZH_MAPPED and figures["accuracy"] >= ZH_ACCURACY, figures


def test_the_other_domain_check(bench):
    import json

    from misattribution.discovery.embed import load_encoder

    records = [json.loads(line) for line in bench.OTHER_DOMAIN.open(encoding="utf-8")]
    assert len([r for r in records if r["category"]]) >= 60
    leaves = {f"o{k}": [r["sentence"]] for k, r in enumerate(records)}
    frame = pd.DataFrame({"row_id": [], "feedback": [], "failing": []}).astype({"failing": bool})
    votes = bench.new_route(frame, leaves, load_taxonomy("attridata-v1"), load_encoder())
    gold = [{r["category"]} if r["category"] else None for r in records]
    figures = bench.sentence_figures([votes[k][0] for k in leaves], gold)
    assert figures["mapped"] >= OTHER_MAPPED and figures["accuracy"] >= OTHER_ACCURACY, figures
    assert figures["none_left_unmapped"] >= OTHER_NONE, figures


def test_the_readme_example_loads(tmp_path):
    """The README's YAML snippet of a category with examples is valid as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in readme.split("```yaml\n")[1:] if "examples:" in b).split("```")[0]
    text = HEADER.replace("  - id: maths", "  - id: tools").replace("Maths", "Tools").replace("数学", "工具")
    category = load_taxonomy(_write(tmp_path, text + "    children:\n" + block)).get("wrong_arguments")
    assert len(category.examples) == 2 and len(category.examples_zh) == 1
