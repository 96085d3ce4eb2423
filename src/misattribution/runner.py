"""Judge a whole table: render prompts, generate in batches, parse, and write results as they come.

:func:`judge_dataset` is what the CLI, the metric and the Space call. With an ``output`` file it is
safe to kill: every batch is appended to a JSONL file and flushed before the next one starts, each
record keyed by a hash of (rendered prompt, row id, model, generation settings) and carrying its
row's input columns (``input``: question, answer, reference, system, ...), so that the results file
alone feeds discovery and its rule detectors. Running it again
skips every key already judged, so no row is judged twice and none is lost. A row whose generation
failed (after the backend's own retries) is recorded with ``status="error"`` and its error, and is
tried again on the next run.

A results file belongs to one judge configuration: ``OUTPUT.meta.json`` records it (backend, model,
served name, prompt fingerprint and language, taxonomy and version, sampling, output order), and a
resume with another configuration is refused with a :class:`RunConfigError` naming every field that
changed (start a separate file instead: :func:`next_run_path`). While a run writes ``OUTPUT`` it holds
``OUTPUT.lock`` (an ``fcntl`` lock where there is one, else an ``O_EXCL`` file with the writer's pid;
a lock whose process is gone is stale and taken over), so a second writer is refused with a
:class:`RunLockedError` instead of judging the same rows again. A Ctrl-C stops after the batch being
written (never half a record) and raises :class:`RunInterrupted` saying how many rows are saved.

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

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import socket
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from misattribution import __version__
from misattribution.format import DEFAULT_ORDER, parse_judgment
from misattribution.io.tables import ColumnMap, InputError, check_columns, optional_text, read_table
from misattribution.judges.base import GenerationError, Judge
from misattribution.prompts import AGENT_KINDS, build_agent_messages, build_messages, check_rubrics
from misattribution.redaction import redact
from misattribution.taxonomy import Taxonomy, load_taxonomy

logger = logging.getLogger(__name__)

RESULT_COLUMNS = ("feedback", "misattribution", "score", "status", "problems", "raw", "error")
STATUSES = ("ok", "partial", "failed", "error")
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
    key: str,
    row: int,
    row_id: Any,
    model_id: str,
    output: str | GenerationError,
    tax: Taxonomy,
    order: Sequence[str],
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    base = {"key": key, "row": row, "id": row_id, "model": model_id}
    if inputs is not None:
        base["input"] = dict(inputs)
    if isinstance(output, GenerationError):
        return {**base, "feedback": None, "misattribution": None, "score": None, **generation_failure(output)}
    judgment = parse_judgment(output, tax, fields=order)
    return {**base, **judgment.to_dict(), "error": None}


def generation_failure(error: GenerationError) -> dict[str, Any]:
    """The status fields of a record whose generation failed (every mode's records end with them)."""
    return {
        "status": "error",
        "problems": [f"generation failed ({error.kind}, {error.attempts} attempt(s))"],
        "raw": None,
        "error": redact(str(error)),  # backends mask their own secrets; this catches any other
    }


def _json_safe(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()  # numpy scalars
    return value


def input_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The input columns of every row as JSON values (a gap is ``None``), as each results record carries
    them under ``input``: discovery reads the question, answer, reference and system from there, so a results
    file alone is enough for every later stage (the rule detectors need the answer and the reference).

    >>> input_records(pd.DataFrame([{"question": "2 + 2?", "answer": 4, "reference": float("nan")}]))
    [{'question': '2 + 2?', 'answer': 4, 'reference': None}]
    """
    kept = frame.drop(columns=[c for c in (*RESULT_COLUMNS, "judge_key") if c in frame.columns])
    records = kept.to_dict("records")
    for record in records:
        for column, value in record.items():
            value = _json_safe(value)
            if hasattr(value, "tolist"):
                value = value.tolist()  # numpy arrays (list cells of a Parquet input)
            elif not isinstance(value, (str, list, dict, tuple)) and pd.isna(value):
                value = None
            record[column] = value
    return [{str(k): v for k, v in record.items()} for record in records]


class RunConfigError(InputError):
    """A results file written by another judge configuration: resuming would mix two judges in one file.

    Attributes:
        path: the results file.
        changes: one ``"field: recorded -> now"`` line per field that differs.
    """

    def __init__(self, path: Path, changes: list[str], new_run_hint: str | None = None):
        self.path, self.changes = path, changes
        new_run = new_run_hint or f"start a separate file, e.g. {next_run_path(path)}"
        super().__init__(
            f"{path}: written by another judge config ({'; '.join(changes)}); resuming would mix two judges in "
            f"one file (hint: rerun with the recorded settings to resume, or {new_run})"
        )


class RunLockedError(InputError):
    """Another live process is writing the same results file."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`judge_dataset`. Every batch written before it is complete and saved.

    Attributes:
        path: the results file (``None`` without one).
        saved: rows of this input with a judgment in ``path`` (generation errors not counted).
        total: rows of this input.
    """

    def __init__(self, path: Path | None, saved: int, total: int):
        self.path, self.saved, self.total = path, saved, total
        where = f"saved in {path}" if path is not None else "judged (no output file: nothing saved)"
        super().__init__(f"{saved} of {total} rows {where}")


# -- the run's configuration -------------------------------------------------------------------------
def run_config(
    judge: Judge, taxonomy: Taxonomy | str | None = None, language: str = "en", order: Sequence[str] = DEFAULT_ORDER
) -> dict[str, Any]:
    """What a results file's judgments depend on, recorded in its meta and compared on resume.

    ``backend``, ``model`` (the judge's ``model_id``), ``served_model`` (the name sent to an endpoint),
    ``prompt`` (language and a fingerprint of the rendered templates, so an edited prompt counts as a
    change), ``taxonomy`` (name and version), ``sampling``, ``order`` and the backend's other
    ``settings()`` (``backend_settings``: dtype, chat template, extra body fields, ...).

    >>> from misattribution.judges.openai_http import OpenAIHTTPJudge
    >>> config = run_config(OpenAIHTTPJudge("http://127.0.0.1:9/v1", model="m"))
    >>> config["backend"], config["served_model"], config["sampling"]["temperature"], config["order"]
    ('openai_http', 'm', 0.8, ['feedback', 'misattribution', 'score'])
    """
    tax = load_taxonomy(taxonomy)
    settings = json.loads(json.dumps(judge.settings(), default=str))
    backend = settings.pop("backend", type(judge).__name__)
    sampling = settings.pop("sampling", None)
    served = settings.pop("model", None)
    return {
        "backend": backend,
        "model": judge.model_id,
        "served_model": served if backend == "openai_http" else None,
        "prompt": {"language": language, "sha256": _prompt_fingerprint(tax, language, order)},
        "taxonomy": {"name": tax.name, "version": tax.version},
        "sampling": sampling,
        "order": list(order),
        "backend_settings": settings,
    }


def _prompt_fingerprint(tax: Taxonomy, language: str, order: Sequence[str]) -> str:
    languages = ("en", "zh") if language == "auto" else (language,)
    rendered = [
        build_messages("{question}", "{answer}", reference, "{criteria}", taxonomy=tax, language=lang, order=order)
        for lang in languages
        for reference in (None, "{reference}")
    ]
    return hashlib.sha256(json.dumps(rendered, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def config_changes(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"field: recorded -> now"`` for every field that differs, in a stable order.

    >>> config_changes({"sampling": {"temperature": 0.8}}, {"sampling": {"temperature": 0.5}})
    ['sampling.temperature: 0.8 -> 0.5']
    """
    old, new = _flatten(dict(recorded)), _flatten(dict(current))
    return [
        f"{name}: {json.dumps(old.get(name), ensure_ascii=False)} -> {json.dumps(new.get(name), ensure_ascii=False)}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def _recorded_config(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The config in a meta file; for a file written before configs were recorded, what it does say."""
    if isinstance(meta.get("config"), dict):
        return dict(meta["config"])
    legacy: dict[str, Any] = {}
    if "model" in meta:
        legacy["model"] = meta["model"]
    settings = meta.get("settings")
    if isinstance(settings, dict):
        if "backend" in settings:
            legacy["backend"] = settings["backend"]
        if "sampling" in settings:
            legacy["sampling"] = settings["sampling"]
    if isinstance(meta.get("taxonomy"), dict):
        legacy["taxonomy"] = meta["taxonomy"]
    if "language" in meta:
        legacy["prompt"] = {"language": meta["language"]}
    if "order" in meta:
        legacy["order"] = meta["order"]
    return legacy


def _comparable(current: Mapping[str, Any], recorded: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` cut down to the fields ``recorded`` has (an older meta file records fewer)."""
    flat_recorded = _flatten(dict(recorded))
    return {k: v for k, v in _flatten(dict(current)).items() if k in flat_recorded}


def meta_path(output: str | Path) -> Path:
    """The meta file of a results file: ``judged.jsonl`` -> ``judged.jsonl.meta.json``."""
    output = Path(output)
    return output.with_name(output.name + ".meta.json")


def next_run_path(output: str | Path) -> Path:
    """The first free ``<stem>.runN<suffix>`` next to ``output`` (N from 2): where a new run goes.

    >>> next_run_path("/nonexistent/judged.jsonl").name
    'judged.run2.jsonl'
    """
    output = Path(output)
    stem, suffix = output.stem, output.suffix
    match = re.fullmatch(r"(.*)\.run(\d+)", stem)
    base, number = (match.group(1), int(match.group(2)) + 1) if match else (stem, 2)
    while True:
        candidate = output.with_name(f"{base}.run{number}{suffix}")
        if not candidate.exists() and not meta_path(candidate).exists():
            return candidate
        number += 1


# -- one writer per results file ---------------------------------------------------------------------
def lock_path(output: str | Path) -> Path:
    """The lock file of a results file: ``judged.jsonl`` -> ``judged.jsonl.lock``."""
    output = Path(output)
    return output.with_name(output.name + ".lock")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return False
    return True


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _locked_message(output: Path, holder: Mapping[str, Any]) -> str:
    who = f"pid {holder['pid']}" if holder.get("pid") else "another process"
    since = f" since {holder['started']}" if holder.get("started") else ""
    return (
        f"{output}: another run is writing this file ({who}{since}) (hint: wait for it to finish, or write "
        f"to another -o; if no run is active, delete {lock_path(output)})"
    )


@contextlib.contextmanager
def output_lock(output: str | Path) -> Iterator[Path]:
    """Hold ``OUTPUT.lock`` while writing ``output``; raise :class:`RunLockedError` if a live run holds it.

    With ``fcntl`` the lock is a kernel ``flock`` (released by the kernel even after a ``kill -9``); the
    file also holds the writer's pid, host and start time for the message. Without ``fcntl`` it is an
    ``O_EXCL`` file, and one whose pid is no longer running on this host is stale and taken over.
    """
    output = Path(output)
    path = lock_path(output)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        with _flock(path, fcntl, output, holder):
            yield path
        return
    _create_exclusive(path, output, holder)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def _flock(path: Path, fcntl: Any, output: Path, holder: dict[str, Any]) -> Iterator[None]:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(_locked_message(output, _read_holder(path))) from None
        # The holder before us may have removed the file between our open and our lock: then we hold a
        # lock on a file nobody else will ever open. Lock the file that is there now instead.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(holder).encode("utf-8"))
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _create_exclusive(path: Path, output: Path, holder: dict[str, Any]) -> None:
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            current = _read_holder(path)
            pid = current.get("pid")
            stale = isinstance(pid, int) and current.get("host") == holder["host"] and not _pid_alive(pid)
            if not stale:
                raise RunLockedError(_locked_message(output, current)) from None
            logger.warning("%s: removing a stale lock left by pid %s, which is no longer running", path, pid)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(holder, handle)
        return
    raise RunLockedError(_locked_message(output, _read_holder(path)))


# -- input checks ------------------------------------------------------------------------------------
def check_unique_ids(frame: pd.DataFrame, column: str | None, label: str) -> None:
    """Raise :class:`InputError` when two rows share an id (an id keys each row's result).

    The input layer's check (:func:`misattribution.io.tables.check_unique`: the file, the column, an id
    and its rows); missing ids are not compared, and list or dict ids are compared as JSON.
    """
    from misattribution.io.tables import check_unique

    if not column or column not in frame.columns:
        return
    values = [_json_safe(v) for v in frame[column]]
    hashable = [json.dumps(v, sort_keys=True, default=str) if isinstance(v, (list, dict)) else v for v in values]
    check_unique(hashable, label, column)


def read_rows(data: Any, columns: ColumnMap | Mapping[str, str] | None = None) -> tuple[pd.DataFrame, str]:
    """``data`` as a DataFrame and its label, checked as :func:`judge_dataset` checks it before any call:
    the columns, every question and answer cell, and unique ids."""
    frame, label = read_table(data)
    cols = ColumnMap.from_any(columns)
    check_columns(frame, cols, label)
    check_unique_ids(frame, cols.id, label)
    return frame, label


def status_counts(judged: pd.DataFrame) -> dict[str, int]:
    """Rows per status, every status present: ``{"ok": 7, "partial": 1, "failed": 0, "error": 2}``."""
    counts = Counter(str(s) for s in judged["status"]) if "status" in judged else Counter()
    return {status: counts.get(status, 0) for status in STATUSES} | {
        s: n for s, n in counts.items() if s not in STATUSES
    }


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a Ctrl-C back until the block ends, so a batch is written whole or not at all.

    Only in the main thread (where Python runs signal handlers); elsewhere a cut line is dropped on the
    next load. A handler records the signal and the block raises it once done: blocking SIGINT with
    ``pthread_sigmask`` is not enough, since another thread (an HTTP judge's) can receive it and Python
    still raises the KeyboardInterrupt in the main thread mid-block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def render_row(
    row: Mapping[str, Any],
    cols: ColumnMap,
    tax: Taxonomy,
    language: str,
    order: Sequence[str],
    model_id: str,
    settings: Mapping[str, Any],
) -> tuple[list[dict[str, str]], str, Any]:
    """One input row's judge prompt, its results key and its id, as :func:`judge_dataset` makes them.

    ``row`` is a DataFrame row or a mapping of column names to values; a missing reference, criteria or
    id column is left out. Every engine (:mod:`misattribution.engines`) renders rows with this function,
    so a row gets the same key whichever process judges it.
    """
    question, answer = row[cols.question], row[cols.answer]
    reference = optional_text(row[cols.reference]) if cols.reference in row else None
    criteria = optional_text(row[cols.criteria]) if cols.criteria in row else None
    row_language = detect_language(f"{question}\n{answer}") if language == "auto" else language
    rubric = row[cols.rubric] if cols.rubric and cols.rubric in row else None  # checked by check_rubrics
    if "kind" in row and row["kind"] in AGENT_KINDS:  # a step or trajectory of an agent trace: its variant
        messages = build_agent_messages(row, question, answer, taxonomy=tax, language=row_language, order=order)
    else:
        messages = build_messages(
            question, answer, reference, criteria, taxonomy=tax, language=row_language, order=order, rubric=rubric
        )
    row_id = _json_safe(row[cols.id]) if cols.id in row else None
    return messages, row_key(messages, model_id, settings, row_id), row_id


# -- the run -----------------------------------------------------------------------------------------
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
    name: str | None = None,
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
        name: how ``data`` is named in messages and the meta file (default: its path).

    Returns:
        The input columns plus ``feedback``, ``misattribution``, ``score``, ``status``,
        ``problems``, ``raw``, ``error`` and ``judge_key``, one row per input row, in input order.

    Raises:
        InputError: a bad input table (every problem with its row and field), or duplicate ids; nothing
            is sent to the judge.
        RunConfigError: ``output`` holds results of another judge configuration (see :func:`run_config`).
        RunLockedError: another live process is writing ``output``.
        RunInterrupted: Ctrl-C; every batch finished before it is saved (a subclass of KeyboardInterrupt).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    frame, label = read_table(data, name=name)
    cols = ColumnMap.from_any(columns)
    check_columns(frame, cols, label)
    check_unique_ids(frame, cols.id, label)
    tax = load_taxonomy(taxonomy)
    if cols.rubric and cols.rubric in frame.columns:  # every bad rubric named before any call
        check_rubrics(list(frame[cols.rubric]), tax, label, cols.rubric)
    model_id = judge.model_id
    settings = judge.settings()

    prompts: list[list[dict[str, str]]] = []
    keys: list[str] = []
    ids: list[Any] = []
    inputs = input_records(frame)
    for index in range(len(frame)):
        messages, key, row_id = render_row(frame.iloc[index], cols, tax, language, order, model_id, settings)
        prompts.append(messages)
        ids.append(row_id)
        keys.append(key)

    if output is None:
        done: dict[str, dict[str, Any]] = {}
        _judge_pending(judge, prompts, keys, ids, done, None, tax, order, batch_size, progress, inputs)
    else:
        out_path = Path(output)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        config = run_config(judge, tax, language, order)
        with output_lock(out_path):
            done = load_results(out_path) if resume else {}
            if resume:
                _check_config(out_path, done, config)
            else:
                out_path.write_text("", encoding="utf-8")
            _write_meta(out_path, config, label)
            if done:
                judged = sum(1 for key in keys if key in done and done[key].get("status") != "error")
                logger.info("%s: %d of %d rows already judged", out_path, judged, len(keys))
            _judge_pending(judge, prompts, keys, ids, done, out_path, tax, order, batch_size, progress, inputs)

    results = pd.DataFrame([{name: done[key].get(name) for name in RESULT_COLUMNS} for key in keys])
    results["judge_key"] = keys
    inputs = frame.drop(columns=[c for c in (*RESULT_COLUMNS, "judge_key") if c in frame.columns])
    return pd.concat([inputs.reset_index(drop=True), results], axis=1)


def _check_config(out_path: Path, done: Mapping[str, Any], config: dict[str, Any]) -> None:
    """Refuse to resume into a file whose results came from another judge configuration."""
    if not done:
        return  # nothing to mix with: a new file, or one killed before its first batch
    meta_file = meta_path(out_path)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        warnings.warn(f"{out_path}: no {meta_file.name}; its judge config cannot be checked", stacklevel=3)
        return
    except (OSError, ValueError) as err:
        raise InputError(
            f"{meta_file}: not a readable meta file ({err}) (hint: restore it, or start a new run)"
        ) from None
    recorded = _recorded_config(meta if isinstance(meta, dict) else {})
    changes = config_changes(recorded, _comparable(config, recorded))
    if changes:
        raise RunConfigError(out_path, changes)


def _judge_pending(
    judge: Judge,
    prompts: list[list[dict[str, str]]],
    keys: list[str],
    ids: list[Any],
    done: dict[str, dict[str, Any]],
    out_path: Path | None,
    tax: Taxonomy,
    order: Sequence[str],
    batch_size: int,
    progress: bool,
    inputs: Sequence[Mapping[str, Any]] | None = None,
    make_record: Any = None,
) -> None:
    """Generate, parse and append (flushed, fsynced) every row not yet judged, batch by batch; each record
    carries its row's input columns (``input``) when ``inputs`` are given. ``make_record`` (same arguments
    as ``_record``) builds another kind of record: the pairwise mode's (:mod:`misattribution.pairwise`)."""
    make_record = make_record or _record
    pending: dict[str, int] = {}
    for index, key in enumerate(keys):
        previous = done.get(key)
        if (previous is None or previous.get("status") == "error") and key not in pending:
            pending[key] = index
    model_id = judge.model_id
    handle = out_path.open("a", encoding="utf-8") if out_path is not None else None
    bar = tqdm(total=len(pending), disable=not progress, desc="judging", unit="row")
    try:
        items = list(pending.items())
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            outputs = judge.generate([prompts[index] for _, index in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"{type(judge).__name__} returned {len(outputs)} outputs for {len(batch)} prompts")
            records = [
                make_record(key, index, ids[index], model_id, text, tax, order, inputs[index] if inputs else None)
                for (key, index), text in zip(batch, outputs)
            ]
            with _sigint_deferred():
                if handle is not None:
                    handle.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records))
                    handle.flush()
                    os.fsync(handle.fileno())
                done.update((r["key"], r) for r in records)
            bar.update(len(batch))
    except KeyboardInterrupt:
        saved = sum(1 for key in set(keys) if key in done and done[key].get("status") != "error")
        raise RunInterrupted(out_path, saved, len(set(keys))) from None
    finally:
        bar.close()
        if handle is not None:
            handle.close()


def _write_meta(out_path: Path, config: dict[str, Any], label: str) -> None:
    """Write ``OUTPUT.meta.json`` atomically: the run's config plus, at the top level, the fields that
    readers of older meta files use (``model``, ``taxonomy``, ``language``, ``order``)."""
    meta = {
        "misattribution_version": __version__,
        "input": redact(label),
        "config": config,
        "model": config["model"],
        "taxonomy": config["taxonomy"],
        "language": config["prompt"]["language"],
        "order": config["order"],
    }
    target = meta_path(out_path)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, target)
