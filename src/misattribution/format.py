"""The judge's output format: render it (training targets) and parse it back (model outputs).

A judgment is three labelled fields, in the paper's order by default::

    Feedback: The final answer 18 is wrong: 3 x 4 = 12, not 14, so the total is 16.
    Misattribution: Process Error; Result Error
    Score: 1

or in Chinese ``反馈：`` / ``错误归因：`` / ``分数：``. :func:`render_target` writes it — the training
formatter and the prompt's format instructions both use it, so what the judge learns is what the
parser reads. :func:`parse_judgment` reads what a model actually wrote, leniently, and never raises.

Example:
    >>> from misattribution import parse_judgment
    >>> j = parse_judgment("**Feedback**: Wrong sum.\\n**Misattribution**: 结果错误\\n**Score**: 1/3")
    >>> j.misattribution, j.score, j.status
    (['result_error'], 1, 'ok')
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from misattribution.taxonomy import Category, Taxonomy, load_taxonomy, normalize_name

FIELDS = ("feedback", "misattribution", "score")
DEFAULT_ORDER: tuple[str, ...] = FIELDS


def parse_order(order: str | Sequence[str]) -> tuple[str, ...]:
    """The output fields from ``"feedback,misattribution,score"`` (or a sequence), checked.

    Any order of distinct fields among ``feedback``, ``misattribution`` and ``score`` that keeps the
    score (the evaluation needs it); leaving out ``misattribution`` is the paper's ablation.

    >>> parse_order("score, feedback")
    ('score', 'feedback')
    >>> parse_order("feedback,feedback,score")
    Traceback (most recent call last):
    ...
    ValueError: output order must list distinct fields among (...) and include 'score', got ('feedback', ...)
    """
    fields = tuple(p.strip() for p in order.split(",") if p.strip()) if isinstance(order, str) else tuple(order)
    if len(set(fields)) != len(fields) or not set(fields) <= set(FIELDS) or "score" not in fields:
        raise ValueError(f"output order must list distinct fields among {FIELDS} and include 'score', got {fields!r}")
    return fields


# The labels the renderer writes.
LABELS = {
    "en": {"feedback": "Feedback", "misattribution": "Misattribution", "score": "Score"},
    "zh": {"feedback": "反馈", "misattribution": "错误归因", "score": "分数"},
}
NO_ERROR = {"en": "None", "zh": "无"}
# The sentence that introduces the output skeleton in the judge prompt. The parser only reads what
# follows its last occurrence, so a model that echoes its prompt is never scored from the prompt.
FORMAT_HEADINGS = {
    "en": "Answer in exactly this format, with nothing before or after:",
    "zh": "请严格按以下格式回答，前后不要有其他内容：",
}
PLACEHOLDERS = {
    "en": {
        "feedback": "<your analysis of the answer>",
        "misattribution": "<the error categories, separated by semicolons, or None>",
        "score": "<one integer from {min} to {max}>",
    },
    "zh": {
        "feedback": "<你对回答的分析>",
        "misattribution": "<错误类别，用分号分隔；没有错误写 无>",
        "score": "<{min} 到 {max} 之间的一个整数>",
    },
}

# The labels the parser accepts (besides the rendered ones), case-insensitive.
_LABEL_ALIASES = {
    "feedback": [
        "feedback", "explanation", "rationale", "reasoning", "critique", "evaluation", "comments",
        "comment", "analysis", "justification", "反馈", "评价", "点评", "分析", "解释", "评语", "理由",
    ],
    "misattribution": [
        "misattribution", "misattributions", "mis-attribution", "error attribution", "error attributions",
        "error types", "error type", "error categories", "error category", "errors", "attribution",
        "错误归因", "错误类型", "错误类别", "错误分类", "归因",
    ],
    "score": [
        "final score", "overall score", "score", "rating", "grade", "result", "分数", "得分", "评分",
        "最终得分", "最终分数", "打分",
    ],
}  # fmt: skip
# Optional emphasis with the blanks after it. Every blank run below follows a non-blank token, so no
# two runs of blanks are adjacent: the regex stays linear on lines of thousands of spaces.
_EMPH = r"(?:[*_~`]{1,3}[ \t]*)?"


@dataclass(frozen=True)
class _LabelSet:
    """The labels one output format is read by: field of each alias, and the regex finding them."""

    field_of: dict[str, str]
    regex: re.Pattern[str]


def _label_set(aliases: dict[str, list[str]], rendered: dict[str, dict[str, str]]) -> _LabelSet:
    """A label starts a line (after quote marks, a heading, a bullet or a number), may carry a short
    parenthetical ("Score (0-3)"), and is followed by a colon (ASCII or full width) or closes its line.
    A bracketed tag ([RESULT] 2, 【分数】2) is read anywhere: Prometheus-style judges write it mid-line.
    The rendered labels are also read right after a sentence ("Feedback: Fine. Score: 3" on one line);
    aliases are not, as "result:" or "analysis:" are common inside a sentence."""
    field_of = {alias: name for name, names in aliases.items() for alias in names}
    alt = "|".join(re.escape(a) for a in sorted(field_of, key=len, reverse=True))
    inline = "|".join(re.escape(label) for language in rendered.values() for label in language.values())
    regex = re.compile(
        rf"""^[ \t>]*(?:\#{{1,6}}[ \t]*)?(?:[-*+•][ \t]+)?(?:\d+[.)、][ \t]*)?{_EMPH}
            (?P<label>{alt})[ \t]*{_EMPH}(?:[(（][^()（）\n]{{0,30}}[)）][ \t]*{_EMPH})?(?:[:：][ \t]*{_EMPH}|$)
          | [\[【](?P<tag>{alt})[\]】][ \t]*(?:[:：][ \t]*)?
          | [.。!！?？;；][ \t]*{_EMPH}(?P<inline>{inline})[ \t]*{_EMPH}[:：][ \t]*{_EMPH}""",
        re.IGNORECASE | re.MULTILINE | re.VERBOSE,
    )
    return _LabelSet(field_of, regex)


_ABSOLUTE_LABELS = _label_set(_LABEL_ALIASES, LABELS)
_LABEL_FIELD = _ABSOLUTE_LABELS.field_of
_NONE_WORDS = {
    "none", "no error", "no errors", "no error found", "no errors found", "none found", "none identified",
    "n/a", "na", "null", "nil", "nothing", "no", "not applicable", "[]", "无", "没有", "没有错误", "无错误",
    "无错误归因", "不适用", "无明显错误", "没有发现错误", "未发现错误", "无误",
}  # fmt: skip
# Where a "no error" word stops and its explanation starts: "None (the answer is correct)".
_NONE_HEAD_END = re.compile(r"[(（.。,，;；:：!！]|(?<=\s)[-–—]+(?=\s)")
# Between categories (outside parentheses); "and" / 和 / 及 only split inside an item, see _PART_SPLIT.
_ITEM_SEPARATORS = frozenset(",;，；、|")
# Inside one item: "Primary - Secondary", "Primary > Secondary", "A and B". A hyphen splits only when
# blanks surround it, so "Long-term" and "Multi-Turn" stay whole.
_PART_SPLIT = re.compile(r"(?<=\s)[-–—]+(?=\s)|[>›→:：/·&]|\b(?:under|and)\b|以及|和|及")
_ITEM_MARKS = " \t*_`\"'“”‘’[]【】"
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_SCORE_RE = re.compile(
    rf"^[\s*_`\[【(（\"']*(?P<value>{_NUMBER})[ \t*_`]*"
    rf"(?:(?:/|out of|of|分?满分为?|／)\s*(?P<denominator>{_NUMBER}))?",
    re.IGNORECASE,
)
# "1-2", "2 or 3": a range is not a score.
_SCORE_RANGE_RE = re.compile(r"[ \t]*(?:[-–~～]|to\b|or\b|或|至|到)[ \t]*\d")
# The prompt skeleton's placeholders (see PLACEHOLDERS), with any scale bounds.
_PLACEHOLDER_RE = re.compile(
    r"[\s*_`]*(?:"
    + "|".join(
        re.escape(text).replace(re.escape("{min}"), r"-?\d+").replace(re.escape("{max}"), r"-?\d+")
        for language in PLACEHOLDERS.values()
        for text in language.values()
    )
    + r"|<[^<>\n]*>[\s*_`]*(?:\n|$))"
)


@dataclass
class Judgment:
    """A parsed judge output.

    Attributes:
        feedback: the judge's explanation, or ``None`` when it is missing.
        misattribution: secondary category ids (``[]`` = no error), or ``None`` when missing.
            Where the output names only a primary category with several children, its id is kept
            and a problem is recorded.
        score: an integer on the taxonomy's scale, or ``None`` when missing or invalid.
        status: ``"ok"`` (every expected field read), ``"partial"`` (some), ``"failed"`` (none), or
            ``"error"`` (the backend produced no text; set by the runner).
        problems: human-readable notes on everything that was not clean.
        raw: the text that was parsed, kept verbatim.
    """

    feedback: str | None = None
    misattribution: list[str] | None = None
    score: int | None = None
    status: str = "failed"
    problems: list[str] = field(default_factory=list)
    raw: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- rendering --------------------------------------------------------------------------------------
def _check_order(order: Sequence[str]) -> tuple[str, ...]:
    order = tuple(order)
    if not order or len(set(order)) != len(order) or not set(order) <= set(FIELDS):
        raise ValueError(f"order must list distinct fields among {FIELDS}, got {order!r}")
    return order


def _language(language: str) -> str:
    return "zh" if language.lower().startswith("zh") else "en"


def _line(name: str, content: str, language: str) -> str:
    separator = "：" if language == "zh" else ": "
    return f"{LABELS[language][name]}{separator}{content}"


def render_target(
    feedback: str,
    misattribution: Sequence[str] | None,
    score: int,
    *,
    taxonomy: Taxonomy | str | None = None,
    language: str = "en",
    order: Sequence[str] = DEFAULT_ORDER,
) -> str:
    """The text a judge should write for one row: the training target.

    Args:
        feedback: the explanation.
        misattribution: secondary category ids or names; empty or ``None`` for no error.
        score: an integer on the taxonomy's scale.
        taxonomy: a :class:`Taxonomy` or the name of a shipped one (default ``attridata-v1``).
        language: ``"en"`` or ``"zh"`` (labels and category names).
        order: the fields and their order; leave out ``"misattribution"`` for the paper's ablation.

    >>> print(render_target("3 x 4 is 12, not 14.", ["result_error"], 1))
    Feedback: 3 x 4 is 12, not 14.
    Misattribution: Result Error
    Score: 1
    """
    tax = load_taxonomy(taxonomy)
    language = _language(language)
    if score not in tax.scale:
        raise ValueError(f"score {score!r} is not on the scale {tax.scale.min}-{tax.scale.max}")
    ids = tax.normalize_labels(list(misattribution or []))
    names = "; ".join(tax.get(cid).name(language) for cid in ids) or NO_ERROR[language]
    contents = {"feedback": feedback.strip(), "misattribution": names, "score": str(int(score))}
    return "\n".join(_line(name, contents[name], language) for name in _check_order(order))


def format_instructions(
    *, taxonomy: Taxonomy | str | None = None, language: str = "en", order: Sequence[str] = DEFAULT_ORDER
) -> str:
    """The output skeleton shown in the judge prompt, with placeholders instead of content."""
    tax = load_taxonomy(taxonomy)
    language = _language(language)
    return "\n".join(
        _line(name, PLACEHOLDERS[language][name].format(min=tax.scale.min, max=tax.scale.max), language)
        for name in _check_order(order)
    )


# -- parsing ----------------------------------------------------------------------------------------
def _strip_emphasis(text: str) -> str:
    """``text`` without surrounding blanks, emphasis marks and (leading) quote marks."""
    text = text.strip().lstrip("*_~`> \t\n").rstrip("*_~` \t\n")
    return text.strip()


def _is_placeholder(content: str) -> bool:
    """Content of an echoed prompt skeleton, e.g. ``<one integer from 0 to 3>``, whatever follows it."""
    return _PLACEHOLDER_RE.match(content) is not None


def _sections(text: str, labels: _LabelSet = _ABSOLUTE_LABELS) -> tuple[str, list[tuple[str, str]]]:
    """The unlabelled preamble and the (field, content) sections, in order of appearance."""
    matches = list(labels.regex.finditer(text))
    # An inline label's match begins with the sentence's final mark, which stays with that sentence.
    starts = [match.start() + (match.group("inline") is not None) for match in matches]
    sections = []
    for i, match in enumerate(matches):
        end = starts[i + 1] if i + 1 < len(matches) else len(text)
        label = (match.group("label") or match.group("tag") or match.group("inline")).lower()
        sections.append((labels.field_of[label], text[match.end() : end].strip()))
    preamble = text[: starts[0]].strip() if matches else text.strip()
    return preamble, sections


def _json_sections(text: str, field_of: dict[str, str] = _LABEL_FIELD) -> list[tuple[str, str]]:
    """The sections of an output written as one JSON object (``{"score": 2, ...}``), else ``[]``."""
    body = text.strip()
    if body.startswith("```"):  # a fenced block: ```json ... ```
        body = body.partition("\n")[2].rstrip().removesuffix("```")
    body = body.strip()
    if not (body.startswith("{") and body.endswith("}")):
        return []
    try:
        data = json.loads(body)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    sections = []
    for key, value in data.items():
        name = field_of.get(str(key).strip().lower().replace("_", " "))
        if name is None:
            continue
        if value is None or value == []:
            content = NO_ERROR["en"] if name == "misattribution" else ""
        elif isinstance(value, (list, dict)):
            content = json.dumps(value, ensure_ascii=False)
        else:
            content = str(value)
        sections.append((name, content))
    return sections


def _parse_score(content: str, tax: Taxonomy, problems: list[str]) -> int | None:
    folded = unicodedata.normalize("NFKC", content)
    match = _SCORE_RE.match(folded)
    if not match:
        problems.append(f"score: no number in {content[:40]!r}")
        return None
    value = float(match.group("value"))
    denominator = match.group("denominator")
    if denominator is not None and float(denominator) != tax.scale.max:
        problems.append(f"score: written as {match.group(0).strip()!r}, expected out of {tax.scale.max}")
        return None
    if denominator is None and _SCORE_RANGE_RE.match(folded, match.end("value")):
        problems.append(f"score: {folded[: match.end() + 8].strip()!r} is a range, not one score")
        return None
    if not value.is_integer():
        problems.append(f"score: {match.group('value')} is not a whole number")
        return None
    if int(value) not in tax.scale:
        problems.append(f"score: {int(value)} is outside the scale {tax.scale.min}-{tax.scale.max}")
        return None
    return int(value)


@lru_cache(maxsize=32)
def _name_index(tax: Taxonomy) -> list[tuple[re.Pattern[str], Category]]:
    # Cached by value, not by id(): a collected taxonomy's id can be reused by a different one.
    keys: dict[str, Category] = {}
    for category in (*tax.primaries, *tax.secondaries):
        for key in (category.id, category.name_en, category.name_zh, *category.aliases):
            keys.setdefault(normalize_name(key), category)
    patterns = []
    for key in sorted(keys, key=len, reverse=True):
        body = re.escape(key).replace(r"\ ", r"\s+")
        patterns.append((re.compile(rf"\b{body}\b" if key.isascii() else body), keys[key]))
    return patterns


def _find_categories(item: str, tax: Taxonomy) -> list[Category]:
    """Category names mentioned anywhere in ``item``, longest first, without overlaps."""
    folded = normalize_name(item)
    taken: list[tuple[int, int]] = []
    found: list[Category] = []
    for pattern, category in _name_index(tax):
        for match in pattern.finditer(folded):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            taken.append(span)
            found.append(category)
    return found


def _lookup(name: str, tax: Taxonomy) -> Category | None:
    """A category by id, name or alias, also in the other grammatical number ("Hallucinations")."""
    category = tax.resolve(name)
    folded = normalize_name(name)
    if category is None and folded.isascii() and len(folded) > 2:
        category = tax.resolve(folded[:-1] if folded.endswith("s") else folded + "s")
    return category


def _resolve_item(item: str, tax: Taxonomy) -> list[Category]:
    whole = _lookup(item, tax)
    if whole is not None:
        return [whole]
    parts = [_lookup(p.strip(), tax) for p in _PART_SPLIT.split(item) if p.strip()]
    resolved = [c for c in parts if c is not None]
    return resolved or _find_categories(item, tax)


def _split_items(content: str) -> list[str]:
    """Split a misattribution at newlines and at separators outside parentheses.

    >>> _split_items("Result Error (16, not 18); Typos")
    ['Result Error (16, not 18)', ' Typos']
    """
    items, start, depth = [], 0, 0
    for i, char in enumerate(content):
        if char in "(（":
            depth += 1
        elif char in ")）":
            depth = max(depth - 1, 0)
        elif char == "\n" or (depth == 0 and char in _ITEM_SEPARATORS):
            items.append(content[start:i])
            start, depth = i + 1, 0
    items.append(content[start:])
    return items


def _means_no_error(item: str) -> bool:
    """``None``, ``无``, or one of them followed by an explanation: ``None (the answer is right)``."""
    if normalize_name(item.rstrip("。.")) in _NONE_WORDS:
        return True
    head = _NONE_HEAD_END.split(item, maxsplit=1)[0]
    return normalize_name(head) in _NONE_WORDS


def _parse_misattribution(content: str, tax: Taxonomy, problems: list[str]) -> list[str] | None:
    content = _strip_emphasis(content)
    if not content:
        problems.append("misattribution: empty")
        return None
    items: list[str] = []
    if content.startswith("["):
        try:
            loaded = json.loads(content)
            if isinstance(loaded, list):
                items = [str(x) for x in loaded]
        except ValueError:
            pass
    if not items:
        items = [p for p in _split_items(content) if p.strip()]
    chosen: dict[str, Category] = {}
    for raw_item in items:
        item = re.sub(r"^[\s>]*(?:[-*+•]|\d+[.)、])\s+", "", raw_item.lstrip())
        # Only surrounding marks go: an id such as result_error keeps its underscore.
        item = item.strip(_ITEM_MARKS)
        if _means_no_error(item) and not _find_categories(item, tax):
            continue
        item = item.strip(_ITEM_MARKS + ".。")
        if not item:
            continue
        categories = _resolve_item(item, tax)
        if not categories:
            problems.append(f"misattribution: unknown category {item[:60]!r}")
            continue
        secondaries = [c for c in categories if not c.is_primary]
        if secondaries:
            # In "Primary - Secondary" the primary only qualifies the secondary.
            for primary in (c for c in categories if c.is_primary):
                if all(c.primary != primary.id for c in secondaries):
                    problems.append(f"misattribution: in {item[:60]!r}, {primary.id!r} is not the primary")
            categories = secondaries
        for category in categories:
            chosen[category.id] = category
    # A primary named next to one of its own secondaries adds nothing.
    secondary_parents = {c.primary for c in chosen.values() if not c.is_primary}
    ids: list[str] = []
    for category in chosen.values():
        if category.is_primary:
            if category.id in secondary_parents:
                continue
            children = tax.children(category.id)
            if len(children) == 1:
                ids.append(children[0].id)
                continue
            problems.append(f"misattribution: only the primary category {category.id!r} was named")
        ids.append(category.id)
    order = {cid: i for i, cid in enumerate(tax.primary_ids + tax.secondary_ids)}
    ids = sorted(set(ids), key=lambda cid: (not tax.get(cid).is_primary, order[cid]))
    if not ids and any(p.startswith("misattribution: unknown") for p in problems):
        return None
    return ids


def parse_judgment(
    text: str | None,
    taxonomy: Taxonomy | str | None = None,
    *,
    fields: Sequence[str] = DEFAULT_ORDER,
) -> Judgment:
    """Read a judge's output into a :class:`Judgment`. Never raises on model text.

    Accepts English or Chinese labels (also as markdown headings, bold, bullets, numbered items or
    blockquotes), full-width colons, a Prometheus-style ``[RESULT] 2`` anywhere in a line, and an output
    written as one JSON object with these keys. Categories may be given by id or by English or Chinese
    name or alias, in any case or width, singular or plural, as ``Primary - Secondary`` or
    ``Primary > Secondary``, several at once (``;``, ``,``, ``、``, ``and``, one per line, or a JSON
    list). ``None`` / ``无`` (also ``None (the answer is right)``) means no error. Scores may read ``2``,
    ``2.0``, ``2/3``, ``2 out of 3``, ``2分`` or ``Score: 2 (good)``.

    Choices made for ambiguous text:

    * When a label appears several times the last occurrence wins, except a placeholder of the prompt's
      skeleton (``<one integer from 0 to 3>``); only the text after the last copy of the prompt's format
      heading is read, so an echoed prompt alone gives ``status="failed"`` and never a score.
    * Labels are read at the start of a line; the rendered ones (``Score:``, ``分数：``) also right after
      a sentence, so a judgment written on one line still parses.
    * A reasoning model's ``<think>...</think>`` block is skipped; an output that stops inside it is
      read only before it (usually nothing: ``failed``), as a draft score is not a judgment.
    * A score that is out of the scale, not whole, out of another total (``8/10``) or a range (``1-2``)
      is ``None``, with a problem; the status is then ``partial``.
    * A primary category with one secondary stands for that secondary; a primary with several is kept
      as the primary's id, with a problem, and the status is ``partial``. Unknown categories are
      dropped with a problem (``partial``); when nothing known remains the misattribution is ``None``.
    * A score that contradicts the misattribution (3 with a category, 1 with ``None``) is kept as
      written, with an ``inconsistent: ...`` problem; it does not change the status.

    Args:
        text: the model's output.
        taxonomy: the taxonomy (or its name) whose categories and scale apply.
        fields: the fields the judge was asked for (a subset of ``feedback``, ``misattribution``,
            ``score``); only these decide between ``ok`` and ``partial``.

    >>> parse_judgment("## Feedback\\nOff by one.\\n## Misattribution\\n- 过程错误\\n## Score\\n**1**").score
    1
    """
    raw = text
    tax = load_taxonomy(taxonomy)
    expected = _check_order(fields)
    if not isinstance(text, str) or not text.strip():
        return Judgment(status="failed", problems=["empty output"], raw=raw)
    problems: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "</think>" in text:  # a reasoning model's draft is not its judgment
        text = text[text.rfind("</think>") + len("</think>") :]
    elif "<think>" in text:
        problems.append("the output stops inside its <think> block; the reasoning is not read")
        text = text[: text.find("<think>")]
    echo_end = max((text.rfind(h) + len(h) for h in FORMAT_HEADINGS.values() if h in text), default=-1)
    if echo_end >= 0:
        problems.append("the output echoes the prompt; only the text after the echo is read")
        text = text[echo_end:]
    sections = _json_sections(text)
    preamble = ""
    if not sections:
        preamble, sections = _sections(text)
    latest: dict[str, str] = {}
    for name, content in sections:
        if not _is_placeholder(content):
            latest[name] = content
    if not latest:
        return Judgment(status="failed", problems=[*problems, "no field label found"], raw=raw)

    judgment = Judgment(raw=raw, problems=problems)
    feedback = latest.get("feedback")
    if feedback is None and preamble and "feedback" in expected:
        feedback = preamble
        problems.append("feedback: taken from the unlabelled text before the first field")
    if feedback is not None:
        judgment.feedback = _strip_emphasis(re.sub(r"(?m)^[ \t]*>[ \t]?", "", feedback)) or None
    if "misattribution" in latest:
        judgment.misattribution = _parse_misattribution(latest["misattribution"], tax, problems)
    if "score" in latest:
        judgment.score = _parse_score(latest["score"], tax, problems)

    values = {
        "feedback": judgment.feedback,
        "misattribution": judgment.misattribution,
        "score": judgment.score,
    }
    for name in expected:
        if values[name] is None and name not in latest:
            problems.append(f"{name}: missing")
    complete = all(values[name] is not None for name in expected)
    clean = not any(p.startswith("misattribution: unknown") or "only the primary" in p for p in problems)
    judgment.status = "ok" if complete and clean else "partial"
    if judgment.score is not None and judgment.misattribution is not None:
        wants_error = tax.scale.expects_error(judgment.score)
        if wants_error and not judgment.misattribution:
            problems.append(f"inconsistent: score {judgment.score} but no misattribution")
        elif not wants_error and judgment.misattribution:
            problems.append(f"inconsistent: score {judgment.score} with a misattribution")
    return judgment


# -- pairwise judgments -----------------------------------------------------------------------------
#: The fields of a pairwise judgment, in the order the judge writes them.
PAIRWISE_FIELDS = ("feedback", "verdict", "misattribution")
#: The verdicts: response A is better, response B is better, or neither.
VERDICTS = ("A", "B", "tie")
PAIRWISE_LABELS = {
    "en": {"feedback": "Feedback", "verdict": "Better response", "misattribution": "Misattribution"},
    "zh": {"feedback": "反馈", "verdict": "更好的回答", "misattribution": "错误归因"},
}
TIE = {"en": "tie", "zh": "平局"}
PAIRWISE_PLACEHOLDERS = {
    "en": {
        "feedback": "<your comparison of the two responses>",
        "verdict": "<A, B or tie>",
        "misattribution": "<the error categories of the worse response, separated by semicolons, or None>",
    },
    "zh": {
        "feedback": "<你对两个回答的比较>",
        "verdict": "<A、B 或 平局>",
        "misattribution": "<较差回答的错误类别，用分号分隔；没有错误写 无>",
    },
}
_PAIRWISE_ALIASES = {
    "feedback": _LABEL_ALIASES["feedback"] + ["comparison", "比较"],
    "misattribution": _LABEL_ALIASES["misattribution"],
    "verdict": [
        "better response", "better answer", "better", "winner", "preferred response", "preferred answer",
        "preferred", "preference", "verdict", "final verdict", "choice", "decision", "result", "final result",
        "更好的回答", "更好的回复", "更优回答", "胜者", "获胜者", "结论", "结果", "裁决", "最终结果",
    ],
}  # fmt: skip
_PAIRWISE_LABELS = _label_set(_PAIRWISE_ALIASES, PAIRWISE_LABELS)
_PAIRWISE_PLACEHOLDER_TEXTS = frozenset(
    normalize_name(text) for language in PAIRWISE_PLACEHOLDERS.values() for text in language.values()
)
_TIE_WORDS = (
    "tie", "a tie", "it's a tie", "it is a tie", "draw", "equal", "equally good", "equally bad", "both",
    "both equally", "both are equal", "neither", "same", "the same", "no preference", "tie (bothbad)",
    "平局", "平手", "相同", "一样", "同样好", "同样差", "两者相当", "相当", "都一样", "无法区分",
)  # fmt: skip
_TIE_RE = re.compile(
    r"^(?:" + "|".join(re.escape(w) for w in sorted(_TIE_WORDS, key=len, reverse=True)) + r")(?![a-z])",
    re.IGNORECASE,
)
# "A", "Response A", "Assistant B", "(A)", "回答A", "A is better": the letter, after an optional noun.
_SIDE_RE = re.compile(
    r"^(?:(?P<noun>response|answer|assistant|output|model|candidate|option|system|回答|回复|答案|模型)[ \t_]*)?"
    r"[\[(（]?[ \t]*(?P<letter>[AaBb])[ \t]*[\])）]?(?![A-Za-z0-9])",
    re.IGNORECASE,
)
# A capital A or B standing alone ("but A is closer"), after a tie word.
_LONE_SIDE_RE = re.compile(r"(?<![A-Za-z0-9])([AB])(?![A-Za-z0-9])")
# "A or B", "A/B", "A and B": two letters, no verdict.
_BOTH_SIDES_RE = re.compile(
    r"[ \t]*(?:or|and|/|\||,|，|、|或|和|vs\.?|versus)[ \t]*(?:(?:response|answer|assistant|回答)[ \t]*)?[AaBb](?![A-Za-z0-9])",
    re.IGNORECASE,
)


@dataclass
class PairwiseJudgment:
    """A parsed pairwise judge output: which of two responses is better, and why the worse one fails.

    Attributes:
        feedback: the judge's comparison, or ``None`` when it is missing.
        verdict: ``"A"``, ``"B"`` or ``"tie"``; ``None`` when missing or unreadable.
        misattribution: secondary category ids of the worse response's errors (``[]`` = none; for a tie,
            the errors both share), or ``None`` when missing.
        status, problems, raw: as in :class:`Judgment`.
    """

    feedback: str | None = None
    verdict: str | None = None
    misattribution: list[str] | None = None
    status: str = "failed"
    problems: list[str] = field(default_factory=list)
    raw: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def render_pairwise_target(
    feedback: str,
    verdict: str,
    misattribution: Sequence[str] | None,
    *,
    taxonomy: Taxonomy | str | None = None,
    language: str = "en",
) -> str:
    """The text a pairwise judge should write: feedback, the better response, the worse one's errors.

    >>> print(render_pairwise_target("B adds 3 x 4 wrongly.", "A", ["result_error"]))
    Feedback: B adds 3 x 4 wrongly.
    Better response: A
    Misattribution: Result Error
    """
    tax = load_taxonomy(taxonomy)
    language = _language(language)
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    ids = tax.normalize_labels(list(misattribution or []))
    names = "; ".join(tax.get(cid).name(language) for cid in ids) or NO_ERROR[language]
    contents = {"feedback": feedback.strip(), "verdict": TIE[language] if verdict == "tie" else verdict}
    contents["misattribution"] = names
    separator = "：" if language == "zh" else ": "
    return "\n".join(f"{PAIRWISE_LABELS[language][name]}{separator}{contents[name]}" for name in PAIRWISE_FIELDS)


def pairwise_format_instructions(*, language: str = "en") -> str:
    """The output skeleton shown in the pairwise prompt, with placeholders instead of content."""
    language = _language(language)
    separator = "：" if language == "zh" else ": "
    return "\n".join(
        f"{PAIRWISE_LABELS[language][name]}{separator}{PAIRWISE_PLACEHOLDERS[language][name]}"
        for name in PAIRWISE_FIELDS
    )


def parse_verdict(content: str) -> tuple[str | None, str | None]:
    """A verdict as ``"A"`` / ``"B"`` / ``"tie"``, or ``(None, why)``. Only the first line is read.

    >>> [parse_verdict(t)[0] for t in ("A", "Response B", "**(A)**", "[B] is better", "Tie", "回答A", "平局")]
    ['A', 'B', 'A', 'B', 'tie', 'A', 'tie']
    >>> parse_verdict("A or B")
    (None, "'A or B' names both responses")
    >>> parse_verdict("C")
    (None, "'C' is not A, B or tie")
    """
    line = _strip_emphasis(content).split("\n", 1)[0]
    line = unicodedata.normalize("NFKC", line).strip(" \t*_`\"'“”‘’.。:：")
    if not line:
        return None, "empty"
    tie = _TIE_RE.match(line)
    if tie:
        # "Both are wrong, but A is closer" names one side: not a tie, and not clearly A either.
        sides = set(_LONE_SIDE_RE.findall(line[tie.end() :]))
        if len(sides) == 1:
            return None, f"{line[:40]!r} names a tie and one response"
        return "tie", None
    match = _SIDE_RE.match(line)
    # A bare lower-case "a" is an article ("a close call"), unless it is the whole verdict.
    if match and (match.group("noun") or match.group("letter").isupper() or len(line) == 1 or line[0] in "[(（"):
        if _BOTH_SIDES_RE.match(line, match.end()):
            return None, f"{line[:40]!r} names both responses"
        return match.group("letter").upper(), None
    return None, f"{line[:40]!r} is not A, B or tie"


def parse_pairwise(text: str | None, taxonomy: Taxonomy | str | None = None) -> PairwiseJudgment:
    """Read a pairwise judge's output into a :class:`PairwiseJudgment`. Never raises on model text.

    The verdict may be labelled ``Better response:``, ``Winner:``, ``Verdict:``, ``[RESULT]``,
    ``更好的回答：`` and the like (the same label forms as :func:`parse_judgment`: headings, bold, bullets,
    a JSON object) and read ``A``, ``Response A``, ``(A)``, ``Assistant B``, ``A is better``, ``tie``,
    ``equal``, ``平局``. A verdict naming both (``A or B``) or neither (``C``) is ``None`` with a problem
    (status ``partial``); an output with no label is ``failed``. The misattribution is read exactly as
    :func:`parse_judgment` reads it. An echoed prompt is never read as a verdict.

    >>> j = parse_pairwise("Feedback: B miscounts.\\n[RESULT] A\\nMisattribution: Result Error")
    >>> j.verdict, j.misattribution, j.status
    ('A', ['result_error'], 'ok')
    """
    raw = text
    tax = load_taxonomy(taxonomy)
    if not isinstance(text, str) or not text.strip():
        return PairwiseJudgment(status="failed", problems=["empty output"], raw=raw)
    problems: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "</think>" in text:
        text = text[text.rfind("</think>") + len("</think>") :]
    elif "<think>" in text:
        problems.append("the output stops inside its <think> block; the reasoning is not read")
        text = text[: text.find("<think>")]
    echo_end = max((text.rfind(h) + len(h) for h in FORMAT_HEADINGS.values() if h in text), default=-1)
    if echo_end >= 0:
        problems.append("the output echoes the prompt; only the text after the echo is read")
        text = text[echo_end:]
    sections = _json_sections(text, _PAIRWISE_LABELS.field_of)
    preamble = ""
    if not sections:
        preamble, sections = _sections(text, _PAIRWISE_LABELS)
    latest = {name: content for name, content in sections if normalize_name(content) not in _PAIRWISE_PLACEHOLDER_TEXTS}
    if not latest:
        return PairwiseJudgment(status="failed", problems=[*problems, "no field label found"], raw=raw)
    judgment = PairwiseJudgment(raw=raw, problems=problems)
    feedback = latest.get("feedback")
    if feedback is None and preamble:
        feedback = preamble
        problems.append("feedback: taken from the unlabelled text before the first field")
    if feedback is not None:
        judgment.feedback = _strip_emphasis(re.sub(r"(?m)^[ \t]*>[ \t]?", "", feedback)) or None
    if "verdict" in latest:
        judgment.verdict, why = parse_verdict(latest["verdict"])
        if why:
            problems.append(f"verdict: {why}")
    if "misattribution" in latest:
        judgment.misattribution = _parse_misattribution(latest["misattribution"], tax, problems)
    values = {"feedback": judgment.feedback, "verdict": judgment.verdict, "misattribution": judgment.misattribution}
    for name in PAIRWISE_FIELDS:
        if name not in latest and values[name] is None:
            problems.append(f"{name}: missing")
    complete = all(v is not None for v in values.values())
    clean = not any(p.startswith("misattribution: unknown") or "only the primary" in p for p in problems)
    judgment.status = "ok" if complete and clean else "partial"
    return judgment
