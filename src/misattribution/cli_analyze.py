"""``misattribution analyze``: from answers to a diagnosis in one command (see :mod:`misattribution.analyze`).

    misattribution analyze rows.jsonl -o run/ --endpoint http://127.0.0.1:8000/v1 --max-calls 500
    misattribution analyze judged.parquet -o run/ --serve          # already judged: no LLM call
    misattribution analyze --config analyze.yaml                    # the same keys as the flags

A YAML config holds the flags' names as keys (``max-calls`` or ``max_calls``, ``endpoint`` a string or a
list, ``input`` and ``output`` too); a flag given on the command line overrides its key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

#: Each option: (flag, type, help). Their defaults live in :data:`DEFAULTS`, applied after the config file.
_OPTIONS: list[tuple[str, Any, str]] = [
    ("--max-calls", int, "refuse to start (exit 2, nothing called) when judging needs more LLM calls than this"),
    ("--mode", str, "discovery mode(s) joined by + (LLM-free by default)"),
    ("--generate-with", str, "an endpoint URL or model that answers the questions of an input without answers"),
    ("--generate-served-model", str, "model name sent to the --generate-with endpoint (default: ask /v1/models)"),
    ("--served-model", str, "model name sent to the endpoint (default: ask /v1/models)"),
    ("--concurrency", int, "endpoint: requests in flight"),
    ("--timeout", float, "endpoint: seconds per request"),
    ("--temperature", float, "judge sampling temperature"),
    ("--max-new-tokens", int, "judge: most tokens generated per row"),
    ("--batch-size", int, "prompts per batch, flushed to RUN_DIR/judged.jsonl together"),
    ("--taxonomy", str, "shipped taxonomy name or YAML path (prompt and issue tree)"),
    ("--language", str, "prompt language: en, zh or auto"),
    ("--question-column", str, "input column with the question"),
    ("--answer-column", str, "input column with the answer"),
    ("--reference-column", str, "input column with the reference (used when present)"),
    ("--criteria-column", str, "input column with the criteria (used when present)"),
    ("--id-column", str, "input column with the row id (used when present)"),
    ("--seed", int, "discovery seed"),
    ("--max-issues", int, "clusters: at most this many issues"),
    ("--min-issues", int, "clusters: at least this many issues"),
    ("--embedding-model", str, "sentence-transformers name or path"),
    ("--fail-below", float, "normalised score (0..1) below which a row fails"),
    ("--previous", str, "an earlier bundle: the same issues keep its ids"),
    ("--system-column", str, "column naming the system of each row"),
    ("--port", int, "--serve: port"),
    ("--host", str, "--serve: address to bind"),
]
_SWITCHES = [
    ("--greedy", "judge: deterministic decoding"),
    ("--serve", "open the Space on the bundle when done"),
    ("--quiet", "no progress display"),
]
DEFAULTS: dict[str, Any] = {
    "mode": "clusters+rules",
    "concurrency": 16,
    "timeout": 60.0,
    "temperature": 0.8,
    "max_new_tokens": 512,
    "taxonomy": None,
    "language": "en",
    "question_column": "question",
    "answer_column": "answer",
    "reference_column": "reference",
    "criteria_column": "criteria",
    "id_column": "id",
    "seed": 0,
    "max_issues": 15,
    "min_issues": 3,
    "port": 7860,
    "host": "127.0.0.1",
    "greedy": False,
    "serve": False,
    "quiet": False,
}
_LIST_KEYS = ("endpoint", "score_range")


def add_parser(subparsers: Any) -> None:
    """Register ``analyze`` (called by :func:`misattribution.cli.build_parser`)."""
    parser = subparsers.add_parser(
        "analyze",
        help="one command: judge (when needed), discover, summarise, write the bundle [, serve it]",
        description=(
            "Run the stages the input needs and skip what it already has: judge (when it has no feedback and "
            "score columns; into RUN_DIR/judged.jsonl, resumed by a rerun), discover (LLM-free modes by "
            "default), the summary, and the bundle RUN_DIR/bundle/. The LLM calls and estimated tokens are "
            "printed before the first call; --max-calls refuses a run that needs more (exit 2). A YAML "
            "--config holds the same keys as the flags; a flag overrides its key."
        ),
    )
    parser.add_argument("input", nargs="?", default=None, help="rows (.jsonl/.csv/.parquet...), judged or not")
    parser.add_argument("-o", "--output", default=None, help="the run folder (RUN_DIR)")
    parser.add_argument("--config", default=None, help="a YAML file with the same keys as these flags")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--endpoint", action="append", default=None, help="OpenAI-compatible base URL (repeatable)")
    source.add_argument("--model", default=None, help="local judge: path or Hub id; 'vllm:<model>' for vLLM")
    for flag, kind, text in _OPTIONS:
        default = DEFAULTS.get(flag[2:].replace("-", "_"))
        parser.add_argument(flag, type=kind, default=None, help=text + (f" (default: {default})" if default else ""))
    parser.add_argument("--score-range", type=float, nargs=2, default=None, metavar=("WORST", "BEST"))
    for flag, text in _SWITCHES:
        parser.add_argument(flag, action="store_true", default=None, help=text)
    from misattribution.cli import _add_mode_flags_later  # the discover command's mode flags, from the registry

    parser.set_defaults(func=run_analyze)
    _add_mode_flags_later(parser)  # when analyze is parsed: listing the modes imports them all


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The flags over the config file over :data:`DEFAULTS`, as one dict keyed by dest names."""
    internal = {"func", "command", "verbose", "config", "mode_flags"}
    given = {k: v for k, v in vars(args).items() if k not in internal and v is not None}
    options = dict(DEFAULTS)
    if args.config:
        mode_flags = {flag[2:]: dest for dest, flag, _ in getattr(args, "mode_flags", [])}
        known = set(vars(args)) - internal  # every flag of analyze has a None default, so is in args
        options.update(load_config(args.config, known, mode_flags))
    options.update(given)
    for needed in ("input", "output"):
        if not options.get(needed):
            raise ValueError(f"analyze: no {needed} (hint: give it on the command line or as '{needed}:' in --config)")
    if options.get("endpoint") and options.get("model"):
        raise ValueError("analyze: endpoint and model both given (hint: judge with one of them)")
    return options


def load_config(path: str | Path, known: set[str], mode_flags: dict[str, str] | None = None) -> dict[str, Any]:
    """A YAML mapping of flag names (``max-calls`` / ``max_calls``; a mode's option as its flag, e.g.
    ``detectors``) to values; an unknown key is refused."""
    mode_flags = mode_flags or {}
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config is a mapping of flag names to values (hint: 'endpoint: http://...')")
    options: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).lstrip("-")
        if name.replace("_", "-") in mode_flags:
            dest = mode_flags[name.replace("_", "-")]
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)  # a list option's text form, as on the command line
            options[dest] = value if isinstance(value, bool) else str(value)
            continue
        dest = name.replace("-", "_")
        if dest not in known:
            raise ValueError(f"{path}: unknown key {key!r} (hint: misattribution analyze --help lists the flags)")
        if dest in _LIST_KEYS and value is not None and not isinstance(value, list):
            value = [value]
        options[dest] = value
    base = path.parent
    for dest in ("input", "output", "previous"):
        if isinstance(options.get(dest), str) and not Path(options[dest]).is_absolute():
            options[dest] = str(base / options[dest])  # paths in a config are relative to it
    return options


def run_analyze(args: argparse.Namespace) -> int:
    """``misattribution analyze``: 0 done, 1 rows left without a judgment, 2 refused (``--max-calls`` too)."""
    from misattribution.analyze import analyze
    from misattribution.cli import EXIT_OK, EXIT_ROWS_FAILED, _check_endpoint, _llm_calls_line
    from misattribution.discovery.pipeline import format_issue_table

    options = resolve_options(args)
    options["mode_flags"] = getattr(args, "mode_flags", [])
    for url in options.get("endpoint") or []:
        _check_endpoint(url)
    if str(options.get("generate_with") or "").startswith(("http://", "https://")):
        for url in options["generate_with"].split(","):
            _check_endpoint(url)
    report = analyze(
        options["input"],
        options["output"],
        judge=_judge_spec(options),
        judge_options=_judge_options(options),
        max_calls=options.get("max_calls"),
        mode=options["mode"],
        columns={role: options[f"{role}_column"] for role in ("question", "answer", "reference", "criteria", "id")},
        taxonomy=options["taxonomy"],
        language=options["language"],
        batch_size=options.get("batch_size") or max(64, 2 * options["concurrency"]),
        discover_options=_discover_options(options),
        generator=options.get("generate_with"),
        generator_options=_generator_options(options),
        progress=not options["quiet"],
        echo=lambda line: print(line, file=sys.stderr),
    )
    print(format_issue_table(report))
    if report.meta.get("summary"):
        print(f"\n{report.meta['summary']['text']}\n")
    print(_llm_calls_line(report.meta) + " (discover)")
    bundle = Path(options["output"]) / "bundle"
    print(f"bundle: {bundle}")
    statuses = report.meta["analyze"]["stages"]["judge"].get("statuses") or {}
    unjudged = statuses.get("error", 0) + statuses.get("failed", 0)
    if options["serve"]:
        from misattribution.cli import _run_serve

        serve_args = argparse.Namespace(
            bundle=str(bundle), host=options["host"], port=options["port"], max_upload_mb=200, judge_url=None
        )
        _run_serve(serve_args)
    if unjudged:
        print(
            f"misattribution analyze: {unjudged} rows have no judgment; rerun the same command to retry",
            file=sys.stderr,
        )
        return EXIT_ROWS_FAILED
    return EXIT_OK


def _judge_spec(options: dict[str, Any]) -> str | None:
    if options.get("endpoint"):
        return ",".join(options["endpoint"])
    return options.get("model")


def _judge_options(options: dict[str, Any]) -> dict[str, Any]:
    from misattribution.judges import SamplingParams

    sampling = SamplingParams(
        temperature=options["temperature"], max_new_tokens=options["max_new_tokens"], greedy=options["greedy"]
    )
    if options.get("endpoint"):
        return {
            "sampling": sampling,
            "model": options.get("served_model"),
            "concurrency": options["concurrency"],
            "timeout": options["timeout"],
        }
    return {"sampling": sampling}


def _generator_options(options: dict[str, Any]) -> dict[str, Any]:
    """``load_judge`` options of the answer generator: the judge's sampling, its own served model."""
    found = _judge_options({**options, "endpoint": None})
    spec = options.get("generate_with") or ""
    if spec.startswith(("http://", "https://")):
        found.update(model=options.get("generate_served_model"), concurrency=options["concurrency"])
        found["timeout"] = options["timeout"]
    return found


def _discover_options(options: dict[str, Any]) -> dict[str, Any]:
    found = {
        "seed": options["seed"],
        "max_issues": options["max_issues"],
        "min_issues": options["min_issues"],
        "fail_below": options.get("fail_below"),
        "score_range": tuple(options["score_range"]) if options.get("score_range") else None,
        "previous": options.get("previous"),
    }
    mode_flags = options.get("mode_flags") or []
    namespace = argparse.Namespace(mode=options["mode"], mode_flags=mode_flags)
    for dest, _, _ in mode_flags:
        if dest in options:
            setattr(namespace, dest, options[dest])
    from misattribution.cli import _mode_options

    mode_options = _mode_options(namespace)
    if mode_options:
        found["mode_options"] = mode_options
    if options.get("embedding_model"):
        found["embedding_model"] = options["embedding_model"]
    if options.get("system_column"):
        found["columns"] = {"system": options["system_column"]}
    return found
