"""The issue-discovery Space: the ``gr.Blocks`` layout and its wiring, nothing else.

Every filter, aggregate and comparison is a call into :mod:`misattribution.explore`; every way to load
data is a call into :mod:`misattribution.uploads`; discovery is
:func:`misattribution.discovery.discover`; judging is :func:`misattribution.runner.judge_dataset`; the
text, tables and figures shown come from :mod:`misattribution.space_views`. This module only turns
widget values into those calls and their results into widgets.

Reports live in a small server-side store (the session holds only a key), so a 100,000-row report is
never copied per visitor. Importing this module does no network I/O; Gradio's analytics are off.

Example::

    from misattribution.space_app import build_app, serve
    build_app().launch()                       # empty: load a file, a Hub dataset or the sample
    serve("issues_bundle/", port=7860)         # with a report loaded; binds 127.0.0.1
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported anywhere

import tempfile  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from collections import OrderedDict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import pandas as pd  # noqa: E402

from misattribution import space_views  # noqa: E402
from misattribution.discovery.report import IssueReport  # noqa: E402
from misattribution.explore import Explorer, Filters, export_bundle_zip  # noqa: E402
from misattribution.redaction import redact, redact_url  # noqa: E402
from misattribution.uploads import (  # noqa: E402
    ROLES,
    LoadResult,
    UploadError,
    UploadLimits,
    load_bundle_zip,
    load_hub_dataset,
    load_sample_report,
    load_upload,
    read_table_limited,
    report_from_table,
)

if TYPE_CHECKING:
    import gradio as gr

__all__ = ["build_app", "discovery_modes", "load_bundle", "serve"]

PAGE_SIZE = 20
JUDGE_URL_ENV = "MISATTRIBUTION_JUDGE_URL"
_MAPPED_ROLES = [r for r in ROLES if r != "human_misattribution"]
_EMPTY = "Load a report first (Load tab)."
# A click on a node's "filter" button in the issue tree becomes a select event carrying the node id
# (preventDefault: a button inside <summary> must not also fold the node).
# The nodes a visitor unfolds or folds stay so when the tree is redrawn for a new filter.
_TREE_CLICKS = """
if (!element.dataset.treeClicks) {
  element.dataset.treeClicks = "1";
  const folded = new Map();
  element.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-node]");
    if (button) {
      event.preventDefault();
      trigger("select", {index: 0, value: button.dataset.node});
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
_TREE_CAPTION = (
    '<p style="margin: 0 0 0.4em">Issue tree: click ▸ to unfold a category; <b>filter</b> keeps only the rows '
    "under a node, in every view (click again to remove it).</p>${value}"
)


class _Store:
    """Explorers by key, least recently used dropped first; pinned keys (the served report) stay."""

    def __init__(self, capacity: int = 8) -> None:
        self._items: OrderedDict[str, Explorer] = OrderedDict()
        self._pinned: set[str] = set()
        self._lock = threading.Lock()
        self._capacity = capacity

    def put(self, explorer: Explorer, *, pinned: bool = False) -> str:
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = explorer
            if pinned:
                self._pinned.add(key)
            unpinned = [k for k in self._items if k not in self._pinned]
            for old in unpinned[: max(0, len(unpinned) - self._capacity)]:
                del self._items[old]
        return key

    def get(self, key: str | None) -> Explorer | None:
        with self._lock:
            if key is None or key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]


_STORE = _Store()


# -- building the page --------------------------------------------------------------------------------


def build_app(
    report: IssueReport | None = None,
    *,
    max_upload_mb: float = 200,
    judge_url: str | None = None,
    page_size: int = PAGE_SIZE,
    title: str = "misattribution: issue explorer",
) -> "gr.Blocks":
    """The Space as a ``gr.Blocks`` (not launched).

    Args:
        report: a report to show at once (shared read-only by every visitor), or ``None``.
        max_upload_mb: the largest file accepted (checked again server-side, whatever the browser says).
        judge_url: an OpenAI-compatible endpoint; when set (or ``$MISATTRIBUTION_JUDGE_URL``), the Load
            view can judge an uploaded table of questions and answers. It stays on the server: the page and
            its ``/config`` show it with credentials masked (``http://user:***@host/v1``).
        page_size: instances per page.
    """
    import gradio as gr

    limits = UploadLimits.from_megabytes(max_upload_mb)
    judge_url = judge_url or os.environ.get(JUDGE_URL_ENV) or None
    initial_key = _STORE.put(Explorer(report), pinned=True) if report is not None else None
    initial = _STORE.get(initial_key)

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        key = gr.State(initial_key)
        page = gr.State(0)
        last_upload = gr.State(None)  # the last uploaded file, for "Judge it"
        gr.Markdown(
            "# Why do the answers fail?\nRecurring issues found in judge feedback, ranked and quantified. "
            "Load a report, filter, compare, read the instances.",
            elem_id="title",
        )
        status = gr.Markdown(space_views.describe(initial) if initial else _EMPTY, elem_id="status")
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                gr.Markdown("### Filters\nApplied to every view.")
                nodes = gr.Dropdown(
                    [], multiselect=True, label="Under these tree nodes", elem_id="filter-nodes", visible=False
                )
                any_issues = gr.Dropdown([], multiselect=True, label="Has any of these issues", elem_id="filter-any")
                all_issues = gr.Dropdown([], multiselect=True, label="Has all of these issues", elem_id="filter-all")
                none_issues = gr.Dropdown([], multiselect=True, label="Has none of these issues", elem_id="filter-none")
                score_scale = gr.Radio(
                    [("judge score", "score"), ("normalised 0–1", "score_norm")],
                    value="score",
                    label="Score range on",
                    elem_id="filter-score-scale",
                )
                with gr.Row():
                    score_min = gr.Number(None, label="min", elem_id="filter-score-min", min_width=80)
                    score_max = gr.Number(None, label="max", elem_id="filter-score-max", min_width=80)
                categories = gr.Dropdown(
                    [], multiselect=True, label="Misattribution categories", elem_id="filter-categories"
                )
                systems = gr.Dropdown([], multiselect=True, label="Systems", elem_id="filter-systems")
                text = gr.Textbox(
                    label="Text search", placeholder="in question, answer, feedback", elem_id="filter-text"
                )
                failing_only = gr.Checkbox(False, label="Failing rows only", elem_id="filter-failing")
                with gr.Row():
                    apply = gr.Button("Apply filters", variant="primary", elem_id="apply-filters")
                    clear = gr.Button("Clear", elem_id="clear-filters")
            with gr.Column(scale=4):
                filter_summary = gr.Markdown("", elem_id="filter-summary")
                with gr.Tabs(elem_id="views"):
                    with gr.Tab("Load", id="load", elem_id="tab-load"):
                        upload = gr.File(
                            label="Results bundle (.zip), judged rows (.jsonl, .csv, .parquet) or a CLEAR zip",
                            file_types=[".zip", ".jsonl", ".json", ".csv", ".tsv", ".parquet"],
                            elem_id="upload",
                        )
                        with gr.Accordion("Column names, when they differ", open=False, elem_id="mapping"):
                            mapping = [
                                gr.Textbox(label=role, placeholder="auto", elem_id=f"map-{role}", min_width=120)
                                for role in _MAPPED_ROLES
                            ]
                        with gr.Row():
                            hub_id = gr.Textbox(label="Hub dataset id", placeholder="owner/name", elem_id="hub-id")
                            hub_split = gr.Textbox("train", label="split", elem_id="hub-split", min_width=80)
                            hub_load = gr.Button("Load from the Hub", elem_id="load-hub")
                        sample = gr.Button("Load the bundled sample", elem_id="load-sample")
                        with gr.Accordion("Run discovery on the loaded rows", open=False, elem_id="discovery"):
                            with gr.Row():
                                mode = gr.Dropdown(
                                    discovery_modes(llm=judge_url is not None),
                                    value="clusters",
                                    label="mode",
                                    elem_id="discovery-mode",
                                )
                                max_issues = gr.Slider(
                                    3, 50, value=15, step=1, label="issues (at most)", elem_id="discovery-issues"
                                )
                                model = gr.Textbox(
                                    "all-MiniLM-L6-v2", label="embedding model", elem_id="discovery-model"
                                )
                            run_discovery = gr.Button("Run discovery", elem_id="run-discovery")
                        with gr.Accordion(
                            "Judge the uploaded table", open=False, visible=judge_url is not None, elem_id="judge"
                        ):
                            # Every visitor can read the page's /config: show the URL without its credentials.
                            gr.Markdown(f"Endpoint: `{redact_url(judge_url)}`" if judge_url else "")
                            judge = gr.Button("Judge it", elem_id="run-judge")
                        load_message = gr.Markdown("", elem_id="load-message")
                    with gr.Tab("Overview", id="overview", elem_id="tab-overview"):
                        overview_stats = gr.Markdown(_EMPTY, elem_id="overview-stats")
                        with gr.Row():
                            histogram = gr.Plot(label="Scores", elem_id="overview-histogram")
                            treemap = gr.Plot(
                                label="Misattribution: primary → secondary", elem_id="overview-categories"
                            )
                    with gr.Tab("Issues", id="issues", elem_id="tab-issues"):
                        tree_view = gr.HTML(
                            "",
                            html_template=_TREE_CAPTION,
                            js_on_load=_TREE_CLICKS,
                            visible=False,
                            elem_id="issue-tree",
                        )
                        tree_chart = gr.Plot(
                            label="Issue tree: issues sized by rows, coloured by mean score (click to zoom)",
                            visible=False,
                            elem_id="issue-tree-chart",
                        )
                        gr.Markdown("Click an issue to keep only the rows that have it.")
                        issues_table = gr.Dataframe(
                            interactive=False,
                            wrap=True,
                            # Wide enough that no header breaks inside a word ("row s").
                            column_widths=[280, 70, 80, 130, 80, 90, 160, 140, 220],
                            elem_id="issues-table",
                        )
                        issues_chart = gr.Plot(label="Share of rows (95% interval)", elem_id="issues-chart")
                    with gr.Tab("Comparison", id="comparison", elem_id="tab-comparison"):
                        gr.Markdown("### Full report vs the filtered rows")
                        compare_chart = gr.Plot(elem_id="compare-filtered-chart")
                        compare_table = gr.Dataframe(interactive=False, elem_id="compare-filtered")
                        gr.Markdown("### System A vs system B (on the filtered rows)")
                        with gr.Row():
                            system_a = gr.Dropdown([], label="system A", elem_id="system-a")
                            system_b = gr.Dropdown([], label="system B", elem_id="system-b")
                        systems_note = gr.Markdown("", elem_id="compare-systems-note")
                        systems_table = gr.Dataframe(interactive=False, elem_id="compare-systems")
                        systems_chart = gr.Plot(elem_id="compare-systems-chart")
                    with gr.Tab("Instances", id="instances", elem_id="tab-instances"):
                        with gr.Row():
                            previous = gr.Button("← Previous", elem_id="page-previous", size="sm")
                            caption = gr.Markdown("", elem_id="instances-caption")
                            following = gr.Button("Next →", elem_id="page-next", size="sm")
                        instances_table = gr.Dataframe(interactive=False, wrap=True, elem_id="instances-table")
                        with gr.Row():
                            row_id = gr.Textbox(
                                label="Row id", placeholder="click a row, or type its id", elem_id="instance-id"
                            )
                            open_row = gr.Button("Open", elem_id="open-instance")
                        detail_header = gr.Markdown("", elem_id="detail-header")
                        with gr.Row():
                            question = gr.Textbox(
                                label="Question", lines=4, interactive=False, elem_id="detail-question"
                            )
                            reference = gr.Textbox(
                                label="Reference", lines=4, interactive=False, elem_id="detail-reference"
                            )
                        feedback = gr.HighlightedText(
                            label="Feedback (evidence marked by issue)", elem_id="detail-feedback"
                        )
                        answer = gr.HighlightedText(label="Answer", elem_id="detail-answer")
                    with gr.Tab("Agreement", id="agreement", elem_id="tab-agreement"):
                        agreement_note = gr.Markdown(_EMPTY, elem_id="agreement-note")
                        with gr.Row():
                            agreement_chart = gr.Plot(label="Judge vs human", elem_id="agreement-chart")
                            agreement_table = gr.Dataframe(interactive=False, elem_id="agreement-table")
                        confusion = gr.Dataframe(
                            interactive=False,
                            label="Scores: human (rows) × judge (columns)",
                            elem_id="agreement-confusion",
                        )
                    with gr.Tab("Export", id="export", elem_id="tab-export"):
                        gr.Markdown("Download the filtered rows, or the whole report as a bundle (re-loadable here).")
                        with gr.Row():
                            export_csv = gr.Button("Filtered rows as CSV", elem_id="export-csv")
                            export_jsonl = gr.Button("Filtered rows as JSONL", elem_id="export-jsonl")
                            export_bundle = gr.Button("Report bundle (.zip)", elem_id="export-bundle")
                        export_note = gr.Markdown("", elem_id="export-note")
                        export_file = gr.File(label="Download", interactive=False, elem_id="export-file")

        filter_inputs = [
            any_issues,
            all_issues,
            none_issues,
            score_scale,
            score_min,
            score_max,
            categories,
            systems,
            text,
            failing_only,
            nodes,
        ]
        view_outputs = [
            filter_summary, overview_stats, histogram, treemap, issues_table, issues_chart,
            compare_chart, compare_table, systems_note, systems_table, systems_chart,
            caption, instances_table, page, agreement_note, agreement_chart, agreement_table, confusion,
        ]  # fmt: skip
        instance_outputs = [caption, instances_table, page]
        choice_outputs = [
            any_issues,
            all_issues,
            none_issues,
            categories,
            systems,
            system_a,
            system_b,
            score_min,
            score_max,
            text,
            nodes,
        ]
        load_outputs = [key, load_message, status, *choice_outputs]
        detail_outputs = [row_id, detail_header, question, reference, feedback, answer]

        def views(key, *values):
            explorer, filters = _STORE.get(key), _filters(*values[:-2])
            shown = dict(zip(view_outputs, _views(explorer, filters, 0, page_size, values[-2], values[-1])))
            tree = _tree_views(explorer, filters)
            return {**shown, tree_view: tree["table"], tree_chart: tree["chart"]}

        view_inputs = [key, *filter_inputs, system_a, system_b]
        refresh = {"fn": views, "inputs": view_inputs, "outputs": [*view_outputs, tree_view, tree_chart]}

        # Loading: each handler stores a new Explorer and resets the filters, then the views refresh.
        def on_upload(file, key, *names):
            if not file:
                return [key, gr.update(), gr.update(), *_choices(None), None, None]
            loaded = _load(key, lambda: load_upload(file, name=Path(file).name, mapping=_mapping(names), limits=limits))
            # The drop zone is emptied for the next file; the file is kept for "Judge it".
            return [*loaded, None, file]

        def on_hub(dataset, split, key, *names):
            return _load(
                key, lambda: load_hub_dataset(dataset, split=split or "train", mapping=_mapping(names), limits=limits)
            )

        def on_sample(key):
            return _load(key, load_sample_report)

        def on_discover(key, mode, max_issues, model, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
            return _load(key, lambda: _discover(_STORE.get(key), mode, int(max_issues), model, judge_url))

        def on_judge(file, key, *names, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
            return _load(key, lambda: _judge(file, judge_url, _mapping(names), limits))

        upload.upload(on_upload, [upload, key, *mapping], [*load_outputs, upload, last_upload]).then(**refresh)
        hub_load.click(on_hub, [hub_id, hub_split, key, *mapping], load_outputs).then(**refresh)
        sample.click(on_sample, [key], load_outputs).then(**refresh)
        run_discovery.click(on_discover, [key, mode, max_issues, model], load_outputs).then(**refresh)
        judge.click(on_judge, [last_upload, key, *mapping], load_outputs).then(**refresh)

        # Filtering.
        apply.click(**refresh)
        text.submit(**refresh)
        clear.click(
            _clear_filters,
            [],
            [any_issues, all_issues, none_issues, score_min, score_max, categories, systems, text, failing_only, nodes],
        ).then(**refresh)

        # SelectData is found by its annotation, which must be the class itself (hence these closures).
        def issue_clicked(key, selected, event: gr.SelectData):
            return _issue_clicked(key, selected, event.row_value)

        def instance_clicked(key, event: gr.SelectData):
            return _instance_clicked(key, event.row_value)

        def node_clicked(key, selected, event: gr.SelectData):
            return _node_clicked(_STORE.get(key), selected, event.value)

        issues_table.select(issue_clicked, [key, all_issues], [all_issues]).then(**refresh)
        tree_view.select(node_clicked, [key, nodes], [nodes]).then(**refresh)
        for widget in (system_a, system_b):
            widget.change(
                lambda key, a, b, *values: _system_views(_STORE.get(key), a, b, _filters(*values)),
                [key, system_a, system_b, *filter_inputs],
                [systems_note, systems_table, systems_chart],
            )

        # Instances.
        def turn(step):
            def handler(key, page, *values):
                return _instances(_STORE.get(key), _filters(*values), page + step, page_size)

            return handler

        previous.click(turn(-1), [key, page, *filter_inputs], instance_outputs)
        following.click(turn(+1), [key, page, *filter_inputs], instance_outputs)
        instances_table.select(instance_clicked, [key], detail_outputs)
        open_row.click(lambda key, rid: _detail(_STORE.get(key), rid), [key, row_id], detail_outputs)
        row_id.submit(lambda key, rid: _detail(_STORE.get(key), rid), [key, row_id], detail_outputs)

        # Export.
        for button, kind in ((export_csv, "csv"), (export_jsonl, "jsonl"), (export_bundle, "bundle")):
            button.click(
                lambda key, *values, kind=kind: _export(_STORE.get(key), _filters(*values), kind),
                [key, *filter_inputs],
                [export_file, export_note],
            )

        # A served report: fill the filter choices and the views when the page opens.
        app.load(lambda key: _choices(_STORE.get(key)), [key], choice_outputs).then(**refresh)
    return app


# -- handlers (widget values in, widget values out) ---------------------------------------------------


def _load(key: str | None, loader: Any) -> list[Any]:
    """Run a loader; on success store the report and reset the filters, else keep the current report."""
    import gradio as gr

    try:
        result: LoadResult = loader()
    except UploadError as err:
        message = redact(str(err))  # a judging or discovery error may quote the endpoint
        gr.Warning(message)
        return [key, f"**Could not load.** {space_views.escape_markdown(message)}", gr.update(), *_choices(None)]
    explorer = Explorer(result.report)
    new_key = _STORE.put(explorer)
    return [new_key, result.message, space_views.describe(explorer), *_choices(explorer)]


def _choices(explorer: Explorer | None) -> list[Any]:
    """Filter widgets reset to the report's issues, categories and systems."""
    import gradio as gr

    if explorer is None:
        return [gr.update()] * 11
    counts = explorer.matrix.sum(axis=0)
    issues = [(f"{explorer.issue_name(i)} ({int(c):,})", i) for i, c in zip(explorer.issue_ids, counts)]
    categories = [(f"{explorer.primary_of(c)[1]} → {explorer.category_name(c)}", c) for c in explorer.categories]
    systems = explorer.systems
    return [
        gr.update(choices=issues, value=[]),
        gr.update(choices=issues, value=[]),
        gr.update(choices=issues, value=[]),
        gr.update(choices=categories, value=[], visible=bool(categories)),
        gr.update(choices=systems, value=[]),
        gr.update(choices=systems, value=systems[0] if systems else None),
        gr.update(choices=systems, value=systems[1] if len(systems) > 1 else None),
        gr.update(value=None),
        gr.update(value=None),
        gr.update(value=""),
        gr.update(
            choices=space_views.node_choices(explorer.tree_table(n_resamples=0)), value=[], visible=explorer.has_tree
        ),
    ]


def _clear_filters() -> list[Any]:
    return [[], [], [], None, None, [], [], "", False, []]


def _filters(
    any_issues, all_issues, none_issues, scale, low, high, categories, systems, text, failing_only, nodes=()
) -> Filters:
    low = None if low is None or low == "" else float(low)
    high = None if high is None or high == "" else float(high)
    on_norm = scale == "score_norm"
    return Filters(
        any_issues=tuple(any_issues or ()),
        all_issues=tuple(all_issues or ()),
        none_issues=tuple(none_issues or ()),
        score_min=None if on_norm else low,
        score_max=None if on_norm else high,
        norm_min=low if on_norm else None,
        norm_max=high if on_norm else None,
        categories=tuple(categories or ()),
        systems=tuple(systems or ()),
        text=text or "",
        failing_only=bool(failing_only),
        nodes=tuple(nodes or ()),
    )


def _views(
    explorer: Explorer | None, filters: Filters, page: int, page_size: int, system_a: Any, system_b: Any
) -> list[Any]:
    """Every view for one filter state, in the order of ``view_outputs``."""
    if explorer is None:
        return _blank_views(_EMPTY)
    try:
        mask = explorer.mask(filters)
    except KeyError as err:  # e.g. an issue of a previous report still selected
        return _blank_views(f"**Filter error:** {space_views.escape_markdown(str(err))}")
    overview = explorer.overview(mask)
    table = explorer.issue_table(mask)
    compared = explorer.compare_filtered(mask)
    return [
        space_views.filter_summary(overview),
        space_views.overview_text(explorer, overview, len(table)),
        space_views.histogram_figure(overview.score_histogram),
        _plot(space_views.treemap_figure(overview.category_tree)),
        space_views.issues_display(table),
        space_views.issues_figure(table),
        space_views.compare_figure(compared),
        space_views.compare_display(compared),
        *_system_views(explorer, system_a, system_b, mask),
        *_instances(explorer, mask, page, page_size),
        *_agreement_views(explorer, mask),
    ]


def _blank_views(message: str) -> list[Any]:
    """The views with nothing to show, ``message`` in the filter summary (the order of ``view_outputs``)."""
    return [message, _EMPTY, None, None, None, None, None, None, "", None, None, "", None, 0, _EMPTY, None, None, None]  # fmt: skip


def _system_views(explorer: Explorer | None, system_a: Any, system_b: Any, filters: Filters | Any) -> list[Any]:
    if explorer is None:
        return ["", None, None]
    if len(explorer.systems) < 2:
        only = space_views.escape_markdown(explorer.systems[0]) if explorer.systems else "—"
        return [f"Only one system in this report ({only}).", None, None]
    if not system_a or not system_b or system_a == system_b:
        return ["Choose two different systems.", None, None]
    table = explorer.compare_systems(system_a, system_b, filters)
    note = (
        f"**{system_a}**: {table.attrs['rows_a']:,} rows · **{system_b}**: {table.attrs['rows_b']:,} rows. "
        f"Differences whose 95% bootstrap interval excludes 0 are highlighted ({int(table['significant'].sum())})."
    )
    return [note, space_views.systems_display(table), space_views.systems_figure(table)]


def _instances(explorer: Explorer | None, filters: Filters | Any, page: int, page_size: int) -> list[Any]:
    if explorer is None:
        return ["", None, 0]
    result = explorer.instances(filters, page=page, page_size=page_size)
    frame = result.rows.rename(columns={"row_id": "row id"})
    frame["score"] = frame["score"].map(lambda v: "" if pd.isna(v) else f"{v:g}")
    return [result.caption, frame, result.page]


def _agreement_views(explorer: Explorer, mask: Any) -> list[Any]:
    result = explorer.agreement(mask)
    if result is None:
        return [
            "No human labels in this report: add a `human_score` column (and `human_misattribution`).",
            None,
            None,
            None,
        ]
    note = f"Judge vs human on **{result['n']:,}** paired rows of the filtered slice (95% bootstrap intervals)."
    table = result["table"].copy()
    for column in ("value", "ci_low", "ci_high"):
        table[column] = table[column].map(lambda v: "n/a" if v is None or pd.isna(v) else f"{v:.3f}")
    confusion = result["confusion"].copy()
    confusion.insert(0, "human \\ judge", [str(v) for v in confusion.index])
    confusion.columns = [str(c) for c in confusion.columns]
    return [note, space_views.agreement_figure(result["points"]), table, confusion.reset_index(drop=True)]


def _plot(figure: Any) -> Any:
    """A plot's value, hidden when there is nothing to draw (no empty frame)."""
    import gradio as gr

    return gr.update(value=figure, visible=figure is not None)


def _tree_views(explorer: Explorer | None, filters: Filters) -> dict[str, Any]:
    """The issue tree as a collapsible table and a sunburst, both hidden for a report without a tree."""
    import gradio as gr

    hidden = {"table": gr.update(value="", visible=False), "chart": gr.update(value=None, visible=False)}
    if explorer is None or not explorer.has_tree:
        return hidden
    try:
        mask = explorer.mask(filters)
    except KeyError:  # the views say what is wrong
        return hidden
    tree = explorer.tree_table(mask)
    per_system = explorer.tree_per_system(mask) if len(explorer.systems) > 1 else None
    table = space_views.tree_html(tree, per_system, selected=filters.nodes)
    return {"table": gr.update(value=table, visible=True), "chart": _plot(space_views.tree_figure(tree))}


def _node_clicked(explorer: Explorer | None, selected: list[str] | None, node_id: Any) -> list[str]:
    """A click on a tree node adds it to the node filter, or removes it when it is already there."""
    selected = list(selected or [])
    if explorer is None or node_id not in explorer.tree_nodes["id"].tolist():
        return selected
    return [n for n in selected if n != node_id] if node_id in selected else [*selected, node_id]


def _issue_clicked(key: str | None, selected: list[str] | None, row: list[Any] | None) -> list[str]:
    explorer = _STORE.get(key)
    row = row or []
    issue = row[-1] if row else None
    if explorer is None or issue not in explorer.issue_ids:
        return list(selected or [])
    return list(dict.fromkeys([*(selected or []), issue]))


def _instance_clicked(key: str | None, row: list[Any] | None) -> list[Any]:
    row = row or []
    return _detail(_STORE.get(key), str(row[0]) if row else "")


def _detail(explorer: Explorer | None, row_id: str) -> list[Any]:
    row_id = (row_id or "").strip()
    if explorer is None or not row_id:
        return [row_id, "", "", "", None, None]
    try:
        detail = explorer.detail(row_id)
    except KeyError:
        return [row_id, f"No row **{space_views.escape_markdown(row_id)}** in this report.", "", "", None, None]
    fields = detail.fields
    score = fields.get("score")
    lines = [
        f"### Row {space_views.escape_markdown(detail.row_id)}",
        f"Score **{'—' if score is None else f'{score:g}'}** · system **{space_views.escape_markdown(str(fields.get('system', '')))}** · "
        f"{'failing' if fields.get('failing') else 'passing'}",
    ]
    if detail.misattribution:
        lines.append("Misattribution: " + "; ".join(space_views.escape_markdown(m) for m in detail.misattribution))
    if detail.issues:
        lines.append("Issues:")
        lines += [
            f"- **{space_views.escape_markdown(i['name'])}**: {space_views.escape_markdown(i['evidence']) or '(no evidence)'}"
            for i in detail.issues
        ]
    else:
        lines.append("No issue assigned to this row.")
    return [
        detail.row_id,
        "\n\n".join(lines[:3]) + ("\n\n" + "\n".join(lines[3:]) if len(lines) > 3 else ""),
        str(fields.get("question") or ""),
        str(fields.get("reference") or ""),
        detail.feedback_segments,
        detail.answer_segments,
    ]


def _export(explorer: Explorer | None, filters: Filters, kind: str) -> list[Any]:
    if explorer is None:
        return [None, _EMPTY]
    folder = Path(tempfile.mkdtemp(prefix="misattribution-export-"))
    mask = explorer.mask(filters)
    if kind == "csv":
        path = explorer.export_csv(mask, folder / "misattribution-rows.csv")
    elif kind == "jsonl":
        path = explorer.export_jsonl(mask, folder / "misattribution-rows.jsonl")
    else:
        path = export_bundle_zip(explorer.report, folder / "misattribution-report.zip")
        return [str(path), f"The whole report: {explorer.n_rows:,} rows, {len(explorer.issue_ids)} issues."]
    return [str(path), f"{int(mask.sum()):,} filtered rows as {kind.upper()}."]


def discovery_modes(*, llm: bool = False) -> list[str]:
    """The modes offered in the Load view: the registry's (:mod:`misattribution.discovery.modes`), those that
    need an LLM only with ``llm=True`` (the Space has a judge endpoint), then ``clusters+rules``."""
    from misattribution.discovery.modes import mode_names

    return [*mode_names(llm=llm), "clusters+rules"]


def _discover(
    explorer: Explorer | None, mode: str, max_issues: int, model: str, endpoint: str | None = None
) -> LoadResult:
    if explorer is None:
        raise UploadError("nothing loaded: load judged rows first, then run discovery")
    from misattribution.discovery import discover
    from misattribution.discovery.modes import get_mode

    try:
        # A mode that needs an LLM gets the Space's judge endpoint (its declared "endpoint" option).
        names = [name.strip() for name in mode.split("+") if name.strip()]
        llm_modes = [name for name in names if endpoint and get_mode(name).needs_llm]
        report = discover(
            explorer.report.rows,
            mode=mode,
            max_issues=max_issues,
            embedding_model=model or "all-MiniLM-L6-v2",
            mode_options={name: {"endpoint": endpoint} for name in llm_modes} or None,
        )
    except (ValueError, ImportError, OSError) as err:
        raise UploadError(f"discovery ({mode}) failed: {err}") from None
    return LoadResult(report=report, source=f"discovery ({mode})", kind="discovery")


def _judge(file: str | None, judge_url: str | None, mapping: dict[str, str], limits: UploadLimits) -> LoadResult:
    if not judge_url:
        raise UploadError("no judge endpoint configured (set MISATTRIBUTION_JUDGE_URL)")
    if not file:
        raise UploadError("upload a table of questions and answers first")
    from misattribution.judges import load_judge
    from misattribution.runner import judge_dataset
    from misattribution.tables import InputError

    name = Path(file).name
    frame = read_table_limited(file, name, limits)
    columns = {role: mapping[role] for role in ("question", "answer", "reference") if role in mapping}
    if "row_id" in mapping:
        columns["id"] = mapping["row_id"]
    try:
        judged = judge_dataset(frame, load_judge(judge_url), columns=columns or None, progress=True)
    except (InputError, ValueError) as err:
        raise UploadError(f"{name}: {err}") from None
    id_column = columns.get("id")
    return report_from_table(judged, name=f"{name} (judged)", mapping={"row_id": id_column} if id_column else None)


def _mapping(names: Any) -> dict[str, str]:
    return {role: name.strip() for role, name in zip(_MAPPED_ROLES, names) if name and name.strip()}


# -- serving ------------------------------------------------------------------------------------------


def load_bundle(path: str | Path) -> IssueReport:
    """A report bundle folder (:meth:`IssueReport.save`) or its zip."""
    path = Path(path)
    if path.is_dir():
        return IssueReport.load(path)
    return load_bundle_zip(path)


def serve(
    bundle: str | Path | IssueReport | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    open_browser: bool = False,
    *,
    max_upload_mb: float = 200,
    judge_url: str | None = None,
) -> None:
    """Serve the Space until interrupted, with ``bundle`` (a folder, a zip or a report) loaded.

    Binds 127.0.0.1 by default: pass ``host="0.0.0.0"`` to expose it. Prints the URL.
    """
    report = bundle if isinstance(bundle, IssueReport) else (load_bundle(bundle) if bundle is not None else None)
    app = build_app(report, max_upload_mb=max_upload_mb, judge_url=judge_url)
    app.queue(default_concurrency_limit=4)
    _, local_url, _ = app.launch(
        server_name=host,
        server_port=port,
        inbrowser=open_browser,
        prevent_thread_lock=True,
        max_file_size=f"{max_upload_mb}mb",
        quiet=True,
        footer_links=[],
    )
    print(f"misattribution Space: {local_url}", flush=True)
    app.block_thread()
