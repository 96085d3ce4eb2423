"""judge_dataset against a real loopback server: incremental output, resume, kill, errors, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from misattribution.io.tables import InputError
from misattribution.judges.openai_http import OpenAIHTTPJudge
from misattribution.runner import RunConfigError, detect_language, judge_dataset, load_results, next_run_path
from misattribution.testing.fake_openai import FakeOpenAIServer


def _question_of(messages) -> str:
    user = messages[-1]["content"]
    return user.split("### Question\n", 1)[1].split("\n\n", 1)[0] if "### Question\n" in user else user


def echo_score_responder(messages) -> str:
    """A judgment whose score is the last digit of the question, so each row's result is checkable."""
    question = _question_of(messages)
    score = int(question.strip()[-1]) % 4
    labels = "None" if score == 3 else "Result Error"
    return f"Feedback: judged {question!r}.\nMisattribution: {labels}\nScore: {score}"


def _rows(n: int) -> list[dict]:
    return [{"id": f"r{i}", "question": f"question number {i}", "answer": f"answer {i}"} for i in range(n)]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def server():
    with FakeOpenAIServer(responder=echo_score_responder) as srv:
        yield srv


def _judge(server, **kwargs) -> OpenAIHTTPJudge:
    options = {"concurrency": 4, "timeout": 5, "max_retries": 2, "backoff_base": 0.01, "backoff_max": 0.05}
    options.update(kwargs)
    return OpenAIHTTPJudge(server.url, model="fake-judge", **options)


def test_results_follow_input_order_and_values(server, tmp_path):
    rows = _rows(23)
    out = tmp_path / "judged.jsonl"
    judged = judge_dataset(rows, _judge(server), out, batch_size=5, progress=False)
    assert list(judged["id"]) == [r["id"] for r in rows]
    assert list(judged["score"]) == [i % 10 % 4 for i in range(23)]
    assert all(judged["status"] == "ok")
    assert [m for m in judged["misattribution"]] == [[] if i % 10 % 4 == 3 else ["result_error"] for i in range(23)]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 23 and len({r["key"] for r in records}) == 23
    meta = json.loads((tmp_path / "judged.jsonl.meta.json").read_text())
    assert meta["model"] == "fake-judge" and meta["taxonomy"]["name"] == "attridata-v1"


def test_rerun_judges_nothing_twice(server, tmp_path):
    out = tmp_path / "judged.jsonl"
    first = judge_dataset(_rows(12), _judge(server), out, batch_size=4, progress=False)
    assert len(server.chat_requests) == 12
    second = judge_dataset(_rows(12), _judge(server), out, batch_size=4, progress=False)
    assert len(server.chat_requests) == 12, "a resumed run sent requests for rows already judged"
    pd.testing.assert_frame_equal(first, second)
    # Two new rows: only they are judged.
    judge_dataset(_rows(14), _judge(server), out, batch_size=4, progress=False)
    assert len(server.chat_requests) == 14


def test_settings_change_the_key_and_a_resume_with_them_is_refused(server, tmp_path):
    from misattribution.judges import SamplingParams

    out = tmp_path / "judged.jsonl"
    first = judge_dataset(_rows(3), _judge(server), out, progress=False)
    greedy = _judge(server, sampling=SamplingParams(greedy=True))
    with pytest.raises(RunConfigError, match=r"judged.jsonl: written by another judge config \(sampling.greedy: false"):
        judge_dataset(_rows(3), greedy, out, progress=False)
    assert len(server.chat_requests) == 3 and len(load_results(out)) == 3, "the refused run sent or wrote nothing"
    again = judge_dataset(_rows(3), greedy, next_run_path(out), progress=False)
    assert len(server.chat_requests) == 6
    assert set(first["judge_key"]).isdisjoint(again["judge_key"])
    assert len(load_results(tmp_path / "judged.run2.jsonl")) == 3


def test_failed_rows_are_recorded_then_retried(server, tmp_path):
    out = tmp_path / "judged.jsonl"
    rows = _rows(6)
    rows[2]["question"] = "poison question 2"
    server.inject("error_500", times=None, match=lambda body: "poison" in json.dumps(body))
    judged = judge_dataset(rows, _judge(server), out, progress=False)
    assert list(judged["status"]) == ["ok", "ok", "error", "ok", "ok", "ok"]
    assert "500" in judged.loc[2, "error"]
    assert judged.loc[2, "score"] is None or pd.isna(judged.loc[2, "score"])
    server.clear_faults()
    before = len(server.chat_requests)
    judged = judge_dataset(rows, _judge(server), out, progress=False)
    assert len(server.chat_requests) == before + 1, "only the failed row is tried again"
    assert list(judged["status"]) == ["ok"] * 6 and judged.loc[2, "score"] == 2 % 4
    assert len(out.read_text().splitlines()) == 7  # the error record stays, superseded by the retry


def test_garbage_output_is_kept_raw_and_flagged(server, tmp_path):
    server.responder = lambda messages: "I cannot decide ¯\\_(ツ)_/¯"
    judged = judge_dataset(_rows(2), _judge(server), tmp_path / "o.jsonl", progress=False)
    assert list(judged["status"]) == ["failed", "failed"]
    assert judged.loc[0, "raw"] == "I cannot decide ¯\\_(ツ)_/¯"
    assert judged.loc[0, "score"] is None or pd.isna(judged.loc[0, "score"])


def test_truncated_last_line_is_dropped_on_resume(server, tmp_path):
    out = tmp_path / "judged.jsonl"
    judge_dataset(_rows(4), _judge(server), out, progress=False)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:3]) + lines[3][:25])  # a kill in the middle of a write
    with pytest.warns(UserWarning, match="incomplete last line"):
        judged = judge_dataset(_rows(4), _judge(server), out, progress=False)
    assert list(judged["status"]) == ["ok"] * 4
    assert len(server.chat_requests) == 5
    assert len(out.read_text().splitlines()) == 4


def test_corrupt_line_names_file_and_line(tmp_path):
    out = tmp_path / "judged.jsonl"
    out.write_text('{"key": "a", "status": "ok"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(InputError, match=r"judged.jsonl: line 2 is not valid JSON"):
        load_results(out)


def test_bad_input_lists_every_problem_with_row_and_field(tmp_path, server):
    path = tmp_path / "rows.jsonl"
    _write_jsonl(
        path,
        [
            {"question": "q", "answer": "a"},
            {"question": "", "answer": "a"},
            {"question": "q", "answer": None},
            {"question": "q", "answer": 7},
        ],
    )
    with pytest.raises(InputError) as info:
        judge_dataset(path, _judge(server), progress=False)
    message = str(info.value)
    assert str(path) in message and "3 problem(s)" in message
    assert "row 1, field 'question': empty" in message
    assert "row 2, field 'answer': missing" in message
    assert "row 3, field 'answer': expected text, got int" in message
    assert server.chat_requests == []


def test_missing_column_and_column_mapping(tmp_path, server):
    path = tmp_path / "rows.csv"
    pd.DataFrame({"instruction": ["What is 1+1? 1"], "response": ["2"], "gold": ["2"]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"(?s)rows.csv.*no column 'question'.*instruction, response, gold"):
        judge_dataset(path, _judge(server), progress=False)
    judged = judge_dataset(
        path,
        _judge(server),
        columns={"question": "instruction", "answer": "response", "reference": "gold"},
        progress=False,
    )
    assert judged.loc[0, "score"] == 1
    user = server.chat_requests[-1].body["messages"][-1]["content"]
    assert "### Reference answer\n2" in user


def test_language_auto_picks_the_prompt_per_row(server, tmp_path):
    rows = [{"question": "3 乘 4 等于多少？3", "answer": "十四"}, {"question": "What is 3 x 4? 3", "answer": "14"}]
    judge_dataset(rows, _judge(server), language="auto", progress=False)
    systems = [r.body["messages"][0]["content"] for r in server.chat_requests]
    assert any("你是一位严谨的" in s for s in systems) and any(s.startswith("You are") for s in systems)
    assert detect_language("") == "en"


def _wait_for_lines(path: Path, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return len(path.read_text().splitlines())
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} lines in {timeout} s")


@pytest.mark.timeout(900)  # the subprocess budgets below, with room: they hold at load 10 on 2 cores
def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    """Kill the CLI with SIGKILL midway; the rerun judges exactly the rows that were not written."""
    rows = _rows(60)
    data = _write_jsonl(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "judged.jsonl"
    # 0.2 s a batch: the 12 batches left after the 12th line take > 2 s, so the kill lands midway even
    # when a loaded machine is slow to deliver it.
    with FakeOpenAIServer(responder=echo_score_responder, latency=0.2) as srv:
        command = [
            sys.executable,
            "-m",
            "misattribution.cli",
            "judge",
            str(data),
            "--endpoint",
            srv.url,
            "--served-model",
            "fake-judge",
            "-o",
            str(out),
            "--batch-size",
            "4",
            "--concurrency",
            "4",
            "--quiet",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _wait_for_lines(out, 12, timeout=240)  # a cold start under load takes a while
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        written = load_results(out)
        assert 12 <= len(written) < 60, "the kill should land midway"
        first_run_requests = len(srv.chat_requests)
        srv.reset()

        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
        assert finished.returncode == 0, finished.stderr
        second_questions = sorted(_question_of(r.body["messages"]) for r in srv.chat_requests)

    records = [json.loads(line) for line in out.read_text().splitlines()]
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == 60, "every row exactly once in the results file"
    assert sorted(r["id"] for r in records) == sorted(r["id"] for r in rows)
    assert all(r["status"] == "ok" for r in records)
    assert all(r["score"] == int(r["id"][1:]) % 10 % 4 for r in records)
    expected_second = sorted(f"question number {r['row']}" for r in records if r["key"] not in written)
    assert second_questions == expected_second, "the rerun judged exactly the rows that were missing"
    assert first_run_requests - len(written) <= 4, "at most one batch in flight was lost to the kill"
    assert "judged rows       60" in finished.stdout
