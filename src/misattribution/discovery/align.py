"""Issues across runs and across systems.

:func:`align_reports` maps a new run's issues onto an existing report, so that the same issue keeps
the same id from run to run: issues whose name is their meaning (static, rule and CLEAR issues) match
on identical ids; the rest are paired by the Hungarian method on the cosine similarity of issue
*profiles* plus the overlap of their rows (on the rows both runs hold), and a pair counts only when it
is close enough (see :func:`align_reports`). A profile is the mean of three normalised embeddings: the
name, the keywords, and the mean of the representative sentences (the evidence of the issue's example
rows). New issues keep their own ids unless an old issue already has that id (then they get a fresh
one); old issues with no partner are "vanished". The aligned report's ``meta["identity"]`` records the
status of every issue and the vanished ones.

:func:`compare_systems` compares two systems of one report issue by issue (it is
:func:`.diff.compare_systems`, the one implementation: Newcombe interval, exact test, Holm correction).

Example::

    aligned = align_reports(IssueReport.load("run2"), IssueReport.load("run1"))
    aligned.report.save("run2_aligned"); print(aligned.mapping)
    compare_systems(report, "model-a", "model-b").query("flagged")
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from misattribution.discovery.embed import character_space, embedding_width, load_encoder
from misattribution.discovery.embed import embed as embed_texts
from misattribution.discovery.report import Issue, IssueReport

_EVIDENCE_SENTENCES = 5


@dataclass
class AlignedReport:
    """A new report expressed in an old report's issue ids.

    Attributes:
        report: the new report, its matched issues renamed to the old ids (assignments too).
        mapping: one line per new issue: ``name``, ``new_id`` (its id before alignment), ``id`` (after),
            ``old_name``, ``similarity`` (1.0 for identical ids, NaN for new issues), ``status``
            (``"matched"`` or ``"new"``), ``share`` and ``old_share``.
        new_issues: issues of the new run with no partner in the old report.
        vanished_issues: issues of the old report with no partner in the new run.
        threshold: the least similarity of a match.
    """

    report: IssueReport
    mapping: pd.DataFrame
    new_issues: list[Issue]
    vanished_issues: list[Issue]
    threshold: float


def profile_texts(report: IssueReport) -> list[str]:
    """Every text :func:`issue_profiles` embeds for ``report``: names, keywords and evidence sentences."""
    keywords = [", ".join(i.keywords) for i in report.issues]
    evidence = [s for sentences in _representative_sentences(report) for s in sentences]
    return [i.name for i in report.issues] + [k for k in keywords if k] + evidence


def issue_profiles(report: IssueReport, encoder: Any, space: Any = None) -> np.ndarray:
    """One normalised vector per issue of ``report``: the mean of its name, keywords and evidence embeddings.
    With ``space`` (a :class:`~.embed.CharacterSpace`), Chinese texts are embedded by their characters, as
    discovery clusters them: the encoder places every Chinese text near every other."""
    issues = report.issues
    if not issues:
        return np.zeros((0, 1), dtype=np.float32)

    def embed(texts: list[str], encoder: Any) -> np.ndarray:
        vectors = embed_texts(texts, encoder)
        return space.apply(texts, vectors) if space is not None and len(texts) else vectors

    names = embed([i.name for i in issues], encoder)
    parts = [names]
    keywords = [", ".join(i.keywords) for i in issues]
    if any(keywords):
        vectors = embed([k or i.name for k, i in zip(keywords, issues)], encoder)
        parts.append(vectors)
    evidence = _representative_sentences(report)
    if any(evidence):
        flat = [s for sentences in evidence for s in sentences]
        vectors = embed(flat, encoder)
        bounds = np.cumsum([0] + [len(s) for s in evidence])
        means = np.stack(
            [vectors[a:b].mean(axis=0) if b > a else names[k] for k, (a, b) in enumerate(zip(bounds, bounds[1:]))]
        )
        parts.append(means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12))
    profile = np.mean(parts, axis=0)
    return profile / np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)


def _representative_sentences(report: IssueReport) -> list[list[str]]:
    """Per issue, the evidence lines of its example rows (else of any of its rows), at most a few."""
    assignments = report.assignments.astype({"row_id": str})
    found = []
    for issue in report.issues:
        mine = assignments[assignments["issue_id"] == issue.id]
        examples = mine[mine["row_id"].isin(issue.examples)] if issue.examples else mine
        lines = [
            line.strip() for text in (examples if len(examples) else mine)["evidence"] for line in str(text).split("\n")
        ]
        found.append([line for line in dict.fromkeys(lines) if line][:_EVIDENCE_SENTENCES])
    return found


#: Provenances whose name is the issue's meaning (a given issue text, a detector, CLEAR's own issue):
#: for these an identical id is the same issue whatever its evidence.
NAMED_PROVENANCES = ("static", "clear")


def _named(issue: Issue) -> bool:
    return issue.provenance in NAMED_PROVENANCES or issue.provenance.startswith("rule")


def row_jaccard(new: IssueReport, old: IssueReport) -> np.ndarray:
    """Jaccard of every (new issue, old issue) pair's rows, counted on the rows both reports hold."""
    shared = set(new.rows["row_id"].astype(str)) & set(old.rows["row_id"].astype(str))

    def sets(report: IssueReport) -> list[set[str]]:
        pairs = report.assignments.astype({"row_id": str})
        pairs = pairs[pairs["row_id"].isin(shared)]
        grouped = pairs.groupby("issue_id")["row_id"].agg(set)
        return [grouped.get(i.id, set()) for i in report.issues]

    a, b = sets(new), sets(old)
    out = np.zeros((len(a), len(b)))
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            union = len(x | y)
            out[i, j] = len(x & y) / union if union else 0.0
    return out


def align_reports(
    new: IssueReport,
    old: IssueReport,
    *,
    encoder: Any | None = None,
    threshold: float = 0.6,
    min_row_jaccard: float = 0.4,
    min_similarity_with_rows: float = 0.4,
) -> AlignedReport:
    """Map ``new``'s issues onto ``old``'s: the same issue keeps its id, an id never names two issues.

    Two issues are the same when their profiles (name, keywords, evidence; :func:`issue_profiles`)
    have cosine similarity at least ``threshold``, or when they share rows (Jaccard of their rows
    counted on the rows both reports hold, :func:`row_jaccard`, at least ``min_row_jaccard``) and
    their profiles still agree (at least ``min_similarity_with_rows``). Pairs are chosen by the
    Hungarian method on similarity + row Jaccard. An identical id counts as the same issue at once only
    for issues whose name is their meaning (static, rule and CLEAR issues); for discovered issues it
    must pass the same test, and a new issue that keeps an old id it does not match gets a fresh one,
    so no id names two different issues.

    Args:
        new: the report of the new run (not modified).
        old: the existing report whose ids are kept.
        encoder: a sentence-transformers model (default :func:`~.embed.load_encoder`).
        threshold, min_row_jaccard, min_similarity_with_rows: when two issues are the same (above).
    """
    old_by_id = {i.id: i for i in old.issues}
    partner: dict[str, tuple[str, float]] = {
        i.id: (i.id, 1.0) for i in new.issues if i.id in old_by_id and _named(i) and _named(old_by_id[i.id])
    }
    rest_new = [k for k, i in enumerate(new.issues) if i.id not in partner]
    rest_old = [k for k, i in enumerate(old.issues) if i.id not in partner]
    if rest_new and rest_old:
        encoder = encoder or load_encoder()
        space = character_space(profile_texts(new) + profile_texts(old), embedding_width(encoder))
        similarity = issue_profiles(new, encoder, space)[rest_new] @ issue_profiles(old, encoder, space)[rest_old].T
        overlap = row_jaccard(new, old)[np.ix_(rest_new, rest_old)]
        same = (similarity >= threshold) | ((overlap >= min_row_jaccard) & (similarity >= min_similarity_with_rows))
        for a, b in zip(*linear_sum_assignment(-(similarity + overlap))):
            if same[a, b]:
                partner[new.issues[rest_new[a]].id] = (old.issues[rest_old[b]].id, float(similarity[a, b]))

    renamed = {new_id: old_id for new_id, (old_id, _) in partner.items()}
    taken = set(old_by_id) | set(renamed.values())
    for issue in new.issues:  # an unmatched issue may not keep an id the old report gave another issue
        if issue.id not in renamed and issue.id in taken:
            suffix = 2
            while f"{issue.id}-{suffix}" in taken:
                suffix += 1
            renamed[issue.id] = f"{issue.id}-{suffix}"
            taken.add(renamed[issue.id])
    issues = [replace(i, id=renamed.get(i.id, i.id)) for i in new.issues]
    assignments = new.assignments.assign(issue_id=new.assignments["issue_id"].map(lambda v: renamed.get(v, v)))

    lines = []
    for issue in new.issues:
        old_id, similarity = partner.get(issue.id, (None, float("nan")))
        previous = old_by_id.get(old_id) if old_id else None
        lines.append(
            {
                "name": issue.name,
                "new_id": issue.id,
                "id": renamed.get(issue.id, issue.id),
                "old_name": previous.name if previous else None,
                "similarity": similarity,
                "status": "matched" if previous else "new",
                "share": issue.share,
                "old_share": previous.share if previous else float("nan"),
            }
        )
    matched_old = {old_id for old_id, _ in partner.values()}
    vanished = [i for i in old.issues if i.id not in matched_old]
    identity = {
        "aligned_to": old.meta.get("run") or old.meta.get("input", {}).get("source") or "previous",
        "status": {line["id"]: line["status"] for line in lines},
        "vanished": [{"id": i.id, "name": i.name, "count": i.count} for i in vanished],
    }
    report = IssueReport(new.rows, issues, assignments, {**new.meta, "identity": identity}, nodes=list(new.nodes))
    return AlignedReport(
        report=report,
        mapping=pd.DataFrame(
            lines, columns=["name", "new_id", "id", "old_name", "similarity", "status", "share", "old_share"]
        ),
        new_issues=[i for i, line in zip(issues, lines) if line["status"] == "new"],
        vanished_issues=vanished,
        threshold=threshold,
    )


def compare_systems(
    report: IssueReport,
    a: str,
    b: str,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Issue by issue, the share of system ``a``'s and ``b``'s rows with it, and their difference.

    Kept for callers of this module: the comparison is :func:`.diff.compare_systems` (Newcombe
    interval, Fisher's exact test, Holm's correction), with its ``significant`` column named
    ``flagged``. ``n_resamples`` and ``seed`` are ignored (the statistics are exact, not a bootstrap).
    """
    from misattribution.discovery.diff import compare_systems as compare

    del n_resamples, seed
    return compare(report, a, b, confidence=confidence).rename(columns={"significant": "flagged"})
