"""The issue-discovery Space as a package: :mod:`.app` (the layout, the Load tab, the wiring, ``serve``),
:mod:`.views` (one registered function per view, returning updates by component name) and :mod:`.render`
(the text, HTML, tables and figures the views show, pure functions).

``build_app`` and ``serve`` are imported on first use, so importing the package costs nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_app", "load_bundle", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from misattribution.space import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
