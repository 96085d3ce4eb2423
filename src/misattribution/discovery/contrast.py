"""Is an issue a reason answers fail? Its evidence set against the passing rows' feedback.

Discovery clusters the sentences of the *failing* rows that the criticality classifier calls a
shortcoming. When the classifier is wrong in a systematic way (a judge's praise of tool choice phrased
in words it has not seen, "Choosing the converter here is exactly right"), a whole cluster of praise
becomes an "issue" named after its few true shortcomings. Passing rows tell it apart without labels:
their feedback says the same praise about as often, while a real reason for failing is rare among them.

:func:`passing_lift` splits a sample of the passing rows' feedback the same way, keeps the sentences the
classifier calls critical, and sends each to the nearest cluster whose typical member it is as close to
as the cluster's own members are (the cluster's radius). An issue's **lift** is the share of sampled
passing rows that reach it over the share of failing rows in it. An issue at least as common among
passing rows as among failing ones (lift >= :data:`MAX_LIFT`, from at least :data:`MIN_PASSING_ROWS`
passing rows) is not a reason answers fail: discovery does not report it (``meta["contrast"]`` lists
what was dropped and why). The cut-off is the point of no enrichment, chosen a priori, not fitted.

Inputs without passing rows (every row failing, or no scores) are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: An issue at least this many times as common among passing rows as among failing rows is dropped.
MAX_LIFT = 1.0
#: ... when at least this many sampled passing rows reach it (fewer is noise).
MIN_PASSING_ROWS = 3
#: Passing rows sampled (seeded) to stand for all of them.
MAX_PASSING_ROWS = 1_000
#: A cluster's radius: this quantile of its members' cosine distances to their centroid.
RADIUS_QUANTILE = 0.9


@dataclass
class Contrast:
    """What :func:`passing_lift` found: per cluster label, its failing and passing rows and its lift."""

    n_failing: int
    n_passing: int
    failing_rows: dict[int, int] = field(default_factory=dict)
    passing_rows: dict[int, int] = field(default_factory=dict)

    def lift(self, label: int) -> float:
        failing = self.failing_rows.get(label, 0) / max(self.n_failing, 1)
        passing = self.passing_rows.get(label, 0) / max(self.n_passing, 1)
        return passing / failing if failing else float("inf") if passing else 0.0

    def dropped(self, *, max_lift: float = MAX_LIFT, min_passing_rows: int = MIN_PASSING_ROWS) -> list[int]:
        """The labels whose evidence is at least as common among passing rows as among failing ones."""
        return sorted(
            label
            for label in self.failing_rows
            if self.passing_rows.get(label, 0) >= min_passing_rows and self.lift(label) >= max_lift
        )

    def as_meta(self, dropped: list[int], names: dict[int, str] | None = None) -> dict[str, Any]:
        names = names or {}
        return {
            "n_passing_sampled": self.n_passing,
            "max_lift": MAX_LIFT,
            "lift": {int(label): round(self.lift(label), 3) for label in sorted(self.failing_rows)},
            "dropped": [
                {
                    "cluster": int(label),
                    "name": names.get(label),
                    "failing_rows": int(self.failing_rows.get(label, 0)),
                    "passing_rows": int(self.passing_rows.get(label, 0)),
                    "lift": round(self.lift(label), 3),
                }
                for label in dropped
            ],
        }


def passing_rows(rows: pd.DataFrame, *, max_rows: int = MAX_PASSING_ROWS, seed: int = 0) -> np.ndarray:
    """Positions of a seeded sample of the rows that pass: a score, not failing, some feedback."""
    if "failing" not in rows.columns or "feedback" not in rows.columns:
        return np.zeros(0, dtype=np.int64)
    scored = rows["score"].notna().to_numpy() if "score" in rows.columns else np.ones(len(rows), dtype=bool)
    has_text = rows["feedback"].map(lambda v: isinstance(v, str) and bool(v.strip())).to_numpy(dtype=bool)
    passing = np.flatnonzero(~rows["failing"].to_numpy(dtype=bool) & scored & has_text)
    if len(passing) > max_rows:
        passing = np.sort(np.random.default_rng(seed).choice(passing, size=max_rows, replace=False))
    return passing


def cluster_geometry(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit centroids of clusters ``0..max`` and each one's radius (a quantile of member distances)."""
    k = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    cents = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    radii = np.zeros(k)
    for c in range(k):
        members = vectors[labels == c].astype(np.float64)
        if not len(members):
            continue
        centre = members.mean(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        cents[c] = centre
        radii[c] = float(np.quantile(1.0 - members @ centre, RADIUS_QUANTILE))
    return cents, radii


def nearest_within(vectors: np.ndarray, cents: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Each vector's nearest centroid when within that cluster's radius, else ``-1``.

    >>> cents = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> nearest_within(np.array([[0.99, 0.14], [0.7, 0.7], [0.0, 1.0]]), cents, np.array([0.05, 0.05])).tolist()
    [0, -1, 1]
    """
    if not len(vectors) or not len(cents):
        return np.full(len(vectors), -1, dtype=np.int64)
    similarity = np.asarray(vectors, dtype=np.float64) @ cents.T
    best = similarity.argmax(axis=1)
    distance = 1.0 - similarity[np.arange(len(vectors)), best]
    return np.where(distance <= radii[best], best, -1).astype(np.int64)


def passing_lift(
    rows: pd.DataFrame,
    occurrence_rows: np.ndarray,
    occurrence_labels: np.ndarray,
    cluster_vectors: np.ndarray,
    cluster_labels: np.ndarray,
    *,
    split: Any,
    embed_texts: Any,
    lexical: Any,
    semantic: Any,
    max_semantic: float,
    threshold: float,
    seed: int = 0,
) -> Contrast | None:
    """The lift of every cluster (see the module docstring), or ``None`` without passing rows.

    ``occurrence_rows`` / ``occurrence_labels``: each failing-row sentence occurrence's row position and
    cluster (``-1``: none); ``cluster_vectors`` / ``cluster_labels``: the clustered distinct sentences'
    vectors and labels. ``split(rows)`` splits the feedback of ``rows["failing"]`` rows as discovery
    does (its sentence occurrences, with ``unique``, ``text``, ``inverse`` and ``row``), ``embed_texts(texts)``
    embeds distinct masked sentences; an occurrence's criticality log-odds is ``lexical(sentences)`` (one
    value per occurrence) plus ``semantic(texts, vectors)`` (one per distinct sentence), called critical
    above ``threshold``. ``max_semantic`` bounds the semantic part (for unit vectors, the weights' norm
    plus the bias): a sentence whose lexical part leaves it under the threshold even then is not embedded
    (most of the passing rows' praise).
    """
    positions = passing_rows(rows, seed=seed)
    failing = int(rows["failing"].sum()) if "failing" in rows.columns else 0
    if not len(positions) or not failing or cluster_labels.max() < 0:
        return None
    contrast = Contrast(n_failing=failing, n_passing=len(positions))
    labelled = occurrence_labels >= 0
    pairs = pd.DataFrame({"row": occurrence_rows[labelled], "label": occurrence_labels[labelled]}).drop_duplicates()
    contrast.failing_rows = {int(k): int(v) for k, v in pairs.groupby("label").size().items()}
    flags = np.zeros(len(rows), dtype=bool)
    flags[positions] = True
    sentences = split(rows.assign(failing=flags))
    if not len(sentences.unique):
        return contrast
    lexical_part = np.asarray(lexical(sentences), dtype=np.float64)
    possible = lexical_part + max_semantic > threshold  # per occurrence: may it be critical at all?
    candidates = np.unique(sentences.inverse[possible])
    semantic_part = np.full(len(sentences.unique), -np.inf)
    nearest = np.full(len(sentences.unique), -1, dtype=np.int64)
    if len(candidates):
        texts = [sentences.unique[i] for i in candidates]
        vectors = embed_texts(texts)
        semantic_part[candidates] = semantic(texts, vectors)
        cents, radii = cluster_geometry(np.asarray(cluster_vectors), np.asarray(cluster_labels))
        nearest[candidates] = nearest_within(vectors, cents, radii)
    critical = semantic_part[sentences.inverse] + lexical_part > threshold  # per occurrence, as for failing rows
    reached = np.where(critical, nearest[sentences.inverse], -1)
    hits = pd.DataFrame({"row": sentences.row[reached >= 0], "label": reached[reached >= 0]}).drop_duplicates()
    contrast.passing_rows = {int(k): int(v) for k, v in hits.groupby("label").size().items()}
    return contrast
