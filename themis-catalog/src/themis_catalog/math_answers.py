"""catalog/math_answer: the final answer of a worked solution, cut to the answer.

Models state a final answer in a few conventional ways; this parser reads
the one a careful grader would, in order of how explicit the convention is:
the last ``\\boxed{...}`` (MATH, AIME), the last ``#### ...`` (GSM8K), the
last "the final answer is ..." / "the answer is ..." / "Answer: ...", and
only then the last number of the text.

A stated answer is then cut to the answer itself:

- a number followed by words keeps the number: "12 cookies per friend",
  "1,620 pencils", "1250 dollars", "3 (three pizzas)", "120 km/h" and
  "4!" (an exclamation, not a factorial) are 12, 1620, 1250, 3, 120 and 4;
- otherwise the text stops at the sentence's end, an opening parenthesis
  after the answer, "because", "since", "so", "which" or a semicolon, and
  a math span (``$...$``, ``\\(...\\)``, ``\\[...\\]``) gives its content;
- currency goes in every spelling (``$``, ``\\$``, ``-$12``, ``$-12``, €, £,
  "USD", "dollars", ``\\text{ dollars}``), thousands separators go from a
  grouped number ("1,250" but not the pair "(1,2)"), a Unicode minus is a
  minus, and a trailing unit in ``\\text{...}`` goes from a number.

When several answers are stated the last counts, and a self-correction in a
later sentence ("Actually, wait: ... so 3") replaces it with its last number;
"10 or 12" states no answer; LaTeX's "1{,}250" and "18 dollars and 50 cents"
are 1250 and 18.50; a box holding a list ("2, -3") is the whole list.

Only an unescaped ``$`` with a closing ``$`` delimits math: ``\\$18.90`` and
"$18.90" are amounts of money. The expected answers of a benchmark are read
by the same cleaning (:func:`clean_answer`), so a gold ``\\$18.90`` is 18.90.

An output that states no final answer parses to ``None`` with
``metadata["no_answer"]``; the metrics score it 0 and count it as unparsed,
so an unreadable answer is a wrong answer, never a case left out.
A prompt variant with stop sequences puts catalog/cut_at_stop before this
parser, so what a base model writes after the next "Question:" is never read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from themis.builtins._base import BuiltinComponent, output_text
from themis.core.contexts import ParseContext
from themis.core.models import ParsedOutput, ReducedCandidate
from themis_catalog.stops import cut_at_stop

MINUS_SIGN = "\u2212"
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####")
_FINAL = re.compile(r"final\s+answer\s*(?:is|would\s+be|will\s+be|:|=)?\s*(?::\s*)?", re.IGNORECASE)
_STATED = re.compile(
    r"\banswer\s*(?:is|would\s+be|will\s+be|should\s+be|=|:)\s*(?::\s*)?", re.IGNORECASE
)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)((?:[^$\\]|\\.)+?)(?<!\\)\$")
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_PROSE = re.compile(r"[A-Za-z]{3,}")
_NUMBER_TEXT = r"\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?|\.\d+"
_LAST_NUMBER = re.compile(rf"(?<![\w.])-?(?:{_NUMBER_TEXT})")
_CURRENCY_SIGNS = r"(?:\\\$|\$|€|£|¥|₹)"
_LEADING_NUMBER = re.compile(
    rf"^(?P<sign>-?)\s*(?:{_CURRENCY_SIGNS}|USD\s*|US\$|Rs\.?\s*)?\s*(?P<sign2>-?)\s*"
    rf"(?P<number>{_NUMBER_TEXT})(?P<percent>\s*\\?%)?(?P<rest>.*)$",
    re.DOTALL,
)
_EXPRESSION_CONTINUES = re.compile(r"^\s*(?:[-+*/^=<>_\\{]|[a-zA-Z](?![a-zA-Z])|\d)")
_SENTENCE_END = re.compile(
    r"\.(?=\s|$)|!(?=\s|$)|;|\s\((?!\s*\d+\s*,)|\s+(?:because|since|as|so|which|therefore|thus)\b"
    r"|,\s+(?:so|which|and|because|since)\b|\s[-\u2014\u2013]\s",
    re.IGNORECASE,
)
_TRAILING_UNIT = re.compile(r"\s*\\(?:text|textrm|mbox|mathrm)\s*\{\s*[A-Za-z][^{}]*\}\s*$")
_TRAILING_WORDS = re.compile(r"\s+(?:dollars?|USD|euros?|cents?)\.?$", re.IGNORECASE)
_GROUPED = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_WRAPPERS = (("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"), ("$", "$"), ("`", "`"))


_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_NUMBER_WORD = re.compile(
    rf"^(?:(?P<tens>{'|'.join(_TENS)})(?:[-\s](?P<unit>{'|'.join(_UNITS[1:10])}))?"
    rf"|(?P<small>{'|'.join(_UNITS)}))$",
    re.IGNORECASE,
)
_LAST_AMOUNT = re.compile(rf"(?<![\w.])-?\s?{_CURRENCY_SIGNS}?\s?-?(?:{_NUMBER_TEXT})")
_AND_CENTS = re.compile(
    r"(?<![\d.,])(\d+)\s+dollars?\s*,?\s*and\s+(\d{1,2})\s+cents?\b", re.IGNORECASE
)
_CORRECTION = re.compile(
    # "Wait", "Actually", "Oops", "Correction" opening a sentence (not "she actually
    # gave ..."), or an admitted mistake anywhere; "Wait, let me verify" is a check.
    r"(?:(?:^|(?<=[.!?\n]))\s*(?:(?:hmm|no|oh)[,.!]?\s+)?(?:wait|actually|oops|correction)\b"
    r"|\bI\s+made\s+(?:a|an)\s+(?:mistake|error)\b"
    r"|\b(?:that|this)(?:'s|\u2019s|\s+is)\s+(?:wrong|incorrect|not\s+right)\b)"
    r"(?![,:]?\s+(?:let\s+me|I'll|I\s+will)\s+(?:verify|check|double|confirm))",
    re.IGNORECASE,
)
_ALTERNATIVE = re.compile(rf"^\s*,?\s*or\s+{_CURRENCY_SIGNS}?\s?-?\d")
_OR_BEFORE = re.compile(r"\d\s*,?\s*or\s+$")
_CLOSING_ASIDE = re.compile(r"\s\([^()$\\]*\)\s*[.!]?\s*$")
_LATEX_GROUP = re.compile(r"(?<=\d)\{,\}(?=\d{3})")
_MATH_FUNCTION = re.compile(r"\b(?:sin|cos|tan|log|ln|exp|sqrt|frac|pi)\b")


def _plain_numbers(text: str) -> str:
    """LaTeX's "1{,}250" is 1,250 and "18 dollars and 50 cents" is 18.50 dollars."""
    text = _LATEX_GROUP.sub(",", text)
    return _AND_CENTS.sub(lambda m: f"{m.group(1)}.{int(m.group(2)):02d} dollars", text)


def number_word(text: str) -> str | None:
    """ "five" -> "5", "twenty-five" -> "25" (0 to 99), else None."""
    match = _NUMBER_WORD.match(text.strip().rstrip(".!").strip())
    if match is None:
        return None
    if match.group("small"):
        return str(_UNITS.index(match.group("small").lower()))
    tens = (_TENS.index(match.group("tens").lower()) + 2) * 10
    unit = match.group("unit")
    return str(tens + (_UNITS.index(unit.lower()) if unit else 0))


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (braces balanced), or None."""
    starts = [match.end() for match in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for index in range(start, len(text)):
            if text[index] == "{":
                depth += 1
            elif text[index] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:index].strip()
    return None


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def _math_span(text: str) -> str | None:
    """The content of a math span that opens ``text``: ``$...$`` (unescaped, closed),
    ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]``."""
    for left, right in (("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]"), ("$", "$")):
        if text.startswith(left):
            end = _unescaped(text, right, len(left))
            if end > len(left):
                return text[len(left) : end].strip()
    return None


def _unescaped(text: str, token: str, start: int) -> int:
    index = text.find(token, start)
    while index > 0 and text[index - 1] == "\\":
        index = text.find(token, index + 1)
    return index


def _number_first(text: str, *, math: bool = False) -> str | None:
    """The leading number of ``text`` when the words after it are not more maths.
    In prose "4!" is an exclamation; in ``math`` (a math span, a box) a factorial."""
    match = _LEADING_NUMBER.match(text)
    if match is None:
        return None
    rest = match.group("rest")
    if _ALTERNATIVE.match(rest):
        return None  # "10 or 12": two answers, neither chosen
    if math and re.match(r"^\s*,\s*\S", rest):
        return None  # "\\boxed{2, -3}": a list of answers, not a number
    allowed = ".,;:)(]}*" if math else ".,!;:)(]}*"
    if rest and not rest[0].isspace() and rest[0] not in allowed:
        return None  # "2x", "3\\sqrt{2}", "1/2x": an expression, not a number with words
    if _EXPRESSION_CONTINUES.match(rest) and not re.match(r"^\s*[a-zA-Z]{2,}", rest):
        return None
    negative = "-" in (match.group("sign"), match.group("sign2"))
    number = match.group("number")
    if _GROUPED.match(number):
        number = number.replace(",", "")
    return ("-" if negative else "") + number


def clean_answer(answer: str, *, boxed: bool = False) -> str:
    """A stated answer cut to the answer (see the module docstring). The content
    of a ``\\boxed{}`` (``boxed=True``) is the whole answer: it is not cut at
    a parenthesis or a word, only stripped of currency and units."""
    text = answer.strip().replace(MINUS_SIGN, "-").replace("\u2009", " ").replace("\u00a0", " ")
    text = _plain_numbers(text)
    text = re.sub(r"^\s*[:=]?\s*", "", text.replace("**", "")).strip()
    inner = None if boxed else last_boxed(text)
    if inner:
        return clean_answer(inner, boxed=True)
    span = _math_span(text)
    if span is not None:
        return _tidy(span, math=True)
    leading = _number_first(text, math=boxed)
    if leading is not None:
        return leading
    end = None if boxed else _SENTENCE_END.search(text)
    if end is not None and end.start() > 0:
        text = text[: end.start()]
    if not boxed and "=" in text:
        # "4 * 5 = 20": the result, when it is a number.
        result = _number_first(text.rsplit("=", 1)[1].strip())
        if result is not None:
            return result
    word = number_word(text)
    if word is not None:
        return word
    return _tidy(text, math=boxed)


def _tidy(text: str, *, math: bool = False) -> str:
    changed = True
    while changed and text:
        changed = False
        text = text.strip().rstrip(".").strip()
        for left, right in _WRAPPERS:
            fits = len(text) > len(left) + len(right)
            if fits and text.startswith(left) and text.endswith(right):
                text = text[len(left) : -len(right)].strip()
                changed = True
                break
    text = _TRAILING_WORDS.sub("", text)
    if _LEADING_NUMBER.match(text):
        unit = _TRAILING_UNIT.search(text)
        if unit is not None and unit.start() > 0:
            text = text[: unit.start()].strip()
        leading = _number_first(text, math=math)
        if leading is not None:
            return leading
    return text.strip()


def extract_final_answer(text: str, stop: Sequence[str] = ()) -> str | None:
    """The final answer stated in ``text`` (before any of the ``stop`` sequences),
    cut to the answer, or None when it states none."""
    text = _plain_numbers(cut_at_stop(text, stop))
    boxed = last_boxed(text)
    if boxed:
        return clean_answer(boxed, boxed=True) or None
    for pattern in (_HASHES, _FINAL, _STATED):
        for match in reversed(list(pattern.finditer(text))):
            line = text[match.end() : _line_end(text, match.end())]
            stated = clean_answer(line)
            prose = _PROSE.search(stated) and not _MATH_FUNCTION.search(stated)
            if stated and prose and "\\" not in stated:
                # "The answer is that each friend gets 12 cookies": the number in it.
                number = _LAST_NUMBER.search(stated)
                if number is not None:
                    stated = _number_first(number.group(0)) or number.group(0)
            if stated:
                return _corrected(text, match.end()) or stated
    return _last_number(text.replace(MINUS_SIGN, "-"))


def _corrected(text: str, stated_at: int) -> str | None:
    """A self-correction in a sentence after the stated answer ("The answer is 5
    apples. Actually, wait: he gave away 2 more, so he has 3."): the last number
    after it, or None. "Wait, let me verify" is a check, not a correction."""
    sentence_end = re.compile(r"[.!?](?=\s)|\n").search(text, stated_at)
    if sentence_end is None:
        return None
    correction = _CORRECTION.search(text, sentence_end.end())
    if correction is None:
        return None
    return _last_number(text[correction.end() :].replace(MINUS_SIGN, "-"))


def _last_number(text: str) -> str | None:
    """No answer stated: the last number (an amount keeps its sign: "-$12" is -12),
    or the content of the math span that holds it ("... is $\\frac{3}{4}$.").
    A closing aside in parentheses is not the answer when a number precedes it:
    "so she has 3 left (out of 10)." is 3. A choice between numbers ("either
    10 or 12") states no answer."""
    aside = _CLOSING_ASIDE.search(text)
    if aside is not None and _LAST_AMOUNT.search(text, 0, aside.start()):
        text = text[: aside.start()]
    amounts = list(_LAST_AMOUNT.finditer(text))
    if not amounts:
        return None
    last = amounts[-1]
    if _OR_BEFORE.search(text, 0, last.start()):
        return None  # "either 10 or 12": no one answer
    for span in _INLINE_MATH.finditer(text):
        content = span.group(1)
        money = "\n" in content or _PROSE_WORD.search(content)  # "$80 is $16": amounts
        if not money and span.start() < last.start() < span.end():
            return content.strip() or None
    return _number_first(re.sub(r"\s+", "", last.group(0))) or last.group(0).strip()


class MathAnswer(BuiltinComponent):
    """Extract the final answer of a worked solution (see the module docstring)."""

    component_id = "catalog/math_answer"
    version = "2"

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        text = output_text(candidate.final_output)
        answer = extract_final_answer(text)
        if answer is None:
            return ParsedOutput(value=None, format="math", metadata={"no_answer": text[-200:]})
        return ParsedOutput(value=answer, format="math")
