"""HFInferenceJudge: the real ``huggingface_hub.InferenceClient`` against the loopback OpenAI server.

``InferenceClient(base_url=server.url)`` sends real HTTP to 127.0.0.1; faults are scripted on the server.
No test leaves the machine: every name lookup other than 127.0.0.1 fails the test, and
``huggingface_hub``'s agent registry (which it fetches from the Hub once a day to build its user agent)
is preset to empty. ``HF_HUB_OFFLINE`` cannot do that job: it makes ``InferenceClient`` refuse every
request, even to 127.0.0.1, so it is unset here (other test modules set it at import).
"""

from __future__ import annotations

import json
import logging
import socket
import time

import pandas as pd
import pytest

from misattribution.format import parse_judgment
from misattribution.judges import Judge, load_judge
from misattribution.judges.base import GenerationError, SamplingParams
from misattribution.judges.hf_inference import HFInferenceJudge
from misattribution.testing.fake_openai import FakeOpenAIServer

pytestmark = pytest.mark.timeout(180)

TOKEN = "hf_test_9c1e5b7f3aQZ"


def prompt(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You are a judge."}, {"role": "user", "content": text}]


def echo(messages: list[dict[str, str]]) -> str:
    return "echo: " + messages[-1]["content"]


def make_judge(url: str, **kwargs) -> HFInferenceJudge:
    """A judge on the loopback server with test-speed retries and no token (unless given)."""
    options = {"api_key": "", "timeout": 5.0, "backoff_base": 0.01, "backoff_max": 2.0, **kwargs}
    return HFInferenceJudge("fake-judge", base_url=url, **options)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Only 127.0.0.1 may be resolved; huggingface_hub's agent registry is preset (no fetch)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        from huggingface_hub.utils import _detect_agent
    except ImportError:  # an older huggingface_hub, which has no registry
        pass
    else:
        monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}})
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


# -- success ----------------------------------------------------------------------------------------
def test_answers_come_back_in_order_through_the_real_inference_client(server):
    server.latency = 0.1  # long enough that the 4 threads overlap even on a loaded machine
    judge = make_judge(server.url, concurrency=4)
    texts = [f"prompt {i}" for i in range(12)]

    assert judge.generate([prompt(t) for t in texts]) == [f"echo: {t}" for t in texts]
    assert judge.stats.as_dict() == {"requests": 12, "retries": 0, "failures": 0, "successes": 12}
    assert 1 < server.max_in_flight <= 4
    assert {r.path for r in server.chat_requests} == {"/v1/chat/completions"}
    assert isinstance(judge, Judge) and judge.model_id == "fake-judge"


def test_sampling_goes_into_the_request(server):
    sampling = SamplingParams(temperature=0.3, top_p=0.9, top_k=7, repetition_penalty=1.1, max_new_tokens=77, seed=5)
    make_judge(server.url, sampling=sampling).generate([prompt("x")])

    body = server.chat_requests[0].body
    assert body["model"] == "fake-judge" and body["messages"] == prompt("x")
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "repetition_penalty", "max_tokens", "seed")} == {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 7,
        "repetition_penalty": 1.1,
        "max_tokens": 77,
        "seed": 5,
    }


def test_greedy_and_extra_body(server):
    judge = make_judge(server.url, sampling=SamplingParams(greedy=True), extra_body={"repetition_penalty": None})
    judge.generate([prompt("x")])

    body = server.chat_requests[0].body
    assert body["temperature"] == 0
    assert "top_p" not in body and "top_k" not in body and "repetition_penalty" not in body


def test_empty_batch_sends_nothing(server):
    assert make_judge(server.url).generate([]) == []
    assert server.requests == []


# -- retries ----------------------------------------------------------------------------------------
def test_500s_then_success_are_retried(server):
    server.inject("error_500", times=2)
    judge = make_judge(server.url, concurrency=1)

    assert judge.generate([prompt("a"), prompt("b")]) == ["echo: a", "echo: b"]
    assert [r.fault for r in server.chat_requests] == ["error_500", "error_500", None, None]
    assert judge.stats.as_dict() == {"requests": 4, "retries": 2, "failures": 0, "successes": 2}


@pytest.mark.parametrize("fault", ["error_502", "error_503", "error_408", "drop", "garbage", "bad_shape"])
def test_transient_faults_are_retried(server, fault):
    server.inject(fault, times=2, retry_after=None)
    judge = make_judge(server.url, concurrency=2)

    assert judge.generate([prompt(str(i)) for i in range(3)]) == [f"echo: {i}" for i in range(3)]
    assert judge.stats.retries == 2 and len(server.chat_requests) == 5


def test_429_waits_for_retry_after(server):
    server.inject("error_429", times=1, retry_after=1)
    judge = make_judge(server.url)

    assert judge.generate([prompt("x")]) == ["echo: x"]

    first, second = server.chat_requests
    assert first.fault == "error_429" and second.fault is None
    assert second.time - first.time >= 0.95  # Retry-After: 1, not the 0.01 s backoff
    # The wait chosen is Retry-After plus at most one backoff_base of jitter, capped by backoff_max.
    assert all(1.0 <= judge._policy.delay(1, 1.0) <= 1.0 + judge.backoff_base for _ in range(50))
    assert all(judge._policy.delay(1, 120.0) <= judge.backoff_max for _ in range(50))


def test_503_retry_after_http_date_is_honoured(server):
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    retry_at = (datetime.now(timezone.utc) + timedelta(seconds=3)).replace(microsecond=0)
    server.inject("error_503", times=1, retry_after=format_datetime(retry_at, usegmt=True))
    judge = make_judge(server.url, backoff_max=10.0)

    assert judge.generate([prompt("x")]) == ["echo: x"]
    first, second = server.chat_requests
    wall_minus_monotonic = time.time() - time.monotonic()
    assert second.time + wall_minus_monotonic >= retry_at.timestamp() - 0.05
    assert first.fault == "error_503" and second.fault is None


@pytest.mark.parametrize("fault", ["error_400", "error_401", "error_404", "error_422"])
def test_client_errors_are_not_retried(server, fault):
    server.inject(fault, times=1)
    judge = make_judge(server.url)

    (result,) = judge.generate([prompt("x")])

    assert isinstance(result, GenerationError)
    assert (result.kind, result.attempts) == ("http_4xx", 1)
    assert fault[-3:] in str(result) and len(server.chat_requests) == 1


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


def test_refused_connection_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    judge = make_judge(f"http://127.0.0.1:{port}/v1", max_retries=1)

    (result,) = judge.generate([prompt("x")])

    assert isinstance(result, GenerationError) and (result.kind, result.attempts) == ("connection", 2)


# -- stalls -----------------------------------------------------------------------------------------
def test_a_stall_beyond_the_timeout_is_retried(server):
    server.inject("stall", times=1)
    judge = make_judge(server.url, timeout=0.5)

    assert judge.generate([prompt(str(i)) for i in range(3)]) == [f"echo: {i}" for i in range(3)]
    assert judge.stats.retries == 1


def test_an_item_that_always_stalls_times_out_in_place(server):
    server.inject("stall", times=None, match=lambda body: body["messages"][-1]["content"] == "slow")
    judge = make_judge(server.url, timeout=0.5, max_retries=1, concurrency=3)
    texts = ["a", "slow", "b"]

    start = time.perf_counter()
    results = judge.generate([prompt(t) for t in texts])

    assert time.perf_counter() - start < 30.0  # not the server's hour-long stall
    assert results[0] == "echo: a" and results[2] == "echo: b"
    assert isinstance(results[1], GenerationError) and (results[1].kind, results[1].attempts) == ("timeout", 2)


# -- garbage output: parsed leniently, like every backend's ---------------------------------------------
def test_garbage_text_is_kept_raw_and_marked_failed_by_the_runner(server, tmp_path):
    from misattribution.runner import judge_dataset

    server.responder = lambda messages: "lorem ipsum <|im_end|> 42 ###"
    rows = pd.DataFrame(
        {"id": ["r1", "r2"], "question": ["What is 2+2?", "Capital of France?"], "answer": ["4", "Paris"]}
    )

    judged = judge_dataset(rows, make_judge(server.url), tmp_path / "judged.jsonl", progress=False)

    assert list(judged["status"]) == ["failed", "failed"]
    assert parse_judgment("lorem ipsum <|im_end|> 42 ###").score is None
    record = json.loads((tmp_path / "judged.jsonl").read_text().splitlines()[0])
    assert "lorem ipsum" in json.dumps(record)  # the raw text is kept, never turned into a score


def test_a_well_formed_judgment_is_parsed(server, tmp_path):
    from misattribution.runner import judge_dataset

    server.responder = lambda messages: "Feedback: 2+2 is 5, wrong.\nMisattribution: Result Error\nScore: 1"
    rows = pd.DataFrame({"id": ["r1"], "question": ["What is 2+2?"], "answer": ["5"]})

    judged = judge_dataset(rows, make_judge(server.url), tmp_path / "judged.jsonl", progress=False)

    assert list(judged["status"]) == ["ok"] and list(judged["score"]) == [1]


# -- the token ----------------------------------------------------------------------------------------
def test_the_token_is_sent_as_bearer_and_never_logged_or_shown(server, caplog):
    caplog.set_level(logging.DEBUG)  # every logger: huggingface_hub, httpx(2), httpcore(2), ours
    server.inject("error_500", times=1)
    # The server echoes the token back in a 401 body, as some providers do.
    server.inject("error_401", times=1, match=lambda body: body["messages"][-1]["content"] == "bad", body=TOKEN)
    judge = make_judge(server.url, api_key=TOKEN, concurrency=1)

    results = judge.generate([prompt("good"), prompt("bad")])

    assert {r.headers.get("authorization") or r.headers.get("Authorization") for r in server.chat_requests} == {
        f"Bearer {TOKEN}"
    }
    assert results[0] == "echo: good"
    error = results[1]
    assert isinstance(error, GenerationError) and error.kind == "http_4xx"
    assert "Attempt 1 failed" in caplog.text and "HTTP Request" in caplog.text  # the logs were captured...
    shown = [caplog.text, repr(judge), str(judge), str(vars(judge)), json.dumps(judge.settings())]
    shown += [str(error), repr(error), repr(error.args), str(judge.stats)]
    for text in shown:
        assert TOKEN not in text  # ...without the token
    assert "***" in str(error)


def test_the_token_comes_from_hf_token(server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("MISATTRIBUTION_API_KEY", raising=False)
    HFInferenceJudge("fake-judge", base_url=server.url, timeout=5.0).generate([prompt("x")])
    monkeypatch.setenv("MISATTRIBUTION_API_KEY", "from-own-env")
    HFInferenceJudge("fake-judge", base_url=server.url, api_key_env="MISATTRIBUTION_API_KEY").generate([prompt("y")])

    sent = [r.headers.get("authorization") or r.headers.get("Authorization") for r in server.chat_requests]
    assert sent == [f"Bearer {TOKEN}", "Bearer from-own-env"]


def test_hf_hub_offline_is_a_clear_error_not_retried(server, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    judge = make_judge(server.url)

    (result,) = judge.generate([prompt("x")])

    assert isinstance(result, GenerationError) and (result.kind, result.attempts) == ("offline", 1)
    assert "HF_HUB_OFFLINE" in str(result) and server.requests == []


# -- load_judge, settings, refusals -------------------------------------------------------------------
def test_load_judge_hf_url_asks_the_served_model_with_the_token(server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    server.model = "served-judge"

    judge = load_judge("hf:" + server.url, timeout=5.0)

    assert isinstance(judge, HFInferenceJudge) and judge.model_id == "served-judge"
    assert judge.generate([prompt("x")]) == ["echo: x"]
    (models,) = [r for r in server.requests if r.method == "GET"]
    assert models.headers.get("Authorization") == f"Bearer {TOKEN}"
    assert server.chat_requests[0].body["model"] == "served-judge"


def test_load_judge_hf_model_and_provider_sends_nothing():
    judge = load_judge("hf:Qwen/Qwen2.5-7B-Instruct:together", api_key="", sampling=SamplingParams(greedy=True))

    assert (judge.model_id, judge.provider, judge.base_url) == ("Qwen/Qwen2.5-7B-Instruct", "together", None)
    settings = judge.settings()
    assert settings["backend"] == "hf_inference" and settings["provider"] == "together"
    assert settings["sampling"]["greedy"] is True and json.loads(json.dumps(settings)) == settings


def test_the_run_config_names_the_backend_and_no_url(server):
    from misattribution.runner import run_config

    config = run_config(make_judge(server.url, api_key=TOKEN))

    assert config["backend"] == "hf_inference" and config["model"] == "fake-judge"
    assert str(server.port) not in json.dumps(config) and TOKEN not in json.dumps(config)


@pytest.mark.parametrize(
    "bad", ["ftp://host/v1", "http://", "http://host/v1?token=abc", "http://alice:pw12345@host/v1", "http://[::1"]
)
def test_bad_base_urls_are_refused_without_showing_secrets(bad):
    with pytest.raises(ValueError, match="base_url") as refused:
        make_judge(bad)
    assert "abc" not in str(refused.value) and "pw12345" not in str(refused.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"concurrency": 0}, "concurrency"), ({"timeout": 0}, "timeout"), ({"max_retries": -1}, "max_retries")],
)
def test_bad_options_are_refused(server, options, message):
    with pytest.raises(ValueError, match=message):
        make_judge(server.url, **options)
