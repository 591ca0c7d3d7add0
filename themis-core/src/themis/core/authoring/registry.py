"""Entry-point discovery of components, builtins included.

Core holds no table of builtins: its own ``pyproject.toml`` registers them
under the same groups a third-party package uses. Names are listed through
``importlib.metadata`` (no import), and a component is loaded with stevedore
only when it is asked for, so one broken plugin never breaks another.
"""

from __future__ import annotations

import difflib
import importlib.metadata as metadata
import inspect
import logging
import os
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from stevedore import DriverManager, ExtensionManager

from themis.core import protocols
from themis.core.errors import ComponentLoadError as ComponentLoadError
from themis.core.errors import ConfigError
from themis.core.errors import InvalidComponentError as InvalidComponentError
from themis.core.errors import InvalidComponentOptionError as InvalidComponentOptionError
from themis.core.errors import UnknownComponentError as UnknownComponentError
from themis.core.models import ComponentRef
from themis.core.observability.scrubbing import redact_urls_in

log = logging.getLogger(__name__)

GROUPS: dict[str, str] = {
    "generator": "themis.generators",
    "reducer": "themis.reducers",
    "selector": "themis.selectors",
    "parser": "themis.parsers",
    "metric": "themis.metrics",
    "judge": "themis.judges",
    "store": "themis.stores",
    "benchmark": "themis.benchmarks",
    "adapter": "themis.adapters",
    "catalog": "themis.catalogs",
    "plugin": "themis.plugins",
}

CONTRACTS: dict[str, tuple[type, ...]] = {
    "generator": (protocols.Generator,),
    "reducer": (protocols.CandidateReducer,),
    "selector": (protocols.CandidateSelector,),
    "parser": (protocols.Parser,),
    "metric": (protocols.PureMetric, protocols.JudgeBackedMetric),
    "judge": (protocols.JudgeModel,),
}
"""Each kind's contract: the protocols of themis.core.protocols, one of which
a component of that kind satisfies."""


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    """One discovered entry point, before it is imported."""

    kind: str
    component_id: str
    distribution: str | None
    distribution_version: str | None
    entry_point: str


@dataclass(frozen=True, slots=True)
class LoadFailure:
    kind: str
    component_id: str
    distribution: str | None
    error: str


def _group(kind: str) -> str:
    try:
        return GROUPS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown component kind {kind!r}; known kinds: {sorted(GROUPS)}"
        ) from None


_INDEX: tuple[tuple[tuple[str, int], ...], dict[str, dict[str, metadata.EntryPoint]]] | None = None


_DISTS: dict[tuple[str, str], tuple[str | None, str | None]] = {}
"""Name and version of each entry point's distribution, read once per index."""
_VERSIONS: dict[str, tuple[tuple[tuple[str, int], ...], str | None]] = {}
"""Installed versions by distribution name, with the installation they were read from."""


def _installation_token() -> tuple[tuple[str, int], ...]:
    """Changes whenever a distribution is installed or removed on ``sys.path``
    (installing one adds a ``.dist-info`` folder, which touches its parent)."""
    token: list[tuple[str, int]] = []
    for entry in sys.path:
        try:
            token.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    return tuple(token)


def _entry_points(kind: str) -> dict[str, metadata.EntryPoint]:
    """This kind's entry points by name.

    Every installed distribution is read once, not once per lookup: a run
    resolves several components and plugins, and reading all the metadata
    each time cost tens of milliseconds per run. The index is rebuilt when
    the installation changes.
    """
    global _INDEX
    group = _group(kind)
    token = _installation_token()
    if _INDEX is None or _INDEX[0] != token:
        installed = metadata.entry_points()  # one scan; select() filters in memory
        index = {
            name: {ep.name: ep for ep in installed.select(group=name)} for name in GROUPS.values()
        }
        _INDEX = (token, index)
        _DISTS.clear()
    return dict(_INDEX[1][group])


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (None if it is not installed),
    looked up once per installation like the entry points."""
    token = _installation_token()
    if _VERSIONS.get(distribution, (None, None))[0] != token:
        try:
            found: str | None = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found = None
        _VERSIONS[distribution] = (token, found)
    return _VERSIONS[distribution][1]


def _dist_of(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    key = (ep.group, ep.name)
    known = _DISTS.get(key)
    if known is None:
        dist = ep.dist
        meta = None if dist is None else dist.metadata  # parsed anew on every access
        known = (None, None) if meta is None else (meta["Name"], meta["Version"])
        _DISTS[key] = known
    return known


def list_components(kind: str | None = None) -> list[ComponentInfo]:
    """Every registered component id (of one kind, or all), without importing any."""
    kinds = [kind] if kind is not None else list(GROUPS)
    infos: list[ComponentInfo] = []
    for each in kinds:
        for name, ep in sorted(_entry_points(each).items()):
            dist, version = _dist_of(ep)
            infos.append(ComponentInfo(each, name, dist, version, ep.value))
    return infos


def load_failures(kind: str | None = None) -> list[LoadFailure]:
    """Import every registered component and report the ones that fail, by distribution."""
    failures: list[LoadFailure] = []
    kinds = [kind] if kind is not None else list(GROUPS)
    for each in kinds:
        eps = _entry_points(each)

        def on_failure(
            _manager: Any,
            ep: Any,
            exc: BaseException,
            *,
            kind: str = each,
            eps: dict[str, metadata.EntryPoint] = eps,
        ) -> None:
            dist, _ = _dist_of(eps[ep.name]) if ep.name in eps else (None, None)
            failures.append(LoadFailure(kind, ep.name, dist, f"{type(exc).__name__}: {exc}"))

        ExtensionManager(
            namespace=_group(each), invoke_on_load=False, on_load_failure_callback=on_failure
        )
    return failures


def _unknown(kind: str, component_id: str, known: list[str]) -> UnknownComponentError:
    close = difflib.get_close_matches(component_id, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listing = ", ".join(sorted(known)) if known else "none installed"
    return UnknownComponentError(
        f"unknown {kind} {component_id!r}{hint} (known {kind} ids: {listing}). "
        f"Install the distribution that provides it, or check the spelling."
    )


def load_factory(kind: str, component_id: str) -> tuple[Callable[..., Any], ComponentInfo]:
    """The class or factory registered for ``component_id``, imported through stevedore."""
    eps = _entry_points(kind)
    ep = eps.get(component_id)
    if ep is None:
        raise _unknown(kind, component_id, list(eps))
    dist, version = _dist_of(ep)
    errors: list[BaseException] = []

    def on_failure(_manager: Any, _ep: Any, exc: BaseException) -> None:
        errors.append(exc)

    try:
        manager = DriverManager(
            namespace=_group(kind),
            name=component_id,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
        )
        factory: Callable[..., Any] = manager.driver
    except Exception as exc:
        cause = errors[0] if errors else exc
        raise ComponentLoadError(
            f"{kind} {component_id!r} from distribution {dist or 'unknown'} failed to load: "
            f"{type(cause).__name__}: {cause}"
        ) from cause
    return factory, ComponentInfo(kind, component_id, dist, version, ep.value)


def _check_contract(kind: str, component: Any, where: str) -> None:
    """Refuse a component that meets none of its kind's contracts, naming what
    it lacks for the contract it comes closest to."""
    contracts = CONTRACTS.get(kind, (protocols.Component,))
    if any(isinstance(component, contract) for contract in contracts):
        return
    gaps = [
        [name for name in protocols.protocol_members(contract) if not hasattr(component, name)]
        for contract in contracts
    ]
    missing = min(gaps, key=len)
    raise InvalidComponentError(
        f"{where}: {type(component).__name__} is not a valid {kind}: missing {', '.join(missing)}"
    )


def _family(kind: str, component: Any) -> str | None:
    if kind != "metric":
        return None
    return str(getattr(component, "metric_family", "pure"))


def resolve(kind: str, spec: Any, *, where: str) -> tuple[Any, ComponentRef]:
    """Build the component a spec names and the ref that records it.

    ``spec`` is an id, a mapping ``{"id", "name", "options"}`` or an object.
    ``where`` names the config field, for error messages.
    """
    name: str | None = None
    options: dict[str, Any] = {}
    if isinstance(spec, dict):
        component_id = spec["id"]
        name = spec.get("name")
        options = dict(spec.get("options") or {})
        spec = component_id
    if isinstance(spec, str):
        try:
            factory, info = load_factory(kind, spec)
        except (UnknownComponentError, ComponentLoadError) as exc:
            raise type(exc)(f"{where}: {exc}") from exc
        check_options(factory, options, f"{where}: {kind} {spec!r}")
        try:
            component = factory(**options)
        except TypeError as exc:
            raise InvalidComponentError(f"{where}: cannot build {kind} {spec!r}: {exc}") from exc
        except ValueError as exc:  # an option the component refused: say where it was given
            raise InvalidComponentOptionError(
                f"{where}: bad options for {kind} {spec!r}: {exc}"
            ) from exc
        _check_contract(kind, component, where)
        ref = ComponentRef(
            kind=kind,
            component_id=spec,
            name=name or spec,
            version=str(component.version),
            fingerprint=str(component.fingerprint()),
            options=redact_urls_in(identity_options(component, options)),
            family=_family(kind, component),
            distribution=info.distribution,
            distribution_version=info.distribution_version,
            entry_point=info.entry_point,
        )
        return component, ref
    component = spec
    _check_contract(kind, component, where)
    cls = type(component)
    ref = ComponentRef(
        kind=kind,
        component_id=str(component.component_id),
        name=name or str(component.component_id),
        version=str(component.version),
        fingerprint=str(component.fingerprint()),
        family=_family(kind, component),
        entry_point=f"python:{cls.__module__}.{cls.__qualname__}",
    )
    return component, ref


def identity_options(component: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options that say what a component does, for its ref (and so the run id).

    A component may name, in ``operational_options``, the options that only
    say where and how it is reached (a server URL, a timeout, the variable
    holding a key): its own fingerprint leaves them out, and so does the ref,
    or a server restarted on another port would change the run id and redo
    every stored generation. They are not recorded either: a URL can carry
    credentials, and the server a run used is in its provenance.
    """
    operational = frozenset(getattr(component, "operational_options", ()))
    return {name: value for name, value in options.items() if name not in operational}


def check_options(factory: Any, options: dict[str, Any], where: str) -> None:
    """Refuse an option a component's factory does not take, or one of the
    wrong type, naming it: otherwise it fails deep inside the component
    (``'<=' not supported between 'float' and 'str'``) or, worse, is used."""
    try:
        signature = inspect.signature(factory)
        target = factory.__init__ if inspect.isclass(factory) else factory
        hints = typing.get_type_hints(target)
    except (TypeError, ValueError, NameError):
        return  # no readable signature: the factory checks its own options
    parameters = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    named = [
        name
        for name, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    for name, value in options.items():
        if name not in parameters:
            if takes_any:
                continue
            close = difflib.get_close_matches(name, named, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidComponentOptionError(
                f"{where}: unknown option {name!r}; {hint}its options are {named or 'none'}"
            )
        annotation = hints.get(name)
        if annotation is None or annotation is Any:
            continue
        try:
            TypeAdapter(annotation).validate_python(value, strict=True)
        except ValidationError:
            raise InvalidComponentOptionError(
                f"{where}: option {name!r} must be {_type_name(annotation)}, got "
                f"{type(value).__name__} {value!r}"
            ) from None
        except Exception:
            continue


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
