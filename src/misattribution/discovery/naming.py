"""Issue names a developer can act on: the rules a name must pass, LLM-free names, names from an LLM.

Three parts:

* :func:`name_problems` states the rules of an issue name as code: a short noun phrase that says
  what is wrong, with no subject, no cut-off ending, nothing of one single instance, no praise, and
  not a near-duplicate of another issue's name. It returns every rule a name breaks.
* :func:`issue_name` turns one feedback sentence into such a noun phrase without an LLM, by rules:
  "Fails to convert the units" → "Failure to convert units", "The calculation of the discount is
  incorrect" → "Incorrect calculation of the discount"; in a "…, but …" sentence it names the
  critical clause. :func:`choose_name` picks, among a cluster's most central sentences, the one whose
  name passes the rules (and is most central and critical), repairing or renaming when none does.
* :func:`name_issues_with_llm` names issues with any judge backend in at most K + 1 calls for K
  issues (one batched call, plus one call for the names that broke the rules), cached on disk; a
  name that is unusable or still breaks the rules falls back to the LLM-free one.

>>> issue_name("However, the model fails to convert the units.")
'Failure to convert units'
>>> name_problems("The response contains errors")
['subject: starts with a subject ("The response …"): name the problem, not who has it', \
'vague: says nothing specific about what is wrong (only generic words like "errors", "issues")']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from misattribution.discovery.sentences import _CJK, _HEDGE_WORDS, cue_score, strip_opener

#: A name has at most this many words (English) ...
MAX_WORDS = 12
#: ... or this many characters (Chinese).
MAX_CHARS_ZH = 20

_WORDS = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")

# -- the rules ----------------------------------------------------------------------------------------
_SUBJECT = re.compile(
    r"^(?:(?:the|this|that|its|their|a|an)\s+(?:model|model's|response|response's|answer|assistant|solution|"
    r"output|reply|ai|system|llm)\b|(?:it|they|there|this|that|these|those|i|we)\b"
    r"|(?:response|model|assistant|answer|reply|output)\s+(?!un|in|im|mis|non|ill|over|under)\w+ed\b"
    r"|(?:response|model|assistant)\s+(?:is|are|was|does|did|has|fails|lacks|contains|makes|uses)\b"
    r"|(?:response|model|assistant|answer|reply|output)\s+\w+ly\s+\w+s\b"
    r"|(?:model|response|assistant|agent)(?:'s|’s)(?=\s))",
    re.IGNORECASE,
)
# Words that name where in an answer something is, not what is wrong with it: a name made only of them
# ("Final conclusion", "Problem constraints", "Calculation process") is a topic, not an issue.
_TOPIC_WORDS = frozenset(
    """final initial first last overall general main specific whole entire given original conclusion conclusions
    problem problems constraint constraints statement statements use usage answer answers explanation explanations
    question questions step steps solution solutions calculation calculations process approach response responses
    detail details information result results value values assumption assumptions requirement requirements
    context format structure reasoning part parts section method methods number numbers total amount
    equation equations formula interpretation""".split()
)
_SUBJECT_ZH = re.compile(r"^(?:该|这个|此|这)?(?:回答|模型|回复|助手|它)|^(?:这|此|该)(?:个|一)?")
_FINITE = frozenset(
    "is are was were isn't aren't wasn't weren't has have had does do did doesn't don't didn't can cannot can't "
    "could should would will won't must may might seems appears".split()
)
# Verbs a judge's remark starts with once its subject is gone ("Contains ...", "Omits ..."): a name
# that starts with one is a clause. Plural nouns that look like verbs ("claims", "answers") stay out.
_VERB_FORMS = frozenset(
    "contains includes has lacks omits misses ignores disregards fails uses makes states gives provides "
    "misinterprets misreads misunderstands miscalculates miscounts misapplies confuses computes calculates "
    "adds subtracts multiplies divides rounds converts assumes concludes suggests treats repeats cites invents "
    "fabricates hallucinates introduces skips forgets neglects overlooks mentions explains describes shows "
    "presents offers refuses stops breaks ends writes relies leads results affects needs requires seems appears "
    "tends attempts tries follows addresses violates exceeds produces returns selects chooses incorrectly "
    "wrongly mistakenly does did is are was were asks says implies wants talks considers reflects leans gets "
    "goes takes keeps encounters faces asked said wanted told gave wrote got went chose tried attempted "
    "proceeds redoes reaches passes calls favours favors restates drops loses leaves runs puts sets starts "
    "begins demonstrates exhibits displays indicates reveals struggles arrives misses misjudges misstates "
    "overcomplicates complicates simplifies oversimplifies overlooks conflates mixes confuses repeats "
    "restates answers responds accepts rejects approves claims asserts reports draws jumps specifies matches "
    "supports falls covers backs confirms".split()
)
# Verb forms that are also plural nouns ("results", "uses") do not make a name a clause past its first word.
_PLURAL_NOUNS = frozenset(
    "results needs states ends returns uses leads breaks stops shows offers presents attempts tries "
    "passes calls drops runs sets leaves starts answers claims reports draws jumps mixes".split()
)
_FINITE_FORMS = _FINITE | (_VERB_FORMS - _PLURAL_NOUNS)
_CLAUSE_BREAK = re.compile(
    r"\b(?:that|which|who|whom|whose|where|when|what|how|why|because|since|if|whether|while|although|though|"
    r"instead of|"
    r"rather than|than)\b",
    re.IGNORECASE,
)
_FUNCTION_END = re.compile(
    r"\b(?:of|the|a|an|to|in|for|with|and|or|but|nor|regarding|on|by|at|from|that|which|who|as|its|their|his|"
    r"her|our|your|is|are|was|were|be|been|being|not|no|than|into|onto|about|between|such|this|these|those|"
    r"whether|if|because|via|per|without|within|like|when|where|while|does|do|did|has|have|had|can|could|"
    r"should|would|will|must|very|more|most|less|so|both|either|neither|each|every|any|some|"
    r"including|towards?|using|versus|vs|against|upon|during|among|across|despite)$",
    re.IGNORECASE,
)
# Who asks or answers, then its verb, at the end of a name: "User asked", "Model ignored" (a clause cut
# before its object; "Units omitted", "Hours converted" are things with what was done to them, and stay).
_AGENT_VERB_END = re.compile(
    r"(?<!what the )(?<!which the )(?<!that the )(?<!what a )"
    r"\b(?:user|users|model|assistant|agent|customer|client|parent|student|learner|reader|requester|author)"
    r"\s+(?:\w+ly\s+)?(?:asked|requested|wanted|said|stated|specified|expected|ignored|used|gave|made|tried)$",
    re.IGNORECASE,
)
# A subordinating conjunction followed by less than a clause at the end: "Insufficiently if response".
_CONJUNCTION_END = re.compile(
    r"\b(if|when|because|although|though|unless|whereas|while|since)"
    r"(?:\s+(?:the\s+|a\s+)?(?:response|answer|model|user|assistant|it|this|that|they))?$",
    re.IGNORECASE,
)
# "... does not fulfill": a verb that needs its object, cut before it.
_CUT_VERB = re.compile(
    r"(?<!hard )(?<!easy )(?<!difficult )\b(?:not|n't|to|never)\s+(?:\w+ly\s+)?(?:fulfil+|meet|include|address|provide|use|follow|make|give|consider|"
    r"mention|state|explain|convert|calculate|compute|apply|show|reach|identify|specify|take|cover|satisfy|"
    r"produce|return|list|add|handle|check|verify|match|respect|reflect|contain|justify|describe|define|"
    r"say|tell|name|cite|note|indicate|clarify|acknowledge|report|see|find|get|keep|do|support|answer|write|"
    r"create|generate|implement|build|compare|summari[sz]e|translate|read|run|choose|select|call|pass|set|"
    r"comply|adhere|conform|refer|respond|account|rely|attribute|link|look|depend|point|search)$"
    r"|\bwithout\s+(?:\w+ly\s+)?\w+ing$",
    re.IGNORECASE,
)
# A name that starts like a subordinate clause or a consequence is a fragment ("Given the mistake in ...").
_FRAGMENT = re.compile(
    r"^(?:per|according to|based on|in terms of|regarding|with respect to|to improve|not|"
    r"given|with|and|or|as|due to|despite|considering|since|because|which|while|whereas|although|though|"
    r"leading to|resulting in|causing|making|so|thus|hence|therefore|acknowledging|noting|taking|confirming|"
    r"assuming|overall|instead of|rather than|unlike|except|could|would|might|may|can|must|will|shall|without|"
    r"what|whether|if|when|where|how|why)\b",
    re.IGNORECASE,
)
# A name that points back at a sentence it no longer has ("Omits this detail") names nothing; "that" is
# left out: it opens a clause ("Missing caveat that ...").
_ANAPHORA = re.compile(
    r"\b(?:this|these|those|such|above|aforementioned|said)\b(?! as\b)|\b(?:of|to|for|with|from|about|in|on) (?:them|it)$"
    r"|\bthat\s+(?![\d#])\w+(?=\s*$|\s+(?:in|of|on|at|for|from|with|to|by|is|was)\b)",
    re.IGNORECASE,
)
_ANAPHORA_ZH = re.compile(r"这类|这些|此类|这一|这种|上述|该")
# "Explanation written": a participle that lost its complement ("... written in Spanish").
_BARE_PARTICIPLE = re.compile(
    r"(?<=\w )(?<!\bnot )(?<!\bnever )(?:written|listed|given|used|made|stated|shown|provided|included|done|based|"
    r"treated|presented|described|placed|put|set|computed|calculated|taken|handed|passed|returned|called|sent|used|"
    r"produced|attributed|credited|ascribed|referred|compared|related|linked)$",
    re.IGNORECASE,
)
_PARTICLES_ZH = re.compile(r"[的了吗呢吧啊呀么着过地得和与及或在对把被是]$")
# Words that say *that* something is wrong, not *what*: a name made of nothing else is vague.
_GENERIC = frozenset(
    """error errors mistake mistakes issue issues problem problems flaw flaws inaccuracy inaccuracies
    inconsistency inconsistencies discrepancy discrepancies oversight oversights
    incorrect incorrectly wrong wrongly inaccurate erroneous bad poor poorly several some various many multiple
    certain minor major significant critical serious small slight contains contain containing has have having
    step steps response responses answer answers solution solutions output model reply overall quality
    accuracy correctness completeness aspect aspects part parts thing things area areas general relative
    instruction instructions requirement requirements criteria criterion task question questions request
    notable noticeable potential possible other further additional remaining concern concerns apparent
    prompt final lack lacking missing failure failures fails fail failing deficiency deficiencies shortcoming
    shortcomings weakness weaknesses concern concerns room improvement improvements point points score
    evaluation performance work result results there it its also respect terms regard asked required requested
    needed expected stated given meet meets met satisfy fulfil fulfill follow achieve reach address perfect
    high low lower higher deduction deductions deduct deducted deducting points well better maximum minimum
    outright lowest highest full marks mark grade graded grading rating rated scored scoring penalty penalised
    penalized reflect reflects reflecting warrant warrants deserve deserves encounter encounters encountered face faces
    help helps solve solves solving encountering factually make makes making compromised affected impacted reduced lowered execution handling
    way manner approach clarity clear unclear coherence coherent incoherent concision concise confusion confusing
    unnecessary unnecessarily explanation explanations understanding scenario entire overall lead leads could
    potential potentially""".split()
)
_STOP = frozenset(
    """a an the of to in on at for from by with as and or but nor is are was were be been being this that these
    those it its their there into onto about than then so such not no any all each every both other same own
    very more most less""".split()
)
_VAGUE_ZH = re.compile(
    r"^(?:存在|有|出现)?(?:一些|若干|多处|部分|明显的?)?(?:错误|问题|不足|缺陷|瑕疵)$|^(?:回答|答案)?(?:错误|不正确|有误)$"
)
# What belongs to one instance: numbers, quoted text, proper names, single letters and units.
_QUOTED = re.compile(r"\"[^\"]+\"|“[^”]+”|‘[^’]+’|(?<![\w])'[^']+'(?![\w])|「[^」]+」|『[^』]+』|【[^】]+】|«[^»]+»")
_NUMBER = re.compile(r"[$€£¥]?\d[\d,.:/]*%?")
_UNIT = re.compile(
    r"(?<![\w'’])(?:[b-hj-zB-HJ-Z]|km|cm|mm|kg|mg|lbs?|oz|ml|mph|kph|ft|hrs?|mins?|secs?|usd|eur)(?![\w'’])"
)
_PRAISE_EXTRA = re.compile(
    r"\b(?:right|fine|nice(?:ly)?|perfect(?:ly)?|good|great|excellent|well done|clarity|coherence|strengths?|"
    r"correctness|completeness|accuracy|quality|match(?:es|ed)?|consistent with|align(?:s|ed)? with|"
    r"agree(?:s|d)? with)\b",
    re.IGNORECASE,
)
# "No unit conversions needed": nothing was wrong to begin with.
_NOTHING_NEEDED = re.compile(r"^no\b.*\b(?:needed|required|necessary|warranted)$", re.IGNORECASE)
_PRAISE_NEGATED = re.compile(
    r"\b(?:insufficient(?:ly)?|not|never|lack of|missing|without|too little|overly)\s+(?:\w+\s+)?"
    r"(?:correct\w*|accurate\w*|clear\w*|concise|complete\w*|relevant|precise\w*|logical\w*|coherent\w*|"
    r"thorough\w*|appropriate\w*|valid|sound|effective\w*|detailed|well|good|strong|clarity|coherence|"
    r"concision|precision|accuracy|completeness|correctness|detail|rigou?r|quality)\b",
    re.IGNORECASE,
)


def name_problems(
    name: str, *, siblings: Sequence[str] = (), members: Sequence[str] = (), instances: Sequence[str] = ()
) -> list[str]:
    """Every naming rule ``name`` breaks, as ``"rule: why"`` messages; ``[]`` when it passes.

    The rules (each message starts with the rule's tag):

    * ``length``: at most 12 words (Chinese: at most 20 characters).

      >>> name_problems("Arithmetic errors in multi-step percentage calculations")
      []
      >>> name_problems("Missing caveat that the analysis uses only the given data from the survey of all the shops")
      ['length: 17 words (at most 12)']

    * ``subject``: no subject: not "The response …", "The model …", "It …", "The answer …", "There is …".

      >>> name_problems("The model ignores the word limit")[0]
      'subject: starts with a subject ("The model …"): name the problem, not who has it'

    * ``clause``: a noun phrase, not a clause: it does not start with a verb ("Omits …") and its head
      (before "that", "which", "because" ...) has no finite verb ("… is incorrect").

      >>> name_problems("Omits the units of the result")
      ['clause: starts with the verb "Omits": a name is a noun phrase ("Missing …", "Failure to …")']
      >>> name_problems("Calculation of the discount is incorrect")
      ['clause: "is" makes it a sentence: a name is a noun phrase ("Incorrect …", "Missing …")']
      >>> name_problems("Missing caveat that the analysis uses only the given data")
      []

    * ``cut``: it does not end mid-phrase: not on a function word ("of", "the", "and", "does"), not on a
      verb that lost its object ("… does not fulfill"), no unbalanced bracket or quote.

      >>> name_problems("Incorrect tool selection and failure to fulfill")
      ['cut: ends on "fulfill", which lacks its object: the name is cut mid-phrase']
      >>> name_problems("Misreading of what the question asks")
      []
      >>> name_problems("Moment of confusion in the explanation regarding")
      ['cut: ends on the function word "regarding": the name is cut mid-phrase']
      >>> name_problems("Statement that the sinking")  # of the Titanic happened in 1921
      ['cut: "that" opens a clause that ends before its verb: the name is cut mid-phrase']

    * ``vague``: it says what is wrong: not only generic words ("Contains errors", "Has several
      issues", "The step contains errors", "Lack of accuracy and completeness").

      >>> name_problems("Several issues relative to the instructions")
      ['vague: says nothing specific about what is wrong (only generic words like "errors", "issues")']

      A single word names a problem only as an abstract noun ("Verbosity", "Hallucinations"), not as
      "Proceeds".

      >>> name_problems("Proceeds")
      ['clause: starts with the verb "Proceeds": a name is a noun phrase ("Missing …", "Failure to …")', \
'vague: the single word "Proceeds" names no problem']
      >>> name_problems("Verbosity")
      []

      Nor does an absence of a thing that could be anything ("Missing call": a call to what?).

      >>> name_problems("Missing call"), name_problems("Missing call to the unit converter")
      (['vague: says something is missing, not what (a call to what? which step?)'], [])

    * ``instance``: no number, quoted text, proper name, code identifier (``unit_converter``), single
      letter, unit or word of ``instances`` (the names of the input's systems, say) of one instance,
      unless every evidence sentence of the issue (``members``) has it too.

      >>> name_problems("Tool's supported pairs do not include km to m")[-1]
      'instance: "km", "m" belong to one instance (not in every evidence sentence)'
      >>> name_problems('Wrong symbol "√∑" for division', members=['Uses "√∑" for division.'] * 3)
      []
      >>> name_problems("Confusion of web_search with python_exec")
      ['instance: "web_search", "python_exec" belong to one instance (not in every evidence sentence)']
      >>> name_problems("Ignored output of the planner in the writer step", instances=["planner", "writer"])
      ['instance: "planner", "writer" belong to one instance (not in every evidence sentence)']

    * ``vague`` also: not only words of where something is ("Final conclusion", "Problem constraints").

      >>> name_problems("Final conclusion")
      ['vague: names a part of the answer, not what is wrong with it']

    * ``duplicate``: not a near-duplicate of a sibling issue's name: the same content words (ignoring
      case, punctuation, stopwords and plural "s"), or most of them (Jaccard >= 0.75).

      >>> name_problems("Calculation errors", siblings=["Errors in the calculations"])
      ['duplicate: near-duplicate of the sibling name "Errors in the calculations"']

    * ``praise``: not praise (:func:`~.sentences.cue_score` below 0, or a praise word such as "right"
      with no criticism).

      >>> name_problems("Every step of the explanation is right")
      ['clause: "is" makes it a sentence: a name is a noun phrase ("Incorrect …", "Missing …")', \
'praise: reads as praise, not as a problem']

    * Chinese names: no subject (回答/模型…), no trailing particle (的, 了, 吗 …), no vague name
      (存在错误), at most 20 characters.

      >>> name_problems("未按要求使用表格格式")
      []
      >>> name_problems("回答没有使用表格的")
      ['subject: starts with a subject ("回答"): name the problem, not who has it', \
'cut: ends on the particle "的"']
    """
    name = name.strip()
    if not name:
        return ["vague: the name is empty"]
    if _CJK.search(name):
        return _problems_zh(name, siblings, members)
    problems: list[str] = []
    words = _WORDS.findall(name)
    if len(words) > MAX_WORDS:
        problems.append(f"length: {len(words)} words (at most {MAX_WORDS})")
    subject = _SUBJECT.match(name)
    if subject:
        problems.append(f'subject: starts with a subject ("{subject.group(0)} …"): name the problem, not who has it')
    first = words[0].casefold() if words else ""
    head = _CLAUSE_BREAK.split(name, maxsplit=1)[0]
    head_words = [w.casefold().replace("’", "'") for w in _WORDS.findall(head)]
    finite = next(
        (
            w
            for k, w in enumerate(head_words[1:], start=1)
            if w in _FINITE_FORMS
            and (not w.endswith(("ed", "old", "ave", "ote", "ot", "ent", "ose")) or k + 1 < len(head_words))
        ),
        None,
    )
    finite = finite or next((w for w in _WORDS.findall(head)[:1] if w.casefold().replace("’", "'") in _FINITE), None)
    if first in _VERB_FORMS and not subject:
        problems.append(
            f'clause: starts with the verb "{words[0]}": a name is a noun phrase ("Missing …", "Failure to …")'
        )
    elif finite and not subject:
        problems.append(f'clause: "{finite}" makes it a sentence: a name is a noun phrase ("Incorrect …", "Missing …")')
    fragment = _FRAGMENT.match(name)
    if fragment and not any(p.startswith("clause") for p in problems):
        problems.append(f'clause: starts like a subordinate clause ("{fragment.group(0)} …"), not with the problem')
    problems += _cut_problems(name)
    anaphora = _ANAPHORA.search(name) or _ANAPHORA_ZH.search(name)
    if anaphora:
        problems.append(f'context: "{anaphora.group(0)}" points to a sentence the name does not carry')
    if not _specific_words(name):
        problems.append('vague: says nothing specific about what is wrong (only generic words like "errors", "issues")')
    elif all(w.casefold() in _TOPIC_WORDS or w.casefold() in _STOP for w in words) or (
        len(words) <= 3
        and any(w.casefold() in _USE_WORDS for w in words)
        and all(w.casefold() in _STOP | _GENERIC | _USE_WORDS | _USE_QUALIFIERS for w in words)
    ):
        problems.append("vague: names a part of the answer, not what is wrong with it")
    elif len(words) == 1 and not _ONE_WORD.search(words[0]):
        problems.append(f'vague: the single word "{words[0]}" names no problem')
    elif _BARE_ABSENCE.match(name):
        problems.append("vague: says something is missing, not what (a call to what? which step?)")
    problems += _instance_problems(name, members, instances)
    problems += _duplicate_problems(name, siblings)
    if _is_praise(name) or _NOTHING_NEEDED.match(name):
        problems.append("praise: reads as praise, not as a problem")
    if _SUGGESTION_NAME.match(name):
        problems.append("suggestion: names an improvement idea, not a fault of the answer")
    if _RESTATED.search(name) and not _names_fault(name):
        problems.append("restated: says what the answer was asked to do, not what went wrong")
    return problems


# "Missing call", "Missing step": an absence of a thing that could be anything (what was left when the
# repair cut "to unit_converter" away).
_BARE_ABSENCE = re.compile(
    r"^(?:missing|no|lack of|omitted|absent)\s+(?:the\s+|a\s+|an\s+|any\s+)?(?:calls?|steps?|actions?|tools?|items?|"
    r"things?|values?|arguments?|parameters?|functions?|fields?|entry|entries|parts?|elements?|components?|pieces?|"
    r"information|details?|content|data|output|input)$",
    re.IGNORECASE,
)
# "Response instructed to act as a research planner": the task restated, with nothing said to be wrong.
_RESTATED = re.compile(
    r"\b(?:instructed|asked|supposed|required|expected|meant|told|designed|tasked|mandated)\b"
    r"(?:\s+(?:the|a|an|this|its|their)?\s*\w+)?\s+to\b"
    r"|\b(?:instructed|told|tasked)\s+(?:the|a|an|this|its|their)\s+\w+$|\bdefines?\b",
    re.IGNORECASE,
)
# "Wrong usage", "Explicit use": a kind of fault on "use" with nothing said of what was used.
_USE_WORDS = frozenset("use usage used using".split())
_USE_QUALIFIERS = frozenset("explicit implicit".split())


# A name that announces an improvement idea ("Suggested improvement to state an assumption", from CLEAR's
# summary "The only suggested improvement is to explicitly state an assumption") names no fault.
_SUGGESTION_NAME = re.compile(
    r"(?:(?:the\s+)?(?:only\s+)?(?:suggested|potential|possible|minor|further|small)\s+)?"
    r"(?:improvements?|suggestions?|room\s+for\s+improvement|area\s+for\s+improvement)\b",
    re.IGNORECASE,
)


def _problems_zh(name: str, siblings: Sequence[str], members: Sequence[str]) -> list[str]:
    problems: list[str] = []
    length = len(re.sub(r"\s", "", name))
    if length > MAX_CHARS_ZH:
        problems.append(f"length: {length} characters (at most {MAX_CHARS_ZH})")
    subject = _SUBJECT_ZH.match(name)
    if subject and subject.group(0):
        problems.append(f'subject: starts with a subject ("{subject.group(0)}"): name the problem, not who has it')
    if _PARTICLES_ZH.search(name):
        problems.append(f'cut: ends on the particle "{name[-1]}"')
    anaphora = _ANAPHORA_ZH.search(name)
    if anaphora:
        problems.append(f'context: "{anaphora.group(0)}" points to a sentence the name does not carry')
    if _VAGUE_ZH.match(name.strip("。.!！")):
        problems.append("vague: says nothing specific about what is wrong")
    problems += _instance_problems(name, members)
    problems += _duplicate_problems(name, siblings)
    if _is_praise(name) or _NOTHING_NEEDED.match(name):
        problems.append("praise: reads as praise, not as a problem")
    return problems


# A one-word name must be an abstract noun (singular or plural) to name a problem.
_ONE_WORD = re.compile(r"(?:ity|ness|ance|ence|cy|sion|tion|ment|ism|al|ure|age|ery|ly|y)s?$", re.IGNORECASE)


# Subject pronouns: a relative clause's subject ("the value that it reports", "the value it reports").
_PRONOUNS = frozenset("it they he she we you".split())
_PRONOUN = "(?:" + "|".join(sorted(_PRONOUNS)) + ")"
# "what the question asks", "what the user wants": "what" is the verb's object.
_FREE_RELATIVE_END = re.compile(
    r"\bwhat\s+(?:[\w'-]+\s+){1,3}(?:does not |doesn't |did not |do not )?\w+$"
    # a contact relative: "the limit the user set", "the format the task asked for"
    r"|\b(?:limit|format|length|language|style|tone|order|unit|rule|constraint|number|deadline|request)s?\s+"
    r"(?:the|their|its|his|her)\s+(?:user|question|task|prompt|client|customer|reader|system|instructions?)\s+"
    r"(?:set|gave|asked for|wanted|requested|specified|required|stated|named|chose|imposed)$",
    re.I,
)
_RELATIVE_END = re.compile(
    rf"\b(?:that|which)\s+(?:the|this|its|their|{_PRONOUN})\b(?:\s+[\w'-]+){{0,2}}?\s+"
    r"(?:does not|doesn't|did not|do not|don't|cannot|can't|never)\s+\w+$",
    re.IGNORECASE,
)


# ", published" / ", ignoring" / ", written" closing a name: what the participle said was cut.
_DETACHED_PARTICIPLE = re.compile(r",\s*(?:\w{3,}(?:ed|ing)|written|given|taken|shown|chosen|seen|done|made)$")


def _cut_problems(name: str) -> list[str]:
    stripped = name.rstrip()
    if re.search(r"[,;:(\-–—]$", stripped):
        return [f'cut: ends on "{stripped[-1]}": the name is cut mid-phrase']
    if re.search(r"\bbetween\s+(?:the\s+|a\s+|an\s+|its\s+)?\w+$", stripped, re.IGNORECASE):
        return ['cut: "between" names one side only: the name is cut mid-phrase']
    if re.search(r",\s*\w+ly$", stripped):
        return ["cut: ends on a detached adverb: the name is cut mid-phrase"]
    if re.search(r"\bthat\s+(?:the|a|an|its|their)\s+(?:\w+\s+)?\w+$", stripped, re.IGNORECASE) and not re.search(
        r"\b(?:is|are|was|were|has|have|had|does|do|did|\w+ed|\w+s)\s*$", stripped
    ):
        # "Statement that the sinking" (of the Titanic happened in 1921): a that-clause lost its verb
        return ['cut: "that" opens a clause that ends before its verb: the name is cut mid-phrase']
    if _DETACHED_PARTICIPLE.search(stripped):
        return ["cut: ends on a detached participle: the name is cut mid-phrase"]
    agent = _AGENT_VERB_END.search(stripped)
    if agent:  # "User asked" (for one sentence, and got three paragraphs): who did what, and not what
        return [f'cut: ends on "{agent.group(0)}", a doer and its verb without what it did: the name is cut mid-phrase']
    conjunction = _CONJUNCTION_END.search(stripped)
    if conjunction:  # "Insufficiently if response": a condition with no verb
        return [f'cut: "{conjunction.group(1)}" opens a clause that ends at once: the name is cut mid-phrase']
    last = _FUNCTION_END.search(stripped)
    if last and not _STRANDED.search(stripped):
        return [f'cut: ends on the function word "{last.group(0)}": the name is cut mid-phrase']
    complete = bool(_RELATIVE_END.search(stripped) or _FREE_RELATIVE_END.search(stripped))
    participle = _BARE_PARTICIPLE.search(stripped)
    # "No tool called", "Wrong tool used" are whole
    if participle and not complete and not re.match(r"(?:no|wrong|incorrect)\s", stripped, re.IGNORECASE):
        return [f'cut: ends on "{participle.group(0)}", which lacks what it says: the name is cut mid-phrase']
    verb = _CUT_VERB.search(stripped)
    if verb and complete:  # "things that the evidence does not contain": its object is "things"
        verb = None
    if verb:
        return [f'cut: ends on "{verb.group(0).split()[-1]}", which lacks its object: the name is cut mid-phrase']
    words = _WORDS.findall(stripped)
    last_word = words[-1].casefold() if words else ""
    if (
        len(words) > 1
        and last_word.endswith("s")
        and last_word in _VERB_FORMS - _PLURAL_NOUNS - _FINITE
        and not complete
    ):
        return [f'cut: ends on the verb "{words[-1]}", which lacks its object: the name is cut mid-phrase']
    single = len(re.findall(r"(?<![\w])'", stripped)) != len(re.findall(r"'(?![\w])", stripped))
    if (
        single
        or stripped.count("(") != stripped.count(")")
        or stripped.count('"') % 2
        or stripped.count("“") != stripped.count("”")
    ):
        return ["cut: an unbalanced bracket or quote: the name is cut mid-phrase"]
    return []


def _stem(word: str) -> str:
    word = word.casefold().replace("’", "'").removesuffix("'s").strip("'-")
    if len(word) > 4 and word.endswith("ly"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def _specific_words(name: str) -> list[str]:
    words = [_stem(w) for w in _WORDS.findall(name)]
    generic = {_stem(g) for g in _GENERIC}
    return [w for w in words if w not in _STOP and w not in generic and len(w) > 1]


# A code identifier names one instance (a tool, a function, a field): snake_case, camelCase, dotted or
# letters mixed with digits ("unit_converter", "fetchPage", "os.path", "gpt4o").
_IDENTIFIER = re.compile(r"(?<![\w.])(?:\w+_\w+|[a-z]+[A-Z]\w*|[A-Za-z]\w*\.[A-Za-z]\w*|[A-Za-z]+\d\w*)(?![\w])")


def _instance_tokens(name: str, instances: Sequence[str] = ()) -> list[str]:
    found = [m.group(0) for m in _QUOTED.finditer(name)]
    rest = _QUOTED.sub(" ", name)
    found += [m.group(0) for m in _NUMBER.finditer(rest)]
    found += [m.group(0) for m in _UNIT.finditer(rest)]
    found += [m.group(0) for m in _IDENTIFIER.finditer(rest)]
    for word in instances:
        match = re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", rest, re.IGNORECASE)
        if match:
            found.append(match.group(0))
    for position, match in enumerate(_WORDS.finditer(rest)):
        word = match.group(0)
        capitalised = word[:1].isupper() and not word.isupper() and not word[:1].isdigit()
        if position and capitalised and rest[: match.start()].rstrip()[-1:] not in (".", ":", "—"):
            found.append(word.removesuffix("'s").removesuffix("’s"))
    return list(dict.fromkeys(found))


def _instance_problems(name: str, members: Sequence[str], instances: Sequence[str] = ()) -> list[str]:
    def shared(token: str) -> bool:
        pattern = re.compile(rf"(?<!\w){re.escape(token)}(?!\w)", re.IGNORECASE)
        return bool(members) and all(pattern.search(m) for m in members)

    tokens = _instance_tokens(name, instances)
    first = _WORDS.match(name.strip())
    if first and members and first.group(0)[:1].isupper() and len(first.group(0)) > 1:
        # The first word is capitalised anyway; it is a proper name when the evidence writes it so mid-sentence.
        mid = re.compile(rf"(?<=\w[\s,;:(]){re.escape(first.group(0))}(?!\w)")
        if any(mid.search(m) for m in members) and first.group(0) not in tokens:
            tokens.insert(0, first.group(0))
    unshared = [t for t in tokens if not shared(t)]
    if not unshared:
        return []
    listed = ", ".join(f'"{t}"' for t in unshared[:4])
    return [f"instance: {listed} belong to one instance (not in every evidence sentence)"]


def _name_key(name: str) -> frozenset[str]:
    if _CJK.search(name):
        text = re.sub(r"[^\u3400-\u9fff]", "", name)
        return frozenset(text[i : i + 2] for i in range(max(len(text) - 1, 1)))
    return frozenset(w for w in (_stem(w) for w in _WORDS.findall(name)) if w not in _STOP)


def names_no_shortcoming(name: str) -> bool:
    """Whether ``name`` names no shortcoming at all: vague (only generic or scoring words such as "Points
    deducted", "Not the maximum"), praise, or an improvement idea ("Suggested improvement to state an
    assumption"). A cluster whose best name is such is not an issue.

    >>> names_no_shortcoming("Points deducted"), names_no_shortcoming("Missing units of the result")
    (True, False)
    >>> names_no_shortcoming("Suggested improvement to state an assumption")
    True
    """
    return any(p.startswith(("vague", "praise", "suggestion")) for p in name_problems(name))


def near_duplicate(a: str, b: str, *, threshold: float = 0.75, subset: bool = False) -> bool:
    """Whether two names say the same: equal content words, or a token Jaccard of at least ``threshold``;
    with ``subset``, also when one's words (two or more) are all among the other's (rare issues from one
    row's two sentences: "Missing income limit", "Missing income limits for direct contributions"; off
    for recurring issues, where it merged distinct planted problems: general dev recovery F1 0.727 → 0.707).

    >>> near_duplicate("Calculation errors", "errors in the calculation"), near_duplicate("Missing units", "Wrong units")
    (True, False)
    >>> near_duplicate("Missing income limit", "Missing income limits for direct contributions", subset=True)
    True
    >>> near_duplicate("Missing units of the final result", "Missing units from the final answer")
    True
    >>> near_duplicate("No tool called", "Failure to perform any tool calls"), near_duplicate("No tool called", "Wrong tool")
    (True, False)
    """
    ka, kb = _name_key(a), _name_key(b)
    if not ka or not kb:
        return a.strip().casefold() == b.strip().casefold()
    if subset and min(len(ka), len(kb)) >= 2 and (ka <= kb or kb <= ka):
        return True
    # the same words once those naming where in the answer go: "Missing units of the final result" and
    # "Missing units from the final answer"
    topic = {_stem(w) for w in _TOPIC_WORDS}
    core_a, core_b = ka - topic, kb - topic
    if len(core_a) >= 2 and core_a == core_b:
        return True
    absent_a, absent_b = _absence_key(a), _absence_key(b)
    if absent_a and absent_a == absent_b:  # "No units given", "Missing units": one absence
        return True
    return ka == kb or len(ka & kb) / len(ka | kb) >= threshold


# "Failure to perform any tool calls", "No tool called", "Failure to invoke any tool": one absence said
# three ways. An absence's key is what is absent, without the verb that only says it was done or used.
_ABSENCE = re.compile(
    r"^(?:(?:missing|absent|no|lack of|absence of|omission of|omitted|without)\s+|"
    r"failure to (?:\w+ )?|failing to (?:\w+ )?|not (?:\w+ )?)(.+)$",
    re.IGNORECASE,
)
_LIGHT = frozenset(
    """perform performed performing make made making do done doing run ran running execute executed executing
    carry carried carrying out conduct conducted invoke invoked invoking invocation invocations call called
    calling calls use used using usage uses provide provided providing give given giving include included
    including any single one""".split()
)


def _absence_key(name: str) -> frozenset[str]:
    """What an absence name says is absent, as stems without light verbs ("tool" for "No tool called",
    "Failure to perform any tool calls" and "Failure to invoke any tool"); empty for another kind of name.

    >>> sorted(_absence_key("Failure to perform any tool calls")), sorted(_absence_key("No tool called"))
    (['tool'], ['tool'])
    >>> _absence_key("Wrong tool selected")
    frozenset()
    """
    match = _ABSENCE.match(name.strip())
    if not match or _CJK.search(name):
        return frozenset()
    verb = re.match(r"(?:failure|failing|not) (?:to )?(\w+)", name.strip(), re.IGNORECASE)
    words = [w.casefold() for w in _WORDS.findall(match.group(1))]
    if verb and verb.group(1).casefold() not in _LIGHT and verb.group(1).casefold() != "to":
        words.insert(0, verb.group(1).casefold())  # "Failure to verify the source" is not "Missing source"
    return frozenset(_stem(w) for w in words if w not in _LIGHT and w not in _STOP)


def _duplicate_problems(name: str, siblings: Sequence[str]) -> list[str]:
    for sibling in siblings:
        if near_duplicate(name, sibling):
            return [f'duplicate: near-duplicate of the sibling name "{sibling}"']
    return []


_CRITICISM_EXTRA = re.compile(
    r"\b(?:gaps?|slips?|typos?|bugs?|crash\w*|excess\w*|jargon|repetition|refusal|overuse|misuse|contradiction|"
    r"placeholders?|leftover|cut[- ]off|insufficient\w*|un\w+ed|unclear|overly|lack|failure|ignored|invented|"
    r"hallucinated|fabricated|illogical|irrelevant|wrong|confusing|misleading|off-by-one|truncat\w*|unfinished|"
    r"stops? mid-\w+|stopping mid-\w+|breaks? off|breaking off|cut short)\b",
    re.IGNORECASE,
)


def _is_praise(name: str) -> bool:
    text = _PRAISE_NEGATED.sub(" ", name)
    score = cue_score(text) + len(_CRITICISM_EXTRA.findall(text)) + len(_CRITICISM_ZH.findall(text))
    return score < 0 or (score <= 0 and bool(_PRAISE_EXTRA.search(text)))


# -- LLM-free names: a feedback sentence → a noun phrase ---------------------------------------------
_HEDGES = re.compile(
    r"\b(?:seem to|appear to|somewhat|slightly|a bit|a little|potentially|possibly|"
    r"perhaps|arguably|likely|generally|overall|only|minor|significant|critical|major|small|fully|"
    r"entirely|completely|explicitly|directly|actually|initially|ultimately|subsequently|then|quietly|"
    r"therefore|thus|hence|technically|strictly)\s+",
    re.IGNORECASE,
)
_TRAILING = re.compile(
    # (not an indirect question: "never says which document the figure comes from" keeps its object)
    r"(?:,\s*|(?<!\bsay)(?<!\bsays)(?<!\bstate)(?<!\bstates)(?<!\bspecify)(?<!\bspecifies)(?<!\bexplain)"
    r"(?<!\bexplains)(?<!\bmention)(?<!\bmentions)(?<!\bindicate)(?<!\bindicates)(?<!\bidentify)(?<!\bidentifies)"
    r"\s+)(?:which|(?<!\bact )(?<!\bacts )(?<!\bacting )(?<!\bserve )(?<!\bserves )(?<!\btreated )(?<!\btreats )"
    r"(?<!\blabeled )(?<!\blabelled )(?<!\bclassified )(?<!\bmarked )(?<!\bflagged )(?<!\blisted )(?<!\bdefined )"
    r"(?<!\bformatted )(?<!\bencoded )(?<!\bpassed )(?<!\bgiven )"
    r"as(?!\s+(?:if|though|well)\b)|leading|making|resulting|since|so that|so|thus|where|while|whereas|although|"
    r"though|because|e\.g\.|i\.e\.|for example|for instance|such as|indicating|suggesting)\b.*$"
    r"|,\s*(?:namely|specifically|in particular|notably|here|this time)\b.*$"
    r"|,\s*(?:given|considering)\b.*$|\s+(?:given|considering) that\b.*$"
    r"|,\s*(?:violating|contravening|breaching|breaking|contradicting|going against)\b.*$"
    r"|\s*[(\[:;].*$"
    r"|(?:,\s*|\s+)(?:but|however|and this|and the model)\b.*$"
    r"|,\s*and\s+(?:the|it|this|a|an|its|there)\b.*$"
    # a possible consequence: "is unusual and might confuse readers" names the fault, not what it may do
    r"|(?:,\s*|\s+)and\s+(?:might|may|could|can|would|will|is likely to|risks?)\s+(?:\w+\s+)?(?:cause|lead|confus\w*|"
    r"mislead\w*|make|result|leave|give|create|distract)\b.*$",
    re.IGNORECASE,
)
# "... affects the accuracy of the response": what the problem did to the grade, not the problem.
_EFFECT = re.compile(
    r"(?:\s+(?:that|which))?\s+(?:(?:significantly|greatly|negatively|seriously|also)\s+)?(?:affects?|affected|impacts?|impacted|"
    r"detracts?\s+from|undermines?|compromises?|reduces?|lowers?|diminish(?:es)?|hurts?)\s+(?:the|its|their)?\s*"
    r"(?:overall\s+)?(?:(?:response|answer|model|solution)(?:'s|’s)?\s+)?(?:quality|accuracy|clarity|completeness|"
    r"correctness|coherence|score|evaluation|reliability|rating|validity|usefulness|helpfulness|overall)\b.*$",
    re.IGNORECASE,
)
_SEEMS = re.compile(r"\b(?:seems|appears|tends) to (?:\w+ly )?(\w+)", re.IGNORECASE)
_IRREGULAR = {"be": "is", "have": "has", "do": "does", "go": "goes"}
_ORDINALS = r"(?:first|second|third|fourth|final|last|initial|next|same|very)"
_LOCATOR = re.compile(
    # "in the second paragraph", "in step 3", not a form ("in bullet points", "in paragraphs")
    rf"\s*,?\s*\b(?:in|at|during)\s+(?:the\s+(?:{_ORDINALS}\s+)*|(?:{_ORDINALS}\s+)+)"
    r"(?:step|line|paragraph|sentence|bullet|tip)s?(?:\s+#?\d+)?\b(?!\s+(?:points?|lists?|form|format|style)\b)"
    r"|\s+in\s+(?:step|tip|line|bullet|paragraph|sentence)s?\s+#?\d+\b"
    # the unit being judged, pointed at: "violates the instructions for this role", "… at this stage"
    r"|\s*,?\s*\b(?:in|at|during|for|within)\s+(?:this|the current)\s+(?:step|stage|phase|role|turn|point)\b",
    re.IGNORECASE,
)
_CONTRAST = re.compile(
    r"(?:,\s*|\s+)(?:but|however|yet|whereas|although|though|even though|except that)\b,?\s*"
    r"|\s*;\s*(?:however,?\s*)?|\s+—\s+"
    r"|\s+and\s+(?=(?:then\s+)?(?:never|not|does not|doesn't|did not|fails|omits|ignores|misses|lacks|[a-z]+s\s+no)\b)"
    r"|,\s*(?=(?:omitting|ignoring|missing|forgetting|neglecting|failing|skipping|overlooking)\b)",
    re.IGNORECASE,
)
_LEADING_CONCESSION = re.compile(
    r"^(?:although|though|while|whereas|even though|even with|even when|even after|even if|despite|in spite of)"
    r"\s+([^,]{3,}),\s*(.{3,})$",
    re.I,
)
# "Instead of X, Y" / "Rather than X, Y": the main clause Y is what was done wrong, X what was expected.
_LEADING_ALTERNATIVE = re.compile(r"^(instead of|rather than)\s+([^,]{3,}),\s*(.{3,})$", re.IGNORECASE)
# A clause these open is subordinate: "X although Y" states its main point in X (on a tie, X names the issue).
_SUBORDINATE = re.compile(r"^(?:although|though|even though|whereas)\b", re.IGNORECASE)
_CAUSE = re.compile(r"\s+(?:due to|because of|owing to|caused by|as a result of|stemming from|resulting from)\s+", re.I)
_LEADING_CAUSE = re.compile(
    r"^(?:given|considering|because of|due to|owing to|in light of|with)\s+(.{3,}?),\s*(.{3,})$", re.IGNORECASE
)
_GENERIC_SUBJECT = re.compile(
    r"^(?:the |this |its )?(?:model's |model’s |assistant's |ai's )?"
    r"(response|answer|model|solution|output|assistant|reply|agent|step)(?:'s)?\s+(?:itself\s+|also\s+|then\s+)?"
    r"(?=(?:is|are|was|were|has|have|had|does|do|did|doesn't|don't|didn't|can|could|should|would|will|must|may|"
    r"might|never|not|[\w-]+s|\w+ed|incorrectly|wrongly|mistakenly|erroneously|also|then|only)\b)"
    r"|^(?:it|they)\s+(?:also\s+|then\s+)?",
    re.IGNORECASE,
)
_DETERMINER = re.compile(r"^(?:the|a|an|any|its|their|some)\s+", re.IGNORECASE)
_POSSESSOR = re.compile(
    r"\bthe (user|question|problem|task|customer|client|student|parent|reader|passage|document|source|context|"
    r"reference)(?:'s|’s)\s+",
    re.IGNORECASE,
)

# verb (base) → (3rd person, past, nominalisation or None); the nominal names the act ("statement of").
_VERBS: dict[str, tuple[str, str, str | None]] = {}


def _verb(base: str, nominal: str | None = None, third: str | None = None, past: str | None = None) -> None:
    if third is None:
        if re.search(r"(?:s|sh|ch|x|z|o)$", base):
            third = base + "es"
        elif re.search(r"[^aeiou]y$", base):
            third = base[:-1] + "ies"
        else:
            third = base + "s"
    _VERBS[base] = (third, past or _regular_past(base), nominal)


def _regular_past(base: str) -> str:
    """The regular past (and past participle) of ``base``: "noted", "verified", "cited"."""
    return base + "d" if base.endswith("e") else base[:-1] + "ied" if re.search(r"[^aeiou]y$", base) else base + "ed"


for _base, _nominal in {
    "state": "statement",
    "mention": "mention",
    "specify": "specification",
    "explain": "explanation",
    "justify": "justification",
    "define": "definition",
    "cite": "citation",
    "describe": "description",
    "clarify": "clarification",
    "acknowledge": "acknowledgement",
    "calculate": "calculation",
    "compute": "computation",
    "assume": "assumption",
    "apply": "application",
    "convert": "conversion",
    "interpret": "interpretation",
    "round": "rounding",
    "add": "addition",
    "subtract": "subtraction",
    "multiply": "multiplication",
    "divide": "division",
    "identify": "identification",
    "select": "selection",
    "quote": "quotation",
    "estimate": "estimate",
    "count": "count",
    "summarize": "summary",
    "summarise": "summary",
    "translate": "translation",
    "simplify": "simplification",
    "represent": "representation",
    "conclude": "conclusion",
    "infer": "inference",
    "derive": "derivation",
    "evaluate": "evaluation",
    "compare": "comparison",
    "verify": "verification",
    "check": "check",
    "handle": "handling",
    "parse": "parsing",
    "retrieve": "retrieval",
    "implement": "implementation",
    "label": "labelling",
    "repeat": "repetition",
    "treat": "treatment",
    "claim": "claim",
    "suggest": "suggestion",
    "use": "use",
    "rely": "reliance",
    "refuse": "refusal",
    "answer": "answer",
    "respond": "response",
    "misinterpret": "misinterpretation",
    "misunderstand": "misunderstanding",
    "miscalculate": "miscalculation",
    "misapply": "misapplication",
    "misuse": "misuse",
    "misstate": "misstatement",
    "miscount": "miscount",
    "misidentify": "misidentification",
    "misrepresent": "misrepresentation",
    "misquote": "misquotation",
    "confuse": "confusion",
    "double-count": "double counting",
    "introduce": "introduction",
    "call": "call",
    "choose": "choice",
    "format": "formatting",
    "structure": "structuring",
    "order": "ordering",
    "sort": "sorting",
    "measure": "measurement",
    "solve": "solution",
    "violate": "violation",
    "contradict": "contradiction",
}.items():
    _verb(_base, _nominal)
_VERBS["misread"] = ("misreads", "misread", "misreading")
_VERBS["misunderstand"] = ("misunderstands", "misunderstood", "misunderstanding")
_VERBS["choose"] = ("chooses", "chose", "choice")
_VERBS["infer"] = ("infers", "inferred", "inference")
for _base in (
    "provide give include list show offer present omit skip miss neglect forget overlook drop exclude lack contain "
    "have make commit exhibit display ignore disregard fail hallucinate invent fabricate follow address meet "
    "satisfy respect fulfill fulfil consider reach complete finish match adhere comply stop break end write "
    "produce return violate exceed attempt try need require seem appear tend lead result affect support back "
    "confirm corroborate cover"
).split():
    if _base not in _VERBS:
        _verb(_base)
_VERBS["have"] = ("has", "had", None)
_VERBS["make"] = ("makes", "made", None)
_VERBS["give"] = ("gives", "gave", None)
_VERBS["forget"] = ("forgets", "forgot", None)
_VERBS["write"] = ("writes", "wrote", None)
_VERBS["break"] = ("breaks", "broke", None)
_VERBS["omit"] = ("omits", "omitted", None)
_VERBS["skip"] = ("skips", "skipped", None)
_VERBS["drop"] = ("drops", "dropped", None)
_VERBS["stop"] = ("stops", "stopped", None)
_VERBS["commit"] = ("commits", "committed", None)
_VERBS["show"] = ("shows", "showed", None)
_FORMS = {form: base for base, (third, past, _) in _VERBS.items() for form in (base, third, past)}
_PARTICIPLES = {"shown": "show", "given": "give", "made": "make", "written": "write", "chosen": "choose"}

_OMISSION = {"omit", "skip", "miss", "neglect", "overlook", "drop", "exclude", "leave"}
_PRESENCE = {"contain", "include", "have", "make", "commit", "exhibit", "display", "introduce", "present", "show"}
_PROVIDE = {"provide", "give", "include", "list", "show", "offer", "present", "add"}
_STATING = {
    "state", "mention", "specify", "explain", "justify", "define", "cite", "describe", "clarify", "acknowledge",
    "verify", "check",
}  # fmt: skip
_INVENTED = {"hallucinate": "Hallucinated", "invent": "Invented", "fabricate": "Fabricated"}
_NEGATED_ADJECTIVE = {
    "correct": "incorrect",
    "accurate": "inaccurate",
    "clear": "unclear",
    "complete": "incomplete",
    "relevant": "irrelevant",
    "consistent": "inconsistent",
    "precise": "imprecise",
    "appropriate": "inappropriate",
    "valid": "invalid",
    "supported": "unsupported",
    "justified": "unjustified",
    "explained": "unexplained",
    "stated": "unstated",
    "specified": "unspecified",
    "addressed": "unaddressed",
    "answered": "unanswered",
    "verified": "unverified",
    "defined": "undefined",
    "labelled": "unlabelled",
    "labeled": "unlabeled",
    "handled": "unhandled",
    "checked": "unchecked",
    "cited": "uncited",
    "sourced": "unsourced",
    "necessary": "unnecessary",
    "logical": "illogical",
    "realistic": "unrealistic",
    "reasonable": "unreasonable",
}
_MISSING_PARTICIPLES = {
    "given",
    "provided",
    "included",
    "shown",
    "mentioned",
    "listed",
    "present",
    "offered",
    "reported",
    "added",
}
_COMPARATIVES = {
    "shorter": "Excessive length",
    "briefer": "Excessive length",
    "clearer": "Lack of clarity",
    "simpler": "Unnecessary complexity",
    "longer": "Insufficient length",
    "more concise": "Lack of concision",
    "more detailed": "Insufficient detail",
    "more precise": "Imprecision",
    "more explicit": "Insufficiently explicit wording",
    "more direct": "Indirect answer",
    "more thorough": "Insufficient thoroughness",
}
_INTENSIFIERS = re.compile(r"\b(?:far|much|way|very|quite|rather(?! than)|extremely|a bit|a little|somewhat)\s+", re.I)
_ADVERB_WRONG = re.compile(r"^(?:incorrectly|wrongly|mistakenly|erroneously|inaccurately|improperly)\s+(.+)$", re.I)
_NEGATION = re.compile(
    r"^(?:does not|doesn't|did not|didn't|do not|don't|never|cannot|can't|could not|couldn't|fails? to|failed to|"
    r"neglects? to|neglected to|forgets? to|forgot to|omits? to)\s+(?:(?:fully|correctly|accurately|properly|"
    r"clearly|explicitly|actually|always|even|once|really|directly|adequately|sufficiently|specifically)\s+)*(.+)$",
    re.IGNORECASE,
)
_COPULA = re.compile(r"^(?:is|are|was|were|remains?|seems|appears|looks)\s+(?:also\s+|then\s+|still\s+)?(.+)$", re.I)
_SUGGESTION = re.compile(
    r"^(?:could|should|would|might|may)\s+(?:also\s+)?(?:have\s+been|be|have)\s+(.+)$|^(?:could|would) benefit from\s+(.+)$",
    re.IGNORECASE,
)
_IMPROVEMENT = re.compile(
    r"^(?:the\s+)?(?:only\s+)?(?:potential\s+|possible\s+|minor\s+|main\s+)*(?:area\s+(?:for|of)\s+improvement|"
    r"room\s+for\s+improvement|improvement|suggestion|issue|drawback|weakness|shortcoming)\s+"
    r"(?:could be|would be|might be|is|may be)\s+(?:that\s+|in\s+|to\s+)?(.+)$",
    re.IGNORECASE,
)
_THERE = re.compile(r"^there\s+(?:is|are|was|were|'s)\s+(.+)$", re.IGNORECASE)
_NO_SUBJECT = re.compile(r"^no\s+(.+?)\s+(?:is|are|was|were)\s+(?:\w+ly\s+)?(\w+)\b(.*)$", re.IGNORECASE)
_PASSIVE_WRONG = re.compile(
    r"^(.+?)\s+(?:is|are|was|were|has been|have been)\s+(\w+?)\s+(?:incorrectly|wrongly|erroneously|inaccurately|improperly)\b(.*)$",
    re.IGNORECASE,
)
_BY_CAUSE = re.compile(r"^(?:marred|undermined|affected|hampered|weakened|based)\s+(?:by|on)\s+(.+)$", re.IGNORECASE)
_SUFFERS = re.compile(r"^(?:suffers from|struggles with)\s+(.+)$", re.IGNORECASE)
_ABSTRACT = re.compile(r"(?:ity|ness|ance|ence|cy|th|sion|tion|ment|detail|rigou?r|context|evidence|support|focus)$")


def critical_clause(sentence: str) -> str:
    """The clause of a contrasting sentence that criticises: never the praise half of "…, but …".

    >>> critical_clause("Every step of the explanation is right, but the final sum is wrong.")
    'the final sum is wrong.'
    >>> critical_clause("Although the steps are clear, the units are missing")
    'the units are missing'
    >>> critical_clause("Even with the right tool, the arguments use the wrong unit.")
    'the arguments use the wrong unit.'
    >>> critical_clause("The call passes the value in GWh although the tool expects TWh.")
    'The call passes the value in GWh'
    """
    match = _LEADING_CONCESSION.match(sentence.strip())
    halves = [(match.group(1), True), (match.group(2), False)] if match else [(sentence, False)]
    parts: list[tuple[str, bool]] = []  # (clause, subordinate)
    for half, conceded in halves:
        last = 0
        for cut in _CONTRAST.finditer(half):
            parts.append((half[last : cut.start()], conceded))
            conceded = bool(_SUBORDINATE.match(cut.group(0).strip(" ,;—")))
            last = cut.end()
        parts.append((half[last:], conceded))
    parts = [(p.strip(), sub) for p, sub in parts if p.strip() and len(_WORDS.findall(p)) >= 2]
    if not parts:
        return sentence
    if len(parts) == 1:
        return parts[0][0]
    # the cue score, and a fault the cues do not know ("stops mid-word", "breaks off", "typo")
    scores = [cue_score(p) + 0.5 * bool(_CRITICISM_EXTRA.search(p)) for p, _ in parts]
    return parts[max(range(len(parts)), key=lambda i: (scores[i], not parts[i][1], i))][0]


def _third_person(match: re.Match[str]) -> str:
    """ "seems to contain" → "contains": the hedge goes, the verb keeps its person (an adverb before it goes
    too: "seems to slightly misread" → "misreads")."""
    verb = match.group(1)
    if verb.lower() in _IRREGULAR:
        return _IRREGULAR[verb.lower()]
    if verb.lower() in _VERBS:
        return _VERBS[verb.lower()][0]
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _gerund(base: str) -> str:
    if base.endswith("ie"):
        return base[:-2] + "ying"
    if base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        return base[:-1] + "ing"
    if re.search(r"[^aeiou][aeiou][bdgmnprt]$", base) and len(base) <= 4:
        return base + base[-1] + "ing"
    return base + "ing"


def _base_of(word: str) -> str | None:
    """The base form of a verb form (3rd person or past) the tables know, else a guess from its ending."""
    word = word.casefold()
    if word in _FORMS:
        return _FORMS[word]
    if word.endswith("ing") and len(word) > 5:
        stem = word[:-3]
        return next((b for b in (stem, stem + "e", stem[:-1]) if b in _VERBS), None)
    if word in _PARTICIPLES:
        return _PARTICIPLES[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and re.search(r"(?:ss|sh|ch|x|z|o)es$", word):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return None


def _inner(text: str) -> str:
    """A sentence-initial phrase moved inside a name: its capital goes (not an acronym's: "API")."""
    first = text.split(maxsplit=1)[0] if text.split() else ""
    return text[:1].lower() + text[1:] if first[1:2].islower() else text


def _object(text: str) -> str:
    """An object phrase without its leading determiner; "the user's instruction" → "user instruction"."""
    text = _POSSESSOR.sub(lambda m: m.group(1).lower() + " ", text.strip())
    return _DETERMINER.sub("", text, count=1)


# A relative clause set off by commas inside the clause: "The closing sentence, where the reviewer says they
# would not return, is missing" is about the closing sentence being missing.
_ASIDE = re.compile(r",\s*(?:where|which|who|whose|when)\b[^,;]{3,100},\s*(?=(?:is|are|was|were|has|have)\b)", re.I)


def _balanced_quotes(text: str) -> str:
    """``text`` without an opening or closing straight quote left alone at either end (a closing one that
    ends a quotation stays: 'Use of the word "chlorophyll"').

    >>> _balanced_quotes('Use of the word "chlorophyll"'), _balanced_quotes('"Too long'), _balanced_quotes("says 'no")
    ('Use of the word "chlorophyll"', 'Too long', "says 'no")
    """
    for mark in "\"'":
        while text[:1] == mark and text.count(mark) % 2:
            text = text[1:].strip()
        while text[-1:] == mark and text.count(mark) % 2:
            text = text[:-1].strip()
    return text.strip(" ,.;:!?-–—")


_FAULT_MARK = re.compile(
    r"\b(?:not|no|never|none|without|cannot|can't|doesn't|didn't|isn't|aren't|wasn't|instead of|rather than|"
    r"short of|beyond|fail\w*|missing|lacks?|lacking|absent|omi\w+|skip\w*|neglect\w*|ignor\w*|violat\w*|"
    r"exceed\w*|error\w*|mistak\w*|bugs?|flaw\w*|faulty|broken|issues?|problems?|wrong\w*|incorrect\w*|"
    r"inappropriate\w*|improper\w*|inadequate\w*|inaccura\w+|inconsisten\w+|incoherent|incomplete|invalid|"
    r"irrelevant|illogical|unclear|unsupported|unjustified|unverified|unnecessar\w*|unrelated|unreliable|"
    r"unusable|unsafe|unfounded|unwarranted|unrequested|disallowed|noncompliant|non-compliant|misleading|"
    r"mis(?:read|interpret|stat|calculat|count|appl|label|match|use|judg|understood|understand|represent|quot|"
    r"plac|spell|classif|align|identif|attribut|char|lead|led)\w*|redundan\w*|superfluous|excessive\w*|overly|poor\w*|weak\w*|vague\w*|ambiguous|confus\w*|"
    r"stale|outdated|obsolete|premature\w*|truncat\w*|hallucinat\w*|fabricat\w*|contradict\w*|"
    r"too (?:long|short|many|few|much|little|verbose|vague|brief|late|early))\b",
    re.IGNORECASE,
)


def _names_fault(text: str) -> bool:
    """Whether ``text`` carries a word that says something is wrong (a cue, a negation, a fault word)."""
    return cue_score(text) > 0 or bool(_CRITICISM_EXTRA.search(text) or _FAULT_MARK.search(text))


# "the model's explanation": whose it is goes without saying in a name ("Miscalculation in the explanation").
_JUDGED_POSSESSIVE = re.compile(
    r"\b(?:(?:the|this|its)\s+)?(?:model|response|assistant|agent|solution|ai)(?:'s|’s)\s+", re.IGNORECASE
)


def _clean(text: str) -> str:
    text = _JUDGED_POSSESSIVE.sub("the ", text)
    text = _ASIDE.sub(" ", text)
    text = re.sub(r"\s*\([^()]*\)|\s*\[[^\[\]]*\]", "", text)  # an aside in brackets, not the rest
    text = _SEEMS.sub(_third_person, text)
    text = re.sub(r"\b(hard|difficult|easy) to (follow|understand|read|verify|use)\b", r"\1-to-\2", text, flags=re.I)
    text = _HEDGES.sub("", _HEDGE_WORDS.sub("", text))
    text = _LOCATOR.sub("", text)
    trailing = _TRAILING.search(text)  # every alternative runs to the end: the name is what precedes it
    cut = (text[: trailing.start()] if trailing else text).strip(" ,.;:!?-–—")
    if (
        trailing
        and re.match(r"[,\s]*(?:as|violating|contravening|breaching|breaking|contradicting|going)\b", trailing.group(0))
        and _names_fault(text)
        and not _names_fault(cut)
    ):
        # "arguments are provided as a JSON string rather than an object": the fault is in what was cut;
        # keep the text up to the next clause (the name is shortened to its words later)
        cut = re.split(r",\s*(?:which|so|because|since|leading|making|while|and this)\b", text, maxsplit=1)[0]
    text = _balanced_quotes(cut.strip(" ,.;:!?-–—"))
    without_effect = _EFFECT.sub("", text)
    if len(without_effect.split()) >= 2:
        text = without_effect
    return _AN.sub(r"\1n ", re.sub(r"\s{2,}", " ", text)).strip(" ,.;:!?-–—")


# "a" before a vowel sound becomes "an"; "a unit", "a user", "a one-off", "a European" keep "a".
_AN = re.compile(
    r"\b([Aa]) (?=[aeiouAEIOU])(?!(?:uni[tqvfocs]|us[eu]|uti|ur[aio]|eu|one\b|once\b|one-))", re.IGNORECASE
)


# A leading frame that says by what standard, not what is wrong: "Per the step's instructions, it should
# have used the calculator" names the missing calculator call.
_LEADING_FRAME = re.compile(
    r"^(?:per|as per|according to|based on|judging by|in terms of|with respect to|regarding|for this step|"
    r"as an?|as the|in its role as|in the role of|"
    r"in this step|at this step|here|strictly speaking|technically)\b[^,]{0,80},\s*(.{3,})$",
    re.IGNORECASE,
)


def _with_cause(text: str) -> str:
    """ "Lacks accuracy due to the calculation error" → the cause, when what precedes it is vague; a leading
    frame ("Per the instructions, …") goes."""
    frame = _LEADING_FRAME.match(text)
    if frame:
        text = frame.group(1)
    leading = _LEADING_CAUSE.match(text)
    if leading:
        cause, rest = leading.group(1), leading.group(2)
        if not _specific_words(noun_phrase(_clean(rest))) and _specific_words(cause):
            return cause
        return rest
    parts = _CAUSE.split(text, maxsplit=1)
    if len(parts) == 2:
        head, cause = parts
        consequence = re.match(r"(?:\w+\s+){0,3}?(?:leads?|results?|causes?|led|resulted)\s+(?:to|in)\b", head, re.I)
        if (consequence or not _specific_words(noun_phrase(_clean(head)))) and _specific_words(cause):
            return cause
        return head
    return text


def noun_phrase(clause: str, *, head: str = "response") -> str:
    """A cleaned clause as a noun phrase ("Fails to convert units" → "Failure to convert units").

    ``head`` is the noun an adjective predicate describes when the clause has no subject of its own
    ("is overly long" → "Overly long response").

    >>> noun_phrase("does not state the assumptions")
    'Missing statement of the assumptions'
    >>> noun_phrase("The calculation of the discount is incorrect")
    'Incorrect calculation of the discount'
    >>> noun_phrase("ignores the user's instruction to answer in one word")
    'Ignored user instruction to answer in one word'
    """
    text = clause.strip(" ,.;:!?")
    if not text:
        return text
    subject = _GENERIC_SUBJECT.match(text)
    if subject:
        noun = (subject.group(1) or "response").lower()
        head = "response" if noun in ("model", "assistant", "agent", "it", "they") else noun
        text = text[subject.end() :].strip()
        first, _, rest = text.partition(" ")
        low = first.casefold()
        if (  # "the agent improvises …", a verb the tables do not know → "Improvising …"
            re.fullmatch(r"[a-z]{4,}s", low)
            and not low.endswith(("ss", "us", "is"))
            and low not in _FORMS
            and low not in _STOP
            and low not in _FINITE
        ):
            base = _base_of(low)
            if base and base not in _VERBS:
                text = f"{_gerund(base)} {rest}".strip()
    result = _transform(text, head)
    result = result.strip(" ,.;:!?")
    return result[:1].upper() + result[1:]


# A reporting verb before the fault it reports: "indicating a slight lapse in clarity", "which suggests that
# the model misread the question". The name is the fault, not the report of it.
_REPORTING = re.compile(
    r"^(?:which |this |that )?(?:indicat|demonstrat|suggest|reflect|reveal|impl(?:y|ie|yi)|signal|point(?:s|ed|ing)? to|"
    r"betray)\w*\s+(?:(that)\s+)?(.{3,})$",
    re.IGNORECASE,
)


# The judge speaking for itself about what it did not find: "I could not find any citation for the figure",
# "I see no justification", "I would have expected a call to the converter, not to the search tool".
_FIRST_PERSON = re.compile(
    r"^I\s+(?:could not|couldn't|cannot|can't|did not|didn't|do not|don't|was unable to|am unable to)\s+"
    r"(?:find|see|locate|spot|identify)\s+(?:any\s+)?(?P<found>.+)$"
    r"|^I\s+(?:see|found|find|saw|notice|noticed)\s+no\s+(?P<none>.+)$"
    r"|^I\s+would\s+have\s+(?:expected|liked|wanted)\s+(?:to\s+see\s+)?(?P<expected>.+?)(?:,?\s+not\b.*)?$",
    re.IGNORECASE,
)


def _transform(text: str, head: str) -> str:  # noqa: C901 - one ordered table of patterns
    low = text.casefold()
    words = text.split()
    if not words:
        return text
    match = _FIRST_PERSON.match(text)
    if match:  # what the judge did not find is what is missing
        return "Missing " + _object(next(g for g in match.groups() if g))
    match = _REPORTING.match(text)
    if match:
        rest = match.group(2)
        if match.group(1):  # "suggests that the model misread the question": the reported clause
            subject = _GENERIC_SUBJECT.match(rest)
            return _transform(rest[subject.end() :].strip() if subject else rest, head)
        return _object(rest)
    match = _IMPROVEMENT.match(text)
    if match:
        return _improvement(match.group(1), head)
    for pattern in (_BY_CAUSE, _SUFFERS):
        match = pattern.match(text)
        if match:
            return _transform(match.group(1), head)
    match = _THERE.match(text)
    if match:
        rest = match.group(1)
        if re.match(r"no\s+", rest, re.I):
            return "Missing " + _object(rest[3:])
        return _object(rest)
    match = _NO_SUBJECT.match(text)
    if match and match.group(2).casefold() in _MISSING_PARTICIPLES | _NAMING_PARTICIPLES:
        return f"Missing {_object(match.group(1))}{match.group(3)}"
    if match and _is_participle(match.group(2)):  # "no reason is given" above; "no check is run on the totals"
        return f"No {_object(match.group(1))} {match.group(2)}{match.group(3)}"
    match = _NONE_OF.match(text)
    if match:
        return _none_of(match.group(1), match.group(2) or "", match.group(3) or "")
    if low.startswith("no ") and len(words) > 1:
        found = _NO_WHERE.match(text)  # "No sources appear in the report" → "Missing sources in the report"
        if found:
            return f"Missing {_object(found.group(1))} {found.group(2)}"
        rest = words[1:]
        for k in range(1, min(len(rest), 6)):  # "No source backs the claim" → "Missing source backing the claim"
            verb = rest[k].casefold()
            if verb.endswith("s") and _FORMS.get(verb) in _VERBS and rest[k - 1].casefold() not in _STOP:
                return f"Missing {_object(' '.join(rest[:k]))} {' '.join([_gerund(_FORMS[verb]), *rest[k + 1 :]])}"
        return "Missing " + _object(text[3:])
    match = _SUGGESTION.match(text)
    if match:
        unmet = bool(re.match(r"should\s+(?:also\s+)?have\s+(?!been\b)", text, re.I))  # not "would be deducted"
        return _suggestion(match.group(1) or "", match.group(2) or "", head, regular=unmet)
    match = re.match(r"(?:makes?|made|making) up\s+(.+)$", text, re.I)
    if match:
        return "Made-up " + _object(match.group(1))
    match = _NEGATION.match(text)
    if match:
        return _negated(match.group(1), fails=low.startswith(("fail", "neglect", "forget", "forgot", "omit")))
    match = _ADVERB_WRONG.match(text)
    if match:
        rest = match.group(1).split(maxsplit=1)
        base = _base_of(rest[0])
        nominal = _VERBS.get(base or "", (None, None, None))[2]
        obj = rest[1] if len(rest) > 1 else ""
        if nominal:
            joiner = " " if re.match(r"(?:that|as|to)\b", obj) or not obj else " of "
            return f"Incorrect {nominal}{joiner}{obj}".rstrip()
        return f"Incorrectly {_gerund(base) if base else rest[0]} {obj}".rstrip()
    match = _COPULA.match(text)
    if match:
        return _predicate(match.group(1), head, subject=None)
    first = words[0].casefold()
    base = _base_of(first) if first not in _STOP else None
    if base in _VERBS or (first.endswith("s") and base and first in _VERB_FORMS):
        return _verb_phrase(base, " ".join(words[1:]))
    if first.endswith("ed") and base is None and _FORMS.get(first):
        return _verb_phrase(_FORMS[first], " ".join(words[1:]))
    return _subject_led(text, head)


# "No X appear(s) / is / are in Y": X is missing from Y (the verb goes; a bare "No X" is handled as missing X).
_NO_WHERE = re.compile(
    r"^no\s+(.+?)\s+(?:appears?|exists?|occurs?|is|are|was|were|can be found|could be found)\s+"
    r"((?:in|on|within|inside|among|anywhere in)\s+.+)$",
    re.IGNORECASE,
)
# "None of the retrieved documents backs the figure", "None of the figures is attributed to a source".
_NONE_OF = re.compile(
    r"^none of\s+((?:the |its |their |these |those )?(?:[\w'-]+\s+){0,4}?[\w'-]+)"
    r"(?:\s+(is|are|was|were|has been|have been|(?<=s\s)(?!is\b|was\b|has\b)[a-z]+s)\b\s*(.*))?$",
    re.IGNORECASE,
)
# Participles that, after "no X is", mean the X is missing ("no source is named for the claim").
_NAMING_PARTICIPLES = frozenset(
    "stated mentioned explained named cited identified specified documented supplied attributed credited".split()
)


_IRREGULAR_PARTICIPLES = frozenset("run done made kept taken seen set put found read met held told paid".split())


def _is_participle(word: str) -> bool:
    word = word.casefold()
    return word in _PARTICIPLES or word in _IRREGULAR_PARTICIPLES or word.endswith("ed") or word in _MISSING_PARTICIPLES


def _none_of(things: str, verb: str, rest: str) -> str:
    """ "None of X <verb> Y" as a noun phrase: what the X fail to do, not that X are missing.

    >>> _none_of("the retrieved documents", "backs", "the figure")
    'Retrieved documents not backing the figure'
    >>> _none_of("the figures", "is", "attributed to a source")
    'Figures not attributed to a source'
    >>> _none_of("the sources", "", "")
    'Missing sources'
    """
    subject = _object(things)
    verb = verb.casefold()
    copula = verb in ("is", "are", "was", "were", "has been", "have been")
    base = None if copula or not verb else _base_of(verb)
    if (copula and not rest) or (not copula and not base):
        return "Missing " + subject
    predicate = rest if copula else f"{_gerund(base)} {rest}"
    return f"{subject[:1].upper()}{subject[1:]} not {predicate}".strip()


def _improvement(text: str, head: str) -> str:
    """What "the only improvement could be ..." names: something missing ("in providing a summary")."""
    words = text.split()
    gerund = words[0].casefold() if words else ""
    if gerund.endswith("ing") and len(words) > 1:
        stem = gerund[:-3]
        base = next((b for b in (stem, stem + "e", stem[:-1]) if b in _VERBS), None)
        if base in _PROVIDE or base in ("add", "include", "state", "mention"):
            return _suggestion("", " ".join(words[1:]), head)
        nominal = _VERBS.get(base or "", (None, None, None))[2]
        if nominal:
            return f"Missing {nominal} of {_object(' '.join(words[1:]))}"
    return noun_phrase(text, head=head)


# Where the object of "<verb> no <object> …" ends: a preposition or conjunction other than "of".
_OBJECT_END = re.compile(
    r"\s+(?=(?:for|to|in|on|at|by|before|after|when|while|with|without|from|about|that|which|because|since|and|or|"
    r"but|as|into|despite|although|though)\b)|\s*(?=[,;:])",
    re.IGNORECASE,
)
_PAST_PARTICIPLES = {base: form for form, base in _PARTICIPLES.items()} | {
    "forget": "forgotten",
    "break": "broken",
    "take": "taken",
}


def _participle(base: str) -> str:
    """The past participle of ``base``: "chosen", "taken", "cited"."""
    return _PAST_PARTICIPLES.get(base) or (_VERBS[base][1] if base in _VERBS else _regular_past(base))


def _no_object(base: str, rest: str) -> str | None:
    """ "cites no source for the claim" → "No source cited for the claim" ("provides no X" → "Missing X", as
    "does not provide X"); ``None`` when ``rest`` does not open with "no" or the verb names presence.

    >>> _no_object("cite", "no source for the claim"), _no_object("provide", "no evidence for the figure")
    ('No source cited for the claim', 'Missing evidence for the figure')
    >>> _no_object("call", "no tool before answering"), _no_object("have", "no title")
    ('No tool called before answering', None)
    """
    match = re.match(r"no\s+(\S.*)$", rest, re.IGNORECASE)
    if not match or base in _PRESENCE | _OMISSION | {"lack", "ignore", "disregard", "fail"} or base in _INVENTED:
        return None
    obj = _OBJECT_END.split(match.group(1), maxsplit=1)[0]
    tail = match.group(1)[len(obj) :].strip()
    tail = f" {tail}" if tail and tail[0] not in ",;:" else ""
    if base in _PROVIDE:
        return f"Missing {obj}{tail}"
    return f"No {obj} {_participle(base)}{tail}"


def _verb_phrase(base: str, rest: str) -> str:
    """A clause that starts with its verb (the subject was stripped) as a noun phrase."""
    none = _no_object(base, rest)
    if none:
        return none
    obj = _object(rest)
    if base in _OMISSION:
        return "Missing " + obj if obj else "Omission"
    if base == "lack":
        first = obj.split()[0] if obj else ""
        return f"Lack of {obj}" if _ABSTRACT.search(first) and len(obj.split()) <= 3 else f"Missing {obj}"
    if base in ("ignore", "disregard"):
        return f"Ignored {obj}"
    if base in _INVENTED:
        return f"{_INVENTED[base]} {obj}"
    if base == "include" and cue_score(rest) <= 0 and rest:
        return f"Inclusion of {rest}"
    if base in _PRESENCE:
        return obj[:1].upper() + obj[1:] if obj else base
    if base in ("fail",):
        if rest and not re.match(r"(?:to|in|at|on|of|with|when|by|for|because|as)\b", rest, re.IGNORECASE):
            return f"Failure to meet {rest}"  # "fails several requirements": what it fails is met
        return f"Failure {rest}" if rest else "Failure"
    if base == "rely":
        return f"Reliance {rest}"
    if base == "refuse":
        return f"Refusal {rest}"
    if base == "confuse":
        return f"Confusion of {rest}" if rest else "Confusion"
    if base == "repeat" and re.match(r"(?:itself|themselves)\b", rest):
        return "Repetition"
    nominal = _VERBS.get(base, (None, None, None))[2]
    if base in ("claim", "assume", "conclude", "state", "suggest") and rest and not _DETERMINER.match(rest):
        if not re.match(r"(?:that|to|on|in|with|for|about)\b", rest) and len(rest.split()) >= 3:
            rest = "that " + rest
    if nominal and _phrasal([base, *rest.split()[:1]]):  # "rounds up the number": not a "rounding of up"
        return f"{_gerund(base)} {rest}".strip()
    if nominal:
        if re.match(r"(?:that|to|on|in|with|for|about)\b", rest):
            return f"{nominal} {rest}".strip()
        if base in ("call", "answer", "respond"):
            return f"{nominal} to {rest}".strip()
        return f"{nominal} of {rest}".strip() if rest else nominal
    return f"{_gerund(base)} {rest}".strip()


# "add up", "work out", "carry over": a particle makes another verb ("do not add up" is no missing addition).
_PARTICLES = frozenset("up out down off back over through".split())


def _phrasal(words: list[str]) -> bool:
    """Whether ``words`` (a verb and what follows) open with a particle verb: "add up", "work out"."""
    return len(words) > 1 and words[1].casefold().strip(",.;:") in _PARTICLES


def _negated(rest: str, *, fails: bool) -> str:
    """ "does not state X" → "Missing statement of X"; "fails to convert X" → "Failure to convert X"."""
    words = rest.split()
    base = _base_of(words[0]) or words[0].casefold()
    obj = " ".join(words[1:])
    if words[0].casefold() in _VERBS:
        base = words[0].casefold()
    if base in _PROVIDE and obj and not fails and not _phrasal(words):
        return "Missing " + _object(obj)
    nominal = _VERBS.get(base, (None, None, None))[2]
    if nominal and base in _STATING and not fails:
        return f"Missing {nominal} of {obj}".strip() if obj else f"Missing {nominal}"
    verb = words[0] if words[0].casefold() == base else base
    obj = re.sub(r"^the\s+(?=\w+[^s']s\b)", "", obj)
    return f"Failure to {verb} {obj}".strip()


def _suggestion(predicate: str, benefit: str, head: str, *, regular: bool = False) -> str:
    """ "could be more concise" → "Lack of concision"; "should have converted X" → "Failure to convert X"
    (with ``regular``, "should have flagged X", whose verb the tables do not know, → "Failure to flag X")."""
    if benefit:
        more = re.match(r"(?:an?\s+)?(?:more|better)\s+(\w+)\s+(.+)$", benefit, re.I)
        if more:
            return f"Insufficiently {more.group(1)} {more.group(2)}"
        return "Missing " + _object(benefit)
    predicate = _INTENSIFIERS.sub("", predicate).strip()
    for comparative, phrase in _COMPARATIVES.items():
        if predicate.casefold().startswith(comparative):
            return phrase
    more = re.match(r"(?:more|better)\s+(\w+)", predicate, re.I)
    if more:
        return f"Insufficiently {more.group(1)} {head}"
    words = predicate.split()
    base = (_base_of(words[0]) or (_regular_base(words[0]) if regular else None)) if words else None
    if base:
        return _negated(" ".join([base, *words[1:]]), fails=True)
    return predicate


def _regular_base(participle: str) -> str | None:
    """The base of a regular past participle the verb tables do not know ("flagged" → "flag", "checked" →
    "check", "noted" → "note"); ``None`` for a word that is not one.

    >>> _regular_base("flagged"), _regular_base("checked"), _regular_base("noted"), _regular_base("red")
    ('flag', 'check', 'note', None)
    >>> _regular_base("limited"), _regular_base("evaluated")
    ('limit', 'evaluate')
    """
    word = participle.casefold()
    if not re.fullmatch(r"[a-z]{2,}ed", word):
        return None
    stem = word[:-2]
    for guess in (stem, stem + "e", stem[:-1]):
        if guess in _VERBS:
            return guess
    if stem.endswith("i"):  # verified, applied
        return stem[:-1] + "y"
    if re.search(r"([bdgmnprt])\1$", stem) and not stem.endswith("dd"):  # a doubled final consonant: flagged
        return stem[:-1]
    if re.search(r"(?:it|et|en|er|on|or|om|al|el|ol)$", stem) and len(re.findall(r"[aeiouy]+", stem)) >= 2:
        return stem  # an unstressed last syllable takes no "e": limited, visited, audited, targeted, happened
    if re.search(r"[iu]at$", stem):
        return stem + "e"  # evaluated, initiated
    if re.search(
        r"(?:[^aeiou][aeiou][^aeiouwxy]|[aeiou][cgsvz]|[^aeiou][cgsvz]|[^aeiou]l|[aeiou]r)$", stem
    ) and not re.search(r"(?:ck|sh|ch|ss|ng|rm|rn|nt|st|lt|rt|pt|ct|ft|xt|[aeiou]{2}[^aeioucsvz])$", stem):
        return stem + "e"  # noted, used, caused, solved, handled, required
    return stem


def _predicate(predicate: str, head: str, *, subject: str | None) -> str:
    """A copula's predicate about ``subject`` (or the generic ``head``) as a noun phrase."""
    noun = subject or head
    predicate = _INTENSIFIERS.sub("", predicate).strip()
    low = predicate.casefold()
    cause = _BY_CAUSE.match(predicate)
    if cause:
        return _transform(cause.group(1), head)
    if low.startswith(("missing", "absent", "lacking", "omitted", "not provided", "not given", "not included")):
        rest = re.sub(
            r"^(?:missing|absent|lacking|omitted|not provided|not given|not included)\s*", "", predicate, flags=re.I
        )
        if subject:
            return f"Missing {subject}" + (f" {rest}" if rest else "")
        return f"Missing {_object(rest)}" if rest else f"Incomplete {head}"
    match = re.match(r"(?:an?\s+)(.+)$", predicate, re.I)
    if match and not subject:
        return match.group(1)
    off = re.match(r"(?:way\s+|slightly\s+|a bit\s+)?off(?:[- ]target|[- ]base)?\b\s*(.*)$", predicate, re.I)
    if off:  # "the tool choice is off" is a wrong tool choice ("Off tool choice" before)
        return f"Wrong {noun}" + (f" {off.group(1)}" if off.group(1) else "")
    predicate = re.split(r"\s+and\s+(?=(?:\w+s|is|are|has|does|lacks)\b)", predicate, maxsplit=1)[0]
    match = re.match(r"too\s+(\w+)(.*)$", predicate, re.I)
    if match:
        return f"Overly {match.group(1)} {noun}{match.group(2)}"
    match = re.match(r"(\w+)er than (?:it needs to be|necessary|needed|required)", predicate, re.I)
    if match:
        return f"Overly {match.group(1)} {noun}"
    match = re.match(r"not\s+(\w+)(.*)$", predicate, re.I)
    if match:
        adjective, rest = match.group(1).casefold(), match.group(2).strip()
        if adjective in _NEGATED_ADJECTIVE:
            if rest:
                return f"{noun} {_NEGATED_ADJECTIVE[adjective]} {rest}"
            return f"{_NEGATED_ADJECTIVE[adjective].capitalize()} {noun}"
        if adjective in _MISSING_PARTICIPLES:
            return f"Missing {noun}" + (f" {rest}" if rest else "")
        return f"{noun} not {adjective}" + (f" {rest}" if rest else "")
    adjectives = re.match(r"((?:\w+ly\s+)?[\w-]+(?:(?:,\s*|\s+and\s+|\s+or\s+)(?:\w+ly\s+)?[\w-]+)?)\s*$", predicate)
    if adjectives and not re.search(r"\b(?:the|a|an)\b", predicate):
        owner = re.match(r"^([\w-]+)(?:'s|’s) (.+)$", noun)
        if owner:  # "the essay's thesis is unclear" → "Unclear thesis of the essay"
            return f"{adjectives.group(1)} {owner.group(2)} of the {owner.group(1)}"
        return f"{adjectives.group(1)} {noun}"
    return f"{noun} {predicate}"


_SUBJECT_VERBS = (
    "is are was were remain remains seems appears appear has have lacks lack contains contain includes include does "
    "doesn't do don't did didn't never fails failed leads lead results result causes shows introduces"
).split()


_RELATIVE_PRONOUN = re.compile(rf"\bthat {_PRONOUN} \w+", re.IGNORECASE)


def _split_subject(text: str) -> tuple[str, str, str] | None:
    """``(subject, verb, rest)`` of a clause: the first finite verb of a short list, else the first verb form
    the tables know (a plural noun such as "units" is not taken for a verb)."""
    words = text.split()
    # A relative clause in the subject ("the source that it cites") is not where its verb is.
    inside = {
        k
        for j, word in enumerate(words[:-2])
        if word.casefold() == "that" and words[j + 1].casefold() in _PRONOUNS
        for k in (j + 1, j + 2)
    }
    # "The final sentence claims the answer is exact": the clause's verb is "claims" (its object follows),
    # not the "is" of the reported clause.
    earlier = next(
        (
            j
            for j, word in enumerate(words[1:-1], start=1)
            if word.casefold() in _VERB_FORMS
            and word.casefold().endswith("s")
            and word.casefold() not in _SUBJECT_VERBS
            and j not in inside
            and words[j - 1].casefold() not in ("the", "a", "an", "to")
            and words[j + 1].casefold() in ("the", "a", "an", "that", "its", "their")
        ),
        None,
    )
    first = next(
        (
            i
            for i, w in enumerate(words[1 : 9 + len(inside)], start=1)
            if w.casefold() in _SUBJECT_VERBS and i not in inside
        ),
        None,
    )
    if earlier is not None and first is not None and earlier < first:
        return " ".join(words[:earlier]), words[earlier].casefold(), " ".join(words[earlier + 1 :])
    for known in (_SUBJECT_VERBS, _VERB_FORMS):
        for i, word in enumerate(words[1 : 9 + len(inside)], start=1):
            folded = word.casefold()
            if i in inside:
                continue
            if folded in known and words[i - 1].casefold() not in ("the", "a", "an", "to"):
                if i + 1 < len(words) and words[i + 1].casefold() in _COPULAS and folded not in _FINITE:
                    continue  # "the final result is given": a noun before the clause's own verb
                verb, rest = folded, words[i + 1 :]
                if verb in ("does", "do", "did") and rest and rest[0].casefold() == "not":
                    verb, rest = f"{verb} not", rest[1:]
                elif verb in ("has", "have") and rest and rest[0].casefold() == "been":
                    verb, rest = f"{verb} been", rest[1:]
                elif verb in ("leads", "lead") and rest and rest[0].casefold() == "to":
                    verb, rest = "leads to", rest[1:]
                elif verb in ("results", "result") and rest and rest[0].casefold() == "in":
                    verb, rest = "results in", rest[1:]
                elif verb in ("fails", "failed") and rest and rest[0].casefold() == "to":
                    verb, rest = "fails to", rest[1:]
                return " ".join(words[:i]), verb, " ".join(rest)
    return None


_COPULAS = frozenset("is are was were has have had does do did seems appears remains".split())
_SHOULD_HAVE_BEEN = re.compile(r"^(\w[\w' -]{2,60}?)\s+should\s+(?:also\s+)?have\s+been\s+(\w+\b.*)$", re.I)


def _subject_led(text: str, head: str) -> str:
    """ "The calculation of the discount is incorrect" → "Incorrect calculation of the discount"."""
    passive = _PASSIVE_WRONG.match(text)
    if passive:
        base = _base_of(passive.group(2)) or passive.group(2)
        nominal = _VERBS.get(base, (None, None, None))[2]
        subject = _object(passive.group(1))
        if nominal:
            return f"Incorrect {nominal} of {subject}{passive.group(3)}"
        return f"Incorrectly {passive.group(2)} {subject}{passive.group(3)}"
    unmet = _SHOULD_HAVE_BEEN.match(text)
    if unmet:  # "That claim should have been checked" → "Claim not checked"
        subject = re.sub(r"^(?:that|this|these|those)\s+", "", _object(unmet.group(1)), flags=re.I)
        return f"{subject} not {unmet.group(2)}"
    split = _split_subject(text)
    if not split or _CLAUSE_BREAK.search(_RELATIVE_PRONOUN.sub("", split[0])):
        return _object(text)
    original, verb, rest = split
    subject = _inner(_object(original))
    where = _inner(original)
    if subject.casefold() in ("this", "that", "it", "these", "those"):
        return _object(text)
    if verb in ("is", "are", "was", "were", "remain", "remains", "seems", "appears", "appear", "has been", "have been"):
        return _predicate(rest, head, subject=subject)
    if verb in ("leads to", "lead to", "results in", "result in", "causes", "cause"):
        return subject
    if verb in ("includes", "include") and cue_score(rest) <= 0:
        return f"Inclusion of {rest}"
    if verb in ("contains", "contain", "includes", "include", "has", "have", "shows", "show", "introduces"):
        if not _specific_words(rest):  # "the mistake in X introduces an error" → the mistake is the problem
            return subject
        return f"{_object(rest)} in {where}"
    if verb in ("lacks", "lack"):
        return f"Lack of {_object(rest)} in {where}"
    if verb in ("does not", "doesn't", "do not", "don't", "did not", "didn't", "never"):
        first = (_base_of(rest.split()[0]) or rest.split()[0].casefold()) if rest.split() else ""
        if first in _PROVIDE and not _phrasal(rest.split()):
            return f"Missing {_object(' '.join(rest.split()[1:]))} in {where}"
        if first in _STATING:
            return f"Missing {_VERBS[first][2]} of {_object(' '.join(rest.split()[1:]))} in {where}"
        words = rest.split()
        adverbs = []
        while len(words) > 1 and re.fullmatch(r"\w+ly", words[0], re.I) and not _base_of(words[0]):
            adverbs.append(words.pop(0))  # "does not accurately reflect": the verb is "reflect"
        base = _base_of(words[0]) or words[0] if words else ""
        tail = " ".join(words[1:])
        # "does not perform X or provide Y": the second verb takes the same form as the first
        tail = re.sub(
            r"\b(or|and|nor)\s+(\w+)\b",
            lambda m: (
                f"{m.group(1)} {_gerund(m.group(2).casefold())}" if m.group(2).casefold() in _VERBS else m.group(0)
            ),
            tail,
            count=1,
        )
        return f"{subject} not {' '.join([*adverbs, _gerund(base)])} {tail}".strip()
    if verb == "fails to":
        return f"{subject} failing to {rest}"
    base = _base_of(verb)
    if base and (base in _VERBS or verb in _VERB_FORMS):
        return f"{subject} {_gerund(base)} {rest}".strip()
    return _object(text)


# A preposition stranded by a question or relative clause ends the phrase: "which document the figure comes from",
# "the value that was asked for".
_STRANDED = re.compile(
    r"\b(?:which|what|whom|that)\b(?:\s+\S+){1,6}?\s+(?:comes?|came|asked|refers?|relies|rely|depends?|based|"
    r"looked|talks?|points?|pays?|paid|waits?|waited|taken|drawn|quoted|sourced|derived|obtained|copied|cited)"
    r"\s+(?:from|for|to|on|about|at|in)$",
    re.IGNORECASE,
)


def _shorten(name: str, max_words: int) -> str:
    """At most ``max_words`` words, cut before a phrase boundary, never ending on a function word (unless a
    clause strands it: "which document the figure comes from").

    >>> _shorten("Failure to say which document the figure comes from", 12)
    'Failure to say which document the figure comes from'
    >>> _shorten("Final sentence stating 14 m of fencing instead of the 41 m just computed", 12)
    'Final sentence stating 14 m of fencing'
    """
    words = name.split()
    was_cut = len(words) > max_words
    if was_cut:
        head = words[:max_words]
        boundaries = [
            i
            for i, w in enumerate(head)
            if i >= 3
            and (
                w.casefold()
                in {
                    "of",
                    "in",
                    "for",
                    "with",
                    "to",
                    "that",
                    "and",
                    "when",
                    "on",
                    "by",
                    "from",
                    "at",
                    "rather",
                    "instead",
                }
            )
        ]
        cut = boundaries[-1] if boundaries else max_words
        text = " ".join(head[:cut])
        comma = text.rfind(",")
        name = text[:comma] if comma > len(text) // 2 else text
        # a comparison cut before what it compares with ("… of fencing instead" of "instead of the 41 m")
        name = re.sub(r"\s+(?:instead|rather|more|less|other)$", "", name, flags=re.IGNORECASE)
    # a participle left alone after a comma once what it said was cut ("…, published" of "published in 2019")
    name = _DETACHED_PARTICIPLE.sub("", name.rstrip(" ,.;:!?-–—"))
    for _ in range(4):
        if _STRANDED.search(name.rstrip(" ,.;:!?-–—")):
            break
        trimmed = _FUNCTION_END.sub("", name.rstrip(" ,.;:!?-–—")).rstrip(" ,.;:!?-–—")
        if was_cut and _CUT_VERB.search(trimmed):
            trimmed = _CUT_VERB.sub("", trimmed).rstrip(" ,.;:!?-–—")
        if trimmed == name:
            break
        name = trimmed
    return name


def _without_instances(name: str, instances: Sequence[str] = ()) -> str:
    """``name`` without the trailing phrase that holds a number, a quote or a proper name, when it can."""
    tokens = _instance_tokens(name, instances)
    if not tokens:
        return name
    first = min(name.find(t) for t in tokens if t in name) if any(t in name for t in tokens) else -1
    if first <= 0:
        return name
    before = name[:first]
    cut = list(
        re.finditer(
            r"\s+(?:of|in|for|with|to|as|at|on|by|from|instead of|rather than|such as|like|about|when|that|"
            r"which|after|before|between|into)\s+|\s*[,(:]\s*",
            before,
            re.I,
        )
    )
    if all(_NUMBER.fullmatch(t) for t in tokens) and not _QUOTED.search(name) and _DETERMINED_NUMBER.search(name):
        dropped = re.sub(r"\s{2,}", " ", _DETERMINED_NUMBER.sub(r"\1 ", name)).strip()
        if not _NUMBER.search(dropped):  # "which document the 169 percent figure is taken from" → "the figure"
            return dropped
    count = re.search(r"\s+\d+(?:\.\d+)?\s+(?:times|x|occasions|attempts|calls|tries)$", name, re.IGNORECASE)
    if count and all(_NUMBER.fullmatch(t) for t in tokens) and len(name[: count.start()].split()) >= 2:
        return name[: count.start()]  # "Repetition of the methodology 6 times": how often is the instance
    shortened = _shorten(before[: cut[-1].start()], MAX_WORDS) if cut else ""
    after = _after_instance(name, cut[-1].group(0), tokens) if shortened else ""
    if len(shortened.split()) >= 2 or (shortened and after):
        return shortened + after
    # A number between a determiner and its noun goes on its own: "the 150% increase in the value" → "the
    # increase in the value" (cutting at "of" would leave one word); a quantity ("about 120 words", "a 50-word
    # limit") is not a modifier that can go.
    if all(_NUMBER.fullmatch(t) for t in tokens) and not _QUOTED.search(name):
        dropped = _DETERMINED_NUMBER.sub(r"\1 ", _COUNT_COMPOUND.sub("", name))
        dropped = re.sub(r"\s{2,}", " ", dropped).strip()
        if len(dropped.split()) >= 3 and not _NUMBER.search(dropped):
            return dropped
    return name


def _after_instance(name: str, connector: str, tokens: Sequence[str]) -> str:
    """What a name says after the phrase of one instance that :func:`_without_instances` cuts, when it is
    the problem itself: a short complement ("Getting a basic fact about Mars wrong" → " wrong",
    "Instruction to write in French not followed" → " not followed"), or the predicate of a "that"
    clause ("Claim that Peru leads on rice is not supported" → " not supported"); else ``""``.

    >>> _after_instance("Getting a basic fact about Mars wrong", " about ", ["Mars"])
    ' wrong'
    >>> _after_instance("Claim that Peru leads on rice exports is not supported", " that ", ["Peru"])
    ' not supported'
    >>> _after_instance("Wrong total for the Smith family of four", " for ", ["Smith"])
    ''
    >>> _after_instance("Recursion in flatten_lists not reaching its base case", " in ", ["flatten_lists"])
    ' not reaching its base case'
    """
    last = max(name.rfind(t) + len(t) for t in tokens if t in name)
    rest = name[last:]
    if connector.strip().casefold() == "that":
        verdict = re.search(r"\s(?:is|are|was|were)\s+(not\s+\w+|\w+)(\s+by\s+[^,;]+)?$", rest)
        return " " + verdict.group(0).split(None, 1)[1] if verdict else ""
    rest = rest.strip()
    # a negated participle may run longer: "Recursion in flatten_lists not reaching its base case"
    longest = 6 if re.match(r"(?:not|never)\s+\w+ing\b", rest, re.IGNORECASE) else 3
    if not rest or rest[:1] in ",;:(" or len(rest.split()) > longest or _instance_tokens(rest):
        return ""
    first = rest.split()[0].casefold()
    return " " + rest if first in _COMPLEMENT_START else ""


# Words that open a complement which states the problem ("... wrong", "... not followed", "... ignored").
_COMPLEMENT_START = frozenset(
    """wrong wrongly incorrect incorrectly inaccurately backwards reversed not never ignored missing omitted
    unsupported unverified misstated misread misused miscalculated wrongfully""".split()
)


# A leading measure of the answer ("At about 120 words, it is twice the limit"): where it stands, not the fault.
_LEADING_MEASURE = re.compile(
    r"^(?:at|with)\s+(?:about|around|roughly|nearly|almost|over|under|just|some|only)?\s*[\d,.]+\s+[a-z]+,?\s+(?=\w)",
    re.IGNORECASE,
)
# "the 50-word limit" → "the word limit": a count that only sizes its noun.
_COUNT_COMPOUND = re.compile(r"\b[\d,.]+-(?=[a-z]+\b)", re.IGNORECASE)
_DETERMINED_NUMBER = re.compile(
    r"\b(the|its|their|this|that|his|her)\s+[$€£¥]?\d[\d,]*(?:\.\d+)?%?\s+(?:percent\s+|per cent\s+)?"
    r"(?=[A-Za-z][a-z]+\b(?!-))",
    re.IGNORECASE,
)


_CRITICISM_ZH = re.compile(
    r"拒答|拒绝|截断|中断|冗余|多余|重复|遗漏|漏掉|忘记|违反|超出|超过|不符合|未能|缺少|偏离|误解|套话|占位"
)
_ZH_SPLIT = re.compile(r"[，,；;：:（(]|因为|由于|导致")
_ZH_SUBJECT = re.compile(
    r"^(?:但是?|然而|不过|可是|却)?(?:该|这个|此)?(?:回答|模型|回复|答案|它)(?:中|里)?(?:却|仍然|仍|也|还|则|又)?"
)


def _chinese_name(text: str) -> str:
    text = re.sub(r"（[^）]*）|\([^)]*\)", "", text)
    parts = [p.strip(" 。.!！?？") for p in _ZH_SPLIT.split(text) if p.strip(" 。.!！?？")]
    if not parts:
        return text.strip()
    scores = [cue_score(p) + len(_CRITICISM_ZH.findall(p)) for p in parts]
    best = parts[max(range(len(parts)), key=lambda i: (scores[i], -i if scores[i] <= 0 else i))]
    name = _ZH_SUBJECT.sub("", best).strip() or best
    name = re.sub(r"^(?:也|还|又|都|则|就|却|仍然|仍)", "", name) or name
    name = re.sub(r"^(?:属于|算是|是)(?=..)", "", name)  # "属于无理拒答" ("is a case of …") → "无理拒答"
    name = re.sub(r"^(?:没有|并没有|并未)", "未", name)
    name = re.sub(r"(?<=[\u4e00-\u9fff])了(?=[\u4e00-\u9fff])", "", name)
    name = re.sub(r"[的了吗呢吧啊呀么着过地得和与及或在对把被是]+$", "", name)
    return name[:MAX_CHARS_ZH].rstrip("的了和与及或在对把被是")


_MORE_OPENERS = re.compile(
    r"^(?:instead|rather|in fact|here|again|as a result|as such|in particular)\s*,\s*"
    r"|^(?:it|this)\s+(?:seems|appears|looks like)(?:\s+that)?,?\s+(?!to\b)",
    re.I,
)


# A relative clause without its "that": "the value it reports", "things the evidence does not contain".
_BARE_RELATIVE = re.compile(
    rf"\b([A-Za-z][a-z]+) (?={_PRONOUN} [a-z]+(?:s|ed)\b|(?:the|this|its|their) [a-z]+ (?:does not|"
    r"doesn't|did not|do not|don't|cannot|can't|never|could not|would not)\b)"
)


def _mark_relative(clause: str) -> str:
    """A bare relative clause gets its "that", so that its verb is not read as the clause's own.

    >>> _mark_relative("asserts things the evidence does not contain")
    'asserts things that the evidence does not contain'
    >>> _mark_relative("The flight emissions value it reports cannot be found")
    'The flight emissions value that it reports cannot be found'
    >>> _mark_relative("says it is wrong"), _mark_relative("ignores the units")
    ('says it is wrong', 'ignores the units')
    """

    def mark(match: re.Match[str]) -> str:
        word = match.group(1)
        folded = word.casefold()
        if folded in _STOP or folded in _VERB_FORMS or folded in _FUNCTION_WORDS or folded.endswith("ly"):
            return match.group(0)
        return f"{word} that "

    return _BARE_RELATIVE.sub(mark, clause)


def issue_name(sentence: str, *, max_words: int = MAX_WORDS) -> str:
    """An issue name from a feedback sentence: a noun phrase of the clause that criticises.

    The opener, subject, hedges, locators ("in step 3") and trailing consequence go; in a
    "…, but …" sentence the critical clause is named; a vague head ("lacks accuracy due to ...") gives
    way to its cause; the clause becomes a noun phrase (:func:`noun_phrase`), at most ``max_words`` words.

    >>> issue_name("However, the model's response seems to contain a calculation error, which leads to a wrong total.")
    'Calculation error'
    >>> issue_name("The mistake in the calculation significantly affects the accuracy of the response.")
    'Mistake in the calculation'
    >>> issue_name("But lacks accuracy and completeness due to the incorrect final calculation.")
    'Incorrect final calculation'
    >>> issue_name("Instead of using the search tool, the agent reaches for the calculator.")
    'Reaching for the calculator instead of using the search tool'
    >>> issue_name("No units are given for the total cost.")
    'Missing units for the total cost'
    >>> issue_name("但是最终答案错误，因为单位换算出错。")
    '最终答案错误'
    """
    text = sentence.strip().replace("()", "")
    if _CJK.search(text):
        return _chinese_name(strip_opener(text)) or sentence.strip()
    opened = strip_opener(text)
    ignored = _AS_IF_NEVER.match(opened)
    if ignored:  # "acts as though the user never mentioned X": X was ignored (not a contrast at "though")
        text = opened = f"It ignores {ignored.group(1)}"
    alternative = _LEADING_ALTERNATIVE.match(opened)
    if alternative:  # "Instead of X, the agent does Y" → "the agent does Y instead of X"
        text = opened = f"{alternative.group(3).rstrip(' .')} {alternative.group(1).lower()} {alternative.group(2)}"
    contrast = _CONTRAST.search(text) or _LEADING_CONCESSION.match(opened)
    text = _MORE_OPENERS.sub("", strip_opener(critical_clause(opened if contrast else text)))
    text = _LEADING_MEASURE.sub("", text)  # "at about 120 words, it is ..." → "it is ..."
    text = _with_cause(_SEEMS.sub(_third_person, text.strip(" .")))
    text = re.sub(r"^(?:given|considering|due to|because of|owing to)\s+(?=\S+\s+\S+)(?!.*,)", "", text, flags=re.I)
    clause = _mark_relative(_clean(text))
    name = _wrong_choice(_shorten(noun_phrase(clause), max_words))
    if len(name.split()) < 1:
        name = _shorten(_clean(sentence), max_words)
    return name[:1].upper() + name[1:]


# "The agent acts as though the user never mentioned the word limit": the word limit was ignored.
_AS_IF_NEVER = re.compile(
    r"^(?:(?:the|this|its)\s+)?(?:\w+\s+)?(?:acts|acted|behaves|behaved|proceeds|proceeded|responds|responded|"
    r"answers|answered|continues|continued|carries on|writes|wrote)\s+as\s+(?:though|if)\s+"
    r"(?:(?:the|a|an)\s+)?(?:\w+\s+)?(?:had\s+)?(?:never|not|did not|didn't|had not|hadn't)\s+"
    r"(?:mentioned|mention|asked for|ask for|requested|request|said|say|stated|state|specified|specify|given|give|"
    r"provided|provide|gave|set|written|write|wrote)\s+(.{3,})$",
    re.IGNORECASE,
)
# "A different tool should have been chosen" / "should have used another tool": the choice made was wrong.
_OTHER_NOT_TAKEN = re.compile(
    r"^(?:a |an |the )?(?:different|another|other|alternative|separate) ([\w' -]+?) not ([a-z]+(?:ed|en|wn))\b(.*)$",
    re.IGNORECASE,
)
_FAILED_OTHER = re.compile(
    r"^failure to (use|choose|call|select|pick|apply|invoke|take|adopt|follow) (?:a |an |the )?"
    r"(?:different|another|other|alternative|separate) ([\w' -]+)$",
    re.IGNORECASE,
)


def _wrong_choice(name: str) -> str:
    """ "Different approach not used" → "Wrong approach used"; "Failure to use a different tool" → "Wrong tool
    used": what should have been another is the wrong one.

    >>> _wrong_choice("Different approach not used"), _wrong_choice("Failure to choose another unit")
    ('Wrong approach used', 'Wrong unit chosen')
    >>> _wrong_choice("Different values not distinguished")  # not a choice left untaken: as it was
    'Different values not distinguished'
    """
    other = _OTHER_NOT_TAKEN.match(name)
    if other and other.group(2).casefold() in _CHOICE_PARTICIPLES:
        return f"Wrong {other.group(1)} {other.group(2)}{other.group(3)}"
    failed = _FAILED_OTHER.match(name)
    if failed:
        verb = failed.group(1).casefold()
        return f"Wrong {failed.group(2)} {_participle(verb)}"
    return name


_CHOICE_PARTICIPLES = frozenset(
    "used chosen called selected picked applied invoked taken adopted followed employed".split()
)


# -- choosing among a cluster's central sentences -----------------------------------------------------
_DIGIT = re.compile(r"\d")


def masked_share(text: str) -> float:
    """The share of a masked sentence's tokens that were question-specific words or numbers.

    >>> masked_share("Stated # … instead of #")
    0.5
    """
    tokens = text.split()
    return sum(1 for t in tokens if "…" in t or "#" in t) / len(tokens) if tokens else 1.0


def generalise_systems(sentence: str, systems: Sequence[str], members: Sequence[str] = ()) -> str:
    """``sentence`` with the names of ``systems`` that not every one of ``members`` mentions put in general
    terms: the subject becomes "the agent" (which a name drops), another mention "another system". A
    pooled report's issue is one problem of several systems, not of the pair one sentence names.

    >>> generalise_systems("Unfortunately, the writer ignores the results handed over by the analyst.",
    ...                    ["analyst", "writer"], ["The writer ignores ...", "The planner ignores ..."])
    'Unfortunately, the agent ignores the results handed over by another system.'
    """
    lowered = [m.casefold() for m in members]
    for system in sorted(systems, key=len, reverse=True):
        if not system or (lowered and all(system.casefold() in m for m in lowered)):
            continue
        word = re.escape(system)
        sentence = re.sub(
            rf"^(\W*(?:[A-Z][a-z]+,\s+)?)(?:the\s+)?{word}\b(?:'s\b)?", r"\1the agent", sentence, count=1, flags=re.I
        )
        sentence = re.sub(rf"\b(?:the\s+|an?\s+)?{word}\b", "another system", sentence, flags=re.I)
    return sentence


#: How far below the most central sentence's similarity to the centroid a naming candidate may be.
CENTRAL_MARGIN = 0.1


#: Weight of a candidate sentence's criticality (its log-odds, clipped to ±4) in :func:`_choose_name`.
CRITICALITY_WEIGHT = 0.05


def choose_name(
    sentences: Sequence[str],
    centrality: np.ndarray,
    specificity: Sequence[float],
    siblings: Sequence[str] | set[str] = (),
    **options: Any,
) -> str:
    """The name of a cluster (:func:`_choose_name`), without the phrases that only a few of its
    ``members`` carry (:func:`drop_rare_phrases`) when that leaves a name that passes the rules."""
    name = _choose_name(sentences, centrality, specificity, siblings, **options)
    members = options.get("members") or ()
    if not name or len(members) < 5:
        return name
    trimmed = drop_rare_phrases(name, members)
    if trimmed != name and not name_problems(
        trimmed, siblings=list(siblings), members=members, instances=options.get("instances") or ()
    ):
        return trimmed
    return name


# Where a name's phrase may start: a preposition, a relative "that", or a comma.
_PHRASE_START = re.compile(
    r"\s*,\s*|\s+(?=(?:about|for|of|in|on|from|with|by|during|at|after|before|like|such as|including|that)\s)",
    re.IGNORECASE,
)


# A phrase that carries the verdict ("that is not true", "in Czech instead of German") or a generalised
# instance ("by another system") is the problem, however few evidence sentences word it so.
_KEEP_PHRASE = re.compile(
    r"\b(?:not|no|never|wrong\w*|incorrect\w*|untrue|false|missing|another|other|instead|rather)\b", re.IGNORECASE
)


def drop_rare_phrases(name: str, members: Sequence[str], *, share: float = 0.2) -> str:
    """``name`` without its phrases (after the first) whose content words each occur in fewer than
    ``share`` of the ``members`` (the cluster's evidence sentences): the detail of one or a few rows.

    >>> members = ["A contradiction between the table and the text about the total cost."] + [
    ...     f"There is a contradiction between the table and the text about the {q}." for q in "tip tax fee rent fare".split()]
    >>> drop_rare_phrases("Contradiction between the table and the text about the total cost", members)
    'Contradiction between the table and the text'
    >>> drop_rare_phrases("Issue with the rounding of the table", members)  # a generic head keeps what it is
    'Issue with the rounding of the table'
    """
    if _CJK.search(name):
        return name
    pieces, last = [], 0
    for match in _PHRASE_START.finditer(name):
        if match.start() > last:
            pieces.append(name[last : match.start()])
        last = match.start()
    pieces.append(name[last:])
    for k in range(len(pieces) - 2, -1, -1):  # "instead of", "rather than", "such as": one connector
        if re.search(r"\b(?:instead|rather|such)$", pieces[k], re.IGNORECASE):
            pieces[k : k + 2] = [pieces[k] + pieces[k + 1]]
    if len(pieces) < 2:
        return name
    lowered = [m.casefold() for m in members]
    kept = [pieces[0]]
    # After a head that only says something is wrong ("Issue", "Minor error"), the next phrase says what:
    # "Issue with the formatting of the division operation" is not "Issue of the division operation".
    generic_head = not _specific_words(pieces[0])
    for k, piece in enumerate(pieces[1:], start=1):
        words = [w for w in _content_words(piece) if w not in _STOP]
        rare = words and all(sum(_stem(w)[:5] in m for m in lowered) < share * len(lowered) for w in words)
        if not rare or _KEEP_PHRASE.search(piece) or (generic_head and k == 1):
            kept.append(piece)
    trimmed = "".join(kept).strip(" ,")
    trimmed = re.sub(r",\s*[\w-]+$", "", trimmed)  # a word left alone after a comma (", even", ", co-authored")
    return trimmed if len(trimmed.split()) >= 2 else name


def _choose_name(
    sentences: Sequence[str],
    centrality: np.ndarray,
    specificity: Sequence[float],
    siblings: Sequence[str] | set[str] = (),
    *,
    criticality: np.ndarray | None = None,
    members: Sequence[str] = (),
    extra: Sequence[str] = (),
    keywords: Sequence[str] = (),
    masked: Sequence[str] | None = None,
    instances: Sequence[str] = (),
    member_rows: Sequence[str] = (),
) -> str:
    """The name of a cluster: the :func:`issue_name` of a central sentence that passes the rules.

    Among the most central ``sentences`` (those within :data:`CENTRAL_MARGIN` of the most central one's
    similarity to the centroid, with their ``centrality`` and the share of
    their masked tokens that were question words, ``specificity``), a name that breaks a rule of
    :func:`name_problems` (checked against ``siblings``, the names already given, and ``members``, the
    cluster's evidence sentences) loses to any that does not; then centrality, criticality (cue score,
    and the classifier's log-odds when given), shortness and the absence of numbers, quotes, question
    words and references to a missing context ("this detail") decide. ``extra`` sentences (the
    per-row summaries of the cluster's rows) compete as the least central candidates. ``masked`` (each
    sentence's masked form, :func:`~.sentences.abstract_sentence`) tells which of a name's words were
    its row's question words: a name that keeps one ("Ground coffee listed") counts as breaking the
    instance rule, and so does one with a word of ``instances`` (the input's system names) that not
    every member shares, and a summary's name with words no other evidence sentence carries
    (:func:`unshared_words`); with one row (``member_rows``: each of the cluster's rows as one text), its
    question words are the issue's own and break nothing. When no central name
    passes, the best one is repaired (the phrase with a number or a name cut off) or, when it
    near-duplicates a sibling, told apart by the first of ``keywords`` it lacks; failing that, a passing
    name within twice the margin, then any passing name of the cluster, then the best central one as is.

    >>> choose_name(["The response omits this detail.", "The response omits the units."], np.array([0.8, 0.78]), [0, 0])
    'Missing units'
    """
    siblings = list(siblings)
    criticality_values = np.zeros(len(centrality)) if criticality is None else np.nan_to_num(criticality)
    critical = np.clip(criticality_values, -4, 4)
    masked_forms = list(masked) if masked is not None else [None] * len(sentences)
    # Only sentences close to the most central one may name the cluster: a rule-passing sentence from
    # its edge would name another problem than the one most of its sentences state.
    near = float(np.max(centrality)) - CENTRAL_MARGIN if len(centrality) else 0.0
    candidates = [
        (s, float(sim), float(share), float(odds), form)
        for s, sim, share, odds, form in zip(sentences, centrality, specificity, critical, masked_forms)
    ] + [(s, near - 1e-6, 0.0, 0.0, None) for s in extra]  # summaries: just outside the centre
    from_summary = set(extra)
    scored: list[tuple[float, str, list[str], bool]] = []
    seen: set[str] = set()
    for sentence, similarity, share, log_odds, form in candidates:
        name = issue_name(generalise_systems(sentence, instances, members))
        if not name or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        problems = name_problems(name, siblings=siblings, members=members, instances=instances)
        if sentence in from_summary:
            # A summary has no masked form: its words must recur in the cluster's other rows, or they are
            # one row's ("Misinterpretation of the second floor's height").
            rare = unshared_words(name, members, head=True)
            if rare:
                problems.append(f"instance: {', '.join(rare)} recur in no other evidence sentence")
        # one row's words are the issue's own when it has one row (a rare issue): every member shares them
        question_words = _question_words(name, sentence, form) if len(member_rows) != 1 else []
        if question_words:
            problems.append(f"instance: {', '.join(question_words)} are words of one row's question")
        words = len(name.split())
        score = (
            similarity
            - share
            - 1.0 * len(problems)
            + 0.3 * cue_score(name)
            + 0.2 * bool(_CRITICISM_EXTRA.search(name))
            + CRITICALITY_WEIGHT * log_odds  # how critical the whole sentence reads (the classifier's log-odds)
            - 0.15 * bool(_DIGIT.search(name))
            - 0.1 * bool(re.search(r"[\"“”(]", name))
            - 0.02 * max(0, words - 8)
            - 0.1 * (words < 2)
            - 0.5 * len(question_words)
        )
        scored.append((score, name, problems, similarity >= near))
    if not scored:
        return ""
    scored.sort(key=lambda item: (not item[3], -item[0]))
    far = [item for item in scored if not item[3]]
    scored = [item for item in scored if item[3]] or far
    best_score, best, problems, _ = scored[0]
    if not problems:
        return best
    # repair the best few: cut the phrase of one instance, tell siblings apart; a repair that says what is
    # wrong first ("Failure to convert units" over "Call passing the value in a fraction of one")
    repairs = [(name, _repair(name, siblings, members, keywords, instances)) for _, name, _, _ in scored[:30]]
    passing_repairs = [
        repaired
        for name, repaired in repairs
        if not name_problems(repaired, siblings=siblings, members=members, instances=instances)
        and not _mostly_hidden(repaired, sentences, masked_forms)
        and _keeps_fault(name, repaired)
    ]
    if passing_repairs:
        return next((r for r in passing_repairs if says_what_is_wrong(r)), passing_repairs[0])
    # then a rule-passing sentence a little further from the centre (within twice the margin)
    halfway = float(np.max(centrality)) - 2 * CENTRAL_MARGIN if len(centrality) else 0.0
    passing = [
        (name, similarity) for (_, name, problems, _), similarity in _with_similarity(far, candidates) if not problems
    ]
    for name, similarity in passing:
        if similarity >= halfway:
            return name
    # then a rule-passing sentence within three margins (further out, a sentence names another problem
    # than most members: a 57-row cluster about ignored instructions was named after its 3 rows that
    # leak a token), else the best central name as it is (a keyword list such as "Problems with explicit
    # and respects" read worse than either)
    # — unless the central name says nothing usable (it points to a missing context, is vague or praise,
    # or reads as a fragment: "What the user asked for is not done", "Rather than working from ...").
    outer = float(np.max(centrality)) - 3 * CENTRAL_MARGIN if len(centrality) else 0.0
    unusable = any(p.startswith(("context", "vague", "praise", "clause: starts like a subordinate")) for p in problems)
    for name, similarity in passing:
        if similarity >= outer or unusable:
            return name
    # Last: the best central name, repaired when that makes it pass the rules even if a word of its row's
    # question stays ("Incorrect addition of the full pension amount" rather than "... for 20 years").
    for _, name, _, _ in scored[:10]:
        repaired = _repair(name, siblings, members, keywords, instances)
        if not name_problems(repaired, siblings=siblings, members=members, instances=instances) and _keeps_fault(
            name, repaired
        ):
            return repaired
    # Or a name within three margins that passes once repaired ("Out-of-date sources used for a question about
    # 2021" → "... for a question"), when the central one cannot be ("Search results it keeps stale ...").
    for (_, name, found, _), similarity in _with_similarity(far, candidates):
        if similarity < outer or any("recur in no other" in p or "of one row's question" in p for p in found):
            continue  # a summary's own words, a row's question words: not what a repair fixes
        repaired = _repair(name, siblings, members, keywords, instances)
        if (
            not name_problems(repaired, siblings=siblings, members=members, instances=instances)
            and not _mostly_hidden(repaired, sentences, masked_forms)
            and _keeps_fault(name, repaired)
        ):
            return repaired
    # Or its longest head that passes, cut at a phrase boundary ("Link to a news archive that it gives" ->
    # "Link to a news archive"); else the best central name as it is.
    return _passing_head(best, siblings, members, instances) or best


def says_what_is_wrong(name: str) -> bool:
    """Whether an English name carries a word that says something is wrong (a fault cue, a negation, a word
    such as "missing", "redundant", "unsupported"); Chinese names are not checked. A small cluster named
    without one ("Necessary constant already provided in the research facts") is a description, not an
    issue; a large one keeps its name, since "Rounding up the number of guests" can name a fault.

    >>> says_what_is_wrong("Necessary constant already provided in the research facts")
    False
    >>> says_what_is_wrong("Redundant lookups of facts already provided"), says_what_is_wrong("朝代错误")
    (True, True)
    """
    return bool(_CJK.search(name)) or _names_fault(name)


def _keeps_fault(name: str, repaired: str) -> bool:
    """A repair that cuts one instance's phrase must not cut what was wrong with it: "Single call to "earth"
    incomplete for the task" is not repaired into "Single call".

    >>> _keeps_fault('Single call to "earth" incomplete for the task', "Single call")
    False
    """
    return _names_fault(repaired) or not _names_fault(name)


def _passing_head(name: str, siblings: Sequence[str], members: Sequence[str], instances: Sequence[str] = ()) -> str:
    """The longest start of ``name``, cut before a phrase (:data:`_PHRASE_START`), of two or more words that
    passes every rule; ``""`` when there is none.

    >>> _passing_head("Link to a news archive that it gives", [], [])
    'Link to a news archive'
    >>> _passing_head("The model ignores", [], [])
    ''
    """
    starts = sorted({m.start() for m in _PHRASE_START.finditer(name) if m.start() > 0}, reverse=True)
    for cut in starts:
        head = name[:cut].strip(" ,")
        if len(head.split()) >= 2 and not name_problems(head, siblings=siblings, members=members, instances=instances):
            return head
    return ""


_FUNCTION_WORDS = frozenset(
    """instead rather than with from into onto about over under between within without where when which
    that this these those their them they were been being have does should would could also only just""".split()
)


def _content_words(name: str, min_letters: int = 4) -> list[str]:
    """The name's lower-cased words of ``min_letters``+ letters that are neither generic nor function words."""
    return [
        w
        for w in (w.casefold() for w in _WORDS.findall(name))
        if len(w) >= min_letters and w not in _GENERIC and w not in _FUNCTION_WORDS
    ]


def _checked_words(name: str, head: bool) -> list[str]:
    """The words :func:`unshared_words` looks for in a cluster's rows: ``name``'s content words of 3+
    letters (:func:`_content_words`), without its first word when ``head`` is false."""
    checked = name if head else name.split(maxsplit=1)[-1]
    return [w for w in _content_words(checked, min_letters=3) if w.isalpha() and w not in _STOP]


def _unshared(words: Sequence[str], members: Sequence[str], min_members: int) -> list[str]:
    carried = [{_stem(w)[:5] for w in _WORDS.findall(m)} for m in members]
    return [w for w in words if sum(_stem(w)[:5] in found for found in carried) < min_members]


def unshared_words(name: str, members: Sequence[str], *, min_members: int = 2, head: bool = False) -> list[str]:
    """The words of ``name`` that fewer than ``min_members`` of ``members`` (a cluster's rows, or its
    distinct evidence sentences) carry: one row's topic, not the cluster's problem. ``[]`` when there are
    fewer members. ``head=False`` leaves out the name's first word, when it is the naming's own noun for
    its sentence's verb ("Statement" of "states", "Failure" of "fails to").

    Without a question to mask them (:func:`~.sentences.abstract_sentence`), a row's topic words reach its
    sentence's name: a cluster of "It omits the income limits …", "It does not mention fees …" and "…
    a potentially harmful recommendation" was named "Missing income limit". English words are compared
    by the first five letters of their stems ("calculating" is carried by "calculated", "elevation" is
    not by "relevant"). Chinese names are not checked: a category's own word ("文中有错别字") is often
    carried by one row only, the others showing the typos themselves, and Chinese has no list of generic
    words to tell the two apart.

    >>> unshared_words("Missing income limit", ["It omits the income limits.", "It does not mention fees.",
    ...     "Clarity cannot offset a harmful recommendation."])
    ['income', 'limit']
    >>> unshared_words("Missing units", ["The units are missing.", "No units are given.", "Units absent."])
    []
    """
    if len(members) < min_members or _CJK.search(name):
        return []
    return _unshared(_checked_words(name, head), members, min_members)


def shares_no_problem(name: str, member_rows: Sequence[str]) -> bool:
    """Whether at least half of ``name``'s words (after its head) are carried by one of ``member_rows``
    only (:func:`unshared_words`): the name tells one row's story, so its rows, when they are few, share
    no problem a developer can act on ("Ordering of outcomes" over a probability, a sort() and a product
    comparison). A name that keeps a word of one row among shared ones ("Response more than twice the
    word limit the user set" over three length problems) does not.

    >>> shares_no_problem("Ordering of outcomes", ["36 ordered outcomes give 1/6.", "sort() compares strings.",
    ...     "It compares the wrong two models."])
    True
    >>> shares_no_problem("Response more than twice the word limit", ["It is twice the 50-word limit.",
    ...     "It runs to 150 words, over the 80-word limit.", "At 35 words it is under the word count."])
    False
    """
    if len(member_rows) < 2 or _CJK.search(name):
        return False
    words = _checked_words(name, head=False)
    rare = _unshared(words, member_rows, 2)
    return bool(rare) and 2 * len(rare) >= len(words)


def _with_similarity(scored: list, candidates: list) -> list:
    """Each scored candidate with its sentence's similarity to the centroid (names map back to sentences)."""
    similarity = {}
    for sentence, sim, *_ in candidates:
        similarity.setdefault(issue_name(sentence).casefold(), sim)
    return [(item, similarity.get(item[1].casefold(), -1.0)) for item in scored]


def summary_candidates(rows: Any, positions: Sequence[int], *, limit: int = 20) -> list[str]:
    """The critical sentences of the ``summary`` column (CLEAR's ``evaluation_summary``) of the rows at
    ``positions``: extra name candidates for :func:`choose_name`; ``[]`` when the rows have no summary.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"summary": ["The answer is clear. However, it omits the units of the result.", None]})
    >>> summary_candidates(rows, [0, 1])
    ['However, it omits the units of the result.']
    """
    from misattribution.discovery.sentences import split_sentences

    if "summary" not in getattr(rows, "columns", ()):
        return []
    found: list[str] = []
    for position in positions:
        value = rows["summary"].iat[int(position)]
        if isinstance(value, str):
            found += [s for s in split_sentences(value) if cue_score(s) > 0 and s not in found]
    return found[:limit]


def _mostly_hidden(name: str, sentences: Sequence[str], masked: Sequence[str | None]) -> list[str]:
    """Words of ``name`` that are instance words (:func:`_question_words`) in most of the ``sentences``
    that carry them: "write" masked in the one row whose question says "Write ..." is still a word of
    the problem when the other sentences keep it.

    >>> _mostly_hidden("Instruction to write not followed", ["Write in French is not followed.", "The instruction to write in Greek is not followed."], ["… in … is not followed.", "The instruction to write in … is not followed."])
    []
    """
    flagged = []
    for word in dict.fromkeys(w.casefold() for w in _WORDS.findall(name)):
        carrying = hidden = 0
        for sentence, form in zip(sentences, masked):
            if word in (w.casefold() for w in _WORDS.findall(sentence)):
                carrying += 1
                hidden += word in (w.casefold() for w in _question_words(name, sentence, form))
        if carrying and 2 * hidden > carrying:
            flagged.append(word)
    return flagged


def _question_words(name: str, sentence: str, masked: str | None) -> list[str]:
    """Words of ``name`` that belong to its source sentence's instance: those the masked form of
    ``sentence`` replaced (its row's question words) and those capitalised inside the sentence (names)."""
    words = _WORDS.findall(sentence)
    hidden = {w.casefold() for i, w in enumerate(words) if i and w[:1].isupper() and not w.isupper()}
    if masked and "…" in masked:
        hidden |= {w.casefold() for w in words} - {w.casefold() for w in _WORDS.findall(masked)}
    return [w for w in _WORDS.findall(name) if w.casefold() in hidden and w.casefold() not in _STOP]


# Units of measurement written out: "in miles rather than kilometres" is one row's pair of units.
_UNIT_WORDS = (
    r"(?:degrees\s+)?(?:fahrenheit|celsius|kelvin|miles?|kilomet(?:re|er)s?|met(?:re|er)s?|centimet(?:re|er)s?|"
    r"millimet(?:re|er)s?|feet|foot|inch(?:es)?|yards?|pounds?|kilograms?|grams?|ounces?|lit(?:re|er)s?|"
    r"gallons?|dollars?|euros?|cents?|percent(?:age points)?|seconds?|minutes?|hours?|days?|weeks?|months?|"
    r"years?|watts?|kilowatts?|[kmgt]wh|joules?|calories?|bytes?|kilobytes?|megabytes?|gigabytes?|"
    r"km|cm|mm|kg|mg|lbs?|oz|ml|mph|kph|ft|usd|eur)"
)


def _swap(words: str) -> re.Pattern[str]:
    """ "in <one of words> rather than / instead of / not <another>": one row's pair, to put in general terms."""
    return re.compile(
        rf"\b(in|into|to|as)\s+(?:the\s+)?{words}\s+(?:rather than|instead of|not)\s+(?:in(?:to)?\s+)?(?:the\s+)?{words}\b",
        re.IGNORECASE,
    )


# A conversion between two units of one row: "km to m", "km↔m", "troy_oz -> grams", "seconds/minutes".
_PAIRED_UNIT = rf"(?:troy[_ ])?(?:{_UNIT_WORDS}|[mgsl])"
_UNIT_PAIR = re.compile(rf"(?<![\w-]){_PAIRED_UNIT}\s*(?:to|->|→|↔|<->|/)\s*{_PAIRED_UNIT}(?![\w-])", re.IGNORECASE)


def _general_pair(match: re.Match[str]) -> str:
    """ "km to m" → "unit conversion"; after "conversion of" or "converting", just "units"."""
    before = match.string[: match.start()]
    return "units" if re.search(r"\bconver\w*(?:\s+(?:of|from))?\s*$", before, re.IGNORECASE) else "unit conversion"


# "in Dutch instead of Italian": one row's pair of languages.
_LANGUAGES = (
    r"(?:english|french|german|spanish|italian|dutch|portuguese|chinese|mandarin|cantonese|japanese|korean|"
    r"russian|arabic|hindi|bengali|turkish|polish|swedish|norwegian|danish|finnish|greek|hebrew|czech|"
    r"hungarian|romanian|ukrainian|vietnamese|thai|indonesian|malay|persian|urdu|swahili|catalan)"
)
# One row's pair of units ("in miles rather than kilometres") or languages, and what it becomes.
_SWAPS = ((_swap(_UNIT_WORDS), "the wrong unit"), (_swap(_LANGUAGES), "the wrong language"))
# "8 paragraphs long", "about 270 words long": how long one row's answer was.
_LENGTH_COUNT = re.compile(
    r"\b(?:(?:about|around|roughly|nearly|almost|over|more than|some)\s+)?\d[\d,]*\s+"
    r"(?:paragraphs?|words?|sentences?|lines?|pages?|characters?|bullets?|bullet points?|items?|tokens?)\s+long\b",
    re.IGNORECASE,
)
# What two code identifiers of one row may be ("confuses geo_lookup with sql_query"), by the word the
# cluster's evidence uses most for them; none of these in a fifth of it: left as they are.
_IDENTIFIER_KINDS = ("tool", "function", "column", "field", "endpoint", "table")


def _general_identifiers(name: str, members: Sequence[str]) -> str:
    """ "Confusion of geo_lookup with sql_query" → "Confusion of one tool with another" when two code
    identifiers of one row are what the name is about and the evidence calls such things tools (or
    functions, columns ...); one identifier after a preposition that not every member names becomes "a tool".

    >>> _general_identifiers("Confusion of geo_lookup with sql_query", ["The tool is wrong."] * 3)
    'Confusion of one tool with another'
    >>> _general_identifiers("Confusion of geo_lookup with sql_query", ["It is wrong."] * 3)
    'Confusion of geo_lookup with sql_query'
    >>> _general_identifiers("Arguments to web_search use the wrong unit", ["The tool gets miles."] * 3)
    'Arguments to a tool use the wrong unit'
    """
    found = list(_IDENTIFIER.finditer(name))
    if len(found) not in (1, 2) or len({f.group(0).casefold() for f in found}) < len(found) or not members:
        return name
    lowered = [m.casefold() for m in members]
    counts = {k: sum(bool(re.search(rf"\b{k}s?\b", m)) for m in lowered) for k in _IDENTIFIER_KINDS}
    kind = max(counts, key=counts.get)
    if counts[kind] < 0.2 * len(lowered):
        return name
    if len(found) == 1:  # "Arguments to web_search use the wrong unit" → "... to a tool ..."
        one = re.search(rf"\b(?:to|for|of|with|from|in|on|by)\s+(?:the\s+)?{re.escape(found[0].group(0))}\b", name)
        if not one or all(found[0].group(0).casefold() in m for m in lowered):
            return name
        article = "an" if kind[0] in "aeiou" else "a"
        return name[: one.start()] + one.group(0).split()[0] + f" {article} {kind}" + name[one.end() :]
    (a, b) = found
    text = name[: a.start()] + f"one {kind}" + name[a.end() : b.start()] + "another" + name[b.end() :]
    text = re.sub(rf"\bone {kind} (?:tool|call|function)\b", f"one {kind}", text)  # "one tool tool"
    return text[:1].upper() + text[1:]


def _repair(
    name: str, siblings: Sequence[str], members: Sequence[str], keywords: Sequence[str], instances: Sequence[str] = ()
) -> str:
    """``name`` made to pass the rules when it can: one row's pair of units generalised ("in miles rather
    than kilometres" → "in the wrong unit", "km -> meters" → "unit conversion"), the phrase of one instance cut, a near-duplicate of a sibling
    told apart by a keyword.

    >>> _repair("Input given in degrees Fahrenheit rather than degrees Celsius", [], [], [])
    'Input given in the wrong unit'
    >>> _repair("Kelvin value that was asked for is never given", [], ["The Kelvin value is never given.",
    ...     "The summary that was asked for is never given."], [])
    'Value that was asked for is never given'
    >>> _repair("Unsupported km -> meters", [], [], [])
    'Unsupported unit conversion'
    """
    for pattern, general in _SWAPS:
        name = pattern.sub(lambda m, general=general: f"{m.group(1)} {general}", name)
    name = _UNIT_PAIR.sub(_general_pair, name)
    name = _general_identifiers(name, members)
    name = _LENGTH_COUNT.sub("too long", name)  # "Reply 8 paragraphs long": one row's count
    lead, _, rest = name.partition(" ")
    if len(rest.split()) >= 3 and rest[:1].islower():  # a leading word of one instance: "Kelvin value that ..."
        problems = name_problems(name, siblings=siblings, members=members, instances=instances)
        if any(p.startswith("instance") and f'"{lead}"' in p for p in problems):
            name = rest[:1].upper() + rest[1:]
    name = _shorten(_without_instances(name, instances), MAX_WORDS)
    if _duplicate_problems(name, siblings):
        taken = {w for s in siblings for w in _name_key(s)} | _name_key(name)
        extra = next((k for k in keywords if _stem(k) not in taken and k.casefold() not in _GENERIC), None)
        if extra is not None:
            name = f"{name} involving {extra}" if not _CJK.search(name) else f"{name}（{extra}）"
    return name


# -- names from an LLM --------------------------------------------------------------------------------
NAME_PROMPT = """Below are {k} recurring issues found in evaluations of answers written by an AI system. \
Each issue is shown by feedback sentences that belong to it{summary_note}.

Name each issue for the developer who will fix it: a noun phrase of at most 12 words that says what is \
wrong, in general terms (no numbers, names or quotes of one example), not a sentence (never "The \
response ..." or "The model ..."), never praise, each name clearly distinct from the others, in the \
language of the feedback. Good names: "Arithmetic errors in multi-step percentage calculations", \
"Missing caveat that the analysis uses only the given data", "Ignored user instruction to answer in one word".

Answer with exactly one line per issue, in order, and nothing else:
[1] <name>
[2] <name>

ISSUES
{issues}"""

REPAIR_PROMPT = """These names of recurring issues in evaluations of an AI system's answers break naming \
rules. Write a better name for each: a noun phrase of at most 12 words that says what is wrong, in \
general terms, not a sentence, never praise, distinct from the other names ({others}).

Answer with exactly one line per issue, in order, and nothing else:
[1] <name>

ISSUES
{issues}"""

_NAME_LINE = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:\*\*)?\s*(?:\[(\d{1,3})\]|(?:issue\s*)?#?(\d{1,3})\s*[.):\]-])\s*(?:\*\*)?\s*(.+?)\s*$",
    re.IGNORECASE,
)


def parse_names(text: str, expected: int) -> dict[int, str]:
    """``{issue number: name}`` from an answer, leniently: ``[1] …``, ``1. …``, ``Issue 1: …``, bold, quotes,
    a trailing ": description" or period; numbers outside ``1..expected`` are ignored.

    >>> parse_names('Sure!\\n[1] **Missing units**\\n2. "Arithmetic errors": wrong sums.\\n[9] Extra', 2)
    {1: 'Missing units', 2: 'Arithmetic errors'}
    >>> parse_names("no idea", 2)
    {}
    """
    found: dict[int, str] = {}
    for line in (text or "").splitlines():
        match = _NAME_LINE.match(line)
        if not match:
            continue
        number = int(match.group(1) or match.group(2))
        name = re.sub(r"\*\*|__|`", "", match.group(3)).strip()
        name = re.split(r"\s*(?::|：|\s[-–—]\s)\s*", name, maxsplit=1)[0] if len(name.split()) > 2 else name
        name = name.strip().strip("\"'“”‘’「」").strip().rstrip(".。").strip()
        if 1 <= number <= expected and name and number not in found:
            found[number] = name
    return found


def default_cache_path() -> Path:
    """Where LLM names are cached: ``issue_names.jsonl`` in :func:`~.embed.cache_folder`."""
    from misattribution.discovery.embed import cache_folder

    return cache_folder() / "issue_names.jsonl"


def _evidence_block(number: int, evidence: Sequence[str], summaries: Sequence[str], max_evidence: int) -> str:
    lines = [f"[{number}]"] + [f"- {e.strip()[:300]}" for e in list(dict.fromkeys(evidence))[:max_evidence]]
    lines += [f"  (summary) {s.strip()[:300]}" for s in list(dict.fromkeys(summaries))[:3]]
    return "\n".join(lines)


def name_issues_with_llm(
    issues_evidence: Mapping[str, Sequence[str]],
    judge: Any,
    *,
    cache: str | Path | None | bool = True,
    fallback: Mapping[str, str] | None = None,
    summaries: Mapping[str, Sequence[str]] | None = None,
    max_evidence: int = 8,
) -> tuple[dict[str, str], dict[str, Any]]:
    """Name each issue from its most central evidence with an LLM: at most K + 1 calls for K issues.

    One batched call names every issue; the names that are unusable or break a rule of
    :func:`name_problems` (siblings: the other names; members: the issue's evidence) go back in one
    more call with the rules restated; any that still fail fall back to ``fallback[issue]`` (default:
    the :func:`issue_name` of its first evidence sentence). So K issues cost at most 2 <= K + 1 calls
    (none for K = 0), and a rerun with the same prompts costs none: answers are cached in a JSONL file
    keyed by a hash of the model, its settings and the prompt (``cache``: a path; ``True`` for
    :func:`default_cache_path`; ``None``/``False`` for no cache).

    Args:
        issues_evidence: issue id → its evidence sentences, most central first.
        judge: any :class:`~misattribution.judges.base.Judge`, or a spec for
            :func:`~misattribution.judges.load_judge` (``"http://host:8000/v1"``, ``"vllm:<model>"``, a
            path); a spec is loaded with greedy decoding.
        fallback: issue id → the LLM-free name, used when the LLM's is unusable.
        summaries: issue id → short per-row summaries of its rows (CLEAR's ``evaluation_summary``),
            shown in the prompt next to the evidence.
        max_evidence: evidence sentences per issue in the prompt.

    Returns:
        ``(names, meta)``: issue id → name, and ``meta`` with ``llm_calls``, ``cache_hits``,
        ``model``, ``from_llm`` (ids named by the LLM) and ``fallbacks`` (id → the problems of the
        LLM's name, or ``"unparsed"``).
    """
    from misattribution.discovery.modes.kpa import _Ask, _CountedLLM, _messages
    from misattribution.judges import SamplingParams, load_judge

    ids = list(issues_evidence)
    summaries = summaries or {}
    fallback = dict(fallback or {})
    for issue in ids:
        if issue not in fallback:
            evidence = list(issues_evidence[issue])
            fallback[issue] = issue_name(evidence[0]) if evidence else issue
    meta: dict[str, Any] = {"llm_calls": 0, "cache_hits": 0, "from_llm": [], "fallbacks": {}}
    if not ids:
        return {}, meta
    if isinstance(judge, str):
        judge = load_judge(judge, sampling=SamplingParams(greedy=True, max_new_tokens=64 * len(ids) + 64))
    else:
        judge = load_judge(judge)
    path = default_cache_path() if cache is True else Path(cache) if cache else None
    llm = _CountedLLM(judge, path)
    meta["model"] = judge.model_id
    note = " (and, marked (summary), short summaries of the evaluations of its rows)" if summaries else ""
    blocks = [_evidence_block(n, issues_evidence[i], summaries.get(i, ()), max_evidence) for n, i in enumerate(ids, 1)]
    prompt = NAME_PROMPT.format(k=len(ids), summary_note=note, issues="\n\n".join(blocks))
    answer = llm.ask([_Ask("name", _messages(prompt))])[0]
    parsed = parse_names(answer or "", len(ids))
    names: dict[str, str] = {}
    failed: dict[str, list[str]] = {}
    for number, issue in enumerate(ids, 1):
        name = _shorten(parsed.get(number, ""), MAX_WORDS) if number in parsed else ""
        problems = _llm_name_problems(name, issue, names, ids, parsed, issues_evidence)
        if problems:
            failed[issue] = problems
        else:
            names[issue] = name
    if failed:
        others = "; ".join(f'"{n}"' for n in names.values()) or "none yet"
        items = [
            _evidence_block(n, issues_evidence[i], (), max_evidence).replace(
                f"[{n}]", f"[{n}] {parsed.get(ids.index(i) + 1, '(no name)')} — problems: {'; '.join(failed[i])}", 1
            )
            for n, i in enumerate(failed, 1)
        ]
        retry = REPAIR_PROMPT.format(others=others, issues="\n\n".join(items))
        second = parse_names(llm.ask([_Ask("rename", _messages(retry))])[0] or "", len(failed))
        for number, issue in enumerate(list(failed), 1):
            name = _shorten(second.get(number, ""), MAX_WORDS)
            if name and not name_problems(name, siblings=[*names.values()], members=list(issues_evidence[issue])):
                names[issue] = name
                del failed[issue]
    for issue in ids:
        if issue in names:
            meta["from_llm"].append(issue)
            continue
        name = fallback[issue]
        if any(near_duplicate(name, other) for other in names.values()):
            name = _repair(name, list(names.values()), list(issues_evidence[issue]), ())
        names[issue] = name
        meta["fallbacks"][issue] = failed.get(issue, ["unparsed"])
    meta.update(llm_calls=llm.total, cache_hits=llm.hits, backend_errors=llm.errors)
    return {issue: names[issue] for issue in ids}, meta


def rename_with_llm(issues: Sequence[Any], assignments: Any, rows: Any, judge: Any, *, cache: Any = True) -> dict:
    """Rename the cluster issues of a report in place with :func:`name_issues_with_llm`; its meta.

    Each issue's evidence is the evidence of its assignments, its example rows (most typical) first;
    its summaries are the ``summary`` of those rows when the rows have one. Issues of other
    provenances keep their names: a detector, a taxonomy, CLEAR or the user named them.
    """
    clustered = [i for i in issues if i.provenance == "cluster"]
    by_issue = assignments.groupby("issue_id", sort=False)
    evidence: dict[str, list[str]] = {}
    summaries: dict[str, list[str]] = {}
    has_summary = "summary" in rows.columns
    summary_of = dict(zip(rows["row_id"].astype(str), rows["summary"])) if has_summary else {}
    for issue in clustered:
        lines = by_issue.get_group(issue.id) if issue.id in by_issue.groups else assignments.iloc[:0]
        rank = {row: k for k, row in enumerate(issue.examples)}
        ordered = sorted(zip(lines["row_id"].astype(str), lines["evidence"]), key=lambda p: rank.get(p[0], len(rank)))
        evidence[issue.id] = list(dict.fromkeys(e for _, text in ordered for e in str(text).split("\n") if e))
        summaries[issue.id] = [summary_of[r] for r in issue.examples if isinstance(summary_of.get(r), str)]
    names, meta = name_issues_with_llm(
        evidence,
        judge,
        cache=cache,
        fallback={i.id: i.name for i in clustered},
        summaries=summaries if has_summary else None,
    )
    meta["renamed"] = {}
    for issue in clustered:
        if names[issue.id] != issue.name:
            meta["renamed"][issue.id] = {"from": issue.name, "to": names[issue.id]}
            issue.name = names[issue.id]
    return meta


def _llm_name_problems(
    name: str,
    issue: str,
    named: Mapping[str, str],
    ids: Sequence[str],
    parsed: Mapping[int, str],
    evidence: Mapping[str, Sequence[str]],
) -> list[str]:
    if not name:
        return ["unparsed"]
    siblings = [*named.values(), *(parsed[n] for n in sorted(parsed) if n > ids.index(issue) + 1)]
    return name_problems(name, siblings=siblings, members=list(evidence[issue]))


__all__ = [
    "MAX_CHARS_ZH",
    "MAX_WORDS",
    "choose_name",
    "critical_clause",
    "default_cache_path",
    "issue_name",
    "masked_share",
    "name_issues_with_llm",
    "name_problems",
    "near_duplicate",
    "noun_phrase",
    "parse_names",
    "rename_with_llm",
    "summary_candidates",
]
