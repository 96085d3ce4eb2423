"""Rule-based detectors for the taxonomy's objectively checkable categories: cheap, deterministic, no model.

Each detector looks at one row's texts and either finds nothing (``None``) or returns an evidence
string saying what it found. :func:`run_rules` turns the hits into :class:`~.report.Issue` objects
(``provenance="rule:<name>"``) and assignments, like every other discovery mode.

* ``reference_mismatch`` (Result Error / Incorrect Answers): the response's final number or choice
  letter is not the reference's. Checkable rows only: the reference must state a number as its answer
  (GSM8K's ``####``, ``\\boxed{}``, "the answer is", a bare number, or a stated result ending the
  reference of a "how many / how much" question) or be a choice letter. On clear_gsm8k it flags every
  response whose conclusion lacks the reference number, at 97.8 % precision
  (``benchmarks/bench_reference_detector.py``).
* ``truncation`` (Truncation): the response stops mid-sentence, mid-list, on an operator, inside an
  unclosed parenthesis or code block.
* ``repetition`` (Noisy): a sentence repeated back to back or at length, a restated paragraph, or a loop.
* ``refusal`` (Refusal to Answer): the response declines the request (en / zh) and gives no answer.
  It cannot tell a justified refusal (an unsafe request) from an unjustified one.
* ``length_inconsistency`` (Length Inconsistency): the instruction states a length (words, sentences,
  paragraphs, bullets, 字; for the whole answer or each part) that the answer misses.
* ``format_json`` (Format Inconsistency): JSON was requested and the answer (or its code block) does
  not parse.

Example:
    >>> extract_final_answer("So she earns 9 * $2 = $18 a day.").value
    18.0
    >>> check_reference_mismatch("The answer is 1,250 dollars.", "... #### 1250") is None
    True
    >>> check_reference_mismatch("Therefore, he pays $64.", "#### 60")
    'final answer $64 (from the conclusion: "Therefore, he pays $64.") differs from the reference 60'
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import pandas as pd

from misattribution.discovery.modes._base import ModeOption, ModeResult, register_mode
from misattribution.discovery.report import ASSIGNMENT_COLUMNS, Issue, issue_id

TEXT_COLUMNS = ("question", "answer", "reference", "feedback", "instruction")
_MAX_EXAMPLES = 5

# -- numbers ------------------------------------------------------------------------------------------

_NUMBER = re.compile(
    r"""
    (?<![\w.,/])                                   # not inside a word, a decimal or a fraction
    (?P<sign>(?<![\w)\]])[-−](?=[$€£¥]?\d))?       # a sign glued to the number ("-5", not "16 - 5")
    (?P<currency>[$€£¥])?
    (?:(?P<whole>\d+)\s+(?=\d+/\d+\b))?            # the 1 of "1 1/2"
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    (?:/(?P<den>\d+)(?![\d.]))?                    # 3/4 (no blanks around the slash)
    (?P<pct>\s?%)?                                 # units may follow, glued or not: 156kg, 6th
    """,
    re.VERBOSE,
)
_WORD_NUMBERS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100}
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}


@dataclass(frozen=True)
class Number:
    """A number as written in a text. ``decimals`` is ``None`` for an exact fraction."""

    value: float
    text: str
    start: int
    end: int
    decimals: int | None
    percent: bool = False


def find_numbers(text: str) -> list[Number]:
    """Every number in ``text``: thousands separators, currency, signs, decimals, fractions, mixed numbers, %.

    >>> [n.value for n in find_numbers("Pay $1,250.50, or 3/4 of it, -2 or 1 1/2 and 16 - 5 = 11 (50%).")]
    [1250.5, 0.75, -2.0, 1.5, 16.0, 5.0, 11.0, 50.0]
    """
    numbers = []
    for match in _NUMBER.finditer(text):
        digits = match["num"].replace(",", "")
        try:
            value = Fraction(digits)
            if match["den"]:
                value /= Fraction(match["den"]) if int(match["den"]) else 1
            if match["whole"]:
                value += int(match["whole"])
        except (ValueError, ZeroDivisionError):
            continue
        if match["sign"]:
            value = -value
        decimals = None if match["den"] else (len(digits.split(".")[1]) if "." in digits else 0)
        numbers.append(
            Number(float(value), match[0].strip(), match.start(), match.end(), decimals, percent=bool(match["pct"]))
        )
    return numbers


def same_number(a: Number, b: Number) -> bool:
    """Numerically equal, up to the precision of the less precise of the two (an integer must match exactly).

    ``0.33`` equals ``1/3``; ``18`` does not equal ``18.4``; ``50%`` equals ``50`` and ``0.5``.

    >>> same_number(*find_numbers("1/3 0.33"))
    True
    >>> same_number(*find_numbers("18 18.4"))
    False
    """
    precisions = [d for d in (a.decimals, b.decimals) if d is not None]
    tolerance = 0.5 * 10.0 ** -min(precisions) if precisions and min(precisions) > 0 else 0.0
    candidates = [(a.value, b.value)]
    if a.percent != b.percent:  # 50% may be written 50 or 0.5
        pct, plain = (a, b) if a.percent else (b, a)
        candidates.append((pct.value / 100, plain.value))
    return any(math.isclose(x, y, rel_tol=1e-9, abs_tol=tolerance + 1e-9) for x, y in candidates)


# -- text helpers -------------------------------------------------------------------------------------

_LATEX = [
    (re.compile(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}"), r"\1/\2"),
    (re.compile(r"\\text\{([^{}]*)\}"), r"\1"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\[,!;: ]|\\\$"), lambda m: "$" if m[0] == "\\$" else " "),
    (re.compile(r"\\(?:times|cdot)"), "*"),
]
_SENTENCE_END = re.compile(r"(?<=[.!?。！？；])\s+|(?<=[。！？])|\n+")


def response_sentences(text: str) -> list[str]:
    """Sentences and lines of a response (a simple splitter that keeps every piece, calculations
    included, unlike :func:`.sentences.split_sentences` for feedback): terminal punctuation + blanks, CJK
    terminal punctuation, newlines). Decimals and ``$4.00`` stay whole.

    >>> response_sentences("It costs $4.00. So the total is 8! 第一句。第二句\\nLast line")
    ['It costs $4.00.', 'So the total is 8!', '第一句。', '第二句', 'Last line']
    """
    return [s.strip() for s in _SENTENCE_END.split(text or "") if s and s.strip()]


def _clean(text: str) -> str:
    text = _text(text)
    for pattern, replacement in _LATEX:
        text = pattern.sub(replacement, text)
    return text.replace("**", "").replace("__", "")


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- final answers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinalAnswer:
    """The final answer read from a text: a number, and where it was found.

    ``source`` is ``"boxed"``, ``"####"``, ``"marker"`` (after "the answer is", "Final answer:", "答案是"...),
    ``"conclusion"`` (the last sentence that has a number) or ``"last number"``.
    """

    number: Number
    source: str
    context: str

    @property
    def value(self) -> float:
        return self.number.value


_ANSWER_MARKER = re.compile(
    r"(?:final\s+answer|the\s+answer\s+is|answer\s+is|the\s+result\s+is|final\s+result\s+is|(?m:^\s*answer\s*[:：])"
    r"|最终答案|答案(?:是|为|应为)?\s*[:：]?|结果(?:是|为))\s*[:：]?",
    re.IGNORECASE,
)
_CAVEAT = re.compile(r"^\W*(?:note|please note|assuming|this assumes|p\.?s\.?|注意|注)\b", re.IGNORECASE)
_WORD_NUMBER = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", re.IGNORECASE)


def _boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return text[i:]


def _pick_number(segment: str, avoid: Iterable[Number] = ()) -> Number | None:
    """The number a sentence gives as its result.

    After the last ``=`` (or ``≈``) when there is one ("9 * $2 = $18"); otherwise the first number that is neither
    in parentheses nor a restatement of a number of the question: conclusions state the result first
    and then restate the setting ("So, 3 trucks carry the 80 flagstones in 2 trips" → 3; "So, 720 g
    lasts 6 days" → 6 when 720 is in the question). Falls back to the first number outside parentheses.
    """
    numbers = find_numbers(segment)
    if not numbers:
        match = _WORD_NUMBER.search(segment)
        if match is None:
            return None
        word = match[1].lower()
        return Number(float(_WORD_NUMBERS[word]), match[1], match.start(), match.end(), 0)
    equals = max(segment.rfind(sign) for sign in ("=", "≈", "≅"))
    after = [n for n in numbers if n.start > equals] if equals >= 0 else []
    if after:
        return after[0]
    depth_at = _paren_depths(segment)
    outside = [n for n in numbers if depth_at[n.start] == 0] or numbers
    avoid = list(avoid)
    fresh = [n for n in outside if not any(same_number(n, a) for a in avoid)]
    return (fresh or outside)[0]


def _paren_depths(text: str) -> list[int]:
    depths, depth = [], 0
    for char in text:
        if char in "(（[":
            depth += 1
        depths.append(depth)
        if char in ")）]":
            depth = max(0, depth - 1)
    depths.append(depth)
    return depths


def extract_final_answer(text: str, question: str = "") -> FinalAnswer | None:
    """The final numeric answer of a response, or ``None`` when it has no number.

    In order: the last ``\\boxed{}``; a GSM8K ``#### n``; the last "the answer is" / "Final answer:" /
    "答案是" marker; the conclusion, i.e. the last sentence with a number (caveats such as "Note: ..."
    skipped). Within a sentence, see :func:`_pick_number`; numbers of ``question`` are avoided there.

    >>> extract_final_answer("The answer is $\\\\boxed{\\\\frac{3}{4}}$").value
    0.75
    >>> extract_final_answer("So, 720 grams will last for 6 days.", question="She has 720 grams.").value
    6.0
    >>> extract_final_answer("答案是 18 元。").source
    'marker'
    """
    text = _clean(text)
    avoid = find_numbers(_clean(question))
    boxed = _boxed(text)
    if boxed is not None:
        number = _pick_number(boxed)
        if number is not None:
            return FinalAnswer(number, "boxed", boxed)
    hashes = list(re.finditer(r"####\s*([^\n]*)", text))
    if hashes:
        number = _pick_number(hashes[-1][1])
        if number is not None:
            return FinalAnswer(number, "####", hashes[-1][0])
    markers = list(_ANSWER_MARKER.finditer(text))
    if markers:
        tail = text[markers[-1].end() :]
        segment = _first_sentence_with_number(tail)
        if segment is not None:
            number = _pick_number(segment, avoid)
            if number is not None:
                return FinalAnswer(number, "marker", _quote(markers[-1][0] + " " + segment))
    sentences = [s for s in response_sentences(text) if find_numbers(s) or _WORD_NUMBER.search(s)]
    for sentence in reversed(sentences):
        if _CAVEAT.search(sentence) and sentence is not sentences[0]:
            continue
        number = _pick_number(sentence, avoid)
        if number is not None:
            return FinalAnswer(number, "conclusion", sentence)
    return None


def _first_sentence_with_number(text: str) -> str | None:
    for sentence in response_sentences(text[:400]):
        if find_numbers(sentence) or _WORD_NUMBER.search(sentence):
            return sentence
    return None


def extract_reference_answer(reference: str) -> Number | None:
    """The reference's final number: after GSM8K's ``####``, else in ``\\boxed{}``, else its last number.

    >>> extract_reference_answer("Half of 48 is <<48/2=24>>24.\\n#### 1,024").value
    1024.0
    """
    text = _clean(reference)
    hashes = re.findall(r"####\s*([^\n]*)", text)
    if hashes:
        numbers = find_numbers(hashes[-1])
        if numbers:
            return numbers[0]
    boxed = _boxed(text)
    if boxed is not None and find_numbers(boxed):
        return find_numbers(boxed)[-1]
    numbers = find_numbers(re.sub(r"<<[^>]*>>", " ", text))
    return numbers[-1] if numbers else None


_QUANTITY_QUESTION = re.compile(
    r"\bhow\s+(?:many|much|long|far|old|tall|fast|often|heavy|wide|high)\b|"
    r"\bwhat\s+(?:is|was|are|were|will\s+be)\s+the\s+(?:total|number|sum|value|cost|price|amount|area|perimeter|"
    r"volume|average|mean|difference|percentage|product|result|speed|distance|probability)\b|"
    r"\b(?:calculate|compute|evaluate)\b|\bfind\s+the\s+(?:value|number|total|sum|area|amount)\b|"
    r"多少|几(?:个|天|小时|次|岁|元|米|人|张|只|本|辆|年|分钟|千米|公里|页|倍)|求出?|计算|算一算|多长|多远|多大|多重|多久",
    re.IGNORECASE,
)
_ANSWER_IN_REFERENCE = re.compile(r"(?:the\s+answer\s+is|(?m:^\s*answer\s*[:：])|答案(?:是|为)?\s*[:：]?)", re.I)


# What introduces a result: "= $1.80", "is 42", "total: 7", "共7.2天"; not "discovered in 1877".
_RESULT_CUE = re.compile(
    r"(?:[=≈:：]|\b(?:is|are|was|were|equals?|totals?|makes|gives|of|be)\b|是|为|共|合计|需要|有|得|约)[^=≈:：\w]*[$€£¥]?\s*$",
    re.IGNORECASE,
)


def checkable_reference_number(reference: str, question: str = "") -> Number | None:
    """The reference's final number when the reference states one as its answer, else ``None``.

    A free-text reference ("Phobos and Deimos, discovered in 1877") has numbers that are not answers,
    so the number must be marked (GSM8K's ``####``, ``\\boxed{}``, "the answer is", "答案是"), or be
    (nearly) the whole reference ("42", "$1.80", "x = 9"), or end, as a stated result ("= ...", "is ...",
    "共...") outside parentheses, a reference to a question asking for a quantity ("How much change...?"
    → "...change 20 − 18.20 = $1.80.").

    >>> checkable_reference_number("Two: Phobos and Deimos, both discovered by Asaph Hall in 1877.") is None
    True
    >>> checkable_reference_number("$1.80").value, checkable_reference_number("Total 18.20; change $1.80.", "How much?").value
    (1.8, 1.8)
    """
    answers = _reference_answers(reference, question)
    return answers[-1] if answers else None


def _reference_answers(reference: str, question: str = "") -> list[Number]:
    """The numbers the reference gives as its answer (several for a multi-part answer), see above."""
    text = _clean(reference).strip()
    if "####" in text or _boxed(text) is not None:
        number = extract_reference_answer(text)
        return [number] if number is not None else []
    marker = list(_ANSWER_IN_REFERENCE.finditer(text))
    if marker:
        segment = _first_sentence_with_number(text[marker[-1].end() :])
        if segment is not None:
            return _outside_parentheses(segment) or find_numbers(segment)
    numbers = find_numbers(re.sub(r"<<[^>]*>>", " ", text))
    if not numbers:
        return []
    last = numbers[-1]
    if len(_TOKEN.findall(_NUMBER.sub(" ", text))) <= 2 and len(numbers) <= 2:
        return [last]
    rest = text[last.end :]
    short_tail = (
        len(_TOKEN.findall(rest)) <= 2 and len(_CJK_CHAR.findall(rest)) <= 4 and not re.search(r"[,;，；]", rest)
    )
    stated = _RESULT_CUE.search(text[max(0, last.start - 16) : last.start])
    if short_tail and stated and _paren_depths(text)[last.start] == 0 and _QUANTITY_QUESTION.search(_text(question)):
        sentence = response_sentences(text)[-1]
        return _outside_parentheses(sentence) or [last]
    return []


def _outside_parentheses(text: str) -> list[Number]:
    depths = _paren_depths(text)
    return [n for n in find_numbers(text) if depths[n.start] == 0]


# -- multiple choice ----------------------------------------------------------------------------------

_REFERENCE_LETTER = [
    re.compile(r"^\(?([A-J])\)?$"),  # B, (B)
    re.compile(r"^\(([A-Ja-j])\)\s*\S"),  # (c) 42
    re.compile(r"^([A-J])[.):：]\s*\S"),  # B. Paris, B) Paris
    re.compile(r"^(?:answer|option|choice|答案|选项)\s*(?:is)?\s*[:：]?\s*\(?([A-J])\)?(?:[.)\s]|$)", re.IGNORECASE),
]
_CHOICE_PATTERNS = [
    re.compile(r"\\boxed\{\s*\(?([A-J])\)?\s*\}"),
    re.compile(
        r"(?:answer\s+is|answer\s*[:：]|correct\s+(?:answer|option|choice)\s+is|option|choice)\s*(?:is\s+)?[:：]?\s*"
        r"\(?((?-i:[A-J]))\b\)?",
        re.IGNORECASE,
    ),
    re.compile(r"(?:答案(?:是|为)?|选择?|选项)\s*[:：]?\s*[(（]?([A-J])(?![A-Za-z])"),
]
_LEADING_LETTER = re.compile(r"^\W*\(?([A-J])(?:[.):：]|\)|\s*$)")
_STANDALONE_LETTER = re.compile(r"\(([A-J])\)")


def reference_choice(reference: str) -> str | None:
    """The choice letter of a multiple-choice reference (``"B"``, ``"(B)"``, ``"B. Paris"``), else ``None``.

    >>> reference_choice("(c) 42"), reference_choice("42"), reference_choice("A pair of shoes")
    ('C', None, None)
    """
    text = _clean(reference).strip()
    hashes = re.findall(r"####\s*([^\n]*)", text)
    text = (hashes[-1] if hashes else text).strip().strip("*").strip()
    if len(text) > 120:
        return None
    for pattern in _REFERENCE_LETTER:
        match = pattern.match(text)
        if match:
            return match[1].upper()
    return None


def extract_choice(text: str) -> str | None:
    """The choice letter a response picks, or ``None``.

    >>> extract_choice("Looking at each option... The answer is (B)."), extract_choice("C) Paris"), extract_choice("答案：D")
    ('B', 'C', 'D')
    """
    text = _clean(text)
    for pattern in _CHOICE_PATTERNS:
        found = pattern.findall(text)
        if found:
            return found[-1].upper()
    match = _LEADING_LETTER.match(text.strip())
    if match:
        return match[1].upper()
    found = _STANDALONE_LETTER.findall(text)
    return found[-1].upper() if len(set(found)) == 1 else None


# -- detectors ----------------------------------------------------------------------------------------


def check_reference_mismatch(answer: str, reference: str, question: str = "") -> str | None:
    """Evidence when the response's final answer is not the reference's; ``None`` when it is, or when the
    reference states neither a choice letter nor a number as its answer (see
    :func:`checkable_reference_number`): then the row is not objectively checkable."""
    if not _text(reference).strip():
        return None
    letter = reference_choice(reference)
    if letter is not None:
        chosen = extract_choice(answer)
        if chosen is None:
            return f"no choice letter found in the answer; the reference is {letter}"
        return None if chosen == letter else f"chose {chosen}; the reference is {letter}"
    answers = _reference_answers(reference, question)
    if not answers:
        return None
    expected = answers[-1]
    final = extract_final_answer(answer, question)
    if final is None:
        return f"no numeric final answer found; the reference is {expected.text}"
    if same_number(final.number, expected):
        return None
    # A multi-part reference ("(1) 3050; (2) 2.25; (3) 45") is matched by a conclusion that gives every part.
    given = find_numbers(_clean(final.context))
    if len(answers) > 1 and all(any(same_number(g, a) for g in given) for a in answers):
        return None
    where = f'the conclusion: "{_quote(final.context)}"' if final.source == "conclusion" else final.source
    if final.source == "marker":
        where = f'"{_quote(final.context)}"'
    return f"final answer {final.number.text} (from {where}) differs from the reference {expected.text}"


_CONNECTIVE_END = re.compile(
    r"(?:[,;:(\[{]|\b(?:and|or|but|the|a|an|of|to|with|for|in|on|at|by|from|is|are|was|were|that|which|because|"
    r"if|then|than|such|into|its|their|our|your|my|these|those|can|could|will|would|should|may|might|must|be)|"
    r"[=+×÷^]|\d\s*[-*/])$",
    re.IGNORECASE,
)
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_CONNECTIVE_END = re.compile(
    r"(?:[，、；：（]|的|和|与|及|或|但|因为|所以|如果|是|在|把|被|对|从|乘以|除以|加上|减去|等于|而且|并且|例如|比如|包括)$"
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•+]|\d+[.)、]|[a-zA-Z][.)])\s+")
_EMPTY_LIST_ITEM = re.compile(r"^\s*(?:[-*•+]|\d+[.)、])\s*$")
_TERMINAL = re.compile(r"[.!?。！？…]")


def check_truncation(answer: str) -> str | None:
    """Evidence when the response stops before it is finished: an unclosed code block, an empty last list
    item, a last word that cannot end a sentence ("and", "the", ",", "=") or, in prose that otherwise
    uses sentence punctuation, a long last line without any.

    >>> check_truncation("First add 3 and 4. Then we multiply the result by")
    'ends mid-sentence: "…Then we multiply the result by"'
    >>> check_truncation("Total: 3 + 4 = 7") is None
    True
    """
    text = _text(answer).rstrip()
    if not text:
        return None
    if len(re.findall(r"(?m)^\s*```", text)) % 2 == 1:
        return "unclosed code block (a ``` fence is opened and never closed)"
    lines = text.splitlines()
    last = lines[-1].strip()
    if _EMPTY_LIST_ITEM.match(last):
        return f'ends on an empty list item "{last}"'
    tail = re.sub(r"[*_`\"'”’)\]}]+$", "", last).rstrip()
    if last.count("(") + last.count("（") > last.count(")") + last.count("）") and len(last) - last.rfind("(") < 40:
        return f'ends inside an unclosed parenthesis: "…{_quote(last[-60:], 60)}"'
    if _LIST_ITEM.match(last) and not _TERMINAL.search(tail[-1:]):
        earlier = [line.strip() for line in lines[:-1] if _LIST_ITEM.match(line)][-3:]
        if len(earlier) >= 2 and all(_TERMINAL.search(item[-1:]) for item in earlier):
            return f'ends mid-list: the last item lacks the punctuation the others have: "{_quote(last, 60)}"'

    if not tail or re.fullmatch(r"[-=*_#|]+", last):
        return None
    context = f'"…{_quote(response_sentences(tail)[-1][-60:], 60)}"'
    if _CONNECTIVE_END.search(tail) or _CJK_CONNECTIVE_END.search(tail):
        where = "mid-list" if _LIST_ITEM.match(last) else "mid-sentence"
        return f"ends {where}: {context}"
    if _TERMINAL.search(tail[-1]) or not re.search(r"[^\W\d_]$", tail):
        return None
    # A long prose sentence without terminal punctuation, in a text that uses it elsewhere.
    if last.startswith(("#", "|", ">")) or _LIST_ITEM.match(last) or re.search(r"^[^:：]{1,40}[:：]", last):
        return None
    sentence = response_sentences(tail)[-1]
    long_sentence = len(sentence.split()) >= 8 or len(_CJK_CHAR.findall(sentence)) >= 6
    punctuated = bool(_TERMINAL.search(text[: len(text) - len(sentence)]))
    if long_sentence and punctuated:
        return f"ends mid-sentence: {context}"
    return None


_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def check_repetition(
    answer: str,
    *,
    sentence_ratio: float = 0.3,
    min_repeats: int = 2,
    long_sentence: int = 8,
    paragraph_overlap: float = 0.6,
    ngram: int = 6,
    ngram_ratio: float = 0.4,
) -> str | None:
    """Evidence when the response repeats itself (code blocks are left out: code repeats legitimately).

    Signals, in order: a sentence of 3+ tokens said twice in a row ("I hope this helps! I hope this
    helps!"); a sentence of ``long_sentence``+ tokens said twice anywhere; at least ``min_repeats``
    repeated sentences making up ``sentence_ratio`` of them; a paragraph (25+ tokens) whose token
    3-grams are at least ``paragraph_overlap`` contained in an earlier paragraph (a restated
    paragraph); in 30+ tokens, a share of repeated ``ngram``-grams of at least ``ngram_ratio`` (a
    generation loop). Tokens are words, or single characters for Chinese; sentences compare folded.

    >>> check_repetition("The sky is blue. The sky is blue. The sky is blue. Grass is green.")
    'sentence repeated right after itself: "The sky is blue." ×3'
    """
    text = _FENCE.sub(" ", _text(answer))
    sentences = [s for s in response_sentences(text) if len(_TOKEN.findall(s)) >= 3]
    keys = [" ".join(_TOKEN.findall(s.casefold())) for s in sentences]
    counts = Counter(keys)
    for i in range(1, len(keys)):
        if keys[i] == keys[i - 1]:
            return f'sentence repeated right after itself: "{_quote(sentences[i])}" ×{counts[keys[i]]}'
    seen: set[str] = set()
    for sentence, key in zip(sentences, keys):
        if key in seen and len(key.split()) >= long_sentence:
            return f'sentence repeated: "{_quote(sentence)}" ×{counts[key]}'
        seen.add(key)
    repeats = len(keys) - len(counts)
    if repeats >= min_repeats and repeats / len(keys) >= sentence_ratio:
        key, times = counts.most_common(1)[0]
        example = sentences[keys.index(key)]
        return f'{repeats} of {len(keys)} sentences repeat an earlier one, e.g. "{_quote(example)}" ×{times}'
    restated = _restated_paragraph(text, paragraph_overlap)
    if restated is not None:
        return restated
    tokens = [t.casefold() for t in _TOKEN.findall(text)]
    if len(tokens) >= 30:
        grams = [tuple(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)]
        repeated = len(grams) - len(set(grams))
        if repeated / len(grams) >= ngram_ratio:
            gram, times = Counter(grams).most_common(1)[0]
            joiner = "" if all(_CJK_CHAR.fullmatch(t) for t in gram) else " "
            return (
                f"{repeated / len(grams):.0%} of its {ngram}-grams are repeats (a loop), "
                f'e.g. "{joiner.join(gram)}" ×{times}'
            )
    return None


_MIN_PARAGRAPH_TOKENS = 25


def _restated_paragraph(text: str, threshold: float) -> str | None:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    shingles = []
    for paragraph in paragraphs:
        tokens = [t.casefold() for t in _TOKEN.findall(paragraph)]
        shingles.append(set(zip(tokens, tokens[1:], tokens[2:])) if len(tokens) >= _MIN_PARAGRAPH_TOKENS else set())
    for j, later in enumerate(shingles):
        for i in range(j):
            earlier = shingles[i]
            if later and earlier:
                overlap = len(later & earlier) / min(len(later), len(earlier))
                if overlap >= threshold:
                    return (
                        f"paragraph {j + 1} restates paragraph {i + 1} ({overlap:.0%} of its 3-grams): "
                        f'"{_quote(paragraphs[j], 60)}"'
                    )
    return None


_CANT_EN = (
    r"(?:can(?:no|'|’)t|cannot|won(?:'|’)t|will\s+not|(?:am|'m|’m)\s+(?:unable|not\s+able)|unable|not\s+able|"
    r"(?:do\s+not|don't|don’t)\s+(?:feel\s+comfortable|think\s+I\s+(?:can|should)))"
)
_REQUEST_VERB_EN = (
    r"(?:to\s+)?(?:help(?!\s+but\b)|assist|provide|answer|comply|fulfil|fulfill|do\s+(?:that|this)|write|create|"
    r"generate|support|share|give|offer|engage|participate|complete|respond|continue|discuss|process|produce|"
    r"make|disclose|reveal|recommend|solve|tell\s+you|do\s+(?:your|it\s+for))\b"
)
_REFUSAL_EN = re.compile(
    rf"\bI\s*{_CANT_EN}\s+{_REQUEST_VERB_EN}|\bI\s+(?:must|have\s+to)\s+(?:respectfully\s+)?decline\b|"
    rf"\bas\s+an?\s+(?:AI|artificial\s+intelligence|(?:AI\s+)?language\s+model)\b[^.!?]{{0,40}}?\b"
    rf"(?:{_CANT_EN}|(?:do\s+not|don't|don’t)\s+have)\b",
    re.IGNORECASE,
)
_CANT_ZH = r"(?:无法|不能|不可以|没法|不方便|不便|不会)"
_REQUEST_VERB_ZH = (
    r"(?:为你|为您|帮你|帮您|向你|向您|给你|给您|代为|代)?"
    r"(?:提供|回答|解答|协助|帮助|帮忙|完成|满足|处理|生成|透露|参与|展开|讨论|评论|回复|撰写|编写|写)"
)
_REFUSAL_ZH = re.compile(
    rf"(?:我|本模型|抱歉|对不起|很遗憾|不好意思)[^。！？]{{0,8}}?{_CANT_ZH}{_REQUEST_VERB_ZH}|"
    r"作为(?:一个)?(?:AI|人工智能|语言模型|AI助手|人工智能助手)[^。！？]{0,15}?(?:无法|不能|没有)|"
    r"(?:恕我|恕难)(?:无法|不能)?(?:回答|提供|从命)|(?:我)?(?:必须|只能)?拒绝(?:回答|提供|这个请求|该请求)"
)
_PIVOT = re.compile(
    r"\b(?:but|however|that\s+said|here\s+(?:is|are|'s)|instead)\b|不过|但是?|然而|以下是|下面是", re.IGNORECASE
)


def check_refusal(answer: str, *, min_content_words: int = 25) -> str | None:
    """Evidence when the response declines the request (English or Chinese) without answering it.

    The refusal must come in the first two sentences and use a request verb ("I can't help with...",
    "I'm sorry, but I cannot...", "抱歉，我无法提供..."); a hedge such as "I can't be sure, but ..." is not
    one. A refusal that pivots ("but here is ...", "不过...") into at least ``min_content_words`` words of
    answer is a partial answer, not a refusal.

    >>> check_refusal("I'm sorry, but I can't help with that request.")
    'refuses: "I\\'m sorry, but I can\\'t help with that request."'
    >>> check_refusal("I can't be sure, but the capital is most likely Canberra.") is None
    True
    """
    text = _text(answer).strip()
    if not text:
        return None
    sentences = response_sentences(text)
    opening = " ".join(sentences[:2])
    match = _REFUSAL_EN.search(opening) or _REFUSAL_ZH.search(opening)
    if match is None:
        return None
    start = text.find(match[0])
    rest = text[start + len(match[0]) :] if start >= 0 else " ".join(sentences[1:])
    pivot = _PIVOT.search(rest)
    if pivot is not None:
        after = rest[pivot.end() :]
        if len(_TOKEN.findall(after)) >= min_content_words:
            return None
    sentence = next((s for s in sentences if match[0] in s), match[0])
    return f'refuses: "{_quote(sentence)}"'


# Length constraints ---------------------------------------------------------------------------------

_NUM_WORD = r"\d+|" + "|".join(sorted(_WORD_NUMBERS, key=len, reverse=True))
_CMP_EN = {
    "max": r"at most|no more than|not more than|not exceeding|up to|a maximum of|maximum of|max\.?|within",
    "max_strict": r"under|below|less than|fewer than",
    "min": r"at least|no less than|no fewer than|not less than|a minimum of|minimum of",
    "min_strict": r"more than|over",
    "exact": r"exactly|precisely",
    "approx": r"about|around|approximately|roughly|some",
}
_UNIT_EN = r"words?|sentences?|paragraphs?|characters?|bullet\s+points?|bullets?"
_LENGTH_EN = re.compile(
    rf"(?:\b(?P<cmp>{'|'.join(f'(?P<{k}>{v})' for k, v in _CMP_EN.items())})\s+|(?P<frame>\b(?:in|using|with|of|into|write|give)\s+))"
    rf"(?:(?P<lo>{_NUM_WORD})\s*(?:-|–|to|and)\s*)?(?P<n>{_NUM_WORD}|a\s+single|a|one)[\s-]+(?P<unit>{_UNIT_EN})\b"
    rf"(?P<post>\s+or\s+(?:less|fewer|under|more))?",
    re.IGNORECASE,
)
_BETWEEN_EN = re.compile(
    rf"\bbetween\s+(?P<lo>{_NUM_WORD})\s+and\s+(?P<n>{_NUM_WORD})\s+(?P<unit>{_UNIT_EN})\b", re.IGNORECASE
)
_COMPOUND_EN = re.compile(
    r"\b(?P<n>\d+)-(?P<unit>word|sentence|paragraph|character)\s+(?:summary|answer|response|essay|paragraph|"
    r"description|reply|story|poem|explanation|abstract|bio|overview|review|post|message|note)\b",
    re.IGNORECASE,
)
_CN_NUM = r"[\d零〇一二两三四五六七八九十百千万]+"
_LENGTH_ZH = re.compile(
    rf"(?P<pre>不超过|不多于|不得超过|最多|至多|少于|不少于|至少|多于|超过|大约|大概|约|用|以|控制在)?\s*(?P<n>{_CN_NUM})\s*(?:个)?"
    rf"(?P<unit>字|词|句话|句|段|个要点|条)(?P<post>以内|之内|以下|左右|上下|以上|内)?"
)
_ZH_PRE = {
    "不超过": "max",
    "不多于": "max",
    "不得超过": "max",
    "最多": "max",
    "至多": "max",
    "控制在": "max",
    "少于": "max_strict",
    "不少于": "min",
    "至少": "min",
    "多于": "min_strict",
    "超过": "min_strict",
    "大约": "approx",
    "大概": "approx",
    "约": "approx",
}
_ZH_POST = {"以内": "max", "之内": "max", "以下": "max", "内": "max", "左右": "approx", "上下": "approx", "以上": "min"}
_ZH_UNIT = {
    "字": "character",
    "词": "word",
    "句话": "sentence",
    "句": "sentence",
    "段": "paragraph",
    "个要点": "bullet",
}
_APPROX_TOLERANCE = {"approx": 0.25, "loose": 0.2}


@dataclass(frozen=True)
class LengthConstraint:
    """A length an instruction asks for: ``count`` of ``unit`` compared by ``kind``.

    ``kind`` is ``max``, ``max_strict``, ``min``, ``min_strict``, ``exact``, ``approx`` (±25 %), ``loose``
    (a bare "in 50 words": ±20 % for words and characters, exact for sentences, paragraphs and bullets)
    or ``range`` (``low`` to ``count``). ``per`` is ``None`` for the whole answer, or the part each of
    which must comply (``"item"``, ``"sentence"``, ``"paragraph"``): "each slogan under 12 字", "每段不超过50字".
    ``punctuation``: characters are counted with punctuation ("含标点").
    """

    unit: str
    kind: str
    count: int
    low: int | None = None
    text: str = ""
    per: str | None = None
    punctuation: bool = False

    def allows(self, value: int) -> bool:
        n = self.count
        if self.kind == "range":
            return (self.low or 0) <= value <= n
        if self.kind == "max":
            return value <= n
        if self.kind == "max_strict":
            return value < n
        if self.kind == "min":
            return value >= n
        if self.kind == "min_strict":
            return value > n
        if self.kind == "exact" or (self.kind == "loose" and self.unit in ("sentence", "paragraph", "bullet")):
            return value == n
        tolerance = _APPROX_TOLERANCE.get(self.kind, 0.2)
        return abs(value - n) <= max(2, tolerance * n)


def _parse_count(text: str) -> int | None:
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    if text in ("a", "one", "a single"):
        return 1
    if text in _WORD_NUMBERS:
        return _WORD_NUMBERS[text]
    return _parse_chinese_number(text)


def _parse_chinese_number(text: str) -> int | None:
    """``"三"`` → 3, ``"一百五十"`` → 150, ``"两千"`` → 2000, ``"150"`` → 150."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for char in text:
        if char in _CN_DIGITS:
            current = _CN_DIGITS[char]
        elif char in _CN_UNITS:
            unit = _CN_UNITS[char]
            total += (current or 1) * unit
            current = 0
        else:
            return None
    return total + current or None


def find_length_constraints(instruction: str, *, in_request_only: bool = False) -> list[LengthConstraint]:
    """The length constraints stated in an instruction (English and Chinese).

    Constraints on each part ("3 paragraphs, each under 50 words", "每条不超过12个字") carry the part in
    ``per``. Rates ("300 words per minute") are not constraints. With ``in_request_only`` (for a
    question, which may describe words and sentences in its story), only sentences that ask for
    something count ("Write...", "Answer in...", "请用...").

    >>> [(c.unit, c.kind, c.count) for c in find_length_constraints("Summarise it in under 100 words.")]
    [('word', 'max_strict', 100)]
    >>> [(c.unit, c.kind, c.count) for c in find_length_constraints("请用三句话回答，不超过100字")]
    [('sentence', 'loose', 3), ('character', 'max', 100)]
    """
    text = _text(instruction)
    found: list[LengthConstraint] = []
    spans: list[tuple[int, int]] = []

    def skip(match: re.Match[str]) -> bool:
        """Already read by an earlier pattern; about each part ("each paragraph under 50 words"); a rate
        ("300 words per minute"); or not in a request ("Mark edits 1000 sentences a week")."""
        if any(match.start() < end and start < match.end() for start, end in spans):
            return True
        if _RATE_AFTER.match(text, match.end()):
            return True
        return in_request_only and not _REQUEST.search(_sentence_around(text, match.start(), match.end()))

    def add(match: re.Match[str], constraint: LengthConstraint) -> None:
        before = text[max(0, match.start() - 30) : match.start()]
        after = text[match.end() : match.end() + 12]
        punctuation = bool(re.search(r"含标点|包括标点|including punctuation", after, re.IGNORECASE))
        part = _part_before(before)
        if part == "previous":  # "3 paragraphs, each under 50 words": each of the parts just named
            previous = found[-1].unit if found else "item"
            part = previous if previous in ("sentence", "paragraph") else "item"
        found.append(replace(constraint, per=part, punctuation=punctuation))
        spans.append(match.span())

    for match in _LENGTH_EN.finditer(text):
        count = _parse_count(match["n"])
        low = _parse_count(match["lo"]) if match["lo"] else None
        unit = _unit_en(match["unit"])
        if count is None or skip(match) or (match["n"].lower() in ("a", "a single") and unit == "word"):
            continue
        kind = next((k for k in _CMP_EN if match[k]), None) or "loose"
        if match["post"]:
            kind = "min" if "more" in match["post"].lower() else "max"
        if low is not None:
            kind = "range"
        add(match, LengthConstraint(unit, kind, count, low, match[0].strip()))
    for match in _BETWEEN_EN.finditer(text):
        lo, hi = _parse_count(match["lo"]), _parse_count(match["n"])
        if lo is not None and hi is not None and not skip(match):
            add(match, LengthConstraint(_unit_en(match["unit"]), "range", hi, lo, match[0].strip()))
    for match in _COMPOUND_EN.finditer(text):
        if not skip(match):
            add(match, LengthConstraint(_unit_en(match["unit"]), "loose", int(match["n"]), None, match[0]))
    for match in _LENGTH_ZH.finditer(text):
        count = _parse_chinese_number(match["n"])
        if not (match["pre"] or match["post"]) or count is None or skip(match):
            continue
        kind = _ZH_PRE.get(match["pre"] or "") or _ZH_POST.get(match["post"] or "") or "loose"
        if match["pre"] in ("用", "以") and match["post"]:
            kind = _ZH_POST[match["post"]]
        add(match, LengthConstraint(_ZH_UNIT[match["unit"]], kind, count, None, match[0].strip()))
    return found


_RATE_AFTER = re.compile(
    r"\s*(?:per|a|an|each|every|/)\s+(?:second|minute|hour|day|week|month|year|page|line)|\s*/", re.I
)
_REQUEST = re.compile(
    r"\b(?:write|answer|respond|reply|summari[sz]e|describe|explain|keep|limit|use|give|list|provide|compose|"
    r"generate|produce|translate|rewrite|tell|create|draft|express|outline|please|asked\s+for|requested)\b|"
    r"\byour\s+(?:answer|response|"
    r"reply|summary|essay|text)\b|^\s*(?:in|within|under|using)\b|请|回答|写|总结|概括|描述|解释|用|控制|限制|字数|输出",
    re.IGNORECASE,
)


def _sentence_around(text: str, start: int, end: int) -> str:
    left = max(text.rfind(mark, 0, start) for mark in (". ", "? ", "! ", "\n", "。", "？", "！"))
    right = [i for i in (text.find(mark, end) for mark in (". ", "? ", "! ", "\n", "。", "？", "！")) if i >= 0]
    return text[left + 1 : min(right, default=len(text))]


_EACH_EN = re.compile(r"\b(?:each|every|per)\s+(?:of\s+the\s+)?(\w+)[^.]{0,25}$", re.IGNORECASE)
_EACH_ZH = re.compile(r"每(?:一)?(条|个|句|段|行|点|项|首|句话)[^，。；]{0,8}$")
_PART_WORDS = {
    "sentence": "sentence",
    "paragraph": "paragraph",
    "句": "sentence",
    "句话": "sentence",
    "段": "paragraph",
}


def _part_before(before: str) -> str | None:
    """The part a constraint applies to when the words before it say "each ..." / "每...", else ``None``."""
    if re.search(r"\b(?:each|every)\s*$|每(?:个|条)?\s*$", before, re.IGNORECASE):
        return "previous"
    match = _EACH_EN.search(before) or _EACH_ZH.search(before)
    if match is None:
        return None
    word = match[1].lower().rstrip("s")
    return _PART_WORDS.get(word, "item")


def _unit_en(unit: str) -> str:
    unit = unit.lower()
    return "bullet" if unit.startswith("bullet") else unit.rstrip("s")


def _parts(answer: str, part: str) -> list[str]:
    text = _text(answer).strip()
    if part == "sentence":
        return response_sentences(text)
    if part == "paragraph":
        return [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    items = [_LIST_ITEM.sub("", line).strip() for line in text.splitlines() if _LIST_ITEM.match(line)]
    return items or [line.strip() for line in text.splitlines() if line.strip()]


def measure_length(answer: str, unit: str, *, punctuation: bool = False) -> int:
    """The answer's length in ``unit``: words (a Chinese character counts as one), characters (for
    Chinese, 字: CJK characters plus other words; else non-blank characters), sentences, paragraphs,
    bullets (list lines)."""
    text = _text(answer).strip()
    if unit == "word":
        return len(_TOKEN.findall(text))
    if unit == "character":
        if punctuation:
            return len(re.sub(r"[\s*_`#]", "", text))
        if _CJK_CHAR.search(text):
            return len(_CJK_CHAR.findall(text)) + len(re.findall(r"[^\W_\u3400-\u9fff\uf900-\ufaff]+", text))
        return len(re.sub(r"\s", "", text))
    if unit == "sentence":
        return len([s for s in response_sentences(text) if not _LIST_ITEM.match(s) or len(_TOKEN.findall(s)) > 2])
    if unit == "paragraph":
        return len([p for p in re.split(r"\n\s*\n", text) if p.strip()])
    if unit == "bullet":
        return len([line for line in text.splitlines() if _LIST_ITEM.match(line)])
    raise ValueError(f"unknown length unit {unit!r}")


def check_length(answer: str, instruction: str, question: str = "") -> str | None:
    """Evidence when the instruction (or a request in the question) states a length the answer misses.

    >>> check_length("One two three four five six seven eight nine ten eleven twelve.", "Answer in at most 10 words.")
    'asked for "at most 10 words"; the answer has 12 words'
    """
    if not _text(answer).strip():
        return None
    constraints = find_length_constraints(instruction) + find_length_constraints(question, in_request_only=True)
    for constraint in constraints:
        if constraint.per is None:
            parts = [("the answer", _text(answer))]
        else:
            parts = [(f"{constraint.per} {i}", part) for i, part in enumerate(_parts(answer, constraint.per), 1)]
        for where, part in parts:
            value = measure_length(part, constraint.unit, punctuation=constraint.punctuation)
            if not constraint.allows(value):
                plural = constraint.unit + ("" if value == 1 else "s")
                each = "" if constraint.per is None else f"each {constraint.per} "
                return f'asked for {each}"{constraint.text}"; {where} has {value} {plural}'
    return None


_JSON_REQUEST = re.compile(
    r"\b(?:in|as|into|to|using|valid|return|output|respond|reply|format(?:ted)?|give|provide|produce|generate)\b"
    r"[^.\n]{0,40}\bjson\b|\bjson\s*(?:format|object|array|output|response|schema|only)\b|json\s*格式|"
    r"(?:以|用|输出|返回|生成)\s*json",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)```", re.DOTALL)


def json_requested(instruction: str) -> bool:
    """Whether the instruction asks for JSON output ("What is JSON?" does not).

    >>> json_requested("Return the result as a JSON object."), json_requested("What is JSON?")
    (True, False)
    """
    return bool(_JSON_REQUEST.search(_text(instruction)))


def check_json_format(answer: str, instruction: str) -> str | None:
    """Evidence when JSON was requested and neither the answer nor its (first JSON) code block parses.

    JSON found only inside surrounding prose (no code block) is reported as such: a program that reads
    the answer cannot parse it.
    """
    if not json_requested(instruction):
        return None
    text = _text(answer).strip()
    if not text:
        return None
    error = _json_error(text)
    if error is None:
        return None
    blocks = list(_FENCE.finditer(text))
    if blocks:
        tagged = [b for b in blocks if b["lang"].lower() == "json"] or blocks
        block_error = _json_error(tagged[0]["body"])
        return None if block_error is None else f"JSON requested; the code block is not valid JSON ({block_error})"
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    end = max(text.rfind("}"), text.rfind("]"))
    if start >= 0 and end > start and _json_error(text[start : end + 1]) is None:
        return "JSON requested; valid JSON is embedded in prose, not given as the answer or a code block"
    return f"JSON requested; the answer is not valid JSON ({error})"


def _json_error(text: str) -> str | None:
    try:
        json.loads(text)
    except ValueError as err:
        return str(err)
    return None


# -- the registry and the mode ------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleDetector:
    """A deterministic detector: ``check(texts)`` returns evidence or ``None``; ``texts`` maps the text
    columns (``question``, ``answer``, ``reference``, ``feedback``, ``instruction``) to strings."""

    name: str
    issue_name: str
    description: str
    keywords: tuple[str, ...]
    check: Callable[[Mapping[str, str]], str | None]

    @property
    def provenance(self) -> str:
        return f"rule:{self.name}"

    @property
    def issue_id(self) -> str:
        return issue_id(self.issue_name, self.provenance)

    def issue(self, examples: Sequence[str] = ()) -> Issue:
        return Issue(
            id=self.issue_id,
            name=self.issue_name,
            description=self.description,
            keywords=list(self.keywords),
            provenance=self.provenance,
            examples=list(examples),
        )


def _instruction(texts: Mapping[str, str]) -> str:
    return "\n".join(t for t in (texts.get("instruction", ""), texts.get("question", "")) if t)


DETECTORS: dict[str, RuleDetector] = {
    d.name: d
    for d in (
        RuleDetector(
            "reference_mismatch",
            "Final answer different from the reference",
            "Result Error / Incorrect Answers: the response's final number or choice letter is not the reference's.",
            ("result_error", "incorrect_answers", "final answer", "reference"),
            lambda t: check_reference_mismatch(t.get("answer", ""), t.get("reference", ""), t.get("question", "")),
        ),
        RuleDetector(
            "truncation",
            "Truncated response",
            "Truncation: the response stops mid-sentence, mid-list or inside an unclosed code block.",
            ("truncation", "cut off", "incomplete"),
            lambda t: check_truncation(t.get("answer", "")),
        ),
        RuleDetector(
            "repetition",
            "Repeated sentences or generation loop",
            "Noisy / duplicate content: repeated sentences or a generation loop.",
            ("noisy", "repetition", "duplicate"),
            lambda t: check_repetition(t.get("answer", "")),
        ),
        RuleDetector(
            "refusal",
            "Refusal to answer the request",
            "Refusal to Answer: the response declines the request without giving an answer.",
            ("refusal_to_answer", "refusal", "declines"),
            lambda t: check_refusal(t.get("answer", "")),
        ),
        RuleDetector(
            "length_inconsistency",
            "Requested length not respected",
            "Length Inconsistency: the instruction states a length (words, sentences, 字...) the answer misses.",
            ("length_inconsistency", "length", "word count"),
            lambda t: check_length(t.get("answer", ""), t.get("instruction", ""), t.get("question", "")),
        ),
        RuleDetector(
            "format_json",
            "Invalid JSON where JSON was requested",
            "Format Inconsistency: JSON was requested and the answer (or its code block) does not parse.",
            ("format_inconsistency", "json", "format"),
            lambda t: check_json_format(t.get("answer", ""), _instruction(t)),
        ),
    )
}


def run_rules(
    rows: pd.DataFrame,
    detectors: Iterable[str | RuleDetector] | None = None,
    *,
    keep_empty: bool = False,
) -> tuple[list[Issue], pd.DataFrame]:
    """Run rule detectors on every row: one :class:`Issue` per detector that fired, and the assignments.

    Args:
        rows: the IssueReport rows (``row_id`` and the text columns; missing text columns count as empty).
        detectors: names of :data:`DETECTORS` or :class:`RuleDetector` objects; default all of them.
        keep_empty: also return the issues of detectors that found nothing (count 0).

    Returns:
        ``(issues, assignments)``; ``assignments`` has ``row_id, issue_id, evidence`` where the evidence
        says what the detector found. Statistics are left for :func:`~.report.compute_statistics`.

    Example:
        >>> rows = pd.DataFrame({"row_id": ["a", "b"], "answer": ["So he has 5.", "So he has 7."],
        ...                      "reference": ["#### 5", "#### 5"]})
        >>> issues, assignments = run_rules(rows, ["reference_mismatch"])
        >>> [i.provenance for i in issues], assignments["row_id"].tolist()
        (['rule:reference_mismatch'], ['b'])
    """
    chosen = [DETECTORS[d] if isinstance(d, str) else d for d in (detectors or DETECTORS)]
    columns = [c for c in TEXT_COLUMNS if c in rows.columns]
    records = rows[["row_id", *columns]].to_dict("records")
    texts = [{c: _text(r.get(c)) for c in TEXT_COLUMNS} for r in records]
    row_ids = [str(r["row_id"]) for r in records]
    issues, lines = [], []
    for detector in chosen:
        hits = [(rid, evidence) for rid, t in zip(row_ids, texts) if (evidence := detector.check(t)) is not None]
        if hits or keep_empty:
            issues.append(detector.issue(examples=[rid for rid, _ in hits[:_MAX_EXAMPLES]]))
        lines += [(rid, detector.issue_id, evidence) for rid, evidence in hits]
    return issues, pd.DataFrame(lines, columns=list(ASSIGNMENT_COLUMNS))


def rules_mode(rows: pd.DataFrame, detectors: Sequence[str] | None = None, keep_empty: bool = False) -> ModeResult:
    """The ``"rules"`` mode: :func:`run_rules`, with the detectors run in ``meta``."""
    issues, assignments = run_rules(rows, detectors, keep_empty=keep_empty)
    return ModeResult(issues, assignments, {"llm_calls": 0, "detectors": list(detectors or DETECTORS)})


register_mode(
    "rules",
    rules_mode,
    options=[
        ModeOption(
            "detectors", list, None, "detectors to run, comma-separated (default: all)", choices=tuple(DETECTORS)
        ),
        ModeOption("keep_empty", bool, False, "also report the detectors that found nothing (count 0)"),
    ],
    help="deterministic detectors: " + ", ".join(DETECTORS) + "; no model",
)
