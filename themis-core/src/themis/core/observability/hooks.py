"""Lifecycle hooks through pluggy.

The hook set is defined once, by the seeds' protocols in
:mod:`themis.core.protocols` (``BeforeGenerate`` ... ``OnEvent``, plus
``OnProgress``): :class:`RunHooks` gathers them, pluggy takes it as its hook
specification, and the engine calls hooks through it, so a call is checked
by mypy against the same signature a subscriber implements. pluggy does the
rest: registration, and handing each implementation only the arguments it
names.

Implementations are any objects passed as ``subscribers`` plus the plugins
published under the ``themis.plugins`` entry-point group. A subscriber
implements any subset of the hooks by plain method name (no marker needed).
A hook that raises is logged with the subscriber's name and otherwise
ignored: observers never corrupt a run.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Protocol, cast

import pluggy

from themis.core.authoring import registry
from themis.core.protocols import LifecycleSubscriber, OnProgress, protocol_members

log = logging.getLogger(__name__)

PROJECT = "themis"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RunHooks(LifecycleSubscriber, OnProgress, Protocol):
    """Every hook a run calls: the hook specification pluggy is given."""


HOOK_NAMES: tuple[str, ...] = tuple(protocol_members(RunHooks))
"""The hook names, read from :class:`RunHooks`."""

_SPEC_OPTS = getattr(hookspec(lambda: None), f"{PROJECT}_spec")
"""Plain hookspec options (not first-result, not historic) for every hook."""


class _PluginManager(pluggy.PluginManager):
    """Reads the hook set from the protocols, and accepts plain methods named
    like a hook, so that neither specs nor subscribers need markers."""

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> Any:
        opts = super().parse_hookspec_opts(module_or_class, name)
        if opts is None and module_or_class is RunHooks and name in HOOK_NAMES:
            return _SPEC_OPTS
        return opts

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name in HOOK_NAMES and callable(getattr(plugin, name, None)):
            return {}
        return opts


class HookFailure:
    __slots__ = ("error", "hook", "subscriber")

    def __init__(self, hook: str, subscriber: str, error: str) -> None:
        self.hook = hook
        self.subscriber = subscriber
        self.error = error

    def __repr__(self) -> str:
        return f"HookFailure({self.hook!r}, {self.subscriber!r}, {self.error!r})"


class _Isolated:
    """A subscriber as pluggy sees it: its hook methods, each wrapped so that
    one raising is recorded and the others still run (pluggy would stop at
    the first exception). The wrappers keep the methods' signatures, so pluggy
    still hands each only the arguments it names."""

    def __init__(self, subscriber: object, name: str, failures: list[HookFailure]) -> None:
        for hook in HOOK_NAMES:
            method = getattr(subscriber, hook, None)
            if callable(method):
                setattr(self, hook, _isolate(method, hook, name, failures))


def _isolate(
    method: Callable[..., Any], hook: str, name: str, failures: list[HookFailure]
) -> Callable[..., None]:
    @functools.wraps(method)
    def isolated(*args: Any) -> None:
        try:
            method(*args)
        except Exception as exc:
            log.warning("lifecycle subscriber %s raised in %s: %r", name, hook, exc)
            failures.append(HookFailure(hook, name, f"{type(exc).__name__}: {exc}"))

    return isolated


def _no_op(**_: Any) -> None:
    return None


class LifecycleHooks:
    """Dispatches lifecycle hooks to every subscriber, isolating failures.

    Call a hook through :attr:`call`, typed as :class:`RunHooks`:
    ``hooks.call.before_generate(case=case, ctx=ctx)`` (keywords only, as
    pluggy requires)."""

    def __init__(self, subscribers: list[Any] | None = None, *, load_plugins: bool = True) -> None:
        self._manager = _PluginManager(PROJECT)
        self._manager.add_hookspecs(RunHooks)
        self.failures: list[HookFailure] = []
        plugins: list[tuple[str, Any]] = []
        if load_plugins:
            plugins.extend(self._entry_point_plugins())
        for subscriber in subscribers or []:
            plugins.append((type(subscriber).__name__, subscriber))
        for name, plugin in plugins:
            try:
                self._manager.register(
                    _Isolated(plugin, name, self.failures), name=f"{name}-{id(plugin)}"
                )
            except pluggy.PluginValidationError as exc:  # a hook with arguments no spec has
                log.warning("lifecycle subscriber %s refused: %s", name, exc)
                self.failures.append(HookFailure("register", name, str(exc)))
        self.active = bool(plugins)
        # A hook nobody implements is a no-op rather than a pluggy call: the
        # engine calls ten hooks per case, and most runs have no subscribers.
        callers = {hook: getattr(self._manager.hook, hook) for hook in HOOK_NAMES}
        self._implemented = frozenset(h for h, c in callers.items() if c.get_hookimpls())
        relay = SimpleNamespace(
            **{h: c if h in self._implemented else _no_op for h, c in callers.items()}
        )
        self.call = cast(RunHooks, relay)

    def _entry_point_plugins(self) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for info in registry.list_components("plugin"):
            try:
                factory, _ = registry.load_factory("plugin", info.component_id)
                plugin = factory() if isinstance(factory, type) else factory
            except Exception as exc:
                log.warning(
                    "themis plugin %r from %s failed to load: %s",
                    info.component_id,
                    info.distribution,
                    exc,
                )
                self.failures.append(HookFailure("load", info.component_id, str(exc)))
                continue
            found.append((info.component_id, plugin))
        return found

    def has(self, hook: str) -> bool:
        """Whether any subscriber implements ``hook`` (one of :data:`HOOK_NAMES`)."""
        return hook in self._implemented
