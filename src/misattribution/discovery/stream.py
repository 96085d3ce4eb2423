"""Discovery at a million rows: streamed input, batched stages, sample clustering, batched assignment.

The ``"clusters"`` mode (:func:`.pipeline.discover_clusters`) hands its work to
:func:`discover_clusters_streamed` when the embedder is the static one (:mod:`.embed`) and more than
:data:`STREAM_ABOVE` rows fail. Same contract (``(issues, assignments, meta)``), same building blocks
(:func:`.pipeline.split_failing`, :class:`.sentences.CriticalityScorer`, :func:`.pipeline._cluster`,
:func:`.pipeline._name_issues`), but memory and time stay linear and bounded:

1. **split** (batches of :data:`BATCH_ROWS` failing rows): sentences and masked forms, made distinct
   across batches; question-specific words are counted per batch (rows are assumed in no particular
   order); then **lexical**: each distinct sentence text's lexical criticality
   (:meth:`~.sentences.CriticalityScorer.lexical`) once, in chunks of :data:`LEXICAL_CHUNK` (judges
   repeat sentences across rows: 1.78M sentences of 1M planted rows are 165k distinct texts). Both run on
   one spawned process per core (at most :data:`MAX_WORKERS`) when there are three batches or more;
2. **embed** (batches of distinct sentences): vectors and the semantic criticality; only the vectors of
   distinct sentences with a critical occurrence are kept, as float16 (1M rows: ~0.4 GB);
3. **cluster**: a seeded sample of at most ``max_embedded`` critical sentences is clustered exactly as
   the in-memory path does (language parts, average linkage over KMeans micro-clusters, merges, bounds;
   the recurrence threshold scaled to the sample's share of critical occurrences);
4. **assign** (batches): every other critical sentence joins its nearest issue centroid when at least as
   similar as the issue's own sample members mostly are (its :data:`ASSIGN_QUANTILE` quantile of
   member-to-centroid cosine), else no issue; issues left under the recurrence threshold are dropped;
5. **name** from the sample (the most central sampled sentences), the evidence from every occurrence.

Each stage shows a progress bar on stderr (``progress=True``); ``meta["timings"]`` has each stage's
seconds and ``meta["peak_rss_mb"]`` the process's peak resident memory after each stage.

:func:`iter_judged_batches` / :func:`load_judged_streamed` read a Parquet file in record batches
(pyarrow), each normalised by :func:`.inputs.load_judged` with the scale inferred once over the whole
score column, so a 1M-row file never exists twice in memory. ``benchmarks/bench_discovery_1m.py`` measures
the lot.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Above this many failing rows, the ``"clusters"`` mode with the static embedder takes the streamed path.
STREAM_ABOVE = 50_000
#: A Parquet input of more rows than this is read in record batches (:func:`load_judged_streamed`).
READ_STREAM_ABOVE = 200_000
#: Failing rows split per batch; distinct sentences embedded per batch is 2x this.
BATCH_ROWS = 50_000
#: Processes for the split stage of a large input (one per core, at most this many).
MAX_WORKERS = 2
#: A sentence joins an issue when its cosine to the issue's centroid reaches this quantile of the issue's
#: sampled members' cosines.
ASSIGN_QUANTILE = 0.05


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (MB; ``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wants_stream(rows: pd.DataFrame, model: str) -> bool:
    """Whether :func:`.pipeline.discover_clusters` should take the streamed path: the static embedder
    (``model`` names it, :func:`.embed.is_static_name`) and more than :data:`STREAM_ABOVE` failing rows.
    Decided before anything is split or loaded."""
    from misattribution.discovery.embed import is_static_name

    return int(rows["failing"].sum()) > STREAM_ABOVE and is_static_name(model)


def _bar(total: int, desc: str, enabled: bool, unit: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, leave=False, mininterval=1)


# -- streamed input -------------------------------------------------------------------------------------
def _is_parquet(source: Any) -> bool:
    return isinstance(source, (str, Path)) and str(source).lower().endswith(".parquet") and Path(source).is_file()


def iter_judged_batches(
    source: str | Path,
    *,
    batch_rows: int = 100_000,
    columns: Mapping[str, str] | None = None,
    score_range: tuple[float, float] | None = None,
    fail_below: float | None = None,
    system: str | None = None,
) -> Iterator[pd.DataFrame]:
    """IssueReport rows of a Parquet file, ``batch_rows`` at a time, each through :func:`.inputs.load_judged`.

    Without ``score_range`` the scale is inferred once, over the whole score column (read alone first), so
    every batch is normalised alike. Without an id column a row's id is its position in the file, as
    :func:`.inputs.load_judged` numbers them. Ids are checked unique across batches; an error in a batch
    names the file and the batch's rows (``InputError``).
    """
    import pyarrow.parquet as pq

    from misattribution.discovery.inputs import ROLES, InputError, load_judged

    path = Path(source)
    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    chosen = dict(columns or {})
    id_column = chosen.get("id") or next((c for c in ROLES["id"] if c in names), None)
    if score_range is None:
        score_range = _whole_score_range(parquet, chosen, names, label=str(path))
    seen: set[str] = set()
    offset = 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        frame = batch.to_pandas()
        # Python strings: load_judged walks the text columns value by value, 1.7x faster than over Arrow's.
        frame = frame.astype({c: object for c in frame.columns if pd.api.types.is_string_dtype(frame[c])})
        try:
            rows = load_judged(frame, columns=columns, score_range=score_range, fail_below=fail_below, system=system)
        except (InputError, ValueError) as err:
            detail = str(err).replace("<DataFrame>: ", "")
            raise InputError(
                f"{path}: in rows {offset + 1}-{offset + len(frame)} (rows counted in the batch): {detail}"
            ) from None
        if id_column is None:
            rows["row_id"] = [str(offset + k) for k in range(len(rows))]
        else:
            ids = rows["row_id"].tolist()
            repeated = next((k for k, i in enumerate(ids) if i in seen), None)
            if repeated is not None:
                raise InputError(
                    f"{path}: row {offset + repeated + 1}: field {id_column}: duplicate id {ids[repeated]!r} "
                    "(ids must be unique)"
                )
            seen.update(ids)
        offset += len(frame)
        rows.attrs["format"] = "parquet"
        yield rows


def _whole_score_range(parquet: Any, columns: Mapping[str, str], names: list[str], label: str) -> Any:
    """The scale :func:`.inputs.load_judged` infers for the whole file, from its score column alone (or
    ``None`` when the file has no score column: the first batch's load_judged then names what is missing)."""
    from misattribution.discovery.inputs import ROLES, InputError, load_judged

    score_column = columns.get("score") or next((c for c in (*ROLES["score"], "clear_score") if c in names), None)
    if score_column is None or score_column not in names:
        return None
    scores = parquet.read(columns=[score_column]).column(0).to_pandas()
    # the feedback is a stand-in: only the scores are read here (a column of no text at all is refused)
    probe = pd.DataFrame({"row_id": np.arange(len(scores)).astype(str), "feedback": "-", score_column: scores})
    try:
        rows = load_judged(probe, columns={"id": "row_id", "feedback": "feedback", "score": score_column})
    except (InputError, ValueError) as err:
        raise InputError(f"{label}: {str(err).replace('<DataFrame>: ', '')}") from None
    return tuple(rows.attrs["score_range"])


def load_judged_streamed(source: Any, **options: Any) -> pd.DataFrame:
    """:func:`.inputs.load_judged` for any source; a Parquet file of more than :data:`READ_STREAM_ABOVE`
    judged rows is read in record batches (:func:`iter_judged_batches`) so its raw table and its rows are
    never both whole in memory. Smaller files, and IssueReport rows (``score_norm`` and ``failing``
    already there), go to :func:`.inputs.load_judged` whole."""
    from misattribution.discovery.inputs import load_judged

    batch_rows = options.pop("batch_rows", 100_000)
    if not _is_parquet(source):
        return load_judged(source, **options)
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
    except Exception:  # noqa: BLE001 - not readable as Parquet: load_judged names the problem
        return load_judged(source, **options)
    if parquet.metadata.num_rows <= READ_STREAM_ABOVE or {"score_norm", "failing"} <= set(parquet.schema_arrow.names):
        return load_judged(source, **options)
    parts = list(iter_judged_batches(source, batch_rows=batch_rows, **options))
    if not parts:
        return load_judged(source, **options)
    rows = pd.concat(parts, ignore_index=True)
    rows.attrs = dict(parts[0].attrs)
    rows.attrs["n_null_scores"] = sum(int(p.attrs.get("n_null_scores", 0)) for p in parts)
    return rows


# -- split, then lexical criticality of the distinct texts, in this process or on workers -----------------
_STATE: dict[str, Any] = {}
#: Distinct sentence texts scored per task of the lexical stage.
LEXICAL_CHUNK = 20_000


def _workers(n_failing: int, batch_rows: int) -> int:
    """Processes for the split stage: one per core (at most :data:`MAX_WORKERS`) when there are at least
    three batches, else none (this process)."""
    if n_failing < 3 * batch_rows:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def _init_worker(scorer: Any) -> None:
    _STATE["scorer"] = scorer


def _split_batch(part: pd.DataFrame, options: tuple[bool, bool]) -> tuple:
    """One batch: its sentences (row positions in ``part``, texts, distinct masked forms, occurrence → form)."""
    from misattribution.discovery.pipeline import split_failing

    # Python strings: reading Arrow-backed cells one by one costs ~10x more.
    part = part.astype({c: object for c in part.columns if pd.api.types.is_string_dtype(part[c])})
    mask_question, core_clause = options
    found = split_failing(part, mask_question=mask_question, core_clause=core_clause)
    return found.row, found.text, found.unique, found.inverse


def _lexical_chunk(texts: list[str]) -> np.ndarray:
    """The lexical criticality (:meth:`~.sentences.CriticalityScorer.lexical`) of distinct texts."""
    return _STATE["scorer"].lexical(texts)


class _Pool:
    """Runs tasks in order of submission, on spawned processes (``workers > 1``, each holding the scorer) or
    in this process; at most two tasks per worker in flight, so an input is never pickled whole."""

    def __init__(self, scorer: Any, workers: int) -> None:
        self.scorer, self.workers, self.executor = scorer, workers, None

    def __enter__(self) -> _Pool:
        if self.workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("spawn")  # no fork of a process holding threads (BLAS)
            self.executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_init_worker, initargs=(self.scorer,)
            )
        else:
            _init_worker(self.scorer)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
        _STATE.clear()

    def ordered(self, function: Any, tasks: Iterator[tuple[Any, tuple]]) -> Iterator[tuple[Any, Any]]:
        """``(key, function(*args))`` for each ``(key, args)`` of ``tasks``, in their order."""
        if self.executor is None:
            for key, args in tasks:
                yield key, function(*args)
            return
        from collections import deque

        pending: deque = deque()
        for key, args in tasks:
            pending.append((key, self.executor.submit(function, *args)))
            if len(pending) >= 2 * self.workers:
                key, future = pending.popleft()
                yield key, future.result()
        while pending:
            key, future = pending.popleft()
            yield key, future.result()


# -- the streamed clusters source -----------------------------------------------------------------------
def discover_clusters_streamed(rows: pd.DataFrame, settings: Any, encoder: Any, batch_rows: int | None = None) -> tuple:
    """The ``"clusters"`` issue source in batches (see the module docstring): ``(issues, assignments, meta)``."""
    from misattribution.discovery import cluster as clustering
    from misattribution.discovery import pipeline
    from misattribution.discovery.embed import embed
    from misattribution.discovery.report import ASSIGNMENT_COLUMNS
    from misattribution.discovery.sentences import criticality_scorer

    batch_rows = int(batch_rows or BATCH_ROWS)
    given = settings
    settings = pipeline.settings_for(encoder, given)  # the cut and the wording's weight are per embedder
    timings: dict[str, float] = {}
    peaks: dict[str, float] = {}
    progress = bool(settings.progress)
    scorer = criticality_scorer(encoder)

    # 1. split, batch by batch of failing rows; then the lexical criticality of each distinct text once
    # (both on worker processes when large: one per core)
    clock = time.perf_counter()
    failing = np.flatnonzero(rows["failing"].to_numpy(dtype=bool))
    index: dict[str, int] = {}
    unique: list[str] = []
    row_parts: list[np.ndarray] = []
    inverse_parts: list[np.ndarray] = []
    texts: list[str] = []
    columns = [c for c in ("failing", "feedback", "question") if c in rows.columns]
    options = (settings.mask_question, settings.core_clause)
    parts = (
        (failing[a : a + batch_rows], (rows.iloc[failing[a : a + batch_rows]][columns], options))
        for a in range(0, len(failing), batch_rows)
    )
    workers = _workers(len(failing), batch_rows)
    with _Pool(scorer, workers) as pool:
        with _bar(len(failing), "split", progress, "rows") as bar:
            for positions, (local_rows, found_texts, found_unique, found_inverse) in pool.ordered(_split_batch, parts):
                codes = np.empty(len(found_unique), dtype=np.int64)
                for k, text in enumerate(found_unique):
                    code = index.get(text)
                    if code is None:
                        code = index[text] = len(unique)
                        unique.append(text)
                    codes[k] = code
                row_parts.append(positions[local_rows])
                inverse_parts.append(codes[found_inverse])
                texts += found_texts
                bar.update(len(positions))
        del index
        timings["split"] = time.perf_counter() - clock
        peaks["split"] = peak_rss_mb()
        # Judges repeat sentences across rows and batches: each distinct text is scored once, in chunks.
        clock = time.perf_counter()
        text_codes, distinct_texts = pd.factorize(pd.Series(texts, dtype=object), sort=False)
        chunks = (
            (start, ([str(t) for t in distinct_texts[start : start + LEXICAL_CHUNK]],))
            for start in range(0, len(distinct_texts), LEXICAL_CHUNK)
        )
        lexical_distinct = np.zeros(len(distinct_texts))
        with _bar(len(distinct_texts), "lexical", progress, "sentences") as bar:
            for start, values in pool.ordered(_lexical_chunk, chunks):
                lexical_distinct[start : start + len(values)] = values
                bar.update(len(values))
    lexical = lexical_distinct[text_codes]
    n_distinct_texts = len(distinct_texts)
    del text_codes, distinct_texts, lexical_distinct
    sentences = pipeline._Sentences(
        row=np.concatenate(row_parts) if row_parts else np.zeros(0, dtype=np.int64),
        text=texts,
        unique=unique,
        inverse=np.concatenate(inverse_parts) if inverse_parts else np.zeros(0, dtype=np.int64),
    )
    del row_parts, inverse_parts
    timings["lexical"] = time.perf_counter() - clock  # its memory: the split's peak, or the embed stage's
    n_unique = len(unique)
    meta: dict[str, Any] = {
        "n_sentences": len(texts),
        "n_unique_sentences": n_unique,
        "llm_calls": 0,
        "streamed": True,
        "split_workers": workers,
        "n_distinct_texts": n_distinct_texts,
        "linkage_distance": settings.linkage_distance,
        "lexical_weight": settings.lexical_weight,
    }
    empty = ([], pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS)), {**meta, "timings": timings})
    if not n_unique:
        return empty

    # 2. embed every distinct sentence in batches; keep the vectors of the critical ones (float16)
    clock = time.perf_counter()
    # A failing row without a critical sentence may count its most critical one when it scores within
    # ``row_reach`` of the threshold (pipeline.critical_occurrences, when the settings have it): the vectors
    # kept are those that may be critical, and the ones that are not are let go once the rows are known.
    reach = float(getattr(settings, "row_reach", 0.0) or 0.0)
    best_lexical = np.full(n_unique, -np.inf)
    np.maximum.at(best_lexical, sentences.inverse, lexical)
    semantic = np.empty(n_unique)
    kept_ids: list[np.ndarray] = []
    kept_vectors: list[np.ndarray] = []
    step = 2 * batch_rows
    with _bar(n_unique, "embed", progress, "sentences") as bar:
        for start in range(0, n_unique, step):
            batch = unique[start : start + step]
            vectors = embed(batch, encoder, batch_size=max(settings.batch_size, 1024))
            semantic[start : start + len(batch)] = scorer.semantic(vectors, batch)
            chosen = np.flatnonzero(
                semantic[start : start + len(batch)] + best_lexical[start : start + len(batch)]
                > settings.criticality_threshold - reach
            )
            kept_ids.append(chosen + start)
            kept_vectors.append(vectors[chosen].astype(np.float16))
            bar.update(len(batch))
    candidates_all = np.concatenate(kept_ids)  # distinct sentences with a critical occurrence, ascending
    stored = np.concatenate(kept_vectors) if kept_vectors else np.zeros((0, 1), dtype=np.float16)
    del kept_ids, kept_vectors
    scores = semantic[sentences.inverse] + lexical
    del lexical
    if reach > 0:
        critical = pipeline.critical_occurrences(
            scores, sentences.row, settings.criticality_threshold, reach, eligible=pipeline.clearly_failing(rows)
        )
        has_critical = np.zeros(n_unique, dtype=bool)
        has_critical[sentences.inverse[critical]] = True
        if not has_critical[candidates_all].all():
            stored = stored[has_critical[candidates_all]]
            candidates_all = candidates_all[has_critical[candidates_all]]
        del has_critical
    else:
        critical = scores > settings.criticality_threshold
    del scores
    timings["embed"] = time.perf_counter() - clock
    peaks["embed"] = peak_rss_mb()
    meta["n_embedded"] = n_unique
    meta["n_critical"] = int(critical.sum())

    # 3. cluster a seeded sample of the critical sentences, as the in-memory path does
    clock = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    limit = settings.max_embedded or len(candidates_all)
    if len(candidates_all) > limit:
        pick = np.sort(rng.choice(len(candidates_all), size=limit, replace=False))
    else:
        pick = np.arange(len(candidates_all))
    embedded = candidates_all[pick]  # ids of the sampled distinct sentences
    vectors = stored[pick].astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    # the clustering space (Chinese by its characters, wording), fitted as the in-memory path fits it
    sample_texts = [unique[i] for i in embedded]
    settings = pipeline.settings_for(encoder, given, n_sentences=len(embedded))
    meta.update(linkage_distance=settings.linkage_distance, lexical_weight=settings.lexical_weight)
    space, vectors = pipeline.place_sentences(settings, sample_texts, sample_texts, vectors)
    weights_all = np.bincount(sentences.inverse[critical], minlength=n_unique)
    weights = weights_all[embedded].astype(float)
    n_failing = len(failing)
    min_rows = settings.min_rows if settings.min_rows is not None else max(3, round(0.005 * n_failing))
    sampled_share = float(weights.sum()) / max(float(weights_all.sum()), 1.0)
    min_rows_sample = max(3, int(np.floor(min_rows * sampled_share)))
    labels_sample = np.full(len(embedded), -1, dtype=np.int64)
    candidates = np.arange(len(embedded))
    offset, methods = 0, []
    for part, part_settings in pipeline._language_parts(candidates, sentences, embedded, settings, space=space):
        part_method = clustering.choose_method(len(part), settings.fast)
        methods.append(part_method)
        found = pipeline._cluster(
            vectors[part],
            weights[part],
            [sentences.unique[embedded[i]] for i in part],
            encoder,
            part_settings,
            part_method,
            row_sets=pipeline._row_sets(sentences, embedded[part], critical),
            min_rows=min_rows_sample,
        )
        labels_sample[part] = np.where(found >= 0, found + offset, -1)
        offset = int(labels_sample.max()) + 1
    method = "+".join(dict.fromkeys(methods)) or "linkage"
    rare = bool(len(candidates)) and labels_sample.max() < 0
    if rare:
        labels_sample[:] = pipeline._rare_groups(vectors, settings.max_issues)
        method = "rare"
    timings["cluster"] = time.perf_counter() - clock
    peaks["cluster"] = peak_rss_mb()

    # 4. every other critical sentence: nearest issue centroid, within the issue's own radius
    clock = time.perf_counter()
    labels = np.full(n_unique, -1, dtype=np.int64)
    labels[embedded] = labels_sample
    if labels_sample.max() >= 0:
        cents = clustering.centroids(vectors, labels_sample)
        radius = np.array(
            [
                np.quantile(vectors[labels_sample == c] @ cents[c], ASSIGN_QUANTILE)
                for c in range(int(labels_sample.max()) + 1)
            ]
        )
        rest = np.setdiff1d(np.arange(len(candidates_all)), pick, assume_unique=True)
        with _bar(len(rest), "assign", progress, "sentences") as bar:
            for start in range(0, len(rest), step):
                chunk = rest[start : start + step]
                block = stored[chunk].astype(np.float32)
                block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
                if space is not None:
                    block = space.apply([unique[i] for i in candidates_all[chunk]], block)
                similarity = block @ cents.T
                nearest = similarity.argmax(axis=1)
                close = similarity[np.arange(len(chunk)), nearest] >= radius[nearest]
                labels[candidates_all[chunk]] = np.where(close, nearest, -1)
                bar.update(len(chunk))
    del stored
    occurrence_labels = np.where(critical, labels[sentences.inverse], -1)
    if not rare and occurrence_labels.max() >= 0:
        # The recurrence threshold, now over every row: an issue in fewer rows is not recurring.
        kept = occurrence_labels >= 0
        pairs = np.unique(np.stack([occurrence_labels[kept], sentences.row[kept]]), axis=1)
        n_rows = np.bincount(pairs[0], minlength=int(labels_sample.max()) + 1)
        if (n_rows < min_rows).any():
            # Relabel the issues kept 0.. in their order; the dropped ones become noise.
            mapping = np.where(n_rows >= min_rows, np.cumsum(n_rows >= min_rows) - 1, -1)
            occurrence_labels = np.where(occurrence_labels >= 0, mapping[np.maximum(occurrence_labels, 0)], -1)
            labels_sample = np.where(labels_sample >= 0, mapping[np.maximum(labels_sample, 0)], -1)
        meta["n_issues_below_min_rows"] = int((n_rows < min_rows).sum())
    timings["assign"] = time.perf_counter() - clock
    peaks["assign"] = peak_rss_mb()
    meta.update(method=method, n_clustered=len(embedded), n_critical_distinct=len(candidates_all))

    # 5. names from the sample, evidence from every occurrence
    clock = time.perf_counter()
    issues, local_ids = pipeline._name_issues(
        sentences,
        embedded,
        vectors,
        labels_sample,
        occurrence_labels,
        rows,
        criticality=semantic[embedded],
        naming_distance=pipeline.NAMING_CUT * settings.linkage_distance,
    )
    for issue in issues:
        issue.rare = rare
    assignments = pipeline._assignments(rows, sentences, occurrence_labels, local_ids)
    timings["name"] = time.perf_counter() - clock
    peaks["name"] = peak_rss_mb()
    meta["n_assigned_sentences"] = int((occurrence_labels >= 0).sum())
    meta["peak_rss_mb"] = {k: round(v) for k, v in peaks.items()}
    return issues, assignments, {**meta, "timings": timings}
