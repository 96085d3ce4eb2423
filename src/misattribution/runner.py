"""Judge a whole table: render prompts, generate in batches, parse, and write results as they come.

:func:`judge_dataset` is what the CLI, the metric and the Space call. With an ``output`` file it is
safe to kill: every batch is appended to a JSONL file and flushed before the next one starts, each
record keyed by a hash of (rendered prompt, row id, model, generation settings). Running it again
skips every key already judged, so no row is judged twice and none is lost. A row whose generation
failed (after the backend's own retries) is recorded with ``status="error"`` and its error, and is
tried again on the next run.

Example (a local OpenAI-compatible stand-in as the judge; ``load_judge("path/or/url")`` gives a real one):
    >>> from misattribution.judges.openai_http import OpenAIHTTPJudge
    >>> from misattribution.testing.fake_openai import FakeOpenAIServer
    >>> rows = [{"question": "What is 2 + 2?", "answer": "4", "reference": "4"}]
    >>> with FakeOpenAIServer() as server:
    ...     results = judge_dataset(rows, OpenAIHTTPJudge(server.url, model="fake-judge"), progress=False)
    >>> results[["score", "misattribution", "status"]].to_dict("records")
    [{'score': 3, 'misattribution': [], 'status': 'ok'}]
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from misattribution import __version__
from misattribution.format import DEFAULT_ORDER, parse_judgment
from misattribution.judges.base import GenerationError, Judge
from misattribution.prompts import build_messages
from misattribution.tables import ColumnMap, InputError, check_columns, optional_text, read_table
from misattribution.taxonomy import Taxonomy, load_taxonomy

logger = logging.getLogger(__name__)

RESULT_COLUMNS = ("feedback", "misattribution", "score", "status", "problems", "raw", "error")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def detect_language(text: str) -> str:
    """``"zh"`` when at least a tenth of the letters are CJK ideographs, else ``"en"``.

    >>> detect_language("3 乘 4 等于多少？"), detect_language("What is 3 x 4?")
    ('zh', 'en')
    """
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "en"
    return "zh" if len(_CJK.findall(text)) >= 0.1 * len(letters) else "en"


def row_key(messages: list[dict[str, str]], model_id: str, settings: Mapping[str, Any], row_id: Any = None) -> str:
    """The cache key of one judgment: same prompt, row id, model and settings → same key."""
    payload = json.dumps(
        {"messages": messages, "model": model_id, "settings": settings, "id": row_id},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def load_results(path: str | Path) -> dict[str, dict[str, Any]]:
    """The records of a results file by key (the latest record of a key wins).

    A last line cut short by a killed run is dropped from the file (with a warning); any other line
    that is not a JSON object raises :class:`InputError` naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return {}
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        warnings.warn(f"{path}: dropping an incomplete last line left by an interrupted run", stacklevel=2)
        with path.open("r+b") as handle:
            handle.truncate(cut)
        data = data[:cut]
    records: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: line {number} is not valid JSON ({err.msg})") from None
        if not isinstance(record, dict) or "key" not in record:
            raise InputError(f"{path}: line {number} is not a results record (no 'key' field)")
        records[record["key"]] = record
    return records


def _record(
    key: str, row: int, row_id: Any, model_id: str, output: str | GenerationError, tax: Taxonomy, order: Sequence[str]
) -> dict[str, Any]:
    base = {"key": key, "row": row, "id": row_id, "model": model_id}
    if isinstance(output, GenerationError):
        return {
            **base,
            "feedback": None,
            "misattribution": None,
            "score": None,
            "status": "error",
            "problems": [f"generation failed ({output.kind}, {output.attempts} attempt(s))"],
            "raw": None,
            "error": str(output),
        }
    judgment = parse_judgment(output, tax, fields=order)
    return {**base, **judgment.to_dict(), "error": None}


def _json_safe(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()  # numpy scalars
    return value


def judge_dataset(
    data: Any,
    judge: Judge,
    output: str | Path | None = None,
    *,
    columns: ColumnMap | Mapping[str, str] | None = None,
    taxonomy: Taxonomy | str | None = None,
    language: str = "en",
    order: Sequence[str] = DEFAULT_ORDER,
    batch_size: int = 64,
    resume: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Judge every row of ``data`` and return the input rows with the judgments.

    Args:
        data: a path (JSONL, JSON, CSV, TSV, Parquet), a ``datasets.Dataset``, a DataFrame, or records.
        judge: any backend of :mod:`misattribution.judges`.
        output: a JSONL file that receives every result as soon as its batch is done. When it exists
            and ``resume`` is true, rows already judged there are not judged again.
        columns: input column names, e.g. ``{"question": "instruction", "answer": "response"}``.
        taxonomy: the taxonomy (or its name) shown to the judge and used to parse its output.
        language: prompt language: ``"en"``, ``"zh"``, or ``"auto"`` (per row, from its text).
        order: the output fields the judge was trained to write, in order.
        batch_size: prompts handed to the backend at once (and flushed to ``output`` together).
        resume: reuse the results in ``output``; ``False`` starts the file afresh.
        progress: show a progress bar.

    Returns:
        The input columns plus ``feedback``, ``misattribution``, ``score``, ``status``,
        ``problems``, ``raw``, ``error`` and ``judge_key``, one row per input row, in input order.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    frame, label = read_table(data)
    cols = ColumnMap.from_any(columns)
    check_columns(frame, cols, label)
    tax = load_taxonomy(taxonomy)
    model_id = judge.model_id
    settings = judge.settings()

    prompts: list[list[dict[str, str]]] = []
    keys: list[str] = []
    ids: list[Any] = []
    for index in range(len(frame)):
        row = frame.iloc[index]
        question, answer = row[cols.question], row[cols.answer]
        reference = optional_text(row[cols.reference]) if cols.reference in frame.columns else None
        criteria = optional_text(row[cols.criteria]) if cols.criteria in frame.columns else None
        row_language = detect_language(f"{question}\n{answer}") if language == "auto" else language
        messages = build_messages(
            question, answer, reference, criteria, taxonomy=tax, language=row_language, order=order
        )
        row_id = _json_safe(row[cols.id]) if cols.id in frame.columns else None
        prompts.append(messages)
        ids.append(row_id)
        keys.append(row_key(messages, model_id, settings, row_id))

    out_path = Path(output) if output is not None else None
    done: dict[str, dict[str, Any]] = {}
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            done = load_results(out_path)
        else:
            out_path.write_text("", encoding="utf-8")
        _write_meta(out_path, judge, tax, language, order, label)

    pending: dict[str, int] = {}
    for index, key in enumerate(keys):
        previous = done.get(key)
        if (previous is None or previous.get("status") == "error") and key not in pending:
            pending[key] = index
    if done:
        logger.info("%s: %d of %d rows already judged", out_path, len(keys) - len(pending), len(keys))

    handle = out_path.open("a", encoding="utf-8") if out_path is not None else None
    try:
        bar = tqdm(total=len(pending), disable=not progress, desc="judging", unit="row")
        items = list(pending.items())
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            outputs = judge.generate([prompts[index] for _, index in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"{type(judge).__name__} returned {len(outputs)} outputs for {len(batch)} prompts")
            records = [
                _record(key, index, ids[index], model_id, text, tax, order)
                for (key, index), text in zip(batch, outputs)
            ]
            if handle is not None:
                handle.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records))
                handle.flush()
                os.fsync(handle.fileno())
            done.update((r["key"], r) for r in records)
            bar.update(len(batch))
        bar.close()
    finally:
        if handle is not None:
            handle.close()

    results = pd.DataFrame([{name: done[key].get(name) for name in RESULT_COLUMNS} for key in keys])
    results["judge_key"] = keys
    inputs = frame.drop(columns=[c for c in (*RESULT_COLUMNS, "judge_key") if c in frame.columns])
    return pd.concat([inputs.reset_index(drop=True), results], axis=1)


def _write_meta(out_path: Path, judge: Judge, tax: Taxonomy, language: str, order: Sequence[str], label: str) -> None:
    meta = {
        "misattribution_version": __version__,
        "input": label,
        "model": judge.model_id,
        "settings": judge.settings(),
        "taxonomy": {"name": tax.name, "version": tax.version},
        "language": language,
        "order": list(order),
    }
    meta_path = out_path.with_name(out_path.name + ".meta.json")
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
