"""Build AttriData from items, annotator exports and an adjudication; print counts and kappas.

    python scripts/build_attridata.py --items items.jsonl \\
        --annotations ann_a.csv ann_b.jsonl ann_c.parquet --adjudication adjudication.csv -o attridata/

Writes ``attridata/data/train.parquet``, ``attridata/data/test.parquet`` and ``attridata/agreement.json``
only when every input is valid; otherwise prints every problem (file, row, field) and exits 1.
The same as ``misattribution build-dataset``; the library function is
:func:`misattribution.data.build_attridata`.
"""

from __future__ import annotations

import sys

from misattribution.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    return cli_main(["build-dataset", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
