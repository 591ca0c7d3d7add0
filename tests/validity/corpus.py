# ruff: noqa: E501  (a corpus of verbatim model outputs: one entry a line reads best)
"""A hand-written corpus of realistic model outputs, each with a careful grader's verdict.

Written for Themis (no item comes from a benchmark). Every entry is what a
model might really answer, and ``verdict`` is what a careful human grader
says: 1 when the answer the output gives is the expected one, 0 otherwise
(no answer, a refusal, a truncated or run-on output that never states the
answer, or a different answer). ``trap`` names what the entry tests.

Families: GSM8K-style word problems (gold: a number), MATH-style solutions
(gold: LaTeX), multiple choice (gold: a letter), short-answer QA (golds:
several acceptable answers, SQuAD-style). ``few_shot`` marks outputs of a
completion-style "Question:/Answer:" prompt, which the catalog cuts at its
stop sequences before parsing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Graded:
    output: str
    expected: str
    verdict: int
    trap: str = ""
    few_shot: bool = False
    num_options: int = 4


G = Graded

GSM8K: list[Graded] = [
    G(
        "She bakes 24 + 18 = 42 muffins and sells 35, so 42 - 35 = 7 are left.\nThe answer is 7.",
        "7",
        1,
    ),
    G("Two weeks are 14 days, and 12 * 14 = 168.\n#### 168", "168", 1, "hashes"),
    G("45 boxes * 36 pencils = 1620.\nThe answer is 1,620 pencils.", "1620", 1, "unit word, comma"),
    G(
        "Adding the rent and the deposit, the total is $1,250.00.",
        "1250",
        1,
        "currency, no statement",
    ),
    G("36 cookies / 3 friends = 12.\nThe answer is 12 cookies per friend.", "12", 1, "unit words"),
    G(
        "8 slices each for 3 people is 24 slices, so we need 3 pizzas.\nThe answer is 3 (three pizzas).",
        "3",
        1,
        "parenthesis",
    ),
    G("240 km in 2 hours is 240 / 2 = 120.\nThe answer is 120 km/h.", "120", 1, "unit with slash"),
    G("She gives away 6 of her 10 apples and has 4 left. The answer is 4!", "4", 1, "exclamation"),
    G("He had $20 and now owes $32, so his balance changed by -$12.", "-12", 1, "negative amount"),
    G(
        "The total is 3 * 6.30 = 18.90, so she pays \\boxed{\\$18.90}.",
        "18.90",
        1,
        "escaped dollar in box",
    ),
    G(
        "He spends 3 * 6 = 18 dollars, so the answer is $\\boxed{\\$18}$.",
        "18",
        1,
        "boxed currency",
    ),
    G("", "5", 0, "empty output"),
    G("I'm sorry, but I can't help with that request.", "5", 0, "refusal"),
    G("First, she buys 6 packs of 7 pens, which is 6 * 7 =", "42", 0, "truncated"),
    G("Tom has 2 + 3 = 5 marbles. The answer is five.", "5", 1, "number word"),
    G("The answer is twenty-five.", "25", 1, "number word"),
    G("So the two groups are 2,3.\nThe answer is 2,3.", "23", 0, "not a thousands separator"),
    G(
        "12 + 3 = 15? No wait. 12 - 3 = 9. Let me recheck: she starts with 12 and gets 3 more, so 12 + 3 = 15.\nThe answer is 15.",
        "15",
        1,
        "revised answer",
    ),
    G(
        "The answer is 12.\nWait, I forgot the 3 extra apples: 12 + 3 = 15.\nThe answer is 15.",
        "15",
        1,
        "several statements",
    ),
    G("The answer is 600 dollars.", "600", 1, "currency word"),
    G("Half of a dollar is 0.50.\nThe answer is 0.50.", "0.5", 1, "trailing zero"),
    G("Each gets 5/2 liters.\nThe answer is 5/2.", "2.5", 1, "fraction"),
    G(
        "The temperature falls from 4 to \u22123 degrees.\nThe answer is \u22123.",
        "-3",
        1,
        "unicode minus",
    ),
    G("All of them passed, so the pass rate is 100%.\nThe answer is 100%.", "100", 1, "percent"),
    G("35 minutes of walking.\n\n**Answer: 35 minutes**", "35", 1, "bold statement"),
    G(
        "Natalia sold 48 / 2 = 24 clips in May. Altogether she sold 48 + 24 = 72 clips.\n#### 72",
        "72",
        1,
        "hashes",
    ),
    G(
        "She earns $12 an hour for 50 minutes: 12 * 50 / 60 = $10.\nThe answer is $10.",
        "10",
        1,
        "currency",
    ),
    G("Solving 2x + 3 = 13 gives x = 5.", "5", 1, "equation, no statement"),
    G("The answer is 20 because 4 * 5 = 20.", "20", 1, "because"),
    G("The answer is 4 * 5 = 20.", "20", 1, "stated equation"),
    G("Total = 8 * 5 = 40 dollars.", "40", 1, "last number"),
    G(
        "There are 7 days in a week, so two weeks are 7 * 2 = 14 days.\nThe answer is 14.",
        "7",
        0,
        "wrong answer",
    ),
    G("The answer is 1,000,000.", "1000000", 1, "grouped millions"),
    G("The answer is: 3", "3", 1),
    G("Final Answer: The final answer is $3$. I hope it is correct.", "3", 1, "Minerva style"),
    G(
        "Answer: 6\n\nExplanation: 2 + 4 = 6 and nothing else is added.",
        "6",
        1,
        "explanation after",
    ),
    G("The answer is \\(6\\).", "6", 1, "inline math"),
    G("The answer is $8$.", "8", 1, "dollar math"),
    G("The answer is **8**.", "8", 1, "bold"),
    G("Adding them up, the total is **15** marbles.", "15", 1, "bold, no statement"),
    G("The area is 8^2 = 64.\nThe answer is 8^2 = 64.", "64", 1, "power"),
    G("I cannot determine the answer without knowing how many were sold.", "2", 0, "no answer"),
    G("He has 18 marbles left.\n\nThe answer is 18 marbles.", "18", 1),
    G("5 + 6 = 11\nThe answer is: 11 (eleven)", "11", 1, "parenthesis"),
    G("Roughly speaking, the answer is approximately 12.", "12", 1, "hedge word"),
    G(
        "The answer is 48.\nNote that 50 would be wrong because of the discount.",
        "48",
        1,
        "number after answer",
    ),
    G("Answer: -5", "5", 0, "wrong sign"),
    G("Nothing is left over.\nThe answer is 0.", "0", 1, "zero"),
    G(
        "Three coffees at $1.25 each cost 3 * 1.25.\nThe answer is $3.75.",
        "3.75",
        1,
        "decimal amount",
    ),
    G("The bottle holds 250 mL.\nThe answer is 250 mL.", "250", 1, "unit abbreviation"),
    G("Let's compute: first 12 * 4 = 48, then we subtract the", "36", 0, "truncated mid-reasoning"),
    G("The answer is that each friend gets 12 cookies.", "12", 1, "answer in a sentence"),
    G("So she needs 9 more.\nThe answer is 9.", "9", 1),
    G(
        " She has 3 + 6 = 9 apples.\n#### 9\n\nQuestion: Ben has 2 dogs. How many legs do they have?\nAnswer: 2 * 4 = 8.\n#### 8",
        "9",
        1,
        "run-on continuation",
        few_shot=True,
    ),
    G(
        " 4 * 5 = 20 chairs.\n#### 20\n\nQuestion: A box has 6 eggs. How many eggs are in 3 boxes?\nAnswer: 6 * 3 = 18.\n#### 18",
        "20",
        1,
        "run-on continuation",
        few_shot=True,
    ),
    G(
        " The answer is 21.\n\nQuestion: What is 2 + 2?\nAnswer: The answer is 4.",
        "21",
        1,
        "run-on continuation",
        few_shot=True,
    ),
    G(
        " Let me think about it.\n\nQuestion: How many wheels do 3 cars have?\nAnswer: 3 * 4 = 12.\n#### 12",
        "12",
        0,
        "only the run-on answers",
        few_shot=True,
    ),
    G("So 14 students remain, and the answer is 14", "14", 1, "no final period"),
    G("There are 3 red and 5 blue, 8 in all.\n\nThe final answer is 8", "8", 1),
    G("Step 1: 10 + 5 = 15\nStep 2: 15 * 2 = 30\n#### 30", "30", 1, "hashes"),
]

MATH: list[Graded] = [
    G("Multiplying gives $\\frac{24}{72} = \\boxed{\\frac{1}{3}}$.", "\\frac{1}{3}", 1),
    G("$x = \\sqrt{50} = \\boxed{5\\sqrt{2}}$.", "5\\sqrt{2}", 1),
    G(
        "Setting $2x + 1 = -x + 7$ gives $x = 2$, $y = 5$, so they meet at $\\boxed{(2, 5)}$.",
        "(2,5)",
        1,
        "tuple",
    ),
    G(
        "The probability is one half.\nThe final answer is $0.5$.",
        "\\frac{1}{2}",
        1,
        "decimal vs fraction",
    ),
    G("So the rate rose by $\\boxed{10\\%}$.", "10\\%", 1, "percent"),
    G("The total cost is $\\boxed{18.90}$.", "\\$18.90", 1, "gold with escaped dollar"),
    G(
        "At first I got $\\boxed{3}$. Rechecking the second case, the count is $\\boxed{4}$.",
        "3",
        0,
        "revised to a wrong answer",
    ),
    G("Expanding, we get $\\boxed{(x+1)^2}$.", "x^2+2x+1", 1, "equivalent expression"),
    G(
        "There are $4 \\cdot 3 \\cdot 2 \\cdot 1$ orders, so the answer is $4!$.",
        "24",
        1,
        "factorial in maths",
    ),
    G(
        "Counting forward 10 days from Friday, the answer is Monday.",
        "\\text{Monday}",
        1,
        "text answer",
    ),
    G("Therefore the root is $\\boxed{-2}$.", "2", 0, "wrong sign"),
    G("The sum diverges, so the limit is $\\boxed{\\infty}$.", "\\infty", 1),
    G("The angle is $\\boxed{90}$ degrees.", "90^\\circ", 1, "degrees"),
    G("", "1", 0, "empty output"),
    G("Final Answer: The final answer is 5. I hope it is correct.", "5", 1, "Minerva style"),
    G(
        "There are 3 good outcomes of 4, so the probability is $\\frac{3}{4}$.",
        "\\frac{3}{4}",
        1,
        "unboxed final math",
    ),
    G("So the side is $\\boxed{\\sqrt 3}$.", "\\sqrt{3}", 1, "sqrt without braces"),
    G("The radius is $\\boxed{6 \\text{ cm}}$.", "6", 1, "unit in box"),
    G("The length is $\\boxed{12 \\text{ inches}}$.", "12", 1, "unit in box"),
    G("Hence the ratio is $\\boxed{\\frac58}$.", "\\dfrac{5}{8}", 1, "short frac"),
    G("The minimum value is $\\boxed{\u22121}$.", "-1", 1, "unicode minus"),
    G("The price is $\\boxed{1250}$.", "\\$1,250", 1, "gold with currency and comma"),
    G("The answer is $\\boxed{2}$ because the other root is extraneous.", "2", 1),
    G("I'm not sure how to solve this problem.", "7", 0, "no answer"),
    G("One quarter of them: $\\boxed{\\frac{1}{4}}$.", "0.25", 1),
    G("The line is $\\boxed{y=2x+3}$.", "y = 2x + 3", 1, "equation"),
    G("So there are $\\boxed{4}$ cookies.", "4", 1),
    G("The area is $\\boxed{\\pi}$.", "\\pi", 1),
    G("The final answer is $\\boxed{\\frac{\\sqrt{2}}{2}}$", "\\frac{\\sqrt2}{2}", 1),
    G(
        "The number of divisors is $\\boxed{12}$, since $72 = 2^3 \\cdot 3^2$ gives $4 \\cdot 3$.",
        "12",
        1,
        "explanation after box",
    ),
]

CHOICE: list[Graded] = [
    G("The answer is (C).", "C", 1),
    G("Answer: B", "B", 1),
    G(
        "Let me think about each option carefully. The reaction is exothermic, so \\boxed{D}",
        "D",
        1,
        "boxed letter",
    ),
    G("**A**", "A", 1, "bold letter"),
    G("The correct answer is **A**.", "A", 1, "bold letter"),
    G(
        "the answer is a function of pressure, not volume, so none of these can be chosen.",
        "B",
        0,
        "article after 'answer is'",
    ),
    G("I think the answer is (C).", "C", 1, "pronoun I", num_options=10),
    G("I think the answer is (I).", "I", 1, "pronoun and option I", num_options=10),
    G(
        "A. Incorrect: too small.\nB. Incorrect: wrong sign.\nC. Correct: it matches the data.\nD. Incorrect: too large.",
        "C",
        1,
        "walk-through",
    ),
    G(
        "A. Incorrect.\nB. Incorrect.\nC. Correct.\nD. Incorrect.\n\nThe answer is C.",
        "C",
        1,
        "walk-through then statement",
    ),
    G("B", "B", 1, "bare letter"),
    G("(B)", "B", 1),
    G("B) 42 m/s", "B", 1, "letter with option text"),
    G("I'm not sure, but I would choose D.", "D", 1),
    G("Option A is wrong because the mass is not conserved. Option B is also wrong. So C.", "C", 1),
    G("The answer is A because it is the only stable isotope.", "A", 1, "letter A then 'because'"),
    G("I don't know.", "B", 0, "no answer"),
    G("", "A", 0, "empty output"),
    G("The answer is (J).", "J", 1, "ten options", num_options=10),
    G("Answer: E", "E", 1, "five options", num_options=5),
    G("After checking the units, (C) is correct.", "C", 1, "letter before 'is correct'"),
    G("The correct option is D.", "D", 1),
    G("Final answer: b", "B", 1, "lower-case letter"),
    G("$\\boxed{\\text{A}}$", "A", 1, "boxed text letter"),
    G("My choice is C.", "C", 1),
    G("The answer is not A; it is B.", "B", 1, "negation"),
    G("A", "A", 1),
    G("**Answer:** D", "D", 1, "bold statement"),
    G("Between B and D, B fits the data better.", "B", 1, "preference between two letters"),
    G(
        "The answer is (C).\n\nQuestion: Which planet is closest to the Sun?\nA. Venus\nB. Mercury\nC. Mars\nD. Earth\nAnswer: (B)",
        "C",
        1,
        "run-on continuation",
        few_shot=True,
    ),
    G("I'd say A.", "A", 1, "contraction I'd"),
    G("The answer is B.", "B", 1),
    G(
        "Let's evaluate each option:\n- A: incorrect, it ignores friction\n- B: incorrect\n- C: correct\n- D: incorrect",
        "C",
        1,
        "list walk-through",
    ),
    G("Vitamin D is needed to absorb calcium, so the answer is (D).", "D", 1, "letter as a word"),
    G("None of the options is correct.", "A", 0, "no answer"),
    G("After eliminating A through E, the answer is F.", "F", 1, num_options=10),
    G("It's B, since the others violate conservation of energy.", "B", 1),
    G("I think it's C.", "C", 1),
    G("A. 3.5 m/s", "A", 1, "letter with option text"),
    G("The answer is: (C) 12 N", "C", 1),
    G(
        "The answer is (B). Option D might look right, but it double counts.",
        "B",
        1,
        "letter after the answer",
    ),
    G(
        "Answer: (D)\n\nExplanation: A and B ignore drag; C has the wrong sign.",
        "D",
        1,
        "letters in the explanation",
    ),
    G("The answer is (A)", "C", 0, "wrong letter"),
    G("I think the answer is B.", "D", 0, "wrong letter"),
]


@dataclass(frozen=True)
class ShortAnswer:
    prediction: str
    references: list[str]
    exact: int  # SQuAD exact match (normalised), max over the references
    f1: float  # SQuAD token F1, max over the references
    trap: str = ""


QA_ITEMS: list[ShortAnswer] = [
    ShortAnswer("The Denver Broncos", ["Denver Broncos", "Broncos"], 1, 1.0, "article"),
    ShortAnswer("1990.", ["1990", "in 1990"], 1, 1.0, "punctuation"),
    ShortAnswer("paris", ["Paris"], 1, 1.0, "case"),
    ShortAnswer("Einstein", ["Albert Einstein", "Einstein"], 1, 1.0, "second reference"),
    ShortAnswer("Moon", ["the Moon"], 1, 1.0, "article"),
    ShortAnswer("St. Peter", ["Saint Peter"], 0, 0.5, "abbreviation"),
    ShortAnswer("in the north of Italy", ["northern Italy", "north Italy"], 0, 2 / 3, "paraphrase"),
    ShortAnswer("Marie Curie", ["Curie", "Marie Sklodowska Curie"], 0, 0.8, "partial overlap"),
    ShortAnswer("London", ["Paris", "the city of Paris"], 0, 0.0, "wrong"),
    ShortAnswer("", ["Paris"], 0, 0.0, "empty"),
    ShortAnswer("a cat", ["the cat", "cats"], 1, 1.0, "articles"),
    ShortAnswer("  New   York ", ["New York City", "New York"], 1, 1.0, "whitespace"),
]


# Held out: written after the parsers were finished and never tuned on, so their
# agreement is the honest estimate (the lists above were written alongside the
# parsers and are regression cases first).

GSM8K_HELD_OUT: list[Graded] = [
    G(
        "Let's break it down.\n1. Books cost 4 x $6 = $24.\n2. Pens cost 3 x $2 = $6.\nTotal: $24 + $6 = $30.\n\nSo, Maya spent **$30** in total.",
        "30",
        1,
    ),
    G(
        "Step 1: Find the number of girls: 40 * 3/5 = 24.\nStep 2: Boys = 40 - 24 = 16.\n\nThere are 16 boys in the class.",
        "16",
        1,
    ),
    G(
        "The train travels 60 miles per hour for 2.5 hours, so it covers 60 * 2.5 = 150 miles.\n\nFinal answer: 150 miles",
        "150",
        1,
    ),
    G(
        "Let x be the number of stamps Ann has. Then Ben has 2x, and x + 2x = 45, so x = 15.\nAnn has 15 stamps, and Ben has 30.\nThe answer is 30.",
        "30",
        1,
    ),
    G(
        "To find how much change he receives: 50 - (3 * 12.50) = 50 - 37.50 = 12.50\n\nHe receives $12.50 in change.",
        "12.5",
        1,
    ),
    G(
        "We know that 1 dozen = 12 eggs. She buys 3 dozen, so 3 * 12 = 36 eggs. She uses 8 eggs for a cake.\n36 - 8 = 28\n\nAnswer: 28 eggs remain.",
        "28",
        1,
    ),
    G(
        "The garden is 8 m by 5 m, so its area is 8 * 5 = 40 square meters. Each bag of soil covers 4 square meters, so she needs 40 / 4 = 10 bags.",
        "10",
        1,
    ),
    G(
        "John runs 3 miles a day, 5 days a week. In 4 weeks he runs 3 * 5 * 4 = 60 miles. The answer is 60",
        "60",
        1,
    ),
    G(
        "First, calculate the discount: 20% of $80 is $16. The sale price is $80 - $16 = $64. Then add 5% tax: 64 * 1.05 = 67.2\n\nThe final price is $67.20.",
        "67.2",
        1,
    ),
    G(
        "Each week she saves $15. After 8 weeks she has 15 * 8 = $120. She needs $150 for the bike, so she still needs 150 - 120 = $30.\n\n#### 30",
        "30",
        1,
    ),
    G(
        "She reads 20 pages on Monday and twice as many on Tuesday, which is 40 pages. In total: 20 + 40 = 60 pages.\n\nHowever, the question asks for Tuesday only, so the answer is 40.",
        "40",
        1,
    ),
    G(
        "The answer is 7 because there are 7 days in a week, but since the question asks for two weeks the total is 14.",
        "14",
        0,
    ),
    G("I need more information about the price of each ticket to solve this problem.", "24", 0),
    G(
        "Total students = 25 + 30 = 55. Each bus holds 20, so buses needed = 55 / 20 = 2.75, which rounds up to 3 buses.",
        "3",
        1,
    ),
    G(
        "He earns 15 * 40 = 600 for regular hours and 22.5 * 5 = 112.5 for overtime, so 600 + 112.5 = 712.5 dollars in total. The answer is $712.50",
        "712.5",
        1,
    ),
    G(
        "Lisa has 12 more marbles than Tom. Tom has 18 marbles. So Lisa has 18 + 12 = 30 marbles. Together: 18 + 30 = 48.\n\nThe answer is: 48",
        "48",
        1,
    ),
    G(
        "The recipe needs 3/4 cup of sugar per batch. For 4 batches: 3/4 * 4 = 3 cups.\nAnswer: 3",
        "3",
        1,
    ),
    G("To solve this, we multiply 24 by 3, giving", "72", 0),
    G(
        "Since 5 apples cost $2, one apple costs $0.40, and 12 apples cost 12 * 0.40 = $4.80.\nThe answer is 4.8.",
        "4.8",
        1,
    ),
    G(
        "There were 120 people; 1/4 left early, which is 30 people. So 120 - 30 = 90 stayed.\nThe answer is ninety.",
        "90",
        1,
    ),
]

MATH_HELD_OUT: list[Graded] = [
    G(
        "We have $x^2 - 5x + 6 = (x-2)(x-3)$, so the roots are $2$ and $3$, and their sum is $\\boxed{5}$.",
        "5",
        1,
    ),
    G(
        "Using the formula for the sum of an arithmetic series, $S = \\frac{n}{2}(a_1 + a_n) = \\frac{10}{2}(1 + 19) = 100$. So the answer is $\\boxed{100}$.",
        "100",
        1,
    ),
    G("The slope is $\\frac{7-3}{4-2} = 2$, so the answer is \\boxed{2}.", "2", 1),
    G(
        "The volume is $\\frac{4}{3}\\pi r^3 = \\frac{4}{3}\\pi (3)^3 = 36\\pi$.\n\nFinal Answer: The final answer is $36\\pi$. I hope it is correct.",
        "36\\pi",
        1,
    ),
    G(
        "By the Pythagorean theorem, $c = \\sqrt{3^2 + 4^2} = 5$. The answer is $\\boxed{5}$ units.",
        "5",
        1,
    ),
    G("$\\log_2 64 = 6$, so $\\boxed{6}$.", "6", 1),
    G("The GCD of 48 and 18 is $\\boxed{6}$, and the LCM is $144$.", "144", 0),
    G("So $f(3) = 2(3)^2 - 1 = 17$.\n\nTherefore, $f(3) = \\boxed{17}$.", "17", 1),
    G("The interval where $x^2 < 4$ is $\\boxed{(-2, 2)}$.", "(-2,2)", 1),
    G(
        "The probability of two heads is $\\frac{1}{2} \\cdot \\frac{1}{2}$, which is $\\boxed{\\frac{1}{4}}$.",
        "\\frac14",
        1,
    ),
]

CHOICE_HELD_OUT: list[Graded] = [
    G(
        "The mitochondria is known as the powerhouse of the cell.\n\nAnswer: (B) mitochondria",
        "B",
        1,
    ),
    G(
        "Let's analyze. The compound has a double bond, so it must be an alkene. Therefore, the correct answer is C.",
        "C",
        1,
    ),
    G(
        "Looking at the options, A and B are clearly wrong. C could be right but D is more precise. I'll go with D.",
        "D",
        1,
    ),
    G("**Answer: (A)**\n\nExplanation: Newton's first law describes inertia.", "A", 1),
    G("The best answer is B.", "B", 1),
    G("Answer is C", "C", 1),
    G("From the options given, option (D) is the most accurate description.", "D", 1),
    G("Correct answer: A", "A", 1),
    G("The capital of Australia is Canberra, which corresponds to option C.", "C", 1),
    G("I believe B is the answer.", "B", 1),
    G("None of the above seem correct, but if I had to choose, I'd pick A.", "A", 1),
    G("(C) is the answer since the derivative of x^2 is 2x.", "C", 1),
    G("Answer: The answer is (D).", "D", 1),
    G("A) 12\nB) 14\nC) 16\nD) 18\n\nThe sum is 16, so C.", "C", 1),
    G(
        "This question asks about photosynthesis. Plants convert light energy into chemical energy stored in glucose.",
        "A",
        0,
    ),
    G("It could be either A or C; I am not certain.", "A", 0),
    G("The answer is E) 24", "E", 1, num_options=10),
    G("Therefore the answer is (H).", "H", 1, num_options=10),
    G("answer: d", "D", 1),
    G("Option B: incorrect\nOption C: correct\n\nSo the answer is Option C.", "C", 1),
]


# Second held-out set: written by a QA pass after issue 21 was merged, by someone
# who had not read the lists above, and measured before any fix: GSM8K-style
# 59/66, MATH-style 17/18, multiple choice 44/47. The parser fixes that followed
# are general rules (see the traps); the three GSM8K-style entries marked
# "known miss" are still misread and stay in so the figure stays honest.

GSM8K_SECOND_HELD_OUT: list[Graded] = [  # verdicts by careful reading
    G("Step 1: 7 * 6 = 42 apples.\nStep 2: 42 - 12 = 30.\n#### 30", "30", 1),
    G(
        "Each ticket costs $25, and 50 tickets cost 50 * 25 = 1250.\nThe answer is $1,250.",
        "1250",
        1,
    ),
    G("36 / 3 = 12\n**Answer:** 12 cookies per friend", "12", 1),
    G("She ordered 5 pizzas and ate 2. So she has 3 (three pizzas) left.", "3", 1),
    G("Speed = distance / time = 240 / 2 = 120 km/h", "120", 1),
    G("He spent $30 but only had $18, so his balance is -$12.", "-12", 1),
    G("3 shirts at $6 each cost 3 * 6 = 18, so the total is \\boxed{\\$18}.", "18", 1),
    G("There are 2 * 2 = 4 wheels left. That's 4!", "4", 1),
    G(
        "First I got 5, then I rechecked: 3 + 4 = 7. Wait, actually it's 7.",
        "7",
        1,
        "final correction",
    ),
    G("The answer is 6.\n\nWait, I made an error: 2 * 4 = 8, not 6. The answer is 8.", "8", 1),
    G(
        "The answer is 6.\n\nWait, actually I made an error: the second box holds 4 more, so the answer is 10.",
        "10",
        1,
    ),
    G("Total = 12 + 15 + 9 = 36 marbles.\nFinal answer: 36", "36", 1),
    G(
        "Total = 12 + 15 + 9 = 36 marbles.\nFinal Answer: The final answer is 36. I hope it is correct.",
        "36",
        1,
    ),
    G("He runs 3 miles a day for 7 days: 3 x 7 = 21 miles per week.", "21", 1),
    G(
        "The store sold 1,200 on Monday and 2,450 on Tuesday, a total of 3,650.\nAnswer: 3,650",
        "3650",
        1,
    ),
    G("She earns 15.50 per hour * 8 hours = 124.\nThe answer is $124.00", "124", 1),
    G("So the discount is 20%.\nThe answer is 20%.", "20", 1),
    G("Half of 50 is 25, so the answer is twenty-five.", "25", 1),
    G("The answer is: 45", "45", 1),
    G("**Final Answer: 72**", "72", 1),
    G("Let me compute: 9 * 8 = 72. Therefore, John has **72** stickers.", "72", 1),
    G("The answer is 15 minutes.", "15", 1),
    G("The answer is 15 minutes.", "16", 0),
    G("I'm sorry, but I can't help with that request.", "42", 0),
    G("", "42", 0),
    G(
        "First, let's find out how many eggs she lays per day. She lays 16 eggs and eats 3 for breakfast, so",
        "18",
        0,
    ),
    G(
        "She has 16 - 3 - 4 = 9 eggs left, and sells them at $2 each: 9 * 2 = $18.\nThe answer is 18.",
        "\\$18",
        1,
    ),
    G("The total cost is 6.30 * 3 = $18.90.", "\\$18.90", 1),
    G("The answer is 0.5 liters.", "0.5", 1),
    G("The answer is 1/2.", "0.5", 1),
    G("So Mark is 14 years old. Therefore, the answer is 14 years.", "14", 1),
    G("Answer: 7 hours and 30 minutes", "7.5", 1, "duration in two units (known miss)"),
    G(
        "The number of students is 240, which is 3 times as many as last year (80).",
        "240",
        1,
        "no statement, multiplier and aside after the answer (known miss)",
    ),
    G(
        "The answer is 5.\n\nQuestion: Tom has 3 apples and buys 4 more. How many does he have?\nAnswer: 7",
        "5",
        1,
        few_shot=True,
    ),
    G(
        "She needs 4 more.\n\nQuestion: A train leaves at 3 pm\nAnswer: The answer is 9.",
        "4",
        1,
        few_shot=True,
    ),
    G("The answer is 2,500 dollars.", "2500", 1),
    G("It will take 8 days. #### 8", "8", 1),
    G("The answer is -5 degrees.", "-5", 1),
    G("In total he collected 1.5 thousand stamps, i.e. 1500.\nThe answer is 1500.", "1500", 1),
    G("So the answer is 12, because 3 * 4 = 12.", "12", 1),
    G("Hmm, either 10 or 12. I'm not sure.", "12", 0, "hedged between numbers"),
    G(
        "She reads 20 pages a day, so it takes 300 / 20 = 15 days.\n\nThe answer is 15 days.",
        "15",
        1,
    ),
    G("The total is $ 45.", "45", 1),
    G("Therefore Jane has 3/4 of the cake left, or 0.75.", "0.75", 1),
    G("The answer is USD 300.", "300", 1),
    G("The answer is \\$300.", "300", 1),
    G("Total: 4 + 5 = 9.\n\nAnswer: $9", "9", 1),
    G("The answer is $\\$1{,}250$.", "1250", 1, "LaTeX thousands separator"),
    G("So the final answer is: **$42**", "42", 1),
    G("The answer is 3,000 meters (3 km).", "3000", 1),
    G("The answer is 18 dollars and 50 cents.", "18.5", 1, "dollars and cents"),
    G("Therefore, the answer is 1.", "1", 1),
    G("x = 14\nSo Sarah is 14.", "14", 1),
    G("The answer is 8 and the remainder is 2.", "8", 1),
    G("He paid €45 in total.", "45", 1),
    G("The final answer is 100%", "100", 1),
    G("Answer: \u22127", "-7", 1, "Unicode minus"),
    G("The answer is 7.5 hours.", "7.5", 1),
    G(
        "The answer is 5 apples. Actually, wait: he gave away 2 more, so he has 3 apples.",
        "3",
        1,
        "correction after the stated answer",
    ),
    G("The answer is 12.00.", "12", 1),
    G("Answer: forty", "40", 1),
    G("The cost per person is $12.50, so four people pay $50 and the answer is 50.", "50", 1),
    G("The answer is approximately 33.3.", "33.3", 1),
    G("#### 1,000", "1000", 1),
    G(
        "The answer is 2 hours 15 minutes, which is 135 minutes.",
        "135",
        1,
        "restated in other units (known miss)",
    ),
    G(
        "Let x be the number of dogs. Then 2x + 4(10 - x) = 28, so x = 6.\nThe answer is 6 dogs.",
        "6",
        1,
    ),
]

MATH_SECOND_HELD_OUT: list[Graded] = [  # verdicts by careful reading
    G("So the result is $\\boxed{\\frac{3}{4}}$.", "\\frac{3}{4}", 1),
    G("Thus $x \\in \\boxed{[2, 5)}$.", "[2,5)", 1),
    G("The answer is $\\boxed{2\\sqrt{3}}$", "2\\sqrt{3}", 1),
    G("$\\boxed{x^2+2x+1}$", "(x+1)^2", 1),
    G("The final answer is $\\dfrac{1}{2}$.", "\\frac{1}{2}", 1),
    G("Therefore the answer is $\\boxed{12\\pi}$.", "12\\pi", 1),
    G("So $\\boxed{(-\\infty, 3]}$", "(-\\infty,3]", 1),
    G("The answer is \\boxed{7}.", "8", 0),
    G("$\\boxed{0.75}$", "\\frac{3}{4}", 1),
    G("The solutions are $\\boxed{2, -3}$.", "-3, 2", 1, "boxed list of solutions"),
    G("$$\\boxed{\\frac{\\sqrt{2}}{2}}$$", "\\frac{\\sqrt2}{2}", 1),
    G("Hence the answer is \\boxed{5} cm.", "5", 1),
    G("The area is $\\boxed{36 \\text{ square units}}$.", "36", 1),
    G("We get $x=\\boxed{4}$ or $x=-4$; since x>0 the answer is $\\boxed{4}$.", "4", 1),
    G("The final answer is $\\boxed{(1, -2)}$.", "(1,-2)", 1),
    G("$\\boxed{\\{1, 2, 3\\}}$", "\\{1,2,3\\}", 1),
    G("Final Answer: The final answer is $\\frac{5}{6}$. I hope it is correct.", "\\frac56", 1),
    G("So the answer is $\\boxed{90^\\circ}$.", "90", 1),
]

CHOICE_SECOND_HELD_OUT: list[Graded] = [  # verdicts by careful reading
    G("The answer is (B).", "B", 1),
    G("**A**", "A", 1),
    G("Considering the options, \\boxed{D}", "D", 1),
    G("I think the answer is C because the force doubles.", "C", 1),
    G("The answer is a function of the temperature, so it cannot be determined.", "A", 0),
    G(
        "A. Incorrect, this ignores friction.\nB. Incorrect.\nC. Incorrect.\nD. Correct, this accounts for friction.",
        "D",
        1,
    ),
    G(
        "A. Incorrect, this ignores friction.\nB. Correct: momentum is conserved.\nC. Incorrect.\nD. Incorrect.",
        "B",
        1,
    ),
    G("the answer is (c)", "C", 1),
    G("Answer: h", "H", 1, num_options=10),
    G("The correct option is J.", "J", 1, num_options=10),
    G("After eliminating A through F, the answer is (G).", "G", 1, num_options=10),
    G("I think it's probably B.", "B", 1, num_options=5),
    G("I'm not sure, I cannot answer this question.", "A", 0),
    G("", "A", 0),
    G("Option E is the best choice since it captures both effects.", "E", 1, num_options=5),
    G("The answer is (B). Wait, no — re-reading the question, the answer is (D).", "D", 1),
    G("Answer: (C) 42 m/s", "C", 1),
    G("C", "C", 1),
    G("c)", "C", 1, "lower-case letter only"),
    G("**Answer: B**", "B", 1),
    G("The best answer is **(F)**.", "F", 1, num_options=6),
    G("Both A and B are partially right, but the answer is B.", "B", 1),
    G("A is wrong because of X. B is wrong too. The correct answer is D.", "D", 1),
    G("Let me think. The mitochondria is the powerhouse, so", "B", 0),
    G("I would choose option (A).", "A", 1),
    G("Final answer: $\\boxed{\\text{E}}$", "E", 1, num_options=7),
    G("The answer is I.", "I", 1, num_options=10),
    G("Among the choices, I believe D is correct.", "D", 1),
    G("Answer:\nB", "B", 1),
    G("The answer: A", "A", 1),
    G("My answer is (E) Paris.", "E", 1, num_options=5),
    G("None of the options are correct, but if I must pick, I'd pick A.", "A", 1),
    G("Vitamin D is important, but the question asks about iron, so the answer is B.", "B", 1),
    G("(A) is not right, and neither is (C). The answer is (B).", "B", 1),
    G("A", "B", 0),
    G("The correct answer is: **C. Photosynthesis**", "C", 1),
    G("Answer: (b)", "B", 1),
    G("b", "B", 1, "lower-case letter only"),
    G("The answer is D) Mitochondria", "D", 1),
    G(
        "Let's evaluate each option:\n(A) wrong\n(B) wrong\n(C) right\n(D) wrong\nSo the answer is C.",
        "C",
        1,
    ),
    G("I am confident the answer is A.", "A", 1),
    G("Correct answer: G", "G", 1, num_options=8),
    G("The answer is A, B or C; I can't decide.", "A", 0, "statement naming several options"),
    G("**Answer**: D", "D", 1),
    G("Answer - C", "C", 1),
    G("The answer is option 3.", "C", 0),
    G("I'd say (B), since it's the only one with units of energy.", "B", 1),
]
