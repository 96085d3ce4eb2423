"""The vLLM backend: sampling mapping, the missing-extra error and the wrapper logic run on CPU; a real
run needs vLLM and a GPU and is skipped otherwise."""

from __future__ import annotations

import json
import os
import sys
import types

import pytest

from misattribution.judges.base import GenerationError, Judge, SamplingParams
from misattribution.judges.vllm import VLLMJudge, vllm_sampling_kwargs

PROMPTS = [
    [{"role": "user", "content": "Score: 5"}],
    [{"role": "system", "content": "You are an evaluator."}, {"role": "user", "content": "反馈：回答误解了问题。"}],
    [{"role": "user", "content": "Feedback: the format is wrong."}],
]


@pytest.mark.parametrize(
    ("sampling", "expected"),
    [
        (
            SamplingParams(),  # the paper's settings
            {
                "temperature": 0.8,
                "top_p": 0.8,
                "top_k": 20,
                "repetition_penalty": 1.03,
                "max_tokens": 512,
                "seed": None,
            },
        ),
        (
            SamplingParams(greedy=True, max_new_tokens=64),  # greedy is temperature 0, other knobs neutral
            {"temperature": 0.0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.03, "max_tokens": 64, "seed": None},
        ),
        (
            SamplingParams(temperature=0.5, top_p=0.9, top_k=0, repetition_penalty=1.0, seed=7),  # top_k 0: off
            {"temperature": 0.5, "top_p": 0.9, "top_k": -1, "repetition_penalty": 1.0, "max_tokens": 512, "seed": 7},
        ),
    ],
)
def test_sampling_params_map_to_vllm(sampling, expected):
    assert vllm_sampling_kwargs(sampling) == expected


def test_missing_vllm_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail even where it is installed
    with pytest.raises(ImportError, match=r"pip install 'misattribution\[vllm\]'"):
        VLLMJudge("any/model")


class _FakeLLM:
    """Just enough of ``vllm.LLM`` to exercise the wrapper: echoes the last message, fails on "BOOM"."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls = []

    def chat(self, conversations, sampling_params, **kwargs):
        self.calls.append((len(conversations), kwargs))
        if any("BOOM" in message["content"] for conversation in conversations for message in conversation):
            raise ValueError("prompt is longer than max_model_len")
        return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=c[-1]["content"])]) for c in conversations]


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = _FakeLLM
    module.SamplingParams = lambda **kwargs: kwargs
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_wrapper_passes_settings_and_keeps_order(fake_vllm):
    judge = VLLMJudge("org/judge", sampling=SamplingParams(greedy=True), max_model_len=4096)
    assert isinstance(judge, Judge)
    assert judge.llm.kwargs["trust_remote_code"] is False
    assert (judge.llm.kwargs["model"], judge.llm.kwargs["max_model_len"]) == ("org/judge", 4096)
    assert judge._sampling_params["temperature"] == 0.0
    assert judge.generate(PROMPTS) == [prompt[-1]["content"] for prompt in PROMPTS]
    assert judge.llm.calls == [(3, {"use_tqdm": False, "chat_template": None, "add_generation_prompt": True})]
    settings = judge.settings()
    assert json.loads(json.dumps(settings)) == settings
    assert (settings["backend"], settings["sampling"]["greedy"]) == ("vllm", True)


def test_a_failing_prompt_comes_back_as_an_error_in_place(fake_vllm):
    judge = VLLMJudge("org/judge", trust_remote_code=True)
    assert judge.llm.kwargs["trust_remote_code"] is True
    prompts = [PROMPTS[0], [{"role": "user", "content": "BOOM"}], PROMPTS[2]]
    results = judge.generate(prompts)
    assert results[0] == "Score: 5" and results[2] == "Feedback: the format is wrong."
    assert results[1] == GenerationError("ValueError: prompt is longer than max_model_len")
    assert results[1].attempts == 2


def test_real_vllm_on_the_tiny_model(request):
    pytest.importorskip(
        "vllm", reason="vLLM is not installed (it needs a CUDA GPU): pip install 'misattribution[vllm]'"
    )
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vLLM needs a CUDA GPU")
    tiny_model_dir = request.getfixturevalue("tiny_model_dir")  # built only when the test can run
    judge = VLLMJudge(
        str(tiny_model_dir),
        sampling=SamplingParams(greedy=True, max_new_tokens=12),
        max_model_len=512,
        gpu_memory_utilization=0.2,
        engine_kwargs={"enforce_eager": True},
    )
    texts = judge.generate(PROMPTS)
    assert len(texts) == len(PROMPTS) and all(isinstance(text, str) for text in texts)
    assert judge.generate(PROMPTS) == texts


def test_the_cli_with_a_vllm_model_and_no_vllm_exits_2_naming_the_extra(tmp_path):
    """`judge --model vllm:X` once passed `device=` to VLLMJudge (a TypeError traceback, in any install)."""
    import subprocess

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "r1", "question": "2+2?", "answer": "4"}\n', encoding="utf-8")
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "vllm.py").write_text("raise ImportError('vllm is hidden for this test')\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(blocker), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "misattribution",
            "judge",
            str(rows),
            "--model",
            "vllm:any/model",
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "TypeError" not in done.stderr
    assert "misattribution[vllm]" in done.stderr
    assert not (tmp_path / "o.jsonl").exists()
