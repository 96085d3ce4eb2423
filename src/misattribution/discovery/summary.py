"""A plain-language summary of an issue report: what a developer reads in 20 seconds.

:func:`summarize` picks, from the report's own tables, the few problems that matter (the top issues by
impact, with their share of the rows and its interval), where they concentrate (a system whose share of
an issue is far above the issue's overall share, and the taxonomy categories holding most failing rows),
what changed against a previous report (by issue id) and the threshold and scale that decided which rows
fail. It never names praise, a rare issue, an issue whose rows mostly pass or the judge's own failures
(told apart) as a main problem, and every figure it writes is one of the report's (a test reads each
number back from the tables).

Without a judge the text is a deterministic markdown template of 5 to 10 lines. With ``judge=`` (any
backend of :mod:`misattribution.judges`) exactly one LLM call rewrites the template's facts as prose
(cached like the LLM issue names); an answer that is empty, fails, drops the main problem's name or writes
a number the facts do not hold is discarded for the template. ``discover`` stores the template summary in
``report.meta["summary"]`` (:meth:`Summary.to_dict`), so the bundle carries it and the CLI prints it.

Example::

    summary = summarize(report, previous=IssueReport.load("last_week/"))
    print(summary.text)
    summarize(report, judge="http://127.0.0.1:8000/v1").source   # "llm", or "template" on failure
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from misattribution.discovery.report import IssueReport

#: Main problems shown.
TOP_ISSUES = 3
#: A system concentrates an issue when its share is at least this many times the overall share ...
CONCENTRATION_RATIO = 2.0
#: ... and at least this much above it (in share of rows), in at least ``MIN_CONCENTRATED_ROWS`` rows.
CONCENTRATION_MARGIN = 0.05
MIN_CONCENTRATED_ROWS = 3
#: An issue most of whose rows pass (below this failing fraction) is not a problem to name.
MIN_FAILING_FRACTION = 0.5

SYSTEM_PROMPT = "You write short, plain, accurate summaries of evaluation results for software developers."
PROSE_PROMPT = """\
Rewrite the FACTS below about an evaluation of an LLM's answers as one short paragraph (3 to 6 \
sentences) of plain English that a developer reads in 20 seconds.
Rules: keep each issue name exactly as written; the first problem listed is the main one; use only the \
numbers in the FACTS, written exactly as there (percentages with their % sign); add no other number, no \
advice and no praise. Answer with the paragraph only.

FACTS
{facts}"""

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass
class Summary:
    """A report's summary.

    Attributes:
        text: what to show: the template, or the LLM's prose when it passed the checks.
        template: the deterministic markdown text (always there).
        facts: every figure the text uses, from the report's tables (see :func:`summary_facts`).
        source: ``"template"`` or ``"llm"``.
        llm: with a judge: ``llm_calls``, ``cache_hits``, ``model`` and ``fallback`` (why the prose was
            discarded, ``None`` when it was used).
    """

    text: str
    template: str
    facts: dict[str, Any] = field(default_factory=dict)
    source: str = "template"
    llm: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN stored as ``None``), as ``report.meta["summary"]`` keeps it."""
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def stored_summary(report: IssueReport) -> Summary | None:
    """The summary a bundle holds (``report.meta["summary"]``), or ``None``."""
    data = report.meta.get("summary")
    return Summary.from_dict(data) if isinstance(data, dict) and "text" in data else None


def summarize(
    report: IssueReport,
    previous: IssueReport | str | Path | None = None,
    judge: Any = None,
    *,
    top: int = TOP_ISSUES,
    cache: str | Path | bool | None = True,
) -> Summary:
    """Summarize ``report`` in plain language (see the module docstring).

    Args:
        report: the issue report.
        previous: an earlier report (or its bundle folder): new, vanished, grown and shrunk issues by id.
        judge: a :class:`~misattribution.judges.base.Judge` or a spec for
            :func:`~misattribution.judges.load_judge`; one LLM call rewrites the facts as prose.
        top: main problems listed.
        cache: the LLM answer cache (a JSONL path; ``True``: ``summaries.jsonl`` in the cache folder;
            ``None`` / ``False``: none). A rerun with the same facts and model costs no call.

    Returns:
        A :class:`Summary`; without a judge (or when its answer is discarded) ``text`` is the template.
    """
    if previous is not None and not isinstance(previous, IssueReport):
        previous = IssueReport.load(previous)
    facts = summary_facts(report, previous, top=top)
    template = render_summary(facts)
    summary = Summary(text=template, template=template, facts=facts)
    if judge is not None:
        prose, summary.llm = _prose(template, facts, judge, cache)
        if prose is not None:
            summary.text, summary.source = prose, "llm"
    return summary


# -- facts ------------------------------------------------------------------------------------------------
def summary_facts(report: IssueReport, previous: IssueReport | None = None, *, top: int = TOP_ISSUES) -> dict:
    """The figures of the summary, each taken from the report's tables (``table``, ``tree``,
    ``tree_per_system``, ``meta``; the previous report's ``table`` for the changes)."""
    meta = report.meta
    rows = report.rows
    facts: dict[str, Any] = {
        "rows": int(meta.get("n_rows", len(rows))),
        "failing": int(meta.get("n_failing", int(rows["failing"].sum()))),
        "threshold": _threshold(meta),
        "main": [],
        "left_out": [],
        "rare": [],
        "categories": [],
        "concentrations": [],
        "changes": None,
        "judge_failed": None,
    }
    failing_fraction = _failing_fraction(report)
    for issue in report.issues:  # ranked by impact
        reason = _not_a_main_problem(issue, failing_fraction.get(issue.id, 0.0))
        if reason == "judge":  # the judge's own failures: a problem of the evaluation, not of the answers
            facts["judge_failed"] = {"id": issue.id, "name": issue.name, "count": issue.count}
        elif reason == "rare":
            facts["rare"].append({"id": issue.id, "name": issue.name, "count": issue.count})
        elif reason:
            facts["left_out"].append({"id": issue.id, "name": issue.name, "reason": reason})
        elif len(facts["main"]) < top:
            facts["main"].append(_issue_facts(issue))
    if report.issues:
        tree = report.tree(n_resamples=0)
        facts["categories"] = _categories(report, tree)
        facts["concentrations"] = _concentrations(report, tree, facts["main"], facts["categories"])
    if previous is not None:
        facts["changes"] = _changes(report, previous)
    return facts


def _threshold(meta: dict[str, Any]) -> dict[str, Any]:
    given = meta.get("input", {}) or {}
    fail = given.get("fail_below")
    scale = given.get("score_range")
    found: dict[str, Any] = {"fail_below": fail, "score_range": list(scale) if scale else None}
    found["source"] = given.get("fail_below_source")
    if fail is not None and scale:
        lo, hi = scale
        found["raw"] = lo + fail * (hi - lo)
    return found


def _failing_fraction(report: IssueReport) -> dict[str, float]:
    failing = report.rows.assign(row_id=report.rows["row_id"].astype(str)).set_index("row_id")["failing"]
    pairs = report.assignments[["row_id", "issue_id"]].astype({"row_id": str}).drop_duplicates()
    flags = failing.reindex(pairs["row_id"]).fillna(False).astype(bool).to_numpy()
    return pairs.assign(failing=flags).groupby("issue_id")["failing"].mean().to_dict()


def _not_a_main_problem(issue: Any, failing_fraction: float) -> str | None:
    from misattribution.discovery.naming import name_problems

    if issue.provenance == "judge":
        return "judge"
    if issue.rare:
        return "rare"
    if issue.count == 0:
        return "no rows"
    if any(p.startswith("praise") for p in name_problems(issue.name)):
        return "praise"
    if failing_fraction < MIN_FAILING_FRACTION:
        return "mostly passing rows"
    return None


def _issue_facts(issue: Any) -> dict[str, Any]:
    return {
        "id": issue.id,
        "name": issue.name,
        "count": issue.count,
        "share": issue.share,
        "share_ci_low": issue.share_ci_low,
        "share_ci_high": issue.share_ci_high,
        "failing_share": issue.failing_share,
        "impact": issue.impact,
        "parent": issue.parent,
    }


def _categories(report: IssueReport, tree: pd.DataFrame, limit: int = 3) -> list[dict[str, Any]]:
    """The top-level nodes of the tree holding the most failing rows (only when the report has a tree)."""
    if not report.nodes:
        return []
    top = tree[tree["depth"] == 0].sort_values(["failing_share", "count"], ascending=False, kind="stable")
    return [
        {"id": n.id, "name": n.name, "count": int(n.count), "share": n.share, "failing_share": n.failing_share}
        for n in top.head(limit).itertuples(index=False)
    ]


def _concentrations(
    report: IssueReport, tree: pd.DataFrame, main: list[dict], categories: list[dict], limit: int = 3
) -> list[dict[str, Any]]:
    """Systems whose share of a main issue (or a listed category) is far above its overall share."""
    if report.rows["system"].astype(str).nunique() < 2:
        return []
    overall = tree.set_index("id")
    names = {**{c["id"]: c["name"] for c in categories}, **{m["id"]: m["name"] for m in main}}
    per_system = report.tree_per_system()
    per_system = per_system[per_system["id"].isin(list(names))].drop_duplicates(["system", "id"])
    found = []
    for line in per_system.itertuples(index=False):
        share = float(overall.at[line.id, "share"]) if line.id in overall.index else float("nan")
        if math.isnan(share) or share <= 0 or line.count < MIN_CONCENTRATED_ROWS:
            continue
        if line.share >= CONCENTRATION_RATIO * share and line.share - share >= CONCENTRATION_MARGIN:
            found.append(
                {
                    "id": line.id,
                    "name": names[line.id],
                    "system": line.system,
                    "count": int(line.count),
                    "rows": int(line.rows),
                    "share": float(line.share),
                    "overall_share": share,
                }
            )
    found.sort(key=lambda c: (-(c["share"] / c["overall_share"]) * (c["share"] - c["overall_share"]), c["name"]))
    return found[:limit]


def _changes(report: IssueReport, previous: IssueReport, limit: int = 3) -> dict[str, Any]:
    """New, vanished, grown and shrunk issues by id; a share moved when its intervals do not overlap."""
    old = {i.id: i for i in previous.issues}
    new = {i.id: i for i in report.issues}
    changes: dict[str, Any] = {"kept": len(set(old) & set(new)), "new": [], "vanished": [], "grown": [], "shrunk": []}
    for issue in report.issues:
        if issue.id not in old:
            changes["new"].append({"id": issue.id, "name": issue.name, "share": issue.share})
            continue
        before = old[issue.id]
        if _finite(issue.share_ci_low, before.share_ci_high) and issue.share_ci_low > before.share_ci_high:
            changes["grown"].append(_change(issue, before))
        elif _finite(issue.share_ci_high, before.share_ci_low) and issue.share_ci_high < before.share_ci_low:
            changes["shrunk"].append(_change(issue, before))
    changes["vanished"] = [{"id": i.id, "name": i.name, "share": i.share} for i in previous.issues if i.id not in new]
    for key in ("new", "vanished"):
        changes[key] = sorted(changes[key], key=lambda c: -c["share"])[:limit]
    for key in ("grown", "shrunk"):
        changes[key] = sorted(changes[key], key=lambda c: -abs(c["share"] - c["old_share"]))[:limit]
    return changes


def _change(issue: Any, before: Any) -> dict[str, Any]:
    return {"id": issue.id, "name": issue.name, "share": issue.share, "old_share": before.share}


def _finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and not math.isnan(v) for v in values)


# -- the template -------------------------------------------------------------------------------------------
def _pct(value: float) -> str:
    return f"{value:.1%}"


def render_summary(facts: dict[str, Any]) -> str:
    """The markdown summary of :func:`summary_facts`: 5 to 10 short lines, every figure from the facts."""
    lines = [f"**{facts['rows']} rows, {facts['failing']} failing**{_threshold_text(facts['threshold'])}."]
    main = facts["main"]
    if main:
        lines.append("Main problems, by impact (share of rows, interval, share of the failing rows):")
        for issue in main:
            interval = (
                f" ({_pct(issue['share_ci_low'])}–{_pct(issue['share_ci_high'])})"
                if _finite(issue["share_ci_low"], issue["share_ci_high"])
                else ""
            )
            lines.append(
                f"- **{issue['name']}**: {_pct(issue['share'])} of rows{interval}, "
                f"{_pct(issue['failing_share'])} of the failing rows"
            )
    elif not facts["failing"]:
        lines.append("No row fails: there is no problem to report.")
    else:
        lines.append("No recurring problem stands out: no issue that names a shortcoming covers mostly failing rows.")
    if facts["concentrations"]:
        parts = [
            f"*{c['name']}* in {c['system']} ({_pct(c['share'])} of its rows vs {_pct(c['overall_share'])} overall)"
            for c in facts["concentrations"]
        ]
        lines.append("Where they concentrate: " + "; ".join(parts) + ".")
    if facts["categories"]:
        parts = [f"{c['name']} {_pct(c['failing_share'])}" for c in facts["categories"]]
        lines.append("Failing rows by category: " + ", ".join(parts) + ".")
    if facts["changes"] is not None:
        lines.append(_changes_text(facts["changes"]))
    if facts["judge_failed"]:
        lines.append(f"Not counted above: {facts['judge_failed']['count']} rows have no usable judgment.")
    if facts["rare"]:
        parts = [f"*{r['name']}* ({r['count']} rows)" for r in facts["rare"][:2]]
        lines.append("Rare but clear: " + ", ".join(parts) + ".")
    return _blocks(lines)


def _blocks(lines: list[str]) -> str:
    r"""The lines joined, with a blank line after a list: markdown would read the next line as the end of its
    last item ("…6.2% of the failing rows Failing rows by category: …" on the Space's first screen).

    >>> _blocks(["Main problems:", "- **A**: 5%", "Failing rows by category: X 10%."])
    'Main problems:\n- **A**: 5%\n\nFailing rows by category: X 10%.'
    """
    out: list[str] = []
    for line in lines:
        if out and out[-1].startswith("- ") and not line.startswith("- "):
            out.append("")
        out.append(line)
    return "\n".join(out)


def _threshold_text(threshold: dict[str, Any]) -> str:
    fail, scale, source = threshold.get("fail_below"), threshold.get("score_range"), threshold.get("source")
    if fail is None:
        return ""
    if scale:
        lo, hi = scale
        text = f" (score below {threshold['raw']:g} on the {lo:g}–{hi:g} scale"
    else:
        text = f" (normalised score below {fail:g}"
    return text + (f", {source})" if source else ")")


def _changes_text(changes: dict[str, Any]) -> str:
    parts = []
    if changes["new"]:
        parts.append("new " + ", ".join(f"*{c['name']}* ({_pct(c['share'])})" for c in changes["new"]))
    if changes["vanished"]:
        parts.append("vanished " + ", ".join(f"*{c['name']}* (was {_pct(c['share'])})" for c in changes["vanished"]))
    for key in ("grown", "shrunk"):
        if changes[key]:
            moved = ", ".join(f"*{c['name']}* {_pct(c['old_share'])} → {_pct(c['share'])}" for c in changes[key])
            parts.append(f"{key} {moved}")
    if not parts:
        return "Since the previous report: the same issues, no share moved beyond its interval."
    return "Since the previous report: " + "; ".join(parts) + "."


# -- one LLM call ---------------------------------------------------------------------------------------------
def _prose(template: str, facts: dict[str, Any], judge: Any, cache: Any) -> tuple[str | None, dict[str, Any]]:
    """The LLM's paragraph (``None`` when discarded) and the call's record."""
    from misattribution.discovery.embed import cache_folder
    from misattribution.discovery.modes.kpa import _Ask, _CountedLLM
    from misattribution.judges import SamplingParams, load_judge

    record: dict[str, Any] = {"llm_calls": 0, "cache_hits": 0, "model": None, "fallback": None}
    try:
        if isinstance(judge, str):
            judge = load_judge(judge, sampling=SamplingParams(greedy=True, max_new_tokens=400))
        else:
            judge = load_judge(judge)
        path = cache_folder() / "summaries.jsonl" if cache is True else Path(cache) if cache else None
        llm = _CountedLLM(judge, path)
        record["model"] = judge.model_id
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": PROSE_PROMPT.format(facts=template)},
        ]
        answer = llm.ask([_Ask("summary", messages)])[0]
        record.update(llm_calls=llm.total, cache_hits=llm.hits)
    except Exception as err:  # noqa: BLE001 - any backend failure leaves the template, never a crash
        record["fallback"] = f"backend error: {type(err).__name__}: {err}"
        return None, record
    record["fallback"] = prose_problem(answer, template, facts)
    return (answer.strip() if record["fallback"] is None else None), record


def prose_problem(answer: str | None, template: str, facts: dict[str, Any]) -> str | None:
    """Why an LLM paragraph cannot replace the template (``None`` when it can).

    >>> prose_problem("Most rows fail: 12.5% show X.", "**8 rows** ... X: 12.5% of rows", {"main": [{"name": "X"}]})
    >>> prose_problem("Most rows fail: 40% show X.", "**8 rows** ... X: 12.5% of rows", {"main": [{"name": "X"}]})
    'a number the facts do not hold: 40'
    """
    if answer is None:
        return "backend error"
    text = answer.strip()
    if not text:
        return "empty answer"
    if len(text) > 1500:
        return f"too long ({len(text)} characters)"
    known = set(_NUMBER.findall(template))
    invented = [n for n in _NUMBER.findall(text) if n not in known]
    if invented:
        return f"a number the facts do not hold: {invented[0]}"
    main = facts.get("main") or []
    if main and main[0]["name"].casefold() not in text.casefold():
        return f"the main problem's name is missing: {main[0]['name']}"
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value
