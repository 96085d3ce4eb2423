"""The ``misattribution`` command line.

    misattribution judge rows.jsonl --model path/to/judge -o judged.jsonl
    misattribution judge rows.csv --endpoint http://127.0.0.1:8000/v1 -o judged.jsonl --export judged.parquet
    misattribution agreement judged.parquet --human human_score --human-labels human_misattribution
    misattribution build-dataset --items items.jsonl --annotations ann_*.csv -o attridata/
    misattribution push-dataset my-org/AttriData --data attridata/ --dry-run /tmp/attridata-repo
    misattribution install-metric
    misattribution discover judged.jsonl -o bundle/ [--previous old_bundle/] [--score-range 1 5]
    misattribution serve --bundle bundle/
    misattribution diff old_bundle/ bundle/            # run vs run, issue by issue
    misattribution compare bundle/ --systems A B        # two systems of one report
    misattribution check bundle/ --baseline old_bundle/ --max-growth 2   # a CI gate
    misattribution edit bundle/ --rename ID=NAME --merge ID,ID -o edited/
    misattribution reliability bundle/ --labels labels.csv --seeds 0 1 2
    misattribution analyze rows.jsonl -o run/ --endpoint http://127.0.0.1:8000/v1 --max-calls 500

Every subcommand has ``--help``. ``scripts/build_attridata.py`` and ``scripts/push_dataset.py`` are
the same commands as scripts.

Exit codes (the same for every command):

    0    done
    1    judge: finished, but some rows have no judgment (generation failed or output unreadable);
         the summary line counts them, and rerunning the same command retries the failed generations; check: an issue's share or growth breaks its limit
    2    refused, nothing done: a bad input file, option or endpoint, a results file of another
         judge config, a results file another run is writing (one line: ``error: <where>: <what> (hint: ...)``)
    130  interrupted (Ctrl-C): one line says what was saved

Credentials (``http://user:secret@host``, API keys) are masked in every message and log line.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from misattribution import __version__
from misattribution.cli_analyze import add_parser as _add_analyze_parser
from misattribution.cli_compare import add_parsers as _add_compare_parsers
from misattribution.cli_edit import add_parser as _add_edit_parser
from misattribution.engines.cli import add_engine_arguments as _add_engine_arguments
from misattribution.redaction import install_log_redaction, redact, redact_url

if TYPE_CHECKING:
    import pandas as pd

# Import time: `misattribution --help` loads no pandas, scipy, torch or discovery module (under 0.5 s; see
# tests/test_light_install.py). Each command imports what it uses; a subcommand's costly flags (read from
# the discovery modes' registry, or defaults held by the data package) are added when that subcommand is
# parsed (_Parser.defer).

EXPORT_SUFFIXES = (".parquet", ".csv", ".jsonl")
EXIT_OK, EXIT_ROWS_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 130


def _add_pairwise_judge_options(parser: argparse.ArgumentParser) -> None:
    """judge's pairwise options (:func:`misattribution.cli_pairwise.add_judge_options`), added when judge is
    parsed: cli_pairwise imports pandas, which ``misattribution --help`` does not load."""

    def add(parser: argparse.ArgumentParser) -> None:
        from misattribution.cli_pairwise import add_judge_options

        add_judge_options(parser)

    parser.defer(add)


def _add_pairwise_agreement_options(parser: argparse.ArgumentParser) -> None:
    """agreement's pairwise options (:func:`misattribution.cli_pairwise.add_agreement_options`), added when
    agreement is parsed."""

    def add(parser: argparse.ArgumentParser) -> None:
        from misattribution.cli_pairwise import add_agreement_options

        add_agreement_options(parser)

    parser.defer(add)


def _add_judge_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "judge",
        help="judge every row of a table with a local model or an endpoint",
        description=(
            "Render the judge prompt for every row, generate, parse, and append each result to OUTPUT "
            "(JSONL) as soon as its batch is done. Rerunning the same command resumes: rows already "
            "judged are skipped, rows that failed are tried again. OUTPUT.meta.json records the judge config; "
            "a resume with another config is refused (--new-run writes a separate file). Exit code 1 when "
            "rows remain without a judgment, 2 when refused before judging, 130 on Ctrl-C."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("input", help="rows to judge: .jsonl, .json, .csv, .tsv or .parquet")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--model",
        help="local path or Hub id of the judge (transformers); 'vllm:<model>' for vLLM; "
        "'hf:<model>[:<provider>]' or 'hf:<url>' for huggingface_hub.InferenceClient (token: $HF_TOKEN); "
        "'litellm:<provider>/<model>' for LiteLLM",
    )
    source.add_argument(
        "--judge",
        metavar="MODULE:FUNCTION",
        help="your own Python judge: a function taking the prompt messages and returning text, or a Judge "
        "factory; imports and runs that code (only this flag ever does)",
    )
    source.add_argument(
        "--endpoint",
        action="append",
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (repeat to spread the load)",
    )
    parser.add_argument("-o", "--output", required=True, help="results file (JSONL), appended as the run goes")
    parser.add_argument(
        "--export", help=f"also write the input rows with their judgments ({', '.join(EXPORT_SUFFIXES)})"
    )
    columns = parser.add_argument_group("input columns")
    columns.add_argument("--question-column", default="question")
    columns.add_argument("--answer-column", default="answer")
    columns.add_argument("--reference-column", default="reference", help="used when present")
    columns.add_argument("--criteria-column", default="criteria", help="used when present")
    columns.add_argument("--id-column", default="id", help="used when present; part of each row's cache key")
    prompt = parser.add_argument_group("prompt")
    prompt.add_argument("--taxonomy", default=None, help="shipped taxonomy name or YAML path (default attridata-v1)")
    prompt.add_argument("--language", default="en", choices=["en", "zh", "auto"], help="prompt language")
    prompt.add_argument(
        "--order",
        default="feedback,misattribution,score",
        help="the output fields, in the order the judge was trained on (e.g. 'score,feedback' for an ablation)",
    )
    gen = parser.add_argument_group("generation (defaults: the paper's sampling)")
    gen.add_argument("--greedy", action="store_true", help="deterministic decoding")
    gen.add_argument("--temperature", type=float, default=0.8)
    gen.add_argument("--top-p", type=float, default=0.8)
    gen.add_argument("--top-k", type=int, default=20)
    gen.add_argument("--repetition-penalty", type=float, default=1.03)
    gen.add_argument("--max-new-tokens", type=int, default=512)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--batch-size", type=int, default=None, help="prompts per batch (default: 8 local, 64 endpoint)")
    local = parser.add_argument_group("local model")
    local.add_argument("--device", default=None, help="cpu, cuda, cuda:1 or auto")
    local.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    local.add_argument("--trust-remote-code", action="store_true", help="run the model repository's own code")
    remote = parser.add_argument_group("endpoint")
    remote.add_argument("--served-model", default=None, help="model name to send (default: ask /v1/models)")
    remote.add_argument("--concurrency", type=int, default=16)
    remote.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    remote.add_argument("--max-retries", type=int, default=5)
    remote.add_argument(
        "--api-key-env", default="MISATTRIBUTION_API_KEY", help="environment variable holding the API key"
    )
    fresh = parser.add_mutually_exclusive_group()
    fresh.add_argument("--no-resume", action="store_true", help="start OUTPUT afresh instead of resuming")
    fresh.add_argument(
        "--new-run",
        action="store_true",
        help="keep OUTPUT and write this run to the next free OUTPUT-stem.runN.jsonl (printed), e.g. after "
        "changing the judge config",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_pairwise_judge_options(parser)  # --mode pairwise, --both-orders, the pair columns
    _add_engine_arguments(parser)  # --engine local|ray (engines/cli.py)
    parser.set_defaults(func=_run_judge)


def _add_agreement_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "agreement",
        help="agreement of judged results with human scores and labels",
        description=(
            "Correlations (Pearson, Spearman, Kendall, with bootstrap 95%% intervals) of judge scores with "
            "human scores, and, given human labels, error-detection precision / recall / F1 and category "
            "micro / macro F1. Prints a table and writes the figures as JSON."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "results", help="judged results: the OUTPUT or --export of 'misattribution judge', or any table"
    )
    parser.add_argument(
        "--human",
        required=True,
        help="a column of RESULTS with human scores, or a file (.jsonl/.csv/.parquet) of human labels",
    )
    parser.add_argument("--human-labels", default=None, help="column with human misattribution lists")
    parser.add_argument("--human-score-column", default="score", help="score column when --human is a file")
    parser.add_argument("--on", default=None, help="column joining RESULTS and a --human file (default: row order)")
    parser.add_argument("--score-column", default="score", help="judge score column of RESULTS")
    parser.add_argument("--labels-column", default="misattribution", help="judge misattribution column of RESULTS")
    parser.add_argument("--taxonomy", default=None)
    _add_score_range(parser, "the scores' scale (default: the taxonomy's, 0..3); a score outside it is refused")
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples (0: no intervals)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default=None, help="JSON file (default: RESULTS.agreement.json)")
    _add_pairwise_agreement_options(parser)  # --mode pairwise
    parser.set_defaults(func=_run_agreement)


def _add_score_range(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--score-range", nargs=2, type=float, metavar=("LO", "HI"), default=None, help=help)


def _add_build_dataset_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "build-dataset",
        help="build AttriData from annotator exports",
        description=(
            "Aggregate per-annotator exports (majority vote; an adjudication row wins), compute Fleiss' kappa for "
            "the score and each category decision, split train / test (stratified, no duplicate question across "
            "the split) and write data/train.parquet, data/test.parquet and agreement.json. Nothing is written "
            "unless every input is valid; every problem is listed with its file, row and field."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--items", required=True, type=Path, help="item table (JSONL, CSV or Parquet)")
    parser.add_argument("--annotations", required=True, nargs="+", type=Path, help="annotator exports")
    parser.add_argument("--adjudication", type=Path, default=None, help="adjudication table")
    parser.add_argument("--taxonomy", default=None, help="taxonomy name or YAML path (default attridata-v1)")
    parser.add_argument("--test-size", type=float, help="test share (the paper's)")
    parser.add_argument("--seed", type=int, default=0, help="split seed")
    parser.add_argument("--rule", choices=("error", "warning"), default="error", help="severity of the score rule")
    parser.add_argument("-o", "--out-dir", type=Path, default=None, help="output folder (default: do not write)")
    parser.set_defaults(func=_run_build_dataset)

    def add_default(parser: argparse.ArgumentParser) -> None:
        from misattribution.data.build import PAPER_TEST_SIZE  # the data package imports pandas

        parser.set_defaults(test_size=PAPER_TEST_SIZE)

    parser.defer(add_default)


def _add_push_dataset_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "push-dataset",
        help="push AttriData and its card to the Hub, or write the repository locally",
        description=(
            "Render the dataset card from the data and push the Parquet shards and the card with push_to_hub. "
            "--dry-run DIR writes the exact repository instead (loadable with datasets.load_dataset(DIR)). "
            "The token comes from HF_TOKEN or `hf auth login`; there is no --token flag on purpose."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("repo_id", help="the dataset repository, e.g. my-org/AttriData")
    parser.add_argument("--data", nargs="+", required=True, help="the build-dataset output folder, or its files")
    parser.add_argument("--dry-run", metavar="DIR", help="write the repository to DIR instead of pushing")
    parser.add_argument("--overwrite", action="store_true", help="replace README.md and data/ in a non-empty DIR")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--taxonomy", help="taxonomy name or YAML path (default: the one matching the data)")
    parser.add_argument("--pretty-name", default="AttriData")
    parser.add_argument("--license", default="cc-by-4.0")
    parser.add_argument("--annotation-process", metavar="FILE", help="Markdown file replacing the card's default")
    parser.add_argument("--commit-message")
    parser.add_argument("--max-shard-size", help='largest Parquet shard, e.g. "500MB" (the datasets default)')
    parser.set_defaults(func=_run_push_dataset)

    def add_default(parser: argparse.ArgumentParser) -> None:
        from misattribution.data.publish import DEFAULT_COMMIT_MESSAGE  # the data package imports pandas

        parser.set_defaults(commit_message=DEFAULT_COMMIT_MESSAGE)

    parser.defer(add_default)


def _add_serve_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the issue-browsing Space (Gradio) on 127.0.0.1",
        description="Launch the Space: load a report bundle (or upload one in the page), filter, compare, read instances.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--bundle", default=None, help="an issue-report bundle folder or zip (from 'discover')")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-upload-mb", type=int, default=200, help="largest accepted upload")
    parser.add_argument("--judge-url", default=None, help="OpenAI-compatible endpoint for judging from the page")
    parser.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from misattribution.space_app import serve

    serve(args.bundle, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb, judge_url=args.judge_url)
    return 0


def _add_install_metric_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "install-metric",
        help="make evaluate.load('misattribution') work offline",
        description="Copy the metric script into evaluate's modules cache, where a bare evaluate.load() finds it.",
    )
    parser.add_argument("--modules-cache", default=None, help="HF_MODULES_CACHE folder (default: evaluate's)")
    parser.set_defaults(func=_run_install_metric)


def _add_discover_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "discover",
        help="find recurring issues in judge feedback and write an issue-report bundle (no LLM call unless a "
        "mode needs one, as kpa)",
        description=(
            "Find the recurring issues of the failing rows with one or more modes (each mode's options are "
            "listed below, under its name) and map every row to its issues. The default mode, clusters, splits "
            "the feedback into sentences, keeps the critical ones, embeds and clusters them, with no LLM call. "
            "Reads our judged results (JSONL or export), CLEAR bundles or results.parquet, or any table with "
            "feedback and score columns. Prints the ranked issues and the number of LLM calls, and writes the bundle."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("input", help="judged results: .jsonl/.json/.csv/.tsv/.parquet, a CLEAR bundle folder or .zip")
    parser.add_argument("-o", "--output", required=True, help="bundle folder to write")
    parser.add_argument(
        "--mode",
        default="clusters",
        help="discovery mode(s), joined by + (e.g. clusters+rules): ",  # + the modes, when they are listed
    )
    parser.add_argument(
        "--embedder",
        "--embedding-model",
        dest="embedding_model",
        default="all-MiniLM-L6-v2",
        help="all-MiniLM-L6-v2 (default), static (model2vec, built once: python -m misattribution.discovery.embed "
        "build), auto (static above 50,000 failing rows when built), or a sentence-transformers name or path",
    )
    parser.add_argument("--max-issues", type=int, default=15, help="clusters: at most this many issues")
    parser.add_argument("--min-issues", type=int, default=3, help="clusters: at least this many issues")
    parser.add_argument("--seed", type=int, default=0)
    _add_score_range(
        parser, "the scores' scale, e.g. 1 5 (default: inferred among known scales; a score outside it is refused)"
    )
    parser.add_argument(
        "--fail-below",
        type=float,
        default=None,
        help="normalised score (0..1) below which a row fails (default: the input's own threshold, as CLEAR's "
        "high_score_threshold, else the top of the scale)",
    )
    parser.add_argument(
        "--taxonomy",
        default=None,
        help="the issue tree's categories: a shipped taxonomy name or a taxonomy YAML (default: attridata-v1)",
    )
    parser.add_argument(
        "--tree",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="build the issue tree (--no-tree: a flat list)",
    )
    parser.add_argument(
        "--previous",
        default=None,
        help="an earlier bundle: the same issues keep its ids; new and vanished issues are listed",
    )
    parser.add_argument(
        "--name-with",
        default=None,
        metavar="SPEC",
        help="a judge that renames the cluster issues from their evidence (an http(s):// endpoint, vllm:<model> or "
        "a model path): at most K + 1 LLM calls for K issues, cached; default: LLM-free names",
    )
    parser.add_argument("--system-column", default=None, help="column naming the system of each row")
    parser.add_argument("--feedback-column", default=None, help="column with the judge's feedback")
    parser.add_argument("--score-column", default=None, help="column with the judge's score")
    parser.add_argument(
        "--fast",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="clusters: PCA + KMeans (--fast) or BERTopic (--no-fast); default: average linkage",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_engine_arguments(parser, sharded=True)  # --engine local|ray, --shards, --micro-clusters (engines/cli.py)
    parser.set_defaults(func=_run_discover)
    _add_mode_flags_later(parser)


def _add_mode_flags(parser: argparse.ArgumentParser, modes: Sequence[Any]) -> list[tuple[str, str, list]]:
    """One flag per declared option of every mode: ``[(dest, flag, [(mode name, option), ...])]``.

    A flag is ``--<option>``; modes declaring the same option share it (static and task: ``--issues``); an
    option declared differently by several modes, or clashing with a flag of ``discover`` itself, becomes
    ``--<mode>-<option>`` (``--kpa-max-issues``).
    """
    by_flag: dict[str, list[tuple[str, Any]]] = {}
    for mode in modes:
        for option in mode.options:
            if option.cli:
                by_flag.setdefault(option.cli_flag, []).append((mode.name, option))
    taken = set(parser._option_string_actions)
    flags: dict[str, list[tuple[str, Any]]] = {}
    for flag, owners in by_flag.items():
        if flag not in taken and all(option == owners[0][1] for _, option in owners):
            flags[flag] = owners
        else:
            flags.update({f"--{name}-{flag[2:]}": [(name, option)] for name, option in owners})
    groups = {}
    for mode in modes:
        shared = [(flag, owners[0][0]) for flag, owners in flags.items() if mode.name in [n for n, _ in owners[1:]]]
        note = "" if any(o.cli for o in mode.options) else " (no options)"
        if shared:
            note = f" (also {', '.join(flag for flag, _ in shared)}: see mode {shared[0][1]})"
        title = f"mode {mode.name}" + (" (needs an LLM)" if mode.needs_llm else "")
        groups[mode.name] = parser.add_argument_group(title, (mode.help or "") + note)
    declared = []
    for number, (flag, owners) in enumerate(flags.items()):
        option, dest = owners[0][1], f"mode_option_{number}"
        also = f" (also mode {', '.join(name for name, _ in owners[1:])})" if len(owners) > 1 else ""
        help_text = (option.describe() + also).replace("%", "%%")
        group = groups[owners[0][0]]
        if option.type is bool:
            group.add_argument(
                flag, dest=dest, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text
            )
        else:
            metavar = option.cli_flag[2:].upper().replace("-", "_")
            if option.type is list:
                metavar = f"{metavar}[,...]"
            elif option.choices:
                metavar = "|".join(map(str, option.choices))
            group.add_argument(flag, dest=dest, default=argparse.SUPPRESS, metavar=metavar, help=help_text)
        declared.append((dest, flag, owners))
    return declared


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose costly parts are added on first use.

    ``parser.defer(add)`` runs ``add(parser)`` just before this parser parses or prints its help or usage,
    so ``misattribution --help`` does not import what only ``misattribution discover --help`` shows.
    Subparsers are of this class too (argparse builds them with the parent's class).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[Any] = []

    def defer(self, add: Any) -> None:
        self._deferred.append(add)

    def _complete(self) -> None:
        while self._deferred:
            self._deferred.pop(0)(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._complete()
        return super().format_help()

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()


def _add_mode_flags_later(parser: argparse.ArgumentParser) -> None:
    """The discovery modes' flags (:func:`_add_mode_flags`) and the ``mode_flags`` default, added when
    ``parser`` is used: listing the modes imports every mode module (pandas, numpy, the pipeline)."""

    def add(parser: argparse.ArgumentParser) -> None:
        from misattribution.discovery.modes import list_modes

        modes = list_modes()
        for action in parser._actions:
            if action.dest == "mode" and action.help and action.help.endswith(": "):
                action.help += ", ".join(m.name + (" (needs an LLM)" if m.needs_llm else "") for m in modes)
        parser.set_defaults(mode_flags=_add_mode_flags(parser, modes))

    if hasattr(parser, "defer"):  # a _Parser (also when cli.py runs as __main__, a second copy of the class)
        parser.defer(add)
    else:  # a plain ArgumentParser (a caller's own): add them now
        add(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="misattribution",
        description="Tell why your LLM's answers fail: judge, attribute errors, measure agreement.",
    )
    parser.add_argument("--version", action="version", version=f"misattribution {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_judge_parser(subparsers)
    _add_agreement_parser(subparsers)
    _add_build_dataset_parser(subparsers)
    _add_push_dataset_parser(subparsers)
    _add_install_metric_parser(subparsers)
    _add_discover_parser(subparsers)
    _add_serve_parser(subparsers)
    _add_edit_parser(subparsers)
    from misattribution.cli_reliability import add_parser as _add_reliability_parser

    _add_reliability_parser(subparsers)
    _add_compare_parsers(subparsers)  # diff, compare, check
    _add_analyze_parser(subparsers)  # judge + discover + bundle [+ serve] in one command
    return parser


# -- judge ------------------------------------------------------------------------------------------
def _run_judge(args: argparse.Namespace) -> int:
    """Judge ``args.input`` into ``args.output``; exit code 0, or 1 when rows remain without a judgment."""
    from misattribution.runner import RunConfigError, judge_dataset, next_run_path

    if args.mode == "pairwise":
        from misattribution.cli_pairwise import run_judge

        if args.engine != "local":
            raise ValueError(f"--engine {args.engine}: pairwise judging runs on the local engine only")
        return run_judge(args)
    order, columns, frame, label, output = _prepare_judge_run(args)
    judge, batch_size = _load_cli_judge(args)
    try:
        from misattribution.engines.cli import judge_with_engine

        judged = (judge_dataset if args.engine == "local" else judge_with_engine(args))(
            frame,
            judge,
            output,
            columns=columns,
            taxonomy=args.taxonomy,
            language=args.language,
            order=order,
            batch_size=batch_size,
            resume=not args.no_resume,
            progress=not args.quiet,
            name=label,
        )
    except RunConfigError as err:
        hint = f"pass --new-run to write {next_run_path(err.path)} and keep {err.path} as it is"
        raise RunConfigError(err.path, err.changes, new_run_hint=hint) from None
    if args.export:
        export(judged, args.export)
    return _report_judge_run(judged, output, args)


def _prepare_judge_run(args: argparse.Namespace) -> tuple[Any, dict[str, str], pd.DataFrame, str, Path]:
    """Everything checked without the judge, before it is loaded or called: the output order, the export
    suffix, the endpoint URLs, the input (columns, cells, unique ids); and where this run writes."""
    from misattribution.format import parse_order
    from misattribution.runner import meta_path, next_run_path, read_rows

    order = parse_order(args.order)
    if args.export:
        check_export_path(args.export)
    for url in args.endpoint or []:
        _check_endpoint(url)
    columns = {
        "question": args.question_column,
        "answer": args.answer_column,
        "reference": args.reference_column,
        "criteria": args.criteria_column,
        "id": args.id_column,
    }
    frame, label = read_rows(args.input, columns)
    output = Path(args.output)
    if args.new_run:
        if output.exists() or meta_path(output).exists():
            output = next_run_path(output)
        print(f"new run: writing {output} (to resume this run later, pass -o {output})", file=sys.stderr)
    return order, columns, frame, label, output


def _load_cli_judge(args: argparse.Namespace) -> tuple[Any, int]:
    """The judge the options describe, and its batch size."""
    from misattribution.judges import SamplingParams, load_judge

    sampling = SamplingParams(
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        repetition_penalty=args.repetition_penalty,
        max_new_tokens=args.max_new_tokens,
        greedy=args.greedy,
        seed=args.seed,
    )
    if args.judge:
        from misattribution.judges.custom import load_custom_judge

        try:
            return load_custom_judge(args.judge, sampling=sampling), args.batch_size or 8
        except ValueError as err:
            from misattribution.io.tables import InputError

            raise InputError(f"--judge {err}") from None
    if args.model and args.model.split(":", 1)[0] in ("hf", "litellm"):  # remote: the endpoint options apply
        remote = {"concurrency": args.concurrency, "timeout": args.timeout, "max_retries": args.max_retries}
        if args.served_model:
            remote["model"] = args.served_model
        if args.api_key_env != "MISATTRIBUTION_API_KEY":  # else each reads its own: $HF_TOKEN, LiteLLM's
            remote["api_key_env"] = args.api_key_env
        judge = load_judge(args.model, sampling=sampling, **remote)
        return judge, args.batch_size or max(64, 2 * args.concurrency)
    if not args.endpoint:
        options: dict[str, Any] = {"dtype": args.dtype}
        if args.model.split(":", 1)[0] != "vllm":  # vLLM places the model itself: it takes no device
            options["device"] = args.device
        if args.trust_remote_code:
            options["trust_remote_code"] = True
        return load_judge(args.model, sampling=sampling, **options), args.batch_size or 8
    try:
        judge = load_judge(
            ",".join(args.endpoint),
            sampling=sampling,
            model=args.served_model,
            concurrency=args.concurrency,
            timeout=args.timeout,
            max_retries=args.max_retries,
            api_key_env=args.api_key_env,
        )
    except ValueError as err:
        if "could not ask" not in str(err):
            raise
        raise ValueError(f"{err} (hint: is the server up? --served-model NAME skips this lookup)") from None
    return judge, args.batch_size or max(64, 2 * args.concurrency)


def _report_judge_run(judged: pd.DataFrame, output: Path, args: argparse.Namespace) -> int:
    """Print the summary and the status line; say on stderr which rows have no judgment, and why."""
    from misattribution.evaluation import summarize
    from misattribution.runner import status_counts

    print(_format_summary(summarize(judged, args.taxonomy), str(output), args.export))
    counts = status_counts(judged)
    print(_status_line(counts, len(judged)))
    unjudged = counts["error"] + counts["failed"]
    if not unjudged:
        return EXIT_OK
    reasons = []
    if counts["error"]:
        first = next((e for e in judged["error"] if isinstance(e, str) and e), "")
        reasons.append(
            f"{counts['error']} failed to generate ({redact(first)[:200]}); rerun the same command to retry them"
        )
    if counts["failed"]:
        reasons.append(f"{counts['failed']} got output the parser could not read (kept raw in {output})")
    print(
        f"misattribution judge: {unjudged} of {len(judged)} rows have no judgment: {'; '.join(reasons)}",
        file=sys.stderr,
    )
    return EXIT_ROWS_FAILED


def _status_line(counts: dict[str, int], total: int) -> str:
    """``summary: 300 rows: 210 ok, 0 partial, 0 failed, 90 error``."""
    return f"summary: {total} rows: " + ", ".join(f"{n} {status}" for status, n in counts.items())


def _check_endpoint(url: str) -> None:
    from misattribution.judges.openai_http import check_base_url

    try:
        check_base_url(url)
    except ValueError as err:
        if "query string" in str(err):
            reason = (
                "has a query string, which every log line would show (hint: put the key in "
                "$MISATTRIBUTION_API_KEY, or the variable named by --api-key-env)"
            )
        else:
            reason = (
                "not an http(s) URL with a host (hint: the base URL of an OpenAI-compatible server, "
                "e.g. http://127.0.0.1:8000/v1)"
            )
        from misattribution.io.tables import InputError

        raise InputError(f"--endpoint {redact_url(url)}: {reason}") from None


def check_export_path(path: str | Path) -> Path:
    """``path`` when :func:`export` can write it (by its suffix), else an :class:`InputError` saying so."""
    from misattribution.io.tables import InputError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InputError(
            f"--export {path}: cannot export to {suffix or 'a file without a suffix'} "
            f"(hint: use one of {', '.join(EXPORT_SUFFIXES)})"
        )
    return path


def export(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write judged rows as Parquet, CSV (lists as JSON text) or JSONL, by the file's suffix."""
    path = check_export_path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        flat = frame.copy()
        for column in ("misattribution", "problems"):
            if column in flat:
                flat[column] = [json.dumps(list(v), ensure_ascii=False) if v is not None else "" for v in flat[column]]
        flat.to_csv(path, index=False)
    return path


def _format_summary(summary: dict[str, Any], output: str, exported: str | None) -> str:
    lines = [
        f"judged rows       {summary['n']}",
        f"parsed completely {summary['parse_rate']:.1%}",
        f"generation errors {summary['generation_error_rate']:.1%}",
        f"mean score        {summary['mean_score']:.3f}",
        f"rows with errors  {summary['error_rate']:.1%}",
        "categories:",
    ]
    width = max((len(c) for c in summary["category_distribution"]), default=0)
    lines += [f"  {cid:<{width}}  {count}" for cid, count in summary["category_distribution"].items() if count]
    lines.append(f"results: {output}" + (f"  export: {exported}" if exported else ""))
    return "\n".join(lines)


# -- agreement --------------------------------------------------------------------------------------
def _read_results(path: str) -> pd.DataFrame:
    """A judged table; a raw results JSONL is reduced to its latest record per key, in row order."""
    from misattribution.io.tables import read_table

    frame, _ = read_table(path)
    if {"key", "row", "status"} <= set(frame.columns):
        from misattribution.discovery.inputs import with_input_columns  # each record's input columns

        frame = frame.drop_duplicates("key", keep="last").sort_values("row", kind="stable").reset_index(drop=True)
        frame = with_input_columns(frame)
    return frame


def _labels(value: Any, where: str = "label cell") -> list[str] | None:
    """A misattribution cell (a list, a JSON list, or text separated by ';' or ','), through the input
    layer's bounded parser (:func:`misattribution.io.tables.parse_label_cell`)."""
    import pandas as pd

    from misattribution.io.tables import parse_label_cell

    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return [p for p in parse_label_cell(value, where) if p.strip().lower() not in ("none", "无")]


def _column(frame: pd.DataFrame, name: str, label: str) -> pd.Series:
    from misattribution.io.tables import InputError

    if name not in frame.columns:
        raise InputError(f"{label}: no column {name!r} (columns: {', '.join(map(str, frame.columns))})")
    return frame[name]


def human_table(args: argparse.Namespace, results: pd.DataFrame, what: str = "") -> tuple[pd.DataFrame, str] | None:
    """The human labels of ``agreement``: ``--human FILE`` read and lined up with the results (by ``--on
    COLUMN``, each side's ids unique, or row by row when both have as many rows), with its label; ``None``
    when ``--human`` names a column of the results instead. ``what`` names the results' rows ("pairs")."""
    from misattribution.io.tables import InputError, check_unique, read_table

    human_path = Path(args.human)
    if human_path.suffix.lower() not in (".jsonl", ".json", ".csv", ".tsv", ".parquet") or not human_path.is_file():
        return None
    human, human_label = read_table(human_path)
    if args.on:
        check_unique(list(_column(results, args.on, args.results)), args.results, args.on)
        check_unique(list(_column(human, args.on, human_label)), human_label, args.on)
        human = results[[args.on]].merge(human, on=args.on, how="left", validate="one_to_one")
    elif len(human) != len(results):
        rows = f"{len(results)} {what}".rstrip()
        raise InputError(f"{human_label} has {len(human)} rows but {args.results} has {rows}; pass --on COLUMN to join")
    return human, human_label


def _run_agreement(args: argparse.Namespace) -> int:
    import pandas as pd

    from misattribution.evaluation import agreement
    from misattribution.stats import format_report

    if args.mode == "pairwise":
        from misattribution.cli_pairwise import run_agreement

        return run_agreement(args)
    results = _read_results(args.results)
    joined = human_table(args, results)
    if joined is not None:
        human, human_label = joined
        human_scores = _column(human, args.human_score_column, human_label)
        human_labels = _column(human, args.human_labels, human_label) if args.human_labels else None
    else:
        human_scores = _column(results, args.human, args.results)
        human_labels = _column(results, args.human_labels, args.results) if args.human_labels else None
    scores = pd.to_numeric(_column(results, args.score_column, args.results), errors="coerce")
    pred_labels = None
    if human_labels is not None:
        pred_labels = [_labels(v) for v in _column(results, args.labels_column, args.results)]
    report = agreement(
        [None if pd.isna(s) else float(s) for s in scores],
        [None if pd.isna(s) else float(s) for s in pd.to_numeric(human_scores, errors="coerce")],
        predicted_misattribution=pred_labels,
        human_misattribution=[_labels(v) for v in human_labels] if human_labels is not None else None,
        taxonomy=args.taxonomy,
        n_resamples=args.n_resamples,
        seed=args.seed,
        score_range=tuple(args.score_range) if args.score_range else None,
        source=args.results,
    )
    output = Path(args.output or f"{args.results}.agreement.json")
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(format_report(report))
    print(f"written: {output}")
    return 0


# -- build-dataset / push-dataset -------------------------------------------------------------------
def _run_build_dataset(args: argparse.Namespace) -> int:
    from misattribution.data.build import build_attridata

    result = build_attridata(
        args.items,
        args.annotations,
        args.adjudication,
        taxonomy=args.taxonomy,
        test_size=args.test_size,
        seed=args.seed,
        rule=args.rule,
        out_dir=args.out_dir,
    )
    stats, agreement = result.stats, result.agreement

    def kappa(key: str) -> str:
        return "n/a" if agreement.get(key) is None else f"{agreement[key]:.3f}"

    print(
        f"{stats['n_items']} items: {stats['n_train']} train / {stats['n_test']} test; "
        f"{stats['n_annotations']} annotations by {stats['n_annotators']} annotators; "
        f"{stats['n_adjudicated']} adjudicated"
    )
    print(f"Fleiss' kappa: score {kappa('score_kappa')}, misattribution {kappa('misattribution_kappa')} (pooled)")
    for problem in result.validation.warnings:
        print(f"warning: {problem}", file=sys.stderr)
    for path in result.written:
        print(f"wrote {path}")
    return 0


def _run_push_dataset(args: argparse.Namespace) -> int:
    from misattribution.cards import render_dataset_card
    from misattribution.data.publish import load_built_dataset, push_dataset

    dataset, agreement = load_built_dataset(args.data[0] if len(args.data) == 1 else args.data, taxonomy=args.taxonomy)
    process = Path(args.annotation_process).read_text(encoding="utf-8") if args.annotation_process else None
    card = render_dataset_card(
        dataset,
        agreement,
        taxonomy=args.taxonomy,
        repo_id=args.repo_id,
        pretty_name=args.pretty_name,
        license=args.license,
        annotation_process=process,
    )
    where = push_dataset(
        dataset,
        card,
        args.repo_id,
        private=args.private,
        dry_run_dir=args.dry_run,
        overwrite=args.overwrite,
        commit_message=args.commit_message,
        max_shard_size=args.max_shard_size,
    )
    rows = ", ".join(f"{split} {len(part)}" for split, part in dataset.items())
    print(f"{'wrote' if args.dry_run else 'pushed'} {args.repo_id} ({rows} rows): {where}")
    return 0


# -- install-metric ---------------------------------------------------------------------------------
def _run_install_metric(args: argparse.Namespace) -> int:
    from misattribution.metric_install import install_metric

    target = install_metric(args.modules_cache)
    print(f"installed: {target}")
    print('evaluate.load("misattribution") now resolves to it when the Hub has no such module or is offline.')
    return 0


# -- discover ---------------------------------------------------------------------------------------
def _run_discover(args: argparse.Namespace) -> int:
    from misattribution.discovery.modes import MissingDependencyError
    from misattribution.discovery.pipeline import discover, format_issue_table

    columns = {
        role: column
        for role, column in (
            ("system", args.system_column),
            ("feedback", args.feedback_column),
            ("score", args.score_column),
        )
        if column
    }
    try:
        from misattribution.engines.cli import discover_with_engine

        report = (discover if args.engine == "local" else discover_with_engine(args))(
            args.input,
            mode=args.mode,
            mode_options=_mode_options(args),
            embedding_model=args.embedding_model,
            seed=args.seed,
            max_issues=args.max_issues,
            min_issues=args.min_issues,
            fail_below=args.fail_below,
            score_range=tuple(args.score_range) if args.score_range else None,
            fast=args.fast,
            progress=not args.quiet,
            columns=columns or None,
            taxonomy=args.taxonomy,
            tree=args.tree,
            previous=args.previous,
            name_with=args.name_with,
        )
    except MissingDependencyError as err:  # a mode's package is not installed: refused, nothing written
        print(f"misattribution discover: error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    folder = report.save(args.output)
    print(format_issue_table(report))
    if report.meta.get("summary"):  # the plain-language summary (discovery.summary), also in the bundle
        print(f"\n{report.meta['summary']['text']}\n")
    print(_llm_calls_line(report.meta))
    identity = report.meta.get("identity")
    if identity:
        new = [i.name for i in report.issues if identity["status"].get(i.id) == "new"]
        print(
            f"against {identity['aligned_to']}: {len(report.issues) - len(new)} issue(s) kept their ids, {len(new)} new"
        )
        for name in new:
            print(f"  new: {name}")
        for gone in identity["vanished"]:
            print(f"  vanished: {gone['name']} ({gone['count']} rows before)")
    print(f"bundle: {folder}")
    return 0


def _mode_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The mode flags given, parsed and sent to the chosen modes that declare them."""
    chosen = [m.strip() for m in args.mode.split("+") if m.strip()]
    options: dict[str, dict[str, Any]] = {}
    for dest, flag, owners in args.mode_flags:
        if not hasattr(args, dest):
            continue
        targets = [(name, option) for name, option in owners if name in chosen]
        if not targets:
            names = " and ".join(name for name, _ in owners)
            raise ValueError(f"{flag} is an option of mode {names}, which is not among the modes run ({args.mode})")
        text = getattr(args, dest)
        try:
            value = text if isinstance(text, bool) else targets[0][1].from_text(text)
        except (ValueError, OSError) as err:
            raise ValueError(f"{flag} {text}: {err}") from None
        for name, option in targets:
            options.setdefault(name, {})[option.name] = value
    return options


def _llm_calls_line(meta: dict[str, Any]) -> str:
    """``LLM calls: 4 (kpa: summarise 3, synthesise 1; 0 cached answers)``."""
    parts = []
    for name, source in (meta.get("sources") or {}).items():
        if "calls_by_stage" in source or source.get("llm_calls"):
            stages = ", ".join(f"{stage} {n}" for stage, n in (source.get("calls_by_stage") or {}).items())
            cached = f"{source['cache_hits']} cached answers" if "cache_hits" in source else ""
            parts.append(f"{name}: " + ("; ".join(p for p in (stages, cached) if p) or str(source.get("llm_calls", 0))))
    return f"LLM calls: {meta.get('llm_calls', 0)}" + (f" ({'; '.join(parts)})" if parts else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (see the module docstring: 0, 1, 2 or 130)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    install_log_redaction()  # also third-party lines: httpx logs every request URL at -v
    if args.verbose:
        # httpx and httpcore log each request at INFO / DEBUG: keep their URLs, not their connection chatter.
        logging.getLogger("httpcore").setLevel(logging.WARNING)
    prefix = f"misattribution {args.command}"
    try:
        return args.func(args)
    except KeyboardInterrupt as stop:
        print(f"{prefix}: {_interrupted_message(stop, args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (FileNotFoundError, KeyError, ValueError, OSError) as err:  # an InputError is a ValueError
        # Expected failures get one line naming the place; anything else is a bug and keeps its traceback.
        print(f"{prefix}: error: {_describe_error(err, args.command)}", file=sys.stderr)
        return EXIT_REFUSED
    except ImportError as err:
        # An optional package this command needs is not installed: one line naming the extra (exit 2); any
        # other ImportError is a bug and keeps its traceback.
        from misattribution._extras import missing_extra

        missing = missing_extra(err, f"misattribution {args.command}")
        if missing is None:
            raise
        print(f"{prefix}: error: {missing}", file=sys.stderr)
        return EXIT_REFUSED


def _interrupted_message(stop: KeyboardInterrupt, args: argparse.Namespace) -> str:
    """One line saying what a Ctrl-C left behind."""
    from misattribution.runner import RunInterrupted

    if isinstance(stop, RunInterrupted) and stop.path is not None:
        return f"interrupted: {stop.saved} of {stop.total} rows saved in {stop.path}; run the same command to resume"
    if args.command == "judge":
        return f"interrupted before judging began: nothing new was written to {args.output}; run the same command"
    if args.command == "push-dataset":
        return "interrupted: the repository may hold part of the upload; run the same command to push again"
    # The other commands write their output at the end, in one go.
    return "interrupted before any result was saved; run the same command to start again"


def _describe_error(err: BaseException, command: str) -> str:
    """``<where>: <what> (hint: ...)`` for an expected failure, credentials masked."""
    if isinstance(err, OSError) and err.filename is None and err.strerror is None:
        message = str(err)  # raised with a message of our own, which names the file
    elif isinstance(err, OSError) and err.filename is not None:
        what = (err.strerror or type(err).__name__).lower()
        hints = {
            "no such file or directory": "check the path",
            "permission denied": "check the file's permissions",
            "is a directory": "give a file",
        }
        message = f"{err.filename}: {what} (hint: {hints.get(what, 'check the path')})"
    elif isinstance(err, KeyError):
        message = f"missing field {err.args[0]!r} (hint: misattribution {command} --help lists the column options)"
    elif isinstance(err, ValueError):  # the input layer's InputError among them
        message = str(err)
    else:
        message = f"{type(err).__name__}: {err}"
    if "hint:" not in message:  # the input layer's errors carry their own
        message += f" (hint: {_hint_for(message, command)})"
    return redact(message)


def _hint_for(message: str, command: str) -> str:
    if "no column" in message:
        return f"name the column with the --...-column options of misattribution {command}"
    if re.search(r"\b(?:row|line) \d", message):
        return "fix the rows named above, then run the same command again"
    return f"misattribution {command} --help"


if __name__ == "__main__":
    sys.exit(main())
