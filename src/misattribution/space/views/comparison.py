"""The Comparison tab: the full report against the filtered rows, and system A against system B.

Its charts and tables are HTML (:func:`~misattribution.space.render.bars_html`, :func:`~misattribution.space.
render.table_html`): plotly and Gradio's Dataframe made this tab the slowest to update in the browser."""

from __future__ import annotations

from typing import Any

from misattribution.space import render
from misattribution.space.views._base import ViewContext, Wiring, html, register_view


def _layout(gr: Any) -> dict[str, Any]:
    gr.Markdown("### Full report vs the filtered rows")
    compare_note = gr.Markdown("", elem_id="compare-filtered-note")
    compare_chart = gr.HTML("", visible=False, elem_id="compare-filtered-chart")
    compare_table = gr.HTML("", visible=False, elem_id="compare-filtered")
    gr.Markdown("### System A vs system B (on the filtered rows)")
    with gr.Row():
        system_a = gr.Dropdown([], label="system A", elem_id="system-a")
        system_b = gr.Dropdown([], label="system B", elem_id="system-b")
    systems_note = gr.Markdown("", elem_id="compare-systems-note")
    systems_table = gr.HTML("", visible=False, elem_id="compare-systems")
    systems_chart = gr.HTML("", visible=False, elem_id="compare-systems-chart")
    return {
        "compare_note": compare_note,
        "compare_chart": compare_chart,
        "compare_table": compare_table,
        "system_a": system_a,
        "system_b": system_b,
        "systems_note": systems_note,
        "systems_table": systems_table,
        "systems_chart": systems_chart,
    }


def _wire(wiring: Wiring) -> None:
    for name in ("system_a", "system_b"):
        wiring.rerun("comparison", wiring[name].change)


def _systems(ctx: ViewContext) -> dict[str, Any]:
    explorer = ctx.explorer
    a, b = ctx.values.get("system_a"), ctx.values.get("system_b")
    nothing = {"systems_table": html(""), "systems_chart": html("")}
    if len(explorer.systems) < 2:
        only = render.escape_markdown(explorer.systems[0]) if explorer.systems else "—"
        return {"systems_note": f"Only one system in this report ({only}).", **nothing}
    if not a or not b or a == b:
        return {"systems_note": "Choose two different systems.", **nothing}
    compared = explorer.compare_systems(a, b, ctx.mask)
    flagged = int(compared["significant"].sum())
    note = (
        f"**{render.escape_markdown(a)}**: {compared.attrs['rows_a']:,} rows · **{render.escape_markdown(b)}**: "
        f"{compared.attrs['rows_b']:,} rows. Significant differences (corrected for the number of issues) are "
        f"highlighted ({flagged})."
    )
    return {
        "systems_note": note,
        "systems_table": html(render.systems_html(compared)),
        "systems_chart": html(render.systems_bars(compared)),
    }


@register_view("comparison", tab="Comparison", order=40, layout=_layout, inputs=("system_a", "system_b"), wire=_wire)
def comparison(ctx: ViewContext) -> dict[str, Any]:
    if not ctx.ready:
        return {
            "compare_note": ctx.message,
            "compare_chart": html(""),
            "compare_table": html(""),
            "systems_note": "",
            "systems_table": html(""),
            "systems_chart": html(""),
        }
    compared = ctx.explorer.compare_filtered(ctx.mask)
    no_rows = not int(ctx.mask.sum())
    empty = compared.empty or not ctx.explorer.issue_ids or no_rows
    note = "No rows match the filters." if no_rows else "No issues to compare." if empty else ""
    return {
        "compare_note": note,
        "compare_chart": html("" if empty else render.compare_bars(compared)),
        "compare_table": html("" if empty else render.table_html(render.compare_display(compared))),
        **_systems(ctx),
    }
