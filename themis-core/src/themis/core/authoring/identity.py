"""Canonical JSON, content hashes and the run id.

The run id hashes only identity-bearing inputs (docs/architecture.md, "Identity"), so the
same experiment gets the same id on any machine and in any process, while
runtime settings and store locations never change it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from themis.core.models import Dataset, RunIdentity

RUN_ID_PREFIX = "run-"


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)  # built once: json.dumps builds an encoder per call when given options


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 preserved."""
    return _CANONICAL.encode(value)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def short_hash(*parts: Any) -> str:
    """A 32-hex-digit key over the canonical JSON of ``parts``."""
    return short_hash_encoded(*map(canonical_json, parts))


def short_hash_encoded(*encoded: str) -> str:
    """:func:`short_hash` of parts already encoded with :func:`canonical_json`.

    The canonical JSON of a list is its items' canonical JSON, joined by commas
    in brackets, so planning can encode what every work key of a run shares
    once, not once per key.
    """
    return hashlib.sha256(f"[{','.join(encoded)}]".encode()).hexdigest()[:32]


def dataset_hash(dataset: Dataset) -> str:
    return content_hash(dataset.model_dump(mode="json"))


def compute_run_id(identity: RunIdentity) -> str:
    payload = identity.model_dump(mode="json")
    payload["components"] = [ref.identity() for ref in identity.components.all()]
    return RUN_ID_PREFIX + content_hash(payload)[:24]
