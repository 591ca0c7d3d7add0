"""Each distribution builds a wheel on its own, carrying its entry points."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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


def uv_command() -> list[str]:
    """The uv ./dev runs: THEMIS_UV is its absolute path, which may hold spaces
    (``/Users/Jane Doe/...``), so it is one argument, never split."""
    configured = os.environ.get("THEMIS_UV")
    if configured:
        return [configured]
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
            [
                *uv_command(),
                "build",
                "--package",
                name,
                "--wheel",
                "--out-dir",
                str(out / name),
                "-q",
            ],
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


CORE_ALONE_LIMIT_MB = 80
"""A fresh venv holding the core wheel and its dependencies, bytecode compiled."""


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return total


@pytest.fixture(scope="module")
def core_alone(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the core wheel (no extras) and what it depends on."""
    venv = tmp_path_factory.mktemp("core-alone") / "venv"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [*uv_command(), "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env
    )
    subprocess.run(
        [
            *uv_command(),
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(venv / "bin" / "python"),
            str(wheels["themis-eval-core"]),
        ],
        check=True,
        env=env,
    )
    return venv


def _in(venv: Path, *command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THEMIS_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_core_wheel_alone_is_slim_and_has_no_numpy(core_alone: Path) -> None:
    size_mb = _tree_bytes(core_alone) / 1e6
    assert size_mb <= CORE_ALONE_LIMIT_MB, f"core alone takes {size_mb:.1f} MB"
    site = next(core_alone.glob("lib/python3*/site-packages"))
    assert not [p.name for p in site.iterdir() if p.name.startswith(("numpy", "scipy"))]


def test_core_wheel_alone_runs_and_reports_the_example(core_alone: Path, tmp_path: Path) -> None:
    example = tmp_path / "arithmetic"
    shutil.copytree(ROOT / "examples" / "arithmetic", example)
    config = str(example / "experiment.toml")
    done = _in(core_alone, "themis", "run", "--config", config, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"status": "completed"' in done.stdout, done.stdout

    # Reports show means and say how to get intervals.
    hint = "pip install 'themis-eval-core[stats]'"
    markdown = _in(core_alone, "themis", "report", "--config", config, cwd=tmp_path)
    assert markdown.returncode == 0, markdown.stderr
    assert re.search(r"\| builtin/exact_match \| \d\.\d{3} \| 8 \| 0 \|", markdown.stdout)
    assert "CI |" not in markdown.stdout, markdown.stdout
    assert "No confidence intervals: they need numpy and scipy" in markdown.stdout
    assert hint in markdown.stdout
    for form in ("json", "latex"):
        other = _in(
            core_alone, "themis", "report", "--config", config, "--format", form, cwd=tmp_path
        )
        assert other.returncode == 0 and hint in other.stdout, other.stdout + other.stderr

    # What needs statistics fails naming the extra: a comparison, on the CLI and in Python.
    compare = _in(
        core_alone,
        "themis",
        "compare",
        "--baseline-config",
        config,
        "--candidate-config",
        config,
        cwd=tmp_path,
    )
    assert compare.returncode == 2 and hint in compare.stderr, compare.stdout + compare.stderr
    assert "Traceback" not in compare.stderr
    script = (
        "from themis import StatsEngine\n"
        "from themis.core.analysis.stats import StatsUnavailableError\n"
        "try:\n"
        "    StatsEngine().summarize_values('m', [1.0, 0.0])\n"
        "except StatsUnavailableError as error:\n"
        "    print(error)\n"
    )
    python = _in(core_alone, "python", "-c", script, cwd=tmp_path)
    assert python.returncode == 0 and hint in python.stdout, python.stdout + python.stderr


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(name).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]


def test_the_catalog_pulls_statistics_and_the_adapters_do_not(wheels: dict[str, Path]) -> None:
    # Benchmark results are reported with intervals; an adapter only talks to a model.
    core_requirements = [r for r in _requires(wheels["themis-catalog"]) if "themis-eval-core" in r]
    assert core_requirements and all("[stats]" in r for r in core_requirements)
    for adapter in ("themis-adapters-openai", "themis-adapters-vllm", "themis-adapters-langgraph"):
        core = [r for r in _requires(wheels[adapter]) if r.startswith("themis-eval-core")]
        assert core and not any("[" in r for r in core), core
    core_alone = [r for r in _requires(wheels["themis-eval-core"]) if "extra ==" not in r]
    assert not [r for r in core_alone if r.startswith(("numpy", "scipy"))], core_alone


IMPORT_PACKAGES = {
    "themis-eval-core": "themis",
    "themis-adapters-openai": "themis_adapters_openai",
    "themis-adapters-vllm": "themis_adapters_vllm",
    "themis-adapters-langgraph": "themis_adapters_langgraph",
    "themis-catalog": "themis_catalog",
}


def _metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return archive.read(name).decode()


def test_every_wheel_is_fit_to_publish(wheels: dict[str, Path]) -> None:
    """py.typed, the license text, classifiers and a README that is its index page."""
    license_text = (ROOT / "LICENSE").read_bytes()
    for name, wheel in wheels.items():
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            licenses = [n for n in names if ".dist-info/licenses/" in n]
            assert [n.rsplit("/", 1)[1] for n in licenses] == ["LICENSE"], (name, licenses)
            assert archive.read(licenses[0]) == license_text, name
        assert f"{IMPORT_PACKAGES[name]}/py.typed" in names, name
        metadata = _metadata(wheel)
        headers, _, description = metadata.partition("\n\n")
        assert "License-Expression: Apache-2.0" in headers, name
        assert "Classifier: Typing :: Typed" in headers, name
        assert "Classifier: Programming Language :: Python :: 3.11" in headers, name
        assert "Description-Content-Type: text/markdown" in headers, name
        assert description.startswith(f"# {name}\n") and f"pip install {name}" in description


def test_each_distribution_folder_carries_the_repository_license() -> None:
    # hatchling packs a distribution's own LICENSE; all of them are the root one.
    for folder in ("themis-core", *[n for n in IMPORT_PACKAGES if n != "themis-eval-core"]):
        assert (ROOT / folder / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


def test_psycopg_comes_only_with_the_postgres_extra(wheels: dict[str, Path]) -> None:
    points = _entry_points(wheels["themis-eval-core"])
    assert "postgres = themis.core.storage.stores.postgres:PostgresRunStore" in points
    requires = [
        line.split(":", 1)[1].strip()
        for line in _metadata(wheels["themis-eval-core"]).splitlines()
        if line.startswith("Requires-Dist:")
    ]
    psycopg = [line for line in requires if line.startswith("psycopg")]
    assert psycopg and all("extra == 'postgres'" in line for line in psycopg), psycopg
