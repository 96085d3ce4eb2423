"""The issue tree: primary category → secondary category → discovered issues → rows.

A report's issues are the leaves. :func:`attach_to_taxonomy` gives every leaf a parent among the
taxonomy's secondary categories (the paper's two levels; a user's own taxonomy YAML gives its own
tree), by two kinds of evidence, tried in order:

1. **the judge's misattribution**, when the rows carry one (AttriData rows, our judge's output): the
   secondary category most of the leaf's labelled rows carry, if at least ``min_label_share`` of them
   do;
2. **the feedback**, otherwise: each evidence sentence of the leaf is compared with every category's
   name and definition (sentence embeddings) and maps to its most similar category when it passes that
   category's *calibrated* threshold, read off the passing rows as in the static mode
   (:mod:`misattribution.discovery.modes.static`): the ``1 - fpr`` quantile of the passing rows'
   critical sentences' similarity, never below ``min_similarity``. The leaf goes under the category
   most of its mapped sentences map to, when at least ``min_support`` of its sentences map at all and
   the mean similarity of all its sentences to that category is at least ``min_mean_similarity`` (a
   few sentences that happen to pass do not make a leaf about the category).

A leaf that neither gives a category sits under :data:`UNATTRIBUTED`. A row sits under every leaf
one of its sentences falls in, and so possibly under several categories. Category nodes hold no rows
of their own: a node's rows are the union of its leaves' rows, and its statistics
(:func:`misattribution.discovery.report.membership_statistics`) are computed from them, so a filter
on a node selects exactly the rows its statistics describe.

Example (needs the encoder)::

    nodes, parents, meta = attach_to_taxonomy(rows, issues, assignments, "attridata-v1")
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

#: The node under which leaves with no category sit.
UNATTRIBUTED = "unattributed"
LEVELS = ("primary", "secondary", "unattributed", "issue")
_MAX_SENTENCES_PER_LEAF = 40
_MAX_NULL_SENTENCES = 1000


@dataclass
class TreeNode:
    """A category node of the issue tree (the leaves are the report's :class:`~.report.Issue` objects).

    Attributes:
        id: ``"category:<taxonomy id>"`` or :data:`UNATTRIBUTED`.
        name: the category's display name.
        level: ``"primary"``, ``"secondary"`` or ``"unattributed"``.
        parent: the parent node's id (``None`` for a primary category and for ``unattributed``).
        category: the taxonomy id (``None`` for ``unattributed``).
        description: the category's definition.
    """

    id: str
    name: str
    level: str
    parent: str | None = None
    category: str | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def category_node_id(category_id: str) -> str:
    """The node id of a taxonomy category.

    >>> category_node_id("calculation_error")
    'category:calculation_error'
    """
    return f"category:{category_id}"


def attach_to_taxonomy(
    rows: pd.DataFrame,
    issues: Sequence[Any],
    assignments: pd.DataFrame,
    taxonomy: Any = None,
    *,
    encoder: Any | None = None,
    language: str = "en",
    fpr: float = 0.05,
    min_similarity: float = 0.35,
    min_support: float = 0.3,
    min_mean_similarity: float = 0.4,
    min_label_share: float = 0.4,
    seed: int = 0,
) -> tuple[list[TreeNode], dict[str, str], dict[str, Any]]:
    """A parent category for every leaf issue (see the module docstring).

    Args:
        rows: IssueReport rows (``row_id``, ``failing``, ``feedback``; ``misattribution`` when labelled).
        issues: the leaves (objects with ``id``).
        assignments: ``row_id, issue_id, evidence`` (evidence: the leaf's sentences, one per line).
        taxonomy: a :class:`~misattribution.taxonomy.Taxonomy`, a shipped name or a YAML path
            (default: the default taxonomy).
        encoder: sentence-transformers model for the feedback route (loaded only when needed).
        language: which category names and definitions to use.
        fpr, min_similarity: the calibration of the feedback route (share of passing rows let through
            per category, and the floor of every threshold).
        min_support: least share of a leaf's sentences that must map to some category.
        min_mean_similarity: least mean similarity of a leaf's sentences to its category.
        min_label_share: least share of a leaf's labelled rows that must carry its category.
        seed: seeds the sample of passing rows' sentences used for calibration.

    Returns:
        ``(nodes, parents, meta)``: the category nodes in taxonomy order (only those holding a leaf,
        each secondary preceded by its primary; ``unattributed`` last), ``parents`` (leaf id → node id)
        and ``meta`` (taxonomy, per-leaf method and support, thresholds).
    """
    from misattribution.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(taxonomy)
    assignments = assignments.astype({"row_id": str})
    parents: dict[str, str] = {}
    how: dict[str, dict[str, Any]] = {}

    labels = _row_labels(rows, taxonomy)
    if labels is not None:
        for issue in issues:
            member_rows = assignments.loc[assignments["issue_id"] == issue.id, "row_id"]
            found = [c for r in member_rows.unique() for c in labels.get(r, ())]
            n_labelled = sum(1 for r in member_rows.unique() if labels.get(r))
            if not n_labelled:
                continue
            category, count = Counter(found).most_common(1)[0]
            if count / n_labelled >= min_label_share:
                parents[issue.id] = category_node_id(category)
                how[issue.id] = {"method": "judge labels", "support": round(count / n_labelled, 3)}

    rest = [i for i in issues if i.id not in parents]
    thresholds: dict[str, float] = {}
    if rest:
        sentences = {i.id: _leaf_sentences(assignments, i.id) for i in rest}
        if any(sentences.values()):
            mapped, thresholds = _map_sentences(rows, sentences, taxonomy, encoder, language, fpr, min_similarity, seed)
            for issue in rest:
                votes, mean_similarity = mapped.get(issue.id, ([], {}))
                n = len(sentences[issue.id])
                hits = [v for v in votes if v is not None]
                if n and hits and len(hits) / n >= min_support:
                    category, count = Counter(hits).most_common(1)[0]
                    if mean_similarity[category] >= min_mean_similarity:
                        parents[issue.id] = category_node_id(category)
                        how[issue.id] = {
                            "method": "feedback",
                            "support": round(count / n, 3),
                            "mean_similarity": round(mean_similarity[category], 3),
                        }
    for issue in issues:
        if issue.id not in parents:
            parents[issue.id] = UNATTRIBUTED
            how[issue.id] = {"method": "none", "support": 0.0}

    nodes = _nodes(taxonomy, set(parents.values()), language)
    meta = {
        "taxonomy": taxonomy.name,
        "language": language,
        "leaves": how,
        "thresholds": {k: round(v, 4) for k, v in thresholds.items()},
        "min_support": min_support,
        "min_label_share": min_label_share,
        "min_mean_similarity": min_mean_similarity,
        "fpr": fpr,
    }
    return nodes, parents, meta


def _row_labels(rows: pd.DataFrame, taxonomy: Any) -> dict[str, list[str]] | None:
    """Row id → the secondary category ids of its misattribution, or ``None`` when rows carry none."""
    if "misattribution" not in rows.columns:
        return None
    found: dict[str, list[str]] = {}
    for row_id, cell in zip(rows["row_id"].astype(str), rows["misattribution"]):
        found[row_id] = _labels_of(cell, taxonomy)
    return found if any(found.values()) else None


def _labels_of(cell: Any, taxonomy: Any) -> list[str]:
    if cell is None or isinstance(cell, float):
        return []
    if isinstance(cell, str):
        cell = [part.strip() for part in cell.replace(";", ",").split(",") if part.strip()]
    ids = []
    for label in cell if isinstance(cell, Iterable) else []:
        if isinstance(label, (int, np.integer)):
            if 0 <= int(label) < len(taxonomy.secondary_ids):
                ids.append(taxonomy.secondary_ids[int(label)])
            continue
        category = taxonomy.resolve(str(label))
        if category is not None and not category.is_primary:
            ids.append(category.id)
    return list(dict.fromkeys(ids))


def _leaf_sentences(assignments: pd.DataFrame, issue_id: str) -> list[str]:
    lines = (
        line.strip()
        for text in assignments.loc[assignments["issue_id"] == issue_id, "evidence"]
        for line in str(text).split("\n")
    )
    return [line for line in dict.fromkeys(lines) if line][:_MAX_SENTENCES_PER_LEAF]


def _map_sentences(
    rows: pd.DataFrame,
    sentences: dict[str, list[str]],
    taxonomy: Any,
    encoder: Any | None,
    language: str,
    fpr: float,
    min_similarity: float,
    seed: int,
) -> tuple[dict[str, tuple[list[str | None], dict[str, float]]], dict[str, float]]:
    """Per leaf: each sentence's category (or ``None``; thresholds calibrated on the passing rows) and
    the mean similarity of its sentences to every category."""
    from misattribution.discovery.embed import embed, load_encoder
    from misattribution.discovery.sentences import CriticalityScorer, split_sentences

    encoder = encoder or load_encoder()
    categories = taxonomy.secondaries
    texts = [f"{c.name(language)}: {c.describe(language)}" for c in categories]
    category_vectors = embed(texts, encoder)
    flat = [s for leaf in sentences.values() for s in leaf]
    similarity = embed(flat, encoder) @ category_vectors.T

    # The null: critical sentences of passing rows, which by the judge's verdict name no category.
    passing = rows.loc[~rows["failing"].astype(bool)] if "feedback" in rows.columns else rows.iloc[:0]
    null = [s for text in passing["feedback"] if isinstance(text, str) for s in split_sentences(text)]
    if len(null) > _MAX_NULL_SENTENCES:
        rng = np.random.default_rng(seed)
        null = [null[i] for i in np.sort(rng.choice(len(null), _MAX_NULL_SENTENCES, replace=False))]
    thresholds = np.full(len(categories), min_similarity)
    if null:
        vectors = embed(null, encoder)
        critical = CriticalityScorer(encoder).is_critical(null, vectors)
        if critical.sum() >= 20:
            quantile = np.quantile(vectors[critical] @ category_vectors.T, 1 - fpr, axis=0)
            thresholds = np.maximum(quantile, min_similarity)

    best = similarity.argmax(axis=1) if len(flat) else np.zeros(0, dtype=int)
    passes = similarity[np.arange(len(flat)), best] >= thresholds[best] if len(flat) else np.zeros(0, dtype=bool)
    mapped: dict[str, tuple[list[str | None], dict[str, float]]] = {}
    position = 0
    for leaf, leaf_sentences in sentences.items():
        span = range(position, position + len(leaf_sentences))
        means = similarity[span.start : span.stop].mean(axis=0) if len(span) else np.zeros(len(categories))
        mapped[leaf] = (
            [categories[best[k]].id if passes[k] else None for k in span],
            {c.id: float(m) for c, m in zip(categories, means)},
        )
        position += len(leaf_sentences)
    return mapped, {c.id: float(t) for c, t in zip(categories, thresholds)}


def _nodes(taxonomy: Any, used: set[str], language: str) -> list[TreeNode]:
    nodes: list[TreeNode] = []
    for primary in taxonomy.primaries:
        children = [c for c in taxonomy.children(primary.id) if category_node_id(c.id) in used]
        if not children:
            continue
        nodes.append(
            TreeNode(
                id=category_node_id(primary.id),
                name=primary.name(language),
                level="primary",
                category=primary.id,
                description=primary.describe(language),
            )
        )
        nodes += [
            TreeNode(
                id=category_node_id(child.id),
                name=child.name(language),
                level="secondary",
                parent=category_node_id(primary.id),
                category=child.id,
                description=child.describe(language),
            )
            for child in children
        ]
    if UNATTRIBUTED in used:
        nodes.append(TreeNode(id=UNATTRIBUTED, name="Unattributed", level="unattributed"))
    return nodes
