"""The ``"clusters"`` mode: the failing rows' critical feedback sentences, embedded and clustered; no LLM.

The implementation is :func:`misattribution.discovery.pipeline.discover_clusters` (its steps are in the
pipeline's docstring); this module declares its options, the fields of
:class:`~misattribution.discovery.pipeline.ClusterSettings` that :func:`~.pipeline.discover` does not take
as its own arguments (``embedding_model``, ``seed``, ``min_issues``, ``max_issues``, ``fast``, ``progress``
and ``devices`` are those of ``discover`` and of every ``misattribution discover`` run)::

    discover(rows, mode="clusters", mode_options={"clusters": {"merge_threshold": 0.75}})
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from misattribution.discovery.modes._base import ModeOption, ModeResult, register_mode
from misattribution.discovery.pipeline import ClusterSettings, discover_clusters

_DEFAULTS = ClusterSettings()

OPTIONS = (
    ModeOption("merge_threshold", float, _DEFAULTS.merge_threshold, "centroid cosine above which two issues merge"),
    ModeOption(
        "outlier_similarity",
        float,
        _DEFAULTS.outlier_similarity,
        "a sentence left out by HDBSCAN joins its nearest issue above this similarity",
    ),
    ModeOption("min_rows", int, _DEFAULTS.min_rows, "rows an issue needs (default: max(3, 0.5% of the failing rows))"),
    ModeOption(
        "criticality_threshold", float, _DEFAULTS.criticality_threshold, "log-odds above which a sentence is critical"
    ),
    ModeOption(
        "row_reach",
        float,
        _DEFAULTS.row_reach,
        "a clearly failing row (normalised score <= 0.75) with no critical sentence counts its most critical one "
        "within this of the threshold (0: off)",
    ),
    ModeOption(
        "linkage_distance",
        float,
        _DEFAULTS.linkage_distance,
        "the default clusterer's cut (cosine distance): lower gives more, finer issues",
    ),
    ModeOption("choose_k", bool, _DEFAULTS.choose_k, "the fast path picks its cluster count by silhouette"),
    ModeOption("mask_question", bool, _DEFAULTS.mask_question, "mask the row's question words before embedding"),
    ModeOption("core_clause", bool, _DEFAULTS.core_clause, "embed a sentence without its trailing consequence"),
    ModeOption("by_language", bool, _DEFAULTS.by_language, "cluster each language on its own"),
    ModeOption(
        "characters",
        bool,
        _DEFAULTS.characters,
        "with by_language, embed Chinese sentences by their character n-grams, not by the encoder",
    ),
    ModeOption(
        "lexical_weight",
        float,
        _DEFAULTS.lexical_weight,
        "share of a sentence's similarity from its wording (character n-grams; default: 0.5 with a sentence "
        "encoder and the default clusterer, 0 with the static embedder or --fast/--no-fast; 0: off)",
    ),
    ModeOption(
        "max_embedded",
        int,
        _DEFAULTS.max_embedded,
        "distinct sentences embedded at most, the others classified ('none': embed all)",
    ),
    ModeOption("batch_size", int, _DEFAULTS.batch_size, "sentences per encoder batch"),
    ModeOption(
        "contrast",
        bool,
        _DEFAULTS.contrast,
        "drop issues at least as common among passing rows as among failing ones (--no-contrast keeps them)",
    ),
)


def clusters_mode(rows: pd.DataFrame, **options: Any) -> ModeResult:
    """Cluster the critical sentences of the failing rows (see :func:`~.pipeline.discover_clusters`)."""
    settings = ClusterSettings(**options)
    settings.check()
    return ModeResult(*discover_clusters(rows, settings))


register_mode(
    "clusters",
    clusters_mode,
    options=OPTIONS,
    help="the failing rows' critical feedback sentences, embedded and clustered; no LLM (the default)",
    requires=("sklearn",),  # the embedder's package is checked when it loads (MiniLM: extra minilm; static: none)
)
