"""Loading what a user brings to the Space, safely: report bundles, judged tables, CLEAR zips, Hub datasets.

Every way in returns a :class:`LoadResult` (an :class:`~misattribution.discovery.report.IssueReport`
plus a note of what was read and how) or raises one :class:`UploadError` whose message names the file
and what is wrong with it. Nothing is trusted:

* a file larger than ``max_bytes`` is refused before it is opened;
* a zip is inspected before anything is read: number of entries, total declared size, compression
  ratio of every entry, encrypted entries, and member names (absolute paths, ``..``, drive letters and
  backslashes are refused: a name that tries to leave the archive is a sign of a hostile file). Members
  are then read into memory with a hard cap on the bytes actually inflated (declared sizes can lie);
  nothing is ever extracted to disk under a member's name;
* tables are read with a row limit;
* required columns (``feedback`` and ``score``) are checked, and a missing one is reported with the
  columns that were found; other names are mapped with ``mapping`` (role → column) or a small table of
  common aliases, and the mapping used is reported.

Accepted inputs: a results bundle (zip of the folder :meth:`IssueReport.save` writes), JSONL / JSON /
CSV / TSV / Parquet tables of judged rows (e.g. the output of :func:`misattribution.runner.judge_dataset`),
a CLEAR results zip (``results*.csv`` or ``results*.parquet`` plus ``metadata*.json``; its recurring
issues become the report's issues), a Hugging Face Hub dataset id, and the bundled sample.

Example:
    >>> result = load_sample_report()
    >>> len(result.report.rows), result.kind
    (197, 'sample')
"""

from __future__ import annotations

import io
import json
import math
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery.modes.clear import clear_issues
from misattribution.discovery.report import ASSIGNMENT_COLUMNS, IssueReport
from misattribution.tables import InputError, read_jsonl

__all__ = [
    "ALIASES",
    "REQUIRED_ROLES",
    "ROLES",
    "LoadResult",
    "UploadError",
    "UploadLimits",
    "load_bundle_zip",
    "load_clear_zip",
    "load_hub_dataset",
    "load_sample_report",
    "load_upload",
    "read_table_limited",
    "inspect_zip",
    "read_zip_members",
    "report_from_table",
    "resolve_columns",
    "rows_from_table",
]

#: The column roles a judged table may fill.
ROLES = (
    "row_id",
    "question",
    "answer",
    "reference",
    "feedback",
    "score",
    "system",
    "misattribution",
    "human_score",
    "human_misattribution",
)
#: Roles without which a table cannot be explored.
REQUIRED_ROLES = ("feedback", "score")
#: Common names of each role, tried in order when no mapping is given (the role's own name first).
ALIASES: dict[str, tuple[str, ...]] = {
    "row_id": ("row_id", "id", "question_id", "example_id", "uid"),
    "question": ("question", "instruction", "prompt", "model_input", "input", "query"),
    "answer": ("answer", "response", "output", "prediction", "completion", "generated_text"),
    "reference": ("reference", "ground_truth", "reference_answer", "gold", "target"),
    "feedback": ("feedback", "evaluation_text", "critique", "explanation", "rationale", "judgment"),
    "score": ("score", "rating", "judge_score", "grade"),
    "system": ("system", "model", "system_name", "model_name"),
    "misattribution": ("misattribution", "categories", "error_categories"),
    "human_score": ("human_score", "gold_score", "human_rating"),
    "human_misattribution": ("human_misattribution", "human_categories"),
}
TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
BUNDLE_MEMBERS = ("meta.json", "rows.parquet", "assignments.parquet")
# Members up to this size are exempt from the ratio check: a bomb has to be big to hurt.
_RATIO_FLOOR_BYTES = 1 << 20
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


class UploadError(ValueError):
    """A file (or dataset) that cannot be loaded; the message names it and says what is wrong."""


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on what an upload may cost. The defaults suit a Space with a few GB of memory."""

    max_bytes: int = 200 * 1024**2
    max_rows: int = 1_000_000
    max_zip_entries: int = 64
    max_uncompressed_bytes: int = 1024**3
    max_compression_ratio: float = 100.0

    @classmethod
    def from_megabytes(cls, max_upload_mb: float, **kwargs: Any) -> UploadLimits:
        return cls(max_bytes=int(max_upload_mb * 1024**2), **kwargs)


@dataclass
class LoadResult:
    """A loaded report and how it was read: ``kind`` is ``bundle``, ``table``, ``clear``, ``hub`` or
    ``sample``; ``mapping`` is role → input column; ``notes`` are things the user should know."""

    report: IssueReport
    source: str
    kind: str
    mapping: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        report = self.report
        lines = [f"Loaded **{self.source}** ({self.kind}): {len(report.rows):,} rows, {len(report.issues)} issues."]
        if self.mapping:
            mapped = ", ".join(f"{role} ← `{column}`" for role, column in self.mapping.items() if role != column)
            if mapped:
                lines.append(f"Columns: {mapped}.")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n\n".join(lines)


# -- entry point --------------------------------------------------------------------------------------


def load_upload(
    path: str | Path,
    *,
    name: str | None = None,
    mapping: Mapping[str, str] | None = None,
    limits: UploadLimits | None = None,
    score_range: tuple[float, float] | None = None,
) -> LoadResult:
    """Load any accepted file (see the module docstring); ``name`` is how the file is called in messages.

    A zip is a results bundle when it holds ``meta.json``, ``rows.parquet`` and ``assignments.parquet``,
    and a CLEAR results zip when it holds a ``results*.csv`` / ``results*.parquet``.
    """
    limits = limits or UploadLimits()
    path = Path(path)
    label = name or path.name
    if not path.is_file():
        raise UploadError(f"{label}: no such file")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise UploadError(f"{label}: the file is {_mb(size)}, more than the {_mb(limits.max_bytes)} allowed")
    if size == 0:
        raise UploadError(f"{label}: the file is empty")
    suffix = Path(label).suffix.lower() or path.suffix.lower()
    if suffix == ".zip" or zipfile.is_zipfile(path):
        members = [info.filename for info in inspect_zip(path, label, limits) if not info.is_dir()]
        names = {PurePosixPath(n).name for n in members}
        if all(m in names for m in BUNDLE_MEMBERS):
            return LoadResult(load_bundle_zip(path, name=label, limits=limits), label, "bundle")
        if any(_is_clear_results(n) for n in members):
            return load_clear_zip(path, name=label, limits=limits)
        raise UploadError(
            f"{label}: a zip, but neither a results bundle (needs {', '.join(BUNDLE_MEMBERS)}) nor a CLEAR "
            f"results zip (needs results*.csv or results*.parquet); it holds: {', '.join(sorted(members)) or 'nothing'}"
        )
    if suffix not in TABLE_SUFFIXES:
        raise UploadError(
            f"{label}: cannot read {suffix or 'a file without a suffix'}; upload one of .zip, {', '.join(TABLE_SUFFIXES)}"
        )
    frame = read_table_limited(path, label, limits, suffix=suffix)
    return report_from_table(frame, name=label, mapping=mapping, score_range=score_range, kind="table")


# -- zips ---------------------------------------------------------------------------------------------


def inspect_zip(path: str | Path, name: str, limits: UploadLimits) -> list[zipfile.ZipInfo]:
    """Check a zip's directory (see the module docstring) without inflating anything; return its entries."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise UploadError(f"{name}: not a readable zip file ({err})") from None
    if len(infos) > limits.max_zip_entries:
        raise UploadError(f"{name}: the zip has {len(infos)} entries, more than the {limits.max_zip_entries} allowed")
    total = 0
    for info in infos:
        problem = _unsafe_member_name(info.filename)
        if problem:
            raise UploadError(f"{name}: refused, the entry {info.filename!r} {problem} (path traversal)")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UploadError(f"{name}: refused, the entry {info.filename!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise UploadError(f"{name}: the entry {info.filename!r} is encrypted")
        if info.is_dir():
            continue
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
            raise UploadError(
                f"{name}: refused, the entry {info.filename!r} expands {ratio:,.0f}× "
                f"(more than {limits.max_compression_ratio:g}×: a zip bomb?)"
            )
    if total > limits.max_uncompressed_bytes:
        raise UploadError(
            f"{name}: refused, the zip expands to {_mb(total)}, more than the {_mb(limits.max_uncompressed_bytes)} allowed"
        )
    return infos


def read_zip_members(
    path: str | Path, name: str, limits: UploadLimits, wanted: Callable[[str], bool] | None = None
) -> dict[str, bytes]:
    """Check a zip (:func:`inspect_zip`) and return the contents of its files (those ``wanted`` accepts),
    by member name, in memory. An entry inflating to more than it declares is refused."""
    infos = inspect_zip(path, name, limits)
    members: dict[str, bytes] = {}
    budget = limits.max_uncompressed_bytes
    with zipfile.ZipFile(path) as archive:
        for info in infos:
            if info.is_dir() or (wanted is not None and not wanted(info.filename)):
                continue
            data = _read_capped(archive, info, min(budget, info.file_size), name)
            budget -= len(data)
            members[info.filename] = data
    return members


def _unsafe_member_name(member: str) -> str | None:
    if "\x00" in member:
        return "has a NUL character in its name"
    if "\\" in member:
        return "has a backslash in its name"
    if member.startswith("/") or re.match(r"^[A-Za-z]:", member):
        return "has an absolute path"
    if ".." in PurePosixPath(member).parts:
        return "points outside the archive ('..')"
    return None


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, name: str) -> bytes:
    """Inflate at most ``cap`` bytes; an entry that inflates to more than it declared is refused."""
    chunks, size = [], 0
    try:
        with archive.open(info) as handle:
            while True:
                chunk = handle.read(min(1 << 20, cap + 1 - size))
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    raise UploadError(
                        f"{name}: refused, the entry {info.filename!r} inflates to more than it declares ({_mb(cap)})"
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError) as err:
        raise UploadError(f"{name}: the entry {info.filename!r} cannot be read ({err})") from None
    return b"".join(chunks)


def load_bundle_zip(path: str | Path, *, name: str | None = None, limits: UploadLimits | None = None) -> IssueReport:
    """An :class:`IssueReport` from a zip of its bundle (members at the root or in one folder).

    The three bundle files are written to a fresh temporary folder under their fixed names and read with
    :meth:`IssueReport.load`; member names are never used as paths.
    """
    limits = limits or UploadLimits()
    label = name or Path(path).name
    wanted = {*BUNDLE_MEMBERS, "issues.parquet"}
    members = read_zip_members(path, label, limits, wanted=lambda m: PurePosixPath(m).name in wanted)
    chosen: dict[str, bytes] = {}
    for wanted in (*BUNDLE_MEMBERS, "issues.parquet"):
        matches = [m for m in members if PurePosixPath(m).name == wanted]
        if len(matches) > 1:
            raise UploadError(f"{label}: the zip holds several {wanted} ({', '.join(matches)}); upload one bundle")
        if matches:
            chosen[wanted] = members[matches[0]]
    missing = [m for m in BUNDLE_MEMBERS if m not in chosen]
    if missing:
        raise UploadError(f"{label}: not a results bundle, {', '.join(missing)} missing")
    with tempfile.TemporaryDirectory() as tmp:
        for fixed_name, data in chosen.items():
            (Path(tmp) / fixed_name).write_bytes(data)
        try:
            report = IssueReport.load(tmp)
        except Exception as err:  # noqa: BLE001 - any failure here means a malformed bundle
            raise UploadError(
                f"{label}: a malformed results bundle ({type(err).__name__}: {_first_line(err)})"
            ) from None
    if len(report.rows) > limits.max_rows:
        raise UploadError(f"{label}: {len(report.rows):,} rows, more than the {limits.max_rows:,} allowed")
    return report


def _is_clear_results(member: str) -> bool:
    base = PurePosixPath(member).name.lower()
    return base.startswith("results") and base.endswith((".csv", ".parquet"))


def load_clear_zip(path: str | Path, *, name: str | None = None, limits: UploadLimits | None = None) -> LoadResult:
    """A CLEAR results zip as a report: CLEAR's recurring issues become issues, its rows the rows.

    Reading and zip safety are :func:`misattribution.data.importers.import_clear`'s (the zip is checked
    here first as well, like every upload); the score is CLEAR's own, on 0–1, as
    ``misattribution discover`` reads it. Problems found by the import are summarised in the notes.
    """
    from misattribution.data.importers import ZipLimits, import_clear
    from misattribution.tables import InputError

    limits = limits or UploadLimits()
    path = Path(path)
    label = name or path.name
    inspect_zip(path, label, limits)
    stream = io.BytesIO(path.read_bytes())
    stream.name = label  # the importer names the file in its messages: the user's name, not a temp path
    zip_limits = ZipLimits(
        max_members=limits.max_zip_entries,
        max_total_bytes=limits.max_uncompressed_bytes,
        max_ratio=limits.max_compression_ratio,
    )
    try:
        imported = import_clear(stream, limits=zip_limits)
    except (InputError, ValueError) as err:
        raise UploadError(str(err) if label in str(err) else f"{label}: {err}") from None
    frame = imported.to_judged()
    if len(frame) > limits.max_rows:
        raise UploadError(f"{label}: {len(frame):,} rows, more than the {limits.max_rows:,} allowed")
    # As `misattribution discover` reads a CLEAR bundle: CLEAR's own 0-1 score, failing below 1.
    result = report_from_table(
        frame, name=label, mapping={"row_id": "id", "score": "clear_score"}, score_range=(0.0, 1.0), kind="clear"
    )
    rows = result.report.rows.assign(clear_issues=[list(v) if _is_listlike(v) else [] for v in frame["clear_issues"]])
    issues, assignments, _ = clear_issues(rows)
    rows = rows.drop(columns="clear_issues")
    meta = {**result.report.meta, "source": label, "mode": "clear", "clear_metadata": imported.metadata}
    # The views compute intervals; a bootstrap over every row here would only delay the upload.
    result.report = IssueReport(rows=rows, issues=issues, assignments=assignments, meta=meta).recompute(n_resamples=0)
    problems = [*imported.report.errors, *imported.report.warnings]
    if problems:
        result.notes.append(
            f"the import found {len(imported.report.errors)} error(s) and {len(imported.report.warnings)} "
            f"warning(s); first: {problems[0]}"
        )
    result.notes.append("CLEAR issues carry no evidence sentences.")
    return result


# -- tables -------------------------------------------------------------------------------------------


def read_table_limited(path: str | Path, name: str, limits: UploadLimits, *, suffix: str | None = None) -> pd.DataFrame:
    """Read a JSONL / JSON / CSV / TSV / Parquet table, refusing more than ``limits.max_rows`` rows."""
    path = Path(path)
    suffix = (suffix or path.suffix).lower()
    try:
        if suffix == ".jsonl":
            frame = _read_jsonl_limited(path, name, limits.max_rows)
        elif suffix == ".json":
            frame = pd.read_json(path)
        elif suffix in (".csv", ".tsv"):
            frame = pd.read_csv(
                path,
                sep="\t" if suffix == ".tsv" else ",",
                dtype=str,
                keep_default_na=False,
                nrows=limits.max_rows + 1,
            )
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(path).metadata.num_rows
            if rows > limits.max_rows:
                raise UploadError(f"{name}: {rows:,} rows, more than the {limits.max_rows:,} allowed")
            frame = pd.read_parquet(path)
        else:
            raise UploadError(f"{name}: cannot read {suffix or 'a file without a suffix'}")
    except UploadError:
        raise
    except UnicodeDecodeError:
        raise UploadError(f"{name}: not UTF-8 text") from None
    except Exception as err:  # noqa: BLE001 - pandas / pyarrow raise many types for a bad file
        raise UploadError(
            f"{name}: cannot be read as {suffix[1:].upper()} ({type(err).__name__}: {_first_line(err)})"
        ) from None
    _check_row_count(frame, name, limits)
    if frame.empty:
        raise UploadError(f"{name}: the table has no rows")
    return frame


def _read_jsonl_limited(path: Path, name: str, max_rows: int) -> pd.DataFrame:
    try:
        return read_jsonl(path, label=name, max_rows=max_rows)
    except InputError as err:
        raise UploadError(str(err)) from None


def _check_row_count(frame: pd.DataFrame, name: str, limits: UploadLimits) -> None:
    if len(frame) > limits.max_rows:
        raise UploadError(f"{name}: more than the {limits.max_rows:,} rows allowed")


def resolve_columns(columns: list[str], mapping: Mapping[str, str] | None, name: str) -> dict[str, str]:
    """Role → column: the explicit ``mapping`` first, then :data:`ALIASES`. Raises when a mapped column
    is missing or a required role has no column, naming the roles and the columns found."""
    mapping = {role: column for role, column in (mapping or {}).items() if column}
    unknown = sorted(set(mapping) - set(ROLES))
    if unknown:
        raise UploadError(f"{name}: unknown column roles {unknown}; the roles are {', '.join(ROLES)}")
    found = ", ".join(map(str, columns)) or "none"
    absent = {role: column for role, column in mapping.items() if column not in columns}
    if absent:
        listed = ", ".join(f"{role} → {column!r}" for role, column in absent.items())
        raise UploadError(f"{name}: the mapped columns are not in the file ({listed}); columns found: {found}")
    resolved = dict(mapping)
    taken = set(resolved.values())
    for role in ROLES:
        if role in resolved:
            continue
        column = next((c for c in ALIASES[role] if c in columns and c not in taken), None)
        if column is not None:
            resolved[role] = column
            taken.add(column)
    missing = [role for role in REQUIRED_ROLES if role not in resolved]
    if missing:
        raise UploadError(
            f"{name}: missing required column(s) {', '.join(missing)}; columns found: {found}. "
            "Rename them or map them (e.g. feedback → your critique column)."
        )
    return {role: resolved[role] for role in ROLES if role in resolved}


def rows_from_table(
    frame: pd.DataFrame,
    *,
    name: str = "<table>",
    mapping: Mapping[str, str] | None = None,
    score_range: tuple[float, float] | None = None,
) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Judged rows → IssueReport rows (``row_id, score, score_norm, failing, system`` + texts).

    Columns are resolved here (:func:`resolve_columns`, so a missing one is named with the columns
    found) and scores checked to be numbers; the rows are then built by
    :func:`misattribution.discovery.inputs.load_judged`, the same reading as ``misattribution discover``
    (score scale, failing rows, our runner's and CLEAR's formats). The roles it does not carry
    (``misattribution`` lists, ``human_score``, ``human_misattribution``) and the other columns are added
    back. Returns the rows, the mapping used and notes for the user.
    """
    from misattribution.discovery.inputs import load_judged
    from misattribution.explore import parse_labels
    from misattribution.tables import InputError

    frame = frame.rename(columns=str).reset_index(drop=True)
    columns = resolve_columns(list(frame.columns), mapping, name)
    _check_scores(frame[columns["score"]], columns["score"], name)
    given = {("id" if role == "row_id" else role): column for role, column in columns.items()}
    given = {role: column for role, column in given.items() if role in _LOAD_JUDGED_ROLES}
    try:
        rows = load_judged(frame, columns=given, score_range=score_range)
    except (InputError, ValueError) as err:
        raise UploadError(str(err).replace("<DataFrame>", name)) from None
    notes: list[str] = []
    if "row_id" not in columns:
        notes.append("no id column: rows are numbered 0, 1, 2, ... in file order.")
    low, high = rows.attrs.get("score_range") or (None, None)
    if low is not None:
        notes.append(f"scores read on {low:g}–{high:g}; a row fails below the top score.")
    if rows.attrs.get("n_null_scores"):
        notes.append(f"{rows.attrs['n_null_scores']:,} rows have no score (kept; never failing).")
    for role in ("misattribution", "human_misattribution"):
        if role in columns:
            rows[role] = [parse_labels(v) for v in frame[columns[role]]]
    if "human_score" in columns:
        rows["human_score"] = pd.to_numeric(
            frame[columns["human_score"]].replace("", np.nan), errors="coerce"
        ).to_numpy()
    used = set(columns.values())
    for column in frame.columns:
        if column not in used and column not in rows.columns:
            rows[column] = [_parquet_safe(v) for v in frame[column]]
    rows.attrs.clear()  # provenance went to the notes; attrs would only slow pandas down
    return rows, columns, notes


_LOAD_JUDGED_ROLES = ("id", "feedback", "score", "question", "answer", "reference", "system")


def _check_scores(values: pd.Series, column: str, name: str) -> None:
    """Refuse scores that are not numbers (blank cells are missing scores, which are allowed)."""
    text = values.astype(str).str.strip()
    numbers = pd.to_numeric(values.where(text != "", np.nan), errors="coerce")
    bad = np.flatnonzero(numbers.isna().to_numpy() & values.notna().to_numpy() & (text != "").to_numpy())
    if len(bad):
        shown = ", ".join(f"row {i + 1} ({values.iloc[i]!r})" for i in bad[:5])
        raise UploadError(f"{name}: {len(bad)} score(s) in {column!r} are not numbers: {shown}")
    if numbers.isna().all():
        raise UploadError(f"{name}: the score column {column!r} is empty")


def report_from_table(
    frame: pd.DataFrame,
    *,
    name: str,
    mapping: Mapping[str, str] | None = None,
    score_range: tuple[float, float] | None = None,
    kind: str = "table",
) -> LoadResult:
    """A report with the table's rows and no issues yet (run discovery on it to find them)."""
    rows, columns, notes = rows_from_table(frame, name=name, mapping=mapping, score_range=score_range)
    report = IssueReport(
        rows=rows,
        issues=[],
        assignments=pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS)),
        meta={"source": name, "mode": "none"},
    )
    if kind in ("table", "hub"):
        notes.append("no issues yet: run discovery to find them.")
    return LoadResult(report=report, source=name, kind=kind, mapping=columns, notes=notes)


# -- the Hub and the sample ---------------------------------------------------------------------------


def load_hub_dataset(
    dataset_id: str,
    *,
    split: str = "train",
    config: str | None = None,
    mapping: Mapping[str, str] | None = None,
    limits: UploadLimits | None = None,
) -> LoadResult:
    """A judged dataset from the Hugging Face Hub (``owner/name``), via ``datasets.load_dataset``.

    Only Hub ids are accepted (never a local path: in a Space that would read the server's files).
    Offline, or for a missing or private dataset, the error says so.
    """
    limits = limits or UploadLimits()
    dataset_id = (dataset_id or "").strip()
    if not _HUB_ID.match(dataset_id) or ".." in dataset_id:
        raise UploadError(f"{dataset_id or '(empty)'}: not a Hub dataset id; write it as owner/name")
    label = f"{dataset_id} ({split})"
    try:
        from datasets import load_dataset

        dataset = load_dataset(dataset_id, config or None, split=split)
    except Exception as err:  # noqa: BLE001 - offline, missing, gated: all mean "cannot load"
        raise UploadError(
            f"{label}: could not load it from the Hugging Face Hub ({type(err).__name__}: {_first_line(err)}). "
            "Is the machine online, the id right and the dataset public?"
        ) from None
    if len(dataset) > limits.max_rows:
        raise UploadError(f"{label}: {len(dataset):,} rows, more than the {limits.max_rows:,} allowed")
    return report_from_table(dataset.to_pandas(), name=label, mapping=mapping, kind="hub")


def load_sample_report() -> LoadResult:
    """The bundled attridata-sample (197 hand-written judged rows, en + zh) with rule-based issues.

    Its scores and misattributions are the sample's labels; its issues come from the deterministic
    detectors of :mod:`misattribution.discovery.modes.rules`, so it loads in a second, offline.
    """
    from misattribution.discovery.modes.rules import run_rules

    folder = resources.files("misattribution") / "data" / "sample_data"
    records = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith("rows_") and entry.name.endswith(".jsonl"):
            records += [json.loads(line) for line in entry.read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame.from_records(records)[
        [
            "id",
            "question",
            "answer",
            "reference",
            "feedback",
            "score",
            "misattribution",
            "language",
            "source",
            "instruction",
        ]
    ]
    rows, _, _ = rows_from_table(frame, name="attridata-sample")
    issues, assignments = run_rules(rows)
    meta = {"source": "attridata-sample", "mode": "rules", "taxonomy": "attridata-v1"}
    report = IssueReport(rows=rows, issues=issues, assignments=assignments, meta=meta).recompute()
    return LoadResult(
        report=report,
        source="the bundled attridata-sample",
        kind="sample",
        notes=["issues from the rule-based detectors; run discovery for feedback clusters."],
    )


# -- helpers ------------------------------------------------------------------------------------------


def _mb(size: float) -> str:
    return f"{size / 1024**2:,.1f} MB"


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NA


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    return None


def _is_listlike(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _parquet_safe(value: Any) -> Any:
    """Nested cells (dicts, lists of dicts) as JSON text, so every column stays one Parquet type."""
    if isinstance(value, (dict, list, tuple, np.ndarray)):
        return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, ensure_ascii=False, default=str)
    return value
