"""Keep credentials out of everything a person or a file sees: the one redaction helper of the package.

Credentials reach this package in three ways: inside a URL (``http://user:secret@host/v1``, or a token
as a query parameter), as an API key from the environment (sent as ``Authorization: Bearer``), and
echoed back by a server in an error body. Every log line, error message, results file and page the
package shows goes through :func:`redact` (or :func:`redact_url` for a URL shown on its own), so the
rule lives in one place:

    >>> redact_url("http://alice:s3cret@host:8000/v1")
    'http://alice:***@host:8000/v1'
    >>> redact("GET https://tok@hub.example/models?api_key=abc123&x=1 with Authorization: Bearer sk-live-42")
    'GET https://***@hub.example/models?api_key=***&x=1 with Authorization: Bearer ***'

Values that are secret but do not look like one (a password echoed by a server on its own) are
registered with :func:`register_secret` by the code that holds them (the HTTP judge registers its key
and the passwords of its URLs) and are masked wherever they appear afterwards. The API-key environment
variables the package reads are masked too. The CLI adds :class:`RedactingFilter` to its log handlers,
so even a third-party library's log line (``httpx`` logs every request URL at ``-v``) is masked.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable

__all__ = ["MASK", "RedactingFilter", "install_log_redaction", "redact", "redact_url", "register_secret"]

MASK = "***"
# The environment variables whose values are API keys (read by the HTTP judge and the Hub code).
SECRET_ENVS = ("MISATTRIBUTION_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# Shorter values are not masked on their own: replacing a 3-letter password everywhere garbles text.
MIN_SECRET_CHARS = 4

# scheme://user:password@  or  scheme://token@   (userinfo stops at the first '/', '@' or space)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@?#]*)(?::(?P<password>[^/\s@?#]*))?@")
_QUERY_SECRET = re.compile(
    r"(?i)(?P<name>[?&](?:api[_-]?key|key|token|access[_-]?token|auth|secret|password|passwd|sig|signature)=)"
    r"(?!\*\*\*)(?P<value>[^&\s#\"']+)"  # (?!***): masking twice changes nothing
)
# "Bearer <anything>"; "Basic <base64>" only when it looks like base64 (so "Basic auth" stays readable).
_AUTH_SCHEME = re.compile(
    r"(?i)\b(?:(?P<bearer>bearer)(?P<space>\s+)[A-Za-z0-9._~+/=-]{4,}"
    r"|(?P<basic>basic)(?P<bspace>\s+)(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{6,}={0,2})"
)
_KEY_FIELD = re.compile(
    r"(?i)(?P<name>\b(?:x-api-key|api[_-]?key|access[_-]?token|password|secret)\b[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\*\*\*)(?P<value>[^\s\"',}&]{4,})"
)

_registered: set[str] = set()
_registered_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` in everything :func:`redact` sees from now on (values shorter than 4 are ignored)."""
    if value and len(value) >= MIN_SECRET_CHARS:
        with _registered_lock:
            _registered.add(value)


def _known_secrets(extra: Iterable[str]) -> list[str]:
    with _registered_lock:
        values = set(_registered)
    values.update(v for v in extra if v and len(v) >= MIN_SECRET_CHARS)
    values.update(v for v in (os.environ.get(name, "").strip() for name in SECRET_ENVS) if len(v) >= MIN_SECRET_CHARS)
    # Longest first, so that a secret containing another is masked whole.
    return sorted(values, key=len, reverse=True)


def _mask_userinfo(match: re.Match[str]) -> str:
    if match.group("password") is not None:
        return f"{match.group('scheme')}{match.group('user')}:{MASK}@"
    # A lone user name in a URL is often a token (https://<token>@host): mask it too.
    return f"{match.group('scheme')}{MASK}@"


def _mask_auth(match: re.Match[str]) -> str:
    if match.group("bearer"):
        return match.group("bearer") + match.group("space") + MASK
    return match.group("basic") + match.group("bspace") + MASK


def redact_url(url: str) -> str:
    """``url`` with its password (or lone user token) and secret-looking query values masked.

    >>> redact_url("https://example.org/v1")
    'https://example.org/v1'
    """
    return _QUERY_SECRET.sub(lambda m: m.group("name") + MASK, _USERINFO.sub(_mask_userinfo, url))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential masked: URL userinfo, key query parameters, ``Bearer`` / ``Basic``
    tokens, ``api_key=...`` style fields, registered secrets, the API-key environment variables' values
    and ``secrets``.

    >>> redact("HTTP 401: invalid key sk-abcd", secrets=["sk-abcd"])
    'HTTP 401: invalid key ***'
    >>> redact("bad URL h://x/?api_key=***: no; password: ***.") == "bad URL h://x/?api_key=***: no; password: ***."
    True
    """
    if not text:
        return text
    for value in _known_secrets(secrets):
        text = text.replace(value, MASK)
    text = redact_url(text)
    text = _AUTH_SCHEME.sub(_mask_auth, text)
    return _KEY_FIELD.sub(lambda m: m.group("name") + MASK, text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in every record it passes (message, arguments, traceback).

    Put it on a *handler* (:func:`install_log_redaction`): a handler's filters see the records of every
    logger that propagates to it, a logger's filters only its own records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add a :class:`RedactingFilter` to every handler of ``logger`` (default: the root logger), once."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
