"""Errors reach the caller as themselves: no chained "no running event loop"."""

from __future__ import annotations

import traceback
from typing import Any

import pytest

from tests.conftest import make_experiment
from themis.core.config import GenerationConfig
from themis.core.engine.runner import PreflightError


class NotReady:
    component_id = "test/not_ready"
    version = "1"

    def fingerprint(self) -> str:
        return "not-ready"

    def preflight(self) -> None:
        raise ConnectionError("server at 127.0.0.1:9 refused the connection")

    def generate(self, case: Any, ctx: Any) -> Any:
        raise AssertionError("never called: preflight failed")


def test_an_error_from_run_is_raised_alone() -> None:
    experiment = make_experiment(generation=GenerationConfig(generator=NotReady()))
    with pytest.raises(PreflightError) as caught:
        experiment.run()
    error = caught.value
    # Its own cause (the component's error) is kept; nothing else is attached.
    assert isinstance(error.__cause__, ConnectionError)
    assert error.__context__ is error.__cause__
    printed = "".join(traceback.format_exception(error))
    assert "no running event loop" not in printed
    assert "During handling of the above exception" not in printed
