"""Themis adapter for vLLM: a generator and a judge model over vLLM's OpenAI-compatible server.

``from themis.adapters import vllm`` resolves :func:`vllm` through the
``themis.adapters`` entry point; ``vllm/generator`` and ``vllm/judge`` name
them in configuration files. Requests travel over aiohttp: nothing here depends
on the ``vllm`` package itself.
"""

from __future__ import annotations

from themis_adapters_vllm.generator import VLLMGenerator, vllm
from themis_adapters_vllm.judge import VLLMJudge, vllm_judge
from themis_adapters_vllm.params import VLLMParams

__all__ = ["VLLMGenerator", "VLLMJudge", "VLLMParams", "vllm", "vllm_judge"]
