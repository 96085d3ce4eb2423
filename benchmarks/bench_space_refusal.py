"""How fast, and in how much memory, the Space refuses a zip that is inside its limits but inflates to a huge table.

Builds, in a temporary folder, a CLEAR results zip of about 28 MB whose ``results.csv`` inflates to about
400 MB (a ratio near 14x: under the 100x bomb limit, and under the 1 GB uncompressed limit), then loads it
with the Space's loader (``misattribution.uploads.load_upload``, default limits, ``discard=True``) in a fresh
subprocess and prints the refusal time, the subprocess's peak memory (``ru_maxrss``, imports included), the
refusal message, whether the upload was deleted, and the machine load. Goal (issue 12): < 5 s and < 1 GB.

    python benchmarks/bench_space_refusal.py            # ~400 MB of CSV
    python benchmarks/bench_space_refusal.py --mb 100   # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
started = time.perf_counter()
from misattribution.uploads import UploadError, load_upload
imported = time.perf_counter()
path = Path(sys.argv[1])
try:
    load_upload(path, discard=True)
    outcome = "accepted"
except UploadError as err:
    outcome = str(err).splitlines()[0]
done = time.perf_counter()
print(json.dumps({
    "refusal_s": done - imported,
    "import_s": imported - started,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "outcome": outcome,
    "deleted": not path.exists(),
}))
"""

SCORES = (0.2, 0.5, 0.9, 1.0)
SENTENCES = [
    "The answer adds the two numbers correctly but forgets to carry the one.",
    "The response restates the question and stops before the final step.",
    "Correct: the final answer matches the reference.",
    "The unit conversion from minutes to hours is wrong.",
    "The explanation is clear and the total is right.",
    "It multiplies where it should divide, so the rate is off by a factor of four.",
]


def build(folder: Path, target_mb: int, seed: int = 0) -> tuple[Path, int, int]:
    """A CLEAR zip whose results.csv holds about ``target_mb`` MB; returns (path, rows, inflated bytes)."""
    rng = random.Random(seed)
    path = folder / "clear_results.zip"
    header = "question_id,model_input,response,score,evaluation_text,recurring_issues_str\n"
    written, rows = 0, 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr("metadata.json", json.dumps({"qid_column": "question_id"}))
        with archive.open("results.csv", "w", force_zip64=True) as member:
            member.write(header.encode())
            while written < target_mb * 1024**2:
                lines = []
                for _ in range(10_000):
                    a, b = rng.randrange(200), rng.randrange(200)
                    lines.append(
                        f"q{rows},What is {a} + {b}?,{a + b + rng.choice((0, 0, 1))},{rng.choice(SCORES)},"
                        f'"{rng.choice(SENTENCES)} {rng.choice(SENTENCES)}",[]\n'
                    )
                    rows += 1
                block = "".join(lines).encode()
                member.write(block)
                written += len(block)
    return path, rows, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=400, help="MB of CSV the zip inflates to")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-refusal-") as tmp:
        t0 = time.perf_counter()
        path, rows, inflated = build(Path(tmp), args.mb)
        size = path.stat().st_size
        print(f"built {path.name}: {size / 1024**2:.1f} MB zip, {inflated / 1024**2:.0f} MB of CSV, {rows:,} rows, "
              f"ratio {inflated / size:.1f}x ({time.perf_counter() - t0:.1f} s)")  # fmt: skip
        load_before = os.getloadavg()
        child = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
        figures = json.loads(child.stdout.strip().splitlines()[-1])
    load_after = os.getloadavg()
    print(f"refused in {figures['refusal_s']:.2f} s (imports {figures['import_s']:.2f} s before), "
          f"peak {figures['peak_mb']:.0f} MB (ru_maxrss of the loading process, imports included)")  # fmt: skip
    print(f"message: {figures['outcome']}")
    print(f"upload deleted: {figures['deleted']}")
    print(f"load average before / after: {load_before[0]:.2f} / {load_after[0]:.2f} (1 min), {os.cpu_count()} cores")
    ok = figures["refusal_s"] < 5 and figures["peak_mb"] < 1024 and figures["outcome"] != "accepted"
    print(f"goal (< 5 s, < 1 GB, refused): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
