"""The AttriData row schema, as ``datasets.Features`` built from a taxonomy.

One row is one judged answer:

========================  ==========================================================================
``id``                    stable row id (string)
``question``              the user's question or instruction
``answer``                the answer that was judged
``reference``             a reference answer, or ``None``
``instruction``           evaluation criteria or an extra instruction for the judge, or ``None``
``language``              ISO 639-1 code of the row's text (``en``, ``zh``, ...)
``source``                where the row comes from (task or source dataset)
``score``                 integer on the taxonomy's scale (0-3 for the shipped taxonomies)
``misattribution``        list of secondary categories (``ClassLabel``); empty = no error
``primary``               the primary categories of ``misattribution`` (derived, never entered)
``feedback``              the explanation behind the score and the categories
``num_annotators``        how many annotators labelled the row
``score_agreement``       share of annotators whose score equals the final score
``misattribution_agreement``  share of annotators whose category set equals the final one
``adjudicated``           whether an adjudicator's decision replaced the majority
========================  ==========================================================================
"""

from __future__ import annotations

from typing import Any

from misattribution.taxonomy import Taxonomy, load_taxonomy

SCHEMA_VERSION = "1.0"

TEXT_COLUMNS = ("id", "question", "answer", "reference", "instruction", "language", "source", "feedback")
REQUIRED_TEXT = ("id", "question", "answer", "language", "feedback")
COLUMNS = (
    "id",
    "question",
    "answer",
    "reference",
    "instruction",
    "language",
    "source",
    "score",
    "misattribution",
    "primary",
    "feedback",
    "num_annotators",
    "score_agreement",
    "misattribution_agreement",
    "adjudicated",
)

# ISO 639-1 codes (the two-letter ones), for the language check.
ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv
    dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii
    ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk
    ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc
    sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve
    vi vo wa wo xh yi yo za zh zu""".split()
)


def attridata_features(taxonomy: Taxonomy | str | None = None) -> Any:
    """The ``datasets.Features`` of an AttriData row under ``taxonomy``.

    >>> features = attridata_features()
    >>> features["misattribution"].feature.names[:2]
    ['typos', 'noisy']
    """
    from datasets import ClassLabel, Features, List, Value

    tax = load_taxonomy(taxonomy)
    return Features(
        {
            "id": Value("string"),
            "question": Value("string"),
            "answer": Value("string"),
            "reference": Value("string"),
            "instruction": Value("string"),
            "language": Value("string"),
            "source": Value("string"),
            "score": Value("int8"),
            "misattribution": List(ClassLabel(names=tax.secondary_ids)),
            "primary": List(ClassLabel(names=tax.primary_ids)),
            "feedback": Value("string"),
            "num_annotators": Value("int8"),
            "score_agreement": Value("float32"),
            "misattribution_agreement": Value("float32"),
            "adjudicated": Value("bool"),
        }
    )
