"""Per-issue reliability (issue 13, point 5): precision and recall of each issue's assignment against
labels derived from the planted truth (so the figures are known), Wilson intervals, the labels table's
errors (file, row, field), stability over seeds with real discover runs, the bundle round trip and the
``reliability`` command's exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from misattribution.discovery import discover
from misattribution.discovery.reliability import (
    TABLE_COLUMNS,
    assignment_quality,
    read_labels,
    reliability_table,
    rerun_options,
    seed_stability,
    store_reliability,
)
from misattribution.discovery.report import IssueReport
from misattribution.io.tables import InputError
from misattribution.stats import wilson_interval
from misattribution.testing.planted import generate, recovery


@pytest.fixture(scope="module")
def data():
    return generate("agents", 300, seed=0)


@pytest.fixture(scope="module")
def report(data):
    return discover(data.frame, fast=True, score_range=data.score_range, progress=False, tree=False)


@pytest.fixture(scope="module")
def matched(report, data):
    """Issue id → the planted key it recovers best (each issue once), from the planted truth."""
    table = recovery(report, data).table.dropna(subset=["issue_id"])
    table = table[table["f1"] > 0].sort_values("f1", ascending=False).drop_duplicates("issue_id").head(4)
    return dict(zip(table["issue_id"], table["planted"]))


def _wide_labels(data, matched, rows) -> pd.DataFrame:
    frame = pd.DataFrame({"row_id": rows})
    for issue, key in matched.items():
        frame[issue] = [int(key in data.planted[row]) for row in rows]
    return frame


def test_precision_and_recall_on_every_row_equal_the_planted_recovery(report, data, matched, tmp_path):
    path = tmp_path / "labels.csv"
    _wide_labels(data, matched, sorted(data.planted)).to_csv(path, index=False)
    quality = assignment_quality(report, path).set_index("issue_id")
    truth = recovery(report, data).table.set_index("issue_id")
    assert len(matched) >= 3
    for issue, key in matched.items():
        line, expected = quality.loc[issue], truth[truth["planted"] == key].iloc[0]
        assert line["labelled"] == 300
        assert line["precision"] == pytest.approx(expected["precision"])
        assert line["recall"] == pytest.approx(expected["recall"])
        low, high = wilson_interval(line["tp"], line["tp"] + line["fp"])
        assert (line["precision_low"], line["precision_high"]) == (float(low), float(high))
        assert line["precision_low"] - 1e-12 <= line["precision"] <= line["precision_high"] + 1e-12
        assert line["recall_low"] - 1e-12 <= line["recall"] <= line["recall_high"] + 1e-12
    unlabelled = quality.drop(index=list(matched))
    assert (unlabelled["labelled"] == 0).all() and unlabelled["precision"].isna().all()
    assert quality.index.tolist() == [i.id for i in report.issues]  # ranked as the report


def test_a_long_jsonl_sample_by_issue_name_gives_the_same_figures_as_a_wide_csv_by_id(report, data, matched, tmp_path):
    sample = sorted(data.planted)[::5]  # 60 rows
    wide = _wide_labels(data, matched, sample)
    wide.to_csv(tmp_path / "wide.csv", index=False)
    names = {i.id: i.name for i in report.issues}
    long = [
        {"row_id": row, "issue": names[issue], "label": bool(value)}
        for row, values in zip(sample, wide.drop(columns="row_id").to_dict("records"))
        for issue, value in values.items()
    ]
    (tmp_path / "long.jsonl").write_text("\n".join(json.dumps(r) for r in long) + "\n")
    by_id = assignment_quality(report, tmp_path / "wide.csv")
    by_name = assignment_quality(report, tmp_path / "long.jsonl")
    pd.testing.assert_frame_equal(by_id, by_name)
    assert by_id.attrs["labelled_rows"] == 60 and by_id["labelled"].max() == 60


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("row_id,{issue}\nagents-000000,2\n", "labels.csv: row 1: field '{issue}': '2' is not 0 or 1"),
        (
            "row_id,{issue}\nagents-000000,1\nnope,0\n",
            "labels.csv: row 2: field 'row_id': 'nope' is not a row of the report",
        ),
        (
            "row_id,Imaginary problem\nagents-000000,1\n",
            "labels.csv: field 'Imaginary problem': no issue of the report",
        ),
        (
            "row_id,{issue},{name}\nagents-000000,1,0\n",
            "labels.csv: row 1: field '{name}': row 'agents-000000' is labelled twice",
        ),
        ("row_id,{issue}\nagents-000000,\n", "labels.csv: row 1: no labelled cell"),
        ("question,{issue}\nq,1\n", "labels.csv: no row id column"),
    ],
)
def test_a_bad_labels_table_names_the_file_row_and_field(report, tmp_path, content, message):
    issue = report.issues[0]
    path = tmp_path / "labels.csv"
    path.write_text(content.format(issue=issue.id, name=issue.name))
    with pytest.raises(InputError) as caught:
        read_labels(path, report)
    assert str(caught.value).startswith(str(tmp_path / message.format(issue=issue.id, name=issue.name)))
    assert "\n" not in str(caught.value) and "hint:" in str(caught.value)


def test_the_same_seed_again_is_perfectly_stable(report, data):
    """A rerun with the reference's own seed (under another name) finds every issue, Jaccard 1."""
    reference = IssueReport(report.rows, report.issues, report.assignments, {**report.meta, "seed": 99})
    stability = seed_stability(data.frame, seeds=(0,), reference=reference, fast=True,
                               score_range=data.score_range, tree=False)  # fmt: skip
    assert stability.attrs["seeds"] == [99, 0]
    assert (stability["stability"] == 1.0).all() and (stability["seeds_found"] == 2).all()
    assert (stability["n_seeds"] == 2).all() and stability["issue_id"].tolist() == [i.id for i in report.issues]


def test_other_seeds_give_each_issue_a_stability_and_a_count_of_seeds(data):
    stability = seed_stability(data.frame, seeds=(0, 1), fast=True, score_range=data.score_range, tree=False)
    assert stability.attrs["seeds"] == [0, 1] and (stability["n_seeds"] == 2).all()
    assert stability["stability"].between(0, 1).all() and stability["seeds_found"].isin([1, 2]).all()
    assert stability["jaccards"].map(len).eq(1).all()
    # an issue found again has a partner that shares rows with it
    assert (stability.loc[stability["seeds_found"] == 2, "stability"] > 0).all()
    # the seeds matter for KMeans: not every issue comes back with exactly its rows
    assert stability["stability"].min() < 1


def test_reliability_is_stored_in_the_bundle_and_read_as_a_tidy_table(report, data, matched, tmp_path):
    quality = assignment_quality(report, _wide_labels(data, matched, sorted(data.planted)[:100]))
    stability = pd.DataFrame(
        {"issue_id": [i.id for i in report.issues], "name": [i.name for i in report.issues], "stability": 0.5,
         "seeds_found": 2, "n_seeds": 3, "jaccards": [[0.4, 0.6]] * len(report.issues)}
    )  # fmt: skip
    stability.attrs["seeds"] = [0, 1, 2]
    copy = IssueReport(report.rows, report.issues, report.assignments, dict(report.meta))
    store_reliability(copy, quality=quality, labels_source="labels.csv")
    store_reliability(copy, stability=stability)  # a part replaces only its own result
    loaded = IssueReport.load(copy.save(tmp_path / "bundle"))
    table = reliability_table(loaded)
    assert list(table.columns) == list(TABLE_COLUMNS) and len(table) == len(report.issues)
    expected = quality.set_index("issue_id")
    for line in table.itertuples(index=False):
        assert line.labelled == expected.at[line.issue_id, "labelled"]
        assert line.stability == 0.5 and line.seeds_found == 2 and line.n_seeds == 3
        if line.labelled:
            assert line.precision == pytest.approx(expected.at[line.issue_id, "precision"], nan_ok=True)
    assert loaded.meta["reliability"]["quality"]["labels"] == "labels.csv"
    assert loaded.meta["reliability"]["stability"]["seeds"] == [0, 1, 2]
    assert reliability_table(report)["labelled"].eq(0).all()  # nothing computed: empty columns


def test_rerun_options_come_from_the_report(report):
    options = rerun_options(report)
    assert options["mode"] == "clusters" and options["fast"] is True and options["tree"] is False
    assert options["max_issues"] == report.meta["settings"]["max_issues"] and "seed" not in options


# -- the command ------------------------------------------------------------------------------------------------
def test_the_reliability_command(report, data, matched, tmp_path, capsys):
    from misattribution.cli import main

    bundle = report.save(tmp_path / "bundle")
    assert main(["reliability", str(bundle)]) == 2  # nothing stored, nothing asked
    assert "holds no reliability yet" in capsys.readouterr().err

    bad = tmp_path / "bad.csv"
    bad.write_text(f"row_id,{report.issues[0].id}\nagents-000000,1\nagents-000001,maybe\n")
    before = (bundle / "meta.json").read_bytes()
    assert main(["reliability", str(bundle), "--labels", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"misattribution reliability: error: {bad}: row 2: field ")
    assert "'maybe' is not 0 or 1" in err and (bundle / "meta.json").read_bytes() == before  # nothing written

    labels = tmp_path / "labels.csv"
    _wide_labels(data, matched, sorted(data.planted)).to_csv(labels, index=False)
    assert main(["reliability", str(bundle), "--labels", str(labels), "--seeds", "0", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    stored = json.loads((bundle / "meta.json").read_text())["reliability"]
    assert stored["stability"]["seeds"] == [0, 1] and stored["quality"]["labelled_rows"] == 300
    first = report.issues[0].name[:40]
    assert "precision [95% CI]" in out and first in out and "/2" in out
    # the stored table is printed again without recomputing
    assert main(["reliability", str(bundle)]) == 0
    assert first in capsys.readouterr().out


def test_the_readme_commands_of_the_section_parse():
    """Every ``misattribution reliability`` line of the README's "Summary and reliability" section is a
    valid command line (its runs are the command test above)."""
    import shlex
    from pathlib import Path

    from misattribution.cli import build_parser

    readme = Path(__file__).resolve().parents[1] / "README.md"
    section = readme.read_text().split("## Summary and reliability", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0] for line in section.splitlines() if line.startswith("misattribution reliability")]
    assert len(commands) == 3
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert args.command == "reliability" and args.bundle == "bundle/"
