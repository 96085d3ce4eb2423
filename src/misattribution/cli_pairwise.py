"""``misattribution judge --mode pairwise`` and ``misattribution agreement --mode pairwise``.

    misattribution judge pairs.jsonl --mode pairwise --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl --both-orders
    misattribution agreement judged.jsonl --mode pairwise --human winner

``cli.py`` adds these options to its ``judge`` and ``agreement`` parsers and hands a pairwise run to
:func:`run_judge` / :func:`run_agreement`; the judge is loaded, and errors and Ctrl-C are reported, exactly
as in absolute mode (same exit codes: 0, 1 when pairs are left without a verdict, 2, 130).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from misattribution.io.tables import PAIRWISE_ALIASES, InputError, is_missing

MODES = ("absolute", "pairwise")
# The judge parser's column defaults: a flag left at its default means "find the role by its aliases".
_JUDGE_COLUMN_FLAGS = {
    "question": ("question_column", "question"),
    "reference": ("reference_column", "reference"),
    "criteria": ("criteria_column", "criteria"),
    "id": ("id_column", "id"),
    "answer_a": ("answer_a_column", None),
    "answer_b": ("answer_b_column", None),
    "rubric": ("rubric_column", None),
    "preference": ("preference_column", None),
}


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    """The pairwise options of ``misattribution judge``."""
    group = parser.add_argument_group(
        "pairwise mode (--mode pairwise: which of two responses is better, and why the worse one fails)"
    )
    group.add_argument(
        "--mode",
        choices=MODES,
        default="absolute",
        help="absolute: score each answer; pairwise: compare response A and response B of each row",
    )
    group.add_argument(
        "--both-orders",
        action="store_true",
        help="pairwise: judge each pair as (A, B) and as (B, A); orders that disagree count as a tie "
        "(position-bias control: twice the calls)",
    )
    group.add_argument(
        "--answer-a-column",
        default=None,
        help="pairwise: response A (None: found as answer_a, response_a, chosen, ...)",
    )
    group.add_argument(
        "--answer-b-column",
        default=None,
        help="pairwise: response B (None: found as answer_b, response_b, rejected, ...)",
    )
    group.add_argument(
        "--rubric-column",
        default=None,
        help="per-row rubric (None: found as rubric, score_rubric; absolute mode reads the column rubric)",
    )
    group.add_argument(
        "--preference-column",
        default=None,
        help="pairwise: human preference A / B / tie, checked and kept in the results (None: found as preference, winner, label, ...)",
    )


def add_agreement_options(parser: argparse.ArgumentParser) -> None:
    """The pairwise option of ``misattribution agreement``."""
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="absolute",
        help="pairwise: RESULTS of 'judge --mode pairwise' against human preferences (A / B / tie); --human names "
        "their column (in RESULTS, or a file whose preference column is found by its name, e.g. winner, label)",
    )


def _given_columns(args: argparse.Namespace) -> dict[str, str]:
    given = {}
    for role, (flag, default) in _JUDGE_COLUMN_FLAGS.items():
        value = getattr(args, flag, None)
        if value and value != default:
            given[role] = value
    return given


def run_judge(args: argparse.Namespace) -> int:
    """Judge the pairs of ``args.input`` into ``args.output``; 0, or 1 when pairs are left without a verdict."""
    from misattribution import cli
    from misattribution.pairwise import judge_pairs, read_pairs
    from misattribution.runner import RunConfigError, meta_path, next_run_path

    if args.order != "feedback,misattribution,score":
        raise InputError(
            f"--order {args.order}: applies to absolute mode; a pairwise judgment is feedback, verdict, misattribution"
        )
    if args.export:
        cli.check_export_path(args.export)
    for url in args.endpoint or []:
        cli._check_endpoint(url)
    frame, label, roles = read_pairs(args.input, _given_columns(args), taxonomy=args.taxonomy)
    output = Path(args.output)
    if args.new_run:
        if output.exists() or meta_path(output).exists():
            output = next_run_path(output)
        print(f"new run: writing {output} (to resume this run later, pass -o {output})", file=sys.stderr)
    judge, batch_size = cli._load_cli_judge(args)
    try:
        judged = judge_pairs(
            frame,
            judge,
            output,
            columns=roles,
            taxonomy=args.taxonomy,
            language=args.language,
            both_orders=args.both_orders,
            batch_size=batch_size,
            resume=not args.no_resume,
            progress=not args.quiet,
            name=label,
        )
    except RunConfigError as err:
        hint = f"pass --new-run to write {next_run_path(err.path)} and keep {err.path} as it is"
        raise RunConfigError(err.path, err.changes, new_run_hint=hint) from None
    if args.export:
        cli.export(judged, args.export)
    return _report(judged, output, args)


def _report(judged: pd.DataFrame, output: Path, args: argparse.Namespace) -> int:
    from misattribution.pairwise import verdict_counts
    from misattribution.runner import status_counts

    counts = verdict_counts(judged)
    print(f"judged pairs      {len(judged)}" + ("  (each in both orders)" if args.both_orders else ""))
    print("verdicts          " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    if args.both_orders:
        checked = [c for c in judged["consistent"] if c is not None and not (isinstance(c, float) and pd.isna(c))]
        if checked:
            print(f"position-consistent {sum(map(bool, checked))} of {len(checked)} (the others count as ties)")
    print(f"results: {output}" + (f"  export: {args.export}" if args.export else ""))
    statuses = status_counts(judged)
    print(f"summary: {len(judged)} pairs: " + ", ".join(f"{n} {s}" for s, n in statuses.items()))
    if not counts["none"]:
        return cli_exit("ok")
    reasons = []
    if statuses["error"]:
        reasons.append(f"{statuses['error']} had a generation fail; rerun the same command to retry them")
    unread = counts["none"] - statuses["error"]
    if unread > 0:
        reasons.append(f"{unread} got output whose verdict could not be read (kept raw in {output})")
    print(
        f"misattribution judge: {counts['none']} of {len(judged)} pairs have no verdict: {'; '.join(reasons)}",
        file=sys.stderr,
    )
    return cli_exit("rows_failed")


def cli_exit(name: str) -> int:
    from misattribution import cli

    return {"ok": cli.EXIT_OK, "rows_failed": cli.EXIT_ROWS_FAILED}[name]


# -- agreement ---------------------------------------------------------------------------------------
def _cells(values: Any) -> list[Any]:
    """Verdict cells with every kind of gap (None, NaN, "" from a CSV) as ``None``."""
    return [None if is_missing(v) or (isinstance(v, str) and not v.strip()) else v for v in values]


def _column(frame: pd.DataFrame, name: str, label: str) -> pd.Series:
    if name not in frame.columns:
        raise InputError(f"{label}: no column {name!r} (columns: {', '.join(map(str, frame.columns))})")
    return frame[name]


def run_agreement(args: argparse.Namespace) -> int:
    """Agreement of pairwise verdicts with human preferences: prints the figures, writes them as JSON."""
    from misattribution.cli import human_table
    from misattribution.evaluation import format_pairwise_report, pairwise_report
    from misattribution.pairwise import parse_preferences, read_pair_results

    results = read_pair_results(args.results)
    joined = human_table(args, results, "pairs")
    if joined is not None:
        human, human_label = joined
        column = args.human_score_column
        if column == "score":  # the absolute default: find the preference column by its names
            column = next((c for c in PAIRWISE_ALIASES["preference"] if c in human.columns), column)
        preferences = parse_preferences(list(_column(human, column, human_label)), human_label, column)
    else:
        preferences = parse_preferences(list(_column(results, args.human, args.results)), args.results, args.human)
    verdicts = _cells(_column(results, "verdict", args.results))
    both = "verdict_ba" in results.columns and any(v is not None for v in _cells(results["verdict_ba"]))
    try:
        report = pairwise_report(
            verdicts,
            preferences,
            verdicts_ab=_cells(results["verdict_ab"]) if both else None,
            verdicts_ba=_cells(results["verdict_ba"]) if both else None,
        )
    except ValueError as err:
        raise InputError(f"{args.results}: column {str(err)}") from None
    output = Path(args.output or f"{args.results}.agreement.json")
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(format_pairwise_report(report))
    print(f"written: {output}")
    return 0
