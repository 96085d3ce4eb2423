"""The Space's views, one module each, registered by name (see :mod:`._base`).

Importing this package registers the built-in views; a new view is one more module here (imported below)
with one function decorated by :func:`register_view`, and its test.
"""

from misattribution.space.views import agreement, charts, comparison, edit, export, instances, issues, overview, runs  # noqa: E402, F401, I001
from misattribution.space.views._base import (
    EMPTY,
    View,
    ViewContext,
    Wiring,
    get_view,
    register_view,
    registered_views,
)

__all__ = ["EMPTY", "View", "ViewContext", "Wiring", "get_view", "register_view", "registered_views"]
