"""LLM-free issue discovery at scale: 100,000 generated judged rows → an issue report.

    python benchmarks/bench_discovery_100k.py [--rows 100000] [--seed 0] [--failing 0.45]

The rows are generated combinatorially with a seeded RNG: 12 issue kinds, each with several phrasings,
filled from slots (subjects, adverbs, qualifiers, quantities, items, names, numbers, details; 40% of the critical
sentences also say where in the solution, 40% add a consequence), mixed with praise and neutral sentences, so
that almost every sentence is distinct and deduplication alone cannot shrink the work. Goal: under 10 minutes and under 4 GB peak RSS on 2
cores. Prints the time of each stage, the peak memory (``resource.getrusage``; ``tracemalloc`` for
Python allocations while the report is built), and how well the planted issues were recovered.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import tracemalloc

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SUBJECTS = ["The response", "The model", "The answer", "It", "The solution", "The assistant", "This answer",
            "The model's response", "The reply", "The output"]  # fmt: skip
ADVERBS = ["", "", "clearly ", "apparently ", "unfortunately ", "evidently ", "also ", "again "]
WHERE = ["in step {k}", "in the {ordinal} step", "when computing the {quantity}", "near the end",
         "in the final line", "while converting {unit} to {unit2}", "in its second paragraph",
         "halfway through the solution", "when it sets up the equation", "in the last calculation"]  # fmt: skip
QUANTITIES = ["total cost", "remaining amount", "average speed", "number of {item}", "daily earnings",
              "weekly total", "price per {item}", "time needed", "distance left", "share of each friend"]  # fmt: skip
CONSEQUENCES = [".", ", so the final answer is wrong.", ", which changes the result.", ", and the total is off by {d}.",
                ", which the reader may not notice.", ", leading to {n} instead of {m}.", " and never corrects it.",
                ", which lowers the score."]  # fmt: skip
DETAILS = ["", "", "", " for the second {item}", " that a quick check would have caught", " in a way that matters",
           " despite the hint in the question", " for the last {item}", " that the grader flags", " twice in a row",
           " without any explanation", " although the earlier steps were right", " that confuses the reader",
           " which a reviewer would notice at once"]  # fmt: skip
QUALIFIERS = ["", "", "", "small ", "serious ", "obvious ", "subtle ", "avoidable ", "careless ", "notable "]
ISSUES = {
    "arithmetic": ["{s} {a}makes an {x}arithmetic mistake {w}{c}", "{s} {a}miscalculates the {q} {w}{c}",
                   "There is a {x}calculation error {w}{c}", "{s} {a}adds {n} and {m} incorrectly{c}",
                   "{s} {a}gets the multiplication wrong {w}{c}", "A subtraction slip {w} breaks the {q}{c}"],
    "units": ["{s} {a}omits the units of the {q}{c}", "{s} {a}forgets to state the unit of the result{c}",
              "No units are given for the {q}{c}", "{s} {a}reports the {q} as a bare number without units{c}",
              "The unit is missing from the final answer{c}"],
    "misread": ["{s} {a}misreads what the question asks about the {q}{c}",
                "{s} {a}misunderstands the question and computes the {q} instead{c}",
                "{s} {a}answers a different question than the one about the {q}{c}",
                "{s} {a}misinterprets the problem statement {w}{c}"],
    "ignored_condition": ["{s} {a}ignores the condition that {name} keeps {n} {item}{c}",
                          "{s} {a}overlooks the discount mentioned in the question{c}",
                          "{s} {a}neglects a constraint given in the problem {w}{c}",
                          "A {x}key condition of the problem is ignored {w}{c}"],
    "verbose": ["{s} is {a}far too long for such a simple question{c}", "{s} {a}repeats the same step several times{c}",
                "{s} is verbose and padded with filler {w}{c}", "{s} could be much more concise{c}",
                "The explanation is unnecessarily long {w}{c}"],
    "no_final": ["{s} {a}never states the final answer explicitly{c}", "{s} {a}does not give a final number{c}",
                 "The final answer is missing from the response{c}", "{s} {a}stops before giving the {q}{c}"],
    "invented": ["{s} {a}invents a fact that is not in the problem{c}", "{s} {a}makes up a number for the {q}{c}",
                 "{s} {a}cites a rule that does not exist{c}", "{s} {a}assumes a value for the {q} that is never given{c}"],
    "rounding": ["{s} {a}rounds the {q} too early{c}", "{s} {a}rounds {n}.{d} to {m} without reason{c}",
                 "A {x}rounding error {w} distorts the {q}{c}", "{s} {a}truncates the decimals of the {q}{c}"],
    "unclear": ["The explanation is {a}confusing {w}{c}", "{s} is hard to follow because the steps are out of order{c}",
                "{s} {a}uses unclear notation {w}{c}", "The reasoning {w} is vague and hard to follow{c}"],
    "format": ["{s} {a}ignores the requested answer format{c}", "{s} {a}does not put the answer in the required box{c}",
               "The output format does not match the instructions{c}", "{s} {a}uses a list where a single number was asked{c}"],
    "wrong_operation": ["{s} {a}divides where it should multiply {w}{c}",
                        "{s} {a}uses subtraction instead of addition for the {q}{c}",
                        "{s} {a}applies the percentage to the wrong base {w}{c}",
                        "The wrong operation is used for the {q}{c}"],
    "double_count": ["{s} {a}counts the {item} twice {w}{c}", "{s} {a}double counts {name}'s {item}{c}",
                     "Some {item} are counted twice in the {q}{c}", "{s} {a}includes the same {item} two times{c}"],
}  # fmt: skip
PRAISE = ["{s} follows the instructions and stays on topic.", "The explanation of the {q} is clear and well organised.",
          "{s} breaks the problem into logical steps.", "The tone is polite and appropriate.",
          "{s} is easy to follow {w}.", "{s} correctly identifies the {q} as the goal.",
          "The use of variables makes the reasoning transparent.", "{s} explains each step of the {q} carefully.",
          "Overall, the structure of the response is good.", "{s} adheres to the requested style."]  # fmt: skip
NEUTRAL = ["The question asks for the {q} of {name}'s {item}.", "{name} starts with {n} {item} and buys {m} more.",
           "The reference answer is {m} {item}.", "We assess accuracy, completeness and clarity.",
           "Each {item} costs {d} dollars.", "The problem involves {n} {item} shared among {d} friends."]  # fmt: skip
ITEMS = ["apples", "marbles", "tickets", "books", "coins", "eggs", "stamps", "pencils", "cookies", "bottles",
         "shirts", "boxes", "cards", "plants", "bricks", "candles", "tiles", "cups", "ribbons", "shells"]  # fmt: skip
NAMES = ["Tom", "Ana", "Li Wei", "Sara", "Omar", "Maya", "Jon", "Priya", "Kofi", "Elena", "Hiro", "Zoe",
         "Ravi", "Nadia", "Luis", "Greta", "Ade", "Mei", "Ivan", "Lea"]  # fmt: skip
UNITS = ["minutes", "hours", "metres", "kilometres", "dollars", "cents", "grams", "litres"]
ORDINALS = ["first", "second", "third", "fourth", "fifth"]


def generate(n_rows: int, seed: int, failing_share: float) -> tuple[list[dict], dict[str, set[str]]]:
    """Judged rows (0-3 scale) and the planted issues' row ids."""
    rng = random.Random(seed)
    kinds = list(ISSUES)
    truth: dict[str, set[str]] = {kind: set() for kind in kinds}
    rows = []
    for i in range(n_rows):
        item, name = rng.choice(ITEMS), rng.choice(NAMES)
        slots = {"item": item, "name": name, "n": rng.randint(2, 99), "m": rng.randint(2, 99), "d": rng.randint(1, 9)}

        def fill(template: str, item: str = item, slots: dict = slots) -> str:
            quantity = rng.choice(QUANTITIES).format(item=item)
            where = rng.choice(WHERE).format(k=rng.randint(1, 6), ordinal=rng.choice(ORDINALS), quantity=quantity,
                                             unit=rng.choice(UNITS), unit2=rng.choice(UNITS))  # fmt: skip
            consequence = rng.choice(CONSEQUENCES).format(**slots) if rng.random() < 0.4 else "."
            consequence = rng.choice(DETAILS).format(item=item) + consequence
            where = where if rng.random() < 0.4 else ""
            text = template.format(x=rng.choice(QUALIFIERS), s=rng.choice(SUBJECTS), a=rng.choice(ADVERBS), w=where, q=quantity, c=consequence,
                                   **slots)  # fmt: skip
            text = " ".join(text.split()).replace(" .", ".").replace(" ,", ",")
            return text[0].upper() + text[1:]

        failing = rng.random() < failing_share
        planted = rng.sample(kinds, rng.choice([1, 1, 1, 2, 2, 3])) if failing else []
        sentences = [fill(t) for t in rng.sample(PRAISE, rng.randint(1, 3))]
        sentences += [fill(t) for t in rng.sample(NEUTRAL, rng.randint(0, 2))]
        for kind in planted:
            opener, text = rng.choice(["", "However, ", "Unfortunately, ", "Also, "]), fill(rng.choice(ISSUES[kind]))
            sentences.append(opener + (text[0].lower() + text[1:] if opener else text))
            truth[kind].add(f"row{i}")
        rng.shuffle(sentences)
        score = 3 if not planted else max(0, 3 - len(planted) - rng.randint(0, 1))
        rows.append(
            {
                "id": f"row{i}",
                "question": f"{name} has {slots['n']} {item} and buys {slots['m']} more. How many {item} now?",
                "feedback": " ".join(s if s.endswith((".", "!", "?")) else s + "." for s in sentences)
                + f"\n\nFinal Score: {score}",
                "score": score,
                "system": f"system-{i % 3}",
            }
        )
    return rows, truth


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failing", type=float, default=0.45, help="share of rows with planted issues")
    parser.add_argument("--max-issues", type=int, default=15)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slows the run several times)"
    )
    args = parser.parse_args()

    import pandas as pd

    from misattribution.discovery import discover
    from misattribution.discovery.pipeline import format_issue_table

    clock = time.perf_counter()
    records, truth = generate(args.rows, args.seed, args.failing)
    frame = pd.DataFrame.from_records(records)
    del records
    generate_time = time.perf_counter() - clock
    sentences = frame["feedback"].str.count(r"[.!?](?:\s|$)").sum()
    distinct = len({s for text in frame["feedback"] for s in text.split(". ")})
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"generated {len(frame):,} rows ({int(sentences):,} sentences, ~{distinct:,} distinct) in {generate_time:.1f} s"
    )

    if args.tracemalloc:
        tracemalloc.start()
    clock = time.perf_counter()
    report = discover(frame, seed=args.seed, max_issues=args.max_issues, progress=False)
    wall = time.perf_counter() - clock
    traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    tracemalloc.stop()

    meta = report.meta
    print(
        f"{meta['n_sentences']:,} sentences of failing rows, {meta['n_unique_sentences']:,} distinct after masking, "
        f"{meta['n_embedded']:,} embedded, {meta['n_critical']:,} critical among them, clustered with {meta['method']}"
    )
    print("stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in meta["timings"].items()))
    print(f"discover wall time: {wall:.1f} s ({wall / 60:.1f} min; goal < 10 min)")
    traced = f"; Python allocations peak (tracemalloc) {traced_peak / 2**20:,.0f} MB" if traced_peak else ""
    print(f"peak RSS (getrusage, whole process): {peak_rss_mb():,.0f} MB (goal < 4096 MB){traced}")
    print(f"LLM calls: {meta['llm_calls']}")
    print()
    print(format_issue_table(report))
    print()
    found = report.assignments.groupby("issue_id")["row_id"].agg(set).to_dict()
    names = {i.id: i.name for i in report.issues}
    print(f"{'planted issue':<18} {'rows':>6}  {'Jaccard':>7}  best-overlapping issue")
    scores = []
    for kind, members in truth.items():
        best_id, best = None, 0.0
        for issue_id, rows in found.items():
            jaccard = len(members & rows) / len(members | rows)
            if jaccard > best:
                best_id, best = issue_id, jaccard
        scores.append(best)
        print(f"{kind:<18} {len(members):>6}  {best:>7.2f}  {names.get(best_id, '-')}")
    print(f"Jaccard: min {min(scores):.2f}, mean {sum(scores) / len(scores):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
