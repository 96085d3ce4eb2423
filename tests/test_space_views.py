"""The Space's text, tables and figures: pure functions, checked without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from misattribution import space_views
from misattribution.explore import Filters

TABLE = pd.DataFrame(
    {
        "issue_id": ["cluster-a", "rule-b"],
        "name": ["Miscalculates the *total*", "Truncated"],
        "count": [30, 5],
        "share": [0.3, 0.05],
        "share_ci_low": [0.21, np.nan],
        "share_ci_high": [0.39, np.nan],
        "mean_score": [0.4, np.nan],
        "impact": [0.18, 0.01],
        "impact_ci_low": [0.12, 0.0],
        "impact_ci_high": [0.24, 0.02],
        "provenance": ["cluster", "rule:truncation"],
    }
)


def test_user_text_is_markdown_inert():
    escaped = space_views.escape_markdown("[click](http://x) <b>*bold*</b> `code`")
    assert escaped == r"\[click\]\(http://x\) \<b\>\*bold\*\</b\> \`code\`"


def test_issues_display_formats_shares_intervals_and_missing_values():
    shown = space_views.issues_display(TABLE)
    assert shown.columns.tolist()[:3] == ["issue", "rows", "share"]
    assert shown.loc[0, "share"] == "30.0%" and shown.loc[0, "share 95% CI (%)"] == "[21.0, 39.0]"
    assert shown.loc[1, "share 95% CI (%)"] == "—" and shown.loc[1, "mean score"] == "—"
    assert shown.loc[0, "impact 95% CI"] == "[0.1200, 0.2400]" and shown.loc[1, "source"] == "rule:truncation"


def test_issues_figure_draws_the_shares_with_asymmetric_intervals():
    figure = space_views.issues_figure(TABLE)
    bar = figure.data[0]
    assert list(bar.y) == ["Truncated", "Miscalculates the *total*"]  # largest at the top
    assert list(bar.x) == pytest.approx([5.0, 30.0])
    assert list(bar.error_x.array) == pytest.approx([0.0, 9.0]) and list(bar.error_x.arrayminus) == pytest.approx(
        [0, 9]
    )
    assert space_views.issues_figure(TABLE.iloc[:0]) is None


# -- the issue tree -----------------------------------------------------------------------------------


def tree_explorer(systems: tuple[str, ...] = ("a", "b"), *, tree: bool = True):
    """Ten rows, three issues: two under Truncation (Response Quality), one unattributed; a hostile name."""
    from misattribution.discovery.report import Issue, IssueReport
    from misattribution.discovery.tree import TreeNode
    from misattribution.explore import Explorer

    rows = pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(10)],
            "score": [0, 1, 0, 3, 2, 0, 1, 3, 3, 2],
            "score_norm": np.array([0, 1, 0, 3, 2, 0, 1, 3, 3, 2]) / 3,
            "failing": [True, True, True, False, True, True, True, False, False, True],
            "system": [systems[i % len(systems)] for i in range(10)],
        }
    )
    members = {"cut": ["r0", "r1", "r2"], "stops": ["r2", "r5"], "odd": ["r6"]}
    parents = {"cut": "category:truncation", "stops": "category:truncation", "odd": "unattributed"}
    names = {"cut": "Cut <b>off</b> & short", "stops": "Stops early", "odd": "Odd"}
    issues = [Issue(i, names[i], parent=parents[i] if tree else None) for i in members]
    assignments = pd.DataFrame(
        [(r, i, "") for i, rs in members.items() for r in rs], columns=["row_id", "issue_id", "evidence"]
    )
    nodes = [
        TreeNode("category:quality", "Response Quality", "primary"),
        TreeNode("category:truncation", "Truncation", "secondary", "category:quality"),
        TreeNode("unattributed", "Unattributed", "unattributed"),
    ]
    return Explorer(IssueReport(rows, issues, assignments, nodes=nodes if tree else []))


def _row_of(html_text: str, node_id: str) -> str:
    """The markup of one node's own row (up to its filter button)."""
    start = html_text.rfind("<", 0, html_text.index(f'data-id="{node_id}"'))
    return html_text[start : html_text.index("</button>", start)]


def test_tree_html_nests_the_nodes_folds_below_the_top_and_escapes_names():
    explorer = tree_explorer()
    tree, per_system = explorer.tree_table(n_resamples=200), explorer.tree_per_system()
    shown = space_views.tree_html(tree, per_system)
    # primary > secondary > issues, as nested <details>; top level open, the secondary folded.
    assert '<details open data-id="category:quality">' in shown
    assert '<details data-id="category:truncation">' in shown
    assert shown.index('data-id="category:truncation"') < shown.index('data-id="cut"') < shown.index("</details>")
    assert "Cut &lt;b&gt;off&lt;/b&gt; &amp; short" in shown and "<b>off</b>" not in shown
    # Truncation holds 4 rows (r2 has both issues, counted once) of 10; 4 of its 7 failing rows.
    truncation = _row_of(shown, "category:truncation")
    assert ">4<" in truncation and ">40.0%<" in truncation and ">57.1%<" in truncation and "2 issues" in truncation
    # Per-system shares: system a has rows r0 r2 r4 r6 r8, two of them under Truncation.
    assert "a<br>share" in shown and "b<br>share" in shown and ">40.0%<" in _row_of(shown, "category:quality")
    impact = tree.set_index("id").loc["category:truncation"]
    assert f"{impact['impact']:.4f}<small>{impact['impact_ci_low']:.4f}–{impact['impact_ci_high']:.4f}" in truncation
    assert 'data-node="category:truncation"' in truncation


def test_tree_html_opens_and_marks_the_filtered_node_and_dims_empty_ones():
    explorer = tree_explorer()
    filters = Filters(nodes=("stops",))
    shown = space_views.tree_html(explorer.tree_table(filters, n_resamples=0), None, selected=["stops"])
    assert '<details open data-id="category:truncation">' in shown  # the path to the selection is open
    assert "mt-selected" in _row_of(shown, "stops") and "✕ filtered" in _row_of(shown, "stops")
    assert "mt-empty" in _row_of(shown, "odd") and "mt-empty" not in _row_of(shown, "cut")
    assert "<br>share<" not in shown  # no per-system columns without per-system shares


def test_tree_html_of_a_report_without_a_tree_is_the_flat_list():
    explorer = tree_explorer(("a",), tree=False)
    shown = space_views.tree_html(explorer.tree_table(n_resamples=0), explorer.tree_per_system())
    assert "<details" not in shown and shown.count('class="mt-row mt-issue mt-leaf') == 3
    assert "<br>share<" not in shown  # one system: no per-system column
    assert space_views.tree_html(explorer.tree_table(n_resamples=0).iloc[:0]) == ""


def test_tree_figure_sizes_issues_by_rows_and_colours_by_score():
    explorer = tree_explorer()
    tree = explorer.tree_table(n_resamples=0)
    figure = space_views.tree_figure(tree)
    sunburst = figure.data[0]
    values = dict(zip(sunburst.ids, sunburst.values))
    assert values == {
        "category:quality": 5,
        "category:truncation": 5,
        "cut": 3,
        "stops": 2,
        "unattributed": 1,
        "odd": 1,
    }
    parents = dict(zip(sunburst.ids, sunburst.parents))
    assert parents["cut"] == "category:truncation" and parents["category:quality"] == ""
    colours = dict(zip(sunburst.ids, sunburst.marker.colors))
    assert colours["cut"] == pytest.approx(tree.set_index("id").loc["cut", "mean_score"])
    by_impact = space_views.tree_figure(tree, color="impact").data[0]
    assert (
        list(by_impact.marker.colors) == list(tree["impact"])
        and by_impact.marker.colorscale[0][1] != sunburst.marker.colorscale[0][1]
    )


def test_tree_figure_is_none_without_categories_or_rows():
    flat = tree_explorer(tree=False)
    assert space_views.tree_figure(flat.tree_table(n_resamples=0)) is None
    explorer = tree_explorer()
    nothing = explorer.tree_table(np.zeros(10, dtype=bool), n_resamples=0)
    assert space_views.tree_figure(nothing) is None
    one_branch = explorer.tree_table(explorer.node_mask("odd"), n_resamples=0)
    assert list(space_views.tree_figure(one_branch).data[0].ids) == ["unattributed", "odd"]


def test_node_choices_name_the_parent():
    explorer = tree_explorer()
    choices = dict((node, label) for label, node in space_views.node_choices(explorer.tree_table(n_resamples=0)))
    assert choices["category:quality"] == "Response Quality (4)"
    assert choices["category:truncation"] == "Response Quality › Truncation (4)"
    assert choices["stops"] == "Truncation › Stops early (2)"
