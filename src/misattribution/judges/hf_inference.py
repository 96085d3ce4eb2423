"""A judge on ``huggingface_hub.InferenceClient``: Inference Providers, Inference Endpoints, any TGI server.

Three ways to point it at a model:

* **Inference Providers** (serverless): a Hub model id, routed by Hugging Face to a provider
  (``provider="auto"`` picks the first one available for the model, or name one: ``"together"``,
  ``"hf-inference"``, ...). Billed to the ``HF_TOKEN``'s account (or ``bill_to=`` an organisation).
* **Inference Endpoints**: ``base_url="https://xyz.endpoints.huggingface.cloud/v1/"`` with the token of
  an account that may call it.
* **Any TGI or OpenAI-compatible server**: ``base_url="http://127.0.0.1:8080/v1"``.

Retries, ``Retry-After``, the concurrency limit, counters and secret handling are the ones of
:class:`~misattribution.judges.openai_http.OpenAIHTTPJudge` (shared in ``judges/_retry.py``); requests run
on ``concurrency`` threads. The token comes from ``api_key``, the environment (``HF_TOKEN``) or the token
saved by ``hf auth login``; it is sent as ``Authorization: Bearer`` and never logged, shown or written.

Example::

    from misattribution.judges.hf_inference import HFInferenceJudge

    judge = HFInferenceJudge("Qwen/Qwen2.5-7B-Instruct", provider="auto")           # Inference Providers
    judge = HFInferenceJudge("tgi", base_url="https://xyz.endpoints.huggingface.cloud/v1/")  # an Endpoint
    texts = judge.generate([[{"role": "user", "content": "..."}]])

From the CLI, ``--model hf:Qwen/Qwen2.5-7B-Instruct`` or ``--model hf:https://host/v1`` (see
:func:`misattribution.judges.load_judge`).

Notes: with ``HF_HUB_OFFLINE=1`` ``InferenceClient`` refuses every request, even to a local
``base_url`` (each item then fails at once with kind ``offline``). ``huggingface_hub`` may fetch a small
registry from the Hub once a day to build its user agent; the tests preset it and never leave 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
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
from misattribution.redaction import redact, redact_url, register_secret

logger = logging.getLogger(__name__)

BACKEND_NAME = "hf_inference"
TOKEN_FALLBACK_ENVS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


class HFInferenceJudge:
    """A :class:`~misattribution.judges.base.Judge` that calls ``InferenceClient.chat_completion``.

    Args:
        model: the Hub model id (Inference Providers), or the model name sent to ``base_url`` (a TGI
            server ignores it; a vLLM server needs its served name). Also the judge's ``model_id``.
        sampling: generation settings; ``greedy=True`` sends ``temperature: 0`` and no top_p / top_k.
            ``top_k`` and ``repetition_penalty`` go as extra body fields (TGI and vLLM read them); pass
            them as ``None`` in ``extra_body`` to drop them for a provider that refuses them.
        base_url: an Inference Endpoint or any TGI / OpenAI-compatible server (``.../v1``); then
            ``provider`` is not used. A query string is refused (it would be logged); credentials in
            it are refused too (use ``api_key``).
        provider: the Inference Provider (``"auto"``, ``"hf-inference"``, ``"together"``, ...), for a
            Hub model id only. Default: ``huggingface_hub``'s (``"auto"``).
        api_key: the token, sent as ``Authorization: Bearer``. Default: the environment variable named
            by ``api_key_env``, then ``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN``, then the token saved by
            ``hf auth login``.
        api_key_env: the first environment variable to read the token from.
        bill_to: an organisation to bill Inference Providers calls to.
        concurrency: the most requests in flight at once (threads per :meth:`generate` call).
        timeout: seconds ``InferenceClient`` waits for the server (connect, and each read).
        max_retries, backoff_base, backoff_max: as :class:`~misattribution.judges.openai_http.OpenAIHTTPJudge`.
        extra_body: merged into every request body last (a ``None`` value removes that field).

    Retried: HTTP 429 (waiting at least its ``Retry-After``), 408, 5xx (503's ``Retry-After``
    honoured), timeouts, connection errors and bodies that are not a chat completion. Not retried:
    other 4xx. A given-up item is a :class:`GenerationError` with the same ``kind`` values as the HTTP
    judge's, plus ``offline`` (``HF_HUB_OFFLINE`` is set: not retried). ``timeout`` bounds each phase,
    not the whole request: a server that keeps trickling bytes is not cut off (the HTTP judge's is).
    """

    def __init__(
        self,
        model: str,
        sampling: SamplingParams = SamplingParams(),  # noqa: B008 - frozen dataclass, safe to share
        *,
        base_url: str | None = None,
        provider: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "HF_TOKEN",
        bill_to: str | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        extra_body: dict[str, Any] | None = None,
    ):
        if not model:
            raise ValueError("model: give the Hub model id, or the model name the server at base_url expects")
        extra_body = check_remote_options(concurrency, timeout, max_retries, extra_body)
        if base_url is not None:
            base_url = _check_base_url(base_url)
        self.model_id = model
        self.sampling = sampling
        self.base_url = base_url
        self.provider = provider if base_url is None else None
        self.bill_to = bill_to
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.extra_body = extra_body
        self.stats = EndpointStats()
        self._policy = RetryPolicy(max_retries, self.backoff_base, self.backoff_max)
        token = api_key if api_key is not None else _token_from_env_or_login(api_key_env)
        self._api_key = Secret(token) if token else None
        if self._api_key is not None:
            # A log handler with misattribution.redaction's filter masks it from now on.
            register_secret(token)
        else:
            # Without a token of ours, huggingface_hub sends the saved login's (if any): mask that one too.
            register_secret(_token_from_env_or_login(api_key_env))

    def __repr__(self) -> str:
        where = f"base_url={self.base_url!r}" if self.base_url else f"provider={self.provider or 'auto'!r}"
        return (
            f"{type(self).__name__}(model={self.model_id!r}, {where}, concurrency={self.concurrency}, "
            f"timeout={self.timeout}, max_retries={self.max_retries}, "
            f"api_key={'set' if self._api_key else 'unset'})"
        )

    def settings(self) -> dict[str, Any]:
        """What changes the generated text: backend, model, provider, sampling and extra body fields.

        The URL is left out (as in the HTTP judge: the same model answers the same from any host); the
        provider is kept, since two providers may serve the same model id differently. No token.
        """
        return {
            "backend": BACKEND_NAME,
            "model": self.model_id,
            "provider": self.provider,
            "sampling": self.sampling.to_dict(),
            "extra_body": json.loads(json.dumps(self.extra_body)),
        }

    def request_arguments(self, messages: Messages) -> dict[str, Any]:
        """The keyword arguments of ``InferenceClient.chat_completion`` for one prompt."""
        s = self.sampling
        arguments: dict[str, Any] = {"messages": messages, "model": self.model_id, "max_tokens": s.max_new_tokens}
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
            # chat_completion has its own argument for these: an extra_body value replaces it.
            value = extra.pop(name)
            arguments.pop(name, None)
            if value is not None:
                arguments[name] = value
        extra = {k: v for k, v in extra.items() if v is not None}
        if extra:
            arguments["extra_body"] = extra
        return arguments

    def generate(self, prompts: Sequence[Messages]) -> list[str | GenerationError]:
        """One text (or a :class:`GenerationError`) per prompt, in order."""
        prompts = list(prompts)
        if not prompts:
            return []
        client = self._client()
        workers = min(self.concurrency, len(prompts))
        if workers == 1:
            return [self._generate_one(client, messages) for messages in prompts]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hf-inference-judge") as pool:
            return list(pool.map(lambda messages: self._generate_one(client, messages), prompts))

    def _client(self) -> Any:
        # Built per generate() call and never stored, so the token sits in no attribute of the judge.
        from huggingface_hub import InferenceClient

        options: dict[str, Any] = {"timeout": self.timeout}
        if self._api_key is not None:
            options["api_key"] = self._api_key.reveal()
        if self.bill_to:
            options["bill_to"] = self.bill_to
        if self.base_url is not None:
            return InferenceClient(base_url=self.base_url, **options)
        if self.provider:
            options["provider"] = self.provider
        return InferenceClient(**options)

    def _generate_one(self, client: Any, messages: Messages) -> str | GenerationError:
        arguments = self.request_arguments(messages)

        def attempt(number: int) -> str | Failure:
            self.stats.add(requests=1)
            try:
                output = client.chat_completion(**arguments)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a Failure, classified
                return classify_exception(exc, self._where())
            return _text_of(output, self._where())

        return retry_call(attempt, self._policy, stats=self.stats, secrets=self._secrets(), log=logger)

    def _where(self) -> str:
        return self.base_url or f"{self.model_id} via {self.provider or 'auto'} provider"

    def _secrets(self) -> list[str]:
        return [self._api_key.reveal()] if self._api_key else []


def _text_of(output: Any, where: str) -> str | Failure:
    try:
        content = output.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        return Failure("bad_response", f"no choices[0].message.content from {where}", True)
    if not isinstance(content, str):
        return Failure("bad_response", f"choices[0].message.content is not text from {where}", True)
    return content


def _check_base_url(base_url: str) -> str:
    """``base_url`` stripped, or a ``ValueError``: an http(s) URL with a host, no query, no credentials."""
    from urllib.parse import urlsplit

    base_url = str(base_url).strip()
    shown = redact_url(base_url)
    try:
        parts = urlsplit(base_url)
    except ValueError:
        raise ValueError(f"base_url is not a valid http(s) URL: {shown}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {redact(shown)}")
    if parts.query:
        raise ValueError(f"base_url must not have a query string; pass the token with api_key (got {redact(shown)})")
    if parts.username or parts.password:
        raise ValueError(f"base_url must not hold credentials; pass the token with api_key (got {shown})")
    return base_url


def _token_from_env_or_login(first_env: str) -> str | None:
    token = api_key_from_env(first_env, TOKEN_FALLBACK_ENVS)
    if token:
        return token
    try:
        from huggingface_hub import get_token
    except ImportError:  # very old huggingface_hub
        return None
    return get_token() or None


def from_spec(spec: str, sampling: SamplingParams | None = None, **kwargs: Any) -> HFInferenceJudge:
    """The judge for ``load_judge("hf:<spec>")``.

    ``spec`` is a Hub model id for Inference Providers, optionally with the provider after a colon as
    on the Hugging Face router (``Qwen/Qwen2.5-7B-Instruct:together``), or the base URL of an Inference
    Endpoint / TGI / OpenAI-compatible server (``https://xyz.endpoints.huggingface.cloud/v1``). For a
    URL without ``model=``, the server is asked at ``/v1/models`` (with the same token).

    >>> judge = from_spec("Qwen/Qwen2.5-7B-Instruct:together", api_key="")
    >>> judge.model_id, judge.provider, judge.settings()["backend"]
    ('Qwen/Qwen2.5-7B-Instruct', 'together', 'hf_inference')
    """
    sampling = sampling or SamplingParams()
    served = kwargs.pop("model", None)
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        base_url = _check_base_url(spec)
        if not served:
            from misattribution.judges.openai_http import served_model

            token = kwargs.get("api_key")
            if token is None:
                token = _token_from_env_or_login(kwargs.get("api_key_env", "HF_TOKEN")) or ""
            served = served_model(base_url, api_key=token, timeout=min(float(kwargs.get("timeout", 10.0)), 30.0))
        return HFInferenceJudge(served, sampling, base_url=base_url, **kwargs)
    model, _, provider = spec.partition(":")
    if not model:
        raise ValueError("hf: give a Hub model id (hf:org/model, hf:org/model:provider) or a base URL (hf:https://...)")
    if served and served != model:
        raise ValueError(f"hf:{spec}: the model is the Hub id {model!r}; a served model name is for a base URL only")
    if provider:
        if kwargs.get("provider") not in (None, provider):
            raise ValueError(f"hf:{spec}: provider {provider!r} in the spec and {kwargs['provider']!r} given")
        kwargs["provider"] = provider
    return HFInferenceJudge(model, sampling, **kwargs)
