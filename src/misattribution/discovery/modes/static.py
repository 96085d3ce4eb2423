"""Static and task-specific modes: rows mapped to issues the user names, by embedding similarity; no LLM.

The user gives the issues as text ("Calculation error: an arithmetic step is wrong", one per line or a
list) or as a taxonomy (each secondary category: name and definition). Each feedback sentence of a
failing row is compared with each issue's text; a sentence supports an issue when its cosine
similarity passes that issue's *calibrated* threshold, and the row gets every issue one of its
sentences supports (a sentence supports only its most similar issue).

Calibration. A fixed threshold means different things for different issues and encoders: generic
issue texts ("The answer is incomplete") resemble every critique, specific ones resemble few. So each
issue's threshold is read off a *null distribution*: the **passing** rows, which by the judge's own
verdict have no issue. For each passing row and issue, take the best similarity of its sentences to
the issue; the threshold is the ``1 - fpr`` quantile of these (never below ``min_similarity``), so that
about ``fpr`` of passing rows would be given that issue: ``fpr`` is a per-issue, per-row
false-positive rate measured on the null. Praise that looks like an issue ("The calculations are
accurate" vs "Calculation errors") is in the null and raises the threshold exactly where needed. By
default only the sentences that criticise the answer (:class:`~.sentences.CriticalityScorer`) are
compared, on both sides, so a passing row without criticism can never be a false positive. With
several issues, a passing row can be hit by any of them: the calibration reports that realised rate
(``any_issue_rate_on_null``). With fewer than ``min_null_rows`` passing rows, the fixed
``fallback_threshold`` is used and the calibration says so.

The task-specific mode runs the static mode, then hands the failing rows' sentences that matched no
given issue to any discovery function (e.g. the clustering mode) to find the issues the user did not
name.

The issue list file. Each issue is a line ``name: definition`` (or just a name); an issue list saved
from an edited report (:func:`misattribution.discovery.edits.save_issue_list`) adds indented attribute
lines under an issue, which a plain list does not need::

    Selected wrong tool: the agent calls a tool that cannot answer the request
      id: selected-wrong-tool-51536aae
      parent: category:tool_error
      example: It called the calculator where a web search was needed.
      example: The weather API was used to look up a stock price.

``id`` keeps the issue's id (so identities survive the round trip), ``parent`` records its node in the
issue tree, ``name`` overrides the name (for a name holding a colon) and each ``example`` is an evidence
sentence: a feedback sentence then supports the issue by its best similarity to the issue's text *or*
any of its examples, so the examples carry what the issue meant in the report it was saved from.
``threshold`` (written by the editor from how close the issue's own examples are to one another) raises the
issue's calibrated threshold, never lowers it. ``parked: yes`` marks an issue the editor set aside (praise, score rationale): it still competes for
the sentences like it, so that they do not drift to another issue, and is then left out of the result.

Example::

    from misattribution import load_taxonomy
    issues, assignments, calibration = static_issues(rows, load_taxonomy())
    issues, assignments, meta = task_specific_issues(rows, ["Calculation error", "Missing units"],
                                                     discover_fn=my_clustering_mode)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery.embed import embed, load_encoder
from misattribution.discovery.modes._base import ModeOption, ModeResult, register_mode
from misattribution.discovery.pipeline import ClusterSettings, clearly_failing, critical_occurrences, discover_clusters
from misattribution.discovery.report import ASSIGNMENT_COLUMNS, Issue, issue_id
from misattribution.discovery.sentences import criticality_scorer, split_sentences
from misattribution.taxonomy import Category, Taxonomy, load_taxonomy

IssuesText = str | Taxonomy | Sequence[str | tuple[str, str] | Category]
DiscoverFn = Callable[[pd.DataFrame], tuple[list[Issue], pd.DataFrame]]
PROVENANCE = "static"
_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class GivenIssue:
    """An issue the user named: its name, an optional definition and, from an issue list file, its id,
    its parent node in the issue tree and example evidence sentences."""

    name: str
    definition: str = ""
    examples: tuple[str, ...] = ()
    parent: str | None = None
    id: str | None = None
    parked: bool = False
    threshold: float | None = None

    @property
    def text(self) -> str:
        """What is embedded: the name, and the definition when there is one."""
        return f"{self.name}: {self.definition}" if self.definition else self.name

    @property
    def prototypes(self) -> list[str]:
        """Every text a sentence is compared with: :attr:`text`, then the examples."""
        return [self.text, *self.examples]


#: The attribute lines of an issue list file (indented, under their issue).
ISSUE_ATTRIBUTES = ("id", "parent", "name", "example", "description", "parked", "threshold")
_ATTRIBUTE = re.compile(r"^\s+(" + "|".join(ISSUE_ATTRIBUTES) + r")\s*:\s?(.*)$")


def _issue_blocks(text: str) -> list[Any]:
    """The issues of an issue list text: a line each, with the indented attribute lines under it merged in."""
    items: list[Any] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        attribute = _ATTRIBUTE.match(line)
        if attribute and items:
            key, value = attribute.group(1), attribute.group(2).strip()
            if isinstance(items[-1], str):
                name, _, definition = _split_name(items[-1])
                items[-1] = {"name": name, "definition": definition, "examples": []}
            if key == "example":
                items[-1]["examples"].append(value)
            else:
                items[-1]["definition" if key == "description" else key] = value
            continue
        items.append(line)
    return items


def _threshold(value: Any, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        threshold = float(value)
    except ValueError:
        raise ValueError(f"issue {name!r}: threshold {value!r} is not a number") from None
    if not -1 <= threshold <= 1:
        raise ValueError(f"issue {name!r}: threshold {threshold} is not a cosine similarity (-1 to 1)")
    return threshold


def _split_name(line: str) -> tuple[str, str, str]:
    text = line.strip().lstrip("-*•").strip()
    return text.partition(":") if ":" in text else text.partition("：")


def parse_issues(issues_text: IssuesText | None, *, language: str = "en") -> list[GivenIssue]:
    """The user's issues from text, a list, or a taxonomy (its secondary categories; ``None``: the default one).

    Text is one issue per line, ``name: definition`` or just a name; blank lines and ``#`` comments are
    skipped; list markers are removed. Indented ``id:``, ``parent:``, ``name:``, ``description:`` and
    ``example:`` lines under an issue add to it (the issue list file, see the module docstring). A
    :class:`~pathlib.Path` is read as such a file. Duplicated names are kept once.

    >>> [i.text for i in parse_issues("- Calculation error: an arithmetic step is wrong\\n\\nMissing units")]
    ['Calculation error: an arithmetic step is wrong', 'Missing units']
    >>> parse_issues("Wrong tool: calls a tool that cannot answer\\n  parent: category:tool_error\\n"
    ...              "  example: It called the calculator.")[0].examples
    ('It called the calculator.',)
    """
    if issues_text is None:
        issues_text = load_taxonomy()
    if isinstance(issues_text, os.PathLike):
        issues_text = Path(issues_text).read_text(encoding="utf-8")
    if isinstance(issues_text, Taxonomy):
        items: list[Any] = list(issues_text.secondaries)
    elif isinstance(issues_text, str):
        items = _issue_blocks(issues_text)
    else:
        items = list(issues_text)
    given: dict[str, GivenIssue] = {}
    for item in items:
        if isinstance(item, Category):
            issue = GivenIssue(item.name(language), item.describe(language))
        elif isinstance(item, tuple):
            issue = GivenIssue(str(item[0]).strip(), str(item[1]).strip())
        elif isinstance(item, dict):
            issue = GivenIssue(
                str(item["name"]).strip(),
                str(item.get("definition", "")).strip(),
                tuple(e for e in item.get("examples", ()) if e),
                item.get("parent") or None,
                item.get("id") or None,
                str(item.get("parked", "")).strip().lower() in ("yes", "true", "1"),
                _threshold(item.get("threshold"), item["name"]),
            )
        else:
            name, _, definition = _split_name(str(item))
            issue = GivenIssue(name.strip(), definition.strip())
        if not issue.name:
            raise ValueError(f"an issue has no name: {item!r}")
        given.setdefault(issue.name.casefold(), issue)
    if not given:
        raise ValueError("no issues given")
    return list(given.values())


#: The mapping modes' default ``row_reach``: the clusters mode's (``pipeline.ClusterSettings``).
ROW_REACH = ClusterSettings.row_reach


def feedback_sentences(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per feedback sentence: ``row_id``, ``failing``, ``sentence`` (see :mod:`.sentences`)."""
    records = []
    for row_id, failing, feedback in zip(rows["row_id"].astype(str), rows["failing"].astype(bool), rows["feedback"]):
        text = "" if feedback is None or (isinstance(feedback, float) and np.isnan(feedback)) else str(feedback)
        records += [(row_id, failing, sentence) for sentence in split_sentences(text)]
    return pd.DataFrame(records, columns=["row_id", "failing", "sentence"])


@dataclass
class _Match:
    issues: list[Issue]
    assignments: pd.DataFrame
    calibration: dict[str, Any]
    leftovers: pd.DataFrame  # failing rows' sentences that support no issue: row_id, sentence


def _match(
    rows: pd.DataFrame,
    issues_text: IssuesText | None,
    *,
    encoder: Any,
    fpr: float,
    min_similarity: float,
    fallback_threshold: float,
    min_null_rows: int,
    critical_only: bool,
    failing_only: bool,
    language: str,
    row_reach: float = 0.0,
) -> _Match:
    if not 0 < fpr < 1:
        raise ValueError(f"fpr must be in (0, 1), got {fpr}")
    missing = [c for c in ("row_id", "failing", "feedback") if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack the columns {missing}")
    encoder = encoder or load_encoder()
    given = parse_issues(issues_text, language=language)
    issues = [
        Issue(
            id=g.id or issue_id(g.name, PROVENANCE),
            name=g.name,
            description=g.definition,
            provenance=PROVENANCE,
            parent=g.parent,
        )
        for g in given
    ]
    sentences = feedback_sentences(rows)
    vectors = embed(sentences["sentence"].tolist(), encoder)
    similarity = _issue_similarity(vectors, given, encoder)
    if critical_only and len(sentences):
        # The same filter on both sides: candidates and null are the critical claims only; a clearly failing
        # row with none counts its most critical sentence within ``row_reach`` (as the clusters mode does).
        scorer = criticality_scorer(encoder)
        scores = scorer.score(sentences["sentence"].tolist(), vectors)
        position = pd.Series(np.arange(len(rows)), index=rows["row_id"].astype(str))
        at = position[~position.index.duplicated()].reindex(sentences["row_id"]).to_numpy()
        critical = critical_occurrences(scores, at, scorer.threshold, row_reach, eligible=clearly_failing(rows))
        similarity = np.where(critical[:, None], similarity, -np.inf)
    null = ~sentences["failing"].to_numpy(dtype=bool)
    passing_ids = rows.loc[~rows["failing"].astype(bool), "row_id"].astype(str)
    thresholds, method = _thresholds(
        sentences["row_id"].to_numpy()[null],
        similarity[null],
        passing_ids,
        fpr,
        min_similarity,
        fallback_threshold,
        min_null_rows,
    )
    # An issue list's own threshold (how close its examples are to one another) can only raise the bar.
    given_thresholds = np.array([-np.inf if g.threshold is None else g.threshold for g in given])
    thresholds = np.maximum(thresholds, given_thresholds)

    above = similarity >= thresholds
    best = np.where(above, similarity, -np.inf).argmax(axis=1) if len(similarity) else np.zeros(0, dtype=int)
    supported = above.any(axis=1)
    candidates = supported & (~null if failing_only else np.ones(len(sentences), dtype=bool))
    matched = sentences[candidates].assign(issue=best[candidates], similarity=similarity[candidates, best[candidates]])

    # A parked issue competes for the sentences (what it stood for is not another issue) and is then dropped.
    parked = [position for position, g in enumerate(given) if g.parked]
    matched = matched[~matched["issue"].isin(parked)]
    ids = [i.id for i in issues]
    grouped = matched.groupby(["row_id", "issue"], sort=False)
    assignments = pd.DataFrame(
        [(row_id, ids[issue], "\n".join(group["sentence"])) for (row_id, issue), group in grouped],
        columns=list(ASSIGNMENT_COLUMNS),
    )
    for position, issue in enumerate(issues):
        strongest = matched[matched["issue"] == position].groupby("row_id")["similarity"].max()
        issue.examples = strongest.sort_values(ascending=False, kind="stable").index[:_MAX_EXAMPLES].tolist()

    # Realised rates on the null: passing rows that some issue (any) would have been given.
    hit_rows = set(sentences.loc[null & supported, "row_id"])
    calibration = {
        "method": method,
        "null": "passing rows" + (" (their critical feedback sentences)" if critical_only else ""),
        "fpr": fpr,
        "fpr_unit": "passing rows per issue",
        "min_similarity": min_similarity,
        "critical_only": critical_only,
        "null_rows": int(len(passing_ids)),
        "null_sentences": int(null.sum()),
        "any_issue_rate_on_null": len(hit_rows) / len(passing_ids) if len(passing_ids) else float("nan"),
        "thresholds": {i.id: float(t) for i, t in zip(issues, thresholds)},
        "issue_texts": {i.id: g.text for i, g in zip(issues, given)},
        "issue_examples": {i.id: len(g.examples) for i, g in zip(issues, given) if g.examples},
        "parked": [issues[position].id for position in parked],
        "failing_only": failing_only,
    }
    leftover = ~null & ~supported & np.isfinite(similarity).any(axis=1) if critical_only else ~null & ~supported
    issues = [issue for position, issue in enumerate(issues) if position not in parked]
    return _Match(issues, assignments, calibration, sentences.loc[leftover, ["row_id", "sentence"]])


def _issue_similarity(vectors: np.ndarray, given: Sequence[GivenIssue], encoder: Any) -> np.ndarray:
    """Sentences × issues: each sentence's best cosine similarity to an issue's text or examples."""
    texts = [text for g in given for text in g.prototypes]
    starts = np.cumsum([0] + [len(g.prototypes) for g in given[:-1]])
    by_text = vectors @ embed(texts, encoder).T
    if not len(vectors):
        return np.zeros((0, len(given)), dtype=by_text.dtype)
    return np.maximum.reduceat(by_text, starts, axis=1)


def _thresholds(
    null_row_ids: np.ndarray,
    null_similarity: np.ndarray,
    passing_ids: pd.Series,
    fpr: float,
    floor: float,
    fallback: float,
    min_null_rows: int,
) -> tuple[np.ndarray, str]:
    """Per issue, the ``1 - fpr`` quantile of the passing rows' best sentence similarity (a passing row
    with no sentence counts as -inf: it can never be a false positive), never below ``floor``."""
    n_issues = null_similarity.shape[1]
    if len(passing_ids) < min_null_rows:
        return np.full(n_issues, fallback), f"fixed {fallback:g} (only {len(passing_ids)} passing rows)"
    best = pd.DataFrame(null_similarity).groupby(null_row_ids).max()
    best = best.reindex(passing_ids.unique(), fill_value=-np.inf).to_numpy(dtype=float)
    quantiles = np.quantile(best, 1 - fpr, axis=0, method="higher")
    return np.maximum(np.nan_to_num(quantiles, neginf=floor), floor), (
        f"per issue: the {1 - fpr:g} quantile of the passing rows' best sentence similarity, floor {floor:g}"
    )


def static_issues(
    rows: pd.DataFrame,
    issues_text: IssuesText | None = None,
    *,
    encoder: Any | None = None,
    fpr: float = 0.05,
    min_similarity: float = 0.4,
    fallback_threshold: float = 0.5,
    min_null_rows: int = 20,
    critical_only: bool = True,
    failing_only: bool = True,
    language: str = "en",
    row_reach: float = ROW_REACH,
) -> ModeResult:
    """Map rows to the issues the user gives, by feedback-sentence similarity with calibrated thresholds.

    Args:
        rows: IssueReport rows (``row_id``, ``failing``, ``feedback``; more columns are ignored).
        issues_text: text (one ``name: definition`` per line), a list of names, ``(name, definition)``
            pairs or :class:`~misattribution.taxonomy.Category`, or a whole taxonomy; ``None``: the
            default taxonomy's secondary categories (:func:`~misattribution.taxonomy.load_taxonomy`).
        encoder: a sentence-transformers model (default :func:`~.embed.load_encoder`).
        fpr: the share of passing rows (the null) each issue's threshold lets through.
        min_similarity: no threshold goes below this.
        fallback_threshold, min_null_rows: the fixed threshold used when there are too few passing rows.
        critical_only: match only the sentences that criticise the answer
            (:class:`~.sentences.CriticalityScorer`), on both the failing rows and the null.
        failing_only: map failing rows only (passing rows form the null).
        language: which names and definitions of a taxonomy to use ("en" or "zh").
        row_reach: with ``critical_only``, a clearly failing row with no critical sentence counts its most
            critical one when it scores within this of the threshold (as the clusters mode:
            :func:`~.pipeline.critical_occurrences`; 0 turns it off).

    Returns:
        ``(issues, assignments, calibration)``: every given issue (``provenance="static"``, those with
        no row included), the assignments with the supporting sentences as evidence, and the
        calibration (method, ``fpr``, each issue's threshold, the null's size and realised row rate),
        for ``IssueReport.meta``.
    """
    match = _match(
        rows,
        issues_text,
        encoder=encoder,
        fpr=fpr,
        min_similarity=min_similarity,
        fallback_threshold=fallback_threshold,
        min_null_rows=min_null_rows,
        critical_only=critical_only,
        failing_only=failing_only,
        language=language,
        row_reach=row_reach,
    )
    return ModeResult(match.issues, match.assignments, match.calibration)


def task_specific_issues(
    rows: pd.DataFrame,
    issues_text: IssuesText | None = None,
    discover_fn: DiscoverFn | None = None,
    *,
    encoder: Any | None = None,
    fpr: float = 0.05,
    min_similarity: float = 0.4,
    fallback_threshold: float = 0.5,
    min_null_rows: int = 20,
    critical_only: bool = True,
    language: str = "en",
    row_reach: float = ROW_REACH,
) -> ModeResult:
    """The given issues (as :func:`static_issues`) plus new ones found among the sentences they miss.

    ``discover_fn(leftover_rows) -> (issues, assignments)`` (or ``(issues, assignments, meta)``) is any
    discovery mode; default: the clustering mode, :func:`~.pipeline.discover_clusters`. It receives the
    failing rows that have sentences no given issue supports, with ``feedback`` replaced by those
    sentences alone (one per line) and every other column unchanged. Discovered issues whose id
    collides with a given issue's are dropped (with their assignments).

    Returns:
        ``(issues, assignments, meta)``: given issues first, then discovered ones; ``meta`` holds the
        calibration and the counts of leftover rows, sentences and discovered issues.
    """
    match = _match(
        rows,
        issues_text,
        encoder=encoder,
        fpr=fpr,
        min_similarity=min_similarity,
        fallback_threshold=fallback_threshold,
        min_null_rows=min_null_rows,
        critical_only=critical_only,
        failing_only=True,
        language=language,
        row_reach=row_reach,
    )
    leftover_text = match.leftovers.groupby("row_id", sort=False)["sentence"].agg("\n".join)
    leftover_rows = rows[rows["row_id"].astype(str).isin(leftover_text.index)].copy()
    leftover_rows["feedback"] = leftover_rows["row_id"].astype(str).map(leftover_text)
    discover_fn = discover_fn or discover_clusters
    result = discover_fn(leftover_rows) if len(leftover_rows) else ([], _empty_assignments())
    discovered, found = result[0], result[1]
    given_ids = {i.id for i in match.issues}
    kept = [i for i in discovered if i.id not in given_ids]
    found = found[found["issue_id"].isin({i.id for i in kept})]
    meta = {
        "calibration": match.calibration,
        "leftover_rows": int(len(leftover_rows)),
        "leftover_sentences": int(len(match.leftovers)),
        "discovered_issues": len(kept),
        "dropped_discovered": len(discovered) - len(kept),
        "discovery_meta": result[2] if len(result) > 2 else {},
        "llm_calls": (result[2] if len(result) > 2 else {}).get("llm_calls", 0),
    }
    assignments = pd.concat([match.assignments, found[list(ASSIGNMENT_COLUMNS)]], ignore_index=True)
    return ModeResult(match.issues + kept, assignments, meta)


def _empty_assignments() -> pd.DataFrame:
    return pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS))


def read_issues(value: str) -> IssuesText:
    """The ``--issues`` flag: a shipped taxonomy's name, a taxonomy YAML file, or a text file of issues."""
    from misattribution.taxonomy import available_taxonomies

    path = Path(value)
    if value in available_taxonomies() or path.suffix.lower() in (".yaml", ".yml"):
        return load_taxonomy(value)
    if not path.is_file():
        raise FileNotFoundError(f"no such file, and not a shipped taxonomy ({', '.join(available_taxonomies())})")
    return path.read_text(encoding="utf-8")


_SHARED = (
    ModeOption(
        "issues_text",
        str,
        None,
        "the issues to map rows to: a text file (one 'name: definition' per line; an issue list saved by "
        "'misattribution edit' adds ids, parents and example sentences), a taxonomy YAML or a shipped "
        "taxonomy's name (default: the default taxonomy's categories)",
        flag="--issues",
        parse=read_issues,
    ),
    ModeOption("fpr", float, 0.05, "share of the passing rows (the null) each issue's threshold lets through"),
    ModeOption("min_similarity", float, 0.4, "no issue's threshold goes below this cosine similarity"),
    ModeOption("fallback_threshold", float, 0.5, "the fixed threshold when there are too few passing rows"),
    ModeOption("min_null_rows", int, 20, "passing rows needed to calibrate the thresholds"),
    ModeOption("critical_only", bool, True, "match only the sentences that criticise the answer"),
    ModeOption(
        "row_reach",
        float,
        ROW_REACH,
        "a clearly failing row with no critical sentence counts its most critical one within this of the "
        "threshold (0: off)",
    ),
    ModeOption("language", str, "en", "which names and definitions of a taxonomy to use", choices=("en", "zh")),
    ModeOption("encoder", object, None, "a sentence-transformers model (Python only)", cli=False),
)

register_mode(
    "static",
    static_issues,
    options=(
        *_SHARED,
        ModeOption("failing_only", bool, True, "map failing rows only (passing rows form the null)"),
    ),
    help="rows mapped to the issues you name, by sentence similarity with calibrated thresholds; no LLM",
    requires=(),  # the embedder's package is checked when it loads (MiniLM: extra minilm; static: none)
)
register_mode(
    "task",
    task_specific_issues,
    options=(
        *_SHARED,
        ModeOption(
            "discover_fn", object, None, "finds new issues among the unmatched sentences (Python only)", cli=False
        ),
    ),
    help="the static mode, then the sentences no given issue matches clustered into new issues; no LLM",
    requires=("sklearn",),  # the embedder's package is checked when it loads (MiniLM: extra minilm; static: none)
)
