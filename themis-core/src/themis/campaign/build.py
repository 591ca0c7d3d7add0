"""From specs to experiments: generators, judges, datasets and the campaign's points.

Every point is an ordinary :class:`~themis.core.experiment.Experiment`:
catalog benchmarks are built by :func:`themis.catalog.build_experiment`,
custom ones from their dataset, generation and scoring specs. Generators of
the openai and vllm providers are built here, by their registered factories,
and passed as objects, so their fingerprint (model, API mode and every
inference param) is in the run id while the URL, key and timeout are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from themis.campaign.spec import (
    CampaignModelSpec,
    CampaignSpec,
    CatalogBenchmarkSpec,
    CustomBenchmarkSpec,
)
from themis.core.authoring import registry
from themis.core.authoring.config_files import ConfigError, cases_from_rows, load_cases_file
from themis.core.authoring.huggingface import load_hub_rows
from themis.core.authoring.local_components import PREFIX as PYTHON_PREFIX
from themis.core.authoring.local_components import resolve_component
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig
from themis.core.errors import DatasetUnavailableError
from themis.core.experiment import Experiment
from themis.core.models import Dataset, JSONValue
from themis.specs.experiment import InferenceParamsSpec
from themis.specs.foundational import DatasetSpec, JudgeInferenceSpec, ModelSpec

ADAPTER_DISTRIBUTIONS = {"openai": "themis-adapters-openai", "vllm": "themis-adapters-vllm"}
LOCAL_SUFFIXES = (".jsonl", ".json", ".csv")

__all__ = [
    "CampaignPoint",
    "adapter_options",
    "build_generator",
    "build_points",
    "load_dataset",
]


@dataclass(frozen=True)
class CampaignPoint:
    """One (model, grid point, benchmark) of a campaign and the Experiment that runs it."""

    model: str
    point_id: str
    params: InferenceParamsSpec | None
    benchmark: str
    experiment: Experiment

    @property
    def run_id(self) -> str:
        return self.experiment.compile().run_id


def adapter_options(params: InferenceParamsSpec, provider: str) -> dict[str, Any]:
    """The keyword arguments of ``openai(...)`` / ``vllm(...)`` a params spec stands for."""
    extra_body: dict[str, JSONValue] = dict(params.extras)
    options: dict[str, Any] = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_output_tokens": params.max_tokens,
        "seed": params.seed,
        "stop": list(params.stop_sequences) or None,
        "logprobs": params.logprobs,
    }
    if params.top_k is not None:
        if provider == "vllm":
            options["top_k"] = params.top_k
        else:  # OpenAI-compatible servers (llama.cpp, ...) take it in the body
            extra_body["top_k"] = params.top_k
    if params.response_format == "text":
        options["response_format"] = {"type": "text"}
    elif params.response_format == "json":
        options["response_format"] = {"type": "json_object"}
    elif params.response_format is not None:
        options["response_format"] = dict(params.response_format)
    options["extra_body"] = extra_body
    return {key: value for key, value in options.items() if value is not None}


def _factory(kind: str, provider: str, where: str) -> Any:
    try:
        factory, _ = registry.load_factory(kind, f"{provider}/{kind}")
    except registry.UnknownComponentError:
        distribution = ADAPTER_DISTRIBUTIONS[provider]
        raise ConfigError(
            f"{where}: provider {provider!r} needs the {distribution} distribution: "
            f"pip install {distribution}"
        ) from None
    return factory


def build_generator(
    model: ModelSpec, params: InferenceParamsSpec | None, *, where: str, base_dir: Path
) -> Any:
    """The generator of one model point: an adapter object, a component mapping,
    or (``python:MODULE:ATTR``) the project's own object."""
    if model.provider.startswith(PYTHON_PREFIX):
        spec = {"id": model.provider, "options": dict(model.extras)}
        return resolve_component(spec, base_dir, where)
    if not model.sends_params:
        # The model id names the component, so it is part of the run id: two
        # models served by one generator id are two runs, not one.
        return {"id": model.provider, "name": model.model_id, "options": dict(model.extras)}
    factory = _factory("generator", model.provider, where)
    options = {**model.extras, **adapter_options(params or InferenceParamsSpec(), model.provider)}
    try:
        return factory(model.model_id, **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _judge_mapping(judge: JudgeInferenceSpec, name: str) -> dict[str, Any]:
    """A named judge component mapping (names tell a metric's judges apart)."""
    model = judge.model
    if model.provider.startswith(PYTHON_PREFIX):
        raise ConfigError(
            f"judge {model.provider!r}: a campaign's judges are openai, vllm or registered judge "
            "ids; publish the judge under the themis.judges entry-point group"
        )
    if not model.sends_params:
        return {"id": model.provider, "name": name, "options": dict(model.extras)}
    options = {"model": model.model_id, **model.extras}
    options.update(adapter_options(judge.params, model.provider))
    return {"id": f"{model.provider}/judge", "name": name, "options": options}


def _judges(
    judges: list[JudgeInferenceSpec], metric: str, where: str
) -> tuple[list[dict[str, Any]], dict[str, JSONValue]]:
    """Judge mappings of one metric and its judge_config entry."""
    mappings = [
        _judge_mapping(judge, f"{metric}:{judge.model.model_id}:{index}")
        for index, judge in enumerate(judges)
    ]
    settings: dict[str, JSONValue] = {}
    for index, judge in enumerate(judges):
        for key, value in judge.extras.items():
            if key in settings and settings[key] != value:
                raise ConfigError(
                    f"{where}.judges[{index}].extras.{key}: conflicts with another judge of "
                    f"metric {metric!r}; a metric's judges share its settings"
                )
            settings[key] = value
    settings["judge_models"] = [mapping["name"] for mapping in mappings]
    return mappings, settings


def _local_files(spec: DatasetSpec) -> list[Path]:
    location = Path(spec.data_dir or spec.dataset_id or "")
    if location.is_dir():
        files = sorted(p for p in location.iterdir() if p.suffix in LOCAL_SUFFIXES)
        if not files:
            raise ConfigError(f"{location}: no {'/'.join(LOCAL_SUFFIXES)} files in this folder")
        return files
    if not location.is_file():
        raise ConfigError(f"{location}: dataset file not found")
    return [location]


def load_dataset(spec: DatasetSpec, dataset_id: str, *, where: str) -> Dataset:
    """The cases a dataset spec describes (a local file or folder, or a hub dataset)."""
    rows: list[Any] = []
    revision = spec.revision
    if spec.source == "local":
        for file in _local_files(spec):
            rows.extend(load_cases_file(file))
    else:
        if spec.dataset_id is None:
            raise ConfigError(f"{where}: source 'huggingface' needs a dataset_id")
        try:
            hub = load_hub_rows(
                spec.dataset_id, spec.config_name, split=spec.split, revision=spec.revision
            )
        except DatasetUnavailableError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        rows, revision = list(hub.rows), hub.revision
    if spec.limit is not None:
        rows = rows[: spec.limit]
    if not rows:
        raise ConfigError(f"{where}: the dataset has no rows")
    cases = cases_from_rows(rows, where=where)
    return Dataset(dataset_id=dataset_id, cases=cases, revision=revision)


def _custom_experiment(
    benchmark: CustomBenchmarkSpec, generator: Any, dataset: Dataset, seed: int, where: str
) -> Experiment:
    scoring, generation = benchmark.scoring, benchmark.generation
    metrics: list[dict[str, Any]] = []
    judge_models: list[dict[str, Any]] = []
    judge_config: dict[str, JSONValue] = {}
    for index, metric in enumerate(scoring.metrics):
        name = metric.name or metric.id
        metrics.append({"id": metric.id, "name": name, "options": dict(metric.options)})
        if metric.judges:
            mappings, settings = _judges(metric.judges, name, f"{where}.scoring.metrics[{index}]")
            judge_models.extend(mappings)
            judge_config[name] = settings
    return Experiment(
        generation=GenerationConfig(
            generator=generator,
            candidate_policy={"num_samples": generation.num_samples},
            reducer=generation.reducer,
            prompt_spec=generation.prompt_spec(),
        ),
        evaluation=EvaluationConfig(
            parsers=list(scoring.parsers),
            metrics=metrics,
            judge_models=judge_models,
            judge_config=judge_config,
        ),
        datasets=[dataset],
        seeds=[seed],
    )


def _catalog_experiment(benchmark: CatalogBenchmarkSpec, generator: Any, seed: int) -> Experiment:
    from themis import catalog

    judges = [
        _judge_mapping(judge, f"judge:{judge.model.model_id}:{index}")
        for index, judge in enumerate(benchmark.judges)
    ]
    return catalog.build_experiment(
        benchmark.name,
        model=generator,
        judge=judges or None,
        limit=benchmark.limit,
        source=benchmark.source,
        prompt_variant=benchmark.prompt_variant,
        samples=benchmark.samples,
        seeds=[seed],
    )


def point_ids(model: CampaignModelSpec) -> list[str]:
    """Labels of a model's points: the name, with the params that vary across its grid."""
    points = model.points()
    if len(points) == 1:
        return [model.label]
    flat = [
        {**{k: v for k, v in p.model_dump(mode="json").items() if k != "extras"}, **p.extras}
        for p in points
    ]
    keys = list(dict.fromkeys(key for values in flat for key in values))
    varying = [key for key in keys if len({repr(values.get(key)) for values in flat}) > 1]
    return [
        f"{model.label}[{','.join(f'{key}={values.get(key)}' for key in varying)}]"
        for values in flat
    ]


def build_points(
    spec: CampaignSpec, runtime: RuntimeConfig, *, base_dir: Path
) -> list[CampaignPoint]:
    """Every point of the campaign, in run order: model by model, grid point by grid
    point, benchmark by benchmark. Builds everything (and loads every dataset) up
    front, so bad input fails before any point runs. ``base_dir`` is where
    ``python:`` providers' modules are looked up (the campaign file's folder)."""
    project = spec.project
    custom_data: dict[str, Dataset] = {}
    for index, benchmark in enumerate(spec.benchmarks):
        if isinstance(benchmark, CustomBenchmarkSpec):
            where = f"benchmarks[{index}] ({benchmark.name})"
            custom_data[benchmark.name] = load_dataset(
                benchmark.dataset, benchmark.name, where=where
            )
    points: list[CampaignPoint] = []
    for m_index, model in enumerate(spec.models):
        for params, point_id in zip(model.points(), point_ids(model), strict=True):
            where = f"models[{m_index}] ({point_id})"
            generator = build_generator(
                model, params if model.sends_params else None, where=where, base_dir=base_dir
            )
            for b_index, benchmark in enumerate(spec.benchmarks):
                if isinstance(benchmark, CustomBenchmarkSpec):
                    experiment = _custom_experiment(
                        benchmark,
                        generator,
                        custom_data[benchmark.name],
                        project.global_seed,
                        f"benchmarks[{b_index}]",
                    )
                else:
                    experiment = _catalog_experiment(benchmark, generator, project.global_seed)
                metadata = {
                    **experiment.environment_metadata,
                    **{f"themis.project.{k}": v for k, v in project.metadata.items()},
                    "themis.project.name": project.project_name,
                    "themis.project.researcher": project.researcher_id,
                    "themis.campaign.model": model.label,
                    "themis.campaign.point": point_id,
                    "themis.campaign.benchmark": benchmark.label,
                }
                experiment = experiment.model_copy(
                    update={"runtime": runtime, "environment_metadata": metadata}
                )
                points.append(
                    CampaignPoint(
                        model=model.label,
                        point_id=point_id,
                        params=params if model.sends_params else None,
                        benchmark=benchmark.label,
                        experiment=experiment,
                    )
                )
    return points
