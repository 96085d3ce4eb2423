"""Build AttriData from items, annotator exports and an adjudication; print counts and kappas.

    python scripts/build_attridata.py --items items.jsonl \\
        --annotations ann_a.csv ann_b.jsonl ann_c.parquet --adjudication adjudication.csv -o attridata/

Writes ``attridata/data/train.parquet``, ``attridata/data/test.parquet`` and ``attridata/agreement.json``
only when every input is valid; otherwise prints every problem (file, row, field) and exits 1.
The library function is :func:`misattribution.data.build_attridata`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from misattribution.data.build import PAPER_TEST_SIZE, build_attridata
from misattribution.data.validate import DataValidationError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", required=True, type=Path, help="item table (JSONL, CSV or Parquet)")
    parser.add_argument("--annotations", required=True, nargs="+", type=Path, help="annotator exports")
    parser.add_argument("--adjudication", type=Path, default=None, help="adjudication table (optional)")
    parser.add_argument("--taxonomy", default=None, help="taxonomy name or YAML path (default attridata-v1)")
    parser.add_argument("--test-size", type=float, default=PAPER_TEST_SIZE, help="test share (default: the paper's)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    parser.add_argument("--rule", choices=("error", "warning"), default="error", help="severity of the score rule")
    parser.add_argument("-o", "--out-dir", type=Path, default=None, help="output folder (default: do not write)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = build_attridata(
            args.items,
            args.annotations,
            args.adjudication,
            taxonomy=args.taxonomy,
            test_size=args.test_size,
            seed=args.seed,
            rule=args.rule,
            out_dir=args.out_dir,
        )
    except (DataValidationError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    stats, agreement = result.stats, result.agreement

    def kappa(key: str) -> str:
        return "n/a" if agreement[key] is None else f"{agreement[key]:.3f}"

    print(
        f"{stats['n_items']} items: {stats['n_train']} train / {stats['n_test']} test; "
        f"{stats['n_annotations']} annotations by {stats['n_annotators']} annotators; "
        f"{stats['n_adjudicated']} adjudicated"
    )
    print(f"Fleiss' kappa: score {kappa('score_kappa')}, misattribution {kappa('misattribution_kappa')} (pooled)")
    for problem in result.validation.warnings:
        print(f"warning: {problem}", file=sys.stderr)
    for path in result.written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
