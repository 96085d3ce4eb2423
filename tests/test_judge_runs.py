"""Faults of a judge run, end to end through the CLI against a real loopback OpenAI server.

Each case asserts the exit code, that the message names the place (file, option, field, row), and
that nothing was lost: a refused run leaves the results file byte for byte as it was and sends no
chat request; a run with failed rows keeps every row it did judge and retries only the failed ones.

Exit codes: 0 done, 1 rows without a judgment (after the summary line), 2 refused before judging,
130 Ctrl-C. Real processes are used where the fault is about processes: a second writer holding the
lock, SIGINT, SIGKILL, ``-v`` logging.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from misattribution.cli import main
from misattribution.judges import load_judge
from misattribution.judges.openai_http import OpenAIHTTPJudge, served_model
from misattribution.runner import (
    RunConfigError,
    RunLockedError,
    _create_exclusive,
    judge_dataset,
    load_results,
    lock_path,
    meta_path,
    output_lock,
)
from misattribution.testing.fake_openai import FakeOpenAIServer

# Subprocess runs start a fresh interpreter (pandas, httpx, ...): seconds idle, far more at load 10.
pytestmark = pytest.mark.timeout(600)
SPAWN_TIMEOUT = 240
PASSWORD = "s3cret-pa55word"
API_KEY = "sk-secret-0123456789"


def question_of(messages) -> str:
    user = messages[-1]["content"]
    return user.split("### Question\n", 1)[1].split("\n\n", 1)[0]


def score_responder(messages) -> str:
    """Score = the last digit of the question mod 4, so each saved row's result is checkable."""
    score = int(question_of(messages)[-1]) % 4
    return f"Feedback: judged.\nMisattribution: {'None' if score == 3 else 'Result Error'}\nScore: {score}"


def rows(n: int) -> list[dict]:
    return [{"id": f"r{i}", "question": f"question number {i}", "answer": f"answer {i}"} for i in range(n)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server():
    with FakeOpenAIServer(responder=score_responder) as srv:
        yield srv


@pytest.fixture
def data(tmp_path) -> Path:
    return write_jsonl(tmp_path / "rows.jsonl", rows(6))


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch):
    for name in ("MISATTRIBUTION_API_KEY", "OPENAI_API_KEY", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def judge_argv(data: Path, url: str, out: Path, *extra: str) -> list[str]:
    return ["judge", str(data), "--endpoint", url, "-o", str(out), "--quiet", "--max-retries", "1", *extra]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(out: Path) -> tuple[bytes, bytes]:
    """The results file and its meta, byte for byte (empty when absent)."""
    return (
        out.read_bytes() if out.exists() else b"",
        meta_path(out).read_bytes() if meta_path(out).exists() else b"",
    )


def assert_one_error_line(err: str, *places: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("misattribution judge: error: "), err
    assert "Traceback" not in err and "hint:" in err, err
    for place in places:
        assert place in err, (place, err)


def cli_command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "misattribution", *argv]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MISATTRIBUTION_API_KEY", "OPENAI_API_KEY", "HF_TOKEN")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def wait_for(condition, timeout: float = SPAWN_TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout} s")


def line_count(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


# -- a resume with another judge config is refused, naming the field --------------------------------
CONFIG_CHANGES = [
    (["--temperature", "0.5"], "sampling.temperature: 0.8 -> 0.5"),
    (["--top-p", "0.9"], "sampling.top_p: 0.8 -> 0.9"),
    (["--top-k", "5"], "sampling.top_k: 20 -> 5"),
    (["--repetition-penalty", "1.1"], "sampling.repetition_penalty: 1.03 -> 1.1"),
    (["--max-new-tokens", "64"], "sampling.max_new_tokens: 512 -> 64"),
    (["--greedy"], "sampling.greedy: false -> true"),
    (["--seed", "3"], "sampling.seed: null -> 3"),
    (["--served-model", "other-judge"], 'served_model: "fake-judge" -> "other-judge"'),
    (["--order", "score,feedback"], 'order: ["feedback", "misattribution", "score"] -> ["score", "feedback"]'),
    (["--taxonomy", "misattributionllm-2024"], 'taxonomy.name: "attridata-v1" -> "misattributionllm-2024"'),
    (["--language", "zh"], 'prompt.language: "en" -> "zh"'),
]


@pytest.mark.parametrize(("extra", "change"), CONFIG_CHANGES, ids=[c[0][0] for c in CONFIG_CHANGES])
def test_a_resume_with_another_config_is_refused_naming_the_field(server, data, tmp_path, capsys, extra, change):
    out = tmp_path / "judged.jsonl"
    assert run(judge_argv(data, server.url, out, "--served-model", "fake-judge"), capsys)[0] == 0
    before, requests = snapshot(out), len(server.chat_requests)

    argv = judge_argv(data, server.url, out, "--served-model", "fake-judge", *extra)
    if extra[0] == "--served-model":
        argv = judge_argv(data, server.url, out, *extra)
    code, _, err = run(argv, capsys)

    assert code == 2
    assert_one_error_line(err, f"{out}: written by another judge config", change, "--new-run to write")
    assert str(tmp_path / "judged.run2.jsonl") in err
    assert len(server.chat_requests) == requests, "a refused run sent a request"
    assert snapshot(out) == before, "a refused run changed the results or their meta"


def test_a_resume_with_another_backend_is_refused(server, tmp_path):
    class OtherBackend:  # another backend on the same served name: the results would mix
        model_id = "fake-judge"

        def settings(self):
            return {"backend": "my_backend", "sampling": {}}

        def generate(self, prompts):
            raise AssertionError("must not be called")

    out = tmp_path / "judged.jsonl"
    judge_dataset(rows(3), OpenAIHTTPJudge(server.url, model="fake-judge"), out, progress=False)
    before = snapshot(out)
    with pytest.raises(RunConfigError, match=r'judged.jsonl: .*backend: "openai_http" -> "my_backend"') as info:
        judge_dataset(rows(3), OtherBackend(), out, progress=False)
    assert any(c.startswith("backend:") for c in info.value.changes)
    assert snapshot(out) == before


def test_a_resume_after_a_prompt_change_is_refused(server, data, tmp_path, capsys):
    """A results file written with other prompt templates (recorded fingerprint differs) is refused."""
    out = tmp_path / "judged.jsonl"
    assert run(judge_argv(data, server.url, out, "--served-model", "fake-judge"), capsys)[0] == 0
    meta = json.loads(meta_path(out).read_text())
    recorded = meta["config"]["prompt"]["sha256"]
    meta["config"]["prompt"]["sha256"] = "0123456789abcdef"  # what an older template rendered to
    meta_path(out).write_text(json.dumps(meta))
    before = snapshot(out)

    code, _, err = run(judge_argv(data, server.url, out, "--served-model", "fake-judge"), capsys)

    assert code == 2
    assert_one_error_line(err, str(out), f'prompt.sha256: "0123456789abcdef" -> "{recorded}"')
    assert snapshot(out) == before and len(server.chat_requests) == 6


def test_the_same_config_resumes_without_a_request(server, data, tmp_path, capsys):
    out = tmp_path / "judged.jsonl"
    argv = judge_argv(data, server.url, out, "--temperature", "0.3")
    assert run(argv, capsys)[0] == 0
    requests = len(server.chat_requests)
    code, stdout, _ = run(argv, capsys)
    assert code == 0 and "summary: 6 rows: 6 ok, 0 partial, 0 failed, 0 error" in stdout
    assert len(server.chat_requests) == requests
    assert json.loads(meta_path(out).read_text())["config"]["sampling"]["temperature"] == 0.3


def test_a_results_file_from_before_configs_were_recorded_is_checked_with_what_its_meta_says(
    server, data, tmp_path, capsys
):
    out = tmp_path / "judged.jsonl"
    assert run(judge_argv(data, server.url, out), capsys)[0] == 0
    sampling = json.loads(meta_path(out).read_text())["config"]["sampling"]
    legacy = {  # the meta file as the previous version wrote it
        "misattribution_version": "0.1.0",
        "input": str(data),
        "model": "fake-judge",
        "settings": {"backend": "openai_http", "model": "fake-judge", "sampling": sampling, "extra_body": {}},
        "taxonomy": {"name": "attridata-v1", "version": "1.0"},
        "language": "en",
        "order": ["feedback", "misattribution", "score"],
    }
    meta_path(out).write_text(json.dumps(legacy))
    results = out.read_bytes()

    code, _, err = run(judge_argv(data, server.url, out, "--temperature", "0.5"), capsys)
    assert code == 2 and "sampling.temperature: 0.8 -> 0.5" in err
    assert out.read_bytes() == results and len(server.chat_requests) == 6

    code, stdout, _ = run(judge_argv(data, server.url, out), capsys)  # the same config resumes
    assert code == 0 and "summary: 6 rows: 6 ok" in stdout and len(server.chat_requests) == 6
    assert "config" in json.loads(meta_path(out).read_text()), "the meta now records the full config"


# -- --new-run ------------------------------------------------------------------------------------
def test_new_run_writes_a_separate_file_and_says_which(server, data, tmp_path, capsys):
    out = tmp_path / "judged.jsonl"
    assert run(judge_argv(data, server.url, out), capsys)[0] == 0
    before = snapshot(out)

    code, stdout, err = run(judge_argv(data, server.url, out, "--temperature", "0.5", "--new-run"), capsys)

    second = tmp_path / "judged.run2.jsonl"
    assert code == 0
    assert f"new run: writing {second} (to resume this run later, pass -o {second})" in err
    assert f"results: {second}" in stdout
    assert snapshot(out) == before, "the earlier run's file is kept as it was"
    assert len(load_results(second)) == 6
    assert json.loads(meta_path(second).read_text())["config"]["sampling"]["temperature"] == 0.5


def test_new_run_twice_takes_the_next_free_name(server, data, tmp_path, capsys):
    out = tmp_path / "judged.jsonl"
    for _ in range(3):
        assert run(judge_argv(data, server.url, out, "--new-run"), capsys)[0] == 0
    # The first --new-run found no file and wrote -o itself; the others took run2 and run3.
    assert [len(load_results(p)) for p in (out, tmp_path / "judged.run2.jsonl", tmp_path / "judged.run3.jsonl")] == [
        6,
        6,
        6,
    ]
    assert not (tmp_path / "judged.run4.jsonl").exists()


def test_new_run_and_no_resume_together_are_a_usage_error(server, data, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(judge_argv(data, server.url, tmp_path / "o.jsonl", "--new-run", "--no-resume"))
    assert info.value.code == 2
    assert "--no-resume" in capsys.readouterr().err and server.requests == []


# -- one writer per results file --------------------------------------------------------------------
def start_stalled_writer(data: Path, url: str, out: Path, stall_from: int) -> subprocess.Popen:
    """A real `misattribution judge` process that has saved rows below ``stall_from`` and waits on the rest."""
    argv = judge_argv(data, url, out, "--served-model", "fake-judge", "--batch-size", "2", "--concurrency", "2")
    argv += ["--timeout", "3000"]
    process = subprocess.Popen(
        cli_command(*argv), env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: line_count(out) >= stall_from or process.poll() is not None, what=f"{stall_from} saved rows")
    assert process.poll() is None, process.communicate()
    return process


def stall_rows_from(server: FakeOpenAIServer, first: int) -> None:
    server.inject("stall", times=None, match=lambda body: int(question_of(body["messages"]).split()[-1]) >= first)


def test_a_second_writer_is_refused_while_a_real_process_holds_the_lock(server, tmp_path, capsys):
    data = write_jsonl(tmp_path / "rows.jsonl", rows(8))
    out = tmp_path / "judged.jsonl"
    stall_rows_from(server, 4)
    writer = start_stalled_writer(data, server.url, out, 4)
    try:
        assert json.loads(lock_path(out).read_text())["pid"] == writer.pid
        with FakeOpenAIServer(responder=score_responder) as other:
            before = snapshot(out)
            code, _, err = run(judge_argv(data, other.url, out, "--served-model", "fake-judge"), capsys)
            assert code == 2
            assert_one_error_line(err, f"{out}: another run is writing this file (pid {writer.pid}", "wait for it")
            assert other.chat_requests == [], "the refused writer sent a request"
            assert snapshot(out) == before
    finally:
        writer.send_signal(signal.SIGINT)
        stdout, stderr = writer.communicate(timeout=SPAWN_TIMEOUT)
    assert writer.returncode == 130, stderr
    assert not lock_path(out).exists(), "the lock is released on Ctrl-C"
    assert sorted(r["id"] for r in load_results(out).values()) == [f"r{i}" for i in range(4)]


def test_two_writers_started_together_never_judge_a_row_twice(tmp_path):
    data = write_jsonl(tmp_path / "rows.jsonl", rows(40))
    out = tmp_path / "judged.jsonl"
    with FakeOpenAIServer(responder=score_responder, latency=0.1) as srv:
        argv = judge_argv(data, srv.url, out, "--served-model", "fake-judge", "--batch-size", "4", "--concurrency", "4")
        writers = [
            subprocess.Popen(cli_command(*argv), env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        results = [w.communicate(timeout=SPAWN_TIMEOUT) for w in writers]
        codes = sorted(w.returncode for w in writers)
        # Overlapping, one is refused (2); if the machine ran them one after the other, the second resumed
        # a finished file (0). Either way no row is judged twice.
        assert codes in ([0, 2], [0, 0]), results
        if codes == [0, 2]:
            refused = next(err for (_, err), w in zip(results, writers) if w.returncode == 2).decode()
            assert f"{out}: another run is writing this file" in refused
        assert len(srv.chat_requests) == 40
    keys = [json.loads(line)["key"] for line in out.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 40


def test_a_lock_left_by_a_killed_process_does_not_block_the_next_run(server, tmp_path, capsys):
    data = write_jsonl(tmp_path / "rows.jsonl", rows(8))
    out = tmp_path / "judged.jsonl"
    stall_rows_from(server, 4)
    writer = start_stalled_writer(data, server.url, out, 4)
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=SPAWN_TIMEOUT)
    assert lock_path(out).exists(), "kill -9 leaves the lock file behind"
    server.clear_faults()

    code, stdout, _ = run(judge_argv(data, server.url, out, "--served-model", "fake-judge"), capsys)

    assert code == 0 and "summary: 8 rows: 8 ok" in stdout
    assert sorted(r["id"] for r in load_results(out).values()) == [f"r{i}" for i in range(8)]
    assert not lock_path(out).exists()


def test_without_fcntl_a_stale_pid_lock_is_taken_over(tmp_path, caplog):
    out = tmp_path / "judged.jsonl"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=SPAWN_TIMEOUT)
    lock_path(out).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "earlier"}))
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}
    with caplog.at_level(logging.WARNING):
        _create_exclusive(lock_path(out), out, mine)
    assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
    assert f"stale lock left by pid {dead.pid}" in caplog.text


def test_without_fcntl_a_live_pid_lock_refuses(tmp_path):
    out = tmp_path / "judged.jsonl"
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        holder = {"pid": alive.pid, "host": socket.gethostname(), "started": "earlier"}
        lock_path(out).write_text(json.dumps(holder))
        with pytest.raises(RunLockedError, match=rf"judged.jsonl: another run is writing this file \(pid {alive.pid}"):
            _create_exclusive(lock_path(out), out, {"pid": os.getpid(), "host": socket.gethostname()})
        assert json.loads(lock_path(out).read_text()) == holder
    finally:
        alive.kill()
        alive.wait(timeout=SPAWN_TIMEOUT)


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    out = tmp_path / "judged.jsonl"
    with output_lock(out):
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            with output_lock(out):
                pass
    with output_lock(out):  # released: taken again
        pass
    assert not lock_path(out).exists()


# -- endpoint down, partial failure: non-zero exit after the summary, nothing lost -------------------
def test_endpoint_down_exits_1_after_the_summary_and_a_rerun_retries_every_row(data, tmp_path, capsys):
    port = free_port()
    out = tmp_path / "judged.jsonl"
    argv = judge_argv(data, f"http://127.0.0.1:{port}/v1", out, "--served-model", "fake-judge")

    code, stdout, err = run(argv, capsys)

    assert code == 1
    assert "summary: 6 rows: 0 ok, 0 partial, 0 failed, 6 error" in stdout
    assert "6 of 6 rows have no judgment: 6 failed to generate (" in err and f"127.0.0.1:{port}" in err
    assert "rerun the same command to retry them" in err and "Traceback" not in err
    assert {r["status"] for r in load_results(out).values()} == {"error"}
    with FakeOpenAIServer(port, responder=score_responder) as revived:
        code, stdout, _ = run(argv, capsys)
        assert code == 0 and "summary: 6 rows: 6 ok, 0 partial, 0 failed, 0 error" in stdout
        assert len(revived.chat_requests) == 6


def test_endpoint_down_without_a_served_model_is_refused_before_judging(data, tmp_path, capsys):
    port = free_port()
    out = tmp_path / "judged.jsonl"
    code, _, err = run(judge_argv(data, f"http://127.0.0.1:{port}/v1", out), capsys)
    assert code == 2
    assert_one_error_line(err, f"http://127.0.0.1:{port}/v1/models: could not ask", "--served-model NAME")
    assert not out.exists() and not lock_path(out).exists()


def test_every_request_failing_with_500_exits_1(server, data, tmp_path, capsys):
    server.inject("error_500", times=None)
    out = tmp_path / "judged.jsonl"
    code, stdout, err = run(judge_argv(data, server.url, out, "--served-model", "fake-judge"), capsys)
    assert code == 1 and "summary: 6 rows: 0 ok, 0 partial, 0 failed, 6 error" in stdout
    assert "HTTP 500" in err and len(load_results(out)) == 6


def test_a_partial_failure_counts_each_status_and_the_rerun_retries_only_the_failed(server, tmp_path, capsys):
    data = write_jsonl(tmp_path / "rows.jsonl", rows(10))
    out = tmp_path / "judged.jsonl"
    server.inject("error_503", times=None, match=lambda body: question_of(body["messages"])[-1] in "258")
    argv = judge_argv(data, server.url, out, "--served-model", "fake-judge")

    code, stdout, err = run(argv, capsys)

    assert code == 1 and "summary: 10 rows: 7 ok, 0 partial, 0 failed, 3 error" in stdout
    assert "3 of 10 rows have no judgment" in err and "HTTP 503" in err
    ok_before = {k: r for k, r in load_results(out).items() if r["status"] == "ok"}
    server.clear_faults()
    server.reset()
    code, stdout, _ = run(argv, capsys)
    assert code == 0 and "summary: 10 rows: 10 ok" in stdout
    assert sorted(question_of(r.body["messages"]) for r in server.chat_requests) == [
        f"question number {i}" for i in (2, 5, 8)
    ]
    after = load_results(out)
    assert all(after[k] == r for k, r in ok_before.items()), "a judged row changed on the rerun"


def test_unreadable_judge_output_exits_1_and_is_kept_raw(server, data, tmp_path, capsys):
    server.responder = lambda messages: "I refuse to grade this."
    out = tmp_path / "judged.jsonl"
    code, stdout, err = run(judge_argv(data, server.url, out, "--served-model", "fake-judge"), capsys)
    assert code == 1 and "summary: 6 rows: 0 ok, 0 partial, 6 failed, 0 error" in stdout
    assert f"6 got output the parser could not read (kept raw in {out})" in err
    assert {r["raw"] for r in load_results(out).values()} == {"I refuse to grade this."}


def test_partly_parsed_output_is_counted_but_not_a_failure(server, data, tmp_path, capsys):
    server.responder = lambda messages: "Score: 2\nFeedback: Partly right."
    out = tmp_path / "judged.jsonl"
    code, stdout, err = run(judge_argv(data, server.url, out, "--served-model", "fake-judge"), capsys)
    assert code == 0 and "summary: 6 rows: 0 ok, 6 partial, 0 failed, 0 error" in stdout
    assert err == ""


# -- refused before the first call: duplicate ids, export suffix, endpoint scheme --------------------
def test_duplicate_ids_are_refused_before_any_call(server, tmp_path, capsys):
    records = rows(5)
    records[3]["id"] = "r1"
    data = write_jsonl(tmp_path / "rows.jsonl", records)
    out = tmp_path / "judged.jsonl"
    code, _, err = run(judge_argv(data, server.url, out), capsys)
    assert code == 2
    # Rows numbered from 1, as the input layer numbers them: the 2nd and the 4th record.
    assert_one_error_line(err, f"{data}: column 'id': duplicate row ids in 1 case(s), e.g. 'r1' in rows 2, 4")
    assert server.requests == [], "not even the /v1/models lookup"
    assert not out.exists() and not meta_path(out).exists()


def test_missing_ids_are_not_duplicates(server, tmp_path, capsys):
    records = [{"id": None, "question": f"q{i}", "answer": "a"} for i in range(3)]
    data = write_jsonl(tmp_path / "rows.jsonl", records)
    out = tmp_path / "judged.jsonl"
    code, stdout, _ = run(judge_argv(data, server.url, out, "--served-model", "fake-judge"), capsys)
    assert code == 0 and "summary: 3 rows: 3 ok" in stdout
    assert len(load_results(out)) == 3


def test_duplicate_numeric_ids_in_a_csv_are_refused(server, tmp_path, capsys):
    data = tmp_path / "rows.csv"
    pd.DataFrame({"id": [7, 8, 7, 8, 9], "question": list("abcde"), "answer": list("vwxyz")}).to_csv(data, index=False)
    code, _, err = run(judge_argv(data, server.url, tmp_path / "o.jsonl"), capsys)
    assert code == 2
    assert_one_error_line(
        err, f"{data}: column 'id': duplicate row ids in 2 case(s), e.g. '7' in rows 1, 3"
    )  # CSV cells stay text
    assert server.requests == []


def test_duplicate_ids_in_a_renamed_id_column_name_that_column(server, tmp_path, capsys):
    records = [{"uid": "x", "question": "q1", "answer": "a"}, {"uid": "x", "question": "q2", "answer": "b"}]
    data = write_jsonl(tmp_path / "rows.jsonl", records)
    code, _, err = run(judge_argv(data, server.url, tmp_path / "o.jsonl", "--id-column", "uid"), capsys)
    assert code == 2 and f"{data}: column 'uid': duplicate row ids" in err and server.requests == []


@pytest.mark.parametrize("export", ["judged.xlsx", "judged", "judged.JSON"])
def test_a_bad_export_suffix_is_refused_before_any_call(server, data, tmp_path, capsys, export):
    out = tmp_path / "judged.jsonl"
    code, _, err = run(judge_argv(data, server.url, out, "--export", str(tmp_path / export)), capsys)
    assert code == 2
    assert_one_error_line(err, f"--export {tmp_path / export}: cannot export", ".parquet, .csv, .jsonl")
    assert server.requests == [] and not out.exists()


@pytest.mark.parametrize(
    ("endpoint", "shown"),
    [
        ("ftp://files.example/v1", "--endpoint ftp://files.example/v1: not an http(s) URL"),
        (f"ftp://alice:{PASSWORD}@files.example/v1", "--endpoint ftp://alice:***@files.example/v1: not an http(s)"),
        ("http://", "--endpoint http://: not an http(s) URL with a host"),
        ("http://127.0.0.1:9/v1?api_key=abcdef", "--endpoint http://127.0.0.1:9/v1?api_key=***: has a query string"),
    ],
)
def test_a_bad_endpoint_is_refused_without_a_traceback(data, tmp_path, capsys, endpoint, shown):
    out = tmp_path / "judged.jsonl"
    code, _, err = run(judge_argv(data, endpoint, out), capsys)
    assert code == 2
    assert_one_error_line(err, shown)
    assert PASSWORD not in err and "abcdef" not in err
    assert not out.exists()


def test_a_bad_second_endpoint_is_refused_before_the_first_is_called(server, data, tmp_path, capsys):
    out = tmp_path / "judged.jsonl"
    argv = judge_argv(data, server.url, out, "--endpoint", "ftp://mirror.example/v1")
    code, _, err = run(argv, capsys)
    assert code == 2 and "--endpoint ftp://mirror.example/v1" in err
    assert server.requests == []


def test_load_judge_refuses_a_url_of_another_scheme():
    with pytest.raises(ValueError, match=r"http\(s\) URL with a host, got ftp://u:\*\*\*@host/v1"):
        load_judge(f"ftp://u:{PASSWORD}@host/v1", model="m")


# -- secrets -----------------------------------------------------------------------------------------
def test_credentials_in_the_url_never_reach_verbose_logs(server, data, tmp_path):
    url = server.url.replace("http://", f"http://alice:{PASSWORD}@")
    out = tmp_path / "judged.jsonl"
    done = subprocess.run(
        cli_command("-v", *judge_argv(data, url, out)),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=SPAWN_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert "HTTP Request: GET" in done.stderr, "-v logs the requests..."
    assert PASSWORD not in done.stdout + done.stderr, "...without the password"
    basic = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert {r.headers.get("Authorization") for r in server.requests} == {basic}, "every request carries it"
    assert PASSWORD not in out.read_text() + meta_path(out).read_text()


def test_an_api_key_never_reaches_verbose_logs_and_every_request_carries_it(server, data, tmp_path):
    # The server echoes the key back in a 401 body for one row, as some providers do.
    server.inject("error_401", times=None, match=lambda b: "number 4" in str(b), body=f'{{"error": "{API_KEY}"}}')
    out = tmp_path / "judged.jsonl"
    done = subprocess.run(
        cli_command("-v", *judge_argv(data, server.url, out)),
        env=subprocess_env(MISATTRIBUTION_API_KEY=API_KEY),
        capture_output=True,
        text=True,
        timeout=SPAWN_TIMEOUT,
    )
    assert done.returncode == 1, done.stderr  # the 401 row remains failed
    assert "HTTP 401" in done.stderr
    assert API_KEY not in done.stdout + done.stderr
    assert {r.headers.get("Authorization") for r in server.requests} == {f"Bearer {API_KEY}"}
    assert any(r.path == "/v1/models" for r in server.requests), "the model lookup was made, with the key"
    saved = out.read_text() + meta_path(out).read_text()
    assert API_KEY not in saved and "***" in saved, "the echoed key is masked in the results file"


def test_the_model_lookup_carries_the_api_key(server, data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MY_KEY", API_KEY)
    code, _, _ = run(judge_argv(data, server.url, tmp_path / "o.jsonl", "--api-key-env", "MY_KEY"), capsys)
    assert code == 0
    (lookup,) = [r for r in server.requests if r.path == "/v1/models"]
    assert lookup.headers["Authorization"] == f"Bearer {API_KEY}"


def test_the_model_lookup_sends_url_credentials_as_basic_auth_and_logs_no_password(server, caplog):
    caplog.set_level(logging.DEBUG)
    assert served_model(server.url.replace("http://", f"http://bob:{PASSWORD}@")) == "fake-judge"
    (lookup,) = server.requests
    assert lookup.headers["Authorization"] == "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    assert "/v1/models" in caplog.text and PASSWORD not in caplog.text


def test_a_failed_model_lookup_names_the_url_without_credentials(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MISATTRIBUTION_API_KEY", API_KEY)
    port = free_port()
    code, _, err = run(judge_argv(data, f"http://alice:{PASSWORD}@127.0.0.1:{port}/v1", tmp_path / "o.jsonl"), capsys)
    assert code == 2
    assert_one_error_line(err, f"http://127.0.0.1:{port}/v1/models: could not ask")
    assert PASSWORD not in err and API_KEY not in err


def test_the_space_shows_the_judge_url_masked_and_judges_with_the_real_one(server, tmp_path):
    from misattribution.space_app import _judge, build_app
    from misattribution.uploads import UploadLimits

    url = server.url.replace("http://", f"http://alice:{PASSWORD}@")
    app = build_app(judge_url=url)
    config = json.dumps(app.get_config_file(), default=str)
    assert PASSWORD not in config, "the Space's /config would give the password to every visitor"
    assert url.replace(PASSWORD, "***") in config, "the page still says which endpoint judges"

    table = write_jsonl(tmp_path / "upload.jsonl", rows(3))
    result = _judge(str(table), url, {}, UploadLimits.from_megabytes(10))
    assert len(result.report.rows) == 3
    basic = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert {r.headers.get("Authorization") for r in server.chat_requests} == {basic}


def test_the_serve_command_hands_the_space_the_real_url_and_shows_it_masked(monkeypatch, capsys):
    import misattribution.space_app as space_app

    built = {}

    def fake_serve(bundle, *, host, port, max_upload_mb, judge_url):
        built["judge_url"] = judge_url
        built["config"] = json.dumps(space_app.build_app(judge_url=judge_url).get_config_file(), default=str)

    monkeypatch.setattr(space_app, "serve", fake_serve)
    url = f"http://alice:{PASSWORD}@127.0.0.1:9/v1"
    assert main(["serve", "--judge-url", url]) == 0
    assert built["judge_url"] == url, "the server keeps the real URL to call it"
    assert PASSWORD not in built["config"] and "alice:***@127.0.0.1:9/v1" in built["config"]
    assert PASSWORD not in capsys.readouterr().err


# -- Ctrl-C ------------------------------------------------------------------------------------------
def test_ctrl_c_stops_cleanly_says_what_was_saved_and_the_rerun_resumes(server, tmp_path):
    data = write_jsonl(tmp_path / "rows.jsonl", rows(10))
    out = tmp_path / "judged.jsonl"
    stall_rows_from(server, 6)  # batches of 2: rows 0-5 are saved, then the run waits on row 6
    writer = start_stalled_writer(data, server.url, out, 6)

    writer.send_signal(signal.SIGINT)
    stdout, stderr = writer.communicate(timeout=SPAWN_TIMEOUT)

    assert writer.returncode == 130
    assert stderr.strip().splitlines() == [
        f"misattribution judge: interrupted: 6 of 10 rows saved in {out}; run the same command to resume"
    ]
    assert "Traceback" not in stdout + stderr
    saved = load_results(out)
    assert sorted(r["id"] for r in saved.values()) == [f"r{i}" for i in range(6)]
    assert all(r["status"] == "ok" for r in saved.values()) and out.read_bytes().endswith(b"\n")
    assert not lock_path(out).exists()

    server.clear_faults()
    server.reset()
    argv = judge_argv(data, server.url, out, "--served-model", "fake-judge", "--batch-size", "2")
    done = subprocess.run(
        cli_command(*argv), env=subprocess_env(), capture_output=True, text=True, timeout=SPAWN_TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    assert sorted(question_of(r.body["messages"]) for r in server.chat_requests) == [
        f"question number {i}" for i in range(6, 10)
    ]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len({r["key"] for r in records}) == 10


def test_ctrl_c_before_the_first_row_is_saved_says_so(server, tmp_path):
    data = write_jsonl(tmp_path / "rows.jsonl", rows(4))
    out = tmp_path / "judged.jsonl"
    stall_rows_from(server, 0)
    argv = judge_argv(data, server.url, out, "--served-model", "fake-judge", "--timeout", "3000")
    writer = subprocess.Popen(
        cli_command(*argv), env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: len(server.chat_requests) >= 4 or writer.poll() is not None, what="requests in flight")

    writer.send_signal(signal.SIGINT)
    _, stderr = writer.communicate(timeout=SPAWN_TIMEOUT)

    assert writer.returncode == 130
    assert stderr.strip().splitlines() == [
        f"misattribution judge: interrupted: 0 of 4 rows saved in {out}; run the same command to resume"
    ]
    assert out.read_bytes() == b"" and not lock_path(out).exists()


def test_ctrl_c_during_the_model_lookup_leaves_the_earlier_results_as_they_were(server, data, tmp_path, capsys):
    import threading

    out = tmp_path / "judged.jsonl"
    assert run(judge_argv(data, server.url, out), capsys)[0] == 0  # an earlier, finished run
    before = snapshot(out)
    connected, held = threading.Event(), []
    with socket.socket() as silent:  # accepts the /v1/models request and never answers it
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)

        def accept() -> None:
            conn, _ = silent.accept()
            held.append(conn)
            connected.set()

        threading.Thread(target=accept, daemon=True).start()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        argv = judge_argv(data, url, out, "--timeout", "3000")
        process = subprocess.Popen(
            cli_command(*argv), env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert connected.wait(SPAWN_TIMEOUT), "the lookup never connected"
            time.sleep(0.2)  # the request is sent; the process waits for the answer
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=SPAWN_TIMEOUT)
        finally:
            for conn in held:
                conn.close()
    assert process.returncode == 130
    assert stderr.strip().splitlines() == [
        f"misattribution judge: interrupted before judging began: nothing new was written to {out}; "
        "run the same command"
    ]
    assert snapshot(out) == before and not lock_path(out).exists()


def test_ctrl_c_in_another_command_is_one_line_and_exit_130(tmp_path):
    # `agreement` with a large bootstrap (~4 CPU seconds idle): interrupted while it computes, i.e. once
    # the process has used more CPU than its imports take (~1.1 s), whatever the wall clock says.
    table = tmp_path / "judged.csv"
    pd.DataFrame({"score": [0, 1, 2, 3] * 50, "human": [0, 1, 3, 2] * 50}).to_csv(table, index=False)
    argv = ["agreement", str(table), "--human", "human", "--n-resamples", "2000000"]
    process = subprocess.Popen(
        cli_command(*argv), env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: _cpu_seconds(process.pid) > 2.5 or process.poll() is not None, what="the command at work")
    assert process.poll() is None, "the bootstrap finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=SPAWN_TIMEOUT)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == [
        "misattribution agreement: interrupted before any result was saved; run the same command to start again"
    ]
    assert not (tmp_path / "judged.csv.agreement.json").exists()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0 when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# -- the README's section, as written ----------------------------------------------------------------
def test_the_readme_resume_section_runs_as_written(server, tmp_path, capsys, monkeypatch):
    """Each command of "Resuming and re-running a judge", against the loopback server; each `# ...` line
    under a command is (the start of) what it prints."""
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Resuming and re-running a judge", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith("misattribution "):
            command = line.split("  #", 1)[0].replace("http://127.0.0.1:8000/v1", server.url)
            steps.append((shlex.split(command)[1:], []))
        elif line.startswith("# "):
            steps[-1][1].append(line[2:].removesuffix("..."))
    assert len(steps) == 3
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "rows.jsonl", rows(4))
    codes = []
    for argv, expected in steps:
        code, stdout, err = run([*argv, "--quiet"], capsys)
        codes.append(code)
        for text in expected:
            assert text in stdout + err, (argv, text, err)
    assert codes == [0, 2, 0]
    assert len(load_results(tmp_path / "judged.jsonl")) == len(load_results(tmp_path / "judged.run2.jsonl")) == 4
    assert len(server.chat_requests) == 8
