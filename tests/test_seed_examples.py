"""The seeds' code examples run unchanged, byte for byte as the seeds print them."""

from __future__ import annotations

import filecmp
import runpy
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "seed_examples"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "seed-examples"


def _run(name: str) -> dict[str, object]:
    namespace = runpy.run_path(str(HERE / name), run_name="seed_example")
    result = namespace["run_example"]()
    assert isinstance(result, dict)
    return result


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/ is not beside this checkout")
def test_vendored_examples_are_the_seeds_verbatim() -> None:
    for source in SHARED.glob("*.py"):
        vendored = HERE / source.name
        assert vendored.is_file(), f"{source.name} is not vendored into tests/seed_examples"
        assert filecmp.cmp(source, vendored, shallow=False), f"{source.name} differs from the seed"


def test_first_experiment() -> None:
    result = _run("000_first_experiment.py")
    assert result["status"] == "completed"
    assert str(result["run_id"]).startswith("run-")


def test_custom_generator() -> None:
    result = _run("001_custom_generator.py")
    assert result["status"] == "completed"


def test_rejudge_bundle() -> None:
    result = _run("003_rejudge_bundle.py")
    assert result["imported"] is True
    assert result["replayed_run_id"] == result["run_id"]
