"""The ``"clear"`` mode: the issues CLEAR already found, read from its results bundle; no LLM call.

A CLEAR bundle maps every row to the recurring issues of CLEAR's LLM key-point analysis
(``recurring_issues_str``; :func:`.inputs.load_judged` keeps them as ``clear_issues``). This mode
turns them into report issues (``provenance="clear"``), so that CLEAR's findings get the same
statistics, bundle and Space as ours, and so that ``mode="clusters+clear"`` puts both side by side::

    report = discover("clear_results.zip", mode="clusters+clear")
    report.table()[["name", "provenance", "count", "share", "impact"]]

CLEAR's "No Issues" label means no issue. CLEAR stores no evidence sentence per row, so the
assignments' evidence is empty.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from misattribution.discovery.modes._base import ModeResult, register_mode
from misattribution.discovery.report import ASSIGNMENT_COLUMNS, Issue, issue_id

PROVENANCE = "clear"
NO_ISSUES = "No Issues"


def clear_issues(rows: pd.DataFrame) -> ModeResult:
    """CLEAR's issues of IssueReport ``rows`` (their ``clear_issues`` lists) as ``(issues, assignments, meta)``.

    Raises:
        ValueError: the rows carry no ``clear_issues`` column (the input is not a CLEAR bundle).

    >>> rows = pd.DataFrame({"row_id": ["a", "b", "c"],
    ...                      "clear_issues": [["Calculation errors"], [], ["Calculation errors", "No Issues"]]})
    >>> issues, assignments, meta = clear_issues(rows)
    >>> [i.name for i in issues], assignments["row_id"].tolist(), meta["n_rows_with_issues"]
    (['Calculation errors'], ['a', 'c'], 2)
    >>> rows = pd.DataFrame({"row_id": ["a", "b"], "clear_issues": [["Calculation errors"], ["calculation  errors"]]})
    >>> [i.name for i in clear_issues(rows)[0]]
    ['Calculation errors']
    """
    if "clear_issues" not in rows.columns:
        raise ValueError(
            "mode 'clear' needs CLEAR's issues per row (a CLEAR results bundle, or a 'recurring_issues_str' / "
            "'clear_issues' column)"
        )
    # One issue per name up to case and spacing ("Calculation errors" / "calculation  errors" are one id: an id
    # is a slug of the name), shown in its most frequent spelling.
    spellings: dict[str, Counter[str]] = {}
    per_row = []
    for names in rows["clear_issues"]:
        found: dict[str, None] = {}
        for value in names if isinstance(names, (list, tuple)) else []:
            name = " ".join(str(value).split())
            if not name or name.casefold() == NO_ISSUES.casefold():
                continue
            spellings.setdefault(name.casefold(), Counter())[name] += 1
            found[name.casefold()] = None
        per_row.append(list(found))
    shown = {key: max(counts, key=counts.__getitem__) for key, counts in spellings.items()}  # ties: first seen
    per_row = [[shown[key] for key in found] for found in per_row]
    names = sorted(shown.values())
    ids = {name: issue_id(name, PROVENANCE) for name in names}
    assignments = pd.DataFrame(
        [(str(row_id), ids[name], "") for row_id, found in zip(rows["row_id"], per_row) for name in found],
        columns=list(ASSIGNMENT_COLUMNS),
    )
    issues = [
        Issue(id=ids[name], name=name, provenance=PROVENANCE, description="A recurring issue found by CLEAR.")
        for name in names
    ]
    meta = {"llm_calls": 0, "n_clear_issues": len(issues), "n_rows_with_issues": sum(bool(f) for f in per_row)}
    return ModeResult(issues, assignments, meta)


register_mode(
    "clear", clear_issues, help="the issues a CLEAR results bundle already holds, with our statistics; no LLM"
)
