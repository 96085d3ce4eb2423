"""A real OpenAI-compatible HTTP server on loopback, with fault injection, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` in the OpenAI format and ``GET /v1/models``, binds
127.0.0.1 only, and serves each connection on its own thread (HTTP/1.1 keep-alive), so dozens of slow
requests are in flight at once. Every request is recorded (body, headers, arrival time), and faults can
be scripted while it runs.

In a test::

    from misattribution.testing.fake_openai import FakeOpenAIServer

    with FakeOpenAIServer(latency=0.05) as server:
        server.inject("error_500", times=2)                      # the next two requests fail
        server.inject("stall", match=lambda body: "slow" in str(body["messages"]))
        server.inject("drop", times=None, probability=0.1)       # 10 % of requests, seeded
        judge = OpenAIHTTPJudge(server.url, model="fake-judge")
        ...
        assert server.max_in_flight <= 16

From the shell, or as a subprocess in tests (``--port 0`` picks a free port)::

    python -m misattribution.testing.fake_openai --port 8000 --latency 0.2
    python -m misattribution.testing.fake_openai --port 0 --fault error_500 --fault-rate 0.1 --seed 1

The first line printed on stdout is ``listening on http://127.0.0.1:PORT/v1`` (flushed), so a parent
process can read the URL from it; the server runs until SIGINT or SIGTERM.

Faults (see :meth:`FakeOpenAIServer.inject`):

``stall``
    sleep ``stall_seconds`` (default: an hour, cut short when the server closes) before answering.
``error_500``, ``error_503``, ``error_400``, ... (any ``error_NNN``)
    that HTTP status with an OpenAI-style error body; 429 and 503 carry ``Retry-After``.
``error_429``
    HTTP 429 with ``Retry-After`` (``retry_after``, default ``"1"``).
``drop``
    close the connection without sending any response.
``garbage``
    HTTP 200 whose body is not JSON.
``bad_shape``
    HTTP 200 with valid JSON but no ``choices``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Self  # 3.11+, annotations only (setup.py allows 3.10)

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_MODEL = "fake-judge"
DEFAULT_REPLY = (
    "Feedback: The answer follows the reference and reaches the right result.\nMisattribution: None\nScore: 3"
)
SIMPLE_FAULTS = ("stall", "drop", "garbage", "bad_shape")
_ERROR_FAULT = re.compile(r"^error_([1-5]\d\d)$")
_CHAT_PATH = "/v1/chat/completions"
_MODELS_PATH = "/v1/models"

Responder = Callable[[list[dict[str, Any]]], str]
Latency = float | Callable[[], float]


def default_responder(messages: list[dict[str, Any]]) -> str:
    """The fixed, well-formed judgment every request gets unless a responder is set."""
    return DEFAULT_REPLY


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received.

    Attributes:
        method, path: as sent.
        body: the parsed JSON body, or ``None`` (GET, or a body that is not JSON).
        headers: header names as sent, mapped to values.
        time: arrival time, ``time.monotonic()`` in the server's process.
        fault: the fault applied to it, or ``None``.
    """

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    time: float
    fault: str | None


@dataclass
class FaultRule:
    """A scripted fault: which requests it hits, and how many times. Made by :meth:`FakeOpenAIServer.inject`."""

    fault: str
    times: int | None = 1
    match: Callable[[Any], bool] | None = None
    probability: float = 1.0
    retry_after: str | None = "1"
    body: str | None = None
    hits: int = field(default=0, init=False)


class FakeOpenAIServer:
    """An OpenAI-compatible chat-completions server on 127.0.0.1, in a background thread.

    Args:
        port: TCP port; 0 (default) picks a free one.
        latency: seconds every chat request waits before answering, or a callable returning them
            (called per request, e.g. ``lambda: rng.uniform(0, 0.05)``). Settable while running.
        responder: ``responder(messages) -> str`` makes the reply text. Settable while running.
        model: the name ``/v1/models`` lists.
        seed: seeds the RNG that decides which requests a fault with ``probability < 1`` hits.
        stall_seconds: how long a ``stall`` lasts unless the server closes first.

    Use as a context manager, or call :meth:`start` and :meth:`close`. ``url`` ends in ``/v1``.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        latency: Latency = 0.0,
        responder: Responder | None = None,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        stall_seconds: float = 3600.0,
    ):
        self.latency = latency
        self.responder: Responder = responder or default_responder
        self.model = model
        self.stall_seconds = stall_seconds
        self._requested_port = port
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rules: list[FaultRule] = []
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> Self:
        """Bind and start serving in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._closing.clear()
        self._httpd = _HTTPServer((HOST, self._requested_port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-openai-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake stalled requests and close every open connection."""
        if self._httpd is None:
            return
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            # Handler threads blocked on an idle keep-alive connection only notice a shut-down socket.
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The bound port (only meaningful once started)."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL for OpenAI clients: ``http://127.0.0.1:PORT/v1``."""
        return f"http://{HOST}:{self.port}/v1"

    # -- fault injection ---------------------------------------------------------------------------
    def inject(
        self,
        fault: str,
        times: int | None = 1,
        *,
        match: Callable[[Any], bool] | None = None,
        probability: float = 1.0,
        retry_after: str | float | None = "1",
        body: str | None = None,
    ) -> FaultRule:
        """Script a fault for upcoming chat requests.

        Rules are tried in the order they were added; the first that applies to a request is used,
        and its ``times`` count goes down (the rule is removed at zero).

        Args:
            fault: ``stall``, ``drop``, ``garbage``, ``bad_shape`` or ``error_NNN`` (e.g. ``error_500``).
            times: how many requests it hits; ``None`` for every matching request.
            match: only requests whose parsed JSON body makes ``match(body)`` true.
            probability: the fraction of matching requests hit, decided by the server's seeded RNG.
            retry_after: the ``Retry-After`` header of 429 and 503 errors (``None`` to leave it out).
            body: the response body of an ``error_NNN`` fault, instead of the default JSON error.

        Example: ``server.inject("error_429", times=1, retry_after=2)``.
        """
        if fault not in SIMPLE_FAULTS and not _ERROR_FAULT.match(fault):
            raise ValueError(f"unknown fault {fault!r}; use one of {SIMPLE_FAULTS} or error_NNN")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability}")
        rule = FaultRule(
            fault,
            times,
            match,
            probability,
            None if retry_after is None else _format_seconds(retry_after),
            body,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_faults(self) -> None:
        """Remove every scripted fault."""
        with self._lock:
            self._rules.clear()

    # -- observation -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/chat/completions`` requests."""
        return [r for r in self.requests if r.method == "POST" and r.path == _CHAT_PATH]

    @property
    def in_flight(self) -> int:
        """Chat requests being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most chat requests handled at once since start or the last :meth:`reset`."""
        with self._lock:
            return self._max_in_flight

    def reset(self) -> None:
        """Forget recorded requests and the in-flight maximum (scripted faults stay)."""
        with self._lock:
            self._requests.clear()
            self._max_in_flight = self._in_flight

    # -- used by the handler -----------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _choose_fault(self, body: Any) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.match is not None and not _safe_match(rule.match, body):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                return rule
        return None

    @contextmanager
    def _tracking(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        # An Event wait instead of time.sleep so that close() wakes stalled handlers at once.
        if seconds > 0:
            self._closing.wait(seconds)

    def _latency_seconds(self) -> float:
        latency = self.latency
        return float(latency() if callable(latency) else latency)

    def _connection_opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _connection_closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog of 5 drops SYNs when many clients connect at once, and a dropped SYN
    # costs the client a one-second retransmit; benchmarks open dozens of connections together.
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], handler: type, fake: FakeOpenAIServer):
        self.fake = fake
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are normal here; keep the traceback out of stderr.
        # socketserver calls this from inside its except block, so exc_info is the live exception.
        logger.debug("error while serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connections
    server_version = "FakeOpenAI/1.0"
    # Buffer each reply and send it in one segment at the end of the request (http.server flushes
    # wfile after every request) instead of one write for the headers and another for the body.
    wbufsize = 64 * 1024
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Small JSON replies must not wait for Nagle's algorithm.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._connection_opened(self.connection)

    def finish(self) -> None:
        self.server.fake._connection_closed(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        if logger.isEnabledFor(logging.DEBUG):  # called for every request: skip the formatting
            logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        fake = self.server.fake
        fake._record(RecordedRequest("GET", self.path, None, dict(self.headers), time.monotonic(), None))
        if self.path.rstrip("/") == _MODELS_PATH:
            model = {"id": fake.model, "object": "model", "created": 0, "owned_by": "misattribution"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error_body(f"no route for GET {self.path}", "not_found"))

    def do_POST(self) -> None:
        fake = self.server.fake
        arrived = time.monotonic()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            body = None
        if self.path != _CHAT_PATH:
            fake._record(RecordedRequest("POST", self.path, body, dict(self.headers), arrived, None))
            self._send_json(404, _error_body(f"no route for POST {self.path}", "not_found"))
            return
        rule = fake._choose_fault(body)
        fake._record(RecordedRequest("POST", self.path, body, dict(self.headers), arrived, rule and rule.fault))
        try:
            with fake._tracking():
                self._answer_chat(fake, body, rule)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (timeout) before the answer was ready.
            self.close_connection = True

    def _answer_chat(self, fake: FakeOpenAIServer, body: Any, rule: FaultRule | None) -> None:
        fake._sleep(fake._latency_seconds())
        fault = rule.fault if rule else None
        if fault == "stall":
            fake._sleep(fake.stall_seconds)
            if fake._closing.is_set():
                self.close_connection = True
                return
        elif fault == "drop":
            self.close_connection = True  # return without a byte: the server closes the socket
            return
        elif fault == "garbage":
            self._send(200, b"<html>502 Bad Gateway... not JSON", "application/json")
            return
        elif fault == "bad_shape":
            self._send_json(200, {"id": "chatcmpl-fake", "object": "chat.completion", "model": fake.model})
            return
        elif fault is not None:
            self._send_error_fault(rule)
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_json(400, _error_body("the body must be JSON with a 'messages' list", "invalid_request"))
            return
        try:
            text = fake.responder(body["messages"])
        except Exception as exc:  # a broken test responder must show up as a 500
            logger.exception("responder failed")
            self._send_json(500, _error_body(f"responder failed: {exc!r}", "server_error"))
            return
        self._send_json(200, _completion(text, body))

    def _send_error_fault(self, rule: FaultRule) -> None:
        status = int(rule.fault.split("_", 1)[1])
        headers = {}
        if status in (429, 503) and rule.retry_after is not None:
            headers["Retry-After"] = rule.retry_after
        if rule.body is not None:
            self._send(status, rule.body.encode(), "application/json", headers)
        else:
            self._send_json(status, _error_body(f"injected {rule.fault}", "injected_fault"), headers)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _completion(text: str, body: dict[str, Any]) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"] if isinstance(m, dict))
    completion_tokens = len(text.split())
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", DEFAULT_MODEL),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": None}}


def _format_seconds(value: str | float) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def _safe_match(match: Callable[[Any], bool], body: Any) -> bool:
    try:
        return bool(match(body))
    except Exception:  # a predicate that cannot read a body does not match it
        return False


def main(argv: list[str] | None = None) -> None:
    """Run the server in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible chat server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat request")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the model name /v1/models lists")
    parser.add_argument("--reply", default=DEFAULT_REPLY, help="the text every request gets")
    parser.add_argument("--fault", help="inject this fault (stall, drop, garbage, bad_shape, error_NNN)")
    parser.add_argument("--fault-rate", type=float, default=1.0, help="fraction of requests hit by --fault")
    parser.add_argument("--seed", type=int, default=0, help="seed for --fault-rate")
    parser.add_argument("--stall-seconds", type=float, default=3600.0, help="how long a stall lasts")
    args = parser.parse_args(argv)

    server = FakeOpenAIServer(
        args.port,
        latency=args.latency,
        responder=lambda messages: args.reply,
        model=args.model,
        seed=args.seed,
        stall_seconds=args.stall_seconds,
    )
    if args.fault:
        server.inject(args.fault, times=None, probability=args.fault_rate)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(f"listening on {server.url}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    print("stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
