"""The light core (issue 15): what ``pip install misattribution`` must do without torch, transformers,
sentence-transformers, gradio and the other extras.

Each check runs in a fresh interpreter whose import system cannot see the extras' packages (every
``sys.meta_path`` finder is wrapped to answer "not found" for them, so ``import torch`` fails exactly as it
does where torch is not installed). There: ``import misattribution`` and ``misattribution --help`` load
nothing heavy, a table is read, statistics and the metric's agreement mode run, rules discovery and the
Space's data layer work, the ``agreement`` command runs, and every command needing an extra exits 2 with
one line naming the extra, no traceback.
"""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from misattribution import _extras

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "src" / "misattribution" / "data" / "sample_data" / "rows_en_a.jsonl"
METRIC_DIR = REPO / "metric" / "misattribution"

#: What the light core must run without (every optional package the extras bring).
BLOCKED = sorted(_extras.EXTRA_OF)

HIDE_EXTRAS = f"""
import sys

BLOCKED = {BLOCKED!r}


class _Hidden:
    # Wraps a finder: the extras' packages are not found, as where they are not installed.
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return None
        find_spec = getattr(self.finder, "find_spec", None)
        return find_spec(name, path, target) if find_spec else None

    def __getattr__(self, attribute):
        return getattr(self.finder, attribute)


sys.meta_path[:] = [_Hidden(finder) for finder in sys.meta_path]
"""

# Run after the code: nothing it did imported an extra's package, and its exit code (``exit_code``) is kept.
CHECK_NONE_LOADED = """
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(BLOCKED))
assert not loaded, f"extras imported: {loaded}"
sys.exit(globals().get("exit_code", 0))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_EVALUATE_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        HF_MODULES_CACHE=str(tmp_path / "modules"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run_light(code: str, tmp_path: Path, *, hide: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (cwd ``tmp_path``), the extras hidden unless ``hide=False``; then
    :data:`CHECK_NONE_LOADED`."""
    script = (HIDE_EXTRAS if hide else "import sys\nBLOCKED = []\n") + textwrap.dedent(code) + CHECK_NONE_LOADED
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """``misattribution ARGS`` (the console script's ``main``) with the extras hidden."""
    return run_light(f"from misattribution.cli import main\nexit_code = main({args!r})\n", tmp_path)


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


# -- import time: what `import misattribution` and `misattribution --help` load ---------------------------
#: Imported by neither (each costs from 0.05 s to 0.5 s; all together they made --help take 1.5 s).
HEAVY = ["pandas", "numpy", "scipy", "sklearn", "pyarrow", "datasets", "evaluate", "httpx", "yaml", "tqdm"]


def test_import_and_help_load_nothing_heavy(tmp_path):
    """The 0.5 s budgets of issue 15, held by what is imported rather than by a clock (timings:
    benchmarks/bench_light_import.py): `import misattribution` and `misattribution --help` import none of
    the heavy packages, with every extra installed (so no import of theirs hides behind a missing one)."""
    code = f"""
    import contextlib, io
    heavy = {HEAVY!r}
    import misattribution
    after_import = sorted({{n.split(".")[0] for n in sys.modules}} & set(heavy))
    from misattribution.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(["--help"])
        except SystemExit as stop:
            assert stop.code == 0, stop.code
    after_help = sorted({{n.split(".")[0] for n in sys.modules}} & set(heavy))
    print(after_import, after_help, "discover" in out.getvalue(), "analyze" in out.getvalue())
    """
    assert _ok(run_light(code, tmp_path, hide=False)).split("\n")[0] == "[] [] True True"


def test_public_names_import_on_first_use(tmp_path):
    code = """
    import misattribution
    assert "misattribution.runner" not in sys.modules
    from misattribution import judge_dataset, load_taxonomy
    import misattribution.runner
    assert judge_dataset is misattribution.runner.judge_dataset
    assert misattribution.stats.agreement_report is misattribution.agreement_report  # a submodule, on first use
    assert set(misattribution.__all__) <= set(dir(misattribution))
    try:
        misattribution.no_such_name
    except AttributeError as err:
        print(err)
    """
    assert _ok(run_light(code, tmp_path)).strip() == "module 'misattribution' has no attribute 'no_such_name'"


# -- the core works without the extras ---------------------------------------------------------------------
def test_tables_statistics_and_the_metric_without_extras(tmp_path):
    rows = [{"id": f"r{i}", "score": i % 4, "human": (i % 4 + (i % 3 == 0)) % 4} for i in range(40)]
    (tmp_path / "rows.csv").write_text(
        "id,score,human\n" + "".join(f"{r['id']},{r['score']},{r['human']}\n" for r in rows), encoding="utf-8"
    )
    code = f"""
    import json
    import numpy as np
    import evaluate
    from misattribution.io.tables import read_table
    from misattribution.stats import correlations, fisher_exact_p

    frame, label = read_table("rows.csv")
    judge, human = frame["score"].astype(float).tolist(), frame["human"].astype(float).tolist()
    result = correlations(judge, human, n_resamples=200, seed=0)
    metric = evaluate.load({str(METRIC_DIR)!r})
    computed = metric.compute(predictions=judge, references=human, n_resamples=200)
    print(json.dumps({{
        "label": label, "n": len(frame),
        "pearson": result["pearson"].value, "numpy": float(np.corrcoef(judge, human)[0, 1]),
        "metric_pearson": computed["pearson"], "metric_n": computed["n"],
        "fisher": float(fisher_exact_p(3, 10, 9, 10)),
    }}))
    """
    figures = json.loads(_ok(run_light(code, tmp_path)).strip().splitlines()[-1])
    assert figures["label"].endswith("rows.csv") and figures["n"] == 40
    assert figures["pearson"] == pytest.approx(figures["numpy"], abs=1e-12)
    assert figures["metric_pearson"] == pytest.approx(figures["numpy"], abs=1e-12) and figures["metric_n"] == 40
    # Fisher's exact two-sided p of [[3, 7], [9, 1]], from the hypergeometric law by hand.
    total, first, drawn = 20, 12, 10

    def p(k: int) -> float:
        return math.comb(first, k) * math.comb(total - first, drawn - k) / math.comb(total, drawn)

    observed = p(3)
    expected = sum(p(k) for k in range(2, 11) if p(k) <= observed * (1 + 1e-7))
    assert figures["fisher"] == pytest.approx(expected, rel=1e-9)


def test_rules_discovery_and_the_space_data_layer_without_extras(tmp_path):
    code = f"""
    from misattribution.discovery import discover
    from misattribution.discovery.report import IssueReport
    from misattribution.explore import Explorer, Filters

    report = discover({str(SAMPLE)!r}, mode="rules", tree=False, progress=False)  # the tree embeds: MiniLM
    folder = report.save("bundle")
    loaded = IssueReport.load(folder)
    explorer = Explorer(loaded)
    failing = int(explorer.mask(Filters()).sum())
    print(len(loaded.rows), failing, len(loaded.issues))
    """
    rows, selected, _issues = map(int, _ok(run_light(code, tmp_path)).split())
    assert rows == sum(1 for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip())
    assert selected == rows  # no filter: every row


def test_agreement_command_without_extras(tmp_path):
    lines = [json.dumps({"id": f"r{i}", "score": i % 4, "human": 3 - (i % 4) // 2}) for i in range(30)]
    (tmp_path / "judged.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli(["agreement", "judged.jsonl", "--human", "human", "--n-resamples", "100"], tmp_path)
    assert "Pearson" in _ok(result) or "pearson" in result.stdout
    report = json.loads((tmp_path / "judged.jsonl.agreement.json").read_text(encoding="utf-8"))
    assert report["n"] == 30


# -- a command that needs an extra: exit 2, one line naming it ----------------------------------------------
@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["judge", "rows.jsonl", "--model", "some/local-model", "-o", "out.jsonl"], "local"),
        (["discover", "rows.jsonl", "-o", "bundle"], "minilm"),  # the default embedder, MiniLM
        (["serve", "--port", "1"], "space"),  # refused before any socket is opened
        (["judge", "rows.jsonl", "--model", "litellm:openai/some-model", "-o", "out.jsonl"], "litellm"),
    ],
    ids=["judge-local-model", "discover-minilm", "serve", "judge-litellm"],
)
def test_a_command_needing_an_extra_names_it(tmp_path, args, extra):
    (tmp_path / "rows.jsonl").write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    result = run_cli(args, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"misattribution {args[0]}: error: ")
    assert f'pip install "misattribution[{extra}]"' in lines[0]
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "bundle").exists()  # nothing written


def test_the_training_script_without_its_extra_names_it(tmp_path):
    script = REPO / "trl_recipes" / "sft.py"
    code = (
        f"import runpy\nsys.argv = [{str(script)!r}, '--help']\nrunpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    result = run_light(code, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "error: training the judge (trl_recipes/sft.py) needs transformers, which is not installed: "
        'pip install "misattribution[train]"'
    )


def test_discover_with_the_static_embedder_without_extras(tmp_path, monkeypatch):
    """Issue 15's "done when": discovery with the static embedder runs in the light core (no torch), with
    nothing built: an empty cache, so the model the package ships is the one used."""
    monkeypatch.setenv("MISATTRIBUTION_CACHE", str(tmp_path / "empty-cache"))
    args = ["discover", str(SAMPLE), "--embedder", "static", "-o", "bundle", "--quiet"]
    out = _ok(run_cli(args, tmp_path))
    assert not (tmp_path / "empty-cache" / "static-minilm-256").exists()  # nothing was built
    assert "LLM calls: 0" in out and (tmp_path / "bundle").is_dir()
    meta = (tmp_path / "bundle" / "meta.json").read_text(encoding="utf-8")
    assert '"embedding_model": "static"' in meta


def test_every_module_imports_without_extras_or_names_its_extra(tmp_path):
    """All optional imports are lazy: each module of the package imports in the light core, except the
    two that exist to use torch, which fail with the message naming their extra."""
    code = """
    import importlib, pkgutil
    import misattribution
    from misattribution._extras import MissingExtraError

    for info in pkgutil.walk_packages(misattribution.__path__, "misattribution."):
        try:
            importlib.import_module(info.name)
        except MissingExtraError as err:
            print(f"{info.name}\\t{err.extra}\\t{err}")
    """
    failed = dict(line.split("\t", 1) for line in _ok(run_light(code, tmp_path, timeout=600)).splitlines())
    assert sorted(failed) == ["misattribution.judges.transformers", "misattribution.testing.tiny_model"]
    for line in failed.values():
        assert line.startswith("local\t") and 'pip install "misattribution[local]"' in line


# -- the extras' names: _extras and setup.py agree -----------------------------------------------------------
def _setup_requirements() -> tuple[list[str], dict[str, list[str]]]:
    """install_requires and extras_require of setup.py, read without running it."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    lists: dict[str, list[str]] = {}

    def value(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Name):  # "train": TRAIN
            return lists[node.id]
        out: list[str] = []
        for element in node.elts:  # type: ignore[attr-defined]
            if isinstance(element, ast.Starred):
                out += lists[element.value.id]  # type: ignore[attr-defined]
            elif isinstance(element, ast.Constant):
                out.append(element.value)
        return out

    extras: dict[str, list[str]] = {}
    install: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.List):
                lists[node.targets[0].id] = value(node.value)
            elif isinstance(node.value, ast.Dict) and node.targets[0].id == "EXTRAS":
                extras = {k.value: value(v) for k, v in zip(node.value.keys, node.value.values)}
        elif isinstance(node, ast.keyword) and node.arg == "install_requires":
            install = value(node.value)
    return install, extras


def _names(requirements: list[str]) -> set[str]:
    import re

    return {re.match(r"[A-Za-z0-9_.\-]+", r).group(0).lower().replace("_", "-") for r in requirements}


def test_the_core_requirements_hold_no_extra():
    install, extras = _setup_requirements()
    core = _names(install)
    assert core and not core & {"torch", "transformers", "sentence-transformers", "gradio", "trl", "vllm"}
    assert {"numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "model2vec", "datasets", "evaluate"} <= core
    assert {"local", "minilm", "space", "train", "deepspeed", "vllm", "litellm", "dev"} <= set(extras)


def test_each_optional_import_maps_to_the_extra_that_installs_it():
    _, extras = _setup_requirements()
    for module, extra in _extras.EXTRA_OF.items():
        distribution = _extras._DISTRIBUTION.get(module, module).replace("_", "-")
        assert extra in extras, f"{module}: no extra {extra!r} in setup.py"
        if module not in ("umap", "hdbscan"):  # BERTopic's own dependencies
            assert distribution in _names(extras[extra]), f"{distribution} is not in the {extra} extra"
    everything = set().union(*(_names(r) for name, r in extras.items() if name != "dev"))
    assert everything - {"vllm", "litellm"} <= _names(extras["dev"])  # `make test` installs what the suite uses


# -- the helper itself -------------------------------------------------------------------------------------
def test_require_names_the_extra_or_lets_a_real_bug_through(monkeypatch):
    assert _extras.require("json", "reading JSON") is json
    monkeypatch.setitem(_extras.EXTRA_OF, "no_such_module_for_this_test", "local")
    with pytest.raises(_extras.MissingExtraError) as caught:
        _extras.require("no_such_module_for_this_test.sub", "judging with a local model")
    assert str(caught.value) == (
        'judging with a local model needs no_such_module_for_this_test, which is not installed: pip install "misattribution[local]"'
    )
    assert caught.value.extra == "local" and caught.value.__cause__ is None
    with pytest.raises(ModuleNotFoundError) as plain:  # not an optional package: unchanged
        _extras.require("another_missing_module_for_this_test", "x")
    assert not isinstance(plain.value, _extras.MissingExtraError)
    try:  # re-raised with a message of its own, from the missing module: still recognised
        try:
            import no_such_module_for_this_test  # noqa: F401
        except ImportError as err:
            raise ImportError("the widget needs it") from err
    except ImportError as wrapped:
        assert _extras.missing_extra(wrapped, "misattribution serve").extra == "local"


# -- the README's Install section is what happens ----------------------------------------------------------
def _install_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return readme.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_lists_every_extra_of_setup_py():
    _, extras = _setup_requirements()
    listed = {line.split("`")[1] for line in _install_section().splitlines() if line.startswith("| `")}
    assert listed == set(extras)


def test_the_readme_missing_extra_example_is_the_real_output(tmp_path):
    section = _install_section()
    shown = section.split("```\n$ ", 1)[1].split("```", 1)[0].strip().splitlines()
    command, expected = shown[0].split(), shown[1]
    assert command[0] == "misattribution" and len(shown) == 2
    (tmp_path / "rows.jsonl").write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    result = run_cli(command[1:], tmp_path)
    assert result.returncode == 2 and result.stderr.strip() == expected
