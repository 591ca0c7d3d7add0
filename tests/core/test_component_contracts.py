"""Every component the registry lists builds, meets its kind's contract and
has a stable fingerprint: one parametrized suite over every implementation,
the builtins, the catalog's and the installed plugin's alike."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from themis.core.authoring import registry

BROKEN_ON_PURPOSE = {("metric", "acme/broken")}

EXAMPLE_OPTIONS: dict[str, dict[str, Any]] = {
    "openai/generator": {"model": "gpt-test"},
    "openai/judge": {"model": "gpt-test"},
    "vllm/generator": {"model": "served", "base_url": "http://127.0.0.1:9/v1"},
    "vllm/judge": {"model": "served", "base_url": "http://127.0.0.1:9/v1"},
    "builtin/regex": {"pattern": "(\\d+)"},
    "builtin/tool_call_usage": {"max_calls": 3},
}
"""Options for components that cannot build without some (no server is called)."""


def _listed() -> list[tuple[str, str]]:
    return [
        (kind, info.component_id)
        for kind in registry.CONTRACTS
        for info in registry.list_components(kind)
        if (kind, info.component_id) not in BROKEN_ON_PURPOSE
    ]


def _required_options(factory: Any) -> list[str]:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def test_the_registry_lists_components_of_every_kind() -> None:
    kinds = {kind for kind, _ in _listed()}
    assert kinds == set(registry.CONTRACTS)


@pytest.mark.parametrize(("kind", "component_id"), _listed())
def test_a_listed_component_builds_meets_its_contract_and_has_a_stable_fingerprint(
    kind: str, component_id: str
) -> None:
    factory, _ = registry.load_factory(kind, component_id)
    options = EXAMPLE_OPTIONS.get(component_id, {})
    missing = [name for name in _required_options(factory) if name not in options]
    assert not missing, f"add example options {missing} for {component_id} to EXAMPLE_OPTIONS"
    spec = {"id": component_id, "options": options}
    component, ref = registry.resolve(kind, spec, where="contract test")
    assert any(isinstance(component, contract) for contract in registry.CONTRACTS[kind])
    assert ref.component_id == component_id
    again, _ = registry.resolve(kind, spec, where="contract test")
    assert isinstance(component.fingerprint(), str) and component.fingerprint()
    assert again.fingerprint() == component.fingerprint() == ref.fingerprint


def test_a_component_missing_its_method_is_refused_naming_what_it_lacks() -> None:
    class NoScore:
        component_id = "x/none"
        version = "1"

        def fingerprint(self) -> str:
            return "f"

    with pytest.raises(registry.InvalidComponentError, match="missing score"):
        registry.resolve("metric", NoScore(), where="evaluation.metrics[0]")
