"""A graph's event stream (``astream_events(version="v2")``) as trace steps.

Kept: each graph node's end, each tool call's end and each model call's end,
with their inputs and outputs. Dropped: start and streaming-chunk events, and
the graph's own internal runnables (routing functions and the like), which
add noise without telling a reader what the graph did. The root run's end
carries the graph's final state; it is the candidate's output, not a step.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from themis.core.models import JSONValue, TraceStep
from themis_adapters_langgraph.messages import to_json

_STEP_TYPES = {
    "on_tool_end": "tool",
    "on_chat_model_end": "model",
    "on_llm_end": "model",
    "on_retriever_end": "retriever",
}


def is_final(event: Mapping[str, Any]) -> bool:
    """The end of the root run: its output is the graph's final state."""
    return event.get("event") == "on_chain_end" and event.get("parent_ids") == []


def trace_step(event: Mapping[str, Any]) -> TraceStep | None:
    """The step an event records, or None for events that are not steps."""
    kind = str(event.get("event", ""))
    name = str(event.get("name", ""))
    data = event.get("data") or {}
    metadata = event.get("metadata") or {}
    node = metadata.get("langgraph_node")
    if kind.endswith(("_start", "_stream")) or is_final(event):
        return None
    if kind == "on_chain_end":
        if node != name:
            return None
        step_type = "node"
    elif kind in _STEP_TYPES:
        step_type = _STEP_TYPES[kind]
    elif isinstance(data, Mapping) and "output" in data:
        step_type = kind or "step"  # a custom event that still reports an output
    else:
        return None
    details: dict[str, JSONValue] = {
        key: to_json(value)
        for key, value in (
            ("node", node),
            ("langgraph_step", metadata.get("langgraph_step")),
            ("run_id", event.get("run_id")),
        )
        if value is not None
    }
    return TraceStep(
        step_name=name,
        step_type=step_type,
        input=to_json(data.get("input")),
        output=to_json(data.get("output")),
        metadata=details,
        timestamp=time.time(),
    )
