"""The Export tab: the filtered rows as CSV or JSONL (issue names and ids), or the whole report as a bundle."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from misattribution.explore import export_bundle_zip
from misattribution.space.views._base import ViewContext, Wiring, register_view


def _layout(gr: Any) -> dict[str, Any]:
    gr.Markdown("Download the filtered rows, or the whole report as a bundle (re-loadable here).")
    with gr.Row():
        export_csv = gr.Button("Filtered rows as CSV", elem_id="export-csv")
        export_jsonl = gr.Button("Filtered rows as JSONL", elem_id="export-jsonl")
        export_bundle = gr.Button("Report bundle (.zip)", elem_id="export-bundle")
    export_note = gr.Markdown("", elem_id="export-note")
    export_file = gr.File(label="Download", interactive=False, visible=False, elem_id="export-file")
    return {
        "export_csv": export_csv,
        "export_jsonl": export_jsonl,
        "export_bundle": export_bundle,
        "export_note": export_note,
        "export_file": export_file,
    }


def export(ctx: ViewContext, kind: str) -> dict[str, Any]:
    """Write the filtered rows (``csv``, ``jsonl``) or the report (``bundle``) to a temporary file."""
    import gradio as gr

    if not ctx.ready:
        return {"export_file": gr.update(value=None, visible=False), "export_note": ctx.message}
    explorer, mask = ctx.explorer, ctx.mask
    folder = Path(tempfile.mkdtemp(prefix="misattribution-export-"))
    if kind == "csv":
        path = explorer.export_csv(mask, folder / "misattribution-rows.csv")
    elif kind == "jsonl":
        path = explorer.export_jsonl(mask, folder / "misattribution-rows.jsonl")
    else:
        path = export_bundle_zip(explorer.report, folder / "misattribution-report.zip")
        note = f"The whole report: {explorer.n_rows:,} rows, {len(explorer.issue_ids)} issues."
        return {"export_file": gr.update(value=str(path), visible=True), "export_note": note}
    note = f"{int(mask.sum()):,} filtered rows as {kind.upper()} (issue names in `issue_names`, ids in `issues`)."
    return {"export_file": gr.update(value=str(path), visible=True), "export_note": note}


def _wire(wiring: Wiring) -> None:
    outputs = [wiring["export_file"], wiring["export_note"]]
    for button, kind in (("export_csv", "csv"), ("export_jsonl", "jsonl"), ("export_bundle", "bundle")):

        def handler(key, *values, kind=kind):
            written = export(wiring.context(key, *values), kind)
            return [written["export_file"], written["export_note"]]

        wiring[button].click(handler, [wiring["key"], *wiring.filter_inputs], outputs)


@register_view("export", tab="Export", order=80, layout=_layout, wire=_wire)
def export_view(ctx: ViewContext) -> dict[str, Any]:
    """Nothing to compute before a button is pressed (a download keeps the note that says what it holds)."""
    return {} if ctx.ready else {"export_note": ctx.message}
