"""Custom benchmarks' judges and dataset sources, and the PostgreSQL storage spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import themis
from tests.adapters.fake_openai_server import FakeOpenAIServer
from tests.campaign.conftest import CHAT, arithmetic_answer, campaign_data, write_arithmetic
from themis.campaign import Campaign, CampaignSpec, campaign_report
from themis.core.authoring.config_files import ConfigError
from themis.core.models import RunStatus
from themis.core.storage.stores.memory import InMemoryRunStore
from themis.specs import PostgresBlobStorageSpec


def judged_answer(path: str, body: Any) -> str:
    """Candidates answer arithmetic; the judge passes rubric A and fails rubric B."""
    text = json.dumps(body.get("messages"))
    if "Rubric:" in text:
        return "VERDICT: PASS\nSCORE: 1" if "rubric A" in text else "VERDICT: FAIL\nSCORE: 0"
    return arithmetic_answer(path, body)


def test_each_metric_is_graded_by_its_own_judge_specs(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.answer = judged_answer
    judge_model = {"model_id": "good", "provider": "openai", "extras": {
        "base_url": server.base_url, "api_mode": "chat_completions"}}  # fmt: skip
    benchmark = {
        "name": "arith",
        "dataset": {"source": "local", "dataset_id": "arith.jsonl", "limit": 2},
        "scoring": {
            "parsers": ["builtin/number"],
            "metrics": [
                "builtin/exact_match",
                {"id": "builtin/llm_rubric", "name": "strict", "judges": [
                    {"model": judge_model, "params": {"temperature": 0.0, "max_tokens": 32},
                     "extras": {"rubric": "rubric A"}}]},
                {"id": "builtin/llm_rubric", "name": "lenient", "judges": [
                    {"model": judge_model, "params": {"temperature": 0.5, "max_tokens": 32},
                     "extras": {"rubric": "rubric B"}},
                    {"model": {"model_id": "demo", "provider": "builtin/demo_judge"}}]},
            ],
        },
    }  # fmt: skip
    data = campaign_data(server, tmp_path, benchmarks=[benchmark])
    data["models"] = data["models"][:1]
    with Campaign(CampaignSpec.model_validate(data), store=InMemoryRunStore()) as campaign:
        result = campaign.run()
        assert result.points[0].status is RunStatus.completed
        means = result.points[0].metric_means
        assert means["builtin/exact_match"] == 1.0
        assert means["strict"] == 1.0
        assert means["lenient"] == 0.5  # the openai judge fails it, the demo judge passes it
        judge_bodies = [r.body for r in server.received(CHAT) if "Rubric:" in json.dumps(r.body)]
        assert sorted(b["temperature"] for b in judge_bodies) == [0.0, 0.0, 0.5, 0.5]
        assert {b["max_completion_tokens"] for b in judge_bodies} == {32}
        report = campaign_report(campaign)
    assert [metric for _, metric in report.columns] == ["builtin/exact_match", "strict", "lenient"]
    assert "arith: strict" in report.to_markdown()


def test_conflicting_settings_of_one_metrics_judges_are_refused(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    judge = {"model": {"model_id": "demo", "provider": "builtin/demo_judge"}}
    benchmark = {
        "name": "arith",
        "dataset": {"source": "local", "dataset_id": "arith.jsonl"},
        "scoring": {"metrics": [{"id": "builtin/llm_rubric", "judges": [
            {**judge, "extras": {"rubric": "a"}}, {**judge, "extras": {"rubric": "b"}}]}]},
    }  # fmt: skip
    with pytest.raises(ConfigError, match=r"judges\[1\]\.extras\.rubric: conflicts"):
        Campaign(
            CampaignSpec.model_validate(campaign_data(server, tmp_path, benchmarks=[benchmark]))
        )


def test_local_folders_and_hub_format_datasets_load_offline(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    write_arithmetic(folder / "a.jsonl", count=3)
    (folder / "b.csv").write_text("case_id,question,expected_output\nx,7+8,15\n", encoding="utf-8")
    hub = tmp_path / "hub"
    hub.mkdir()
    write_arithmetic(hub / "test.jsonl", count=4)
    benchmarks = [
        {"name": "folder", "dataset": {"source": "local", "data_dir": "parts"},
         "scoring": {"metrics": ["builtin/exact_match"], "parsers": ["builtin/number"]}},
        {"name": "hub", "dataset": {"source": "huggingface", "dataset_id": str(hub),
                                   "split": "test", "revision": "v1"},
         "scoring": {"metrics": ["builtin/exact_match"], "parsers": ["builtin/number"]}},
    ]  # fmt: skip
    data = campaign_data(server, tmp_path, benchmarks=benchmarks)
    data["models"] = data["models"][:1]
    with Campaign(CampaignSpec.model_validate(data), store=InMemoryRunStore()) as campaign:
        folder_point, hub_point = campaign.points
        folder_data = folder_point.experiment.datasets[0]
        assert [c.case_id for c in folder_data.cases] == ["c0", "c1", "c2", "x"]
        hub_data = hub_point.experiment.datasets[0]
        assert (hub_data.dataset_id, hub_data.revision, len(hub_data.cases)) == ("hub", "v1", 4)
        assert hub_point.experiment.compile().identity.datasets[0].revision == "v1"
        result = campaign.run()
    assert [o.metric_means["builtin/exact_match"] for o in result.points] == [1.0, 1.0]


def test_a_campaign_runs_and_resumes_on_the_postgres_storage_spec(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if not hasattr(themis, "postgres_store"):
        pytest.skip("themis.postgres_store (issue 18b) is not in this build")
    url = request.getfixturevalue("postgres_url")
    rows = [
        {"case_id": f"{tmp_path.name}-{i}", "input": {"question": f"{i}+{i}"},
         "expected_output": str(2 * i)}
        for i in range(3)
    ]  # fmt: skip
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = {
        "project": {
            "project_name": "shared",
            "researcher_id": "team",
            "storage": {
                "backend": "postgres_blob",
                "database_url": url,
                "blob_root_dir": str(tmp_path / "blobs"),
            },
        },
        "models": [{"model_id": "demo", "provider": "builtin/demo_generator"}],
        "benchmarks": [
            {
                "name": "arith",
                "dataset": {"source": "local", "dataset_id": str(tmp_path / "data.jsonl")},
                "scoring": {"metrics": ["builtin/exact_match"]},
            }
        ],
    }
    spec = CampaignSpec.model_validate(data)
    assert isinstance(spec.project.storage, PostgresBlobStorageSpec)
    with Campaign(spec) as campaign:
        first = campaign.run()
    assert first.points[0].status is RunStatus.completed and not first.points[0].skipped
    assert first.points[0].metric_means == {"builtin/exact_match": 1.0}
    with Campaign(spec) as campaign:  # another process would see the same
        assert type(campaign.store).__name__ != "SqliteRunStore"
        again = campaign.run()
    assert again.points[0].skipped


MODELS_PY = '''
from themis.core.models import GenerationResult


class Adder:
    """A project's own model: adds the two numbers, off by ``offset``."""

    component_id = "project/adder"
    version = "1"

    def __init__(self, offset=0):
        self.offset = offset

    def fingerprint(self):
        return f"adder+{self.offset}"

    def generate(self, case, ctx):
        a, b = case.input["question"].split("+")
        answer = str(int(a) + int(b) + self.offset)
        return GenerationResult(candidate_id=f"{ctx.case_key}#{ctx.seed}", final_output=answer)
'''


def test_a_projects_own_model_class_is_a_provider(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "models.py").write_text(MODELS_PY, encoding="utf-8")
    write_arithmetic(project / "arith.jsonl", count=4)
    (project / "campaign.yaml").write_text(
        """
project: {project_name: own, researcher_id: me, storage: {backend: sqlite_blob, root_dir: runs}}
models:
  - {name: exact, model_id: adder, provider: "python:models:Adder"}
  - {name: shifted, model_id: adder, provider: "python:models:Adder", extras: {offset: 1}}
benchmarks:
  - name: arith
    dataset: {source: local, dataset_id: arith.jsonl}
    scoring: {parsers: [builtin/number], metrics: [builtin/exact_match]}
""",
        encoding="utf-8",
    )
    with Campaign.from_file(project / "campaign.yaml") as campaign:  # from another cwd
        exact, shifted = campaign.points
        assert exact.run_id != shifted.run_id
        result = campaign.run()
    assert [o.metric_means["builtin/exact_match"] for o in result.points] == [1.0, 0.0]
    with pytest.raises(ConfigError, match="has no attribute 'Missing'"):
        Campaign(
            CampaignSpec.model_validate(
                {
                    "project": {"project_name": "p", "researcher_id": "r",
                                "storage": {"backend": "sqlite_blob", "root_dir": "x"}},
                    "models": [{"model_id": "m", "provider": "python:models:Missing"}],
                    "benchmarks": ["gsm8k"],
                }
            ),
            base_dir=project,
        )  # fmt: skip


def test_a_hub_dataset_that_cannot_load_is_an_error_naming_the_benchmark(tmp_path: Path) -> None:
    data = {
        "project": {"project_name": "p", "researcher_id": "r",
                    "storage": {"backend": "sqlite_blob", "root_dir": "x"}},
        "models": [{"model_id": "m", "provider": "builtin/demo_generator"}],
        "benchmarks": [{"name": "hubless", "dataset": {"dataset_id": str(tmp_path / "none")},
                        "scoring": {"metrics": ["builtin/exact_match"]}}],
    }  # fmt: skip
    with pytest.raises(ConfigError, match=r"benchmarks\[0\] \(hubless\): cannot load"):
        Campaign(CampaignSpec.model_validate(data))
