"""No case silently leaves a denominator: an unparsed answer counts 0 in every mean.

One run, six answered cases (two right, one wrong, three with no number a
parser can read) and one case whose generation failed. Every place that
reports a mean must say 2/6, with three parse failures and one error beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_experiment
from themis import Reporter, StatsEngine, sqlite_store
from themis.core.analysis.inspection import load_run_result, quickcheck
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig
from themis.core.contexts import GenerateContext
from themis.core.models import Case, Dataset, GenerationResult, MetricCounts
from themis.core.storage.stores import InMemoryRunStore
from themis.core.storage.stores.base import RunStore

OUTPUTS = {
    "right": "3 + 1 makes 4.",
    "empty": "",
    "refusal": "I'm sorry, I can't help with that.",
    "spelled": "The answer is five.",
    "wrong": "The answer is 7.",
    "bare": "9",
}
EXPECTED = {"right": 4, "empty": 2, "refusal": 3, "spelled": 5, "wrong": 6, "bare": 9}
MEAN = 2 / 6
COUNTS = MetricCounts(n=6, parse_failures=3, errors=1)


class ScriptedModel:
    """Answers each case with a fixed text; the ``outage`` case raises, as a provider would."""

    component_id = "test/scripted"
    version = "1"

    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs

    def fingerprint(self) -> str:
        return json.dumps(self.outputs, sort_keys=True)

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        if case.case_id == "outage":
            raise ConnectionError("provider unreachable")
        return GenerationResult(candidate_id=ctx.case_key, final_output=self.outputs[case.case_id])


def _dataset() -> Dataset:
    cases = [Case(case_id=key, input=key, expected_output=value) for key, value in EXPECTED.items()]
    cases.append(Case(case_id="outage", input="outage", expected_output=1))
    return Dataset(dataset_id="numbers", cases=cases)


def _run(store: RunStore, outputs: dict[str, str]) -> str:
    experiment = make_experiment(
        generation=GenerationConfig(generator=ScriptedModel(outputs)),
        evaluation=EvaluationConfig(
            parsers=["builtin/number"],
            metrics=["builtin/exact_match", "builtin/numeric_tolerance"],
        ),
        datasets=[_dataset()],
        runtime=RuntimeConfig(progress="off", max_retries=0),
    )
    result = experiment.run(store=store)
    assert result.metric_means["builtin/exact_match"] == pytest.approx(MEAN)
    assert result.metric_counts["builtin/exact_match"] == COUNTS
    return result.run_id


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RunStore:
    if request.param == "memory":
        return InMemoryRunStore()
    return sqlite_store(tmp_path / "runs.sqlite")


def test_every_mean_counts_unparsed_answers_as_wrong(store: RunStore) -> None:
    run_id = _run(store, OUTPUTS)
    for metric_id in ("builtin/exact_match", "builtin/numeric_tolerance"):
        reloaded = load_run_result(store, run_id)
        assert reloaded.metric_means[metric_id] == pytest.approx(MEAN)
        assert reloaded.metric_counts[metric_id] == COUNTS
        summary = next(
            s for s in StatsEngine().summarize(store, run_id) if s.metric_id == metric_id
        )
        assert (summary.mean, summary.n) == (pytest.approx(MEAN), 6)
        assert (summary.parse_failures, summary.errors) == (3, 1)
        quick = quickcheck(store, run_id)
        assert quick["metric_means"][metric_id] == pytest.approx(MEAN)  # type: ignore[index]
        assert quick["metric_counts"][metric_id] == COUNTS.model_dump()  # type: ignore[index]
    markdown = Reporter(store).export_markdown(run_id)
    assert "| builtin/exact_match | 0.333 |" in markdown
    assert (
        markdown.split("| builtin/exact_match | 0.333 |")[1]
        .split("\n")[0]
        .endswith("| 6 | 3 | 1 |")
    )
    report = json.loads(Reporter(store).export_json(run_id))
    exact = next(m for m in report["metrics"] if m["metric_id"] == "builtin/exact_match")
    assert (exact["mean"], exact["n"], exact["parse_failures"]) == (pytest.approx(MEAN), 6, 3)


def test_comparisons_pair_unparsed_answers_as_zeros(store: RunStore) -> None:
    baseline = _run(store, OUTPUTS)
    fixed = {**OUTPUTS, "empty": "2", "refusal": "It is 3.", "spelled": "5"}
    candidate = make_experiment(
        generation=GenerationConfig(generator=ScriptedModel(fixed)),
        evaluation=EvaluationConfig(
            parsers=["builtin/number"],
            metrics=["builtin/exact_match", "builtin/numeric_tolerance"],
        ),
        datasets=[_dataset()],
        runtime=RuntimeConfig(progress="off", max_retries=0),
    ).run(store=store)
    assert candidate.metric_means["builtin/exact_match"] == pytest.approx(5 / 6)
    comparison = StatsEngine().compare(store, baseline, candidate.run_id)
    exact = comparison.metric("builtin/exact_match")
    assert exact.n_pairs == 6
    assert (exact.baseline_mean, exact.candidate_mean) == (
        pytest.approx(MEAN),
        pytest.approx(5 / 6),
    )
    assert exact.tests["mcnemar"].details == {
        "baseline_only_correct": 0,
        "candidate_only_correct": 3,
    }


def test_the_command_line_shows_the_unparsed_count_beside_the_mean(tmp_path: Path) -> None:
    from tests.cli.helpers import ok, ok_json, themis

    store = sqlite_store(tmp_path / "runs.sqlite")
    run_id = _run(store, OUTPUTS)
    store.close()
    where = ("--path", "runs.sqlite", "--run-id", run_id)
    summary = ok_json(themis("quickcheck", *where, "--json", cwd=tmp_path))
    assert summary["metric_means"]["builtin/exact_match"] == pytest.approx(MEAN)
    assert summary["metric_counts"]["builtin/exact_match"] == COUNTS.model_dump()
    table = ok(themis("quickcheck", *where, cwd=tmp_path)).stdout
    header = next(line for line in table.splitlines() if "unparsed" in line)
    row = next(line for line in table.splitlines() if "builtin/exact_match" in line)
    assert _cells(header)[-4:] == ["mean", "n", "unparsed", "errors"]
    assert _cells(row)[-4:] == ["0.3333", "6", "3", "1"]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("│┃ ").replace("┃", "│").split("│")]


def test_a_run_stopped_before_scoring_has_no_means_to_count_unparsed_answers_in(
    store: RunStore,
) -> None:
    experiment = make_experiment(
        generation=GenerationConfig(generator=ScriptedModel(OUTPUTS)),
        evaluation=EvaluationConfig(parsers=["builtin/number"], metrics=["builtin/exact_match"]),
        datasets=[_dataset()],
        runtime=RuntimeConfig(progress="off", max_retries=0),
    )
    parsed = experiment.run(store=store, until_stage="parse")
    assert parsed.metric_means == {}
    assert parsed.metric_counts["builtin/exact_match"] == MetricCounts(n=0, errors=1)
    [summary] = StatsEngine().summarize(store, parsed.run_id)
    assert (summary.n, summary.mean, summary.parse_failures) == (0, None, 0)
    scored = experiment.run(store=store)
    assert scored.metric_means == {"builtin/exact_match": pytest.approx(MEAN)}
    [summary] = StatsEngine().summarize(store, parsed.run_id)
    assert (summary.n, summary.parse_failures) == (6, 3)


def test_a_model_that_never_answers_scores_zero_not_nothing(store: RunStore) -> None:
    silent = make_experiment(
        generation=GenerationConfig(generator=ScriptedModel(dict.fromkeys(OUTPUTS, "No idea."))),
        evaluation=EvaluationConfig(parsers=["builtin/number"], metrics=["builtin/exact_match"]),
        datasets=[_dataset()],
        runtime=RuntimeConfig(progress="off", max_retries=0),
    ).run(store=store)
    assert silent.metric_means == {"builtin/exact_match": 0.0}
    assert silent.metric_counts["builtin/exact_match"] == MetricCounts(
        n=6, parse_failures=6, errors=1
    )
    [summary] = StatsEngine().summarize(store, silent.run_id)
    assert (summary.mean, summary.n, summary.parse_failures) == (0.0, 6, 6)
    assert quickcheck(store, silent.run_id)["metric_means"] == {"builtin/exact_match": 0.0}


def test_the_comparison_report_counts_unparsed_answers_beside_the_means(store: RunStore) -> None:
    baseline = _run(store, OUTPUTS)
    fixed = {**OUTPUTS, "empty": "2", "refusal": "It is 3."}
    candidate = make_experiment(
        generation=GenerationConfig(generator=ScriptedModel(fixed)),
        evaluation=EvaluationConfig(
            parsers=["builtin/number"],
            metrics=["builtin/exact_match", "builtin/numeric_tolerance"],
        ),
        datasets=[_dataset()],
        runtime=RuntimeConfig(progress="off", max_retries=0),
    ).run(store=store)
    exact = StatsEngine().compare(store, baseline, candidate.run_id).metric("builtin/exact_match")
    assert (exact.baseline_parse_failures, exact.candidate_parse_failures) == (3, 1)
    markdown = Reporter(store).export_comparison(baseline, candidate.run_id)
    assert "| builtin/exact_match | 6 | 3/1 | 0.333 | 0.667 |" in markdown


def test_an_expected_output_a_metric_cannot_read_is_refused_at_compile() -> None:
    cases = [
        Case(case_id="ok", input="q", expected_output="\\$18.90"),
        Case(case_id="bad", input="q", expected_output="eighteen dollars"),
        Case(case_id="none", input="q"),  # no reference: the metric's ScoreError, not bad input
    ]
    experiment = make_experiment(
        evaluation=EvaluationConfig(
            parsers=["builtin/number"], metrics=["builtin/numeric_tolerance"]
        ),
        datasets=[Dataset(dataset_id="money", cases=cases)],
    )
    with pytest.raises(
        ValueError, match=r"dataset 'money' case 'bad': expected output .* not a number"
    ):
        experiment.compile()
