"""Langfuse exports (traces with their observations, as the public API's ``GET /api/public/traces/{id}``
returns them) as traces.

A file holds one trace, a list of them, or ``{"data": [...]}`` / ``{"traces": [...]}``, or observations
alone (the observations API's ``{"data": [...]}``, grouped by ``traceId``); each trace has
``id``, ``name``, ``input``, ``output`` and ``observations``. An observation of ``type`` ``AGENT`` is an
agent step (its ``name`` is the agent's), ``TOOL`` a tool call (its ``name`` is the tool's; ``input`` the
arguments, ``output`` the result), ``GENERATION`` a model call (the tools offered from its ``input.tools``
or ``metadata.tools``); ``parentObservationId`` links them. An observation failed when its ``level`` is
``ERROR``; its message is ``statusMessage``. A trace has no status of its own in Langfuse: it succeeded
unless an observation at its root has level ``ERROR``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from misattribution.io.traces import Span, Trace, bad, register_format, text_of, tool_names

AGENT_TYPES = ("AGENT",)
TOOL_TYPES = ("TOOL",)
MODEL_TYPES = ("GENERATION",)


def _traces(data: Any) -> list[Any]:
    if isinstance(data, dict):
        for key in ("data", "traces"):
            if isinstance(data.get(key), list):
                return data[key]
    return data if isinstance(data, list) else [data]


def _is_observation(item: Any) -> bool:
    return (
        isinstance(item, dict) and "traceId" in item and "type" in item and "id" in item and "observations" not in item
    )


def sniff(data: Any) -> bool:
    """Langfuse traces (objects with ``id`` and a list of ``observations``), or observations alone (the
    observations API's ``{"data": [...]}``: objects with ``id``, ``traceId`` and ``type``)."""
    traces = _traces(data)
    first = traces[0] if traces else None
    return (isinstance(first, dict) and isinstance(first.get("observations"), list) and "id" in first) or (
        _is_observation(first)
    )


def _grouped(observations: list[Any]) -> list[dict[str, Any]]:
    """Observations alone, grouped into traces by ``traceId`` (in order of first appearance); a trace so
    made has no name, task or output of its own (its root observation's are used)."""
    traces: dict[str, dict[str, Any]] = {}
    for item in observations:
        trace_id = str(item.get("traceId") or "") if isinstance(item, dict) else ""
        traces.setdefault(trace_id, {"id": trace_id, "observations": []})["observations"].append(item)
    return list(traces.values())


def parse(data: Any, label: str) -> list[Trace]:
    """The traces of a Langfuse export."""
    traces = []
    items = _traces(data)
    if items and _is_observation(items[0]):
        items = _grouped(items)
    for number, raw in enumerate(items):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise bad(label, f"traces[{number}]", "id", "missing", "export whole traces with their ids")
        trace_id = str(raw["id"])
        if not isinstance(raw.get("observations"), list):
            raise bad(label, f"trace {trace_id}", "observations", "missing", "export traces with their observations")
        spans, seen = [], set()
        for index, item in enumerate(raw["observations"]):
            if isinstance(item, str):  # the traces list API gives observation ids, not observations
                raise bad(label, f"trace {trace_id}: observations[{index}]", "observations", "an id, not an observation",
                          "export each trace whole (GET /api/public/traces/{id}) or the observations themselves")  # fmt: skip
            span = _span(item, f"trace {trace_id}: observations[{index}]", label)
            if span.id in seen:
                raise bad(label, f"trace {trace_id}: observation {span.id}", "id", "appears twice", "each once")
            seen.add(span.id)
            spans.append(span)
        if not spans:
            raise bad(label, f"trace {trace_id}", "observations", "empty", "export traces with their observations")
        ids = {s.id for s in spans}
        roots = sorted((s for s in spans if s.parent_id not in ids), key=lambda s: s.start)
        name = str(raw.get("name") or roots[0].name)
        task = text_of(raw.get("input")) or roots[0].input
        final = text_of(raw.get("output")) or roots[-1].output
        traces.append(Trace(trace_id, name, "langfuse", spans, task, final, success=not any(r.error for r in roots)))
    return traces


def _time(value: Any, label: str, where: str, field_name: str = "startTime") -> float | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise bad(
            label, where, field_name, f"not an ISO 8601 time: {value!r}", "e.g. 2026-12-01T10:00:00.000Z"
        ) from None


def _span(raw: Any, where: str, label: str) -> Span:
    if not isinstance(raw, dict):
        raise bad(label, where, "observations", "not a JSON object", "each observation is an object")
    if not raw.get("id"):
        raise bad(label, where, "id", "missing", "export observations with their ids")
    where = f"{where.split(':')[0]}: observation {raw['id']}"
    kind_raw = str(raw.get("type") or "SPAN").upper()
    kind = "agent" if kind_raw in AGENT_TYPES else "tool" if kind_raw in TOOL_TYPES else "other"
    kind = "llm" if kind_raw in MODEL_TYPES else kind
    name = str(raw.get("name") or "")
    if kind in ("agent", "tool") and not name:
        raise bad(label, where, "name", f"missing on a {kind_raw} observation", f"the name is the {kind}'s name")
    level = str(raw.get("level") or "DEFAULT").upper()
    error = str(raw.get("statusMessage") or "error") if level == "ERROR" else None
    inputs, outputs = raw.get("input"), raw.get("output")
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    offered = (inputs.get("tools") if isinstance(inputs, dict) else None) or metadata.get("tools")
    parent = raw.get("parentObservationId")
    return Span(
        id=str(raw["id"]),
        parent_id=str(parent) if parent else None,
        name=name,
        kind=kind,
        start=_time(raw.get("startTime"), label, where) or 0.0,
        end=_time(raw.get("endTime"), label, where, "endTime"),
        agent=name if kind == "agent" else None,
        tool=name if kind == "tool" else None,
        input=text_of(inputs),
        output=text_of(outputs),
        arguments=inputs if kind == "tool" else None,
        tools=tool_names(offered),
        error=error,
    )


register_format("langfuse", sniff, parse)
