"""submit_experiment and run_worker: a run stored now, run later by other processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.cli.helpers import THEMIS
from tests.conftest import make_experiment
from tests.deferred.helpers import write_components
from themis import Experiment, WorkerReport, run_worker, sqlite_store, submit_experiment
from themis.core.analysis.run_overview import list_run_overviews
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.deferred.submit import NotSubmittedError
from themis.core.errors import ConfigError, StoreNotFoundError, StoreOpenError, UnknownRunError
from themis.core.models import RunStatus
from themis.core.storage.events import RunSubmittedEvent


def scores(store_path: Path, run_id: str) -> list[tuple[str, str, float | None]]:
    store = sqlite_store(store_path)
    try:
        return sorted((r.case_key, r.metric_id, r.value) for r in store.score_rows(run_id))
    finally:
        store.close()


def test_submit_stores_the_run_pending_and_a_worker_runs_it(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    experiment = make_experiment()
    run_id = submit_experiment(experiment, store=str(db))
    assert run_id == experiment.compile().run_id

    store = sqlite_store(db)
    events = list(store.iter_events(run_id))
    assert [type(e) for e in events] == [RunSubmittedEvent]  # nothing ran, no model call
    assert store.work_items(run_id) == []
    (overview,) = list_run_overviews(store)
    assert overview.status is RunStatus.pending and overview.submitted
    store.close()

    report = run_worker(str(db), run_id=run_id)
    assert isinstance(report, WorkerReport)
    assert report.stopped == "run_finished"
    (worked,) = report.runs
    assert (worked.run_id, worked.outcome, worked.status, worked.cases) == (
        run_id,
        "ran",
        RunStatus.completed,
        4,
    )
    # The same results a direct run gives.
    direct = make_experiment().run()
    assert scores(db, run_id) == sorted(
        (case.case_key, score.metric_id, score.value)
        for case in direct.cases
        for score in case.scores
    )
    # A second worker on the finished run has nothing to do.
    again = run_worker(str(db), run_id=run_id)
    assert [r.outcome for r in again.runs] == ["already_finished"]


def test_submitting_twice_records_one_submission(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    first = submit_experiment(make_experiment(), store=str(db))
    second = submit_experiment(make_experiment(), store=str(db))
    assert first == second
    store = sqlite_store(db)
    assert len(list(store.iter_events(first))) == 1
    store.close()


def test_a_worker_finishes_a_run_another_worker_left_half_done(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    experiment = make_experiment()
    run_id = submit_experiment(experiment, store=str(db))
    store = sqlite_store(db)
    experiment.run(until_stage="generate", store=store)  # as a worker stopped early would
    generated = [i for i in store.work_items(run_id) if i.stage == "generate"]
    store.close()

    report = run_worker(str(db))  # takes the started, unfinished run
    assert [(r.run_id, r.outcome, r.status) for r in report.runs] == [
        (run_id, "ran", RunStatus.completed)
    ]
    store = sqlite_store(db)
    items = store.work_items(run_id)
    assert [i for i in items if i.stage == "generate"] == generated  # generations reused
    assert {i.stage for i in items} >= {"generate", "reduce", "parse", "score"}
    store.close()


def test_a_worker_without_run_id_takes_pending_runs_in_turn(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    a = submit_experiment(make_experiment(seeds=[1]), store=str(db))
    b = submit_experiment(make_experiment(seeds=[2]), store=str(db))
    report = run_worker(str(db))
    assert report.run_ids == [a, b] and report.stopped == "idle"
    assert all(r.status is RunStatus.completed for r in report.runs)
    assert run_worker(str(db)).runs == []  # nothing pending any more


def test_an_idle_worker_waits_max_idle_for_new_submissions(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    submit_experiment(make_experiment(seeds=[1]), store=str(db))
    run_worker(str(db))
    late: list[str] = []

    def submit_later() -> None:
        time.sleep(0.5)
        late.append(submit_experiment(make_experiment(seeds=[3]), store=str(db)))

    thread = threading.Thread(target=submit_later)
    started = time.monotonic()
    thread.start()
    report = run_worker(str(db), max_idle_s=3.0)
    thread.join()
    elapsed = time.monotonic() - started
    assert report.run_ids == late  # picked up while it waited
    assert elapsed >= 3.0  # then waited max_idle again before leaving
    started = time.monotonic()
    assert run_worker(str(db), max_idle_s=0.3).runs == []
    assert 0.3 <= time.monotonic() - started < 3.0


def test_python_components_are_rebuilt_in_a_worker_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_components(tmp_path / "project", monkeypatch)
    from acme_components import Echo, EndsWith  # type: ignore[import-not-found]

    from themis.builtins.generators import DemoGenerator

    db = tmp_path / "runs.sqlite"
    experiment = make_experiment(
        generation=GenerationConfig(generator=Echo(suffix="?")),
        evaluation=EvaluationConfig(metrics=[EndsWith(tail="?")]),
    )
    run_id = submit_experiment(experiment, store=str(db))
    # Another process, elsewhere, with nothing of the project on its path.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [THEMIS, "worker", "--store", str(db), "--run-id", run_id, "--json"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [value for _, _, value in scores(db, run_id)] == [1.0] * 4  # the suffix travelled

    # An SDK object that reports its options() is rebuilt from them.
    demo = make_experiment(generation=GenerationConfig(generator=DemoGenerator(error_rate=0.5)))
    demo_id = submit_experiment(demo, store=str(db))
    report = run_worker(str(db), run_id=demo_id)
    assert report.runs[0].status in (RunStatus.completed, RunStatus.partial_failure)
    assert demo.run().metric_means == pytest.approx({m: v for m, v in _means(db, demo_id).items()})


def _means(db: Path, run_id: str) -> dict[str, float]:
    rows = scores(db, run_id)
    metrics = {metric for _, metric, _ in rows}
    return {
        metric: sum(v or 0.0 for _, m, v in rows if m == metric)
        / len([1 for _, m, _ in rows if m == metric])
        for metric in metrics
    }


def test_components_a_worker_cannot_rebuild_are_refused_at_submit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_components(tmp_path / "project", monkeypatch)
    from acme_components import Keyed, WithCallback  # type: ignore[import-not-found]

    from themis.components import Metric

    db = tmp_path / "runs.sqlite"

    class Local(Metric):
        component_id = "acme/local"

        def score(self, parsed, case, ctx):  # type: ignore[no-untyped-def]
            return 1.0

    with pytest.raises(ConfigError, match=r"evaluation\.metrics\[0\].*inside a function"):
        submit_experiment(
            make_experiment(evaluation=EvaluationConfig(metrics=[Local()])), store=str(db)
        )
    with pytest.raises(ConfigError, match=r"evaluation\.metrics\[0\].*\['check'\].*not JSON"):
        submit_experiment(
            make_experiment(evaluation=EvaluationConfig(metrics=[WithCallback(check=len)])),
            store=str(db),
        )
    with pytest.raises(
        ConfigError, match=r"generation\.generator\.arguments\.api_key.*never stored"
    ):
        submit_experiment(
            make_experiment(generation=GenerationConfig(generator=Keyed(api_key="sk-secret-1234"))),
            store=str(db),
        )
    assert not db.exists() or sqlite_store(db).list_runs() == []  # nothing was stored


def test_a_class_defined_in_a_script_is_refused_naming_main(tmp_path: Path) -> None:
    script = tmp_path / "submit_script.py"
    script.write_text(
        "from themis import submit_experiment\n"
        "from themis.components import Metric\n"
        "from tests.conftest import make_experiment\n"
        "from themis.core.config import EvaluationConfig\n"
        "class Mine(Metric):\n"
        "    component_id = 'acme/mine'\n"
        "    def score(self, parsed, case, ctx):\n"
        "        return 1.0\n"
        f"submit_experiment(make_experiment(evaluation=EvaluationConfig(metrics=[Mine()])), "
        f"store={str(tmp_path / 'runs.sqlite')!r})\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode != 0
    assert "evaluation.metrics[0]: Mine object ('acme/mine') cannot be rebuilt" in done.stderr
    assert "__main__" in done.stderr and "importable module" in done.stderr


def test_an_adapter_object_is_submitted_as_its_factory_call(tmp_path: Path) -> None:
    """``openai(...)``, the usual way to write a Python experiment, is recorded
    as its factory call, operational options (URL, key variable, timeout)
    included, and a worker in another process uses them all."""
    from tests.adapters.fake_openai_server import running_server
    from themis.adapters import openai

    db = tmp_path / "runs.sqlite"
    with running_server() as server:
        generator = openai(
            "test-model",
            api_mode="chat_completions",
            base_url=server.base_url,
            api_key_env="THEMIS_FACTORY_TEST_KEY",
            timeout_s=12.0,
            temperature=0.0,
        )
        run_id = submit_experiment(
            make_experiment(generation=GenerationConfig(generator=generator)), store=str(db)
        )
        assert server.requests == []
        store = sqlite_store(db)
        (event,) = store.iter_events(run_id)
        store.close()
        assert isinstance(event, RunSubmittedEvent)
        assert event.recipe["generation"]["generator"] == {  # type: ignore[index]
            "python_object": "themis_adapters_openai.generator:openai",
            "arguments": {
                "model": "test-model",
                "api_mode": "chat_completions",
                "base_url": server.base_url,
                "api_key_env": "THEMIS_FACTORY_TEST_KEY",
                "timeout_s": 12.0,
                "temperature": 0.0,
            },
        }
        done = subprocess.run(
            [THEMIS, "worker", "--store", str(db), "--run-id", run_id],
            cwd=tmp_path,
            env={**os.environ, "THEMIS_FACTORY_TEST_KEY": "sk-test"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert len(server.received("/v1/chat/completions")) == 4  # the same server


def test_an_adapter_object_built_on_a_client_is_refused_with_its_entry_point_named() -> None:
    from themis.adapters import openai

    client = openai("gpt-4o-mini", client=lambda: None)
    experiment = make_experiment(generation=GenerationConfig(generator=client))
    with pytest.raises(ConfigError) as caught:
        submit_experiment(experiment, store="unused.sqlite")
    message = str(caught.value)
    assert message.startswith("generation.generator: OpenAIGenerator object")
    assert '{"id": "openai/generator", "options": {...}}' in message
    assert not Path("unused.sqlite").exists()


def test_an_entry_point_spec_with_options_is_submitted(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    experiment = make_experiment(
        generation=GenerationConfig(
            generator={"id": "openai/generator", "options": {"model": "gpt-4o-mini"}}
        )
    )
    run_id = submit_experiment(experiment, store=str(db))
    store = sqlite_store(db)
    (event,) = store.iter_events(run_id)
    assert isinstance(event, RunSubmittedEvent)
    assert event.recipe["generation"]["generator"] == {  # type: ignore[index]
        "id": "openai/generator",
        "options": {"model": "gpt-4o-mini"},
    }
    store.close()


def test_worker_errors(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    with pytest.raises(StoreNotFoundError, match="no store at"):
        run_worker(str(db))
    with pytest.raises(StoreOpenError, match="unsupported store URL 'mysql://h/db'"):
        run_worker("mysql://h/db")
    submit_experiment(make_experiment(), store=str(db))
    with pytest.raises(UnknownRunError, match="run run-nope is not in the store"):
        run_worker(str(db), run_id="run-nope")
    ordinary = make_experiment(seeds=[5])
    store = sqlite_store(db)
    ordinary.run(store=store)
    store.close()
    with pytest.raises(NotSubmittedError, match="was never submitted"):
        run_worker(str(db), run_id=ordinary.compile().run_id)
    with pytest.raises(ConfigError, match="max_idle_s"):
        run_worker(str(db), max_idle_s=-1)


def test_memory_storage_without_a_store_is_refused() -> None:
    with pytest.raises(ConfigError, match="memory store, which no worker can reach"):
        submit_experiment(make_experiment())


def test_a_run_store_object_works_in_process() -> None:
    from themis import InMemoryRunStore

    store = InMemoryRunStore()
    run_id = submit_experiment(make_experiment(), store=store)
    report = run_worker(store)
    assert report.run_ids == [run_id] and report.runs[0].status is RunStatus.completed
    assert isinstance(make_experiment(), Experiment)


def test_a_worker_named_a_run_waits_max_idle_for_its_submission(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    submit_experiment(make_experiment(seeds=[1]), store=str(db))  # the store exists
    later = make_experiment(seeds=[9])
    run_id = later.compile().run_id

    def submit_later() -> None:
        time.sleep(0.5)
        submit_experiment(later, store=str(db))

    thread = threading.Thread(target=submit_later)
    thread.start()
    report = run_worker(str(db), run_id=run_id, max_idle_s=10)
    thread.join()
    assert [(r.run_id, r.outcome) for r in report.runs] == [(run_id, "ran")]
    started = time.monotonic()
    with pytest.raises(UnknownRunError):
        run_worker(str(db), run_id="run-never", max_idle_s=0.4)
    assert time.monotonic() - started >= 0.4


def test_a_config_experiment_changed_in_python_is_recorded_as_changed(tmp_path: Path) -> None:
    from tests.cli.helpers import write_config

    config = write_config(tmp_path)
    changed = Experiment.from_config(config).model_copy(update={"seeds": [11]})
    run_id = submit_experiment(changed, store=str(tmp_path / "shared.sqlite"))
    assert run_id == changed.compile().run_id != Experiment.from_config(config).compile().run_id
    report = run_worker(str(tmp_path / "shared.sqlite"), run_id=run_id)
    assert report.runs[0].outcome == "ran" and report.runs[0].status is RunStatus.completed
