"""vLLM's sampling extras on top of the parameters every OpenAI-compatible server takes."""

from __future__ import annotations

from pydantic import Field, field_validator

from themis.core.models import JSONValue
from themis_adapters_openai.params import InferenceParams

STRUCTURED_OUTPUT_KINDS = ("json", "regex", "choice", "grammar", "json_object", "structural_tag")
"""The constraints vLLM's ``structured_outputs`` takes; a request names exactly one."""


class VLLMParams(InferenceParams):
    """Inference parameters for a vLLM server, all identity-bearing.

    ``top_k`` (-1 disables), ``min_p`` and ``repetition_penalty`` are vLLM
    sampling parameters; ``structured_outputs`` constrains decoding, e.g.
    ``{"json": {...schema...}}``, ``{"choice": ["yes", "no"]}`` or
    ``{"regex": "\\d+"}``. They travel as provider extras in the JSON body.
    """

    top_k: int | None = Field(default=None, ge=-1)
    min_p: float | None = Field(default=None, ge=0, le=1)
    repetition_penalty: float | None = Field(default=None, gt=0)
    structured_outputs: dict[str, JSONValue] | None = None

    @field_validator("structured_outputs")
    @classmethod
    def _one_constraint(cls, value: dict[str, JSONValue] | None) -> dict[str, JSONValue] | None:
        if value is None:
            return None
        named = [kind for kind in STRUCTURED_OUTPUT_KINDS if value.get(kind) is not None]
        if len(named) != 1:
            raise ValueError(
                f"structured_outputs must set exactly one of {list(STRUCTURED_OUTPUT_KINDS)}, "
                f"got {sorted(value)}"
            )
        return value

    def provider_extras(self) -> dict[str, JSONValue]:
        extras: dict[str, JSONValue] = {
            name: getattr(self, name)
            for name in ("top_k", "min_p", "repetition_penalty", "structured_outputs")
            if getattr(self, name) is not None
        }
        return {**extras, **self.extra_body}
