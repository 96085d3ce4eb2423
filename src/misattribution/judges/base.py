"""The judge protocol every backend implements, and the pieces backends share.

A *prompt* is a chat conversation: a list of ``{"role": ..., "content": ...}`` messages, exactly what
:func:`misattribution.prompts.build_messages` returns and what the judge was trained on. A backend turns
a batch of prompts into one generated text per prompt, in order.

A backend never drops an item: an item that still fails after the backend's own retries comes back as
a :class:`GenerationError` *in its place*, so the caller can record the error against that row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]
Messages = list[Message]


class GenerationError(Exception):
    """One prompt that could not be answered (after retries). Returned in place of its text."""

    def __init__(self, message: str, *, kind: str = "error", attempts: int = 1):
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts

    def __eq__(self, other: object) -> bool:  # handy in tests
        return isinstance(other, GenerationError) and (str(self), self.kind) == (str(other), other.kind)

    def __hash__(self) -> int:
        return hash((str(self), self.kind))


@dataclass(frozen=True)
class SamplingParams:
    """Generation settings shared by every backend.

    The defaults are the MisAttributionLLM paper's sampling settings. ``greedy=True`` switches to
    deterministic decoding (temperature, top_p and top_k are then ignored).
    """

    temperature: float = 0.8
    top_p: float = 0.8
    top_k: int = 20
    repetition_penalty: float = 1.03
    max_new_tokens: int = 512
    greedy: bool = False
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Judge(Protocol):
    """What the runner, the metric and the CLI need from a backend.

    Attributes:
        model_id: identifies the weights (path, Hub id or served model name); part of the cache key.
    """

    model_id: str

    def settings(self) -> dict[str, Any]:
        """Everything that changes the generated text (sampling, backend), JSON-serialisable."""
        ...

    def generate(self, prompts: Sequence[Messages]) -> list[str | GenerationError]:
        """One text (or a :class:`GenerationError`) per prompt, in order."""
        ...
