"""Checking AttriData rows: every problem of a table in one pass, each naming source, row and field.

:func:`validate_rows` checks rows in the schema's columns (see :mod:`misattribution.data.schema`):

* ``id``, ``question``, ``answer``, ``language`` and ``feedback`` are present and non-empty text
  (an empty answer is an error in the dataset, unlike in a table to judge), ids are unique;
* ``language`` is an ISO 639-1 code (``en``, ``zh``; not ``zh-CN`` nor ``chinese``);
* ``score`` is an integer on the taxonomy's scale;
* ``misattribution`` lists secondary categories of the taxonomy (ids or names, either language);
* the paper's rule: a misattribution is given exactly when the score is below the scale's
  ``error_below`` (the top score has none, a lower score has at least one) -- an error or, with
  ``rule="warning"``, a warning;
* when present, the derived columns agree with the rest (``primary`` is the primaries of
  ``misattribution``, agreements lie in [0, 1], ...).

The cell parsers :func:`parse_score` and :func:`parse_labels` are shared with the builder, so that a
score or a category list means the same thing in an annotator's export and in a dataset row.

Example:
    >>> report = validate_rows([
    ...     {"id": "r1", "question": "2+2?", "answer": "4", "language": "en", "feedback": "Right.",
    ...      "score": 3, "misattribution": []},
    ...     {"id": "r1", "question": "", "answer": "5", "language": "english", "feedback": "Wrong.",
    ...      "score": 3, "misattribution": ["Result Error"]},
    ... ], source="demo.jsonl")
    >>> report.ok
    False
    >>> print(report.format())
    demo.jsonl: 4 error(s):
      demo.jsonl: row 1 (id 'r1'), field 'id': duplicate id (first at row 0)
      demo.jsonl: row 1 (id 'r1'), field 'question': empty
      demo.jsonl: row 1 (id 'r1'), field 'language': 'english' is not an ISO 639-1 code (e.g. 'en', 'zh')
      demo.jsonl: row 1 (id 'r1'), field 'misattribution': the top score 3 must come with no misattribution, got ['result_error']
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from misattribution.data.schema import COLUMNS, ISO_639_1, REQUIRED_TEXT, TEXT_COLUMNS
from misattribution.io.tables import InputError, is_missing, read_table
from misattribution.taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "NO_ERROR_MARKERS",
    "DataValidationError",
    "Problem",
    "ValidationReport",
    "check_rule",
    "parse_labels",
    "parse_score",
    "validate_rows",
]

Rule = Literal["error", "warning"]
RULES = ("error", "warning")

#: Text an annotator may write for "no error" (compared after stripping and case folding).
NO_ERROR_MARKERS = frozenset({"", "none", "null", "no", "no error", "n/a", "-", "[]", "无", "无错误", "没有"})
_LABEL_SEPARATORS = (";", "；")


@dataclass(frozen=True)
class Problem:
    """One problem in one cell (or one row, or one file when ``row`` / ``field`` are ``None``).

    ``row`` is the 0-based position of the row in its table (for a JSONL file, the n-th non-blank line).
    """

    source: str
    row: int | None
    id: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        parts = []
        if self.row is not None:
            parts.append(f"row {self.row}" + (f" (id {self.id!r})" if self.id else ""))
        elif self.id:
            parts.append(f"id {self.id!r}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        where = ", ".join(parts)
        return f"{self.source}: {where}: {self.message}" if where else f"{self.source}: {self.message}"


class DataValidationError(InputError):
    """The data has errors. ``problems`` holds them all; the message lists them all.

    An :class:`~misattribution.io.tables.InputError`, hence a ``ValueError``.
    """

    def __init__(self, problems: list[Problem], header: str = "") -> None:
        self.problems = list(problems)
        header = header or f"{len(self.problems)} data error(s)"
        super().__init__(header + ":\n  " + "\n  ".join(map(str, self.problems)))


@dataclass
class ValidationReport:
    """The problems found in some rows: ``errors`` block a build, ``warnings`` do not."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    source: str = "<rows>"

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def add(self, problem: Problem, severity: str = "error") -> None:
        (self.errors if severity == "error" else self.warnings).append(problem)

    def extend(self, other: ValidationReport) -> None:
        """Append another report's problems (e.g. of another file)."""
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)

    def format(self, *, max_listed: int | None = None, warnings: bool = True) -> str:
        """Every problem, one a line (or the first ``max_listed`` of each kind)."""
        lines: list[str] = []
        for kind, problems in (("error", self.errors), ("warning", self.warnings if warnings else [])):
            if not problems:
                continue
            shown = problems if max_listed is None else problems[:max_listed]
            lines.append(f"{self.source}: {len(problems)} {kind}(s):")
            lines.extend(f"  {problem}" for problem in shown)
            if len(shown) < len(problems):
                lines.append(f"  ... and {len(problems) - len(shown)} more")
        return "\n".join(lines) if lines else f"{self.source}: no problems"

    def raise_for_errors(self) -> None:
        """Raise :class:`DataValidationError` listing every error, if there is any."""
        if self.errors:
            raise DataValidationError(self.errors, f"{self.source}: {len(self.errors)} error(s)")


# -- cell parsers ----------------------------------------------------------------------------------


def parse_score(value: Any, taxonomy: Taxonomy) -> tuple[int | None, str | None]:
    """``(score, None)`` for an integer on the scale, else ``(None, why)``.

    Accepts ints, integral floats (``2.0``, as pandas reads a column with gaps) and integer text
    (``"2"``, as CSV holds it).

    >>> tax = load_taxonomy()
    >>> parse_score("2", tax), parse_score(2.5, tax)[1], parse_score(7, tax)[1]
    ((2, None), 'not an integer: 2.5', '7 is off the scale 0-3')
    """
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None, "missing"
    if isinstance(value, (bool, np.bool_)):
        return None, f"not an integer: {value!r}"
    number: float
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None, f"not an integer: {value!r}"
    else:
        return None, f"not an integer: {type(value).__name__}"
    if isinstance(number, float) and (not math.isfinite(number) or not number.is_integer()):
        return None, f"not an integer: {value}"
    score = int(number)
    scale = taxonomy.scale
    if not scale.min <= score <= scale.max:
        return None, f"{score} is off the scale {scale.min}-{scale.max}"
    return score, None


def _label_items(value: Any) -> list[Any] | None:
    """A misattribution cell as a list of raw labels; ``None`` when it is missing."""
    if is_missing(value):
        return None
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.casefold() in NO_ERROR_MARKERS:
            return []
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                return parsed
        for separator in _LABEL_SEPARATORS:
            text = text.replace(separator, _LABEL_SEPARATORS[0])
        return [part.strip() for part in text.split(_LABEL_SEPARATORS[0]) if part.strip()]
    return [value]


def parse_labels(value: Any, taxonomy: Taxonomy) -> tuple[list[str] | None, str | None]:
    """``(ids, None)`` for a valid misattribution cell, else ``(None, why)``.

    A cell is a list (or array) of ids, names or ``ClassLabel`` indices, a JSON list as text, or
    ``"a;b"`` text; ``""``, ``"None"``, ``"无"`` and ``[]`` mean no error. Ids come back de-duplicated
    in taxonomy order.

    >>> tax = load_taxonomy()
    >>> parse_labels("结果错误; Typos", tax)
    (['typos', 'result_error'], None)
    >>> parse_labels('["typos"]', tax), parse_labels("无", tax)
    ((['typos'], None), ([], None))
    >>> parse_labels(["Wrongness"], tax)[1]
    "unknown category 'Wrongness'"
    """
    items = _label_items(value)
    if items is None:
        return None, "missing (use an empty list for no error)"
    secondary = taxonomy.secondary_ids
    ids: set[str] = set()
    unknown: list[str] = []
    primaries: list[str] = []
    for item in items:
        if isinstance(item, numbers.Integral) and not isinstance(item, (bool, np.bool_)):
            if 0 <= int(item) < len(secondary):
                ids.add(secondary[int(item)])
            else:
                unknown.append(repr(int(item)))
            continue
        category = taxonomy.resolve(item) if isinstance(item, str) else None
        if category is None:
            unknown.append(repr(item))
        elif category.is_primary:
            primaries.append(repr(item))
        else:
            ids.add(category.id)
    messages = []
    if unknown:
        messages.append(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}")
    if primaries:
        messages.append(f"{', '.join(primaries)} is a primary category (list secondary ones)")
    if messages:
        return None, "; ".join(messages)
    return [cid for cid in secondary if cid in ids], None


def check_rule(score: int, labels: list[str], taxonomy: Taxonomy) -> str | None:
    """Why ``(score, labels)`` breaks the paper's rule, or ``None`` when it holds.

    >>> check_rule(1, [], load_taxonomy())
    'score 1 is below 3 and needs a misattribution, got none'
    """
    scale = taxonomy.scale
    if scale.expects_error(score) and not labels:
        return f"score {score} is below {scale.error_below} and needs a misattribution, got none"
    if not scale.expects_error(score) and labels:
        top = "the top score" if score == scale.max else "score"
        return f"{top} {score} must come with no misattribution, got {labels}"
    return None


# -- rows ------------------------------------------------------------------------------------------
def _row_id(value: Any) -> str | None:
    if is_missing(value):
        return None
    return value if isinstance(value, str) else str(value)


class _RowChecker:
    """Collects the problems of one table; ``locate`` may re-attribute a (row, field) to another source."""

    def __init__(self, frame: pd.DataFrame, source: str, taxonomy: Taxonomy, rule: Rule) -> None:
        self.frame = frame
        self.source = source
        self.taxonomy = taxonomy
        self.rule = rule
        self.report = ValidationReport(source=source)
        self._memo: dict[str, dict[Any, Any]] = {}

    def problem(
        self, position: int | None, row_id: str | None, column: str | None, message: str, severity: str = "error"
    ) -> None:
        self.report.add(Problem(self.source, position, row_id, column, message), severity)

    def run(self) -> ValidationReport:
        frame = self.frame
        required = (*REQUIRED_TEXT, "score", "misattribution")
        for column in required:
            if column not in frame.columns:
                self.problem(None, None, column, f"no such column (columns: {', '.join(map(str, frame.columns))})")
        unknown = [str(c) for c in frame.columns if c not in COLUMNS]
        if unknown:
            self.problem(None, None, None, f"unknown column(s) {unknown} are ignored", "warning")
        ids = frame["id"].tolist() if "id" in frame.columns else [None] * len(frame)
        cells = _cells(frame)
        first_seen: dict[str, int] = {}
        for position, raw_id in enumerate(ids):
            row_id = _row_id(raw_id)
            if row_id is not None and row_id.strip():
                if row_id in first_seen:
                    self.problem(position, row_id, "id", f"duplicate id (first at row {first_seen[row_id]})")
                else:
                    first_seen[row_id] = position
            self.check_record(position, row_id, cells)
        return self.report

    def check_record(self, position: int, row_id: str | None, cells: dict[str, list[Any]]) -> None:
        """The problems of row ``position``; ``cells`` holds each column's cells (see :func:`_cells`)."""
        for column in TEXT_COLUMNS:
            if column not in cells:
                continue
            value = cells[column][position]
            if type(value) is str:  # the common cell: only a blank one is a problem
                if column in REQUIRED_TEXT and not value.strip():
                    self.problem(position, row_id, column, "empty")
            elif is_missing(value):
                if column in REQUIRED_TEXT:
                    self.problem(position, row_id, column, "missing")
            elif not isinstance(value, str):
                if column != "id" or not isinstance(value, numbers.Integral):
                    self.problem(position, row_id, column, f"expected text, got {type(value).__name__}")
            elif column in REQUIRED_TEXT and not value.strip():
                self.problem(position, row_id, column, "empty")
        language = cells["language"][position] if "language" in cells else None
        if isinstance(language, str) and language.strip() and language not in ISO_639_1:
            hint = language.strip().lower().split("-")[0].split("_")[0]
            suggestion = f" (use {hint!r})" if hint in ISO_639_1 else " (e.g. 'en', 'zh')"
            self.problem(position, row_id, "language", f"{language!r} is not an ISO 639-1 code{suggestion}")
        score, labels = None, None
        tax = self.taxonomy
        if "score" in cells:
            value = cells["score"][position]
            score, why = self.memo("score", _cell_key(value), parse_score, value, tax)
            if why:
                self.problem(position, row_id, "score", why)
        if "misattribution" in cells:
            value = cells["misattribution"][position]
            labels, why = self.memo("labels", _cell_key(value), parse_labels, value, tax)
            if why:
                self.problem(position, row_id, "misattribution", why)
        if score is not None and labels is not None:
            why = self.memo("rule", (score, *labels), check_rule, score, labels, tax)
            if why:
                self.problem(position, row_id, "misattribution", why, self.rule)
        if labels is not None:
            self.check_derived(position, row_id, cells, labels)

    def memo(self, kind: str, key: Any, check: Any, *args: Any) -> Any:
        """``check(*args)``, computed once per distinct ``key`` of a kind (rows repeat their scores and labels);
        without a key (``None``, or one holding an unhashable item) computed each time. The result is shared
        by the rows with that key: callers only read it."""
        if key is None:
            return check(*args)
        table = self._memo.setdefault(kind, {})
        try:
            return table[key]
        except KeyError:
            table[key] = found = check(*args)
            return found
        except TypeError:  # an unhashable item
            return check(*args)

    def check_derived(self, position: int, row_id: str | None, cells: dict[str, list[Any]], labels: list[str]) -> None:
        if "primary" in cells:
            given = cells["primary"][position]
            key = _cell_key(given)
            why = self.memo("primary", None if key is None else (key, *labels), self.primary_problem, given, labels)
            if why:
                self.problem(position, row_id, "primary", why)
        if "num_annotators" in cells:
            count = cells["num_annotators"][position]
            if not is_missing(count) and (
                isinstance(count, (bool, np.bool_))
                or not isinstance(count, numbers.Real)
                or count < 0
                or count != int(count)
            ):
                self.problem(position, row_id, "num_annotators", f"expected a count, got {count!r}")
        for column in ("score_agreement", "misattribution_agreement"):
            if column in cells:
                value = cells[column][position]
                if not is_missing(value) and (not isinstance(value, numbers.Real) or not 0 <= float(value) <= 1):
                    self.problem(position, row_id, column, f"expected a share in [0, 1], got {value!r}")
        if "adjudicated" in cells:
            flag = cells["adjudicated"][position]
            if not is_missing(flag) and not isinstance(flag, (bool, np.bool_)):
                self.problem(position, row_id, "adjudicated", f"expected true or false, got {flag!r}")

    def primary_problem(self, primary: Any, labels: list[str]) -> str | None:
        """Why a ``primary`` cell is not the primaries of the (valid) misattribution ``labels``, or ``None``."""
        given = _label_items(primary)
        expected = self.taxonomy.primaries_of(labels)
        primary_ids = self.taxonomy.primary_ids
        resolved = []
        for item in given or []:
            if isinstance(item, numbers.Integral) and 0 <= int(item) < len(primary_ids):
                resolved.append(primary_ids[int(item)])
            else:
                category = self.taxonomy.resolve(item) if isinstance(item, str) else None
                resolved.append(category.id if category is not None else repr(item))
        if given is not None and sorted(set(resolved)) != sorted(expected):
            return f"{resolved} is not the primaries of the misattribution {expected}"
        return None


def _cells(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Each column's cells as ``frame.to_dict("records")`` gives them (in object and extension-typed columns
    numpy scalars as Python ones and ``pd.NA`` as ``None``; of repeated column names the last), one list per
    column instead of a dict per row (a dict per row cost a third of checking 100,000 rows)."""
    from pandas.core.dtypes.cast import maybe_box_native

    cells: dict[str, list[Any]] = {}
    for index, column in enumerate(frame.columns):
        values = frame.iloc[:, index].tolist()
        dtype = frame.dtypes.iloc[index]
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.api.extensions.ExtensionDtype):
            values = [v if type(v) is str or v is None else maybe_box_native(v) for v in values]
        cells[column] = values
    return cells


def _cell_key(value: Any) -> Any:
    """A dict key for a cell that tells apart any two cells a check tells apart (``1``, ``1.0`` and ``True``
    are equal keys in a dict, not equal cells: the key holds each item's type; ``-0.0`` and ``0.0`` print
    apart: a float is keyed by its repr), or ``None`` for a cell of another kind (checked each time)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float:
        return (kind, repr(value))
    if kind is list or kind is tuple:
        return (kind, *[(type(item), repr(item) if type(item) is float else item) for item in value])
    return None


def validate_rows(
    rows: Any,
    *,
    taxonomy: Taxonomy | str | None = None,
    source: str = "<rows>",
    rule: Rule = "error",
) -> ValidationReport:
    """Check AttriData rows against the schema and the taxonomy; report every problem.

    Args:
        rows: a DataFrame, a ``datasets.Dataset``, records or a file (anything
            :func:`~misattribution.io.tables.read_table` reads) in the schema's columns. The derived
            columns (``primary``, ``num_annotators``, agreements, ``adjudicated``) are optional and
            checked when present.
        taxonomy: the taxonomy (name, path or object; default ``attridata-v1``).
        source: the name used in the messages (a file name).
        rule: whether breaking the paper's score / misattribution rule is an ``"error"`` or a
            ``"warning"``.

    Returns:
        A :class:`ValidationReport`; call ``raise_for_errors()`` to turn errors into an exception.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    frame, label = read_table(rows, name=source)
    return _RowChecker(frame, label, load_taxonomy(taxonomy), rule).run()
