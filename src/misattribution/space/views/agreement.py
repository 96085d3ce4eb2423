"""The Agreement tab: the judge against human labels on the filtered rows, when the report has them."""

from __future__ import annotations

from typing import Any

import pandas as pd

from misattribution.space import render
from misattribution.space.views._base import ViewContext, plot, register_view, table


def _layout(gr: Any) -> dict[str, Any]:
    agreement_note = gr.Markdown("", elem_id="agreement-note")
    with gr.Row():
        agreement_chart = gr.Plot(label="Judge vs human", visible=False, elem_id="agreement-chart")
        agreement_table = gr.Dataframe(interactive=False, visible=False, elem_id="agreement-table")
    confusion = gr.Dataframe(
        interactive=False, label="Scores: human (rows) × judge (columns)", visible=False, elem_id="agreement-confusion"
    )
    return {
        "agreement_note": agreement_note,
        "agreement_chart": agreement_chart,
        "agreement_table": agreement_table,
        "confusion": confusion,
    }


@register_view("agreement", tab="Agreement", order=60, layout=_layout)
def agreement(ctx: ViewContext) -> dict[str, Any]:
    nothing = {"agreement_chart": plot(None), "agreement_table": table(None), "confusion": table(None)}
    if not ctx.ready:
        return {"agreement_note": ctx.message, **nothing}
    result = ctx.explorer.agreement(ctx.mask)
    if result is None:
        note = "No human labels in this report: add a `human_score` column (and `human_misattribution`)."
        return {"agreement_note": note, **nothing}
    if not result["n"]:
        return {"agreement_note": "No filtered row has both a judge and a human score.", **nothing}
    note = f"Judge vs human on **{result['n']:,}** paired rows of the filtered slice (95% bootstrap intervals)."
    shown = result["table"].copy()
    for column in ("value", "ci_low", "ci_high"):
        shown[column] = shown[column].map(lambda v: "n/a" if v is None or pd.isna(v) else f"{v:.3f}")
    confusion = result["confusion"].copy()
    confusion.insert(0, "human \\ judge", [str(v) for v in confusion.index])
    confusion.columns = [str(c) for c in confusion.columns]
    return {
        "agreement_note": note,
        "agreement_chart": plot(render.agreement_figure(result["points"])),
        "agreement_table": table(shown),
        "confusion": table(confusion.reset_index(drop=True)),
    }
