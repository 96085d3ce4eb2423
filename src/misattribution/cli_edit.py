"""``misattribution edit``: rename, merge, split and park the issues of a bundle; write the edited bundle.

::

    misattribution edit bundle/ --rename ID=NAME --merge ID,ID[=NAME] --split ID --park ID -o edited/ \\
        --issues-file issues.txt

Edits apply in the order given (each flag may be repeated); ids are those the bundle's issue table shows
(``misattribution discover`` prints them). Every edit is checked before anything is written: an unknown
id, a malformed spec or a refused edit is one ``error:`` line and exit code 2, with nothing written.
The edited bundle keeps the edit history in its ``meta.json`` (``edits``); ``--issues-file`` also writes
the issue list that ``misattribution discover ROWS --mode static --issues FILE`` re-maps rows to.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "parse_edit", "run_edit"]

#: The edit flags, in the order ``--help`` lists them.
OPERATIONS = ("rename", "merge", "split", "park", "unpark")
_SPLIT_ROWS = re.compile(r"^(?P<id>[^=]+)=(?P<rows>.+)$")


class _Ordered(argparse.Action):
    """Collects every edit flag into one list, in command-line order: ``[(op, spec), ...]``."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        edits = list(getattr(namespace, "edits", None) or [])
        edits.append((self.const, values))
        namespace.edits = edits


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``edit`` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "edit",
        help="rename, merge, split or park the issues of a bundle; write the edited bundle and its issue list",
        description=(
            "Edit the issues of an issue-report bundle, in the order the flags are given, and write the edited "
            "bundle (its meta.json keeps the edit history). A renamed issue keeps its id, a merge keeps the id of "
            "the issue with the most rows, a split gives both parts new ids, a parked issue leaves the ranking and "
            "every view until unparked. Nothing is written unless every edit succeeds."
        ),
    )
    parser.add_argument("bundle", help="the issue-report bundle folder (written by misattribution discover)")
    parser.add_argument("-o", "--output", required=True, help="the folder of the edited bundle")
    flags = {
        "rename": ("ID=NAME", "give issue ID the name NAME (it keeps its id)"),
        "merge": ("ID,ID[,...][=NAME]", "merge the issues into one, named NAME or as the one with the most rows"),
        "split": ("ID[=ROW,ROW...]", "split issue ID in two: by sub-cluster of its evidence, or the rows given"),
        "park": ("ID", "hide issue ID from the ranking and every view (kept in the bundle)"),
        "unpark": ("ID", "bring a parked issue back"),
    }
    for op in OPERATIONS:
        metavar, help_text = flags[op]
        parser.add_argument(f"--{op}", action=_Ordered, const=op, dest="edits", metavar=metavar, help=help_text)
    parser.add_argument(
        "--issues-file",
        help="also write the edited issues as an issue list for 'discover --mode static --issues FILE'",
    )
    parser.set_defaults(func=run_edit, edits=None)
    return parser


def parse_edit(op: str, spec: str) -> dict[str, Any]:
    """One flag's text as keyword arguments of the edit (``ValueError`` naming the flag when malformed).

    >>> parse_edit("merge", "a,b=Wrong tool")
    {'issues': ['a', 'b'], 'name': 'Wrong tool'}
    >>> parse_edit("split", "a=r1,r2")
    {'issue': 'a', 'rows': ['r1', 'r2']}
    """
    spec = spec.strip()
    if op == "rename":
        issue, sep, name = spec.partition("=")
        if not sep or not issue.strip() or not name.strip():
            raise ValueError(f"--rename {spec!r}: expected ID=NAME")
        return {"issue": issue.strip(), "name": name.strip()}
    if op == "merge":
        ids, sep, name = spec.partition("=")
        issues = [part.strip() for part in ids.split(",") if part.strip()]
        if len(issues) < 2 or (sep and not name.strip()):
            raise ValueError(f"--merge {spec!r}: expected ID,ID[,...][=NAME] (two or more ids)")
        return {"issues": issues, "name": name.strip() or None}
    if op == "split":
        found = _SPLIT_ROWS.match(spec)
        if found:
            rows = [part.strip() for part in found["rows"].split(",") if part.strip()]
            if not rows:
                raise ValueError(f"--split {spec!r}: expected ID or ID=ROW,ROW,...")
            return {"issue": found["id"].strip(), "rows": rows}
        if not spec or "," in spec:
            raise ValueError(f"--split {spec!r}: expected one issue id (or ID=ROW,ROW,...)")
        return {"issue": spec}
    if not spec or "," in spec or "=" in spec:
        raise ValueError(f"--{op} {spec!r}: expected one issue id")
    return {"issue": spec}


def run_edit(args: argparse.Namespace) -> int:
    """Apply the edits in memory, then write the bundle (and the issue list); 2 on any refusal."""
    from misattribution.discovery import edits as editing
    from misattribution.discovery.report import IssueReport

    if not args.edits:
        raise ValueError("no edit given (hint: --rename, --merge, --split, --park or --unpark)")
    plan = [(op, parse_edit(op, spec)) for op, spec in args.edits]  # every spec checked before any work
    output = Path(args.output)
    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not (output / "meta.json").is_file())):
        raise ValueError(f"{output}: exists and is not an issue-report bundle; give a new folder")
    report = IssueReport.load(args.bundle)
    for op, kwargs in plan:
        before = {i.id: i for i in report.issues}
        report = getattr(editing, op)(report, **kwargs)
        print(_describe(op, report.meta["edits"][-1], before, report))
    report.save(output)
    parked = len(report.meta.get(editing.PARKED_KEY, {}))
    print(f"wrote {output} ({len(report.issues)} issues" + (f", {parked} parked" if parked else "") + ")")
    if args.issues_file:
        path = editing.save_issue_list(report, args.issues_file)
        print(f"wrote {path} (re-map with: misattribution discover ROWS --mode static --issues {path})")
    return 0


def _describe(op: str, entry: dict[str, Any], before: dict[str, Any], report: Any) -> str:
    """One line per edit: what it did, with names and row counts."""
    after = {i.id: i for i in report.issues}

    def label(issue_id: str, table: dict[str, Any]) -> str:
        issue = table.get(issue_id)
        return f"{entry['names'].get(issue_id, issue_id)!r} ({issue.count} rows)" if issue else repr(issue_id)

    olds = ", ".join(label(i, before) for i in entry["before"])
    news = ", ".join(label(i, after) for i in entry["after"])
    verbs = {"rename": "renamed", "merge": "merged", "split": "split", "park": "parked", "unpark": "unparked"}
    if op == "rename":
        old = before[entry["before"][0]]
        return f"renamed {old.name!r} ({old.count} rows) -> {news}"
    if op == "park":
        return f"{verbs[op]} {olds}"
    if op == "unpark":
        return f"{verbs[op]} {news}"
    return f"{verbs[op]} {olds} -> {news}"


if __name__ == "__main__":  # pragma: no cover - the console script goes through misattribution.cli
    from misattribution.cli import main

    sys.exit(main(["edit", *sys.argv[1:]]))
