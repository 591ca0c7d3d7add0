"""SqliteRunStore: the embedded default store for real runs.

Durability: the database runs in WAL mode and every ``append_events`` call is
one explicit ``BEGIN IMMEDIATE ... COMMIT`` transaction holding the events and
every projection row they fold into. With ``synchronous=FULL`` (the default) a
committed batch survives a power loss; with ``NORMAL`` it survives a process
crash or kill. The engine's writer calls ``append_events`` with whatever
events are queued when it wakes, so one fsync covers many events under load.

Connections: one write connection per store object, guarded by a lock, and
one read connection per thread; WAL lets readers run beside the writer, and
another process can read (or append to) the same file.

Large payloads: an event whose JSON exceeds ``blob_threshold`` characters
keeps its largest values in a content-addressed blob directory (by default
``<path>.blobs/`` beside the file; see :mod:`themis.core.storage.stores.blobs`),
written and synced before the transaction holding the event commits. Copy
or move that directory together with the file.

Schema: the ``meta`` table records the schema version; opening an older file
migrates it forward in one transaction, and a file from a newer Themis is
refused before anything is written.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from themis.core.distributions import CORE
from themis.core.models import STAGES, RunSnapshot, RunStatus, snapshot_json_pieces
from themis.core.storage.events import RunEvent
from themis.core.storage.projections import ScoreRow, WorkItemRow, project
from themis.core.storage.stores.base import (
    Lease,
    LeaseClaim,
    StoredRun,
    StoreNotFoundError,
    StoreOpenError,
    chunk_size,
)
from themis.core.storage.stores.blobs import (
    BLOB_THRESHOLD,
    DirectoryBlobStore,
    check_threshold,
    decode_event,
    encode_event,
)

SCHEMA_VERSION = 5
"""1: events and projections; 2: events record their blob positions; 3: a work
item points at its latest event (``work_items.event_seq``), so a run's cases
are read back a page at a time (``latest_events``); 4: work leases; 5: work
items are found by case (``count_finished``), and a snapshot is stored in
parts (``snapshot_parts``)."""

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    snapshot TEXT NOT NULL,
    status TEXT NOT NULL,
    completed_through_stage TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);
CREATE TABLE IF NOT EXISTS stage_results (
    work_key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    PRIMARY KEY (work_key, run_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS work_items (
    run_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    work_key TEXT NOT NULL,
    case_key TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (run_id, stage, work_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS score_rows (
    run_id TEXT NOT NULL,
    case_key TEXT NOT NULL,
    metric_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    value REAL,
    outcome TEXT NOT NULL,
    error_category TEXT,
    error_message TEXT,
    details TEXT NOT NULL,
    PRIMARY KEY (run_id, case_key, metric_id)
) WITHOUT ROWID;
"""

MIGRATIONS: dict[int, list[str]] = {
    1: [statement for statement in _SCHEMA_V1.split(";") if statement.strip()],
    2: ["ALTER TABLE events ADD COLUMN blobs TEXT"],
    3: [
        "ALTER TABLE work_items ADD COLUMN event_seq INTEGER",
        # Existing work items point at their latest event: one pass over the
        # events, grouped, then one keyed update.
        "CREATE TEMP TABLE latest_work (run_id TEXT, stage TEXT, work_key TEXT, seq INTEGER, "
        "PRIMARY KEY (run_id, stage, work_key)) WITHOUT ROWID",
        "INSERT INTO latest_work SELECT run_id, json_extract(payload, '$.stage'), "
        "json_extract(payload, '$.work_key'), max(seq) FROM events "
        "WHERE json_extract(payload, '$.work_key') IS NOT NULL GROUP BY 1, 2, 3",
        "UPDATE work_items SET event_seq = (SELECT seq FROM latest_work l "
        "WHERE l.run_id = work_items.run_id AND l.stage = work_items.stage "
        "AND l.work_key = work_items.work_key)",
        "DROP TABLE latest_work",
    ],
    4: [
        "CREATE TABLE lease_runs (run_id TEXT NOT NULL, scope TEXT NOT NULL,"
        " total INTEGER NOT NULL, next_index INTEGER NOT NULL,"
        " PRIMARY KEY (run_id, scope)) WITHOUT ROWID",
        "CREATE TABLE leases (run_id TEXT NOT NULL, scope TEXT NOT NULL,"
        " start INTEGER NOT NULL, stop INTEGER NOT NULL, owner TEXT NOT NULL,"
        " expires_at REAL NOT NULL, done INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (run_id, scope, start)) WITHOUT ROWID",
        "CREATE TABLE lease_workers (run_id TEXT NOT NULL, scope TEXT NOT NULL,"
        " owner TEXT NOT NULL, expires_at REAL NOT NULL,"
        " PRIMARY KEY (run_id, scope, owner)) WITHOUT ROWID",
    ],
    5: [
        # Covering (state included), so counting a case's finished items
        # reads the index alone, not a table row per item.
        "DROP INDEX IF EXISTS work_items_by_case",
        "CREATE INDEX work_items_by_case ON work_items (run_id, case_key, stage, state)",
        "CREATE TABLE IF NOT EXISTS snapshot_parts (run_id TEXT NOT NULL, part INTEGER NOT NULL, "
        "data BLOB NOT NULL, PRIMARY KEY (run_id, part))",
    ],
}
"""The statements that bring a store from the previous version to each version."""


def _schema_version(conn: sqlite3.Connection) -> int | None:
    """The schema version a store file records, or None before its schema exists."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else int(row[0])


_CHUNK = 500
T = TypeVar("T")
CACHE_KIB = 65536
"""Page cache of the write connection: large runs keep their indexes in memory."""
READ_CACHE_KIB = 16384
"""Page cache of each read connection: reads are point lookups, and the file's
pages stay in the operating system's cache (outside the process) anyway."""


class SqliteRunStore:
    """Small SQLite-backed run store."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 30_000,
        blob_root: str | Path | None = None,
        blob_threshold: int = BLOB_THRESHOLD,
    ) -> None:
        self.path = Path(path)
        self.blobs = DirectoryBlobStore(
            Path(f"{self.path}.blobs") if blob_root is None else Path(blob_root)
        )
        self.blob_threshold = check_threshold(blob_threshold)
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._initialized = False

    def __repr__(self) -> str:
        return f"SqliteRunStore({str(self.path)!r})"

    # -- connections -------------------------------------------------------

    def _connect(self, cache_kib: int = CACHE_KIB) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute(f"PRAGMA cache_size = -{cache_kib}")
        return conn

    def initialize(self) -> None:
        if self._initialized:
            return
        with self._write_lock:
            if self._initialized:
                return
            self._make_parent()
            if self.path.is_dir():
                raise StoreOpenError(
                    f"storage path {self.path} is a directory; a SQLite store is a file: "
                    f"use a file path such as {self.path / 'runs.sqlite'}"
                )
            try:
                self._writer = self._open_schema()
            except sqlite3.DatabaseError as exc:
                if _is_busy(exc):
                    raise
                raise StoreOpenError(
                    f"{self.path} is not a usable Themis SQLite store ({exc}); point the "
                    "storage path at a Themis store file, or at a new path to create one"
                ) from None
            self._initialized = True

    def _make_parent(self) -> None:
        """The store's directory, or an error saying which part of the path is in the way."""
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            blocker = next(
                (p for p in [parent, *parent.parents] if p.exists() and not p.is_dir()), parent
            )
            raise StoreOpenError(
                f"cannot create the store {self.path}: {blocker} is a file, not a directory; "
                "choose a storage path whose folders are folders"
            ) from None
        except OSError as exc:
            raise StoreOpenError(
                f"cannot create the folder {parent} for the store {self.path}: "
                f"{exc.strerror or exc}"
            ) from None

    def _open_schema(self) -> sqlite3.Connection:
        """A writer connection on a file in WAL mode with the schema in place.

        Switching a new file to WAL needs it to itself, and SQLite answers
        "database is locked" at once, without waiting out the busy timeout,
        when another process is creating the same file at that moment. Such
        a clash is retried until the busy timeout has passed.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.005
        while True:
            conn = self._connect()
            try:
                self._prepare(conn)
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
            except BaseException:
                conn.close()
                raise

    def _prepare(self, conn: sqlite3.Connection) -> None:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        version = _schema_version(conn)
        if version is None or version < SCHEMA_VERSION:
            self._migrate(conn)
        elif version > SCHEMA_VERSION:
            raise self._newer(version)

    def _newer(self, version: int) -> RuntimeError:
        return RuntimeError(
            f"{self.path} was written by a newer Themis (store schema {version}, "
            f"this Themis reads {SCHEMA_VERSION}); upgrade {CORE}"
        )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create or upgrade the schema in one transaction (a new file is synced once).

        The version is read again under the write lock: another process may
        have migrated the file since this one looked.
        """
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = _schema_version(conn) or 0
            if version > SCHEMA_VERSION:
                raise self._newer(version)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _read(self) -> sqlite3.Connection:
        if not self._initialized and not self.path.exists():
            raise StoreNotFoundError(
                f"no Themis store at {self.path}: nothing has been run into it yet "
                "(reading never creates a store); check the path"
            )
        self.initialize()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(READ_CACHE_KIB)
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    def limit_lock_wait(self, seconds: float) -> None:
        """Let one write wait at most ``seconds`` for another process's write
        lock (SQLite's busy timeout, lowered, never raised), so that a run's
        ``store_lock_timeout_s`` shorter than the busy timeout is honoured:
        otherwise a single attempt would wait out the whole busy timeout."""
        ms = max(1, int(seconds * 1000))
        with self._write_lock:
            if ms >= self.busy_timeout_ms:
                return
            self.busy_timeout_ms = ms
            if self._writer is not None:
                self._writer.execute(f"PRAGMA busy_timeout = {ms}")

    def _write(self) -> sqlite3.Connection:
        self.initialize()
        assert self._writer is not None
        return self._writer

    # -- writes ------------------------------------------------------------

    def save_snapshot(self, snapshot: RunSnapshot) -> None:
        """Store ``snapshot`` unless its run is stored already.

        Its JSON goes into ``snapshot_parts`` about a megabyte per row, never
        held whole (``runs.snapshot`` is left empty): a snapshot of a million
        cases is some 100 MB of JSON, which would otherwise exist as one
        buffer, one Python string and SQLite's copies of it all at once.
        """
        conn = self._write()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO runs (run_id, snapshot, status) VALUES (?, '', ?)",
                    (snapshot.run_id, RunStatus.pending.value),
                )
                if cursor.rowcount == 1:
                    for number, part in enumerate(_parts(snapshot_json_pieces(snapshot))):
                        conn.execute(
                            "INSERT INTO snapshot_parts (run_id, part, data) VALUES (?, ?, ?)",
                            (snapshot.run_id, number, part),
                        )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _snapshot(self, conn: sqlite3.Connection, run_id: str, text: str | bytes) -> RunSnapshot:
        """The snapshot a ``runs`` row holds, or (left empty) its parts hold."""
        if not text:
            rows = conn.execute(
                "SELECT data FROM snapshot_parts WHERE run_id = ? ORDER BY part", (run_id,)
            )
            text = b"".join(row[0] for row in rows)
        return RunSnapshot.model_validate_json(text)

    def append_events(self, events: Sequence[RunEvent]) -> list[RunEvent]:
        if not events:
            return []
        conn = self._write()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                persisted = self._append_locked(conn, events)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return persisted

    def _append_locked(
        self, conn: sqlite3.Connection, events: Sequence[RunEvent]
    ) -> list[RunEvent]:
        ids = [event.event_id for event in events]
        existing: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            existing.update(
                row[0]
                for row in conn.execute(
                    f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk
                )
            )
        (last_seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        event_rows: list[tuple[Any, ...]] = []
        result_rows: list[tuple[Any, ...]] = []
        item_rows: list[tuple[Any, ...]] = []
        score_rows: list[tuple[Any, ...]] = []
        run_rows: list[tuple[Any, ...]] = []
        persisted: list[RunEvent] = []
        for event in events:
            if event.event_id in existing:
                continue
            existing.add(event.event_id)
            last_seq += 1
            event_type = event.__dict__.get("event_type", "unknown")
            payload, pointers, blobs = encode_event(event, self.blob_threshold)
            for ref, data in blobs.items():
                self.blobs.put(ref, data)
            event_rows.append(
                (last_seq, event.event_id, event.run_id, event_type, payload, pointers)
            )
            rows = project(event)
            if rows.work_item is not None:
                item = rows.work_item
                item_rows.append(
                    (
                        item.run_id,
                        item.stage,
                        item.work_key,
                        item.case_key,
                        item.state,
                        item.error,
                        last_seq,
                    )
                )
                if rows.stage_result:
                    result_rows.append((item.work_key, item.run_id, last_seq))
            if rows.score_row is not None:
                s = rows.score_row
                score_rows.append(
                    (
                        s.run_id,
                        s.case_key,
                        s.metric_id,
                        s.dataset_id,
                        s.case_id,
                        s.value,
                        s.outcome,
                        s.error_category,
                        s.error_message,
                        s.details,
                    )
                )
            if rows.run_row is not None:
                run = rows.run_row
                run_rows.append((run.status, run.completed_through_stage, run.run_id))
            persisted.append(event)
        conn.executemany(
            "INSERT INTO events (seq, event_id, run_id, event_type, payload, blobs) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            event_rows,
        )
        conn.executemany("INSERT OR REPLACE INTO stage_results VALUES (?, ?, ?)", result_rows)
        conn.executemany(
            "INSERT OR REPLACE INTO work_items VALUES (?, ?, ?, ?, ?, ?, ?)", item_rows
        )
        conn.executemany(
            "INSERT OR REPLACE INTO score_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", score_rows
        )
        conn.executemany(
            "UPDATE runs SET status = ?, completed_through_stage = ? WHERE run_id = ?", run_rows
        )
        return persisted

    # -- leases: each call one transaction under SQLite's write lock ---------

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._write()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return result

    def claim_lease(
        self,
        run_id: str,
        scope: str,
        owner: str,
        *,
        total: int,
        max_cases: int,
        lease_s: float,
        restart_done: bool = False,
    ) -> LeaseClaim:
        def claim(conn: sqlite3.Connection) -> LeaseClaim:
            now = time.time()
            expires = now + lease_s
            run = (run_id, scope)
            conn.execute(
                "INSERT OR REPLACE INTO lease_workers VALUES (?, ?, ?, ?)", (*run, owner, expires)
            )
            (live,) = conn.execute(
                "SELECT count(*) FROM lease_workers WHERE run_id = ? AND scope = ? "
                "AND expires_at > ?",
                (*run, now),
            ).fetchone()
            conn.execute("INSERT OR IGNORE INTO lease_runs VALUES (?, ?, ?, 0)", (*run, total))
            next_index, stored_total = conn.execute(
                "SELECT next_index, total FROM lease_runs WHERE run_id = ? AND scope = ?", run
            ).fetchone()
            if restart_done and next_index >= stored_total:
                (open_chunks,) = conn.execute(
                    "SELECT count(*) FROM leases WHERE run_id = ? AND scope = ? AND done = 0", run
                ).fetchone()
                if open_chunks == 0:
                    conn.execute("DELETE FROM leases WHERE run_id = ? AND scope = ?", run)
                    conn.execute(
                        "UPDATE lease_runs SET next_index = 0, total = ? "
                        "WHERE run_id = ? AND scope = ?",
                        (total, *run),
                    )
                    next_index, stored_total = 0, total
            lease: Lease | None = None
            expired = conn.execute(
                "SELECT start, stop FROM leases WHERE run_id = ? AND scope = ? AND done = 0 "
                "AND expires_at <= ? ORDER BY start LIMIT 1",
                (*run, now),
            ).fetchone()
            if expired is not None:
                conn.execute(
                    "UPDATE leases SET owner = ?, expires_at = ? "
                    "WHERE run_id = ? AND scope = ? AND start = ?",
                    (owner, expires, *run, expired[0]),
                )
                lease = Lease(run_id, scope, expired[0], expired[1], owner, taken_over=True)
            else:
                size = chunk_size(max_cases, stored_total - next_index, live)
                if size > 0:
                    conn.execute(
                        "INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?, 0)",
                        (*run, next_index, next_index + size, owner, expires),
                    )
                    conn.execute(
                        "UPDATE lease_runs SET next_index = ? WHERE run_id = ? AND scope = ?",
                        (next_index + size, *run),
                    )
                    lease = Lease(run_id, scope, next_index, next_index + size, owner)
            (unfinished,) = conn.execute(
                "SELECT count(*) FROM leases WHERE run_id = ? AND scope = ? AND done = 0 "
                "AND owner != ? AND expires_at > ?",
                (*run, owner, now),
            ).fetchone()
            return LeaseClaim(lease, int(unfinished), int(live))

        return self._transaction(claim)

    def renew_leases(self, run_id: str, scope: str, owner: str, *, lease_s: float) -> int:
        def renew(conn: sqlite3.Connection) -> int:
            expires = time.time() + lease_s
            conn.execute(
                "INSERT OR REPLACE INTO lease_workers VALUES (?, ?, ?, ?)",
                (run_id, scope, owner, expires),
            )
            return conn.execute(
                "UPDATE leases SET expires_at = ? WHERE run_id = ? AND scope = ? AND owner = ? "
                "AND done = 0",
                (expires, run_id, scope, owner),
            ).rowcount

        return self._transaction(renew)

    def complete_lease(self, lease: Lease) -> None:
        self._transaction(
            lambda conn: conn.execute(
                "UPDATE leases SET done = 1 WHERE run_id = ? AND scope = ? AND start = ?",
                (lease.run_id, lease.scope, lease.start),
            )
        )

    def release_leases(self, run_id: str, scope: str, owner: str) -> None:
        def release(conn: sqlite3.Connection) -> None:
            run = (run_id, scope, owner)
            conn.execute(
                "DELETE FROM lease_workers WHERE run_id = ? AND scope = ? AND owner = ?", run
            )
            conn.execute(
                "UPDATE leases SET expires_at = 0 WHERE run_id = ? AND scope = ? AND owner = ? "
                "AND done = 0",
                run,
            )

        self._transaction(release)

    def live_workers(self, run_id: str) -> int:
        (count,) = (
            self._read()
            .execute(
                "SELECT count(DISTINCT owner) FROM lease_workers WHERE run_id = ? "
                "AND expires_at > ?",
                (run_id, time.time()),
            )
            .fetchone()
        )
        return int(count)

    def lease_holders(self, run_id: str, scope: str) -> list[str]:
        rows = (
            self._read()
            .execute(
                "SELECT DISTINCT owner FROM leases WHERE run_id = ? AND scope = ? AND done = 0 "
                "AND expires_at > ? ORDER BY owner",
                (run_id, scope, time.time()),
            )
            .fetchall()
        )
        return [str(owner) for (owner,) in rows]

    # -- reads -------------------------------------------------------------

    def get_snapshot(self, run_id: str) -> RunSnapshot | None:
        conn = self._read()
        row = conn.execute("SELECT snapshot FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else self._snapshot(conn, run_id, row[0])

    def iter_events(self, run_id: str) -> Iterator[RunEvent]:
        rows = self._read().execute(
            "SELECT payload, blobs FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        for payload, pointers in rows:
            yield decode_event(payload, pointers, self.blobs.get)

    def find_completed(
        self, work_keys: Sequence[str], *, prefer_run_id: str | None = None
    ) -> dict[str, RunEvent]:
        conn = self._read()
        found: dict[str, tuple[bool, str, str | None]] = {}
        keys = list(work_keys)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT s.work_key, s.run_id, e.payload, e.blobs FROM stage_results s "
                f"JOIN events e ON e.seq = s.event_seq WHERE s.work_key IN ({marks})",
                chunk,
            )
            for work_key, run_id, payload, pointers in rows:
                preferred = run_id == prefer_run_id
                if work_key not in found or (preferred and not found[work_key][0]):
                    found[work_key] = (preferred, payload, pointers)
        return {
            key: decode_event(payload, pointers, self.blobs.get)
            for key, (_, payload, pointers) in found.items()
        }

    def latest_events(self, run_id: str, work_keys: Sequence[str]) -> dict[str, RunEvent]:
        conn = self._read()
        keys = list(dict.fromkeys(work_keys))
        stages = ",".join("?" * len(STAGES))
        found: dict[str, RunEvent] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT w.work_key, e.payload, e.blobs FROM work_items w "
                "JOIN events e ON e.seq = w.event_seq "
                f"WHERE w.run_id = ? AND w.stage IN ({stages}) AND w.work_key IN ({marks})",
                [run_id, *STAGES, *chunk],
            )
            for work_key, payload, pointers in rows:
                found[work_key] = decode_event(payload, pointers, self.blobs.get)
        return found

    def count_finished(
        self, run_id: str, case_keys: Sequence[str], stages: Sequence[str]
    ) -> dict[str, int]:
        conn = self._read()
        keys = list(dict.fromkeys(case_keys))
        stage_marks = ",".join("?" * len(stages))
        counts: dict[str, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT case_key, count(*) FROM work_items "
                f"WHERE run_id = ? AND case_key IN ({marks}) AND stage IN ({stage_marks}) "
                "AND state != 'failed' GROUP BY case_key",
                [run_id, *chunk, *stages],
            )
            counts.update(rows)
        return counts

    def work_items(self, run_id: str) -> list[WorkItemRow]:
        rows = self._read().execute(
            "SELECT run_id, stage, work_key, case_key, state, error FROM work_items "
            "WHERE run_id = ?",
            (run_id,),
        )
        return [WorkItemRow(*row) for row in rows]

    def score_rows(self, run_id: str) -> list[ScoreRow]:
        rows = self._read().execute(
            "SELECT run_id, case_key, dataset_id, case_id, metric_id, value, outcome, "
            "error_category, error_message, details FROM score_rows WHERE run_id = ? "
            "ORDER BY case_key, metric_id",
            (run_id,),
        )
        return [ScoreRow(*row) for row in rows]

    def resume(self, run_id: str) -> StoredRun | None:
        conn = self._read()
        row = conn.execute(
            "SELECT snapshot, status, completed_through_stage FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        return StoredRun(
            run_id=run_id,
            status=RunStatus(row[1]),
            completed_through_stage=row[2],
            snapshot=self._snapshot(conn, run_id, row[0]),
        )

    def list_runs(self) -> list[StoredRun]:
        ids = [row[0] for row in self._read().execute("SELECT run_id FROM runs ORDER BY rowid")]
        return [run for run_id in ids if (run := self.resume(run_id)) is not None]

    def close(self) -> None:
        with self._write_lock:
            for conn in [*self._readers, *([self._writer] if self._writer else [])]:
                conn.close()
            self._readers.clear()
            self._writer = None
            self._local = threading.local()
            self._initialized = False


def sqlite_store(
    path: str | Path, *, blob_root: str | Path | None = None, **options: Any
) -> SqliteRunStore:
    """A SQLite store at ``path``. A run creates the file if it is missing;
    reading a missing store raises :class:`StoreNotFoundError` and creates
    nothing. A file that is not a Themis store raises :class:`StoreOpenError`.

    Large payloads go to ``blob_root`` (default: ``<path>.blobs/`` beside the file).
    """
    store = SqliteRunStore(path, blob_root=blob_root, **options)
    if store.path.exists():
        store.initialize()  # a file that is not a store fails here, not at first use
    return store


_PART_BYTES = 1 << 20


def _parts(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``pieces`` joined into parts of about ``_PART_BYTES`` each."""
    held: list[bytes] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size >= _PART_BYTES:
            yield b"".join(held)
            held, size = [], 0
    if held:
        yield b"".join(held)


def _is_busy(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text
