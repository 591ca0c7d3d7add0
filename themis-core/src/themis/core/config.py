"""Experiment configuration models.

Identity-bearing configuration (generation, evaluation) is separated from
runtime-only configuration (storage, runtime) so that tuning concurrency or
moving a store never changes a run id.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal, Required, TypeAlias, TypedDict

from pydantic import Field, PositiveInt, field_validator, model_validator

from themis.core.authoring.prompts import PromptSpec
from themis.core.errors import ConfigError
from themis.core.models import FrozenModel, JSONValue

if TYPE_CHECKING:
    from themis.core.protocols import Component


class ComponentMapping(TypedDict, total=False):
    """A component named by id, with its options and the name results go under."""

    id: Required[str]
    name: str
    options: dict[str, Any]


if TYPE_CHECKING:
    ComponentSpec: TypeAlias = "str | ComponentMapping | Component"
else:
    # pydantic builds no schema for a Protocol: a spec is checked by
    # _check_component_spec here and against its kind's contract by the
    # registry when the experiment compiles (with the field's path either way).
    ComponentSpec = Any
"""A component id (``"builtin/exact_match"``), a mapping
``{"id": ..., "name": ..., "options": {...}}``, or a component object."""


def _check_component_spec(value: Any, where: str) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ConfigError(f"{where}: component id must not be empty")
        return value
    if isinstance(value, dict):
        if not isinstance(value.get("id"), str) or not value["id"]:
            raise ConfigError(f"{where}: a component mapping needs a string 'id'")
        unknown = set(value) - {"id", "name", "options"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown keys {sorted(unknown)} in component mapping "
                "(allowed: id, name, options)"
            )
        if "options" in value and not isinstance(value["options"], dict):
            raise ConfigError(f"{where}: 'options' must be a mapping")
        return value
    if hasattr(value, "component_id") and callable(getattr(value, "fingerprint", None)):
        return value
    raise ConfigError(
        f"{where}: expected a component id, a mapping with 'id', or an object with "
        f"component_id, version and fingerprint(); got {type(value).__name__}"
    )


class CandidatePolicy(FrozenModel):
    """How many candidates to generate for each case.

    ``num_samples`` is the number of candidates per case. The experiment's
    seeds are laid over them: as many seeds as candidates give candidate ``i``
    the seed ``seeds[i]``; a single seed is spread over all candidates (the
    first sees it, the others a stable derivation of it); any other count is
    a compile error. Left unset, it is one candidate per seed.
    """

    num_samples: int | None = Field(default=None, ge=1)


class GenerationConfig(FrozenModel):
    """What produces candidates and how they are reduced to one."""

    generator: ComponentSpec
    candidate_policy: CandidatePolicy = Field(default_factory=CandidatePolicy)
    reducer: ComponentSpec | None = None
    selector: ComponentSpec | None = None
    prompt_spec: PromptSpec | None = None

    @field_validator("generator", "reducer", "selector")
    @classmethod
    def _component(cls, value: Any) -> Any:
        return None if value is None else _check_component_spec(value, "component")


class EvaluationConfig(FrozenModel):
    """How candidates are parsed, scored and judged."""

    metrics: list[ComponentSpec] = Field(default_factory=list)
    parsers: list[ComponentSpec] = Field(default_factory=list)
    judge_models: list[ComponentSpec] = Field(default_factory=list)
    workflow_overrides: dict[str, JSONValue] = Field(default_factory=dict)
    judge_config: dict[str, JSONValue] = Field(default_factory=dict)

    @field_validator("metrics", "parsers", "judge_models")
    @classmethod
    def _components(cls, values: list[Any]) -> list[Any]:
        return [_check_component_spec(value, f"[{index}]") for index, value in enumerate(values)]


class StorageConfig(FrozenModel):
    """Where a run is stored. Runtime-only: never part of the run id."""

    store: str = "memory"
    path: str | None = None
    parameters: dict[str, JSONValue] = Field(default_factory=dict)


def check_error_categories(categories: list[str]) -> list[str]:
    """Refuse a name that is not an :class:`~themis.core.errors.ErrorCategory`."""
    from themis.core.errors import ErrorCategory

    known = [category.value for category in ErrorCategory]
    unknown = sorted(set(categories) - set(known))
    if unknown:
        raise ConfigError(f"unknown error categories {unknown}; known: {known}")
    return categories


class RateLimit(FrozenModel):
    """A provider's rate limit: requests and/or tokens per minute.

    Tokens are what the provider counts (prompt and output together). The
    engine paces calls so that no minute sees more than this (with several
    workers on one run, each takes its share; see docs/execution.md).
    """

    requests_per_minute: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    tokens_per_minute: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @field_validator("requests_per_minute", "tokens_per_minute", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        if isinstance(value, bool):  # pydantic would read True as 1
            raise ValueError(f"must be a number per minute, got {value!r}")
        return value

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimit:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("set requests_per_minute, tokens_per_minute or both")
        return self


def check_rate_limit_keys(limits: dict[str, RateLimit]) -> dict[str, RateLimit]:
    """A key is a provider (``openai``) or a provider and a model
    (``openai:gpt-4o-mini``; everything after the first colon is the model)."""
    for key in limits:
        provider, _, model = key.partition(":")
        padded = provider != provider.strip() or model != model.strip()
        if not provider.strip() or "/" in provider or (":" in key and not model.strip()) or padded:
            raise ConfigError(
                f"provider_rate_limits: bad key {key!r}: use a provider (as in "
                "provider_concurrency, e.g. 'openai') or 'provider:model' "
                "(e.g. 'openai:gpt-4o-mini')"
            )
    return limits


class RuntimeConfig(FrozenModel):
    """How a run executes. Runtime-only: never part of the run id."""

    @field_validator("retryable_errors")
    @classmethod
    def _known_categories(cls, categories: list[str]) -> list[str]:
        return check_error_categories(categories)

    @field_validator("provider_rate_limits")
    @classmethod
    def _rate_limit_keys(cls, limits: dict[str, RateLimit]) -> dict[str, RateLimit]:
        return check_rate_limit_keys(limits)

    max_concurrent_tasks: int = Field(default=32, ge=1)
    component_concurrency: dict[str, PositiveInt] = Field(default_factory=dict)
    provider_concurrency: dict[str, PositiveInt] = Field(default_factory=dict)
    provider_rate_limits: dict[str, RateLimit] = Field(default_factory=dict)
    """Requests and tokens per minute, by provider (``openai``: every call of
    the provider) or by provider and model (``openai:gpt-4o-mini``), e.g.
    ``{"openai:gpt-4o-mini": {"requests_per_minute": 500, "tokens_per_minute": 200000}}``.
    Calls are paced by a token bucket that also follows the provider's
    ``x-ratelimit-*`` headers; see docs/execution.md."""
    max_retries: int = Field(default=3, ge=0)
    retry_initial_delay_s: float = Field(default=0.5, ge=0)
    retry_max_delay_s: float = Field(default=30.0, ge=0)
    circuit_breaker_threshold: int = Field(default=10, ge=1)
    circuit_breaker_cooldown_s: float = Field(default=30.0, ge=0)
    task_timeout_s: float | None = Field(default=None, gt=0)
    """Per-call limit for every component call: each generator or judge
    attempt (a timeout is retried), and each selector, reducer, parser,
    metric and workflow-step call (its case fails as a timeout)."""
    component_timeout_s: float | None = Field(default=300.0, gt=0)
    """The limit when ``task_timeout_s`` is unset, so that a hung component
    fails its case, never the run. None (with ``task_timeout_s`` unset) lifts it."""
    store_lock_timeout_s: float | None = Field(default=600.0, gt=0)
    """How long the run waits out another process holding the store's write
    lock (retrying, with a notice on stderr and new work paused) before it
    fails; None waits for ever."""
    share_run: bool = True
    """Share the run with every other process running it on the same store:
    cases are claimed in chunks with expiring work leases, so each case runs
    in one process (docs/execution.md, "Several processes, one run"). False
    runs every case here, as if no other process existed."""
    lease_s: float = Field(default=60.0, gt=0)
    """How long a claimed chunk of cases stays this process's without a
    heartbeat (renewed every ``lease_s / 4``): a killed process's unfinished
    cases are taken over this long after its last heartbeat."""
    lease_poll_s: float = Field(default=0.5, gt=0)
    """How often a process with nothing left to claim looks again while other
    live processes still hold unfinished chunks (at most ``lease_s / 4``)."""
    retryable_errors: list[str] = Field(default_factory=list)
    """Error categories (``invalid_request``, ``not_found``...) retried besides the
    transient ones (rate_limit, timeout, connection, server_error)."""
    progress: Literal["auto", "on", "off"] = "auto"
    existing_run_policy: Literal["auto", "error", "rerun"] = "auto"
    """What ``run()`` does when the store already holds this run id: ``auto``
    reuses what is stored (a resume, or cache hits); ``error`` refuses before
    any work starts; ``rerun`` recomputes every stage for this run id, its new
    events recorded beside the old ones, which stay readable. Replay and
    rejudge ignore it."""

    executor: Literal["local", "ray"] = "local"
    """Where the run's cases execute: ``local`` in this process; ``ray`` in
    ``workers`` Ray actors sharing the run through the store's work leases
    (the ``ray`` extra; docs/ray.md)."""
    ray_address: str | None = None
    """The Ray cluster for ``executor="ray"``: None starts a local Ray on
    127.0.0.1 for the run; ``"auto"`` joins the cluster this machine belongs
    to (``RAY_ADDRESS``, or the one ``ray start`` began); ``host:port`` (its
    GCS address) or ``ray://host:port`` (Ray Client) names one."""
    workers: int = Field(default=1, ge=1)
    """How many Ray actors run the run at once with ``executor="ray"``."""
    ray_max_replacements: int = Field(default=3, ge=0)
    """How many dead Ray actors are replaced, over the whole run, before it
    fails (the work they held is taken over once their leases expire)."""
    ray_actor_cpus: float = Field(default=0.0, ge=0)
    """CPUs Ray reserves for each actor. Workers mostly wait on models, so
    they reserve none by default; raise it for CPU-heavy metrics or parsers."""

    @field_validator("ray_address")
    @classmethod
    def _ray_address(cls, address: str | None) -> str | None:
        return None if address is None else check_ray_address(address)

    @model_validator(mode="after")
    def _ray_settings_need_ray(self) -> RuntimeConfig:
        """Ray's settings say how many actors and where: with the local
        executor they would be ignored, so giving them is refused."""
        if self.executor == "ray":
            return self
        given = [
            f"{name}={getattr(self, name)!r}"
            for name, default in RAY_DEFAULTS.items()
            if getattr(self, name) != default
        ]
        if given:
            raise ConfigError(
                f"runtime: the Ray setting(s) {', '.join(given)} apply only with "
                "executor='ray' (the executor is 'local'); set runtime.executor to 'ray' "
                "(themis run --executor ray), or leave them out"
            )
        return self

    @property
    def call_timeout_s(self) -> float | None:
        """The limit on each component call."""
        if self.task_timeout_s is not None:
            return self.task_timeout_s
        return self.component_timeout_s


RAY_DEFAULTS: dict[str, object] = {
    "ray_address": None,
    "workers": 1,
    "ray_max_replacements": 3,
    "ray_actor_cpus": 0.0,
}
"""The Ray settings of RuntimeConfig and their defaults: given with the local
executor, anything else is refused."""

_RAY_ADDRESS = re.compile(r"(?:ray://)?\[?[A-Za-z0-9_.:-]+?\]?:\d{1,5}")


def check_ray_address(address: str) -> str:
    """``"auto"``, ``host:port`` or ``ray://host:port``, or a ConfigError saying so."""
    if address == "auto" or _RAY_ADDRESS.fullmatch(address):
        return address
    raise ConfigError(
        f"runtime.ray_address: {address!r} is not a Ray address; give 'auto' (the cluster "
        "this machine belongs to), host:port (a cluster's GCS address, as `ray start "
        "--head` prints it) or ray://host:port (Ray Client), or leave it unset to start a "
        "local Ray for the run"
    )
