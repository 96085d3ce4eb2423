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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from misattribution.format import DEFAULT_ORDER, FORMAT_HEADINGS, format_instructions
from misattribution.io.tables import is_missing
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
    criteria_block = f"{_CRITERIA_HEADING[language]}\n{criteria.strip()}\n\n" if criteria and criteria.strip() else ""
    user = template.user.format(
        criteria_block=criteria_block,
        question=question.strip(),
        answer=answer.strip(),
        reference=str(reference).strip() if has_reference else "",
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


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
    if not is_missing(error) and str(error).strip():
        call_lines.append(("Recorded error: " if language == "en" else "记录的错误：") + str(error).strip())
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
