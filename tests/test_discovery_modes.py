"""Discovery modes as plug-ins: the registry, its declarations, and a mode added from this module alone.

The toy mode below is registered here and nowhere else, and then works through ``discover``, the CLI
flag its declaration names and ``discover --help``: adding a mode is one module and its test.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re

import pandas as pd
import pytest

from misattribution.cli import main
from misattribution.discovery import discover
from misattribution.discovery.modes import (
    MODES,
    MissingDependencyError,
    ModeOption,
    ModeResult,
    UnknownModeError,
    get_mode,
    list_modes,
    mode_names,
    register_mode,
)
from misattribution.discovery.report import ASSIGNMENT_COLUMNS, Issue, IssueReport, issue_id
from misattribution.testing.fake_openai import FakeOpenAIServer

BUILT_IN = {"clusters", "rules", "static", "task", "kpa", "clear"}


# -- a mode defined by this test and registered nowhere else ------------------------------------------
def _keyword_mode(rows: pd.DataFrame, keyword: str = "wrong", case_sensitive: bool = False) -> ModeResult:
    """Rows whose feedback mentions a word."""
    feedback = rows["feedback"].fillna("").astype(str)
    hits = feedback.str.contains(re.escape(keyword), case=case_sensitive)
    issue = Issue(id=issue_id(f"mentions {keyword}", "toy"), name=f"Feedback mentions '{keyword}'", provenance="toy")
    found = rows.loc[hits & rows["failing"].astype(bool), "row_id"].astype(str)
    assignments = pd.DataFrame({"row_id": found, "issue_id": issue.id, "evidence": keyword})
    return ModeResult([issue] if len(found) else [], assignments, {"llm_calls": 0, "keyword": keyword})


@pytest.fixture()
def toy_mode():
    mode = register_mode(
        "toy",
        _keyword_mode,
        options=[
            ModeOption("keyword", str, "wrong", "the word to look for"),
            ModeOption("case_sensitive", bool, False, "match the case too"),
        ],
        help="rows whose feedback mentions a word",
    )
    yield mode
    MODES.pop("toy", None)


def _table(tmp_path) -> str:
    feedback = (
        ["The arithmetic is wrong: 12 * 4 is not 52."] * 4
        + ["The answer omits the units of the result."] * 3
        + ["The answer misreads what the question asks for."] * 3
        + ["The tone is a bit dry."] * 2
        + ["The answer is correct and clearly explained."] * 4
    )
    records = [
        {"id": f"r{i:02d}", "question": "How much?", "answer": "48", "feedback": text, "score": 1 if i < 12 else 5}
        for i, text in enumerate(feedback)
    ]
    path = tmp_path / "judged.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


# -- the registry -------------------------------------------------------------------------------------
def test_the_registry_lists_every_mode_with_its_declared_options():
    modes = {m.name: m for m in list_modes()}
    assert BUILT_IN <= set(modes) and mode_names()[0] == "clusters"
    assert [m.name for m in list_modes(llm=False)] == [n for n in mode_names() if n != "kpa"]
    assert modes["kpa"].needs_llm and {o.name for o in modes["kpa"].options if o.llm} == {"endpoint", "model", "judge"}
    assert modes["static"].option("issues_text").cli_flag == "--issues"
    assert modes["static"].option("issues_text") == modes["task"].option("issues_text")  # one shared --issues
    assert modes["clear"].options == () and not modes["clear"].needs_llm
    assert modes["rules"].option("detectors").choices[0] == "reference_mismatch"
    for mode in modes.values():
        assert mode.help, mode.name
        for option in mode.options:
            assert option.help and isinstance(option, ModeOption), (mode.name, option.name)


def _signature_defaults(func) -> dict:
    return {name: p.default for name, p in inspect.signature(func).parameters.items() if p.default is not p.empty}


def test_declared_defaults_are_the_functions_defaults():
    """A declaration that drifted from its function would print a wrong default in --help."""
    from misattribution.discovery.modes.kpa import kpa_issues
    from misattribution.discovery.pipeline import ClusterSettings

    cluster_defaults = {f.name: f.default for f in dataclasses.fields(ClusterSettings)}
    real = {
        "clusters": cluster_defaults,
        "kpa": {**_signature_defaults(kpa_issues), **_signature_defaults(get_mode("kpa").run)},
    }
    for name in BUILT_IN:
        mode = get_mode(name)
        defaults = real.get(name) or _signature_defaults(mode.run)
        for option in mode.options:
            assert option.name in defaults, (name, option.name)
            assert defaults[option.name] == option.default, (name, option.name)
    # The clusters mode declares the settings that discover does not take as its own arguments.
    own = set(inspect.signature(discover).parameters)
    assert {o.name for o in get_mode("clusters").options} == set(cluster_defaults) - own


def test_unknown_modes_and_options_are_clear_errors():
    rows = pd.DataFrame({"row_id": ["a"], "failing": [True], "feedback": ["x"], "score": [0.0]})
    with pytest.raises(UnknownModeError, match=r"unknown discovery mode 'nonesuch'; known modes: clusters, .*kpa"):
        discover(rows, mode="clusters+nonesuch", progress=False)
    with pytest.raises(ValueError, match=r"mode 'rules' has no option 'detector'; its options: detectors, keep_empty"):
        discover(rows, mode="rules", mode_options={"rules": {"detector": ["truncation"]}}, progress=False)
    with pytest.raises(ValueError, match=r"option 'detectors' got 'typo'; choose from reference_mismatch"):
        discover(rows, mode="rules", mode_options={"rules": {"detectors": ["truncation", "typo"]}}, progress=False)
    with pytest.raises(ValueError, match=r"mode_options for 'kpa', which is not among the modes run \(rules\)"):
        discover(rows, mode="rules", mode_options={"kpa": {"endpoint": "http://x"}}, progress=False)
    with pytest.raises(ValueError, match=r"mode 'kpa' needs one LLM: its option 'endpoint'"):
        discover(rows, mode="kpa", progress=False)
    with pytest.raises(ValueError, match="a mode name is a Python identifier"):
        register_mode("clusters+rules", _keyword_mode)


def test_a_missing_package_says_what_to_install():
    mode = register_mode("needs_missing", _keyword_mode, requires=("no_such_package_for_this_test",))
    try:
        rows = pd.DataFrame({"row_id": ["a"], "failing": [True], "feedback": ["x"], "score": [0.0]})
        with pytest.raises(MissingDependencyError, match="pip install no_such_package_for_this_test"):
            mode(rows)
        with pytest.raises(MissingDependencyError, match="mode 'needs_missing' needs the package"):
            discover(rows, mode="needs_missing", progress=False)
    finally:
        MODES.pop("needs_missing", None)


def test_built_in_modes_return_the_one_result_type():
    rows = pd.DataFrame(
        {
            "row_id": ["a", "b"],
            "failing": [True, True],
            "answer": ["So he has 5.", "So he has 7."],
            "reference": ["#### 5", "#### 5"],
            "clear_issues": [["Calculation errors"], []],
        }
    )
    rules = get_mode("rules")(rows, detectors=["reference_mismatch"])
    assert isinstance(rules, ModeResult) and rules.assignments["row_id"].tolist() == ["b"]
    assert rules.meta == {"llm_calls": 0, "detectors": ["reference_mismatch"]}
    clear = get_mode("clear")(rows)
    assert isinstance(clear, ModeResult) and [i.name for i in clear.issues] == ["Calculation errors"]
    assert list(clear.assignments.columns) == list(ASSIGNMENT_COLUMNS)


# -- a mode added by one module: through discover, the CLI and its help --------------------------------
def test_a_mode_registered_by_a_test_works_through_discover(toy_mode, tmp_path):
    report = discover(_table(tmp_path), mode="toy", mode_options={"toy": {"keyword": "units"}}, progress=False)
    assert [(i.name, i.provenance, i.count) for i in report.issues] == [("Feedback mentions 'units'", "toy", 3)]
    assert report.meta["mode"] == "toy" and report.meta["sources"]["toy"]["keyword"] == "units"
    default = discover(_table(tmp_path), mode="toy", progress=False)
    assert [i.count for i in default.issues] == [4]  # the function's own default, "wrong"
    with pytest.raises(ValueError, match=r"mode 'toy' has no option 'word'; its options: keyword, case_sensitive"):
        discover(_table(tmp_path), mode="toy", mode_options={"toy": {"word": "units"}}, progress=False)


def test_a_mode_registered_by_a_test_works_through_the_cli(toy_mode, tmp_path, capsys):
    out = tmp_path / "bundle"
    code = main(["discover", _table(tmp_path), "-o", str(out), "--mode", "toy", "--keyword", "misreads", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Feedback mentions 'misreads'" in printed and "LLM calls: 0" in printed
    assert [(i.name, i.count) for i in IssueReport.load(out).issues] == [("Feedback mentions 'misreads'", 3)]
    assert main(["discover", _table(tmp_path), "-o", str(out), "--mode", "toy", "--case-sensitive", "--quiet"]) == 0
    assert IssueReport.load(out).issues[0].count == 4  # "wrong" is lower case in the feedback
    with pytest.raises(SystemExit):
        main(["discover", "--help"])
    help_text = capsys.readouterr().out
    assert "mode toy:" in help_text and "rows whose feedback mentions a word" in help_text
    assert re.search(r"--keyword KEYWORD\s+the word to look for \[str; default: 'wrong'\]", help_text)


def test_the_help_lists_every_mode_and_its_flags(capsys):
    with pytest.raises(SystemExit):
        main(["discover", "--help"])
    help_text = capsys.readouterr().out
    for name in BUILT_IN:
        assert f"\nmode {name}" in help_text
    assert "mode kpa (needs an LLM):" in help_text
    for flag in ("--endpoint ENDPOINT", "--model MODEL", "--issues ISSUES", "--detectors DETECTORS[,...]"):
        assert flag in help_text
    # Declared differently by two modes, or clashing with discover's own flag: one flag per mode.
    for flag in ("--clusters-batch-size", "--kpa-batch-size", "--kpa-max-issues"):
        assert flag in help_text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mode", "clusters", "--endpoint", "http://127.0.0.1:9/v1"], "--endpoint is an option of mode kpa, which"),
        (["--mode", "kpa"], "mode 'kpa' needs one LLM: its option 'endpoint'"),
        (["--mode", "rules", "--detectors", "truncation,typo"], "option 'detectors' got 'typo'"),
        (["--mode", "kpa", "--endpoint", "http://x", "--kpa-batch-size", "two"], "--kpa-batch-size two: not an int"),
        (["--mode", "static", "--issues", "nope.txt"], "--issues nope.txt: no such file"),
        (["--mode", "clusters+nonesuch"], "unknown discovery mode 'nonesuch'; known modes:"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_code_2(tmp_path, capsys, argv, message):
    assert main(["discover", _table(tmp_path), "-o", str(tmp_path / "out"), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


# -- kpa from the command line, against a loopback OpenAI-compatible server ----------------------------
_SHORTCOMINGS = {
    "arithmetic": "Makes arithmetic errors.",
    "units": "Omits the units of the result.",
    "misreads": "Misreads the question.",
}


def _kpa_responder(messages) -> str:
    """Summarises each critique by keyword and names the issues, in the formats the prompts ask for."""
    prompt = messages[-1]["content"]
    if "\nCRITIQUES\n" in prompt:
        parts = re.split(r"^\[(\d+)\]$", prompt.split("\nCRITIQUES\n", 1)[1], flags=re.MULTILINE)[1:]
        blocks = []
        for number, critique in zip(parts[::2], parts[1::2]):
            found = [s for key, s in _SHORTCOMINGS.items() if key in critique.lower()]
            blocks.append(f"[{number}]\n" + ("\n".join(f"1. {s}" for s in found) or "None"))
        return "\n".join(blocks)
    if "\nSHORTCOMINGS\n" in prompt:
        return (
            "1. Arithmetic errors: calculations give wrong numbers\n"
            "2. Missing units: results lack units\n"
            "3. Misread questions: the answer addresses another question"
        )
    return "unexpected prompt"


def test_kpa_from_the_cli_against_a_loopback_server(tmp_path, capsys):
    out = tmp_path / "bundle"
    with FakeOpenAIServer(responder=_kpa_responder) as server:
        argv = ["discover", _table(tmp_path), "-o", str(out), "--mode", "kpa", "--endpoint", server.url]
        code = main([*argv, "--kpa-batch-size", "5", "--cache-path", str(tmp_path / "kpa.jsonl"), "--quiet"])
        calls = len(server.chat_requests)
    printed = capsys.readouterr().out
    assert code == 0, printed
    # 12 failing critiques in batches of 5 → 3 summarise calls, then 1 synthesis call; the model from /v1/models.
    assert calls == 4 and "LLM calls: 4 (kpa: summarise 3, synthesise 1; 0 cached answers)" in printed
    report = IssueReport.load(out)
    assert report.meta["llm_calls"] == 4 and report.meta["sources"]["kpa"]["model"] == "fake-judge"
    counts = {i.name: i.count for i in report.issues}
    assert counts == {"Arithmetic errors": 4, "Missing units": 3, "Misread questions": 3}
    assert {i.provenance for i in report.issues} == {"llm"}

    # A rerun reads every answer from the cache: the server is gone and no call is made.
    rerun = [*argv, "--model", "fake-judge", "--kpa-batch-size", "5", "--cache-path", str(tmp_path / "kpa.jsonl")]
    assert main([*rerun, "--quiet"]) == 0
    assert "LLM calls: 0 (kpa: 4 cached answers)" in capsys.readouterr().out


# -- the Space ------------------------------------------------------------------------------------------
def test_the_space_offers_the_registry_modes_and_gives_the_llm_ones_its_endpoint(toy_mode, tmp_path):
    from misattribution.explore import Explorer
    from misattribution.space_app import _discover, discovery_modes
    from misattribution.uploads import UploadError

    offered = discovery_modes()
    assert BUILT_IN - {"kpa"} <= set(offered) and "toy" in offered and "kpa" not in offered
    assert offered[0] == "clusters" and offered[-1] == "clusters+rules"
    assert "kpa" in discovery_modes(llm=True)  # when the Space has a judge endpoint

    explorer = Explorer(discover(_table(tmp_path), mode="toy", progress=False))
    with FakeOpenAIServer(responder=_kpa_responder) as server:
        result = _discover(explorer, "kpa", 15, "", endpoint=server.url)
        calls = len(server.chat_requests)
    # 12 failing critiques, 8 per summarise call → 2 calls, then 1 synthesis call.
    assert calls == 3 and result.report.meta["llm_calls"] == 3 and len(result.report.issues) == 3
    with pytest.raises(UploadError, match="discovery \\(kpa\\) failed: mode 'kpa' needs one LLM"):
        _discover(explorer, "kpa", 15, "")
    # The embedding model is one the server offers, checked against that list, never the filesystem: a
    # path that exists and one that does not give the same refusal.
    messages = set()
    for probe in ("/etc", "/no/such/path", "../../root/.cache", "sentence-transformers/other"):
        with pytest.raises(UploadError) as refused:
            _discover(explorer, "clusters", 15, probe)
        messages.add(str(refused.value))
    assert messages == {"embedding model not offered here; choose one of all-MiniLM-L6-v2"}
