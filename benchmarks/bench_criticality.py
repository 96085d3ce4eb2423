"""Only shortcomings become issues: the criticality classifier on labelled judge-feedback sentences.

``benchmarks/data/criticality/`` holds sentences (units of :func:`~misattribution.discovery.sentences.
split_sentences`) labelled ``shortcoming``, ``praise``, ``neutral``, ``rationale`` or ``suggestion``,
from four sources (see its README): ``sample`` (the bundled sample's feedback), ``authored`` (agent,
RAG and code-review critiques we wrote), ``styles`` (critiques we wrote in seven judge styles over ten
other domains) and ``clear_gsm8k`` (references into the third-party CLEAR file, resolved from
``../shared/data/clear_gsm8k`` when present, each checked against its stored sha1).

For each source × language × split it prints n, the precision, recall and F1 of "shortcoming", and how
many sentences of each other label were called a shortcoming. The classifier
(:class:`~misattribution.discovery.sentences.CriticalityScorer`) is trained on its shipped examples,
``criticality_examples.jsonl``: train splits only (the README says which sources' train splits it
holds), so every ``test`` row is held out, and ``clear_gsm8k`` is never trained on.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/bench_criticality.py [--clear PATH] [--split test] [--by style]``
(``--by style`` or ``--by domain`` adds the ``styles`` source broken down by judge style or domain).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from misattribution.discovery.sentences import CRITICALITY_LABELS, abstract_sentence, split_sentences

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "criticality"
# Sources whose files store the sentence text (ours), then the third-party one stored as references.
TEXT_SOURCES = ("sample", "authored", "styles")
SOURCES = (*TEXT_SOURCES, "clear_gsm8k")
CLEAR_DEFAULT = ROOT.parent / "shared" / "data" / "clear_gsm8k"
# The goal on every source's held-out test split, in each language.
MIN_PRECISION, MIN_RECALL = 0.95, 0.80


class ReferenceMismatch(RuntimeError):
    """A stored CLEAR reference does not point at the sentence it was labelled on."""


def sentence_sha1(text: str) -> str:
    """The first 10 hex characters of the sentence's sha1 (how CLEAR references are checked)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def load_labelled(source: str) -> pd.DataFrame:
    """One source's labelled sentences (``text`` is missing for ``clear_gsm8k``: only references are stored)."""
    path = DATA / f"{source}.jsonl"
    return pd.DataFrame([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line])


def resolve_clear(references: pd.DataFrame, clear_dir: Path) -> pd.DataFrame:
    """The CLEAR references with their ``text``, read from ``results.parquet``; raises
    :class:`ReferenceMismatch` naming the critique and sentence when a stored sha1 does not match."""
    results = pd.read_parquet(clear_dir / "results.parquet", columns=["question_id", "evaluation_text"])
    critiques = results.set_index("question_id")["evaluation_text"]
    texts = []
    for row in references.itertuples(index=False):
        sentences = split_sentences(critiques.get(row.critique))
        text = sentences[row.index] if row.index < len(sentences) else ""
        if sentence_sha1(text) != row.sha1:
            raise ReferenceMismatch(
                f"clear_gsm8k.jsonl: critique {row.critique} sentence {row.index} has sha1 {sentence_sha1(text)!r}, "
                f"stored {row.sha1!r} (the file or split_sentences changed)"
            )
        texts.append(text)
    return references.assign(text=texts)


def load_all(clear_dir: Path | None = CLEAR_DEFAULT) -> tuple[pd.DataFrame, str | None]:
    """Every labelled sentence with its text, and a message when the CLEAR source had to be skipped."""
    frames = [load_labelled(source) for source in TEXT_SOURCES]
    skipped = None
    if clear_dir is not None and (Path(clear_dir) / "results.parquet").is_file():
        frames.append(resolve_clear(load_labelled("clear_gsm8k"), Path(clear_dir)))
    else:
        skipped = f"clear_gsm8k skipped: {clear_dir}/results.parquet is not on this machine"
    return pd.concat(frames, ignore_index=True), skipped


def predict(sentences: pd.DataFrame, encoder=None) -> np.ndarray:
    """Whether the shipped classifier calls each sentence a shortcoming."""
    from misattribution.discovery.embed import embed, load_encoder
    from misattribution.discovery.sentences import CriticalityScorer

    encoder = encoder or load_encoder()
    texts = sentences["text"].tolist()
    vectors = embed([abstract_sentence(t) for t in texts], encoder, progress=False)
    return CriticalityScorer(encoder).is_critical(texts, vectors)


def with_styles_facets(sentences: pd.DataFrame) -> pd.DataFrame:
    """The ``styles`` sentences among ``sentences``, with their critique's ``style`` and ``domain``."""
    facets = pd.DataFrame(
        [
            json.loads(line)
            for line in (DATA / "styles_critiques.jsonl").read_text(encoding="utf-8").splitlines()
            if line
        ]
    )[["critique", "style", "domain"]]
    styles = sentences[sentences["source"] == "styles"].reset_index(drop=True)
    return styles.merge(facets, on="critique", how="left", validate="many_to_one")


def evaluate(
    sentences: pd.DataFrame, predicted: np.ndarray, by: tuple[str, ...] = ("source", "language", "split")
) -> pd.DataFrame:
    """Per group of ``by`` (source × language × split unless told): n, precision / recall / F1 of
    "shortcoming", and per other label how many of its sentences were called a shortcoming."""
    frame = sentences.assign(predicted=np.asarray(predicted, dtype=bool))
    rows = []
    for keys, group in frame.groupby(list(by), sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        truth = group["label"].eq("shortcoming")
        hits = int((truth & group["predicted"]).sum())
        precision = hits / max(int(group["predicted"].sum()), 1)
        recall = hits / max(int(truth.sum()), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        wrong = group.loc[group["predicted"] & ~truth, "label"].value_counts()
        rows.append(
            {
                **dict(zip(by, keys)),
                "n": len(group),
                "shortcomings": int(truth.sum()),
                "precision": precision,
                "recall": recall,
                "f1": f1,
                **{f"{label}→S": int(wrong.get(label, 0)) for label in CRITICALITY_LABELS[1:]},
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clear", type=Path, default=CLEAR_DEFAULT, help="the clear_gsm8k folder")
    parser.add_argument("--split", choices=("train", "test", "all"), default="all")
    parser.add_argument(
        "--by", choices=("style", "domain"), help="also print the styles source per judge style or per domain"
    )
    args = parser.parse_args()
    sentences, skipped = load_all(args.clear)
    if skipped:
        print(skipped)
    if args.split != "all":
        sentences = sentences[sentences["split"] == args.split].reset_index(drop=True)
    predicted = predict(sentences)
    table = evaluate(sentences, predicted)
    order = {s: i for i, s in enumerate(SOURCES)}
    table = table.sort_values(["source", "language", "split"], key=lambda c: c.map(order) if c.name == "source" else c)
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
    test = table[table["split"] == "test"]
    missed = test[(test["precision"] < MIN_PRECISION) | (test["recall"] < MIN_RECALL)]
    print(f"goal on test (precision ≥ {MIN_PRECISION}, recall ≥ {MIN_RECALL}): ", end="")
    print("met" if missed.empty else "missed by " + ", ".join(f"{r.source}/{r.language}" for r in missed.itertuples()))
    if args.by:
        is_styles = (sentences["source"] == "styles").to_numpy()
        facets = evaluate(with_styles_facets(sentences), predicted[is_styles], by=(args.by,))
        with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
            print(f"styles ({args.split}) by {args.by}:")
            print(facets.sort_values(args.by).to_string(index=False))


if __name__ == "__main__":
    main()
