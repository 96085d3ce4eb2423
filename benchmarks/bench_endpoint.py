"""Throughput of OpenAIHTTPJudge against a server with fixed latency.

Starts the fake OpenAI server (every request takes ``--latency`` seconds), sends ``--n`` prompts at
``--concurrency`` through :class:`~misattribution.judges.openai_http.OpenAIHTTPJudge`, and prints
requests per second against the ideal ``concurrency / latency``. The goal is 90 % of ideal (144 req/s
for 32 in flight at 200 ms): the client's own overhead must not be what limits a judge run.

    python benchmarks/bench_endpoint.py                    # N=800, concurrency 32, latency 0.2 s
    python benchmarks/bench_endpoint.py --server thread    # server in this process, sharing its GIL

By default the server runs in a subprocess, as a real inference server would: in a thread of this
process its 32 handler threads compete with the client's event loop for the GIL, and the figure then
measures that contention as much as the client.

Exits with status 1 when the goal is missed or an item failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from misattribution.judges.openai_http import OpenAIHTTPJudge
from misattribution.testing.fake_openai import FakeOpenAIServer

GOAL = 0.90


@contextmanager
def running_server(mode: str, latency: float) -> Iterator[str]:
    """Yield the URL of a fake server running in this process's thread or in a subprocess."""
    if mode == "thread":
        with FakeOpenAIServer(latency=latency) as server:
            yield server.url
        return
    command = [sys.executable, "-m", "misattribution.testing.fake_openai", "--port", "0"]
    command += ["--latency", str(latency)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            line = process.stdout.readline() if process.stdout else ""
            if not line.startswith("listening on "):
                raise RuntimeError(f"fake server did not start: {line!r}")
            yield line.removeprefix("listening on ").strip()
        finally:
            process.terminate()
            process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=800, help="prompts to send")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per request")
    parser.add_argument("--server", choices=("process", "thread"), default="process")
    args = parser.parse_args(argv)

    prompts = [[{"role": "user", "content": f"Judge answer number {i}."}] for i in range(args.n)]
    with running_server(args.server, args.latency) as url:
        judge = OpenAIHTTPJudge(url, model="fake-judge", concurrency=args.concurrency, api_key="")
        judge.generate(prompts[: args.concurrency])  # warm-up: imports, first connections
        judge.stats.reset()
        start = time.perf_counter()
        results = judge.generate(prompts)
        elapsed = time.perf_counter() - start

    failed = sum(not isinstance(r, str) for r in results)
    rate = args.n / elapsed
    ideal = args.concurrency / args.latency
    ratio = rate / ideal
    met = ratio >= GOAL and failed == 0
    print(f"server: {args.server}, N={args.n}, concurrency={args.concurrency}, latency={args.latency:g} s")
    print(f"elapsed: {elapsed:.2f} s, stats: {judge.stats.as_dict()}, failed items: {failed}")
    print(f"throughput: {rate:.1f} req/s = {ratio:.1%} of ideal {ideal:.0f} req/s")
    print(f"goal >= {GOAL:.0%} of ideal ({GOAL * ideal:.0f} req/s): {'MET' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
