"""Factories whose components a worker can build again.

A component made by a factory (``openai("gpt-4o-mini", base_url=...)``, say)
is an object whose class takes settings a recipe cannot see. ``rebuildable``
marks such a factory: each component it makes records the factory's import
path and the call's arguments, so ``submit_experiment`` stores that and a
worker calls the factory again, getting the same object (the same component
reference, so the same run id). A call given an argument that is not data
(a client object) records nothing, and the component is refused at submit.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

RECIPE_ATTRIBUTE = "themis_recipe"
"""Where a component keeps the factory call that builds it again."""


def rebuildable(
    *, unless: tuple[str, ...] = ("client",)
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a factory: what it returns records ``{"factory": "module:name",
    "arguments": {...}}``. Arguments named in ``unless`` (objects such as an
    SDK client) make the call unrecordable when given."""

    def mark(factory: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(factory)
        target = f"{factory.__module__}:{factory.__qualname__}"

        @functools.wraps(factory)
        def build(*args: P.args, **kwargs: P.kwargs) -> R:
            component = factory(*args, **kwargs)
            arguments = signature.bind(*args, **kwargs).arguments
            if all(arguments.get(name) is None for name in unless):
                call: dict[str, Any] = {"factory": target, "arguments": dict(arguments)}
                # a component with slots records nothing: refused at submit
                with contextlib.suppress(AttributeError):
                    setattr(component, RECIPE_ATTRIBUTE, call)
            return component

        return build

    return mark
