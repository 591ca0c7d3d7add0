"""``themis.adapters`` finds each adapter through the entry point its distribution publishes."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

import themis.adapters
from themis.core.authoring import registry

ADAPTERS = {
    "openai": ("themis-adapters-openai", "themis_adapters_openai"),
    "vllm": ("themis-adapters-vllm", "themis_adapters_vllm"),
    "langgraph": ("themis-adapters-langgraph", "themis_adapters_langgraph"),
}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_each_adapter_resolves_from_its_installed_distribution(name: str) -> None:
    distribution, package = ADAPTERS[name]
    factory = getattr(themis.adapters, name)
    assert factory is getattr(importlib.import_module(package), name)
    (info,) = [i for i in registry.list_components("adapter") if i.component_id == name]
    assert info.distribution == distribution


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_a_missing_distribution_says_what_to_install(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    distribution, _ = ADAPTERS[name]
    installed = registry._entry_points

    def without_it(kind: str) -> dict[str, Any]:
        found = installed(kind)
        return {key: ep for key, ep in found.items() if kind != "adapter" or key != name}

    monkeypatch.setattr(registry, "_entry_points", without_it)
    with pytest.raises(ImportError, match=f"pip install {distribution}"):
        getattr(themis.adapters, name)


@pytest.mark.parametrize(
    ("kind", "component_id"),
    [
        ("generator", "openai/generator"),
        ("generator", "vllm/generator"),
        ("judge", "openai/judge"),
        ("judge", "vllm/judge"),
    ],
)
def test_configuration_files_can_name_the_adapters(kind: str, component_id: str) -> None:
    options = {"model": "m", "base_url": "http://localhost:8000/v1"}
    component, ref = registry.resolve(kind, {"id": component_id, "options": options}, where="test")
    assert component.component_id == component_id
    assert ref.fingerprint == component.fingerprint()
    assert ref.distribution == f"themis-adapters-{component_id.split('/')[0]}"
