"""Reference-text overlap metrics computed by the libraries the field trusts.

- ``builtin/bleu``: sentence BLEU through sacrebleu (its defaults: 13a
  tokenisation, exponential smoothing, effective order).
- ``builtin/rouge``: ROUGE through Google's rouge-score package (ROUGE-L
  F-measure by default).

Both need the ``text-metrics`` extra (``pip install
'themis-eval-core[text-metrics]'``); without it, building the metric fails
before any work starts, naming the extra. Each score is on its library's own
scale, the number papers report and users check: BLEU from 0 to 100 (as
sacrebleu gives it), ROUGE F-measure from 0 to 1. A case's
``expected_output`` may be one reference or a list of references. The mean of
sentence BLEU over cases is not corpus BLEU.
"""

from __future__ import annotations

import importlib
from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.core.authoring.registry import ComponentLoadError
from themis.core.contexts import ScoreContext
from themis.core.models import Case, JSONValue, ParsedOutput, Score, ScoreError

EXTRA = "themis-eval-core[text-metrics]"


def _require(module: str, component_id: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ComponentLoadError(
            f"{component_id} needs the {module.split('.')[0]} package: pip install '{EXTRA}'"
        ) from exc


def _references(case: Case, metric_id: str) -> list[str] | ScoreError:
    expected = case.expected_output
    if expected is None:
        return ScoreError(
            metric_id=metric_id,
            reason=f"case {case.case_id!r} has no expected_output to compare against",
        )
    if isinstance(expected, list):
        references = [output_text(item) for item in expected]
        if not references:
            return ScoreError(metric_id=metric_id, reason=f"case {case.case_id!r}: no references")
        return references
    return [output_text(expected)]


def _bleu_option_error(metrics: Any, bleu: Bleu, exc: Exception) -> str:
    """Which option sacrebleu refused, and what it takes (it raises a bare
    KeyError for a tokenizer and an AssertionError for a smoothing)."""
    tokenizers = sorted(getattr(metrics.BLEU, "TOKENIZERS", ()))
    smoothings = sorted(getattr(metrics.BLEU, "SMOOTH_DEFAULTS", ()))
    if tokenizers and bleu.tokenize not in tokenizers:
        return f"tokenize must be one of {tokenizers}, got {bleu.tokenize!r}"
    if smoothings and bleu.smooth_method not in smoothings:
        return f"smooth_method must be one of {smoothings}, got {bleu.smooth_method!r}"
    return f"{type(exc).__name__}: {exc}"


class Bleu(BuiltinComponent):
    """Sentence BLEU (0-100) of the parsed output against the case's reference(s), via sacrebleu."""

    component_id = "builtin/bleu"
    version = "1"

    def __init__(
        self, tokenize: str = "13a", lowercase: bool = False, smooth_method: str = "exp"
    ) -> None:
        metrics = _require("sacrebleu.metrics", self.component_id)
        self.tokenize = tokenize
        self.lowercase = lowercase
        self.smooth_method = smooth_method
        try:
            self._bleu = metrics.BLEU(
                tokenize=tokenize,
                lowercase=lowercase,
                smooth_method=smooth_method,
                effective_order=True,
            )
        except Exception as exc:  # sacrebleu raises on an unknown tokenizer or smoothing
            reason = _bleu_option_error(metrics, self, exc)
            raise ValueError(f"{self.component_id}: {reason}") from exc
        sacrebleu = _require("sacrebleu", self.component_id)
        self._sacrebleu_version = str(getattr(sacrebleu, "__version__", ""))

    def options(self) -> dict[str, Any]:
        # The library's version is identity: BLEU's details change between releases.
        return {
            "tokenize": self.tokenize,
            "lowercase": self.lowercase,
            "smooth_method": self.smooth_method,
            "sacrebleu": self._sacrebleu_version,
        }

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score | ScoreError:
        references = _references(case, self.component_id)
        if isinstance(references, ScoreError):
            return references
        result = self._bleu.sentence_score(output_text(parsed.value), references)
        details: dict[str, JSONValue] = {
            "precisions": list(result.precisions),
            "brevity_penalty": result.bp,
            "signature": str(self._bleu.get_signature()),
        }
        return Score(metric_id=self.component_id, value=result.score, details=details)


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class Rouge(BuiltinComponent):
    """ROUGE F-measure of the parsed output against the case's reference(s), via rouge-score.

    ``rouge_type`` is one of rouge1, rouge2, rougeL (default) or rougeLsum;
    with several references the best-matching one counts (rouge-score's
    ``score_multi``).
    """

    component_id = "builtin/rouge"
    version = "1"

    def __init__(self, rouge_type: str = "rougeL", use_stemmer: bool = False) -> None:
        if rouge_type not in ROUGE_TYPES:
            raise ValueError(
                f"{self.component_id}: rouge_type must be one of {ROUGE_TYPES}, got {rouge_type!r}"
            )
        scorer = _require("rouge_score.rouge_scorer", self.component_id)
        self.rouge_type = rouge_type
        self.use_stemmer = use_stemmer
        self._scorer = scorer.RougeScorer([rouge_type], use_stemmer=use_stemmer)

    def options(self) -> dict[str, Any]:
        return {"rouge_type": self.rouge_type, "use_stemmer": self.use_stemmer}

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score | ScoreError:
        references = _references(case, self.component_id)
        if isinstance(references, ScoreError):
            return references
        result = self._scorer.score_multi(references, output_text(parsed.value))[self.rouge_type]
        return Score(
            metric_id=self.component_id,
            value=result.fmeasure,
            details={
                "rouge_type": self.rouge_type,
                "precision": result.precision,
                "recall": result.recall,
            },
        )
