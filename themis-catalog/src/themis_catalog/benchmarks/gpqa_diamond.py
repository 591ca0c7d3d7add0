"""GPQA Diamond: 198 graduate-level science questions, four options each,
in a seeded per-question option order."""

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
        benchmark_id="gpqa_diamond",
        version="1",
        title="GPQA Diamond",
        description="The 198-question diamond subset of GPQA (biology, chemistry, physics). "
        "The source lists the correct answer first; options are put in a seeded order per "
        "question. The dataset is gated on the hub: accept its terms and log in first.",
        homepage="https://huggingface.co/datasets/Idavidrein/gpqa",
        tags=["science", "reasoning", "multiple-choice"],
        records=RecordSpec(
            transform="themis_catalog.records:gpqa",
            transform_options={"shuffle_seed": 0},
            case_id_field="Record ID",
            expected_field="letter",
            metadata_fields=["num_options"],
        ),
        slices=[
            SliceSpec(
                slice_id="diamond",
                source=DatasetSourceSpec(
                    kind="huggingface", path="Idavidrein/gpqa", config="gpqa_diamond", split="train"
                ),
                sample="themis_catalog:samples/gpqa_diamond.jsonl",
            )
        ],
        prompt_variants=[
            PromptVariantSpec(
                variant_id="cot",
                messages=[
                    PromptMessage(
                        role="user",
                        content="Answer the following multiple choice question. Think step by "
                        "step, then end with a last line 'Answer: X' where X is A, B, C or D."
                        "\n\n{question}\n\n{options_text}",
                    )
                ],
                answer_format="Weighing the options carefully.\nAnswer: {reference}",
            )
        ],
        parse=ParseSpec(chain=["catalog/choice_letter"]),
        scores=[ScoreSpec(name="accuracy", metric="builtin/exact_match")],
    )
