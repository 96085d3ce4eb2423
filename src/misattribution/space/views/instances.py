"""The Instances tab: the filtered rows a page at a time (worst score first) and one row in detail, its
issues' evidence marked in the feedback and the answer."""

# No `from __future__ import annotations`: Gradio finds gr.SelectData by the annotation's class.
from typing import Any

import pandas as pd

from misattribution.space import render
from misattribution.space.views._base import ViewContext, Wiring, html, register_view


def _layout(gr: Any) -> dict[str, Any]:
    page = gr.State(0)
    with gr.Row():
        previous = gr.Button("← Previous", elem_id="page-previous", size="sm")
        caption = gr.Markdown("", elem_id="instances-caption")
        following = gr.Button("Next →", elem_id="page-next", size="sm")
    # An HTML table (a click on a row opens it): Gradio's Dataframe took ~60 ms more to paint 20 rows.
    instances_table = gr.HTML("", js_on_load=render.ROW_CLICKS, visible=False, elem_id="instances-table")
    with gr.Row():
        row_id = gr.Textbox(label="Row id", placeholder="click a row, or type its id", elem_id="instance-id")
        open_row = gr.Button("Open", elem_id="open-instance")
    detail_header = gr.Markdown("", elem_id="detail-header")
    with gr.Row():
        question = gr.Textbox(label="Question", lines=4, interactive=False, elem_id="detail-question")
        reference = gr.Textbox(label="Reference", lines=4, interactive=False, elem_id="detail-reference")
    row_summary = gr.Textbox(
        label="Judge's summary (CLEAR's evaluation_summary)",
        lines=2,
        interactive=False,
        visible=False,
        elem_id="detail-summary",
    )
    gr.Markdown("**Feedback** (evidence marked by issue)")
    feedback = gr.HTML("", elem_id="detail-feedback")
    gr.Markdown("**Answer**")
    answer = gr.HTML("", elem_id="detail-answer")
    return {
        "page": page,
        "page_previous": previous,
        "instances_caption": caption,
        "page_next": following,
        "instances_table": instances_table,
        "row_id": row_id,
        "open_row": open_row,
        "detail_header": detail_header,
        "question": question,
        "reference": reference,
        "row_summary": row_summary,
        "feedback": feedback,
        "answer": answer,
    }


DETAIL = ("row_id", "detail_header", "question", "reference", "row_summary", "feedback", "answer")


def detail(explorer: Any, row_id: str) -> dict[str, Any]:
    """One row in detail, by name of the component each part goes to."""
    import gradio as gr

    row_id = (row_id or "").strip()
    blank = {"question": "", "reference": "", "row_summary": gr.update(value="", visible=False)}
    if explorer is None or not row_id:
        return {"row_id": row_id, "detail_header": "", **blank, "feedback": "", "answer": ""}
    try:
        shown = explorer.detail(row_id)
    except KeyError:
        message = f"No row **{render.escape_markdown(row_id)}** in this report."
        return {"row_id": row_id, "detail_header": message, **blank, "feedback": "", "answer": ""}
    fields = shown.fields
    score = fields.get("score")
    system = render.escape_markdown(str(fields.get("system", "")))
    lines = [
        f"### Row {render.escape_markdown(shown.row_id)}",
        f"Score **{'—' if score is None else f'{score:g}'}** · system **{system}** · "
        f"{'failing' if fields.get('failing') else 'passing'}",
    ]
    if shown.misattribution:
        lines.append("Misattribution: " + "; ".join(render.escape_markdown(m) for m in shown.misattribution))
    issues = [
        f"- **{render.escape_markdown(i['name'])}**: {render.escape_markdown(i['evidence']) or '(no evidence)'}"
        for i in shown.issues
    ]
    header = "\n\n".join(lines) + (
        "\n\nIssues:\n" + "\n".join(issues) if issues else "\n\nNo issue assigned to this row."
    )
    summary = str(fields.get("summary") or "")
    return {
        "row_id": shown.row_id,
        "detail_header": header,
        "question": str(fields.get("question") or ""),
        "reference": str(fields.get("reference") or ""),
        "row_summary": gr.update(value=summary, visible=bool(summary)),
        "feedback": render.highlight_html(shown.feedback_segments, empty="(no feedback)"),
        "answer": render.highlight_html(shown.answer_segments, empty="(no answer)"),
    }


def _wire(wiring: Wiring) -> None:
    import gradio as gr

    key = wiring["key"]
    outputs = [wiring[name] for name in DETAIL]

    def named(values: dict[str, Any]) -> dict[Any, Any]:
        return {wiring[name]: value for name, value in values.items()}

    def clicked(key, event: gr.SelectData):
        return named(detail(wiring.explorer(key), str(event.value or "")))

    def typed(key, row_id):
        return named(detail(wiring.explorer(key), row_id))

    for button, step in (("page_previous", -1), ("page_next", +1)):
        wiring.rerun(
            "instances", wiring[button].click, inputs=("page",), adjust=lambda v, s=step: {**v, "page": v["page"] + s}
        )
    wiring["instances_table"].select(clicked, [key], outputs)
    wiring["open_row"].click(typed, [key, wiring["row_id"]], outputs)
    wiring["row_id"].submit(typed, [key, wiring["row_id"]], outputs)


@register_view("instances", tab="Instances", order=50, layout=_layout, wire=_wire)
def instances(ctx: ViewContext) -> dict[str, Any]:
    """A page of the filtered rows (page 0 after a filter change; ``ctx.values["page"]`` when turning)."""
    if not ctx.ready:
        return {"instances_caption": ctx.message, "instances_table": html(""), "page": 0}
    result = ctx.explorer.instances(ctx.mask, page=int(ctx.values.get("page") or 0), page_size=ctx.page_size)
    frame = result.rows.rename(columns={"row_id": "row id"})
    frame["score"] = frame["score"].map(lambda v: "" if pd.isna(v) else f"{v:g}")
    shown = render.table_html(frame, row_ids=result.rows["row_id"])
    return {"instances_caption": result.caption, "instances_table": html(shown), "page": result.page}
