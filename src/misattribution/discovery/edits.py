"""Editing a report's issues: rename, merge, split, park (and unpark), and the issue list they make.

Discovery proposes issues; the person who reads them knows better what they are. Each operation takes an
:class:`~.report.IssueReport` and returns a **new** one (the input is left as it was), with the statistics
recomputed from the rows and assignments (:func:`~.report.compute_statistics`) and one entry appended to
``meta["edits"]``: the operation, its arguments, the time (UTC) and the issue ids before and after, with
their names (``before_names``, ``after_names``). The bundle keeps that history (``IssueReport.save`` / ``load`` round-trip ``meta``).

Ids follow meanings, not strings:

* :func:`rename`: the issue keeps its id (the same rows, the same meaning, a better name);
* :func:`merge`: the merged issue keeps the id of the issue with the most rows;
* :func:`split`: each part gets a new id (:func:`~.report.issue_id` of its name and central sentences),
  by sub-cluster (2-means on the embeddings of the issue's evidence sentences, with the report's
  embedding model) or by the rows the user selects (they become one part, the rest the other);
* :func:`park`: the issue leaves the ranking, the tree and every view (its assignments are kept in
  ``meta["parked"]``), and :func:`unpark` brings it back with the same id.

A merged or split issue is placed in the issue tree the way discovery places issues
(:func:`~.tree.attach_to_taxonomy` on its evidence); a renamed or parked one keeps its place.

:func:`save_issue_list` writes the edited issues as the issue list file that ``misattribution discover
--mode static --issues FILE`` (and ``--mode task``) reads: per issue its name and description, its id,
its parent node and example evidence sentences (the format is in :mod:`.modes.static`). Re-mapping the
same rows to that file gives the edited tree back.

Example::

    report = IssueReport.load("bundle/")
    report = rename(report, "selected-wrong-tool-51536aae", "Wrong tool for the request")
    report = merge(report, ["not-the-maximum-96370636", "points-deducted-dcea5948"], name="Score rationale")
    report = split(report, "unsupported-assertions-961a65be")            # by sub-cluster
    report = park(report, "not-to-fail-outright-081d0674")
    save_issue_list(report, "issues.txt")
    report.meta["edits"][-1]["op"]                                        # 'park'
"""

from __future__ import annotations

import copy
import difflib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery.report import (
    ASSIGNMENT_COLUMNS,
    STAT_FIELDS,
    Issue,
    IssueReport,
    compute_statistics,
    issue_id,
)

__all__ = [
    "EditError",
    "edit_history",
    "issue_list_text",
    "merge",
    "park",
    "parked_issues",
    "rename",
    "save_issue_list",
    "split",
    "unpark",
]

logger = logging.getLogger(__name__)

#: ``meta`` keys: the edit history, and the parked issues (id → issue, assignments, tree nodes).
EDITS_KEY = "edits"
PARKED_KEY = "parked"
#: Example evidence sentences written per issue by :func:`save_issue_list`.
MAX_EXAMPLES = 60
#: The bounds of an issue list's per-issue threshold (the static mode's own floor is 0.4).
MIN_THRESHOLD, MAX_THRESHOLD = 0.4, 0.7
_MAX_NAME = 200


class EditError(ValueError):
    """An edit that cannot be made (unknown issue, bad name, nothing to split); the report is unchanged."""


# -- the operations -----------------------------------------------------------------------------------
def rename(report: IssueReport, issue: str, name: str) -> IssueReport:
    """The report with ``issue`` (an id) renamed to ``name``; it keeps its id, rows and place in the tree.

    Raises:
        EditError: no such issue; an empty or multi-line name, or one another issue has.
    """
    target = _visible(report, issue)
    name = _check_name(report, name, keep={target.id})
    issues = [replace(i, name=name) if i.id == target.id else replace(i) for i in report.issues]
    return _finish(
        report,
        issues,
        report.assignments.copy(),
        list(report.nodes),
        "rename",
        {"issue": target.id, "name": name, "old_name": target.name},
        before=[target],
        after_ids=[target.id],
    )


def merge(report: IssueReport, issues: Sequence[str], name: str | None = None) -> IssueReport:
    """The report with ``issues`` (two or more ids) merged into one, which keeps the largest one's id.

    The merged issue's rows are the union of theirs (a row's evidence sentences joined), its name
    ``name`` or the largest one's, its description and examples the largest one's first. Issues of one
    tree node stay under it; issues of several are placed again from the joined evidence.
    """
    ids = list(dict.fromkeys(issues))
    if len(ids) < 2:
        raise EditError(f"merge needs two or more different issues, got {ids}")
    members = [_visible(report, i) for i in ids]
    kept = max(members, key=lambda i: (i.count, -report.issues.index(i)))
    name = _check_name(report, name, keep=set(ids)) if name is not None else kept.name
    merged = replace(
        kept,
        name=name,
        keywords=list(dict.fromkeys(k for i in [kept, *members] for k in i.keywords)),
        examples=list(dict.fromkeys(r for i in [kept, *members] for r in i.examples))[:5],
        rare=all(i.rare for i in members),
    )
    mine = report.assignments["issue_id"].isin(ids)
    joined = (
        report.assignments[mine]
        .groupby("row_id", sort=False)["evidence"]
        .agg(lambda texts: "\n".join(dict.fromkeys(line for t in texts for line in _lines(t))))
        .reset_index()
        .assign(issue_id=kept.id)
    )
    assignments = pd.concat([report.assignments[~mine], joined[list(ASSIGNMENT_COLUMNS)]], ignore_index=True)
    others = [replace(i) for i in report.issues if i.id not in ids]
    # Issues of one category stay in it; across categories, the joined evidence decides.
    same_place = len({i.parent for i in members}) == 1
    nodes = list(report.nodes) if same_place else _reparent(report, [merged], assignments)
    return _finish(
        report,
        [*others, merged],
        assignments,
        nodes,
        "merge",
        {"issues": ids, "name": name},
        before=members,
        after_ids=[kept.id],
    )


def split(
    report: IssueReport,
    issue: str,
    rows: Iterable[str] | None = None,
    *,
    by: str = "subcluster",
    names: Sequence[str] | None = None,
    encoder: Any | None = None,
) -> IssueReport:
    """The report with ``issue`` split in two issues, each with a new id.

    Args:
        report: the report.
        issue: the id of the issue to split.
        rows: row ids of the issue that become one part (the rest of its rows, the other); when given,
            ``by`` is ignored.
        by: ``"subcluster"``: 2-means (seeded with the report's seed) on the embeddings of the issue's
            distinct evidence sentences; a row goes to the part of each of its sentences (a row whose
            sentences fall in both parts is in both).
        names: the two parts' names (the selected rows' part first); default: named from each part's
            central sentences as discovery names clusters (:func:`~.naming.choose_name`).
        encoder: a sentence-transformers model (default: the report's embedding model).

    Raises:
        EditError: no such issue, a row not in it, all or none of its rows selected, fewer than two
            distinct evidence sentences to split by, or a bad name.
    """
    target = _visible(report, issue)
    if not rows and by != "subcluster":
        raise EditError(f"split by {by!r}: unknown; split by 'subcluster' or give the rows")
    mine = report.assignments[report.assignments["issue_id"] == target.id]
    encoder = encoder or _encoder(report)
    if rows:
        parts, how = _split_rows(mine, rows, target.id), {"rows": sorted(set(map(str, rows)))}
    else:
        parts, how = _split_subcluster(mine, target.id, encoder, _seed(report)), {"by": "subcluster"}
    named = _name_parts(report, target, parts, names, encoder)
    fresh: list[Issue] = []
    pieces = []
    for (part, central), name in zip(parts, named):
        identifier = issue_id(name, f"split|{target.id}|" + "|".join(sorted(central[:5])))
        words = " ".join(line for text in part["evidence"] for line in _lines(text)).casefold()
        fresh.append(
            replace(
                target,
                id=identifier,
                name=name,
                description=f"{sum(len(_lines(t)) for t in part['evidence'])} feedback sentences like: “{central[0]}”"
                if central
                else target.description,
                keywords=[k for k in target.keywords if k.casefold() in words],
                examples=[r for r in target.examples if r in set(part["row_id"])][:5] or list(part["row_id"][:5]),
            )
        )
        pieces.append(part.assign(issue_id=identifier))
    if fresh[0].id == fresh[1].id:
        raise EditError(f"split of {target.id}: both parts would be named {named[0]!r}; give two names")
    assignments = pd.concat(
        [report.assignments[report.assignments["issue_id"] != target.id], *pieces], ignore_index=True
    )[list(ASSIGNMENT_COLUMNS)]
    others = [replace(i) for i in report.issues if i.id != target.id]
    nodes = _reparent(report, fresh, assignments, encoder=encoder)
    return _finish(
        report,
        [*others, *fresh],
        assignments,
        nodes,
        "split",
        {"issue": target.id, **how, "names": named},
        before=[target],
        after_ids=[i.id for i in fresh],
    )


def park(report: IssueReport, issue: str) -> IssueReport:
    """The report without ``issue`` in its ranking, tree and views; kept in ``meta["parked"]`` for :func:`unpark`.

    Its assignments are stored with it, so the other issues' statistics are unchanged (a row keeps its
    other issues) and unparking restores it exactly.
    """
    target = _visible(report, issue)
    mine = report.assignments["issue_id"] == target.id
    chain = _node_chain(report.nodes, target.parent)
    record = {
        "issue": {k: v for k, v in target.to_dict().items() if k not in STAT_FIELDS},
        "assignments": report.assignments.loc[mine, ["row_id", "evidence"]].astype(str).values.tolist(),
        "nodes": [node.to_dict() for node in chain],
    }
    issues = [replace(i) for i in report.issues if i.id != target.id]
    result = _finish(
        report,
        issues,
        report.assignments[~mine].reset_index(drop=True),
        list(report.nodes),
        "park",
        {"issue": target.id},
        before=[target],
        after_ids=[],
    )
    result.meta.setdefault(PARKED_KEY, {})[target.id] = record
    return result


def unpark(report: IssueReport, issue: str) -> IssueReport:
    """The report with a parked issue back in its ranking, tree and views, with its id and rows."""
    stored = report.meta.get(PARKED_KEY, {})
    if issue not in stored:
        raise EditError(
            f"no parked issue {issue!r}" + (f"; parked: {', '.join(stored)}" if stored else "; nothing is parked")
        )
    record = stored[issue]
    known = {f.name for f in fields(Issue)}
    restored = Issue(**{k: v for k, v in record["issue"].items() if k in known})
    _check_name(report, restored.name, keep={restored.id})
    assignments = pd.concat(
        [
            report.assignments,
            pd.DataFrame(record["assignments"], columns=["row_id", "evidence"]).assign(issue_id=restored.id),
        ],
        ignore_index=True,
    )[list(ASSIGNMENT_COLUMNS)]
    nodes = list(report.nodes)
    if nodes:
        from misattribution.discovery.tree import TreeNode

        nodes += [TreeNode(**d) for d in record["nodes"]]
    elif restored.parent is not None:
        restored.parent = None  # a report without a tree: the issue sits at the top level
    result = _finish(
        report,
        [*(replace(i) for i in report.issues), restored],
        assignments,
        nodes,
        "unpark",
        {"issue": restored.id},
        before=[],
        after_ids=[restored.id],
    )
    del result.meta[PARKED_KEY][restored.id]
    return result


def parked_issues(report: IssueReport) -> list[Issue]:
    """The parked issues (without statistics), in the order they were parked."""
    known = {f.name for f in fields(Issue)}
    return [
        Issue(**{k: v for k, v in record["issue"].items() if k in known})
        for record in report.meta.get(PARKED_KEY, {}).values()
    ]


def edit_history(report: IssueReport) -> pd.DataFrame:
    """The edits made to the report, oldest first: ``time, op, before, after`` (names) and ``args``."""
    lines = []
    for entry in report.meta.get(EDITS_KEY, []):
        lines.append(
            {
                "time": entry["time"],
                "op": entry["op"],
                "before": ", ".join(entry.get("before_names", entry["before"])),
                "after": ", ".join(entry.get("after_names", entry["after"])),
                "args": entry["args"],
            }
        )
    return pd.DataFrame(lines, columns=["time", "op", "before", "after", "args"])


# -- the issue list file ------------------------------------------------------------------------------
def issue_list_text(report: IssueReport, *, max_examples: int = MAX_EXAMPLES, encoder: Any | None = None) -> str:
    """The report's issues as issue list text (see :func:`save_issue_list`): ranked, then the parked ones.

    >>> from misattribution.discovery.report import IssueReport, Issue
    >>> rows = pd.DataFrame({"row_id": ["a"], "score": [1], "score_norm": [0.0], "failing": [True], "system": ["s"]})
    >>> report = IssueReport(rows, [Issue("wrong-tool", "Wrong tool", "calls a tool that cannot answer")],
    ...                      pd.DataFrame({"row_id": ["a"], "issue_id": ["wrong-tool"], "evidence": ["Used grep."]}))
    >>> print(issue_list_text(report).split("\\n", 3)[-1])
    Wrong tool: calls a tool that cannot answer
      id: wrong-tool
      example: Used grep.
    <BLANKLINE>
    """
    from misattribution.discovery.modes.static import _split_name

    edits = len(report.meta.get(EDITS_KEY, []))
    lines = [
        f"# misattribution issue list: {len(report.issues)} issues"
        + (f", after {edits} edit(s)" if edits else "")
        + (f", {len(report.meta.get(PARKED_KEY, {}))} parked" if report.meta.get(PARKED_KEY) else ""),
        "# re-map rows to them: misattribution discover ROWS --mode static --issues THIS_FILE",
        "# one issue per line 'name: description'; indented: its id, its parent in the tree, evidence examples",
    ]
    for issue in [*report.issues, *parked_issues(report)]:
        description = " ".join(issue.description.split())
        head = f"{issue.name}: {description}" if description else issue.name
        head_name = _split_name(head)[0].strip()
        if head_name != issue.name:  # a name holding ':' or starting with a list marker
            head = f"{issue.name.replace(':', ' -').lstrip('-*•# ')}: {description}".rstrip(": ")
        lines.append(head)
        if _split_name(head)[0].strip() != issue.name:
            lines.append(f"  name: {issue.name}")
        lines.append(f"  id: {issue.id}")
        if issue.parent is not None:
            lines.append(f"  parent: {issue.parent}")
        if issue.id in report.meta.get(PARKED_KEY, {}):
            lines.append("  parked: yes")
        examples = _examples(report, issue.id, max_examples)
        threshold = _example_threshold(examples, encoder) if len(examples) >= 3 else None
        if threshold is not None:
            lines.append(f"  threshold: {threshold:.3f}")
        lines += [f"  example: {sentence}" for sentence in examples]
    return "\n".join(lines) + "\n"


def save_issue_list(
    report: IssueReport, path: str | Path, *, max_examples: int = MAX_EXAMPLES, encoder: Any | None = None
) -> Path:
    """Write the report's issues as the issue list file of ``discover --mode static|task --issues FILE``.

    Per issue, in ranked order: ``name: description``, then indented ``id:``, ``parent:`` (its node in
    the issue tree) and up to ``max_examples`` ``example:`` lines (its most frequent distinct evidence
    sentences), which the static mode compares feedback sentences with, and a ``threshold:``: the
    similarity that all but 5 % of its examples reach to their nearest other example (between
    :data:`MIN_THRESHOLD` and :data:`MAX_THRESHOLD`; ``encoder``, default the report's model, embeds
    them), so that a new sentence joins the issue only when it is about as close to the issue's
    examples as they are to one another. Parked issues follow, marked
    ``parked: yes``: the static mode lets them take the sentences like theirs (praise, score rationale)
    and leaves them out of its result, as the edited report does.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    text = issue_list_text(report, max_examples=max_examples, encoder=encoder or _encoder(report))
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return path


def _example_threshold(examples: list[str], encoder: Any | None) -> float | None:
    """The 5 % quantile of each example's similarity to its nearest other example, clipped."""
    if encoder is None:
        return None
    from misattribution.discovery.embed import embed

    vectors = embed(examples, encoder)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1.0)
    return float(np.clip(np.quantile(similarity.max(axis=1), 0.05), MIN_THRESHOLD, MAX_THRESHOLD))


def _examples(report: IssueReport, issue: str, limit: int) -> list[str]:
    stored = report.meta.get(PARKED_KEY, {}).get(issue)
    if stored is not None:
        texts = [evidence for _, evidence in stored["assignments"]]
    else:
        texts = report.assignments.loc[report.assignments["issue_id"] == issue, "evidence"].tolist()
    counts = Counter(" ".join(line.split()) for text in texts for line in _lines(text))
    return [sentence for sentence, _ in counts.most_common(limit)]


# -- helpers --------------------------------------------------------------------------------------------
def _lines(text: Any) -> list[str]:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    return [line.strip() for line in str(text).split("\n") if line.strip()]


def _visible(report: IssueReport, issue: str) -> Issue:
    for candidate in report.issues:
        if candidate.id == issue:
            return candidate
    if issue in report.meta.get(PARKED_KEY, {}):
        raise EditError(f"issue {issue!r} is parked; unpark it first")
    close = difflib.get_close_matches(str(issue), [i.id for i in report.issues], n=1, cutoff=0.5)
    raise EditError(f"no issue {issue!r} in this report" + (f" (did you mean {close[0]!r}?)" if close else ""))


def _check_name(report: IssueReport, name: Any, *, keep: set[str]) -> str:
    if not isinstance(name, str) or not name.strip():
        raise EditError("an issue name cannot be empty")
    name = " ".join(name.split()) if "\n" not in name and "\r" not in name else ""
    if not name:
        raise EditError("an issue name is one line")
    if len(name) > _MAX_NAME:
        raise EditError(f"an issue name has at most {_MAX_NAME} characters, got {len(name)}")
    taken = {i.name.casefold(): i.id for i in report.issues if i.id not in keep}
    taken.update({i.name.casefold(): i.id for i in parked_issues(report) if i.id not in keep})
    if name.casefold() in taken:
        raise EditError(f"another issue is already named {name!r} ({taken[name.casefold()]}); merge them instead")
    return name


def _seed(report: IssueReport) -> int:
    return int(report.meta.get("seed", 0) or 0)


def _encoder(report: IssueReport) -> Any:
    from misattribution.discovery.embed import DEFAULT_MODEL, load_encoder

    settings = report.meta.get("settings") or {}
    return load_encoder(settings.get("embedding_model") or report.meta.get("model") or DEFAULT_MODEL)


def _split_rows(mine: pd.DataFrame, rows: Iterable[str], issue: str) -> list[tuple[pd.DataFrame, list[str]]]:
    chosen = list(dict.fromkeys(map(str, rows)))
    members = set(mine["row_id"].astype(str))
    stray = [r for r in chosen if r not in members]
    if stray:
        raise EditError(f"rows not in issue {issue!r}: {', '.join(stray[:5])}" + (" ..." if len(stray) > 5 else ""))
    if len(chosen) == len(members):
        raise EditError(f"all {len(members)} rows of {issue!r} selected: nothing would be left to split off")
    inside = mine["row_id"].astype(str).isin(chosen)
    return [(mine[inside], []), (mine[~inside], [])]


def _split_subcluster(mine: pd.DataFrame, issue: str, encoder: Any, seed: int) -> list[tuple[pd.DataFrame, list[str]]]:
    from sklearn.cluster import KMeans

    from misattribution.discovery.embed import embed

    lines = [(str(r), line) for r, text in zip(mine["row_id"], mine["evidence"]) for line in _lines(text)]
    counts = Counter(line for _, line in lines)
    if len(counts) < 2:
        raise EditError(
            f"issue {issue!r} has {len(counts)} distinct evidence sentence(s): nothing to split by; select rows instead"
        )
    unique = list(counts)
    vectors = embed(unique, encoder)
    weights = np.array([counts[s] for s in unique], dtype=float)
    labels = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(vectors, sample_weight=weights).labels_
    part_of = dict(zip(unique, labels))
    parts = []
    for label in (0, 1):
        picked = [(r, line) for r, line in lines if part_of[line] == label]
        frame = (
            pd.DataFrame(picked, columns=["row_id", "evidence"])
            .groupby("row_id", sort=False)["evidence"]
            .agg(lambda texts: "\n".join(dict.fromkeys(texts)))
            .reset_index()
        )
        members = np.flatnonzero(labels == label)
        centroid = vectors[members].mean(axis=0)
        order = members[np.argsort(-(vectors[members] @ centroid), kind="stable")]
        parts.append((frame, [unique[k] for k in order]))
    # Rows with no evidence sentence cannot be placed by their sentences: they stay with the larger part.
    bare = mine[~mine["row_id"].astype(str).isin({r for r, _ in lines})]
    if len(bare):
        larger = int(len(parts[1][0]) > len(parts[0][0]))
        parts[larger] = (pd.concat([parts[larger][0], bare[["row_id", "evidence"]]]), parts[larger][1])
    return parts


def _name_parts(
    report: IssueReport,
    target: Issue,
    parts: list[tuple[pd.DataFrame, list[str]]],
    names: Sequence[str] | None,
    encoder: Any,
) -> list[str]:
    if names is not None:
        if len(names) != 2:
            raise EditError(f"a split makes two issues: give two names, got {len(names)}")
        checked = [_check_name(report, n, keep={target.id}) for n in names]
        if checked[0].casefold() == checked[1].casefold():
            raise EditError(f"the two parts need different names, got {checked[0]!r} twice")
        return checked
    from misattribution.discovery import naming
    from misattribution.discovery.embed import embed

    taken = [i.name for i in report.issues if i.id != target.id] + [i.name for i in parked_issues(report)]
    chosen: list[str] = []
    for number, (part, central) in enumerate(parts, start=1):
        if not central:  # parts by rows: order their sentences by closeness to the part's centroid
            sentences = list(dict.fromkeys(line for text in part["evidence"] for line in _lines(text)))
            if sentences:
                vectors = embed(sentences, encoder)
                order = np.argsort(-(vectors @ vectors.mean(axis=0)), kind="stable")
                central[:] = [sentences[k] for k in order]
        top = central[:30]
        name = ""
        if top:
            centrality = np.linspace(1.0, 0.9, len(top))
            name = naming.choose_name(top, centrality, [0.0] * len(top), siblings=[*taken, *chosen], members=central)
        if not name or name.casefold() in {n.casefold() for n in [*taken, *chosen]}:
            name = f"{target.name} ({number})"
        chosen.append(name)
    return chosen


def _node_chain(nodes: list[Any], node_id: str | None) -> list[Any]:
    """The node ``node_id`` and its ancestors, root first."""
    by_id = {node.id: node for node in nodes}
    chain = []
    while node_id is not None and node_id in by_id:
        chain.insert(0, by_id[node_id])
        node_id = by_id[node_id].parent
    return chain


def _reparent(
    report: IssueReport, changed: list[Issue], assignments: pd.DataFrame, *, encoder: Any | None = None
) -> list[Any]:
    """Place ``changed`` issues in the tree as discovery does (in place); return the report's nodes plus any new."""
    if not report.nodes:
        for issue in changed:
            issue.parent = None
        return []
    tree_meta = report.meta.get("tree") or {}
    try:
        from misattribution.discovery.tree import attach_to_taxonomy

        nodes, parents, _ = attach_to_taxonomy(
            report.rows,
            changed,
            assignments,
            tree_meta.get("taxonomy"),
            encoder=encoder or _encoder(report),
            language=tree_meta.get("language", "en"),
            seed=_seed(report),
        )
    except (OSError, ValueError, KeyError) as err:  # the report's taxonomy is not loadable here
        logger.warning("edited issues keep their parent: the tree's taxonomy could not be used (%s)", err)
        return list(report.nodes)
    for issue in changed:
        issue.parent = parents[issue.id]
    return list(report.nodes) + nodes


def _tidy_nodes(nodes: list[Any], issues: list[Issue]) -> list[Any]:
    """The nodes that hold an issue (or a child that does), each once, primaries before their children,
    ``unattributed`` last."""
    unique = list({node.id: node for node in nodes}.values())
    used = {i.parent for i in issues if i.parent is not None}
    for node in unique:  # a secondary's primary is used when the secondary is
        if node.id in used and node.parent is not None:
            used.add(node.parent)
    kept = [n for n in unique if n.id in used]
    roots = [n for n in kept if n.parent is None and n.level != "unattributed"]
    ordered = []
    for root in roots:
        ordered += [root, *(n for n in kept if n.parent == root.id)]
    ordered += [n for n in kept if n.level == "unattributed"]
    return ordered + [n for n in kept if n not in ordered]


def _finish(
    report: IssueReport,
    issues: list[Issue],
    assignments: pd.DataFrame,
    nodes: list[Any],
    op: str,
    args: dict[str, Any],
    *,
    before: list[Issue],
    after_ids: list[str],
) -> IssueReport:
    assignments = assignments.astype({"row_id": str}).reset_index(drop=True)
    ranked = compute_statistics(report.rows, assignments, issues, seed=_seed(report))
    meta = copy.deepcopy(report.meta)
    after_names = {i.id: i.name for i in ranked if i.id in after_ids}
    meta.setdefault(EDITS_KEY, []).append(
        {
            "op": op,
            "args": args,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "before": [i.id for i in before],
            "after": list(after_ids),
            "before_names": [i.name for i in before],
            "after_names": [after_names[i] for i in after_ids],
            "names": {**{i.id: i.name for i in before}, **after_names},  # id -> its latest name here
        }
    )
    return IssueReport(
        rows=report.rows, issues=ranked, assignments=assignments, meta=meta, nodes=_tidy_nodes(nodes, ranked)
    )
