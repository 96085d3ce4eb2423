"""Push AttriData and its dataset card to the Hugging Face Hub, or write the repository locally.

    # check first: the exact repository in a local folder, loadable with datasets.load_dataset(folder)
    python scripts/push_dataset.py my-org/AttriData --data out/attridata --dry-run /tmp/attridata-repo

    # then push (token from HF_TOKEN or `hf auth login`; there is no --token flag on purpose)
    python scripts/push_dataset.py my-org/AttriData --data out/attridata --private

``--data`` is the builder's output folder (``data/train.parquet``, ``data/test.parquet``,
``agreement.json``) or those files listed one by one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from misattribution.cards import render_dataset_card
from misattribution.data.publish import DEFAULT_COMMIT_MESSAGE, load_built_dataset, push_dataset


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo_id", help="the dataset repository, e.g. my-org/AttriData")
    parser.add_argument("--data", nargs="+", required=True, help="the builder's output folder, or its files")
    parser.add_argument("--dry-run", metavar="DIR", help="write the repository to DIR instead of pushing")
    parser.add_argument("--overwrite", action="store_true", help="replace README.md and data/ in a non-empty DIR")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--taxonomy", help="taxonomy name or YAML path (default: the one matching the data)")
    parser.add_argument("--pretty-name", default="AttriData")
    parser.add_argument("--license", default="cc-by-4.0")
    parser.add_argument("--annotation-process", metavar="FILE", help="Markdown file replacing the card's default")
    parser.add_argument("--commit-message", default=DEFAULT_COMMIT_MESSAGE)
    parser.add_argument("--max-shard-size", help='largest Parquet shard, e.g. "500MB" (the datasets default)')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        dataset, agreement = load_built_dataset(
            args.data[0] if len(args.data) == 1 else args.data, taxonomy=args.taxonomy
        )
        process = Path(args.annotation_process).read_text(encoding="utf-8") if args.annotation_process else None
        card = render_dataset_card(
            dataset,
            agreement,
            taxonomy=args.taxonomy,
            repo_id=args.repo_id,
            pretty_name=args.pretty_name,
            license=args.license,
            annotation_process=process,
        )
        where = push_dataset(
            dataset,
            card,
            args.repo_id,
            private=args.private,
            dry_run_dir=args.dry_run,
            overwrite=args.overwrite,
            commit_message=args.commit_message,
            max_shard_size=args.max_shard_size,
        )
    except Exception as err:  # push_dataset masks the token in any error that carries it
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    rows = ", ".join(f"{split} {len(part)}" for split, part in dataset.items())
    print(f"{'wrote' if args.dry_run else 'pushed'} {args.repo_id} ({rows} rows): {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
