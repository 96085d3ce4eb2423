"""Shared fixtures: each is built once per session. Append new fixtures below."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 chat model (weights, tokenizer, chat template), saved once for the session."""
    from misattribution.testing.tiny_model import build_tiny_model  # imports transformers: only on use

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))
