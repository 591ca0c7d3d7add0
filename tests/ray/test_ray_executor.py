"""The Ray executor on a real local Ray (tests/ray/conftest.py starts it once).

Actors are real Ray worker processes; the model is the local OpenAI-compatible
server of the adapter tests, reached over HTTP through the real ``openai`` SDK.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.conftest import SECRET_KEY
from tests.adapters.fake_openai_server import FakeOpenAIServer, running_server
from tests.conftest import REPO_ROOT, fresh_postgres_schema, make_experiment
from tests.ray.components import DyingGenerator
from tests.ray.conftest import API_KEY_ENV
from themis import Experiment, PostgresRunStore, RuntimeConfig, SqliteRunStore
from themis.adapters import openai
from themis.core.config import EvaluationConfig, GenerationConfig, StorageConfig
from themis.core.engine.ray_executor import check_store_fits_cluster
from themis.core.errors import ConfigError, ExecutorError, ExistingRunError
from themis.core.models import Case, Dataset, RunResult, RunStatus
from themis.core.storage.events import GenerationCompletedEvent
from themis.core.storage.stores.base import RunStore

pytestmark = pytest.mark.slow


def ray_runtime(**changes: Any) -> RuntimeConfig:
    return RuntimeConfig(executor="ray", progress="off", **changes)


def numbers(count: int) -> Dataset:
    return Dataset(
        dataset_id="sums",
        cases=[
            Case(case_id=f"c{i}", input={"question": f"{i}+{i}"}, expected_output=2 * i)
            for i in range(count)
        ],
    )


def openai_experiment(server: FakeOpenAIServer, count: int) -> Experiment:
    generator = openai("test-model", base_url=server.base_url, api_key_env=API_KEY_ENV)
    return Experiment(
        generation=GenerationConfig(generator=generator),
        evaluation=EvaluationConfig(
            parsers=["builtin/number"], metrics=["builtin/numeric_tolerance"]
        ),
        datasets=[numbers(count)],
        seeds=[3],
    )


def summing_server(server: FakeOpenAIServer, delay_s: float = 0.0) -> None:
    """The model answers each question right, the sum in the prompt, after ``delay_s``."""

    def answer(path: str, body: Any) -> str:
        time.sleep(delay_s)
        left, right = re.search(r"(\d+)\+(\d+)", json.dumps(body)).groups()  # type: ignore[union-attr]
        return str(int(left) + int(right))

    server.answer = answer


def outcome(result: RunResult) -> list[tuple[Any, ...]]:
    return sorted(
        (
            case.case_key,
            case.status,
            [candidate.final_output for candidate in case.generated_candidates],
            [(score.metric_id, score.value) for score in case.scores],
        )
        for case in result.cases
    )


def generations_per_case(store: RunStore, run_id: str) -> Counter[str]:
    return Counter(
        event.case_key
        for event in store.iter_events(run_id)
        if isinstance(event, GenerationCompletedEvent)
    )


# -- refused before any work -----------------------------------------------------


def test_ray_settings_are_validated_and_belong_to_the_ray_executor() -> None:
    assert RuntimeConfig(executor="ray", workers=4, ray_address="auto").workers == 4
    for address in ("127.0.0.1:6379", "ray://head.cluster:10001", "[::1]:6379"):
        assert RuntimeConfig(executor="ray", ray_address=address).ray_address == address
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        RuntimeConfig(executor="ray", workers=0)
    with pytest.raises(ValueError, match="'head' is not a Ray address"):
        RuntimeConfig(executor="ray", ray_address="head")
    with pytest.raises(ValueError, match=r"workers=2 apply only with executor='ray'"):
        RuntimeConfig(workers=2)
    with pytest.raises(ValueError, match=r"ray_address='auto' apply only"):
        RuntimeConfig(executor="local", ray_address="auto")
    with pytest.raises(ValueError, match="'local' or 'ray'"):
        RuntimeConfig(executor="threads")  # type: ignore[arg-type]


def test_the_in_memory_store_is_refused() -> None:
    with pytest.raises(ConfigError, match="in-memory store lives in one process"):
        make_experiment().run(runtime=ray_runtime())


def test_a_component_that_cannot_be_pickled_is_named(tmp_path: Path) -> None:
    generator = DyingGenerator(str(tmp_path), die_after=10**9, marker=None, delay_s=0)
    generator.lock = threading.Lock()  # type: ignore[attr-defined]
    experiment = make_experiment(
        generation=GenerationConfig(generator=generator),
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite")),
    )
    with pytest.raises(ConfigError, match=r"generation\.generator \(DyingGenerator\) cannot be"):
        experiment.run(runtime=ray_runtime())


def test_sqlite_is_refused_on_a_cluster_of_several_machines() -> None:
    sqlite = StorageConfig(store="sqlite", path="/data/runs.sqlite")
    check_store_fits_cluster(sqlite, 1, "a local Ray")
    check_store_fits_cluster(StorageConfig(store="postgres"), 3, "the Ray cluster at auto")
    with pytest.raises(ConfigError, match=r"has 2 nodes, and the SQLite store /data/runs"):
        check_store_fits_cluster(sqlite, 2, "the Ray cluster at auto")


TWO_NODE_SCRIPT = """\
import sys
import ray
from ray.cluster_utils import Cluster
from tests.conftest import make_experiment
from themis import RuntimeConfig
from themis.core.config import StorageConfig
from themis.core.engine.ray_executor import local_ray_settings
from themis.core.errors import ConfigError

local_ray_settings(ray)
cluster = Cluster(
    initialize_head=True,
    connect=False,
    head_node_args={"num_cpus": 0, "include_dashboard": False},
)
try:
    cluster.add_node(num_cpus=0)  # a second node (a second raylet, on this machine)
    cluster.wait_for_nodes()
    storage = StorageConfig(store="sqlite", path=sys.argv[1])
    runtime = RuntimeConfig(executor="ray", ray_address=cluster.address, progress="off")
    try:
        make_experiment(storage=storage).run(runtime=runtime)
    except ConfigError as exc:
        print(exc)
finally:
    cluster.shutdown()
"""


def test_sqlite_is_refused_on_a_real_two_node_ray(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", TWO_NODE_SCRIPT, str(tmp_path / "runs.sqlite")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "has 2 nodes, and the SQLite store" in done.stdout, done.stdout + done.stderr
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    assert store.list_runs() == []  # refused before any work
    store.close()


def test_an_actor_asking_for_more_cpus_than_the_cluster_has_is_refused(
    ray_cluster: str, tmp_path: Path
) -> None:
    experiment = make_experiment(
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite"))
    )
    with pytest.raises(ConfigError, match=r"ray_actor_cpus=8\.0: .* has 2 CPUs in all"):
        experiment.run(runtime=ray_runtime(ray_actor_cpus=8))


def test_subscribers_are_refused(tmp_path: Path) -> None:
    experiment = make_experiment(
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite"))
    )
    with pytest.raises(ConfigError, match="subscribers live in this process"):
        experiment.run(runtime=ray_runtime(), subscribers=[object()])


def test_existing_run_policy_error_is_applied_by_the_driver(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    experiment = make_experiment(storage=StorageConfig(store="sqlite", path=str(path)))
    experiment.run(runtime=RuntimeConfig(progress="off"))
    with pytest.raises(ExistingRunError, match="already in the store"):
        experiment.run(runtime=ray_runtime(existing_run_policy="error"))


def test_a_rerun_is_not_split_between_actors(tmp_path: Path) -> None:
    experiment = make_experiment(
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite"))
    )
    with pytest.raises(ConfigError, match="each actor would recompute the whole run"):
        experiment.run(runtime=ray_runtime(workers=2, existing_run_policy="rerun"))


def test_without_ray_the_error_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from tests.conftest import make_experiment\n"
        "from themis import RuntimeConfig\n"
        "from themis.core.config import StorageConfig\n"
        "from themis.core.errors import ExecutorUnavailableError\n"
        f"storage = StorageConfig(store='sqlite', path={str(tmp_path / 'r.sqlite')!r})\n"
        "experiment = make_experiment(storage=storage)\n"
        "try:\n"
        "    experiment.run(runtime=RuntimeConfig(executor='ray'))\n"
        "except ExecutorUnavailableError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert "pip install 'themis-eval-core[ray]'" in done.stdout, done.stderr


# -- runs on the session's Ray ------------------------------------------------------


def _store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> RunStore:
    if kind == "sqlite":
        return SqliteRunStore(tmp_path / "ray.sqlite")
    url = request.getfixturevalue("postgres_url")
    return PostgresRunStore(url, schema=fresh_postgres_schema(), pool_size=2)


def test_two_actors_without_leases_are_refused(tmp_path: Path) -> None:
    experiment = make_experiment(
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite"))
    )
    with pytest.raises(ConfigError, match="without them each would run every case"):
        experiment.run(runtime=ray_runtime(workers=2, share_run=False))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_ray_run_stores_what_a_local_run_stores(
    kind: str, ray_cluster: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with running_server() as server:
        summing_server(server)
        experiment = openai_experiment(server, count=40)
        local_store = SqliteRunStore(tmp_path / "local.sqlite")
        local = experiment.run(store=local_store, runtime=RuntimeConfig(progress="off"))
        local_calls = len(server.received("/v1/responses"))
        # Slow enough that both actors are working before the cases run out.
        summing_server(server, delay_s=0.05)
        ray_store = _store(kind, request, tmp_path)
        on_ray = experiment.run(
            store=ray_store, runtime=ray_runtime(workers=2, max_concurrent_tasks=4)
        )
        ray_requests = server.received("/v1/responses")[local_calls:]

    assert on_ray.run_id == local.run_id == experiment.compile().run_id
    assert on_ray.status is RunStatus.completed
    assert outcome(on_ray) == outcome(local)
    assert len(on_ray.cases) == 40
    # The two actors split the run: every case asked for once, none twice.
    assert local_calls == len(ray_requests) == 40
    asked = Counter(re.search(r"\d+\+\d+", json.dumps(r.body)).group() for r in ray_requests)  # type: ignore[union-attr]
    assert len(asked) == 40 and set(asked.values()) == {1}
    assert generations_per_case(ray_store, on_ray.run_id) == Counter(
        {case.case_key: 1 for case in local.cases}
    )
    # The actors read the key from their environment; it reached the server, never the store.
    keys = {r.headers.get("authorization") for r in server.received("/v1/responses")}
    assert keys == {f"Bearer {SECRET_KEY}"}
    events = json.dumps([e.model_dump(mode="json") for e in ray_store.iter_events(on_ray.run_id)])
    assert SECRET_KEY not in events
    ray_store.close()
    local_store.close()


def dying_experiment(tmp_path: Path, cases: int, **options: Any) -> Experiment:
    calls = tmp_path / "calls"
    calls.mkdir()
    return make_experiment(
        generation=GenerationConfig(generator=DyingGenerator(str(calls), **options)),
        datasets=[numbers(cases)],
        evaluation=EvaluationConfig(metrics=["builtin/numeric_tolerance"]),
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite")),
    )


def calls_made(tmp_path: Path) -> dict[str, list[str]]:
    """Case id -> the actor processes (pid@node) that called the generator for it."""
    return {path.name: path.read_text().split() for path in (tmp_path / "calls").iterdir()}


def test_two_actors_share_the_run(ray_cluster: str, tmp_path: Path) -> None:
    experiment = dying_experiment(tmp_path, 30, die_after=10**9, marker=None, delay_s=0.05)
    result = experiment.run(runtime=ray_runtime(workers=2, max_concurrent_tasks=2, lease_s=5))

    assert result.status is RunStatus.completed and len(result.cases) == 30
    made = calls_made(tmp_path)
    assert len(made) == 30 and all(len(callers) == 1 for callers in made.values())
    # Both actors took cases, each in its own process, on this machine.
    callers = {caller for callers in made.values() for caller in callers}
    assert len(callers) == 2 and {caller.split("@")[1] for caller in callers} == {"127.0.0.1"}
    store = experiment.resolve_store()
    assert set(generations_per_case(store, result.run_id).values()) == {1}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_dead_actor_is_replaced_and_nothing_is_lost(
    workers: int, ray_cluster: str, tmp_path: Path
) -> None:
    experiment = dying_experiment(
        tmp_path, 20, die_after=4, marker=str(tmp_path / "died"), delay_s=0.05
    )
    result = experiment.run(runtime=ray_runtime(workers=workers, max_concurrent_tasks=1, lease_s=2))

    assert (tmp_path / "died").exists()  # an actor did die mid-run
    assert result.status is RunStatus.completed
    assert len(result.cases) == 20
    assert all(case.scores and case.scores[0].value == 1.0 for case in result.cases)
    store = experiment.resolve_store()
    assert set(generations_per_case(store, result.run_id).values()) == {1}
    # What the dead actor had committed was reused (its expired leases taken
    # over): only calls in flight when it died were made again.
    made = calls_made(tmp_path)
    assert len(made) == 20 and sum(map(len, made.values())) <= 20 + 2


def test_actors_dying_past_the_replacement_bound_fail_the_run_clearly(
    ray_cluster: str, tmp_path: Path
) -> None:
    generator = DyingGenerator(str(tmp_path), die_after=1, marker=None, delay_s=0)
    experiment = make_experiment(
        generation=GenerationConfig(generator=generator),
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite")),
    )
    with pytest.raises(ExecutorError, match=r"after 1 actor\(s\) were already replaced"):
        experiment.run(runtime=ray_runtime(workers=1, ray_max_replacements=1))


LOCAL_RAY_SCRIPT = """\
import sys
from tests.conftest import make_experiment
from tests.ray.components import DyingGenerator
from themis import RuntimeConfig
from themis.core.config import GenerationConfig, StorageConfig

folder = sys.argv[1]
generator = DyingGenerator(folder, die_after=10**9, marker=None, delay_s=0)
experiment = make_experiment(
    generation=GenerationConfig(generator=generator),
    storage=StorageConfig(store="sqlite", path=folder + "/runs.sqlite"),
)
result = experiment.run(runtime=RuntimeConfig(executor="ray", workers=1, progress="off"))
import ray
print(result.status.value, len(result.cases), ray.is_initialized())
"""


def test_without_an_address_a_local_ray_on_127_0_0_1_is_started_and_stopped(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOCAL_RAY_SCRIPT, str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["completed", "4", "False"]
    calls = [line for path in tmp_path.glob("c*") for line in path.read_text().split()]
    assert len(calls) == 4
    assert {call.split("@")[1] for call in calls} == {"127.0.0.1"}


EXPERIMENT_TOML = """\
seeds = [7]

[generation]
generator = "builtin/demo_generator"
reducer = "builtin/majority_vote"

[evaluation]
metrics = ["builtin/exact_match"]
parsers = ["builtin/json_identity"]

[storage]
store = "sqlite"
path = "runs.sqlite"

[[datasets]]
dataset_id = "arith"
cases = [
  { case_id = "c1", input = { question = "1+1" }, expected_output = { answer = "2" } },
  { case_id = "c2", input = { question = "2+2" }, expected_output = { answer = "4" } },
  { case_id = "c3", input = { question = "3+3" }, expected_output = { answer = "6" } },
]
"""


RUN_COMMAND = [sys.executable, "-m", "themis.cli.main", "run", "--config"]


def test_an_address_nothing_listens_on_is_refused_at_once(tmp_path: Path) -> None:
    """Ray retries an unreachable GCS address for many minutes; the run is
    refused within seconds instead, with one line naming the address."""
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "experiment.toml"
    config.write_text(EXPERIMENT_TOML)
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        done = subprocess.run(
            [*RUN_COMMAND, str(config), "--executor", "ray", "--ray-address", address],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [done.stderr.strip()]
        assert f"cannot connect to Ray at '{address}'" in done.stderr
        assert "Connection refused" in done.stderr


def test_themis_run_with_the_ray_executor(ray_cluster: str, tmp_path: Path) -> None:
    config = tmp_path / "experiment.toml"
    config.write_text(EXPERIMENT_TOML)
    command = [sys.executable, "-m", "themis.cli.main", "run", "--config", str(config)]
    done = subprocess.run(
        [*command, "--executor", "ray", "--workers", "1", "--ray-address", ray_cluster, "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    run_id = Experiment.from_config(config).compile().run_id
    assert printed["run_id"] == run_id
    assert printed["status"] == "completed"
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    assert set(generations_per_case(store, run_id).values()) == {1}
    assert len(generations_per_case(store, run_id)) == 3

    resume = [sys.executable, "-m", "themis.cli.main", "resume", "--config", str(config)]
    resumed = subprocess.run(
        [*resume, "--executor", "ray", "--workers", "2", "--ray-address", ray_cluster, "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed"
    assert set(generations_per_case(store, run_id).values()) == {1}  # nothing redone
    store.close()

    refused = subprocess.run(
        [*command, "--workers", "2"], cwd=tmp_path, capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert "--workers" in refused.stderr and "apply only with executor='ray'" in refused.stderr
