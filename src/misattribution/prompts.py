"""Judge prompt templates (English and Chinese, with and without a reference answer).

The judge sees a chat conversation of two messages: a system message (its role, the taxonomy, the
score scale and the output format) and a user message (the question, the answer, and optionally a
reference answer and evaluation criteria). :func:`build_messages` is the one place that builds it:
the training formatter, the metric, the CLI and the Space all call it, so the prompt a judge sees
at inference is byte for byte the one it was trained on.

Templates are module constants with named placeholders; :func:`get_prompt_template` picks one.

Example:
    >>> messages = build_messages("What is 3 x 4?", "14", reference="12")
    >>> [m["role"] for m in messages]
    ['system', 'user']
    >>> "Result Error" in messages[0]["content"]
    True
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from misattribution.format import DEFAULT_ORDER, FORMAT_HEADINGS, format_instructions, pairwise_format_instructions
from misattribution.io.tables import InputError, is_missing
from misattribution.taxonomy import Taxonomy, load_taxonomy

SYSTEM_TEMPLATE_EN = """\
You are a meticulous evaluator of AI assistants. Judge the assistant's answer to the user's question{reference_note}.

First explain what is right and wrong in the answer. {attribution_step}Then give a score.
{categories_block}
Score scale:
{scale}
{attribution_rule}

{format_heading}
{output_format}"""

SYSTEM_TEMPLATE_ZH = """\
你是一位严谨的 AI 助手回答评估员。请评估助手对用户问题的回答{reference_note}。

先说明回答中哪些正确、哪些错误；{attribution_step}最后给出分数。
{categories_block}
评分标准：
{scale}
{attribution_rule}

{format_heading}
{output_format}"""

USER_TEMPLATE_EN = """\
{criteria_block}### Question
{question}

### Answer
{answer}"""

USER_TEMPLATE_EN_REFERENCE = """\
{criteria_block}### Question
{question}

### Reference answer
{reference}

### Answer
{answer}"""

USER_TEMPLATE_ZH = """\
{criteria_block}### 问题
{question}

### 回答
{answer}"""

USER_TEMPLATE_ZH_REFERENCE = """\
{criteria_block}### 问题
{question}

### 参考答案
{reference}

### 回答
{answer}"""

_REFERENCE_NOTE = {
    "en": ", using the reference answer as the standard of correctness",
    "zh": "，以参考答案作为正确性的标准",
}
_COLON = {"en": ": ", "zh": "："}
_CRITERIA_HEADING = {"en": "### Evaluation criteria", "zh": "### 评估标准"}
# The misattribution parts of the system message; left out for the ablation without misattribution.
_ATTRIBUTION_STEP = {
    "en": "Then attribute every error to the categories below (use the secondary category names; list "
    "several when several apply; write None when the answer has no error). ",
    "zh": "再把每个错误归入下列类别（使用二级类别名称；有多个错误时全部列出；没有错误时写“无”）；",
}
# Headings must not read as output labels ("Error categories:" would), so an echoed prompt parses as nothing.
_CATEGORIES_BLOCK = {"en": "\nError taxonomy:\n{categories}\n", "zh": "\n错误类别体系：\n{categories}\n"}
_ATTRIBUTION_RULE = {
    "en": "Give a misattribution exactly when the score is below {error_below}.",
    "zh": "当且仅当分数低于 {error_below} 时给出错误归因。",
}
_NO_ATTRIBUTION_RULE = {
    "en": "Point out an error exactly when the score is below {error_below}.",
    "zh": "当且仅当分数低于 {error_below} 时指出错误。",
}


@dataclass(frozen=True)
class PromptTemplate:
    """A pair of templates: the system message and the user message."""

    language: str
    with_reference: bool
    system: str
    user: str


_TEMPLATES = {
    ("en", False): PromptTemplate("en", False, SYSTEM_TEMPLATE_EN, USER_TEMPLATE_EN),
    ("en", True): PromptTemplate("en", True, SYSTEM_TEMPLATE_EN, USER_TEMPLATE_EN_REFERENCE),
    ("zh", False): PromptTemplate("zh", False, SYSTEM_TEMPLATE_ZH, USER_TEMPLATE_ZH),
    ("zh", True): PromptTemplate("zh", True, SYSTEM_TEMPLATE_ZH, USER_TEMPLATE_ZH_REFERENCE),
}


def _language(language: str) -> str:
    if language.lower().startswith("zh"):
        return "zh"
    if language.lower().startswith("en"):
        return "en"
    raise ValueError(f"prompt language must be 'en' or 'zh', got {language!r}")


def get_prompt_template(language: str = "en", with_reference: bool = False) -> PromptTemplate:
    """The template for a language (``"en"`` / ``"zh"``) and whether a reference answer is given."""
    return _TEMPLATES[(_language(language), bool(with_reference))]


def describe_taxonomy(taxonomy: Taxonomy | str | None = None, language: str = "en") -> str:
    """The category list shown to the judge: each primary, then its secondaries with definitions."""
    tax = load_taxonomy(taxonomy)
    language = _language(language)
    colon = _COLON[language]
    lines = []
    for primary in tax.primaries:
        lines.append(f"- {primary.name(language)}")
        for child in tax.children(primary.id):
            lines.append(f"  - {child.name(language)}{colon}{child.describe(language)}")
    return "\n".join(lines)


def describe_scale(taxonomy: Taxonomy | str | None = None, language: str = "en") -> str:
    """The score scale shown to the judge, highest level first."""
    tax = load_taxonomy(taxonomy)
    language = _language(language)
    colon = _COLON[language]
    return "\n".join(f"- {lv.value} = {lv.name(language)}{colon}{lv.describe(language)}" for lv in tax.scale.levels)


def build_messages(
    question: str,
    answer: str,
    reference: str | None = None,
    criteria: str | None = None,
    *,
    taxonomy: Taxonomy | str | None = None,
    language: str = "en",
    order: Sequence[str] = DEFAULT_ORDER,
    rubric: Mapping[int, str] | str | None = None,
) -> list[dict[str, str]]:
    """The chat messages a judge sees for one row.

    Args:
        question: the user's question (or the whole instruction).
        answer: the answer to judge.
        reference: an optional reference answer; selects the with-reference template.
        criteria: optional evaluation criteria or an extra instruction, shown above the question.
        taxonomy: the taxonomy (or its name) listed in the prompt.
        language: ``"en"`` or ``"zh"``: the prompt's language, not necessarily the data's.
        order: the output fields and their order (see :func:`misattribution.format.render_target`).
        rubric: an optional per-row rubric, one description per level of the taxonomy's scale (a dict, JSON
            or ``"3: ... 2: ..."`` text; see :func:`parse_rubric`), shown with the criteria above the question.
    """
    if not isinstance(question, str) or not isinstance(answer, str):
        raise TypeError("question and answer must be strings")
    tax = load_taxonomy(taxonomy)
    language = _language(language)
    has_reference = reference is not None and str(reference).strip() != ""
    template = get_prompt_template(language, has_reference)
    attributes = "misattribution" in order
    rule = (_ATTRIBUTION_RULE if attributes else _NO_ATTRIBUTION_RULE)[language]
    system = template.system.format(
        reference_note=_REFERENCE_NOTE[language] if has_reference else "",
        attribution_step=_ATTRIBUTION_STEP[language] if attributes else "",
        categories_block=_CATEGORIES_BLOCK[language].format(categories=describe_taxonomy(tax, language))
        if attributes
        else "",
        scale=describe_scale(tax, language),
        attribution_rule=rule.format(error_below=tax.scale.error_below),
        format_heading=FORMAT_HEADINGS[language],
        output_format=format_instructions(taxonomy=tax, language=language, order=order),
    )
    user = template.user.format(
        criteria_block=_context_block(criteria, rubric, tax, language),
        question=question.strip(),
        answer=answer.strip(),
        reference=str(reference).strip() if has_reference else "",
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# -- per-row rubrics --------------------------------------------------------------------------------
_RUBRIC_HEADING = {
    "en": "### Score rubric for this question (what each level of the scale means here)",
    "zh": "### 本题评分细则（评分标准中每一级在本题的含义）",
}
# "3: ...", "Score 3: ...", "- 3 = ...": a level starts a line or follows a blank, and ends in a colon or "=".
_RUBRIC_LEVEL = re.compile(
    r"(?:^|(?<=\s))[-*•]?[ \t]*(?:score[ \t]*|分数[ \t]*)?(-?\d+)[ \t]*(?:分)?[ \t]*[:：=]", re.I
)


def parse_rubric(value: Any, taxonomy: Taxonomy | str | None = None, where: str = "rubric") -> dict[int, str] | None:
    """A per-row rubric as ``{level: description}``, highest level first; ``None`` for an empty cell.

    ``value`` is a dict (``{3: "...", "2": "..."}``), its JSON text, or text listing the levels
    (``"3: all steps right. 2: ... 1: ... 0: ..."``, one per line or on one line, ``Score 3:`` too). Its
    levels must be exactly the taxonomy's scale (0-3 by default), each with a non-empty description;
    anything else is an :class:`~misattribution.io.tables.InputError` naming ``where`` (the file, row
    and field).

    >>> parse_rubric("3: every step right\\n2: one slip\\n1: wrong result\\n0: off-topic")[2]
    'one slip'
    >>> parse_rubric({"1": "bad", "5": "great"}, where="t.jsonl: row 4, field 'rubric'")
    Traceback (most recent call last):
    ...
    misattribution.io.tables.InputError: t.jsonl: row 4, field 'rubric': levels 1, 5 do not match the scale 0-3 (missing 0, 2, 3; not on the scale 5)
      hint: give one description per score level: 3, 2, 1, 0
    """
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    tax = load_taxonomy(taxonomy)
    levels_wanted = [level.value for level in tax.scale.levels]
    hint = "\n  hint: give one description per score level: " + ", ".join(map(str, levels_wanted))
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise InputError(f"{where}: not a JSON object ({err.msg}){hint}") from None
    if isinstance(value, Mapping):
        pairs = [(str(k).strip(), v) for k, v in value.items()]
    elif isinstance(value, str):
        pairs = _rubric_text_pairs(value, where, hint)
    else:
        raise InputError(f"{where}: a rubric is a dict or text, got {type(value).__name__}{hint}")
    rubric: dict[int, str] = {}
    for key, description in pairs:
        key = re.sub(r"^(?:score|分数)[ \t_]*", "", key, flags=re.I)
        if not re.fullmatch(r"-?\d+", key):
            raise InputError(f"{where}: level {key!r} is not a whole number{hint}")
        level = int(key)
        if level in rubric:
            raise InputError(f"{where}: level {level} is described twice{hint}")
        if not isinstance(description, str) or not description.strip():
            raise InputError(f"{where}: level {level} has no description{hint}")
        rubric[level] = description.strip()
    if set(rubric) != set(levels_wanted):
        missing = sorted(set(levels_wanted) - set(rubric))
        extra = sorted(set(rubric) - set(levels_wanted))
        parts = ([f"missing {', '.join(map(str, missing))}"] if missing else []) + (
            [f"not on the scale {', '.join(map(str, extra))}"] if extra else []
        )
        raise InputError(
            f"{where}: levels {', '.join(map(str, sorted(rubric)))} do not match the scale "
            f"{tax.scale.min}-{tax.scale.max} ({'; '.join(parts)}){hint}"
        )
    return {level: rubric[level] for level in levels_wanted}


def _rubric_text_pairs(text: str, where: str, hint: str) -> list[tuple[str, str]]:
    matches = list(_RUBRIC_LEVEL.finditer(text))
    if not matches:
        raise InputError(f"{where}: no score levels found (write '3: ... 2: ...' or a JSON object){hint}")
    if text[: matches[0].start()].strip(" \t\n-*•"):
        preamble = text[: matches[0].start()].strip()[:40]
        raise InputError(
            f"{where}: text before the first level ({preamble!r}); a rubric holds only the levels: put a preamble "
            f"such as Prometheus' [criteria] in the criteria column{hint}"
        )
    return [
        (m.group(1), text[m.end() : matches[i + 1].start() if i + 1 < len(matches) else len(text)])
        for i, m in enumerate(matches)
    ]


def describe_rubric(rubric: Mapping[int, str], language: str = "en") -> str:
    """The rubric as the prompt shows it, one level per line, highest first."""
    colon = _COLON[_language(language)]
    return "\n".join(f"- {level}{colon}{text}" for level, text in sorted(rubric.items(), reverse=True))


def _context_block(criteria: str | None, rubric: Mapping[int, str] | str | None, tax: Taxonomy, language: str) -> str:
    """What the user message shows above the question: the criteria, then the row's rubric."""
    block = f"{_CRITERIA_HEADING[language]}\n{criteria.strip()}\n\n" if criteria and criteria.strip() else ""
    levels = parse_rubric(rubric, tax) if isinstance(rubric, str) or rubric is None else parse_rubric(dict(rubric), tax)
    if levels:
        block += f"{_RUBRIC_HEADING[language]}\n{describe_rubric(levels, language)}\n\n"
    return block


# -- pairwise (relative) grading ---------------------------------------------------------------------
SYSTEM_PAIRWISE_EN = """\
You are a meticulous evaluator of AI assistants. Compare two responses, A and B, to the user's question{reference_note}, and decide which one is better.

First compare what is right and wrong in each response. Then say which response is better: A, B, or tie when neither is better. {attribution_step}
Error taxonomy:
{categories}

The quality levels the responses are judged by:
{scale}
Judge the content only: which response comes first, and which is longer, never makes it better.

{format_heading}
{output_format}"""

SYSTEM_PAIRWISE_ZH = """\
你是一位严谨的 AI 助手回答评估员。请比较两个回答 A 和 B 对用户问题的回答{reference_note}，判断哪一个更好。

先比较两个回答中哪些正确、哪些错误；再说明哪个回答更好：A、B，或两者不分高下时写“平局”。{attribution_step}
错误类别体系：
{categories}

评判回答质量的等级：
{scale}
只看内容：回答出现的先后和长短都不会让它更好。

{format_heading}
{output_format}"""

USER_PAIRWISE_EN = """\
{criteria_block}### Question
{question}

{reference_block}### Response A
{answer_a}

### Response B
{answer_b}"""

USER_PAIRWISE_ZH = """\
{criteria_block}### 问题
{question}

{reference_block}### 回答 A
{answer_a}

### 回答 B
{answer_b}"""

_PAIRWISE_TEMPLATES = {
    "en": PromptTemplate("en", True, SYSTEM_PAIRWISE_EN, USER_PAIRWISE_EN),
    "zh": PromptTemplate("zh", True, SYSTEM_PAIRWISE_ZH, USER_PAIRWISE_ZH),
}
_PAIRWISE_ATTRIBUTION_STEP = {
    "en": "Then attribute every error of the worse response to the categories below (use the secondary "
    "category names; list several when several apply; write None when it has no error); for a tie, list the "
    "errors both responses share, or None.",
    "zh": "然后把较差回答的每个错误归入下列类别（使用二级类别名称；有多个错误时全部列出；没有错误时写“无”）；"
    "平局时列出两个回答共有的错误，或写“无”。",
}
_REFERENCE_HEADING = {"en": "### Reference answer", "zh": "### 参考答案"}


def build_pairwise_messages(
    question: str,
    answer_a: str,
    answer_b: str,
    reference: str | None = None,
    criteria: str | None = None,
    *,
    rubric: Mapping[int, str] | str | None = None,
    taxonomy: Taxonomy | str | None = None,
    language: str = "en",
) -> list[dict[str, str]]:
    """The chat messages of a pairwise judgment: which of two responses is better, and why the worse fails.

    The judge writes the fields of :data:`misattribution.format.PAIRWISE_FIELDS` (feedback, the better
    response ``A`` / ``B`` / ``tie``, the worse response's misattribution), read back by
    :func:`misattribution.format.parse_pairwise`. The taxonomy's scale is listed as the quality levels,
    and a per-row ``rubric`` (see :func:`parse_rubric`) and ``criteria`` sit above the question, as in
    :func:`build_messages`. To control position bias, judge a pair twice with A and B swapped
    (:func:`misattribution.pairwise.judge_pairs` with ``both_orders=True``).

    >>> messages = build_pairwise_messages("What is 3 x 4?", "12", "14", reference="12")
    >>> "### Response B\\n14" in messages[1]["content"], "A, B or tie" in messages[0]["content"]
    (True, True)
    """
    if not all(isinstance(text, str) for text in (question, answer_a, answer_b)):
        raise TypeError("question, answer_a and answer_b must be strings")
    tax = load_taxonomy(taxonomy)
    language = _language(language)
    template = _PAIRWISE_TEMPLATES[language]
    has_reference = reference is not None and str(reference).strip() != ""
    system = template.system.format(
        reference_note=_REFERENCE_NOTE[language] if has_reference else "",
        attribution_step=_PAIRWISE_ATTRIBUTION_STEP[language],
        categories=describe_taxonomy(tax, language),
        scale=describe_scale(tax, language),
        format_heading=FORMAT_HEADINGS[language],
        output_format=pairwise_format_instructions(language=language),
    )
    reference_block = f"{_REFERENCE_HEADING[language]}\n{str(reference).strip()}\n\n" if has_reference else ""
    user = template.user.format(
        criteria_block=_context_block(criteria, rubric, tax, language),
        question=question.strip(),
        reference_block=reference_block,
        answer_a=answer_a.strip(),
        answer_b=answer_b.strip(),
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def check_rubrics(
    values: Sequence[Any], taxonomy: Taxonomy | str | None, label: str, column: str, *, max_listed: int = 20
) -> list[dict[int, str] | None]:
    """Every row's rubric read by :func:`parse_rubric`, or one :class:`~misattribution.io.tables.InputError`
    listing every bad row (1-based) of ``label``'s ``column``, before anything is judged.

    >>> check_rubrics([None, "3: a 2: b 1: c 0: d"], None, "t.csv", "rubric")[1][3]
    'a'
    """
    tax = load_taxonomy(taxonomy)
    rubrics: list[dict[int, str] | None] = []
    problems: list[str] = []
    for number, value in enumerate(values, start=1):
        try:
            rubrics.append(parse_rubric(value, tax, where=f"row {number}, field {column!r}"))
        except InputError as err:
            problems.append(str(err).split("\n  hint:")[0])
            rubrics.append(None)
    if problems:
        wanted = ", ".join(str(level.value) for level in tax.scale.levels)
        more = f"\n  ... and {len(problems) - max_listed} more" if len(problems) > max_listed else ""
        raise InputError(
            f"{label}: {len(problems)} rubric problem(s):\n  "
            + "\n  ".join(problems[:max_listed])
            + more
            + f"\n  hint: a rubric gives one description per score level ({wanted}), as JSON or '3: ... 2: ...' text"
        )
    return rubrics


# -- agent traces: the step and trajectory variants -------------------------------------------------
#: Row kinds (``kind`` column of a trace table, :mod:`misattribution.io.traces`) with a prompt variant.
AGENT_KINDS = ("step", "trajectory")
# The first line of the system message for each variant; the rest (taxonomy, scale, format) is shared.
_AGENT_INTRO = {
    ("step", "en"): "You are a meticulous evaluator of AI agents. Judge one step of a multi-agent run: what the "
    "agent was asked, whether it used the tools it had correctly, and whether its output does what it was asked.",
    ("step", "zh"): "你是一位严谨的 AI 智能体评估员。请评估多智能体运行中的一个步骤：智能体被要求做什么、"
    "是否正确使用了可用的工具、输出是否完成了要求。",
    ("trajectory", "en"): "You are a meticulous evaluator of AI agents. Judge a whole multi-agent run: whether it "
    "achieved the task, and which step went wrong first. In the feedback, say whether the task succeeded and "
    'name the first step that went wrong as "First failed step: N (agent)", or write "First failed step: none".',
    ("trajectory", "zh"): "你是一位严谨的 AI 智能体评估员。请评估一次完整的多智能体运行：是否完成了任务，"
    "以及最先出错的是哪一步。请在反馈中说明任务是否成功，并写出“最先出错的步骤：N（智能体）”，"
    "或写“最先出错的步骤：无”。",
}
USER_TEMPLATE_STEP_EN = """\
### Agent
{agent}

### What the step was asked
{question}

### Tools available
{tools}

### Tool calls made
{tool_calls}

### The step's output
{answer}"""
USER_TEMPLATE_STEP_ZH = """\
### 智能体
{agent}

### 这一步的任务
{question}

### 可用工具
{tools}

### 工具调用
{tool_calls}

### 这一步的输出
{answer}"""
USER_TEMPLATE_TRAJECTORY_EN = """\
### Task
{question}

### Steps
{steps}

### Final output
{answer}"""
USER_TEMPLATE_TRAJECTORY_ZH = """\
### 任务
{question}

### 步骤
{steps}

### 最终输出
{answer}"""
_AGENT_USER_TEMPLATES = {
    ("step", "en"): USER_TEMPLATE_STEP_EN,
    ("step", "zh"): USER_TEMPLATE_STEP_ZH,
    ("trajectory", "en"): USER_TEMPLATE_TRAJECTORY_EN,
    ("trajectory", "zh"): USER_TEMPLATE_TRAJECTORY_ZH,
}
_NONE_TEXT = {"en": "(none)", "zh": "（无）"}


def build_agent_messages(
    row: Mapping[str, Any],
    question: str,
    answer: str,
    *,
    taxonomy: Taxonomy | str | None = None,
    language: str = "en",
    order: Sequence[str] = DEFAULT_ORDER,
) -> list[dict[str, str]]:
    """The judge's messages for a row of an agent trace (``row["kind"]`` ``step`` or ``trajectory``).

    The system message is :func:`build_messages`' (taxonomy, scale, output format: the parser reads the
    same three fields) with the variant's first line; the user message shows a step's agent (``system``),
    what it was asked, ``tools_available``, ``tool_calls`` (JSON text: name, arguments, result, error) and
    ``step_error``, or a trajectory's task, ``steps`` transcript and final output.

    >>> row = {"kind": "step", "system": "researcher", "tools_available": ["web_search"],
    ...        "tool_calls": '[{"name": "web_search", "arguments": {"query": "x"}, "error": "HTTP 503"}]'}
    >>> user = build_agent_messages(row, "Find x.", "x is 3.")[1]["content"]
    >>> "researcher" in user and "web_search" in user and "HTTP 503" in user
    True
    """
    kind = str(row.get("kind"))
    if kind not in AGENT_KINDS:
        raise ValueError(f"row kind must be one of {AGENT_KINDS}, got {kind!r}")
    language = _language(language)
    system = build_messages("-", "-", taxonomy=taxonomy, language=language, order=order)[0]["content"]
    system = _AGENT_INTRO[(kind, language)] + "\n" + system.split("\n", 1)[1]
    none = _NONE_TEXT[language]
    tools = row.get("tools_available")
    tools = [] if is_missing(tools) else list(tools) if not isinstance(tools, str) else [tools]
    calls_text = row.get("tool_calls")
    try:
        calls = json.loads(calls_text) if isinstance(calls_text, str) and calls_text.strip() else []
    except ValueError:
        calls = []
    call_lines = []
    for number, call in enumerate(calls if isinstance(calls, list) else [], start=1):
        if not isinstance(call, Mapping):
            continue
        arguments = json.dumps(call.get("arguments"), ensure_ascii=False, default=str)
        outcome = f"ERROR: {call['error']}" if call.get("error") else str(call.get("result") or "")
        call_lines.append(f"{number}. {call.get('name')}({arguments}) -> {outcome}")
    error = row.get("step_error")
    if not is_missing(error) and str(error).strip():  # the step's own error; its calls' are shown above
        called = {f"tool {c.get('name')} failed:" for c in calls if isinstance(c, Mapping) and c.get("error")}
        own = [part for part in str(error).split("; ") if not any(part.startswith(t) for t in called)]
        if own:
            call_lines.append(("Recorded error: " if language == "en" else "记录的错误：") + "; ".join(own).strip())
    steps = row.get("steps")
    user = _AGENT_USER_TEMPLATES[(kind, language)].format(
        agent=str(row.get("system") or none),
        question=question.strip(),
        tools="\n".join(f"- {t}" for t in tools) or none,
        tool_calls="\n".join(call_lines) or none,
        steps=none if is_missing(steps) or not str(steps).strip() else str(steps).strip(),
        answer=answer.strip() or none,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
