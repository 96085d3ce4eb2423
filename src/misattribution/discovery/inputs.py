"""Judged results of any origin → the rows of an :class:`~misattribution.discovery.report.IssueReport`.

:func:`load_judged` reads

* our own results: the JSONL that ``misattribution judge`` appends to (its latest record per key, in
  row order, with the input columns each record carries under ``input``: question, answer, reference,
  system, ...) or its ``--export`` (input columns plus ``feedback``, ``misattribution``, ``score``,
  ``status``);
* IBM CLEAR results: a bundle (folder or ``.zip``, read by
  :func:`misattribution.data.importers.import_clear`) or its ``results.parquet`` alone, or a table
  with CLEAR's columns: feedback ``evaluation_text``, score in [0, 1], question ``question`` else
  ``model_input``, answer ``response``, reference ``ground_truth``, id ``question_id``; CLEAR's own
  issues (``recurring_issues_str``) are kept, parsed as a list of strings, in ``clear_issues``, and its
  short per-row summary (``evaluation_summary``) in ``summary`` (issue names use it);
* any table with a feedback and a score column (a ``columns`` mapping names them);
* rows that already are IssueReport rows (``row_id``, ``score``, ``score_norm``, ``failing``, ``system``),
  passed through.

Columns are found through the one alias list of the input layer (:data:`misattribution.io.tables.ALIASES`:
a table with ``judgment`` and ``grade`` columns loads here as in the Space). Scores are read by
:func:`misattribution.io.tables.parse_scores` (text such as ``"3 points"``, ``inf``, or a column without
a single score is an :class:`InputError` naming the file, the column and the rows) and mapped to
``score_norm`` in [0, 1] (1 = best) from a range that is given, or inferred
(:func:`~misattribution.io.tables.infer_scale`: our taxonomy's 0-3 first; a few scores off an otherwise
clear scale are an error, never a wider scale). A row fails when ``score_norm < fail_below`` (default
1.0: anything below the top of the scale). A row without a score (a judgment that failed, a gap) is not
failing; the count is logged and kept in ``frame.attrs["n_null_scores"]``.

Example:
    >>> rows = load_judged([{"feedback": "Wrong sum.", "score": 1}, {"feedback": "Correct.", "score": 3}])
    >>> rows[["row_id", "score", "score_norm", "failing", "system"]].to_dict("records")
    [{'row_id': '0', 'score': 1.0, 'score_norm': 0.333..., 'failing': True, 'system': 'default'}, {'row_id': '1', 'score': 3.0, 'score_norm': 1.0, 'failing': False, 'system': 'default'}]
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery.report import REQUIRED_ROW_COLUMNS
from misattribution.io.tables import (
    ALIASES,
    FAILED_STATUSES,
    InputError,
    check_scale,
    check_unique,
    infer_scale,
    is_missing,
    parse_label_cell,
    parse_scores,
    read_table,
    resolve_columns,
    text_column,
)

logger = logging.getLogger(__name__)

#: Roles a ``columns`` mapping may name; each is looked for under :data:`~misattribution.io.tables.ALIASES`.
ROLES: dict[str, tuple[str, ...]] = {
    role: ALIASES[role] for role in ("id", "feedback", "score", "question", "answer", "reference", "system")
}
TEXT_ROLES = ("question", "answer", "reference", "feedback")
CLEAR_COLUMNS = {
    "id": ("question_id", "id"),
    "feedback": ("evaluation_text",),
    "score": ("score",),
    "question": ("question", "model_input"),
    "answer": ("response",),
    "reference": ("ground_truth",),
    "system": ("system", "agent_name"),
}


def load_judged(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    score_range: tuple[float, float] | None = None,
    fail_below: float | None = None,
    system: str | None = None,
) -> pd.DataFrame:
    """Read judged results as IssueReport rows.

    Args:
        source: a path (``.jsonl``, ``.json``, ``.csv``, ``.tsv``, ``.parquet``, a CLEAR bundle folder or
            ``.zip``), a DataFrame, a ``datasets.Dataset`` or records.
        columns: role → column for the roles of :data:`ROLES` (``id``, ``feedback``, ``score``,
            ``question``, ``answer``, ``reference``, ``system``), e.g. ``{"feedback": "critique"}``.
        score_range: ``(worst, best)`` of the judge's scale (default: inferred, see the module docstring).
        fail_below: a row fails when ``score_norm`` is below it (default 1.0, the top of the scale).
        system: a system name for every row (when the table has no system column).

    Returns:
        ``row_id`` (str, unique), ``score`` (float, NaN when missing), ``score_norm``, ``failing``,
        ``system``, then those of ``question``, ``answer``, ``reference``, ``feedback``,
        ``misattribution``, ``clear_issues``, ``summary``, ``status`` the input has. ``frame.attrs`` holds
        ``format``, ``score_range``, ``fail_below`` and ``n_null_scores``.

    Raises:
        InputError: no feedback or score column, a named column missing, duplicate ids, a score
            outside a given range, a feedback cell that is a list or a record, a feedback column with no
            text (empty or numbers in every row).

    When every scored row (at least 10) fails under the default threshold, a warning says so: scores that
    sit in the upper part of their scale (3 and 4 on 1-5) all count as failing, which is seldom meant.
    """
    columns = dict(columns or {})
    unknown = set(columns) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown column roles {sorted(unknown)}; known roles are {sorted(ROLES)}")
    frame, label, kind = _read(source)
    if fail_below is None:
        refuse_differing_thresholds(frame, label)
    if kind == "rows" and not columns and score_range is None and fail_below is None:
        return _passthrough(frame, label, system)
    if kind == "runner":
        frame = with_input_columns(_latest_results(frame))
    candidates = CLEAR_COLUMNS if kind == "clear" else ROLES
    chosen = resolve_columns(
        frame.columns,
        label,
        given=columns,
        candidates={role: candidates.get(role, ()) for role in ROLES},
        required=("feedback", "score"),
        optional_any={"score": ("clear_score",)},
    )
    frame = _decoded(frame, [chosen[role] for role in (*TEXT_ROLES, "system") if chosen[role] is not None], label)
    rows = pd.DataFrame(index=frame.index)
    rows["row_id"] = _row_ids(frame, chosen["id"], label, runner=kind == "runner")
    score_column = "clear_score" if kind == "clear-bundle" and "score" not in columns else chosen["score"]
    failed = (
        [str(v).lower() in FAILED_STATUSES for v in frame["status"].tolist()] if "status" in frame.columns else None
    )
    rows["score"] = parse_scores(frame[score_column], label, score_column, failed=failed).to_numpy()
    lo, hi = _score_range(rows["score"], score_range, label, score_column, clear=kind.startswith("clear"))
    rows["score_norm"] = ((rows["score"] - lo) / (hi - lo)).clip(0.0, 1.0)
    threshold, threshold_source = _fail_threshold(fail_below, frame.attrs.get("clear_threshold"), (lo, hi))
    # A small tolerance: 2.9999999 on a 0-3 scale is the top score, not a failure.
    rows["failing"] = (rows["score_norm"] < threshold - 1e-9).fillna(False).astype(bool)
    rows["system"] = _systems(frame, chosen["system"], system)
    # Cells are read with .tolist() (the same values as iterating a column, 10x faster on Arrow-backed text).
    for role in TEXT_ROLES:
        if chosen[role] is not None:
            rows[role] = _texts(frame[chosen[role]])
    _check_feedback(frame[chosen["feedback"]], label, chosen["feedback"])
    if "misattribution" in frame.columns:
        # Text cells (a CSV export's JSON lists) become lists here, through the bounded label parser.
        rows["misattribution"] = [
            parse_label_cell(v, f"{label}: row {i + 1}, field 'misattribution'") if isinstance(v, str) else v
            for i, v in enumerate(frame["misattribution"])
        ]
    issues_column = next((c for c in ("clear_issues", "recurring_issues_str") if c in frame.columns), None)
    if issues_column is not None:
        parsed = [_issue_list(v) for v in frame[issues_column].tolist()]
        unreadable = sum(p is None for p in parsed)
        if unreadable:
            logger.warning("%s: %d %r cell(s) are not lists of strings: read as []", label, unreadable, issues_column)
        rows["clear_issues"] = [p or [] for p in parsed]
    summary_column = next((c for c in ("summary", "evaluation_summary", "clear_summary") if c in frame.columns), None)
    if summary_column is not None and summary_column != chosen["feedback"]:
        rows["summary"] = _texts(frame[summary_column])
    if "status" in frame.columns and kind != "clear-bundle":
        rows["status"] = _texts(frame["status"])
        rows["judge_error"] = text_column(_judge_errors(frame))
    rows = rows.reset_index(drop=True)
    n_null = int(rows["score"].isna().sum())
    if n_null:
        logger.warning("%s: %d row(s) without a score: kept, counted as not failing", label, n_null)
    scored = int(rows["score"].notna().sum())
    if fail_below is None and scored >= 10 and int(rows["failing"].sum()) == scored:
        logger.warning(
            "%s: every scored row fails (%s: a score below %g on %g..%g); if that is not meant, set the threshold "
            "with fail_below (--fail-below) or the scale with score_range (--score-range)",
            label,
            threshold_source,
            lo + threshold * (hi - lo),
            lo,
            hi,
        )
    rows.attrs.update(
        {
            "format": kind,
            "source": label,
            "score_range": [lo, hi],
            "fail_below": threshold,
            "fail_below_source": threshold_source,
            "n_null_scores": n_null,
        }
    )
    return rows


def _texts(column: pd.Series) -> Any:
    """A column's cells as text, ``None`` for a missing one (:func:`~misattribution.io.tables.text_column`)."""
    return text_column([None if is_missing(v) else str(v) for v in column.tolist()])


def _check_feedback(column: pd.Series, label: str, name: str) -> None:
    """Raise :class:`InputError` when the feedback column is not judge feedback: a cell that is a list or a
    record (naming the rows), or a column with no text at all (every cell empty, or every cell a number:
    most often the wrong column). Discovery reads words; either would give an empty or garbled report."""
    values = column.tolist()
    nested = [i for i, v in enumerate(values) if isinstance(v, (list, tuple, dict, np.ndarray))]
    if nested:
        where = ", ".join(f"row {i + 1} ({type(values[i]).__name__})" for i in nested[:5])
        raise InputError(
            f"{label}: column {name!r}: {len(nested)} feedback cell(s) are not text: {where}"
            f"{' ...' if len(nested) > 5 else ''}\n"
            "  hint: feedback is the judge's text, one string per row; join a list of critiques into one string"
        )
    texts = [v for v in values if isinstance(v, str) and v.strip()]
    if not texts:
        numbers = sum(not is_missing(v) and not isinstance(v, str) for v in values)
        what = "numbers, not text" if numbers else "empty in every row"
        raise InputError(
            f"{label}: column {name!r}: the feedback is {what} (rows 1-{len(values)})\n"
            "  hint: name the column holding the judge's written feedback with columns={'feedback': ...} "
            "(--feedback-column)"
        )


def _judge_errors(frame: pd.DataFrame) -> list[str | None]:
    """Per row, what went wrong with its judgment: the runner's ``error``, else its parse ``problems``."""
    errors = frame["error"] if "error" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
    problems = frame["problems"] if "problems" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
    found: list[str | None] = []
    for error, problem in zip(errors, problems):
        if isinstance(error, str) and error.strip():
            found.append(error.strip())
        elif isinstance(problem, (list, tuple, np.ndarray)) and len(problem):
            found.append("; ".join(str(p) for p in problem))
        elif isinstance(problem, str) and problem.strip() and problem.strip() not in ("[]", "null"):
            found.append(problem.strip())
        else:
            found.append(None)
    return found


# -- reading -----------------------------------------------------------------------------------------
def _read(source: Any) -> tuple[pd.DataFrame, str, str]:
    """The table, a label, and its kind: ``rows``, ``runner``, ``export``, ``clear``, ``clear-bundle``, ``table``."""
    if isinstance(source, (str, Path)) and (Path(source).is_dir() or str(source).lower().endswith(".zip")):
        return _read_clear_bundle(Path(source))
    frame, label = read_table(source)
    names = set(frame.columns)
    if set(REQUIRED_ROW_COLUMNS) <= names:
        return frame, label, "rows"
    if {"key", "row", "status"} <= names:
        return frame, label, "runner"
    if "evaluation_text" in names and "feedback" not in names:
        return frame, label, "clear"
    if {"feedback", "score", "status"} <= names:
        return frame, label, "export"
    return frame, label, "table"


def _read_clear_bundle(path: Path) -> tuple[pd.DataFrame, str, str]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    try:
        from misattribution.data import importers  # noqa: F401 - optional: the datasets extra
    except ImportError:
        importers = None
    if importers is not None:
        judged, problems = read_clear(path)
        for problem in problems["errors"]:
            logger.warning("%s", problem)
        return judged.rename(columns={"id": "row_id"}), str(path), "clear-bundle"
    if not path.is_dir():
        raise InputError(f"{path}: reading a CLEAR .zip needs misattribution.data.importers")
    found = sorted(path.glob("results*.parquet")) or sorted(path.glob("results*.csv"))
    if not found:
        raise InputError(f"{path}: no results*.parquet or results*.csv in this folder")
    frame, label = read_table(found[0])
    return frame, label, "clear"


def read_clear(
    path: str | Path, *, label: str | None = None, limits: Any = None
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """A CLEAR bundle (``.zip`` or folder) or CLEAR's agentic result as judged rows, read the same way by
    ``misattribution discover`` and the Space.

    Returns :meth:`~misattribution.data.importers.ImportResult.to_judged`'s columns (``id``, ..., ``score``
    on our scale, ``clear_score``, ``clear_issues``), plus ``system`` for an agentic result (each agent's
    bundle imported, its rows under the agent's name: agents are compared, never pooled blind; ids two
    agents share get the agent as a prefix), and the import's problems (``errors``, ``warnings``, as text).
    ``attrs`` holds CLEAR's own threshold (``clear_threshold``), or, when the agents set different ones,
    ``clear_thresholds_differ`` (refused by :func:`load_judged` unless ``fail_below`` settles it), and
    ``clear_metadata``. ``label`` names the input in messages (default: the path); ``limits`` are the
    zip guard's (:class:`~misattribution.io.archives.ZipLimits`).
    """
    from misattribution.data.importers import clear_agent_bundles

    path = Path(path)
    label = label or str(path)
    agents = clear_agent_bundles(path, limits, label=label)
    if not agents:
        stream: Any = path
        if label != str(path) and path.is_file():
            stream = io.BytesIO(path.read_bytes())
            stream.name = label  # the importer names the user's file, not a temporary path
        judged, threshold, problems, metadata = _import_bundle(stream, label, limits)
        if threshold is not None:
            judged.attrs["clear_threshold"] = threshold
        judged.attrs["clear_metadata"] = metadata
        return judged, problems
    frames, thresholds, problems, metadata = [], {}, {"errors": [], "warnings": []}, {}
    for agent, where, data in agents:
        stream = io.BytesIO(data)
        stream.name = where  # the label import_clear's messages carry
        judged, threshold, found, metadata[agent] = _import_bundle(stream, stream.name, limits)
        frames.append(judged.assign(system=agent))
        thresholds[agent] = threshold
        problems["errors"] += found["errors"]
        problems["warnings"] += found["warnings"]
    frame = pd.concat(frames, ignore_index=True)
    if frame["id"].duplicated().any():
        frame["id"] = frame["system"] + "/" + frame["id"].astype(str)
    distinct = set(thresholds.values())
    if len(distinct) > 1:
        frame.attrs["clear_thresholds_differ"] = ", ".join(f"{agent}: {value}" for agent, value in thresholds.items())
    elif distinct and (threshold := distinct.pop()) is not None:
        frame.attrs["clear_threshold"] = threshold
    frame.attrs["clear_metadata"] = metadata
    logger.info("%s: CLEAR agentic result, %d agents: %s", label, len(agents), ", ".join(a for a, _, _ in agents))
    return frame, problems


def refuse_differing_thresholds(frame: pd.DataFrame, label: str) -> None:
    """Raise :class:`InputError` when :func:`read_clear` found agents with different thresholds: one threshold
    decides which rows fail, so the user chooses it (``fail_below``) or reads each agent on its own."""
    if frame.attrs.get("clear_thresholds_differ"):
        raise InputError(
            f"{label}: the agents' bundles set different high_score_threshold values "
            f"({frame.attrs['clear_thresholds_differ']})\n"
            "  hint: choose one with fail_below (--fail-below), or read each agent's bundle on its own"
        )


def _import_bundle(
    source: Any, label: str, limits: Any = None
) -> tuple[pd.DataFrame, float | None, dict[str, list[str]], dict[str, Any]]:
    """One CLEAR bundle: judged rows, its own threshold, its problems as text, its metadata."""
    from misattribution.data.importers import import_clear

    result = import_clear(source, limits=limits)
    judged = result.to_judged()
    result.refuse_unusable_scores()
    problems = {"errors": [str(p) for p in result.report.errors], "warnings": [str(p) for p in result.report.warnings]}
    return judged, _clear_threshold(result.metadata, label), problems, result.metadata


def _clear_threshold(metadata: Mapping[str, Any], label: str) -> float | None:
    """CLEAR's own failing-row threshold, when it has one: ``high_score_threshold`` in its metadata, else
    ``success_threshold`` (the name an agentic step's ``config_*.json`` gives it).

    CLEAR treats a row scoring at or above it as a high score (no issue is looked for), so a row fails
    below it. A value that is not a number in (0, 1] is refused: CLEAR's scores are on 0..1.
    """
    if not isinstance(metadata, Mapping):
        return None
    key = next((k for k in ("high_score_threshold", "success_threshold") if metadata.get(k) is not None), None)
    if key is None:
        return None
    value = metadata[key]
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{label}: metadata {key!r} is not a number: {value!r}") from None
    if not 0 < threshold <= 1 or np.isnan(threshold):
        raise InputError(f"{label}: metadata {key!r} must be in (0, 1], got {value!r}")
    return threshold


def _latest_results(frame: pd.DataFrame) -> pd.DataFrame:
    """The runner's JSONL keeps every attempt: its latest record per key, in row order."""
    latest = frame.drop_duplicates("key", keep="last")
    return latest.sort_values("row", kind="stable").reset_index(drop=True)


def with_input_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The runner's records with the input columns each one carries (``input``, a dict) as columns.

    A column the record already has (``key``, ``row``, ``id``, ``model``, the judgment's fields) keeps the
    record's value. Records written before inputs were carried have no ``input``: the frame is returned
    as it is (discovery then sees no question, answer or reference).

    >>> with_input_columns(pd.DataFrame([{"key": "k", "id": "a", "input": {"id": "a", "answer": "14"}}])).to_dict("records")
    [{'key': 'k', 'id': 'a', 'answer': '14'}]
    """
    if "input" not in frame.columns:
        return frame
    carried = [v if isinstance(v, Mapping) else {} for v in frame["input"]]
    frame = frame.drop(columns=["input"])  # also an alias of the question role: never read as one
    names: list[str] = []
    for record in carried:
        names.extend(n for n in record if n not in frame.columns and n not in names)
    if not names:
        return frame
    added = pd.DataFrame([[record.get(n) for n in names] for record in carried], columns=names, index=frame.index)
    return pd.concat([frame, added], axis=1)


def _passthrough(frame: pd.DataFrame, label: str, system: str | None) -> pd.DataFrame:
    rows = frame.reset_index(drop=True).copy()
    rows["row_id"] = rows["row_id"].astype(str)
    check_unique(rows["row_id"], label, "row_id")
    rows["score"] = pd.to_numeric(rows["score"], errors="coerce").astype(float)
    rows["score_norm"] = pd.to_numeric(rows["score_norm"], errors="coerce").astype(float)
    rows["failing"] = rows["failing"].fillna(False).astype(bool)
    if system is not None:
        rows["system"] = system
    rows["system"] = rows["system"].fillna("default").astype(str)
    n_null = int(rows["score"].isna().sum())
    rows.attrs.update({"format": "rows", "source": label, "score_range": None, "fail_below": None})
    rows.attrs["n_null_scores"] = n_null
    return rows


def _row_ids(frame: pd.DataFrame, column: str | None, label: str, *, runner: bool) -> list[str]:
    positions = frame["row"].tolist() if runner else range(len(frame))
    if column is None:
        ids = [str(p) for p in positions]
    else:
        ids = [str(p) if is_missing(v) else _id_text(v) for v, p in zip(frame[column], positions)]
    check_unique(ids, label, column or "row number")
    return ids


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _score_range(
    scores: pd.Series, given: tuple[float, float] | None, label: str, column: str, *, clear: bool
) -> tuple[float, float]:
    """The given range (every score checked to lie in it), CLEAR's 0-1, or the inferred scale."""
    if given is not None:
        lo, hi = (float(v) for v in given)
        if not hi > lo:
            raise ValueError(f"score_range must be (worst, best) with best > worst, got {given}")
        check_scale(scores, (lo, hi), label, column, how="given")
        return lo, hi
    if clear:
        check_scale(scores, (0.0, 1.0), label, column, how="CLEAR")
        return 0.0, 1.0
    return infer_scale(scores, label, column)


def _fail_threshold(
    given: float | None, clear_threshold: float | None, scale: tuple[float, float]
) -> tuple[float, str]:
    """The normalised score below which a row fails, and where it comes from.

    In order: ``fail_below`` (the user's override), the input's own threshold (CLEAR's
    ``high_score_threshold``), else the top of the scale (our judge's taxonomy: an error is attributed
    exactly when the score is below the top).
    """
    if given is not None:
        given = float(given)
        if not 0 < given <= 1 or np.isnan(given):
            raise ValueError(f"fail_below is a normalised score in (0, 1], got {given}")
        return given, "fail_below given"
    if clear_threshold is not None:
        lo, hi = scale
        return (clear_threshold - lo) / (hi - lo), "CLEAR's high_score_threshold"
    return 1.0, "below the top of the scale"


def _decoded(frame: pd.DataFrame, columns: Sequence[str], label: str) -> pd.DataFrame:
    """``frame`` with the byte cells of ``columns`` decoded as UTF-8 (a Parquet file may store text as
    binary); :class:`InputError` naming the row and column for bytes that are not UTF-8."""
    for column in dict.fromkeys(columns):
        values = frame[column].tolist()
        if not any(isinstance(v, (bytes, bytearray)) for v in values):
            continue
        decoded = []
        for i, v in enumerate(values):
            try:
                decoded.append(bytes(v).decode("utf-8") if isinstance(v, (bytes, bytearray)) else v)
            except UnicodeDecodeError:
                raise InputError(
                    f"{label}: row {i + 1}, column {column!r}: bytes that are not UTF-8 text\n"
                    "  hint: store the judge's feedback as UTF-8 text"
                ) from None
        frame = frame.assign(**{column: pd.Series(decoded, index=frame.index, dtype=object)})
    return frame


def _systems(frame: pd.DataFrame, column: str | None, constant: str | None) -> list[str]:
    """Each row's system: the column's value, else ``constant``, else ``"default"`` (a blank cell is missing:
    a report would list a system with no name)."""
    fallback = constant or "default"
    if column is None:
        return [fallback] * len(frame)
    return [fallback if is_missing(v) or not str(v).strip() else str(v).strip() for v in frame[column]]


def _issue_list(value: Any) -> list[str] | None:
    """A CLEAR issue cell as a list of strings (``None``: not one), read by
    :func:`misattribution.data.importers.parse_issue_list` (parsed, never evaluated); a gap is ``[]``.

    >>> _issue_list("['Calculation errors', 'Lack of clarity']"), _issue_list("[]"), _issue_list("__import__('os')")
    (['Calculation errors', 'Lack of clarity'], [], None)
    """
    from misattribution.data.importers import parse_issue_list

    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return []
    return parse_issue_list(value)[0]
