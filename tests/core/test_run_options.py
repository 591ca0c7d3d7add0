"""The execution options are one object (RunOptions) shared by every execution method."""

from __future__ import annotations

import inspect
from typing import get_type_hints

import pytest

from tests.analysis.helpers import judged_experiment
from themis.core import InMemoryRunStore, RunOptions
from themis.core.config import RuntimeConfig
from themis.core.experiment import Experiment

EXECUTION_METHODS = [
    "run",
    "run_async",
    "resume",
    "resume_async",
    "replay",
    "replay_async",
    "rejudge",
    "rejudge_async",
]


@pytest.mark.parametrize("name", EXECUTION_METHODS)
def test_every_execution_method_takes_the_one_options_object(name: str) -> None:
    parameters = inspect.signature(getattr(Experiment, name)).parameters
    assert parameters["options"].kind is inspect.Parameter.VAR_KEYWORD
    options = {"runtime", "store", "subscribers", "tracing_provider"}
    assert set(get_type_hints(RunOptions)) == options
    assert not options & set(parameters)


class Recorder:
    def __init__(self) -> None:
        self.stages: list[str] = []

    def after_score(self, **_: object) -> None:
        self.stages.append("score")


def test_the_keywords_work_as_before_and_as_one_dict() -> None:
    experiment = judged_experiment()
    store = InMemoryRunStore()
    recorder = Recorder()
    runtime = RuntimeConfig(max_concurrent_tasks=2)
    first = experiment.run(store=store, runtime=runtime, subscribers=[recorder])
    assert first.status.value == "completed" and recorder.stages

    options: RunOptions = {"store": store, "runtime": runtime}
    again = experiment.resume(**options)
    replayed = experiment.replay(stage="score", **options)
    rejudged = experiment.rejudge(**options)
    assert again.run_id == replayed.run_id == rejudged.run_id == first.run_id
    assert [run.run_id for run in store.list_runs()] == [first.run_id]


def test_a_misspelled_option_is_refused_not_ignored() -> None:
    experiment = judged_experiment()
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['stor'\]"):
        experiment.run(stor=InMemoryRunStore())  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="run options are"):
        experiment.rejudge(runtim=RuntimeConfig())  # type: ignore[call-arg]
