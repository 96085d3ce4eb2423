"""The Overview tab: the slice's headline numbers, its score histogram and its misattribution categories."""

from __future__ import annotations

from typing import Any

from misattribution.space import render
from misattribution.space.views._base import ViewContext, plot, register_view


def _layout(gr: Any) -> dict[str, Any]:
    overview_stats = gr.Markdown("", elem_id="overview-stats")
    with gr.Row():
        histogram = gr.Plot(label="Scores", visible=False, elem_id="overview-histogram")
        treemap = gr.Plot(label="Misattribution: primary → secondary", visible=False, elem_id="overview-categories")
    return {"overview_stats": overview_stats, "histogram": histogram, "treemap": treemap}


@register_view("overview", tab="Overview", order=30, layout=_layout)
def overview(ctx: ViewContext) -> dict[str, Any]:
    if not ctx.ready:
        return {"overview_stats": ctx.message, "histogram": plot(None), "treemap": plot(None)}
    explorer, mask = ctx.explorer, ctx.mask
    shown = explorer.overview(mask)
    if not shown.rows:
        return {"overview_stats": "No rows match the filters.", "histogram": plot(None), "treemap": plot(None)}
    histogram = render.histogram_figure(shown.score_histogram) if len(shown.score_histogram) else None
    return {
        "overview_stats": render.overview_text(explorer, shown, len(explorer.issue_ids)),
        "histogram": plot(histogram),
        "treemap": plot(render.treemap_figure(shown.category_tree)),
    }
