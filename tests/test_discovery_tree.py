"""The issue tree, the input's failing threshold, and issue identities across runs.

Real discovery (all-MiniLM-L6-v2 from its PyPI package, offline) on the small planted table of
``planted_small``.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from planted_small import planted_rows  # noqa: E402

from misattribution.cli import main  # noqa: E402
from misattribution.discovery import IssueReport, discover, load_judged  # noqa: E402
from misattribution.discovery.pipeline import format_issue_table  # noqa: E402
from misattribution.discovery.tree import UNATTRIBUTED, category_node_id  # noqa: E402

# Which secondary category of the default taxonomy (attridata-v1) each planted kind is labelled with,
# as a judge would label them.
LABELS = {
    "units": "missing_answers",
    "arithmetic": "process_error",
    "misread": "irrelevance",
    "verbose": "noisy",
    "invented": "hallucination",
}

OWN_TAXONOMY = """
name: my-taxonomy
version: "1"
description: A user's own two-level taxonomy.
scale: {min: 0, max: 3, error_below: 3, levels: [{value: 3, name_en: Good, name_zh: 好}, {value: 2, name_en: Minor, name_zh: 小},
        {value: 1, name_en: Major, name_zh: 大}, {value: 0, name_en: Bad, name_zh: 差}]}
categories:
  - id: maths
    name_en: Maths
    name_zh: 数学
    definition: Problems with the numbers.
    children:
      - id: arithmetic_slips
        name_en: Arithmetic slips
        name_zh: 算错
        definition: A calculation, addition, subtraction or multiplication step gives a wrong number.
      - id: unit_omissions
        name_en: Missing units
        name_zh: 缺单位
        definition: The final answer is a bare number without its unit of measurement.
  - id: style
    name_en: Style
    name_zh: 风格
    definition: Problems with how the answer is written.
    children:
      - id: verbosity
        name_en: Verbosity
        name_zh: 冗长
        definition: The answer is too long, wordy or repetitive.
"""


def _truth_of(report: IssueReport, truth: dict[str, set[str]]) -> dict[str, str]:
    """Each issue's planted kind: the kind whose rows overlap its rows the most."""
    rows = report.assignments.groupby("issue_id")["row_id"].agg(set)
    found = {}
    for issue in report.issues:
        mine = rows.get(issue.id, set())
        found[issue.id] = max(truth, key=lambda kind: len(mine & truth[kind]) / max(1, len(mine | truth[kind])))
    return found


@pytest.fixture(scope="module")
def planted():
    return planted_rows()


@pytest.fixture(scope="module")
def labelled_report(planted) -> IssueReport:
    frame, truth = planted
    frame = frame.copy()
    frame["misattribution"] = [
        [LABELS[kind] for kind in truth if row_id in truth[kind]] for row_id in frame["id"].astype(str)
    ]
    return discover(frame, fast=True, seed=0, progress=False, max_issues=10)


def test_leaves_sit_under_the_judges_categories(planted, labelled_report):
    _, truth = planted
    kinds = _truth_of(labelled_report, truth)
    for issue in labelled_report.issues:
        assert issue.parent == category_node_id(LABELS[kinds[issue.id]]), issue.name
        assert labelled_report.meta["tree"]["leaves"][issue.id]["method"] == "judge labels"
    levels = {node.id: node.level for node in labelled_report.nodes}
    assert levels[category_node_id("reasoning_capability")] == "primary"
    assert levels[category_node_id("process_error")] == "secondary"
    assert UNATTRIBUTED not in levels


def test_a_leaf_whose_rows_share_only_a_primary_category_sits_under_it(planted):
    """Arithmetic rows labelled a third each typos, truncation, refusal_to_answer: no secondary category
    reaches 40% of them, their primary category (response_quality) holds them all."""
    frame, truth = planted
    frame = frame.copy()
    labels = []
    for k, row_id in enumerate(frame["id"].astype(str)):
        found = [LABELS[kind] for kind in truth if row_id in truth[kind] and kind != "arithmetic"]
        if row_id in truth["arithmetic"]:
            found.append(["typos", "truncation", "refusal_to_answer"][k % 3])
        labels.append(found)
    frame["misattribution"] = labels
    report = discover(frame, fast=True, seed=0, progress=False, max_issues=10)
    kinds = _truth_of(report, truth)
    (arithmetic,) = [i for i in report.issues if kinds[i.id] == "arithmetic"]
    assert report.meta["tree"]["leaves"][arithmetic.id]["method"] == "judge labels (primary)"
    assert arithmetic.parent == category_node_id("response_quality")
    tree = report.tree(n_resamples=0).set_index("id")
    assert tree.loc[arithmetic.id, "depth"] == 1 and tree.loc[arithmetic.parent, "level"] == "primary"
    order = list(tree.index)
    assert order.index(arithmetic.parent) < order.index(arithmetic.id)
    assert set(report.node_rows(arithmetic.parent)) >= set(report.node_rows(arithmetic.id))
    # the Space shows it under its primary category (it was hidden there: "1 issue" and nothing to unfold)
    from misattribution.explore import Explorer
    from misattribution.space_views import tree_html

    explorer = Explorer(report)
    table = explorer.tree_table()
    assert table.set_index("id").loc[arithmetic.id, "parent"] == arithmetic.parent
    assert arithmetic.name in tree_html(table)


def test_every_node_carries_statistics_of_the_rows_under_it(labelled_report):
    tree = labelled_report.tree(n_resamples=200).set_index("id")
    rows = labelled_report.rows.set_index("row_id")
    for node in labelled_report.nodes:
        under = labelled_report.node_rows(node.id)
        leaves = [i for i in labelled_report.issues if i.parent == node.id]
        if node.level == "secondary":
            union = set().union(*(labelled_report.node_rows(i.id) for i in leaves))
            assert set(under) == union
        line = tree.loc[node.id]
        assert line["count"] == len(under) and line["share"] == pytest.approx(len(under) / len(rows))
        assert line["mean_score"] == pytest.approx(rows.loc[under, "score_norm"].mean())
        assert line["impact_ci_low"] <= line["impact"] <= line["impact_ci_high"]
        failing = rows["failing"].sum()
        assert line["failing_share"] == pytest.approx(rows.loc[under, "failing"].sum() / failing)
    # depth first: a primary, its secondaries, each followed by its issues
    order = tree.reset_index()
    for position, line in order.iterrows():
        if line["parent"] is not None and isinstance(line["parent"], str):
            assert line["parent"] in set(order["id"][:position])
    per_system = labelled_report.tree_per_system()
    assert set(per_system["system"]) == {"model-a", "model-b"}
    merged = per_system.groupby("id")["count"].sum()
    assert (merged.reindex(tree.index) == tree["count"]).all()


def test_tree_round_trips_through_the_bundle(labelled_report, tmp_path):
    folder = labelled_report.save(tmp_path / "bundle")
    loaded = IssueReport.load(folder)
    assert [n.to_dict() for n in loaded.nodes] == [n.to_dict() for n in labelled_report.nodes]
    assert [(i.id, i.parent) for i in loaded.issues] == [(i.id, i.parent) for i in labelled_report.issues]
    assert loaded.meta["tree"] == json.loads(json.dumps(labelled_report.meta["tree"]))
    pd.testing.assert_frame_equal(loaded.tree(n_resamples=50), labelled_report.tree(n_resamples=50))
    assert len(pd.read_parquet(folder / "tree.parquet")) == len(labelled_report.tree(n_resamples=0))


def test_a_users_own_taxonomy_gives_its_own_tree_from_the_feedback(planted, tmp_path):
    frame, truth = planted
    path = tmp_path / "mine.yaml"
    path.write_text(OWN_TAXONOMY, encoding="utf-8")
    report = discover(frame, fast=True, seed=0, progress=False, max_issues=10, taxonomy=str(path))
    assert report.meta["tree"]["taxonomy"] == "my-taxonomy"
    kinds = _truth_of(report, truth)
    expected = {"arithmetic": "arithmetic_slips", "units": "unit_omissions", "verbose": "verbosity"}
    parents = {kinds[i.id]: i.parent for i in report.issues}
    for kind, category in expected.items():
        assert parents[kind] == category_node_id(category), (kind, parents)
    # invented facts and misreadings have no category in this taxonomy
    assert parents["invented"] == UNATTRIBUTED and parents["misread"] == UNATTRIBUTED
    assert {n.id for n in report.nodes} >= {category_node_id("maths"), category_node_id("style"), UNATTRIBUTED}


def test_cli_prints_the_tree_indented(planted, tmp_path, capsys):
    frame, _ = planted
    frame = frame.copy()
    source = tmp_path / "judged.csv"
    frame.to_csv(source, index=False)
    code = main(["discover", str(source), "-o", str(tmp_path / "bundle"), "--fast", "--quiet", "--seed", "0"])
    assert code == 0
    out = capsys.readouterr().out
    report = IssueReport.load(tmp_path / "bundle")
    lines = out.splitlines()
    header = next(k for k, line in enumerate(lines) if line.startswith("issue tree"))
    for node in report.nodes:
        line = next(line for line in lines[header:] if node.name in line or node.name.upper() in line)
        depth = (len(line) - len(line.lstrip(" "))) // 2
        assert depth == (0 if node.level in ("primary", "unattributed") else 1)
    levels = {node.id: node.level for node in report.nodes}
    for issue in report.issues:
        line = next(line for line in lines[header:] if issue.name[:40] in line)
        assert (len(line) - len(line.lstrip(" "))) // 2 == (2 if levels[issue.parent] == "secondary" else 1)
    assert "failing (normalised score below 1" in out


# -- the input's threshold --------------------------------------------------------------------------------
def _clear_bundle(folder, threshold):
    folder.mkdir()
    scores = [0.2, 0.5, 0.85, 0.9, 0.95, 1.0]
    frame = pd.DataFrame(
        {
            "question_id": [f"q{i}" for i in range(len(scores))],
            "model_input": ["What is 2 + 2?"] * len(scores),
            "response": ["4"] * len(scores),
            "score": scores,
            "evaluation_text": ["The final answer is wrong because of an addition error."] * len(scores),
            "evaluation_summary": ["Addition error."] * len(scores),
            "recurring_issues_str": ["[]"] * len(scores),
        }
    )
    frame.to_parquet(folder / "results.parquet", index=False)
    meta = {"run_name": "t", "question_column": "question"}
    if threshold is not None:
        meta["high_score_threshold"] = threshold
    (folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def test_clears_own_threshold_decides_the_failing_rows(tmp_path):
    rows = load_judged(_clear_bundle(tmp_path / "b", 0.91))
    assert rows["failing"].tolist() == [True, True, True, True, False, False]
    assert rows.attrs["fail_below"] == pytest.approx(0.91)
    assert rows.attrs["fail_below_source"] == "CLEAR's high_score_threshold"
    overridden = load_judged(tmp_path / "b", fail_below=0.6)
    assert overridden["failing"].tolist() == [True, True, False, False, False, False]
    assert overridden.attrs["fail_below_source"] == "fail_below given"
    plain = load_judged(_clear_bundle(tmp_path / "c", None))
    assert plain["failing"].tolist() == [True] * 5 + [False]
    assert plain.attrs["fail_below_source"] == "below the top of the scale"


def test_a_bad_threshold_is_refused_naming_the_file(tmp_path):
    from misattribution.io.tables import InputError

    with pytest.raises(InputError, match="high_score_threshold"):
        load_judged(_clear_bundle(tmp_path / "b", "high"))
    with pytest.raises(ValueError, match="fail_below"):
        load_judged(_clear_bundle(tmp_path / "c", None), fail_below=3)


def test_the_report_prints_the_threshold_it_used(tmp_path):
    report = discover(_clear_bundle(tmp_path / "b", 0.91), progress=False, tree=False)
    head = format_issue_table(report).splitlines()[0]
    assert "6 rows, 4 failing (normalised score below 0.91" in head and "CLEAR's high_score_threshold" in head


# -- CLEAR's agentic result: one bundle per agent ----------------------------------------------------------
def _agent_zip(agent: str, scores: list[float], threshold: float | None = 0.91) -> bytes:
    """One agent's CLEAR bundle (a zip of results.parquet and metadata.json), as CLEAR's agentic pipeline
    writes it; the feedback is ours."""
    import io
    import zipfile

    frame = pd.DataFrame(
        {
            "question_id": [f"tr-{i}_{agent}" for i in range(len(scores))],
            "model_input": [f"user: step {i}" for i in range(len(scores))],
            "agent_name": [agent] * len(scores),
            "response": ["{}"] * len(scores),
            "score": scores,
            "evaluation_text": [f"The {agent} step skips the required tool call."] * len(scores),
            "evaluation_summary": ["Skipped tool call."] * len(scores),
            "recurring_issues_str": ["[]"] * len(scores),
        }
    )
    table = io.BytesIO()
    frame.to_parquet(table, index=False)
    meta = {"qid_column": "question_id", "agent_mode": True}
    if threshold is not None:
        meta["high_score_threshold"] = threshold
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("results.parquet", table.getvalue())
        archive.writestr("metadata.json", json.dumps(meta))
    return out.getvalue()


def _unified_zip(path, agents: dict[str, bytes]):
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for agent, data in agents.items():
            archive.writestr(f"agent_results/{agent}.zip", data)
        archive.writestr("metadata.json", json.dumps({"type": "unified_results"}))
        # the full-trajectory analysis CLEAR packs beside the agents: whole trajectories, not steps
        archive.writestr("full_traj_results/clear_results/analysis_results_x.csv", "question_id,score\nt1,0.5\n")
    return path


def test_a_clear_agentic_result_is_read_agent_by_agent_as_systems(tmp_path):
    """CLEAR's unified_ui_results.zip holds agent_results/<agent>.zip: every agent's steps are rows of the
    system named after the agent (never pooled blind), under the agents' own threshold; the full-trajectory
    table beside them is not read. The same from the extracted folder."""
    path = _unified_zip(
        tmp_path / "unified_ui_results.zip",
        {"planner": _agent_zip("planner", [0.2, 0.95, 0.5]), "writer": _agent_zip("writer", [0.9, 1.0])},
    )
    rows = load_judged(path)
    assert rows["system"].tolist() == ["planner"] * 3 + ["writer"] * 2
    assert rows["failing"].tolist() == [True, False, True, True, False]
    assert rows.attrs["fail_below"] == pytest.approx(0.91)
    assert rows["row_id"].is_unique and rows["row_id"].iloc[0] == "tr-0_planner"
    folder = tmp_path / "extracted" / "agent_results"
    folder.mkdir(parents=True)
    (folder / "planner.zip").write_bytes(_agent_zip("planner", [0.2, 0.95, 0.5]))
    (folder / "writer.zip").write_bytes(_agent_zip("writer", [0.9, 1.0]))
    for source in (tmp_path / "extracted", folder):
        again = load_judged(source)
        assert again["system"].tolist() == rows["system"].tolist()
        assert again["failing"].tolist() == rows["failing"].tolist()
    report = discover(path, progress=False, tree=False, mode="rules")
    assert set(report.rows["system"]) == {"planner", "writer"}


def test_the_space_reads_the_agentic_result_as_discover_does(tmp_path):
    """The Space's upload of the same unified zip: the agents are its systems, rows fail below CLEAR's
    threshold (0.91, as in `discover`; the Space counted every score below 1 before), and CLEAR's issues
    are the report's issues."""
    from misattribution.uploads import UploadError, load_upload

    path = _unified_zip(
        tmp_path / "unified_ui_results.zip",
        {"planner": _agent_zip("planner", [0.2, 0.95, 0.5]), "writer": _agent_zip("writer", [0.9, 1.0])},
    )
    loaded = load_upload(path)
    rows = loaded.report.rows
    assert loaded.kind == "clear"
    assert rows["system"].tolist() == ["planner"] * 3 + ["writer"] * 2
    assert rows["failing"].tolist() == load_judged(path)["failing"].tolist() == [True, False, True, True, False]
    assert any("2 agents" in note for note in loaded.notes) and any("0.91" in note for note in loaded.notes)
    disagree = _unified_zip(
        tmp_path / "u.zip", {"planner": _agent_zip("planner", [0.2], 0.91), "writer": _agent_zip("writer", [0.5], 0.8)}
    )
    with pytest.raises(UploadError, match=r"u\.zip: .*different high_score_threshold"):
        load_upload(disagree)


def test_agents_that_disagree_on_the_threshold_are_refused_naming_them(tmp_path):
    from misattribution.io.tables import InputError

    path = _unified_zip(
        tmp_path / "u.zip",
        {"planner": _agent_zip("planner", [0.2], 0.91), "writer": _agent_zip("writer", [0.5], 0.8)},
    )
    with pytest.raises(InputError, match=r"u\.zip: .*planner: 0\.91, writer: 0\.8"):
        load_judged(path)
    assert load_judged(path, fail_below=0.7)["failing"].tolist() == [True, True]


def test_an_agentic_step_folder_and_a_pooled_table_keep_agents_apart(tmp_path):
    """An agent's step folder (analysis_results_*.csv beside config_*.json, whose success_threshold is
    CLEAR's threshold) and a table of every agent's rows with an agent_name column."""
    step = tmp_path / "diagnose"
    step.mkdir()
    frame = pd.DataFrame(
        {
            "id": ["s1", "s2", "s3"],
            "agent_name": ["diagnose", "diagnose", "classify"],
            "model_input": ["user: a", "user: b", "user: c"],
            "response": ["{}"] * 3,
            "score": [0.3, 0.9, 0.95],
            "evaluation_text": ["The step omits the reasoning sentence."] * 3,
            "evaluation_summary": ["Missing reasoning."] * 3,
            "recurring_issues_str": ["[]"] * 3,
        }
    )
    frame.to_csv(step / "analysis_results_diagnose_gen_x.csv", index=False)
    (step / "config_diagnose.json").write_text(json.dumps({"success_threshold": 0.9, "qid_column": "id"}))
    rows = load_judged(step)
    assert rows["failing"].tolist() == [True, False, False]
    assert rows.attrs["fail_below"] == pytest.approx(0.9)
    pooled = load_judged(step / "analysis_results_diagnose_gen_x.csv")
    assert pooled["system"].tolist() == ["diagnose", "diagnose", "classify"]


# -- identity across runs ---------------------------------------------------------------------------------
def test_ids_name_meanings_across_overlapping_runs():
    """Run 1 sees rows 0-199, run 2 rows 100-299 (100 shared). The verbose issue exists only in run 1,
    the invented-facts issue only in run 2: same issues keep their ids, the new one is marked new, the
    vanished one listed, and no id names two different issues."""
    frame, truth = planted_rows(n_rows=300, seed=5)
    ids = frame["id"].astype(str)
    first = frame[ids.str[1:].astype(int) < 200].copy()
    second = frame[ids.str[1:].astype(int) >= 100].copy()

    def drop(part: pd.DataFrame, kind: str) -> pd.DataFrame:
        """The planted sentences of ``kind`` removed (the rows keep their other issues)."""
        from planted_small import PLANTED

        keys = PLANTED[kind][0]
        part = part.copy()
        part["feedback"] = [
            ". ".join(s for s in text.split(". ") if not any(k in s.lower() for k in keys)) for text in part["feedback"]
        ]
        return part

    first, second = drop(first, "invented"), drop(second, "verbose")
    old = discover(first, fast=True, seed=0, progress=False, max_issues=10)
    new = discover(second, fast=True, seed=0, progress=False, max_issues=10, previous=old)
    kinds_old, kinds_new = _truth_of(old, truth), _truth_of(new, truth)
    old_by_kind = {}
    for issue in old.issues:
        old_by_kind.setdefault(kinds_old[issue.id], set()).add(issue.id)
    status = new.meta["identity"]["status"]
    for issue in new.issues:
        kind = kinds_new[issue.id]
        if kind in ("units", "arithmetic", "misread"):
            assert issue.id in old_by_kind[kind] and status[issue.id] == "matched", (issue.name, kind)
        if kind == "invented":
            assert status[issue.id] == "new" and issue.id not in {i.id for i in old.issues}
    vanished = {v["id"] for v in new.meta["identity"]["vanished"]}
    assert old_by_kind["verbose"] <= vanished
    # no id changes meaning: an id in both runs names rows of the same planted kind
    for issue in new.issues:
        if issue.id in kinds_old:
            assert kinds_old[issue.id] == kinds_new[issue.id]
    assert len({i.id for i in new.issues}) == len(new.issues)


def _hand_report(name: str, evidence: str, rows: list[str]) -> IssueReport:
    from misattribution.discovery import Issue, compute_statistics, issue_id

    frame = pd.DataFrame({"row_id": rows, "score": 1, "score_norm": 0.5, "failing": True, "system": "a"})
    issue = Issue(id=issue_id(name, "cluster"), name=name, provenance="cluster")
    assignments = pd.DataFrame({"row_id": rows, "issue_id": issue.id, "evidence": evidence})
    return IssueReport(frame, compute_statistics(frame, assignments, [issue], n_resamples=10), assignments)


def test_an_id_never_names_two_different_issues():
    """Same name and id, other meaning (other evidence, no shared row): the new issue gets a fresh id."""
    from misattribution.discovery.align import align_reports
    from misattribution.discovery.embed import load_encoder

    old = _hand_report("Wrong tool chosen", "The agent calls the weather API to convert currencies.", ["a", "b"])
    new = _hand_report("Wrong tool chosen", "The reviewer passes the draft without any justification.", ["c", "d"])
    aligned = align_reports(new, old, encoder=load_encoder())
    (issue,) = aligned.report.issues
    assert issue.id != old.issues[0].id and aligned.report.meta["identity"]["status"] == {issue.id: "new"}
    assert [i.id for i in aligned.vanished_issues] == [old.issues[0].id]
    same = _hand_report("Wrong tool chosen", "The agent calls the weather API to convert currencies.", ["a", "c"])
    kept = align_reports(same, old, encoder=load_encoder())
    assert kept.report.issues[0].id == old.issues[0].id and not kept.vanished_issues


# -- granularity at the small end --------------------------------------------------------------------------
def test_two_failing_rows_with_a_clear_shortcoming_yield_a_rare_issue():
    frame = pd.DataFrame(
        {
            "feedback": [
                "The answer is correct and clear.",
                "The response forgets to convert minutes to hours, so the total time is wrong.",
                "The answer does not convert the minutes into hours.",
                "Well done.",
            ],
            "score": [3, 1, 1, 3],
        }
    )
    report = discover(frame, progress=False)
    assert [(i.count, i.rare) for i in report.issues] == [(2, True)]
    assert report.meta["method"] == "rare"
    assert "(rare)" in format_issue_table(report)
    distinct = frame.assign(
        feedback=[
            frame["feedback"][0],
            frame["feedback"][1],
            "The agent calls the search tool with the wrong date range.",
            "Well done.",
        ]
    )
    report = discover(distinct, progress=False)
    assert sorted(i.count for i in report.issues) == [1, 1] and all(i.rare for i in report.issues)
    passing = discover(frame.assign(score=3), progress=False)
    assert not passing.issues and format_issue_table(passing).endswith("no issue found: no row fails")
    # a name of twelve words is printed whole ("Factual error and unnecessary content in the explanati…" was
    # cut at 60 characters): the name column is as wide as its longest label
    from misattribution.discovery.edits import rename

    long_name = "Missing conversion of the elapsed minutes into hours before adding both totals"
    renamed = rename(report, report.issues[0].id, long_name)
    table = format_issue_table(renamed)
    assert long_name in table and "…" not in table
    assert "…" in format_issue_table(renamed, width=30)  # a width the caller fixes still cuts


def test_cli_previous_keeps_ids_and_lists_new_and_vanished(planted, tmp_path, capsys):
    frame, _ = planted
    source = tmp_path / "judged.csv"
    frame.to_csv(source, index=False)
    args = ["discover", str(source), "--fast", "--quiet", "--no-tree"]
    assert main([*args, "-o", str(tmp_path / "one")]) == 0
    assert main([*args, "-o", str(tmp_path / "two"), "--previous", str(tmp_path / "one")]) == 0
    out = capsys.readouterr().out
    one, two = IssueReport.load(tmp_path / "one"), IssueReport.load(tmp_path / "two")
    assert [i.id for i in two.issues] == [i.id for i in one.issues] and not two.nodes
    assert f"{len(one.issues)} issue(s) kept their ids, 0 new" in out
    assert main([*args, "-o", str(tmp_path / "three"), "--previous", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_the_readmes_discovery_commands_run(planted, tmp_path, monkeypatch, capsys):
    """The README's discovery section, as written: its Python block and its first CLI commands."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Find recurring issues", 1)[1].split("\n## ", 1)[0]
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shell = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    frame, _ = planted
    monkeypatch.chdir(tmp_path)
    frame.to_json(tmp_path / "judged.jsonl", orient="records", lines=True)
    namespace: dict = {}
    exec(compile(python, "README.md", "exec"), namespace)
    report = namespace["report"]
    assert report.issues and (tmp_path / "bundle" / "tree.parquet").is_file()
    for line in shell.splitlines():
        command = line.split("#")[0].split()
        if command[:2] == ["misattribution", "discover"] and "judged.jsonl" in command and "--mode" not in command:
            assert main([*command[1:], "--fast", "--quiet"]) == 0
            assert "issue tree" in capsys.readouterr().out
