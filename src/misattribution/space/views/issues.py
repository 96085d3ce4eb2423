"""The Issues tab, the page's first screen: the report's summary, the issue tree and the issues table
(with each issue's reliability when the bundle holds it: precision / recall against human labels, stability
over seeds).

No chart here (they live in the Charts tab), so the first screen needs no plotting library. A click on an
issue's or a node's *filter* button becomes a filter of every view.
"""

# No `from __future__ import annotations`: Gradio finds gr.SelectData by the annotation's class.
from typing import Any

from misattribution.space import render
from misattribution.space.views._base import ViewContext, Wiring, html, register_view

# A click on a "filter" button becomes a select event carrying the issue or node id (preventDefault: a
# button inside <summary> must not also fold the node). The nodes a visitor unfolds or folds stay so
# when the tree is redrawn for a new filter.
CLICKS = """
if (!element.dataset.clicks) {
  element.dataset.clicks = "1";
  const folded = new Map();
  element.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-node], button[data-issue]");
    if (button) {
      event.preventDefault();
      trigger("select", {index: 0, value: button.dataset.node || button.dataset.issue});
      return;
    }
    const summary = event.target.closest("summary");
    if (summary && summary.parentElement.dataset.id) {
      folded.set(summary.parentElement.dataset.id, summary.parentElement.open);  // open before the toggle
    }
  });
  watch("value", () => {
    for (const [id, wasOpen] of folded) {
      const node = element.querySelector(`details[data-id="${CSS.escape(id)}"]`);
      if (node) node.open = !wasOpen;
    }
  });
}
"""
#: The ``data-issue`` of the no-issue row's filter button.
NO_ISSUE = "no-issue"
TREE_CAPTION = (
    '<p style="margin: 0 0 0.4em">Issue tree: click ▸ to unfold a category; <b>filter</b> keeps only the rows '
    "under a node, in every view (click again to remove it).</p>${value}"
)


def _layout(gr: Any) -> dict[str, Any]:
    return {
        "summary": gr.Markdown("", visible=False, elem_id="summary"),
        "issues_note": gr.Markdown("", elem_id="issues-note"),
        "tree_view": gr.HTML("", html_template=TREE_CAPTION, js_on_load=CLICKS, visible=False, elem_id="issue-tree"),
        "issues_table": gr.HTML(
            "", html_template=render.ISSUES_CAPTION, js_on_load=CLICKS, visible=False, elem_id="issues-table"
        ),
    }


def _toggle(selected: list[str] | None, value: Any, known: list[str]) -> list[str]:
    """A click on an item adds it to a filter, or removes it when it is already there."""
    selected = list(selected or [])
    if value not in known:
        return selected
    return [s for s in selected if s != value] if value in selected else [*selected, value]


def _wire(wiring: Wiring) -> None:
    import gradio as gr

    def issue_clicked(key, selected, excluded, failing_only, event: gr.SelectData):
        explorer = wiring.explorer(key)
        if explorer is not None and event.value == NO_ISSUE:
            # The failing rows no issue explains: what discovery left out, to read in every view.
            return selected, list(explorer.issue_ids), True
        return _toggle(selected, event.value, explorer.issue_ids if explorer else []), excluded, failing_only

    def node_clicked(key, selected, event: gr.SelectData):
        explorer = wiring.explorer(key)
        return _toggle(selected, event.value, explorer.tree_nodes["id"].tolist() if explorer else [])

    key, all_issues, nodes = wiring["key"], wiring["all_issues"], wiring["nodes"]
    clicked = [all_issues, wiring["none_issues"], wiring["failing_only"]]
    wiring["issues_table"].select(issue_clicked, [key, *clicked], clicked).then(**wiring.refresh)
    wiring["tree_view"].select(node_clicked, [key, nodes], [nodes]).then(**wiring.refresh)


def _reliability(explorer: Any) -> Any:
    """The report's per-issue reliability (``meta["reliability"]``, written by ``misattribution reliability``),
    or ``None`` when the bundle holds none."""
    if not explorer.report.meta.get("reliability"):
        return None
    from misattribution.discovery.reliability import reliability_table

    return reliability_table(explorer.report)


@register_view("issues", tab="Issues", order=10, layout=_layout, wire=_wire)
def issues(ctx: ViewContext) -> dict[str, Any]:
    """The summary (when the report carries one), the issue tree (when it has one) and the issues table
    with a last row for the failing rows no issue explains."""
    if not ctx.ready:
        return {"summary": html(""), "issues_note": ctx.message, "tree_view": html(""), "issues_table": html("")}
    explorer, mask = ctx.explorer, ctx.mask
    summary = render.report_summary(explorer.report.meta)
    table = explorer.issue_table(mask)
    uncovered = explorer.uncovered(mask)
    shown = render.issues_html(table, uncovered, selected=ctx.filters.all_issues, reliability=_reliability(explorer))
    if not explorer.issue_ids:
        note = "This report has no issues: nothing recurs in its failing rows."
    elif not int(mask.sum()):
        note = "No rows match the filters."
    else:
        note = ""
    tree = ""
    if explorer.has_tree:
        per_system = explorer.tree_per_system(mask) if len(explorer.systems) > 1 else None
        tree = render.tree_html(explorer.tree_table(mask), per_system, selected=ctx.filters.nodes)
    return {
        "summary": html(summary),
        "issues_note": note,
        "tree_view": html(tree),
        "issues_table": html(shown if explorer.issue_ids else ""),
    }
