"""LLM key-point analysis (CLEAR's method) with any judge backend, batched, cached and counted.

Four stages:

1. **summarise**: the critiques of failing rows go to the LLM ``batch_size`` at a time; for each it
   lists the shortcomings the critique names (a numbered list under ``[n]``). One call per batch, not
   per row as in CLEAR.
2. **synthesise**: the shortcomings, near-duplicates merged and the most frequent first, go to the LLM
   in one call per ``synthesis_items`` (at most ``max_synthesis_calls`` calls), which names up to
   ``max_issues`` recurring issues ("Name: description").
3. **deduplicate**: issues whose names embed closer than ``dedupe_threshold`` are merged (no LLM); when
   several synthesis calls name more than ``max_issues`` in all, those most shortcomings fall in are kept.
4. **map**: each shortcoming goes to its most similar issue when the cosine similarity reaches
   ``map_threshold`` (no LLM); or, with ``mapping="llm"``, the LLM assigns issues to ``map_batch_size``
   rows per call. A row gets the issues of its shortcomings.

Every prompt's answer is cached in a JSONL file keyed by a hash of the model, its settings and the
messages, so a rerun with the same inputs makes no call. Every call is counted (``meta["llm_calls"]``,
by stage, and per row). Answers are parsed leniently; an answer that cannot be parsed at all is asked
again once, with the unreadable answer and a reminder of the format appended; if that fails too the
batch is skipped and recorded in ``meta["skipped"]``, never silently turned into "no issue".

Example::

    from misattribution.judges.openai_http import OpenAIHTTPJudge
    judge = OpenAIHTTPJudge("http://localhost:8000", model="meta-llama/Llama-3.3-70B-Instruct")
    issues, assignments, meta = kpa_issues(rows, judge, cache_path="kpa_cache.jsonl")
    print(meta["llm_calls"], meta["calls_per_row"])
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misattribution.discovery.embed import embed, load_encoder
from misattribution.discovery.modes._base import ModeOption, ModeResult, register_mode
from misattribution.discovery.report import ASSIGNMENT_COLUMNS, Issue, issue_id
from misattribution.discovery.sentences import split_sentences
from misattribution.judges import load_judge
from misattribution.judges.base import GenerationError, Judge, Messages, SamplingParams

PROVENANCE = "llm"
_MAX_EXAMPLES = 5
_MAX_CRITIQUE_CHARS = 3000

SYSTEM_PROMPT = "You analyse evaluations of AI answers. Follow the requested output format exactly."

SUMMARISE_PROMPT = """Below are {k} critiques of answers written by an AI system, each under its number in brackets.

For each critique, list the shortcomings of the answer that the critique names: one short, general \
sentence per shortcoming, leaving out details specific to the question (names, numbers, topics). \
List only problems, not strengths. Write "None" when the critique names no shortcoming.

Answer in exactly this format, one block per critique, in order:
[1]
1. <shortcoming>
2. <shortcoming>
[2]
None

CRITIQUES
{critiques}"""

SYNTHESISE_PROMPT = """Below are shortcomings found in answers of an AI system (with how often each \
was found).

Name the recurring issues they show: at most {max_issues} issues, most frequent first, each distinct \
from the others and general enough to cover several shortcomings. For each write a short name (a few \
words) and a one-sentence description.

Answer as a numbered list in exactly this format:
1. <name>: <description>
2. <name>: <description>

SHORTCOMINGS
{items}"""

MAP_PROMPT = """Below is a numbered list of ISSUES, then the shortcomings of {k} answers, each under its \
number in brackets. For each answer, give the numbers of the issues its shortcomings belong to, or \
"none".

Answer in exactly this format, one line per answer:
[1] 2, 5
[2] none

ISSUES
{issues}

ANSWERS
{answers}"""

RETRY_PROMPT = "Your answer could not be read. Answer again, in exactly the format requested, and nothing else."


# -- parsing ------------------------------------------------------------------------------------------

_HEADER = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?\s*(?:\[(\d+)\]|(?:critique|review|feedback|evaluation|answer|text|item)\s*#?\s*(\d+))"
    r"\s*(?:\*\*)?\s*[:.)\]-]?\s*(?:\*\*)?\s*(.*)$",
    re.IGNORECASE,
)
_ITEM = re.compile(r"^\s*(?:[-*•]|\(?\d{1,3}[.)\]:、]|\[\d{1,3}\])\s*(.+?)\s*$")
_NONE = re.compile(r"^\W*(?:none|no shortcomings?|n/?a|nothing|no issues?|无)\W*$", re.IGNORECASE)


def parse_sections(text: str, expected: int) -> dict[int, list[str]] | None:
    """``{critique number: [shortcomings]}`` from a summarise answer, or ``None`` when nothing parses.

    Lenient: headers ``[n]``, ``Critique n:``, ``**Critique n**``; items ``1.``, ``1)``, ``-``, ``*``, ``•``;
    ``None`` for no shortcomings. With one critique, a bare numbered list is its section.

    >>> parse_sections("[1]\\n1. Calculation error.\\n2. Missing units.\\n**Critique 2:** None", 2)
    {1: ['Calculation error.', 'Missing units.'], 2: []}
    >>> parse_sections("lorem ipsum", 2) is None
    True
    """
    sections: dict[int, list[str]] = {}
    current: int | None = None
    loose: list[str] = []
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            number = int(header[1] or header[2])
            if 1 <= number <= expected:
                current = number
                sections.setdefault(current, [])
                rest = header[3].strip()
                if rest and not _NONE.match(rest):
                    sections[current].append(_clean_item(rest))
                continue
        if not line.strip() or _NONE.match(line):
            continue
        item = _ITEM.match(line)
        text_item = _clean_item(item[1]) if item else ""
        if current is not None and text_item:
            sections[current].append(text_item)
        elif text_item:
            loose.append(text_item)
    if not sections and expected == 1 and loose:
        return {1: loose}
    if not sections and expected == 1 and _NONE.match(text.strip() or "x"):
        return {1: []}
    return sections or None


def parse_issue_list(text: str) -> list[tuple[str, str]] | None:
    """``[(name, description)]`` from a synthesis answer, or ``None`` when nothing parses.

    >>> parse_issue_list("Here they are:\\n1. **Calculation errors**: wrong arithmetic.\\n2. Missing units - no units.")
    [('Calculation errors', 'wrong arithmetic.'), ('Missing units', 'no units.')]
    """
    found = []
    for line in text.splitlines():
        item = _ITEM.match(line)
        if not item:
            continue
        body = _clean_item(item[1])
        name, description = _split_name(body)
        if name:
            found.append((name, description))
    return found or None


def parse_mapping(text: str, expected: int, n_issues: int) -> dict[int, list[int]] | None:
    """``{answer number: [issue numbers]}`` from a mapping answer, or ``None`` when nothing parses.

    >>> parse_mapping("[1] 2, 5\\n[2] none\\nAnswer 3: issues 1 and 9", 3, 5)
    {1: [2, 5], 2: [], 3: [1]}
    """
    found: dict[int, list[int]] = {}
    for line in text.splitlines():
        header = _HEADER.match(line)
        if not header:
            continue
        number = int(header[1] or header[2])
        if 1 <= number <= expected:
            issues = [int(n) for n in re.findall(r"\d+", header[3])]
            found[number] = sorted({n for n in issues if 1 <= n <= n_issues})
    return found or None


def _clean_item(text: str) -> str:
    return re.sub(r"\*\*|__|`", "", text).strip().strip('"').strip()


def _split_name(body: str) -> tuple[str, str]:
    for separator in (":", "：", " - ", " – ", " — "):
        if separator in body:
            name, description = body.split(separator, 1)
            return name.strip().strip(".").strip(), description.strip()
    return body.strip().strip("."), ""


# -- the counted, cached LLM --------------------------------------------------------------------------


@dataclass
class _Ask:
    stage: str
    messages: Messages
    attempt: int = 0


@dataclass
class _CountedLLM:
    """Sends prompts to a judge through an on-disk cache, counting calls and hits by stage."""

    judge: Judge
    cache_path: Path | None
    chunk: int = 256
    calls: dict[str, int] = field(default_factory=dict)
    hits: int = 0
    errors: int = 0
    _cache: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cache_path is not None and self.cache_path.is_file():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    self._cache[record["key"]] = record["text"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a kill: ask again

    def key(self, ask: _Ask) -> str:
        payload = {"model": self.judge.model_id, "settings": self.judge.settings(), "messages": ask.messages}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def ask(self, asks: Sequence[_Ask]) -> list[str | None]:
        """One text per prompt (``None`` for a backend error, not cached), cached answers reused."""
        keys = [self.key(a) for a in asks]
        answers: list[str | None] = [self._cache.get(k) for k in keys]
        self.hits += sum(a is not None for a in answers)
        todo = [i for i, a in enumerate(answers) if a is None]
        for start in range(0, len(todo), self.chunk):
            batch = todo[start : start + self.chunk]
            for i in batch:
                self.calls[asks[i].stage] = self.calls.get(asks[i].stage, 0) + 1
            texts = self.judge.generate([asks[i].messages for i in batch])
            lines = []
            for i, text in zip(batch, texts):
                if isinstance(text, GenerationError):
                    self.errors += 1
                    continue
                answers[i] = text
                self._cache[keys[i]] = text
                lines.append(json.dumps({"key": keys[i], "stage": asks[i].stage, "text": text}, ensure_ascii=False))
            if self.cache_path is not None and lines:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                with self.cache_path.open("a", encoding="utf-8") as handle:
                    handle.write("\n".join(lines) + "\n")
        return answers

    def ask_parsed(self, asks: Sequence[_Ask], parse: Any, skipped: list[dict[str, Any]]) -> list[Any]:
        """Ask, parse, ask once more with a format reminder where the parse failed, then give up (recorded)."""
        results: list[Any] = [None] * len(asks)
        answers = self.ask(asks)
        retry = []
        for i, (ask, answer) in enumerate(zip(asks, answers)):
            results[i] = parse(i, answer) if answer is not None else None
            if results[i] is None:
                reminder = [{"role": "assistant", "content": answer or ""}, {"role": "user", "content": RETRY_PROMPT}]
                retry.append((i, _Ask(ask.stage, ask.messages + reminder, attempt=1)))
        if retry:
            second = self.ask([a for _, a in retry])
            for (i, ask), answer in zip(retry, second):
                results[i] = parse(i, answer) if answer is not None else None
                if results[i] is None:
                    reason = "backend error" if answer is None else "unparseable answer"
                    skipped.append({"stage": ask.stage, "batch": i, "reason": reason, "answer": (answer or "")[:300]})
        return results

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class _Embedder:
    """Embeds each distinct text once per run (shortcomings are embedded by several stages)."""

    def __init__(self, encoder: Any):
        self.encoder = encoder
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if new:
            self._vectors.update(zip(new, embed(new, self.encoder)))
        if not texts:
            return embed([], self.encoder)
        return np.stack([self._vectors[t] for t in texts])


def _messages(user: str) -> Messages:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


# -- the mode -----------------------------------------------------------------------------------------


def kpa_issues(
    rows: pd.DataFrame,
    judge: Judge | str,
    *,
    batch_size: int = 8,
    max_issues: int = 15,
    synthesis_items: int = 150,
    max_synthesis_calls: int = 3,
    dedupe_threshold: float = 0.8,
    mapping: str = "embedding",
    map_threshold: float = 0.45,
    map_batch_size: int = 10,
    cache_path: str | Path | None = None,
    encoder: Any | None = None,
) -> ModeResult:
    """Discover issues in the feedback of failing rows with an LLM (see the module docstring).

    Args:
        rows: IssueReport rows (``row_id``, ``failing``, ``feedback``).
        judge: any :class:`~misattribution.judges.base.Judge` (HTTP, vLLM, transformers), or a spec
            for :func:`~misattribution.judges.load_judge` (``"http://host:8000"``, ``"vllm:<model>"``).
        batch_size: critiques per summarise call.
        max_issues: issues asked for per synthesis call.
        synthesis_items: distinct shortcomings per synthesis call; ``max_synthesis_calls`` caps the calls.
        dedupe_threshold: issue names at least this similar are one issue.
        mapping: ``"embedding"`` (no LLM) or ``"llm"`` (``map_batch_size`` rows per call).
        map_threshold: least similarity between a shortcoming and its issue (embedding mapping).
        cache_path: JSONL cache of answers; ``None`` for no cache.
        encoder: a sentence-transformers model (default :func:`~.embed.load_encoder`).

    Returns:
        ``(issues, assignments, meta)``. Issues have ``provenance="llm"``; the evidence of an assignment
        is the feedback sentence(s) closest to the row's shortcomings of that issue. ``meta`` has
        ``llm_calls``, ``calls_by_stage``, ``cache_hits``, ``calls_per_row``, ``calls_per_failing_row``,
        ``skipped`` and the settings.
    """
    if mapping not in ("embedding", "llm"):
        raise ValueError(f"mapping must be 'embedding' or 'llm', got {mapping!r}")
    if batch_size < 1 or map_batch_size < 1:
        raise ValueError("batch sizes must be >= 1")
    started = time.perf_counter()
    judge = load_judge(judge)
    encoder = encoder or load_encoder()
    llm = _CountedLLM(judge, Path(cache_path) if cache_path is not None else None)
    skipped: list[dict[str, Any]] = []
    feedback = rows["feedback"].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    failing = rows[rows["failing"].astype(bool) & feedback.str.strip().ne("")]
    critiques = dict(zip(failing["row_id"].astype(str), feedback[failing.index]))

    shortcomings = _summarise(llm, critiques, batch_size, skipped)
    embedder = _Embedder(encoder)
    raw_issues = _synthesise(llm, shortcomings, embedder, max_issues, synthesis_items, max_synthesis_calls, skipped)
    issues, issue_vectors = _dedupe(raw_issues, embedder, dedupe_threshold)
    deduped = len(issues)
    issues, issue_vectors = _cap(issues, issue_vectors, shortcomings, embedder, max_issues, map_threshold)
    if mapping == "llm":
        matches = _map_by_llm(llm, shortcomings, issues, map_batch_size, skipped)
    else:
        matches = _map_by_embedding(shortcomings, issue_vectors, embedder, map_threshold)
    assignments = _evidence(matches, issues, critiques, embedder)
    used = set(assignments["issue_id"])
    for issue in issues:
        ranked = matches[matches["issue"] == issue.id].sort_values("similarity", ascending=False, kind="stable")
        issue.examples = ranked["row_id"].drop_duplicates().head(_MAX_EXAMPLES).tolist()
    meta = {
        "mode": "kpa",
        "model": judge.model_id,
        "judge_settings": judge.settings(),
        "llm_calls": llm.total,
        "calls_by_stage": dict(llm.calls),
        "cache_hits": llm.hits,
        "backend_errors": llm.errors,
        "rows": int(len(rows)),
        "failing_rows": int(len(critiques)),
        "calls_per_row": llm.total / len(rows) if len(rows) else 0.0,
        "calls_per_failing_row": llm.total / len(critiques) if critiques else 0.0,
        "shortcomings": int(len(shortcomings)),
        "issues_synthesised": len(raw_issues),
        "issues_after_dedupe": deduped,
        "issues_after_cap": len(issues),
        "issues_without_rows": [i.name for i in issues if i.id not in used],
        "skipped": skipped,
        "settings": {
            "batch_size": batch_size,
            "max_issues": max_issues,
            "synthesis_items": synthesis_items,
            "max_synthesis_calls": max_synthesis_calls,
            "dedupe_threshold": dedupe_threshold,
            "mapping": mapping,
            "map_threshold": map_threshold,
            "map_batch_size": map_batch_size,
        },
        "seconds": time.perf_counter() - started,
    }
    return ModeResult([i for i in issues if i.id in used], assignments, meta)


def _summarise(
    llm: _CountedLLM, critiques: dict[str, str], batch_size: int, skipped: list[dict[str, Any]]
) -> pd.DataFrame:
    """One line per shortcoming: ``row_id``, ``shortcoming``."""
    ids = list(critiques)
    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    asks = []
    for batch in batches:
        body = "\n\n".join(f"[{n}]\n{critiques[r][:_MAX_CRITIQUE_CHARS].strip()}" for n, r in enumerate(batch, 1))
        asks.append(_Ask("summarise", _messages(SUMMARISE_PROMPT.format(k=len(batch), critiques=body))))
    parsed = llm.ask_parsed(asks, lambda i, text: parse_sections(text, len(batches[i])), skipped)
    records = []
    for batch, sections in zip(batches, parsed):
        for n, row_id in enumerate(batch, 1):
            records += [(row_id, s) for s in (sections or {}).get(n, [])]
    return pd.DataFrame(records, columns=["row_id", "shortcoming"])


def _synthesise(
    llm: _CountedLLM,
    shortcomings: pd.DataFrame,
    embedder: _Embedder,
    max_issues: int,
    per_call: int,
    max_calls: int,
    skipped: list[dict[str, Any]],
) -> list[tuple[str, str]]:
    if shortcomings.empty:
        return []
    texts = shortcomings["shortcoming"].tolist()
    leaders, counts = _collapse(texts, embedder(texts), threshold=0.85)
    order = sorted(range(len(leaders)), key=lambda i: (-counts[i], i))[: per_call * max_calls]
    chunks = [order[i : i + per_call] for i in range(0, len(order), per_call)]
    asks = []
    for chunk in chunks:
        items = "\n".join(f"- {texts[leaders[i]]} (x{counts[i]})" for i in chunk)
        asks.append(_Ask("synthesise", _messages(SYNTHESISE_PROMPT.format(max_issues=max_issues, items=items))))
    parsed = llm.ask_parsed(asks, lambda i, text: parse_issue_list(text), skipped)
    return [pair for found in parsed if found for pair in found[:max_issues]]


def _collapse(texts: list[str], vectors: np.ndarray, threshold: float) -> tuple[list[int], list[int]]:
    """Leader clustering: each text joins the first earlier leader at least ``threshold`` similar."""
    leaders: list[int] = []
    counts: list[int] = []
    matrix = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    for i, vector in enumerate(vectors):
        if len(leaders):
            sims = matrix @ vector
            best = int(sims.argmax())
            if sims[best] >= threshold:
                counts[best] += 1
                continue
        leaders.append(i)
        counts.append(1)
        matrix = np.vstack([matrix, vector[None, :]])
    return leaders, counts


def _dedupe(pairs: list[tuple[str, str]], embedder: _Embedder, threshold: float) -> tuple[list[Issue], np.ndarray]:
    """Issues from (name, description) pairs; a name at least ``threshold`` similar to a kept one is merged."""
    if not pairs:
        return [], np.zeros((0, 1), dtype=np.float32)
    name_vectors = embedder([name for name, _ in pairs])
    kept: list[int] = []
    for i in range(len(pairs)):
        if not kept or (name_vectors[kept] @ name_vectors[i]).max() < threshold:
            kept.append(i)
    issues = [
        Issue(id=issue_id(pairs[i][0], PROVENANCE), name=pairs[i][0], description=pairs[i][1], provenance=PROVENANCE)
        for i in kept
    ]
    unique: dict[str, Issue] = {}
    for issue in issues:
        unique.setdefault(issue.id, issue)
    issues = list(unique.values())
    vectors = embedder([f"{i.name}: {i.description}" if i.description else i.name for i in issues])
    return issues, vectors


def _cap(
    issues: list[Issue],
    vectors: np.ndarray,
    shortcomings: pd.DataFrame,
    embedder: _Embedder,
    max_issues: int,
    threshold: float,
) -> tuple[list[Issue], np.ndarray]:
    """At most ``max_issues`` (several synthesis calls may name more): those most shortcomings fall in."""
    if len(issues) <= max_issues:
        return issues, vectors
    matches = _map_by_embedding(shortcomings, vectors, embedder, threshold)
    counts = np.bincount(matches["issue"].astype(int), minlength=len(issues))
    keep = sorted(sorted(range(len(issues)), key=lambda i: (-counts[i], i))[:max_issues])
    return [issues[i] for i in keep], vectors[keep]


def _map_by_embedding(
    shortcomings: pd.DataFrame, issue_vectors: np.ndarray, embedder: _Embedder, threshold: float
) -> pd.DataFrame:
    """One line per (row, shortcoming) matched: ``row_id``, ``shortcoming``, ``issue`` (index), ``similarity``."""
    if shortcomings.empty or not len(issue_vectors):
        return pd.DataFrame(columns=["row_id", "shortcoming", "issue", "similarity"])
    sims = embedder(shortcomings["shortcoming"].tolist()) @ issue_vectors.T
    best = sims.argmax(axis=1)
    frame = shortcomings.assign(issue=best, similarity=sims[np.arange(len(sims)), best])
    return frame[frame["similarity"] >= threshold].reset_index(drop=True)


def _map_by_llm(
    llm: _CountedLLM, shortcomings: pd.DataFrame, issues: list[Issue], per_call: int, skipped: list[dict[str, Any]]
) -> pd.DataFrame:
    columns = ["row_id", "shortcoming", "issue", "similarity"]
    if shortcomings.empty or not issues:
        return pd.DataFrame(columns=columns)
    by_row = shortcomings.groupby("row_id", sort=False)["shortcoming"].agg(list)
    ids = list(by_row.index)
    batches = [ids[i : i + per_call] for i in range(0, len(ids), per_call)]
    issue_list = "\n".join(f"{n}. {i.name}: {i.description}".rstrip(": ") for n, i in enumerate(issues, 1))
    asks = []
    for batch in batches:
        answers = "\n\n".join(
            f"[{n}]\n" + "\n".join(f"- {s}" for s in by_row[row_id]) for n, row_id in enumerate(batch, 1)
        )
        prompt = MAP_PROMPT.format(k=len(batch), issues=issue_list, answers=answers)
        asks.append(_Ask("map", _messages(prompt)))
    parsed = llm.ask_parsed(asks, lambda i, text: parse_mapping(text, len(batches[i]), len(issues)), skipped)
    records = []
    for batch, found in zip(batches, parsed):
        for n, row_id in enumerate(batch, 1):
            for number in (found or {}).get(n, []):
                records.append((row_id, " ".join(by_row[row_id]), number - 1, 1.0))
    return pd.DataFrame(records, columns=columns)


def _evidence(
    matches: pd.DataFrame, issues: list[Issue], critiques: dict[str, str], embedder: _Embedder
) -> pd.DataFrame:
    """Assignments whose evidence is, per matched shortcoming, the most similar sentence of the critique."""
    if matches.empty:
        return pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS))
    matches = matches.assign(issue=[issues[int(i)].id for i in matches["issue"]])
    rows = matches["row_id"].unique().tolist()
    sentences = {r: split_sentences(critiques[r]) or [critiques[r].strip()] for r in rows}
    flat = [(r, s) for r in rows for s in sentences[r]]
    sentence_vectors = embedder([s for _, s in flat])
    shortcoming_vectors = embedder(matches["shortcoming"].tolist())
    owner = np.array([r for r, _ in flat])
    lines = []
    for (row_id, issue), group in matches.groupby(["row_id", "issue"], sort=False):
        mine = np.flatnonzero(owner == row_id)
        picked = []
        for position in group.index:
            sims = sentence_vectors[mine] @ shortcoming_vectors[matches.index.get_loc(position)]
            sentence = flat[mine[int(sims.argmax())]][1]
            if sentence not in picked:
                picked.append(sentence)
        lines.append((row_id, issue, "\n".join(picked)))
    return pd.DataFrame(lines, columns=list(ASSIGNMENT_COLUMNS))


def kpa_mode(
    rows: pd.DataFrame,
    endpoint: str | None = None,
    model: str | None = None,
    judge: Judge | None = None,
    greedy: bool = True,
    **options: Any,
) -> ModeResult:
    """The ``"kpa"`` mode: :func:`kpa_issues` with the LLM at ``endpoint`` (or ``judge``)."""
    if judge is None:
        sampling = SamplingParams(greedy=greedy)
        judge = load_judge(str(endpoint), sampling=sampling, **({"model": model} if model else {}))
    return kpa_issues(rows, judge, **options)


def _one_llm(options: dict[str, Any]) -> None:
    if (options.get("endpoint") is None) == (options.get("judge") is None):
        raise ValueError(
            "mode 'kpa' needs one LLM: its option 'endpoint' (--endpoint http://host:port/v1, an OpenAI-compatible "
            "server; or vllm:<model>, or a local model path) or 'judge' (a Judge object), not both"
        )


register_mode(
    "kpa",
    kpa_mode,
    options=[
        ModeOption(
            "endpoint",
            str,
            None,
            "the LLM: an OpenAI-compatible URL (several comma-separated), vllm:<model> or a local model path",
            llm=True,
        ),
        ModeOption("model", str, None, "the served model name (default: the first the endpoint lists)", llm=True),
        ModeOption("judge", Judge, None, "a Judge object instead of an endpoint (Python only)", llm=True, cli=False),
        ModeOption("greedy", bool, True, "deterministic decoding (--no-greedy: the judge's sampling settings)"),
        ModeOption("batch_size", int, 8, "critiques per summarise call"),
        ModeOption("max_issues", int, 15, "issues asked for per synthesis call"),
        ModeOption("synthesis_items", int, 150, "distinct shortcomings per synthesis call"),
        ModeOption("max_synthesis_calls", int, 3, "synthesis calls at most"),
        ModeOption("dedupe_threshold", float, 0.8, "issue names at least this similar are one issue"),
        ModeOption(
            "mapping", str, "embedding", "rows to issues by embedding (no LLM) or by LLM", choices=("embedding", "llm")
        ),
        ModeOption("map_threshold", float, 0.45, "least similarity of a shortcoming to its issue (embedding mapping)"),
        ModeOption("map_batch_size", int, 10, "rows per mapping call (LLM mapping)"),
        ModeOption("cache_path", str, None, "JSONL cache of the LLM's answers: a rerun makes no call"),
        ModeOption("encoder", object, None, "a sentence-transformers model (Python only)", cli=False),
    ],
    help="CLEAR's key-point analysis with an LLM: batched, cached, every call counted",
    requires=(),  # the embedder's package is checked when it loads (MiniLM: extra minilm; static: none)
    validate=_one_llm,
)
