"""LiteLLMJudge: real ``litellm.completion`` against the loopback OpenAI server (``api_base``).

Skipped, with the reason, when litellm is not installed (``pip install 'misattribution[litellm]'``).
No network: LiteLLM's price-table download is switched off and any lookup but 127.0.0.1 fails the test.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: no download
pytest.importorskip("litellm", reason="litellm is not installed (pip install 'misattribution[litellm]')")

from misattribution.judges import load_judge  # noqa: E402
from misattribution.judges.base import GenerationError, Judge, SamplingParams  # noqa: E402
from misattribution.judges.litellm import LiteLLMJudge  # noqa: E402
from misattribution.testing.fake_openai import FakeOpenAIServer  # noqa: E402

pytestmark = pytest.mark.timeout(180)

KEY = "sk-litellm-test-5b7f3a9c1e"


def prompt(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You are a judge."}, {"role": "user", "content": text}]


def echo(messages: list[dict[str, str]]) -> str:
    return "echo: " + messages[-1]["content"]


def make_judge(url: str, **kwargs) -> LiteLLMJudge:
    options = {"api_key": "sk-none", "timeout": 5.0, "backoff_base": 0.01, "backoff_max": 2.0, **kwargs}
    return LiteLLMJudge("openai/fake-judge", api_base=url, **options)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    lookups: list[str] = []
    original = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", b"127.0.0.1"):
            lookups.append(str(host))
            raise socket.gaierror(f"test: no network (asked for {host})")
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    yield
    assert lookups == [], f"a test tried to reach {lookups}"


@pytest.fixture
def server():
    with FakeOpenAIServer(responder=echo) as running:
        yield running


def test_answers_in_order_and_sampling_sent(server):
    sampling = SamplingParams(temperature=0.3, top_p=0.9, top_k=7, repetition_penalty=1.1, max_new_tokens=77, seed=5)
    judge = make_judge(server.url, sampling=sampling, concurrency=3)

    assert judge.generate([prompt(str(i)) for i in range(6)]) == [f"echo: {i}" for i in range(6)]
    body = server.chat_requests[0].body
    assert body["model"] == "fake-judge"
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "repetition_penalty", "max_tokens", "seed")} == {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 7,
        "repetition_penalty": 1.1,
        "max_tokens": 77,
        "seed": 5,
    }
    assert judge.stats.as_dict() == {"requests": 6, "retries": 0, "failures": 0, "successes": 6}
    assert isinstance(judge, Judge) and judge.settings()["backend"] == "litellm"


def test_500s_then_success_are_retried_by_us_only(server):
    server.inject("error_500", times=2)
    judge = make_judge(server.url, concurrency=1)

    assert judge.generate([prompt("a")]) == ["echo: a"]
    assert len(server.chat_requests) == 3  # LiteLLM's and the SDK's own retries are off
    assert judge.stats.retries == 2


def test_429_waits_for_retry_after(server):
    server.inject("error_429", times=1, retry_after=1)
    judge = make_judge(server.url)

    assert judge.generate([prompt("x")]) == ["echo: x"]
    first, second = server.chat_requests
    assert second.time - first.time >= 0.95


# The HTTP judge's fault suite (tests/test_openai_http.py), through LiteLLM.
@pytest.mark.parametrize("fault", ["error_500", "error_502", "error_503", "error_408", "drop", "garbage", "bad_shape"])
def test_transient_faults_are_retried(server, fault):
    server.inject(fault, times=2, retry_after=None)
    judge = make_judge(server.url, concurrency=2)

    assert judge.generate([prompt(str(i)) for i in range(3)]) == [f"echo: {i}" for i in range(3)]
    assert judge.stats.retries == 2 and len(server.chat_requests) == 5


@pytest.mark.parametrize("fault", ["error_400", "error_401", "error_404", "error_422"])
def test_client_errors_are_not_retried(server, fault):
    server.inject(fault, times=1)
    (result,) = make_judge(server.url).generate([prompt("x")])

    assert isinstance(result, GenerationError) and (result.kind, result.attempts) == ("http_4xx", 1)
    assert len(server.chat_requests) == 1


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("error_500", "http_5xx"), ("error_429", "http_429"), ("garbage", "bad_response"), ("drop", "connection")],
)
def test_exhausted_retries_give_an_error_of_the_same_kind_as_the_http_judge(server, fault, kind):
    server.inject(fault, times=None, retry_after=0)
    judge = make_judge(server.url, max_retries=2)

    (result,) = judge.generate([prompt("x")])

    assert isinstance(result, GenerationError)
    assert (result.kind, result.attempts) == (kind, 3)
    assert judge.stats.as_dict() == {"requests": 3, "retries": 2, "failures": 1, "successes": 0}
    assert len(server.chat_requests) == 3


def test_no_more_than_concurrency_requests_in_flight(server):
    server.latency = 0.1
    judge = make_judge(server.url, concurrency=3)

    assert all(isinstance(r, str) for r in judge.generate([prompt(str(i)) for i in range(9)]))
    assert server.max_in_flight <= 3


def test_a_stall_times_out_in_place(server):
    server.inject("stall", times=None, match=lambda body: body["messages"][-1]["content"] == "slow")
    judge = make_judge(server.url, timeout=0.5, max_retries=1, concurrency=2)

    start = time.perf_counter()
    results = judge.generate([prompt("a"), prompt("slow")])

    assert time.perf_counter() - start < 30.0
    assert results[0] == "echo: a"
    assert isinstance(results[1], GenerationError) and (results[1].kind, results[1].attempts) == ("timeout", 2)


def test_the_key_is_sent_and_never_logged(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.inject("error_401", times=1, body=KEY)
    judge = make_judge(server.url, api_key=KEY)

    results = judge.generate([prompt("bad"), prompt("good")])

    assert {r.headers.get("Authorization") or r.headers.get("authorization") for r in server.chat_requests} == {
        f"Bearer {KEY}"
    }
    error = next(r for r in results if isinstance(r, GenerationError))
    for text in (caplog.text, repr(judge), str(vars(judge)), json.dumps(judge.settings()), str(error)):
        assert KEY not in text


def test_load_judge_litellm_spec(server):
    judge = load_judge("litellm:openai/fake-judge", api_base=server.url, api_key="sk-none", timeout=5.0)

    assert isinstance(judge, LiteLLMJudge) and judge.model_id == "openai/fake-judge"
    assert judge.generate([prompt("x")]) == ["echo: x"]
