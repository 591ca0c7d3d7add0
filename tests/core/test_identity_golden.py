"""Run ids and work keys are a contract with every store already written.

These values were computed by the first release of the key derivation and
checked unchanged after planning was rewritten for speed. If this test
fails, stored results stop being found (no resume, no cache hits): change
identity only on purpose, with a note in the changelog.
"""

from __future__ import annotations

import hashlib
import json

from themis import Experiment
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.engine.plan import plan_cases
from themis.core.models import Case, Dataset


def golden_experiment() -> Experiment:
    return Experiment(
        generation=GenerationConfig(
            generator="builtin/demo_generator",
            candidate_policy={"num_samples": 2},  # type: ignore[arg-type]
            reducer="builtin/majority_vote",
        ),
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/llm_rubric"],
            parsers=["builtin/number"],
            judge_models=["builtin/demo_judge"],
        ),
        datasets=[
            Dataset(
                dataset_id="golden",
                cases=[
                    Case(
                        case_id="a",
                        input={"question": "1+1", "ü": [1, 2.5, None]},
                        expected_output="2",
                        metadata={"z": 1, "a": True},
                    ),
                    Case(case_id="b", input="3*3", expected_output="9"),
                ],
            )
        ],
        seeds=[0, 5],
    )


def test_run_id_and_work_keys_are_unchanged() -> None:
    snapshot = golden_experiment().compile()
    keys = [plan.all_keys() for plan in plan_cases(snapshot)]

    assert snapshot.run_id == "run-d01c95726b7347a51bcddcd8"
    assert keys[0] == [
        "8ddbd8a10cbb2f9f28f4e791a9458c81",  # generate: seed 0, samples 0 and 1
        "53c23d6e5cafae2097f44a0204b10675",
        "05971956ac7e4717dfacc46e03c93770",  # generate: seed 5, samples 0 and 1
        "d9511fcecc1843ec69fe849634a280e0",
        "f4d64bba93b17608742b8568889788f9",  # reduce
        # #21 changed what builtin/number and builtin/exact_match compute (version 2):
        # generation and reduction are reused, parsing and scoring run again.
        "4b8738a049f24f93b1d48974d716ca4d",  # parse
        "0b787280f2cdfea1a1125d9c95bce351",  # score: exact_match
        "263c3f34bcb7a066d14d806e97be0b16",  # judge: llm_rubric
    ]
    every_key = hashlib.sha256(json.dumps(keys).encode()).hexdigest()
    assert every_key == "5033b8c9f0bb88b07d0015d486f7aec92572dbc0d072723f0ac835a11c8e8d85"
