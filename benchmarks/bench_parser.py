"""Parser throughput: how many judge outputs per second `parse_judgment` reads.

The corpus mixes clean targets from `render_target` (English and Chinese, every category and score),
markdown-decorated variants, truncated outputs, prompt echoes and garbage, in fixed proportions.

    python benchmarks/bench_parser.py [--n 20000] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import time

from misattribution import build_messages, load_taxonomy, parse_judgment, render_target


def corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    tax = load_taxonomy()
    echo = build_messages("What is 3 x 4?", "14")[0]["content"]
    texts = []
    for _ in range(n):
        score = rng.choice(tax.scale.values)
        labels = [] if score == 3 else rng.sample(tax.secondary_ids, rng.randint(1, 3))
        language = rng.choice(["en", "zh"])
        feedback = " ".join(
            rng.choice(["The answer", "skips a step", "and the total", "is wrong", "because", "3 x 4 = 12."])
            for _ in range(rng.randint(8, 40))
        )
        clean = render_target(feedback, labels, score, language=language)
        kind = rng.random()
        if kind < 0.6:
            texts.append(clean)
        elif kind < 0.8:
            texts.append("\n".join(f"**{line.replace(': ', ':** ', 1)}" for line in clean.splitlines()))
        elif kind < 0.9:
            texts.append(clean[: rng.randint(1, len(clean))])
        elif kind < 0.95:
            texts.append(echo + "\n" + clean)
        else:
            texts.append("".join(chr(rng.randint(32, 0x4E00)) for _ in range(rng.randint(0, 300))))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    texts = corpus(args.n, args.seed)
    tax = load_taxonomy()
    parse_judgment(texts[0], tax)  # warm the name index
    start = time.perf_counter()
    statuses: dict[str, int] = {}
    for text in texts:
        status = parse_judgment(text, tax).status
        statuses[status] = statuses.get(status, 0) + 1
    elapsed = time.perf_counter() - start
    chars = sum(len(t) for t in texts)
    print(f"parsed {args.n} outputs ({chars / args.n:.0f} chars on average) in {elapsed:.2f} s")
    print(f"throughput: {args.n / elapsed:,.0f} outputs/s, {elapsed / args.n * 1e6:.0f} µs per output")
    print("statuses: " + ", ".join(f"{k} {v / args.n:.1%}" for k, v in sorted(statuses.items())))


if __name__ == "__main__":
    main()
