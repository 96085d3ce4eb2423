"""``misattribution analyze`` end to end against the loopback OpenAI-compatible server: 40 rows with planted
reference-mismatch answers → judged → discovered (the rule detectors see the input columns the judged JSONL
now carries) → bundle; reruns make no call; ``--max-calls`` refuses before any call; a YAML config equals
the flags; an input already judged is not judged; the README's section runs as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from misattribution.cli import main
from misattribution.discovery.inputs import load_judged
from misattribution.discovery.report import IssueReport
from misattribution.runner import load_results
from misattribution.testing.fake_openai import FakeOpenAIServer

N_ROWS = 40
REFERENCE_ISSUE = "Final answer different from the reference"


def planted_rows() -> list[dict]:
    """40 sums; every third answer's total is off by 5 (a reference mismatch the rule detector finds)."""
    rows = []
    for i in range(N_ROWS):
        a, b = 3 + i, 7 + 2 * i
        total = a + b + (5 if i % 3 == 0 else 0)
        rows.append(
            {
                "id": f"r{i}",
                "question": f"Tom has {a} apples and buys {b} more. How many apples does he have now?",
                "answer": f"He adds {a} and {b}. Therefore, he has {total} apples.",
                "reference": f"#### {a + b}",
                "system": "agent-a" if i % 2 else "agent-b",
            }
        )
    return rows


N_WRONG = sum(1 for i in range(N_ROWS) if i % 3 == 0)


def responder(messages):
    """A judge that compares the answer's last number with the reference's."""
    user = messages[-1]["content"]
    answer = user.rsplit("### Answer\n", 1)[1].strip()
    reference = user.split("### Reference answer\n", 1)[1].split("\n\n", 1)[0].strip()
    got, want = re.findall(r"\d+", answer)[-1], re.findall(r"\d+", reference)[-1]
    if got == want:
        return "Feedback: The total is correct and matches the reference.\nMisattribution: None\nScore: 3"
    return "Feedback: The addition is done wrong, so the final count does not match the reference.\nMisattribution: Result Error\nScore: 1"


@pytest.fixture
def server():
    with FakeOpenAIServer(responder=responder) as fake:
        yield fake


@pytest.fixture
def rows_file(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in planted_rows()), encoding="utf-8")
    return path


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def issue_counts(bundle: Path) -> dict[str, int]:
    report = IssueReport.load(bundle)
    return {issue.name: int(report.table().set_index("name").loc[issue.name, "count"]) for issue in report.issues}


def test_analyze_judges_discovers_writes_the_bundle_and_a_rerun_makes_no_call(server, rows_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = [
        "analyze",
        str(rows_file),
        "-o",
        str(run_dir),
        "--endpoint",
        server.url,
        "--served-model",
        "fake",
        "--quiet",
    ]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert len(server.chat_requests) == N_ROWS
    # The cost, printed before the first call, equals the calls made.
    assert f"cost: judge {N_ROWS} rows x 1 call = {N_ROWS} LLM calls, {N_ROWS} to make (0 already judged)" in err
    assert err.index("cost: judge") < err.index("judged.jsonl: ")
    counts = issue_counts(run_dir / "bundle")
    assert counts.get(REFERENCE_ISSUE) == N_WRONG, counts
    assert REFERENCE_ISSUE in out and "bundle:" in out
    meta = json.loads((run_dir / "bundle" / "meta.json").read_text(encoding="utf-8"))
    assert meta["summary"]["text"] and meta["analyze"]["stages"]["judge"]["calls"] == N_ROWS

    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert len(server.chat_requests) == N_ROWS  # nothing judged twice
    assert f"{N_ROWS} LLM calls, 0 to make ({N_ROWS} already judged)" in err
    assert issue_counts(run_dir / "bundle") == counts


def test_the_judged_jsonl_carries_the_input_columns_for_discovery(server, rows_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["analyze", str(rows_file), "-o", str(run_dir), "--endpoint", server.url, "--mode", "rules", "--quiet"]
    assert run(argv, capsys)[0] == 0
    records = list(load_results(run_dir / "judged.jsonl").values())
    assert records[0]["input"] == planted_rows()[records[0]["row"]]
    rows = load_judged(run_dir / "judged.jsonl")
    assert rows["row_id"].tolist() == [r["id"] for r in planted_rows()]
    assert rows["reference"].tolist() == [r["reference"] for r in planted_rows()]
    assert sorted(set(rows["system"])) == ["agent-a", "agent-b"]  # the input's system, not the judge's name
    # A results file written before records carried their input still loads (no question / answer then).
    old = tmp_path / "old.jsonl"
    old.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "input"}) + "\n" for r in records), encoding="utf-8"
    )
    assert "answer" not in load_judged(old).columns and len(load_judged(old)) == N_ROWS


def test_max_calls_below_the_cost_refuses_before_any_call(server, rows_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["analyze", str(rows_file), "-o", str(run_dir), "--endpoint", server.url, "--max-calls", "39"]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert server.chat_requests == []
    assert f"--max-calls 39: this run needs {N_ROWS} LLM calls" in err and "hint:" in err
    assert not (run_dir / "judged.jsonl").exists() and not (run_dir / "bundle").exists()
    code, _, err = run([*argv[:-1], str(N_ROWS), "--mode", "rules", "--quiet"], capsys)
    assert code == 0, err
    assert len(server.chat_requests) == N_ROWS


def test_a_yaml_config_equals_the_flags_and_flags_override_it(server, rows_file, tmp_path, capsys):
    flags = ["--endpoint", server.url, "--mode", "rules", "--max-calls", "100", "--seed", "3", "--quiet"]
    assert run(["analyze", str(rows_file), "-o", str(tmp_path / "by_flags"), *flags], capsys)[0] == 0
    config = tmp_path / "analyze.yaml"
    config.write_text(
        f"input: rows.jsonl\noutput: by_config\nendpoint: {server.url}\nmode: rules\nmax-calls: 100\nseed: 3\n"
        "quiet: true\n",
        encoding="utf-8",
    )
    assert run(["analyze", "--config", str(config)], capsys)[0] == 0
    by_flags = pd.read_parquet(tmp_path / "by_flags" / "bundle" / "issues.parquet")
    by_config = pd.read_parquet(tmp_path / "by_config" / "bundle" / "issues.parquet")
    pd.testing.assert_frame_equal(by_flags, by_config)
    assert pd.read_parquet(tmp_path / "by_flags" / "bundle" / "rows.parquet").equals(
        pd.read_parquet(tmp_path / "by_config" / "bundle" / "rows.parquet")
    )
    # A flag overrides its key: --max-calls 1 refuses the config's run (already judged: 0 calls needed, so
    # use a fresh output folder, also given as a flag).
    code, _, err = run(["analyze", "--config", str(config), "-o", str(tmp_path / "fresh"), "--max-calls", "1"], capsys)
    assert code == 2 and "--max-calls 1" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: rows.jsonl\noutput: x\nmax_call: 3\n", encoding="utf-8")
    code, _, err = run(["analyze", "--config", str(bad)], capsys)
    assert code == 2 and "unknown key 'max_call'" in err


def test_an_input_already_judged_is_not_judged(server, rows_file, tmp_path, capsys):
    judged = tmp_path / "judged.csv"
    frame = pd.DataFrame(planted_rows())
    wrong = [i % 3 == 0 for i in range(N_ROWS)]
    frame["feedback"] = ["The final total is wrong." if w else "Correct." for w in wrong]
    frame["score"] = [1 if w else 3 for w in wrong]
    frame.to_csv(judged, index=False)
    code, _, err = run(["analyze", str(judged), "-o", str(tmp_path / "run"), "--mode", "rules", "--quiet"], capsys)
    assert code == 0, err
    assert "[judge] skipped" in err and server.chat_requests == []
    assert issue_counts(tmp_path / "run" / "bundle").get(REFERENCE_ISSUE) == N_WRONG
    # Rows to judge without a judge: refused, one line with a hint.
    code, _, err = run(["analyze", str(rows_file), "-o", str(tmp_path / "run2")], capsys)
    assert code == 2 and "--endpoint or --model" in err


def test_the_readme_analyze_section_runs_as_written(server, rows_file, tmp_path, capsys, monkeypatch):
    """Each command of "One command: analyze" (the README's endpoint replaced by the loopback server's);
    the run finds the planted reference mismatches, and the second command makes no call."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## One command: analyze", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [
        shlex.split(line.split("  #", 1)[0].replace("http://127.0.0.1:8000/v1", server.url))[1:]
        for line in block.splitlines()
        if line.startswith("misattribution ")
    ]
    assert len(commands) == 3 and all(argv[0] == "analyze" for argv in commands)
    monkeypatch.chdir(tmp_path)
    calls = []
    for argv in commands:
        if "--serve" in argv:  # serving blocks; the serve code path is the `serve` command's, tested there
            argv = [a for a in argv if a != "--serve"]
        code, out, err = run([*argv, "--quiet"], capsys)
        assert code == 0, (argv, err)
        calls.append(len(server.chat_requests))
    assert calls == [N_ROWS, N_ROWS, N_ROWS]
    assert issue_counts(tmp_path / "run" / "bundle").get(REFERENCE_ISSUE) == N_WRONG


def test_the_readme_discover_commands_find_the_planted_issues_in_a_judged_jsonl(server, rows_file, tmp_path, capsys):
    """The README's "Find recurring issues" commands on ``judged.jsonl`` (written by the README's ``judge``
    command): the rule detectors read the input columns the results file carries and find every planted
    reference mismatch (before, this printed "no recurring issue found")."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Find recurring issues", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [
        shlex.split(line.split("  #", 1)[0])[1:]
        for line in block.splitlines()
        if line.startswith("misattribution discover judged.jsonl") and "--endpoint" not in line
    ]
    assert any("clusters+rules" in argv for argv in commands)
    judged = tmp_path / "judged.jsonl"
    assert main(["judge", str(rows_file), "--endpoint", server.url, "-o", str(judged), "--quiet"]) == 0
    for argv in commands:
        argv = [str(judged) if a == "judged.jsonl" else str(tmp_path / a) if a == "bundle/" else a for a in argv]
        code, out, err = run([*argv, "--quiet"], capsys)
        assert code == 0, err
        if "clusters+rules" in argv:
            assert REFERENCE_ISSUE in out
            assert issue_counts(tmp_path / "bundle").get(REFERENCE_ISSUE) == N_WRONG


def test_a_kill_9_in_the_judge_stage_loses_and_repeats_no_row(server, rows_file, tmp_path, capsys):
    """A real ``analyze`` process killed with SIGKILL after 20 rows are saved (the rest stall at the server);
    the same command then judges exactly the 20 others, as its cost line says, and writes the bundle."""
    run_dir = tmp_path / "run"
    judged = run_dir / "judged.jsonl"
    server.inject("stall", times=None, match=lambda body: _apples(body) >= 3 + 20)
    argv = ["analyze", str(rows_file), "-o", str(run_dir), "--endpoint", server.url, "--mode", "rules", "--quiet"]
    argv += ["--served-model", "fake", "--batch-size", "4", "--concurrency", "4", "--timeout", "3000"]
    kill_9_after(argv, judged, 20)
    assert len(judged.read_text(encoding="utf-8").splitlines()) == 20
    settle(server)
    server.clear_faults()
    server.reset()

    code, _, err = run(argv, capsys)

    assert code == 0, err
    assert f"{N_ROWS} LLM calls, 20 to make (20 already judged)" in err
    assert len(server.chat_requests) == 20
    keys = [json.loads(line)["key"] for line in judged.read_text(encoding="utf-8").splitlines()]
    assert len(keys) == len(set(keys)) == N_ROWS  # none lost, none judged twice
    assert issue_counts(run_dir / "bundle").get(REFERENCE_ISSUE) == N_WRONG


def _apples(body) -> int:
    return int(re.search(r"Tom has (\d+) apples", body["messages"][-1]["content"]).group(1))


def test_serve_opens_the_space_on_the_bundle_through_the_serve_command(tmp_path, capsys, monkeypatch):
    """``--serve`` goes through the ``serve`` command's code path with the run's bundle (replaced here by a
    recorder: serving blocks) once the bundle is written."""
    import misattribution.cli as cli

    served = []
    monkeypatch.setattr(cli, "_run_serve", lambda args: served.append(args) or 0)
    judged = tmp_path / "judged.csv"
    pd.DataFrame([{"feedback": "Wrong sum.", "score": 1}, {"feedback": "Correct.", "score": 3}] * 3).to_csv(judged)
    argv = ["analyze", str(judged), "-o", str(tmp_path / "run"), "--mode", "rules", "--serve", "--port", "7999"]
    code, _, err = run([*argv, "--quiet"], capsys)
    assert code == 0, err
    assert [(a.bundle, a.port, a.host) for a in served] == [(str(tmp_path / "run" / "bundle"), 7999, "127.0.0.1")]
    assert (tmp_path / "run" / "bundle" / "meta.json").is_file()


def generating_responder(messages):
    """Answers a bare question (one user turn: every third sum off by 5), else judges as :func:`responder`."""
    if len(messages) == 1:
        a, b = (int(n) for n in re.findall(r"\d+", messages[0]["content"])[:2])
        total = a + b + (5 if (a - 3) % 3 == 0 else 0)
        return f"He adds {a} and {b}. Therefore, he has {total} apples."
    return responder(messages)


def test_analyze_generates_the_missing_answers_then_judges_and_resumes_both(rows_file, tmp_path, capsys):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "answer"}) + "\n" for r in planted_rows()),
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(responder=generating_responder) as server:
        argv = ["analyze", str(questions), "-o", str(run_dir), "--endpoint", server.url, "--mode", "rules"]
        argv += ["--generate-with", server.url, "--quiet"]
        code, _, err = run([*argv, "--max-calls", str(2 * N_ROWS - 1)], capsys)
        assert code == 2 and server.chat_requests == []
        assert f"needs {2 * N_ROWS} LLM calls ({N_ROWS} to generate and {N_ROWS} to judge)" in err

        code, _, err = run([*argv, "--max-calls", str(2 * N_ROWS)], capsys)
        assert code == 0, err
        assert len(server.chat_requests) == 2 * N_ROWS  # the cost printed = the calls made
        assert f"cost: generate {N_ROWS} rows x 1 call = {N_ROWS} LLM calls, {N_ROWS} to make" in err
        assert issue_counts(run_dir / "bundle").get(REFERENCE_ISSUE) == N_WRONG

        code, _, err = run(argv, capsys)
        assert code == 0, err
        assert len(server.chat_requests) == 2 * N_ROWS  # neither stage repeats a call
        assert f"0 to make ({N_ROWS} already generated)" in err and f"0 to make ({N_ROWS} already judged)" in err
    generated = [json.loads(line) for line in (run_dir / "answers.jsonl").read_text().splitlines()]
    assert [g["answer"] for g in generated] == [r["answer"] for r in planted_rows()]


def kill_9_after(argv: list[str], watched: Path, lines: int) -> None:
    """Run ``misattribution *argv`` in a real process and SIGKILL it once ``watched`` holds ``lines`` lines."""
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "misattribution", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if watched.exists() and len(watched.read_text(encoding="utf-8").splitlines()) >= lines:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)


def settle(server: FakeOpenAIServer, quiet: float = 2.0, limit: float = 30.0) -> None:
    """Wait until ``server`` has recorded no new request for ``quiet`` seconds: a request the killed process
    sent just before its SIGKILL can still be in the socket buffer, and a loaded server records it late (a
    clean-clone CI run counted 61 requests for 60 once, the one over recorded after ``reset()`` with the
    truncated body the dying client had half sent)."""
    import time

    deadline, seen, still_since = time.monotonic() + limit, len(server.requests), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - still_since < quiet:
        time.sleep(0.05)
        if len(server.requests) != seen:
            seen, still_since = len(server.requests), time.monotonic()


def test_a_kill_9_in_the_generate_stage_loses_and_repeats_no_answer(tmp_path, capsys):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "answer"}) + "\n" for r in planted_rows()),
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    answers = run_dir / "answers.jsonl"
    with FakeOpenAIServer(responder=generating_responder) as server:
        server.inject("stall", times=None, match=lambda body: len(body["messages"]) == 1 and _apples(body) >= 23)
        argv = ["analyze", str(questions), "-o", str(run_dir), "--endpoint", server.url, "--mode", "rules"]
        argv += ["--generate-with", server.url, "--served-model", "fake", "--generate-served-model", "fake"]
        argv += ["--batch-size", "4", "--concurrency", "4", "--timeout", "3000", "--quiet"]
        kill_9_after(argv, answers, 20)
        assert len(answers.read_text(encoding="utf-8").splitlines()) == 20
        assert not (run_dir / "judged.jsonl").exists()
        settle(server)
        server.clear_faults()
        server.reset()

        code, _, err = run(argv, capsys)

        assert code == 0, err
        assert "20 to make (20 already generated)" in err and f"{N_ROWS} to make (0 already judged)" in err
        assert len(server.chat_requests) == 20 + N_ROWS
    keys = [json.loads(line)["key"] for line in answers.read_text(encoding="utf-8").splitlines()]
    assert len(keys) == len(set(keys)) == N_ROWS
    assert issue_counts(run_dir / "bundle").get(REFERENCE_ISSUE) == N_WRONG


def test_a_modes_options_reach_discover_from_the_flags_and_the_config(tmp_path, capsys):
    """``--detectors`` (mode rules' option, declared in the mode registry) as a flag and as a config key."""
    judged = tmp_path / "judged.csv"
    frame = pd.DataFrame(planted_rows())
    wrong = [i % 3 == 0 for i in range(N_ROWS)]
    frame["feedback"] = ["The final total is wrong." if w else "Correct." for w in wrong]
    frame["score"] = [1 if w else 3 for w in wrong]
    frame.to_csv(judged, index=False)
    base = ["analyze", str(judged), "--mode", "rules", "--keep-empty", "--quiet"]
    assert run([*base, "-o", str(tmp_path / "flags"), "--detectors", "reference_mismatch"], capsys)[0] == 0
    config = tmp_path / "analyze.yaml"
    config.write_text("detectors: [reference_mismatch]\nkeep-empty: true\n", encoding="utf-8")
    code, _, err = run(
        ["analyze", str(judged), "-o", str(tmp_path / "config"), "--mode", "rules", "--config", str(config), "--quiet"],
        capsys,
    )
    assert code == 0, err
    for folder in ("flags", "config"):
        issues = pd.read_parquet(tmp_path / folder / "bundle" / "issues.parquet")
        assert issues["name"].tolist() == [REFERENCE_ISSUE], folder  # the other detectors were not run


def test_agreement_reads_the_human_columns_the_judged_jsonl_carries(server, tmp_path, capsys):
    """The input's human scores travel with each results record: ``agreement judged.jsonl --human human_score``."""
    rows = [dict(r, human_score=1 if i % 3 == 0 else 3) for i, r in enumerate(planted_rows())]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    judged = tmp_path / "judged.jsonl"
    assert main(["judge", str(data), "--endpoint", server.url, "-o", str(judged), "--quiet"]) == 0
    capsys.readouterr()
    code, out, err = run(["agreement", str(judged), "--human", "human_score"], capsys)
    assert code == 0, err
    assert re.search(r"[Ss]pearman\D+1\.0", out), out


def test_rows_left_without_a_judgment_give_exit_code_1_and_still_a_bundle(rows_file, tmp_path, capsys):
    def unreadable_sometimes(messages):
        return "no idea" if _apples({"messages": messages}) % 7 == 0 else responder(messages)

    with FakeOpenAIServer(responder=unreadable_sometimes) as server:
        argv = ["analyze", str(rows_file), "-o", str(tmp_path / "run"), "--endpoint", server.url, "--mode", "rules"]
        code, _, err = run([*argv, "--quiet"], capsys)
    unreadable = sum(1 for i in range(N_ROWS) if (3 + i) % 7 == 0)
    assert code == 1
    assert f"{unreadable} failed" in err and f"{unreadable} rows have no judgment" in err
    assert (tmp_path / "run" / "bundle" / "issues.parquet").is_file()


def test_ctrl_c_in_the_generate_stage_says_what_is_saved(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "answer"}) + "\n" for r in planted_rows()),
        encoding="utf-8",
    )
    answers = tmp_path / "run" / "answers.jsonl"
    with FakeOpenAIServer(responder=generating_responder) as server:
        server.inject("stall", times=None, match=lambda body: _apples(body) >= 23)
        argv = ["analyze", str(questions), "-o", str(tmp_path / "run"), "--endpoint", server.url, "--quiet"]
        argv += ["--generate-with", server.url, "--served-model", "fake", "--generate-served-model", "fake"]
        argv += ["--batch-size", "4", "--concurrency", "4", "--timeout", "3000"]
        process = subprocess.Popen(
            [sys.executable, "-m", "misattribution", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if answers.exists() and len(answers.read_text(encoding="utf-8").splitlines()) >= 20:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"interrupted: 20 of {N_ROWS} rows saved in {answers}; run the same command to resume" in err


def test_one_progress_display_follows_the_stages_with_their_rows(server, rows_file, tmp_path, capsys):
    """Without --quiet, one display: each stage as k/n with its rows done of its total; the runner's and the
    discovery's own bars stay off, and the stage lines still come out whole."""
    argv = ["analyze", str(rows_file), "-o", str(tmp_path / "run"), "--endpoint", server.url, "--mode", "rules"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert f"[1/3 judge] {N_ROWS}/{N_ROWS} rows" in err, err
    assert f"[2/3 discover] {N_ROWS}/" in err and f"[3/3 bundle] {N_ROWS}/{N_ROWS} rows" in err, err
    assert "judging:" not in err and "generating:" not in err and "Loading weights" not in err
    assert re.search(r"(^|\r)\[judge\] cost: judge 40 rows", err, re.M), err  # written above the bar
    # a rerun: nothing left to judge, the stage shows 0 of 0
    code, _, err = run(argv, capsys)
    assert code == 0 and "[1/3 judge] 0/0 rows" in err, err


def test_the_display_counts_the_generated_answers_as_a_stage_of_its_own(tmp_path, capsys):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "answer"}) + "\n" for r in planted_rows()),
        encoding="utf-8",
    )
    with FakeOpenAIServer(responder=generating_responder) as fake:
        argv = ["analyze", str(questions), "-o", str(tmp_path / "run"), "--endpoint", fake.url]
        code, _, err = run([*argv, "--generate-with", fake.url, "--mode", "rules"], capsys)
    assert code == 0, err
    assert f"[1/4 generate] {N_ROWS}/{N_ROWS} rows" in err and f"[2/4 judge] {N_ROWS}/{N_ROWS} rows" in err, err
    assert "[4/4 bundle]" in err


def test_a_kill_9_after_judging_repeats_no_call_and_a_half_written_bundle_is_rewritten(
    server, rows_file, tmp_path, capsys
):
    """Killed with SIGKILL once every row is judged (in the discover stage, which loads the embedder), the
    same command makes no LLM call and writes the bundle; a bundle cut mid-write (its meta.json missing,
    as a kill during the write leaves it) is written again, still without a call."""
    import time

    run_dir = tmp_path / "run"
    judged = run_dir / "judged.jsonl"
    argv = ["analyze", str(rows_file), "-o", str(run_dir), "--endpoint", server.url, "--quiet"]
    argv += ["--served-model", "fake"]
    started = time.monotonic()
    kill_9_after(argv, judged, N_ROWS)
    assert time.monotonic() - started < 120
    assert len(judged.read_text(encoding="utf-8").splitlines()) == N_ROWS
    assert not (run_dir / "bundle" / "meta.json").exists()  # killed before the bundle was complete
    settle(server)
    calls = len(server.chat_requests)
    assert calls == N_ROWS

    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert len(server.chat_requests) == calls  # nothing judged twice
    assert f"{N_ROWS} LLM calls, 0 to make ({N_ROWS} already judged)" in err
    counts = issue_counts(run_dir / "bundle")
    assert counts.get(REFERENCE_ISSUE) == N_WRONG

    (run_dir / "bundle" / "meta.json").unlink()
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert len(server.chat_requests) == calls
    assert issue_counts(run_dir / "bundle") == counts
