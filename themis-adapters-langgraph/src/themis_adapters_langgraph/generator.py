"""The LangGraph generator: one run of a compiled graph per candidate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from themis.core.authoring.identity import content_hash
from themis.core.authoring.prompts import render_messages
from themis.core.contexts import GenerateContext
from themis.core.models import Case, GenerationResult, JSONValue, Message, TraceStep
from themis_adapters_langgraph.events import is_final, trace_step
from themis_adapters_langgraph.messages import conversation, to_json, token_usage

InputBuilder = Callable[[Case, list[Message]], Any]
"""Builds the graph's input state from the case and its rendered prompt messages."""


def default_input(case: Case, messages: list[Message]) -> dict[str, Any]:
    """``{"messages": [...]}``: what graphs built on LangGraph's ``MessagesState`` take."""
    del case
    return {"messages": [{"role": m.role, "content": m.content} for m in messages]}


def _state_keys(state: Any) -> list[str]:
    if isinstance(state, Mapping):
        return sorted(str(key) for key in state)
    return sorted(name for name in vars(state) if not name.startswith("_"))


class LangGraphGenerator:
    """Candidates from a compiled LangGraph graph; build it with :func:`langgraph`."""

    component_id = "langgraph/generator"
    version = "1"

    def __init__(
        self,
        graph: Any,
        *,
        graph_id: str,
        output_key: str,
        graph_version: str | None = None,
        capture_trace: bool = True,
        instructions: str | None = None,
        input_builder: InputBuilder | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        where = f"langgraph(graph_id={graph_id!r})"
        if not isinstance(graph_id, str) or not graph_id.strip():
            raise ValueError(f"{where}: graph_id must be a non-empty name for the graph")
        if not isinstance(output_key, str) or not output_key:
            raise ValueError(f"{where}: output_key must name a key of the graph's final state")
        can_stream = callable(getattr(graph, "astream_events", None))
        can_invoke = callable(getattr(graph, "ainvoke", None))
        if not can_invoke and not (capture_trace and can_stream):
            needed = "astream_events() nor ainvoke()" if capture_trace else "ainvoke()"
            raise TypeError(
                f"{where}: {type(graph).__name__} has no {needed}; pass a compiled graph "
                "(StateGraph(...).compile())"
            )
        self.graph = graph
        self.graph_id = graph_id
        self.output_key = output_key
        self.graph_version = graph_version
        self.capture_trace = capture_trace
        self.instructions = instructions
        self.input_builder = input_builder or default_input
        self.config = dict(config) if config is not None else None
        self.where = where

    def identity(self) -> dict[str, JSONValue]:
        """The graph's id and version stand in for its code, which Themis cannot hash."""
        return {
            "component_id": self.component_id,
            "version": self.version,
            "graph_id": self.graph_id,
            "graph_version": self.graph_version,
            "output_key": self.output_key,
            "capture_trace": self.capture_trace,
            "instructions": self.instructions,
        }

    def fingerprint(self) -> str:
        return content_hash(self.identity())

    async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        messages = render_messages(ctx.prompt_spec, case.input, instructions=self.instructions)
        payload = self.input_builder(case, messages)
        trace: list[TraceStep] | None = None
        artifacts: dict[str, JSONValue] = {
            "graph_id": self.graph_id,
            "graph_version": self.graph_version,
        }
        metadata: dict[str, JSONValue] = {}
        if self.capture_trace:
            state, trace, source = await self._captured(payload)
            metadata["final_state_source"] = source
        else:
            state = await self.graph.ainvoke(payload, **self._call_options())
        history = self._get(state, "messages")
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#s{ctx.base_seed}.{ctx.sample_index}",
            final_output=to_json(self._output(state)),
            trace=trace,
            conversation=conversation(history),
            token_usage=token_usage(history),
            artifacts=artifacts,
            metadata=metadata,
        )

    async def _captured(self, payload: Any) -> tuple[Any, list[TraceStep], str]:
        """The final state, the trace, and where the state came from.

        ``"stream"``: one graph run, the state from its root end event. A
        stream without one (a graph-like object, not a LangGraph graph), or an
        object without ``astream_events``, falls back to ``ainvoke`` for the
        state: ``"ainvoke (stream had no final state)"`` or ``"ainvoke (no
        astream_events)"``, recorded in the candidate's metadata because the
        graph then ran twice, or untraced.
        """
        if not callable(getattr(self.graph, "astream_events", None)):
            state = await self.graph.ainvoke(payload, **self._call_options())
            return state, [], "ainvoke (no astream_events)"
        found, final, steps = await self._stream(payload)
        if found:
            return final, steps, "stream"
        if not callable(getattr(self.graph, "ainvoke", None)):
            raise ValueError(
                f"{self.where}: the event stream ended without the root graph's end event "
                "(its final state), and the graph has no ainvoke() to fall back to"
            )
        state = await self.graph.ainvoke(payload, **self._call_options())
        return state, steps, "ainvoke (stream had no final state)"

    def _call_options(self) -> dict[str, Any]:
        return {"config": self.config} if self.config is not None else {}

    async def _stream(self, payload: Any) -> tuple[bool, Any, list[TraceStep]]:
        """One streamed run: whether it ended with the root graph's end event,
        the final state that event carries, and the trace from the other events."""
        steps: list[TraceStep] = []
        final: Any = None
        found_final = False
        stream = self.graph.astream_events(payload, version="v2", **self._call_options())
        async for event in stream:
            if is_final(event):
                data = event.get("data") or {}
                final = data.get("output") if isinstance(data, Mapping) else None
                found_final = True
                continue
            step = trace_step(event)
            if step is not None:
                steps.append(step)
        return found_final, final, steps

    @staticmethod
    def _get(state: Any, key: str, *, strict: bool = False) -> Any:
        if isinstance(state, Mapping):
            if strict and key not in state:
                raise KeyError(key)
            return state.get(key)
        if strict and not hasattr(state, key):
            raise KeyError(key)
        return getattr(state, key, None)

    def _output(self, state: Any) -> Any:
        try:
            value = self._get(state, self.output_key, strict=True)
        except LookupError:
            raise ValueError(
                f"{self.where}: the graph's final state has no {self.output_key!r}; "
                f"its keys are {_state_keys(state)}. Set output_key to the key holding the answer."
            ) from None
        content = getattr(value, "content", None)
        # A message as the answer means its text.
        return content if isinstance(content, str) else value


def langgraph(
    graph: Any,
    graph_id: str,
    output_key: str,
    *,
    graph_version: str | None = None,
    capture_trace: bool = True,
    instructions: str | None = None,
    input_builder: InputBuilder | None = None,
    config: Mapping[str, Any] | None = None,
) -> LangGraphGenerator:
    """A generator that runs a compiled LangGraph graph exactly once per candidate.

    The case input and the run's PromptSpec render into chat messages
    (``instructions`` first) and the graph receives ``{"messages": [...]}``,
    or whatever ``input_builder(case, messages)`` returns. The candidate's
    output is ``final_state[output_key]`` (a message's text when it is a
    message); the final state's ``messages`` become the conversation.

    The trace is captured by default (``capture_trace=True``): the graph runs
    once, through ``astream_events``; its node, tool and model steps become
    the candidate's trace and the final state is the root graph's end event.
    Only where a stream yields no final state does the generator fall back to
    ``ainvoke`` for it, and says so in the candidate's metadata
    (``final_state_source``). ``capture_trace=False`` runs ``ainvoke`` alone,
    with no trace. ``config`` is passed
    to the graph as given (a ``thread_id`` for a checkpointer, a recursion
    limit).

    Identity-bearing: ``graph_id``, ``graph_version``, ``output_key``,
    ``capture_trace`` and ``instructions``. Themis cannot hash a graph's code,
    so bump ``graph_version`` whenever the graph changes, or stored
    generations of the old graph are reused.
    """
    return LangGraphGenerator(
        graph,
        graph_id=graph_id,
        output_key=output_key,
        graph_version=graph_version,
        capture_trace=capture_trace,
        instructions=instructions,
        input_builder=input_builder,
        config=config,
    )
