"""Inference parameters: the sampling and response-shape settings sent with every request.

They are identity-bearing: every field is part of the generator's (or judge's)
fingerprint, so changing the temperature or the response format is a new
generation, never a silently reused one. API keys, URLs and timeouts are not
parameters: they say where and how to call, not what to ask.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from themis.core.models import FrozenModel, JSONValue


class InferenceParams(FrozenModel):
    """Settings every OpenAI-compatible endpoint understands.

    ``None`` means "the provider's default" and is not sent. ``seed`` left
    unset sends each candidate's own seed (from the run) where the API takes
    one; ``logprobs`` asks for that many most likely tokens (with their
    log-probabilities) at each output position, kept in the stored raw
    response; ``extra_body`` carries provider extras, merged into the JSON body as
    given.
    """

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: dict[str, JSONValue] | None = None
    extra_body: dict[str, JSONValue] = Field(default_factory=dict)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("response_format")
    @classmethod
    def _known_format(cls, value: dict[str, JSONValue] | None) -> dict[str, JSONValue] | None:
        if value is None:
            return None
        kind = value.get("type")
        if kind not in ("text", "json_object", "json_schema"):
            raise ValueError(
                "response_format needs 'type' of 'text', 'json_object' or 'json_schema' "
                f"(Chat Completions shape), got {kind!r}"
            )
        if kind == "json_schema":
            spec = value.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise ValueError(
                    "response_format of type 'json_schema' needs "
                    "{'json_schema': {'name': ..., 'schema': {...}}}"
                )
        return value

    def provider_extras(self) -> dict[str, JSONValue]:
        """Fields outside the OpenAI API, sent merged into the JSON body."""
        return dict(self.extra_body)

    def identity(self) -> dict[str, JSONValue]:
        """What the fingerprint covers: every field that is set."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
