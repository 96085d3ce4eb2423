"""The Explorer's text search equals the plain definition: ``needle.casefold() in text.casefold()`` for one of a
row's question, answer or feedback (a missing text matches nothing), on random needles cut from the texts and
random strings (mixed case, ß / ς / ﬁ that fold to other characters, Chinese, emoji, regex metacharacters,
backslashes and RE2's ``\\E``), with polars and with Arrow alone, over all rows and over few candidate rows."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from misattribution import explore
from misattribution.discovery.report import IssueReport
from misattribution.explore import Explorer, Filters

PIECES = [
    "The", "SUM", "sum", "Straße", "STRASSE", "ſ", "ﬁnal", "FINAL", "Σίσυφος", "ΣΊΣΥΦΟΣ", "ς", "İstanbul",
    "café", "CAFÉ", "答案是", "错误", "計算", "😀", ".*", "a+b", "(x)", "[1]", "\\d", "\\E", "\\Q", "$", "^", "|",
    "?", "{2}", "\\", "µ", "Kelvin K", "ǅ", " ", "\t", "\n", "0", "42",
]  # fmt: skip


def _text(rng: np.random.Generator) -> str | None:
    if rng.random() < 0.05:
        return None
    return "".join(str(p) for p in rng.choice(np.array(PIECES, dtype=object), size=int(rng.integers(0, 9))))


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 3_000
    return pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(n)],
            "score": rng.integers(0, 4, n),
            "score_norm": rng.integers(0, 4, n) / 3,
            "failing": rng.random(n) < 0.5,
            "system": rng.choice(["a", "b"], n),
            "question": [_text(rng) for _ in range(n)],
            "answer": [_text(rng) for _ in range(n)],
            "feedback": [_text(rng) for _ in range(n)],
        }
    )


def _needles(rows: pd.DataFrame) -> list[str]:
    rng = np.random.default_rng(11)
    texts = [t for t in _texts(rows["answer"]) if t]
    cut = []
    for _ in range(80):
        text = texts[int(rng.integers(len(texts)))]
        start = int(rng.integers(len(text)))
        piece = text[start : start + int(rng.integers(1, 8))]
        cut.append(piece.upper() if rng.random() < 0.3 else piece)
    made = ["".join(rng.choice(np.array(PIECES, dtype=object), size=2)) for _ in range(40)]
    fixed = ["ss", "SS", "σ", "fi", "k", "İ", "i̇", "\\E\\Q", "a\\", "答", "no such text at all", "\x00sum"]
    return [n for n in dict.fromkeys(cut + made + fixed) if n.strip()]


def _texts(column: pd.Series) -> list[str | None]:
    """A column's texts, missing as ``None`` (pandas may hold it as NaN)."""
    return [t if isinstance(t, str) else None for t in column.tolist()]


def _definition(rows: pd.DataFrame, needle: str) -> np.ndarray:
    needle = needle.strip().casefold().replace("\x00", "")
    found = np.zeros(len(rows), dtype=bool)
    for column in ("question", "answer", "feedback"):
        found |= np.array([t is not None and needle in t.casefold() for t in _texts(rows[column])])
    return found


@pytest.mark.parametrize("backend", ["polars", "arrow"])
def test_text_search_equals_casefold_substring(rows: pd.DataFrame, backend: str, monkeypatch) -> None:
    if backend == "polars":
        pytest.importorskip("polars", reason="polars (the space extra) is not installed")
    else:
        monkeypatch.setattr(explore, "_polars", lambda: None)
    report = IssueReport(rows=rows, issues=[], assignments=pd.DataFrame(columns=["row_id", "issue_id", "evidence"]))
    explorer = Explorer(report)
    explorer.prepare_search()
    assert (explorer._search._polars is None) == (backend == "arrow")
    few = Filters(systems=("a",), score_max=0)  # about an eighth of the rows: only those are searched
    assert explorer.mask(few).sum() * 4 < len(rows)
    for needle in _needles(rows):
        expected = _definition(rows, needle)
        if not needle.strip():
            continue
        # Narrowed first (the candidate rows only: the needle is not searched yet), then the whole table, then
        # narrowed again (the whole table's result, kept per needle, and the other filters).
        narrowed = explorer.mask(Filters(text=needle, systems=("a",), score_max=0))
        np.testing.assert_array_equal(narrowed, expected & explorer.mask(few), err_msg=repr(needle))
        np.testing.assert_array_equal(explorer.mask(Filters(text=needle)), expected, err_msg=repr(needle))
        again = explorer.mask(Filters(text=needle, systems=("a",), score_max=1e-9))  # a new filter: no cached mask
        np.testing.assert_array_equal(again, expected & explorer.mask(few), err_msg=repr(needle))


def test_the_folded_columns_are_python_casefold(rows: pd.DataFrame) -> None:
    import pyarrow as pa

    texts = _texts(rows["feedback"])
    folded = explore._casefolded(pa.chunked_array([pa.array(texts, type=pa.large_string())])).to_pylist()
    assert folded == [None if t is None else t.casefold() for t in texts]


def test_a_search_never_matches_across_columns_or_rows() -> None:
    rows = pd.DataFrame(
        {
            "row_id": ["a", "b"],
            "score": [0, 1],
            "score_norm": [0.0, 1.0],
            "failing": [True, False],
            "system": "s",
            "question": ["ends with ab", "cd starts"],
            "answer": ["cd", None],
            "feedback": ["", "x"],
        }
    )
    explorer = Explorer(
        IssueReport(rows=rows, issues=[], assignments=pd.DataFrame(columns=["row_id", "issue_id", "evidence"]))
    )
    assert explorer.mask(Filters(text="abcd")).tolist() == [False, False]
    assert explorer.mask(Filters(text="ab cd")).tolist() == [False, False]
    assert explorer.mask(Filters(text="CD")).tolist() == [True, True]


# -- searching ahead (the Space starts a search as the visitor types) ----------------------------------


def _counting_searches(monkeypatch, gate: threading.Event | None = None) -> list[tuple[str, bool]]:
    """Every search of the table, as (needle, whole table?); with ``gate``, each waits for it first."""
    calls: list[tuple[str, bool]] = []
    original = explore._TextSearch._search

    def counted(self, needle, within=None):
        calls.append((needle, within is None))
        if gate is not None:
            assert gate.wait(30), "the test never opened the gate"
        return original(self, needle, within)

    monkeypatch.setattr(explore._TextSearch, "_search", counted)
    return calls


def _explorer(rows: pd.DataFrame) -> Explorer:
    explorer = Explorer(
        IssueReport(rows=rows, issues=[], assignments=pd.DataFrame(columns=["row_id", "issue_id", "evidence"]))
    )
    explorer.prepare_search()
    return explorer


def _settle_search_soon() -> None:
    """Until every search started ahead has run (the pool runs them one at a time, in order)."""
    explore._warm_pool().submit(lambda: None).result(timeout=60)


def test_a_search_started_ahead_is_the_filters_search(rows: pd.DataFrame, monkeypatch) -> None:
    """``search_soon`` searches the whole table once; the filter applied next (alone or narrowed by others,
    whitespace around the text as the box gives it) uses that result, with the definition's rows."""
    explorer = _explorer(rows)
    calls = _counting_searches(monkeypatch)
    explorer.search_soon("  SUM ")
    _settle_search_soon()
    assert calls == [("sum", True)]
    expected = _definition(rows, "SUM")
    np.testing.assert_array_equal(explorer.mask(Filters(text=" SUM")), expected)
    narrowed = Filters(text="Sum", systems=("a",), score_max=0)
    np.testing.assert_array_equal(
        explorer.mask(narrowed), expected & explorer.mask(Filters(systems=("a",), score_max=0))
    )
    assert calls == [("sum", True)]  # no second search: neither for the filter nor for the narrowed one
    explorer.search_soon("sum")  # searched already: nothing to do
    explorer.search_soon("   ")  # no text: nothing to do
    _settle_search_soon()
    assert calls == [("sum", True)]


def test_only_the_latest_text_typed_is_searched_ahead(rows: pd.DataFrame, monkeypatch) -> None:
    """Texts typed over before their turn came (the pool busy) are dropped: one search, the last text."""
    explorer = _explorer(rows)
    calls = _counting_searches(monkeypatch)
    busy = threading.Event()
    explore._warm_pool().submit(busy.wait, 30)  # the one thread is busy until the texts are typed
    for typed in ("s", "su", "sum", "summ"):
        explorer.search_soon(typed)
    busy.set()
    _settle_search_soon()
    assert calls == [("summ", True)]
    np.testing.assert_array_equal(explorer.mask(Filters(text="summ")), _definition(rows, "summ"))


def test_a_filter_waits_for_the_same_search_under_way(rows: pd.DataFrame, monkeypatch) -> None:
    """A filter applied while its text is being searched ahead waits for that search (one search, not two)
    and gets the definition's rows."""
    explorer = _explorer(rows)
    gate = threading.Event()
    calls = _counting_searches(monkeypatch, gate)
    explorer.search_soon("the")
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:  # the search ahead has started (and waits at the gate)
        time.sleep(0.01)
    assert calls == [("the", True)]
    found: list[np.ndarray] = []
    applied = threading.Thread(target=lambda: found.append(explorer.mask(Filters(text="The", systems=("a",)))))
    applied.start()
    applied.join(timeout=0.5)
    assert applied.is_alive()  # waiting for the search under way, not searching on its own
    gate.set()
    applied.join(timeout=60)
    assert calls == [("the", True)]
    np.testing.assert_array_equal(found[0], _definition(rows, "the") & explorer.mask(Filters(systems=("a",))))


def test_a_failed_search_ahead_is_not_kept(rows: pd.DataFrame, monkeypatch) -> None:
    """A search that fails leaves nothing behind: the filter applied next searches again and succeeds."""
    explorer = _explorer(rows)
    original = explore._TextSearch._search
    failures = iter([MemoryError("no room")])

    def flaky(self, needle, within=None):
        error = next(failures, None)
        if error is not None:
            raise error
        return original(self, needle, within)

    monkeypatch.setattr(explore._TextSearch, "_search", flaky)
    explorer.search_soon("sum")
    _settle_search_soon()
    assert not explorer._search._running and "sum" not in explorer._search._found
    np.testing.assert_array_equal(explorer.mask(Filters(text="sum")), _definition(rows, "sum"))
