"""The AttriData dataset card: every number computed from the data, rendered from a template.

:func:`card_numbers` counts what the card reports (rows per split, language, score, category and
source; annotator statistics; the agreement study), :func:`render_dataset_card` renders the shipped
template (``templates/dataset_card.md``) into a ``huggingface_hub.DatasetCard`` whose YAML header
carries the Hub metadata, the ``configs`` that point at the Parquet shards and the ``dataset_info``
features. The only numbers not taken from the data are the paper's, in :data:`PAPER_REFERENCE`,
quoted as a reference point.

Example:
    >>> from datasets import Dataset, DatasetDict
    >>> from misattribution.data.schema import attridata_features
    >>> row = dict(id="r1", question="2+2?", answer="4", reference=None, instruction=None, language="en",
    ...            source="math", score=3, misattribution=[], primary=[], feedback="Correct.",
    ...            num_annotators=3, score_agreement=1.0, misattribution_agreement=1.0, adjudicated=False)
    >>> features = attridata_features()
    >>> data = DatasetDict({"train": Dataset.from_list([row], features=features),
    ...                     "test": Dataset.from_list([{**row, "id": "r2"}], features=features)})
    >>> card_numbers(data)["splits"]
    {'train': 1, 'test': 1}
    >>> card = render_dataset_card(data, {"score_kappa": 0.9}, repo_id="me/attridata")
    >>> card.data.size_categories, card.data.language
    (['n<1K'], ['en'])
"""

from __future__ import annotations

import math
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from misattribution.citations import CITATIONS
from misattribution.taxonomy import Taxonomy, available_taxonomies, load_taxonomy

# The paper's figures (Xu et al., 2025), quoted next to ours; never used as data.
PAPER_REFERENCE = {"score_kappa": 0.875, "misattribution_kappa": 0.832, "n_rows": 21702}
TASK_CATEGORIES = ("text-classification", "text-generation")
TAGS = ("llm-as-a-judge", "error-attribution", "evaluation")
DATA_DIR = "data"  # the folder push_to_hub writes the Parquet shards to
_AGREEMENT_COUNTS = ("n_items", "n_annotators", "raters_per_item", "n_items_kappa")
_AGREEMENT_FIGURES = (
    "score_kappa",
    "misattribution_kappa",
    "full_agreement_share",
    "score_full_agreement",
    "misattribution_full_agreement",
)
AGREEMENT_KEYS = (*_AGREEMENT_COUNTS, *_AGREEMENT_FIGURES, "category_kappa")
# The Hub's size buckets: (upper bound, label); a count equal to a bound goes to the next bucket.
_SIZE_BUCKETS = (
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
    (10**10, "1B<n<10B"),
    (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
)
_SPLIT_ORDER = ("train", "validation", "test")

DEFAULT_ANNOTATION_PROCESS = (
    "Human annotators judged each answer against the question, the reference answer when there is one, "
    "and the instruction: they gave a score on the taxonomy's scale, listed the secondary error categories "
    "the answer falls into (none for a correct answer) and wrote a feedback explaining both. The final "
    "score and category set are the annotators' majority; where there was no majority an adjudicator "
    "decided, and the row is marked `adjudicated`. `score_agreement` and `misattribution_agreement` give "
    "the share of a row's annotators who agree with its final label."
)

FIELD_DESCRIPTIONS = {
    "id": "stable row id",
    "question": "the user's question or instruction",
    "answer": "the answer that was judged",
    "reference": "a reference answer, or null",
    "instruction": "evaluation criteria or an extra instruction for the judge, or null",
    "language": "ISO 639-1 code of the row's text",
    "source": "the task or source dataset the row comes from",
    "score": "the final score on the taxonomy's scale",
    "misattribution": "secondary error categories (class labels); empty means no error",
    "primary": "primary categories of `misattribution` (derived)",
    "feedback": "the explanation behind the score and the categories",
    "num_annotators": "how many annotators labelled the row",
    "score_agreement": "share of the row's annotators whose score equals the final score",
    "misattribution_agreement": "share of the row's annotators whose category set equals the final one",
    "adjudicated": "whether an adjudicator's decision replaced the majority",
}


def size_category(n_rows: int) -> str:
    """The Hub's ``size_categories`` bucket for a row count.

    >>> size_category(999), size_category(1000), size_category(21702)
    ('n<1K', '1K<n<10K', '10K<n<100K')
    """
    for bound, label in _SIZE_BUCKETS:
        if n_rows < bound:
            return label
    return "n>1T"


def default_template() -> str:
    """The text of the shipped card template (``misattribution/templates/dataset_card.md``)."""
    return (resources.files("misattribution") / "templates" / "dataset_card.md").read_text(encoding="utf-8")


# -- numbers ----------------------------------------------------------------------------------------
def _ordered_splits(dataset: Any) -> list[str]:
    known = [s for s in _SPLIT_ORDER if s in dataset]
    return known + [s for s in dataset if s not in known]


def _resolve_taxonomy(dataset: Any, taxonomy: Taxonomy | str | None) -> Taxonomy:
    """The taxonomy given, or the shipped one whose ids match the dataset's class labels."""
    first = dataset[next(iter(dataset))]
    names = list(first.features["misattribution"].feature.names)
    if taxonomy is None:
        candidates = [load_taxonomy(name) for name in available_taxonomies()]
        matches = [tax for tax in candidates if tax.secondary_ids == names]
        if not matches:
            raise ValueError(
                "the dataset's misattribution labels match no shipped taxonomy; pass taxonomy= "
                f"(labels: {', '.join(names)})"
            )
        return matches[0]
    tax = load_taxonomy(taxonomy)
    if tax.secondary_ids != names:
        raise ValueError(
            f"the taxonomy {tax.name!r} does not match the dataset's misattribution labels: "
            f"expected {tax.secondary_ids}, found {names}"
        )
    return tax


def _counts(per_split: dict[str, Counter], keys: list[Any], n_rows: int, splits: list[str]) -> dict[Any, dict]:
    """{key: {split: n, ..., "total": n, "share": total / n_rows}} for each key, in order."""
    table = {}
    for key in keys:
        row: dict[str, Any] = {split: per_split[split][key] for split in splits}
        row["total"] = sum(row[split] for split in splits)
        row["share"] = row["total"] / n_rows if n_rows else None
        table[key] = row
    return table


def _clean_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _clean_int(value: Any) -> int | None:
    number = _clean_float(value)
    return int(number) if number is not None and number.is_integer() else None


def normalize_agreement(agreement: dict[str, Any] | None, taxonomy: Taxonomy) -> dict[str, Any] | None:
    """The agreement dict with every key of :data:`AGREEMENT_KEYS`: missing or NaN values become ``None``.

    ``full_agreement_share`` falls back to ``full_agreement`` (the key of
    ``misattribution.data.agreement.agreement_report``). Category keys are mapped to secondary ids
    when the taxonomy knows them (ids or names).

    >>> tax = load_taxonomy()
    >>> normalize_agreement({"score_kappa": 0.8, "category_kappa": {"Typos": 0.5}}, tax)["category_kappa"]
    {'typos': 0.5}
    >>> normalize_agreement(None, tax) is None
    True
    """
    if not agreement:
        return None
    out: dict[str, Any] = {key: _clean_int(agreement.get(key)) for key in _AGREEMENT_COUNTS}
    out.update({key: _clean_float(agreement.get(key)) for key in _AGREEMENT_FIGURES})
    out["full_agreement_share"] = _clean_float(agreement.get("full_agreement_share", agreement.get("full_agreement")))
    raw_categories = agreement.get("category_kappa") or {}
    by_id: dict[str, float | None] = {}
    for key, value in dict(raw_categories).items():
        category = taxonomy.resolve(str(key))
        by_id[category.id if category is not None else str(key)] = _clean_float(value)
    order = {cid: i for i, cid in enumerate(taxonomy.secondary_ids + taxonomy.primary_ids)}
    out["category_kappa"] = dict(sorted(by_id.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    return {key: out[key] for key in AGREEMENT_KEYS}


_TALLIED_COLUMNS = (
    "language",
    "score",
    "misattribution",
    "primary",
    "source",
    "num_annotators",
    "adjudicated",
    "score_agreement",
    "misattribution_agreement",
)


def _tally(part: Any) -> dict[str, Any]:
    """Counters of one split: rows per language, score, category, primary, source; annotator figures."""
    secondary_names = part.features["misattribution"].feature.names
    primary_names = part.features["primary"].feature.names
    columns = part.select_columns(list(_TALLIED_COLUMNS)).to_dict()
    category: Counter = Counter()
    for labels in columns["misattribution"]:
        category.update({secondary_names[i] for i in labels})
    primary: Counter = Counter()
    for labels in columns["primary"]:
        primary.update({primary_names[i] for i in labels})
    return {
        "language": Counter(columns["language"]),
        "score": Counter(columns["score"]),
        "category": category,
        "primary": primary,
        "source": Counter(s if s else "(unknown)" for s in columns["source"]),
        "no_error": Counter({"no error": sum(not labels for labels in columns["misattribution"])}),
        "annotators": Counter(k for k in columns["num_annotators"] if k is not None),
        "adjudicated": sum(bool(a) for a in columns["adjudicated"]),
        "score_agreement": [a for a in columns["score_agreement"] if a is not None],
        "misattribution_agreement": [a for a in columns["misattribution_agreement"] if a is not None],
    }


def card_numbers(
    dataset: Any, agreement: dict[str, Any] | None = None, taxonomy: Taxonomy | str | None = None
) -> dict[str, Any]:
    """Every number the card reports, computed from ``dataset`` (a ``DatasetDict``) and ``agreement``.

    Counts are ``{split: n, ..., "total": n, "share": total / rows}``; a category counts the rows whose
    misattribution contains it (a row can have several). ``paper`` holds :data:`PAPER_REFERENCE`.
    """
    tax = _resolve_taxonomy(dataset, taxonomy)
    splits = _ordered_splits(dataset)
    sizes = {split: len(dataset[split]) for split in splits}
    n_rows = sum(sizes.values())

    tallies = {split: _tally(dataset[split]) for split in splits}
    language, score, category, primary, source, no_error = (
        {split: tallies[split][name] for split in splits}
        for name in ("language", "score", "category", "primary", "source", "no_error")
    )
    annotators = sum((t["annotators"] for t in tallies.values()), Counter())
    adjudicated = sum(t["adjudicated"] for t in tallies.values())
    score_agreement = [a for t in tallies.values() for a in t["score_agreement"]]
    misattribution_agreement = [a for t in tallies.values() for a in t["misattribution_agreement"]]

    by_language = _counts(language, sorted(set().union(*language.values())), n_rows, splits)
    dominant = max(by_language, key=lambda code: (by_language[code]["total"], code), default=None)
    scores = sorted(set(tax.scale.values).union(*score.values()), reverse=True)
    sources = sorted(set().union(*source.values()), key=lambda s: (s == "(unknown)", s))

    by_category = _counts(category, tax.secondary_ids, n_rows, splits)
    ranked = sorted(by_category, key=lambda cid: by_category[cid]["total"])

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    return {
        "n_rows": n_rows,
        "splits": sizes,
        "size_category": size_category(n_rows),
        "languages": list(by_language),
        "by_language": by_language,
        "dominant_language": {
            "language": dominant,
            "share": by_language[dominant]["share"] if dominant else None,
        },
        "by_score": _counts(score, scores, n_rows, splits),
        "by_category": by_category,
        "rarest_category": {"category": ranked[0], **by_category[ranked[0]]},
        "commonest_category": {"category": ranked[-1], **by_category[ranked[-1]]},
        "absent_categories": {split: [c for c in tax.secondary_ids if not by_category[c][split]] for split in splits},
        "by_primary": _counts(primary, tax.primary_ids, n_rows, splits),
        "no_error": _counts(no_error, ["no error"], n_rows, splits)["no error"],
        "by_source": _counts(source, sources, n_rows, splits),
        "annotation": {
            "num_annotators": dict(sorted(annotators.items())),
            "adjudicated": adjudicated,
            "adjudicated_share": adjudicated / n_rows if n_rows else None,
            "mean_score_agreement": mean(score_agreement),
            "mean_misattribution_agreement": mean(misattribution_agreement),
        },
        "taxonomy": {
            "name": tax.name,
            "n_primary": len(tax.primaries),
            "n_secondary": len(tax.secondaries),
            "error_below": tax.scale.error_below,
            "reconstructed": tax.reconstructed,
        },
        "agreement": normalize_agreement(agreement, tax),
        "paper": dict(PAPER_REFERENCE),
    }


# -- formatting -------------------------------------------------------------------------------------
def format_count(n: int | None) -> str:
    """``21702`` -> ``'21,702'``; ``None`` -> ``'n/a'``."""
    return "n/a" if n is None else f"{n:,}"


def format_share(share: float | None) -> str:
    """``0.5`` -> ``'50.0%'``; ``None`` -> ``'n/a'``."""
    return "n/a" if share is None else f"{100 * share:.1f}%"


def format_kappa(kappa: float | None) -> str:
    """``0.87512`` -> ``'0.875'``; ``None`` -> ``'n/a'``."""
    return "n/a" if kappa is None else f"{kappa:.3f}"


def _cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table; ``|`` in cells is escaped and newlines folded.

    >>> print(markdown_table(["a", "b"], [[1, "x|y"]]))
    | a | b |
    | --- | --- |
    | 1 | x\\|y |
    """
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _count_table(label: list[str], counts: dict[Any, dict], splits: list[str], names: Any = None) -> str:
    rows = []
    for key, row in counts.items():
        first = names(key) if names else [key]
        rows.append(
            [*first, *(format_count(row[s]) for s in splits), format_count(row["total"]), format_share(row["share"])]
        )
    return markdown_table([*label, *splits, "total", "% of rows"], rows)


def _taxonomy_tables(tax: Taxonomy, features: Any) -> dict[str, str]:
    return {
        "taxonomy": markdown_table(
            ["primary", "secondary", "English name", "Chinese name", "definition"],
            [[c.primary, c.id, c.name_en, c.name_zh, c.definition] for c in tax.secondaries],
        ),
        "primaries": markdown_table(
            ["primary", "English name", "Chinese name", "definition"],
            [[c.id, c.name_en, c.name_zh, c.definition] for c in tax.primaries],
        ),
        "scale": markdown_table(
            ["score", "English name", "Chinese name", "description"],
            [[lv.value, lv.name_en, lv.name_zh, lv.description] for lv in tax.scale.levels],
        ),
        "fields": markdown_table(
            ["field", "type", "description"],
            [[name, _feature_type(feature), FIELD_DESCRIPTIONS.get(name, "")] for name, feature in features.items()],
        ),
    }


def _count_tables(numbers: dict[str, Any], tax: Taxonomy) -> dict[str, str]:
    splits = list(numbers["splits"])
    by_category = {**numbers["by_category"], "(no error)": numbers["no_error"]}

    def category_names(key: str) -> list[str]:
        return ["", key] if key == "(no error)" else [tax.primary_of(key).id, key]

    def score_name(key: int) -> list[str]:
        return [str(key), tax.scale.level(key).name_en if key in tax.scale else "(off the scale)"]

    return {
        "splits": markdown_table(["split", "rows"], [[s, format_count(n)] for s, n in numbers["splits"].items()]),
        "by_category": _count_table(["primary", "secondary"], by_category, splits, category_names),
        "by_primary": _count_table(
            ["primary", "English name"], numbers["by_primary"], splits, lambda key: [key, tax.get(key).name_en]
        ),
        "by_language": _count_table(["language"], numbers["by_language"], splits),
        "by_score": _count_table(["score", "meaning"], numbers["by_score"], splits, score_name),
        "by_source": _count_table(["source"], numbers["by_source"], splits),
        "annotators": markdown_table(
            ["annotators per row", "rows"],
            [[k, format_count(n)] for k, n in numbers["annotation"]["num_annotators"].items()],
        ),
    }


def _agreement_tables(numbers: dict[str, Any], tax: Taxonomy) -> dict[str, str]:
    agreement, paper = numbers["agreement"], numbers["paper"]
    if not agreement:
        return {}
    measures = [
        ["Fleiss' κ, score", format_kappa(agreement["score_kappa"]), format_kappa(paper["score_kappa"])],
        [
            "Fleiss' κ, misattribution",
            format_kappa(agreement["misattribution_kappa"]),
            format_kappa(paper["misattribution_kappa"]),
        ],
        ["full agreement (share of items)", format_share(agreement["full_agreement_share"]), "n/a"],
    ]
    measures += [
        [label, format_share(agreement[key]), "n/a"]
        for key, label in (
            ("score_full_agreement", "full agreement on the score (share of items)"),
            ("misattribution_full_agreement", "full agreement on the category set (share of items)"),
        )
        if agreement[key] is not None
    ]
    per_category = [
        [key, tax.get(key).name_en if key in tax else "", format_kappa(kappa)]
        for key, kappa in agreement["category_kappa"].items()
    ]
    return {
        "agreement": markdown_table(["measure", "this release", "paper (reference)"], measures),
        "category_kappa": markdown_table(["category", "English name", "Fleiss' κ"], per_category),
    }


def _feature_type(feature: Any) -> str:
    inner = getattr(feature, "feature", None)
    if inner is not None:
        return f"list of {_feature_type(inner)}"
    if type(feature).__name__ == "ClassLabel":
        return "class label"
    return str(getattr(feature, "dtype", type(feature).__name__))


def _category_summary(entry: dict[str, Any]) -> str:
    return f"`{entry['category']}` ({format_count(entry['total'])} rows, {format_share(entry['share'])})"


def _formatted(numbers: dict[str, Any]) -> dict[str, Any]:
    """Preformatted strings for the prose of the template."""
    annotation = numbers["annotation"]
    agreement = numbers["agreement"] or {}
    dominant = numbers["dominant_language"]
    return {
        "n_rows": format_count(numbers["n_rows"]),
        "split_summary": ", ".join(f"{s}: {format_count(n)}" for s, n in numbers["splits"].items()),
        "languages": ", ".join(f"`{code}`" for code in numbers["languages"]),
        "language_shares": ", ".join(
            f"`{code}` {format_share(row['share'])}" for code, row in numbers["by_language"].items()
        ),
        "dominant_language": dominant["language"] or "n/a",
        "dominant_share": format_share(dominant["share"]),
        "no_error_share": format_share(numbers["no_error"]["share"]),
        "rarest": _category_summary(numbers["rarest_category"]),
        "commonest": _category_summary(numbers["commonest_category"]),
        "absent": "; ".join(
            f"`{split}`: " + ", ".join(f"`{cid}`" for cid in ids)
            for split, ids in numbers["absent_categories"].items()
            if ids
        ),
        "n_primary": str(numbers["taxonomy"]["n_primary"]),
        "n_secondary": str(numbers["taxonomy"]["n_secondary"]),
        "adjudicated": format_count(annotation["adjudicated"]),
        "adjudicated_share": format_share(annotation["adjudicated_share"]),
        "mean_score_agreement": format_share(annotation["mean_score_agreement"]),
        "mean_misattribution_agreement": format_share(annotation["mean_misattribution_agreement"]),
        "agreement_items": format_count(agreement.get("n_items")),
        "agreement_annotators": format_count(agreement.get("n_annotators")),
        "kappa_items": format_count(agreement.get("n_items_kappa")),
        "raters_per_item": format_count(agreement.get("raters_per_item")),
        "paper_rows": format_count(numbers["paper"]["n_rows"]),
        "paper_score_kappa": format_kappa(numbers["paper"]["score_kappa"]),
        "paper_misattribution_kappa": format_kappa(numbers["paper"]["misattribution_kappa"]),
        "error_below": str(numbers["taxonomy"]["error_below"]),
    }


# -- the card ---------------------------------------------------------------------------------------
def card_metadata(dataset: Any, numbers: dict[str, Any], *, pretty_name: str, license: str) -> Any:
    """The card's YAML header as ``DatasetCardData``, ``configs`` and ``dataset_info`` included.

    ``configs`` and ``dataset_info`` are written by ``datasets``' own helpers, in the form
    ``push_to_hub`` writes them, so ``load_dataset`` reads them back unchanged.
    """
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    splits = list(numbers["splits"])
    card_data = DatasetCardData(
        language=numbers["languages"],
        license=license,
        multilinguality="multilingual" if len(numbers["languages"]) > 1 else "monolingual",
        size_categories=[numbers["size_category"]],
        task_categories=list(TASK_CATEGORIES),
        tags=list(TAGS),
        pretty_name=pretty_name,
    )
    split_dict = SplitDict()
    for split in splits:
        split_dict.add(SplitInfo(name=split, num_bytes=split_nbytes(dataset[split]), num_examples=len(dataset[split])))
    info = DatasetInfo(
        features=dataset[splits[0]].features,
        splits=split_dict,
        dataset_size=sum(split_info.num_bytes for split_info in split_dict.values()),
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    data_files = [{"split": split, "path": f"{DATA_DIR}/{split}-*"} for split in splits]
    MetadataConfigs({"default": {"data_files": data_files}}).to_dataset_card_data(card_data)
    return card_data


def split_nbytes(part: Any) -> int:
    """The in-memory size ``push_to_hub`` records for a split (and shards by)."""
    estimate = getattr(part, "_estimate_nbytes", None)  # private in datasets; fall back to the table size
    return int(estimate() if estimate is not None else part.data.nbytes)


def render_dataset_card(
    dataset: Any,
    agreement: dict[str, Any] | None,
    *,
    taxonomy: Taxonomy | str | None = None,
    repo_id: str,
    pretty_name: str = "AttriData",
    license: str = "cc-by-4.0",
    template_path: str | Path | None = None,
    annotation_process: str | None = None,
) -> Any:
    """Render the AttriData card for ``dataset`` (a ``DatasetDict``) as a ``huggingface_hub.DatasetCard``.

    ``agreement`` is the builder's agreement dict (``n_items``, ``n_annotators``, ``score_kappa``,
    ``misattribution_kappa``, ``category_kappa``, ``full_agreement_share``; missing keys show as
    "n/a", ``None`` leaves the agreement section empty). ``taxonomy`` defaults to the shipped one
    whose ids match the dataset's labels. ``template_path`` replaces the shipped template; it sees
    the same variables (``numbers``, ``f``, ``tables``, ``taxonomy``, ``repo_id``, ...).
    ``annotation_process`` replaces the default prose of the annotation section.
    """
    from huggingface_hub import DatasetCard

    if not dataset or any(len(dataset[split]) == 0 for split in dataset):
        raise ValueError("the dataset has an empty split; a card needs rows in every split")
    tax = _resolve_taxonomy(dataset, taxonomy)
    numbers = card_numbers(dataset, agreement, tax)
    card_data = card_metadata(dataset, numbers, pretty_name=pretty_name, license=license)
    features = dataset[next(iter(numbers["splits"]))].features
    tables = {**_taxonomy_tables(tax, features), **_count_tables(numbers, tax), **_agreement_tables(numbers, tax)}
    template_str = None if template_path is not None else default_template()
    card = DatasetCard.from_template(
        card_data,
        template_path=str(template_path) if template_path is not None else None,
        template_str=template_str,
        pretty_name=pretty_name,
        repo_id=repo_id,
        license=license,
        numbers=numbers,
        f=_formatted(numbers),
        tables=tables,
        taxonomy=tax,
        annotation_process=(annotation_process or DEFAULT_ANNOTATION_PROCESS).strip(),
        citations=CITATIONS,
    )
    # from_template only warns when the YAML block is not found (e.g. whitespace control in the
    # template glued the closing "---" to the next line): the card would silently lose its metadata.
    if card.data.get("configs") != card_data.get("configs"):
        raise ValueError(
            "the rendered card has no YAML metadata block: the template must start with "
            "'---', '{{ card_data }}', '---' on lines of their own"
        )
    return card
