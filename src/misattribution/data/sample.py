"""The AttriData sample shipped with the package, built from its annotator exports by the real builder.

``sample/rows_*.jsonl`` hold hand-written rows (English and Chinese), each with its three annotations
and, for disputed items, an adjudication. ``scripts/make_sample_exports.py`` derives from them the raw
inputs an annotation project would produce (``sample/exports/``):

* ``items.jsonl`` -- the item columns;
* ``ann_a.csv`` -- "a;b" English display names, no ``annotator`` column (the file stem is the annotator);
* ``ann_b.jsonl`` and ``ann_c.parquet`` -- lists of category ids, with an ``annotator`` column;
* ``adjudication.csv`` -- the adjudicated items, category names in the row's language.

:func:`load_sample` runs :func:`~misattribution.data.build.build_attridata` on these files, so loading
the sample exercises every reader, the aggregation, the validation and the split.

Example:
    >>> from misattribution.data import attridata_features
    >>> sample = load_sample()
    >>> sorted(sample)
    ['test', 'train']
    >>> sample["train"].features == attridata_features()
    True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from misattribution.data.build import PAPER_TEST_SIZE, BuildResult, build_attridata
from misattribution.taxonomy import Taxonomy

__all__ = ["SAMPLE_EXPORTS", "build_sample", "load_sample", "sample_paths"]

#: The export files, in the order the builder takes them.
SAMPLE_EXPORTS = ("items.jsonl", "ann_a.csv", "ann_b.jsonl", "ann_c.parquet", "adjudication.csv")


def _exports_dir() -> Path:
    return Path(str(resources.files("misattribution") / "data" / "sample_data" / "exports"))


def sample_paths() -> dict[str, Any]:
    """The shipped export files, keyed by :func:`~misattribution.data.build.build_attridata`'s arguments.

    >>> paths = sample_paths()
    >>> [p.name for p in paths["annotation_paths"]]
    ['ann_a.csv', 'ann_b.jsonl', 'ann_c.parquet']
    """
    folder = _exports_dir()
    missing = [name for name in SAMPLE_EXPORTS if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: the sample exports {missing} are missing; run scripts/make_sample_exports.py "
            "(or reinstall the package if it was installed without its data files)"
        )
    return {
        "items": folder / "items.jsonl",
        "annotation_paths": [folder / "ann_a.csv", folder / "ann_b.jsonl", folder / "ann_c.parquet"],
        "adjudication": folder / "adjudication.csv",
    }


def build_sample(
    taxonomy: Taxonomy | str | None = None, *, test_size: float = PAPER_TEST_SIZE, seed: int = 0, **kwargs: Any
) -> BuildResult:
    """Build the sample (dataset, agreement report, validation, counts); ``kwargs`` go to the builder."""
    return build_attridata(**sample_paths(), taxonomy=taxonomy, test_size=test_size, seed=seed, **kwargs)


def load_sample(taxonomy: Taxonomy | str | None = None) -> Any:
    """The sample as a ``datasets.DatasetDict`` (``train`` / ``test``) with ``attridata_features(taxonomy)``.

    The rows are labelled with the ``attridata-v1`` categories: another taxonomy must know their names.
    """
    return build_sample(taxonomy).dataset
