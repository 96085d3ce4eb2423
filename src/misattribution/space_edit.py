"""The Space's edit view as pure functions: the current report and the user's choice in, a new report and a
message out (no Gradio here; the view only wires these to its widgets).

:func:`apply_edit` runs one edit of :mod:`misattribution.discovery.edits` and says what it did in one
line, or why it did nothing (the report is then returned unchanged). :func:`issue_choices` and
:func:`parked_choices` fill the view's pickers, :func:`history_markdown` shows the edit history, and
:func:`save_edited` writes the edited bundle and its issue list for download.

>>> report, message = apply_edit(report, "rename", ["selected-wrong-tool-51536aae"], name="Wrong tool")  # doctest: +SKIP
>>> message                                                                                             # doctest: +SKIP
"Renamed 'Selected wrong tool' to 'Wrong tool' (18 rows, id kept)."
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from misattribution.discovery import edits
from misattribution.discovery.report import IssueReport

__all__ = ["ACTIONS", "apply_edit", "history_markdown", "issue_choices", "parked_choices", "save_edited"]

#: The view's actions: label shown → operation.
ACTIONS = {
    "Rename": "rename",
    "Merge": "merge",
    "Split by sub-cluster": "split",
    "Split off the selected rows": "split_rows",
    "Park": "park",
    "Unpark": "unpark",
}


def issue_choices(report: IssueReport | None) -> list[tuple[str, str]]:
    """``(label, id)`` of every visible issue, ranked: ``"Name (23 rows)"``."""
    if report is None:
        return []
    return [(f"{i.name} ({i.count} rows)", i.id) for i in report.issues]


def parked_choices(report: IssueReport | None) -> list[tuple[str, str]]:
    """``(label, id)`` of every parked issue."""
    if report is None:
        return []
    return [(f"{i.name} (parked)", i.id) for i in edits.parked_issues(report)]


def apply_edit(
    report: IssueReport | None,
    action: str,
    issues: Sequence[str] | str | None,
    *,
    name: str | None = None,
    rows: str | Sequence[str] | None = None,
    encoder: Any | None = None,
) -> tuple[IssueReport | None, str]:
    """One edit: ``(new report, message)``; on a refusal ``(the same report, "Not done: ...")``.

    Args:
        report: the report on screen.
        action: an operation (``rename``, ``merge``, ``split``, ``split_rows``, ``park``, ``unpark``) or a
            label of :data:`ACTIONS`.
        issues: the chosen issue id(s) (a merge needs two or more, every other action one).
        name: the new name (rename; optional for merge; for a split, ``"first | second"`` names both parts).
        rows: the selected row ids for ``split_rows`` (a list, or text separated by commas, spaces or lines).
        encoder: the sentence encoder for splits (default: the report's model).
    """
    if report is None:
        return None, "Not done: load a report first."
    action = ACTIONS.get(action, action)
    chosen = [issues] if isinstance(issues, str) else [i for i in (issues or []) if i]
    try:
        if action not in set(ACTIONS.values()):
            raise edits.EditError(f"unknown action {action!r}")
        if action == "merge":
            if len(chosen) < 2:
                raise edits.EditError("choose two or more issues to merge")
            new = edits.merge(report, chosen, name=name.strip() if name and name.strip() else None)
        else:
            if len(chosen) != 1:
                raise edits.EditError(f"choose one issue to {action.replace('_rows', '')}")
            issue = chosen[0]
            if action == "rename":
                new = edits.rename(report, issue, name or "")
            elif action in ("split", "split_rows"):
                selected = _row_ids(rows) if action == "split_rows" else None
                if action == "split_rows" and not selected:
                    raise edits.EditError("select the rows to split off")
                names = [part.strip() for part in name.split("|")] if name and name.strip() else None
                new = edits.split(report, issue, selected, names=names, encoder=encoder)
            elif action == "park":
                new = edits.park(report, issue)
            else:
                new = edits.unpark(report, issue)
    except edits.EditError as err:
        return report, f"Not done: {err}."
    return new, _message(new) + _name_note(new)


def history_markdown(report: IssueReport | None) -> str:
    """The edit history as a Markdown list, newest last; a line saying there is none."""
    history = edits.edit_history(report) if report is not None else None
    if history is None or history.empty:
        return "_No edits yet._"
    lines = []
    for line in history.itertuples():
        change = f"{line.before} → {line.after}" if line.before and line.after else line.before or line.after
        lines.append(f"{line.Index + 1}. **{line.op}** {change} _({line.time})_")
    return "\n".join(lines)


def save_edited(report: IssueReport, folder: str | Path) -> tuple[Path, Path]:
    """Write the edited bundle to ``folder/bundle`` and its issue list to ``folder/issues.txt``."""
    folder = Path(folder)
    bundle = report.save(folder / "bundle")
    issue_list = edits.save_issue_list(report, folder / "issues.txt")
    return bundle, issue_list


def _row_ids(rows: str | Sequence[str] | None) -> list[str]:
    if rows is None:
        return []
    if isinstance(rows, str):
        return [part for part in re.split(r"[\s,;]+", rows) if part]
    return [str(r) for r in rows if str(r).strip()]


def _message(report: IssueReport) -> str:
    entry = report.meta[edits.EDITS_KEY][-1]
    names, op = entry["names"], entry["op"]
    counts = {i.id: i.count for i in report.issues}

    def quoted(ids: Sequence[str]) -> str:
        return ", ".join(f"'{names.get(i, i)}'" for i in ids)

    if op == "rename":
        issue = entry["after"][0]
        return f"Renamed '{entry['args']['old_name']}' to '{names[issue]}' ({counts[issue]} rows, id kept)."
    if op == "merge":
        kept = entry["after"][0]
        merged = ", ".join(f"'{n}'" for n in entry.get("before_names", []))
        return f"Merged {merged} into {quoted([kept])} ({counts[kept]} rows, id {kept} kept)."
    if op == "split":
        parts = ", ".join(f"'{names[i]}' ({counts[i]} rows)" for i in entry["after"])
        return f"Split {quoted(entry['before'])} into {parts}; both have new ids."
    if op == "park":
        return f"Parked {quoted(entry['before'])}: hidden from the ranking and every view; unpark to bring it back."
    return f"Unparked {quoted(entry['after'])} ({counts[entry['after'][0]]} rows)."


def _name_note(report: IssueReport) -> str:
    """A note when a name the user gave breaks a naming rule (kept: the name is theirs to choose)."""
    from misattribution.discovery.naming import name_problems

    entry = report.meta[edits.EDITS_KEY][-1]
    given = [entry["args"].get("name")] if entry["op"] in ("rename", "merge") else entry["args"].get("names") or []
    siblings = [i.name for i in report.issues]
    notes = []
    for name in (n for n in given if n):
        problems = name_problems(name, siblings=[s for s in siblings if s != name])
        if problems:
            notes.append(f"'{name}': {problems[0].split(':')[0]}")
    return f" Note: the name breaks a naming rule ({'; '.join(notes)})." if notes else ""
