"""The ``local`` engine: today's single-process path (see :mod:`misattribution.engines`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from misattribution.engines._base import Engine, register_engine


class LocalEngine(Engine):
    """Judging with :func:`misattribution.runner.judge_dataset`, discovery with
    :func:`misattribution.discovery.pipeline.discover` (or, given ``shards``, the sharded clustering of
    :mod:`.sharded` with every shard mapped in this process: the reference the ``ray`` engine is compared to).
    """

    def __init__(self, **_ignored: Any) -> None:
        pass

    def judge_dataset(
        self,
        data: Any,
        judge_factory: Callable[[], Any] | None,
        output: str | Path | None,
        *,
        judge: Any = None,
        **options: Any,
    ) -> Any:
        """:func:`misattribution.runner.judge_dataset` with ``judge`` (or one judge from ``judge_factory``)."""
        from misattribution.runner import judge_dataset

        return judge_dataset(data, judge if judge is not None else judge_factory(), output, **options)

    def discover(self, source: Any, *, shards: int | None = None, micro_clusters: int | None = None, **options: Any):
        """The single-process report; with ``shards``, the sharded clustering run shard by shard here."""
        if shards is None:
            from misattribution.discovery.pipeline import discover

            return discover(source, **options)
        from misattribution.engines.sharded import discover_sharded

        return discover_sharded(self, source, shards=shards, micro_clusters=micro_clusters, **options)

    def map_shards(
        self, worker: Callable[..., Any], worker_options: dict[str, Any], payloads: Sequence[bytes]
    ) -> list[bytes]:
        run = worker(**worker_options)
        return [run(payload) for payload in payloads]


register_engine("local", LocalEngine)
