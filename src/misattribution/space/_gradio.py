"""Import Gradio without its import-time rewrite of ``.pyi`` stub files.

Gradio 6 re-derives a ``.pyi`` typing stub for each of its ~80 component classes whenever it is imported
(``gradio.component_meta.create_or_modify_pyi``: the class source is read and parsed, the stub compared
and rewritten inside site-packages). That is an editor aid for Gradio's own developers, and 0.6-2 s of
every cold start measured here (2 cores). :func:`import_gradio` turns it off for this process when it is
the first to import Gradio; when Gradio is already imported, or its internals differ, it changes nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

_MODULE = "gradio.component_meta"


class _NoStubs(importlib.abc.MetaPathFinder):
    """Finds ``gradio.component_meta`` as usual, then replaces its stub writer with a no-op."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            if callable(getattr(module, "create_or_modify_pyi", None)):
                module.create_or_modify_pyi = _no_stub

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _no_stub(*args: Any, **kwargs: Any) -> None:
    return None


def import_gradio() -> ModuleType:
    """``import gradio``, skipping its stub rewrite when this is the first import (see the module docstring)."""
    if "gradio" not in sys.modules and not any(isinstance(f, _NoStubs) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoStubs())
    import gradio

    for finder in [f for f in sys.meta_path if isinstance(f, _NoStubs)]:  # gradio imported by other means
        sys.meta_path.remove(finder)
    return gradio
