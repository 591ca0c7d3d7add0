"""The run's components: what the engine holds of them, and their lifecycle.

A component may define ``preflight()`` (check its backend before any work),
``server_provenance()`` (say what its server is, for the snapshot) and
``aclose()`` (close what it opened in the run's event loop), each sync or
async. These are optional, so they are looked up by name here, once per run,
rather than being part of the kinds' contracts. A component that sends its
calls as provider batches says so with ``batch_capacity`` (how many calls it
may hold at once while it gathers them) and keeps its batches in the run's
store through the :class:`~themis.core.batching.BatchJournal` handed to its
``attach_batch_journal(journal)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from themis.core.batching import BatchJournal, unfinished_batches
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
from themis.core.storage.events import RunEvent
from themis.core.storage.stores.base import RunStore

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


def batch_capacity(component: object) -> int:
    """A batch component's ``batch_capacity``; 0 for every other component."""
    capacity = getattr(component, "batch_capacity", None)
    if isinstance(capacity, int) and not isinstance(capacity, bool) and capacity > 0:
        return capacity
    return 0


class ComponentLifecycle:
    """Preflight, server provenance and release of a run's components."""

    def __init__(self, components: ResolvedComponents, invoker: Invoker) -> None:
        self.components = components
        self.invoker = invoker
        self.journals: list[BatchJournal] = []

    def _batch_components(self) -> list[Any]:
        return [
            component
            for component in self.components.distinct()
            if batch_capacity(component)
            and callable(getattr(component, "attach_batch_journal", None))
        ]

    def batch_capacities(self) -> dict[str, int]:
        """How many calls each batch component may hold at once, by component id."""
        return {
            str(component.component_id): batch_capacity(component)
            for component in self._batch_components()
        }

    async def attach_batch_journals(
        self,
        store: RunStore,
        run_id: str,
        emit: Callable[[RunEvent], None],
        flush: Callable[[], Awaitable[None]],
        *,
        resume_batches: bool,
    ) -> None:
        """Hand each batch component its journal, with the batches earlier
        processes of this run left unfinished (to be polled, unless
        ``resume_batches`` is False: a replay asks again, and marks them
        superseded when it ends). The run's events are read off the event
        loop, and only when the run has a batch component."""
        components = self._batch_components()
        if not components:
            return

        async def load() -> list[RunEvent]:
            return await asyncio.to_thread(
                lambda: [
                    e
                    for e in store.iter_events(run_id)
                    if "batch" in e.__dict__.get("event_type", "")
                ]
            )

        events = await load()
        for component in components:
            fingerprint = str(component.fingerprint())
            journal = BatchJournal(
                run_id=run_id,
                component_id=str(component.component_id),
                component_fingerprint=fingerprint,
                stored=unfinished_batches(events, fingerprint),
                emit=emit,
                flush=flush,
                load=load if resume_batches else None,
                resume=resume_batches,
            )
            self.journals.append(journal)
            component.attach_batch_journal(journal)

    def finish_batches(self) -> None:
        """Every case is done: mark the run's batches finished (see ``BatchJournal.finish``)."""
        for journal in self.journals:
            journal.finish()

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
