"""Reporter: every format, read from stored projections."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest

from tests.analysis.helpers import ReplayableGenerator, demo_experiment, replayable_experiment
from tests.conftest import arithmetic_dataset
from themis import InMemoryRunStore, Reporter, StatsEngine
from themis.core.analysis.reporting import SCORE_COLUMNS
from themis.core.config import EvaluationConfig
from themis.core.contexts import ScoreContext
from themis.core.models import Case, ParsedOutput, Score
from themis.core.observability.redaction import REDACTED
from themis.core.storage.stores.base import UnknownRunError


class LeakyMetric:
    """A metric that records a credential in its details (it should not)."""

    component_id = "test/leaky"
    version = "1"

    def fingerprint(self) -> str:
        return "leaky"

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score:
        return Score(
            metric_id="test/leaky", value=0.5, details={"api_key": "sk-live-1", "note": "ok|x"}
        )


@pytest.fixture(scope="module")
def reported() -> tuple[InMemoryRunStore, str]:
    """Two datasets, one failing case, three metrics (one with leaky details)."""
    store = InMemoryRunStore()
    experiment = replayable_experiment(
        ReplayableGenerator(),
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/token_f1", LeakyMetric()],
            parsers=["builtin/json_identity"],
        ),
        datasets=[arithmetic_dataset("alpha", 4), arithmetic_dataset("beta_set", 3)],
    )
    result = experiment.run(store=store)
    return store, result.run_id


def test_score_table_rows_carry_every_column_in_case_order(
    reported: tuple[InMemoryRunStore, str],
) -> None:
    store, run_id = reported
    rows = Reporter(store).export_score_table(run_id)
    assert len(rows) == 7 * 3
    assert all(tuple(row) == SCORE_COLUMNS for row in rows)
    assert [row["case_key"] for row in rows[:3]] == ["alpha::c0"] * 3
    assert [row["metric_id"] for row in rows[:3]] == [
        "builtin/exact_match",
        "builtin/token_f1",
        "test/leaky",
    ]
    wrong = next(r for r in rows if r["case_key"] == "alpha::c1" and r["metric_id"].endswith("h"))
    assert wrong["value"] == 0.0 and wrong["outcome"] == "scored"
    leaky = next(r for r in rows if r["metric_id"] == "test/leaky")
    assert leaky["details"] == {"api_key": REDACTED, "note": "ok|x"}


def test_markdown_has_metric_table_with_intervals_and_counts(
    reported: tuple[InMemoryRunStore, str],
) -> None:
    store, run_id = reported
    markdown = Reporter(store).export_markdown(run_id)
    assert markdown.startswith(f"# Themis run report: `{run_id}`")
    # two datasets: one row per dataset and one over all, for every metric
    row = re.search(
        r"^\| all \| builtin/exact_match \| (\S+) \| \[(\S+), (\S+)\] \| 7 \| 0 \| 0 \|$",
        markdown,
        re.M,
    )
    assert row is not None
    mean, low, high = map(float, row.groups())
    assert mean == pytest.approx(5 / 7, abs=5e-4) and low <= mean <= high
    assert re.search(
        r"^\| beta\\?_set \| builtin/exact_match \| 0\.667 \| .* \| 3 \| 0 \| 0 \|$", markdown, re.M
    )
    assert "| generate | 7 | 0 | 0 | 0 |" in markdown
    assert "sk-live" not in markdown


def test_markdown_lists_failures_by_category() -> None:
    store = InMemoryRunStore()

    class Flaky(ReplayableGenerator):
        def generate(self, case: Any, ctx: Any) -> Any:
            if case.case_id == "c2":
                raise TimeoutError("model took too long")
            return super().generate(case, ctx)

    run = replayable_experiment(Flaky()).run(
        store=store, runtime=demo_experiment(0.0).runtime.model_copy(update={"max_retries": 0})
    )
    markdown = Reporter(store).export_markdown(run.run_id)
    assert "## Failures" in markdown and "By category: timeout 1" in markdown
    assert "| arith::c2 | generate | timeout | TimeoutError: model took too long |" in markdown
    report = json.loads(Reporter(store).export_json(run.run_id))
    assert report["failures_by_category"] == {"timeout": 1}
    failed = next(case for case in report["cases"] if case["case_id"] == "c2")
    assert failed["status"] == "failed" and failed["errors"][0]["category"] == "timeout"


def test_csv_round_trips_to_the_score_table(reported: tuple[InMemoryRunStore, str]) -> None:
    store, run_id = reported
    reporter = Reporter(store)
    parsed = list(csv.DictReader(io.StringIO(reporter.export_csv(run_id))))
    table = reporter.export_score_table(run_id)
    assert len(parsed) == len(table)
    for line, row in zip(parsed, table, strict=True):
        assert line["case_key"] == row["case_key"] and line["metric_id"] == row["metric_id"]
        assert float(line["value"]) == row["value"]
        assert json.loads(line["details"]) == row["details"]


def test_latex_table_is_well_formed(reported: tuple[InMemoryRunStore, str]) -> None:
    store, run_id = reported
    latex = Reporter(store).export_latex(run_id)
    assert latex.count(r"\begin{table}") == latex.count(r"\end{table}") == 1
    assert latex.count(r"\begin{tabular}") == latex.count(r"\end{tabular}") == 1
    columns = re.search(r"\\begin\{tabular\}\{(\w+)\}", latex)
    assert columns is not None
    body = latex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert len(body) == 3 * 3  # (all + 2 datasets) x 3 metrics
    for line in body:
        assert line.endswith(r"\\")
        assert line.count("&") + 1 == len(columns.group(1))
    assert r"builtin/exact\_match" in latex and r"beta\_set" in latex
    assert "_" not in latex.replace(r"\_", "")  # every underscore is escaped
    assert r"95\% CI" in latex


def test_json_report_holds_every_projection(reported: tuple[InMemoryRunStore, str]) -> None:
    store, run_id = reported
    report = json.loads(Reporter(store).export_json(run_id))
    assert report["format"] == "themis-report" and report["schema_version"] == 1
    assert report["run"]["run_id"] == run_id and report["status"] == "completed"
    assert set(report["execution_state"]["stages"]) == {
        "generate",
        "reduce",
        "parse",
        "score",
        "judge",
    }
    overall = [m for m in report["metrics"] if m["dataset_id"] is None]
    assert [m["metric_id"] for m in overall] == [
        "builtin/exact_match",
        "builtin/token_f1",
        "test/leaky",
    ]
    assert len(report["cases"]) == 7 and len(report["scores"]) == 21
    assert "sk-live" not in json.dumps(report)


def test_reports_are_reproducible_and_follow_the_engine_settings(
    reported: tuple[InMemoryRunStore, str],
) -> None:
    store, run_id = reported
    assert Reporter(store).export_markdown(run_id) == Reporter(store).export_markdown(run_id)
    narrow = Reporter(store, stats=StatsEngine(confidence=0.8)).export_markdown(run_id)
    assert "| Metric | Mean | 80% CI | n | Unparsed | Errors |" in narrow


def test_unknown_run_is_a_clear_error() -> None:
    with pytest.raises(UnknownRunError, match="run-nope"):
        Reporter(InMemoryRunStore()).export_markdown("run-nope")


def test_comparison_formats() -> None:
    store = InMemoryRunStore()
    base = demo_experiment(0.0, cases=30).run(store=store)
    cand = demo_experiment(0.5, cases=30).run(store=store)
    reporter = Reporter(store)
    parsed = json.loads(reporter.export_comparison(base.run_id, cand.run_id, format="json"))
    assert parsed["metrics"][0]["better_run_id"] == base.run_id
    latex = reporter.export_comparison(base.run_id, cand.run_id, format="latex")
    assert r"\begin{tabular}{lrrrrcr}" in latex and "$-$" in latex
    assert "Themis run comparison" in reporter.export_comparison(
        base.run_id, cand.run_id, format="html"
    )
    with pytest.raises(ValueError, match="format"):
        reporter.export_comparison(base.run_id, cand.run_id, format="docx")  # type: ignore[arg-type]
