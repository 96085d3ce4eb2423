"""One call from answers to a diagnosis: generate and judge (when needed), discover, summarise, write the bundle.

:func:`analyze` runs the stages its input needs and skips what the input already has:

0. **generate** (optional) — with a ``generator`` (an endpoint or a model), the answers of a table that has
   questions and no answers: one call per question, appended to ``RUN_DIR/answers.jsonl`` batch by batch
   (flushed, fsynced, under the runner's lock), so a rerun generates only the answers still missing;
1. **judge** — only when the input has no feedback and score columns. Results go to
   ``RUN_DIR/judged.jsonl`` through :func:`misattribution.runner.judge_dataset`, so a rerun (after a
   ``kill -9`` too) judges only the rows not yet judged, and each record carries its row's input columns;
2. **discover** — :func:`misattribution.discovery.pipeline.discover` on the judged rows (LLM-free modes by
   default: ``clusters+rules``); cheap, so it is redone on every run, never the judge;
3. **summary** — the plain-language summary ``discover`` stores in ``report.meta["summary"]``;
4. **bundle** — ``RUN_DIR/bundle/``, which ``misattribution serve --bundle`` (or ``analyze --serve``) opens.

Before any LLM call it works out the cost (:func:`estimate_generate_cost`, :func:`estimate_judge_cost`: the
calls still to make, one per row not yet answered / judged, and the prompt tokens estimated from the rendered
prompts, :func:`misattribution.prompts.build_messages`), reports it, and refuses with a :class:`CallLimitError`
when their sum exceeds ``max_calls``. A stage's lines start with its name (``[generate]``, ``[judge]``,
``[discover]``, ``[bundle]``). A mode that calls an LLM (``kpa``) is refused together with ``max_calls``: its
calls are not counted here.

One progress display (:class:`StageProgress`) follows the whole run on stderr: the stage, its place in the
run (``[2/3 judge]``), the rows it has done of its total, the time spent and tqdm's estimate of the time
left; the stage lines are written above it. Agent traces (an OpenTelemetry, MLflow or Langfuse export, a
file or a folder: :mod:`misattribution.io.traces`) are judged like any table, each step and trajectory with
its prompt variant.

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

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from misattribution.format import DEFAULT_ORDER
from misattribution.io.tables import ALIASES, InputError, read_table

logger = logging.getLogger(__name__)

#: Where the stages write inside the run folder.
JUDGED_NAME, BUNDLE_NAME, ANSWERS_NAME = "judged.jsonl", "bundle", "answers.jsonl"
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

    A folder of agent traces (:func:`misattribution.io.traces.is_trace_folder`) needs judging; any other
    folder or ``.zip`` (a CLEAR bundle, a report bundle) counts as judged.

    >>> needs_judging([{"question": "q", "answer": "a"}]), needs_judging([{"critique": "ok", "grade": 3}])
    (True, False)
    """
    from misattribution.io.traces import is_trace_folder

    if isinstance(source, (str, Path)) and is_trace_folder(source):
        return True
    if isinstance(source, (str, Path)) and (Path(source).is_dir() or str(source).lower().endswith(".zip")):
        return False
    frame, _ = read_table(source)
    return not _has_role(frame, "feedback") or not _has_role(frame, "score")


def _has_role(frame: pd.DataFrame, role: str) -> bool:
    names = set(frame.columns)
    return any(name in names for name in ALIASES[role]) or (role == "feedback" and "evaluation_text" in names)


class StageProgress:
    """One progress display for a whole run: ``[2/3 judge] 120/300 rows [00:40<01:20, 3.0 rows/s]``.

    The stages of the run (``stages``, in order) take the one bar in turn: :meth:`stage` moves it to the next
    stage with that stage's total of rows, :meth:`advance` counts rows done (tqdm shows the time spent, the rate
    and the estimated time left). :meth:`echo` writes a line above the bar without breaking it. Disabled, it
    shows nothing and only passes the lines on to ``echo``.

    >>> import io
    >>> shown = io.StringIO()
    >>> with StageProgress(["judge", "bundle"], enabled=True, echo=lambda line: None, file=shown) as display:
    ...     display.stage("judge", 4)
    ...     display.advance(4)
    ...     display.stage("bundle", 1)
    >>> "[1/2 judge] 4/4 rows" in shown.getvalue(), "[2/2 bundle]" in shown.getvalue()
    (True, True)
    """

    def __init__(
        self, stages: Sequence[str], *, enabled: bool = True, echo: Callable[[str], Any] = print, file: Any = None
    ) -> None:
        from tqdm.auto import tqdm

        self.stages = list(stages)
        self.enabled = enabled
        self._echo = echo
        self._file = file if file is not None else sys.stderr
        self._tqdm = tqdm
        self._bar = None
        if enabled:
            self._bar = tqdm(
                total=None,
                desc=f"[0/{len(self.stages)}]",
                file=self._file,
                unit="row",
                bar_format="{desc} {n_fmt}/{total_fmt} rows [{elapsed}<{remaining}, {rate_fmt}]",
                dynamic_ncols=True,
                mininterval=0.5,
            )

    def stage(self, name: str, total: int | None) -> None:
        """Move to stage ``name`` (one of :attr:`stages`), which has ``total`` rows to do."""
        if self._bar is None:
            return
        position = self.stages.index(name) + 1 if name in self.stages else len(self.stages)
        self._bar.refresh()  # the stage that ends is shown with its last count before the bar moves on
        self._bar.set_description_str(f"[{position}/{len(self.stages)} {name}]", refresh=False)
        self._bar.reset(total=total)
        if total is None:
            self._bar.total = None  # tqdm's reset keeps the last total when given none
            self._bar.refresh()

    def advance(self, rows: int) -> None:
        """``rows`` more rows of the current stage are done."""
        if self._bar is not None:
            self._bar.update(rows)

    def echo(self, line: str) -> None:
        """Report a line (the stages' lines, the cost) above the bar."""
        if self._bar is None:
            self._echo(line)
            return
        with self._tqdm.external_write_mode(file=self._file):
            self._echo(line)

    def close(self) -> None:
        """Leave the bar's last state on screen."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _counting(backend: Any, advance: Callable[[int], Any]) -> Any:
    """``backend`` whose every generated batch advances the display by its size (the runner's own bar is
    off). The wrapper's class carries the backend's class name, so the run's recorded config (and with it a
    resume) is the same with or without the display."""
    if backend is None:
        return None

    def generate(self: Any, prompts: Any) -> Any:
        texts = self._backend.generate(prompts)
        advance(len(prompts))
        return texts

    def getattr_(self: Any, name: str) -> Any:
        return getattr(self._backend, name)

    wrapper = type(type(backend).__name__, (), {"generate": generate, "__getattr__": getattr_})()
    wrapper._backend = backend
    return wrapper


@contextlib.contextmanager
def _library_bars_off() -> Iterator[None]:
    """Hugging Face's own progress bars (a model's "Loading weights", a download) off for the block, so the
    one display stays one; restored after. Nothing to do when those libraries are not installed."""
    try:
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    except ImportError:
        yield
        return
    transformers_logging = sys.modules.get("transformers.utils.logging")
    was_disabled = are_progress_bars_disabled()
    shown = transformers_logging.is_progress_bar_enabled() if transformers_logging else None
    disable_progress_bars()  # transformers reads this when it is first imported
    if transformers_logging is not None:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()
        later = sys.modules.get("transformers.utils.logging")
        if later is not None and (shown or (shown is None and not was_disabled)):
            later.enable_progress_bar()


def stage_plan(source: Any, generator: Any = None, columns: Mapping[str, str] | None = None) -> list[str]:
    """The stages :func:`analyze` will run on ``source``, in order (``generate`` only with a ``generator`` and
    a table without answers; ``judge`` only when :func:`needs_judging`).

    >>> stage_plan([{"question": "q", "answer": "a"}]), stage_plan([{"feedback": "ok", "score": 3}])
    (['judge', 'discover', 'bundle'], ['discover', 'bundle'])
    """
    from misattribution.io.tables import ColumnMap, is_missing

    stages = ["discover", "bundle"]
    if not needs_judging(source):
        return stages
    answer = ColumnMap.from_any(columns).answer
    if generator is not None:
        frame, _ = read_table(source)
        if answer not in frame.columns or all(is_missing(v) for v in frame[answer]):
            return ["generate", "judge", *stages]
    return ["judge", *stages]


@dataclass(frozen=True)
class GenerateCost:
    """What the generation stage will cost: ``rows``, ``calls`` still to make, estimated ``prompt_tokens``."""

    rows: int
    calls: int
    prompt_tokens: int
    max_output_tokens: int

    def line(self) -> str:
        """``cost: generate 40 rows x 1 call = 40 LLM calls, 40 to make (0 already generated), ...``."""
        return (
            f"cost: generate {self.rows} rows x 1 call = {self.rows} LLM calls, {self.calls} to make "
            f"({self.rows - self.calls} already generated), ~{self.prompt_tokens:,} prompt tokens "
            f"+ at most {self.max_output_tokens:,} output tokens"
        )


def _answer_prompts(frame: pd.DataFrame, generator: Any, question: str, id_column: str) -> tuple[list, list[str], list]:
    """The generation prompt (the question as the one user turn), key and id of every row."""
    from misattribution.runner import row_key

    settings, model_id = generator.settings(), generator.model_id
    prompts, keys, ids = [], [], []
    for index in range(len(frame)):
        row = frame.iloc[index]
        row_id = row[id_column] if id_column in frame.columns else None
        row_id = row_id.item() if hasattr(row_id, "item") else row_id
        messages = [{"role": "user", "content": str(row[question])}]
        prompts.append(messages)
        keys.append("answer:" + row_key(messages, model_id, settings, row_id))
        ids.append(row_id)
    return prompts, keys, ids


def _max_new_tokens(backend: Any) -> int:
    sampling = backend.settings().get("sampling") or {}
    return int(sampling.get("max_new_tokens") or 0) if isinstance(sampling, Mapping) else 0


def estimate_generate_cost(
    frame: pd.DataFrame, generator: Any, output: str | Path, *, question: str = "question", id_column: str = "id"
) -> GenerateCost:
    """The calls :func:`generate_answers` will make: one per row without a generated answer in ``output``."""
    from misattribution.runner import load_results

    prompts, keys, _ = _answer_prompts(frame, generator, question, id_column)
    done = load_results(output) if Path(output).exists() else {}
    pending = {k: i for i, k in enumerate(keys) if done.get(k, {}).get("status") != "ok"}
    chars = sum(len(prompts[i][0]["content"]) for i in pending.values())
    return GenerateCost(
        len(frame), len(pending), -(-chars // CHARS_PER_TOKEN), _max_new_tokens(generator) * len(pending)
    )


def stored_answers(
    frame: pd.DataFrame, generator: Any, output: str | Path, *, question: str = "question", id_column: str = "id"
) -> list[str | None]:
    """The answers ``output`` already holds for ``frame``'s rows with this generator (``None``: none yet)."""
    from misattribution.runner import load_results

    _, keys, _ = _answer_prompts(frame, generator, question, id_column)
    done = load_results(output) if Path(output).exists() else {}
    return [done[k]["answer"] if done.get(k, {}).get("status") == "ok" else None for k in keys]


def generate_answers(
    frame: pd.DataFrame,
    generator: Any,
    output: str | Path,
    *,
    question: str = "question",
    id_column: str = "id",
    batch_size: int = 64,
    progress: bool = False,
    on_batch: Callable[[int], Any] | None = None,
) -> list[str | None]:
    """Generate the answer of every row (its question as the one user turn) into ``output``, resuming it.

    Each batch is appended to ``output`` (JSONL: ``key``, ``row``, ``id``, ``answer``, ``status``, ``error``),
    flushed and fsynced before the next starts, under the runner's lock (:func:`~misattribution.runner.output_lock`),
    so a kill loses at most the batch in flight and a rerun generates only the answers still missing (a failed
    generation, ``status="error"``, is tried again). Returns the answers in row order (``None``: failed).
    ``progress`` shows a bar of its own; ``on_batch(rows)`` is called after each batch is written instead
    (:func:`analyze`'s one display).
    """
    import json
    import os

    from misattribution.redaction import redact
    from misattribution.runner import RunInterrupted, _sigint_deferred, load_results, output_lock

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    prompts, keys, ids = _answer_prompts(frame, generator, question, id_column)
    with output_lock(output):
        done = load_results(output)
        pending = [i for i, k in enumerate(keys) if done.get(k, {}).get("status") != "ok"]
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pending), disable=not progress or on_batch is not None, desc="generating", unit="row")
        with output.open("a", encoding="utf-8") as handle, bar, _interrupted_as(RunInterrupted, output, keys, done):
            for start in range(0, len(pending), batch_size):
                batch = pending[start : start + batch_size]
                texts = generator.generate([prompts[i] for i in batch])
                records = []
                for index, text in zip(batch, texts):
                    failed = not isinstance(text, str)
                    records.append(
                        {
                            "key": keys[index],
                            "row": index,
                            "id": ids[index],
                            "answer": None if failed else text,
                            "status": "error" if failed else "ok",
                            "error": redact(str(text)) if failed else None,
                        }
                    )
                with _sigint_deferred():  # a Ctrl-C waits for the batch to be written whole
                    handle.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records))
                    handle.flush()
                    os.fsync(handle.fileno())
                    done.update((r["key"], r) for r in records)
                bar.update(len(batch))
                if on_batch is not None:
                    on_batch(len(batch))
    return [done[k]["answer"] if done.get(k, {}).get("status") == "ok" else None for k in keys]


@contextlib.contextmanager
def _interrupted_as(error: type, output: Path, keys: list[str], done: dict[str, Any]) -> Iterator[None]:
    """Ctrl-C → the runner's ``RunInterrupted`` (how many answers are saved, where): the CLI's one line."""
    try:
        yield
    except KeyboardInterrupt:
        saved = sum(1 for k in set(keys) if done.get(k, {}).get("status") == "ok")
        raise error(output, saved, len(set(keys))) from None


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

    The prompts are rendered and keyed by the runner's own :func:`~misattribution.runner.render_row`,
    so a row already judged in ``output`` (status other than ``error``) costs nothing.
    """
    from misattribution.io.tables import ColumnMap
    from misattribution.runner import load_results, render_row
    from misattribution.taxonomy import load_taxonomy

    cols = ColumnMap.from_any(columns)
    tax = load_taxonomy(taxonomy)
    done = load_results(output) if Path(output).exists() else {}
    model_id, settings = judge.model_id, judge.settings()
    pending: set[str] = set()
    prompt_chars = 0
    for index in range(len(frame)):  # the runner's own rendering: variants, rubrics and keys as it makes them
        messages, key, _ = render_row(frame.iloc[index], cols, tax, language, order, model_id, settings)
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
    generator: Any = None,
    generator_options: Mapping[str, Any] | None = None,
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
        generator: a backend or ``load_judge`` spec that answers the questions of an input without answers
            (:func:`generate_answers`, into ``output_dir/answers.jsonl``); not used when the input has answers.
        generator_options: keyword arguments of ``load_judge`` when ``generator`` is a spec.
        progress: one progress display over the stages (:class:`StageProgress`, on stderr).
        echo: receives each line the run reports (the stages, the cost); ``print`` by default.

    Returns:
        The :class:`~misattribution.discovery.report.IssueReport`, also saved in ``output_dir/bundle``
        (``report.meta["analyze"]`` records the stages run and the judge calls made).

    Raises:
        CallLimitError: generating and judging need more than ``max_calls`` calls (nothing called).
        ValueError: the input needs judging and no judge was given; a mode needing an LLM with ``max_calls``.
        RunConfigError, RunLockedError, InputError: as :func:`~misattribution.runner.judge_dataset` raises them.
    """
    from misattribution.discovery.modes import get_mode

    out = Path(output_dir)
    modes = [m.strip() for m in mode.split("+") if m.strip()]
    llm_modes = [m for m in modes if get_mode(m).needs_llm]
    if llm_modes and max_calls is not None:
        raise ValueError(
            f"mode {'+'.join(llm_modes)} calls an LLM whose calls analyze cannot count before running "
            "(hint: use LLM-free modes such as clusters+rules with --max-calls, or drop --max-calls)"
        )
    plan = stage_plan(source, generator, columns)
    with StageProgress(plan, enabled=progress, echo=echo) as display:
        return _run_stages(
            source, out, plan, display, judge, max_calls, mode, columns, taxonomy, language, order, batch_size,
            judge_options, discover_options, generator, generator_options,
        )  # fmt: skip


def _run_stages(
    source: Any,
    out: Path,
    plan: list[str],
    display: StageProgress,
    judge: Any,
    max_calls: int | None,
    mode: str,
    columns: Mapping[str, str] | None,
    taxonomy: Any,
    language: str,
    order: Sequence[str],
    batch_size: int,
    judge_options: Mapping[str, Any] | None,
    discover_options: Mapping[str, Any] | None,
    generator: Any,
    generator_options: Mapping[str, Any] | None,
) -> Any:
    """:func:`analyze`'s stages, in ``plan`` order, each reported on ``display``."""
    from misattribution.discovery.pipeline import discover

    echo = display.echo
    stages: dict[str, Any] = {}
    judged_source: Any = source
    if "judge" in plan:
        judged_source, stages["judge"] = _judge_stage(
            source,
            out,
            judge,
            max_calls,
            columns,
            taxonomy,
            language,
            order,
            batch_size,
            judge_options,
            display,
            generator=generator,
            generator_options=generator_options,
        )
    else:
        echo("[judge] skipped (the input already has feedback and scores): 0 LLM calls")
        stages["judge"] = {"skipped": True, "calls": 0}
    echo(f"[discover] mode {mode} on {judged_source if isinstance(judged_source, (str, Path)) else 'the rows'}")
    judged_rows = stages["judge"].get("rows")  # known when judged here
    display.stage("discover", judged_rows)
    with _library_bars_off():
        report = discover(judged_source, mode=mode, taxonomy=taxonomy, progress=False, **dict(discover_options or {}))
    display.advance(len(report.rows))
    display.stage("bundle", len(report.rows))
    report.meta["analyze"] = {"stages": stages, "mode": mode}
    folder = report.save(out / BUNDLE_NAME)
    display.advance(len(report.rows))
    stages["bundle"] = str(folder)
    echo(f"[bundle] {folder} ({len(report.issues)} issues over {len(report.rows)} rows)")
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
    display: StageProgress,
    generator: Any = None,
    generator_options: Mapping[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Generate the answers when asked and needed, then judge into ``out/judged.jsonl`` (both resumed),
    after printing the cost of both and checking it against ``max_calls``; ``display`` counts their rows."""
    from misattribution.io.tables import ColumnMap, is_missing
    from misattribution.runner import check_unique_ids, judge_dataset, read_rows, status_counts

    echo = display.echo
    cols = ColumnMap.from_any(columns)
    frame, label = read_table(source)
    answers_missing = cols.answer not in frame.columns or all(is_missing(v) for v in frame[cols.answer])
    must_generate = generator is not None and answers_missing
    if must_generate:
        if cols.question not in frame.columns:
            raise InputError(f"{label}: no column {cols.question!r} to generate answers from (hint: --question-column)")
        check_unique_ids(frame, cols.id, label)
    else:
        frame, label = read_rows(source, columns)  # every input problem before the judge is loaded
    if judge is None:
        raise ValueError(
            f"{label}: has no feedback and score columns, so it must be judged (hint: give --endpoint or --model)"
        )
    judge = _backend(judge, judge_options)
    output = out / JUDGED_NAME
    out.mkdir(parents=True, exist_ok=True)
    stage: dict[str, Any] = {"skipped": False, "output": str(output)}
    generate_calls = 0
    if must_generate:
        generator = _backend(generator, generator_options)
        answers_file = out / ANSWERS_NAME
        generate_cost = estimate_generate_cost(
            frame, generator, answers_file, question=cols.question, id_column=cols.id
        )
        echo(f"[generate] {generate_cost.line()}")
        generate_calls = generate_cost.calls
        # Rows whose answer is not generated yet cost one judge call each, their prompt counted with an
        # answer of the generator's longest output.
        stored = stored_answers(frame, generator, answers_file, question=cols.question, id_column=cols.id)
        longest = "x" * (_max_new_tokens(generator) * CHARS_PER_TOKEN)
        estimate_frame = frame.assign(**{cols.answer: [a if a is not None else longest for a in stored]})
    else:
        estimate_frame = frame
    cost = estimate_judge_cost(
        estimate_frame, judge, output, columns=columns, taxonomy=taxonomy, language=language, order=order
    )
    echo(f"[judge] {cost.line()}")
    total = generate_calls + cost.calls
    if max_calls is not None and total > max_calls:
        what = f"{generate_calls} to generate and {cost.calls} to judge" if must_generate else f"to judge {label}"
        raise CallLimitError(
            f"--max-calls {max_calls}: this run needs {total} LLM calls ({what}) "
            f"(hint: raise --max-calls to {total}, or use fewer rows)"
        )
    if must_generate:
        display.stage("generate", generate_calls)
        answers = generate_answers(
            frame,
            generator,
            out / ANSWERS_NAME,
            question=cols.question,
            id_column=cols.id,
            batch_size=batch_size,
            on_batch=display.advance,
        )
        failed = sum(a is None for a in answers)
        echo(f"[generate] {out / ANSWERS_NAME}: {len(answers) - failed} answers, {failed} failed (rerun to retry)")
        frame = frame.assign(**{cols.answer: answers})
        frame = frame[[a is not None for a in answers]].reset_index(drop=True)
        stage["generate"] = {"calls": generate_calls, "output": str(out / ANSWERS_NAME), "failed": failed}
    display.stage("judge", cost.calls)
    judged = judge_dataset(
        frame,
        _counting(judge, display.advance),
        output,
        columns=columns,
        taxonomy=taxonomy,
        language=language,
        order=order,
        batch_size=batch_size,
        progress=False,
        name=label,
    )
    counts = status_counts(judged)
    echo(f"[judge] {output}: {len(judged)} rows: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if must_generate and stage["generate"]["failed"]:
        counts["error"] = counts.get("error", 0) + stage["generate"]["failed"]  # rows left without a judgment
    return output, {**stage, "calls": cost.calls, "statuses": counts, "rows": len(judged)}


def _backend(spec: Any, options: Mapping[str, Any] | None) -> Any:
    if isinstance(spec, str):
        from misattribution.judges import load_judge

        return load_judge(spec, **dict(options or {}))
    return spec
