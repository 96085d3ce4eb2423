"""Sentences clustered by meaning and wording: :class:`~misattribution.discovery.embed.SentenceSpace`."""

from __future__ import annotations

import numpy as np
import pytest

from misattribution.discovery import cluster as clustering
from misattribution.discovery.embed import (
    LEXICAL_WEIGHT,
    CharacterSpace,
    LexicalSpace,
    SentenceSpace,
    load_encoder,
    sentence_space,
)
from misattribution.discovery.pipeline import ClusterSettings, settings_for

ENGLISH = [
    "The call passes the distance in kilometres where the tool expects metres.",
    "Metres were expected but kilometres were passed to the converter.",
    "The report cites no source for the growth figure.",
    "No citation backs the figure in the second paragraph.",
]
CHINESE = ["文中有错别字。", "文中有多处错别字。", "回答无理拒答。"]


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_lexical_space_puts_shared_wording_together() -> None:
    space = LexicalSpace(ENGLISH, width=3)
    v = space.transform(ENGLISH)
    assert v.shape == (4, 3) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] and v[2] @ v[3] > v[2] @ v[1]
    with pytest.raises(ValueError, match="at least one sentence"):
        LexicalSpace([])


def test_sentence_space_mixes_the_two_cosines_by_the_weight() -> None:
    rng = np.random.default_rng(0)
    encoder = _unit(rng.normal(size=(len(ENGLISH), 16)).astype(np.float32))
    space = SentenceSpace(ENGLISH, 16, lexical_weight=0.3, lexical_width=3)
    placed = space.apply(ENGLISH, encoder)
    assert placed.shape == (4, 16 + 3) == (4, space.output_width)
    wording = space.lexical.transform(ENGLISH)
    expected = 0.7 * (encoder @ encoder.T) + 0.3 * (wording @ wording.T)
    np.testing.assert_allclose(placed @ placed.T, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(placed, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(space.encoder_part(placed), encoder, atol=1e-5)


def test_chinese_sentences_take_their_characters_and_no_wording_part() -> None:
    texts = ENGLISH + CHINESE
    rng = np.random.default_rng(1)
    encoder = _unit(rng.normal(size=(len(texts), 8)).astype(np.float32))
    space = SentenceSpace(texts, 8, lexical_weight=0.5, lexical_width=3)
    placed = space.apply(texts, encoder)
    characters = CharacterSpace(CHINESE, 8).transform(CHINESE)
    np.testing.assert_allclose(placed[4:, :8], characters, atol=1e-5)
    assert not placed[4:, 8:].any()  # Chinese sentences have no wording part
    # without characters the Chinese sentences keep the encoder's vectors
    plain = SentenceSpace(texts, 8, lexical_weight=0.5, lexical_width=3, characters=False).apply(texts, encoder)
    np.testing.assert_allclose(plain[4:, :8], encoder[4:], atol=1e-6)


def test_sentence_space_is_none_when_it_changes_nothing() -> None:
    assert sentence_space(ENGLISH, 8, lexical_weight=0.0) is None
    assert sentence_space(CHINESE, 8, characters=False) is None
    only_chinese = sentence_space(ENGLISH + CHINESE, 8)
    assert only_chinese is not None and only_chinese.lexical is None and only_chinese.output_width == 8
    with pytest.raises(ValueError, match="lexical_weight"):
        SentenceSpace(ENGLISH, 8, lexical_weight=1.0)
    with pytest.raises(ValueError, match="lexical_weight"):
        ClusterSettings(lexical_weight=-0.1).check()


def test_the_weight_and_the_cut_follow_the_embedder(with_static) -> None:  # noqa: ANN001 - conftest fixture
    minilm = settings_for(load_encoder(), ClusterSettings())
    assert minilm.lexical_weight == LEXICAL_WEIGHT and minilm.linkage_distance == clustering.LEXICAL_LINKAGE_DISTANCE
    static = settings_for(load_encoder("static"), ClusterSettings())
    assert static.lexical_weight == 0 and static.linkage_distance == clustering.STATIC_LINKAGE_DISTANCE
    off = settings_for(load_encoder(), ClusterSettings(lexical_weight=0.0))
    assert off.linkage_distance == clustering.LINKAGE_DISTANCE
    mine = settings_for(load_encoder(), ClusterSettings(linkage_distance=0.7))
    assert mine.linkage_distance == 0.7 and mine.lexical_weight == LEXICAL_WEIGHT  # the user's cut is kept
    for fast in (True, False):  # KMeans, BERTopic
        assert settings_for(load_encoder(), ClusterSettings(fast=fast)).lexical_weight == 0
    many = clustering.LEXICAL_MAX_SENTENCES + 1
    few = settings_for(load_encoder(), ClusterSettings(), n_sentences=clustering.LEXICAL_MAX_SENTENCES)
    assert few.lexical_weight == LEXICAL_WEIGHT
    large = settings_for(load_encoder(), ClusterSettings(), n_sentences=many)
    assert large.lexical_weight == 0 and large.linkage_distance == clustering.LINKAGE_DISTANCE
    asked = settings_for(load_encoder(), ClusterSettings(lexical_weight=0.3), n_sentences=many)
    assert asked.lexical_weight == 0.3  # the user's weight is kept whatever the size


@pytest.mark.slow
def test_the_wording_lifts_recovery_on_a_dev_pool() -> None:
    """Agents dev phrasings, 300 rows, seeds 1 and 2: mean F1 0.586 with the wording, 0.546 without (0.592 / 0.535
    and 0.579 / 0.557, measured 2026-12-07; 600 rows seed 0: 0.701 / 0.636). Seed 0 at 300 rows went from
    0.606 / 0.557 to 0.606 / 0.620 when a criticality rule changed its sentences: one small pool can flip, so
    two are averaged. Seeded, so the margin does not depend on the load."""
    from misattribution.discovery import discover
    from misattribution.testing.planted import generate, recovery

    scores: dict[float | None, list[float]] = {None: [], 0.0: []}
    for seed in (1, 2):
        data = generate("agents", 300, seed=seed, split="dev")
        for weight in scores:
            report = discover(
                data.frame,
                score_range=data.score_range,
                seed=seed,
                progress=False,
                mode_options={"clusters": {"lexical_weight": weight}},
            )
            scores[weight].append(recovery(report, data).mean_f1)
            assert report.meta["lexical_weight"] == (LEXICAL_WEIGHT if weight is None else 0.0)
    assert np.mean(scores[None]) >= np.mean(scores[0.0]) + 0.02, scores
