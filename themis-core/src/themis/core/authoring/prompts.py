"""PromptSpec: prompt material that is part of an experiment's identity.

A prompt spec is generic on purpose: instructions, a prefix and suffix around
the case input, and free-form blocks (few-shot examples, tool descriptions).
Custom generators read it from their ``GenerateContext``; provider adapters
render it with :func:`render_messages` so that a changed prompt changes the
generation cache key.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from themis.core.models import HashableModel, JSONValue, Message


class PromptSpec(HashableModel):
    """Generic prompt instructions and structured prompt material.

    ``stop`` lists stop sequences for completion-style prompts (lm-eval's
    ``until``): a few-shot "Question: ... Answer: ..." prompt makes a base
    model go on to write the next "Question:". Provider adapters send them
    with the request where the API takes stop sequences; parsers that know
    them cut the output there again. An empty list is left out of the
    prompt's identity, so prompts without stop sequences keep their run ids.
    """

    instructions: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    blocks: list[dict[str, JSONValue]] = Field(default_factory=list)
    stop: list[str] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _without_empty_stop(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.stop:
            data.pop("stop", None)
        return data


def case_input_text(case_input: JSONValue) -> str:
    """The text a model sees for a case input.

    A dict with a single text field (``question``, ``prompt``, ``input``,
    ``text``) is shown as that text; anything else as compact JSON.
    """
    if isinstance(case_input, str):
        return case_input
    if isinstance(case_input, dict):
        for key in ("question", "prompt", "input", "text", "problem"):
            value = case_input.get(key)
            if isinstance(value, str) and len(case_input) == 1:
                return value
        for key in ("question", "prompt", "input", "text", "problem"):
            value = case_input.get(key)
            if isinstance(value, str):
                return value
    return json.dumps(case_input, sort_keys=True, ensure_ascii=False)


def _block_text(block: dict[str, JSONValue]) -> str:
    content = block.get("content", block.get("text"))
    if isinstance(content, str):
        return content
    return json.dumps(block, sort_keys=True, ensure_ascii=False)


def render_user_text(spec: PromptSpec | None, case_input: JSONValue) -> str:
    """Blocks, prefix, the case input and suffix, joined by blank lines."""
    parts: list[str] = []
    if spec is not None:
        parts.extend(_block_text(block) for block in spec.blocks)
        if spec.prefix:
            parts.append(spec.prefix)
    parts.append(case_input_text(case_input))
    if spec is not None and spec.suffix:
        parts.append(spec.suffix)
    return "\n\n".join(parts)


def render_messages(
    spec: PromptSpec | None, case_input: JSONValue, *, instructions: str | None = None
) -> list[Message]:
    """Chat messages for a case: a system message (if any) and the user message.

    ``instructions`` given to an adapter come first; the spec's instructions
    follow, so both reach the model.
    """
    system_parts = [text for text in (instructions, spec.instructions if spec else None) if text]
    messages: list[Message] = []
    if system_parts:
        messages.append(Message(role="system", content="\n\n".join(system_parts)))
    messages.append(Message(role="user", content=render_user_text(spec, case_input)))
    return messages
