"""Derive the sample's annotator exports from the hand-written sample rows (deterministic, no randomness).

    python scripts/make_sample_exports.py            # rewrite src/misattribution/data/sample_data/exports/
    python scripts/make_sample_exports.py --check    # exit 1 if the shipped exports are stale

Reads ``src/misattribution/data/sample_data/rows_*.jsonl`` (files in name order, lines in order) and writes
``exports/``: ``items.jsonl``, ``ann_a.csv`` ("a;b" English names, no annotator column),
``ann_b.jsonl`` and ``ann_c.parquet`` (lists of ids) and ``adjudication.csv`` (names in the row's
language). Then it builds the sample from the exports with the real builder and checks that every
built row has the score, categories and feedback its hand-written row declares: a row whose declared
label is not what its annotations (and adjudication) give is reported, and the script exits 1.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from misattribution.data.build import ITEM_COLUMNS, build_attridata
from misattribution.data.sample import SAMPLE_EXPORTS
from misattribution.data.validate import DataValidationError
from misattribution.taxonomy import Taxonomy, load_taxonomy

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "src" / "misattribution" / "data" / "sample_data"
EXPORT_FILES = ("ann_a", "ann_b", "ann_c")


class SampleRowError(ValueError):
    """A hand-written row is malformed; the message names the file and the line."""


def read_rows(rows_dir: Path) -> list[dict[str, Any]]:
    """Every row of ``rows_*.jsonl``, files in name order, with ``_where`` ("file:line") added."""
    rows, problems = [], []
    files = sorted(rows_dir.glob("rows_*.jsonl"))
    if not files:
        raise SampleRowError(f"{rows_dir}: no rows_*.jsonl files")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(f"{path.name}:{number}: not valid JSON ({err.msg})")
                continue
            if not isinstance(row, dict) or not isinstance(row.get("annotations"), list):
                problems.append(f"{path.name}:{number}: expected an object with an 'annotations' list")
                continue
            rows.append({**row, "_where": f"{path.name}:{number}"})
    if problems:
        raise SampleRowError("malformed sample rows:\n  " + "\n  ".join(problems))
    return rows


def _labels(row: dict[str, Any], value: Any, tax: Taxonomy, what: str) -> list[str]:
    try:
        return tax.normalize_labels(value or [])
    except KeyError as err:
        raise SampleRowError(f"{row['_where']} ({row.get('id')}): {what}: {err.args[0]}") from None


def _file_of(rows: list[dict[str, Any]]) -> dict[tuple[int, int], str]:
    """Which export each (row, annotation) goes to.

    With exactly three annotator names overall, annotator k (in sorted order) goes to the k-th file;
    otherwise the k-th annotation of each row does.
    """
    names = sorted({str(a.get("annotator")) for row in rows for a in row["annotations"]})
    by_name = dict(zip(names, EXPORT_FILES)) if len(names) == len(EXPORT_FILES) else None
    placement = {}
    for i, row in enumerate(rows):
        if len(row["annotations"]) > len(EXPORT_FILES):
            raise SampleRowError(f"{row['_where']} ({row.get('id')}): more than {len(EXPORT_FILES)} annotations")
        for k, annotation in enumerate(row["annotations"]):
            placement[i, k] = by_name[str(annotation.get("annotator"))] if by_name else EXPORT_FILES[k]
    return placement


def _csv(header: list[str], records: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    return buffer.getvalue()


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def derive(rows: list[dict[str, Any]], tax: Taxonomy) -> dict[str, Any]:
    """The export files' contents: text for CSV / JSONL, a ``pyarrow.Table`` for Parquet."""
    placement = _file_of(rows)
    exports: dict[str, list[Any]] = {name: [] for name in EXPORT_FILES}
    adjudications = []
    for i, row in enumerate(rows):
        for k, annotation in enumerate(row["annotations"]):
            ids = _labels(row, annotation.get("misattribution"), tax, f"annotation {k + 1}")
            exports[placement[i, k]].append((row, annotation, ids))
        if row.get("adjudication"):
            decision = row["adjudication"]
            ids = _labels(row, decision.get("misattribution"), tax, "adjudication")
            names = ";".join(tax.get(cid).name(row.get("language") or "en") for cid in ids)
            adjudications.append([row["id"], decision.get("score"), names])
    empty = {"zh": "无"}  # how an annotator writes "no error" in ann_a.csv; "" elsewhere
    ann_a = [
        [row["id"], a.get("score"), ";".join(tax.get(cid).name_en for cid in ids) or empty.get(row.get("language"), "")]
        for row, a, ids in exports["ann_a"]
    ]
    ann_b = [
        {"id": row["id"], "annotator": str(a.get("annotator")), "score": a.get("score"), "misattribution": ids}
        for row, a, ids in exports["ann_b"]
    ]
    ann_c = pa.table(
        {
            "id": pa.array([row["id"] for row, _, _ in exports["ann_c"]], pa.string()),
            "annotator": pa.array([str(a.get("annotator")) for _, a, _ in exports["ann_c"]], pa.string()),
            "score": pa.array([a.get("score") for _, a, _ in exports["ann_c"]], pa.int64()),
            "misattribution": pa.array([ids for _, _, ids in exports["ann_c"]], pa.list_(pa.string())),
        }
    )
    return {
        "items.jsonl": _jsonl([{c: row.get(c) for c in ITEM_COLUMNS} for row in rows]),
        "ann_a.csv": _csv(["id", "score", "misattribution"], ann_a),
        "ann_b.jsonl": _jsonl(ann_b),
        "ann_c.parquet": ann_c,
        "adjudication.csv": _csv(["id", "score", "misattribution"], adjudications),
    }


def write(exports: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in exports.items():
        if isinstance(content, pa.Table):
            pq.write_table(content, out_dir / name)
        else:
            (out_dir / name).write_text(content, encoding="utf-8")


def stale(exports: dict[str, Any], out_dir: Path) -> list[str]:
    """The export files in ``out_dir`` that differ from ``exports`` (Parquet compared by content)."""
    differ = []
    for name, content in exports.items():
        path = out_dir / name
        if not path.is_file():
            differ.append(name)
        elif isinstance(content, pa.Table):
            if not pq.read_table(path).equals(content):
                differ.append(name)
        elif path.read_text(encoding="utf-8") != content:
            differ.append(name)
    return differ


def check_against_rows(rows: list[dict[str, Any]], out_dir: Path, tax: Taxonomy) -> tuple[Any, list[str]]:
    """Build from the exports; list every row whose built label differs from its declared one."""
    paths = {name: out_dir / name for name in SAMPLE_EXPORTS}
    result = build_attridata(
        paths["items.jsonl"],
        [paths["ann_a.csv"], paths["ann_b.jsonl"], paths["ann_c.parquet"]],
        paths["adjudication.csv"],
        taxonomy=tax,
    )
    built = {}
    for split in result.dataset.values():
        names = split.features["misattribution"].feature.names
        for record in split:
            built[record["id"]] = (record["score"], [names[i] for i in record["misattribution"]], record["feedback"])
    mismatches = []
    for row in rows:
        declared = (
            row.get("score"),
            _labels(row, row.get("misattribution"), tax, "misattribution"),
            row.get("feedback"),
        )
        got = built.get(row["id"])
        if got is not None and got[:2] != declared[:2]:
            how = "adjudicated" if row.get("adjudication") else "majority of the annotations"
            mismatches.append(
                f"{row['_where']} ({row['id']}): declares score {declared[0]} {declared[1]}, "
                f"the {how} gives score {got[0]} {got[1]}"
            )
        elif got is not None and got[2] != declared[2]:
            mismatches.append(f"{row['_where']} ({row['id']}): the built feedback differs from the declared one")
    return result, mismatches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows-dir", type=Path, default=SAMPLE_DIR, help="folder of rows_*.jsonl")
    parser.add_argument("--out-dir", type=Path, default=None, help="default: ROWS_DIR/exports")
    parser.add_argument("--taxonomy", default=None, help="taxonomy name or YAML path (default attridata-v1)")
    parser.add_argument("--check", action="store_true", help="only check that the exports are up to date")
    args = parser.parse_args(argv)
    out_dir = args.out_dir or args.rows_dir / "exports"
    tax = load_taxonomy(args.taxonomy)
    try:
        rows = read_rows(args.rows_dir)
        exports = derive(rows, tax)
    except SampleRowError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.check:
        differ = stale(exports, out_dir)
        if differ:
            print(f"stale sample exports in {out_dir}: {differ}; run scripts/make_sample_exports.py", file=sys.stderr)
            return 1
        print(f"{out_dir}: up to date ({len(rows)} rows)")
        return 0
    with tempfile.TemporaryDirectory() as staging:
        # Check before replacing the shipped exports: a broken row leaves them as they were.
        write(exports, Path(staging))
        try:
            result, mismatches = check_against_rows(rows, Path(staging), tax)
        except DataValidationError as err:
            print(f"error: the exports do not build:\n{err}", file=sys.stderr)
            return 1
    if mismatches:
        print("error: declared labels differ from the built ones:\n  " + "\n  ".join(mismatches), file=sys.stderr)
        return 1
    write(exports, out_dir)
    stats, agreement = result.stats, result.agreement
    print(f"wrote {len(exports)} files to {out_dir}")
    print(
        f"{stats['n_items']} items ({stats['n_train']} train / {stats['n_test']} test), "
        f"{stats['n_annotations']} annotations, {stats['n_adjudicated']} adjudicated, {stats['n_ties']} with ties"
    )
    print(f"score kappa {agreement['score_kappa']:.3f}, misattribution kappa {agreement['misattribution_kappa']:.3f}")
    for problem in result.validation.warnings:
        print(f"warning: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
