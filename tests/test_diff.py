"""Run vs run, system vs system and the CI gate: ``discovery.diff`` and ``misattribution diff | compare | check``.

The bundles are real: ``discover`` on planted agent data, then on a changed copy of that data (the rows of
one planted shortcoming dropped, those of another doubled) with ``previous=`` the first run; an edited
copy of the first bundle (the rows of its largest issue dropped, those of the next tripled) gives statuses
known in advance; the CLI is called through ``misattribution.cli.main``.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from misattribution.cli import main
from misattribution.discovery import discover
from misattribution.discovery.align import align_reports
from misattribution.discovery.diff import (
    STATUSES,
    check_report,
    compare_systems,
    diff_reports,
    is_aligned_to,
    resolve_issue,
)
from misattribution.discovery.report import IssueReport
from misattribution.testing.planted import generate

CLEAR_GSM8K = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "clear_gsm8k"
DROPPED, DOUBLED = "ignores_previous_output", "calculation_error"


def _changed_frame(data) -> pd.DataFrame:
    """The planted rows without those of DROPPED, and those of DOUBLED twice (the copies get new ids)."""
    frame = data.frame
    keys = frame["id"].map(data.planted)
    dropped = keys.map(lambda k: DROPPED in k)
    doubled = keys.map(lambda k: DOUBLED in k)
    copies = frame[doubled & ~dropped].assign(id=lambda f: f["id"] + "-copy")
    return pd.concat([frame[~dropped], copies], ignore_index=True)


def _edited(report: IssueReport) -> tuple[IssueReport, str, str]:
    """The report without the rows (and the issue) of its largest issue, with the rows of the next one three
    times (twice is not enough: 10% -> 16% of 300 rows is not significant once 14 issues are compared)."""
    by_rows = sorted(report.issues, key=lambda i: -i.count)
    gone, grown = by_rows[0].id, by_rows[1].id
    assignments = report.assignments.astype({"row_id": str})
    drop = set(assignments.loc[assignments["issue_id"] == gone, "row_id"])
    double = set(assignments.loc[assignments["issue_id"] == grown, "row_id"]) - drop
    rows = report.rows.astype({"row_id": str})
    copy_rows = pd.concat(
        [rows[rows["row_id"].isin(double)].assign(row_id=lambda f, k=k: f["row_id"] + f"-copy{k}") for k in (1, 2)]
    )
    copy_lines = pd.concat(
        [
            assignments[assignments["row_id"].isin(double)].assign(row_id=lambda f, k=k: f["row_id"] + f"-copy{k}")
            for k in (1, 2)
        ]
    )
    edited = IssueReport(
        rows=pd.concat([rows[~rows["row_id"].isin(drop)], copy_rows], ignore_index=True),
        issues=[replace(i) for i in report.issues if i.id != gone],
        assignments=pd.concat([assignments[~assignments["row_id"].isin(drop)], copy_lines], ignore_index=True),
        meta={k: v for k, v in report.meta.items() if k != "identity"},
        nodes=list(report.nodes),
    ).recompute()
    return edited, gone, grown


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("diff")
    data = generate("agents", 300, seed=0)
    options = {"score_range": (1, 5), "fast": True, "progress": False, "seed": 0}
    old = discover(data.frame, **options)
    old.save(folder / "old")
    new = discover(_changed_frame(data), previous=old, **options)
    new.save(folder / "new")
    # The same run without its identities: ids renamed, no meta["identity"]; diff must align it itself.
    renamed = {i.id: f"{i.id}-unaligned" for i in new.issues}
    unaligned = IssueReport(
        rows=new.rows,
        issues=[replace(i, id=renamed[i.id]) for i in new.issues],
        assignments=new.assignments.assign(issue_id=new.assignments["issue_id"].map(renamed)),
        meta={k: v for k, v in new.meta.items() if k != "identity"},
        nodes=list(new.nodes),
    )
    unaligned.save(folder / "unaligned")
    edited, gone, grown = _edited(old)
    # Aligned once here, as discover(previous=old) would, so that each diff against it needs no encoder.
    align_reports(edited, old).report.save(folder / "edited")
    (folder / "ids.txt").write_text(f"{gone}\n{grown}\n", encoding="utf-8")
    return {name: folder / name for name in ("old", "new", "unaligned", "edited")} | {"root": folder}


@pytest.fixture(scope="module")
def reports(bundles: dict[str, Path]) -> dict[str, IssueReport]:
    return {name: IssueReport.load(path) for name, path in bundles.items() if name != "root"}


@pytest.fixture(scope="module")
def edited_ids(bundles: dict[str, Path]) -> tuple[str, str]:
    gone, grown = (bundles["root"] / "ids.txt").read_text(encoding="utf-8").split()
    return gone, grown


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- diff_reports ----------------------------------------------------------------------------------------
def test_diff_by_identity_after_discover_previous(reports: dict[str, IssueReport]) -> None:
    old, new = reports["old"], reports["new"]
    assert is_aligned_to(new, old) and not is_aligned_to(reports["unaligned"], old)
    table = diff_reports(old, new)
    assert table.attrs["aligned"] == "previous"
    assert set(table["issue_id"]) == {i.id for i in old.issues} | {i.id for i in new.issues}
    assert set(table["status"]) <= set(STATUSES)
    identity = new.meta["identity"]
    lines = table.set_index("issue_id")
    for issue_id, status in identity["status"].items():
        if status == "new":
            assert lines.loc[issue_id, "status"] == "new" and lines.loc[issue_id, "count_before"] == 0
    for gone in identity["vanished"]:
        assert lines.loc[gone["id"], "status"] == "vanished" and lines.loc[gone["id"], "count_after"] == 0
    # Shares are rows with the issue over the run's rows; the change is after - before.
    np.testing.assert_allclose(table["share_after"], table["count_after"] / len(new.rows))
    np.testing.assert_allclose(table["share_before"], table["count_before"] / len(old.rows))
    np.testing.assert_allclose(table["change"], table["share_after"] - table["share_before"])
    assert (table["ci_low"] <= table["change"] + 1e-12).all() and (table["change"] <= table["ci_high"] + 1e-12).all()
    assert (table["p_adjusted"] >= table["p_value"] - 1e-12).all()
    changed = table[table["status"].isin(["grown", "shrunk"])]
    assert (changed["p_adjusted"] < 0.05).all()
    assert (table.loc[table["status"] == "unchanged", "p_adjusted"] >= 0.05).all()


def test_diff_aligns_a_run_made_without_previous(reports: dict[str, IssueReport]) -> None:
    aligned = diff_reports(reports["old"], reports["new"])
    realigned = diff_reports(reports["old"], reports["unaligned"])
    assert realigned.attrs["aligned"] == "here"
    columns = ["name", "status", "count_before", "count_after", "p_adjusted"]
    key = ["name", "count_before", "count_after"]
    pd.testing.assert_frame_equal(
        aligned[columns].sort_values(key).reset_index(drop=True),
        realigned[columns].sort_values(key).reset_index(drop=True),
    )


def test_dropped_and_doubled_planted_rows_show_in_the_diff(reports: dict[str, IssueReport]) -> None:
    data = generate("agents", 300, seed=0)
    old, new = reports["old"], reports["new"]
    planted = {row_id for row_id, keys in data.planted.items() if DROPPED in keys}
    table = diff_reports(old, new).set_index("issue_id")
    # The old issue holding most of the dropped rows loses most of its share or vanishes.
    members = old.assignments.astype({"row_id": str}).groupby("issue_id")["row_id"].agg(set)
    holder = max(members.index, key=lambda i: len(members[i] & planted))
    assert table.loc[holder, "change"] < 0
    # The doubled shortcoming's rows are more of the new run than of the old one.
    doubled = {row_id for row_id, keys in data.planted.items() if DOUBLED in keys}
    new_members = new.assignments.astype({"row_id": str}).groupby("issue_id")["row_id"].agg(set)
    gained = table.loc[[i for i in new_members.index if new_members[i] & {f"{r}-copy" for r in doubled}]]
    assert (gained["change"] > 0).any()


def test_edited_bundle_has_the_statuses_known_in_advance(
    reports: dict[str, IssueReport], edited_ids: tuple[str, str]
) -> None:
    gone, grown = edited_ids
    table = diff_reports(reports["old"], reports["edited"]).set_index("issue_id")
    assert table.attrs["aligned"] == "previous"
    assert table.loc[gone, "status"] == "vanished" and table.loc[gone, "share_after"] == 0
    assert table.loc[grown, "status"] == "grown" and table.loc[grown, "p_adjusted"] < 0.05
    assert table.loc[grown, "count_after"] > 2 * table.loc[grown, "count_before"]
    assert table["status"].iloc[0] == "grown"  # sorted: grown, new, shrunk, vanished, unchanged


# -- compare_systems ---------------------------------------------------------------------------------------
def test_compare_systems_is_the_one_implementation(reports: dict[str, IssueReport]) -> None:
    from misattribution.discovery.align import compare_systems as align_compare
    from misattribution.explore import Explorer

    report = reports["old"]
    table = compare_systems(report, "analyst", "writer")
    assert table["rows_a"].eq(50).all() and table["rows_b"].eq(50).all()
    explored = Explorer(report).compare_systems("analyst", "writer")
    pd.testing.assert_frame_equal(table, explored, check_like=True)
    legacy = align_compare(report, "analyst", "writer")
    assert legacy["flagged"].tolist() == table["significant"].tolist()
    for column in ("p_value", "ci_low", "ci_high"):
        np.testing.assert_allclose(legacy[column], table[column])
    with pytest.raises(ValueError, match="no rows of system 'analist'.*did you mean analyst"):
        compare_systems(report, "analist", "writer")


# -- check_report -------------------------------------------------------------------------------------------
def test_check_limits_and_markdown(reports: dict[str, IssueReport], edited_ids: tuple[str, str]) -> None:
    gone, grown = edited_ids
    old, edited = reports["old"], reports["edited"]
    name = edited.issue(grown).name
    share = edited.issue(grown).share
    result = check_report(edited, baseline=old, max_share={name.upper(): share - 0.01}, max_growth=2)
    assert not result.passed
    assert [(b.issue_id, b.rule) for b in result.breaches] == [(grown, "max-share"), (grown, "max-growth")]
    assert check_report(edited, baseline=old, max_share={grown: share}).passed  # at the limit is allowed
    markdown = result.markdown
    assert markdown.startswith("### misattribution check: ❌ 2 breaches")
    assert "**Top issues**" in markdown and "**Changes against the baseline**" in markdown
    assert f"`{grown}`" in markdown and "vanished" in markdown
    for row_id in result.top.loc[0, "examples"]:
        assert f"`{row_id}`" in markdown
    assert len(result.top) == 5 and result.top["count"].is_monotonic_decreasing
    # A vanished issue named in --max-share has share 0 now.
    assert check_report(edited, baseline=old, max_share={gone: 0.0}).passed
    with pytest.raises(ValueError, match="--max-growth compares with a baseline"):
        check_report(edited, max_growth=2)


def test_resolve_issue_by_id_or_name_and_close_matches(reports: dict[str, IssueReport]) -> None:
    report = reports["old"]
    issue = report.issues[0]
    assert resolve_issue([report], issue.id.upper()) == issue.id
    assert resolve_issue([report], f"  {issue.name.swapcase()} ") == issue.id
    with pytest.raises(ValueError, match=r"no issue .* close matches: .*" + issue.id[:10]):
        resolve_issue([report], issue.name[:-2] + "xx")


def test_resolve_issue_prefers_the_runs_names_then_the_baselines() -> None:
    from misattribution.discovery.report import Issue

    rows = pd.DataFrame({"row_id": ["r1"], "score": [1], "score_norm": [0.0], "failing": [True], "system": ["s"]})
    empty = pd.DataFrame(columns=["row_id", "issue_id", "evidence"])
    new = IssueReport(rows, [Issue("x", "Alpha"), Issue("y", "Beta")], empty)
    old = IssueReport(rows, [Issue("x", "Beta"), Issue("z", "Gamma")], empty)
    assert resolve_issue([new, old], "beta") == "y"  # the run's name, not the baseline's name of x
    assert resolve_issue([new, old], "ALPHA") == "x"
    assert resolve_issue([new, old], "gamma") == "z"  # known to the baseline only
    with pytest.raises(ValueError, match=r"no issue 'alp' in the report \(hint: close matches: 'Alpha' \(x\)\)"):
        resolve_issue([new, old], "alp")  # a short form of a name is suggested
    twice = IssueReport(rows, [Issue("x", "Alpha"), Issue("y", "alpha")], empty)
    with pytest.raises(ValueError, match="several issues have this name"):
        resolve_issue([twice], "Alpha")


# -- the CLI ----------------------------------------------------------------------------------------------
def test_cli_diff(bundles: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    markdown = tmp_path / "diff.md"
    code, out, err = run(capsys, "diff", bundles["old"], bundles["edited"], "--markdown", markdown)
    assert code == 0, err
    header = out.splitlines()[0]
    assert header.startswith(f"{bundles['old']} (300 rows) -> {bundles['edited']} (")
    assert "1 grown" in header and "1 vanished" in header
    assert "Holm-corrected" in out and "status" in out and f"markdown: {markdown}" in out
    text = markdown.read_text(encoding="utf-8")
    assert "| status | issue | before | after |" in text and "| grown |" in text and "| vanished |" in text
    code, out, _ = run(capsys, "diff", bundles["old"], bundles["new"], "--alpha", "0.01")
    assert code == 0 and "alpha 0.01" in out


def test_cli_compare(bundles: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(
        capsys, "compare", bundles["old"], "--systems", "analyst", "writer", "--markdown", tmp_path / "c.md"
    )
    assert code == 0, err
    assert out.startswith("analyst vs writer: ") and "significantly" in out
    assert "| issue | analyst | writer |" in (tmp_path / "c.md").read_text(encoding="utf-8")
    code, _, err = run(capsys, "compare", bundles["old"], "--systems", "analyst", "nobody")
    assert code == 2 and err.startswith("misattribution compare: error: no rows of system 'nobody'")


def test_cli_check_exit_codes(
    bundles: dict[str, Path], reports: dict[str, IssueReport], edited_ids: tuple[str, str],
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:  # fmt: skip
    gone, grown = edited_ids
    name = reports["edited"].issue(grown).name
    # No limit: the summary only, exit 0.
    code, out, _ = run(capsys, "check", bundles["old"])
    assert code == 0 and out.startswith("### misattribution check: ✅ passed") and "**Top issues**" in out
    # A breach of --max-growth: exit 1, the summary on stdout.
    code, out, _ = run(capsys, "check", bundles["edited"], "--baseline", bundles["old"], "--max-growth", "2")
    assert code == 1 and "❌ 1 breach" in out and "--max-growth" in out and f"`{grown}`" in out
    # --max-share by name, case-insensitive, summary to a file.
    summary = tmp_path / "check.md"
    code, out, _ = run(capsys, "check", bundles["edited"], "--max-share", f"{name.lower()}=0.05", "--markdown", summary)
    assert code == 1 and out.startswith("check: 1 breach(es)") and "--max-share" in summary.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "check", bundles["edited"], "--max-share", f"{grown}=90%")
    assert code == 0 and "No limit is broken." in out
    # An issue that vanished since the baseline has share 0; without the baseline it is unknown.
    code, out, _ = run(capsys, "check", bundles["edited"], "--baseline", bundles["old"], "--max-share", f"{gone}=0")
    assert code == 0
    code, _, err = run(capsys, "check", bundles["edited"], "--max-share", f"{gone}=0")
    assert code == 2 and f"no issue {gone!r} in the report" in err
    # The re-discovered run against its baseline: exit 1 exactly when some issue grew by more than 2 points.
    table = diff_reports(reports["old"], reports["new"])
    expected = int(((100 * table["change"] > 2) & (table["status"] != "vanished")).any())
    code, out, _ = run(capsys, "check", bundles["new"], "--baseline", bundles["old"], "--max-growth", "2")
    assert code == expected


@pytest.mark.parametrize(
    "argv, message",
    [
        (["diff", "{root}/missing", "{old}"], "{root}/missing: no such bundle"),
        (["diff", "{old}", "{root}"], "not an issue-report bundle (no meta.json)"),
        (["check", "{old}", "--max-share", "{near}=0.05"], "no issue '{near}' in the report (hint: close matches: '{name}'"),
        (["check", "{old}", "--max-share", "{name}"], "write ISSUE=SHARE"),
        (["check", "{old}", "--max-share", "{name}=abc"], "--max-share '{name}=abc': 'abc' is not a number"),
        (["check", "{old}", "--max-share", "{name}=1.5"], "a share lies between 0 and 1"),
        (["check", "{old}", "--max-growth", "2"], "--max-growth compares with a baseline"),
        (["check", "{old}", "--baseline", "{old}", "--max-growth", "-1"], "percentage points, 0 or more"),
        (["diff", "{old}", "{old}", "--alpha", "0"], "--alpha '0': give a number between 0 and 1"),
        (["check", "{old}", "--baseline", "{root}/nope"], "{root}/nope: no such baseline bundle"),
    ],
)  # fmt: skip
def test_cli_refuses_bad_input_with_one_line(
    bundles: dict[str, Path], reports: dict[str, IssueReport], capsys: pytest.CaptureFixture[str],
    argv: list[str], message: str,
) -> None:  # fmt: skip
    name = reports["old"].issues[0].name
    paths = {key: str(path) for key, path in bundles.items()} | {"name": name, "near": name[:-1] + "#"}
    code, out, err = run(capsys, *(a.format(**paths) for a in argv))
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"misattribution {argv[0]}: error: ") and message.format(**paths) in err, err


# -- a real third-party bundle ------------------------------------------------------------------------------
@pytest.mark.skipif(not CLEAR_GSM8K.is_dir(), reason="../shared/data/clear_gsm8k is not on this machine")
def test_diff_and_check_on_clear_gsm8k(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import ast

    old = discover(CLEAR_GSM8K, mode="clear", tree=False, progress=False)
    old.save(tmp_path / "old")
    frame = pd.read_parquet(CLEAR_GSM8K / "results.parquet")
    names = frame["recurring_issues_str"].map(lambda v: ast.literal_eval(v) if isinstance(v, str) else list(v))
    dropped = names.map(lambda n: any(x.startswith("Lack of clarity") for x in n))
    doubled = names.map(lambda n: any(x.startswith("Calculation errors") for x in n)) & ~dropped
    copies = frame[doubled].assign(question_id=lambda f: f["question_id"].astype(str) + "-copy")
    changed = tmp_path / "changed"
    changed.mkdir()
    pd.concat([frame[~dropped], copies], ignore_index=True).to_parquet(changed / "results.parquet")
    shutil.copy(CLEAR_GSM8K / "metadata.json", changed / "metadata.json")
    discover(changed, mode="clear", tree=False, progress=False, previous=old).save(tmp_path / "new")

    code, out, _ = run(capsys, "diff", tmp_path / "old", tmp_path / "new")
    assert code == 0
    assert any(line.startswith("grown      Calculation errors") for line in out.splitlines()), out
    assert any(line.startswith("vanished   Lack of clarity") for line in out.splitlines()), out
    code, out, _ = run(capsys, "check", tmp_path / "new", "--baseline", tmp_path / "old", "--max-growth", "2")
    assert code == 1 and "Calculation errors" in out.split("**Top issues**")[0]
    code, out, _ = run(capsys, "check", tmp_path / "new", "--baseline", tmp_path / "old", "--max-growth", "10")
    assert code == 0


def test_the_readme_commands_of_the_section_run(
    bundles: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The commands of the README's "Comparing runs and gating CI" section, on the planted bundles
    (runs/v1 = the first run, runs/v2 = the changed copy): diff and compare run as written; check runs
    with its --max-share limits on issues of this report."""
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Comparing runs and gating CI", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    commands = [shlex.split(line.split("  #")[0]) for line in block.splitlines() if line.startswith("misattribution")]
    assert [c[1] for c in commands] == ["diff", "compare", "check"]
    paths = {"runs/v1": str(bundles["old"]), "runs/v2": str(bundles["new"])}
    for command in commands:
        argv = [paths.get(a, a) for a in command[1:] if a not in ("[", "]")]
        argv = [a.replace("[", "").replace("]", "") for a in argv]
        argv = [str(tmp_path / a) if a.endswith(".md") else a for a in argv]
        if argv[0] == "check":  # the limits name issues of the README's run; check those of this one
            names = [i.name for i in IssueReport.load(bundles["new"]).issues[:2]]
            argv = argv[: argv.index("--max-share")] + ["--max-share", f"{names[0]}=0.05"]
            argv += ["--max-share", f"{names[1].lower()}=3%", "--max-growth", "2"]
        code, out, err = run(capsys, *argv)
        assert code in ((0, 1) if argv[0] == "check" else (0,)), err
        assert out


def test_a_new_issue_is_printed_without_an_old_name(reports: dict[str, IssueReport]) -> None:
    """A new issue has no old name: the table holds NaN there once it is a frame, which printed as
    "Some issue (was: nan)" on clear_gsm8k and a changed copy of it."""
    from misattribution.discovery.diff import format_diff

    table = diff_reports(reports["old"], reports["new"])
    assert (table["status"] == "new").any()
    text = format_diff(table)
    assert "(was: nan)" not in text and "(was: None)" not in text
    for line in table[table["status"] == "new"].itertuples():
        assert f"{line.name[:30]}" in text
