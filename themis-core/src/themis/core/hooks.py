"""Lifecycle hooks through pluggy.

Hook specifications live here; implementations are any objects passed as
``subscribers`` plus the plugins published under the ``themis.plugins``
entry-point group. A subscriber implements any subset of the hooks by plain
method name (no marker needed). A hook that raises is logged with the
subscriber's name and otherwise ignored: observers never corrupt a run.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import pluggy

from themis.core import registry

log = logging.getLogger(__name__)

PROJECT = "themis"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

HOOK_NAMES = (
    "before_generate",
    "after_generate",
    "before_reduce",
    "after_reduce",
    "before_parse",
    "after_parse",
    "before_score",
    "after_score",
    "before_judge",
    "after_judge",
    "on_event",
    "on_progress",
)


class LifecycleSpec:
    @hookspec
    def before_generate(self, case: Any, ctx: Any) -> None: ...

    @hookspec
    def after_generate(self, case: Any, result: Any, ctx: Any) -> None: ...

    @hookspec
    def before_reduce(self, candidates: Any, ctx: Any) -> None: ...

    @hookspec
    def after_reduce(self, reduced: Any, ctx: Any) -> None: ...

    @hookspec
    def before_parse(self, candidate: Any, ctx: Any) -> None: ...

    @hookspec
    def after_parse(self, parsed: Any, ctx: Any) -> None: ...

    @hookspec
    def before_score(self, metric_id: Any, parsed: Any, ctx: Any) -> None: ...

    @hookspec
    def after_score(self, result: Any, ctx: Any) -> None: ...

    @hookspec
    def before_judge(self, metric_id: Any, ctx: Any) -> None: ...

    @hookspec
    def after_judge(self, result: Any, ctx: Any) -> None: ...

    @hookspec
    def on_event(self, event: Any) -> None: ...

    @hookspec
    def on_progress(self, snapshot: Any) -> None:
        """Called after each case finishes, with a ProgressSnapshot."""


class _PluginManager(pluggy.PluginManager):
    """Accepts plain methods named like a hook, so subscribers need no markers."""

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


class LifecycleHooks:
    """Dispatches lifecycle hooks to every subscriber, isolating failures."""

    def __init__(self, subscribers: list[Any] | None = None, *, load_plugins: bool = True) -> None:
        self._manager = _PluginManager(PROJECT)
        self._manager.add_hookspecs(LifecycleSpec)
        self.failures: list[HookFailure] = []
        self._names: dict[int, str] = {}
        plugins: list[tuple[str, Any]] = []
        if load_plugins:
            plugins.extend(self._entry_point_plugins())
        for subscriber in subscribers or []:
            plugins.append((type(subscriber).__name__, subscriber))
        for name, plugin in plugins:
            self._names[id(plugin)] = name
            self._manager.register(plugin, name=f"{name}-{id(plugin)}")
        self.active = bool(plugins)
        # Each implementation with the arguments it takes, worked out once: on_event
        # alone is called for every stored event.
        self._calls = {
            hook: [
                (impl.plugin, method, frozenset(_arg_names(method)))
                for impl in impls
                for method in [getattr(impl.plugin, hook)]
            ]
            for hook in HOOK_NAMES
            if (impls := getattr(self._manager.hook, hook).get_hookimpls())
        }

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
        return hook in self._calls

    def call(self, hook: str, **kwargs: Any) -> None:
        """Call ``hook`` on every implementation; a raising one is logged, not fatal."""
        for plugin, method, accepted in self._calls.get(hook, ()):
            try:
                method(**{k: v for k, v in kwargs.items() if k in accepted})
            except Exception as exc:
                name = self._names.get(id(plugin), type(plugin).__name__)
                log.warning("lifecycle subscriber %s raised in %s: %r", name, hook, exc)
                self.failures.append(HookFailure(hook, name, f"{type(exc).__name__}: {exc}"))


_ARG_CACHE: dict[Any, tuple[str, ...]] = {}


def _arg_names(method: Any) -> tuple[str, ...]:
    func = getattr(method, "__func__", method)
    names = _ARG_CACHE.get(func)
    if names is None:
        names = tuple(inspect.signature(func).parameters)
        _ARG_CACHE[func] = names
    return names
