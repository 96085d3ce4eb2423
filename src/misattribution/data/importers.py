"""Importers: judged rows people already have, as AttriData rows.

Two sources are read:

* :func:`import_clear` -- an IBM CLEAR results bundle: the ``.zip`` its pipeline writes (or a folder)
  holding ``results*.parquet`` (or ``results*.csv``) and ``metadata*.json``;
* :func:`import_prometheus` -- Prometheus-style rows (``instruction``, ``response``,
  ``reference_answer``, ``feedback``, ``score`` on 1-5, ``criteria``; the ``orig_*`` columns of the
  Feedback Collection too) from any table :func:`~misattribution.io.tables.read_table` reads.

Both return an :class:`ImportResult`: the rows in the schema's columns (plus the source's raw fields in
extra columns), a :class:`~misattribution.data.validate.ValidationReport` of every problem (each naming
source, row and field), and ways to hand the rows on (:meth:`ImportResult.to_dataset`,
:meth:`ImportResult.to_judged`). No problem passes silently: a null score, a null reference, an issue
list that is not a list of strings, an issue with no category are all reported.

Score maps
----------
``score_map`` turns the source's score into one on the taxonomy's scale. It is ``None`` (the default
below), a dict (source score -> our score; a score not in it is a problem) or a callable (source score
-> our score; an off-scale result is a problem).

* CLEAR judges score in [0, 1]. The default bins them onto the scale by rounding half up,
  ``min + floor(s * (max - min) + 0.5)`` (:func:`clear_score_to_scale`); on 0-3: [0, 1/6) -> 0,
  [1/6, 1/2) -> 1, [1/2, 5/6) -> 2, [5/6, 1] -> 3. So 0.9 becomes 3, the top score: CLEAR's judges
  give 0.9 to answers with a small flaw, and such rows then break the paper's rule when they carry a
  mapped issue (a warning by default). Pass ``score_map={0.9: 2, ...}`` to decide otherwise.
* Prometheus scores 1-5. The default (:data:`PROMETHEUS_SCORE_MAP`, for a 0-3 scale only) is
  5 -> 3 (meets the rubric: correct), 4 -> 2 (minor flaw), 3 and 2 -> 1 (the core is partly or mostly
  wrong), 1 -> 0 (fails the rubric entirely).

CLEAR issues
------------
CLEAR stores each row's recurring issues as a Python literal (``"['Calculation errors ...']"``). It
is parsed, never evaluated: the text must be a list or tuple of string constants (checked on its
syntax tree before :func:`ast.literal_eval`); anything else is an error naming the row and field.
``issue_map`` maps an issue's text (compared ignoring case and runs of blanks) to a category id or
name, a list of them, or ``None`` (a deliberate "not an error"). Issues it does not map are kept in
``clear_issues``, counted in :attr:`ImportResult.unmapped_issues` (rows per issue) and summarised in
one warning.

Example:
    >>> result = import_prometheus([
    ...     {"instruction": "What is 2 + 2?", "response": "4", "reference_answer": "4",
    ...      "feedback": "Correct.", "score": 5},
    ...     {"instruction": "What is 3 * 3?", "response": "6", "reference_answer": "9",
    ...      "feedback": "3 * 3 is 9, not 6.", "score": 2},
    ... ], language="en")
    >>> result.rows[["id", "score", "misattribution", "prometheus_score"]].to_dict("records")
    [{'id': 'prometheus-0', 'score': 3, 'misattribution': [], 'prometheus_score': 5}, {'id': 'prometheus-1', 'score': 1, 'misattribution': [], 'prometheus_score': 2}]
    >>> print(result.report.format())
    <records>: 1 warning(s):
      <records>: row 1 (id 'prometheus-1'), field 'misattribution': score 1 is below 3 and needs a misattribution, got none
"""

from __future__ import annotations

import ast
import io
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from misattribution.data.schema import COLUMNS, attridata_features
from misattribution.data.validate import (
    RULES,
    DataValidationError,
    Problem,
    Rule,
    ValidationReport,
    is_missing,
    parse_labels,
    parse_score,
    validate_rows,
)
from misattribution.io.archives import ZipLimits, is_noise, open_zip
from misattribution.io.tables import InputError, parse_number, read_csv_bytes, read_table, resolve_columns
from misattribution.taxonomy import ScoreScale, Taxonomy, load_taxonomy

__all__ = [
    "CLEAR_EXTRA_COLUMNS",
    "JUDGED_COLUMNS",
    "PROMETHEUS_EXTRA_COLUMNS",
    "PROMETHEUS_SCORE_MAP",
    "ImportResult",
    "ZipLimits",
    "clear_score_to_scale",
    "import_clear",
    "import_prometheus",
    "parse_issue_list",
]

ScoreMap = Callable[[float], Any] | Mapping[Any, Any] | None
IssueMap = Mapping[str, "str | list[str] | tuple[str, ...] | None"]

#: Prometheus 1-5 -> AttriData 0-3 (see the module docstring).
PROMETHEUS_SCORE_MAP: dict[int, int] = {5: 3, 4: 2, 3: 1, 2: 1, 1: 0}
#: The raw fields kept next to the schema's columns.
CLEAR_EXTRA_COLUMNS = ("clear_score", "clear_issues", "clear_summary")
PROMETHEUS_EXTRA_COLUMNS = ("prometheus_score",)
#: The columns of :meth:`ImportResult.to_judged` (those of ``runner.judge_dataset``'s results).
JUDGED_COLUMNS = ("feedback", "misattribution", "score", "status", "problems", "raw", "error")

_MAX_LITERAL_CHARS = 100_000
# CLEAR's results table: results*.parquet / .csv in a bundle, analysis_results_*.csv in an agentic step folder.
_RESULTS = re.compile(r"^(?:analysis_)?results.*\.(parquet|csv)$", re.IGNORECASE)
# Its settings: metadata*.json in a bundle, else the config_*.json an agentic step folder holds.
_METADATA = re.compile(r"^metadata.*\.json$", re.IGNORECASE)
_CONFIG = re.compile(r"^config.*\.json$", re.IGNORECASE)
# One agent's bundle inside CLEAR's agentic result (unified_ui_results.zip): agent_results/<agent>.zip.
_AGENT_BUNDLE = re.compile(r"^(?:.*/)?agent_results/([^/]+)\.zip$", re.IGNORECASE)


# -- the result ------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    """Imported rows and everything found wrong with them.

    Attributes:
        rows: one row per input row, in input order: the schema's columns
            (:data:`~misattribution.data.schema.COLUMNS`; ``misattribution`` and ``primary`` are lists
            of ids, a missing score is ``None``) then the source's raw fields (``clear_score``,
            ``clear_issues`` and ``clear_summary``, or ``prometheus_score``).
        report: the problems of the import and of :func:`~misattribution.data.validate.validate_rows`
            on the rows (with the paper's rule a warning unless ``rule="error"``).
        unmapped_issues: CLEAR issues with no category in ``issue_map`` -> the number of rows with it.
        metadata: the CLEAR bundle's ``metadata.json`` (empty for other sources).
        taxonomy: the taxonomy the rows were mapped to.
    """

    rows: pd.DataFrame
    report: ValidationReport
    unmapped_issues: Counter[str] = field(default_factory=Counter)
    metadata: dict[str, Any] = field(default_factory=dict)
    taxonomy: Taxonomy = field(default_factory=load_taxonomy)

    @property
    def extra_columns(self) -> list[str]:
        """The raw source fields kept after the schema's columns."""
        return [c for c in self.rows.columns if c not in COLUMNS]

    def to_dataset(self, taxonomy: Taxonomy | str | None = None, *, drop_invalid: bool = False) -> Any:
        """The rows as a ``datasets.Dataset`` with ``attridata_features`` (extra columns dropped).

        Args:
            taxonomy: the taxonomy of the features (default: the import's); the categories are
                checked against it.
            drop_invalid: leave out the rows with an error in :attr:`report` instead of raising.

        Raises:
            DataValidationError: the report has errors (all listed) and ``drop_invalid`` is false, or
                a file-level error, or categories unknown to ``taxonomy``.
        """
        from datasets import Dataset

        tax = self.taxonomy if taxonomy is None else load_taxonomy(taxonomy)
        errors = self.report.errors
        bad_rows = {p.row for p in errors if p.row is not None}
        if any(p.row is None for p in errors) or (bad_rows and not drop_invalid):
            hint = "" if drop_invalid else " (drop_invalid=True leaves out the rows with errors)"
            raise DataValidationError(errors, f"{self.report.source}: {len(errors)} error(s){hint}")
        frame = self.rows.drop(index=[self.rows.index[i] for i in sorted(bad_rows)])
        frame = _retarget(frame, tax, self.report.source)
        columns = {c: [None if _is_null(v) else v for v in frame[c]] for c in COLUMNS}
        return Dataset.from_dict(columns, features=attridata_features(tax))

    def refuse_unusable_scores(self) -> None:
        """Raise when a score is there but unusable (text, ``inf``, off the source's scale): for reading
        the rows as judged results (``discover``, the Space), such a row is an input error, not a gap.
        A missing score is not (a failed judgment has none).

        Raises:
            InputError: naming the file, the column and the first rows.
        """
        bad = [p for p in self.report.errors if p.message.startswith("no score:") and not p.message.endswith("missing")]
        if bad:
            shown = "\n  ".join(str(p) for p in bad[:5])
            more = f"\n  ... and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise InputError(
                f"{bad[0].source}: column {bad[0].field!r}: {len(bad)} unusable score(s):\n  {shown}{more}\n"
                "  hint: a score is a number on the source's scale (CLEAR: 0-1); leave the cell empty for no score"
            )

    def to_judged(self) -> pd.DataFrame:
        """The rows as judged results (the columns of ``runner.judge_dataset``), ``status="imported"``.

        Columns: ``id``, ``question``, ``answer``, ``reference``, ``instruction``, ``language``,
        ``source``, then ``feedback``, ``misattribution``, ``score``, ``status``, ``problems`` (this
        row's import and validation messages), ``raw`` and ``error`` (``None``), then the extra columns.
        """
        inputs = ["id", "question", "answer", "reference", "instruction", "language", "source"]
        judged = self.rows[inputs].copy()
        messages: dict[int, list[str]] = {}
        for problem in (*self.report.errors, *self.report.warnings):
            if problem.row is not None:
                where = f"{problem.field}: " if problem.field else ""
                messages.setdefault(problem.row, []).append(where + problem.message)
        filled = {
            "status": "imported",
            "problems": pd.Series([messages.get(i, []) for i in range(len(judged))], dtype=object),
            "raw": None,
            "error": None,
        }
        for column in JUDGED_COLUMNS:
            judged[column] = filled[column] if column in filled else self.rows[column].to_numpy()
        for column in self.extra_columns:
            judged[column] = self.rows[column].to_numpy()
        return judged


def _is_null(value: Any) -> bool:
    return is_missing(value)  # lists and arrays are never missing


def _retarget(frame: pd.DataFrame, tax: Taxonomy, source: str) -> pd.DataFrame:
    """Check the categories and scores against ``tax`` and re-derive ``primary``."""
    problems, primaries = [], []
    for position, record in zip(frame.index, frame.to_dict("records")):
        labels, why = parse_labels(record["misattribution"], tax)
        if why:
            problems.append(Problem(source, position, record["id"], "misattribution", why))
        if not _is_null(record["score"]):
            why = parse_score(record["score"], tax)[1]
            if why:
                problems.append(Problem(source, position, record["id"], "score", why))
        primaries.append(tax.primaries_of(labels or []))
    if problems:
        raise DataValidationError(problems, f"{source}: {len(problems)} row(s) do not fit the taxonomy {tax.name!r}")
    frame = frame.copy()
    frame["primary"] = pd.Series(primaries, index=frame.index, dtype=object)
    return frame


# -- reading a CLEAR bundle safely -----------------------------------------------------------------
def _pick(names: list[str], label: str) -> tuple[str, str | None]:
    """The results file (Parquet preferred over CSV) and the metadata file among ``names``."""
    files = [n for n in names if not is_noise(n)]
    base = {n: n.replace("\\", "/").rsplit("/", 1)[-1] for n in files}
    parquet = [n for n in files if _RESULTS.match(base[n]) and base[n].lower().endswith(".parquet")]
    csv = [n for n in files if _RESULTS.match(base[n]) and base[n].lower().endswith(".csv")]
    metadata = [n for n in files if _METADATA.match(base[n])] or [n for n in files if _CONFIG.match(base[n])]
    results = parquet or csv
    if not results:
        listed = sorted(files)
        among = f"{listed[:8]}{f' and {len(listed) - 8} more' if len(listed) > 8 else ''}" if listed else "no files"
        raise InputError(
            f"{label}: no results file (results*.parquet, results*.csv or analysis_results*.csv) among {among}"
        )
    if len(results) > 1:
        raise InputError(f"{label}: several results files {sorted(results)}; keep one per bundle")
    if len(metadata) > 1:
        raise InputError(f"{label}: several metadata files {sorted(metadata)}; keep one per bundle")
    return results[0], (metadata[0] if metadata else None)


def _zip_files(source: Any, label: str, limits: ZipLimits) -> dict[str, tuple[str, bytes] | None]:
    """``{"results": (name, bytes), "metadata": (name, bytes) | None}`` from a zip, all in memory, through
    the one zip guard (:func:`misattribution.io.archives.open_zip`)."""
    with open_zip(source, label, limits) as archive:
        results, metadata = _pick(archive.names, label)
        out: dict[str, tuple[str, bytes] | None] = {"metadata": None}
        for role, name in (("results", results), ("metadata", metadata)):
            if name is not None:
                out[role] = (name, archive.read(name, rows="csv" if name.lower().endswith(".csv") else None))
    return out


def _folder_files(folder: Path, limits: ZipLimits) -> dict[str, tuple[str, bytes] | None]:
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    results, metadata = _pick(names, str(folder))
    out: dict[str, tuple[str, bytes] | None] = {"metadata": None}
    for role, name in (("results", results), ("metadata", metadata)):
        if name is not None:
            path = folder / name
            if path.stat().st_size > limits.max_total_bytes:
                raise InputError(f"{path}: larger than the limit of {limits.max_total_bytes} bytes")
            out[role] = (name, path.read_bytes())
    return out


def _parse_results(name: str, data: bytes, where: str) -> pd.DataFrame:
    """A results table from bytes: Parquet through pyarrow, CSV as text (no pickles either way)."""
    try:
        if name.lower().endswith(".parquet"):
            return pd.read_parquet(io.BytesIO(data), engine="pyarrow").reset_index(drop=True)
        # Text stays text ("NA" in an answer is not a gap); the score is parsed later.
        return read_csv_bytes(data, where)
    except InputError:
        raise
    except Exception as err:  # pyarrow, the CSV parser and the decoder raise many kinds
        raise InputError(f"{where}: cannot read the results table ({type(err).__name__}: {err})") from None


def _parse_metadata(data: bytes, where: str) -> dict[str, Any]:
    try:
        metadata = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{where}: not valid JSON ({err})") from None
    if not isinstance(metadata, dict):
        raise InputError(f"{where}: expected a JSON object, got a JSON {type(metadata).__name__}")
    return metadata


def is_clear_member(name: str) -> bool:
    """Whether a zip member makes the zip a CLEAR upload: a results table or one agent's bundle.

    >>> is_clear_member("bundle/results.parquet"), is_clear_member("agent_results/planner.zip")
    (True, True)
    >>> is_clear_member("rows.parquet")
    False
    """
    name = name.replace("\\", "/")
    return bool(_RESULTS.match(name.rsplit("/", 1)[-1]) or _AGENT_BUNDLE.match(name))


def clear_agent_bundles(
    path: str | Path, limits: ZipLimits | None = None, *, label: str | None = None
) -> list[tuple[str, str, bytes]] | None:
    """The per-agent bundles of a CLEAR agentic result, as ``(agent, label, zip bytes)``, or ``None`` when
    ``path`` is not one (``label`` names it in messages; default: the path).

    CLEAR's agentic pipeline writes one bundle per agent (each step the agent took is a row) and packs them
    in ``unified_ui_results.zip`` as ``agent_results/<agent>.zip``. Accepted: that zip (read through the one
    zip guard, :func:`misattribution.io.archives.open_zip`; each inner bundle is guarded again when it is
    imported), a folder holding ``agent_results/*.zip``, and a folder of ``*.zip`` bundles with no results
    file of its own. A zip or folder with a results file at its top is a single bundle: ``None``. The
    full-trajectory analysis the unified zip also holds (``full_traj_results/``) is not read: its rows are
    whole trajectories, not the agents' steps.
    """
    limits = limits or ZipLimits()
    path = Path(path)
    label = label or str(path)
    if path.is_dir():
        names = [p.name for p in path.iterdir() if p.is_file()]
        if any(_RESULTS.match(n) for n in names):
            return None
        zips = sorted(path.glob("agent_results/*.zip")) or sorted(p for p in path.glob("*.zip") if not is_noise(p.name))
        if not zips:
            return None
        bundles = []
        for zipped in zips:
            if zipped.stat().st_size > limits.max_compressed_bytes:
                raise InputError(f"{zipped}: larger than the limit of {limits.max_compressed_bytes} bytes")
            bundles.append((zipped.stem, str(zipped), zipped.read_bytes()))
        return bundles
    if not path.is_file() or path.suffix.lower() != ".zip":
        return None
    with open_zip(path, label, limits) as archive:
        members = [n for n in archive.names if not is_noise(n)]
        if any(_RESULTS.match(n) for n in members):  # a results file at the top: one bundle
            return None
        agents = [(m.group(1), n) for n in members for m in [_AGENT_BUNDLE.match(n.replace("\\", "/"))] if m]
        return [(agent, f"{label}:{name}", archive.read(name)) for agent, name in sorted(agents)] or None


def _load_bundle(source: Any, limits: ZipLimits) -> tuple[pd.DataFrame, dict[str, Any], str, list[str]]:
    """The results table, the metadata, a label for messages (``bundle.zip:results.parquet``), notes."""
    separator = ":"  # bundle.zip:results.parquet, but folder/results.parquet
    if isinstance(source, (bytes, bytearray, memoryview)):
        label, files = "<zip bytes>", _zip_files(io.BytesIO(bytes(source)), "<zip bytes>", limits)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        label = str(path)
        if path.is_dir():
            files, separator = _folder_files(path, limits), "/"
        elif path.is_file():
            files = _zip_files(path, label, limits)
        else:
            raise FileNotFoundError(f"{label}: no such file or folder")
    elif hasattr(source, "read"):
        label = str(getattr(source, "name", "<zip stream>"))
        files = _zip_files(source, label, limits)
    else:
        raise TypeError(f"a CLEAR bundle is a .zip path, a folder, bytes or a binary stream, not {type(source)}")
    name, data = files["results"]  # type: ignore[misc]
    where = f"{label.rstrip('/') if separator == '/' else label}{separator}{name}"
    frame = _parse_results(name, data, where)
    notes = []
    if files["metadata"] is None:
        notes.append("no metadata*.json; using CLEAR's default column names")
        metadata: dict[str, Any] = {}
    else:
        meta_name, meta_data = files["metadata"]
        metadata = _parse_metadata(meta_data, where[: -len(name)] + meta_name)
    return frame, metadata, where, notes


# -- cells -----------------------------------------------------------------------------------------
def parse_issue_list(value: Any) -> tuple[list[str] | None, str | None]:
    """``(issues, None)`` for a CLEAR issue cell, else ``(None, why)``. Never evaluates code.

    A cell is a list or tuple of strings, as a Python literal (CLEAR's format) or as a real list;
    ``[]`` is no issue. The literal is parsed and its syntax tree checked to be string constants in a
    list or tuple before :func:`ast.literal_eval` sees it.

    >>> parse_issue_list("['Calculation errors', 'Lack of clarity']")
    (['Calculation errors', 'Lack of clarity'], None)
    >>> parse_issue_list("__import__('os').system('true')")
    (None, 'not a list of strings: a function call')
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        items = list(value)
        bad = [type(item).__name__ for item in items if not isinstance(item, str)]
        if bad:
            return None, f"not a list of strings: holds {bad[0]}"
        return [item.strip() for item in items if item.strip()], None
    if not isinstance(value, str):
        return None, f"not a list of strings: {type(value).__name__}"
    text = value.strip()
    if len(text) > _MAX_LITERAL_CHARS:
        return None, f"{len(text)} characters, more than the {_MAX_LITERAL_CHARS} an issue list may have"
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None, f"not a Python list literal: {_clip(text)!r}"
    node = tree.body
    if not isinstance(node, (ast.List, ast.Tuple)):
        return None, f"not a list of strings: {_describe(node)}"
    for element in node.elts:
        if not (isinstance(element, ast.Constant) and isinstance(element.value, str)):
            return None, f"not a list of strings: holds {_describe(element)}"
    items = ast.literal_eval(node)
    return [item.strip() for item in items if item.strip()], None


def _parse_issue_cell(
    value: Any, parsed: dict[str, tuple[list[str] | None, str | None]]
) -> tuple[list[str] | None, str | None]:
    """:func:`parse_issue_list`, each distinct text cell parsed once (CLEAR repeats its issue lists)."""
    if not isinstance(value, str):
        return parse_issue_list(value)
    if value not in parsed:
        parsed[value] = parse_issue_list(value)
    issues, why = parsed[value]
    return (None if issues is None else list(issues)), why


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, ast.Constant):
        return f"a {type(node.value).__name__} constant"
    return f"a {type(node).__name__} expression"


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def clear_score_to_scale(score: float, scale: ScoreScale | Taxonomy | str | None = None) -> int:
    """CLEAR's [0, 1] judge score on the taxonomy's integer scale, rounding half up.

    >>> [clear_score_to_scale(s) for s in (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0)]
    [0, 1, 1, 2, 2, 3, 3]
    """
    if not isinstance(scale, ScoreScale):
        scale = load_taxonomy(scale).scale
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"a CLEAR score lies in [0, 1], got {score}")
    return scale.min + math.floor(score * (scale.max - scale.min) + 0.5)


def _key(value: Any) -> float:
    return round(float(value), 9)


ScoreMapper = Callable[[float], tuple[int | None, str | None]]


def _score_mapper(score_map: ScoreMap, tax: Taxonomy, default: Callable[[Taxonomy], ScoreMapper]) -> ScoreMapper:
    """Source score -> ``(score on the scale, None)`` or ``(None, why)``."""
    if score_map is None:
        return default(tax)
    if isinstance(score_map, Mapping):
        try:
            table = {_key(k): v for k, v in score_map.items()}
        except (TypeError, ValueError):
            raise ValueError(f"score_map keys must be numbers, got {list(score_map)}") from None
        bad = {k: v for k, v in score_map.items() if parse_score(v, tax)[1]}
        if bad:
            raise ValueError(f"score_map values must be on the scale {tax.scale.min}-{tax.scale.max}, got {bad}")

        def from_table(number: float) -> tuple[int | None, str | None]:
            if _key(number) not in table:
                return None, f"{number:g} is not a key of score_map {sorted(table)}"
            return parse_score(table[_key(number)], tax)

        return from_table
    if callable(score_map):

        def from_callable(number: float) -> tuple[int | None, str | None]:
            mapped = score_map(number)
            score, why = parse_score(mapped, tax)
            return (score, None) if why is None else (None, f"score_map({number:g}) gave {mapped!r}: {why}")

        return from_callable
    raise TypeError(f"score_map must be None, a dict or a callable, not {type(score_map).__name__}")


def _clear_default(tax: Taxonomy) -> ScoreMapper:
    def bin_score(number: float) -> tuple[int | None, str | None]:
        if not 0.0 <= number <= 1.0:
            return None, f"CLEAR score {number:g} is outside [0, 1] (pass a score_map for another range)"
        return clear_score_to_scale(number, tax.scale), None

    return bin_score


def _prometheus_default(tax: Taxonomy) -> ScoreMapper:
    if (tax.scale.min, tax.scale.max) != (0, 3):
        raise ValueError(
            f"the default Prometheus map is 1-5 -> 0-3; the taxonomy {tax.name!r} scores "
            f"{tax.scale.min}-{tax.scale.max}: pass a score_map"
        )

    def from_rubric(number: float) -> tuple[int | None, str | None]:
        if number not in PROMETHEUS_SCORE_MAP:
            return None, f"{number:g} is not a Prometheus score (an integer 1-5)"
        return PROMETHEUS_SCORE_MAP[int(number)], None

    return from_rubric


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _issue_table(issue_map: IssueMap | None, tax: Taxonomy) -> dict[str, list[str]]:
    """Folded issue text -> category ids; every bad entry listed in one ``ValueError``."""
    table: dict[str, list[str]] = {}
    bad = []
    for issue, target in (issue_map or {}).items():
        if not isinstance(issue, str):
            bad.append(f"{issue!r}: keys are issue texts")
            continue
        if target is None:
            table[_fold(issue)] = []
            continue
        labels, why = parse_labels(list(target) if isinstance(target, (list, tuple)) else [target], tax)
        if why:
            bad.append(f"{issue!r}: {why}")
        else:
            table[_fold(issue)] = labels or []
    if bad:
        raise ValueError(f"issue_map has {len(bad)} bad entr{'y' if len(bad) == 1 else 'ies'}: " + "; ".join(bad))
    return table


# -- building rows ---------------------------------------------------------------------------------
_CJK_CLASS = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"  # runner._CJK's ranges


def detect_languages(texts: Sequence[str]) -> list[str]:
    """:func:`misattribution.runner.detect_language` of many texts at once: the same rule (``"zh"`` when at
    least a tenth of the letters are CJK ideographs, else ``"en"``), the letters and ideographs counted by
    Arrow's regex engine instead of a Python loop over characters (100,000 CLEAR rows: ~50 s -> < 1 s).

    >>> detect_languages(["3 乘 4 等于多少？", "What is 3 x 4?", ""])
    ['zh', 'en', 'en']
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(texts):
        return []
    codes, distinct = pd.factorize(pd.Series(texts, dtype=object))  # each distinct text once
    array = pa.array(distinct, type=pa.large_string())
    chinese = np.zeros(len(distinct), dtype=bool)
    # Without one ideograph a text is "en": only the others need their letters counted.
    some = np.flatnonzero(pc.match_substring_regex(array, _CJK_CLASS).to_numpy(zero_copy_only=False))
    if len(some):
        subset = array.take(pa.array(some))

        def count(pattern: str) -> np.ndarray:  # characters matching: the length lost removing their runs
            rest = pc.replace_substring_regex(subset, pattern + "+", "")
            return (pc.utf8_length(subset).to_numpy() - pc.utf8_length(rest).to_numpy()).astype(np.int64)

        letters, ideographs = count(r"\pL"), count(_CJK_CLASS)
        chinese[some] = (letters > 0) & (ideographs >= 0.1 * letters)
    return np.where(chinese, "zh", "en")[codes].tolist()


@dataclass
class _Rows:
    """Rows being imported, held as columns (one list per field), and the problems found, each tied to a
    schema field for de-duplication."""

    label: str
    tax: Taxonomy
    language: str | None
    source: str
    columns: dict[str, list[Any]] = field(default_factory=dict)
    problems: list[tuple[Problem, str, str | None]] = field(default_factory=list)
    _primaries: dict[tuple[str, ...], list[str]] = field(default_factory=dict)

    def note(self, row: int | None, row_id: Any, column: str | None, message: str, severity: str = "error") -> None:
        self.problems.append((Problem(self.label, row, row_id, column, message), severity, column))

    def cell(self, row: int, row_id: Any, column: str, target: str, message: str, severity: str = "error") -> None:
        """A problem in the source column ``column`` that fills the schema field ``target``."""
        self.problems.append((Problem(self.label, row, row_id, column, message), severity, target))

    def add(self, record: dict[str, Any]) -> None:
        """One row (a field -> value dict)."""
        self.extend({name: [value] for name, value in record.items()})

    def extend(self, columns: dict[str, list[Any]]) -> None:
        """Rows given as columns (field -> one value per row); the fields every importer derives are added."""
        count = len(columns["misattribution"])
        # The language is guessed for all rows at once in finish() when None.
        columns.update(language=[self.language] * count, source=[self.source] * count)
        columns["primary"] = [self.primaries_of(labels) for labels in columns["misattribution"]]
        for name in ("num_annotators", "score_agreement", "misattribution_agreement"):
            columns[name] = [None] * count
        columns["adjudicated"] = [False] * count
        for name, values in columns.items():
            self.columns.setdefault(name, []).extend(values)

    def primaries_of(self, labels: list[str]) -> list[str]:
        """The taxonomy's primaries of ``labels``, computed once per distinct list (a fresh list per row)."""
        key = tuple(labels)
        if key not in self._primaries:
            self._primaries[key] = self.tax.primaries_of(labels)
        return list(self._primaries[key])

    def finish(self, extras: tuple[str, ...], rule: Rule, **kwargs: Any) -> ImportResult:
        columns = self.columns
        if self.language is None:
            texts = [f"{q or ''}\n{a or ''}" for q, a in zip(columns.get("question", []), columns.get("answer", []))]
            columns["language"] = detect_languages(texts)
        frame = pd.DataFrame({name: pd.Series(columns.get(name, []), dtype=object) for name in (*COLUMNS, *extras)})
        checked = validate_rows(frame[list(COLUMNS)], taxonomy=self.tax, source=self.label, rule=rule)
        covered = {(p.row, target) for p, _, target in self.problems if p.row is not None}
        report = ValidationReport(source=self.label)
        for problem, severity, _ in self.problems:
            report.add(problem, severity)
        for severity, found in (("error", checked.errors), ("warning", checked.warnings)):
            for problem in found:
                if (problem.row, problem.field) not in covered:
                    report.add(problem, severity)
        for problems in (report.errors, report.warnings):  # file-level first, then by row (stable)
            problems.sort(key=lambda p: -1 if p.row is None else p.row)
        return ImportResult(frame, report, taxonomy=self.tax, **kwargs)


def _text(value: Any) -> Any:
    """Text cells pass through (the validator reports non-text); a gap or blank text becomes ``None``."""
    if _is_null(value) or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _cell(value: Any) -> Any:
    """A cell as given, a gap as ``None`` (an empty answer stays ``""``: the validator reports it)."""
    return None if _is_null(value) else value


def _row_id(value: Any) -> str | None:
    if _is_null(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if text.strip() else None


def _check_rule(rule: Rule) -> None:
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")


# -- CLEAR -----------------------------------------------------------------------------------------
def _clear_candidates(metadata: Mapping[str, Any]) -> dict[str, tuple[str | None, ...]]:
    """Where each field may be: metadata.json's column names first, then CLEAR's output names."""

    def meta(key: str) -> str | None:
        value = metadata.get(key)
        return value if isinstance(value, str) and value.strip() else None

    return {
        "id": (meta("qid_column"), "question_id", "id"),
        "question": (meta("question_column"), "question", meta("model_input_column"), "model_input"),
        "answer": (meta("model_output_column"), "response"),
        "reference": (meta("reference_column"), "ground_truth"),
        "instruction": (),
        "feedback": ("evaluation_text",),
        "summary": ("evaluation_summary",),
        "score": ("score",),
        "issues": ("recurring_issues_str",),
    }


def _criteria_text(criteria: Any) -> str | None:
    """CLEAR's ``evaluation_criteria`` (text, or a name -> description dict) as an instruction."""
    if isinstance(criteria, str) and criteria.strip():
        return criteria.strip()
    if isinstance(criteria, Mapping) and criteria:
        return "\n".join(f"{name}: {text}" for name, text in criteria.items())
    return None


def _clear_columns(
    rows: _Rows,
    frame: pd.DataFrame,
    cols: dict[str, str | None],
    scorer: ScoreMapper,
    pure_scorer: bool,
    issues_table: dict[str, list[str]],
    unmapped: Counter[str],
    instruction: str | None,
) -> None:
    """CLEAR's rows as AttriData columns, one column at a time (a row's problems are noted in the order
    feedback, reference, score, issues; :meth:`_Rows.finish` puts every problem in row order, stably).

    Each distinct score cell is parsed once when the scorer is ``pure_scorer`` (the default binning or a
    dict), each distinct issue-list text once, and each distinct issue list mapped once."""
    count = len(frame)
    cells = {role: frame[name].tolist() for role, name in cols.items() if name}

    # A non-blank str is kept as it is by _text, _row_id and _cell: tested first, inline (400,000 calls fewer).
    def texts(role: str) -> list[Any]:
        values = cells.get(role)
        return [v if type(v) is str and v.strip() else _text(v) for v in values] if values else [None] * count

    if "id" in cells:
        ids = [v if type(v) is str and v.strip() else _row_id(v) for v in cells["id"]]
    else:
        ids = [f"{rows.source}-{p}" for p in range(count)]
    feedback, summary, reference = texts("feedback"), texts("summary"), texts("reference")
    for position in range(count):
        if feedback[position] is None and summary[position] is not None:
            if cols["feedback"]:
                message = "empty; used the evaluation summary"
                rows.cell(position, ids[position], cols["feedback"], "feedback", message, "warning")
            feedback[position] = summary[position]
    if cols["reference"]:
        for position in (p for p, text in enumerate(reference) if text is None):
            rows.cell(position, ids[position], cols["reference"], "reference", "missing; the row has no reference", "warning")  # type: ignore[arg-type]  # fmt: skip
    raw_scores, scores = [], []
    scored: dict[Any, tuple[float | None, int | None, str | None]] = {}
    for position, cell in enumerate(cells["score"]):
        kind = type(cell)
        key = (kind, repr(cell) if kind is float else cell) if pure_scorer and kind in (str, int, float) else None
        found = scored.get(key) if key is not None else None
        if found is None:
            raw, why = parse_number(cell)
            score = None
            if why is None:
                score, why = scorer(raw)  # type: ignore[arg-type]
            found = (raw, score, why)
            if key is not None:
                scored[key] = found
        raw, score, why = found
        if why:
            rows.cell(position, ids[position], cols["score"], "score", f"no score: the CLEAR score is {why}")  # type: ignore[arg-type]
        raw_scores.append(raw)
        scores.append(score)
    issue_lists: list[list[str] | None] = []
    misattribution: list[list[str]] = []
    parsed: dict[str, tuple[list[str] | None, str | None]] = {}
    mapped: dict[tuple[str, ...], tuple[list[str], list[str]]] = {}  # issues -> (categories, unmapped issues)
    for position in range(count):
        issues: list[str] | None = []
        if cols["issues"]:
            cell = cells["issues"][position]
            if _is_null(cell) or (isinstance(cell, str) and not cell.strip()):
                rows.cell(position, ids[position], cols["issues"], "misattribution", "missing; read as no issue", "warning")  # fmt: skip
            else:
                issues, why = _parse_issue_cell(cell, parsed)
                if why:
                    rows.cell(position, ids[position], cols["issues"], "misattribution", why)
        key = tuple(issues or ())
        if key not in mapped:
            labels: set[str] = set()
            missing = []
            for issue in dict.fromkeys(key):
                categories = issues_table.get(_fold(issue))
                if categories is None:
                    missing.append(issue)
                else:
                    labels.update(categories)
            mapped[key] = ([c for c in rows.tax.secondary_ids if c in labels], missing)
        categories, missing = mapped[key]
        for issue in missing:
            unmapped[issue] += 1
        misattribution.append(list(categories))
        issue_lists.append(issues)
    instructions = texts("instruction") if cols["instruction"] else [instruction] * count
    rows.extend(
        {
            "id": ids,
            "question": texts("question"),
            "answer": [v if type(v) is str else _cell(v) for v in cells["answer"]],
            "reference": reference,
            "instruction": instructions,
            "score": scores,
            "misattribution": misattribution,
            "feedback": feedback,
            "clear_score": raw_scores,
            "clear_issues": issue_lists,
            "clear_summary": summary,
        }
    )


def import_clear(
    path: str | Path | bytes | BinaryIO,
    *,
    score_map: ScoreMap = None,
    issue_map: IssueMap | None = None,
    taxonomy: Taxonomy | str | None = None,
    language: str | None = None,
    source: str = "clear",
    columns: Mapping[str, str] | None = None,
    rule: Rule = "warning",
    limits: ZipLimits | None = None,
) -> ImportResult:
    """Import a CLEAR results bundle (the ``.zip`` its pipeline writes, or a folder) as AttriData rows.

    The zip is read in memory and never extracted: members with ``..`` or absolute names, more
    members or bytes than ``limits``, or a zip-bomb compression ratio refuse the whole bundle.

    Fields: ``id`` <- ``question_id``; ``question`` <- the question column, else ``model_input``
    (the whole prompt); ``answer`` <- ``response``; ``reference`` <- ``ground_truth`` (verbatim, GSM8K's
    ``#### answer`` included); ``feedback`` <- ``evaluation_text``, else ``evaluation_summary``;
    ``score`` <- ``score`` through ``score_map``; ``misattribution`` <- ``recurring_issues_str``
    through ``issue_map``; ``instruction`` <- metadata's ``evaluation_criteria``. Column names come
    from ``metadata.json`` (``qid_column``, ``question_column``, ``model_output_column``,
    ``reference_column``, ``model_input_column``) when the table has them, else CLEAR's output names.

    Args:
        path: the ``.zip`` (path, bytes or binary stream) or a folder holding ``results*.parquet``
            (or ``.csv``) and ``metadata*.json``.
        score_map: ``None`` (round half up onto the scale, see :func:`clear_score_to_scale`), a dict
            ``{clear_score: score}`` or a callable.
        issue_map: CLEAR issue text -> category id or name (either language), a list of them, or
            ``None`` for "not an error". Unmapped issues stay in ``clear_issues`` and are counted.
        taxonomy: the taxonomy (default ``attridata-v1``).
        language: the rows' ISO 639-1 code; ``None`` guesses per row (``zh`` or ``en``).
        source: the ``source`` of every row.
        columns: overrides, role -> column, for the roles ``id``, ``question``, ``answer``,
            ``reference``, ``instruction``, ``feedback``, ``summary``, ``score``, ``issues``.
        rule: the paper's score / misattribution rule as a ``"warning"`` (default) or an ``"error"``.
        limits: the zip's size limits (default :class:`ZipLimits`).

    Raises:
        InputError: an unsafe, oversized or malformed bundle, a missing results file or column;
            the message names the file and the member.
    """
    _check_rule(rule)
    tax = load_taxonomy(taxonomy)
    scorer = _score_mapper(score_map, tax, _clear_default)
    issues_table = _issue_table(issue_map, tax)
    frame, metadata, label, notes = _load_bundle(path, limits or ZipLimits())
    required = ("question", "answer", "score")
    cols = resolve_columns(
        frame.columns, label, given=columns, candidates=_clear_candidates(metadata), required=required
    )
    if cols["feedback"] is None and cols["summary"] is None:
        raise InputError(f"{label}: no evaluation_text nor evaluation_summary column for the feedback")
    rows = _Rows(label, tax, language, source)
    for note in notes:
        rows.note(None, None, None, note, "warning")
    question_columns = list(dict.fromkeys(n for n in _clear_candidates(metadata)["question"][:2] if n))
    if cols["question"] not in question_columns and "question" not in (columns or {}):
        message = f"no question column {question_columns}; the question is the prompt {cols['question']!r}"
        rows.note(None, None, None, message, "warning")
    unmapped: Counter[str] = Counter()
    instruction = _criteria_text(metadata.get("evaluation_criteria"))
    pure_scorer = score_map is None or isinstance(score_map, Mapping)
    _clear_columns(rows, frame, cols, scorer, pure_scorer, issues_table, unmapped, instruction)
    if unmapped:
        listed = ", ".join(f"{issue!r} ({count} rows)" for issue, count in unmapped.most_common())
        message = f"{len(unmapped)} CLEAR issue(s) have no category in issue_map, kept in clear_issues: {listed}"
        rows.note(None, None, cols["issues"], message, "warning")
    return rows.finish(CLEAR_EXTRA_COLUMNS, rule, unmapped_issues=unmapped, metadata=metadata)


# -- Prometheus ------------------------------------------------------------------------------------
PROMETHEUS_CANDIDATES: dict[str, tuple[str | None, ...]] = {
    "id": ("id",),
    # The Feedback Collection's ``instruction`` is the whole judge prompt; ``orig_instruction`` is the task.
    "question": ("orig_instruction", "instruction"),
    "answer": ("orig_response", "response"),
    "reference": ("orig_reference_answer", "reference_answer", "reference"),
    "instruction": ("orig_criteria", "criteria"),
    "feedback": ("orig_feedback", "feedback"),
    "score": ("orig_score", "score"),
}


def import_prometheus(
    rows: Any,
    *,
    columns: Mapping[str, str] | None = None,
    score_map: ScoreMap = None,
    taxonomy: Taxonomy | str | None = None,
    language: str | None = None,
    source: str = "prometheus",
    rule: Rule = "warning",
) -> ImportResult:
    """Import Prometheus-style judged rows (1-5 rubric scores) as AttriData rows.

    Fields (the ``orig_*`` column first when both exist): ``question`` <- ``orig_instruction`` /
    ``instruction``; ``answer`` <- ``orig_response`` / ``response``; ``reference`` <-
    ``orig_reference_answer`` / ``reference_answer`` / ``reference``; ``instruction`` (our criteria
    field) <- ``orig_criteria`` / ``criteria``; ``feedback`` <- ``orig_feedback`` / ``feedback``;
    ``score`` <- ``orig_score`` / ``score`` through ``score_map``; ``id`` <- ``id``, else
    ``"<source>-<row>"``. ``misattribution`` is empty: Prometheus names no categories, so rows scored
    below the top break the paper's rule (a warning by default). The raw score is kept in
    ``prometheus_score``.

    Args:
        rows: any table :func:`~misattribution.io.tables.read_table` reads (path, DataFrame, records,
            ``datasets.Dataset``).
        columns: overrides, role -> column, for the roles ``id``, ``question``, ``answer``,
            ``reference``, ``instruction``, ``feedback``, ``score``; e.g. ``{"question": "prompt"}``.
        score_map: ``None`` (:data:`PROMETHEUS_SCORE_MAP`, 0-3 scales only), a dict or a callable.
        taxonomy, language, source, rule: as in :func:`import_clear`.

    Raises:
        InputError: a missing column (the message lists the names looked for and those present).
    """
    _check_rule(rule)
    tax = load_taxonomy(taxonomy)
    scorer = _score_mapper(score_map, tax, _prometheus_default)
    frame, label = read_table(rows)
    required = ("question", "answer", "feedback", "score")
    cols = resolve_columns(frame.columns, label, given=columns, candidates=PROMETHEUS_CANDIDATES, required=required)
    out = _Rows(label, tax, language, source)
    for position, record in enumerate(frame.to_dict("records")):
        row_id = _row_id(record[cols["id"]]) if cols["id"] else f"{source}-{position}"
        raw, why = parse_number(record[cols["score"]])  # type: ignore[index]
        score = None
        if why is None:
            score, why = scorer(raw)  # type: ignore[arg-type]
        if why:
            out.cell(position, row_id, cols["score"], "score", f"no score: the Prometheus score is {why}")  # type: ignore[arg-type]

        def text(role: str, record: dict[str, Any] = record) -> Any:
            return _text(record[cols[role]]) if cols[role] else None

        out.add(
            {
                "id": row_id,
                "question": text("question"),
                "answer": _cell(record[cols["answer"]]),  # type: ignore[index]
                "reference": text("reference"),
                "instruction": text("instruction"),
                "score": score,
                "misattribution": [],
                "feedback": text("feedback"),
                "prometheus_score": int(raw) if raw is not None and raw.is_integer() else raw,
            }
        )
    return out.finish(PROMETHEUS_EXTRA_COLUMNS, rule)
