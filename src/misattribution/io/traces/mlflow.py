"""MLflow traces (the JSON of ``Trace.to_json()`` / ``mlflow traces get``: ``info`` + ``data.spans``) as traces.

A file holds one trace, a list of them, or ``{"traces": [...]}``. Each span's ``attributes`` are JSON text
(MLflow serialises every value): ``mlflow.spanType`` ``AGENT`` is an agent step (the span's name is the
agent's), ``TOOL`` a tool call (the span's name is the tool's), ``CHAT_MODEL`` / ``LLM`` a model call;
``mlflow.spanInputs`` / ``mlflow.spanOutputs`` hold the inputs and outputs, ``mlflow.chat.tools`` the tools
offered. A span failed when its status code is ``STATUS_CODE_ERROR`` (MLflow 2: ``status_code`` ``ERROR``);
its message is the status message, else an ``exception`` event's. The trace succeeded when
``info.state`` (MLflow 2: ``info.status``) is ``OK``. MLflow 3 span fields (``span_id``,
``parent_span_id``, ``start_time_unix_nano``) and MLflow 2's (``context.span_id``, ``parent_id``,
``start_time``) are both read.
"""

from __future__ import annotations

from typing import Any

from misattribution.io.traces import Span, Trace, bad, json_field, register_format, text_of, tool_names

AGENT_TYPES = ("AGENT",)
TOOL_TYPES = ("TOOL",)
MODEL_TYPES = ("CHAT_MODEL", "LLM")
ERROR_CODES = ("STATUS_CODE_ERROR", "ERROR")


def sniff(data: Any) -> bool:
    """An MLflow trace: ``info`` and ``data.spans`` (or a list / ``{"traces": [...]}`` of them)."""
    traces = _traces(data)
    first = traces[0] if traces else None
    return isinstance(first, dict) and isinstance(first.get("info"), dict) and "spans" in (first.get("data") or {})


def _traces(data: Any) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("traces"), list):
        return data["traces"]
    return data if isinstance(data, list) else [data]


def parse(data: Any, label: str) -> list[Trace]:
    """The traces of an MLflow trace file."""
    traces = []
    for number, raw in enumerate(_traces(data)):
        where = f"traces[{number}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("info"), dict):
            raise bad(label, where, "info", "missing", "export whole traces (mlflow traces get)")
        info = raw["info"]
        trace_id = info.get("trace_id") or info.get("request_id")
        if not trace_id:
            raise bad(label, where, "info.trace_id", "missing", "export whole traces (mlflow traces get)")
        spans_raw = (raw.get("data") or {}).get("spans")
        if not isinstance(spans_raw, list) or not spans_raw:
            raise bad(label, f"trace {trace_id}", "data.spans", "no spans", "export whole traces")
        spans, seen = [], set()
        for index, span_raw in enumerate(spans_raw):
            span = _span(span_raw, f"trace {trace_id}: data.spans[{index}]", label)
            if span.id in seen:
                raise bad(
                    label, f"trace {trace_id}: span {span.id}", "span_id", "appears twice", "export each span once"
                )
            seen.add(span.id)
            spans.append(span)
        ids = {s.id for s in spans}
        roots = sorted((s for s in spans if s.parent_id not in ids), key=lambda s: s.start)
        state = str(info.get("state") or info.get("status") or "").upper()
        success = None if not state or state in ("IN_PROGRESS", "STATE_UNSPECIFIED") else state == "OK"
        traces.append(
            Trace(str(trace_id), roots[0].name, "mlflow", spans, roots[0].input, roots[0].output, success=success)
        )
    return traces


def _span(raw: Any, where: str, label: str) -> Span:
    if not isinstance(raw, dict):
        raise bad(label, where, "spans", "not a JSON object", "each span is an object")
    context = raw.get("context") if isinstance(raw.get("context"), dict) else {}
    span_id = raw.get("span_id") or context.get("span_id")
    if not span_id:
        raise bad(label, where, "span_id", "missing", "export the spans with their ids")
    where = f"{where.split(':')[0]}: span {span_id}"
    attrs_raw = raw.get("attributes") or {}
    if not isinstance(attrs_raw, dict):
        raise bad(label, where, "attributes", "not a JSON object", "MLflow writes attributes as an object")
    attrs = {key: json_field(value, label, where, key) for key, value in attrs_raw.items()}
    span_type = str(attrs.get("mlflow.spanType") or "UNKNOWN").upper()
    kind = "agent" if span_type in AGENT_TYPES else "tool" if span_type in TOOL_TYPES else "other"
    kind = "llm" if span_type in MODEL_TYPES else kind
    start_raw = raw.get("start_time_unix_nano", raw.get("start_time", 0))
    try:
        start = int(start_raw or 0)
    except (TypeError, ValueError):
        raise bad(
            label, where, "start_time_unix_nano", f"not a number: {start_raw!r}", "nanoseconds since the epoch"
        ) from None
    end_raw = raw.get("end_time_unix_nano", raw.get("end_time"))
    try:
        end = int(end_raw) if end_raw not in (None, "") else None
    except (TypeError, ValueError):
        raise bad(
            label, where, "end_time_unix_nano", f"not a number: {end_raw!r}", "nanoseconds since the epoch"
        ) from None
    name = str(raw.get("name") or "")
    if kind in ("agent", "tool") and not name:
        raise bad(label, where, "name", f"missing on a {span_type} span", f"the span's name is the {kind}'s name")
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    code = status.get("code") or raw.get("status_code")
    error = None
    if str(code or "").upper() in ERROR_CODES:
        exception = next(
            (
                (e.get("attributes") or {}).get("exception.message")
                for e in raw.get("events") or []
                if isinstance(e, dict) and e.get("name") == "exception"
            ),
            None,
        )
        error = str(status.get("message") or raw.get("status_message") or exception or "error")
    inputs, outputs = attrs.get("mlflow.spanInputs"), attrs.get("mlflow.spanOutputs")
    parent = raw.get("parent_span_id") or raw.get("parent_id")
    return Span(
        id=str(span_id),
        parent_id=str(parent) if parent else None,
        name=name,
        kind=kind,
        start=start,
        end=end,
        agent=name if kind == "agent" else None,
        tool=name if kind == "tool" else None,
        input=text_of(inputs),
        output=text_of(outputs),
        arguments=inputs if kind == "tool" else None,
        tools=tool_names(attrs.get("mlflow.chat.tools")),
        error=error,
    )


register_format("mlflow", sniff, parse)
