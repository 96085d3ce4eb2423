"""The Charts tab: the issues' shares as bars (in the order of the share they plot) and the issue tree as a
sunburst. The only tab of the first screen's data that needs plotly, so the browser fetches its chart
bundle only when someone opens it."""

from __future__ import annotations

from typing import Any

from misattribution.space import render
from misattribution.space.views._base import ViewContext, plot, register_view


def _layout(gr: Any) -> dict[str, Any]:
    return {
        "charts_note": gr.Markdown("", elem_id="charts-note"),
        "issues_chart": gr.Plot(
            label="Share of rows with each issue (95% interval), largest first",
            visible=False,
            elem_id="issues-chart",
        ),
        "tree_chart": gr.Plot(
            label="Issue tree: issues sized by rows, coloured by mean score (click to zoom)",
            visible=False,
            elem_id="issue-tree-chart",
        ),
    }


@register_view("charts", tab="Charts", order=20, layout=_layout)
def charts(ctx: ViewContext) -> dict[str, Any]:
    if not ctx.ready:
        return {"charts_note": ctx.message, "issues_chart": plot(None), "tree_chart": plot(None)}
    explorer, mask = ctx.explorer, ctx.mask
    table = explorer.issue_table(mask, n_resamples=1000)
    figure = render.issues_figure(table[table["count"] > 0]) if int(mask.sum()) else None
    tree = render.tree_figure(explorer.tree_table(mask)) if explorer.has_tree and int(mask.sum()) else None
    note = "" if figure is not None else "No issue has a row among the filtered rows: nothing to draw."
    return {"charts_note": note, "issues_chart": plot(figure), "tree_chart": plot(tree)}
