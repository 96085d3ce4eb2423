"""Reading the tables users bring (JSONL, JSON, CSV, TSV, Parquet, ``datasets``, pandas) as one thing.

Every reader returns a :class:`pandas.DataFrame`; every problem names the file, the row and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

READABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")


class InputError(ValueError):
    """Bad input data. The message names the source, the row(s) and the field(s)."""


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold what. Only ``question`` and ``answer`` are required.

    >>> ColumnMap.from_any({"question": "instruction", "answer": "response"}).answer
    'response'
    """

    question: str = "question"
    answer: str = "answer"
    reference: str | None = "reference"
    criteria: str | None = "criteria"
    id: str | None = "id"

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


def read_table(source: Any, *, name: str | None = None) -> tuple[pd.DataFrame, str]:
    """Load ``source`` into a DataFrame; return it with a name for error messages.

    ``source`` may be a path (``.jsonl``, ``.json``, ``.csv``, ``.tsv``, ``.parquet``), a
    ``datasets.Dataset``, a pandas DataFrame, a list of dicts or a dict of lists.
    """
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True), name or "<DataFrame>"
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = name or str(path)
        if not path.is_file():
            raise FileNotFoundError(f"{label}: no such file")
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            return read_jsonl(path), label
        if suffix == ".json":
            try:
                return pd.read_json(path), label
            except ValueError:
                return read_jsonl(path), label
        if suffix in (".csv", ".tsv"):
            # Keep text as text: "001" or "NA" in a question must not turn into numbers or NaN.
            sep = "\t" if suffix == ".tsv" else ","
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False), label
        if suffix == ".parquet":
            return pd.read_parquet(path), label
        raise InputError(f"{label}: cannot read {suffix or 'files without a suffix'}; use one of {READABLE_SUFFIXES}")
    if hasattr(source, "to_pandas") and hasattr(source, "features"):  # a datasets.Dataset
        return source.to_pandas(), name or "<Dataset>"
    if isinstance(source, Mapping):
        return pd.DataFrame(dict(source)), name or "<dict>"
    if isinstance(source, Iterable):
        return pd.DataFrame(list(source)), name or "<records>"
    raise TypeError(f"cannot read a table from {type(source).__name__}")


def read_jsonl(path: str | Path, *, label: str | None = None, max_rows: int | None = None) -> pd.DataFrame:
    """A JSONL file of objects as a DataFrame; blank lines are skipped.

    Raises :class:`InputError` naming ``label`` (default: the path) and the line for a line that is not a
    JSON object, and, with ``max_rows``, as soon as the file holds more rows than that.
    """
    path = Path(path)
    label = label or str(path)
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if max_rows is not None and len(records) >= max_rows:
                raise InputError(f"{label}: more than the {max_rows:,} rows allowed")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{label}: line {number} is not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise InputError(f"{label}: line {number} is a JSON {type(record).__name__}, not an object")
            records.append(record)
    return pd.DataFrame.from_records(records)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and lists
        return False


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
                if _is_missing(value):
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


def optional_text(value: Any) -> str | None:
    """A cell as text, or ``None`` when it is missing or blank."""
    if _is_missing(value):
        return None
    text = str(value)
    return text if text.strip() else None
