"""Every view counts an unparsed answer as 0 and says how many there were (issues 20 and 21).

The run of tests/validity/test_denominators.py: six answered cases, two right,
three whose answer no parser can read, one never answered. The HTML report,
the comparison, ``themis inspect runs`` and the viewer's run list must all show
the mean RunResult.metric_means and the Markdown report give (2/6), with the
three unparsed answers and the one error beside it.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.helpers import ok, ok_json, themis
from tests.conftest import make_experiment
from tests.validity.test_denominators import MEAN, OUTPUTS, ScriptedModel, _dataset, _run
from tests.viewing.test_html_report import chunk, inline_data
from themis import Reporter, sqlite_store
from themis.core.analysis.inspection import load_run_result
from themis.core.analysis.run_overview import list_run_overviews
from themis.core.analysis.viewer import RunViewer
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig

METRIC = "builtin/exact_match"


def _store(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "runs.sqlite"
    return path, _run(sqlite_store(path), OUTPUTS)


def _cells(html: str, metric: str) -> list[str]:
    """The cells of the metric table's row for ``metric``."""
    section = html.split('id="metrics"', 1)[1]
    row = re.search(rf"<tr><td[^>]*>{re.escape(metric)}</td>(.*?)</tr>", section)
    assert row is not None, f"no row for {metric}"
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))


def test_html_report_counts_unparsed_answers_as_zero_and_shows_how_many(tmp_path: Path) -> None:
    path, run_id = _store(tmp_path)
    store = sqlite_store(path)
    result = load_run_result(store, run_id)
    assert result.metric_means[METRIC] == MEAN
    markdown = Reporter(store).export_markdown(run_id)
    assert f"| {METRIC} | 0.333 |" in markdown

    html = Reporter(store).export_html(run_id)
    assert '<th class="num">unparsed</th>' in html
    mean, _ci, n, unparsed, errors = _cells(html, METRIC)
    assert (mean, n, unparsed, errors) == ("0.333", "6", "3", "1")
    # The case table shows the 0 an unparsed answer counts as, so "≤ 0" finds it.
    data = inline_data(html)
    column = [c["label"] for c in data["columns"]].index(METRIC)
    by_key = {row[0]: row[column] for row in data["rows"]}
    assert by_key["numbers::empty"] == 0.0 and by_key["numbers::right"] == 1.0
    assert by_key["numbers::outage"] is None


def test_comparison_shows_unparsed_counts_per_run(tmp_path: Path) -> None:
    path, baseline = _store(tmp_path)
    store = sqlite_store(path)
    # The candidate answers two of the baseline's three unparsed cases, rightly.
    candidate = (
        make_experiment(
            generation=GenerationConfig(
                generator=ScriptedModel({**OUTPUTS, "empty": "2", "refusal": "3"})
            ),
            evaluation=EvaluationConfig(parsers=["builtin/number"], metrics=[METRIC]),
            datasets=[_dataset()],
            runtime=RuntimeConfig(progress="off", max_retries=0),
        )
        .run(store=store)
        .run_id
    )
    html = Reporter(store).export_comparison_html([baseline, candidate])
    assert "unparsed (b/c)" in html
    assert '<td class="num">3/1</td>' in html
    # The cases answered only by the candidate show the baseline's counted 0.
    data = inline_data(html)
    scores = {row[0]: (row[3], row[5]) for row in data["rows"]}
    assert scores["numbers::empty"] == scores["numbers::refusal"] == ("0 · 0", "1")


def test_inspect_runs_and_viewer_show_the_same_means_with_counts(tmp_path: Path) -> None:
    path, _ = _store(tmp_path)
    store = sqlite_store(path)
    (overview,) = list_run_overviews(store)
    assert overview.metric_means[METRIC] == MEAN
    counts = overview.metric_counts[METRIC]
    assert (counts.n, counts.parse_failures, counts.errors) == (6, 3, 1)
    expected = f"{METRIC} 0.333 (n=6, 3 unparsed, 1 error)"
    table = ok(themis("inspect", "runs", "--path", path, cwd=tmp_path, env={"COLUMNS": "400"}))
    assert expected in table.stdout
    assert expected in RunViewer(store).index()


def test_show_and_the_drill_down_say_an_unparsed_answer_counts_zero(tmp_path: Path) -> None:
    path, run_id = _store(tmp_path)
    shown = ok(themis("show", "--path", path, "--case", "numbers::empty", cwd=tmp_path)).stdout
    assert re.search(rf"{re.escape(METRIC)}\s+│ 0 \(unparsed\)", shown)
    payload = ok_json(themis("show", "--path", path, "--case", "empty", "--json", cwd=tmp_path))
    assert payload["unparsed_metrics"] == [METRIC, "builtin/numeric_tolerance"]
    never = ok_json(themis("show", "--path", path, "--case", "outage", "--json", cwd=tmp_path))
    assert "unparsed_metrics" not in never or never["unparsed_metrics"] == []
    details = {d["case_key"]: d for d in chunk(Reporter(sqlite_store(path)).export_html(run_id), 0)}
    assert details["numbers::refusal"]["unparsed_metrics"] == [
        METRIC,
        "builtin/numeric_tolerance",
    ]
    assert "unparsed_metrics" not in details["numbers::right"]
