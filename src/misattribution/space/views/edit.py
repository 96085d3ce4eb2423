"""The Edit tab: rename, merge, split, park the report's issues; save the issue list; re-map the rows.

The logic is :mod:`misattribution.space_edit` (pure functions, unit-tested); this module lays out the
widgets and wires them. An edit stores the edited report as the current one (like a load: the filters'
issue choices are reset) and every view follows; "Save the issue list" offers the file that
``misattribution discover --mode static --issues FILE`` reads; "Re-map the rows" runs that static
discovery on the report's rows and loads the result.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from misattribution.space.views._base import ViewContext, Wiring, register_view
from misattribution.space_edit import ACTIONS, apply_edit, history_markdown, issue_choices, parked_choices

#: The filter widgets whose choices name issues: reset after an edit, as after a load.
_ISSUE_FILTERS = ("any_issues", "all_issues", "none_issues", "nodes")


def _layout(gr: Any) -> dict[str, Any]:
    gr.Markdown(
        "Rename, merge, split or park issues (a parked issue leaves the ranking and every view, and can be "
        "unparked). Save the edited issues as an issue list, then re-map the rows to it."
    )
    with gr.Row():
        action = gr.Radio(list(ACTIONS), value="Rename", label="Edit", elem_id="edit-action")
        issues = gr.Dropdown(choices=[], value=[], multiselect=True, label="Issues", elem_id="edit-issues")
    with gr.Row():
        name = gr.Textbox(
            label="New name (merge: optional; split: 'first | second', optional)", max_lines=1, elem_id="edit-name"
        )
        rows = gr.Textbox(label="Rows to split off (ids, comma-separated)", max_lines=1, elem_id="edit-rows")
    apply = gr.Button("Apply", variant="primary", elem_id="edit-apply")
    message = gr.Markdown("", elem_id="edit-message")
    history = gr.Markdown("", elem_id="edit-history")
    with gr.Row():
        save = gr.Button("Save the issue list", elem_id="edit-save")
        remap = gr.Button("Re-map the rows to the edited issues", elem_id="edit-remap")
    file = gr.File(label="Issue list", interactive=False, visible=False, elem_id="edit-file")
    return {
        "edit_action": action,
        "edit_issues": issues,
        "edit_name": name,
        "edit_rows": rows,
        "edit_apply": apply,
        "edit_message": message,
        "edit_history": history,
        "edit_save": save,
        "edit_remap": remap,
        "edit_file": file,
    }


def _choices(report: Any) -> list[tuple[str, str]]:
    return issue_choices(report) + parked_choices(report)


def _store(report: Any) -> tuple[str, dict[str, Any]]:
    """Store ``report`` as the current one; its key and the reset choices of the issue filters."""
    from misattribution.explore import Explorer
    from misattribution.space.app import _STORE, _choice_values

    explorer = Explorer(report)
    choices = _choice_values(explorer)
    return _STORE.put(explorer), {name: choices[name] for name in _ISSUE_FILTERS}


def _wire(wiring: Wiring) -> None:
    import gradio as gr

    filters = [wiring[name] for name in _ISSUE_FILTERS]
    outputs = [wiring["key"], wiring["edit_message"], wiring["edit_issues"], wiring["edit_history"]]
    outputs += [wiring["edit_name"], wiring["edit_rows"], wiring["status"], *filters]
    unchanged = [gr.update()] * (len(outputs) - 2)

    def stored(report: Any, message: str) -> list[Any]:
        from misattribution.space import render

        key, choices = _store(report)
        return [
            key,
            message,
            gr.update(choices=_choices(report), value=[]),
            history_markdown(report),
            "",
            "",
            render.describe(wiring.explorer(key)),  # the page head: rows, issues, mode
            *(gr.update(**choices[name]) for name in _ISSUE_FILTERS),
        ]

    def on_apply(key, action, issues, name, rows):
        explorer = wiring.explorer(key)
        report = explorer.report if explorer is not None else None
        edited, message = apply_edit(report, action, issues, name=name, rows=rows)
        if edited is None or edited is report:
            return [key, message, *unchanged]
        return stored(edited, message)

    def on_save(key):
        explorer = wiring.explorer(key)
        if explorer is None:
            return gr.update(value=None, visible=False), "Not done: load a report first."
        path = _save(explorer.report)
        return gr.update(value=str(path), visible=True), f"Saved {len(explorer.report.issues)} issues to `{path.name}`."

    def on_remap(key, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
        explorer = wiring.explorer(key)
        if explorer is None:
            return [key, "Not done: load a report first.", *unchanged]
        remapped = _remap(explorer.report, _save(explorer.report))
        kept = sum(i.id in {j.id for j in explorer.report.issues} for i in remapped.issues)
        message = (
            f"Re-mapped {len(remapped.rows):,} rows to the {len(remapped.issues)} saved issues "
            f"({kept} with the same id) by the static mode."
        )
        return stored(remapped, message)

    inputs = [wiring["key"], wiring["edit_action"], wiring["edit_issues"], wiring["edit_name"], wiring["edit_rows"]]
    wiring["edit_apply"].click(on_apply, inputs, outputs).then(**wiring.refresh)
    wiring["edit_save"].click(on_save, [wiring["key"]], [wiring["edit_file"], wiring["edit_message"]])
    wiring["edit_remap"].click(on_remap, [wiring["key"]], outputs).then(**wiring.refresh)


def _save(report: Any) -> Path:
    from misattribution.discovery.edits import save_issue_list

    folder = Path(tempfile.mkdtemp(prefix="misattribution-issues-"))
    return save_issue_list(report, folder / "issues.txt")


def _remap(report: Any, issue_list: Path) -> Any:
    """The static mode on the report's rows with the saved issue list (the report's embedding model)."""
    from misattribution.discovery import discover

    settings = report.meta.get("settings") or {}
    options = {"embedding_model": settings["embedding_model"]} if settings.get("embedding_model") else {}
    return discover(
        report.rows, mode="static", mode_options={"static": {"issues_text": issue_list}}, progress=False, **options
    )


@register_view("edit", tab="Edit", order=75, layout=_layout, wire=_wire)
def edit_view(ctx: ViewContext) -> dict[str, Any]:
    """The issues to choose from (parked ones last) and the edit history of the report on screen."""
    import gradio as gr

    report = ctx.explorer.report if ctx.explorer is not None else None
    return {
        "edit_issues": gr.update(choices=_choices(report), value=[]),
        "edit_history": history_markdown(report) if report is not None else "",
        # An edit's message stays until the next edit (the refresh that follows an edit must not wipe it).
        "edit_message": gr.update() if report is not None else ctx.message,
    }
