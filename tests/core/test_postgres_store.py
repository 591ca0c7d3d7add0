"""What the PostgreSQL store adds to the shared contract: configuration, many
processes on one database, schema versions, and a password that stays secret.

Every test runs against the real throwaway server of the ``postgres_url``
fixture, each in a schema of its own.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests import postgres_server
from tests.conftest import fresh_postgres_database, fresh_postgres_schema, make_experiment
from themis import PostgresRunStore, SqliteRunStore, postgres_store
from themis.core.analysis.inspection import load_run_result
from themis.core.config import StorageConfig
from themis.core.models import GenerationResult, RunStatus, Score
from themis.core.storage.events import (
    GenerationCompletedEvent,
    RunStartedEvent,
    ScoreCompletedEvent,
)
from themis.core.storage.stores import postgres as postgres_module
from themis.core.storage.stores import sqlite as sqlite_module
from themis.core.storage.stores.postgres import PostgresStoreError, redact_url


def generation(event_id: str, run_id: str = "run-x", work_key: str | None = None) -> Any:
    return GenerationCompletedEvent(
        event_id=event_id,
        run_id=run_id,
        case_key=f"d::{event_id}",
        dataset_id="d",
        case_id=event_id,
        work_key=work_key or f"k-{event_id}",
        candidate=GenerationResult(candidate_id=event_id, final_output={"answer": "4"}),
        seed=0,
        sample_index=0,
    )


def test_storage_config_opens_a_postgres_store(postgres_url: str) -> None:
    schema = fresh_postgres_schema()
    storage = StorageConfig(store="postgres", parameters={"url": postgres_url, "schema": schema})
    result = make_experiment(storage=storage).run()
    assert result.status is RunStatus.completed
    store = postgres_store(postgres_url, schema=schema)
    assert [run.run_id for run in store.list_runs()] == [result.run_id]
    assert load_run_result(store, result.run_id).metric_means == {"builtin/exact_match": 1.0}
    store.close()


def test_the_run_id_does_not_depend_on_the_store(postgres_url: str, tmp_path: Path) -> None:
    store = postgres_store(postgres_url, schema=fresh_postgres_schema())
    on_postgres = make_experiment().run(store=store)
    store.close()
    on_sqlite = make_experiment().run(store=SqliteRunStore(tmp_path / "runs.sqlite"))
    assert on_postgres.run_id == on_sqlite.run_id == make_experiment().compile().run_id


def _append_in_process(url: str, schema: str, start_at: float, index: int) -> str:
    """In a child process: wait for a shared instant, open the store, append, report."""
    while time.time() < start_at:
        pass
    try:
        store = PostgresRunStore(url, schema=schema, pool_size=1)
        store.initialize()  # four processes create the schema at once
        # Each process stores 150 events of its own and 50 it shares with the next one.
        own = [generation(f"p{index}-{i}") for i in range(150)]
        shared = [
            generation(f"shared-{(index + offset) % 4}-{i}") for offset in (0, 1) for i in range(25)
        ]
        batch = own + shared
        new = 0
        for start in range(0, len(batch), 20):
            new += len(store.append_events(batch[start : start + 20]))
        store.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"ok {new}"


def test_several_processes_write_to_one_database(postgres_url: str) -> None:
    schema = fresh_postgres_schema()
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        start_at = time.time() + 1.5
        outcomes = pool.starmap(
            _append_in_process, [(postgres_url, schema, start_at, i) for i in range(4)]
        )
    assert all(outcome.startswith("ok") for outcome in outcomes), outcomes
    # Every shared event was stored by exactly one of the two processes that sent it.
    assert sum(int(outcome.split()[1]) for outcome in outcomes) == 4 * 150 + 4 * 25
    store = postgres_store(postgres_url, schema=schema)
    events = list(store.iter_events("run-x"))
    assert len(events) == len({event.event_id for event in events}) == 700
    assert len(store.work_items("run-x")) == 700
    assert len(store.find_completed([f"k-shared-{i}-0" for i in range(4)])) == 4
    store.close()


RUN_IN_PROCESS = """
import json, sys
from tests.conftest import arithmetic_dataset, make_experiment
from themis import postgres_store

url, schema, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
experiment = make_experiment(seeds=[seed], datasets=[arithmetic_dataset(count=150)])
result = experiment.run(store=postgres_store(url, schema=schema))
print(json.dumps({"run_id": result.run_id, "status": result.status.value}))
"""


def test_processes_running_different_runs_share_one_store(postgres_url: str) -> None:
    schema = fresh_postgres_schema()  # created by whichever process gets there first
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_IN_PROCESS, postgres_url, schema, str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for seed in (1, 2, 3)
    ]
    outcomes = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        outcomes.append(json.loads(out))
    store = postgres_store(postgres_url, schema=schema)
    assert sorted(run.run_id for run in store.list_runs()) == sorted(o["run_id"] for o in outcomes)
    for outcome in outcomes:
        assert outcome["status"] == "completed"
        rebuilt = load_run_result(store, outcome["run_id"])
        assert rebuilt.status is RunStatus.completed and len(rebuilt.cases) == 150
        assert len(store.score_rows(outcome["run_id"])) == 150
    store.close()


def test_a_run_on_postgres_is_read_back_by_another_process(postgres_url: str) -> None:
    schema = fresh_postgres_schema()
    store = postgres_store(postgres_url, schema=schema)
    result = make_experiment().run(store=store)
    store.close()
    code = (
        "import sys, json\n"
        "from themis import postgres_store\n"
        "from themis.core.analysis.inspection import load_run_result\n"
        f"r = load_run_result(postgres_store(sys.argv[1], schema={schema!r}), {result.run_id!r})\n"
        "print(json.dumps({'status': r.status.value, 'means': r.metric_means}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, postgres_url], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == {
        "status": "completed",
        "means": {"builtin/exact_match": 1.0},
    }


# -- one transaction for events and projections -----------------------------


def _failing_batch() -> list[Any]:
    score = ScoreCompletedEvent(
        event_id="s1",
        run_id="run-x",
        case_key="d::c1",
        dataset_id="d",
        case_id="c1",
        work_key="score-key",
        metric_id="boom",
        score=Score(metric_id="boom", value=1.0),
    )
    return [generation("g1"), score]


def test_events_and_projections_commit_together_on_postgres(postgres_url: str) -> None:
    store = postgres_store(postgres_url, schema=fresh_postgres_schema())
    with store._connection() as conn:  # the score projection now refuses one metric
        conn.execute("ALTER TABLE score_rows ADD CONSTRAINT refuse CHECK (metric_id <> 'boom')")
    with pytest.raises(PostgresStoreError, match="refuse"):
        store.append_events(_failing_batch())
    assert list(store.iter_events("run-x")) == []
    assert store.work_items("run-x") == []
    assert store.append_events([generation("g1")])[0].event_id == "g1"  # the store goes on
    store.close()


def test_events_and_projections_commit_together_on_sqlite(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    store.initialize()
    store._write().execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON score_rows WHEN NEW.metric_id = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'refuse'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="refuse"):
        store.append_events(_failing_batch())
    assert list(store.iter_events("run-x")) == []
    assert store.work_items("run-x") == []


# -- schema versions --------------------------------------------------------


def test_a_version_1_postgres_store_is_migrated(postgres_url: str) -> None:
    import psycopg

    schema = fresh_postgres_schema()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path = {schema}")
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        for statement in postgres_module.MIGRATIONS[1]:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        old = generation("old")
        conn.execute(
            "INSERT INTO events (event_id, run_id, event_type, payload) VALUES (%s, %s, %s, %s)",
            (old.event_id, old.run_id, old.event_type, old.model_dump_json()),
        )
    store = postgres_store(postgres_url, schema=schema)
    with store._connection() as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(postgres_module.SCHEMA_VERSION),)
    store.append_events([generation("new")])
    assert [event.event_id for event in store.iter_events("run-x")] == ["old", "new"]
    store.close()


def test_a_version_1_sqlite_store_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    old = generation("old")
    with sqlite3.connect(path) as conn:
        for statement in sqlite_module.MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO events (seq, event_id, run_id, event_type, payload) "
            "VALUES (1, ?, ?, ?, ?)",
            (old.event_id, old.run_id, old.event_type, old.model_dump_json()),
        )
    store = SqliteRunStore(path)
    store.append_events([generation("new")])
    assert [event.event_id for event in store.iter_events("run-x")] == ["old", "new"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == (
            str(sqlite_module.SCHEMA_VERSION),
        )


def test_a_postgres_store_written_by_a_newer_themis_is_refused(postgres_url: str) -> None:
    schema = fresh_postgres_schema()
    store = postgres_store(postgres_url, schema=schema)
    with store._connection() as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    storage = StorageConfig(store="postgres", parameters={"url": postgres_url, "schema": schema})
    with pytest.raises(PostgresStoreError, match=r"newer Themis \(store schema 99"):
        make_experiment(storage=storage).run()
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {schema}.runs").fetchone() == (0,)


# -- secrets ----------------------------------------------------------------


def test_the_password_never_shows(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    password = postgres_server.PASSWORD
    assert password in postgres_url
    caplog.set_level(logging.DEBUG)
    store = postgres_store(postgres_url, schema=fresh_postgres_schema())
    result = make_experiment().run(store=store)
    assert password not in repr(store) and password not in store.url
    assert "***" in store.url
    with store._connection() as conn:
        for table in ("runs", "events", "work_items", "score_rows", "meta"):
            text = json.dumps(conn.execute(f"SELECT * FROM {table}").fetchall(), default=str)
            assert password not in text, table
    assert password not in result.model_dump_json()
    store.close()

    wrong = postgres_url.replace(password, "not-the-password")
    with pytest.raises(PostgresStoreError) as refused:
        postgres_store(wrong, schema="themis")
    assert "password authentication failed" in str(refused.value)
    assert "not-the-password" not in str(refused.value)

    closed_port = re.sub(r":\d+/", ":1/", postgres_url)
    assert closed_port != postgres_url
    with pytest.raises(PostgresStoreError) as unreachable:
        postgres_store(closed_port, connect_timeout_s=2)
    assert password not in str(unreachable.value) and "127.0.0.1" in str(unreachable.value)
    assert password not in caplog.text


def test_redact_url_hides_passwords_in_every_form() -> None:
    assert redact_url("postgresql://ann:pa%40ss@db:5432/x") == "postgresql://ann:***@db:5432/x"
    assert (
        redact_url("postgresql://db/x?password=pw&user=u")
        == "postgresql://db/x?password=***&user=u"
    )
    assert redact_url("host=db password='p w' user=u") == "host=db password=*** user=u"
    assert redact_url("postgresql://ann@db/x") == "postgresql://ann@db/x"


def test_bad_options_are_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="schema 'Drop Table'"):
        PostgresRunStore("postgresql://127.0.0.1/x", schema="Drop Table")
    with pytest.raises(ValueError, match="pool_size"):
        PostgresRunStore("postgresql://127.0.0.1/x", pool_size=0)


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    store = PostgresRunStore("postgresql://127.0.0.1/x")
    with pytest.raises(ImportError, match=r"themis-eval-core\[postgres\]"):
        store.initialize()


def test_a_second_store_object_sees_the_first_ones_writes(postgres_url: str) -> None:
    schema = fresh_postgres_schema()
    writer = postgres_store(postgres_url, schema=schema)
    reader = postgres_store(postgres_url, schema=schema)
    writer.append_events(
        [RunStartedEvent(event_id="start", run_id="run-y", until_stage="judge"), generation("g")]
    )
    assert [event.event_id for event in reader.iter_events("run-y")] == ["start"]
    assert len(reader.find_completed(["k-g"])) == 1
    writer.close()
    reader.close()


def test_the_cli_reaches_postgres_through_libpq_environment_variables(
    postgres_url: str, tmp_path: Path
) -> None:
    """No password in the config or on the command line: PG* variables carry it."""
    import yaml

    from tests.cli.helpers import ok, ok_json, themis, write_config

    parts = urlsplit(fresh_postgres_database(postgres_url))
    env = {
        "PGHOST": parts.hostname or "",
        "PGPORT": str(parts.port),
        "PGUSER": parts.username or "",
        "PGPASSWORD": parts.password or "",
        "PGDATABASE": parts.path.lstrip("/"),
    }
    config = write_config(tmp_path)
    settings = yaml.safe_load(config.read_text())
    settings["storage"] = {"store": "postgres"}
    config.write_text(yaml.safe_dump(settings))
    run = ok_json(themis("run", "-c", config, "--json", cwd=tmp_path, env=env))
    rows = ok_json(
        themis("inspect", "runs", "--store", "postgres", "--json", cwd=tmp_path, env=env)
    )
    assert [row["run_id"] for row in rows] == [run["run_id"]]
    assert rows[0]["status"] == "completed"
    report = ok(themis("report", "--store", "postgres", "--format", "csv", cwd=tmp_path, env=env))
    assert "builtin/exact_match" in report.stdout
    assert postgres_server.PASSWORD not in report.stdout + report.stderr


def test_the_cli_never_prints_the_password_of_a_configured_url(
    postgres_url: str, tmp_path: Path
) -> None:
    import yaml

    from tests.cli.helpers import ok, themis, user_error, write_config

    url = fresh_postgres_database(postgres_url)
    config = write_config(tmp_path)
    settings = yaml.safe_load(config.read_text())
    settings["storage"] = {"store": "postgres", "parameters": {"url": url}}
    config.write_text(yaml.safe_dump(settings))
    done = ok(themis("run", "-c", config, cwd=tmp_path))
    assert postgres_server.PASSWORD not in done.stdout + done.stderr

    settings["storage"]["parameters"]["url"] = url.replace(postgres_server.PASSWORD, "wrong-pw")
    config.write_text(yaml.safe_dump(settings))
    refused = user_error(themis("run", "-c", config, cwd=tmp_path))
    assert "password authentication failed" in refused and "***" in refused
    assert "wrong-pw" not in refused


def test_the_cli_takes_a_postgres_url_as_path_and_never_prints_its_password(
    postgres_url: str, tmp_path: Path
) -> None:
    """``--path postgresql://...`` names the store (a file path would fold its ``//``),
    and a config switched to postgres that still has a file path says what to do."""
    import yaml

    from tests.cli.helpers import ok, ok_json, themis, user_error, write_config

    url = fresh_postgres_database(postgres_url)
    config = write_config(tmp_path)
    refused = user_error(
        themis(
            "run",
            "-c",
            config,
            "--set",
            "storage.store=postgres",
            "--set",
            f"storage.parameters.url={url}",
            cwd=tmp_path,
        )
    )
    assert "storage.path: store 'postgres' takes no path" in refused
    settings = yaml.safe_load(config.read_text())
    settings["storage"] = {"store": "postgres", "parameters": {"url": url}}
    config.write_text(yaml.safe_dump(settings))
    run = ok_json(themis("run", "-c", config, "--json", cwd=tmp_path))
    rows = ok_json(themis("inspect", "runs", "--path", url, "--json", cwd=tmp_path))
    assert [row["run_id"] for row in rows] == [run["run_id"]]
    report = ok(themis("report", "--path", url, "--format", "csv", cwd=tmp_path))
    assert "builtin/exact_match" in report.stdout
    missing = user_error(
        themis(
            "report", "--path", urlunsplit(urlsplit(url)._replace(path="/nowhere")), cwd=tmp_path
        )
    )
    bundle = tmp_path / "generation.json"
    ok(themis("export", "generation", "--path", url, "-o", bundle, cwd=tmp_path))
    other = fresh_postgres_database(postgres_url)
    imported = ok(themis("import", bundle, "--path", other, cwd=tmp_path))
    assert "into the postgres store" in imported.stdout
    rows = ok_json(themis("inspect", "runs", "--path", other, "--json", cwd=tmp_path))
    assert [row["run_id"] for row in rows] == [run["run_id"]]
    printed = report.stdout + report.stderr + missing + imported.stdout + imported.stderr
    assert postgres_server.PASSWORD not in printed
