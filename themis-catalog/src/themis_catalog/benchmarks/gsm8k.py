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
from themis_catalog.stops import FEW_SHOT_STOP

FEW_SHOT = (
    "Question: Ana has 5 red pens and 7 blue pens. She gives away 4 pens. How many pens "
    "does she have left?\nAnswer: She has 5 + 7 = 12 pens. After giving away 4, she has "
    "12 - 4 = 8 pens.\n#### 8\n\n"
    "Question: A bus ticket costs $3. How much do 6 tickets cost?\nAnswer: Six tickets "
    "cost 6 * 3 = 18 dollars.\n#### 18\n\n"
    "Question: A garden has 4 rows with 9 tulips in each row. Half of the tulips are "
    "yellow. How many tulips are yellow?\nAnswer: There are 4 * 9 = 36 tulips. Half of "
    "them is 36 / 2 = 18.\n#### 18\n\n"
)
"""Three worked examples written for Themis (not GSM8K items), in lm-eval's format."""


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
            PromptVariantSpec(
                variant_id="fewshot",
                description="Few-shot 'Question:/Answer:' completion text for base models, "
                "with lm-eval's stop sequences (its `until`).",
                messages=[
                    PromptMessage(role="user", content=FEW_SHOT + "Question: {question}\nAnswer:")
                ],
                answer_format=" Working through it step by step.\n#### {reference}\n\n"
                "Question: A shelf holds 3 rows of 4 books. How many books?\nAnswer: 3 * 4 = 12."
                "\n#### 12",
                stop=list(FEW_SHOT_STOP),
            ),
        ],
        parse=ParseSpec(chain=["catalog/math_answer"]),
        scores=[ScoreSpec(name="accuracy", metric="catalog/math_equivalence")],
    )
