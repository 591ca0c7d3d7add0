"""Judge models and judge-backed metrics.

- ``builtin/demo_judge``: a deterministic judge model for tests and tutorials.
  It compares the candidate with the reference it finds in the prompt (or,
  shown none, with its own answer to a plain arithmetic question); it is not a
  real grader and says so in every answer.
- ``builtin/llm_rubric``: an LLM metric. Each configured judge model grades the
  reduced candidate against a rubric; verdicts are aggregated (mean, majority,
  min or max) and inter-judge agreement is reported.
- ``builtin/majority_vote_judge``: ``builtin/llm_rubric`` with the panel's
  majority verdict as the score (``builtin/panel_of_judges`` is
  ``builtin/llm_rubric`` itself, under the reference's name).
- ``builtin/pairwise_preference`` (also ``builtin/pairwise_judge``): a
  selection metric. Judges compare the reduced candidate with every other
  distinct candidate of the case, in both orders to cancel position bias; the
  score is the reduced candidate's win rate.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.builtins.generators import solve_arithmetic
from themis.core.authoring.prompts import case_input_text
from themis.core.contexts import EvalScoreContext
from themis.core.models import JSONValue, Score, ScoreError
from themis.core.workflows import (
    EvaluationSubject,
    JudgeCall,
    JudgeResponse,
    JudgmentParseError,
    WorkflowBuildError,
)

DEFAULT_RUBRIC = "The candidate answer is correct, complete and directly answers the question."
AGGREGATIONS = ("mean", "majority", "min", "max")

_VERDICT = re.compile(r"verdict\s*[:=]\s*\**\s*(pass|fail)\b", re.IGNORECASE)
_SCORE = re.compile(r"score\s*[:=]\s*\**\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_WINNER = re.compile(r"winner\s*[:=]\s*\**\s*(A|B|TIE)\b", re.IGNORECASE)


def prompt_text(prompt: Any) -> str:
    """The text of a judge prompt given as a string or as chat messages."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict))
    return str(prompt)


def _section(text: str, label: str) -> str | None:
    match = re.search(
        rf"^{re.escape(label)}:\n(.*?)(?=^\w[\w ]*:\n|\Z)", text, re.MULTILINE | re.DOTALL
    )
    return match.group(1).strip() if match else None


def _normal(text: str | None) -> str:
    return " ".join((text or "").lower().split()).strip(" .")


def _matches(candidate: str | None, reference: str | None) -> bool:
    if reference is None or reference == "(none given)":
        return bool(_normal(candidate))
    wanted, got = _normal(reference), _normal(candidate)
    if not wanted:
        return False
    return wanted == got or re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", got) is not None


class DemoJudge(BuiltinComponent):
    """Deterministic judge model for tests and tutorials; not a real grader.

    ``behaviour``: ``"compare"`` (default) passes a candidate that matches the
    reference in the prompt; ``"pass"`` and ``"fail"`` always answer so;
    ``"garbage"`` answers without a verdict, to exercise unparseable answers.
    """

    component_id = "builtin/demo_judge"
    version = "1"
    is_demo = True

    def __init__(self, behaviour: str = "compare") -> None:
        if behaviour not in ("compare", "pass", "fail", "garbage"):
            raise ValueError(f"behaviour must be compare, pass, fail or garbage; got {behaviour!r}")
        self.behaviour = behaviour

    def options(self) -> dict[str, Any]:
        return {"behaviour": self.behaviour}

    async def judge(self, prompt: Any, *, seed: int | None = None) -> JudgeResponse:
        text = prompt_text(prompt)
        usage = {"input_tokens": max(1, len(text) // 4), "output_tokens": 12}
        note = "REASON: demo judge (string comparison with the reference; not a real grader)"
        if self.behaviour == "garbage":
            return JudgeResponse(text="I would rather not say.", token_usage=usage, model="demo")
        reference = _section(text, "Reference answer")
        if reference is None:
            # No reference shown (a best-of-n duel): solve a plain arithmetic
            # question as the demo generator does; anything else stays unjudged.
            reference = solve_arithmetic(_section(text, "Question") or "")
        if "Response A:\n" in text:
            a_ok = _matches(_section(text, "Response A"), reference)
            b_ok = _matches(_section(text, "Response B"), reference)
            winner = "A" if a_ok and not b_ok else "B" if b_ok and not a_ok else "TIE"
            return JudgeResponse(text=f"WINNER: {winner}\n{note}", token_usage=usage, model="demo")
        if self.behaviour == "compare":
            passed = _matches(_section(text, "Candidate answer"), reference)
        else:
            passed = self.behaviour == "pass"
        verdict = "PASS" if passed else "FAIL"
        body = f"VERDICT: {verdict}\nSCORE: {1.0 if passed else 0.0}\n{note}"
        return JudgeResponse(text=body, token_usage=usage, model="demo")


def _reference_text(expected: JSONValue) -> str:
    return "(none given)" if expected is None else output_text(expected)


def _candidate_text(subject: EvaluationSubject) -> str:
    if subject.parsed is not None:
        return output_text(subject.parsed.value)
    if subject.reduced is not None:
        return output_text(subject.reduced.final_output)
    return ""


def _agreement(verdicts: list[str]) -> float:
    """Fraction of judge pairs that gave the same verdict (1.0 for one judge)."""
    pairs = list(itertools.combinations(verdicts, 2))
    if not pairs:
        return 1.0
    return sum(a == b for a, b in pairs) / len(pairs)


def _aggregation(ctx: EvalScoreContext, default: str = "mean") -> str:
    method = str(ctx.judge_config.get("aggregation", default))
    if method not in AGGREGATIONS:
        raise WorkflowBuildError(
            f"judge_config.aggregation for {ctx.metric_id!r} must be one of {AGGREGATIONS}, "
            f"got {method!r}"
        )
    return method


def _require_judges(ctx: EvalScoreContext) -> None:
    if not ctx.judge_models:
        raise WorkflowBuildError(
            f"metric {ctx.metric_id!r} needs at least one judge model "
            "(EvaluationConfig.judge_models)"
        )


class RubricWorkflow:
    """One grading call per judge model; aggregated into one score."""

    def __init__(self, rubric: str, judge_count: int, aggregation: str) -> None:
        self.rubric = rubric
        self.judge_count = judge_count
        self.aggregation = aggregation

    def judge_calls(self) -> list[JudgeCall]:
        return [JudgeCall(call_id=f"judge-{i}", judge_index=i) for i in range(self.judge_count)]

    def render_prompt(
        self, call: JudgeCall, subject: EvaluationSubject, ctx: EvalScoreContext
    ) -> list[dict[str, str]]:
        system = (
            "You are an impartial grader. Grade the candidate answer against the rubric. "
            "Reply with exactly two lines:\nVERDICT: PASS or VERDICT: FAIL\n"
            "SCORE: a number from 0 to 1"
        )
        user = (
            f"Rubric:\n{self.rubric}\n\n"
            f"Question:\n{case_input_text(subject.case.input)}\n\n"
            f"Reference answer:\n{_reference_text(subject.case.expected_output)}\n\n"
            f"Candidate answer:\n{_candidate_text(subject)}\n"
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def parse_judgment(
        self, call: JudgeCall, response: JudgeResponse, ctx: EvalScoreContext
    ) -> dict[str, JSONValue]:
        verdict = _VERDICT.search(response.text)
        score = _SCORE.search(response.text)
        if verdict is None and score is None:
            raise JudgmentParseError(
                f"no 'VERDICT: PASS|FAIL' or 'SCORE: x' in the judge's answer: "
                f"{response.text[:200]!r}"
            )
        value = float(score.group(1)) if score else None
        if value is not None and not 0.0 <= value <= 1.0:
            raise JudgmentParseError(f"score {value} is outside [0, 1]")
        passed = verdict.group(1).lower() == "pass" if verdict else (value or 0.0) >= 0.5
        return {"verdict": "pass" if passed else "fail", "score": value}

    def score_judgment(
        self, call: JudgeCall, judgment: dict[str, JSONValue], ctx: EvalScoreContext
    ) -> float:
        score = judgment.get("score")
        if isinstance(score, int | float):
            return float(score)
        return 1.0 if judgment["verdict"] == "pass" else 0.0

    def aggregate(
        self, judgments: list[dict[str, JSONValue]], scores: list[float], ctx: EvalScoreContext
    ) -> Score | ScoreError:
        if not scores:
            return ScoreError(metric_id=ctx.metric_id, reason="no judge produced a verdict")
        verdicts = [str(j["verdict"]) for j in judgments]
        if self.aggregation == "majority":
            passes = verdicts.count("pass")
            value = 1.0 if passes * 2 > len(verdicts) else 0.0
        elif self.aggregation == "min":
            value = min(scores)
        elif self.aggregation == "max":
            value = max(scores)
        else:
            value = sum(scores) / len(scores)
        return Score(
            metric_id=ctx.metric_id,
            value=value,
            details={
                "aggregation": self.aggregation,
                "judge_scores": scores,
                "verdicts": verdicts,
                "agreement": _agreement(verdicts),
                "rubric": self.rubric,
            },
        )


class LLMRubric(BuiltinComponent):
    """Grade the reduced candidate against a rubric with one or more judge models.

    The rubric comes from the metric's ``judge_config`` (``rubric``), else
    ``workflow_overrides["rubric"]``, else a generic correctness rubric.
    """

    component_id = "builtin/llm_rubric"
    version = "1"
    metric_family = "llm"
    default_aggregation = "mean"
    judge_config_keys = frozenset({"aggregation", "rubric"})

    def check_judge_config(self, config: dict[str, Any]) -> None:
        """Refuse settings that would fail every case, before any is generated."""
        method = config.get("aggregation", self.default_aggregation)
        if method not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got {method!r}")
        rubric = config.get("rubric")
        if rubric is not None and not isinstance(rubric, str):
            raise ValueError(f"rubric must be text, got {type(rubric).__name__}")

    def build_workflow(self, subject: EvaluationSubject, ctx: EvalScoreContext) -> RubricWorkflow:
        _require_judges(ctx)
        rubric = ctx.judge_config.get("rubric") or ctx.workflow_overrides.get("rubric")
        if rubric is not None and not isinstance(rubric, str):
            raise WorkflowBuildError(f"rubric for {ctx.metric_id!r} must be text, got {rubric!r}")
        return RubricWorkflow(
            rubric or DEFAULT_RUBRIC,
            len(ctx.judge_models),
            _aggregation(ctx, self.default_aggregation),
        )


class MajorityVoteJudge(LLMRubric):
    """A panel's majority verdict: ``builtin/llm_rubric`` aggregated by ``majority``
    unless ``judge_config`` names another aggregation."""

    component_id = "builtin/majority_vote_judge"
    default_aggregation = "majority"


class PairwiseWorkflow:
    """The reduced candidate against each distinct alternative, in both orders."""

    def __init__(self, chosen: str, alternatives: list[str], judge_count: int) -> None:
        self.chosen = chosen
        self.alternatives = alternatives
        self.judge_count = judge_count

    def judge_calls(self) -> list[JudgeCall]:
        calls = []
        for judge in range(self.judge_count):
            for index in range(len(self.alternatives)):
                for order in ("chosen_first", "chosen_second"):
                    calls.append(
                        JudgeCall(
                            call_id=f"judge-{judge}/alt-{index}/{order}",
                            judge_index=judge,
                            metadata={"alternative": index, "order": order},
                        )
                    )
        return calls

    def render_prompt(
        self, call: JudgeCall, subject: EvaluationSubject, ctx: EvalScoreContext
    ) -> list[dict[str, str]]:
        alternative = self.alternatives[int(call.metadata["alternative"])]
        first, second = (
            (self.chosen, alternative)
            if call.metadata["order"] == "chosen_first"
            else (alternative, self.chosen)
        )
        system = (
            "You compare two responses to the same question. Reply with one line: "
            "WINNER: A, WINNER: B or WINNER: TIE."
        )
        user = (
            f"Question:\n{case_input_text(subject.case.input)}\n\n"
            f"Reference answer:\n{_reference_text(subject.case.expected_output)}\n\n"
            f"Response A:\n{first}\n\nResponse B:\n{second}\n"
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def parse_judgment(
        self, call: JudgeCall, response: JudgeResponse, ctx: EvalScoreContext
    ) -> str:
        match = _WINNER.search(response.text)
        if match is None:
            raise JudgmentParseError(
                f"no 'WINNER: A|B|TIE' in the judge's answer: {response.text[:200]!r}"
            )
        return match.group(1).upper()

    def score_judgment(self, call: JudgeCall, judgment: str, ctx: EvalScoreContext) -> float:
        if judgment == "TIE":
            return 0.5
        chosen_label = "A" if call.metadata["order"] == "chosen_first" else "B"
        return 1.0 if judgment == chosen_label else 0.0

    def aggregate(self, judgments: list[str], scores: list[float], ctx: EvalScoreContext) -> Score:
        if not scores:
            return Score(
                metric_id=ctx.metric_id,
                value=1.0,
                details={"comparisons": 0, "note": "no distinct alternative candidates"},
            )
        return Score(
            metric_id=ctx.metric_id,
            value=sum(scores) / len(scores),
            details={"comparisons": len(scores), "judgments": judgments, "win_scores": scores},
        )


class PairwisePreference(BuiltinComponent):
    """Win rate of the reduced candidate against the case's other candidates."""

    component_id = "builtin/pairwise_preference"
    version = "1"
    metric_family = "selection"

    def build_workflow(self, subject: EvaluationSubject, ctx: EvalScoreContext) -> PairwiseWorkflow:
        _require_judges(ctx)
        if subject.reduced is None:
            raise WorkflowBuildError(f"{ctx.metric_id!r} needs a reduced candidate")
        chosen = output_text(subject.reduced.final_output)
        seen = {json.dumps(subject.reduced.final_output, sort_keys=True, default=str)}
        alternatives: list[str] = []
        for candidate in subject.candidates:
            key = json.dumps(candidate.final_output, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                alternatives.append(output_text(candidate.final_output))
        return PairwiseWorkflow(chosen, alternatives, len(ctx.judge_models))
