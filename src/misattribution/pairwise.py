"""Pairwise (relative) grading: which of two responses to a question is better, and why the worse one fails.

A table of pairs (question, response A, response B, optional reference, criteria, rubric, human preference)
is read through the input layer (:data:`misattribution.io.tables.PAIRWISE_ALIASES`: ``response_a``,
``chosen`` / ``rejected``, ``winner``, ``label``, ...), every cell checked before any call. Each pair is
rendered by :func:`misattribution.prompts.build_pairwise_messages`, judged by any backend, read by
:func:`misattribution.format.parse_pairwise`, and appended to a results JSONL by the runner's machinery
(:mod:`misattribution.runner`: the same keys, lock, config check, fsynced batches and resume).

**Position bias.** Judges prefer one position. With ``both_orders=True`` every pair is judged twice, as
(A, B) and as (B, A); the second verdict is mapped back (its "A" is our B) and the two are reconciled:

* both orders read and agreeing: that verdict (``consistent`` true);
* both read and disagreeing: a **tie** (``consistent`` false), since the judge's preference followed
  the position, not the content; the worse response is then undecided and ``misattribution`` is ``None``;
* either order unread (generation error or unreadable output): no verdict for the pair (``None``), never a
  guess from the other order alone.

Each order is its own record (``order``: ``"AB"`` / ``"BA"``) with its own key, so a run without
``both_orders`` resumed with it judges only the swapped prompts.

Example (a local stand-in judge that prefers the response containing "12"):
    >>> from misattribution.judges.openai_http import OpenAIHTTPJudge
    >>> from misattribution.testing.fake_openai import FakeOpenAIServer
    >>> def prefers_12(messages):
    ...     a = messages[-1]["content"].split("### Response A")[1].split("### Response B")[0]
    ...     return f"Feedback: one is wrong.\\nBetter response: {'A' if '12' in a else 'B'}\\nMisattribution: Result Error"
    >>> pairs = [{"question": "3 x 4?", "response_a": "14", "response_b": "12", "winner": "B"}]
    >>> with FakeOpenAIServer(responder=prefers_12) as server:
    ...     judged = judge_pairs(pairs, OpenAIHTTPJudge(server.url, model="m"), both_orders=True, progress=False)
    >>> judged[["verdict", "verdict_ab", "verdict_ba", "consistent", "status"]].to_dict("records")
    [{'verdict': 'B', 'verdict_ab': 'B', 'verdict_ba': 'B', 'consistent': True, 'status': 'ok'}]
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from misattribution.format import PAIRWISE_FIELDS, VERDICTS, parse_pairwise
from misattribution.io.tables import (
    PAIRWISE_ALIASES,
    InputError,
    check_unique,
    is_missing,
    read_table,
    resolve_columns,
)
from misattribution.judges.base import GenerationError, Judge
from misattribution.prompts import build_pairwise_messages, check_rubrics
from misattribution.taxonomy import Taxonomy, load_taxonomy

logger = logging.getLogger(__name__)

ORDERS = ("AB", "BA")
#: The columns :func:`judge_pairs` adds to the input rows.
PAIR_RESULT_COLUMNS = (
    "verdict", "feedback", "misattribution", "status", "problems", "raw", "error",
    "verdict_ab", "verdict_ba", "consistent", "feedback_ba", "raw_ba",
)  # fmt: skip
_SWAP = {"A": "B", "B": "A", "tie": "tie"}
_PREFERENCES = {
    "a": "A", "response_a": "A", "answer_a": "A", "model_a": "A", "response a": "A", "1": "A", "chosen": "A",
    "b": "B", "response_b": "B", "answer_b": "B", "model_b": "B", "response b": "B", "2": "B", "rejected": "B",
    "tie": "tie", "draw": "tie", "equal": "tie", "same": "tie", "tie (bothbad)": "tie", "tie (both bad)": "tie",
    "both": "tie", "neither": "tie", "0": "tie", "平局": "tie",
}  # fmt: skip


def parse_preference(value: Any, where: str = "preference") -> str | None:
    """A human preference cell as ``"A"`` / ``"B"`` / ``"tie"``; ``None`` when the cell is empty.

    Strict, unlike the judge's parser: ``A`` / ``B`` / ``tie`` in any case, ``model_a`` / ``response_b`` /
    ``tie (bothbad)`` (Chatbot Arena), ``1`` / ``2`` / ``0`` (A / B / tie). Anything else is an
    :class:`~misattribution.io.tables.InputError` naming ``where``.

    >>> [parse_preference(v) for v in ("A", "model_b", "Tie", 2, None)]
    ['A', 'B', 'tie', 'B', None]
    >>> parse_preference("C", "h.jsonl: row 3, field 'winner'")
    Traceback (most recent call last):
    ...
    misattribution.io.tables.InputError: h.jsonl: row 3, field 'winner': 'C' is not a preference
      hint: write A, B or tie (also model_a / model_b, 1 / 2 / 0)
    """
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    verdict = _PREFERENCES.get(str(value).strip().lower())
    if verdict is None:
        raise InputError(
            f"{where}: {str(value)[:40]!r} is not a preference\n  hint: write A, B or tie (also model_a / model_b, "
            "1 / 2 / 0)"
        )
    return verdict


def parse_preferences(values: Sequence[Any], label: str, column: str) -> list[str | None]:
    """A column of human preferences (see :func:`parse_preference`), one error naming every bad row (1-based)."""
    out: list[str | None] = []
    bad: list[str] = []
    for number, value in enumerate(values, start=1):
        try:
            out.append(parse_preference(value, f"row {number}"))
        except InputError as err:
            bad.append(str(err).split("\n")[0])
            out.append(None)
    if bad:
        more = f" ... and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise InputError(
            f"{label}: column {column!r}: {len(bad)} value(s) are not A, B or tie: {'; '.join(bad[:5])}{more}\n"
            "  hint: write A, B or tie (also model_a / model_b, 1 / 2 / 0); leave the cell empty when unknown"
        )
    return out


# -- reading pairs -----------------------------------------------------------------------------------
def read_pairs(
    data: Any,
    columns: Mapping[str, str | None] | None = None,
    *,
    taxonomy: Taxonomy | str | None = None,
    name: str | None = None,
    max_listed: int = 20,
) -> tuple[pd.DataFrame, str, dict[str, str | None]]:
    """The table of pairs, its label and its roles (role -> column), checked before anything is judged.

    Roles (:data:`~misattribution.io.tables.PAIRWISE_ALIASES`): ``question``, ``answer_a`` and ``answer_b``
    are required; ``id``, ``reference``, ``criteria``, ``rubric`` and ``preference`` are used when present.
    ``columns`` maps a role to a column explicitly. One :class:`InputError` lists every problem: a missing
    or non-text question or response (a response may be ``""``), a rubric whose levels are not the
    taxonomy's scale, a preference that is not A / B / tie, duplicate ids.
    """
    frame, label = read_table(data, name=name)
    roles = resolve_columns(
        frame.columns, label, given=columns, candidates=PAIRWISE_ALIASES, required=("question", "answer_a", "answer_b")
    )
    problems: list[str] = []
    for role in ("question", "answer_a", "answer_b", "reference", "criteria"):
        column = roles[role]
        if column is None:
            continue
        for number, value in enumerate(frame[column], start=1):
            if is_missing(value):
                if role == "question":
                    problems.append(f"row {number}, field {column!r}: missing")
                elif role.startswith("answer"):
                    problems.append(f'row {number}, field {column!r}: missing (use "" for an empty response)')
            elif not isinstance(value, str):
                problems.append(f"row {number}, field {column!r}: expected text, got {type(value).__name__}")
            elif role == "question" and not value.strip():
                problems.append(f"row {number}, field {column!r}: empty")
    if problems:
        more = f"\n  ... and {len(problems) - max_listed} more" if len(problems) > max_listed else ""
        raise InputError(f"{label}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:max_listed]) + more)
    if roles["rubric"]:
        check_rubrics(list(frame[roles["rubric"]]), taxonomy, label, roles["rubric"])
    if roles["preference"]:
        parse_preferences(list(frame[roles["preference"]]), label, roles["preference"])
    if roles["id"]:
        check_unique([_json_value(v) for v in frame[roles["id"]]], label, roles["id"])
    return frame, label, roles


def _json_value(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return None if is_missing(value) else value


# -- judging -----------------------------------------------------------------------------------------
def pairwise_run_config(judge: Judge, taxonomy: Taxonomy | str | None = None, language: str = "en") -> dict[str, Any]:
    """The runner's :func:`~misattribution.runner.run_config` for pairwise prompts: ``mode`` is
    ``"pairwise"``, ``order`` the pairwise fields, and the prompt fingerprint that of the pairwise templates,
    so an absolute results file is never resumed as a pairwise one (or the reverse)."""
    from misattribution.runner import run_config

    tax = load_taxonomy(taxonomy)
    config = run_config(judge, tax, language)
    languages = ("en", "zh") if language == "auto" else (language,)
    rendered = [
        build_pairwise_messages(
            "{question}", "{answer_a}", "{answer_b}", reference, "{criteria}", taxonomy=tax, language=lang
        )
        for lang in languages
        for reference in (None, "{reference}")
    ]
    fingerprint = hashlib.sha256(json.dumps(rendered, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
    config["prompt"] = {"language": language, "sha256": fingerprint}
    config["order"] = list(PAIRWISE_FIELDS)
    config["mode"] = "pairwise"
    return config


def judge_pairs(
    data: Any,
    judge: Judge,
    output: str | Path | None = None,
    *,
    columns: Mapping[str, str | None] | None = None,
    taxonomy: Taxonomy | str | None = None,
    language: str = "en",
    both_orders: bool = False,
    batch_size: int = 64,
    resume: bool = True,
    progress: bool = True,
    name: str | None = None,
) -> pd.DataFrame:
    """Judge every pair of ``data`` and return the input rows with the verdicts.

    Args:
        data: a path, DataFrame, ``datasets.Dataset`` or records with the roles of :func:`read_pairs`.
        judge: any backend of :mod:`misattribution.judges`.
        output: a results JSONL appended batch by batch and resumed as :func:`~misattribution.runner.judge_dataset`
            resumes (one record per pair and order, ``order`` ``"AB"`` or ``"BA"``).
        columns: role -> column, e.g. ``{"answer_a": "model_1", "preference": "gold"}``.
        taxonomy, language, batch_size, resume, progress, name: as in ``judge_dataset``.
        both_orders: judge each pair in both orders and reconcile (see the module docstring).

    Returns:
        The input columns plus ``verdict`` (``"A"`` / ``"B"`` / ``"tie"`` / ``None``), ``feedback``,
        ``misattribution`` (of the worse response), ``status``, ``problems``, ``raw``, ``error``, and
        ``verdict_ab``, ``verdict_ba``, ``consistent``, ``feedback_ba``, ``raw_ba`` (``None`` without
        ``both_orders``). ``status`` is ``ok`` when every order's output was read completely, ``error``
        when a generation failed (rerun to retry), ``failed`` when no order could be read, else ``partial``.

    Raises:
        InputError, RunConfigError, RunLockedError, RunInterrupted: as ``judge_dataset``.
    """
    from misattribution import runner

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    tax = load_taxonomy(taxonomy)
    frame, label, roles = read_pairs(data, columns, taxonomy=tax, name=name)
    model_id, settings = judge.model_id, judge.settings()
    rows = runner.input_records(frame)
    orders = ORDERS if both_orders else ORDERS[:1]
    prompts: list[list[dict[str, str]]] = []
    keys: list[str] = []
    ids: list[Any] = []
    inputs: list[Mapping[str, Any]] = []
    slots: list[tuple[int, str]] = []
    for index, row in enumerate(rows):
        question, answer_a, answer_b = (row[roles[r]] for r in ("question", "answer_a", "answer_b"))
        optional = {r: row[roles[r]] if roles[r] else None for r in ("reference", "criteria", "rubric")}
        row_language = runner.detect_language(f"{question}\n{answer_a}\n{answer_b}") if language == "auto" else language
        row_id = _json_value(row[roles["id"]]) if roles["id"] else None
        for order in orders:
            first, second = (answer_a, answer_b) if order == "AB" else (answer_b, answer_a)
            messages = build_pairwise_messages(
                question,
                first,
                second,
                optional["reference"] if isinstance(optional["reference"], str) else None,
                optional["criteria"] if isinstance(optional["criteria"], str) else None,
                rubric=optional["rubric"],
                taxonomy=tax,
                language=row_language,
            )
            prompts.append(messages)
            keys.append(runner.row_key(messages, model_id, settings, {"id": row_id, "order": order}))
            ids.append(row_id)
            inputs.append(row)
            slots.append((index, order))

    def make_record(key, prompt_index, row_id, model, text, tax, order, inputs_):  # noqa: ANN001, ARG001
        return _pair_record(key, *slots[prompt_index], row_id, model, text, tax, inputs_)

    common = (judge, prompts, keys, ids)
    if output is None:
        done: dict[str, dict[str, Any]] = {}
        runner._judge_pending(*common, done, None, tax, PAIRWISE_FIELDS, batch_size, progress, inputs, make_record)
    else:
        out_path = Path(output)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        config = pairwise_run_config(judge, tax, language)
        with runner.output_lock(out_path):
            done = runner.load_results(out_path) if resume else {}
            if resume:
                runner._check_config(out_path, done, config)
            else:
                out_path.write_text("", encoding="utf-8")
            runner._write_meta(out_path, config, label)
            if done:
                judged = sum(1 for key in keys if key in done and done[key].get("status") != "error")
                logger.info("%s: %d of %d judgments already made", out_path, judged, len(keys))
            runner._judge_pending(
                *common, done, out_path, tax, PAIRWISE_FIELDS, batch_size, progress, inputs, make_record
            )
    by_row: dict[int, dict[str, dict[str, Any]]] = {}
    for key, (index, order) in zip(keys, slots):
        by_row.setdefault(index, {})[order] = done[key]
    results = pd.DataFrame([reconcile(by_row[i].get("AB"), by_row[i].get("BA")) for i in range(len(frame))])
    results["judge_keys"] = [[k for k, (i, _) in zip(keys, slots) if i == index] for index in range(len(frame))]
    kept = frame.drop(columns=[c for c in (*PAIR_RESULT_COLUMNS, "judge_keys") if c in frame.columns])
    return pd.concat([kept.reset_index(drop=True), results], axis=1)


def _pair_record(
    key: str,
    index: int,
    order: str,
    row_id: Any,
    model_id: str,
    output: str | GenerationError,
    tax: Taxonomy,
    inputs: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One order's record. ``verdict`` and ``misattribution`` are as the judge saw the pair in that order."""
    base = {"key": key, "row": index, "id": row_id, "order": order, "model": model_id, "mode": "pairwise"}
    if inputs is not None:
        base["input"] = dict(inputs)
    if isinstance(output, GenerationError):
        from misattribution.runner import generation_failure

        return {**base, "feedback": None, "verdict": None, "misattribution": None, **generation_failure(output)}
    return {**base, **parse_pairwise(output, tax).to_dict(), "error": None}


def reconcile(ab: Mapping[str, Any] | None, ba: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One pair's result from its (A, B) record and, when judged in both orders, its (B, A) record.

    The (B, A) verdict is mapped back (its A is our B); the rules are the module docstring's: agreeing
    orders give their verdict, disagreeing ones a tie (``consistent`` false), an unread order no verdict.

    >>> ab = {"verdict": "A", "feedback": "f", "misattribution": ["typos"], "status": "ok", "problems": []}
    >>> reconcile(ab, {**ab, "verdict": "A"})["verdict"], reconcile(ab, {**ab, "verdict": "B"})["verdict"]
    ('tie', 'A')
    """
    ab = dict(ab or {})
    out = {
        "verdict": ab.get("verdict"),
        "feedback": ab.get("feedback"),
        "misattribution": ab.get("misattribution"),
        "status": ab.get("status", "error"),
        "problems": list(ab.get("problems") or []),
        "raw": ab.get("raw"),
        "error": ab.get("error"),
        "verdict_ab": ab.get("verdict"),
        "verdict_ba": None,
        "consistent": None,
        "feedback_ba": None,
        "raw_ba": None,
    }
    if ba is None:
        return out
    swapped = _SWAP.get(ba.get("verdict")) if ba.get("verdict") is not None else None
    statuses = {out["status"], ba.get("status", "error")}
    out.update(
        verdict_ba=swapped,
        feedback_ba=ba.get("feedback"),
        raw_ba=ba.get("raw"),
        problems=out["problems"] + [f"BA: {p}" for p in ba.get("problems") or []],
        error=out["error"] or ba.get("error"),
    )
    if "error" in statuses:
        out["status"] = "error"
    elif statuses == {"ok"}:
        out["status"] = "ok"
    elif statuses == {"failed"}:
        out["status"] = "failed"
    else:
        out["status"] = "partial"
    if out["verdict_ab"] is None or swapped is None:
        out["verdict"] = None
        if out["verdict_ab"] is not None or swapped is not None:
            out["problems"].append("position check: one order has no verdict, so the pair has none")
        return out
    out["consistent"] = out["verdict_ab"] == swapped
    if out["consistent"]:
        if out["misattribution"] is None:
            out["misattribution"] = ba.get("misattribution")
        return out
    out["verdict"] = "tie"
    out["misattribution"] = None
    out["problems"].append(
        f"position-inconsistent: {out['verdict_ab']} as (A, B), {swapped} as (B, A); counted as a tie"
    )
    return out


def verdict_counts(judged: pd.DataFrame) -> dict[str, int]:
    """Pairs per verdict, ``None`` counted as ``"none"``: ``{"A": 7, "B": 9, "tie": 3, "none": 1}``."""
    counts = {v: 0 for v in (*VERDICTS, "none")}
    for verdict in judged["verdict"]:
        counts[verdict if verdict in VERDICTS else "none"] += 1
    return counts


def read_pair_results(path: str | Path) -> pd.DataFrame:
    """Pairwise results as one row per pair: a results JSONL of :func:`judge_pairs` (its records reconciled
    per row, with each row's input columns), or a table it exported (a ``verdict`` column)."""
    from misattribution.discovery.inputs import with_input_columns

    frame, label = read_table(path)
    if {"key", "row", "order", "verdict"} <= set(frame.columns):
        latest = frame.drop_duplicates("key", keep="last")
        rows = []
        for _, group in latest.groupby("row", sort=True):
            records = {r["order"]: r for r in group.to_dict("records")}
            first = records.get("AB") or next(iter(records.values()))
            row = {"row": first["row"], "id": first.get("id"), "input": first.get("input")}
            rows.append({**row, **reconcile(records.get("AB"), records.get("BA"))})
        return with_input_columns(pd.DataFrame(rows))
    if "verdict" not in frame.columns:
        raise InputError(
            f"{label}: no 'verdict' column and not a pairwise results file (columns: {', '.join(map(str, frame.columns))})"
            "\n  hint: give the OUTPUT or --export of 'misattribution judge --mode pairwise'"
        )
    return frame
