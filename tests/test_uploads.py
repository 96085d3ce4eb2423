"""misattribution.uploads: every accepted format loads, every bad file gets one clear error naming it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from misattribution.discovery.report import IssueReport
from misattribution.explore import Explorer, export_bundle_zip
from misattribution.uploads import (
    UploadError,
    UploadLimits,
    load_hub_dataset,
    load_sample_report,
    load_upload,
)

JUDGED = [
    {
        "uid": f"q{i}",
        "critique": f"Critique {i}: the sum is wrong.",
        "rating": i % 4,
        "model": "m-a" if i % 2 else "m-b",
    }
    for i in range(12)
]


@pytest.fixture(scope="module")
def sample() -> IssueReport:
    return load_sample_report().report


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_sample(sample: IssueReport) -> None:
    result = load_sample_report()
    assert result.kind == "sample" and len(sample.rows) == 197
    assert {"question", "answer", "reference", "feedback", "misattribution"} <= set(sample.rows.columns)
    assert all(i.provenance.startswith("rule:") for i in sample.issues) and len(sample.assignments)
    assert sample.rows["failing"].sum() == (sample.rows["score"] < 3).sum()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv", ".parquet", ".json"])
def test_tables_with_aliased_columns(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(JUDGED)
    path = tmp_path / f"judged{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, JUDGED)
    elif suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records")
    result = load_upload(path)
    rows = result.report.rows
    assert result.kind == "table" and not result.report.issues
    assert result.mapping == {"row_id": "uid", "feedback": "critique", "score": "rating", "system": "model"}
    assert rows["row_id"].tolist() == [r["uid"] for r in JUDGED]
    assert rows["score_norm"].tolist() == pytest.approx([(i % 4) / 3 for i in range(12)])
    assert rows["failing"].tolist() == [i % 4 < 3 for i in range(12)]
    assert set(rows["system"]) == {"m-a", "m-b"}
    assert "critique" in result.message and "run discovery" in result.message


def test_explicit_mapping_wins_and_unknown_roles_are_refused(tmp_path: Path) -> None:
    records = [{"id": i, "notes": "n", "verdict": "v", "score": 2, "points": 1} for i in range(3)]
    path = write_jsonl(tmp_path / "rows.jsonl", records)
    result = load_upload(path, mapping={"feedback": "verdict", "score": "points"})
    assert result.report.rows["score"].tolist() == [1, 1, 1]
    assert result.report.rows["feedback"].tolist() == ["v", "v", "v"]
    with pytest.raises(UploadError, match="unknown column roles"):
        load_upload(path, mapping={"colour": "notes"})
    with pytest.raises(UploadError, match=r"rows\.jsonl: the mapped columns are not in the file \(feedback → 'nope'\)"):
        load_upload(path, mapping={"feedback": "nope"})


def test_missing_required_columns_are_named_with_the_columns_found(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("question,answer,points\nWhat?,This.,3\n", encoding="utf-8")
    with pytest.raises(UploadError) as err:
        load_upload(path)
    message = str(err.value)
    assert message.startswith("answers.csv: missing required column(s) feedback, score (looked for feedback:")
    assert "columns found: question, answer, points" in message


def test_labels_human_columns_and_extra_columns_survive(tmp_path: Path) -> None:
    records = [
        {
            "id": f"r{i}",
            "feedback": "f",
            "score": i % 4,
            "misattribution": "result_error;typos" if i % 4 < 3 else "",
            "human_score": (i + 1) % 4,
            "human_misattribution": '["typos"]',
            "language": "en",
            "annotations": [{"who": "a"}],
        }
        for i in range(8)
    ]
    result = load_upload(write_jsonl(tmp_path / "labelled.jsonl", records))
    rows = result.report.rows
    assert rows["misattribution"][0] == ["result_error", "typos"] and rows["misattribution"][3] == []
    assert rows["human_misattribution"][0] == ["typos"] and rows["human_score"].tolist()[:2] == [1, 2]
    assert rows["language"][0] == "en" and json.loads(rows["annotations"][0]) == [{"who": "a"}]
    explorer = Explorer(result.report)
    assert explorer.agreement(n_resamples=0)["n"] == 8
    result.report.save(tmp_path / "bundle")  # every column stays writable as Parquet


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            "feedback,score\nok,3\nbad,abc\n",
            r"column 'score': 1 score\(s\) are not numbers: row 2 \(not a number: 'abc'\)",
        ),
        ("feedback,score\nok,\nbad,\n", "column 'score': no row has a score"),
        ("id,feedback,score\na,x,1\na,y,2\n", r"duplicate row ids .* 'a' in rows 1, 2"),
        ("feedback,score\n", "row 1: a header but no rows"),
    ],
)
def test_bad_cells(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "cells.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UploadError, match=problem) as err:
        load_upload(path)
    assert str(err.value).startswith("cells.csv")


def test_bad_files(tmp_path: Path) -> None:
    cases = {
        "broken.jsonl": ('{"feedback": "x", "score": 1}\n{not json\n', "line 2 is not valid JSON"),
        "list.jsonl": ("[1, 2]\n", "line 1 is a JSON list, not an object"),
        "empty.csv": ("", "the file is empty"),
        "notes.txt": ("hello", r"cannot read \.txt"),
        "fake.parquet": ("not parquet", "cannot be read as Parquet"),
        "fake.zip": ("not a zip", "not a readable zip file"),
    }
    for name, (content, problem) in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(UploadError, match=problem) as err:
            load_upload(path)
        assert str(err.value).startswith(name), err.value
    binary = tmp_path / "latin.csv"
    binary.write_bytes("feedback,score\ncaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(UploadError, match="latin.csv: line 2, field 'feedback': not UTF-8 text"):
        load_upload(binary)


def test_limits_on_size_and_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", JUDGED)
    with pytest.raises(UploadError, match=r"big\.jsonl: the file is .* MB, more than the 0\.0 MB allowed"):
        load_upload(path, limits=UploadLimits(max_bytes=100))
    for suffix in (".jsonl", ".csv", ".parquet"):
        target = tmp_path / f"many{suffix}"
        frame = pd.DataFrame(JUDGED)
        if suffix == ".jsonl":
            write_jsonl(target, JUDGED)
        elif suffix == ".csv":
            frame.to_csv(target, index=False)
        else:
            frame.to_parquet(target)
        with pytest.raises(UploadError, match=f"many{suffix}: .*more than the 5 .*allowed"):
            load_upload(target, limits=UploadLimits(max_rows=5))


def test_bundle_zip_round_trip(tmp_path: Path, sample: IssueReport) -> None:
    path = export_bundle_zip(sample, tmp_path / "report.zip")
    result = load_upload(path)
    assert result.kind == "bundle"
    pd.testing.assert_frame_equal(result.report.rows, sample.rows)
    assert [i.id for i in result.report.issues] == [i.id for i in sample.issues]
    # The same bundle inside a folder of the zip loads too; two bundles in one zip are refused.
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(nested, "w") as target:
        for name in source.namelist():
            target.writestr(f"my_bundle/{name}", source.read(name))
    assert len(load_upload(nested).report.rows) == 197
    double = tmp_path / "double.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(double, "w") as target:
        for name in source.namelist():
            target.writestr(f"a/{name}", source.read(name))
            target.writestr(f"b/{name}", source.read(name))
    with pytest.raises(UploadError, match=r"double\.zip: the zip holds several meta\.json"):
        load_upload(double)
    too_many = UploadLimits(max_rows=100)
    with pytest.raises(UploadError, match="197 rows, more than the 100 allowed"):
        load_upload(path, limits=too_many)


def test_a_malformed_bundle(tmp_path: Path) -> None:
    path = tmp_path / "broken_bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", "{}")
        archive.writestr("rows.parquet", b"garbage")
        archive.writestr("assignments.parquet", b"garbage")
    with pytest.raises(UploadError, match=r"broken_bundle\.zip: a malformed results bundle"):
        load_upload(path)


def test_an_unknown_zip_says_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("cat.jpg", b"meow")
    with pytest.raises(UploadError, match=r"photos\.zip: a zip, but neither .* it holds: cat\.jpg"):
        load_upload(path)


def clear_zip(path: Path, issues_column: list[str]) -> Path:
    frame = pd.DataFrame(
        {
            "question_id": [f"q{i}" for i in range(len(issues_column))],
            "model_input": [f"What is {i} + {i}?" for i in range(len(issues_column))],
            "response": [str(2 * i + (i % 2)) for i in range(len(issues_column))],
            "ground_truth": [str(2 * i) for i in range(len(issues_column))],
            "score": [1.0 if i % 2 == 0 else 0.3 for i in range(len(issues_column))],
            "evaluation_text": [
                "Correct." if i % 2 == 0 else "The sum is off by one." for i in range(len(issues_column))
            ],
            "evaluation_summary": ["ok" if i % 2 == 0 else "off by one" for i in range(len(issues_column))],
            "recurring_issues_str": issues_column,
        }
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("results_gsm8k.csv", frame.to_csv(index=False))
        archive.writestr("metadata.json", json.dumps({"qid_column": "question_id"}))
    return path


def test_clear_zip(tmp_path: Path) -> None:
    issues = ["[]", "['Off by one', 'Terse']", "[]", "['Off by one']", "[]", "['Terse']"]
    result = load_upload(clear_zip(tmp_path / "clear_results.zip", issues))
    report = result.report
    assert result.kind == "clear"
    assert {i.name: i.count for i in report.issues} == {"Off by one": 2, "Terse": 2}
    assert report.rows["row_id"].tolist() == [f"q{i}" for i in range(6)]
    assert report.rows["score_norm"].tolist() == pytest.approx([1.0, 0.3] * 3)
    assert report.rows["failing"].tolist() == [False, True] * 3
    assert report.rows["question"][0] == "What is 0 + 0?"
    assert all(i.provenance == "clear" for i in report.issues)


def test_clear_zip_with_code_in_its_issue_cell_is_not_evaluated(tmp_path: Path) -> None:
    issues = ["[]", "__import__('os').system('touch /tmp/pwned-by-test')"]
    result = load_upload(clear_zip(tmp_path / "evil_clear.zip", issues))
    assert not result.report.issues and not os.path.exists("/tmp/pwned-by-test")
    assert "error" in result.message  # the importer's problem is reported, not hidden
    # Every problem is kept, naming its row, for the Space to list and offer as a CSV.
    assert result.problems[0] == (
        "evil_clear.zip:results_gsm8k.csv: row 1 (id 'q1'), field 'recurring_issues_str': "
        "not a list of strings: a function call"
    )
    assert len(result.problems) == 2  # and the warning that the question is the prompt column


# -- zip safety ----------------------------------------------------------------------------------------


def test_zip_bomb(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("results.csv", b"0" * (8 * 1024 * 1024))
    with pytest.raises(UploadError, match=r"bomb\.zip: refused, the entry 'results\.csv' expands .*zip bomb"):
        load_upload(path)


def test_zip_too_large_when_inflated_or_with_too_many_entries(tmp_path: Path) -> None:
    path = tmp_path / "wide.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(10):
            archive.writestr(f"part{i}.csv", "x" * 1000)
    with pytest.raises(UploadError, match=r"wide\.zip: the zip has 10 entries, more than the 5 allowed"):
        load_upload(path, limits=UploadLimits(max_zip_entries=5))
    with pytest.raises(UploadError, match=r"wide\.zip: refused, the zip expands to .* more than"):
        load_upload(path, limits=UploadLimits(max_uncompressed_bytes=5000))


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        ("../../etc/cron.d/evil", r"points outside the archive \('\.\.'\)"),
        ("bundle/../../rows.parquet", r"points outside the archive"),
        ("/etc/passwd", "has an absolute path"),
        ("C:/Windows/evil.dll", "has an absolute path"),
        ("..\\..\\evil.bat", "has a backslash in its name"),
    ],
)
def test_path_traversal(tmp_path: Path, member: str, problem: str) -> None:
    path = tmp_path / "traversal.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", "{}")
        archive.writestr(member, "payload")
    with pytest.raises(UploadError, match=rf"traversal\.zip: refused, the entry .* {problem}"):
        load_upload(path)
    assert not Path("/tmp/evil.bat").exists()


def test_symlinks_and_encrypted_entries_are_refused(tmp_path: Path) -> None:
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as archive:
        info = zipfile.ZipInfo("rows.parquet")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(UploadError, match="is a symbolic link"):
        load_upload(link)
    locked = tmp_path / "locked.zip"
    with zipfile.ZipFile(locked, "w") as archive:
        archive.writestr("meta.json", "{}")
    data = bytearray(locked.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x1  # the "encrypted" flag of the central directory entry
    locked.write_bytes(bytes(data))
    with pytest.raises(UploadError, match=r"locked\.zip: the entry 'meta\.json' is encrypted"):
        load_upload(locked)


def test_an_entry_larger_than_its_header_says_is_refused(tmp_path: Path, sample: IssueReport) -> None:
    path = export_bundle_zip(sample, tmp_path / "lying.zip")
    data = bytearray(path.read_bytes())
    # Shrink the declared size of meta.json in both headers: the bytes inflate to more than that.
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("meta.json")
    real = info.file_size.to_bytes(4, "little")
    smaller = (info.file_size // 2).to_bytes(4, "little")
    count = 0
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + offset : start + offset + 4] == real:
                data[start + offset : start + offset + 4] = smaller
                count += 1
            start += 4
    assert count == 2
    path.write_bytes(bytes(data))
    with pytest.raises(UploadError, match=r"lying\.zip: .*'meta\.json'"):
        load_upload(path)


# -- the Hub -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset", ["", "just-a-name", "/etc/passwd", "../secrets/x", "owner/../x", "a/b/c", "owner/name with space"]
)
def test_hub_ids_are_validated_before_any_request(dataset: str) -> None:
    with pytest.raises(UploadError, match="not a Hub dataset id; write it as owner/name"):
        load_hub_dataset(dataset)


def test_hub_offline_gives_a_clear_error() -> None:
    # In a fresh interpreter: the Hub libraries read the offline switches at import time.
    code = (
        "from misattribution.uploads import load_hub_dataset, UploadError\n"
        "try:\n    load_hub_dataset('some-owner/some-judged-dataset')\n"
        "except UploadError as err:\n    print('ERROR', err)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert done.stdout.startswith("ERROR some-owner/some-judged-dataset (train): could not load it"), (
        done.stdout + done.stderr
    )
    assert "Is the machine online" in done.stdout
