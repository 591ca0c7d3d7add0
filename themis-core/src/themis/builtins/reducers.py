"""Reducers: collapse a case's candidates into the one that is parsed and scored."""

from __future__ import annotations

from collections import Counter

from themis.builtins._base import BuiltinComponent
from themis.core.authoring.identity import canonical_json
from themis.core.contexts import ReduceContext
from themis.core.models import GenerationResult, ReducedCandidate


def _no_candidates(component_id: str, ctx: ReduceContext) -> ValueError:
    return ValueError(f"{component_id}: no candidates to reduce for case {ctx.case_key!r}")


class FirstCandidate(BuiltinComponent):
    """Keep the first candidate (in seed and sample order)."""

    component_id = "builtin/first_candidate"
    version = "1"

    def reduce(self, candidates: list[GenerationResult], ctx: ReduceContext) -> ReducedCandidate:
        if not candidates:
            raise _no_candidates(self.component_id, ctx)
        first = candidates[0]
        return ReducedCandidate(
            candidate_id=first.candidate_id,
            source_candidate_ids=[c.candidate_id for c in candidates],
            final_output=first.final_output,
        )


class MajorityVote(BuiltinComponent):
    """Keep the most common final output; ties go to the earliest candidate."""

    component_id = "builtin/majority_vote"
    version = "1"

    def reduce(self, candidates: list[GenerationResult], ctx: ReduceContext) -> ReducedCandidate:
        if not candidates:
            raise _no_candidates(self.component_id, ctx)
        keys = [canonical_json(c.final_output) for c in candidates]
        counts = Counter(keys)
        top = max(counts.values())
        winner_index = next(i for i, key in enumerate(keys) if counts[key] == top)
        winner = candidates[winner_index]
        return ReducedCandidate(
            candidate_id=winner.candidate_id,
            source_candidate_ids=[c.candidate_id for c in candidates],
            final_output=winner.final_output,
            metadata={"votes": top, "total": len(candidates), "distinct": len(counts)},
        )
