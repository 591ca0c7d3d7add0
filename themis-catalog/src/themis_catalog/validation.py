"""validate_benchmark: does a benchmark hold together, offline?

It checks that the definition loads, that its offline sample materializes
under every prompt variant, and that answering every sample case with its
reference answer, written the way that prompt variant asks, scores 1.0
through the benchmark's own parser chain and metrics. Judge-scored metrics
are graded by builtin/demo_judge here, which checks the plumbing only.
"""

from __future__ import annotations

from themis.catalog.models import BenchmarkValidationResult, ValidationCheck
from themis.core.authoring.identity import content_hash
from themis.core.config import RuntimeConfig
from themis.core.contexts import GenerateContext
from themis.core.models import Case, GenerationResult, RunResult, case_key_for
from themis.core.storage.stores import InMemoryRunStore
from themis_catalog.discovery import select
from themis_catalog.running import experiment_for, prepare_benchmark

DEMO_JUDGE = "builtin/demo_judge"
MAX_LISTED = 5
QUIET = RuntimeConfig(progress="off", max_retries=0)


class ReferenceAnswers:
    """A generator that answers each case with its reference answer."""

    component_id = "catalog/reference_answers"
    version = "1"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def fingerprint(self) -> str:
        return content_hash(self.answers)

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#reference{ctx.sample_index}",
            final_output=self.answers[ctx.case_key],
        )


def _shortfalls(result: RunResult, metric_names: list[str]) -> list[str]:
    problems = []
    for case in result.cases:
        scores = {score.metric_id: score for score in case.scores}
        for error in case.errors:
            problems.append(f"{case.case_key}: {error.stage} failed: {error.message}")
        for name in metric_names:
            score = scores.get(name)
            if score is None:
                if not case.errors:
                    problems.append(f"{case.case_key}: no {name!r} score")
            elif score.value != 1.0:
                problems.append(f"{case.case_key}: {name} = {score.value} ({score.details})")
    return problems


def _check(name: str, problems: list[str], detail: str) -> ValidationCheck:
    if not problems:
        return ValidationCheck(name=name, ok=True, detail=detail)
    listed = "; ".join(problems[:MAX_LISTED])
    more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
    return ValidationCheck(name=name, ok=False, detail=listed + more)


def validate_benchmark(name: str) -> BenchmarkValidationResult:
    """See the module docstring; never raises for a broken benchmark, it reports."""
    checks: list[ValidationCheck] = []
    notes: list[str] = []
    try:
        selection = select(name)
    except Exception as exc:
        checks.append(ValidationCheck(name="definition", ok=False, detail=f"{exc}"))
        return BenchmarkValidationResult(name=name, checks=checks)
    spec = selection.spec
    checks.append(
        ValidationCheck(
            name="definition",
            ok=True,
            detail=f"{spec.benchmark_id} v{spec.version} from "
            f"{selection.info.distribution or 'unknown'}",
        )
    )
    variant_ids = (
        [selection.prompt_variant.variant_id]
        if name.partition(":")[2] == selection.prompt_variant.variant_id
        else [p.variant_id for p in spec.prompt_variants]
    )
    metric_names = [score.name for score in spec.scores]
    judged = [score.name for score in spec.scores if score.judged]
    if judged:
        notes.append(
            f"judge-scored metrics {judged} were graded by {DEMO_JUDGE}, a string-matching "
            "stand-in: this checks the prompts, parsing and plumbing, not a grader"
        )
    for variant_id in variant_ids:
        try:
            prepared = prepare_benchmark(
                name,
                judge=DEMO_JUDGE if judged else None,
                source="sample",
                prompt_variant=variant_id,
            )
        except Exception as exc:
            checks.append(
                ValidationCheck(
                    name=f"sample[{variant_id}]", ok=False, detail=f"{type(exc).__name__}: {exc}"
                )
            )
            continue
        count = sum(len(s.dataset.cases) for s in prepared.slices)
        checks.append(
            ValidationCheck(
                name=f"sample[{variant_id}]",
                ok=True,
                detail=f"{count} cases in {len(prepared.slices)} slice(s)",
            )
        )
        answers = {
            case_key_for(s.dataset.dataset_id, case_id): answer
            for s in prepared.slices
            for case_id, answer in s.reference_answers.items()
        }
        try:
            experiment = experiment_for(prepared, ReferenceAnswers(answers), runtime=QUIET)
            result = experiment.run(store=InMemoryRunStore())
        except Exception as exc:
            problems = [f"{type(exc).__name__}: {exc}"]
        else:
            problems = _shortfalls(result, metric_names)
        checks.append(
            _check(
                f"reference answers[{variant_id}]",
                problems,
                f"all {count} reference answers score 1.0 on {metric_names}",
            )
        )
    return BenchmarkValidationResult(
        name=name, benchmark_id=spec.benchmark_id, checks=checks, notes=notes
    )
