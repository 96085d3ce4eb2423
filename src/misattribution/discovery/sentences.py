"""Judge feedback → sentences and claims → the critical ones.

Three steps, each a pure function of text (plus embeddings for the last):

* :func:`split_sentences` cuts a critique into sentences (English and Chinese punctuation, lines,
  list markers), drops boilerplate such as ``Final Score:``, strips criterion labels such as
  ``**Accuracy & Completeness**:``, and cuts a sentence at a contrast (``..., but ...``, ``……，但……``)
  so that praise and criticism end up in different claims;
* :func:`abstract_sentence` masks what is specific to one question (numbers, formulas and the words
  of the row's own question) so that sentences group by the *kind* of problem, not by the topic of the
  question: "stated 3 hours instead of 2 hours" and "stated $40 instead of $45" look alike after it;
* :class:`CriticalityScorer` decides which claims name a *shortcoming* of the answer (an error, an
  omission, a violated instruction, an unsupported claim), as opposed to praise, neutral description,
  scoring rationale ("the score should reflect ...") and improvement ideas that name no fault ("could
  be more concise"): a logistic regression over the claim's embedding (English), Chinese character
  n-grams and lexical cue counts, fitted on built-in remarks and the labelled sentences shipped in
  ``criticality_examples.jsonl``, plus lexical rules for rationale, cleared criticism ("no errors",
  "does not introduce external facts") and fault-free ideas. ``benchmarks/bench_criticality.py``
  measures it on held-out labelled sentences.

>>> split_sentences("The answer is right. However, the units are missing.\\n\\nFinal Score: 2")
['The answer is right.', 'However, the units are missing.']
>>> split_sentences("计算过程清晰，但最终答案错误。缺少单位。")
['计算过程清晰', '但最终答案错误。', '缺少单位。']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# -- splitting ----------------------------------------------------------------------------------------
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "Mr.", "Mrs.", "Ms.", "Dr.", "St.", "No.", "Fig.")
_ABBREV_GUARD = "\x00"
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[*]*[A-Z0-9])|(?<=[。！？!?；;])\s*")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•·]+|#+|\(?\d{1,2}[.)]|\(?[a-zA-Z][.)](?=\s)|[.)])\s*")
_LABEL_PREFIX = re.compile(r"^\s*[\w&/' -]{2,48}?\s*[:：]\s*(?=\S)")
_MARKUP = re.compile(r"\*\*|__|`")
_CONTRAST_EN = re.compile(
    r",\s+(?=(?:but|however|although|though|yet|whereas|while|except that)\b)|;\s+|\s+(?=but\s)", re.IGNORECASE
)
_CONTRAST_ZH = re.compile(r"[，,]\s*(?=(?:但是|但|然而|不过|可是|却))")
_BOILERPLATE = re.compile(
    r"^\s*(?:final\s+)?(?:score|rating|grade|verdict|result|evaluation)\s*[:：=]?\s*[\d./ ]*(?:out of \d+)?\s*$"
    r"|^\s*\[?result\]?\s*[:：]?\s*\d*\s*$"
    r"|^\s*(?:最终)?(?:得分|分数|评分|打分|评级)\s*[:：]?\s*[\d./ ]*分?\s*$",
    re.IGNORECASE,
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_EQUATION_START = re.compile(r"^[^.,;:=]{0,60}=")
_FORMULA_CHARS = re.compile(r"[\d=+×÷*/^%$€£<>≥≤()\[\]]")
_WHITESPACE = re.compile(r"\s")


def split_sentences(text: str | None, *, min_words: int = 3, max_formula_share: float = 0.35) -> list[str]:
    """The sentences and claims of one critique, in order, without boilerplate.

    Args:
        text: the judge's feedback (``None`` or blank gives ``[]``).
        min_words: shorter pieces are dropped (Chinese: ``min_words`` characters or fewer).
        max_formula_share: pieces whose non-space characters are more than this share digits, operators
            and brackets are worked calculations, not claims about the answer: dropped.

    Judges repeat their lines and sentences across rows: each distinct line, and each distinct sentence
    of a line, is cut once per process (bounded caches), so a million critiques cost their distinct lines.
    """
    if not text or not str(text).strip():
        return []
    pieces: list[str] = []
    for line in str(text).splitlines():
        pieces += _line_claims(line, min_words, max_formula_share)
    return pieces


@lru_cache(maxsize=1 << 16)
def _line_claims(line: str, min_words: int, max_formula_share: float) -> tuple[str, ...]:
    """The claims of one line of a critique (:func:`split_sentences`), cached per distinct line."""
    if "**" in line or "__" in line or "`" in line:  # what _MARKUP removes
        line = _MARKUP.sub("", line)
    line = line.strip()
    if not line or _BOILERPLATE.match(line):
        return ()
    if "." in line:  # every abbreviation has a full stop
        for abbreviation in _ABBREVIATIONS:
            if abbreviation in line:
                line = line.replace(abbreviation, abbreviation.replace(".", _ABBREV_GUARD))
    claims: list[str] = []
    for sentence in _SENTENCE_END.split(line):
        claims += _sentence_claims(sentence.replace(_ABBREV_GUARD, "."), min_words, max_formula_share)
    return tuple(claims)


@lru_cache(maxsize=1 << 17)
def _sentence_claims(sentence: str, min_words: int, max_formula_share: float) -> tuple[str, ...]:
    """The claims of one sentence, cleaned and filtered, cached per distinct sentence."""
    claims = []
    for claim in _split_claims(sentence):
        claim = _clean_piece(claim)
        if claim and _is_claim(claim, min_words, max_formula_share):
            claims.append(claim)
    return tuple(claims)


def _split_claims(sentence: str) -> list[str]:
    """Cut at a contrast, keeping the contrast word with the second claim; never leave a stub."""
    parts = _CONTRAST_ZH.split(sentence) if _CJK.search(sentence) else _CONTRAST_EN.split(sentence)
    merged: list[str] = []
    for part in parts:
        if merged and (_is_stub(part) or _is_stub(merged[-1])):
            glue = "，" if _CJK.search(part) else " "
            merged[-1] = f"{merged[-1]}{glue}{part}"
        else:
            merged.append(part)
    return merged


def _is_stub(text: str) -> bool:
    """Too short to stand as a claim: fewer than 4 English words or 4 Chinese characters."""
    cjk = len(_CJK.findall(text))
    return cjk < 4 if cjk else len(_WORD.findall(text)) < 4


def _clean_piece(piece: str) -> str:
    piece = _LIST_MARKER.sub("", piece.strip())
    label = _LABEL_PREFIX.match(piece)
    # "Accuracy & Completeness: The final answer ..." → drop the criterion label, keep the claim.
    if label and len(label.group(0).split()) <= 6 and not _BOILERPLATE.match(piece):
        piece = piece[label.end() :]
    piece = piece.strip(" \t,;:-")
    return piece[:1].upper() + piece[1:] if piece[:1].islower() and not _CJK.search(piece[:1]) else piece


def _is_claim(piece: str, min_words: int, max_formula_share: float) -> bool:
    if _BOILERPLATE.match(piece):
        return False
    cjk = len(_CJK.findall(piece))
    if cjk:
        if cjk <= min_words:
            return False
    elif len(_WORD.findall(piece)) < min_words:
        return False
    if "=" in piece and (len(_WORD.findall(piece)) < 8 or _EQUATION_START.match(piece)):
        return False  # "Books sold in year two = 65": a worked step, not a claim
    dense = _WHITESPACE.sub("", piece)
    return len(_FORMULA_CHARS.findall(dense)) <= max_formula_share * max(len(dense), 1)


# -- abstraction -----------------------------------------------------------------------------------------
_STOPWORDS = frozenset(
    """a an the and or of to in on at for from by with as is are was were be been being it its this that these
    those there their they them he she his her him we our you your i me my not no nor but if then than so too
    very can could should would will shall may might must do does did done has have had having into onto over
    under about after before again further once all any both each few more most other some such only own same
    just what which who whom when where why how up down out off while during above below between through also
    per each every how much many model response answer""".split()
)
_NUMBER = re.compile(r"[$€£¥]?\d[\d,]*(?:\.\d+)?%?")
_EQUATION = re.compile(r"[^,;:.]*=[^,;:.]*")
_QUOTED = re.compile(r"\"[^\"]{1,80}\"|“[^”]{1,80}”")


def content_words(question: str | None) -> frozenset[str]:
    """Lower-cased words of a question that say what it is about (stopwords and short words left out)."""
    if not question:
        return frozenset()
    words = {w.casefold().strip("'’") for w in _WORD.findall(str(question))}
    return frozenset(w for w in words if len(w) > 2 and w not in _STOPWORDS)


# Openers that say how a claim relates to the previous one, not what it claims.
_OPENER = re.compile(
    r"^(?:(?:however|but|although|though|yet|still|also|additionally|furthermore|moreover|firstly|secondly|"
    r"thirdly|first|second|third|then|next|finally|lastly|overall|thus|therefore|hence|consequently|unfortunately|"
    r"notably|nonetheless|nevertheless|specifically|in addition|on the other hand|that said|"
    r"(?:in terms of|regarding|concerning|as for|when it comes to|with respect to) [^,.;:]{3,60}[,:]|"
    r"it(?:'s| is) (?:worth noting|important to note|notable) that|upon (?:closer )?(?:examination|review)|"
    r"(?:there )?(?:seems|appears) to be|it (?:seems|appears) that|"
    r"(?:one|the|another|a|the main|the only|the key|the biggest) (?:problem|issue|concern|weakness|flaw|shortcoming)"
    r"(?: here)? (?:is|was) that)\b[\s,:]*)+"
    r"|^(?:但是|但|然而|不过|可是|此外|另外|首先|其次|最后|总体来说|总的来说)[，,\s]*",
    re.IGNORECASE,
)


def strip_opener(sentence: str) -> str:
    """``sentence`` without leading contrast words, ordinal words and hedges ("However, it seems that ...").

    >>> strip_opener("However, it's worth noting that the units are missing.")
    'the units are missing.'
    >>> strip_opener("One problem is that the agent ignores the request.")
    'the agent ignores the request.'
    """
    # Every alternative of _OPENER is anchored at the start: a match there is what ``sub(count=1)`` would
    # replace, without the scan of every other position that a search makes.
    opener = _OPENER.match(sentence)
    stripped = (sentence[opener.end() :] if opener else sentence).lstrip(" ,:;")
    return stripped if _WORD.search(stripped) or _CJK.search(stripped) else sentence


# The generic subject of a judge's remark says who, not what: "The model's response lacks units."
_SUBJECT = re.compile(
    r"^(?:the |this |its )?(?:model's |model’s |assistant's |ai's )?"
    r"(?:response|answer|model|solution|output|assistant|reply)(?:'s)?\s+(?:itself\s+|also\s+|then\s+)?"
    r"|^(?:it|they)\s+(?:also\s+|then\s+)?",
    re.IGNORECASE,
)


def strip_subject(sentence: str) -> str:
    """``sentence`` without a generic leading subject ("The model's response", "The answer", "It").

    >>> strip_subject("The model's response omits the units.")
    'omits the units.'
    """
    subject = _SUBJECT.match(sentence)  # anchored, as _OPENER in strip_opener
    stripped = sentence[subject.end() :] if subject else sentence
    return stripped if _WORD.search(stripped) else sentence


# Sentence adverbs and hedges colour a remark without changing what it is about.
_HEDGE_WORDS = re.compile(
    r"\b(?:apparently|evidently|clearly|obviously|unfortunately|sadly|also|again|somewhat|slightly|rather(?! than)|"
    r"quite|really|actually|basically|simply|just|perhaps|possibly|probably|seemingly|certainly|definitely)\b,?\s*",
    re.IGNORECASE,
)


_ELLIPSES = re.compile(r"(?:…\s*){2,}")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")
_SPACES = re.compile(r"\s{2,}")


def abstract_sentence(sentence: str, specific: Iterable[str] = ()) -> str:
    """``sentence`` without its opener, with numbers, equations, quotes and question-specific words masked.

    >>> abstract_sentence("However, the model stated 3 hours instead of 2 hours for Marissa.", {"hours", "marissa"})
    'Stated # … instead of # … for ….'
    """
    specific = set(specific)
    text = _HEDGE_WORDS.sub("", strip_subject(strip_opener(sentence)))
    text = text[:1].upper() + text[1:]
    # Each substitution below is skipped when the character it needs is absent (same text, less scanning).
    if "=" in text:
        text = _EQUATION.sub(" = ", text)
    if '"' in text or "“" in text:
        text = _QUOTED.sub("“…”", text)
    text = _NUMBER.sub("#", text)
    if specific:
        text = _WORD.sub(lambda m: "…" if m.group(0).casefold().strip("'’") in specific else m.group(0), text)
    if "…" in text:
        text = _ELLIPSES.sub("… ", text)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


# -- criticality -----------------------------------------------------------------------------------------
# The built-in sets the criticality classifier learns from (with criticality_examples.jsonl): short, generic
# judge remarks in English and Chinese, one tuple per label of CRITICALITY_LABELS.
CRITICAL_EXAMPLES = (
    "The final answer is incorrect.",
    "The model made a calculation error.",
    "There is an arithmetic mistake in one of the steps.",
    "The response misinterprets the question.",
    "The model misunderstood what the problem was asking.",
    "The response fails to address part of the question.",
    "The explanation is incomplete and skips important steps.",
    "The reasoning is flawed and the conclusion does not follow.",
    "The response does not follow the instructions.",
    "The answer omits important details.",
    "The response is unnecessarily long and overly complicated.",
    "The explanation is confusing and hard to follow.",
    "The response contains information that is not supported by the reference.",
    "The model invents facts that are not true.",
    "The units of the answer are missing.",
    "The final answer is not clearly stated.",
    "The model overlooked an important condition.",
    "It should have checked its result.",
    "The answer is inconsistent with the calculation.",
    "The model used the wrong number in the calculation.",
    "The model subtracted when it should have added.",
    "The model counted the same items twice.",
    "The model confused two different quantities.",
    "The model skipped a step in its reasoning.",
    "The result is off because a value was rounded too early.",
    "The model applied the rate to the wrong time period.",
    "The response includes irrelevant details.",
    "The model made an unjustified assumption.",
    "The answer contradicts itself.",
    "The output is not in the required format.",
    "The response stops before answering the whole question.",
    "There is a gap in the logic.",
    "The percentage was applied to the wrong amount.",
    "最终答案是错误的。",
    "计算过程中出现了错误。",
    "回答误解了题目的意思。",
    "回答没有完整地回答问题。",
    "解释不够清晰，难以理解。",
    "回答遗漏了关键信息。",
    "The model adds the two prices instead of multiplying them.",
    "Its final figure of 54 does not match the expected result of 45.",
    "The response ignores the discount mentioned in the second sentence of the problem.",
    "Unfortunately, the subtraction in step three is wrong.",
    "The answer never states the final number explicitly.",
    "The explanation jumps straight to the result without showing any work.",
    "The model treats the weekly rate as a daily rate.",
    "However, it forgets to convert minutes into hours.",
    "The response is padded with irrelevant background about the history of farming.",
    "The conclusion contradicts the numbers computed earlier.",
    "Several steps are repeated, which makes the solution hard to read.",
    "The model rounds the intermediate value too early, so the total is off by one.",
    "The response cites a study that does not exist.",
    "The claim about the capital city is not supported by the provided document.",
    "The output is not in the requested JSON format.",
    "The model answered a different question from the one asked.",
    "There is a sign error when computing the change in temperature.",
    "The percentage is applied to the wrong base amount.",
    "The response stops halfway and leaves the last part unanswered.",
    'The model misreads "twice as many" as "half as many".',
    "The reasoning contains a logical gap between steps two and three.",
    "The model double counts the eggs used for baking.",
    "But the final answer is presented without units.",
    "The writing is vague and it is unclear which quantity is being computed.",
    "The answer is overly verbose for such a simple question.",
    "It assumes information that is not given in the problem.",
    "The model should have divided by the number of people.",
    "The response mixes up the two characters in the story.",
    "The translation drops the second clause entirely.",
    "模型把乘法算成了加法。",
    "回答没有给出最终结果。",
    "解题步骤跳跃太大，读者很难跟上。",
    "但是单位换算出现了错误。",
    "回答中引用的数据在参考资料中找不到。",
    "It books the flight for the wrong day.",
    "The agent sends the email to the wrong recipient.",
    "The tool is called with the customer's name in the order-number field.",
    "It reports the task as done although the last command returned an error.",
    "The agent deletes the file instead of archiving it.",
    "The final answer relies on a search result about a different product.",
    "The summary says the meeting moved to Monday; the transcript says Tuesday.",
    "The cited passage says nothing about refunds.",
    "The function returns None when the list is empty, which the caller does not expect.",
    "The patch changes the public signature and breaks every existing caller.",
    "The loop exits one iteration early, so the last record is never written.",
    "It writes the answer in French although the user wrote in German.",
    "The reply ignores the second half of the user's message.",
    "Only two of the five requested examples are given.",
    "The recipe uses butter even though the user is vegan.",
    "The response recommends a hotel far above the stated budget.",
    "The code sorts the list as strings, so 10 comes before 9.",
    "The query joins on the wrong column and duplicates every order.",
    "The agent keeps calling the same tool with the same arguments.",
    "It never tells the user that the document could not be opened.",
    "The explanation and the code disagree about the default value.",
    "The response repeats the same paragraph three times.",
    "Most of the answer is filler unrelated to the question.",
    "The model gives 15 where the correct total is 12.",
    "It answers a question about climate with facts about weather.",
    "The answer stops mid-sentence.",
    "The date format does not match what the tool schema requires.",
    "The statistic it quotes appears in none of the sources.",
    "The refusal is unjustified: the request is harmless.",
    "It treats the discount as a fixed amount rather than a percentage.",
    "智能体把会议订在了错误的日期。",
    "调用工具时把用户名填进了订单号字段。",
    "最后一条命令报错了，它却告诉用户任务已完成。",
    "回答引用的段落与退款无关。",
    "摘要说会议改到了周一，原文写的是周二。",
    "补丁修改了公开接口，导致所有调用方都无法运行。",
    "循环少执行了一次，最后一条记录没有写入。",
    "用户用中文提问，回答却是英文。",
    "只给出了要求的五个例子中的两个。",
    "推荐的酒店远超用户的预算。",
    "查询连接了错误的列，每个订单都被重复计算。",
    "同一段话重复了三遍。",
    "回答大部分是与问题无关的套话。",
    "模型给出的是15，正确的总数是12。",
    "回答在句子中间就断了。",
    "引用的统计数字在所有资料中都找不到。",
    "这个请求完全无害，拒绝回答没有道理。",
    "把折扣当成了固定金额，而不是百分比。",
    "代码把数字当作字符串排序，10 排在了 9 前面。",
    "智能体反复用相同参数调用同一个工具。",
)
PRAISE_EXAMPLES = (
    "The final answer is correct.",
    "The calculations are accurate.",
    "The response is clear and easy to follow.",
    "The model correctly interprets the question.",
    "The response follows the instructions.",
    "The explanation is complete and well structured.",
    "The reasoning is logical and coherent.",
    "The response fully addresses the question.",
    "The model breaks the problem down into clear steps.",
    "The response is relevant and concise.",
    "The answer is factually accurate and complete.",
    "The response demonstrates a good understanding of the problem.",
    "The model correctly calculates the total.",
    "Overall, the response is of high quality.",
    "There are no errors in the solution.",
    "Nothing important is missing from the answer.",
    "The response does not contain any mistakes.",
    "The model handles every part of the problem.",
    "Each step is easy to check.",
    "The answer is supported by the given context.",
    "The response stays focused on the question.",
    "The formula is used appropriately.",
    "The output matches the requested format.",
    "The answer matches the reference.",
    "最终答案正确。",
    "计算过程准确无误。",
    "回答清晰易懂，结构合理。",
    "回答完整地回答了问题。",
    "The model correctly multiplies the price by the quantity.",
    "Each step is explained in plain language.",
    "The response does not omit any critical details.",
    "There are no errors in the computation.",
    "However, the response is well organised and easy to read.",
    "The final answer of 18 dollars matches the expected result.",
    "The solution is concise and to the point.",
    "The model handles the unit conversion properly.",
    "It accounts for every person mentioned in the question.",
    "The answer is grounded in the supplied passage.",
    "The structure of the explanation makes it easy to verify each step.",
    "Overall, this is an excellent response.",
    "The model identifies the key quantities right away.",
    "Nothing important is left out.",
    "The response stays on topic throughout.",
    "The output follows the requested JSON format exactly.",
    "The response uses the formula for the area of a rectangle appropriately.",
    'The model"s arithmetic is flawless.',
    "计算结果准确，步骤清楚。",
    "回答紧扣题意，没有多余内容。",
    "The agent uses the tool output without adding anything of its own.",
    "No step is wasted.",
    "It does not introduce any claim beyond the retrieved passages.",
    "No unsupported assumptions are made.",
    "No external facts are added.",
    "Nothing is omitted.",
    "There is nothing to criticise here.",
    "But the answer still covers every case the user could mean.",
    "However, the final result is right.",
    "The patch keeps the existing tests green.",
    "Every claim carries a citation to the right passage.",
    "The agent recovers from the tool error and retries with corrected arguments.",
    "It asks a clarifying question before acting, which is the right call.",
    "The reply is short and answers exactly what was asked.",
    "The explanation is accurate and the example runs as shown.",
    "Each step of the calculation is right.",
    "It correctly declines the harmful request and offers a safe alternative.",
    "智能体直接使用了工具返回的结果，没有自行添加内容。",
    "没有多余的步骤。",
    "没有引入检索段落之外的说法。",
    "没有做任何无依据的假设。",
    "没有遗漏任何要点。",
    "不过最终结果是对的。",
    "每一条说法都标注了正确的出处。",
    "回答简短，正好回答了用户的问题。",
    "解释准确，示例代码可以直接运行。",
    "每一步计算都是对的。",
    "工具报错后，智能体修正参数重新调用，处理得当。",
    "回答直接回应了问题，条理清楚。",
    "整体完成得很好。",
)
NEUTRAL_EXAMPLES = (
    "To evaluate the response, we consider the criteria.",
    "Let us look at each criterion in turn.",
    "The question asks how much money she makes in a day.",
    "The problem states that there are five apples in the basket.",
    "The correct calculation is three times four, which equals twelve.",
    "The total cost is the sum of the two prices.",
    "Given these considerations, the score is as follows.",
    "The reference answer gives the final value.",
    "The response was evaluated on accuracy, completeness and clarity.",
    "The train travels at sixty miles per hour for two hours.",
    "She buys three shirts and two pairs of shoes.",
    "In the first step, the model computes the weekly total.",
    "The task is to find the number of students in the class.",
    "The remaining amount is 200 minus 180, which equals 20.",
    "The number of books sold in the second year is 65.",
    "This means she has 24 points after the second round.",
    "So the total time is two hours.",
    "The model's response attempts to solve the problem.",
    "Based on this evaluation, the score is assigned.",
    "The model was asked to solve a word problem and explain its steps.",
    "This does not significantly affect the overall quality.",
    "题目要求计算总价。",
    "参考答案给出了最终结果。",
    "根据以上分析，给出评分。",
    "The question asks how many eggs are left after breakfast.",
    "The problem gives the price of one ticket as 12 dollars.",
    "We will assess the response on three criteria.",
    'First, let"s consider accuracy.',
    "The expected result is obtained by multiplying 16 by 2.",
    "Taking all of this into account, here is the score.",
    "The task is to compute the total distance travelled.",
    "The reference solution subtracts the eggs used from the eggs laid.",
    "In the second step, the model computes the weekly total.",
    "The evaluation considers relevance, accuracy and clarity.",
    "John drives for three hours at 60 miles per hour.",
    "题目问的是一共需要多少钱。",
    "下面从准确性和完整性两个方面进行评价。",
    "But the user asked for a bulleted list.",
    "The user explicitly asked for an answer under 50 words.",
    "The student said at the start that they did not want the final answer.",
    "The retrieved passages do not mention the price.",
    "The range function excludes its stop value, so 10 is not included.",
    "The correct command is git stash pop.",
    "A correct answer would list the three causes and their dates.",
    "The agent's task was to cancel the second order.",
    "The tool returns a JSON object with the status and the tracking number.",
    "The question is about the difference between the two functions.",
    "用户要求用表格列出结果。",
    "但用户明确说过不要使用方程。",
    "检索到的段落里没有提到价格。",
    "正确的写法是用 with 语句打开文件。",
    "智能体的任务是取消第二个订单。",
    "工具返回的是包含状态和单号的 JSON。",
)

# Scoring rationale: about the grade, not the answer (a fault it names is stated by another sentence).
RATIONALE_EXAMPLES = (
    "Considering the evaluation criteria and the calculation mistake, the score is 2.",
    "The score should reflect the error in the final calculation.",
    "Given the mistake, a score of 3 out of 5 is appropriate.",
    "Because of this error, the response cannot receive a perfect score.",
    "考虑到计算错误，评分为2分。",
    "This does not change the outcome much.",
    "This is a minor point.",
    "That is outside the scope of the request, so it does not lower the score.",
    "Given the error, a score of 2 is appropriate.",
    "The score reflects the unsupported claim.",
    "It is not the lowest possible score, since part of the answer is right.",
    "For these reasons I give it a 3.",
    "这只是小问题。",
    "考虑到这个错误，给2分比较合适。",
    "分数反映了这处无依据的说法。",
    "部分内容是对的，所以不至于给最低分。",
)
# Improvement ideas that name no fault of this answer.
SUGGESTION_EXAMPLES = (
    "It could be a little shorter.",
    "A short summary at the end might help.",
    "A potential improvement would be to add a table.",
    "It might be worth mentioning the time complexity.",
    "Perhaps an example would make the explanation easier to follow.",
    "结尾可以加一句总结。",
    "或许可以补充一个例子。",
    "如果能用表格对比会更直观。",
)

# Lexical cues, each with a weight: error words (1), negated praise (1), suggestions (2: "could be more
# concise" names a shortcoming in praise words), contrast and bare negation (0.5); against them praise
# words (1), cleared criticism (1.5: "no errors", "does not detract") and concession (0.5: "despite").
_ERROR_CUES = re.compile(
    r"\b(?:incorrect\w*|wrong\w*|errors?|erroneous\w*|mistak\w*|fail\w*|miss(?:es|ed|ing)?|lack\w*|omit\w*|"
    r"omission\w*|neglect\w*|overlook\w*|double[- ]count\w*|misinterpret\w*|misunderst\w*|misread\w*|misappl\w*|"
    r"miscalculat\w*|inaccura\w*|incomplete\w*|inconsisten\w*|unnecessar\w*|irrelevant|confus\w*|unclear|"
    r"flawed|flaws?|issues?|problematic|oversight|ignor\w*|instead of|should have|could have|would have|"
    r"improv\w*|minor|slight\w*|deduct\w*|unfortunately|overly|redundan\w*|verbose|falls? short|compromis\w*|"
    r"mislead\w*|discrepanc\w*|contradict\w*|invalid|unsupported|hallucinat\w*|fabricat\w*|forg[eo]t\w*|"
    r"invent\w*|made[- ]up|makes? up|wordy|padded|filler|vague|ambiguous|off[- ]topic|truncat\w*|untrue|lengthy|"
    r"rambl\w*|violat\w*|disregard\w*)\b",
    re.IGNORECASE,
)
_WEAK_CUES = re.compile(r"\b(?:not|no|never|n't|cannot|without|however|but|although|though|yet)\b", re.IGNORECASE)
_PRAISE_CUES = re.compile(
    r"\b(?:correct|correctly|accurate|accurately|clear|clearly|well|excellent\w*|excels?|good|great|strong|"
    r"effective\w*|logical\w*|coherent\w*|complete|completely|fully|concise|relevant|appropriate\w*|"
    r"thorough\w*|easy to (?:follow|understand)|adheres?|high quality|demonstrates?|reasonable|acceptable|"
    r"valid|sound|precise\w*|properly|successfully|commendable|notable)\b",
    re.IGNORECASE,
)
_CONCESSION = re.compile(r"\b(?:despite|nevertheless|nonetheless|regardless|overall)\b", re.IGNORECASE)
_NEGATED_PRAISE = re.compile(
    r"\b(?:not|n't|never|no longer|fails? to|lacks?)\s+(?:\w+\s+){0,2}?(?:correct\w*|accurate\w*|clear\w*|"
    r"complete\w*|fully|address\w*|follow\w*|consider\w*|relevant|provide\w*|reflect\w*|account\w*)\b",
    re.IGNORECASE,
)
# "no errors", "does not omit", "nothing is missing": criticism words under a negation are praise.
_NEGATED_CRITICISM = re.compile(
    r"\b(?:no|not|n't|never|nothing|without|free of|any)\s+(?:\w+\s+){0,2}?(?:errors?|mistakes?|issues?|problems?|"
    r"flaws?|omit\w*|miss\w*|left out|inaccuracies|irrelevant|unnecessary|confusion|detract\w*|impact\w*|"
    r"affect\w*)\b|\bflawless\w*",
    re.IGNORECASE,
)
# A suggestion names a shortcoming even when it is phrased with praise words ("could be more concise").
_SUGGESTION = re.compile(
    r"\b(?:could|should|would|might|may)\s+(?:\w+\s+){0,2}?(?:be|have been|have)\s+(?:\w+\s+){0,2}?"
    r"(?:more|less|better|clearer|shorter|simpler|improved|clarified|summari[sz]ed|combined|simplified|stated|"
    r"explained|included|mentioned|provided|used|checked|verified|avoided|omitted)\b"
    r"|\b(?:area|room) for improvement\b|\bpotential improvement\b|\bcould (?:improve|benefit)\b",
    re.IGNORECASE,
)
_SUGGESTION_ZH = re.compile(r"(?:可以|应该|应当|最好)(?:更|再|进一步)|有待(?:改进|提高)|建议")
_ERROR_CUES_ZH = re.compile(r"错|误|未能|缺少|缺乏|遗漏|忽略|不正确|不准确|不清晰|不完整|不够|偏离|冗长|混乱|矛盾|问题")
_WEAK_CUES_ZH = re.compile(r"没有|不|但|然而|不过|却")
_PRAISE_CUES_ZH = re.compile(r"正确|准确|清晰|完整|合理|很好|优秀|流畅|恰当")
_NEGATED_PRAISE_ZH = re.compile(r"不(?:正确|准确|清晰|完整|合理)")
_NEGATED_CRITICISM_ZH = re.compile(r"(?:没有|无|不存在)(?:任何)?(?:错误|问题|多余|遗漏|偏差)|无误")


def cue_score(sentence: str) -> float:
    """Lexical evidence of criticism in (-1, 1): ``tanh(critical evidence - praising evidence)``.

    >>> round(cue_score("The final answer is incorrect."), 2), round(cue_score("The final answer is correct."), 2)
    (0.76, -0.76)
    >>> cue_score("There are no errors.") < 0 < cue_score("It could be more concise.")
    True
    """

    def count(*patterns: re.Pattern[str]) -> int:
        return sum(len(p.findall(sentence)) for p in patterns)

    suggestions = count(_SUGGESTION, _SUGGESTION_ZH)
    sentence = _SUGGESTION_ZH.sub(" ", _SUGGESTION.sub(" ", sentence))
    cleared = count(_NEGATED_CRITICISM, _NEGATED_CRITICISM_ZH)
    sentence = _NEGATED_CRITICISM_ZH.sub(" ", _NEGATED_CRITICISM.sub(" ", sentence))
    negated = count(_NEGATED_PRAISE, _NEGATED_PRAISE_ZH)
    sentence = _NEGATED_PRAISE_ZH.sub(" ", _NEGATED_PRAISE.sub(" ", sentence))
    critical = count(_ERROR_CUES, _ERROR_CUES_ZH) + negated + 2 * suggestions + 0.5 * count(_WEAK_CUES, _WEAK_CUES_ZH)
    praising = count(_PRAISE_CUES, _PRAISE_CUES_ZH) + 1.5 * cleared + 0.5 * count(_CONCESSION)
    return float(np.tanh(critical - praising))


# -- the criticality classifier's lexical features --------------------------------------------------------
_P = re.IGNORECASE
# Criticism under a negation is praise: "no errors", "does not introduce external facts", "No unsupported
# unit conversions are attempted", "nothing beyond what the tool returned".
_CLEARED = re.compile(
    r"\b(?:no|not|n't|never|nothing|without|free (?:of|from)|any)\s+(?:\w+\s+){0,3}?(?:errors?|mistakes?|issues?|"
    r"problems?|flaws?|bugs?|omit\w*|miss\w*|left out|inaccurac\w*|irrelevant|unnecessary|unsupported|wasted|"
    r"confusion|ambiguit\w*|detract\w*|impact\w*|affect\w*|introduc\w*|add\w*|outside|external|beyond|hallucinat\w*|"
    r"fabricat\w*|contradict\w*|slips?|trouble)\b|\bflawless\w*|"
    # "Nothing in the draft is padded or repeated": no part of the answer has the fault
    r"\bnothing (?:\w+\s+){0,4}?(?:is|was|are|were|gets?|got|seems?|looks?) (?:\w+\s+)?"
    r"(?:padded|repeated|invented|made up|wrong|incorrect|fabricated|missing|broken|duplicated|irrelevant|redundant|"
    r"off-topic|out of date)(?:,?\s+(?:or|and|nor)?\s*(?:padded|repeated|invented|made up|wrong|incorrect|fabricated|"
    r"missing|broken|duplicated|irrelevant|redundant|off-topic|out of date))*\b|\bnothing (?:significant|important|major) to critici[sz]e|\bno (?:further )?"
    r"(?:issues|complaints)\b",
    _P,
)
# What the answer fails to do, without an error word: "does not keep the changes", "doesn't help".
_NEGATED_ACTION = re.compile(
    r"(?:\bnot|n't|\bnever|\bno longer|\bcannot|\bcan't)\s+(?:\w+\s+)?(?:help|keep|work|answer\w*|accomplish\w*|do what|"
    r"match\w*|fit|use[sd]?|give[sn]?|state[sd]?|mention\w*|respect\w*|meet|cover\w*|explain\w*|check\w*|save|"
    r"solve[sd]?|compare|distinguish\w*|appear\w*|exist\w*|support\w*|deliver\w*|compile|run|parse[sd]?|"
    r"return\w*|handle[sd]?|close[sd]?)\b|\buntil the (?:final|last|end)\b|\bdifferent question\b|"
    r"(?<!required )(?<!requires )(?<!asked for )(?<!wanted )(?<!requested )\bonly (?:about )?(?:a|one|half|part)\b",
    _P,
)
# Fault words :func:`cue_score` does not know (and "disregard", "violat", which it also counts: taking them out
# of this feature moved the fitted weights and cost the general planted dev pool recovery F1 0.787 -> 0.752).
_MORE_FAULTS = re.compile(
    r"\b(?:false|falsely|refus\w*|declin\w*|skip\w*|distort\w*|mid-(?:sentence|word)|abrupt\w*|breaks? off|"
    r"left out|leaves? out|off by|invalid|unsafe|harm\w*|dangerous|misattribut\w*|misrepresent\w*|misidentif\w*|"
    r"wrongly|mixes up|mixed up|overlaps?|duplicat\w*|repeat\w*|restat\w*|buried|jargon|typos?|misspell\w*|"
    r"not what was asked|do(?:es)? not add up|loops?|broke(?! down)|breaks(?! down)|not true|(?:and|but) (?:got|gets|received)|"
    r"out of date|outdated|stale|obsolete|snide|unfriendly|condescend\w*|belittl\w*|talks? down|scold\w*|rude\w*|"
    r"impatient\w*|dismissive\w*|patroni[sz]\w*|sarcas\w*|exceed\w*|(?:one|another|a (?:major|serious|big)|the (?:main|biggest|key|only|real)) problem (?:is|here|with)|"
    r"(?:runs?|ran|goes|went|is|are) (?:well |far |way )?(?:past|over|beyond) (?:the |its )?(?:word|length|limit|count|"
    r"budget)|disregard\w*|violat\w*|(?:goes|go|went|going|runs?|ran) (?:directly )?against|contrary to|inverted|"
    r"backwards|security (?:risk|hole|flaw|issue)|leak(?:s|ed|ing)?|bloated|redo(?:es|ne)?|redid|unattributed|uncited|"
    r"not attributed|proceeds? as if|outside (?:the |its )?(?:provided|given|retrieved|supplied) (?:sources?|documents?|"
    r"context|data|material)|none of (?:the |its |their )?(?:\w+\s+){1,3}?(?:backs?|supports?|confirms?|mentions?|"
    r"(?:is|are) (?:attributed|cited|sourced)))\b",
    _P,
)
# Scoring rationale: the sentence is about the grade, not the answer.
_RATIONALE = re.compile(
    r"\b(?:the|a|my|its|this|overall|final|evaluation|high|higher|low|lower|perfect|lowest|highest|middling|full|"
    r"maximum) (?:score|rating|grade|marks?)\b|\bscores? (?:highly|well|high|higher|low|poorly)\b|"
    r"\bscore (?:of|should|must|would|reflects?)\b|\b(?:loses?|lost|deduct\w*) (?:\w+ )?points\b|\bdeduct\w* from\b|"
    r"\bdeserves?\b|\bwarrant\w*|\bpenali[sz]\w*|\bI (?:would|will|am) (?:rate|rating|score|scoring|give|giving|"
    r"assign\w*)\b|\brate (?:this|it)\b|\bgive it\b|\bmerits? an?\b|\bcriteria\b|\bpassing (?:score|grade|mark|trajectory|answer|response|run|attempt|solution)\b|\blowest possible\b|"
    r"\bcannot be merged\b|^\d(?:\.\d)?\b|\b(?:an?|the) \d(?:\.\d)? (?:is|seems) (?:fair|appropriate|justified|"
    r"reasonable|right)",
    _P,
)
# Weighing a problem already stated: "this is a minor point", "does not detract from the overall quality".
_WEIGHING = re.compile(
    r"\b(?:a|this is a|is a) minor (?:point|suggestion)|\bminor point\b|\b(?:does not|doesn't|do not|did not|won't|"
    r"would not) (?:significantly |really |much |materially |greatly )?(?:detract|affect|impact|change|matter)\b|\bis (?:optional|not required|outside the scope)|"
    r"\bdoes no harm\b|\bnot (?:required|necessary)\b",
    _P,
)
# An improvement idea: "could be more concise", "a potential improvement would be", "it might be worth".
_IDEA = re.compile(
    r"\b(?:could|might|may)\s+(?:also\s+|simply\s+|even\s+|further\s+|slightly\s+)?(?:be|have|make|mention|add|"
    r"include|use|ask|state|give|provide|offer|help|benefit|improve|consider|remove|present|expand|note|explain|show|"
    r"clarify|start|end|reduce|trim|shorten|summari[sz]e|enhance)\b|\bwould (?:be|have been) (?:better|clearer|"
    r"nicer|more|tighter|helpful|useful)|\bwould make\b|\b(?:potential|possible) (?:improvement|area)|"
    r"\broom for improvement|\bperhaps\b|^consider\b|\b(?:could|might|may|should|to) (?:also )?consider\b|"
    r"\bconsider(?:ing)? (?:adding|including|using|mentioning|providing|making|giving|stating|splitting|a |an )|"
    r"\bworth (?:adding|mentioning|considering)|\b(?:a|as a|in a) follow-up\b(?!\s+(?:question|request|message))|"
    r"\bimproved answer\b",
    _P,
)
# An obligation the answer did not meet is a shortcoming, however politely put.
_OBLIGATION = re.compile(
    r"\bshould(?:n't| not)? have\b|\bshould (?:recommend|use|be|say|mention|include)|\bfail\w*\b|\bneeded\b", _P
)
# Counterfactual obligation ("should have", "应当告诉用户") names what the answer did not do.
_SHOULD_HAVE = re.compile(r"\bshould(?:n't| not)? have\b|\bshould (?:recommend|use|say|mention|include)\b", _P)
_CUE_CONTRAST = re.compile(r"^(?:but|however|yet|whereas|although|though)\b|\b(?:but|however)\b", _P)
_CORRECTION = re.compile(r"\bnot\s+[\d$€£]|\binstead of\b|\brather than\b|, not\b|\bnot as stated\b", _P)
# A restated instruction ("But the user asked for a table") states no fault by itself.
_RESTATED = re.compile(
    r"^(?:but |however,? |yet |although |though |whereas )?(?:(?:it'?s|it is) worth (?:noting|mentioning) that )?"
    r"(?:the |this )?(?:user|student|customer|parent|learner|beginner|"
    r"review request|question|task|problem|prompt)\b[^,;]*\b(?:asked|asks|required|requires|wanted|wants|said|says|"
    r"requested|stated|states|explicitly|was|mentions|mentioned)\b"
    r"|^(?:but |however,? |yet )?[^,;]{0,60}\b(?:was|were|is|are) (?:\w+ly )?(?:excluded|requested|asked for|required|"
    r"forbidden|ruled out|specified) by the (?:user|customer|student|parent|task|question|prompt)\b",
    _P,
)
_COVERS = re.compile(r"\bcovers?\b", _P)
# The judge's own working ("To find the total, we need to add the two costs"): a step of the solution, not a fault
# of the answer, unless the sentence also speaks of the answer.
_WORKING = re.compile(
    r"\bwe\s+(?:need|should|can|must|have to|would|will|get|find|know|calculate|first|then|now|see)\b"
    r"|^(?:to (?:find|calculate|determine|solve|get|compute|work out))\b",
    _P,
)
_ANSWER_WORDS = re.compile(r"\b(?:model|response|answer|assistant|reply|solution|output|agent|it|its)\b", _P)
# "The user asked for 200 words, and the answer has 1400": the second clause states what the answer did.
_ANSWER_CLAUSE = re.compile(
    r"[,;]\s*(?:and|but|yet|while|whereas|so)\s+(?:the |this |its |their )?(?:answer|response|output|reply|draft|model|"
    r"agent|assistant|solution|summary|plan|code)\b",
    _P,
)
# A fault conceded before praise: "Despite this minor issue, the response effectively addresses the request";
# group 1 is what is praised. Weighed like a concession when that part holds no error of its own.
_CONCEDED_FAULT = re.compile(
    r"^(?:despite|notwithstanding|in spite of|apart from|aside from|other than|except for|beyond)\s+(?:this|that|these|"
    r"those|the|its|a|an|some|one|such)?\s*(?:\w+\s+){0,3}?(?:issues?|errors?|mistakes?|problems?|flaws?|oversights?|"
    r"quibbles?|nitpicks?|shortcomings?|slips?|typos?|glitch\w*|lapses?|inaccurac\w+|imperfections?|drawbacks?|weakness\w*|details?)\b[^,]{0,40},\s*"
    r"(.{3,})$",
    _P,
)
# A whole sentence that only weighs what was said before: "But this is a minor quibble.", "That is only a small detail."
_WEIGHED_ONLY = re.compile(
    r"^(?:but |however,? |yet |still,? |admittedly,? )?(?:this|that|it|these|those|which|the latter|the former)\s+"
    r"(?:is|are|was|were|remains?|seems?|appears?|would be)\s+(?:only |just |merely |really |at most )?(?:an? )?"
    r"(?:very |relatively |rather |fairly )?(?:minor|small|slight|trivial|cosmetic|negligible)\s+(?:\w+\s+)?"
    r"(?:points?|issues?|quibbles?|nitpicks?|details?|oversights?|flaws?|concerns?|things?|matters?|imperfections?|"
    r"errors?|problems?)\s*[.!]?$",
    _P,
)

_ERROR_ZH = re.compile(
    r"错|误|未能|缺少|缺乏|遗漏|漏掉|漏算|忽略|忽视|不正确|不准确|不清晰|不完整|不够|偏离|冗长|冗余|啰嗦|混乱|矛盾|编造|虚构|"
    r"凭空|失实|不符|不一致|违背|违反|截断|中断|戛然而止|没有(?:回答|给出|说明|提到|按|遵守|完成|检查|使用)|拒绝|拒答|过长|超出|超过|"
    r"弄反|搞错|张冠李戴|风险|不能|无法|失败|重复|多余|套话|偏难|失真|埋在|严重|隐患"
)
_PRAISE_ZH = re.compile(
    r"正确|准确|清晰|清楚|完整|合理|很好|优秀|流畅|恰当|得体|到位|无误|一致|符合|简洁|高效|忠实|有帮助|实用|好的做法|易读"
)
_CLEARED_ZH = re.compile(
    r"(?:没有|无|未|不存在|未发现|没发现|并未)(?:任何|明显)?(?:的)?(?:发现)?(?:错误|问题|多余|遗漏|偏差|缺陷|添加|引入|加入|"
    r"外部|事实错误|需要批评)|无误|没有(?:添加|引入|加入)"
)
_RATIONALE_ZH = re.compile(r"\d\s*分|满分|评分|得分|打分|给(?:高|低|中等)?分|分数|最低分|合格")
_WEIGHING_ZH = re.compile(r"小问题|不影响|不是必须|无伤大雅|超出了本次|不过这")
_IDEA_ZH = re.compile(r"可以|或许|如果.*(?:会|就)更|会更|可考虑|可以考虑|建议|最好|不妨|更好")
_OBLIGATION_ZH = re.compile(
    r"(?<![回相反适响对供答])(?:应当|应该|应为|应把|应在|应换|应删|应使|应推荐|应说明|应取消|应写|应改)|本应"
)
_CUE_CONTRAST_ZH = re.compile(r"^(?:但|但是|然而|不过|可是|却)|却")
_RESTATED_ZH = re.compile(
    r"^(?:但|但是|不过)?(?:用户|家长|学生|题目|问题)(?:明确|只是|在[^，。]{0,8})?(?:要求|问|说|想|希望)"
)

_FEATURES_EN = (
    _NEGATED_ACTION,
    _MORE_FAULTS,
    _ERROR_CUES,
    _PRAISE_CUES,
    _CLEARED,
    _NEGATED_PRAISE,
    _RATIONALE,
    _WEIGHING,
    _IDEA,
    _OBLIGATION,
    _CUE_CONTRAST,
    _CORRECTION,
)
_FEATURES_ZH = (
    _ERROR_ZH,
    _PRAISE_ZH,
    _CLEARED_ZH,
    _RATIONALE_ZH,
    _WEIGHING_ZH,
    _IDEA_ZH,
    _OBLIGATION_ZH,
    _CUE_CONTRAST_ZH,
)
# A rule's verdict is added to the model's log-odds: strong enough to overrule it, not infinite.
_RULE_PENALTY = 3.0

# The answer finding a problem is praise, however many fault words describe the problem it found: "The
# response correctly identifies the error in the original code", "It also flags that the table does not
# cover the northern region". Not when the verb is negated or failed ("fails to identify"), when the
# object is the answer's own mistake ("identifies the wrong variable"), or when a contrast follows.
_DETECTS = re.compile(
    r"^(?:(?:but|and|also|however|moreover|additionally|furthermore|further)\s*,?\s*)?"
    r"(?:the\s+)?(?:answer|response|assistant|model|agent|reply|solution|explanation|it|she|he|they)\s+"
    r"(?:(?:also|correctly|rightly|helpfully|clearly|properly|even|then|still|explicitly|accurately|successfully)\s+)*"
    r"(?:spots|flags|identifies|catches|notices|recogni[sz]es|points\s+out|warns|reminds|fixes|corrects|detects|"
    r"highlights|acknowledges|avoids)\b(?!\s+(?:the\s+|a\s+|an\s+)?(?:wrong|incorrect|mistaken|irrelevant)\b)",
    re.IGNORECASE,
)
_DETECTS_CONTRAST = re.compile(r"\b(?:but|however|although|though|yet|whereas|fails?|failing)\b", re.IGNORECASE)
_DETECTS_ZH = re.compile(
    r"^(?:但是?|不过|而且|并且|同时|另外)?[，,]?(?:该?回答|模型|回复|它|助手)?(?:还|也|正确地|及时|明确地?|已经)*"
    r"(?:提醒了?|指出了|发现了|识别出|注意到了|覆盖了|记住了|考虑到了)"
)
_DETECTS_FAILED_ZH = re.compile(r"没|未|不(?!过)|但|却|然而|遗漏|忽略")
# "回答正确，…" / "回答简洁，…": a verdict of praise that opens the sentence, with no contrast after it.
_PRAISE_START_ZH = re.compile(r"^(?:该?回答|答案|回复)(?:完全|基本|非常|很)?(?:正确|准确|简洁|清晰|完整)")
_PRAISE_CONTRAST_ZH = re.compile(r"但|却|然而|不过")


def _finds_a_problem(sentence: str, chinese: bool) -> bool:
    """Whether ``sentence`` praises the answer for finding or avoiding a problem (:data:`_DETECTS`).

    >>> _finds_a_problem("The response correctly identifies the error in the original code.", False)
    True
    >>> _finds_a_problem("The response fails to identify the error.", False), _finds_a_problem("It identifies the wrong cause.", False)
    (False, False)
    >>> _finds_a_problem("还提醒了表格不包含北部地区。", True), _finds_a_problem("回答没有提醒用户注意风险。", True)
    (True, False)
    """
    text = sentence.strip()
    if chinese:
        found = _DETECTS_ZH.match(text)
        if found and not _DETECTS_FAILED_ZH.search(text[: found.end()]):
            return True
        return bool(_PRAISE_START_ZH.match(text)) and not _PRAISE_CONTRAST_ZH.search(text)
    found = _DETECTS.match(text)
    return bool(found) and not _DETECTS_CONTRAST.search(text[found.end() :])


def _has_residual_error(sentence: str, chinese: bool) -> bool:
    """Error evidence left once cleared criticism, weighing and improvement words are taken out."""
    if chinese:
        rest = _WEIGHING_ZH.sub(" ", _CLEARED_ZH.sub(" ", sentence))
        return bool(_ERROR_ZH.search(rest) or _CUE_CONTRAST_ZH.search(rest))
    rest = _WEIGHING.sub(" ", _CLEARED.sub(" ", sentence))
    rest = re.sub(r"\b(?:improv\w*|minor|slight\w*|could have|would have|should have)\b", " ", rest, flags=_P)
    return any(p.search(rest) for p in (_ERROR_CUES, _MORE_FAULTS, _NEGATED_ACTION, _NEGATED_PRAISE, _CORRECTION))


def rule_verdict(sentence: str) -> float:
    """The lexical rules' correction to the criticality log-odds: ``-3`` for scoring rationale, for
    weighing a problem and for the answer finding one (:func:`_finds_a_problem`); for the judge's own working
    ("To find the total, we need to add the two costs") that names no fault and not the answer; for cleared
    criticism ("no errors"), fault-free improvement ideas ("could be
    more concise"), restated instructions ("But the user asked for a table") and concessions ("But the
    answer covers both cases anyway") when no error word is left; else ``0``.

    >>> rule_verdict("No unsupported unit conversions are attempted."), rule_verdict("The total is wrong.")
    (-3.0, 0.0)
    >>> rule_verdict("Nothing in the draft is padded or repeated."), rule_verdict("Nothing is said about the risks.")
    (-3.0, 0.0)
    >>> rule_verdict("The score should reflect the model's ability to follow instructions partially.")
    -3.0
    """
    chinese = bool(_CJK.search(sentence))
    if chinese:
        rationale = _RATIONALE_ZH.search(sentence) or _WEIGHING_ZH.search(sentence)
        cleared = _CLEARED_ZH.search(sentence)
        idea = _IDEA_ZH.search(sentence) and not _OBLIGATION_ZH.search(sentence)
        restated = _RESTATED_ZH.search(sentence) or (_CUE_CONTRAST_ZH.search(sentence) and _PRAISE_ZH.search(sentence))
    else:
        rationale = _RATIONALE.search(sentence) or _WEIGHING.search(sentence)
        cleared = _CLEARED.search(sentence)
        idea = _IDEA.search(sentence) and not _OBLIGATION.search(sentence)
        concession = _CUE_CONTRAST.search(sentence) and (_PRAISE_CUES.search(sentence) or _COVERS.search(sentence))
        restated = (_RESTATED.search(sentence) and not _ANSWER_CLAUSE.search(sentence)) or concession
    if rationale or (not chinese and _WEIGHED_ONLY.match(sentence.strip())) or _finds_a_problem(sentence, chinese):
        return -_RULE_PENALTY
    conceded = None if chinese else _CONCEDED_FAULT.match(sentence.strip())
    if conceded and (_PRAISE_CUES.search(conceded.group(1)) or _COVERS.search(conceded.group(1))):
        if not _has_residual_error(conceded.group(1), chinese) and not _ERROR_CUES.search(conceded.group(1)):
            return -_RULE_PENALTY
    if (_OBLIGATION_ZH if chinese else _SHOULD_HAVE).search(sentence):
        return _RULE_PENALTY / 2
    if not chinese and _WORKING.search(sentence) and not _ANSWER_WORDS.search(sentence):
        if not _ERROR_CUES.search(sentence):  # ("only one type per day" and "exceeds $10" are the problem's words)
            return -_RULE_PENALTY
    if (cleared or idea or restated) and not _has_residual_error(sentence, chinese):
        return -_RULE_PENALTY if (cleared or idea) else -2 / 3 * _RULE_PENALTY
    return 0.0


def lexical_features(sentences: Sequence[str]) -> np.ndarray:
    """Per sentence: Chinese or not, :func:`cue_score`, and capped counts of each English and Chinese cue."""
    rows = np.zeros((len(sentences), 2 + len(_FEATURES_EN) + len(_FEATURES_ZH)))
    for i, sentence in enumerate(sentences):
        chinese = bool(_CJK.search(sentence))
        patterns, offset = (_FEATURES_ZH, 2 + len(_FEATURES_EN)) if chinese else (_FEATURES_EN, 2)
        rows[i, 0], rows[i, 1] = float(chinese), cue_score(sentence)
        for j, pattern in enumerate(patterns):
            rows[i, offset + j] = min(len(pattern.findall(sentence)), 3)
    return rows


def lexical_parts(sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lexical_features` and :func:`rule_verdict` of each sentence (what
    :meth:`CriticalityScorer.lexical` weighs; the streamed path computes them once per distinct text)."""
    features = lexical_features(sentences)
    rules = np.fromiter((rule_verdict(s) for s in sentences), dtype=np.float64, count=len(sentences))
    return features, rules


# -- the criticality classifier ------------------------------------------------------------------------
CRITICALITY_LABELS = ("shortcoming", "praise", "neutral", "rationale", "suggestion")
# Labelled feedback sentences shipped with the package: the train splits of the sources in
# benchmarks/data/criticality/ that we may redistribute (the bundled sample's feedback and critiques we
# wrote); their test splits are held out for the benchmark.
CRITICALITY_EXAMPLES_FILE = Path(__file__).with_name("criticality_examples.jsonl")


def criticality_examples() -> list[tuple[str, str]]:
    """``(sentence, label)`` pairs the classifier learns from: the built-in lists, then the shipped file."""
    pairs = [(t, "shortcoming") for t in CRITICAL_EXAMPLES]
    for label, texts in (
        ("praise", PRAISE_EXAMPLES),
        ("neutral", NEUTRAL_EXAMPLES),
        ("rationale", RATIONALE_EXAMPLES),
        ("suggestion", SUGGESTION_EXAMPLES),
    ):
        pairs += [(t, label) for t in texts]
    with CRITICALITY_EXAMPLES_FILE.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                pairs.append((record["text"], record["label"]))
    return pairs


_EXAMPLE_VECTORS: dict[tuple[int, tuple[str, ...]], np.ndarray] = {}


class CriticalityScorer:
    """Scores how much a claim criticises the answer; ``score > threshold`` means it names a shortcoming.

    Only shortcomings count: praise, neutral description, scoring rationale ("the score should
    reflect ...") and improvement ideas that name no fault ("could be more concise") do not. The score is
    the log-odds of a logistic regression plus lexical rules, in two parts so that a sentence embedded
    once can be scored in each of its occurrences:

    * :meth:`semantic`: the sentence embedding's part (English only: all-MiniLM-L6-v2 embeds Chinese
      sentences near one another whatever they say, so a Chinese sentence gets a language bias instead);
    * :meth:`lexical`: cue counts (:func:`lexical_features`), Chinese character n-grams, and
      :func:`rule_verdict` (rationale, weighing, cleared criticism, fault-free ideas, restated
      instructions).

    The regression is fitted at construction on :func:`criticality_examples` (shortcoming against the
    four other labels); the examples are embedded once per encoder.

    Example (needs the encoder)::

        scorer = CriticalityScorer(load_encoder())
        texts = ["The units are missing.", "No unsupported unit conversions are attempted."]
        scorer.is_critical(texts, embed([abstract_sentence(t) for t in texts]))  # array([ True, False])
    """

    def __init__(
        self,
        encoder: Any,
        *,
        threshold: float = 0.0,
        regularization: float = 0.3,
        examples: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        from misattribution.discovery.embed import embed_fixed

        pairs = list(examples) if examples is not None else criticality_examples()
        unknown = sorted({label for _, label in pairs} - set(CRITICALITY_LABELS))
        if unknown:
            raise ValueError(f"unknown criticality labels {unknown}; expected {CRITICALITY_LABELS}")
        texts = [t for t, _ in pairs]
        labels = np.array([label == "shortcoming" for _, label in pairs])
        key = (id(encoder), tuple(texts))
        if key not in _EXAMPLE_VECTORS:  # the examples are embedded once per encoder
            _EXAMPLE_VECTORS.clear()
            _EXAMPLE_VECTORS[key] = embed_fixed([abstract_sentence(t) for t in texts], encoder)
        chinese = np.array([bool(_CJK.search(t)) for t in texts])
        vectors = _EXAMPLE_VECTORS[key] * ~chinese[:, None]
        self._ngrams = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
        ngrams = self._ngrams.fit_transform([t if c else "" for t, c in zip(texts, chinese)])
        features = hstack([csr_matrix(vectors), csr_matrix(lexical_features(texts)), ngrams]).tocsr()
        model = LogisticRegression(C=regularization, class_weight="balanced", max_iter=5000)
        model.fit(features, labels)
        coef, width = model.coef_[0], vectors.shape[1]
        self.threshold = threshold
        self.weights = coef[:width].astype(np.float32)
        self.bias = float(model.intercept_[0])
        self.chinese_bias = float(coef[width])  # the lexical features' first column: Chinese or not
        self.lexical_weights = coef[width + 1 : width + lexical_features([""]).shape[1]]
        self.ngram_weights = coef[width + lexical_features([""]).shape[1] :]

    def semantic(self, vectors: np.ndarray, sentences: Sequence[str]) -> np.ndarray:
        """The embedding's part of the log-odds (bias and language bias included), one value per vector;
        ``sentences`` are the texts the vectors embed (their language decides whether the vector counts)."""
        if len(sentences) != len(vectors):
            raise ValueError(f"{len(sentences)} sentences but {len(vectors)} vectors")
        chinese = np.fromiter((bool(_CJK.search(s)) for s in sentences), dtype=bool, count=len(sentences))
        values = np.asarray(vectors, dtype=np.float32) @ self.weights
        return np.where(chinese, self.chinese_bias, values).astype(np.float64) + self.bias

    def max_semantic(self) -> float:
        """The largest value :meth:`semantic` can take (unit-norm vectors: the weights' norm plus the bias;
        a Chinese sentence gets its language bias): a sentence whose :meth:`lexical` part stays under the
        threshold even with it need not be embedded."""
        return float(max(np.linalg.norm(self.weights), self.chinese_bias) + self.bias)

    def lexical(self, sentences: Sequence[str]) -> np.ndarray:
        """The text's part of the log-odds: cue features, Chinese character n-grams and the rules' verdict.
        Repeated sentences are scored once."""
        codes, distinct = pd.factorize(pd.Series(list(sentences), dtype=object), sort=False)
        distinct = [str(s) for s in distinct]
        if not distinct:
            return np.zeros(0)
        features, rules = lexical_parts(distinct)  # lexical_features and rule_verdict, computed faster
        cues = features[:, 1:] @ self.lexical_weights
        ngrams = self._ngrams.transform([s if _CJK.search(s) else "" for s in distinct]) @ self.ngram_weights
        return (cues + np.asarray(ngrams).ravel() + rules)[codes]

    def score(self, sentences: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """The criticality (log-odds) of each sentence; ``vectors`` embed their :func:`abstract_sentence`."""
        return self.semantic(vectors, sentences) + self.lexical(sentences)

    def is_critical(self, sentences: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Whether each sentence names a shortcoming of the answer."""
        return self.score(sentences, vectors) > self.threshold


@lru_cache(maxsize=4)
def criticality_scorer(encoder: Any) -> CriticalityScorer:
    """The default :class:`CriticalityScorer` of ``encoder``, built once (fitting it costs about a second)."""
    return CriticalityScorer(encoder)
