"""The run freezes the objects alive when it starts, and gives them back when it ends."""

from __future__ import annotations

import gc

from tests.conftest import make_experiment
from themis.core.config import GenerationConfig
from themis.core.contexts import GenerateContext
from themis.core.engine.heap import frozen_heap, refreeze
from themis.core.models import Case, GenerationResult


class FreezeWatcher:
    """Records how many objects the collector had frozen while generating."""

    component_id = "test/freeze_watcher"
    version = "1"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def fingerprint(self) -> str:
        return "freeze-watcher"

    async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        self.seen.append(gc.get_freeze_count())
        return GenerationResult(candidate_id=case.case_id, final_output=str(case.expected_output))


def test_objects_alive_at_the_start_are_frozen_during_the_run_and_only_then() -> None:
    watcher = FreezeWatcher()
    assert gc.get_freeze_count() == 0
    make_experiment(generation=GenerationConfig(generator=watcher)).run()
    assert watcher.seen and all(count > 0 for count in watcher.seen)
    assert gc.get_freeze_count() == 0


def test_someone_elses_freeze_is_left_alone() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() == frozen  # not unfrozen by us
    finally:
        gc.unfreeze()


def test_nested_freezes_unfreeze_when_the_outer_one_ends() -> None:
    with frozen_heap():
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_disabled_collector_is_left_alone() -> None:
    gc.disable()
    try:
        with frozen_heap():
            assert gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_refreezing_takes_in_what_survived_and_only_inside_a_run() -> None:
    refreeze()
    assert gc.get_freeze_count() == 0  # outside a run: nothing to do
    with frozen_heap():
        before = gc.get_freeze_count()
        kept = [[index] for index in range(1000)]  # a run's results, say
        refreeze()
        assert gc.get_freeze_count() >= before + len(kept)
    assert gc.get_freeze_count() == 0
