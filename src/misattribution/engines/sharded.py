"""Sharded clustering: the ``clusters`` mode over shards, reduced without gathering every vector.

The steps of :func:`misattribution.discovery.pipeline.discover_clusters`, split between the shards and
the driver:

1. **driver**: split the failing rows' feedback into sentences and their masked forms
   (:func:`~misattribution.discovery.pipeline.split_failing`); cut the distinct masked sentences into
   ``shards`` contiguous ranges, each sent with its occurrences' texts;
2. **each shard** (:class:`ShardWorker`, one encoder per worker process): embed its distinct sentences,
   score their criticality (the same classifier), keep the critical ones and summarise them as at most
   ``micro_clusters`` micro-clusters per language (MiniBatchKMeans; below the budget every sentence is its
   own micro-cluster): a centroid, a weight (critical occurrences) and the most central sentence as its
   exemplar. Vectors never leave the shard;
3. **driver, reduce**: cluster the micro-clusters of all shards with the single-process clusterer
   (:func:`~misattribution.discovery.pipeline._cluster`: the same cut, merges, recurrence threshold and
   bounds, per language), give every sentence its micro-cluster's issue, and name the issues from the
   exemplars (:func:`~misattribution.discovery.pipeline._name_issues`).

Exact by design: with one shard, or with shards whose critical sentences all fit in the budget, every
micro-cluster is one sentence and the reduce is the single-process clustering of the same vectors, so
the report equals :func:`~misattribution.discovery.pipeline.discover`'s (same issues, ids and row sets;
as long as the input has at most ``max_embedded`` distinct sentences, which the single-process path
samples above and the sharded path never does). Past the budget it is an approximation, whose agreement
``benchmarks/bench_ray.py`` measures (Jaccard of each issue's rows).

The mapping of shards is the engine's (:meth:`misattribution.engines.Engine.map_shards`): in this
process for ``local``, on a Ray actor pool for ``ray``. :func:`discover_sharded` runs
:func:`~misattribution.discovery.pipeline.discover` with it in place of ``clusters``, registered as the discovery
mode ``clusters_sharded`` while it runs::

    from misattribution.engines import get_engine
    with get_engine("ray", num_cpus=2) as engine:
        report = engine.discover("judged.jsonl", shards=4)
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

MODE = "clusters_sharded"
#: Micro-clusters kept per shard and language. The reduce clusters at most shards x this many points
#: (the linkage itself works on 300 KMeans micro-clusters above 600 points: see ``cluster.LINKAGE_MICRO``).
DEFAULT_MICRO_CLUSTERS = 1000


# -- the shard side ---------------------------------------------------------------------------------------
class ShardWorker:
    """Embeds, scores and micro-clusters one shard of distinct sentences; built once per worker process.

    Called with a JSON payload (``unique``: the shard's distinct masked sentences; ``occurrence_text`` and
    ``occurrence_unique``: each occurrence's text and its index in ``unique``; ``threshold``, ``budget``,
    ``seed``, ``by_language``), it returns an ``.npz`` archive (no pickled objects): ``semantic`` (per
    distinct sentence), ``scores`` and ``critical`` (per occurrence: its criticality, and whether it
    clears ``threshold``; the driver sends the threshold lowered by ``row_reach`` and decides which
    occurrences count), ``micro_of`` (per distinct sentence: its
    micro-cluster or -1), ``centroids``, ``weights`` and ``exemplars`` (per micro-cluster, ordered by
    exemplar) and ``seconds`` (embedding, whole shard).
    """

    def __init__(self, embedding_model: str, batch_size: int = 64) -> None:
        from misattribution.discovery.embed import load_encoder
        from misattribution.discovery.sentences import criticality_scorer

        self.encoder = load_encoder(embedding_model)
        self.scorer = criticality_scorer(self.encoder)
        self.batch_size = batch_size

    def __call__(self, payload: bytes) -> bytes:
        from misattribution.discovery.embed import embed

        started = time.perf_counter()
        task = json.loads(payload)
        unique = list(task["unique"])
        occurrence_unique = np.asarray(task["occurrence_unique"], dtype=np.int64)
        vectors = embed(unique, self.encoder, batch_size=self.batch_size)
        embedded = time.perf_counter()
        semantic = self.scorer.semantic(vectors, unique)
        scores = semantic[occurrence_unique] + self.scorer.lexical(task["occurrence_text"])
        critical = scores > task["threshold"]
        weights = np.bincount(occurrence_unique[critical], minlength=len(unique)).astype(float)
        candidates = np.flatnonzero(weights > 0)
        micro_of = np.full(len(unique), -1, dtype=np.int64)
        centroids, micro_weights, exemplars = [], [], []
        for group in _language_groups(candidates, unique, task["by_language"]):
            labels = micro_cluster(vectors[group], weights[group], task["budget"], task["seed"])
            by_label = np.argsort(labels, kind="stable")  # members stay in sentence order within a micro-cluster
            cuts = np.flatnonzero(np.diff(labels[by_label])) + 1
            for members in np.split(group[by_label], cuts):
                if len(members) == 1:  # the sentence itself: exact, not a rounded mean of one vector
                    centroid = vectors[members[0]]
                else:
                    summed = (vectors[members] * weights[members, None]).sum(axis=0)
                    centroid = (summed / max(float(np.linalg.norm(summed)), 1e-12)).astype(np.float32)
                exemplar = members[int(np.argmax(vectors[members] @ centroid))]
                micro_of[members] = len(exemplars)
                centroids.append(centroid)
                micro_weights.append(weights[members].sum())
                exemplars.append(exemplar)
        order = np.argsort(np.asarray(exemplars, dtype=np.int64), kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        micro_of = np.where(micro_of >= 0, rank[np.maximum(micro_of, 0)] if len(rank) else -1, -1)
        dim = vectors.shape[1]
        buffer = io.BytesIO()
        np.savez(
            buffer,
            semantic=np.asarray(semantic, dtype=np.float64),
            scores=np.asarray(scores, dtype=np.float64),
            critical=critical,
            micro_of=micro_of,
            centroids=np.asarray(centroids, dtype=np.float32).reshape(-1, dim)[order],
            weights=np.asarray(micro_weights, dtype=np.float64)[order],
            exemplars=np.asarray(exemplars, dtype=np.int64)[order],
            seconds=np.asarray([embedded - started, time.perf_counter() - started]),  # embedding, whole shard
        )
        return buffer.getvalue()


def _language_groups(candidates: np.ndarray, unique: Sequence[str], by_language: bool) -> list[np.ndarray]:
    """The candidates split by language (as the reduce clusters each language on its own), in index order."""
    if not by_language or not len(candidates):
        return [candidates] if len(candidates) else []
    from misattribution.runner import detect_language

    language = np.array([detect_language(unique[i]) for i in candidates])
    return [candidates[language == name] for name in sorted(set(language))]


def micro_cluster(vectors: np.ndarray, weights: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """At most ``budget`` micro-clusters of ``vectors`` (labels 0.., none empty): each vector its own when
    they fit, else a seeded, weighted MiniBatchKMeans.

    >>> micro_cluster(np.eye(3, dtype=np.float32), np.ones(3), budget=5, seed=0).tolist()
    [0, 1, 2]
    """
    n = len(vectors)
    if n <= budget:
        return np.arange(n, dtype=np.int64)
    from sklearn.cluster import MiniBatchKMeans

    model = MiniBatchKMeans(n_clusters=budget, random_state=seed, n_init=3, batch_size=2048)
    labels = model.fit_predict(vectors, sample_weight=weights)
    _, dense = np.unique(labels, return_inverse=True)  # drop empty clusters
    return dense.astype(np.int64)


# -- the driver side --------------------------------------------------------------------------------------
def sharded_clusters(
    rows: pd.DataFrame,
    *,
    engine: Any = None,
    shards: int = 2,
    micro_clusters: int | None = None,
    **cluster_options: Any,
) -> tuple:
    """The ``clusters_sharded`` issue source: ``(issues, assignments, meta)`` for IssueReport rows.

    Args:
        rows: IssueReport rows (:func:`misattribution.discovery.inputs.load_judged`).
        engine: maps the shards (:meth:`~misattribution.engines.Engine.map_shards`); default ``local``.
        shards: how many shards the distinct sentences are cut into (at most one per sentence).
        micro_clusters: micro-clusters kept per shard and language (default :data:`DEFAULT_MICRO_CLUSTERS`).
        **cluster_options: fields of :class:`~misattribution.discovery.pipeline.ClusterSettings`
            (``max_embedded`` is ignored: every sentence is embedded, on its shard).
    """
    from misattribution.discovery import cluster as clustering
    from misattribution.discovery import pipeline
    from misattribution.discovery.report import ASSIGNMENT_COLUMNS

    if engine is None:
        from misattribution.engines import get_engine

        engine = get_engine("local")
    budget = DEFAULT_MICRO_CLUSTERS if micro_clusters is None else int(micro_clusters)
    if budget < 1 or shards < 1:
        raise ValueError(f"shards and micro_clusters must be at least 1, got {shards} and {budget}")
    from misattribution.discovery.embed import choose_embedder, load_encoder

    settings = pipeline.ClusterSettings(**cluster_options)
    settings.check()
    # As the single-process path: "auto" resolved by the failing rows, the linkage cut of that embedder. The
    # driver's encoder object decides the cut (and BERTopic needs it); it embeds nothing here.
    model = choose_embedder(settings.embedding_model, int(rows["failing"].sum()))
    encoder = load_encoder(model)
    given = dataclasses.replace(settings, embedding_model=model)
    settings = pipeline.settings_for(encoder, given)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    sentences = pipeline.split_failing(rows, mask_question=settings.mask_question, core_clause=settings.core_clause)
    timings["split"] = time.perf_counter() - clock
    n_unique = len(sentences.unique)
    meta: dict[str, Any] = {
        "n_sentences": len(sentences.text),
        "n_unique_sentences": n_unique,
        "llm_calls": 0,
        "engine": engine.name,
        "micro_clusters_per_shard": budget,
        "linkage_distance": settings.linkage_distance,
        "lexical_weight": settings.lexical_weight,
    }
    if not n_unique:
        return [], pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS)), {**meta, "shards": 0, "timings": timings}

    # Shards: contiguous ranges of distinct sentences, each with its occurrences (texts for the lexical cues).
    clock = time.perf_counter()
    n_shards = min(shards, n_unique)
    bounds = np.linspace(0, n_unique, n_shards + 1).round().astype(np.int64)
    by_unique = np.argsort(sentences.inverse, kind="stable")
    cuts = np.searchsorted(sentences.inverse[by_unique], bounds)
    payloads, occurrences = [], []
    for s in range(n_shards):
        low, high = int(bounds[s]), int(bounds[s + 1])
        occ = by_unique[cuts[s] : cuts[s + 1]]
        occurrences.append(occ)
        payloads.append(
            json.dumps(
                {
                    "unique": sentences.unique[low:high],
                    "occurrence_text": [sentences.text[o] for o in occ],
                    "occurrence_unique": (sentences.inverse[occ] - low).tolist(),
                    # Kept: every sentence that may count once the driver knows each row's best (row_reach).
                    "threshold": settings.criticality_threshold - max(settings.row_reach, 0.0),
                    "budget": budget,
                    "seed": settings.seed,
                    "by_language": settings.by_language,
                },
                ensure_ascii=False,
            ).encode("utf-8")
        )
    worker_options = {"embedding_model": settings.embedding_model, "batch_size": settings.batch_size}
    results = engine.map_shards(ShardWorker, worker_options, payloads)
    timings["shards"] = time.perf_counter() - clock

    # Reduce: the micro-clusters of every shard, in sentence order.
    clock = time.perf_counter()
    semantic = np.empty(n_unique)
    scores = np.empty(len(sentences.text))
    micro_of = np.full(n_unique, -1, dtype=np.int64)
    centroids, exemplars, shard_seconds = [], [], []
    offset = 0
    for s, blob in enumerate(results):
        low, high = int(bounds[s]), int(bounds[s + 1])
        with np.load(io.BytesIO(blob), allow_pickle=False) as part:
            semantic[low:high] = part["semantic"]
            scores[occurrences[s]] = part["scores"]
            local = part["micro_of"]
            micro_of[low:high] = np.where(local >= 0, local + offset, -1)
            centroids.append(part["centroids"])
            exemplars.append(part["exemplars"] + low)
            offset += len(part["exemplars"])
            shard_seconds.append(part["seconds"])
    vectors = np.concatenate(centroids).astype(np.float32)
    exemplars = np.concatenate(exemplars).astype(np.int64)
    # Which occurrences count (as in the single process: above the threshold, and each clearly failing row's
    # best within row_reach of it); a micro-cluster weighs its counted occurrences, and one with none goes.
    critical = pipeline.critical_occurrences(
        scores,
        sentences.row,
        settings.criticality_threshold,
        settings.row_reach,
        eligible=pipeline.clearly_failing(rows),
    )
    counted = np.bincount(sentences.inverse[critical], minlength=n_unique).astype(float)
    placed = micro_of >= 0
    weights = np.bincount(micro_of[placed], weights=counted[placed], minlength=len(exemplars))
    keep = np.flatnonzero(weights > 0)
    renumber = np.full(len(exemplars) + 1, -1, dtype=np.int64)  # index -1 (the last) stays -1
    renumber[keep] = np.arange(len(keep))
    micro_of = renumber[micro_of]
    vectors, weights, exemplars = vectors[keep], weights[keep], exemplars[keep]
    n_micro = len(exemplars)
    # The micro-clusters move to the clustering space (Chinese by its characters, wording), fitted on the
    # exemplars: below the budget each micro-cluster is one critical sentence, so it is the single process's
    # space. (Above it, the shards grouped sentences by the encoder's vectors alone: an approximation.)
    texts = [sentences.unique[i] for i in exemplars]
    settings = pipeline.settings_for(encoder, given, n_sentences=n_micro)
    meta.update(linkage_distance=settings.linkage_distance, lexical_weight=settings.lexical_weight)
    space, vectors = pipeline.place_sentences(settings, texts, texts, vectors)
    meta.update(shards=n_shards, n_micro_clusters=n_micro, n_embedded=n_unique)
    # Worker seconds summed over the shards (without the engine's scheduling and the workers' start).
    embed_seconds, shard_seconds_total = (round(float(v), 3) for v in np.sum(shard_seconds, axis=0))
    meta["shard_seconds"] = {"embed": embed_seconds, "total": shard_seconds_total}

    labels_micro = np.full(n_micro, -1, dtype=np.int64)
    method = clustering.choose_method(n_micro, settings.fast)
    if n_micro:
        n_failing = int(rows["failing"].sum())
        min_rows = settings.min_rows if settings.min_rows is not None else max(3, round(0.005 * n_failing))
        row_sets = _micro_row_sets(sentences, micro_of, critical, n_micro)
        candidates = np.arange(n_micro)
        offset_label, methods = 0, []
        for part, part_settings in pipeline._language_parts(candidates, sentences, exemplars, settings, space=space):
            part_method = clustering.choose_method(len(part), settings.fast)
            methods.append(part_method)
            found = pipeline._cluster(
                vectors[part],
                weights[part],
                [sentences.unique[exemplars[i]] for i in part],
                encoder,
                part_settings,
                part_method,
                row_sets=[row_sets[i] for i in part],
                min_rows=min_rows,
            )
            labels_micro[part] = np.where(found >= 0, found + offset_label, -1)
            offset_label = int(labels_micro.max()) + 1
        method = "+".join(dict.fromkeys(methods))
    rare = bool(n_micro) and labels_micro.max() < 0
    if rare:
        labels_micro = pipeline._rare_groups(vectors, settings.max_issues)
        method = "rare"
    labels = np.where(micro_of >= 0, labels_micro[np.maximum(micro_of, 0)] if n_micro else -1, -1)
    occurrence_labels = np.where(critical, labels[sentences.inverse], -1)
    meta.update(method=method, n_critical=int(critical.sum()), n_clustered=n_micro)
    timings["reduce"] = time.perf_counter() - clock

    clock = time.perf_counter()
    issues, local_ids = pipeline._name_issues(
        sentences,
        exemplars,
        vectors,
        labels_micro,
        occurrence_labels,
        rows,
        criticality=semantic[exemplars],
        naming_distance=pipeline.NAMING_CUT * settings.linkage_distance,
    )
    for issue in issues:
        issue.rare = rare
    assignments = pipeline._assignments(rows, sentences, occurrence_labels, local_ids)
    timings["name"] = time.perf_counter() - clock
    meta["n_assigned_sentences"] = int((occurrence_labels >= 0).sum())
    return issues, assignments, {**meta, "timings": timings}


def _micro_row_sets(sentences: Any, micro_of: np.ndarray, critical: np.ndarray, n_micro: int) -> list[np.ndarray]:
    """For each micro-cluster: the rows where one of its sentences occurs as a critical sentence."""
    occ = np.flatnonzero(critical)
    micro = micro_of[sentences.inverse[occ]]
    kept = micro >= 0
    pairs = np.unique(np.stack([micro[kept], sentences.row[occ][kept]], axis=1), axis=0)
    splits = np.searchsorted(pairs[:, 0], np.arange(1, n_micro)) if len(pairs) else np.zeros(n_micro - 1, int)
    return (
        [np.asarray(p, dtype=np.int64) for p in np.split(pairs[:, 1], splits)]
        if len(pairs)
        else [np.zeros(0, dtype=np.int64) for _ in range(n_micro)]
    )


def discover_sharded(
    engine: Any,
    source: Any,
    *,
    mode: str | Sequence[str] = "clusters",
    shards: int = 2,
    micro_clusters: int | None = None,
    mode_options: dict[str, dict[str, Any]] | None = None,
    **options: Any,
):
    """:func:`~misattribution.discovery.pipeline.discover` with the ``clusters`` mode run sharded on
    ``engine`` (the other modes, the tree, statistics and summary as in a single-process run).

    ``options`` are :func:`~misattribution.discovery.pipeline.discover`'s; its clustering arguments
    (``embedding_model``, ``seed``, ``min_issues``, ``max_issues``, ``fast``, ``progress``, any other
    :class:`~misattribution.discovery.pipeline.ClusterSettings` field) and the ``clusters`` mode options
    reach the sharded mode.
    """
    from misattribution.discovery.pipeline import discover

    modes = [m.strip() for m in (mode.split("+") if isinstance(mode, str) else mode) if m.strip()]
    chosen = dict(mode_options or {})
    if "clusters" in modes:
        modes = [MODE if m == "clusters" else m for m in modes]
        # discover()'s clustering arguments and any ClusterSettings field given as a keyword (as discover takes
        # them for the clusters mode) reach the sharded mode.
        from misattribution.discovery.pipeline import ClusterSettings

        shared = {k: v for k, v in options.items() if k in {f.name for f in fields(ClusterSettings)}}
        chosen[MODE] = {
            **chosen.pop("clusters", {}),
            **shared,
            "engine": engine,
            "shards": shards,
            "micro_clusters": micro_clusters,
        }
    with _registered():
        report = discover(source, mode=modes, mode_options=chosen, **options)
    if MODE in modes:  # the clustering counts at the top of meta, where a clusters run has them
        sharded = report.meta.get("sources", {}).get(MODE, {})
        report.meta.update({k: v for k, v in sharded.items() if k not in ("timings", "llm_calls")})
        report.meta["model"] = options.get("embedding_model", chosen[MODE].get("embedding_model"))
    return report


@contextlib.contextmanager
def _registered() -> Iterator[None]:
    """The mode registered while an engine's discover runs, and only then: it takes an engine object, so the
    CLI's mode list and the Space's menu, which read the registry, never offer it on its own."""
    from misattribution.discovery.modes._base import MODES

    added = MODE not in MODES
    if added:
        _register()
    try:
        yield
    finally:
        if added:
            MODES.pop(MODE, None)


def _register() -> None:
    from misattribution.discovery.modes._base import ModeOption, register_mode
    from misattribution.discovery.modes.clusters import OPTIONS as CLUSTER_OPTIONS
    from misattribution.discovery.pipeline import ClusterSettings

    declared = {o.name for o in CLUSTER_OPTIONS}
    # discover()'s own clustering arguments, which the clusters mode gets through ClusterSettings.
    passed = [
        ModeOption(f.name, object, None, f"discover()'s {f.name}", cli=False)
        for f in fields(ClusterSettings)
        if f.name not in declared
    ]
    register_mode(
        MODE,
        sharded_clusters,
        options=[
            *CLUSTER_OPTIONS,
            *passed,
            ModeOption("shards", int, 2, "shards the distinct sentences are cut into", cli=False),
            ModeOption(
                "micro_clusters", int, DEFAULT_MICRO_CLUSTERS, "micro-clusters kept per shard and language", cli=False
            ),
            ModeOption("engine", object, None, "the engine mapping the shards (default: local)", cli=False),
        ],
        help="the clusters mode with embedding, criticality and micro-clustering shard by shard (an engine's)",
        requires=("sentence_transformers", "sklearn"),
    )
