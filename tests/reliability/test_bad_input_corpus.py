"""A table of bad inputs, each refused before any work with a message that says
what is wrong and where: through Python (``Experiment.from_config(...).run()``)
and through the CLI (``themis run``: exit 2, one line on stderr, no traceback).

Each row: an id, how to damage a working config, the message fragment both
must show, and the CLI's exit code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.helpers import themis, write_config
from themis import Experiment
from themis.cli.main import main as cli_main

Config = dict[str, Any]


def _set(path: str, value: Any) -> Callable[[Config, Path], None]:
    def change(config: Config, directory: Path) -> None:
        node: Any = config
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[last] = value

    return change


def _data_file(name: str, content: bytes) -> Callable[[Config, Path], None]:
    def change(config: Config, directory: Path) -> None:
        (directory / name).write_bytes(content)
        config["datasets"] = [{"dataset_id": "filed", "path": name}]

    return change


def _judged(judge_config: Config) -> Callable[[Config, Path], None]:
    def change(config: Config, directory: Path) -> None:
        config["evaluation"]["metrics"].append("builtin/llm_rubric")
        config["evaluation"]["judge_models"] = ["builtin/demo_judge"]
        config["evaluation"]["judge_config"] = judge_config

    return change


def _store_at(make: Callable[[Path], str]) -> Callable[[Config, Path], None]:
    def change(config: Config, directory: Path) -> None:
        config["storage"]["path"] = make(directory)

    return change


def _a_file(directory: Path) -> str:
    (directory / "afile").write_text("not a folder")
    return "afile/runs.sqlite"


def _not_sqlite(directory: Path) -> str:
    (directory / "notes.sqlite").write_text("these are my notes, not a database\n" * 200)
    return "notes.sqlite"


def _a_directory(directory: Path) -> str:
    (directory / "folder.sqlite").mkdir()
    return "folder.sqlite"


@dataclass(frozen=True)
class Bad:
    id: str
    change: Callable[[Config, Path], None]
    fragment: str
    exit_code: int = 2


CORPUS = [
    Bad("empty dataset", _set("datasets", [{"dataset_id": "none", "cases": []}]), "has no cases"),
    Bad("empty jsonl file", _data_file("empty.jsonl", b""), "empty.jsonl: the file holds no cases"),
    Bad("blank jsonl file", _data_file("blank.jsonl", b"\n\n  \n"), "holds no cases"),
    Bad(
        "invalid utf-8",
        _data_file("latin1.jsonl", b'{"input": "ok"}\n{"input": "caf\xe9"}\n'),
        "latin1.jsonl:2: invalid UTF-8",
    ),
    Bad("invalid json line", _data_file("cut.jsonl", b'{"input": "ok"}\n{"inp'), "cut.jsonl:2"),
    Bad(
        "misspelled judge setting",
        _judged({"aggregaton": "min"}),
        "judge_config.aggregaton: unknown judge setting 'aggregaton'; did you mean 'aggregation'",
    ),
    Bad(
        "misspelled judge setting in a run without judges",
        _set("evaluation.judge_config", {"aggregaton": "min"}),
        "judge_config.aggregaton: unknown judge setting 'aggregaton'; no metric of this run",
    ),
    Bad(
        "judge settings for a metric not in the run",
        _judged({"acme/toxicity": {"judge_models": ["builtin/demo_judge"]}}),
        "'acme/toxicity' is not a metric of this experiment",
    ),
    Bad(
        "judge settings for a misspelled metric name",
        _judged({"builtin/llm_rubrik": {"aggregation": "min"}}),
        "'builtin/llm_rubrik' is not a metric of this experiment",
    ),
    Bad(
        "aggregation that does not exist",
        _judged({"aggregation": "median"}),
        "aggregation must be one of ['mean', 'majority', 'min', 'max'], got 'median'",
    ),
    Bad("parse_retries not a number", _judged({"parse_retries": "two"}), "parse_retries must be"),
    Bad("a boolean seed", _set("seeds", [True]), "seeds[0]: a seed is a whole number"),
    Bad("a text seed", _set("seeds", ["seven"]), "seeds[0]: a seed is a whole number"),
    Bad(
        "an option of the wrong type",
        _set(
            "generation.generator",
            {"id": "builtin/demo_generator", "options": {"error_rate": "0.1"}},
        ),
        "option 'error_rate' must be float, got str '0.1'",
    ),
    Bad(
        "a misspelled option",
        _set("generation.generator", {"id": "builtin/demo_generator", "options": {"eror_rate": 0}}),
        "unknown option 'eror_rate'; did you mean 'error_rate'",
    ),
    Bad(
        "an input JSON cannot hold",
        _set(
            "datasets",
            [{"dataset_id": "d", "cases": [{"case_id": "a", "input": {"on": "2024-01-05"}}]}],
        ),
        "input['on'] is a date",
    ),
    Bad("a store path below a file", _store_at(_a_file), "afile is a file, not a directory"),
    Bad(
        "a store file that is not SQLite",
        _store_at(_not_sqlite),
        "is not a usable Themis SQLite store",
    ),
    Bad(
        "a store path that is a folder",
        _store_at(_a_directory),
        "is a directory; a SQLite store is a file",
    ),
]


def _config(tmp_path: Path, bad: Bad) -> Path:
    base = write_config(tmp_path)
    config = yaml.safe_load(base.read_text(encoding="utf-8"))
    bad.change(config, tmp_path)
    text = yaml.safe_dump(config, sort_keys=False)
    if bad.id == "an input JSON cannot hold":
        text = text.replace("'2024-01-05'", "2024-01-05")  # a YAML date, unquoted
    base.write_text(text, encoding="utf-8")
    return base


@pytest.mark.parametrize("bad", CORPUS, ids=lambda bad: bad.id)
def test_python_refuses_with_the_message(tmp_path: Path, bad: Bad) -> None:
    config = _config(tmp_path, bad)
    with pytest.raises(Exception) as caught:
        Experiment.from_config(config).run()
    assert bad.fragment in str(caught.value)
    assert not list(tmp_path.glob("runs.sqlite*"))  # no work started, no store made


@pytest.mark.parametrize("bad", CORPUS, ids=lambda bad: bad.id)
def test_the_cli_refuses_with_one_line_and_its_exit_code(
    tmp_path: Path, bad: Bad, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console script's own entry point, in this process (a process per row
    would cost seconds each; the corpus's real-process twin is below)."""
    config = _config(tmp_path, bad)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("THEMIS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli_main(["run", "-c", str(config)])
    stderr = capsys.readouterr().err
    assert exited.value.code == bad.exit_code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert bad.fragment in lines[0], lines[0]


@pytest.mark.parametrize("bad", CORPUS[::6], ids=lambda bad: bad.id)
def test_the_installed_command_refuses_alike(tmp_path: Path, bad: Bad) -> None:
    config = _config(tmp_path, bad)
    done = themis("run", "-c", config, cwd=tmp_path)
    assert done.returncode == bad.exit_code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and bad.fragment in lines[0], done.stderr


def test_reading_a_store_never_creates_one(tmp_path: Path) -> None:
    from themis import Reporter, sqlite_store
    from themis.core.storage.stores.base import StoreNotFoundError

    missing = tmp_path / "missing.sqlite"
    with pytest.raises(StoreNotFoundError, match="no Themis store at"):
        Reporter(sqlite_store(missing)).export_json("run-x")
    assert not missing.exists()
    done = themis("report", "--path", missing, "--run-id", "run-x", cwd=tmp_path)
    assert done.returncode == 2 and "no store at" in done.stderr
    assert not missing.exists()


@pytest.mark.parametrize("command", ["report", "export"])
def test_reading_a_file_that_is_not_a_store_is_one_line(tmp_path: Path, command: str) -> None:
    notes = tmp_path / "notes.sqlite"
    notes.write_text("not a database\n" * 100)
    args = ["--path", notes, "--run-id", "run-x"]
    if command == "export":
        args = ["score", *args, "--output", tmp_path / "b.json"]
    done = themis(command, *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "is not a usable Themis SQLite store" in done.stderr
    assert notes.read_text().startswith("not a database")  # untouched


def test_a_nan_score_prints_strict_json_and_the_run_reads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "nanmetric.py").write_text(
        "from themis.core.models import Score\n"
        "class NanMetric:\n"
        "    component_id = 'local/nan'\n"
        "    version = '1'\n"
        "    metric_family = 'pure'\n"
        "    def fingerprint(self):\n"
        "        return 'nan'\n"
        "    def score(self, parsed, case, ctx):\n"
        "        return Score(metric_id='x', value=float('nan'))\n"
    )
    config = write_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["evaluation"]["metrics"] = ["python:nanmetric:NanMetric"]
    config.write_text(yaml.safe_dump(data))
    done = themis("run", "-c", config, "--json", cwd=tmp_path)
    assert done.returncode == 3, done.stderr  # every case failed, the run completed
    payload = json.loads(done.stdout, parse_constant=lambda name: pytest.fail(name))
    assert payload["status"] == "failed"
    monkeypatch.chdir(tmp_path)
    bundle = str(tmp_path / "scores.json")
    for command in (["run"], ["resume"], ["report"], ["export", "score", "--output", bundle]):
        code: object = 0
        try:
            cli_main([*command, "-c", str(config)])
        except SystemExit as exited:
            code = exited.code
        stderr = capsys.readouterr().err
        assert code in (0, 3, None), (command, stderr)
        assert "Traceback" not in stderr
