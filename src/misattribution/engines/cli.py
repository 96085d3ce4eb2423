"""The CLI's ``--engine`` options: ``misattribution judge ... --engine ray`` and ``discover ... --engine ray``.

Imports nothing heavy (``misattribution --help`` stays light): the engine's module is imported when a
command runs with it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from misattribution.engines._base import Engine, MissingEngineError, engine_names, get_engine


def add_engine_arguments(parser: argparse.ArgumentParser, *, sharded: bool = False) -> None:
    """``--engine``, ``--ray-address``, ``--num-cpus``, ``--actors``, ``--cpus-per-actor`` (and, for
    discovery, ``--shards`` and ``--micro-clusters``)."""
    group = parser.add_argument_group("engine (where the work runs; docs/scale.md)")
    group.add_argument(
        "--engine",
        default="local",
        choices=engine_names(),
        help="local: this process; ray: Ray Data on a local instance or --ray-address (pip install "
        "'misattribution[ray]')",
    )
    group.add_argument("--ray-address", default=None, help="ray: join this cluster (None: start one on 127.0.0.1)")
    group.add_argument("--num-cpus", type=int, default=None, help="ray: CPUs of the local instance (None: all)")
    group.add_argument("--actors", type=int, default=None, help="ray: actors per pool (None: CPUs / --cpus-per-actor)")
    group.add_argument(
        "--cpus-per-actor",
        type=float,
        default=1.0,
        help="ray: CPUs each actor reserves (a judge client of an endpoint needs little: e.g. 0.25)",
    )
    if sharded:
        group.add_argument(
            "--shards", type=int, default=None, help="ray: shards of the distinct sentences (None: --actors)"
        )
        group.add_argument(
            "--micro-clusters",
            type=int,
            default=None,
            help="ray: micro-clusters kept per shard and language (None: 1000); while the critical sentences fit, the report equals the local one",
        )


def engine_from_args(args: argparse.Namespace) -> Engine:
    """The engine the options name (a local Ray instance is started here)."""
    if args.engine == "local":
        return get_engine("local")
    try:
        return get_engine(
            args.engine,
            address=args.ray_address,
            num_cpus=args.num_cpus,
            actors=args.actors,
            cpus_per_actor=args.cpus_per_actor,
            progress=not getattr(args, "quiet", False),
        )
    except MissingEngineError as err:  # one line, exit 2, nothing done
        raise ValueError(f"--engine {args.engine}: {err}") from None


class CliJudgeFactory:
    """Builds the judge ``misattribution judge``'s options describe, in whichever process calls it (picklable:
    each Ray actor builds its own client)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.options = {k: v for k, v in vars(args).items() if k not in ("func", "mode_flags")}

    def __call__(self) -> Any:
        from misattribution.cli import _load_cli_judge

        return _load_cli_judge(argparse.Namespace(**self.options))[0]


def judge_with_engine(args: argparse.Namespace) -> Callable[..., Any]:
    """A function with :func:`misattribution.runner.judge_dataset`'s signature that judges on ``--engine``."""

    def run(data: Any, judge: Any, output: Any, **options: Any) -> Any:
        with engine_from_args(args) as engine:
            return engine.judge_dataset(data, CliJudgeFactory(args), output, judge=judge, **options)

    return run


def discover_with_engine(args: argparse.Namespace) -> Callable[..., Any]:
    """A function with :func:`misattribution.discovery.pipeline.discover`'s signature that runs on ``--engine``."""

    def run(source: Any, **options: Any) -> Any:
        with engine_from_args(args) as engine:
            if args.engine == "local":
                return engine.discover(source, **options)
            return engine.discover(source, shards=args.shards, micro_clusters=args.micro_clusters, **options)

    return run
