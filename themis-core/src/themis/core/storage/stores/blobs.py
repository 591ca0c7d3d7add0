"""Content-addressed blob storage for large event payloads.

A store keeps every event as one JSON row, which is right for the small
events of a run (a few hundred bytes each) and wrong for a 10 MB raw model
response or a long agent trace: such a row slows every scan of the event
table and every resume. So when an event's JSON is larger than a threshold,
its largest values move out to blobs before the row is written:

- a blob holds the JSON encoding of one value and is named by its content,
  ``sha256:<64 hex digits>``; identical payloads are stored once;
- the event row keeps that ref in place of the value, plus a list of the
  positions it replaced (``[[path, ref], ...]``, each path a list of keys and
  indices), so a ref is never confused with ordinary text that happens to
  look like one;
- reading an event puts each value back, after checking that the blob's bytes
  still hash to its ref: a missing or corrupted blob is a :class:`BlobError`
  naming the ref, never a silently different event.

Events below the threshold (nearly all of them) pay one length comparison.
Run ids and work keys are computed from models in memory, never from stored
rows, so where a value is stored never changes them.

:class:`DirectoryBlobStore` keeps blobs as files under a local directory
(``<root>/sha256/<first 2 hex>/<hex>``), written to a temporary name, synced
and renamed, so a crash leaves either the whole blob or none. A store writes
a batch's blobs before the transaction holding its events commits: an event
is never durable before its blobs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from themis.core.errors import BlobError as BlobError
from themis.core.storage.events import RunEvent, event_from_dict, event_from_json

BLOB_THRESHOLD = 64 * 1024
"""Default: an event whose JSON is longer than this (in characters) moves its largest
values to blobs."""

BLOB_ROOT_VARIABLE = "THEMIS_BLOB_ROOT"
"""Environment variable naming the default blob directory of stores that are not
files (PostgreSQL); see :func:`default_blob_root`."""


def default_blob_root() -> Path:
    """The local directory a PostgreSQL store keeps its blobs in when given none.

    ``$THEMIS_BLOB_ROOT`` when set, else ``$XDG_DATA_HOME/themis/blobs``
    (``~/.local/share/themis/blobs``). Blobs are content-addressed, so one
    directory can serve any number of stores.
    """
    override = os.environ.get(BLOB_ROOT_VARIABLE)
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "themis" / "blobs"


REF_PREFIX = "sha256:"

BlobPointers = list[tuple[list[str | int], str]]
"""Where refs replaced values in one event: ``[(path, ref), ...]``."""


def blob_ref(data: bytes) -> str:
    """The content address of ``data``."""
    return REF_PREFIX + hashlib.sha256(data).hexdigest()


def verified(ref: str, data: bytes, where: str) -> bytes:
    """``data`` if it hashes to ``ref``; else a :class:`BlobError` naming both."""
    actual = blob_ref(data)
    if actual != ref:
        raise BlobError(
            f"blob {ref} in {where} is corrupted: its content hashes to {actual}; "
            "restore it from a backup or re-run the stage that produced it"
        )
    return data


class DirectoryBlobStore:
    """Blobs as files under a local directory, named by their content."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DirectoryBlobStore({str(self.root)!r})"

    def path_for(self, ref: str) -> Path:
        digest = _digest(ref)
        return self.root / "sha256" / digest[:2] / digest

    def put(self, ref: str, data: bytes) -> None:
        """Store ``data`` under ``ref`` durably (a no-op when an intact copy exists;
        a damaged copy is replaced)."""
        target = self.path_for(ref)
        try:
            if target.stat().st_size == len(data) and blob_ref(target.read_bytes()) == ref:
                return
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, ref: str) -> bytes:
        """The verified bytes of ``ref``."""
        path = self.path_for(ref)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobError(
                f"blob {ref} is missing from {self.root} (expected at {path}); "
                "was the blob directory moved or not copied with the store?"
            ) from None
        return verified(ref, data, str(path))


def _digest(ref: str) -> str:
    digest = ref.removeprefix(REF_PREFIX)
    if not ref.startswith(REF_PREFIX) or len(digest) != 64 or not _is_hex(digest):
        raise BlobError(f"{ref!r} is not a blob ref (expected 'sha256:' and 64 hex digits)")
    return digest


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdef" for char in text)


# -- moving values out of an event and back ----------------------------------


def check_threshold(threshold: int) -> int:
    """``threshold`` if it is a usable blob threshold (a positive number of characters)."""
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError(
            f"blob_threshold must be a positive number of characters, got {threshold!r}"
        )
    return threshold


def externalize(payload: str, threshold: int) -> tuple[str, BlobPointers | None, dict[str, bytes]]:
    """Split an event's JSON into a row and blobs.

    Returns the JSON to store, the positions that now hold refs (None when
    nothing moved) and the blobs by ref. Only values inside the event's
    structured fields move: its scalar fields (ids, types, keys) always stay
    in the row.
    """
    if len(payload) <= threshold:
        return payload, None, {}
    document = json.loads(payload)
    pointers: BlobPointers = []
    blobs: dict[str, bytes] = {}
    for key, value in list(document.items()):
        if isinstance(value, dict | list):
            document[key] = _shrink(value, [key], threshold, pointers, blobs)
    if not pointers:
        return payload, None, {}
    return _dumps(document), pointers, blobs


def _shrink(
    value: Any,
    path: list[str | int],
    threshold: int,
    pointers: BlobPointers,
    blobs: dict[str, bytes],
) -> Any:
    """``value`` with its parts over ``threshold`` replaced by refs.

    A large container whose children are each small moves out whole (a long
    trace of short steps is one blob); otherwise only its large children move.
    """
    encoded = _dumps(value)
    if len(encoded) <= threshold:
        return value
    if isinstance(value, dict | list):
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        large = [key for key, item in items if len(_dumps(item)) > threshold]
        if large:
            for key in large:
                value[key] = _shrink(value[key], [*path, key], threshold, pointers, blobs)
            return value
    data = encoded.encode("utf-8")
    ref = blob_ref(data)
    blobs[ref] = data
    pointers.append((path, ref))
    return ref


def internalize(document: dict[str, Any], pointers: Any, fetch: Callable[[str], bytes]) -> None:
    """Put every blob an event row refers to back in place (in ``document``).

    Positions never nest: a value that moved out holds no ref inside it.
    """
    for path, ref in pointers:
        value = json.loads(fetch(ref))
        target: Any = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value


def load_pointers(text: str | None) -> BlobPointers | None:
    return None if text is None else [(list(path), str(ref)) for path, ref in json.loads(text)]


def dump_pointers(pointers: BlobPointers | None) -> str | None:
    return None if pointers is None else _dumps([[path, ref] for path, ref in pointers])


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- events as stored rows ---------------------------------------------------


def encode_event(event: RunEvent, threshold: int) -> tuple[str, str | None, dict[str, bytes]]:
    """An event as a stored row: its JSON, its blob positions (or None) and its blobs."""
    payload, pointers, blobs = externalize(event.model_dump_json(), threshold)
    return payload, dump_pointers(pointers), blobs


def decode_event(payload: str, pointers: str | None, fetch: Callable[[str], bytes]) -> RunEvent:
    """The event a stored row holds, its blobs put back (and verified by ``fetch``)."""
    if pointers is None:
        return event_from_json(payload)
    document = json.loads(payload)
    internalize(document, load_pointers(pointers), fetch)
    return event_from_dict(document)
