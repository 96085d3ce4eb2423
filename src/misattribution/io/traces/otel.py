"""OpenTelemetry GenAI spans in OTLP JSON (``resourceSpans`` / ``scopeSpans`` / ``spans``) as traces.

Read as the OpenTelemetry GenAI semantic conventions describe the spans: ``gen_ai.operation.name``
``invoke_agent`` is an agent step (its agent from ``gen_ai.agent.name``, else the span name
``invoke_agent <name>``), ``execute_tool`` a tool call (``gen_ai.tool.name``, ``gen_ai.tool.call.arguments``,
``gen_ai.tool.call.result``), ``chat`` / ``text_completion`` / ``generate_content`` a model call;
``gen_ai.input.messages`` / ``gen_ai.output.messages`` hold the messages (JSON text, ``role`` + ``parts``),
``gen_ai.tool.definitions`` the tools offered. A span failed when its status code is ``ERROR`` (``2``);
its message is the status message, else ``error.type``, else an ``exception`` event's message. OTLP JSON
values are typed (``{"stringValue": ...}``); ids are hex text. A file may be one export request or a list
of them (a JSONL file from a collector's file exporter, one request per line). An ``invoke_workflow`` span
names the run (``gen_ai.workflow.name``).

Spans without ``gen_ai.operation.name`` are read by two other conventions for the same things: OpenInference
(``openinference.span.kind`` ``AGENT`` / ``TOOL`` / ``LLM``, ``agent.name``, ``tool.name``, ``input.value`` /
``output.value``, ``llm.tools.<i>.tool.json_schema``) and OpenLLMetry (``traceloop.span.kind`` ``agent`` /
``tool`` / ``workflow``, ``traceloop.entity.name``, ``traceloop.entity.input`` / ``output``).
"""

from __future__ import annotations

import json
from typing import Any

from misattribution.io.traces import Span, Trace, bad, json_field, register_format, text_of, tool_names

AGENT_OPERATIONS = ("invoke_agent",)
TOOL_OPERATIONS = ("execute_tool",)
MODEL_OPERATIONS = ("chat", "text_completion", "generate_content")
ERROR_CODES = (2, "2", "STATUS_CODE_ERROR", "ERROR")
_OPENINFERENCE_KINDS = {"AGENT": "agent", "TOOL": "tool", "LLM": "llm"}
_TRACELOOP_KINDS = {"agent": "agent", "tool": "tool"}


def sniff(data: Any) -> bool:
    """An OTLP JSON export request (or a list of them): ``resourceSpans`` at the top."""
    first = data[0] if isinstance(data, list) and data else data
    return isinstance(first, dict) and "resourceSpans" in first


def value_of(value: Any) -> Any:
    """An OTLP ``AnyValue`` (``{"stringValue": "x"}``, ``{"arrayValue": {"values": [...]}}``) as Python.

    >>> value_of({"intValue": "3"}), value_of({"arrayValue": {"values": [{"stringValue": "a"}]}})
    (3, ['a'])
    """
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [value_of(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return attributes_of((value["kvlistValue"] or {}).get("values", []))
    return None


def attributes_of(items: Any) -> dict[str, Any]:
    """OTLP ``attributes`` (a list of ``{"key", "value"}``) as a dict."""
    found = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "key" in item:
            found[str(item["key"])] = value_of(item.get("value"))
    return found


def parse(data: Any, label: str) -> list[Trace]:
    """The traces of an OTLP JSON file (spans grouped by ``traceId``, in order of first appearance)."""
    requests = data if isinstance(data, list) else [data]
    spans_by_trace: dict[str, list[tuple[dict[str, Any], str, dict[str, Any]]]] = {}
    for r, request in enumerate(requests):
        for i, resource_spans in enumerate(request.get("resourceSpans") or []):
            resource = attributes_of((resource_spans.get("resource") or {}).get("attributes"))
            for j, scope_spans in enumerate(resource_spans.get("scopeSpans") or []):
                for k, span in enumerate(scope_spans.get("spans") or []):
                    where = f"{'' if len(requests) == 1 else f'line {r + 1}: '}resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                    if not isinstance(span, dict):
                        raise bad(label, where, "spans", "not a JSON object", "each span is an object")
                    for needed in ("traceId", "spanId"):
                        if not span.get(needed):
                            raise bad(label, where, needed, "missing", "export the spans with their ids")
                    spans_by_trace.setdefault(str(span["traceId"]), []).append((span, where, resource))
    if not spans_by_trace:
        raise bad(label, "resourceSpans", "spans", "no span in the export", "export a whole trace")
    return [_trace(trace_id, items, label) for trace_id, items in spans_by_trace.items()]


def _trace(trace_id: str, items: list[tuple[dict[str, Any], str, dict[str, Any]]], label: str) -> Trace:
    spans, seen = [], set()
    for raw, _where, _resource in items:
        span = _span(raw, f"span {raw['spanId']}", label)
        if span.id in seen:
            raise bad(label, f"span {span.id}", "spanId", "appears twice in trace " + trace_id, "export each span once")
        seen.add(span.id)
        spans.append(span)
    ids = {s.id for s in spans}
    roots = sorted((s for s in spans if s.parent_id not in ids), key=lambda s: s.start)
    root = roots[0]
    service = items[0][2].get("service.name")
    name = root.name if root.kind == "other" else str(service or root.agent or root.name)
    errors = [s.error for s in roots if s.error]
    return Trace(trace_id, name, "otel", spans, root.input, root.output, success=not errors)


def _span(raw: dict[str, Any], where: str, label: str) -> Span:
    attrs = attributes_of(raw.get("attributes"))
    name = str(raw.get("name") or "")
    operation = str(attrs.get("gen_ai.operation.name") or "")
    if operation in AGENT_OPERATIONS:
        kind = "agent"
    elif operation in TOOL_OPERATIONS:
        kind = "tool"
    elif operation in MODEL_OPERATIONS:
        kind = "llm"
    else:
        kind = "other"
    if not operation:  # another convention: OpenInference, OpenLLMetry
        kind = (
            _OPENINFERENCE_KINDS.get(str(attrs.get("openinference.span.kind") or "").upper())
            or _TRACELOOP_KINDS.get(str(attrs.get("traceloop.span.kind") or "").lower())
            or kind
        )
    if operation == "invoke_workflow" or str(attrs.get("traceloop.span.kind") or "").lower() == "workflow":
        name = str(attrs.get("gen_ai.workflow.name") or attrs.get("traceloop.workflow.name")
                   or attrs.get("traceloop.entity.name") or name.removeprefix("invoke_workflow "))  # fmt: skip
    try:
        start = int(raw.get("startTimeUnixNano") or 0)
    except (TypeError, ValueError):
        raise bad(label, where, "startTimeUnixNano", f"not a number: {raw.get('startTimeUnixNano')!r}",
                  "nanoseconds since the epoch, as OTLP writes them") from None  # fmt: skip
    try:
        end = int(raw["endTimeUnixNano"]) if raw.get("endTimeUnixNano") else None
    except (TypeError, ValueError):
        raise bad(label, where, "endTimeUnixNano", f"not a number: {raw.get('endTimeUnixNano')!r}",
                  "nanoseconds since the epoch, as OTLP writes them") from None  # fmt: skip
    agent = attrs.get("gen_ai.agent.name") or (name.split(" ", 1)[1] if name.startswith("invoke_agent ") else None)
    tool = attrs.get("gen_ai.tool.name") or (name.split(" ", 1)[1] if name.startswith("execute_tool ") else None)
    if not operation and kind in ("agent", "tool"):
        named = attrs.get(f"{kind}.name") or attrs.get("traceloop.entity.name") or name
        agent, tool = (named, tool) if kind == "agent" else (agent, named)
    if kind == "agent" and not agent:
        raise bad(label, where, "gen_ai.agent.name", "missing on an invoke_agent span (and no name after "
                  "'invoke_agent' in the span name)", "set gen_ai.agent.name: the agent is the row's system")  # fmt: skip
    if kind == "tool" and not tool:
        raise bad(label, where, "gen_ai.tool.name", "missing on an execute_tool span", "set gen_ai.tool.name")
    inputs = json_field(attrs.get("gen_ai.input.messages"), label, where, "gen_ai.input.messages")
    outputs = json_field(attrs.get("gen_ai.output.messages"), label, where, "gen_ai.output.messages")
    definitions = json_field(attrs.get("gen_ai.tool.definitions"), label, where, "gen_ai.tool.definitions")
    arguments = json_field(attrs.get("gen_ai.tool.call.arguments"), label, where, "gen_ai.tool.call.arguments")
    result = json_field(attrs.get("gen_ai.tool.call.result"), label, where, "gen_ai.tool.call.result")
    if not operation:
        given = _first(attrs, "input.value", "traceloop.entity.input")
        made = _first(attrs, "output.value", "traceloop.entity.output")
        inputs = inputs if inputs is not None else given
        outputs = outputs if outputs is not None else made
        if kind == "tool":
            arguments = arguments if arguments is not None else given
            result = result if result is not None else made
        if definitions is None:
            schemas = sorted(
                (k, v) for k, v in attrs.items() if k.startswith("llm.tools.") and k.endswith(".json_schema")
            )
            definitions = [_maybe_json(v) for _, v in schemas] or None
    status = raw.get("status") or {}
    error = None
    if isinstance(status, dict) and status.get("code") in ERROR_CODES:
        exception = next(
            (attributes_of(e.get("attributes")).get("exception.message") for e in raw.get("events") or []
             if isinstance(e, dict) and e.get("name") == "exception"),
            None,
        )  # fmt: skip
        error = str(status.get("message") or attrs.get("error.type") or exception or "error")
    return Span(
        id=str(raw["spanId"]),
        parent_id=str(raw["parentSpanId"]) if raw.get("parentSpanId") else None,
        name=name,
        kind=kind,
        start=start,
        end=end,
        agent=str(agent) if agent else None,
        tool=str(tool) if tool else None,
        input=text_of(arguments) if kind == "tool" else text_of(inputs),
        output=text_of(result) if kind == "tool" else text_of(outputs),
        arguments=arguments,
        tools=tool_names(definitions),
        error=error,
    )


def _maybe_json(value: Any) -> Any:
    """JSON text parsed, other text kept: these conventions' values are JSON or plain text by the span."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{", '"'):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    return next((_maybe_json(attrs[k]) for k in keys if attrs.get(k) not in (None, "")), None)


register_format("otel", sniff, parse)
