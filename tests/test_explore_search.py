"""The Explorer's text search equals the plain definition: ``needle.casefold() in text.casefold()`` for one of a
row's question, answer or feedback (a missing text matches nothing), on random needles cut from the texts and
random strings (mixed case, ß / ς / ﬁ that fold to other characters, Chinese, emoji, regex metacharacters,
backslashes and RE2's ``\\E``), with polars and with Arrow alone, over all rows and over few candidate rows."""

from __future__ import annotations

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
        np.testing.assert_array_equal(explorer.mask(Filters(text=needle)), expected, err_msg=repr(needle))
        narrowed = explorer.mask(Filters(text=needle, systems=("a",), score_max=0))
        np.testing.assert_array_equal(narrowed, expected & explorer.mask(few), err_msg=repr(needle))


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
