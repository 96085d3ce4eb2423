"""Import time of the light core (issue 15): `import misattribution` and `misattribution --help`.

Each figure is the median wall time of fresh interpreters (N runs, interleaved so that machine load hits
every case alike), printed with two anchors measured in the same run: a bare interpreter
(``python -c pass``) and ``import pandas``, the heaviest package the core uses. The goal of issue 15 is
< 0.5 s for both; the ratio to the bare interpreter is what stays comparable across machines and loads.
Also printed: ``import scipy.stats`` (what ``stats.py`` cost every import before it became lazy), and the
number of modules each command loads.

Run: ``python benchmarks/bench_light_import.py [--python /path/to/venv/bin/python] [--runs 15]``
(``--python`` measures another environment, e.g. a fresh light venv with ``pip install -e .``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (anchor)": "pass",
    "import pandas (anchor)": "import pandas",
    "import scipy.stats": "import scipy.stats",
    "import misattribution": "import misattribution",
    "misattribution --help": (
        "import sys\nfrom misattribution.cli import main\nsys.argv = ['misattribution', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    ),
}
GOAL_SECONDS = 0.5


def _time(python: str, code: str) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", code], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _modules(python: str, code: str) -> int:
    probe = code + "\nimport sys as _s\nprint(len(_s.modules), file=_s.stderr)"
    done = subprocess.run([python, "-c", probe], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return int(done.stderr.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the environment to measure")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"python: {args.python}; {args.runs} runs per case; load average {os.getloadavg()[0]:.2f} (1 min)")
    for code in CASES.values():  # warm the file cache once
        _time(args.python, code)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, code in CASES.items():
            times[name].append(_time(args.python, code))
    bare = statistics.median(times["python -c pass (anchor)"])
    pandas = statistics.median(times["import pandas (anchor)"])
    print(f"{'case':28s} {'median s':>9s} {'min s':>7s} {'x bare':>7s} {'x pandas':>9s} {'modules':>8s}  goal")
    for name, code in CASES.items():
        median = statistics.median(times[name])
        goal = "" if "anchor" in name or "scipy" in name else ("ok" if median < GOAL_SECONDS else "MISSED")
        print(
            f"{name:28s} {median:9.3f} {min(times[name]):7.3f} {median / bare:7.1f} {median / pandas:9.2f} "
            f"{_modules(args.python, code):8d}  {goal}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
