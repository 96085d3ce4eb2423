"""Push a trained judge (weights or LoRA adapter, tokenizer, metrics, model card) to the Hugging Face Hub.

    # check first: the exact repository, written to a local folder
    python scripts/push_model.py data/misattribution-judge-qwen2.5-7b --repo-id my-org/judge \
        --recipe trl_recipes/qwen2.5-7b/sft/config_full.yaml --dry-run /tmp/judge-repo

    # then push (token from HF_TOKEN or `hf auth login`; there is no --token flag on purpose)
    python scripts/push_model.py data/misattribution-judge-qwen2.5-7b --repo-id my-org/judge \
        --recipe trl_recipes/qwen2.5-7b/sft/config_full.yaml --private

The card is rendered again from the run's folder (``judge_metrics.json``, ``adapter_config.json``)
and its recipe, so it names the repository it is pushed to. Only the files of
``misattribution.model_card.repo_files`` are published: never checkpoints, optimizer states or logs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from misattribution.model_card import push_model, render_run_card, repo_files, stage_model_repo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="the training run's output_dir")
    parser.add_argument("--repo-id", required=True, help="the model repository, e.g. my-org/misattribution-judge")
    parser.add_argument("--recipe", type=Path, help="the run's recipe YAML (hyperparameters, base model, dataset)")
    parser.add_argument("--license", help="the card's license (default: the recipe's, else apache-2.0)")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--dry-run", type=Path, metavar="DIR", help="write the repository to DIR instead of pushing")
    args = parser.parse_args(argv)

    card = render_run_card(args.model_dir, repo_id=args.repo_id, recipe=args.recipe, license=args.license)
    if args.dry_run:
        out = stage_model_repo(args.model_dir, card, args.dry_run)
        print(f"dry run: {args.repo_id} would hold, as written to {out}:")
        for name in sorted(p.name for p in out.iterdir()):
            print(f"  {name}")
        return 0
    source = "HF_TOKEN" if os.environ.get("HF_TOKEN") else "the cached login"
    print(f"pushing {len(repo_files(args.model_dir)) + 1} files to {args.repo_id} (token from {source})")
    print(push_model(args.model_dir, args.repo_id, card=card, private=args.private or None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
