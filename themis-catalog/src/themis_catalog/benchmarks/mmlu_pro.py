"""MMLU-Pro: ten-option multiple choice across 14 disciplines, one slice each
(``mmlu_pro:physics``)."""

from __future__ import annotations

from themis.benchmark import (
    BenchmarkSpec,
    DatasetQuerySpec,
    DatasetSourceSpec,
    ParseSpec,
    PromptMessage,
    PromptVariantSpec,
    RecordSpec,
    ScoreSpec,
    SliceSpec,
)

CATEGORIES = (
    "biology",
    "business",
    "chemistry",
    "computer science",
    "economics",
    "engineering",
    "health",
    "history",
    "law",
    "math",
    "other",
    "philosophy",
    "physics",
    "psychology",
)

SOURCE = DatasetSourceSpec(kind="huggingface", path="TIGER-Lab/MMLU-Pro", split="test")


def benchmark() -> BenchmarkSpec:
    return BenchmarkSpec(
        benchmark_id="mmlu_pro",
        version="1",
        title="MMLU-Pro",
        description="12,032 multiple-choice questions with up to ten options, over 14 "
        "disciplines; one slice per discipline.",
        homepage="https://huggingface.co/datasets/TIGER-Lab/MMLU-Pro",
        tags=["knowledge", "reasoning", "multiple-choice"],
        records=RecordSpec(
            transform="themis_catalog.records:multiple_choice",
            case_id_field="question_id",
            expected_field="letter",
            metadata_fields=["category", "num_options", "src"],
        ),
        slices=[
            SliceSpec(
                slice_id=category.replace(" ", "_"),
                source=SOURCE,
                sample="themis_catalog:samples/mmlu_pro.jsonl",
                query=DatasetQuerySpec(filters={"category": category}),
            )
            for category in CATEGORIES
        ],
        prompt_variants=[
            PromptVariantSpec(
                variant_id="cot",
                messages=[
                    PromptMessage(
                        role="user",
                        content="The following is a multiple choice question about {category}. "
                        "Think step by step, then finish with 'The answer is (X)' where X is "
                        "the letter of the correct option.\n\nQuestion: {question}\n"
                        "Options:\n{options_text}",
                    )
                ],
                answer_format="Let me consider each option in turn. The answer is ({reference}).",
            )
        ],
        parse=ParseSpec(chain=["catalog/choice_letter"]),
        scores=[ScoreSpec(name="accuracy", metric="builtin/exact_match")],
    )
