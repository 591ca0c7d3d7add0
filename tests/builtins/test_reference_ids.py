"""The builtin ids the reference's users put in configs, each resolving to a real component."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from tests.conftest import arithmetic_dataset, make_experiment
from themis import InMemoryRunStore
from themis.builtins.judges import LLMRubric, PairwisePreference
from themis.builtins.metrics import TokenF1
from themis.core.authoring import registry
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig
from themis.core.contexts import GenerateContext
from themis.core.engine.plan import plan_cases
from themis.core.models import Case, Dataset, GenerationResult, RunStatus
from themis.core.workflows import JudgeResponse
from themis_catalog.math_answers import MathAnswer

REFERENCE_IDS = [
    ("metric", "builtin/f1"),
    ("metric", "builtin/bleu"),
    ("metric", "builtin/rouge"),
    ("parser", "builtin/text"),
    ("selector", "builtin/best_of_n"),
    ("metric", "builtin/panel_of_judges"),
    ("metric", "builtin/majority_vote_judge"),
    ("metric", "builtin/pairwise_judge"),
    ("parser", "builtin/math_answer"),
    ("metric", "builtin/math_answer"),
    ("metric", "builtin/choice_accuracy"),
]


@pytest.mark.parametrize(("kind", "component_id"), REFERENCE_IDS)
def test_every_reference_id_resolves_through_entry_points(kind: str, component_id: str) -> None:
    component, ref = registry.resolve(kind, component_id, where="test")
    assert ref.component_id == component_id
    assert ref.entry_point and ref.distribution in ("themis-eval-core", "themis-catalog")
    assert callable(getattr(component, "fingerprint", None))


@pytest.mark.parametrize(
    ("component_id", "kind", "implementation"),
    [
        ("builtin/f1", "metric", TokenF1),
        ("builtin/panel_of_judges", "metric", LLMRubric),
        ("builtin/pairwise_judge", "metric", PairwisePreference),
        ("builtin/math_answer", "parser", MathAnswer),
    ],
)
def test_aliases_share_one_implementation(
    component_id: str, kind: str, implementation: type
) -> None:
    component, _ = registry.resolve(kind, component_id, where="test")
    assert type(component) is implementation


class Answers:
    """A generator answering from a fixed list, one answer per candidate."""

    component_id = "test/answers"
    version = "1"

    def __init__(self, *answers: str) -> None:
        self.answers = answers

    def fingerprint(self) -> str:
        return "answers:" + "|".join(self.answers)

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        answer = self.answers[ctx.sample_index % len(self.answers)]
        return GenerationResult(
            candidate_id=f"{case.case_id}#{ctx.sample_index}", final_output=answer
        )


def text_run(metric: Any, pairs: list[tuple[str, Any]]) -> list[float]:
    """Score each (hypothesis, reference) pair through a real run with builtin/text."""
    results = []
    for hypothesis, reference in pairs:
        experiment = make_experiment(
            generation=GenerationConfig(generator=Answers(hypothesis)),
            evaluation=EvaluationConfig(metrics=[metric], parsers=["builtin/text"]),
            datasets=[
                Dataset(
                    dataset_id="t",
                    cases=[Case(case_id="c", input="translate", expected_output=reference)],
                )
            ],
        )
        result = experiment.run()
        assert result.status is RunStatus.completed, result.cases[0].errors
        results.append(result.cases[0].scores[0].value)
    return results


PAIRS: list[tuple[str, Any]] = [
    ("the cat sat on the mat", "the cat is on the mat"),
    (
        "  The quick brown fox jumps over the lazy dog. ",
        "A quick brown fox jumped over a lazy dog.",
    ),
    ("completely unrelated words", "the cat is on the mat"),
    ("the cat is on the mat", ["a cat is on a mat", "the cat is on the mat"]),
]


def test_bleu_is_sacrebleus_sentence_bleu() -> None:
    values = text_run("builtin/bleu", PAIRS)
    expected = [
        sacrebleu.sentence_bleu(h.strip(), r if isinstance(r, list) else [r]).score
        for h, r in PAIRS
    ]
    assert values == pytest.approx(expected)  # sacrebleu's own number, 0 to 100
    assert values[-1] == pytest.approx(100.0)  # an exact match with one of the references
    lower = text_run({"id": "builtin/bleu", "options": {"lowercase": True}}, PAIRS[1:2])
    assert lower == pytest.approx(
        [sacrebleu.sentence_bleu(PAIRS[1][0].strip(), [PAIRS[1][1]], lowercase=True).score]
    )


def test_rouge_is_rouge_scores_f_measure() -> None:
    values = text_run("builtin/rouge", PAIRS)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    expected = [
        scorer.score_multi(r if isinstance(r, list) else [r], h.strip())["rougeL"].fmeasure
        for h, r in PAIRS
    ]
    assert values == pytest.approx(expected)
    rouge2 = text_run({"id": "builtin/rouge", "options": {"rouge_type": "rouge2"}}, PAIRS[:1])
    bigram = rouge_scorer.RougeScorer(["rouge2"]).score(PAIRS[0][1], PAIRS[0][0])
    assert rouge2 == pytest.approx([bigram["rouge2"].fmeasure])


def test_a_bad_rouge_type_fails_at_compile() -> None:
    experiment = make_experiment(
        evaluation=EvaluationConfig(
            metrics=[{"id": "builtin/rouge", "options": {"rouge_type": "rouge9"}}]
        )
    )
    with pytest.raises(ValueError, match="rouge_type must be one of"):
        experiment.compile()


@pytest.mark.parametrize(
    ("component_id", "module"), [("builtin/bleu", "sacrebleu"), ("builtin/rouge", "rouge_score")]
)
def test_without_the_extra_the_error_names_it(component_id: str, module: str) -> None:
    # A fresh interpreter in which the library cannot be imported, as without the extra.
    code = f"""
import sys
sys.modules[{module!r}] = None
from themis import Experiment
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig
from themis.core.models import Case, Dataset
experiment = Experiment(
    generation=GenerationConfig(generator="builtin/demo_generator"),
    evaluation=EvaluationConfig(metrics=[{component_id!r}]),
    datasets=[Dataset(dataset_id="d", cases=[Case(case_id="c", input="x")])],
)
try:
    experiment.compile()
except ImportError as exc:
    print(type(exc).__name__, exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ComponentLoadError" in done.stdout
    assert "pip install 'themis-eval-core[text-metrics]'" in done.stdout
    assert component_id in done.stdout


def test_text_parser_gives_the_answer_as_stripped_text() -> None:
    experiment = make_experiment(
        generation=GenerationConfig(generator="builtin/demo_generator"),
        evaluation=EvaluationConfig(metrics=["builtin/f1"], parsers=["builtin/text"]),
    )
    result = experiment.run()
    parsed = result.cases[0].parsed_output
    assert parsed is not None and parsed.format == "text" and isinstance(parsed.value, str)
    assert result.metric_means == {"builtin/f1": 1.0}


class PrefersCorrect:
    """A judge that prefers the response stating 42, and records what it was shown."""

    component_id = "test/prefers_42"
    version = "1"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def fingerprint(self) -> str:
        return "prefers-42"

    async def judge(self, prompt: Any, *, seed: int | None = None) -> JudgeResponse:
        text = prompt[-1]["content"]
        self.prompts.append(text)
        first = text.split("Response A:\n")[1].split("\n\nResponse B:")[0]
        second = text.split("Response B:\n")[1]
        winner = "A" if "42" in first else "B" if "42" in second else "TIE"
        return JudgeResponse(text=f"WINNER: {winner}")


class AlwaysA:
    component_id = "test/always_a"
    version = "1"

    def fingerprint(self) -> str:
        return "always-a"

    def judge(self, prompt: Any, *, seed: int | None = None) -> str:
        return "WINNER: A"


def best_of_n_experiment(judge: Any, answers: tuple[str, ...], **selector: Any) -> Any:
    return make_experiment(
        generation=GenerationConfig(
            generator=Answers(*answers),
            selector={"id": "builtin/best_of_n", **selector} if selector else "builtin/best_of_n",
            candidate_policy={"num_samples": len(answers)},  # type: ignore[arg-type]
        ),
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match"], parsers=["builtin/number"], judge_models=[judge]
        ),
        datasets=[
            Dataset(
                dataset_id="q",
                cases=[Case(case_id="c", input="6*7", expected_output="42")],
            )
        ],
    )


def test_best_of_n_picks_the_candidate_the_judge_prefers_in_duels() -> None:
    judge = PrefersCorrect()
    result = best_of_n_experiment(judge, ("41", "40", "42", "39")).run()
    assert result.status is RunStatus.completed, result.cases[0].errors
    case = result.cases[0]
    assert case.reduced_candidate is not None
    assert case.reduced_candidate.final_output == "42"
    assert result.metric_means == {"builtin/exact_match": 1.0}
    assert len(judge.prompts) == 2 * 3  # each challenger duels twice, orders swapped
    assert not any("42" in p.split("Response")[0] for p in judge.prompts)  # no reference shown


def test_best_of_n_cancels_position_bias() -> None:
    # A judge that always prefers the first response wins each challenger one
    # duel and loses the other: the champion (the first candidate) stays.
    result = best_of_n_experiment(AlwaysA(), ("41", "42")).run()
    case = result.cases[0]
    assert case.reduced_candidate is not None and case.reduced_candidate.final_output == "41"


def test_best_of_n_takes_its_judge_from_its_options_too() -> None:
    # The option's judge wins over the experiment's (which would prefer 42 too,
    # but records every prompt it sees).
    experiment_judge = PrefersCorrect()
    experiment = best_of_n_experiment(
        experiment_judge, ("41", "42"), options={"judge": "builtin/demo_judge"}
    )
    result = experiment.run()
    assert result.status is RunStatus.completed
    # The demo judge, shown no reference, solves the arithmetic question itself.
    assert result.cases[0].reduced_candidate.final_output == "42"  # type: ignore[union-attr]
    assert experiment_judge.prompts == []


def test_best_of_n_with_the_demo_components_beats_the_first_candidate() -> None:
    def accuracy(selector: Any) -> float:
        experiment = make_experiment(
            generation=GenerationConfig(
                generator={"id": "builtin/demo_generator", "options": {"error_rate": 0.5}},
                selector=selector,
                reducer="builtin/first_candidate",
                candidate_policy={"num_samples": 5},  # type: ignore[arg-type]
            ),
            evaluation=EvaluationConfig(
                metrics=["builtin/exact_match"],
                parsers=["builtin/json_identity"],
                judge_models=["builtin/demo_judge"],
            ),
            datasets=[arithmetic_dataset(count=12)],
        )
        return experiment.run().metric_means["builtin/exact_match"]

    first = accuracy(None)
    best = accuracy("builtin/best_of_n")
    assert first < 1.0  # some first candidates are wrong
    assert best > first


class FlakyPrefersCorrect(PrefersCorrect):
    """Drops the first connection, as a busy judge endpoint does."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    async def judge(self, prompt: Any, *, seed: int | None = None) -> JudgeResponse:
        if not self.failures:
            self.failures += 1
            raise ConnectionError("connection reset by judge")
        return await super().judge(prompt, seed=seed)


def test_best_of_n_judge_calls_take_the_runs_retry_policy() -> None:
    judge = FlakyPrefersCorrect()
    result = best_of_n_experiment(judge, ("41", "42")).run(
        runtime=RuntimeConfig(retry_initial_delay_s=0, progress="off")
    )
    assert result.status is RunStatus.completed, result.cases[0].errors
    assert judge.failures == 1
    assert result.cases[0].reduced_candidate.final_output == "42"  # type: ignore[union-attr]


def test_with_a_selector_the_judges_are_part_of_the_selections_key() -> None:
    one = plan_cases(best_of_n_experiment(PrefersCorrect(), ("1", "2")).compile())[0]
    other = plan_cases(best_of_n_experiment(AlwaysA(), ("1", "2")).compile())[0]
    assert one.keys_for("generate") == other.keys_for("generate")
    assert one.reduce_key != other.reduce_key


STRICT = {"id": "builtin/demo_judge", "name": "strict", "options": {"behaviour": "fail"}}
LENIENT = {"id": "builtin/demo_judge", "name": "lenient", "options": {"behaviour": "pass"}}
LENIENT2 = {"id": "builtin/demo_judge", "name": "lenient2", "options": {"behaviour": "pass"}}


def test_majority_vote_judge_and_panel_of_judges() -> None:
    def run(metric: str) -> float:
        experiment = make_experiment(
            evaluation=EvaluationConfig(
                metrics=[metric],
                parsers=["builtin/json_identity"],
                judge_models=[STRICT, LENIENT, LENIENT2],
            )
        )
        return experiment.run().metric_means[metric]

    assert run("builtin/majority_vote_judge") == 1.0  # two of three pass
    assert run("builtin/panel_of_judges") == pytest.approx(2 / 3)  # the panel's mean


def test_pairwise_judge_is_pairwise_preference() -> None:
    experiment = make_experiment(
        generation=GenerationConfig(
            generator=Answers("4", "5"),
            candidate_policy={"num_samples": 2},  # type: ignore[arg-type]
            reducer="builtin/first_candidate",
        ),
        evaluation=EvaluationConfig(
            metrics=["builtin/pairwise_judge"],
            parsers=["builtin/json_identity"],
            judge_models=["builtin/demo_judge"],
        ),
        datasets=[
            Dataset(dataset_id="d", cases=[Case(case_id="a", input="2+2", expected_output="4")])
        ],
    )
    score = experiment.run().cases[0].scores[0]
    assert score.value == 1.0 and score.details["comparisons"] == 2


@pytest.mark.parametrize(
    ("parsers", "answer", "expected", "value"),
    [
        (["builtin/choice_letter"], "I think the answer is (C).", "C", 1.0),
        ([], "The answer is B", "C", 0.0),
        ([], "Answer: (c)", "(C)", 1.0),
        ([], "no idea", "C", 0.0),
    ],
)
def test_choice_accuracy(parsers: list[str], answer: str, expected: str, value: float) -> None:
    experiment = make_experiment(
        generation=GenerationConfig(generator=Answers(answer)),
        evaluation=EvaluationConfig(metrics=["builtin/choice_accuracy"], parsers=parsers),
        datasets=[
            Dataset(dataset_id="d", cases=[Case(case_id="a", input="q", expected_output=expected)])
        ],
    )
    result = experiment.run()
    assert result.cases[0].scores[0].value == value


@pytest.mark.parametrize(
    ("parsers", "answer", "value"),
    [
        ([], "First 2, then 2 more: the final answer is \\boxed{4}.", 1.0),
        (["builtin/math_answer"], "#### 4", 1.0),
        ([], "so it must be 5", 0.0),
    ],
)
def test_math_answer_as_parser_and_as_metric(parsers: list[str], answer: str, value: float) -> None:
    experiment = make_experiment(
        generation=GenerationConfig(generator=Answers(answer)),
        evaluation=EvaluationConfig(metrics=["builtin/math_answer"], parsers=parsers),
        datasets=[
            Dataset(dataset_id="d", cases=[Case(case_id="a", input="2+2", expected_output="4")])
        ],
    )
    result = experiment.run()
    assert result.status is RunStatus.completed, result.cases[0].errors
    assert result.cases[0].scores[0].value == value


def test_best_of_n_without_any_judge_fails_at_compile_before_generation() -> None:
    """No judge option and no judge models: every case would fail at reduce
    after paying for its generations, so compile() refuses it, naming both fixes."""
    generator = Answers("41", "42")
    experiment = make_experiment(
        generation=GenerationConfig(
            generator=generator,
            selector="builtin/best_of_n",
            candidate_policy={"num_samples": 2},  # type: ignore[arg-type]
        ),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"], parsers=["builtin/number"]),
        datasets=[Dataset(dataset_id="q", cases=[Case(case_id="c", input="6*7")])],
    )
    with pytest.raises(ValueError, match=r"generation.selector: builtin/best_of_n .*judge_models"):
        experiment.compile()
    with pytest.raises(ValueError, match=r"generation\.selector"):
        experiment.run(store=(store := InMemoryRunStore()))
    assert store.list_runs() == []  # refused before any work: nothing was generated or stored


@pytest.mark.parametrize(
    ("metric", "says"),
    [
        ({"id": "builtin/bleu", "options": {"tokenize": "nope"}}, "tokenize must be one of"),
        ({"id": "builtin/bleu", "options": {"smooth_method": "zzz"}}, "smooth_method must be one"),
        ({"id": "builtin/rouge", "options": {"rouge_type": "rouge9"}}, "rouge_type must be one"),
        ({"id": "builtin/choice_accuracy", "options": {"num_options": 0}}, "num_options"),
    ],
)
def test_a_refused_option_is_a_compile_error_naming_where_and_what(
    metric: dict[str, Any], says: str
) -> None:
    """sacrebleu's bare KeyError('nope') used to be the whole message; the
    error names the config path, the component and the option it refused."""
    experiment = make_experiment(
        evaluation=EvaluationConfig(metrics=[metric], parsers=["builtin/text"]),
        datasets=[arithmetic_dataset(count=1)],
    )
    with pytest.raises(ValueError, match=rf"evaluation\.metrics\[0\]: .*{metric['id']}") as info:
        experiment.compile()
    assert says in str(info.value)
