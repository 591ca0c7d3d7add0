"""LangChain values as Themis JSON: messages, the conversation and token usage.

Everything a graph hands back (its final state, each event's input and
output) is stored in events, so it must become plain JSON first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import BaseModel

from themis.core.models import JSONValue, Message

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def role_of(message: BaseMessage) -> str:
    """OpenAI-style role names (``user``, ``assistant``), as the rest of Themis uses."""
    return _ROLES.get(message.type, message.type.removesuffix("Chunk").lower())


def message_json(message: BaseMessage) -> dict[str, JSONValue]:
    data: dict[str, JSONValue] = {"role": role_of(message), "content": to_json(message.content)}
    if isinstance(message, AIMessage) and message.tool_calls:
        data["tool_calls"] = [
            {"id": call.get("id"), "name": call["name"], "args": to_json(call["args"])}
            for call in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        data["tool_call_id"] = message.tool_call_id
        if message.name:
            data["name"] = message.name
    return data


def to_json(value: Any) -> JSONValue:
    """Plain JSON for a LangChain/LangGraph value; anything unknown becomes its repr."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, BaseMessage):
        return message_json(value)
    if isinstance(value, BaseModel):
        return to_json(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(item) for item in value]
    return repr(value)


def conversation(messages: Any) -> list[Message] | None:
    """A state's ``messages`` as the candidate's conversation.

    A message's content stays as given; an assistant turn that calls tools, or
    a tool's answer, keeps the call ids and names beside its text.
    """
    if not isinstance(messages, list) or not messages:
        return None
    turns: list[Message] = []
    for item in messages:
        data = message_json(item) if isinstance(item, BaseMessage) else to_json(item)
        if not isinstance(data, dict) or "role" not in data:
            continue
        role = str(data.pop("role"))
        content = data.pop("content", None)
        turns.append(Message(role=role, content={"text": content, **data} if data else content))
    return turns or None


def token_usage(messages: Any) -> dict[str, int] | None:
    """Tokens summed over every model answer in the conversation that reports them."""
    if not isinstance(messages, list):
        return None
    totals: dict[str, int] = {}
    for item in messages:
        usage = getattr(item, "usage_metadata", None) if isinstance(item, AIMessage) else None
        if not usage:
            continue
        for name in ("input_tokens", "output_tokens", "total_tokens"):
            count = usage.get(name)
            if isinstance(count, int):
                totals[name] = totals.get(name, 0) + count
    return totals or None
