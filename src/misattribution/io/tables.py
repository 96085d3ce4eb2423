"""Reading the tables users bring (JSONL, JSON, CSV, TSV, Parquet, ``datasets``, pandas) as one thing.

One module for everything a table can get wrong:

* **reading** (:func:`read_table`, :func:`read_jsonl`, :func:`read_csv_bytes`): text stays text, UTF-8
  only (a byte that is not names its line and field), an empty file or a header without rows is
  refused, ``max_rows`` stops reading as soon as it is passed;
* **column roles** (:data:`ALIASES`, :func:`resolve_columns`): the one list of names each role is found
  under, an explicit mapping first;
* **missing values** (:func:`is_missing`, :func:`optional_text`);
* **scores** (:func:`parse_scores`, :func:`infer_scale`, :func:`check_scale`): numbers only, finite, on
  the declared or inferred scale -- never a silently shifted scale;
* **label cells** (:func:`parse_label_cell`): lists, JSON or Python list text, ``"a; b"``, with a bounded
  parser (no recursion on nested brackets).

Every problem is an :class:`InputError` naming the file, the line or row, and the field, with a hint.

Example:
    >>> resolve_columns(["judgment", "grade", "uid"], "t.csv", required=("feedback", "score"))["score"]
    'grade'
    >>> parse_scores(pd.Series(["1", "", "3"]), "t.csv", "score").tolist()
    [1.0, nan, 3.0]
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

READABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")

#: The roles a judged table may fill, and the names each is looked for under, in order (the role's
#: own name first). The one alias list: ``discover``, the Space and ``agreement`` all read it.
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("row_id", "id", "question_id", "example_id", "uid", "qid"),
    "question": ("question", "instruction", "prompt", "model_input", "input", "query"),
    "answer": ("answer", "response", "output", "prediction", "completion", "generated_text"),
    "reference": ("reference", "ground_truth", "reference_answer", "gold", "target"),
    "feedback": ("feedback", "evaluation_text", "critique", "explanation", "rationale", "judgment"),
    "score": ("score", "judge_score", "rating", "grade"),
    "system": ("system", "model", "system_name", "model_name", "agent_name", "agent"),
    "misattribution": ("misattribution", "categories", "error_categories"),
    "human_score": ("human_score", "gold_score", "human_rating"),
    "human_misattribution": ("human_misattribution", "human_categories"),
}
#: The roles of a table of pairs to judge or compare (pairwise mode), looked for as in :data:`ALIASES`.
PAIRWISE_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ALIASES["id"],
    "question": ALIASES["question"],
    "answer_a": ("answer_a", "response_a", "output_a", "completion_a", "model_a_answer", "chosen"),
    "answer_b": ("answer_b", "response_b", "output_b", "completion_b", "model_b_answer", "rejected"),
    "reference": ALIASES["reference"],
    "criteria": ("criteria", "criterion", "orig_criteria"),
    "rubric": ("rubric", "score_rubric"),
    "preference": ("preference", "human_preference", "winner", "label", "human_label", "chosen_side"),
}
#: Scales a judge's scores are read on when none is given, in order (see :func:`infer_scale`).
KNOWN_SCALES: tuple[tuple[float, float], ...] = (
    (0.0, 3.0),
    (1.0, 5.0),
    (0.0, 5.0),
    (1.0, 10.0),
    (0.0, 10.0),
    (0.0, 100.0),
)
#: A row whose judgment failed has no score; that is not an input error.
FAILED_STATUSES = frozenset({"failed", "partial", "error"})
MAX_LABEL_CELL_CHARS = 10_000
_SHOWN = 5


class InputError(ValueError):
    """Bad input data. The message names the source, the row(s) or line(s) and the field(s)."""


def _hint(message: str, hint: str) -> InputError:
    return InputError(f"{message}\n  hint: {hint}")


# -- missing values ------------------------------------------------------------------------------------
def is_missing(value: Any) -> bool:
    """``None``, NaN, ``pd.NA`` and ``NaT`` are missing; lists and arrays never are.

    >>> is_missing(None), is_missing(float("nan")), is_missing(""), is_missing([])
    (True, True, False, False)
    """
    if value is None:
        return True
    kind = type(value)
    if kind is str or kind is int or kind is bool:  # the common cells, without pandas' dispatch (~1 us each)
        return False
    if kind is float:
        return value != value
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


#: The dtype pandas gives a list of text and gaps (``str``, Arrow-backed, NaN for a gap, in pandas 3).
_TEXT_DTYPE = pd.Series(["", None]).dtype


def text_column(values: list[Any]) -> Any:
    """``values`` as a column cell for cell as pandas stores the list, a list of text and gaps built by Arrow
    directly when pandas stores it Arrow-backed (pandas checks each cell in Python first: 0.9 s against 0.05 s
    for 100,000 judge feedback texts); any other list is returned as it is.

    >>> text_column(["a", None]).dtype == pd.Series(["a", None]).dtype, text_column([1, "a"])
    (True, [1, 'a'])
    """
    arrow_text = isinstance(_TEXT_DTYPE, pd.StringDtype) and _TEXT_DTYPE.storage == "pyarrow"
    if not arrow_text or not any(v is not None for v in values):
        return values
    if not all(v is None or type(v) is str for v in values):
        return values
    import pyarrow as pa

    array = pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(values, type=pa.large_string())]))
    return array.astype(_TEXT_DTYPE)


def optional_text(value: Any) -> str | None:
    """A cell as text, or ``None`` when it is missing or blank."""
    if is_missing(value):
        return None
    text = str(value)
    return text if text.strip() else None


# -- reading -------------------------------------------------------------------------------------------
def read_table(
    source: Any, *, name: str | None = None, max_rows: int | None = None, suffix: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Load ``source`` into a DataFrame; return it with a name for error messages.

    ``source`` may be a path (``.jsonl``, ``.json``, ``.csv``, ``.tsv``, ``.parquet``), a
    ``datasets.Dataset``, a pandas DataFrame, a list of dicts or a dict of lists. A file that is empty,
    holds only a header, is not UTF-8 or cannot be parsed raises :class:`InputError` naming the file, the
    line and the field; ``max_rows`` refuses a longer file as soon as reading passes it. ``suffix``
    overrides the path's (an upload stored under another name).
    """
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True), name or "<DataFrame>"
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = name or str(path)
        if path.is_dir() and suffix is None:  # a folder of agent traces (misattribution.io.traces)
            from misattribution.io.traces import read_traces

            return _checked(read_traces(path), label, max_rows, "no trace rows"), label
        if not path.is_file():
            raise FileNotFoundError(f"{label}: no such file")
        return _read_file(path, label, (suffix or path.suffix).lower(), max_rows), label
    if hasattr(source, "to_pandas") and hasattr(source, "features"):  # a datasets.Dataset
        return source.to_pandas(), name or "<Dataset>"
    if isinstance(source, Mapping):
        return pd.DataFrame(dict(source)), name or "<dict>"
    if isinstance(source, Iterable):
        return pd.DataFrame(list(source)), name or "<records>"
    raise TypeError(f"cannot read a table from {type(source).__name__}")


def _read_file(path: Path, label: str, suffix: str, max_rows: int | None) -> pd.DataFrame:
    if suffix not in READABLE_SUFFIXES:
        raise _hint(f"{label}: cannot read {suffix or 'files without a suffix'}", f"use one of {READABLE_SUFFIXES}")
    if path.stat().st_size == 0:
        raise _hint(f"{label}: line 1: the file is empty (no header, no rows)", "export the table again")
    if suffix == ".jsonl":
        return read_jsonl(path, label=label, max_rows=max_rows)
    if suffix == ".json":
        return _read_json(path, label, max_rows)
    if suffix in (".csv", ".tsv"):
        return read_csv_bytes(path.read_bytes(), label, sep="\t" if suffix == ".tsv" else ",", max_rows=max_rows)
    try:
        import pyarrow.parquet as pq

        count = pq.ParquetFile(path).metadata.num_rows
        if max_rows is not None and count > max_rows:
            raise _too_many(label, max_rows)
        frame = pd.read_parquet(path)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds for a broken file
        raise _hint(f"{label}: cannot be read as Parquet ({type(err).__name__}: {_first_line(err)})",
                    "write it again with pandas.DataFrame.to_parquet or pyarrow") from None  # fmt: skip
    return _checked(frame, label, max_rows, "the Parquet file holds no rows")


def _read_json(path: Path, label: str, max_rows: int | None) -> pd.DataFrame:
    """A JSON list of records (or a dict of columns); a JSONL file named ``.json`` is read as JSONL."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        _raise_decode_error(data, label, ",")
    try:
        parsed = json.loads(text)
    except RecursionError:
        raise _hint(f"{label}: line 1: JSON nested too deeply", "a table is a list of flat records") from None
    except json.JSONDecodeError:
        return read_jsonl(path, label=label, max_rows=max_rows)
    traced = _trace_rows(parsed, label)  # an agent trace export (OpenTelemetry, MLflow, Langfuse) -> its rows
    if traced is not None:
        return _checked(traced, label, max_rows, "no trace rows")
    if isinstance(parsed, list) and all(isinstance(r, dict) for r in parsed):
        frame = pd.DataFrame.from_records(parsed)
    elif isinstance(parsed, dict) and all(isinstance(v, (list, dict)) for v in parsed.values()):
        frame = pd.DataFrame(parsed)
    else:
        bad = next((i for i, r in enumerate(parsed) if not isinstance(r, dict)), 0) if isinstance(parsed, list) else 0
        raise _hint(f"{label}: row {bad + 1}: a JSON {type(parsed).__name__} that is not a list of records",
                    'write [{"feedback": ..., "score": ...}, ...] or one object per line (JSONL)')  # fmt: skip
    return _checked(frame, label, max_rows, "the JSON holds no rows")


def _checked(frame: pd.DataFrame, label: str, max_rows: int | None, empty: str) -> pd.DataFrame:
    if max_rows is not None and len(frame) > max_rows:
        raise _too_many(label, max_rows)
    if frame.empty:
        columns = ", ".join(map(str, frame.columns)) or "none"
        raise _hint(f"{label}: row 1: {empty} (columns: {columns})", "a table needs at least one row")
    return frame


def _too_many(label: str, max_rows: int) -> InputError:
    return _hint(f"{label}: row {max_rows + 1:,}: more than the {max_rows:,} rows allowed", "split the table")


def read_csv_bytes(data: bytes, label: str, *, sep: str = ",", max_rows: int | None = None) -> pd.DataFrame:
    """A CSV (or TSV) held in memory; text stays text ("001" and "NA" are not numbers or gaps). A CSV whose
    header holds semicolons and no comma is read as separated by ``;`` (as spreadsheets write it where the
    decimal mark is the comma).

    Raises :class:`InputError` for bytes that are not UTF-8 (naming the line and the field), an empty
    file, a header without rows, a malformed line, or more than ``max_rows`` rows.
    """
    if not data.strip():
        raise _hint(f"{label}: line 1: the file is empty (no header, no rows)", "export the table again")
    header = data.split(b"\n", 1)[0]
    if sep == "," and b"," not in header and header.count(b";") >= 1:
        sep = ";"  # a spreadsheet's CSV in a locale whose decimal mark is the comma
    try:
        # The bytes go to the parser, which decodes them itself (strictly): decoding to one str first and
        # handing the parser a StringIO cost 2-3x as long at 100,000 rows (269 MB: 6.3 s -> 2.1 s).
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            encoding_errors="strict",
            nrows=None if max_rows is None else max_rows + 1,
        )
    except UnicodeDecodeError:
        _raise_decode_error(data, label, sep)
    except pd.errors.EmptyDataError:
        raise _hint(f"{label}: line 1: no header", "the first line names the columns") from None
    except (pd.errors.ParserError, ValueError) as err:
        # pandas says "line N" (1-based, header included) or "row N" (0-based, the header is row 0)
        where = re.search(r"\b(line|row) (\d+)", str(err))
        line = f"line {int(where.group(2)) + (where.group(1) == 'row')}" if where else "line 1"
        raise _hint(f"{label}: {line}: not a well-formed {'TSV' if sep == chr(9) else 'CSV'} ({_first_line(err)})",
                    "check the quotes and the number of fields on that line") from None  # fmt: skip
    _refuse_repeated_names(header, label, sep)
    return _checked(frame, label, max_rows, "a header but no rows")


def _refuse_repeated_names(header: bytes, label: str, sep: str) -> None:
    """Raise :class:`InputError` when the header names a column twice: the parser would rename the second
    ("feedback.1") and read the first, which may not be the one meant."""
    names = next(csv.reader([header.decode("utf-8-sig", "replace").rstrip("\r")], delimiter=sep), [])
    fields: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        if name.strip():
            fields.setdefault(name.strip(), []).append(position)
    repeated = {name: where for name, where in fields.items() if len(where) > 1}
    if repeated:
        name, where = next(iter(repeated.items()))
        raise _hint(
            f"{label}: line 1: column {name!r} is named twice (fields {', '.join(map(str, where))})",
            "give every column its own name, or drop the copy",
        )


def _raise_decode_error(data: bytes, label: str, sep: str) -> None:
    """Name the line and field of the first byte that is not UTF-8, then raise."""
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        start = err.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        header = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip().split(sep)
        index = data[line_start:start].count(sep.encode())
        field = f", field {header[index].strip()!r}" if line > 1 and index < len(header) else ""
        raise _hint(
            f"{label}: line {line}{field}: not UTF-8 text (byte 0x{data[start]:02x})",
            "save the file as UTF-8 (in Excel: 'CSV UTF-8'); a file mixing encodings must be converted",
        ) from None
    raise _hint(f"{label}: line 1: not UTF-8 text", "save the file as UTF-8")


def read_jsonl(path: str | Path, *, label: str | None = None, max_rows: int | None = None) -> pd.DataFrame:
    """A JSONL file of objects as a DataFrame; blank lines are skipped.

    Raises :class:`InputError` naming ``label`` (default: the path) and the line for a line that is not
    UTF-8 or not a JSON object, for a file without rows, and, with ``max_rows``, as soon as the file holds
    more rows than that.
    """
    path = Path(path)
    label = label or str(path)
    records = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if max_rows is not None and len(records) >= max_rows:
                raise _too_many(label, max_rows)
            try:
                record = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError as err:
                raise _hint(f"{label}: line {number}: not UTF-8 text (byte 0x{raw[err.start]:02x})",
                            "save the file as UTF-8") from None  # fmt: skip
            except (json.JSONDecodeError, RecursionError) as err:
                why = err.msg if isinstance(err, json.JSONDecodeError) else "nested too deeply"
                raise _hint(f"{label}: line {number} is not valid JSON ({why})", "one JSON object per line") from None
            if not isinstance(record, dict):
                raise _hint(f"{label}: line {number} is a JSON {type(record).__name__}, not an object",
                            "one JSON object per line") from None  # fmt: skip
            records.append(record)
    if not records:
        raise _hint(f"{label}: line 1: the file holds no rows", "one JSON object per line")
    traced = _trace_rows(records, label)  # one OTLP export request per line (a collector's file exporter)
    if traced is not None:
        return traced
    return pd.DataFrame.from_records(records)


def _trace_rows(parsed: Any, label: str) -> pd.DataFrame | None:
    """The rows of an agent trace export (:mod:`misattribution.io.traces`), or ``None`` for a plain table."""
    from misattribution.io.traces import rows_from_data

    return rows_from_data(parsed, label)


# -- column roles --------------------------------------------------------------------------------------
def resolve_columns(
    columns: Sequence[Any],
    label: str,
    *,
    given: Mapping[str, str | None] | None = None,
    candidates: Mapping[str, Sequence[str | None]] = ALIASES,
    required: Sequence[str] = (),
    optional_any: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, str | None]:
    """Role -> column: the ``given`` mapping first, else the first of the role's ``candidates`` present
    and not taken by another role (default: :data:`ALIASES`).

    Args:
        columns: the table's columns.
        label: the file, for messages.
        given: explicit role -> column (a ``None`` or empty value means "look it up").
        candidates: role -> names to try, in order; the roles known.
        required: roles without which the table cannot be read.
        optional_any: role -> columns whose presence stands in for the role (a CLEAR bundle's
            ``clear_score`` for the score).

    Raises:
        InputError: an unknown role, a given column that is absent, or a required role with no column;
            the message lists the names looked for and the columns found.

    >>> resolve_columns(["critique", "rating"], "x.csv", required=("feedback", "score"))
    {'id': None, 'question': None, 'answer': None, 'reference': None, 'feedback': 'critique', 'score': 'rating', 'system': None, 'misattribution': None, 'human_score': None, 'human_misattribution': None}
    """
    names = [str(c) for c in columns]
    found = ", ".join(names) or "none"
    given = {role: column for role, column in (given or {}).items() if column}
    unknown = sorted(set(given) - set(candidates))
    if unknown:
        raise InputError(f"{label}: unknown column roles {unknown}; the roles are {', '.join(candidates)}")
    absent = {role: column for role, column in given.items() if column not in names}
    if absent:
        listed = ", ".join(f"{role} → {column!r}" for role, column in absent.items())
        raise _hint(f"{label}: the mapped columns are not in the file ({listed}); columns found: {found}",
                    "map each role to a column of the file's header") from None  # fmt: skip
    chosen: dict[str, str | None] = dict.fromkeys(candidates)
    chosen.update(given)
    taken = set(given.values())
    for role, options in candidates.items():
        if role not in given:
            column = next((c for c in options if c and c in names and c not in taken), None)
            chosen[role] = column
            taken.add(column)
    standing_in = {role for role, cols in (optional_any or {}).items() if any(c in names for c in cols)}
    missing = [role for role in required if chosen.get(role) is None and role not in standing_in]
    if missing:
        looked = "; ".join(f"{role}: {', '.join(dict.fromkeys(c for c in candidates[role] if c))}" for role in missing)
        raise _hint(
            f"{label}: missing required column(s) {', '.join(missing)} (looked for {looked}); columns found: {found}",
            f"rename the column or map it, e.g. columns={{{missing[0]!r}: 'your_column'}} (--{missing[0]}-column)",
        )
    return chosen


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold what, for judging. Only ``question`` and ``answer`` are required.

    >>> ColumnMap.from_any({"question": "instruction", "answer": "response"}).answer
    'response'
    """

    question: str = "question"
    answer: str = "answer"
    reference: str | None = "reference"
    criteria: str | None = "criteria"
    id: str | None = "id"
    rubric: str | None = "rubric"

    @classmethod
    def from_any(cls, value: ColumnMap | Mapping[str, str] | None) -> ColumnMap:
        if value is None:
            return cls()
        if isinstance(value, ColumnMap):
            return value
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown column roles {sorted(unknown)}; known roles are {sorted(known)}")
        return cls(**dict(value))


def check_columns(frame: pd.DataFrame, columns: ColumnMap, label: str, *, max_listed: int = 20) -> None:
    """Raise one :class:`InputError` listing every missing column and every bad cell.

    ``question`` and ``answer`` must be present in every row and be text (an empty answer is allowed:
    it is something to judge). ``reference`` and ``criteria`` may be missing or empty.
    """
    problems: list[str] = []
    for role in ("question", "answer"):
        column = getattr(columns, role)
        if column not in frame.columns:
            problems.append(f"no column {column!r} for the {role} (columns: {', '.join(map(str, frame.columns))})")
    if not problems:
        for role in ("question", "answer", "reference", "criteria"):
            column = getattr(columns, role)
            if column is None or column not in frame.columns:
                continue
            for index, value in frame[column].items():
                if is_missing(value):
                    if role == "question":
                        problems.append(f"row {index}, field {column!r}: missing")
                    elif role == "answer":
                        problems.append(f'row {index}, field {column!r}: missing (use "" for an empty answer)')
                elif not isinstance(value, str):
                    problems.append(f"row {index}, field {column!r}: expected text, got {type(value).__name__}")
                elif role == "question" and not value.strip():
                    problems.append(f"row {index}, field {column!r}: empty")
    if problems:
        shown = problems[:max_listed]
        more = f"\n  ... and {len(problems) - max_listed} more" if len(problems) > max_listed else ""
        raise InputError(f"{label}: {len(problems)} problem(s):\n  " + "\n  ".join(shown) + more)


def check_unique(ids: Sequence[Any], label: str, column: str) -> None:
    """Raise when an id occurs twice, naming the file, the column, the id and its rows (1-based).

    >>> check_unique(["a", "b", "a"], "t.csv", "id")
    Traceback (most recent call last):
    ...
    misattribution.io.tables.InputError: t.csv: column 'id': duplicate row ids in 1 case(s), e.g. 'a' in rows 1, 3
      hint: name a unique id column with columns={'id': ...} (--id-column)
    """
    series = pd.Series(list(ids), dtype=object)
    duplicated = series[series.duplicated(keep=False) & series.notna()]
    if len(duplicated):
        first = duplicated.iloc[0]
        rows = [i + 1 for i, v in enumerate(series) if v == first][:_SHOWN]
        raise _hint(
            f"{label}: column {column!r}: duplicate row ids in {duplicated.nunique()} case(s), e.g. {first!r} in rows "
            f"{', '.join(map(str, rows))}",
            "name a unique id column with columns={'id': ...} (--id-column)",
        )


# -- scores --------------------------------------------------------------------------------------------
def parse_scores(
    values: pd.Series, label: str, column: str, *, failed: Sequence[bool] | None = None, first_row: int = 1
) -> pd.Series:
    """A score column as floats (NaN where missing or blank).

    Text such as ``"3 points"``, booleans and ``inf`` are errors naming the file, the column and the first
    offending rows (numbered from ``first_row``). A column with no score at all is an error, unless every
    row is marked ``failed`` (a judgment that failed has no score: that is not an input error).
    """
    numbers_, bad = [], []
    for position, value in enumerate(values):
        number, why = parse_number(value)
        if why and why != "missing":
            bad.append(f"row {position + first_row} ({why})")
        numbers_.append(np.nan if number is None else number)
    if bad:
        raise _hint(
            f"{label}: column {column!r}: {len(bad)} score(s) are not numbers: {', '.join(bad[:_SHOWN])}"
            + (" ..." if len(bad) > _SHOWN else ""),
            "a score is a plain number such as 2 or 0.75 (no units, no words); leave the cell empty for no score",
        )
    scores = pd.Series(numbers_, index=values.index, dtype=float)
    all_failed = failed is not None and len(scores) > 0 and all(failed)
    if scores.isna().all() and not all_failed:
        raise _hint(f"{label}: column {column!r}: no row has a score (rows {first_row}-{len(scores) + first_row - 1})",
                    "map the score column (--score-column) or fill the scores") from None  # fmt: skip
    return scores


def parse_number(value: Any) -> tuple[float | None, str | None]:
    """A score cell as a finite number: ``(number, None)``, else ``(None, why)``; CSV text is parsed.

    >>> parse_number("2"), parse_number(""), parse_number("3 points"), parse_number(float("inf"))
    ((2.0, None), (None, 'missing'), (None, "not a number: '3 points'"), (None, 'not a finite number: inf'))
    """
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None, "missing"
    if isinstance(value, (bool, np.bool_)):
        return None, f"not a number: {value!r}"
    if isinstance(value, numbers.Real):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None, f"not a number: {_clip(str(value), 60)!r}"
    if not math.isfinite(number):
        return None, f"not a finite number: {value!r}"
    return number, None


def infer_scale(scores: pd.Series, label: str, column: str, *, share: float = 0.9) -> tuple[float, float]:
    """The scale scores are read on when none is given.

    Fractions within 0-1 are read on 0-1 (CLEAR's scale); otherwise the first of :data:`KNOWN_SCALES`
    (our taxonomies' 0-3 first) that holds every score. A few scores far off an otherwise clear scale (two
    of 40 rows at 17 and -4 on 0-3 data) never widen it: when a scale earlier in the list holds at least
    ``share`` of the scores, the others are an error naming their rows. Scores that fit no known scale are
    an error too. An explicit score range settles both.

    >>> infer_scale(pd.Series([0, 1, 3.0]), "t", "score"), infer_scale(pd.Series([0.2, 0.9]), "t", "score")
    ((0.0, 3.0), (0.0, 1.0))
    """
    values = scores.dropna().to_numpy(dtype=float)
    if not len(values):
        return KNOWN_SCALES[0]
    if values.min() >= 0 and values.max() <= 1 and np.any(values != np.round(values)):
        return 0.0, 1.0
    for lo, hi in KNOWN_SCALES:
        inside = (values >= lo) & (values <= hi)
        if inside.all():
            return lo, hi
        if inside.mean() >= share:
            check_scale(scores, (lo, hi), label, column, how="inferred")
    raise _hint(
        f"{label}: column {column!r}: scores from {values.min():g} to {values.max():g} fit no known scale "
        f"({', '.join(f'{lo:g}-{hi:g}' for lo, hi in KNOWN_SCALES)})",
        "give the judge's scale explicitly: score_range=(worst, best)",
    )


def check_scale(scores: pd.Series, scale: tuple[float, float], label: str, column: str, *, how: str = "given") -> None:
    """Raise when a score lies outside ``scale``, naming the file, the column and the first rows."""
    lo, hi = scale
    values = scores.to_numpy(dtype=float)
    outside = np.flatnonzero((values < lo) | (values > hi))
    if len(outside):
        shown = ", ".join(f"row {i + 1}: {values[i]:g}" for i in outside[:_SHOWN])
        raise _hint(
            f"{label}: column {column!r}: {len(outside)} score(s) outside the {how} scale {lo:g}-{hi:g} ({shown})",
            "fix those rows, or give the scale that holds them: score_range=(worst, best)",
        )


# -- label cells ---------------------------------------------------------------------------------------
def parse_label_cell(value: Any, where: str = "label cell") -> list[str]:
    """A misattribution cell as a list of labels: a list or array, JSON or Python list text, ``"a; b"``.

    The text is bounded before any parser sees it: at most :data:`MAX_LABEL_CELL_CHARS` characters and
    a flat list (brackets nested deeper are an :class:`InputError` naming ``where``, never a
    ``RecursionError``).

    >>> parse_label_cell('["result_error", "typos"]'), parse_label_cell("a; b"), parse_label_cell(None)
    (['result_error', 'typos'], ['a', 'b'], [])
    """
    if is_missing(value):
        return []
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        items = list(value)
        if any(isinstance(v, (list, tuple, dict, np.ndarray)) for v in items):
            raise _hint(f"{where}: a nested list", 'a label cell is a flat list of names, e.g. ["result_error"]')
        return [str(v).strip() for v in items if not is_missing(v) and str(v).strip()]
    text = str(value).strip()
    if len(text) > MAX_LABEL_CELL_CHARS:
        raise _hint(f"{where}: {len(text):,} characters, more than the {MAX_LABEL_CELL_CHARS:,} a label cell may hold",
                    "a label cell lists a few category names")  # fmt: skip
    if text.startswith(("[", "(")):
        depth = _bracket_depth(text)
        if depth > 1:
            raise _hint(f"{where}: brackets nested {depth} deep", 'a label cell is a flat list, e.g. ["result_error"]')
        parsed: Any = None
        try:
            parsed = json.loads(text)
        except ValueError:
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError, TypeError, MemoryError):
                parsed = None
        if isinstance(parsed, (list, tuple)):
            return [str(v).strip() for v in parsed if not is_missing(v) and str(v).strip()]
    return [part.strip() for part in re.split(r"[;,]", text) if part.strip()]


def _bracket_depth(text: str) -> int:
    """The deepest nesting of brackets outside quoted strings (a linear scan, no recursion)."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[({":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "])}":
            depth -= 1
    return deepest


# -- helpers -------------------------------------------------------------------------------------------
def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:300] if lines else type(err).__name__


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
