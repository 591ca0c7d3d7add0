"""Themis adapter for the OpenAI API: a generator and a judge model.

``from themis.adapters import openai`` resolves :func:`openai` through the
``themis.adapters`` entry point; ``openai/generator`` and ``openai/judge``
name them in configuration files. The OpenAI wire format itself
(:mod:`themis_adapters_openai.wire`) is shared with other OpenAI-compatible
adapters such as ``themis-adapters-vllm``.
"""

from __future__ import annotations

from themis_adapters_openai.generator import CompatibleGenerator, OpenAIGenerator, openai
from themis_adapters_openai.judge import CompatibleJudge, OpenAIJudge, openai_judge
from themis_adapters_openai.params import InferenceParams

__all__ = [
    "CompatibleGenerator",
    "CompatibleJudge",
    "InferenceParams",
    "OpenAIGenerator",
    "OpenAIJudge",
    "openai",
    "openai_judge",
]
