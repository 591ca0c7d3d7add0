"""GSM8K: grade-school math word problems with whole-number answers."""

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


def benchmark() -> BenchmarkSpec:
    return BenchmarkSpec(
        benchmark_id="gsm8k",
        version="1",
        title="GSM8K",
        description="Grade-school math word problems (test split, 1,319 problems); "
        "each answer is a number, compared for numeric equivalence.",
        homepage="https://github.com/openai/grade-school-math",
        tags=["math", "reasoning"],
        records=RecordSpec(transform="themis_catalog.records:gsm8k", expected_field="final_answer"),
        slices=[
            SliceSpec(
                slice_id="main",
                source=DatasetSourceSpec(
                    kind="huggingface", path="openai/gsm8k", config="main", split="test"
                ),
                sample="themis_catalog:samples/gsm8k.jsonl",
            )
        ],
        prompt_variants=[
            PromptVariantSpec(
                variant_id="cot",
                description="Reason step by step, then state the answer.",
                messages=[
                    PromptMessage(
                        role="system",
                        content="You solve math word problems carefully, showing your reasoning.",
                    ),
                    PromptMessage(
                        role="user",
                        content="{question}\n\nThink step by step. End with a last line of the "
                        "form 'The answer is N', where N is the final number.",
                    ),
                ],
                answer_format="Working through it step by step.\nThe answer is {reference}.",
            ),
            PromptVariantSpec(
                variant_id="direct",
                description="Only the final number.",
                messages=[
                    PromptMessage(
                        role="user", content="{question}\n\nReply with only the final number."
                    )
                ],
                answer_format="{reference}",
            ),
        ],
        parse=ParseSpec(chain=["catalog/math_answer"]),
        scores=[ScoreSpec(name="accuracy", metric="catalog/math_equivalence")],
    )
