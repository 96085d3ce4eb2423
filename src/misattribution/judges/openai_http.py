"""A judge served over HTTP by any OpenAI-compatible ``/v1/chat/completions`` endpoint.

Works with a vLLM server (``vllm serve ...``), Text Generation Inference, Hugging Face Inference
Endpoints and any other host that speaks the OpenAI chat format. Requests run concurrently (asyncio +
httpx) behind a plain synchronous :meth:`OpenAIHTTPJudge.generate`, are spread round-robin over one or
more base URLs, and are retried with exponential backoff on the failures that a busy or flaky server
produces. An item that still fails comes back as a :class:`GenerationError` in its place.

Example::

    from misattribution.judges.openai_http import OpenAIHTTPJudge

    judge = OpenAIHTTPJudge("http://localhost:8000", model="my-org/misattribution-judge", concurrency=32)
    texts = judge.generate([[{"role": "user", "content": "..."}]])
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

# Re-exported: the shared retry pieces kept their names here (tests and callers import them from here).
from misattribution.judges._retry import (  # noqa: F401
    API_KEY_FALLBACK_ENVS,
    EndpointStats,
    RetryPolicy,
    check_remote_options,
    classify_status,
    retry_call_async,
)
from misattribution.judges._retry import Failure as _Failure
from misattribution.judges._retry import Secret as _Secret
from misattribution.judges._retry import api_key_from_env as _api_key_from_env
from misattribution.judges._retry import parse_retry_after as _parse_retry_after  # noqa: F401
from misattribution.judges.base import GenerationError, Messages, SamplingParams
from misattribution.redaction import redact, redact_url, register_secret

logger = logging.getLogger(__name__)

BACKEND_NAME = "openai_http"
_USER_AGENT = "misattribution-openai-http"
_BODY_SNIPPET_CHARS = 300


@dataclass(frozen=True)
class _Endpoint:
    """One chat-completions URL, with credentials taken out of it so that it can be logged."""

    url: str  # full .../v1/chat/completions, no userinfo
    auth: httpx.BasicAuth | None = field(default=None, repr=False)


class OpenAIHTTPJudge:
    """A :class:`~misattribution.judges.base.Judge` backed by OpenAI-compatible HTTP endpoints.

    Args:
        base_url: one server URL or several; items go round-robin over them, and a retry goes to the
            URL after the one that failed. ``http://host:8000``, ``http://host:8000/`` and
            ``http://host:8000/v1`` are all accepted; a query string is not (it would be logged).
            Credentials in the URL (``https://user:pass@host``) are sent as HTTP Basic auth to that
            URL instead of the bearer key, and never logged.
        model: the served model name, sent as ``"model"``; also the judge's ``model_id``.
        sampling: generation settings. ``greedy=True`` sends ``temperature: 0`` and no top_p / top_k.
            ``top_k`` and ``repetition_penalty`` go as extra body fields that vLLM and TGI accept; to
            drop one for a strict server, pass it as ``None`` in ``extra_body``.
        api_key: sent as ``Authorization: Bearer``. Default: the environment variable named by
            ``api_key_env``, then ``OPENAI_API_KEY``, then ``HF_TOKEN``; no header if none is set.
        api_key_env: the first environment variable to read the key from.
        concurrency: the most requests in flight at once (per :meth:`generate` call).
        timeout: seconds allowed for one request, start to end.
        max_retries: retries per item after the first attempt (so ``max_retries + 1`` attempts).
        backoff_base: seconds before the first retry; doubles each retry, with random jitter.
        backoff_max: cap on any wait, ``Retry-After`` included.
        extra_body: merged into every request body last (a ``None`` value removes that field).

    Retried: HTTP 429, 408 and 5xx, timeouts, connection errors (refused, dropped) and responses that
    are not valid chat-completion JSON. Not retried: any other 4xx. The error ``kind`` of an item given
    up on is one of ``timeout`` (also HTTP 408), ``connection``, ``http_429``, ``http_5xx``,
    ``http_4xx``, ``bad_response`` or ``http_error`` (an unexpected status such as a redirect).

    ``stats`` counts requests, retries, failures and successes over the judge's life.
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        sampling: SamplingParams = SamplingParams(),  # noqa: B008 - frozen dataclass, safe to share
        *,
        api_key: str | None = None,
        api_key_env: str = "MISATTRIBUTION_API_KEY",
        concurrency: int = 16,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        extra_body: dict[str, Any] | None = None,
    ):
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("base_url: give at least one URL")
        extra_body = check_remote_options(concurrency, timeout, max_retries, extra_body)

        self.model_id = model
        self.sampling = sampling
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.extra_body = extra_body
        self.stats = EndpointStats()
        self._endpoints = [_endpoint_from_base_url(url) for url in urls]
        self._next_endpoint = 0
        self._endpoint_lock = threading.Lock()
        self._rng = random.Random()
        self._ssl: ssl.SSLContext | None = None
        key = api_key if api_key is not None else _api_key_from_env(api_key_env)
        self._api_key = _Secret(key) if key else None
        # Texts that must never leave this object: the key, and passwords embedded in the URLs.
        self._secrets = [self._api_key] if self._api_key else []
        # URLs are shown without their userinfo anyway; this catches a server echoing a password back.
        # Very short passwords are skipped, as replacing them would garble every message.
        self._secrets += [_Secret(pw) for pw in map(_userinfo_password, urls) if len(pw) >= 4]
        # Registered, so that a log handler with misattribution.redaction's filter masks them too.
        for secret in self._secrets:
            register_secret(secret.reveal())

    @property
    def base_urls(self) -> list[str]:
        """The chat-completions URLs requests go to, without any credentials."""
        return [e.url for e in self._endpoints]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model_id!r}, base_urls={self.base_urls!r}, "
            f"concurrency={self.concurrency}, timeout={self.timeout}, max_retries={self.max_retries}, "
            f"api_key={'set' if self._api_key else 'unset'})"
        )

    def settings(self) -> dict[str, Any]:
        """What changes the generated text: backend, model, sampling and extra body fields.

        URLs are left out on purpose: the same model answers the same way from any host, so moving
        servers must not invalidate a cache keyed on these settings. The key is never included.
        """
        return {
            "backend": BACKEND_NAME,
            "model": self.model_id,
            "sampling": self.sampling.to_dict(),
            "extra_body": json.loads(json.dumps(self.extra_body)),
        }

    def request_body(self, messages: Messages) -> dict[str, Any]:
        """The JSON body sent for one prompt (public so that callers can inspect or log it)."""
        s = self.sampling
        body: dict[str, Any] = {"model": self.model_id, "messages": messages, "max_tokens": s.max_new_tokens}
        if s.greedy:
            body["temperature"] = 0.0
        else:
            body.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
        body["repetition_penalty"] = s.repetition_penalty
        if s.seed is not None:
            body["seed"] = s.seed
        body.update(self.extra_body)
        return {k: v for k, v in body.items() if v is not None}

    def generate(self, prompts: Sequence[Messages]) -> list[str | GenerationError]:
        """One text (or a :class:`GenerationError`) per prompt, in order.

        Synchronous, usable from a plain script. When the calling thread already runs an event loop
        (Jupyter, an async web app), the requests run on a fresh loop in a worker thread while this
        call blocks; from async code prefer ``await judge.agenerate(prompts)``.
        """
        prompts = list(prompts)
        if not prompts:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(prompts))
        # asyncio.run refuses to nest inside a running loop, so give ours a thread of its own.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="openai-http-judge") as pool:
            return pool.submit(lambda: asyncio.run(self.agenerate(prompts))).result()

    async def agenerate(self, prompts: Sequence[Messages]) -> list[str | GenerationError]:
        """The asynchronous form of :meth:`generate`, for callers already inside an event loop."""
        prompts = list(prompts)
        if not prompts:
            return []
        # One client per concurrency slot, each pooling one keep-alive connection per endpoint. Taking
        # a client from the queue is what limits requests in flight. Small pools also matter for speed:
        # httpcore scans every pooled connection on each request, which at 32 connections in one pool
        # cost more client CPU than the rest of the request together.
        limits = httpx.Limits(max_connections=len(self._endpoints), max_keepalive_connections=len(self._endpoints))
        ssl_context = self._ssl_context()
        headers = {"User-Agent": _USER_AGENT}
        if self._api_key is not None:
            # An endpoint with credentials in its URL overrides this with Basic auth (see _attempt).
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        slots: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        clients = [
            httpx.AsyncClient(headers=headers, limits=limits, timeout=self.timeout, verify=ssl_context)
            for _ in range(min(self.concurrency, len(prompts)))
        ]
        for client in clients:
            slots.put_nowait(client)
        try:
            return list(await asyncio.gather(*(self._generate_one(slots, messages) for messages in prompts)))
        finally:
            await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)

    async def _generate_one(self, slots: asyncio.Queue[httpx.AsyncClient], messages: Messages) -> str | GenerationError:
        body = self.request_body(messages)
        first = self._next_endpoint_index()

        async def attempt(number: int) -> str | _Failure:
            # A retry goes to the next URL: the one that just failed may be the one that is down.
            endpoint = self._endpoints[(first + number - 1) % len(self._endpoints)]
            # Only the request itself holds a slot: an item sleeping before its retry must not keep
            # others from being sent.
            client = await slots.get()
            try:
                self.stats.add(requests=1)
                return await self._attempt(client, endpoint, body)
            finally:
                slots.put_nowait(client)

        return await retry_call_async(
            attempt, self._policy(), stats=self.stats, secrets=[s.reveal() for s in self._secrets], log=logger
        )

    def _policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_retries, self.backoff_base, self.backoff_max, self._rng)

    def _ssl_context(self) -> ssl.SSLContext:
        # Building a context loads the CA bundle (~40 ms); one shared context keeps clients cheap.
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    def _next_endpoint_index(self) -> int:
        with self._endpoint_lock:
            self._next_endpoint += 1
            return self._next_endpoint - 1

    async def _attempt(self, client: httpx.AsyncClient, endpoint: _Endpoint, body: dict) -> str | _Failure:
        auth = endpoint.auth if endpoint.auth is not None else httpx.USE_CLIENT_DEFAULT
        try:
            # httpx's own timeout is per phase (connect, each read); this one bounds the whole request,
            # so a server that trickles bytes cannot hold an item forever.
            async with _deadline(self.timeout):
                response = await client.post(endpoint.url, json=body, auth=auth)
        # asyncio.TimeoutError is only an alias of TimeoutError from Python 3.11; setup.py allows 3.10.
        except (asyncio.TimeoutError, httpx.TimeoutException):
            return _Failure("timeout", f"no response from {endpoint.url} within {self.timeout:g} s", True)
        except httpx.TransportError as exc:  # refused, reset, dropped mid-response
            detail = str(exc) or type(exc).__name__
            return _Failure("connection", f"{type(exc).__name__} from {endpoint.url}: {detail}", True)
        except httpx.DecodingError as exc:  # a body that does not match its Content-Encoding
            return _Failure("bad_response", f"undecodable body from {endpoint.url}: {exc}", True)
        except httpx.RequestError as exc:  # e.g. a redirect loop: retrying will not help
            return _Failure("http_error", f"{type(exc).__name__} from {endpoint.url}: {exc}", False)
        return _interpret_response(response, endpoint.url)

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        return self._policy().delay(attempt, retry_after)

    def _redact(self, text: str) -> str:
        return redact(text, [secret.reveal() for secret in self._secrets])


@asynccontextmanager
async def _deadline(seconds: float) -> AsyncIterator[None]:
    """Raise TimeoutError when the body takes longer than ``seconds``."""
    if sys.version_info >= (3, 11):
        # asyncio.timeout cancels the current task in place; wait_for would wrap every request in a
        # task of its own, a measurable cost at a few hundred requests per second.
        async with asyncio.timeout(seconds):
            yield
        return
    task = asyncio.current_task()
    assert task is not None
    fired = False

    def cancel() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    handle = asyncio.get_running_loop().call_later(seconds, cancel)
    try:
        yield
    except asyncio.CancelledError:
        if fired:
            raise asyncio.TimeoutError from None
        raise
    finally:
        handle.cancel()


def _interpret_response(response: httpx.Response, url: str) -> str | _Failure:
    status = response.status_code
    if response.is_success:
        return _extract_text(response, url)
    message = f"HTTP {status} from {url}: {_snippet(response)}"
    return classify_status(status, message, response.headers.get("Retry-After"))


def _extract_text(response: httpx.Response, url: str) -> str | _Failure:
    try:
        payload = response.json()
    except (ValueError, UnicodeDecodeError):
        return _Failure("bad_response", f"non-JSON body from {url}: {_snippet(response)}", True)
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return _Failure("bad_response", f"no choices[0].message.content from {url}: {_snippet(response)}", True)
    if not isinstance(content, str):
        return _Failure("bad_response", f"choices[0].message.content is not text from {url}", True)
    return content


def _snippet(response: httpx.Response) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return f"<{len(response.content)} undecodable bytes>"
    text = " ".join(text.split())
    return text if len(text) <= _BODY_SNIPPET_CHARS else text[:_BODY_SNIPPET_CHARS] + "..."


def check_base_url(base_url: str) -> str:
    """``base_url`` as it may be shown (credentials masked), or a ``ValueError`` saying what is wrong.

    Accepted: ``http(s)://host[:port][/path]``, with or without ``/v1``, with or without
    ``user:password@``. Refused: another scheme (``ftp://``), no host, a query string (httpx logs every
    request URL, so a key passed as a query parameter would end up in logs).

    >>> check_base_url("http://alice:pw12@127.0.0.1:8000/v1")
    'http://alice:***@127.0.0.1:8000/v1'
    >>> check_base_url("ftp://files.example/v1")
    Traceback (most recent call last):
    ...
    ValueError: base_url must be an http(s) URL with a host, got ftp://files.example/v1
    """
    _parse_base_url(base_url)
    return redact_url(base_url.strip())


def _parse_base_url(base_url: str) -> httpx.URL:
    shown = redact_url(str(base_url).strip())
    try:
        url = httpx.URL(str(base_url).strip())
    except httpx.InvalidURL as exc:
        raise ValueError(f"base_url is not a valid http(s) URL: {redact(str(exc))} ({shown})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {shown}")
    if url.query:
        raise ValueError(f"base_url must not have a query string; pass keys with api_key (got {shown})")
    return url


def _v1_url(url: httpx.URL, endpoint: str) -> httpx.URL:
    """``url`` without credentials, its path ending in ``/v1/<endpoint>``."""
    path = url.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return _strip_userinfo(url).copy_with(path=f"{path}/{endpoint}", fragment=None)


def _basic_auth(url: httpx.URL) -> httpx.BasicAuth | None:
    return httpx.BasicAuth(url.username, url.password) if (url.username or url.password) else None


def _endpoint_from_base_url(base_url: str) -> _Endpoint:
    url = _parse_base_url(base_url)
    return _Endpoint(str(_v1_url(url, "chat/completions")), _basic_auth(url))


def served_model(
    base_url: str,
    *,
    api_key: str | None = None,
    api_key_env: str = "MISATTRIBUTION_API_KEY",
    timeout: float = 10.0,
) -> str:
    """The first model an OpenAI-compatible server lists at ``/v1/models``.

    The request carries the same credentials as every chat request: HTTP Basic auth from the URL's
    ``user:password@``, else ``Authorization: Bearer`` with ``api_key`` (default: from the environment,
    as :class:`OpenAIHTTPJudge`). The URL is requested, logged and named in errors without credentials.
    """
    url = _parse_base_url(base_url)
    models_url = _v1_url(url, "models")
    key = api_key if api_key is not None else _api_key_from_env(api_key_env)
    auth = _basic_auth(url)
    secrets = [s for s in (key, url.password) if s]
    for secret in secrets:
        register_secret(secret)
    headers = {"User-Agent": _USER_AGENT}
    if key and auth is None:
        headers["Authorization"] = f"Bearer {key}"
    try:
        response = httpx.get(models_url, headers=headers, auth=auth, timeout=timeout)
        response.raise_for_status()
        return str(response.json()["data"][0]["id"])
    except Exception as err:  # noqa: BLE001 - any failure means the same thing to the user
        if isinstance(err, httpx.HTTPStatusError):
            reason = f"HTTP {err.response.status_code}"
        elif isinstance(err, httpx.TransportError):
            reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        else:
            reason = f"unexpected answer ({type(err).__name__})"
        message = f"{models_url}: could not ask which model it serves ({reason}); pass the served model name explicitly"
        raise ValueError(redact(message, secrets)) from None


def _strip_userinfo(url: httpx.URL) -> httpx.URL:
    return url.copy_with(username=None, password=None) if (url.username or url.password) else url


def _userinfo_password(base_url: str) -> str:
    try:
        return httpx.URL(base_url.strip()).password or ""
    except httpx.InvalidURL:
        return ""
