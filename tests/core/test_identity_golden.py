"""Run ids and work keys are a contract with every store already written.

These values were computed by the first release of the key derivation and
checked unchanged after planning was rewritten for speed. If this test
fails, stored results stop being found (no resume, no cache hits): change
identity only on purpose, with a note in the changelog.

Changed once, on purpose (issue 16): ``num_samples`` became the number of
candidates per case, seeds laid one per candidate, so the golden experiment
(seeds [0, 5], two samples) now has two candidates, not four. Its run id and
the keys of its second candidate changed; an experiment with one candidate
per case kept its run id and every key (the second test).
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

    assert snapshot.run_id == "run-a1e6f1e23211cf04a59c7cca"
    assert keys[0] == [
        "8ddbd8a10cbb2f9f28f4e791a9458c81",  # generate: candidate 0, seed 0 (key as before)
        "3d7ef31d968a8d4cadea368b46fbcca4",  # generate: candidate 1, seed 5
        "8b45c189565d0b0235daaa3704a902f6",  # reduce
        # #21 changed what builtin/number and builtin/exact_match compute (version 2):
        # generation and reduction are reused, parsing and scoring run again.
        "ebef763d0084ba4d5b0c8edc3183731b",  # parse
        "2f72d0e84706a1d666e7ba93cba7bca3",  # score: exact_match
        "027dc27be1118fa7906b637648ec731f",  # judge: llm_rubric
    ]
    every_key = hashlib.sha256(json.dumps(keys).encode()).hexdigest()
    assert every_key == "8996d6f7f5d436de5bbaea0a12f7013136d7ed8dcfd7fc040172c274cce12ef9"


def test_one_candidate_per_case_keeps_its_run_id_and_keys() -> None:
    """Computed by the release before issue 16, and unchanged by it; issue 21's
    builtin/number and builtin/exact_match v2 change the parse and score keys."""
    experiment = Experiment(
        generation=GenerationConfig(
            generator="builtin/demo_generator", reducer="builtin/majority_vote"
        ),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"], parsers=["builtin/number"]),
        datasets=[
            Dataset(
                dataset_id="golden",
                cases=[Case(case_id="b", input="3*3", expected_output="9")],
            )
        ],
        seeds=[7],
    )
    snapshot = experiment.compile()
    assert snapshot.run_id == "run-bd2f83f21809771b133e9cf4"
    assert plan_cases(snapshot)[0].all_keys() == [
        "db69477e9cf7afe31faa6804331f2b81",
        "2a059a10a96586f0789481dd1326bda7",
        "f5adea098d7efe4b3df3cdc225f52c30",
        "fb8ee22ef142504a038ed47a6d07c196",
    ]
