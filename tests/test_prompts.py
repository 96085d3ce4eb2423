"""The judge prompt: templates, the taxonomy and scale it lists, and its output format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from misattribution import build_messages, get_prompt_template, load_taxonomy, parse_judgment
from misattribution.format import FORMAT_HEADINGS, LABELS, format_instructions
from misattribution.prompts import describe_scale, describe_taxonomy

QUESTION, ANSWER, REFERENCE = "What is 27 + 15?", "32", "42"
SECTIONS = {
    "en": {"question": "### Question", "answer": "### Answer", "reference": "### Reference answer"},
    "zh": {"question": "### 问题", "answer": "### 回答", "reference": "### 参考答案"},
}
CRITERIA = {"en": "### Evaluation criteria", "zh": "### 评估标准"}
ABLATION = ("feedback", "score")


def system_and_user(**kwargs) -> tuple[str, str]:
    system, user = build_messages(QUESTION, ANSWER, **kwargs)
    assert (system["role"], user["role"]) == ("system", "user")
    return system["content"], user["content"]


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("reference", [None, REFERENCE])
def test_sections(language, reference):
    system, user = system_and_user(reference=reference, language=language)
    headings = SECTIONS[language]
    assert user.index(headings["question"]) < user.index(QUESTION) < user.index(headings["answer"])
    assert user.rstrip().endswith(ANSWER)
    if reference is None:
        assert headings["reference"] not in user
    else:
        assert user.index(headings["question"]) < user.index(headings["reference"]) < user.index(headings["answer"])
        assert f"{headings['reference']}\n{REFERENCE}\n" in user
    assert FORMAT_HEADINGS[language] in system
    assert system.rstrip().endswith(format_instructions(language=language))
    for label in LABELS[language].values():
        assert label in system


@pytest.mark.parametrize("language", ["en", "zh"])
def test_reference_note_only_with_reference(language):
    note = {"en": "using the reference answer", "zh": "以参考答案作为正确性的标准"}[language]
    assert note not in system_and_user(language=language)[0]
    assert note in system_and_user(language=language, reference=REFERENCE)[0]
    # A blank reference is no reference.
    assert system_and_user(language=language, reference="  ") == system_and_user(language=language)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_languages_do_not_mix(language):
    system, user = system_and_user(language=language, reference=REFERENCE, criteria="Be strict.")
    cjk = re.compile(r"[\u4e00-\u9fff]")
    if language == "en":
        assert not cjk.search(system + user)
    else:
        assert len(cjk.findall(system)) > 200
        assert "Feedback" not in system and "Score:" not in system


@pytest.mark.parametrize("taxonomy", ["attridata-v1", "misattributionllm-2024"])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_taxonomy_is_listed(taxonomy, language):
    tax = load_taxonomy(taxonomy)
    system, _ = system_and_user(language=language, taxonomy=taxonomy)
    for category in (*tax.primaries, *tax.secondaries):
        assert f"- {category.name(language)}" in system
    for child in tax.secondaries:
        assert child.describe(language) in system
    assert describe_taxonomy(tax, language) in system
    assert describe_scale(tax, language) in system
    for level in tax.scale.levels:
        assert f"- {level.value} = {level.name(language)}" in system


def test_2024_lists_categories_the_default_does_not():
    default, _ = system_and_user()
    v2024, _ = system_and_user(taxonomy="misattributionllm-2024")
    assert "Safety Concerns" in v2024 and "Safety Concerns" not in default
    assert "- Duplicate:" in v2024 and "- Duplicate:" not in default


@pytest.mark.parametrize("language", ["en", "zh"])
def test_criteria_block_only_when_given(language):
    heading = CRITERIA[language]
    assert heading not in system_and_user(language=language)[1]
    assert heading not in system_and_user(language=language, criteria="   ")[1]
    _, user = system_and_user(language=language, criteria="  Penalise rounding.  ")
    assert user.startswith(f"{heading}\nPenalise rounding.\n\n{SECTIONS[language]['question']}")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_ablation_drops_misattribution(language):
    tax = load_taxonomy()
    full, _ = system_and_user(language=language)
    system, _ = system_and_user(language=language, order=ABLATION)
    assert LABELS[language]["misattribution"] not in system
    assert describe_taxonomy(tax, language) in full
    for category in (*tax.primaries, *tax.secondaries):
        assert f"- {category.name(language)}" in full and f"- {category.name(language)}" not in system
    assert describe_scale(tax, language) in system
    assert system.rstrip().endswith(format_instructions(language=language, order=ABLATION))
    assert len(system) < len(full) / 2


def test_order_is_the_format_order():
    system, _ = system_and_user(order=("score", "misattribution", "feedback"))
    skeleton = system.split(FORMAT_HEADINGS["en"])[1]
    assert skeleton.index("Score:") < skeleton.index("Misattribution:") < skeleton.index("Feedback:")
    with pytest.raises(ValueError, match="order"):
        build_messages(QUESTION, ANSWER, order=("score", "score"))
    with pytest.raises(ValueError, match="order"):
        build_messages(QUESTION, ANSWER, order=("feedback", "verdict"))


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("reference", [None, REFERENCE])
def test_deterministic(language, reference):
    kwargs = {"reference": reference, "language": language, "criteria": "Be strict."}
    first = build_messages(QUESTION, ANSWER, **kwargs)
    assert build_messages(QUESTION, ANSWER, **kwargs) == first
    assert build_messages(QUESTION, ANSWER, taxonomy=load_taxonomy(), **kwargs) == first


@pytest.mark.parametrize("taxonomy", ["attridata-v1", "misattributionllm-2024"])
@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("reference", [None, REFERENCE])
@pytest.mark.parametrize("order", [("feedback", "misattribution", "score"), ABLATION])
def test_no_unformatted_placeholders(taxonomy, language, reference, order):
    messages = build_messages(
        QUESTION,
        ANSWER,
        reference=reference,
        criteria="Be strict.",
        taxonomy=taxonomy,
        language=language,
        order=order,
    )
    for message in messages:
        assert not re.search(r"\{[a-z_]*\}", message["content"]), message["content"]
        assert "{" not in message["content"] and "}" not in message["content"]


def test_user_text_with_braces_is_kept_verbatim():
    _, user = system_and_user(reference="{reference}", criteria="Use {criteria}.")
    assert "{reference}" in user and "Use {criteria}." in user
    assert build_messages("f(x) = {x}", "{}")[1]["content"].endswith("### Answer\n{}")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_echoed_prompt_parses_as_nothing(language):
    system, user = system_and_user(language=language, reference=REFERENCE)
    judgment = parse_judgment(system + "\n" + user)
    assert (judgment.score, judgment.status) == (None, "failed")


def test_templates():
    for language in ("en", "zh", "zh-CN", "EN"):
        for with_reference in (False, True):
            template = get_prompt_template(language, with_reference)
            assert template.language == language[:2].lower() and template.with_reference is with_reference
            assert ("{reference}" in template.user) is with_reference
    with pytest.raises(ValueError, match="language"):
        build_messages(QUESTION, ANSWER, language="fr")
    with pytest.raises(TypeError):
        build_messages(QUESTION, None)  # type: ignore[arg-type]


def test_custom_taxonomy_changes_categories_and_scale(tmp_path: Path):
    levels = [
        {"value": v, "name_en": f"Band {v}", "name_zh": f"档位{v}", "description": f"Band {v} text."}
        for v in range(1, 6)
    ]
    data = {
        "name": "house-rules",
        "scale": {"min": 1, "max": 5, "error_below": 4, "levels": levels},
        "categories": [
            {
                "id": "tone",
                "name_en": "Tone",
                "name_zh": "语气",
                "children": [
                    {
                        "id": "too_casual",
                        "name_en": "Too Casual",
                        "name_zh": "过于随意",
                        "definition": "Slang.",
                    },
                    {
                        "id": "too_formal",
                        "name_en": "Too Formal",
                        "name_zh": "过于正式",
                        "definition": "Stiff.",
                    },
                ],
            }
        ],
    }
    path = tmp_path / "house.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    system, _ = system_and_user(taxonomy=str(path))
    assert "- Tone\n  - Too Casual: Slang.\n  - Too Formal: Stiff." in system
    assert "Result Error" not in system and "Reasoning Capability" not in system
    assert "- 5 = Band 5: Band 5 text." in system and "- 0 =" not in system
    assert "below 4" in system and "<one integer from 1 to 5>" in system
    zh, _ = system_and_user(taxonomy=str(path), language="zh")
    assert "过于随意" in zh and "<1 到 5 之间的一个整数>" in zh and "低于 4" in zh
    # The parser reads the same scale: 5/5 is valid here, and an echo is still nothing.
    judgment = parse_judgment("Feedback: Fine.\nMisattribution: None\nScore: 5/5", str(path))
    assert (judgment.score, judgment.misattribution, judgment.status) == (5, [], "ok")
    assert parse_judgment(system, str(path)).status == "failed"


# -- per-row rubrics ------------------------------------------------------------------------------------------
RUBRIC_TEXT = "3: 42 with the carry shown\n2: 42 without the working\n1: any other number\n0: no number"


@pytest.mark.parametrize(
    "rubric",
    [
        RUBRIC_TEXT,
        "Score 3: 42 with the carry shown Score 2: 42 without the working Score 1: any other number Score 0: no number",
        {3: "42 with the carry shown", 2: "42 without the working", 1: "any other number", 0: "no number"},
        '{"0": "no number", "1": "any other number", "2": "42 without the working", "3": "42 with the carry shown"}',
    ],
)
def test_rubric_forms_give_one_block_beside_the_scale(rubric):
    from misattribution.prompts import parse_rubric

    assert list(parse_rubric(rubric)) == [3, 2, 1, 0]
    system, user = system_and_user(reference=REFERENCE, criteria="Exact sums.", rubric=rubric)
    expected = (
        "### Score rubric for this question (what each level of the scale means here)\n"
        "- 3: 42 with the carry shown\n- 2: 42 without the working\n- 1: any other number\n- 0: no number\n\n"
    )
    assert user.startswith("### Evaluation criteria\nExact sums.\n\n" + expected + SECTIONS["en"]["question"])
    assert "Partially correct" in system  # the taxonomy's scale stays; the rubric says what it means here
    assert system == system_and_user(reference=REFERENCE)[0]  # the system message does not change per row
    assert parse_judgment("\n".join([system, user])).status == "failed"  # an echo reads as nothing


def test_no_rubric_leaves_the_prompt_as_it_was():
    assert system_and_user(rubric=None) == system_and_user() == system_and_user(rubric="  ")


@pytest.mark.parametrize(
    ("rubric", "message"),
    [
        (
            "1: bad\n2: meh\n3: ok\n4: good\n5: great",
            r"levels 1, 2, 3, 4, 5 do not match the scale 0-3 \(missing 0; not on the scale 4, 5\)",
        ),
        ("3: a\n2: b\n1: c", r"levels 1, 2, 3 do not match the scale 0-3 \(missing 0\)"),
        ("3: a\n3: b\n1: c\n0: d", "level 3 is described twice"),
        ("3: a\n2:\n1: c\n0: d", "level 2 has no description"),
        ("Great answers get a 3.", "no score levels found"),
        ("Levels. 3: a 2: b 1: c 0: d", "text before the first level"),
        ('{"3": "a", "two": "b"}', "level 'two' is not a whole number"),
        ("{not json", "not a JSON object"),
        (["3: a"], "a rubric is a dict or text, got list"),
    ],
)
def test_bad_rubrics_name_where(rubric, message):
    from misattribution.io.tables import InputError
    from misattribution.prompts import parse_rubric

    with pytest.raises(InputError, match=r"^t\.csv: row 7, field 'rubric': " + message):
        parse_rubric(rubric, where="t.csv: row 7, field 'rubric'")


def test_rubric_levels_follow_a_custom_scale(tmp_path: Path):
    from misattribution.io.tables import InputError
    from misattribution.prompts import parse_rubric

    levels = [{"value": v, "name_en": f"Band {v}", "name_zh": f"档位{v}", "description": "x"} for v in range(1, 6)]
    child = {"id": "too_casual", "name_en": "Too Casual", "name_zh": "过于随意", "definition": "Slang."}
    data = {
        "name": "house-rules",
        "scale": {"min": 1, "max": 5, "error_below": 4, "levels": levels},
        "categories": [{"id": "tone", "name_en": "Tone", "name_zh": "语气", "children": [child]}],
    }
    path = tmp_path / "house.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert list(parse_rubric("1: a 2: b 3: c 4: d 5: e", str(path))) == [5, 4, 3, 2, 1]
    with pytest.raises(InputError, match=r"do not match the scale 1-5 \(missing 4, 5; not on the scale 0\)"):
        parse_rubric(RUBRIC_TEXT, str(path))
