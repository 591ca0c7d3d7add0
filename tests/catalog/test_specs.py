"""Benchmark authoring models: validation with clear errors, rendering, identity."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from themis.benchmark import (
    BenchmarkSpec,
    DatasetQuerySpec,
    PromptMessage,
    PromptVariantSpec,
    ScoreSpec,
)
from themis.catalog import load


def _variant(*messages: tuple[str, str], **fields: object) -> PromptVariantSpec:
    return PromptVariantSpec(
        variant_id="v",
        messages=[PromptMessage(role=role, content=content) for role, content in messages],
        **fields,  # type: ignore[arg-type]
    )


def test_prompt_variant_maps_to_prompt_spec_and_renders_the_user_template() -> None:
    variant = _variant(
        ("system", "Be brief."),
        ("user", "What is 1+1?"),
        ("assistant", "2"),
        ("user", "Q: {question} (literal {{braces}})"),
        answer_format="The answer is {reference}.",
    )
    spec = variant.prompt_spec()
    assert spec.instructions == "Be brief."
    assert spec.blocks == [
        {"role": "user", "content": "What is 1+1?"},
        {"role": "assistant", "content": "2"},
    ]
    assert variant.render({"question": "3+4"}) == "Q: 3+4 (literal {braces})"
    assert variant.render_answer({}, "7") == "The answer is 7."


def test_a_missing_record_field_names_the_variant_and_the_field() -> None:
    variant = _variant(("user", "{question}"))
    with pytest.raises(KeyError, match=r"prompt variant 'v' uses \{question\}.*fields: \['q'\]"):
        variant.render({"q": "x"})


@pytest.mark.parametrize(
    ("messages", "fields", "message"),
    [
        ([("system", "s")], {}, "last message must be the user message"),
        ([("user", "a"), ("system", "s"), ("user", "{q}")], {}, "system messages must come first"),
        ([("user", "{0}")], {}, "must be a field name"),
        ([("user", "{q}")], {"answer_format": "no reference"}, r"must contain \{reference\}"),
    ],
)
def test_prompt_variant_shape_errors(
    messages: list[tuple[str, str]], fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _variant(*messages, **fields)


def _gsm8k() -> BenchmarkSpec:
    spec = load("gsm8k")
    assert isinstance(spec, BenchmarkSpec)
    return spec


def test_benchmark_spec_rejects_duplicates_clashes_and_typos() -> None:
    data = _gsm8k().model_dump()
    duplicate = {**data, "slices": data["slices"] * 2}
    with pytest.raises(ValidationError, match=r"duplicate slice ids \['main'\]"):
        BenchmarkSpec.model_validate(duplicate)
    clash = {**data, "slices": [{**data["slices"][0], "slice_id": "cot"}]}
    with pytest.raises(ValidationError, match="name both a slice and a prompt variant"):
        BenchmarkSpec.model_validate(clash)
    with pytest.raises(ValidationError, match=r"slices\.0\.sorce"):
        BenchmarkSpec.model_validate({**data, "slices": [{**data["slices"][0], "sorce": {}}]})
    with pytest.raises(ValidationError, match="benchmark_id"):
        BenchmarkSpec.model_validate({**data, "benchmark_id": "GSM 8K"})


def test_a_judge_config_needs_a_judged_score() -> None:
    with pytest.raises(ValidationError, match="judge_config given but judged is false"):
        ScoreSpec(name="x", metric="builtin/llm_rubric", judge_config={"rubric": "r"})


def test_the_definition_is_identity_bearing() -> None:
    spec = _gsm8k()
    assert spec.component_id == "gsm8k"
    assert spec.fingerprint() == _gsm8k().fingerprint()
    variant = spec.prompt_variants[0]
    changed = variant.model_copy(update={"answer_format": "So: {reference}"})
    other = spec.model_copy(update={"prompt_variants": [changed, *spec.prompt_variants[1:]]})
    assert other.fingerprint() != spec.fingerprint()


RECORDS = [
    {"category": "math", "n": 1},
    {"category": "law", "n": 2},
    {"category": "math", "n": 3},
    {"n": 4},
    {"category": "physics", "n": 5},
]
IDS = [f"q{r['n']}" for r in RECORDS]


def test_query_filters_by_value_and_by_membership() -> None:
    assert DatasetQuerySpec(filters={"category": "math"}).select(RECORDS, IDS) == [0, 2]
    both = DatasetQuerySpec(filters={"category": ["law", "physics"]})
    assert both.select(RECORDS, IDS) == [1, 4]
    assert DatasetQuerySpec().select(RECORDS, IDS) == [0, 1, 2, 3, 4]


def test_query_sampling_is_seeded_ordered_and_stable_under_additions() -> None:
    query = DatasetQuerySpec(sample_size=3, sample_seed=11)
    picked = query.select(RECORDS, IDS)
    assert len(picked) == 3 and picked == sorted(picked)
    assert query.select(RECORDS, IDS) == picked
    seeds = {
        tuple(DatasetQuerySpec(sample_size=2, sample_seed=s).select(RECORDS, IDS)) for s in range(8)
    }
    assert len(seeds) > 1
    # A record's rank depends on its own id only: more records never evict a
    # record from the sample unless a new one outranks it.
    larger = [*RECORDS, {"n": 6}]
    kept = {IDS[i] for i in picked}
    grown = {[*IDS, "q6"][i] for i in query.select(larger, [*IDS, "q6"])}
    if "q6" in grown:
        assert len(kept & grown) == 2
    else:
        assert grown == kept
