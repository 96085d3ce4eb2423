"""Agent traces as rows: OpenTelemetry GenAI spans, MLflow traces and Langfuse exports, one row per step.

A trace file (or a folder of them) becomes a table that the judge, discovery, ``analyze`` and the Space
read like any other (:func:`misattribution.io.tables.read_table` hands trace files here):

* one **step** row per agent invocation (an OpenTelemetry ``invoke_agent`` span, an MLflow ``AGENT`` span,
  a Langfuse ``AGENT`` observation): ``question`` is what the step was asked, ``answer`` its output,
  ``system`` the agent's name, ``tools_available`` the tools it had, ``tool_calls`` the calls it made (JSON
  text: name, arguments, result, error), ``step_status`` / ``step_error`` whether it or one of its tool
  calls failed;
* one **trajectory** row per trace: ``question`` is the task, ``answer`` the run's final output, ``steps``
  the transcript of its steps, ``task_success`` the trace's own status, ``first_failed_step`` (1-based) and
  ``first_failed_system`` the first step that failed (empty when none did; a step that failed because a step it
  called failed first is not named); its ``system`` is the trace's name (the workflow; ``<name> (run)`` when an
  agent has that name).

Every row also has ``id`` (``<trace id>/step-<k>``, ``<trace id>/trajectory``), ``trace_id``,
``step_index``, ``step_id`` (the span or observation id), ``kind`` (``step`` | ``trajectory``),
``trace_name`` and ``trace_format``. The judge picks its prompt variant from ``kind``
(:func:`misattribution.prompts.build_agent_messages`).

Formats are pluggable: each module (``otel``, ``mlflow``, ``langfuse``) calls :func:`register_format`
with a ``sniff(data) -> bool`` and a ``parse(data, label) -> list[Trace]``; :func:`read_traces` picks
the format by sniffing the parsed JSON. A bad trace is one :class:`~misattribution.io.tables.InputError`
naming the file, the span or observation id and the field.

Example (a one-step Langfuse trace; :func:`read_traces` reads a file or a folder the same way):
    >>> trace = {"id": "t1", "name": "demo", "observations": [
    ...     {"id": "a", "type": "AGENT", "name": "helper", "input": "Add 2 and 2.", "output": "4"}]}
    >>> rows_from_data([trace], "demo.json")[["kind", "system", "question", "answer"]].values.tolist()
    [['step', 'helper', 'Add 2 and 2.', '4'], ['trajectory', 'demo', 'Add 2 and 2.', '4']]
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from misattribution.io.tables import InputError

#: The columns of a trace table, in order.
COLUMNS = (
    "id",
    "trace_id",
    "step_index",
    "step_id",
    "kind",
    "system",
    "question",
    "answer",
    "tools_available",
    "tool_calls",
    "step_status",
    "step_error",
    "steps",
    "task_success",
    "first_failed_step",
    "first_failed_system",
    "trace_name",
    "trace_format",
)
KINDS = ("step", "trajectory")
#: Modules holding a format each, imported on first use; each registers itself.
_FORMAT_MODULES = ("otel", "mlflow", "langfuse")
TRACE_SUFFIXES = (".json", ".jsonl")
#: A trajectory's transcript is cut to this many characters (~5,000 tokens), keeping every failed step.
MAX_TRANSCRIPT_CHARS = 20_000


@dataclass
class Span:
    """One span or observation, in the terms every format maps to.

    ``kind`` is ``agent`` (an agent invocation: a step), ``tool`` (a tool execution), ``llm`` (a model call)
    or ``other``. ``tools`` are the tool names offered to it, ``error`` its error message (``None``: ok);
    ``start`` and ``end`` are times in the format's unit (``end`` ``None`` when not recorded).
    """

    id: str
    parent_id: str | None
    name: str
    kind: str
    start: float
    agent: str | None = None
    tool: str | None = None
    input: str = ""
    output: str = ""
    arguments: Any = None
    tools: list[str] = field(default_factory=list)
    error: str | None = None
    end: float | None = None


@dataclass
class Trace:
    """One trace: its spans, its task and final output, and its own success (``None``: not recorded)."""

    id: str
    name: str
    format: str
    spans: list[Span]
    input: str = ""
    output: str = ""
    success: bool | None = None


@dataclass(frozen=True)
class TraceFormat:
    """A registered format: ``sniff(data)`` says whether parsed JSON is this format; ``parse(data, label)``
    returns its traces (raising :class:`InputError` naming ``label``, the span id and the field)."""

    name: str
    sniff: Callable[[Any], bool]
    parse: Callable[[Any, str], list[Trace]]


_REGISTRY: dict[str, TraceFormat] = {}


def register_format(name: str, sniff: Callable[[Any], bool], parse: Callable[[Any, str], list[Trace]]) -> None:
    """Register a trace format (each format module calls this when imported)."""
    _REGISTRY[name] = TraceFormat(name, sniff, parse)


def formats() -> dict[str, TraceFormat]:
    """The registered formats by name (the shipped modules are imported on first call)."""
    for module in _FORMAT_MODULES:
        importlib.import_module(f"misattribution.io.traces.{module}")
    return dict(_REGISTRY)


def sniff_format(data: Any) -> str | None:
    """The name of the format parsed JSON ``data`` is in, or ``None`` when it is not a trace export.

    >>> sniff_format({"resourceSpans": []}), sniff_format([{"question": "q", "answer": "a"}])
    ('otel', None)
    """
    for name, fmt in formats().items():
        try:
            if fmt.sniff(data):
                return name
        except (AttributeError, TypeError, KeyError, IndexError):
            continue
    return None


def read_traces(path: str | Path) -> pd.DataFrame:
    """The rows of a trace file (``.json``, or ``.jsonl`` with one export per line) or of every trace
    file in a folder (sorted by name), as a DataFrame with :data:`COLUMNS`.

    Raises:
        InputError: not JSON, not a known trace format, or a bad span (file, span id and field named).
    """
    path = Path(path)
    files = trace_files(path) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path}: no trace files (.json, .jsonl) in this folder\n  hint: export the traces there")
    rows: list[dict[str, Any]] = []
    for file in files:
        data = load_json(file)
        name = sniff_format(data)
        if name is None:
            raise InputError(
                f"{file}: line 1: not a trace export this reader knows ({', '.join(formats())})\n"
                "  hint: export OTLP JSON (resourceSpans), an MLflow trace (info + data.spans) or Langfuse traces"
            )
        rows.extend(trace_rows(_REGISTRY[name].parse(data, str(file))))
    return frame_of(rows, str(path))


def rows_from_data(data: Any, label: str) -> pd.DataFrame | None:
    """The rows of already parsed JSON ``data`` when it is a trace export, else ``None`` (the input layer's
    hook: a table file that turns out to be a trace export is read here)."""
    name = sniff_format(data)
    if name is None:
        return None
    return frame_of(trace_rows(_REGISTRY[name].parse(data, label)), label)


def trace_files(folder: Path) -> list[Path]:
    """The ``.json`` / ``.jsonl`` files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TRACE_SUFFIXES)


def is_trace_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder whose ``.json`` / ``.jsonl`` files are trace exports (at least one)."""
    path = Path(path)
    if not path.is_dir():
        return False
    files = trace_files(path)
    try:
        return bool(files) and all(sniff_format(load_json(f)) is not None for f in files)
    except InputError:
        return False


def load_json(path: Path) -> Any:
    """A ``.json`` file's value, or a ``.jsonl`` file's lines as a list (an OTLP file exporter writes one
    export request per line). Raises :class:`InputError` naming the file and line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise InputError(f"{path}: line {line}: not UTF-8 text\n  hint: save the export as UTF-8") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(f"{path}: line 1: JSON nested too deeply") from None
    except json.JSONDecodeError as err:
        if not path.suffix.lower() == ".jsonl" and err.msg != "Extra data":
            raise InputError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from None
    values = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                values.append(json.loads(line))
            except (json.JSONDecodeError, RecursionError) as err:
                why = err.msg if isinstance(err, json.JSONDecodeError) else "nested too deeply"
                raise InputError(f"{path}: line {number}: not valid JSON ({why})") from None
    return values


def frame_of(rows: list[dict[str, Any]], label: str) -> pd.DataFrame:
    """Rows as a DataFrame with :data:`COLUMNS` (ids checked unique)."""
    if not rows:
        raise InputError(f"{label}: the traces hold no agent step or model call\n  hint: export a whole trace")
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("step_index", "first_failed_step"):
        frame[column] = frame[column].astype("Int64")  # whole numbers, empty where they do not apply
    frame["task_success"] = frame["task_success"].astype("boolean")
    seen: dict[str, int] = {}
    for number, row_id in enumerate(frame["id"], start=1):
        if row_id in seen:
            raise InputError(
                f"{label}: trace {row_id.split('/')[0]}: appears twice (rows {seen[row_id]} and {number})\n"
                "  hint: each trace once per file or folder"
            )
        seen[row_id] = number
    return frame


# -- a trace -> rows ---------------------------------------------------------------------------------
def _ancestors(span: Span, by_id: dict[str, Span]) -> Iterable[Span]:
    seen = {span.id}
    parent = by_id.get(span.parent_id or "")
    while parent is not None and parent.id not in seen:
        seen.add(parent.id)
        yield parent
        parent = by_id.get(parent.parent_id or "")


def _owner(span: Span, by_id: dict[str, Span], kinds: tuple[str, ...]) -> Span | None:
    return next((a for a in _ancestors(span, by_id) if a.kind in kinds), None)


def _clip(text: str, width: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def trace_rows(traces: Iterable[Trace]) -> list[dict[str, Any]]:
    """The step rows and the trajectory row of every trace (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for trace in traces:
        rows.extend(_rows_of(trace))
    return rows


def _rows_of(trace: Trace) -> list[dict[str, Any]]:
    by_id = {s.id: s for s in trace.spans}
    ordered = sorted(trace.spans, key=lambda s: (s.start, s.id))
    step_kinds: tuple[str, ...] = ("agent",)
    steps = [s for s in ordered if s.kind == "agent"]
    if not steps:  # a single-model app: its model calls are the steps
        step_kinds = ("llm",)
        steps = [s for s in ordered if s.kind == "llm"]
    base = {"trace_id": trace.id, "trace_name": trace.name, "trace_format": trace.format}
    rows, transcript = [], []
    failures: list[tuple[float, int, str]] = []  # (when the step's first failure ended, step, agent)
    inside_of: dict[str, list[Span]] = {}  # each span under its nearest step (one walk up per span)
    for span in ordered:
        owner = _owner(span, by_id, step_kinds)
        if owner is not None:
            inside_of.setdefault(owner.id, []).append(span)
    for k, step in enumerate(steps, start=1):
        inside = inside_of.get(step.id, [])
        calls = [s for s in inside if s.kind == "tool"]
        models = [s for s in inside if s.kind == "llm"]
        tools = list(dict.fromkeys([*step.tools, *(t for m in models for t in m.tools), *(c.tool for c in calls)]))
        question = step.input or next((m.input for m in models if m.input), "")
        answer = step.output or next((m.output for m in reversed(models) if m.output), "")
        call_records = [
            {"name": c.tool or c.name, "arguments": c.arguments, "result": c.output or None, "error": c.error}
            for c in calls
        ]
        errors = [f"tool {c.tool or c.name} failed: {c.error}" for c in calls if c.error]
        errors += [f"model call {m.name} failed: {m.error}" for m in models if m.error]
        if step.error:
            errors.insert(0, step.error)
        system = step.agent or step.name if step.kind == "agent" else trace.name
        error = "; ".join(dict.fromkeys(errors)) or None
        if error:
            failed = [s for s in (step, *calls, *models) if s.error]
            failures.append((min(s.start if s.end is None else s.end for s in failed), k, system))
        rows.append(
            {
                **base,
                "id": f"{trace.id}/step-{k}",
                "step_index": k,
                "step_id": step.id,
                "kind": "step",
                "system": system,
                "question": question,
                "answer": answer,
                "tools_available": tools,
                "tool_calls": json.dumps(call_records, ensure_ascii=False, default=str),
                "step_status": "error" if error else "ok",
                "step_error": error,
            }
        )
        made = ", ".join(
            f"{c['name']}({_clip(json.dumps(c['arguments'], ensure_ascii=False, default=str), 120)})"
            + (f" -> ERROR {c['error']}" if c["error"] else f" -> {_clip(c['result'] or '', 160)}")
            for c in call_records
        )
        transcript.append(
            f"{k}. {system} [{'ERROR: ' + _clip(error, 200) if error else 'ok'}]\n"
            f"   asked: {_clip(question, 300)}\n"
            + (f"   tool calls: {made}\n" if made else "")
            + f"   output: {_clip(answer, 300) or '(none)'}"
        )
    roots = [s for s in ordered if next(iter(_ancestors(s, by_id)), None) is None]
    task = trace.input or next((r.input for r in roots if r.input), "") or (rows[0]["question"] if rows else "")
    final = trace.output or next((r.output for r in reversed(roots) if r.output), "")
    final = final or (rows[-1]["answer"] if rows else "")
    # The first step that went wrong is the one whose failure came first: an agent that fails because a
    # sub-agent it called failed ends after it, so the sub-agent is named, not its caller.
    first_failed = min(failures)[1:] if failures else None
    # The runs are a system of their own, never mixed with an agent's steps (a trace named after its root agent).
    agents = {r["system"] for r in rows}
    run_system = trace.name if trace.name not in agents else f"{trace.name} (run)"
    success = trace.success
    if success is None:
        success = not any(r.error for r in roots)
    rows.append(
        {
            **base,
            "id": f"{trace.id}/trajectory",
            "step_index": None,
            "step_id": roots[0].id if roots else None,
            "kind": "trajectory",
            "system": run_system,
            "question": task,
            "answer": final,
            "tools_available": list(dict.fromkeys(t for r in rows for t in r["tools_available"])),
            "tool_calls": json.dumps([c for r in rows for c in json.loads(r["tool_calls"])], ensure_ascii=False),
            "step_status": "ok" if success and first_failed is None else "error",
            "step_error": next((r["step_error"] for r in rows if r["step_error"]), None),
            "steps": _bounded(transcript, [r["step_status"] == "error" for r in rows]),
            "task_success": bool(success),
            "first_failed_step": first_failed[0] if first_failed else None,
            "first_failed_system": first_failed[1] if first_failed else None,
        }
    )
    return rows


def _bounded(transcript: list[str], failed: list[bool], limit: int | None = None) -> str:
    """The steps' transcript within ``limit`` characters (:data:`MAX_TRANSCRIPT_CHARS`) so a long run fits a
    judge's context: the first and last steps and every failed step are kept, the others left out with a line
    saying how many.

    >>> print(_bounded([f"{k}. agent [ok]" for k in range(1, 9)], [k == 5 for k in range(1, 9)], limit=100))
    1. agent [ok]
    2. agent [ok]
    ... 2 steps left out ...
    5. agent [ok]
    ... 2 steps left out ...
    8. agent [ok]
    """
    limit = MAX_TRANSCRIPT_CHARS if limit is None else limit
    text = "\n".join(transcript)
    if len(text) <= limit:
        return text
    keep = {k for k, bad in enumerate(failed) if bad}
    size = sum(len(transcript[k]) + 1 for k in keep)
    ends = [k for pair in zip(range(len(transcript)), reversed(range(len(transcript)))) for k in pair]
    for k in dict.fromkeys(ends):  # first, last, second, second to last, ... while they fit
        if k not in keep and size + len(transcript[k]) + 1 + 40 <= limit:
            keep.add(k)
            size += len(transcript[k]) + 1
        elif k not in keep:
            break
    lines, skipped = [], 0
    for k, step in enumerate(transcript):
        if k in keep:
            if skipped:
                lines.append(f"... {skipped} steps left out ...")
                skipped = 0
            lines.append(step)
        else:
            skipped += 1
    if skipped:
        lines.append(f"... {skipped} steps left out ...")
    return "\n".join(lines)


# -- helpers the format modules share ----------------------------------------------------------------
def text_of(value: Any) -> str:
    """A message list, a dict or a value as the text a judge reads.

    Chat messages (``role`` with ``content`` or OpenTelemetry ``parts``) become ``role: text`` lines (the
    system messages left out: they are the agent's instructions, not the request); a dict with one text
    field becomes that text; anything else is compact JSON.

    >>> text_of([{"role": "user", "parts": [{"type": "text", "content": "Plan the report."}]}])
    'Plan the report.'
    >>> text_of({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
    'user: hi\\nassistant: hello'
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        for key in ("messages", "input_messages", "output_messages"):
            if isinstance(value.get(key), list):
                return text_of(value[key])
        if "role" in value and ("content" in value or "parts" in value):  # one chat message
            return _message_text(value)
        if isinstance(value.get("choices"), list) and value["choices"]:  # an OpenAI response
            choice = value["choices"][0]
            return text_of([choice.get("message")] if isinstance(choice, dict) and choice.get("message") else choice)
        texts = [v for k, v in value.items() if isinstance(v, str) and k in _TEXT_KEYS]
        if len(texts) == 1 and len(value) <= 3:
            return texts[0].strip()
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        lines = [(m.get("role"), _message_text(m)) for m in value if m.get("role") != "system"]
        lines = [(role, text) for role, text in lines if text]
        if len(lines) == 1:
            return lines[0][1]
        return "\n".join(f"{role}: {text}" for role, text in lines)
    return json.dumps(value, ensure_ascii=False, default=str)


_TEXT_KEYS = ("content", "text", "output", "input", "query", "question", "answer", "response", "result", "task")


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    parts = message.get("parts")
    if isinstance(parts, list):
        pieces = []
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                pieces.append(str(part.get("content", "")))
            elif part.get("type") == "tool_call":
                args = json.dumps(part.get("arguments"), ensure_ascii=False, default=str)
                pieces.append(f"[calls {part.get('name')}({args})]")
            elif part.get("type") == "tool_call_response":
                pieces.append(f"[tool result: {json.dumps(part.get('response'), ensure_ascii=False, default=str)}]")
        return " ".join(p for p in pieces if p).strip()
    if isinstance(content, list):
        return " ".join(str(c.get("text", "")) if isinstance(c, dict) else str(c) for c in content).strip()
    text = "" if content is None else str(content).strip()
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:  # OpenAI style: {"function": {"name", "arguments"}}
        if isinstance(call, dict):
            function = call.get("function") if isinstance(call.get("function"), dict) else call
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except ValueError:
                    pass
            args = json.dumps(arguments, ensure_ascii=False, default=str)
            text = (text + " " if text else "") + f"[calls {function.get('name')}({args})]"
    return text


def tool_names(definitions: Any) -> list[str]:
    """Tool names from tool definitions: OpenAI style (``{"type": "function", "function": {"name"}}``),
    flat (``{"name": ...}``) or plain strings.

    >>> tool_names([{"type": "function", "function": {"name": "web_search"}}, {"name": "calc"}, "fetch"])
    ['web_search', 'calc', 'fetch']
    """
    names = []
    for item in definitions if isinstance(definitions, list) else []:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict):
            function = item.get("function") if isinstance(item.get("function"), dict) else item
            if function.get("name"):
                names.append(str(function["name"]))
    return names


def bad(label: str, where: str, field_name: str, problem: str, hint: str) -> InputError:
    """An :class:`InputError` naming the file, the span or observation, and the field."""
    return InputError(f"{label}: {where}: field {field_name!r}: {problem}\n  hint: {hint}")


def json_field(value: Any, label: str, where: str, field_name: str) -> Any:
    """A field that holds JSON text (most formats serialise structured attributes): parsed, or an error
    naming the file, the span and the field. A value that is not text is returned as is."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if stripped == "null":  # MLflow serialises a missing value as JSON null
        return None
    if not stripped or stripped[0] not in '[{"':
        return value
    try:
        return json.loads(stripped)
    except (json.JSONDecodeError, RecursionError) as err:
        why = err.msg if isinstance(err, json.JSONDecodeError) else "nested too deeply"
        raise bad(label, where, field_name, f"not valid JSON ({why})", "write the attribute as JSON text") from None
