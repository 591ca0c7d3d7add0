"""The themis.catalog facade and the catalog API behind it."""

from __future__ import annotations

import pytest

import themis.catalog as catalog
from themis.benchmark import BenchmarkSpec
from themis.core.authoring import registry
from themis.core.models import ComponentRef
from themis_catalog.discovery import UnknownVariantError

SHIPPED = ["aime2025", "gpqa_diamond", "gsm8k", "humaneval", "math500", "mmlu_pro", "simpleqa"]


def test_benchmarks_are_entry_point_components_third_parties_can_publish() -> None:
    ids = catalog.list_benchmark_ids()
    assert set(SHIPPED) <= set(ids)
    # themis-acme-plugin depends on themis-eval-core only, and publishes a benchmark.
    assert "acme_arith" in ids
    entry = catalog.get_benchmark("acme_arith")
    assert entry.distribution == "themis-acme-plugin"
    result = catalog.run("acme_arith", model="builtin/demo_generator")
    assert result.metric_means == {"accuracy": 1.0}


def test_catalog_entries_describe_each_benchmark() -> None:
    entries = {entry.benchmark_id: entry for entry in catalog.list_benchmarks()}
    gsm8k = entries["gsm8k"]
    assert gsm8k.title == "GSM8K" and gsm8k.distribution == "themis-catalog"
    assert gsm8k.variants == ["main", "cot", "direct", "fewshot"]
    assert gsm8k.sources == ["huggingface:openai/gsm8k/main[test]"]
    assert gsm8k.sample_case_count == 5 and not gsm8k.judged
    assert len(entries["mmlu_pro"].slices) == 14
    assert entries["simpleqa"].judged
    assert entries["humaneval"].scores == ["pass@1"]
    assert catalog.get_benchmark("mmlu_pro:physics").benchmark_id == "mmlu_pro"


def test_unknown_names_and_variants_are_clear_errors() -> None:
    with pytest.raises(registry.UnknownComponentError, match="did you mean 'gsm8k'"):
        catalog.get_benchmark("gsm8")
    with pytest.raises(UnknownVariantError, match=r"no variant 'chemistry'.*slices: \['main'\]"):
        catalog.get_benchmark("gsm8k:chemistry")
    with pytest.raises(ValueError, match="'benchmark' or 'benchmark:variant'"):
        catalog.get_benchmark("gsm8k:")


def test_load_returns_components_and_selected_definitions() -> None:
    metric = catalog.load("catalog/math_equivalence")
    assert metric.component_id == "catalog/math_equivalence"  # type: ignore[attr-defined]
    physics = catalog.load("mmlu_pro:physics")
    assert isinstance(physics, BenchmarkSpec)
    assert [s.slice_id for s in physics.slices] == ["physics"]
    direct = catalog.load("gsm8k:direct")
    assert isinstance(direct, BenchmarkSpec) and direct.prompt_variants[0].variant_id == "direct"
    with pytest.raises(registry.UnknownComponentError, match="the catalog ships"):
        catalog.load("catalog/nope")


def test_load_picks_one_kind_of_an_id_that_names_two() -> None:
    """builtin/math_answer is a parser and a metric: ``kind`` says which, and
    without it the error says how to choose."""
    with pytest.raises(LookupError, match="kind='parser' or kind='metric'"):
        catalog.load("builtin/math_answer")
    parser = catalog.load("builtin/math_answer", kind="parser")
    metric = catalog.load("builtin/math_answer", kind="metric")
    assert callable(getattr(parser, "parse", None)) and callable(getattr(metric, "score", None))
    with pytest.raises(registry.UnknownComponentError, match="no reducer"):
        catalog.load("builtin/math_answer", kind="reducer")


def test_component_ids_and_refs_of_what_the_catalog_ships() -> None:
    # builtin/math_answer: the reference's id, shipped by the catalog beside its own.
    assert catalog.list_component_ids(kind="metric") == [
        "builtin/math_answer",
        "catalog/math_equivalence",
        "catalog/pass_at_k",
    ]
    assert catalog.list_component_ids(kind="parser") == [
        "builtin/math_answer",
        "catalog/choice_letter",
        "catalog/cut_at_stop",
        "catalog/math_answer",
        "catalog/python_code",
    ]
    assert "acme_arith" not in catalog.list_component_ids()
    everything = catalog.list_component_ids()
    assert everything.count("builtin/math_answer") == 1  # a parser and a metric, listed once
    refs = catalog.builtin_component_refs()
    assert set(SHIPPED) <= set(refs)
    assert all(isinstance(ref, ComponentRef) for ref in refs.values())
    assert refs["gsm8k"].kind == "benchmark" and refs["gsm8k"].version == "1"
    assert refs["catalog/pass_at_k"].distribution == "themis-catalog"
    assert refs["catalog/pass_at_k"].options == {}


def test_the_facade_names_the_distribution_when_the_catalog_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = registry.load_factory

    def without_catalog(kind: str, component_id: str) -> object:
        if (kind, component_id) == ("catalog", "catalog"):
            raise registry.UnknownComponentError("unknown catalog 'catalog'")
        return real(kind, component_id)

    monkeypatch.setattr(catalog, "_resolved", [])
    monkeypatch.setattr(registry, "load_factory", without_catalog)
    with pytest.raises(ImportError, match="pip install themis-catalog"):
        catalog.list_benchmark_ids()
