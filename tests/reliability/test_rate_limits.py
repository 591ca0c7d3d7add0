"""Provider rate limits: configured limits, ``x-ratelimit-*`` headers and 429s.

Every run here talks HTTP to a local server that counts, and may enforce, a
requests and tokens quota per sliding window (``rate_limit_server.py``),
through the real adapters. The limits' unit is the minute; these tests
shorten the engine's minute to one second (``SECONDS_PER_MINUTE``) and give
the server a one-second window, so a run takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.adapters.conftest import experiment
from tests.cli.helpers import themis, user_error, write_config
from tests.conftest import REPO_ROOT
from tests.reliability.rate_limit_server import RateLimitServer, openai_duration, rate_limit_server
from themis import Experiment, RuntimeConfig
from themis.adapters import openai, vllm
from themis.core.config import EvaluationConfig, RateLimit
from themis.core.engine import ratelimit
from themis.core.engine.policy import CallPolicy
from themis.core.engine.ratelimit import RateLimiter, parse_reset, quotas_from_headers
from themis.core.models import RunStatus
from themis_adapters_openai import openai_judge

MODEL = "test-model"


@pytest.fixture(autouse=True)
def _fast_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rate-limit-test")
    monkeypatch.setattr(ratelimit, "SECONDS_PER_MINUTE", 1.0)


@pytest.fixture
def server() -> Iterator[RateLimitServer]:
    with rate_limit_server(window_s=1.0) as instance:
        yield instance


def generator_for(adapter: str, server: RateLimitServer, **options: Any) -> Any:
    if adapter == "openai":
        return openai(MODEL, api_mode="chat_completions", base_url=server.base_url, **options)
    return vllm(MODEL, server.base_url, **options)


def failures(result: Any) -> list[Any]:
    return [case.errors for case in result.cases if case.errors]


# -- configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"openai": {"requests_per_minute": 0}}, "provider_rate_limits.openai.requests_per_minute"),
        ({"openai": {"tokens_per_minute": -5}}, "provider_rate_limits.openai.tokens_per_minute"),
        ({"openai": {"requests_per_minute": "many"}}, "provider_rate_limits.openai"),
        ({"openai": {"requests_per_minute": True}}, "provider_rate_limits.openai"),
        ({"openai": {"requests_per_minute": float("inf")}}, "provider_rate_limits.openai"),
        ({"openai:gpt-4o": {"request_per_minute": 5}}, "provider_rate_limits.openai:gpt-4o"),
        ({"openai": {}}, "set requests_per_minute, tokens_per_minute or both"),
        ({"openai": 500}, "provider_rate_limits.openai"),
        ({"openai:": {"requests_per_minute": 5}}, "bad key 'openai:'"),
        ({"": {"requests_per_minute": 5}}, "bad key ''"),
        ({" openai": {"requests_per_minute": 5}}, "bad key ' openai'"),
        ({"openai: gpt-4o": {"requests_per_minute": 5}}, "bad key 'openai: gpt-4o'"),
        ({"openai/generator": {"requests_per_minute": 5}}, "bad key 'openai/generator'"),
    ],
)
def test_bad_rate_limits_are_refused_naming_the_key(limits: Any, named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RuntimeConfig(provider_rate_limits=limits)
    assert named in str(caught.value)


def test_rate_limit_keys_take_a_provider_or_a_provider_and_model() -> None:
    runtime = RuntimeConfig(
        provider_rate_limits={
            "openai": {"requests_per_minute": 10_000},
            "openai:gpt-4o-mini": {"requests_per_minute": 500, "tokens_per_minute": 200_000},
            # Everything after the first colon is the model, and model ids hold colons.
            "openai:ft:gpt-4o-mini:acme::abc123": {"tokens_per_minute": 1e6},
        }
    )
    assert runtime.provider_rate_limits["openai:gpt-4o-mini"].tokens_per_minute == 200_000


def test_a_bad_rate_limit_in_a_config_file_is_refused_before_any_work(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with pytest.raises(Exception) as caught:
        Experiment.from_config(
            config, overrides=["runtime.provider_rate_limits.builtin.requests_per_minute=0"]
        )
    assert "provider_rate_limits.builtin.requests_per_minute" in str(caught.value)
    ok = Experiment.from_config(
        config, overrides=["runtime.provider_rate_limits.builtin.requests_per_minute=600"]
    )
    assert ok.runtime.provider_rate_limits["builtin"].requests_per_minute == 600


def test_themis_run_refuses_a_bad_rate_limit_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    line = user_error(
        themis(
            "run", "-c", config,
            "--set", "runtime.provider_rate_limits.openai:gpt-4o-mini.tokens_per_minute=-1",
            cwd=tmp_path,
        )
    )  # fmt: skip
    assert "runtime.provider_rate_limits.openai:gpt-4o-mini.tokens_per_minute" in line
    assert not (tmp_path / "runs.sqlite").exists()  # refused before any work


def test_a_rate_limit_naming_nothing_in_the_run_is_reported(
    server: RateLimitServer, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = RuntimeConfig(
        progress="off",
        provider_rate_limits={
            "openai:test-modle": {"requests_per_minute": 1000},
            f"openai:{MODEL}": {"requests_per_minute": 1000},
        },
    )
    with caplog.at_level(logging.WARNING):
        experiment(generator_for("openai", server)).run(runtime=runtime)
    named = [r.getMessage() for r in caplog.records if "provider_rate_limits" in r.getMessage()]
    assert len(named) == 1 and "'openai:test-modle'" in named[0], named


# -- reading the provider's headers ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("6m0s", 360.0), ("20ms", 0.02), ("1s", 1.0), ("1.5s", 1.5), ("1h2m3s", 3723.0),
     ("0.25", 0.25), ("7m12.5s", 432.5), ("soon", None), ("", None), (None, None)],
)  # fmt: skip
def test_reset_durations_read_like_openai_writes_them(value: Any, seconds: Any) -> None:
    assert parse_reset(value) == (pytest.approx(seconds) if seconds is not None else None)


def test_openai_duration_round_trips_through_the_parser() -> None:
    for seconds in (0.02, 0.5, 1.5, 59.0, 61.5, 360.0):
        assert parse_reset(openai_duration(seconds)) == pytest.approx(seconds, rel=0.01)


def test_headers_give_each_dimension_its_quota() -> None:
    quotas = quotas_from_headers(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "200000",
            "x-ratelimit-remaining-tokens": "nonsense",
        }
    )
    assert quotas["requests"].limit == 500 and quotas["requests"].reset_s == pytest.approx(0.12)
    assert quotas["tokens"].limit == 200_000 and quotas["tokens"].remaining is None


@pytest.mark.parametrize(("per_minute", "cost"), [(20, 1), (500, 1), (90_000, 700)])
def test_no_sliding_minute_admits_more_than_the_limit(per_minute: float, cost: float) -> None:
    """A strict provider counts every request in any sliding minute: pacing at
    exactly the limit after a full bucket would let one bucket's worth too many
    through at each minute's edge (a 429, a failed case without retries)."""
    bucket = ratelimit.Bucket(per_minute)
    now, admitted = 0.0, []
    while now < 3 * ratelimit.SECONDS_PER_MINUTE:
        now += bucket.wait_s(cost, now)
        bucket.take(cost)
        admitted.append(now)
    start = 0
    for end, at in enumerate(admitted):  # any closed minute [at - 60 s, at]
        while admitted[start] < at - ratelimit.SECONDS_PER_MINUTE:
            start += 1
        assert (end - start + 1) * cost <= per_minute, f"{end - start + 1} calls in a minute"
    # and the run still uses the limit: the last minute admits nearly all of it
    last_minute = [at for at in admitted if at > now - ratelimit.SECONDS_PER_MINUTE]
    assert len(last_minute) * cost >= 0.95 * per_minute


def test_a_spent_quota_holds_the_key_for_a_refill_not_for_a_full_reset() -> None:
    limiter = RateLimiter({})
    budget = limiter.budget("openai:m")
    now = time.monotonic()
    headers = {
        "x-ratelimit-limit-requests": "600",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "6m0s",  # OpenAI: until the quota is full again
    }
    budget.observe(quotas_from_headers(headers), now, others_in_flight=0)
    held = budget.blocked_until - now
    assert 0 < held <= ratelimit.SECONDS_PER_MINUTE / 61 + 1e-9
    assert limiter.state()["openai:m"]["learned_requests_per_minute"] == 600


def test_workers_share_every_limit() -> None:
    limiter = RateLimiter({"openai": RateLimit(requests_per_minute=600, tokens_per_minute=90_000)})
    limiter.set_workers(3)
    learned = limiter.budget("openai:m")  # made after the share was set
    learned.observe(quotas_from_headers({"x-ratelimit-limit-tokens": "30000"}), time.monotonic(), 0)
    state = limiter.state()
    assert state["openai"]["requests_per_minute"] == 200
    assert state["openai"]["tokens_per_minute"] == 30_000
    assert state["openai:m"]["tokens_per_minute"] == 10_000
    limiter.set_workers(1)
    assert limiter.state()["openai"]["requests_per_minute"] == 600


# -- configured limits, through whole runs ------------------------------------------------


def test_a_run_stays_under_its_requests_per_minute(
    server: RateLimitServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.enforce = False  # the server only counts: the engine alone keeps the limit
    server.send_headers = False
    limit = 20
    runtime = RuntimeConfig(
        progress="off",
        max_concurrent_tasks=16,
        # Waiting for the bucket spends no retry and is no part of a call's time limit.
        max_retries=0,
        task_timeout_s=0.5,
        provider_rate_limits={"openai": {"requests_per_minute": limit}},
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="themis.core.engine.ratelimit"):
        result = experiment(generator_for("openai", server), count=40).run(runtime=runtime)
    elapsed = time.monotonic() - started

    assert result.status is RunStatus.completed, failures(result)
    most, _ = server.most_in_any_window()
    assert most <= limit + 1, most  # one request of tolerance for network jitter
    assert len(server.accepted) == 40
    assert elapsed >= 40 / limit - 0.5  # paced, not sent at once
    notices = [r.getMessage() for r in caplog.records if "pacing calls to openai" in r.getMessage()]
    assert len(notices) == 1, notices  # said once, not per call
    assert f"{limit:g} requests/min" in notices[0]


def test_a_run_stays_under_its_tokens_per_minute(server: RateLimitServer) -> None:
    server.enforce = False
    server.send_headers = False
    limit = 600
    runtime = RuntimeConfig(
        progress="off",
        provider_rate_limits={f"openai:{MODEL}": {"tokens_per_minute": limit}},
    )
    generator = generator_for("openai", server, max_output_tokens=8)
    result = experiment(generator, count=60).run(runtime=runtime)

    assert result.status is RunStatus.completed, failures(result)
    costs = [cost for _, cost in server.accepted]
    _, most_tokens = server.most_in_any_window()
    assert most_tokens <= limit + max(costs), (most_tokens, costs[:3])
    # Paced by tokens: 60 calls of ~15 tokens is about 1.5 limits' worth.
    assert sum(costs) > limit
    assert server.accepted[-1][0] - server.accepted[0][0] >= sum(costs) / limit - 1.2


def test_a_judge_models_limit_paces_its_calls_and_nothing_else() -> None:
    with rate_limit_server(
        window_s=1.0, enforce=False, send_headers=False, models=(MODEL, "judge-model")
    ) as server:
        server.answer = lambda path, body: (
            "VERDICT: PASS\nSCORE: 1" if "Rubric:" in json.dumps(body) else "4"
        )
        judge = openai_judge("judge-model", api_mode="chat_completions", base_url=server.base_url)
        limit = 15
        result = experiment(
            generator_for("openai", server),
            count=30,
            evaluation=EvaluationConfig(
                metrics=["builtin/llm_rubric"],
                parsers=["builtin/json_identity"],
                judge_models=[judge],
            ),
        ).run(
            runtime=RuntimeConfig(
                progress="off",
                provider_rate_limits={"openai:judge-model": {"requests_per_minute": limit}},
            )
        )
    assert result.status is RunStatus.completed, failures(result)
    judged, generated = server.arrivals("judge-model"), server.arrivals(MODEL)
    assert len(judged) == len(generated) == 30
    assert server.most_in_any_window(model="judge-model")[0] <= limit + 1
    assert judged[-1] - judged[0] >= 30 / limit - 0.5  # the judge's calls were paced
    assert server.most_in_any_window(model=MODEL)[0] > limit + 1  # the generator's were not


# -- the provider's headers alone ----------------------------------------------------------


@pytest.mark.parametrize("adapter", ["openai", "vllm"])
def test_with_headers_alone_the_run_follows_the_providers_limit(adapter: str) -> None:
    """No configured limit: the server's x-ratelimit-* headers pace the run, so it
    meets far fewer 429s than the same run against a server that sends none."""
    runtime = RuntimeConfig(
        progress="off", max_concurrent_tasks=8, max_retries=10, retry_max_delay_s=1.0
    )
    rejected = {}
    for headers in (True, False):
        with rate_limit_server(requests=15, window_s=1.0, send_headers=headers) as server:
            result = experiment(generator_for(adapter, server), count=30).run(runtime=runtime)
            assert result.status is RunStatus.completed, failures(result)
            rejected[headers] = server.rejected
    assert rejected[True] <= 4, rejected
    assert rejected[True] * 3 < rejected[False], rejected


def test_headers_teach_the_policy_the_limit_and_what_is_left(server: RateLimitServer) -> None:
    server.request_limit = 30
    server.token_limit = 100_000
    judge = openai_judge(MODEL, api_mode="chat_completions", base_url=server.base_url)
    # Before the first answer nothing is known: the first wave (8) fits the quota.
    policy = CallPolicy(RuntimeConfig(max_concurrent_tasks=8), {"openai/judge": "openai"})

    async def calls(count: int) -> None:
        async def one(index: int) -> Any:
            return await policy.call(
                "openai/judge",
                lambda: judge.judge(f"grade {index}", seed=index),
                component=judge,
                prompt=f"grade {index}",
            )

        await asyncio.gather(*(one(i) for i in range(count)))
        await judge.aclose()

    asyncio.run(calls(40))
    state = policy.rate_limits.state()[f"openai:{MODEL}"]
    assert state["learned_requests_per_minute"] == 30
    assert state["learned_tokens_per_minute"] == 100_000
    assert state["waits"] >= 1
    assert server.rejected == 0
    assert server.most_in_any_window()[0] <= 30


# -- 429s: adaptive concurrency and Retry-After ---------------------------------------------


def test_a_burst_of_429s_shrinks_concurrency_which_grows_back(server: RateLimitServer) -> None:
    server.latency_s = 0.01
    judge = openai_judge(MODEL, api_mode="chat_completions", base_url=server.base_url)
    runtime = RuntimeConfig(
        max_concurrent_tasks=8,
        max_retries=10,
        retry_initial_delay_s=0.001,
        retry_max_delay_s=0.01,
        circuit_breaker_threshold=100,
    )
    policy = CallPolicy(runtime, {"openai/judge": "openai"})
    key = f"openai:{MODEL}"
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async def one(index: int) -> Any:
            return await policy.call(
                "openai/judge", lambda: judge.judge("grade", seed=index), component=judge
            )

        server.reject_next(24, retry_after_s=0.05)
        burst_started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(32)))
        seen["burst"] = dict(policy.rate_limits.state()[key])
        seen["burst_s"] = time.monotonic() - burst_started
        await asyncio.gather(*(one(i) for i in range(120)))
        seen["after"] = dict(policy.rate_limits.state()[key])
        await judge.aclose()

    asyncio.run(scenario())
    burst, after = seen["burst"], seen["after"]
    assert burst["rate_limited"] == 24
    assert burst["decreases"] >= 2  # halved more than once: 8 -> 4 -> 2 ...
    assert burst["lowest_concurrency"] <= 2
    assert after["concurrency"] == after["concurrency_cap"] == 8  # grown back to its cap
    assert seen["burst_s"] >= 0.05  # Retry-After held the key's calls
    assert max(count for _, count in server.peak_in_flight) <= 8


def test_retry_after_holds_every_call_of_the_key(server: RateLimitServer) -> None:
    judge = openai_judge(MODEL, api_mode="chat_completions", base_url=server.base_url)
    runtime = RuntimeConfig(max_retries=3, retry_initial_delay_s=0.001, retry_max_delay_s=2.0)
    policy = CallPolicy(runtime, {"openai/judge": "openai"})

    async def scenario() -> None:
        async def one(index: int) -> Any:
            return await policy.call(
                "openai/judge", lambda: judge.judge("grade", seed=index), component=judge
            )

        server.reject_next(1, retry_after_s=0.5)
        first = asyncio.ensure_future(one(1))
        while not policy.rate_limits.state().get(f"openai:{MODEL}", {}).get("rate_limited"):
            await asyncio.sleep(0.005)  # until its 429 is back: the key is held
        await asyncio.gather(first, *(one(i) for i in range(2, 6)))
        await judge.aclose()

    asyncio.run(scenario())
    assert server.rejected == 1
    assert len(server.accepted) == 5
    # Neither the retry nor the calls made after the 429 went out before Retry-After.
    assert min(at for at, _ in server.accepted) - server.rejected_at[0] >= 0.48


# -- several processes on one run ----------------------------------------------------------


def test_processes_sharing_a_run_share_its_rate_limit(tmp_path: Path) -> None:
    """Two processes run one run on one SQLite store: each paces at its share
    (the limit divided by the live workers the lease table counts), so the
    server sees the limit, not twice it."""
    limit, cases = 40, 160
    with rate_limit_server(window_s=1.0, enforce=False, send_headers=False) as server:
        outs = [tmp_path / f"out{i}.json" for i in range(2)]
        workers = [
            subprocess.Popen(
                [
                    sys.executable, "-m", "tests.reliability.rate_limited_worker",
                    server.base_url, str(tmp_path / "runs.sqlite"), str(limit), str(cases),
                    str(out), str(tmp_path / "barrier"), "2",
                ],
                cwd=REPO_ROOT,
            )
            for out in outs
        ]  # fmt: skip
        for process in workers:
            assert process.wait(timeout=120) == 0
    results = [json.loads(out.read_text()) for out in outs]
    assert all(r["status"] == "completed" and r["cases"] == cases for r in results), results
    assert len(server.accepted) == cases  # the run was shared, not done twice
    by_process = {r["generated_here"] for r in results}
    assert min(by_process) >= cases / 4, results  # side by side, each a good part
    arrivals = [at for at, _ in server.accepted]
    most, _ = server.most_in_any_window()
    # Before the second process registers, the first runs alone at the whole
    # limit; after that, each heartbeat (a quarter of lease_s) refreshes the share.
    assert most <= limit * 1.25 + 1, most
    assert arrivals[-1] - arrivals[0] >= cases / limit - 1.5
