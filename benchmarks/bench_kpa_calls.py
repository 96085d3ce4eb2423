"""LLM calls, calls per row and time of the LLM key-point analysis (``kpa`` mode), against CLEAR's cost.

Runs :func:`misattribution.discovery.modes.kpa.kpa_issues` on the judge feedback of
``../shared/data/clear_gsm8k`` (failing = score below 1), or on a synthetic set of critiques when that
data is absent, against the loopback fake OpenAI server. The fake server answers like an LLM would
(numbered shortcomings per critique, a list of issues), from the critique text itself, so the counts
and the pipeline's own time are real; the issues are not meant to be good. Then it runs again on the
same cache and checks that no call is made.

CLEAR spent 8,012 LLM calls on 3,000 rows (2.67 per row: one judge call, one summary call per row, and
one mapping call per failing row), i.e. about 1.67 calls per row for the analysis alone.

    python benchmarks/bench_kpa_calls.py
    python benchmarks/bench_kpa_calls.py --batch-size 16 --mapping llm --latency 0.2
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from misattribution.discovery.modes.kpa import RETRY_PROMPT, kpa_issues
from misattribution.discovery.sentences import cue_score, split_sentences, strip_opener
from misattribution.judges.base import SamplingParams
from misattribution.judges.openai_http import OpenAIHTTPJudge
from misattribution.testing.fake_openai import FakeOpenAIServer

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clear_gsm8k"
CLEAR_CALLS, CLEAR_ROWS = 8012, 3000


def load_rows(folder: Path, synthetic: int) -> tuple[pd.DataFrame, str]:
    """IssueReport-like rows from clear_gsm8k, or ``synthetic`` made-up rows when it is absent."""
    path = folder / "results.parquet"
    if path.is_file():
        frame = pd.read_parquet(path)
        frame = frame[frame["score"].notna()]
        rows = pd.DataFrame(
            {
                "row_id": frame["question_id"].astype(str),
                "feedback": frame["evaluation_text"].fillna(""),
                "score_norm": frame["score"].astype(float),
            }
        )
        return rows.assign(failing=rows["score_norm"] < 1.0).reset_index(drop=True), f"clear_gsm8k ({path})"
    rng = np.random.default_rng(0)
    problems = [
        "The model made an arithmetic error in the second step.",
        "The final answer omits the units.",
        "The response misreads what the question asks.",
        "The explanation is longer than needed.",
        "The model ignores one of the conditions of the problem.",
    ]
    praise = "The response is clear and well organised."
    feedback, failing = [], []
    for _ in range(synthetic):
        bad = rng.random() < 0.2
        chosen = rng.choice(problems, size=int(rng.integers(1, 3)), replace=False) if bad else []
        feedback.append(" ".join([praise, *chosen]))
        failing.append(bool(bad))
    rows = pd.DataFrame({"row_id": [f"s{i}" for i in range(synthetic)], "feedback": feedback, "failing": failing})
    return rows.assign(score_norm=np.where(rows["failing"], 0.5, 1.0)), f"synthetic ({synthetic} rows)"


def llm_like(messages: list[dict]) -> str:
    """A stand-in LLM: critical sentences become shortcomings; the most frequent ones become issues."""
    prompt = messages[1]["content"]
    if messages[-1]["content"] == RETRY_PROMPT:
        prompt = messages[1]["content"]
    if "\nCRITIQUES\n" in prompt:
        parts = re.split(r"^\[(\d+)\]$", prompt.split("\nCRITIQUES\n", 1)[1], flags=re.MULTILINE)[1:]
        blocks = []
        for number, critique in zip(parts[::2], parts[1::2]):
            critical = [strip_opener(s) for s in split_sentences(critique) if cue_score(s) > 0.3][:4]
            items = "\n".join(f"{k}. {s}" for k, s in enumerate(critical, 1)) or "None"
            blocks.append(f"[{number}]\n{items}")
        return "\n".join(blocks)
    if "\nSHORTCOMINGS\n" in prompt:
        limit = int(re.search(r"at most (\d+)", prompt)[1])
        items = re.findall(r"^- (.*) \(x\d+\)$", prompt, flags=re.MULTILINE)[:limit]
        return "\n".join(f"{k}. {' '.join(s.split()[:6])}: {s}" for k, s in enumerate(items, 1))
    if "\nANSWERS\n" in prompt:
        count = len(re.findall(r"^\[\d+\]$", prompt.split("\nANSWERS\n", 1)[1], flags=re.MULTILINE))
        return "\n".join(f"[{k}] 1" for k in range(1, count + 1))
    return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--synthetic", type=int, default=1000, help="rows to make up when the data is absent")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mapping", choices=("embedding", "llm"), default="embedding")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the fake LLM takes per call")
    args = parser.parse_args(argv)
    rows, label = load_rows(args.data, args.synthetic)
    n_failing = int(rows["failing"].sum())
    print(f"{label}: {len(rows)} rows, {n_failing} failing; batch size {args.batch_size}, mapping {args.mapping}")
    with FakeOpenAIServer(responder=llm_like, latency=args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        judge = OpenAIHTTPJudge(server.url, model="fake-llm", sampling=SamplingParams(greedy=True), concurrency=16)
        cache = Path(tmp) / "kpa_cache.jsonl"
        start = time.perf_counter()
        issues, assignments, meta = kpa_issues(
            rows, judge, batch_size=args.batch_size, mapping=args.mapping, cache_path=cache
        )
        first = time.perf_counter() - start
        requests = len(server.chat_requests)
        server.reset()
        start = time.perf_counter()
        _, _, again = kpa_issues(rows, judge, batch_size=args.batch_size, mapping=args.mapping, cache_path=cache)
        second = time.perf_counter() - start
        rerun_requests = len(server.chat_requests)
    expected = math.ceil(n_failing / args.batch_size)
    print(f"LLM calls: {meta['llm_calls']} (server saw {requests}) by stage {meta['calls_by_stage']}")
    print(f"  summarise calls = ceil({n_failing} failing / {args.batch_size}) = {expected}")
    print(f"  calls per row: {meta['calls_per_row']:.3f}; per failing row: {meta['calls_per_failing_row']:.3f}")
    print(
        f"  CLEAR: {CLEAR_CALLS / CLEAR_ROWS:.2f} per row with its judge call, "
        f"{(CLEAR_CALLS - CLEAR_ROWS) / CLEAR_ROWS:.2f} for the analysis alone "
        f"({CLEAR_CALLS:,} calls for {CLEAR_ROWS:,} rows)"
    )
    print(
        f"issues: {len(issues)}; rows with an issue: {assignments['row_id'].nunique()}; skipped: {len(meta['skipped'])}"
    )
    print(
        f"time: {first:.1f} s first run, {second:.1f} s rerun from cache ({again['llm_calls']} calls, "
        f"server saw {rerun_requests}, {again['cache_hits']} cache hits)"
    )
    ok = meta["calls_by_stage"].get("summarise", 0) >= expected and again["llm_calls"] == 0 and rerun_requests == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
