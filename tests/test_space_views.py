"""The Space's text, tables and figures: pure functions, checked without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from misattribution import space_views
from misattribution.explore import Filters
from misattribution.space import render
from misattribution.space.views import ViewContext, get_view, register_view, registered_views
from misattribution.space.views._base import _VIEWS

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


def test_the_bar_chart_is_in_the_order_of_the_share_it_plots():
    # impact order (the table's) differs from share order: the bars follow the share.
    table = TABLE.assign(share=[0.05, 0.3], share_ci_low=[0.02, 0.2], share_ci_high=[0.09, 0.4])
    bar = space_views.issues_figure(table).data[0]
    assert list(bar.y) == ["Miscalculates the *total*", "Truncated"]  # plotly draws the last one on top
    assert list(bar.x) == pytest.approx([5.0, 30.0])


# -- the issues table, highlighted texts, an upload's problems -----------------------------------------


def test_issues_html_has_fixed_number_columns_a_share_bar_and_the_no_issue_row():
    explorer = tree_explorer(tree=False)
    table = explorer.issue_table(n_resamples=200)
    uncovered = explorer.uncovered()
    shown = render.issues_html(table, uncovered, selected=["stops"])
    # failing rows r4 (score 2) and r9 (score 2) carry no issue: 2 of 10 rows, 2 of 7 failing.
    assert uncovered["count"] == 2 and uncovered["share"] == pytest.approx(0.2)
    assert uncovered["failing_share"] == pytest.approx(2 / 7) and uncovered["mean_score"] == pytest.approx(2 / 3)
    no_issue = _row_of(shown + "</button>", "no-issue")
    assert "No issue" in no_issue and ">2<" in no_issue and "20.0%" in no_issue and "28.6%" in no_issue
    assert shown.index('data-id="cut"') < shown.index('data-id="no-issue"')  # last
    assert "Cut &lt;b&gt;off&lt;/b&gt; &amp; short" in shown and "<b>off</b>" not in shown
    assert 'data-issue="stops"' in shown and "✕ filtered" in _row_of(shown, "stops")
    assert "minmax(12.6rem, 1fr) 4.05rem" in shown  # the name takes the rest; numbers have fixed widths (rem)
    assert 'class="mi-bar" style="width:' in shown and "[" in shown  # bar and interval
    assert render.issues_html(table.iloc[:0], {"count": 0}) == ""


def test_highlight_html_flows_as_text_and_escapes():
    shown = render.highlight_html([("Total: ", None), ("$130,000 <b>", "Wrong total"), (" EXPLANATION", None)])
    assert "$130,000 &lt;b&gt;</mark>" in shown and "<b>" not in shown and "<style>" not in shown
    assert 'title="Wrong total"' in shown and shown.startswith('<div class="mhl">')
    # Its style is in the page's stylesheet once (render.PAGE_CSS), not in each update.
    assert "white-space: pre-wrap" in render.PAGE_CSS and "word-break: normal" in render.PAGE_CSS
    assert render.highlight_html([], empty="(no feedback)") == '<p class="mhl-empty">(no feedback)</p>'


def test_report_summary_reads_the_stored_summary():
    assert (
        render.report_summary({"summary": {"text": " Main problem: X. ", "source": "template"}}) == "Main problem: X."
    )
    assert render.report_summary({"summary": "plain"}) == "plain"
    assert render.report_summary({}) == "" and render.report_summary({"summary": {"facts": {}}}) == ""


def test_problems_frame_reads_row_id_and_field():
    frame = render.problems_frame(
        ["a.zip:results.csv: row 338 (id 'q338'), field 'score': no score: the CLEAR score is missing", "odd"]
    )
    assert frame.iloc[0].tolist()[1:] == ["q338", "score", "no score: the CLEAR score is missing"]
    assert int(frame.iloc[0]["row"]) == 338 and frame.iloc[1]["problem"] == "odd"


# -- the view registry ----------------------------------------------------------------------------------


def _layouts() -> dict[str, dict]:
    import gradio as gr

    built = {}
    with gr.Blocks():
        for view in registered_views():
            built[view.name] = view.layout(gr)
    return built


def test_the_built_in_views_are_registered_by_name_in_tab_order():
    names = [v.name for v in registered_views()]
    assert names == ["issues", "charts", "overview", "comparison", "runs", "instances", "agreement", "edit", "export"]
    assert get_view("issues").tab == "Issues"
    with pytest.raises(KeyError, match="no view 'nope'; views: issues, charts"):
        get_view("nope")


@pytest.mark.parametrize("ready", [False, True])
def test_every_view_updates_only_its_own_components_by_name(ready):
    layouts = _layouts()
    names = [n for built in layouts.values() for n in built]
    assert len(names) == len(set(names)), "component names are unique across views"
    explorer = tree_explorer()
    for view in registered_views():
        values = {"system_a": "a", "system_b": "b", "page": 0}
        ctx = ViewContext(explorer if ready else None, Filters(), values)
        updated = view.update(ctx)
        assert set(updated) <= set(layouts[view.name]), view.name
        # The blank update names everything the view ever updates (the app's outputs come from it).
        assert set(updated) <= set(view.update(ViewContext(None))), view.name


def test_views_say_what_is_missing_in_one_line_instead_of_empty_tables():
    blank = {v.name: v.update(ViewContext(None)) for v in registered_views()}
    assert blank["overview"]["overview_stats"] == "Load a report first (Load tab)."
    assert blank["comparison"]["compare_table"]["visible"] is False
    assert blank["charts"]["issues_chart"]["visible"] is False
    explorer = tree_explorer()
    nothing = ViewContext(explorer, Filters(text="no such text"))
    assert get_view("overview").update(nothing)["overview_stats"] == "No rows match the filters."
    assert get_view("instances").update(nothing)["instances_table"]["visible"] is False
    bad = ViewContext(explorer, Filters(all_issues=("gone",)))
    assert not bad.ready and "gone" in get_view("issues").update(bad)["issues_note"]


def test_the_issues_view_shows_the_summary_when_the_report_has_one():
    explorer = tree_explorer()
    shown = get_view("issues").update(ViewContext(explorer))
    assert shown["summary"]["visible"] is False and 'data-id="no-issue"' in shown["issues_table"]["value"]
    explorer.report.meta["summary"] = {"text": "Main problem: **Cut off** in 30% of the rows."}
    shown = get_view("issues").update(ViewContext(explorer))
    assert shown["summary"] == {"__type__": "update", "value": "Main problem: **Cut off** in 30% of the rows.", "visible": True}  # fmt: skip


def test_a_new_view_is_one_registered_function(tmp_path):
    """What the "edit issues" view will do: register, and the app lays it out and updates it."""
    from misattribution.space.app import build_app

    def layout(gr):
        return {"edits_note": gr.Markdown("", elem_id="edits-note")}

    @register_view("edits", tab="Edit issues", order=70, layout=layout)
    def edits(ctx: ViewContext) -> dict:
        return {"edits_note": f"{len(ctx.explorer.issue_ids)} issues" if ctx.ready else ctx.message}

    try:
        assert [v.name for v in registered_views()][-3:] == ["edits", "edit", "export"]
        app = build_app(tree_explorer().report)
        config = app.get_config_file()
        ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
        assert {"edits-note", "tab-edits"} <= ids
        assert edits(ViewContext(tree_explorer())) == {"edits_note": "3 issues"}
        with pytest.raises(ValueError, match="already registered"):
            register_view("edits", tab="x", layout=layout)(lambda ctx: {})
    finally:
        _VIEWS.pop("edits", None)


def test_a_served_report_opens_on_the_issues_tab_with_its_issues_in_the_page():
    from misattribution.space.app import build_app

    explorer = tree_explorer()
    explorer.report.meta["summary"] = {"text": "Main problem: Cut off."}
    config = build_app(explorer.report).get_config_file()
    props = {c["props"].get("elem_id"): c["props"] for c in config["components"] if "props" in c}
    assert props["views"]["selected"] == "issues"
    assert 'data-id="no-issue"' in props["issues-table"]["value"] and props["issues-table"]["visible"]
    assert props["summary"]["value"] == "Main problem: Cut off." and props["summary"]["visible"]
    assert props["filter-score-min"]["value"] == ""  # an empty bound, not a 0
    assert build_app(None).get_config_file()["components"]  # an empty server opens on the Load tab
    empty = {c["props"].get("elem_id"): c["props"] for c in build_app(None).get_config_file()["components"]}
    assert empty["views"]["selected"] == "load"


def test_filter_bounds_that_are_not_numbers_are_a_filter_error():
    from misattribution.space.app import _filters

    assert _filters([], [], [], "score", " ", "2", [], [], "", False).score_max == 2.0
    with pytest.raises(ValueError, match="min 'abc' is not a number"):
        _filters([], [], [], "score", "abc", "", [], [], "", False)


def test_an_uploads_problems_are_listed_with_their_rows_and_all_of_them_downloadable():
    from misattribution.space.app import SHOWN_PROBLEMS, _problem_updates

    problems = [f"big.zip:results.csv: row {i} (id 'q{i}'), field 'score': no score" for i in range(1, 77)]
    shown, download = _problem_updates(problems)
    assert shown["visible"] and len(shown["value"]) == SHOWN_PROBLEMS and "first 20 of 76" in shown["label"]
    assert shown["value"].iloc[0].tolist()[1:] == ["q1", "score", "no score"]
    listed = pd.read_csv(download["value"])
    assert len(listed) == 76 and listed["row"].tolist() == list(range(1, 77))
    assert [u["visible"] for u in _problem_updates([])] == [False, False]


def test_a_chart_is_the_figure_plotly_would_lay_out_itself():
    """render.layout skips plotly's validation of the template (40-60 ms a chart): the JSON must not change."""
    import json

    import plotly.graph_objects as go

    def bars():
        figure = go.Figure(go.Bar(x=np.array([5.0, 30.0]), y=["a", "b"], orientation="h"))
        figure.update_xaxes(title="share (%)")
        return figure

    expected = bars().update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, template="plotly_white")
    shown = render.layout(bars(), height=300)
    assert json.loads(shown.to_json()) == json.loads(expected.to_json())
    assert list(shown.data[0].x) == [5.0, 30.0]


def test_issue_rows_show_the_bundles_reliability_precision_recall_and_stability(tmp_path):
    """Human labels (real assignment_quality, Wilson intervals) and a seed-stability result stored in the
    bundle reach each issue's row of the Issues tab; an issue without labels says "not measured"."""
    from misattribution.discovery.reliability import STABILITY_COLUMNS, assignment_quality, store_reliability
    from misattribution.discovery.report import IssueReport
    from misattribution.explore import Explorer
    from misattribution.stats import wilson_interval

    report = tree_explorer().report
    plain = get_view("issues").update(ViewContext(Explorer(report)))["issues_table"]["value"]
    assert "reliability" not in plain  # no column when the bundle measured nothing

    # "cut" is assigned to r0 r1 r2: labelled 1, 1, 0 (one false positive) plus r3 labelled 1 (missed).
    labels = pd.DataFrame({"row_id": ["r0", "r1", "r2", "r3"], "cut": [1, 1, 0, 1]})
    quality = assignment_quality(report, labels)
    stability = pd.DataFrame(
        [("cut", "cut", 0.75, 2, 3, [1.0, 0.5]), ("stops", "stops", 1.0, 3, 3, [1.0, 1.0])],
        columns=list(STABILITY_COLUMNS),
    )
    stability.attrs["seeds"] = [0, 1, 2]
    store_reliability(report, quality=quality, stability=stability, labels_source="labels.csv")
    loaded = IssueReport.load(report.save(tmp_path / "bundle"))  # the bundle round-trips it

    shown = get_view("issues").update(ViewContext(Explorer(loaded)))["issues_table"]["value"]
    cut, stops, odd = _row_of(shown, "cut"), _row_of(shown, "stops"), _row_of(shown, "odd")
    low, high = wilson_interval(2, 3, 0.95)
    assert f"precision 0.67<small>[{low:.2f}, {high:.2f}]</small>" in cut
    assert "recall 0.67" in cut and "4 labelled" in cut
    assert "stability 0.75<small>found by 2/3 seeds</small>" in cut
    assert "labelled" not in stops and "stability 1.00<small>found by 3/3 seeds</small>" in stops
    assert "not measured" in odd
    assert "reliability<br>(95% CI)" in shown
