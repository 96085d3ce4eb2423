"""misattribution: tell why your LLM's answers fail, not only how often.

The public API:

* the taxonomy: :func:`load_taxonomy`, :class:`Taxonomy`, :class:`Category`;
* the judge's input and output: :func:`build_messages`, :func:`render_target`, :func:`parse_judgment`,
  :class:`Judgment`;
* judging a dataset: :func:`judge_dataset` with a backend from :mod:`misattribution.judges`;
* agreement with humans: :func:`agreement_report` and the functions of :mod:`misattribution.stats`.
"""

__version__ = "0.1.0.dev0"

from misattribution.format import Judgment, parse_judgment, render_target
from misattribution.prompts import build_messages, get_prompt_template
from misattribution.runner import judge_dataset
from misattribution.stats import agreement_report
from misattribution.taxonomy import Category, ScoreScale, Taxonomy, TaxonomyError, available_taxonomies, load_taxonomy

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
