"""The Overview tab: the slice's headline numbers, its score histogram and its misattribution categories, both
as HTML bars (:func:`~misattribution.space.render.bars_html`): no plotly, whose 4.6 MB bundle, parsed on the
first chart, held the browser for a second after this tab was first opened."""

from __future__ import annotations

from typing import Any

from misattribution.space import render
from misattribution.space.views._base import ViewContext, html, register_view


def _layout(gr: Any) -> dict[str, Any]:
    overview_stats = gr.Markdown("", elem_id="overview-stats")
    with gr.Row():
        histogram = gr.HTML("", label="Scores", show_label=True, visible=False, elem_id="overview-histogram")
        treemap = gr.HTML(
            "",
            label="Misattribution: primary → secondary",
            show_label=True,
            visible=False,
            elem_id="overview-categories",
        )
    return {"overview_stats": overview_stats, "histogram": histogram, "treemap": treemap}


@register_view("overview", tab="Overview", order=30, layout=_layout)
def overview(ctx: ViewContext) -> dict[str, Any]:
    if not ctx.ready:
        return {"overview_stats": ctx.message, "histogram": html(""), "treemap": html("")}
    explorer, mask = ctx.explorer, ctx.mask
    shown = explorer.overview(mask)
    if not shown.rows:
        return {"overview_stats": "No rows match the filters.", "histogram": html(""), "treemap": html("")}
    return {
        "overview_stats": render.overview_text(explorer, shown, len(explorer.issue_ids)),
        "histogram": html(render.histogram_bars(shown.score_histogram)),
        "treemap": html(render.categories_bars(shown.category_tree)),
    }
