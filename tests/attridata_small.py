"""A small hand-written AttriData DatasetDict and agreement study, shared by the card and publish tests."""

from __future__ import annotations

from datasets import Dataset, DatasetDict

from misattribution import load_taxonomy
from misattribution.data.schema import attridata_features

REPO_ID = "test-org/attridata-sample"
AGREEMENT = {
    "n_items": 40,
    "n_annotators": 3,
    "score_kappa": 0.8123,
    "misattribution_kappa": 0.7468,
    "category_kappa": {"result_error": 0.91, "Typos": 0.55, "hallucination": float("nan")},
    "full_agreement_share": 0.625,
}
# (split, language, source, score, category indexes, annotators, adjudicated)
_ROWS = [
    ("train", "en", "math", 3, [], 3, False),
    ("train", "en", "math", 1, [10, 11], 3, False),
    ("train", "zh", "math", 2, [10], 3, True),
    ("train", "zh", "qa", 1, [8], 5, False),
    ("train", "zh", "qa", 0, [14], 3, False),
    ("train", "zh", "writing", 2, [0, 1], 3, False),
    ("train", "en", "writing", 3, [], 3, False),
    ("train", "zh", None, 1, [5], 3, True),
    ("test", "en", "math", 1, [11], 3, False),
    ("test", "zh", "qa", 3, [], 3, False),
    ("test", "zh", "qa", 2, [6], 5, False),
    ("test", "zh", "writing", 0, [2, 14], 3, False),
]


def build_attridata(taxonomy: str = "attridata-v1") -> DatasetDict:
    """A dozen hand-written AttriData rows (en + zh), split 8 / 4, with the schema's features."""
    tax = load_taxonomy(taxonomy)
    features = attridata_features(tax)
    splits: dict[str, list[dict]] = {"train": [], "test": []}
    for i, (split, language, source, score, indexes, annotators, adjudicated) in enumerate(_ROWS):
        labels = [tax.secondary_ids[k % len(tax.secondaries)] for k in indexes]
        labels = tax.normalize_labels(labels)
        splits[split].append(
            {
                "id": f"row-{i:03d}",
                "question": "2 + 2 = ?" if language == "en" else "二加二等于几？",
                "answer": f"answer {i}" if language == "en" else f"回答 {i}",
                "reference": "4" if i % 2 else None,
                "instruction": None if i % 3 else "Answer briefly.",
                "language": language,
                "source": source,
                "score": score,
                "misattribution": labels,
                "primary": tax.primaries_of(labels),
                "feedback": "Looks right." if not labels else f"Problems: {', '.join(labels)}.",
                "num_annotators": annotators,
                "score_agreement": 2 / 3 if adjudicated else 1.0,
                "misattribution_agreement": 1 / 3 if adjudicated else 1.0,
                "adjudicated": adjudicated,
            }
        )
    return DatasetDict({name: Dataset.from_list(rows, features=features) for name, rows in splits.items()})
