"""A small synthetic judged table with five planted issues, phrased many ways (shared by discovery tests).

Each row has 0, 1 or 2 planted issues among praise and neutral sentences; the issues' row sets are the
ground truth.
"""

from __future__ import annotations

import random

import pandas as pd

PLANTED = {
    "units": (
        ["unit"],
        [
            "{s} omits the units of the final answer.",
            "{s} forgets to state the unit of measurement.",
            "No units are given with the final result.",
            "{s} lacks units such as dollars or metres in the answer.",
            "The units are missing from the final number.",
            "{s} reports a bare number without its unit.",
        ],
    ),
    "arithmetic": (
        ["arithmetic", "calculat", "miscalculat", "multiplication", "sum", "addition", "subtract"],
        [
            "There is an arithmetic mistake when adding the totals.",
            "{s} miscalculates the sum in the second step.",
            "A calculation error makes the total wrong.",
            "The multiplication in the second step is incorrect.",
            "{s} makes an arithmetic slip when subtracting.",
            "{s} computed {n} {item} instead of {m} because of an addition error.",
        ],
    ),
    "misread": (
        ["question", "condition", "misread", "misunderst", "misinterpret", "asked", "asks"],
        [
            "{s} ignores a condition stated in the question.",
            "{s} misreads what the question asks for.",
            "{s} misunderstands what the question asks.",
            "{s} answers a different question from the one asked.",
            "{s} misinterprets the question.",
        ],
    ),
    "verbose": (
        ["long", "verbose", "concise", "repetitive", "unnecessar", "wordy", "lengthy", "repeat"],
        [
            "The explanation is far too long and repetitive.",
            "{s} is too long and repeats itself.",
            "{s} is much longer than it needs to be.",
            "{s} is overly long and wordy.",
            "The answer is unnecessarily long.",
        ],
    ),
    "invented": (
        ["source", "fact", "invent", "fabricat", "made-up", "makes up", "reference", "exist"],
        [
            "{s} cites a source that does not exist.",
            "{s} invents a fact that is not in the reference.",
            "{s} makes up a fact to support the answer.",
            "{s} includes a fabricated fact about the topic.",
            "The answer relies on a made-up fact.",
        ],
    ),
}
SUBJECTS = ["The response", "The model", "The answer", "It"]
OPENERS = ["", "", "However, ", "Unfortunately, ", "Also, "]
PRAISE = [
    "The response follows the instructions and stays on topic.",
    "The explanation is clear and well organised.",
    "The model breaks the problem into logical steps.",
    "The tone is polite and appropriate.",
    "The answer is easy to follow.",
]
NEUTRAL = [
    "The question asks how many {item} {name} has left.",
    "The reference answer is {m} {item}.",
    "We assess accuracy, completeness and clarity.",
]
ITEMS = ["apples", "marbles", "tickets", "books", "coins", "eggs", "stamps", "pencils"]
NAMES = ["Tom", "Ana", "Li Wei", "Sara", "Omar", "Maya", "Jon", "Priya"]


def planted_rows(n_rows: int = 160, seed: int = 7) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """Rows with 0, 1 or 2 planted issues; the issues' row sets are the ground truth."""
    rng = random.Random(seed)
    records, truth = [], {name: set() for name in PLANTED}
    kinds = list(PLANTED)
    for i in range(n_rows):
        item, name = rng.choice(ITEMS), rng.choice(NAMES)
        n, m = rng.randint(3, 40), rng.randint(3, 40)
        roll = rng.random()
        planted = [] if roll < 0.2 else rng.sample(kinds, 2) if roll > 0.7 else [rng.choice(kinds)]
        sentences = rng.sample(PRAISE, 2) + [rng.choice(NEUTRAL)]
        for kind in planted:
            template = rng.choice(PLANTED[kind][1])
            subject = rng.choice(SUBJECTS)
            opener = rng.choice(OPENERS)
            text = template.format(s=subject, n=n, m=m, item=item, name=name)
            sentences.append(opener + (text[0].lower() + text[1:] if opener else text))
            truth[kind].add(f"r{i}")
        rng.shuffle(sentences)
        feedback = " ".join(s.format(item=item, name=name, m=m) for s in sentences) + "\n\nFinal Score: "
        score = 3 if not planted else rng.choice([1, 2]) if len(planted) == 1 else rng.choice([0, 1])
        records.append(
            {
                "id": f"r{i}",
                "question": f"{name} had {n + m} {item} and gave some away. How many {item} does {name} have left?",
                "answer": f"{name} has {n} {item} left.",
                "feedback": feedback + str(score),
                "score": score,
                "system": "model-a" if i % 2 else "model-b",
            }
        )
    return pd.DataFrame.from_records(records), truth
