"""``themis components`` lists what entry points provide, and what failed to load."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import ok, ok_json, themis


def test_components_table_shows_ids_versions_distributions_and_failures(tmp_path: Path) -> None:
    done = ok(themis("components", cwd=tmp_path))
    lines = done.stdout.splitlines()
    demo = next(line for line in lines if "builtin/demo_generator" in line)
    assert "generator" in demo and "themis-eval-core" in demo
    shouting = next(line for line in lines if "acme/shouting" in line)
    assert "metric" in shouting and "themis-acme-plugin 0.3.0" in shouting
    assert "failed to load" in done.stdout
    broken = next(line for line in lines if "acme/broken" in line)
    assert "themis-acme-plugin" in broken and "deliberately broken" in broken
    assert "failed to load" in done.stderr


def test_components_json_filters_by_kind(tmp_path: Path) -> None:
    listing = ok_json(themis("components", "--kind", "metric", "--json", cwd=tmp_path))
    assert {row["kind"] for row in listing["components"]} == {"metric"}
    exact = next(row for row in listing["components"] if row["id"] == "builtin/exact_match")
    assert exact["version"] == "2" and exact["distribution"] == "themis-eval-core"
    assert exact["entry_point"] == "themis.builtins.metrics:ExactMatch"
    failure = next(row for row in listing["failures"] if row["id"] == "acme/broken")
    assert failure["distribution"] == "themis-acme-plugin"
    assert "RuntimeError" in failure["error"]
    stores = ok_json(themis("components", "--kind", "store", "--json", cwd=tmp_path))
    assert {row["id"] for row in stores["components"]} >= {"memory", "sqlite"}
