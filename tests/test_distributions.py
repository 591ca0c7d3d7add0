"""Each distribution builds a wheel on its own, carrying its entry points."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTIONS = [
    "themis-eval-core",
    "themis-adapters-openai",
    "themis-adapters-vllm",
    "themis-adapters-langgraph",
    "themis-catalog",
]


def _uv() -> list[str]:
    configured = os.environ.get("THEMIS_UV")
    if configured:
        return shlex.split(configured)
    found = shutil.which("uv")
    if found is None:
        pytest.skip("uv is not available (run the tests through ./dev test)")
    return [found]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    built: dict[str, Path] = {}
    for name in DISTRIBUTIONS:
        subprocess.run(
            [*_uv(), "build", "--package", name, "--wheel", "--out-dir", str(out / name), "-q"],
            cwd=ROOT,
            check=True,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
        (wheel,) = (out / name).glob("*.whl")
        built[name] = wheel
    return built


def _entry_points(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        return archive.read(names[0]).decode() if names else ""


def test_every_distribution_builds_its_own_wheel(wheels: dict[str, Path]) -> None:
    assert sorted(wheels) == sorted(DISTRIBUTIONS)
    for name, wheel in wheels.items():
        assert wheel.name.startswith(name.replace("-", "_") + "-")


def test_core_wheel_registers_builtins_and_the_cli(wheels: dict[str, Path]) -> None:
    points = _entry_points(wheels["themis-eval-core"])
    assert "[themis.metrics]" in points and "builtin/exact_match" in points
    assert "[console_scripts]" in points and "themis = themis.cli.main:main" in points
    with zipfile.ZipFile(wheels["themis-eval-core"]) as archive:
        names = archive.namelist()
    assert "themis/core/engine/runner.py" in names
    assert not any(n.startswith(("themis_adapters", "themis_catalog")) for n in names)
