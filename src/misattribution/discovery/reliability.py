"""How far each issue of a report can be trusted: against human labels, and over seeds.

* :func:`assignment_quality`: given a small human-labelled sample (rows × issues → 0/1), the precision
  and recall of each issue's assignment, with Wilson intervals (:func:`misattribution.stats.wilson_interval`).
  Labels are a table read through the input layer (:func:`misattribution.io.tables.read_table`: CSV,
  JSONL, JSON, Parquet or a DataFrame), in one of two shapes:

  - wide: a ``row_id`` (or ``id``) column and one column per issue, headed by the issue's id or name,
    each cell 0 or 1 (``true`` / ``false``, ``yes`` / ``no``); an empty cell is "not labelled";
  - long: ``row_id``, ``issue`` (id or name) and ``label`` columns, one line per labelled pair.

  A bad table (an unknown row or issue, a cell that is not 0/1, a pair labelled twice) is an
  :class:`~misattribution.io.tables.InputError` naming the file, the row (1-based data rows) and the field.
* :func:`seed_stability`: discover again with other seeds, align each run to the reference
  (:func:`~.align.align_reports`), and give per issue the mean best-match Jaccard of its row set over
  those runs and how many seeds found it (the reference's own seed counts as one).
* :func:`store_reliability` keeps both in ``report.meta["reliability"]`` (the bundle round-trips it);
  :func:`reliability_table` gives the tidy per-issue frame a viewer shows (issue id, precision, recall,
  intervals, stability, seeds found), from a report's meta or from fresh results.

Example::

    report = IssueReport.load("bundle/")
    quality = assignment_quality(report, "labels.csv")
    stability = seed_stability(report.rows, seeds=(0, 1, 2), reference=report, **rerun_options(report))
    store_reliability(report, quality=quality, stability=stability).save("bundle/")
    reliability_table(report)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery.report import IssueReport
from misattribution.io.tables import ALIASES, InputError, is_missing, read_table
from misattribution.stats import wilson_interval

QUALITY_COLUMNS = (
    "issue_id",
    "name",
    "labelled",
    "tp",
    "fp",
    "fn",
    "precision",
    "precision_low",
    "precision_high",
    "recall",
    "recall_low",
    "recall_high",
)
STABILITY_COLUMNS = ("issue_id", "name", "stability", "seeds_found", "n_seeds", "jaccards")
TABLE_COLUMNS = (
    "issue_id",
    "name",
    "labelled",
    "precision",
    "precision_low",
    "precision_high",
    "recall",
    "recall_low",
    "recall_high",
    "stability",
    "seeds_found",
    "n_seeds",
)
_TRUE = {"1", "1.0", "true", "yes", "y"}
_FALSE = {"0", "0.0", "false", "no", "n"}


# -- human labels ----------------------------------------------------------------------------------------
def read_labels(source: Any, report: IssueReport) -> tuple[pd.DataFrame, str]:
    """A labels table (see the module docstring) as long pairs ``row_id, issue_id, label`` (0/1), and
    its name for messages. Every problem raises :class:`InputError` naming the file, row and field."""
    frame, label = read_table(source, name=None if not isinstance(source, pd.DataFrame) else "<labels>")
    columns = {str(c).strip().casefold(): c for c in frame.columns}
    id_column = next((columns[name] for name in ALIASES["id"] if name in columns), None)
    if id_column is None:
        raise InputError(
            f"{label}: no row id column (columns: {', '.join(map(str, frame.columns))}) "
            f"(hint: name it row_id, with the report's row ids)"
        )
    resolve = _issue_resolver(report)
    known_rows = set(report.rows["row_id"].astype(str))
    long = "issue" in columns and "label" in columns
    pairs: dict[tuple[str, str], int] = {}
    for number, record in enumerate(frame.to_dict("records"), start=1):
        row_id = _row_id(record[id_column], known_rows, label, number, str(id_column))
        cells = (
            [(columns["issue"], record[columns["issue"]], record[columns["label"]])]
            if long
            else [(column, column, record[column]) for column in frame.columns if column != id_column]
        )
        for field_name, issue_text, value in cells:
            if long and is_missing(issue_text):
                raise InputError(
                    f"{label}: row {number}: field {field_name!r}: no issue named (hint: an issue id or name)"
                )
            issue = resolve(
                str(issue_text),
                f"{label}: row {number}: field {field_name!r}" if long else f"{label}: field {field_name!r}",
            )
            flag = _flag(value, label, number, str(columns["label"] if long else field_name))
            if flag is None:
                continue
            if (row_id, issue) in pairs:
                raise InputError(
                    f"{label}: row {number}: field {field_name!r}: row {row_id!r} is labelled twice for issue {issue!r} "
                    f"(hint: keep one label per row and issue)"
                )
            pairs[(row_id, issue)] = flag
    if not pairs:
        raise InputError(f"{label}: row 1: no labelled cell (hint: cells are 0 or 1; an empty cell is not labelled)")
    return pd.DataFrame([(r, i, v) for (r, i), v in pairs.items()], columns=["row_id", "issue_id", "label"]), label


def _issue_resolver(report: IssueReport) -> Any:
    ids = {i.id: i.id for i in report.issues}
    names = {i.name.strip().casefold(): i.id for i in report.issues}

    def resolve(text: str, where: str) -> str:
        key = text.strip()
        if key in ids:
            return ids[key]
        if key.casefold() in names:
            return names[key.casefold()]
        example = report.issues[0].id if report.issues else "none"
        raise InputError(f"{where}: no issue of the report has the id or name {key[:60]!r} (hint: e.g. {example!r})")

    return resolve


def _row_id(value: Any, known: set[str], label: str, number: int, column: str) -> str:
    if is_missing(value) or not str(value).strip():
        raise InputError(f"{label}: row {number}: field {column!r}: empty row id (hint: give the report's row_id)")
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit() and text not in known:  # an integer id read as a float
        text = text[:-2]
    if text not in known:
        raise InputError(
            f"{label}: row {number}: field {column!r}: {text[:60]!r} is not a row of the report "
            f"(hint: label rows by the report's row_id)"
        )
    return text


def _flag(value: Any, label: str, number: int, column: str) -> int | None:
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().casefold()
    if isinstance(value, bool):
        return int(value)
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise InputError(
        f"{label}: row {number}: field {column!r}: {str(value)[:40]!r} is not 0 or 1 "
        f"(hint: 1 = the row has the issue, 0 = it has not, empty = not labelled)"
    )


def assignment_quality(report: IssueReport, labels: Any, *, confidence: float = 0.95) -> pd.DataFrame:
    """Precision and recall of each issue's assignment against human labels, with Wilson intervals.

    Args:
        report: the issue report whose assignments are checked.
        labels: a labels table (path, DataFrame or records; see the module docstring), or the long
            pairs ``row_id, issue_id, label`` that :func:`read_labels` returns.
        confidence: of the intervals.

    Returns:
        One line per issue of the report, ranked as the report: :data:`QUALITY_COLUMNS`. ``labelled``
        counts the labelled rows of the issue; ``tp`` rows both assigned and labelled 1, ``fp`` assigned
        but labelled 0, ``fn`` labelled 1 but not assigned. Precision is ``tp / (tp + fp)``, recall
        ``tp / (tp + fn)``; NaN (and no interval) when nothing counts.
    """
    pairs = labels if _is_pairs(labels) else read_labels(labels, report)[0]
    pairs = pairs.astype({"row_id": str})
    assigned = set(zip(report.assignments["row_id"].astype(str), report.assignments["issue_id"]))
    predicted = np.array([(r, i) in assigned for r, i in zip(pairs["row_id"], pairs["issue_id"])], dtype=bool)
    truth = pairs["label"].astype(int).to_numpy() == 1
    lines = []
    for issue in report.issues:
        mine = (pairs["issue_id"] == issue.id).to_numpy()
        tp = int((mine & predicted & truth).sum())
        fp = int((mine & predicted & ~truth).sum())
        fn = int((mine & ~predicted & truth).sum())
        precision, (p_low, p_high) = _ratio(tp, tp + fp), _wilson(tp, tp + fp, confidence)
        recall, (r_low, r_high) = _ratio(tp, tp + fn), _wilson(tp, tp + fn, confidence)
        lines.append(
            (issue.id, issue.name, int(mine.sum()), tp, fp, fn, precision, p_low, p_high, recall, r_low, r_high)
        )
    frame = pd.DataFrame(lines, columns=list(QUALITY_COLUMNS))
    frame.attrs["labelled_rows"] = int(pairs["row_id"].nunique())
    return frame


def _is_pairs(labels: Any) -> bool:
    return isinstance(labels, pd.DataFrame) and list(labels.columns) == ["row_id", "issue_id", "label"]


def _wilson(count: int, n: int, confidence: float) -> tuple[float, float]:
    low, high = wilson_interval(count, n, confidence)
    return float(low), float(high)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


# -- seeds -----------------------------------------------------------------------------------------------------
def rerun_options(report: IssueReport) -> dict[str, Any]:
    """The :func:`~.pipeline.discover` arguments a report records (mode, clustering settings, tree), for a
    rerun on its own rows (``discover(report.rows, **rerun_options(report))``) with another seed."""
    from misattribution.discovery.modes import mode_names
    from misattribution.discovery.pipeline import ClusterSettings

    meta = report.meta
    known = set(mode_names())
    modes = [m for m in str(meta.get("mode") or "clusters").split("+") if m in known] or ["clusters"]
    settings = meta.get("settings") or {}
    names = {f.name for f in fields(ClusterSettings)} - {"seed", "progress", "devices"}
    options = {k: v for k, v in settings.items() if k in names}
    options["tree"] = bool(report.nodes)
    taxonomy = (meta.get("tree") or {}).get("taxonomy") if isinstance(meta.get("tree"), dict) else None
    if isinstance(taxonomy, str) and taxonomy:
        options["taxonomy"] = taxonomy
    return {"mode": "+".join(modes), **options}


def seed_stability(
    source: Any,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    reference: IssueReport | None = None,
    encoder: Any = None,
    **discover_kwargs: Any,
) -> pd.DataFrame:
    """How stable each issue is over discovery seeds.

    Discovery runs on ``source`` once per seed; each run is aligned to the reference
    (:func:`~.align.align_reports`: the same issue by evidence profile and row overlap). The reference
    is ``reference`` when given (a bundle's report; a seed equal to its ``meta["seed"]`` is not run
    again), else the run of the first seed.

    Args:
        source: what :func:`~.pipeline.discover` reads (a path, a DataFrame, a report's rows).
        seeds: the seeds.
        reference: the report whose issues are scored.
        encoder: the sentence encoder used for the alignment (default: the discovery model).
        **discover_kwargs: passed to every :func:`~.pipeline.discover` run (``fast``, ``mode``, ...).

    Returns:
        One line per issue of the reference: :data:`STABILITY_COLUMNS`. ``stability`` is the mean, over
        the other runs, of the best Jaccard between the issue's rows and any issue's rows of that run
        (NaN with no other run); ``seeds_found`` counts the seeds whose run holds the issue (the
        reference's own seed, plus each run aligned to it); ``n_seeds`` the seeds in all; ``jaccards``
        the per-run values. ``frame.attrs["seeds"]`` lists the reference's seed, then the others.
    """
    from misattribution.discovery.align import align_reports, row_jaccard
    from misattribution.discovery.embed import DEFAULT_MODEL, load_encoder
    from misattribution.discovery.pipeline import discover

    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if not seeds and reference is None:
        raise ValueError("seed_stability needs at least one seed")
    discover_kwargs.setdefault("progress", False)
    if reference is None:
        reference = discover(source, seed=seeds[0], **discover_kwargs)
        reference_seed: int | None = seeds[0]
    else:
        reference_seed = reference.meta.get("seed")
        reference_seed = int(reference_seed) if reference_seed is not None else None
    others = [s for s in seeds if s != reference_seed]
    encoder = encoder or load_encoder(discover_kwargs.get("embedding_model", DEFAULT_MODEL))
    jaccards: dict[str, list[float]] = {i.id: [] for i in reference.issues}
    found = dict.fromkeys(jaccards, 1)
    for seed in others:
        run = discover(source, seed=seed, **discover_kwargs)
        aligned = align_reports(run, reference, encoder=encoder)
        matched = set(aligned.mapping.loc[aligned.mapping["status"] == "matched", "id"])
        overlap = row_jaccard(run, reference)
        best = overlap.max(axis=0) if overlap.size else np.zeros(len(reference.issues))
        for k, issue in enumerate(reference.issues):
            jaccards[issue.id].append(round(float(best[k]), 4))
            found[issue.id] += issue.id in matched
    lines = [
        (
            issue.id,
            issue.name,
            float(np.mean(jaccards[issue.id])) if jaccards[issue.id] else float("nan"),
            found[issue.id],
            len(others) + 1,
            jaccards[issue.id],
        )
        for issue in reference.issues
    ]
    frame = pd.DataFrame(lines, columns=list(STABILITY_COLUMNS))
    frame.attrs["seeds"] = [reference_seed, *others]
    return frame


# -- the bundle and the tidy table -------------------------------------------------------------------------------
def store_reliability(
    report: IssueReport,
    *,
    quality: pd.DataFrame | None = None,
    stability: pd.DataFrame | None = None,
    labels_source: str | None = None,
) -> IssueReport:
    """Keep ``quality`` and / or ``stability`` in ``report.meta["reliability"]`` (in place; returned).

    Each part replaces only its own earlier result: new labels keep the stored seed stability.
    """
    stored = dict(report.meta.get("reliability") or {})
    if quality is not None:
        stored["quality"] = {
            "labels": labels_source,
            "labelled_rows": quality.attrs.get("labelled_rows"),
            "issues": _records(quality),
        }
    if stability is not None:
        stored["stability"] = {"seeds": list(stability.attrs.get("seeds", [])), "issues": _records(stability)}
    report.meta["reliability"] = stored
    return report


def reliability_table(
    report: IssueReport, *, quality: pd.DataFrame | None = None, stability: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One tidy line per issue of ``report`` (ranked): :data:`TABLE_COLUMNS`.

    ``quality`` and ``stability`` default to what ``report.meta["reliability"]`` holds; a part never
    computed leaves its columns NaN (``labelled`` and ``seeds_found`` 0).
    """
    stored = report.meta.get("reliability") or {}
    if quality is None and stored.get("quality"):
        quality = pd.DataFrame(stored["quality"]["issues"])
    if stability is None and stored.get("stability"):
        stability = pd.DataFrame(stored["stability"]["issues"])
    frame = pd.DataFrame({"issue_id": [i.id for i in report.issues], "name": [i.name for i in report.issues]})
    for part, columns in ((quality, QUALITY_COLUMNS), (stability, STABILITY_COLUMNS)):
        wanted = [c for c in columns if c in TABLE_COLUMNS and c not in ("issue_id", "name")]
        if part is not None and len(part):
            frame = frame.merge(part[["issue_id", *wanted]], on="issue_id", how="left")
        else:
            frame = frame.assign(**{c: float("nan") for c in wanted})
    for column in ("labelled", "seeds_found", "n_seeds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype(int)
    floats = [c for c in TABLE_COLUMNS if c not in ("issue_id", "name", "labelled", "seeds_found", "n_seeds")]
    frame[floats] = frame[floats].apply(pd.to_numeric, errors="coerce")
    return frame[list(TABLE_COLUMNS)]


def format_reliability(table: pd.DataFrame, *, width: int = 48) -> str:
    """The :func:`reliability_table` as aligned text, one line per issue."""
    header = f"{'issue':<{width}}  {'labelled':>8}  {'precision [95% CI]':>20}  {'recall [95% CI]':>20}  {'stability':>9}  seeds"
    lines = [header]
    for line in table.itertuples(index=False):
        name = line.name if len(line.name) <= width else line.name[: width - 1] + "…"
        seeds = f"{line.seeds_found}/{line.n_seeds}" if line.n_seeds else "-"
        lines.append(
            f"{name:<{width}}  {line.labelled:>8}  {_estimate(line.precision, line.precision_low, line.precision_high):>20}"
            f"  {_estimate(line.recall, line.recall_low, line.recall_high):>20}  {_number(line.stability):>9}  {seeds}"
        )
    return "\n".join(lines)


def _estimate(value: float, low: float, high: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _number(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records: NaN as ``None``, numpy scalars as Python numbers."""
    out = []
    for record in frame.to_dict("records"):
        clean = {}
        for key, value in record.items():
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and math.isnan(value):
                value = None
            clean[key] = value
        out.append(clean)
    return out
