"""The one zip guard: every hostile or oversized archive is refused the same way by the CLI's CLEAR importer
(and ``discover``) and by the Space's uploads, with the archive and the entry named, and nothing written."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from misattribution.data.importers import import_clear
from misattribution.discovery.inputs import load_judged
from misattribution.io.archives import ZipLimits, open_zip
from misattribution.io.tables import InputError
from misattribution.uploads import UploadError, UploadLimits, load_upload

METADATA = json.dumps({"qid_column": "question_id"}).encode()


def results_csv(n: int = 4, *, score: Callable[[int], object] = lambda i: 1.0 if i % 2 == 0 else 0.3) -> bytes:
    frame = pd.DataFrame(
        {
            "question_id": [f"q{i}" for i in range(n)],
            "model_input": [f"What is {i} + {i}?" for i in range(n)],
            "response": [str(2 * i) for i in range(n)],
            "score": [score(i) for i in range(n)],
            "evaluation_text": ["Correct." if i % 2 == 0 else "The sum is off." for i in range(n)],
            "recurring_issues_str": ["[]"] * n,
        }
    )
    return frame.to_csv(index=False).encode()


def make_zip(path: Path, members: dict[str | zipfile.ZipInfo, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def encrypt_flag(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:  # every central directory entry
        data[start + 8] |= 0x1
        start += 4
    path.write_bytes(bytes(data))
    return path


def lie_about_size(path: Path, member: str, declared: int) -> Path:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        real = archive.getinfo(member).file_size.to_bytes(4, "little")
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + offset : start + offset + 4] == real:
                data[start + offset : start + offset + 4] = declared.to_bytes(4, "little")
            start += 4
    path.write_bytes(bytes(data))
    return path


def bundle(**extra: bytes) -> dict[str | zipfile.ZipInfo, bytes]:
    return {"results.csv": results_csv(), "metadata.json": METADATA, **extra}


# name -> (build the zip under a folder, limits or None, regex naming the archive and the entry)
CASES: dict[str, tuple[Callable[[Path], Path], UploadLimits | None, str]] = {
    "symlink": (
        lambda d: make_zip(d / "link.zip", {**bundle(), symlink("notes.txt"): b"/etc/passwd"}),
        None,
        r"link\.zip: refused, the entry 'notes\.txt' is a symbolic link",
    ),
    "encrypted": (
        lambda d: encrypt_flag(make_zip(d / "locked.zip", bundle())),
        None,
        r"locked\.zip: the entry 'results\.csv' is encrypted",
    ),
    "dotdot": (
        lambda d: make_zip(d / "up.zip", bundle(**{"../../etc/cron.d/evil": b"x"})),
        None,
        r"up\.zip: refused, the entry '\.\./\.\./etc/cron\.d/evil' points outside the archive",
    ),
    "dotdot_inside": (
        lambda d: make_zip(d / "inside.zip", bundle(**{"run/../../results.csv": b"x"})),
        None,
        r"inside\.zip: refused, the entry 'run/\.\./\.\./results\.csv' points outside",
    ),
    "absolute": (
        lambda d: make_zip(d / "abs.zip", bundle(**{"/etc/passwd": b"x"})),
        None,
        r"abs\.zip: refused, the entry '/etc/passwd' has an absolute path",
    ),
    "drive_letter": (
        lambda d: make_zip(d / "drive.zip", bundle(**{"C:/Windows/evil.dll": b"x"})),
        None,
        r"drive\.zip: refused, the entry 'C:/Windows/evil\.dll' has an absolute path",
    ),
    "backslash": (
        lambda d: make_zip(d / "win.zip", bundle(**{"..\\..\\evil.bat": b"x"})),
        None,
        r"win\.zip: refused, the entry .*evil\.bat' has a backslash",
    ),
    "bomb_ratio": (
        lambda d: make_zip(d / "bomb.zip", {"results.csv": b"0" * (20 << 20), "metadata.json": METADATA}),
        None,
        r"bomb\.zip: refused, the entry 'results\.csv' expands [\d,]+× .*zip bomb",
    ),
    "too_many_entries": (
        lambda d: make_zip(d / "wide.zip", {**bundle(), **{f"note{i}.txt": b"x" for i in range(70)}}),
        None,
        r"wide\.zip: the zip has 72 entries, more than the 64 allowed",
    ),
    "declared_total": (
        lambda d: make_zip(d / "big.zip", bundle(**{"padding.txt": b"p" * 5000})),
        UploadLimits(max_uncompressed_bytes=4000),
        r"big\.zip: refused, the zip expands to .* more than the 0\.0 MB allowed",
    ),
    "header_lies": (
        lambda d: lie_about_size(make_zip(d / "liar.zip", bundle()), "results.csv", 40),
        None,
        r"liar\.zip: the entry 'results\.csv' (cannot be read|: refused, it inflates to more than it declares)",
    ),
    "rows_while_streaming": (
        lambda d: make_zip(d / "tall.zip", {"results.csv": results_csv(50), "metadata.json": METADATA}),
        UploadLimits(max_rows=10),
        r"tall\.zip: the entry 'results\.csv': row 11: more than the 10 rows allowed",
    ),
    "not_a_zip": (
        lambda d: (d.mkdir(parents=True, exist_ok=True), d / "plain.zip")[1].write_bytes(b"PK not really") and d / "plain.zip",
        None,
        r"plain\.zip: not a readable zip file",
    ),
    "results_not_utf8": (
        lambda d: make_zip(d / "latin.zip", {"results.csv": results_csv().replace(b"Correct.", "Corr\xe9ct.".encode("latin-1")), "metadata.json": METADATA}),
        None,
        r"latin\.zip:results\.csv: line 2, field 'evaluation_text': not UTF-8 text",
    ),
    "results_header_only": (
        lambda d: make_zip(d / "hollow.zip", {"results.csv": results_csv().split(b"\n")[0] + b"\n", "metadata.json": METADATA}),
        None,
        r"hollow\.zip:results\.csv: row 1: a header but no rows",
    ),
}  # fmt: skip


def _limits(limits: UploadLimits | None) -> UploadLimits:
    return limits or UploadLimits()


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", list(CASES))
def test_the_cli_importer_refuses_it(tmp_path: Path, case: str) -> None:
    build, limits, place = CASES[case]
    path = build(tmp_path / "in")
    before = _listing(tmp_path)
    with pytest.raises(InputError, match=place):
        import_clear(path, limits=_limits(limits).zip_limits())
    assert _listing(tmp_path) == before  # nothing extracted, nothing written
    assert not Path("/tmp/evil.bat").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_the_space_refuses_it_the_same_way_and_deletes_the_upload(tmp_path: Path, case: str) -> None:
    build, limits, place = CASES[case]
    path = build(tmp_path / "in")
    with pytest.raises(UploadError, match=place.replace(r"\.zip:results", r"\.zip:results")):
        load_upload(path, limits=limits, discard=True)
    assert _listing(tmp_path) == ["in"]  # the refused upload is gone, nothing else was written


def test_discover_reads_a_clear_zip_through_the_same_guard(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "link.zip", {**bundle(), symlink("notes.txt"): b"/etc/passwd"})
    with pytest.raises(InputError, match=r"link\.zip: refused, the entry 'notes\.txt' is a symbolic link"):
        load_judged(path)


def test_discover_refuses_unusable_clear_scores_in_a_zip(tmp_path: Path) -> None:
    scores = {1: "3 points", 2: "inf"}
    path = make_zip(tmp_path / "scores.zip", bundle(**{"results.csv": results_csv(score=lambda i: scores.get(i, 0.5))}))
    with pytest.raises(InputError, match=r"scores\.zip:results\.csv: column 'score': 2 unusable score\(s\)") as err:
        load_judged(path)
    assert "row 1 (id 'q1'), field 'score'" in str(err.value) and "'3 points'" in str(err.value)


def test_rows_are_counted_exactly_with_quoted_line_breaks(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"evaluation_text": [f"Line one.\nLine two of row {i}." for i in range(10)], "score": [0.5] * 10}
    )
    frame["response"], frame["model_input"] = "x", "Q?"
    path = make_zip(tmp_path / "multi.zip", {"results.csv": frame.to_csv(index=False).encode()})
    assert len(import_clear(path, limits=ZipLimits(max_rows=10)).rows) == 10  # 20 line breaks, 10 rows
    with pytest.raises(InputError, match=r"multi\.zip: the entry 'results\.csv': row 10: more than the 9 rows"):
        import_clear(path, limits=ZipLimits(max_rows=9))


def test_a_finished_upload_is_deleted_too(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "clear_results.zip", bundle())
    result = load_upload(path, discard=True)
    assert len(result.report.rows) == 4 and not path.exists()
    kept = make_zip(tmp_path / "kept.zip", bundle())
    load_upload(kept)  # without discard (the CLI, a user's own file) the file stays
    assert kept.exists()


def test_open_zip_reads_within_the_limits_and_refuses_a_large_archive() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("results.csv", "a,b\n1,2\n")
        archive.writestr("__MACOSX/._results.csv", "junk")
    with open_zip(buffer.getvalue(), "ok.zip", ZipLimits(max_rows=1)) as safe:
        assert safe.names == ["results.csv"] and safe.read("results.csv", rows="csv") == b"a,b\n1,2\n"
    with pytest.raises(InputError, match=r"huge\.zip: the zip is .* MB, more than the 0\.0 MB allowed"):
        open_zip(buffer.getvalue(), "huge.zip", ZipLimits(max_compressed_bytes=100))


def test_the_space_refuses_unusable_clear_scores_as_discover_does(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "in" / "scores.zip", bundle(**{"results.csv": results_csv(score=lambda i: "3 points")}))
    with pytest.raises(UploadError, match=r"scores\.zip:results\.csv: column 'score': 4 unusable score\(s\)"):
        load_upload(path, discard=True)
    assert _listing(tmp_path) == ["in"]
