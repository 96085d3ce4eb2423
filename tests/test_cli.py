"""The misattribution CLI end to end: judge through a loopback endpoint, export, agreement, errors."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from misattribution.cli import build_parser, main
from misattribution.format import FORMAT_HEADINGS
from misattribution.testing.fake_openai import FakeOpenAIServer

ROWS = [
    {"id": "a", "question": "What is 2 + 2?", "answer": "4", "reference": "4", "human_score": 3, "human_labels": ""},
    {
        "id": "b",
        "question": "What is 3 x 4?",
        "answer": "14",
        "reference": "12",
        "human_score": 1,
        "human_labels": "result_error",
    },
    {
        "id": "c",
        "question": "Capital of France?",
        "answer": "Lyon",
        "reference": "Paris",
        "human_score": 0,
        "human_labels": "Incorrect Answers",
    },
    {
        "id": "d",
        "question": "Name a prime.",
        "answer": "9",
        "reference": "",
        "human_score": 1,
        "human_labels": "incorrect_answers;result_error",
    },
]


def responder(messages):
    """A judge that marks an answer right exactly when it equals the reference."""
    user = messages[-1]["content"]
    answer = user.rsplit("### Answer\n", 1)[1].strip()
    reference = (
        user.split("### Reference answer\n", 1)[1].split("\n\n", 1)[0].strip()
        if "### Reference answer" in user
        else None
    )
    if reference is not None and answer == reference:
        return "Feedback: Matches the reference.\nMisattribution: None\nScore: 3"
    return "Feedback: Does not match.\nMisattribution: Result Error\nScore: 1"


@pytest.fixture
def rows_csv(tmp_path):
    path = tmp_path / "rows.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    return path


def test_every_subcommand_has_useful_help(capsys):
    parser = build_parser()
    for command, words in {
        "judge": ["--model", "--endpoint", "--output", "resumes", "--language", "--greedy"],
        "agreement": ["--human", "--human-labels", "Spearman", "--n-resamples"],
        "install-metric": ["--modules-cache", "evaluate"],
    }.items():
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        for word in words:
            assert word in text, f"{command} --help lacks {word}"


@pytest.mark.filterwarnings("ignore::misattribution.stats.DegenerateInputWarning")  # 4 rows: tiny resamples
def test_judge_export_then_agreement(tmp_path, rows_csv, capsys):
    out, export = tmp_path / "judged.jsonl", tmp_path / "judged.parquet"
    with FakeOpenAIServer(responder=responder) as server:
        code = main(
            ["judge", str(rows_csv), "--endpoint", server.url, "-o", str(out), "--export", str(export), "--quiet"]
        )
        assert code == 0
        # served model name asked from /v1/models
        assert any(r.path.endswith("/v1/models") for r in server.requests)
    printed = capsys.readouterr().out
    assert "judged rows       4" in printed and "parsed completely 100.0%" in printed
    assert re.search(r"\n  result_error +3\n", printed)
    judged = pd.read_parquet(export)
    assert list(judged["score"]) == [3, 1, 1, 1]
    assert list(judged["human_score"]) == ["3", "1", "0", "1"]  # CSV cells stay text

    report_path = tmp_path / "agreement.json"
    code = main(
        [
            "agreement",
            str(export),
            "--human",
            "human_score",
            "--human-labels",
            "human_labels",
            "-o",
            str(report_path),
            "--n-resamples",
            "100",
        ]
    )
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["spearman"] == pytest.approx(scipy_stats.spearmanr([3, 1, 1, 1], [3, 1, 0, 1])[0], abs=1e-9)
    assert report["detection_f1"] == pytest.approx(1.0)
    # judge: {}, {re}, {re}, {re}; human: {}, {re}, {ia}, {ia, re} -> tp 2, fp 1, fn 2
    assert report["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    table = capsys.readouterr().out
    assert "spearman" in table.lower() and f"{report['spearman']:.3f}" in table


def test_agreement_with_a_separate_human_file_joined_on_id(tmp_path, rows_csv):
    out = tmp_path / "judged.jsonl"
    with FakeOpenAIServer(responder=responder) as server:
        assert main(["judge", str(rows_csv), "--endpoint", server.url, "-o", str(out), "--quiet"]) == 0
    human = tmp_path / "human.jsonl"
    shuffled = [ROWS[i] for i in (2, 0, 3, 1)]
    human.write_text("".join(json.dumps({"id": r["id"], "score": r["human_score"]}) + "\n" for r in shuffled))
    # The raw results file has no input columns: join on its id column.
    report_path = tmp_path / "a.json"
    assert (
        main(["agreement", str(out), "--human", str(human), "--on", "id", "-o", str(report_path), "--n-resamples", "0"])
        == 0
    )
    report = json.loads(report_path.read_text())
    assert report["pearson"] == pytest.approx(scipy_stats.pearsonr([3, 1, 1, 1], [3, 1, 0, 1])[0], abs=1e-9)


def test_agreement_refuses_duplicate_join_ids_and_scores_off_the_scale(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps({"id": f"r{k}", "score": k % 4}) + "\n" for k in range(8)))
    human = tmp_path / "human.jsonl"
    human.write_text(
        "".join(json.dumps({"id": i, "score": 1}) + "\n" for i in ["r0", "r1", "r1", *map("r{}".format, range(2, 8))])
    )
    assert main(["agreement", str(results), "--human", str(human), "--on", "id", "-o", str(tmp_path / "a.json")]) == 2
    err = capsys.readouterr().err
    assert "human.jsonl" in err and "'r1'" in err and "rows 2, 3" in err and "Traceback" not in err
    assert not (tmp_path / "a.json").exists()
    # Scores on a 1..5 scale are off the taxonomy's 0..3: refused, unless the scale is given.
    wide = tmp_path / "wide.jsonl"
    wide.write_text(
        "".join(json.dumps({"id": f"r{k}", "score": 1 + k % 5, "human": 1 + (k + 1) % 5}) + "\n" for k in range(10))
    )
    assert main(["agreement", str(wide), "--human", "human", "-o", str(tmp_path / "b.json"), "--n-resamples", "0"]) == 2
    assert "wide.jsonl" in capsys.readouterr().err and not (tmp_path / "b.json").exists()
    args = ["agreement", str(wide), "--human", "human", "-o", str(tmp_path / "b.json"), "--n-resamples", "0"]
    assert main([*args, "--score-range", "1", "5"]) == 0


def test_errors_name_the_file_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": "q2"}\n')
    with FakeOpenAIServer() as server:
        code = main(
            ["judge", str(bad), "--endpoint", server.url, "--served-model", "m", "-o", str(tmp_path / "o.jsonl")]
        )
        assert server.chat_requests == []
    assert code == 2  # refused before judging
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and "row 1, field 'answer': missing" in err and "(hint: fix the rows" in err
    assert "Traceback" not in err
    code = main(["agreement", str(bad), "--human", "nope"])
    assert code == 2 and "no column 'nope'" in capsys.readouterr().err


def ablation_responder(messages):
    """A judge trained on the paper's "score, feedback" ablation: it writes only those two fields."""
    user = messages[-1]["content"]
    assert "Misattribution:" not in user.split(FORMAT_HEADINGS["en"])[-1]  # the skeleton asks for 2 fields
    return "Score: 2\nFeedback: Partly right."


def test_judge_with_an_ablation_order(tmp_path, rows_csv, capsys):
    out, export = tmp_path / "judged.jsonl", tmp_path / "judged.parquet"
    with FakeOpenAIServer(responder=ablation_responder) as server:
        code = main(
            [
                "judge",
                str(rows_csv),
                "--endpoint",
                server.url,
                "-o",
                str(out),
                "--export",
                str(export),
                "--quiet",
                "--order",
                "score,feedback",
            ]  # fmt: skip
        )
        assert code == 0 and len(server.requests) >= 4
    judged = pd.read_parquet(export)
    assert list(judged["score"]) == [2, 2, 2, 2] and set(judged["status"]) == {"ok"}
    assert set(judged["feedback"]) == {"Partly right."}
    # With the default order the same outputs lack a field: kept, flagged partial, never "no error".
    with FakeOpenAIServer(responder=lambda m: "Score: 2\nFeedback: Partly right.") as server:
        assert main(["judge", str(rows_csv), "--endpoint", server.url, "-o", str(tmp_path / "d.jsonl"),
                     "--export", str(tmp_path / "d.parquet"), "--quiet"]) == 0  # fmt: skip
    default = pd.read_parquet(tmp_path / "d.parquet")
    assert set(default["status"]) == {"partial"} and default["misattribution"].isna().all()


def test_judge_rejects_a_bad_order_before_loading_a_model(tmp_path, rows_csv, capsys):
    code = main(["judge", str(rows_csv), "--model", str(tmp_path / "absent"), "-o", str(tmp_path / "o.jsonl"),
                 "--order", "feedback,misattribution"])  # fmt: skip
    assert code == 2
    assert "include 'score'" in capsys.readouterr().err
