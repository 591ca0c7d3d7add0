"""A throwaway PostgreSQL server for tests and benchmarks.

Debian's PostgreSQL server binaries (``/usr/lib/postgresql/15/bin`` on Debian
12, installed by ``.ci/run`` with apt when missing; ``THEMIS_PG_BIN`` points
elsewhere) create a fresh cluster in a temporary
directory and serve it on 127.0.0.1 at a free port; stopping removes it all.
``initdb`` refuses to run as root, so when we are root the cluster belongs
to the ``postgres`` user. Connections over TCP need a password (SCRAM), so
tests exercise the same authentication a shared server would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

VERSIONS_ROOT = Path("/usr/lib/postgresql")
"""Debian installs each major version's server under ``<root>/<major>/bin``."""
USER = "themis"
PASSWORD = "throwaway-s3cret"
"""The password of the test server's user: tests check it never leaks."""


def binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None when absent."""
    override = os.environ.get("THEMIS_PG_BIN")
    if override:
        candidates = [Path(override)]
    else:
        found = VERSIONS_ROOT.glob("*/bin") if VERSIONS_ROOT.is_dir() else []
        # Newest major first: 15 on Debian 12, whatever apt installs elsewhere.
        candidates = sorted(
            found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True
        )
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[str]:
    """Start a fresh cluster and yield its URL; stop and delete it afterwards.

    ``durable=False`` turns fsync off (tests); benchmarks pass True to
    measure the commits a real server makes.
    """
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="themis-pg-"))
    data = root / "data"
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    try:
        subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    USER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        port = _start(bin_dir, data, root, durable)
        try:
            yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                capture_output=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(bin_dir: Path, data: Path, root: Path, durable: bool) -> int:
    """Start the server on a free port (retrying if another process took it first)."""
    last = ""
    for _ in range(5):
        port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=200" + (
            "" if durable else " -c fsync=off -c synchronous_commit=off"
        )
        done = subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(root / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            return port
        log = root / "server.log"
        last = done.stderr + (log.read_text() if log.exists() else "")
    raise RuntimeError(f"PostgreSQL did not start: {last}")
