"""The AttriData dataset card: metadata, round trips, and every number checked against the data."""

from __future__ import annotations

import re

import pytest
from attridata_small import AGREEMENT, REPO_ID, build_attridata
from datasets import DatasetDict
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard

from misattribution import load_taxonomy
from misattribution.cards import (
    CITATIONS,
    FIELD_DESCRIPTIONS,
    PAPER_REFERENCE,
    card_numbers,
    default_template,
    format_count,
    format_kappa,
    format_share,
    render_dataset_card,
    size_category,
)
from misattribution.data.schema import attridata_features


@pytest.fixture(scope="module")
def attridata() -> DatasetDict:
    return build_attridata()


@pytest.fixture(scope="module")
def card(attridata):
    return render_dataset_card(attridata, AGREEMENT, repo_id=REPO_ID)


# -- helpers: read the rendered Markdown back -------------------------------------------------------
def section(text: str, heading: str) -> str:
    """The body under a Markdown heading, up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, flags=re.M)
    assert match, f"no heading {heading!r}"
    level = len(match[1])
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.M)
    return rest[: end.start()] if end else rest


def tables(text: str, heading: str) -> list[list[dict[str, str]]]:
    """Every Markdown table under ``heading``, each as a list of dicts keyed by its header."""

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]

    blocks = re.findall(r"(?:^\|.*\n?)+", section(text, heading), flags=re.M)
    out = []
    for block in blocks:
        lines = block.strip().splitlines()
        header = cells(lines[0])
        out.append([dict(zip(header, cells(line), strict=True)) for line in lines[2:]])
    return out


def table(text: str, heading: str) -> list[dict[str, str]]:
    """The first Markdown table under ``heading``."""
    found = tables(text, heading)
    assert found, f"no table under {heading!r}"
    return found[0]


def count(cell: str) -> int:
    return int(cell.replace(",", ""))


def share(cell: str) -> float:
    assert cell.endswith("%"), cell
    return float(cell[:-1])


def assert_count_row(row: dict[str, str], expected: dict, splits: list[str]) -> None:
    for split in splits:
        assert count(row[split]) == expected[split], (row, split)
    assert count(row["total"]) == expected["total"]
    assert share(row["% of rows"]) == round(100 * expected["share"], 1)


# -- metadata ---------------------------------------------------------------------------------------
def test_card_parses_back_with_its_metadata(card, attridata, tmp_path):
    path = tmp_path / "README.md"
    card.save(path)
    loaded = DatasetCard.load(path)
    numbers = card_numbers(attridata, AGREEMENT)
    data = loaded.data
    assert data.license == "cc-by-4.0"
    assert data.language == numbers["languages"] == ["en", "zh"]
    assert data.size_categories == [numbers["size_category"]] == ["n<1K"]
    assert data.multilinguality == "multilingual"
    assert data.pretty_name == "AttriData"
    assert set(data.tags) == {"llm-as-a-judge", "error-attribution", "evaluation"}
    assert set(data.task_categories) == {"text-classification", "text-generation"}
    assert data.configs == [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": "data/train-*"}, {"split": "test", "path": "data/test-*"}],
        }
    ]
    assert loaded.text == card.text


def test_features_round_trip_through_the_yaml(card, attridata, tmp_path):
    path = tmp_path / "README.md"
    card.save(path)
    info = DatasetInfosDict.from_dataset_card_data(DatasetCard.load(path).data)["default"]
    assert info.features == attridata["train"].features == attridata_features()
    assert {name: split.num_examples for name, split in info.splits.items()} == {"train": 8, "test": 4}


@pytest.mark.parametrize(
    ("rows", "bucket"),
    [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (21702, "10K<n<100K"), (10**6, "1M<n<10M"), (10**12, "n>1T")],
)
def test_size_category_uses_the_hub_buckets(rows, bucket):
    assert size_category(rows) == bucket


# -- every number equals card_numbers --------------------------------------------------------------
@pytest.fixture(
    scope="module",
    params=["full", "english-only", "misattributionllm-2024"],
)
def rendered(request):
    """(dataset, card text, numbers) for three datasets, so no number can be right by accident."""
    if request.param == "full":
        data = build_attridata()
    elif request.param == "english-only":
        data = DatasetDict({s: d.filter(lambda row: row["language"] == "en") for s, d in build_attridata().items()})
    else:
        data = build_attridata("misattributionllm-2024")
    card = render_dataset_card(data, AGREEMENT, repo_id=REPO_ID)
    return data, card.text, card_numbers(data, AGREEMENT)


def test_count_tables_equal_card_numbers(rendered):
    data, text, numbers = rendered
    splits = list(numbers["splits"])
    assert {row["split"]: count(row["rows"]) for row in table(text, "Splits")} == numbers["splits"]

    by_category = {row["secondary"]: row for row in table(text, "Rows per category and split")}
    assert list(by_category) == [*numbers["by_category"], "(no error)"]
    for key, expected in numbers["by_category"].items():
        assert_count_row(by_category[key], expected, splits)
    assert_count_row(by_category["(no error)"], numbers["no_error"], splits)

    for heading, key, column in [
        ("Rows per primary category and split", "by_primary", "primary"),
        ("Rows per language and split", "by_language", "language"),
        ("Score distribution per split", "by_score", "score"),
        ("Rows per source and split", "by_source", "source"),
    ]:
        rows = {row[column]: row for row in table(text, heading)}
        assert list(rows) == [str(k) for k in numbers[key]], heading
        for value, expected in numbers[key].items():
            assert_count_row(rows[str(value)], expected, splits)

    annotators = {count(row["annotators per row"]): count(row["rows"]) for row in table(text, "Process")}
    assert annotators == numbers["annotation"]["num_annotators"]


def test_counts_are_right_for_the_hand_written_rows():
    numbers = card_numbers(build_attridata(), AGREEMENT)
    assert numbers["n_rows"] == 12 and numbers["splits"] == {"train": 8, "test": 4}
    assert numbers["by_language"]["zh"] == {"train": 5, "test": 3, "total": 8, "share": 8 / 12}
    assert numbers["by_category"]["result_error"] == {"train": 1, "test": 1, "total": 2, "share": 2 / 12}
    assert numbers["by_category"]["irrelevance"]["total"] == 2
    assert numbers["by_primary"]["reasoning_capability"] == {"train": 2, "test": 1, "total": 3, "share": 3 / 12}
    assert numbers["no_error"] == {"train": 2, "test": 1, "total": 3, "share": 3 / 12}
    assert numbers["by_score"][1] == {"train": 3, "test": 1, "total": 4, "share": 4 / 12}
    assert numbers["by_source"]["(unknown)"]["total"] == 1
    assert numbers["annotation"]["num_annotators"] == {3: 10, 5: 2}
    assert numbers["annotation"]["adjudicated"] == 2
    assert numbers["dominant_language"] == {"language": "zh", "share": 8 / 12}


def test_taxonomy_and_agreement_tables(rendered):
    data, text, numbers = rendered
    tax = load_taxonomy(numbers["taxonomy"]["name"])
    rows = table(text, "Secondary categories")
    assert [(r["primary"], r["secondary"], r["English name"], r["Chinese name"]) for r in rows] == [
        (c.primary, c.id, c.name_en, c.name_zh) for c in tax.secondaries
    ]
    assert [r["definition"] for r in rows] == [" ".join(c.definition.split()) for c in tax.secondaries]

    agreement = numbers["agreement"]
    measures = {row["measure"]: row for row in table(text, "Agreement")}
    assert measures["Fleiss' κ, score"]["this release"] == format_kappa(agreement["score_kappa"]) == "0.812"
    assert measures["Fleiss' κ, score"]["paper (reference)"] == "0.875"
    assert measures["Fleiss' κ, misattribution"]["this release"] == "0.747"
    assert measures["Fleiss' κ, misattribution"]["paper (reference)"] == "0.832"
    assert share(measures["full agreement (share of items)"]["this release"]) == 62.5
    kappas = {row["category"]: row["Fleiss' κ"] for row in tables(text, "Agreement")[1]}
    assert kappas == {key: format_kappa(value) for key, value in agreement["category_kappa"].items()}
    if "typos" in tax:
        assert kappas["typos"] == "0.550" and kappas["hallucination"] == "n/a"


def test_prose_numbers_come_from_the_data(rendered):
    data, text, numbers = rendered
    f_rows = format_count(numbers["n_rows"])
    assert f"**{f_rows} rows** (train: {numbers['splits']['train']}, test: {numbers['splits']['test']})" in text
    limitations = " ".join(section(text, "Limitations").split())
    dominant = numbers["dominant_language"]
    assert f"the largest is `{dominant['language']}` ({format_share(dominant['share'])})" in limitations
    for which in ("rarest", "commonest"):
        entry = numbers[f"{which}_category"]
        assert entry["total"] == min(r["total"] for r in numbers["by_category"].values()) or which == "commonest"
        assert f"`{entry['category']}` ({format_count(entry['total'])} rows, {format_share(entry['share'])})" in (
            limitations
        )
    absent_test = numbers["absent_categories"]["test"]
    assert absent_test == [cid for cid, row in numbers["by_category"].items() if row["test"] == 0]
    assert "`test`: " + ", ".join(f"`{cid}`" for cid in absent_test) in limitations
    for code, row in numbers["by_language"].items():
        assert f"`{code}` {format_share(row['share'])}" in limitations
    assert f"This release has {f_rows} rows, a sample" in limitations
    assert "not the paper's full dataset of 21,702 rows" in limitations
    process = " ".join(section(text, "Process").split())
    annotation = numbers["annotation"]
    assert f"adjudicated rows {annotation['adjudicated']} ({format_share(annotation['adjudicated_share'])})" in process
    assert format_share(annotation["mean_score_agreement"]) in process
    agreement = " ".join(section(text, "Agreement").split())
    assert "measured on 40 items and 3 annotators" in agreement
    assert f'ds = load_dataset("{REPO_ID}")' in text


def _allowed_numbers(value) -> set[str]:
    """Every way the card may print a number of card_numbers."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            out |= _allowed_numbers(key) | _allowed_numbers(inner)
    elif isinstance(value, list):
        for inner in value:
            out |= _allowed_numbers(inner)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        pass
    elif isinstance(value, int):
        out |= {str(value), format_count(value)}
    elif isinstance(value, float):
        out |= {format_share(value)[:-1], format_kappa(value)}
    return out


_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")


def _numbers_in(text: str) -> set[str]:
    return {m.rstrip(",.") for m in _NUMBER.findall(text)}


def test_every_number_in_the_card_comes_from_the_data(rendered):
    data, text, numbers = rendered
    tax = load_taxonomy(numbers["taxonomy"]["name"])
    quoted = " ".join([*CITATIONS, *FIELD_DESCRIPTIONS.values(), tax.description, tax.version, REPO_ID, "cc-by-4.0"])
    quoted += " " + " ".join(c.definition for c in (*tax.primaries, *tax.secondaries))
    quoted += " " + " ".join(lv.description for lv in tax.scale.levels)
    allowed = _allowed_numbers(numbers) | _numbers_in(quoted)
    body = section(text, "Statistics") + section(text, "Annotation") + section(text, "Limitations")
    assert _numbers_in(body), "the scan found no numbers at all"
    assert _numbers_in(text) - allowed == set()
    assert _numbers_in(body) - _allowed_numbers(numbers) - _numbers_in(quoted) == set()


def test_the_template_writes_no_number_itself():
    template = re.sub(r"\{#.*?#\}", "", default_template(), flags=re.S)
    assert _numbers_in(template) == set()  # "F1" and "int2str" are names, not numbers
    assert PAPER_REFERENCE == {"score_kappa": 0.875, "misattribution_kappa": 0.832, "n_rows": 21702}


# -- agreement and options --------------------------------------------------------------------------
@pytest.mark.parametrize("agreement", [None, {}])
def test_card_without_an_agreement_study(attridata, agreement):
    card = render_dataset_card(attridata, agreement, repo_id=REPO_ID)
    body = " ".join(section(card.text, "Agreement").split())
    assert "No agreement study was supplied" in body
    assert "κ = 0.875 for the score and κ = 0.832" in body
    assert card_numbers(attridata, agreement)["agreement"] is None


def test_partial_agreement_shows_missing_values_as_na(attridata):
    card = render_dataset_card(attridata, {"score_kappa": 0.7}, repo_id=REPO_ID)
    measures = {row["measure"]: row["this release"] for row in table(card.text, "Agreement")}
    assert measures == {
        "Fleiss' κ, score": "0.700",
        "Fleiss' κ, misattribution": "n/a",
        "full agreement (share of items)": "n/a",
    }
    assert "measured on n/a items" in " ".join(card.text.split())
    assert "Per-category agreement" not in card.text


def test_the_agreement_report_of_the_builder_fits(attridata):
    """The shape of misattribution.data.agreement.agreement_report: full_agreement, raters_per_item, Nones."""
    report = {
        "taxonomy": "attridata-v1",
        "n_items": 30,
        "n_annotators": 4,
        "n_annotations": 90,
        "annotators": ["a", "b", "c", "d"],
        "raters_per_item": 3,
        "n_items_kappa": 28,
        "score_kappa": 0.7012,
        "misattribution_kappa": 0.655,
        "misattribution_set_kappa": 0.6,
        "error_kappa": 0.8,
        "category_kappa": {cid: (0.5 if cid == "typos" else None) for cid in load_taxonomy().secondary_ids},
        "category_support": {},
        "score_full_agreement": 0.75,
        "misattribution_full_agreement": 0.6,
        "full_agreement": 0.5,
    }
    card = render_dataset_card(attridata, report, repo_id=REPO_ID)
    numbers = card_numbers(attridata, report)["agreement"]
    assert numbers["full_agreement_share"] == 0.5 and numbers["raters_per_item"] == 3
    measures = {row["measure"]: row["this release"] for row in table(card.text, "Agreement")}
    assert measures["full agreement (share of items)"] == "50.0%"
    assert measures["full agreement on the score (share of items)"] == "75.0%"
    assert measures["full agreement on the category set (share of items)"] == "60.0%"
    kappas = {row["category"]: row["Fleiss' κ"] for row in tables(card.text, "Agreement")[1]}
    assert kappas["typos"] == "0.500" and kappas["noisy"] == "n/a" and len(kappas) == 15
    prose = " ".join(section(card.text, "Agreement").split())
    assert "measured on 30 items and 4 annotators. The κ use the 28 items rated by 3 annotators each" in prose


def test_options_and_custom_template(attridata, tmp_path):
    template = tmp_path / "card.md"
    template.write_text(
        "---\n{{ card_data }}\n---\n\n# {{ pretty_name }} ({{ f.n_rows }} rows)\n\n{{ annotation_process }}\n"
    )
    card = render_dataset_card(
        attridata,
        AGREEMENT,
        repo_id=REPO_ID,
        pretty_name="AttriData sample",
        license="mit",
        template_path=template,
        annotation_process="Two linguists labelled every row.",
    )
    assert card.data.license == "mit" and card.data.pretty_name == "AttriData sample"
    assert card.text.strip() == "# AttriData sample (12 rows)\n\nTwo linguists labelled every row."


def test_a_template_that_loses_the_yaml_block_is_refused(attridata, tmp_path):
    template = tmp_path / "card.md"
    template.write_text("---\n{{ card_data }}\n---\n{#- glues the closing dashes to the title -#}\n# Title\n")
    with pytest.raises(ValueError, match="no YAML metadata block"):
        render_dataset_card(attridata, AGREEMENT, repo_id=REPO_ID, template_path=template)


def test_a_taxonomy_that_does_not_match_the_labels_is_refused(attridata):
    with pytest.raises(ValueError, match="does not match"):
        render_dataset_card(attridata, AGREEMENT, repo_id=REPO_ID, taxonomy="misattributionllm-2024")
