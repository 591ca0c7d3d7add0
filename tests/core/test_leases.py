"""The lease contract (``LeaseStore``), run against every store implementation,
and runs sharing their cases through it inside one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import pytest

from tests.conftest import arithmetic_dataset, make_experiment
from themis import InMemoryRunStore
from themis.core.config import RuntimeConfig
from themis.core.models import RunStatus
from themis.core.storage.stores.base import (
    LeaseStore,
    chunk_size,
    lease_owner_is_dead,
    new_lease_owner,
)


def claim(store: Any, owner: str, **options: Any) -> Any:
    values: dict[str, Any] = {"total": 100, "max_cases": 10, "lease_s": 30.0}
    values.update(options)
    return store.claim_lease("run-1", "judge", owner, **values)


def claim_all(store: Any, owner: str, **options: Any) -> list[Any]:
    """Every chunk left to cut, claimed and completed by ``owner``."""
    leases = []
    while (lease := claim(store, owner, **options).lease) is not None:
        store.complete_lease(lease)
        leases.append(lease)
    return leases


def test_every_store_leases(store: Any) -> None:
    assert isinstance(store, LeaseStore)


def test_chunks_are_cut_in_order_and_never_given_twice(store: Any) -> None:
    first = claim(store, "a")
    second = claim(store, "b")
    assert first.lease is not None and second.lease is not None
    assert (first.lease.start, first.lease.stop, first.lease.owner) == (0, 10, "a")
    assert (second.lease.start, second.lease.stop, second.lease.owner) == (10, 20, "b")
    assert not first.lease.taken_over and second.live_workers == 2
    assert second.unfinished == 1  # a's chunk, which b could wait for


def test_a_run_is_cut_into_chunks_covering_every_case_once(store: Any) -> None:
    covered: list[int] = []
    while (lease := claim(store, "a", total=37, max_cases=8).lease) is not None:
        covered.extend(range(lease.start, lease.stop))
        store.complete_lease(lease)
    assert covered == list(range(37))
    final = claim(store, "a", total=37)
    assert final.lease is None and final.unfinished == 0


def test_chunks_shrink_towards_the_end_with_more_workers() -> None:
    assert chunk_size(4096, 10_000, 1) == 4096
    assert chunk_size(4096, 1000, 4) == 125
    assert chunk_size(4096, 3, 4) == 1
    assert chunk_size(4096, 0, 1) == 0


def test_an_expired_lease_is_taken_over_and_a_renewed_one_is_not(store: Any) -> None:
    held = claim(store, "a", lease_s=1.0).lease
    kept = claim(store, "b", lease_s=1.0).lease
    assert held is not None and kept is not None
    time.sleep(0.5)
    # renewed for long enough that a slow claim below cannot outlast it
    assert store.renew_leases("run-1", "judge", "b", lease_s=30) == 1
    time.sleep(0.7)  # a's lease expired, b's was renewed
    taken = claim(store, "c")
    assert taken.lease is not None and taken.lease.taken_over
    assert (taken.lease.start, taken.lease.stop, taken.lease.owner) == (0, 10, "c")
    after = claim(store, "d")
    assert after.lease is not None and after.lease.start == 20  # b's chunk stays b's
    assert store.renew_leases("run-1", "judge", "a", lease_s=30) == 0  # a lost it


def test_a_done_chunk_is_never_taken_over(store: Any) -> None:
    assert claim_all(store, "a", total=10, lease_s=0.2)
    time.sleep(0.3)
    found = claim(store, "b", total=10)
    assert found.lease is None and found.unfinished == 0


def test_released_leases_are_claimable_at_once(store: Any) -> None:
    lease = claim(store, "a").lease
    assert lease is not None
    store.release_leases("run-1", "judge", "a")
    taken = claim(store, "b")
    assert taken.lease is not None and taken.lease.taken_over and taken.lease.start == 0
    assert store.live_workers("run-1") == 1


def test_live_workers_counts_unexpired_heartbeats(store: Any) -> None:
    claim(store, "a", lease_s=0.2)
    claim(store, "b", lease_s=30)
    store.claim_lease("run-1", "generate", "c", total=5, max_cases=5, lease_s=30)
    assert store.live_workers("run-1") == 3
    assert store.live_workers("run-2") == 0
    time.sleep(0.3)
    assert store.live_workers("run-1") == 2
    store.release_leases("run-1", "judge", "b")
    assert store.live_workers("run-1") == 1


def test_lease_holders_are_the_owners_of_unfinished_unexpired_chunks(store: Any) -> None:
    assert store.lease_holders("run-1", "judge") == []
    for owner in ["c", "a", "b", "a"]:
        claim(store, owner)
    assert store.lease_holders("run-1", "judge") == ["a", "b", "c"]
    brief = claim(store, "d", lease_s=1.5).lease
    done = claim(store, "e").lease
    assert brief is not None and done is not None
    store.complete_lease(done)  # finished: not waited for
    store.release_leases("run-1", "judge", "b")  # given back: not held
    assert store.lease_holders("run-1", "judge") == ["a", "c", "d"]
    assert store.lease_holders("run-1", "generate") == []  # another scope
    assert store.lease_holders("run-2", "judge") == []
    time.sleep(1.6)  # d's lease expired: claimable, no longer held
    assert store.lease_holders("run-1", "judge") == ["a", "c"]


def test_scopes_lease_separately(store: Any) -> None:
    judge = claim(store, "a", total=5)
    generate = store.claim_lease("run-1", "generate", "a", total=5, max_cases=10, lease_s=30)
    assert judge.lease is not None and generate.lease is not None
    assert (judge.lease.start, generate.lease.start) == (0, 0)


def test_a_finished_pass_restarts_only_when_asked_and_all_is_done(store: Any) -> None:
    first = claim(store, "a", total=10, max_cases=4).lease
    assert first is not None
    claim_all(store, "b", total=10, max_cases=4)
    assert claim(store, "b", total=10, restart_done=True).lease is None  # a's chunk is open
    store.complete_lease(first)
    assert claim(store, "b", total=10).lease is None
    again = claim(store, "b", total=10, max_cases=4, restart_done=True).lease
    assert again is not None and again.start == 0 and not again.taken_over


def test_concurrent_claimers_split_the_run(store: Any) -> None:
    leases: list[Any] = []
    lock = threading.Lock()

    def claimer(owner: str) -> None:
        while (lease := claim(store, owner, total=300, max_cases=7).lease) is not None:
            with lock:
                leases.append(lease)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cases = Counter(case for lease in leases for case in range(lease.start, lease.stop))
    assert sorted(cases) == list(range(300)) and set(cases.values()) == {1}


# -- runs sharing a store inside one process (InMemoryRunStore) ---------------


class CountingGenerator:
    """Answers the sum after a short wait, counting calls per case."""

    component_id = "test/counting"
    version = "1"

    def __init__(self, delay_s: float = 0.002) -> None:
        self.calls: Counter[str] = Counter()
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def fingerprint(self) -> str:
        return "counting-1"

    async def generate(self, case: Any, ctx: Any) -> Any:
        import asyncio

        from themis.core.models import GenerationResult

        with self._lock:
            self.calls[case.case_id] += 1
        await asyncio.sleep(self.delay_s)
        a, _ = case.input["question"].split("+")
        return GenerationResult(
            candidate_id=f"{case.case_id}-0", final_output={"answer": str(2 * int(a))}
        )


def counting_experiment(generator: CountingGenerator, count: int) -> Any:
    from themis.core.config import GenerationConfig

    return make_experiment(
        generation=GenerationConfig(
            generator=generator,
            candidate_policy={"num_samples": 1},  # type: ignore[arg-type]
            reducer="builtin/majority_vote",
        ),
        datasets=[arithmetic_dataset(count=count)],
    )


def test_two_runs_of_one_experiment_share_its_cases() -> None:
    generator = CountingGenerator()
    experiment = counting_experiment(generator, 400)
    store = InMemoryRunStore()
    runtime = RuntimeConfig(max_concurrent_tasks=8, lease_s=5.0, lease_poll_s=0.05)
    results: list[Any] = []

    def run() -> None:
        results.append(experiment.run(store=store, runtime=runtime))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    assert set(generator.calls.values()) == {1} and len(generator.calls) == 400
    for result in results:
        assert result.status is RunStatus.completed and len(result.cases) == 400
        assert all(case.scores[0].value == 1.0 for case in result.cases)
    assert results[0].model_dump(exclude={"cases"}) == results[1].model_dump(exclude={"cases"})
    assert [case.case_key for case in results[0].cases] == [
        case.case_key for case in results[1].cases
    ]


def test_the_heartbeat_keeps_a_chunk_that_outlives_its_lease() -> None:
    # A chunk takes ~1 s here and a lease lasts 0.2 s: without renewals the
    # other engine would take it over and ask for its cases again.
    generator = CountingGenerator(delay_s=0.05)
    experiment = counting_experiment(generator, 48)
    store = InMemoryRunStore()
    runtime = RuntimeConfig(max_concurrent_tasks=2, lease_s=0.2, lease_poll_s=0.05)
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(experiment.run(store=store, runtime=runtime))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [len(result.cases) for result in results] == [48, 48]
    assert len(generator.calls) == 48 and set(generator.calls.values()) == {1}


def test_a_rerun_of_a_finished_run_walks_it_again_with_no_model_calls() -> None:
    store = InMemoryRunStore()
    generator = CountingGenerator()
    first = counting_experiment(generator, 50).run(store=store)
    again = counting_experiment(generator, 50).run(store=store)
    assert again.model_dump() == first.model_dump()
    assert len(again.cases) == 50 and set(generator.calls.values()) == {1}


@pytest.mark.parametrize("share_run", [True, False])
def test_replay_and_unshared_runs_recompute_every_case(share_run: bool) -> None:
    store = InMemoryRunStore()
    experiment = make_experiment(datasets=[arithmetic_dataset(count=20)])
    runtime = RuntimeConfig(share_run=share_run)
    experiment.run(store=store, runtime=runtime)
    replayed = experiment.replay(store=store, stage="score")
    assert replayed.status is RunStatus.completed and len(replayed.cases) == 20


def test_a_chunk_is_planned_without_hashing_the_cases_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resumed run's first chunk starts at its lease cursor, perhaps half a
    million cases in: planning it must not hash every case before it."""
    from themis.core.engine import plan as plan_module

    snapshot = make_experiment(
        datasets=[arithmetic_dataset("a", 300), arithmetic_dataset("b", 300)]
    ).compile()
    expected = plan_module.plan_cases(snapshot)
    hashed = Counter[str]()
    real_hash = plan_module.short_hash_encoded

    def counted(*parts: bytes) -> str:
        hashed["keys"] += 1
        return real_hash(*parts)

    monkeypatch.setattr(plan_module, "short_hash_encoded", counted)
    # what LeasedCases plans for a chunk: one across the two datasets, then
    # one before it (a taken-over chunk)
    assert list(plan_module.iter_plans(snapshot, 290, 310)) == expected[290:310]
    assert list(plan_module.iter_plans(snapshot, 10, 20)) == expected[10:20]
    keys_per_case = len(expected[0].all_keys())
    assert hashed["keys"] == 30 * keys_per_case


# -- a dead holder on this machine is not waited for ---------------------------


def reaped_pid() -> int:
    """The pid of a child process that has exited and been reaped: gone."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def owner_like(**parts: Any) -> str:
    """An owner id as ``new_lease_owner`` makes it, with some parts replaced."""
    host, namespace, pid, random = new_lease_owner().rsplit(":", 3)
    values = {"host": host, "namespace": namespace, "pid": pid, "random": random}
    values.update({key: str(value) for key, value in parts.items()})
    return ":".join(values[key] for key in ["host", "namespace", "pid", "random"])


def test_an_owner_id_names_host_pid_namespace_and_pid() -> None:
    host, namespace, pid, random = new_lease_owner().rsplit(":", 3)
    assert (host, int(pid)) == (socket.gethostname(), os.getpid()) and len(random) == 8
    if sys.platform.startswith("linux"):
        assert int(namespace) == os.stat("/proc/self/ns/pid").st_ino
    assert new_lease_owner() != new_lease_owner()


@pytest.mark.skipif(os.name != "posix", reason="kill(pid, 0) is how a pid is looked up")
def test_only_a_gone_process_on_this_machine_and_namespace_is_dead() -> None:
    gone = reaped_pid()
    assert not lease_owner_is_dead(new_lease_owner())  # this process
    assert not lease_owner_is_dead(owner_like(pid=os.getppid()))  # a live one
    assert lease_owner_is_dead(owner_like(pid=gone))
    assert not lease_owner_is_dead(owner_like(pid=gone, host="another-machine"))
    assert not lease_owner_is_dead(owner_like(pid=gone, namespace="4026531999"))  # a container
    assert not lease_owner_is_dead(f"{socket.gethostname()}:{gone}:abcdef12")  # not our form
    assert not lease_owner_is_dead(owner_like(pid="x"))
    assert not lease_owner_is_dead(owner_like(pid=0))  # kill(0, 0) is our process group


@pytest.mark.skipif(os.name != "posix", reason="kill(pid, 0) is how a pid is looked up")
def test_a_zombie_and_another_users_process_count_as_alive() -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        if sys.platform.startswith("linux"):  # wait until it has exited, unreaped
            deadline = time.monotonic() + 10
            while _state(zombie.pid) != "Z":
                assert time.monotonic() < deadline
                time.sleep(0.01)
        else:
            time.sleep(1.0)
        assert not lease_owner_is_dead(owner_like(pid=zombie.pid))
    finally:
        zombie.wait()
    assert lease_owner_is_dead(owner_like(pid=zombie.pid))
    if os.geteuid() != 0:  # pid 1 exists and may not be signalled: PermissionError
        assert not lease_owner_is_dead(owner_like(pid=1))


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_a_run_takes_a_dead_holders_chunk_at_once_not_after_lease_s() -> None:
    # A process on this machine claimed the first chunk and died: with the
    # default lease_s (60 s) its chunk would be waited for a minute.
    generator = CountingGenerator()
    experiment = counting_experiment(generator, 100)
    store = InMemoryRunStore()
    run_id = experiment.compile().run_id
    dead = owner_like(pid=reaped_pid())
    held = store.claim_lease(run_id, "judge", dead, total=100, max_cases=32, lease_s=60.0)
    assert held.lease is not None and (held.lease.start, held.lease.stop) == (0, 32)
    started = time.monotonic()
    result = experiment.run(store=store)
    assert time.monotonic() - started < 20
    assert len(result.cases) == 100 and result.status is RunStatus.completed
    assert len(generator.calls) == 100 and set(generator.calls.values()) == {1}
    assert store.lease_holders(run_id, "judge") == []


def test_a_live_holders_chunk_is_never_released() -> None:
    # Another engine of this same process holds a chunk and keeps it: the
    # run waits for it rather than taking it (the pid is alive).
    generator = CountingGenerator()
    experiment = counting_experiment(generator, 40)
    store = InMemoryRunStore()
    run_id = experiment.compile().run_id
    alive = new_lease_owner()
    held = store.claim_lease(run_id, "judge", alive, total=40, max_cases=8, lease_s=1.0)
    assert held.lease is not None
    runtime = RuntimeConfig(lease_s=1.0, lease_poll_s=0.05)
    started = time.monotonic()
    result = experiment.run(store=store, runtime=runtime)
    assert time.monotonic() - started >= 0.9  # waited for the lease to expire
    assert len(result.cases) == 40 and set(generator.calls.values()) == {1}
