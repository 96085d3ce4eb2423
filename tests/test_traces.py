"""Agent traces in: OpenTelemetry GenAI (OTLP JSON), MLflow and Langfuse fixtures of one four-agent run
(``tests/fixtures/traces/``, written by ``make_fixtures.py`` from the formats' public specifications) become
rows -- one per agent step, one per trajectory -- that the judge (the loopback OpenAI-compatible server, with
the step and trajectory prompt variants), discovery, ``analyze`` and the Space take like any table: one system
per agent, the trajectory rows naming the first failed step. Bad traces are refused naming the file, the span
or observation id and the field (exit 2, no traceback)."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import urllib.request
from pathlib import Path

import pytest

from misattribution.cli import main
from misattribution.discovery.report import IssueReport
from misattribution.io.tables import InputError, read_table
from misattribution.io.traces import COLUMNS, formats, read_traces, sniff_format
from misattribution.runner import load_results
from misattribution.testing.fake_openai import FakeOpenAIServer

pytestmark = pytest.mark.timeout(600)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

FIXTURES = Path(__file__).parent / "fixtures" / "traces"
FORMATS = ("otel", "mlflow", "langfuse")
AGENTS = {"planner", "researcher", "writer", "reviewer"}
WORKFLOW = "report_pipeline"


def fixture(name: str) -> Path:
    return FIXTURES / f"{name}.json"


def responder(messages):
    """A judge that reads the variant prompts: a step whose tool call failed, or that approved an unsupported
    claim, fails; a trajectory names its first step marked ERROR (or none). Any other prompt is an error."""
    user = messages[-1]["content"]
    if "### Tool calls made" in user:  # the step variant
        agent = user.split("### Agent\n", 1)[1].split("\n", 1)[0]
        calls = user.split("### Tool calls made\n", 1)[1].split("\n\n###", 1)[0]
        failed = re.search(r"(\w+)\(.*\) -> ERROR: (.+)", calls)
        if failed:
            return (
                f"Feedback: The {agent} step's {failed.group(1)} call failed ({failed.group(2)}) and the step went on "
                "without its result, so its output is not grounded in a source.\nMisattribution: Hallucination\nScore: 1"
            )
        if "no source found" in calls and "Approved" in user.rsplit("### The step's output\n", 1)[1]:
            return (
                f"Feedback: The {agent} approved a claim that the fact check could not support.\n"
                "Misattribution: Content Inconsistency\nScore: 1"
            )
        return (
            f"Feedback: The {agent} step does what it was asked with the tools it had.\nMisattribution: None\nScore: 3"
        )
    if "### Steps\n" in user:  # the trajectory variant
        steps = user.split("### Steps\n", 1)[1].split("\n\n### Final output", 1)[0]
        first = re.search(r"^(\d+)\. (\w+) \[ERROR", steps, re.M)
        if first:
            return (
                f"Feedback: The task was not achieved. First failed step: {first.group(1)} ({first.group(2)}).\n"
                "Misattribution: Process Error\nScore: 1"
            )
        return "Feedback: The task succeeded. First failed step: none.\nMisattribution: None\nScore: 3"
    raise AssertionError("a trace row was judged without its agent prompt variant")


@pytest.fixture
def server():
    with FakeOpenAIServer(responder=responder) as fake:
        yield fake


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# -- rows ----------------------------------------------------------------------------------------------
def test_every_format_is_registered_and_sniffed():
    assert set(FORMATS) <= set(formats())
    for name in FORMATS:
        assert sniff_format(json.loads(fixture(name).read_text(encoding="utf-8"))) == name
    assert sniff_format([{"question": "q", "answer": "a"}]) is None


@pytest.mark.parametrize("name", FORMATS)
def test_a_fixture_becomes_one_row_per_step_and_one_per_trajectory(name):
    rows = read_traces(fixture(name))
    assert list(rows.columns) == list(COLUMNS)
    steps, trajectories = rows[rows.kind == "step"], rows[rows.kind == "trajectory"]
    assert (len(steps), len(trajectories)) == (11, 3)
    assert set(steps.system) == AGENTS and set(trajectories.system) == {WORKFLOW}
    assert rows.id.is_unique and set(rows.trace_format) == {name}
    # trajectories: acme succeeds; globex's researcher (step 2) had a failed tool call though the run reported
    # success; initech's writer (step 3) failed and so did the run
    assert trajectories.first_failed_step.tolist()[1:] == [2, 3] and trajectories.first_failed_step.isna().tolist()[0]
    assert trajectories.first_failed_system.tolist()[1:] == ["researcher", "writer"]
    assert trajectories.task_success.tolist() == [True, True, False]
    assert "2. researcher [ERROR: tool web_search failed: HTTP 503" in trajectories.steps.iloc[1]
    # a step: what it was asked, the tools it had (offered to its model call), the calls it made
    researcher = steps[(steps.system == "researcher")].iloc[1]
    assert researcher.question == "Find Globex's 2023 headcount and a source."
    assert list(researcher.tools_available) == ["web_search", "fetch_page"]
    calls = json.loads(researcher.tool_calls)
    assert [(c["name"], c["arguments"], c["error"]) for c in calls] == [
        ("web_search", {"query": "Globex 2023 headcount employees"}, "HTTP 503 Service Unavailable from search backend")
    ]
    assert researcher.step_status == "error" and "web_search" in researcher.step_error
    writer = steps[(steps.system == "writer")].iloc[2]
    assert writer.step_status == "error" and "division by zero" in writer.step_error
    assert writer.answer.startswith("[calls calculator(")  # no output of its own: its model call's last turn
    assert steps.step_index.tolist() == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3]


def test_the_three_formats_give_the_same_rows_but_their_ids():
    frames = [
        read_traces(fixture(name)).drop(columns=["id", "trace_id", "step_id", "trace_format"]) for name in FORMATS
    ]
    for other in frames[1:]:
        assert frames[0].astype(str).equals(other.astype(str))


def test_the_input_layer_reads_a_trace_file_a_jsonl_export_and_a_folder(tmp_path):
    frame, _ = read_table(fixture("otel"))
    assert len(frame) == 14 and set(frame.kind) == {"step", "trajectory"}
    # a collector's file exporter: one export request per line (here one per trace)
    request = json.loads(fixture("otel").read_text(encoding="utf-8"))
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    lines = []
    for trace_id in dict.fromkeys(s["traceId"] for s in spans):
        one = copy.deepcopy(request)
        one["resourceSpans"][0]["scopeSpans"][0]["spans"] = [s for s in spans if s["traceId"] == trace_id]
        lines.append(json.dumps(one))
    jsonl = tmp_path / "otel.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_table(jsonl)[0].drop(columns=[]).astype(str).equals(frame.astype(str))
    folder = tmp_path / "traces"
    folder.mkdir()
    for name in ("otel", "mlflow"):
        shutil.copy(fixture(name), folder / f"{name}.json")
    rows, _ = read_table(folder)
    assert len(rows) == 28 and set(rows.trace_format) == {"otel", "mlflow"}
    # the Langfuse export holds the same traces (ids) as the OpenTelemetry one: a trace counted twice is refused
    shutil.copy(fixture("langfuse"), folder / "langfuse.json")
    with pytest.raises(InputError, match=r"traces: trace [0-9a-f]{32}: appears twice"):
        read_table(folder)


# -- judged, discovered, served ------------------------------------------------------------------------
@pytest.mark.parametrize("name", FORMATS)
def test_analyze_judges_a_trace_file_with_the_variants_then_discovers_and_bundles(name, server, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["analyze", str(fixture(name)), "--endpoint", server.url, "-o", str(out), "--mode", "clusters+rules"]
    code, stdout, err = run([*argv, "--quiet"], capsys)
    assert code == 0, err
    assert "cost: judge 14 rows x 1 call = 14 LLM calls, 14 to make (0 already judged)" in err
    prompts = [r.body["messages"][-1]["content"] for r in server.chat_requests]
    assert len(prompts) == 14
    assert sum("### Tools available" in p for p in prompts) == 11 and sum("### Steps\n" in p for p in prompts) == 3
    records = list(load_results(out / "judged.jsonl").values())
    trajectories = sorted((r for r in records if r["input"]["kind"] == "trajectory"), key=lambda r: r["row"])
    assert [r["feedback"].split("First failed step: ")[1] for r in trajectories] == [
        "none.",
        "2 (researcher).",
        "3 (writer).",
    ]
    assert [r["input"]["first_failed_step"] for r in trajectories] == [None, 2, 3]
    report = IssueReport.load(out / "bundle")
    assert set(report.rows.system) == AGENTS | {WORKFLOW}
    failing = report.rows[report.rows.failing]
    assert sorted(failing.system) == sorted(["researcher", "reviewer", "writer", WORKFLOW, WORKFLOW])
    from misattribution.explore import Explorer, Filters

    explorer = Explorer(report)
    assert len(explorer.filtered_rows(Filters(systems=("researcher",)))) == 3
    # a rerun judges nothing again
    before = len(server.chat_requests)
    code, _, err = run([*argv, "--quiet"], capsys)
    assert code == 0 and len(server.chat_requests) == before
    assert "14 LLM calls, 0 to make (14 already judged)" in err  # the estimate keys the variant prompts too


def test_judge_cli_takes_a_trace_file(server, tmp_path, capsys):
    output = tmp_path / "judged.jsonl"
    code, _, err = run(["judge", str(fixture("langfuse")), "--endpoint", server.url, "-o", str(output)], capsys)
    assert code == 0, err
    systems = {r["input"]["system"] for r in load_results(output).values()}
    assert systems == AGENTS | {WORKFLOW}


def test_the_space_serves_the_bundle_of_a_trace_run_with_one_system_per_agent(server, tmp_path, capsys):
    pytest.importorskip("gradio", reason="the Space needs the 'space' extra (gradio)")
    out = tmp_path / "run"
    code, _, err = run(["analyze", str(fixture("otel")), "--endpoint", server.url, "-o", str(out), "--quiet"], capsys)
    assert code == 0, err
    from browser import launched

    from misattribution.space.app import build_app, load_bundle

    with launched(build_app(load_bundle(out / "bundle"))) as url:
        with urllib.request.urlopen(f"{url}config", timeout=60) as response:
            config = response.read().decode("utf-8")
    for agent in AGENTS | {WORKFLOW}:
        assert f'"{agent}"' in config, agent


def test_the_spaces_judge_it_path_takes_an_uploaded_trace_file(server, tmp_path):
    """The Space's Load tab: a trace file has no judgments, so loading it alone is refused with the reason;
    with a judge endpoint, "Judge it" judges its rows (with the variants) into a report, one system per agent."""
    from misattribution.space.app import _judge
    from misattribution.uploads import UploadError, UploadLimits, load_upload

    copied = tmp_path / "mlflow.json"
    shutil.copy(fixture("mlflow"), copied)
    with pytest.raises(UploadError, match="feedback"):
        load_upload(copied)
    result = _judge(str(copied), server.url, {}, UploadLimits())
    assert len(server.chat_requests) == 14
    assert set(result.report.rows.system) == AGENTS | {WORKFLOW}
    assert sorted(result.report.rows[result.report.rows.failing].system) == sorted(
        ["researcher", "reviewer", "writer", WORKFLOW, WORKFLOW]
    )


# -- bad traces ----------------------------------------------------------------------------------------
def _otel_broken(data):
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    span["attributes"] = [a for a in span["attributes"] if a["key"] != "gen_ai.agent.name"]
    span["name"] = "invoke_agent"
    return span["spanId"], "gen_ai.agent.name"


def _otel_bad_json(data):
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
    for attribute in span["attributes"]:
        if attribute["key"] == "gen_ai.input.messages":
            attribute["value"] = {"stringValue": '[{"role": "user", "parts": [}'}
    return span["spanId"], "gen_ai.input.messages"


def _mlflow_no_span_id(data):
    del data[1]["data"]["spans"][3]["span_id"]
    return "data.spans[3]", "span_id"


def _mlflow_bad_start(data):
    span = data[0]["data"]["spans"][2]
    span["start_time_unix_nano"] = "yesterday"
    return span["span_id"], "start_time_unix_nano"


def _langfuse_bad_time(data):
    observation = data["data"][2]["observations"][4]
    observation["startTime"] = "not a time"
    return observation["id"], "startTime"


def _langfuse_no_name(data):
    observation = next(o for o in data["data"][0]["observations"] if o["type"] == "TOOL")
    observation["name"] = ""
    return observation["id"], "name"


@pytest.mark.parametrize(
    "name, breaks",
    [
        ("otel", _otel_broken),
        ("otel", _otel_bad_json),
        ("mlflow", _mlflow_no_span_id),
        ("mlflow", _mlflow_bad_start),
        ("langfuse", _langfuse_bad_time),
        ("langfuse", _langfuse_no_name),
    ],
)
def test_a_bad_trace_names_file_span_and_field_and_exits_2(name, breaks, tmp_path, capsys):
    data = json.loads(fixture(name).read_text(encoding="utf-8"))
    where, field = breaks(data)
    path = tmp_path / f"bad_{name}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_traces(path)
    message = str(caught.value)
    assert str(path) in message and where in message and f"field {field!r}" in message, message
    code, out, err = run(
        ["judge", str(path), "--endpoint", "http://127.0.0.1:9/v1", "-o", str(tmp_path / "j.jsonl")], capsys
    )
    assert code == 2 and where in err and field in err and "Traceback" not in err, err
    assert not (tmp_path / "j.jsonl").exists()


def test_the_readme_traces_section_runs_as_written(server, tmp_path, capsys, monkeypatch):
    """Each command of the README's "Agent traces" (its endpoint replaced by the loopback server's; trace.json
    the OpenTelemetry fixture, traces/ a folder with the OpenTelemetry and MLflow fixtures)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Agent traces", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [
        shlex.split(line.split("  #", 1)[0].replace("http://127.0.0.1:8000/v1", server.url))[1:]
        for line in block.splitlines()
        if line.startswith("misattribution ")
    ]
    assert [argv[:2] for argv in commands] == [
        ["judge", "trace.json"],
        ["analyze", "trace.json"],
        ["analyze", "traces/"],
    ]
    monkeypatch.chdir(tmp_path)
    shutil.copy(fixture("otel"), tmp_path / "trace.json")
    (tmp_path / "traces").mkdir()
    for name in ("otel", "mlflow"):
        shutil.copy(fixture(name), tmp_path / "traces" / f"{name}.json")
    calls = []
    for argv in commands:
        code, _, err = run([*argv, "--quiet"] if argv[0] == "analyze" else argv, capsys)
        assert code == 0, (argv, err)
        calls.append(len(server.chat_requests))
    assert calls == [14, 28, 56]
    report = IssueReport.load(tmp_path / "out-all" / "bundle")
    assert len(report.rows) == 28 and set(report.rows.system) == AGENTS | {WORKFLOW}


def test_a_trace_without_agents_has_its_model_calls_as_steps():
    """A single-model app (MLflow autolog of a chain: CHAIN > CHAT_MODEL; no AGENT span): each model call is a
    step, its system the trace's name; the tools offered to the model are the step's."""
    spans = [
        {"span_id": "r", "parent_span_id": "", "name": "qa_chain", "start_time_unix_nano": 1,
         "attributes": {"mlflow.spanType": '"CHAIN"', "mlflow.spanInputs": '{"question": "What is 2 + 2?"}',
                        "mlflow.spanOutputs": '"4"'}, "status": {"code": "STATUS_CODE_OK"}},
        {"span_id": "m1", "parent_span_id": "r", "name": "ChatOpenAI", "start_time_unix_nano": 2,
         "attributes": {"mlflow.spanType": '"CHAT_MODEL"',
                        "mlflow.spanInputs": '[{"role": "user", "content": "What is 2 + 2?"}]',
                        "mlflow.spanOutputs": '{"role": "assistant", "content": "4"}',
                        "mlflow.chat.tools": '[{"type": "function", "function": {"name": "calculator"}}]'},
         "status": {"code": "STATUS_CODE_OK"}},
    ]  # fmt: skip
    trace = {"info": {"trace_id": "tr-1", "state": "OK"}, "data": {"spans": spans}}
    from misattribution.io.traces import rows_from_data

    rows = rows_from_data(trace, "one.json")
    assert rows[["kind", "system", "question", "answer"]].values.tolist() == [
        ["step", "qa_chain", "What is 2 + 2?", "4"],
        ["trajectory", "qa_chain (run)", "What is 2 + 2?", "4"],
    ]
    assert list(rows.tools_available.iloc[0]) == ["calculator"] and bool(rows.task_success.iloc[1])


def test_a_json_table_that_is_no_trace_is_read_as_a_table(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"question": "q", "answer": "a", "id": "1"}]), encoding="utf-8")
    frame, _ = read_table(path)
    assert list(frame.columns) == ["question", "answer", "id"]
    empty = tmp_path / "folder"
    empty.mkdir()
    with pytest.raises(InputError, match="no trace files"):
        read_table(empty)


def _otlp_span(span_id, parent, name, start, end, attributes, error=None):
    span = {
        "traceId": "ab" * 16,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
        "status": {"code": 2, "message": error} if error else {},
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def test_the_first_failed_step_is_the_one_that_failed_first_not_its_caller():
    """An orchestrator whose sub-agent's tool failed fails too, later: the sub-agent is the first failed step."""
    user = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Fix the failing build."}]}])
    spans = [
        _otlp_span("01", None, "invoke_agent orchestrator", 1, 10, {"gen_ai.operation.name": "invoke_agent",
                   "gen_ai.agent.name": "orchestrator", "gen_ai.input.messages": user}, "sub-agent coder failed"),
        _otlp_span("02", "01", "invoke_agent coder", 2, 6, {"gen_ai.operation.name": "invoke_agent",
                   "gen_ai.agent.name": "coder"}, "tests still failing"),
        _otlp_span("03", "02", "execute_tool run_tests", 3, 4, {"gen_ai.operation.name": "execute_tool",
                   "gen_ai.tool.name": "run_tests", "gen_ai.tool.call.arguments": '{"path": "tests/"}'},
                   "3 tests failed"),
        _otlp_span("04", "01", "invoke_agent reporter", 7, 9, {"gen_ai.operation.name": "invoke_agent",
                   "gen_ai.agent.name": "reporter"}),
    ]  # fmt: skip
    from misattribution.io.traces import rows_from_data

    rows = rows_from_data({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, "nested.json")
    steps = rows[rows.kind == "step"]
    assert steps.system.tolist() == ["orchestrator", "coder", "reporter"]
    assert steps.step_status.tolist() == ["error", "error", "ok"]
    assert json.loads(steps.tool_calls.iloc[1])[0]["name"] == "run_tests" and steps.tool_calls.iloc[0] == "[]"
    trajectory = rows[rows.kind == "trajectory"].iloc[0]
    assert (trajectory.first_failed_step, trajectory.first_failed_system) == (2, "coder")
    assert not trajectory.task_success and trajectory.question == "Fix the failing build."
    assert trajectory.system == "orchestrator (run)"  # the trace is named after its root agent: runs stay apart


def test_a_long_runs_transcript_fits_the_judge_and_keeps_its_failed_step():
    """300 steps: the trajectory's transcript stays within MAX_TRANSCRIPT_CHARS, keeps the first and last
    steps and the failed one, and says how many it left out."""
    from misattribution.io.traces import MAX_TRANSCRIPT_CHARS, rows_from_data

    observations = [
        {"id": f"o{k}", "type": "AGENT", "name": f"worker-{k % 7}", "startTime": f"2026-01-01T00:{k // 60:02d}:{k % 60:02d}Z",
         "input": f"Process batch {k} of the customer records. " * 4, "output": f"Batch {k} processed. " * 6,
         "level": "ERROR" if k == 150 else "DEFAULT", "statusMessage": "schema mismatch" if k == 150 else None}
        for k in range(300)
    ]  # fmt: skip
    rows = rows_from_data({"data": [{"id": "long", "name": "etl", "observations": observations}]}, "long.json")
    trajectory = rows[rows.kind == "trajectory"].iloc[0]
    assert len(trajectory.steps) <= MAX_TRANSCRIPT_CHARS
    assert trajectory.steps.startswith("1. worker-0 [ok]") and "\n300. worker-5 [ok]" in trajectory.steps
    assert "\n151. worker-3 [ERROR: schema mismatch]" in trajectory.steps and "steps left out ..." in trajectory.steps
    assert trajectory.first_failed_step == 151


def test_the_step_prompt_shows_a_failed_call_once_and_the_steps_own_error():
    from misattribution.prompts import build_agent_messages

    rows = read_traces(fixture("otel"))
    researcher, writer = rows.iloc[6], rows.iloc[12]
    shown = build_agent_messages(researcher, researcher.question, researcher.answer)[1]["content"]
    assert shown.count("HTTP 503") == 1 and "Recorded error" not in shown
    shown = build_agent_messages(writer, writer.question, writer.answer)[1]["content"]
    assert "-> ERROR: ZeroDivisionError: division by zero" in shown
    assert "Recorded error: writer stopped: the calculator failed" in shown and shown.count("division by zero") == 1


def test_openinference_and_openllmetry_spans_are_read_as_the_same_steps():
    """OTLP spans written with OpenInference's or OpenLLMetry's attributes instead of the GenAI conventions."""
    from misattribution.io.traces import rows_from_data

    tool_schema = json.dumps({"type": "function", "function": {"name": "lookup_order"}})
    openinference = [
        _otlp_span("a1", None, "support_agent", 1, 9, {"openinference.span.kind": "AGENT", "agent.name": "support",
                   "input.value": "Where is order 42?", "output.value": "Order 42 ships tomorrow."}),
        _otlp_span("a2", "a1", "ChatCompletion", 2, 3, {"openinference.span.kind": "LLM",
                   "llm.tools.0.tool.json_schema": tool_schema}),
        _otlp_span("a3", "a1", "lookup_order", 4, 5, {"openinference.span.kind": "TOOL", "tool.name": "lookup_order",
                   "input.value": '{"order_id": 42}', "output.value": '{"status": "packed"}'}),
    ]  # fmt: skip
    openllmetry = [
        _otlp_span("b0", None, "support_flow.workflow", 1, 9, {"traceloop.span.kind": "workflow",
                   "traceloop.entity.name": "support_flow"}),
        _otlp_span("b1", "b0", "support.agent", 1, 9, {"traceloop.span.kind": "agent", "traceloop.entity.name": "support",
                   "traceloop.entity.input": '{"question": "Where is order 42?"}',
                   "traceloop.entity.output": '"Order 42 ships tomorrow."'}),
        _otlp_span("b3", "b1", "lookup_order.tool", 4, 5, {"traceloop.span.kind": "tool",
                   "traceloop.entity.name": "lookup_order", "traceloop.entity.input": '{"order_id": 42}'},
                   "order service timed out"),
    ]  # fmt: skip
    first = rows_from_data({"resourceSpans": [{"scopeSpans": [{"spans": openinference}]}]}, "oi.json")
    step = first.iloc[0]
    assert (step.system, step.question, step.answer) == ("support", "Where is order 42?", "Order 42 ships tomorrow.")
    assert list(step.tools_available) == ["lookup_order"]
    assert json.loads(step.tool_calls) == [
        {"name": "lookup_order", "arguments": {"order_id": 42}, "result": '{"status": "packed"}', "error": None}
    ]
    second = rows_from_data({"resourceSpans": [{"scopeSpans": [{"spans": openllmetry}]}]}, "tl.json")
    step, run = second.iloc[0], second.iloc[1]
    assert (step.system, step.question, step.answer) == ("support", "Where is order 42?", "Order 42 ships tomorrow.")
    assert step.step_status == "error" and "order service timed out" in step.step_error
    assert (run.system, run.first_failed_step, run.first_failed_system) == ("support_flow", 1, "support")


def test_langfuse_observations_alone_are_grouped_into_their_traces(tmp_path):
    """The observations API's export (flat observations with traceId) gives the steps of the traces export; a
    traces list that holds observation ids only is refused with what to export instead."""
    data = json.loads(fixture("langfuse").read_text(encoding="utf-8"))
    flat = {"data": [o for trace in data["data"] for o in trace["observations"]], "meta": {"page": 1}}
    path = tmp_path / "observations.json"
    path.write_text(json.dumps(flat), encoding="utf-8")
    rows, whole = read_traces(path), read_traces(fixture("langfuse"))
    steps = ["id", "kind", "system", "question", "answer", "tool_calls", "step_error"]
    assert rows[rows.kind == "step"][steps].equals(whole[whole.kind == "step"][steps])
    runs = rows[rows.kind == "trajectory"]
    assert runs.first_failed_step.tolist()[1:] == [2, 3] and set(runs.system) == {WORKFLOW}
    ids_only = {"data": [dict(t, observations=[o["id"] for o in t["observations"]]) for t in data["data"]]}
    path.write_text(json.dumps(ids_only), encoding="utf-8")
    with pytest.raises(InputError, match=r"observations\[0\]: field 'observations': an id, not an observation"):
        read_traces(path)
