"""``uploads.paused_collector``: the cyclic garbage collector is off while an upload is read, and on again after.

Reading a large upload allocates millions of objects; full collections then walk them all (and every module
a server imported). The collector is process-wide, so the pause is counted across threads: it comes back
on when the last reader leaves, and only if it was on before the first came in. What it saves is a figure
(``benchmarks/bench_space.py``), not a test.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from misattribution.uploads import UploadError, load_sample_report, load_upload, paused_collector


@pytest.fixture(autouse=True)
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_off_inside_on_after_even_on_error() -> None:
    with paused_collector():
        assert not gc.isenabled()
        with paused_collector():  # nested: still off when the inner block ends
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_collector():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with paused_collector():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_back_on_when_the_last_of_two_threads_leaves() -> None:
    first_in, second_in, first_may_leave, first_left = (threading.Event() for _ in range(4))
    seen: dict[str, bool] = {}

    def first() -> None:
        with paused_collector():
            first_in.set()
            first_may_leave.wait(10)
        first_left.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    with paused_collector():
        second_in.set()
        first_may_leave.set()
        assert first_left.wait(10)
        seen["after the first left"] = gc.isenabled()  # the second is still reading
    thread.join(10)
    assert seen["after the first left"] is False
    assert gc.isenabled()


def test_an_upload_runs_with_the_collector_off_and_leaves_it_on(tmp_path: Path, monkeypatch) -> None:
    import misattribution.uploads as uploads

    states: list[bool] = []
    real = uploads._load_upload

    def spy(*args, **kwargs):
        states.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads, "_load_upload", spy)
    path = tmp_path / "rows.jsonl"
    load_sample_report().report.rows[["row_id", "question", "answer", "feedback", "score"]].to_json(
        path, orient="records", lines=True
    )
    result = load_upload(path)
    assert len(result.report.rows) == len(load_sample_report().report.rows)
    (tmp_path / "bad.csv").write_text("nothing,useful\n1,2\n")
    with pytest.raises(UploadError):
        load_upload(tmp_path / "bad.csv")
    assert states == [False, False]
    assert gc.isenabled()
