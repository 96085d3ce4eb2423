"""Building AttriData from raw annotations: read, check, aggregate, split, write.

The inputs are three kinds of table (CSV, JSONL or Parquet):

* the *items*: ``id``, ``question``, ``answer``, ``reference``, ``instruction``, ``language``,
  ``source``, ``feedback`` (the final explanation shipped with the row);
* one *export per annotator* (or several annotators per file): ``id``, ``score``,
  ``misattribution`` and ``annotator`` -- when the ``annotator`` column is absent, the file's stem is
  the annotator (``ann_a.csv`` -> ``ann_a``). A misattribution cell is a list, a JSON list as text, or
  ``"a;b"`` text, of category ids or names in either language; ``""``, ``"None"`` and ``"无"`` mean no
  error (see :func:`~misattribution.data.validate.parse_labels`);
* optionally the *adjudication*: ``id``, ``score``, ``misattribution`` (and an optional ``feedback``
  that replaces the item's), the decision of an adjudicator on disputed items.

:func:`build_attridata` reads them all, checks every cell, aggregates (:func:`aggregate`), checks the
aggregated rows against the schema and the paper's rule, splits (:func:`split_train_test`) and, only
when nothing is wrong, returns (and optionally writes) the dataset. Every problem of every file is
reported in one :class:`~misattribution.data.validate.DataValidationError`, each naming its file, row
and field.

Aggregation rules
-----------------
* score: the most frequent score of the item's annotators; on a tie, the *lowest* of the tied scores
  (the conservative choice: a disputed answer is not called correct). Ties are reported as warnings so
  that they get adjudicated;
* categories: those chosen by a strict majority (more than half) of the item's annotators; a category
  chosen by exactly half is left out and reported as a tie;
* an adjudication row, when there is one, replaces both (``adjudicated=True``);
* ``primary`` is derived from the categories; ``score_agreement`` and ``misattribution_agreement`` are
  the shares of annotators whose score, and whose category set, equal the final ones.

A majority can break the paper's rule even when every annotator follows it (scores 2, 2, 3 with the
categories {a}, {b}, {}: the majority score 2 comes with no majority category). Such items are
reported naming the aggregation; an adjudication row settles them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misattribution.data.agreement import agreement_report
from misattribution.data.schema import COLUMNS, REQUIRED_TEXT, TEXT_COLUMNS, attridata_features
from misattribution.data.validate import (
    RULES,
    DataValidationError,
    Problem,
    Rule,
    ValidationReport,
    check_rule,
    is_missing,
    parse_labels,
    parse_score,
    validate_rows,
)
from misattribution.io.tables import read_table
from misattribution.taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "ANNOTATION_COLUMNS",
    "ITEM_COLUMNS",
    "PAPER_TEST_SIZE",
    "BuildResult",
    "aggregate",
    "build_attridata",
    "normalize_question",
    "read_annotations",
    "split_train_test",
]

#: The paper's split: 18,806 training and 2,896 test rows.
PAPER_TEST_SIZE = 2896 / (18806 + 2896)
ITEM_COLUMNS = ("id", "question", "answer", "reference", "instruction", "language", "source", "feedback")
#: The columns of :func:`read_annotations`' frame (``file`` and ``row`` locate the annotation).
ANNOTATION_COLUMNS = ("id", "annotator", "score", "misattribution", "file", "row")
_AGGREGATED = "aggregated annotations"
_ADJUDICATOR = "<adjudicator>"


# -- reading ---------------------------------------------------------------------------------------
def _label(source: Any) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"<{type(source).__name__}>"


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every good line of a JSONL file; one problem per bad line (the index is the non-blank line number)."""
    records, positions, problems = [], [], []
    position = 0
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as err:
            problems.append(Problem(str(path), position, None, None, f"line {number} is not UTF-8 text ({err.reason})"))
        except json.JSONDecodeError as err:
            problems.append(Problem(str(path), position, None, None, f"line {number} is not valid JSON ({err.msg})"))
        else:
            if isinstance(record, dict):
                records.append(record)
                positions.append(position)
            else:
                kind = type(record).__name__
                problems.append(
                    Problem(str(path), position, None, None, f"line {number} is a JSON {kind}, not an object")
                )
        position += 1
    frame = pd.DataFrame.from_records(records)
    frame.index = pd.Index(positions, dtype="int64")
    return frame, problems


def _read(source: Any) -> tuple[pd.DataFrame, str, list[Problem]]:
    """A table and its label; an unreadable file becomes one problem and an empty table."""
    label = _label(source)
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".jsonl" and Path(source).is_file():
        frame, problems = _read_jsonl(Path(source))
        return frame, label, problems
    try:
        frame, label = read_table(source, name=label)
    except Exception as err:  # any reader failure is reported with the other problems
        return pd.DataFrame(), label, [Problem(label, None, None, None, f"cannot read: {err}")]
    return frame.reset_index(drop=True), label, []


def _as_id(value: Any) -> str | None:
    """Ids are text; a number (``7`` or pandas' ``7.0``) becomes ``"7"``; blank is missing."""
    if is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if text.strip() else None


def _missing_columns(frame: pd.DataFrame, label: str, columns: Iterable[str]) -> list[Problem]:
    present = ", ".join(map(str, frame.columns)) or "none"
    return [Problem(label, None, None, c, f"no such column (columns: {present})") for c in columns if c not in frame]


@dataclass
class _Decisions:
    """Valid annotation (or adjudication) rows and the problems found reading them."""

    frame: pd.DataFrame
    report: ValidationReport


def _decision(
    record: dict[str, Any], where: tuple[str, int], annotator: Any, tax: Taxonomy, rule: Rule, report: ValidationReport
) -> dict[str, Any] | None:
    """One annotation (or adjudication) row checked cell by cell; ``None`` when it cannot be used."""
    row_id = _as_id(record.get("id"))

    def problem(field_name: str, message: str, severity: str = "error") -> None:
        report.add(Problem(*where, row_id, field_name, message), severity)

    if row_id is None:
        problem("id", "missing")
    if is_missing(annotator) or not str(annotator).strip():
        problem("annotator", "missing")
        annotator = None
    score, why = parse_score(record.get("score"), tax)
    if why:
        problem("score", why)
    labels, why = parse_labels(record.get("misattribution"), tax)
    if why:
        problem("misattribution", why)
    if score is not None and labels is not None:
        why = check_rule(score, labels, tax)
        if why:
            who = "the adjudication" if annotator == _ADJUDICATOR else f"annotator {annotator!r}"
            problem("misattribution", f"{who}: {why}", rule)
    if row_id is None or annotator is None or score is None or labels is None:
        return None
    feedback = record.get("feedback")
    return {
        "id": row_id,
        "annotator": str(annotator),
        "score": score,
        "misattribution": labels,
        "feedback": None if is_missing(feedback) or not str(feedback).strip() else str(feedback),
        "file": where[0],
        "row": where[1],
    }


def _read_decisions(sources: Sequence[Any], tax: Taxonomy, rule: Rule, *, adjudication: bool) -> _Decisions:
    """Annotator exports (or the adjudication): one row per valid decision, every problem reported."""
    report = ValidationReport(source="adjudication" if adjudication else "annotations")
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], str] = {}
    for source in sources:
        frame, label, problems = _read(source)
        report.errors.extend(problems)
        if not len(frame.columns):
            report.errors.extend([] if problems else [Problem(label, None, None, None, "no rows")])
            continue
        missing = _missing_columns(frame, label, ("id", "score", "misattribution"))
        has_stem = isinstance(source, (str, Path))
        if not adjudication and "annotator" not in frame.columns and not has_stem:
            missing.append(Problem(label, None, None, "annotator", "no column 'annotator' and no file name to use"))
        if missing:
            report.errors.extend(missing)
            continue
        has_origin = {"file", "row"} <= set(frame.columns)  # a frame of read_annotations
        for position, record in zip(frame.index, frame.to_dict("records")):
            where = (str(record["file"]), int(record["row"])) if has_origin else (label, int(position))
            if adjudication:
                annotator = _ADJUDICATOR
            else:
                annotator = record["annotator"] if "annotator" in frame.columns else Path(str(source)).stem
            decision = _decision(record, where, annotator, tax, rule, report)
            if decision is None:
                continue
            key = (decision["id"], decision["annotator"])
            if key in seen:
                what = (
                    "the item is adjudicated twice" if adjudication else f"annotator {annotator!r} rated the item twice"
                )
                report.add(Problem(*where, decision["id"], "id", f"{what} (first at {seen[key]})"))
                continue
            seen[key] = f"{where[0]} row {where[1]}"
            rows.append(decision)
    columns = [*ANNOTATION_COLUMNS, "feedback"] if adjudication else list(ANNOTATION_COLUMNS)
    frame = pd.DataFrame(rows, columns=[*ANNOTATION_COLUMNS, "feedback"])[columns]
    return _Decisions(frame.astype({"score": "int64", "row": "int64"}), report)


def _as_list(paths: Any) -> list[Any]:
    if paths is None:
        return []
    if isinstance(paths, (str, Path, pd.DataFrame, dict)) or hasattr(paths, "features"):
        return [paths]
    return list(paths)


def read_annotations(
    paths: str | Path | Sequence[str | Path], *, taxonomy: Taxonomy | str | None = None, rule: Rule = "error"
) -> pd.DataFrame:
    """Read annotator exports into one long frame, one row per (item, annotator).

    Columns: ``id``, ``annotator``, ``score`` (int), ``misattribution`` (list of ids, taxonomy
    order), ``file`` and ``row`` (where the annotation comes from). Files may be CSV, JSONL or Parquet
    and hold one or several annotators (see the module docstring for the cell formats).

    Raises:
        DataValidationError: listing every problem of every file (unreadable line, missing column,
            missing id, off-scale score, unknown category, an annotator rating an item twice, and --
            with ``rule="error"`` -- annotations that break the paper's rule), each naming the file,
            the row and the field.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    decisions = _read_decisions(_as_list(paths), load_taxonomy(taxonomy), rule, adjudication=False)
    decisions.report.raise_for_errors()
    if decisions.report.warnings:
        warnings.warn(decisions.report.format(), UserWarning, stacklevel=2)
    return decisions.frame


# -- aggregation -----------------------------------------------------------------------------------
@dataclass
class _Inputs:
    items: pd.DataFrame
    items_label: str
    annotations: pd.DataFrame
    adjudications: pd.DataFrame
    report: ValidationReport
    absent_item_columns: set[str] = field(default_factory=set)


def _read_items(items: Any) -> tuple[pd.DataFrame, str, ValidationReport, set[str]]:
    frame, label, problems = _read(items)
    report = ValidationReport(source=label, errors=problems)
    absent = {c for c in REQUIRED_TEXT if c not in frame.columns}
    if len(frame.columns) or not problems:
        report.errors.extend(_missing_columns(frame, label, REQUIRED_TEXT))
    extra = [str(c) for c in frame.columns if c not in ITEM_COLUMNS]
    if extra:
        report.add(
            Problem(label, None, None, None, f"column(s) {extra} are not item columns and are ignored"), "warning"
        )
    frame = frame.reindex(columns=list(ITEM_COLUMNS))
    frame["id"] = [_as_id(value) for value in frame["id"]]
    return frame, label, report, absent


def _gather(items: Any, annotations: Any, adjudication: Any, tax: Taxonomy, rule: Rule) -> _Inputs:
    """Read every input and cross-check them (unknown ids); every problem goes into one report."""
    items_frame, items_label, report, absent = _read_items(items)
    annotated = _read_decisions(_as_list(annotations), tax, rule, adjudication=False)
    adjudicated = _read_decisions(_as_list(adjudication), tax, rule, adjudication=True)
    report.extend(annotated.report)
    report.extend(adjudicated.report)
    known = {i for i in items_frame["id"] if i is not None}
    for decisions in (annotated, adjudicated):
        for record in decisions.frame.to_dict("records"):
            if record["id"] not in known:
                report.add(Problem(record["file"], record["row"], record["id"], "id", "no item has this id"))
    return _Inputs(items_frame, items_label, annotated.frame, adjudicated.frame, report, absent)


def _majority(annotations: list[dict[str, Any]], tax: Taxonomy) -> tuple[int | None, list[str], list[str]]:
    """Majority score and categories of one item, with a note per tie."""
    if not annotations:
        return None, [], []
    notes = []
    counts = Counter(a["score"] for a in annotations)
    top = max(counts.values())
    tied = sorted(score for score, count in counts.items() if count == top)
    if len(tied) > 1:
        notes.append(f"scores {tied} tie ({top} vote(s) each); took the lowest, {tied[0]}")
    n = len(annotations)
    chosen = Counter(category for a in annotations for category in a["misattribution"])
    labels = [c for c in tax.secondary_ids if chosen[c] * 2 > n]
    half = [c for c in tax.secondary_ids if chosen[c] * 2 == n]
    if half:
        notes.append(
            f"categor{'y' if len(half) == 1 else 'ies'} {half} chosen by exactly half ({n // 2} of {n}); left out"
        )
    return tied[0], labels, notes


def _aggregate_item(
    item: dict[str, Any], annotations: list[dict[str, Any]], adjudication: dict[str, Any] | None, tax: Taxonomy
) -> tuple[dict[str, Any], list[Problem], str]:
    """One item's row, its unsettled ties, and how its label was reached (for messages)."""
    score, labels, notes = _majority(annotations, tax)
    ties = []
    if adjudication is not None:
        score, labels = adjudication["score"], adjudication["misattribution"]
        item = {**item, "feedback": adjudication["feedback"] or item["feedback"]}
        how = f"{adjudication['file']} row {adjudication['row']}"
    else:
        for note in notes:
            field_name = "score" if note.startswith("scores") else "misattribution"
            ties.append(Problem(_AGGREGATED, None, item["id"], field_name, f"{note}; add an adjudication row"))
        votes = ", ".join(f"{a['annotator']}: {a['score']} {a['misattribution']}" for a in annotations)
        how = f"majority of {len(annotations)} annotator(s) ({votes})"
    n = len(annotations)
    row = {
        **{column: item.get(column) for column in ITEM_COLUMNS},
        "score": score,
        "misattribution": labels if score is not None else None,
        "primary": tax.primaries_of(labels) if score is not None else None,
        "num_annotators": n,
        "score_agreement": sum(a["score"] == score for a in annotations) / n if n else None,
        "misattribution_agreement": sum(a["misattribution"] == labels for a in annotations) / n if n else None,
        "adjudicated": adjudication is not None,
    }
    return row, ties, how


def _aggregate(inputs: _Inputs, tax: Taxonomy) -> tuple[pd.DataFrame, list[Problem], list[str]]:
    """The rows in items order and schema columns, the unsettled ties, and how each label was reached."""
    by_item: dict[str, list[dict[str, Any]]] = {}
    for record in inputs.annotations.to_dict("records"):
        by_item.setdefault(record["id"], []).append(record)
    decided = {record["id"]: record for record in inputs.adjudications.to_dict("records")}
    rows, ties, how = [], [], []
    for item in inputs.items.to_dict("records"):
        known = item["id"] is not None
        row, item_ties, item_how = _aggregate_item(
            item, by_item.get(item["id"], []) if known else [], decided.get(item["id"]) if known else None, tax
        )
        rows.append(row)
        ties.extend(item_ties)
        how.append(item_how)
    frame = pd.DataFrame(rows, columns=list(COLUMNS)).astype(object)
    for column in TEXT_COLUMNS:
        frame[column] = [None if is_missing(v) else v for v in frame[column]]
    typed = {"num_annotators": "int64", "score_agreement": "float64", "misattribution_agreement": "float64"}
    if frame["score"].notna().all():
        typed["score"] = "int64"
    return frame.astype({**typed, "adjudicated": "bool"}), ties, how


def _attribute(problem: Problem, record: dict[str, Any], item_row: int, inputs: _Inputs, how: str) -> Problem | None:
    """Point a problem of an aggregated row at its origin: the items file, the adjudication, or the votes."""
    if problem.field not in ("score", "misattribution", "primary"):
        return replace(problem, source=inputs.items_label, row=item_row)
    if is_missing(record["score"]):  # neither votes nor adjudication: one problem, not one per field
        if problem.field != "score" or record["id"] is None:
            return None
        message = "no annotation and no adjudication for this item"
        return replace(problem, source=inputs.items_label, row=item_row, field="id", message=message)
    if record["adjudicated"]:
        adjudication = inputs.adjudications.set_index("id").loc[record["id"]]
        return replace(problem, source=adjudication["file"], row=int(adjudication["row"]))
    return replace(problem, row=None, message=f"{problem.message} -- {how}; add an adjudication row")


def _check_final(frame: pd.DataFrame, inputs: _Inputs, how: list[str], tax: Taxonomy, rule: Rule) -> ValidationReport:
    """Validate the aggregated rows; attribute each problem to the file it comes from."""
    checked = validate_rows(frame, taxonomy=tax, source=_AGGREGATED, rule=rule)
    report = ValidationReport(source=_AGGREGATED)
    records = frame.to_dict("records")
    for severity, problems in (("error", checked.errors), ("warning", checked.warnings)):
        for problem in problems:
            if problem.row is None or problem.field in inputs.absent_item_columns:
                continue  # reported once for the whole column when the items were read
            row = problem.row
            attributed = _attribute(problem, records[row], int(inputs.items.index[row]), inputs, how[row])
            if attributed is not None:
                report.add(attributed, severity)
    return report


def _warn_ties(problems: list[Problem]) -> None:
    if problems:
        listed = "\n  ".join(map(str, problems))
        warnings.warn(f"{len(problems)} warning(s) (ties: adjudicate them):\n  {listed}", UserWarning, stacklevel=3)


def aggregate(
    items: Any,
    annotations: Any,
    adjudications: Any = None,
    *,
    taxonomy: Taxonomy | str | None = None,
) -> pd.DataFrame:
    """One AttriData row per item, in ``schema.COLUMNS`` order (see "Aggregation rules" above).

    Args:
        items: the item table (a path, DataFrame or records) with the columns of ``ITEM_COLUMNS``.
        annotations: the frame of :func:`read_annotations`, or the export paths.
        adjudications: a table of ``id``, ``score``, ``misattribution`` (optional ``feedback``), or None.
        taxonomy: the taxonomy (default ``attridata-v1``).

    Raises:
        DataValidationError: when an input cannot be read or holds invalid cells (see
            :func:`read_annotations`); rule violations of the result are left to
            :func:`~misattribution.data.validate.validate_rows`. Ties are reported in one ``UserWarning``.

    Example:
        >>> items = [{"id": "q1", "question": "2+2?", "answer": "5", "language": "en", "feedback": "Wrong sum."}]
        >>> votes = [{"id": "q1", "annotator": a, "score": s, "misattribution": m}
        ...          for a, s, m in [("a", 1, ["result_error"]), ("b", 1, ["Result Error", "typos"]), ("c", 2, ["typos"])]]
        >>> row = aggregate(items, pd.DataFrame(votes)).to_dict("records")[0]
        >>> row["score"], row["misattribution"], row["primary"], round(row["score_agreement"], 3)
        (1, ['typos', 'result_error'], ['response_quality', 'reasoning_capability'], 0.667)
    """
    tax = load_taxonomy(taxonomy)
    inputs = _gather(items, annotations, adjudications, tax, "warning")
    inputs.report.raise_for_errors()
    frame, ties, _ = _aggregate(inputs, tax)
    _warn_ties([*inputs.report.warnings, *ties])
    return frame


# -- split -----------------------------------------------------------------------------------------
def normalize_question(text: Any) -> str:
    """The text used to find duplicate questions: NFKC, case folded, whitespace and punctuation folded.

    >>> normalize_question("  What is   2+2?") == normalize_question("what is 2+2")
    True
    >>> normalize_question("你好，世界！")
    '你好 世界'
    """
    if is_missing(text):
        return ""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    folded = "".join(" " if ch.isspace() or unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(folded.split())


def _stratum(row: dict[str, Any]) -> tuple[str, str]:
    primary = row.get("primary")
    first = primary[0] if isinstance(primary, (list, tuple, np.ndarray)) and len(primary) else "none"
    language = row.get("language")
    return str(first), "" if is_missing(language) else str(language)


def _labels(row: dict[str, Any]) -> list[str]:
    """The labels a split balances beyond its strata: the secondary categories (else the primaries)."""
    for column in ("misattribution", "primary"):
        value = row.get(column)
        if isinstance(value, (list, tuple, np.ndarray)) and len(value):
            return [str(v) for v in dict.fromkeys(value)]
    return []


def _quotas(sizes: dict[Any, int], total: int, test_size: float, rng: np.random.Generator) -> dict[Any, int]:
    """Test rows per stratum: floors of the ideal shares, the rest by largest remainder (seeded ties)."""
    keys = sorted(sizes)
    ideal = {k: test_size * sizes[k] for k in keys}
    quotas = {k: math.floor(ideal[k]) for k in keys}
    rest = max(0, math.floor(test_size * total + 0.5) - sum(quotas.values()))
    tie_break = dict(zip(keys, rng.permutation(len(keys))))
    for key in sorted(keys, key=lambda k: (-(ideal[k] - quotas[k]), tie_break[k]))[:rest]:
        quotas[key] += 1
    return quotas


def split_train_test(
    frame: pd.DataFrame, *, test_size: float = PAPER_TEST_SIZE, seed: int = 0
) -> tuple[list[int], list[int]]:
    """A deterministic, stratified train / test split with no duplicate question on both sides.

    Rows whose questions are equal after :func:`normalize_question` form a group, and a group goes
    wholly to one side. Strata are (first primary category or ``"none"``, language); a group belongs
    to the stratum of its first row. Each stratum gives the test side its share of
    ``round(test_size * len(frame))`` rows (largest remainder), filled with whole groups in a seeded
    random order, except that a group carrying a label the test side still lacks goes first: with a
    ``misattribution`` column (secondary categories; else all primaries), each label's test demand
    is ``test_size`` times its rows, and the next group taken is the one that most serves the label
    furthest below its demand (relative to its size), so that a small dataset's test side still holds
    every category that is frequent enough to have a test row.

    Returns:
        ``(train, test)``: sorted row positions (usable with ``frame.iloc`` and ``Dataset.select``).

    >>> frame = pd.DataFrame({"question": ["a?", "A", "b", "c", "d", "e"], "language": ["en"] * 6,
    ...                       "primary": [[]] * 6})
    >>> train, test = split_train_test(frame, test_size=0.34)
    >>> len(test), {0, 1} <= set(train) or {0, 1} <= set(test)
    (2, True)
    """
    if not 0 <= test_size < 1:
        raise ValueError(f"test_size must be in [0, 1), got {test_size!r}")
    for column in ("question", "language", "primary"):
        if column not in frame.columns:
            raise ValueError(f"split_train_test needs the column {column!r} (columns: {list(frame.columns)})")
    records = frame.to_dict("records")
    groups: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        key = normalize_question(record["question"])
        groups.setdefault(key or f"\0row {position}", []).append(position)
    strata: dict[tuple[str, str], list[str]] = {}
    for key, members in groups.items():
        strata.setdefault(_stratum(records[members[0]]), []).append(key)
    rng = np.random.default_rng(seed)
    sizes = {stratum: sum(len(groups[k]) for k in keys) for stratum, keys in strata.items()}
    quotas = _quotas(sizes, len(records), test_size, rng)
    labels_of = {
        key: Counter(label for p in members for label in _labels(records[p])) for key, members in groups.items()
    }
    label_rows = Counter()
    for found in labels_of.values():
        label_rows.update(found)
    demand = {label: test_size * count for label, count in label_rows.items()}
    test: list[int] = []
    for stratum in sorted(strata):
        keys = [sorted(strata[stratum])[i] for i in rng.permutation(len(strata[stratum]))]
        filled = 0
        while filled < quotas[stratum]:
            fitting = [k for k in keys if filled + len(groups[k]) <= quotas[stratum]]
            if not fitting:
                break
            # The group that most serves a label still short of its test demand; else the next in random order.
            gains = [
                max((demand[label] / label_rows[label] for label in labels_of[k] if demand[label] >= 0.5), default=0.0)
                for k in fitting
            ]
            if max(gains) <= 0:  # every label has its test rows: the rest in random order
                for key in fitting:
                    if filled + len(groups[key]) <= quotas[stratum]:
                        test.extend(groups[key])
                        filled += len(groups[key])
                break
            key = fitting[int(np.argmax(gains))]
            keys.remove(key)
            test.extend(groups[key])
            filled += len(groups[key])
            for label, count in labels_of[key].items():
                demand[label] -= count
    chosen = set(test)
    return [p for p in range(len(records)) if p not in chosen], sorted(chosen)


# -- build -----------------------------------------------------------------------------------------
@dataclass
class BuildResult:
    """What :func:`build_attridata` produced.

    Attributes:
        dataset: a ``datasets.DatasetDict`` with ``train`` and ``test``, features ``attridata_features``.
        agreement: the inter-annotator agreement report (:func:`~misattribution.data.agreement.agreement_report`).
        validation: the problems found (only warnings: with an error nothing is built).
        stats: counts (items, splits, annotations, adjudicated rows, ties, languages, scores, categories).
        written: the files written, when ``out_dir`` was given.
    """

    dataset: Any
    agreement: dict[str, Any]
    validation: ValidationReport
    stats: dict[str, Any]
    written: list[Path] = field(default_factory=list)


def _to_dataset(frame: pd.DataFrame, features: Any) -> Any:
    from datasets import Dataset

    columns = {column: [None if is_missing(v) else v for v in frame[column]] for column in COLUMNS}
    return Dataset.from_dict(columns, features=features)


def _counts(values: Iterable[Any]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(values).items(), key=lambda kv: str(kv[0]))}


def _stats(
    frame: pd.DataFrame, inputs: _Inputs, train: list[int], test: list[int], ties: list[Problem], tax: Taxonomy
) -> dict[str, Any]:
    categories = Counter(c for labels in frame["misattribution"] for c in labels)
    return {
        "n_items": len(frame),
        "n_train": len(train),
        "n_test": len(test),
        "n_annotations": len(inputs.annotations),
        "n_annotators": int(inputs.annotations["annotator"].nunique()),
        "annotators_per_item": _counts(frame["num_annotators"]),
        "n_adjudicated": int(frame["adjudicated"].sum()),
        "n_ties": len({p.id for p in ties}),
        "n_with_error": int(sum(bool(labels) for labels in frame["misattribution"])),
        "languages": _counts(frame["language"]),
        "scores": _counts(frame["score"]),
        "categories": {c: categories[c] for c in tax.secondary_ids},
    }


def _write(result: BuildResult, out_dir: Path) -> list[Path]:
    """Write into a temporary sibling directory, then move into place (a new directory is one rename)."""
    import datasets

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    quiet = datasets.are_progress_bars_disabled()
    try:
        datasets.disable_progress_bars()
        (staging / "data").mkdir()
        names = []
        for split, dataset in result.dataset.items():
            dataset.to_parquet(str(staging / "data" / f"{split}.parquet"))
            names.append(Path("data") / f"{split}.parquet")
        text = json.dumps(result.agreement, indent=2, ensure_ascii=False, allow_nan=False)
        (staging / "agreement.json").write_text(text + "\n", encoding="utf-8")
        names.append(Path("agreement.json"))
        if not out_dir.exists():
            os.replace(staging, out_dir)
        else:
            for name in names:
                (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / name, out_dir / name)
        return [out_dir / name for name in names]
    finally:
        if not quiet:
            datasets.enable_progress_bars()
        shutil.rmtree(staging, ignore_errors=True)


def build_attridata(
    items: Any,
    annotation_paths: Any,
    adjudication: Any = None,
    *,
    taxonomy: Taxonomy | str | None = None,
    test_size: float = PAPER_TEST_SIZE,
    seed: int = 0,
    rule: Rule = "error",
    out_dir: str | Path | None = None,
) -> BuildResult:
    """Build AttriData from items, annotator exports and an optional adjudication.

    Reads and checks every input, aggregates (:func:`aggregate`), checks the aggregated rows
    (:func:`~misattribution.data.validate.validate_rows` rules, each problem attributed to its file),
    splits (:func:`split_train_test`) and computes the agreement report.

    Args:
        items: the item table (path, DataFrame or records).
        annotation_paths: one or several annotator exports (CSV, JSONL, Parquet).
        adjudication: the adjudication table, or None.
        taxonomy: the taxonomy (default ``attridata-v1``).
        test_size, seed: the split (default: the paper's 2,896 / 21,702).
        rule: ``"error"`` or ``"warning"`` for the paper's score / misattribution rule.
        out_dir: when given, write ``data/train.parquet``, ``data/test.parquet`` and ``agreement.json``
            there (staged in a temporary directory and moved into place only when all are written).

    Raises:
        DataValidationError: listing every error of every input and of the aggregated rows; nothing
            is written.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    from datasets import DatasetDict

    tax = load_taxonomy(taxonomy)
    inputs = _gather(items, annotation_paths, adjudication, tax, rule)
    frame, ties, how = _aggregate(inputs, tax)
    report = ValidationReport(source="AttriData build")
    report.extend(inputs.report)
    report.extend(_check_final(frame, inputs, how, tax, rule))
    report.warnings.extend(ties)
    if report.errors:
        warned = f" (and {len(report.warnings)} warning(s))" if report.warnings else ""
        raise DataValidationError(report.errors, f"AttriData build: {len(report.errors)} error(s){warned}")
    train, test = split_train_test(frame, test_size=test_size, seed=seed)
    features = attridata_features(tax)
    dataset = DatasetDict(
        train=_to_dataset(frame.iloc[train], features),
        test=_to_dataset(frame.iloc[test], features),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uneven annotator counts are reported in the dict itself
        agreement = agreement_report(inputs.annotations, tax)
    result = BuildResult(dataset, agreement, report, _stats(frame, inputs, train, test, ties, tax))
    if out_dir is not None:
        result.written = _write(result, Path(out_dir))
    return result
