"""Run vs run, system vs system, and a gate for CI: issue by issue, with an honest test.

:func:`diff_reports` compares two runs (two issue-report bundles) issue by issue, by identity: the ids
that :func:`.align.align_reports` keeps across runs (``discover(previous=...)`` does it when a run is
made; otherwise :func:`diff_reports` aligns the new report to the old one first). Every issue gets its
share of the rows before and after, the change with Newcombe's hybrid score interval, Fisher's exact
p-value corrected by Holm for the number of issues compared (:func:`misattribution.stats.compare_proportions`)
and a status:

* ``new``: no row of the old run has the issue (no issue of the old run is the same issue, or a listed
  one had no row), some row of the new run has it; ``vanished``: the other way round;
* ``grown`` / ``shrunk``: rows in both runs, and the corrected p-value is below ``alpha``;
* ``unchanged``: rows in both runs (or in neither), and the change is not significant.

:func:`compare_systems` is the same comparison between two systems of one report (the Space's
explorer calls it on a filtered slice). :func:`check_report` is the CI gate behind
``misattribution check``: limits on issue shares and on their growth against a baseline, and a
Markdown summary fit for a pull-request comment.

Example::

    table = diff_reports(IssueReport.load("run1"), IssueReport.load("run2"))
    table.query("status != 'unchanged'")[["name", "share_before", "share_after", "p_adjusted"]]
    result = check_report(IssueReport.load("run2"), baseline=IssueReport.load("run1"), max_growth=2)
    print(result.markdown); raise SystemExit(0 if result.passed else 1)
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery.report import IssueReport
from misattribution.stats import DEFAULT_ALPHA, compare_proportions, wilson_interval

__all__ = [
    "STATUSES",
    "Breach",
    "CheckResult",
    "check_report",
    "compare_markdown",
    "compare_systems",
    "diff_markdown",
    "diff_reports",
    "format_compare",
    "format_diff",
    "is_aligned_to",
    "resolve_issue",
]

#: The status of an issue between two runs, in the order a reader wants them.
STATUSES = ("grown", "new", "shrunk", "vanished", "unchanged")
_EXAMPLES = 3
_TEST_NOTE = (
    "Fisher's exact test, Holm-corrected for {n} issues, alpha {alpha:g}; {level:g}% Newcombe intervals (per issue)"
)


# -- counting ---------------------------------------------------------------------------------------------
def _issue_counts(report: IssueReport, keep: np.ndarray | None = None) -> dict[str, int]:
    """Rows (of the kept ones) carrying each issue; an issue counts once per row."""
    row_ids = report.rows["row_id"].astype(str)
    if keep is not None:
        row_ids = row_ids[keep]
    pairs = report.assignments[["row_id", "issue_id"]].astype({"row_id": str}).drop_duplicates()
    pairs = pairs[pairs["row_id"].isin(set(row_ids))]
    return pairs.groupby("issue_id").size().astype(int).to_dict()


def _example_rows(report: IssueReport, issue_id: str, limit: int = _EXAMPLES) -> list[str]:
    """A few row ids with the issue: its representative examples first, then rows in report order."""
    mine = report.assignments.loc[report.assignments["issue_id"] == issue_id, "row_id"].astype(str)
    members = list(dict.fromkeys(mine))
    issue = next((i for i in report.issues if i.id == issue_id), None)
    chosen = [r for r in (issue.examples if issue else []) if str(r) in set(members)]
    return list(dict.fromkeys([*map(str, chosen), *members]))[:limit]


# -- run vs run -------------------------------------------------------------------------------------------
def is_aligned_to(new: IssueReport, old: IssueReport) -> bool:
    """True when ``new``'s ids are already ``old``'s: its ``meta["identity"]`` (written by
    :func:`.align.align_reports`, e.g. through ``discover(previous=old)``) accounts for every issue of
    both reports: each old issue is matched or vanished, each new one matched (to an old id) or new."""
    identity = new.meta.get("identity") or {}
    status = identity.get("status") or {}
    new_ids, old_ids = {i.id for i in new.issues}, {i.id for i in old.issues}
    if not status or set(status) != new_ids:
        return False
    matched = {i for i, s in status.items() if s == "matched"}
    fresh = {i for i, s in status.items() if s == "new"}
    vanished = {str(v.get("id")) for v in identity.get("vanished") or []}
    return matched <= old_ids and not (fresh & old_ids) and matched | vanished == old_ids


def diff_reports(
    old: IssueReport,
    new: IssueReport,
    *,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = 0.95,
    encoder: Any | None = None,
) -> pd.DataFrame:
    """Issue by issue, what changed from run ``old`` to run ``new``.

    Issues are matched by identity. When ``new`` was not made with ``discover(previous=old)`` (see
    :func:`is_aligned_to`), it is aligned here with :func:`.align.align_reports` (which may load the
    sentence encoder, unless ``encoder`` is given or every issue is a static, rule or CLEAR issue with
    the same id in both runs).

    Args:
        old, new: the two reports (not modified).
        alpha: level of the Holm-corrected exact test that makes a change ``grown`` or ``shrunk``.
        confidence: level of the Newcombe interval of each change.
        encoder: a sentence-transformers model for the alignment (default: the discovery encoder).

    Returns:
        One line per issue of either run: ``issue_id, name`` (the new run's, else the old), ``name_before``
        (the old run's; ``None`` for an issue it did not have), ``status, count_before, rows_before,
        share_before, count_after, rows_after, share_after, change`` (after - before, a fraction),
        ``ci_low, ci_high, p_value, p_adjusted, significant``; sorted by status (:data:`STATUSES`)
        then by the size of the change. ``attrs`` holds ``rows_before``, ``rows_after``, ``alpha``,
        ``confidence`` and ``aligned`` (``"previous"``: the ids came from ``discover(previous=...)``;
        ``"here"``: aligned by this call).
    """
    aligned = "previous"
    if not is_aligned_to(new, old):
        from misattribution.discovery.align import align_reports

        new = align_reports(new, old, encoder=encoder).report
        aligned = "here"
    new_ids = [i.id for i in new.issues]
    old_ids = [i.id for i in old.issues]
    ids = new_ids + [i for i in old_ids if i not in set(new_ids)]
    names = {i.id: i.name for i in old.issues} | {i.id: i.name for i in new.issues}
    before, after = _issue_counts(old), _issue_counts(new)
    rows_before, rows_after = len(old.rows), len(new.rows)
    stats = compare_proportions(
        [after.get(i, 0) for i in ids],
        rows_after,
        [before.get(i, 0) for i in ids],
        rows_before,
        alpha=alpha,
        confidence=confidence,
    )
    in_new = set(new_ids)
    status = [
        "new"
        if not b and a
        else "vanished"
        if b and not a
        else ("grown" if d > 0 else "shrunk")
        if significant
        else "unchanged"
        for b, a, d, significant in zip(stats["count_b"], stats["count_a"], stats["difference"], stats["significant"])
    ]
    old_names = {i.id: i.name for i in old.issues}
    table = pd.DataFrame(
        {
            "issue_id": ids,
            "name": [names[i] for i in ids],
            "name_before": [old_names.get(i) for i in ids],
            "status": status,
            "count_before": stats["count_b"],
            "rows_before": stats["rows_b"],
            "share_before": stats["share_b"],
            "count_after": stats["count_a"],
            "rows_after": stats["rows_a"],
            "share_after": stats["share_a"],
            "change": stats["difference"],
            "ci_low": stats["ci_low"],
            "ci_high": stats["ci_high"],
            "p_value": stats["p_value"],
            "p_adjusted": stats["p_adjusted"],
            "significant": stats["significant"],
        }
    )
    table = _sorted_by_status(table)
    table.attrs.update(
        rows_before=rows_before, rows_after=rows_after, alpha=alpha, confidence=confidence, aligned=aligned
    )
    table.attrs["examples"] = {i: _example_rows(new if i in in_new else old, i) for i in ids}
    return table


def _sorted_by_status(table: pd.DataFrame) -> pd.DataFrame:
    rank = table["status"].map({s: k for k, s in enumerate(STATUSES)})
    size = -table["change"].abs().fillna(0)
    order = np.lexsort((size.to_numpy(), rank.to_numpy()))
    return table.iloc[order].reset_index(drop=True)


# -- system vs system -------------------------------------------------------------------------------------
def compare_systems(
    report: IssueReport,
    a: str,
    b: str,
    *,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = 0.95,
    require_rows: bool = True,
) -> pd.DataFrame:
    """Issue by issue, the share of system ``a``'s rows and of system ``b``'s rows with it.

    The one implementation of a system comparison: the CLI's ``compare``, the Space's explorer (on a
    filtered slice) and :func:`.align.compare_systems` call it. The statistics are
    :func:`misattribution.stats.compare_proportions`': Newcombe interval of ``share_a - share_b``,
    Fisher's exact p-value, Holm's correction for the number of issues; ``significant`` = corrected
    p < ``alpha``.

    Args:
        report: the report whose rows carry a ``system`` column.
        a, b: the two systems.
        alpha, confidence: level of the corrected test and of the intervals.
        require_rows: raise a ``ValueError`` when a system has no row (else its shares are NaN).

    Returns:
        One line per issue in the report's order: ``issue_id, name, count_a, rows_a, share_a, count_b,
        rows_b, share_b, difference, ci_low, ci_high, p_value, p_adjusted, significant``.
    """
    systems = report.rows["system"].astype(str).to_numpy()
    masks = {name: systems == name for name in (a, b)}
    for name, mask in masks.items():
        if require_rows and not mask.any():
            known = sorted(set(systems))
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"no rows of system {name!r}; the report has {known}{hint}")
    counts = {name: _issue_counts(report, mask) for name, mask in masks.items()}
    ids = [i.id for i in report.issues]
    stats = compare_proportions(
        [counts[a].get(i, 0) for i in ids],
        int(masks[a].sum()),
        [counts[b].get(i, 0) for i in ids],
        int(masks[b].sum()),
        alpha=alpha,
        confidence=confidence,
    )
    stats.insert(0, "name", [i.name for i in report.issues])
    stats.insert(0, "issue_id", ids)
    stats.attrs.update(system_a=a, system_b=b, alpha=alpha, confidence=confidence)
    return stats


# -- resolving an issue given on the command line ---------------------------------------------------------
def resolve_issue(reports: Sequence[IssueReport], text: str) -> str:
    """The id of the issue ``text`` names: an id, or a name (both case-insensitive), in any of ``reports``
    (a run and its baseline: the run's names first, then the baseline's, so an issue renamed since the
    baseline is found by its old name too).

    Raises:
        ValueError: no such issue (the message lists close matches) or a name that several ids carry.
    """
    pairs = list(dict.fromkeys((i.id, i.name) for report in reports for i in report.issues))
    current = dict(reversed(pairs))  # an id's name in the first report that has it
    wanted = text.strip().casefold()
    by_id = [i for i in current if i.casefold() == wanted]
    if by_id:
        return by_id[0]
    # Names of the first report first; a later report's (the baseline's) only when the first has none,
    # so an issue renamed since the baseline is found by its old name too.
    for report in reports:
        by_name = sorted({i.id for i in report.issues if i.name.strip().casefold() == wanted})
        if len(by_name) == 1:
            return by_name[0]
        if by_name:
            raise ValueError(f"issue {text!r}: several issues have this name ({', '.join(by_name)}); give an id")
    folded = {i.casefold(): i for i in current} | {n.strip().casefold(): i for i, n in pairs}
    # Names that contain the text (a short form of a long name) first, then similar spellings.
    containing = [c for c in folded if wanted and wanted in c]
    close = list(dict.fromkeys([*containing, *difflib.get_close_matches(wanted, list(folded), n=3, cutoff=0.5)]))[:3]
    suggestions = list(dict.fromkeys(f"{current[folded[c]]!r} ({folded[c]})" for c in close))
    hint = f"close matches: {'; '.join(suggestions)}" if suggestions else f"the report has {len(current)} issues"
    raise ValueError(f"no issue {text!r} in the report (hint: {hint})")


# -- the CI gate ------------------------------------------------------------------------------------------
@dataclass
class Breach:
    """One limit an issue broke: ``rule`` is ``"max-share"`` or ``"max-growth"``; ``value`` and ``limit``
    are a share (fraction) for max-share and percentage points for max-growth."""

    issue_id: str
    name: str
    rule: str
    value: float
    limit: float
    message: str


@dataclass
class CheckResult:
    """What :func:`check_report` found: the breaches, the tables behind them and the Markdown summary."""

    breaches: list[Breach]
    top: pd.DataFrame
    changes: pd.DataFrame | None
    markdown: str
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.breaches


def check_report(
    report: IssueReport,
    *,
    baseline: IssueReport | None = None,
    max_share: Mapping[str, float] | None = None,
    max_growth: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = 0.95,
    top: int = 5,
    labels: tuple[str, str] = ("report", "baseline"),
    encoder: Any | None = None,
) -> CheckResult:
    """Check a report against limits; return the breaches and a Markdown summary for a pull request.

    Args:
        report: the run under test.
        baseline: an earlier run; needed by ``max_growth``; its changes are summarised.
        max_share: issue (id or name, see :func:`resolve_issue`) → the largest share allowed, a fraction.
            An issue known only to the baseline (vanished) has share 0.
        max_growth: no issue's share may grow by more than this many percentage points against the
            baseline (a new issue grows from 0). The point estimate counts, as a limit is written; the
            summary says whether each growth is also significant.
        alpha, confidence: of the comparison with the baseline (:func:`diff_reports`).
        top: how many issues the summary lists.
        labels: how the summary names the report and the baseline (e.g. their paths).
        encoder: for aligning the baseline's ids when needed (:func:`diff_reports`).

    Raises:
        ValueError: ``max_growth`` without a baseline, a negative limit, an unknown issue.
    """
    if max_growth is not None and baseline is None:
        raise ValueError("--max-growth compares with a baseline (hint: add --baseline OLD_BUNDLE)")
    if max_growth is not None and (math.isnan(max_growth) or max_growth < 0):
        raise ValueError(f"--max-growth {max_growth}: give a number of percentage points, 0 or more")
    changes = diff_reports(baseline, report, alpha=alpha, confidence=confidence, encoder=encoder) if baseline else None
    known = [report] if baseline is None else [report, baseline]
    limits = {resolve_issue(known, text): float(limit) for text, limit in (max_share or {}).items()}
    counts = _issue_counts(report)
    n = len(report.rows)
    names = {i.id: i.name for r in reversed(known) for i in r.issues}  # the report's name wins
    breaches = []
    for issue_id, limit in limits.items():
        share = counts.get(issue_id, 0) / n if n else 0.0
        if share > limit:
            message = f"share {_percent(share)} is above the limit {_percent(limit)} (--max-share)"
            breaches.append(Breach(issue_id, names[issue_id], "max-share", share, limit, message))
    if changes is not None and max_growth is not None:
        for line in changes.itertuples():
            points = 100 * line.change
            if line.status != "vanished" and points > max_growth + 1e-9:
                p_text = _p(line.p_adjusted)
                significant = "significant" if line.significant else "not significant"
                significant += f", Holm-corrected p {p_text if p_text.startswith('<') else '= ' + p_text}"
                message = (
                    f"grew {points:+.1f} points ({_percent(line.share_before)} → {_percent(line.share_after)}), "
                    f"more than {max_growth:g} point{'' if max_growth == 1 else 's'} (--max-growth; {significant})"
                )
                breaches.append(Breach(line.issue_id, line.name, "max-growth", points, max_growth, message))
    top_table = _top_issues(report, counts, top, confidence)
    markdown = _check_markdown(report, breaches, top_table, changes, labels, limits)
    return CheckResult(breaches=breaches, top=top_table, changes=changes, markdown=markdown)


def _top_issues(report: IssueReport, counts: dict[str, int], top: int, confidence: float) -> pd.DataFrame:
    """The report's issues by rows, most first, with a Wilson interval of the share and example rows."""
    n = len(report.rows)
    ids = sorted((i.id for i in report.issues), key=lambda i: -counts.get(i, 0))[:top]
    names = {i.id: i.name for i in report.issues}
    count = np.array([counts.get(i, 0) for i in ids], dtype=float)
    low, high = wilson_interval(count, n, confidence) if n else (count * np.nan, count * np.nan)
    return pd.DataFrame(
        {
            "issue_id": ids,
            "name": [names[i] for i in ids],
            "count": count.astype(int),
            "share": count / n if n else count * np.nan,
            "ci_low": low,
            "ci_high": high,
            "examples": [_example_rows(report, i) for i in ids],
        }
    )


# -- rendering --------------------------------------------------------------------------------------------
def _percent(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def _points(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:+.1f}"


def _p(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _interval(low: float, high: float) -> str:
    return f"{_points(low)} to {_points(high)}"


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _ids(values: Sequence[str]) -> str:
    return ", ".join(f"`{_cell(v)}`" for v in values) or "–"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    rule = ["---:" if a == "r" else "---" for a in align]
    return [f"| {' | '.join(header)} |", f"| {' | '.join(rule)} |", *(f"| {' | '.join(r)} |" for r in rows)]


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def diff_test_note(table: pd.DataFrame) -> str:
    """Which test and interval the table's p-values and intervals are (one sentence)."""
    level = 100 * table.attrs.get("confidence", 0.95)
    return _TEST_NOTE.format(n=len(table), alpha=table.attrs.get("alpha", DEFAULT_ALPHA), level=level)


def _diff_cells(line: Any, width: int | None = None) -> list[str]:
    name = line.name
    # the same issue by identity, named anew (a new issue has no old name: None, or NaN once in a frame)
    if isinstance(line.name_before, str) and line.name_before and line.name_before != line.name:
        name += f" (was: {line.name_before})"
    name = name if width is None or len(name) <= width else name[: width - 1] + "…"
    return [
        line.status,
        name,
        _percent(line.share_before),
        _percent(line.share_after),
        f"{_points(line.change)} ({_interval(line.ci_low, line.ci_high)})",
        _p(line.p_adjusted),
    ]


_DIFF_HEADER = ("status", "issue", "before", "after", "change, points (95% CI)", "p (Holm)")


def diff_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`diff_reports`' table as display strings, one column per header of ``format_diff`` (what the
    Space's Runs tab shows)."""
    return pd.DataFrame([_diff_cells(line) for line in table.itertuples()], columns=list(_DIFF_HEADER))


def diff_headline(table: pd.DataFrame, labels: tuple[str, str] = ("old", "new")) -> str:
    """One line: both runs' row counts and how many issues are in each status."""
    counts = table["status"].value_counts()
    return (
        f"{labels[0]} ({table.attrs.get('rows_before', '?')} rows) -> {labels[1]} "
        f"({table.attrs.get('rows_after', '?')} rows): " + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in STATUSES)
    )


def format_diff(table: pd.DataFrame, labels: tuple[str, str] = ("old", "new")) -> str:
    """:func:`diff_reports`' table as aligned text for a terminal."""
    rows = [_diff_cells(line, width=90) for line in table.itertuples()]
    return "\n".join(
        [diff_headline(table, labels), diff_test_note(table), "", _text_table(_DIFF_HEADER, rows, "llrrrr")]
    )


def diff_markdown(table: pd.DataFrame, labels: tuple[str, str] = ("old", "new"), *, unchanged: bool = True) -> str:
    """:func:`diff_reports`' table as Markdown (``unchanged=False``: only the issues that changed)."""
    shown = table if unchanged else table[table["status"] != "unchanged"]
    examples = table.attrs.get("examples", {})
    rows = [
        [_cell(c) for c in _diff_cells(line)] + [_ids(examples.get(line.issue_id, []))] for line in shown.itertuples()
    ]
    counts = table["status"].value_counts()
    lines = [
        f"**{_cell(labels[0])}** ({table.attrs.get('rows_before', '?')} rows) → **{_cell(labels[1])}** "
        f"({table.attrs.get('rows_after', '?')} rows): " + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in STATUSES),
        "",
        f"_{diff_test_note(table)}._",
        "",
    ]
    if len(shown):
        lines += _markdown_table([*_DIFF_HEADER, "example rows"], rows, "llrrrrl")
    hidden = len(table) - len(shown)
    if hidden:
        lines += ["", f"{hidden} issue(s) unchanged."]
    return "\n".join(lines) + "\n"


def _compare_cells(line: Any, width: int | None = None) -> list[str]:
    name = line.name if width is None or len(line.name) <= width else line.name[: width - 1] + "…"
    return [
        name,
        f"{_percent(line.share_a)} ({line.count_a}/{line.rows_a})",
        f"{_percent(line.share_b)} ({line.count_b}/{line.rows_b})",
        f"{_points(line.difference)} ({_interval(line.ci_low, line.ci_high)})",
        _p(line.p_adjusted),
        "yes" if line.significant else "",
    ]


def _compare_header(table: pd.DataFrame) -> list[str]:
    a, b = table.attrs.get("system_a", "a"), table.attrs.get("system_b", "b")
    return ["issue", str(a), str(b), "difference, points (95% CI)", "p (Holm)", "significant"]


def format_compare(table: pd.DataFrame) -> str:
    """:func:`compare_systems`' table as aligned text for a terminal."""
    a, b = table.attrs.get("system_a", "a"), table.attrs.get("system_b", "b")
    title = f"{a} vs {b}: {int(table['significant'].sum())} of {len(table)} issues differ significantly"
    rows = [_compare_cells(line, width=60) for line in table.itertuples()]
    return "\n".join([title, diff_test_note(table), "", _text_table(_compare_header(table), rows, "lrrrrl")])


def compare_markdown(table: pd.DataFrame) -> str:
    """:func:`compare_systems`' table as Markdown."""
    a, b = table.attrs.get("system_a", "a"), table.attrs.get("system_b", "b")
    rows = [[_cell(c) for c in _compare_cells(line)] for line in table.itertuples()]
    lines = [
        f"**{_cell(a)}** vs **{_cell(b)}**: {int(table['significant'].sum())} of {len(table)} issues differ "
        "significantly",
        "",
        f"_{diff_test_note(table)}._",
        "",
        *_markdown_table([_cell(h) for h in _compare_header(table)], rows, "lrrrrl"),
    ]
    return "\n".join(lines) + "\n"


def _check_markdown(
    report: IssueReport,
    breaches: list[Breach],
    top: pd.DataFrame,
    changes: pd.DataFrame | None,
    labels: tuple[str, str],
    limits: Mapping[str, float],
) -> str:
    verdict = f"❌ {len(breaches)} breach{'es' if len(breaches) != 1 else ''}" if breaches else "✅ passed"
    lines = [f"### misattribution check: {verdict}", ""]
    scope = f"`{_cell(labels[0])}`: {len(report.rows)} rows, {len(report.issues)} issues"
    if changes is not None:
        scope += f"; baseline `{_cell(labels[1])}`: {changes.attrs['rows_before']} rows"
    checked = [f"max share of {len(limits)} issue(s)"] if limits else []
    lines += [scope + ".", ""]
    if breaches:
        lines += ["**Breaches**", ""]
        lines += [f"- **{_cell(b.name)}** (`{_cell(b.issue_id)}`): {b.message}" for b in breaches]
        lines.append("")
    elif checked or changes is not None:
        lines += ["No limit is broken.", ""]
    lines += ["**Top issues**", ""]
    if len(top):
        rows = [
            [
                str(k),
                _cell(line.name),
                str(line.count),
                f"{_percent(line.share)} ({_percent(line.ci_low)} to {_percent(line.ci_high)})",
                _ids(line.examples),
            ]
            for k, line in enumerate(top.itertuples(), start=1)
        ]
        lines += _markdown_table(["#", "issue", "rows", "share (95% CI)", "example rows"], rows, "rlrrl")
    else:
        lines.append("The report has no issue.")
    if changes is not None:
        lines += ["", "**Changes against the baseline**", "", diff_markdown(changes, labels[::-1], unchanged=False)]
    return "\n".join(lines).rstrip() + "\n"
