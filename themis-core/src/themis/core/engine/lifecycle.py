"""The run's components: what the engine holds of them, and their lifecycle.

A component may define ``preflight()`` (check its backend before any work),
``server_provenance()`` (say what its server is, for the snapshot) and
``aclose()`` (close what it opened in the run's event loop), each sync or
async. These are optional, so they are looked up by name here, once per run,
rather than being part of the kinds' contracts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from themis.core.config import RuntimeConfig
from themis.core.engine.policy import Invoker, model_of, provider_of
from themis.core.errors import PreflightError
from themis.core.models import ComponentRef, JSONValue, RunSnapshot
from themis.core.observability.redaction import redact_secrets
from themis.core.observability.scrubbing import scrub_text
from themis.core.protocols import (
    CandidateReducer,
    CandidateSelector,
    Generator,
    JudgeBackedMetric,
    JudgeModel,
    Parser,
    PureMetric,
)

log = logging.getLogger(__name__)

Metric = PureMetric | JudgeBackedMetric


@dataclass
class ResolvedComponents:
    """The live component objects of a compiled snapshot, by role, each typed
    with its kind's contract (the registry checked it when resolving)."""

    generator: Generator
    reducer: CandidateReducer
    selector: CandidateSelector | None
    parsers: list[tuple[ComponentRef, Parser]]
    metrics: dict[str, tuple[ComponentRef, Metric]]
    judge_models: list[tuple[ComponentRef, JudgeModel]]

    def distinct(self) -> list[object]:
        """Each distinct component of the run once, in pipeline order."""
        candidates: list[object | None] = [self.generator, self.reducer, self.selector]
        candidates += [parser for _, parser in self.parsers]
        candidates += [metric for _, metric in self.metrics.values()]
        candidates += [judge for _, judge in self.judge_models]
        seen: set[int] = set()
        distinct: list[object] = []
        for component in candidates:
            if component is not None and id(component) not in seen:
                seen.add(id(component))
                distinct.append(component)
        return distinct


class ComponentLifecycle:
    """Preflight, server provenance and release of a run's components."""

    def __init__(self, components: ResolvedComponents, invoker: Invoker) -> None:
        self.components = components
        self.invoker = invoker

    def providers(self, runtime: RuntimeConfig) -> dict[str, str]:
        """Each component's provider, by component id. A concurrency or rate
        limit that names no component, provider or ``provider:model`` of this
        run limits nothing: most likely a typo, so it is reported."""
        providers = {
            str(component.component_id): provider_of(component)
            for component in self.components.distinct()
            if hasattr(component, "component_id")
        }
        rate_keys = set(providers.values()) | {
            f"{provider_of(component)}:{model_of(component)}"
            for component in self.components.distinct()
            if model_of(component) is not None
        }
        for setting, known in (
            ("component_concurrency", set(providers)),
            ("provider_concurrency", set(providers.values())),
            ("provider_rate_limits", rate_keys),
        ):
            for key in getattr(runtime, setting):
                if key not in known:
                    log.warning(
                        "runtime %s names %r, which is not in this run (it has: %s)",
                        setting,
                        key,
                        ", ".join(sorted(known)),
                    )
        return providers

    def _methods(self, name: str) -> Iterator[tuple[str, Callable[..., Any]]]:
        """Each component's optional ``name`` method, with the component's id
        for messages, in pipeline order."""
        for component in self.components.distinct():
            method = getattr(component, name, None)
            if callable(method):
                yield getattr(component, "component_id", type(component).__name__), method

    async def preflight(self) -> None:
        """Let components check their backends (a server's health, a served
        model) before any work starts; if one raises, the run stops here."""
        for component_id, check in self._methods("preflight"):
            try:
                await self.invoker.call(check, blocking=True)
            except Exception as exc:
                raise PreflightError(
                    scrub_text(f"{component_id} is not ready: {type(exc).__name__}: {exc}")
                ) from exc

    async def record_servers(self, snapshot: RunSnapshot) -> RunSnapshot:
        """``snapshot`` with what each server-backed component reads from its
        server (``server_provenance()``, a JSON object or None) in its
        provenance. Provenance only: the run id does not change, and a server
        that cannot say is logged, never an error."""
        servers: list[dict[str, JSONValue]] = []
        for component_id, describe in self._methods("server_provenance"):
            try:
                entry = await self.invoker.call(describe, blocking=True)
            except Exception as exc:
                log.warning(
                    "%s: could not read its server's description: %s: %s",
                    component_id,
                    type(exc).__name__,
                    exc,
                )
                continue
            if isinstance(entry, dict) and redact_secrets(entry) not in servers:
                servers.append(redact_secrets(entry))
        if not servers:
            return snapshot
        provenance = snapshot.provenance.model_copy(update={"servers": servers})
        return snapshot.model_copy(update={"provenance": provenance})

    async def release(self) -> None:
        """Let components close what they opened in this run's event loop
        (HTTP sessions, mostly). The run's work is done, so a failure to close
        is logged, never raised."""
        for component_id, close in self._methods("aclose"):
            try:
                await self.invoker.call(close, blocking=True)
            except Exception as exc:
                log.warning(
                    "%s did not close cleanly: %s: %s", component_id, type(exc).__name__, exc
                )
