"""Publish AttriData: push the splits and the card to the Hub, or write the same repository locally.

:func:`push_dataset` has two modes:

* real: ``DatasetDict.push_to_hub`` (Parquet shards under ``data/``), then the card as ``README.md``;
* dry run (``dry_run_dir``): the same repository written to a local folder, ``README.md`` and
  ``data/{split}-{index:05d}-of-{num_shards:05d}.parquet`` named and sharded as ``push_to_hub`` does,
  so ``datasets.load_dataset(dry_run_dir)`` reads it exactly as it would read the Hub repository.

The token comes from the argument, else ``HF_TOKEN``, else the ``huggingface_hub`` login. It is never
printed or logged, and an error whose message contains it is re-raised as a :class:`PublishError`
with the token masked.

:func:`load_built_dataset` reads what the builder writes (``data/train.parquet``,
``data/test.parquet``, ``agreement.json``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from misattribution.cards import DATA_DIR, split_nbytes
from misattribution.data.schema import attridata_features
from misattribution.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

DEFAULT_COMMIT_MESSAGE = "Upload AttriData"
AGREEMENT_FILE = "agreement.json"
_SPLIT_ORDER = ("train", "validation", "test")
# "train.parquet" (the builder) or "train-00000-of-00001.parquet" (push_to_hub, a dry run).
_PARQUET_NAME = re.compile(r"^(?P<split>\w+?)(?:-\d{5}-of-\d{5})?\.parquet$")


class PublishError(RuntimeError):
    """Publishing failed; the message never contains the token."""


# -- loading the builder's output -------------------------------------------------------------------
def _parquet_files(paths: list[Path]) -> dict[str, list[Path]]:
    by_split: dict[str, list[Path]] = {}
    for path in paths:
        match = _PARQUET_NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path}: cannot tell the split from the file name (expected e.g. train.parquet)")
        by_split.setdefault(match["split"], []).append(path)
    order = {split: i for i, split in enumerate(_SPLIT_ORDER)}
    return {split: sorted(by_split[split]) for split in sorted(by_split, key=lambda s: (order.get(s, len(order)), s))}


def _read_split(files: list[Path], taxonomy: Taxonomy | str | None) -> Any:
    import pyarrow.parquet as pq
    from datasets import ClassLabel, Dataset, concatenate_datasets

    parts = []
    for path in files:
        part = Dataset(pq.read_table(path))  # the features come from the Parquet schema metadata
        labels = getattr(part.features.get("misattribution"), "feature", None)
        if taxonomy is None and isinstance(labels, ClassLabel):
            parts.append(part)
            continue
        expected = attridata_features(taxonomy)
        if isinstance(labels, ClassLabel) and labels.names != expected["misattribution"].feature.names:
            raise ValueError(f"{path}: the misattribution labels do not match the taxonomy; pass the taxonomy used")
        try:
            parts.append(part if part.features == expected else part.cast(expected))
        except (ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{path}: does not fit the AttriData schema: {err}") from err
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def load_built_dataset(
    data: str | Path | Sequence[str | Path], *, taxonomy: Taxonomy | str | None = None
) -> tuple[Any, dict[str, Any] | None]:
    """Read the builder's output: a ``DatasetDict`` and the agreement dict (``None`` if absent).

    ``data`` is the builder's output folder (``data/*.parquet`` or ``*.parquet``, and
    ``agreement.json``) or a list of files: ``<split>.parquet`` or
    ``<split>-00000-of-00001.parquet`` files and at most one ``.json`` agreement file.
    ``taxonomy`` is needed only when the files do not carry their class labels.
    """
    from datasets import DatasetDict

    items = [Path(data)] if isinstance(data, (str, Path)) else [Path(p) for p in data]
    if len(items) == 1 and items[0].is_dir():
        folder = items[0]
        items = sorted((folder / DATA_DIR).glob("*.parquet")) or sorted(folder.glob("*.parquet"))
        if (folder / AGREEMENT_FILE).is_file():
            items.append(folder / AGREEMENT_FILE)
        if not any(p.suffix == ".parquet" for p in items):
            raise FileNotFoundError(f"{folder}: no Parquet files in {folder / DATA_DIR} or {folder}")
    missing = [str(p) for p in items if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such file: {', '.join(missing)}")
    agreements = [p for p in items if p.suffix == ".json"]
    if len(agreements) > 1:
        raise ValueError(f"more than one agreement file: {', '.join(map(str, agreements))}")
    agreement = json.loads(agreements[0].read_text(encoding="utf-8")) if agreements else None
    if agreement is None:
        logger.warning("no %s found: the card's agreement section will say so", AGREEMENT_FILE)
    files = _parquet_files([p for p in items if p.suffix == ".parquet"])
    dataset = DatasetDict({split: _read_split(paths, taxonomy) for split, paths in files.items()})
    return dataset, agreement


# -- the repository layout --------------------------------------------------------------------------
def shard_paths(dataset: Any, max_shard_size: int | str | None = None) -> dict[str, list[str]]:
    """The data files ``push_to_hub`` writes for each split, as paths inside the repository.

    One shard per ``max_shard_size`` (default ``datasets.config.MAX_SHARD_SIZE``) of in-memory size:
    a small split is a single ``data/train-00000-of-00001.parquet``.
    """
    return {split: [path for path, _ in _shards(dataset[split], split, max_shard_size)] for split in dataset}


def _shards(part: Any, split: str, max_shard_size: int | str | None) -> list[tuple[str, Any]]:
    from datasets import config
    from datasets.utils.py_utils import convert_file_size_to_int

    # Same count and naming as Dataset._push_parquet_shards_to_hub.
    num_shards = int(split_nbytes(part) / convert_file_size_to_int(max_shard_size or config.MAX_SHARD_SIZE)) + 1
    return [
        (
            f"{DATA_DIR}/{split}-{index:05d}-of-{num_shards:05d}.parquet",
            part.shard(num_shards=num_shards, index=index, contiguous=True),
        )
        for index in range(num_shards)
    ]


def _writer_batch_size(part: Any) -> int | None:
    try:
        from datasets.arrow_writer import get_writer_batch_size_from_data_size, get_writer_batch_size_from_features
    except ImportError:  # older datasets: row groups of the default size
        return None
    return get_writer_batch_size_from_features(part.features) or get_writer_batch_size_from_data_size(
        len(part), split_nbytes(part)
    )


def _check_card_matches(dataset: Any, card: Any) -> None:
    configs = card.data.get("configs") or []
    splits = [item.get("split") for config in configs for item in config.get("data_files", [])]
    if sorted(splits) != sorted(dataset):
        raise ValueError(f"the card's configs list the splits {splits}, the dataset has {list(dataset)}")


def _write_dry_run(dataset: Any, card: Any, folder: Path, *, overwrite: bool, max_shard_size: Any) -> Path:
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} exists and is not a folder")
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{folder} is not empty; pass overwrite=True to replace its README.md and data/")
        # Like push_to_hub, which deletes the old files under data/; nothing else is touched.
        (folder / "README.md").unlink(missing_ok=True)
        shutil.rmtree(folder / DATA_DIR, ignore_errors=True)
    (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
    for split in dataset:
        batch_size = _writer_batch_size(dataset[split])
        for path, shard in _shards(dataset[split], split, max_shard_size):
            shard.to_parquet(str(folder / path), batch_size=batch_size)
    card.save(folder / "README.md")
    logger.info("dry run: wrote %s (README.md and %s/)", folder, DATA_DIR)
    return folder


# -- the token --------------------------------------------------------------------------------------
def _resolve_token(token: str | None) -> tuple[str | None, str]:
    """The token and where it came from (for the log; never the value)."""
    if token:
        return token, "the token argument"
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"], "HF_TOKEN"
    from huggingface_hub import get_token

    stored = get_token()
    return (stored, "the huggingface_hub login") if stored else (None, "nowhere")


def _mentions(err: BaseException, secret: str) -> bool:
    """Whether ``secret`` is in the message of ``err`` or of an exception chained to it."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if secret in str(current) or secret in repr(current):
            return True
        stack += [current.__cause__, current.__context__]
    return False


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` masked.

    >>> redact("bad token hf_abc", "hf_abc")
    'bad token ***'
    """
    return text.replace(secret, "***") if secret else text


# -- publishing -------------------------------------------------------------------------------------
def push_dataset(
    dataset: Any,
    card: Any,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    dry_run_dir: str | Path | None = None,
    overwrite: bool = False,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    max_shard_size: int | str | None = None,
) -> str | Path:
    """Push ``dataset`` (a ``DatasetDict``) and ``card`` to the dataset repository ``repo_id``.

    Returns the repository URL; with ``dry_run_dir``, writes the repository there instead (refusing a
    non-empty folder unless ``overwrite``) and returns the folder. ``max_shard_size`` is passed to
    ``push_to_hub`` and used for the dry run's shards alike.
    """
    _check_card_matches(dataset, card)
    if dry_run_dir is not None:
        return _write_dry_run(dataset, card, Path(dry_run_dir), overwrite=overwrite, max_shard_size=max_shard_size)

    secret, origin = _resolve_token(token)
    if secret is None:
        raise PublishError("no Hugging Face token: pass token=, set HF_TOKEN, or log in with `hf auth login`")
    rows = sum(len(dataset[split]) for split in dataset)
    logger.info(
        "pushing %d rows (%s) to %s, private=%s, token from %s", rows, ", ".join(dataset), repo_id, private, origin
    )
    failure: PublishError | None = None
    try:
        commit = dataset.push_to_hub(
            repo_id, token=secret, private=private, commit_message=commit_message, max_shard_size=max_shard_size
        )
        # push_to_hub wrote its own README.md; the card replaces it (same configs and dataset_info).
        card.push_to_hub(repo_id, repo_type="dataset", token=secret, commit_message=f"{commit_message}: dataset card")
    except Exception as err:
        if not _mentions(err, secret):
            raise
        failure = PublishError(f"pushing to {repo_id} failed: {redact(f'{type(err).__name__}: {err}', secret)}")
    if failure is not None:
        raise failure from None  # outside the except block, so the original error is not attached
    url = str(getattr(commit, "repo_url", "") or f"datasets/{repo_id}")
    logger.info("pushed %s", url)
    return url
