"""The LangGraph adapter driving a real compiled StateGraph: two nodes and a tool step."""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from tests.adapters.conftest import experiment
from themis import PromptSpec, RuntimeConfig, SqliteRunStore
from themis.adapters import langgraph
from themis.core.config import GenerationConfig
from themis.core.models import Case, Dataset, Message, RunStatus


class ArithmeticModel(BaseChatModel):
    """Stands in for a hosted chat model: asks the ``add`` tool, then states its result."""

    @property
    def _llm_type(self) -> str:
        return "arithmetic-test-model"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **_: Any
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(
                content=str(last.content),
                usage_metadata={"input_tokens": 7, "output_tokens": 1, "total_tokens": 8},
            )
        else:
            a, b = (int(n) for n in re.findall(r"\d+", str(last.content))[-2:])
            reply = AIMessage(
                content="",
                tool_calls=[{"name": "add", "args": {"a": a, "b": b}, "id": "call-1"}],
                usage_metadata={"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str


def build_graph(tool_calls: Counter[str]) -> Any:
    """agent -> tools -> agent: a model call that asks a tool, the tool, and the answer."""

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        tool_calls["add"] += 1
        return a + b

    model = ArithmeticModel()

    async def agent(state: State) -> State:
        reply = await model.ainvoke(state["messages"])
        update: State = {"messages": [reply]}
        if not reply.tool_calls:  # type: ignore[attr-defined]
            update["answer"] = str(reply.content)
        return update

    def route(state: State) -> str:
        return "tools" if state["messages"][-1].tool_calls else END  # type: ignore[union-attr]

    graph = StateGraph(State)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([add]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph.compile()


def sums(*pairs: tuple[int, int]) -> Dataset:
    return Dataset(
        dataset_id="sums",
        cases=[
            Case(case_id=f"{a}+{b}", input={"question": f"{a}+{b}"}, expected_output=str(a + b))
            for a, b in pairs
        ],
    )


def test_captured_trace_and_conversation_from_a_real_graph(runtime: RuntimeConfig) -> None:
    tool_calls: Counter[str] = Counter()
    generator = langgraph(  # the trace is captured by default
        build_graph(tool_calls),
        graph_id="calculator",
        output_key="answer",
        instructions="Use the add tool.",
    )
    result = experiment(generator, datasets=[sums((2, 3), (10, 4))]).run(runtime=runtime)

    assert result.status is RunStatus.completed
    assert tool_calls["add"] == 2  # each graph ran exactly once per candidate
    by_case = {case.case_id: case.generated_candidates[0] for case in result.cases}
    candidate = by_case["2+3"]
    assert candidate.final_output == "5"
    assert by_case["10+4"].final_output == "14"
    assert [(step.step_type, step.step_name) for step in candidate.trace or []] == [
        ("model", "ArithmeticModel"),
        ("node", "agent"),
        ("tool", "add"),
        ("node", "tools"),
        ("model", "ArithmeticModel"),
        ("node", "agent"),
    ]
    tool_step = (candidate.trace or [])[2]
    assert tool_step.input == {"a": 2, "b": 3}
    assert tool_step.output == {
        "role": "tool",
        "content": "5",
        "tool_call_id": "call-1",
        "name": "add",
    }
    assert tool_step.metadata["node"] == "tools"
    assert all(step.timestamp is not None for step in candidate.trace or [])
    assert candidate.conversation == [
        Message(role="system", content="Use the add tool."),
        Message(role="user", content="2+3"),
        Message(
            role="assistant",
            content={
                "text": "",
                "tool_calls": [{"id": "call-1", "name": "add", "args": {"a": 2, "b": 3}}],
            },
        ),
        Message(role="tool", content={"text": "5", "tool_call_id": "call-1", "name": "add"}),
        Message(role="assistant", content="5"),
    ]
    assert candidate.token_usage == {"input_tokens": 12, "output_tokens": 4, "total_tokens": 16}
    assert candidate.metadata["final_state_source"] == "stream"
    assert result.cases[0].scores[0].value == 1.0


class StreamOnly:
    """A graph-like object whose stream reports steps but never the root graph's end."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def ainvoke(self, payload: object) -> object:
        self.calls.append("ainvoke")
        return {"answer": "4"}

    async def astream_events(self, payload: object, *, version: str) -> Any:
        self.calls.append("astream_events")
        yield {"name": "plan", "event": "step", "data": {"input": payload, "output": {"x": 1}}}


def test_a_stream_without_a_final_state_falls_back_to_ainvoke_and_says_so(
    runtime: RuntimeConfig, tmp_path: Any
) -> None:
    """The fallback is recorded in the candidate's metadata, and stays there in the store."""
    graph = StreamOnly()
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    built = experiment(langgraph(graph, "fake", "answer"), datasets=[sums((2, 2))])
    result = built.run(runtime=runtime, store=store)
    assert result.status is RunStatus.completed
    candidate = result.cases[0].generated_candidates[0]
    assert graph.calls == ["astream_events", "ainvoke"]
    assert candidate.final_output == "4"
    assert [step.step_name for step in candidate.trace or []] == ["plan"]
    assert candidate.metadata == {"final_state_source": "ainvoke (stream had no final state)"}
    stored = built.run(runtime=runtime, store=store).cases[0].generated_candidates[0]
    assert graph.calls == ["astream_events", "ainvoke"]  # read back, not generated again
    assert stored.metadata == candidate.metadata


def test_a_real_graph_is_run_once_with_the_trace_on_by_default(runtime: RuntimeConfig) -> None:
    tool_calls: Counter[str] = Counter()
    generator = langgraph(build_graph(tool_calls), "calculator", "answer")
    assert generator.capture_trace is True
    result = experiment(generator, datasets=[sums((4, 5))]).run(runtime=runtime)
    assert tool_calls["add"] == 1  # one graph run, not a stream and an invoke
    assert result.cases[0].generated_candidates[0].trace


def test_without_trace_capture_the_graph_is_invoked_once(runtime: RuntimeConfig) -> None:
    tool_calls: Counter[str] = Counter()
    generator = langgraph(build_graph(tool_calls), "calculator", "answer", capture_trace=False)
    spec = PromptSpec(prefix="Add these:")
    result = experiment(
        generator,
        datasets=[sums((1, 1))],
        generation=GenerationConfig(generator=generator, prompt_spec=spec),
    ).run(runtime=runtime)

    assert result.status is RunStatus.completed
    assert tool_calls["add"] == 1
    candidate = result.cases[0].generated_candidates[0]
    assert candidate.final_output == "2"
    assert candidate.trace is None
    assert candidate.conversation is not None
    assert candidate.conversation[0] == Message(role="user", content="Add these:\n\n1+1")


def test_a_missing_output_key_fails_the_case_with_the_states_keys(
    runtime: RuntimeConfig,
) -> None:
    generator = langgraph(build_graph(Counter()), "calculator", output_key="final_answer")
    result = experiment(generator, datasets=[sums((1, 2))]).run(runtime=runtime)

    assert result.status is RunStatus.failed
    (error,) = result.cases[0].errors
    assert "final state has no 'final_answer'; its keys are ['answer', 'messages']" in (
        error.message
    )


def test_an_input_builder_shapes_the_graph_state(runtime: RuntimeConfig) -> None:
    class Question(TypedDict, total=False):
        question: str
        answer: str

    def shout(state: Question) -> Question:
        return {"answer": state["question"].upper()}

    graph = StateGraph(Question)
    graph.add_node("shout", shout)
    graph.add_edge(START, "shout")
    generator = langgraph(
        graph.compile(),
        "shouter",
        "answer",
        capture_trace=True,
        input_builder=lambda case, messages: {"question": str(messages[-1].content)},
    )
    result = experiment(generator, datasets=[sums((3, 4))]).run(runtime=runtime)

    candidate = result.cases[0].generated_candidates[0]
    assert candidate.final_output == "3+4"
    assert [(s.step_type, s.step_name) for s in candidate.trace or []] == [("node", "shout")]
    assert candidate.conversation is None


def test_graph_id_and_version_are_identity(
    runtime: RuntimeConfig, sqlite_store: SqliteRunStore
) -> None:
    tool_calls: Counter[str] = Counter()
    graph = build_graph(tool_calls)

    def run(**options: Any) -> None:
        generator = langgraph(graph, "calculator", "answer", **options)
        result = experiment(generator, datasets=[sums((1, 2))]).run(
            runtime=runtime, store=sqlite_store
        )
        assert result.status is RunStatus.completed

    run(graph_version="1")
    run(graph_version="1")
    assert tool_calls["add"] == 1  # reused: same graph id and version
    run(graph_version="2")
    assert tool_calls["add"] == 2
    run(graph_version="2", capture_trace=False)
    assert tool_calls["add"] == 3
    fingerprints = {langgraph(graph, graph_id, "answer").fingerprint() for graph_id in ("a", "b")}
    assert len(fingerprints) == 2
    # themis inspect runs (and the HTML report, the viewer) tell the runs apart by graph.
    from themis.core.analysis.run_overview import list_run_overviews

    models = [overview.model for overview in list_run_overviews(sqlite_store)]
    assert models[:2] == ["graph calculator 1", "graph calculator 2"]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"graph": object(), "graph_id": "g", "output_key": "a"}, "has no astream_events"),
        (
            {"graph": object(), "graph_id": "g", "output_key": "a", "capture_trace": False},
            r"has no ainvoke\(\)",
        ),
        ({"graph": build_graph(Counter()), "graph_id": " ", "output_key": "a"}, "graph_id"),
        ({"graph": build_graph(Counter()), "graph_id": "g", "output_key": ""}, "output_key"),
    ],
)
def test_bad_arguments_fail_at_construction(arguments: dict[str, Any], error: str) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        langgraph(**arguments)
