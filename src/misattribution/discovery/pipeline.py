"""``discover``: judged rows → an :class:`~misattribution.discovery.report.IssueReport`, with no LLM call.

The built-in mode, ``"clusters"``, runs these steps on the feedback of the failing rows:

1. **split** each critique into sentences and claims (:func:`.sentences.split_sentences`), mask what
   is specific to the row's question (:func:`.sentences.abstract_sentence`) and keep the clause that
   names the problem, not its consequence (:func:`core_of`; the evidence keeps the whole sentence);
2. **embed** each distinct masked sentence once (:func:`.embed.embed`; default all-MiniLM-L6-v2, offline);
3. keep the **critical** ones (:class:`.sentences.CriticalityScorer`: a logistic regression over the
   embedding and lexical cues, fitted on built-in example remarks);
4. **cluster** them (:mod:`.cluster`: average linkage cut at a cosine distance, so the number of issues
   follows the data; ``fast=True`` PCA + KMeans with the count chosen by silhouette, ``fast=False``
   BERTopic), merge near-duplicates, bound the number of issues;
5. **name** each issue after the most central sentence whose noun-phrase name passes the naming rules
   (:mod:`.naming`), with c-TF-IDF keywords; ``name_with=`` a judge renames them (K + 1 calls at most);
6. **map** every row to every issue one of its sentences falls in (the sentences are the ``evidence``),
   and compute the statistics with :func:`.report.compute_statistics`.

Past ``max_embedded`` distinct sentences (100,000-row inputs), a seeded sample is embedded and clustered
and the other sentences get their issue (or none) from a linear TF-IDF classifier trained on the sample.

Other modes are plug-ins, one module each in :mod:`misattribution.discovery.modes` (``rules``, ``static``,
``task``, ``kpa``, ``clear``; ``clusters`` too), registered with their declared options by
:func:`~.modes.register_mode` and imported on first use: ``discover(rows, mode="clusters+static")`` runs
both and pools their issues, ``mode_options={"static": {...}}`` gives each its options (checked against
its declaration before anything runs; ``meta["llm_calls"]`` is added up). Or pass callables
``rows -> (issues, assignments[, meta])`` once with ``extra_issue_sources=[...]``.

Example (needs the encoder; the unit tests run it)::

    report = discover("judged.jsonl", max_issues=10)
    print(report.table()[["name", "count", "share", "impact"]])
    report.save("issues_bundle/")
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery import cluster as clustering
from misattribution.discovery import naming
from misattribution.discovery.embed import (
    CHARACTER_LINKAGE_DISTANCE,
    DEFAULT_MODEL,
    SentenceSpace,
    choose_embedder,
    embed,
    load_encoder,
    sentence_space,
)
from misattribution.discovery.modes._base import (  # noqa: F401 - MODES and register_mode are re-exported
    MODES,
    ModeResult,
    check_mode_options,
    get_mode,
    register_mode,
)
from misattribution.discovery.report import ASSIGNMENT_COLUMNS, Issue, IssueReport, compute_statistics, issue_id
from misattribution.discovery.sentences import (
    _WORD,
    CriticalityScorer,
    abstract_sentence,
    content_words,
    criticality_scorer,
    split_sentences,
)
from misattribution.discovery.stream import discover_clusters_streamed, load_judged_streamed, wants_stream

logger = logging.getLogger(__name__)

IssueSource = Callable[..., tuple]


# -- settings -------------------------------------------------------------------------------------------
@dataclass
class ClusterSettings:
    """The knobs of the ``"clusters"`` mode (all recorded in the report's meta).

    ``merge_threshold``: centroid cosine above which two issues merge; ``linkage_distance``: the default
    clusterer's cut (average cosine distance; lower gives more, finer issues); ``outlier_similarity``: HDBSCAN
    noise joins its nearest issue above it; ``min_rows``: an issue needs this many rows (default
    max(3, 0.5% of the failing rows)); ``criticality_threshold``: log-odds above which a sentence is
    critical; ``row_reach``: a clearly failing row (:func:`clearly_failing`) with no critical sentence
    counts its most critical one if it scores within this of the threshold (:func:`critical_occurrences`;
    0 turns it off);
    ``choose_k``: the fast path picks its cluster count by silhouette (else ~sqrt(n / 2));
    ``mask_question``: mask the row's question words before embedding; ``core_clause``: embed a
    sentence without its trailing consequence (:func:`core_of`); ``by_language``: cluster each language
    on its own (:func:`_language_parts`); ``characters``: with ``by_language``, Chinese sentences are
    embedded by their characters (:class:`~.embed.CharacterSpace`, cut at
    :data:`~.embed.CHARACTER_LINKAGE_DISTANCE`), not by the encoder, which does not know Chinese;
    ``lexical_weight``: the share of a sentence's similarity that comes from its wording (character
    n-grams, :class:`~.embed.SentenceSpace`); ``None``: :data:`~.embed.LEXICAL_WEIGHT` with a sentence
    encoder and the default clusterer, else 0 (:func:`~.cluster.lexical_weight_for`), 0 turns it off;
    ``max_embedded``: distinct
    sentences embedded at most, the rest classified (``None``: embed all); ``contrast``: drop the issues at
    least as common among passing rows as among failing ones (:mod:`.contrast`).
    """

    embedding_model: str = DEFAULT_MODEL
    seed: int = 0
    min_issues: int = 3
    max_issues: int = 15
    fast: bool | None = None
    merge_threshold: float = 0.8
    linkage_distance: float = clustering.LINKAGE_DISTANCE
    outlier_similarity: float = 0.5
    min_rows: int | None = None
    criticality_threshold: float = 0.0
    row_reach: float = 0.75  # also the static / task modes' default (modes.static.ROW_REACH)
    choose_k: bool = True
    mask_question: bool = True
    core_clause: bool = True
    by_language: bool = True
    characters: bool = True
    lexical_weight: float | None = None
    max_embedded: int | None = 20_000
    batch_size: int = 64
    devices: list[str] | None = None
    progress: bool = True
    contrast: bool = True

    def check(self) -> None:
        if self.min_issues < 0 or self.max_issues < 1 or self.min_issues > self.max_issues:
            raise ValueError(
                f"need 0 <= min_issues <= max_issues and max_issues >= 1, got {self.min_issues}, {self.max_issues}"
            )
        if not 0 < self.merge_threshold <= 1:
            raise ValueError(f"merge_threshold must be in (0, 1], got {self.merge_threshold}")
        if not 0 < self.linkage_distance < 2:
            raise ValueError(f"linkage_distance must be in (0, 2), got {self.linkage_distance}")
        if self.lexical_weight is not None and not 0 <= self.lexical_weight < 1:
            raise ValueError(f"lexical_weight must be in [0, 1), got {self.lexical_weight}")
        if self.max_embedded is not None and self.max_embedded < 100:
            raise ValueError(f"max_embedded must be at least 100 (or None), got {self.max_embedded}")


@dataclass
class _Sentences:
    """Every kept sentence occurrence of the failing rows, and its distinct masked form."""

    row: np.ndarray  # position of the row in ``rows``
    text: list[str]  # as split from the feedback (the evidence)
    unique: list[str]  # distinct masked texts
    inverse: np.ndarray  # occurrence → index in ``unique``


# -- discover -------------------------------------------------------------------------------------------
def discover(
    source: Any,
    *,
    mode: str | Sequence[str] = "clusters",
    embedding_model: str = DEFAULT_MODEL,
    seed: int = 0,
    max_issues: int = 15,
    min_issues: int = 3,
    fail_below: float | None = None,
    fast: bool | None = None,
    progress: bool = True,
    columns: Mapping[str, str] | None = None,
    score_range: tuple[float, float] | None = None,
    system: str | None = None,
    devices: Sequence[str] | None = None,
    extra_issue_sources: Iterable[IssueSource] = (),
    mode_options: Mapping[str, Mapping[str, Any]] | None = None,
    taxonomy: Any = None,
    tree: bool = True,
    previous: Any = None,
    name_with: Any = None,
    **cluster_options: Any,
) -> IssueReport:
    """Find the recurring issues in judged results and quantify them; no LLM call in ``"clusters"`` mode.

    Args:
        source: judged results (anything :func:`.inputs.load_judged` reads) or IssueReport rows.
        mode: a mode of :mod:`.modes` (``"clusters"``, ``"rules"``, ``"static"``, ``"task"``, ``"kpa"``,
            ``"clear"``) or another registered one; several joined by ``+`` or as a list.
        embedding_model: sentence-transformers model name or path (default all-MiniLM-L6-v2, offline).
        seed: seeds PCA, KMeans, UMAP, sampling and the bootstrap; same input + seed → same report.
        max_issues, min_issues: bounds on the number of cluster issues.
        fail_below: a row fails when ``score_norm`` is below it (default: below the top score).
        fast: ``None`` (default) average linkage, ``True`` PCA + KMeans, ``False`` BERTopic (see :mod:`.cluster`).
        progress: show the embedding progress bar.
        columns, score_range, system: passed to :func:`.inputs.load_judged`.
        devices: encode on several processes, e.g. ``["cuda:0", "cuda:1"]``.
        extra_issue_sources: more callables ``rows -> (issues, assignments[, meta])``, pooled.
        mode_options: options per mode, as each declares them (:func:`.modes.list_modes`), e.g.
            ``{"rules": {"detectors": [...]}, "kpa": {"endpoint": "http://localhost:8000/v1"}}``.
        taxonomy: the taxonomy whose categories form the upper levels of the issue tree (a
            :class:`~misattribution.taxonomy.Taxonomy`, a shipped name or a YAML path; default: the
            default taxonomy). See :mod:`.tree`.
        tree: build the issue tree (``False``: a flat list of issues, no category nodes).
        previous: an earlier report (an :class:`IssueReport` or its bundle folder): the same issues keep
            its ids, new ones are marked, vanished ones listed in ``meta["identity"]``
            (:func:`.align.align_reports`).
        name_with: a judge (or a spec for :func:`misattribution.judges.load_judge`) that renames the
            cluster issues from their evidence (:func:`.naming.name_issues_with_llm`: at most K + 1
            calls for K issues, cached); ids stay those of the LLM-free names; ``meta["naming"]`` has
            the calls.
        **cluster_options: other fields of :class:`ClusterSettings` (``merge_threshold``, ...).

    Returns:
        The report: issues ranked by impact, assignments with evidence, ``meta`` with the mode,
        settings, seed, model, sentence counts, timings (seconds) and ``llm_calls``.
    """
    from misattribution import __version__

    started = time.perf_counter()
    modes = list(dict.fromkeys(m.strip() for m in (mode.split("+") if isinstance(mode, str) else mode) if m.strip()))
    if not modes:
        raise ValueError("no discovery mode given")
    options_by_mode = check_mode_options(modes, mode_options)  # before any work: unknown modes, options, packages
    rows = load_judged_streamed(source, columns=columns, score_range=score_range, fail_below=fail_below, system=system)
    embedding_model = choose_embedder(embedding_model, int(rows["failing"].sum()))  # "auto" → a model
    settings = ClusterSettings(
        embedding_model=embedding_model,
        seed=seed,
        min_issues=min_issues,
        max_issues=max_issues,
        fast=fast,
        progress=progress,
        devices=list(devices) if devices else None,
        **{**cluster_options, **options_by_mode.get("clusters", {})},
    )
    settings.check()
    sources: list[tuple[str, Callable[[], tuple]]] = []
    for name in modes:
        if name == "clusters":  # its options are in ``settings``, with discover's own arguments
            sources.append((name, lambda: discover_clusters(rows, settings)))
        else:
            run_mode, options = get_mode(name), options_by_mode[name]
            sources.append((name, lambda m=run_mode, options=options: m(rows, **options)))
    for number, func in enumerate(extra_issue_sources):
        label = getattr(func, "__name__", f"extra{number}")
        sources.append((label, lambda func=func: func(rows)))
    if judge_failures(rows)[0]:
        sources.append(("judge", lambda: judge_failures(rows)))

    issues: list[Issue] = []
    parts: list[pd.DataFrame] = []
    meta_by_source: dict[str, Any] = {}
    llm_calls = 0
    seen: set[str] = set()
    for name, run in sources:
        found, assignments, source_meta = ModeResult.of(run(), name)
        fresh = [i for i in found if i.id not in seen]
        seen.update(i.id for i in fresh)
        issues += fresh
        parts.append(assignments[list(ASSIGNMENT_COLUMNS)])
        meta_by_source[name] = source_meta
        llm_calls += int(source_meta.get("llm_calls", 0) or 0)
    assignments = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS))
    assignments = assignments.drop_duplicates(["row_id", "issue_id"], keep="first").reset_index(drop=True)
    assignments["row_id"] = assignments["row_id"].astype(str)
    naming_meta = naming.rename_with_llm(issues, assignments, rows, name_with) if name_with is not None else None
    llm_calls += naming_meta["llm_calls"] if naming_meta else 0
    issues = compute_statistics(rows, assignments, issues, seed=seed)
    nodes, tree_meta = [], None
    if tree and issues:
        nodes, tree_meta = _attach_tree(rows, issues, assignments, taxonomy, embedding_model, seed)
    order = {issue.id: rank for rank, issue in enumerate(issues)}
    position = pd.Series(np.arange(len(rows)), index=rows["row_id"].astype(str))
    assignments = (
        assignments.assign(
            _row=position.reindex(assignments["row_id"]).to_numpy(), _rank=assignments["issue_id"].map(order)
        )
        .sort_values(["_row", "_rank"], kind="stable")
        .drop(columns=["_row", "_rank"])
        .reset_index(drop=True)
    )
    total = time.perf_counter() - started
    clusters_meta = meta_by_source.get("clusters", {})
    timings = {**clusters_meta.get("timings", {}), "total": total}
    meta = {
        "mode": "+".join(name for name, _ in sources),
        "settings": _jsonable(asdict(settings)),
        "seed": seed,
        "model": embedding_model if "clusters" in modes else None,
        "n_rows": len(rows),
        "n_failing": int(rows["failing"].sum()),
        "n_null_scores": int(rows.attrs.get("n_null_scores", rows["score"].isna().sum())),
        "n_judge_failed": int(meta_by_source.get("judge", {}).get("n_judge_failed", 0)),
        "input": _jsonable({k: v for k, v in rows.attrs.items()}),
        **{k: v for k, v in clusters_meta.items() if k not in ("timings", "llm_calls")},
        "sources": {
            k: _jsonable({kk: vv for kk, vv in v.items() if kk != "timings"}) for k, v in meta_by_source.items()
        },
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "llm_calls": llm_calls,
        "naming": naming_meta,
        "tree": tree_meta,
        "misattribution_version": __version__,
    }
    report = IssueReport(rows=rows, issues=issues, assignments=assignments, meta=meta, nodes=nodes)
    if previous is not None:
        from misattribution.discovery.align import align_reports

        old = previous if isinstance(previous, IssueReport) else IssueReport.load(previous)
        report = align_reports(report, old, encoder=load_encoder(embedding_model)).report
    from misattribution.discovery.summary import summarize  # the plain-language summary the bundle keeps

    report.meta["summary"] = summarize(report, previous=old if previous is not None else None).to_dict()
    return report


#: A cluster of fewer rows than this whose best name breaks the naming rules is not reported.
SMALL_CLUSTER_ROWS = 5

JUDGE_FAILED = "judge-failed"
#: Statuses of a judgment that failed or only partly parsed (the runner's ``status``).
JUDGE_FAILED_STATUSES = ("failed", "partial", "error")


def judge_failures(rows: pd.DataFrame) -> tuple[list[Issue], pd.DataFrame, dict[str, Any]]:
    """The rows whose judgment failed or only partly parsed, as one issue of their own.

    A row with status ``failed``, ``partial`` or ``error`` (or a status and no score) has no usable
    judgment: counted as "not failing" it would vanish from every issue, and a report would read
    better than the run was. They form the issue :data:`JUDGE_FAILED` ("Judge failed to return a usable
    judgment"), at the top level of the tree, with what went wrong (the runner's ``error`` or parse
    ``problems``) as its evidence; its id is the same in every run.

    >>> rows = pd.DataFrame({"row_id": ["a", "b"], "score": [2.0, None], "status": ["ok", "error"],
    ...                      "judge_error": [None, "HTTP 500 after 3 attempts"]})
    >>> issues, assignments, meta = judge_failures(rows)
    >>> issues[0].name, assignments.to_dict("records"), meta
    ('Judge failed to return a usable judgment', [{'row_id': 'b', 'issue_id': 'judge-failed', \
'evidence': 'error: HTTP 500 after 3 attempts'}], {'n_judge_failed': 1, 'by_status': {'error': 1}})
    """
    empty = pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS))
    if "status" not in rows.columns:
        return [], empty, {"n_judge_failed": 0}
    status = rows["status"].astype("string").str.lower()
    failed = (status.isin(JUDGE_FAILED_STATUSES) | (status.notna() & rows["score"].isna())).fillna(False).to_numpy()
    if not failed.any():
        return [], empty, {"n_judge_failed": 0}
    errors = rows["judge_error"] if "judge_error" in rows.columns else pd.Series([None] * len(rows))
    lines = []
    for position in np.flatnonzero(failed):
        label = str(status.iat[position]) if not pd.isna(status.iat[position]) else "no score"
        error = errors.iat[position]
        lines.append((str(rows["row_id"].iat[position]), JUDGE_FAILED, f"{label}: {error}" if error else label))
    by_status = status[failed].fillna("no score").value_counts()
    issue = Issue(
        id=JUDGE_FAILED,
        name="Judge failed to return a usable judgment",
        description=f"{int(failed.sum())} rows whose judgment failed or only partly parsed: no usable score",
        provenance="judge",
        examples=[line[0] for line in lines[:5]],
    )
    meta = {"n_judge_failed": int(failed.sum()), "by_status": {str(k): int(v) for k, v in by_status.items()}}
    return [issue], pd.DataFrame(lines, columns=list(ASSIGNMENT_COLUMNS)), meta


def _attach_tree(
    rows: pd.DataFrame, issues: list[Issue], assignments: pd.DataFrame, taxonomy: Any, model: str, seed: int
) -> tuple[list, dict[str, Any]]:
    """Parent every issue under a taxonomy category (:func:`.tree.attach_to_taxonomy`), in place; the
    judge-failed issue (:func:`judge_failures`) stays at the top level, outside the taxonomy."""
    from misattribution.discovery.tree import attach_to_taxonomy

    clock = time.perf_counter()
    language = _majority_language(rows)
    judged = [issue for issue in issues if issue.provenance != "judge"]
    nodes, parents, meta = attach_to_taxonomy(
        rows, judged, assignments, taxonomy, encoder=load_encoder(model), language=language, seed=seed
    )
    for issue in issues:
        issue.parent = parents.get(issue.id)
    meta["seconds"] = round(time.perf_counter() - clock, 3)
    return nodes, meta


def _majority_language(rows: pd.DataFrame) -> str:
    from misattribution.runner import detect_language

    texts = [t for t in rows.get("feedback", pd.Series(dtype=object)).head(200) if isinstance(t, str)]
    # The tree's category names are Chinese only when nearly all feedback is: a mixed report reads in English.
    languages = [detect_language(t) for t in texts]
    return "zh" if languages and sum(lang.startswith("zh") for lang in languages) >= 0.8 * len(languages) else "en"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


# -- the clusters mode ----------------------------------------------------------------------------------
def discover_clusters(rows: pd.DataFrame, settings: ClusterSettings | None = None) -> tuple:
    """The ``"clusters"`` issue source: ``(issues, assignments, meta)`` for IssueReport rows (no statistics)."""
    settings = settings or ClusterSettings()
    model = choose_embedder(settings.embedding_model, int(rows["failing"].sum()))
    if wants_stream(rows, model):  # the static embedder over many rows: every stage in batches (discovery.stream)
        return discover_clusters_streamed(rows, settings, load_encoder(model))
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    sentences = split_failing(rows, mask_question=settings.mask_question, core_clause=settings.core_clause)
    timings["split"] = time.perf_counter() - clock
    n_unique = len(sentences.unique)
    meta: dict[str, Any] = {"n_sentences": len(sentences.text), "n_unique_sentences": n_unique, "llm_calls": 0}
    empty = ([], pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS)), {**meta, "timings": timings})
    if not n_unique:
        return empty

    clock = time.perf_counter()
    encoder = load_encoder(model)
    rng = np.random.default_rng(settings.seed)
    if settings.max_embedded is not None and n_unique > settings.max_embedded:
        embedded = np.sort(rng.choice(n_unique, size=settings.max_embedded, replace=False))
    else:
        embedded = np.arange(n_unique)
    embedded_texts = [sentences.unique[i] for i in embedded]
    vectors = embed(
        embedded_texts,
        encoder,
        batch_size=settings.batch_size,
        progress=settings.progress,
        devices=settings.devices,
    )
    timings["embed"] = time.perf_counter() - clock
    meta["n_embedded"] = len(embedded)

    clock = time.perf_counter()
    scorer = criticality_scorer(encoder)  # the threshold is applied below
    semantic = np.full(n_unique, np.nan)
    semantic[embedded] = scorer.semantic(vectors, [sentences.unique[i] for i in embedded])
    critical = critical_occurrences(
        criticality(sentences, semantic, scorer),
        sentences.row,
        settings.criticality_threshold,
        settings.row_reach,
        eligible=clearly_failing(rows),
    )
    in_sample = np.isin(sentences.inverse, embedded)
    timings["criticality"] = time.perf_counter() - clock

    clock = time.perf_counter()
    weights = np.bincount(sentences.inverse[critical & in_sample], minlength=n_unique)[embedded].astype(float)
    candidates = np.flatnonzero(weights > 0)  # positions in ``embedded`` / ``vectors``
    # the cut and the wording's weight are per embedder and input size; the clustering space is fitted on the
    # critical sentences (the encoder's vectors already gave the criticality)
    settings = settings_for(encoder, settings, n_sentences=len(candidates))
    meta.update(linkage_distance=settings.linkage_distance, lexical_weight=settings.lexical_weight)
    space, vectors = place_sentences(settings, [embedded_texts[i] for i in candidates], embedded_texts, vectors)
    method = clustering.choose_method(len(candidates), settings.fast)
    labels_sample = np.full(len(embedded), -1, dtype=np.int64)
    if len(candidates):
        n_failing = int(rows["failing"].sum())
        min_rows = settings.min_rows if settings.min_rows is not None else max(3, round(0.005 * n_failing))
        offset, methods = 0, []
        for part, part_settings in _language_parts(candidates, sentences, embedded, settings, space=space):
            part_method = clustering.choose_method(len(part), settings.fast)
            methods.append(part_method)
            found = _cluster(
                vectors[part],
                weights[part],
                [sentences.unique[embedded[i]] for i in part],
                encoder,
                part_settings,
                part_method,
                row_sets=_row_sets(sentences, embedded[part], critical),
                min_rows=min_rows,
            )
            labels_sample[part] = np.where(found >= 0, found + offset, -1)
            offset = int(labels_sample.max()) + 1
        method = "+".join(dict.fromkeys(methods))
    rare = bool(len(candidates)) and labels_sample.max() < 0
    if rare:
        # Nothing recurs often enough, yet some failing rows name a shortcoming: group those sentences by
        # meaning and report each group as a rare issue rather than nothing.
        labels_sample[candidates] = _rare_groups(vectors[candidates], settings.max_issues)
        method = "rare"
    labels = np.full(n_unique, -1, dtype=np.int64)
    labels[embedded] = labels_sample
    meta.update(method=method, n_critical=int(critical.sum()), n_clustered=int(len(candidates)))
    if len(embedded) < n_unique and labels_sample.max() >= 0:
        # Unembedded sentences: a linear classifier on the sample's outcome (an issue, or none).
        rest = np.setdiff1d(np.arange(n_unique), embedded)
        labels[rest] = _classify_rest(sentences, embedded, labels_sample, rest, settings.seed)
        critical = critical | ~in_sample
    timings["cluster"] = time.perf_counter() - clock

    clock = time.perf_counter()
    occurrence_labels = np.where(critical, labels[sentences.inverse], -1)
    if settings.contrast and labels_sample.max() >= 0 and not rare:
        labels_sample, occurrence_labels, meta["contrast"] = _contrast_with_passing(
            rows, sentences, vectors, labels_sample, occurrence_labels, encoder, scorer, settings, space
        )
        timings["contrast"] = time.perf_counter() - clock
        clock = time.perf_counter()
    naming_options = dict(criticality=semantic[embedded], naming_distance=NAMING_CUT * settings.linkage_distance)
    issues, local_ids = _name_issues(
        sentences, embedded, vectors, labels_sample, occurrence_labels, rows, rare=rare, **naming_options
    )
    if not issues and not rare and labels_sample.max() >= 0:
        # Clusters recur, but none has a name its rows share (each a handful of rows about different
        # things: "Ordering of outcomes" over a probability, a sort() and a product comparison): their
        # sentences are reported as rare groups rather than nothing.
        kept = np.flatnonzero(labels_sample >= 0)
        labels_sample = np.full(len(embedded), -1, dtype=np.int64)
        labels_sample[kept] = _rare_groups(vectors[kept], settings.max_issues)
        labels = np.full(n_unique, -1, dtype=np.int64)
        labels[embedded] = labels_sample
        occurrence_labels = np.where(critical, labels[sentences.inverse], -1)
        rare = True
        meta["method"] = "rare"
        meta.pop("contrast", None)
        issues, local_ids = _name_issues(
            sentences, embedded, vectors, labels_sample, occurrence_labels, rows, rare=True, **naming_options
        )
    for issue in issues:
        issue.rare = rare
    if meta.get("contrast"):  # each reported issue's lift, by its id
        lifts = meta["contrast"].pop("lift")
        meta["contrast"]["lift"] = {local_ids[c]: v for c, v in lifts.items() if local_ids.get(c)}
    assignments = _assignments(rows, sentences, occurrence_labels, local_ids)
    timings["name"] = time.perf_counter() - clock
    meta["n_assigned_sentences"] = int((occurrence_labels >= 0).sum())
    return issues, assignments, {**meta, "timings": timings}


def _contrast_with_passing(
    rows: pd.DataFrame,
    sentences: _Sentences,
    vectors: np.ndarray,
    labels_sample: np.ndarray,
    occurrence_labels: np.ndarray,
    encoder: Any,
    scorer: CriticalityScorer,
    settings: ClusterSettings,
    space: Any = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any] | None]:
    """Drop the clusters at least as common among passing rows as among failing ones (:mod:`.contrast`);
    the labels renumbered, and what was dropped for the report's meta. Passing rows' sentences are
    embedded as the failing ones were (``space``: the :class:`~.embed.SentenceSpace` fitted on them); their
    criticality reads the encoder's part."""
    from misattribution.discovery import contrast

    def embed_texts(texts: list[str]) -> np.ndarray:
        found = embed(texts, encoder, batch_size=settings.batch_size, progress=False)
        return space.apply(texts, found) if space is not None else found

    found = contrast.passing_lift(
        rows,
        sentences.row,
        occurrence_labels,
        vectors,
        labels_sample,
        split=lambda part: split_failing(part, mask_question=settings.mask_question, core_clause=settings.core_clause),
        embed_texts=embed_texts,
        lexical=lambda found: scorer.lexical(found.text),
        semantic=lambda texts, found: scorer.semantic(space.encoder_part(found) if space else found, texts),
        max_semantic=scorer.max_semantic(),
        threshold=settings.criticality_threshold,
        seed=settings.seed,
    )
    if found is None:
        return labels_sample, occurrence_labels, None
    dropped = found.dropped()
    meta = found.as_meta(dropped)
    keep = np.setdiff1d(np.arange(int(labels_sample.max()) + 1), dropped)
    meta["lift"] = {int(new): meta["lift"][int(old)] for new, old in enumerate(keep)}  # by the labels returned
    if not dropped:
        return labels_sample, occurrence_labels, meta
    mapping = np.full(int(labels_sample.max()) + 2, -1, dtype=np.int64)  # index -1 (the last) stays -1
    mapping[keep] = np.arange(len(keep))
    logger.info("dropped %d issue(s) as common among passing rows as among failing ones", len(dropped))
    return mapping[labels_sample], mapping[occurrence_labels], meta


def _rare_groups(vectors: np.ndarray, max_groups: int, distance: float = 0.45) -> np.ndarray:
    """Group a few critical sentences by meaning: average-linkage clusters of cosine distance below
    ``distance``, the largest ``max_groups`` kept (labels 0.., the rest -1)."""
    if len(vectors) == 1:
        return np.zeros(1, dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    found = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
    ).fit_predict(vectors)
    labels = clustering.relabel(found.astype(np.int64))
    return np.where(labels < max_groups, labels, -1)


def criticality(sentences: _Sentences, semantic: np.ndarray, scorer: CriticalityScorer) -> np.ndarray:
    """Each sentence occurrence's log-odds of criticising the answer: the classifier's score of its
    distinct masked form (``semantic``, one per ``sentences.unique``) plus its text's part
    (:meth:`~.sentences.CriticalityScorer.lexical`: cues, character n-grams, rules)."""
    return semantic[sentences.inverse] + scorer.lexical(sentences.text)


def critical_occurrences(
    scores: np.ndarray, rows: np.ndarray, threshold: float, reach: float, eligible: np.ndarray | None = None
) -> np.ndarray:
    """Which sentence occurrences name a shortcoming: ``scores > threshold``, and in every failing row
    where none does (of the ``eligible`` rows, by position, when given), its most critical sentence if it
    scores above ``threshold - reach``.

    A failing row's feedback says why it failed; when no sentence clears the threshold (a fault
    phrased in words the classifier has not seen, "Information already gathered upstream is
    dropped."), its most critical one is the likeliest reason. ``reach`` bounds how far below the
    threshold that may be (0 turns the rule off). On the planted agents and general dev pools,
    ``reach=0.75`` raises the recall of shortcoming sentences from 0.73 to 0.83 (agents) and 0.79 to 0.86
    (general) at precision 0.98. :func:`discover_clusters` passes only the clearly failing rows
    (:func:`clearly_failing`) as ``eligible``: a row just under a high threshold is not always a bad one
    (under CLEAR's threshold many failing clear_gsm8k rows scored 0.9 carry only praise, and without
    that gate the rule turned their praise into an issue, "Explanation of each step of the calculation
    process", 14 rows). With the gate, the rule is on by default (``ClusterSettings.row_reach = 0.75``):
    planted dev recovery F1 0.58 → 0.61 (agents) and 0.74 → 0.79 (general), 3 seeds each, and the
    clear_gsm8k report is unchanged by it.

    >>> critical_occurrences(np.array([-0.5, -2.0, 1.0, -0.2, -3.0]), np.array([0, 0, 1, 1, 2]), 0.0, 0.75)
    array([ True, False,  True, False, False])
    """
    critical = scores > threshold
    if reach <= 0 or not len(scores):
        return critical
    order = np.lexsort((-scores, rows))  # by row, most critical first
    first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]  # each row's most critical occurrence
    row_has = np.zeros(int(rows.max()) + 1, dtype=bool)
    row_has[rows[critical]] = True
    promote = first[~row_has[rows[first]] & (scores[first] > threshold - reach)]
    if eligible is not None:
        promote = promote[eligible[rows[promote]]]
    critical[promote] = True
    return critical


#: :func:`critical_occurrences` promotes a sentence only in a row scored at most this (normalised score).
ROW_REACH_MAX_SCORE = 0.75


def clearly_failing(rows: pd.DataFrame) -> np.ndarray:
    """Which rows failed clearly: failing, with a normalised score of at most :data:`ROW_REACH_MAX_SCORE`
    (a 4 of 1-5 is 0.75; CLEAR's 0.9 under its 0.91 threshold is not).

    >>> clearly_failing(pd.DataFrame({"score_norm": [0.0, 0.75, 0.9, 1.0], "failing": [True, True, True, False]}))
    array([ True,  True, False, False])
    """
    if "score_norm" not in rows.columns:  # no score on a known scale: no row is known to fail clearly
        return np.zeros(len(rows), dtype=bool)
    scores = pd.to_numeric(rows["score_norm"], errors="coerce").to_numpy(dtype=float)
    return (scores <= ROW_REACH_MAX_SCORE + 1e-9) & rows["failing"].to_numpy(dtype=bool)


def split_failing(rows: pd.DataFrame, *, mask_question: bool = True, core_clause: bool = True) -> _Sentences:
    """The sentences of the failing rows' feedback, with their masked forms made distinct."""
    failing = np.flatnonzero(rows["failing"].to_numpy(dtype=bool))
    feedback = rows["feedback"] if "feedback" in rows.columns else pd.Series([None] * len(rows))
    questions = rows["question"] if mask_question and "question" in rows.columns else None
    specific_of = _question_specific_words(questions, failing) if questions is not None else {}
    row_of: list[int] = []
    texts: list[str] = []
    masked: list[str] = []
    # Judges repeat themselves: a feedback text is split once, and a sentence masked once per set of its own
    # words that its row's question makes specific (the only ones masking reads).
    split_memo: dict[str, list[str]] = {}
    mask_memo: dict[tuple[str, frozenset[str]], str] = {}
    words_memo: dict[str, frozenset[str]] = {}
    for position in failing:
        value = feedback.iat[position]
        if not isinstance(value, str):
            continue
        specific = specific_of.get(position, frozenset())
        pieces = split_memo.get(value)
        if pieces is None:
            pieces = split_memo[value] = split_sentences(value)
        for sentence in pieces:
            row_of.append(position)
            texts.append(sentence)
            if specific:
                words = words_memo.get(sentence)
                if words is None:
                    words = words_memo[sentence] = frozenset(w.casefold().strip("'’") for w in _WORD.findall(sentence))
                key = (sentence, specific & words)
            else:
                key = (sentence, frozenset())
            text = mask_memo.get(key)
            if text is None:
                text = abstract_sentence(sentence, key[1])
                text = mask_memo[key] = core_of(text) if core_clause else text
            masked.append(text)
    codes, uniques = pd.factorize(pd.Series(masked, dtype=object), sort=False)
    return _Sentences(
        row=np.asarray(row_of, dtype=np.int64),
        text=texts,
        unique=[str(u) for u in uniques],
        inverse=np.asarray(codes, dtype=np.int64),
    )


# What a sentence's problem led to, or an illustration of it, follows one of these; its cause ("because
# ...", "due to ...") is the problem itself and stays.
_CONSEQUENCE = re.compile(
    r"(?:,\s*|\s+)which\s+(?:in turn\s+|then\s+|also\s+)?(?:affects?|impacts?|leads?|results?|makes?|causes?|"
    r"reduces?|lowers?|changes?|means?|detracts?|undermines?|could|may|might|would|can)\b.*$"
    r"|(?:,\s*|\s+)(?:leading|resulting|making|so that|so|thus|hence|therefore|thereby|indicating|"
    r"suggesting|e\.g\.|i\.e\.|for example|for instance|such as)\b.*$"
    r"|(?:,\s*|\s+)(?:this|that|it)\s+(?:affects?|impacts?|leads?|results?|reduces?|lowers?|detracts?)\b.*$"
    r"|\s*[(:;].*$",
    re.IGNORECASE,
)


# Where in the answer a problem sits ("in step #", "in the final line", "near the end") is not what the
# problem is.
_LOCATOR = re.compile(
    r"\s*,?\s*\b(?:in|at|near|during|halfway through|towards?)\s+(?:the\s+|its\s+|their\s+)?"
    r"(?:(?:#|first|second|third|fourth|fifth|last|final|next|previous|initial|later|earlier|same|very)\s+)*"
    r"(?:step|line|paragraph|sentence|part|section|stage|end|beginning|middle|solution|explanation)s?\b"
    r"(?:\s+#)?(?:\s+of the (?:solution|response|answer|explanation)\b)?",
    re.IGNORECASE,
)


def core_of(text: str) -> str:
    """The clause that names the problem: ``text`` without a trailing consequence or illustration.

    What follows "which leads to", "so", "leading to", "for example", a colon ... says what the problem
    caused or shows an instance, and is shared across problems ("..., which affects the accuracy of
    the response"): clustering on it groups consequences instead of causes. A cause ("because of an
    addition error") is the problem and stays, and so does a verdict ("..., which is not what was
    asked"). Kept whole when the cut would leave under 3 words.

    >>> core_of("Miscalculates the total cost, which affects the accuracy of the response.")
    'Miscalculates the total cost'
    >>> core_of("The mistake in the calculation affects the quality of the response.")
    'The mistake in the calculation'
    >>> core_of("Makes an arithmetic mistake in step #, so the total is off.")
    'Makes an arithmetic mistake'
    >>> core_of("Explains how forecasts are made, which is not what was asked.")
    'Explains how forecasts are made, which is not what was asked.'
    >>> core_of("Computed # … instead of # because of an addition error.")
    'Computed # … instead of # because of an addition error.'
    >>> core_of("Wrong, so the answer is off.")
    'Wrong, so the answer is off.'
    """
    core = _LOCATOR.sub("", clustering._EFFECT.sub("", _CONSEQUENCE.sub("", text)))
    if core == text:
        return text
    core = core.strip(" ,.;:!?-–—")
    return core if len(core.split()) >= 3 else text


def _question_specific_words(
    questions: pd.Series, positions: np.ndarray, max_df: float = 0.3
) -> dict[int, frozenset[str]]:
    """Per failing row, its question's content words that are rare across questions.

    Words most questions share (a prompt template's "math word problem") say nothing about one
    question and stay; with fewer than 10 questions every content word is specific.
    """
    words = [content_words(q) if isinstance(q, str) else frozenset() for q in questions]
    n = sum(1 for w in words if w)
    if n >= 10:
        frequency: dict[str, int] = {}
        for found in words:
            for word in found:
                frequency[word] = frequency.get(word, 0) + 1
        limit = max_df * n
        return {int(p): frozenset(w for w in words[p] if frequency[w] < limit) for p in positions}
    return {int(p): words[p] for p in positions}


def _row_sets(sentences: _Sentences, unique_ids: np.ndarray, critical: np.ndarray) -> list[np.ndarray]:
    """For each distinct sentence in ``unique_ids``: the rows where it occurs as a critical sentence."""
    where = {int(u): k for k, u in enumerate(unique_ids)}
    found: list[list[int]] = [[] for _ in unique_ids]
    for occurrence in np.flatnonzero(critical):
        k = where.get(int(sentences.inverse[occurrence]))
        if k is not None:
            found[k].append(int(sentences.row[occurrence]))
    return [np.unique(np.asarray(f, dtype=np.int64)) for f in found]


def _cluster(
    vectors: np.ndarray,
    weights: np.ndarray,
    texts: list[str],
    encoder: Any,
    settings: ClusterSettings,
    method: str,
    *,
    row_sets: list[np.ndarray],
    min_rows: int,
) -> np.ndarray:
    n = len(vectors)
    if settings.choose_k and method == "kmeans":
        low = max(2, settings.min_issues)
        k = clustering.choose_n_clusters(
            vectors, range(low, settings.max_issues + 1), seed=settings.seed, weights=weights
        )
    else:
        k = clustering.default_n_clusters(n, settings.max_issues)
    labels = clustering.cluster_vectors(
        vectors,
        method=method,
        seed=settings.seed,
        weights=weights,
        texts=texts,
        encoder=encoder,
        n_clusters=k,
        min_cluster_size=max(3, min(10, n // 40)),
        distance=settings.linkage_distance,
    )
    if (labels < 0).any():
        labels = clustering.attach_outliers(vectors, labels, settings.outlier_similarity)
    labels = clustering.merge_similar(vectors, labels, settings.merge_threshold, weights)
    labels = _drop_rare(labels, row_sets, min_rows)
    if labels.max() < 0:
        return labels
    labels = clustering.bound_clusters(
        vectors,
        labels,
        min_issues=settings.min_issues,
        max_issues=settings.max_issues,
        weights=weights,
        seed=settings.seed,
    )
    return labels


def settings_for(encoder: Any, settings: ClusterSettings, n_sentences: int | None = None) -> ClusterSettings:
    """``settings`` (as the user gave them) with the wording's weight and the linkage cut resolved for
    ``encoder`` and ``n_sentences`` distinct critical sentences to cluster (:func:`~.cluster.lexical_weight_for`,
    :func:`~.cluster.linkage_distance_for`)."""
    weight = clustering.lexical_weight_for(encoder, settings.lexical_weight, settings.fast, n_sentences)
    distance = clustering.linkage_distance_for(encoder, settings.linkage_distance, weight)
    return dataclasses.replace(settings, lexical_weight=weight, linkage_distance=distance)


def place_sentences(
    settings: ClusterSettings, fit_texts: Sequence[str], texts: Sequence[str], vectors: np.ndarray
) -> tuple[SentenceSpace | None, np.ndarray]:
    """The :class:`~.embed.SentenceSpace` of ``settings`` (resolved by :func:`settings_for`) fitted on
    ``fit_texts`` (the critical sentences), and ``vectors`` (the encoder's, one per text of ``texts``)
    placed in it; ``(None, vectors)`` when it changes nothing. Chinese moves to its characters only with
    ``characters`` and ``by_language`` on."""
    space = sentence_space(
        fit_texts,
        vectors.shape[1],
        seed=settings.seed,
        lexical_weight=settings.lexical_weight or 0.0,
        characters=settings.characters and settings.by_language,
    )
    return (space, space.apply(texts, vectors)) if space is not None else (None, vectors)


def _language_parts(
    candidates: np.ndarray,
    sentences: _Sentences,
    embedded: np.ndarray,
    settings: ClusterSettings,
    *,
    space: SentenceSpace | None = None,
) -> list[tuple[np.ndarray, ClusterSettings]]:
    """The candidate sentences split by language, each with its share of ``max_issues``.

    An encoder that does not know a language embeds its sentences near each other whatever they say
    (all-MiniLM-L6-v2 and Chinese): clustered together with English they would form one issue per
    language. Each language is clustered on its own; with ``by_language=False``, or one language,
    everything is one part. When ``space``'s :class:`~.embed.CharacterSpace` embedded the Chinese
    sentences, their part is cut at :data:`~.embed.CHARACTER_LINKAGE_DISTANCE`.
    """
    from dataclasses import replace

    from misattribution.runner import detect_language

    if not settings.by_language:
        return [(candidates, settings)]
    language = np.array([detect_language(sentences.unique[embedded[i]]) for i in candidates])
    names = sorted(set(language), key=lambda name: (-int((language == name).sum()), name))
    cut = {"zh": CHARACTER_LINKAGE_DISTANCE} if space is not None and space.characters is not None else {}
    if len(names) == 1:
        return [(candidates, replace(settings, linkage_distance=cut.get(names[0], settings.linkage_distance)))]
    parts = []
    for name in names:
        part = candidates[language == name]
        share = len(part) / len(candidates)
        max_issues = max(1, round(settings.max_issues * share))
        part_settings = replace(
            settings,
            max_issues=max_issues,
            min_issues=min(settings.min_issues, max_issues),
            linkage_distance=cut.get(name, settings.linkage_distance),
        )
        parts.append((part, part_settings))
    return parts


def _drop_rare(labels: np.ndarray, row_sets: list[np.ndarray], min_rows: int) -> np.ndarray:
    """Clusters found in fewer than ``min_rows`` rows are not recurring: their sentences become noise."""
    labels = labels.copy()
    for c in [c for c in np.unique(labels) if c >= 0]:
        members = np.flatnonzero(labels == c)
        if len(np.unique(np.concatenate([row_sets[i] for i in members]))) < min_rows:
            labels[members] = -1
    return clustering.relabel(labels)


def _classify_rest(
    sentences: _Sentences, embedded: np.ndarray, labels_sample: np.ndarray, rest: np.ndarray, seed: int
) -> np.ndarray:
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.linear_model import SGDClassifier

    hashing = HashingVectorizer(n_features=2**18, ngram_range=(1, 2), alternate_sign=False, norm=None)
    tfidf = TfidfTransformer(sublinear_tf=True)
    train = tfidf.fit_transform(hashing.transform([sentences.unique[i] for i in embedded]))
    model = SGDClassifier(loss="hinge", alpha=1e-5, max_iter=15, tol=None, random_state=seed)
    model.fit(train, labels_sample)
    predicted = np.empty(len(rest), dtype=np.int64)
    for start in range(0, len(rest), 50_000):
        chunk = rest[start : start + 50_000]
        predicted[start : start + len(chunk)] = model.predict(
            tfidf.transform(hashing.transform([sentences.unique[i] for i in chunk]))
        )
    return predicted


#: A cluster is named from its largest sub-group, linked at this share of the clustering's cut.
NAMING_CUT = 0.8
#: ... and only when that sub-group holds at least this share of its sentence occurrences.
NAMING_SHARE = 0.34


def naming_centre(vectors: np.ndarray, weights: np.ndarray, centroid: np.ndarray, distance: float) -> np.ndarray:
    """The point a cluster is named from: the centroid of its heaviest sub-group.

    The cluster's sentences are linked again at the tighter cut ``distance``; the sub-group with the most
    occurrences (``weights``) gives the centre. A cluster that is one problem has one dominant sub-group
    and the centre barely moves; one that gathered several problems is named after the one most of its
    sentences state, not after the few that sit between them at its centroid (a 50-row cluster of missing
    citations, unsupported figures and wordy prose was named "Decomposition missing cross-checking the
    figures" after its 6 rows about a skipped planning step). ``distance <= 0`` gives ``centroid``.
    """
    if distance <= 0 or len(vectors) < 4:
        return centroid
    sub = clustering._linkage(vectors, 0, weights, distance)
    mass = np.bincount(sub, weights=weights)
    heaviest = int(np.argmax(mass))
    if mass[heaviest] < NAMING_SHARE * mass.sum():  # no sub-group stands out: a diffuse cluster keeps its centroid
        return centroid
    centre = (vectors[sub == heaviest] * weights[sub == heaviest, None]).sum(axis=0)
    norm = float(np.linalg.norm(centre))
    return centre / norm if norm > 0 else centroid


def _name_issues(
    sentences: _Sentences,
    embedded: np.ndarray,
    vectors: np.ndarray,
    labels_sample: np.ndarray,
    occurrence_labels: np.ndarray,
    rows: pd.DataFrame,
    *,
    criticality: np.ndarray | None = None,
    naming_distance: float = clustering.LINKAGE_DISTANCE * NAMING_CUT,
    rare: bool = False,
) -> tuple[list[Issue], dict[int, str | None]]:
    """Name each cluster of ``labels_sample`` (:func:`~.naming.choose_name`); ``(issues, local_ids)`` with
    ``local_ids[c]`` the id of cluster ``c``'s issue, ``None`` when it is not one: its name is praise or
    rationale, or it is a handful of rows whose name breaks the rules or carries words only one of its
    rows has (kept when ``rare``: rare groups are reported whatever they share).
    """
    if labels_sample.max() < 0:
        return [], {}
    cents = clustering.centroids(vectors, labels_sample)
    first_text: dict[int, str] = {}
    for occurrence, u in enumerate(sentences.inverse):
        first_text.setdefault(int(u), sentences.text[occurrence])
    weights = np.bincount(sentences.inverse[occurrence_labels >= 0], minlength=len(sentences.unique))[embedded]
    keywords = clustering.ctfidf_keywords(
        [sentences.unique[i] for i in embedded], labels_sample, weights=weights.astype(float)
    )
    row_ids = rows["row_id"].astype(str).to_numpy()
    instances = system_words(rows)
    issues: list[Issue] = []
    local_ids: dict[int, str | None] = {}
    used: list[str] = []
    for c in range(int(labels_sample.max()) + 1):
        members = np.flatnonzero(labels_sample == c)
        centre = naming_centre(vectors[members], weights[members].astype(float), cents[c], naming_distance)
        centrality = vectors[members] @ centre
        order = members[np.lexsort((members, -centrality))]
        top = order[:30]
        in_cluster = occurrence_labels == c
        example_rows = _typical_rows(sentences, in_cluster, vectors, embedded, centre)
        naming_inputs = dict(
            sentences=[first_text[int(embedded[i])] for i in top],
            centrality=vectors[top] @ centre,
            specificity=[naming.masked_share(sentences.unique[int(embedded[i])]) for i in top],
            criticality=None if criticality is None else criticality[top],
            members=[first_text[int(embedded[i])] for i in members],
            extra=naming.summary_candidates(rows, example_rows[:10]),
            keywords=keywords.get(c, []),
            masked=[sentences.unique[int(embedded[i])] for i in top],
            instances=instances,
            member_rows=_row_texts(rows, sentences, in_cluster, example_rows[:MEMBER_ROWS]),
        )
        # Named on its own first: two clusters whose best names say the same thing are one problem
        # phrased two ways, so the later (smaller) joins the earlier, its rows and evidence under the
        # earlier's id (named against its siblings, it would be told apart by a keyword instead).
        alone = naming.choose_name(siblings=(), **naming_inputs) or f"Issue {c + 1}"
        if naming.names_no_shortcoming(alone):
            # Even its best name is praise or says only that points were lost ("Points deducted", "Not
            # the maximum"): its sentences are scoring rationale the classifier let through, not an issue.
            local_ids[c] = None
            continue
        twin = next((k for k, other in enumerate(used) if naming.near_duplicate(alone, other, subset=rare)), None)
        if twin is not None:
            local_ids[c] = issues[twin].id
            continue
        name = alone if alone not in used else naming.choose_name(siblings=used, **naming_inputs)
        name = name or f"Issue {c + 1}"
        n_rows = len(np.unique(sentences.row[in_cluster]))
        if n_rows < SMALL_CLUSTER_ROWS and (
            naming.name_problems(name, siblings=used, members=naming_inputs["members"], instances=instances)
            or (not rare and naming.shares_no_problem(name, naming_inputs["member_rows"]))
            or (not rare and not naming.says_what_is_wrong(name))
        ):
            # A handful of rows whose best name still breaks the rules ("Step 3 using $4.80"), whose words
            # no other evidence sentence carries ("Missing income limit" over three unrelated omissions) or
            # that says nothing is wrong ("Necessary constant already provided in the research facts") share
            # an instance, or nothing, not a problem a developer can act on: not an issue.
            local_ids[c] = None
            continue
        used.append(name)
        central = first_text[int(embedded[order[0]])]
        # The id names the meaning, not the string: the name's slug and a hash of the most central
        # (masked) sentences, so that the same name over other evidence is another id.
        central_texts = sorted(sentences.unique[int(embedded[i])] for i in order[:5])
        identifier = issue_id(name, "cluster|" + "|".join(central_texts))
        local_ids[c] = identifier
        issues.append(
            Issue(
                id=identifier,
                name=name,
                description=f"{int(in_cluster.sum())} feedback sentences like: “{central}”",
                keywords=keywords.get(c, []),
                provenance="cluster",
                examples=[str(row_ids[r]) for r in example_rows[:5]],
            )
        )
    return issues, local_ids


def system_words(rows: pd.DataFrame) -> list[str]:
    """The names of the input's systems (two or more), as a name must not carry them: an issue named
    "Writer ignoring the analyst's results" is one pair of agents' instance of a shared problem.

    >>> system_words(pd.DataFrame({"system": ["tool_caller", "writer", "writer"]}))
    ['tool_caller', 'tool caller', 'writer']
    """
    if "system" not in rows.columns:
        return []
    names = sorted({str(s) for s in rows["system"].dropna().unique() if str(s).strip()})
    if len(names) < 2:
        return []
    words: list[str] = []
    for name in names:
        words += [name] + ([re.sub(r"[_-]+", " ", name)] if re.search(r"[_-]", name) else [])
    return list(dict.fromkeys(words))


#: :func:`~.naming.unshared_words` reads at most this many of an issue's rows (its most typical).
MEMBER_ROWS = 200


def _row_texts(rows: pd.DataFrame, sentences: _Sentences, in_cluster: np.ndarray, positions: list[int]) -> list[str]:
    """For each row at ``positions``: its sentences in the cluster and its summary (when the input has
    one), as one text; what a name's words must recur in (:func:`~.naming.unshared_words`)."""
    wanted = set(positions)
    texts: dict[int, list[str]] = {p: [] for p in positions}
    for occurrence in np.flatnonzero(in_cluster):
        row = int(sentences.row[occurrence])
        if row in wanted and sentences.text[occurrence] not in texts[row]:
            texts[row].append(sentences.text[occurrence])
    summaries = rows["summary"] if "summary" in rows.columns else None
    if summaries is not None:
        for position in positions:
            value = summaries.iat[position]
            if isinstance(value, str):
                texts[position].append(value)
    return [" ".join(texts[p]) for p in positions]


def _typical_rows(
    sentences: _Sentences, in_cluster: np.ndarray, vectors: np.ndarray, embedded: np.ndarray, centroid: np.ndarray
) -> list[int]:
    """Rows of the issue, the one with the most central sentence first."""
    position = {int(u): k for k, u in enumerate(embedded)}
    best: dict[int, float] = {}
    for occurrence in np.flatnonzero(in_cluster):
        k = position.get(int(sentences.inverse[occurrence]))
        score = float(vectors[k] @ centroid) if k is not None else -math.inf
        row = int(sentences.row[occurrence])
        best[row] = max(best.get(row, -math.inf), score)
    return sorted(best, key=lambda r: (-best[r], r))


def _assignments(
    rows: pd.DataFrame, sentences: _Sentences, occurrence_labels: np.ndarray, local_ids: Mapping[int, str | None]
) -> pd.DataFrame:
    """One line per (row, issue); the evidence is the row's sentences in that issue, one per line."""
    kept = np.flatnonzero(occurrence_labels >= 0)
    row_ids = rows["row_id"].astype(str).to_numpy()
    grouped: dict[tuple[int, int], list[str]] = {}
    for occurrence in kept:
        key = (int(sentences.row[occurrence]), int(occurrence_labels[occurrence]))
        texts = grouped.setdefault(key, [])
        if sentences.text[occurrence] not in texts:
            texts.append(sentences.text[occurrence])
    merged: dict[tuple[int, str], list[str]] = {}  # two labels may share an id (near-duplicate names merged)
    for (r, c), texts in sorted(grouped.items()):
        if local_ids.get(c) is None:  # a cluster that names no shortcoming
            continue
        found = merged.setdefault((r, local_ids[c]), [])
        found += [t for t in texts if t not in found]
    lines = [(row_ids[r], identifier, "\n".join(texts)) for (r, identifier), texts in merged.items()]
    return pd.DataFrame(lines, columns=list(ASSIGNMENT_COLUMNS))


# -- presenting -----------------------------------------------------------------------------------------
#: The widest name column :func:`format_issue_table` prints (a 12-word name, indented, fits).
MAX_LABEL_WIDTH = 110


def format_issue_table(report: IssueReport, *, width: int | None = None, max_systems: int = 4) -> str:
    """The issue tree as an indented text table (categories, then their issues, ranked by impact).

    The name column is as wide as the longest label (at least 40, at most ``MAX_LABEL_WIDTH`` characters;
    ``width`` fixes it): a name of twelve words is shown whole, not cut with "…".

    Columns: rows, share of all rows, share of the failing rows, mean score, impact with its 95%
    bootstrap interval, and the share of each system's rows when the report has 2 to ``max_systems``
    systems. Rare issues (kept below the recurrence threshold) are marked ``(rare)``. The head says how
    many rows failed and by which rule (the input's threshold).
    """
    meta = report.meta
    judge_failed = f", {meta['n_judge_failed']} without a usable judgment" if meta.get("n_judge_failed") else ""
    head = (
        f"{meta.get('n_rows', len(report.rows))} rows, {meta.get('n_failing', int(report.rows['failing'].sum()))} failing"
        f"{_threshold_text(meta)}{judge_failed}"
        f"; {meta.get('n_sentences', 0)} sentences, {meta.get('n_critical', 0)} critical"
        f"; mode {meta.get('mode')}, {meta.get('method', '-')}; LLM calls {meta.get('llm_calls', 0)}"
        f"; {meta.get('timings', {}).get('total', float('nan')):.1f} s"
    )
    if not report.issues:
        if not meta.get("n_failing", int(report.rows["failing"].sum())):
            return head + "\nno issue found: no row fails"
        if meta.get("n_critical"):
            return head + (
                f"\nno issue found: {meta['n_critical']} sentences of the failing rows' feedback read as shortcomings,"
                " but none is a failure pattern (as common among passing rows, or praise or scoring rationale once named)"
            )
        return head + "\nno issue found: no failing row's feedback names a shortcoming"
    tree = report.tree(n_resamples=1000)
    systems = sorted(report.rows["system"].astype(str).unique())
    per_system = None
    if 2 <= len(systems) <= max_systems:
        per_system = report.tree_per_system().pivot(index="id", columns="system", values="share")
    rare = {i.id for i in report.issues if i.rare}
    rank = {i.id: k for k, i in enumerate(report.issues, start=1)}
    columns = f"{'rows':>5}  {'share':>6}  {'of failing':>10}  {'mean score':>10}  {'impact [95% CI]':>24}"
    if per_system is not None:
        columns += "".join(f"  {s[:10]:>10}" for s in systems)
    labels = []
    for node in tree.itertuples(index=False):
        label = (
            f"{rank[node.id]}. {node.name}"
            if node.level == "issue"
            else node.name.upper()
            if node.depth == 0
            else node.name
        )
        labels.append("  " * int(node.depth) + label + (" (rare)" if node.id in rare else ""))
    width = width or min(max(40, *(len(label) for label in labels)), MAX_LABEL_WIDTH)
    lines = [head, f"{'issue tree':<{width}}  {columns}"]
    for node, label in zip(tree.itertuples(index=False), labels):
        label = label if len(label) <= width else label[: width - 1] + "…"
        line = (
            f"{label:<{width}}  {node.count:>5}  {node.share:>6.1%}  {node.failing_share:>10.1%}  "
            f"{node.mean_score:>10.3f}  {node.impact:>7.4f} [{node.impact_ci_low:.4f}, {node.impact_ci_high:.4f}]"
        )
        if per_system is not None:
            line += "".join(f"  {per_system.at[node.id, s]:>10.1%}" for s in systems)
        lines.append(line)
    return "\n".join(lines)


def _threshold_text(meta: Mapping[str, Any]) -> str:
    """How the input's failing rows were decided, e.g. " (score below 0.91 on 0..1, CLEAR's threshold)"."""
    fail = meta.get("input", {}).get("fail_below")
    scale = meta.get("input", {}).get("score_range")
    source = meta.get("input", {}).get("fail_below_source")
    if fail is None:
        return ""
    text = f" (normalised score below {fail:g}"
    if scale:
        lo, hi = scale
        text += f" = raw score below {lo + fail * (hi - lo):g} on {lo:g}..{hi:g}"
    return text + (f", {source})" if source else ")")
