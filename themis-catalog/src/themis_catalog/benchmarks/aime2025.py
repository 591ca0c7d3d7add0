"""AIME 2025: the 30 problems of both 2025 American Invitational Mathematics
Examinations (I and II); every answer is an integer from 0 to 999."""

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
from themis_catalog.benchmarks.math500 import BOXED_INSTRUCTION


def _contest(slice_id: str, config: str, sample: str) -> SliceSpec:
    return SliceSpec(
        slice_id=slice_id,
        description=f"AIME 2025 {config.rsplit('-', 1)[1]}",
        source=DatasetSourceSpec(
            kind="huggingface", path="opencompass/AIME2025", config=config, split="test"
        ),
        sample=f"themis_catalog:samples/{sample}",
    )


def benchmark() -> BenchmarkSpec:
    return BenchmarkSpec(
        benchmark_id="aime2025",
        version="1",
        title="AIME 2025",
        description="The 30 problems of AIME 2025 I and II; integer answers compared for "
        "mathematical equivalence. One slice per contest (aime2025:aime_i, aime2025:aime_ii).",
        homepage="https://huggingface.co/datasets/opencompass/AIME2025",
        tags=["math", "reasoning", "competition"],
        records=RecordSpec(expected_field="answer"),
        slices=[
            _contest("aime_i", "AIME2025-I", "aime2025_i.jsonl"),
            _contest("aime_ii", "AIME2025-II", "aime2025_ii.jsonl"),
        ],
        prompt_variants=[
            PromptVariantSpec(
                variant_id="boxed",
                messages=[PromptMessage(role="user", content=BOXED_INSTRUCTION + "{question}")],
                answer_format="Reasoning step by step. The answer is $\\boxed{{{reference}}}$.",
            )
        ],
        parse=ParseSpec(chain=["catalog/math_answer"]),
        scores=[ScoreSpec(name="accuracy", metric="catalog/math_equivalence")],
    )
