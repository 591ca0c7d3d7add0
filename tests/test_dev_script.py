"""`./dev`, the README's set-up command, works whatever PATH holds.

On a fresh machine uv is not on PATH: `./dev` installs it with pip and must
hand the tests a uv they can run from inside the project venv, where
`python3` is the venv's interpreter (which has no uv module). CI machines
often have uv on PATH, which hid this; so this test takes uv off PATH itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
UV_NAMES = {"uv", "uvx"}

# Runs inside the venv through ./dev: what tests/test_distributions.py does with THEMIS_UV.
INSIDE = """
import shutil, subprocess, sys
from tests.test_distributions import uv_command
assert shutil.which("uv") is None, shutil.which("uv")
assert sys.prefix != sys.base_prefix, "not inside the project venv"
done = subprocess.run([*uv_command(), "--version"], check=True, capture_output=True, text=True)
print(done.stdout)
"""


def _path_without_uv(shadow: Path) -> str:
    """PATH as a user's shell has it (no project venv), minus every uv.

    A folder that holds uv is replaced by ``shadow``, which links to everything
    in it except uv, so python3 and the shell tools stay reachable.
    """
    shadow.mkdir()
    entries: list[str] = []
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        folder = Path(entry) if entry else None
        if folder is None or folder.resolve() == VENV_BIN.resolve() or not folder.is_dir():
            continue
        if not any((folder / name).exists() for name in UV_NAMES):
            entries.append(entry)
            continue
        for item in folder.iterdir():
            if item.name not in UV_NAMES and not (shadow / item.name).exists():
                (shadow / item.name).symlink_to(item)
        if str(shadow) not in entries:
            entries.append(str(shadow))
    # `python3` must be a real interpreter, not the project venv's.
    python3 = shadow / "python3"
    if not python3.exists() and not any((Path(e) / "python3").exists() for e in entries):
        python3.symlink_to(Path(sys.base_prefix) / "bin" / "python3")
    return os.pathsep.join(entries)


def _install_probe(name: str = "themis-dev-probe") -> Path:
    """Install a distribution that no dependency group of the workspace names,
    as an installer would (a dist-info folder with its RECORD), so a sync that
    removes extraneous packages would remove it."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    probe = site / f"{name.replace('-', '_')}-0.0.0.dist-info"
    probe.mkdir(exist_ok=True)  # left over if an earlier run was killed
    (probe / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.0\n")
    (probe / "INSTALLER").write_text("uv\n")
    records = [f"{probe.name}/{name},," for name in ("METADATA", "INSTALLER", "RECORD")]
    (probe / "RECORD").write_text("\n".join(records) + "\n")
    return probe


@pytest.mark.slow
def test_dev_runs_with_uv_absent_from_path_and_keeps_other_packages(tmp_path: Path) -> None:
    probe = _install_probe()
    env = {
        key: value
        for key, value in os.environ.items()
        # What `uv run` and ./dev set for the suite; a user's shell has none of it.
        if key not in {"UV", "THEMIS_UV", "VIRTUAL_ENV", "UV_RUN_RECURSION_DEPTH"}
    }
    env["PATH"] = _path_without_uv(tmp_path / "bin")
    try:
        done = subprocess.run(
            ["/bin/sh", "./dev", "python", "-c", INSIDE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("uv "), done.stdout
        # A plain `uv sync` removes what other dependency groups installed
        # (the realmodel group, after every `./dev test`); ./dev must not.
        assert (probe / "METADATA").is_file(), "./dev uninstalled a package it did not install"
    finally:
        shutil.rmtree(probe, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("shell", ["bash", "bash --posix"])
def test_dev_runs_where_sh_is_bash(shell: str) -> None:
    """On macOS, Fedora or Arch `/bin/sh` is bash, and users type `bash ./dev`.

    bash treats some names as its own (``GROUPS`` holds the user's group ids
    and ignores assignments), so a script that is fine under dash can hand uv
    garbage there. ./dev must install the dev group and run the command.
    """
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"UV", "VIRTUAL_ENV", "UV_RUN_RECURSION_DEPTH"}
    }
    # A user's shell: the project venv is not on PATH.
    env["PATH"] = os.pathsep.join(
        entry
        for entry in env.get("PATH", "").split(os.pathsep)
        if entry and Path(entry).resolve() != VENV_BIN.resolve()
    )
    done = subprocess.run(
        [*shell.split(), "./dev", "python", "-c", "import pytest; print('dev ran')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "dev ran", done.stdout


@pytest.mark.slow
def test_dev_hands_the_tests_a_uv_whose_path_holds_a_space(tmp_path: Path) -> None:
    """uv in a folder such as ``/Users/Jane Doe/.local/bin`` (or a user base
    with a space) is one path: the tests must run it, not split it in two."""
    found = os.environ.get("THEMIS_UV") or shutil.which("uv")
    if found is None:
        pytest.skip("uv is not available (run the tests through ./dev test)")
    folder = tmp_path / "Jane Doe" / "bin"
    folder.mkdir(parents=True)
    (folder / "uv").symlink_to(found)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"UV", "THEMIS_UV", "VIRTUAL_ENV", "UV_RUN_RECURSION_DEPTH"}
    }
    user_path = _path_without_uv(tmp_path / "shadow")
    env["PATH"] = os.pathsep.join([str(folder), user_path])
    script = (
        "import os, subprocess\n"
        "from tests.test_distributions import uv_command\n"
        "assert ' ' in os.environ['THEMIS_UV'], os.environ['THEMIS_UV']\n"
        "print(subprocess.run([*uv_command(), '--version'], check=True,"
        " capture_output=True, text=True).stdout)\n"
    )
    done = subprocess.run(
        ["/bin/sh", "./dev", "python", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("uv "), done.stdout


def _prebuilt_llama_wheels() -> list[Path]:
    """The wheel folders .ci/run offers: ../shared/wheels, or UV_FIND_LINKS."""
    folders = [ROOT.parent / "shared" / "wheels"]
    folders += [Path(f) for f in os.environ.get("UV_FIND_LINKS", "").split(",") if f]
    return sorted(w for folder in folders for w in folder.glob("llama_cpp_python-*.whl"))


@pytest.mark.slow
def test_dev_takes_find_links_wheels_from_a_folder_whose_path_holds_a_space(
    tmp_path: Path,
) -> None:
    """A checkout with a lock made from the index, then `.ci/run` offering the
    prebuilt llama-cpp-python wheel through UV_FIND_LINKS: ./dev re-resolves
    that package so uv takes the wheel. A path with a space (a CI workspace
    named "My Project") is one find-links entry, not two."""
    wheels = _prebuilt_llama_wheels()
    if not wheels:
        pytest.skip("no prebuilt llama-cpp-python wheel beside this checkout")
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ROOT,
        checkout,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "__pycache__", "uv.lock", "*.sqlite*", ".themis", ".*_cache"
        ),
    )
    offered = tmp_path / "My Project" / "wheels"
    offered.mkdir(parents=True)
    (offered / wheels[-1].name).symlink_to(wheels[-1])
    env = {
        key: value
        for key, value in os.environ.items()
        # What .ci/run exports: the first ./dev must lock from the index alone,
        # and no test installs the realmodel group into this copy.
        if key
        not in {
            "UV",
            "VIRTUAL_ENV",
            "UV_RUN_RECURSION_DEPTH",
            "UV_FIND_LINKS",
            "UV_NO_BUILD_PACKAGE",
            "THEMIS_DEV_GROUPS",
        }
    }
    env["PATH"] = os.pathsep.join(
        entry
        for entry in env.get("PATH", "").split(os.pathsep)
        if entry and Path(entry).resolve() != VENV_BIN.resolve()
    )
    first = subprocess.run(
        ["/bin/sh", "./dev", "true"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr
    assert wheels[-1].name not in (checkout / "uv.lock").read_text()  # the index's release

    env |= {"UV_FIND_LINKS": str(offered), "UV_NO_BUILD_PACKAGE": "llama-cpp-python"}
    again = subprocess.run(
        ["/bin/sh", "./dev", "true"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert wheels[-1].name in (checkout / "uv.lock").read_text(), "the lock kept the index's"


OLD_UV = """#!/bin/sh
# A uv from before dependency groups: it knows its version and nothing else here.
if [ "$1" = "--version" ]; then echo "uv 0.4.20"; exit 0; fi
echo "error: unexpected argument '$*'" >&2
exit 2
"""


@pytest.mark.slow
def test_dev_passes_over_a_uv_on_path_too_old_for_the_workspace(tmp_path: Path) -> None:
    """Whatever PATH holds: an old uv there (no dependency groups) must not
    break the README's commands; ./dev uses a recent one from pip instead."""
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "uv").write_text(OLD_UV)
    (folder / "uv").chmod(0o755)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"UV", "THEMIS_UV", "VIRTUAL_ENV", "UV_RUN_RECURSION_DEPTH"}
    }
    env["PATH"] = os.pathsep.join([str(folder), _path_without_uv(tmp_path / "shadow")])
    script = "import os; print(os.environ['THEMIS_UV'])"
    done = subprocess.run(
        ["/bin/sh", "./dev", "python", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() != str(folder / "uv"), done.stdout
    assert "0.4.20" in done.stderr and "older" in done.stderr, done.stderr


@pytest.mark.slow
def test_dev_removes_the_stale_themis_core_and_says_so() -> None:
    """A venv synced before the rename holds ``themis-core``, whose entry points
    would register every builtin twice: ./dev removes that one distribution,
    and says so (it removes nothing silently)."""
    stale = _install_probe("themis-core")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"UV", "VIRTUAL_ENV", "UV_RUN_RECURSION_DEPTH"}
    }
    env["PATH"] = os.pathsep.join(  # a user's shell: the project venv is not on PATH
        entry
        for entry in env.get("PATH", "").split(os.pathsep)
        if entry and Path(entry).resolve() != VENV_BIN.resolve()
    )
    try:
        done = subprocess.run(
            ["/bin/sh", "./dev", "true"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr
        assert not stale.exists(), "the stale themis-core is still installed"
        assert "removing themis-core" in done.stderr, done.stderr
    finally:
        shutil.rmtree(stale, ignore_errors=True)
