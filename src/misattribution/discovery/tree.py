"""The issue tree: primary category → secondary category → discovered issues → rows.

A report's issues are the leaves. :func:`attach_to_taxonomy` gives every leaf a parent among the
taxonomy's secondary categories (the paper's two levels; a user's own taxonomy YAML gives its own
tree), by two kinds of evidence, tried in order:

1. **the judge's misattribution**, when the rows carry one (AttriData rows, our judge's output): the
   secondary category most of the leaf's labelled rows carry, if at least ``min_label_share`` of them
   do; else their most common primary category, under the same condition (the leaf then sits directly
   under the primary category);
2. **the feedback**, otherwise: each evidence sentence of the leaf is scored against every category's
   *prototype*, made of its ``"name: definition"`` and its ``examples`` from the taxonomy YAML (short
   remarks in a judge's voice, across domains; a user's taxonomy brings its own, or only definitions).
   English sentences are scored by the mean of two cosine similarities to the category's centroid,
   sentence embeddings (all-MiniLM-L6-v2) and TF-IDF words; sentences with Chinese characters by
   TF-IDF character 2-3-grams against ``examples_zh`` (the encoder knows no Chinese). A sentence
   maps to its best category when the score passes that category's *calibrated* threshold (read off
   the passing rows as in the static mode, :mod:`misattribution.discovery.modes.static`: the
   ``1 - fpr`` quantile of the passing rows' critical sentences' scores, never below the route's
   floor) and leads the second best by a margin; otherwise it names **no category**. The leaf goes
   under the category most of its mapped sentences name, when at least ``min_support`` of its
   sentences map and at least ``min_agreement`` of those agree (a few sentences that happen to pass
   do not make a leaf about the category).

   Definitions alone made poor prototypes: on the bundled sample's English remarks (dev split) they
   mapped 28 % of the sentences at 33 % accuracy, the definitions acting as attractors ("forgets to convert
   minutes to hours" went to Length Inconsistency). ``benchmarks/bench_tree_mapping.py`` measures
   both routes on a dev and a held-out split.

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
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery.sentences import _CJK, split_sentences

#: The node under which leaves with no category sit.
UNATTRIBUTED = "unattributed"
LEVELS = ("primary", "secondary", "unattributed", "issue")
_MAX_SENTENCES_PER_LEAF = 25
_MAX_NULL_SENTENCES = 400


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
    min_similarity: float | None = None,
    min_support: float = 0.3,
    min_mean_similarity: float | None = None,
    min_label_share: float = 0.4,
    seed: int = 0,
    min_margin: float | None = None,
    min_agreement: float = 0.5,
) -> tuple[list[TreeNode], dict[str, str], dict[str, Any]]:
    """A parent category for every leaf issue (see the module docstring).

    Args:
        rows: IssueReport rows (``row_id``, ``failing``, ``feedback``; ``misattribution`` when labelled).
        issues: the leaves (objects with ``id``).
        assignments: ``row_id, issue_id, evidence`` (evidence: the leaf's sentences, one per line).
        taxonomy: a :class:`~misattribution.taxonomy.Taxonomy`, a shipped name or a YAML path
            (default: the default taxonomy).
        encoder: sentence-transformers model for the feedback route (loaded only when needed).
        language: which category names and definitions the nodes show (each sentence of the feedback
            route takes the Chinese route when it has Chinese characters, the English one otherwise).
        fpr, min_similarity: the calibration of the feedback route (share of passing rows let through
            per category, and the floor of every threshold; default: the route's own floor, 0.3 for
            English and 0.12 for Chinese, as scores of the two routes have different scales).
        min_support: least share of a leaf's sentences that must map to some category.
        min_mean_similarity: when given, least mean score of all a leaf's sentences to its category.
        min_label_share: least share of a leaf's labelled rows that must carry its category.
        seed: seeds the sample of passing rows' sentences used for calibration.
        min_margin: least lead of a sentence's best category over its second (default: the route's
            own, 0.02 for either); below it the sentence names no category.
        min_agreement: least share of a leaf's mapped sentences that must map to its category.

    A leaf whose ``parent`` is already a node of ``taxonomy`` (``category:<id>`` or ``unattributed``: an
    edited issue list read back by the static mode) keeps it (method ``"given"``).

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

    # A parent the issue already carries (an edited issue list read back by the static mode) is kept when
    # it is a node of this taxonomy: the user placed it there.
    known = {category_node_id(c) for c in (*taxonomy.primary_ids, *taxonomy.secondary_ids)} | {UNATTRIBUTED}
    for issue in issues:
        given = getattr(issue, "parent", None)
        if given in known:
            parents[issue.id] = given
            how[issue.id] = {"method": "given", "support": 1.0}

    labels = _row_labels(rows, taxonomy)
    if labels is not None:
        for issue in [i for i in issues if i.id not in parents]:
            member_rows = assignments.loc[assignments["issue_id"] == issue.id, "row_id"]
            found = [c for r in member_rows.unique() for c in labels.get(r, ())]
            n_labelled = sum(1 for r in member_rows.unique() if labels.get(r))
            if not n_labelled:
                continue
            category, count = Counter(found).most_common(1)[0]
            if count / n_labelled >= min_label_share:
                parents[issue.id] = category_node_id(category)
                how[issue.id] = {"method": "judge labels", "support": round(count / n_labelled, 3)}
                continue
            # No secondary category dominates; their primary category may (the leaf sits under it).
            primaries = [
                p for r in member_rows.unique() for p in {taxonomy.primary_of(c).id for c in labels.get(r, ())}
            ]
            primary, count = Counter(primaries).most_common(1)[0]
            if count / n_labelled >= min_label_share:
                parents[issue.id] = category_node_id(primary)
                how[issue.id] = {"method": "judge labels (primary)", "support": round(count / n_labelled, 3)}

    rest = [i for i in issues if i.id not in parents]
    thresholds: dict[str, dict[str, float]] = {}
    if rest:
        sentences = {i.id: _leaf_sentences(assignments, i.id) for i in rest}
        if any(sentences.values()):
            mapped, thresholds = _map_sentences(
                rows, sentences, taxonomy, encoder, language, fpr, min_similarity, seed, min_margin
            )
            for issue in rest:
                votes, mean_score = mapped.get(issue.id, ([], {}))
                category = _leaf_category(votes, mean_score, min_support, min_agreement, min_mean_similarity)
                if category is not None:
                    parents[issue.id] = category_node_id(category)
                    how[issue.id] = {
                        "method": "feedback",
                        "support": round(votes.count(category) / len(votes), 3),
                        "mean_similarity": round(mean_score[category], 3),
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
        "thresholds": {route: {k: round(v, 4) for k, v in t.items()} for route, t in thresholds.items()},
        "min_support": min_support,
        "min_label_share": min_label_share,
        "min_mean_similarity": min_mean_similarity,
        "min_agreement": min_agreement,
        "fpr": fpr,
    }
    return nodes, parents, meta


def _leaf_category(
    votes: list[str | None],
    mean_score: dict[str, float],
    min_support: float,
    min_agreement: float,
    min_mean_similarity: float | None,
) -> str | None:
    """The category most of a leaf's mapped sentences name, when enough of them map and agree.

    >>> _leaf_category(["typos", None, "typos", "noisy"], {"typos": 0.5, "noisy": 0.3}, 0.3, 0.5, None)
    'typos'
    >>> _leaf_category(["typos", None, None, None], {"typos": 0.5}, 0.3, 0.5, None) is None
    True
    """
    hits = [v for v in votes if v is not None]
    if not votes or not hits or len(hits) / len(votes) < min_support:
        return None
    category, count = Counter(hits).most_common(1)[0]
    if count / len(hits) < min_agreement:
        return None
    if min_mean_similarity is not None and mean_score[category] < min_mean_similarity:
        return None
    return category


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
    min_similarity: float | None,
    seed: int,
    min_margin: float | None = None,
) -> tuple[dict[str, tuple[list[str | None], dict[str, float]]], dict[str, dict[str, float]]]:
    """Per leaf: each sentence's category (or ``None``) and the mean score of its sentences to every
    category; and the thresholds used, per route (``"en"``, ``"zh"``).

    A sentence maps to its best category when its score passes that category's threshold (the
    ``1 - fpr`` quantile of the passing rows' critical sentences, never below the floor) and beats the
    second best category by ``min_margin``; ``language`` picks the default route of sentences without
    Chinese characters (a Chinese report's English sentences still take the English route).
    """
    from misattribution.discovery.embed import load_encoder

    matcher = _matcher(taxonomy, encoder or load_encoder())
    flat = [s for leaf in sentences.values() for s in leaf]
    scores, routes = matcher.score(flat)
    thresholds = _null_thresholds(rows, matcher, fpr, min_similarity, seed)
    margins = {route: _MIN_MARGIN[route] if min_margin is None else min_margin for route in _FLOOR}

    categories = matcher.categories
    best = scores.argmax(axis=1) if len(flat) else np.zeros(0, dtype=int)
    ranked = np.sort(scores, axis=1) if len(flat) else np.zeros((0, 2))
    passes = [
        bool(
            ranked[k, -1] >= thresholds[routes[k]][categories[best[k]].id]
            and ranked[k, -1] - ranked[k, -2] >= margins[routes[k]]
        )
        for k in range(len(flat))
    ]
    mapped: dict[str, tuple[list[str | None], dict[str, float]]] = {}
    position = 0
    for leaf, leaf_sentences in sentences.items():
        span = range(position, position + len(leaf_sentences))
        means = scores[span.start : span.stop].mean(axis=0) if len(span) else np.zeros(len(categories))
        mapped[leaf] = (
            [categories[best[k]].id if passes[k] else None for k in span],
            {c.id: float(m) for c, m in zip(categories, means)},
        )
        position += len(leaf_sentences)
    used = set(routes) or {"zh" if language.startswith("zh") else "en"}
    return mapped, {route: thresholds[route] for route in sorted(used)}


# Floors and margins of the two routes, set on the dev split of the bundled sample
# (benchmarks/bench_tree_mapping.py); the scales differ, so each route has its own.
_FLOOR = {"en": 0.2, "zh": 0.12}
_MIN_MARGIN = {"en": 0.02, "zh": 0.02}


def _null_sentences(feedback: list[Any], seed: int) -> list[str]:
    """The passing rows' sentences, at most :data:`_MAX_NULL_SENTENCES` of them: rows are split in a seeded
    order until there are enough (a million passing rows are not all split to keep a few thousand), then
    the sentences sampled; all of them, in row order, when there are no more.

    >>> _null_sentences(["The steps are clear. The answer is right.", None, "The units are given."], 0)
    ['The steps are clear.', 'The answer is right.', 'The units are given.']
    """
    found: list[tuple[int, list[str]]] = []
    count, every_row = 0, True
    for position in np.random.default_rng(seed).permutation(len(feedback)):
        text = feedback[position]
        if isinstance(text, str):
            sentences = split_sentences(text)
            found.append((int(position), sentences))
            count += len(sentences)
            if count > 2 * _MAX_NULL_SENTENCES and len(found) < len(feedback):  # enough to sample from
                every_row = False
                break
    null = [s for _, sentences in sorted(found) for s in sentences]
    if len(null) > _MAX_NULL_SENTENCES:
        # every row split: the same sample as drawing from all the sentences (a fresh generator)
        rng = np.random.default_rng(seed if every_row else seed + 1)
        null = [null[i] for i in np.sort(rng.choice(len(null), _MAX_NULL_SENTENCES, replace=False))]
    return null


def _null_thresholds(
    rows: pd.DataFrame, matcher: _CategoryMatcher, fpr: float, min_similarity: float | None, seed: int
) -> dict[str, dict[str, float]]:
    """Per route and category: the ``1 - fpr`` quantile of the scores of the passing rows' critical
    sentences (which by the judge's verdict name no category), never below the floor; the floor alone
    when fewer than 20 such sentences take the route."""
    from misattribution.discovery.embed import embed
    from misattribution.discovery.sentences import abstract_sentence, criticality_scorer

    floors = {route: floor if min_similarity is None else min_similarity for route, floor in _FLOOR.items()}
    thresholds = {route: np.full(len(matcher.categories), floor) for route, floor in floors.items()}
    passing = rows.loc[~rows["failing"].astype(bool)] if "feedback" in rows.columns else rows.iloc[:0]
    null = _null_sentences(passing["feedback"].tolist(), seed)
    if null:
        vectors = embed([abstract_sentence(s) for s in null], matcher.encoder)
        critical = criticality_scorer(matcher.encoder).is_critical(null, vectors)
        scores, routes = matcher.score([s for s, keep in zip(null, critical) if keep], vectors[critical])
        for route in thresholds:
            mine = scores[np.asarray(routes) == route]
            if len(mine) >= 20:
                thresholds[route] = np.maximum(np.quantile(mine, 1 - fpr, axis=0), floors[route])
    return {route: {c.id: float(t) for c, t in zip(matcher.categories, values)} for route, values in thresholds.items()}


class _CategoryMatcher:
    """Scores sentences against every secondary category of a taxonomy, by the category's prototype:
    its ``"name: definition"`` and its ``examples`` (``examples_zh`` for Chinese).

    * English (a sentence without Chinese characters): the mean of two cosine similarities to the
      category's centroid, one of sentence embeddings (of :func:`~.sentences.abstract_sentence`, numbers
      and quotes masked), one of TF-IDF word vectors. The embedding knows what a remark is about
      however it is worded; the words keep the judge's telling vocabulary ("invented", "refuses",
      "misspelled") from being drowned by the topic of the question.
    * Chinese: the cosine similarity of TF-IDF character 2-3-grams, since all-MiniLM-L6-v2 knows no
      Chinese; Chinese judges' remarks are formulaic ("错别字", "答非所问", "戛然而止").
    """

    def __init__(self, taxonomy: Any, encoder: Any) -> None:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

        from misattribution.discovery.embed import embed
        from misattribution.discovery.sentences import abstract_sentence

        self.encoder = encoder
        self.categories = list(taxonomy.secondaries)
        self._lexical: dict[str, tuple[Any, np.ndarray]] = {}
        english = {"analyzer": "word", "stop_words": sorted(ENGLISH_STOP_WORDS | _GENERIC_WORDS)}
        for route, options in (("en", english), ("zh", {"analyzer": "char", "ngram_range": (2, 3)})):
            bank = [[f"{c.name(route)}: {c.describe(route)}", *c.examples_in(route)] for c in self.categories]
            vectorizer = TfidfVectorizer(sublinear_tf=True, **options).fit([t for texts in bank for t in texts])
            self._lexical[route] = (vectorizer, _centroids([vectorizer.transform(texts).toarray() for texts in bank]))
        english = [[f"{c.name()}: {c.describe()}", *c.examples] for c in self.categories]
        self._semantic = _centroids([embed([abstract_sentence(t) for t in texts], encoder) for texts in english])

    def score(self, sentences: Sequence[str], vectors: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
        """``(scores, routes)``: one row of category scores per sentence, and the route it took.

        ``vectors``: the embeddings of the sentences' :func:`~.sentences.abstract_sentence`, when at hand.
        """
        from misattribution.discovery.embed import embed
        from misattribution.discovery.sentences import abstract_sentence

        routes = ["zh" if _CJK.search(s) else "en" for s in sentences]
        scores = np.zeros((len(sentences), len(self.categories)))
        for route in ("en", "zh"):
            where = [k for k, r in enumerate(routes) if r == route]
            if not where:
                continue
            vectorizer, centroids = self._lexical[route]
            texts = [sentences[k] for k in where]
            lexical = _normalised(vectorizer.transform(texts).toarray()) @ centroids.T
            if route == "en":
                embedded = (
                    embed([abstract_sentence(t) for t in texts], self.encoder) if vectors is None else vectors[where]
                )
                semantic = embedded @ self._semantic.T
                lexical = (lexical + semantic) / 2
            scores[where] = lexical
        return scores, routes


# Words every remark shares: with a small taxonomy the IDF cannot discount them, and they would make
# any remark look like any category.
_GENERIC_WORDS = frozenset({"answer", "response", "model", "assistant", "reply", "output", "ai"})


@lru_cache(maxsize=8)
def _matcher(taxonomy: Any, encoder: Any) -> _CategoryMatcher:
    return _CategoryMatcher(taxonomy, encoder)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _centroids(groups: list[np.ndarray]) -> np.ndarray:
    """One unit vector per group: the mean of its unit vectors."""
    return _normalised(np.stack([_normalised(np.asarray(g, dtype=np.float64)).mean(axis=0) for g in groups]))


def _nodes(taxonomy: Any, used: set[str], language: str) -> list[TreeNode]:
    nodes: list[TreeNode] = []
    for primary in taxonomy.primaries:
        children = [c for c in taxonomy.children(primary.id) if category_node_id(c.id) in used]
        if not children and category_node_id(primary.id) not in used:
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
