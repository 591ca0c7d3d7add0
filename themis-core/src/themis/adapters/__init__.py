"""Provider-backed generator adapters for Themis.

``from themis.adapters import openai`` resolves the factory that an installed
adapter distribution publishes under the ``themis.adapters`` entry-point
group. Core never imports an adapter distribution directly.
"""

from __future__ import annotations

from typing import Any

from themis.core.authoring import registry

_DISTRIBUTIONS = {
    "openai": "themis-adapters-openai",
    "vllm": "themis-adapters-vllm",
    "langgraph": "themis-adapters-langgraph",
}

__all__ = ["langgraph", "openai", "vllm"]


def __getattr__(name: str) -> Any:
    distribution = _DISTRIBUTIONS.get(name)
    if distribution is None:
        raise AttributeError(f"module 'themis.adapters' has no attribute {name!r}")
    try:
        factory, _ = registry.load_factory("adapter", name)
    except registry.UnknownComponentError:
        raise ImportError(
            f"the {name} adapter is not installed: pip install {distribution}", name=name
        ) from None
    return factory
