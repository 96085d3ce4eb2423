"""What the Space shows: Markdown text, HTML and display tables and plotly figures built from explore's results.

Pure functions of DataFrames and :class:`~misattribution.explore.Explorer` results, no Gradio: the views
(:mod:`misattribution.space.views`) call them and the layout lives in :mod:`misattribution.space.app`. User
text is escaped before it reaches Markdown (:func:`escape_markdown`) or HTML (``html.escape``). plotly is
imported only when a figure is drawn. The HTML's style is :data:`PAGE_CSS`, in the page's stylesheet once
(not in each update: a ``<style>`` in an update made the browser restyle the whole page each time).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from misattribution.explore import Explorer


# -- text and tables ----------------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """Markdown-inert text: user data must not become links, HTML or emphasis."""
    return "".join("\\" + c if c in "\\`*_{}[]<>()#+-.!|~" else c for c in str(text))


def describe(explorer: Explorer) -> str:
    meta = explorer.report.meta
    mode = meta.get("mode", "")
    return (
        f"**{explorer.n_rows:,}** rows · **{len(explorer.issue_ids)}** issues"
        + (f" · mode {escape_markdown(str(mode))}" if mode else "")
        + (
            f" · systems: {', '.join(escape_markdown(s) for s in explorer.systems)}"
            if len(explorer.systems) > 1
            else ""
        )
    )


def filter_summary(overview: Any) -> str:
    share = f"{overview.failing_share:.1%}" if overview.rows else "—"
    return f"**{overview.rows:,}** of {overview.total_rows:,} rows match · {overview.failing:,} failing ({share})"


def overview_text(explorer: Explorer, overview: Any, n_issues: int) -> str:
    share = f"{overview.failing_share:.1%}" if overview.rows else "—"
    mean = "—" if pd.isna(overview.mean_score_norm) else f"{overview.mean_score_norm:.2f}"
    return (
        f"| rows | failing | failing share | mean normalised score | issues |\n|---:|---:|---:|---:|---:|\n"
        f"| {overview.rows:,} | {overview.failing:,} | {share} | {mean} | {n_issues} |"
    )


def percent(value: float) -> str:
    return "—" if pd.isna(value) else f"{100 * value:.1f}%"


def interval(low: float, high: float, scale: float = 100, digits: int = 1) -> str:
    if pd.isna(low) or pd.isna(high):
        return "—"
    return f"[{scale * low:.{digits}f}, {scale * high:.{digits}f}]"


def issues_display(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "issue": table["name"],
            "rows": table["count"],
            "share": table["share"].map(percent),
            "share 95% CI (%)": [interval(a, b) for a, b in zip(table["share_ci_low"], table["share_ci_high"])],
            "mean score": table["mean_score"].map(lambda v: "—" if pd.isna(v) else f"{v:.2f}"),
            "impact": table["impact"].map(lambda v: "—" if pd.isna(v) else f"{v:.4f}"),
            "impact 95% CI": [interval(a, b, 1, 4) for a, b in zip(table["impact_ci_low"], table["impact_ci_high"])],
            "source": table["provenance"],
            "id": table["issue_id"],
        }
    )


def node_choices(tree: pd.DataFrame) -> list[tuple[str, str]]:
    """``(label, node id)`` for every node of :meth:`Explorer.tree_table`, the label naming its parent.

    >>> tree = pd.DataFrame({"id": ["category:q", "x-1"], "name": ["Quality", "Cut off"],
    ...                      "parent": [None, "category:q"], "count": [12, 10]})
    >>> node_choices(tree)
    [('Quality (12)', 'category:q'), ('Quality › Cut off (10)', 'x-1')]
    """
    names = dict(zip(tree["id"], tree["name"]))
    return [
        (f"{names[parent]} › {name} ({count:,})" if parent in names else f"{name} ({count:,})", node_id)
        for node_id, name, parent, count in zip(tree["id"], tree["name"], tree["parent"], tree["count"])
    ]


def _rem(widths: list[str]) -> str:
    """Column widths given in the body's em (0.9rem) as rem: the header row's smaller font must not make its
    columns narrower than the body's (with six systems the header ended 5 columns off to the left).

    >>> _rem(["minmax(12em, 1fr)", "4.5em"])
    'minmax(10.8rem, 1fr) 4.05rem'
    """
    return " ".join(re.sub(r"([\d.]+)em\b", lambda m: f"{float(m.group(1)) * 0.9:g}rem", w) for w in widths)


def _grid_style(widths: list[str]) -> str:
    """The table's column template (:func:`_rem`) and the least width of a row: the name column's minimum,
    the fixed columns, the gaps and the padding. A row at least that wide holds every column, so a name kept
    in view while the table scrolls sideways (``position: sticky``) can travel its whole width.

    >>> _grid_style(["minmax(10em, 1fr)", "5em"])
    '--mt-columns: minmax(9rem, 1fr) 4.5rem; --mt-width: 14.76rem'
    """
    least = sum(float(m.group(1)) for w in widths for m in [re.search(r"([\d.]+)em\b", w)] if m) * 0.9
    least += 0.54 * (len(widths) - 1) + 0.72  # column gaps, row padding
    return f"--mt-columns: {_rem(widths)}; --mt-width: {least:.4g}rem"


# Fixed widths for the numbers (they line up across rows); the name takes the rest and wraps, and stays in
# view when many systems' columns make the table scroll sideways. Headers break at spaces only, never
# inside a word.
_TREE_CSS = """
.mtree { font-size: 0.9rem; overflow-x: auto; }
.mtree .mt-row { display: grid; grid-template-columns: var(--mt-columns); column-gap: 0.54rem; align-items: baseline;
  min-width: var(--mt-width); box-sizing: border-box; padding: 0.3em 0.36rem; border-bottom: 1px solid var(--border-color-primary, #e5e7eb); font-size: 0.9rem;
  line-height: 1.35; margin: 0; }
.mtree .mt-head { font-weight: 600; font-size: 0.8rem; line-height: 1.2; color: var(--body-text-color-subdued, #6b7280);
  align-items: end; border-bottom-width: 2px; }
.mtree .mt-head span { white-space: normal; word-break: normal; overflow-wrap: normal; hyphens: none; }
.mtree .mt-head .mt-system { overflow-wrap: anywhere; }
.mtree .mt-num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; font-weight: 400; }
.mtree .mt-num small { display: block; font-size: 0.75rem; color: var(--body-text-color-subdued, #6b7280); }
.mtree .mt-name { padding-left: calc(var(--mt-depth) * 1.4em + 1.2em); text-indent: -1.2em;
  overflow-wrap: anywhere; position: sticky; left: 0; z-index: 1; align-self: stretch;
  background: var(--background-fill-primary, #fff); }
.mtree summary:hover .mt-name, .mtree .mt-leaf:hover .mt-name { background: var(--background-fill-secondary, #f3f4f6); }
.mtree .mt-selected .mt-name { background: var(--color-accent-soft, #e0e7ff); }
.mtree .mt-name small { color: var(--body-text-color-subdued, #6b7280); font-weight: 400; margin-left: 0.4em;
  white-space: nowrap; }
.mtree summary { list-style: none; cursor: pointer; }
.mtree summary::-webkit-details-marker { display: none; }
.mtree summary .mt-name::before { content: "▸"; display: inline-block; width: 1.2em; text-indent: 0; }
.mtree details[open] > summary .mt-name::before { content: "▾"; }
.mtree .mt-leaf .mt-name::before { content: ""; display: inline-block; width: 1.2em; }
.mtree summary:hover, .mtree .mt-leaf:hover { background: var(--background-fill-secondary, #f3f4f6); }
.mtree .mt-primary { font-weight: 650; }
.mtree .mt-secondary { font-weight: 550; }
.mtree .mt-unattributed .mt-name { font-style: italic; }
.mtree .mt-empty { opacity: 0.5; }
.mtree .mt-selected { background: var(--color-accent-soft, #e0e7ff); }
.mtree button.mt-filter { font-size: 0.75rem; padding: 0.1em 0.5em; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--border-color-primary, #d1d5db); background: var(--background-fill-primary, #fff);
  color: var(--body-text-color, #111827); white-space: nowrap; justify-self: end; }
.mtree .mt-selected button.mt-filter { border-color: var(--color-accent, #4f46e5); }
"""


def tree_html(
    tree: pd.DataFrame,
    per_system: pd.DataFrame | None = None,
    *,
    selected: Iterable[str] = (),
    max_systems: int = 6,
) -> str:
    """The issue tree as a collapsible table (``<details>`` per category node), or ``""`` when empty.

    ``tree`` is :meth:`Explorer.tree_table` (depth first, ``parent`` links); ``per_system`` its
    :meth:`Explorer.tree_per_system`, shown as one share column per system when there are several (at
    most ``max_systems``). Top-level nodes start open, deeper ones folded, except the path to a
    ``selected`` node (an active node filter), which is open and marked. Every row carries a button
    with ``data-node`` = its id, for the page to turn a click into a filter. User text is escaped.
    """
    if tree is None or tree.empty:
        return ""
    selected = set(selected)
    systems: list[str] = []
    share_in: dict[tuple[str, str], float] = {}
    if per_system is not None and per_system["system"].nunique() > 1:
        systems = sorted(per_system["system"].unique())[:max_systems]
        share_in = {(s, i): v for s, i, v in zip(per_system["system"], per_system["id"], per_system["share"])}
    parent_of = dict(zip(tree["id"], tree["parent"]))
    opened = set()
    for node_id in selected:
        while node_id in parent_of:
            opened.add(node_id)
            node_id = parent_of[node_id]
    children: dict[Any, list[int]] = {}
    for k, parent in enumerate(tree["parent"]):
        children.setdefault(parent if parent in parent_of else None, []).append(k)
    records = tree.to_dict("records")

    def cells(record: dict[str, Any]) -> str:
        node_id = str(record["id"])
        name = html.escape(str(record["name"]))
        if record["level"] != "issue":
            issues = int(record["n_issues"])
            name += f"<small>{issues} issue{'s' if issues != 1 else ''}</small>"
        impact = "—" if pd.isna(record["impact"]) else f"{record['impact']:.4f}"
        if record["count"] and not pd.isna(record["impact_ci_low"]) and not pd.isna(record["impact_ci_high"]):
            impact += f"<small>{record['impact_ci_low']:.4f}–{record['impact_ci_high']:.4f}</small>"
        mean = "—" if pd.isna(record["mean_score"]) else f"{record['mean_score']:.2f}"
        numbers = [
            f"{int(record['count']):,}",
            percent(record["share"]),
            percent(record["failing_share"]),
            mean,
            impact,
        ]
        numbers += [percent(share_in.get((system, node_id), float("nan"))) for system in systems]
        chosen = node_id in selected
        button = (
            f'<button type="button" class="mt-filter" data-node="{html.escape(node_id, quote=True)}" '
            f'title="{"Remove this filter" if chosen else "Keep only the rows under this node"}">'
            f"{'✕ filtered' if chosen else 'filter'}</button>"
        )
        return (
            f'<span class="mt-name" style="--mt-depth: {int(record["depth"])}">{name}</span>'
            + "".join(f'<span class="mt-num">{value}</span>' for value in numbers)
            + button
        )

    def classes(record: dict[str, Any], *extra: str) -> str:
        names = ["mt-row", f"mt-{record['level']}", *extra]
        if not record["count"]:
            names.append("mt-empty")
        if record["id"] in selected:
            names.append("mt-selected")
        return " ".join(names)

    def render(k: int) -> str:
        record = records[k]
        below = children.get(record["id"], [])
        if not below:
            return f'<div class="{classes(record, "mt-leaf")}" data-id="{html.escape(str(record["id"]), quote=True)}">{cells(record)}</div>'
        is_open = record["depth"] == 0 or record["id"] in opened
        return (
            f'<details{" open" if is_open else ""} data-id="{html.escape(str(record["id"]), quote=True)}">'
            f'<summary class="{classes(record)}">{cells(record)}</summary>'
            + "".join(render(j) for j in below)
            + "</details>"
        )

    headers = ["rows", "share", "share of<br>failing", "mean<br>score", "impact<br>(95% CI)"]
    head = '<span class="mt-name" style="--mt-depth: 0">node</span>' + "".join(
        f'<span class="mt-num">{h}</span>' for h in headers
    )
    head += "".join(f'<span class="mt-num mt-system">{html.escape(s)}<br>share</span>' for s in systems)
    head += '<span class="mt-num">filter</span>'
    widths = ["minmax(12em, 1fr)", "4.5em", "4.5em", "5em", "4.5em", "7.5em", *(["5.5em"] * len(systems)), "5.5em"]
    body = "".join(render(k) for k in children.get(None, []))
    return f'<div class="mtree" style="{_grid_style(widths)}"><div class="mt-row mt-head">{head}</div>{body}</div>'


# -- the issues table (HTML: fixed number columns, wrapped names, a share bar per issue) ---------------

_ISSUES_CSS = """
.mtree .mi-share { display: flex; align-items: center; gap: 0.4em; justify-content: flex-end; }
.mtree .mi-track { position: relative; flex: 1 1 auto; height: 0.7em; min-width: 3em;
  background: var(--background-fill-secondary, #f3f4f6); border-radius: 2px; }
.mtree .mi-bar { position: absolute; left: 0; top: 0; bottom: 0; background: #4f46e5; border-radius: 2px; }
.mtree .mi-ci { position: absolute; top: 45%; height: 10%; background: #111827; opacity: 0.55; }
.mtree .mi-id { display: block; text-indent: 0; font-size: 0.75rem; font-weight: 400;
  color: var(--body-text-color-subdued, #6b7280); overflow-wrap: anywhere; }
.mtree .mt-uncovered .mt-name { font-style: italic; }
.mtree .mi-trust > span { display: block; white-space: nowrap; }
.mtree .mt-uncovered { background: var(--background-fill-secondary, #f9fafb); }
"""
#: The caption above the issues table (the table's HTML goes in ``${value}``).
ISSUES_CAPTION = (
    '<p style="margin: 0 0 0.4em">Issues ranked by impact (share of rows × how badly they score). '
    "<b>filter</b> keeps only the rows that have the issue, in every view (click again to remove it).</p>${value}"
)


def issues_html(
    table: pd.DataFrame,
    uncovered: dict[str, float] | None = None,
    *,
    selected: Iterable[str] = (),
    reliability: pd.DataFrame | None = None,
) -> str:
    """The issues of :meth:`Explorer.issue_table` as an HTML table, plus a last row for ``uncovered``
    (:meth:`Explorer.uncovered`: the failing rows no issue explains). ``""`` without issues or rows.

    ``reliability`` (:func:`misattribution.discovery.reliability.reliability_table`: precision and recall
    against human labels with their intervals, stability over seeds) adds a column when it holds any
    measure: each issue's own line, "not measured" where it has none.

    Names wrap in the one flexible column; numbers sit in fixed columns, so the table never scrolls
    sideways. The share column draws a bar (scaled to the largest share) with its 95% interval. Every
    issue row has a button with ``data-issue`` = its id, for the page to turn a click into a filter.
    """
    if table is None or (table.empty and not (uncovered and uncovered.get("count"))):
        return ""
    selected = set(selected)
    rows = table.to_dict("records")
    top = max(
        [float(r["share_ci_high"]) for r in rows if not pd.isna(r["share_ci_high"])]
        + [float(r["share"]) for r in rows if not pd.isna(r["share"])]
        + [float((uncovered or {}).get("share") or 0), 1e-9]
    )

    def share_cell(record: dict[str, Any]) -> str:
        share = record["share"]
        if pd.isna(share):
            return '<span class="mt-num">—</span>'
        bar = f'<span class="mi-bar" style="width: {100 * share / top:.1f}%"></span>'
        low, high = record["share_ci_low"], record["share_ci_high"]
        if not (pd.isna(low) or pd.isna(high)):
            bar += f'<span class="mi-ci" style="left: {100 * low / top:.1f}%; width: {100 * (high - low) / top:.1f}%"></span>'
        return (
            f'<span class="mt-num"><span class="mi-share"><span class="mi-track">{bar}</span>{percent(share)}</span>'
            f"<small>{interval(low, high)}</small></span>"
        )

    def impact_cell(record: dict[str, Any]) -> str:
        impact = "—" if pd.isna(record["impact"]) else f"{record['impact']:.4f}"
        if record["count"] and not (pd.isna(record["impact_ci_low"]) or pd.isna(record["impact_ci_high"])):
            impact += f"<small>{record['impact_ci_low']:.4f}–{record['impact_ci_high']:.4f}</small>"
        return f'<span class="mt-num">{impact}</span>'

    trust = _reliability_by_issue(reliability)

    def numbers(record: dict[str, Any]) -> str:
        mean = "—" if pd.isna(record["mean_score"]) else f"{record['mean_score']:.2f}"
        cells = (
            f'<span class="mt-num">{int(record["count"]):,}</span>'
            + share_cell(record)
            + f'<span class="mt-num">{percent(record["failing_share"])}</span>'
            + f'<span class="mt-num">{mean}</span>'
            + impact_cell(record)
        )
        if trust is not None:  # the no-issue row has nothing to measure
            cells += reliability_cell(trust.get(str(record["issue_id"]))) if "issue_id" in record else "<span></span>"
        return cells

    body = []
    for record in rows:
        issue_id = str(record["issue_id"])
        chosen = issue_id in selected
        source = html.escape(str(record.get("provenance") or ""))
        classes = "mt-row mt-leaf" + (" mt-empty" if not record["count"] else "") + (" mt-selected" if chosen else "")
        body.append(
            f'<div class="{classes}" data-id="{html.escape(issue_id, quote=True)}">'
            f'<span class="mt-name" style="--mt-depth: 0">{html.escape(str(record["name"]))}'
            f'<span class="mi-id">{" · ".join(x for x in (source, html.escape(issue_id)) if x)}</span></span>'
            + numbers(record)
            + f'<button type="button" class="mt-filter" data-issue="{html.escape(issue_id, quote=True)}" '
            f'title="{"Remove this filter" if chosen else "Keep only the rows with this issue"}">'
            f"{'✕ filtered' if chosen else 'filter'}</button></div>"
        )
    if uncovered is not None and uncovered.get("count"):
        record = {**uncovered, "name": "No issue: failing rows that no issue explains"}
        body.append(
            '<div class="mt-row mt-leaf mt-uncovered" data-id="no-issue">'
            f'<span class="mt-name" style="--mt-depth: 0">{record["name"]}</span>'
            + numbers(record)
            + '<button type="button" class="mt-filter" data-issue="no-issue" '
            'title="Keep only the failing rows that have no issue">filter</button></div>'
        )
    headers = ["rows", "share (95% CI)", "share of<br>failing", "mean<br>score", "impact<br>(95% CI)", "filter"]
    widths = ["minmax(14em, 1fr)", "4.5em", "11em", "4.5em", "4em", "7.5em", "5.5em"]
    if trust is not None:
        headers.insert(5, "reliability<br>(95% CI)")
        widths.insert(6, "12.5em")
    head = '<span class="mt-name" style="--mt-depth: 0">issue</span>' + "".join(
        f'<span class="mt-num">{h}</span>' for h in headers
    )
    return (
        f'<div class="mtree missues" style="{_grid_style(widths)}">'
        f'<div class="mt-row mt-head">{head}</div>{"".join(body)}</div>'
    )


def _reliability_by_issue(reliability: pd.DataFrame | None) -> dict[str, dict[str, Any]] | None:
    """The reliability table's lines by issue id, or ``None`` when nothing was measured."""
    if reliability is None or reliability.empty:
        return None
    measured = (reliability["labelled"] > 0) | (reliability["n_seeds"] > 0)
    if not measured.any():
        return None
    return {str(r["issue_id"]): r for r in reliability.to_dict("records")}


def reliability_cell(line: dict[str, Any] | None) -> str:
    """An issue's reliability: precision and recall against the human labels (Wilson 95% intervals, with
    how many labelled rows) and stability over seeds (mean best-match Jaccard, seeds that found it)."""
    parts = []
    if line is not None and line.get("labelled"):
        for name in ("precision", "recall"):
            value = line.get(name)
            if value is None or pd.isna(value):
                parts.append(f"{name} —")
            else:
                parts.append(
                    f"{name} {value:.2f}<small>{interval(line[f'{name}_low'], line[f'{name}_high'], 1, 2)}</small>"
                )
        parts.append(f"<small>{int(line['labelled'])} labelled</small>")
    if line is not None and line.get("n_seeds"):
        stability = line.get("stability")
        shown = "—" if stability is None or pd.isna(stability) else f"{stability:.2f}"
        parts.append(
            f"stability {shown}<small>found by {int(line['seeds_found'])}/{int(line['n_seeds'])} seeds</small>"
        )
    if not parts:
        return '<span class="mt-num mi-trust"><small>not measured</small></span>'
    return '<span class="mt-num mi-trust">' + "".join(f"<span>{p}</span>" for p in parts) + "</span>"


# -- a row's texts with the evidence marked -------------------------------------------------------------

_MARK_COLOURS = ("#fde68a", "#bfdbfe", "#fecaca", "#bbf7d0", "#e9d5ff", "#fed7aa")
_MARK_CSS = """
.mhl { white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; line-height: 1.55;
  font-size: 0.95rem; padding: 0.5em 0.7em; border: 1px solid var(--border-color-primary, #e5e7eb);
  border-radius: 6px; max-height: 28em; overflow-y: auto; }
.mhl mark { border-radius: 3px; padding: 0 0.1em; color: inherit; }
.mhl-legend { font-size: 0.8rem; margin: 0.3em 0 0; display: flex; flex-wrap: wrap; gap: 0.3em 0.8em; }
.mhl-legend span { border-radius: 3px; padding: 0 0.3em; }
"""


def highlight_html(segments: Iterable[tuple[str, str | None]], *, empty: str = "") -> str:
    """``(text, label)`` segments (:func:`~misattribution.explore.highlight_evidence`) as HTML: the text flows
    and wraps between words as plain text does, each marked piece coloured by its label, with a legend.

    >>> highlight_html([("The total ", None), ("$130,000", "Wrong total")])  # doctest: +ELLIPSIS
    '<div class="mhl">The total <mark style="background: #fde68a" title="Wrong total">$130,000</mark></div>...'
    """
    segments = list(segments or [])
    if not any(text for text, _ in segments):
        return f'<p class="mhl-empty">{html.escape(empty)}</p>' if empty else ""
    colours: dict[str, str] = {}
    parts = []
    for text, label in segments:
        if label is None:
            parts.append(html.escape(text))
            continue
        colour = colours.setdefault(label, _MARK_COLOURS[len(colours) % len(_MARK_COLOURS)])
        parts.append(
            f'<mark style="background: {colour}" title="{html.escape(label, quote=True)}">{html.escape(text)}</mark>'
        )
    legend = "".join(f'<span style="background: {c}">{html.escape(label)}</span>' for label, c in colours.items())
    return f'<div class="mhl">{"".join(parts)}</div>' + (f'<p class="mhl-legend">{legend}</p>' if legend else "")


# -- display tables as HTML ----------------------------------------------------------------------------

#: The style of :func:`table_html`'s tables (in the page's stylesheet, :mod:`misattribution.space.app`).
TABLE_CSS = """
.ma-table { overflow-x: auto; }
.ma-table table { border-collapse: collapse; width: 100%; font-size: var(--text-sm, 0.875rem); }
.ma-table th, .ma-table td { border: 1px solid #e5e7eb; padding: 0.35em 0.6em;
  text-align: left; vertical-align: top; }
.ma-table th { background: var(--background-fill-secondary, #f9fafb); font-weight: 600; word-break: keep-all;
  overflow-wrap: normal; hyphens: none; }
.ma-table td { word-break: normal; overflow-wrap: break-word; }
.ma-table td.num { text-align: right; white-space: nowrap; }
.ma-table tr.marked td { background-color: #fde68a; font-weight: 600; }
.ma-table tr[data-row] { cursor: pointer; }
.ma-table tr[data-row]:hover td { background: var(--background-fill-secondary, #f3f4f6); }
"""
#: A click on a row of a :func:`table_html` table with ``row_ids`` becomes a select event carrying the row's id.
ROW_CLICKS = """
if (!element.dataset.clicks) {
  element.dataset.clicks = "1";
  element.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-row]");
    if (row) trigger("select", {index: 0, value: row.dataset.row});
  });
}
"""
_NUMBER = re.compile(r"^[+\-−]?[\d,.]+%?$|^—$")


def table_html(
    frame: pd.DataFrame | None, *, row_ids: Iterable[Any] | None = None, marked: Iterable[bool] | None = None
) -> str:
    """A display table as one HTML table (cells escaped; ``""`` for no row), styled by :data:`TABLE_CSS`.

    The Space's read-only tables are these rather than Gradio's Dataframe, whose interactive grid took
    ~60 ms more per 20-row table to paint in headless Chromium (load 5). ``row_ids`` go in each row's
    ``data-row`` (with :data:`ROW_CLICKS`, a click selects the row); ``marked`` rows are highlighted.

    >>> table_html(pd.DataFrame({"issue": ["<b>x</b>"], "share": ["12.0%"]}), marked=[True])  # doctest: +ELLIPSIS
    '<div class="ma-table"><table><thead><tr><th>issue</th><th>share</th></tr></thead><tbody><tr class="marked"><td>&lt;b&gt;x&lt;/b&gt;</td><td class="num">12.0%</td></tr></tbody></table></div>'
    """
    if frame is None or frame.empty:
        return ""
    ids = [None] * len(frame) if row_ids is None else [str(v) for v in row_ids]
    flags = [False] * len(frame) if marked is None else [bool(v) for v in marked]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for values, row_id, flag in zip(frame.itertuples(index=False, name=None), ids, flags):
        attributes = (f' data-row="{html.escape(row_id, quote=True)}"' if row_id is not None else "") + (
            ' class="marked"' if flag else ""
        )
        cells = "".join(_cell_html(v) for v in values)
        body.append(f"<tr{attributes}>{cells}</tr>")
    return f'<div class="ma-table"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _cell_html(value: Any) -> str:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    number = ' class="num"' if text and _NUMBER.match(text) else ""
    return f"<td{number}>{html.escape(text)}</td>"


# -- the report's summary and an upload's problems ------------------------------------------------------


def report_summary(meta: dict[str, Any]) -> str:
    """The plain-language summary a bundle carries (``meta["summary"]``: the text, or the dict
    :meth:`misattribution.discovery.summary.Summary.to_dict` writes), or ``""``."""
    summary = meta.get("summary") if meta else None
    if isinstance(summary, dict):
        summary = summary.get("text")
    return str(summary).strip() if isinstance(summary, str) else ""


_PROBLEM = re.compile(r"row (?P<row>\d+)(?: \(id '(?P<id>[^']*)'\))?, field '(?P<field>[^']*)': (?P<problem>.*)", re.S)


def problems_frame(problems: Iterable[Any]) -> pd.DataFrame:
    """An upload's problems as a table (``row, id, field, problem``): each message's row, id and field
    when it names them (``file: row 338 (id 'q338'), field 'score': no score``), else the whole message.

    >>> problems_frame(["a.zip:results.csv: row 3 (id 'q3'), field 'score': no score"]).to_dict("records")
    [{'row': 3, 'id': 'q3', 'field': 'score', 'problem': 'no score'}]
    """
    records = []
    for problem in problems:
        text = str(problem)
        found = _PROBLEM.search(text)
        if found:
            records.append([int(found["row"]), found["id"] or "", found["field"], found["problem"].strip()])
        else:
            records.append([None, "", "", text])
    return pd.DataFrame(records, columns=["row", "id", "field", "problem"])


def compare_display(compared: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "issue": compared["name"],
            "share, full": compared["share_full"].map(percent),
            "share, filtered": compared["share_filtered"].map(percent),
            "difference (points)": compared["difference"].map(lambda v: "—" if pd.isna(v) else f"{100 * v:+.1f}"),
        }
    )


def systems_display(table: pd.DataFrame) -> pd.DataFrame:
    """System A vs B as display columns; the significant rows are ``table["significant"]`` (highlighted by
    :func:`systems_html`)."""
    a, b = table.attrs["system_a"], table.attrs["system_b"]
    return pd.DataFrame(
        {
            "issue": table["name"],
            "significant": table["significant"].map(lambda v: "yes" if v else ""),
            f"share {a}": table["share_a"].map(percent),
            f"share {b}": table["share_b"].map(percent),
            "difference (points)": table["difference"].map(lambda v: "—" if pd.isna(v) else f"{100 * v:+.1f}"),
            "95% CI (points)": [interval(lo, hi) for lo, hi in zip(table["ci_low"], table["ci_high"])],
        }
    )


def systems_html(table: pd.DataFrame) -> str:
    """System A vs B as an HTML table, the significant differences highlighted."""
    return table_html(systems_display(table), marked=table["significant"].to_numpy())


# -- bar charts as HTML --------------------------------------------------------------------------------

BARS_CSS = """
.ma-bars { font-size: var(--text-sm, 0.875rem); padding: 0.4em 0.2em; }
.ma-bars .ma-legend { display: flex; gap: 1.2em; margin: 0 0 0.4em; }
.ma-bars .ma-key { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.35em; vertical-align: -0.1em; }
.ma-bars .ma-row { display: grid; grid-template-columns: minmax(8em, 32%) 1fr; align-items: center; gap: 0.6em;
  min-height: 1.7em; }
.ma-bars .ma-label { text-align: right; overflow-wrap: break-word; line-height: 1.2; }
.ma-bars .ma-track { position: relative; height: 100%; min-height: 1.4em;
  background: repeating-linear-gradient(90deg, transparent 0 calc(var(--ma-step) - 1px), #e5e7eb calc(var(--ma-step) - 1px) var(--ma-step)); }
.ma-bars .ma-bar { position: absolute; height: var(--ma-h, 62%); top: var(--ma-top, 19%); border-radius: 2px; }
.ma-bars .ma-ci { position: absolute; top: 50%; height: 0; border-top: 1.5px solid #1f2937; }
.ma-bars .ma-ci::before, .ma-bars .ma-ci::after { content: ""; position: absolute; top: -5px; height: 8px;
  border-left: 1.5px solid #1f2937; }
.ma-bars .ma-ci::before { left: 0; } .ma-bars .ma-ci::after { right: 0; }
.ma-bars .ma-zero { position: absolute; top: 0; bottom: 0; border-left: 1px solid #6b7280; }
.ma-bars .ma-axis { position: relative; height: 1.3em; color: #4b5563; font-size: 0.8em; }
.ma-bars .ma-axis span { position: absolute; transform: translateX(-50%); }
.ma-bars .ma-title { text-align: center; color: #374151; margin-top: 0.2em; }
.ma-bars .ma-caption { font-weight: 600; margin: 0 0 0.5em; }
"""


def bars_html(
    labels: Iterable[Any],
    series: list[tuple[str, Iterable[float], Any]],
    *,
    title: str,
    low: Iterable[float] | None = None,
    high: Iterable[float] | None = None,
    unit: str = "",
    caption: str = "",
) -> str:
    """Horizontal bars drawn in HTML and CSS, one row per label, top to bottom (``""`` for no label).

    ``series`` are ``(name, values, colour)``; ``colour`` is one CSS colour or one per bar; several series
    are drawn side by side in each row, with a legend. ``low`` / ``high`` draw an interval on the first
    series; ``caption`` is a heading above the bars. The axis spans 0 and every value and interval, with round ticks; each bar's ``title`` says its
    value. The Space's comparison charts are these: the same bars as its plotly charts, painted by the
    browser in a few milliseconds instead of plotly's 30-40 ms a chart (headless Chromium, load 5).

    >>> "width: 50.0%" in bars_html(["a", "b"], [("share", [5.0, 10.0], "#4f46e5")], title="%")
    True
    """
    labels = [str(v) for v in labels]
    if not labels:
        return ""
    values = [[_finite(v) for v in vals] for _, vals, _ in series]
    lows = [_finite(v) for v in low] if low is not None else [None] * len(labels)
    highs = [_finite(v) for v in high] if high is not None else [None] * len(labels)
    seen = [v for vals in values for v in vals if v is not None] + [v for v in lows + highs if v is not None]
    ticks = _ticks(min([0.0, *seen]), max([0.0, *seen]))
    start, stop = ticks[0], ticks[-1]

    def x(value: float) -> float:
        return 100 * (value - start) / (stop - start)

    height = 62 / len(series)
    rows = []
    for i, label in enumerate(labels):
        parts = []
        for k, ((name, _, colour), vals) in enumerate(zip(series, values)):
            value = vals[i]
            if value is None:
                continue
            left, right = sorted((x(0.0), x(value)))
            fill = colour[i] if isinstance(colour, (list, tuple)) else colour
            tip = html.escape(f"{label} · {name}: {_format_value(value, unit)}", quote=True)
            parts.append(
                f'<div class="ma-bar" title="{tip}" style="left: {left:.1f}%; width: {right - left:.1f}%; '
                f'background: {fill}; --ma-h: {height:.1f}%; --ma-top: {19 + k * height:.1f}%"></div>'
            )
        if lows[i] is not None and highs[i] is not None:
            tip = html.escape(
                f"{label}: 95% interval {_format_value(lows[i], unit)} to {_format_value(highs[i], unit)}"
            )
            parts.append(
                f'<div class="ma-ci" title="{tip}" style="left: {x(lows[i]):.1f}%; '
                f'width: {x(highs[i]) - x(lows[i]):.1f}%"></div>'
            )
        if start < 0:
            parts.append(f'<div class="ma-zero" style="left: {x(0.0):.1f}%"></div>')
        rows.append(
            f'<div class="ma-row"><span class="ma-label">{html.escape(label)}</span>'
            f'<div class="ma-track">{"".join(parts)}</div></div>'
        )
    axis = "".join(f'<span style="left: {x(t):.1f}%">{_format_value(t, "")}</span>' for t in ticks)
    legend = ""
    if len(series) > 1:
        keys = "".join(
            f'<span><span class="ma-key" style="background: {colour}"></span>{html.escape(name)}</span>'
            for name, _, colour in series
        )
        legend = f'<div class="ma-legend">{keys}</div>'
    if caption:
        legend = f'<p class="ma-caption">{html.escape(caption)}</p>' + legend
    return (
        f'<div class="ma-bars" style="--ma-step: {100 / (len(ticks) - 1):.4f}%">{legend}{"".join(rows)}'
        f'<div class="ma-row"><span></span><div class="ma-axis">{axis}</div></div>'
        f'<div class="ma-row"><span></span><div class="ma-title">{html.escape(title)}</div></div></div>'
    )


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round ticks covering [low, high] (at least one step)."""
    import math

    span = high - low or 1.0
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    first, last = math.floor(low / step) * step, math.ceil(high / step) * step
    if last <= first:
        last = first + step
    return [first + k * step for k in range(int(round((last - first) / step)) + 1)]


def _format_value(value: float, unit: str) -> str:
    return (f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}") + unit


def histogram_bars(histogram: pd.DataFrame) -> str:
    """The slice's score histogram (:meth:`Explorer.overview`): rows per score (or score bin), worst first."""
    if histogram is None or histogram.empty:
        return ""
    return bars_html(
        [f"score {score}" for score in histogram["score"]],
        [("rows", histogram["rows"], "#4f46e5")],
        title="rows",
        caption="Scores",
    )


def categories_bars(tree: pd.DataFrame | None) -> str:
    """The slice's misattribution categories (:meth:`Explorer.overview`'s ``category_tree``): each primary
    category (dark, its rows in total) followed by its secondary categories (light), largest first."""
    if tree is None or not int(tree["rows"].sum()):
        return ""
    tree = tree[tree["rows"] > 0]
    totals = tree.groupby(["primary", "primary_name"], sort=False)["rows"].sum().sort_values(ascending=False)
    labels, rows, colours = [], [], []
    for (primary, name), total in totals.items():
        labels.append(str(name))
        rows.append(int(total))
        colours.append("#4f46e5")
        under = tree[tree["primary"] == primary].sort_values("rows", ascending=False, kind="stable")
        labels += [f"{name} → {category}" for category in under["category_name"]]
        rows += [int(v) for v in under["rows"]]
        colours += ["#a5b4fc"] * len(under)
    return bars_html(labels, [("rows", rows, colours)], title="rows", caption="Misattribution: primary → secondary")


def compare_bars(compared: pd.DataFrame, top: int = 30) -> str:
    """The full report against the filtered rows: each issue's share in both, as HTML bars (largest first)."""
    if compared.empty:
        return ""
    shown = compared.head(top)
    return bars_html(
        shown["name"],
        [
            ("full report", 100 * shown["share_full"], "#94a3b8"),
            ("filtered", 100 * shown["share_filtered"], "#4f46e5"),
        ],
        title="% of rows",
        unit="%",
    )


def systems_bars(table: pd.DataFrame, top: int = 30) -> str:
    """System A minus system B per issue, in points, with its 95% interval; significant ones in orange."""
    if table.empty:
        return ""
    shown = table.head(top)
    colours = ["#d97706" if s else "#cbd5e1" for s in shown["significant"]]
    return bars_html(
        shown["name"],
        [("difference", 100 * shown["difference"], colours)],
        low=100 * shown["ci_low"],
        high=100 * shown["ci_high"],
        title=f"share {table.attrs['system_a']} − share {table.attrs['system_b']} (points)",
    )


# -- figures (plotly) ---------------------------------------------------------------------------------


def layout(figure: Any, height: int = 360) -> Any:
    """The figure with the Space's size, margins and the ``plotly_white`` template.

    The same figure as ``figure.update_layout(height=..., margin=..., template="plotly_white")`` (a test
    compares their JSON), without plotly validating and deep-copying the template on every call: that took
    40-60 ms of each chart, most of a filter change on the Overview tab.
    """
    import plotly.graph_objects as go

    settings = {"height": height, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "template": _white_template()}
    return go.Figure(data=figure.data, layout={**figure.layout.to_plotly_json(), **settings}, _validate=False)


def _white_template() -> dict[str, Any]:
    global _WHITE
    if _WHITE is None:
        import plotly.io as pio

        _WHITE = pio.templates["plotly_white"].to_plotly_json()
    return _WHITE


_WHITE: dict[str, Any] | None = None


def tree_figure(tree: pd.DataFrame, *, color: str = "mean_score", max_label: int = 40) -> Any:
    """A sunburst of the issue tree: each issue's sector sized by its rows, coloured by ``color``.

    ``color`` is ``"mean_score"`` (red = low) or ``"impact"`` (red = high). A category's sector is the
    sum of its issues' (a row with two issues counts in both); its hover text gives its own rows.
    ``None`` without category nodes (a flat list of issues) or without a row in the slice.
    """
    if tree is None or tree.empty or (tree["level"] == "issue").all():
        return None
    import plotly.graph_objects as go

    shown = tree[tree["count"] > 0]
    value = {}
    for k in range(len(shown) - 1, -1, -1):  # depth first: children come after their parent
        node_id, level, count = shown["id"].iloc[k], shown["level"].iloc[k], shown["count"].iloc[k]
        value[node_id] = value.get(node_id, 0) + (int(count) if level == "issue" else 0)
        parent = shown["parent"].iloc[k]
        if parent is not None and not pd.isna(parent):
            value[parent] = value.get(parent, 0) + value[node_id]
    shown = shown[[value.get(i, 0) > 0 for i in shown["id"]]]
    if shown.empty:
        return None
    known = set(shown["id"])
    labels = [n if len(n) <= max_label else n[: max_label - 1] + "…" for n in shown["name"].astype(str)]
    scale = "RdYlGn" if color == "mean_score" else "YlOrRd"
    figure = go.Figure(
        go.Sunburst(
            ids=shown["id"],
            labels=labels,
            parents=[p if p in known else "" for p in shown["parent"]],
            values=[value[i] for i in shown["id"]],
            branchvalues="total",
            customdata=list(
                zip(
                    shown["name"].astype(str),
                    shown["count"],
                    100 * shown["share"],
                    shown["mean_score"],
                    shown["impact"],
                )
            ),
            hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]:,} rows (%{customdata[2]:.1f}%)"
            "<br>mean score %{customdata[3]:.2f} · impact %{customdata[4]:.4f}<extra></extra>",
            marker={
                "colors": shown[color],
                "colorscale": scale,
                "cmin": 0,
                "cmax": 1 if color == "mean_score" else max(float(shown[color].max()), 1e-9),
                "colorbar": {"title": {"text": color.replace("_", " ")}, "thickness": 12},
            },
            insidetextorientation="auto",
            maxdepth=3,
        )
    )
    figure.update_layout(uniformtext={"minsize": 10, "mode": "hide"})  # no unreadable slivers of text
    return layout(figure, height=460)


def issues_figure(table: pd.DataFrame, top: int = 30) -> Any:
    if table.empty:
        return None
    import plotly.graph_objects as go

    # Sorted by what the bars show (the table is in impact order), largest at the top.
    shown = table.sort_values("share", ascending=False, kind="stable").head(top).iloc[::-1]
    figure = go.Figure(
        go.Bar(
            y=shown["name"],
            x=100 * shown["share"],
            orientation="h",
            marker_color="#4f46e5",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": 100 * (shown["share_ci_high"] - shown["share"]).fillna(0),
                "arrayminus": 100 * (shown["share"] - shown["share_ci_low"]).fillna(0),
            },
        )
    )
    figure.update_xaxes(title="% of filtered rows")
    return layout(figure, height=max(300, 26 * len(shown) + 80))


def agreement_figure(points: pd.DataFrame) -> Any:
    if points.empty:
        return None
    import plotly.graph_objects as go

    size = 12 + 40 * (points["rows"] / points["rows"].max()) ** 0.5
    figure = go.Figure(
        go.Scatter(
            x=points["human_score"],
            y=points["score"],
            mode="markers+text",
            text=points["rows"],
            textposition="middle center",
            marker={"size": size, "color": "#4f46e5", "opacity": 0.6},
        )
    )
    figure.update_xaxes(title="human score")
    figure.update_yaxes(title="judge score")
    return layout(figure)


#: The style of every HTML block above (the issue tree and table, marked texts, tables, bars): the app puts it in
#: the page's stylesheet once.
PAGE_CSS = _TREE_CSS + _ISSUES_CSS + _MARK_CSS + TABLE_CSS + BARS_CSS
