"""A local sandbox for running model-written Python programs.

Each program runs in its own interpreter process, in a fresh temporary
directory, with a scrubbed environment and:

- resource limits (``setrlimit``): CPU seconds, address space, file size,
  number of processes, no core dumps;
- a wall-clock timeout, after which the whole process group is killed;
- no network: the program runs in a new network namespace (no interfaces but
  a loopback that is down) where the platform allows it; otherwise the socket
  module is disabled inside the program (best effort, stated in the result);
- when Themis runs as root, where ``RLIMIT_NPROC`` does not apply, the program
  and everything it starts go into a fresh ``pids`` cgroup capped at
  ``max_processes``, which is also how stragglers are found and killed.

This stops accidents (infinite loops, fork bombs, memory hogs, stray network
calls) from hanging or harming a run. It is not a security boundary against
hostile code: the program runs as the same user, so run untrusted code in a
container or VM as well.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Literal

from pydantic import Field

from themis.core.models import FrozenModel

Status = Literal[
    "passed", "failed", "timeout", "cpu_limit", "memory_limit", "file_size_limit", "killed"
]

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000

# Runs inside the sandboxed interpreter before the program: join the cgroup,
# leave the network, set the limits, then run the program as __main__.
_BOOTSTRAP = r"""
import json, os, resource, sys
config = json.loads(sys.argv[1])
report = {"network": "socket-guard", "cgroup": False, "unenforced": []}
if config["cgroup"]:
    try:
        with open(os.path.join(config["cgroup"], "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))
        report["cgroup"] = True
    except OSError:
        pass
try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for flags in config["unshare_flags"]:
        if libc.unshare(flags) == 0:
            report["network"] = "namespace"
            break
except Exception:
    pass
def limit(name, soft, hard=None):
    try:
        kind = getattr(resource, name)
        resource.setrlimit(kind, (soft, soft if hard is None else hard))
    except (AttributeError, ValueError, OSError):
        report["unenforced"].append(name)
limit("RLIMIT_CPU", config["cpu_seconds"], config["cpu_seconds"] + 1)
limit("RLIMIT_AS", config["memory_bytes"])
limit("RLIMIT_FSIZE", config["file_size_bytes"])
limit("RLIMIT_NPROC", config["max_processes"])
limit("RLIMIT_CORE", 0)
with open(config["report"], "w") as handle:
    json.dump(report, handle)
if report["network"] != "namespace":
    import socket
    def _no_network(*args, **kwargs):
        raise OSError(101, "network access is disabled in the Themis sandbox")
    for name in ("connect", "connect_ex", "bind", "sendto", "sendmsg"):
        setattr(socket.socket, name, _no_network)
    socket.create_connection = socket.getaddrinfo = _no_network
del config, report, limit, json, os, resource
import runpy
sys.argv = ["main.py"]
runpy.run_path("main.py", run_name="__main__")
"""


class SandboxLimits(FrozenModel):
    """Limits for one program. Identity-bearing for metrics that execute code."""

    cpu_seconds: int = Field(default=5, ge=1)
    wall_seconds: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=512, ge=64)
    file_size_mb: int = Field(default=16, ge=1)
    max_processes: int = Field(default=16, ge=1)
    output_chars: int = Field(default=8000, ge=0)


class ExecutionResult(FrozenModel):
    """How a program ended, and how it was isolated."""

    status: Status
    exit_code: int | None = None
    signal: str | None = None
    stdout: str = ""
    stderr: str = ""
    duration_ms: float
    network_isolation: Literal["namespace", "socket-guard"]
    process_limit: Literal["cgroup", "rlimit", "rlimit-not-enforced-for-root"]
    unenforced_limits: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


_SIGNAL_STATUS: dict[int, Status] = {
    signal.SIGXCPU: "cpu_limit",
    signal.SIGXFSZ: "file_size_limit",
}


def _pids_cgroup_root() -> Path | None:
    """Where this process may create a pids cgroup (root only), else None."""
    if os.geteuid() != 0:
        return None
    for candidate in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if (candidate / "cgroup.procs").is_file() and os.access(candidate, os.W_OK):
            controllers = candidate / "cgroup.controllers"
            if candidate.name == "pids" or (
                controllers.is_file() and "pids" in controllers.read_text().split()
            ):
                return candidate
    return None


class _Cgroup:
    """A fresh pids cgroup: caps process count and finds every straggler."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, root: Path, max_processes: int) -> _Cgroup | None:
        """A new cgroup under ``root``, or None when this system does not allow one."""
        path = root / f"themis-sandbox-{uuid.uuid4().hex[:16]}"
        try:
            path.mkdir()
        except OSError:
            return None
        cgroup = cls(path)
        try:
            (path / "pids.max").write_text(str(max_processes))
        except OSError:
            cgroup.remove()
            return None
        return cgroup

    def kill_all(self) -> None:
        for _ in range(100):
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.01)


def _read(path: Path, limit: int) -> str:
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    return text + "\n...[truncated]" if len(data) > limit else text


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_python(source: str, limits: SandboxLimits | None = None) -> ExecutionResult:
    """Run ``source`` as ``__main__`` in the sandbox and say how it ended.

    Blocking; safe to call from several threads at once.
    """
    limits = limits or SandboxLimits()
    base = Path(tempfile.mkdtemp(prefix="themis-sandbox-"))
    work = base / "work"
    work.mkdir()
    (work / "main.py").write_text(source, encoding="utf-8")
    cgroup_root = _pids_cgroup_root()
    cgroup = _Cgroup.create(cgroup_root, limits.max_processes) if cgroup_root else None
    as_root = os.geteuid() == 0
    config = {
        "cgroup": str(cgroup.path) if cgroup else None,
        "unshare_flags": [_CLONE_NEWNET] if as_root else [_CLONE_NEWUSER | _CLONE_NEWNET],
        "report": str(base / "isolation.json"),
        "cpu_seconds": limits.cpu_seconds,
        "memory_bytes": limits.memory_mb * 1024 * 1024,
        "file_size_bytes": limits.file_size_mb * 1024 * 1024,
        "max_processes": limits.max_processes,
    }
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
    }
    command = [sys.executable, "-I", "-S", "-B", "-c", _BOOTSTRAP, json.dumps(config)]
    timed_out = False
    started = time.perf_counter()
    try:
        with (base / "stdout").open("wb") as out, (base / "stderr").open("wb") as err:
            process = subprocess.Popen(
                command,
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
            try:
                process.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(process.pid)
                if cgroup:
                    cgroup.kill_all()
                process.wait()
            _kill_group(process.pid)
        duration_ms = (time.perf_counter() - started) * 1000
        if cgroup:
            cgroup.kill_all()
        stdout = _read(base / "stdout", limits.output_chars)
        stderr = _read(base / "stderr", limits.output_chars)
        report_file = base / "isolation.json"
        report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    finally:
        if cgroup:
            cgroup.remove()
        shutil.rmtree(base, ignore_errors=True)
    code = process.returncode
    status: Status
    signal_name: str | None = None
    if timed_out:
        status = "timeout"
    elif code < 0:
        try:
            signal_name = signal.Signals(-code).name
        except ValueError:
            signal_name = f"signal {-code}"
        status = _SIGNAL_STATUS.get(-code, "killed")
        if -code == signal.SIGKILL and duration_ms / 1000 >= limits.cpu_seconds:
            status = "cpu_limit"  # the hard CPU limit ends with SIGKILL
    elif code != 0:
        status = (
            "memory_limit"
            if "MemoryError" in stderr
            else "file_size_limit"
            if "File too large" in stderr
            else "failed"
        )
    else:
        status = "passed"
    in_cgroup = bool(report.get("cgroup"))
    return ExecutionResult(
        status=status,
        exit_code=None if code is None or code < 0 else code,
        signal=signal_name,
        stdout=stdout,
        stderr=stderr,
        duration_ms=duration_ms,
        network_isolation=report.get("network", "socket-guard"),
        process_limit=(
            "cgroup" if in_cgroup else "rlimit-not-enforced-for-root" if as_root else "rlimit"
        ),
        unenforced_limits=list(report.get("unenforced", [])),
    )


_slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def run_python_bounded(source: str, limits: SandboxLimits | None = None) -> ExecutionResult:
    """:func:`run_python`, at most one program per CPU at a time in this process."""
    with _slots:
        return run_python(source, limits)
