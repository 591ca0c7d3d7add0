"""acme/audit: a lifecycle plugin published through the themis.plugins group."""

from __future__ import annotations

from typing import Any

SEEN: list[str] = []


class AuditPlugin:
    def on_event(self, event: Any) -> None:
        SEEN.append(getattr(event, "event_type", "?"))
