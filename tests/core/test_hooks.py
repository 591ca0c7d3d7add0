"""The hook set is defined once (the seeds' protocols), pluggy dispatches it,
and a failing or ill-fitting subscriber never stops the others."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_experiment
from themis import InMemoryRunStore
from themis.core import protocols
from themis.core.models import Case, RunStatus
from themis.core.observability.hooks import HOOK_NAMES, LifecycleHooks


def test_the_hook_names_are_the_protocols_methods() -> None:
    from_protocols = protocols.protocol_members(protocols.LifecycleSubscriber)
    assert sorted(HOOK_NAMES) == sorted([*from_protocols, "on_progress"])
    assert len(from_protocols) == 11
    assert "before_generate" in HOOK_NAMES and "on_event" in HOOK_NAMES


def test_a_hook_gets_only_the_arguments_it_names() -> None:
    seen: list[Any] = []

    class OnlyTheCase:
        def before_generate(self, case: Case) -> None:
            seen.append(case)

    hooks = LifecycleHooks([OnlyTheCase()], load_plugins=False)
    case = Case(case_id="c1", input={"question": "1+1"})
    hooks.call.before_generate(case=case, ctx=None)  # type: ignore[arg-type]
    assert seen == [case]


def test_a_raising_subscriber_is_recorded_and_the_next_one_still_runs() -> None:
    ran: list[str] = []

    class Raises:
        def after_parse(self, parsed: Any, ctx: Any) -> None:
            raise RuntimeError("observer bug")

    class Records:
        def after_parse(self, parsed: Any) -> None:
            ran.append("records")

    hooks = LifecycleHooks([Raises(), Records()], load_plugins=False)
    hooks.call.after_parse(parsed=None, ctx=None)  # type: ignore[arg-type]
    assert ran == ["records"]
    (failure,) = hooks.failures
    assert (failure.hook, failure.subscriber) == ("after_parse", "Raises")
    assert "observer bug" in failure.error


def test_a_hook_asking_for_an_argument_its_hook_lacks_is_refused_and_the_run_goes_on() -> None:
    class WrongArgument:
        def on_event(self, event: Any, colour: str) -> None:
            raise AssertionError("never called")

    class Counts:
        def __init__(self) -> None:
            self.events = 0

        def on_event(self, event: Any) -> None:
            self.events += 1

    counts = Counts()
    hooks = LifecycleHooks([WrongArgument(), counts], load_plugins=False)
    assert [(f.hook, f.subscriber) for f in hooks.failures] == [("register", "WrongArgument")]
    assert "colour" in hooks.failures[0].error
    result = make_experiment().run(store=InMemoryRunStore(), subscribers=[WrongArgument(), counts])
    assert result.status is RunStatus.completed
    assert counts.events > 0


def test_a_hook_nobody_implements_is_not_dispatched() -> None:
    hooks = LifecycleHooks([], load_plugins=False)
    assert not hooks.has("on_event")
    hooks.call.on_event(event=None)  # type: ignore[arg-type]  # a no-op, not an error
