"""Issue 6 acceptance: a reopened SQLite run reported in every format from a new
process; a generation bundle replayed in an empty store without the generator;
two runs differing only in the generator compared, the better one named."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.analysis.helpers import ReplayableGenerator, demo_experiment, replayable_experiment
from tests.conftest import REPO_ROOT
from themis import (
    InMemoryRunStore,
    Reporter,
    SqliteRunStore,
    export_generation_bundle,
    export_parse_bundle,
    export_reduction_bundle,
    import_generation_bundle,
    import_parse_bundle,
    import_reduction_bundle,
)
from themis.core.analysis.bundles import GenerationBundle

FORMATS = ("json", "markdown", "csv", "latex")

REPORT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from themis import Reporter, SqliteRunStore

    store = SqliteRunStore(sys.argv[1])
    reporter = Reporter(store)
    run_id = sys.argv[2]
    print(json.dumps({
        "json": reporter.export_json(run_id),
        "markdown": reporter.export_markdown(run_id),
        "csv": reporter.export_csv(run_id),
        "latex": reporter.export_latex(run_id),
    }))
    """
)


def test_persisted_run_is_reported_in_every_format_from_a_new_process(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = SqliteRunStore(path)
    run = demo_experiment(0.3, cases=20).run(store=store)
    expected = {
        "json": Reporter(store).export_json(run.run_id),
        "markdown": Reporter(store).export_markdown(run.run_id),
        "csv": Reporter(store).export_csv(run.run_id),
        "latex": Reporter(store).export_latex(run.run_id),
    }
    store.close()

    completed = subprocess.run(
        [sys.executable, "-c", REPORT_SCRIPT, str(path), run.run_id],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    reports = json.loads(completed.stdout)
    # Seeded statistics: the other process writes exactly the same documents.
    assert reports == expected
    assert json.loads(reports["json"])["status"] == "completed"
    assert "| Status | completed |" in reports["markdown"]
    assert len(reports["csv"].strip().splitlines()) == 1 + 20
    mean = run.metric_means["builtin/exact_match"]
    assert f"builtin/exact\\_match & {mean:.3f} &" in reports["latex"]


def test_generation_bundle_replays_scoring_in_an_empty_store_without_the_generator(
    tmp_path: Path,
) -> None:
    source = InMemoryRunStore()
    original = replayable_experiment(ReplayableGenerator()).run(store=source)
    bundle_file = export_generation_bundle(source, original.run_id).write(tmp_path / "gen.json")

    target = SqliteRunStore(tmp_path / "elsewhere.sqlite")
    import_generation_bundle(target, GenerationBundle.read(bundle_file))
    refusing = ReplayableGenerator(explode=True)
    replayed = replayable_experiment(refusing).replay(stage="reduce", store=target)

    assert refusing.calls == 0
    assert replayed.run_id == original.run_id and replayed.status.value == "completed"
    assert replayed.metric_means == original.metric_means
    assert [c.scores for c in replayed.cases] == [c.scores for c in original.cases]
    target.close()


def test_imported_upstream_stages_let_replay_start_at_score(tmp_path: Path) -> None:
    source = InMemoryRunStore()
    original = replayable_experiment(ReplayableGenerator()).run(store=source)
    target = SqliteRunStore(tmp_path / "elsewhere.sqlite")
    import_generation_bundle(target, export_generation_bundle(source, original.run_id))
    import_reduction_bundle(target, export_reduction_bundle(source, original.run_id))
    import_parse_bundle(target, export_parse_bundle(source, original.run_id))

    refusing = ReplayableGenerator(explode=True)
    replayed = replayable_experiment(refusing).replay(stage="score", store=target)
    assert refusing.calls == 0
    assert replayed.metric_means == original.metric_means
    target.close()


def test_comparison_report_names_the_better_generator_with_its_p_value() -> None:
    store = InMemoryRunStore()
    careful = demo_experiment(0.0).run(store=store)
    sloppy = demo_experiment(0.6).run(store=store)
    markdown = Reporter(store).export_comparison(sloppy.run_id, careful.run_id)

    verdict = re.search(r"\*\*Better run: the (\w+) `(run-\w+)`\*\* on (.+)\.", markdown)
    assert verdict is not None, markdown
    side, run_id, evidence = verdict.groups()
    assert (side, run_id) == ("candidate", careful.run_id)
    assert "builtin/exact_match" in evidence and "p < 0.0001" in evidence
    comparison = Reporter(store).compare(sloppy.run_id, careful.run_id)
    metric = comparison.metric("builtin/exact_match")
    assert metric.better_run_id == careful.run_id
    assert metric.p_value is not None and metric.p_value < 1e-4
