"""A worker reads API keys from its own environment; the store never holds them.

The generator is the real openai adapter (the ``openai`` SDK over HTTP) against
a local OpenAI-compatible server, named by its entry point in the submission.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.adapters.fake_openai_server import running_server
from tests.cli.helpers import THEMIS
from tests.conftest import make_experiment
from themis import submit_experiment
from themis.core.config import GenerationConfig

SECRET = "sk-worker-secret-8c1d2e3f"
KEY_VARIABLE = "THEMIS_WORKER_TEST_KEY"


def stored_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.rglob(path.name + "*") if p.is_file())


def test_the_key_comes_from_the_workers_environment_and_is_never_stored(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.sqlite"
    environment = {k: v for k, v in os.environ.items() if k != KEY_VARIABLE}
    with running_server() as server:
        generator = {
            "id": "openai/generator",
            "options": {
                "model": "test-model",
                "api_mode": "chat_completions",
                "base_url": server.base_url,
                "api_key_env": KEY_VARIABLE,
            },
        }
        experiment = make_experiment(generation=GenerationConfig(generator=generator))
        run_id = submit_experiment(experiment, store=str(db))  # no key needed to submit
        assert server.requests == []  # and no model call

        def worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [THEMIS, "worker", "--store", str(db), "--run-id", run_id],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        keyless = worker(environment)
        assert keyless.returncode == 2, keyless.stderr
        assert KEY_VARIABLE in keyless.stderr and "Traceback" not in keyless.stderr

        done = worker({**environment, KEY_VARIABLE: SECRET})
        assert done.returncode == 0, done.stderr
        calls = server.received("/v1/chat/completions")
        assert len(calls) == 4
        assert {call.headers.get("authorization") for call in calls} == {f"Bearer {SECRET}"}
    assert SECRET.encode() not in stored_bytes(db)
