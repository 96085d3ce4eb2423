"""``misattribution analyze`` on 300 questions, killed with SIGKILL in each stage, then rerun: what was lost,
what was repeated, and whether the cost line printed before the first call equals the calls made.

The loopback OpenAI-compatible server (:class:`~misattribution.testing.fake_openai.FakeOpenAIServer`) answers
the bare questions (generation: every third sum off by 5) and judges the answers against the reference. Its
request log is the ground truth: every generation and judge request is counted and keyed by its prompt.

Runs: (1) killed in the generate stage after 100 answers are saved; (2) the rerun killed in the judge stage
after 150 judgments; (3) the rerun killed after every row is judged (discover, summary or bundle); (4) the
rerun finishes. Then it checks: every question answered and judged (one line each), each run made at most the
calls its cost line said (what was not yet saved) and the finishing run exactly that many, the bundle loads and
finds the planted wrong sums; it counts the prompts sent twice (only those in flight at a kill can be). Prints one line per run and a verdict; exit 1 if anything was lost or repeated.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/bench_analyze_kills.py [--rows 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from misattribution.discovery.report import IssueReport
from misattribution.testing.fake_openai import FakeOpenAIServer

ISSUE = "Final answer different from the reference"


def questions(n: int) -> list[dict]:
    return [
        {
            "id": f"q{i}",
            "question": f"Tom has {3 + i} apples and buys {7 + 2 * i} more. How many apples does he have now?",
            "reference": f"#### {10 + 3 * i}",
            "system": "agent-a" if i % 2 else "agent-b",
        }
        for i in range(n)
    ]


def respond(messages: list[dict]) -> str:
    if len(messages) == 1:  # generation: a bare question
        a, b = (int(x) for x in re.findall(r"\d+", messages[0]["content"])[:2])
        return f"He adds {a} and {b}. Therefore, he has {a + b + (5 if (a - 3) % 3 == 0 else 0)} apples."
    user = messages[-1]["content"]
    answer = user.rsplit("### Answer\n", 1)[1].strip()
    reference = user.split("### Reference answer\n", 1)[1].split("\n\n", 1)[0].strip()
    if re.findall(r"\d+", answer)[-1] == re.findall(r"\d+", reference)[-1]:
        return "Feedback: The total is correct and matches the reference.\nMisattribution: None\nScore: 3"
    return "Feedback: The addition is wrong, so the count does not match the reference.\nMisattribution: Result Error\nScore: 1"


def lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def run(argv: list[str], *, kill_when=None) -> tuple[int | None, str]:
    """Run ``misattribution *argv``; SIGKILL it once ``kill_when()`` is true. Returns (exit code or None, stderr)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "misattribution", *argv], stdout=subprocess.DEVNULL, stderr=err, env=env
        )
        killed = False
        while process.poll() is None:
            if kill_when is not None and kill_when():
                process.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.02)
        process.wait(timeout=600)
        err.seek(0)
        return (None if killed else process.returncode), err.read()


def to_make(stderr: str) -> int:
    """The calls the run's cost lines say it will make ("..., 20 to make (...)"), summed over its stages."""
    return sum(int(n) for n in re.findall(r"(\d+) to make", stderr))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300)
    args = parser.parse_args()
    n = args.rows
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer(responder=respond) as server:
        root = Path(folder)
        source = root / "questions.jsonl"
        source.write_text("".join(json.dumps(q) + "\n" for q in questions(n)), encoding="utf-8")
        out = root / "run"
        answers, judged, meta = out / "answers.jsonl", out / "judged.jsonl", out / "bundle" / "meta.json"
        argv = ["analyze", str(source), "-o", str(out), "--endpoint", server.url, "--generate-with", server.url]
        argv += ["--served-model", "fake", "--generate-served-model", "fake", "--mode", "rules", "--quiet"]
        argv += ["--batch-size", "8", "--concurrency", "4"]
        table = []
        plan = [
            ("killed in generate", lambda: lines(answers) >= n // 3),
            ("killed in judge", lambda: lines(judged) >= n // 2),
            ("killed after judging", lambda: lines(judged) >= n and not meta.exists()),
            ("finished", None),
        ]
        for label, when in plan:
            before = len(server.chat_requests)
            code, stderr = run(argv, kill_when=when)
            made = len(server.chat_requests) - before
            table.append((label, code, made, to_make(stderr), lines(answers), lines(judged), meta.exists()))
        prompts = Counter(json.dumps(r.body["messages"], sort_keys=True) for r in server.chat_requests)
        repeated = sum(c - 1 for c in prompts.values() if c > 1)
        total = len(server.chat_requests)
        report = IssueReport.load(out / "bundle")
        found = {i.name: i.count for i in report.issues}
        keys = [json.loads(line)["key"] for path in (answers, judged) for line in path.read_text().splitlines()]
        saved_answers, saved_judgments, distinct = lines(answers), lines(judged), len(set(keys))
    print(f"{n} questions, load {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'run':<22} {'exit':>5} {'requests':>9} {'cost said':>10} {'answers':>8} {'judged':>7} {'bundle':>7}")
    for label, code, made, said, a, j, b in table:
        print(f"{label:<22} {str(code):>5} {made:>9} {said:>10} {a:>8} {j:>7} {b!s:>7}")
    # A prompt in flight at the kill may be sent again (its result was never saved): at most one batch per kill.
    print(f"requests {total} for {2 * n} prompts; sent twice: {repeated} (in flight at a kill: sent, never saved)")
    wrong = sum(1 for i in range(n) if i % 3 == 0)
    print(f"bundle: '{ISSUE}' on {found.get(ISSUE)} rows (planted: {wrong})")
    # Each run's cost line counts what is not yet saved: a killed run makes at most that, the last one exactly it.
    honest = all(made <= said for _, _, made, said, *_ in table) and table[-1][2] == table[-1][3]
    print(f"each run made at most the calls its cost line said, the finishing run exactly: {honest}")
    print(
        f"saved: {saved_answers} answers, {saved_judgments} judgments, {distinct} distinct keys (lost: {2 * n - distinct})"
    )
    ok = saved_answers == saved_judgments == n and distinct == 2 * n and found.get(ISSUE) == wrong and honest
    print("verdict:", "nothing lost, every saved result reused, cost = calls" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
