"""The result of issue discovery: ranked, quantified recurring issues, and the bundle that stores them.

An :class:`IssueReport` holds

* ``rows``: one row per judged answer, with at least ``row_id`` (str), ``score`` (the judge's score,
  as given), ``score_norm`` (mapped to [0, 1], 1 = best), ``failing`` (bool) and ``system`` (str;
  ``"default"`` when the input has none), plus whatever text columns the input had (``question``,
  ``answer``, ``reference``, ``feedback``, ...);
* ``issues``: the :class:`Issue` list, ranked by impact;
* ``assignments``: the row × issue matrix in long form, one line per (row, issue) with the sentence(s)
  of the feedback behind it (``row_id``, ``issue_id``, ``evidence``) so a viewer can highlight them;
* ``meta``: how the report was made (mode, settings, seed, model names, timings, LLM calls, version).

Statistics (count, shares, mean score, impact, bootstrap interval, per-system breakdown) are computed
from ``rows`` and ``assignments`` by :func:`compute_statistics`, never entered by hand, so a filtered
view recomputes them the same way.

The bundle (``save`` / ``load``) is a folder of Parquet files and one JSON file::

    bundle/
      meta.json          # IssueReport.meta + the issue list (names, keywords, descriptions, provenance)
      rows.parquet
      assignments.parquet
      issues.parquet     # the statistics table, for tools that only read Parquet
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
        count, share, failing_share, mean_score, impact, share_ci_low, share_ci_high: statistics.
    """

    id: str
    name: str
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    provenance: str = "cluster"
    examples: list[str] = field(default_factory=list)
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
        meta = {"bundle_version": BUNDLE_VERSION, **self.meta, "issues": [_strict(i.to_dict()) for i in self.issues]}
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
        rows = pd.read_parquet(folder / "rows.parquet")
        assignments = pd.read_parquet(folder / "assignments.parquet")
        return cls(rows=rows, issues=issues, assignments=assignments, meta=meta)


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
