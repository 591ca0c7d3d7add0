"""What a worker rebuilds a submitted experiment from: its recipe.

A worker is another process, often on another machine, started with a store
and nothing else, so the objects a user built cannot travel; only how to
build them again can. Two recipes:

- ``config``: the experiment came from a config file. The recipe is the
  file's mapping with ``--set`` overrides applied, and its folder, so that
  ``python:`` components resolve there as they did at submit.
- ``python``: the experiment was built in Python. Each component is recorded
  by what rebuilds it: an entry-point id with its options, or an importable
  class with the constructor arguments it was given (a dataclass's fields,
  or none).

Datasets are never in a recipe: the snapshot holds them. Neither are the
storage settings (a worker uses the store it is pointed at) nor any secret:
a recipe holding a secret-looking key or a URL with credentials is refused,
since keys come from the worker's environment. Every recipe is proved at
submit: components built from it must fingerprint as the originals do, so a
component a worker could not rebuild is refused then, with its field named,
not discovered by a worker hours later.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from themis.core.authoring import registry
from themis.core.authoring.config_files import (
    apply_override,
    format_validation_error,
    materialize_config,
    read_config_file,
)
from themis.core.deferred.factories import RECIPE_ATTRIBUTE
from themis.core.errors import ConfigError, UserError
from themis.core.experiment import Experiment
from themis.core.models import JSONValue, RunSnapshot
from themis.core.observability.redaction import secret_paths
from themis.core.observability.scrubbing import redact_urls_in

RECIPE_VERSION = 1
"""Bumped when a recipe's shape changes incompatibly."""

OBJECT_KEY = "python_object"
"""Marks a component recorded as an importable class and its arguments."""

_GENERATION_COMPONENTS = ("generator", "reducer", "selector")
_EVALUATION_COMPONENTS = ("metrics", "parsers", "judge_models")
_KINDS = {
    "generator": "generator",
    "reducer": "reducer",
    "selector": "selector",
    "metrics": "metric",
    "parsers": "parser",
    "judge_models": "judge",
}


def experiment_recipe(experiment: Experiment) -> dict[str, JSONValue]:
    """The recipe for ``experiment``, checked to rebuild it; raises ConfigError
    naming the first component (or setting) a worker could not rebuild."""
    snapshot = experiment.compile()
    source = experiment._config_source
    recipe = _config_recipe(*source) if source is not None else None
    if recipe is not None and _rebuilt_run_id(recipe, snapshot) != snapshot.run_id:
        recipe = None  # changed since the config was read (``model_copy(update=...)``)
    if recipe is None:
        recipe = _python_recipe(experiment)
        rebuilt = rebuild_experiment(recipe, snapshot).compile().run_id
        if rebuilt != snapshot.run_id:
            raise ConfigError(
                f"submit: rebuilt from what can be stored, this experiment compiles to run "
                f"{rebuilt}, not {snapshot.run_id}: a component's identity depends on "
                "something its recorded arguments do not hold; name components by "
                "entry-point id with options"
            )
    _refuse_secrets(recipe)
    return recipe


def _rebuilt_run_id(recipe: dict[str, JSONValue], snapshot: RunSnapshot) -> str | None:
    """The run id a worker would compile from ``recipe`` (None: it cannot)."""
    try:
        return rebuild_experiment(recipe, snapshot).compile().run_id
    except UserError:
        return None


def rebuild_experiment(recipe: dict[str, Any], snapshot: RunSnapshot) -> Experiment:
    """The experiment a recipe describes, with the snapshot's datasets."""
    version = recipe.get("version")
    if version != RECIPE_VERSION:
        raise ConfigError(
            f"run {snapshot.run_id}: its submission recipe has version {version!r}; this "
            f"Themis reads version {RECIPE_VERSION}: run the worker with the Themis version "
            "that submitted it"
        )
    datasets = [dataset.model_dump(mode="json") for dataset in snapshot.datasets]
    if recipe.get("format") == "config":
        base = Path(str(recipe["base_dir"]))
        data = copy.deepcopy(recipe["config"])
        data["datasets"] = datasets
        materialize_config(data, base)
        source = str(recipe.get("source", base))
    else:
        data = _python_data(recipe)
        data["datasets"] = datasets
        source = f"run {snapshot.run_id} (submitted from Python)"
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


# -- config files ----------------------------------------------------------


def _config_recipe(path: Path, overrides: list[str]) -> dict[str, JSONValue]:
    data = read_config_file(path)
    for override in overrides:
        apply_override(data, override)
    # The worker uses the store it is given; the storage section can hold a
    # database URL with its password, and the datasets are in the snapshot.
    data.pop("storage", None)
    data.pop("datasets", None)
    recorded = [o for o in overrides if not o.strip().startswith(("storage", "datasets"))]
    recipe: dict[str, JSONValue] = {
        "format": "config",
        "version": RECIPE_VERSION,
        "source": str(path),
        "base_dir": str(path.parent),
        "overrides": recorded,
        "config": _json_round_trip(data, f"{path}"),
    }
    return recipe


# -- Python experiments ----------------------------------------------------


def _python_recipe(experiment: Experiment) -> dict[str, JSONValue]:
    generation = experiment.generation.model_dump(mode="json", exclude=set(_GENERATION_COMPONENTS))
    for field in _GENERATION_COMPONENTS:
        spec = getattr(experiment.generation, field)
        if spec is not None:
            generation[field] = component_recipe(spec, _KINDS[field], f"generation.{field}")
    evaluation = experiment.evaluation.model_dump(mode="json", exclude=set(_EVALUATION_COMPONENTS))
    for field in _EVALUATION_COMPONENTS:
        evaluation[field] = [
            component_recipe(spec, _KINDS[field], f"evaluation.{field}[{index}]")
            for index, spec in enumerate(getattr(experiment.evaluation, field))
        ]
    return {
        "format": "python",
        "version": RECIPE_VERSION,
        "generation": generation,
        "evaluation": evaluation,
        "runtime": experiment.runtime.model_dump(mode="json"),
        "seeds": list(experiment.seeds),
        "environment_metadata": dict(experiment.environment_metadata),
    }


def _python_data(recipe: dict[str, Any]) -> dict[str, Any]:
    generation = dict(recipe["generation"])
    for field in _GENERATION_COMPONENTS:
        if generation.get(field) is not None:
            generation[field] = build_component(generation[field], f"generation.{field}")
    evaluation = dict(recipe["evaluation"])
    for field in _EVALUATION_COMPONENTS:
        evaluation[field] = [
            build_component(spec, f"evaluation.{field}[{index}]")
            for index, spec in enumerate(evaluation.get(field, []))
        ]
    return {
        "generation": generation,
        "evaluation": evaluation,
        "runtime": recipe["runtime"],
        "seeds": recipe["seeds"],
        "environment_metadata": recipe.get("environment_metadata", {}),
    }


def component_recipe(spec: Any, kind: str, where: str) -> JSONValue:
    """How a worker builds the component ``spec`` names, proved here.

    An id or ``{"id", "name", "options"}`` mapping is kept as it is (its
    options must be storable), and so is the call that made an object from a
    factory (``deferred.factories.rebuildable``); another object
    is recorded by its class and constructor arguments, and refused when
    rebuilding it would not give a component with the same fingerprint.
    """
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        return _json_round_trip(spec, where)
    made_by = getattr(spec, RECIPE_ATTRIBUTE, None)
    if isinstance(made_by, dict):
        # made by a factory (``openai(...)``): the worker makes it the same way
        arguments = _json_round_trip(made_by["arguments"], f"{where}.arguments")
        return {OBJECT_KEY: str(made_by["factory"]), "arguments": arguments}
    return _object_recipe(spec, kind, where)


def _object_recipe(component: Any, kind: str, where: str) -> dict[str, JSONValue]:
    cls = type(component)
    label = f"{where}: {cls.__qualname__} object ({component.component_id!r})"
    advice = _advice(component, kind)
    if cls.__module__ == "__main__":
        raise ConfigError(
            f"{label} cannot be rebuilt by a worker: its class is defined in __main__ (a "
            f"script or notebook), which another process cannot import. {advice}"
        )
    if "<locals>" in cls.__qualname__ or "<lambda>" in cls.__qualname__:
        raise ConfigError(
            f"{label} cannot be rebuilt by a worker: its class is defined inside a function. "
            f"{advice}"
        )
    target = f"{cls.__module__}:{cls.__qualname__}"
    import_root = _import_root(cls)
    problems: list[str] = []
    for arguments in _constructor_arguments(component):
        try:
            stored = json.loads(json.dumps(arguments))
        except (TypeError, ValueError):
            bad = [name for name, value in arguments.items() if not _storable(value)]
            problems.append(f"its argument(s) {bad} are not JSON data and cannot be stored")
            continue
        try:
            rebuilt = _construct(target, stored, import_root)
        except Exception as exc:
            problems.append(f"{target}(**{stored!r}) failed: {type(exc).__name__}: {exc}")
            continue
        if (
            str(getattr(rebuilt, "component_id", "")) == str(component.component_id)
            and str(getattr(rebuilt, "version", "")) == str(component.version)
            and str(rebuilt.fingerprint()) == str(component.fingerprint())
        ):
            break
        problems.append(
            f"{target}(**{stored!r}) gives a component with another fingerprint (it holds "
            "settings its constructor arguments do not record)"
        )
    else:
        raise ConfigError(f"{label} cannot be rebuilt by a worker: {'; '.join(problems)}. {advice}")
    recipe: dict[str, JSONValue] = {OBJECT_KEY: target, "arguments": stored}
    if import_root is not None:
        recipe["import_root"] = import_root
    return recipe


def _constructor_arguments(component: Any) -> list[dict[str, Any]]:
    """What the component's class might be called with to build it again, in
    order of trust: a dataclass's fields or a pydantic model's, else what
    ``options()`` reports (the SDK's convention), else nothing."""
    if dataclasses.is_dataclass(component):
        return [
            {
                field.name: getattr(component, field.name)
                for field in dataclasses.fields(component)
                if field.init
            }
        ]
    if isinstance(component, BaseModel):
        return [component.model_dump(mode="python")]
    candidates: list[dict[str, Any]] = []
    options = getattr(component, "options", None)
    if callable(options):
        try:
            reported = options()
        except Exception:
            reported = None
        if isinstance(reported, dict) and reported:
            candidates.append(reported)
    candidates.append({})
    return candidates


def build_component(spec: Any, where: str) -> Any:
    """The component spec a recipe entry stands for: an id or mapping as it
    is, an object rebuilt from its class."""
    if isinstance(spec, dict) and OBJECT_KEY in spec:
        target = str(spec[OBJECT_KEY])
        try:
            return _construct(target, dict(spec.get("arguments") or {}), spec.get("import_root"))
        except ImportError as exc:
            raise ConfigError(
                f"{where}: cannot import {target} on this worker ({exc}); install the package "
                "that provides it, or put its module on PYTHONPATH"
            ) from None
        except Exception as exc:
            raise ConfigError(
                f"{where}: rebuilding {target} failed: {type(exc).__name__}: {exc}"
            ) from None
    return spec


def _construct(target: str, arguments: dict[str, Any], import_root: Any) -> Any:
    module_name, _, qualname = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        # The module sat beside the submitting script: import it from there
        # (a shared file system, as on a Slurm cluster).
        if not isinstance(import_root, str) or not Path(import_root).is_dir():
            raise
        if import_root not in sys.path:
            sys.path.append(import_root)
        module = importlib.import_module(module_name)
    factory: Any = module
    for part in qualname.split("."):
        factory = getattr(factory, part)
    return factory(**arguments)


def _import_root(cls: type) -> str | None:
    """The folder ``sys.path`` needs for ``cls``'s module to import, when it
    is a plain file (not an installed distribution's)."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    depth = cls.__module__.count(".") + (1 if path.name == "__init__.py" else 0)
    root = path.parents[depth]
    if "site-packages" in root.parts or "dist-packages" in root.parts:
        return None
    return str(root)


def _advice(component: Any, kind: str) -> str:
    """What to do instead: the entry point, when the component has one."""
    component_id = str(getattr(component, "component_id", ""))
    registered = {info.component_id for info in registry.list_components(kind)}
    if component_id in registered:
        return (
            f"It is registered as {kind} {component_id!r}: pass "
            f'{{"id": "{component_id}", "options": {{...}}}} with the options you built it '
            "with, and the worker builds it from its entry point."
        )
    return (
        "Define the component in an importable module (a package, or a .py file the worker "
        "can import) as a dataclass whose fields are its settings, or register it as an "
        "entry point and pass its id."
    )


def _storable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _json_round_trip(value: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{where}: cannot be stored for a worker ({exc}); a worker rebuilds it from "
            "JSON data only: give component options as plain values"
        ) from None


def _refuse_secrets(recipe: dict[str, JSONValue]) -> None:
    found = secret_paths(recipe)
    if redact_urls_in(recipe) != recipe:
        found.append("a URL with credentials (user:password@)")
    if found:
        raise ConfigError(
            f"submit: the experiment holds secret-looking values ({', '.join(found)}); secrets "
            "are never stored: let each worker read them from its environment (e.g. the "
            "openai adapter's api_key_env names the variable)"
        )
