"""Editing the issues (issue 13, Build 1): rename, merge, split, park on a real discovery run of planted
data; the history through the bundle; the issue list file re-mapped by the static mode; the CLI and the
Space's edit functions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from misattribution.cli import main
from misattribution.discovery import discover, edits
from misattribution.discovery.modes.static import parse_issues
from misattribution.discovery.report import IssueReport
from misattribution.space_edit import apply_edit, history_markdown, issue_choices, parked_choices, save_edited
from misattribution.testing.planted import generate

pytest.importorskip("sentence_transformers")


# -- fixtures: one discovery run, and an edit plan a reader of its issues would make -----------------------
@pytest.fixture(scope="module")
def planted():
    return generate("agents", 300, seed=0)


@pytest.fixture(scope="module")
def report(planted):
    return discover(planted.frame, fast=True, score_range=planted.score_range, progress=False)


def rows_of(report: IssueReport, issue: str) -> set[str]:
    return set(report.assignments.loc[report.assignments["issue_id"] == issue, "row_id"].astype(str))


def planted_kinds(report: IssueReport, planted) -> dict[str, Counter]:
    """Issue id → the planted kinds (``shortcoming:<key>``, ``praise``, ...) of its evidence sentences."""
    kind = {(r, " ".join(t.split())): k for r, t, k in planted.sentences[["row_id", "text", "kind"]].values}
    found: dict[str, Counter] = {i.id: Counter() for i in report.issues}
    for row, issue, evidence in report.assignments[["row_id", "issue_id", "evidence"]].values:
        for line in edits._lines(evidence):
            found[issue][kind.get((row, " ".join(line.split())), "unknown")] += 1
    return found


def edit_plan(report: IssueReport, planted) -> list[tuple[str, dict]]:
    """Merge the issues made of one planted shortcoming, split the most mixed one, park those made of
    no shortcoming (praise, rationale), rename the largest."""
    kinds = planted_kinds(report, planted)
    majority = {i: c.most_common(1)[0][0] if c else "none" for i, c in kinds.items()}
    groups: dict[str, list[str]] = {}
    for issue in report.issues:
        groups.setdefault(majority[issue.id], []).append(issue.id)
    merges = [ids for key, ids in groups.items() if key.startswith("shortcoming:") and len(ids) > 1]
    parks = [i.id for i in report.issues if not majority[i.id].startswith("shortcoming:")]
    merged = {i for ids in merges for i in ids}
    mixed = [
        i.id
        for i in report.issues
        if i.id not in merged | set(parks) and len(kinds[i.id]) > 1 and kinds[i.id].most_common(2)[1][1] >= 3
    ]
    splittable = mixed or [i.id for i in report.issues if i.id not in merged | set(parks)]
    largest = next(i.id for i in report.issues if i.id not in merged | set(parks) | {splittable[0]})
    # a fixed noun phrase: a planted key ("ignores_instruction") would read as a clause and break the name rules
    plan = [("rename", {"issue": largest, "name": "Largest planted shortcoming"})]
    plan += [("merge", {"issues": ids}) for ids in merges]
    plan += [("split", {"issue": splittable[0]})]
    plan += [("park", {"issue": i}) for i in parks]
    return plan


@pytest.fixture(scope="module")
def edited(report, planted):
    plan = edit_plan(report, planted)
    assert {op for op, _ in plan} == {"rename", "merge", "split", "park"}, plan
    result = report
    for op, kwargs in plan:
        result = getattr(edits, op)(result, **kwargs)
    return result


# -- each operation --------------------------------------------------------------------------------------
def test_rename_keeps_id_rows_statistics_and_parent(report):
    target = report.issues[2]
    renamed = edits.rename(report, target.id, "  Wrong   tool for the request ")
    new = renamed.issue(target.id)
    assert new.name == "Wrong tool for the request"
    assert (new.count, new.share, new.impact, new.parent) == (target.count, target.share, target.impact, target.parent)
    assert rows_of(renamed, target.id) == rows_of(report, target.id)
    assert report.issue(target.id).name == target.name  # the input report is unchanged
    entry = renamed.meta["edits"][-1]
    assert (entry["op"], entry["before"], entry["after"]) == ("rename", [target.id], [target.id])
    assert entry["args"]["old_name"] == target.name and entry["time"].endswith("+00:00")
    assert "edits" not in report.meta


def test_merge_keeps_the_largest_id_and_recomputes_statistics(report):
    a, b = report.issues[3], report.issues[5]
    large, small = (a, b) if a.count >= b.count else (b, a)  # a tie goes to the higher-ranked one
    ids = [small.id, large.id]
    merged = edits.merge(report, ids)
    union = rows_of(report, small.id) | rows_of(report, large.id)
    new = merged.issue(large.id)
    assert new.name == large.name and small.id not in {i.id for i in merged.issues}
    assert rows_of(merged, large.id) == union and new.count == len(union)
    assert new.share == pytest.approx(len(union) / len(report.rows))
    assert len(merged.issues) == len(report.issues) - 1
    assert merged.tree(n_resamples=0).query("level == 'issue'")["count"].sum() == sum(i.count for i in merged.issues)
    # a row in both keeps the sentences of both as its evidence
    both = rows_of(report, small.id) & rows_of(report, large.id)
    for row in both:
        evidence = merged.assignments.query(f"row_id == {row!r} and issue_id == {large.id!r}")["evidence"].iloc[0]
        assert len(edits._lines(evidence)) >= 2
    named = edits.merge(report, ids, name="One problem, two phrasings")
    assert named.issue(large.id).name == "One problem, two phrasings"
    assert named.meta["edits"][-1]["before"] == ids and named.meta["edits"][-1]["after"] == [large.id]


def test_split_by_subcluster_gives_two_new_ids_covering_the_rows(report):
    target = report.issues[0]
    result = edits.split(report, target.id)
    entry = result.meta["edits"][-1]
    assert entry["before"] == [target.id] and len(entry["after"]) == 2
    assert target.id not in {i.id for i in result.issues} and target.id not in entry["after"]
    parts = [result.issue(i) for i in entry["after"]]
    assert parts[0].name != parts[1].name and all(p.count > 0 for p in parts)
    assert rows_of(result, parts[0].id) | rows_of(result, parts[1].id) == rows_of(report, target.id)
    nodes = {n.id for n in result.nodes}
    assert all(p.parent in nodes for p in parts)
    # the same split twice: the same parts (seeded 2-means)
    again = edits.split(report, target.id)
    assert again.meta["edits"][-1]["after"] == entry["after"]


def test_split_by_selected_rows(report):
    target = report.issues[1]
    members = sorted(rows_of(report, target.id))
    chosen = members[:4]
    result = edits.split(report, target.id, chosen, names=["Selected part", "The rest"])
    first, second = (result.issue(i) for i in result.meta["edits"][-1]["after"])
    assert (first.name, second.name) == ("Selected part", "The rest")
    assert rows_of(result, first.id) == set(chosen) and rows_of(result, second.id) == set(members[4:])
    assert first.count == 4 and second.count == len(members) - 4
    with pytest.raises(edits.EditError, match="rows not in issue"):
        edits.split(report, target.id, ["no-such-row"])
    with pytest.raises(edits.EditError, match="nothing would be left"):
        edits.split(report, target.id, members)


def test_park_hides_the_issue_and_unpark_restores_it(report):
    target = report.issues[1]
    parked = edits.park(report, target.id)
    assert target.id not in {i.id for i in parked.issues}
    assert target.id not in set(parked.assignments["issue_id"])
    assert target.id not in set(parked.tree(n_resamples=0)["id"])
    assert [i.id for i in edits.parked_issues(parked)] == [target.id]
    others = {i.id: (i.count, i.share) for i in report.issues if i.id != target.id}
    assert {i.id: (i.count, i.share) for i in parked.issues} == others  # other issues unchanged
    restored = edits.unpark(parked, target.id)
    back = restored.issue(target.id)
    assert (back.name, back.count, back.share, back.parent) == (target.name, target.count, target.share, target.parent)
    assert rows_of(restored, target.id) == rows_of(report, target.id)
    assert edits.parked_issues(restored) == [] and [e["op"] for e in restored.meta["edits"]] == ["park", "unpark"]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: edits.rename(r, "no-such-issue", "x"), "no issue 'no-such-issue'"),
        (lambda r: edits.rename(r, r.issues[0].id[:-1], "x"), "did you mean"),
        (lambda r: edits.rename(r, r.issues[0].id, r.issues[1].name.upper()), "already named"),
        (lambda r: edits.rename(r, r.issues[0].id, "  "), "cannot be empty"),
        (lambda r: edits.rename(r, r.issues[0].id, "two\nlines"), "one line"),
        (lambda r: edits.merge(r, [r.issues[0].id, r.issues[0].id]), "two or more"),
        (lambda r: edits.merge(r, [r.issues[0].id, "nope"]), "no issue 'nope'"),
        (lambda r: edits.unpark(r, r.issues[0].id), "no parked issue"),
        (lambda r: edits.rename(edits.park(r, r.issues[0].id), r.issues[0].id, "x"), "is parked"),
        (lambda r: edits.split(r, r.issues[0].id, by="keywords"), "unknown"),
    ],
)
def test_refused_edits_say_why(report, call, message):
    with pytest.raises(edits.EditError, match=message):
        call(report)


# -- history, the issue list and the round trip ------------------------------------------------------------
def test_history_and_parked_issues_round_trip_through_the_bundle(edited, tmp_path):
    loaded = IssueReport.load(edited.save(tmp_path / "bundle"))
    assert loaded.meta["edits"] == edited.meta["edits"]
    assert loaded.meta["parked"] == edited.meta["parked"]
    assert [(i.id, i.name, i.parent, i.count) for i in loaded.issues] == [
        (i.id, i.name, i.parent, i.count) for i in edited.issues
    ]
    ops = [e["op"] for e in loaded.meta["edits"]]
    assert ops[0] == "rename" and {"merge", "split", "park"} <= set(ops)
    history = edits.edit_history(loaded)
    assert list(history["op"]) == ops and history["before"].str.len().gt(0).all()
    parked_id = next(iter(loaded.meta["parked"]))
    assert edits.unpark(loaded, parked_id).issue(parked_id).count > 0  # unparked after a reload


def test_issue_list_file_is_read_by_the_static_mode(edited, tmp_path):
    path = edits.save_issue_list(edited, tmp_path / "issues.txt")
    given = parse_issues(Path(path))
    visible = [g for g in given if not g.parked]
    assert [g.name for g in visible] == [i.name for i in edited.issues]
    assert [g.id for g in visible] == [i.id for i in edited.issues]
    assert [g.parent for g in visible] == [i.parent for i in edited.issues]
    assert [g.name for g in given if g.parked] == [i.name for i in edits.parked_issues(edited)] != []
    assert all(1 <= len(g.examples) <= edits.MAX_EXAMPLES for g in given)


def test_a_name_with_a_colon_survives_the_issue_list(report, tmp_path):
    renamed = edits.rename(report, report.issues[0].id, "Tool call: wrong units")
    given = parse_issues(Path(edits.save_issue_list(renamed, tmp_path / "issues.txt")))
    assert given[[g.id for g in given].index(report.issues[0].id)].name == "Tool call: wrong units"


def test_round_trip_edit_save_rediscover_gives_the_same_tree(edited, planted, tmp_path):
    """edit -> save -> re-discover (static mode, same rows) -> the same names, ids and parents, row sets close.

    Measured (agents, 300 rows, seed 0): first 12 issues, then 1 rename, 2 merges, 1 split, 3 parks -> 7
    issues, per-issue Jaccard 0.76-1.00 (mean 0.91); after the criticality rules and the passing-rows
    contrast of 2026-12-07, 9 issues, Jaccard 0.79-1.00 (mean 0.92), 9/9 names, ids and parents (the tree
    keeps the parent the file records). Where an issue stays under 0.8, most rows the re-map adds carry its
    planted shortcoming (then 9 of 9, now 3 of 5): recall the clustering run had missed, not drift. With
    ``row_reach`` on by default in both modes (session 7): 7 issues, Jaccard 0.75-1.00 (mean 0.90).
    """
    path = edits.save_issue_list(edited, tmp_path / "issues.txt")
    again = discover(
        planted.frame,
        mode="static",
        mode_options={"static": {"issues_text": Path(path)}},
        fast=True,
        score_range=planted.score_range,
        progress=False,
    )
    assert sorted(i.name for i in again.issues) == sorted(i.name for i in edited.issues)
    assert {i.id for i in again.issues} == {i.id for i in edited.issues}  # ids kept through the file
    jaccard = {}
    for issue in edited.issues:
        mine, theirs = rows_of(edited, issue.id), rows_of(again, issue.id)
        jaccard[issue.name] = len(mine & theirs) / len(mine | theirs)
    parents = {i.name: i.parent for i in again.issues}
    same_parent = sum(parents[i.name] == i.parent for i in edited.issues)
    print(
        f"\nround trip: {len(edited.issues)} issues, Jaccard min {min(jaccard.values()):.2f}, "
        f"mean {sum(jaccard.values()) / len(jaccard):.2f}; same parent {same_parent}/{len(edited.issues)}"
    )
    for name, value in sorted(jaccard.items(), key=lambda kv: kv[1]):
        print(f"  {value:.2f}  {name}")
    assert sum(jaccard.values()) / len(jaccard) >= 0.85 and min(jaccard.values()) >= 0.7, jaccard
    assert same_parent == len(edited.issues), [(i.name, i.parent, parents[i.name]) for i in edited.issues]
    # Where the re-map adds rows, they carry the issue's planted shortcomings (recall, not drift): the two most
    # common of its evidence (a cluster may hold two near neighbours: a wrong tool and a tool's wrong units).
    truth = planted.truth()
    kinds = planted_kinds(edited, planted)
    for issue in edited.issues:
        if jaccard[issue.name] < 0.8:
            added = rows_of(again, issue.id) - rows_of(edited, issue.id)
            keys = [kind.partition(":")[2] for kind, _ in kinds[issue.id].most_common(2)]
            carried = set().union(*(truth.get(k, set()) for k in keys))
            assert len(added & carried) > 0.5 * len(added), (issue.name, keys)
            before = len(rows_of(edited, issue.id) & carried) / len(rows_of(edited, issue.id) | carried)
            after = len(rows_of(again, issue.id) & carried) / len(rows_of(again, issue.id) | carried)
            print(f"  {issue.name}: Jaccard with the planted rows {before:.2f} edited -> {after:.2f} re-mapped")
            assert after > before


# -- the CLI -----------------------------------------------------------------------------------------------
def test_cli_edit_writes_the_bundle_and_the_issue_list(report, tmp_path, capsys):
    bundle = report.save(tmp_path / "bundle")
    first, second, third = (i.id for i in report.issues[:3])
    out, issues_file = tmp_path / "edited", tmp_path / "issues.txt"
    code = main(
        [
            "edit", str(bundle), "--rename", f"{first}=Numbers without a source", "--merge", f"{second},{third}=Figures reported without their source",
            "--park", first, "--unpark", first, "-o", str(out), "--issues-file", str(issues_file),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"renamed {report.issues[0].name!r} ({report.issues[0].count} rows) -> 'Numbers without a source'" in printed
    assert "merged" in printed and "parked" in printed and "unparked" in printed
    loaded = IssueReport.load(out)
    assert [e["op"] for e in loaded.meta["edits"]] == ["rename", "merge", "park", "unpark"]
    assert loaded.issue(first).name == "Numbers without a source"
    kept = max(report.issues[1:3], key=lambda i: i.count).id
    assert loaded.issue(kept).name == "Figures reported without their source"
    assert "Numbers without a source: " in issues_file.read_text()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--rename", "no-such-id=New name"], "no issue 'no-such-id'"),
        (["--rename", "missing-equals"], "expected ID=NAME"),
        (["--merge", "only-one"], "two or more ids"),
        (["--park", "a,b"], "expected one issue id"),
        ([], "no edit given"),
    ],
)
def test_cli_edit_refuses_bad_input_with_one_line_and_writes_nothing(report, tmp_path, capsys, flags, message):
    bundle = report.save(tmp_path / "bundle")
    out, issues_file = tmp_path / "edited", tmp_path / "issues.txt"
    # a good edit first: nothing is written when a later one is refused
    good = ["--rename", f"{report.issues[0].id}=Renamed first"]
    code = main(["edit", str(bundle), *good, *flags, "-o", str(out), "--issues-file", str(issues_file)])
    error = capsys.readouterr().err.strip()
    if flags:
        assert code == 2 and len(error.splitlines()) == 1 and message in error, error
        assert error.startswith("misattribution edit: error: ")
    else:
        assert code == 0
        return
    assert not out.exists() and not issues_file.exists()


def test_cli_edit_without_edits_is_refused(report, tmp_path, capsys):
    bundle = report.save(tmp_path / "bundle")
    code = main(["edit", str(bundle), "-o", str(tmp_path / "out")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "no edit given" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out").exists()


# -- the Space's edit functions ---------------------------------------------------------------------------
def test_space_edit_functions(report, tmp_path):
    assert issue_choices(report)[0] == (f"{report.issues[0].name} ({report.issues[0].count} rows)", report.issues[0].id)
    assert history_markdown(report) == "_No edits yet._"
    first, second, third = (i.id for i in report.issues[:3])
    renamed, message = apply_edit(report, "Rename", [first], name="Numbers without a source")
    assert (
        message.startswith(f"Renamed '{report.issues[0].name}' to 'Numbers without a source'") and "id kept" in message
    )
    same, message = apply_edit(renamed, "merge", [second], name="")
    assert same is renamed and message == "Not done: choose two or more issues to merge."
    merged, message = apply_edit(renamed, "merge", [second, third])
    assert message.startswith("Merged") and "kept" in message
    members = sorted(rows_of(merged, first))
    split, message = apply_edit(
        merged,
        "Split off the selected rows",
        first,
        rows=", ".join(members[:3]),
        name="Stale sources behind the figures | Figures without a citation",
    )
    assert message.startswith("Split") and "'Stale sources behind the figures' (3 rows)" in message
    parked, message = apply_edit(split, "park", split.issues[0].id)
    assert message.startswith("Parked") and parked_choices(parked) == [
        (f"{split.issues[0].name} (parked)", split.issues[0].id)
    ]
    same, message = apply_edit(parked, "rename", ["no-such-issue"], name="x")
    assert same is parked and message.startswith("Not done: no issue 'no-such-issue'")
    assert apply_edit(None, "park", "x") == (None, "Not done: load a report first.")
    history = history_markdown(parked)
    assert history.count("\n") == 3 and "**merge**" in history and "→" in history
    bundle, issue_list = save_edited(parked, tmp_path)
    assert IssueReport.load(bundle).meta["edits"] == parked.meta["edits"]
    assert len([g for g in parse_issues(Path(issue_list)) if not g.parked]) == len(parked.issues)


def test_edited_report_tree_holds_only_used_nodes(edited):
    tree = edited.tree(n_resamples=0)
    categories = tree[tree["level"] != "issue"]
    assert (categories["n_issues"] > 0).all()
    assert set(tree.loc[tree["level"] == "issue", "id"]) == {i.id for i in edited.issues}
    assert pd.Series([i.parent for i in edited.issues]).isin(set(categories["id"])).all()


def test_readme_section_as_written(report, planted, tmp_path, monkeypatch, capsys):
    """The README's "Editing the issues" commands and Python block, with this run's ids for the README's."""
    import re
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Editing the issues", 1)[1].split("\n## ", 1)[0]
    bash, python = re.findall(r"```(?:bash|python)\n(.*?)```", section, flags=re.S)[:2]
    monkeypatch.chdir(tmp_path)
    report.save("bundle")
    planted.frame.to_json("new_rows.jsonl", orient="records", lines=True)
    readme_ids = list(dict.fromkeys(re.findall(r"[a-z][a-z0-9-]*-[0-9a-f]{8}\b", bash)))
    spare = iter(i.id for i in report.issues if i.id not in readme_ids)
    ids = {old: old if any(i.id == old for i in report.issues) else next(spare) for old in readme_ids}
    for old, new in ids.items():
        bash = bash.replace(old, new)
    for command in bash.replace("\\\n", " ").strip().splitlines():
        argv = shlex.split(command.split("#")[0])
        assert argv[0] == "misattribution"
        if argv[1] == "discover":
            argv += ["--score-range", "1", "5"]
        assert main(argv[1:]) == 0, capsys.readouterr()
    edited = IssueReport.load("edited")
    assert [e["op"] for e in edited.meta["edits"]] == ["rename", "merge", "split", "park"]
    again = IssueReport.load("next")
    assert {i.name for i in again.issues} == {i.name for i in edited.issues}
    first, second, third, fourth, fifth = (i.id for i in report.issues[:5])
    namespace = {"report": report, "issue_id": first, "a": second, "b": third, "c": fourth, "d": fifth}
    members = sorted(rows_of(report, first))
    exec(compile(python.replace('["r12", "r40"]', repr(members[:2])), "README.md", "exec"), namespace)
    assert (tmp_path / "issues.txt").is_file() and len(namespace["report"].meta["edits"]) == 5
