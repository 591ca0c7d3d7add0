"""``themis quick-eval``: the shortest path from data to a score.

Each source (inline cases, a data file, a Hugging Face dataset, a catalog
benchmark) becomes one dataset; the experiment around it is the one
``themis.evaluate(...)`` builds, so the run id matches the Python call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from themis.cli.errors import UserError
from themis.cli.options import json_option, progress_option
from themis.cli.output import emit_json, exit_for, note, print_result, result_payload
from themis.cli.targets import experiment_store, experiment_store_for
from themis.core.authoring.config_files import cases_from_rows, load_cases_file
from themis.core.authoring.evaluate import build_experiment
from themis.core.authoring.huggingface import HubRows, datasets_module, load_hub_rows
from themis.core.authoring.local_components import resolve_local_components
from themis.core.config import RuntimeConfig, StorageConfig
from themis.core.models import Dataset, RunResult

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_METRIC = "builtin/exact_match"


def _parse_options(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} {pair!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            options[key.strip()] = raw
    return options


def _apply(command: F, decorators: list[Callable[[F], F]]) -> F:
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def model_options(command: F) -> F:
    """The generator to evaluate, its judges, samples, seeds, and where the run is kept."""
    return _apply(
        command,
        [
            click.option(
                "--model",
                "-m",
                required=True,
                metavar="GENERATOR",
                help="Generator id (see `themis components --kind generator`) or "
                "python:MODULE:ATTR.",
            ),
            click.option(
                "--model-option",
                "model_options",
                multiple=True,
                metavar="KEY=VALUE",
                help="Generator option (repeatable), e.g. --model-option error_rate=0.1.",
            ),
            click.option(
                "--judge",
                "judges",
                multiple=True,
                metavar="JUDGE",
                help="Judge model id (repeatable).",
            ),
            click.option(
                "--samples",
                type=click.IntRange(min=1),
                help="Candidates per case (default: one per --seed); one seed is spread over them.",
            ),
            click.option(
                "--seed", "seeds", multiple=True, type=int, help="Seed (repeatable; default 0)."
            ),
            click.option(
                "--path",
                "store_path",
                type=click.Path(path_type=Path, dir_okay=False),
                help="Keep the run in this SQLite file (default: memory, gone after the command).",
            ),
            progress_option,
            json_option,
        ],
    )


def scoring_options(command: F) -> F:
    """How candidates are reduced, parsed and scored (a benchmark brings its own)."""
    return _apply(
        command,
        [
            click.option(
                "--metric",
                "metrics",
                multiple=True,
                metavar="METRIC",
                help=f"Metric id (repeatable; default {DEFAULT_METRIC}).",
            ),
            click.option(
                "--parser",
                "parsers",
                multiple=True,
                metavar="PARSER",
                help="Parser id (repeatable).",
            ),
            click.option(
                "--reducer", metavar="REDUCER", help="Reducer id (default builtin/first_candidate)."
            ),
        ],
    )


def _model(settings: dict[str, Any]) -> Any:
    model: Any = settings["model"]
    options = _parse_options(settings["model_options"], "--model-option")
    return {"id": model, "options": options} if options else model


def _storage(settings: dict[str, Any]) -> StorageConfig:
    path: Path | None = settings["store_path"]
    return StorageConfig(store="sqlite", path=str(path)) if path else StorageConfig()


def _runtime(settings: dict[str, Any]) -> RuntimeConfig:
    runtime = RuntimeConfig()
    if settings["progress"] is not None:
        runtime = runtime.model_copy(update={"progress": settings["progress"]})
    return runtime


def _evaluate(dataset: Dataset, settings: dict[str, Any]) -> RunResult:
    """Build the experiment ``themis.evaluate`` would build, and run it."""
    components: dict[str, Any] = {
        "generation": {"generator": _model(settings), "reducer": settings["reducer"]},
        "evaluation": {
            "metrics": list(settings["metrics"]) or [DEFAULT_METRIC],
            "parsers": list(settings["parsers"]),
            "judge_models": list(settings["judges"]),
        },
    }
    resolve_local_components(components, Path.cwd())
    experiment = build_experiment(
        model=components["generation"]["generator"],
        data=[dataset],
        metric=components["evaluation"]["metrics"],
        parser=components["evaluation"]["parsers"] or None,
        judge=components["evaluation"]["judge_models"] or None,
        samples=settings["samples"] or 1,
        reducer=components["generation"]["reducer"],
        storage=_storage(settings),
        runtime=_runtime(settings),
        seeds=list(settings["seeds"]) or None,
    )
    return experiment.run(store=experiment_store(experiment))


def _report(result: RunResult, as_json: bool) -> None:
    print_result(result, as_json)
    exit_for(result)


def field_options(command: F) -> F:
    """Which columns of a data row are the input, the reference and the case id."""
    return _apply(
        command,
        [
            click.option(
                "--input-field",
                metavar="FIELD",
                help="Column holding the input (default: "
                "`input`, else every column but the reference and id).",
            ),
            click.option(
                "--expected-field",
                metavar="FIELD",
                help="Column holding the reference answer "
                "(default: `expected_output` or `expected`).",
            ),
            click.option(
                "--id-field",
                metavar="FIELD",
                help="Column holding the case id "
                "(default: `case_id` or `id`, else the row number).",
            ),
            click.option("--limit", type=click.IntRange(min=1), help="Only the first N rows."),
            click.option(
                "--dataset-id", metavar="ID", help="Dataset id (default: the source's name)."
            ),
        ],
    )


def rows_to_dataset(
    rows: list[Any],
    *,
    dataset_id: str,
    source: str,
    input_field: str | None,
    expected_field: str | None,
    id_field: str | None,
    limit: int | None,
    revision: str | None = None,
) -> Dataset:
    """Cases from data rows: the named columns become ``input``, ``expected_output``
    and ``case_id``, then the rules of dataset files apply (a row without an input
    column uses its other columns as the input)."""
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise UserError(f"{source}: no rows to evaluate")
    renames = (
        ("--id-field", id_field, "case_id"),
        ("--expected-field", expected_field, "expected_output"),
        ("--input-field", input_field, "input"),
    )
    mapped: list[Any] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UserError(f"{source}: row {index} is a {type(row).__name__}, not a mapping")
        fields = dict(row)
        for flag, column, role in renames:
            if column is None:
                continue
            if column not in row:
                raise UserError(
                    f"{source}: row {index} has no column {column!r} ({flag}); columns: "
                    f"{', '.join(map(str, row))}"
                )
            value = fields.pop(column)
            fields[role] = str(value) if role == "case_id" else value
        mapped.append(fields)
    return Dataset(
        dataset_id=dataset_id,
        cases=cases_from_rows(mapped, where=source),
        revision=revision,
    )


@click.group("quick-eval", short_help="Score a model on some data, without a config file.")
def quick_eval() -> None:
    """Score a model on some data in one command, without a config file.

    \b
    Examples:
      themis quick-eval inline -m builtin/demo_generator --input "2+2" --expected 4
      themis quick-eval file data.jsonl -m builtin/demo_generator --parser builtin/number
      themis quick-eval huggingface openai/gsm8k --subset main --split test --limit 50 \\
          -m MODEL --input-field question --expected-field answer
      themis quick-eval benchmark gsm8k -m MODEL
    """


@quick_eval.command("inline")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    metavar="TEXT",
    help="A case's input (repeatable: one case each).",
)
@click.option(
    "--expected",
    "expected",
    multiple=True,
    metavar="TEXT",
    help="The reference answer of each --input, in the same order.",
)
@click.option("--dataset-id", default="data", show_default=True, help="Dataset id.")
@scoring_options
@model_options
def quick_eval_inline(
    inputs: tuple[str, ...],
    expected: tuple[str, ...],
    dataset_id: str,
    as_json: bool,
    **settings: Any,
) -> None:
    """Cases given on the command line."""
    if expected and len(expected) != len(inputs):
        raise UserError(
            f"got {len(inputs)} --input and {len(expected)} --expected; give one --expected per "
            "--input, or none"
        )
    rows = [
        {
            "case_id": str(index),
            "input": text,
            **({"expected_output": expected[index]} if expected else {}),
        }
        for index, text in enumerate(inputs)
    ]
    dataset = Dataset(dataset_id=dataset_id, cases=cases_from_rows(rows, where="--input"))
    _report(_evaluate(dataset, settings), as_json)


@quick_eval.command("file")
@click.argument("data_file", type=click.Path(path_type=Path, dir_okay=False))
@field_options
@scoring_options
@model_options
def quick_eval_file(
    data_file: Path,
    input_field: str | None,
    expected_field: str | None,
    id_field: str | None,
    limit: int | None,
    dataset_id: str | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """Cases from a JSONL, JSON or CSV file (one case per row)."""
    rows = load_cases_file(data_file)
    dataset = rows_to_dataset(
        rows,
        dataset_id=dataset_id or data_file.stem,
        source=str(data_file),
        input_field=input_field,
        expected_field=expected_field,
        id_field=id_field,
        limit=limit,
    )
    _report(_evaluate(dataset, settings), as_json)


def _load_huggingface(
    name: str, subset: str | None, split: str, revision: str | None, limit: int | None
) -> HubRows:
    """The split's rows and the revision read (pinned, or the commit the hub resolved)."""
    datasets = datasets_module()
    local = Path(name)
    if local.is_dir() and any(
        (local / marker).is_file() for marker in ("dataset_dict.json", "state.json")
    ):
        try:
            loaded: Any = datasets.load_from_disk(str(local))  # a save_to_disk directory
        except Exception as exc:
            raise UserError(f"cannot load {name}: {type(exc).__name__}: {exc}") from exc
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise UserError(f"{name}: no split {split!r}; splits: {', '.join(loaded)}")
            loaded = loaded[split]
        if limit is not None:
            loaded = loaded.select(range(min(limit, len(loaded))))
        return HubRows([dict(row) for row in loaded], revision)
    hub = load_hub_rows(name, subset, split=split, revision=revision)
    # A local data folder is identified by its contents, as before; a hub id by the
    # commit the hub resolved, as the catalog records it.
    resolved = revision if local.exists() else hub.revision
    return HubRows(hub.rows[:limit] if limit is not None else hub.rows, resolved)


@quick_eval.command("huggingface", short_help="Cases from a Hugging Face dataset.")
@click.argument("dataset_name", metavar="DATASET")
@click.option("--subset", metavar="NAME", help="Dataset configuration (e.g. `main` for gsm8k).")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@click.option("--revision", metavar="REV", help="Pin the dataset revision (recorded in the run).")
@field_options
@scoring_options
@model_options
def quick_eval_huggingface(
    dataset_name: str,
    subset: str | None,
    split: str,
    revision: str | None,
    input_field: str | None,
    expected_field: str | None,
    id_field: str | None,
    limit: int | None,
    dataset_id: str | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """Cases from a Hugging Face dataset (a hub id, a local data directory, or a
    save_to_disk directory), loaded with the `datasets` library."""
    loaded = _load_huggingface(dataset_name, subset, split, revision, limit)
    default_id = Path(dataset_name.rstrip("/")).name + (f"-{subset}" if subset else "")
    dataset = rows_to_dataset(
        loaded.rows,
        dataset_id=dataset_id or default_id,
        source=f"{dataset_name} [{split}]",
        input_field=input_field,
        expected_field=expected_field,
        id_field=id_field,
        limit=limit,
        revision=loaded.revision,
    )
    _report(_evaluate(dataset, settings), as_json)


@quick_eval.command("benchmark", short_help="A named benchmark from the catalog.")
@click.argument("name")
@click.option(
    "--source",
    default="full",
    show_default=True,
    metavar="full|sample|PATH",
    help="The pinned dataset (full), the offline sample shipped with the catalog (sample), "
    "or local files in the benchmark's schema.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N cases of each slice.")
@click.option("--prompt-variant", metavar="VARIANT", help="One of the benchmark's prompt variants.")
@model_options
def quick_eval_benchmark(
    name: str,
    source: str,
    limit: int | None,
    prompt_variant: str | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """A named benchmark from the catalog (NAME like gsm8k or mmlu_pro:physics).

    Needs the themis-catalog distribution; `themis components --kind benchmark`
    lists what is installed.
    """
    try:
        import themis.catalog as catalog

        catalog.list_benchmark_ids()
    except ImportError as exc:
        raise UserError(f"quick-eval benchmark: {exc}") from exc
    components: dict[str, Any] = {
        "generation": {"generator": _model(settings)},
        "evaluation": {"judge_models": list(settings["judges"])},
    }
    resolve_local_components(components, Path.cwd())
    judges = components["evaluation"]["judge_models"]
    options: dict[str, Any] = {
        "model": components["generation"]["generator"],
        "judge": (judges[0] if len(judges) == 1 else judges) or None,
        "limit": limit,
        "source": source,
        "prompt_variant": prompt_variant,
        "samples": settings["samples"],
        "seeds": list(settings["seeds"]) or None,
    }
    try:
        # Checks the inputs and loads the data, running nothing: a problem there
        # (unknown variant, missing judge, unreachable dataset) is the user's to fix.
        catalog.build_experiment(name, **options)
    except Exception as exc:
        raise UserError(f"benchmark {name!r}: {exc}") from exc
    storage = _storage(settings)
    store = experiment_store_for(storage) if storage.path else None
    result = catalog.run(name, store=store, runtime=_runtime(settings), **options)
    for warning in result.warnings:
        note(f"warning: {warning}")
    if as_json:
        payload = result_payload(result)
        payload.update(benchmark=result.name, source=result.source, warnings=list(result.warnings))
        emit_json(payload)
        exit_for(result)
        return
    click.echo(f"benchmark: {result.name} ({result.source})")
    _report(result, as_json=False)
