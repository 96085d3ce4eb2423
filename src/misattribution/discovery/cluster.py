"""Group critical sentences into issues: clustering, merging, bounding, naming and keywords.

Three clusterers, chosen by :func:`choose_method`:

* ``"linkage"`` (the default): average-linkage agglomerative clustering on cosine distance, cut at
  ``distance`` (:data:`LINKAGE_DISTANCE`), so the number of clusters follows the data instead of being
  asked for; above :data:`LINKAGE_MICRO` x 2 sentences a seeded KMeans first summarises them into
  :data:`LINKAGE_MICRO` weighted micro-clusters whose centroids are linked (memory stays linear);
* ``"bertopic"``: BERTopic with UMAP (``random_state=seed``) and HDBSCAN, for small inputs or on
  request. Its fixed cost is high (importing UMAP compiles numba code, ~15-20 s cold), so it is not
  the automatic choice above :data:`BERTOPIC_MAX_SENTENCES` sentences;
* ``"kmeans"``: PCA then (MiniBatch)KMeans, seeded, weighted by how often each distinct sentence
  occurs; the number of clusters is the one with the best silhouette among ``min_issues`` ..
  ``max_issues`` (:func:`choose_n_clusters`), or about sqrt(n / 2). Linear in the number of sentences.

Whatever the clusterer, the same post-processing follows, so both give comparable issues:
:func:`attach_outliers` (HDBSCAN's noise joins its nearest cluster when close enough),
:func:`merge_similar` (near-duplicate issues: centroid cosine above a threshold),
:func:`bound_clusters` (at most ``max_issues``: the smallest merges into its closest; at least
``min_issues``: the largest is split in two), then :func:`.naming.issue_name` on the most central sentence and
:func:`ctfidf_keywords` (BERTopic's class-based TF-IDF formula, computed here with scikit-learn so the
fast path never imports BERTopic).

Every step is deterministic for a given input and seed: ties are broken by cluster size, then by the
position of the cluster's first sentence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

METHODS = ("linkage", "bertopic", "kmeans")
#: Average-linkage cut (cosine distance) of the ``"linkage"`` clusterer. Chosen on the planted
#: benchmarks' dev phrasings (agents and general domains; 0.6-0.75 tried): at 0.65 recovery F1 rose
#: from 0.48 / 0.58 (silhouette-chosen KMeans) to 0.53 / 0.69.
LINKAGE_DISTANCE = 0.65
#: The same cut for the static embedder (:mod:`.embed`), whose mean-of-token vectors sit closer together:
#: on the planted dev phrasings (general domain, 4,000 rows) recovery F1 was 0.34 at 0.65, 0.49 / 0.52 /
#: 0.56 / 0.62 / 0.51 at 0.25 / 0.35 / 0.45 / 0.5 / 0.55. At 20,000 dev rows (measured after the choice)
#: 0.56 / 0.63 / 0.65 at 0.5 / 0.45 / 0.4: larger inputs favour a lower cut; worth re-tuning over seeds.
STATIC_LINKAGE_DISTANCE = 0.5
#: The cut when sentences also carry their wording (:class:`~.embed.SentenceSpace` with
#: :data:`~.embed.LEXICAL_WEIGHT`): mixed cosines are lower. On the planted dev pools (agents, 3 seeds)
#: recovery F1 was 0.657 / 0.637 / 0.690 / 0.643 / 0.611 at 0.75 / 0.78 / 0.8 / 0.82 / 0.85 (0.613 without
#: the wording at 0.65).
LEXICAL_LINKAGE_DISTANCE = 0.8
#: Above twice this many distinct sentences, the linkage runs on this many KMeans micro-clusters.
LINKAGE_MICRO = 300
#: Above this many distinct critical sentences the automatic choice is the fast path.
BERTOPIC_MAX_SENTENCES = 400
#: Above this many, MiniBatchKMeans replaces KMeans.
MINIBATCH_ABOVE = 20_000


def choose_method(n_sentences: int, fast: bool | None = None) -> str:
    """``"linkage"`` by default (``fast is None``); ``fast=True`` asks for ``"kmeans"`` (PCA + KMeans, a
    cluster count by silhouette), ``fast=False`` for ``"bertopic"`` (UMAP + HDBSCAN; above
    :data:`BERTOPIC_MAX_SENTENCES` sentences its fixed cost is not worth it and ``"kmeans"`` is used).

    >>> choose_method(100), choose_method(100_000), choose_method(100, fast=True), choose_method(100, fast=False)
    ('linkage', 'linkage', 'kmeans', 'bertopic')
    """
    if fast is None:
        return "linkage"
    return "kmeans" if fast or n_sentences > BERTOPIC_MAX_SENTENCES else "bertopic"


#: Above this many distinct critical sentences the wording is off by default. On the general dev pool it
#: lifted recovery F1 at 3,000 and 20,000 rows (0.787 → 0.817; 0.734 → 0.806 with 4,103 sentences) but
#: lowered it at 50,000 and 100,000 rows (0.777 → 0.700 with 8,042 sentences; 0.784 → 0.684 with 13,448):
#: with many sentences its 128 SVD directions seem to follow the answers' topics more than the faults'
#: wording (not verified). Set between the last size that gained and the first that lost.
LEXICAL_MAX_SENTENCES = 6_000


def lexical_weight_for(
    encoder: Any, weight: float | None, fast: bool | None = None, n_sentences: int | None = None
) -> float:
    """The wording's share of the similarity (:class:`~.embed.SentenceSpace`): ``weight`` when given, else
    :data:`~.embed.LEXICAL_WEIGHT` for a sentence encoder with the default clusterer (average linkage,
    ``fast=None``) on at most :data:`LEXICAL_MAX_SENTENCES` sentences (``n_sentences``, the distinct critical
    sentences clustered; ``None``: not known yet), and 0 otherwise: the static embedder and the KMeans /
    BERTopic paths lost recovery with it on the dev pools (static: general 0.70 → 0.56-0.69; KMeans: agents
    0.557 → 0.458), and so did many sentences."""
    from misattribution.discovery.embed import LEXICAL_WEIGHT, is_static

    if weight is not None:
        return float(weight)
    many = n_sentences is not None and n_sentences > LEXICAL_MAX_SENTENCES
    return 0.0 if is_static(encoder) or fast is not None or many else LEXICAL_WEIGHT


def linkage_distance_for(encoder: Any, distance: float, lexical_weight: float = 0.0) -> float:
    """The linkage cut to use with ``encoder``, when ``distance`` is the (MiniLM-tuned) default
    :data:`LINKAGE_DISTANCE`: :data:`LEXICAL_LINKAGE_DISTANCE` when the sentences carry their wording
    (``lexical_weight`` > 0), :data:`STATIC_LINKAGE_DISTANCE` for the static embedder; any other
    ``distance`` is the user's and kept."""
    from misattribution.discovery.embed import is_static

    if distance != LINKAGE_DISTANCE:
        return distance
    if lexical_weight > 0:
        return LEXICAL_LINKAGE_DISTANCE
    return STATIC_LINKAGE_DISTANCE if is_static(encoder) else distance


def default_n_clusters(n_points: int, max_issues: int) -> int:
    """The fast path's starting number of clusters: about sqrt(n / 2), more than the issues kept.

    Over-clustering then merging keeps small, distinct issues apart better than asking KMeans for
    exactly ``max_issues`` clusters.
    """
    return int(np.clip(round(np.sqrt(n_points / 2)), min(8, n_points), max(2 * max_issues, 8)))


# -- clustering ------------------------------------------------------------------------------------------
def cluster_vectors(
    vectors: np.ndarray,
    *,
    method: str,
    seed: int = 0,
    weights: np.ndarray | None = None,
    texts: Sequence[str] | None = None,
    encoder: Any = None,
    n_clusters: int | None = None,
    min_cluster_size: int = 5,
    distance: float = LINKAGE_DISTANCE,
) -> np.ndarray:
    """Cluster labels (``-1`` = noise) for L2-normalised ``vectors``.

    Args:
        vectors: one row per distinct sentence.
        method: ``"linkage"``, ``"kmeans"`` or ``"bertopic"`` (see the module docstring).
        seed: the seed of PCA, KMeans and UMAP.
        weights: occurrences of each distinct sentence (KMeans only).
        texts: the sentences (BERTopic fits on them; never re-embedded).
        encoder: the loaded sentence encoder (BERTopic needs it offline; it is not called).
        n_clusters: KMeans clusters (default :func:`default_n_clusters` with 15 issues).
        min_cluster_size: HDBSCAN's, for BERTopic.
        distance: the linkage's cut (cosine distance).
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n < 3:
        return np.zeros(n, dtype=np.int64)
    if method == "linkage":
        return _linkage(vectors, seed, weights, distance)
    if method == "kmeans":
        return _kmeans(vectors, seed, weights, n_clusters or default_n_clusters(n, 15))
    if method == "bertopic":
        if encoder is None or texts is None:
            raise ValueError("BERTopic needs the loaded encoder and the texts (offline: never a model name)")
        return _bertopic(vectors, list(texts), encoder, seed, min_cluster_size)
    raise ValueError(f"unknown clustering method {method!r}; use one of {METHODS}")


def _reduce(vectors: np.ndarray, seed: int, n_components: int = 32) -> np.ndarray:
    from sklearn.decomposition import PCA

    k = min(n_components, vectors.shape[1], max(len(vectors) - 1, 1))
    if k >= vectors.shape[1]:
        return vectors
    reduced = PCA(n_components=k, random_state=seed, svd_solver="randomized").fit_transform(vectors)
    return reduced.astype(np.float32)


def choose_n_clusters(
    vectors: np.ndarray,
    candidates: Sequence[int],
    *,
    seed: int = 0,
    weights: np.ndarray | None = None,
    sample_size: int = 2000,
) -> int:
    """The KMeans cluster count among ``candidates`` with the best silhouette (cosine, on a seeded sample)."""
    from sklearn.metrics import silhouette_score

    candidates = sorted({k for k in candidates if 2 <= k < len(vectors)})
    if not candidates:
        return 1
    reduced = _reduce(vectors, seed)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(vectors), size=min(sample_size, len(vectors)), replace=False))
    best_k, best = candidates[-1], -np.inf
    for k in candidates:
        labels = _fit_kmeans(reduced, seed, weights, k)
        if len(np.unique(labels[sample])) < 2:
            continue
        score = silhouette_score(reduced[sample], labels[sample], metric="cosine")
        if score > best + 1e-9:
            best_k, best = k, score
    return best_k


def _linkage(vectors: np.ndarray, seed: int, weights: np.ndarray | None, distance: float) -> np.ndarray:
    """Average-linkage clusters cut at cosine ``distance``; large inputs are linked as micro-clusters."""
    from sklearn.cluster import AgglomerativeClustering

    weights = np.ones(len(vectors)) if weights is None else np.asarray(weights, dtype=float)
    if len(vectors) > 2 * LINKAGE_MICRO:
        micro = _fit_kmeans(vectors, seed, weights, LINKAGE_MICRO, n_init=1)
        points = centroids(vectors, micro, weights)
    else:
        micro, points = np.arange(len(vectors)), vectors
    if len(points) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    top = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
    ).fit_predict(points)
    return relabel(top[micro].astype(np.int64), weights)


def _kmeans(vectors: np.ndarray, seed: int, weights: np.ndarray | None, n_clusters: int) -> np.ndarray:
    return _fit_kmeans(_reduce(vectors, seed), seed, weights, n_clusters)


def _fit_kmeans(
    reduced: np.ndarray, seed: int, weights: np.ndarray | None, n_clusters: int, n_init: int = 4
) -> np.ndarray:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    vectors = reduced
    k = max(1, min(n_clusters, len(vectors)))
    if len(vectors) > MINIBATCH_ABOVE:
        model: Any = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096, max_no_improvement=20)
    else:
        model = KMeans(n_clusters=k, random_state=seed, n_init=n_init)
    return model.fit_predict(vectors, sample_weight=weights).astype(np.int64)


def _bertopic(vectors: np.ndarray, texts: list[str], encoder: Any, seed: int, min_cluster_size: int) -> np.ndarray:
    try:
        from bertopic import BERTopic
        from hdbscan import HDBSCAN
        from umap import UMAP
    except ImportError as err:
        raise ImportError("the BERTopic path needs bertopic: pip install 'misattribution[space]'") from err
    from sklearn.feature_extraction.text import CountVectorizer

    n_neighbors = int(min(15, len(vectors) - 1))
    umap = UMAP(
        n_neighbors=n_neighbors,
        n_components=min(5, len(vectors) - 2),
        min_dist=0.0,
        metric="cosine",
        random_state=seed,
        init="spectral" if len(vectors) > 10 else "random",
        n_jobs=1,
    )
    hdbscan = HDBSCAN(min_cluster_size=max(2, min_cluster_size), metric="euclidean", prediction_data=False)
    model = BERTopic(
        embedding_model=encoder,
        umap_model=umap,
        hdbscan_model=hdbscan,
        vectorizer_model=CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None),
        calculate_probabilities=False,
        verbose=False,
    )
    topics, _ = model.fit_transform(texts, embeddings=np.asarray(vectors, dtype=np.float32))
    return np.asarray(topics, dtype=np.int64)


# -- post-processing ------------------------------------------------------------------------------------
def relabel(labels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Labels renumbered 0.. by decreasing weight, ties by first position; ``-1`` stays."""
    labels = np.asarray(labels, dtype=np.int64)
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    present = [c for c in np.unique(labels) if c >= 0]
    order = sorted(present, key=lambda c: (-weights[labels == c].sum(), int(np.argmax(labels == c))))
    mapping = {old: new for new, old in enumerate(order)}
    return np.array([mapping.get(c, -1) for c in labels], dtype=np.int64)


def centroids(vectors: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Unit-norm weighted mean of each cluster ``0..max``; row ``c`` is cluster ``c``."""
    k = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    sums = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    kept = labels >= 0
    np.add.at(sums, labels[kept], vectors[kept] * weights[kept, None])
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


def attach_outliers(vectors: np.ndarray, labels: np.ndarray, min_similarity: float) -> np.ndarray:
    """Noise points join their most similar cluster centroid when the cosine is at least ``min_similarity``."""
    labels = labels.copy()
    noise = np.flatnonzero(labels < 0)
    if not len(noise) or labels.max() < 0:
        return labels
    sims = vectors[noise] @ centroids(vectors, labels).T
    best = sims.argmax(axis=1)
    close = sims[np.arange(len(noise)), best] >= min_similarity
    labels[noise[close]] = best[close]
    return labels


def merge_similar(
    vectors: np.ndarray, labels: np.ndarray, threshold: float, weights: np.ndarray | None = None
) -> np.ndarray:
    """Merge clusters whose centroids have a cosine above ``threshold``, most similar pair first."""
    labels = relabel(labels, weights)
    while labels.max() >= 1:
        sims = _pair_similarities(vectors, labels, weights)
        i, j = np.unravel_index(np.argmax(sims), sims.shape)
        if sims[i, j] <= threshold:
            break
        labels = relabel(np.where(labels == j, i, labels), weights)
    return labels


def bound_clusters(
    vectors: np.ndarray,
    labels: np.ndarray,
    *,
    min_issues: int = 1,
    max_issues: int | None = None,
    weights: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Between ``min_issues`` and ``max_issues`` clusters: merge the smallest into its closest; split the largest.

    A split is a seeded 2-means of the largest cluster; it stops when no cluster has two distinct
    sentences left to split.
    """
    labels = relabel(labels, weights)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    while max_issues is not None and labels.max() + 1 > max(max_issues, 1):
        sims = _pair_similarities(vectors, labels, weights)
        smallest = int(labels.max())  # relabel puts the lightest cluster last
        closest = int(np.argmax(sims[smallest]))
        labels = relabel(np.where(labels == smallest, closest, labels), weights)
    while labels.max() + 1 < min_issues:
        sizes = [(w[labels == c].sum(), -c) for c in range(labels.max() + 1)]
        splittable = [c for _, c in sorted(sizes, reverse=True) if len(np.unique(vectors[labels == -c], axis=0)) >= 2]
        if not splittable:
            break
        target = -splittable[0]
        members = np.flatnonzero(labels == target)
        halves = _kmeans(vectors[members], seed, w[members], 2)
        labels = labels.copy()
        labels[members[halves == 1]] = labels.max() + 1
        labels = relabel(labels, weights)
    return labels


def _pair_similarities(vectors: np.ndarray, labels: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    cents = centroids(vectors, labels, weights)
    sims = cents @ cents.T
    np.fill_diagonal(sims, -np.inf)
    return sims


# -- names and keywords ---------------------------------------------------------------------------------
# Issue names live in :mod:`.naming`; ``issue_name`` and ``_EFFECT`` stay importable from here.
from misattribution.discovery.naming import _EFFECT, issue_name  # noqa: E402, F401

_STOP = None


def _stopwords() -> frozenset[str]:
    global _STOP
    if _STOP is None:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        from misattribution.discovery.sentences import _STOPWORDS

        _STOP = frozenset(ENGLISH_STOP_WORDS) | _STOPWORDS | {"response", "model", "answer", "question"}
    return _STOP


_TOKEN = re.compile(r"[A-Za-z][A-Za-z'-]{2,}|[\u3400-\u4dbf\u4e00-\u9fff]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased English words (no stopwords, no masks) and Chinese character bigrams, for keywords.

    >>> tokenize("The calculation is wrong; 计算错误")
    ['calculation', 'wrong', '计算', '算错', '错误']
    """
    stop = _stopwords()
    tokens: list[str] = []
    for match in _TOKEN.findall(text):
        if match[0].isascii():
            word = match.casefold().strip("'-").removesuffix("'s")
            if word not in stop and len(word) > 2:
                tokens.append(word)
        else:
            tokens.extend(match[i : i + 2] for i in range(max(len(match) - 1, 1)))
    return tokens


def ctfidf_keywords(
    texts: Sequence[str], labels: np.ndarray, *, weights: np.ndarray | None = None, top_n: int = 8
) -> dict[int, list[str]]:
    """The ``top_n`` words of each cluster by class-based TF-IDF (BERTopic's formula).

    ``ctfidf(t, c) = tf(t, c) / |c| * log(1 + A / f(t))``: ``tf`` the term's (weighted) count in the
    class, ``|c|`` the class's word count, ``A`` the mean words per class, ``f(t)`` the term's count
    over all classes.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    kept = np.flatnonzero(labels >= 0)
    if not len(kept):
        return {}
    vectorizer = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    try:
        counts = vectorizer.fit_transform([texts[i] for i in kept])
    except ValueError:  # nothing but stopwords
        return {int(c): [] for c in np.unique(labels[kept])}
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    k = int(labels.max()) + 1
    from scipy import sparse

    membership = sparse.csr_matrix((w[kept], (labels[kept], np.arange(len(kept)))), shape=(k, len(kept)))
    per_class = np.asarray((membership @ counts).todense(), dtype=np.float64)
    totals = per_class.sum(axis=1, keepdims=True)
    tf = per_class / np.maximum(totals, 1e-12)
    idf = np.log(1 + totals.mean() / np.maximum(per_class.sum(axis=0), 1e-12))
    scores = tf * idf
    vocabulary = vectorizer.get_feature_names_out()
    keywords = {}
    for c in range(k):
        order = np.lexsort((vocabulary, -scores[c]))[:top_n]
        keywords[c] = [str(vocabulary[i]) for i in order if scores[c, i] > 0]
    return keywords
