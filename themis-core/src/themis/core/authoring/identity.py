"""Canonical JSON, content hashes and the run id.

The run id hashes only identity-bearing inputs (docs/architecture.md, "Identity"), so the
same experiment gets the same id on any machine and in any process, while
runtime settings and store locations never change it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import TypeAdapter

from themis.core.models import Case, Dataset, RunIdentity

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


_CASES_AT = "\x00themis:cases\x00"
"""Stands for the case list in a dataset's canonical JSON while it is hashed."""
_CASE_BATCH = 1000
_CASE_LIST: TypeAdapter[list[Case]] = TypeAdapter(list[Case])


def dataset_hash(dataset: Dataset) -> str:
    """The content hash of ``dataset``: SHA-256 of its canonical JSON, fed to
    the hash a thousand cases at a time, so a dataset of a million cases is
    never held as one JSON text or one dump (the same digest as hashing
    ``canonical_json(dataset.model_dump(mode="json"))`` whole)."""
    document = dataset.model_dump(mode="json", exclude={"cases"})
    document["cases"] = _CASES_AT
    before, after = canonical_json(document).split(canonical_json(_CASES_AT))
    digest = hashlib.sha256(before.encode())
    digest.update(b"[")
    cases = dataset.cases
    for start in range(0, len(cases), _CASE_BATCH):
        batch = _CASE_LIST.dump_python(cases[start : start + _CASE_BATCH], mode="json")
        digest.update((b"," if start else b"") + canonical_json(batch)[1:-1].encode())
    digest.update(b"]")
    digest.update(after.encode())
    return digest.hexdigest()


def compute_run_id(identity: RunIdentity) -> str:
    payload = identity.model_dump(mode="json")
    payload["components"] = [ref.identity() for ref in identity.components.all()]
    return RUN_ID_PREFIX + content_hash(payload)[:24]
