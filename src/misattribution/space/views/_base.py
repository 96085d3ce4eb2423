"""The view registry: each view of the Space is one function returning *named* updates.

A view registers itself with :func:`register_view`: the decorated function takes a :class:`ViewContext`
(the report's :class:`~misattribution.explore.Explorer`, the filters, the view's own input values) and
returns a dict keyed by the names of the components its ``layout`` built. The app (:mod:`misattribution.
space.app`) builds one tab per ``tab``, collects every view's components by name and wires them; nothing
is matched by position. Adding a view is one module with one registered function and its test::

    def _layout(gr):
        return {"edits_note": gr.Markdown(elem_id="edits-note")}

    @register_view("edits", tab="Edit issues", order=70, layout=_layout)
    def edits(ctx: ViewContext) -> dict[str, Any]:
        if not ctx.ready:
            return {"edits_note": ctx.message}
        return {"edits_note": f"{len(ctx.explorer.issue_ids)} issues"}

Views are lazy: a filter change recomputes the views of the open tab only, and a tab's views are
computed when it is opened, so a chart (and the browser's 4.6 MB chart bundle) is built only when someone
looks at it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from misattribution.explore import Explorer, Filters

__all__ = [
    "EMPTY",
    "View",
    "ViewContext",
    "Wiring",
    "get_view",
    "html",
    "plot",
    "register_view",
    "registered_views",
    "table",
]

#: What a view says when nothing is loaded.
EMPTY = "Load a report first (Load tab)."


@dataclass
class ViewContext:
    """What a view computes from: the report, the filters and the values of the view's own inputs.

    ``ready`` is false when nothing is loaded or the filters do not apply to this report (an issue of a
    previous report still selected); ``message`` then says so in one line.
    """

    explorer: Explorer | None
    filters: Filters = field(default_factory=Filters)
    values: Mapping[str, Any] = field(default_factory=dict)
    page_size: int = 20
    error: str | None = None
    _mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.explorer is not None and self.error is None:
            try:
                self._mask = self.explorer.mask(self.filters)
            except KeyError as err:
                self.error = f"Filter error: {err}"

    @property
    def ready(self) -> bool:
        return self.explorer is not None and self.error is None

    @property
    def message(self) -> str:
        return self.error or EMPTY

    @property
    def mask(self) -> np.ndarray:
        """The rows that pass the filters (only when ``ready``)."""
        if self._mask is None:
            raise RuntimeError(self.message)
        return self._mask


@dataclass(frozen=True)
class View:
    """One registered view: see :func:`register_view`."""

    name: str
    tab: str
    tab_id: str
    order: int
    layout: Callable[[Any], dict[str, Any]]
    update: Callable[[ViewContext], dict[str, Any]]
    inputs: tuple[str, ...] = ()
    wire: Callable[[Wiring], None] | None = None


_VIEWS: dict[str, View] = {}


def register_view(
    name: str,
    *,
    tab: str,
    layout: Callable[[Any], dict[str, Any]],
    order: int = 100,
    tab_id: str | None = None,
    inputs: tuple[str, ...] = (),
    wire: Callable[[Wiring], None] | None = None,
) -> Callable[[Callable[[ViewContext], dict[str, Any]]], Callable[[ViewContext], dict[str, Any]]]:
    """Register the decorated function as the view ``name``.

    Args:
        name: the view's name (unique).
        tab: the label of the tab it is shown in; views sharing a tab are laid out in ``order``.
        layout: ``layout(gr)`` builds the view's components inside its tab and returns them by name
            (names are unique across views).
        order: tabs and views are laid out by increasing order.
        tab_id: the tab's id (default: ``name``).
        inputs: names of the view's own components whose values reach it as ``ctx.values``.
        wire: ``wire(wiring)`` attaches the view's own events (clicks, pages) with :class:`Wiring`.
    """

    def decorator(update: Callable[[ViewContext], dict[str, Any]]) -> Callable[[ViewContext], dict[str, Any]]:
        if name in _VIEWS and _VIEWS[name].update.__qualname__ != update.__qualname__:
            raise ValueError(f"a view named {name!r} is already registered")
        _VIEWS[name] = View(name, tab, tab_id or name, order, layout, update, tuple(inputs), wire)
        return update

    return decorator


def registered_views() -> list[View]:
    """Every registered view in layout order (the built-in ones are imported first)."""
    from misattribution.space import views  # noqa: F401  (the built-in views register on import)

    return sorted(_VIEWS.values(), key=lambda v: (v.order, v.name))


def get_view(name: str) -> View:
    views = {v.name: v for v in registered_views()}
    if name not in views:
        raise KeyError(f"no view {name!r}; views: {', '.join(views)}")
    return views[name]


@dataclass
class Wiring:
    """What a view's ``wire`` hook gets: every component by name and the app's shared handlers.

    Attributes:
        components: every component by name (the views', the filters', ``key``: the report's store key).
        explorer: ``explorer(key)`` -> the loaded report's :class:`Explorer` (or ``None``).
        refresh: keyword arguments for ``.then(**refresh)``: recompute the open tab after an event.
        context: ``context(key, *filter_values, **values)`` -> a :class:`ViewContext`.
        filter_inputs: the filter widgets, in the order ``context`` takes their values.
        rerun: ``rerun(view_name, event, inputs=(), adjust=None)``: on ``event`` (e.g. ``button.click``)
            recompute one view, ``adjust(values)`` changing its input values first (e.g. the page).
    """

    components: dict[str, Any]
    explorer: Callable[[str | None], Explorer | None]
    refresh: dict[str, Any]
    context: Callable[..., ViewContext]
    filter_inputs: list[Any]
    rerun: Callable[..., None]

    def __getitem__(self, name: str) -> Any:
        return self.components[name]


# -- updates that hide what has nothing to show (no "1 2 3" header, no blank plot frame) ----------------


def table(frame: Any) -> Any:
    """A table's update: hidden when there is no row to show."""
    import gradio as gr

    empty = frame is None or (hasattr(frame, "data") and frame.data.empty) or (hasattr(frame, "empty") and frame.empty)
    return gr.update(value=None if empty else frame, visible=not empty)


def plot(figure: Any) -> Any:
    """A plot's update: hidden when there is nothing to draw."""
    import gradio as gr

    return gr.update(value=figure, visible=figure is not None)


def html(text: str) -> Any:
    """An HTML block's update: hidden when empty."""
    import gradio as gr

    return gr.update(value=text, visible=bool(text))
