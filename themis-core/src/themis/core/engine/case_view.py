"""A run's case results read back from its store, a page at a time.

A run of a million cases cannot hold a million ``CaseResult`` objects (each
with its candidates, parsed outputs and scores), so the result a run returns
holds none: :class:`StoredCaseResults` is the ``RunResult.cases`` sequence,
and it plans a page of cases (their work keys follow from the snapshot
alone), asks the store for the latest event of each key
(``RunStore.latest_events``, one query per page) and folds each case exactly
as the engine folds a case that just finished. Only the page being read is
held; iteration keeps nothing once it moves on.

Because it reads the store, the view also covers cases other processes ran
on a shared store, and it sees what the store holds when it is read, not
when the run returned.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import overload

from themis.core.engine.plan import case_count, iter_plans
from themis.core.engine.results import fold_case
from themis.core.errors import StoreError
from themis.core.models import CaseResult, CaseResults, RunSnapshot
from themis.core.storage.stores.base import RunStore

PAGE_SIZE = 2000
"""Cases read back per store query: enough to amortise a query, few enough to hold."""


class StoredCaseResults(CaseResults):
    """``RunResult.cases`` over a store: a run's cases in case order, folded
    from their stored events as they are indexed or iterated.

    The store must stay readable while the view is used. A closed SQLite or
    PostgreSQL store reopens on the next read, as any read of it does; a store
    that can no longer be read (its file deleted, its server gone) raises a
    :class:`StoreError` naming the run and the store. ``list(view)`` copies
    the cases out for use without the store, and so does pickling the view.
    """

    def __init__(
        self,
        store: RunStore,
        snapshot: RunSnapshot,
        until_stage: str,
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.store = store
        self.snapshot = snapshot
        self.until_stage = until_stage
        self.page_size = page_size
        self._length = case_count(snapshot)
        self._page: tuple[int, list[CaseResult]] | None = None
        """The page last indexed, kept so that indexing in order reads each page once."""

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> CaseResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[CaseResult]: ...

    def __getitem__(self, index: int | slice) -> CaseResult | list[CaseResult]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step == 1:
                return self.read(start, stop) if start < stop else []
            return [self[position] for position in range(start, stop, step)]
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError(f"case index {index} out of range for a run of {self._length} cases")
        first = position - position % self.page_size
        if self._page is None or self._page[0] != first:
            self._page = (first, self.read(first, min(first + self.page_size, self._length)))
        return self._page[1][position - first]

    def __iter__(self) -> Iterator[CaseResult]:
        for first in range(0, self._length, self.page_size):
            yield from self.read(first, min(first + self.page_size, self._length))

    def __repr__(self) -> str:
        return (
            f"StoredCaseResults(run_id={self.snapshot.run_id!r}, cases={self._length}, "
            f"store={self.store!r})"
        )

    def __reduce__(self) -> tuple[type[CaseResults], tuple[list[CaseResult]]]:
        """A pickle (or deep copy) holds the cases themselves: it cannot carry
        the store's connections, and it must not depend on the store later."""
        return CaseResults, (list(self),)

    def read(self, start: int, stop: int) -> list[CaseResult]:
        """The cases at positions ``start`` to ``stop`` (exclusive), one store query."""
        plans = list(iter_plans(self.snapshot, start, stop))
        keys = [key for plan in plans for key in plan.all_keys()]
        run_id = self.snapshot.run_id
        try:
            latest = self.store.latest_events(run_id, keys)
        except StoreError as exc:
            exc.add_note(_reading(run_id, self.store))
            raise
        except Exception as exc:
            raise StoreError(f"{_reading(run_id, self.store)}: {exc}") from exc
        return [fold_case(plan, latest, self.until_stage) for plan in plans]


def _reading(run_id: str, store: RunStore) -> str:
    return (
        f"RunResult.cases of run {run_id} reads its cases from {store!r} as they are used, "
        "and that store cannot be read now; keep the store readable while using them "
        "(or copy them out first with list(result.cases))"
    )
