"""Entry-point discovery, proven with a real installed plugin distribution."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_experiment
from themis.core.authoring import registry
from themis.core.config import EvaluationConfig


def test_builtins_are_registered_through_core_entry_points() -> None:
    infos = {info.component_id: info for info in registry.list_components("metric")}
    assert infos["builtin/exact_match"].distribution == "themis-eval-core"
    assert infos["builtin/exact_match"].entry_point == "themis.builtins.metrics:ExactMatch"


def test_third_party_metric_is_discovered_from_its_distribution() -> None:
    experiment = make_experiment(
        evaluation=EvaluationConfig(metrics=["acme/shouting"], parsers=["builtin/json_identity"])
    )
    snapshot = experiment.compile()
    (ref,) = snapshot.component_refs.metrics
    assert ref.distribution == "themis-acme-plugin"
    assert ref.distribution_version == "0.3.0"
    assert ref.entry_point == "themis_acme_plugin.metrics:ShoutingMetric"
    result = experiment.run()
    assert result.metric_means == {"acme/shouting": 0.0}


def test_unknown_id_names_kind_id_and_closest_matches() -> None:
    with pytest.raises(registry.UnknownComponentError) as info:
        registry.resolve("metric", "builtin/exact_mtch", where="evaluation.metrics[0]")
    message = str(info.value)
    assert "evaluation.metrics[0]" in message
    assert "unknown metric 'builtin/exact_mtch'" in message
    assert "did you mean 'builtin/exact_match'" in message


def test_broken_plugin_is_reported_with_its_distribution_and_breaks_nothing_else() -> None:
    failures = {f.component_id: f for f in registry.load_failures("metric")}
    assert failures["acme/broken"].distribution == "themis-acme-plugin"
    assert "deliberately broken" in failures["acme/broken"].error
    assert not [f for f in failures.values() if f.distribution == "themis-eval-core"]
    with pytest.raises(registry.ComponentLoadError, match="themis-acme-plugin"):
        registry.resolve("metric", "acme/broken", where="evaluation.metrics[0]")
    # Every other metric still loads.
    component, _ = registry.resolve("metric", "acme/shouting", where="x")
    assert component.component_id == "acme/shouting"


def test_object_missing_its_method_is_rejected() -> None:
    class NotAGenerator:
        component_id = "x/nope"
        version = "1"

        def fingerprint(self) -> str:
            return "f"

    with pytest.raises(registry.InvalidComponentError, match="missing generate"):
        registry.resolve("generator", NotAGenerator(), where="generation.generator")


def test_a_distribution_installed_while_running_is_discovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entry points are read once and reused; installing something is noticed."""
    assert "late/metric" not in registry._entry_points("metric")
    site = tmp_path  # a fresh folder on sys.path, as a new install location
    monkeypatch.syspath_prepend(str(site))
    assert "late/metric" not in registry._entry_points("metric")
    assert registry.installed_version("late-plugin") is None
    info = site / "late_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: late-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[themis.metrics]\nlate/metric = themis.builtins.metrics:ExactMatch\n"
    )
    found = registry._entry_points("metric")
    assert found["late/metric"].value == "themis.builtins.metrics:ExactMatch"
    assert [
        (c.distribution, c.distribution_version)
        for c in registry.list_components("metric")
        if c.component_id == "late/metric"
    ] == [("late-plugin", "1.0")]
    assert registry.installed_version("late-plugin") == "1.0"
