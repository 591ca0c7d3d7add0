"""Campaigns: models x grid points x benchmarks as ordinary experiments, run resumably."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.fake_openai_server import FakeOpenAIServer, Reply
from tests.campaign.conftest import CHAT, arithmetic_answer, campaign_data, write_campaign
from themis import catalog
from themis.campaign import (
    Campaign,
    CampaignModelSpec,
    CampaignSpec,
    campaign_report,
    load_campaign_spec,
)
from themis.core.analysis.stats import StatsEngine
from themis.core.authoring.config_files import ConfigError
from themis.core.models import RunStatus
from themis.core.storage.stores.memory import InMemoryRunStore
from themis.core.storage.stores.sqlite import SqliteRunStore
from themis_adapters_openai import openai


def load(server: FakeOpenAIServer, tmp_path: Path, **changes: Any) -> Campaign:
    path = write_campaign(tmp_path / "project.yaml", campaign_data(server, tmp_path, **changes))
    return Campaign.from_file(path)


def test_a_campaign_expands_into_one_experiment_per_model_point_and_benchmark(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    campaign = load(server, tmp_path)
    assert [(p.point_id, p.benchmark) for p in campaign.points] == [
        ("good", "arith"),
        ("shaky[temperature=0.0]", "arith"),
        ("shaky[temperature=0.8]", "arith"),
    ]
    assert len({p.run_id for p in campaign.points}) == 3
    snapshot = campaign.points[2].experiment.compile()
    assert snapshot.identity.seeds == [3]  # the project's global seed
    metadata = snapshot.provenance.environment_metadata
    assert metadata["themis.project.name"] == "sweep"
    assert metadata["themis.campaign.point"] == "shaky[temperature=0.8]"
    assert server.requests == []  # building and compiling calls no model


def test_params_are_run_identity_and_connection_storage_and_policy_are_not(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    base = [p.run_id for p in load(server, tmp_path).points]
    moved = campaign_data(server, tmp_path)
    for model in moved["models"]:
        model["extras"] = {**model["extras"], "base_url": "http://127.0.0.1:9/v1", "timeout_s": 5}
    moved["project"]["storage"] = {"backend": "sqlite_blob", "root_dir": "elsewhere"}
    moved["project"]["execution_policy"] = {"max_retries": 0, "max_in_flight_work_items": 2}
    moved["project"]["project_name"] = "renamed"
    assert [p.run_id for p in Campaign(CampaignSpec.model_validate(moved)).points] == base

    hotter = campaign_data(server, tmp_path)
    hotter["models"][1]["grid"]["overrides"]["temperature"] = [0.0, 0.8, 1.2]
    hotter["models"][0]["params"]["top_p"] = 0.9
    points = Campaign(CampaignSpec.model_validate(hotter)).points
    # The shaky points that did not change keep their run ids: they resume.
    assert [p.run_id for p in points[1:3]] == base[1:]
    assert points[0].run_id != base[0]  # top_p changed the good model's run
    assert points[3].point_id == "shaky[temperature=1.2]"

    seeded = campaign_data(server, tmp_path)
    seeded["project"]["global_seed"] = 4
    assert {p.run_id for p in Campaign(CampaignSpec.model_validate(seeded)).points}.isdisjoint(base)


def test_a_point_compiles_to_the_same_experiment_as_the_catalog_run(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    campaign = load(
        server,
        tmp_path,
        benchmarks=[{"name": "gsm8k", "source": "sample", "limit": 2}],
        project={
            "project_name": "p",
            "researcher_id": "r",
            "storage": {"backend": "sqlite_blob", "root_dir": "s"},
        },
    )
    generator = openai(
        "good",
        base_url=server.base_url,
        api_mode="chat_completions",
        temperature=0.0,
        max_output_tokens=16,
    )
    direct = catalog.build_experiment("gsm8k", model=generator, source="sample", limit=2)
    assert campaign.points[0].run_id == direct.compile().run_id


def test_run_goes_point_by_point_and_a_rerun_skips_finished_points(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    with load(server, tmp_path) as campaign:
        first = campaign.run()
        assert [o.status for o in first.points] == [RunStatus.completed] * 3
        assert [o.skipped for o in first.points] == [False] * 3
        means = {o.point_id: o.metric_means["builtin/exact_match"] for o in first.points}
        assert means == {
            "good": 1.0,
            "shaky[temperature=0.0]": 1.0,
            "shaky[temperature=0.8]": 0.0,
        }
        calls = len(server.received(CHAT))
        assert calls == 24  # 3 points x 8 cases

        second = campaign.run()
        assert [o.skipped for o in second.points] == [True] * 3
        assert {o.point_id: o.metric_means["builtin/exact_match"] for o in second.points} == means
        assert len(server.received(CHAT)) == calls
    assert (tmp_path / "store" / "themis.sqlite").is_file()  # root_dir, relative to the file


def test_an_interrupted_point_continues_from_its_stored_generations(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    with load(server, tmp_path) as campaign:
        point = campaign.points[0]
        point.experiment.run(until_stage="generate", store=campaign.store)
        assert len(server.received(CHAT)) == 8
        assert not campaign.is_finished(point)

        result = campaign.run(points=[point])
        assert result.points[0].status is RunStatus.completed
        assert not result.points[0].skipped
        assert len(server.received(CHAT)) == 8  # nothing generated twice


def test_only_the_new_point_runs_when_the_grid_grows(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    with load(server, tmp_path) as campaign:
        campaign.run()
    grown = campaign_data(server, tmp_path)
    grown["models"][1]["grid"]["overrides"]["temperature"] = [0.0, 0.8, 1.5]
    path = write_campaign(tmp_path / "project.yaml", grown)
    before = len(server.received(CHAT))
    with Campaign.from_file(path) as campaign:
        result = campaign.run()
    assert [o.skipped for o in result.points] == [True, True, True, False]
    assert len(server.received(CHAT)) == before + 8
    assert {r.body["temperature"] for r in server.received(CHAT)[before:]} == {1.5}


def test_a_failing_point_is_recorded_and_the_campaign_goes_on(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = campaign_data(server, tmp_path)
    data["models"][0]["extras"] = {**data["models"][0]["extras"], "api_key_env": "NO_SUCH_KEY"}
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with Campaign(CampaignSpec.model_validate(data), store=InMemoryRunStore()) as campaign:
        result = campaign.run()
    first, *rest = result.points
    assert first.status is RunStatus.failed and "NO_SUCH_KEY" in (first.error or "")
    assert [o.status for o in rest] == [RunStatus.completed, RunStatus.completed]
    assert result.failed == [first]


def test_provider_errors_fail_cases_not_the_campaign(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.script(CHAT, *[Reply(status=400, body={"error": {"message": "bad"}})] * 8)
    with load(server, tmp_path) as campaign:
        result = campaign.run()
        assert result.points[0].status is RunStatus.failed
        assert result.points[0].failed_cases == 8
        assert [o.status for o in result.points[1:]] == [RunStatus.completed] * 2
        # The failed point is not finished: a rerun retries it and skips the rest.
        again = campaign.run()
    assert [o.skipped for o in again.points] == [False, True, True]
    assert again.points[0].status is RunStatus.completed


def test_bad_input_fails_before_any_call(server: FakeOpenAIServer, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no_such_benchmark"):
        load(server, tmp_path, benchmarks=["no_such_benchmark"])
    missing = {
        "name": "gone",
        "dataset": {"source": "local", "dataset_id": "gone.jsonl"},
        "scoring": {"metrics": ["builtin/exact_match"]},
    }
    with pytest.raises(ConfigError, match=r"gone\.jsonl: dataset file not found"):
        load(server, tmp_path, benchmarks=[missing])
    with pytest.raises(ConfigError, match=r"models\.0\.params\.temperature"):
        load(
            server,
            tmp_path,
            models=[{"model_id": "good", "provider": "openai", "params": {"temperature": -1}}],
        )
    assert server.requests == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"models": []}, "models: List should have at least 1 item"),
        ({"baseline": 3}, "baseline"),
        (
            {
                "models": [
                    {"model_id": "a", "provider": "openai"},
                    {"model_id": "a", "provider": "openai"},
                ]
            },
            r"model name\(s\) \['a'\] used twice",
        ),
        (
            {"models": [{"model_id": "a", "provider": "builtin/demo_generator", "params": {}}]},
            "takes no inference params",
        ),
        (
            {"models": [{"model_id": "a", "provider": "openai", "params": {}, "grid": {}}]},
            "params or grid, not both",
        ),
        ({"benchmarks": [{"name": "x", "dataset": {"source": "local"}}]}, r"benchmarks\.0\.custom"),
        ({"project": {"project_name": "p"}}, "project.researcher_id: Field required"),
    ],
)
def test_a_bad_campaign_file_names_what_is_wrong_and_where(
    server: FakeOpenAIServer, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = write_campaign(tmp_path / "bad.yaml", campaign_data(server, tmp_path, **change))
    with pytest.raises(ConfigError, match=message) as caught:
        load_campaign_spec(path)
    assert str(path) in str(caught.value)


def test_inference_params_of_each_point_reach_the_wire(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    params = {
        "temperature": 0.3,
        "top_p": 0.8,
        "top_k": 20,
        "max_tokens": 12,
        "stop_sequences": ["\n\n"],
        "logprobs": 2,
        "response_format": "json",
        "seed": 11,
        "extras": {"min_p": 0.05},
    }
    connection = {"base_url": server.base_url, "api_mode": "chat_completions"}
    models = [
        {"name": name, "model_id": "good", "provider": provider, "extras": connection}
        | {"params": params}
        for name, provider in (("o", "openai"), ("v", "vllm"))
    ]
    with load(server, tmp_path, models=models) as campaign:
        campaign.run()
    bodies = [r.body for r in server.received(CHAT)]
    assert len(bodies) == 16
    openai_body, vllm_body = bodies[0], bodies[-1]
    for body in (openai_body, vllm_body):
        assert body["temperature"] == 0.3
        assert body["top_p"] == 0.8
        assert body["top_k"] == 20
        assert body["stop"] == ["\n\n"]
        assert body["seed"] == 11
        assert body["logprobs"] is True and body["top_logprobs"] == 2
        assert body["response_format"] == {"type": "json_object"}
        assert body["min_p"] == 0.05
    assert openai_body["max_completion_tokens"] == 12
    assert vllm_body["max_tokens"] == 12  # vLLM's name for the limit


def test_the_report_is_a_leaderboard_with_corrected_paired_comparisons(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    with load(server, tmp_path) as campaign:
        campaign.run()
        report = campaign_report(campaign)
        assert report.baseline == "good"
        assert report.columns == [("arith", "builtin/exact_match")]
        assert report.points == ["good", "shaky[temperature=0.0]", "shaky[temperature=0.8]"]
        hot = report.cell("shaky[temperature=0.8]", "arith")
        assert (hot.mean, hot.n, hot.ci_low, hot.ci_high) == (0.0, 8, 0.0, 0.0)
        assert report.cell("good", "arith").mean == 1.0

        cold = report.comparison("shaky[temperature=0.0]", "arith")
        worse = report.comparison("shaky[temperature=0.8]", "arith")
        assert cold.difference == 0.0 and cold.better == "neither"
        assert worse.difference == -1.0 and worse.test == "mcnemar" and worse.n_pairs == 8
        # Corrected across every comparison of the report, not one at a time.
        raw = [c.p_value or 0.0 for c in report.comparisons]
        assert [c.p_adjusted for c in report.comparisons] == StatsEngine.holm(raw)
        assert worse.p_value == pytest.approx(2 * 0.5**8)
        assert worse.significant and worse.better == "baseline"

        by_point = campaign_report(campaign, baseline="shaky[temperature=0.8]", correction="bh")
        assert by_point.comparison("good", "arith").better == "candidate"
        assert [c.p_adjusted for c in by_point.comparisons] == StatsEngine.benjamini_hochberg(
            [c.p_value or 0.0 for c in by_point.comparisons]
        )
        assert campaign_report(campaign, baseline="shaky").baseline == "shaky[temperature=0.0]"
        with pytest.raises(ValueError, match="baseline 'nobody'"):
            campaign_report(campaign, baseline="nobody")

    markdown = report.export("markdown")
    assert "| good | 1.000 [1.000, 1.000] (n=8) |" in markdown
    assert "| shaky[temperature=0.8] | arith | 8 | 1.000 | 0.000 | -1.000 |" in markdown
    assert "Holm correction across all 2 comparisons" in markdown
    rows = list(csv.DictReader(io.StringIO(report.export("csv"))))
    assert [r["section"] for r in rows] == ["leaderboard"] * 3 + ["comparison"] * 2
    assert rows[2]["model"] == "shaky[temperature=0.8]" and rows[2]["mean"] == "0.0"
    assert rows[4]["better"] == "baseline" and rows[4]["baseline"] == "good"
    latex = report.export("latex")
    assert "shaky[temperature=0.8] & 0.000 [0.000, 0.000]" in latex
    assert r"\label{tab:campaign-comparisons}" in latex


def test_the_report_lists_points_not_run_yet(server: FakeOpenAIServer, tmp_path: Path) -> None:
    with load(server, tmp_path) as campaign:
        campaign.run(points=campaign.select(models=["good"]))
        report = campaign_report(campaign)
    assert report.not_run == ["shaky[temperature=0.0] on arith", "shaky[temperature=0.8] on arith"]
    assert report.comparisons == []
    assert report.cell("shaky[temperature=0.8]", "arith").mean is None
    assert "Not run yet: shaky[temperature=0.0] on arith" in report.to_markdown()


def test_select_refuses_names_the_campaign_does_not_have(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    campaign = load(server, tmp_path)
    assert len(campaign.select(models=["shaky"])) == 2
    assert len(campaign.select(models=["shaky[temperature=0.8]"], benchmarks=["arith"])) == 1
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['nobody'\]"):
        campaign.select(models=["nobody"])


def test_the_sqlite_storage_spec_opens_a_store_under_its_root(tmp_path: Path) -> None:
    from themis.campaign import open_project_store
    from themis.specs import SqliteBlobStorageSpec

    store = open_project_store(SqliteBlobStorageSpec(root_dir=str(tmp_path / "proj")))
    try:
        assert isinstance(store, SqliteRunStore)
        assert store.path == tmp_path / "proj" / "themis.sqlite"
    finally:
        store.close()


def test_without_numpy_the_report_shows_means_only(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with load(server, tmp_path) as campaign:
        campaign.run()
        monkeypatch.setitem(sys.modules, "numpy", None)  # as if it were not installed
        report = campaign_report(campaign)
    assert not report.statistics and report.comparisons == []
    assert report.cell("good", "arith").mean == 1.0
    assert report.cell("good", "arith").ci_low is None
    markdown = report.to_markdown()
    assert "| good | 1.000 (n=8) |" in markdown
    assert "Confidence intervals and tests need numpy and scipy" in markdown


def test_a_toml_campaign_file_loads_like_a_yaml_one(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    (tmp_path / "project.toml").write_text(
        f"""
baseline = "good"

[project]
project_name = "sweep"
researcher_id = "alice"
storage = {{backend = "sqlite_blob", root_dir = "store"}}

[[models]]
name = "good"
model_id = "good"
provider = "openai"
extras = {{base_url = "{server.base_url}", api_mode = "chat_completions"}}
grid = {{overrides = {{temperature = [0.0, 0.8]}}}}

[[benchmarks]]
name = "gsm8k"
source = "sample"
limit = 1
""",
        encoding="utf-8",
    )
    campaign = Campaign.from_file(tmp_path / "project.toml", overrides=["baseline=good"])
    assert [p.point_id for p in campaign.points] == [
        "good[temperature=0.0]",
        "good[temperature=0.8]",
    ]
    assert campaign.spec.benchmarks[0].label == "gsm8k"


def test_the_sqlite_storage_spec_puts_blobs_under_its_root(tmp_path: Path) -> None:
    import inspect

    from themis.campaign import open_project_store
    from themis.specs import SqliteBlobStorageSpec

    if "blob_root" not in inspect.signature(SqliteRunStore.__init__).parameters:
        pytest.skip("SQLite blob storage (issue 18b) is not in this build")
    store = open_project_store(SqliteBlobStorageSpec(root_dir=str(tmp_path / "proj")))
    try:
        assert store.blobs.root == tmp_path / "proj" / "blobs"  # type: ignore[attr-defined]
    finally:
        store.close()


def test_two_models_on_one_generator_id_are_two_runs(tmp_path: Path) -> None:
    """A registered generator id does not see model_id, yet two models are two runs:
    the second must neither be skipped as "completed earlier" nor reuse the first's
    generations."""
    data = {
        "project": {
            "project_name": "p",
            "researcher_id": "r",
            "global_seed": 0,
            "storage": {"backend": "sqlite_blob", "root_dir": str(tmp_path / "runs")},
            "execution_policy": {},
        },
        "models": [
            {"name": "a", "model_id": "demo-a", "provider": "builtin/demo_generator"},
            {"name": "b", "model_id": "demo-b", "provider": "builtin/demo_generator"},
        ],
        "benchmarks": [{"name": "gsm8k", "source": "sample", "limit": 2}],
    }
    with Campaign(CampaignSpec.model_validate(data), store=InMemoryRunStore()) as campaign:
        assert len({p.run_id for p in campaign.points}) == 2
        result = campaign.run()
    assert [(o.point_id, o.skipped) for o in result.points] == [("a", False), ("b", False)]


def test_two_models_a_provider_cannot_tell_apart_are_refused(tmp_path: Path) -> None:
    models = tmp_path / "models.py"
    models.write_text(
        "class Same:\n"
        "    component_id = 'same'\n    version = '1'\n"
        "    def fingerprint(self):\n        return 'same'\n"
        "    async def generate(self, case, ctx):\n        return 'x'\n"
    )
    data = {
        "project": {
            "project_name": "p",
            "researcher_id": "r",
            "global_seed": 0,
            "storage": {"backend": "sqlite_blob", "root_dir": "runs"},
            "execution_policy": {},
        },
        "models": [
            {"name": "a", "model_id": "m1", "provider": "python:models:Same"},
            {"name": "b", "model_id": "m2", "provider": "python:models:Same"},
        ],
        "benchmarks": [{"name": "gsm8k", "source": "sample", "limit": 2}],
    }
    with pytest.raises(ConfigError, match=r"'a' and 'b' are the same run on gsm8k"):
        Campaign(CampaignSpec.model_validate(data), base_dir=tmp_path)


def test_a_campaign_takes_seed_specs_as_python_objects(tmp_path: Path) -> None:
    """Models may be plain ModelSpecs (default params) beside CampaignModelSpecs."""
    from themis.specs import (
        InferenceGridSpec,
        InferenceParamsSpec,
        ModelSpec,
        ProjectSpec,
        SqliteBlobStorageSpec,
    )

    spec = CampaignSpec(
        project=ProjectSpec(
            project_name="p",
            researcher_id="r",
            global_seed=0,
            storage=SqliteBlobStorageSpec(root_dir=str(tmp_path)),
        ),
        models=[
            ModelSpec(model_id="demo", provider="builtin/demo_generator"),
            CampaignModelSpec(
                name="swept",
                model_id="m",
                provider="openai",
                grid=InferenceGridSpec(
                    params=[InferenceParamsSpec(max_tokens=8)],
                    overrides={"temperature": [0.0, 0.5]},
                ),
            ),
        ],
        benchmarks=["gsm8k"],
    )
    assert [m.label for m in spec.models] == ["demo", "swept"]
    assert [p.temperature for p in spec.models[1].points()] == [0.0, 0.5]


def test_a_baseline_that_is_also_a_grid_point_shares_its_run(tmp_path: Path) -> None:
    """The same model with the same params under two names is one run, not an error."""
    same = {"model_id": "demo", "provider": "builtin/demo_generator"}
    data = {
        "project": {
            "project_name": "p",
            "researcher_id": "r",
            "storage": {"backend": "sqlite_blob", "root_dir": str(tmp_path)},
        },
        "models": [{"name": "baseline", **same}, {"name": "again", **same}],
        "benchmarks": [{"name": "gsm8k", "source": "sample", "limit": 2}],
    }
    with Campaign(CampaignSpec.model_validate(data), store=InMemoryRunStore()) as campaign:
        assert len({p.run_id for p in campaign.points}) == 1


def test_the_leaderboard_says_how_many_answers_did_not_parse(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    """Unparsed answers count 0 in the leaderboard's mean (issue 21), and every
    format shows how many there were beside it."""

    def hot_shaky_mumbles(path: str, body: Any) -> str:
        if body.get("model") == "shaky" and (body.get("temperature") or 0) > 0:
            text = json.dumps(body.get("messages"))
            if re.search(r"[0246]\+", text):
                return "I would rather not say."
        return arithmetic_answer(path, body)

    server.answer = hot_shaky_mumbles
    with load(server, tmp_path) as campaign:
        campaign.run()
        report = campaign_report(campaign)
    hot = report.cell("shaky[temperature=0.8]", "arith")
    assert (hot.mean, hot.n, hot.parse_failures, hot.errors) == (0.0, 8, 4, 0)
    assert report.cell("good", "arith").parse_failures == 0
    markdown = report.export("markdown")
    assert "| model | arith | arith unparsed |" in markdown
    assert "| shaky[temperature=0.8] | 0.000 [0.000, 0.000] (n=8) | 4 |" in markdown
    rows = list(csv.DictReader(io.StringIO(report.export("csv"))))
    assert [r["unparsed"] for r in rows if r["section"] == "leaderboard"] == ["0", "0", "4"]
    latex = report.export("latex")
    assert "shaky[temperature=0.8] & 0.000 [0.000, 0.000] & 4" in latex
    assert "Model & arith & Unparsed" in latex
    cells = json.loads(report.export("json"))["cells"]
    assert [c["parse_failures"] for c in cells] == [0, 0, 4]
