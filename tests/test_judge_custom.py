"""Custom Python judges by ``module:function`` (``--judge``), and the CLI's remote ``--model`` specs."""

from __future__ import annotations

import json
import socket
import sys

import pytest

from misattribution.cli import main
from misattribution.judges import Judge, load_judge
from misattribution.judges.base import GenerationError, SamplingParams
from misattribution.judges.custom import CallableJudge, load_custom_judge
from misattribution.testing.fake_openai import DEFAULT_REPLY, FakeOpenAIServer

pytestmark = pytest.mark.timeout(180)

JUDGES_PY = """
from misattribution.judges.base import SamplingParams

GOOD = "Feedback: {q}\\nMisattribution: None\\nScore: 3"
calls = []


def fixed(messages):
    calls.append(messages)
    return GOOD.format(q=messages[-1]["content"][:20].replace("\\n", " "))


def with_sampling(messages, sampling):
    return f"temperature {sampling.temperature}"


def flaky(messages):
    if "boom" in messages[-1]["content"]:
        raise RuntimeError("model crashed on this one")
    return "Score: 3"


def not_text(messages):
    return 3


class EchoJudge:
    def __init__(self, sampling: SamplingParams | None = None):
        self.model_id = "echo-judge"
        self.sampling = sampling

    def settings(self):
        return {"backend": "echo", "greedy": bool(self.sampling and self.sampling.greedy)}

    def generate(self, prompts):
        return ["Feedback: ok\\nMisattribution: None\\nScore: 3" for _ in prompts]


def make_judge():
    return EchoJudge()


def make_nothing():
    return "not a judge"


instance = EchoJudge()
NUMBER = 7
"""


@pytest.fixture
def judges_module(tmp_path, monkeypatch):
    """``my_judges.py`` in a fresh current directory, as a user would write it beside the data."""
    name = f"my_judges_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(JUDGES_PY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader adds the cwd: undone after the test
    yield name
    sys.modules.pop(name, None)


def prompt(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_a_prompt_function_is_called_once_per_prompt(judges_module):
    judge = load_custom_judge(f"{judges_module}:fixed")

    assert isinstance(judge, CallableJudge) and isinstance(judge, Judge)
    assert judge.generate([prompt("one"), prompt("two")]) == [
        "Feedback: one\nMisattribution: None\nScore: 3",
        "Feedback: two\nMisattribution: None\nScore: 3",
    ]
    assert judge.model_id == f"{judges_module}:fixed"
    assert judge.settings()["backend"] == "custom"
    assert len(sys.modules[judges_module].calls) == 2


def test_a_sampling_parameter_receives_the_sampling(judges_module):
    judge = load_custom_judge(f"{judges_module}:with_sampling", sampling=SamplingParams(temperature=0.25))
    assert judge.generate([prompt("x")]) == ["temperature 0.25"]


def test_an_exception_or_a_non_text_is_that_rows_error_only(judges_module):
    results = load_custom_judge(f"{judges_module}:flaky").generate([prompt("fine"), prompt("boom"), prompt("ok")])

    assert results[0] == results[2] == "Score: 3"
    assert isinstance(results[1], GenerationError) and results[1].kind == "custom_error"
    assert "RuntimeError: model crashed on this one" in str(results[1])
    (bad,) = load_custom_judge(f"{judges_module}:not_text").generate([prompt("x")])
    assert isinstance(bad, GenerationError) and "returned int" in str(bad)


@pytest.mark.parametrize("attribute", ["EchoJudge", "make_judge", "instance"])
def test_a_judge_class_factory_or_object_is_used_as_it_is(judges_module, attribute):
    judge = load_custom_judge(f"{judges_module}:{attribute}", sampling=SamplingParams(greedy=True))

    assert type(judge).__name__ == "EchoJudge" and judge.model_id == "echo-judge"
    if attribute == "EchoJudge":
        assert judge.settings()["greedy"] is True  # the class accepted sampling=


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon_here", "not MODULE:FUNCTION"),
        ("bad-name:fn", "not MODULE:FUNCTION"),
        ("surely_missing_module_xyz:fn", "cannot import surely_missing_module_xyz"),
        ("{m}:missing", "has no attribute missing"),
        ("{m}:NUMBER", "neither a function nor a Judge"),
        ("{m}:make_nothing", "returned str, not a Judge"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(judges_module, spec, message):
    with pytest.raises(ValueError, match=message):
        load_custom_judge(spec.format(m=judges_module))


def test_load_judge_never_imports_a_module_spec(judges_module):
    # Only --judge / load_custom_judge import code: a module:function given as a model spec is not run.
    with pytest.raises(Exception) as refused:  # noqa: PT011 - transformers' own error for a missing model
        load_judge(f"{judges_module}:fixed")
    assert judges_module not in sys.modules
    assert not isinstance(refused.value, AttributeError)


# -- the CLI ------------------------------------------------------------------------------------------
def write_rows(path, n: int = 3):
    rows = [{"id": f"r{i}", "question": f"question {i}?", "answer": f"answer {i}"} for i in range(n)]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def test_cli_judge_with_a_custom_function(judges_module, tmp_path, capsys):
    rows = write_rows(tmp_path / "rows.jsonl")
    out = tmp_path / "judged.jsonl"

    code = main(["judge", str(rows), "--judge", f"{judges_module}:fixed", "-o", str(out), "--quiet"])

    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3 and {r["status"] for r in records} == {"ok"}
    meta = json.loads((tmp_path / "judged.jsonl.meta.json").read_text())
    assert "custom" in json.dumps(meta) and "summary: 3 rows: 3 ok" in capsys.readouterr().out


def test_cli_refuses_a_bad_judge_spec_in_one_line(judges_module, tmp_path, capsys):
    rows = write_rows(tmp_path / "rows.jsonl")

    code = main(["judge", str(rows), "--judge", "surely_missing_module_xyz:fn", "-o", str(tmp_path / "o.jsonl")])

    assert code == 2
    err = capsys.readouterr().err
    assert "--judge surely_missing_module_xyz:fn: cannot import" in err and "Traceback" not in err


def test_cli_judge_and_model_are_exclusive(judges_module, tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl")
    with pytest.raises(SystemExit):
        main(["judge", str(rows), "--judge", f"{judges_module}:fixed", "--model", "x", "-o", "o.jsonl"])


def test_cli_model_hf_url_goes_through_the_inference_client(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # it would refuse even 127.0.0.1
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        from huggingface_hub.utils import _detect_agent
    except ImportError:
        pass
    else:  # no daily registry fetch from the Hub
        monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}})
    original = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        assert host in ("127.0.0.1", "localhost"), f"tried to reach {host}"
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    monkeypatch.setenv("HF_TOKEN", "hf_cli_test_token_123")
    monkeypatch.setenv("MISATTRIBUTION_API_KEY", "key-for-the-endpoint-not-for-hf")  # --api-key-env's default
    rows = write_rows(tmp_path / "rows.jsonl")
    out = tmp_path / "judged.jsonl"
    with FakeOpenAIServer() as server:
        code = main(["judge", str(rows), "--model", "hf:" + server.url, "-o", str(out), "--quiet", "--timeout", "5"])

        assert code == 0
        assert {r.headers.get("authorization") for r in server.chat_requests} == {"Bearer hf_cli_test_token_123"}
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok"] * 3
    meta = (tmp_path / "judged.jsonl.meta.json").read_text()
    assert "hf_inference" in meta and "hf_cli_test_token_123" not in meta + out.read_text()
    assert DEFAULT_REPLY.splitlines()[-1] == "Score: 3"


def test_the_readme_custom_judge_example_runs(tmp_path, monkeypatch, capsys):
    """The README's "Backends" section: its my_judges.py block and its --judge command, as written."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Backends", 1)[1].split("\n### ", 1)[0]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    (command,) = [line for line in section.splitlines() if "--judge my_judges:my_judge" in line]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "my_judges.py").write_text(block)
    write_rows(tmp_path / "rows.jsonl")
    try:
        assert main(command.split()[1:] + ["--quiet"]) == 0
    finally:
        sys.modules.pop("my_judges", None)
    statuses = [json.loads(line)["status"] for line in (tmp_path / "judged.jsonl").read_text().splitlines()]
    assert statuses == ["ok"] * 3
