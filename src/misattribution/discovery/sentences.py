"""Judge feedback → sentences and claims → the critical ones.

Three steps, each a pure function of text (plus embeddings for the last):

* :func:`split_sentences` cuts a critique into sentences (English and Chinese punctuation, lines,
  list markers), drops boilerplate such as ``Final Score:``, strips criterion labels such as
  ``**Accuracy & Completeness**:``, and cuts a sentence at a contrast (``..., but ...``, ``……，但……``)
  so that praise and criticism end up in different claims;
* :func:`abstract_sentence` masks what is specific to one question (numbers, formulas and the words
  of the row's own question) so that sentences group by the *kind* of problem, not by the topic of the
  question: "stated 3 hours instead of 2 hours" and "stated $40 instead of $45" look alike after it;
* :class:`CriticalityScorer` decides which claims criticise the answer: a logistic regression, fitted on
  small built-in sets of critical, praising and neutral remarks, over the claim's embedding and a
  lexical cue score (error words, praise words, negated praise, suggestions). Neither alone decides.

>>> split_sentences("The answer is right. However, the units are missing.\\n\\nFinal Score: 2")
['The answer is right.', 'However, the units are missing.']
>>> split_sentences("计算过程清晰，但最终答案错误。缺少单位。")
['计算过程清晰', '但最终答案错误。', '缺少单位。']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

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


def split_sentences(text: str | None, *, min_words: int = 3, max_formula_share: float = 0.35) -> list[str]:
    """The sentences and claims of one critique, in order, without boilerplate.

    Args:
        text: the judge's feedback (``None`` or blank gives ``[]``).
        min_words: shorter pieces are dropped (Chinese: ``min_words`` characters or fewer).
        max_formula_share: pieces whose non-space characters are more than this share digits, operators
            and brackets are worked calculations, not claims about the answer: dropped.
    """
    if not text or not str(text).strip():
        return []
    pieces: list[str] = []
    for line in str(text).splitlines():
        line = _MARKUP.sub("", line).strip()
        if not line or _BOILERPLATE.match(line):
            continue
        for abbreviation in _ABBREVIATIONS:
            line = line.replace(abbreviation, abbreviation.replace(".", _ABBREV_GUARD))
        for sentence in _SENTENCE_END.split(line):
            for claim in _split_claims(sentence.replace(_ABBREV_GUARD, ".")):
                claim = _clean_piece(claim)
                if claim and _is_claim(claim, min_words, max_formula_share):
                    pieces.append(claim)
    return pieces


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
    dense = re.sub(r"\s", "", piece)
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
    r"(?:there )?(?:seems|appears) to be|it (?:seems|appears) that)\b[\s,:]*)+"
    r"|^(?:但是|但|然而|不过|可是|此外|另外|首先|其次|最后|总体来说|总的来说)[，,\s]*",
    re.IGNORECASE,
)


def strip_opener(sentence: str) -> str:
    """``sentence`` without leading contrast words, ordinal words and hedges ("However, it seems that ...").

    >>> strip_opener("However, it's worth noting that the units are missing.")
    'the units are missing.'
    """
    stripped = _OPENER.sub("", sentence, count=1).lstrip(" ,:;")
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
    stripped = _SUBJECT.sub("", sentence, count=1)
    return stripped if _WORD.search(stripped) else sentence


# Sentence adverbs and hedges colour a remark without changing what it is about.
_HEDGE_WORDS = re.compile(
    r"\b(?:apparently|evidently|clearly|obviously|unfortunately|sadly|also|again|somewhat|slightly|rather|"
    r"quite|really|actually|basically|simply|just|perhaps|possibly|probably|seemingly|certainly|definitely)\b,?\s*",
    re.IGNORECASE,
)


def abstract_sentence(sentence: str, specific: Iterable[str] = ()) -> str:
    """``sentence`` without its opener, with numbers, equations, quotes and question-specific words masked.

    >>> abstract_sentence("However, the model stated 3 hours instead of 2 hours for Marissa.", {"hours", "marissa"})
    'Stated # … instead of # … for ….'
    """
    specific = set(specific)
    text = _HEDGE_WORDS.sub("", strip_subject(strip_opener(sentence)))
    text = _EQUATION.sub(" = ", text[:1].upper() + text[1:])
    text = _QUOTED.sub("“…”", text)
    text = _NUMBER.sub("#", text)
    if specific:
        text = _WORD.sub(lambda m: "…" if m.group(0).casefold().strip("'’") in specific else m.group(0), text)
    text = re.sub(r"(?:…\s*){2,}", "… ", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


# -- criticality -----------------------------------------------------------------------------------------
# The built-in sets the criticality classifier learns from: short, generic judge remarks, critical,
# praising and neutral (restating the task, the numbers or the scoring), in English and Chinese.
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
    "The response could have been more concise.",
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
    "It could have been much shorter.",
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
    # Scoring rationale: it names the grade, and only restates a problem another sentence states.
    "Considering the evaluation criteria and the calculation mistake, the score is 2.",
    "The score should reflect the error in the final calculation.",
    "Given the mistake, a score of 3 out of 5 is appropriate.",
    "Because of this error, the response cannot receive a perfect score.",
    "考虑到计算错误，评分为2分。",
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
    r"rambl\w*)\b",
    re.IGNORECASE,
)
_WEAK_CUES = re.compile(r"\b(?:not|no|never|n't|cannot|without|however|but|although|though|yet)\b", re.IGNORECASE)
_PRAISE_CUES = re.compile(
    r"\b(?:correct|correctly|accurate|accurately|clear|clearly|well|excellent\w*|good|great|strong|"
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


_EXAMPLE_VECTORS: dict[tuple[int, tuple[str, ...]], np.ndarray] = {}


class CriticalityScorer:
    """Scores how much a claim criticises the answer; ``score > threshold`` means critical.

    A logistic regression over two kinds of evidence, fitted on the built-in example sets
    (:data:`CRITICAL_EXAMPLES` against :data:`PRAISE_EXAMPLES` and :data:`NEUTRAL_EXAMPLES`): the claim's
    sentence embedding (what it is about, however it is worded) and its :func:`cue_score` (error
    words, negated praise, suggestions). ``score`` is the model's log-odds, split as
    ``semantic(vector) + cue_weight * cue_score(sentence)`` so that a sentence embedded once can be
    scored in each of its occurrences.

    Example (needs the encoder)::

        scorer = CriticalityScorer(load_encoder())
        scorer.is_critical(["The units are missing."], embed(["The units are missing."]))  # array([ True])
    """

    def __init__(
        self,
        encoder: Any,
        *,
        threshold: float = 0.0,
        regularization: float = 1.0,
        critical: Sequence[str] = CRITICAL_EXAMPLES,
        praise: Sequence[str] = PRAISE_EXAMPLES,
        neutral: Sequence[str] = NEUTRAL_EXAMPLES,
    ) -> None:
        from sklearn.linear_model import LogisticRegression

        from misattribution.discovery.embed import embed

        texts = [*critical, *praise, *neutral]
        labels = np.r_[np.ones(len(critical)), np.zeros(len(praise) + len(neutral))]
        key = (id(encoder), tuple(texts))
        if key not in _EXAMPLE_VECTORS:  # the examples are embedded once per encoder
            _EXAMPLE_VECTORS.clear()
            _EXAMPLE_VECTORS[key] = embed([abstract_sentence(t) for t in texts], encoder, batch_size=64)
        vectors = _EXAMPLE_VECTORS[key]
        cues = np.array([cue_score(t) for t in texts])
        model = LogisticRegression(C=regularization, class_weight="balanced", max_iter=5000)
        model.fit(np.c_[vectors, cues], labels)
        self.threshold = threshold
        self.weights = model.coef_[0, :-1].astype(np.float32)
        self.cue_weight = float(model.coef_[0, -1])
        self.bias = float(model.intercept_[0])

    def semantic(self, vectors: np.ndarray) -> np.ndarray:
        """The embedding's part of the log-odds (bias included), one value per vector."""
        return np.asarray(vectors, dtype=np.float32) @ self.weights + self.bias

    def score(self, sentences: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """The criticality (log-odds) of each sentence; ``vectors`` embed their :func:`abstract_sentence`."""
        if len(sentences) != len(vectors):
            raise ValueError(f"{len(sentences)} sentences but {len(vectors)} vectors")
        cues = np.fromiter((cue_score(s) for s in sentences), dtype=np.float64, count=len(sentences))
        return self.semantic(vectors).astype(np.float64) + self.cue_weight * cues

    def is_critical(self, sentences: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        return self.score(sentences, vectors) > self.threshold
