"""The code sandbox: hostile programs are stopped and fail, quickly."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from themis_catalog.sandbox import SandboxLimits, run_python

QUICK = SandboxLimits(cpu_seconds=1, wall_seconds=2, memory_mb=256, max_processes=8)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A real TCP server on 127.0.0.1 that a sandboxed program tries to reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    yield server
    server.close()


def test_a_correct_program_passes_and_its_output_is_kept() -> None:
    result = run_python("print('hello from the sandbox')", QUICK)
    assert result.passed and result.exit_code == 0
    assert result.unenforced_limits == []
    assert "hello from the sandbox" in result.stdout


def test_a_failing_assertion_fails() -> None:
    result = run_python("assert 1 + 1 == 3, 'arithmetic'", QUICK)
    assert result.status == "failed" and result.exit_code == 1
    assert "AssertionError: arithmetic" in result.stderr


def test_an_infinite_loop_is_stopped_by_the_cpu_limit() -> None:
    result = run_python("while True:\n    pass", QUICK)
    assert result.status in ("cpu_limit", "timeout")
    assert result.duration_ms < 3000


def test_a_sleeping_program_is_stopped_by_the_wall_clock() -> None:
    result = run_python("import time\ntime.sleep(60)", QUICK)
    assert result.status == "timeout"
    assert result.duration_ms < 3000


def test_a_fork_bomb_is_contained_and_leaves_nothing_behind(tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    bomb = (
        "import os, time\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        f"time.sleep(3)\nopen({str(marker)!r}, 'w').write('still running')\n"
    )
    result = run_python(bomb, QUICK)
    assert not result.passed
    assert result.status == "timeout"
    if result.process_limit != "rlimit-not-enforced-for-root":
        # Every process of the program was killed: none lives to write the marker.
        time.sleep(1.5)
        assert not marker.exists()


def test_a_memory_hog_fails_on_the_memory_limit() -> None:
    result = run_python("hog = bytearray(2 * 1024**3)", QUICK)
    assert result.status == "memory_limit"


def test_a_file_larger_than_allowed_fails() -> None:
    result = run_python("open('big.bin', 'wb').write(b'x' * (32 * 1024 * 1024))", QUICK)
    assert result.status == "file_size_limit"


def test_a_network_call_fails_and_never_arrives(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    program = (
        "import socket\n"
        f"connection = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "connection.sendall(b'leak')\n"
    )
    result = run_python(program, QUICK)
    assert result.status == "failed"
    assert "OSError" in result.stderr or "Error" in result.stderr
    with pytest.raises(TimeoutError):
        listener.accept()
    assert result.network_isolation in ("namespace", "socket-guard")


def test_the_environment_is_scrubbed_and_the_directory_fresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    program = (
        "import json, os\n"
        "print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd(),"
        " 'files': sorted(os.listdir('.'))}))\n"
        "open('left-behind.txt', 'w').write('x')\n"
    )
    first = json.loads(run_python(program, QUICK).stdout)
    second = json.loads(run_python(program, QUICK).stdout)
    assert "OPENAI_API_KEY" not in first["env"]
    assert "sk-test-must-not-leak" not in json.dumps(first)
    assert first["env"]["HOME"] == first["cwd"]
    assert first["files"] == second["files"] == ["main.py"]
    assert first["cwd"] != second["cwd"]
    assert not Path(first["cwd"]).exists()
