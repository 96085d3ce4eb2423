"""Loading what a user brings to the Space, safely: report bundles, judged tables, CLEAR zips, Hub datasets.

Every way in returns a :class:`LoadResult` (an :class:`~misattribution.discovery.report.IssueReport`
plus a note of what was read and how) or raises one :class:`UploadError` whose message names the file
and what is wrong with it. Nothing is trusted:

* a file larger than ``max_bytes`` is refused before it is opened;
* a zip goes through the one zip guard, :mod:`misattribution.io.archives` (the CLI's too): its directory
  is checked before anything is inflated (entries, declared size, ratio, encrypted entries, symbolic
  links, member names that try to leave the archive), then members are inflated in chunks with the
  limits checked while streaming -- bytes against the declared size and the budget, and the rows of a
  CSV counted as they arrive, so an archive that inflates to a huge table is refused after
  ``max_rows`` rows, in seconds and without holding it; nothing is ever extracted under a member's name;
* tables are read by :mod:`misattribution.io.tables` with a row limit (encodings, empty and header-only
  files, malformed lines: each error names the file, the line and the field);
* columns are found as ``misattribution discover`` finds them: ``mapping`` (role → column) first, then
  the one alias list :data:`misattribution.io.tables.ALIASES`; scores are read by the same
  :func:`~misattribution.discovery.inputs.load_judged` (text, ``inf``, an empty score column or scores
  off the scale are refused);
* with ``discard=True`` the uploaded file is deleted once it is loaded or refused, so that nothing a
  visitor uploaded stays on the server.

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

import gc
import io
import json
import re
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery.modes.clear import clear_issues
from misattribution.discovery.report import ASSIGNMENT_COLUMNS, IssueReport
from misattribution.io.archives import SafeZip, ZipLimits, open_zip
from misattribution.io.tables import ALIASES, InputError, parse_label_cell, read_table, resolve_columns, text_column

__all__ = [
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
    "report_from_table",
    "rows_from_table",
]

#: The column roles a judged table may fill, as the Space names them (the input layer's ``id`` is ``row_id``);
#: each is looked for under :data:`misattribution.io.tables.ALIASES`.
ROLES = tuple("row_id" if role == "id" else role for role in ALIASES)
#: Roles without which a table cannot be explored.
REQUIRED_ROLES = ("feedback", "score")
TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
BUNDLE_MEMBERS = ("meta.json", "rows.parquet", "assignments.parquet")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


class UploadError(InputError):
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

    def zip_limits(self) -> ZipLimits:
        """The same bounds for the zip guard (:class:`misattribution.io.archives.ZipLimits`)."""
        return ZipLimits(
            max_members=self.max_zip_entries,
            max_compressed_bytes=self.max_bytes,
            max_total_bytes=self.max_uncompressed_bytes,
            max_ratio=self.max_compression_ratio,
            max_rows=self.max_rows,
        )


@dataclass
class LoadResult:
    """A loaded report and how it was read: ``kind`` is ``bundle``, ``table``, ``clear``, ``hub`` or
    ``sample``; ``mapping`` is role → input column; ``notes`` are things the user should know."""

    report: IssueReport
    source: str
    kind: str
    mapping: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Every problem an importer found (errors, then warnings), each naming its row and field: the
    #: Space lists the first ones and offers all of them as a CSV.
    problems: list[str] = field(default_factory=list)

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

_PAUSES = 0  # threads inside paused_collector()
_PAUSES_LOCK = threading.Lock()
_COLLECTOR_WAS_ON = True


@contextmanager
def paused_collector() -> Iterator[None]:
    """Python's cyclic garbage collector off while the block runs (back on when the last of the threads in
    such a block leaves it, if it was on before the first came in).

    Reading 100,000 rows makes millions of objects: each full collection the allocations trigger walks all
    of them, and every module a server has imported (Gradio, plotly) too. A 100,000-row CLEAR zip: 5.1 s of
    CPU against 6.0 s with the collector on (``benchmarks/bench_space.py`` times it in the browser).
    Reference counting still frees what the block drops; the few cycles it leaves wait for the next
    collection.
    """
    global _PAUSES, _COLLECTOR_WAS_ON
    with _PAUSES_LOCK:
        if _PAUSES == 0:
            _COLLECTOR_WAS_ON = gc.isenabled()
            gc.disable()
        _PAUSES += 1
    try:
        yield
    finally:
        with _PAUSES_LOCK:
            _PAUSES -= 1
            if _PAUSES == 0 and _COLLECTOR_WAS_ON:
                gc.enable()


def load_upload(
    path: str | Path,
    *,
    name: str | None = None,
    mapping: Mapping[str, str] | None = None,
    limits: UploadLimits | None = None,
    score_range: tuple[float, float] | None = None,
    discard: bool = False,
) -> LoadResult:
    """Load any accepted file (see the module docstring); ``name`` is how the file is called in messages.

    A zip is a results bundle when it holds ``meta.json``, ``rows.parquet`` and ``assignments.parquet``,
    and a CLEAR results zip when it holds a ``results*.csv`` / ``results*.parquet``. With ``discard``, the
    file is deleted from disk once it is loaded or refused (the Space's uploads: nothing stays on the
    server to be downloaded again).
    """
    try:
        with paused_collector():
            return _load_upload(Path(path), name or Path(path).name, mapping, limits or UploadLimits(), score_range)
    except InputError as err:
        raise err if isinstance(err, UploadError) else UploadError(str(err)) from None
    finally:
        if discard:
            Path(path).unlink(missing_ok=True)


def _load_upload(
    path: Path,
    label: str,
    mapping: Mapping[str, str] | None,
    limits: UploadLimits,
    score_range: tuple[float, float] | None,
) -> LoadResult:
    if not path.is_file():
        raise UploadError(f"{label}: no such file")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise UploadError(f"{label}: the file is {_mb(size)}, more than the {_mb(limits.max_bytes)} allowed")
    if size == 0:
        raise UploadError(f"{label}: the file is empty")
    suffix = Path(label).suffix.lower() or path.suffix.lower()
    if suffix == ".zip" or zipfile.is_zipfile(path):
        with open_zip(path, label, limits.zip_limits()) as archive:
            members = archive.names
        names = {PurePosixPath(n).name for n in members}
        if all(m in names for m in BUNDLE_MEMBERS):
            return LoadResult(load_bundle_zip(path, name=label, limits=limits), label, "bundle")
        from misattribution.data.importers import is_clear_member

        if any(is_clear_member(n) for n in members):
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


def load_bundle_zip(path: str | Path, *, name: str | None = None, limits: UploadLimits | None = None) -> IssueReport:
    """An :class:`IssueReport` from a zip of its bundle (members at the root or in one folder).

    The three bundle files are written to a fresh temporary folder under their fixed names and read with
    :meth:`IssueReport.load`; member names are never used as paths.
    """
    limits = limits or UploadLimits()
    label = name or Path(path).name
    wanted = (*BUNDLE_MEMBERS, "issues.parquet")
    chosen: dict[str, bytes] = {}
    with _guarded(path, label, limits) as archive:
        for fixed_name in wanted:
            matches = [m for m in archive.names if PurePosixPath(m).name == fixed_name]
            if len(matches) > 1:
                raise UploadError(
                    f"{label}: the zip holds several {fixed_name} ({', '.join(matches)}); upload one bundle"
                )
            if matches:
                chosen[fixed_name] = _read_member(archive, matches[0])
    missing = [m for m in BUNDLE_MEMBERS if m not in chosen]
    if missing:
        raise UploadError(f"{label}: not a results bundle, {', '.join(missing)} missing")
    _check_parquet_rows(chosen["rows.parquet"], f"{label}: the entry 'rows.parquet'", limits.max_rows)
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


def _check_parquet_rows(data: bytes, where: str, max_rows: int) -> None:
    """Refuse a Parquet table by the row count of its footer, before it is decoded."""
    import pyarrow.parquet as pq

    try:
        count = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    except Exception:  # noqa: BLE001 - a broken file is reported by the full read that follows
        return
    if count > max_rows:
        raise UploadError(f"{where}: {count:,} rows, more than the {max_rows:,} allowed")


def _guarded(path: str | Path, label: str, limits: UploadLimits) -> SafeZip:
    try:
        return open_zip(path, label, limits.zip_limits())
    except InputError as err:
        raise UploadError(str(err)) from None


def _read_member(archive: SafeZip, member: str) -> bytes:
    try:
        return archive.read(member)
    except InputError as err:
        raise UploadError(str(err)) from None


def load_clear_zip(path: str | Path, *, name: str | None = None, limits: UploadLimits | None = None) -> LoadResult:
    """A CLEAR results zip (or CLEAR's agentic ``unified_ui_results.zip``) as a report: CLEAR's recurring
    issues become issues, its rows the rows.

    Reading is :func:`misattribution.discovery.inputs.read_clear`'s, the same as ``misattribution
    discover``'s, through the one zip guard with this upload's limits (its rows counted while the results
    CSV inflates): CLEAR's own 0–1 score, rows failing below CLEAR's ``high_score_threshold`` when the
    bundle sets one (else below 1), an agentic result's agents as systems. Problems found by the import are
    summarised in the notes.
    """
    from misattribution.discovery.inputs import read_clear, refuse_differing_thresholds

    limits = limits or UploadLimits()
    path = Path(path)
    label = name or path.name
    try:
        frame, found = read_clear(path, label=label, limits=limits.zip_limits())
        refuse_differing_thresholds(frame, label)
    except (InputError, ValueError) as err:
        raise UploadError(str(err) if label in str(err) else f"{label}: {err}") from None
    if len(frame) > limits.max_rows:
        raise UploadError(f"{label}: {len(frame):,} rows, more than the {limits.max_rows:,} allowed")
    threshold = frame.attrs.get("clear_threshold")
    mapping = {"row_id": "id", "score": "clear_score", **({"system": "system"} if "system" in frame else {})}
    result = report_from_table(
        frame, name=label, mapping=mapping, score_range=(0.0, 1.0), kind="clear", fail_below=threshold
    )
    issue_lists = frame["clear_issues"].tolist()
    rows = result.report.rows.assign(clear_issues=[list(v) if _is_listlike(v) else [] for v in issue_lists])
    issues, assignments, _ = clear_issues(rows)
    rows = rows.drop(columns="clear_issues")
    meta = {**result.report.meta, "source": label, "mode": "clear", "clear_metadata": frame.attrs.get("clear_metadata")}
    # The views compute intervals; a bootstrap over every row here would only delay the upload.
    result.report = IssueReport(rows=rows, issues=issues, assignments=assignments, meta=meta).recompute(n_resamples=0)
    problems = [*found["errors"], *found["warnings"]]
    result.problems = problems
    if threshold is not None:
        result.notes.append(f"rows fail below CLEAR's high_score_threshold {threshold:g}.")
    if "system" in frame:
        agents = sorted(frame["system"].unique())
        result.notes.append(f"CLEAR's agentic result: {len(agents)} agents, each a system ({', '.join(agents)}).")
    if problems:
        result.notes.append(
            f"the import found {len(found['errors'])} error(s) and {len(found['warnings'])} "
            f"warning(s); first: {problems[0]}"
        )
    result.notes.append("CLEAR issues carry no evidence sentences.")
    return result


# -- tables -------------------------------------------------------------------------------------------


def read_table_limited(path: str | Path, name: str, limits: UploadLimits, *, suffix: str | None = None) -> pd.DataFrame:
    """Read a JSONL / JSON / CSV / TSV / Parquet table with :func:`misattribution.io.tables.read_table`,
    refusing more than ``limits.max_rows`` rows (as soon as reading passes them)."""
    try:
        frame, _ = read_table(path, name=name, max_rows=limits.max_rows, suffix=suffix)
    except InputError as err:
        raise UploadError(str(err)) from None
    return frame


def rows_from_table(
    frame: pd.DataFrame,
    *,
    name: str = "<table>",
    mapping: Mapping[str, str] | None = None,
    score_range: tuple[float, float] | None = None,
    fail_below: float | None = None,
) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Judged rows → IssueReport rows (``row_id, score, score_norm, failing, system`` + texts); a row fails
    below ``fail_below`` (normalised; default: the top of the scale).

    Columns are resolved by the input layer (:func:`misattribution.io.tables.resolve_columns`: the
    ``mapping`` first, then the one alias list) and the rows built by
    :func:`misattribution.discovery.inputs.load_judged`, the same reading as ``misattribution discover``
    (scores checked, score scale, failing rows, our runner's and CLEAR's formats). The roles it does not
    carry (``misattribution`` lists, ``human_score``, ``human_misattribution``) and the other columns are
    added back. Returns the rows, the mapping used (role → column, ``row_id`` for the id) and notes.
    """
    from misattribution.discovery.inputs import load_judged

    frame = frame.rename(columns=str).reset_index(drop=True)
    given = {("id" if role == "row_id" else role): column for role, column in (mapping or {}).items() if column}
    try:
        chosen = resolve_columns(frame.columns, name, given=given, required=REQUIRED_ROLES)
        columns = {("row_id" if role == "id" else role): column for role, column in chosen.items() if column}
        loaded = {role: column for role, column in chosen.items() if column and role in _LOAD_JUDGED_ROLES}
        rows = load_judged(frame, columns=loaded, score_range=score_range, fail_below=fail_below)
        for role in ("misattribution", "human_misattribution"):
            if role in columns:
                rows[role] = _label_cells(frame[columns[role]], name, columns[role])
    except InputError as err:
        raise UploadError(str(err).replace("<DataFrame>", name)) from None
    notes: list[str] = []
    if "row_id" not in columns:
        notes.append("no id column: rows are numbered 0, 1, 2, ... in file order.")
    low, high = rows.attrs.get("score_range") or (None, None)
    if low is not None and fail_below is None:
        notes.append(f"scores read on {low:g}–{high:g}; a row fails below the top score.")
    elif low is not None:
        notes.append(f"scores read on {low:g}–{high:g}.")
    if rows.attrs.get("n_null_scores"):
        notes.append(f"{rows.attrs['n_null_scores']:,} rows have no score (kept; never failing).")
    if "human_score" in columns:
        rows["human_score"] = pd.to_numeric(
            frame[columns["human_score"]].replace("", np.nan), errors="coerce"
        ).to_numpy()
    used = set(columns.values())
    for column in frame.columns:
        if column not in used and column not in rows.columns:
            rows[column] = text_column(
                [v if type(v) is str or v is None else _parquet_safe(v) for v in frame[column].tolist()]
            )
    rows.attrs.clear()  # provenance went to the notes; attrs would only slow pandas down
    return rows, columns, notes


_LOAD_JUDGED_ROLES = ("id", "feedback", "score", "question", "answer", "reference", "system")


def _label_cells(values: pd.Series, name: str, column: str) -> list[list[str]]:
    return [parse_label_cell(v, f"{name}: row {i + 1}, field {column!r}") for i, v in enumerate(values)]


def report_from_table(
    frame: pd.DataFrame,
    *,
    name: str,
    mapping: Mapping[str, str] | None = None,
    score_range: tuple[float, float] | None = None,
    kind: str = "table",
    fail_below: float | None = None,
) -> LoadResult:
    """A report with the table's rows and no issues yet (run discovery on it to find them)."""
    rows, columns, notes = rows_from_table(
        frame, name=name, mapping=mapping, score_range=score_range, fail_below=fail_below
    )
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


def _is_listlike(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _parquet_safe(value: Any) -> Any:
    """Nested cells (dicts, lists of dicts) as JSON text, so every column stays one Parquet type."""
    if type(value) is list and not value:  # the common nested cell (no problems)
        return "[]"
    if isinstance(value, (dict, list, tuple, np.ndarray)):
        return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, ensure_ascii=False, default=str)
    return value
