"""What every remote judge backend shares: retries with backoff, ``Retry-After``, counters and secrets.

The OpenAI-compatible HTTP judge, the Hugging Face ``InferenceClient`` judge and the LiteLLM judge
differ only in how they send one request. Whether a failure is retried, how long to wait
(exponential backoff with jitter, at least what the server's ``Retry-After`` asks, never more than
``backoff_max``), what is counted and what a given-up item looks like (a :class:`GenerationError`
whose message went through :func:`misattribution.redaction.redact`) live here, once:

    >>> policy = RetryPolicy(max_retries=2, backoff_base=0.0, backoff_max=1.0)
    >>> answers = iter([Failure("http_5xx", "HTTP 500", True), "Score: 3"])
    >>> retry_call(lambda attempt: next(answers), policy, sleep=lambda seconds: None)
    'Score: 3'
    >>> classify_status(429, "HTTP 429 from host", "2").retry_after
    2.0
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from misattribution.judges.base import GenerationError
from misattribution.redaction import redact

logger = logging.getLogger(__name__)

API_KEY_FALLBACK_ENVS = ("OPENAI_API_KEY", "HF_TOKEN")


@dataclass
class EndpointStats:
    """Counters for benchmarks and monitoring, accumulated over every ``generate`` of a judge.

    Attributes:
        requests: requests sent (first attempts and retries).
        retries: attempts that were retried after a failure.
        failures: items given up on and returned as :class:`GenerationError`.
        successes: items answered with a text.
    """

    requests: int = 0
    retries: int = 0
    failures: int = 0
    successes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to one or more counters, e.g. ``stats.add(requests=1)``. Safe across threads."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self.requests = self.retries = self.failures = self.successes = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


@dataclass(frozen=True)
class Failure:
    """Why one attempt failed, and whether another attempt could help.

    ``kind`` is what a given-up item's :class:`GenerationError` carries: ``timeout``, ``connection``,
    ``http_429``, ``http_5xx``, ``http_4xx``, ``bad_response`` or ``http_error``.
    """

    kind: str
    message: str
    retryable: bool
    retry_after: float | None = None


class Secret:
    """Holds an API key so that no repr, vars() dump or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('***')"

    __str__ = __repr__


def check_remote_options(
    concurrency: int, timeout: float, max_retries: int, extra_body: dict[str, Any] | None
) -> dict[str, Any]:
    """Check the options every remote backend shares; return a copy of ``extra_body``.

    >>> check_remote_options(8, 60.0, 5, {"top_k": 20})
    {'top_k': 20}
    >>> check_remote_options(0, 60.0, 5, None)
    Traceback (most recent call last):
    ...
    ValueError: concurrency must be >= 1, got 0
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    extra_body = dict(extra_body or {})
    try:
        json.dumps(extra_body)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"extra_body must be JSON-serialisable: {exc}") from None
    return extra_body


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: ``max_retries`` after the first attempt, exponential backoff.

    The wait before retry ``n`` is ``backoff_base * 2 ** (n - 1)`` with jitter (half to all of it), at
    least the server's ``Retry-After`` (plus up to one ``backoff_base`` of jitter), at most
    ``backoff_max``.
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        exponential = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        # Jitter spreads out the retries of items that failed together, so they do not hit a recovering
        # server in lockstep.
        delay = exponential * (0.5 + 0.5 * self.rng.random())
        if retry_after is not None:
            delay = max(delay, retry_after + self.rng.uniform(0, self.backoff_base))
        return min(delay, self.backoff_max)

    def gives_up(self, failure: Failure, attempt: int) -> bool:
        """True when ``failure`` after ``attempt`` attempts is final."""
        return not failure.retryable or attempt > self.max_retries


def _outcome(
    result: str | Failure,
    attempt: int,
    policy: RetryPolicy,
    stats: EndpointStats | None,
    secrets: list[str],
    log: logging.Logger,
) -> str | GenerationError | float:
    """The text, the final error, or the seconds to wait before the next attempt."""
    if isinstance(result, str):
        if stats is not None:
            stats.add(successes=1)
        return result
    if policy.gives_up(result, attempt):
        if stats is not None:
            stats.add(failures=1)
        message = redact(f"{result.message} (after {attempt} attempt{'s' * (attempt > 1)})", secrets)
        log.warning("Giving up on an item: %s [%s]", message, result.kind)
        return GenerationError(message, kind=result.kind, attempts=attempt)
    delay = policy.delay(attempt, result.retry_after)
    if stats is not None:
        stats.add(retries=1)
    log.debug(
        "Attempt %d failed (%s: %s); retrying in %.2f s", attempt, result.kind, redact(result.message, secrets), delay
    )
    return delay


def retry_call(
    attempt: Callable[[int], str | Failure],
    policy: RetryPolicy,
    *,
    stats: EndpointStats | None = None,
    secrets: list[str] | None = None,
    log: logging.Logger = logger,
    sleep: Callable[[float], None] = time.sleep,
) -> str | GenerationError:
    """Call ``attempt(n)`` (n = 1, 2, ...) until it returns text or a :class:`Failure` that is final.

    ``attempt`` counts its own requests in ``stats`` (it knows when one was really sent); this counts
    successes, retries and failures. ``secrets`` are masked in the error and every log line.
    """
    n = 0
    while True:
        n += 1
        outcome = _outcome(attempt(n), n, policy, stats, list(secrets or ()), log)
        if not isinstance(outcome, float):
            return outcome
        sleep(outcome)


async def retry_call_async(
    attempt: Callable[[int], Awaitable[str | Failure]],
    policy: RetryPolicy,
    *,
    stats: EndpointStats | None = None,
    secrets: list[str] | None = None,
    log: logging.Logger = logger,
) -> str | GenerationError:
    """:func:`retry_call` for a coroutine ``attempt``; waits with ``asyncio.sleep``."""
    n = 0
    while True:
        n += 1
        outcome = _outcome(await attempt(n), n, policy, stats, list(secrets or ()), log)
        if not isinstance(outcome, float):
            return outcome
        await asyncio.sleep(outcome)


def classify_status(status: int, message: str, retry_after_header: str | None = None) -> Failure:
    """The :class:`Failure` for an HTTP error status: 429, 408 and 5xx are retried, other 4xx are not.

    ``Retry-After`` is honoured on 429 and 503.
    """
    if status == 429:
        return Failure("http_429", message, True, parse_retry_after(retry_after_header))
    if status >= 500:
        retry_after = parse_retry_after(retry_after_header) if status == 503 else None
        return Failure("http_5xx", message, True, retry_after)
    if status == 408:
        return Failure("timeout", message, True)
    if 400 <= status < 500:
        return Failure("http_4xx", message, False)
    return Failure("http_error", message, False)


_TIMEOUT_NAMES = {"InferenceTimeoutError", "TimeoutException", "Timeout", "APITimeoutError", "TimeoutError"}
_CONNECTION_NAMES = {"TransportError", "ConnectionError", "NetworkError", "RemoteProtocolError", "APIConnectionError"}
_SNIPPET_CHARS = 300


def classify_exception(exc: BaseException, where: str) -> Failure:
    """The :class:`Failure` for an exception raised by a client library (huggingface_hub, LiteLLM, httpx).

    Read by duck typing, so one rule serves every client: an HTTP status on ``exc.response`` or
    ``exc.status_code`` goes through :func:`classify_status` (``Retry-After`` from the response
    headers); timeouts and connection errors are recognised by class name; a ``ValueError`` (a body
    that is not JSON) is a ``bad_response``; anything else is not retried.

    >>> classify_exception(TimeoutError("read"), "host").kind
    'timeout'
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "OfflineModeIsEnabled" in names:
        message = f"HF_HUB_OFFLINE is set, so huggingface_hub sends no request, not even to {where} (unset it)"
        return Failure("offline", message, False)
    if names & _TIMEOUT_NAMES:
        return Failure("timeout", f"no response from {where} in time ({type(exc).__name__})", True)
    if names & _CONNECTION_NAMES:
        return Failure("connection", f"{type(exc).__name__} from {where}: {exc or type(exc).__name__}", True)
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 400:
        body = (_response_text(response) if response is not None else "") or str(exc)
        headers = getattr(response, "headers", None) or getattr(exc, "litellm_response_headers", None) or {}
        retry_after = headers.get("Retry-After") or headers.get("retry-after") if hasattr(headers, "get") else None
        return classify_status(status, f"HTTP {status} from {where}: {_snippet(body)}", retry_after)
    if isinstance(exc, ValueError):  # a body that is not JSON, or not a chat completion
        return Failure("bad_response", f"unreadable answer from {where}: {type(exc).__name__}: {exc}", True)
    return Failure("http_error", f"{type(exc).__name__} from {where}: {exc}", False)


def _response_text(response: object) -> str:
    try:
        return str(response.text)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a body that cannot be decoded is still an HTTP error
        return "<undecodable body>"


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS] + "..."


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date; ``None`` if unusable.

    >>> parse_retry_after("2.5"), parse_retry_after("soon"), parse_retry_after("-3")
    (2.5, None, 0.0)
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def api_key_from_env(first_env: str, fallbacks: tuple[str, ...] = API_KEY_FALLBACK_ENVS) -> str | None:
    """The first non-empty value of ``first_env`` and then ``fallbacks``, or ``None``."""
    for name in (first_env, *fallbacks):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None
