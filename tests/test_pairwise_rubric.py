"""Per-row rubrics in absolute mode: the runner shows each row's rubric and refuses bad ones before any call."""

from __future__ import annotations

import json

from misattribution.cli import main
from misattribution.testing.fake_openai import FakeOpenAIServer

GOOD = {"3": "12, with 3 x 4 written out", "2": "12 alone", "1": "another number", "0": "no number"}


def test_each_rows_rubric_reaches_the_judge(tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"id": "a", "question": "What is 3 x 4?", "answer": "12", "rubric": GOOD}) + "\n"
        + json.dumps({"id": "b", "question": "What is 2 + 2?", "answer": "4", "rubric": None}) + "\n"
    )  # fmt: skip
    with FakeOpenAIServer() as server:
        code = main(
            [
                "judge",
                str(rows),
                "--endpoint",
                server.url,
                "--served-model",
                "m",
                "-o",
                str(tmp_path / "o.jsonl"),
                "--quiet",
            ]
        )
        users = [r.body["messages"][-1]["content"] for r in server.chat_requests]
    assert code == 0, capsys.readouterr().err
    by_question = {u.split("### Question\n")[1].split("\n")[0]: u for u in users}
    assert "### Score rubric for this question" in by_question["What is 3 x 4?"]
    assert (
        "- 3: 12, with 3 x 4 written out\n- 2: 12 alone\n- 1: another number\n- 0: no number"
        in by_question["What is 3 x 4?"]
    )
    assert "rubric" not in by_question["What is 2 + 2?"]


def test_bad_rubrics_are_refused_before_any_call(tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "id,question,answer,rubric\n"
        'a,What is 3 x 4?,12,"3: right 2: close 1: wrong 0: none"\n'
        'b,What is 2 + 2?,4,"1: bad 2: ok 3: good 4: great 5: perfect"\n'
        "c,What is 1 + 1?,2,\n"
        'd,What is 5 - 3?,2,"3: right 2: close"\n'
    )
    out = tmp_path / "o.jsonl"
    with FakeOpenAIServer() as server:
        code = main(["judge", str(rows), "--endpoint", server.url, "--served-model", "m", "-o", str(out), "--quiet"])
        requests = len(server.chat_requests)
    err = capsys.readouterr().err
    assert code == 2 and requests == 0 and not out.exists() and "Traceback" not in err
    assert f"{rows}: 2 rubric problem(s):" in err
    assert "row 2, field 'rubric': levels 1, 2, 3, 4, 5 do not match the scale 0-3" in err
    assert "row 4, field 'rubric': levels 2, 3 do not match the scale 0-3 (missing 0, 1)" in err
