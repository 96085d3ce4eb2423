"""A judge through LiteLLM: any provider it knows (OpenAI, Anthropic, Bedrock, Vertex, Together, ...).

Optional: ``pip install 'misattribution[litellm]'``; ``litellm`` is imported when the judge is built, and
its absence is a clear ``ImportError`` naming the extra. The model is LiteLLM's
``<provider>/<model>`` name (``"anthropic/claude-3-5-sonnet-latest"``, ``"openai/gpt-4o-mini"``); any
OpenAI-compatible server is ``"openai/<served model>"`` with ``api_base="http://host:8000/v1"``.

Retries, ``Retry-After``, the concurrency limit, counters and secret handling are the ones every remote
judge shares (``judges/_retry.py``); LiteLLM's own retries are switched off so that they do not multiply.
The key is ``api_key``, else the environment variable named by ``api_key_env``, else whatever LiteLLM
reads for the provider (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...); it is never logged or written.
LiteLLM downloads a price table when imported unless ``LITELLM_LOCAL_MODEL_COST_MAP`` is set; the judge
needs no prices, so it sets that variable (if unset) to use the bundled copy.

Example::

    from misattribution.judges.litellm import LiteLLMJudge

    judge = LiteLLMJudge("anthropic/claude-3-5-haiku-latest", concurrency=4)
    judge = LiteLLMJudge("openai/my-judge", api_base="http://127.0.0.1:8000/v1")
    texts = judge.generate([[{"role": "user", "content": "..."}]])

From the CLI: ``--model litellm:anthropic/claude-3-5-haiku-latest``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from misattribution.judges._retry import (
    EndpointStats,
    Failure,
    RetryPolicy,
    Secret,
    api_key_from_env,
    check_remote_options,
    classify_exception,
    retry_call,
)
from misattribution.judges.base import GenerationError, Messages, SamplingParams
from misattribution.redaction import redact_url, register_secret

logger = logging.getLogger(__name__)

BACKEND_NAME = "litellm"


def import_litellm() -> Any:
    """``litellm``, imported without its price-table download, or an ``ImportError`` naming the extra."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as err:
        raise ImportError(f"the LiteLLM judge needs litellm: pip install 'misattribution[litellm]' ({err})") from None
    return litellm


class LiteLLMJudge:
    """A :class:`~misattribution.judges.base.Judge` that calls ``litellm.completion``.

    Args:
        model: LiteLLM's model name, ``<provider>/<model>``; also the judge's ``model_id``.
        sampling: generation settings; ``greedy=True`` sends ``temperature: 0`` and no top_p / top_k.
            ``top_k`` and ``repetition_penalty`` go as extra body fields; pass them as ``None`` in
            ``extra_body`` for a provider that refuses them.
        api_base: the server URL for an OpenAI-compatible (or self-hosted) model.
        api_key: the key; default the variable named by ``api_key_env``, else LiteLLM's own lookup
            for the provider (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...).
        api_key_env: an environment variable to read the key from (default: none, LiteLLM's lookup).
        concurrency, timeout, max_retries, backoff_base, backoff_max, extra_body: as
            :class:`~misattribution.judges.hf_inference.HFInferenceJudge`.

    A given-up item is a :class:`GenerationError` with the same ``kind`` values as the HTTP judge's.
    """

    def __init__(
        self,
        model: str,
        sampling: SamplingParams = SamplingParams(),  # noqa: B008 - frozen dataclass, safe to share
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        extra_body: dict[str, Any] | None = None,
    ):
        if not model:
            raise ValueError("model: give LiteLLM's <provider>/<model> name, e.g. openai/gpt-4o-mini")
        extra_body = check_remote_options(concurrency, timeout, max_retries, extra_body)
        self._litellm = import_litellm()
        self.model_id = model
        self.sampling = sampling
        self.api_base = api_base
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.extra_body = extra_body
        self.stats = EndpointStats()
        self._policy = RetryPolicy(max_retries, self.backoff_base, self.backoff_max)
        key = api_key if api_key is not None else (api_key_from_env(api_key_env, ()) if api_key_env else None)
        self._api_key = Secret(key) if key else None
        if self._api_key is not None:
            register_secret(key)

    def __repr__(self) -> str:
        base = f", api_base={redact_url(self.api_base)!r}" if self.api_base else ""
        return (
            f"{type(self).__name__}(model={self.model_id!r}{base}, concurrency={self.concurrency}, "
            f"timeout={self.timeout}, max_retries={self.max_retries}, api_key={'set' if self._api_key else 'unset'})"
        )

    def settings(self) -> dict[str, Any]:
        """Backend, model, sampling and extra body fields (no URL, no key)."""
        return {
            "backend": BACKEND_NAME,
            "model": self.model_id,
            "sampling": self.sampling.to_dict(),
            "extra_body": json.loads(json.dumps(self.extra_body)),
        }

    def request_arguments(self, messages: Messages) -> dict[str, Any]:
        """The keyword arguments of ``litellm.completion`` for one prompt, without the key."""
        s = self.sampling
        arguments: dict[str, Any] = {"model": self.model_id, "messages": messages, "max_tokens": s.max_new_tokens}
        extra: dict[str, Any] = {}
        if s.greedy:
            arguments["temperature"] = 0.0
        else:
            arguments.update(temperature=s.temperature, top_p=s.top_p)
            extra["top_k"] = s.top_k
        extra["repetition_penalty"] = s.repetition_penalty
        if s.seed is not None:
            arguments["seed"] = s.seed
        extra.update(self.extra_body)
        for name in [name for name in ("temperature", "top_p", "seed", "max_tokens") if name in extra]:
            value = extra.pop(name)
            arguments.pop(name, None)
            if value is not None:
                arguments[name] = value
        extra = {k: v for k, v in extra.items() if v is not None}
        if extra:
            arguments["extra_body"] = extra
        if self.api_base:
            arguments["api_base"] = self.api_base
        # Ours are the only retries: LiteLLM's and the OpenAI SDK's would multiply them.
        arguments.update(timeout=self.timeout, num_retries=0, max_retries=0)
        return arguments

    def generate(self, prompts: Sequence[Messages]) -> list[str | GenerationError]:
        """One text (or a :class:`GenerationError`) per prompt, in order."""
        prompts = list(prompts)
        if not prompts:
            return []
        workers = min(self.concurrency, len(prompts))
        if workers == 1:
            return [self._generate_one(messages) for messages in prompts]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="litellm-judge") as pool:
            return list(pool.map(self._generate_one, prompts))

    def _generate_one(self, messages: Messages) -> str | GenerationError:
        arguments = self.request_arguments(messages)
        where = redact_url(self.api_base) if self.api_base else self.model_id

        def attempt(number: int) -> str | Failure:
            self.stats.add(requests=1)
            key = {"api_key": self._api_key.reveal()} if self._api_key else {}
            try:
                output = self._litellm.completion(**arguments, **key)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a Failure, classified
                return _refine(exc, classify_exception(exc, where), where)
            try:
                content = output.choices[0].message.content
            except (AttributeError, IndexError, KeyError, TypeError):
                return Failure("bad_response", f"no choices[0].message.content from {where}", True)
            if not isinstance(content, str):
                return Failure("bad_response", f"choices[0].message.content is not text from {where}", True)
            return content

        secrets = [self._api_key.reveal()] if self._api_key else []
        return retry_call(attempt, self._policy, stats=self.stats, secrets=secrets, log=logger)


def _refine(exc: Exception, failure: Failure, where: str) -> Failure:
    """The kind LiteLLM hides: it reports a dropped connection and an unreadable 200 as HTTP 500.

    Both are retried either way; this only names them as the HTTP judge does (``connection``,
    ``bad_response``), from the text of LiteLLM's synthetic ``InternalServerError``.
    """
    if failure.kind != "http_5xx" or getattr(exc, "response", None) is None:
        return failure
    text = str(exc)
    if "Connection error" in text:
        return Failure("connection", f"connection error from {where} ({type(exc).__name__})", True)
    if "Received response - <APIResponse [200" in text or "Expecting value" in text:
        return Failure("bad_response", f"unreadable answer from {where}: {text[:300]}", True)
    return failure


def from_spec(spec: str, sampling: SamplingParams | None = None, **kwargs: Any) -> LiteLLMJudge:
    """The judge for ``load_judge("litellm:<model>")``; ``api_base=`` for a self-hosted server."""
    kwargs.pop("model", None)
    return LiteLLMJudge(spec.strip(), sampling or SamplingParams(), **kwargs)
