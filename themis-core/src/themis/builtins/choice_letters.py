"""Which option letter a multiple-choice answer chose, read the way a careful grader reads it.

In order of how plainly the answer says it:

1. an explicit statement, the last one made: "the answer is (C)", "Answer: C",
   "the correct option is C", "I choose C", "C is correct", a ``\\boxed{C}``;
2. a letter set apart in bold (``**C**``, ``**(C)**``, ``**C.**``);
3. an answer that is only a letter ("C", "(C)", "C.", "C) text of the option");
4. of a walk-through that labels options one per line ("A. Incorrect ..."),
   the one line marked correct;
5. otherwise the last letter standing alone or in parentheses, outside such
   walk-through labels.

Letters beyond the number of options never count. "A" / "a" before a word
("the answer is a function of ...") is an article and "I" before a word
("I think") a pronoun, not a choice; lower-case letters count only in an
explicit statement, in parentheses or as the whole answer ("b", "c)").
A statement that names several options ("the answer is A, B or C") chooses
none of them.
"""

from __future__ import annotations

import re
import string

_CONNECTIVES = frozenset(
    [
        "because",
        "since",
        "as",
        "and",
        "or",
        "but",
        "which",
        "that",
        "for",
        "with",
        "so",
        "is",
        "was",
        "it",
        "this",
        "given",
        "per",
        "here",
        "there",
        "then",
        "while",
        "whereas",
    ]
)
_WORD_AFTER = re.compile(r"\s+([a-z][a-z'\u2019]*)")
_STATEMENT = (
    r"\b(?:(?:final|correct|right|best)\s+)?answer\b"
    r"(?:\s+(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\b)?\s*[:=]?"
    r"|\b(?:final|correct|right|best)\s+(?:option|choice)\b(?:\s+(?:is|would\s+be)\b)?\s*[:=]?"
    r"|\bI\s*(?:would\s+|will\s+|'d\s+|\u2019d\s+)?(?:choose|pick|select|go\s+with)\b"
    r"|\bmy\s+(?:final\s+)?choice\b(?:\s+is\b)?\s*[:=]?"
)
_CORRECT_LINE = re.compile(r"\b(?:correct|right|true)\b", re.IGNORECASE)
_WRONG_LINE = re.compile(
    r"\b(?:incorrect|not\s+(?:correct|right|true)|wrong|false|untrue)\b", re.IGNORECASE
)


class _Letters:
    """The compiled patterns for one number of options."""

    def __init__(self, num_options: int) -> None:
        self.letters = string.ascii_uppercase[:num_options]
        upper = self.letters
        both = upper + upper.lower()
        wrap_open = r"(?:\*\*|\*|__)?\s*[\(\[]?\s*(?:\\text\{|\\textbf\{|\\mathrm\{)?"
        self.explicit = re.compile(
            rf"(?:{_STATEMENT})\s*(?:option|choice|letter)?\s*{wrap_open}([{both}])"
            rf"(?![A-Za-z0-9])",
            re.IGNORECASE,
        )
        self.explicit_after = re.compile(
            rf"(?:^|[\s\(\[\*])(?:option|choice)?\s*[\(\[]?([{upper}])[\)\]]?\s*"
            rf"(?:is|would\s+be)\s+(?:the\s+)?(?:correct|right|best)(?:\s+(?:answer|option|choice))?\b"
        )
        self.boxed = re.compile(
            rf"\\boxed\s*\{{\s*(?:\\text(?:bf)?\{{|\\mathrm\{{)?\s*\(?([{both}])\)?\s*\}}?\s*\}}"
        )
        self.bold = re.compile(rf"\*\*\s*[\(\[]?([{upper}])[\)\]\.:]?\s*\*\*")
        self.only = re.compile(rf"^\s*[\(\[]?([{upper}])(?:[\)\]\.:]\s*(?:.*)?)?\s*$", re.DOTALL)
        self.only_lower = re.compile(rf"^\s*[\(\[]?([{upper.lower()}])[\)\]\.:]?\s*$")
        self.another = re.compile(
            rf"\)?\s*(?:,|/|\bor\b|\band\b)\s*(?:option\s+)?\(?([{upper}])\)?"
            rf"(?![A-Za-z0-9])(?!\s+(?:is|was|are|were)\b)"
        )
        self.label_line = re.compile(
            rf"^\s*(?:[-*]\s+)?(?:\*\*)?[\(\[]?([{upper}])[\)\]\.:](?:\*\*)?\s+\S", re.MULTILINE
        )
        self.parenthesised = re.compile(rf"[\(\[]([{both}])[\)\]]")
        self.standalone = re.compile(
            rf"(?<![A-Za-z0-9'\u2019\\-])([{upper}])(?![A-Za-z0-9'\u2019\-])"
        )

    def is_word(self, text: str, letter_end: int, letter: str) -> bool:
        """Whether the letter ending at ``letter_end`` is the article "a" or the pronoun "I"."""
        if letter not in "AaI":
            return False
        following = _WORD_AFTER.match(text, letter_end)
        return following is not None and following.group(1).lower() not in _CONNECTIVES


def _label_lines(compiled: _Letters, text: str) -> list[re.Match[str]]:
    """Option labels that start lines, when two or more do: a walk-through, not an answer."""
    lines = list(compiled.label_line.finditer(text))
    return lines if len({m.group(1) for m in lines}) >= 2 else []


def find_choice_letter(text: str, num_options: int) -> str | None:
    """The option letter ``text`` chose among ``num_options``, or None (see the module)."""
    compiled = _compiled(num_options)
    explicit: list[tuple[int, str | None]] = []
    for match in compiled.explicit.finditer(text):
        letter = match.group(1)
        if compiled.is_word(text, match.end(1), letter):
            continue
        # "the answer is A, B or C": several options named, none chosen.
        hedged = compiled.another.match(text, match.end(1))
        explicit.append((match.start(1), None if hedged else letter.upper()))
    explicit += [(m.start(1), m.group(1)) for m in compiled.explicit_after.finditer(text)]
    explicit += [(m.start(1), m.group(1).upper()) for m in compiled.boxed.finditer(text)]
    if explicit:
        return max(explicit, key=lambda found: found[0])[1]
    labels = _label_lines(compiled, text)
    spans = [(m.start(), _line_end(text, m.start())) for m in labels]

    def outside(position: int) -> bool:
        return not any(start <= position < end for start, end in spans)

    bold = [m.group(1) for m in compiled.bold.finditer(text) if outside(m.start())]
    if bold:
        return bold[-1]
    only = compiled.only.match(text) or compiled.only_lower.match(text)
    if only and not compiled.is_word(text, only.end(1), only.group(1)):
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        if not labels or len(first_line) <= 3:
            return only.group(1).upper()
    if labels:
        marked = [
            m.group(1)
            for m in labels
            if _CORRECT_LINE.search(_line_at(text, m.start()))
            and not _WRONG_LINE.search(_line_at(text, m.start()))
        ]
        if len(set(marked)) == 1:
            return marked[0]
    candidates: list[tuple[int, str]] = []
    for match in compiled.parenthesised.finditer(text):
        candidates.append((match.start(1), match.group(1).upper()))
    for match in compiled.standalone.finditer(text):
        if compiled.is_word(text, match.end(1), match.group(1)):
            continue
        candidates.append((match.start(1), match.group(1)))
    kept = [(position, letter) for position, letter in candidates if outside(position)]
    return max(kept)[1] if kept else None


def _line_at(text: str, position: int) -> str:
    return text[position : _line_end(text, position)]


def _line_end(text: str, position: int) -> int:
    end = text.find("\n", position)
    return len(text) if end < 0 else end


_CACHE: dict[int, _Letters] = {}


def _compiled(num_options: int) -> _Letters:
    if not 2 <= num_options <= 26:
        raise ValueError(f"num_options must be within [2, 26], got {num_options}")
    if num_options not in _CACHE:
        _CACHE[num_options] = _Letters(num_options)
    return _CACHE[num_options]
