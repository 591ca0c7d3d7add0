"""Shared helpers: generators and judges standing in for hosted models."""

from __future__ import annotations

from themis.core.authoring.identity import content_hash
from themis.core.contexts import GenerateContext
from themis.core.models import Case, GenerationResult
from themis.core.workflows import JudgeResponse


class AnswerBook:
    """A generator answering from a table keyed by a phrase of the prompt.

    It stands in for a hosted model, which cannot run here; everything around
    it (catalog, engine, parsers, metrics, store) is the real thing.
    """

    component_id = "test/answer_book"
    version = "1"

    def __init__(self, answers: dict[str, str], default: str = "I do not know.") -> None:
        self.answers = answers
        self.default = default
        self.prompts: list[str] = []

    def fingerprint(self) -> str:
        return content_hash({"answers": self.answers, "default": self.default})

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        prompt = case.input["prompt"]
        self.prompts.append(prompt)
        answer = next((a for key, a in self.answers.items() if key in prompt), self.default)
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#{ctx.base_seed}.{ctx.sample_index}", final_output=answer
        )


class KeywordJudge:
    """A judge model answering in the rubric format: PASS when the candidate
    answer contains the reference's key word (a hosted judge stand-in)."""

    component_id = "test/keyword_judge"
    version = "1"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def fingerprint(self) -> str:
        return "keyword-judge-v1"

    async def judge(self, prompt: object, *, seed: int | None = None) -> JudgeResponse:
        text = "\n".join(m["content"] for m in prompt) if isinstance(prompt, list) else str(prompt)
        self.prompts.append(text)
        reference = text.split("Reference answer:\n", 1)[1].split("\n", 1)[0].strip().lower()
        candidate = text.split("Candidate answer:\n", 1)[1].strip().lower()
        verdict = "PASS" if reference and reference in candidate else "FAIL"
        return JudgeResponse(text=f"VERDICT: {verdict}\nSCORE: {float(verdict == 'PASS')}")
