"""SimpleQA: short fact-seeking questions, graded by judge models."""

from __future__ import annotations

from themis.benchmark import (
    BenchmarkSpec,
    DatasetSourceSpec,
    PromptMessage,
    PromptVariantSpec,
    RecordSpec,
    ScoreSpec,
    SliceSpec,
)

RUBRIC = (
    "Grade a short factual answer against the reference answer. PASS when the candidate "
    "states the reference answer's fact (wording, spelling variants, extra context and "
    "harmless detail are fine; a number must match to the reference's precision) and "
    "contradicts nothing in it. FAIL when it states a different or contradicting fact, "
    "hedges between several answers, or does not answer (for example 'I don't know'). "
    "Score 1 for PASS and 0 for FAIL."
)


def benchmark() -> BenchmarkSpec:
    return BenchmarkSpec(
        benchmark_id="simpleqa",
        version="1",
        title="SimpleQA",
        description="4,326 short fact-seeking questions with one indisputable answer each, "
        "graded correct or not by judge models against the reference answer.",
        homepage="https://huggingface.co/datasets/basicv8vc/SimpleQA",
        tags=["factuality", "judge"],
        records=RecordSpec(
            transform="themis_catalog.records:simpleqa",
            expected_field="answer",
            metadata_fields=["topic", "answer_type"],
        ),
        slices=[
            SliceSpec(
                slice_id="test",
                source=DatasetSourceSpec(
                    kind="huggingface", path="basicv8vc/SimpleQA", split="test"
                ),
                sample="themis_catalog:samples/simpleqa.jsonl",
            )
        ],
        prompt_variants=[
            PromptVariantSpec(
                variant_id="short",
                messages=[
                    PromptMessage(
                        role="system",
                        content="Answer with a short factual answer. If you are not sure, "
                        "say that you do not know.",
                    ),
                    PromptMessage(role="user", content="{problem}"),
                ],
                answer_format="{reference}",
            )
        ],
        scores=[
            ScoreSpec(
                name="correct",
                metric="builtin/llm_rubric",
                judged=True,
                judge_config={"rubric": RUBRIC},
            )
        ],
    )
