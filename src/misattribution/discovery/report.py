"""The result of issue discovery: ranked, quantified recurring issues, and the bundle that stores them.

An :class:`IssueReport` holds

* ``rows``: one row per judged answer, with at least ``row_id`` (str), ``score`` (the judge's score,
  as given), ``score_norm`` (mapped to [0, 1], 1 = best), ``failing`` (bool) and ``system`` (str;
  ``"default"`` when the input has none), plus whatever text columns the input had (``question``,
  ``answer``, ``reference``, ``feedback``, ...);
* ``issues``: the :class:`Issue` list, ranked by impact;
* ``assignments``: the row × issue matrix in long form, one line per (row, issue) with the sentence(s)
  of the feedback behind it (``row_id``, ``issue_id``, ``evidence``) so a viewer can highlight them;
* ``meta``: how the report was made (mode, settings, seed, model names, timings, LLM calls, version);
* ``nodes``: the category nodes of the issue tree (:mod:`.tree`): primary → secondary category →
  the issues (each :class:`Issue` names its ``parent`` node) → rows. :meth:`IssueReport.tree` gives
  every node with its statistics, :meth:`IssueReport.node_rows` the rows under a node.

Statistics (count, shares, mean score, impact, bootstrap interval, per-system breakdown) are computed
from ``rows`` and ``assignments`` by :func:`compute_statistics`, never entered by hand, so a filtered
view recomputes them the same way.

The bundle (``save`` / ``load``) is a folder of Parquet files and one JSON file::

    bundle/
      meta.json          # IssueReport.meta + the issue list (names, keywords, descriptions, provenance)
      rows.parquet
      assignments.parquet
      issues.parquet     # the statistics table, for tools that only read Parquet
      tree.parquet       # every node of the issue tree with its statistics (meta.json keeps the nodes)
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BUNDLE_VERSION = "1"
REQUIRED_ROW_COLUMNS = ("row_id", "score", "score_norm", "failing", "system")
ASSIGNMENT_COLUMNS = ("row_id", "issue_id", "evidence")


def issue_id(name: str, provenance: str = "") -> str:
    """A stable id from an issue's name: a readable slug plus a short hash.

    >>> issue_id("Calculation errors in multi-step arithmetic")
    'calculation-errors-in-multi-step-arithmetic-...'
    """
    folded = unicodedata.normalize("NFKC", name).casefold().strip()
    slug = re.sub(r"[^\w]+", "-", folded, flags=re.UNICODE).strip("-")[:48].strip("-") or "issue"
    digest = hashlib.sha1(f"{provenance}|{folded}".encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


@dataclass
class Issue:
    """One recurring issue. The statistics fields are filled by :func:`compute_statistics`.

    Attributes:
        id: stable identifier (see :func:`issue_id`); the same issue keeps its id across runs.
        name: a short, readable name (for clusters: the cleaned most central sentence).
        description: one or two sentences saying what the issue is.
        keywords: c-TF-IDF keywords or the detector's terms.
        provenance: ``"cluster"``, ``"llm"``, ``"static"`` or ``"rule:<detector>"``.
        examples: representative ``row_id`` values, most typical first.
        parent: the id of its category node in the issue tree (:mod:`.tree`), ``None`` when the
            report has no tree.
        rare: found in fewer rows than a recurring issue needs, kept because its shortcoming is clear.
        count, share, failing_share, mean_score, impact, share_ci_low, share_ci_high: statistics.
    """

    id: str
    name: str
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    provenance: str = "cluster"
    examples: list[str] = field(default_factory=list)
    parent: str | None = None
    rare: bool = False
    count: int = 0
    share: float = float("nan")
    failing_share: float = float("nan")
    mean_score: float = float("nan")
    impact: float = float("nan")
    share_ci_low: float = float("nan")
    share_ci_high: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


STAT_FIELDS = ("count", "share", "failing_share", "mean_score", "impact", "share_ci_low", "share_ci_high")


def compute_statistics(
    rows: pd.DataFrame,
    assignments: pd.DataFrame,
    issues: list[Issue],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[Issue]:
    """Fill the statistics of every issue from ``rows`` and ``assignments``; return them ranked.

    * ``count``: rows with the issue; ``share``: count / all rows; ``failing_share``: share of the
      failing rows that have it;
    * ``mean_score``: mean ``score_norm`` of the rows with the issue (0 = worst, 1 = best);
    * ``impact``: ``share * (1 - mean_score)``, the share weighted by how bad those rows are;
    * ``share_ci_low`` / ``share_ci_high``: seeded percentile bootstrap over rows. In a row resample the
      number of rows carrying an issue is exactly Binomial(n, share), so the resamples are drawn from
      that distribution directly: O(resamples) per issue instead of O(resamples * rows).

    Issues are returned sorted by impact, then count, then name (deterministic).
    """
    n = len(rows)
    failing = rows["failing"].to_numpy(dtype=bool)
    scores = pd.to_numeric(rows["score_norm"], errors="coerce").to_numpy(dtype=float)
    n_failing = int(failing.sum())
    rng = np.random.default_rng(seed)
    # Row positions of every assignment, grouped by issue, in one vectorised pass.
    positions = pd.Index(rows["row_id"].astype(str)).get_indexer(assignments["row_id"].astype(str))
    issue_codes = pd.Index([i.id for i in issues]).get_indexer(assignments["issue_id"])
    keep = (positions >= 0) & (issue_codes >= 0)
    membership = np.zeros((len(issues), n), dtype=bool)
    membership[issue_codes[keep], positions[keep]] = True
    alpha = (1 - confidence) / 2
    for code, issue in enumerate(issues):
        mask = membership[code]
        issue.count = int(mask.sum())
        issue.share = issue.count / n if n else float("nan")
        issue.failing_share = float((mask & failing).sum() / n_failing) if n_failing else float("nan")
        member_scores = scores[mask]
        member_scores = member_scores[~np.isnan(member_scores)]
        issue.mean_score = float(member_scores.mean()) if len(member_scores) else float("nan")
        issue.impact = issue.share * (1.0 - issue.mean_score) if len(member_scores) else 0.0
        if n and n_resamples:
            shares = rng.binomial(n, issue.share, size=n_resamples) / n
            issue.share_ci_low, issue.share_ci_high = (float(v) for v in np.quantile(shares, [alpha, 1 - alpha]))
    return sorted(issues, key=lambda i: (-(i.impact if not np.isnan(i.impact) else -1), -i.count, i.name))


NODE_STAT_FIELDS = (
    "count",
    "share",
    "failing_share",
    "mean_score",
    "impact",
    "impact_ci_low",
    "impact_ci_high",
    "share_ci_low",
    "share_ci_high",
)


def membership_statistics(
    rows: pd.DataFrame,
    membership: np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The statistics of row sets (one boolean row mask per line of ``membership``), one line each.

    The same quantities as :func:`compute_statistics` (count, share, share of the failing rows, mean
    ``score_norm``, impact = share * (1 - mean score), share interval), plus a percentile bootstrap
    interval of the impact: rows resampled with Poisson(1) weights (the large-sample stand-in for
    multinomial resampling), drawn for the set's own rows only, so the cost grows with the set, not
    the report. Used for every node of the issue tree.
    """
    n = len(rows)
    failing = rows["failing"].to_numpy(dtype=bool)
    n_failing = int(failing.sum())
    scores = pd.to_numeric(rows["score_norm"], errors="coerce").to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    lines = []
    for mask in np.atleast_2d(membership).astype(bool):
        count = int(mask.sum())
        share = count / n if n else float("nan")
        values = scores[mask]
        known = values[~np.isnan(values)]
        mean = float(known.mean()) if len(known) else float("nan")
        impact = share * (1.0 - mean) if len(known) else 0.0
        low = high = share_low = share_high = float("nan")
        if n and n_resamples and count:
            weights = rng.poisson(1.0, size=(n_resamples, count)).astype(float)
            drawn = weights.sum(axis=1) / n
            finite = ~np.isnan(values)
            total = weights[:, finite].sum(axis=1)
            means = np.divide(
                weights[:, finite] @ values[finite], total, out=np.full(n_resamples, np.nan), where=total > 0
            )
            low, high = (
                float(v) for v in np.quantile(drawn * (1.0 - np.nan_to_num(means, nan=1.0)), [alpha, 1 - alpha])
            )
            shares = rng.binomial(n, share, size=n_resamples) / n
            share_low, share_high = (float(v) for v in np.quantile(shares, [alpha, 1 - alpha]))
        lines.append(
            {
                "count": count,
                "share": share,
                "failing_share": float((mask & failing).sum() / n_failing) if n_failing else float("nan"),
                "mean_score": mean,
                "impact": impact,
                "impact_ci_low": low,
                "impact_ci_high": high,
                "share_ci_low": share_low,
                "share_ci_high": share_high,
            }
        )
    return pd.DataFrame(lines, columns=list(NODE_STAT_FIELDS))


def per_system(rows: pd.DataFrame, assignments: pd.DataFrame, issues: list[Issue]) -> pd.DataFrame:
    """Issue share and mean score per system: columns ``system, issue_id, count, rows, share, mean_score``."""
    systems = rows[["row_id", "system", "score_norm"]].astype({"row_id": str})
    totals = systems.groupby("system").size().rename("rows")
    joined = assignments[["row_id", "issue_id"]].drop_duplicates().astype({"row_id": str}).merge(systems, on="row_id")
    table = (
        joined.groupby(["system", "issue_id"])
        .agg(count=("row_id", "size"), mean_score=("score_norm", "mean"))
        .reset_index()
        .merge(totals, on="system")
    )
    table["share"] = table["count"] / table["rows"]
    full = pd.MultiIndex.from_product([sorted(totals.index), [i.id for i in issues]], names=["system", "issue_id"])
    table = table.set_index(["system", "issue_id"]).reindex(full).reset_index()
    table["rows"] = table["system"].map(totals)
    table["count"] = table["count"].fillna(0).astype(int)
    table["share"] = table["share"].fillna(0.0)
    return table[["system", "issue_id", "count", "rows", "share", "mean_score"]]


@dataclass
class IssueReport:
    """Recurring issues with their statistics, the rows, and the row × issue assignments."""

    rows: pd.DataFrame
    issues: list[Issue]
    assignments: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    nodes: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED_ROW_COLUMNS if c not in self.rows.columns]
        if missing:
            raise ValueError(f"IssueReport rows lack the columns {missing}")
        if self.rows["row_id"].astype(str).duplicated().any():
            raise ValueError("IssueReport rows have duplicate row_id values")
        missing = [c for c in ASSIGNMENT_COLUMNS if c not in self.assignments.columns]
        if missing:
            raise ValueError(f"IssueReport assignments lack the columns {missing}")
        known = {i.id for i in self.issues}
        unknown = set(self.assignments["issue_id"]) - known
        if unknown:
            raise ValueError(f"assignments name issues that are not in the report: {sorted(unknown)[:5]}")
        node_ids = {node.id for node in self.nodes}
        orphans = [i.id for i in self.issues if i.parent is not None and i.parent not in node_ids]
        if self.nodes and orphans:
            raise ValueError(f"issues name parent nodes that are not in the tree: {orphans[:5]}")

    # -- views --------------------------------------------------------------------------------------
    def issue(self, issue_id: str) -> Issue:
        for issue in self.issues:
            if issue.id == issue_id:
                return issue
        raise KeyError(f"no issue {issue_id!r} in this report")

    def table(self) -> pd.DataFrame:
        """One line per issue, ranked: id, name, provenance, keywords and the statistics."""
        columns = ["id", "name", "provenance", "keywords", "description", *STAT_FIELDS]
        return pd.DataFrame([{c: getattr(i, c) for c in columns} for i in self.issues], columns=columns)

    def matrix(self) -> pd.DataFrame:
        """The row × issue boolean matrix (index ``row_id``, one column per issue id, ranked order)."""
        ids = [i.id for i in self.issues]
        flags = pd.crosstab(self.assignments["row_id"].astype(str), self.assignments["issue_id"]).astype(bool)
        return flags.reindex(index=self.rows["row_id"].astype(str), columns=ids, fill_value=False)

    def per_system(self) -> pd.DataFrame:
        return per_system(self.rows, self.assignments, self.issues)

    # -- the issue tree -------------------------------------------------------------------------------
    def tree_order(self) -> list[tuple[str, str, str | None, str, int]]:
        """(id, name, parent, level, depth) of every node, depth first: categories, then their issues."""
        node_ids = {node.id for node in self.nodes}
        leaves_of: dict[str | None, list[Issue]] = {}
        for issue in self.issues:  # ranked order; a parent the tree lacks (no tree at all) counts as none
            leaves_of.setdefault(issue.parent if issue.parent in node_ids else None, []).append(issue)
        order: list[tuple[str, str, str | None, str, int]] = []
        depth = {None: -1}
        for node in self.nodes:
            depth[node.id] = depth.get(node.parent, -1) + 1
            order.append((node.id, node.name, node.parent, node.level, depth[node.id]))
            if node.level != "primary":
                order += [(i.id, i.name, node.id, "issue", depth[node.id] + 1) for i in leaves_of.get(node.id, [])]
        # Leaves directly under a primary category (no secondary category dominates their rows) follow its
        # secondary categories.
        for node in [n for n in self.nodes if n.level == "primary" and leaves_of.get(n.id)]:
            end = max(
                k
                for k, line in enumerate(order)
                if line[0] == node.id
                or line[2] == node.id
                or any(line[2] == child.id for child in self.nodes if child.parent == node.id)
            )
            order[end + 1 : end + 1] = [
                (i.id, i.name, node.id, "issue", depth[node.id] + 1) for i in leaves_of[node.id]
            ]
        order += [(i.id, i.name, None, "issue", 0) for i in leaves_of.get(None, [])]
        return order

    def node_rows(self, node_id: str) -> list[str]:
        """The row ids under a node of the tree (an issue id, a category node id, or ``unattributed``)."""
        leaves = self.leaves_under(node_id)
        ids = self.assignments.loc[self.assignments["issue_id"].isin(leaves), "row_id"].astype(str)
        return list(dict.fromkeys(ids))

    def leaves_under(self, node_id: str) -> set[str]:
        """The ids of the issues under a node (an issue id: itself)."""
        if any(i.id == node_id for i in self.issues):
            return {node_id}
        below = {node_id}
        for node in self.nodes:  # parents come before their children
            if node.parent in below:
                below.add(node.id)
        if not any(node.id == node_id for node in self.nodes):
            raise KeyError(f"no node {node_id!r} in this report's tree")
        return {i.id for i in self.issues if i.parent in below}

    def _tree_membership(self) -> tuple[list[tuple[str, str, str | None, str, int]], np.ndarray]:
        order = self.tree_order()
        positions = pd.Index(self.rows["row_id"].astype(str))
        leaf_rows = {
            issue_id: positions.get_indexer(group.astype(str).unique())
            for issue_id, group in self.assignments.groupby("issue_id")["row_id"]
        }
        membership = np.zeros((len(order), len(self.rows)), dtype=bool)
        for k, (node_id, _, _, level, _) in enumerate(order):
            leaves = {node_id} if level == "issue" else self.leaves_under(node_id)
            for leaf in leaves:
                found = leaf_rows.get(leaf)
                if found is not None:
                    membership[k, found[found >= 0]] = True
        return order, membership

    def tree(self, *, n_resamples: int = 1000, seed: int | None = None) -> pd.DataFrame:
        """Every node of the issue tree, depth first, with its statistics.

        Columns: ``id, name, parent, level`` (``primary``, ``secondary``, ``unattributed`` or
        ``issue``), ``depth``, ``n_issues`` (leaves under it) and :data:`NODE_STAT_FIELDS` (a node's rows
        are the union of its leaves' rows: a row with two issues counts once). A report without
        category nodes gives its issues at depth 0.
        """
        order, membership = self._tree_membership()
        seed = int(self.meta.get("seed", 0) or 0) if seed is None else seed
        stats = membership_statistics(self.rows, membership, n_resamples=n_resamples, seed=seed)
        frame = pd.DataFrame(order, columns=["id", "name", "parent", "level", "depth"])
        frame["n_issues"] = [1 if level == "issue" else len(self.leaves_under(i)) for i, _, _, level, _ in order]
        return pd.concat([frame, stats], axis=1)

    def tree_per_system(self) -> pd.DataFrame:
        """Per system, every node's rows and share: ``system, id, count, rows, share``."""
        order, membership = self._tree_membership()
        systems = self.rows["system"].astype(str).to_numpy()
        lines = []
        for system in sorted(set(systems)):
            mine = systems == system
            counts = membership[:, mine].sum(axis=1)
            lines += [
                {"system": system, "id": node[0], "count": int(c), "rows": int(mine.sum()), "share": c / mine.sum()}
                for node, c in zip(order, counts)
            ]
        return pd.DataFrame(lines, columns=["system", "id", "count", "rows", "share"])

    def recompute(self, **bootstrap: Any) -> IssueReport:
        """Statistics recomputed (e.g. after rows or assignments changed), ranking refreshed."""
        self.issues = compute_statistics(self.rows, self.assignments, self.issues, **bootstrap)
        return self

    # -- bundle I/O ---------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the bundle (see the module docstring) and return its folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.rows.to_parquet(folder / "rows.parquet", index=False)
        self.assignments[list(ASSIGNMENT_COLUMNS)].to_parquet(folder / "assignments.parquet", index=False)
        self.table().to_parquet(folder / "issues.parquet", index=False)
        self.tree(n_resamples=0).to_parquet(folder / "tree.parquet", index=False)
        meta = {
            "bundle_version": BUNDLE_VERSION,
            **self.meta,
            "issues": [_strict(i.to_dict()) for i in self.issues],
            "tree_nodes": [node.to_dict() for node in self.nodes],
        }
        (folder / "meta.json").write_text(
            json.dumps(meta, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> IssueReport:
        """Read a bundle written by :meth:`save`."""
        folder = Path(folder)
        for name in ("meta.json", "rows.parquet", "assignments.parquet"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder}: not an issue-report bundle (no {name})")
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        issues = [Issue(**{k: v for k, v in d.items() if k in Issue.__dataclass_fields__}) for d in meta.pop("issues")]
        for issue in issues:
            for name in STAT_FIELDS[1:]:
                value = getattr(issue, name)
                setattr(issue, name, float("nan") if value is None else value)
        meta.pop("bundle_version", None)
        from misattribution.discovery.tree import TreeNode

        nodes = [
            TreeNode(**{k: v for k, v in d.items() if k in TreeNode.__dataclass_fields__})
            for d in meta.pop("tree_nodes", [])
        ]
        rows = pd.read_parquet(folder / "rows.parquet")
        assignments = pd.read_parquet(folder / "assignments.parquet")
        return cls(rows=rows, issues=issues, assignments=assignments, meta=meta, nodes=nodes)


def _strict(record: dict[str, Any]) -> dict[str, Any]:
    """NaN is not JSON: store it as null."""
    return {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in record.items()}


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)
