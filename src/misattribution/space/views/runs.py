"""The Runs tab: the report on screen against an earlier run's bundle, issue by issue.

The same table as ``misattribution diff OLD NEW`` (:func:`~misattribution.discovery.diff.diff_reports`):
issues matched by identity, each one's share before and after with a Newcombe interval and Fisher's exact
p-value corrected by Holm, and its status (new, vanished, grown, shrunk, unchanged). The earlier bundle is
uploaded as a zip and read through the upload guard (:func:`~misattribution.uploads.load_bundle_zip`); both
reports are compared whole (the filters do not apply: a filtered slice of one run has no counterpart in the
other).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from misattribution.space import render
from misattribution.space.views._base import ViewContext, Wiring, html, register_view

NO_BASELINE = "Upload the bundle of an earlier run (a .zip of its folder) to see what changed, issue by issue."
_BASELINES: OrderedDict[tuple[str, int, int], Any] = OrderedDict()  # (path, size, mtime) -> IssueReport


def _layout(gr: Any) -> dict[str, Any]:
    gr.Markdown("### This report against an earlier run (issues matched by identity)")
    baseline = gr.File(
        label="earlier run's bundle (.zip)", file_types=[".zip"], type="filepath", elem_id="runs-baseline"
    )
    note = gr.Markdown(NO_BASELINE, elem_id="runs-note")
    table = gr.HTML("", visible=False, elem_id="runs-table")
    return {"runs_baseline": baseline, "runs_note": note, "runs_table": table}


def _wire(wiring: Wiring) -> None:
    wiring.rerun("runs", wiring["runs_baseline"].change)


def _baseline(path: str) -> Any:
    """The uploaded bundle's report, read once per uploaded file (the last 4 kept)."""
    from misattribution.uploads import load_bundle_zip

    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _BASELINES:
        _BASELINES[key] = load_bundle_zip(path, name=Path(path).name)
        while len(_BASELINES) > 4:
            _BASELINES.popitem(last=False)
    return _BASELINES[key]


@register_view("runs", tab="Runs", order=45, layout=_layout, inputs=("runs_baseline",), wire=_wire)
def runs(ctx: ViewContext) -> dict[str, Any]:
    if not ctx.ready:
        return {"runs_note": ctx.message, "runs_table": html("")}
    path = ctx.values.get("runs_baseline")
    if not path:
        return {"runs_note": NO_BASELINE, "runs_table": html("")}
    from misattribution.discovery.diff import diff_display, diff_headline, diff_reports, diff_test_note
    from misattribution.uploads import UploadError

    try:
        baseline = _baseline(path)
    except (UploadError, ValueError, OSError) as err:
        return {"runs_note": f"**Not compared:** {render.escape_markdown(str(err))}", "runs_table": html("")}
    table = diff_reports(baseline, ctx.explorer.report)
    changed = table["status"].isin(["grown", "shrunk", "new", "vanished"]).tolist()
    note = (
        f"**{render.escape_markdown(diff_headline(table, ('earlier run', 'this report')))}**. "
        f"{render.escape_markdown(diff_test_note(table))}; changed issues are highlighted."
    )
    return {"runs_note": note, "runs_table": html(render.table_html(diff_display(table), marked=changed))}
