"""One call from answers to a diagnosis: judge (when needed), discover, summarise, write the bundle.

:func:`analyze` runs the stages its input needs and skips what the input already has:

1. **judge** — only when the input has no feedback and score columns. Results go to
   ``RUN_DIR/judged.jsonl`` through :func:`misattribution.runner.judge_dataset`, so a rerun (after a
   ``kill -9`` too) judges only the rows not yet judged, and each record carries its row's input columns;
2. **discover** — :func:`misattribution.discovery.pipeline.discover` on the judged rows (LLM-free modes by
   default: ``clusters+rules``); cheap, so it is redone on every run, never the judge;
3. **summary** — the plain-language summary ``discover`` stores in ``report.meta["summary"]``;
4. **bundle** — ``RUN_DIR/bundle/``, which ``misattribution serve --bundle`` (or ``analyze --serve``) opens.

Before any LLM call it works out the cost (:func:`estimate_judge_cost`: the calls still to make, one per row
not yet judged, and the prompt tokens estimated from the rendered prompts, :func:`misattribution.prompts.build_messages`),
reports it, and refuses with a :class:`CallLimitError` when it exceeds ``max_calls``.

Example (a loopback OpenAI-compatible judge; any ``load_judge`` spec works):
    >>> import tempfile
    >>> from misattribution.testing.fake_openai import FakeOpenAIServer
    >>> rows = [{"question": "What is 2 + 2?", "answer": "4", "reference": "4"}] * 2
    >>> rows = [dict(r, id=str(i)) for i, r in enumerate(rows)]
    >>> with FakeOpenAIServer() as server, tempfile.TemporaryDirectory() as run_dir:
    ...     report = analyze(rows, run_dir, judge=server.url, mode="rules", echo=lambda line: None)
    ...     calls = len(server.chat_requests)
    >>> calls, len(report.rows)
    (2, 2)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from misattribution.format import DEFAULT_ORDER
from misattribution.io.tables import ALIASES, InputError, read_table

logger = logging.getLogger(__name__)

#: Where the stages write inside the run folder.
JUDGED_NAME, BUNDLE_NAME = "judged.jsonl", "bundle"
#: Characters per token used to estimate prompt tokens (a common rule of thumb for English text).
CHARS_PER_TOKEN = 4


class CallLimitError(InputError):
    """The run would make more LLM calls than ``max_calls`` allows; nothing was called."""


@dataclass(frozen=True)
class JudgeCost:
    """What the judge stage will cost: ``rows`` in the input, ``calls`` still to make (one per row not
    judged yet), ``prompt_tokens`` estimated for those calls and ``max_output_tokens`` at most."""

    rows: int
    calls: int
    prompt_tokens: int
    max_output_tokens: int

    def line(self) -> str:
        """``cost: judge 40 rows x 1 call = 40 LLM calls (0 already judged), ~12,300 prompt tokens ...``."""
        done = self.rows - self.calls
        return (
            f"cost: judge {self.rows} rows x 1 call = {self.rows} LLM calls, {self.calls} to make ({done} already "
            f"judged), ~{self.prompt_tokens:,} prompt tokens (estimated at {CHARS_PER_TOKEN} characters per token) "
            f"+ at most {self.max_output_tokens:,} output tokens"
        )


def needs_judging(source: Any) -> bool:
    """Whether ``source`` still has to be judged: it has no feedback and no score column.

    A folder or ``.zip`` (a CLEAR bundle, a report bundle) counts as judged.

    >>> needs_judging([{"question": "q", "answer": "a"}]), needs_judging([{"critique": "ok", "grade": 3}])
    (True, False)
    """
    if isinstance(source, (str, Path)) and (Path(source).is_dir() or str(source).lower().endswith(".zip")):
        return False
    frame, _ = read_table(source)
    return not _has_role(frame, "feedback") or not _has_role(frame, "score")


def _has_role(frame: pd.DataFrame, role: str) -> bool:
    names = set(frame.columns)
    return any(name in names for name in ALIASES[role]) or (role == "feedback" and "evaluation_text" in names)


def estimate_judge_cost(
    frame: pd.DataFrame,
    judge: Any,
    output: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    taxonomy: Any = None,
    language: str = "en",
    order: Sequence[str] = DEFAULT_ORDER,
) -> JudgeCost:
    """The calls :func:`~misattribution.runner.judge_dataset` will make on ``frame`` into ``output``.

    The prompts are rendered and keyed exactly as the runner does (:func:`~misattribution.runner.row_key`),
    so a row already judged in ``output`` (status other than ``error``) costs nothing.
    """
    from misattribution.io.tables import ColumnMap, optional_text
    from misattribution.prompts import build_messages
    from misattribution.runner import detect_language, load_results, row_key
    from misattribution.taxonomy import load_taxonomy

    cols = ColumnMap.from_any(columns)
    tax = load_taxonomy(taxonomy)
    done = load_results(output) if Path(output).exists() else {}
    model_id, settings = judge.model_id, judge.settings()
    pending: set[str] = set()
    prompt_chars = 0
    for index in range(len(frame)):
        row = frame.iloc[index]
        question, answer = row[cols.question], row[cols.answer]
        reference = optional_text(row[cols.reference]) if cols.reference in frame.columns else None
        criteria = optional_text(row[cols.criteria]) if cols.criteria in frame.columns else None
        row_language = detect_language(f"{question}\n{answer}") if language == "auto" else language
        messages = build_messages(
            question, answer, reference, criteria, taxonomy=tax, language=row_language, order=order
        )
        row_id = row[cols.id] if cols.id in frame.columns else None
        row_id = row_id.item() if hasattr(row_id, "item") else row_id
        key = row_key(messages, model_id, settings, row_id)
        previous = done.get(key)
        if (previous is None or previous.get("status") == "error") and key not in pending:
            pending.add(key)
            prompt_chars += sum(len(m["content"]) for m in messages)
    sampling = settings.get("sampling") or {}
    max_new = int(sampling.get("max_new_tokens") or 0) if isinstance(sampling, Mapping) else 0
    return JudgeCost(
        rows=len(frame),
        calls=len(pending),
        prompt_tokens=-(-prompt_chars // CHARS_PER_TOKEN),
        max_output_tokens=max_new * len(pending),
    )


def analyze(
    source: Any,
    output_dir: str | Path,
    *,
    judge: Any = None,
    max_calls: int | None = None,
    mode: str = "clusters+rules",
    columns: Mapping[str, str] | None = None,
    taxonomy: Any = None,
    language: str = "en",
    order: Sequence[str] = DEFAULT_ORDER,
    batch_size: int = 64,
    judge_options: Mapping[str, Any] | None = None,
    discover_options: Mapping[str, Any] | None = None,
    progress: bool = False,
    echo: Callable[[str], Any] = print,
) -> Any:
    """Judge ``source`` when it needs it, find its recurring issues, and write the bundle; return the report.

    Args:
        source: rows to judge (question, answer[, reference, criteria, id] columns: a path, a DataFrame,
            records) or rows already judged (feedback and score columns, our results JSONL, a CLEAR bundle).
        output_dir: the run folder: ``judged.jsonl`` (+ ``.meta.json``) when judged here, ``bundle/``.
        judge: a :class:`~misattribution.judges.base.Judge` or a :func:`~misattribution.judges.load_judge`
            spec (an ``http(s)://`` endpoint, a model path, ``vllm:<model>``); needed only to judge.
        max_calls: refuse (:class:`CallLimitError`, before any call) when the judge stage needs more calls.
        mode: discovery mode(s), e.g. ``"clusters+rules"`` (the default: no LLM call).
        columns: the input's column names by role (``question``, ``answer``, ``reference``, ``criteria``, ``id``).
        taxonomy, language, order, batch_size: as :func:`~misattribution.runner.judge_dataset` takes them.
        judge_options: keyword arguments of ``load_judge`` when ``judge`` is a spec (``sampling``, ``model``...).
        discover_options: more keyword arguments of :func:`~misattribution.discovery.pipeline.discover`
            (``seed``, ``max_issues``, ``fail_below``, ``score_range``, ``embedding_model``, ``fast``...).
        progress: progress bars.
        echo: receives each line the run reports (the stages, the cost); ``print`` by default.

    Returns:
        The :class:`~misattribution.discovery.report.IssueReport`, also saved in ``output_dir/bundle``
        (``report.meta["analyze"]`` records the stages run and the judge calls made).

    Raises:
        CallLimitError: the judge stage needs more than ``max_calls`` calls (nothing called).
        ValueError: the input needs judging and no judge was given; a mode needing an LLM with ``max_calls``.
        RunConfigError, RunLockedError, InputError: as :func:`~misattribution.runner.judge_dataset` raises them.
    """
    from misattribution.discovery.modes import get_mode
    from misattribution.discovery.pipeline import discover

    out = Path(output_dir)
    modes = [m.strip() for m in mode.split("+") if m.strip()]
    llm_modes = [m for m in modes if get_mode(m).needs_llm]
    if llm_modes and max_calls is not None:
        raise ValueError(
            f"mode {'+'.join(llm_modes)} calls an LLM whose calls analyze cannot count before running "
            "(hint: use LLM-free modes such as clusters+rules with --max-calls, or drop --max-calls)"
        )
    stages: dict[str, Any] = {}
    judged_source: Any = source
    if needs_judging(source):
        judged_source, stages["judge"] = _judge_stage(
            source, out, judge, max_calls, columns, taxonomy, language, order, batch_size, judge_options, progress, echo
        )
    else:
        echo("[1/3] judge: skipped (the input already has feedback and scores): 0 LLM calls")
        stages["judge"] = {"skipped": True, "calls": 0}
    echo(f"[2/3] discover: mode {mode} on {judged_source if isinstance(judged_source, (str, Path)) else 'the rows'}")
    report = discover(judged_source, mode=mode, taxonomy=taxonomy, progress=progress, **dict(discover_options or {}))
    report.meta["analyze"] = {"stages": stages, "mode": mode}
    folder = report.save(out / BUNDLE_NAME)
    stages["bundle"] = str(folder)
    echo(f"[3/3] bundle: {folder} ({len(report.issues)} issues over {len(report.rows)} rows)")
    return report


def _judge_stage(
    source: Any,
    out: Path,
    judge: Any,
    max_calls: int | None,
    columns: Mapping[str, str] | None,
    taxonomy: Any,
    language: str,
    order: Sequence[str],
    batch_size: int,
    judge_options: Mapping[str, Any] | None,
    progress: bool,
    echo: Callable[[str], Any],
) -> tuple[Path, dict[str, Any]]:
    """Judge into ``out/judged.jsonl`` (resuming it) after printing the cost and checking ``max_calls``."""
    from misattribution.runner import judge_dataset, read_rows, status_counts

    frame, label = read_rows(source, columns)  # every input problem before the judge is loaded
    if judge is None:
        raise ValueError(
            f"{label}: has no feedback and score columns, so it must be judged (hint: give --endpoint or --model)"
        )
    if isinstance(judge, str):
        from misattribution.judges import load_judge

        judge = load_judge(judge, **dict(judge_options or {}))
    output = out / JUDGED_NAME
    out.mkdir(parents=True, exist_ok=True)
    cost = estimate_judge_cost(frame, judge, output, columns=columns, taxonomy=taxonomy, language=language, order=order)
    echo(f"[1/3] {cost.line()}")
    if max_calls is not None and cost.calls > max_calls:
        raise CallLimitError(
            f"--max-calls {max_calls}: this run needs {cost.calls} LLM calls to judge {label} "
            f"(hint: raise --max-calls to {cost.calls}, or judge fewer rows)"
        )
    judged = judge_dataset(
        frame,
        judge,
        output,
        columns=columns,
        taxonomy=taxonomy,
        language=language,
        order=order,
        batch_size=batch_size,
        progress=progress,
        name=label,
    )
    counts = status_counts(judged)
    echo(f"[1/3] judge: {output}: {len(judged)} rows: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return output, {"skipped": False, "calls": cost.calls, "output": str(output), "statuses": counts}
