"""Run stores: append-only events plus incrementally folded projections."""

from themis.core.stores.base import RunStore, StoredRun
from themis.core.stores.memory import InMemoryRunStore
from themis.core.stores.sqlite import SqliteRunStore, sqlite_store

__all__ = ["InMemoryRunStore", "RunStore", "SqliteRunStore", "StoredRun", "sqlite_store"]
