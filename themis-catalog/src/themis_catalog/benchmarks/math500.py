"""MATH-500: competition mathematics, answers compared for mathematical equivalence."""

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

BOXED_INSTRUCTION = (
    "Solve the following problem. Reason step by step, and put your final answer "
    "within \\boxed{{}}.\n\n"
)


def benchmark() -> BenchmarkSpec:
    return BenchmarkSpec(
        benchmark_id="math500",
        version="1",
        title="MATH-500",
        description="500 problems of the MATH test set (the PRM800K selection); the final "
        "answer is compared for mathematical equivalence.",
        homepage="https://huggingface.co/datasets/HuggingFaceH4/MATH-500",
        tags=["math", "reasoning"],
        records=RecordSpec(
            case_id_field="unique_id", expected_field="answer", metadata_fields=["subject", "level"]
        ),
        slices=[
            SliceSpec(
                slice_id="test",
                source=DatasetSourceSpec(
                    kind="huggingface", path="HuggingFaceH4/MATH-500", split="test"
                ),
                sample="themis_catalog:samples/math500.jsonl",
            )
        ],
        prompt_variants=[
            PromptVariantSpec(
                variant_id="boxed",
                messages=[PromptMessage(role="user", content=BOXED_INSTRUCTION + "{problem}")],
                answer_format="Step by step, the result follows. The final answer is "
                "$\\boxed{{{reference}}}$.",
            )
        ],
        parse=ParseSpec(chain=["catalog/math_answer"]),
        scores=[ScoreSpec(name="accuracy", metric="catalog/math_equivalence")],
    )
