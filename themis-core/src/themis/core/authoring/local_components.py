"""Components a config file names by Python path: ``python:MODULE:ATTR``.

A project keeps its own metric (or parser, generator...) in a module beside
its config file and names it there, without publishing a package::

    evaluation:
      metrics:
        - builtin/exact_match
        - {id: "python:metrics:CloseEnough", options: {tolerance: 0.05}}

``MODULE`` is a dotted module path looked up first relative to the config
file's directory (``metrics`` -> ``metrics.py`` or ``metrics/__init__.py``),
then among importable modules. ``ATTR`` is a class or factory, called with
``options``. The object it returns is then treated exactly like a component
object passed in Python: its ref comes from its own ``component_id``,
``version`` and ``fingerprint()``, so moving the project to another directory
or machine keeps the run id.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from themis.core.errors import ConfigError

PREFIX = "python:"

_SINGLE_FIELDS = (
    ("generation", "generator"),
    ("generation", "reducer"),
    ("generation", "selector"),
)
_LIST_FIELDS = (
    ("evaluation", "metrics"),
    ("evaluation", "parsers"),
    ("evaluation", "judge_models"),
)


def resolve_local_components(data: dict[str, Any], base: Path) -> None:
    """Replace every ``python:`` component spec in raw config ``data`` by its object."""
    for section, key in _SINGLE_FIELDS:
        node = data.get(section)
        if isinstance(node, dict) and key in node:
            node[key] = _resolve(node[key], base, f"{section}.{key}")
    for section, key in _LIST_FIELDS:
        node = data.get(section)
        if isinstance(node, dict) and isinstance(node.get(key), list):
            node[key] = [
                _resolve(spec, base, f"{section}.{key}[{index}]")
                for index, spec in enumerate(node[key])
            ]


def resolve_component(spec: Any, base: Path, where: str) -> Any:
    """The object a ``python:`` spec names (any other spec is returned as it is)."""
    return _resolve(spec, base, where)


def _resolve(spec: Any, base: Path, where: str) -> Any:
    options: dict[str, Any] = {}
    if isinstance(spec, str):
        component_id = spec
    elif isinstance(spec, dict) and isinstance(spec.get("id"), str):
        component_id = spec["id"]
        if not component_id.startswith(PREFIX):
            return spec
        if "name" in spec:
            raise ConfigError(
                f"{where}: 'name' is not supported for {component_id!r}; a python: component "
                "is named by its class's component_id"
            )
        raw_options = spec.get("options") or {}
        if not isinstance(raw_options, dict):
            raise ConfigError(f"{where}: 'options' must be a mapping")
        options = raw_options
    else:
        return spec
    if not component_id.startswith(PREFIX):
        return spec
    module_name, _, attr = component_id[len(PREFIX) :].rpartition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"{where}: {component_id!r} is not of the form python:MODULE:ATTR "
            "(for example python:metrics:MyMetric)"
        )
    module = _load_module(module_name, base, where)
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ConfigError(
            f"{where}: module {module_name!r} ({module.__file__}) has no attribute {attr!r}"
        ) from None
    try:
        return factory(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot build {component_id!r}: {exc}") from exc


def _module_file(module_name: str, base: Path) -> Path | None:
    parts = module_name.split(".")
    for candidate in (
        base.joinpath(*parts).with_suffix(".py"),
        base.joinpath(*parts, "__init__.py"),
    ):
        if candidate.is_file():
            return candidate.resolve()
    return None


@contextlib.contextmanager
def _importable_from(base: Path) -> Iterator[None]:
    """Let the project's module import its siblings while it loads."""
    entry = str(base.resolve())
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _load_module(module_name: str, base: Path, where: str) -> ModuleType:
    file = _module_file(module_name, base)
    if file is None:
        try:
            return importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"{where}: cannot find module {module_name!r}: it is neither a file under "
                f"{base.resolve()} nor importable ({exc})"
            ) from exc
    # Load the file itself, fresh each time, so an edited module is picked up
    # and two projects with a ``metrics.py`` each never see each other's.
    existing = sys.modules.get(module_name)
    same_file = existing is not None and getattr(existing, "__file__", None) == str(file)
    if existing is None or same_file:
        key = module_name
    else:
        key = f"_themis_local_{hashlib.sha256(str(file).encode()).hexdigest()[:12]}_{module_name}"
    spec = importlib.util.spec_from_file_location(key, file)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise ConfigError(f"{where}: cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        with _importable_from(base):
            spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(key, None)
        raise ConfigError(f"{where}: importing {file} failed: {type(exc).__name__}: {exc}") from exc
    return module
