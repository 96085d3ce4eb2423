"""The engines (issue 15 build 5): the Ray path on a local 2-CPU Ray instance gives the single-process results.

A loopback OpenAI-compatible judge writes each planted row's feedback; the Ray judge's results file equals the
local runner's record for record (and either resumes the other's), and the Ray discover report equals the
single-process one (same issues, ids, parents and row sets). Without Ray (extra ``ray``) the Ray tests skip.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from planted_small import planted_rows  # noqa: E402

from misattribution.engines import MissingEngineError, UnknownEngineError, engine_names, get_engine  # noqa: E402

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="the ray engine needs Ray Data: pip install 'misattribution[ray]'")
needs_encoder = pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None,
    reason="discovery needs sentence-transformers: pip install 'misattribution[space]'",
)
N_ROWS = 240


# -- a planted dataset and a judge that writes its feedback ---------------------------------------------------
@pytest.fixture(scope="module")
def planted():
    frame, truth = planted_rows(N_ROWS, seed=11)
    return frame, truth


def _responder(frame):
    """The planted feedback of the row whose question is in the prompt; every 23rd row gets unreadable text."""
    by_question = {
        row.question: (row.id, row.feedback.split("\n\nFinal Score")[0], row.score) for row in frame.itertuples()
    }

    def respond(messages):
        prompt = messages[-1]["content"]
        for question, (row_id, feedback, score) in by_question.items():
            if question in prompt:
                if int(row_id[1:]) % 23 == 0:
                    return "I cannot judge this."
                label = "None" if score == 3 else "Result Error"
                return f"Feedback: {feedback}\nMisattribution: {label}\nScore: {score}"
        return "no such row"

    return respond


@pytest.fixture(scope="module")
def server(planted):
    from misattribution.testing.fake_openai import FakeOpenAIServer

    with FakeOpenAIServer(responder=_responder(planted[0]), model="planted-judge") as server:
        yield server


@pytest.fixture(scope="module")
def ray_engine():
    if not HAS_RAY:
        pytest.skip("the ray engine needs Ray Data: pip install 'misattribution[ray]'")
    clock = time.perf_counter()
    with get_engine("ray", num_cpus=2) as engine:
        print(f"ray.init (2 CPUs): {time.perf_counter() - clock:.1f} s")
        yield engine


def _records(path: Path) -> dict[str, str]:
    return {json.loads(line)["key"]: line for line in path.read_text(encoding="utf-8").splitlines()}


# -- the registry -------------------------------------------------------------------------------------------
def test_registry_names_the_shipped_engines_and_refuses_unknown_ones():
    assert engine_names()[:2] == ["local", "ray"]
    with pytest.raises(UnknownEngineError, match="unknown engine 'spark'; choose one of local, ray"):
        get_engine("spark")


def test_ray_engine_without_ray_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    from misattribution.engines.ray import RayEngine

    with pytest.raises(MissingEngineError, match=r"pip install 'misattribution\[ray\]'"):
        RayEngine(num_cpus=2)


# -- judging ------------------------------------------------------------------------------------------------
@needs_ray
def test_ray_judge_equals_the_local_runner_and_resumes_it(planted, server, ray_engine, tmp_path):
    from misattribution.judges import load_judge

    frame = planted[0][["id", "question", "answer"]]
    factory = functools.partial(load_judge, server.url, model="planted-judge")
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    local = get_engine("local").judge_dataset(frame, factory, local_out, progress=False, batch_size=32)
    server.reset()
    clock = time.perf_counter()
    judged = ray_engine.judge_dataset(frame, factory, ray_out, progress=False, batch_size=32)
    print(f"ray judge, {N_ROWS} rows: {time.perf_counter() - clock:.1f} s")
    assert len(server.chat_requests) == N_ROWS
    # Row by row: the same returned table, and the same records (the file order is the actors' order).
    pd.testing.assert_frame_equal(judged, local)
    assert _records(ray_out) == _records(local_out)
    assert set(judged["status"]) == {"ok", "failed"} and (judged["status"] == "failed").sum() == len(
        range(0, N_ROWS, 23)
    )
    assert (
        json.loads((tmp_path / "ray.jsonl.meta.json").read_text())["config"]
        == json.loads((tmp_path / "local.jsonl.meta.json").read_text())["config"]
    )

    # Rows whose generation fails are recorded as errors and retried by the next run, of either engine; a
    # rerun judges only those; a file the local runner half wrote is finished by Ray.
    retried = tmp_path / "retried.jsonl"
    omar = frame["question"].str.contains("Omar")
    server.reset()
    server.inject("error_400", times=None, match=lambda body: "Omar" in str(body["messages"]))
    first = ray_engine.judge_dataset(frame, factory, retried, progress=False, batch_size=32)
    server.clear_faults()
    assert 0 < (first["status"] == "error").sum() == omar.sum()
    assert "HTTP 400" in first.loc[omar, "error"].iloc[0]
    server.reset()
    again = ray_engine.judge_dataset(frame, factory, retried, progress=False, batch_size=32)
    assert len(server.chat_requests) == omar.sum()
    pd.testing.assert_frame_equal(again, local)
    assert _records(retried) == _records(local_out)  # the latest record of each key
    mixed = tmp_path / "mixed.jsonl"
    get_engine("local").judge_dataset(frame.iloc[:100], factory, mixed, progress=False)
    server.reset()
    ray_engine.judge_dataset(frame, factory, mixed, progress=False, batch_size=32)
    assert len(server.chat_requests) == N_ROWS - 100
    assert _records(mixed) == _records(local_out)


@needs_ray
def test_ray_judge_interrupted_keeps_whole_batches_and_resumes(planted, ray_engine, tmp_path):
    """Ctrl-C (a real SIGINT, once the first batch is written) stops the run with RunInterrupted; every line
    written is a whole record, and the same call judges exactly the rows left."""
    import os
    import signal
    import threading

    from misattribution.judges import load_judge
    from misattribution.runner import RunInterrupted
    from misattribution.testing.fake_openai import FakeOpenAIServer

    frame = planted[0][["id", "question", "answer"]].iloc[:160]
    out = tmp_path / "judged.jsonl"

    finished = threading.Event()

    def interrupt_after_first_batch():
        while not finished.is_set() and (not out.exists() or not out.stat().st_size):
            time.sleep(0.02)
        if not finished.is_set():  # never a stray Ctrl-C into the test session
            os.kill(os.getpid(), signal.SIGINT)

    # 160 rows at 0.2 s each, 4 in flight per client (2 clients): at least 4 s of judging, against a 20 ms poll.
    with FakeOpenAIServer(latency=0.2) as server:
        factory = functools.partial(load_judge, server.url, model="fake-judge", concurrency=4)
        watcher = threading.Thread(target=interrupt_after_first_batch, daemon=True)
        watcher.start()
        try:
            with pytest.raises(RunInterrupted) as stop:
                ray_engine.judge_dataset(frame, factory, out, progress=False, batch_size=16)
        finally:
            finished.set()
            watcher.join()
        lines = out.read_text(encoding="utf-8").splitlines()
        assert 0 < stop.value.saved == len(lines) < len(frame) and stop.value.total == len(frame)
        assert all(json.loads(line)["status"] == "ok" for line in lines)
        # Calls the interrupted run had in flight may still land (late, on a loaded machine: 148 counted
        # against 144 once): wait until the server has been quiet for a second before counting anew.
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < 1.0:
            if len(server.chat_requests) != seen:
                seen, quiet_since = len(server.chat_requests), time.monotonic()
            time.sleep(0.05)
        server.reset()
        done = ray_engine.judge_dataset(frame, factory, out, progress=False, batch_size=16)
        assert len(server.chat_requests) == len(frame) - len(lines)
        assert (done["status"] == "ok").all() and len(_records(out)) == len(frame)


@needs_ray
def test_cli_judge_engine_ray(planted, server, ray_engine, tmp_path, capsys):
    from misattribution.cli import main

    rows = tmp_path / "rows.jsonl"
    planted[0][["id", "question", "answer"]].to_json(rows, orient="records", lines=True)
    out = tmp_path / "judged.jsonl"
    args = ["judge", str(rows), "--endpoint", server.url, "--served-model", "planted-judge", "-o", str(out)]
    code = main([*args, "--engine", "ray", "--num-cpus", "2", "--quiet"])
    printed = capsys.readouterr()
    failed = len(range(0, N_ROWS, 23))
    assert code == 1  # rows whose judge output is unreadable
    assert f"summary: {N_ROWS} rows: {N_ROWS - failed} ok, 0 partial, {failed} failed, 0 error" in printed.out
    local_out = tmp_path / "local.jsonl"
    assert main([*args[:-1], str(local_out), "--quiet"]) == 1
    assert _records(out) == _records(local_out)


@needs_ray
def test_cli_refuses_a_ray_pairwise_run(tmp_path, capsys):
    from misattribution.cli import main

    rows = tmp_path / "pairs.jsonl"
    rows.write_text(json.dumps({"question": "q", "answer_a": "a", "answer_b": "b"}) + "\n")
    code = main(
        ["judge", str(rows), "--endpoint", "http://127.0.0.1:9/v1", "-o", str(tmp_path / "o.jsonl")]
        + ["--mode", "pairwise", "--engine", "ray"]
    )
    assert code == 2 and "--engine ray: pairwise judging runs on the local engine only" in capsys.readouterr().err


# -- discovery ----------------------------------------------------------------------------------------------
def _row_sets(report):
    a = report.assignments
    return {issue.id: frozenset(a.loc[a.issue_id == issue.id, "row_id"]) for issue in report.issues}


def _summary(report):
    return [(i.id, i.name, i.parent, i.count) for i in report.issues]


@needs_ray
@needs_encoder
def test_ray_discover_equals_the_single_process_report(planted, ray_engine, tmp_path, capsys):
    from misattribution.cli import main
    from misattribution.discovery.report import IssueReport

    frame = planted[0].copy()
    frame.loc[frame.index[::23], ["score", "feedback"]] = [None, None]  # judge-failed rows: their own issue
    frame["status"] = ["failed" if i % 23 == 0 else "ok" for i in range(len(frame))]
    judged = tmp_path / "judged.jsonl"
    frame.to_json(judged, orient="records", lines=True)
    # --no-tree: the tree is built on the driver from the issues and assignments compared below, whichever engine
    # found them (and costs half a minute cold at machine load 10).
    options = ["--quiet", "--no-tree"]
    assert main(["discover", str(judged), "-o", str(tmp_path / "local"), *options]) == 0
    clock = time.perf_counter()
    code = main(["discover", str(judged), "-o", str(tmp_path / "ray"), "--engine", "ray", "--shards", "2", *options])
    print(f"ray discover (CLI), {N_ROWS} rows, 2 shards: {time.perf_counter() - clock:.1f} s")
    assert code == 0 and "bundle: " in capsys.readouterr().out
    local, sharded = IssueReport.load(tmp_path / "local"), IssueReport.load(tmp_path / "ray")
    assert sharded.meta["engine"] == "ray" and sharded.meta["shards"] == 2
    assert sharded.meta["n_micro_clusters"] == sharded.meta["n_clustered"] > 0
    # Every critical sentence fits in its shard's budget: each micro-cluster is one sentence, and the reduce
    # is the single-process clustering of the same vectors.
    assert len(local.issues) >= 5 and "judge-failed" in {i.id for i in local.issues}
    assert _summary(sharded) == _summary(local)
    assert _row_sets(sharded) == _row_sets(local)
    assert sharded.assignments.to_dict("records") == local.assignments.to_dict("records")
    assert sharded.meta["n_critical"] == local.meta["n_critical"]
    from misattribution.discovery.modes import mode_names

    assert "clusters_sharded" not in mode_names()  # registered only while an engine's discover runs

    # Past the budget the shards send summaries: at most 3 micro-clusters per shard and language reach the
    # reduce (the shard workers are the ones above, here mapped in this process); every row of a cluster issue
    # is a failing row with its evidence. Its agreement with the exact report: benchmarks/bench_ray.py.
    small = get_engine("local").discover(str(judged), shards=3, micro_clusters=3, progress=False, tree=False)
    assert small.meta["engine"] == "local" and small.meta["shards"] == 3
    assert small.meta["n_micro_clusters"] <= 3 * 3 < local.meta["n_clustered"]
    clustered = small.assignments[small.assignments["issue_id"] != "judge-failed"]
    failing = set(small.rows.loc[small.rows["failing"], "row_id"].astype(str))
    assert len(clustered) and set(clustered["row_id"]) <= failing
    assert all(isinstance(e, str) and e for e in clustered["evidence"])


def test_cli_engine_ray_without_ray_refuses_on_one_line(tmp_path, monkeypatch, capsys):
    from misattribution.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "a", "question": "2 + 2?", "answer": "4"}) + "\n")
    out = tmp_path / "judged.jsonl"
    code = main(
        ["judge", str(rows), "--endpoint", "http://127.0.0.1:9/v1", "--served-model", "m", "-o", str(out)]
        + ["--engine", "ray"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "misattribution judge: error: --engine ray: the ray engine needs Ray Data" in err
    assert "pip install 'misattribution[ray]'" in err and not out.exists()
