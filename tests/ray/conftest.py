"""One real local Ray for the whole session (starting one takes seconds).

It runs on 127.0.0.1 with 2 CPUs and no dashboard. Its workers inherit this
process's environment as it is when Ray starts, so the API key the OpenAI
tests send and the repository on PYTHONPATH (for tests/ray/components.py)
are set first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.adapters.conftest import SECRET_KEY
from tests.conftest import REPO_ROOT

API_KEY_ENV = "THEMIS_RAY_TEST_OPENAI_KEY"
"""The variable the OpenAI generator of the Ray tests reads its key from."""


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The GCS address of a local Ray started for the session, connected to."""
    import ray

    from themis.core.engine.ray_executor import local_ray_settings

    os.environ[API_KEY_ENV] = SECRET_KEY
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
    )
    # 127.0.0.1, and workers running this interpreter (not a `uv run` of a copy).
    local_ray_settings(ray)
    context = ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    try:
        yield str(context.address_info["gcs_address"])
    finally:
        ray.shutdown()
