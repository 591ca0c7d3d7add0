"""acme/audit: a lifecycle plugin published through the themis.plugins group.

It implements one hook of :class:`themis.core.protocols.OnEvent` by name; no
marker is needed.
"""

from __future__ import annotations

from themis.core.storage.events import RunEvent

SEEN: list[str] = []


class AuditPlugin:
    def on_event(self, event: RunEvent) -> None:
        SEEN.append(getattr(event, "event_type", "?"))
