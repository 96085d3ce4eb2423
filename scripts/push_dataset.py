"""Push AttriData and its dataset card to the Hugging Face Hub, or write the repository locally.

    # check first: the exact repository in a local folder, loadable with datasets.load_dataset(folder)
    python scripts/push_dataset.py my-org/AttriData --data out/attridata --dry-run /tmp/attridata-repo

    # then push (token from HF_TOKEN or `hf auth login`; there is no --token flag on purpose)
    python scripts/push_dataset.py my-org/AttriData --data out/attridata --private

``--data`` is the builder's output folder (``data/train.parquet``, ``data/test.parquet``,
``agreement.json``) or those files listed one by one. The same as ``misattribution push-dataset``.
"""

from __future__ import annotations

import sys

from misattribution.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    return cli_main(["push-dataset", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
