"""OpenAIHTTPJudge against the fake OpenAI server: real sockets, real HTTP, scripted faults."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from misattribution.judges.base import GenerationError, Judge, SamplingParams
from misattribution.judges.openai_http import OpenAIHTTPJudge, _parse_retry_after
from misattribution.testing.fake_openai import DEFAULT_REPLY, FakeOpenAIServer

# Generous: at load 10 on 2 cores every step here is several times slower than on an idle machine.
pytestmark = pytest.mark.timeout(180)

SECRET = "sk-test-7f3a9c1e5b"


def prompt(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You are a judge."}, {"role": "user", "content": text}]


def echo(messages: list[dict[str, str]]) -> str:
    return "echo: " + messages[-1]["content"]


def make_judge(url: str | list[str], **kwargs) -> OpenAIHTTPJudge:
    """A judge with test-speed retry settings and no key (unless given)."""
    options = {"api_key": "", "timeout": 5.0, "backoff_base": 0.01, "backoff_max": 2.0, **kwargs}
    return OpenAIHTTPJudge(url, model="fake-judge", **options)


@pytest.fixture
def server():
    with FakeOpenAIServer(responder=echo) as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- ordering and concurrency -----------------------------------------------------------------------
def test_order_is_kept_over_50_prompts_with_random_latencies(server):
    rng = random.Random(0)
    server.latency = lambda: rng.uniform(0.0, 0.06)
    judge = make_judge(server.url, concurrency=8)
    texts = [f"prompt {i}" for i in range(50)]

    results = judge.generate([prompt(t) for t in texts])

    assert results == [f"echo: {t}" for t in texts]
    assert judge.stats.as_dict() == {"requests": 50, "retries": 0, "failures": 0, "successes": 50}


def test_no_more_than_concurrency_requests_in_flight(server):
    server.latency = 0.1
    judge = make_judge(server.url, concurrency=5)

    results = judge.generate([prompt(str(i)) for i in range(30)])

    assert all(isinstance(r, str) for r in results)
    assert server.max_in_flight == 5


def test_server_serves_32_slow_requests_at_once(server):
    server.latency = 0.5
    judge = make_judge(server.url, concurrency=32)

    start = time.perf_counter()
    results = judge.generate([prompt(str(i)) for i in range(32)])
    elapsed = time.perf_counter() - start

    assert all(isinstance(r, str) for r in results)
    assert server.max_in_flight == 32  # the behaviour: all 32 were in flight together
    # One after another would take 32 x 0.5 = 16 s; half of that leaves room for a loaded machine.
    assert elapsed < 8.0


def test_empty_batch_sends_nothing(server):
    assert make_judge(server.url).generate([]) == []
    assert server.requests == []


# -- retries ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["error_500", "error_502", "error_503", "error_408", "drop", "garbage", "bad_shape"])
def test_transient_faults_are_retried_until_success(server, fault):
    server.inject(fault, times=3, retry_after=None)
    judge = make_judge(server.url, concurrency=2)

    results = judge.generate([prompt(str(i)) for i in range(4)])

    assert results == [f"echo: {i}" for i in range(4)]
    assert judge.stats.retries == 3
    assert len(server.chat_requests) == 7
    assert [r.fault for r in server.chat_requests].count(fault) == 3


def test_retry_after_on_429_is_waited_for(server):
    server.inject("error_429", times=1, retry_after=1)
    judge = make_judge(server.url)

    assert judge.generate([prompt("x")]) == ["echo: x"]

    first, second = server.chat_requests
    assert second.time - first.time >= 0.95  # a lower bound: holds however loaded the machine is
    # Retry-After, not the backoff, sets the wait: the delay chosen is Retry-After plus at most one
    # backoff_base of jitter (asserted on the computation, not on a wall clock a busy machine stretches).
    assert all(1.0 <= judge._retry_delay(1, 1.0) <= 1.0 + judge.backoff_base for _ in range(50))


def test_retry_after_is_capped_by_backoff_max(server):
    server.inject("error_429", times=1, retry_after=120)
    judge = make_judge(server.url, backoff_max=0.2)

    start = time.perf_counter()
    assert judge.generate([prompt("x")]) == ["echo: x"]
    assert time.perf_counter() - start < 60  # far below the 120 s asked for, even on a loaded machine
    assert all(judge._retry_delay(1, 120.0) <= 0.2 for _ in range(50))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1", 1.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        (format_datetime(datetime(2030, 1, 1, 0, 0, 30, tzinfo=timezone.utc), usegmt=True), 30.0),
        (format_datetime(datetime(2029, 12, 31, 23, 0, 0, tzinfo=timezone.utc), usegmt=True), 0.0),
    ],
)
def test_retry_after_parsing(header, expected):
    now = datetime(2030, 1, 1, 0, 0, 0, tzinfo=timezone.utc)
    assert _parse_retry_after(header, now=now) == expected


def test_retry_after_http_date_is_honoured(server):
    # The retry must not come before the date the server named. Asserted against that date itself (not
    # against the first request's arrival, which a loaded machine delays by an unknown amount). HTTP
    # dates have whole seconds; the date is 3 s ahead so that the wait is real even under load.
    retry_at = (datetime.now(timezone.utc) + timedelta(seconds=3)).replace(microsecond=0)
    server.inject("error_503", times=1, retry_after=format_datetime(retry_at, usegmt=True))
    judge = make_judge(server.url, backoff_max=10.0)  # the default test cap (2 s) would cut the wait

    assert judge.generate([prompt("x")]) == ["echo: x"]
    first, second = server.chat_requests
    wall_minus_monotonic = time.time() - time.monotonic()  # RecordedRequest.time is monotonic, same process
    assert second.time + wall_minus_monotonic >= retry_at.timestamp() - 0.05
    assert first.fault == "error_503" and second.fault is None


def test_a_stall_beyond_the_timeout_is_retried(server):
    server.inject("stall", times=1)
    judge = make_judge(server.url, timeout=0.5)

    assert judge.generate([prompt(str(i)) for i in range(3)]) == [f"echo: {i}" for i in range(3)]
    assert judge.stats.retries == 1


def test_an_item_that_always_stalls_times_out_in_place(server):
    server.inject("stall", times=None, match=lambda body: body["messages"][-1]["content"] == "slow")
    judge = make_judge(server.url, timeout=0.5, max_retries=2)
    texts = ["a", "b", "slow", "c", "d"]

    start = time.perf_counter()
    results = judge.generate([prompt(t) for t in texts])

    # 3 attempts x 0.5 s plus backoff: ~2 s idle; the bound says "not stalled for the hour" with room
    # for a loaded machine, and the attempts below say the timeout fired each time.
    assert time.perf_counter() - start < 30.0
    assert [r for i, r in enumerate(results) if i != 2] == ["echo: a", "echo: b", "echo: c", "echo: d"]
    error = results[2]
    assert isinstance(error, GenerationError)
    assert (error.kind, error.attempts) == ("timeout", 3)
    assert judge.stats.failures == 1


@pytest.mark.parametrize("fault", ["error_400", "error_401", "error_404", "error_422"])
def test_client_errors_are_not_retried(server, fault):
    server.inject(fault, times=1)
    judge = make_judge(server.url)

    (result,) = judge.generate([prompt("x")])

    assert isinstance(result, GenerationError)
    assert (result.kind, result.attempts) == ("http_4xx", 1)
    assert fault[-3:] in str(result)
    assert len(server.chat_requests) == 1


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("error_500", "http_5xx"), ("error_429", "http_429"), ("garbage", "bad_response"), ("drop", "connection")],
)
def test_exhausted_retries_give_an_error_of_the_right_kind(server, fault, kind):
    server.inject(fault, times=None, retry_after=0)
    judge = make_judge(server.url, max_retries=2)

    (result,) = judge.generate([prompt("x")])

    assert isinstance(result, GenerationError)
    assert (result.kind, result.attempts) == (kind, 3)
    assert len(server.chat_requests) == 3
    assert judge.stats.as_dict() == {"requests": 3, "retries": 2, "failures": 1, "successes": 0}


def test_refused_connection_is_a_connection_error():
    judge = make_judge(f"http://127.0.0.1:{free_port()}", max_retries=1)

    (result,) = judge.generate([prompt("x")])

    assert isinstance(result, GenerationError)
    assert (result.kind, result.attempts) == ("connection", 2)


# -- several servers --------------------------------------------------------------------------------
def test_load_is_spread_over_several_base_urls():
    with FakeOpenAIServer(responder=echo) as first, FakeOpenAIServer(responder=echo) as second:
        judge = make_judge([first.url, second.url.removesuffix("/v1")], concurrency=4)

        results = judge.generate([prompt(str(i)) for i in range(20)])

        assert results == [f"echo: {i}" for i in range(20)]
        assert len(first.chat_requests) == len(second.chat_requests) == 10


def test_a_retry_goes_to_the_other_server():
    with FakeOpenAIServer(responder=echo) as broken, FakeOpenAIServer(responder=echo) as healthy:
        broken.inject("error_500", times=None)
        judge = make_judge([broken.url, healthy.url], max_retries=1)

        results = judge.generate([prompt(str(i)) for i in range(6)])

        assert results == [f"echo: {i}" for i in range(6)]
        assert len(broken.chat_requests) == 3 and len(healthy.chat_requests) == 6


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_with_or_without_v1(suffix):
    judge = make_judge("http://127.0.0.1:8000" + suffix)
    assert judge.base_urls == ["http://127.0.0.1:8000/v1/chat/completions"]


@pytest.mark.parametrize("bad", ["ftp://host", "not a url", "http://", "http://[::1", "http://host/v1?key=abc"])
def test_bad_base_url_is_rejected_early(bad):
    with pytest.raises(ValueError, match="base_url"):
        make_judge(bad)


# -- the API key ------------------------------------------------------------------------------------
def test_key_is_sent_as_bearer_and_never_shown(server, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    # The server echoes the key back in a 401, as some real providers do.
    server.inject("error_500", times=1)
    server.inject("error_401", times=1, match=lambda body: body["messages"][-1]["content"] == "bad", body=SECRET)
    judge = make_judge(server.url, api_key=SECRET, concurrency=1)

    results = judge.generate([prompt("good"), prompt("bad")])

    assert {r.headers["Authorization"] for r in server.chat_requests} == {f"Bearer {SECRET}"}
    assert results[0] == "echo: good"
    error = results[1]
    assert isinstance(error, GenerationError) and error.kind == "http_4xx"
    assert "Attempt 1 failed" in caplog.text  # the retry was logged...
    shown = [caplog.text, repr(judge), str(judge), str(vars(judge)), json.dumps(judge.settings())]
    shown += [str(error), repr(error), repr(error.args), str(judge.stats)]
    for text in shown:
        assert SECRET not in text  # ...without the key
    assert "***" in str(error)


def test_key_comes_from_the_environment(server, monkeypatch):
    monkeypatch.delenv("MISATTRIBUTION_API_KEY", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai-env")
    OpenAIHTTPJudge(server.url, model="m").generate([prompt("x")])
    monkeypatch.setenv("MISATTRIBUTION_API_KEY", "from-own-env")
    OpenAIHTTPJudge(server.url, model="m").generate([prompt("x")])
    monkeypatch.delenv("MISATTRIBUTION_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    OpenAIHTTPJudge(server.url, model="m").generate([prompt("x")])

    sent = [r.headers.get("Authorization") for r in server.chat_requests]
    assert sent == ["Bearer from-openai-env", "Bearer from-own-env", None]


def test_credentials_in_the_url_become_basic_auth_and_stay_hidden(server, caplog):
    caplog.set_level(logging.DEBUG)
    password = "pa55-w0rd-xyz"
    url = server.url.replace("http://", f"http://alice:{password}@")
    judge = make_judge(url, api_key=SECRET)

    assert judge.generate([prompt("x")]) == ["echo: x"]

    expected = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
    assert server.chat_requests[0].headers["Authorization"] == expected
    for text in (caplog.text, repr(judge), str(judge.base_urls), json.dumps(judge.settings())):
        assert password not in text and SECRET not in text


# -- the request body and settings ------------------------------------------------------------------
def test_sampling_params_are_sent(server):
    sampling = SamplingParams(temperature=0.3, top_p=0.9, top_k=7, repetition_penalty=1.1, max_new_tokens=77, seed=5)
    make_judge(server.url, sampling=sampling).generate([prompt("x")])

    body = server.chat_requests[0].body
    assert body["model"] == "fake-judge"
    assert body["messages"] == prompt("x")
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "repetition_penalty", "max_tokens", "seed")} == {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 7,
        "repetition_penalty": 1.1,
        "max_tokens": 77,
        "seed": 5,
    }


def test_greedy_sends_temperature_zero(server):
    make_judge(server.url, sampling=SamplingParams(greedy=True)).generate([prompt("x")])

    body = server.chat_requests[0].body
    assert body["temperature"] == 0
    assert "top_p" not in body and "top_k" not in body and "seed" not in body


def test_extra_body_is_merged_and_none_removes_a_field(server):
    judge = make_judge(server.url, extra_body={"top_k": None, "stop": ["<|im_end|>"]})
    judge.generate([prompt("x")])

    body = server.chat_requests[0].body
    assert "top_k" not in body and body["stop"] == ["<|im_end|>"]
    assert judge.settings()["extra_body"] == {"top_k": None, "stop": ["<|im_end|>"]}


def test_settings_are_json_and_hold_no_urls():
    judge = make_judge("http://u:secretpw@example.invalid:9/v1", sampling=SamplingParams(greedy=True))
    settings = judge.settings()

    assert json.loads(json.dumps(settings)) == settings
    assert settings["backend"] == "openai_http" and settings["model"] == "fake-judge"
    assert settings["sampling"]["greedy"] is True
    assert "example.invalid" not in json.dumps(settings)
    assert isinstance(judge, Judge) and judge.model_id == "fake-judge"


# -- calling conventions ----------------------------------------------------------------------------
def test_generate_works_inside_a_running_event_loop(server):
    judge = make_judge(server.url)

    async def notebook_cell():
        return judge.generate([prompt("a"), prompt("b")])

    assert asyncio.run(notebook_cell()) == ["echo: a", "echo: b"]


def test_agenerate_for_async_callers(server):
    judge = make_judge(server.url)
    assert asyncio.run(judge.agenerate([prompt("a")])) == ["echo: a"]


# -- the fake server itself -------------------------------------------------------------------------
def test_fake_server_lists_models_and_defaults_to_a_judgment():
    with FakeOpenAIServer(model="my-judge") as fake:
        models = httpx.get(fake.url + "/models").json()
        reply = httpx.post(fake.url + "/chat/completions", json={"model": "m", "messages": prompt("x")}).json()
        missing = httpx.post(fake.url + "/completions", json={})

    assert [m["id"] for m in models["data"]] == ["my-judge"]
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": DEFAULT_REPLY}
    assert missing.status_code == 404


def test_fake_server_fault_fraction_is_seeded():
    def faults(seed: int) -> list[str | None]:
        with FakeOpenAIServer(seed=seed) as fake:
            fake.inject("error_500", times=None, probability=0.3)
            make_judge(fake.url, max_retries=0, concurrency=1).generate([prompt(str(i)) for i in range(40)])
            return [r.fault for r in fake.chat_requests]

    first = faults(1)
    assert first == faults(1)
    assert 4 <= first.count("error_500") <= 20


def test_fake_server_runs_as_a_module():
    command = [sys.executable, "-m", "misattribution.testing.fake_openai", "--port", "0", "--latency", "0.01"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            line = process.stdout.readline()
            assert line.startswith("listening on http://127.0.0.1:")
            url = line.split()[-1]
            assert make_judge(url).generate([prompt("x")]) == [DEFAULT_REPLY]
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0  # SIGTERM is a clean stop
