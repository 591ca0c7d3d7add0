"""Seed 004's project-side specs: project identity, storage, execution policy, inference.

These are declarative inputs of a campaign (:mod:`themis.campaign`), loadable
from YAML or TOML: frozen, unknown keys rejected with their path. Nothing here
runs anything; a campaign compiles them into ordinary
:class:`~themis.core.experiment.Experiment` objects, so the run id, the
stores and the engine are exactly those of any other run.

Which parts are identity-bearing follows the engine's rule (docs/architecture.md,
"Identity"): inference params and the global seed change a run id; storage
and execution policy never do.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from themis.benchmark.specs import PromptMessage
from themis.core.config import RuntimeConfig, check_error_categories
from themis.core.models import JSONValue
from themis.specs.base import SpecBase

__all__ = [
    "ExecutionPolicySpec",
    "InferenceGridSpec",
    "InferenceParamsSpec",
    "PostgresBlobStorageSpec",
    "ProjectSpec",
    "PromptMessage",
    "SqliteBlobStorageSpec",
    "StorageConfig",
]

GridValue = str | int | float | bool | None


class InferenceParamsSpec(SpecBase):
    """Sampling and response-shape settings forwarded to inference engines.

    The OpenAI and vLLM providers send them on every request (``max_tokens``
    as the API's output-token limit, ``stop_sequences`` as ``stop``,
    ``logprobs`` as the number of top log-probabilities per token,
    ``response_format`` ``"text"``, ``"json"`` or a Chat Completions
    ``response_format`` mapping such as a ``json_schema``); ``extras`` go
    into the request body as given (``min_p``, ``repetition_penalty``...).
    ``seed`` unset sends each candidate's own seed; ``temperature`` or
    ``max_tokens`` set to null leaves them to the provider (for models that
    refuse them). Every field is part of the generator's fingerprint, hence
    of the run id.
    """

    temperature: float | None = Field(default=0.0, ge=0.0, description="0 is greedy.")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=-1, description="-1 disables (vLLM).")
    max_tokens: int | None = Field(default=1024, gt=0, description="Output-token limit.")
    stop_sequences: list[str] = Field(default_factory=list)
    logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: Literal["text", "json"] | dict[str, JSONValue] | None = None
    seed: int | None = None
    extras: dict[str, JSONValue] = Field(default_factory=dict)

    @field_validator("stop_sequences", mode="before")
    @classmethod
    def _stop_as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("stop_sequences")
    @classmethod
    def _no_empty_stop(cls, value: list[str]) -> list[str]:
        if any(not stop for stop in value):
            raise ValueError("stop_sequences must not contain an empty string")
        return value

    def changed_fields(self) -> dict[str, JSONValue]:
        """The fields that differ from the defaults, for labels and reports."""
        defaults = InferenceParamsSpec().model_dump(mode="json")
        mine = self.model_dump(mode="json")
        changed: dict[str, JSONValue] = {
            name: value
            for name, value in mine.items()
            if name != "extras" and value != defaults[name]
        }
        changed.update(self.extras)
        return changed


class InferenceGridSpec(SpecBase):
    """Typed inference sweep over base params and scalar override grids.

    ``expand()`` takes every base entry of ``params`` and, for each, the
    product of the ``overrides`` lists (``{"temperature": [0.0, 0.7]}``).
    An override key that is not an :class:`InferenceParamsSpec` field is a
    provider extra and lands in ``extras``. Points come out in a fixed
    order (base entries in order, override keys sorted), and a point's
    run id depends only on its own params, so adding a value to a list
    leaves every other point's stored results reusable.
    """

    params: list[InferenceParamsSpec] = Field(
        default_factory=lambda: [InferenceParamsSpec()], min_length=1
    )
    overrides: dict[str, list[GridValue]] = Field(default_factory=dict)

    @field_validator("overrides")
    @classmethod
    def _non_empty_lists(cls, overrides: dict[str, list[GridValue]]) -> dict[str, list[GridValue]]:
        for key, values in overrides.items():
            if not key.strip():
                raise ValueError("overrides: a key must not be empty")
            if key == "extras":
                raise ValueError(
                    "overrides.extras: name the provider extra itself (e.g. min_p: [0.05, 0.1]); "
                    "keys that are not InferenceParamsSpec fields go to extras"
                )
            if not values:
                raise ValueError(f"overrides.{key}: give at least one value")
            if len(set(map(repr, values))) != len(values):
                raise ValueError(f"overrides.{key}: duplicate values in {values}")
        return overrides

    @model_validator(mode="after")
    def _points_valid_and_distinct(self) -> InferenceGridSpec:
        points = self.expand()
        seen: dict[str, int] = {}
        for index, point in enumerate(points):
            key = point.fingerprint()
            if key in seen:
                raise ValueError(
                    f"grid points {seen[key]} and {index} are the same params "
                    f"({point.changed_fields() or 'the defaults'}); remove the duplicate"
                )
            seen[key] = index
        return self

    def expand(self) -> list[InferenceParamsSpec]:
        """Every point of the sweep, each a complete :class:`InferenceParamsSpec`."""
        keys = sorted(self.overrides)
        fields = set(InferenceParamsSpec.model_fields)
        points: list[InferenceParamsSpec] = []
        for base in self.params:
            for combination in itertools.product(*(self.overrides[key] for key in keys)):
                payload = base.model_dump(mode="json")
                extras = dict(payload["extras"])
                for key, value in zip(keys, combination, strict=True):
                    if key in fields:
                        payload[key] = value
                    else:
                        extras[key] = value
                payload["extras"] = extras
                try:
                    points.append(InferenceParamsSpec.model_validate(payload))
                except ValueError as exc:
                    where = ", ".join(f"{k}={v!r}" for k, v in zip(keys, combination, strict=True))
                    raise ValueError(f"grid point ({where}): {exc}") from None
        return points


class _StorageSpecBase(SpecBase):
    """Where a project's runs live: an event/projection store plus a blob directory.

    Runtime-only: moving a project's storage never changes a run id.

    The reference's ``store_item_payloads`` and ``compression`` are accepted
    only with the values Themis honours (payloads always stored, blobs
    uncompressed), so a file written for the reference says what differs
    instead of failing on an unknown key or being silently ignored.
    """

    store_item_payloads: Literal[True] = True
    compression: Literal["none"] = "none"

    @field_validator("store_item_payloads", mode="before")
    @classmethod
    def _payloads_always_stored(cls, value: object) -> object:
        if value is not True:
            raise ValueError(
                "Themis always stores item payloads (resume, replay and reports read them); "
                "leave store_item_payloads out"
            )
        return value

    @field_validator("compression", mode="before")
    @classmethod
    def _uncompressed(cls, value: object) -> object:
        if value != "none":
            raise ValueError(
                f"compression {value!r} is not available: blobs are stored uncompressed "
                "(content-addressed by their bytes); use 'none' or leave compression out"
            )
        return value


class SqliteBlobStorageSpec(_StorageSpecBase):
    """SQLite event/projection store plus local filesystem blob persistence.

    ``root_dir`` holds the store file (``themis.sqlite``) and the blob
    directory (``blobs/``); a relative path is relative to the project file.
    """

    backend: Literal["sqlite_blob"] = "sqlite_blob"
    root_dir: str = Field(min_length=1)

    @property
    def database_path(self) -> str:
        return f"{self.root_dir.rstrip('/')}/themis.sqlite"

    @property
    def blob_root(self) -> str:
        return f"{self.root_dir.rstrip('/')}/blobs"


class PostgresBlobStorageSpec(_StorageSpecBase):
    """PostgreSQL event/projection store plus local filesystem blob persistence.

    ``database_url`` is a libpq URL (``postgresql://user@host:5432/db``);
    ``blob_root_dir`` the directory of content-addressed payloads, shared by
    every process writing to the database. The URL is never stored in a run.
    """

    backend: Literal["postgres_blob"] = "postgres_blob"
    database_url: str = Field(min_length=1)
    blob_root_dir: str = Field(min_length=1)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "database_url must be a PostgreSQL URL (postgresql://user@host:port/dbname)"
            )
        return value


StorageConfig = Annotated[
    SqliteBlobStorageSpec | PostgresBlobStorageSpec,
    Field(discriminator="backend"),
]
"""Seed 004's storage union, told apart by ``backend`` (``sqlite_blob`` or ``postgres_blob``).

Not :class:`themis.core.config.StorageConfig`, an experiment's store choice;
a project's storage spec is turned into a store by :func:`themis.campaign.open_project_store`.
"""


class ExecutionPolicySpec(SpecBase):
    """Retry, backoff, circuit-breaker and concurrency controls for orchestration.

    These sit above the provider SDKs (whose own retries the adapters turn
    off) and map onto :class:`~themis.core.config.RuntimeConfig`: runtime-only,
    never part of a run id. ``retry_backoff_factor`` is the first retry's
    delay in seconds (each later one doubles it, with jitter);
    ``retryable_error_codes`` names error categories retried on top of the
    default ones (rate_limit, timeout, connection, server_error).
    """

    max_retries: int = Field(default=3, ge=0)
    retry_backoff_factor: float = Field(default=1.5, ge=0.0)
    circuit_breaker_threshold: int = Field(default=5, ge=1)
    max_in_flight_work_items: int = Field(default=32, ge=1)
    retryable_error_codes: list[str] = Field(default_factory=list)

    @field_validator("retryable_error_codes")
    @classmethod
    def _known_codes(cls, codes: list[str]) -> list[str]:
        return check_error_categories(codes)

    def runtime_config(self, base: RuntimeConfig | None = None) -> RuntimeConfig:
        """The RuntimeConfig these settings stand for (other settings from ``base``)."""
        return RuntimeConfig.model_validate(
            (base or RuntimeConfig()).model_dump()
            | {
                "max_retries": self.max_retries,
                "retry_initial_delay_s": self.retry_backoff_factor,
                "circuit_breaker_threshold": self.circuit_breaker_threshold,
                "max_concurrent_tasks": self.max_in_flight_work_items,
                "retryable_errors": list(self.retryable_error_codes),
            }
        )


class ProjectSpec(SpecBase):
    """Shared project-level identity, storage defaults and execution policy.

    Keep it stable across related runs so resume behaviour and run manifests
    refer to the same storage and backend context. ``global_seed`` is the
    seed every experiment of the project runs with (identity-bearing);
    ``project_name``, ``researcher_id`` and ``metadata`` are recorded in each
    run's provenance, never in its id.
    """

    project_name: str = Field(min_length=1)
    researcher_id: str = Field(min_length=1)
    global_seed: int = Field(default=0, ge=0)
    storage: StorageConfig
    execution_policy: ExecutionPolicySpec = Field(default_factory=ExecutionPolicySpec)
    execution_backend: Literal["local"] = "local"
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("execution_backend", mode="before")
    @classmethod
    def _backend_by_kind(cls, value: object) -> object:
        """The reference writes backends as ``{kind: local}``; only local runs here."""
        if isinstance(value, dict) and set(value) == {"kind"}:
            kind = value["kind"]
            if kind != "local":
                raise ValueError(
                    f"execution backend {kind!r} is not available: campaigns run in this "
                    "process ('local'); worker pools and batch backends are not built yet"
                )
            return kind
        return value
