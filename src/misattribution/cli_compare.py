"""``misattribution diff | compare | check``: run vs run, system vs system, and a CI gate.

    misattribution diff runs/v1 runs/v2 [--alpha 0.05] [--markdown diff.md]
    misattribution compare runs/v2 --systems analyst writer [--markdown compare.md]
    misattribution check runs/v2 --baseline runs/v1 --max-share "calculation error=0.05" --max-growth 2

The statistics are :mod:`misattribution.discovery.diff`'s (Newcombe intervals, Fisher's exact test,
Holm's correction for the number of issues). ``check`` exits 1 when a limit is broken, 0 otherwise;
every command exits 2 on bad input (a missing bundle, an unknown issue or system, a bad number), with
one line ``misattribution <command>: error: ...``. :mod:`misattribution.cli` registers the commands
through :func:`add_parsers`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from misattribution.discovery.report import IssueReport

__all__ = ["add_parsers", "parse_fraction", "parse_max_share", "parse_points"]

EXIT_OK, EXIT_BREACH = 0, 1


def add_parsers(subparsers: Any) -> None:
    """Register ``diff``, ``compare`` and ``check`` on the CLI's subparsers."""
    _add_diff_parser(subparsers)
    _add_compare_parser(subparsers)
    _add_check_parser(subparsers)


def _add_common(parser: argparse.ArgumentParser) -> None:
    # Numbers are read as text and parsed by the handler, so a bad one gets the CLI's one-line error.
    parser.add_argument("--alpha", default="0.05", help="level of the Holm-corrected exact test (default 0.05)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the result as Markdown to FILE")


def _add_diff_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="what changed between two runs, issue by issue",
        description="Compare two issue-report bundles (misattribution discover -o) issue by issue, by "
        "identity: share before and after, the change with a Newcombe interval, Fisher's exact p-value "
        "corrected by Holm, and new / vanished / grown / shrunk / unchanged. NEW is aligned to OLD unless "
        "it was discovered with --previous OLD.",
    )
    parser.add_argument("old", metavar="OLD", help="bundle of the earlier run")
    parser.add_argument("new", metavar="NEW", help="bundle of the later run")
    _add_common(parser)
    parser.set_defaults(func=_run_diff)


def _add_compare_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="two systems of one report, issue by issue",
        description="Issue by issue, the share of two systems' rows with it, the difference with a Newcombe "
        "interval, and Fisher's exact p-value corrected by Holm.",
    )
    parser.add_argument("bundle", metavar="BUNDLE", help="an issue-report bundle whose rows carry a system")
    parser.add_argument("--systems", nargs=2, metavar=("A", "B"), required=True, help="the two systems")
    _add_common(parser)
    parser.set_defaults(func=_run_compare)


def _add_check_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="a CI gate: exit 1 when an issue's share or growth is above a limit",
        description="Check a bundle against limits and write a Markdown summary for a pull-request comment "
        "(top issues, changes against the baseline, example row ids). Exit 1 on a breach, 0 otherwise, "
        "2 on bad input.",
    )
    parser.add_argument("bundle", metavar="BUNDLE", help="the issue-report bundle under test")
    parser.add_argument("--baseline", metavar="OLD", help="bundle of an earlier run to compare with")
    parser.add_argument(
        "--max-share",
        action="append",
        metavar="ISSUE=SHARE",
        help="largest share allowed for an issue (id or name, case-insensitive), e.g. 'wrong-tool=0.05' or "
        "'Selected wrong tool=5%%'; repeatable",
    )
    parser.add_argument(
        "--max-growth",
        metavar="POINTS",
        help="no issue's share may grow by more than POINTS percentage points against --baseline",
    )
    parser.add_argument("--top", default="5", help="issues listed in the summary (default 5)")
    _add_common(parser)
    parser.set_defaults(func=_run_check)


# -- parsing ----------------------------------------------------------------------------------------------
def _number(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{flag} {text!r}: not a finite number")
    return value


def parse_fraction(text: str, flag: str, *, open_interval: bool = False, shown: str | None = None) -> float:
    """``"0.05"`` or ``"5%"`` → 0.05, checked to lie in [0, 1] (``open_interval``: in (0, 1)).

    ``shown`` is what the error message quotes after ``flag`` (default: ``text``)."""
    stripped, shown = text.strip(), text if shown is None else shown
    number = stripped[:-1] if stripped.endswith("%") else stripped
    try:
        value = float(number) / (100 if stripped.endswith("%") else 1)
    except ValueError:
        raise ValueError(f"{flag} {shown!r}: {number!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{flag} {shown!r}: not a finite number")
    if open_interval and not 0 < value < 1:
        raise ValueError(f"{flag} {shown!r}: give a number between 0 and 1, e.g. 0.05")
    if not 0 <= value <= 1:
        raise ValueError(f"{flag} {shown!r}: a share lies between 0 and 1 (0.05 or 5%)")
    return value


def parse_points(text: str, flag: str) -> float:
    """A number of percentage points, 0 or more."""
    value = _number(text.strip().removesuffix("pp").removesuffix("points").strip(), flag)
    if value < 0:
        raise ValueError(f"{flag} {text!r}: give a number of percentage points, 0 or more")
    return value


def parse_max_share(items: list[str]) -> dict[str, float]:
    """``["Selected wrong tool=0.05", ...]`` → ``{"Selected wrong tool": 0.05}`` (issues resolved later)."""
    limits: dict[str, float] = {}
    for item in items:
        issue, sep, value = item.rpartition("=")
        if not sep or not issue.strip() or not value.strip():
            raise ValueError(f"--max-share {item!r}: write ISSUE=SHARE, e.g. 'wrong-tool=0.05'")
        limits[issue.strip()] = parse_fraction(value, "--max-share", shown=item)
    return limits


def _load(path: str, what: str) -> IssueReport:
    from misattribution.discovery.report import IssueReport

    folder = Path(path)
    if not folder.exists():
        raise ValueError(f"{path}: no such {what} (hint: give the folder that misattribution discover -o wrote)")
    if not folder.is_dir():
        raise ValueError(f"{path}: not a bundle folder (hint: give the folder that misattribution discover -o wrote)")
    try:
        return IssueReport.load(folder)
    except FileNotFoundError as err:
        raise ValueError(f"{err} (hint: give the folder that misattribution discover -o wrote)") from None


def _write_markdown(path: str | None, text: str) -> None:
    if path:
        Path(path).write_text(text, encoding="utf-8")
        print(f"markdown: {path}")


# -- handlers ---------------------------------------------------------------------------------------------
def _run_diff(args: argparse.Namespace) -> int:
    from misattribution.discovery.diff import diff_markdown, diff_reports, format_diff

    alpha = parse_fraction(args.alpha, "--alpha", open_interval=True)
    old, new = _load(args.old, "bundle"), _load(args.new, "bundle")
    table = diff_reports(old, new, alpha=alpha)
    labels = (args.old, args.new)
    print(format_diff(table, labels))
    _write_markdown(args.markdown, diff_markdown(table, labels))
    return EXIT_OK


def _run_compare(args: argparse.Namespace) -> int:
    from misattribution.discovery.diff import compare_markdown, compare_systems, format_compare

    alpha = parse_fraction(args.alpha, "--alpha", open_interval=True)
    report = _load(args.bundle, "bundle")
    system_a, system_b = args.systems
    if system_a == system_b:
        raise ValueError(f"--systems {system_a} {system_b}: give two different systems")
    table = compare_systems(report, system_a, system_b, alpha=alpha)
    print(format_compare(table))
    _write_markdown(args.markdown, compare_markdown(table))
    return EXIT_OK


def _run_check(args: argparse.Namespace) -> int:
    from misattribution.discovery.diff import check_report

    alpha = parse_fraction(args.alpha, "--alpha", open_interval=True)
    limits = parse_max_share(args.max_share or [])
    growth = parse_points(args.max_growth, "--max-growth") if args.max_growth is not None else None
    top = _number(args.top, "--top")
    if top < 0 or not top.is_integer():
        raise ValueError(f"--top {args.top!r}: give a whole number, 0 or more")
    if growth is not None and args.baseline is None:
        raise ValueError("--max-growth compares with a baseline (hint: add --baseline OLD)")
    report = _load(args.bundle, "bundle")
    baseline = _load(args.baseline, "baseline bundle") if args.baseline else None
    result = check_report(
        report,
        baseline=baseline,
        max_share=limits,
        max_growth=growth,
        alpha=alpha,
        top=int(top),
        labels=(args.bundle, args.baseline or ""),
    )
    if args.markdown:
        verdict = f"{len(result.breaches)} breach(es)" if result.breaches else "passed"
        print(f"check: {verdict}")
        for breach in result.breaches:
            print(f"  {breach.name} ({breach.issue_id}): {breach.message}")
        _write_markdown(args.markdown, result.markdown)
    else:
        print(result.markdown, end="")
    return EXIT_BREACH if result.breaches else EXIT_OK
