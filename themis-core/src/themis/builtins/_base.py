"""What every builtin shares: the SDK's fingerprint over id, version and options."""

from __future__ import annotations

import json

from themis.components import Component
from themis.core.models import JSONValue

BuiltinComponent = Component
"""The builtins are written against the public SDK base, as a plugin is."""


def output_text(value: JSONValue) -> str:
    """The text of an output: its ``answer`` field, the string itself, or its JSON."""
    if isinstance(value, dict) and "answer" in value:
        value = value["answer"]
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
