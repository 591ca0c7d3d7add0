"""What every builtin shares: a fingerprint over its id, version and options."""

from __future__ import annotations

import json
from typing import Any

from themis.core.identity import content_hash
from themis.core.models import JSONValue


class BuiltinComponent:
    component_id: str = ""
    version: str = "1"

    def options(self) -> dict[str, Any]:
        """Identity-bearing constructor options; override when there are any."""
        return {}

    def fingerprint(self) -> str:
        return content_hash(
            {"id": self.component_id, "version": self.version, "options": self.options()}
        )


def output_text(value: JSONValue) -> str:
    """The text of an output: its ``answer`` field, the string itself, or its JSON."""
    if isinstance(value, dict) and "answer" in value:
        value = value["answer"]
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
