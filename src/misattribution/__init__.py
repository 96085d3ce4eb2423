"""misattribution: tell why your LLM's answers fail, not only how often.

The public API:

* the taxonomy: :func:`load_taxonomy`, :class:`Taxonomy`, :class:`Category`;
* the judge's input and output: :func:`build_messages`, :func:`render_target`, :func:`parse_judgment`,
  :class:`Judgment`;
* judging a dataset: :func:`judge_dataset` with a backend from :mod:`misattribution.judges`;
* agreement with humans: :func:`agreement_report` and the functions of :mod:`misattribution.stats`.

Each name is imported on first use (PEP 562), so ``import misattribution`` and ``misattribution --help`` load
neither pandas nor scipy: ``from misattribution import judge_dataset`` imports the runner then. A submodule
is an attribute too (``misattribution.stats`` after ``import misattribution``).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

#: Public name -> the module defining it, imported when the name is first asked for.
_EXPORTS = {
    "Judgment": "misattribution.format",
    "parse_judgment": "misattribution.format",
    "render_target": "misattribution.format",
    "build_messages": "misattribution.prompts",
    "get_prompt_template": "misattribution.prompts",
    "judge_dataset": "misattribution.runner",
    "agreement_report": "misattribution.stats",
    "Category": "misattribution.taxonomy",
    "ScoreScale": "misattribution.taxonomy",
    "Taxonomy": "misattribution.taxonomy",
    "TaxonomyError": "misattribution.taxonomy",
    "available_taxonomies": "misattribution.taxonomy",
    "load_taxonomy": "misattribution.taxonomy",
}

if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, eagerly
    from misattribution.format import Judgment, parse_judgment, render_target
    from misattribution.prompts import build_messages, get_prompt_template
    from misattribution.runner import judge_dataset
    from misattribution.stats import agreement_report
    from misattribution.taxonomy import (
        Category,
        ScoreScale,
        Taxonomy,
        TaxonomyError,
        available_taxonomies,
        load_taxonomy,
    )

__all__ = [
    "Category",
    "Judgment",
    "ScoreScale",
    "Taxonomy",
    "TaxonomyError",
    "__version__",
    "agreement_report",
    "available_taxonomies",
    "build_messages",
    "get_prompt_template",
    "judge_dataset",
    "load_taxonomy",
    "parse_judgment",
    "render_target",
]


def __getattr__(name: str) -> Any:
    """A public name, or a submodule, imported on first use and then cached in this module."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
