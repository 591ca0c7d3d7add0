"""A third-party benchmark, published with themis-eval-core alone (no themis-catalog)."""

from __future__ import annotations

from themis.benchmark import (
    BenchmarkSpec,
    DatasetSourceSpec,
    ParseSpec,
    PromptMessage,
    PromptVariantSpec,
    RecordSpec,
    ScoreSpec,
    SliceSpec,
)


def arithmetic() -> BenchmarkSpec:
    return BenchmarkSpec(
        benchmark_id="acme_arith",
        version="1",
        title="ACME arithmetic",
        records=RecordSpec(case_id_field="id", expected_field="result"),
        slices=[
            SliceSpec(
                slice_id="all",
                source=DatasetSourceSpec(
                    kind="package_file", path="themis_acme_plugin:data/arith.jsonl"
                ),
                sample="themis_acme_plugin:data/arith.jsonl",
            )
        ],
        prompt_variants=[
            PromptVariantSpec(
                variant_id="plain",
                messages=[PromptMessage(role="user", content="What is {expression}?")],
            )
        ],
        parse=ParseSpec(chain=["builtin/number"]),
        scores=[ScoreSpec(name="accuracy", metric="builtin/exact_match")],
    )
