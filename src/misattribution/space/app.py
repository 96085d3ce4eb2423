"""The issue-discovery Space: the ``gr.Blocks`` layout, the Load tab and the wiring of the registered views.

What each tab shows is a registered view (:mod:`misattribution.space.views`: one function returning
updates by component name); every filter, aggregate and comparison is a call into
:mod:`misattribution.explore`; every way to load data is a call into :mod:`misattribution.uploads`;
discovery is :func:`misattribution.discovery.discover`; judging is :func:`misattribution.runner.judge_dataset`.

Reports live in a small server-side store (the session holds only a key), so a 100,000-row report is
never copied per visitor. A served report opens on the Issues tab, its summary and issues already in the
page (no round trip before the first paint); a filter change recomputes the open tab only, and a tab is
computed when it is opened. Importing this module imports neither gradio nor plotly and does no network
I/O; Gradio's analytics are off.

Example::

    from misattribution.space.app import build_app, serve
    build_app().launch()                       # empty: load a file, a Hub dataset or the sample
    serve("issues_bundle/", port=7860)         # with a report loaded; binds 127.0.0.1
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported anywhere
# Gradio 6's "run history" copies every event's inputs and outputs into the visitor's localStorage (report
# rows, feedback texts) and re-serialises the whole history on each event: off, for privacy and speed.
os.environ.setdefault("GRADIO_RUN_HISTORY", "False")

import tempfile  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from collections import OrderedDict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from misattribution.discovery.report import IssueReport  # noqa: E402
from misattribution.explore import Explorer, Filters  # noqa: E402
from misattribution.redaction import redact, redact_url  # noqa: E402
from misattribution.space import render  # noqa: E402
from misattribution.space._gradio import import_gradio  # noqa: E402
from misattribution.space.views import EMPTY, ViewContext, Wiring, registered_views  # noqa: E402
from misattribution.uploads import (  # noqa: E402
    ROLES,
    TABLE_SUFFIXES,
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
#: Problems of an upload shown in the page (all of them are in the downloadable list).
SHOWN_PROBLEMS = 20
_MAPPED_ROLES = [r for r in ROLES if r != "human_misattribution"]
_FILTERS = (
    "any_issues",
    "all_issues",
    "none_issues",
    "score_scale",
    "score_min",
    "score_max",
    "categories",
    "systems",
    "text",
    "failing_only",
    "nodes",
)
#: Run in the page after a filter change: clicks the hidden ``refresh-<tab id>`` button of the open tab (its
#: tab button, ``tab-<tab id>-button``, is the selected one), else ``refresh-open-tab``.
REFRESH_JS = """() => {
  const open = document.querySelector('#views [role="tab"][aria-selected="true"]');
  const id = open && open.id.match(/^tab-(.+)-button$/);
  const button = (id && document.getElementById(`refresh-${id[1]}`)) || document.getElementById("refresh-open-tab");
  if (button) button.click();
}"""
# Headers break between words only (Gradio's tables break anywhere: "row s", "sc or e"); a column is
# at least as wide as its longest header word.
_CSS = """
.table-wrap th, .table-wrap th * { word-break: keep-all !important; overflow-wrap: normal !important;
  hyphens: none !important; }
.table-wrap td, .table-wrap td * { word-break: normal !important; overflow-wrap: break-word !important; }
#status p, #filter-summary p { margin: 0.2em 0; }
#summary { border-left: 4px solid #4f46e5; padding: 0.3em 0.9em; background: var(--background-fill-secondary); }
"""


class _Store:
    """Explorers by key, least recently used dropped first; pinned keys (the served report) stay."""

    def __init__(self, capacity: int = 8) -> None:
        self._items: OrderedDict[str, Explorer] = OrderedDict()
        self._pinned: set[str] = set()
        self._lock = threading.Lock()
        self._capacity = capacity

    def put(self, explorer: Explorer, *, pinned: bool = False, prepare: bool = True) -> str:
        """Store ``explorer`` under a new key; with ``prepare``, its text search is prepared in the background
        at once (else by :func:`prepare_search_soon`, e.g. once the first page is served)."""
        if prepare:
            prepare_search_soon(explorer)
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


def prepare_search_soon(explorer: Explorer | None) -> None:
    """Prepare the text search of ``explorer`` in a background thread (idempotent): the first search then
    does not pay for it (at 1M rows, 1-2 s of case folding), and what is on screen does not wait for it."""
    if explorer is not None and explorer._search is None:
        threading.Thread(target=explorer.prepare_search, daemon=True, name="prepare-search").start()


# -- building the page --------------------------------------------------------------------------------


def build_app(
    report: IssueReport | Explorer | None = None,
    *,
    max_upload_mb: float = 200,
    judge_url: str | None = None,
    page_size: int = PAGE_SIZE,
    title: str = "misattribution: issue explorer",
) -> gr.Blocks:
    """The Space as a ``gr.Blocks`` (not launched).

    Args:
        report: a report to show at once (shared read-only by every visitor), or its
            :class:`~misattribution.explore.Explorer`, or ``None``. The page then opens on the Issues tab with
            the report's summary and issues.
        max_upload_mb: the largest file accepted (checked again server-side, whatever the browser says).
        judge_url: an OpenAI-compatible endpoint; when set (or ``$MISATTRIBUTION_JUDGE_URL``), the Load
            view can judge an uploaded table of questions and answers. It stays on the server: the page and
            its ``/config`` show it with credentials masked (``http://user:***@host/v1``).
        page_size: instances per page.
    """
    gr = import_gradio()

    limits = UploadLimits.from_megabytes(max_upload_mb)
    judge_url = judge_url or os.environ.get(JUDGE_URL_ENV) or None
    if report is not None and not isinstance(report, Explorer):
        report = Explorer(report)
    # A served report's search is prepared once a page has loaded (below): at 1M rows its case folding took
    # CPU from the first screen (cold start 9.0 s at load 3.3 with it running alongside).
    initial_key = _STORE.put(report, pinned=True, prepare=False) if report is not None else None
    initial = _STORE.get(initial_key)
    views = registered_views()
    first_tab = views[0].tab_id if initial is not None else "load"

    with gr.Blocks(title=title, analytics_enabled=False, fill_width=True) as app:
        gr.HTML(f"<style>{_CSS}{render.PAGE_CSS}</style>", padding=False, elem_id="page-style")
        c: dict[str, Any] = {
            "key": gr.State(initial_key),
            "selected_tab": gr.State(first_tab),
            "last_table": gr.State(None),  # the last uploaded table, in memory, for "Judge it"
        }
        gr.Markdown(
            "# Why do the answers fail?\nRecurring issues found in judge feedback, ranked and quantified. "
            "Load a report, filter, compare, read the instances.",
            elem_id="title",
        )
        c["status"] = gr.Markdown(render.describe(initial) if initial else EMPTY, elem_id="status")
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                c.update(_filter_layout(gr, initial))
            with gr.Column(scale=4):
                c["filter_summary"] = gr.Markdown(_filter_summary(ViewContext(initial)), elem_id="filter-summary")
                with gr.Tabs(selected=first_tab, elem_id="views") as c["tabs"]:
                    with gr.Tab("Load", id="load", elem_id="tab-load") as load_tab:
                        c.update(_load_layout(gr, judge_url))
                    tabs = {"load": load_tab}
                    for tab_id in dict.fromkeys(v.tab_id for v in views):
                        in_tab = [v for v in views if v.tab_id == tab_id]
                        with gr.Tab(in_tab[0].tab, id=tab_id, elem_id=f"tab-{tab_id}") as tabs[tab_id]:
                            for view in in_tab:
                                built = view.layout(gr)
                                clash = set(built) & set(c)
                                if clash:
                                    raise ValueError(f"view {view.name!r}: component names taken: {sorted(clash)}")
                                c.update(built)
        if initial is not None:
            # The first screen is in the page itself: no event has to run before it is painted.
            for view in views:
                if view.tab_id == first_tab:
                    for name, value in view.update(ViewContext(initial, page_size=page_size)).items():
                        _preset(c[name], value)
        # What the page clicks to refresh the open tab after a filter change (see ``_wire``): in the page, not
        # shown.
        c["refresh_triggers"] = {
            tab_id: gr.Button("refresh", visible="hidden", elem_id=f"refresh-{tab_id}")
            for tab_id in [*tabs, "open-tab"]
        }
        _wire(app, c, views, tabs, limits, judge_url, page_size)
        if initial is not None:
            app.load(lambda key: prepare_search_soon(_STORE.get(key)), [c["key"]], None, queue=False)
    return app


def _filter_layout(gr: Any, explorer: Explorer | None) -> dict[str, Any]:
    choices = _choice_values(explorer)
    c: dict[str, Any] = {}
    gr.Markdown("### Filters\nApplied to every view.")
    c["nodes"] = gr.Dropdown(
        multiselect=True, label="Under these tree nodes", elem_id="filter-nodes", **choices["nodes"]
    )
    c["any_issues"] = gr.Dropdown(multiselect=True, label="Has any of these issues", elem_id="filter-any", **choices["any_issues"])  # fmt: skip
    c["all_issues"] = gr.Dropdown(multiselect=True, label="Has all of these issues", elem_id="filter-all", **choices["all_issues"])  # fmt: skip
    c["none_issues"] = gr.Dropdown(multiselect=True, label="Has none of these issues", elem_id="filter-none", **choices["none_issues"])  # fmt: skip
    c["score_scale"] = gr.Radio(
        [("judge score", "score"), ("normalised 0–1", "score_norm")],
        value="score",
        label="Score range on",
        elem_id="filter-score-scale",
    )
    with gr.Row():
        # Text boxes, not numbers: an empty bound is "any", never a 0 that looks like a filter.
        c["score_min"] = gr.Textbox("", label="min", placeholder="any", max_lines=1, elem_id="filter-score-min", min_width=80)  # fmt: skip
        c["score_max"] = gr.Textbox("", label="max", placeholder="any", max_lines=1, elem_id="filter-score-max", min_width=80)  # fmt: skip
    c["categories"] = gr.Dropdown(multiselect=True, label="Misattribution categories", elem_id="filter-categories", **choices["categories"])  # fmt: skip
    c["systems"] = gr.Dropdown(multiselect=True, label="Systems", elem_id="filter-systems", **choices["systems"])
    c["text"] = gr.Textbox(label="Text search", placeholder="in question, answer, feedback", elem_id="filter-text")
    c["failing_only"] = gr.Checkbox(False, label="Failing rows only", elem_id="filter-failing")
    with gr.Row():
        c["apply"] = gr.Button("Apply filters", variant="primary", elem_id="apply-filters")
        c["clear"] = gr.Button("Clear", elem_id="clear-filters")
    return c


def _load_layout(gr: Any, judge_url: str | None) -> dict[str, Any]:
    c: dict[str, Any] = {}
    c["upload"] = gr.File(
        label="Results bundle (.zip), judged rows (.jsonl, .csv, .parquet) or a CLEAR zip",
        file_types=[".zip", ".jsonl", ".json", ".csv", ".tsv", ".parquet"],
        elem_id="upload",
    )
    with gr.Accordion("Column names, when they differ", open=False, elem_id="mapping"):
        c["mapping"] = [
            gr.Textbox(label=role, placeholder="auto", elem_id=f"map-{role}", min_width=120) for role in _MAPPED_ROLES
        ]
    with gr.Row():
        c["hub_id"] = gr.Textbox(label="Hub dataset id", placeholder="owner/name", elem_id="hub-id")
        c["hub_split"] = gr.Textbox("train", label="split", elem_id="hub-split", min_width=80)
        c["hub_load"] = gr.Button("Load from the Hub", elem_id="load-hub")
    c["sample"] = gr.Button("Load the bundled sample", elem_id="load-sample")
    with gr.Accordion("Run discovery on the loaded rows", open=False, elem_id="discovery"):
        with gr.Row():
            c["mode"] = gr.Dropdown(
                discovery_modes(llm=judge_url is not None), value="clusters", label="mode", elem_id="discovery-mode"
            )
            c["max_issues"] = gr.Slider(3, 50, value=15, step=1, label="issues (at most)", elem_id="discovery-issues")
            models = embedding_models()
            c["model"] = gr.Dropdown(models, value=models[0], label="embedding model", elem_id="discovery-model")
        c["run_discovery"] = gr.Button("Run discovery", elem_id="run-discovery")
    with gr.Accordion("Judge the uploaded table", open=False, visible=judge_url is not None, elem_id="judge"):
        # Every visitor can read the page's /config: show the URL without its credentials.
        gr.Markdown(f"Endpoint: `{redact_url(judge_url)}`" if judge_url else "")
        c["judge"] = gr.Button("Judge it", elem_id="run-judge")
    c["load_message"] = gr.Markdown("", elem_id="load-message")
    c["problems"] = gr.Dataframe(
        interactive=False, wrap=True, visible=False, label="Problems found while reading", elem_id="load-problems"
    )
    c["problems_file"] = gr.File(
        label="Every problem (CSV)", interactive=False, visible=False, elem_id="load-problems-file"
    )
    return c


def _preset(component: Any, update: Any) -> None:
    """Give a component, before the page is served, the value (and visibility) an update would."""
    values = update if isinstance(update, dict) else {"value": update}
    for name, value in values.items():
        if name == "value":
            component.value = component.postprocess(value) if value is not None else None
        elif name != "__type__":
            setattr(component, name, value)


# -- wiring -------------------------------------------------------------------------------------------


def _wire(app: Any, c: dict[str, Any], views: list, tabs: dict[str, Any], limits, judge_url, page_size) -> None:

    key, selected_tab = c["key"], c["selected_tab"]
    filter_inputs = [c[name] for name in _FILTERS]
    view_inputs = list(dict.fromkeys(name for view in views for name in view.inputs))
    # Every name a view updates: its blank update names all of them (a rule the view tests check).
    outputs = {c["filter_summary"], *(c[n] for view in views for n in view.update(ViewContext(None)))}

    def context(key, *values, **view_values) -> ViewContext:
        explorer = _STORE.get(key)
        try:
            filters = _filters(*values)
        except ValueError as err:
            return ViewContext(explorer, Filters(), view_values, page_size, error=f"Filter error: {err}")
        return ViewContext(explorer, filters, view_values, page_size)

    def named(values: dict[str, Any]) -> dict[Any, Any]:
        return {c[name]: value for name, value in values.items()}

    def refresh_views(key, tab, *values):
        ctx = context(key, *values[: len(_FILTERS)], **dict(zip(view_inputs, values[len(_FILTERS) :])))
        shown = {c["filter_summary"]: _filter_summary(ctx)}
        for view in views:
            if view.tab_id == tab:
                shown.update(named(view.update(ctx)))
        return shown

    shared = {
        # Progress on the one-line summary only: a spinner over every output costs a 100k-row update a third
        # of its time in the browser (median 0.31 s; 0.20 s so; 0.16 s with no progress at all; load 3.4).
        "show_progress_on": [c["filter_summary"]],
        # Off the queue: a plain request instead of joining the queue and waiting for its stream, 20-30 ms of
        # a 130-160 ms update at 100k rows (load 5). A filter only reads the stored report; the loads, which
        # write and take seconds, stay on the queue and its concurrency limit.
        "queue": False,
    }
    state_inputs = [key, *filter_inputs, *(c[n] for n in view_inputs)]

    def own_outputs(tab_id: str) -> list[Any]:
        return [c[n] for view in views if view.tab_id == tab_id for n in view.update(ViewContext(None))]

    # A filter change recomputes the open tab, as an event of that tab naming that tab's components only
    # (hidden buttons, one per tab, ``refresh-<tab id>``): Gradio rebuilds a component on the server for every
    # output an event names and does not return (and marks it pending, then settled, in the page), ~1 ms
    # each, 26 of the 31 outputs of one event for all tabs. The page clicks the open tab's button
    # (REFRESH_JS); ``refresh-open-tab`` (every tab's outputs, the open tab remembered on the server) is its
    # fallback when the page shows no selected tab.
    def refresher(tab_id: str) -> Any:
        def refresh_tab(key, *values):
            return refresh_views(key, tab_id, *values)

        return refresh_tab

    triggers = c["refresh_triggers"]
    for tab_id in tabs:
        own = [c["filter_summary"], *own_outputs(tab_id)]
        triggers[tab_id].click(refresher(tab_id), state_inputs, own, trigger_mode="always_last", **shared)
    triggers["open-tab"].click(
        refresh_views, [key, selected_tab, *state_inputs[1:]], outputs, trigger_mode="always_last", **shared
    )
    # The page-side half: ``.then(**refresh)`` after an event, or an event of its own (Apply, Enter).
    refresh = {"fn": None, "js": REFRESH_JS, "inputs": None, "outputs": None, "show_progress": "hidden", "queue": False}

    def rerun(view_name: str, event: Any, *, inputs: tuple[str, ...] = (), adjust: Any = None) -> None:
        view = next(v for v in views if v.name == view_name)
        names = list(dict.fromkeys([*view.inputs, *inputs]))

        def handler(key, *values):
            view_values = dict(zip(names, values[len(_FILTERS) :]))
            ctx = context(key, *values[: len(_FILTERS)], **(adjust(view_values) if adjust else view_values))
            return named(view.update(ctx))

        blank = view.update(ViewContext(None))
        event(handler, [key, *filter_inputs, *(c[n] for n in names)], [c[n] for n in blank])

    wiring = Wiring(c, _STORE.get, refresh, context, filter_inputs, rerun)
    for view in views:
        if view.wire is not None:
            view.wire(wiring)

    # A tab's views are computed when it is opened (one event: the open tab is remembered in the same call).
    def opener(tab_id: str) -> Any:
        def open_tab(key, *values):
            return {selected_tab: tab_id, **refresh_views(key, tab_id, *values)}

        return open_tab

    # Each tab's event names its own outputs only: Gradio's page marks every output of an event pending and
    # then settles each one, work that grew with the 27 outputs of all views.
    for tab_id, tab in tabs.items():
        tab.select(opener(tab_id), state_inputs, {selected_tab, c["filter_summary"], *own_outputs(tab_id)}, **shared)

    _wire_loading(c, refresh, limits, judge_url)

    # Filtering. The text search starts as the visitor types (``Explorer.search_soon`` on each change of the
    # box: Gradio's ``input`` event follows key presses only, not a paste; the latest text only, no progress
    # shown): at 1M rows its 60-70 ms are done, or under way, when "Apply filters" is clicked.
    c["text"].change(
        _search_soon, [key, c["text"]], None, queue=False, show_progress="hidden", trigger_mode="always_last"
    )
    c["apply"].click(**refresh)
    c["text"].submit(**refresh)
    clearable = ["any_issues", "all_issues", "none_issues", "score_min", "score_max", "categories", "systems",
                 "text", "failing_only", "nodes"]  # fmt: skip
    c["clear"].click(lambda: [[], [], [], "", "", [], [], "", False, []], [], [c[n] for n in clearable]).then(**refresh)


def _search_soon(key: str | None, text: str | None) -> None:
    explorer = _STORE.get(key)
    if explorer is not None and text:
        explorer.search_soon(text)


def _wire_loading(c: dict[str, Any], refresh: dict[str, Any], limits: UploadLimits, judge_url: str | None) -> None:
    """Each way to load stores a new Explorer and resets the filters, then the open tab refreshes."""
    import gradio as gr

    choice_names = ["any_issues", "all_issues", "none_issues", "categories", "systems", "system_a", "system_b",
                    "score_min", "score_max", "text", "nodes"]  # fmt: skip
    load_outputs = [c["key"], c["load_message"], c["status"], c["problems"], c["problems_file"]]
    load_outputs += [c[n] for n in choice_names]
    # The one-line summary comes with the load itself, a round trip (0.1 s in Chromium at load 3; ~1 s at
    # load 5 while Gradio's run history was on) before the refresh of the open tab that follows, which
    # writes the same line (the filters are reset to none).
    load_outputs.append(c["filter_summary"])

    def finish(key: str | None, loader: Any) -> list[Any]:
        """Run a loader; on success store the report and reset the filters, else keep the current report."""
        try:
            result: LoadResult = loader()
        except UploadError as err:
            message = redact(str(err))  # a judging or discovery error may quote the endpoint
            gr.Warning(message)
            failed = f"**Could not load.** {render.escape_markdown(message)}"
            return [key, failed, gr.update(), *_problem_updates([]), *[gr.update()] * len(choice_names), gr.update()]
        explorer = Explorer(result.report)
        updates = _choice_values(explorer)
        return [
            _STORE.put(explorer),
            result.message,
            render.describe(explorer),
            *_problem_updates(getattr(result, "problems", None) or []),
            *[gr.update(**updates[n]) for n in choice_names],
            _filter_summary(ViewContext(explorer)),
        ]

    def on_upload(file, key, *names):
        if not file:
            return [key, gr.update(), gr.update(), *[gr.update()] * (len(load_outputs) - 3), None, None]
        name, mapping = Path(file).name, _mapping(names)
        table = None
        small = Path(file).is_file() and Path(file).stat().st_size <= limits.max_bytes
        if judge_url and small and Path(name).suffix.lower() in TABLE_SUFFIXES:
            # Kept in memory for "Judge it": the uploaded file itself is deleted once read.
            try:
                table = read_table_limited(file, name, limits)
            except UploadError:
                table = None
        loaded = finish(key, lambda: load_upload(file, name=name, mapping=mapping, limits=limits, discard=True))
        # The drop zone is emptied for the next file.
        return [*loaded, None, (name, table) if table is not None else None]

    def on_hub(dataset, split, key, *names):
        return finish(
            key, lambda: load_hub_dataset(dataset, split=split or "train", mapping=_mapping(names), limits=limits)
        )

    def on_sample(key):
        return finish(key, load_sample_report)

    def on_discover(key, mode, max_issues, model, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
        return finish(key, lambda: _discover(_STORE.get(key), mode, int(max_issues), model, judge_url))

    def on_judge(table, key, *names, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
        return finish(key, lambda: _judge(table, judge_url, _mapping(names), limits))

    mapping, key = c["mapping"], c["key"]
    # Progress on the load message only: Gradio's overlay on every output of a load (timers, spinners) kept
    # Chromium busy for 5-6 CPU seconds of a 12-15 s CLEAR upload on this 2-core machine (2.4-3.0 s so; 2.3 s
    # with no progress at all), time the server lost.
    shown = {"show_progress_on": [c["load_message"]]}
    upload_outputs = [*load_outputs, c["upload"], c["last_table"]]
    c["upload"].upload(on_upload, [c["upload"], key, *mapping], upload_outputs, **shown).then(**refresh)
    c["hub_load"].click(on_hub, [c["hub_id"], c["hub_split"], key, *mapping], load_outputs, **shown).then(**refresh)
    c["sample"].click(on_sample, [key], load_outputs, **shown).then(**refresh)
    discovery_inputs = [key, c["mode"], c["max_issues"], c["model"]]
    c["run_discovery"].click(on_discover, discovery_inputs, load_outputs, **shown).then(**refresh)
    c["judge"].click(on_judge, [c["last_table"], key, *mapping], load_outputs, **shown).then(**refresh)


def _problem_updates(problems: list[Any]) -> list[Any]:
    """The first problems of an upload as a table (row, id, field, problem), and all of them as a CSV."""
    import gradio as gr

    if not problems:
        return [gr.update(value=None, visible=False), gr.update(value=None, visible=False)]
    frame = render.problems_frame(problems)
    path = Path(tempfile.mkdtemp(prefix="misattribution-problems-")) / "problems.csv"
    frame.to_csv(path, index=False)
    shown = frame.head(SHOWN_PROBLEMS)
    label = f"Problems found while reading: the first {len(shown)} of {len(frame):,}"
    return [gr.update(value=shown, visible=True, label=label), gr.update(value=str(path), visible=True)]


def _choice_values(explorer: Explorer | None) -> dict[str, dict[str, Any]]:
    """The filter widgets' choices for a report, reset (keyword arguments of the widget or its update)."""
    if explorer is None:
        issues: list[Any] = []
        categories: list[Any] = []
        systems: list[str] = []
        nodes: list[Any] = []
    else:
        counts = explorer.matrix.sum(axis=0)
        issues = [(f"{explorer.issue_name(i)} ({int(n):,})", i) for i, n in zip(explorer.issue_ids, counts)]
        categories = [
            (f"{explorer.primary_of(cat)[1]} → {explorer.category_name(cat)}", cat) for cat in explorer.categories
        ]
        systems = explorer.systems
        nodes = render.node_choices(explorer.tree_table(n_resamples=0)) if explorer.has_tree else []
    return {
        "any_issues": {"choices": issues, "value": []},
        "all_issues": {"choices": issues, "value": []},
        "none_issues": {"choices": issues, "value": []},
        "categories": {"choices": categories, "value": [], "visible": bool(categories)},
        "systems": {"choices": systems, "value": [], "visible": len(systems) > 1},
        "system_a": {"choices": systems, "value": systems[0] if systems else None},
        "system_b": {"choices": systems, "value": systems[1] if len(systems) > 1 else None},
        "score_min": {"value": ""},
        "score_max": {"value": ""},
        "text": {"value": ""},
        "nodes": {"choices": nodes, "value": [], "visible": bool(nodes)},
    }


def _filter_summary(ctx: ViewContext) -> str:
    """One line above the tabs: how many rows the filters keep, and how many of them fail."""
    if ctx.explorer is None:
        return ""
    if not ctx.ready:
        return f"**{render.escape_markdown(ctx.message)}**"
    explorer, mask = ctx.explorer, ctx.mask
    rows, failing = int(mask.sum()), int((explorer.failing & mask).sum())
    share = f"{failing / rows:.1%}" if rows else "—"
    return f"**{rows:,}** of {explorer.n_rows:,} rows match · {failing:,} failing ({share})"


def _bound(value: Any, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {str(value)!r} is not a number") from None


def _filters(
    any_issues, all_issues, none_issues, scale, low, high, categories, systems, text, failing_only, nodes=()
) -> Filters:
    low, high = _bound(low, "min"), _bound(high, "max")
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


# -- what the Load tab runs ---------------------------------------------------------------------------


def discovery_modes(*, llm: bool = False) -> list[str]:
    """The modes offered in the Load view: the registry's (:mod:`misattribution.discovery.modes`), those that
    need an LLM only with ``llm=True`` (the Space has a judge endpoint), then ``clusters+rules``."""
    from misattribution.discovery.modes import mode_names

    return [*mode_names(llm=llm), "clusters+rules"]


#: Extra embedding models a Space offers, comma-separated names set by whoever runs the server.
SPACE_MODELS_ENV = "MISATTRIBUTION_SPACE_MODELS"


def embedding_models() -> list[str]:
    """The embedding models a visitor may choose: the default one, then those the server's operator lists in
    ``$MISATTRIBUTION_SPACE_MODELS``. A visitor never types a name: a free text box would let anyone probe
    which paths exist on the server through the error it gives."""
    import os

    from misattribution.discovery.embed import DEFAULT_MODEL

    extra = [m.strip() for m in os.environ.get(SPACE_MODELS_ENV, "").split(",") if m.strip()]
    return list(dict.fromkeys([DEFAULT_MODEL, *extra]))


def _discover(
    explorer: Explorer | None, mode: str, max_issues: int, model: str, endpoint: str | None = None
) -> LoadResult:
    if explorer is None:
        raise UploadError("nothing loaded: load judged rows first, then run discovery")
    allowed = embedding_models()
    model = model or allowed[0]
    if model not in allowed:  # checked against the list, never against the filesystem
        raise UploadError(f"embedding model not offered here; choose one of {', '.join(allowed)}")
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
            embedding_model=model,
            mode_options={name: {"endpoint": endpoint} for name in llm_modes} or None,
        )
    except (ValueError, ImportError, OSError) as err:
        raise UploadError(f"discovery ({mode}) failed: {err}") from None
    return LoadResult(report=report, source=f"discovery ({mode})", kind="discovery")


def _judge(table: Any, judge_url: str | None, mapping: dict[str, str], limits: UploadLimits) -> LoadResult:
    """Judge an uploaded table: ``(name, DataFrame)`` as the upload kept it in memory, or a file path."""
    if not judge_url:
        raise UploadError("no judge endpoint configured (set MISATTRIBUTION_JUDGE_URL)")
    if table is None or (isinstance(table, str) and not table):
        raise UploadError("upload a table of questions and answers first")
    from misattribution.io.tables import InputError
    from misattribution.judges import load_judge
    from misattribution.runner import judge_dataset

    if isinstance(table, (str, Path)):
        name = Path(table).name
        frame = read_table_limited(table, name, limits)
    else:
        name, frame = table
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


def _import_gradio_quietly() -> None:
    """Gradio's import, ahead of time; without Gradio installed, :func:`build_app`'s own import says so (the
    CLI then names the extra to install, on one line), not a traceback from this thread."""
    try:
        import_gradio()
    except ImportError:
        pass


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
    # Gradio's import (~1.7 s, mostly Python holding the GIL) runs while the bundle is read (Parquet, which
    # releases it) and explored (numpy): on two cores the first screen comes that much sooner.
    warm = threading.Thread(target=_import_gradio_quietly, name="import-gradio", daemon=True)
    warm.start()
    try:
        report = bundle if isinstance(bundle, IssueReport) else (load_bundle(bundle) if bundle is not None else None)
        explorer = Explorer(report) if report is not None else None
    finally:
        warm.join()
    app = build_app(explorer, max_upload_mb=max_upload_mb, judge_url=judge_url)
    app.queue(default_concurrency_limit=4)
    _, local_url, _ = app.launch(
        server_name=host,
        server_port=port,
        inbrowser=open_browser,
        prevent_thread_lock=True,
        max_file_size=f"{max_upload_mb}mb",
        quiet=True,
        footer_links=[],
        run_history=False,
    )
    print(f"misattribution Space: {local_url}", flush=True)
    app.block_thread()
