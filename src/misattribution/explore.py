"""Filter, aggregate and compare an :class:`~misattribution.discovery.report.IssueReport`: what the Space shows.

Everything here is a pure function of the report and a :class:`Filters` value, so the Space's widgets
only call in and display. :class:`Explorer` precomputes once, per report, what every view needs at
100,000 rows:

* the row × issue matrix as a column-major numpy boolean array (a filter on issues is a few vector
  operations, never a join), and its true cells as (row, issue) pairs (a slice's counts, score sums
  and bootstrap level counts come from one weighted bincount of the kept pairs by (issue, row kind), a
  kind being a (``score_norm``, failing) pair);
* the row × misattribution-category matrix, when the rows have a ``misattribution`` column;
* the question / answer / feedback texts case-folded once and joined per row with NUL (built in the
  background when the Space stores a report), so a case-insensitive substring search is one literal match
  per row: polars' SIMD ``memmem`` (Arrow's RE2 without polars), only the candidate rows when the other
  filters left fewer than half;
* the score order of the rows, so a page of instances sorted by score costs one boolean gather and
  reads the page's cells only.

Each filter's mask is computed once: the last :data:`MASK_CACHE` masks (and text searches) are kept,
so the views of one filter change, and the tabs opened after it, share one computation.

Statistics on a filtered slice follow the definitions of
:func:`~misattribution.discovery.report.compute_statistics` (count, share, failing share, mean
``score_norm``, impact = share × (1 − mean score)), computed from the matrix; the test suite checks that
both give the same numbers on every slice. Intervals are percentile bootstraps over rows, drawn in
distribution-equivalent form (see :func:`_bootstrap_share` and :func:`_bootstrap_levels`), so they cost
microseconds instead of a resampled row matrix.

Example:
    >>> import pandas as pd
    >>> from misattribution.discovery.report import Issue, IssueReport
    >>> rows = pd.DataFrame({"row_id": ["a", "b", "c"], "score": [0, 3, 1], "score_norm": [0.0, 1.0, 1 / 3],
    ...                      "failing": [True, False, True], "system": "default",
    ...                      "feedback": ["Wrong sum.", "Correct.", "Units missing."]})
    >>> assignments = pd.DataFrame({"row_id": ["a", "c"], "issue_id": ["math", "units"],
    ...                             "evidence": ["Wrong sum.", "Units missing."]})
    >>> report = IssueReport(rows, [Issue("math", "Arithmetic"), Issue("units", "Units")], assignments)
    >>> explorer = Explorer(report)
    >>> int(explorer.mask(Filters(none_issues=("math",), score_max=2)).sum())
    1
    >>> explorer.filtered_rows(Filters(text="SUM"))["row_id"].tolist()
    ['a']
"""

from __future__ import annotations

import ast
import json
import math
import re
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from misattribution.discovery.report import IssueReport

__all__ = [
    "SEARCH_COLUMNS",
    "Explorer",
    "Filters",
    "InstancePage",
    "Overview",
    "RowDetail",
    "export_bundle_zip",
    "highlight_evidence",
    "parse_labels",
]

#: The text columns a search looks in.
SEARCH_COLUMNS = ("question", "answer", "feedback")
#: The columns of a row's detail (``summary``: a CLEAR bundle's per-row ``evaluation_summary``).
DETAIL_COLUMNS = ("question", "answer", "reference", "feedback", "summary", "score", "score_norm", "failing", "system")
#: Columns where human labels are looked for, for the agreement view.
HUMAN_SCORE_COLUMN = "human_score"
HUMAN_LABELS_COLUMN = "human_misattribution"
#: Masks an Explorer keeps (one per filter; 1 MB each at 1M rows).
MASK_CACHE = 16
# A slice's sums come from one (set x row kind) table when it has at most this many cells (see _row_kinds).
_MAX_KINDS = 512
_MAX_KIND_CELLS = 1 << 20
# Above this many distinct values the impact interval uses the normal approximation (see _bootstrap_levels).
_MAX_BOOTSTRAP_LEVELS = 256
_NOT_IN_TAXONOMY = "(not in the taxonomy)"
# The statistics columns of issue_table and tree_table, computed by Explorer._statistics.
_STATISTICS = (
    "count",
    "share",
    "share_ci_low",
    "share_ci_high",
    "failing_share",
    "mean_score",
    "impact",
    "impact_ci_low",
    "impact_ci_high",
)


# -- filters ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What to keep. Every field is optional; an empty ``Filters()`` keeps every row.

    Attributes:
        any_issues: keep rows with at least one of these issues (ids).
        all_issues: keep rows with every one of these issues.
        none_issues: drop rows with any of these issues.
        score_min, score_max: inclusive range on the judge's ``score``.
        norm_min, norm_max: inclusive range on ``score_norm`` (0 = worst, 1 = best).
        categories: keep rows whose ``misattribution`` has at least one of these categories (ids; a
            primary category id stands for all of its secondary categories).
        systems: keep rows of these systems.
        text: keep rows whose question, answer or feedback contains this text (case-insensitive).
        failing_only: keep failing rows only.
        nodes: keep rows under every one of these nodes of the issue tree (category node ids such as
            ``"category:truncation"``, ``"unattributed"``, or issue ids): a category node stands for
            the rows of any issue below it, the rows :meth:`IssueReport.node_rows` gives.
    """

    any_issues: tuple[str, ...] = ()
    all_issues: tuple[str, ...] = ()
    none_issues: tuple[str, ...] = ()
    score_min: float | None = None
    score_max: float | None = None
    norm_min: float | None = None
    norm_max: float | None = None
    categories: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    text: str = ""
    failing_only: bool = False
    nodes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("any_issues", "all_issues", "none_issues", "categories", "systems", "nodes"):
            value = getattr(self, name)
            values = (value,) if isinstance(value, str) else (value or ())
            object.__setattr__(self, name, tuple(str(v) for v in values))
        object.__setattr__(self, "text", str(self.text or ""))

    @property
    def is_empty(self) -> bool:
        return self == Filters()


def parse_labels(value: Any) -> list[str]:
    """A misattribution cell as a list of labels: lists, numpy arrays, JSON or Python list text, ``"a;b"``.

    >>> parse_labels('["result_error", "typos"]'), parse_labels("a; b"), parse_labels(None), parse_labels("[]")
    (['result_error', 'typos'], ['a', 'b'], [], [])
    """
    if value is None:
        return []
    if isinstance(value, float) and math.isnan(value):
        return []
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = None
        if isinstance(parsed, list):
            return [str(v).strip() for v in parsed if v is not None and str(v).strip()]
    return [part.strip() for part in re.split(r"[;,]", text) if part.strip()]


# -- results ------------------------------------------------------------------------------------------


@dataclass
class Overview:
    """The headline numbers of a slice.

    ``score_histogram`` has ``score, rows, share``; ``category_tree`` (``None`` without a
    ``misattribution`` column) has ``primary, primary_name, category, category_name, rows``.
    """

    rows: int
    total_rows: int
    failing: int
    failing_share: float
    mean_score_norm: float
    score_histogram: pd.DataFrame
    category_tree: pd.DataFrame | None


@dataclass
class InstancePage:
    """One page of the filtered rows, sorted by score. ``rows`` holds the display columns."""

    rows: pd.DataFrame
    page: int
    pages: int
    total: int
    page_size: int

    @property
    def caption(self) -> str:
        if not self.total:
            return "No rows match the filters."
        first = self.page * self.page_size + 1
        last = min(self.total, first + self.page_size - 1)
        return f"Rows {first:,}–{last:,} of {self.total:,} (page {self.page + 1} of {self.pages})"


@dataclass
class RowDetail:
    """One row, with its issues and evidence located in the texts.

    ``feedback_segments`` and ``answer_segments`` are ``(text, label)`` pairs, ``label`` being the issue
    name for marked evidence and ``None`` elsewhere (what ``gr.HighlightedText`` shows);
    ``unmatched_evidence`` lists ``(issue name, evidence)`` found in neither text.
    """

    row_id: str
    fields: dict[str, Any]
    issues: list[dict[str, str]]
    misattribution: list[str]
    feedback_segments: list[tuple[str, str | None]]
    answer_segments: list[tuple[str, str | None]]
    unmatched_evidence: list[tuple[str, str]] = field(default_factory=list)


# -- the explorer -------------------------------------------------------------------------------------


class Explorer:
    """Precomputed, read-only views of one :class:`IssueReport`; every method takes a filter mask.

    Args:
        report: the report to explore (not modified).
        taxonomy: a :class:`~misattribution.taxonomy.Taxonomy` (or its name) to group misattribution
            categories under their primary category; default: the one named in ``report.meta``
            (``"taxonomy"``) or the package default.
    """

    def __init__(self, report: IssueReport, *, taxonomy: Any = None) -> None:
        self.report = report
        self.rows = report.rows.reset_index(drop=True)
        self.n_rows = len(self.rows)
        self.row_ids = self.rows["row_id"].astype(str).to_numpy()
        self._row_id_array = pa.array(self.row_ids, type=pa.large_string())
        self.issues = list(report.issues)
        self.issue_ids = [i.id for i in self.issues]
        self.issue_names = {i.id: i.name for i in self.issues}
        self._issue_column = {issue_id: j for j, issue_id in enumerate(self.issue_ids)}
        self._assigned_rows = report.assignments["row_id"].astype(str).to_numpy()
        # One hash join of the assignments' row ids on the rows' (Arrow's, ~3x pandas' Index at 1M rows).
        self._assigned_positions = self.positions(self._assigned_rows)
        self.matrix = self._issue_matrix(report.assignments)
        self.score = pd.to_numeric(self.rows["score"], errors="coerce").to_numpy(dtype=float)
        self.score_norm = pd.to_numeric(self.rows["score_norm"], errors="coerce").to_numpy(dtype=float)
        self.failing = self.rows["failing"].fillna(False).to_numpy(dtype=bool)
        systems = pd.Categorical(self.rows["system"].astype(str))
        self.systems = [str(s) for s in systems.categories]
        self._system_codes = np.asarray(systems.codes)
        # Worst first, NaN scores last; ties keep the input order.
        self._score_order = np.lexsort((np.arange(self.n_rows), np.isnan(self.score_norm), self.score_norm))
        # The issue matrix as (row, issue) pairs: a slice's statistics are bincounts over the kept pairs.
        self._pair_rows, self._pair_columns = _pairs(self.matrix)
        self._has_issue = self.matrix.any(axis=1)
        self._issue_counts = np.bincount(self._pair_columns, minlength=len(self.issue_ids))
        self._score_values = self.score[~np.isnan(self.score)]
        self._score_levels = np.unique(self._score_values)
        # Each row's badness (1 - score_norm, 0 when unscored) as a code into its few distinct levels.
        valid = ~np.isnan(self.score_norm)
        self._scored = valid.astype(float)
        self._score_filled = np.where(valid, self.score_norm, 0.0)
        self._badness = np.where(valid, 1.0 - np.nan_to_num(self.score_norm), 0.0)
        self._badness_levels, self._badness_codes = np.unique(np.append(self._badness, 0.0), return_inverse=True)
        self._badness_codes = self._badness_codes[:-1]
        self.tree_nodes, self._node_columns = self._tree_structure()
        self._node_pairs: tuple[np.ndarray, np.ndarray] | None = None  # built by the first tree statistics
        self._node_system_pairs: np.ndarray | None = None  # built by the first tree_per_system
        self._last_kept: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # see _kept
        self.taxonomy = _resolve_taxonomy(taxonomy, report.meta)
        self._label_ids: dict[str, str] = {}
        self.categories, self.category_matrix = self._category_matrix()
        # The category matrix as (row, category) pairs and the scored rows' score levels: a slice's category
        # counts and histogram are bincounts weighted by its mask (no copy of its rows of the matrix).
        self._category_pairs = _pairs(self.category_matrix) if self.category_matrix is not None else None
        scored_rows = np.flatnonzero(~np.isnan(self.score))
        self._scored_rows = scored_rows
        self._score_level_codes = np.searchsorted(self._score_levels, self.score[scored_rows])
        self._search: _TextSearch | None = None  # built by the first text search
        self._latest_needle: str | None = None  # the last text given to search_soon
        self._masks: OrderedDict[Filters, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._search_lock = threading.Lock()
        self._pair_cache: dict[str, dict[str, np.ndarray]] = {}
        self._kinds: dict[str, np.ndarray] | None = None  # built by the first statistics
        self._pairs_lock = threading.Lock()

    def positions(self, row_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """The positions of ``row_ids`` among the rows (-1 for an id the report lacks)."""
        values = pa.array(np.asarray(row_ids, dtype=object), type=pa.large_string())
        found = pc.index_in(values, value_set=self._row_id_array)
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    # -- precomputation --
    def _issue_matrix(self, assignments: pd.DataFrame) -> np.ndarray:
        matrix = np.zeros((self.n_rows, len(self.issue_ids)), dtype=bool, order="F")
        if len(assignments) and self.issue_ids:
            rows = self._assigned_positions
            cols = pd.Index(self.issue_ids).get_indexer(assignments["issue_id"].astype(str))
            known = (rows >= 0) & (cols >= 0)
            matrix[rows[known], cols[known]] = True
        return matrix

    def _tree_structure(self) -> tuple[pd.DataFrame, dict[str, list[int]]]:
        """The issue tree depth first (:meth:`IssueReport.tree_order`) and each node's issue columns (the
        issues under it, :meth:`IssueReport.leaves_under`); a report without a tree is its flat issue list."""
        records = self.report.tree_order()
        position = {issue_id: j for j, issue_id in enumerate(self.issue_ids)}
        columns = {
            node_id: sorted(position[i] for i in self.report.leaves_under(node_id) if i in position)
            for node_id, *_ in records
        }
        frame = pd.DataFrame(records, columns=["id", "name", "parent", "level", "depth"])
        frame["n_issues"] = [len(columns[node_id]) for node_id in frame["id"]]
        return frame, columns

    def _category_matrix(self) -> tuple[list[str], np.ndarray | None]:
        """Rows x misattribution categories, each distinct label resolved once: list cells go through Arrow
        (flattened in one call), other cells (``"a;b"``, JSON list text) are parsed once per distinct value."""
        if "misattribution" not in self.rows.columns:
            return [], None
        column = self.rows["misattribution"]
        try:
            cells = pa.array(column, type=pa.list_(pa.large_string()), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            cells = None
        if cells is not None:
            flat = pc.list_flatten(cells).dictionary_encode()
            rows = pc.list_parent_indices(cells).to_numpy(zero_copy_only=False)
            which = flat.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            labels = [self._label_id(str(v).strip()) for v in flat.dictionary.to_pylist()] + [""]
        else:  # text cells or a mixture: one parse per distinct cell
            codes, uniques = pd.factorize(column.map(_cell_key))
            parsed = [[self._label_id(label) for label in parse_labels(json.loads(u))] for u in uniques]
            lengths = np.array([len(labels) for labels in parsed] + [0], dtype=np.int64)
            starts = np.concatenate(([0], np.cumsum(lengths)))
            rows = np.repeat(np.arange(self.n_rows), lengths[codes])
            which = np.concatenate([np.arange(starts[c], starts[c + 1]) for c in codes if lengths[c]] or [[]])
            which = which.astype(np.int64)
            labels = [label for labels in parsed for label in labels] + [""]
        present = sorted({label for label in labels if label}, key=self._category_sort_key)
        column_of = np.array([present.index(label) if label else -1 for label in labels], dtype=np.int64)
        columns = column_of[which]
        matrix = np.zeros((self.n_rows, len(present)), dtype=bool, order="F")
        matrix[rows[columns >= 0], columns[columns >= 0]] = True
        return present, matrix

    def _label_id(self, label: str) -> str:
        if label not in self._label_ids:
            self._label_ids[label] = self._category_id(label) if label else ""
        return self._label_ids[label]

    def row_labels(self, position: int) -> list[str]:
        """The misattribution category ids of the row at ``position``, in the order its cell gives them."""
        if "misattribution" not in self.rows.columns:
            return []
        return [self._label_id(label) for label in parse_labels(self.rows["misattribution"].iloc[position])]

    def _category_id(self, label: str) -> str:
        """A label as a taxonomy id. An integer is a ``ClassLabel`` index into the secondary categories
        (AttriData's Parquet files store ``misattribution`` so); anything unknown is kept as written."""
        category = self.taxonomy.resolve(label) if self.taxonomy is not None else None
        if category is not None:
            return category.id
        if self.taxonomy is not None and label.isdigit() and int(label) < len(self.taxonomy.secondary_ids):
            return self.taxonomy.secondary_ids[int(label)]
        return label

    def _category_sort_key(self, category_id: str) -> tuple[int, str]:
        ids = self.taxonomy.secondary_ids if self.taxonomy is not None else []
        return (ids.index(category_id), category_id) if category_id in ids else (len(ids), category_id)

    # -- names --
    def issue_name(self, issue_id: str) -> str:
        return self.issue_names.get(issue_id, issue_id)

    def category_name(self, category_id: str) -> str:
        if self.taxonomy is not None and category_id in self.taxonomy:
            return self.taxonomy.get(category_id).name_en
        return category_id

    def primary_of(self, category_id: str) -> tuple[str, str]:
        """``(id, English name)`` of a category's primary category, or a marked placeholder."""
        if self.taxonomy is not None and category_id in self.taxonomy:
            primary = self.taxonomy.primary_of(category_id)
            return primary.id, primary.name_en
        return _NOT_IN_TAXONOMY, _NOT_IN_TAXONOMY

    @property
    def has_tree(self) -> bool:
        """Whether the report's issues sit under category nodes (otherwise the tree is a flat list)."""
        return bool(self.report.nodes)

    def node_name(self, node_id: str) -> str:
        found = self.tree_nodes.loc[self.tree_nodes["id"] == node_id, "name"]
        return str(found.iloc[0]) if len(found) else node_id

    @property
    def has_human_scores(self) -> bool:
        return HUMAN_SCORE_COLUMN in self.rows.columns and self.rows[HUMAN_SCORE_COLUMN].notna().any()

    # -- filtering --
    def mask(self, filters: Filters | None = None) -> np.ndarray:
        """The boolean mask of the rows that pass ``filters`` (all rows for ``None``), read-only.

        Computed once per filter: the last :data:`MASK_CACHE` masks are kept, so the views of a filter
        change, and the tabs opened after it, share one computation (a 1M-row text search costs seconds).
        """
        filters = filters or Filters()
        with self._lock:
            if filters in self._masks:
                self._masks.move_to_end(filters)
                return self._masks[filters]
        keep = self._compute_mask(filters)
        keep.setflags(write=False)
        with self._lock:
            self._masks[filters] = keep
            while len(self._masks) > MASK_CACHE:
                self._masks.popitem(last=False)
        return keep

    def _compute_mask(self, filters: Filters) -> np.ndarray:
        keep = np.ones(self.n_rows, dtype=bool)
        if filters.is_empty:
            return keep
        if filters.any_issues:
            keep &= self.matrix[:, self._issue_columns(filters.any_issues)].any(axis=1)
        if filters.all_issues:
            keep &= self.matrix[:, self._issue_columns(filters.all_issues)].all(axis=1)
        if filters.none_issues:
            keep &= ~self.matrix[:, self._issue_columns(filters.none_issues)].any(axis=1)
        keep &= _in_range(self.score, filters.score_min, filters.score_max)
        keep &= _in_range(self.score_norm, filters.norm_min, filters.norm_max)
        if filters.failing_only:
            keep &= self.failing
        if filters.systems:
            codes = [self.systems.index(s) for s in filters.systems if s in self.systems]
            keep &= np.isin(self._system_codes, codes)
        if filters.categories:
            keep &= self._category_mask(filters.categories)
        for node_id in filters.nodes:
            keep &= self.node_mask(node_id)
        if filters.text.strip():
            keep &= self._text_mask(filters.text.strip(), within=keep)
        return keep

    def node_mask(self, node_id: str) -> np.ndarray:
        """The rows under a node of the issue tree: those with any issue below it (an issue: its rows)."""
        if node_id not in self._node_columns:
            raise KeyError(f"no node {node_id!r} in this report's issue tree")
        columns = self._node_columns[node_id]
        if not columns:
            return np.zeros(self.n_rows, dtype=bool)
        return self.matrix[:, columns].any(axis=1)

    def _issue_columns(self, issue_ids: Iterable[str]) -> list[int]:
        unknown = [i for i in issue_ids if i not in self._issue_column]
        if unknown:
            raise KeyError(f"no issues {unknown} in this report")
        return [self._issue_column[i] for i in issue_ids]

    def _category_mask(self, categories: Sequence[str]) -> np.ndarray:
        if self.category_matrix is None:
            raise KeyError("this report's rows have no misattribution column to filter on")
        wanted: set[str] = set()
        for category in categories:
            if self.taxonomy is not None and category in self.taxonomy.primary_ids:
                wanted.update(c.id for c in self.taxonomy.children(category))
            else:
                wanted.add(self._category_id(category))
        columns = [j for j, c in enumerate(self.categories) if c in wanted]
        if not columns:
            return np.zeros(self.n_rows, dtype=bool)
        return self.category_matrix[:, columns].any(axis=1)

    def prepare_search(self) -> None:
        """Build what a text search needs (the Space calls it in a thread when a report is loaded; the
        first search otherwise builds it, or waits for a build under way). Idempotent."""
        # Its own lock: the masks' lock stays free while a build is under way (filters without text go on).
        with self._search_lock:
            if self._search is None:
                self._search = _TextSearch(self.rows, [c for c in SEARCH_COLUMNS if c in self.rows.columns])

    def _text_mask(self, needle: str, within: np.ndarray) -> np.ndarray:
        self.prepare_search()
        return self._search.mask(needle, within)

    def search_soon(self, text: str) -> None:
        """Start searching ``text`` (as :attr:`Filters.text` would) in the whole table in a background thread
        and keep the result, so that a filter with it, applied next, finds its text mask ready or under way.
        The Space calls it as a visitor types in the search box: at 1M rows a search costs 60-70 ms that the
        visitor's move to "Apply filters" then hides. Only the latest text waits its turn (an earlier one not
        yet started is dropped); a text already searched costs nothing."""
        needle = text.strip()
        if needle:
            self._latest_needle = needle  # before the job can run: it checks that it is still the latest
            _warm_pool().submit(self._search_in_background, needle)

    def _search_in_background(self, needle: str) -> None:
        if needle != self._latest_needle:  # typed over before its turn came
            return
        self.prepare_search()
        self._search.search_all(needle)

    def filtered_rows(self, filters: Filters | np.ndarray | None = None) -> pd.DataFrame:
        """The rows that pass (a copy, original columns, original order)."""
        return self.rows.loc[self._as_mask(filters)].copy()

    def _as_mask(self, filters: Filters | np.ndarray | None) -> np.ndarray:
        if isinstance(filters, np.ndarray):
            if filters.shape != (self.n_rows,) or filters.dtype != bool:
                raise ValueError(f"a mask must be a boolean array of length {self.n_rows}")
            return filters
        return self.mask(filters)

    def slice_report(self, filters: Filters | np.ndarray | None = None) -> IssueReport:
        """The filtered rows and their assignments as a new report (call ``.recompute()`` for its statistics)."""
        return self._slice(self._as_mask(filters))

    # -- aggregates --
    def issue_table(
        self,
        filters: Filters | np.ndarray | None = None,
        *,
        n_resamples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> pd.DataFrame:
        """Issue statistics on the slice, ranked like :func:`~misattribution.discovery.report.compute_statistics`.

        Columns: ``issue_id, name, provenance, count, share, share_ci_low, share_ci_high, failing_share,
        mean_score, impact, impact_ci_low, impact_ci_high, keywords``. ``share`` is relative to the
        slice; issues with no row in the slice stay in the table with count 0.
        """
        keep = self._as_mask(filters)
        pairs = self._pair_data("issues", self._pair_rows, self._pair_columns)
        stats = self._statistics(pairs, len(self.issue_ids), keep, n_resamples, confidence, seed)
        impact, counts = stats["impact"], stats["count"]
        table = pd.DataFrame(
            {
                "issue_id": self.issue_ids,
                "name": [i.name for i in self.issues],
                "provenance": [i.provenance for i in self.issues],
                **{name: stats[name] for name in _STATISTICS},
                "keywords": [", ".join(map(str, i.keywords)) for i in self.issues],
            }
        )
        # compute_statistics' order: impact (NaN last), then count, then name.
        names = [i.name for i in self.issues]
        order = sorted(
            range(len(table)), key=lambda j: (-(impact[j] if not np.isnan(impact[j]) else -1), -counts[j], names[j])
        )
        return table.iloc[order].reset_index(drop=True)

    def uncovered(
        self,
        filters: Filters | np.ndarray | None = None,
        *,
        n_resamples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> dict[str, float]:
        """The failing rows of the slice that no issue explains, with :meth:`issue_table`'s statistics.

        What the issues leave unexplained: ``count`` failing rows without any issue, their ``share`` of
        the slice (with its interval), ``failing_share`` (of the failing rows), ``mean_score`` and
        ``impact``, as if they were one more issue.
        """
        keep = self._as_mask(filters)
        rows = np.flatnonzero(self.failing & ~self._has_issue)
        pairs = self._pair_data("uncovered", rows, np.zeros(len(rows), dtype=np.int64))
        stats = self._statistics(pairs, 1, keep, n_resamples, confidence, seed)
        return {name: (int(stats[name][0]) if name == "count" else float(stats[name][0])) for name in _STATISTICS}

    def _pair_data(self, kind: str, rows: np.ndarray, sets: np.ndarray) -> dict[str, np.ndarray]:
        """What the statistics sum over (row, set) pairs, each row's values gathered once per kind of pairs
        (``issues``, ``uncovered``, ``tree``): a slice then only compresses these arrays with its kept pairs,
        sequential reads, instead of gathering its rows' values at random on every filter."""
        with self._pairs_lock:
            data = self._pair_cache.get(kind)
            if data is None:
                n_sets = int(sets.max()) + 1 if len(sets) else 1
                kinds = self._row_kinds()
                if kinds is not None and n_sets * len(kinds["score"]) <= _MAX_KIND_CELLS:
                    # Each pair as (set, kind of its row): one weighted bincount gives every sum of a slice.
                    data = {"rows": rows, "sets": sets, "kinds": sets * len(kinds["score"]) + kinds["codes"][rows]}
                else:
                    data = {
                        "rows": rows,
                        "sets": sets,
                        "scored": self._scored[rows],
                        "score": self._score_filled[rows],
                        "failing": self.failing[rows].astype(float),
                        "level": sets * len(self._badness_levels) + self._badness_codes[rows],
                    }
                self._pair_cache[kind] = data
            return data

    def _kept(self, rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """``keep[rows]`` for the pairs of ``rows`` (an array of :meth:`_pair_data` or :meth:`_tree_pairs`), the
        last slice's kept per array: the tree's statistics and its shares per system, computed for the same
        filter's mask, gather it once (1.5M pairs at 1M rows)."""
        last = self._last_kept.get(id(rows))
        if last is not None and last[0] is keep and last[1] is rows:
            return last[2]
        kept = keep[rows]
        self._last_kept[id(rows)] = (keep, rows, kept)  # holding keep and rows: their ids stay theirs
        return kept

    def _row_kinds(self) -> dict[str, np.ndarray] | None:
        """Rows by kind, a kind being one (``score_norm``, failing) combination (scores on a judge's scale take
        a handful of values): ``codes`` per row, and per kind its ``score`` (NaN: unscored), ``failing`` and
        ``level`` (its badness level, as ``_badness_codes``). ``None`` for continuous scores (too many kinds)."""
        if self._kinds is None:
            values, inverse = np.unique(self.score_norm, return_inverse=True)
            if 2 * len(values) > _MAX_KINDS:
                self._kinds = {}
            else:
                score = np.repeat(values, 2)
                valid = ~np.isnan(score)
                badness = np.where(valid, 1.0 - np.nan_to_num(score), 0.0)
                self._kinds = {
                    "codes": inverse.reshape(-1) * 2 + self.failing,
                    "score": score,
                    "failing": np.tile([0.0, 1.0], len(values)),
                    "level": np.searchsorted(self._badness_levels, badness),
                }
        return self._kinds or None

    def _sums(self, pairs: dict[str, np.ndarray], kept: np.ndarray, n_sets: int) -> dict[str, np.ndarray]:
        """Per set, over its kept pairs: ``count``, ``scored`` (rows with a score), ``score`` (their sum),
        ``failing`` and ``per_level`` (rows at each badness level)."""
        levels = len(self._badness_levels)
        if "kinds" in pairs:
            kinds = self._row_kinds()
            n_kinds = len(kinds["score"])
            table = np.bincount(pairs["kinds"], weights=kept, minlength=n_sets * n_kinds).reshape(n_sets, n_kinds)
            valid = ~np.isnan(kinds["score"])
            per_level = np.zeros((n_sets, levels))
            np.add.at(per_level.T, kinds["level"], table.T)
            return {
                "count": np.rint(table.sum(axis=1)).astype(int),
                "scored": table[:, valid].sum(axis=1),
                "score": table[:, valid] @ kinds["score"][valid],
                "failing": table @ kinds["failing"],
                "per_level": np.rint(per_level).astype(np.int64),
            }
        sets = pairs["sets"][kept]
        return {
            "count": np.bincount(sets, minlength=n_sets).astype(int),
            "scored": np.bincount(sets, weights=pairs["scored"][kept], minlength=n_sets),
            "score": np.bincount(sets, weights=pairs["score"][kept], minlength=n_sets),
            "failing": np.bincount(sets, weights=pairs["failing"][kept], minlength=n_sets),
            "per_level": np.bincount(pairs["level"][kept], minlength=n_sets * levels).reshape(n_sets, levels),
        }

    def _statistics(
        self,
        pairs: dict[str, np.ndarray],
        n_sets: int,
        keep: np.ndarray,
        n_resamples: int,
        confidence: float,
        seed: int,
    ) -> dict[str, np.ndarray]:
        """The statistics of row sets on a slice (see ``_STATISTICS``). ``pairs`` (:meth:`_pair_data`) are
        (row, set) positions, each pair once, with their rows' values: every sum is a bincount over the kept
        pairs, so a slice costs its assignments, not rows x sets."""
        sums = self._sums(pairs, self._kept(pairs["rows"], keep), n_sets)
        n = int(np.count_nonzero(keep))
        counts, scored, score_sums, failing_counts = sums["count"], sums["scored"], sums["score"], sums["failing"]
        n_failing = int(np.count_nonzero(self.failing & keep))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = counts / n if n else np.full(len(counts), np.nan)
            mean_score = np.where(scored > 0, score_sums / np.maximum(scored, 1), np.nan)
            failing_share = failing_counts / n_failing if n_failing else np.full(len(counts), np.nan)
        impact = np.where(scored > 0, share * (1.0 - mean_score), 0.0)
        rng = np.random.default_rng(seed)
        share_low, share_high = _bootstrap_share(counts, n, n_resamples, confidence, rng)
        impact_low = np.full(len(counts), np.nan)
        impact_high = np.full(len(counts), np.nan)
        if n and n_resamples:
            # A set's impact is the mean over the slice of badness on its rows and 0 elsewhere: the counts of
            # each distinct badness level among its rows, and the rest of the slice at level 0.
            levels = self._badness_levels
            per_level = sums["per_level"]
            zero = int(np.searchsorted(levels, 0.0))
            for j in range(n_sets):
                level_counts = per_level[j].copy()
                level_counts[zero] += n - counts[j]
                present = level_counts > 0
                impact_low[j], impact_high[j] = _bootstrap_levels(
                    levels[present], level_counts[present], n_resamples, confidence, rng
                )
        return {
            "count": counts,
            "share": share,
            "share_ci_low": share_low,
            "share_ci_high": share_high,
            "failing_share": np.asarray(failing_share, dtype=float),
            "mean_score": mean_score,
            "impact": impact,
            "impact_ci_low": impact_low,
            "impact_ci_high": impact_high,
        }

    def _tree_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, node) positions, nodes in the order of ``tree_nodes``: the rows under each node, once."""
        with self._lock:
            if self._node_pairs is None:
                rows, nodes = [], []
                for k, node_id in enumerate(self.tree_nodes["id"]):
                    columns = self._node_columns[node_id]
                    if columns:
                        under = np.flatnonzero(self.matrix[:, columns].any(axis=1))
                        rows.append(under)
                        nodes.append(np.full(len(under), k, dtype=np.int64))
                empty = np.zeros(0, dtype=np.int64)
                self._node_pairs = (np.concatenate(rows) if rows else empty, np.concatenate(nodes) if nodes else empty)
            return self._node_pairs

    def tree_table(
        self,
        filters: Filters | np.ndarray | None = None,
        *,
        n_resamples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> pd.DataFrame:
        """Every node of the issue tree with its statistics on the slice, depth first.

        Columns: ``id, name, parent, level, depth, n_issues`` (as :meth:`IssueReport.tree`), then
        ``count, share, share_ci_low, share_ci_high, failing_share, mean_score, impact, impact_ci_low,
        impact_ci_high``, the definitions of :meth:`issue_table` applied to the rows under each node (a
        row with two issues of a category counts once for it). A report without a tree gives its issues
        at depth 0. Nodes with no row in the slice stay, with count 0.
        """
        keep = self._as_mask(filters)
        pairs = self._pair_data("tree", *self._tree_pairs())
        stats = self._statistics(pairs, len(self.tree_nodes), keep, n_resamples, confidence, seed)
        table = self.tree_nodes.copy()
        for name in _STATISTICS:
            table[name] = stats[name]
        return table

    def _tree_system_pairs(self) -> np.ndarray:
        """Each (row, node) pair of :meth:`_tree_pairs` as ``system code x nodes + node``, built once: a slice's
        counts per system and node are one bincount of its kept pairs (no gather of their rows' systems)."""
        rows, nodes = self._tree_pairs()
        with self._lock:
            if self._node_system_pairs is None:
                self._node_system_pairs = self._system_codes[rows].astype(np.int64) * len(self.tree_nodes) + nodes
            return self._node_system_pairs

    def tree_per_system(self, filters: Filters | np.ndarray | None = None) -> pd.DataFrame:
        """Per system with rows in the slice, every tree node's rows and share of that system's rows.

        Columns ``system, id, count, rows, share`` (as :meth:`IssueReport.tree_per_system`), systems
        sorted, nodes in the order of :meth:`tree_table`.
        """
        keep = self._as_mask(filters)
        rows, _ = self._tree_pairs()
        n_nodes, n_systems = len(self.tree_nodes), len(self.systems)
        counts = np.bincount(self._tree_system_pairs()[self._kept(rows, keep)], minlength=n_systems * n_nodes).reshape(
            n_systems, n_nodes
        )
        sizes = np.bincount(self._system_codes[keep], minlength=n_systems)
        present = np.flatnonzero(sizes)  # systems in sorted order (the categories' order)
        if not len(present):
            return pd.DataFrame(columns=["system", "id", "count", "rows", "share"])
        # One frame, systems one after the other (each system's nodes in tree order), not one frame per system.
        return pd.DataFrame(
            {
                "system": np.repeat(np.array(self.systems, dtype=object)[present], n_nodes),
                "id": np.tile(self.tree_nodes["id"].to_numpy(dtype=object), len(present)),
                "count": counts[present].ravel(),
                "rows": np.repeat(sizes[present], n_nodes),
                "share": (counts[present] / sizes[present][:, None]).ravel(),
            }
        )

    def overview(self, filters: Filters | np.ndarray | None = None) -> Overview:
        """Rows, failing share, score histogram and primary → secondary category counts of the slice."""
        keep = self._as_mask(filters)
        n = int(np.count_nonzero(keep))
        failing = int(np.count_nonzero(self.failing & keep))
        norms = self.score_norm[keep]
        return Overview(
            rows=n,
            total_rows=self.n_rows,
            failing=failing,
            failing_share=failing / n if n else float("nan"),
            mean_score_norm=float(np.nanmean(norms)) if n and not np.isnan(norms).all() else float("nan"),
            score_histogram=self._histogram(keep),
            category_tree=self._category_tree(keep),
        )

    def _histogram(self, keep: np.ndarray) -> pd.DataFrame:
        all_scores, levels = self._score_values, self._score_levels
        if len(levels) <= 21:  # a judge's scale: one bar per level, levels of the full report kept
            weights = keep[self._scored_rows]
            counts = pd.Series(np.bincount(self._score_level_codes, weights=weights, minlength=len(levels)).round())
            labels = [_format_number(v) for v in levels]
        else:
            scores = self.score[keep]
            scores = scores[~np.isnan(scores)]
            edges = np.histogram_bin_edges(all_scores, bins=10)
            binned, _ = np.histogram(scores, bins=edges)
            counts = pd.Series(binned)
            labels = [f"{_format_number(a)}–{_format_number(b)}" for a, b in zip(edges[:-1], edges[1:])]
        total = int(counts.sum())
        return pd.DataFrame(
            {
                "score": labels,
                "rows": counts.to_numpy(dtype=int),
                "share": counts.to_numpy(dtype=float) / total if total else 0.0,
            }
        )

    def _category_tree(self, keep: np.ndarray) -> pd.DataFrame | None:
        if self.category_matrix is None:
            return None
        rows, columns = self._category_pairs
        counts = np.bincount(columns, weights=keep[rows], minlength=len(self.categories)).round().astype(int)
        records = []
        for category, count in zip(self.categories, counts):
            primary_id, primary_name = self.primary_of(category)
            records.append(
                {
                    "primary": primary_id,
                    "primary_name": primary_name,
                    "category": category,
                    "category_name": self.category_name(category),
                    "rows": int(count),
                }
            )
        columns = ["primary", "primary_name", "category", "category_name", "rows"]
        return pd.DataFrame(records, columns=columns)

    def compare_filtered(self, filters: Filters | np.ndarray | None = None) -> pd.DataFrame:
        """Share of every issue in the full report and in the slice: ``issue_id, name, share_full,
        share_filtered, difference`` (filtered − full), ranked by the full report's impact order."""
        keep = self._as_mask(filters)
        n = int(keep.sum())
        full = self._issue_counts / self.n_rows if self.n_rows else np.zeros(len(self.issue_ids))
        sliced_counts = np.bincount(self._pair_columns[keep[self._pair_rows]], minlength=len(self.issue_ids))
        sliced = sliced_counts / n if n else np.full(len(self.issue_ids), np.nan)
        return pd.DataFrame(
            {
                "issue_id": self.issue_ids,
                "name": [self.issue_name(i) for i in self.issue_ids],
                "share_full": full,
                "share_filtered": sliced,
                "difference": sliced - full,
            }
        )

    def compare_systems(
        self,
        system_a: str,
        system_b: str,
        filters: Filters | np.ndarray | None = None,
        *,
        alpha: float = 0.05,
        confidence: float = 0.95,
    ) -> pd.DataFrame:
        """Issue shares of two systems on the slice, their difference, and whether it is significant.

        The numbers are :func:`misattribution.discovery.diff.compare_systems`' on the slice (the one
        implementation, also behind ``misattribution compare``): Newcombe's hybrid score interval of
        the difference, Fisher's exact p-value and Holm's correction for the number of issues. Columns:
        ``issue_id, name, count_a, rows_a, share_a, count_b, rows_b, share_b, difference`` (a − b),
        ``ci_low, ci_high, p_value, p_adjusted`` and ``significant`` (corrected p < ``alpha``). A
        system with no row in the slice gives NaN shares and no significance.
        """
        from misattribution.discovery.diff import compare_systems

        for system in (system_a, system_b):
            if system not in self.systems:
                raise KeyError(f"no system {system!r} in this report (systems: {self.systems})")
        keep = self._as_mask(filters)
        codes = [self.systems.index(system_a), self.systems.index(system_b)]
        chosen = keep & np.isin(self._system_codes, codes)
        table = compare_systems(
            self._slice(chosen), system_a, system_b, alpha=alpha, confidence=confidence, require_rows=False
        )
        rows = {f"rows_{k}": int((chosen & (self._system_codes == code)).sum()) for k, code in zip("ab", codes)}
        table.attrs.update(rows)
        return table

    def _slice(self, keep: np.ndarray) -> IssueReport:
        """The kept rows and their assignments as a report, issues unchanged (no statistics computed)."""
        assignments = self.report.assignments
        kept_lines = keep[self._assigned_positions] & (self._assigned_positions >= 0)
        return IssueReport(
            rows=self.rows.loc[keep].reset_index(drop=True),
            issues=[replace(i) for i in self.issues],
            assignments=assignments.loc[kept_lines].reset_index(drop=True),
            meta={**self.report.meta, "filtered_from_rows": self.n_rows},
            nodes=[replace(node) for node in self.report.nodes],
        )

    # -- instances --
    def instances(
        self,
        filters: Filters | np.ndarray | None = None,
        *,
        page: int = 0,
        page_size: int = 20,
        worst_first: bool = True,
        preview_chars: int = 160,
    ) -> InstancePage:
        """One page of the slice sorted by ``score_norm`` (worst first by default; NaN scores last).

        Columns: ``row_id, system, score, issues`` (names, ``; ``-separated), then previews of the
        question, answer and feedback. ``page`` is clamped to the available pages.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        keep = self._as_mask(filters)
        order = self._score_order if worst_first else _reverse_keeping_nan_last(self._score_order, self.score_norm)
        selected = order[keep[order]]
        total = len(selected)
        pages = max(1, math.ceil(total / page_size))
        page = min(max(0, int(page)), pages - 1)
        chosen = selected[page * page_size : (page + 1) * page_size]
        frame = pd.DataFrame(
            {
                "row_id": self.row_ids[chosen],
                "system": [self.systems[c] for c in self._system_codes[chosen]],
                "score": self.score[chosen],
                "issues": [
                    "; ".join(self.issue_name(self.issue_ids[j]) for j in np.flatnonzero(row))
                    for row in self.matrix[chosen]
                ],
            }
        )
        for column in SEARCH_COLUMNS:
            if column in self.rows.columns:
                frame[column] = [_preview(v, preview_chars) for v in self._cells(column, chosen)]
        return InstancePage(rows=frame, page=page, pages=pages, total=total, page_size=page_size)

    def _cells(self, column: str, positions: np.ndarray) -> list[Any]:
        """The cells of a column at a few positions, read one by one: Arrow's ``take`` on a chunked
        column (what ``iloc`` does for an Arrow-backed one) combines its chunks first, ~90 ms at 1M rows."""
        values = self.rows[column]
        arrow = isinstance(values.dtype, pd.ArrowDtype) or getattr(values.dtype, "storage", None) == "pyarrow"
        if arrow:
            array = pa.array(values, from_pandas=True)
            return [array[int(i)].as_py() for i in positions]
        return values.iloc[positions].tolist()

    def detail(self, row_id: str) -> RowDetail:
        """Everything about one row, with the evidence of each of its issues located in its texts."""
        position = int(self.positions([str(row_id)])[0])
        if position < 0:
            raise KeyError(f"no row {row_id!r} in this report")
        record = self.rows.iloc[position]
        fields = {c: _plain(record[c]) for c in DETAIL_COLUMNS if c in record.index}
        issues, evidence = [], []
        assignments = self.report.assignments
        lines = np.flatnonzero(self._assigned_rows == str(row_id))
        for issue_id, text in zip(assignments["issue_id"].to_numpy()[lines], assignments["evidence"].to_numpy()[lines]):
            name = self.issue_name(issue_id)
            issues.append({"issue_id": issue_id, "name": name, "evidence": _evidence_text(text)})
            evidence.extend((name, piece) for piece in _evidence_pieces(text))
        feedback = str(fields.get("feedback") or "")
        answer = str(fields.get("answer") or "")
        # Discovery's evidence quotes the feedback, rule detectors quote the answer: mark both texts.
        feedback_segments, not_in_feedback = highlight_evidence(feedback, evidence)
        answer_segments, not_in_answer = highlight_evidence(answer, evidence)
        # An issue's evidence counts as shown when any of its sentences or quotes was marked somewhere.
        shown = {name for name, piece in evidence if (name, piece) not in set(not_in_feedback) & set(not_in_answer)}
        unmatched = [(i["name"], i["evidence"]) for i in issues if i["name"] not in shown and i["evidence"]]
        labels = self.row_labels(position) if self.category_matrix is not None else []
        return RowDetail(
            row_id=str(row_id),
            fields=fields,
            issues=issues,
            misattribution=[f"{self.primary_of(c)[1]} → {self.category_name(c)}" for c in labels],
            feedback_segments=feedback_segments,
            answer_segments=answer_segments,
            unmatched_evidence=unmatched,
        )

    # -- agreement --
    def agreement(
        self,
        filters: Filters | np.ndarray | None = None,
        *,
        n_resamples: int = 1000,
        seed: int = 0,
    ) -> dict[str, Any] | None:
        """Judge vs human on the slice, or ``None`` when the rows have no ``human_score``.

        Returns ``points`` (``score, human_score, rows``: one line per distinct pair), ``table``
        (``statistic, value, ci_low, ci_high``) from :func:`misattribution.stats.agreement_report`, the
        raw ``report`` dict and ``confusion`` from :func:`misattribution.stats.score_confusion`.
        """
        if not self.has_human_scores:
            return None
        import warnings

        from misattribution.stats import agreement_report, score_confusion

        keep = self._as_mask(filters)
        judge = self.score[keep]
        human = pd.to_numeric(self.rows[HUMAN_SCORE_COLUMN], errors="coerce").to_numpy(dtype=float)[keep]
        labels: tuple[Any, Any] = (None, None)
        if self.category_matrix is not None and HUMAN_LABELS_COLUMN in self.rows.columns:
            human_labels = [parse_labels(v) for v in self.rows[HUMAN_LABELS_COLUMN].to_numpy()[keep]]
            judge_labels = [self.row_labels(i) for i in np.flatnonzero(keep)]
            labels = (judge_labels, [[self._category_id(x) for x in row] for row in human_labels])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate slices give NaN, shown as n/a
            report = agreement_report(judge, human, *labels, n_resamples=n_resamples, seed=seed)
            paired = ~(np.isnan(judge) | np.isnan(human))
            confusion = score_confusion(judge[paired], human[paired]) if paired.any() else pd.DataFrame()
        points = (
            pd.DataFrame({"score": judge[paired], "human_score": human[paired]})
            .value_counts()
            .rename("rows")
            .reset_index()
            .sort_values(["score", "human_score"], ignore_index=True)
        )
        names = ["pearson", "spearman", "kendall"]
        rows = [[name, report[name], report[f"{name}_ci_low"], report[f"{name}_ci_high"]] for name in names]
        if labels[0] is not None:
            rows += [[f"detection_{m}", report[f"detection_{m}"], None, None] for m in ("precision", "recall", "f1")]
            rows += [[f"{a}_f1", report[f"{a}_f1"], None, None] for a in ("micro", "macro")]
        table = pd.DataFrame(rows, columns=["statistic", "value", "ci_low", "ci_high"])
        return {"points": points, "table": table, "report": report, "confusion": confusion, "n": int(report["n"])}

    # -- export --
    def export_table(self, filters: Filters | np.ndarray | None = None) -> pd.DataFrame:
        """The slice as a flat table: the row columns plus ``issue_names`` (what a reader sees, ``; ``-separated)
        and ``issues`` (their ids, ``;``-separated: the key back into the report)."""
        keep = self._as_mask(filters)
        frame = self.rows.loc[keep].reset_index(drop=True)
        members = [np.flatnonzero(row) for row in self.matrix[keep]]
        frame["issue_names"] = ["; ".join(self.issue_name(self.issue_ids[j]) for j in row) for row in members]
        frame["issues"] = [";".join(self.issue_ids[j] for j in row) for row in members]
        return frame

    def export_csv(self, filters: Filters | np.ndarray | None, path: str | Path) -> Path:
        """Write the slice as CSV (list cells as JSON) and return the path."""
        path = Path(path)
        frame = self.export_table(filters)
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = [
                    json.dumps(_plain(v), ensure_ascii=False) if _is_listlike(v) else v for v in frame[column]
                ]
        frame.to_csv(path, index=False)
        return path

    def export_jsonl(self, filters: Filters | np.ndarray | None, path: str | Path) -> Path:
        """Write the slice as JSON Lines, one object per row, and return the path."""
        path = Path(path)
        frame = self.export_table(filters)
        with path.open("w", encoding="utf-8") as handle:
            for record in frame.to_dict("records"):
                handle.write(json.dumps({k: _plain(v) for k, v in record.items()}, ensure_ascii=False) + "\n")
        return path


def export_bundle_zip(report: IssueReport, path: str | Path) -> Path:
    """The report's bundle (see :meth:`IssueReport.save`) as one zip file with flat entries."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        folder = report.save(Path(tmp) / "bundle")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(folder.iterdir()):
                archive.write(member, arcname=member.name)
    return path


# -- evidence highlighting ----------------------------------------------------------------------------

_MARKUP = re.compile(r"\*\*|__|`")
_QUOTED = re.compile(r"[\"“]([^\"”]{12,})[\"”]")


def highlight_evidence(
    text: str, evidence: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str | None]], list[tuple[str, str]]]:
    """Mark each ``(label, evidence)`` in ``text``; return the segments and the evidence not found.

    Evidence is found verbatim first, else ignoring case, markdown emphasis and runs of blanks (the
    discovery sentence splitter strips those). Overlapping marks keep the first.

    >>> segments, missing = highlight_evidence("Good start. The **sum** is wrong.", [("Math", "The sum is wrong.")])
    >>> segments, missing
    ([('Good start. ', None), ('The **sum** is wrong.', 'Math')], [])
    """
    spans: list[tuple[int, int, str]] = []
    unmatched: list[tuple[str, str]] = []
    normalised, index_map = _normalise_with_map(text)
    for label, piece in evidence:
        piece = str(piece).strip()
        if not piece:
            continue
        found = _locate(text, normalised, index_map, piece)
        if found is None or any(found[0] < end and start < found[1] for start, end, _ in spans):
            if found is None:
                unmatched.append((label, piece))
            continue
        spans.append((found[0], found[1], label))
    segments: list[tuple[str, str | None]] = []
    cursor = 0
    for start, end, label in sorted(spans):
        if start > cursor:
            segments.append((text[cursor:start], None))
        segments.append((text[start:end], label))
        cursor = end
    if cursor < len(text):
        segments.append((text[cursor:], None))
    return segments, unmatched


def _normalise_with_map(text: str) -> tuple[str, list[int]]:
    """Case-folded text without markup and with single blanks, and each character's original index."""
    chars: list[str] = []
    index_map: list[int] = []
    i = 0
    while i < len(text):
        markup = _MARKUP.match(text, i)
        if markup:
            i = markup.end()
            continue
        char = text[i]
        if char.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                index_map.append(i)
        else:
            folded = char.casefold()
            chars.extend(folded)
            index_map.extend([i] * len(folded))
        i += 1
    return "".join(chars), index_map


def _locate(text: str, normalised: str, index_map: list[int], piece: str) -> tuple[int, int] | None:
    start = text.find(piece)
    if start >= 0:
        return start, start + len(piece)
    needle, _ = _normalise_with_map(piece)
    needle = needle.strip("… ")
    if len(needle) < 4:
        return None
    start = normalised.find(needle)
    if start < 0:
        return None
    end = start + len(needle) - 1
    return index_map[start], index_map[end] + 1


def _evidence_pieces(value: Any) -> list[str]:
    """The sentences of an assignment's evidence, plus what it quotes (rule detectors quote the answer)."""
    pieces = [p for p in (parse_labels(value) if _is_listlike(value) else str(value or "").split("\n")) if p.strip()]
    quoted = [q.strip("… ") for p in pieces for q in _QUOTED.findall(p)]
    return pieces + quoted


def _evidence_text(value: Any) -> str:
    if _is_listlike(value):
        return "\n".join(str(v) for v in value)
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


# -- text search --------------------------------------------------------------------------------------


_SEARCH_POOL: Any = None
_WARM_POOL: Any = None


def _warm_pool() -> Any:
    """One thread for :meth:`Explorer.search_soon`: searches started ahead run one at a time."""
    global _WARM_POOL
    if _WARM_POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _WARM_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-soon")
    return _WARM_POOL


def _search_pool() -> Any:
    global _SEARCH_POOL
    if _SEARCH_POOL is None:
        import os
        from concurrent.futures import ThreadPoolExecutor

        _SEARCH_POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="search")
    return _SEARCH_POOL


class _TextSearch:
    """Case-insensitive substring search: a row matches when ``needle.casefold()`` is in the ``casefold()`` of
    one of its texts (Python's full case folding: ``STRASSE`` finds ``Straße``).

    Built once per report: each column is case-folded once (Arrow's ASCII lower-casing, which is ``casefold``
    on ASCII, for the ASCII texts; Python's ``casefold`` for the others) and a row's folded texts are joined
    with NUL, which a needle never holds (it is removed from it), so no match spans two texts: one string
    per row (a search's cost is per string as much as per byte: 1M joined rows took 60-90 ms where their 3M
    texts took 90-120 ms). A search is then a plain literal match, in halves in a thread pool: polars'
    (SIMD ``memmem``) when polars is installed (the ``space`` extra), else Arrow's RE2 over the literal
    (~3x slower). When the other filters left fewer than half of the rows, only those rows are searched
    (unless the needle was already searched, or is being searched, in the whole table). Full-table results are
    kept per needle (the last :data:`MASK_CACHE`); a needle under way in one thread (e.g. started by
    :meth:`Explorer.search_soon` as the visitor types) is waited for by another, not searched twice.
    """

    def __init__(self, rows: pd.DataFrame, columns: list[str]) -> None:
        self.n = len(rows)
        self.names = columns
        self._polars = _polars()
        self.texts: Any = None
        if columns and self.n:

            def fold(j: int, column: str) -> Any:
                array = pc.fill_null(_casefolded(_as_text_array(rows[column])).cast(pa.large_string()), "")
                return self._polars.from_arrow(array).alias(f"c{j}") if self._polars else array

            # One column per thread of the pool (Arrow and polars release the GIL): at 1M rows 0.4 s where one
            # after the other took 0.7 s (load 4); the first search waits for it.
            folded = list(_search_pool().map(fold, range(len(columns)), columns))
            if self._polars:  # polars' concat_str: 0.3 s at 1M rows where Arrow's join took 1.2-1.5 s
                frame = self._polars.DataFrame(folded)
                self.texts = frame.select(self._polars.concat_str(frame.columns, separator="\x00")).to_series()
            else:
                self.texts = pc.binary_join_element_wise(*folded, pa.scalar("\x00", type=pa.large_string()))
            del folded
        self._found: OrderedDict[str, np.ndarray] = OrderedDict()
        self._running: dict[str, Future] = {}  # needles being searched, by the thread that started them
        self._lock = threading.Lock()

    def _contains(self, texts: Any, needle: str) -> np.ndarray:
        if self._polars:
            return texts.str.contains(needle, literal=True).fill_null(False).to_numpy()
        return _bool_array(pc.match_substring_regex(texts, _re2_literal(needle)))

    def _search(self, needle: str, within: np.ndarray | None = None) -> np.ndarray:
        """Rows (all, or those ``within``, as many values as it keeps) whose folded texts hold ``needle``: in
        halves in the pool (polars and Arrow both release the GIL)."""
        texts = self.texts
        if within is not None:
            texts = texts.filter(self._polars.Series(within) if self._polars else pa.array(within))
        parts = _halves(texts, len(texts))
        return np.concatenate(list(_search_pool().map(lambda part: self._contains(part, needle), parts)))

    @staticmethod
    def _folded(needle: str) -> str:
        return needle.casefold().replace("\x00", "")

    def search_all(self, needle: str) -> np.ndarray | None:
        """The rows whose folded texts hold ``needle`` (``None`` for an empty needle or no text), searched once:
        kept per needle (the last :data:`MASK_CACHE`); a search of the same needle under way in another thread
        is waited for, not repeated."""
        needle = self._folded(needle)
        if not needle or self.texts is None:
            return None
        return self._search_all_folded(needle)

    def _search_all_folded(self, needle: str) -> np.ndarray:
        with self._lock:
            cached = self._found.get(needle)
            if cached is not None:
                self._found.move_to_end(needle)
                return cached
            running = self._running.get(needle)
            if running is None:
                running = self._running[needle] = Future()
                mine = True
            else:
                mine = False
        if not mine:
            return running.result()
        try:
            found = self._search(needle)
        except BaseException as err:
            with self._lock:
                del self._running[needle]
            running.set_exception(err)
            raise
        found.setflags(write=False)
        with self._lock:
            self._found[needle] = found
            while len(self._found) > MASK_CACHE:
                self._found.popitem(last=False)
            del self._running[needle]
        running.set_result(found)
        return found

    def mask(self, needle: str, within: np.ndarray) -> np.ndarray:
        folded = self._folded(needle)
        if not folded or self.texts is None:
            return np.zeros(self.n, dtype=bool)
        with self._lock:
            ready = folded in self._found or folded in self._running
        if not ready and np.count_nonzero(within) * 2 < self.n:
            # The other filters left few rows and the needle is neither searched nor under way: those rows only.
            found = np.zeros(self.n, dtype=bool)
            found[within] = self._search(folded, within)
            return found
        return self._search_all_folded(folded) & within


def _polars() -> Any:
    """polars when installed (the ``space`` extra), else ``None``: the search then uses Arrow alone."""
    try:
        import polars
    except ImportError:
        return None
    return polars


def _casefolded(column: Any) -> Any:
    """A text column (Arrow) with every text ``str.casefold()``-ed: Arrow's ASCII lower-casing (the same on
    ASCII) for the ASCII texts, Python's ``casefold`` for the others. Missing stays missing."""
    folded = pc.ascii_lower(column)
    wide = np.flatnonzero(~np.asarray(pc.string_is_ascii(column).fill_null(True).to_numpy(zero_copy_only=False)))
    if not len(wide):
        return folded
    texts = [text.casefold() for text in column.take(pa.array(wide)).to_pylist()]
    replace = np.zeros(len(column), dtype=bool)
    replace[wide] = True
    return pc.replace_with_mask(folded, pa.array(replace), pa.array(texts, type=folded.type))


def _halves(column: Any, n: int) -> list[Any]:
    half = max(1, -(-n // 2))
    return [column.slice(start, half) for start in range(0, n, half)] or [column]


def _re2_literal(needle: str) -> str:
    r"""``needle`` as an RE2 pattern matching it literally (``\Q...\E``, a ``\E`` in it kept literal)."""
    return "\\Q" + needle.replace("\\E", "\\E\\\\E\\Q") + "\\E"


def _as_text_array(column: pd.Series) -> Any:
    """A text column as an Arrow string array (no copy when Arrow already backs it); missing is null."""
    try:
        array = pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = None
    if array is None or not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pa.array([None if v is None or v != v else str(v) for v in column.tolist()], type=pa.large_string())
    return pa.chunked_array([array]) if isinstance(array, pa.Array) else array


def _bool_array(values: Any) -> np.ndarray:
    return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


# -- helpers ------------------------------------------------------------------------------------------


def _resolve_taxonomy(taxonomy: Any, meta: dict[str, Any]) -> Any:
    from misattribution.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

    if isinstance(taxonomy, Taxonomy):
        return taxonomy
    name = taxonomy or meta.get("taxonomy")
    if isinstance(name, dict):
        name = name.get("name")
    try:
        return load_taxonomy(name if isinstance(name, str) else None)
    except (TaxonomyError, FileNotFoundError, ValueError, KeyError):
        # An unknown taxonomy name must not hide the rows: categories then show as "not in the taxonomy".
        return load_taxonomy()


def _in_range(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    keep = np.ones(len(values), dtype=bool)
    if low is not None:
        keep &= values >= low
    if high is not None:
        keep &= values <= high
    return keep


def _reverse_keeping_nan_last(order: np.ndarray, scores: np.ndarray) -> np.ndarray:
    nan = np.isnan(scores[order])
    return np.concatenate((order[~nan][::-1], order[nan]))


def _bootstrap_share(
    counts: np.ndarray, n: int, n_resamples: int, confidence: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of count / n under the row bootstrap.

    Resampling n rows with replacement, the number that carry an issue is Binomial(n, count / n):
    drawing that is the row bootstrap, without the n × resamples matrix.
    """
    if not n or not n_resamples:
        return np.full(len(counts), np.nan), np.full(len(counts), np.nan)
    draws = rng.binomial(n, (counts / n)[:, None], size=(len(counts), n_resamples)) / n
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha], axis=1)
    return low, high


def _bootstrap_levels(
    levels: np.ndarray, counts: np.ndarray, n_resamples: int, confidence: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile interval of a mean under the row bootstrap, from the counts of its distinct values.

    Scores on a judge's scale take a handful of values, so a resample is a multinomial draw over them
    (the same argument as in :mod:`misattribution.stats`). Beyond ``_MAX_BOOTSTRAP_LEVELS`` distinct
    values (continuous scores) the normal approximation of the bootstrap distribution is used.
    """
    n = int(counts.sum())
    alpha = (1 - confidence) / 2
    if len(levels) == 1:
        return float(levels[0]), float(levels[0])
    if len(levels) <= _MAX_BOOTSTRAP_LEVELS:
        draws = rng.multinomial(n, counts / n, size=n_resamples) @ levels / n
        low, high = np.quantile(draws, [alpha, 1 - alpha])
        return float(low), float(high)
    from scipy.stats import norm

    mean = float(levels @ counts) / n
    std = math.sqrt(float(counts @ (levels - mean) ** 2) / n)
    spread = norm.ppf(1 - alpha) * std / math.sqrt(n)
    return mean - spread, mean + spread


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def _preview(value: Any, limit: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell_key(value: Any) -> str:
    """A misattribution cell as hashable JSON (a list cell as its list, text as text, missing as null)."""
    if _is_listlike(value):
        return json.dumps(_plain(value), ensure_ascii=False, default=str)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    return json.dumps(value if isinstance(value, str) else str(value), ensure_ascii=False)


def _pairs(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, column) positions of a boolean matrix's true cells, column by column."""
    columns, rows = np.nonzero(matrix.T)
    return rows.astype(np.int64), columns.astype(np.int64)


def _is_listlike(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _plain(value: Any) -> Any:
    """JSON-ready Python values: numpy scalars and arrays unwrapped, NaN as None."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value
