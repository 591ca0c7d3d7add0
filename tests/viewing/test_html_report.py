"""The HTML report and comparison as documents: self-contained, complete, safe."""

from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import ok, themis
from tests.viewing.helpers import TalkativeGenerator, arithmetic, talkative_experiment
from themis import InMemoryRunStore, Reporter, SqliteRunStore
from themis.core.models import Case, Dataset


def inline_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="themis-data">(.*?)</script>', html)
    assert found, "no inline data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def chunk(html: str, number: int) -> list[dict[str, Any]]:
    found = re.search(
        rf'id="themis-chunk-{number}" data-encoding="gzip\+base64">(.*?)</script>', html
    )
    assert found, f"no chunk {number}"
    details: list[dict[str, Any]] = json.loads(gzip.decompress(base64.b64decode(found.group(1))))
    return details


def test_report_is_one_self_contained_file(talkative_store: tuple[Path, str]) -> None:
    path, run_id = talkative_store
    store = SqliteRunStore(path)
    html = Reporter(store).export_html(run_id)
    store.close()
    # Nothing is fetched at view time: no external scripts, styles, images or fonts.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "@import" not in html
    assert "default-src 'none'" in html  # and the page forbids it anyway
    for fact in (run_id, "test/talkative", "arith (5 cases)", "5 (1 failed)", "partial_failure"):
        assert fact in html, fact
    assert "generation 44 input, 28 output" in html  # 4 generated candidates x (11, 7)
    assert "95% CI" in html and "[0.250, 1.000]" in html  # means with bootstrap intervals
    assert html.count('<svg class="plot"') == 2  # a distribution per metric


def test_report_rows_and_details_hold_what_the_model_said(
    talkative_store: tuple[Path, str],
) -> None:
    path, run_id = talkative_store
    store = SqliteRunStore(path)
    html = Reporter(store).export_html(run_id)
    store.close()
    data = inline_data(html)
    labels = [column["label"] for column in data["columns"]]
    assert labels == ["case", "dataset", "status", "output", "input",
                      "builtin/exact_match", "builtin/llm_rubric", "error"]  # fmt: skip
    rows = {row[0]: row for row in data["rows"]}
    assert rows["arith::c1"][3] == "The answer is 21, said talker."
    assert rows["arith::c1"][5:7] == [0.0, 0.0]
    assert rows["arith::c3"][2] == "failed" and "ConnectionError" in rows["arith::c3"][7]
    details = {d["case_key"]: d for d in chunk(html, 0)}
    judged = details["arith::c1"]["evaluations"][0]["calls"][0]
    assert judged["response_text"].startswith("VERDICT: FAIL")
    assert details["arith::c3"]["errors"][0]["error"]["attempts"] == 3


def test_text_from_the_model_cannot_inject_markup() -> None:
    class Hostile:
        component_id = "test/hostile"
        version = "1"

        def fingerprint(self) -> str:
            return "hostile"

        def generate(self, case: Case, ctx: Any) -> Any:
            return {"candidate_id": "x", "final_output": "</script><script>alert(1)</script>"}

    from tests.conftest import make_experiment
    from themis.core.config import GenerationConfig

    store = InMemoryRunStore()
    result = make_experiment(
        generation=GenerationConfig(generator=Hostile(), reducer="builtin/majority_vote"),
        datasets=[Dataset(dataset_id="x</script>", cases=[Case(case_id="<b>1", input="hi")])],
    ).run(store=store)
    html = Reporter(store).export_html(result.run_id)
    assert "<script>alert(1)" not in html and "<b>1" not in html
    assert inline_data(html)["rows"][0][3] == "</script><script>alert(1)</script>"


def test_comparison_of_three_runs_pairs_each_with_the_baseline() -> None:
    store = InMemoryRunStore()
    runs = [
        talkative_experiment(TalkativeGenerator(wrong=wrong, model=model)).run(store=store)
        for wrong, model in ((("c1",), "first"), (("c4",), "second"), (("c1",), "third"))
    ]
    html = Reporter(store).export_comparison_html([run.run_id for run in runs])
    assert html.count("vs baseline") == 2 and "run 3 vs baseline" in html
    data = inline_data(html)
    # c1 and c4 are scored differently by some run; c3 failed in all three.
    assert sorted(row[0] for row in data["rows"]) == ["arith::c1", "arith::c4"]
    details = {d["case_key"]: d for d in chunk(html, 0)}
    outputs = [run["output"] for run in details["arith::c4"]["runs"]]
    assert outputs == [
        "The answer is 8, said first.",
        "The answer is 81, said second.",
        "The answer is 8, said third.",
    ]
    verdicts = details["arith::c4"]["runs"][1]["verdicts"]
    assert verdicts[0]["text"].startswith("VERDICT: FAIL")
    assert "minus baseline" in html and html.count('<svg class="plot"') == 4


def test_comparison_needs_two_runs_and_is_a_format_of_export_comparison() -> None:
    store = InMemoryRunStore()
    run = talkative_experiment(TalkativeGenerator()).run(store=store)
    other = talkative_experiment(TalkativeGenerator(wrong=())).run(store=store)
    with pytest.raises(ValueError, match="at least two runs"):
        Reporter(store).export_comparison_html([run.run_id])
    page = Reporter(store).export_comparison(run.run_id, other.run_id, format="html")
    assert [row[0] for row in inline_data(page)["rows"]] == ["arith::c1"]


def test_without_the_stats_extra_the_report_shows_means_only(tmp_path: Path) -> None:
    """numpy and scipy absent (as without themis-eval-core[stats]): means, no intervals."""
    store_path = tmp_path / "runs.sqlite"
    store = SqliteRunStore(store_path)
    run = talkative_experiment(TalkativeGenerator(), count=4).run(store=store)
    other = talkative_experiment(TalkativeGenerator(wrong=()), count=4).run(store=store)
    store.close()
    script = (
        "import sys\n"
        "sys.modules['numpy'] = None\n"
        "sys.modules['scipy'] = None\n"
        "from themis import Reporter, SqliteRunStore\n"
        f"reporter = Reporter(SqliteRunStore({str(store_path)!r}))\n"
        f"print(reporter.export_html({run.run_id!r}))\n"
        f"print(reporter.export_comparison_html([{run.run_id!r}, {other.run_id!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Means only: confidence intervals need the stats extra: pip install " in done.stdout
    assert "themis-eval-core[stats]" in done.stdout
    assert '<td class="num">0.667</td>' in done.stdout  # exact match: 2 of 3 scored


def test_report_and_compare_commands_write_html(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    first = talkative_experiment(TalkativeGenerator(), count=4).run(store=store)
    second = talkative_experiment(TalkativeGenerator(wrong=()), count=4).run(store=store)
    store.close()
    ok(themis("report", "--path", "runs.sqlite", "--run-id", first.run_id, "--format", "html",
              "-o", "report.html", cwd=tmp_path))  # fmt: skip
    assert inline_data((tmp_path / "report.html").read_text())["kind"] == "report"
    page = ok(
        themis("compare", first.run_id, second.run_id, "--path", "runs.sqlite", "--format",
               "html", cwd=tmp_path)
    ).stdout  # fmt: skip
    assert [row[0] for row in inline_data(page)["rows"]] == ["arith::c1"]
    three = themis("compare", first.run_id, second.run_id, first.run_id, "--path", "runs.sqlite",
                   cwd=tmp_path)  # fmt: skip
    assert three.returncode == 2 and "two or more with --format html" in three.stderr


def test_two_datasets_get_a_dataset_filter_and_per_dataset_metrics() -> None:
    store = InMemoryRunStore()
    experiment = talkative_experiment(TalkativeGenerator(), count=3)
    experiment = experiment.model_copy(
        update={"datasets": [arithmetic(3), arithmetic(2, dataset_id="more")]}
    )
    run = experiment.run(store=store)
    html = Reporter(store).export_html(run.run_id)
    assert {row[1] for row in inline_data(html)["rows"]} == {"arith", "more"}
    assert '<th class="">dataset</th>' in html  # the metric table is split by dataset
