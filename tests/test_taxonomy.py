"""The error taxonomies shipped with the package, lookups, and loading users' files."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from misattribution import Taxonomy, TaxonomyError, available_taxonomies, load_taxonomy
from misattribution.taxonomy import DEFAULT_TAXONOMY, normalize_name

SHIPPED = ["attridata-v1", "misattributionllm-2024"]
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

V2024_TABLE = {
    "Response Quality": ["Typos", "Noisy", "Truncation", "Duplicate", "Refusal to Answer", "Missing Answers"],
    "Instruction Following": ["Content Inconsistency", "Format Inconsistency", "Length Inconsistency"],
    "Knowledge Ability": ["Hallucination", "Incorrect Answers"],
    "Reasoning Capability": ["Process Error", "Result Error"],
    "Multi-Turn Dialogue": ["Reference Error", "Long-term Memory Loss"],
    "Creative Ability": ["Inappropriate Content"],
    "Safety": ["Safety Concerns"],
    "Comprehension Ability": ["Irrelevance"],
    "Other Errors": ["Others"],
}


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


# -- the shipped files ------------------------------------------------------------------------------
def test_shipped_taxonomies_are_listed():
    assert available_taxonomies() == SHIPPED
    assert load_taxonomy().name == DEFAULT_TAXONOMY == "attridata-v1"


@pytest.mark.parametrize(
    ("name", "primaries", "secondaries"), [("attridata-v1", 6, 15), ("misattributionllm-2024", 9, 19)]
)
def test_counts(name, primaries, secondaries):
    tax = load_taxonomy(name)
    assert (len(tax.primaries), len(tax.secondaries)) == (primaries, secondaries)
    assert all(tax.children(p.id) for p in tax.primaries)


def test_2024_table_is_the_published_one():
    tax = load_taxonomy("misattributionllm-2024")
    table = {p.name_en: [c.name_en for c in tax.children(p.id)] for p in tax.primaries}
    assert table == V2024_TABLE


@pytest.mark.parametrize("name", SHIPPED)
def test_every_category_is_complete(name):
    tax = load_taxonomy(name)
    for category in (*tax.primaries, *tax.secondaries):
        assert SNAKE_CASE.match(category.id), category.id
        assert category.name_en.strip() and category.name_zh.strip(), category.id
        assert category.definition.strip() and category.definition_zh.strip(), category.id
        assert re.search(r"[\u4e00-\u9fff]", category.name_zh), category.id
    ids = [c.id for c in (*tax.primaries, *tax.secondaries)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", SHIPPED)
def test_score_scale(name):
    scale = load_taxonomy(name).scale
    assert (scale.min, scale.max, scale.values) == (0, 3, [0, 1, 2, 3])
    assert [scale.expects_error(s) for s in scale.values] == [True, True, True, False]
    assert all(scale.level(s).name_en and scale.level(s).name_zh for s in scale.values)
    assert 2 in scale and 2.0 in scale and "2" in scale
    assert 4 not in scale and -1 not in scale and 2.5 not in scale and None not in scale and "two" not in scale


# -- lookups ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("result_error", "result_error"),
        ("Result Error", "result_error"),
        ("结果错误", "result_error"),
        ("RESULT ERROR", "result_error"),
        ("  result   error ", "result_error"),
        ("Result-Error", "result_error"),
        ("Ｒｅｓｕｌｔ　Ｅｒｒｏｒ", "result_error"),
        ("结果 错误", "result_error"),
        ("ＬＯＮＧ-TERM memory  loss", "long_term_memory_loss"),
        ("long–term memory loss", "long_term_memory_loss"),
        ("Factual Error", "incorrect_answers"),
        ("推理错误", "process_error"),
        ("Duplicate", "noisy"),
        ("Reasoning Capability", "reasoning_capability"),
        ("推理能力", "reasoning_capability"),
        ("*Typos*.", "typos"),
    ],
)
def test_lookup(tax, key, expected):
    assert tax.get(key).id == expected
    assert key in tax


@pytest.mark.parametrize("key", ["Grammar", "", "result", "result errors!", None, 3])
def test_unknown_lookup(tax, key):
    assert tax.resolve(key) is None
    assert key not in tax
    if isinstance(key, str):
        with pytest.raises(KeyError, match="not a category"):
            tax.get(key)


def test_normalize_name():
    assert normalize_name("  Long-term_Memory   LOSS ") == "long term memory loss"
    assert normalize_name("Ｔｙｐｏｓ") == "typos"
    assert normalize_name("结果　错误") == "结果错误"
    assert normalize_name("Process Error 过程 错误") == "process error 过程错误"


def test_primary_of_and_children(tax):
    assert tax.primary_of("result_error").id == "reasoning_capability"
    assert tax.primary_of("结果错误").name_en == "Reasoning Capability"
    assert tax.primary_of("reasoning_capability").id == "reasoning_capability"
    assert [c.id for c in tax.children("Reasoning Capability")] == ["process_error", "result_error"]
    assert [c.id for c in tax.children("理解能力")] == ["irrelevance"]
    assert tax.get("irrelevance").primary == "comprehension_ability"
    assert tax.get("comprehension_ability").is_primary and not tax.get("irrelevance").is_primary
    assert tax.primaries_of(["result_error", "typos", "process_error"]) == [
        "response_quality",
        "reasoning_capability",
    ]
    with pytest.raises(KeyError):
        tax.primary_of("nope")


def test_names_in_both_languages(tax):
    assert tax.names("en")[:2] == ["Typos", "Noisy"]
    assert tax.names("zh")[:2] == ["错别字", "冗余噪声"]
    assert tax.get("typos").name("zh-CN") == "错别字"
    assert tax.get("typos").describe("zh") != tax.get("typos").describe("en")


@pytest.mark.parametrize("name", SHIPPED)
def test_class_labels(name):
    tax = load_taxonomy(name)
    label = tax.class_label()
    assert label.names == tax.secondary_ids
    assert label.str2int("result_error") == tax.secondary_ids.index("result_error")
    assert tax.primary_class_label().names == tax.primary_ids


def test_normalize_labels(tax):
    assert tax.normalize_labels(["结果错误", "Typos", "result_error", "typos"]) == ["typos", "result_error"]
    assert tax.normalize_labels([]) == [] and tax.normalize_labels(None) == []
    with pytest.raises(KeyError, match="Grammar"):
        tax.normalize_labels(["Typos", "Grammar"])
    with pytest.raises(KeyError, match="primary"):
        tax.normalize_labels(["Reasoning Capability"])


# -- users' files -----------------------------------------------------------------------------------
def write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def minimal() -> dict[str, Any]:
    """A small valid taxonomy: 2 primaries, 3 secondaries, a 1-5 scale."""
    level = [{"value": v, "name_en": f"Level {v}", "name_zh": f"等级{v}"} for v in range(5, 0, -1)]
    return {
        "name": "my-taxonomy",
        "version": "0.1",
        "scale": {"min": 1, "max": 5, "error_below": 4, "levels": level},
        "categories": [
            {
                "id": "accuracy",
                "name_en": "Accuracy",
                "name_zh": "准确性",
                "children": [
                    {
                        "id": "wrong_fact",
                        "name_en": "Wrong Fact",
                        "name_zh": "事实错误",
                        "definition": "A false fact.",
                    },
                    {
                        "id": "wrong_math",
                        "name_en": "Wrong Math",
                        "name_zh": "计算错误",
                        "aliases": ["Arithmetic"],
                    },
                ],
            },
            {
                "id": "style",
                "name_en": "Style",
                "name_zh": "风格",
                "children": [{"id": "too_long", "name_en": "Too Long", "name_zh": "过长"}],
            },
        ],
    }


def test_load_user_file(tmp_path, minimal):
    tax = load_taxonomy(write(tmp_path / "mine.yaml", minimal))
    assert tax.name == "my-taxonomy" and tax.source == str(tmp_path / "mine.yaml")
    assert tax.secondary_ids == ["wrong_fact", "wrong_math", "too_long"]
    assert tax.get("arithmetic").id == "wrong_math"
    assert (tax.scale.min, tax.scale.max, tax.scale.error_below) == (1, 5, 4)
    assert load_taxonomy(str(tmp_path / "mine.yaml")).secondary_ids == tax.secondary_ids
    assert load_taxonomy(tax) is tax


@pytest.mark.parametrize("name", SHIPPED)
def test_save_then_load_round_trips(tmp_path, name):
    original = load_taxonomy(name)
    original.save(tmp_path / "copy.yaml")
    copy_ = load_taxonomy(tmp_path / "copy.yaml")
    assert copy_.to_dict() == original.to_dict()
    assert (copy_.primaries, copy_.secondaries, copy_.scale) == (
        original.primaries,
        original.secondaries,
        original.scale,
    )


def test_user_round_trip(tmp_path, minimal):
    tax = load_taxonomy(write(tmp_path / "mine.yaml", minimal))
    tax.save(tmp_path / "again.yaml")
    assert load_taxonomy(tmp_path / "again.yaml").to_dict() == tax.to_dict()


def _break(data: dict[str, Any], how: str) -> dict[str, Any] | str:
    data = copy.deepcopy(data)
    first = data["categories"][0]["children"][0]
    if how == "missing name_en":
        del first["name_en"]
    elif how == "empty name_zh":
        first["name_zh"] = "  "
    elif how == "duplicate id":
        data["categories"][1]["children"][0]["id"] = "wrong_fact"
    elif how == "primary reuses a child id":
        data["categories"][1]["id"] = "too_long"
    elif how == "non-snake id":
        first["id"] = "Wrong-Fact"
    elif how == "levels incomplete":
        data["scale"]["levels"].pop()
    elif how == "level outside the scale":
        data["scale"]["levels"][0]["value"] = 9
    elif how == "min >= max":
        data["scale"]["min"] = 5
    elif how == "error_below out of range":
        data["scale"]["error_below"] = 9
    elif how == "names collide":
        data["categories"][1]["children"][0]["name_en"] = "wrong  FACT"
    elif how == "zh names collide":
        data["categories"][1]["name_zh"] = "准确性"
    elif how == "alias collides":
        data["categories"][1]["children"][0]["aliases"] = ["Wrong Math"]
    elif how == "no children":
        data["categories"][1]["children"] = []
    elif how == "no categories":
        data["categories"] = []
    elif how == "no scale":
        del data["scale"]
    elif how == "no name":
        del data["name"]
    elif how == "boolean bound":
        data["scale"]["min"] = True
    elif how == "aliases not a list":
        first["aliases"] = "Fact"
    elif how == "top level is a list":
        return yaml.safe_dump([data])
    else:
        raise AssertionError(how)
    return data


@pytest.mark.parametrize(
    ("how", "field"),
    [
        ("missing name_en", "name_en"),
        ("empty name_zh", "name_zh"),
        ("duplicate id", "wrong_fact"),
        ("primary reuses a child id", "too_long"),
        ("non-snake id", "id"),
        ("levels incomplete", "scale.levels"),
        ("level outside the scale", "scale.levels[0].value"),
        ("min >= max", "scale.min"),
        ("error_below out of range", "scale.error_below"),
        ("names collide", "name_en"),
        ("zh names collide", "name_zh"),
        ("alias collides", "aliases"),
        ("no children", "children"),
        ("no categories", "categories"),
        ("no scale", "scale"),
        ("no name", "name"),
        ("boolean bound", "min"),
        ("aliases not a list", "aliases"),
        ("top level is a list", "top level"),
    ],
)
def test_malformed_user_file(tmp_path, minimal, how, field):
    broken = _break(minimal, how)
    path = tmp_path / "broken.yaml"
    if isinstance(broken, str):
        path.write_text(broken, encoding="utf-8")
    else:
        write(path, broken)
    with pytest.raises(TaxonomyError) as error:
        load_taxonomy(path)
    assert str(path) in str(error.value) and field in str(error.value), str(error.value)


def test_collision_names_both_categories(tmp_path, minimal):
    with pytest.raises(TaxonomyError, match=r"too_long\.name_en 'wrong  FACT' .* wrong_fact\.id"):
        load_taxonomy(write(tmp_path / "clash.yaml", _break(minimal, "names collide")))


def test_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ncategories: [\n  - {id: a", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=re.escape(str(path)) + ".*not valid YAML"):
        load_taxonomy(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(TaxonomyError, match=re.escape(str(path)) + ".*UTF-8"):
        load_taxonomy(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="top level must be a mapping"):
        load_taxonomy(path)


@pytest.mark.parametrize("missing", ["no/such/file.yaml", "attridata-v2"])
def test_missing_path(missing):
    with pytest.raises(FileNotFoundError, match="attridata-v1"):
        load_taxonomy(missing)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_taxonomy(tmp_path)
